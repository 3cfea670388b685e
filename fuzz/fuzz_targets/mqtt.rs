//! MQTT decoder on arbitrary bytes in arbitrary reads: no panic, the read plan does not change
//! the outcome, and every decoded packet re-encodes to bytes that decode to the same packet.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pomelo_interop::wire::mqtt::MqttCodec;
use tokio_util::codec::Encoder;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let (stream, chunks) = common::reads(data);
    for codec in [MqttCodec::default(), MqttCodec::new(300)] {
        let whole = common::drive(codec.clone(), [stream]);
        let split = common::drive(codec.clone(), chunks.iter().copied());
        assert_eq!(whole, split, "the read plan changed the decoded packets");

        let mut encoded = BytesMut::new();
        for packet in &whole.0 {
            codec.clone().encode(packet.clone(), &mut encoded).expect("a decoded packet re-encodes");
        }
        let again = common::drive(codec, [&encoded[..]]);
        assert_eq!(again, (whole.0, None), "re-encoded packets decode differently");
    }
});
