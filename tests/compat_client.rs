//! The client against a mixed pool of live Node acceptors (pomelo-rpc 1.0.7, mqtt) and a Rust
//! acceptor of the same type: the Rust default route lands where the Node client's default
//! router lands, and a Node acceptor killed under load shows failfast and failover.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{NodeProc, WAIT, node_run, node_server, wait_until, wait_until_async};
use pomelo_interop::client::router::{CrcFlavor, default_index};
use pomelo_interop::client::{ClientError, ClientOptions, FailMode, RpcClient, ServerInfo};
use pomelo_interop::message::RpcMsg;
use pomelo_interop::server::demo;
use pomelo_interop::server::{Acceptor, AcceptorOptions};
use pomelo_interop::transport::Transport;
use serde_json::{Value, json};

const UIDS: &[&str] = &[
    "",
    "a",
    "abc",
    "alice",
    "bob",
    "carol",
    "dave",
    "10001",
    "123456789",
    "uid-42",
    "é",
    "中文",
    "😀",
    "player#7",
    "x1",
    "x2",
    "x3",
    "x4",
    "x5",
    "x6",
];

struct Pool {
    nodes: Vec<Option<NodeProc>>,
    _rust: Acceptor,
    servers: Vec<ServerInfo>,
}

/// [node-a, rust-b, node-c], in that order.
async fn pool() -> Pool {
    let (a, pa) = node_server(&["--impl", "rpc10", "--transport", "mqtt", "--port", "0", "--id", "node-a"]);
    let (c, pc) = node_server(&["--impl", "rpc10", "--transport", "mqtt", "--port", "0", "--id", "node-c"]);
    let mut o = AcceptorOptions::new(Transport::Mqtt, "127.0.0.1:0".parse().unwrap());
    o.server_id = "rust-b".into();
    let rust = Acceptor::start(o, demo::remotes("rust-b").into_dispatcher().unwrap()).await.unwrap();
    let rb: SocketAddr = rust.local_addr();
    let servers = vec![
        ServerInfo::new("node-a", "demo", "127.0.0.1", pa),
        ServerInfo::new("rust-b", "demo", "127.0.0.1", rb.port()),
        ServerInfo::new("node-c", "demo", "127.0.0.1", pc),
    ];
    Pool { nodes: vec![Some(a), Some(c)], _rust: rust, servers }
}

fn client(pool: &Pool, mode: FailMode) -> RpcClient {
    let mut o = ClientOptions::new(Transport::Mqtt);
    o.fail_mode = mode;
    o.default_timeout = Duration::from_secs(5);
    let c = RpcClient::new(o);
    for s in &pool.servers {
        c.add_server(s.clone());
    }
    c
}

fn whoami() -> RpcMsg {
    RpcMsg::new("user", "demo", "echoRemote", "whoami", vec![])
}

