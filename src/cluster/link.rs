//! The admin link to the master, in either generation's transport: MQTT topics (pomelo-admin
//! 1.0.x, pinus-admin) or socket.io 0.9 events (pomelo-admin 0.4, pomelo 1.x). Same messages,
//! same JSON; only the envelope differs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::error::ClusterError;
use crate::transport::mqtt::MqttDialect;
use crate::transport::sio09::client_connect;
use crate::transport::{ConnectOptions, Connection, StreamDialect, tcp_connect};
use crate::wire::json::{self, parse_maybe_twice, unwrap_twice};
use crate::wire::mqtt::Packet;
use crate::wire::sio09::{self, Packet as SioPacket};

/// Which transport the master's admin port speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminTransport {
    /// pomelo-admin 1.0.x / pinus-admin: MQTT, topic = message kind.
    Mqtt,
    /// pomelo-admin 0.4.x: socket.io 0.9, event name = message kind.
    Sio09,
}

/// How a message is encoded inside its envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The JSON object itself (register, notifies).
    Once,
    /// A JSON string holding the JSON (requests and responses, as pomelo-admin writes them).
    Twice,
}

/// What arrived on the link.
#[derive(Debug)]
pub enum Incoming {
    /// A message: topic (MQTT) or event name (socket.io) and its JSON, decoded once or twice.
    Message(String, Value),
    /// The answer to our keepalive probe.
    Pong,
    /// Something with no meaning for the monitor.
    Other,
}

/// One admin connection.
pub enum Link {
    /// MQTT packets.
    Mqtt(Box<Connection<Packet>>),
    /// socket.io 0.9 packets.
    Sio(Box<Connection<SioPacket>>),
}

fn master_err(e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Master(e.to_string())
}

impl Link {
    /// Connects to the master and completes the transport handshake (CONNACK / `1::`).
    pub async fn open(
        transport: AdminTransport,
        master: &str,
        limit: Duration,
    ) -> Result<Link, ClusterError> {
        match transport {
            AdminTransport::Mqtt => Self::open_mqtt(master, limit).await,
            AdminTransport::Sio09 => {
                let opts = ConnectOptions { connect_timeout: limit, ..ConnectOptions::default() };
                let conn = client_connect("master", master, &opts).await.map_err(|e| {
                    ClusterError::Master(format!("cannot connect to the master at {master}: {e}"))
                })?;
                Ok(Link::Sio(Box::new(conn)))
            }
        }
    }

