//! Writing packages with Node's key order: `{"id":…,"msg":{"namespace","serverType","service",
//! "method","args"}}` (trace fields first when present) and `{"id":…,"resp":[…]}`. Raw parts
//! (ids, arguments, replies) are copied, never re-encoded.

use bytes::BytesMut;

use super::{RawJson, Request, Resp, RpcMsg};

fn field(out: &mut BytesMut, first: bool, key: &str, raw: &[u8]) {
    if !first {
        out.extend_from_slice(b",");
    }
    out.extend_from_slice(b"\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(raw);
}

fn string(out: &mut BytesMut, first: bool, key: &str, text: &str) {
    if !first {
        out.extend_from_slice(b",");
    }
    out.extend_from_slice(b"\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    // Route names almost never need escaping: copy them as they are when nothing does.
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.extend_from_slice(b"\"");
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\"");
    } else {
        out.extend_from_slice(&crate::wire::json::to_vec(text));
    }
}

fn write_msg(out: &mut BytesMut, msg: &RpcMsg) {
    out.extend_from_slice(b"{");
    string(out, true, "namespace", &msg.namespace);
    string(out, false, "serverType", &msg.server_type);
    string(out, false, "service", &msg.service);
    string(out, false, "method", &msg.method);
    field(out, false, "args", msg.args.as_str().as_bytes());
    out.extend_from_slice(b"}");
}

/// Appends a request package to `out`.
pub fn write_request(out: &mut BytesMut, req: &Request) {
    out.extend_from_slice(b"{");
    let mut first = true;
    let t = &req.trace;
    for (key, v) in
        [("traceId", &t.trace_id), ("seqId", &t.seq_id), ("source", &t.source), ("remote", &t.remote)]
    {
        if let Some(v) = v {
            field(out, first, key, v.as_bytes());
            first = false;
        }
    }
    field(out, first, "id", req.id.as_bytes());
    out.extend_from_slice(b",\"msg\":");
    write_msg(out, &req.msg);
    out.extend_from_slice(b"}");
}

/// Appends `{"id":<id>,"msg":…}` for a numeric id, as a mailbox sends it (no trace fields).
pub fn write_call(out: &mut BytesMut, id: u64, msg: &RpcMsg) {
    out.reserve(msg.args.as_str().len() + msg.service.len() + msg.method.len() + 96);
    out.extend_from_slice(b"{\"id\":");
    out.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
    out.extend_from_slice(b",\"msg\":");
    write_msg(out, msg);
    out.extend_from_slice(b"}");
}

/// Appends a response package to `out` (no `id` key when `id` is `None`, as Node omits
/// `undefined`).
pub fn write_response(out: &mut BytesMut, id: Option<&RawJson>, resp: &Resp) {
    out.reserve(resp.as_str().len() + 32);
    out.extend_from_slice(b"{");
    let mut first = true;
    if let Some(id) = id {
        field(out, true, "id", id.as_bytes());
        first = false;
    }
    field(out, first, "resp", resp.as_str().as_bytes());
    out.extend_from_slice(b"}");
}

/// A request package as bytes.
pub fn encode_request(req: &Request) -> Vec<u8> {
    let mut out = BytesMut::with_capacity(req.msg.args.as_str().len() + 128);
    write_request(&mut out, req);
    out.to_vec()
}

/// A response package as bytes.
pub fn encode_response(id: Option<&RawJson>, resp: &Resp) -> Vec<u8> {
    let mut out = BytesMut::new();
    write_response(&mut out, id, resp);
    out.to_vec()
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

/// Serialized like a Node peer writes `msg` (used by capture records and fixtures).
impl serde::Serialize for RpcMsg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("RpcMsg", 5)?;
        st.serialize_field("namespace", &*self.namespace)?;
        st.serialize_field("serverType", &*self.server_type)?;
        st.serialize_field("service", &*self.service)?;
        st.serialize_field("method", &*self.method)?;
        st.serialize_field("args", &self.args)?;
        st.end()
    }
}

impl<'de> serde::Deserialize<'de> for RpcMsg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Wire {
            namespace: String,
            #[serde(rename = "serverType", default)]
            server_type: Option<String>,
            service: String,
            method: String,
            #[serde(default)]
            args: Option<super::JsonArray>,
        }
        let w = Wire::deserialize(d)?;
        Ok(RpcMsg::new(
            w.namespace,
            w.server_type.unwrap_or_default(),
            w.service,
            w.method,
            w.args.unwrap_or_else(super::JsonArray::empty),
        ))
    }
}