async fn routed(c: &RpcClient, uid: &str) -> Result<String, ClientError> {
    let r = c.call_routed(Some(json!({ "uid": uid })), whoami(), None).await?;
    Ok(r[1].as_str().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_and_node_default_routes_agree() {
    let pool = pool().await;
    let servers: Vec<Value> =
        pool.servers.iter().map(|s| json!({"id": s.id, "host": s.host, "port": s.port})).collect();
    let servers = Value::Array(servers).to_string();
    let uids = UIDS.join(",");
    let run = tokio::task::spawn_blocking(move || {
        node_run("route-check", &["--servers", &servers, "--uids", &uids], Duration::from_secs(60))
    })
    .await
    .unwrap();
    assert!(run.status.success(), "Node route-check failed:\n{}", run.stdout);
    let node_picks: Vec<(String, String)> = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| (v["uid"].as_str().unwrap().to_string(), v["picked"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(node_picks.len(), UIDS.len(), "{}", run.stdout);
    let rust = client(&pool, FailMode::Failfast);
    let mut spread = std::collections::HashSet::new();
    for (uid, node_pick) in &node_picks {
        let rust_pick = routed(&rust, uid).await.unwrap();
        let formula = &pool.servers[default_index(CrcFlavor::Pomelo, uid, 3)].id;
        assert_eq!(&rust_pick, node_pick, "uid {uid:?}: Rust and Node disagree");
        assert_eq!(&rust_pick, formula, "uid {uid:?}");
        spread.insert(rust_pick);
    }
    assert_eq!(spread.len(), 3, "the uids spread over all three servers");
}

/// Routed load; node-a dies halfway. failfast: its uids fail (naming it), the others keep
/// working. failover: its uids move to the next server of the table and succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_acceptor_killed_under_load() {
    let mut pool = pool().await;
    let failfast = client(&pool, FailMode::Failfast);
    let failover = client(&pool, FailMode::Failover);
    let a_uids: Vec<&str> =
        UIDS.iter().copied().filter(|u| default_index(CrcFlavor::Pomelo, u, 3) == 0).collect();
    assert!(a_uids.len() >= 3);
    for u in UIDS {
        routed(&failfast, u).await.unwrap();
        routed(&failover, u).await.unwrap();
    }
    let killer = pool.nodes[0].take();
    drop(killer); // node-a is killed (by pid) here
    // The failover client has seen node-a's connection end: a call on it, sent before that, would
    // fail as maybe delivered (not failed over).
    wait_until_async("the failover client fails node-a's uids over", WAIT, async || {
        routed(&failover, a_uids[0]).await.is_ok_and(|id| id == "rust-b")
    })
    .await;
    for round in 0..3 {
        for u in UIDS {
            let home = &pool.servers[default_index(CrcFlavor::Pomelo, u, 3)].id;
            match routed(&failfast, u).await {
                Ok(id) => assert_eq!(&id, home, "round {round} uid {u:?}"),
                Err(e) => {
                    assert_eq!(home, "node-a", "only node-a's uids may fail: {u:?} {e}");
                    assert_eq!(e.server(), Some("node-a"), "{e}");
                }
            }
            let id = routed(&failover, u).await.unwrap_or_else(|e| panic!("failover {u:?}: {e}"));
            if home == "node-a" {
                assert_eq!(id, "rust-b", "the next server in table order");
            } else {
                assert_eq!(&id, home);
            }
        }
    }
    for u in &a_uids {
        assert!(routed(&failfast, u).await.is_err(), "failfast does not hide a dead server");
    }
    assert_eq!(failover.servers_of("demo").len(), 3, "the table is not shrunk");
}

/// Servers join and leave a live pool while calls run; every call completes once and none
/// goes to a removed server after its removal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_and_remove_live_servers_during_load() {
    let pool = pool().await;
    let c = RpcClient::new(ClientOptions::new(Transport::Mqtt));
    c.add_server(pool.servers[0].clone());
    c.add_server(pool.servers[1].clone());
    let done = Arc::new(AtomicUsize::new(0));
    // node-a leaves between two calls of the load: `remove_server` fails a call in flight to it
    // (tests/client.rs covers that), and here every call must be answered.
    let (paused_tx, mut paused_rx) = tokio::sync::mpsc::channel::<()>(1);
    let (resume_tx, mut resume_rx) = tokio::sync::mpsc::channel::<()>(1);
    let load = {
        let (c, done) = (c.clone(), done.clone());
        tokio::spawn(async move {
            let mut out = vec![];
            for i in 0..300 {
                if i == 100 {
                    paused_tx.send(()).await.unwrap();
                    resume_rx.recv().await.unwrap();
                }
                let uid = format!("u{i}");
                out.push(routed(&c, &uid).await);
                done.fetch_add(1, Ordering::SeqCst);
                // Pacing: spreads the load so that node-c joins while it runs.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            out
        })
    };
    // While calls run: a server joins after 50 of the 300 calls, one leaves after 100.
    wait_until("50 calls done", WAIT, || done.load(Ordering::SeqCst) >= 50).await;
    c.add_server(pool.servers[2].clone());
    paused_rx.recv().await.expect("the load pauses after 100 calls");
    c.remove_server("node-a");
    resume_tx.send(()).await.unwrap();
    let after_removal = c.servers_of("demo").len();
    let results = load.await.unwrap();
    assert_eq!(results.len(), 300);
    let ok: Vec<String> = results.into_iter().map(|r| r.unwrap()).collect();
    assert!(ok.iter().any(|id| id == "node-c"), "the added server got calls");
    assert_eq!(after_removal, 2);
    assert_eq!(
        ok.iter().rev().take(50).filter(|id| *id == "node-a").count(),
        0,
        "no calls to node-a after removal"
    );
}
