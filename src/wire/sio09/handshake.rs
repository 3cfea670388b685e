//! The handshake body the server answers to `GET /socket.io/1/` (spec/wire.md §4): session id,
//! timeouts and offered transports.

use super::{WireError, malformed, quote};

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
    use crate::wire::sio09::tests::{reason, s};

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
}
