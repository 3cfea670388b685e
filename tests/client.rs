//! The client at full strength against Rust acceptors on loopback: routing decisions, the
//! station (bounded waiting queue, failed connects, backoff, add/remove while calls run),
//! failure modes, tower layers on both sides, proxies — and that every call completes exactly
//! once (the least-active in-flight counts return to zero whatever happened).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{WAIT, count_calls, wait_until};

use pomelo_interop::client::router::{CrcFlavor, default_index};
use pomelo_interop::client::{
    Backoff, ClientError, ClientOptions, FailMode, RpcClient, Schedule, ServerInfo, Target,
};
use pomelo_interop::message::RpcMsg;
use pomelo_interop::server::{Acceptor, AcceptorOptions};
use pomelo_interop::server::{RemoteError, ServerStack, demo};
use pomelo_interop::transport::Transport;
use pomelo_interop::transport::TransportError;
use serde_json::{Value, json};

const T: Transport = Transport::Mqtt;

async fn server(id: &str) -> Acceptor {
    let opts = AcceptorOptions::new(T, "127.0.0.1:0".parse().unwrap());
    Acceptor::start(opts, demo::remotes(id).into_dispatcher().unwrap()).await.unwrap()
}

fn info(id: &str, addr: SocketAddr) -> ServerInfo {
    ServerInfo::new(id, "demo", "127.0.0.1", addr.port())
}

fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn opts() -> ClientOptions {
    let mut o = ClientOptions::new(T);
    o.default_timeout = Duration::from_secs(5);
    o.backoff = Backoff { min: Duration::from_millis(50), max: Duration::from_millis(200) };
    o
}

fn whoami() -> RpcMsg {
    RpcMsg::new("user", "demo", "echoRemote", "whoami", vec![])
}

fn sleep(ms: u64) -> RpcMsg {
    RpcMsg::new("user", "demo", "echoRemote", "sleep", vec![json!(ms)])
}

async fn who(client: &RpcClient, uid: &str) -> String {
    let r = client.call_routed(Some(json!({ "uid": uid })), whoami(), None).await.unwrap();
    r[1].as_str().unwrap().to_string()
}

/// Three servers; the default route sends each uid where pomelo's crc route says.
#[tokio::test]
async fn default_route_is_pomelo_exact() {
    let accs = [server("s-a").await, server("s-b").await, server("s-c").await];
    let ids = ["s-a", "s-b", "s-c"];
    let client = RpcClient::new(opts());
    for (id, acc) in ids.iter().zip(&accs) {
        client.add_server(info(id, acc.local_addr()));
    }
    for uid in ["", "a", "abc", "123456789", "alice", "bob", "carol", "10001", "é", "中文", "😀", "uid-42"]
    {
        let want = ids[default_index(CrcFlavor::Pomelo, uid, 3)];
        assert_eq!(who(&client, uid).await, want, "uid {uid:?}");
    }
    // No route parameter at all hashes '' → the first server.
    let r = client.call_routed(None, whoami(), None).await.unwrap();
    assert_eq!(r[1], json!("s-a"));
    // A type with no servers: pomelo's text.
    let none = RpcMsg::new("user", "nobody", "s", "m", vec![]);
    let e = client.call_routed(None, none, None).await.unwrap_err();
    assert!(e.to_string().contains("can not find server info for type:nobody"), "{e}");
}

