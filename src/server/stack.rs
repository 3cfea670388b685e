//! Dispatch wrapped in tower layers (filters, concurrency limits, load shedding, reply
//! rewriting): the server-side twin of the client's call stack.

use std::sync::Arc;

use super::remotes::Dispatcher;
use super::reply::RemoteError;
use super::{ReplyFuture, RpcHandler};
use crate::message::{Resp, RpcMsg};
use crate::transport::PeerInfo;

/// One incoming call as it travels through the server's tower stack.
#[derive(Debug, Clone)]
pub struct ServerCall {
    /// The request message; layers may rewrite it.
    pub msg: RpcMsg,
    /// The connection it came on.
    pub peer: PeerInfo,
}

/// The boxed dispatch service every server layer wraps.
pub type DispatchService = tower::util::BoxCloneSyncService<ServerCall, Resp, RemoteError>;

impl tower::Service<ServerCall> for Arc<Dispatcher> {
    type Response = Resp;
    type Error = RemoteError;
    type Future = futures::future::BoxFuture<'static, Result<Resp, RemoteError>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), RemoteError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: ServerCall) -> Self::Future {
        let fut = self.handle(call.msg, &call.peer);
        Box::pin(async move { Ok(fut.await) })
    }
}

/// Dispatch wrapped in tower layers. A layer's error becomes the reply's error object.
#[derive(Clone)]
pub struct ServerStack {
    service: DispatchService,
}

impl ServerStack {
    /// The bare dispatcher.
    pub fn new(dispatcher: Arc<Dispatcher>) -> Self {
        ServerStack { service: tower::util::BoxCloneSyncService::new(dispatcher) }
    }

    /// Adds a layer; the last one added is the outermost.
    pub fn layer<L>(self, layer: L) -> Self
    where
        L: tower::Layer<DispatchService>,
        L::Service: tower::Service<ServerCall, Response = Resp> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<ServerCall>>::Error: Into<tower::BoxError>,
        <L::Service as tower::Service<ServerCall>>::Future: Send + 'static,
    {
        use tower::ServiceExt;
        let svc = layer.layer(self.service).map_err(|e| {
            let e: tower::BoxError = e.into();
            match e.downcast::<RemoteError>() {
                Ok(r) => *r,
                Err(e) if e.is::<tower::load_shed::error::Overloaded>() => {
                    RemoteError::new("server too busy")
                }
                Err(e) => RemoteError::new(e.to_string()),
            }
        });
        ServerStack { service: tower::util::BoxCloneSyncService::new(svc) }
    }

    /// The handler an acceptor serves.
    pub fn into_handler(self) -> Arc<dyn RpcHandler> {
        Arc::new(self)
    }
}

impl RpcHandler for ServerStack {
    fn handle(&self, msg: RpcMsg, peer: &PeerInfo) -> ReplyFuture {
        use tower::ServiceExt;
        let at = msg.at();
        let call = ServerCall { msg, peer: peer.clone() };
        let svc = self.service.clone();
        Box::pin(async move {
            match svc.oneshot(call).await {
                Ok(resp) => resp,
                Err(e) => e.to_resp(&at),
            }
        })
    }
}
