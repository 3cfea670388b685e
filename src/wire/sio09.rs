//! socket.io 0.9 (protocol 1) packets, the `ws` dialect of pomelo-rpc 0.2.9 / 0.4.11
//! (spec/wire.md §4): packet text, xhr-polling payload framing and the handshake body.
//!
//! Pure text codecs: the WebSocket / HTTP layers around them live in `transport`. The grammar and
//! every canonical form follow socket.io 0.9.16's own `lib/parser.js` (server) and
//! socket.io-client 0.9.16's copy, which agree byte for byte.
//!
//! `encode(parse(x)) == x` holds for every packet Node writes. The only texts `parse` accepts that
//! do not come back byte-exact are non-canonical empty optional parts, which Node's encoder drops
//! the same way: an empty data part after a trailing `:` on types 0, 1, 2, 3, 7 and 8 (`3:::`
//! → `3::`) and an empty advice after `+` in an error (`7:::1+` → `7:::1`).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::WireError;

/// Dialect name in [`WireError::Malformed`].
const DIALECT: &str = "sio09";

/// The separator of xhr-polling payload framing (U+FFFD REPLACEMENT CHARACTER).
const FRAME_MARK: char = '\u{FFFD}';

/// Longest piece of hostile input quoted back in an error message.
const QUOTE_MAX: usize = 32;

/// One socket.io 0.9 packet. Text fields hold the raw wire text (ids keep a trailing `+`,
/// JSON stays unparsed); [`encode`] expects them to satisfy the grammar [`parse`] enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0::[endpoint]`: leave a namespace (or, with the empty endpoint, the whole connection).
    Disconnect {
        /// Namespace; `""` is the default one.
        endpoint: String,
    },
    /// `1::[endpoint][:query]`: namespace connect; the server sends `1::` once the transport is up.
    Connect {
        /// Namespace; `""` is the default one. A `?` here stays part of the name, as in Node.
        endpoint: String,
        /// Node's `qs`, the data part; empty if none.
        query: String,
    },
    /// `2::`: heartbeat, sent by the server every 25 s and echoed by the client.
    Heartbeat,
    /// `3:[id]:[endpoint][:data]`: a plain text message (`send`).
    Message {
        /// Decimal message id, with a trailing `+` when an ack with data is requested; or empty.
        id: String,
        /// Namespace; `""` is the default one.
        endpoint: String,
        /// The text, possibly empty.
        data: String,
    },
    /// `4:[id]:[endpoint]:json`: a JSON message.
    Json {
        /// Decimal message id, with a trailing `+` when an ack with data is requested; or empty.
        id: String,
        /// Namespace; `""` is the default one.
        endpoint: String,
        /// Raw JSON text, not validated by [`parse`].
        data: String,
    },
    /// `5:[id]:[endpoint]:{"name":…,"args":[…]}`: an event; pomelo's RPC frames are these.
    Event {
        /// Decimal message id, with a trailing `+` when an ack with data is requested; or empty.
        id: String,
        /// Namespace; `""` is the default one.
        endpoint: String,
        /// Raw JSON text, not validated by [`parse`] (see [`rpc_payload`]).
        data: String,
    },
    /// `6:::<ackId>[+<JSON args>]`: acknowledgement of a message that asked for one.
    Ack {
        /// Everything after `6:::`; starts with the decimal ack id.
        data: String,
    },
    /// `7::[endpoint][:reason[+advice]]`: e.g. `7:::1+0` for an unknown session id.
    Error {
        /// Namespace; `""` is the default one.
        endpoint: String,
        /// Reason code as text: 0 transport not supported, 1 client not handshaken, 2 unauthorized.
        reason: String,
        /// Advice code as text: 0 reconnect; empty if none.
        advice: String,
    },
    /// `8::`: no-op, what a long poll answers when nothing happened for 20 s.
    Noop,
}

/// A [`WireError::Malformed`] for this dialect.
fn malformed(reason: impl Into<String>) -> WireError {
    WireError::Malformed { dialect: DIALECT, reason: reason.into() }
}

/// At most [`QUOTE_MAX`] characters of `s`, for error messages about hostile input.
fn quote(s: &str) -> String {
    let cut = s.char_indices().nth(QUOTE_MAX).map_or(s.len(), |(i, _)| i);
    let ellipsis = if cut < s.len() { "…" } else { "" };
    format!("{:?}{ellipsis}", &s[..cut])
}

