//! The MQTT 3.1.1 subset pomelo uses (spec/wire.md §5): CONNECT, CONNACK, PUBLISH, PINGREQ,
//! PINGRESP, DISCONNECT; any other packet decodes as [`Packet::Other`].
//!
//! Hand-written rather than taken from rumqttc's `mqttbytes`: pomelo's usage is point-to-point
//! (both sides publish, no CONNACK, QoS 0), the subset is ~200 lines, and owning it lets the
//! decoder cap the remaining length before allocating and keep unknown packets instead of failing.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::{DEFAULT_MAX_FRAME, WireError};

const DIALECT: &str = "mqtt";

/// One MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Opens a session; pomelo mailboxes send keep-alive 0 and id `MQTT_RPC_<ms>`.
    Connect {
        /// Client identifier.
        client_id: String,
        /// Keep-alive seconds advertised by the client.
        keep_alive: u16,
        /// Protocol level (4 = 3.1.1).
        level: u8,
        /// Connect flags byte.
        flags: u8,
    },
    /// Answer to CONNECT; Node RPC acceptors never send one, pomelo-admin masters do.
    ConnAck {
        /// Session-present flag.
        session_present: bool,
        /// Return code (0 = accepted).
        code: u8,
    },
    /// Application message; pomelo publishes QoS 0 on topic `rpc`.
    Publish {
        /// Topic name.
        topic: String,
        /// QoS level from the fixed header.
        qos: u8,
        /// Packet identifier, present for QoS > 0.
        pkid: Option<u16>,
        /// Retain flag.
        retain: bool,
        /// Message payload.
        payload: Bytes,
    },
    /// Keep-alive probe.
    PingReq,
    /// Keep-alive answer.
    PingResp,
    /// Orderly goodbye.
    Disconnect,
    /// Any other packet, kept whole so that it can be logged and ignored.
    Other {
        /// First byte of the fixed header.
        header: u8,
        /// Variable header and payload.
        body: Bytes,
    },
}

impl Packet {
    /// The CONNECT a pomelo-rpc mailbox sends: level 4, clean session, keep-alive 0.
    pub fn pomelo_connect(client_id: impl Into<String>) -> Packet {
        Packet::Connect { client_id: client_id.into(), keep_alive: 0, level: 4, flags: 0x02 }
    }

    /// A QoS 0 PUBLISH.
    pub fn publish(topic: impl Into<String>, payload: impl Into<Bytes>) -> Packet {
        Packet::Publish { topic: topic.into(), qos: 0, pkid: None, retain: false, payload: payload.into() }
    }

    /// The topic filters of a SUBSCRIBE (kept as [`Packet::Other`], type 8), in order; `None`
    /// for any other packet and for one too short to hold its packet identifier. A filter cut
    /// short ends the list; names are read as lossy UTF-8.
    pub fn subscribe_topics(&self) -> Option<Vec<String>> {
        let Packet::Other { header, body } = self else { return None };
        if header >> 4 != 8 {
            return None;
        }
        let mut body = body.clone();
        let mut topics = Vec::new();
        if body.remaining() < 2 {
            return None;
        }
        // Packet identifier, then (length, filter, QoS) triples.
        body.advance(2);
        while body.remaining() >= 2 {
            let n = body.get_u16() as usize;
            if body.remaining() < n + 1 {
                break;
            }
            topics.push(String::from_utf8_lossy(&body.split_to(n)).into_owned());
            body.advance(1);
        }
        Some(topics)
    }
}

/// Encoder/decoder for [`Packet`]s with a cap on the remaining length.
#[derive(Debug, Clone)]
pub struct MqttCodec {
    max_frame: usize,
}

impl MqttCodec {
    /// A codec that rejects packets whose remaining length exceeds `max_frame`.
    pub fn new(max_frame: usize) -> Self {
        MqttCodec { max_frame }
    }
}