#[tokio::test]
async fn schedules_rr_wrr_ch_and_custom() {
    let accs = [server("s-a").await, server("s-b").await, server("s-c").await];
    let ids = ["s-a", "s-b", "s-c"];
    let add = |client: &RpcClient, weights: [i64; 3]| {
        for ((id, acc), w) in ids.iter().zip(&accs).zip(weights) {
            let mut i = info(id, acc.local_addr());
            i.weight = Some(w);
            client.add_server(i);
        }
    };
    let rr = RpcClient::builder(opts(), Schedule::RoundRobin).build();
    add(&rr, [1, 1, 1]);
    let mut seq = vec![];
    for _ in 0..6 {
        seq.push(who(&rr, "x").await);
    }
    assert_eq!(seq, ["s-a", "s-b", "s-c", "s-a", "s-b", "s-c"]);

    let wrr = RpcClient::builder(opts(), Schedule::WeightedRoundRobin).build();
    add(&wrr, [3, 1, 2]);
    let mut counts = std::collections::HashMap::new();
    for _ in 0..12 {
        *counts.entry(who(&wrr, "x").await).or_insert(0) += 1;
    }
    assert_eq!((counts["s-a"], counts["s-b"], counts["s-c"]), (6, 2, 4), "{counts:?}");

    let ch =
        RpcClient::builder(opts(), Schedule::ConsistentHash { replicas: 100, hash_field_index: Some(0) })
            .build();
    add(&ch, [1, 1, 1]);
    for key in ["alpha", "beta", "gamma"] {
        let m = || RpcMsg::new("user", "demo", "echoRemote", "whoami", vec![json!(key)]);
        let first = ch.call_routed(None, m(), None).await.unwrap();
        for _ in 0..3 {
            assert_eq!(ch.call_routed(None, m(), None).await.unwrap(), first, "same key, same server");
        }
    }

    let custom = RpcClient::builder(
        opts(),
        Schedule::Custom(Arc::new(|ctx: &pomelo_interop::client::RouteContext| {
            Ok(ctx.servers.last().map(|s| s.id.clone()).unwrap_or_default())
        })),
    )
    .build();
    add(&custom, [1, 1, 1]);
    assert_eq!(who(&custom, "x").await, "s-c");
}

/// Least active counts calls in flight: with a slow call on one server, the next calls go to
/// the other; when it completes, the counts are even again.
#[tokio::test]
async fn least_active_counts_completions() {
    let (a, b) = (server("s-a").await, server("s-b").await);
    let client = RpcClient::builder(opts(), Schedule::LeastActive).build();
    client.add_server(info("s-a", a.local_addr()));
    client.add_server(info("s-b", b.local_addr()));
    let slow_target = who(&client, "x").await; // both at 0 → either
    let other = if slow_target == "s-a" { "s-b" } else { "s-a" };
    let slow = {
        let c = client.clone();
        let t = slow_target.clone();
        // Long enough to stay in flight through the five calls below on a loaded machine.
        tokio::spawn(async move { c.call(&t, sleep(2000), None).await })
    };
    wait_until("the slow call is in flight", WAIT, || client.in_flight(&slow_target) == 1).await;
    for _ in 0..5 {
        assert_eq!(who(&client, "x").await, other, "the busy server is avoided");
    }
    slow.await.unwrap().unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        seen.insert(who(&client, "x").await);
    }
    assert_eq!(seen.len(), 2, "after completion both are least active again");
}

/// `call_all` (toServer('*')) returns every server's result, errors included.
#[tokio::test]
async fn call_all_returns_every_result() {
    let (a, b) = (server("s-a").await, server("s-b").await);
    let client = RpcClient::new(opts());
    client.add_server(info("s-a", a.local_addr()));
    client.add_server(ServerInfo::new("s-dead", "demo", "127.0.0.1", dead_port()));
    client.add_server(info("s-b", b.local_addr()));
    let all = client.call_all(whoami(), None).await;
    let ids: Vec<&str> = all.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["s-a", "s-dead", "s-b"]);
    assert_eq!(all[0].1.as_ref().unwrap()[1], json!("s-a"));
    assert!(matches!(all[1].1, Err(ClientError::Transport(TransportError::Connect { .. }))));
    assert_eq!(all[2].1.as_ref().unwrap()[1], json!("s-b"));
}

/// A socket.io 0.9 "server" that accepts TCP and never answers the handshake: calls pile up
/// waiting for the connection, which lets the queue bound and the failed-connect path be seen.
async fn mute_server() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    addr
}

