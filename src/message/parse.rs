//! Reading packages from a payload: one package or an array of them, in one pass over the text.
//! A payload that is not JSON at all is the connection's problem ([`JsonError`]); a package of
//! the wrong shape is only its own ([`BadPackage`], answered with an error for its id when it has
//! one).
//!
//! serde_json walks the text once: envelope keys are matched borrowed, every value is captured
//! as a raw slice (its raw-value path accepts lone surrogates, numbers past f64 and any nesting),
//! and the slices become [`RawJson`]s sharing the frame's bytes.

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;
use serde_json::value::RawValue;

use super::{Args, JsonArray, RawJson, Request, Response, RpcMsg, Trace};
use crate::wire::json::{self, JsonError, decode_str, lossy_utf8};

/// A package that is JSON but not a well-formed request or response.
#[derive(Debug, Clone, PartialEq)]
pub struct BadPackage {
    /// Its `id`, when it had one (a request's error reply goes to that id).
    pub id: Option<RawJson>,
    /// What is wrong.
    pub reason: String,
}

/// Whether a payload is a batch (a JSON array) rather than a single package.
pub fn is_batch(payload: &[u8]) -> bool {
    payload.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|&b| b == b'[')
}

/// Requests from a payload (a mailbox's frame), each well-formed or not.
pub fn parse_requests(payload: Bytes) -> Result<Vec<Result<Request, BadPackage>>, JsonError> {
    let text = lossy_utf8(payload);
    let sanitized;
    let (pkgs, src) = match read::<RequestFields<'_>>(&text) {
        Ok(p) => (p, Src::new(&text, &text)),
        Err(e) if !json::lex_inspect(&text).lone_surrogates => return Err(e),
        Err(_) => {
            sanitized = json::lex_sanitize(&text);
            (read::<RequestFields<'_>>(&sanitized)?, Src::new(&text, &sanitized))
        }
    };
    Ok(pkgs.into_iter().map(|p| request(&src, p)).collect())
}

/// Responses from a payload (an acceptor's frame), each well-formed or not.
pub fn parse_responses(payload: Bytes) -> Result<Vec<Result<Response, BadPackage>>, JsonError> {
    let text = lossy_utf8(payload);
    let sanitized;
    let (pkgs, src) = match read::<ResponseFields<'_>>(&text) {
        Ok(p) => (p, Src::new(&text, &text)),
        Err(e) if !json::lex_inspect(&text).lone_surrogates => return Err(e),
        Err(_) => {
            sanitized = json::lex_sanitize(&text);
            (read::<ResponseFields<'_>>(&sanitized)?, Src::new(&text, &sanitized))
        }
    };
    Ok(pkgs.into_iter().map(|p| response(&src, p)).collect())
}

/// Where parsed slices come from: the text serde_json read (the payload, or for an envelope key
/// holding a lone surrogate, which serde_json refuses to decode, a copy with U+FFFD in its place
/// and the same length) and the payload they are cut from, offset for offset.
struct Src<'a> {
    text: &'a ByteString,
    base: usize,
}

impl<'a> Src<'a> {
    fn new(text: &'a ByteString, parsed: &str) -> Self {
        Src { text, base: parsed.as_ptr() as usize }
    }

    fn slice(&self, v: &RawValue) -> ByteString {
        let at = v.get().as_ptr() as usize - self.base;
        self.text.slice_ref(&self.text[at..at + v.get().len()])
    }
}

/// The fields of one kind of package, filled from an object's members.
trait Fields<'de>: Default {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

