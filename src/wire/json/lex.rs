//! A lexer over text that is already valid JSON: it finds what serde_json cannot build a value
//! from (lone surrogate escapes, numbers past f64, nesting deeper than its default) and rewrites
//! the first two the way Node's reading ends up seeing them: U+FFFD and `null`.
//!
//! Only used when serde_json refused a text, so it favours clarity over speed. Replacing a lone
//! surrogate keeps the text's length (`\ud83d` and `\ufffd` are both six bytes), so offsets in
//! the sanitized text are offsets in the original.

/// What the lexer found in a text.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Findings {
    /// Some `\uXXXX` escape is a surrogate without its partner.
    pub lone_surrogates: bool,
    /// Some number is beyond f64 (Node reads ±Infinity).
    pub overflows: bool,
    /// Deepest nesting of arrays and objects.
    pub depth: usize,
}

impl Findings {
    /// True when serde_json needs a rewritten text.
    pub fn needs_rewrite(&self) -> bool {
        self.lone_surrogates || self.overflows
    }
}

fn hex4(b: &[u8], at: usize) -> Option<u16> {
    let s = std::str::from_utf8(b.get(at..at + 4)?).ok()?;
    u16::from_str_radix(s, 16).ok()
}

/// One lexer pass; with `rewrite`, also builds the sanitized text.
fn run(text: &str, rewrite: bool) -> (Findings, Option<String>) {
    let b = text.as_bytes();
    let mut f = Findings::default();
    let mut out = rewrite.then(|| String::with_capacity(text.len()));
    let mut depth = 0usize;
    let mut copied = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'[' | b'{' => {
                depth += 1;
                f.depth = f.depth.max(depth);
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] != b'\\' {
                        i += 1;
                        continue;
                    }
                    if b.get(i + 1) != Some(&b'u') {
                        i += 2;
                        continue;
                    }
                    let unit = hex4(b, i + 2).unwrap_or(0);
                    let lone = match unit {
                        0xD800..=0xDBFF => {
                            let pair = b.get(i + 6..i + 8) == Some(b"\\u")
                                && matches!(hex4(b, i + 8), Some(0xDC00..=0xDFFF));
                            if pair {
                                i += 12;
                                continue;
                            }
                            true
                        }
                        0xDC00..=0xDFFF => true,
                        _ => false,
                    };
                    if lone {
                        f.lone_surrogates = true;
                        if let Some(out) = out.as_mut() {
                            out.push_str(&text[copied..i]);
                            out.push_str("\\ufffd");
                            copied = i + 6;
                        }
                    }
                    i += 6;
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    i += 1;
                }
                let token = &text[start..i];
                if might_overflow(token) && token.parse::<f64>().is_ok_and(f64::is_infinite) {
                    f.overflows = true;
                    if let Some(out) = out.as_mut() {
                        out.push_str(&text[copied..start]);
                        out.push_str("null");
                        copied = i;
                    }
                }
            }
            _ => i += 1,
        }
    }
    if let Some(out) = out.as_mut() {
        out.push_str(&text[copied..]);
    }
    (f, out)
}

/// Cheap pre-check: only numbers with many digits or a large exponent can pass f64::MAX.
fn might_overflow(token: &str) -> bool {
    let digits = token.bytes().take_while(|c| *c != b'e' && *c != b'E').filter(u8::is_ascii_digit).count();
    let exp = token
        .find(['e', 'E'])
        .map(|at| token[at + 1..].trim_start_matches('+'))
        .and_then(|e| e.parse::<i64>().ok().or_else(|| (!e.starts_with('-')).then_some(i64::MAX)))
        .unwrap_or(0);
    digits as i64 + exp.min(1 << 20) > 300
}

/// Looks at a valid JSON text.
pub(crate) fn inspect(text: &str) -> Findings {
    run(text, false).0
}

/// The text with lone surrogates as `\ufffd` and numbers past f64 as `null`.
pub(crate) fn sanitize(text: &str) -> String {
    run(text, true).1.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings() {
        assert_eq!(inspect(r#"{"a":[1,"x"]}"#), Findings { depth: 2, ..Findings::default() });
        assert!(inspect(r#"["cut \ud83d"]"#).lone_surrogates);
        assert!(inspect(r#""\udc00""#).lone_surrogates);
        assert!(!inspect(r#""\ud83d\ude00 \\ud800""#).lone_surrogates, "a pair, and an escaped backslash");
        assert!(inspect("[1e400]").overflows);
        assert!(inspect("-1E+309").overflows);
        assert!(!inspect("[1e308, 1e-400, 123456789012345678901234567890]").overflows);
        assert!(inspect(&format!("1{}", "0".repeat(400))).overflows);
        assert!(!inspect(r#""1e400""#).overflows, "inside a string");
        assert_eq!(inspect(&("[".repeat(1000) + &"]".repeat(1000))).depth, 1000);
    }

    #[test]
    fn sanitize_keeps_offsets_for_surrogates() {
        let text = r#"{"k\ud800":["a\udfff", 1e400, -0, "\ud83d\ude00"]}"#;
        let s = sanitize(text);
        assert_eq!(s, r#"{"k\ufffd":["a\ufffd", null, -0, "\ud83d\ude00"]}"#);
        let only_surrogates = r#"["x\ud83d", {"y\udc00": 1}]"#;
        assert_eq!(sanitize(only_surrogates).len(), only_surrogates.len());
    }
}
