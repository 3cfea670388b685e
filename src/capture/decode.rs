//! Frame decoders for the relay, one per connection, fed the bytes of both directions in the
//! order they crossed the relay. Pure: no sockets, no clocks.
//!
//! A decoder turns bytes into [`FrameRecord`]s: stream-pkg frames (`tcp`), typed frames
//! (`pinus-tcp`), MQTT packets (`mqtt`, RPC on topic `rpc` and the pomelo-admin topics), and
//! for `sio09` HTTP/1.1 messages (handshake, xhr-polling GET/POST with their socket.io
//! payloads), the WebSocket upgrade, RFC 6455 frames and the socket.io packets inside them.
//! Every JSON text goes through [`crate::wire::json`]; RPC payloads are kept as sent.
//!
//! Memory is bounded: every length is checked against `max_frame` before bytes are kept for it.
//! When the framing of a direction breaks, the decoder emits one `malformed` record with the
//! bytes it could not frame and, from then on, `raw` records of whatever arrives in that
//! direction. A frame whose framing is sound but whose content is not (JSON that does not
//! parse, an unknown socket.io packet) is kept with a `malformed` note and decoding goes on.

use std::collections::VecDeque;

use bytes::{Buf, BytesMut};
use serde_json::{Value, json};
use tokio_util::codec::Decoder;

use super::Dir;
use super::record::{FrameRecord, MALFORMED, RAW, member, shorten};
use crate::transport::Transport;
use crate::wire::json::{RawJson, parse_maybe_twice, unwrap_twice};
use crate::wire::mqtt::{MqttCodec, Packet};
use crate::wire::{http, ws};
use crate::wire::{sio09, stream_pkg};

/// Longest text kept for a socket.io packet or an HTTP body in a capture line (the RPC content
/// is in `rpc` and every byte in `hex`).
const TEXT_MAX: usize = 200;

/// Pending HTTP requests remembered per connection, to know what a response answers.
const MAX_PENDING_REQUESTS: usize = 1024;

/// What one decoding step achieved.
enum Progress {
    /// A frame was decoded.
    Frame(FrameRecord),
    /// Bytes were consumed (a message fragment) without a record yet.
    Consumed,
    /// More bytes are needed.
    Wait,
}

/// sio09: how a direction's bytes are framed right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// HTTP/1.1 messages.
    Http,
    /// RFC 6455 frames, after an upgrade.
    WebSocket,
}

/// sio09: what a request asked for, to interpret its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReqKind {
    Handshake,
    PollGet,
    PollPost,
    Upgrade,
    Other,
}

#[derive(Debug)]
struct PendingReq {
    kind: ReqKind,
    sid: Option<String>,
}

/// A WebSocket message being reassembled from fragments.
#[derive(Debug)]
struct Fragmented {
    opcode: u8,
    masked: bool,
    payload: Vec<u8>,
    raw: Vec<u8>,
    fragments: usize,
}

#[derive(Debug)]
struct DirState {
    buf: BytesMut,
    stopped: bool,
    fin: bool,
    mode: Mode,
    message: Option<Fragmented>,
}

impl DirState {
    fn new() -> Self {
        DirState { buf: BytesMut::new(), stopped: false, fin: false, mode: Mode::Http, message: None }
    }
}

/// Decodes one relayed connection of a dialect, both directions.
#[derive(Debug)]
pub struct ConnDecoder {
    transport: Transport,
    max_frame: usize,
    dirs: [DirState; 2],
    /// sio09: the session id of the upgraded WebSocket.
    ws_sid: Option<String>,
    /// sio09: requests whose responses have not been seen yet, oldest first.
    pending: VecDeque<PendingReq>,
}

impl ConnDecoder {
    /// A decoder for `transport` that refuses frames longer than `max_frame` bytes.
    pub fn new(transport: Transport, max_frame: usize) -> Self {
        ConnDecoder {
            transport,
            max_frame,
            dirs: [DirState::new(), DirState::new()],
            ws_sid: None,
            pending: VecDeque::new(),
        }
    }

