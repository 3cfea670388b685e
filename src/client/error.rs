//! Errors of a client call. pomelo's error codes in brackets.

use tower::BoxError;

use super::RouteError;
use crate::transport::{CloseReason, TransportError};
use crate::wire::json::JsonError;

/// Why a call produced no reply (or a reply that cannot be read).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server id is not in the client's table [2].
    #[error("no server with id {0:?} is known to this client (add it first)")]
    UnknownServer(String),
    /// The server was removed from the table while the call waited or ran.
    #[error("server {0} was removed")]
    Removed(String),
    /// Routing found no server, or the router failed [2].
    #[error(transparent)]
    Route(#[from] RouteError),
    /// Too many calls already wait for this server's connection.
    #[error("{limit} calls already wait for the connection to {server}; refusing more")]
    QueueFull {
        /// Server id.
        server: String,
        /// The configured limit (`pendingSize`).
        limit: usize,
    },
    /// A recent connect attempt failed and the backoff has not elapsed [3].
    #[error("server {server} is unreachable ({reason}); next attempt in {retry_in_ms} ms")]
    Unreachable {
        /// Server id.
        server: String,
        /// Why the last attempt failed.
        reason: String,
        /// Time until the next attempt is allowed.
        retry_in_ms: u128,
    },
    /// Connecting failed [3].
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The connection ended before the reply came; every call pending on it fails with this [5].
    #[error("connection to {server} closed: {reason}")]
    Closed {
        /// Server id.
        server: String,
        /// Why it closed.
        reason: CloseReason,
    },
    /// No reply before the call's deadline [5].
    #[error("no reply from {server} within {ms} ms ({route})")]
    Timeout {
        /// Server id (or "a <type> server" when routing had not picked one yet).
        server: String,
        /// The whole deadline in milliseconds.
        ms: u128,
        /// `namespace.serverType.service.method` of the call.
        route: String,
    },
    /// The answer for this call was JSON but not a response (`resp` not an array); the
    /// connection and its other calls go on.
    #[error("malformed reply from {server}: {reason}")]
    BadReply {
        /// Server id.
        server: String,
        /// What was wrong.
        reason: String,
    },
    /// The reply arrived but cannot become values (nested past the tree limit); the raw
    /// reply ([`super::RpcClient::call_raw`]) has it exactly.
    #[error("reply cannot be read as values: {0}")]
    ReplyValues(#[source] JsonError),
    /// failover tried every server of the type.
    #[error("rpc failed with all this type of servers, with serverType: {server_type} (last: {last})")]
    AllFailed {
        /// The server type.
        server_type: String,
        /// The last server's error.
        last: Box<ClientError>,
    },
    /// A filter or another layer refused the call [6].
    #[error("call refused by a filter: {0}")]
    Filter(String),
}

impl ClientError {
    /// Turns a layer's boxed error back into a `ClientError` (ours pass through unchanged).
    pub fn from_layer(e: BoxError) -> Self {
        match e.downcast::<ClientError>() {
            Ok(e) => *e,
            Err(e) if e.is::<tower::timeout::error::Elapsed>() => {
                ClientError::Filter("deadline elapsed".into())
            }
            Err(e) if e.is::<tower::load_shed::error::Overloaded>() => {
                ClientError::Filter("too busy (load shed)".into())
            }
            Err(e) => ClientError::Filter(e.to_string()),
        }
    }

    /// The server this error is about, when there is one.
    pub fn server(&self) -> Option<&str> {
        match self {
            ClientError::UnknownServer(s) | ClientError::Removed(s) => Some(s),
            ClientError::QueueFull { server, .. }
            | ClientError::Unreachable { server, .. }
            | ClientError::Closed { server, .. }
            | ClientError::Timeout { server, .. }
            | ClientError::BadReply { server, .. } => Some(server),
            ClientError::Transport(
                TransportError::Connect { server, .. } | TransportError::Handshake { server, .. },
            ) => Some(server),
            _ => None,
        }
    }

    /// True when the request certainly never reached the server (failover and failback may
    /// try again without running it twice).
    pub fn not_delivered(&self) -> bool {
        matches!(
            self,
            ClientError::Transport(TransportError::Connect { .. } | TransportError::Handshake { .. })
                | ClientError::Unreachable { .. }
                | ClientError::QueueFull { .. }
                | ClientError::Removed(_)
                | ClientError::UnknownServer(_)
        )
    }
}
