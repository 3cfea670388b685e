//! Golden tests for the socket.io 0.9 codec (`wire::sio09`) against real Node traffic: the
//! `ws04-*` captures of pomelo-rpc 0.4.11 (socket.io 0.9.16, spec/wire.md §4, §9).
//!
//! For every capture this proves that:
//!
//! * every socket.io packet Node sent — each WebSocket text frame, each packet of an xhr-polling
//!   body — parses, and `encode(parse(x)) == x` byte for byte;
//! * every RPC packet yields a payload that parses as requests (c2s) or responses (s2c), and
//!   `message_event(payload)` rebuilds the frame byte for byte;
//! * handshake bodies parse and re-encode exactly, and their sid is the one the transports use;
//! * xhr-polling bodies (including the U+FFFD length framing) split with `decode_payload` and
//!   rebuild exactly with `encode_payload`;
//! * the sequences of §4.2 hold: `1::` first, heartbeats both ways (idle), `0::` both ways
//!   (basic), `1::` then `0::` from the server (whitelist-reject).
//!
//! WebSocket frames and HTTP/1.1 messages (content-length or chunked) are decoded here, in the
//! test, from the raw reads. A table of counts per capture is checked so that a run that decodes
//! nothing cannot pass. The captures are read from `fixtures/captures/rpc`; if missing, the
//! tests fail (they never skip).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use bytes::Bytes;
use pomelo_interop::message::{parse_requests, parse_responses};
use pomelo_interop::wire::sio09::{
    Packet, decode_payload, encode, encode_handshake, encode_payload, message_event, parse, parse_handshake,
    rpc_payload,
};
use serde_json::Value;

const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/captures/rpc");

// ---------------------------------------------------------------------------------------------
// Capture reader
// ---------------------------------------------------------------------------------------------

/// Direction: mailbox → acceptor or acceptor → mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    C2s,
    S2c,
}

/// Both reassembled directions of one relayed TCP connection.
#[derive(Default)]
struct Conn {
    c2s: Vec<u8>,
    s2c: Vec<u8>,
}

fn captures_dir() -> &'static Path {
    let dir = Path::new(CAPTURES);
    assert!(
        dir.is_dir(),
        "capture directory {CAPTURES} is missing: the golden tests read fixtures/captures/rpc/ws04-*.jsonl"
    );
    dir
}

/// Names of the `ws04-*.jsonl` single-capture files, sorted.
fn ws04_captures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(captures_dir())
        .expect("read capture directory")
        .map(|e| e.expect("directory entry").file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with("ws04-") && f.ends_with(".jsonl"))
        .filter_map(|f| f.strip_suffix(".jsonl").map(str::to_owned))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no ws04-*.jsonl capture in {CAPTURES}");
    names
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

/// Reads `<name>.jsonl` and reassembles the reads per connection and direction, in file order.
fn load(name: &str) -> BTreeMap<u64, Conn> {
    let path = captures_dir().join(format!("{name}.jsonl"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut conns: BTreeMap<u64, Conn> = BTreeMap::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let rec: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}.jsonl:{}: {e}", n + 1));
        let Some(hex) = rec.get("hex").and_then(Value::as_str) else { continue };
        let conn = conns.entry(rec["conn"].as_u64().expect("conn")).or_default();
        let bytes = unhex(hex);
        assert_eq!(Some(bytes.len() as u64), rec["len"].as_u64(), "{name}.jsonl:{}", n + 1);
        match rec["dir"].as_str() {
            Some("c2s") => conn.c2s.extend_from_slice(&bytes),
            Some("s2c") => conn.s2c.extend_from_slice(&bytes),
            other => panic!("{name}.jsonl:{}: bad dir {other:?}", n + 1),
        }
    }
    conns
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 and RFC 6455, just enough for these captures
// ---------------------------------------------------------------------------------------------

/// One HTTP message: start line, headers, decoded body.
struct Http {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Http {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn body_text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or_else(|e| panic!("{}: body is not UTF-8: {e}", self.start))
    }
}

/// Splits `bytes` after the first `\r\n\r\n`: the head (start line + headers) and the rest.
fn split_head<'a>(bytes: &'a [u8], label: &str) -> (Http, &'a [u8]) {
    let end =
        bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("{label}: no HTTP head"));
    let head = std::str::from_utf8(&bytes[..end]).expect("HTTP head is ASCII");
    let mut lines = head.split("\r\n");
    let start = lines.next().expect("start line").to_owned();
    let headers = lines
        .map(|l| l.split_once(": ").unwrap_or_else(|| panic!("{label}: bad header line {l:?}")))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (Http { start, headers, body: Vec::new() }, &bytes[end + 4..])
}

