//! Just enough HTTP/1.1 to follow socket.io 0.9 on the wire (the capture relay reads its
//! handshake and xhr-polling traffic with it): message heads, and bodies framed by
//! `Content-Length`, `Transfer-Encoding: chunked` or the end of the connection.
//!
//! Pure functions over a buffer that may hold a partial message: `Ok(None)` means "not enough
//! bytes yet"; [`WireError::Malformed`] that the bytes cannot be HTTP and
//! [`WireError::FrameTooLarge`] that a body is longer than the cap (the caller stops reading).

use serde_json::{Map, Value};

use super::WireError;

/// Dialect name in [`WireError::Malformed`].
const DIALECT: &str = "HTTP";

fn malformed(reason: impl Into<String>) -> WireError {
    WireError::Malformed { dialect: DIALECT, reason: reason.into() }
}

/// At most `max` characters of `s`, with a note of what was cut (for quoting hostile input).
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((cut, _)) => format!("{}…({} more bytes)", &s[..cut], s.len() - cut),
    }
}

/// Longest message head accepted (request line or status line plus headers).
pub const MAX_HEAD: usize = 64 * 1024;

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD target HTTP/1.x`.
    Request {
        /// e.g. `GET`.
        method: String,
        /// Path and query, e.g. `/socket.io/1/?t=1`.
        target: String,
    },
    /// `HTTP/1.x status reason`.
    Response {
        /// e.g. 200, 101.
        status: u16,
        /// e.g. `OK`.
        reason: String,
    },
}

/// A parsed message head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Request or status line.
    pub start: StartLine,
    /// Headers in arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Bytes of the head including the blank line.
    pub len: usize,
}

/// How the body of a message is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body at all.
    None,
    /// Exactly this many bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the connection closes (responses without a length).
    UntilClose,
}

impl Head {
    /// The value of a header (case-insensitive name), the first if repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header contains `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// How the body that follows this head is delimited (RFC 9112 §6.3, minus HEAD requests,
    /// which a relay cannot see from the response side).
    pub fn body_framing(&self, max_body: usize) -> Result<BodyFraming, WireError> {
        if let StartLine::Response { status, .. } = self.start
            && (status < 200 || status == 204 || status == 304)
        {
            return Ok(BodyFraming::None);
        }
        if self.has_token("transfer-encoding", "chunked") {
            return Ok(BodyFraming::Chunked);
        }
        if let Some(v) = self.header("content-length") {
            let n: usize = v
                .trim()
                .parse()
                .map_err(|_| malformed(format!("Content-Length {v:?} is not a number of bytes")))?;
            if n > max_body {
                return Err(WireError::FrameTooLarge { len: n, max: max_body });
            }
            return Ok(BodyFraming::Length(n));
        }
        Ok(match self.start {
            StartLine::Request { .. } => BodyFraming::None,
            StartLine::Response { .. } => BodyFraming::UntilClose,
        })
    }

    /// The head as JSON for a capture line: method/target or status/reason, and the headers as
    /// an object (repeated names joined with `, `).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        match &self.start {
            StartLine::Request { method, target } => {
                m.insert("method".into(), method.clone().into());
                m.insert("target".into(), target.clone().into());
            }
            StartLine::Response { status, reason } => {
                m.insert("status".into(), (*status).into());
                m.insert("reason".into(), reason.clone().into());
            }
        }
        let mut headers = Map::new();
        for (k, v) in &self.headers {
            match headers.get_mut(k) {
                Some(Value::String(prev)) => {
                    prev.push_str(", ");
                    prev.push_str(v);
                }
                _ => {
                    headers.insert(k.clone(), v.clone().into());
                }
            }
        }
        m.insert("headers".into(), Value::Object(headers));
        Value::Object(m)
    }
}

/// Parses a message head from the start of `buf`.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, WireError> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(malformed(format!("no end of HTTP head within {MAX_HEAD} bytes")));
        }
        if !buf.is_empty() && !plausible_start(buf) {
            return Err(malformed(format!(
                "not HTTP: starts with {:?}",
                String::from_utf8_lossy(&buf[..buf.len().min(16)])
            )));
        }
        return Ok(None);
    };
    if end > MAX_HEAD {
        return Err(malformed(format!("HTTP head longer than {MAX_HEAD} bytes")));
    }
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| malformed("HTTP head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("");
    let start = if let Some(rest) = first.strip_prefix("HTTP/1.") {
        let mut parts = rest.splitn(3, ' ');
        let _minor = parts.next();
        let status = parts
            .next()
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| (100..1000).contains(s))
            .ok_or_else(|| malformed(format!("bad HTTP status line {first:?}")))?;
        StartLine::Response { status, reason: parts.next().unwrap_or("").to_string() }
    } else {
        let mut parts = first.split(' ');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(t), Some(v), None)
                if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) && v.starts_with("HTTP/1.") =>
            {
                StartLine::Request { method: m.to_string(), target: t.to_string() }
            }
            _ => return Err(malformed(format!("bad HTTP request line {:?}", clip(first, 80)))),
        }
    };
    let mut headers = Vec::new();
    for line in lines {
        let (k, v) =
            line.split_once(':').ok_or_else(|| malformed(format!("bad HTTP header line {line:?}")))?;
        if k.is_empty() || k.contains(' ') {
            return Err(malformed(format!("bad HTTP header name {k:?}")));
        }
        headers.push((k.to_string(), v.trim().to_string()));
    }
    Ok(Some(Head { start, headers, len: end + 4 }))
}

