//! Serving RPCs: remotes as typed handlers ([`Remotes`]), the [`Dispatcher`] that routes a
//! request to them, tower layers around it ([`ServerStack`]), and the RPC [`Acceptor`] that
//! reads envelopes from the transport, runs handlers (a panic costs only its call) and writes
//! the replies.
//!
//! A handler is an async function taking typed arguments (read positionally from `args` with
//! serde) and returning something that becomes pomelo's reply array: `Result<T, E>` gives
//! `[null, t]` / `[err]`, [`Reply`] gives any array (variadic, raw, or error-slot-free replies).
//! Typed arguments are read with [`crate::wire::json`]'s rules: a lone surrogate arrives as
//! U+FFFD; a raw handler ([`ServiceBuilder::method_raw`]) gets the arguments' exact text.

mod acceptor;
pub mod demo;
mod handler;
mod remotes;
mod reply;
mod stack;
#[cfg(test)]
mod tests;

pub use acceptor::{Acceptor, AcceptorOptions};
pub use handler::{CallContext, Handler};
pub use remotes::{Dispatcher, Remotes, ServiceBuilder};
pub use reply::{IntoReply, RemoteError, Reply};
pub use stack::{DispatchService, ServerCall, ServerStack};

use std::future::Future;
use std::pin::Pin;

use crate::message::{Resp, RpcMsg};
use crate::transport::PeerInfo;

/// A boxed reply future: the complete `resp` array of one call.
pub type ReplyFuture = Pin<Box<dyn Future<Output = Resp> + Send>>;

/// What an acceptor calls for each request.
pub trait RpcHandler: Send + Sync + 'static {
    /// Handles one call; the future yields the `resp` array.
    fn handle(&self, msg: RpcMsg, peer: &PeerInfo) -> ReplyFuture;
}

/// Errors of the server layer (setting up remotes and acceptors; call failures travel as
/// replies).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The same namespace/service/method was registered twice.
    #[error("remote {0} is registered twice")]
    Duplicate(String),
    /// A transport failure while starting the acceptor.
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
}
