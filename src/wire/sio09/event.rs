//! The `message` event pomelo wraps RPC payloads in (spec/wire.md §4): reading the payload out
//! of an event or json packet, and wrapping one the way the Node peers send it.

use super::{Packet, WireError, malformed, quote};
use crate::wire::json::{ScanError, Scanner, decode_str};

/// The RPC payload a packet carries, as raw JSON text (bytes untouched): the first argument of
/// an event named `message`, or the data of a json packet (the Node acceptor accepts both).
/// `Ok(None)` for packets that carry none (heartbeat, connect, message, …); an event with another
/// name or no argument, or invalid JSON, is [`WireError::Malformed`]. Id and endpoint are ignored.
pub fn rpc_payload(p: &Packet) -> Result<Option<&str>, WireError> {
    match p {
        Packet::Event { data, .. } => {
            // Node reads `.name` and `.args` of an object only.
            if !data.trim_start().starts_with('{') {
                return Err(malformed(format!("event data {} is not a JSON object", quote(data))));
            }
            let bad = |e: ScanError| malformed(format!("event data is not {{\"name\",\"args\"}} JSON: {e}"));
            let (mut name, mut first) = (None, None);
            let mut s = Scanner::new(data);
            s.object(|s, k| {
                let key = &data[k.span.clone()];
                match decode_str(key).as_deref() {
                    Some("name") => name = Some(s.value()?),
                    Some("args") if s.peek() == Some(b'[') => {
                        let mut seen = false;
                        s.array(|s| {
                            let v = s.value()?;
                            if !seen {
                                first = Some(v);
                                seen = true;
                            }
                            Ok(())
                        })?;
                    }
                    _ => {
                        s.value()?;
                    }
                }
                Ok(())
            })
            .map_err(bad)?;
            s.end().map_err(bad)?;
            let name = name.and_then(|n| decode_str(&data[n]).map(|n| n.into_owned())).unwrap_or_default();
            if name != "message" {
                return Err(malformed(format!("event {} is not \"message\"", quote(&name))));
            }
            match first {
                Some(span) => Ok(Some(&data[span])),
                None => Err(malformed("\"message\" event without arguments")),
            }
        }
        Packet::Json { data, .. } => {
            let span = crate::wire::json::scan_validate(data)
                .map_err(|e| malformed(format!("json packet data: {e}")))?;
            Ok(Some(&data[span]))
        }
        _ => Ok(None),
    }
}

/// Wraps an RPC package (raw JSON of one package or an array) as the Node peers send it:
/// `5:::{"name":"message","args":[<payload>]}`.
pub fn message_event(payload_json: &str) -> String {
    const HEAD: &str = r#"5:::{"name":"message","args":["#;
    const TAIL: &str = "]}";
    let mut out = String::with_capacity(HEAD.len() + payload_json.len() + TAIL.len());
    out.push_str(HEAD);
    out.push_str(payload_json);
    out.push_str(TAIL);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::sio09::parse;
    use crate::wire::sio09::tests::reason;

    #[test]
    fn rpc_payload_of_message_events_and_json() {
        let p = parse(r#"5:::{"name":"message","args":[ {"id":0,"msg":{"a":"é\u00e9"}} ,2]}"#).unwrap();
        assert_eq!(rpc_payload(&p).unwrap(), Some(r#"{"id":0,"msg":{"a":"é\u00e9"}}"#));
        let p = parse(r#"5:::{"args":[[{"id":1},{"id":2}]],"name":"message"}"#).unwrap();
        assert_eq!(rpc_payload(&p).unwrap(), Some(r#"[{"id":1},{"id":2}]"#));
        let p = parse(r#"5:::{"name":"mess\u0061ge","args":[1]}"#).unwrap();
        assert_eq!(rpc_payload(&p).unwrap(), Some("1"), "escaped name");
        let p = parse(r#"4:::{"id":0,"resp":[null]}"#).unwrap();
        assert_eq!(rpc_payload(&p).unwrap(), Some(r#"{"id":0,"resp":[null]}"#));
        for none in ["1::", "2::", "0::", "8::", "3:::text", "6:::1", "7:::1+0"] {
            assert_eq!(rpc_payload(&parse(none).unwrap()).unwrap(), None, "{none}");
        }
    }

    #[test]
    fn rpc_payload_errors() {
        for bad in [
            "5:::{",
            "5:::",
            r#"5:::{"name":"other","args":[1]}"#,
            r#"5:::{"name":"message"}"#,
            r#"5:::{"name":"message","args":[]}"#,
            r#"5:::{"name":"message","args":null}"#,
            r#"5:::{"name":"message","args":{"id":0}}"#,
            r#"5:::{"args":[1]}"#,
            r#"5:::{"name":"message","args":[1]} x"#,
            r#"5:::[1]"#,
            r#"5:::["message",[1]]"#,
            "4:::{",
            "4:::",
        ] {
            reason(rpc_payload(&parse(bad).unwrap()));
        }
    }

    #[test]
    fn message_event_is_the_node_wrapper() {
        let payload = r#"{"id":0,"msg":{"namespace":"user","args":["hello"]}}"#;
        let frame = message_event(payload);
        assert_eq!(frame, format!(r#"5:::{{"name":"message","args":[{payload}]}}"#));
        assert_eq!(rpc_payload(&parse(&frame).unwrap()).unwrap(), Some(payload));
    }
}
