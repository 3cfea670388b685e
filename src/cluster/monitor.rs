//! The monitor agent: pomelo-admin 1.0.1 over MQTT to the Node master. Register, subscribe,
//! record; keep the server table (and the RPC client) in step with the master's
//! `__monitorwatcher__` requests; answer `__console__`; reconnect with the `reconnect` topic
//! when the master goes away.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::link::{Encoding, Incoming, Link};
use super::{ClusterError, JoinConfig};
use crate::client::{RpcClient, ServerInfo};
pub use crate::wire::json::parse_maybe_twice;

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

/// Admin-link timings (pomelo-admin's defaults).
#[derive(Debug, Clone, Copy)]
pub struct MonitorTimings {
    /// PINGREQ period; the master is dead after two without PINGRESP.
    pub ping: Duration,
    /// First reconnect delay; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// How long to wait for CONNACK and for the register answer.
    pub handshake: Duration,
}

impl Default for MonitorTimings {
    fn default() -> Self {
        MonitorTimings {
            ping: Duration::from_secs(60),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            handshake: Duration::from_secs(5),
        }
    }
}

type Conn = Link;

/// A registered monitor; resolves `stopped()` when the master asks us to go.
pub struct Monitor {
    stop_rx: watch::Receiver<Option<StopReason>>,
    servers_rx: watch::Receiver<Vec<ServerInfo>>,
    quit: Option<oneshot::Sender<()>>,
}

impl Monitor {
    /// Connects, registers (failing with [`ClusterError::Refused`] on a bad token),
    /// subscribes, records, and keeps serving the admin link in the background.
    pub async fn join(
        cfg: JoinConfig,
        client: RpcClient,
        timings: MonitorTimings,
    ) -> Result<Monitor, ClusterError> {
        let mut agent = Agent::new(cfg, client, timings);
        let mut conn = agent.open().await?;
        agent.register(&mut conn, "register").await?;
        agent.subscribe(&mut conn).await?;
        agent
            .notify(&mut conn, "__masterwatcher__", json!({"action": "record", "id": agent.cfg.me.id}))
            .await?;
        tracing::info!(id = %agent.cfg.me.id, master = %agent.cfg.master, "registered with the master");
        let (stop_tx, stop_rx) = watch::channel(None);
        let (servers_tx, servers_rx) = watch::channel(agent.client.servers());
        let (quit_tx, quit_rx) = oneshot::channel();
        agent.stop_tx = Some(stop_tx);
        agent.servers_tx = Some(servers_tx);
        tokio::spawn(agent.run(conn, quit_rx));
        Ok(Monitor { stop_rx, servers_rx, quit: Some(quit_tx) })
    }

    /// Resolves when the master sends stop, kill or restart.
    pub async fn stopped(&mut self) -> StopReason {
        loop {
            if let Some(r) = *self.stop_rx.borrow() {
                return r;
            }
            if self.stop_rx.changed().await.is_err() {
                return StopReason::Stop;
            }
        }
    }

    /// The server table as the master last described it.
    pub fn servers(&self) -> Vec<ServerInfo> {
        self.servers_rx.borrow().clone()
    }

    /// Closes the admin link (the master then broadcasts removeServer).
    pub fn leave(mut self) {
        if let Some(q) = self.quit.take() {
            let _ = q.send(());
        }
    }
}

struct Agent {
    cfg: JoinConfig,
    client: RpcClient,
    timings: MonitorTimings,
    next_req: u64,
    started: Instant,
    stop_tx: Option<watch::Sender<Option<StopReason>>>,
    servers_tx: Option<watch::Sender<Vec<ServerInfo>>>,
    /// Requests already answered, so a re-sent duplicate is answered without acting twice.
    answered: HashMap<String, Value>,
}

fn info_object(cfg: &JoinConfig) -> Value {
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
    Value::Object(info)
}

impl Agent {
    fn new(cfg: JoinConfig, client: RpcClient, timings: MonitorTimings) -> Self {
        Agent {
            cfg,
            client,
            timings,
            next_req: 1,
            started: Instant::now(),
            stop_tx: None,
            servers_tx: None,
            answered: HashMap::new(),
        }
    }

    async fn open(&self) -> Result<Conn, ClusterError> {
        Link::open(self.cfg.flavor.admin_transport(), &self.cfg.master, self.timings.handshake).await
    }

