//! xhr-polling payload framing (spec/wire.md §4): several packet texts in one HTTP body, each
//! framed by U+FFFD and its length in UTF-16 code units.

use super::{WireError, malformed, quote};

/// The separator of xhr-polling payload framing (U+FFFD REPLACEMENT CHARACTER).
const FRAME_MARK: char = '\u{FFFD}';

/// Length of `s` in UTF-16 code units (what a JavaScript `length` counts), from its UTF-8 bytes:
/// every character counts one, a four-byte one (outside the BMP) two.
pub fn utf16_len(s: &str) -> usize {
    s.bytes().map(|b| usize::from(b & 0xC0 != 0x80) + usize::from(b >= 0xF0)).sum()
}

/// Byte length of the prefix of `s` that is exactly `units` UTF-16 code units long.
fn utf16_prefix(s: &str, units: usize) -> Result<usize, WireError> {
    let mut n = 0;
    for (i, c) in s.char_indices() {
        if n == units {
            return Ok(i);
        }
        n += c.len_utf16();
        if n > units {
            return Err(malformed(format!("payload length {units} splits a surrogate pair")));
        }
    }
    if n == units {
        Ok(s.len())
    } else {
        Err(malformed(format!("payload length {units} runs past the body ({n} UTF-16 units left)")))
    }
}

/// Splits an xhr-polling body into packet texts: `U+FFFD <len> U+FFFD <packet>` repeated, `len`
/// in UTF-16 code units; a body not starting with U+FFFD is one packet, an empty body none.
/// A missing or non-decimal length, a length running past the body, an empty packet or junk
/// between packets is [`WireError::Malformed`].
pub fn decode_payload(body: &str) -> Result<Vec<String>, WireError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let Some(mut rest) = body.strip_prefix(FRAME_MARK) else {
        return Ok(vec![body.to_owned()]);
    };
    let mut packets = Vec::new();
    loop {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let Some(after) = rest[digits..].strip_prefix(FRAME_MARK) else {
            return Err(malformed(format!("bad payload length before {}", quote(&rest[digits..]))));
        };
        let units: usize =
            rest[..digits].parse().map_err(|_| malformed("missing or oversized payload length"))?;
        if units == 0 {
            return Err(malformed("empty packet in payload"));
        }
        let end = utf16_prefix(after, units)?;
        packets.push(after[..end].to_owned());
        rest = &after[end..];
        if rest.is_empty() {
            return Ok(packets);
        }
        rest = rest
            .strip_prefix(FRAME_MARK)
            .ok_or_else(|| malformed(format!("junk after a payload packet: {}", quote(rest))))?;
    }
}

/// Joins packet texts into one xhr-polling body as Node's `encodePayload` does: one packet as
/// is, several each framed by `U+FFFD <UTF-16 length> U+FFFD`, none as the empty body.
pub fn encode_payload(packets: &[String]) -> String {
    if let [one] = packets {
        return one.clone();
    }
    let mut out = String::with_capacity(packets.iter().map(|p| p.len() + 12).sum());
    for p in packets {
        out.push(FRAME_MARK);
        out.push_str(&utf16_len(p).to_string());
        out.push(FRAME_MARK);
        out.push_str(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::sio09::tests::{reason, s};
    use proptest::prelude::*;

    #[test]
    fn payload_lengths_count_utf16_units() {
        // é is one UTF-16 unit (two UTF-8 bytes); 😀 is a surrogate pair (two units, four bytes).
        assert_eq!(utf16_len("é"), 1);
        assert_eq!(utf16_len("😀"), 2);
        assert_eq!(utf16_len("a€😀"), 4);
        let packets = vec![s("3:::é"), s("3:::😀"), s("2::")];
        let body = encode_payload(&packets);
        assert_eq!(body, "\u{FFFD}5\u{FFFD}3:::é\u{FFFD}6\u{FFFD}3:::😀\u{FFFD}3\u{FFFD}2::");
        assert_eq!(decode_payload(&body).unwrap(), packets);
        // A length that would cut the pair, or count bytes instead of units, is refused.
        assert!(reason(decode_payload("\u{FFFD}5\u{FFFD}3:::😀")).contains("surrogate"));
        assert!(reason(decode_payload("\u{FFFD}8\u{FFFD}3:::😀")).contains("runs past"));
        assert!(reason(decode_payload("\u{FFFD}6\u{FFFD}3:::é")).contains("runs past"));
    }

    #[test]
    fn payload_single_empty_and_spec_example() {
        assert_eq!(decode_payload("1::").unwrap(), vec![s("1::")]);
        assert_eq!(encode_payload(&[s("1::")]), "1::");
        assert_eq!(decode_payload("").unwrap(), Vec::<String>::new());
        assert_eq!(encode_payload(&[]), "");
        let a = r#"5:::{"name":"message","args":[{"id":1,"resp":[null,"echo: b"]}]}"#;
        assert_eq!(a.len(), 64);
        let body = format!("\u{FFFD}64\u{FFFD}{a}\u{FFFD}3\u{FFFD}8::");
        assert_eq!(decode_payload(&body).unwrap(), vec![s(a), s("8::")]);
        assert_eq!(encode_payload(&decode_payload(&body).unwrap()), body);
    }

    #[test]
    fn payload_garbage_is_malformed() {
        for bad in [
            "\u{FFFD}",
            "\u{FFFD}\u{FFFD}2::",
            "\u{FFFD}x\u{FFFD}2::",
            "\u{FFFD} 3\u{FFFD}2::",
            "\u{FFFD}+3\u{FFFD}2::",
            "\u{FFFD}3",
            "\u{FFFD}0\u{FFFD}",
            "\u{FFFD}4\u{FFFD}2::",
            "\u{FFFD}3\u{FFFD}2::x",
            "\u{FFFD}3\u{FFFD}2::\u{FFFD}",
            "\u{FFFD}99999999999999999999999\u{FFFD}2::",
        ] {
            reason(decode_payload(bad));
        }
    }

    proptest! {
        #[test]
        fn generated_payloads_round_trip(packets in prop::collection::vec(".{1,12}", 0..6)) {
            let body = encode_payload(&packets);
            // A lone packet is sent unframed, so it must not itself look framed.
            prop_assume!(packets.len() != 1 || !packets[0].starts_with(FRAME_MARK));
            prop_assert_eq!(decode_payload(&body).unwrap(), packets);
        }
    }
}
