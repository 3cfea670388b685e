//! A TCP stream as a stream and a sink of frames, for the dialects spoken directly over TCP.
//!
//! Written here instead of using tokio-util's `FramedRead`/`FramedWrite` (whose codecs we keep)
//! for two things they cannot do: buffers exist only while bytes are in them, so an idle
//! connection holds no buffer at all (10,000 idle mailboxes on one acceptor must cost a few KiB
//! each), and every read re-arms TCP_QUICKACK, so a Node peer that writes a frame in several
//! small pieces without TCP_NODELAY (pomelo-rpc 1.0.7's MQTT mailbox) is not held back by our
//! delayed ACK.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use futures::{Sink, Stream};
use tokio::io::AsyncWrite;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::{Decoder, Encoder};

use crate::wire::WireError;

/// Bytes asked of the kernel per read.
const READ_CHUNK: usize = 16 * 1024;
/// A sink stops accepting frames once this much is buffered, until it has written some.
const WRITE_HIGH_WATER: usize = 256 * 1024;

/// Frames decoded from the read half of a TCP stream.
pub(crate) struct FrameReader<C> {
    io: OwnedReadHalf,
    codec: C,
    buf: BytesMut,
    eof: bool,
}

impl<C> FrameReader<C> {
    pub(crate) fn new(io: OwnedReadHalf, codec: C) -> Self {
        FrameReader { io, codec, buf: BytesMut::new(), eof: false }
    }
}

impl<C: Decoder<Error = WireError> + Unpin> Stream for FrameReader<C> {
    type Item = Result<C::Item, WireError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if !this.buf.is_empty() {
                match this.codec.decode(&mut this.buf) {
                    Ok(Some(frame)) => {
                        if this.buf.is_empty() {
                            // Frames already handed out keep their own part of the allocation.
                            this.buf = BytesMut::new();
                        }
                        return Poll::Ready(Some(Ok(frame)));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        this.eof = true;
                        this.buf = BytesMut::new();
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
            if this.eof {
                if this.buf.is_empty() {
                    return Poll::Ready(None);
                }
                let left = std::mem::take(&mut this.buf).len();
                let msg = format!("connection closed inside a frame ({left} bytes of it read)");
                return Poll::Ready(Some(Err(WireError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    msg,
                )))));
            }
            let stream = this.io.as_ref();
            if let Err(e) = ready!(stream.poll_read_ready(cx)) {
                this.eof = true;
                return Poll::Ready(Some(Err(WireError::Io(e))));
            }
            if this.buf.capacity() - this.buf.len() < READ_CHUNK / 4 {
                this.buf.reserve(READ_CHUNK);
            }
            match stream.try_read_buf(&mut this.buf) {
                Ok(0) => this.eof = true,
                Ok(_) => {
                    #[cfg(target_os = "linux")]
                    let _ = stream.set_quickack(true);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    this.eof = true;
                    this.buf = BytesMut::new();
                    return Poll::Ready(Some(Err(WireError::Io(e))));
                }
            }
        }
    }
}

/// Frames encoded into the write half of a TCP stream.
pub(crate) struct FrameWriter<C> {
    io: OwnedWriteHalf,
    codec: C,
    buf: BytesMut,
}

impl<C> FrameWriter<C> {
    pub(crate) fn new(io: OwnedWriteHalf, codec: C) -> Self {
        FrameWriter { io, codec, buf: BytesMut::new() }
    }

    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WireError>> {
        while !self.buf.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.buf))?;
            if n == 0 {
                return Poll::Ready(Err(WireError::Io(io::ErrorKind::WriteZero.into())));
            }
            self.buf.advance(n);
        }
        self.buf = BytesMut::new();
        Poll::Ready(Ok(()))
    }
}

impl<C: Encoder<F, Error = WireError> + Unpin, F> Sink<F> for FrameWriter<C> {
    type Error = WireError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WireError>> {
        let this = self.get_mut();
        if this.buf.len() >= WRITE_HIGH_WATER {
            ready!(this.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, frame: F) -> Result<(), WireError> {
        let this = self.get_mut();
        this.codec.encode(frame, &mut this.buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WireError>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.io).poll_flush(cx).map_err(WireError::Io)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WireError>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx).map_err(WireError::Io)
    }
}
