//! The client side of one connection to one remote server, generic over the dialect.
//!
//! Requests get per-connection ids from 0; a response completes the call with that id; when the
//! connection ends for any reason, every pending call fails at once with an error naming the
//! server and the reason.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::engine::{Out, next_tick, run_writer, ticker};
use super::mqtt::MqttDialect;
use super::pinus_tcp::PinusTcpDialect;
use super::sio09::Sio09Dialect;
use super::tcp::TcpDialect;
use super::{
    Connect, Connection, Dialect, FrameStream, Inbound, PendingTable, Side, Transport, TransportError,
};
use crate::message::{self, Request, Response, RpcMsg};
use crate::wire::DEFAULT_MAX_FRAME;

/// Mailbox settings (pomelo's `proxyConfig` subset that concerns one connection).
#[derive(Debug, Clone)]
pub struct MailboxOptions {
    /// Dialect to speak.
    pub transport: Transport,
    /// `bufferMsg`: send requests in JSON arrays flushed every `interval`.
    pub buffer_msg: bool,
    /// Flush interval for `buffer_msg` (pomelo-rpc default 50 ms).
    pub interval: Duration,
    /// Largest frame body accepted or sent.
    pub max_frame: usize,
    /// Keepalive probe period; `None` uses the dialect's default (mqtt: 10 s).
    pub keepalive: Option<Duration>,
    /// Give up connecting after this long.
    pub connect_timeout: Duration,
}

impl MailboxOptions {
    /// Defaults for a transport.
    pub fn new(transport: Transport) -> Self {
        MailboxOptions {
            transport,
            buffer_msg: false,
            interval: Duration::from_millis(50),
            max_frame: DEFAULT_MAX_FRAME,
            keepalive: None,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

struct Shared {
    server_id: String,
    pending: Mutex<PendingTable>,
    dead: CancellationToken,
}

impl Shared {
    fn fail_all(&self, reason: &str) {
        let server = self.server_id.clone();
        self.pending
            .lock()
            .expect("pending lock")
            .close(reason, || TransportError::Closed { server: server.clone(), reason: reason.to_string() });
        self.dead.cancel();
    }
}

struct Handle {
    tx: mpsc::Sender<Out>,
    shared: Arc<Shared>,
    close: CancellationToken,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.close.cancel();
    }
}

/// One connection to one remote server; cheap to clone, closes when the last clone drops.
#[derive(Clone)]
pub struct Mailbox {
    inner: Arc<Handle>,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox").field("server", &self.inner.shared.server_id).finish()
    }
}

impl Mailbox {
    /// Connects to `addr` (`host:port`) for server `server_id`. A refused or unreachable
    /// address fails here, at once; no protocol answer is awaited where Node awaits none
    /// (its MQTT acceptor sends no CONNACK); socket.io 0.9 waits for the server's `1::`.
    pub async fn connect(
        server_id: &str,
        addr: &str,
        opts: MailboxOptions,
    ) -> Result<Mailbox, TransportError> {
        Ok(match opts.transport {
            Transport::Tcp => Self::open(TcpDialect, server_id, addr, opts).await?,
            Transport::Mqtt => Self::open(MqttDialect, server_id, addr, opts).await?,
            Transport::PinusTcp => Self::open(PinusTcpDialect, server_id, addr, opts).await?,
            Transport::Sio09 => Self::open(Sio09Dialect, server_id, addr, opts).await?,
        })
    }

    async fn open<D: Connect>(
        dialect: D,
        server_id: &str,
        addr: &str,
        opts: MailboxOptions,
    ) -> Result<Mailbox, TransportError> {
        let conn = dialect.connect(server_id, addr, &opts).await?;
        Ok(Self::start(dialect, conn, server_id, opts))
    }

    fn start<D: Dialect>(
        dialect: D,
        conn: Connection<D::Frame>,
        server_id: &str,
        opts: MailboxOptions,
    ) -> Mailbox {
        let Connection { frames, sink, idle_timeout } = conn;
        let (tx, rx) = mpsc::channel::<Out>(1024);
        let abort = CancellationToken::new();
        let batch = opts.buffer_msg.then_some(opts.interval);
        let shared = Arc::new(Shared {
            server_id: server_id.to_string(),
            pending: Mutex::new(PendingTable::starting_at(dialect.first_id())),
            dead: CancellationToken::new(),
        });
        let close = CancellationToken::new();
        let keepalive = match dialect.ping() {
            Some(_) => opts.keepalive.or(dialect.default_keepalive()),
            None => None,
        };
        let hello = dialect.hello();
        let writer_shared = shared.clone();
        let writer_abort = abort.clone();
        let writer_dialect = dialect.clone();
        tokio::spawn(async move {
            let hello_and_sink = async {
                let mut sink = sink;
                if let Some(h) = hello {
                    futures::SinkExt::feed(&mut sink, h).await?;
                }
                Ok::<_, crate::wire::WireError>(sink)
            };
            let result = match hello_and_sink.await {
                Ok(sink) => run_writer(writer_dialect, Side::Client, sink, rx, batch, writer_abort).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                writer_shared.fail_all(&format!("write failed: {e}"));
            }
        });
        let timers = Timers { keepalive, idle_timeout };
        tokio::spawn(read_loop(dialect, frames, shared.clone(), tx.clone(), timers, close.clone(), abort));
        Mailbox { inner: Arc::new(Handle { tx, shared, close }) }
    }

