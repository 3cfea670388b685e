//! The RPC client (pomelo's mail station, done right): a server table in arrival order,
//! pomelo-exact routing, one lazily connected mailbox per server with a bounded waiting queue
//! and capped reconnect backoff, failure modes, and a tower stack around every call so that
//! filters, timeouts, concurrency limits and load shedding are ordinary layers.
//!
//! Every call completes exactly once, with a reply or an error that names the server.

pub mod proxy;
pub mod router;
pub mod servers_file;
mod station;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Layer, Service, ServiceExt};

pub use proxy::RemoteMethod;
pub use router::{CrcFlavor, RouteContext, RouteError, Router, Schedule};
pub use station::Backoff;

use crate::message::RpcMsg;
use crate::transport::{MailboxOptions, Transport, TransportError};
use station::{Station, not_delivered};

/// A remote server as pomelo describes it (`servers.json` entries, master records); fields we
/// do not interpret (`frontend`, `clientPort`, …) are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Unique server id, e.g. `time-server-1`.
    pub id: String,
    /// Server type, e.g. `time`.
    #[serde(rename = "serverType", default)]
    pub server_type: String,
    /// Host to connect to.
    pub host: String,
    /// RPC port.
    pub port: u16,
    /// Weight for the `wrr` schedule; servers without one are never picked by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    /// Every other field of the record, untouched.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

impl ServerInfo {
    /// A record with the four fields routing and connecting need.
    pub fn new(
        id: impl Into<String>,
        server_type: impl Into<String>,
        host: impl Into<String>,
        port: u16,
    ) -> Self {
        ServerInfo {
            id: id.into(),
            server_type: server_type.into(),
            host: host.into(),
            port,
            weight: None,
            extra: serde_json::Map::new(),
        }
    }

    /// `host:port`, bracketing IPv6 literals.
    pub fn addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Errors of a client call. pomelo's error codes in brackets.
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
    /// Connecting, sending or waiting failed [3, 5].
    #[error(transparent)]
    Transport(#[from] TransportError),
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
            ClientError::QueueFull { server, .. } | ClientError::Unreachable { server, .. } => Some(server),
            ClientError::Transport(
                TransportError::Connect { server, .. }
                | TransportError::Closed { server, .. }
                | TransportError::Timeout { server, .. }
                | TransportError::Handshake { server, .. },
            ) => Some(server),
            _ => None,
        }
    }
}

/// What to do when a call fails before a reply arrived (pomelo's `failMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// Report the error at once (pomelo's default).
    #[default]
    Failfast,
    /// Try the next server of the type (in table order) when the request was not delivered;
    /// the table itself is left alone.
    Failover,
    /// Wait for the same server to come back (reconnect with backoff) and retry it,
    /// at most `retries` times, when the request was not delivered.
    Failback,
    /// Retry the same call up to `retries` times, `retry_delay` × attempt apart, on any
    /// failure that is not a reply (the call may run twice: for idempotent remotes).
    Failsafe,
}

impl std::str::FromStr for FailMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "failfast" => Ok(FailMode::Failfast),
            "failover" => Ok(FailMode::Failover),
            "failback" => Ok(FailMode::Failback),
            "failsafe" => Ok(FailMode::Failsafe),
            _ => Err(format!("unknown fail mode {s:?} (failfast, failover, failback, failsafe)")),
        }
    }
}

/// Client settings (pomelo's `proxyConfig`).
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Per-connection settings (dialect, batching, keepalive).
    pub mailbox: MailboxOptions,
    /// Deadline for calls that do not give their own (pomelo: 30 s).
    pub default_timeout: Duration,
    /// Calls that may wait for one server's connection (pomelo's `pendingSize`, 10000).
    pub pending_size: usize,
    /// Failure handling.
    pub fail_mode: FailMode,
    /// Retries for failback/failsafe (pomelo's `retryTimes`, 3).
    pub retries: u32,
    /// Delay unit between failsafe retries (pomelo's `retryConnectTime`, 5 s).
    pub retry_delay: Duration,
    /// Backoff between connect attempts to one server.
    pub backoff: Backoff,
}

