//! Reading packages from a payload: one package or an array of them. A payload that is not JSON
//! at all is the connection's problem ([`JsonError`]); a package of the wrong shape is only its
//! own ([`BadPackage`], answered with an error for its id when it has one).

use bytes::Bytes;
use bytestring::ByteString;

use super::{Args, JsonArray, RawJson, Request, Response, RpcMsg, Trace};
use crate::wire::json::JsonError;

/// A package that is JSON but not a well-formed request or response.
#[derive(Debug, Clone, PartialEq)]
pub struct BadPackage {
    /// Its `id`, when it had one (a request's error reply goes to that id).
    pub id: Option<RawJson>,
    /// What is wrong.
    pub reason: String,
}

fn bad(id: Option<RawJson>, reason: impl Into<String>) -> BadPackage {
    BadPackage { id, reason: reason.into() }
}

/// Whether a payload is a batch (a JSON array) rather than a single package.
pub fn is_batch(payload: &[u8]) -> bool {
    payload.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|&b| b == b'[')
}

/// The packages of a payload: its elements if it is an array, else itself.
fn packages(payload: Bytes) -> Result<Vec<RawJson>, JsonError> {
    let raw = RawJson::from_bytes(payload)?;
    if raw.is_array() { raw.elements() } else { Ok(vec![raw]) }
}

/// Requests from a payload (a mailbox's frame), each well-formed or not.
pub fn parse_requests(payload: Bytes) -> Result<Vec<Result<Request, BadPackage>>, JsonError> {
    Ok(packages(payload)?.into_iter().map(request).collect())
}

/// Responses from a payload (an acceptor's frame), each well-formed or not.
pub fn parse_responses(payload: Bytes) -> Result<Vec<Result<Response, BadPackage>>, JsonError> {
    Ok(packages(payload)?.into_iter().map(response).collect())
}

/// A string field's text, sharing the frame's bytes when it has no escape; `None` when the
/// value is not a string.
fn text_of(raw: &RawJson) -> Option<ByteString> {
    match raw.str()? {
        std::borrow::Cow::Borrowed(s) => Some(raw.clone().into_text().slice_ref(s)),
        std::borrow::Cow::Owned(s) => Some(ByteString::from(s)),
    }
}

fn short(raw: &RawJson) -> String {
    let s: String = raw.as_str().chars().take(40).collect();
    if s.len() < raw.as_str().len() { format!("{s}…") } else { s }
}

#[derive(Default)]
struct RequestFields {
    trace: Trace,
    id: Option<RawJson>,
    msg: Option<RawJson>,
}

#[derive(Default)]
struct MsgFields {
    namespace: Option<RawJson>,
    server_type: Option<RawJson>,
    service: Option<RawJson>,
    method: Option<RawJson>,
    args: Option<RawJson>,
}

fn request(raw: RawJson) -> Result<Request, BadPackage> {
    let f = raw
        .fold_members(RequestFields::default, |f, k, v| match k {
            "id" => f.id = Some(v),
            "msg" => f.msg = Some(v),
            "traceId" => f.trace.trace_id = Some(v),
            "seqId" => f.trace.seq_id = Some(v),
            "source" => f.trace.source = Some(v),
            "remote" => f.trace.remote = Some(v),
            _ => {}
        })
        .map_err(|e| bad(None, format!("malformed request: {e}")))?;
    let id = f.id.clone();
    let malformed = |why: String| bad(id.clone(), format!("malformed request: {why}"));
    let Some(req_id) = f.id else { return Err(malformed("missing field `id`".into())) };
    let Some(msg) = f.msg else { return Err(malformed("missing field `msg`".into())) };
    let m = msg
        .fold_members(MsgFields::default, |m, k, v| match k {
            "namespace" => m.namespace = Some(v),
            "serverType" => m.server_type = Some(v),
            "service" => m.service = Some(v),
            "method" => m.method = Some(v),
            "args" => m.args = Some(v),
            _ => {}
        })
        .map_err(|e| malformed(format!("msg: {e}")))?;
    let string = |v: &RawJson, name: &str| {
        text_of(v).ok_or_else(|| malformed(format!("{name} is not a string: {}", short(v))))
    };
    let required = |v: Option<RawJson>, name: &str| -> Result<ByteString, BadPackage> {
        string(&v.ok_or_else(|| malformed(format!("missing field `{name}`")))?, name)
    };
    let server_type = match m.server_type {
        Some(v) if !v.is_null() => string(&v, "serverType")?,
        _ => ByteString::new(),
    };
    let args: Args = match m.args {
        None => JsonArray::empty(),
        Some(v) => JsonArray::from_raw(v).map_err(|e| malformed(format!("args: {e}")))?,
    };
    let msg = RpcMsg {
        namespace: required(m.namespace, "namespace")?,
        server_type,
        service: required(m.service, "service")?,
        method: required(m.method, "method")?,
        args,
    };
    Ok(Request { trace: f.trace, id: req_id, msg })
}

fn response(raw: RawJson) -> Result<Response, BadPackage> {
    let (id, resp) = raw
        .fold_members(
            || (None, None),
            |(id, resp): &mut (Option<RawJson>, Option<RawJson>), k, v| match k {
                "id" => *id = Some(v),
                "resp" => *resp = Some(v),
                _ => {}
            },
        )
        .map_err(|e| bad(None, format!("malformed response: {e}")))?;
    let resp = match resp {
        None => JsonArray::empty(),
        Some(v) => {
            JsonArray::from_raw(v).map_err(|e| bad(id.clone(), format!("malformed response: resp: {e}")))?
        }
    };
    Ok(Response { id, resp })
}