    /// The server id this mailbox talks to.
    pub fn server_id(&self) -> &str {
        &self.inner.shared.server_id
    }

    /// Sends one request and waits for its `resp` array, at most `timeout`.
    pub async fn call(&self, msg: RpcMsg, timeout: Duration) -> Result<Vec<Value>, TransportError> {
        let shared = &self.inner.shared;
        let closed = |reason: String| TransportError::Closed { server: shared.server_id.clone(), reason };
        let (id, rx) = shared.pending.lock().expect("pending lock").register().map_err(closed)?;
        let guard = Forget { shared, id };
        let route = format!("{}.{}.{}.{}", msg.namespace, msg.server_type, msg.service, msg.method);
        let bytes = message::encode_request(&Request::new(json!(id), msg));
        let deadline = Instant::now() + timeout;
        let sent = tokio::time::timeout_at(deadline, self.inner.tx.send(Out::Payload(Bytes::from(bytes))));
        let timed_out = || TransportError::Timeout {
            server: shared.server_id.clone(),
            ms: timeout.as_millis(),
            route: route.clone(),
        };
        match sent.await {
            Err(_) => return Err(timed_out()),
            Ok(Err(_)) => return Err(closed(self.close_reason())),
            Ok(Ok(())) => {}
        }
        let result = match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(closed(self.close_reason())),
            Err(_) => Err(timed_out()),
        };
        drop(guard);
        result
    }

    fn close_reason(&self) -> String {
        let table = self.inner.shared.pending.lock().expect("pending lock");
        table.closed_reason().unwrap_or("connection gone").to_string()
    }

    /// Calls waiting for a reply.
    pub fn pending(&self) -> usize {
        self.inner.shared.pending.lock().expect("pending lock").len()
    }

    /// True once the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.dead.is_cancelled()
    }

    /// Resolves when the connection has ended.
    pub async fn closed(&self) {
        self.inner.shared.dead.cancelled().await
    }

    /// Flushes what is queued, closes the connection, fails calls still pending.
    pub fn close(&self) {
        self.inner.close.cancel();
    }
}

struct Forget<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.shared.pending.lock().expect("pending lock").forget(self.id);
    }
}

/// The clocks a mailbox connection runs on.
struct Timers {
    /// Probe period; dead after two periods without an answer.
    keepalive: Option<Duration>,
    /// Dead after this long without any frame.
    idle_timeout: Option<Duration>,
}

async fn read_loop<D: Dialect>(
    dialect: D,
    mut frames: FrameStream<D::Frame>,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Out>,
    Timers { keepalive, idle_timeout }: Timers,
    close: CancellationToken,
    abort: CancellationToken,
) {
    let mut timer = keepalive.map(|every| ticker(Instant::now() + every, every));
    let mut ping_sent: Option<Instant> = None;
    let mut last_frame = Instant::now();
    let reason = loop {
        let tick = next_tick(timer.as_mut());
        let idle = async {
            match idle_timeout {
                Some(limit) => tokio::time::sleep_until(last_frame + limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = close.cancelled() => {
                let _ = tx.send(Out::Close).await;
                break "mailbox closed".to_string();
            }
            _ = idle => {
                let limit = idle_timeout.expect("idle implies a limit");
                break format!("server silent for {limit:?} (heartbeat timeout)");
            }
            frame = frames.next() => match frame {
                None => break "server closed the connection".to_string(),
                Some(Err(e)) => break e.to_string(),
                Some(Ok(frame)) => {
                    last_frame = Instant::now();
                    match dialect.classify(frame, Side::Client) {
                        Inbound::Payload(json) => {
                            if let Err(e) = deliver(&shared, &json) {
                                break e;
                            }
                        }
                        Inbound::Pong => ping_sent = None,
                        Inbound::Bye => break "server said goodbye (disconnect)".to_string(),
                        Inbound::Invalid(why) => break why,
                        Inbound::Ping => {
                            let _ = tx.try_send(Out::Pong);
                        }
                        Inbound::Hello => {}
                        Inbound::Ignored(what) => tracing::debug!(server = %shared.server_id, "ignoring {what}"),
                    }
                }
            },
            _ = tick => {
                let every = keepalive.expect("ticker implies keepalive");
                match ping_sent {
                    Some(at) if at.elapsed() >= every * 2 => {
                        break format!("no keepalive answer (PINGRESP) within {:?}", every * 2);
                    }
                    Some(_) => {}
                    None => {
                        ping_sent = Some(Instant::now());
                        let _ = tx.try_send(Out::Ping);
                    }
                }
            }
        }
    };
    tracing::debug!(server = %shared.server_id, "mailbox connection ended: {reason}");
    shared.fail_all(&reason);
    if reason != "mailbox closed" {
        abort.cancel();
    }
}

fn deliver(shared: &Shared, json: &[u8]) -> Result<(), String> {
    let responses: Vec<Response> = message::parse_packages(json)
        .map_err(|e| format!("malformed response from {}: {e}", shared.server_id))?;
    let mut table = shared.pending.lock().expect("pending lock");
    for r in responses {
        match r.id {
            Some(id) => {
                if !table.complete(&id, r.resp) {
                    tracing::debug!(server = %shared.server_id, %id, "dropping response with no waiting call");
                }
            }
            None => {
                tracing::warn!(server = %shared.server_id, resp = ?r.resp, "dropping response without id")
            }
        }
    }
    Ok(())
}