/// Whether a partial head could still become HTTP (an uppercase method or `HTTP/`).
fn plausible_start(buf: &[u8]) -> bool {
    let n = buf.len().min(5);
    let head = &buf[..n];
    b"HTTP/"[..n] == *head || head.iter().take_while(|b| **b != b' ').all(|b| b.is_ascii_uppercase())
}

/// Decodes a chunked body from the start of `buf`: `Ok(Some((body, consumed)))` once the last
/// chunk and the trailers have arrived. The body is capped at `max_body` bytes.
pub fn chunked_body(buf: &[u8], max_body: usize) -> Result<Option<(Vec<u8>, usize)>, WireError> {
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let Some(eol) = find(&buf[pos..], b"\r\n") else {
            if buf.len() - pos > 1024 {
                return Err(malformed("chunk size line longer than 1024 bytes"));
            }
            return Ok(None);
        };
        let line =
            std::str::from_utf8(&buf[pos..pos + eol]).map_err(|_| malformed("chunk size is not text"))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| malformed(format!("bad chunk size {:?}", clip(line, 40))))?;
        pos += eol + 2;
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                let Some(eol) = find(&buf[pos..], b"\r\n") else {
                    if buf.len() - pos > MAX_HEAD {
                        return Err(malformed("chunked trailers longer than 64 KiB"));
                    }
                    return Ok(None);
                };
                pos += eol + 2;
                if eol == 0 {
                    return Ok(Some((body, pos)));
                }
            }
        }
        if body.len().saturating_add(size) > max_body {
            return Err(WireError::FrameTooLarge { len: body.len().saturating_add(size), max: max_body });
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        pos += size;
        if &buf[pos..pos + 2] != b"\r\n" {
            return Err(malformed("chunk data not followed by CRLF"));
        }
        pos += 2;
    }
}

/// Position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response_heads() {
        let req = b"GET /socket.io/1/?t=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, keep-alive\r\n\r\nrest";
        let h = parse_head(req).unwrap().unwrap();
        assert_eq!(h.start, StartLine::Request { method: "GET".into(), target: "/socket.io/1/?t=1".into() });
        assert_eq!(h.len, req.len() - 4);
        assert!(h.has_token("connection", "upgrade"));
        assert_eq!(h.body_framing(10).unwrap(), BodyFraming::None);
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n1::";
        let h = parse_head(resp).unwrap().unwrap();
        assert_eq!(h.start, StartLine::Response { status: 200, reason: "OK".into() });
        assert_eq!(h.body_framing(10).unwrap(), BodyFraming::Length(3));
        assert!(h.body_framing(2).is_err(), "length over the cap");
        let h =
            parse_head(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n").unwrap().unwrap();
        assert_eq!(h.body_framing(10).unwrap(), BodyFraming::None);
        let h = parse_head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!(h.body_framing(10).unwrap(), BodyFraming::UntilClose);
        assert_eq!(h.to_json(), serde_json::json!({"status": 200, "reason": "OK", "headers": {}}));
    }

    #[test]
    fn partial_and_garbage_heads() {
        assert_eq!(parse_head(b"GET / HT").unwrap(), None);
        assert_eq!(parse_head(b"HT").unwrap(), None);
        assert!(parse_head(b"\x10\x22\x00\x04MQTT").is_err());
        assert!(parse_head(b"get / HTTP/1.1\r\n\r\n").is_err());
        assert!(parse_head(b"GET / HTTP/1.1\r\nno colon\r\n\r\n").is_err());
        assert!(parse_head(&vec![b'A'; MAX_HEAD + 10]).is_err());
    }

    #[test]
    fn chunked_bodies() {
        let body = b"26\r\nGl53b8oqQJxREtVZFJao:60:60:xhr-polling\r\n0\r\n\r\nNEXT";
        let (b, used) = chunked_body(body, 1000).unwrap().unwrap();
        assert_eq!(b, b"Gl53b8oqQJxREtVZFJao:60:60:xhr-polling");
        assert_eq!(&body[used..], b"NEXT");
        for cut in 0..body.len() - 4 {
            assert_eq!(chunked_body(&body[..cut], 1000).unwrap(), None, "cut {cut}");
        }
        let (b, _) = chunked_body(b"1;ext=1\r\na\r\n2\r\nbc\r\n0\r\nX-T: 1\r\n\r\n", 10).unwrap().unwrap();
        assert_eq!(b, b"abc");
        assert!(chunked_body(b"zz\r\n", 10).is_err());
        assert!(chunked_body(b"5\r\nabcdeXY", 10).is_err());
        assert!(chunked_body(b"ff\r\n", 10).is_err(), "over the cap");
    }
}
