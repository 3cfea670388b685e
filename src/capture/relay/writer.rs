//! The capture file: created with its header line, then written line by line by the decoder
//! thread and flushed after every batch. A write that fails is counted and logged once; the
//! relay goes on relaying.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::capture::record::{self, FrameRecord};
use crate::capture::{CaptureError, Dir};
use crate::wire::json;

/// The open capture file.
pub(super) struct LineWriter {
    out: BufWriter<File>,
    path: String,
    /// Whether a failure was logged already.
    failed: bool,
    /// Lines that could not be written.
    pub(super) errors: u64,
    /// Time zero of the `t_ms` fields.
    started: Instant,
    /// Reused for every line.
    line: Vec<u8>,
}

impl LineWriter {
    /// Creates (or truncates) `path` and writes and flushes the header line.
    pub(super) fn create(path: &Path, header: &Value, started: Instant) -> Result<LineWriter, CaptureError> {
        let shown = path.display().to_string();
        let file_err = |source| CaptureError::File { path: shown.clone(), source };
        let file = File::create(path).map_err(file_err)?;
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        out.write_all(json::to_string(header).as_bytes())
            .and_then(|_| out.write_all(b"\n"))
            .and_then(|_| out.flush())
            .map_err(file_err)?;
        Ok(LineWriter {
            out,
            path: shown,
            failed: false,
            errors: 0,
            started,
            line: Vec::with_capacity(64 * 1024),
        })
    }

    /// Milliseconds from the start of the capture to `at`.
    fn t_ms(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.started).as_secs_f64() * 1000.0
    }

    /// Writes `self.line` and a newline.
    fn write_line(&mut self) {
        self.line.push(b'\n');
        if let Err(e) = self.out.write_all(&self.line) {
            self.errors += 1;
            if !self.failed {
                tracing::error!("capture: cannot write {}: {e} (still relaying)", self.path);
                self.failed = true;
            }
        }
    }

    /// A frame line.
    pub(super) fn frame(&mut self, at: Instant, conn: u64, dir: Dir, rec: &FrameRecord) {
        let t = self.t_ms(at);
        self.line.clear();
        rec.write_line(t, conn, dir, &mut self.line);
        self.write_line();
    }

    /// A connection event line (`open`, `fin`, `close`, …) with `extra` fields.
    pub(super) fn event(&mut self, at: Instant, conn: u64, event: &str, extra: Map<String, Value>) {
        self.line = record::event_line(self.t_ms(at), conn, event, extra).into_bytes();
        self.write_line();
    }

    /// Any other line (the summary).
    pub(super) fn value(&mut self, v: &Value) {
        self.line = json::to_vec(v);
        self.write_line();
    }

    /// Hands the buffered lines to the file.
    pub(super) fn flush(&mut self) {
        if let Err(e) = self.out.flush()
            && !self.failed
        {
            tracing::error!("capture: cannot flush {}: {e} (still relaying)", self.path);
            self.failed = true;
        }
    }
}
