//! The RPC client: a table of remote servers, one lazily connected mailbox per server id, a
//! deadline on every call, and errors that name the server.

pub mod router;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::message::RpcMsg;
use crate::transport::{Mailbox, MailboxOptions, Transport, TransportError};

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
    pub fn new(id: impl Into<String>, server_type: impl Into<String>, host: impl Into<String>, port: u16) -> Self {
        ServerInfo {
            id: id.into(),
            server_type: server_type.into(),
            host: host.into(),
            port,
            weight: None,
            extra: serde_json::Map::new(),
        }
    }
}

impl ServerInfo {
    /// `host:port`, bracketing IPv6 literals.
    pub fn addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Errors of a client call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server id is not in the client's table.
    #[error("no server with id {0:?} is known to this client (add it first)")]
    UnknownServer(String),
    /// Connecting, sending or waiting failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Per-connection settings (dialect, batching, keepalive).
    pub mailbox: MailboxOptions,
    /// Deadline for calls that do not give their own.
    pub default_timeout: Duration,
}

impl ClientOptions {
    /// Defaults for a transport: 30 s deadline, as pomelo-rpc's mqtt and ws mailboxes.
    pub fn new(transport: Transport) -> Self {
        ClientOptions { mailbox: MailboxOptions::new(transport), default_timeout: Duration::from_secs(30) }
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Mailbox>>>;

/// Calls remote servers by id.
pub struct RpcClient {
    opts: ClientOptions,
    servers: Mutex<HashMap<String, (ServerInfo, Slot)>>,
}

impl RpcClient {
    /// A client with no servers yet.
    pub fn new(opts: ClientOptions) -> Self {
        RpcClient { opts, servers: Mutex::new(HashMap::new()) }
    }

    /// Adds (or replaces) a server; no connection is made until the first call.
    pub fn add_server(&self, info: ServerInfo) {
        let mut servers = self.servers.lock().expect("servers lock");
        if let Some((old, slot)) = servers.remove(&info.id) {
            if old == info {
                servers.insert(info.id.clone(), (old, slot));
                return;
            }
            close_slot(slot);
        }
        servers.insert(info.id.clone(), (info, Arc::default()));
    }

    /// Removes a server; its connection closes and its pending calls fail.
    pub fn remove_server(&self, id: &str) {
        if let Some((_, slot)) = self.servers.lock().expect("servers lock").remove(id) {
            close_slot(slot);
        }
    }

    /// The known servers.
    pub fn servers(&self) -> Vec<ServerInfo> {
        self.servers.lock().expect("servers lock").values().map(|(i, _)| i.clone()).collect()
    }

    /// Calls `msg` on server `server_id` and returns the `resp` array; `timeout` defaults to
    /// the client's. The deadline covers connecting as well as waiting.
    pub async fn call(
        &self,
        server_id: &str,
        msg: RpcMsg,
        timeout: Option<Duration>,
    ) -> Result<Vec<Value>, ClientError> {
        let timeout = timeout.unwrap_or(self.opts.default_timeout);
        let deadline = tokio::time::Instant::now() + timeout;
        let route = || format!("{}.{}.{}.{}", msg.namespace, msg.server_type, msg.service, msg.method);
        let mailbox = match tokio::time::timeout_at(deadline, self.mailbox(server_id, timeout)).await {
            Ok(mb) => mb?,
            Err(_) => {
                let (server, ms, route) = (server_id.to_string(), timeout.as_millis(), route());
                return Err(TransportError::Timeout { server, ms, route }.into());
            }
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match mailbox.call(msg, left.max(Duration::from_millis(1))).await {
            Err(TransportError::Timeout { server, route, .. }) => {
                Err(TransportError::Timeout { server, ms: timeout.as_millis(), route }.into())
            }
            other => Ok(other?),
        }
    }

    async fn mailbox(&self, server_id: &str, timeout: Duration) -> Result<Mailbox, ClientError> {
        let (info, slot) = self
            .servers
            .lock()
            .expect("servers lock")
            .get(server_id)
            .cloned()
            .ok_or_else(|| ClientError::UnknownServer(server_id.to_string()))?;
        let mut guard = slot.lock().await;
        if let Some(mb) = guard.as_ref().filter(|mb| !mb.is_closed()) {
            return Ok(mb.clone());
        }
        let mut opts = self.opts.mailbox.clone();
        opts.connect_timeout = opts.connect_timeout.min(timeout);
        let mb = Mailbox::connect(&info.id, &info.addr(), opts).await?;
        *guard = Some(mb.clone());
        Ok(mb)
    }

    /// Calls waiting for a reply from `server_id` (0 when not connected).
    pub fn pending_calls(&self, server_id: &str) -> usize {
        let slot = self.servers.lock().expect("servers lock").get(server_id).map(|(_, s)| s.clone());
        slot.and_then(|s| s.try_lock().ok().and_then(|g| g.as_ref().map(Mailbox::pending))).unwrap_or(0)
    }

    /// Closes every connection; pending calls fail.
    pub fn close(&self) {
        for (_, (_, slot)) in self.servers.lock().expect("servers lock").drain() {
            close_slot(slot);
        }
    }
}

fn close_slot(slot: Slot) {
    if let Ok(mut g) = slot.try_lock() {
        if let Some(mb) = g.take() {
            mb.close();
        }
    } else {
        tokio::spawn(async move {
            if let Some(mb) = slot.lock().await.take() {
                mb.close();
            }
        });
    }
}
