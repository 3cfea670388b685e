//! The socket.io 0.9 acceptor: axum on the shared admission listener, the handshake, the
//! WebSocket transport, and the session table that xhr-polling ([`super::polling`]) shares.
//!
//! The WebSocket upgrade is answered here rather than by axum's extractor, so that the client's
//! bytes can be read through [`TextAsBinary`] before tungstenite sees them: text frames whose
//! bytes are not UTF-8 are read as socket.io 0.9 reads them, with U+FFFD (see `text_frames`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use axum::routing::get;
use futures::SinkExt;
use hyper_util::rt::TokioIo;
use rand::Rng;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::task::TaskTracker;

use super::polling::{self, PollSession};
use super::text_frames::TextAsBinary;
use super::{Sio09Dialect, ws};
use crate::transport::PeerInfo;
use crate::transport::accept::{Admission, AxumListener};
use crate::transport::dialect::Connection;
use crate::transport::link::{self, LinkOptions};
use crate::transport::serve::{EndpointFactory, ServeOptions, link_options};
use crate::wire::sio09::{self, Handshake, Packet};

pub(super) enum Session {
    /// Handshake done, transport not opened yet.
    Handshaken(Instant),
    /// An xhr-polling connection.
    Polling(Arc<PollSession>),
}

pub(super) struct Shared<F> {
    pub opts: ServeOptions,
    pub factory: Arc<F>,
    pub admission: Arc<Admission>,
    pub sessions: Mutex<HashMap<String, Session>>,
    /// Handshaken and polling sessions at most (the admission's connection cap).
    pub max_sessions: usize,
    pub tasks: TaskTracker,
}

impl<F: EndpointFactory> Shared<F> {
    /// Link options of a socket.io connection: the server heartbeat on top of the template.
    pub fn link(&self, peer: &PeerInfo) -> LinkOptions {
        let mut link = link_options(&self.opts, peer);
        link.heartbeat = Some(self.opts.sio09.heartbeat);
        link
    }

    pub fn take_handshaken(&self, sid: &str) -> bool {
        let mut sessions = self.sessions.lock().expect("sessions lock");
        match sessions.get(sid) {
            Some(Session::Handshaken(_)) => {
                sessions.remove(sid);
                true
            }
            _ => false,
        }
    }

    /// Drives one socket.io connection to its end.
    pub async fn run(&self, conn: Connection<Packet>, peer: PeerInfo) {
        let endpoint = self.factory.make(&peer);
        let link = self.link(&peer);
        link::run(Sio09Dialect, conn, endpoint, link, Some(self.admission.shutdown().clone())).await;
    }
}

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

/// A plain-text answer with socket.io 0.9's CORS headers when the request had an Origin.
pub(super) fn text_response(headers: &HeaderMap, status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=UTF-8")
        .body(Body::from(body))
        .expect("static response parts");
    if let Some(origin) = headers.get(header::ORIGIN) {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
    resp
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

/// Whether a header holds `value` among its comma-separated tokens (any case).
fn header_has(headers: &HeaderMap, name: header::HeaderName, value: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(value))))
}

/// A WebSocket upgrade request (RFC 6455 §4.2.1, HTTP/1.1): its key and the pending upgrade;
/// otherwise the status and text that refuse it.
fn upgrade_of(
    req: &mut Request,
) -> Result<(HeaderValue, hyper::upgrade::OnUpgrade), (StatusCode, &'static str)> {
    let h = req.headers();
    if req.method() != Method::GET
        || !header_has(h, header::CONNECTION, "upgrade")
        || !header_has(h, header::UPGRADE, "websocket")
    {
        return Err((StatusCode::BAD_REQUEST, "expected a WebSocket upgrade"));
    }
    if !header_has(h, header::SEC_WEBSOCKET_VERSION, "13") {
        return Err((StatusCode::UPGRADE_REQUIRED, "Sec-WebSocket-Version must be 13"));
    }
    let key = h
        .get(header::SEC_WEBSOCKET_KEY)
        .cloned()
        .ok_or((StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing"))?;
    let on_upgrade = req
        .extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or((StatusCode::UPGRADE_REQUIRED, "connection cannot be upgraded"))?;
    Ok((key, on_upgrade))
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
