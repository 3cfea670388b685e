//! Reading a capture file back: every recorded request paired with its recorded answer.
//!
//! Requests and responses are matched by id within a session: the socket.io session id when
//! the line has one (an xhr-polling session spans several TCP connections), else the relay's
//! connection number (pomelo ids count per mailbox connection).
//!
//! Lines are read as Node reads JSON ([`crate::wire::json`]: invalid UTF-8 as U+FFFD, lone
//! surrogates, numbers past f64, any nesting), and requests with the envelope reader of
//! [`crate::message`], so a call's arguments stay the exact text that was recorded and replay
//! byte for byte.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::BufRead;
use std::path::Path;

use bytes::Bytes;
use serde_json::Value;

use super::record::{member, raw_packages};
use super::{CaptureError, Dir};
use crate::message::{Resp, RpcMsg, parse_requests};
use crate::wire::Transport;
use crate::wire::json::{JsonError, RawJson};

/// A recorded answer: the reply array as text and as values, and when it crossed the relay.
type Answer = (Resp, Vec<Value>, f64);
/// Recorded answers per (session, id), oldest first.
type Answers = HashMap<(String, String), VecDeque<Answer>>;

/// One request as recorded, with the answer it got.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    /// `sid:<id>` or `conn:<n>`: where ids are unique.
    pub session: String,
    /// The request id as recorded.
    pub id: Value,
    /// The call.
    pub msg: RpcMsg,
    /// When the request crossed the relay (ms since the capture started).
    pub t_request: f64,
    /// The recorded reply array, if one was recorded.
    pub resp: Option<Vec<Value>>,
    /// The same reply array exactly as recorded (what a byte-exact comparison wants).
    pub resp_text: Option<Resp>,
    /// When the reply crossed the relay.
    pub t_response: Option<f64>,
}

impl RecordedCall {
    /// `namespace.serverType.service.method`.
    pub fn route(&self) -> String {
        self.msg.route()
    }

    /// Recorded latency in milliseconds, when both ends were recorded.
    pub fn latency_ms(&self) -> Option<f64> {
        self.t_response.map(|t| t - self.t_request)
    }
}

/// A capture file read back.
#[derive(Debug, Clone, Default)]
pub struct Fixture {
    /// The header line (transport, addresses, meta), if the file has one.
    pub header: Option<Value>,
    /// Every request in the order it was recorded.
    pub calls: Vec<RecordedCall>,
    /// Responses whose request was not recorded.
    pub orphan_responses: usize,
    /// Lines that carry a `malformed` note or frame.
    pub malformed: usize,
    /// Packages in `rpc` arrays that are neither a request nor a response.
    pub unparsed: usize,
    /// Frame lines per direction (c2s, s2c).
    pub frames: [usize; 2],
    /// The summary line, if the capture ended cleanly.
    pub summary: Option<Value>,
}

impl Fixture {
    /// Reads a capture file.
    pub fn load(path: &Path) -> Result<Fixture, CaptureError> {
        let shown = path.display().to_string();
        let file =
            std::fs::File::open(path).map_err(|source| CaptureError::File { path: shown.clone(), source })?;
        Self::read(std::io::BufReader::new(file), &shown)
    }

    /// Reads capture lines from `reader`; `name` is used in error messages.
    ///
    /// Lines of one connection are in the order their bytes crossed the relay, but lines of
    /// different connections may be slightly out of order (an xhr-polling answer can be written
    /// before the POST of its request): requests and responses are paired by session and id
    /// whatever their order, and the calls are sorted by request time.
    pub fn read(mut reader: impl BufRead, name: &str) -> Result<Fixture, CaptureError> {
        let mut fx = Fixture::default();
        let mut responses: Answers = HashMap::new();
        let mut bytes = Vec::new();
        for n in 0.. {
            bytes.clear();
            let read = reader
                .read_until(b'\n', &mut bytes)
                .map_err(|source| CaptureError::File { path: name.to_string(), source })?;
            if read == 0 {
                break;
            }
            let bad = |reason: String| CaptureError::Fixture { path: name.to_string(), line: n + 1, reason };
            let text = trim_line(&bytes);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let line = RawJson::from_slice(text).map_err(|e| bad(e.to_string()))?;
            fx.read_line(&line, &mut responses).map_err(|e| bad(e.to_string()))?;
        }
        fx.calls.sort_by(|a, b| a.t_request.total_cmp(&b.t_request));
        for call in &mut fx.calls {
            let key = (call.session.clone(), call.id.to_string());
            if let Some((text, values, t)) = responses.get_mut(&key).and_then(VecDeque::pop_front) {
                call.resp = Some(values);
                call.resp_text = Some(text);
                call.t_response = Some(t);
            }
        }
        fx.orphan_responses = responses.values().map(VecDeque::len).sum();
        Ok(fx)
    }

