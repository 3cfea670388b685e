//! The `sio09` dialect: socket.io 0.9 (protocol 1), pomelo-rpc 0.4's default `ws` transport.
//!
//! Acceptor (axum, [`server`]): `GET /socket.io/1/` handshake, WebSocket at
//! `/socket.io/1/websocket/<sid>` and xhr-polling at `/socket.io/1/xhr-polling/<sid>`
//! ([`polling`]); both end in the generic driver. Client ([`client`]): the HTTP handshake, then a
//! WebSocket (tokio-tungstenite). `2::` is the server's heartbeat: a client answers it, an
//! acceptor only notes it. Both sides go through one WebSocket adapter ([`ws`]); the acceptor
//! reads text frames as socket.io 0.9 does, bytes that are not UTF-8 as U+FFFD ([`text_frames`]).

use std::time::Duration;

use bytes::Bytes;

use super::Heartbeat;
use super::dialect::{Dialect, Inbound, Side};
use crate::wire::sio09::{self, Packet};

pub mod client;
mod polling;
pub(crate) mod server;
mod session;
mod text_frames;
mod upgrade;
mod ws;

pub use client::client_connect;

/// socket.io 0.9 acceptor settings; the defaults are socket.io 0.9.16's.
#[derive(Debug, Clone)]
pub struct Sio09Options {
    /// `2::` every `interval`; a client silent for `timeout` is dropped (advertised to clients).
    pub heartbeat: Heartbeat,
    /// Advertised close timeout; also how long a handshake may wait for its transport.
    pub close_timeout: Duration,
    /// How long an xhr-polling GET is held before it is answered with `8::`.
    pub polling_duration: Duration,
    /// Transports advertised in the handshake, in preference order.
    pub transports: Vec<String>,
}

impl Default for Sio09Options {
    fn default() -> Self {
        Sio09Options {
            heartbeat: Heartbeat { interval: Duration::from_secs(25), timeout: Duration::from_secs(60) },
            close_timeout: Duration::from_secs(60),
            polling_duration: Duration::from_secs(20),
            transports: vec!["websocket".into(), "xhr-polling".into()],
        }
    }
}

/// socket.io 0.9 as pomelo-rpc 0.4.11 uses it (event `message`, default namespace).
#[derive(Debug, Clone, Default)]
pub struct Sio09Dialect;

impl Dialect for Sio09Dialect {
    type Frame = Packet;
    const NAME: &'static str = "sio09";

    fn classify(&self, frame: Packet, side: Side) -> Inbound {
        match &frame {
            Packet::Event { .. } | Packet::Json { .. } => match sio09::rpc_payload(&frame) {
                Ok(Some(json)) => Inbound::Payload(Bytes::copy_from_slice(json.as_bytes())),
                Ok(None) => Inbound::Ignored(format!("socket.io packet {}", sio09::encode(&frame))),
                Err(e) => Inbound::Invalid(e.to_string()),
            },
            Packet::Heartbeat if side == Side::Client => Inbound::Ping,
            Packet::Heartbeat => Inbound::Pong,
            Packet::Connect { .. } => Inbound::Hello,
            Packet::Disconnect { .. } => Inbound::Bye,
            Packet::Error { reason, advice, .. } => {
                Inbound::Invalid(format!("socket.io error packet (reason {reason}, advice {advice})"))
            }
            Packet::Noop | Packet::Message { .. } | Packet::Ack { .. } => {
                Inbound::Ignored(format!("socket.io packet {}", sio09::encode(&frame)))
            }
        }
    }

    fn payload(&self, json: Bytes, _side: Side) -> Packet {
        let payload = String::from_utf8_lossy(&json);
        Packet::Event {
            id: String::new(),
            endpoint: String::new(),
            data: format!(r#"{{"name":"message","args":[{payload}]}}"#),
        }
    }

    fn ping(&self) -> Option<Packet> {
        Some(Packet::Heartbeat)
    }

    fn pong(&self) -> Option<Packet> {
        Some(Packet::Heartbeat)
    }

    fn goodbye(&self, _side: Side) -> Option<Packet> {
        Some(Packet::Disconnect { endpoint: String::new() })
    }
}
