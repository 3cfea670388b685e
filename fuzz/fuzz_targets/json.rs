//! The JSON reader on arbitrary bytes, as Node reads a payload (`JSON.parse(buffer.toString())`):
//! - `RawJson::from_slice` accepts exactly what serde_json's raw-value grammar accepts of the
//!   lossily decoded text (Node's grammar), and keeps that text without the whitespace around it;
//! - every accepted value builds a tree, unless it is nested deeper than `MAX_TREE_DEPTH`, and the
//!   tree writes JSON that reads back to a tree that writes the same text;
//! - the envelope readers (`parse_requests`, `parse_responses`) never panic, and read nothing
//!   from a payload that is not JSON.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pomelo_interop::message::{parse_requests, parse_responses};
use pomelo_interop::wire::json::{JsonError, RawJson, to_string};
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let raw = RawJson::from_slice(data);
    let grammar = serde_json::from_str::<Box<RawValue>>(&text).is_ok();
    assert_eq!(raw.is_ok(), grammar, "acceptance differs from the JSON grammar: {raw:?}");
    if let Ok(raw) = &raw {
        assert_eq!(raw.as_str(), text.trim_matches([' ', '\t', '\n', '\r']));
        assert_eq!(&RawJson::from_slice(raw.as_bytes()).expect("a raw value reads again"), raw);
        match raw.to_value() {
            Ok(tree) => {
                let written = to_string(&tree);
                let again = RawJson::from_slice(written.as_bytes()).expect("written JSON reads");
                let again = again.to_value().expect("written JSON builds a tree");
                assert_eq!(to_string(&again), written, "writing a tree is not stable");
            }
            Err(JsonError::TooDeep { depth, limit }) => assert!(depth > limit),
            Err(e) => panic!("JSON that Node reads builds no tree: {e}"),
        }
    }
    let requests = parse_requests(Bytes::copy_from_slice(data));
    let responses = parse_responses(Bytes::copy_from_slice(data));
    if requests.is_ok() || responses.is_ok() {
        assert!(raw.is_ok(), "an envelope read from a payload that is not JSON");
    }
});
