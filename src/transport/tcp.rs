//! The `tcp` dialect: stream-pkg frames carrying JSON; no handshake, no keepalive.

use bytes::Bytes;
use tokio::net::TcpStream;

use super::{Dialect, FrameSink, FrameStream, Inbound, Side, StreamDialect, split_framed};
use crate::wire::stream_pkg::StreamPkgCodec;

/// stream-pkg over TCP (pomelo-rpc `tcp` mailbox/acceptor, 0.2.9 to 1.0.7).
#[derive(Debug, Clone, Default)]
pub struct TcpDialect;

impl Dialect for TcpDialect {
    type Frame = Bytes;
    const NAME: &'static str = "tcp";

    fn classify(&self, frame: Bytes, _side: Side) -> Inbound {
        Inbound::Payload(frame)
    }

    fn payload(&self, json: Bytes, _side: Side) -> Bytes {
        json
    }
}

impl StreamDialect for TcpDialect {
    fn framed(&self, stream: TcpStream, max_frame: usize) -> (FrameStream<Bytes>, FrameSink<Bytes>) {
        split_framed(stream, StreamPkgCodec::new(max_frame))
    }
}