impl Default for MqttCodec {
    fn default() -> Self {
        MqttCodec::new(DEFAULT_MAX_FRAME)
    }
}

fn malformed(reason: impl Into<String>) -> WireError {
    WireError::Malformed { dialect: DIALECT, reason: reason.into() }
}

/// The fixed header of a packet: its first byte and how long the packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// First byte: packet type in the high nibble, flags in the low one.
    pub byte: u8,
    /// Remaining length: bytes after the fixed header.
    pub remaining: usize,
    /// Bytes of the fixed header itself (1 + the length varint).
    pub len: usize,
}

impl FixedHeader {
    /// Bytes of the whole packet on the wire.
    pub fn packet_len(&self) -> usize {
        self.len + self.remaining
    }
}

/// Reads the fixed header at the start of `src`: `Ok(None)` while it is incomplete; a remaining
/// length over `max` is [`WireError::FrameTooLarge`] (refused before the body arrives), a
/// varint longer than 4 bytes [`WireError::Malformed`].
pub fn read_fixed_header(src: &[u8], max: usize) -> Result<Option<FixedHeader>, WireError> {
    let Some(&byte) = src.first() else { return Ok(None) };
    Ok(read_remaining(&src[1..], max)?.map(|(remaining, vlen)| FixedHeader {
        byte,
        remaining,
        len: 1 + vlen,
    }))
}

/// Reads the remaining-length varint after the first byte: `Some((len, varint_bytes))`.
fn read_remaining(src: &[u8], max: usize) -> Result<Option<(usize, usize)>, WireError> {
    let mut len = 0usize;
    for i in 0..4 {
        let Some(&b) = src.get(i) else { return Ok(None) };
        len |= ((b & 0x7f) as usize) << (7 * i);
        if b & 0x80 == 0 {
            if len > max {
                return Err(WireError::FrameTooLarge { len, max });
            }
            return Ok(Some((len, i + 1)));
        }
    }
    Err(malformed("remaining length longer than 4 bytes"))
}

fn put_remaining(mut len: usize, dst: &mut BytesMut) {
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        dst.put_u8(b);
        if len == 0 {
            break;
        }
    }
}

fn take_u16(body: &mut Bytes) -> Result<u16, WireError> {
    if body.remaining() < 2 {
        return Err(malformed("truncated packet"));
    }
    Ok(body.get_u16())
}

fn take_str(body: &mut Bytes) -> Result<String, WireError> {
    let n = take_u16(body)? as usize;
    if body.remaining() < n {
        return Err(malformed("string runs past the packet"));
    }
    let raw = body.split_to(n);
    String::from_utf8(raw.to_vec()).map_err(|_| malformed("string is not UTF-8"))
}

fn put_str(s: &str, dst: &mut BytesMut) -> Result<(), WireError> {
    let len = u16::try_from(s.len())
        .map_err(|_| malformed(format!("string of {} bytes is longer than 65535", s.len())))?;
    dst.put_u16(len);
    dst.put_slice(s.as_bytes());
    Ok(())
}

/// Parses the packet whose fixed header's first byte is `header` and whose variable header and
/// payload are `body` (what [`MqttCodec`] does once a whole packet has arrived).
pub fn parse_packet(header: u8, mut body: Bytes) -> Result<Packet, WireError> {
    Ok(match header >> 4 {
        1 => {
            let _protocol = take_str(&mut body)?;
            if body.remaining() < 4 {
                return Err(malformed("truncated CONNECT"));
            }
            let level = body.get_u8();
            let flags = body.get_u8();
            let keep_alive = body.get_u16();
            let client_id = take_str(&mut body)?;
            Packet::Connect { client_id, keep_alive, level, flags }
        }
        2 => {
            if body.remaining() < 2 {
                return Err(malformed("truncated CONNACK"));
            }
            Packet::ConnAck { session_present: body.get_u8() & 1 == 1, code: body.get_u8() }
        }
        3 => {
            let qos = (header >> 1) & 3;
            if qos == 3 {
                return Err(malformed("PUBLISH with QoS 3"));
            }
            let topic = take_str(&mut body)?;
            let pkid = if qos > 0 { Some(take_u16(&mut body)?) } else { None };
            Packet::Publish { topic, qos, pkid, retain: header & 1 == 1, payload: body }
        }
        12 => Packet::PingReq,
        13 => Packet::PingResp,
        14 => Packet::Disconnect,
        0 | 15 => return Err(malformed(format!("reserved packet type {}", header >> 4))),
        _ => Packet::Other { header, body },
    })
}

