//! The RPC acceptor: a transport listener whose connections read request envelopes, run the
//! handler of each (polled once at once, so a ready handler is answered in the same pass that
//! read it; the rest run inside the connection's task), and write `{id, resp}` back. A handler
//! that panics costs only its call; a request of the wrong shape gets a Node-shaped error for its
//! id; a payload that is not JSON ends the connection (after answering what it already read).

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use futures::FutureExt;
use futures::future::CatchUnwind;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio_util::sync::CancellationToken;

use super::reply::RemoteError;
use super::{ReplyFuture, RpcHandler};
use crate::message::{self, RawJson, Request, Resp};
use crate::transport::{
    self, Admission, AdmissionOptions, CloseReason, Endpoint, LinkOptions, Outbox, PeerInfo, ServeOptions,
    Side, Sio09Options, Transport, TransportError,
};
use crate::wire::DEFAULT_MAX_FRAME;

/// Acceptor settings (pomelo's `remoteConfig` plus our own limits).
#[derive(Debug, Clone)]
pub struct AcceptorOptions {
    /// Dialect to speak.
    pub transport: Transport,
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// This server's id, for logs.
    pub server_id: String,
    /// `bufferMsg`: reply in JSON arrays flushed every `interval`.
    pub buffer_msg: bool,
    /// Flush interval for `buffer_msg` (pomelo's remote component default: 30 ms).
    pub interval: Duration,
    /// Largest frame body accepted or sent (pomelo's `pkgSize`).
    pub max_frame: usize,
    /// Requests one connection may have in flight before we stop reading from it.
    pub max_inflight_per_conn: usize,
    /// Connections served at once; a further one is refused at once.
    pub max_connections: usize,
    /// Regular expressions a peer IP must match (empty: everyone); checked on every new
    /// connection against `127.0.0.1` and `::ffff:127.0.0.1` forms.
    pub whitelist: Vec<String>,
    /// socket.io 0.9 settings (heartbeats, polling, advertised transports).
    pub sio09: Sio09Options,
}

impl AcceptorOptions {
    /// Defaults for a transport and address.
    pub fn new(transport: Transport, listen: SocketAddr) -> Self {
        AcceptorOptions {
            transport,
            listen,
            server_id: "pomelo-interop".into(),
            buffer_msg: false,
            interval: Duration::from_millis(30),
            max_frame: DEFAULT_MAX_FRAME,
            max_inflight_per_conn: 10_000,
            max_connections: 10_000,
            whitelist: Vec::new(),
            sio09: Sio09Options::default(),
        }
    }
}

/// A running acceptor; dropping it does not stop it, call [`Acceptor::shutdown`].
pub struct Acceptor {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Acceptor {
    /// Binds and starts serving `handler` in the background.
    pub async fn start(
        opts: AcceptorOptions,
        handler: Arc<dyn RpcHandler>,
    ) -> Result<Acceptor, TransportError> {
        let shutdown = CancellationToken::new();
        let mut admit = AdmissionOptions::new(opts.listen, opts.server_id.clone());
        admit.max_connections = opts.max_connections;
        admit.whitelist = opts.whitelist.clone();
        let admission = Arc::new(Admission::bind(admit, shutdown.clone()).await?);
        let local_addr = admission.local_addr();
        let mut link = LinkOptions::new(Side::Server, opts.server_id.as_str());
        link.batch = opts.buffer_msg.then_some(opts.interval);
        let serve = ServeOptions { link, max_frame: opts.max_frame, sio09: opts.sio09.clone() };
        let max_inflight = opts.max_inflight_per_conn.max(1);
        let factory = move |peer: &PeerInfo| RpcEndpoint::new(handler.clone(), peer.clone(), max_inflight);
        let task = tokio::spawn(transport::serve(opts.transport, admission, serve, factory));
        Ok(Acceptor { local_addr, shutdown, task })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops listening, answers every request already read, closes every connection.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// A handler call in flight: its request id and route (for a panic's reply).
struct Running {
    id: RawJson,
    service: ByteString,
    method: ByteString,
    fut: CatchUnwind<AssertUnwindSafe<ReplyFuture>>,
}

impl Future for Running {
    type Output = (RawJson, Resp);
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(RawJson, Resp)> {
        let this = &mut *self;
        this.fut.poll_unpin(cx).map(|r| {
            let resp = r.unwrap_or_else(|p| panic_reply(&this.service, &this.method, p));
            (this.id.clone(), resp)
        })
    }
}

fn panic_reply(service: &str, method: &str, payload: Box<dyn std::any::Any + Send>) -> Resp {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    let at = format!("{service}.{method}");
    tracing::error!("remote {at} panicked: {what}");
    RemoteError::new(format!("remote {at} panicked: {what}")).to_resp(&at)
}

/// One connection of the acceptor, as the transport driver sees it.
struct RpcEndpoint {
    handler: Arc<dyn RpcHandler>,
    peer: PeerInfo,
    running: FuturesUnordered<Running>,
    max_inflight: usize,
}

impl RpcEndpoint {
    fn new(handler: Arc<dyn RpcHandler>, peer: PeerInfo, max_inflight: usize) -> Self {
        RpcEndpoint { handler, peer, running: FuturesUnordered::new(), max_inflight }
    }

    fn reply(out: &mut Outbox, id: Option<&RawJson>, resp: &Resp) {
        message::write_response(out.buf(), id, resp);
        out.commit();
    }

    fn start(&mut self, cx: &mut Context<'_>, req: Request, out: &mut Outbox) {
        let Request { id, msg, .. } = req;
        let (service, method) = (msg.service.clone(), msg.method.clone());
        let handler = &self.handler;
        let peer = &self.peer;
        let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| handler.handle(msg, peer))) {
            Ok(fut) => fut,
            Err(p) => return Self::reply(out, Some(&id), &panic_reply(&service, &method, p)),
        };
        let mut call = Running { id, service, method, fut: AssertUnwindSafe(fut).catch_unwind() };
        match Pin::new(&mut call).poll(cx) {
            Poll::Ready((id, resp)) => Self::reply(out, Some(&id), &resp),
            Poll::Pending => self.running.push(call),
        }
    }
}

impl Endpoint for RpcEndpoint {
    fn on_payload(
        &mut self,
        cx: &mut Context<'_>,
        payload: Bytes,
        out: &mut Outbox,
    ) -> Result<(), CloseReason> {
        let packages = message::parse_requests(payload)
            .map_err(|e| CloseReason::Protocol(format!("payload is not JSON: {e}")))?;
        for p in packages {
            match p {
                Ok(req) => self.start(cx, req, out),
                Err(bad) => {
                    tracing::warn!(peer = %self.peer.addr, "{}", bad.reason);
                    let resp = RemoteError::new(bad.reason).to_resp("pomelo-interop (request parser)");
                    Self::reply(out, bad.id.as_ref(), &resp);
                }
            }
        }
        Ok(())
    }

    fn poll_work(&mut self, cx: &mut Context<'_>, out: &mut Outbox) -> Poll<()> {
        while let Poll::Ready(Some((id, resp))) = self.running.poll_next_unpin(cx) {
            Self::reply(out, Some(&id), &resp);
        }
        Poll::Pending
    }

    fn can_read(&self) -> bool {
        self.running.len() < self.max_inflight
    }

    fn busy(&self) -> bool {
        !self.running.is_empty()
    }

    fn on_close(&mut self, reason: &CloseReason) {
        if !self.running.is_empty() {
            tracing::warn!(peer = %self.peer.addr, "{} calls abandoned: {reason}", self.running.len());
        }
    }
}
