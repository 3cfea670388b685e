//! The capture relay: accepts connections, opens one upstream connection for each, and copies
//! bytes both ways as they arrive. Decoding never sits on the forwarding path: each read is
//! written to the other side first, then the same buffer (no copy) goes to one decoder thread,
//! which decodes every connection in arrival order and writes and flushes the JSON lines in
//! batches a few milliseconds apart: a crash loses at most the frames of those last
//! milliseconds, never a line already written.
//!
//! Three parts along those seams: `sockets.rs` (admission, upstream connects, the pumps),
//! `decoder.rs` (the decoder thread and the summary it keeps) and `writer.rs` (the file). They
//! talk through one channel of `Msg`s, in the order things happened per connection.
//!
//! Memory per connection is bounded: at most `queue_limit` undecoded bytes wait for the
//! decoder; past that the direction is recorded as `malformed` ("decoder fell behind") and only
//! relayed from then on. The decoder itself never holds more than one frame (`max_frame`).

mod decoder;
mod sockets;
mod summary;
mod writer;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

pub use summary::{DirCounts, Summary};

use super::record::FORMAT_VERSION;
use super::{CaptureError, Dir};
use crate::transport::{Admission, AdmissionOptions, Transport, TransportError};
use decoder::DecoderThread;
use writer::LineWriter;

/// Relay settings.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Dialect to decode.
    pub transport: Transport,
    /// Where peers connect (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The real server, `host:port`.
    pub upstream: String,
    /// The JSON lines file (created or truncated).
    pub out: PathBuf,
    /// Largest frame decoded; longer ones are recorded as malformed (and still relayed).
    pub max_frame: usize,
    /// Undecoded bytes one connection may queue for its decoder before decoding stops.
    pub queue_limit: usize,
    /// How long to try connecting upstream for each accepted connection.
    pub connect_timeout: Duration,
    /// Connections relayed at once; a peer past the cap is closed at once.
    pub max_connections: usize,
    /// Free-form labels for the header line (what was recorded, by whom).
    pub meta: Map<String, Value>,
}

impl RelayOptions {
    /// Defaults: 64 MiB frames, 64 MiB of decoder queue per connection, 10 s to connect,
    /// 10,000 connections at once.
    pub fn new(
        transport: Transport,
        listen: SocketAddr,
        upstream: impl Into<String>,
        out: impl Into<PathBuf>,
    ) -> Self {
        RelayOptions {
            transport,
            listen,
            upstream: upstream.into(),
            out: out.into(),
            max_frame: crate::wire::DEFAULT_MAX_FRAME,
            queue_limit: 64 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            meta: Map::new(),
        }
    }
}

/// What the socket tasks tell the decoder thread, in the order things happened per connection.
enum Msg {
    Open { conn: u64, at: Instant, peer: SocketAddr },
    Upstream { conn: u64, queued: Arc<AtomicUsize> },
    UpstreamError { conn: u64, at: Instant, error: String },
    Chunk { conn: u64, dir: Dir, at: Instant, bytes: Bytes },
    Fin { conn: u64, dir: Dir, at: Instant },
    Overflow { conn: u64, dir: Dir, at: Instant, queued: usize },
    Error { conn: u64, dir: Dir, at: Instant, error: String },
    Close { conn: u64, at: Instant, bytes: DirCounts },
}

/// State shared by the accept loop and the connection tasks.
struct Shared {
    opts: RelayOptions,
    /// To the decoder thread.
    tx: std::sync::mpsc::Sender<Msg>,
}

impl Shared {
    fn send(&self, msg: Msg) {
        // The decoder thread outlives every sender; an error means it died, and relaying goes on.
        let _ = self.tx.send(msg);
    }
}

/// A running relay; call [`Relay::shutdown`] to stop it and get the summary (dropping it stops
/// it too, without waiting for the file to be complete).
pub struct Relay {
    local_addr: SocketAddr,
    stop: CancellationToken,
    shared: Option<Arc<Shared>>,
    stats: Arc<Mutex<Summary>>,
    task: Option<tokio::task::JoinHandle<()>>,
    decoder: Option<std::thread::JoinHandle<Summary>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Relay {
    /// Binds, creates the output file with its header line, and starts relaying.
    pub async fn start(opts: RelayOptions) -> Result<Relay, CaptureError> {
        let stop = CancellationToken::new();
        let admission_opts = AdmissionOptions {
            max_connections: opts.max_connections,
            ..AdmissionOptions::new(opts.listen, "capture")
        };
        let admission = Admission::bind(admission_opts, stop.clone()).await.map_err(|e| match e {
            TransportError::Bind { addr, source } => CaptureError::Bind { addr, source },
            other => CaptureError::Options(other.to_string()),
        })?;
        let local_addr = admission.local_addr();
        let header = json!({
            "capture": "pomelo-interop",
            "version": FORMAT_VERSION,
            "transport": opts.transport.name(),
            "listen": local_addr.to_string(),
            "upstream": opts.upstream,
            "started_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "meta": opts.meta,
        });
        let writer = LineWriter::create(&opts.out, &header, Instant::now())?;
        let (tx, rx) = std::sync::mpsc::channel();
        let stats = Arc::new(Mutex::new(Summary::default()));
        let thread =
            DecoderThread::new(writer, opts.transport, opts.max_frame, opts.queue_limit, stats.clone());
        let decoder = std::thread::Builder::new()
            .name("capture-decoder".into())
            .spawn(move || thread.run(rx))
            .map_err(|source| CaptureError::File { path: opts.out.display().to_string(), source })?;
        let shared = Arc::new(Shared { opts, tx });
        let task = tokio::spawn(sockets::accept_loop(admission, shared.clone()));
        tracing::info!("capture: relaying {local_addr} -> {}", shared.opts.upstream);
        Ok(Relay { local_addr, stop, shared: Some(shared), stats, task: Some(task), decoder: Some(decoder) })
    }

    /// The address peers should connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What has been decoded so far.
    pub fn summary(&self) -> Summary {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops accepting, closes every relayed connection, decodes what is still queued, writes
    /// the summary line, flushes the file and returns the summary.
    pub async fn shutdown(mut self) -> Summary {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        // The last sender: the decoder thread finishes once it has drained the queue.
        self.shared = None;
        if let Some(decoder) = self.decoder.take()
            && let Ok(Ok(summary)) = tokio::task::spawn_blocking(move || decoder.join()).await
        {
            return summary;
        }
        self.summary()
    }
}
