//! stream-pkg framing with a type byte after the header (the "typed composer" of pinus-rpc's
//! `tcp` dialect): the length counts the type byte; types are 0 request, 1 ping, 2 pong,
//! 3 response. Pings and pongs carry no body.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::stream_pkg::{StreamPkgCodec, put_header};
use super::{DEFAULT_MAX_FRAME, WireError};

/// Frame types of the typed composer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A request (or batch) from the mailbox.
    Msg = 0,
    /// Keepalive probe from the mailbox.
    Ping = 1,
    /// Answer to a ping.
    Pong = 2,
    /// A response (or batch) from the acceptor.
    Res = 3,
}

impl Kind {
    /// The kind of a type byte; `None` for a byte pinus-rpc does not define.
    pub fn from_byte(b: u8) -> Option<Kind> {
        match b {
            0 => Some(Kind::Msg),
            1 => Some(Kind::Ping),
            2 => Some(Kind::Pong),
            3 => Some(Kind::Res),
            _ => None,
        }
    }

    /// Whether frames of this kind carry a JSON body (requests and responses).
    pub fn has_body(self) -> bool {
        matches!(self, Kind::Msg | Kind::Res)
    }
}

/// One typed frame: its kind and body (empty for ping/pong).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedFrame {
    /// The type byte.
    pub kind: Kind,
    /// JSON body for `Msg`/`Res`.
    pub body: Bytes,
}

impl TypedFrame {
    /// A frame without body.
    pub fn bare(kind: Kind) -> Self {
        TypedFrame { kind, body: Bytes::new() }
    }
}

/// Encoder/decoder for typed frames with a cap on the frame length.
#[derive(Debug, Clone)]
pub struct TypedCodec {
    max_frame: usize,
    inner: StreamPkgCodec,
}

impl TypedCodec {
    /// A codec that refuses frames longer than `max_frame` (type byte included).
    pub fn new(max_frame: usize) -> Self {
        TypedCodec { max_frame, inner: StreamPkgCodec::new(max_frame) }
    }
}

impl Default for TypedCodec {
    fn default() -> Self {
        TypedCodec::new(DEFAULT_MAX_FRAME)
    }
}

impl Decoder for TypedCodec {
    type Item = TypedFrame;
    type Error = WireError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<TypedFrame>, WireError> {
        let Some(mut frame) = self.inner.decode(src)? else {
            return Ok(None);
        };
        let byte = frame.get_u8();
        let Some(kind) = Kind::from_byte(byte) else {
            return Err(WireError::Malformed {
                dialect: "pinus-tcp",
                reason: format!("unknown frame type {byte}"),
            });
        };
        Ok(Some(TypedFrame { kind, body: frame }))
    }
}

impl Encoder<TypedFrame> for TypedCodec {
    type Error = WireError;

    fn encode(&mut self, frame: TypedFrame, dst: &mut BytesMut) -> Result<(), WireError> {
        let len = frame.body.len() + 1;
        if len > self.max_frame {
            return Err(WireError::FrameTooLarge { len, max: self.max_frame });
        }
        dst.reserve(len + 5);
        put_header(len, dst);
        dst.put_u8(frame.kind as u8);
        dst.put_slice(&frame.body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(f: TypedFrame) -> Vec<u8> {
        let mut b = BytesMut::new();
        TypedCodec::default().encode(f, &mut b).unwrap();
        b.to_vec()
    }

    #[test]
    fn ping_pong_and_message_bytes() {
        // pinus-rpc composer.compose(PING) = 01 01, compose(PONG) = 01 02.
        assert_eq!(encode(TypedFrame::bare(Kind::Ping)), [0x01, 0x01]);
        assert_eq!(encode(TypedFrame::bare(Kind::Pong)), [0x01, 0x02]);
        let body = Bytes::from_static(br#"{"id":1}"#);
        assert_eq!(encode(TypedFrame { kind: Kind::Msg, body: body.clone() }), b"\x09\x00{\"id\":1}");
        let mut buf = BytesMut::from(&b"\x09\x03{\"id\":1}\x01\x02"[..]);
        let mut c = TypedCodec::default();
        assert_eq!(c.decode(&mut buf).unwrap(), Some(TypedFrame { kind: Kind::Res, body }));
        assert_eq!(c.decode(&mut buf).unwrap(), Some(TypedFrame::bare(Kind::Pong)));
        assert_eq!(c.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn every_split_decodes_the_same() {
        let mut whole = Vec::new();
        for n in [1usize, 200, 20_000] {
            whole.extend(encode(TypedFrame { kind: Kind::Msg, body: Bytes::from(vec![b'x'; n]) }));
        }
        for cut in 0..whole.len() {
            let mut c = TypedCodec::default();
            let mut buf = BytesMut::from(&whole[..cut]);
            let mut got = vec![];
            while let Some(f) = c.decode(&mut buf).unwrap() {
                got.push(f.body.len());
            }
            buf.extend_from_slice(&whole[cut..]);
            while let Some(f) = c.decode(&mut buf).unwrap() {
                got.push(f.body.len());
            }
            assert_eq!(got, [1, 200, 20_000], "cut at {cut}");
        }
    }

    #[test]
    fn unknown_type_and_oversize_are_errors() {
        let mut c = TypedCodec::new(10);
        assert!(matches!(c.decode(&mut BytesMut::from(&[0x01, 0x07][..])), Err(WireError::Malformed { .. })));
        assert!(matches!(c.decode(&mut BytesMut::from(&[0x7f][..])), Err(WireError::FrameTooLarge { .. })));
    }
}
