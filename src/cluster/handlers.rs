//! Client requests forwarded by Node connectors: `sys.<type>.msgRemote.forwardMessage(msg,
//! session)` dispatches `msg.route` (`type.handler.method`) to a Rust handler that takes the
//! typed body and the backend session and returns a typed response.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::session::{BackendSession, Cluster, SessionExport};
use crate::message::Args;
use crate::server::{RemoteError, Remotes, Reply};

/// A handler's failure: the connector sends the client `resp` with `code` 500 unless `resp`
/// carries its own `code`.
#[derive(Debug, Clone)]
pub struct HandlerError {
    /// The error (logged by the connector; never reaches the client).
    pub error: RemoteError,
    /// What the client gets instead (e.g. `{"code": 501, "detail": …}`).
    pub resp: Option<Value>,
}

impl HandlerError {
    /// An error the client sees as `{code: 500}`.
    pub fn new(message: impl Into<String>) -> Self {
        HandlerError { error: RemoteError::new(message), resp: None }
    }

    /// An error with the response the client gets (set its `code`).
    pub fn with_response(message: impl Into<String>, resp: Value) -> Self {
        HandlerError { error: RemoteError::new(message), resp: Some(resp) }
    }
}

impl<E: std::fmt::Display> From<E> for HandlerError
where
    E: std::error::Error,
{
    fn from(e: E) -> Self {
        HandlerError::new(e.to_string())
    }
}

type HandlerFn =
    Arc<dyn Fn(Value, BackendSession) -> BoxFuture<'static, Result<Value, HandlerError>> + Send + Sync>;

/// Client handlers by `handler.method` (the route without its server type).
#[derive(Clone, Default)]
pub struct Handlers {
    table: HashMap<String, HandlerFn>,
}

impl Handlers {
    /// No handlers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler.method`: the body is deserialized into `B`, the response serialized.
    pub fn on<B, R, F, Fut>(&mut self, route: &str, f: F) -> &mut Self
    where
        B: DeserializeOwned + Send + 'static,
        R: Serialize + 'static,
        F: Fn(B, BackendSession) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, HandlerError>> + Send + 'static,
    {
        let route_name = route.to_string();
        let h: HandlerFn = Arc::new(move |body, session| {
            let parsed = serde_json::from_value::<B>(body);
            match parsed {
                Ok(b) => {
                    let fut = f(b, session);
                    Box::pin(async move {
                        let r = fut.await?;
                        serde_json::to_value(r).map_err(|e| HandlerError::new(e.to_string()))
                    })
                }
                Err(e) => {
                    let err = HandlerError::new(format!("bad body for {route_name}: {e}"));
                    Box::pin(async move { Err(err) })
                }
            }
        });
        self.table.insert(route.to_string(), h);
        self
    }

    /// Registers `sys.msgRemote.forwardMessage` on `remotes`, dispatching to these handlers.
    pub fn serve(self, remotes: &mut Remotes, cluster: Arc<Cluster>) {
        let table = Arc::new(self.table);
        remotes.service("sys", "msgRemote").method_raw("forwardMessage", move |_ctx, args| {
            let table = table.clone();
            let cluster = cluster.clone();
            async move { forward(&table, cluster, args).await }
        });
    }
}

async fn forward(table: &HashMap<String, HandlerFn>, cluster: Arc<Cluster>, args: Args) -> Reply {
    let args = match args.values() {
        Ok(v) => v,
        Err(e) => {
            let err = RemoteError::new(format!("forwarded message unreadable: {e}"));
            return Reply::Values(vec![err.to_json("msgRemote.forwardMessage"), Value::Null, Value::Null]);
        }
    };
    let mut it = args.into_iter();
    let msg = it.next().unwrap_or(Value::Null);
    let session = it.next().unwrap_or(Value::Null);
    let route = msg["route"].as_str().unwrap_or("").to_string();
    let export: SessionExport = match serde_json::from_value(session) {
        Ok(s) => s,
        Err(e) => {
            return Reply::Values(vec![
                RemoteError::new(format!("bad session: {e}")).to_json("msgRemote"),
                Value::Null,
                Value::Null,
            ]);
        }
    };
    let key = route.split_once('.').map(|(_, rest)| rest).unwrap_or("");
    let Some(h) = table.get(key).filter(|_| route.split('.').count() == 3) else {
        let err = RemoteError::new(format!("fail to find handler for {route}"));
        return Reply::Values(vec![err.to_json("msgRemote.forwardMessage"), Value::Null, Value::Null]);
    };
    let body = msg.get("body").cloned().unwrap_or(Value::Null);
    // A notify (msg.type 1) is answered like a request, as pomelo does: the connector drops it.
    match h(body, BackendSession::new(export, cluster)).await {
        Ok(resp) => Reply::Values(vec![Value::Null, resp, Value::Null]),
        Err(e) => {
            tracing::debug!(route, error = %e.error, "handler failed");
            Reply::Values(vec![e.error.to_json(&route), e.resp.unwrap_or(Value::Null), Value::Null])
        }
    }
}
