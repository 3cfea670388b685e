//! Reading packages from a payload: one package or an array of them, in one pass over the text
//! with the envelope scanner of [`crate::wire::json`]. A payload that is not JSON at all is the
//! connection's problem ([`JsonError`]); a package of the wrong shape is only its own
//! ([`BadPackage`], answered with an error for its id when it has one).
//!
//! Ids, arguments, replies and trace fields become [`RawJson`] slices of the frame's bytes; route
//! names are decoded (lone surrogates as U+FFFD), sharing the frame's bytes when unescaped.

use std::borrow::Cow;

use bytes::Bytes;
use bytestring::ByteString;
use smallvec::SmallVec;

use super::{Args, JsonArray, RawJson, Request, Response, RpcMsg, Trace};
use crate::wire::json::{JsonError, ScanError, Scanner, Span, StrToken, decode_str, lossy_utf8};

/// A package that is JSON but not a well-formed request or response.
#[derive(Debug, Clone, PartialEq)]
pub struct BadPackage {
    /// Its `id`, when it had one (a request's error reply goes to that id).
    pub id: Option<RawJson>,
    /// What is wrong.
    pub reason: String,
}

/// The packages of one payload: usually one, so no allocation for the list.
pub type Packages<T> = SmallVec<[Result<T, BadPackage>; 1]>;

/// Whether a payload is a batch (a JSON array) rather than a single package.
pub fn is_batch(payload: &[u8]) -> bool {
    payload.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|&b| b == b'[')
}

/// Requests from a payload (a mailbox's frame), each well-formed or not.
pub fn parse_requests(payload: Bytes) -> Result<Packages<Request>, JsonError> {
    packages(payload, request)
}

/// Responses from a payload (an acceptor's frame), each well-formed or not.
pub fn parse_responses(payload: Bytes) -> Result<Packages<Response>, JsonError> {
    packages(payload, response)
}

type Reader<T> = fn(&mut Scanner<'_>, &ByteString) -> Result<Result<T, BadPackage>, ScanError>;

fn packages<T>(payload: Bytes, read: Reader<T>) -> Result<Packages<T>, JsonError> {
    let text = lossy_utf8(payload);
    let mut s = Scanner::new(&text);
    let mut out = Packages::new();
    if s.peek() == Some(b'[') {
        s.array(|s| {
            out.push(read(s, &text)?);
            Ok(())
        })?;
    } else {
        out.push(read(&mut s, &text)?);
    }
    s.end()?;
    Ok(out)
}

/// A value's text as raw JSON sharing the frame's bytes.
fn raw(text: &ByteString, span: &Span) -> RawJson {
    RawJson::trusted(text.slice_ref(&text[span.clone()]))
}

/// A key's text: borrowed when it has no escape.
fn key<'t>(text: &'t str, k: &StrToken) -> Cow<'t, str> {
    let token = &text[k.span.clone()];
    if k.escaped { decode_str(token).unwrap_or_default() } else { Cow::Borrowed(&token[1..token.len() - 1]) }
}

/// What a value that should have been an object is, for the error.
fn kind_at(s: &mut Scanner<'_>) -> &'static str {
    match s.peek() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        _ => "a number",
    }
}

/// The string value at `span` decoded, sharing the frame's bytes when unescaped; `None` when it
/// is not a string.
fn text_of(text: &ByteString, span: &Span) -> Option<ByteString> {
    let token = &text[span.clone()];
    match decode_str(token)? {
        Cow::Borrowed(s) => Some(text.slice_ref(s)),
        Cow::Owned(s) => Some(ByteString::from(s)),
    }
}

fn short(text: &str, span: &Span) -> String {
    let v = &text[span.clone()];
    let s: String = v.chars().take(40).collect();
    if s.len() < v.len() { format!("{s}…") } else { s }
}

#[derive(Default)]
struct MsgSpans {
    namespace: Option<Span>,
    server_type: Option<Span>,
    service: Option<Span>,
    method: Option<Span>,
    args: Option<Span>,
}

