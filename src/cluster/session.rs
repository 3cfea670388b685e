//! Backend sessions and the session service: a forwarded request carries the frontend
//! session's export; changes go back to the frontend through its `sys` `sessionRemote`.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::channel::ChannelService;
use super::error::ClusterError;
use super::sys::sys_call;
use crate::client::RpcClient;

/// What a server needs to talk back to the cluster: its RPC client (whose table the monitor
/// keeps) and identity.
pub struct Cluster {
    /// The RPC client, table kept by the monitor agent.
    pub client: RpcClient,
    /// Our server id.
    pub server_id: String,
    /// Our server type.
    pub server_type: String,
    /// Channels kept by this server.
    pub channels: ChannelService,
}

impl Cluster {
    /// A cluster context over `client`.
    pub fn new(client: RpcClient, server_id: impl Into<String>, server_type: impl Into<String>) -> Arc<Self> {
        Arc::new(Cluster {
            channels: ChannelService::new(client.clone()),
            client,
            server_id: server_id.into(),
            server_type: server_type.into(),
        })
    }

    /// The session service (calls to frontends' `sessionRemote`).
    pub fn sessions(&self) -> SessionService {
        SessionService { client: self.client.clone() }
    }
}

/// pomelo's `backendSessionService`: session operations on the frontend that owns them.
#[derive(Clone)]
pub struct SessionService {
    client: RpcClient,
}

impl SessionService {
    /// Binds session `sid` on `frontend_id` to `uid`.
    pub async fn bind(&self, frontend_id: &str, sid: &Value, uid: &Value) -> Result<(), ClusterError> {
        sys_call(&self.client, frontend_id, "sessionRemote", "bind", vec![sid.clone(), uid.clone()])
            .await
            .map(drop)
    }

    /// Unbinds `uid` from session `sid`.
    pub async fn unbind(&self, frontend_id: &str, sid: &Value, uid: &Value) -> Result<(), ClusterError> {
        sys_call(&self.client, frontend_id, "sessionRemote", "unbind", vec![sid.clone(), uid.clone()])
            .await
            .map(drop)
    }

    /// Sets one session setting on the frontend.
    pub async fn push(
        &self,
        frontend_id: &str,
        sid: &Value,
        key: &str,
        value: Value,
    ) -> Result<(), ClusterError> {
        sys_call(&self.client, frontend_id, "sessionRemote", "push", vec![sid.clone(), json!(key), value])
            .await
            .map(drop)
    }

    /// Merges settings into the frontend's session.
    pub async fn push_all(
        &self,
        frontend_id: &str,
        sid: &Value,
        settings: Map<String, Value>,
    ) -> Result<(), ClusterError> {
        sys_call(
            &self.client,
            frontend_id,
            "sessionRemote",
            "pushAll",
            vec![sid.clone(), Value::Object(settings)],
        )
        .await
        .map(drop)
    }

    /// The session `sid` of `frontend_id`, if it exists.
    pub async fn get_by_sid(
        &self,
        frontend_id: &str,
        sid: &Value,
    ) -> Result<Option<SessionExport>, ClusterError> {
        let resp =
            sys_call(&self.client, frontend_id, "sessionRemote", "getBackendSessionBySid", vec![sid.clone()])
                .await?;
        Ok(resp.get(1).and_then(|v| serde_json::from_value(v.clone()).ok()))
    }

    /// Every session of `uid` on `frontend_id`.
    pub async fn get_by_uid(
        &self,
        frontend_id: &str,
        uid: &Value,
    ) -> Result<Vec<SessionExport>, ClusterError> {
        let resp = sys_call(
            &self.client,
            frontend_id,
            "sessionRemote",
            "getBackendSessionsByUid",
            vec![uid.clone()],
        )
        .await?;
        Ok(resp.get(1).and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default())
    }

    /// Kicks session `sid` (the client gets a KICK package with `reason`).
    pub async fn kick_by_sid(
        &self,
        frontend_id: &str,
        sid: &Value,
        reason: &str,
    ) -> Result<(), ClusterError> {
        sys_call(&self.client, frontend_id, "sessionRemote", "kickBySid", vec![sid.clone(), json!(reason)])
            .await
            .map(drop)
    }

    /// Kicks every session of `uid`.
    pub async fn kick_by_uid(
        &self,
        frontend_id: &str,
        uid: &Value,
        reason: &str,
    ) -> Result<(), ClusterError> {
        sys_call(&self.client, frontend_id, "sessionRemote", "kickByUid", vec![uid.clone(), json!(reason)])
            .await
            .map(drop)
    }
}

/// A frontend session as `session.export()` sends it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SessionExport {
    /// Session id, local to the frontend.
    pub id: Value,
    /// The frontend's server id.
    #[serde(rename = "frontendId")]
    pub frontend_id: String,
    /// Bound uid (`null` until bound); compared with `===` on the frontend, so its JSON type
    /// is kept.
    #[serde(default)]
    pub uid: Value,
    /// Session settings.
    #[serde(default)]
    pub settings: Map<String, Value>,
}

/// The session a client handler sees: the export plus methods that act on the frontend, like
/// pomelo's `BackendSession` (local changes are sent with `push`/`push_all`).
#[derive(Clone)]
pub struct BackendSession {
    /// The session as the frontend exported it, with local changes.
    pub export: SessionExport,
    cluster: Arc<Cluster>,
}

impl BackendSession {
    /// Wraps a forwarded session export.
    pub fn new(export: SessionExport, cluster: Arc<Cluster>) -> Self {
        BackendSession { export, cluster }
    }

    /// The bound uid, if any.
    pub fn uid(&self) -> Option<&Value> {
        Some(&self.export.uid).filter(|u| !u.is_null())
    }

    /// The frontend that owns the session.
    pub fn frontend_id(&self) -> &str {
        &self.export.frontend_id
    }

    /// The cluster context (RPC client, channels).
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Binds the session to `uid` on its frontend.
    pub async fn bind(&mut self, uid: Value) -> Result<(), ClusterError> {
        self.cluster.sessions().bind(&self.export.frontend_id, &self.export.id, &uid).await?;
        self.export.uid = uid;
        Ok(())
    }

    /// Unbinds the session's uid.
    pub async fn unbind(&mut self) -> Result<(), ClusterError> {
        let uid = self.export.uid.clone();
        self.cluster.sessions().unbind(&self.export.frontend_id, &self.export.id, &uid).await?;
        self.export.uid = Value::Null;
        Ok(())
    }

    /// Sets a setting locally.
    pub fn set(&mut self, key: &str, value: Value) {
        self.export.settings.insert(key.to_string(), value);
    }

    /// A setting.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.export.settings.get(key)
    }

    /// Sends one local setting to the frontend.
    pub async fn push(&self, key: &str) -> Result<(), ClusterError> {
        let v = self.export.settings.get(key).cloned().unwrap_or(Value::Null);
        self.cluster.sessions().push(&self.export.frontend_id, &self.export.id, key, v).await
    }

    /// Sends every local setting to the frontend.
    pub async fn push_all(&self) -> Result<(), ClusterError> {
        let s = self.export.settings.clone();
        self.cluster.sessions().push_all(&self.export.frontend_id, &self.export.id, s).await
    }

    /// Kicks this session.
    pub async fn kick(&self, reason: &str) -> Result<(), ClusterError> {
        self.cluster.sessions().kick_by_sid(&self.export.frontend_id, &self.export.id, reason).await
    }
}
