//! Sockets: one generic [`Mailbox`] (client side of one connection) and one generic
//! [`Acceptor`] (listening side), working over a [`Dialect`] that says how frames look.
//!
//! Batching (`bufferMsg` + `interval`), TCP_NODELAY, write coalescing, keepalive and the
//! connection-level limits live here once, not once per dialect.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use futures::{Sink, Stream};
use serde_json::Value;
use tokio::net::TcpStream;

use crate::message::RpcMsg;
use crate::wire::WireError;

mod acceptor;
mod engine;
mod mailbox;
pub mod mqtt;
mod pending;
pub mod pinus_tcp;
pub mod sio09;
pub mod tcp;
mod whitelist;

pub use acceptor::{Acceptor, AcceptorOptions};
pub use engine::Heartbeat;
pub use mailbox::{Mailbox, MailboxOptions};
pub use pending::PendingTable;
pub use sio09::Sio09Options;
pub use whitelist::Whitelist;

/// A boxed stream of decoded frames.
pub type FrameStream<F> = Pin<Box<dyn Stream<Item = Result<F, WireError>> + Send>>;
/// A boxed sink of frames to encode.
pub type FrameSink<F> = Pin<Box<dyn Sink<F, Error = WireError> + Send>>;

/// What a received frame means to the generic mailbox/acceptor.
#[derive(Debug)]
pub enum Inbound {
    /// An RPC payload: the JSON of one package or of a batch array.
    Payload(Bytes),
    /// A keepalive probe that the acceptor must answer.
    Ping,
    /// The answer to our probe.
    Pong,
    /// The peer's opening frame (MQTT CONNECT / CONNACK): nothing to do.
    Hello,
    /// The peer says goodbye.
    Bye,
    /// A frame of the dialect with no meaning here; logged and dropped.
    Ignored(String),
    /// A frame that breaks the protocol; the connection ends with this reason.
    Invalid(String),
}

/// Which end of a connection is writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The mailbox (sends requests).
    Client,
    /// The acceptor (sends responses).
    Server,
}

/// An open connection as a dialect hands it to the generic mailbox/acceptor.
pub struct Connection<F> {
    /// Decoded frames from the peer.
    pub frames: FrameStream<F>,
    /// Frames to the peer.
    pub sink: FrameSink<F>,
    /// Declare the connection dead after this long without any frame (socket.io 0.9's
    /// heartbeat timeout, as the server advertised it).
    pub idle_timeout: Option<Duration>,
}

/// A wire dialect: its frame type, how frames map to RPC payloads, and its control frames.
pub trait Dialect: Clone + Send + Sync + 'static {
    /// The decoded frame type.
    type Frame: Send + fmt::Debug + 'static;
    /// Name used in logs and errors.
    const NAME: &'static str;

    /// Interprets a frame received by `side`.
    fn classify(&self, frame: Self::Frame, side: Side) -> Inbound;
    /// Wraps an RPC payload written by `side` into a frame.
    fn payload(&self, json: Bytes, side: Side) -> Self::Frame;
    /// The first request id a mailbox uses (pomelo counts from 0; pinus tcp from 1, because
    /// its acceptor does not answer id 0).
    fn first_id(&self) -> u64 {
        0
    }
    /// The mailbox's opening frame, if the dialect has one.
    fn hello(&self) -> Option<Self::Frame> {
        None
    }
    /// The keepalive probe (mailbox keepalive, acceptor heartbeat).
    fn ping(&self) -> Option<Self::Frame> {
        None
    }
    /// The answer to a probe.
    fn pong(&self) -> Option<Self::Frame> {
        None
    }
    /// What `side` sends before it closes, if anything.
    fn goodbye(&self, _side: Side) -> Option<Self::Frame> {
        None
    }
    /// How often a mailbox probes by default (`None`: the mailbox does not probe).
    fn default_keepalive(&self) -> Option<Duration> {
        None
    }
}

/// A dialect spoken directly over one TCP connection (tcp, mqtt, pinus-tcp), which the generic
/// TCP acceptor can serve.
pub trait StreamDialect: Dialect {
    /// Frames an established TCP connection (either side) with a cap on frame size.
    fn framed(
        &self,
        stream: TcpStream,
        max_frame: usize,
    ) -> (FrameStream<Self::Frame>, FrameSink<Self::Frame>);
}

