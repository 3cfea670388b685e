//! The `sio09` dialect: socket.io 0.9 (protocol 1), pomelo-rpc 0.4's default `ws` transport.
//!
//! Acceptor (axum): `GET /socket.io/1/` handshake, WebSocket at `/socket.io/1/websocket/<sid>`
//! and xhr-polling at `/socket.io/1/xhr-polling/<sid>`; both transports end in the generic
//! per-connection engine. Mailbox: the HTTP handshake, then a WebSocket (tokio-tungstenite).
//! `2::` is the server's heartbeat: a mailbox answers it, an acceptor only notes it.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{Message as AxMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use axum::routing::get;
use axum::serve::ListenerExt;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rand::Rng;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::engine::{ConnSettings, Heartbeat, serve_connection};
use super::{
    AcceptorOptions, Connect, Connection, Dialect, FrameSink, FrameStream, Inbound, MailboxOptions, PeerInfo,
    RpcHandler, Side, TransportError, Whitelist, tcp_connect,
};
use crate::wire::WireError;
use crate::wire::sio09::{self, Handshake, Packet};

/// socket.io 0.9 acceptor settings; the defaults are socket.io 0.9.16's.
#[derive(Debug, Clone)]
pub struct Sio09Options {
    /// `2::` every `interval`; a client silent for `timeout` is dropped (advertised to clients).
    pub heartbeat: Heartbeat,
    /// Advertised close timeout; also how long a handshake may wait for its transport.
    pub close_timeout: Duration,
    /// How long an xhr-polling GET is held before it is answered with `8::`.
    pub polling_duration: Duration,
    /// Transports advertised in the handshake, in preference order.
    pub transports: Vec<String>,
}

impl Default for Sio09Options {
    fn default() -> Self {
        Sio09Options {
            heartbeat: Heartbeat { interval: Duration::from_secs(25), timeout: Duration::from_secs(60) },
            close_timeout: Duration::from_secs(60),
            polling_duration: Duration::from_secs(20),
            transports: vec!["websocket".into(), "xhr-polling".into()],
        }
    }
}

/// socket.io 0.9 as pomelo-rpc 0.4.11 uses it (event `message`, default namespace).
#[derive(Debug, Clone, Default)]
pub struct Sio09Dialect;

fn ws_err(e: impl std::fmt::Display) -> WireError {
    WireError::Malformed { dialect: "sio09", reason: format!("websocket: {e}") }
}

/// A WebSocket error: a connection that went away is an I/O error, not bad input.
fn tungstenite_err(e: tungstenite::Error) -> WireError {
    use tungstenite::error::ProtocolError;
    match e {
        tungstenite::Error::Io(io) => WireError::Io(io),
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            WireError::Io(std::io::Error::new(std::io::ErrorKind::ConnectionReset, e.to_string()))
        }
        other => ws_err(other),
    }
}

fn axum_ws_err(e: axum::Error) -> WireError {
    match e.into_inner().downcast::<tungstenite::Error>() {
        Ok(t) => tungstenite_err(*t),
        Err(other) => ws_err(other),
    }
}

fn handshake_err(server: &str, reason: impl Into<String>) -> TransportError {
    TransportError::Handshake { server: server.to_string(), reason: reason.into() }
}

