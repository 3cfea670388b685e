//! The `tcp` dialect: stream-pkg frames carrying JSON; no handshake, no keepalive.

use bytes::Bytes;
use tokio::net::TcpStream;

use super::{Dialect, FrameSink, FrameStream, Inbound, Side, split_framed};
use crate::wire::stream_pkg::StreamPkgCodec;

/// stream-pkg over TCP (pomelo-rpc `tcp` mailbox/acceptor, pinus `createTcpAcceptor`).
#[derive(Debug, Clone, Default)]
pub struct TcpDialect;

impl Dialect for TcpDialect {
    type Frame = Bytes;
    const NAME: &'static str = "tcp";

    fn framed(&self, stream: TcpStream, max_frame: usize) -> (FrameStream<Bytes>, FrameSink<Bytes>) {
        split_framed(stream, StreamPkgCodec::new(max_frame))
    }

    fn classify(&self, frame: Bytes) -> Inbound {
        Inbound::Payload(frame)
    }

    fn payload(&self, json: Bytes, _side: Side) -> Bytes {
        json
    }
}