    async fn open_mqtt(master: &str, limit: Duration) -> Result<Link, ClusterError> {
        let stream = tcp_connect("master", master, limit)
            .await
            .map_err(|e| ClusterError::Master(format!("cannot connect to the master at {master}: {e}")))?;
        let (frames, sink) = MqttDialect.framed(stream, crate::wire::DEFAULT_MAX_FRAME);
        let mut conn = Connection { frames, sink, idle_timeout: None };
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let connect =
            Packet::Connect { client_id: format!("MQTT_ADMIN_{ms}"), keep_alive: 0, level: 4, flags: 0x02 };
        conn.sink.send(connect).await.map_err(master_err)?;
        let deadline = Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, conn.frames.next()).await {
                Ok(Some(Ok(Packet::ConnAck { code: 0, .. }))) => return Ok(Link::Mqtt(Box::new(conn))),
                Ok(Some(Ok(Packet::ConnAck { code, .. }))) => {
                    return Err(ClusterError::Master(format!(
                        "master refused the MQTT connection (code {code})"
                    )));
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => return Err(master_err(e)),
                Ok(None) => return Err(ClusterError::Master("master closed the connection".into())),
                Err(_) => return Err(ClusterError::Master("no CONNACK from the master".into())),
            }
        }
    }

    /// Sends `args` as message `topic` (MQTT: the first argument is the payload).
    pub async fn send_args(&mut self, topic: &str, args: Vec<Value>) -> Result<(), ClusterError> {
        match self {
            Link::Mqtt(conn) => {
                let first = args.into_iter().next().unwrap_or(Value::Null);
                let payload = json::to_vec(&first);
                conn.sink.send(Packet::publish(topic, payload)).await.map_err(master_err)
            }
            Link::Sio(conn) => {
                let data = json::to_string(&json!({"name": topic, "args": args}));
                let p = SioPacket::Event { id: String::new(), endpoint: String::new(), data };
                conn.sink.send(p).await.map_err(master_err)
            }
        }
    }

    /// Sends one message; `Twice` wraps it in a JSON string like pomelo-admin's requests.
    pub async fn send(&mut self, topic: &str, msg: &Value, enc: Encoding) -> Result<(), ClusterError> {
        let arg = match enc {
            Encoding::Once => msg.clone(),
            Encoding::Twice => Value::String(json::to_string(msg)),
        };
        self.send_args(topic, vec![arg]).await
    }

    /// The next message. Transport keepalive is handled here: a socket.io heartbeat from the
    /// master is answered once (never echoed back in a loop: the master does not answer ours).
    pub async fn next(&mut self) -> Result<Incoming, ClusterError> {
        match self {
            Link::Mqtt(conn) => match conn.frames.next().await {
                None => Err(ClusterError::Master("the master closed the connection".into())),
                Some(Err(e)) => Err(master_err(e)),
                Some(Ok(Packet::PingResp)) => Ok(Incoming::Pong),
                Some(Ok(Packet::Disconnect)) => {
                    Err(ClusterError::Master("the master sent DISCONNECT".into()))
                }
                Some(Ok(Packet::Publish { topic, payload, .. })) => match parse_maybe_twice(&payload) {
                    Ok(v) => Ok(Incoming::Message(topic, v)),
                    Err(e) => {
                        tracing::warn!(topic, "unreadable admin message ignored: {e}");
                        Ok(Incoming::Other)
                    }
                },
                Some(Ok(_)) => Ok(Incoming::Other),
            },
            Link::Sio(conn) => {
                let next = match conn.idle_timeout {
                    Some(limit) => tokio::time::timeout(limit, conn.frames.next())
                        .await
                        .map_err(|_| ClusterError::Master(format!("the master was silent for {limit:?}")))?,
                    None => conn.frames.next().await,
                };
                match next {
                    None => Err(ClusterError::Master("the master closed the connection".into())),
                    Some(Err(e)) => Err(master_err(e)),
                    Some(Ok(SioPacket::Heartbeat)) => {
                        conn.sink.send(SioPacket::Heartbeat).await.map_err(master_err)?;
                        Ok(Incoming::Other)
                    }
                    Some(Ok(SioPacket::Disconnect { .. })) => {
                        Err(ClusterError::Master("the master disconnected us (0::)".into()))
                    }
                    Some(Ok(p @ SioPacket::Event { .. })) => {
                        let SioPacket::Event { data, .. } = &p else { unreachable!() };
                        let ev = json::parse_value(data.as_bytes()).map_err(master_err)?;
                        let name = ev["name"].as_str().unwrap_or("").to_string();
                        let first = ev["args"].get(0).cloned().unwrap_or(Value::Null);
                        Ok(Incoming::Message(name, unwrap_twice(first)))
                    }
                    Some(Ok(other)) => {
                        tracing::debug!("ignoring admin packet {}", sio09::encode(&other));
                        Ok(Incoming::Other)
                    }
                }
            }
        }
    }

    /// Sends the transport's keepalive probe, if the monitor drives one (MQTT only).
    pub async fn ping(&mut self) -> Result<bool, ClusterError> {
        match self {
            Link::Mqtt(conn) => conn.sink.send(Packet::PingReq).await.map(|_| true).map_err(master_err),
            Link::Sio(_) => Ok(false),
        }
    }

    /// Closes the link politely.
    pub async fn close(&mut self) {
        match self {
            Link::Mqtt(conn) => {
                let _ = conn.sink.close().await;
            }
            Link::Sio(conn) => {
                let _ = conn.sink.send(SioPacket::Disconnect { endpoint: String::new() }).await;
                let _ = conn.sink.close().await;
            }
        }
    }
}
