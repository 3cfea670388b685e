//! What a dialect is to the driver: a frame type, which frames carry payloads and which are
//! keepalive, and (for the dialects spoken directly over TCP) a codec.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{Sink, Stream};
use tokio::net::TcpStream;

use super::framed::{FrameReader, FrameWriter};
use crate::wire::WireError;

/// A boxed stream of decoded frames.
pub type FrameStream<F> = Pin<Box<dyn Stream<Item = Result<F, WireError>> + Send>>;
/// A boxed sink of frames to encode.
pub type FrameSink<F> = Pin<Box<dyn Sink<F, Error = WireError> + Send>>;

/// What a received frame means to the driver.
#[derive(Debug)]
pub enum Inbound {
    /// A payload for the endpoint (one JSON package or a batch array).
    Payload(Bytes),
    /// A keepalive probe to answer.
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
    /// The end that connected (an RPC mailbox sends requests).
    Client,
    /// The end that accepted (an RPC acceptor sends responses).
    Server,
}

/// An open connection as a dialect hands it to the driver.
pub struct Connection<F> {
    /// Decoded frames from the peer.
    pub frames: FrameStream<F>,
    /// Frames to the peer.
    pub sink: FrameSink<F>,
    /// The peer's advertised silence limit (socket.io 0.9's heartbeat timeout).
    pub idle_timeout: Option<Duration>,
}

/// A wire dialect: its frame type, how frames map to payloads, and its control frames.
pub trait Dialect: Clone + Send + Sync + 'static {
    /// The decoded frame type.
    type Frame: Send + std::fmt::Debug + 'static;
    /// Name used in logs and errors.
    const NAME: &'static str;

    /// Interprets a frame received by `side`.
    fn classify(&self, frame: Self::Frame, side: Side) -> Inbound;
    /// Wraps a payload written by `side` into a frame.
    fn payload(&self, json: Bytes, side: Side) -> Self::Frame;
    /// The client's opening frame, if the dialect has one.
    fn hello(&self) -> Option<Self::Frame> {
        None
    }
    /// The keepalive probe.
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
    /// How often a client probes by default (`None`: it does not).
    fn default_keepalive(&self) -> Option<Duration> {
        None
    }
}

/// A dialect spoken directly over one TCP connection (tcp, mqtt, pinus-tcp).
pub trait StreamDialect: Dialect {
    /// Frames an established TCP connection (either side) with a cap on frame size.
    fn framed(
        &self,
        stream: TcpStream,
        max_frame: usize,
    ) -> (FrameStream<Self::Frame>, FrameSink<Self::Frame>);
}

/// Splits a TCP stream and frames both halves with `codec` (buffers only while in use; reads
/// re-arm TCP_QUICKACK).
pub(crate) fn split_framed<C, F>(stream: TcpStream, codec: C) -> (FrameStream<F>, FrameSink<F>)
where
    C: tokio_util::codec::Decoder<Item = F, Error = WireError>
        + tokio_util::codec::Encoder<F, Error = WireError>
        + Clone
        + Send
        + Unpin
        + 'static,
    F: Send + 'static,
{
    let (r, w) = stream.into_split();
    (Box::pin(FrameReader::new(r, codec.clone())), Box::pin(FrameWriter::new(w, codec)))
}
