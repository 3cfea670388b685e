//! The parts every dialect shares: the writer task (coalescing and batching) and the
//! acceptor's per-connection loop.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::{Connection, Dialect, FrameSink, Inbound, PeerInfo, RpcHandler, Side};
use crate::message::{self, Request, Response};
use crate::wire::WireError;

/// What the writer task is asked to send.
#[derive(Debug)]
pub(crate) enum Out {
    /// An encoded package (request or response).
    Payload(Bytes),
    /// The dialect's keepalive probe.
    Ping,
    /// The dialect's keepalive answer.
    Pong,
    /// Flush what is queued, then close the write side.
    Close,
}

/// Writes frames as they come, coalescing whatever is already queued into one write; with
/// `batch`, payloads are held and flushed as one JSON array every interval (pomelo `bufferMsg`).
pub(crate) async fn run_writer<D: Dialect>(
    dialect: D,
    side: Side,
    mut sink: FrameSink<D::Frame>,
    mut rx: mpsc::Receiver<Out>,
    batch: Option<Duration>,
    abort: CancellationToken,
) -> Result<(), WireError> {
    let mut queued: Vec<Bytes> = Vec::new();
    let mut tick = batch.map(|every| ticker(tokio::time::Instant::now(), every));
    async {
        loop {
            let tick_fut = next_tick(tick.as_mut());
            tokio::select! {
                biased;
                _ = abort.cancelled() => return Ok(()),
                item = rx.recv() => {
                    let Some(item) = item else { break };
                    let mut closing = feed(&dialect, side, &mut sink, &mut queued, batch.is_some(), item).await?;
                    while !closing {
                        match rx.try_recv() {
                            Ok(item) => closing = feed(&dialect, side, &mut sink, &mut queued, batch.is_some(), item).await?,
                            Err(_) => break,
                        }
                    }
                    sink.flush().await?;
                    if closing {
                        break;
                    }
                }
                _ = tick_fut => {
                    if !queued.is_empty() {
                        flush_batch(&dialect, side, &mut sink, &mut queued).await?;
                        sink.flush().await?;
                    }
                }
            }
        }
        flush_batch(&dialect, side, &mut sink, &mut queued).await?;
        sink.close().await
    }
    .await
}

/// A periodic timer that skips missed ticks instead of bursting.
pub(crate) fn ticker(start: tokio::time::Instant, every: Duration) -> tokio::time::Interval {
    let mut t = tokio::time::interval_at(start, every);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t
}

/// The next tick of an optional timer; never resolves when there is none.
pub(crate) async fn next_tick(timer: Option<&mut tokio::time::Interval>) {
    match timer {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending::<()>().await,
    }
}

async fn feed<D: Dialect>(
    dialect: &D,
    side: Side,
    sink: &mut FrameSink<D::Frame>,
    queued: &mut Vec<Bytes>,
    batching: bool,
    item: Out,
) -> Result<bool, WireError> {
    match item {
        Out::Payload(json) if batching => queued.push(json),
        Out::Payload(json) => sink.feed(dialect.payload(json, side)).await?,
        Out::Ping => {
            if let Some(f) = dialect.ping() {
                sink.feed(f).await?
            }
        }
        Out::Pong => {
            if let Some(f) = dialect.pong() {
                sink.feed(f).await?
            }
        }
        Out::Close => {
            if let Some(f) = dialect.goodbye(side) {
                sink.feed(f).await?
            }
            return Ok(true);
        }
    }
    Ok(false)
}

async fn flush_batch<D: Dialect>(
    dialect: &D,
    side: Side,
    sink: &mut FrameSink<D::Frame>,
    queued: &mut Vec<Bytes>,
) -> Result<(), WireError> {
    if queued.is_empty() {
        return Ok(());
    }
    let joined = message::join_batch(queued.iter().map(|b| &b[..]));
    queued.clear();
    sink.feed(dialect.payload(Bytes::from(joined), side)).await
}

/// How long a closing connection waits for its in-flight requests.
const DRAIN_GRACE: Duration = Duration::from_secs(75);

/// Server-driven heartbeat: probe every `interval`, drop a peer silent for `timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Heartbeat {
    /// Time between probes.
    pub interval: Duration,
    /// Silence after which the peer is dropped.
    pub timeout: Duration,
}

/// Per-connection settings of an acceptor.
#[derive(Clone)]
pub(crate) struct ConnSettings {
    pub batch: Option<Duration>,
    pub max_inflight: usize,
    pub server_id: Arc<str>,
    pub heartbeat: Option<Heartbeat>,
}

impl ConnSettings {
    /// Settings for connections of an acceptor configured with `opts`.
    pub(crate) fn new(opts: &super::AcceptorOptions, heartbeat: Option<Heartbeat>) -> Self {
        ConnSettings {
            batch: opts.buffer_msg.then_some(opts.interval),
            max_inflight: opts.max_inflight_per_conn.max(1),
            server_id: opts.server_id.clone().into(),
            heartbeat,
        }
    }
}

