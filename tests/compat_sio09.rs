//! socket.io 0.9 against live pomelo-rpc 0.4.11 (socket.io 0.9.16 on Node 20 with the
//! EventEmitter shim), both directions: the corpus plain and buffered, heartbeats on idle
//! connections, the xhr-polling fallback and the whitelist. Fails, never skips, when the Node
//! peers are not installed.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{
    Target, WAIT, assert_node_cases, assert_node_corpus, client_for, compat_dir, node_run, node_server,
    rust_corpus, wait_until,
};
use pomelo_interop::client::{ClientError, Mailbox, MailboxOptions};
use pomelo_interop::message::RpcMsg;
use pomelo_interop::server::{Acceptor, AcceptorOptions, demo};
use pomelo_interop::transport::{Heartbeat, Transport};
use serde_json::json;

/// A Rust socket.io 0.9 acceptor with the demo remotes, configured by `tweak`.
async fn rust_acceptor(tweak: impl FnOnce(&mut AcceptorOptions)) -> Acceptor {
    let mut opts = AcceptorOptions::new(Transport::Sio09, "127.0.0.1:0".parse().unwrap());
    tweak(&mut opts);
    Acceptor::start(opts, demo::remotes("rust-1").into_dispatcher().unwrap()).await.expect("acceptor starts")
}

