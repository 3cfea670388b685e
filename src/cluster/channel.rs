//! Channels: named groups of (uid, frontend id) members. A push is grouped per frontend and
//! sent through each frontend's `sys` `channelRemote.pushMessage`; a broadcast goes to every
//! frontend of a type.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::error::ClusterError;
use super::sys::sys_call;
use crate::client::RpcClient;
use crate::wire::json;

/// The channels of one server.
#[derive(Clone)]
pub struct ChannelService {
    client: RpcClient,
    channels: Arc<Mutex<HashMap<String, IndexMap<String, String>>>>,
}

fn uid_key(uid: &Value) -> String {
    match uid {
        Value::String(s) => s.clone(),
        other => json::to_string(other),
    }
}

impl ChannelService {
    /// An empty service calling frontends through `client`.
    pub fn new(client: RpcClient) -> Self {
        ChannelService { client, channels: Arc::default() }
    }

    /// Adds `uid` on `frontend_id` to `channel` (created on first use).
    pub fn add(&self, channel: &str, uid: &Value, frontend_id: &str) {
        let mut ch = self.channels.lock().expect("channels lock");
        ch.entry(channel.to_string()).or_default().insert(uid_key(uid), frontend_id.to_string());
    }

    /// Removes `uid` from `channel`.
    pub fn leave(&self, channel: &str, uid: &Value) {
        if let Some(members) = self.channels.lock().expect("channels lock").get_mut(channel) {
            members.shift_remove(&uid_key(uid));
        }
    }

    /// Drops a channel.
    pub fn destroy(&self, channel: &str) {
        self.channels.lock().expect("channels lock").remove(channel);
    }

    /// Members of a channel as (uid, frontend id).
    pub fn members(&self, channel: &str) -> Vec<(String, String)> {
        let ch = self.channels.lock().expect("channels lock");
        ch.get(channel).map_or_else(Vec::new, |m| m.iter().map(|(u, f)| (u.clone(), f.clone())).collect())
    }

    /// Pushes `route`/`msg` to every member, one `pushMessage` per frontend; returns the uids
    /// the frontends could not reach.
    pub async fn push_message(
        &self,
        channel: &str,
        route: &str,
        msg: Value,
    ) -> Result<Vec<Value>, ClusterError> {
        let members = self.members(channel);
        self.push_by_uids(route, msg, &members).await
    }

    /// Pushes to explicit (uid, frontend id) pairs (`channelService.pushMessageByUids`).
    pub async fn push_by_uids(
        &self,
        route: &str,
        msg: Value,
        members: &[(String, String)],
    ) -> Result<Vec<Value>, ClusterError> {
        let mut by_frontend: IndexMap<&str, Vec<Value>> = IndexMap::new();
        for (uid, fid) in members {
            by_frontend.entry(fid.as_str()).or_default().push(json!(uid));
        }
        let opts = json!({"type": "push", "userOptions": {}, "isPush": true});
        let calls = by_frontend.into_iter().map(|(fid, uids)| {
            let args = vec![json!(route), msg.clone(), Value::Array(uids), opts.clone()];
            async move { sys_call(&self.client, fid, "channelRemote", "pushMessage", args).await }
        });
        let mut failed = Vec::new();
        for r in futures::future::join_all(calls).await {
            let resp = r?;
            if let Some(Value::Array(f)) = resp.get(1) {
                failed.extend(f.iter().cloned());
            }
        }
        Ok(failed)
    }

    /// Broadcasts to every session of every frontend of `frontend_type` (only bound ones when
    /// `binded`).
    pub async fn broadcast(
        &self,
        frontend_type: &str,
        route: &str,
        msg: Value,
        binded: bool,
    ) -> Result<(), ClusterError> {
        let opts = json!({"type": "broadcast", "userOptions": {}, "isBroadcast": true, "binded": binded, "filterParam": null});
        let ids: Vec<String> = self.client.servers_of(frontend_type).into_iter().map(|s| s.id).collect();
        let calls = ids.iter().map(|id| {
            let args = vec![json!(route), msg.clone(), opts.clone()];
            sys_call(&self.client, id, "channelRemote", "broadcast", args)
        });
        for r in futures::future::join_all(calls).await {
            r?;
        }
        Ok(())
    }
}
