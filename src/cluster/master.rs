//! What the master asks of a monitor and what it gets back, without the link: server table
//! updates (`__monitorwatcher__`), `__console__` signals and `pomelo list` figures, the info we
//! register with, and answering a re-sent request once.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::config::JoinConfig;
use crate::client::{RpcClient, ServerInfo};
use crate::wire::json;

/// Why the master wants us gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `pomelo stop`: shut down gracefully.
    Stop,
    /// `pomelo kill`: answered; exit now.
    Kill,
    /// `pomelo restart`: answered; stop (the master re-spawns).
    Restart,
}

/// The `info` a monitor registers with: our servers.json entry, `env` and `main`.
pub(super) fn info_object(cfg: &JoinConfig) -> Value {
    let mut info = Map::new();
    if let Some(main) = &cfg.main {
        info.insert("main".into(), json!(main));
    }
    info.insert("env".into(), json!(cfg.env));
    if let Value::Object(me) = serde_json::to_value(&cfg.me).unwrap_or_default() {
        for (k, v) in me {
            // The master would re-spawn us as a Node process (spec/cluster.md §1.8).
            if k != "auto-restart" && k != "restart-force" {
                info.insert(k, v);
            }
        }
    }
    // Rust peers that read the server table call us without the tcp decoder's limits.
    info.insert(crate::client::POMELO_INTEROP_FIELD.into(), json!(env!("CARGO_PKG_VERSION")));
    Value::Object(info)
}

/// Whether a `respId` is our request `id` (a number, or a string holding it).
pub(super) fn same_id(v: &Value, id: u64) -> bool {
    v.as_u64() == Some(id) || v.as_str().and_then(|s| s.parse::<u64>().ok()) == Some(id)
}

/// The answer to one request of the master: sent (twice-encoded, topic `monitor`) before
/// `stop`, if any, is signalled.
pub(super) struct Answer {
    /// `{"respId": …, "error": …}`.
    pub(super) resp: Value,
    /// Leave after the answer is sent.
    pub(super) stop: Option<StopReason>,
}

/// The monitor's state as the master sees it: our config, the server table (kept in the RPC
/// client) and the requests already answered.
pub(super) struct Responder {
    pub(super) cfg: JoinConfig,
    pub(super) client: RpcClient,
    started: Instant,
    /// Told the stop reason; set once the handshake is done.
    pub(super) stop_tx: Option<watch::Sender<Option<StopReason>>>,
    /// Told the server table after each change; set once the handshake is done.
    pub(super) servers_tx: Option<watch::Sender<Vec<ServerInfo>>>,
    /// Requests already answered, so a re-sent duplicate is answered without acting twice.
    answered: HashMap<String, Value>,
}

impl Responder {
    pub(super) fn new(cfg: JoinConfig, client: RpcClient) -> Self {
        Responder {
            cfg,
            client,
            started: Instant::now(),
            stop_tx: None,
            servers_tx: None,
            answered: HashMap::new(),
        }
    }

    /// A restarted master numbers its requests from 1 again; duplicates worth recognising only
    /// ever arrive on the same connection.
    pub(super) fn forget_answers(&mut self) {
        self.answered.clear();
    }

    fn servers_from_map(map: &Value) -> Vec<ServerInfo> {
        map.as_object()
            .map(|m| {
                m.values().filter_map(|v| serde_json::from_value::<ServerInfo>(v.clone()).ok()).collect()
            })
            .unwrap_or_default()
    }

    /// Replaces the server table with the master's `{id: info}` map.
    pub(super) fn replace_from_map(&mut self, map: &Value) {
        let list = Self::servers_from_map(map);
        tracing::debug!(count = list.len(), "server table replaced");
        self.client.replace_servers(list);
        self.publish_table();
    }

    fn publish_table(&self) {
        if let Some(tx) = &self.servers_tx {
            let _ = tx.send(self.client.servers());
        }
    }

    /// Tells the monitor's owner to go.
    pub(super) fn stop(&self, reason: StopReason) {
        if let Some(tx) = &self.stop_tx {
            let _ = tx.send(Some(reason));
        }
    }

