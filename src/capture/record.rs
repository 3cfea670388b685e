//! The JSON lines a capture writes: one header line, one line per decoded frame, connection
//! events, and a closing summary (format: `fixtures/README.md`).
//!
//! RPC payloads are kept as the raw JSON text that crossed the wire ([`RawJson`], read by Node's
//! rules), so a lone surrogate, `1e400` or `-0` is written exactly as it was sent and replays the
//! same; every other value is written with JavaScript's number format ([`json::write_to`]).

use serde_json::{Map, Value};

use super::Dir;
use crate::wire::json::{self, RawJson};

/// Version of the line format, written in the header.
pub const FORMAT_VERSION: u64 = 1;

/// Frame name of a line whose bytes could not be framed: decoding of that direction stopped.
pub const MALFORMED: &str = "malformed";
/// Frame name of bytes relayed after decoding stopped (kept so the file still has them all).
pub const RAW: &str = "raw";

/// One decoded frame (or undecodable stretch of bytes), before it gets a time and a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameRecord {
    /// What the frame is, e.g. `stream-pkg`, `mqtt:publish`, `http:request`, `ws:text`.
    pub frame: String,
    /// Frame-specific fields in output order (`topic`, `http`, `sid`, `sio`, `json`, …).
    pub fields: Map<String, Value>,
    /// RPC payloads the frame carries, each as sent: a package object or a batch array.
    pub rpc: Vec<RawJson>,
    /// Why the frame (or its content) could not be decoded.
    pub malformed: Option<String>,
    /// The exact bytes of the frame as they crossed the relay.
    pub raw: Vec<u8>,
}

impl FrameRecord {
    /// A record of a frame kind with its raw bytes and nothing decoded yet.
    pub fn new(frame: impl Into<String>, raw: impl Into<Vec<u8>>) -> Self {
        FrameRecord {
            frame: frame.into(),
            fields: Map::new(),
            rpc: Vec::new(),
            malformed: None,
            raw: raw.into(),
        }
    }