/// Serves one accepted connection until the peer leaves, it misbehaves, or `shutdown` fires.
/// Requests already read are always answered before the connection closes.
pub(crate) async fn serve_connection<D: Dialect>(
    dialect: D,
    Connection { mut frames, sink, .. }: Connection<D::Frame>,
    peer: PeerInfo,
    handler: Arc<dyn RpcHandler>,
    settings: ConnSettings,
    shutdown: CancellationToken,
) {
    let (tx, rx) = mpsc::channel::<Out>(1024);
    let abort = CancellationToken::new();
    let writer =
        tokio::spawn(run_writer(dialect.clone(), Side::Server, sink, rx, settings.batch, abort.clone()));
    let inflight = Arc::new(Semaphore::new(settings.max_inflight));
    let hb = settings.heartbeat;
    let mut probe = hb.map(|h| ticker(tokio::time::Instant::now() + h.interval, h.interval));
    let mut last_frame = tokio::time::Instant::now();
    let end = loop {
        let silent = async {
            match hb {
                Some(h) => tokio::time::sleep_until(last_frame + h.timeout).await,
                None => std::future::pending().await,
            }
        };
        let frame = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break "acceptor shutting down".to_string(),
            _ = silent => {
                let limit = hb.expect("silence implies a heartbeat").timeout;
                break format!("peer silent for {limit:?} (heartbeat timeout)");
            }
            _ = next_tick(probe.as_mut()) => {
                let _ = tx.try_send(Out::Ping);
                continue;
            }
            f = frames.next() => f,
        };
        last_frame = tokio::time::Instant::now();
        let frame = match frame {
            None => break "peer closed the connection".to_string(),
            Some(Err(e)) => {
                tracing::warn!(peer = %peer.addr, conn = peer.conn, dialect = D::NAME, "closing connection: {e}");
                break e.to_string();
            }
            Some(Ok(f)) => f,
        };
        match dialect.classify(frame, Side::Server) {
            Inbound::Payload(json) => {
                if let Err(reason) = dispatch_payload(&json, &peer, &handler, &tx, &inflight).await {
                    tracing::warn!(peer = %peer.addr, conn = peer.conn, dialect = D::NAME, "closing connection: {reason}");
                    break reason;
                }
            }
            Inbound::Ping => {
                let _ = tx.send(Out::Pong).await;
            }
            Inbound::Bye => break "peer said goodbye".to_string(),
            Inbound::Invalid(why) => {
                tracing::warn!(peer = %peer.addr, conn = peer.conn, dialect = D::NAME, "closing connection: {why}");
                break why;
            }
            Inbound::Hello | Inbound::Pong => {}
            Inbound::Ignored(what) => tracing::debug!(peer = %peer.addr, "ignoring {what}"),
        }
    };
    tracing::debug!(peer = %peer.addr, conn = peer.conn, "connection ending: {end}");
    // Let every accepted request finish (bounded: a peer that stops reading cannot hold us),
    // then flush and close.
    let all = inflight.acquire_many(settings.max_inflight as u32);
    if tokio::time::timeout(DRAIN_GRACE, all).await.is_err() {
        tracing::warn!(peer = %peer.addr, "in-flight requests still running after {DRAIN_GRACE:?}; closing anyway");
        abort.cancel();
    }
    let _ = tx.send(Out::Close).await;
    drop(tx);
    match writer.await {
        Ok(Err(e)) => tracing::debug!(peer = %peer.addr, "write side ended: {e}"),
        Err(e) => tracing::error!(peer = %peer.addr, "writer task failed: {e}"),
        Ok(Ok(())) => {}
    }
    abort.cancel();
}

async fn dispatch_payload(
    json: &[u8],
    peer: &PeerInfo,
    handler: &Arc<dyn RpcHandler>,
    tx: &mpsc::Sender<Out>,
    inflight: &Arc<Semaphore>,
) -> Result<(), String> {
    let requests: Vec<Result<Request, (Option<Value>, String)>> =
        match message::parse_packages::<Request>(json) {
            Ok(reqs) => reqs.into_iter().map(Ok).collect(),
            Err(_) => {
                // Slow path: find out which elements are bad, so good ones still run.
                let values = message::parse_packages::<Value>(json)
                    .map_err(|e| format!("payload is not JSON: {e}"))?;
                values
                    .into_iter()
                    .map(|v| {
                        let id = v.get("id").cloned();
                        serde_json::from_value::<Request>(v)
                            .map_err(|e| (id, format!("malformed request: {e}")))
                    })
                    .collect()
            }
        };
    for req in requests {
        let permit = inflight.clone().acquire_owned().await.expect("semaphore never closes");
        match req {
            Ok(req) => {
                let handler = handler.clone();
                let tx = tx.clone();
                let peer = peer.clone();
                tokio::spawn(async move {
                    let resp = call_guarded(&*handler, req.msg, &peer).await;
                    let bytes = message::encode_response(&Response { id: Some(req.id), resp });
                    let _ = tx.send(Out::Payload(Bytes::from(bytes))).await;
                    drop(permit);
                });
            }
            Err((id, why)) => {
                tracing::warn!(peer = %peer.addr, "{why}");
                let resp = vec![message::node_error(&why, "pomelo-interop (request parser)")];
                let bytes = message::encode_response(&Response { id, resp });
                let _ = tx.send(Out::Payload(Bytes::from(bytes))).await;
            }
        }
    }
    Ok(())
}

/// Runs a handler so that a panic costs only that call: the caller gets an error reply.
async fn call_guarded(handler: &dyn RpcHandler, msg: crate::message::RpcMsg, peer: &PeerInfo) -> Vec<Value> {
    let route = format!("{}.{}.{}", msg.namespace, msg.service, msg.method);
    let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| handler.handle(msg, peer))) {
        Ok(fut) => fut,
        Err(p) => return panic_reply(&route, p),
    };
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(resp) => resp,
        Err(p) => panic_reply(&route, p),
    }
}

fn panic_reply(route: &str, payload: Box<dyn std::any::Any + Send>) -> Vec<Value> {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    tracing::error!("remote {route} panicked: {what}");
    vec![message::node_error(&format!("remote {route} panicked: {what}"), route)]
}
