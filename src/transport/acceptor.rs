//! The listening side for the stream dialects (tcp, mqtt): accept, tune, frame, serve.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::engine::{ConnSettings, serve_connection};
use super::mqtt::MqttDialect;
use super::pinus_tcp::PinusTcpDialect;
use super::sio09::{self, Sio09Options};
use super::tcp::TcpDialect;
use super::{Connection, PeerInfo, RpcHandler, StreamDialect, Transport, TransportError, Whitelist, tune};
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
    /// Connections served at once; further ones wait in the kernel backlog.
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
        let listener = TcpListener::bind(opts.listen)
            .await
            .map_err(|source| TransportError::Bind { addr: opts.listen.to_string(), source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| TransportError::Bind { addr: opts.listen.to_string(), source })?;
        let wl = Whitelist::new(&opts.whitelist)?;
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let task = match opts.transport {
            Transport::Tcp => tokio::spawn(accept_loop(TcpDialect, listener, opts, handler, stop, wl)),
            Transport::Mqtt => tokio::spawn(accept_loop(MqttDialect, listener, opts, handler, stop, wl)),
            Transport::PinusTcp => {
                tokio::spawn(accept_loop(PinusTcpDialect, listener, opts, handler, stop, wl))
            }
            Transport::Sio09 => tokio::spawn(sio09::serve(listener, opts, handler, stop, wl)),
        };
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

async fn accept_loop<D: StreamDialect>(
    dialect: D,
    listener: TcpListener,
    opts: AcceptorOptions,
    handler: Arc<dyn RpcHandler>,
    shutdown: CancellationToken,
    whitelist: Whitelist,
) {
    let settings = ConnSettings::new(&opts, None);
    let slots = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    let counter = AtomicU64::new(0);
    let mut conns = JoinSet::new();
    let mut backoff = Duration::from_millis(10);
    loop {
        let slot = tokio::select! {
            _ = shutdown.cancelled() => break,
            s = slots.clone().acquire_owned() => s.expect("semaphore never closes"),
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let (stream, addr) = match accepted {
            Ok(x) => {
                backoff = Duration::from_millis(10);
                x
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        tune(&stream);
        let peer = PeerInfo { addr, conn: counter.fetch_add(1, Ordering::Relaxed) + 1 };
        tracing::debug!(server = %settings.server_id, peer = %addr, conn = peer.conn, dialect = D::NAME, "accepted");
        if !whitelist.allows(addr.ip()) {
            tracing::warn!(peer = %addr, "refused by the whitelist");
            drop(stream);
            continue;
        }
        let (frames, sink) = dialect.framed(stream, opts.max_frame);
        let io = Connection { frames, sink, idle_timeout: None };
        let fut =
            serve_connection(dialect.clone(), io, peer, handler.clone(), settings.clone(), shutdown.clone());
        conns.spawn(async move {
            fut.await;
            drop(slot);
        });
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}
