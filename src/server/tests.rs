use serde_json::{Value, json};

use super::*;
use crate::message::JsonArray;

fn peer() -> PeerInfo {
    PeerInfo { addr: "127.0.0.1:1".parse().unwrap(), conn: 1 }
}

async fn call(d: &Dispatcher, ns: &str, svc: &str, m: &str, args: Vec<Value>) -> Vec<Value> {
    d.handle(RpcMsg::new(ns, "t", svc, m, args), &peer()).await.values().unwrap()
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
        .method("half", |a: f64| async move { Ok::<_, RemoteError>(a / 2.0) })
        .method_raw("all", |_ctx, args| async move { Reply::ok_args(&args) });
    let d = r.into_dispatcher().unwrap();
    assert_eq!(call(&d, "user", "math", "add", vec![json!(2), json!(3)]).await, vec![json!(null), json!(5)]);
    assert_eq!(call(&d, "user", "math", "opt", vec![]).await, vec![json!(null), json!(true)]);
    assert_eq!(call(&d, "user", "math", "hms", vec![]).await, vec![json!(1), json!(2), json!(3)]);
    assert_eq!(
        call(&d, "user", "math", "all", vec![json!("a"), json!(1)]).await,
        vec![json!(null), json!("a"), json!(1)]
    );
    let bad = call(&d, "user", "math", "add", vec![json!("x")]).await;
    assert!(stack(&bad[0]).starts_with("Error: math.add: invalid argument 0"), "{bad:?}");
    // A value built on the Rust side leaves with JavaScript's number format.
    let half = d.handle(RpcMsg::new("user", "t", "math", "half", vec![json!(-0.0)]), &peer()).await;
    assert_eq!(half.as_str(), "[null,0]");
}

#[tokio::test]
async fn raw_handlers_keep_every_byte() {
    let mut r = Remotes::new();
    r.service("user", "e").method_raw("echo", |_ctx, args| async move { Reply::ok_args(&args) });
    let d = r.into_dispatcher().unwrap();
    let raw = crate::message::RawJson::from_slice(br#"["cut \ud83d", -0, 1e400]"#).unwrap();
    let msg = RpcMsg::new("user", "t", "e", "echo", JsonArray::from_raw(raw).unwrap());
    assert_eq!(d.handle(msg, &peer()).await.as_str(), r#"[null,"cut \ud83d", -0, 1e400]"#);
}

#[tokio::test]
async fn pomelo_dispatcher_texts() {
    let mut r = Remotes::new();
    r.service("user", "s").method("m", || async { Ok::<_, RemoteError>(1) });
    let d = r.into_dispatcher().unwrap();
    let e = call(&d, "nons", "s", "m", vec![]).await;
    assert!(stack(&e[0]).starts_with("Error: no such namespace:nons\n"));
    let e = call(&d, "user", "x", "m", vec![]).await;
    assert!(stack(&e[0]).starts_with("Error: no such service:x\n"));
    let e = call(&d, "user", "s", "nope", vec![]).await;
    assert_eq!(e[0]["msg"], json!("no such method:nope"));
    assert_eq!(e.len(), 1);
}

#[test]
fn a_method_registered_twice_is_an_error() {
    let mut r = Remotes::new();
    r.service("user", "s")
        .method("m", || async { Ok::<_, RemoteError>(1) })
        .method("m", || async { Ok::<_, RemoteError>(2) });
    assert!(matches!(r.into_dispatcher(), Err(ServerError::Duplicate(route)) if route == "user.s.m"));
}

#[test]
fn remote_error_shape() {
    let e = RemoteError::new("boom").with("code", 42).to_json("svc.m");
    assert_eq!(e["msg"], json!("boom"));
    assert_eq!(e["code"], json!(42));
    assert!(e["stack"].as_str().unwrap().starts_with("Error: boom\n    at svc.m"));
}
