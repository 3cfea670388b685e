//! Connections that carry frames of bytes, and nothing else: the dialects (how bytes become
//! frames and which frames are keepalive), one TCP connect, one accept-and-admission component,
//! and one connection driver ([`link`]) that does keepalive, batching, write coalescing and the
//! per-connection limits for every dialect.
//!
//! What a payload means (requests, responses, ids, deadlines) belongs to the layers above: the
//! driver hands payloads to an [`Endpoint`] and sends what the endpoint gives back.

use std::net::SocketAddr;

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

/// The dialect names live with the codecs; re-exported here, where connections are made.
pub use crate::wire::{Transport, UnknownTransport};

use crate::wire::WireError;

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
