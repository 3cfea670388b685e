//! The `tcp` dialect: stream-pkg frames carrying JSON; no handshake, no keepalive.

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio_util::codec::{FramedRead, FramedWrite};

use super::{Dialect, FrameSink, FrameStream, Inbound, Side};
use crate::wire::stream_pkg::StreamPkgCodec;

/// stream-pkg over TCP (pomelo-rpc `tcp` mailbox/acceptor, pinus `createTcpAcceptor`).
#[derive(Debug, Clone, Default)]
pub struct TcpDialect;

impl Dialect for TcpDialect {
    type Frame = Bytes;
    const NAME: &'static str = "tcp";

    fn framed(&self, stream: TcpStream, max_frame: usize) -> (FrameStream<Bytes>, FrameSink<Bytes>) {
        let (r, w) = stream.into_split();
        let read = FramedRead::new(r, StreamPkgCodec::new(max_frame));
        let write = FramedWrite::new(w, StreamPkgCodec::new(max_frame));
        (Box::pin(read), Box::pin(write))
    }

    fn classify(&self, frame: Bytes) -> Inbound {
        Inbound::Payload(frame)
    }

    fn payload(&self, json: Bytes, _side: Side) -> Bytes {
        json
    }
}