impl Decoder for MqttCodec {
    type Item = Packet;
    type Error = WireError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, WireError> {
        if src.is_empty() {
            return Ok(None);
        }
        let Some(fixed) = read_fixed_header(src, self.max_frame)? else {
            return Ok(None);
        };
        let total = fixed.packet_len();
        if src.len() < total {
            src.reserve((total - src.len()).min(64 * 1024));
            return Ok(None);
        }
        src.advance(fixed.len);
        let body = src.split_to(fixed.remaining).freeze();
        parse_packet(fixed.byte, body).map(Some)
    }
}

impl Encoder<Packet> for MqttCodec {
    type Error = WireError;

    fn encode(&mut self, packet: Packet, dst: &mut BytesMut) -> Result<(), WireError> {
        let mut body = BytesMut::new();
        let header = match &packet {
            Packet::Connect { client_id, keep_alive, level, flags } => {
                put_str("MQTT", &mut body)?;
                body.put_u8(*level);
                body.put_u8(*flags);
                body.put_u16(*keep_alive);
                put_str(client_id, &mut body)?;
                0x10
            }
            Packet::ConnAck { session_present, code } => {
                body.put_u8(*session_present as u8);
                body.put_u8(*code);
                0x20
            }
            Packet::Publish { topic, qos, pkid, retain, payload } => {
                let len = 2 + topic.len() + pkid.map_or(0, |_| 2) + payload.len();
                if len > self.max_frame {
                    return Err(WireError::FrameTooLarge { len, max: self.max_frame });
                }
                if topic.len() > u16::MAX as usize {
                    return Err(malformed(format!("topic of {} bytes is longer than 65535", topic.len())));
                }
                dst.reserve(len + 5);
                dst.put_u8(0x30 | (qos << 1) | (*retain as u8));
                put_remaining(len, dst);
                put_str(topic, dst)?;
                if let Some(id) = pkid {
                    dst.put_u16(*id);
                }
                dst.put_slice(payload);
                return Ok(());
            }
            Packet::PingReq => 0xc0,
            Packet::PingResp => 0xd0,
            Packet::Disconnect => 0xe0,
            Packet::Other { header, body: b } => {
                body.put_slice(b);
                *header
            }
        };
        dst.put_u8(header);
        put_remaining(body.len(), dst);
        dst.put_slice(&body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(p: Packet) -> Vec<u8> {
        let mut b = BytesMut::new();
        MqttCodec::default().encode(p, &mut b).unwrap();
        b.to_vec()
    }

    fn decode_all(bytes: &[u8]) -> Vec<Packet> {
        let mut codec = MqttCodec::default();
        let mut buf = BytesMut::from(bytes);
        let mut out = vec![];
        while let Some(p) = codec.decode(&mut buf).unwrap() {
            out.push(p);
        }
        assert!(buf.is_empty());
        out
    }

    #[test]
    fn pomelo_connect_bytes() {
        // mqtt10-basic: 10 22 00 04 'MQTT' 04 02 00 00 00 16 'MQTT_RPC_1795247376352'
        let bytes = encode(Packet::pomelo_connect("MQTT_RPC_1795247376352"));
        let mut want = vec![0x10, 0x22, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x00];
        want.extend_from_slice(&[0x00, 0x16]);
        want.extend_from_slice(b"MQTT_RPC_1795247376352");
        assert_eq!(bytes, want);
        assert_eq!(decode_all(&bytes), vec![Packet::pomelo_connect("MQTT_RPC_1795247376352")]);
    }

    #[test]
    fn ping_and_disconnect() {
        assert_eq!(encode(Packet::PingReq), [0xc0, 0x00]);
        assert_eq!(encode(Packet::PingResp), [0xd0, 0x00]);
        assert_eq!(encode(Packet::Disconnect), [0xe0, 0x00]);
        assert_eq!(decode_all(&[0xc0, 0, 0xd0, 0]), vec![Packet::PingReq, Packet::PingResp]);
    }

    #[test]
    fn remaining_length_varint() {
        let mut b = BytesMut::new();
        put_remaining(162, &mut b);
        assert_eq!(&b[..], [0xa2, 0x01]);
        let mut b = BytesMut::new();
        put_remaining(863, &mut b);
        assert_eq!(&b[..], [0xdf, 0x06]);
        assert_eq!(read_remaining(&[0xff, 0xff, 0xff, 0x7f], usize::MAX).unwrap(), Some((268_435_455, 4)));
    }

    #[test]
    fn qos1_publish_keeps_its_packet_id() {
        let bytes = [0x32, 0x08, 0x00, 0x03, b'r', b'p', b'c', 0x00, 0x07, b'{'];
        assert_eq!(
            decode_all(&bytes),
            vec![Packet::Publish {
                topic: "rpc".into(),
                qos: 1,
                pkid: Some(7),
                retain: false,
                payload: Bytes::from_static(b"{"),
            }]
        );
    }

    #[test]
    fn oversize_and_malformed_are_errors() {
        let mut codec = MqttCodec::new(100);
        let mut buf = BytesMut::from(&[0x30, 0xff, 0xff, 0x7f][..]);
        assert!(matches!(codec.decode(&mut buf), Err(WireError::FrameTooLarge { .. })));
        let mut buf = BytesMut::from(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01][..]);
        assert!(matches!(codec.decode(&mut buf), Err(WireError::Malformed { .. })));
        let mut buf = BytesMut::from(&[0x30, 0x02, 0x00, 0x05][..]);
        assert!(matches!(codec.decode(&mut buf), Err(WireError::Malformed { .. })));
        let mut buf = BytesMut::from(&[0xf0, 0x00][..]);
        assert!(matches!(codec.decode(&mut buf), Err(WireError::Malformed { .. })));
    }

    #[test]
    fn fixed_headers_and_subscribe_topics() {
        assert_eq!(read_fixed_header(&[0x30], 100).unwrap(), None);
        let h = read_fixed_header(&[0x30, 0xa2, 0x01, 0], 1000).unwrap().unwrap();
        assert_eq!(h, FixedHeader { byte: 0x30, remaining: 162, len: 3 });
        assert_eq!(h.packet_len(), 165);
        assert!(matches!(read_fixed_header(&[0x30, 0xa2, 0x01], 100), Err(WireError::FrameTooLarge { .. })));
        // SUBSCRIBE id 1: "a/b" QoS 0, "c" QoS 1.
        let body = Bytes::from_static(b"\x00\x01\x00\x03a/b\x00\x00\x01c\x01");
        let sub = Packet::Other { header: 0x82, body };
        assert_eq!(sub.subscribe_topics(), Some(vec!["a/b".to_string(), "c".to_string()]));
        assert_eq!(Packet::PingReq.subscribe_topics(), None);
    }

    #[test]
    fn unknown_packets_are_kept() {
        // SUBSCRIBE (0x82) is not used by pomelo RPC; it must not break the stream.
        let bytes = [0x82, 0x02, 0x00, 0x01, 0xc0, 0x00];
        let got = decode_all(&bytes);
        assert_eq!(got[1], Packet::PingReq);
        assert!(matches!(got[0], Packet::Other { header: 0x82, .. }));
    }
}