/// The parts every packet shares: `<type>:<id>[+]:<endpoint>[:<data>]`, borrowed from the text.
struct Parts<'a> {
    /// The type digit, `b'0'..=b'8'`.
    kind: u8,
    /// Decimal id plus optional `+`, or empty.
    id: &'a str,
    /// Up to the next `:` or the end.
    endpoint: &'a str,
    /// The rest after the `:` that ends the endpoint, if there is one.
    data: Option<&'a str>,
}

/// Splits a packet text into its parts (spec/wire.md §4.3) without allocating.
fn split(text: &str) -> Result<Parts<'_>, WireError> {
    let Some(colon) = text.find(':') else {
        return Err(if text.is_empty() {
            malformed("empty packet")
        } else {
            malformed(format!("no ':' in packet {}", quote(text)))
        });
    };
    let kind = match text.as_bytes() {
        [k @ b'0'..=b'8', b':', ..] => *k,
        _ => return Err(malformed(format!("unknown packet type {}", quote(&text[..colon])))),
    };
    let rest = &text[2..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let plus = usize::from(rest.as_bytes().get(digits) == Some(&b'+'));
    if plus == 1 && digits == 0 {
        return Err(malformed("ack marker '+' without a message id"));
    }
    let id_end = digits + plus;
    if rest.as_bytes().get(id_end) != Some(&b':') {
        return Err(malformed(format!("bad message id in packet {}", quote(text))));
    }
    let after_id = &rest[id_end + 1..];
    let (endpoint, data) = match after_id.find(':') {
        Some(i) => (&after_id[..i], Some(&after_id[i + 1..])),
        None => (after_id, None),
    };
    Ok(Parts { kind, id: &rest[..id_end], endpoint, data })
}

/// Human name of a packet type digit, for error messages.
fn kind_name(kind: u8) -> &'static str {
    match kind {
        b'0' => "disconnect",
        b'1' => "connect",
        b'2' => "heartbeat",
        b'3' => "message",
        b'4' => "json",
        b'5' => "event",
        b'6' => "ack",
        b'7' => "error",
        _ => "noop",
    }
}

impl<'a> Parts<'a> {
    /// Refuses an id on a type whose variant has no place for one.
    fn no_id(&self) -> Result<(), WireError> {
        if self.id.is_empty() {
            Ok(())
        } else {
            Err(malformed(format!("{} packet with a message id {}", kind_name(self.kind), quote(self.id))))
        }
    }

    /// Refuses an endpoint on a type whose variant has no place for one.
    fn no_endpoint(&self) -> Result<(), WireError> {
        if self.endpoint.is_empty() {
            Ok(())
        } else {
            Err(malformed(format!(
                "{} packet with an endpoint {}",
                kind_name(self.kind),
                quote(self.endpoint)
            )))
        }
    }

    /// Refuses data on a type that carries none; an empty data part (`2:::`) is accepted.
    fn no_data(&self) -> Result<(), WireError> {
        match self.data {
            None | Some("") => Ok(()),
            Some(d) => Err(malformed(format!("{} packet with data {}", kind_name(self.kind), quote(d)))),
        }
    }

    /// The data part of a type that must have one (json, event, ack); it may be empty.
    fn required_data(&self) -> Result<&'a str, WireError> {
        self.data.ok_or_else(|| malformed(format!("{} packet without data", kind_name(self.kind))))
    }
}