    async fn publish(
        &self,
        conn: &mut Conn,
        topic: &str,
        body: &Value,
        enc: Encoding,
    ) -> Result<(), ClusterError> {
        conn.send(topic, body, enc).await
    }

    /// `register` (first time, with token) or `reconnect` (no token), then waits for its answer.
    async fn register(&mut self, conn: &mut Conn, topic: &str) -> Result<(), ClusterError> {
        let me = &self.cfg.me;
        let mut msg = json!({
            "id": me.id,
            "type": "monitor",
            "serverType": me.server_type,
            "pid": std::process::id(),
            "info": info_object(&self.cfg),
        });
        if topic == "register"
            && let Some(t) = &self.cfg.token
        {
            msg["token"] = json!(t);
        }
        if topic == "reconnect" {
            // pomelo-admin 0.4 sends the pid as a second argument; MQTT carries only the first.
            conn.send_args(topic, vec![msg, json!(std::process::id())]).await?;
        } else {
            self.publish(conn, topic, &msg, Encoding::Once).await?;
        }
        let answer_topic = if topic == "register" { "register" } else { "reconnect_ok" };
        let deadline = Instant::now() + self.timings.handshake;
        loop {
            let (t, answer) = match tokio::time::timeout_at(deadline, conn.next()).await {
                Ok(Ok(Incoming::Message(t, v))) => (t, v),
                Ok(Ok(_)) => continue,
                Ok(Err(_)) if topic == "register" => {
                    return Err(ClusterError::Refused("the master closed the connection".into()));
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(ClusterError::Master(format!("no {answer_topic} answer from the master")));
                }
            };
            if t != answer_topic {
                continue;
            }
            if answer["code"] == json!(1) {
                return Ok(());
            }
            let why = answer["msg"].as_str().unwrap_or("refused").to_string();
            return Err(ClusterError::Refused(why));
        }
    }

    async fn subscribe(&mut self, conn: &mut Conn) -> Result<(), ClusterError> {
        let req_id = self.next_req;
        self.next_req += 1;
        let body = json!({"action": "subscribe", "id": self.cfg.me.id});
        let req = json!({"reqId": req_id, "moduleId": "__masterwatcher__", "body": body});
        self.publish(conn, "monitor", &req, Encoding::Twice).await?;
        let deadline = Instant::now() + self.timings.handshake * 2;
        loop {
            let (topic, msg) = match tokio::time::timeout_at(deadline, conn.next()).await {
                Ok(Ok(Incoming::Message(t, v))) => (t, v),
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(ClusterError::Master("no answer to subscribe".into())),
            };
            if topic == "monitor" && msg.get("respId").is_some_and(|r| same_id(r, req_id)) {
                let map = msg.get("body").cloned().unwrap_or(Value::Null);
                self.replace_from_map(&map);
                return Ok(());
            }
            // Anything else that arrives first (an addServer, …) is handled normally.
            self.on_message(conn, &topic, msg).await?;
        }
    }

    async fn notify(&mut self, conn: &mut Conn, module: &str, body: Value) -> Result<(), ClusterError> {
        self.publish(conn, "monitor", &json!({"moduleId": module, "body": body}), Encoding::Once).await
    }

    fn servers_from_map(map: &Value) -> Vec<ServerInfo> {
        map.as_object()
            .map(|m| {
                m.values().filter_map(|v| serde_json::from_value::<ServerInfo>(v.clone()).ok()).collect()
            })
            .unwrap_or_default()
    }

