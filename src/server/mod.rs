//! Remotes as typed handlers and the dispatcher that routes a request to them.
//!
//! A handler is an async function taking typed arguments (deserialized positionally from
//! `args`) and returning something that becomes pomelo's reply array: `Result<T, E>` gives
//! `[null, t]` / `[err]`, [`Reply`] gives any array (variadic or error-slot-free replies).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::message::RpcMsg;
use crate::transport::{PeerInfo, ReplyFuture, RpcHandler};

pub mod demo;

/// Errors of the server layer (setting up remotes; call failures travel as replies).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The same namespace/service/method was registered twice.
    #[error("remote {0} is registered twice")]
    Duplicate(String),
    /// A transport failure while starting or running the acceptor.
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
}

/// An error a remote returns; it leaves as Node's `{"msg", "stack", …extra}` object.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteError {
    /// Human-readable message (`err.msg`, first line of `err.stack`).
    pub message: String,
    /// Extra own properties, e.g. a `code` (pinus spreads these; pomelo drops them).
    pub fields: Map<String, Value>,
}

impl RemoteError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        RemoteError { message: message.into(), fields: Map::new() }
    }

    /// Adds an extra property, such as `code`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.fields.insert(key.into(), value.into());
        self
    }

    /// The Node-shaped JSON object; `at` names the frame in the synthetic stack.
    pub fn to_json(&self, at: &str) -> Value {
        let mut obj = self.fields.clone();
        obj.insert("msg".into(), Value::String(self.message.clone()));
        obj.insert(
            "stack".into(),
            Value::String(format!("Error: {}\n    at {at} (pomelo-interop)", self.message)),
        );
        Value::Object(obj)
    }
}

impl From<String> for RemoteError {
    fn from(s: String) -> Self {
        RemoteError::new(s)
    }
}

impl From<&str> for RemoteError {
    fn from(s: &str) -> Self {
        RemoteError::new(s)
    }
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RemoteError {}

/// A reply array exactly as given: for variadic callbacks (`cb(hour, min, sec)`) or raw use.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The full `resp` array.
    Values(Vec<Value>),
    /// A single error, serialized with the route as its stack frame.
    Error(RemoteError),
}

impl Reply {
    /// `[null, …results]`.
    pub fn ok(results: impl IntoIterator<Item = Value>) -> Reply {
        let mut v = vec![Value::Null];
        v.extend(results);
        Reply::Values(v)
    }

    /// `[err]`.
    pub fn error(err: impl Into<RemoteError>) -> Reply {
        Reply::Error(err.into())
    }
}

/// Turns a handler's output into the `resp` array.
pub trait IntoReply {
    /// `at` is `service.method`, used for error stacks.
    fn into_reply(self, at: &str) -> Vec<Value>;
}

impl IntoReply for Reply {
    fn into_reply(self, at: &str) -> Vec<Value> {
        match self {
            Reply::Values(v) => v,
            Reply::Error(e) => vec![e.to_json(at)],
        }
    }
}

impl<T: Serialize, E: Into<RemoteError>> IntoReply for Result<T, E> {
    fn into_reply(self, at: &str) -> Vec<Value> {
        match self {
            Ok(v) => match serde_json::to_value(v) {
                Ok(v) => vec![Value::Null, v],
                Err(e) => vec![RemoteError::new(format!("cannot serialize reply: {e}")).to_json(at)],
            },
            Err(e) => vec![e.into().to_json(at)],
        }
    }
}

/// What a handler can see besides its arguments.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The connection the request came on.
    pub peer: PeerInfo,
    /// The full request message (route and arguments).
    pub msg: Arc<RpcMsg>,
}

type BoxHandler = Arc<dyn Fn(CallContext, Vec<Value>) -> ReplyFuture + Send + Sync>;

/// A typed remote method: an async fn of up to six deserializable arguments.
pub trait Handler<Args>: Send + Sync + 'static {
    /// Calls the handler with positional JSON arguments.
    fn call(&self, args: Vec<Value>, at: Arc<str>) -> ReplyFuture;
}