/// Decodes a chunked body at the start of `bytes`: the body and the bytes after it.
fn dechunk<'a>(mut bytes: &'a [u8], label: &str) -> (Vec<u8>, &'a [u8]) {
    let mut body = Vec::new();
    loop {
        let eol =
            bytes.windows(2).position(|w| w == b"\r\n").unwrap_or_else(|| panic!("{label}: chunk size"));
        let size = std::str::from_utf8(&bytes[..eol]).expect("chunk size is ASCII");
        let size = usize::from_str_radix(size.split(';').next().unwrap(), 16).expect("hex chunk size");
        let data = &bytes[eol + 2..];
        assert!(data.len() >= size + 2, "{label}: chunk of {size} bytes is truncated");
        assert_eq!(&data[size..size + 2], b"\r\n", "{label}: chunk not followed by CRLF");
        body.extend_from_slice(&data[..size]);
        bytes = &data[size + 2..];
        if size == 0 {
            return (body, bytes);
        }
    }
}

/// All HTTP messages sent back to back on one direction of a keep-alive connection.
fn http_messages(mut bytes: &[u8], label: &str) -> Vec<Http> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (mut msg, rest) = split_head(bytes, label);
        bytes = if msg.header("Transfer-Encoding") == Some("chunked") {
            let (body, rest) = dechunk(rest, label);
            msg.body = body;
            rest
        } else if let Some(len) = msg.header("Content-Length") {
            let len: usize = len.parse().expect("Content-Length");
            assert!(rest.len() >= len, "{label}: body of {len} bytes is truncated");
            msg.body = rest[..len].to_vec();
            &rest[len..]
        } else {
            rest
        };
        out.push(msg);
    }
    out
}

/// One WebSocket frame, unmasked.
struct WsFrame {
    fin: bool,
    opcode: u8,
    masked: bool,
    payload: Vec<u8>,
}

/// Reads a big-endian length field of `n` bytes at `at`.
fn be(bytes: &[u8], at: usize, n: usize) -> usize {
    bytes[at..at + n].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
}

/// Decodes one frame at the start of `bytes`: the frame and its total length.
fn ws_frame(bytes: &[u8], label: &str) -> (WsFrame, usize) {
    assert!(bytes.len() >= 2, "{label}: truncated frame header");
    assert_eq!(bytes[0] & 0x70, 0, "{label}: RSV bits set (no extension was negotiated)");
    let masked = bytes[1] & 0x80 != 0;
    let (len, mut at) = match bytes[1] & 0x7f {
        126 => (be(bytes, 2, 2), 4),
        127 => (be(bytes, 2, 8), 10),
        n => (usize::from(n), 2),
    };
    let key = masked.then(|| {
        at += 4;
        [bytes[at - 4], bytes[at - 3], bytes[at - 2], bytes[at - 1]]
    });
    assert!(bytes.len() >= at + len, "{label}: frame of {len} bytes is truncated");
    let mut payload = bytes[at..at + len].to_vec();
    if let Some(key) = key {
        payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= key[i % 4]);
    }
    (WsFrame { fin: bytes[0] & 0x80 != 0, opcode: bytes[0] & 0x0f, masked, payload }, at + len)
}

/// All frames of one direction, asserting nothing is left over.
fn ws_frames(mut bytes: &[u8], label: &str) -> Vec<WsFrame> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (frame, used) = ws_frame(bytes, label);
        out.push(frame);
        bytes = &bytes[used..];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// socket.io checks
// ---------------------------------------------------------------------------------------------

/// What one capture contained; compared against [`EXPECTED`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    /// Handshake bodies parsed.
    handshakes: usize,
    /// WebSocket connections.
    ws_conns: usize,
    /// WebSocket close frames (client only).
    close_frames: usize,
    /// xhr-polling bodies that carry packets (POST requests, GET responses); of which framed.
    poll_bodies: usize,
    framed_bodies: usize,
    /// socket.io packets c2s / s2c, from frames and polling bodies.
    packets: [usize; 2],
    /// Packets with an RPC payload, and the RPC packages inside them.
    rpc_packets: usize,
    packages: usize,
    /// `2::` and `0::` c2s / s2c.
    heartbeats: [usize; 2],
    disconnects: [usize; 2],
}