    /// Whether decoding of `dir` has stopped (broken framing or [`ConnDecoder::stop`]).
    pub fn stopped(&self, dir: Dir) -> bool {
        self.dirs[dir.index()].stopped
    }

    /// Bytes of `dir` held while waiting for the rest of a frame.
    pub fn buffered(&self, dir: Dir) -> usize {
        self.dirs[dir.index()].buf.len()
    }

    /// Feeds bytes that crossed the relay in `dir`; returns the frames they completed.
    pub fn feed(&mut self, dir: Dir, data: &[u8]) -> Vec<FrameRecord> {
        let st = &mut self.dirs[dir.index()];
        if st.stopped {
            return if data.is_empty() { vec![] } else { vec![FrameRecord::new(RAW, data.to_vec())] };
        }
        st.buf.extend_from_slice(data);
        let mut out = Vec::new();
        self.drain(dir, &mut out);
        out
    }

    /// The connection ended in `dir`: completes a body delimited by the close and reports any
    /// partial frame left over.
    pub fn fin(&mut self, dir: Dir) -> Vec<FrameRecord> {
        let mut out = Vec::new();
        let st = &mut self.dirs[dir.index()];
        if st.stopped || st.fin {
            return out;
        }
        st.fin = true;
        self.drain(dir, &mut out);
        let st = &mut self.dirs[dir.index()];
        if !st.stopped && (!st.buf.is_empty() || st.message.is_some()) {
            let mut rest = st.message.take().map(|m| m.raw).unwrap_or_default();
            rest.extend_from_slice(&st.buf.split());
            let mut rec = FrameRecord::new(MALFORMED, rest);
            rec.malformed =
                Some(format!("the connection ended inside a frame ({} bytes left)", rec.raw.len()));
            out.push(rec);
        }
        out
    }

    /// Stops decoding `dir` for `reason` (e.g. the decoder fell behind); the record says why.
    pub fn stop(&mut self, dir: Dir, reason: &str) -> FrameRecord {
        let st = &mut self.dirs[dir.index()];
        st.stopped = true;
        // Bytes already taken for an unfinished message go with the rest, so none is lost.
        let mut rest = st.message.take().map(|m| m.raw).unwrap_or_default();
        rest.extend_from_slice(&st.buf.split());
        let mut rec = FrameRecord::new(MALFORMED, rest);
        rec.malformed = Some(reason.to_string());
        rec
    }

    fn drain(&mut self, dir: Dir, out: &mut Vec<FrameRecord>) {
        loop {
            match self.step(dir) {
                Ok(Progress::Frame(rec)) => out.push(rec),
                Ok(Progress::Consumed) => {}
                Ok(Progress::Wait) => break,
                Err(reason) => {
                    tracing::debug!("capture: {} decoding stopped: {reason}", dir.name());
                    out.push(self.stop(dir, &reason));
                    break;
                }
            }
        }
    }

    fn step(&mut self, dir: Dir) -> Result<Progress, String> {
        if self.dirs[dir.index()].buf.is_empty() {
            return Ok(Progress::Wait);
        }
        match self.transport {
            Transport::Tcp => self.step_stream_pkg(dir, false),
            Transport::PinusTcp => self.step_stream_pkg(dir, true),
            Transport::Mqtt => self.step_mqtt(dir),
            Transport::Sio09 => match self.dirs[dir.index()].mode {
                Mode::Http => self.step_http(dir),
                Mode::WebSocket => self.step_ws(dir),
            },
        }
    }

