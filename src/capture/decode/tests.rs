//! The decoders on hand-made traffic of every dialect, split at every byte where it matters.

use bytes::BytesMut;
use serde_json::json;
use tokio_util::codec::Encoder;

use super::*;
use crate::wire::mqtt::{MqttCodec, Packet};
use crate::wire::stream_pkg;

fn feed_split(d: &mut ConnDecoder, dir: Dir, bytes: &[u8], cut: usize) -> Vec<FrameRecord> {
    let mut out = d.feed(dir, &bytes[..cut]);
    out.extend(d.feed(dir, &bytes[cut..]));
    out
}

fn pkg(body: &str) -> Vec<u8> {
    let mut b = BytesMut::new();
    stream_pkg::put_header(body.len(), &mut b);
    b.extend_from_slice(body.as_bytes());
    b.to_vec()
}

#[test]
fn stream_pkg_frames_at_every_split() {
    let mut bytes = pkg(r#"{"id":0,"msg":{"namespace":"user","service":"s","method":"m","args":[]}}"#);
    bytes.extend(pkg(&format!(
        r#"{{"id":1,"msg":{{"service":"s","method":"big","args":["{}"]}}}}"#,
        "x".repeat(300)
    )));
    for cut in 0..=bytes.len() {
        let mut d = ConnDecoder::new(Transport::Tcp, 1 << 20);
        let recs = feed_split(&mut d, Dir::C2s, &bytes, cut);
        assert_eq!(recs.len(), 2, "cut {cut}");
        assert_eq!(recs[0].calls(), ["s.m"]);
        assert_eq!(recs[1].calls(), ["s.big"]);
        let raw: Vec<u8> = recs.iter().flat_map(|r| r.raw.clone()).collect();
        assert_eq!(raw, bytes, "raw bytes add up to the stream");
    }
}

#[test]
fn broken_framing_stops_one_direction_only() {
    let mut d = ConnDecoder::new(Transport::Tcp, 100);
    let recs = d.feed(Dir::C2s, &[0x81, 0x80, 0x80, 0x00, 1, 2]);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].frame, MALFORMED);
    assert!(recs[0].malformed.as_deref().unwrap().contains("exceeds the limit"));
    assert_eq!(recs[0].raw, [0x81, 0x80, 0x80, 0x00, 1, 2]);
    assert!(d.stopped(Dir::C2s));
    let later = d.feed(Dir::C2s, &pkg("{}"));
    assert_eq!((later.len(), later[0].frame.as_str()), (1, RAW));
    let other = d.feed(Dir::S2c, &pkg(r#"{"id":0,"resp":[null]}"#));
    assert_eq!(other[0].frame, "stream-pkg");
    assert_eq!(other[0].rpc, [json!({"id":0,"resp":[null]})]);
}

#[test]
fn bad_json_is_noted_and_decoding_goes_on() {
    let mut d = ConnDecoder::new(Transport::Tcp, 1000);
    let mut bytes = pkg("{nope");
    bytes.extend(pkg("[]"));
    let recs = d.feed(Dir::C2s, &bytes);
    assert_eq!(recs.len(), 2);
    assert!(recs[0].malformed.as_deref().unwrap().contains("not JSON"));
    assert_eq!(recs[1].rpc, [json!([])]);
}

#[test]
fn partial_frame_at_the_end_is_reported() {
    let mut d = ConnDecoder::new(Transport::Tcp, 1000);
    assert!(d.feed(Dir::S2c, &pkg("{}")[..2]).is_empty());
    let recs = d.fin(Dir::S2c);
    assert_eq!(recs[0].frame, MALFORMED);
    assert!(recs[0].malformed.as_deref().unwrap().contains("ended inside a frame"));
}

#[test]
fn pinus_typed_frames() {
    let mut d = ConnDecoder::new(Transport::PinusTcp, 1000);
    let recs = d.feed(Dir::C2s, b"\x01\x01\x09\x00{\"id\":1}\x01\x07");
    let kinds: Vec<&str> = recs.iter().map(|r| r.frame.as_str()).collect();
    assert_eq!(kinds, ["pinus:ping", "pinus:msg", "pinus:unknown"]);
    assert_eq!(recs[1].rpc, [json!({"id":1})]);
    assert!(recs[2].malformed.is_some());
}

#[test]
fn mqtt_rpc_and_admin_topics() {
    let mut bytes = BytesMut::new();
    let mut c = MqttCodec::default();
    c.encode(Packet::pomelo_connect("MQTT_RPC_1"), &mut bytes).unwrap();
    c.encode(Packet::publish("rpc", &br#"{"id":0,"msg":{"service":"a","method":"b"}}"#[..]), &mut bytes)
        .unwrap();
    let twice = serde_json::to_vec(&json!(r#"{"reqId":1,"moduleId":"__masterwatcher__"}"#)).unwrap();
    c.encode(Packet::publish("monitor", twice), &mut bytes).unwrap();
    c.encode(Packet::PingReq, &mut bytes).unwrap();
    for cut in 0..=bytes.len() {
        let mut d = ConnDecoder::new(Transport::Mqtt, 1000);
        let recs = feed_split(&mut d, Dir::C2s, &bytes, cut);
        let kinds: Vec<&str> = recs.iter().map(|r| r.frame.as_str()).collect();
        assert_eq!(kinds, ["mqtt:connect", "mqtt:publish", "mqtt:publish", "mqtt:pingreq"], "cut {cut}");
        assert_eq!(recs[0].fields["client_id"], "MQTT_RPC_1");
        assert_eq!(recs[1].calls(), ["a.b"]);
        assert_eq!(recs[2].fields["json"]["moduleId"], "__masterwatcher__");
    }
}

#[test]
fn mqtt_garbage() {
    let mut d = ConnDecoder::new(Transport::Mqtt, 1000);
    let recs = d.feed(Dir::C2s, &[0x00, 0x00, 0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert_eq!(recs[0].frame, "mqtt:invalid");
    assert_eq!(recs[1].frame, MALFORMED);
}

fn masked_text(text: &str) -> Vec<u8> {
    let key = [1u8, 2, 3, 4];
    let mut out = vec![0x81];
    let n = text.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    }
    out.extend_from_slice(&key);
    out.extend(text.bytes().enumerate().map(|(i, b)| b ^ key[i & 3]));
    out
}

#[test]
fn sio09_websocket_session() {
    let mut c2s = b"GET /socket.io/1/?t=1 HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
    let body = "sid123:60:60:websocket,xhr-polling";
    let hs = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let mut d = ConnDecoder::new(Transport::Sio09, 1 << 20);
    let r = d.feed(Dir::C2s, &c2s);
    assert_eq!(r[0].frame, "http:request");
    let r = d.feed(Dir::S2c, hs.as_bytes());
    assert_eq!(r[0].fields["handshake"]["sid"], "sid123");
    assert_eq!(r[0].fields["handshake"]["transports"], json!(["websocket", "xhr-polling"]));

    // A second connection: the upgrade, frames before the 101, then the server's frames.
    let mut d = ConnDecoder::new(Transport::Sio09, 1 << 20);
    c2s = b"GET /socket.io/1/websocket/sid123 HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        .to_vec();
    c2s.extend(masked_text(r#"5:::{"name":"message","args":[{"id":0,"msg":{"service":"e","method":"m"}}]}"#));
    c2s.extend(masked_text("2::"));
    for cut in 0..=c2s.len() {
        let mut d = ConnDecoder::new(Transport::Sio09, 1 << 20);
        let r = feed_split(&mut d, Dir::C2s, &c2s, cut);
        assert_eq!(r.len(), 3, "cut {cut}");
        assert_eq!(r[1].calls(), ["e.m"]);
        assert_eq!(r[1].fields["sid"], "sid123");
    }
    d.feed(Dir::C2s, &c2s);
    let mut s2c = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
    s2c.extend_from_slice(b"\x81\x031::");
    let resp = r#"5:::{"name":"message","args":[{"id":0,"resp":[null,1]}]}"#;
    s2c.push(0x81);
    s2c.push(resp.len() as u8);
    s2c.extend_from_slice(resp.as_bytes());
    s2c.extend_from_slice(b"\x88\x02\x03\xe8");
    let r = d.feed(Dir::S2c, &s2c);
    let kinds: Vec<&str> = r.iter().map(|r| r.frame.as_str()).collect();
    assert_eq!(kinds, ["http:response", "ws:text", "ws:text", "ws:close"]);
    assert_eq!(r[2].rpc, [json!({"id":0,"resp":[null,1]})]);
    assert_eq!(r[2].fields["sid"], "sid123");
    assert_eq!(r[3].fields["ws"]["code"], 1000);
}

#[test]
fn sio09_polling_bodies_and_fragments() {
    let mut d = ConnDecoder::new(Transport::Sio09, 1 << 20);
    let ev = r#"5:::{"name":"message","args":[{"id":2,"resp":[]}]}"#;
    let body = format!("\u{FFFD}3\u{FFFD}1::\u{FFFD}{}\u{FFFD}{ev}", ev.len());
    let req = "POST /socket.io/1/xhr-polling/S?t=2 HTTP/1.1\r\nContent-Length: 3\r\n\r\n2::";
    let get = "GET /socket.io/1/xhr-polling/S?t=3 HTTP/1.1\r\n\r\n";
    let r = d.feed(Dir::C2s, format!("{req}{get}").as_bytes());
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].fields["sio"], json!(["2::"]));
    let posted = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1";
    let polled = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    let r = d.feed(Dir::S2c, format!("{posted}{polled}").as_bytes());
    assert_eq!(r[0].fields["body"], "1");
    assert_eq!(r[1].fields["sid"], "S");
    assert_eq!(r[1].rpc, [json!({"id":2,"resp":[]})]);
    assert!(r[1].malformed.is_none(), "{:?}", r[1].malformed);

    // A fragmented text message and an admin event encoded twice.
    let mut d = ConnDecoder::new(Transport::Sio09, 1 << 20);
    d.feed(Dir::S2c, b"HTTP/1.1 101 Switching Protocols\r\n\r\n");
    let text = r#"5:::{"name":"monitor","args":["{\"reqId\":3}"]}"#;
    let (a, b) = text.split_at(10);
    let mut frames = vec![0x01, a.len() as u8];
    frames.extend_from_slice(a.as_bytes());
    frames.extend_from_slice(&[0x80, b.len() as u8]);
    frames.extend_from_slice(b.as_bytes());
    let r = d.feed(Dir::S2c, &frames);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].fields["ws"]["fragments"], 2);
    assert_eq!(r[0].fields["events"], json!([{"name":"monitor","args":[{"reqId":3}]}]));
    assert_eq!(r[0].raw, frames);
}

#[test]
fn http_until_close_and_garbage() {
    let mut d = ConnDecoder::new(Transport::Sio09, 1 << 20);
    d.feed(Dir::C2s, b"GET /other HTTP/1.1\r\n\r\n");
    assert!(d.feed(Dir::S2c, b"HTTP/1.0 200 OK\r\n\r\nhello").is_empty());
    let r = d.fin(Dir::S2c);
    assert_eq!(r[0].fields["body"], "hello");
    let mut d = ConnDecoder::new(Transport::Sio09, 1 << 20);
    let r = d.feed(Dir::C2s, b"\x16\x03\x01 TLS hello");
    assert_eq!(r[0].frame, MALFORMED);
    let mut d = ConnDecoder::new(Transport::Sio09, 1 << 20);
    d.feed(Dir::S2c, b"HTTP/1.1 101 Switching Protocols\r\n\r\n");
    let r = d.feed(Dir::S2c, b"\xc1\x01x");
    assert!(r[0].malformed.as_deref().unwrap().contains("RSV"));
}

/// What Node reads and serde_json's typed parser does not (a lone surrogate, a number past f64,
/// `-0`, 300 levels of nesting) is a payload like any other: kept exactly, never malformed.
#[test]
fn node_json_is_not_malformed() {
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let args = format!(r#"["cut \ud83d",1e400,-0,{deep}]"#);
    let req = format!(r#"{{"id":0,"msg":{{"service":"e","method":"echo","args":{args}}}}}"#);
    let mut d = ConnDecoder::new(Transport::Tcp, 1 << 20);
    let recs = d.feed(Dir::C2s, &pkg(&req));
    assert_eq!(recs[0].malformed, None);
    assert_eq!(recs[0].rpc[0].as_str(), req);
    assert_eq!(recs[0].calls(), ["e.echo"]);

    let mut bytes = BytesMut::new();
    let mut c = MqttCodec::default();
    c.encode(Packet::publish("rpc", req.clone().into_bytes()), &mut bytes).unwrap();
    let admin = serde_json::to_vec(&json!(r#"{"reqId":1,"body":"\ud83d"}"#)).unwrap();
    c.encode(Packet::publish("monitor", admin), &mut bytes).unwrap();
    let recs = ConnDecoder::new(Transport::Mqtt, 1 << 20).feed(Dir::C2s, &bytes);
    assert!(recs.iter().all(|r| r.malformed.is_none()), "{recs:?}");
    assert_eq!(recs[0].rpc[0].as_str(), req);
    assert_eq!(recs[1].fields["json"], json!({"reqId": 1, "body": "\u{fffd}"}));

    let mut d = ConnDecoder::new(Transport::Sio09, 1 << 20);
    d.feed(Dir::S2c, b"HTTP/1.1 101 Switching Protocols\r\n\r\n");
    let event = format!(r#"5:::{{"name":"message","args":[{req}]}}"#);
    let other = format!(r#"5:::{{"name":"monitor","args":[{deep},"\ud83d"]}}"#);
    let mut frames = Vec::new();
    for text in [&event, &other] {
        frames.extend_from_slice(&[0x81, 126]);
        frames.extend_from_slice(&(text.len() as u16).to_be_bytes());
        frames.extend_from_slice(text.as_bytes());
    }
    let recs = d.feed(Dir::S2c, &frames);
    assert!(recs.iter().all(|r| r.malformed.is_none()), "{recs:?}");
    assert_eq!(recs[0].rpc[0].as_str(), req);
    assert_eq!(recs[1].fields["events"][0]["args"][1], "\u{fffd}");
}