fn arg<T: DeserializeOwned>(args: &mut std::vec::IntoIter<Value>, i: usize) -> Result<T, String> {
    let v = args.next().unwrap_or(Value::Null);
    serde_json::from_value(v).map_err(|e| format!("invalid argument {i}: {e}"))
}

macro_rules! impl_handler {
    ($($a:ident),*) => {
        impl<F, Fut, R, $($a,)*> Handler<($($a,)*)> for F
        where
            F: Fn($($a),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoReply,
            $($a: DeserializeOwned + Send + 'static,)*
        {
            #[allow(non_snake_case, unused_mut, unused_variables, unused_assignments)]
            fn call(&self, args: Vec<Value>, at: Arc<str>) -> ReplyFuture {
                let mut it = args.into_iter();
                let mut i = 0;
                $(
                    let $a: $a = match arg(&mut it, i) {
                        Ok(v) => v,
                        Err(e) => {
                            let err = RemoteError::new(format!("{at}: {e}"));
                            return Box::pin(async move { vec![err.to_json(&at)] });
                        }
                    };
                    i += 1;
                )*
                let fut = (self)($($a),*);
                Box::pin(async move { fut.await.into_reply(&at) })
            }
        }
    };
}

impl_handler!();
impl_handler!(A1);
impl_handler!(A1, A2);
impl_handler!(A1, A2, A3);
impl_handler!(A1, A2, A3, A4);
impl_handler!(A1, A2, A3, A4, A5);
impl_handler!(A1, A2, A3, A4, A5, A6);

/// The service table: namespace → service → method → handler.
#[derive(Default, Clone)]
pub struct Remotes {
    table: HashMap<String, HashMap<String, HashMap<String, BoxHandler>>>,
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
        self.table.entry(ns.into()).or_default().entry(svc.into()).or_default().insert(method.into(), h);
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

    /// Freezes the table into a dispatcher an acceptor can serve.
    pub fn into_dispatcher(self) -> Arc<Dispatcher> {
        Arc::new(Dispatcher { remotes: self })
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
    pub fn method<H: Handler<Args>, Args>(self, name: &str, handler: H) -> Self {
        let at: Arc<str> = format!("{}.{}", self.service, name).into();
        let h: BoxHandler = Arc::new(move |_ctx, args| handler.call(args, at.clone()));
        self.remotes.insert(&self.namespace, &self.service, name, h);
        self
    }

    /// Adds a method that sees the raw arguments and the call context and returns the whole
    /// reply array (variadic methods such as `echo`).
    pub fn method_raw<F, Fut>(self, name: &str, f: F) -> Self
    where
        F: Fn(CallContext, Vec<Value>) -> Fut + Send + Sync + 'static,
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
    remotes: Remotes,
}

impl Dispatcher {
    /// The routes it serves.
    pub fn routes(&self) -> Vec<String> {
        self.remotes.routes()
    }

    fn lookup(&self, msg: &RpcMsg) -> Result<&BoxHandler, String> {
        let services = self
            .remotes
            .table
            .get(&msg.namespace)
            .ok_or_else(|| format!("no such namespace:{}", msg.namespace))?;
        let methods = services.get(&msg.service).ok_or_else(|| format!("no such service:{}", msg.service))?;
        methods.get(&msg.method).ok_or_else(|| format!("no such method:{}", msg.method))
    }
}

impl RpcHandler for Dispatcher {
    fn handle(&self, mut msg: RpcMsg, peer: &PeerInfo) -> ReplyFuture {
        match self.lookup(&msg) {
            Ok(h) => {
                let args = std::mem::take(&mut msg.args);
                h(CallContext { peer: peer.clone(), msg: Arc::new(msg) }, args)
            }
            Err(text) => {
                tracing::debug!(peer = %peer.addr, "{text}");
                let err = RemoteError::new(text).to_json("Dispatcher.route");
                Box::pin(async move { vec![err] })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn peer() -> PeerInfo {
        PeerInfo { addr: "127.0.0.1:1".parse().unwrap(), conn: 1 }
    }

    async fn call(d: &Dispatcher, ns: &str, svc: &str, m: &str, args: Vec<Value>) -> Vec<Value> {
        d.handle(RpcMsg::new(ns, "t", svc, m, args), &peer()).await
    }

    fn stack(v: &Value) -> &str {
        v["stack"].as_str().unwrap()
    }

    #[tokio::test]
    async fn typed_and_raw_handlers() {
        let mut r = Remotes::new();
        r.service("user", "math")
            .method("add", |a: i64, b: i64| async move { Ok::<_, RemoteError>(a + b) })
            .method("opt", |a: Option<String>| async move { Ok::<_, RemoteError>(a.is_none()) })
            .method("hms", || async { Reply::Values(vec![json!(1), json!(2), json!(3)]) })
            .method_raw("all", |_ctx, args| async move { Reply::ok(args) });
        let d = r.into_dispatcher();
        assert_eq!(
            call(&d, "user", "math", "add", vec![json!(2), json!(3)]).await,
            vec![json!(null), json!(5)]
        );
        assert_eq!(call(&d, "user", "math", "opt", vec![]).await, vec![json!(null), json!(true)]);
        assert_eq!(call(&d, "user", "math", "hms", vec![]).await, vec![json!(1), json!(2), json!(3)]);
        assert_eq!(
            call(&d, "user", "math", "all", vec![json!("a"), json!(1)]).await,
            vec![json!(null), json!("a"), json!(1)]
        );
        let bad = call(&d, "user", "math", "add", vec![json!("x")]).await;
        assert!(stack(&bad[0]).starts_with("Error: math.add: invalid argument 0"), "{bad:?}");
    }

    #[tokio::test]
    async fn pomelo_dispatcher_texts() {
        let mut r = Remotes::new();
        r.service("user", "s").method("m", || async { Ok::<_, RemoteError>(1) });
        let d = r.into_dispatcher();
        let e = call(&d, "nons", "s", "m", vec![]).await;
        assert!(stack(&e[0]).starts_with("Error: no such namespace:nons\n"));
        let e = call(&d, "user", "x", "m", vec![]).await;
        assert!(stack(&e[0]).starts_with("Error: no such service:x\n"));
        let e = call(&d, "user", "s", "nope", vec![]).await;
        assert_eq!(e[0]["msg"], json!("no such method:nope"));
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn remote_error_shape() {
        let e = RemoteError::new("boom").with("code", 42).to_json("svc.m");
        assert_eq!(e["msg"], json!("boom"));
        assert_eq!(e["code"], json!(42));
        assert!(e["stack"].as_str().unwrap().starts_with("Error: boom\n    at svc.m"));
    }
}

/// One incoming call as it travels through the server's tower stack.
#[derive(Debug, Clone)]
pub struct ServerCall {
    /// The request message; layers may rewrite it.
    pub msg: RpcMsg,
    /// The connection it came on.
    pub peer: PeerInfo,
}

/// The boxed dispatch service every server layer wraps.
pub type DispatchService = tower::util::BoxCloneSyncService<ServerCall, Vec<Value>, RemoteError>;

impl tower::Service<ServerCall> for Arc<Dispatcher> {
    type Response = Vec<Value>;
    type Error = RemoteError;
    type Future = futures::future::BoxFuture<'static, Result<Vec<Value>, RemoteError>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), RemoteError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: ServerCall) -> Self::Future {
        let fut = self.handle(call.msg, &call.peer);
        Box::pin(async move { Ok(fut.await) })
    }
}

/// Dispatch wrapped in tower layers (filters, concurrency limits, load shedding, logging):
/// the server-side twin of the client's call stack. A layer's error becomes the reply's
/// error object.
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
        L::Service: tower::Service<ServerCall, Response = Vec<Value>> + Clone + Send + Sync + 'static,
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
        let at = format!("{}.{}", msg.service, msg.method);
        let call = ServerCall { msg, peer: peer.clone() };
        let svc = self.service.clone();
        Box::pin(async move {
            match svc.oneshot(call).await {
                Ok(resp) => resp,
                Err(e) => vec![e.to_json(&at)],
            }
        })
    }
}