    fn step_stream_pkg(&mut self, dir: Dir, typed: bool) -> Result<Progress, String> {
        let buf = &mut self.dirs[dir.index()].buf;
        let Some((len, hlen)) = stream_pkg::read_header(buf, self.max_frame).map_err(|e| e.to_string())?
        else {
            return Ok(Progress::Wait);
        };
        if len == 0 {
            return Err("empty stream-pkg frame (length 0)".into());
        }
        if buf.len() < hlen + len {
            return Ok(Progress::Wait);
        }
        let raw = buf.split_to(hlen + len).to_vec();
        let body = &raw[hlen..];
        if !typed {
            let mut rec = FrameRecord::new("stream-pkg", Vec::new());
            rec.push_rpc(body);
            rec.raw = raw;
            return Ok(Progress::Frame(rec));
        }
        let (kind, payload) = (body[0], &body[1..]);
        let mut rec = FrameRecord::new(
            match kind {
                0 => "pinus:msg",
                1 => "pinus:ping",
                2 => "pinus:pong",
                3 => "pinus:res",
                _ => "pinus:unknown",
            },
            Vec::new(),
        );
        match kind {
            0 | 3 => rec.push_rpc(payload),
            1 | 2 => {}
            other => rec.note_malformed(format!("unknown pinus-tcp frame type {other}")),
        }
        rec.raw = raw;
        Ok(Progress::Frame(rec))
    }

    fn step_mqtt(&mut self, dir: Dir) -> Result<Progress, String> {
        let max = self.max_frame;
        let buf = &mut self.dirs[dir.index()].buf;
        let mut len = 0usize;
        let mut vlen = 0;
        for i in 0..4 {
            let Some(&b) = buf.get(1 + i) else { return Ok(Progress::Wait) };
            len |= ((b & 0x7f) as usize) << (7 * i);
            if b & 0x80 == 0 {
                vlen = i + 1;
                break;
            }
        }
        if vlen == 0 {
            return Err("MQTT remaining length longer than 4 bytes".into());
        }
        if len > max {
            return Err(format!("MQTT packet of {len} bytes exceeds the limit of {max} bytes"));
        }
        let total = 1 + vlen + len;
        if buf.len() < total {
            return Ok(Progress::Wait);
        }
        let raw = buf.split_to(total);
        let decoded = MqttCodec::new(max).decode(&mut raw.clone());
        let raw = raw.to_vec();
        let rec = match decoded {
            Ok(Some(p)) => mqtt_record(p, raw),
            Ok(None) => {
                let mut rec = FrameRecord::new("mqtt:invalid", raw);
                rec.note_malformed("MQTT packet did not decode");
                rec
            }
            Err(e) => {
                let mut rec = FrameRecord::new("mqtt:invalid", raw);
                rec.note_malformed(e.to_string());
                rec
            }
        };
        Ok(Progress::Frame(rec))
    }

    fn step_http(&mut self, dir: Dir) -> Result<Progress, String> {
        let max = self.max_frame;
        let st = &mut self.dirs[dir.index()];
        let Some(head) = http::parse_head(&st.buf).map_err(|e| e.to_string())? else {
            return Ok(Progress::Wait);
        };
        let (body, total) = match head.body_framing(max).map_err(|e| e.to_string())? {
            http::BodyFraming::None => (Vec::new(), head.len),
            http::BodyFraming::Length(n) => {
                if st.buf.len() < head.len + n {
                    return Ok(Progress::Wait);
                }
                (st.buf[head.len..head.len + n].to_vec(), head.len + n)
            }
            http::BodyFraming::Chunked => {
                match http::chunked_body(&st.buf[head.len..], max).map_err(|e| e.to_string())? {
                    None => return Ok(Progress::Wait),
                    Some((body, used)) => (body, head.len + used),
                }
            }
            http::BodyFraming::UntilClose => {
                if st.buf.len() - head.len > max {
                    return Err(format!("HTTP body exceeds the limit of {max} bytes"));
                }
                if !st.fin {
                    return Ok(Progress::Wait);
                }
                (st.buf[head.len..].to_vec(), st.buf.len())
            }
        };
        let raw = st.buf.split_to(total).to_vec();
        Ok(Progress::Frame(self.http_message(head, body, raw)))
    }

