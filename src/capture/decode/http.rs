//! `sio09` before (or without) an upgrade: HTTP/1.1 messages read with [`crate::wire::http`],
//! classified in socket.io 0.9 terms (handshake, xhr-polling GET and POST, WebSocket upgrade),
//! and their bodies decoded by what the request asked for.

use super::sio::{body_text, handshake_text, looks_like_sio, sio_text};
use super::{ConnDecoder, DecodeError, Mode, Progress};
use crate::capture::Dir;
use crate::capture::record::FrameRecord;
use crate::wire::http::{self, BodyFraming, Head, StartLine};
use crate::wire::{WireError, sio09};

/// Pending HTTP requests remembered per connection, to know what a response answers.
const MAX_PENDING_REQUESTS: usize = 1024;

/// What an HTTP request asked for, in socket.io 0.9 terms, to interpret its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReqKind {
    Handshake,
    PollGet,
    PollPost,
    Upgrade,
    Other,
}

/// A request whose response has not been seen yet.
#[derive(Debug)]
pub(super) struct PendingReq {
    kind: ReqKind,
    sid: Option<String>,
}

impl ConnDecoder {
    /// One HTTP message, once its head and body have arrived.
    pub(super) fn step_http(&mut self, dir: Dir) -> Result<Progress, DecodeError> {
        let max = self.max_frame;
        let st = &mut self.dirs[dir.index()];
        let Some(head) = http::parse_head(&st.buf)? else { return Ok(Progress::Wait) };
        let (body, total) = match head.body_framing(max)? {
            BodyFraming::None => (Vec::new(), head.len),
            BodyFraming::Length(n) => {
                if st.buf.len() < head.len + n {
                    return Ok(Progress::Wait);
                }
                (st.buf[head.len..head.len + n].to_vec(), head.len + n)
            }
            BodyFraming::Chunked => match http::chunked_body(&st.buf[head.len..], max)? {
                None => return Ok(Progress::Wait),
                Some((body, used)) => (body, head.len + used),
            },
            BodyFraming::UntilClose => {
                let len = st.buf.len() - head.len;
                if len > max {
                    return Err(WireError::FrameTooLarge { len, max }.into());
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

    fn http_message(&mut self, head: Head, body: Vec<u8>, raw: Vec<u8>) -> FrameRecord {
        match &head.start {
            StartLine::Request { method, target } => {
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
            StartLine::Response { status, .. } => {
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
}

/// What an HTTP request is in socket.io 0.9 terms, and the session id in its path.
fn classify_request(method: &str, target: &str, head: &Head) -> (ReqKind, Option<String>) {
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
