//! The one way in: a listener with admission (connection cap, whitelist, connection ids,
//! TCP_NODELAY, shutdown). Stream acceptors, the socket.io 0.9 acceptor (through axum's
//! [`Listener`](axum::serve::Listener)) and the capture relay all accept through it.
//!
//! At the cap a new peer is accepted and closed at once, never left waiting in the backlog for
//! a reply that cannot come; refusals are logged, at most one line per ten seconds.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connect::tune;
use super::{PeerInfo, TransportError, Whitelist};

/// What a listener admits.
#[derive(Debug, Clone)]
pub struct AdmissionOptions {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Connections open at once; the next one is refused.
    pub max_connections: usize,
    /// Regular expressions a peer IP must match (empty: everyone).
    pub whitelist: Vec<String>,
    /// Names the listener in logs.
    pub name: String,
}

impl AdmissionOptions {
    /// Everyone admitted, up to 10,000 connections.
    pub fn new(listen: SocketAddr, name: impl Into<String>) -> Self {
        AdmissionOptions { listen, max_connections: 10_000, whitelist: Vec::new(), name: name.into() }
    }
}

/// An admitted connection; the slot is held until this (or the stream taken from it) drops.
pub struct Accepted {
    /// The socket, tuned.
    pub stream: AdmittedStream,
    /// Who it is.
    pub peer: PeerInfo,
}

/// A TCP stream that holds its listener slot until it is dropped.
pub struct AdmittedStream {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AdmittedStream {
    /// The socket.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }

    /// The socket and the slot guard, to hold side by side.
    pub fn into_parts(self) -> (TcpStream, SlotGuard) {
        (self.stream, SlotGuard(self._slot))
    }
}

/// Holds a listener slot; dropping it frees the slot.
pub struct SlotGuard(#[allow(dead_code)] OwnedSemaphorePermit);

struct Refusals {
    since_log: u64,
    last_log: Option<Instant>,
}

/// A bound listener with its admission rules.
pub struct Admission {
    listener: TcpListener,
    local_addr: SocketAddr,
    whitelist: Whitelist,
    slots: Arc<Semaphore>,
    max: usize,
    counter: AtomicU64,
    shutdown: CancellationToken,
    name: String,
    refusals: Mutex<Refusals>,
}

impl Admission {
    /// Binds the listener.
    pub async fn bind(
        opts: AdmissionOptions,
        shutdown: CancellationToken,
    ) -> Result<Admission, TransportError> {
        let bind_err = |source| TransportError::Bind { addr: opts.listen.to_string(), source };
        let whitelist = Whitelist::new(&opts.whitelist)?;
        let listener = TcpListener::bind(opts.listen).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        let max = opts.max_connections.max(1);
        Ok(Admission {
            listener,
            local_addr,
            whitelist,
            slots: Arc::new(Semaphore::new(max)),
            max,
            counter: AtomicU64::new(0),
            shutdown,
            name: opts.name,
            refusals: Mutex::new(Refusals { since_log: 0, last_log: None }),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The whitelist (the socket.io acceptor applies it per session, to answer `0::`).
    pub fn whitelist(&self) -> &Whitelist {
        &self.whitelist
    }

    /// The shutdown token.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// The connection cap.
    pub fn max_connections(&self) -> usize {
        self.max
    }

    /// Connections open right now.
    pub fn open_connections(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    fn refuse(&self, addr: SocketAddr, why: &str) {
        let mut r = self.refusals.lock().expect("refusals lock");
        r.since_log += 1;
        let due = r.last_log.is_none_or(|at| at.elapsed() >= Duration::from_secs(10));
        if due {
            tracing::warn!(listener = %self.name, peer = %addr, refused = r.since_log, "refusing connections: {why}");
            r.since_log = 0;
            r.last_log = Some(Instant::now());
        }
    }

    /// The next admitted connection; `None` once shutdown fires. With `check_whitelist`, peers
    /// the whitelist refuses are closed here.
    pub async fn accept(&self, check_whitelist: bool) -> Option<Accepted> {
        let mut backoff = Duration::from_millis(10);
        loop {
            let accepted = tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                a = self.listener.accept() => a,
            };
            let (stream, addr) = match accepted {
                Ok(x) => {
                    backoff = Duration::from_millis(10);
                    x
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(listener = %self.name, "accept failed: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                self.refuse(
                    addr,
                    &format!("{} connections open (the limit; raise --max-connections)", self.max),
                );
                drop(stream);
                continue;
            };
            if check_whitelist && !self.whitelist.allows(addr.ip()) {
                tracing::warn!(listener = %self.name, peer = %addr, "refused by the whitelist");
                continue;
            }
            tune(&stream);
            let peer = PeerInfo { addr, conn: self.counter.fetch_add(1, Ordering::Relaxed) + 1 };
            tracing::debug!(listener = %self.name, peer = %addr, conn = peer.conn, "accepted");
            return Some(Accepted { stream: AdmittedStream { stream, _slot: slot }, peer });
        }
    }
}

/// axum serves through the same admission: every TCP connection takes a slot.
pub struct AxumListener(pub Arc<Admission>);

impl axum::serve::Listener for AxumListener {
    type Io = AdmittedStream;
    type Addr = PeerInfo;

    async fn accept(&mut self) -> (AdmittedStream, PeerInfo) {
        match self.0.accept(false).await {
            Some(a) => (a.stream, a.peer),
            // axum stops accepting on its own graceful shutdown; never resolve after ours.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<PeerInfo> {
        Ok(PeerInfo { addr: self.0.local_addr, conn: 0 })
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, AxumListener>> for PeerInfo {
    fn connect_info(stream: axum::serve::IncomingStream<'_, AxumListener>) -> Self {
        stream.remote_addr().clone()
    }
}

impl AsyncRead for AdmittedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for AdmittedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