    fn http_message(&mut self, head: http::Head, body: Vec<u8>, raw: Vec<u8>) -> FrameRecord {
        match &head.start {
            http::StartLine::Request { method, target } => {
                let (kind, sid) = classify_request(method, target, &head);
                let mut rec = FrameRecord::new("http:request", raw);
                if let Some(s) = &sid {
                    rec.set("sid", s.clone());
                }
                rec.set("http", head.to_json());
                match kind {
                    ReqKind::Upgrade => {
                        // The client may send frames right after its request (socket.io 0.9's
                        // Node client does), before the 101 arrives.
                        self.dirs[Dir::C2s.index()].mode = Mode::WebSocket;
                        self.ws_sid = sid.clone();
                    }
                    ReqKind::PollPost => sio_text(&mut rec, &body),
                    _ => body_text(&mut rec, &body),
                }
                if self.pending.len() >= MAX_PENDING_REQUESTS {
                    self.pending.pop_front();
                }
                self.pending.push_back(PendingReq { kind, sid });
                rec
            }
            http::StartLine::Response { status, .. } => {
                let status = *status;
                let req = if (100..200).contains(&status) && status != 101 {
                    None
                } else {
                    self.pending.pop_front()
                };
                let mut rec = FrameRecord::new("http:response", raw);
                if let Some(s) = req.as_ref().and_then(|r| r.sid.clone()) {
                    rec.set("sid", s);
                }
                rec.set("http", head.to_json());
                let kind = req.map(|r| r.kind);
                if status == 101 {
                    self.dirs[Dir::S2c.index()].mode = Mode::WebSocket;
                    return rec;
                }
                match kind {
                    _ if body.is_empty() => {}
                    Some(ReqKind::Handshake) => handshake_text(&mut rec, &body),
                    Some(ReqKind::PollGet) if status == 200 => sio_text(&mut rec, &body),
                    Some(_) => body_text(&mut rec, &body),
                    // The request was not seen (its direction stopped decoding): guess.
                    None => match std::str::from_utf8(&body) {
                        Ok(t) if sio09::parse_handshake(t).is_ok() => handshake_text(&mut rec, &body),
                        Ok(t) if looks_like_sio(t) => sio_text(&mut rec, &body),
                        _ => body_text(&mut rec, &body),
                    },
                }
                rec
            }
        }
    }

    fn step_ws(&mut self, dir: Dir) -> Result<Progress, String> {
        let max = self.max_frame;
        let st = &mut self.dirs[dir.index()];
        let Some(f) = ws::parse_frame(&st.buf, max).map_err(|e| e.to_string())? else {
            return Ok(Progress::Wait);
        };
        // Every check before the bytes are taken, so that a refused frame stays in the buffer
        // and goes into the malformed record.
        if f.rsv != 0 {
            return Err(format!(
                "WebSocket frame with RSV bits {:#x} (an extension such as permessage-deflate; not decoded)",
                f.rsv
            ));
        }
        match (f.opcode, &st.message) {
            (0, None) => return Err("WebSocket continuation frame without a message to continue".into()),
            (0, Some(m)) if m.payload.len() + f.payload.len() > max => {
                return Err(format!("fragmented WebSocket message exceeds the limit of {max} bytes"));
            }
            (1 | 2, Some(_)) => return Err("new WebSocket message inside a fragmented one".into()),
            _ => {}
        }
        let raw = st.buf.split_to(f.len).to_vec();
        let sid = self.ws_sid.clone();
        let st = &mut self.dirs[dir.index()];
        let (opcode, masked, payload, raw, fragments) = match (f.opcode, st.message.take()) {
            (0, Some(mut m)) => {
                m.payload.extend_from_slice(&f.payload);
                m.raw.extend_from_slice(&raw);
                m.fragments += 1;
                if !f.fin {
                    st.message = Some(m);
                    return Ok(Progress::Consumed);
                }
                (m.opcode, m.masked, m.payload, m.raw, m.fragments)
            }
            (1 | 2, _) if !f.fin => {
                st.message = Some(Fragmented {
                    opcode: f.opcode,
                    masked: f.masked,
                    payload: f.payload,
                    raw,
                    fragments: 1,
                });
                return Ok(Progress::Consumed);
            }
            (_, pending) => {
                // A control frame may arrive between the fragments of a message.
                st.message = pending;
                (f.opcode, f.masked, f.payload, raw, 1)
            }
        };
        let mut rec = FrameRecord::new(format!("ws:{}", ws::opcode_name(opcode)), raw);
        if let Some(s) = sid {
            rec.set("sid", s);
        }
        let mut info = serde_json::Map::new();
        info.insert("masked".into(), masked.into());
        if fragments > 1 {
            info.insert("fragments".into(), fragments.into());
        }
        match opcode {
            1 => {
                rec.set("ws", Value::Object(info));
                sio_text(&mut rec, &payload);
            }
            8 => {
                if payload.len() >= 2 {
                    info.insert("code".into(), u16::from_be_bytes([payload[0], payload[1]]).into());
                    info.insert("reason".into(), String::from_utf8_lossy(&payload[2..]).into());
                }
                rec.set("ws", Value::Object(info));
            }
            _ => rec.set("ws", Value::Object(info)),
        }
        Ok(Progress::Frame(rec))
    }
}

