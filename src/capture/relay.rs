//! The capture relay: accepts connections, opens one upstream connection for each, and copies
//! bytes both ways as they arrive (TCP_NODELAY on both sockets). Decoding never sits on the
//! forwarding path: each read is written to the other side first, then the same buffer (no
//! copy) goes to one decoder thread, which decodes every connection in arrival order and
//! writes and flushes the JSON lines in batches a few milliseconds apart: a crash loses at most
//! the frames of those last milliseconds, never a line already written.
//!
//! Memory per connection is bounded: at most `queue_limit` undecoded bytes wait for the
//! decoder; past that the direction is recorded as `malformed` ("decoder fell behind") and only
//! relayed from then on. The decoder itself never holds more than one frame (`max_frame`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::decode::ConnDecoder;
use super::record::{self, FORMAT_VERSION, FrameRecord, RAW};
use super::{CaptureError, Dir};
use crate::transport::Transport;

/// How long the decoder thread lets chunks gather after it has written and flushed a batch.
const BATCH_PAUSE: Duration = Duration::from_millis(2);

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
    /// Free-form labels for the header line (what was recorded, by whom).
    pub meta: Map<String, Value>,
}

impl RelayOptions {
    /// Defaults: 64 MiB frames, 64 MiB of decoder queue per connection, 10 s to connect.
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
            meta: Map::new(),
        }
    }
}

/// Counts per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DirCounts {
    /// Client to server.
    pub c2s: u64,
    /// Server to client.
    pub s2c: u64,
}

impl DirCounts {
    fn add(&mut self, dir: Dir, n: u64) {
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
    /// Creates the output file, writes the header line, binds and starts relaying.
    pub async fn start(opts: RelayOptions) -> Result<Relay, CaptureError> {
        let listener = TcpListener::bind(opts.listen)
            .await
            .map_err(|source| CaptureError::Bind { addr: opts.listen.to_string(), source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| CaptureError::Bind { addr: opts.listen.to_string(), source })?;
        let path = opts.out.display().to_string();
        let file_err = |source| CaptureError::File { path: path.clone(), source };
        let file = std::fs::File::create(&opts.out).map_err(file_err)?;
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
        let header = json!({
            "capture": "pomelo-interop",
            "version": FORMAT_VERSION,
            "transport": opts.transport.name(),
            "listen": local_addr.to_string(),
            "upstream": opts.upstream,
            "started_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "meta": opts.meta,
        });
        writeln!(out, "{header}").and_then(|_| out.flush()).map_err(file_err)?;

        let started = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        let stats = Arc::new(Mutex::new(Summary::default()));
        let writer = Writer {
            out,
            path,
            failed: false,
            started,
            transport: opts.transport,
            max_frame: opts.max_frame,
            queue_limit: opts.queue_limit,
            stats: stats.clone(),
            conns: HashMap::new(),
            line: Vec::with_capacity(64 * 1024),
        };
        let decoder = std::thread::Builder::new()
            .name("capture-decoder".into())
            .spawn(move || writer.run(rx))
            .map_err(|source| CaptureError::File { path: opts.out.display().to_string(), source })?;
        let shared = Arc::new(Shared { opts, tx });
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, shared.clone(), stop.clone()));
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

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    let tracker = TaskTracker::new();
    let mut conn = 0u64;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conn += 1;
                    shared.send(Msg::Open { conn, at: Instant::now(), peer });
                    tracker.spawn(serve_conn(conn, stream, shared.clone(), stop.clone()));
                }
                Err(e) => {
                    tracing::warn!("capture: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

/// What the relay tells the decoder thread, in the order things happened per connection.
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

async fn serve_conn(conn: u64, client: TcpStream, shared: Arc<Shared>, stop: CancellationToken) {
    let connect =
        tokio::time::timeout(shared.opts.connect_timeout, TcpStream::connect(&shared.opts.upstream));
    let upstream = match connect.await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return upstream_failed(&shared, conn, e.to_string()),
        Err(_) => {
            let text = format!("no connection within {:?}", shared.opts.connect_timeout);
            return upstream_failed(&shared, conn, text);
        }
    };
    for s in [&client, &upstream] {
        if let Err(e) = s.set_nodelay(true) {
            tracing::warn!("capture: cannot set TCP_NODELAY: {e}");
        }
    }
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let queued = Arc::new(AtomicUsize::new(0));
    shared.send(Msg::Upstream { conn, queued: queued.clone() });
    let relayed = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let pump_for = |from, to, dir| {
        Pump { conn, dir, shared: shared.clone(), queued: queued.clone(), relayed: relayed.clone() }
            .run(from, to)
    };
    let mut c2s = Box::pin(pump_for(cr, uw, Dir::C2s));
    let mut s2c = Box::pin(pump_for(ur, cw, Dir::S2c));
    let (mut c2s_done, mut s2c_done) = (false, false);
    while !(c2s_done && s2c_done) {
        tokio::select! {
            ok = &mut c2s, if !c2s_done => {
                c2s_done = true;
                if !ok { break; }
            }
            ok = &mut s2c, if !s2c_done => {
                s2c_done = true;
                if !ok { break; }
            }
            _ = stop.cancelled() => break,
        }
    }
    // Dropping the pumps closes both sockets.
    drop((c2s, s2c));
    let bytes = DirCounts {
        c2s: relayed[Dir::C2s.index()].load(Ordering::Relaxed),
        s2c: relayed[Dir::S2c.index()].load(Ordering::Relaxed),
    };
    shared.send(Msg::Close { conn, at: Instant::now(), bytes });
}

fn upstream_failed(shared: &Shared, conn: u64, error: String) {
    tracing::warn!("capture: conn {conn}: cannot connect to {}: {error}", shared.opts.upstream);
    shared.send(Msg::UpstreamError { conn, at: Instant::now(), error });
}

/// One direction of one connection.
struct Pump {
    conn: u64,
    dir: Dir,
    shared: Arc<Shared>,
    /// Bytes of this connection waiting for the decoder.
    queued: Arc<AtomicUsize>,
    /// Bytes relayed per direction.
    relayed: Arc<[AtomicU64; 2]>,
}

impl Pump {
    /// Read, write to the other side at once, then queue the same bytes for the decoder (if it
    /// keeps up). Returns whether the direction ended cleanly (EOF, not an error).
    async fn run(self, mut from: OwnedReadHalf, mut to: OwnedWriteHalf) -> bool {
        let (conn, dir) = (self.conn, self.dir);
        let limit = self.shared.opts.queue_limit;
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let mut decoding = true;
        loop {
            if buf.capacity() < 8 * 1024 {
                buf.reserve(64 * 1024);
            }
            let n = match from.read_buf(&mut buf).await {
                Ok(0) => {
                    let _ = to.shutdown().await;
                    self.shared.send(Msg::Fin { conn, dir, at: Instant::now() });
                    return true;
                }
                Ok(n) => n,
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::ConnectionReset {
                        // Pass the reset on: the other side gets an RST, not a FIN, when we drop it.
                        let _ = to.as_ref().set_zero_linger();
                    }
                    let error = format!("read: {e}");
                    self.shared.send(Msg::Error { conn, dir, at: Instant::now(), error });
                    return false;
                }
            };
            let at = Instant::now();
            let chunk = buf.split().freeze();
            if let Err(e) = to.write_all(&chunk).await {
                let error = format!("write: {e}");
                self.shared.send(Msg::Error { conn, dir, at: Instant::now(), error });
                return false;
            }
            self.relayed[dir.index()].fetch_add(n as u64, Ordering::Relaxed);
            if decoding {
                let now = self.queued.fetch_add(n, Ordering::AcqRel) + n;
                if now > limit {
                    self.queued.fetch_sub(n, Ordering::AcqRel);
                    decoding = false;
                    self.shared.send(Msg::Overflow { conn, dir, at, queued: now });
                } else {
                    self.shared.send(Msg::Chunk { conn, dir, at, bytes: chunk });
                }
            }
        }
    }
}

/// A connection as the decoder thread knows it.
struct ConnState {
    dec: ConnDecoder,
    queued: Option<Arc<AtomicUsize>>,
}

/// The decoder thread: decodes every connection's chunks in arrival order, writes the lines,
/// flushes whenever its queue runs dry, and writes the summary line at the end.
struct Writer {
    out: std::io::BufWriter<std::fs::File>,
    path: String,
    failed: bool,
    started: Instant,
    transport: Transport,
    max_frame: usize,
    queue_limit: usize,
    stats: Arc<Mutex<Summary>>,
    conns: HashMap<u64, ConnState>,
    /// Reused for every line.
    line: Vec<u8>,
}

impl Writer {
    fn run(mut self, rx: std::sync::mpsc::Receiver<Msg>) -> Summary {
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
        let summary = self.stats().clone();
        self.line = json!({ "summary": summary }).to_string().into_bytes();
        self.write_line();
        self.flush();
        summary
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, Summary> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn t_ms(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.started).as_secs_f64() * 1000.0
    }

