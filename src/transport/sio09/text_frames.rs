//! WebSocket text frames read as Node's socket.io 0.9 reads them.
//!
//! socket.io 0.9's parser (hybi-16.js) turns the bytes of a text frame into a string with
//! `buffer.toString('utf8')`: bytes that are not UTF-8 become U+FFFD and the connection carries
//! on. tungstenite refuses such a message and ends the connection, and has no setting for it. So
//! the acceptor reads the client's byte stream through [`TextAsBinary`], which marks every text
//! frame as binary (opcode 1 → 2: one header byte; the masked payload and the lengths are
//! untouched), and the WebSocket adapter reads binary messages as text, lossily (socket.io 0.9
//! never sends binary frames).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const OPCODE_TEXT: u8 = 0x1;
const OPCODE_BINARY: u8 = 0x2;

/// Where the reader is in the frame sequence (RFC 6455 §5.2).
#[derive(Debug, Default, Clone)]
pub(super) struct FrameScanner {
    /// Header bytes seen of the current frame.
    header: [u8; 14],
    seen: usize,
    /// Header length, known once its second byte is seen (0 before).
    header_len: usize,
    /// Payload bytes still to come before the next header.
    payload_left: u64,
}

impl FrameScanner {
    /// Walks over bytes as they arrive, rewriting the opcode of each text frame to binary.
    pub fn scan(&mut self, data: &mut [u8]) {
        let mut i = 0;
        while i < data.len() {
            if self.payload_left > 0 {
                let skip = self.payload_left.min((data.len() - i) as u64);
                i += skip as usize;
                self.payload_left -= skip;
                continue;
            }
            if self.seen == 0 && data[i] & 0x0f == OPCODE_TEXT {
                data[i] = (data[i] & 0xf0) | OPCODE_BINARY;
            }
            self.header[self.seen] = data[i];
            self.seen += 1;
            i += 1;
            if self.seen == 2 {
                let extended = match self.header[1] & 0x7f {
                    126 => 2,
                    127 => 8,
                    _ => 0,
                };
                let mask = if self.header[1] & 0x80 != 0 { 4 } else { 0 };
                self.header_len = 2 + extended + mask;
            }
            if self.seen >= 2 && self.seen == self.header_len {
                self.payload_left = match self.header[1] & 0x7f {
                    126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
                    127 => u64::from_be_bytes(self.header[2..10].try_into().expect("8 bytes")),
                    n => u64::from(n),
                };
                self.seen = 0;
                self.header_len = 0;
            }
        }
    }
}

/// A byte stream whose incoming WebSocket text frames read as binary frames (see the module).
pub(super) struct TextAsBinary<S> {
    inner: S,
    frames: FrameScanner,
}

impl<S> TextAsBinary<S> {
    pub fn new(inner: S) -> Self {
        TextAsBinary { inner, frames: FrameScanner::default() }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TextAsBinary<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.frames.scan(&mut buf.filled_mut()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TextAsBinary<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame (mask 01 02 03 04) with the given first byte and payload.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn scanned(stream: &[u8], chunk: usize) -> Vec<u8> {
        let mut s = FrameScanner::default();
        let mut out = stream.to_vec();
        for part in out.chunks_mut(chunk) {
            s.scan(part);
        }
        assert_eq!((s.seen, s.payload_left), (0, 0), "ends between frames");
        out
    }

    #[test]
    fn text_frames_become_binary_whatever_the_reads() {
        // Payloads that look like headers (0x81) must not be touched; lengths of every form.
        let long = vec![0x81u8; 300];
        let huge = vec![0x01u8; 70_000];
        let frames = [
            (frame(0x81, b"5:::{\"a\xffb\"}"), 0x82),
            (frame(0x81, &long), 0x82),
            (frame(0x01, b"first part"), 0x02),
            (frame(0x80, b"continuation"), 0x80),
            (frame(0x89, b"ping"), 0x89),
            (frame(0x82, &[0x81, 0x81]), 0x82),
            (frame(0x81, &huge), 0x82),
            (frame(0x81, b""), 0x82),
            (frame(0x88, &[0x03, 0xe8]), 0x88),
        ];
        let stream: Vec<u8> = frames.iter().flat_map(|(f, _)| f.clone()).collect();
        let mut want = Vec::new();
        for (f, first) in &frames {
            want.push(*first);
            want.extend_from_slice(&f[1..]);
        }
        for chunk in [1, 2, 3, 7, 64, 1000, stream.len()] {
            assert_eq!(scanned(&stream, chunk), want, "reads of {chunk} bytes");
        }
    }

    #[test]
    fn unmasked_frames_too() {
        let stream = [0x81, 0x02, b'h', b'i', 0x81, 0x00, 0x8a, 0x00];
        assert_eq!(scanned(&stream, 1), [0x82, 0x02, b'h', b'i', 0x82, 0x00, 0x8a, 0x00]);
    }
}
