//! The scanner accepts exactly what serde_json's raw-value path accepts, on hand-picked and on
//! generated texts (valid JSON, then mutated).

use proptest::prelude::*;
use serde_json::value::RawValue;

use super::*;

/// serde_json's verdict (the reference) and ours, with the value's span on success.
fn both(text: &str) -> (Option<String>, Option<String>) {
    let reference = serde_json::from_str::<&RawValue>(text).ok().map(|r| r.get().to_string());
    let ours = validate(text).ok().map(|s| text[s].to_string());
    (reference, ours)
}

fn agree(text: &str) {
    let (r, o) = both(text);
    assert_eq!(r, o, "serde_json and the scanner disagree on {text:?}");
}

#[test]
fn hand_picked_texts() {
    for t in [
        "0",
        "-0",
        "1",
        "-1",
        "1.5",
        "1e5",
        "1E+5",
        "1e-5",
        "0.0e-0",
        "01",
        "-",
        "1.",
        ".5",
        "1e",
        "1e+",
        "+1",
        "00",
        "-01",
        "1.5x",
        "true",
        "false",
        "null",
        "tru",
        "nul",
        "truex",
        "\"\"",
        "\"a\"",
        "\"\\u00e9\"",
        "\"\\ud83d\"",
        "\"\\udc00\"",
        "\"\\ud83d\\ude00\"",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\u12g4\"",
        "\"a\u{1}\"",
        "\"\u{7f}\"",
        "\"\t\"",
        "\"\\\"",
        "\"abc",
        "[]",
        "[ ]",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{}",
        "{ }",
        "{\"a\":1}",
        "{\"a\" : 1 , \"b\":[true,{\"c\":null}]}",
        "{\"a\":1,}",
        "{\"a\"}",
        "{\"a\":}",
        "{1:2}",
        "{\"a\":1 \"b\":2}",
        "[[[]]]",
        "[[[]]",
        "[[]]]",
        "[{]}",
        "{[]}",
        " [1] ",
        "\n\t{}\r\n",
        "[1] 2",
        "",
        " ",
        "\u{feff}1",
        "NaN",
        "Infinity",
        "[-]",
        "[1e400, -1e400]",
        "\"\\/\\b\\f\\n\\r\\t\"",
        "{\"\\ud800\":1}",
        "[\"é\", \"😀\"]",
        "{\"a\":{\"b\":{\"c\":[1,[2,[3]]]}}}",
    ] {
        agree(t);
    }
    let deep = "[".repeat(50_000) + &"]".repeat(50_000);
    assert_eq!(validate(&deep), Ok(0..100_000));
    let unbalanced = "[".repeat(1000) + &"]".repeat(999);
    assert!(validate(&unbalanced).is_err());
}

#[test]
fn members_and_elements_come_as_spans() {
    let text = r#" {"id": 7, "msg": {"args": ["cut \ud83d", -0]}, "k\"x": null} "#;
    let mut s = Scanner::new(text);
    let mut seen = Vec::new();
    s.object(|s, k| {
        let v = s.value()?;
        seen.push((text[k.span].to_string(), k.escaped, text[v].to_string()));
        Ok(())
    })
    .unwrap();
    s.end().unwrap();
    assert_eq!(seen[0], ("\"id\"".to_string(), false, "7".to_string()));
    assert_eq!(seen[1].2, r#"{"args": ["cut \ud83d", -0]}"#);
    assert_eq!(seen[2], (r#""k\"x""#.to_string(), true, "null".to_string()));
    let mut els = Vec::new();
    let text = "[1, \"a\", [2]]";
    let mut s = Scanner::new(text);
    s.array(|s| {
        els.push(text[s.value()?].to_string());
        Ok(())
    })
    .unwrap();
    assert_eq!(els, ["1", "\"a\"", "[2]"]);
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| n.into()),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| f.into()),
        ".{0,12}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec((".{0,6}", inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn generated_json_and_its_mutations_agree(v in json_value(), pretty in any::<bool>(),
                                               cut in any::<prop::sample::Index>(),
                                               byte in prop::sample::select(&b"{}[],:\"\\ 0123456789-+.eEtrufalsn\x01"[..]),
                                               op in 0..3u8) {
        let text = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { serde_json::to_string(&v).unwrap() };
        agree(&text);
        let mut bytes = text.clone().into_bytes();
        let at = cut.index(bytes.len() + 1);
        match op {
            0 => bytes.insert(at.min(bytes.len()), byte),
            1 => { if at < bytes.len() { bytes.remove(at); } }
            _ => { if at < bytes.len() { bytes[at] = byte; } }
        }
        if let Ok(mutated) = String::from_utf8(bytes) {
            agree(&mutated);
        }
    }

    #[test]
    fn arbitrary_text_agrees(text in "[\\[\\]{},:\"\\\\ a-z0-9.+-]{0,40}") {
        agree(&text);
    }
}