fn event(json: &[u8]) -> Packet {
    let payload = String::from_utf8_lossy(json);
    Packet::Event {
        id: String::new(),
        endpoint: String::new(),
        data: format!(r#"{{"name":"message","args":[{payload}]}}"#),
    }
}

impl Dialect for Sio09Dialect {
    type Frame = Packet;
    const NAME: &'static str = "sio09";

    fn classify(&self, frame: Packet, side: Side) -> Inbound {
        match &frame {
            Packet::Event { .. } | Packet::Json { .. } => match sio09::rpc_payload(&frame) {
                Ok(Some(json)) => Inbound::Payload(Bytes::copy_from_slice(json.as_bytes())),
                Ok(None) => Inbound::Ignored(format!("socket.io packet {}", sio09::encode(&frame))),
                Err(e) => Inbound::Invalid(e.to_string()),
            },
            Packet::Heartbeat if side == Side::Client => Inbound::Ping,
            Packet::Heartbeat => Inbound::Pong,
            Packet::Connect { .. } => Inbound::Hello,
            Packet::Disconnect { .. } => Inbound::Bye,
            Packet::Error { reason, advice, .. } => {
                Inbound::Invalid(format!("socket.io error packet (reason {reason}, advice {advice})"))
            }
            Packet::Noop | Packet::Message { .. } | Packet::Ack { .. } => {
                Inbound::Ignored(format!("socket.io packet {}", sio09::encode(&frame)))
            }
        }
    }

    fn payload(&self, json: Bytes, _side: Side) -> Packet {
        event(&json)
    }

    fn ping(&self) -> Option<Packet> {
        Some(Packet::Heartbeat)
    }

    fn pong(&self) -> Option<Packet> {
        Some(Packet::Heartbeat)
    }

    fn goodbye(&self, _side: Side) -> Option<Packet> {
        Some(Packet::Disconnect { endpoint: String::new() })
    }
}

/// socket.io 0.9 connects with an HTTP handshake and a WebSocket upgrade, not a plain stream.
impl Connect for Sio09Dialect {
    async fn connect(
        &self,
        server_id: &str,
        addr: &str,
        opts: &MailboxOptions,
    ) -> Result<Connection<Packet>, TransportError> {
        let limit = opts.connect_timeout;
        match tokio::time::timeout(limit, client_connect(server_id, addr, opts)).await {
            Ok(r) => r,
            Err(_) => Err(handshake_err(server_id, format!("no socket.io connect within {limit:?}"))),
        }
    }
}

/// A socket.io 0.9 client connection: handshake GET, WebSocket upgrade, then `1::`. The RPC
/// mailbox uses it, and so does the pomelo-admin 0.4 link to a pomelo 1.x master.
pub async fn client_connect(
    server_id: &str,
    addr: &str,
    opts: &MailboxOptions,
) -> Result<Connection<Packet>, TransportError> {
    let hs = client_handshake(server_id, addr, opts.connect_timeout).await?;
    if !hs.transports.iter().any(|t| t == "websocket") {
        return Err(handshake_err(
            server_id,
            format!("server offers no websocket transport (only {})", hs.transports.join(",")),
        ));
    }
    let stream = tcp_connect(server_id, addr, opts.connect_timeout).await?;
    let mut req = format!("ws://{addr}/socket.io/1/websocket/{}", hs.sid)
        .into_client_request()
        .map_err(|e| handshake_err(server_id, e.to_string()))?;
    // Node's client sends a scheme-less Origin; do the same so strict servers see what they expect.
    if let Ok(origin) = HeaderValue::from_str(addr) {
        req.headers_mut().insert(header::ORIGIN, origin);
    }
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(opts.max_frame))
        .max_frame_size(Some(opts.max_frame));
    let (ws, _) = tokio_tungstenite::client_async_with_config(req, stream, Some(config))
        .await
        .map_err(|e| handshake_err(server_id, format!("websocket upgrade failed: {e}")))?;
    let (sink, stream) = ws.split();
    let mut frames: FrameStream<Packet> = Box::pin(
        stream
            .take_while(|m| std::future::ready(!matches!(m, Ok(tungstenite::Message::Close(_)))))
            .filter_map(|m| {
                std::future::ready(match m {
                    Ok(tungstenite::Message::Text(t)) => Some(sio09::parse(t.as_str())),
                    Ok(tungstenite::Message::Binary(_)) => Some(Err(ws_err("unexpected binary frame"))),
                    Ok(_) => None,
                    Err(e) => Some(Err(tungstenite_err(e))),
                })
            }),
    );
    let sink: FrameSink<Packet> = Box::pin(sink.sink_map_err(tungstenite_err).with(|p: Packet| {
        std::future::ready(Ok::<_, WireError>(tungstenite::Message::Text(sio09::encode(&p).into())))
    }));
    // Requests queue in the caller until the server says `1::`.
    loop {
        match frames.next().await {
            Some(Ok(Packet::Connect { .. })) => break,
            Some(Ok(Packet::Disconnect { .. })) => {
                return Err(handshake_err(server_id, "server disconnected before connect (whitelist?)"));
            }
            Some(Ok(Packet::Error { reason, advice, .. })) => {
                return Err(handshake_err(server_id, format!("server error {reason}+{advice}")));
            }
            Some(Ok(other)) => tracing::debug!(server = server_id, "before connect: {other:?}"),
            Some(Err(e)) => return Err(handshake_err(server_id, e.to_string())),
            None => return Err(handshake_err(server_id, "connection closed before connect")),
        }
    }
    let idle_timeout = hs.heartbeat_timeout.filter(|s| *s > 0).map(Duration::from_secs);
    Ok(Connection { frames, sink, idle_timeout })
}

