//! [`RawJson`]: a JSON text validated as Node would accept it, carried without decoding.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use super::scan::{self, Scanner};
use super::text::{decode_str, lossy_utf8};
use super::{JsonError, MAX_TREE_DEPTH, lex};

/// One JSON value as text: valid UTF-8, valid JSON, no surrounding whitespace. Cheap to clone
/// and to slice (it shares the bytes of the frame it came in).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawJson(ByteString);

impl RawJson {
    /// Reads a network payload as Node's `JSON.parse(buffer.toString())` would accept it.
    pub fn from_bytes(bytes: Bytes) -> Result<RawJson, JsonError> {
        Self::from_text(lossy_utf8(bytes))
    }

    /// [`RawJson::from_bytes`] for borrowed bytes (copies them).
    pub fn from_slice(bytes: &[u8]) -> Result<RawJson, JsonError> {
        Self::from_bytes(Bytes::copy_from_slice(bytes))
    }

    /// Validates text that is already UTF-8.
    pub fn from_text(text: ByteString) -> Result<RawJson, JsonError> {
        let span = scan::validate(&text)?;
        Ok(RawJson(text.slice_ref(&text[span])))
    }

    /// Serializes a value the Rust side built (JavaScript number format).
    pub fn from_value<T: Serialize + ?Sized>(value: &T) -> RawJson {
        let bytes = super::to_vec(value);
        RawJson(ByteString::from(String::from_utf8(bytes).unwrap_or_else(|_| "null".into())))
    }

    /// `null`.
    pub fn null() -> RawJson {
        RawJson(ByteString::from_static("null"))
    }

    /// Wraps text the caller has validated (a sub-slice of a validated text, or our own output).
    pub(crate) fn trusted(text: ByteString) -> RawJson {
        RawJson(text)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JSON text as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The shared bytes, for writing without a copy.
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }

    /// The shared text.
    pub fn into_text(self) -> ByteString {
        self.0
    }

    /// A part of this text (a `&str` borrowed from [`RawJson::as_str`]) as its own value.
    pub(crate) fn sub(&self, part: &str) -> RawJson {
        RawJson(self.0.slice_ref(part))
    }

    /// The same value on one line: the text itself when it has no line break, else the text
    /// without the whitespace between its tokens (strings untouched: a line break inside a JSON
    /// string is always escaped). For writing raw values into line-oriented files.
    pub fn single_line(&self) -> RawJson {
        let b = self.as_bytes();
        if memchr::memchr2(b'\n', b'\r', b).is_none() {
            return self.clone();
        }
        let mut out = Vec::with_capacity(b.len());
        let (mut in_str, mut escaped) = (false, false);
        for &c in b {
            if in_str {
                out.push(c);
                match c {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_str = false,
                    _ => {}
                }
            } else if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                in_str = c == b'"';
                out.push(c);
            }
        }
        // Only ASCII whitespace outside strings was removed: still UTF-8, still the same JSON.
        RawJson(ByteString::from(String::from_utf8(out).unwrap_or_else(|_| "null".into())))
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        self.as_bytes() == b"null"
    }

    /// True for an array.
    pub fn is_array(&self) -> bool {
        self.as_bytes().first() == Some(&b'[')
    }

    /// True for an object.
    pub fn is_object(&self) -> bool {
        self.as_bytes().first() == Some(&b'{')
    }

    /// The text of a string value (lone surrogates as U+FFFD); `None` for other kinds.
    pub fn str(&self) -> Option<Cow<'_, str>> {
        decode_str(self.as_str())
    }

    fn kind_error(&self, expected: &'static str) -> JsonError {
        let got: String = self.as_str().chars().take(40).collect();
        JsonError::Kind { expected, got }
    }

    /// The elements of an array, each sharing this text.
    pub fn elements(&self) -> Result<Vec<RawJson>, JsonError> {
        if !self.is_array() {
            return Err(self.kind_error("an array"));
        }
        let text = self.as_str();
        let mut out = Vec::new();
        Scanner::new(text).array(|s| {
            out.push(self.sub(&text[s.value()?]));
            Ok(())
        })?;
        Ok(out)
    }

    /// The members of an object in text order (a repeated key appears twice; Node keeps the
    /// last value at the first position). Keys are decoded, lone surrogates as U+FFFD.
    pub fn members(&self) -> Result<Vec<(String, RawJson)>, JsonError> {
        self.fold_members(Vec::new, |out, k, v| out.push((k.to_owned(), v)))
    }

    /// Folds over an object's members without collecting them: `f(state, key, value)` per
    /// member, keys borrowed where they have no escape, values sharing this text.
    pub fn fold_members<S>(
        &self,
        init: impl Fn() -> S,
        mut f: impl FnMut(&mut S, &str, RawJson),
    ) -> Result<S, JsonError> {
        if !self.is_object() {
            return Err(self.kind_error("an object"));
        }
        let text = self.as_str();
        let mut state = init();
        Scanner::new(text).object(|s, k| {
            let token = &text[k.span.clone()];
            let key = if k.escaped {
                decode_str(token).unwrap_or_default()
            } else {
                token[1..token.len() - 1].into()
            };
            let value = self.sub(&text[s.value()?]);
            f(&mut state, &key, value);
            Ok(())
        })?;
        Ok(state)
    }

    /// The value as a tree: lone surrogates as U+FFFD, numbers past f64 as `null`; refused when
    /// nested deeper than [`MAX_TREE_DEPTH`].
    pub fn to_value(&self) -> Result<serde_json::Value, JsonError> {
        self.deserialize()
    }

    /// The value as a typed `T`, with the rules of [`RawJson::to_value`].
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, JsonError> {
        let text = self.as_str();
        let first = match serde_json::from_str::<T>(text) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let found = lex::inspect(text);
        if found.depth > MAX_TREE_DEPTH {
            return Err(JsonError::TooDeep { depth: found.depth, limit: MAX_TREE_DEPTH });
        }
        // serde_json stops at 128 levels; below that, and with nothing to rewrite, the error
        // is about the shape.
        if !found.needs_rewrite() && found.depth < 100 {
            return Err(JsonError::Shape(first));
        }
        let text: Cow<'_, str> =
            if found.needs_rewrite() { Cow::Owned(lex::sanitize(text)) } else { Cow::Borrowed(text) };
        deep_from_str(&text).map_err(JsonError::Shape)
    }
}

/// serde_json without its recursion limit, on a stack that grows as needed.
fn deep_from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let value = T::deserialize(serde_stacker::Deserializer::new(&mut de))?;
    de.end()?;
    Ok(value)
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({})", self.as_str())
    }
}

/// Compares by value, as [`RawJson::to_value`] reads the text (what a test holding trees means).
impl PartialEq<serde_json::Value> for RawJson {
    fn eq(&self, other: &serde_json::Value) -> bool {
        self.to_value().is_ok_and(|v| v == *other)
    }
}

impl From<serde_json::Value> for RawJson {
    fn from(v: serde_json::Value) -> Self {
        RawJson::from_value(&v)
    }
}

impl From<&serde_json::Value> for RawJson {
    fn from(v: &serde_json::Value) -> Self {
        RawJson::from_value(v)
    }
}

/// Written verbatim by serde_json serializers (through its raw-value hook).
impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.as_str().to_owned()).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// Read verbatim from serde_json deserializers (lone surrogates and all).
impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Ok(RawJson(ByteString::from(String::from(raw.get()))))
    }
}
