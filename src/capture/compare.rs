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
//! [`super::replay`]). Values in a difference are shown in JavaScript's number format.

use std::fmt;

use serde_json::{Map, Value};

use super::CaptureError;
use crate::wire::json;

/// What replaces an ignored value on both sides before comparing.
const IGNORED: &str = "\u{0}<ignored>";

/// Most differences reported for one call.
pub const MAX_DIFFERENCES: usize = 20;

/// The default ignore rules, as text (see the module docs).
pub const DEFAULT_IGNORES: &[&str] = &["*.timeRemote.getCurrentTime:$[*]"];

/// Which children a path step selects.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sel {
    Key(String),
    Index(usize),
    Any,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Direct children.
    Child(Sel),
    /// Children at any depth.
    Descendant(Sel),
}

/// A parsed `--ignore` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreRule {
    text: String,
    route: Option<String>,
    steps: Vec<Step>,
}

impl fmt::Display for IgnoreRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for IgnoreRule {
    type Err = CaptureError;

    fn from_str(text: &str) -> Result<Self, CaptureError> {
        let err = |reason: &str| CaptureError::Ignore { rule: text.to_string(), reason: reason.to_string() };
        let (route, path) = match text.find(":$") {
            Some(i) => (Some(text[..i].to_string()), &text[i + 1..]),
            None => (None, text),
        };
        if route.as_deref() == Some("") {
            return Err(err("empty route before ':'"));
        }
        let Some(mut rest) = path.strip_prefix('$') else {
            return Err(err("the path must start with $ (e.g. $[1].stack, $..time, route:$[*])"));
        };
        let mut steps = Vec::new();
        while !rest.is_empty() {
            let descendant = rest.starts_with("..");
            if descendant {
                rest = &rest[2..];
            } else if let Some(r) = rest.strip_prefix('.') {
                rest = r;
            } else if !rest.starts_with('[') {
                return Err(err("expected '.', '..' or '[' in the path"));
            }
            let (sel, after) = if let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']').ok_or_else(|| err("'[' without ']'"))?;
                let inner = &r[..end];
                let sel = if inner == "*" {
                    Sel::Any
                } else if let Ok(i) = inner.parse::<usize>() {
                    Sel::Index(i)
                } else if inner.len() >= 2
                    && ((inner.starts_with('\'') && inner.ends_with('\''))
                        || (inner.starts_with('"') && inner.ends_with('"')))
                {
                    Sel::Key(inner[1..inner.len() - 1].to_string())
                } else {
                    return Err(err("inside [] use an index, * or a quoted name"));
                };
                (sel, &r[end + 1..])
            } else {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                let name = &rest[..end];
                if name.is_empty() {
                    return Err(err("empty name in the path"));
                }
                (if name == "*" { Sel::Any } else { Sel::Key(name.to_string()) }, &rest[end..])
            };
            steps.push(if descendant { Step::Descendant(sel) } else { Step::Child(sel) });
            rest = after;
        }
        Ok(IgnoreRule { text: text.to_string(), route, steps })
    }
}

impl IgnoreRule {
    /// Whether the rule applies to calls of `route` (`namespace.serverType.service.method`).
    pub fn applies_to(&self, route: &str) -> bool {
        self.route.as_deref().is_none_or(|g| glob_match(g, route))
    }

    /// Replaces every value at the rule's path in `v` by a placeholder.
    fn apply(&self, v: &mut Value) {
        apply_steps(v, &self.steps);
    }
}