impl ClientOptions {
    /// pomelo's defaults for a transport.
    pub fn new(transport: Transport) -> Self {
        ClientOptions {
            mailbox: MailboxOptions::new(transport),
            default_timeout: Duration::from_secs(30),
            pending_size: 10_000,
            fail_mode: FailMode::Failfast,
            retries: 3,
            retry_delay: Duration::from_secs(5),
            backoff: Backoff::default(),
        }
    }
}

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

/// The boxed call service every layer wraps.
pub type CallService = BoxCloneSyncService<CallRequest, Vec<Value>, ClientError>;

#[derive(Default)]
struct Table {
    stations: HashMap<String, Arc<Station>>,
    /// Server ids per type, in the order they arrived (routing depends on it).
    by_type: HashMap<String, Vec<String>>,
}

struct Inner {
    opts: ClientOptions,
    table: RwLock<Table>,
    router: Router,
}

/// Calls remote servers: by route (`call`), by id (`call_to`) or all of a type (`call_all`).
#[derive(Clone)]
pub struct RpcClient {
    inner: Arc<Inner>,
    service: CallService,
}

/// Builds an [`RpcClient`] with a schedule and tower layers.
pub struct ClientBuilder {
    inner: Arc<Inner>,
    service: CallService,
}

impl ClientBuilder {
    /// Wraps the call path in a tower layer (filters, timeouts, limits, logging); the last
    /// layer added is the outermost. Layer errors become [`ClientError::Filter`] unless they
    /// are `ClientError`s already.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<CallService>,
        L::Service: Service<CallRequest, Response = Vec<Value>> + Clone + Send + Sync + 'static,
        <L::Service as Service<CallRequest>>::Error: Into<BoxError>,
        <L::Service as Service<CallRequest>>::Future: Send + 'static,
    {
        let svc = layer.layer(self.service).map_err(|e| ClientError::from_layer(e.into()));
        self.service = BoxCloneSyncService::new(svc);
        self
    }

    /// Finishes the client.
    pub fn build(self) -> RpcClient {
        RpcClient { inner: self.inner, service: self.service }
    }
}

impl RpcClient {
    /// A client with pomelo's default route (crc32 of the uid, pomelo flavour).
    pub fn new(opts: ClientOptions) -> Self {
        Self::builder(opts, Schedule::Default(CrcFlavor::Pomelo)).build()
    }

    /// A builder with a routing schedule, to add layers.
    pub fn builder(opts: ClientOptions, schedule: Schedule) -> ClientBuilder {
        let inner = Arc::new(Inner { opts, table: RwLock::default(), router: Router::new(schedule) });
        let service = BoxCloneSyncService::new(Core { inner: inner.clone() });
        ClientBuilder { inner, service }
    }

    /// Adds a server (appended to its type's order), or updates its record; no connection is
    /// made until the first call.
    pub fn add_server(&self, info: ServerInfo) {
        let mut table = self.inner.table.write().expect("table lock");
        if let Some(old) = table.stations.get(&info.id) {
            if old.info == info {
                return;
            }
            old.remove();
            let old_type = old.info.server_type.clone();
            if old_type != info.server_type
                && let Some(ids) = table.by_type.get_mut(&old_type)
            {
                ids.retain(|i| i != &info.id);
                self.inner.router.servers_changed(&old_type);
            }
        }
        let ids = table.by_type.entry(info.server_type.clone()).or_default();
        if !ids.contains(&info.id) {
            ids.push(info.id.clone());
        }
        self.inner.router.servers_changed(&info.server_type);
        table.stations.insert(info.id.clone(), Arc::new(Station::new(info)));
    }

    /// Removes a server: routers stop choosing it, its pending and waiting calls fail.
    pub fn remove_server(&self, id: &str) {
        let mut table = self.inner.table.write().expect("table lock");
        if let Some(station) = table.stations.remove(id) {
            station.remove();
            if let Some(ids) = table.by_type.get_mut(&station.info.server_type) {
                ids.retain(|i| i != id);
            }
            self.inner.router.servers_changed(&station.info.server_type);
        }
    }

    /// Replaces the whole table: servers not in `list` are removed, new ones added (in list
    /// order), unchanged ones keep their connections.
    pub fn replace_servers(&self, list: Vec<ServerInfo>) {
        let keep: std::collections::HashSet<&str> = list.iter().map(|s| s.id.as_str()).collect();
        let gone: Vec<String> = {
            let table = self.inner.table.read().expect("table lock");
            table.stations.keys().filter(|id| !keep.contains(id.as_str())).cloned().collect()
        };
        for id in gone {
            self.remove_server(&id);
        }
        for info in list {
            self.add_server(info);
        }
    }

