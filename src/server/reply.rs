//! What handlers return: [`RemoteError`] (leaves as a Node error object), [`Reply`] (any reply
//! array), and [`IntoReply`], which turns either, or a `Result`, into the `resp` array.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::message::{Args, JsonArray, NodeError, RawJson, Resp};

/// An error a remote returns; it leaves as Node's `{"msg", "stack", …extra}` object.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteError {
    /// Human-readable message (`err.msg`, first line of `err.stack`).
    pub message: String,
    /// Extra own properties, e.g. a `code` (pinus spreads these; pomelo drops them).
    pub fields: Map<String, Value>,
}

impl RemoteError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        RemoteError { message: message.into(), fields: Map::new() }
    }

    /// Adds an extra property, such as `code`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.fields.insert(key.into(), value.into());
        self
    }

    /// The Node-shaped JSON object; `at` names the frame in the synthetic stack.
    pub fn to_json(&self, at: &str) -> Value {
        NodeError { message: self.message.clone(), fields: self.fields.clone() }.to_json(at)
    }

    /// `[err]`, the reply of a call that failed with this error.
    pub fn to_resp(&self, at: &str) -> Resp {
        JsonArray::from_values(&[self.to_json(at)])
    }
}

impl From<String> for RemoteError {
    fn from(s: String) -> Self {
        RemoteError::new(s)
    }
}

impl From<&str> for RemoteError {
    fn from(s: &str) -> Self {
        RemoteError::new(s)
    }
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RemoteError {}

/// A reply array exactly as given: for variadic callbacks (`cb(hour, min, sec)`), raw JSON, or
/// a single error.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The full `resp` array as values.
    Values(Vec<Value>),
    /// The full `resp` array as raw JSON (passed on exactly).
    Raw(Resp),
    /// A single error, serialized with the route as its stack frame.
    Error(RemoteError),
}

impl Reply {
    /// `[null, …results]`.
    pub fn ok(results: impl IntoIterator<Item = Value>) -> Reply {
        let mut v = vec![Value::Null];
        v.extend(results);
        Reply::Values(v)
    }

    /// `[null, …args]` from arguments as they came: an echo that keeps every byte (lone
    /// surrogates, `-0`, numbers past f64, any nesting).
    pub fn ok_args(args: &Args) -> Reply {
        Reply::Raw(args.prepend("null"))
    }

    /// `[null, value]` with a raw value.
    pub fn ok_raw(value: &RawJson) -> Reply {
        Reply::Raw(JsonArray::from_elements([&RawJson::null(), value]))
    }

    /// `[err]`.
    pub fn error(err: impl Into<RemoteError>) -> Reply {
        Reply::Error(err.into())
    }
}

/// Turns a handler's output into the `resp` array.
pub trait IntoReply {
    /// `at` is `service.method`, used for error stacks.
    fn into_reply(self, at: &str) -> Resp;
}

impl IntoReply for Reply {
    fn into_reply(self, at: &str) -> Resp {
        match self {
            Reply::Values(v) => JsonArray::from_values(&v),
            Reply::Raw(r) => r,
            Reply::Error(e) => e.to_resp(at),
        }
    }
}

impl IntoReply for Resp {
    fn into_reply(self, _at: &str) -> Resp {
        self
    }
}

impl<T: Serialize, E: Into<RemoteError>> IntoReply for Result<T, E> {
    fn into_reply(self, at: &str) -> Resp {
        match self {
            // Written straight from T, numbers as JavaScript writes them.
            Ok(v) => JsonArray::from_elements([&RawJson::null(), &RawJson::from_value(&v)]),
            Err(e) => e.into().to_resp(at),
        }
    }
}