async fn client_handshake(server_id: &str, addr: &str, limit: Duration) -> Result<Handshake, TransportError> {
    let stream = tcp_connect(server_id, addr, limit).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| handshake_err(server_id, e.to_string()))?;
    tokio::spawn(conn);
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let req = hyper::Request::get(format!("/socket.io/1/?t={ms}"))
        .header(header::HOST, addr)
        .body(Empty::<Bytes>::new())
        .map_err(|e| handshake_err(server_id, e.to_string()))?;
    let resp = sender.send_request(req).await.map_err(|e| handshake_err(server_id, e.to_string()))?;
    let status = resp.status();
    let body = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
        .collect()
        .await
        .map_err(|e| handshake_err(server_id, e.to_string()))?
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    if status != StatusCode::OK {
        return Err(handshake_err(server_id, format!("handshake answered {status}: {text}")));
    }
    sio09::parse_handshake(text.trim()).map_err(|e| handshake_err(server_id, e.to_string()))
}

// ------------------------------------------------------------------------------------------
// Acceptor

struct PollSession {
    out: Mutex<VecDeque<String>>,
    ready: Notify,
    incoming: mpsc::Sender<Result<Packet, WireError>>,
    closed: CancellationToken,
}

enum Session {
    /// Handshake done, transport not opened yet.
    Handshaken(Instant),
    /// An xhr-polling connection.
    Polling(Arc<PollSession>),
}

struct Shared {
    opts: AcceptorOptions,
    handler: Arc<dyn RpcHandler>,
    whitelist: Whitelist,
    shutdown: CancellationToken,
    sessions: Mutex<HashMap<String, Session>>,
    conns: AtomicU64,
    slots: Arc<Semaphore>,
    tasks: TaskTracker,
}

impl Shared {
    fn settings(&self) -> ConnSettings {
        ConnSettings::new(&self.opts, Some(self.opts.sio09.heartbeat))
    }

    fn peer(&self, addr: SocketAddr) -> PeerInfo {
        PeerInfo { addr, conn: self.conns.fetch_add(1, Ordering::Relaxed) + 1 }
    }

    fn take_handshaken(&self, sid: &str) -> bool {
        let mut sessions = self.sessions.lock().expect("sessions lock");
        match sessions.get(sid) {
            Some(Session::Handshaken(_)) => {
                sessions.remove(sid);
                true
            }
            _ => false,
        }
    }
}

/// Serves socket.io 0.9 on `listener` until `shutdown`, then closes every connection.
pub(crate) async fn serve(
    listener: TcpListener,
    opts: AcceptorOptions,
    handler: Arc<dyn RpcHandler>,
    shutdown: CancellationToken,
    whitelist: Whitelist,
) {
    let max_frame = opts.max_frame;
    let shared = Arc::new(Shared {
        slots: Arc::new(Semaphore::new(opts.max_connections.max(1))),
        opts,
        handler,
        whitelist,
        shutdown: shutdown.clone(),
        sessions: Mutex::new(HashMap::new()),
        conns: AtomicU64::new(0),
        tasks: TaskTracker::new(),
    });
    shared.tasks.spawn(reap_handshakes(shared.clone()));
    let app = Router::new()
        .route("/socket.io/1/", get(handshake))
        .route("/socket.io/1", get(handshake))
        .route("/socket.io/1/websocket/{sid}", get(websocket))
        .route("/socket.io/1/xhr-polling/{sid}", get(poll).post(post))
        .fallback(|| async {
            (StatusCode::NOT_FOUND, "pomelo-interop: socket.io 0.9 lives at /socket.io/1/")
        })
        .layer(DefaultBodyLimit::max(max_frame.saturating_add(64 * 1024)))
        .with_state(shared.clone());
    let listener = listener.tap_io(|tcp| super::tune(tcp));
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    if let Err(e) = server.await {
        tracing::error!("socket.io acceptor stopped: {e}");
    }
    shared.tasks.close();
    shared.tasks.wait().await;
}

