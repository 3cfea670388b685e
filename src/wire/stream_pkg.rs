//! stream-pkg 0.0.5 framing (the `tcp` dialect, spec/wire.md §3): a big-endian base-128 length
//! header (continuation bit 0x80 on every byte but the last) followed by the UTF-8 JSON body.
//!
//! Unlike Node's decoder this one survives a header split across reads at any byte.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::{DEFAULT_MAX_FRAME, WireError};

/// Longest header we accept: five groups of 7 bits cover every u32 length.
const MAX_HEADER: usize = 5;

/// Encoder/decoder for stream-pkg frames; items are frame bodies.
#[derive(Debug, Clone)]
pub struct StreamPkgCodec {
    max_frame: usize,
}

impl StreamPkgCodec {
    /// A codec that rejects bodies longer than `max_frame` bytes in both directions.
    pub fn new(max_frame: usize) -> Self {
        StreamPkgCodec { max_frame }
    }
}

impl Default for StreamPkgCodec {
    fn default() -> Self {
        StreamPkgCodec::new(DEFAULT_MAX_FRAME)
    }
}

/// Writes the length header for a body of `len` bytes.
pub fn put_header(len: usize, dst: &mut BytesMut) {
    let mut groups = [0u8; 10];
    let mut n = 0;
    let mut v = len;
    loop {
        groups[n] = (v & 0x7f) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        let cont = if i > 0 { 0x80 } else { 0 };
        dst.put_u8(groups[i] | cont);
    }
}

/// Reads a header from the start of `src`: `Ok(Some((body_len, header_len)))`, or `Ok(None)`
/// when the header is not complete yet.
pub fn read_header(src: &[u8], max_frame: usize) -> Result<Option<(usize, usize)>, WireError> {
    let mut len: usize = 0;
    for (i, &b) in src.iter().enumerate() {
        if i >= MAX_HEADER {
            return Err(WireError::HeaderTooLong(MAX_HEADER));
        }
        len = (len << 7) | (b & 0x7f) as usize;
        if b & 0x80 == 0 {
            if len > max_frame {
                return Err(WireError::FrameTooLarge { len, max: max_frame });
            }
            return Ok(Some((len, i + 1)));
        }
    }
    if src.len() >= MAX_HEADER {
        return Err(WireError::HeaderTooLong(MAX_HEADER));
    }
    Ok(None)
}

impl Decoder for StreamPkgCodec {
    type Item = Bytes;
    type Error = WireError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, WireError> {
        let Some((len, hlen)) = read_header(src, self.max_frame)? else {
            return Ok(None);
        };
        if len == 0 {
            return Err(WireError::EmptyFrame);
        }
        if src.len() < hlen + len {
            // Grow only toward bytes that have really arrived plus one read's worth.
            let want = (hlen + len - src.len()).min(64 * 1024);
            src.reserve(want);
            return Ok(None);
        }
        src.advance(hlen);
        Ok(Some(src.split_to(len).freeze()))
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for StreamPkgCodec {
    type Error = WireError;

    fn encode(&mut self, body: T, dst: &mut BytesMut) -> Result<(), WireError> {
        let body = body.as_ref();
        if body.is_empty() {
            return Err(WireError::EmptyFrame);
        }
        if body.len() > self.max_frame {
            return Err(WireError::FrameTooLarge { len: body.len(), max: self.max_frame });
        }
        dst.reserve(body.len() + MAX_HEADER);
        put_header(body.len(), dst);
        dst.put_slice(body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: usize) -> Vec<u8> {
        let mut b = BytesMut::new();
        put_header(len, &mut b);
        b.to_vec()
    }

    #[test]
    fn header_table_from_spec() {
        // spec/wire.md §3.1, verified against stream-pkg itself.
        let table: &[(usize, &[u8])] = &[
            (1, &[0x01]),
            (108, &[0x6c]),
            (127, &[0x7f]),
            (128, &[0x81, 0x00]),
            (157, &[0x81, 0x1d]),
            (300, &[0x82, 0x2c]),
            (16383, &[0xff, 0x7f]),
            (16384, &[0x81, 0x80, 0x00]),
            (2097152, &[0x81, 0x80, 0x80, 0x00]),
        ];
        for &(len, bytes) in table {
            assert_eq!(header(len), bytes, "encode {len}");
            assert_eq!(read_header(bytes, usize::MAX).unwrap(), Some((len, bytes.len())));
        }
    }

    #[test]
    fn cap_is_enforced_before_the_body_arrives() {
        let mut codec = StreamPkgCodec::new(1000);
        let mut buf = BytesMut::from(&[0x81, 0x80, 0x80, 0x00][..]);
        match codec.decode(&mut buf) {
            Err(WireError::FrameTooLarge { len: 2097152, max: 1000 }) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(buf.capacity() < 100_000, "no allocation from the length field");
    }

    #[test]
    fn endless_header_is_an_error() {
        let mut codec = StreamPkgCodec::new(usize::MAX);
        let mut buf = BytesMut::from(&[0x80u8; 6][..]);
        assert!(matches!(codec.decode(&mut buf), Err(WireError::HeaderTooLong(_))));
    }

    #[test]
    fn empty_frames_are_refused_both_ways() {
        let mut codec = StreamPkgCodec::default();
        assert!(matches!(codec.decode(&mut BytesMut::from(&[0u8][..])), Err(WireError::EmptyFrame)));
        assert!(matches!(codec.encode(&b""[..], &mut BytesMut::new()), Err(WireError::EmptyFrame)));
    }
}
