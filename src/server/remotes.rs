//! The service table (namespace → service → method → handler) and the [`Dispatcher`] that
//! routes a request through it, answering with pomelo's own texts when a route does not exist.

use rustc_hash::FxHashMap as HashMap;
use std::future::Future;
use std::sync::Arc;

use super::handler::{BoxHandler, CallContext, Handler};
use super::reply::{IntoReply, RemoteError, Reply};
use super::{ReplyFuture, RpcHandler, ServerError};
use crate::message::{Args, RpcMsg};
use crate::transport::PeerInfo;

/// The service table being built.
#[derive(Default, Clone)]
pub struct Remotes {
    table: HashMap<String, HashMap<String, HashMap<String, BoxHandler>>>,
    duplicates: Vec<String>,
}

impl Remotes {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts registering methods of `namespace.service`.
    pub fn service(&mut self, namespace: &str, service: &str) -> ServiceBuilder<'_> {
        ServiceBuilder { remotes: self, namespace: namespace.into(), service: service.into() }
    }

    fn insert(&mut self, ns: &str, svc: &str, method: &str, h: BoxHandler) {
        let methods = self.table.entry(ns.into()).or_default().entry(svc.into()).or_default();
        if methods.contains_key(method) {
            self.duplicates.push(format!("{ns}.{svc}.{method}"));
        } else {
            methods.insert(method.into(), h);
        }
    }

    /// Whether `namespace.service.method` is registered.
    pub fn contains(&self, ns: &str, svc: &str, method: &str) -> bool {
        self.table.get(ns).and_then(|s| s.get(svc)).is_some_and(|m| m.contains_key(method))
    }

    /// Every registered route as `namespace.service.method`, sorted.
    pub fn routes(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .table
            .iter()
            .flat_map(|(ns, svcs)| {
                svcs.iter().flat_map(move |(svc, ms)| ms.keys().map(move |m| format!("{ns}.{svc}.{m}")))
            })
            .collect();
        out.sort();
        out
    }

    /// Freezes the table into a dispatcher an acceptor can serve; a method registered twice is
    /// an error (never a silent overwrite).
    pub fn into_dispatcher(self) -> Result<Arc<Dispatcher>, ServerError> {
        if let Some(route) = self.duplicates.into_iter().next() {
            return Err(ServerError::Duplicate(route));
        }
        Ok(Arc::new(Dispatcher { table: self.table }))
    }
}

/// Registers methods of one service; chainable.
pub struct ServiceBuilder<'a> {
    remotes: &'a mut Remotes,
    namespace: String,
    service: String,
}

impl ServiceBuilder<'_> {
    /// Adds a typed method: `|a: String, b: u32| async move { Ok::<_, RemoteError>(…) }`.
    pub fn method<H: Handler<Params>, Params>(self, name: &str, handler: H) -> Self {
        let at: Arc<str> = format!("{}.{}", self.service, name).into();
        let h: BoxHandler = Arc::new(move |_ctx, args| handler.call(args, at.clone()));
        self.remotes.insert(&self.namespace, &self.service, name, h);
        self
    }

    /// Adds a method that sees the arguments' exact text and the call context and returns the
    /// whole reply array (variadic methods such as `echo`, pass-through forwarding).
    pub fn method_raw<F, Fut>(self, name: &str, f: F) -> Self
    where
        F: Fn(CallContext, Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let at: Arc<str> = format!("{}.{}", self.service, name).into();
        let h: BoxHandler = Arc::new(move |ctx, args| {
            let fut = f(ctx, args);
            let at = at.clone();
            Box::pin(async move { fut.await.into_reply(&at) })
        });
        self.remotes.insert(&self.namespace, &self.service, name, h);
        self
    }
}

/// Routes requests to remotes; replies with pomelo's own texts when a route does not exist.
pub struct Dispatcher {
    table: HashMap<String, HashMap<String, HashMap<String, BoxHandler>>>,
}

impl Dispatcher {
    /// The routes it serves, `namespace.service.method`, sorted.
    pub fn routes(&self) -> Vec<String> {
        Remotes { table: self.table.clone(), duplicates: Vec::new() }.routes()
    }

    /// The handler of a route, or pomelo's own error for the first part that does not exist.
    fn lookup(&self, msg: &RpcMsg) -> Result<&BoxHandler, RemoteError> {
        let missing = |what: &str, name: &str| RemoteError::new(format!("no such {what}:{name}"));
        let services = self.table.get(&*msg.namespace).ok_or_else(|| missing("namespace", &msg.namespace))?;
        let methods = services.get(&*msg.service).ok_or_else(|| missing("service", &msg.service))?;
        methods.get(&*msg.method).ok_or_else(|| missing("method", &msg.method))
    }
}

impl RpcHandler for Dispatcher {
    fn handle(&self, msg: RpcMsg, peer: &PeerInfo) -> ReplyFuture {
        match self.lookup(&msg) {
            Ok(h) => {
                let RpcMsg { namespace, service, method, args, .. } = msg;
                h(CallContext { peer: peer.clone(), namespace, service, method }, args)
            }
            Err(err) => {
                tracing::debug!(peer = %peer.addr, "{err}");
                let resp = err.to_resp("Dispatcher.route");
                Box::pin(async move { resp })
            }
        }
    }
}
