//! The WebSocket adapter of both sides (tokio-tungstenite sockets): text messages become
//! socket.io 0.9 packets and back; a close ends the stream. Binary messages are read as text,
//! lossily: socket.io 0.9 never sends them, and the acceptor reads every text frame as binary so
//! that bytes that are not UTF-8 arrive as U+FFFD, as Node reads them (see `text_frames`).

use bytes::Bytes;
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio_tungstenite::tungstenite;

use crate::transport::dialect::{FrameSink, FrameStream};
use crate::wire::WireError;
use crate::wire::json::lossy_utf8;
use crate::wire::sio09::{self, Packet};

/// What a received WebSocket message is to us.
pub(crate) enum Kind<'a> {
    /// A text message: one socket.io packet.
    Text(&'a str),
    /// A binary message: a text frame the acceptor's reader marked binary (any bytes).
    Binary(&'a [u8]),
    /// The peer closes.
    Close,
    /// Ping/pong and other control frames, handled by the library.
    Control,
}

/// A message type of one of the WebSocket libraries.
pub(crate) trait WsMessage: Send + 'static {
    /// A text message.
    fn text(text: String) -> Self;
    /// What it is.
    fn kind(&self) -> Kind<'_>;
}

/// An error type of one of the WebSocket libraries.
pub(crate) trait WsError {
    /// As a codec error: a connection that went away is I/O, not bad input.
    fn into_wire(self) -> WireError;
}

fn ws_err(e: impl std::fmt::Display) -> WireError {
    WireError::Malformed { dialect: "sio09", reason: format!("websocket: {e}") }
}

impl WsMessage for tungstenite::Message {
    fn text(text: String) -> Self {
        tungstenite::Message::Text(text.into())
    }
    fn kind(&self) -> Kind<'_> {
        match self {
            tungstenite::Message::Text(t) => Kind::Text(t.as_str()),
            tungstenite::Message::Binary(b) => Kind::Binary(b),
            tungstenite::Message::Close(_) => Kind::Close,
            _ => Kind::Control,
        }
    }
}

impl WsError for tungstenite::Error {
    fn into_wire(self) -> WireError {
        use tungstenite::error::ProtocolError;
        match self {
            tungstenite::Error::Io(io) => WireError::Io(io),
            tungstenite::Error::ConnectionClosed
            | tungstenite::Error::AlreadyClosed
            | tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                WireError::Io(std::io::Error::new(std::io::ErrorKind::ConnectionReset, self.to_string()))
            }
            other => ws_err(other),
        }
    }
}

/// A WebSocket as a stream and a sink of socket.io 0.9 packets.
pub(crate) fn packets<S, M, E>(socket: S) -> (FrameStream<Packet>, FrameSink<Packet>)
where
    S: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Send + 'static,
    M: WsMessage,
    E: WsError + Send + 'static,
{
    let (sink, stream) = socket.split();
    let frames: FrameStream<Packet> = Box::pin(
        stream
            .take_while(|m| std::future::ready(!matches!(m.as_ref().map(M::kind), Ok(Kind::Close))))
            .filter_map(|m| {
                std::future::ready(match m {
                    Ok(m) => match m.kind() {
                        Kind::Text(t) => Some(sio09::parse(t)),
                        // hybi-16.js reads a text frame with buffer.toString('utf8').
                        Kind::Binary(b) => Some(sio09::parse(&lossy_utf8(Bytes::copy_from_slice(b)))),
                        Kind::Close | Kind::Control => None,
                    },
                    Err(e) => Some(Err(e.into_wire())),
                })
            }),
    );
    let sink: FrameSink<Packet> = Box::pin(
        sink.sink_map_err(WsError::into_wire)
            .with(|p: Packet| std::future::ready(Ok::<_, WireError>(M::text(sio09::encode(&p))))),
    );
    (frames, sink)
}