/// Runs the Node corpus (rpc04 ws client) with extra args against a Rust acceptor.
async fn node_corpus_against(acc: Acceptor, extra: &[&str], min_cases: usize) {
    compat_dir();
    let port = acc.local_addr().port();
    let mut args = vec!["--impl".to_string(), "rpc04".into(), "--transport".into(), "ws".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if min_cases >= 10 {
            assert_node_corpus(&args, port)
        } else {
            assert_node_cases(&args, port, min_cases)
        }
    })
    .await
    .unwrap();
    acc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_mailbox_to_rust_acceptor() {
    node_corpus_against(rust_acceptor(|_| {}).await, &[], 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_mailbox_buffered_to_rust_acceptor() {
    node_corpus_against(rust_acceptor(|_| {}).await, &["--buffer"], 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_mailbox_to_buffered_rust_acceptor() {
    node_corpus_against(rust_acceptor(|o| o.buffer_msg = true).await, &[], 12).await;
}

/// The acceptor advertises only xhr-polling: the Node client long-polls and POSTs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_mailbox_over_xhr_polling() {
    let acc = rust_acceptor(|o| o.sio09.transports = vec!["xhr-polling".into()]).await;
    node_corpus_against(acc, &[], 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_mailbox_over_xhr_polling_buffered_both() {
    let acc = rust_acceptor(|o| {
        o.sio09.transports = vec!["xhr-polling".into()];
        o.buffer_msg = true;
    })
    .await;
    node_corpus_against(acc, &["--buffer"], 12).await;
}

/// Heartbeat every 1 s, timeout 3 s: a Node client idle for 10 s stays connected and the next
/// call goes over the same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_mailbox_idle_stays_connected() {
    let acc = rust_acceptor(|o| {
        o.sio09.heartbeat = Heartbeat { interval: Duration::from_secs(1), timeout: Duration::from_secs(3) };
    })
    .await;
    node_corpus_against(acc, &["--cases", "idle", "--idle", "10000"], 1).await;
}

/// The whitelist is checked on every new connection: a non-matching pattern refuses the
/// Node client (it never gets a reply), a matching one (either address form) admits it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whitelist_refuses_and_admits_node_clients() {
    compat_dir();
    let refused = rust_acceptor(|o| o.whitelist = vec![r"^10\.".into()]).await;
    let port = refused.local_addr().port().to_string();
    let run = tokio::task::spawn_blocking(move || {
        node_run(
            "corpus",
            &[
                "--impl",
                "rpc04",
                "--transport",
                "ws",
                "--port",
                &port,
                "--cases",
                "echo-empty",
                "--timeout",
                "2000",
            ],
            Duration::from_secs(60),
        )
    })
    .await
    .unwrap();
    assert!(!run.status.success(), "a refused client must not succeed:\n{}", run.stdout);
    assert!(run.stdout.contains(r#""ok":false"#), "{}", run.stdout);
    refused.shutdown().await;

    for pattern in [r"^127\.0\.0\.1$", r"^::ffff:127\.0\.0\.1$"] {
        let admitted = rust_acceptor(|o| o.whitelist = vec![r"^10\.".into(), pattern.into()]).await;
        node_corpus_against(admitted, &["--cases", "echo-empty,echo-multi"], 2).await;
    }
}

async fn rust_to_node(server_args: &[&str], client_buffer: bool) {
    let mut args = vec!["--impl", "rpc04", "--transport", "ws", "--port", "0"];
    args.extend_from_slice(server_args);
    let (node, port) = node_server(&args);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let client = client_for(Transport::Sio09, addr, client_buffer);
    let failures = rust_corpus(&client, Target::Pomelo).await;
    assert!(failures.is_empty(), "{} failures:\n{}", node.name, failures.join("\n"));
    let never = RpcMsg::new("user", "demo", "echoRemote", "never", vec![]);
    match client.call("rust-1", never, Some(Duration::from_millis(300))).await {
        Err(ClientError::Timeout { .. }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(client.pending_calls("rust-1"), 0);
    client.close();
}

#[tokio::test]
async fn rust_mailbox_to_node_acceptor() {
    rust_to_node(&[], false).await;
}

#[tokio::test]
async fn rust_mailbox_to_node_acceptor_buffered_both() {
    rust_to_node(&["--buffer"], true).await;
}

/// Node acceptor with a 1 s heartbeat and 3 s timeout: our mailbox answers every `2::`, so
/// after 10 s idle the connection is still up and carries the next call.
#[tokio::test]
async fn rust_mailbox_idle_against_node_heartbeats() {
    let (node, port) = node_server(&[
        "--impl",
        "rpc04",
        "--transport",
        "ws",
        "--port",
        "0",
        "--heartbeat-interval",
        "1",
        "--heartbeat-timeout",
        "3",
    ]);
    let mb =
        Mailbox::connect("node-ws-1", &format!("127.0.0.1:{port}"), MailboxOptions::new(Transport::Sio09))
            .await
            .unwrap();
    let echo = |s: &str| RpcMsg::new("user", "demo", "echoRemote", "echo", vec![json!(s)]);
    assert_eq!(
        mb.call(echo("before"), Duration::from_secs(5)).await.unwrap(),
        vec![json!(null), json!("before")]
    );
    // A real wait: 10 s idle is what is tested, against the Node acceptor's own heartbeat timers.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!mb.is_closed(), "{}: connection dropped while idle", node.name);
    assert_eq!(
        mb.call(echo("after"), Duration::from_secs(5)).await.unwrap(),
        vec![json!(null), json!("after")]
    );
    mb.close();
}

/// The Node acceptor dies while a call is pending: the call fails at once, naming the server.
#[tokio::test]
async fn node_acceptor_death_fails_pending_calls_at_once() {
    let (node, port) = node_server(&["--impl", "rpc04", "--transport", "ws", "--port", "0"]);
    let mb =
        Mailbox::connect("node-ws-1", &format!("127.0.0.1:{port}"), MailboxOptions::new(Transport::Sio09))
            .await
            .unwrap();
    let sleep = RpcMsg::new("user", "demo", "echoRemote", "sleep", vec![json!(20_000)]);
    let call = mb.call(sleep, Duration::from_secs(30));
    let kill = async {
        wait_until("the call is pending", WAIT, || mb.pending() == 1).await;
        drop(node);
    };
    let started = std::time::Instant::now();
    let (r, ()) = tokio::join!(call, kill);
    assert!(started.elapsed() < Duration::from_secs(5), "failed at once, not at the deadline");
    match r {
        Err(ClientError::Closed { server, .. }) => assert_eq!(server, "node-ws-1"),
        other => panic!("expected a closed-connection error, got {other:?}"),
    }
}
