//! `mqtt`: packets framed and parsed by [`crate::wire::mqtt`]. RPC payloads on topic `rpc`,
//! pomelo-admin messages (JSON, often encoded twice) on the other topics.

use bytes::{Bytes, BytesMut};

use super::{DecodeError, Progress, TEXT_MAX};
use crate::capture::record::{FrameRecord, shorten};
use crate::wire::json::parse_maybe_twice;
use crate::wire::mqtt::{Packet, parse_packet, read_fixed_header};

/// One MQTT packet. Bad framing (a length over the cap, an endless varint) stops the direction;
/// a packet that is framed but does not parse is recorded as `mqtt:invalid`.
pub(super) fn packet(buf: &mut BytesMut, max: usize) -> Result<Progress, DecodeError> {
    let Some(fixed) = read_fixed_header(buf, max)? else { return Ok(Progress::Wait) };
    if buf.len() < fixed.packet_len() {
        return Ok(Progress::Wait);
    }
    let raw = buf.split_to(fixed.packet_len());
    let body = Bytes::copy_from_slice(&raw[fixed.len..]);
    let raw = raw.to_vec();
    let rec = match parse_packet(fixed.byte, body) {
        Ok(p) => record(p, raw),
        Err(e) => {
            let mut rec = FrameRecord::new("mqtt:invalid", raw);
            rec.note_malformed(e.to_string());
            rec
        }
    };
    Ok(Progress::Frame(rec))
}

/// The record of one decoded MQTT packet.
fn record(p: Packet, raw: Vec<u8>) -> FrameRecord {
    if let Some(topics) = p.subscribe_topics() {
        return FrameRecord::new("mqtt:other", raw).with("type", 8).with("topics", topics);
    }
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
        Packet::Other { header, .. } => FrameRecord::new("mqtt:other", raw).with("type", header >> 4),
    }
}
