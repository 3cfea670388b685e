//! A TCP stream as a stream and a sink of frames, for the dialects spoken directly over TCP.
//!
//! Written here instead of using tokio-util's `FramedRead`/`FramedWrite` (whose codecs we keep)
//! for two things they cannot do: buffers exist only while bytes are in them, so an idle
//! connection holds no buffer at all (10,000 idle mailboxes on one acceptor must cost a few KiB
//! each), and a read that leaves part of a frame waiting re-arms TCP_QUICKACK, so a Node peer
//! that writes a frame in several small pieces without TCP_NODELAY (pomelo-rpc 1.0.7's MQTT
//! mailbox) is not held back by our delayed ACK.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use futures::{Sink, Stream};
use tokio::io::AsyncWrite;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::{Decoder, Encoder};

use crate::wire::WireError;

/// Bytes asked of the kernel per read at first; doubled while reads fill it, up to the max.
const READ_CHUNK: usize = 16 * 1024;
/// The largest read.
const READ_CHUNK_MAX: usize = 256 * 1024;
/// A sink stops accepting frames once this much is buffered, until it has written some.
const WRITE_HIGH_WATER: usize = 256 * 1024;
/// What a sink allocates when it starts buffering (it holds nothing once all is written).
const WRITE_CHUNK: usize = 64 * 1024;

/// Buffers a thread's connections have finished with, reused by the next one that needs one: an
/// idle connection holds no buffer, and a busy one does not allocate a new one every round.
mod spare {
    use std::cell::RefCell;

    use bytes::BytesMut;

    /// Buffers kept per thread, and the largest kept.
    const KEEP: usize = 16;
    const KEEP_MAX_CAPACITY: usize = 512 * 1024;

    thread_local! {
        static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    }

    /// An empty buffer with room for at least `min` bytes.
    pub(super) fn take(min: usize) -> BytesMut {
        let mut buf = SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default();
        buf.reserve(min);
        buf
    }

    /// Hands back an empty buffer (its allocation is reused once nothing else refers to it).
    pub(super) fn give(mut buf: BytesMut) {
        buf.clear();
        if buf.capacity() == 0 || buf.capacity() > KEEP_MAX_CAPACITY {
            return;
        }
        SPARE.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < KEEP {
                s.push(buf);
            }
        });
    }
}

/// Frames decoded from the read half of a TCP stream.
pub(crate) struct FrameReader<C> {
    io: OwnedReadHalf,
    codec: C,
    buf: BytesMut,
    eof: bool,
    /// The last read drained the socket and left part of a frame in the buffer.
    partial: bool,
    /// Bytes asked of the kernel per read (grows while reads fill it).
    chunk: usize,
}

impl<C> FrameReader<C> {
    pub(crate) fn new(io: OwnedReadHalf, codec: C) -> Self {
        FrameReader { io, codec, buf: BytesMut::new(), eof: false, partial: false, chunk: READ_CHUNK }
    }
}

impl<C: Decoder<Error = WireError> + Unpin> Stream for FrameReader<C> {
    type Item = Result<C::Item, WireError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if !this.buf.is_empty() {
                match this.codec.decode(&mut this.buf) {
                    Ok(None) if std::mem::take(&mut this.partial) => {
                        // Part of a frame is here and the rest is not: a peer that writes a
                        // frame in pieces without TCP_NODELAY waits for our ACK before sending
                        // the rest, so ACK now instead of after the delayed-ACK timer.
                        #[cfg(target_os = "linux")]
                        let _ = this.io.as_ref().set_quickack(true);
                    }
                    Ok(Some(frame)) => {
                        if this.buf.is_empty() {
                            // Frames already handed out keep their own part of the allocation.
                            spare::give(std::mem::take(&mut this.buf));
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
            if this.buf.is_empty() {
                // No buffer while nothing is there to read: an idle connection holds none.
                if let Err(e) = ready!(this.io.as_ref().poll_read_ready(cx)) {
                    this.eof = true;
                    return Poll::Ready(Some(Err(WireError::Io(e))));
                }
            }
            if this.buf.capacity() == 0 {
                this.buf = spare::take(this.chunk);
            } else if this.buf.capacity() - this.buf.len() < this.chunk / 2 {
                this.buf.reserve(this.chunk);
            }
            let room = this.buf.capacity() - this.buf.len();
            // Through AsyncRead rather than try_read: a read that does not fill the buffer tells
            // tokio the socket is drained, so no extra read that would only return EAGAIN.
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.io), cx, &mut this.buf) {
                Poll::Pending => {
                    if this.buf.is_empty() {
                        spare::give(std::mem::take(&mut this.buf));
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) => this.eof = true,
                Poll::Ready(Ok(n)) if n == room => this.chunk = (this.chunk * 2).min(READ_CHUNK_MAX),
                Poll::Ready(Ok(_)) => this.partial = true,
                Poll::Ready(Err(e)) => {
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
        spare::give(std::mem::take(&mut self.buf));
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
        if this.buf.capacity() == 0 {
            // A buffer for a round of frames instead of growing from nothing.
            this.buf = spare::take(WRITE_CHUNK);
        }
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
