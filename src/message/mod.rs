//! The pomelo-rpc message envelope shared by every JSON dialect (spec/wire.md §2):
//! `Request {id, msg: {namespace, serverType, service, method, args}}` and
//! `Response {id, resp: [err, …results]}`. Either side may send a JSON array of packages at any
//! time, so parsing always yields a list.
//!
//! Everything is read through [`crate::wire::json`]: ids, arguments, replies and trace fields
//! stay raw JSON (passed on exactly as they came), route names share the frame's bytes.

use bytestring::ByteString;

mod array;
mod encode;
mod node_error;
mod parse;

pub use array::{Args, JsonArray, Resp};
pub use encode::{encode_request, encode_response, join_batch, write_call, write_request, write_response};
pub use node_error::{NodeError, error_message};
pub use parse::{BadPackage, Packages, is_batch, parse_requests, parse_responses};

pub use crate::wire::json::{JsonError, RawJson};

/// The routed part of a request: which remote method to call, and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcMsg {
    /// `"user"` for application remotes, `"sys"` for framework remotes.
    pub namespace: ByteString,
    /// Target server type; informational for the acceptor.
    pub server_type: ByteString,
    /// Remote module name, e.g. `timeRemote`.
    pub service: ByteString,
    /// Method of that module.
    pub method: ByteString,
    /// Positional arguments, without route parameter and callback.
    pub args: Args,
}

impl RpcMsg {
    /// Builds a message from its four route parts and arguments.
    pub fn new(
        namespace: impl Into<ByteString>,
        server_type: impl Into<ByteString>,
        service: impl Into<ByteString>,
        method: impl Into<ByteString>,
        args: impl Into<Args>,
    ) -> Self {
        RpcMsg {
            namespace: namespace.into(),
            server_type: server_type.into(),
            service: service.into(),
            method: method.into(),
            args: args.into(),
        }
    }

    /// Parses `namespace.serverType.service.method` (the form the CLI takes).
    pub fn parse_route(route: &str, args: impl Into<Args>) -> Option<Self> {
        let mut parts = route.splitn(4, '.');
        let (ns, st, svc, m) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if [ns, st, svc, m].iter().any(|p| p.is_empty()) || m.contains('.') {
            return None;
        }
        Some(RpcMsg::new(ns, st, svc, m, args))
    }

    /// `namespace.serverType.service.method`, as logs and errors name a call.
    pub fn route(&self) -> String {
        format!("{}.{}.{}.{}", self.namespace, self.server_type, self.service, self.method)
    }

    /// `service.method`, the frame an error's stack names.
    pub fn at(&self) -> String {
        format!("{}.{}", self.service, self.method)
    }
}

/// The trace fields a Node client with `rpcDebugLog` puts before `id` (servers ignore them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// node-uuid v1 string of the tracer.
    pub trace_id: Option<RawJson>,
    /// Tracer log-line counter.
    pub seq_id: Option<RawJson>,
    /// The caller's server id.
    pub source: Option<RawJson>,
    /// The target server id.
    pub remote: Option<RawJson>,
}

impl Trace {
    /// True when no trace field is present.
    pub fn is_empty(&self) -> bool {
        self.trace_id.is_none() && self.seq_id.is_none() && self.source.is_none() && self.remote.is_none()
    }
}

/// A request package: `{"id":…,"msg":{…}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Optional trace fields.
    pub trace: Trace,
    /// Opaque request id, echoed verbatim by the server.
    pub id: RawJson,
    /// The call itself.
    pub msg: RpcMsg,
}

impl Request {
    /// A request with a numeric id and no trace fields.
    pub fn new(id: u64, msg: RpcMsg) -> Self {
        let id = RawJson::trusted(itoa::Buffer::new().format(id).to_owned().into());
        Request { trace: Trace::default(), id, msg }
    }
}

/// A response package: `{"id":…,"resp":[err, …results]}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The request id, echoed verbatim; Node may omit it on unparsable input.
    pub id: Option<RawJson>,
    /// The complete callback argument list.
    pub resp: Resp,
}

impl Response {
    /// The id as the number a Rust mailbox gave it, if it is one.
    pub fn numeric_id(&self) -> Option<u64> {
        self.id.as_ref().and_then(|id| id.as_str().parse().ok())
    }
}

#[cfg(test)]
mod tests;
