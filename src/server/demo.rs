//! The demo remotes `serve` offers with no arguments: pomelo's RPC-tutorial time server and an
//! echo service for trying calls and testing peers.

use std::time::Duration;

use chrono::Timelike;
use serde_json::{Value, json};

use super::{RemoteError, Remotes, Reply};

/// Longest `sleep` the demo honours.
pub const MAX_SLEEP_MS: u64 = 60_000;

/// Registers `user.timeRemote` and `user.echoRemote` for the server `server_id`.
pub fn register(remotes: &mut Remotes, server_id: &str) {
    let me = serde_json::Value::String(server_id.to_string());
    remotes.service("user", "timeRemote").method(
        "getCurrentTime",
        // The tutorial's callback is cb(hour, min, sec): no error slot.
        |_arg1: Value, _arg2: Value| async move {
            let now = chrono::Local::now();
            Reply::Values(vec![json!(now.hour()), json!(now.minute()), json!(now.second())])
        },
    );
    remotes
        .service("user", "echoRemote")
        .method_raw("echo", |_ctx, args| async move { Reply::ok_args(&args) })
        .method("fail", |message: Value| async move {
            let text = match message {
                Value::String(s) => s,
                Value::Null => "failed on purpose".to_string(),
                other => crate::wire::json::to_string(&other),
            };
            Reply::error(text)
        })
        .method("whoami", move || {
            let me = me.clone();
            async move { Ok::<_, RemoteError>(me) }
        })
        .method("sleep", |ms: Value| async move {
            let Some(n) = ms.as_u64() else {
                return Err(RemoteError::new(format!(
                    "sleep expects a non-negative integer of milliseconds, got {ms}"
                )));
            };
            tokio::time::sleep(Duration::from_millis(n.min(MAX_SLEEP_MS))).await;
            Ok(ms)
        });
}

/// The demo table on its own, for server `server_id`.
pub fn remotes(server_id: &str) -> Remotes {
    let mut r = Remotes::new();
    register(&mut r, server_id);
    r
}
