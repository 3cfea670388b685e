//! Golden-byte tests: the codecs against real Node traffic.
//!
//! The captures in `fixtures/captures/rpc/` (spec/wire.md §9) are what pomelo-rpc 0.4.11 / 1.0.7
//! really put on the wire. These tests prove, for every capture of the `tcp04`, `tcp10`,
//! `mqtt10` (and, at the packet layer, `mqtt2`) groups:
//!
//! * **decoding**: both directions of every connection decode into whole frames / packets with
//!   nothing left over, and every JSON payload parses as a request (c2s) or response (s2c);
//! * **byte-exact encoding**: re-encoding the decoded frames / packets reproduces the stream byte
//!   for byte, and re-encoding the parsed envelopes reproduces every payload byte for byte (key
//!   order, trace fields, batches);
//! * **read-split independence**: the same items come out whether the stream arrives in one read,
//!   in two reads split at *every* byte (including inside multi-byte length headers, where Node's
//!   stream-pkg decoder crashes), or one byte at a time;
//! * **incomplete is not an error**: every strict prefix of a stream decodes to the frames wholly
//!   inside it, then `Ok(None)`; a cap below the largest frame fails with `FrameTooLarge` as soon as
//!   that frame's length header is complete, before any of its body arrived.
//!
//! Property tests at the end check encode→decode identity on random frames and random splits.
//! The captures are read from `fixtures/captures/rpc`; if that directory is missing the tests
//! fail (they never skip).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use pomelo_interop::message::{
    JsonError, Packages, RawJson, Request, Response, encode_request, encode_response, is_batch, join_batch,
    parse_requests, parse_responses,
};
use pomelo_interop::wire::WireError;
use pomelo_interop::wire::mqtt::{MqttCodec, Packet};
use pomelo_interop::wire::stream_pkg::StreamPkgCodec;
use proptest::prelude::*;
use serde_json::Value;
use tokio_util::codec::{Decoder, Encoder};

// ---------------------------------------------------------------------------------------------
// Capture reader
// ---------------------------------------------------------------------------------------------

const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/captures/rpc");

/// Direction of a reassembled stream: mailbox → acceptor or acceptor → mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    C2s,
    S2c,
}

/// All bytes one side of one relayed connection sent, in order.
struct Stream {
    capture: String,
    conn: u64,
    dir: Dir,
    bytes: Vec<u8>,
}

impl Stream {
    fn label(&self) -> String {
        format!("{} conn {} {:?}", self.capture, self.conn, self.dir)
    }
}

fn captures_dir() -> &'static Path {
    let dir = Path::new(CAPTURES);
    assert!(
        dir.is_dir(),
        "capture directory {CAPTURES} is missing: the golden tests read fixtures/captures/rpc/*.jsonl"
    );
    dir
}

/// Names of the single-capture files `<name>.jsonl` starting with `prefix` (not `*.all.jsonl`).
fn capture_names(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(captures_dir())
        .expect("read capture directory")
        .map(|e| e.expect("directory entry").file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with(prefix) && !f.ends_with(".all.jsonl"))
        .filter_map(|f| f.strip_suffix(".jsonl").map(str::to_owned))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no `{prefix}*.jsonl` capture in {CAPTURES}");
    names
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

/// Reads `<name>.jsonl` and reassembles the reads per (conn, dir), in file order.
/// Event lines (open, FIN, …) carry no bytes and are skipped.
fn load(name: &str) -> Vec<Stream> {
    let path = captures_dir().join(format!("{name}.jsonl"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut streams: BTreeMap<(u64, Dir), Vec<u8>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let rec: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}.jsonl line {}: {e}", n + 1));
        let Some(hex) = rec.get("hex").and_then(Value::as_str) else { continue };
        let conn = rec["conn"].as_u64().expect("conn");
        let dir = match rec["dir"].as_str() {
            Some("c2s") => Dir::C2s,
            Some("s2c") => Dir::S2c,
            other => panic!("{name}.jsonl line {}: bad dir {other:?}", n + 1),
        };
        let bytes = unhex(hex);
        assert_eq!(Some(bytes.len() as u64), rec["len"].as_u64(), "{name} line {}", n + 1);
        streams.entry((conn, dir)).or_default().extend_from_slice(&bytes);
    }
    streams
        .into_iter()
        .map(|((conn, dir), bytes)| Stream { capture: name.to_owned(), conn, dir, bytes })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Generic codec drivers
// ---------------------------------------------------------------------------------------------

/// Feeds `chunks` to `codec` one after the other, decoding after each as a reader would.
/// Panics on a decoder error; returns the items and the bytes still buffered.
fn feed<'a, D>(mut codec: D, chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<D::Item>, BytesMut)
where
    D: Decoder,
    D::Error: Debug,
{
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for (n, chunk) in chunks.into_iter().enumerate() {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(e) => panic!("decoder error after chunk {n} ({} items so far): {e:?}", items.len()),
            }
        }
    }
    (items, buf)
}

