//! The `mqtt` dialect: PUBLISH QoS 0 on topic `rpc` both ways; CONNECT from the mailbox with no
//! CONNACK expected; PINGREQ every 10 s from the mailbox, PINGRESP from the acceptor.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::net::TcpStream;

use super::{Dialect, FrameSink, FrameStream, Inbound, Side, StreamDialect, split_framed};
use crate::wire::mqtt::{MqttCodec, Packet};

/// Topic of every RPC publish (pomelo-rpc 1.x and pinus use the literal `rpc`).
pub const TOPIC_RPC: &str = "rpc";
/// pomelo-rpc's `KEEPALIVE` constant.
pub const KEEPALIVE: Duration = Duration::from_secs(10);

/// MQTT 3.1.1 as pomelo-rpc 1.x / pinus-rpc use it.
#[derive(Debug, Clone, Default)]
pub struct MqttDialect;

/// A client id shaped like Node's: `MQTT_RPC_<ms since epoch>`.
pub fn client_id() -> String {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    format!("MQTT_RPC_{ms}")
}

impl Dialect for MqttDialect {
    type Frame = Packet;
    const NAME: &'static str = "mqtt";

    fn classify(&self, frame: Packet, _side: Side) -> Inbound {
        match frame {
            Packet::Publish { payload, .. } => Inbound::Payload(payload),
            Packet::PingReq => Inbound::Ping,
            Packet::PingResp => Inbound::Pong,
            Packet::Connect { .. } | Packet::ConnAck { .. } => Inbound::Hello,
            Packet::Disconnect => Inbound::Bye,
            Packet::Other { header, .. } => Inbound::Ignored(format!("MQTT packet 0x{header:02x}")),
        }
    }

    fn payload(&self, json: Bytes, _side: Side) -> Packet {
        Packet::publish(TOPIC_RPC, json)
    }

    fn hello(&self) -> Option<Packet> {
        Some(Packet::pomelo_connect(client_id()))
    }

    fn ping(&self) -> Option<Packet> {
        Some(Packet::PingReq)
    }

    fn pong(&self) -> Option<Packet> {
        Some(Packet::PingResp)
    }

    fn default_keepalive(&self) -> Option<Duration> {
        Some(KEEPALIVE)
    }
}

impl StreamDialect for MqttDialect {
    fn framed(&self, stream: TcpStream, max_frame: usize) -> (FrameStream<Packet>, FrameSink<Packet>) {
        split_framed(stream, MqttCodec::new(max_frame))
    }
}
