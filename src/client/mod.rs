//! The RPC client (pomelo's mail station, done right): a server table in arrival order,
//! pomelo-exact routing, one lazily connected [`Mailbox`] per server with a bounded waiting
//! queue and capped reconnect backoff, failure modes, and a tower stack around every call so that
//! filters, timeouts, concurrency limits and load shedding are ordinary layers.
//!
//! Every call completes exactly once, with a reply or an error that names the server. Replies
//! travel raw ([`Resp`]): [`RpcClient::call_raw`] hands them over exactly as the server wrote
//! them; [`RpcClient::call`] reads them as values (lone surrogates as U+FFFD).

mod attempt;
mod error;
mod mailbox;
mod options;
mod pending;
pub mod proxy;
pub mod router;
mod server_info;
pub mod servers_file;
mod station;
mod table;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Layer, Service, ServiceExt};

pub use error::ClientError;
pub use mailbox::Mailbox;
pub use options::{ClientOptions, FailMode, MailboxOptions, TCP_UNANSWERED_BYTES, UnknownFailMode};
pub use pending::{CallResult, PendingTable};
pub use proxy::RemoteMethod;
pub use router::{CrcFlavor, RouteContext, RouteError, Router, Schedule};
pub use server_info::{POMELO_INTEROP_FIELD, ServerInfo};
pub use station::Backoff;

use crate::message::{Resp, RpcMsg};
use station::Station;
use table::Table;

/// Where a call goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Let the router pick among the servers of `msg.server_type`, with this route parameter
    /// (pomelo passes the session; the default route hashes its `uid`).
    Routed(Option<Value>),
    /// This server id, no routing (`toServer(id)`).
    Server(String),
}

/// One call as it travels through the tower stack; layers may change any field.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// Destination.
    pub target: Target,
    /// The message.
    pub msg: RpcMsg,
    /// Deadline for the whole call (connecting, retries, waiting).
    pub timeout: Duration,
}

/// The boxed call service every layer wraps; it answers with the raw `resp` array.
pub type CallService = BoxCloneSyncService<CallRequest, Resp, ClientError>;

struct Inner {
    opts: ClientOptions,
    table: RwLock<Table>,
    router: Router,
}

impl Inner {
    fn station(&self, id: &str) -> Option<Arc<Station>> {
        self.table.read().expect("table lock").station(id)
    }

    fn servers_of(&self, server_type: &str) -> Vec<ServerInfo> {
        self.table.read().expect("table lock").of_type(server_type)
    }
}

/// Calls remote servers: by route (`call_routed`), by id (`call`) or all of a type
/// (`call_all`).
#[derive(Clone)]
pub struct RpcClient {
    inner: Arc<Inner>,
    /// The tower stack, when layers were added; without layers a call skips it (no boxing).
    service: Option<CallService>,
}

/// Builds an [`RpcClient`] with a schedule and tower layers.
pub struct ClientBuilder {
    inner: Arc<Inner>,
    service: CallService,
    layered: bool,
}

impl ClientBuilder {
    /// Wraps the call path in a tower layer (filters, timeouts, limits, logging); the last
    /// layer added is the outermost. Layer errors become [`ClientError::Filter`] unless they
    /// are `ClientError`s already.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<CallService>,
        L::Service: Service<CallRequest, Response = Resp> + Clone + Send + Sync + 'static,
        <L::Service as Service<CallRequest>>::Error: Into<BoxError>,
        <L::Service as Service<CallRequest>>::Future: Send + 'static,
    {
        let svc = layer.layer(self.service).map_err(|e| ClientError::from_layer(e.into()));
        self.service = BoxCloneSyncService::new(svc);
        self.layered = true;
        self
    }

    /// Finishes the client.
    pub fn build(self) -> RpcClient {
        RpcClient { inner: self.inner, service: self.layered.then_some(self.service) }
    }
}

fn values(resp: Resp) -> Result<Vec<Value>, ClientError> {
    resp.values().map_err(ClientError::ReplyValues)
}

impl RpcClient {
    /// A client with pomelo's default route (crc32 of the uid, pomelo flavour).
    pub fn new(opts: ClientOptions) -> Self {
        Self::builder(opts, Schedule::Default(CrcFlavor::Pomelo)).build()
    }

    /// A builder with a routing schedule, to add layers.
    pub fn builder(opts: ClientOptions, schedule: Schedule) -> ClientBuilder {
        let inner = Arc::new(Inner { opts, table: RwLock::default(), router: Router::new(schedule) });
        let service = BoxCloneSyncService::new(attempt::Core { inner: inner.clone() });
        ClientBuilder { inner, service, layered: false }
    }

    /// Adds a server (appended to its type's order), or updates its record; no connection is
    /// made until the first call.
    pub fn add_server(&self, info: ServerInfo) {
        self.inner.table.write().expect("table lock").add(info, &self.inner.router);
    }

