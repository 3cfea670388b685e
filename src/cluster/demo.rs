//! The demo client handlers a `serve`d cluster member offers (route `<type>.timeHandler.*`),
//! showing sessions and channels: `now` binds, joins channel `clock`, pushes `onTime`.

use chrono::Timelike;
use serde::Deserialize;
use serde_json::{Value, json};

use super::handlers::{HandlerError, Handlers};

/// Body of `timeHandler.now`.
#[derive(Debug, Default, Deserialize)]
pub struct NowBody {
    /// Bind the session to this uid if it is not bound yet.
    #[serde(default)]
    pub uid: Option<Value>,
}

/// Registers `timeHandler.now`, `timeHandler.fail` and `timeHandler.kickMe`.
pub fn register(handlers: &mut Handlers) {
    handlers
        .on("timeHandler.now", |body: Option<NowBody>, mut session| async move {
            let body = body.unwrap_or_default();
            if session.uid().is_none()
                && let Some(uid) = body.uid.filter(|u| !u.is_null())
            {
                session.bind(uid).await?;
            }
            let cluster = session.cluster().clone();
            let me = cluster.server_id.clone();
            let now = chrono::Local::now();
            let (hour, min, sec) = (now.hour(), now.minute(), now.second());
            if let Some(uid) = session.uid().cloned() {
                cluster.channels.add("clock", &uid, session.frontend_id());
                let push = json!({"hour": hour, "min": min, "sec": sec, "server": me});
                cluster.channels.push_message("clock", "onTime", push).await?;
            }
            session.set("lastTimeServer", json!(me));
            session.push("lastTimeServer").await?;
            Ok::<_, HandlerError>(json!({
                "code": 200, "hour": hour, "min": min, "sec": sec, "server": me, "uid": session.export.uid,
            }))
        })
        .on("timeHandler.fail", |_: Value, _session| async move {
            Err::<Value, _>(HandlerError::new("timeHandler.fail fails on purpose"))
        })
        .on("timeHandler.kickMe", |_: Value, session| async move {
            session.kick("bye").await?;
            Ok::<_, HandlerError>(json!({"code": 200}))
        });
}
