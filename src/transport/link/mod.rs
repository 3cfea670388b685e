//! The connection driver every dialect and both sides share: one task per connection that
//! reads frames, hands payloads to an [`Endpoint`], sends what the endpoint produces (coalesced
//! into one write per round, or batched into JSON arrays with `bufferMsg`), and keeps the
//! connection alive (probes, answers, silence limits). No task per request, no channel between
//! reading and writing: a request whose handler is ready is answered in the same poll that read
//! it.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio_util::sync::CancellationToken;

mod driver;

use super::dialect::{Connection, Dialect, Side};
use crate::wire::WireError;

/// Server-driven heartbeat (socket.io 0.9): probe every `interval`, drop a peer silent for
/// `timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Heartbeat {
    /// Time between probes.
    pub interval: Duration,
    /// Silence after which the peer is dropped.
    pub timeout: Duration,
}

/// How one connection is driven.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Which end we are.
    pub side: Side,
    /// `bufferMsg`: payloads leave as one JSON array per interval.
    pub batch: Option<Duration>,
    /// Client probe period; `None` uses the dialect's default (mqtt 10 s, pinus-tcp 25 s). A
    /// probe unanswered for two periods ends the connection.
    pub keepalive: Option<Duration>,
    /// Server heartbeat (socket.io 0.9 acceptors).
    pub heartbeat: Option<Heartbeat>,
    /// How long a closing connection waits for the endpoint's work in flight.
    pub drain_grace: Duration,
    /// Stop reading while this many bytes of output wait for the peer to read.
    pub max_queued_bytes: usize,
    /// Names the connection in logs (server id, peer address).
    pub label: Arc<str>,
}

impl LinkOptions {
    /// Defaults for `side`.
    pub fn new(side: Side, label: impl Into<Arc<str>>) -> Self {
        LinkOptions {
            side,
            batch: None,
            keepalive: None,
            heartbeat: None,
            drain_grace: Duration::from_secs(75),
            max_queued_bytes: 4 * 1024 * 1024,
            label: label.into(),
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// Our side closed it (a mailbox closed, a client gave it up).
    Local,
    /// The listener is shutting down.
    Shutdown,
    /// The peer closed the connection.
    PeerClosed,
    /// The peer said goodbye (MQTT DISCONNECT, socket.io `0::`).
    PeerGoodbye,
    /// Reading or writing failed.
    Io(String),
    /// The peer broke the protocol (framing, a dialect rule, a payload that is not JSON).
    Protocol(String),
    /// Our probe went unanswered this long.
    NoKeepaliveAnswer(Duration),
    /// The peer sent nothing for this long (heartbeat timeout).
    Silent(Duration),
}

impl CloseReason {
    fn from_wire(e: WireError) -> Self {
        match e {
            WireError::Io(io) => CloseReason::Io(io.to_string()),
            other => CloseReason::Protocol(other.to_string()),
        }
    }

    /// True when the end was orderly (ours or the peer's), not a failure.
    pub fn is_orderly(&self) -> bool {
        matches!(
            self,
            CloseReason::Local | CloseReason::Shutdown | CloseReason::PeerClosed | CloseReason::PeerGoodbye
        )
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Local => f.write_str("closed by this side"),
            CloseReason::Shutdown => f.write_str("shutting down"),
            CloseReason::PeerClosed => f.write_str("the peer closed the connection"),
            CloseReason::PeerGoodbye => f.write_str("the peer said goodbye (disconnect)"),
            CloseReason::Io(e) => write!(f, "i/o error: {e}"),
            CloseReason::Protocol(e) => f.write_str(e),
            CloseReason::NoKeepaliveAnswer(d) => write!(f, "no keepalive answer within {d:?}"),
            CloseReason::Silent(d) => write!(f, "peer silent for {d:?} (heartbeat timeout)"),
        }
    }
}

/// Payloads an endpoint wants sent, in order. Write one into [`Outbox::buf`] and
/// [`Outbox::commit`] it, or [`Outbox::push`] bytes made elsewhere.
#[derive(Default)]
pub struct Outbox {
    buf: BytesMut,
    ready: Vec<Bytes>,
    bytes: usize,
}

impl Outbox {
    /// Queues a payload.
    pub fn push(&mut self, payload: Bytes) {
        self.bytes += payload.len();
        self.ready.push(payload);
    }

    /// The buffer the next payload is written into.
    pub fn buf(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Queues what was written into [`Outbox::buf`] since the last commit.
    pub fn commit(&mut self) {
        let payload = self.buf.split().freeze();
        if self.buf.capacity() == 0 {
            self.buf = BytesMut::new();
        }
        self.push(payload);
    }

    /// Bytes of the payloads queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of payloads queued.
    pub fn len(&self) -> usize {
        self.ready.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty()
    }
}

/// What rides on a connection: the layer above, seeing only payloads.
pub trait Endpoint: Send + 'static {
    /// A payload arrived. An error ends the connection (after work in flight is done).
    fn on_payload(
        &mut self,
        cx: &mut Context<'_>,
        payload: Bytes,
        out: &mut Outbox,
    ) -> Result<(), CloseReason>;
    /// Makes progress on the endpoint's own work (handlers running, requests to send), queuing
    /// payloads; `Ready(())` asks the driver to close the connection.
    fn poll_work(&mut self, cx: &mut Context<'_>, out: &mut Outbox) -> Poll<()>;
    /// Whether the driver may read more (false while too much is in flight).
    fn can_read(&self) -> bool {
        true
    }
    /// Whether work is in flight that a closing connection should wait for.
    fn busy(&self) -> bool {
        false
    }
    /// The connection ended.
    fn on_close(&mut self, reason: &CloseReason);
}

/// Drives `conn` until it ends; `shutdown` (acceptors) closes it gracefully: no more reading,
/// work in flight finished (bounded by `drain_grace`), output flushed, goodbye sent.
pub async fn run<D: Dialect, E: Endpoint>(
    dialect: D,
    conn: Connection<D::Frame>,
    endpoint: E,
    opts: LinkOptions,
    shutdown: Option<CancellationToken>,
) {
    driver::Driver::new(dialect, conn, endpoint, opts, shutdown).run().await;
}