    /// Removes a server: routers stop choosing it, its pending and waiting calls fail.
    pub fn remove_server(&self, id: &str) {
        self.inner.table.write().expect("table lock").remove(id, &self.inner.router);
    }

    /// Replaces the whole table: servers not in `list` are removed, new ones added (in list
    /// order), unchanged ones keep their connections.
    pub fn replace_servers(&self, list: Vec<ServerInfo>) {
        let keep: std::collections::HashSet<&str> = list.iter().map(|s| s.id.as_str()).collect();
        let mut table = self.inner.table.write().expect("table lock");
        for id in table.ids_not_in(&keep) {
            table.remove(&id, &self.inner.router);
        }
        for info in list {
            table.add(info, &self.inner.router);
        }
    }

    /// Every known server, grouped by type in arrival order.
    pub fn servers(&self) -> Vec<ServerInfo> {
        self.inner.table.read().expect("table lock").all()
    }

    /// The servers of one type in arrival order.
    pub fn servers_of(&self, server_type: &str) -> Vec<ServerInfo> {
        self.inner.servers_of(server_type)
    }

    /// Calls routed among the servers of `msg.server_type` with `route_param`.
    pub async fn call_routed(
        &self,
        route_param: Option<Value>,
        msg: RpcMsg,
        timeout: Option<Duration>,
    ) -> Result<Vec<Value>, ClientError> {
        values(self.dispatch(Target::Routed(route_param), msg, timeout).await?)
    }

    /// [`RpcClient::call_routed`], the reply exactly as the server wrote it.
    pub async fn call_routed_raw(
        &self,
        route_param: Option<Value>,
        msg: RpcMsg,
        timeout: Option<Duration>,
    ) -> Result<Resp, ClientError> {
        self.dispatch(Target::Routed(route_param), msg, timeout).await
    }

    /// Calls `msg` on server `server_id` (no routing) and returns the `resp` array as values.
    pub async fn call(
        &self,
        server_id: &str,
        msg: RpcMsg,
        timeout: Option<Duration>,
    ) -> Result<Vec<Value>, ClientError> {
        values(self.call_raw(server_id, msg, timeout).await?)
    }

    /// Calls `msg` on server `server_id` and returns the `resp` array exactly as the server
    /// wrote it (what a relay or a byte-exact comparison wants).
    pub async fn call_raw(
        &self,
        server_id: &str,
        msg: RpcMsg,
        timeout: Option<Duration>,
    ) -> Result<Resp, ClientError> {
        self.dispatch(Target::Server(server_id.to_string()), msg, timeout).await
    }

    /// Calls every server of `msg.server_type` at once (`toServer('*')`) and returns every
    /// result, in table order — not only the first error, as pomelo does.
    pub async fn call_all(
        &self,
        msg: RpcMsg,
        timeout: Option<Duration>,
    ) -> Vec<(String, Result<Vec<Value>, ClientError>)> {
        let ids: Vec<String> = self.servers_of(&msg.server_type).into_iter().map(|s| s.id).collect();
        let calls = ids.iter().map(|id| self.call(id, msg.clone(), timeout));
        let results = futures::future::join_all(calls).await;
        ids.into_iter().zip(results).collect()
    }

    /// A handle for one remote method, `namespace.serverType.service.method`.
    pub fn method(&self, route: &str) -> Result<RemoteMethod, ClientError> {
        RemoteMethod::new(self.clone(), route)
    }

    pub(crate) async fn dispatch(
        &self,
        target: Target,
        msg: RpcMsg,
        timeout: Option<Duration>,
    ) -> Result<Resp, ClientError> {
        let timeout = timeout.unwrap_or(self.inner.opts.default_timeout);
        match &self.service {
            Some(stack) => stack.clone().oneshot(CallRequest { target, msg, timeout }).await,
            None => self.inner.call(&target, &msg, timeout).await,
        }
    }

    /// Calls waiting for a reply from `server_id` (0 when not connected).
    pub fn pending_calls(&self, server_id: &str) -> usize {
        self.inner.station(server_id).map_or(0, |s| s.pending())
    }

    /// Calls to `server_id` started and not yet finished (what the `la` schedule balances).
    pub fn in_flight(&self, server_id: &str) -> u64 {
        self.inner.router.in_flight(server_id)
    }

    /// Calls waiting for `server_id`'s connection.
    pub fn waiting_calls(&self, server_id: &str) -> usize {
        self.inner.station(server_id).map_or(0, |s| s.waiting())
    }

    /// Closes every connection; pending calls fail. The table stays, so later calls reconnect.
    pub fn close(&self) {
        let stations = self.inner.table.read().expect("table lock").stations();
        for s in stations {
            tokio::spawn(async move { s.close().await });
        }
    }
}