/// Expected counts, checked against the decoded views (`ws04-*.txt`).
const EXPECTED: &[(&str, Counts)] = &[
    ("ws04-basic", counts(1, 1, 1, 0, 0, [7, 8], 12, 12, [0, 0], [1, 1])),
    ("ws04-buffer", counts(1, 1, 1, 0, 0, [2, 3], 2, 6, [0, 0], [1, 1])),
    ("ws04-drop", counts(1, 1, 0, 0, 0, [2, 1], 2, 2, [0, 0], [0, 0])),
    ("ws04-idle", counts(1, 1, 1, 0, 0, [5, 6], 4, 4, [2, 2], [1, 1])),
    ("ws04-throw", counts(1, 1, 1, 0, 0, [3, 3], 3, 3, [0, 0], [1, 1])),
    ("ws04-timeout", counts(1, 1, 1, 0, 0, [2, 3], 2, 2, [0, 0], [1, 1])),
    ("ws04-trace", counts(1, 1, 1, 0, 0, [2, 3], 2, 2, [0, 0], [1, 1])),
    ("ws04-whitelist-reject", counts(1, 1, 1, 0, 0, [1, 2], 1, 1, [0, 0], [0, 1])),
    ("ws04-xhrpolling", counts(1, 0, 0, 5, 1, [2, 4], 4, 6, [0, 0], [1, 0])),
];

/// Positional constructor for the table above.
#[allow(clippy::too_many_arguments)]
const fn counts(
    handshakes: usize,
    ws_conns: usize,
    close_frames: usize,
    poll_bodies: usize,
    framed_bodies: usize,
    packets: [usize; 2],
    rpc_packets: usize,
    packages: usize,
    heartbeats: [usize; 2],
    disconnects: [usize; 2],
) -> Counts {
    Counts {
        handshakes,
        ws_conns,
        close_frames,
        poll_bodies,
        framed_bodies,
        packets,
        rpc_packets,
        packages,
        heartbeats,
        disconnects,
    }
}

/// Parses one packet text Node sent and checks it both ways; returns the packet.
fn check_packet(text: &str, dir: Dir, counts: &mut Counts, label: &str) -> Packet {
    let packet = parse(text).unwrap_or_else(|e| panic!("{label}: {text:?}: {e}"));
    assert_eq!(encode(&packet), text, "{label}: encode(parse(x)) != x");
    let d = dir as usize;
    counts.packets[d] += 1;
    match packet {
        Packet::Heartbeat => counts.heartbeats[d] += 1,
        Packet::Disconnect { .. } => counts.disconnects[d] += 1,
        _ => {}
    }
    let payload = rpc_payload(&packet).unwrap_or_else(|e| panic!("{label}: {text:?}: {e}"));
    if let Some(payload) = payload {
        counts.rpc_packets += 1;
        counts.packages += match dir {
            Dir::C2s => parse_requests(Bytes::copy_from_slice(payload.as_bytes()))
                .map(|v| v.into_iter().filter_map(Result::ok).count()),
            Dir::S2c => parse_responses(Bytes::copy_from_slice(payload.as_bytes()))
                .map(|v| v.into_iter().filter_map(Result::ok).count()),
        }
        .unwrap_or_else(|e| panic!("{label}: payload {payload}: {e}"));
        if matches!(packet, Packet::Event { .. }) {
            assert_eq!(message_event(payload), text, "{label}: message_event does not rebuild the frame");
        }
    }
    packet
}

/// Checks a handshake response body; returns its sid.
fn check_handshake(resp: &Http, counts: &mut Counts, label: &str) -> String {
    assert_eq!(resp.start, "HTTP/1.1 200 OK", "{label}");
    let body = resp.body_text();
    let h = parse_handshake(body).unwrap_or_else(|e| panic!("{label}: handshake {body:?}: {e}"));
    assert_eq!(encode_handshake(&h), body, "{label}: handshake does not round-trip");
    assert_eq!((h.heartbeat_timeout, h.close_timeout), (Some(60), Some(60)), "{label}");
    assert!(h.transports.iter().any(|t| t == "websocket" || t == "xhr-polling"), "{label}: {h:?}");
    counts.handshakes += 1;
    h.sid
}

/// The sid in `GET|POST /socket.io/1/<transport>/<sid>[?…] HTTP/1.1`.
fn sid_of(start: &str, transport: &str) -> Option<String> {
    let path = start.split(' ').nth(1)?;
    let rest = path.strip_prefix(&format!("/socket.io/1/{transport}/"))?;
    Some(rest.split('?').next().unwrap().to_owned())
}

