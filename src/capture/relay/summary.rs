//! What a capture saw: counts per direction and per `service.method`, printed when the relay
//! stops and written as the capture file's last line.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::capture::Dir;

/// Counts per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DirCounts {
    /// Client to server.
    pub c2s: u64,
    /// Server to client.
    pub s2c: u64,
}

impl DirCounts {
    /// Adds `n` to the count of `dir`.
    pub fn add(&mut self, dir: Dir, n: u64) {
        match dir {
            Dir::C2s => self.c2s += n,
            Dir::S2c => self.s2c += n,
        }
    }
}

/// What a capture saw; printed on exit and written as the file's last line.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Connections accepted.
    pub connections: u64,
    /// Decoded frames per direction.
    pub frames: DirCounts,
    /// Bytes relayed per direction.
    pub bytes: DirCounts,
    /// Frames (or stretches of bytes) recorded as malformed.
    pub malformed: u64,
    /// RPC requests seen (batches counted per package).
    pub requests: u64,
    /// RPC responses seen.
    pub responses: u64,
    /// Requests per `service.method`.
    pub calls: BTreeMap<String, u64>,
    /// Lines that could not be written to the file.
    pub write_errors: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "capture summary: {} connection(s); frames c2s {} / s2c {}; bytes c2s {} / s2c {}; {} malformed",
            self.connections,
            self.frames.c2s,
            self.frames.s2c,
            self.bytes.c2s,
            self.bytes.s2c,
            self.malformed
        )?;
        writeln!(f, "  {} request(s), {} response(s)", self.requests, self.responses)?;
        if self.write_errors > 0 {
            writeln!(f, "  {} line(s) could not be written", self.write_errors)?;
        }
        if !self.calls.is_empty() {
            writeln!(f, "  calls per service.method:")?;
            let width = self.calls.values().map(|n| n.to_string().len()).max().unwrap_or(1);
            for (m, n) in &self.calls {
                writeln!(f, "    {n:>width$}  {m}")?;
            }
        }
        Ok(())
    }
}