    /// One line: the header, the summary, an event (skipped) or a frame.
    fn read_line(&mut self, line: &RawJson, responses: &mut Answers) -> Result<(), LineError> {
        // One pass over the line; a repeated key counts once, with its last value (as in Node).
        let members = if line.is_object() { line.members()? } else { Vec::new() };
        let field = |key: &str| members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        if field("capture").is_some() {
            self.header = Some(line.to_value()?);
            return Ok(());
        }
        if let Some(s) = field("summary") {
            self.summary = Some(s.to_value()?);
            return Ok(());
        }
        if field("event").is_some() {
            return Ok(());
        }
        let dir = match field("dir").and_then(|d| d.str().map(|s| s.into_owned())).as_deref() {
            Some("c2s") => Dir::C2s,
            Some("s2c") => Dir::S2c,
            _ => return Err(LineError::NoDir),
        };
        self.frames[dir.index()] += 1;
        if field("malformed").is_some() {
            self.malformed += 1;
        }
        let Some(rpc) = field("rpc").filter(RawJson::is_array) else { return Ok(()) };
        let t = match field("t_ms") {
            Some(t) => t.to_value()?.as_f64().unwrap_or(0.0),
            None => 0.0,
        };
        let session = match (field("sid").and_then(|s| s.str().map(|s| s.into_owned())), field("conn")) {
            (Some(sid), _) => format!("sid:{sid}"),
            (None, Some(c)) => format!("conn:{}", c.to_value()?),
            (None, None) => return Err(LineError::NoConn),
        };
        for payload in rpc.elements()? {
            for pkg in raw_packages(&payload) {
                match dir {
                    Dir::C2s => self.read_request(&pkg, &session, t),
                    Dir::S2c => self.read_response(&pkg, &session, t, responses),
                }
            }
        }
        Ok(())
    }

    /// A recorded request, read as an acceptor would read it (arguments kept as text).
    fn read_request(&mut self, pkg: &RawJson, session: &str, t: f64) {
        if !pkg.is_object() {
            self.unparsed += 1;
            return;
        }
        let parsed = parse_requests(Bytes::copy_from_slice(pkg.as_bytes()));
        let Ok(Some(Ok(req))) = parsed.map(|p| p.into_iter().next()) else {
            self.unparsed += 1;
            return;
        };
        let Ok(id) = req.id.to_value() else {
            self.unparsed += 1;
            return;
        };
        self.calls.push(RecordedCall {
            session: session.to_string(),
            id,
            msg: req.msg,
            t_request: t,
            resp: None,
            resp_text: None,
            t_response: None,
        });
    }

    /// A recorded response: an `id` and a `resp` array.
    fn read_response(&mut self, pkg: &RawJson, session: &str, t: f64, responses: &mut Answers) {
        match response(pkg) {
            Some((id, text, values)) => responses
                .entry((session.to_string(), id.to_string()))
                .or_default()
                .push_back((text, values, t)),
            None => self.unparsed += 1,
        }
    }

    /// The dialect the capture was made on, from its header.
    pub fn transport(&self) -> Option<Transport> {
        self.header.as_ref()?.get("transport")?.as_str()?.parse().ok()
    }

    /// A `meta` value from the header (what the recording script wrote with `--meta`).
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.header.as_ref()?.get("meta")?.get(key)?.as_str()
    }

    /// Calls that got a recorded answer.
    pub fn answered(&self) -> impl Iterator<Item = &RecordedCall> {
        self.calls.iter().filter(|c| c.resp.is_some())
    }

    /// Number of requests per `service.method`.
    pub fn calls_per_method(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for c in &self.calls {
            *m.entry(format!("{}.{}", c.msg.service, c.msg.method)).or_insert(0) += 1;
        }
        m
    }
}

