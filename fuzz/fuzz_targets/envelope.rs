//! The envelope parser on arbitrary bytes: never panics, and every well-formed package it reads
//! re-encodes to a payload that reads as the same package and re-encodes to the same bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pomelo_interop::message::{encode_request, encode_response, parse_requests, parse_responses};

fuzz_target!(|data: &[u8]| {
    if let Ok(packages) = parse_requests(Bytes::copy_from_slice(data)) {
        for req in packages.iter().flatten() {
            let bytes = encode_request(req);
            let again = parse_requests(Bytes::from(bytes.clone())).expect("an encoded request parses");
            assert_eq!(again.len(), 1);
            let again = again[0].as_ref().expect("an encoded request is well-formed");
            assert_eq!(again, req);
            assert_eq!(encode_request(again), bytes, "encoding is not stable");
        }
    }
    if let Ok(packages) = parse_responses(Bytes::copy_from_slice(data)) {
        for resp in packages.iter().flatten() {
            let bytes = encode_response(resp.id.as_ref(), &resp.resp);
            let again = parse_responses(Bytes::from(bytes.clone())).expect("an encoded response parses");
            assert_eq!(again.len(), 1);
            let again = again[0].as_ref().expect("an encoded response is well-formed");
            assert_eq!(again, resp);
            assert_eq!(encode_response(again.id.as_ref(), &again.resp), bytes, "encoding is not stable");
        }
    }
});
