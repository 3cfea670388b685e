//! The decoder thread: takes what the socket tasks report (`Msg`), decodes every connection's
//! bytes in arrival order with one [`ConnDecoder`] each, keeps the [`Summary`] and has the
//! `LineWriter` write a line per frame and event, flushing whenever its queue runs dry. The
//! summary line is the last one it writes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::Msg;
use super::summary::Summary;
use super::writer::LineWriter;
use crate::capture::Dir;
use crate::capture::decode::ConnDecoder;
use crate::capture::record::{FrameRecord, RAW};
use crate::wire::Transport;

/// How long the thread lets chunks gather after it has written and flushed a batch.
const BATCH_PAUSE: Duration = Duration::from_millis(2);

/// A connection as the decoder thread knows it.
struct ConnState {
    dec: ConnDecoder,
    /// The connection's count of bytes waiting for this thread (shared with its socket task).
    queued: Option<Arc<AtomicUsize>>,
}

/// The state of the decoder thread.
pub(super) struct DecoderThread {
    writer: LineWriter,
    transport: Transport,
    max_frame: usize,
    queue_limit: usize,
    stats: Arc<Mutex<Summary>>,
    conns: HashMap<u64, ConnState>,
}

/// One-field objects for event lines.
fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

impl DecoderThread {
    pub(super) fn new(
        writer: LineWriter,
        transport: Transport,
        max_frame: usize,
        queue_limit: usize,
        stats: Arc<Mutex<Summary>>,
    ) -> Self {
        DecoderThread { writer, transport, max_frame, queue_limit, stats, conns: HashMap::new() }
    }

    /// Runs until every sender is gone, then writes the summary line and returns the summary.
    pub(super) fn run(mut self, rx: Receiver<Msg>) -> Summary {
        while let Ok(msg) = rx.recv() {
            self.handle(msg);
            while let Ok(more) = rx.try_recv() {
                self.handle(more);
            }
            self.flush();
            // Let the next chunks gather: one wake-up per batch rather than per read keeps this
            // thread off the CPUs the relayed peers need (a relayed read then costs the relay no
            // wake-up either, since nobody waits on the queue). Lines reach the file at most
            // about this much later than their frame.
            std::thread::sleep(BATCH_PAUSE);
        }
        self.stats().write_errors = self.writer.errors;
        let summary = self.stats().clone();
        self.writer.value(&json!({ "summary": summary }));
        self.flush();
        summary
    }

    fn flush(&mut self) {
        self.writer.flush();
        let errors = self.writer.errors;
        self.stats().write_errors = errors;
    }

    fn stats(&self) -> MutexGuard<'_, Summary> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn conn(&mut self, conn: u64) -> &mut ConnState {
        let (t, max) = (self.transport, self.max_frame);
        self.conns.entry(conn).or_insert_with(|| ConnState { dec: ConnDecoder::new(t, max), queued: None })
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Open { conn, at, peer } => {
                self.stats().connections += 1;
                self.conn(conn);
                self.writer.event(at, conn, "open", fields([("peer", json!(peer.to_string()))]));
            }
            Msg::Upstream { conn, queued } => self.conn(conn).queued = Some(queued),
            Msg::UpstreamError { conn, at, error } => {
                self.conns.remove(&conn);
                self.writer.event(at, conn, "upstream-error", fields([("error", json!(error))]));
            }
            Msg::Chunk { conn, dir, at, bytes } => {
                let state = self.conn(conn);
                let recs = state.dec.feed(dir, &bytes);
                if let Some(q) = &state.queued {
                    q.fetch_sub(bytes.len(), Ordering::AcqRel);
                }
                drop(bytes);
                self.emit(conn, dir, at, recs);
            }
            Msg::Fin { conn, dir, at } => {
                let recs = self.conn(conn).dec.fin(dir);
                self.emit(conn, dir, at, recs);
                self.writer.event(at, conn, "fin", fields([("dir", json!(dir.name()))]));
            }
            Msg::Overflow { conn, dir, at, queued } => {
                let reason = format!(
                    "decoder fell behind ({queued} bytes queued, limit {}): no longer decoded, still relayed",
                    self.queue_limit
                );
                tracing::warn!("capture: conn {conn} {}: {reason}", dir.name());
                let rec = self.conn(conn).dec.stop(dir, &reason);
                self.emit(conn, dir, at, vec![rec]);
            }
            Msg::Error { conn, dir, at, error } => {
                let extra = fields([("dir", json!(dir.name())), ("error", json!(error))]);
                self.writer.event(at, conn, "error", extra);
            }
            Msg::Close { conn, at, bytes } => {
                self.conns.remove(&conn);
                {
                    let mut stats = self.stats();
                    stats.bytes.c2s += bytes.c2s;
                    stats.bytes.s2c += bytes.s2c;
                }
                self.writer.event(at, conn, "close", fields([("bytes", json!(bytes))]));
            }
        }
    }

    /// Counts the records and writes their lines.
    fn emit(&mut self, conn: u64, dir: Dir, at: Instant, recs: Vec<FrameRecord>) {
        if recs.is_empty() {
            return;
        }
        {
            let mut stats = self.stats();
            for r in &recs {
                if r.frame != RAW {
                    stats.frames.add(dir, 1);
                }
                if r.malformed.is_some() {
                    stats.malformed += 1;
                }
                match dir {
                    Dir::C2s => {
                        for call in r.calls() {
                            stats.requests += 1;
                            *stats.calls.entry(call).or_insert(0) += 1;
                        }
                    }
                    Dir::S2c => stats.responses += r.responses() as u64,
                }
            }
        }
        for r in &recs {
            self.writer.frame(at, conn, dir, r);
        }
    }
}
