//! socket.io 0.9 client connections: the handshake GET, the WebSocket upgrade, then `1::`. The
//! RPC mailbox uses it, and so does the pomelo-admin 0.4 link to a pomelo 1.x master.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use super::Sio09Dialect;
use crate::transport::TransportError;
use crate::transport::connect::{Connect, ConnectOptions, tcp_connect};
use crate::transport::dialect::Connection;
use crate::wire::sio09::{self, Handshake, Packet};

fn handshake_err(server: &str, reason: impl Into<String>) -> TransportError {
    TransportError::Handshake { server: server.to_string(), reason: reason.into() }
}

/// socket.io 0.9 connects with an HTTP handshake and a WebSocket upgrade, not a plain stream.
impl Connect for Sio09Dialect {
    async fn connect(
        &self,
        server: &str,
        addr: &str,
        opts: &ConnectOptions,
    ) -> Result<Connection<Packet>, TransportError> {
        let limit = opts.connect_timeout;
        match tokio::time::timeout(limit, client_connect(server, addr, opts)).await {
            Ok(r) => r,
            Err(_) => Err(handshake_err(server, format!("no socket.io connect within {limit:?}"))),
        }
    }
}

/// Connects to a socket.io 0.9 server at `addr` and waits for its `1::`; calls queue in the
/// caller until then.
pub async fn client_connect(
    server: &str,
    addr: &str,
    opts: &ConnectOptions,
) -> Result<Connection<Packet>, TransportError> {
    let hs = handshake(server, addr, opts.connect_timeout).await?;
    if !hs.transports.iter().any(|t| t == "websocket") {
        return Err(handshake_err(
            server,
            format!("server offers no websocket transport (only {})", hs.transports.join(",")),
        ));
    }
    let stream = tcp_connect(server, addr, opts.connect_timeout).await?;
    let mut req = format!("ws://{addr}/socket.io/1/websocket/{}", hs.sid)
        .into_client_request()
        .map_err(|e| handshake_err(server, e.to_string()))?;
    // Node's client sends a scheme-less Origin; do the same so strict servers see what they expect.
    if let Ok(origin) = HeaderValue::from_str(addr) {
        req.headers_mut().insert(header::ORIGIN, origin);
    }
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(opts.max_frame))
        .max_frame_size(Some(opts.max_frame));
    let (ws, _) = tokio_tungstenite::client_async_with_config(req, stream, Some(config))
        .await
        .map_err(|e| handshake_err(server, format!("websocket upgrade failed: {e}")))?;
    let (mut frames, sink) = super::ws::packets(ws);
    loop {
        match frames.next().await {
            Some(Ok(Packet::Connect { .. })) => break,
            Some(Ok(Packet::Disconnect { .. })) => {
                return Err(handshake_err(server, "server disconnected before connect (whitelist?)"));
            }
            Some(Ok(Packet::Error { reason, advice, .. })) => {
                return Err(handshake_err(server, format!("server error {reason}+{advice}")));
            }
            Some(Ok(other)) => tracing::debug!(server, "before connect: {other:?}"),
            Some(Err(e)) => return Err(handshake_err(server, e.to_string())),
            None => return Err(handshake_err(server, "connection closed before connect")),
        }
    }
    let idle_timeout = hs.heartbeat_timeout.filter(|s| *s > 0).map(Duration::from_secs);
    Ok(Connection { frames, sink, idle_timeout })
}

async fn handshake(server: &str, addr: &str, limit: Duration) -> Result<Handshake, TransportError> {
    let stream = tcp_connect(server, addr, limit).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| handshake_err(server, e.to_string()))?;
    tokio::spawn(conn);
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let req = hyper::Request::get(format!("/socket.io/1/?t={ms}"))
        .header(header::HOST, addr)
        .body(Empty::<Bytes>::new())
        .map_err(|e| handshake_err(server, e.to_string()))?;
    let resp = sender.send_request(req).await.map_err(|e| handshake_err(server, e.to_string()))?;
    let status = resp.status();
    let body = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
        .collect()
        .await
        .map_err(|e| handshake_err(server, e.to_string()))?
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    if status != StatusCode::OK {
        return Err(handshake_err(server, format!("handshake answered {status}: {text}")));
    }
    sio09::parse_handshake(text.trim()).map_err(|e| handshake_err(server, e.to_string()))
}