/// Decodes `bytes` in one read until the first error: the items before it and the error.
fn decode_until_error<D: Decoder>(mut codec: D, bytes: &[u8]) -> (Vec<D::Item>, Option<D::Error>) {
    let mut buf = BytesMut::from(bytes);
    let mut items = Vec::new();
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(item)) => items.push(item),
            Ok(None) => return (items, None),
            Err(e) => return (items, Some(e)),
        }
    }
}

/// Decodes a whole stream, asserting that nothing is left over.
fn decode_whole<D>(codec: D, bytes: &[u8], label: &str) -> Vec<D::Item>
where
    D: Decoder,
    D::Error: Debug,
{
    let (items, rest) = feed(codec, [bytes]);
    assert!(rest.is_empty(), "{label}: {} bytes left undecoded", rest.len());
    items
}

/// Encodes `items` back to back: the bytes and the end offset of each item.
fn encode_each<I, E>(mut codec: E, items: &[I]) -> (Vec<u8>, Vec<usize>)
where
    I: Clone,
    E: Encoder<I>,
    E::Error: Debug,
{
    let mut out = BytesMut::new();
    let mut ends = Vec::with_capacity(items.len());
    for item in items {
        codec.encode(item.clone(), &mut out).expect("encode");
        ends.push(out.len());
    }
    (out.to_vec(), ends)
}

/// The same items come out for a split at every byte (two reads) and for one byte per read.
fn assert_split_independent<D>(codec: D, bytes: &[u8], want: &[D::Item], label: &str)
where
    D: Decoder + Clone,
    D::Item: PartialEq + Debug,
    D::Error: Debug,
{
    for i in 0..=bytes.len() {
        let (got, rest) = feed(codec.clone(), [&bytes[..i], &bytes[i..]]);
        assert!(rest.is_empty(), "{label}: split at {i}: bytes left over");
        assert_eq!(got, want, "{label}: split at {i}");
    }
    let (got, rest) = feed(codec, bytes.chunks(1));
    assert!(rest.is_empty(), "{label}: byte-at-a-time: bytes left over");
    assert_eq!(got, want, "{label}: byte-at-a-time");
}

/// Every strict prefix decodes to the items wholly inside it and then reports "incomplete"
/// (`Ok(None)`) with the partial item still buffered, never an error.
fn assert_prefixes_incomplete<D>(codec: D, bytes: &[u8], ends: &[usize], want: &[D::Item], label: &str)
where
    D: Decoder + Clone,
    D::Item: PartialEq + Debug,
    D::Error: Debug,
{
    for n in 0..bytes.len() {
        let (got, rest) = feed(codec.clone(), [&bytes[..n]]);
        let complete = ends.iter().take_while(|&&e| e <= n).count();
        assert_eq!(got, &want[..complete], "{label}: prefix of {n} bytes");
        let consumed = if complete == 0 { 0 } else { ends[complete - 1] };
        assert_eq!(rest.len(), n - consumed, "{label}: prefix of {n} bytes: buffered remainder");
    }
}

/// `parse_requests` or `parse_responses`.
type Parser<T> = fn(Bytes) -> Result<Packages<T>, JsonError>;

