//! `sio09` after the upgrade: RFC 6455 frames read with [`crate::wire::ws`], fragmented
//! messages reassembled (one record per message, with every fragment's bytes), text messages
//! decoded as socket.io packets.

use serde_json::{Map, Value};

use super::sio::sio_text;
use super::{ConnDecoder, DecodeError, Progress};
use crate::capture::Dir;
use crate::capture::record::FrameRecord;
use crate::wire::ws;

/// A WebSocket message being reassembled from fragments.
#[derive(Debug)]
pub(super) struct Fragmented {
    opcode: u8,
    masked: bool,
    payload: Vec<u8>,
    /// Every byte of the fragments so far, headers included.
    pub(super) raw: Vec<u8>,
    fragments: usize,
}

impl ConnDecoder {
    /// One frame: a record for a whole message or a control frame, [`Progress::Consumed`] for a
    /// fragment of an unfinished message.
    pub(super) fn step_ws(&mut self, dir: Dir) -> Result<Progress, DecodeError> {
        let max = self.max_frame;
        let st = &mut self.dirs[dir.index()];
        let Some(f) = ws::parse_frame(&st.buf, max)? else { return Ok(Progress::Wait) };
        // Every check before the bytes are taken, so that a refused frame stays in the buffer
        // and goes into the malformed record.
        if f.rsv != 0 {
            return Err(DecodeError::WsExtension(f.rsv));
        }
        match (f.opcode, &st.message) {
            (0, None) => return Err(DecodeError::WsStrayContinuation),
            (0, Some(m)) if m.payload.len() + f.payload.len() > max => {
                return Err(DecodeError::WsMessageTooLarge { max });
            }
            (1 | 2, Some(_)) => return Err(DecodeError::WsNestedMessage),
            _ => {}
        }
        let raw = st.buf.split_to(f.len).to_vec();
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
        if let Some(s) = self.ws_sid.clone() {
            rec.set("sid", s);
        }
        let mut info = Map::new();
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
