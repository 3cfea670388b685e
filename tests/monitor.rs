//! The monitor agent against a scripted master speaking pomelo-admin 1.0.1 over MQTT: the
//! register/subscribe/record handshake, once- and twice-encoded JSON, watchdog and console
//! requests, duplicate requests with string reqIds, refusal, and reconnecting with `reconnect`.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pomelo_interop::client::{ClientOptions, RpcClient, ServerInfo};
use pomelo_interop::cluster::monitor::parse_maybe_twice;
use pomelo_interop::cluster::{ClusterError, JoinConfig, Monitor, MonitorTimings, StopReason};
use pomelo_interop::transport::Transport;
use pomelo_interop::wire::mqtt::{MqttCodec, Packet};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

type Conn = Framed<TcpStream, MqttCodec>;

fn cfg(master: &str) -> JoinConfig {
    let mut me = ServerInfo::new("time-9", "time", "127.0.0.1", 6059);
    me.extra.insert("auto-restart".into(), json!("true"));
    JoinConfig {
        master: master.into(),
        me,
        token: Some("tok".into()),
        env: "development".into(),
        main: None,
        flavor: Default::default(),
    }
}

fn timings() -> MonitorTimings {
    MonitorTimings {
        ping: Duration::from_secs(60),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
        handshake: Duration::from_secs(3),
    }
}

async fn next_publish(c: &mut Conn) -> (String, Value) {
    loop {
        let p =
            tokio::time::timeout(Duration::from_secs(5), c.next()).await.expect("a packet").unwrap().unwrap();
        if let Packet::Publish { topic, payload, .. } = p {
            return (topic, parse_maybe_twice(&payload).unwrap());
        }
    }
}

async fn send(c: &mut Conn, topic: &str, v: &Value, twice: bool) {
    let payload = if twice {
        serde_json::to_vec(&Value::String(v.to_string())).unwrap()
    } else {
        serde_json::to_vec(v).unwrap()
    };
    c.send(Packet::publish(topic, payload)).await.unwrap();
}

async fn accept(l: &TcpListener) -> Conn {
    let (s, _) = l.accept().await.unwrap();
    let mut c = Framed::new(s, MqttCodec::default());
    match c.next().await.unwrap().unwrap() {
        Packet::Connect { client_id, keep_alive, .. } => {
            assert!(client_id.starts_with("MQTT_ADMIN_"), "{client_id}");
            assert_eq!(keep_alive, 0);
        }
        other => panic!("expected CONNECT, got {other:?}"),
    }
    c.send(Packet::ConnAck { session_present: false, code: 0 }).await.unwrap();
    c
}

