//! The JSON envelope parser on arbitrary bytes: never panics, and whatever parses re-encodes to
//! JSON that parses to the same packages and re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pomelo_interop::message::{Request, Response, encode_request, encode_response, parse_packages};

fn roundtrip<T>(data: &[u8], encode: fn(&T) -> Vec<u8>)
where
    T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let Ok(packages) = parse_packages::<T>(data) else { return };
    for package in &packages {
        let bytes = encode(package);
        let again: Vec<T> = parse_packages(&bytes).expect("an encoded package parses");
        assert_eq!(again.len(), 1);
        assert_eq!(&again[0], package);
        assert_eq!(encode(&again[0]), bytes, "encoding is not stable");
    }
}

fuzz_target!(|data: &[u8]| {
    roundtrip::<Request>(data, encode_request);
    roundtrip::<Response>(data, encode_response);
});