    fn write_line(&mut self) {
        self.line.push(b'\n');
        let r = self.out.write_all(&self.line);
        if let Err(e) = r {
            self.stats().write_errors += 1;
            if !self.failed {
                tracing::error!("capture: cannot write {}: {e} (still relaying)", self.path);
                self.failed = true;
            }
        }
    }

    fn flush(&mut self) {
        if let Err(e) = self.out.flush()
            && !self.failed
        {
            tracing::error!("capture: cannot flush {}: {e} (still relaying)", self.path);
            self.failed = true;
        }
    }

    fn event(&mut self, at: Instant, conn: u64, event: &str, extra: Map<String, Value>) {
        self.line = record::event_line(self.t_ms(at), conn, event, extra).into_bytes();
        self.write_line();
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
                self.event(
                    at,
                    conn,
                    "open",
                    [("peer".to_string(), json!(peer.to_string()))].into_iter().collect(),
                );
            }
            Msg::Upstream { conn, queued } => self.conn(conn).queued = Some(queued),
            Msg::UpstreamError { conn, at, error } => {
                self.conns.remove(&conn);
                self.event(
                    at,
                    conn,
                    "upstream-error",
                    [("error".to_string(), json!(error))].into_iter().collect(),
                );
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
                self.event(at, conn, "fin", [("dir".to_string(), json!(dir.name()))].into_iter().collect());
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
                let extra = [("dir".to_string(), json!(dir.name())), ("error".to_string(), json!(error))]
                    .into_iter()
                    .collect();
                self.event(at, conn, "error", extra);
            }
            Msg::Close { conn, at, bytes } => {
                self.conns.remove(&conn);
                {
                    let mut stats = self.stats();
                    stats.bytes.c2s += bytes.c2s;
                    stats.bytes.s2c += bytes.s2c;
                }
                self.event(at, conn, "close", [("bytes".to_string(), json!(bytes))].into_iter().collect());
            }
        }
    }

    fn emit(&mut self, conn: u64, dir: Dir, at: Instant, recs: Vec<FrameRecord>) {
        if recs.is_empty() {
            return;
        }
        let t = self.t_ms(at);
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
        for r in recs {
            self.line.clear();
            r.write_line(t, conn, dir, &mut self.line);
            self.write_line();
        }
    }
}
