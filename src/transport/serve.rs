//! Serving a dialect on an admitted listener: every connection gets an endpoint from the
//! caller's factory and a driver task; shutdown closes them gracefully and waits for them.

use std::sync::Arc;

use tokio_util::task::TaskTracker;

use super::accept::Admission;
use super::dialect::{Connection, Side, StreamDialect};
use super::link::{self, Endpoint, LinkOptions};
use super::mqtt::MqttDialect;
use super::pinus_tcp::PinusTcpDialect;
use super::sio09::{self, Sio09Options};
use super::tcp::TcpDialect;
use super::{PeerInfo, Transport};

/// How an acceptor's connections are driven.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Batching, drain grace and limits for each connection (`side` is set to server).
    pub link: LinkOptions,
    /// Largest frame accepted or sent.
    pub max_frame: usize,
    /// socket.io 0.9 settings (heartbeats, polling, advertised transports).
    pub sio09: Sio09Options,
}

/// Makes the endpoint of a new connection.
pub trait EndpointFactory: Send + Sync + 'static {
    /// The endpoint type.
    type Endpoint: Endpoint;
    /// The endpoint for a connection from `peer`.
    fn make(&self, peer: &PeerInfo) -> Self::Endpoint;
}

impl<E: Endpoint, F: Fn(&PeerInfo) -> E + Send + Sync + 'static> EndpointFactory for F {
    type Endpoint = E;
    fn make(&self, peer: &PeerInfo) -> E {
        self(peer)
    }
}

/// Serves `transport` on `admission` until its shutdown token fires, then waits until every
/// connection has finished (answered what it read, flushed, closed).
pub async fn serve<F: EndpointFactory>(
    transport: Transport,
    admission: Arc<Admission>,
    opts: ServeOptions,
    factory: F,
) {
    let factory = Arc::new(factory);
    match transport {
        Transport::Tcp => serve_stream(TcpDialect, admission, opts, factory).await,
        Transport::Mqtt => serve_stream(MqttDialect, admission, opts, factory).await,
        Transport::PinusTcp => serve_stream(PinusTcpDialect, admission, opts, factory).await,
        Transport::Sio09 => sio09::server::serve(admission, opts, factory).await,
    }
}

/// The per-connection link options: the template, as a server, labelled with the peer.
pub(crate) fn link_options(opts: &ServeOptions, peer: &PeerInfo) -> LinkOptions {
    let mut link = opts.link.clone();
    link.side = Side::Server;
    link.label = format!("{} <- {} #{}", opts.link.label, peer.addr, peer.conn).into();
    link
}

async fn serve_stream<D: StreamDialect, F: EndpointFactory>(
    dialect: D,
    admission: Arc<Admission>,
    opts: ServeOptions,
    factory: Arc<F>,
) {
    let tasks = TaskTracker::new();
    while let Some(accepted) = admission.accept(true).await {
        let (stream, slot) = accepted.stream.into_parts();
        let peer = accepted.peer;
        let (frames, sink) = dialect.framed(stream, opts.max_frame);
        let conn = Connection { frames, sink, idle_timeout: None };
        let endpoint = factory.make(&peer);
        let link = link_options(&opts, &peer);
        let shutdown = admission.shutdown().clone();
        let dialect = dialect.clone();
        tasks.spawn(async move {
            link::run(dialect, conn, endpoint, link, Some(shutdown)).await;
            drop(slot);
        });
    }
    tasks.close();
    tasks.wait().await;
}