/// What is wrong with a capture line.
#[derive(Debug, thiserror::Error)]
enum LineError {
    /// The line (or a part read as a value) is not JSON as Node reads it.
    #[error("{0}")]
    Json(#[from] JsonError),
    /// A frame line without its direction.
    #[error("a frame line needs \"dir\": \"c2s\" or \"s2c\"")]
    NoDir,
    /// A frame line with neither a session id nor a connection number.
    #[error("a frame line needs \"conn\"")]
    NoConn,
}

/// The id and reply array (as text and as values) of a response package.
fn response(pkg: &RawJson) -> Option<(Value, Resp, Vec<Value>)> {
    let id = member(pkg, "id")?.to_value().ok()?;
    let text = Resp::from_raw(member(pkg, "resp")?).ok()?;
    let values = text.values().ok()?;
    Some((id, text, values))
}

/// A line without its line break (`\n` or `\r\n`).
fn trim_line(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pairs_by_session_and_id() {
        let lines = [
            json!({"capture": "pomelo-interop", "version": 1, "transport": "tcp", "meta": {"impl": "rpc04"}}),
            json!({"t_ms": 0.5, "conn": 1, "event": "open"}),
            json!({"t_ms": 1, "conn": 1, "dir": "c2s", "frame": "stream-pkg", "rpc": [
                {"id": 0, "msg": {"namespace": "user", "serverType": "demo", "service": "e", "method": "echo", "args": [1]}}
            ]}),
            json!({"t_ms": 2, "conn": 2, "dir": "c2s", "frame": "stream-pkg", "rpc": [[
                {"id": 0, "msg": {"namespace": "user", "serverType": "demo", "service": "e", "method": "echo", "args": [2]}},
                {"id": 1, "msg": {"namespace": "user", "serverType": "demo", "service": "e", "method": "never", "args": []}}
            ]]}),
            json!({"t_ms": 3, "conn": 2, "dir": "s2c", "frame": "stream-pkg", "rpc": [{"id": 0, "resp": [null, 2]}]}),
            json!({"t_ms": 4.5, "conn": 1, "dir": "s2c", "frame": "stream-pkg", "rpc": [{"id": 0, "resp": [null, 1]}, {"id": 7, "resp": []}]}),
            json!({"t_ms": 5, "conn": 1, "dir": "s2c", "frame": "malformed", "malformed": "x"}),
            json!({"summary": {"connections": 2}}),
        ];
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let fx = Fixture::read(text.as_bytes(), "t").unwrap();
        assert_eq!(fx.transport(), Some(Transport::Tcp));
        assert_eq!(fx.meta("impl"), Some("rpc04"));
        assert_eq!(fx.calls.len(), 3);
        assert_eq!(fx.calls[0].resp, Some(vec![json!(null), json!(1)]));
        assert_eq!(fx.calls[0].latency_ms(), Some(3.5));
        assert_eq!(fx.calls[1].resp, Some(vec![json!(null), json!(2)]));
        assert_eq!(fx.calls[2].resp, None);
        assert_eq!(fx.calls[2].route(), "user.demo.e.never");
        assert_eq!((fx.orphan_responses, fx.malformed, fx.frames), (1, 1, [2, 3]));
        assert_eq!(fx.answered().count(), 2);
        assert!(fx.summary.is_some());
    }

    #[test]
    fn answers_written_before_their_request_still_pair() {
        let lines = [
            json!({"t_ms": 3, "conn": 2, "sid": "S", "dir": "s2c", "frame": "http:response", "rpc": [{"id": 4, "resp": [null, "x"]}]}),
            json!({"t_ms": 2, "conn": 3, "sid": "S", "dir": "c2s", "frame": "http:request", "rpc": [
                {"id": 4, "msg": {"namespace": "user", "serverType": "demo", "service": "e", "method": "echo", "args": ["x"]}}
            ]}),
            json!({"t_ms": 1, "conn": 1, "dir": "c2s", "frame": "stream-pkg", "rpc": [
                {"id": 4, "msg": {"namespace": "user", "serverType": "demo", "service": "e", "method": "first", "args": []}}
            ]}),
        ];
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let fx = Fixture::read(text.as_bytes(), "t").unwrap();
        assert_eq!(fx.calls[0].msg.method, "first", "sorted by request time");
        assert_eq!(fx.calls[0].resp, None);
        assert_eq!(fx.calls[1].resp, Some(vec![json!(null), json!("x")]));
        assert_eq!(fx.orphan_responses, 0);
    }

    #[test]
    fn bad_lines_name_the_line() {
        let err = Fixture::read(&b"{\"capture\":1}\nnot json\n"[..], "f.jsonl").unwrap_err();
        assert!(err.to_string().starts_with("f.jsonl:2: not JSON"), "{err}");
        let err = Fixture::read(&b"{\"conn\":1,\"frame\":\"x\"}\n"[..], "f").unwrap_err();
        assert!(err.to_string().contains("dir"), "{err}");
    }
}