/// Parses one packet; the hot path of every RPC frame (one scan, no allocation beyond the
/// owned fields). Anything outside the grammar, or a field the variant cannot hold, is
/// [`WireError::Malformed`].
pub fn parse(text: &str) -> Result<Packet, WireError> {
    let p = split(text)?;
    Ok(match p.kind {
        b'0' => {
            p.no_id()?;
            p.no_data()?;
            Packet::Disconnect { endpoint: p.endpoint.to_owned() }
        }
        b'1' => {
            p.no_id()?;
            Packet::Connect { endpoint: p.endpoint.to_owned(), query: p.data.unwrap_or("").to_owned() }
        }
        b'2' | b'8' => {
            p.no_id()?;
            p.no_endpoint()?;
            p.no_data()?;
            if p.kind == b'2' { Packet::Heartbeat } else { Packet::Noop }
        }
        b'3' => Packet::Message {
            id: p.id.to_owned(),
            endpoint: p.endpoint.to_owned(),
            data: p.data.unwrap_or("").to_owned(),
        },
        b'4' => Packet::Json {
            id: p.id.to_owned(),
            endpoint: p.endpoint.to_owned(),
            data: p.required_data()?.to_owned(),
        },
        b'5' => Packet::Event {
            id: p.id.to_owned(),
            endpoint: p.endpoint.to_owned(),
            data: p.required_data()?.to_owned(),
        },
        b'6' => {
            p.no_id()?;
            p.no_endpoint()?;
            let data = p.required_data()?;
            let digits = data.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || !matches!(data.as_bytes().get(digits), None | Some(b'+')) {
                return Err(malformed(format!("ack data {} is not <ackId>[+<args>]", quote(data))));
            }
            Packet::Ack { data: data.to_owned() }
        }
        _ => {
            // b'7': `split` admits only 0..=8.
            p.no_id()?;
            let data = p.data.unwrap_or("");
            let (reason, advice) = data.split_once('+').unwrap_or((data, ""));
            Packet::Error {
                endpoint: p.endpoint.to_owned(),
                reason: reason.to_owned(),
                advice: advice.to_owned(),
            }
        }
    })
}

/// Appends `<type>:<id>:<endpoint>` and, if `data` is given, `:<data>`.
fn put(out: &mut String, kind: char, id: &str, endpoint: &str, data: Option<&str>) {
    out.push(kind);
    out.push(':');
    out.push_str(id);
    out.push(':');
    out.push_str(endpoint);
    if let Some(d) = data {
        out.push(':');
        out.push_str(d);
    }
}

/// Encodes a packet exactly as socket.io 0.9.16's `encodePacket` does (`1::`, `2::`, `0::`,
/// `8::`, `7:::1+0`, `5:::{…}`); the inverse of [`parse`].
pub fn encode(p: &Packet) -> String {
    let mut out = String::with_capacity(
        4 + match p {
            Packet::Message { id, endpoint, data }
            | Packet::Json { id, endpoint, data }
            | Packet::Event { id, endpoint, data } => id.len() + endpoint.len() + data.len(),
            Packet::Ack { data } => data.len(),
            _ => 16,
        },
    );
    fn nonempty(s: &str) -> Option<&str> {
        (!s.is_empty()).then_some(s)
    }
    match p {
        Packet::Disconnect { endpoint } => put(&mut out, '0', "", endpoint, None),
        Packet::Connect { endpoint, query } => put(&mut out, '1', "", endpoint, nonempty(query)),
        Packet::Heartbeat => out.push_str("2::"),
        Packet::Message { id, endpoint, data } => put(&mut out, '3', id, endpoint, nonempty(data)),
        Packet::Json { id, endpoint, data } => put(&mut out, '4', id, endpoint, Some(data)),
        Packet::Event { id, endpoint, data } => put(&mut out, '5', id, endpoint, Some(data)),
        Packet::Ack { data } => put(&mut out, '6', "", "", Some(data)),
        Packet::Error { endpoint, reason, advice } => {
            put(&mut out, '7', "", endpoint, None);
            if !reason.is_empty() || !advice.is_empty() {
                out.push(':');
                out.push_str(reason);
                if !advice.is_empty() {
                    out.push('+');
                    out.push_str(advice);
                }
            }
        }
        Packet::Noop => out.push_str("8::"),
    }
    out
}

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

/// The handshake body `<sid>:<heartbeat timeout s>:<close timeout s>:<transports>` the server
/// answers to `GET /socket.io/1/`, e.g. `65Vc2zigRViUhSwIE_Hq:60:60:websocket,xhr-polling`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// Session id; part of every later transport URL.
    pub sid: String,
    /// Heartbeat timeout in seconds; `None` = empty field (heartbeats disabled on the server).
    pub heartbeat_timeout: Option<u64>,
    /// Close timeout in seconds; `None` = empty field.
    pub close_timeout: Option<u64>,
    /// Transports the server offers, in its order; empty field = none listed.
    pub transports: Vec<String>,
}