    /// Adds a frame-specific field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(key.to_string(), value.into());
        self
    }

    /// Sets a frame-specific field.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.to_string(), value.into());
    }

    /// Notes a content problem (the framing itself was fine); the first one wins.
    pub fn note_malformed(&mut self, reason: impl Into<String>) {
        if self.malformed.is_none() {
            self.malformed = Some(reason.into());
        }
    }

    /// Reads an RPC payload (JSON of one package or a batch) as Node would and keeps its text,
    /// or notes why it is not JSON.
    pub fn push_rpc(&mut self, payload: &[u8]) {
        match RawJson::from_slice(payload) {
            Ok(v) => self.rpc.push(v.single_line()),
            Err(e) => self.note_malformed(format!("RPC payload {e}")),
        }
    }

    /// `service.method` of every request this frame carries (batches flattened).
    pub fn calls(&self) -> Vec<String> {
        let mut out = Vec::new();
        for pkg in self.rpc.iter().flat_map(raw_packages) {
            if let Some(msg) = member(&pkg, "msg") {
                let name = |key| member(&msg, key).and_then(|v| v.str().map(|s| s.into_owned()));
                let s = name("service").unwrap_or_else(|| "?".into());
                let m = name("method").unwrap_or_else(|| "?".into());
                out.push(format!("{s}.{m}"));
            }
        }
        out
    }

    /// How many responses (packages with `resp`) this frame carries.
    pub fn responses(&self) -> usize {
        self.rpc.iter().flat_map(raw_packages).filter(|p| member(p, "resp").is_some()).count()
    }

    /// The line for this record at `t_ms` on connection `conn`.
    pub fn to_line(&self, t_ms: f64, conn: u64, dir: Dir) -> String {
        let mut out = Vec::with_capacity(96 + self.raw.len() * 3);
        self.write_line(t_ms, conn, dir, &mut out);
        String::from_utf8(out).expect("a capture line is JSON text")
    }

    /// Appends the line (without newline) to `out`; built in place, since this runs for every
    /// frame the relay sees.
    pub fn write_line(&self, t_ms: f64, conn: u64, dir: Dir, out: &mut Vec<u8>) {
        use std::io::Write;
        out.extend_from_slice(br#"{"t_ms":"#);
        json::write_to(out, &round_ms(t_ms));
        let _ = write!(out, r#","conn":{conn},"dir":"{}","frame":"#, dir.name());
        json::write_to(out, &self.frame);
        for (k, v) in &self.fields {
            out.push(b',');
            json::write_to(out, k);
            out.push(b':');
            json::write_to(out, v);
        }
        if !self.rpc.is_empty() {
            out.extend_from_slice(br#","rpc":["#);
            for (i, v) in self.rpc.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(v.as_bytes());
            }
            out.push(b']');
        }
        if let Some(r) = &self.malformed {
            out.extend_from_slice(br#","malformed":"#);
            json::write_to(out, r);
        }
        let _ = write!(out, r#","len":{},"hex":""#, self.raw.len());
        push_hex(out, &self.raw);
        out.extend_from_slice(b"\"}");
    }
}

/// Appends lower-case hex; runs over every relayed byte, so it writes into pre-sized space from
/// a table of digit pairs instead of pushing byte by byte.
fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const PAIRS: [[u8; 2]; 256] = {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut t = [[0u8; 2]; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = [DIGITS[i >> 4], DIGITS[i & 15]];
            i += 1;
        }
        t
    };
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    for (dst, b) in out[start..].chunks_exact_mut(2).zip(bytes) {
        dst.copy_from_slice(&PAIRS[*b as usize]);
    }
}

/// The packages of a payload, each as raw text: the array's elements for a batch, else the
/// payload itself.
pub fn raw_packages(payload: &RawJson) -> Vec<RawJson> {
    if payload.is_array() { payload.elements().unwrap_or_default() } else { vec![payload.clone()] }
}

/// The packages of a payload as trees (lone surrogates as U+FFFD, numbers past f64 as `null`;
/// see [`RawJson::to_value`]); a package too deep for a tree is left out.
pub fn packages(payload: &RawJson) -> Vec<Value> {
    raw_packages(payload).iter().filter_map(|p| p.to_value().ok()).collect()
}

/// The value of `key` in a raw object (the last one if repeated, as Node keeps it); `None` when
/// absent or when `obj` is not an object.
pub fn member(obj: &RawJson, key: &str) -> Option<RawJson> {
    if !obj.is_object() {
        return None;
    }
    obj.fold_members(
        || None,
        |found, k, v| {
            if k == key {
                *found = Some(v);
            }
        },
    )
    .ok()
    .flatten()
}

/// A connection event line (`open`, `fin`, `error`, `close`, `upstream-error`, …).
pub fn event_line(t_ms: f64, conn: u64, event: &str, extra: Map<String, Value>) -> String {
    let mut m = Map::new();
    m.insert("t_ms".into(), round_ms(t_ms).into());
    m.insert("conn".into(), conn.into());
    m.insert("event".into(), event.into());
    m.extend(extra);
    json::to_string(&m)
}

/// Milliseconds rounded to microseconds, so lines stay short.
pub fn round_ms(t_ms: f64) -> f64 {
    (t_ms * 1000.0).round() / 1000.0
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = Vec::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    String::from_utf8(s).expect("hex digits are ASCII")
}

/// Bytes of a hex string; `None` if it is not hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes().chunks(2).map(|p| Some(digit(p[0])? << 4 | digit(p[1])?)).collect()
}

/// Text of at most `max` characters, with a note of what was cut.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((cut, _)) => format!("{}…({} more bytes)", &s[..cut], s.len() - cut),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&bytes)).unwrap(), bytes);
        assert_eq!(hex(b"\x00\xff"), "00ff");
        assert!(unhex("abc").is_none());
        assert!(unhex("zz").is_none());
    }

    #[test]
    fn node_json_is_kept_as_sent() {
        let mut r = FrameRecord::new("stream-pkg", Vec::new());
        r.push_rpc(br#"{"id":1,"msg":{"service":"s","method":"m","args":["cut \ud83d",1e400,-0]}}"#);
        r.push_rpc(b"{\"id\":2,\n \"resp\": [null]}");
        r.push_rpc(b"{nope");
        assert_eq!(r.calls(), ["s.m"]);
        assert_eq!(r.responses(), 1);
        assert!(r.malformed.as_deref().unwrap().contains("not JSON"));
        let line = r.to_line(0.0, 1, Dir::C2s);
        assert!(line.contains(r#""rpc":[{"id":1,"msg":{"service":"s","method":"m","args":["cut \ud83d",1e400,-0]}},{"id":2,"resp":[null]}]"#), "{line}");
        let back = RawJson::from_slice(line.as_bytes()).unwrap();
        assert_eq!(member(&back, "rpc").unwrap().elements().unwrap().len(), 2, "the line reads back");
    }

    #[test]
    fn line_field_order() {
        let mut r = FrameRecord::new("stream-pkg", b"\x02{}".to_vec()).with("topic", "rpc");
        r.push_rpc(br#"{"id":1,"msg":{"service":"s","method":"m"}}"#);
        let line = r.to_line(1.23456, 3, Dir::C2s);
        assert!(
            line.starts_with(
                r#"{"t_ms":1.235,"conn":3,"dir":"c2s","frame":"stream-pkg","topic":"rpc","rpc":"#
            )
        );
        assert!(line.ends_with(r#""len":3,"hex":"027b7d"}"#), "{line}");
        assert_eq!(r.calls(), ["s.m"]);
    }

    #[test]
    fn shorten_marks_the_cut() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdef", 2), "ab…(4 more bytes)");
    }
}
