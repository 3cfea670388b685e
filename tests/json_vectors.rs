//! The JSON reader against Node's own verdicts: fixtures/golden/json-vectors.json holds, for each
//! input, whether Node's `JSON.parse(buffer.toString())` accepts it and what `JSON.stringify`
//! makes of the result (compat-tests/gen-json-vectors.js). Rust must accept exactly what Node
//! accepts, keep the text (after the lossy UTF-8 step) as the raw value, and build a tree that
//! writes as Node's `JSON.stringify` output, except where its documented rules differ; every
//! vector that needs a rule is listed here by name.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use pomelo_interop::wire::json::{JsonError, MAX_TREE_DEPTH, RawJson, to_string};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

const FIXTURE: &str = "fixtures/golden/json-vectors.json";

#[derive(Debug, Deserialize)]
struct Vectors {
    vectors: Vec<Vector>,
}

#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    hex: String,
    accepted: bool,
    /// Node's `JSON.stringify` of the parsed value.
    stringify: Option<String>,
    /// What Node's `JSON.stringify` threw instead (it recurses; `JSON.parse` does not).
    stringify_error: Option<String>,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn load() -> Vec<Vector> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Vectors = serde_json::from_str(&text).expect("the vectors file is JSON");
    assert!(v.vectors.len() > 100, "only {} vectors", v.vectors.len());
    v.vectors
}

/// Node's `JSON.stringify` text with each lone surrogate escape as U+FFFD: the documented tree
/// rule (a Rust `String` cannot hold a lone surrogate). Node's writer escapes nothing else as
/// `\uD800`–`\uDFFF`, so every such escape in its output is a lone surrogate.
fn lone_surrogates_replaced(node: &str) -> String {
    let mut out = String::with_capacity(node.len());
    let mut chars = node.char_indices().peekable();
    let mut in_string = false;
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                in_string = !in_string;
                out.push(c);
            }
            '\\' if in_string => {
                let escape = &node[i..];
                let unit = escape.get(2..6).and_then(|h| u16::from_str_radix(h, 16).ok());
                if escape.as_bytes().get(1) == Some(&b'u') && matches!(unit, Some(0xD800..=0xDFFF)) {
                    out.push('\u{FFFD}');
                    for _ in 0..5 {
                        chars.next();
                    }
                } else {
                    out.push('\\');
                    if let Some((_, next)) = chars.next() {
                        out.push(next);
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The tree with integers past 2^53 as the double Node reads (the Rust tree keeps them exact).
fn js_numbers(v: &Value) -> Value {
    const SAFE: u64 = 1 << 53;
    let unsafe_int = |n: &Number| {
        n.as_u64().map(|u| u > SAFE).or_else(|| n.as_i64().map(|i| i.unsigned_abs() > SAFE)).unwrap_or(false)
    };
    match v {
        Value::Number(n) if unsafe_int(n) => {
            Number::from_f64(n.as_f64().unwrap()).map_or(Value::Null, Value::Number)
        }
        Value::Array(a) => Value::Array(a.iter().map(js_numbers).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), js_numbers(v))).collect()),
        other => other.clone(),
    }
}