    /// Every known server, grouped by type in arrival order.
    pub fn servers(&self) -> Vec<ServerInfo> {
        let table = self.inner.table.read().expect("table lock");
        let mut types: Vec<&String> = table.by_type.keys().collect();
        types.sort();
        types
            .into_iter()
            .flat_map(|t| table.by_type[t].iter().map(|id| table.stations[id].info.clone()))
            .collect()
    }

    /// The servers of one type in arrival order.
    pub fn servers_of(&self, server_type: &str) -> Vec<ServerInfo> {
        let table = self.inner.table.read().expect("table lock");
        table
            .by_type
            .get(server_type)
            .map_or_else(Vec::new, |ids| ids.iter().map(|id| table.stations[id].info.clone()).collect())
    }

    /// Calls routed among the servers of `msg.server_type` with `route_param`.
    pub async fn call_routed(
        &self,
        route_param: Option<Value>,
        msg: RpcMsg,
        timeout: Option<Duration>,
    ) -> Result<Vec<Value>, ClientError> {
        self.dispatch(Target::Routed(route_param), msg, timeout).await
    }

    /// Calls `msg` on server `server_id` (no routing) and returns the `resp` array.
    pub async fn call(
        &self,
        server_id: &str,
        msg: RpcMsg,
        timeout: Option<Duration>,
    ) -> Result<Vec<Value>, ClientError> {
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

    async fn dispatch(
        &self,
        target: Target,
        msg: RpcMsg,
        timeout: Option<Duration>,
    ) -> Result<Vec<Value>, ClientError> {
        let timeout = timeout.unwrap_or(self.inner.opts.default_timeout);
        self.service.clone().oneshot(CallRequest { target, msg, timeout }).await
    }

    /// Calls waiting for a reply from `server_id` (0 when not connected).
    pub fn pending_calls(&self, server_id: &str) -> usize {
        self.station(server_id).map_or(0, |s| s.pending())
    }

    /// Calls to `server_id` started and not yet finished (what the `la` schedule balances).
    pub fn in_flight(&self, server_id: &str) -> u64 {
        self.inner.router.in_flight(server_id)
    }

    /// Calls waiting for `server_id`'s connection.
    pub fn waiting_calls(&self, server_id: &str) -> usize {
        self.station(server_id).map_or(0, |s| s.waiting())
    }

    fn station(&self, id: &str) -> Option<Arc<Station>> {
        self.inner.table.read().expect("table lock").stations.get(id).cloned()
    }

    /// Closes every connection; pending calls fail. The table stays, so later calls reconnect.
    pub fn close(&self) {
        let stations: Vec<Arc<Station>> =
            self.inner.table.read().expect("table lock").stations.values().cloned().collect();
        for s in stations {
            tokio::spawn(async move { s.close().await });
        }
    }
}

/// The innermost service: routing, failure modes, the station.
#[derive(Clone)]
struct Core {
    inner: Arc<Inner>,
}

impl Service<CallRequest> for Core {
    type Response = Vec<Value>;
    type Error = ClientError;
    type Future = BoxFuture<'static, Result<Vec<Value>, ClientError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: CallRequest) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + req.timeout;
            let route = || {
                let m = &req.msg;
                format!("{}.{}.{}.{}", m.namespace, m.server_type, m.service, m.method)
            };
            let work = inner.run(&req, deadline);
            match tokio::time::timeout_at(deadline, work).await {
                // The mailbox saw only what was left of the deadline; report the whole of it.
                Ok(Err(ClientError::Transport(TransportError::Timeout { server, route, .. }))) => {
                    Err(ClientError::Transport(TransportError::Timeout {
                        server,
                        ms: req.timeout.as_millis(),
                        route,
                    }))
                }
                Ok(r) => r,
                Err(_) => Err(ClientError::Transport(TransportError::Timeout {
                    server: match &req.target {
                        Target::Server(id) => id.clone(),
                        Target::Routed(_) => format!("a {} server", req.msg.server_type),
                    },
                    ms: req.timeout.as_millis(),
                    route: route(),
                })),
            }
        })
    }
}