async fn reap_handshakes(shared: Arc<Shared>) {
    let every = shared.opts.sio09.close_timeout.min(Duration::from_secs(10)).max(Duration::from_millis(100));
    let mut t = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = t.tick() => {}
        }
        let limit = shared.opts.sio09.close_timeout;
        shared.sessions.lock().expect("sessions lock").retain(|_, s| match s {
            Session::Handshaken(at) => at.elapsed() < limit,
            Session::Polling(p) => !p.closed.is_cancelled(),
        });
    }
}

fn text_response(headers: &HeaderMap, status: StatusCode, body: String) -> Response<Body> {
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

async fn handshake(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response<Body> {
    if shared.slots.available_permits() == 0 {
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
    shared.sessions.lock().expect("sessions lock").insert(sid, Session::Handshaken(Instant::now()));
    text_response(&headers, StatusCode::OK, body)
}

async fn websocket(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response<Body> {
    let offered = shared.opts.sio09.transports.iter().any(|t| t == "websocket");
    let known = offered && shared.take_handshaken(&sid);
    let max = shared.opts.max_frame;
    let ws = ws.max_message_size(max).max_frame_size(max);
    let tasks = shared.tasks.clone();
    ws.on_upgrade(move |socket| {
        tasks.track_future(async move {
            if !offered {
                // "transport not supported": this acceptor does not advertise websocket.
                reject(
                    socket,
                    Packet::Error { endpoint: String::new(), reason: "0".into(), advice: "0".into() },
                )
                .await;
                return;
            }
            if !known {
                // "client not handshaken", advice "reconnect", as socket.io 0.9 does.
                reject(
                    socket,
                    Packet::Error { endpoint: String::new(), reason: "1".into(), advice: "0".into() },
                )
                .await;
                return;
            }
            if !shared.whitelist.allows(addr.ip()) {
                tracing::warn!(peer = %addr, "refused by the whitelist");
                reject(socket, Packet::Disconnect { endpoint: String::new() }).await;
                return;
            }
            let Ok(slot) = shared.slots.clone().try_acquire_owned() else {
                reject(socket, Packet::Disconnect { endpoint: String::new() }).await;
                return;
            };
            let (mut sink, stream) = ws_frames(socket);
            if sink.send(Packet::Connect { endpoint: String::new(), query: String::new() }).await.is_err() {
                return;
            }
            let conn = Connection { frames: stream, sink, idle_timeout: None };
            let peer = shared.peer(addr);
            tracing::debug!(peer = %addr, conn = peer.conn, "socket.io websocket connected");
            serve_connection(
                Sio09Dialect,
                conn,
                peer,
                shared.handler.clone(),
                shared.settings(),
                shared.shutdown.clone(),
            )
            .await;
            drop(slot);
        })
    })
}

fn ws_frames(socket: WebSocket) -> (FrameSink<Packet>, FrameStream<Packet>) {
    let (sink, stream) = socket.split();
    let frames: FrameStream<Packet> = Box::pin(
        stream.take_while(|m| std::future::ready(!matches!(m, Ok(AxMessage::Close(_))))).filter_map(|m| {
            std::future::ready(match m {
                Ok(AxMessage::Text(t)) => Some(sio09::parse(t.as_str())),
                Ok(AxMessage::Binary(_)) => Some(Err(ws_err("unexpected binary frame"))),
                Ok(_) => None,
                Err(e) => Some(Err(axum_ws_err(e))),
            })
        }),
    );
    let sink: FrameSink<Packet> =
        Box::pin(sink.sink_map_err(axum_ws_err).with(|p: Packet| {
            std::future::ready(Ok::<_, WireError>(AxMessage::Text(sio09::encode(&p).into())))
        }));
    (sink, frames)
}

async fn reject(socket: WebSocket, packet: Packet) {
    let (mut sink, _) = ws_frames(socket);
    let _ = sink.send(packet).await;
    let _ = sink.close().await;
}

/// Opens the polling connection of a fresh handshake: the engine reads from `incoming` and
/// writes into the queue that GETs drain.
fn open_polling(shared: &Arc<Shared>, sid: &str, addr: SocketAddr) -> Option<Arc<PollSession>> {
    let (tx, mut rx) = mpsc::channel::<Result<Packet, WireError>>(1024);
    let session = Arc::new(PollSession {
        out: Mutex::new(VecDeque::from([sio09::encode(&Packet::Connect {
            endpoint: String::new(),
            query: String::new(),
        })])),
        ready: Notify::new(),
        incoming: tx,
        closed: CancellationToken::new(),
    });
    let slot = shared.slots.clone().try_acquire_owned().ok()?;
    let frames: FrameStream<Packet> = Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let writer = session.clone();
    let sink: FrameSink<Packet> = Box::pin(futures::sink::unfold((), move |(), p: Packet| {
        let writer = writer.clone();
        async move {
            writer.out.lock().expect("poll queue").push_back(sio09::encode(&p));
            writer.ready.notify_one();
            Ok::<_, WireError>(())
        }
    }));
    let conn = Connection { frames, sink, idle_timeout: None };
    let peer = shared.peer(addr);
    tracing::debug!(peer = %addr, conn = peer.conn, "socket.io xhr-polling connected");
    let (handler, settings, stop) = (shared.handler.clone(), shared.settings(), shared.shutdown.clone());
    let done = session.clone();
    shared.tasks.spawn(async move {
        serve_connection(Sio09Dialect, conn, peer, handler, settings, stop).await;
        done.closed.cancel();
        done.ready.notify_one();
        drop(slot);
    });
    shared.sessions.lock().expect("sessions lock").insert(sid.to_string(), Session::Polling(session.clone()));
    Some(session)
}

async fn poll(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response<Body> {
    let existing = match shared.sessions.lock().expect("sessions lock").get(&sid) {
        Some(Session::Polling(p)) => Some(p.clone()),
        Some(Session::Handshaken(_)) => None,
        None => return text_response(&headers, StatusCode::OK, "7:::1+0".into()),
    };
    let session = match existing {
        Some(s) => s,
        None => {
            shared.take_handshaken(&sid);
            if !shared.whitelist.allows(addr.ip()) {
                tracing::warn!(peer = %addr, "refused by the whitelist");
                return text_response(&headers, StatusCode::OK, "0::".into());
            }
            match open_polling(&shared, &sid, addr) {
                Some(s) => s,
                None => return text_response(&headers, StatusCode::OK, "0::".into()),
            }
        }
    };
    let deadline = Instant::now() + shared.opts.sio09.polling_duration;
    loop {
        let drained: Vec<String> = session.out.lock().expect("poll queue").drain(..).collect();
        if !drained.is_empty() {
            return text_response(&headers, StatusCode::OK, sio09::encode_payload(&drained));
        }
        if session.closed.is_cancelled() {
            shared.sessions.lock().expect("sessions lock").remove(&sid);
            return text_response(&headers, StatusCode::OK, "0::".into());
        }
        tokio::select! {
            _ = session.ready.notified() => {}
            _ = tokio::time::sleep_until(deadline) => {
                return text_response(&headers, StatusCode::OK, "8::".into());
            }
            _ = shared.shutdown.cancelled() => {
                return text_response(&headers, StatusCode::OK, "0::".into());
            }
        }
    }
}

async fn post(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response<Body> {
    let session = match shared.sessions.lock().expect("sessions lock").get(&sid) {
        Some(Session::Polling(p)) => p.clone(),
        _ => return text_response(&headers, StatusCode::OK, "7:::1+0".into()),
    };
    let packets = match sio09::decode_payload(&body) {
        Ok(p) => p,
        Err(e) => {
            let _ = session.incoming.send(Err(e)).await;
            return text_response(&headers, StatusCode::OK, "1".into());
        }
    };
    for text in packets {
        if session.incoming.send(sio09::parse(&text)).await.is_err() {
            break;
        }
    }
    text_response(&headers, StatusCode::OK, "1".into())
}
