//! Calls to a frontend's `sys` remotes (`sessionRemote`, `channelRemote`), shared by sessions
//! and channels: addressed by the frontend's server type, an error reply becomes an error.

use serde_json::Value;

use super::error::ClusterError;
use crate::client::RpcClient;
use crate::message::{RpcMsg, error_message};

/// Calls a frontend's sys remote and turns an error reply into an error.
pub(crate) async fn sys_call(
    client: &RpcClient,
    frontend_id: &str,
    service: &str,
    method: &str,
    args: Vec<Value>,
) -> Result<Vec<Value>, ClusterError> {
    let server_type =
        client.servers().into_iter().find(|s| s.id == frontend_id).map(|s| s.server_type).unwrap_or_default();
    let msg = RpcMsg::new("sys", server_type, service, method, args);
    let resp = client.call(frontend_id, msg, None).await?;
    match resp.first() {
        Some(err) if !err.is_null() => {
            Err(ClusterError::Remote { remote: format!("{service}.{method}"), message: error_message(err) })
        }
        _ => Ok(resp),
    }
}
