//! The socket.io 0.9 acceptor: axum on the shared admission listener, the handshake, the
//! WebSocket transport, and the session table that xhr-polling ([`super::polling`]) shares.
//!
//! The WebSocket upgrade is answered here rather than by axum's extractor ([`super::upgrade`]),
//! so that the client's bytes can be read through [`TextAsBinary`] before tungstenite sees them:
//! text frames whose bytes are not UTF-8 are read as socket.io 0.9 reads them, with U+FFFD.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, Response, StatusCode, header};
use axum::routing::get;
use futures::SinkExt;
use hyper_util::rt::TokioIo;
use rand::Rng;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::task::TaskTracker;

use super::polling;
use super::session::{Session, Shared, text_response};
use super::text_frames::TextAsBinary;
use super::upgrade::upgrade_of;
use super::ws;
use crate::transport::PeerInfo;
use crate::transport::accept::{Admission, AxumListener};
use crate::transport::dialect::Connection;
use crate::transport::serve_options::{EndpointFactory, ServeOptions};
use crate::wire::sio09::{self, Handshake, Packet};

/// Serves socket.io 0.9 until the admission's shutdown, then waits for every connection.
pub(crate) async fn serve<F: EndpointFactory>(
    admission: Arc<Admission>,
    opts: ServeOptions,
    factory: Arc<F>,
) {
    let max_frame = opts.max_frame;
    let shutdown = admission.shutdown().clone();
    let shared = Arc::new(Shared {
        max_sessions: admission.max_connections(),
        opts,
        factory,
        admission: admission.clone(),
        sessions: Mutex::new(HashMap::new()),
        tasks: TaskTracker::new(),
    });
    shared.tasks.spawn(reap_handshakes(shared.clone()));
    let app = Router::new()
        .route("/socket.io/1/", get(handshake::<F>))
        .route("/socket.io/1", get(handshake::<F>))
        .route("/socket.io/1/websocket/{sid}", get(websocket::<F>))
        .route("/socket.io/1/xhr-polling/{sid}", get(polling::poll::<F>).post(polling::post::<F>))
        .fallback(|| async {
            (StatusCode::NOT_FOUND, "pomelo-interop: socket.io 0.9 lives at /socket.io/1/")
        })
        .layer(DefaultBodyLimit::max(max_frame.saturating_add(64 * 1024)))
        .with_state(shared.clone());
    let server = axum::serve(AxumListener(admission), app.into_make_service_with_connect_info::<PeerInfo>())
        .with_graceful_shutdown(shutdown.cancelled_owned());
    if let Err(e) = server.await {
        tracing::error!("socket.io acceptor stopped: {e}");
    }
    shared.tasks.close();
    shared.tasks.wait().await;
}

async fn reap_handshakes<F>(shared: Arc<Shared<F>>) {
    let limit = shared.opts.sio09.close_timeout;
    let every = limit.min(Duration::from_secs(10)).max(Duration::from_millis(100));
    let mut t = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shared.admission.shutdown().cancelled() => return,
            _ = t.tick() => {}
        }
        shared.sessions.lock().expect("sessions lock").retain(|_, s| match s {
            Session::Handshaken(at) => at.elapsed() < limit,
            Session::Polling(p) => !p.closed.is_cancelled(),
        });
    }
}

fn new_sid() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..20).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

async fn handshake<F: EndpointFactory>(
    State(shared): State<Arc<Shared<F>>>,
    headers: HeaderMap,
) -> Response<Body> {
    let mut sessions = shared.sessions.lock().expect("sessions lock");
    if sessions.len() >= shared.max_sessions {
        tracing::warn!("socket.io handshake refused: {} sessions open (the limit)", sessions.len());
        return text_response(&headers, StatusCode::SERVICE_UNAVAILABLE, "handshake error".into());
    }
    let sid = new_sid();
    let o = &shared.opts.sio09;
    let body = sio09::encode_handshake(&Handshake {
        sid: sid.clone(),
        heartbeat_timeout: Some(o.heartbeat.timeout.as_secs().max(1)),
        close_timeout: Some(o.close_timeout.as_secs().max(1)),
        transports: o.transports.clone(),
    });
    sessions.insert(sid, Session::Handshaken(Instant::now()));
    text_response(&headers, StatusCode::OK, body)
}

async fn websocket<F: EndpointFactory>(
    State(shared): State<Arc<Shared<F>>>,
    Path(sid): Path<String>,
    ConnectInfo(peer): ConnectInfo<PeerInfo>,
    mut req: Request,
) -> Response<Body> {
    let (key, on_upgrade) = match upgrade_of(&mut req) {
        Ok(upgrade) => upgrade,
        Err((status, why)) => {
            return Response::builder().status(status).body(Body::from(why)).expect("static response parts");
        }
    };
    let offered = shared.opts.sio09.transports.iter().any(|t| t == "websocket");
    let known = offered && shared.take_handshaken(&sid);
    let max = shared.opts.max_frame;
    let config = WebSocketConfig::default().max_message_size(Some(max)).max_frame_size(Some(max));
    let tasks = shared.tasks.clone();
    tokio::spawn(tasks.track_future(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!(peer = %peer.addr, "socket.io websocket upgrade failed: {e}");
                return;
            }
        };
        let io = TextAsBinary::new(TokioIo::new(upgraded));
        let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        let refusal = if !offered {
            // "transport not supported": this acceptor does not advertise websocket.
            Some(Packet::Error { endpoint: String::new(), reason: "0".into(), advice: "0".into() })
        } else if !known {
            // "client not handshaken", advice "reconnect", as socket.io 0.9 does.
            Some(Packet::Error { endpoint: String::new(), reason: "1".into(), advice: "0".into() })
        } else if !shared.admission.whitelist().allows(peer.addr.ip()) {
            tracing::warn!(peer = %peer.addr, "refused by the whitelist");
            Some(Packet::Disconnect { endpoint: String::new() })
        } else {
            None
        };
        if let Some(packet) = refusal {
            reject(socket, packet).await;
            return;
        }
        let (frames, mut sink) = ws::packets(socket);
        if sink.send(Packet::Connect { endpoint: String::new(), query: String::new() }).await.is_err() {
            return;
        }
        tracing::debug!(peer = %peer.addr, conn = peer.conn, "socket.io websocket connected");
        shared.run(Connection { frames, sink, idle_timeout: None }, peer).await;
    }));
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, derive_accept_key(key.as_bytes()))
        .body(Body::empty())
        .expect("static response parts")
}

async fn reject<S>(socket: WebSocketStream<S>, packet: Packet)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (_, mut sink) = ws::packets(socket);
    let _ = sink.send(packet).await;
    let _ = sink.close().await;
}