/// Parses one payload (single package or batch) and checks that re-encoding the parsed packages
/// reproduces the payload byte for byte.
fn envelope_roundtrip<T>(payload: &[u8], parse: Parser<T>, encode: fn(&T) -> Vec<u8>, label: &str) -> Vec<T> {
    let text = std::str::from_utf8(payload).unwrap_or_else(|e| panic!("{label}: not UTF-8: {e}"));
    serde_json::from_str::<Value>(text).unwrap_or_else(|e| panic!("{label}: not JSON: {e}\n{text}"));
    let packages: Vec<T> = parse(Bytes::copy_from_slice(payload))
        .unwrap_or_else(|e| panic!("{label}: {e}\n{text}"))
        .into_iter()
        .map(|p| p.unwrap_or_else(|e| panic!("{label}: {e:?}\n{text}")))
        .collect();
    let encoded: Vec<Vec<u8>> = packages.iter().map(encode).collect();
    let again = if is_batch(payload) {
        join_batch(encoded.iter().map(Vec::as_slice))
    } else {
        assert_eq!(encoded.len(), 1, "{label}");
        encoded.into_iter().next().unwrap()
    };
    assert_eq!(String::from_utf8(again).unwrap(), text, "{label}: envelope re-encoding differs");
    packages
}

fn requests_roundtrip(payload: &[u8], label: &str) -> Vec<Request> {
    envelope_roundtrip(payload, parse_requests, encode_request, label)
}

// Every response in the captures round-trips byte-exactly: ids and `resp` arrays are carried as
// the raw text they came in.
fn responses_roundtrip(payload: &[u8], label: &str) -> Vec<Response> {
    envelope_roundtrip(payload, parse_responses, |r| encode_response(r.id.as_ref(), &r.resp), label)
}

/// Checks one conversation: every response echoes an id the client sent on that connection, and
/// trace fields appear in requests exactly when the capture is a `*-trace` one.
fn check_conversation(capture: &str, requests: &[Request], responses: &[Response]) {
    let traced = capture.ends_with("-trace");
    for r in requests {
        assert_eq!(r.trace.trace_id.is_some(), traced, "{capture}: traceId in {r:?}");
        assert_eq!(r.trace.source.is_some(), traced, "{capture}: source in {r:?}");
    }
    let sent: Vec<&RawJson> = requests.iter().map(|r| &r.id).collect();
    for resp in responses {
        let id = resp.id.as_ref().unwrap_or_else(|| panic!("{capture}: response without id"));
        assert!(sent.contains(&id), "{capture}: response id {id} was never requested");
        assert!(!resp.resp.is_empty(), "{capture}: empty resp array");
    }
}

// ---------------------------------------------------------------------------------------------
// stream-pkg (`tcp`)
// ---------------------------------------------------------------------------------------------

/// (capture, c2s frames, s2c frames), from the capture's `.txt` decode.
const TCP_FRAMES: &[(&str, usize, usize)] = &[
    ("tcp04-basic", 6, 6),
    ("tcp04-buffer", 1, 1),
    ("tcp04-throw", 1, 0),
    ("tcp04-timeout", 1, 1),
    ("tcp04-trace", 1, 1),
    ("tcp10-trace", 6, 6),
];

/// Every tcp stream with bytes: `(stream, decoded frames)`, checked to re-encode byte-exactly.
fn tcp_streams() -> Vec<(Stream, Vec<Bytes>)> {
    let mut out = Vec::new();
    for name in [capture_names("tcp04-"), capture_names("tcp10-")].concat() {
        for s in load(&name) {
            let frames = decode_whole(StreamPkgCodec::default(), &s.bytes, &s.label());
            let (again, _) = encode_each(StreamPkgCodec::default(), &frames);
            assert!(again == s.bytes, "{}: re-encoded frames differ from the capture", s.label());
            out.push((s, frames));
        }
    }
    out
}

#[test]
fn stream_pkg_captures_decode_and_reencode_byte_exact() {
    let streams = tcp_streams();
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (s, frames) in &streams {
        let c = counts.entry(s.capture.as_str()).or_default();
        match s.dir {
            Dir::C2s => c.0 += frames.len(),
            Dir::S2c => c.1 += frames.len(),
        }
    }
    let want: BTreeMap<&str, (usize, usize)> = TCP_FRAMES.iter().map(|&(n, c, s)| (n, (c, s))).collect();
    assert_eq!(counts, want, "frames per capture (tcp10-basic has no bytes)");
    // The captured headers include one- and two-byte forms (`6c`, `811d`, `8573`, …).
    let lens: BTreeSet<usize> = streams.iter().flat_map(|(_, f)| f.iter().map(Bytes::len)).collect();
    assert!(lens.iter().any(|&l| l <= 127) && lens.iter().any(|&l| l > 127));
    assert!(lens.contains(&108) && lens.contains(&157) && lens.contains(&755) && lens.contains(&323));
}