/// One package as read: an object's fields, or JSON of another kind.
enum Pkg<F> {
    Object(F),
    NotAnObject(&'static str),
}

/// The payload: one package or a batch.
struct Top<F>(Vec<Pkg<F>>);

fn read<'a, F: Fields<'a>>(text: &'a str) -> Result<Vec<Pkg<F>>, JsonError> {
    match serde_json::from_str::<Top<F>>(text) {
        Ok(Top(pkgs)) => Ok(pkgs),
        Err(e) if e.classify() == Category::Data => Ok(vec![Pkg::NotAnObject("JSON of another kind")]),
        Err(e) => Err(JsonError::Syntax(e)),
    }
}

/// A parsed value as raw JSON sharing the frame's bytes.
fn raw(src: &Src<'_>, v: &RawValue) -> RawJson {
    RawJson::trusted(src.slice(v))
}

/// A string field's text, sharing the frame's bytes when it has no escape.
fn text_of(src: &Src<'_>, v: &RawValue) -> Option<ByteString> {
    let token = src.slice(v);
    match decode_str(&token)? {
        std::borrow::Cow::Borrowed(s) => Some(token.slice_ref(s)),
        std::borrow::Cow::Owned(s) => Some(ByteString::from(s)),
    }
}

fn short(v: &RawValue) -> String {
    let s: String = v.get().chars().take(40).collect();
    if s.len() < v.get().len() { format!("{s}…") } else { s }
}

#[derive(Default)]
struct RequestFields<'a> {
    trace_id: Option<&'a RawValue>,
    seq_id: Option<&'a RawValue>,
    source: Option<&'a RawValue>,
    remote: Option<&'a RawValue>,
    id: Option<&'a RawValue>,
    msg: Option<Pkg<MsgFields<'a>>>,
}

#[derive(Default)]
struct MsgFields<'a> {
    namespace: Option<&'a RawValue>,
    server_type: Option<&'a RawValue>,
    service: Option<&'a RawValue>,
    method: Option<&'a RawValue>,
    args: Option<&'a RawValue>,
}

#[derive(Default)]
struct ResponseFields<'a> {
    id: Option<&'a RawValue>,
    resp: Option<&'a RawValue>,
}

impl<'de> Fields<'de> for RequestFields<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        let slot = match key {
            "msg" => {
                self.msg = Some(map.next_value()?);
                return Ok(());
            }
            "id" => &mut self.id,
            "traceId" => &mut self.trace_id,
            "seqId" => &mut self.seq_id,
            "source" => &mut self.source,
            "remote" => &mut self.remote,
            _ => return map.next_value::<IgnoredAny>().map(drop),
        };
        *slot = Some(map.next_value()?);
        Ok(())
    }
}

impl<'de> Fields<'de> for MsgFields<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        let slot = match key {
            "namespace" => &mut self.namespace,
            "serverType" => &mut self.server_type,
            "service" => &mut self.service,
            "method" => &mut self.method,
            "args" => &mut self.args,
            _ => return map.next_value::<IgnoredAny>().map(drop),
        };
        *slot = Some(map.next_value()?);
        Ok(())
    }
}

impl<'de> Fields<'de> for ResponseFields<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        let slot = match key {
            "id" => &mut self.id,
            "resp" => &mut self.resp,
            _ => return map.next_value::<IgnoredAny>().map(drop),
        };
        *slot = Some(map.next_value()?);
        Ok(())
    }
}

/// An object key, borrowed when it has no escape.
struct Key<'a>(std::borrow::Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

struct PkgVisitor<F>(std::marker::PhantomData<F>);

macro_rules! not_an_object {
    ($($name:ident: $t:ty => $what:expr),*) => {
        $(fn $name<E: de::Error>(self, _: $t) -> Result<Self::Value, E> {
            Ok(Pkg::NotAnObject($what))
        })*
    };
}

impl<'de, F: Fields<'de>> Visitor<'de> for PkgVisitor<F> {
    type Value = Pkg<F>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a package")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pkg<F>, A::Error> {
        let mut fields = F::default();
        while let Some(Key(k)) = map.next_key()? {
            fields.member(&k, &mut map)?;
        }
        Ok(Pkg::Object(fields))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Pkg<F>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Pkg::NotAnObject("an array"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Pkg<F>, E> {
        Ok(Pkg::NotAnObject("null"))
    }
    not_an_object!(visit_bool: bool => "a boolean", visit_i64: i64 => "a number", visit_u64: u64 => "a number",
        visit_f64: f64 => "a number", visit_str: &str => "a string");
}