    fn list_stats(&self) -> Value {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kb = |key: &str| -> f64 {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let mb = |v: f64| format!("{:.2}", v / 1024.0);
        let me = &self.cfg.me;
        json!({
            "serverId": me.id,
            "body": {
                "serverId": me.id,
                "serverType": me.server_type,
                "pid": std::process::id(),
                "rss": mb(kb("VmRSS:")),
                "heapTotal": mb(kb("VmData:")),
                "heapUsed": mb(kb("RssAnon:")),
                "uptime": format!("{:.2}", self.started.elapsed().as_secs_f64() / 60.0),
            }
        })
    }

    /// `__monitorwatcher__`: the master's changes to the server table.
    fn watcher(&mut self, body: &Value) -> Value {
        match body["action"].as_str().unwrap_or("") {
            "addServer" => {
                if let Ok(info) = serde_json::from_value::<ServerInfo>(body["server"].clone()) {
                    tracing::info!(id = %info.id, "addServer");
                    self.client.add_server(info);
                }
            }
            "removeServer" => {
                if let Some(id) = body["id"].as_str() {
                    tracing::info!(id, "removeServer");
                    self.client.remove_server(id);
                }
            }
            "replaceServer" => {
                tracing::info!("replaceServer");
                let servers = body["servers"].clone();
                self.replace_from_map(&servers);
            }
            "startOver" => tracing::info!("startOver: every server of the cluster has started"),
            other => tracing::debug!(action = other, "unknown watchdog action"),
        }
        self.publish_table();
        json!(1)
    }

    /// `__console__`: `pomelo list`, `kill`, `restart`, `stop`.
    fn console(&self, body: &Value) -> (Value, Option<StopReason>) {
        match body["signal"].as_str().unwrap_or("") {
            "list" => (self.list_stats(), None),
            "kill" => (json!(self.cfg.me.id), Some(StopReason::Kill)),
            "restart" => (info_object(&self.cfg), Some(StopReason::Restart)),
            "stop" => (json!(1), Some(StopReason::Stop)),
            other => (json!(format!("unknown signal:{other}")), None),
        }
    }

    /// Acts on one message of the master; the answer to send, if it was a request.
    pub(super) fn on_message(&mut self, topic: &str, msg: Value) -> Option<Answer> {
        if topic != "monitor" {
            tracing::debug!(topic, "ignoring admin message");
            return None;
        }
        if msg.get("command").is_some() || msg.get("respId").is_some() {
            return None;
        }
        let module = msg.get("moduleId").and_then(Value::as_str).unwrap_or("").to_string();
        let body = msg.get("body").cloned().unwrap_or(Value::Null);
        let Some(req_id) = msg.get("reqId").cloned() else {
            // Notifies.
            if module == "__console__" && body["signal"] == json!("stop") {
                tracing::info!("the master asks us to stop");
                self.stop(StopReason::Stop);
            }
            return None;
        };
        let key = match &req_id {
            Value::String(s) => s.clone(),
            other => json::to_string(other),
        };
        if let Some(previous) = self.answered.get(&key).cloned() {
            // A re-sent request (after reconnect, with a string reqId): answer again, act once.
            return Some(Answer { resp: json!({"respId": req_id, "error": previous}), stop: None });
        }
        let (error, stop) = match module.as_str() {
            "__monitorwatcher__" => (self.watcher(&body), None),
            "__console__" => self.console(&body),
            other => (json!(format!("unknown moduleId:{other}")), None),
        };
        self.answered.insert(key, error.clone());
        if self.answered.len() > 10_000 {
            self.answered.clear();
        }
        Some(Answer { resp: json!({"respId": req_id, "error": error}), stop })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_never_carries_auto_restart() {
        let mut me = ServerInfo::new("t1", "time", "127.0.0.1", 1);
        me.extra.insert("auto-restart".into(), json!("true"));
        me.extra.insert("restart-force".into(), json!("true"));
        me.extra.insert("custom".into(), json!("x"));
        let cfg = JoinConfig {
            master: "m:1".into(),
            me,
            token: None,
            env: "development".into(),
            main: None,
            flavor: Default::default(),
        };
        let info = info_object(&cfg);
        assert!(info.get("auto-restart").is_none() && info.get("restart-force").is_none());
        assert_eq!((info["custom"].clone(), info["serverType"].clone()), (json!("x"), json!("time")));
        // Rust peers reading the server table see we are one of them.
        let table_entry: ServerInfo = serde_json::from_value(info.clone()).unwrap();
        assert!(table_entry.is_pomelo_interop());
        assert!(same_id(&json!("3"), 3) && same_id(&json!(3), 3) && !same_id(&json!("x"), 3));
    }
}
