//! RFC 6455 WebSocket frames, read-only: header, extended length, masking key, payload (the
//! capture relay reads socket.io 0.9's WebSocket transport with it; connections themselves use
//! tungstenite in [`crate::transport::sio09`]).
//!
//! Pure: `Ok(None)` means "not enough bytes yet"; the payload length is checked against a cap
//! before anything is copied ([`WireError::FrameTooLarge`]), and a reserved opcode or an
//! oversized control frame is [`WireError::Malformed`].

use super::WireError;

/// Dialect name in [`WireError::Malformed`].
const DIALECT: &str = "WebSocket";

fn malformed(reason: impl Into<String>) -> WireError {
    WireError::Malformed { dialect: DIALECT, reason: reason.into() }
}

/// One WebSocket frame with its payload unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// FIN bit: last fragment of a message.
    pub fin: bool,
    /// RSV1..RSV3 bits (non-zero only with an extension such as permessage-deflate).
    pub rsv: u8,
    /// 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong.
    pub opcode: u8,
    /// Whether the sender masked the payload (clients must).
    pub masked: bool,
    /// The unmasked payload.
    pub payload: Vec<u8>,
    /// Bytes the frame took on the wire.
    pub len: usize,
}

impl Frame {
    /// Name of the opcode for capture lines.
    pub fn kind(&self) -> &'static str {
        opcode_name(self.opcode)
    }
}

/// Name of a WebSocket opcode.
pub fn opcode_name(opcode: u8) -> &'static str {
    match opcode {
        0 => "continuation",
        1 => "text",
        2 => "binary",
        8 => "close",
        9 => "ping",
        10 => "pong",
        _ => "reserved",
    }
}

/// Parses the frame at the start of `buf`; payloads longer than `max_payload` are an error.
pub fn parse_frame(buf: &[u8], max_payload: usize) -> Result<Option<Frame>, WireError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    let opcode = b0 & 0x0f;
    if matches!(opcode, 3..=7 | 11..=15) {
        return Err(malformed(format!("reserved WebSocket opcode {opcode}")));
    }
    let masked = b1 & 0x80 != 0;
    let (len, mut pos) = match b1 & 0x7f {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        n => (n as u64, 2),
    };
    if opcode >= 8 && len > 125 {
        return Err(malformed(format!("WebSocket control frame with a {len}-byte payload")));
    }
    if len > max_payload as u64 {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        return Err(WireError::FrameTooLarge { len, max: max_payload });
    }
    let len = len as usize;
    let mask = if masked {
        if buf.len() < pos + 4 {
            return Ok(None);
        }
        let m = [buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]];
        pos += 4;
        Some(m)
    } else {
        None
    };
    if buf.len() < pos + len {
        return Ok(None);
    }
    let mut payload = buf[pos..pos + len].to_vec();
    if let Some(m) = mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= m[i & 3];
        }
    }
    Ok(Some(Frame { fin: b0 & 0x80 != 0, rsv: (b0 >> 4) & 7, opcode, masked, payload, len: pos + len }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes a frame the way a client (masked) or server (unmasked) would.
    fn encode(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = vec![0x80 | opcode];
        let m = if mask.is_some() { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => out.push(m | n as u8),
            n if n < 65536 => {
                out.push(m | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(m | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if let Some(k) = mask {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i & 3]));
        } else {
            out.extend_from_slice(payload);
        }
        out
    }

    #[test]
    fn masked_and_unmasked_all_length_forms() {
        for n in [0usize, 5, 125, 126, 300, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            for mask in [None, Some([0xf0, 0xd8, 0x7b, 0xeb])] {
                let bytes = encode(1, &payload, mask);
                let f = parse_frame(&bytes, 1 << 20).unwrap().unwrap();
                assert_eq!((f.fin, f.opcode, f.masked, f.len), (true, 1, mask.is_some(), bytes.len()));
                assert_eq!(f.payload, payload);
                for cut in [0, 1, 2, 3, 9, bytes.len() - 1] {
                    if cut < bytes.len() {
                        assert_eq!(parse_frame(&bytes[..cut], 1 << 20).unwrap(), None, "n {n} cut {cut}");
                    }
                }
            }
        }
    }

    #[test]
    fn node_client_frame_from_the_ws04_capture() {
        // First frame the socket.io 0.9 client sent in shared/captures/rpc/ws04-basic (masked).
        let head = [0x81u8, 0xfe, 0x00, 0x8c, 0xf0, 0xd8, 0x7b, 0xeb, 0xc5, 0xe2, 0x41, 0xd1];
        let mut bytes = head.to_vec();
        bytes.resize(4 + 4 + 0x8c, 0);
        let f = parse_frame(&bytes, 1000).unwrap().unwrap();
        assert_eq!(&f.payload[..4], b"5:::");
    }

    #[test]
    fn limits_and_reserved() {
        let big = encode(2, &[0; 300], None);
        assert!(parse_frame(&big, 100).unwrap_err().to_string().contains("exceeds"));
        assert!(parse_frame(&[0x83, 0x00], 10).unwrap_err().to_string().contains("reserved"));
        let mut ping = vec![0x89, 126, 0, 200];
        ping.resize(204, 0);
        assert!(parse_frame(&ping, 1000).unwrap_err().to_string().contains("control"));
        // A 64-bit length is refused from the header alone.
        let huge = [0x82, 127, 0xff, 0, 0, 0, 0, 0, 0, 0];
        assert!(parse_frame(&huge, 1 << 30).is_err());
    }
}