/// What an HTTP request is in socket.io 0.9 terms, and the session id in its path.
fn classify_request(method: &str, target: &str, head: &http::Head) -> (ReqKind, Option<String>) {
    let path = target.split('?').next().unwrap_or("");
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let upgrade = head.has_token("upgrade", "websocket");
    let proto_ok = segs.get(1) == Some(&"1");
    if !proto_ok {
        return (if upgrade { ReqKind::Upgrade } else { ReqKind::Other }, None);
    }
    match segs.len() {
        2 => return (ReqKind::Handshake, None),
        3 if segs[2].is_empty() => return (ReqKind::Handshake, None),
        _ => {}
    }
    let sid = segs.get(3).filter(|s| !s.is_empty()).map(|s| s.to_string());
    let kind = match (segs.get(2).copied(), method) {
        _ if upgrade => ReqKind::Upgrade,
        (Some("xhr-polling" | "jsonp-polling" | "htmlfile"), "POST") => ReqKind::PollPost,
        (Some("xhr-polling" | "jsonp-polling" | "htmlfile"), "GET") => ReqKind::PollGet,
        _ => ReqKind::Other,
    };
    (kind, sid)
}

/// Whether a body looks like socket.io 0.9 packets (`<digit>:` or the payload framing).
fn looks_like_sio(t: &str) -> bool {
    t.starts_with('\u{FFFD}') || matches!(t.as_bytes(), [b'0'..=b'8', b':', ..])
}

/// Keeps a short UTF-8 rendering of a non-socket.io body.
fn body_text(rec: &mut FrameRecord, body: &[u8]) {
    if !body.is_empty() {
        rec.set("body", shorten(&String::from_utf8_lossy(body), TEXT_MAX));
    }
}

/// Decodes a handshake body `sid:hb:close:transports`.
fn handshake_text(rec: &mut FrameRecord, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    match sio09::parse_handshake(&text) {
        Ok(h) => {
            rec.set("sid", h.sid.clone());
            rec.set(
                "handshake",
                json!({
                    "sid": h.sid,
                    "heartbeat_timeout": h.heartbeat_timeout,
                    "close_timeout": h.close_timeout,
                    "transports": h.transports,
                }),
            );
        }
        Err(e) => {
            body_text(rec, body);
            rec.note_malformed(e.to_string());
        }
    }
}

