//! Connections that carry frames of bytes, and nothing else: the dialects (how bytes become
//! frames and which frames are keepalive), one TCP connect, one accept-and-admission component,
//! and one connection driver ([`link`]) that does keepalive, batching, write coalescing and the
//! per-connection limits for every dialect.
//!
//! What a payload means (requests, responses, ids, deadlines) belongs to the layers above: the
//! driver hands payloads to an [`Endpoint`] and sends what the endpoint gives back.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

mod accept;
mod connect;
mod dialect;
mod framed;
pub mod link;
pub mod mqtt;
pub mod pinus_tcp;
mod serve;
mod serve_options;
pub mod sio09;
pub mod tcp;
mod whitelist;

pub use accept::{Accepted, Admission, AdmissionOptions, AdmittedStream, SlotGuard};
pub use connect::{Connect, ConnectOptions, connect_dialect, tcp_connect};
pub(crate) use dialect::split_framed;
pub use dialect::{Connection, Dialect, FrameSink, FrameStream, Inbound, Side, StreamDialect};
pub use link::{CloseReason, Endpoint, Heartbeat, LinkOptions, Outbox};
pub use serve::serve;
pub use serve_options::{EndpointFactory, ServeOptions};
pub use sio09::Sio09Options;
pub use whitelist::Whitelist;

use crate::wire::WireError;

/// The dialects this build can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Native TCP with stream-pkg framing.
    Tcp,
    /// MQTT 3.1.1, topic `rpc` (pomelo 2.x / pinus default).
    Mqtt,
    /// pinus-rpc's `tcp`: stream-pkg with a type byte, pings every 25 s.
    PinusTcp,
    /// socket.io 0.9 (pomelo-rpc 0.4 `ws`, the pomelo 1.x default).
    Sio09,
}

impl Transport {
    /// Every transport, for help texts and matrices.
    pub const ALL: [Transport; 4] = [Transport::Tcp, Transport::Mqtt, Transport::PinusTcp, Transport::Sio09];

    /// The name used on the command line and in pomelo configs.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Mqtt => "mqtt",
            Transport::PinusTcp => "pinus-tcp",
            Transport::Sio09 => "sio09",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A transport name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport {0:?} (expected tcp, mqtt, pinus-tcp or sio09)")]
pub struct UnknownTransport(pub String);

impl FromStr for Transport {
    type Err = UnknownTransport;
    fn from_str(s: &str) -> Result<Self, UnknownTransport> {
        Transport::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownTransport(s.to_string()))
    }
}

/// Who is on the other end of an accepted connection.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Remote socket address.
    pub addr: SocketAddr,
    /// Connection number within this listener, from 1.
    pub conn: u64,
}

/// Errors of the transport layer: what happened to a connection or a listener.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The TCP connection could not be made.
    #[error(
        "cannot connect to {}: {source} (is the server running and the port right?)",
        server_at(server, addr)
    )]
    Connect {
        /// Server id.
        server: String,
        /// Address tried.
        addr: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The peer broke the protocol during a handshake.
    #[error("handshake with {server} failed: {reason}")]
    Handshake {
        /// Server id.
        server: String,
        /// What went wrong.
        reason: String,
    },
    /// A whitelist pattern is not a valid regular expression.
    #[error("invalid --whitelist pattern {pattern:?}: {source}")]
    Whitelist {
        /// The pattern.
        pattern: String,
        /// The regex error.
        source: regex::Error,
    },
    /// A codec error.
    #[error(transparent)]
    Wire(#[from] WireError),
}

fn server_at(server: &str, addr: &str) -> String {
    if server == addr { addr.to_string() } else { format!("{server} at {addr}") }
}
