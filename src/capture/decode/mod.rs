//! Frame decoders for the relay, one per connection, fed the bytes of both directions in the
//! order they crossed the relay. Pure: no sockets, no clocks.
//!
//! A decoder turns bytes into [`FrameRecord`]s by driving the codecs of [`crate::wire`]:
//! stream-pkg frames (`tcp`) and typed frames (`pinus-tcp`) in `frames.rs`, MQTT packets
//! (`mqtt`, RPC on topic `rpc` and the pomelo-admin topics) in `mqtt.rs`, and for `sio09`
//! HTTP/1.1 messages (handshake, xhr-polling GET/POST) in `http.rs`, the WebSocket upgrade and
//! RFC 6455 frames in `ws.rs`, and the socket.io packets inside both in `sio.rs`. Every JSON
//! text goes through [`crate::wire::json`].
//!
//! Memory is bounded: every length is checked against `max_frame` before bytes are kept for it.
//! When the framing of a direction breaks ([`DecodeError`]), the decoder emits one `malformed`
//! record with the bytes it could not frame and, from then on, `raw` records of whatever arrives
//! in that direction. A frame whose framing is sound but whose content is not (JSON that does
//! not parse, an unknown socket.io packet) is kept with a `malformed` note and decoding goes on.

mod frames;
mod http;
mod mqtt;
mod sio;
mod ws;

use std::collections::VecDeque;

use bytes::BytesMut;

use super::Dir;
use super::record::{FrameRecord, MALFORMED, RAW};
use crate::wire::{Transport, WireError};

/// Longest text kept for a socket.io packet or an HTTP body in a capture line (the RPC content
/// is in `rpc` and every byte in `hex`).
const TEXT_MAX: usize = 200;

/// Why the framing of a direction broke: decoding of that direction stops there.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A wire codec refused the bytes (bad header, a length over the cap, not HTTP, …).
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A WebSocket frame uses an extension the relay cannot read.
    #[error("WebSocket frame with RSV bits {0:#x} (an extension such as permessage-deflate; not decoded)")]
    WsExtension(u8),
    /// A continuation frame arrived with no fragmented message open.
    #[error("WebSocket continuation frame without a message to continue")]
    WsStrayContinuation,
    /// A text or binary frame arrived while a fragmented message was still open.
    #[error("new WebSocket message inside a fragmented one")]
    WsNestedMessage,
    /// The fragments of one message add up to more than the cap.
    #[error("fragmented WebSocket message exceeds the limit of {max} bytes")]
    WsMessageTooLarge {
        /// The cap (`max_frame`).
        max: usize,
    },
}

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

#[derive(Debug)]
struct DirState {
    buf: BytesMut,
    stopped: bool,
    fin: bool,
    mode: Mode,
    /// sio09: a WebSocket message being reassembled from fragments.
    message: Option<ws::Fragmented>,
}

impl DirState {
    fn new() -> Self {
        DirState { buf: BytesMut::new(), stopped: false, fin: false, mode: Mode::Http, message: None }
    }

    /// Every byte taken but not yet recorded: an unfinished message, then the buffer.
    fn take_rest(&mut self) -> Vec<u8> {
        let mut rest = self.message.take().map(|m| m.raw).unwrap_or_default();
        rest.extend_from_slice(&self.buf.split());
        rest
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
    pending: VecDeque<http::PendingReq>,
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
            let mut rec = FrameRecord::new(MALFORMED, st.take_rest());
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
        let mut rec = FrameRecord::new(MALFORMED, st.take_rest());
        rec.malformed = Some(reason.to_string());
        rec
    }

    fn drain(&mut self, dir: Dir, out: &mut Vec<FrameRecord>) {
        loop {
            match self.step(dir) {
                Ok(Progress::Frame(rec)) => out.push(rec),
                Ok(Progress::Consumed) => {}
                Ok(Progress::Wait) => break,
                Err(e) => {
                    tracing::debug!("capture: {} decoding stopped: {e}", dir.name());
                    out.push(self.stop(dir, &e.to_string()));
                    break;
                }
            }
        }
    }

    fn step(&mut self, dir: Dir) -> Result<Progress, DecodeError> {
        let max = self.max_frame;
        let st = &mut self.dirs[dir.index()];
        if st.buf.is_empty() {
            return Ok(Progress::Wait);
        }
        match self.transport {
            Transport::Tcp => frames::stream_pkg(&mut st.buf, max),
            Transport::PinusTcp => frames::typed(&mut st.buf, max),
            Transport::Mqtt => mqtt::packet(&mut st.buf, max),
            Transport::Sio09 => match st.mode {
                Mode::Http => self.step_http(dir),
                Mode::WebSocket => self.step_ws(dir),
            },
        }
    }
}

#[cfg(test)]
mod tests;