#[test]
fn stream_pkg_captures_envelopes_roundtrip_byte_exact() {
    let streams = tcp_streams();
    let mut by_capture: BTreeMap<String, (Vec<Request>, Vec<Response>)> = BTreeMap::new();
    for (s, frames) in &streams {
        let conv = by_capture.entry(s.capture.clone()).or_default();
        for (i, body) in frames.iter().enumerate() {
            let label = format!("{} frame {i}", s.label());
            match s.dir {
                Dir::C2s => conv.0.extend(requests_roundtrip(body, &label)),
                Dir::S2c => conv.1.extend(responses_roundtrip(body, &label)),
            }
        }
    }
    for (capture, (requests, responses)) in &by_capture {
        check_conversation(capture, requests, responses);
    }
    // Key order of the traced request, spelled out (spec/wire.md §2.1).
    let (_, trace) = streams
        .iter()
        .find(|(s, _)| s.capture == "tcp04-trace" && s.dir == Dir::C2s)
        .expect("tcp04-trace c2s");
    assert!(
        trace[0].starts_with(br#"{"traceId":"986f8a10-e57f-11f1-a4f9-c5431bbc5487","seqId":11,"source":"#)
    );
    // Batches: tcp04-buffer carries three requests in one 323-byte frame and three responses.
    let (requests, responses) = &by_capture["tcp04-buffer"];
    assert_eq!((requests.len(), responses.len()), (3, 3));
}

#[test]
fn stream_pkg_captures_survive_every_read_split() {
    for (s, frames) in tcp_streams() {
        assert_split_independent(StreamPkgCodec::default(), &s.bytes, &frames, &s.label());
    }
}

#[test]
fn stream_pkg_strict_prefixes_are_incomplete_not_errors() {
    for (s, frames) in tcp_streams().into_iter().filter(|(s, _)| s.capture == "tcp04-basic") {
        let (_, ends) = encode_each(StreamPkgCodec::default(), &frames);
        assert_prefixes_incomplete(StreamPkgCodec::default(), &s.bytes, &ends, &frames, &s.label());
    }
}

#[test]
fn stream_pkg_cap_below_largest_frame_fails_at_its_header() {
    for (s, frames) in tcp_streams() {
        let (_, ends) = encode_each(StreamPkgCodec::default(), &frames);
        let largest = frames.iter().map(Bytes::len).max().unwrap();
        let k = frames.iter().position(|f| f.len() == largest).unwrap();
        let start = if k == 0 { 0 } else { ends[k - 1] };
        let header_end = ends[k] - largest;
        let label = s.label();

        // Exactly at the cap everything decodes.
        assert_eq!(decode_whole(StreamPkgCodec::new(largest), &s.bytes, &label), frames);

        // One below: the frames before it decode, then the error comes once the header is read.
        let max = largest - 1;
        for upto in [header_end, s.bytes.len()] {
            let (got, err) = decode_until_error(StreamPkgCodec::new(max), &s.bytes[..upto]);
            assert_eq!(got, &frames[..k], "{label}");
            match err {
                Some(WireError::FrameTooLarge { len, max: m }) if len == largest && m == max => {}
                other => panic!("{label}: fed {upto} bytes: expected FrameTooLarge, got {other:?}"),
            }
        }
        // An incomplete header is not yet an error.
        for upto in start..header_end {
            let (got, err) = decode_until_error(StreamPkgCodec::new(max), &s.bytes[..upto]);
            assert!(err.is_none() && got == frames[..k], "{label}: partial header of {upto}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// MQTT (`mqtt10`, packet layer of `mqtt2`)
// ---------------------------------------------------------------------------------------------

/// (capture, c2s packets, s2c packets), from the capture's `.txt` decode.
const MQTT10_PACKETS: &[(&str, usize, usize)] = &[
    ("mqtt10-basic", 7, 6),
    ("mqtt10-buffer", 2, 1),
    ("mqtt10-drop", 3, 0),
    ("mqtt10-idle", 5, 4),
    ("mqtt10-throw", 3, 2),
    ("mqtt10-timeout", 2, 1),
    ("mqtt10-trace", 2, 1),
];

/// Every stream of the captures starting with `prefix`: `(stream, packets)`, checked to
/// re-encode byte-exactly.
fn mqtt_streams(prefix: &str) -> Vec<(Stream, Vec<Packet>)> {
    let mut out = Vec::new();
    for name in capture_names(prefix) {
        for s in load(&name) {
            let packets = decode_whole(MqttCodec::default(), &s.bytes, &s.label());
            let (again, _) = encode_each(MqttCodec::default(), &packets);
            assert!(again == s.bytes, "{}: re-encoded packets differ from the capture", s.label());
            out.push((s, packets));
        }
    }
    out
}

/// The pomelo CONNECT: level 4, clean session only, keep-alive 0, id `MQTT_RPC_<ms>`.
fn assert_pomelo_connect(p: &Packet, label: &str) {
    match p {
        Packet::Connect { client_id, keep_alive: 0, level: 4, flags: 0x02 }
            if client_id
                .strip_prefix("MQTT_RPC_")
                .is_some_and(|ms| !ms.is_empty() && ms.bytes().all(|b| b.is_ascii_digit())) => {}
        other => panic!("{label}: expected the pomelo CONNECT first, got {other:?}"),
    }
}

/// A QoS 0, non-retained PUBLISH on `topic`: its payload.
fn publish_payload<'a>(p: &'a Packet, topic: &str, label: &str) -> &'a Bytes {
    match p {
        Packet::Publish { topic: t, qos: 0, pkid: None, retain: false, payload } if t == topic => payload,
        other => panic!("{label}: expected a QoS 0 PUBLISH on `{topic}`, got {other:?}"),
    }
}

#[test]
fn mqtt10_captures_decode_and_reencode_byte_exact() {
    let streams = mqtt_streams("mqtt10-");
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (s, packets) in &streams {
        let c = counts.entry(s.capture.as_str()).or_default();
        match s.dir {
            Dir::C2s => c.0 += packets.len(),
            Dir::S2c => c.1 += packets.len(),
        }
    }
    let want: BTreeMap<&str, (usize, usize)> = MQTT10_PACKETS.iter().map(|&(n, c, s)| (n, (c, s))).collect();
    assert_eq!(counts, want, "packets per capture");
}

#[test]
fn mqtt10_captures_follow_the_pomelo_sequence() {
    let mut by_capture: BTreeMap<String, (Vec<Request>, Vec<Response>)> = BTreeMap::new();
    let (mut pingreqs, mut pingresps) = (0, 0);
    for (s, packets) in mqtt_streams("mqtt10-") {
        let conv = by_capture.entry(s.capture.clone()).or_default();
        let label = s.label();
        assert!(
            !packets.iter().any(|p| matches!(p, Packet::ConnAck { .. })),
            "{label}: a Node acceptor never sends CONNACK"
        );
        match s.dir {
            Dir::C2s => {
                assert_pomelo_connect(&packets[0], &label);
                for (i, p) in packets.iter().enumerate().skip(1) {
                    let label = format!("{label} packet {i}");
                    if *p == Packet::PingReq {
                        pingreqs += 1;
                        assert_eq!(s.capture, "mqtt10-idle", "{label}: unexpected PINGREQ");
                        continue;
                    }
                    conv.0.extend(requests_roundtrip(publish_payload(p, "rpc", &label), &label));
                }
            }
            Dir::S2c => {
                for (i, p) in packets.iter().enumerate() {
                    let label = format!("{label} packet {i}");
                    if *p == Packet::PingResp {
                        pingresps += 1;
                        assert_eq!(s.capture, "mqtt10-idle", "{label}: unexpected PINGRESP");
                        continue;
                    }
                    conv.1.extend(responses_roundtrip(publish_payload(p, "rpc", &label), &label));
                }
            }
        }
    }
    // mqtt10-idle: PINGREQ at 10 s and 20 s, each answered.
    assert_eq!((pingreqs, pingresps), (2, 2));
    for (capture, (requests, responses)) in &by_capture {
        check_conversation(capture, requests, responses);
    }
    assert_eq!(by_capture["mqtt10-buffer"].0.len(), 3, "batched requests");
    assert_eq!(by_capture["mqtt10-basic"].0.len(), 6);
}

#[test]
fn mqtt10_captures_survive_every_read_split() {
    for (s, packets) in mqtt_streams("mqtt10-") {
        assert_split_independent(MqttCodec::default(), &s.bytes, &packets, &s.label());
    }
}

#[test]
fn mqtt10_strict_prefixes_are_incomplete_not_errors() {
    for (s, packets) in mqtt_streams("mqtt10-basic") {
        let (_, ends) = encode_each(MqttCodec::default(), &packets);
        assert_prefixes_incomplete(MqttCodec::default(), &s.bytes, &ends, &packets, &s.label());
    }
}

/// Reads an MQTT remaining length (LEB128, least significant group first) at `at`:
/// `(value, varint bytes)`. Written independently of the codec on purpose.
fn mqtt_remaining(bytes: &[u8], at: usize) -> (usize, usize) {
    let mut value = 0;
    for (i, &b) in bytes[at..].iter().enumerate().take(4) {
        value |= ((b & 0x7f) as usize) << (7 * i);
        if b & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    panic!("bad remaining length at {at}");
}

#[test]
fn mqtt10_cap_below_largest_packet_fails_at_its_header() {
    for (s, packets) in mqtt_streams("mqtt10-") {
        let (_, ends) = encode_each(MqttCodec::default(), &packets);
        let starts: Vec<usize> = std::iter::once(0).chain(ends.iter().copied()).collect();
        let remaining: Vec<(usize, usize)> =
            starts[..packets.len()].iter().map(|&at| mqtt_remaining(&s.bytes, at + 1)).collect();
        let largest = remaining.iter().map(|r| r.0).max().unwrap();
        let k = remaining.iter().position(|r| r.0 == largest).unwrap();
        let header_end = starts[k] + 1 + remaining[k].1;
        let label = s.label();

        assert_eq!(decode_whole(MqttCodec::new(largest), &s.bytes, &label), packets);
        let max = largest - 1;
        for upto in [header_end, s.bytes.len()] {
            let (got, err) = decode_until_error(MqttCodec::new(max), &s.bytes[..upto]);
            assert_eq!(got, &packets[..k], "{label}");
            match err {
                Some(WireError::FrameTooLarge { len, max: m }) if len == largest && m == max => {}
                other => panic!("{label}: fed {upto} bytes: expected FrameTooLarge, got {other:?}"),
            }
        }
        for upto in starts[k]..header_end {
            let (got, err) = decode_until_error(MqttCodec::new(max), &s.bytes[..upto]);
            assert!(err.is_none() && got == packets[..k], "{label}: partial header of {upto}");
        }
    }
}

/// mqtt2 carries binary payloads (spec/wire.md §6), but its MQTT layer is the same: check
/// packets, byte-exact re-encoding, read splits, and the topics (`h` handshake, `rpc`, `r`).
#[test]
fn mqtt2_captures_packet_layer() {
    let streams = mqtt_streams("mqtt2-");
    assert!(streams.iter().any(|(s, _)| s.capture == "mqtt2-basic"));
    for (s, packets) in &streams {
        let label = s.label();
        assert_split_independent(MqttCodec::default(), &s.bytes, packets, &label);
        match s.dir {
            Dir::C2s => {
                assert_pomelo_connect(&packets[0], &label);
                // mqtt2-basic runs into a 30 s timeout, long enough for keep-alive pings.
                for p in packets[1..].iter().filter(|p| **p != Packet::PingReq) {
                    publish_payload(p, "rpc", &label);
                }
            }
            Dir::S2c => {
                // The acceptor answers CONNECT with the service map on `h`, then binary replies on `r`.
                let map = publish_payload(&packets[0], "h", &label);
                let map: Value = serde_json::from_slice(map).expect("service map is JSON");
                assert_eq!(map[3], serde_json::json!(["user", "sys"]), "{label}");
                for p in packets[1..].iter().filter(|p| **p != Packet::PingResp) {
                    publish_payload(p, "r", &label);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

/// Independent big-endian base-128 header (spec/wire.md §3.1) for the oracle.
fn vlq_be(mut n: usize) -> Vec<u8> {
    let mut out = vec![(n & 0x7f) as u8];
    n >>= 7;
    while n > 0 {
        out.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    out.reverse();
    out
}

/// Body lengths biased toward the one/two/three-byte header boundaries (127, 16383).
fn body_len() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..=300, 120usize..=136, 16370usize..=16400, 1usize..70_000]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    body_len().prop_flat_map(|n| prop::collection::vec(any::<u8>(), n))
}

/// Where to split an encoded stream into reads: some positions anywhere, and one a few bytes
/// into each item, so that multi-byte length headers are split often, not by luck.
#[derive(Debug, Clone)]
struct Cuts {
    anywhere: Vec<prop::sample::Index>,
    into_item: Vec<usize>,
}

fn cuts() -> impl Strategy<Value = Cuts> {
    (prop::collection::vec(any::<prop::sample::Index>(), 0..10), prop::collection::vec(0usize..=4, 8))
        .prop_map(|(anywhere, into_item)| Cuts { anywhere, into_item })
}

/// Splits `bytes`, whose items end at `ends`, into reads at the positions `cuts` describes.
fn split<'a>(bytes: &'a [u8], ends: &[usize], cuts: &Cuts) -> Vec<&'a [u8]> {
    let starts = std::iter::once(0).chain(ends.iter().copied()).take(ends.len());
    let mut at: Vec<usize> = cuts
        .anywhere
        .iter()
        .map(|c| c.index(bytes.len() + 1))
        .chain(starts.zip(&cuts.into_item).map(|(s, &k)| (s + k).min(bytes.len())))
        .collect();
    at.sort_unstable();
    at.dedup();
    let mut chunks = Vec::new();
    let mut prev = 0;
    for a in at.into_iter().chain([bytes.len()]) {
        chunks.push(&bytes[prev..a]);
        prev = a;
    }
    chunks
}

fn mqtt_string() -> impl Strategy<Value = String> {
    prop_oneof![Just("rpc".to_owned()), Just("h".to_owned()), Just("r".to_owned()), "\\PC{0,40}"]
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    // Remaining lengths around the 127 / 16383 boundaries of the MQTT varint, and beyond.
    let len = prop_oneof![0usize..=300, 110usize..=135, 16360usize..=16400, 0usize..70_000];
    len.prop_flat_map(|n| prop::collection::vec(any::<u8>(), n))
}

fn publish() -> impl Strategy<Value = Packet> {
    (mqtt_string(), 0u8..=2, any::<u16>(), any::<bool>(), payload()).prop_map(
        |(topic, qos, id, retain, payload)| Packet::Publish {
            topic,
            qos,
            pkid: (qos > 0).then_some(id),
            retain,
            payload: payload.into(),
        },
    )
}

fn connect() -> impl Strategy<Value = Packet> {
    ("\\PC{0,100}", any::<u16>(), any::<u8>(), any::<u8>()).prop_map(
        |(client_id, keep_alive, level, flags)| Packet::Connect { client_id, keep_alive, level, flags },
    )
}

fn any_packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        4 => publish(),
        2 => connect(),
        1 => (any::<bool>(), any::<u8>()).prop_map(|(session_present, code)| Packet::ConnAck { session_present, code }),
        1 => Just(Packet::PingReq),
        1 => Just(Packet::PingResp),
        1 => Just(Packet::Disconnect),
        // Types 4..=11 (PUBACK … UNSUBACK) are kept whole as `Other`.
        1 => (4u8..=11, any::<u8>(), prop::collection::vec(any::<u8>(), 0..200))
            .prop_map(|(ty, low, body)| Packet::Other { header: ty << 4 | (low & 0x0f), body: body.into() }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn stream_pkg_encode_decode_identity(
        bodies in prop::collection::vec(body(), 1..4),
        cuts in cuts(),
    ) {
        let (bytes, ends) = encode_each(StreamPkgCodec::default(), &bodies);
        // Header = the spec's big-endian base-128 length.
        let mut start = 0;
        for (body, &end) in bodies.iter().zip(&ends) {
            let header = vlq_be(body.len());
            prop_assert_eq!(&bytes[start..start + header.len()], &header[..]);
            prop_assert_eq!(&bytes[start + header.len()..end], &body[..]);
            start = end;
        }
        let want: Vec<Bytes> = bodies.into_iter().map(Bytes::from).collect();
        let (got, rest) = feed(StreamPkgCodec::default(), split(&bytes, &ends, &cuts));
        prop_assert!(rest.is_empty());
        prop_assert_eq!(got, want);
    }

    #[test]
    fn mqtt_publish_encode_decode_identity(p in publish(), cuts in cuts()) {
        let (bytes, ends) = encode_each(MqttCodec::default(), std::slice::from_ref(&p));
        let (got, rest) = feed(MqttCodec::default(), split(&bytes, &ends, &cuts));
        prop_assert!(rest.is_empty());
        prop_assert_eq!(got, vec![p]);
    }

    #[test]
    fn mqtt_connect_encode_decode_identity(p in connect()) {
        let (bytes, _) = encode_each(MqttCodec::default(), std::slice::from_ref(&p));
        prop_assert_eq!(decode_whole(MqttCodec::default(), &bytes, "connect"), vec![p]);
    }

    #[test]
    fn mqtt_packet_sequence_identity(
        packets in prop::collection::vec(any_packet(), 1..6),
        cuts in cuts(),
    ) {
        let (bytes, ends) = encode_each(MqttCodec::default(), &packets);
        let (got, rest) = feed(MqttCodec::default(), split(&bytes, &ends, &cuts));
        prop_assert!(rest.is_empty());
        prop_assert_eq!(got, packets);
    }
}

/// MQTT strings carry a u16 length: a topic or client id longer than 65535 bytes is refused by
/// the encoder instead of being written as a different packet.
#[test]
fn mqtt_encoder_refuses_strings_over_65535_bytes() {
    let long = "t".repeat(65_536);
    for packet in
        [Packet::publish(long.clone(), Bytes::from_static(b"{}")), Packet::pomelo_connect(long.clone())]
    {
        let mut buf = BytesMut::new();
        let result = MqttCodec::default().encode(packet, &mut buf);
        assert!(matches!(result, Err(WireError::Malformed { .. })), "{result:?}");
    }
}

/// pinus-rpc's typed tcp frames, as its own composer wrote them
/// (`fixtures/golden/pinus-tcp-composer.json`, made by `compat-tests/gen-pinus-golden.js`):
/// decode at every split, bodies and kinds exact, re-encoding byte-exact.
#[test]
fn pinus_tcp_composer_frames() {
    use pomelo_interop::wire::typed_pkg::{Kind, TypedCodec, TypedFrame};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/golden/pinus-tcp-composer.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut stream = Vec::new();
    let mut want = Vec::new();
    for f in doc["frames"].as_array().unwrap() {
        let bytes = unhex(f["hex"].as_str().unwrap());
        let kind = match f["kind"].as_u64().unwrap() {
            0 => Kind::Msg,
            1 => Kind::Ping,
            2 => Kind::Pong,
            3 => Kind::Res,
            k => panic!("kind {k}"),
        };
        let body = Bytes::from(f["body"].as_str().unwrap_or("").as_bytes().to_vec());
        let frame = TypedFrame { kind, body };
        let mut enc = BytesMut::new();
        TypedCodec::default().encode(frame.clone(), &mut enc).unwrap();
        assert_eq!(&enc[..], &bytes[..], "re-encoding {kind:?} is byte-exact");
        stream.extend_from_slice(&bytes);
        want.push(frame);
    }
    assert_eq!(want.len(), 5);
    for cut in 0..=stream.len() {
        let mut codec = TypedCodec::default();
        let mut buf = BytesMut::from(&stream[..cut]);
        let mut got = Vec::new();
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            got.push(f);
        }
        buf.extend_from_slice(&stream[cut..]);
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            got.push(f);
        }
        assert_eq!(got, want, "split at {cut}");
    }
}
