//! Proxies: a handle per remote method, as `app.rpc.<type>.<service>.<method>` is in pomelo,
//! with a typed layer over serde on top of the `Vec<Value>` core.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{ClientError, RpcClient, Target};
use crate::message::{self, RpcMsg};

/// One remote method: `namespace.serverType.service.method`.
#[derive(Clone)]
pub struct RemoteMethod {
    client: RpcClient,
    template: RpcMsg,
    timeout: Option<Duration>,
}

/// Errors of the typed layer: the call failed, the remote answered with an error, or the
/// reply did not have the expected shape.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No reply (routing, connection, deadline…).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The remote's callback error (`resp[0]`), Node-shaped (`{msg?, stack, …}`).
    #[error("remote error: {}", message::error_message(.0))]
    Remote(Value),
    /// Arguments or results did not (de)serialize.
    #[error("reply or arguments do not fit the types: {0}")]
    Shape(String),
}

impl RemoteMethod {
    /// Parses `namespace.serverType.service.method`.
    pub fn new(client: RpcClient, route: &str) -> Result<Self, ClientError> {
        let template = RpcMsg::parse_route(route, Vec::<Value>::new()).ok_or_else(|| {
            ClientError::Filter(format!("route {route:?} is not namespace.serverType.service.method"))
        })?;
        Ok(RemoteMethod { client, template, timeout: None })
    }

    /// Uses this deadline instead of the client's default.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn msg(&self, args: Vec<Value>) -> RpcMsg {
        RpcMsg { args: args.into(), ..self.template.clone() }
    }

    /// Routed call: `route_param` is what pomelo passes first (usually the session, whose
    /// `uid` the default route hashes). Returns the whole `resp` array.
    pub async fn call(
        &self,
        route_param: Option<Value>,
        args: Vec<Value>,
    ) -> Result<Vec<Value>, ClientError> {
        let resp = self.client.dispatch(Target::Routed(route_param), self.msg(args), self.timeout).await?;
        resp.values().map_err(ClientError::ReplyValues)
    }

    /// `toServer(id)`: no routing.
    pub async fn to_server(&self, server_id: &str, args: Vec<Value>) -> Result<Vec<Value>, ClientError> {
        let resp =
            self.client.dispatch(Target::Server(server_id.to_string()), self.msg(args), self.timeout).await?;
        resp.values().map_err(ClientError::ReplyValues)
    }

    /// `toServer('*')`: every server of the type; every result comes back.
    pub async fn to_all(&self, args: Vec<Value>) -> Vec<(String, Result<Vec<Value>, ClientError>)> {
        self.client.call_all(self.msg(args), self.timeout).await
    }

    /// Typed routed call for `cb(err, result)` remotes: `args` serializes to the argument
    /// array (a tuple, or a `Vec`), the result is `resp[1]`.
    pub async fn invoke<A: Serialize, R: DeserializeOwned>(
        &self,
        route_param: Option<Value>,
        args: A,
    ) -> Result<R, CallError> {
        let resp = self.call(route_param, to_args(args)?).await?;
        decode(resp)
    }

    /// Typed call to one server, like [`RemoteMethod::invoke`].
    pub async fn invoke_on<A: Serialize, R: DeserializeOwned>(
        &self,
        server_id: &str,
        args: A,
    ) -> Result<R, CallError> {
        let resp = self.to_server(server_id, to_args(args)?).await?;
        decode(resp)
    }
}

fn to_args<A: Serialize>(args: A) -> Result<Vec<Value>, CallError> {
    match serde_json::to_value(args).map_err(|e| CallError::Shape(e.to_string()))? {
        Value::Array(a) => Ok(a),
        Value::Null => Ok(Vec::new()),
        other => Ok(vec![other]),
    }
}

/// `[err]` → `Remote(err)`; `[null, r, …]` → `r` (a missing result reads as `null`).
pub fn decode<R: DeserializeOwned>(resp: Vec<Value>) -> Result<R, CallError> {
    let mut it = resp.into_iter();
    match it.next() {
        Some(err) if !err.is_null() => Err(CallError::Remote(err)),
        _ => {
            let v = it.next().unwrap_or(Value::Null);
            serde_json::from_value(v).map_err(|e| CallError::Shape(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decode_results_and_errors() {
        assert_eq!(decode::<u32>(vec![json!(null), json!(5)]).unwrap(), 5);
        assert_eq!(decode::<Option<u32>>(vec![json!(null)]).unwrap(), None);
        match decode::<u32>(vec![json!({"stack": "Error: boom\n    at x"})]) {
            Err(CallError::Remote(e)) => assert_eq!(message::error_message(&e), "boom"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(decode::<u32>(vec![json!(null), json!("x")]), Err(CallError::Shape(_))));
    }

    #[test]
    fn args_from_tuples_and_values() {
        assert_eq!(to_args((1, "a")).unwrap(), vec![json!(1), json!("a")]);
        assert_eq!(to_args(()).unwrap(), Vec::<Value>::new());
        assert_eq!(to_args("one").unwrap(), vec![json!("one")]);
    }
}
