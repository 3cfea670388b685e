//! Serving a dialect on an admitted listener: every connection gets an endpoint from the
//! caller's factory and a driver task; shutdown closes them gracefully and waits for them.

use std::sync::Arc;

use tokio_util::task::TaskTracker;

use super::Transport;
use super::accept::Admission;
use super::dialect::{Connection, StreamDialect};
use super::link;
use super::mqtt::MqttDialect;
use super::pinus_tcp::PinusTcpDialect;
use super::serve_options::{EndpointFactory, ServeOptions, link_options};
use super::sio09;
use super::tcp::TcpDialect;

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
