//! Reading a pomelo project's `config/` so a Rust server drops into an existing game-server
//! directory: master address, its own servers.json entry, its admin token.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::ClusterError;
use super::flavor::Flavor;
use crate::client::ServerInfo;
use crate::client::servers_file::parse_servers;
use crate::wire::json;

/// Everything a server needs to join: where the master is and who we are.
#[derive(Debug, Clone)]
pub struct JoinConfig {
    /// Master admin address `host:port`.
    pub master: String,
    /// Our own server record (id, serverType, host, port, extra keys).
    pub me: ServerInfo,
    /// The token for our server type, if the project has an adminServer.json.
    pub token: Option<String>,
    /// Environment name (`development`, …), sent in the registered info.
    pub env: String,
    /// The project's main script, sent as `main` in the registered info like Node does.
    pub main: Option<String>,
    /// The cluster generation.
    pub flavor: Flavor,
}

fn read_json(path: &Path) -> Result<Value, ClusterError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ClusterError::Config(format!("cannot read {}: {e}", path.display())))?;
    json::from_slice(&bytes).map_err(|e| ClusterError::Config(format!("{}: {e}", path.display())))
}

/// `config/<env>/<name>` if it exists, else `config/<name>`.
fn config_file(dir: &Path, env: &str, name: &str) -> PathBuf {
    let per_env = dir.join("config").join(env).join(name);
    if per_env.exists() { per_env } else { dir.join("config").join(name) }
}

/// The master's `host:port` from master.json (`{"<env>": {host, port}}` or `{host, port}`).
pub fn master_addr(dir: &Path, env: &str) -> Result<String, ClusterError> {
    let path = config_file(dir, env, "master.json");
    let doc = read_json(&path)?;
    let m = doc.get(env).unwrap_or(&doc);
    let host = m.get("host").and_then(Value::as_str).unwrap_or("127.0.0.1");
    let port = m
        .get("port")
        .and_then(|p| p.as_u64().or_else(|| p.as_str().and_then(|s| s.parse().ok())))
        .ok_or_else(|| ClusterError::Config(format!("{}: no port for env {env:?}", path.display())))?;
    Ok(format!("{host}:{port}"))
}

/// The token adminServer.json gives `server_type` (None when the file does not exist: the
/// master then accepts everyone).
pub fn admin_token(dir: &Path, env: &str, server_type: &str) -> Result<Option<String>, ClusterError> {
    let path = config_file(dir, env, "adminServer.json");
    if !path.exists() {
        return Ok(None);
    }
    let doc = read_json(&path)?;
    let list = doc.as_array().cloned().unwrap_or_default();
    let token = list
        .iter()
        .find(|e| e.get("type").and_then(Value::as_str) == Some(server_type))
        .and_then(|e| e.get("token"))
        .map(|t| t.as_str().map(str::to_string).unwrap_or_else(|| json::to_string(t)));
    if token.is_none() {
        tracing::warn!(
            "{} has no entry for server type {server_type:?}: the master will refuse us; add {{\"type\":\"{server_type}\",\"token\":\"…\"}}",
            path.display()
        );
    }
    Ok(token)
}

/// Reads master.json, our servers.json entry and adminServer.json of a project directory; the
/// flavor is detected from its package.json unless given.
pub fn from_project(
    dir: &Path,
    env: &str,
    id: &str,
    flavor: Option<Flavor>,
) -> Result<JoinConfig, ClusterError> {
    let servers_path = config_file(dir, env, "servers.json");
    let text = std::fs::read_to_string(&servers_path)
        .map_err(|e| ClusterError::Config(format!("cannot read {}: {e}", servers_path.display())))?;
    let servers = parse_servers(&text, Some(env))
        .map_err(|e| ClusterError::Config(format!("{}: {e}", servers_path.display())))?;
    let me = servers.into_iter().find(|s| s.id == id).ok_or_else(|| {
        ClusterError::Config(format!("no server with id {id:?} in {} (env {env})", servers_path.display()))
    })?;
    Ok(JoinConfig {
        master: master_addr(dir, env)?,
        token: admin_token(dir, env, &me.server_type)?,
        me,
        env: env.to_string(),
        main: Some(dir.join("app.js").to_string_lossy().into_owned()),
        flavor: flavor.or_else(|| Flavor::detect(dir)).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_pomelo_project() {
        let dir = std::env::temp_dir().join(format!("pomelo-interop-config-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("config/production")).unwrap();
        std::fs::write(
            dir.join("config/master.json"),
            r#"{"development":{"id":"master-server-1","host":"127.0.0.1","port":3005}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("config/servers.json"),
            r#"{"development":{"time":[{"id":"time-server-1","host":"127.0.0.1","port":6051,"args":"x"}]}}"#,
        )
        .unwrap();
        std::fs::write(dir.join("config/adminServer.json"), r#"[{"type":"time","token":"tok"}]"#).unwrap();
        std::fs::write(dir.join("config/production/adminServer.json"), r#"[{"type":"time","token":"prod"}]"#)
            .unwrap();
        let c = from_project(&dir, "development", "time-server-1", None).unwrap();
        assert_eq!(c.master, "127.0.0.1:3005");
        assert_eq!((c.me.server_type.as_str(), c.me.port), ("time", 6051));
        assert_eq!(c.token.as_deref(), Some("tok"));
        assert_eq!(admin_token(&dir, "production", "time").unwrap().as_deref(), Some("prod"));
        assert!(
            from_project(&dir, "development", "nope", None).unwrap_err().to_string().contains("no server")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
