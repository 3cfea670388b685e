//! The `pinus-tcp` dialect: pinus-rpc's tcp mailbox/acceptor. Frames carry a type byte
//! (request 0, ping 1, pong 2, response 3); the mailbox pings every 25 s and the Node acceptor
//! drops connections silent for 30 s. (Its acceptor ignores request id 0: the client layer
//! starts pinus-tcp ids at 1.)

use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;

use super::{Dialect, FrameSink, FrameStream, Inbound, Side, StreamDialect, split_framed};
use crate::wire::typed_pkg::{Kind, TypedCodec, TypedFrame};

/// pinus-rpc's ping period.
pub const PING: Duration = Duration::from_secs(25);

/// pinus-rpc 1.7 tcp.
#[derive(Debug, Clone, Default)]
pub struct PinusTcpDialect;

impl Dialect for PinusTcpDialect {
    type Frame = TypedFrame;
    const NAME: &'static str = "pinus-tcp";

    fn classify(&self, frame: TypedFrame, _side: Side) -> Inbound {
        match frame.kind {
            Kind::Msg | Kind::Res => Inbound::Payload(frame.body),
            Kind::Ping => Inbound::Ping,
            Kind::Pong => Inbound::Pong,
        }
    }

    fn payload(&self, json: Bytes, side: Side) -> TypedFrame {
        let kind = match side {
            Side::Client => Kind::Msg,
            Side::Server => Kind::Res,
        };
        TypedFrame { kind, body: json }
    }

    fn ping(&self) -> Option<TypedFrame> {
        Some(TypedFrame::bare(Kind::Ping))
    }

    fn pong(&self) -> Option<TypedFrame> {
        Some(TypedFrame::bare(Kind::Pong))
    }

    fn default_keepalive(&self) -> Option<Duration> {
        Some(PING)
    }
}

impl StreamDialect for PinusTcpDialect {
    fn framed(
        &self,
        stream: TcpStream,
        max_frame: usize,
    ) -> (FrameStream<TypedFrame>, FrameSink<TypedFrame>) {
        split_framed(stream, TypedCodec::new(max_frame))
    }
}
