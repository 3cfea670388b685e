//! socket.io 0.9 xhr-polling: a session whose frames arrive in POST bodies and leave in the
//! answers to long-polling GETs, driven by the same connection driver as a WebSocket.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Response, StatusCode};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::session::{PollSession, Session, Shared, text_response};
use crate::transport::PeerInfo;
use crate::transport::dialect::{Connection, FrameSink, FrameStream};
use crate::transport::serve_options::EndpointFactory;
use crate::wire::WireError;
use crate::wire::json::lossy_utf8;
use crate::wire::sio09::{self, Packet};

/// Packets a polling client may have posted and we have not read yet.
const INCOMING_QUEUE: usize = 1024;

/// Opens the polling connection of a fresh handshake: the driver reads from `incoming` and
/// writes into the queue that GETs drain.
fn open<F: EndpointFactory>(shared: &Arc<Shared<F>>, sid: &str, peer: PeerInfo) -> Arc<PollSession> {
    let (tx, mut rx) = mpsc::channel::<Result<Packet, WireError>>(INCOMING_QUEUE);
    let connect = sio09::encode(&Packet::Connect { endpoint: String::new(), query: String::new() });
    let session = Arc::new(PollSession {
        out: Mutex::new(VecDeque::from([connect])),
        ready: Notify::new(),
        incoming: tx,
        closed: CancellationToken::new(),
    });
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
    tracing::debug!(peer = %peer.addr, conn = peer.conn, "socket.io xhr-polling connected");
    let done = session.clone();
    let runner = shared.clone();
    shared.tasks.spawn(async move {
        runner.run(Connection { frames, sink, idle_timeout: None }, peer).await;
        done.closed.cancel();
        done.ready.notify_one();
    });
    shared.sessions.lock().expect("sessions lock").insert(sid.to_string(), Session::Polling(session.clone()));
    session
}

/// `GET /socket.io/1/xhr-polling/<sid>`: opens the session on first use, then long-polls.
pub(super) async fn poll<F: EndpointFactory>(
    State(shared): State<Arc<Shared<F>>>,
    Path(sid): Path<String>,
    ConnectInfo(peer): ConnectInfo<PeerInfo>,
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
            let offered = shared.opts.sio09.transports.iter().any(|t| t == "xhr-polling");
            if !offered {
                return text_response(&headers, StatusCode::OK, "7:::0+0".into());
            }
            if !shared.admission.whitelist().allows(peer.addr.ip()) {
                tracing::warn!(peer = %peer.addr, "refused by the whitelist");
                return text_response(&headers, StatusCode::OK, "0::".into());
            }
            open(&shared, &sid, peer)
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
            _ = shared.admission.shutdown().cancelled() => {
                return text_response(&headers, StatusCode::OK, "0::".into());
            }
        }
    }
}

/// `POST /socket.io/1/xhr-polling/<sid>`: the body's packets go to the session's driver. The
/// body is read as Node reads it (`setEncoding('utf8')`: invalid UTF-8 as U+FFFD).
pub(super) async fn post<F: EndpointFactory>(
    State(shared): State<Arc<Shared<F>>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let session = match shared.sessions.lock().expect("sessions lock").get(&sid) {
        Some(Session::Polling(p)) => p.clone(),
        _ => return text_response(&headers, StatusCode::OK, "7:::1+0".into()),
    };
    let body = lossy_utf8(body);
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
