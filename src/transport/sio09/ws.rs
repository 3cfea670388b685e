//! One WebSocket adapter for both libraries (axum's server sockets, tokio-tungstenite's client
//! sockets): text messages become socket.io 0.9 packets and back; a close ends the stream.

use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio_tungstenite::tungstenite;

use crate::transport::dialect::{FrameSink, FrameStream};
use crate::wire::WireError;
use crate::wire::sio09::{self, Packet};

/// What a received WebSocket message is to us.
pub(crate) enum Kind<'a> {
    /// A text message: one socket.io packet.
    Text(&'a str),
    /// Binary data: socket.io 0.9 never sends it.
    Binary,
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
            tungstenite::Message::Binary(_) => Kind::Binary,
            tungstenite::Message::Close(_) => Kind::Close,
            _ => Kind::Control,
        }
    }
}

impl WsMessage for axum::extract::ws::Message {
    fn text(text: String) -> Self {
        axum::extract::ws::Message::Text(text.into())
    }
    fn kind(&self) -> Kind<'_> {
        use axum::extract::ws::Message;
        match self {
            Message::Text(t) => Kind::Text(t.as_str()),
            Message::Binary(_) => Kind::Binary,
            Message::Close(_) => Kind::Close,
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

impl WsError for axum::Error {
    fn into_wire(self) -> WireError {
        match self.into_inner().downcast::<tungstenite::Error>() {
            Ok(t) => t.into_wire(),
            Err(other) => ws_err(other),
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
                        Kind::Binary => Some(Err(ws_err("unexpected binary frame"))),
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
