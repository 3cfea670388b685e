//! The decoding rules on the values that break serde_json but not Node.

use serde_json::{Value, json};

use super::*;

fn raw(text: &str) -> RawJson {
    RawJson::from_slice(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn node_accepts_these_and_so_do_we() {
    for text in [
        r#"["cut mid-emoji \ud83d"]"#,
        r#""\udc00 low first""#,
        "1e400",
        "-1e400",
        "-0",
        r#"{"a":1,"a":2}"#,
        " \t\n[1]\r\n ",
    ] {
        raw(text);
    }
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    assert_eq!(raw(&deep).as_str().len(), 200_000);
}

#[test]
fn node_refuses_these_and_so_do_we() {
    for text in
        ["", " ", "[1,]", "{'a':1}", "01", "1.", ".5", "NaN", "[1] x", "\u{feff}1", "\"a\u{1}b\"", r#""\x""#]
    {
        assert!(matches!(RawJson::from_slice(text.as_bytes()), Err(JsonError::Scan(_))), "{text:?}");
    }
}

#[test]
fn raw_text_is_kept_exactly_and_trimmed() {
    assert_eq!(raw(r#" ["cut \ud83d", -0, 1e400] "#).as_str(), r#"["cut \ud83d", -0, 1e400]"#);
}

#[test]
fn invalid_utf8_reads_as_replacement_characters() {
    let r = RawJson::from_slice(b"[\"a\xffb\"]").unwrap();
    assert_eq!(r.to_value().unwrap(), json!(["a\u{FFFD}b"]));
}

#[test]
fn trees_get_replacement_characters_and_null_for_infinity() {
    assert_eq!(raw(r#"["cut \ud83d", "\udc00"]"#).to_value().unwrap(), json!(["cut \u{FFFD}", "\u{FFFD}"]));
    assert_eq!(raw(r#"{"k\ud800": 1}"#).to_value().unwrap(), json!({"k\u{FFFD}": 1}));
    assert_eq!(raw("[1e400, -1e400, 1e-400]").to_value().unwrap(), json!([null, null, 0.0]));
    assert_eq!(to_string(&raw("-0").to_value().unwrap()), "0");
    let s: String = raw(r#""cut \ud83d""#).deserialize().unwrap();
    assert_eq!(s, "cut \u{FFFD}");
}

#[test]
fn deep_trees_up_to_the_limit_and_a_clear_error_past_it() {
    let ok = "[".repeat(1000) + &"]".repeat(1000);
    let v = raw(&ok).to_value().unwrap();
    assert_eq!(to_string(&v), ok);
    let too = "[".repeat(MAX_TREE_DEPTH + 1) + &"]".repeat(MAX_TREE_DEPTH + 1);
    match raw(&too).to_value() {
        Err(JsonError::TooDeep { depth, limit }) => {
            assert_eq!((depth, limit), (MAX_TREE_DEPTH + 1, MAX_TREE_DEPTH))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn shape_errors_stay_shape_errors() {
    assert!(matches!(raw(r#""x""#).deserialize::<u32>(), Err(JsonError::Shape(_))));
    assert!(matches!(raw("1e400").deserialize::<String>(), Err(JsonError::Shape(_))));
}

#[test]
fn elements_and_members_share_the_text() {
    let r = raw(r#"[ "a\ud83d" , {"x": [1, 2]}, null ]"#);
    let els = r.elements().unwrap();
    assert_eq!(
        els.iter().map(RawJson::as_str).collect::<Vec<_>>(),
        [r#""a\ud83d""#, r#"{"x": [1, 2]}"#, "null"]
    );
    let m = els[1].members().unwrap();
    assert_eq!((m[0].0.as_str(), m[0].1.as_str()), ("x", "[1, 2]"));
    let odd = raw(r#"{"k\ud800": "v\udc00", "b": 2}"#).members().unwrap();
    assert_eq!((odd[0].0.as_str(), odd[0].1.as_str()), ("k\u{FFFD}", r#""v\udc00""#));
    assert!(matches!(raw("{}").elements(), Err(JsonError::Kind { .. })));
}

#[test]
fn serde_round_trip_keeps_raw_text() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Line {
        rpc: RawJson,
    }
    let line: Line = serde_json::from_str(r#"{"rpc": ["cut \ud83d", 1e400]}"#).unwrap();
    assert_eq!(line.rpc.as_str(), r#"["cut \ud83d", 1e400]"#);
    assert_eq!(serde_json::to_string(&line).unwrap(), r#"{"rpc":["cut \ud83d", 1e400]}"#);
    let v: Value = parse_value(b"[1.0]").unwrap();
    assert_eq!(to_string(&v), "[1]");
}

#[test]
fn json_encoded_twice_is_unwrapped_only_to_objects_and_arrays() {
    assert_eq!(parse_maybe_twice(br#""{\"a\":1}""#).unwrap(), json!({"a": 1}));
    assert_eq!(parse_maybe_twice(br#"{"a":1}"#).unwrap(), json!({"a": 1}));
    assert_eq!(parse_maybe_twice(br#""123""#).unwrap(), json!("123"));
    assert_eq!(parse_maybe_twice(br#""[1, 2]""#).unwrap(), json!([1, 2]));
    assert!(parse_maybe_twice(b"{").is_err());
}

#[test]
fn single_line_drops_line_breaks_between_tokens_only() {
    let one = raw(r#"["a b", {"k": 1}]"#);
    assert_eq!(one.single_line().as_str(), one.as_str(), "no line break: the text as it is");
    let spread = raw("[\r\n  \"x\\n \\\" y\",\n  {\"k\" :\t-0, \"s\":\"\\ud83d\"}\n]");
    assert_eq!(spread.single_line().as_str(), r#"["x\n \" y",{"k":-0,"s":"\ud83d"}]"#);
    assert!(raw("[1]") == json!([1]));
    assert!(raw(r#"{"a":"\ud83d"}"#) == json!({"a": "\u{fffd}"}), "by value, as Node reads it");
    assert!(raw("[1]") != json!([2]));
}
