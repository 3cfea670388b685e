//! A Rust backend's sys remotes, in process: a fake frontend (a Rust acceptor serving
//! `sessionRemote`/`channelRemote` the way pomelo's connector answers them) records what our
//! handlers ask of it, while a connector-like client calls `msgRemote.forwardMessage`.

use std::sync::{Arc, Mutex};

use pomelo_interop::client::{ClientOptions, RpcClient, ServerInfo};
use pomelo_interop::cluster::{Cluster, HandlerError, Handlers};
use pomelo_interop::message::RpcMsg;
use pomelo_interop::server::{Acceptor, AcceptorOptions};
use pomelo_interop::server::{Remotes, Reply, demo};
use pomelo_interop::transport::Transport;
use serde_json::{Value, json};

type Log = Arc<Mutex<Vec<(String, Vec<Value>)>>>;

/// A frontend that answers like pomelo 2.2.7's connector and logs every sys call.
async fn fake_frontend(log: Log) -> Acceptor {
    let mut r = Remotes::new();
    for (svc, methods) in [
        ("sessionRemote", vec!["bind", "unbind", "push", "pushAll", "kickBySid", "kickByUid"]),
        ("channelRemote", vec!["broadcast"]),
    ] {
        for m in methods {
            let log = log.clone();
            let name = format!("{svc}.{m}");
            r.service("sys", svc).method_raw(m, move |_ctx, args| {
                log.lock().unwrap().push((name.clone(), args.values().unwrap()));
                async { Reply::Values(vec![]) } // success is an empty callback
            });
        }
    }
    let l = log.clone();
    r.service("sys", "channelRemote").method_raw("pushMessage", move |_ctx, args| {
        l.lock().unwrap().push(("channelRemote.pushMessage".into(), args.values().unwrap()));
        async { Reply::Values(vec![Value::Null, json!([])]) }
    });
    let l = log.clone();
    r.service("sys", "sessionRemote").method_raw("getBackendSessionBySid", move |_ctx, args| {
        l.lock().unwrap().push(("sessionRemote.getBackendSessionBySid".into(), args.values().unwrap()));
        async {
            Reply::Values(vec![
                Value::Null,
                json!({"id": 1, "frontendId": "connector-1", "uid": "alice", "settings": {}}),
            ])
        }
    });
    Acceptor::start(
        AcceptorOptions::new(Transport::Mqtt, "127.0.0.1:0".parse().unwrap()),
        r.into_dispatcher().unwrap(),
    )
    .await
    .unwrap()
}

struct Setup {
    caller: RpcClient,
    log: Log,
    _frontend: Acceptor,
    _backend: Acceptor,
}

async fn setup() -> Setup {
    let log: Log = Arc::default();
    let frontend = fake_frontend(log.clone()).await;
    // The backend's own client knows the frontend (the monitor would fill this in).
    let client = RpcClient::new(ClientOptions::new(Transport::Mqtt));
    let mut f = ServerInfo::new("connector-1", "connector", "127.0.0.1", frontend.local_addr().port());
    f.extra.insert("frontend".into(), json!("true"));
    client.add_server(f);
    let cluster = Cluster::new(client, "time-1", "time");
    let mut remotes = demo::remotes("time-1");
    let mut handlers = Handlers::new();
    pomelo_interop::cluster::demo::register(&mut handlers);
    handlers.on("testHandler.coded", |_: Value, _s| async move {
        Err::<Value, _>(HandlerError::with_response("nope", json!({"code": 501, "detail": "custom"})))
    });
    handlers.on("testHandler.typed", |body: TypedBody, s| async move {
        Ok::<_, HandlerError>(json!({"code": 200, "sum": body.a + body.b, "sid": s.export.id}))
    });
    handlers.serve(&mut remotes, cluster);
    let backend = Acceptor::start(
        AcceptorOptions::new(Transport::Mqtt, "127.0.0.1:0".parse().unwrap()),
        remotes.into_dispatcher().unwrap(),
    )
    .await
    .unwrap();
    let caller = RpcClient::new(ClientOptions::new(Transport::Mqtt));
    caller.add_server(ServerInfo::new("time-1", "time", "127.0.0.1", backend.local_addr().port()));
    Setup { caller, log, _frontend: frontend, _backend: backend }
}

#[derive(serde::Deserialize)]
struct TypedBody {
    a: i64,
    b: i64,
}

/// What a pomelo connector sends: `forwardMessage(msg, session.export())`.
async fn forward(s: &Setup, route: &str, body: Value, uid: Value, kind: u8) -> Vec<Value> {
    let msg =
        json!({"id": 4, "type": kind, "compressRoute": 0, "route": route, "body": body, "compressGzip": 0});
    let session = json!({"id": 7, "frontendId": "connector-1", "uid": uid, "settings": {"room": "r1"}});
    let m = RpcMsg::new("sys", "time", "msgRemote", "forwardMessage", vec![msg, session]);
    s.caller.call("time-1", m, None).await.unwrap()
}

