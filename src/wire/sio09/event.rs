//! The `message` event pomelo wraps RPC payloads in (spec/wire.md §4): reading the payload out
//! of an event or json packet, and wrapping one the way the Node peers send it.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{Packet, WireError, malformed, quote};

/// The first element of a JSON array, borrowed raw; the rest is skipped without allocating.
struct FirstArg<'a>(Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstArg<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct First<'a>(PhantomData<&'a RawValue>);
        impl<'de: 'a, 'a> Visitor<'de> for First<'a> {
            type Value = FirstArg<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of event arguments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<&'de RawValue>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstArg(first))
            }
        }
        d.deserialize_seq(First(PhantomData))
    }
}

/// The JSON of an event packet: `{"name":…,"args":[…]}` (`args` absent when empty).
#[derive(Deserialize)]
struct EventData<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    args: Option<FirstArg<'a>>,
}

/// The RPC payload a packet carries, as raw JSON text (bytes untouched): the first argument of
/// an event named `message`, or the data of a json packet (the Node acceptor accepts both).
/// `Ok(None)` for packets that carry none (heartbeat, connect, message, …); an event with another
/// name or no argument, or invalid JSON, is [`WireError::Malformed`]. Id and endpoint are ignored.
pub fn rpc_payload(p: &Packet) -> Result<Option<&str>, WireError> {
    match p {
        Packet::Event { data, .. } => {
            // serde would also read a struct from an array; Node reads `.name` of an object only.
            if !data.trim_start().starts_with('{') {
                return Err(malformed(format!("event data {} is not a JSON object", quote(data))));
            }
            let ev: EventData<'_> = serde_json::from_str(data)
                .map_err(|e| malformed(format!("event data is not {{\"name\",\"args\"}} JSON: {e}")))?;
            if ev.name != "message" {
                return Err(malformed(format!("event {} is not \"message\"", quote(&ev.name))));
            }
            match ev.args {
                Some(FirstArg(Some(raw))) => Ok(Some(raw.get())),
                _ => Err(malformed("\"message\" event without arguments")),
            }
        }
        Packet::Json { data, .. } => {
            let raw: &RawValue =
                serde_json::from_str(data).map_err(|e| malformed(format!("json packet data: {e}")))?;
            Ok(Some(raw.get()))
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
