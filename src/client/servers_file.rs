//! pomelo's `config/servers.json` (and simpler lists) as a server table, in file order — the
//! order a Node process learns servers at start-up, which the default route depends on.

use serde_json::Value;

use super::ServerInfo;

/// Errors reading a servers file.
#[derive(Debug, thiserror::Error)]
pub enum ServersFileError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON of an unexpected shape.
    #[error("{0}")]
    Shape(String),
}

/// Parses `{"<env>": {"<type>": [entries]}}` (pomelo), `{"<type>": [entries]}` or
/// `[entries with serverType]`. `env` picks the environment (default `development`).
pub fn parse_servers(text: &str, env: Option<&str>) -> Result<Vec<ServerInfo>, ServersFileError> {
    let doc: Value = serde_json::from_str(text)?;
    let by_type = match doc {
        Value::Array(list) => return list.into_iter().map(entry(None)).collect(),
        Value::Object(map) => {
            let env_level = map.values().all(|v| v.is_object());
            if env_level && !map.is_empty() {
                let want = env.unwrap_or("development");
                match map.get(want) {
                    Some(Value::Object(types)) => types.clone(),
                    _ => {
                        let envs: Vec<&String> = map.keys().collect();
                        return Err(ServersFileError::Shape(format!(
                            "no environment {want:?} in the servers file (it has {envs:?}); use --env"
                        )));
                    }
                }
            } else {
                map
            }
        }
        _ => return Err(ServersFileError::Shape("expected an object or an array".into())),
    };
    let mut out = Vec::new();
    for (server_type, list) in by_type {
        let Value::Array(list) = list else {
            return Err(ServersFileError::Shape(format!("servers of type {server_type:?} must be an array")));
        };
        for e in list {
            out.push(entry(Some(&server_type))(e)?);
        }
    }
    Ok(out)
}

fn entry(server_type: Option<&str>) -> impl Fn(Value) -> Result<ServerInfo, ServersFileError> + '_ {
    move |mut v| {
        if let (Some(t), Value::Object(m)) = (server_type, &mut v) {
            m.entry("serverType").or_insert_with(|| Value::String(t.to_string()));
        }
        serde_json::from_value(v.clone())
            .map_err(|e| ServersFileError::Shape(format!("bad server entry {v}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pomelo_layout_in_file_order() {
        let text = r#"{
          "development": {
            "connector": [{"id": "connector-server-1", "host": "127.0.0.1", "port": 4050, "clientPort": 3010, "frontend": true}],
            "time": [
              {"id": "time-server-2", "host": "127.0.0.1", "port": 6051},
              {"id": "time-server-1", "host": "127.0.0.1", "port": 6050, "weight": 3}
            ]
          },
          "production": {"time": []}
        }"#;
        let s = parse_servers(text, None).unwrap();
        let ids: Vec<&str> = s.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["connector-server-1", "time-server-2", "time-server-1"]);
        assert_eq!(s[1].server_type, "time");
        assert_eq!(s[2].weight, Some(3));
        assert_eq!(s[0].extra["frontend"], Value::Bool(true));
        assert!(parse_servers(text, Some("production")).unwrap().is_empty());
        assert!(parse_servers(text, Some("staging")).unwrap_err().to_string().contains("--env"));
    }

    #[test]
    fn flat_forms() {
        let by_type = r#"{"time": [{"id": "t1", "host": "h", "port": 1}]}"#;
        assert_eq!(parse_servers(by_type, None).unwrap()[0].server_type, "time");
        let list = r#"[{"id": "t1", "serverType": "time", "host": "h", "port": 1}]"#;
        assert_eq!(parse_servers(list, None).unwrap()[0].id, "t1");
        assert!(parse_servers("[1]", None).is_err());
    }
}