#[tokio::test]
async fn handshake_watchdog_console_and_reconnect() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let client = RpcClient::new(ClientOptions::new(Transport::Mqtt));
    let master = async {
        let mut c = accept(&l).await;
        let (topic, reg) = next_publish(&mut c).await;
        assert_eq!(topic, "register");
        assert_eq!(
            (reg["type"].clone(), reg["token"].clone(), reg["serverType"].clone()),
            (json!("monitor"), json!("tok"), json!("time"))
        );
        assert_eq!(reg["info"]["port"], json!(6059));
        assert!(reg["info"].get("auto-restart").is_none(), "never auto-restart: {reg}");
        send(&mut c, "register", &json!({"code": 1, "msg": "ok"}), false).await;
        let (_, sub) = next_publish(&mut c).await;
        assert_eq!(sub["moduleId"], json!("__masterwatcher__"));
        assert_eq!(sub["body"], json!({"action": "subscribe", "id": "time-9"}));
        let map = json!({
            "connector-1": {"id": "connector-1", "serverType": "connector", "host": "127.0.0.1", "port": 3150, "frontend": "true", "pid": 1},
            "time-9": {"id": "time-9", "serverType": "time", "host": "127.0.0.1", "port": 6059, "pid": 2},
        });
        send(&mut c, "monitor", &json!({"respId": sub["reqId"], "body": map}), true).await;
        let (_, rec) = next_publish(&mut c).await;
        assert_eq!(
            rec,
            json!({"moduleId": "__masterwatcher__", "body": {"action": "record", "id": "time-9"}})
        );
        c
    };
    let (monitor, c) = tokio::join!(Monitor::join(cfg(&addr), client.clone(), timings()), master);
    let mut monitor = monitor.unwrap();
    let mut c = c;
    assert_eq!(client.servers_of("connector")[0].extra["frontend"], json!("true"));

    // addServer, twice-encoded with a numeric reqId; then the same request re-sent as "7".
    let add = json!({"reqId": 7, "moduleId": "__monitorwatcher__", "body": {"action": "addServer", "server": {"id": "time-8", "serverType": "time", "host": "127.0.0.1", "port": 6058}}});
    send(&mut c, "monitor", &add, true).await;
    assert_eq!(next_publish(&mut c).await.1, json!({"respId": 7, "error": 1}));
    let mut dup = add.clone();
    dup["reqId"] = json!("7");
    send(&mut c, "monitor", &dup, true).await;
    assert_eq!(next_publish(&mut c).await.1, json!({"respId": "7", "error": 1}));
    let ids: Vec<String> = client.servers_of("time").into_iter().map(|s| s.id).collect();
    assert_eq!(ids, ["time-9", "time-8"], "arrival order kept, the duplicate applied once");
    send(&mut c, "monitor", &json!({"reqId": 8, "moduleId": "__monitorwatcher__", "body": {"action": "removeServer", "id": "time-8"}}), false).await;
    assert_eq!(next_publish(&mut c).await.1["respId"], json!(8));
    assert_eq!(client.servers_of("time").len(), 1);
    // Notifies that need no answer, then a console list and an unknown module.
    send(&mut c, "monitor", &json!({"moduleId": "systemInfo"}), false).await;
    send(&mut c, "monitor", &json!({"command": "enable", "moduleId": "x"}), false).await;
    send(
        &mut c,
        "monitor",
        &json!({"reqId": 9, "moduleId": "__console__", "body": {"signal": "list"}}),
        true,
    )
    .await;
    let (_, list) = next_publish(&mut c).await;
    assert_eq!(list["respId"], json!(9));
    assert_eq!(list["error"]["serverId"], json!("time-9"));
    let rss: f64 = list["error"]["body"]["rss"].as_str().unwrap().parse().unwrap();
    assert!(rss > 0.0, "real memory figures: {list}");
    send(&mut c, "monitor", &json!({"reqId": 10, "moduleId": "nosuch", "body": {}}), false).await;
    assert_eq!(next_publish(&mut c).await.1, json!({"respId": 10, "error": "unknown moduleId:nosuch"}));

    // The master dies; the agent comes back with `reconnect` (no token) and takes the
    // replaceServer that follows.
    drop(c);
    let mut c = accept(&l).await;
    let (topic, rec) = next_publish(&mut c).await;
    assert_eq!(topic, "reconnect");
    assert!(rec.get("token").is_none());
    assert_eq!(rec["id"], json!("time-9"));
    send(&mut c, "reconnect_ok", &json!({"code": 1, "msg": "ok"}), false).await;
    let servers =
        json!({"time-9": {"id": "time-9", "serverType": "time", "host": "127.0.0.1", "port": 6059}});
    send(&mut c, "monitor", &json!({"reqId": "3", "moduleId": "__monitorwatcher__", "body": {"action": "replaceServer", "servers": servers}}), true).await;
    assert_eq!(next_publish(&mut c).await.1, json!({"respId": "3", "error": 1}));
    assert!(client.servers_of("connector").is_empty(), "table replaced");
    // A restarted master counts from 1 again: an old id is a new request, not a duplicate.
    send(
        &mut c,
        "monitor",
        &json!({"reqId": 7, "moduleId": "__console__", "body": {"signal": "list"}}),
        true,
    )
    .await;
    let (_, fresh) = next_publish(&mut c).await;
    assert_eq!(fresh["error"]["serverId"], json!("time-9"), "{fresh}");

    // kill: answered with our id, then we are asked to go.
    send(
        &mut c,
        "monitor",
        &json!({"reqId": 11, "moduleId": "__console__", "body": {"signal": "kill"}}),
        true,
    )
    .await;
    assert_eq!(next_publish(&mut c).await.1, json!({"respId": 11, "error": "time-9"}));
    let reason = tokio::time::timeout(Duration::from_secs(2), monitor.stopped()).await.unwrap();
    assert_eq!(reason, StopReason::Kill);
    monitor.leave();
}

#[tokio::test]
async fn refused_registration_is_an_error() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let master = async {
        let mut c = accept(&l).await;
        let _ = next_publish(&mut c).await;
        send(&mut c, "register", &json!({"code": -1, "msg": "server auth failed"}), false).await;
        c.send(Packet::Disconnect).await.unwrap();
    };
    let client = RpcClient::new(ClientOptions::new(Transport::Mqtt));
    let (r, ()) = tokio::join!(Monitor::join(cfg(&addr), client, timings()), master);
    match r {
        Err(e @ ClusterError::Refused(_)) => {
            let text = e.to_string();
            assert!(text.contains("server auth failed") && text.contains("adminServer.json"), "{text}");
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("registration must fail"),
    }
}

#[tokio::test]
async fn no_master_fails_at_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = RpcClient::new(ClientOptions::new(Transport::Mqtt));
    let started = std::time::Instant::now();
    let r = Monitor::join(cfg(&format!("127.0.0.1:{port}")), client, timings()).await;
    assert!(matches!(r, Err(ClusterError::Master(_))));
    assert!(started.elapsed() < Duration::from_secs(2));
}
