//! The per-connection state machine behind [`super::run`]: reading in slices, handing payloads
//! to the endpoint, batching and coalescing writes, probes, silence limits and the drain on close.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::{CloseReason, Endpoint, LinkOptions, Outbox};
use crate::message::join_batch;
use crate::transport::dialect::{Connection, Dialect, FrameSink, FrameStream, Inbound, Side};

/// What one poll reads before it sends what it has and lets other tasks run: with many calls in
/// flight, answering in slices of about this size lets the peer work on the first answers while
/// this side works on the rest (measured on loopback with 1 KB calls: 32 KB per slice ran 1.5×
/// to 2× faster than whole batches of 100 calls, and faster than 16 KB or 64 KB slices).
const READ_BUDGET_BYTES: usize = 32 * 1024;
/// At most this many frames per poll, whatever their size.
const READ_BUDGET_FRAMES: usize = 256;

#[derive(Debug, Clone, Copy)]
struct Probe {
    every: Duration,
    /// Client keepalive: the peer must answer; a server heartbeat is only a probe.
    expect_answer: bool,
}

pub(super) struct Driver<D: Dialect, E> {
    dialect: D,
    frames: FrameStream<D::Frame>,
    sink: FrameSink<D::Frame>,
    endpoint: E,
    opts: LinkOptions,
    out: Outbox,
    /// Frames waiting for the sink, with their payload sizes.
    queue: VecDeque<(D::Frame, usize)>,
    queued_bytes: usize,
    batch: Vec<Bytes>,
    batch_timer: Option<Pin<Box<Sleep>>>,
    unflushed: bool,
    reading: bool,
    /// Why reading stopped (the connection ends once work is done and output flushed).
    end: Option<CloseReason>,
    /// The connection is unusable: end at once.
    dead: Option<CloseReason>,
    probe: Option<Probe>,
    probe_timer: Option<Pin<Box<Sleep>>>,
    ping_sent: Option<Instant>,
    silence: Option<Duration>,
    silence_timer: Option<Pin<Box<Sleep>>>,
    /// When a frame last arrived (taken once per poll that read any).
    last_frame: Instant,
    drain_timer: Option<Pin<Box<Sleep>>>,
    shutdown: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

impl<D: Dialect, E: Endpoint> Driver<D, E> {
    pub(super) fn new(
        dialect: D,
        conn: Connection<D::Frame>,
        endpoint: E,
        opts: LinkOptions,
        shutdown: Option<CancellationToken>,
    ) -> Self {
        let Connection { frames, sink, idle_timeout } = conn;
        let probe = match opts.side {
            Side::Client if dialect.ping().is_some() => opts
                .keepalive
                .or(dialect.default_keepalive())
                .map(|every| Probe { every, expect_answer: true }),
            Side::Server => opts.heartbeat.map(|h| Probe { every: h.interval, expect_answer: false }),
            Side::Client => None,
        };
        let silence = match opts.side {
            Side::Client => idle_timeout,
            Side::Server => opts.heartbeat.map(|h| h.timeout),
        };
        let now = Instant::now();
        let mut d = Driver {
            frames,
            sink,
            endpoint,
            out: Outbox::default(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            batch: Vec::new(),
            batch_timer: None,
            unflushed: false,
            reading: true,
            end: None,
            dead: None,
            probe,
            probe_timer: probe.map(|p| Box::pin(tokio::time::sleep_until(now + p.every))),
            ping_sent: None,
            silence,
            silence_timer: silence.map(|s| Box::pin(tokio::time::sleep_until(now + s))),
            last_frame: now,
            drain_timer: None,
            shutdown: shutdown.map(|t| Box::pin(t.cancelled_owned())),
            dialect,
            opts,
        };
        if d.opts.side == Side::Client
            && let Some(hello) = d.dialect.hello()
        {
            d.queue.push_back((hello, 0));
        }
        d
    }

    /// Drives the connection to its end, then closes it.
    pub(super) async fn run(mut self) {
        let reason = std::future::poll_fn(|cx| self.poll_drive(cx)).await;
        self.finish(reason).await;
    }

    fn stop_reading(&mut self, reason: CloseReason) {
        if self.reading {
            self.reading = false;
            match &reason {
                CloseReason::Protocol(_) => {
                    tracing::warn!(conn = %self.opts.label, dialect = D::NAME, "closing connection: {reason}")
                }
                _ => {
                    tracing::debug!(conn = %self.opts.label, dialect = D::NAME, "connection ending: {reason}")
                }
            }
            self.end = Some(reason);
            self.drain_timer = Some(Box::pin(tokio::time::sleep(self.opts.drain_grace)));
        }
    }

    fn send_frame(&mut self, frame: D::Frame, size: usize) {
        self.queued_bytes += size;
        self.queue.push_back((frame, size));
    }

    /// Handles one received frame; returns the payload bytes it carried.
    fn on_frame(&mut self, cx: &mut Context<'_>, frame: D::Frame) -> usize {
        match self.dialect.classify(frame, self.opts.side) {
            Inbound::Payload(payload) => {
                let size = payload.len();
                if let Err(reason) = self.endpoint.on_payload(cx, payload, &mut self.out) {
                    self.stop_reading(reason);
                }
                return size;
            }
            Inbound::Ping => {
                if let Some(pong) = self.dialect.pong() {
                    self.send_frame(pong, 0);
                }
            }
            Inbound::Pong => self.ping_sent = None,
            Inbound::Hello => {}
            Inbound::Bye => self.stop_reading(CloseReason::PeerGoodbye),
            Inbound::Ignored(what) => tracing::debug!(conn = %self.opts.label, "ignoring {what}"),
            Inbound::Invalid(why) => self.stop_reading(CloseReason::Protocol(why)),
        }
        0
    }

    /// Moves the endpoint's output to the batch or the send queue.
    fn take_output(&mut self) -> bool {
        if self.out.is_empty() {
            return false;
        }
        match self.opts.batch {
            Some(every) => {
                if self.batch.is_empty() {
                    self.batch_timer = Some(Box::pin(tokio::time::sleep(every)));
                }
                self.batch.append(&mut self.out.ready);
                self.out.bytes = 0;
            }
            None => {
                self.out.bytes = 0;
                for p in self.out.ready.drain(..) {
                    let size = p.len();
                    let frame = self.dialect.payload(p, self.opts.side);
                    self.queued_bytes += size;
                    self.queue.push_back((frame, size));
                }
            }
        }
        true
    }

    fn flush_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let joined = Bytes::from(join_batch(self.batch.iter().map(|b| &b[..])));
        self.batch.clear();
        self.batch_timer = None;
        let size = joined.len();
        let frame = self.dialect.payload(joined, self.opts.side);
        self.send_frame(frame, size);
    }

