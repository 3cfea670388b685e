//! stream-pkg decoder on arbitrary bytes in arbitrary reads: no panic, the read plan does not
//! change the outcome, and every decoded body re-encodes to a frame that decodes to itself.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pomelo_interop::wire::stream_pkg::StreamPkgCodec;
use tokio_util::codec::Encoder;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let (stream, chunks) = common::reads(data);
    // A small cap so that the cap path is reachable from short inputs too.
    for codec in [StreamPkgCodec::default(), StreamPkgCodec::new(300)] {
        let whole = common::drive(codec.clone(), [stream]);
        let split = common::drive(codec.clone(), chunks.iter().copied());
        assert_eq!(whole, split, "the read plan changed the decoded frames");

        let mut encoded = BytesMut::new();
        for body in &whole.0 {
            assert!(!body.is_empty(), "decoder produced an empty frame");
            codec.clone().encode(body, &mut encoded).expect("a decoded frame re-encodes");
        }
        let again = common::drive(codec, [&encoded[..]]);
        assert_eq!(again, (whole.0, None), "re-encoded frames decode differently");
    }
});
