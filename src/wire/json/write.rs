//! Writing JSON the way Node's `JSON.stringify` writes numbers: through serde_json, with a
//! formatter whose floats follow ECMAScript's `Number.prototype.toString` (ryu-js).

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

/// serde_json's compact formatter with JavaScript numbers: `-0` as `0`, `1` not `1.0`, `1e+21`,
/// and `null` for NaN and ±Infinity.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsFormatter;

impl JsFormatter {
    fn number<W: ?Sized + io::Write>(writer: &mut W, value: f64) -> io::Result<()> {
        if !value.is_finite() {
            return writer.write_all(b"null");
        }
        if value == 0.0 {
            return writer.write_all(b"0");
        }
        let mut buf = ryu_js::Buffer::new();
        writer.write_all(buf.format_finite(value).as_bytes())
    }
}

impl Formatter for JsFormatter {
    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        Self::number(writer, f64::from(value))
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        Self::number(writer, value)
    }
}

/// Appends `value` as JSON to `out`. Serializing into memory fails only for types serde_json
/// cannot represent (a map with non-string keys); those become `null`.
pub fn write_to<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let start = out.len();
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, JsFormatter);
    if let Err(e) = value.serialize(&mut ser) {
        tracing::warn!("value not representable as JSON, sent as null: {e}");
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
}

/// `value` as JSON bytes, numbers as JavaScript writes them.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_to(&mut out, value);
    out
}

/// `value` as a JSON string, numbers as JavaScript writes them.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    String::from_utf8(to_vec(value)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_as_javascript_writes_them() {
        // Node: JSON.stringify([-0, 1.0, 2.5, 1e21, 1e20, 0.1, 1.5e-7, 5e-324, 1.7976931348623157e308])
        let v = json!([-0.0, 1.0, 2.5, 1e21, 1e20, 0.1, 1.5e-7, 5e-324, 1.7976931348623157e308]);
        assert_eq!(
            to_string(&v),
            "[0,1,2.5,1e+21,100000000000000000000,0.1,1.5e-7,5e-324,1.7976931348623157e+308]"
        );
        assert_eq!(to_string(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY]), "[null,null,null]");
        assert_eq!(
            to_string(&json!({"big": 9007199254740993u64, "neg": -3})),
            r#"{"big":9007199254740993,"neg":-3}"#
        );
        assert_eq!(to_string(&1.5f32), "1.5");
    }
}