#[tokio::test]
async fn forwarded_request_binds_pushes_and_answers() {
    let s = setup().await;
    let resp = forward(&s, "time.timeHandler.now", json!({"uid": "alice"}), Value::Null, 0).await;
    assert_eq!(resp.len(), 3, "{resp:?}");
    assert_eq!((resp[0].clone(), resp[2].clone()), (Value::Null, Value::Null));
    assert_eq!(resp[1]["code"], json!(200));
    assert_eq!(resp[1]["server"], json!("time-1"));
    assert_eq!(resp[1]["uid"], json!("alice"));
    let log = s.log.lock().unwrap().clone();
    let names: Vec<&str> = log.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["sessionRemote.bind", "channelRemote.pushMessage", "sessionRemote.push"], "{log:?}");
    assert_eq!(log[0].1, vec![json!(7), json!("alice")]);
    let push = &log[1].1;
    assert_eq!(push[0], json!("onTime"));
    assert_eq!(push[2], json!(["alice"]));
    assert_eq!(push[3], json!({"type": "push", "userOptions": {}, "isPush": true}));
    assert_eq!(log[2].1, vec![json!(7), json!("lastTimeServer"), json!("time-1")]);
}

#[tokio::test]
async fn errors_unknown_handlers_notifies_and_typed_bodies() {
    let s = setup().await;
    let r = forward(&s, "time.timeHandler.fail", json!({}), json!("bob"), 0).await;
    assert!(r[0]["stack"].as_str().unwrap().starts_with("Error: timeHandler.fail fails on purpose"), "{r:?}");
    assert_eq!((r[1].clone(), r.len()), (Value::Null, 3), "the connector turns this into {{code: 500}}");
    let r = forward(&s, "time.testHandler.coded", json!({}), json!("bob"), 0).await;
    assert_eq!(r[1], json!({"code": 501, "detail": "custom"}));
    let r = forward(&s, "time.nope.nope", json!({}), json!("bob"), 0).await;
    assert!(
        r[0]["stack"].as_str().unwrap().starts_with("Error: fail to find handler for time.nope.nope"),
        "{r:?}"
    );
    let r = forward(&s, "time.testHandler.typed", json!({"a": 2, "b": 3}), json!(10001), 0).await;
    assert_eq!(r[1], json!({"code": 200, "sum": 5, "sid": 7}));
    let r = forward(&s, "time.testHandler.typed", json!({"a": "x"}), json!(10001), 0).await;
    assert!(r[0]["stack"].as_str().unwrap().contains("bad body for testHandler.typed"), "{r:?}");
    // A notify runs the handler and is answered like a request, as pomelo 2.2.7 does (the
    // connector drops the answer; tests/compat_replay.rs checks it against a Node time server).
    let r = forward(&s, "time.timeHandler.kickMe", json!({}), json!("carol"), 1).await;
    assert_eq!(r, vec![Value::Null, json!({"code": 200}), Value::Null]);
    let log = s.log.lock().unwrap().clone();
    assert_eq!(log.last().unwrap(), &("sessionRemote.kickBySid".to_string(), vec![json!(7), json!("bye")]));
}

#[tokio::test]
async fn session_and_channel_services() {
    let s = setup().await;
    let client = RpcClient::new(ClientOptions::new(Transport::Mqtt));
    for srv in s.caller.servers() {
        client.add_server(srv);
    }
    let fport = s._frontend.local_addr().port();
    let mut f = ServerInfo::new("connector-1", "connector", "127.0.0.1", fport);
    f.extra.insert("frontend".into(), json!("true"));
    client.add_server(f);
    let cluster = Cluster::new(client, "time-2", "time");
    let sessions = cluster.sessions();
    let got = sessions.get_by_sid("connector-1", &json!(1)).await.unwrap().unwrap();
    assert_eq!((got.uid.clone(), got.frontend_id.as_str()), (json!("alice"), "connector-1"));
    sessions
        .push_all("connector-1", &json!(1), serde_json::Map::from_iter([("a".to_string(), json!(1))]))
        .await
        .unwrap();
    sessions.kick_by_uid("connector-1", &json!("alice"), "why").await.unwrap();
    cluster.channels.add("room", &json!("u1"), "connector-1");
    cluster.channels.add("room", &json!("u2"), "connector-1");
    assert!(cluster.channels.push_message("room", "onChat", json!({"t": "hi"})).await.unwrap().is_empty());
    cluster.channels.broadcast("connector", "onNews", json!({"n": 1}), true).await.unwrap();
    let log = s.log.lock().unwrap().clone();
    let find = |n: &str| log.iter().find(|(name, _)| name == n).map(|(_, a)| a.clone()).unwrap();
    assert_eq!(find("sessionRemote.pushAll"), vec![json!(1), json!({"a": 1})]);
    assert_eq!(find("sessionRemote.kickByUid"), vec![json!("alice"), json!("why")]);
    assert_eq!(
        find("channelRemote.pushMessage")[2],
        json!(["u1", "u2"]),
        "one call per frontend with all its uids"
    );
    let b = find("channelRemote.broadcast");
    assert_eq!(
        b[2],
        json!({"type": "broadcast", "userOptions": {}, "isBroadcast": true, "binded": true, "filterParam": null})
    );
}