/// How a mailbox opens a connection of a dialect.
pub trait Connect: Dialect {
    /// Opens a mailbox connection to `addr` (`host:port`), including any handshake.
    fn connect(
        &self,
        server_id: &str,
        addr: &str,
        opts: &MailboxOptions,
    ) -> impl Future<Output = Result<Connection<Self::Frame>, TransportError>> + Send;
}

/// Every [`StreamDialect`] connects over plain TCP and frames the stream.
impl<D: StreamDialect> Connect for D {
    async fn connect(
        &self,
        server_id: &str,
        addr: &str,
        opts: &MailboxOptions,
    ) -> Result<Connection<D::Frame>, TransportError> {
        let stream = tcp_connect(server_id, addr, opts.connect_timeout).await?;
        let (frames, sink) = self.framed(stream, opts.max_frame);
        Ok(Connection { frames, sink, idle_timeout: None })
    }
}

/// A tuned TCP connection to `addr`, failing at once when refused.
pub(crate) async fn tcp_connect(
    server_id: &str,
    addr: &str,
    limit: Duration,
) -> Result<TcpStream, TransportError> {
    let err =
        |source| TransportError::Connect { server: server_id.to_string(), addr: addr.to_string(), source };
    let stream = match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(err(e)),
        Err(_) => {
            let msg = format!("connect timed out after {limit:?}");
            return Err(err(std::io::Error::new(std::io::ErrorKind::TimedOut, msg)));
        }
    };
    tune(&stream);
    Ok(stream)
}

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

impl FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Transport::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown transport {s:?} (expected tcp, mqtt, pinus-tcp or sio09)"))
    }
}

/// Who is on the other end of an accepted connection.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Remote socket address.
    pub addr: SocketAddr,
    /// Connection number within this acceptor, from 1.
    pub conn: u64,
}

/// A boxed reply future.
pub type ReplyFuture = Pin<Box<dyn Future<Output = Vec<Value>> + Send>>;

/// What an acceptor calls for each request: returns the complete `resp` array.
///
/// The server layer implements this; the transport only moves bytes.
pub trait RpcHandler: Send + Sync + 'static {
    /// Handles one call.
    fn handle(&self, msg: RpcMsg, peer: &PeerInfo) -> ReplyFuture;
}

/// Errors of the transport layer.
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
    /// The connection ended; every pending call on it fails with this.
    #[error("connection to {server} closed: {reason}")]
    Closed {
        /// Server id.
        server: String,
        /// Why it closed.
        reason: String,
    },
    /// No reply before the call's deadline.
    #[error("no reply from {server} within {ms} ms ({route})")]
    Timeout {
        /// Server id.
        server: String,
        /// The deadline in milliseconds.
        ms: u128,
        /// `namespace.serverType.service.method` of the call.
        route: String,
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
    #[error("invalid --whitelist pattern {pattern:?}: {reason}")]
    Whitelist {
        /// The pattern.
        pattern: String,
        /// The regex error.
        reason: String,
    },
    /// A codec error.
    #[error(transparent)]
    Wire(#[from] WireError),
}

fn server_at(server: &str, addr: &str) -> String {
    if server == addr { addr.to_string() } else { format!("{server} at {addr}") }
}

/// Splits a TCP stream and frames both halves with `codec` (the stream dialects' `framed`).
pub(crate) fn split_framed<C, F>(stream: TcpStream, codec: C) -> (FrameStream<F>, FrameSink<F>)
where
    C: tokio_util::codec::Decoder<Item = F, Error = WireError>
        + tokio_util::codec::Encoder<F, Error = WireError>
        + Clone
        + Send
        + 'static,
    F: Send + 'static,
{
    let (r, w) = stream.into_split();
    let read = tokio_util::codec::FramedRead::new(r, codec.clone());
    let write = tokio_util::codec::FramedWrite::new(w, codec);
    (Box::pin(read), Box::pin(write))
}

/// Applies the socket options every pomelo-interop connection gets.
pub(crate) fn tune(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::warn!("cannot set TCP_NODELAY: {e}");
    }
}