#[tokio::test]
async fn waiting_queue_is_bounded_and_a_failed_connect_fails_every_waiter() {
    let addr = mute_server().await;
    let mut o = ClientOptions::new(Transport::Sio09);
    o.pending_size = 5;
    o.mailbox.connect_timeout = Duration::from_millis(600);
    o.default_timeout = Duration::from_secs(10);
    let client = RpcClient::new(o);
    client.add_server(ServerInfo::new("mute-1", "demo", "127.0.0.1", addr.port()));
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.call("mute-1", whoami(), None).await })
        })
        .collect();
    wait_until("5 calls wait for mute-1's connection", WAIT, || client.waiting_calls("mute-1") == 5).await;
    assert_eq!(client.waiting_calls("mute-1"), 5);
    let started = Instant::now();
    let overflow = client.call("mute-1", whoami(), None).await;
    assert!(matches!(overflow, Err(ClientError::QueueFull { limit: 5, .. })), "{overflow:?}");
    assert!(started.elapsed() < Duration::from_millis(100), "overflow fails at once");
    let started = Instant::now();
    for c in calls {
        let r = c.await.unwrap();
        let e = r.unwrap_err();
        assert_eq!(e.server(), Some("mute-1"), "{e}");
        assert!(
            matches!(
                e,
                ClientError::Transport(TransportError::Handshake { .. }) | ClientError::Unreachable { .. }
            ),
            "{e:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(2), "all waiters fail with the one failed attempt");
    assert_eq!(client.waiting_calls("mute-1"), 0);
}

#[tokio::test]
async fn reconnect_after_backoff() {
    let port = dead_port();
    let client = RpcClient::new(opts());
    client.add_server(ServerInfo::new("late-1", "demo", "127.0.0.1", port));
    let e = client.call("late-1", whoami(), None).await.unwrap_err();
    assert!(matches!(e, ClientError::Transport(TransportError::Connect { .. })), "{e:?}");
    // Within the backoff: fails at once without a new attempt.
    let e = client.call("late-1", whoami(), None).await.unwrap_err();
    assert!(matches!(e, ClientError::Unreachable { .. }), "{e:?}");
    // The server comes up on that port; after the backoff the next call connects.
    let mut o = AcceptorOptions::new(T, format!("127.0.0.1:{port}").parse().unwrap());
    o.server_id = "late-1".into();
    let acc = Acceptor::start(o, demo::remotes("late-1").into_dispatcher().unwrap()).await.unwrap();
    // The backoff (at most 200 ms) is what is tested: jump tokio's clock past it, exactly and at
    // once, then let it run on (the connection below is real).
    tokio::time::pause();
    tokio::time::advance(Duration::from_millis(250)).await;
    tokio::time::resume();
    assert_eq!(client.call("late-1", whoami(), None).await.unwrap()[1], json!("late-1"));
    acc.shutdown().await;
}

#[tokio::test]
async fn add_and_remove_servers_while_calls_run() {
    let (a, b, c) = (server("s-a").await, server("s-b").await, server("s-c").await);
    let client = RpcClient::builder(opts(), Schedule::RoundRobin).build();
    client.add_server(info("s-a", a.local_addr()));
    client.add_server(info("s-b", b.local_addr()));
    // Slow calls pinned to s-b, then s-b is removed: they fail at once, naming it.
    let pinned: Vec<_> = (0..3)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.call("s-b", sleep(3000), None).await })
        })
        .collect();
    wait_until("3 calls pending on s-b", WAIT, || client.pending_calls("s-b") == 3).await;
    let started = Instant::now();
    client.remove_server("s-b");
    for p in pinned {
        let e = p.await.unwrap().unwrap_err();
        assert_eq!(e.server(), Some("s-b"), "{e:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    // Routers stop choosing it; a new server joins while calls run.
    let issued = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (c, n) = (client.clone(), issued.clone());
            tokio::spawn(async move {
                let mut seen = vec![];
                for _ in 0..30 {
                    n.fetch_add(1, Ordering::Relaxed);
                    seen.push(c.call_routed(None, whoami(), None).await.map(|r| r[1].clone()));
                    // Pacing: spreads the load so that s-c joins while it runs.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                seen
            })
        })
        .collect();
    // While calls run: a few are done, most (120 in all) are still to come.
    wait_until("the load has started", WAIT, || issued.load(Ordering::Relaxed) >= 8).await;
    client.add_server(info("s-c", c.local_addr()));
    let mut answers = vec![];
    for l in load {
        answers.extend(l.await.unwrap());
    }
    assert_eq!(answers.len(), issued.load(Ordering::Relaxed), "every call completed exactly once");
    assert!(answers.iter().all(|r| r.is_ok()), "{answers:?}");
    assert!(!answers.iter().any(|r| r.as_ref().unwrap() == "s-b"));
    assert!(answers.iter().any(|r| r.as_ref().unwrap() == "s-c"), "the new server gets calls");
    // replace_servers keeps what stays, drops what goes.
    client.replace_servers(vec![info("s-c", c.local_addr()), info("s-a", a.local_addr())]);
    let ids: Vec<String> = client.servers_of("demo").into_iter().map(|s| s.id).collect();
    assert_eq!(ids, ["s-a", "s-c"], "kept servers keep their place, new ones are appended");
    assert!(matches!(client.call("s-b", whoami(), None).await, Err(ClientError::UnknownServer(_))));
}

