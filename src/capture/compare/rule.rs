//! `--ignore` rules: `[ROUTE_GLOB:]PATH`, parsed, matched against a call's route, and applied to
//! a reply (every value at the path replaced by a placeholder). The syntax is in the docs of
//! [`super`].

use std::fmt;

use serde_json::Value;

use super::IGNORED;
use crate::capture::CaptureError;

/// Which children a path step selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Sel {
    Key(String),
    Index(usize),
    Any,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// Direct children.
    Child(Sel),
    /// Children at any depth.
    Descendant(Sel),
}

/// A parsed `--ignore` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreRule {
    text: String,
    pub(super) route: Option<String>,
    pub(super) steps: Vec<Step>,
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
    pub(super) fn apply(&self, v: &mut Value) {
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