/// The tree with object keys in JavaScript's order: array indices ascending, then the rest in
/// insertion order (the Rust tree keeps the text's order).
fn js_key_order(v: &Value) -> Value {
    let index = |k: &str| k.parse::<u32>().ok().filter(|n| *n != u32::MAX && n.to_string() == k);
    match v {
        Value::Array(a) => Value::Array(a.iter().map(js_key_order).collect()),
        Value::Object(o) => {
            let mut indices: Vec<(u32, &String)> =
                o.keys().filter_map(|k| index(k).map(|n| (n, k))).collect();
            indices.sort();
            let mut out = Map::new();
            for (_, k) in indices {
                out.insert(k.clone(), js_key_order(&o[k]));
            }
            for (k, val) in o.iter().filter(|(k, _)| index(k).is_none()) {
                out.insert(k.clone(), js_key_order(val));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Which documented rule a vector needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    /// Lone surrogates become U+FFFD in trees (Node keeps them; its stringify escapes them).
    LoneSurrogate,
    /// Integers past 2^53 stay exact in Rust trees; Node rounds them to a double.
    ExactInteger,
    /// JavaScript puts integer-like keys first; Rust trees keep the text's order.
    KeyOrder,
    /// Trees nested deeper than MAX_TREE_DEPTH are refused (the raw value is accepted).
    TooDeep,
}

#[test]
fn rust_reads_every_vector_as_node_does() {
    let mut failures = Vec::new();
    let mut used: BTreeMap<Rule, Vec<String>> = BTreeMap::new();
    let vectors = load();
    for v in &vectors {
        let input = unhex(&v.hex);
        let raw = RawJson::from_slice(&input);
        let name = &v.name;
        if !v.accepted {
            if let Ok(raw) = raw {
                failures.push(format!("{name}: Node refuses it, Rust accepts it as {}", raw.as_str()));
            }
            continue;
        }
        let raw = match raw {
            Ok(raw) => raw,
            Err(e) => {
                failures.push(format!("{name}: Node accepts it, Rust refuses it: {e}"));
                continue;
            }
        };
        // The raw value is the text as Node's buffer.toString() reads it, without the JSON
        // whitespace around it.
        let text = String::from_utf8_lossy(&input);
        if raw.as_str() != text.trim_matches([' ', '\t', '\n', '\r']) {
            failures.push(format!("{name}: raw text {:?} is not the input {text:?}", raw.as_str()));
        }
        let tree = raw.to_value();
        let Some(node) = &v.stringify else {
            // Node's JSON.stringify ran out of stack; the Rust tree refuses such depth up front.
            match tree {
                Err(JsonError::TooDeep { depth, limit }) if depth > limit => {
                    used.entry(Rule::TooDeep).or_default().push(name.clone());
                }
                other => failures.push(format!(
                    "{name}: Node's stringify threw {:?}; the Rust tree is {:?}",
                    v.stringify_error,
                    other.map(|t| to_string(&t))
                )),
            }
            continue;
        };
        let tree = match tree {
            Ok(t) => t,
            Err(JsonError::TooDeep { .. }) => {
                used.entry(Rule::TooDeep).or_default().push(name.clone());
                continue;
            }
            Err(e) => {
                failures.push(format!("{name}: Node builds a value, Rust's to_value fails: {e}"));
                continue;
            }
        };
        let want = lone_surrogates_replaced(node);
        if want != *node {
            used.entry(Rule::LoneSurrogate).or_default().push(name.clone());
        }
        let got = to_string(&tree);
        if got == want {
            continue;
        }
        if to_string(&js_numbers(&tree)) == want {
            used.entry(Rule::ExactInteger).or_default().push(name.clone());
        } else if to_string(&js_key_order(&tree)) == want {
            used.entry(Rule::KeyOrder).or_default().push(name.clone());
        } else {
            failures.push(format!("{name}: Rust writes {got}, Node {node} (expected {want})"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors differ:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );

    // Where the documented rules make the Rust tree differ from Node's value, vector by vector.
    let names = |rule| used.get(&rule).cloned().unwrap_or_default();
    assert_eq!(
        names(Rule::LoneSurrogate),
        [
            "corpus cut-emoji",
            "corpus lone-low",
            "lone high at the end",
            "lone high in an array",
            "lone low first",
            "lone high in a key",
            "lone low in a key and a value",
            "high then a non-surrogate escape",
            "two highs",
            "low then high (reversed pair)",
            "high then a raw character",
            "pair followed by a lone high",
            "escaped backslash then a lone escape",
            "lone surrogate in a nested key",
        ],
        "vectors whose lone surrogates the tree holds as U+FFFD"
    );
    // wire::json docs: integers above 2^53 are kept and written exactly; a Node peer reads
    // them as the nearest double, as it reads its own. Past i64/u64 they are doubles in Rust too.
    assert_eq!(
        names(Rule::ExactInteger),
        ["2^53 + 1", "-(2^53 + 1)", "2^63", "-(2^63)"],
        "vectors whose integers the tree keeps exact"
    );
    // README: JavaScript orders integer-like keys first, so a Node peer reorders such objects.
    assert_eq!(names(Rule::KeyOrder), ["integer-like keys"], "vectors whose key order JavaScript changes");
    assert_eq!(
        names(Rule::TooDeep),
        ["array nested 10000 deep"],
        "vectors nested deeper than MAX_TREE_DEPTH ({MAX_TREE_DEPTH}) that Node reads"
    );
}

/// The committed vectors are exactly what Node prints today.
#[test]
fn json_vectors_come_from_node() {
    let dir = common::compat_dir();
    let root = dir.parent().unwrap();
    let out = Command::new("node").arg(dir.join("gen-json-vectors.js")).current_dir(root).output().unwrap();
    assert!(out.status.success(), "gen-json-vectors.js failed: {}", String::from_utf8_lossy(&out.stderr));
    let committed = std::fs::read(root.join(FIXTURE)).unwrap();
    assert!(
        out.stdout == committed,
        "{FIXTURE} is not what compat-tests/gen-json-vectors.js prints with this Node; regenerate it: \
         node compat-tests/gen-json-vectors.js > {FIXTURE}"
    );
}