/// A WebSocket connection: upgrade, then text frames that are all socket.io packets.
fn check_ws_conn(
    conn: &Conn,
    counts: &mut Counts,
    sids: &mut BTreeSet<String>,
    label: &str,
) -> [Vec<String>; 2] {
    let (req, c2s) = split_head(&conn.c2s, label);
    sids.insert(sid_of(&req.start, "websocket").expect("websocket sid"));
    let (resp, s2c) = split_head(&conn.s2c, label);
    assert_eq!(resp.start, "HTTP/1.1 101 Switching Protocols", "{label}");
    counts.ws_conns += 1;
    let mut texts: [Vec<String>; 2] = Default::default();
    for (dir, bytes) in [(Dir::C2s, c2s), (Dir::S2c, s2c)] {
        let label = format!("{label} {dir:?}");
        for frame in ws_frames(bytes, &label) {
            assert!(frame.fin, "{label}: fragmented frame");
            assert_eq!(frame.masked, dir == Dir::C2s, "{label}: client frames masked, server frames not");
            match frame.opcode {
                1 => {
                    let text = String::from_utf8(frame.payload).expect("text frame is UTF-8");
                    check_packet(&text, dir, counts, &label);
                    texts[dir as usize].push(text);
                }
                8 => counts.close_frames += 1,
                op => panic!("{label}: unexpected opcode {op}"),
            }
        }
    }
    assert_eq!(texts[1].first().map(String::as_str), Some("1::"), "{label}: the server starts with 1::");
    texts
}

/// An xhr-polling body: split, check every packet, rebuild.
fn check_poll_body(body: &str, dir: Dir, counts: &mut Counts, label: &str) -> Vec<String> {
    let packets = decode_payload(body).unwrap_or_else(|e| panic!("{label}: {body:?}: {e}"));
    assert!(!packets.is_empty(), "{label}: empty polling body");
    assert_eq!(encode_payload(&packets), body, "{label}: encode_payload(decode_payload(x)) != x");
    counts.poll_bodies += 1;
    counts.framed_bodies += usize::from(packets.len() > 1);
    for p in &packets {
        check_packet(p, dir, counts, label);
    }
    packets
}

/// A keep-alive HTTP connection: the handshake and/or xhr-polling requests with their answers.
fn check_http_conn(
    conn: &Conn,
    counts: &mut Counts,
    sids: &mut BTreeSet<String>,
    label: &str,
) -> Vec<String> {
    let requests = http_messages(&conn.c2s, label);
    let responses = http_messages(&conn.s2c, label);
    // The last long poll may still be pending when the client closes.
    let unanswered = requests.len().checked_sub(responses.len());
    assert!(
        matches!(unanswered, Some(0 | 1)),
        "{label}: {} requests, {} responses",
        requests.len(),
        responses.len()
    );
    let mut poll_packets = Vec::new();
    for (i, req) in requests.iter().enumerate() {
        let resp = responses.get(i);
        let label = format!("{label} request {i} ({})", req.start);
        if req.start.starts_with("GET /socket.io/1/?t=") {
            let hs_sid = check_handshake(resp.expect("handshake answered"), counts, &label);
            assert!(sids.insert(hs_sid), "{label}: duplicate handshake sid");
        } else if req.start.starts_with("GET /socket.io/1/xhr-polling/") {
            assert!(sids.contains(&sid_of(&req.start, "xhr-polling").unwrap()), "{label}: unknown sid");
            if let Some(resp) = resp {
                assert_eq!(resp.start, "HTTP/1.1 200 OK", "{label}");
                poll_packets.extend(check_poll_body(resp.body_text(), Dir::S2c, counts, &label));
            }
        } else if req.start.starts_with("POST /socket.io/1/xhr-polling/") {
            assert!(sids.contains(&sid_of(&req.start, "xhr-polling").unwrap()), "{label}: unknown sid");
            poll_packets.extend(check_poll_body(req.body_text(), Dir::C2s, counts, &label));
            assert_eq!(resp.expect("POST answered").body_text(), "1", "{label}: POST answer");
        } else {
            panic!("{label}: unexpected request");
        }
    }
    poll_packets
}

