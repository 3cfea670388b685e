//! JSON read as Node reads it, in one place: every JSON text that arrives from the network goes
//! through here (RPC envelopes of every dialect, socket.io packets, the admin link, captures).
//!
//! Node reads a payload as `JSON.parse(buffer.toString())`, which accepts what serde_json's
//! typed parser refuses: a lone UTF-16 surrogate escape (`"\ud83d"`, a chat line cut
//! mid-emoji), nesting deeper than 128, numbers past f64 (`1e400` is Infinity), and bytes that
//! are not UTF-8 (read as U+FFFD). serde_json has no mode that builds values from those, but its
//! raw-value path ([`serde_json::value::RawValue`]) validates the grammar without decoding
//! strings or numbers and without recursion, and that grammar is Node's. So:
//!
//! - [`RawJson`] is text validated that way (after Node's lossy UTF-8 step); what the Rust side
//!   passes on unread (an echoed argument, a forwarded body, a relayed frame) keeps its exact
//!   text, so a lone surrogate leaves as the same escape.
//! - Reading into a tree or a typed value ([`RawJson::to_value`], [`RawJson::deserialize`]) goes
//!   through serde_json; only when that fails does the small lexer in `lex` look at the text and,
//!   where needed, replace lone surrogates with U+FFFD and numbers past f64 with `null` (what
//!   Node's `JSON.stringify` writes for Infinity). A tree deeper than [`MAX_TREE_DEPTH`] is
//!   refused with [`JsonError::TooDeep`]: that costs the one value, never the connection.
//! - Values the Rust side builds are written with JavaScript's number format ([`to_vec`]): `0`
//!   for `-0`, `1e+21`, no `.0`, never NaN or Infinity. Integers above 2^53 are written exactly;
//!   a Node peer reads them as the nearest double, as it would its own.

mod error;
mod lex;
mod raw;
mod scan;
mod text;
mod write;

pub use error::JsonError;
pub use raw::RawJson;
pub use scan::ScanError;
pub(crate) use scan::{Scanner, Span, StrToken, validate as scan_validate};
pub use text::{decode_str, lossy_utf8};
pub use write::{JsFormatter, to_string, to_vec, write_to};

/// Deepest tree [`RawJson::to_value`] builds. Raw values have no depth limit (only the frame
/// size bounds them); a tree needs stack to drop and serialize, about 100 bytes a level.
pub const MAX_TREE_DEPTH: usize = 4096;

/// Reads a network payload into a tree, as Node would (lossy UTF-8, lone surrogates as U+FFFD,
/// numbers past f64 as `null`).
pub fn parse_value(bytes: &[u8]) -> Result<serde_json::Value, JsonError> {
    RawJson::from_slice(bytes)?.to_value()
}

/// Reads a network payload into a typed value, with the rules of [`parse_value`].
pub fn from_slice<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    RawJson::from_slice(bytes)?.deserialize()
}

/// A value that may be JSON encoded twice (pomelo-admin sends requests and responses as a JSON
/// string holding JSON): the inner object or array when `v` is a string holding one, else `v`.
pub fn unwrap_twice(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) => match parse_value(s.as_bytes()) {
            Ok(inner) if inner.is_object() || inner.is_array() => inner,
            _ => serde_json::Value::String(s),
        },
        other => other,
    }
}

/// Reads a payload that may hold JSON encoded once or twice (see [`unwrap_twice`]).
pub fn parse_maybe_twice(bytes: &[u8]) -> Result<serde_json::Value, JsonError> {
    parse_value(bytes).map(unwrap_twice)
}

#[cfg(test)]
mod tests;