/// Decodes socket.io 0.9 text (one packet or an xhr-polling payload) into `sio` (packet texts),
/// `rpc` (payloads of `message` events and json packets) and `events` (other events).
fn sio_text(rec: &mut FrameRecord, body: &[u8]) {
    let Ok(text) = std::str::from_utf8(body) else {
        body_text(rec, body);
        rec.note_malformed("socket.io text is not UTF-8");
        return;
    };
    let packets = match sio09::decode_payload(text) {
        Ok(p) => p,
        Err(e) => {
            body_text(rec, body);
            rec.note_malformed(e.to_string());
            return;
        }
    };
    let mut texts = Vec::with_capacity(packets.len());
    let mut events = Vec::new();
    for p in &packets {
        texts.push(Value::String(shorten(p, TEXT_MAX)));
        let packet = match sio09::parse(p) {
            Ok(packet) => packet,
            Err(e) => {
                rec.note_malformed(e.to_string());
                continue;
            }
        };
        match &packet {
            sio09::Packet::Event { data, .. } => match RawJson::from_text(data.as_str().into()) {
                Ok(ev) if event_name(&ev).as_deref() == Some("message") => rpc_of(rec, &packet),
                Ok(ev) => match ev.to_value() {
                    Ok(mut ev) => {
                        // pomelo-admin over socket.io (pomelo 1.x) may encode arguments twice.
                        if let Some(Value::Array(args)) = ev.get_mut("args") {
                            for a in args.iter_mut() {
                                *a = unwrap_twice(std::mem::take(a));
                            }
                        }
                        events.push(ev);
                    }
                    Err(e) => rec.note_malformed(format!("socket.io event data: {e}")),
                },
                Err(e) => rec.note_malformed(format!("socket.io event data is {e}")),
            },
            sio09::Packet::Json { .. } => rpc_of(rec, &packet),
            _ => {}
        }
    }
    rec.set("sio", Value::Array(texts));
    if !events.is_empty() {
        rec.set("events", Value::Array(events));
    }
}

/// The `name` of an event's data, decoded; `None` when it has none or is not an object.
fn event_name(ev: &RawJson) -> Option<String> {
    member(ev, "name")?.str().map(|s| s.into_owned())
}

/// Keeps the RPC payload of a `message` event or a json packet.
fn rpc_of(rec: &mut FrameRecord, packet: &sio09::Packet) {
    match sio09::rpc_payload(packet) {
        Ok(Some(raw)) => rec.push_rpc(raw.as_bytes()),
        Ok(None) => {}
        Err(e) => rec.note_malformed(e.to_string()),
    }
}

/// The record of one decoded MQTT packet.
fn mqtt_record(p: Packet, raw: Vec<u8>) -> FrameRecord {
    match p {
        Packet::Connect { client_id, keep_alive, .. } => {
            FrameRecord::new("mqtt:connect", raw).with("client_id", client_id).with("keep_alive", keep_alive)
        }
        Packet::ConnAck { code, .. } => FrameRecord::new("mqtt:connack", raw).with("code", code),
        Packet::Publish { topic, qos, payload, .. } => {
            let mut rec = FrameRecord::new("mqtt:publish", raw).with("topic", topic.clone());
            if qos > 0 {
                rec.set("qos", qos);
            }
            if topic == "rpc" {
                rec.push_rpc(&payload);
            } else {
                // pomelo-admin topics (register, monitor, client, reconnect, …).
                match parse_maybe_twice(&payload) {
                    Ok(v) => rec.set("json", v),
                    Err(_) => rec.set("text", shorten(&String::from_utf8_lossy(&payload), TEXT_MAX)),
                }
            }
            rec
        }
        Packet::PingReq => FrameRecord::new("mqtt:pingreq", raw),
        Packet::PingResp => FrameRecord::new("mqtt:pingresp", raw),
        Packet::Disconnect => FrameRecord::new("mqtt:disconnect", raw),
        Packet::Other { header, mut body } => {
            let mut rec = FrameRecord::new("mqtt:other", raw).with("type", header >> 4);
            if header >> 4 == 8 && body.remaining() >= 2 {
                // SUBSCRIBE: keep the topic filters.
                body.advance(2);
                let mut topics = Vec::new();
                while body.remaining() >= 2 {
                    let n = body.get_u16() as usize;
                    if body.remaining() < n + 1 {
                        break;
                    }
                    topics.push(String::from_utf8_lossy(&body.split_to(n)).into_owned());
                    body.advance(1);
                }
                rec.set("topics", topics);
            }
            rec
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::mqtt::MqttCodec;
    use tokio_util::codec::Encoder;

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
        c2s = b"GET /socket.io/1/websocket/sid123 HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_vec();
        c2s.extend(masked_text(
            r#"5:::{"name":"message","args":[{"id":0,"msg":{"service":"e","method":"m"}}]}"#,
        ));
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
}
