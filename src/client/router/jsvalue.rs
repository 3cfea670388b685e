//! How Node sees a JSON value: truthiness, `typeof`, `String(v)`, number formatting and
//! `JSON.stringify` key order, so route keys and ch hash inputs match pomelo's byte for byte.

use serde_json::Value;

use crate::message::RpcMsg;

/// JS truthiness of a JSON value.
pub(super) fn js_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// JS `typeof`-style name for error messages.
pub(super) fn js_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// JS `String(v)` of a JSON value.
pub(super) fn js_to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => js_number(n),
        Value::String(s) => s.clone(),
        // Array.prototype.join: null/undefined elements become empty.
        Value::Array(a) => a
            .iter()
            .map(|e| if e.is_null() { String::new() } else { js_to_string(e) })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".to_string(),
    }
}

/// JS `Number.prototype.toString()` of a JSON number (Node holds every number as an f64).
fn js_number(n: &serde_json::Number) -> String {
    const EXACT: u64 = 1 << 53;
    if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= EXACT) {
        return i.to_string();
    }
    if let Some(u) = n.as_u64().filter(|&u| u <= EXACT) {
        return u.to_string();
    }
    js_f64(n.as_f64().unwrap_or(f64::NAN))
}

/// ECMAScript Number::toString(10) for an f64: Rust's `{:e}` gives the same shortest digits,
/// laid out here by the spec's rules (plain up to 1e21, exponent below 1e-6).
fn js_f64(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i64;
    let n = exp.parse::<i64>().expect("{:e} exponent is an integer") + 1;
    let mut out = String::from(if x < 0.0 { "-" } else { "" });
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str(&format!("e{}{}", if n > 0 { "+" } else { "-" }, (n - 1).abs()));
    }
    out
}

/// `JSON.stringify(msg)` as Node produces it for pomelo's `{namespace, serverType, service,
/// method, args}` message object.
pub(super) fn js_stringify_msg(msg: &RpcMsg) -> String {
    let mut out = String::with_capacity(128);
    out.push_str("{\"namespace\":");
    push_js_string(&mut out, &msg.namespace);
    out.push_str(",\"serverType\":");
    push_js_string(&mut out, &msg.server_type);
    out.push_str(",\"service\":");
    push_js_string(&mut out, &msg.service);
    out.push_str(",\"method\":");
    push_js_string(&mut out, &msg.method);
    out.push_str(",\"args\":[");
    for (i, a) in msg.args.values().unwrap_or_default().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_js_json(&mut out, a);
    }
    out.push_str("]}");
    out
}

/// A JSON string literal; serde_json escapes exactly the characters JSON.stringify does.
fn push_js_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("strings serialize"));
}

/// JSON.stringify of a value: JS number formatting, and object keys in JS property order
/// (array-index keys ascending first, then the rest in insertion order).
fn push_js_json(out: &mut String, v: &Value) {
    match v {
        Value::Null | Value::Bool(_) => out.push_str(&v.to_string()),
        Value::Number(n) => out.push_str(&js_number(n)),
        Value::String(s) => push_js_string(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_js_json(out, e);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // Stable sort: index keys by value ahead of the others, which keep their order.
            entries.sort_by_key(|(k, _)| array_index(k).map_or((1, 0), |i| (0, i)));
            out.push('{');
            for (i, (k, e)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_js_string(out, k);
                out.push(':');
                push_js_json(out, e);
            }
            out.push('}');
        }
    }
}

/// The array index a property key denotes in JS (canonical decimal below 2^32 - 1), if any.
fn array_index(k: &str) -> Option<u32> {
    if k.is_empty() || (k.len() > 1 && k.starts_with('0')) || !k.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    k.parse::<u32>().ok().filter(|&i| i != u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn js_number_formatting() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (123456789012.0, "123456789012"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.2345e22, "1.2345e+22"),
            (1e-6, "0.000001"),
            (1.5e-7, "1.5e-7"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (9007199254740994.0, "9007199254740994"),
        ];
        for &(x, want) in cases {
            assert_eq!(js_f64(x), want, "{x:e}");
        }
        assert_eq!(js_number(&serde_json::Number::from(u64::MAX)), "18446744073709552000");
    }

    #[test]
    fn stringify_orders_index_keys_first() {
        let m = RpcMsg::new(
            "user",
            "t",
            "s",
            "m",
            vec![json!({"b": 1, "10": 2, "2": 3, "01": 4, "a": [1.0, null]})],
        );
        assert_eq!(
            js_stringify_msg(&m),
            r#"{"namespace":"user","serverType":"t","service":"s","method":"m","args":[{"2":3,"10":2,"b":1,"01":4,"a":[1,null]}]}"#
        );
    }
}
