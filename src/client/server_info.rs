//! A remote server as pomelo describes it: `servers.json` entries and the master's records.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// The field a pomelo-interop process adds to the record it registers with the master, with
/// its version: its peers then know it does not share pomelo-rpc's tcp decoder limits.
pub const POMELO_INTEROP_FIELD: &str = "pomeloInterop";

impl ServerInfo {
    /// Whether the record says the server is a pomelo-interop process.
    pub fn is_pomelo_interop(&self) -> bool {
        self.extra.contains_key(POMELO_INTEROP_FIELD)
    }

    /// Marks the record as a pomelo-interop process (see [`POMELO_INTEROP_FIELD`]).
    pub fn mark_pomelo_interop(mut self) -> Self {
        self.extra.insert(POMELO_INTEROP_FIELD.into(), env!("CARGO_PKG_VERSION").into());
        self
    }

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
