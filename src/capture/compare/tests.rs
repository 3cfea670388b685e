//! Ignore-rule syntax, globs, JSON equality, the error-object and clock rules, diff output.

use serde_json::{Value, json};

use super::rule::{Sel, Step};
use super::*;

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
    let rust = json!({"msg": "boom ü", "stack": "Error: boom ü\n    at echoRemote.fail (pomelo-interop)"});
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
    assert!(c.compare(route, &[json!(14), json!(5), json!(9)], &[json!(3), json!(59), json!(0)]).is_empty());
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
