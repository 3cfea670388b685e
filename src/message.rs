//! The pomelo-rpc message envelope shared by every JSON dialect (spec/wire.md §2).
//!
//! Requests are written with Node's key order (`id, msg` and `namespace, serverType, service,
//! method, args`, trace fields first when present); either side may send a JSON array of
//! packages at any time, so parsing always yields a list.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The routed part of a request: which remote method to call, and its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcMsg {
    /// `"user"` for application remotes, `"sys"` for framework remotes.
    pub namespace: String,
    /// Target server type; informational for the acceptor.
    #[serde(rename = "serverType", default)]
    pub server_type: String,
    /// Remote module name, e.g. `timeRemote`.
    pub service: String,
    /// Method of that module.
    pub method: String,
    /// Positional arguments, without route parameter and callback.
    #[serde(default)]
    pub args: Vec<Value>,
}

impl RpcMsg {
    /// Builds a message from its four route parts and arguments.
    pub fn new(
        namespace: impl Into<String>,
        server_type: impl Into<String>,
        service: impl Into<String>,
        method: impl Into<String>,
        args: Vec<Value>,
    ) -> Self {
        RpcMsg {
            namespace: namespace.into(),
            server_type: server_type.into(),
            service: service.into(),
            method: method.into(),
            args,
        }
    }

    /// Parses `namespace.serverType.service.method` (the form the CLI takes).
    pub fn parse_route(route: &str, args: Vec<Value>) -> Option<Self> {
        let mut parts = route.splitn(4, '.');
        let (ns, st, svc, m) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if [ns, st, svc, m].iter().any(|p| p.is_empty()) || m.contains('.') {
            return None;
        }
        Some(RpcMsg::new(ns, st, svc, m, args))
    }
}

/// A request package: `{"id":…,"msg":{…}}`, with the optional trace fields a Node client with
/// `rpcDebugLog` prepends (`traceId, seqId, source, remote`; servers ignore them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// node-uuid v1 string of the tracer.
    #[serde(rename = "traceId", default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<Value>,
    /// Tracer log-line counter; no protocol meaning.
    #[serde(rename = "seqId", default, skip_serializing_if = "Option::is_none")]
    pub seq_id: Option<Value>,
    /// The caller's server id (trace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Value>,
    /// The target server id (trace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<Value>,
    /// Opaque request id, echoed verbatim by the server.
    pub id: Value,
    /// The call itself.
    pub msg: RpcMsg,
}

impl Request {
    /// A request without trace fields.
    pub fn new(id: Value, msg: RpcMsg) -> Self {
        Request { trace_id: None, seq_id: None, source: None, remote: None, id, msg }
    }
}

/// A response package: `{"id":…,"resp":[err, …results]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The request id, echoed verbatim; Node may omit it on unparsable input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// The complete callback argument list.
    #[serde(default)]
    pub resp: Vec<Value>,
}

/// Errors from parsing a package.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The payload is not valid JSON or not a package of the expected shape.
    #[error("malformed package: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Whether a JSON payload is a batch (array) rather than a single package.
pub fn is_batch(payload: &[u8]) -> bool {
    payload.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|&b| b == b'[')
}

/// Parses a payload holding one package or a JSON array of packages into a list.
pub fn parse_packages<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<Vec<T>, MessageError> {
    if is_batch(payload) {
        Ok(serde_json::from_slice(payload)?)
    } else {
        Ok(vec![serde_json::from_slice(payload)?])
    }
}

/// Serializes a request into its wire JSON.
pub fn encode_request(req: &Request) -> Vec<u8> {
    serde_json::to_vec(req).expect("a request always serializes")
}

/// Serializes a response into its wire JSON.
pub fn encode_response(resp: &Response) -> Vec<u8> {
    serde_json::to_vec(resp).expect("a response always serializes")
}

/// Joins already-encoded packages into one JSON array, as a buffered peer flushes them.
pub fn join_batch<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.push(b']');
    out
}

/// Builds the Node-shaped error object `{"msg": message, "stack": "Error: message\n    at …"}`.
///
/// Node callers read `err.stack`; pomelo itself sends only `stack`, we add `msg` so the text
/// survives without string surgery.
pub fn node_error(message: &str, at: &str) -> Value {
    serde_json::json!({
        "msg": message,
        "stack": format!("Error: {message}\n    at {at}"),
    })
}

/// Extracts the message of a Node error object: `msg`, else `message`, else the stack's first line.
pub fn error_message(err: &Value) -> String {
    if let Some(m) = err.get("msg").and_then(Value::as_str) {
        return m.to_string();
    }
    if let Some(m) = err.get("message").and_then(Value::as_str) {
        return m.to_string();
    }
    if let Some(stack) = err.get("stack").and_then(Value::as_str) {
        let first = stack.lines().next().unwrap_or("");
        return first.strip_prefix("Error: ").unwrap_or(first).to_string();
    }
    err.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_key_order_matches_node() {
        // tcp04-basic, first request body (108 bytes).
        let req =
            Request::new(json!(0), RpcMsg::new("user", "test", "service", "echo", vec![json!("hello")]));
        assert_eq!(
            String::from_utf8(encode_request(&req)).unwrap(),
            r#"{"id":0,"msg":{"namespace":"user","serverType":"test","service":"service","method":"echo","args":["hello"]}}"#
        );
    }

    #[test]
    fn trace_fields_come_first_and_parse() {
        let text = r#"{"traceId":"986f8a10-e57f-11f1-a4f9-c5431bbc5487","seqId":11,"source":"client-1","remote":"srv-1","id":0,"msg":{"namespace":"user","serverType":"test","service":"service","method":"echo","args":["traced"]}}"#;
        let reqs: Vec<Request> = parse_packages(text.as_bytes()).unwrap();
        assert_eq!(reqs[0].seq_id, Some(json!(11)));
        assert_eq!(String::from_utf8(encode_request(&reqs[0])).unwrap(), text);
    }

    #[test]
    fn batch_and_single_both_parse() {
        let one: Vec<Response> = parse_packages(br#"{"id":"ten","resp":[null,1]}"#).unwrap();
        assert_eq!(one[0].id, Some(json!("ten")));
        let many: Vec<Response> = parse_packages(br#" [{"id":0,"resp":[null]},{"id":1,"resp":[]}]"#).unwrap();
        assert_eq!(many.len(), 2);
        let no_id: Vec<Response> = parse_packages(br#"{"resp":[{"stack":"x"}]}"#).unwrap();
        assert_eq!(no_id[0].id, None);
    }

    #[test]
    fn route_parsing() {
        let m = RpcMsg::parse_route("user.demo.echoRemote.echo", vec![]).unwrap();
        assert_eq!((m.server_type.as_str(), m.method.as_str()), ("demo", "echo"));
        assert!(RpcMsg::parse_route("user.demo.echoRemote", vec![]).is_none());
        assert!(RpcMsg::parse_route("user..echoRemote.echo", vec![]).is_none());
        assert!(RpcMsg::parse_route("a.b.c.d.e", vec![]).is_none());
    }

    #[test]
    fn error_message_sources() {
        assert_eq!(error_message(&node_error("bad", "x")), "bad");
        assert_eq!(error_message(&json!({"stack":"Error: boom\n    at y"})), "boom");
        assert_eq!(error_message(&json!({})), "{}");
    }

    #[test]
    fn batch_join() {
        assert_eq!(join_batch([&b"{}"[..], &b"1"[..]]), b"[{},1]");
    }
}