#[tokio::test]
async fn failure_modes() {
    let (a, b) = (server("s-a").await, server("s-b").await);
    let dead = dead_port();
    let table = |c: &RpcClient| {
        c.add_server(ServerInfo::new("s-dead", "demo", "127.0.0.1", dead));
        c.add_server(info("s-a", a.local_addr()));
        c.add_server(info("s-b", b.local_addr()));
    };
    // The empty uid routes to the first server, which is dead.
    let failfast = RpcClient::new(opts());
    table(&failfast);
    let e = failfast.call_routed(None, whoami(), None).await.unwrap_err();
    assert_eq!(e.server(), Some("s-dead"));

    let mut o = opts();
    o.fail_mode = FailMode::Failover;
    let failover = RpcClient::new(o);
    table(&failover);
    assert_eq!(failover.call_routed(None, whoami(), None).await.unwrap()[1], json!("s-a"));
    assert_eq!(failover.servers_of("demo").len(), 3, "failover does not shrink the table");
    // Remote errors are replies, not failures: no failover.
    let fail = RpcMsg::new("user", "demo", "echoRemote", "fail", vec![json!("no")]);
    let r = failover.call("s-a", fail, None).await.unwrap();
    assert_eq!(r[0]["msg"], json!("no"));
    // All down: pomelo's text.
    let mut o = opts();
    o.fail_mode = FailMode::Failover;
    let all_down = RpcClient::new(o);
    all_down.add_server(ServerInfo::new("d1", "demo", "127.0.0.1", dead_port()));
    all_down.add_server(ServerInfo::new("d2", "demo", "127.0.0.1", dead_port()));
    let e = all_down.call_routed(None, whoami(), None).await.unwrap_err();
    assert!(e.to_string().contains("rpc failed with all this type of servers, with serverType: demo"), "{e}");

    // failback: the same server comes back within the retries.
    let port = dead_port();
    let mut o = opts();
    o.fail_mode = FailMode::Failback;
    o.retries = 10;
    let failback = RpcClient::new(o);
    failback.add_server(ServerInfo::new("back-1", "demo", "127.0.0.1", port));
    let revive = tokio::spawn(async move {
        // A real wait, the scenario itself: the server is down for 300 ms while failback
        // retries over real sockets.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let o = AcceptorOptions::new(T, format!("127.0.0.1:{port}").parse().unwrap());
        Acceptor::start(o, demo::remotes("back-1").into_dispatcher().unwrap()).await.unwrap()
    });
    assert_eq!(failback.call("back-1", whoami(), None).await.unwrap()[1], json!("back-1"));
    revive.await.unwrap().shutdown().await;

    // failsafe: retries N times, delay × attempt apart, then gives up.
    let mut o = opts();
    o.fail_mode = FailMode::Failsafe;
    o.retries = 2;
    o.retry_delay = Duration::from_millis(100);
    let failsafe = RpcClient::new(o);
    failsafe.add_server(ServerInfo::new("never-1", "demo", "127.0.0.1", dead_port()));
    let started = Instant::now();
    assert!(failsafe.call("never-1", whoami(), None).await.is_err());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "100 + 200 ms of delays: {took:?}"
    );
}

