//! Reading a capture file back: every recorded request paired with its recorded answer.
//!
//! Requests and responses are matched by id within a session: the socket.io session id when
//! the line has one (an xhr-polling session spans several TCP connections), else the relay's
//! connection number (pomelo ids count per mailbox connection).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::BufRead;
use std::path::Path;

use serde_json::Value;

use super::record::packages;
use super::{CaptureError, Dir};
use crate::message::RpcMsg;
use crate::transport::Transport;

/// Recorded answers per (session, id), with their times, oldest first.
type Answers = HashMap<(String, String), VecDeque<(Vec<Value>, f64)>>;

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
    /// When the reply crossed the relay.
    pub t_response: Option<f64>,
}

impl RecordedCall {
    /// `namespace.serverType.service.method`.
    pub fn route(&self) -> String {
        let m = &self.msg;
        format!("{}.{}.{}.{}", m.namespace, m.server_type, m.service, m.method)
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
    pub fn read(reader: impl BufRead, name: &str) -> Result<Fixture, CaptureError> {
        let mut fx = Fixture::default();
        let mut responses: Answers = HashMap::new();
        for (n, line) in reader.lines().enumerate() {
            let line = line.map_err(|source| CaptureError::File { path: name.to_string(), source })?;
            if line.trim().is_empty() {
                continue;
            }
            let bad = |reason: String| CaptureError::Fixture { path: name.to_string(), line: n + 1, reason };
            let v: Value = serde_json::from_str(&line).map_err(|e| bad(format!("not JSON: {e}")))?;
            if v.get("capture").is_some() {
                fx.header = Some(v);
                continue;
            }
            if let Some(s) = v.get("summary") {
                fx.summary = Some(s.clone());
                continue;
            }
            if v.get("event").is_some() {
                continue;
            }
            let dir = match v.get("dir").and_then(Value::as_str) {
                Some("c2s") => Dir::C2s,
                Some("s2c") => Dir::S2c,
                _ => return Err(bad("a frame line needs \"dir\": \"c2s\" or \"s2c\"".into())),
            };
            fx.frames[dir.index()] += 1;
            if v.get("malformed").is_some() {
                fx.malformed += 1;
            }
            let Some(rpc) = v.get("rpc").and_then(Value::as_array) else { continue };
            let t = v.get("t_ms").and_then(Value::as_f64).unwrap_or(0.0);
            let session = match (v.get("sid").and_then(Value::as_str), v.get("conn")) {
                (Some(sid), _) => format!("sid:{sid}"),
                (None, Some(c)) => format!("conn:{c}"),
                (None, None) => return Err(bad("a frame line needs \"conn\"".into())),
            };
            for payload in rpc {
                for pkg in packages(payload) {
                    let Some(id) = pkg.get("id").cloned() else {
                        fx.unparsed += 1;
                        continue;
                    };
                    match (dir, pkg.get("msg"), pkg.get("resp")) {
                        (Dir::C2s, Some(msg), _) => match serde_json::from_value::<RpcMsg>(msg.clone()) {
                            Ok(msg) => fx.calls.push(RecordedCall {
                                session: session.clone(),
                                id,
                                msg,
                                t_request: t,
                                resp: None,
                                t_response: None,
                            }),
                            Err(_) => fx.unparsed += 1,
                        },
                        (Dir::S2c, _, Some(Value::Array(resp))) => responses
                            .entry((session.clone(), id.to_string()))
                            .or_default()
                            .push_back((resp.clone(), t)),
                        _ => fx.unparsed += 1,
                    }
                }
            }
        }
        fx.calls.sort_by(|a, b| a.t_request.total_cmp(&b.t_request));
        for call in &mut fx.calls {
            let key = (call.session.clone(), call.id.to_string());
            if let Some((resp, t)) = responses.get_mut(&key).and_then(VecDeque::pop_front) {
                call.resp = Some(resp);
                call.t_response = Some(t);
            }
        }
        fx.orphan_responses = responses.values().map(VecDeque::len).sum();
        Ok(fx)
    }

    /// The transport the capture was made on, from its header.
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