/// `msg` as read: its members, or what it was instead of an object.
enum Msg {
    Fields(MsgSpans),
    Not(&'static str),
}

#[derive(Default)]
struct RequestSpans {
    id: Option<Span>,
    trace_id: Option<Span>,
    seq_id: Option<Span>,
    source: Option<Span>,
    remote: Option<Span>,
    msg: Option<Msg>,
}

fn request(s: &mut Scanner<'_>, text: &ByteString) -> Result<Result<Request, BadPackage>, ScanError> {
    if s.peek() != Some(b'{') {
        let what = kind_at(s);
        s.value()?;
        return Ok(Err(bad(None, format!("malformed request: {what}, not an object"))));
    }
    let mut f = RequestSpans::default();
    s.object(|s, k| {
        let slot = match &*key(text, &k) {
            "msg" => {
                if s.peek() != Some(b'{') {
                    f.msg = Some(Msg::Not(kind_at(s)));
                    s.value()?;
                    return Ok(());
                }
                let mut m = MsgSpans::default();
                s.object(|s, k| {
                    let slot = match &*key(text, &k) {
                        "namespace" => &mut m.namespace,
                        "serverType" => &mut m.server_type,
                        "service" => &mut m.service,
                        "method" => &mut m.method,
                        "args" => &mut m.args,
                        _ => return s.value().map(drop),
                    };
                    *slot = Some(s.value()?);
                    Ok(())
                })?;
                f.msg = Some(Msg::Fields(m));
                return Ok(());
            }
            "id" => &mut f.id,
            "traceId" => &mut f.trace_id,
            "seqId" => &mut f.seq_id,
            "source" => &mut f.source,
            "remote" => &mut f.remote,
            _ => return s.value().map(drop),
        };
        *slot = Some(s.value()?);
        Ok(())
    })?;
    Ok(build_request(text, f))
}

fn build_request(text: &ByteString, f: RequestSpans) -> Result<Request, BadPackage> {
    let id = f.id.as_ref().map(|v| raw(text, v));
    let malformed = |why: String| bad(id.clone(), format!("malformed request: {why}"));
    let Some(req_id) = id.clone() else { return Err(malformed("missing field `id`".into())) };
    let m = match f.msg {
        Some(Msg::Fields(m)) => m,
        Some(Msg::Not(what)) => return Err(malformed(format!("msg is {what}, not an object"))),
        None => return Err(malformed("missing field `msg`".into())),
    };
    let string = |v: &Span, name: &str| {
        text_of(text, v).ok_or_else(|| malformed(format!("{name} is not a string: {}", short(text, v))))
    };
    let required = |v: Option<Span>, name: &str| -> Result<ByteString, BadPackage> {
        string(&v.ok_or_else(|| malformed(format!("missing field `{name}`")))?, name)
    };
    let server_type = match m.server_type {
        Some(v) if &text[v.clone()] != "null" => string(&v, "serverType")?,
        _ => ByteString::new(),
    };
    let args: Args = match m.args {
        None => JsonArray::empty(),
        Some(v) => JsonArray::from_raw(raw(text, &v)).map_err(|e| malformed(format!("args: {e}")))?,
    };
    let msg = RpcMsg {
        namespace: required(m.namespace, "namespace")?,
        server_type,
        service: required(m.service, "service")?,
        method: required(m.method, "method")?,
        args,
    };
    let trace = Trace {
        trace_id: f.trace_id.map(|v| raw(text, &v)),
        seq_id: f.seq_id.map(|v| raw(text, &v)),
        source: f.source.map(|v| raw(text, &v)),
        remote: f.remote.map(|v| raw(text, &v)),
    };
    Ok(Request { trace, id: req_id, msg })
}

fn response(s: &mut Scanner<'_>, text: &ByteString) -> Result<Result<Response, BadPackage>, ScanError> {
    if s.peek() != Some(b'{') {
        let what = kind_at(s);
        s.value()?;
        return Ok(Err(bad(None, format!("malformed response: {what}, not an object"))));
    }
    let (mut id, mut resp) = (None, None);
    s.object(|s, k| {
        let slot = match &*key(text, &k) {
            "id" => &mut id,
            "resp" => &mut resp,
            _ => return s.value().map(drop),
        };
        *slot = Some(s.value()?);
        Ok(())
    })?;
    let id = id.map(|v| raw(text, &v));
    let resp = match resp {
        None => JsonArray::empty(),
        Some(v) => match JsonArray::from_raw(raw(text, &v)) {
            Ok(r) => r,
            Err(e) => return Ok(Err(bad(id, format!("malformed response: resp: {e}")))),
        },
    };
    Ok(Ok(Response { id, resp }))
}

fn bad(id: Option<RawJson>, reason: impl Into<String>) -> BadPackage {
    BadPackage { id, reason: reason.into() }
}