/// Exactly once: after deadlines, refused connects, removals and remote errors, every
/// started call has finished (the least-active in-flight counts are back at zero).
#[tokio::test]
async fn every_call_completes_exactly_once() {
    let a = server("s-a").await;
    let client = RpcClient::builder(opts(), Schedule::LeastActive).build();
    client.add_server(info("s-a", a.local_addr()));
    client.add_server(ServerInfo::new("s-dead", "demo", "127.0.0.1", dead_port()));
    let mut tasks = vec![];
    for i in 0..40u64 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            match i % 4 {
                0 => c.call("s-a", sleep(2000), Some(Duration::from_millis(50))).await.is_err(),
                1 => c.call("s-dead", whoami(), None).await.is_err(),
                2 => {
                    // Lands on either server; completing at all is what counts here.
                    let _ = c.call_routed(None, whoami(), None).await;
                    true
                }
                _ => c
                    .call("s-a", RpcMsg::new("user", "demo", "echoRemote", "fail", vec![]), None)
                    .await
                    .is_ok(),
            }
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap());
    }
    assert_eq!(client.pending_calls("s-a"), 0);
    assert_eq!(
        (client.in_flight("s-a"), client.in_flight("s-dead")),
        (0, 0),
        "every started call finished once"
    );
}

/// tower layers around the call path: a before-filter that rewrites the target, one that
/// aborts, an after-filter, a deadline layer and load shedding over a concurrency limit.
#[tokio::test]
async fn client_filters_are_tower_layers() {
    use tower::ServiceBuilder;
    use tower::util::{MapRequestLayer, MapResponseLayer};
    let (a, b) = (server("s-a").await, server("s-b").await);
    let table = |c: &RpcClient| {
        c.add_server(info("s-a", a.local_addr()));
        c.add_server(info("s-b", b.local_addr()));
    };
    // Before: every call goes to s-b. After: the reply gets a marker.
    let client = RpcClient::builder(opts(), Schedule::Default(CrcFlavor::Pomelo))
        .layer(MapRequestLayer::new(|mut r: pomelo_interop::client::CallRequest| {
            r.target = Target::Server("s-b".into());
            r
        }))
        .layer(MapResponseLayer::new(|r: pomelo_interop::message::Resp| {
            let mut v = r.values().unwrap();
            v.push(json!("after"));
            pomelo_interop::message::Resp::from(v)
        }))
        .build();
    table(&client);
    assert_eq!(
        client.call("s-a", whoami(), None).await.unwrap(),
        vec![json!(null), json!("s-b"), json!("after")]
    );

    // Abort: a filter refuses calls to a service.
    let guard = tower::filter::FilterLayer::new(|r: pomelo_interop::client::CallRequest| {
        if r.msg.method == "fail" { Err(ClientError::Filter("no failing allowed".into())) } else { Ok(r) }
    });
    let client = RpcClient::builder(opts(), Schedule::RoundRobin).layer(guard).build();
    table(&client);
    let e = client
        .call("s-a", RpcMsg::new("user", "demo", "echoRemote", "fail", vec![]), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no failing allowed"), "{e}");
    assert!(client.call("s-a", whoami(), None).await.is_ok());

    // toobusy: one call at a time, the rest shed at once.
    let client = RpcClient::builder(opts(), Schedule::RoundRobin)
        .layer(ServiceBuilder::new().load_shed().concurrency_limit(1).into_inner())
        .build();
    table(&client);
    let busy = {
        let c = client.clone();
        // Long enough to hold the one permit through the next call on a loaded machine.
        tokio::spawn(async move { c.call("s-a", sleep(2000), None).await })
    };
    wait_until("the busy call holds the permit", WAIT, || client.pending_calls("s-a") == 1).await;
    let e = client.call("s-a", whoami(), None).await.unwrap_err();
    assert!(e.to_string().contains("too busy"), "{e}");
    busy.await.unwrap().unwrap();
    assert!(client.call("s-a", whoami(), None).await.is_ok());

    // A tower timeout layer.
    let client = RpcClient::builder(opts(), Schedule::RoundRobin)
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(100)))
        .build();
    table(&client);
    let e = client.call("s-a", sleep(1000), None).await.unwrap_err();
    assert!(e.to_string().contains("deadline elapsed"), "{e}");
}

