//! Text-level steps of Node's reading: `buffer.toString()` (invalid UTF-8 becomes U+FFFD) and
//! decoding one JSON string token with lone surrogates as U+FFFD.

use std::borrow::Cow;

use bytes::Bytes;
use bytestring::ByteString;

/// `buffer.toString()`: the bytes as UTF-8, each maximal invalid subsequence replaced by U+FFFD
/// (the WHATWG decoder's rule, which Rust's lossy conversion follows). No copy when the bytes are
/// valid UTF-8 already.
pub fn lossy_utf8(bytes: Bytes) -> ByteString {
    match ByteString::try_from(bytes.clone()) {
        Ok(s) => s,
        Err(_) => ByteString::from(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

fn hex4(b: &[u8]) -> Option<u16> {
    let s = std::str::from_utf8(b.get(..4)?).ok()?;
    u16::from_str_radix(s, 16).ok()
}

/// Decodes a JSON string token (quotes included) into its text; a lone surrogate escape becomes
/// U+FFFD, as a Rust `String` cannot hold it. Borrows when the token has no escape. Returns
/// `None` when `token` is not a string token.
pub fn decode_str(token: &str) -> Option<Cow<'_, str>> {
    let inner = token.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    let b = inner.as_bytes();
    let mut out = String::with_capacity(inner.len());
    let mut i = 0;
    while i < b.len() {
        let Some(off) = b[i..].iter().position(|&c| c == b'\\') else {
            out.push_str(&inner[i..]);
            break;
        };
        out.push_str(&inner[i..i + off]);
        i += off + 1;
        let esc = *b.get(i)?;
        i += 1;
        let simple = match esc {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = hex4(&b[i..])?;
                i += 4;
                let ch = match unit {
                    0xD800..=0xDBFF => {
                        let low = (b.get(i..i + 2) == Some(b"\\u")).then(|| hex4(&b[i + 2..])).flatten();
                        match low {
                            Some(lo @ 0xDC00..=0xDFFF) => {
                                i += 6;
                                let cp =
                                    0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(lo) - 0xDC00);
                                char::from_u32(cp).unwrap_or('\u{FFFD}')
                            }
                            _ => '\u{FFFD}',
                        }
                    }
                    0xDC00..=0xDFFF => '\u{FFFD}',
                    u => char::from_u32(u32::from(u)).unwrap_or('\u{FFFD}'),
                };
                out.push(ch);
                continue;
            }
            _ => return None,
        };
        out.push(simple);
    }
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossy_matches_node_buffer_to_string() {
        // Node: Buffer.from([0x61,0xff,0x62,0xed,0xa0,0x80,0x63]).toString() === 'a\ufffdb\ufffd\ufffd\ufffdc'
        let s = lossy_utf8(Bytes::from_static(b"a\xffb\xed\xa0\x80c"));
        assert_eq!(&*s, "a\u{FFFD}b\u{FFFD}\u{FFFD}\u{FFFD}c");
        let valid = Bytes::from_static("ok é".as_bytes());
        assert_eq!(&*lossy_utf8(valid), "ok é");
    }

    #[test]
    fn strings_decode_with_lone_surrogates_replaced() {
        assert_eq!(decode_str(r#""plain""#).unwrap(), "plain");
        assert!(matches!(decode_str(r#""plain""#).unwrap(), Cow::Borrowed(_)));
        assert_eq!(decode_str(r#""a\"b\\c\/\n\u00e9""#).unwrap(), "a\"b\\c/\né");
        assert_eq!(decode_str(r#""\ud83d\ude00""#).unwrap(), "😀");
        assert_eq!(decode_str(r#""cut \ud83d""#).unwrap(), "cut \u{FFFD}");
        assert_eq!(decode_str(r#""\udc00x""#).unwrap(), "\u{FFFD}x");
        assert_eq!(decode_str(r#""\ud83d\u0041""#).unwrap(), "\u{FFFD}A");
        assert!(decode_str("42").is_none());
    }
}
