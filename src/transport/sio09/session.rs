//! The socket.io 0.9 acceptor's shared state: the session table (handshaken sids, polling
//! sessions), what drives a connection once its transport is up, and the plain-text answers.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Sio09Dialect;
use crate::transport::PeerInfo;
use crate::transport::accept::Admission;
use crate::transport::dialect::Connection;
use crate::transport::link::{self, LinkOptions};
use crate::transport::serve_options::{EndpointFactory, ServeOptions, link_options};
use crate::wire::WireError;
use crate::wire::sio09::Packet;

/// One polling session: what waits for the next GET, and the driver's input.
pub(super) struct PollSession {
    pub out: Mutex<VecDeque<String>>,
    pub ready: Notify,
    pub incoming: mpsc::Sender<Result<Packet, WireError>>,
    pub closed: CancellationToken,
}

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