impl Inner {
    fn pick(&self, req: &CallRequest) -> Result<String, ClientError> {
        match &req.target {
            Target::Server(id) => Ok(id.clone()),
            Target::Routed(param) => {
                let servers = {
                    let table = self.table.read().expect("table lock");
                    table.by_type.get(&req.msg.server_type).map_or_else(Vec::new, |ids| {
                        ids.iter().map(|id| table.stations[id].info.clone()).collect::<Vec<_>>()
                    })
                };
                let ctx = RouteContext {
                    server_type: &req.msg.server_type,
                    servers: &servers,
                    route_param: param.as_ref(),
                    msg: &req.msg,
                };
                Ok(self.router.pick(&ctx)?)
            }
        }
    }

    /// One attempt on one server, with least-active accounting.
    async fn attempt(
        &self,
        id: &str,
        msg: &RpcMsg,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<Value>, ClientError> {
        let station = self
            .table
            .read()
            .expect("table lock")
            .stations
            .get(id)
            .cloned()
            .ok_or_else(|| ClientError::UnknownServer(id.to_string()))?;
        self.router.started(id);
        let _done = Finished(&self.router, id);
        let mailbox = station.mailbox(&self.opts.mailbox, self.opts.pending_size, self.opts.backoff).await?;
        let left =
            deadline.saturating_duration_since(tokio::time::Instant::now()).max(Duration::from_millis(1));
        Ok(mailbox.call(msg.clone(), left).await?)
    }

    async fn run(
        &self,
        req: &CallRequest,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<Value>, ClientError> {
        let first = self.pick(req)?;
        match self.opts.fail_mode {
            FailMode::Failfast => self.attempt(&first, &req.msg, deadline).await,
            FailMode::Failover => {
                let mut tried = vec![first.clone()];
                let mut result = self.attempt(&first, &req.msg, deadline).await;
                loop {
                    match &result {
                        Err(e) if not_delivered(e) => {}
                        _ => return result,
                    }
                    let next = {
                        let table = self.table.read().expect("table lock");
                        table
                            .by_type
                            .get(&req.msg.server_type)
                            .and_then(|ids| ids.iter().find(|id| !tried.contains(id)).cloned())
                    };
                    let Some(next) = next else {
                        let last = Box::new(result.expect_err("loop continues only on errors"));
                        return Err(ClientError::AllFailed {
                            server_type: req.msg.server_type.clone(),
                            last,
                        });
                    };
                    tracing::debug!(from = %tried.last().unwrap_or(&first), to = %next, "failover");
                    tried.push(next.clone());
                    result = self.attempt(&next, &req.msg, deadline).await;
                }
            }
            FailMode::Failback => {
                let mut result = self.attempt(&first, &req.msg, deadline).await;
                for _ in 0..self.opts.retries {
                    match &result {
                        Err(e)
                            if not_delivered(e)
                                && !matches!(e, ClientError::Removed(_) | ClientError::UnknownServer(_)) => {}
                        _ => return result,
                    }
                    // Wait until the server may be tried again, then retry it.
                    let station = self.table.read().expect("table lock").stations.get(&first).cloned();
                    let wait_until = match station {
                        Some(s) => s.retry_at().await,
                        None => return result,
                    };
                    if let Some(at) = wait_until {
                        tokio::time::sleep_until(at.min(deadline)).await;
                    }
                    result = self.attempt(&first, &req.msg, deadline).await;
                }
                result
            }
            FailMode::Failsafe => {
                let mut result = self.attempt(&first, &req.msg, deadline).await;
                for attempt in 1..=self.opts.retries {
                    match &result {
                        Err(
                            ClientError::Removed(_) | ClientError::UnknownServer(_) | ClientError::Route(_),
                        ) => return result,
                        Err(_) => {}
                        Ok(_) => return result,
                    }
                    tokio::time::sleep(self.opts.retry_delay * attempt).await;
                    result = self.attempt(&first, &req.msg, deadline).await;
                }
                result
            }
        }
    }
}

/// Tells the router a call finished, exactly once, however the call ends.
struct Finished<'a>(&'a Router, &'a str);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.finished(self.1);
    }
}