/// Parses a timeout field: empty → `None`, otherwise whole seconds.
fn timeout_field(name: &str, field: &str) -> Result<Option<u64>, WireError> {
    if field.is_empty() {
        return Ok(None);
    }
    if !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(format!("handshake {name} {} is not whole seconds", quote(field))));
    }
    field.parse().map(Some).map_err(|_| malformed(format!("handshake {name} {} is too large", quote(field))))
}

/// Parses a handshake body; exactly four `:`-separated fields and a non-empty sid.
pub fn parse_handshake(body: &str) -> Result<Handshake, WireError> {
    let mut fields = body.split(':');
    let (Some(sid), Some(hb), Some(close), Some(transports), None) =
        (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed(format!("handshake {} does not have four ':' fields", quote(body))));
    };
    if sid.is_empty() {
        return Err(malformed("handshake with an empty session id"));
    }
    Ok(Handshake {
        sid: sid.to_owned(),
        heartbeat_timeout: timeout_field("heartbeat timeout", hb)?,
        close_timeout: timeout_field("close timeout", close)?,
        transports: if transports.is_empty() {
            Vec::new()
        } else {
            transports.split(',').map(str::to_owned).collect()
        },
    })
}

/// Encodes a handshake body as the Node server writes it (`None` → empty field).
pub fn encode_handshake(h: &Handshake) -> String {
    let secs = |t: Option<u64>| t.map(|s| s.to_string()).unwrap_or_default();
    format!("{}:{}:{}:{}", h.sid, secs(h.heartbeat_timeout), secs(h.close_timeout), h.transports.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(x: &str) -> String {
        x.to_owned()
    }

    fn reason(r: Result<impl fmt::Debug, WireError>) -> String {
        match r {
            Err(WireError::Malformed { dialect: "sio09", reason }) => reason,
            other => panic!("expected a sio09 Malformed error, got {other:?}"),
        }
    }

    /// Every canonical form from spec/wire.md §4 and the Node encoder, with its parse.
    fn table() -> Vec<(&'static str, Packet)> {
        vec![
            ("0::", Packet::Disconnect { endpoint: s("") }),
            ("0::/chat", Packet::Disconnect { endpoint: s("/chat") }),
            ("1::", Packet::Connect { endpoint: s(""), query: s("") }),
            ("1::/chat", Packet::Connect { endpoint: s("/chat"), query: s("") }),
            ("1::/chat?x=1", Packet::Connect { endpoint: s("/chat?x=1"), query: s("") }),
            ("1::/chat:a=1&b=2", Packet::Connect { endpoint: s("/chat"), query: s("a=1&b=2") }),
            ("2::", Packet::Heartbeat),
            ("3::", Packet::Message { id: s(""), endpoint: s(""), data: s("") }),
            ("3:::hi: there", Packet::Message { id: s(""), endpoint: s(""), data: s("hi: there") }),
            ("3:1::blah", Packet::Message { id: s("1"), endpoint: s(""), data: s("blah") }),
            ("3:12+:/a:b:c", Packet::Message { id: s("12+"), endpoint: s("/a"), data: s("b:c") }),
            ("4:::{\"a\":1}", Packet::Json { id: s(""), endpoint: s(""), data: s("{\"a\":1}") }),
            ("4:::", Packet::Json { id: s(""), endpoint: s(""), data: s("") }),
            ("4:7:/n:[\"x:y\"]", Packet::Json { id: s("7"), endpoint: s("/n"), data: s("[\"x:y\"]") }),
            (
                "5:::{\"name\":\"message\",\"args\":[{\"id\":0}]}",
                Packet::Event {
                    id: s(""),
                    endpoint: s(""),
                    data: s("{\"name\":\"message\",\"args\":[{\"id\":0}]}"),
                },
            ),
            (
                "5:3+:/chat:{\"name\":\"a:b\"}",
                Packet::Event { id: s("3+"), endpoint: s("/chat"), data: s("{\"name\":\"a:b\"}") },
            ),
            ("6:::4", Packet::Ack { data: s("4") }),
            ("6:::4+[\"A\",{\"k\":\":\"}]", Packet::Ack { data: s("4+[\"A\",{\"k\":\":\"}]") }),
            ("7::", Packet::Error { endpoint: s(""), reason: s(""), advice: s("") }),
            ("7:::1+0", Packet::Error { endpoint: s(""), reason: s("1"), advice: s("0") }),
            ("7:::2", Packet::Error { endpoint: s(""), reason: s("2"), advice: s("") }),
            ("7:::+0", Packet::Error { endpoint: s(""), reason: s(""), advice: s("0") }),
            ("7::/chat:2", Packet::Error { endpoint: s("/chat"), reason: s("2"), advice: s("") }),
            ("8::", Packet::Noop),
        ]
    }

    #[test]
    fn every_type_round_trips_byte_exactly() {
        for (text, packet) in table() {
            assert_eq!(parse(text).unwrap(), packet, "parse {text:?}");
            assert_eq!(encode(&packet), text, "encode {packet:?}");
        }
    }

    #[test]
    fn exact_node_bytes() {
        // spec/wire.md §4.2: frame payloads `31 3a 3a`, `30 3a 3a`, heartbeats, the unknown-sid error.
        assert_eq!(encode(&Packet::Connect { endpoint: s(""), query: s("") }).as_bytes(), b"1::");
        assert_eq!(encode(&Packet::Disconnect { endpoint: s("") }).as_bytes(), b"0::");
        assert_eq!(encode(&Packet::Heartbeat), "2::");
        assert_eq!(encode(&Packet::Noop), "8::");
        let err = Packet::Error { endpoint: s(""), reason: s("1"), advice: s("0") };
        assert_eq!(encode(&err), "7:::1+0");
        assert_eq!(parse("7:::1+0").unwrap(), err);
        let frame = r#"5:::{"name":"message","args":[{"id":0,"resp":[null,"echo: hello"]}]}"#;
        assert_eq!(encode(&parse(frame).unwrap()), frame);
    }

    #[test]
    fn ack_with_data_keeps_the_plus() {
        let p = parse("5:1+::{\"name\":\"message\",\"args\":[1]}").unwrap();
        assert!(matches!(&p, Packet::Event { id, .. } if id == "1+"));
        assert_eq!(encode(&p), "5:1+::{\"name\":\"message\",\"args\":[1]}");
        let p = parse("3:42::x").unwrap();
        assert!(matches!(&p, Packet::Message { id, .. } if id == "42"));
    }

    #[test]
    fn colons_belong_to_the_data_never_to_the_endpoint() {
        let p = parse("3::/a:b::c:").unwrap();
        assert_eq!(p, Packet::Message { id: s(""), endpoint: s("/a"), data: s("b::c:") });
        assert_eq!(encode(&p), "3::/a:b::c:");
        let p = parse("5::/ns::::").unwrap();
        assert_eq!(p, Packet::Event { id: s(""), endpoint: s("/ns"), data: s(":::") });
    }

    #[test]
    fn non_canonical_empty_parts_normalise_like_node() {
        for (text, canonical) in [
            ("0:::", "0::"),
            ("1:::", "1::"),
            ("2:::", "2::"),
            ("3:::", "3::"),
            ("7:::", "7::"),
            ("7:::1+", "7:::1"),
            ("7:::+", "7::"),
            ("8:::", "8::"),
        ] {
            assert_eq!(encode(&parse(text).unwrap()), canonical, "{text:?}");
        }
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(reason(parse("")), "empty packet");
        assert!(reason(parse("x")).contains("no ':'"));
        assert!(reason(parse("9::")).contains("unknown packet type \"9\""));
        assert!(reason(parse("x::")).contains("unknown packet type"));
        assert!(reason(parse("55::")).contains("unknown packet type"));
        assert!(reason(parse(" 5:::{}")).contains("unknown packet type"));
        assert!(reason(parse(&"y".repeat(1000))).len() < 100, "hostile input is not echoed whole");
        for bad in ["5:", "2:", "5:x::{}", "5:1", "5:1+", "5:+::{}", "5:1++::{}", "5:-1::{}"] {
            reason(parse(bad));
        }
        // Fields the variant cannot hold.
        for bad in
            ["2::/ns", "2:1::", "2:::x", "8::/ns", "0:1::", "0:::x", "1:1::", "7:1:::1", "6:1:::1", "6::/n:1"]
        {
            reason(parse(bad));
        }
        // Types whose data is required; ack data must start with the ack id.
        for bad in ["4::", "5::", "5::/ns", "6::", "6:::", "6:::x", "6:::1x", "6:::+[1]"] {
            reason(parse(bad));
        }
    }

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

    #[test]
    fn handshake_round_trips() {
        let body = "65Vc2zigRViUhSwIE_Hq:60:60:websocket,htmlfile,xhr-polling,jsonp-polling";
        let h = parse_handshake(body).unwrap();
        assert_eq!(
            h,
            Handshake {
                sid: s("65Vc2zigRViUhSwIE_Hq"),
                heartbeat_timeout: Some(60),
                close_timeout: Some(60),
                transports: vec![s("websocket"), s("htmlfile"), s("xhr-polling"), s("jsonp-polling")],
            }
        );
        assert_eq!(encode_handshake(&h), body);
        let h = parse_handshake("abc:::").unwrap();
        assert_eq!(
            h,
            Handshake { sid: s("abc"), heartbeat_timeout: None, close_timeout: None, transports: vec![] }
        );
        assert_eq!(encode_handshake(&h), "abc:::");
        assert_eq!(encode_handshake(&parse_handshake("x::25:websocket").unwrap()), "x::25:websocket");
    }

    #[test]
    fn handshake_garbage_is_malformed() {
        for bad in [
            "",
            "sid",
            "sid:60:60",
            "sid:60:60:ws:extra",
            ":60:60:ws",
            "s:6.5:60:ws",
            "s:60:-1:ws",
            "s: 60:60:ws",
        ] {
            reason(parse_handshake(bad));
        }
    }

    /// Valid field values for generated packets.
    fn id() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[0-9]{1,4}\\+?"]
    }
    fn endpoint() -> impl Strategy<Value = String> {
        "[^:]{0,8}"
    }
    fn text() -> impl Strategy<Value = String> {
        ".{0,16}"
    }
    fn packet() -> impl Strategy<Value = Packet> {
        prop_oneof![
            endpoint().prop_map(|endpoint| Packet::Disconnect { endpoint }),
            (endpoint(), text()).prop_map(|(endpoint, query)| Packet::Connect { endpoint, query }),
            Just(Packet::Heartbeat),
            (id(), endpoint(), text()).prop_map(|(id, endpoint, data)| Packet::Message {
                id,
                endpoint,
                data
            }),
            (id(), endpoint(), text()).prop_map(|(id, endpoint, data)| Packet::Json { id, endpoint, data }),
            (id(), endpoint(), text()).prop_map(|(id, endpoint, data)| Packet::Event { id, endpoint, data }),
            ("[0-9]{1,3}", prop::option::of(text()))
                .prop_map(|(n, a)| Packet::Ack { data: a.map_or(n.clone(), |a| format!("{n}+{a}")) }),
            (endpoint(), "[0-9]{0,2}", ".{0,4}").prop_map(|(endpoint, reason, advice)| Packet::Error {
                endpoint,
                reason,
                advice
            }),
            Just(Packet::Noop),
        ]
        .prop_filter(
            "reason cannot contain '+'",
            |p| !matches!(p, Packet::Error { reason, .. } if reason.contains('+')),
        )
    }

    proptest! {
        #[test]
        fn generated_packets_round_trip(p in packet()) {
            let text = encode(&p);
            prop_assert_eq!(parse(&text).unwrap(), p);
        }

        #[test]
        fn generated_payloads_round_trip(packets in prop::collection::vec(".{1,12}", 0..6)) {
            let body = encode_payload(&packets);
            // A lone packet is sent unframed, so it must not itself look framed.
            prop_assume!(packets.len() != 1 || !packets[0].starts_with(FRAME_MARK));
            prop_assert_eq!(decode_payload(&body).unwrap(), packets);
        }

        #[test]
        fn parse_is_total_and_canonical(text in prop_oneof![".{0,24}", "[0-9x][0-9+:/a{}\"]{0,12}"]) {
            if let Ok(p) = parse(&text) {
                prop_assert_eq!(parse(&encode(&p)).unwrap(), p);
            }
        }
    }
}
