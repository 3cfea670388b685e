//! Semantic comparison of reply arrays: JSON equality (object key order and integer/float
//! spelling do not matter), minus what the ignore rules and the error-object rule leave out.
//!
//! An ignore rule is `[ROUTE_GLOB:]PATH`. `PATH` is JSONPath-like and starts at the reply
//! array `$` (`resp`): `.name`, `['name']`, `[N]`, `[*]` / `.*` (every child) and `..name` /
//! `..*` (at any depth). `ROUTE_GLOB` matches `namespace.serverType.service.method` with `*`
//! standing for any run of characters. A value at an ignored path is not compared, but it must
//! exist on both sides (so `$[*]` still checks how many values came back).
//!
//! Default rules ([`Comparator::defaults`]):
//! - error objects (any object with a string `stack`): only the first line of `stack` is
//!   compared (the rest is stack frames: file paths, line numbers, implementation), and a `msg`
//!   that repeats that line's message is left out (the Rust server adds it, Node does not);
//! - `*.timeRemote.getCurrentTime:$[*]`: the demo clock (hour, minute, second);
//! - `echoRemote.sleep` needs no rule: its reply `[null, ms]` is exact, and *when* replies arrive
//!   (completion order, latency) is never compared, since answers are matched by id.
//!
//! The values compared are what [`crate::wire::json`] read (a lone surrogate is U+FFFD, a
//! number past f64 `null`); a reply identical in text to the recorded one never gets here (see
//! [`super::replay`]). This file holds the comparison and how a difference is shown (values
//! written in JavaScript's number format); the rules live in `rule`.

mod rule;

use serde_json::{Map, Value};

use crate::wire::json;
pub use rule::{IgnoreRule, glob_match};

/// What replaces an ignored value on both sides before comparing.
const IGNORED: &str = "\u{0}<ignored>";

/// Most differences reported for one call.
pub const MAX_DIFFERENCES: usize = 20;

/// The default ignore rules, as text (see the module docs).
pub const DEFAULT_IGNORES: &[&str] = &["*.timeRemote.getCurrentTime:$[*]"];

/// One difference between a recorded and a new reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// Where, as a path from the reply array, e.g. `$[1].b`.
    pub path: String,
    /// The recorded value, `None` when it was absent.
    pub expected: Option<Value>,
    /// The new value, `None` when it is absent.
    pub got: Option<Value>,
}

impl Difference {
    /// As JSON for `--check` output.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("path".into(), self.path.clone().into());
        m.insert("expected".into(), self.expected.clone().unwrap_or(Value::Null));
        m.insert("got".into(), self.got.clone().unwrap_or(Value::Null));
        if self.expected.is_none() {
            m.insert("expected_missing".into(), true.into());
        }
        if self.got.is_none() {
            m.insert("got_missing".into(), true.into());
        }
        Value::Object(m)
    }
}

/// Decides whether two replies mean the same.
#[derive(Debug, Clone)]
pub struct Comparator {
    rules: Vec<IgnoreRule>,
    error_objects: bool,
}

impl Comparator {
    /// No rules at all: strict JSON equality.
    pub fn strict() -> Self {
        Comparator { rules: Vec::new(), error_objects: false }
    }

    /// The default rules (see the module docs).
    pub fn defaults() -> Self {
        let rules = DEFAULT_IGNORES.iter().map(|r| r.parse().expect("default rules parse")).collect();
        Comparator { rules, error_objects: true }
    }

    /// Adds a rule.
    pub fn ignore(mut self, rule: IgnoreRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// The rules in force, as text, plus the error-object rule if on.
    pub fn describe(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if self.error_objects {
            out.push("error objects: first line of stack only; msg repeating it ignored".into());
        }
        out.extend(self.rules.iter().map(|r| r.to_string()));
        out
    }

    /// A reply as it is compared for `route`: ignored values replaced, error objects reduced.
    pub fn normalize(&self, route: &str, resp: &[Value]) -> Value {
        let mut v = Value::Array(resp.to_vec());
        if self.error_objects {
            reduce_errors(&mut v);
        }
        for r in self.rules.iter().filter(|r| r.applies_to(route)) {
            r.apply(&mut v);
        }
        v
    }

    /// The differences between the recorded reply and the new one (empty: they match).
    pub fn compare(&self, route: &str, expected: &[Value], got: &[Value]) -> Vec<Difference> {
        let (e, g) = (self.normalize(route, expected), self.normalize(route, got));
        let mut out = Vec::new();
        diff(&e, &g, "$".to_string(), &mut out);
        out
    }
}

/// Error objects keep the first line of their stack; a `msg` repeating it goes.
fn reduce_errors(v: &mut Value) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(reduce_errors),
        Value::Object(o) => {
            if let Some(Value::String(stack)) = o.get_mut("stack") {
                let first = stack.lines().next().unwrap_or("").to_string();
                *stack = first.clone();
                let redundant = match o.get("msg") {
                    Some(Value::String(m)) => {
                        first == *m || first.strip_suffix(m.as_str()).is_some_and(|p| p.ends_with(": "))
                    }
                    _ => false,
                };
                if redundant {
                    o.remove("msg");
                }
            }
            o.values_mut().for_each(reduce_errors);
        }
        _ => {}
    }
}

/// Numbers are equal when their values are: exactly for integers, as f64 otherwise.
fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    let int = |n: &serde_json::Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.as_f64() == b.as_f64(),
    }
}

fn child_path(base: &str, key: &str) -> String {
    let ident = !key.is_empty()
        && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if ident { format!("{base}.{key}") } else { format!("{base}[{}]", json::to_string(key)) }
}

fn diff(e: &Value, g: &Value, path: String, out: &mut Vec<Difference>) {
    if out.len() >= MAX_DIFFERENCES {
        return;
    }
    match (e, g) {
        (Value::Number(a), Value::Number(b)) if numbers_equal(a, b) => {}
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let p = format!("{path}[{i}]");
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => diff(x, y, p, out),
                    (x, y) => out.push(Difference { path: p, expected: x.cloned(), got: y.cloned() }),
                }
                if out.len() >= MAX_DIFFERENCES {
                    return;
                }
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for (k, x) in a {
                let p = child_path(&path, k);
                match b.get(k) {
                    Some(y) => diff(x, y, p, out),
                    None => out.push(Difference { path: p, expected: Some(x.clone()), got: None }),
                }
            }
            for (k, y) in b {
                if !a.contains_key(k) && out.len() < MAX_DIFFERENCES {
                    out.push(Difference { path: child_path(&path, k), expected: None, got: Some(y.clone()) });
                }
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(Difference { path, expected: Some(a.clone()), got: Some(b.clone()) }),
    }
}

/// Renders a value for a diff line, shortened.
pub fn show(v: &Option<Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(Value::String(s)) if s == IGNORED => "(ignored)".into(),
        Some(v) => super::record::shorten(&json::to_string(v), 160),
    }
}

/// Renders both sides of a difference; two long strings are shown from a little before the
/// first character where they differ.
pub fn show_pair(d: &Difference) -> (String, String) {
    if let (Some(Value::String(a)), Some(Value::String(b))) = (&d.expected, &d.got) {
        let same = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
        if same > 40 {
            let from = |s: &str| -> String {
                let start = s.char_indices().nth(same - 20).map_or(s.len(), |(i, _)| i);
                let text = json::to_string(&s[start..]);
                format!("(from char {}) …{}", same - 20, super::record::shorten(&text[1..], 140))
            };
            return (from(a), from(b));
        }
    }
    (show(&d.expected), show(&d.got))
}

#[cfg(test)]
mod tests;
