//! The one way out: a TCP connect with TCP_NODELAY (every outgoing socket of the project goes
//! through [`tcp_connect`]), and per dialect the handshake that turns it into a [`Connection`].

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpStream;

use super::dialect::{Connection, StreamDialect};
use super::link::{self, Endpoint, LinkOptions};
use super::mqtt::MqttDialect;
use super::pinus_tcp::PinusTcpDialect;
use super::sio09::Sio09Dialect;
use super::tcp::TcpDialect;
use super::{Transport, TransportError};
use crate::wire::DEFAULT_MAX_FRAME;

/// Options of an outgoing connection.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Give up connecting (TCP and handshake) after this long.
    pub connect_timeout: Duration,
    /// Largest frame accepted or sent.
    pub max_frame: usize,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions { connect_timeout: Duration::from_secs(5), max_frame: DEFAULT_MAX_FRAME }
    }
}

/// A TCP connection to `addr` (`host:port`) with TCP_NODELAY, failing at once when refused and
/// after `limit` when nothing answers. `server` names the peer in errors.
pub async fn tcp_connect(server: &str, addr: &str, limit: Duration) -> Result<TcpStream, TransportError> {
    let err = |source| TransportError::Connect { server: server.to_string(), addr: addr.to_string(), source };
    let stream = match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(err(e)),
        Err(_) => {
            let msg = format!("connect timed out after {limit:?}");
            return Err(err(std::io::Error::new(std::io::ErrorKind::TimedOut, msg)));
        }
    };
    tune(&stream);
    Ok(stream)
}

/// The socket options every connection of the project gets, accepted or made.
pub(crate) fn tune(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::warn!("cannot set TCP_NODELAY: {e}");
    }
    #[cfg(target_os = "linux")]
    let _ = stream.set_quickack(true);
}

/// How a client opens a connection of a dialect, handshake included.
pub trait Connect: super::Dialect {
    /// Opens a connection to `addr` for server `server`.
    fn connect(
        &self,
        server: &str,
        addr: &str,
        opts: &ConnectOptions,
    ) -> impl Future<Output = Result<Connection<Self::Frame>, TransportError>> + Send;
}

/// Every [`StreamDialect`] connects over plain TCP and frames the stream.
impl<D: StreamDialect> Connect for D {
    async fn connect(
        &self,
        server: &str,
        addr: &str,
        opts: &ConnectOptions,
    ) -> Result<Connection<D::Frame>, TransportError> {
        let stream = tcp_connect(server, addr, opts.connect_timeout).await?;
        let (frames, sink) = self.framed(stream, opts.max_frame);
        Ok(Connection { frames, sink, idle_timeout: None })
    }
}

async fn open<D: Connect, E: Endpoint>(
    dialect: D,
    server: &str,
    addr: &str,
    opts: &ConnectOptions,
    link_opts: LinkOptions,
    endpoint: E,
) -> Result<(), TransportError> {
    let conn = dialect.connect(server, addr, opts).await?;
    tokio::spawn(link::run(dialect, conn, endpoint, link_opts, None));
    Ok(())
}

/// Connects to `addr` in `transport`'s dialect and drives the connection with `endpoint` on a
/// task of its own; returns once connected (handshake done).
pub async fn connect_dialect<E: Endpoint>(
    transport: Transport,
    server: &str,
    addr: &str,
    opts: &ConnectOptions,
    link_opts: LinkOptions,
    endpoint: E,
) -> Result<(), TransportError> {
    match transport {
        Transport::Tcp => open(TcpDialect, server, addr, opts, link_opts, endpoint).await,
        Transport::Mqtt => open(MqttDialect, server, addr, opts, link_opts, endpoint).await,
        Transport::PinusTcp => open(PinusTcpDialect, server, addr, opts, link_opts, endpoint).await,
        Transport::Sio09 => open(Sio09Dialect, server, addr, opts, link_opts, endpoint).await,
    }
}
