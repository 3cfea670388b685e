//! One connection to one remote server, with pomelo-rpc's call semantics on top of the
//! transport: per-connection ids, the pending table, per-call deadlines, and on any end of the
//! connection every pending call failed at once with an error naming the server and the reason.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::ClientError;
use super::options::MailboxOptions;
use super::pending::PendingTable;
use crate::message::{self, Resp, RpcMsg};
use crate::transport::{
    self, CloseReason, ConnectOptions, Endpoint, LinkOptions, Outbox, Side, Transport, TransportError,
};

/// Requests queued for the connection's task before callers wait.
const SEND_QUEUE: usize = 1024;

/// The first request id: pomelo counts from 0; pinus-rpc's tcp acceptor ignores id 0.
fn first_id(t: Transport) -> u64 {
    match t {
        Transport::PinusTcp => 1,
        _ => 0,
    }
}

struct Shared {
    server_id: String,
    pending: Mutex<PendingTable>,
    dead: CancellationToken,
}

impl Shared {
    fn closed_error(&self, reason: CloseReason) -> ClientError {
        ClientError::Closed { server: self.server_id.clone(), reason }
    }

    fn close_reason(&self) -> CloseReason {
        let table = self.pending.lock().expect("pending lock");
        table.closed_reason().cloned().unwrap_or(CloseReason::Local)
    }
}

struct Handle {
    tx: mpsc::Sender<Bytes>,
    shared: Arc<Shared>,
    close: CancellationToken,
    /// Unanswered request bytes allowed, when limited (permits are bytes).
    window: Option<(Arc<Semaphore>, usize)>,
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
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        let shared = Arc::new(Shared {
            server_id: server_id.to_string(),
            pending: Mutex::new(PendingTable::starting_at(first_id(opts.transport))),
            dead: CancellationToken::new(),
        });
        let close = CancellationToken::new();
        let endpoint =
            MailboxEndpoint { rx, shared: shared.clone(), close: Box::pin(close.clone().cancelled_owned()) };
        let mut link = LinkOptions::new(Side::Client, format!("{server_id} ({addr})"));
        link.batch = opts.buffer_msg.then_some(opts.interval);
        link.keepalive = opts.keepalive;
        let connect = ConnectOptions { connect_timeout: opts.connect_timeout, max_frame: opts.max_frame };
        transport::connect_dialect(opts.transport, server_id, addr, &connect, link, endpoint).await?;
        let window = opts.max_unanswered_bytes.map(|n| (Arc::new(Semaphore::new(n)), n));
        Ok(Mailbox { inner: Arc::new(Handle { tx, shared, close, window }) })
    }

    /// The server id this mailbox talks to.
    pub fn server_id(&self) -> &str {
        &self.inner.shared.server_id
    }

    /// Sends one request and waits for its `resp` array, at most `timeout`.
    pub async fn call(&self, msg: RpcMsg, timeout: Duration) -> Result<Resp, ClientError> {
        let shared = &self.inner.shared;
        match tokio::time::timeout(timeout, self.send_and_wait(&msg)).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout {
                server: shared.server_id.clone(),
                ms: timeout.as_millis(),
                route: msg.route(),
            }),
        }
    }

    /// Sends one request and waits for its reply with no deadline of its own (the caller's
    /// deadline covers it; dropping the future forgets the call).
    pub(crate) async fn send_and_wait(&self, msg: &RpcMsg) -> Result<Resp, ClientError> {
        let shared = &self.inner.shared;
        let (id, rx) =
            shared.pending.lock().expect("pending lock").register().map_err(|r| shared.closed_error(r))?;
        let guard = Forget { shared, id };
        let buf = encode_call(id, msg);
        // Held until the answer (or the end of the call): a request larger than the whole window
        // waits until it is alone.
        let _window = match &self.inner.window {
            Some((sem, max)) => {
                let n = u32::try_from(buf.len().min(*max)).unwrap_or(u32::MAX);
                Some(sem.acquire_many(n).await.map_err(|_| shared.closed_error(shared.close_reason()))?)
            }
            None => None,
        };
        if self.inner.tx.send(buf).await.is_err() {
            return Err(shared.closed_error(shared.close_reason()));
        }
        let result = match rx.await {
            Ok(result) => result,
            Err(_) => Err(shared.closed_error(shared.close_reason())),
        };
        drop(guard);
        result
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

thread_local! {
    /// Where this thread's calls are encoded: each request is a slice of it, so a call allocates
    /// no buffer of its own (the space is reused once the connection has written the slices).
    static ENCODE: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::new());
}

fn encode_call(id: u64, msg: &RpcMsg) -> Bytes {
    ENCODE.with(|b| {
        let mut b = b.borrow_mut();
        if b.capacity() < 4096 {
            b.reserve(64 * 1024);
        }
        message::write_call(&mut b, id, msg);
        b.split().freeze()
    })
}

/// Forgets a call in the pending table when its caller stops waiting, however it stops.
struct Forget<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.shared.pending.lock().expect("pending lock").forget(self.id);
    }
}

/// The mailbox's side of the connection driver.
struct MailboxEndpoint {
    rx: mpsc::Receiver<Bytes>,
    shared: Arc<Shared>,
    close: std::pin::Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Endpoint for MailboxEndpoint {
    fn on_payload(
        &mut self,
        _cx: &mut Context<'_>,
        payload: Bytes,
        _out: &mut Outbox,
    ) -> Result<(), CloseReason> {
        let server = &self.shared.server_id;
        let responses = message::parse_responses(payload)
            .map_err(|e| CloseReason::Protocol(format!("malformed response from {server}: {e}")))?;
        let mut table = self.shared.pending.lock().expect("pending lock");
        for r in responses {
            match r {
                Ok(resp) => match resp.numeric_id() {
                    Some(id) => {
                        if !table.complete(id, Ok(resp.resp)) {
                            tracing::debug!(server = %server, id, "dropping response with no waiting call");
                        }
                    }
                    None => {
                        tracing::warn!(server = %server, resp = %resp.resp, "dropping response without our id")
                    }
                },
                Err(bad) => {
                    let id = bad.id.as_ref().and_then(|id| id.as_str().parse::<u64>().ok());
                    let err = ClientError::BadReply { server: server.clone(), reason: bad.reason.clone() };
                    if !id.is_some_and(|id| table.complete(id, Err(err))) {
                        tracing::warn!(server = %server, "dropping {}", bad.reason);
                    }
                }
            }
        }
        Ok(())
    }

    fn poll_work(&mut self, cx: &mut Context<'_>, out: &mut Outbox) -> Poll<()> {
        if self.close.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        loop {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(request)) => out.push(request),
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn on_close(&mut self, reason: &CloseReason) {
        tracing::debug!(server = %self.shared.server_id, "mailbox connection ended: {reason}");
        let shared = &self.shared;
        shared.pending.lock().expect("pending lock").close(reason, || shared.closed_error(reason.clone()));
        shared.dead.cancel();
        self.rx.close();
    }
}
