//! The monitor agent's connection to the master: open the admin link, register (or
//! `reconnect`), subscribe and record, serve the link with MQTT pings, and when it breaks
//! reconnect with a delay doubling from `reconnect_min` to `reconnect_max`.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::error::ClusterError;
use super::link::{Encoding, Incoming, Link};
use super::master::{Responder, StopReason, info_object, same_id};
use crate::client::ServerInfo;

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

/// How we introduce ourselves to the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hello {
    /// The first time: `register`, with the token.
    Register,
    /// After losing the master: `reconnect`, no token.
    Reconnect,
}

impl Hello {
    fn topic(self) -> &'static str {
        match self {
            Hello::Register => "register",
            Hello::Reconnect => "reconnect",
        }
    }

    fn answer_topic(self) -> &'static str {
        match self {
            Hello::Register => "register",
            Hello::Reconnect => "reconnect_ok",
        }
    }
}

/// The agent: the link's side of the monitor; what to do with messages is the [`Responder`]'s.
pub(super) struct Agent {
    responder: Responder,
    timings: MonitorTimings,
    next_req: u64,
}

impl Agent {
    pub(super) fn new(responder: Responder, timings: MonitorTimings) -> Self {
        Agent { responder, timings, next_req: 1 }
    }

    /// Connects, registers (failing with [`ClusterError::Refused`] on a bad token), subscribes
    /// and records; the link is then ready for [`Agent::run`].
    pub(super) async fn join(&mut self) -> Result<Link, ClusterError> {
        let mut conn = self.open().await?;
        self.register(&mut conn, Hello::Register).await?;
        self.subscribe(&mut conn).await?;
        let record = json!({"action": "record", "id": self.responder.cfg.me.id});
        self.notify(&mut conn, "__masterwatcher__", record).await?;
        let cfg = &self.responder.cfg;
        tracing::info!(id = %cfg.me.id, master = %cfg.master, "registered with the master");
        Ok(conn)
    }

    /// From now on, tell the monitor's owner about stops and server table changes.
    pub(super) fn attach(
        &mut self,
        stop_tx: watch::Sender<Option<StopReason>>,
        servers_tx: watch::Sender<Vec<ServerInfo>>,
    ) {
        self.responder.stop_tx = Some(stop_tx);
        self.responder.servers_tx = Some(servers_tx);
    }

    /// The server table as it stands.
    pub(super) fn servers(&self) -> Vec<ServerInfo> {
        self.responder.client.servers()
    }

    async fn open(&self) -> Result<Link, ClusterError> {
        let cfg = &self.responder.cfg;
        Link::open(cfg.flavor.admin_transport(), &cfg.master, self.timings.handshake).await
    }

    /// `register` (first time, with token) or `reconnect` (no token), then waits for its answer.
    async fn register(&mut self, conn: &mut Link, hello: Hello) -> Result<(), ClusterError> {
        let cfg = &self.responder.cfg;
        let mut msg = json!({
            "id": cfg.me.id,
            "type": "monitor",
            "serverType": cfg.me.server_type,
            "pid": std::process::id(),
            "info": info_object(cfg),
        });
        match hello {
            Hello::Register => {
                if let Some(t) = &cfg.token {
                    msg["token"] = json!(t);
                }
                conn.send(hello.topic(), &msg, Encoding::Once).await?;
            }
            // pomelo-admin 0.4 sends the pid as a second argument; MQTT carries only the first.
            Hello::Reconnect => conn.send_args(hello.topic(), vec![msg, json!(std::process::id())]).await?,
        }
        let answer_topic = hello.answer_topic();
        let deadline = Instant::now() + self.timings.handshake;
        loop {
            let (t, answer) = match tokio::time::timeout_at(deadline, conn.next()).await {
                Ok(Ok(Incoming::Message(t, v))) => (t, v),
                Ok(Ok(_)) => continue,
                Ok(Err(_)) if hello == Hello::Register => {
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

    async fn subscribe(&mut self, conn: &mut Link) -> Result<(), ClusterError> {
        let req_id = self.next_req;
        self.next_req += 1;
        let body = json!({"action": "subscribe", "id": self.responder.cfg.me.id});
        let req = json!({"reqId": req_id, "moduleId": "__masterwatcher__", "body": body});
        conn.send("monitor", &req, Encoding::Twice).await?;
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
                self.responder.replace_from_map(&map);
                return Ok(());
            }
            // Anything else that arrives first (an addServer, …) is handled normally.
            self.on_message(conn, &topic, msg).await?;
        }
    }

    async fn notify(&mut self, conn: &mut Link, module: &str, body: Value) -> Result<(), ClusterError> {
        conn.send("monitor", &json!({"moduleId": module, "body": body}), Encoding::Once).await
    }

    /// Hands a message to the responder, sends its answer, then acts on a stop.
    async fn on_message(&mut self, conn: &mut Link, topic: &str, msg: Value) -> Result<(), ClusterError> {
        let Some(answer) = self.responder.on_message(topic, msg) else { return Ok(()) };
        conn.send("monitor", &answer.resp, Encoding::Twice).await?;
        if let Some(reason) = answer.stop {
            tracing::info!(?reason, "the master asks us to go");
            self.responder.stop(reason);
        }
        Ok(())
    }

    /// Serves one admin connection until it breaks (Err) or we are asked to quit (Ok).
    async fn serve(&mut self, conn: &mut Link, quit: &mut oneshot::Receiver<()>) -> Result<(), ClusterError> {
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

    /// Serves the link, reconnecting whenever it breaks, until `quit`.
    pub(super) async fn run(mut self, mut conn: Link, mut quit: oneshot::Receiver<()>) {
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
                    Ok(mut c) => match self.register(&mut c, Hello::Reconnect).await {
                        Ok(()) => {
                            tracing::info!(master = %self.responder.cfg.master, "reconnected to the master");
                            self.responder.forget_answers();
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
