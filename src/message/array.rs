//! [`JsonArray`]: a JSON array kept as text, for call arguments ([`Args`]) and reply arrays
//! ([`Resp`]). Passed through untouched unless someone asks for the values.

use serde_json::Value;

use crate::wire::json::{JsonError, RawJson};

/// A JSON array as text (validated, Node's grammar). Equality is by text.
#[derive(Clone, PartialEq, Eq)]
pub struct JsonArray(RawJson);

/// Positional arguments of a call.
pub type Args = JsonArray;
/// The callback arguments of a reply: `[err, …results]`.
pub type Resp = JsonArray;

impl JsonArray {
    /// `[]`.
    pub fn empty() -> Self {
        JsonArray(RawJson::from_value(&[(); 0]))
    }

    /// An array of values built on the Rust side (JavaScript number format).
    pub fn from_values(values: &[Value]) -> Self {
        JsonArray(RawJson::from_value(values))
    }

    /// Wraps raw JSON that must be an array.
    pub fn from_raw(raw: RawJson) -> Result<Self, JsonError> {
        if raw.is_array() {
            Ok(JsonArray(raw))
        } else {
            Err(JsonError::Kind { expected: "an array", got: raw.as_str().chars().take(40).collect() })
        }
    }

    /// Joins raw elements into an array.
    pub fn from_elements<'a>(elements: impl IntoIterator<Item = &'a RawJson>) -> Self {
        let mut out = Vec::with_capacity(64);
        out.push(b'[');
        for (i, e) in elements.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(e.as_bytes());
        }
        out.push(b']');
        JsonArray(RawJson::trusted(String::from_utf8(out).unwrap_or_default().into()))
    }

    /// The array's text.
    pub fn raw(&self) -> &RawJson {
        &self.0
    }

    /// The array's text, owned.
    pub fn into_raw(self) -> RawJson {
        self.0
    }

    /// The text as a str.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The values as trees (lone surrogates as U+FFFD; see [`RawJson::to_value`]).
    pub fn values(&self) -> Result<Vec<Value>, JsonError> {
        self.0.deserialize()
    }

    /// The elements, each as raw JSON sharing this text.
    pub fn elements(&self) -> Result<Vec<RawJson>, JsonError> {
        self.0.elements()
    }

    /// True for `[]` (with or without inner whitespace).
    pub fn is_empty(&self) -> bool {
        self.inner().is_empty()
    }

    /// The text between the brackets, trimmed.
    fn inner(&self) -> &str {
        let s = self.0.as_str();
        s[1..s.len() - 1].trim_matches([' ', '\t', '\n', '\r'])
    }

    /// `[first, …self]` without decoding: a reply `[null, …args]` built from arguments.
    pub fn prepend(&self, first: &str) -> JsonArray {
        let inner = self.inner();
        let mut out = String::with_capacity(first.len() + inner.len() + 3);
        out.push('[');
        out.push_str(first);
        if !inner.is_empty() {
            out.push(',');
            out.push_str(inner);
        }
        out.push(']');
        JsonArray(RawJson::trusted(out.into()))
    }

    /// The first element (a reply's error slot), `None` for `[]`.
    pub fn first(&self) -> Option<RawJson> {
        self.elements().ok()?.into_iter().next()
    }

    /// True when the first element is absent or `null`: a reply without error.
    pub fn is_ok(&self) -> bool {
        let inner = self.inner();
        inner.is_empty()
            || (inner.starts_with("null")
                && matches!(inner[4..].trim_start().chars().next(), None | Some(',')))
    }
}

/// Compares by value (what a test or a caller holding trees means by equal).
impl PartialEq<Vec<Value>> for JsonArray {
    fn eq(&self, other: &Vec<Value>) -> bool {
        self.values().is_ok_and(|v| &v == other)
    }
}

impl From<Vec<Value>> for JsonArray {
    fn from(values: Vec<Value>) -> Self {
        JsonArray::from_values(&values)
    }
}

impl From<&[Value]> for JsonArray {
    fn from(values: &[Value]) -> Self {
        JsonArray::from_values(values)
    }
}

impl TryFrom<RawJson> for JsonArray {
    type Error = JsonError;
    fn try_from(raw: RawJson) -> Result<Self, JsonError> {
        JsonArray::from_raw(raw)
    }
}

impl std::fmt::Debug for JsonArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for JsonArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for JsonArray {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for JsonArray {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <RawJson as serde::Deserialize>::deserialize(d)?;
        JsonArray::from_raw(raw).map_err(serde::de::Error::custom)
    }
}
