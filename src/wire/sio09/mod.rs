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
//!
//! Layout: the packet text codec ([`Packet`], [`parse`], [`encode`]) lives here; the `message`
//! event wrapping of RPC payloads in `event`, xhr-polling payload framing in `polling`, the
//! handshake body in `handshake`.

mod event;
mod handshake;
mod polling;
#[cfg(test)]
mod tests;

pub use event::{message_event, rpc_payload};
pub use handshake::{Handshake, encode_handshake, parse_handshake};
pub use polling::{decode_payload, encode_payload, utf16_len};

use super::WireError;

/// Dialect name in [`WireError::Malformed`].
const DIALECT: &str = "sio09";

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
