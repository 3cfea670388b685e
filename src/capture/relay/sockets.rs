//! The relay's sockets: connections accepted through [`Admission`] (connection ids, the
//! connection cap, shutdown), one upstream connection per accepted one through [`tcp_connect`]
//! (TCP_NODELAY on both), and a pump per direction that forwards each read before it queues
//! the same buffer (no copy) for the decoder thread.
//!
//! Memory per connection is bounded: at most `queue_limit` undecoded bytes wait for the
//! decoder; past that the direction is reported as overflowing and only relayed from then on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::summary::DirCounts;
use super::{Msg, Shared};
use crate::capture::Dir;
use crate::transport::{Admission, SlotGuard, TransportError, tcp_connect};

/// Accepts until shutdown, then waits for every relayed connection to close.
pub(super) async fn accept_loop(admission: Admission, shared: Arc<Shared>) {
    let tracker = TaskTracker::new();
    while let Some(accepted) = admission.accept(false).await {
        let conn = accepted.peer.conn;
        shared.send(Msg::Open { conn, at: Instant::now(), peer: accepted.peer.addr });
        let (client, slot) = accepted.stream.into_parts();
        let stop = admission.shutdown().clone();
        tracker.spawn(serve_conn(conn, client, slot, shared.clone(), stop));
    }
    drop(admission);
    tracker.close();
    tracker.wait().await;
}

/// Relays one accepted connection until both directions end, one fails, or shutdown.
async fn serve_conn(
    conn: u64,
    client: TcpStream,
    slot: SlotGuard,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let target = &shared.opts.upstream;
    let upstream = match tcp_connect(target, target, shared.opts.connect_timeout).await {
        Ok(s) => s,
        Err(e) => {
            let error = match e {
                TransportError::Connect { source, .. } => source.to_string(),
                other => other.to_string(),
            };
            tracing::warn!("capture: conn {conn}: cannot connect to {target}: {error}");
            return shared.send(Msg::UpstreamError { conn, at: Instant::now(), error });
        }
    };
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
    // Dropping the pumps closes both sockets; the slot goes with them.
    drop((c2s, s2c, slot));
    let bytes = DirCounts {
        c2s: relayed[Dir::C2s.index()].load(Ordering::Relaxed),
        s2c: relayed[Dir::S2c.index()].load(Ordering::Relaxed),
    };
    shared.send(Msg::Close { conn, at: Instant::now(), bytes });
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