/// Checks one capture; returns its counts and the socket.io texts of its websocket connections.
fn check_capture(name: &str) -> (Counts, Vec<[Vec<String>; 2]>) {
    let mut counts = Counts::default();
    let mut handshake_sids = BTreeSet::new();
    let mut ws_sids = BTreeSet::new();
    let mut ws_texts = Vec::new();
    for (n, conn) in load(name) {
        let label = format!("{name} conn {n}");
        if conn.c2s.starts_with(b"GET /socket.io/1/websocket/") {
            ws_texts.push(check_ws_conn(&conn, &mut counts, &mut ws_sids, &label));
        } else if conn.c2s.starts_with(b"GET /socket.io/1/") || conn.c2s.starts_with(b"POST /socket.io/1/") {
            check_http_conn(&conn, &mut counts, &mut handshake_sids, &label);
        } else {
            assert!(conn.c2s.is_empty() && conn.s2c.is_empty(), "{label}: unknown traffic");
        }
    }
    assert!(ws_sids.is_subset(&handshake_sids), "{name}: websocket sid without a handshake");
    (counts, ws_texts)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn every_ws04_capture_decodes_and_reencodes_exactly() {
    let names = ws04_captures();
    let expected: BTreeMap<&str, Counts> = EXPECTED.iter().copied().collect();
    assert_eq!(
        names.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        expected.keys().copied().collect::<BTreeSet<_>>(),
        "the ws04 captures and the EXPECTED table differ"
    );
    let mut failures = Vec::new();
    println!(
        "{:<22} {:>3} {:>3} {:>5} {:>4} {:>6} {:>9} {:>4} {:>4} {:>5} {:>5}",
        "capture", "hs", "ws", "close", "poll", "framed", "packets", "rpc", "pkgs", "hb", "disc"
    );
    for name in &names {
        let (got, _) = check_capture(name);
        println!(
            "{name:<22} {:>3} {:>3} {:>5} {:>4} {:>6} {:>4}/{:<4} {:>4} {:>4} {:>2}/{:<2} {:>2}/{:<2}",
            got.handshakes,
            got.ws_conns,
            got.close_frames,
            got.poll_bodies,
            got.framed_bodies,
            got.packets[0],
            got.packets[1],
            got.rpc_packets,
            got.packages,
            got.heartbeats[0],
            got.heartbeats[1],
            got.disconnects[0],
            got.disconnects[1]
        );
        if got != expected[name.as_str()] {
            failures.push(format!("{name}: got {got:?}, expected {:?}", expected[name.as_str()]));
        }
    }
    assert!(failures.is_empty(), "count mismatches:\n{}", failures.join("\n"));
}

/// The socket.io texts of the single websocket connection of `name`: `[c2s, s2c]`.
fn only_ws_conn(name: &str) -> [Vec<String>; 2] {
    let (_, mut conns) = check_capture(name);
    assert_eq!(conns.len(), 1, "{name}: expected one websocket connection");
    conns.pop().unwrap()
}

#[test]
fn idle_heartbeats_are_echoed() {
    let [c2s, s2c] = only_ws_conn("ws04-idle");
    let beats = |t: &[String]| t.iter().filter(|p| *p == "2::").count();
    assert_eq!((beats(&c2s), beats(&s2c)), (2, 2), "server 2:: every 25 s, client echoes");
    assert_eq!(parse("2::").unwrap(), Packet::Heartbeat);
}

#[test]
fn basic_disconnects_both_ways() {
    let [c2s, s2c] = only_ws_conn("ws04-basic");
    assert_eq!(c2s.last().map(String::as_str), Some("0::"), "client says 0:: last");
    assert_eq!(s2c.last().map(String::as_str), Some("0::"), "server answers 0::");
    assert_eq!(parse("0::").unwrap(), Packet::Disconnect { endpoint: String::new() });
}

#[test]
fn whitelist_reject_is_connect_then_disconnect() {
    let [c2s, s2c] = only_ws_conn("ws04-whitelist-reject");
    assert_eq!(s2c, ["1::", "0::"]);
    // Surprise: `1::` makes the client flush its pending request even though `0::` follows at
    // once; the request (and a close frame, but no `0::`) reach a socket the server has closed.
    assert_eq!(c2s.len(), 1, "{c2s:?}");
    assert!(c2s[0].starts_with(r#"5:::{"name":"message","args":[{"traceId""#), "{c2s:?}");
}

#[test]
fn xhr_polling_uses_length_framing() {
    let mut counts = Counts::default();
    let mut sids = BTreeSet::new();
    let per_conn: Vec<Vec<String>> = load("ws04-xhrpolling")
        .iter()
        .map(|(n, conn)| check_http_conn(conn, &mut counts, &mut sids, &format!("ws04-xhrpolling conn {n}")))
        .collect();
    assert_eq!(sids.len(), 1, "one handshake");
    assert!(per_conn.iter().any(|p| p.first().is_some_and(|p| p == "1::")), "a first poll returns 1::");
    assert!(per_conn.iter().any(|p| p.last().is_some_and(|p| p == "0::")), "the client POSTs 0:: to leave");
    assert!(counts.framed_bodies >= 1, "a multi-packet body with U+FFFD framing");
}