/// The same on the server: load shedding and a filter around dispatch.
#[tokio::test]
async fn server_filters_are_tower_layers() {
    use tower::ServiceBuilder;
    // Innermost, under the concurrency limit: counts the calls being dispatched.
    let dispatched = Arc::new(AtomicUsize::new(0));
    let stack = ServerStack::new(demo::remotes("s-f").into_dispatcher().unwrap())
        .layer(count_calls(&dispatched))
        .layer(ServiceBuilder::new().load_shed().concurrency_limit(1).into_inner())
        .layer(tower::filter::FilterLayer::new(|c: pomelo_interop::server::ServerCall| {
            if c.msg.method == "fail" { Err(RemoteError::new("fail is disabled here")) } else { Ok(c) }
        }));
    let acc = Acceptor::start(AcceptorOptions::new(T, "127.0.0.1:0".parse().unwrap()), stack.into_handler())
        .await
        .unwrap();
    let client = RpcClient::new(opts());
    client.add_server(info("s-f", acc.local_addr()));
    let r =
        client.call("s-f", RpcMsg::new("user", "demo", "echoRemote", "fail", vec![]), None).await.unwrap();
    assert_eq!(r[0]["msg"], json!("fail is disabled here"));
    let slow = {
        let c = client.clone();
        // Long enough to hold the one permit through the next call on a loaded machine.
        tokio::spawn(async move { c.call("s-f", sleep(2000), None).await })
    };
    wait_until("the server dispatches the slow call", WAIT, || dispatched.load(Ordering::SeqCst) == 1).await;
    let r = client.call("s-f", whoami(), None).await.unwrap();
    assert_eq!(r[0]["msg"], json!("server too busy"), "{r:?}");
    assert_eq!(slow.await.unwrap().unwrap(), vec![json!(null), json!(2000)]);
    assert_eq!(client.call("s-f", whoami(), None).await.unwrap()[1], json!("s-f"));
}

#[tokio::test]
async fn typed_proxies() {
    let (a, b) = (server("s-a").await, server("s-b").await);
    let client = RpcClient::new(opts());
    client.add_server(info("s-a", a.local_addr()));
    client.add_server(info("s-b", b.local_addr()));
    let echo = client.method("user.demo.echoRemote.echo").unwrap();
    let s: String = echo.invoke(Some(json!({"uid": "alice"})), ("hi",)).await.unwrap();
    assert_eq!(s, "hi");
    let n: u32 = client.method("user.demo.echoRemote.sleep").unwrap().invoke_on("s-b", (5,)).await.unwrap();
    assert_eq!(n, 5);
    let fail = client.method("user.demo.echoRemote.fail").unwrap();
    match fail.invoke::<_, Value>(None, ("boom",)).await {
        Err(pomelo_interop::client::proxy::CallError::Remote(e)) => assert_eq!(e["msg"], json!("boom")),
        other => panic!("{other:?}"),
    }
    let all = client.method("user.demo.echoRemote.whoami").unwrap().to_all(vec![]).await;
    assert_eq!(all.len(), 2);
    assert!(client.method("user.demo.echoRemote").is_err());
}

/// With tokio's paused clock a 30 s deadline fires at exactly 30 s of virtual time, at once,
/// and leaves nothing pending.
#[tokio::test]
async fn deadline_is_exact_with_a_paused_clock() {
    let a = server("s-a").await;
    let client = RpcClient::new(opts());
    client.add_server(info("s-a", a.local_addr()));
    client.call("s-a", whoami(), None).await.unwrap();
    tokio::time::pause();
    let started = tokio::time::Instant::now();
    let wall = Instant::now();
    let e = client.call("s-a", sleep(60_000), Some(Duration::from_secs(30))).await.unwrap_err();
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(30) && took < Duration::from_millis(30_100), "{took:?}");
    assert!(wall.elapsed() < Duration::from_secs(5), "virtual time, not real time");
    match e {
        ClientError::Timeout { server, ms, route } => {
            assert_eq!((server.as_str(), ms, route.as_str()), ("s-a", 30_000, "user.demo.echoRemote.sleep"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.pending_calls("s-a"), 0);
}
