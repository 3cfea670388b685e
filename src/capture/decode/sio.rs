//! socket.io 0.9 text inside HTTP bodies and WebSocket messages, read with
//! [`crate::wire::sio09`]: packets, xhr-polling payloads, the handshake body, and the JSON of
//! events (RPC payloads of `message` events, pomelo-admin events with arguments that may be
//! encoded twice) read with [`crate::wire::json`].

use serde_json::{Value, json};

use super::TEXT_MAX;
use crate::capture::record::{FrameRecord, member, shorten};
use crate::wire::json::{RawJson, unwrap_twice};
use crate::wire::sio09;

/// Whether a body looks like socket.io 0.9 packets (`<digit>:` or the payload framing).
pub(super) fn looks_like_sio(t: &str) -> bool {
    t.starts_with('\u{FFFD}') || matches!(t.as_bytes(), [b'0'..=b'8', b':', ..])
}

/// Keeps a short UTF-8 rendering of a non-socket.io body.
pub(super) fn body_text(rec: &mut FrameRecord, body: &[u8]) {
    if !body.is_empty() {
        rec.set("body", shorten(&String::from_utf8_lossy(body), TEXT_MAX));
    }
}

/// Decodes a handshake body `sid:hb:close:transports`.
pub(super) fn handshake_text(rec: &mut FrameRecord, body: &[u8]) {
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
pub(super) fn sio_text(rec: &mut FrameRecord, body: &[u8]) {
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