fn children_mut<'a>(v: &'a mut Value, sel: &Sel) -> Vec<&'a mut Value> {
    match (v, sel) {
        (Value::Array(a), Sel::Any) => a.iter_mut().collect(),
        (Value::Object(o), Sel::Any) => o.values_mut().collect(),
        (Value::Array(a), Sel::Index(i)) => a.get_mut(*i).into_iter().collect(),
        (Value::Object(o), Sel::Key(k)) => o.get_mut(k).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn apply_steps(v: &mut Value, steps: &[Step]) {
    let Some((first, rest)) = steps.split_first() else {
        *v = Value::String(IGNORED.into());
        return;
    };
    match first {
        Step::Child(sel) => {
            for c in children_mut(v, sel) {
                apply_steps(c, rest);
            }
        }
        Step::Descendant(sel) => {
            // Match below first, so that a replaced node is not searched again.
            match v {
                Value::Array(a) => a.iter_mut().for_each(|c| apply_steps(c, steps)),
                Value::Object(o) => o.values_mut().for_each(|c| apply_steps(c, steps)),
                _ => {}
            }
            for c in children_mut(v, sel) {
                apply_steps(c, rest);
            }
        }
    }
}

/// `*` matches any run of characters; everything else literally.
pub fn glob_match(glob: &str, text: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    if parts.len() == 1 {
        return glob == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first)
        || !text[first.len()..].ends_with(last)
        || text.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

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
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(s: &str) -> IgnoreRule {
        s.parse().unwrap()
    }

    #[test]
    fn rule_syntax() {
        let r = rule("$[1].a['b c'][*]..stack");
        assert_eq!(r.route, None);
        assert_eq!(
            r.steps,
            vec![
                Step::Child(Sel::Index(1)),
                Step::Child(Sel::Key("a".into())),
                Step::Child(Sel::Key("b c".into())),
                Step::Child(Sel::Any),
                Step::Descendant(Sel::Key("stack".into())),
            ]
        );
        let r = rule("user.*.timeRemote.getCurrentTime:$[*]");
        assert!(r.applies_to("user.demo.timeRemote.getCurrentTime"));
        assert!(!r.applies_to("user.demo.echoRemote.echo"));
        for bad in ["", "x", "$[", "$[x]", "$.", ":$[0]", "$a"] {
            assert!(bad.parse::<IgnoreRule>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("a*c", "abc"));
        assert!(glob_match("a*c", "ac"));
        assert!(!glob_match("a*c", "ab"));
        assert!(glob_match("*.echoRemote.*", "user.demo.echoRemote.echo"));
        assert!(!glob_match("ab*ba", "aba"));
        assert!(glob_match("exact", "exact"));
    }

    #[test]
    fn json_equality_ignores_key_order_and_number_spelling() {
        let c = Comparator::strict();
        let a = [json!({"b": 1, "a": [1.0, 2]}), json!(1e21)];
        let b = [json!({"a": [1, 2.0], "b": 1}), json!(1000000000000000000000.0)];
        assert!(c.compare("r", &a, &b).is_empty());
        let d = c.compare("r", &[json!({"a": 1, "x": [1, 2]})], &[json!({"a": 2, "y": 0, "x": [1]})]);
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["$[0].a", "$[0].x[1]", "$[0].y"]);
        assert_eq!(d[1].got, None);
        assert_eq!(d[2].expected, None);
        let keyed = c.compare("r", &[json!({"a b": 1})], &[json!({})]);
        assert_eq!(keyed[0].path, r#"$[0]["a b"]"#);
    }

    #[test]
    fn error_objects_rust_and_node() {
        let node =
            json!({"stack": "Error: boom ü\n    at EchoRemote.fail (remote/pomelo/user/echoRemote.js:24:6)"});
        let rust =
            json!({"msg": "boom ü", "stack": "Error: boom ü\n    at echoRemote.fail (pomelo-interop)"});
        let c = Comparator::defaults();
        let (n, r) = (std::slice::from_ref(&node), std::slice::from_ref(&rust));
        assert!(c.compare("user.demo.echoRemote.fail", n, r).is_empty());
        let other = json!({"msg": "bang", "stack": "Error: bang\n    at x"});
        let d = c.compare("user.demo.echoRemote.fail", n, &[other]);
        assert_eq!(d[0].path, "$[0].stack");
        assert!(!Comparator::strict().compare("r", &[node], &[rust]).is_empty());
        // A msg that says something else than the stack is compared.
        let odd = json!({"msg": "other", "stack": "Error: boom\n x"});
        let plain = json!({"stack": "Error: boom\n y"});
        assert_eq!(c.compare("r", &[plain], &[odd])[0].path, "$[0].msg");
    }

    #[test]
    fn clock_rule_keeps_the_count() {
        let c = Comparator::defaults();
        let route = "user.demo.timeRemote.getCurrentTime";
        assert!(
            c.compare(route, &[json!(14), json!(5), json!(9)], &[json!(3), json!(59), json!(0)]).is_empty()
        );
        let d = c.compare(route, &[json!(14), json!(5), json!(9)], &[json!(3), json!(59)]);
        assert_eq!((d[0].path.as_str(), d[0].got.clone()), ("$[2]", None));
        assert!(!c.compare("user.demo.echoRemote.echo", &[json!(1)], &[json!(2)]).is_empty());
    }

    #[test]
    fn descendant_and_wildcard_rules() {
        let c = Comparator::strict().ignore(rule("$..time")).ignore(rule("$[1].*.id"));
        let a = [json!({"time": 1, "n": {"time": 2}}), json!({"x": {"id": 1, "k": 1}, "y": {"id": 2}})];
        let b = [json!({"time": 9, "n": {"time": 8}}), json!({"x": {"id": 5, "k": 1}, "y": {"id": 6}})];
        assert!(c.compare("r", &a, &b).is_empty());
        let b2 = [json!({"n": {"time": 8}}), b[1].clone()];
        assert_eq!(c.compare("r", &a, &b2)[0].path, "$[0].time", "presence still counts");
    }

    #[test]
    fn long_strings_are_shown_where_they_differ() {
        let a = format!("{}X tail", "a".repeat(100));
        let b = format!("{}Y tail", "a".repeat(100));
        let d = &Comparator::strict().compare("r", &[json!(a)], &[json!(b)])[0];
        let (e, g) = show_pair(d);
        assert!(e.starts_with("(from char 80) …aaaa") && e.contains("X tail"), "{e}");
        assert!(g.contains("Y tail"), "{g}");
        let short = Difference { path: "$".into(), expected: Some(json!("x")), got: None };
        assert_eq!(show_pair(&short), ("\"x\"".to_string(), "(absent)".to_string()));
    }

    #[test]
    fn differences_are_capped() {
        let a: Vec<Value> = (0..100).map(|i| json!(i)).collect();
        let b: Vec<Value> = (0..100).map(|i| json!(i + 1)).collect();
        assert_eq!(Comparator::strict().compare("r", &a, &b).len(), MAX_DIFFERENCES);
    }
}