    fn poll_timers(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        if let Some(t) = self.batch_timer.as_mut()
            && t.as_mut().poll(cx).is_ready()
        {
            self.flush_batch();
            progress = true;
        }
        if let (Some(p), Some(t)) = (self.probe, self.probe_timer.as_mut())
            && t.as_mut().poll(cx).is_ready()
        {
            let now = Instant::now();
            t.as_mut().reset(now + p.every);
            match self.ping_sent {
                Some(at) if p.expect_answer && now.duration_since(at) >= p.every * 2 => {
                    self.dead = Some(CloseReason::NoKeepaliveAnswer(p.every * 2));
                }
                Some(_) if p.expect_answer => {}
                _ => {
                    if let Some(ping) = self.dialect.ping() {
                        self.ping_sent = Some(now);
                        self.send_frame(ping, 0);
                    }
                }
            }
            progress = true;
        }
        if let (Some(limit), Some(t)) = (self.silence, self.silence_timer.as_mut())
            && t.as_mut().poll(cx).is_ready()
        {
            let due = self.last_frame + limit;
            if Instant::now() >= due {
                self.dead = Some(CloseReason::Silent(limit));
            } else {
                t.as_mut().reset(due);
            }
            progress = true;
        }
        progress
    }

    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<bool, CloseReason> {
        let mut progress = false;
        while !self.queue.is_empty() {
            match self.sink.as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    let (frame, size) = self.queue.pop_front().expect("queue is not empty");
                    self.queued_bytes -= size;
                    self.sink.as_mut().start_send(frame).map_err(CloseReason::from_wire)?;
                    self.unflushed = true;
                    progress = true;
                }
                Poll::Ready(Err(e)) => return Err(CloseReason::from_wire(e)),
                Poll::Pending => break,
            }
        }
        if self.unflushed {
            match self.sink.as_mut().poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => return Err(CloseReason::from_wire(e)),
                Poll::Pending => {}
            }
        }
        Ok(progress)
    }

    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<CloseReason> {
        let (mut frames, mut bytes) = (READ_BUDGET_FRAMES, READ_BUDGET_BYTES);
        let mut stamped = false;
        loop {
            let mut progress = false;
            if self.reading
                && let Some(s) = self.shutdown.as_mut()
                && s.as_mut().poll(cx).is_ready()
            {
                self.stop_reading(CloseReason::Shutdown);
            }
            while self.reading && self.endpoint.can_read() && self.queued_bytes < self.opts.max_queued_bytes {
                if frames == 0 || bytes == 0 {
                    cx.waker().wake_by_ref();
                    break;
                }
                match self.frames.as_mut().poll_next(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        progress = true;
                        frames -= 1;
                        bytes = bytes.saturating_sub(self.on_frame(cx, frame));
                    }
                    Poll::Ready(Some(Err(e))) => self.stop_reading(CloseReason::from_wire(e)),
                    Poll::Ready(None) => self.stop_reading(CloseReason::PeerClosed),
                    Poll::Pending => break,
                }
            }
            if !stamped && frames < READ_BUDGET_FRAMES && self.silence.is_some() {
                stamped = true;
                self.last_frame = Instant::now();
            }
            if self.endpoint.poll_work(cx, &mut self.out).is_ready() && self.reading {
                self.stop_reading(CloseReason::Local);
            }
            progress |= self.take_output();
            if self.end.is_some() {
                // Closing: what is batched leaves now.
                self.flush_batch();
            }
            progress |= self.poll_timers(cx);
            if let Some(dead) = self.dead.take() {
                return Poll::Ready(dead);
            }
            match self.poll_write(cx) {
                Ok(p) => progress |= p,
                Err(reason) => return Poll::Ready(reason),
            }
            if let Some(end) = &self.end {
                let drained = !self.endpoint.busy()
                    || self.drain_timer.as_mut().is_some_and(|t| t.as_mut().poll(cx).is_ready());
                if drained
                    && self.queue.is_empty()
                    && self.batch.is_empty()
                    && self.out.is_empty()
                    && !self.unflushed
                {
                    if self.endpoint.busy() {
                        tracing::warn!(conn = %self.opts.label, "work still running after {:?}; closing anyway", self.opts.drain_grace);
                    }
                    return Poll::Ready(end.clone());
                }
            }
            if !progress || frames == 0 || bytes == 0 {
                return Poll::Pending;
            }
        }
    }

    /// Tells the endpoint, says goodbye where the dialect has one (socket.io 0.9's `0::`, also
    /// in answer to the peer's), and closes the write side; bounded, as the peer may not read.
    async fn finish(mut self, reason: CloseReason) {
        use futures::SinkExt;
        self.endpoint.on_close(&reason);
        let bye = match reason {
            CloseReason::Io(_) => None,
            _ => self.dialect.goodbye(self.opts.side),
        };
        let sink = &mut self.sink;
        let closing = async move {
            if let Some(bye) = bye {
                sink.feed(bye).await?;
            }
            sink.close().await
        };
        if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(5), closing).await {
            tracing::debug!(conn = %self.opts.label, "write side ended: {e}");
        }
    }
}