impl<'de, F: Fields<'de>> de::Deserialize<'de> for Pkg<F> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PkgVisitor(std::marker::PhantomData))
    }
}

impl<'de, F: Fields<'de>> de::Deserialize<'de> for Top<F> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<F>(std::marker::PhantomData<F>);
        impl<'de, F: Fields<'de>> Visitor<'de> for V<F> {
            type Value = Top<F>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a package or an array of packages")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Top<F>, A::Error> {
                PkgVisitor(std::marker::PhantomData).visit_map(map).map(|p| Top(vec![p]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Top<F>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(8));
                while let Some(p) = seq.next_element::<Pkg<F>>()? {
                    out.push(p);
                }
                Ok(Top(out))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

fn request(text: &Src<'_>, pkg: Pkg<RequestFields<'_>>) -> Result<Request, BadPackage> {
    let f = match pkg {
        Pkg::Object(f) => f,
        Pkg::NotAnObject(what) => return Err(bad(None, format!("malformed request: {what}, not an object"))),
    };
    let id = f.id.map(|v| raw(text, v));
    let malformed = |why: String| bad(id.clone(), format!("malformed request: {why}"));
    let Some(req_id) = id.clone() else { return Err(malformed("missing field `id`".into())) };
    let m = match f.msg {
        Some(Pkg::Object(m)) => m,
        Some(Pkg::NotAnObject(what)) => return Err(malformed(format!("msg is {what}, not an object"))),
        None => return Err(malformed("missing field `msg`".into())),
    };
    let string = |v: &RawValue, name: &str| {
        text_of(text, v).ok_or_else(|| malformed(format!("{name} is not a string: {}", short(v))))
    };
    let required = |v: Option<&RawValue>, name: &str| -> Result<ByteString, BadPackage> {
        string(v.ok_or_else(|| malformed(format!("missing field `{name}`")))?, name)
    };
    let server_type = match m.server_type {
        Some(v) if v.get() != "null" => string(v, "serverType")?,
        _ => ByteString::new(),
    };
    let args: Args = match m.args {
        None => JsonArray::empty(),
        Some(v) => JsonArray::from_raw(raw(text, v)).map_err(|e| malformed(format!("args: {e}")))?,
    };
    let msg = RpcMsg {
        namespace: required(m.namespace, "namespace")?,
        server_type,
        service: required(m.service, "service")?,
        method: required(m.method, "method")?,
        args,
    };
    let trace = Trace {
        trace_id: f.trace_id.map(|v| raw(text, v)),
        seq_id: f.seq_id.map(|v| raw(text, v)),
        source: f.source.map(|v| raw(text, v)),
        remote: f.remote.map(|v| raw(text, v)),
    };
    Ok(Request { trace, id: req_id, msg })
}

fn response(text: &Src<'_>, pkg: Pkg<ResponseFields<'_>>) -> Result<Response, BadPackage> {
    let f = match pkg {
        Pkg::Object(f) => f,
        Pkg::NotAnObject(what) => {
            return Err(bad(None, format!("malformed response: {what}, not an object")));
        }
    };
    let id = f.id.map(|v| raw(text, v));
    let resp = match f.resp {
        None => JsonArray::empty(),
        Some(v) => JsonArray::from_raw(raw(text, v))
            .map_err(|e| bad(id.clone(), format!("malformed response: resp: {e}")))?,
    };
    Ok(Response { id, resp })
}

fn bad(id: Option<RawJson>, reason: impl Into<String>) -> BadPackage {
    BadPackage { id, reason: reason.into() }
}
