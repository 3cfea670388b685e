//! What serving a dialect needs from the layer above: per-connection options and a factory of
//! endpoints (one per accepted connection).

use super::PeerInfo;
use super::dialect::Side;
use super::link::{Endpoint, LinkOptions};
use super::sio09::Sio09Options;

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

/// The per-connection link options: the template, as a server, labelled with the peer.
pub(crate) fn link_options(opts: &ServeOptions, peer: &PeerInfo) -> LinkOptions {
    let mut link = opts.link.clone();
    link.side = Side::Server;
    link.label = format!("{} <- {} #{}", opts.link.label, peer.addr, peer.conn).into();
    link
}