    fn replace_from_map(&mut self, map: &Value) {
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

    fn stop(&self, reason: StopReason) {
        if let Some(tx) = &self.stop_tx {
            let _ = tx.send(Some(reason));
        }
    }

    async fn respond(
        &mut self,
        conn: &mut Conn,
        req_id: &Value,
        error: Value,
        body: Option<Value>,
    ) -> Result<(), ClusterError> {
        let mut resp = json!({"respId": req_id, "error": error});
        if let Some(b) = body {
            resp["body"] = b;
        }
        self.publish(conn, "monitor", &resp, Encoding::Twice).await
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

    async fn on_message(&mut self, conn: &mut Conn, topic: &str, msg: Value) -> Result<(), ClusterError> {
        if topic != "monitor" {
            tracing::debug!(topic, "ignoring admin message");
            return Ok(());
        }
        if msg.get("command").is_some() || msg.get("respId").is_some() {
            return Ok(());
        }
        let module = msg.get("moduleId").and_then(Value::as_str).unwrap_or("").to_string();
        let body = msg.get("body").cloned().unwrap_or(Value::Null);
        let Some(req_id) = msg.get("reqId").cloned() else {
            // Notifies.
            if module == "__console__" && body["signal"] == json!("stop") {
                tracing::info!("the master asks us to stop");
                self.stop(StopReason::Stop);
            }
            return Ok(());
        };
        let key = match &req_id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let Some(previous) = self.answered.get(&key).cloned() {
            // A re-sent request (after reconnect, with a string reqId): answer again, act once.
            return self.respond(conn, &req_id, previous, None).await;
        }
        let (error, reply_body, stop) = match module.as_str() {
            "__monitorwatcher__" => {
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
                (json!(1), None, None)
            }
            "__console__" => match body["signal"].as_str().unwrap_or("") {
                "list" => (self.list_stats(), None, None),
                "kill" => (json!(self.cfg.me.id), None, Some(StopReason::Kill)),
                "restart" => (info_object(&self.cfg), None, Some(StopReason::Restart)),
                "stop" => (json!(1), None, Some(StopReason::Stop)),
                other => (json!(format!("unknown signal:{other}")), None, None),
            },
            other => (json!(format!("unknown moduleId:{other}")), None, None),
        };
        self.answered.insert(key, error.clone());
        if self.answered.len() > 10_000 {
            self.answered.clear();
        }
        self.respond(conn, &req_id, error, reply_body).await?;
        if let Some(reason) = stop {
            tracing::info!(?reason, "the master asks us to go");
            self.stop(reason);
        }
        Ok(())
    }

    /// Serves one admin connection until it breaks (Err) or we are asked to quit (Ok).
    async fn serve(&mut self, conn: &mut Conn, quit: &mut oneshot::Receiver<()>) -> Result<(), ClusterError> {
        let mut ping = tokio::time::interval_at(Instant::now() + self.timings.ping, self.timings.ping);
        let mut ping_sent: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = &mut *quit => {
                    conn.close().await;
                    return Ok(());
                }
                _ = ping.tick() => {
                    if let Some(at) = ping_sent && at.elapsed() >= self.timings.ping * 2 {
                        return Err(ClusterError::Master("no PINGRESP from the master".into()));
                    }
                    if ping_sent.is_none() && conn.ping().await? {
                        ping_sent = Some(Instant::now());
                    }
                }
                incoming = conn.next() => match incoming? {
                    Incoming::Pong => ping_sent = None,
                    Incoming::Message(topic, msg) => self.on_message(conn, &topic, msg).await?,
                    Incoming::Other => {}
                },
            }
        }
    }

    async fn run(mut self, mut conn: Conn, mut quit: oneshot::Receiver<()>) {
        loop {
            match self.serve(&mut conn, &mut quit).await {
                Ok(()) => return,
                Err(e) => tracing::warn!("admin link lost: {e}; reconnecting"),
            }
            let mut delay = self.timings.reconnect_min;
            conn = loop {
                tokio::select! {
                    _ = &mut quit => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                match self.open().await {
                    Ok(mut c) => match self.register(&mut c, "reconnect").await {
                        Ok(()) => {
                            tracing::info!(master = %self.cfg.master, "reconnected to the master");
                            // A restarted master numbers its requests from 1 again; duplicates
                            // worth recognising only ever arrive on the same connection.
                            self.answered.clear();
                            break c;
                        }
                        Err(e) => tracing::warn!("reconnect refused: {e}"),
                    },
                    Err(e) => tracing::debug!("master still away: {e}"),
                }
                delay = (delay * 2).min(self.timings.reconnect_max);
            };
        }
    }
}

fn same_id(v: &Value, id: u64) -> bool {
    v.as_u64() == Some(id) || v.as_str().and_then(|s| s.parse::<u64>().ok()) == Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_or_twice_encoded() {
        let once = br#"{"reqId":1,"moduleId":"m"}"#;
        let twice = br#""{\"reqId\":1,\"moduleId\":\"m\"}""#;
        assert_eq!(parse_maybe_twice(once).unwrap(), parse_maybe_twice(twice).unwrap());
        assert_eq!(parse_maybe_twice(once).unwrap()["reqId"], json!(1));
        assert!(parse_maybe_twice(b"nope").is_err());
    }

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
        assert!(same_id(&json!("3"), 3) && same_id(&json!(3), 3) && !same_id(&json!("x"), 3));
    }
}
