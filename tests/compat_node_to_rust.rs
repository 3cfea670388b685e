//! Live Node mailboxes (pomelo-rpc 0.4.11 tcp, 1.0.7 mqtt, pinus-rpc 1.7.4 mqtt and tcp) call
//! the Rust acceptor's demo remotes with the shared corpus. Fails, never skips, when the Node
//! peers are not installed.

mod common;

use common::{assert_node_cases, assert_node_corpus, compat_dir, demo_acceptor};
use pomelo_interop::transport::Transport;

/// Serves the demo remotes and runs the Node corpus client against them.
async fn node_calls_rust(transport: Transport, server_buffer: bool, node_args: &[&str]) {
    compat_dir();
    let acc = demo_acceptor(transport, server_buffer).await;
    let port = acc.local_addr().port();
    let args: Vec<String> = node_args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_node_corpus(&args, port);
    })
    .await
    .unwrap();
    acc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pomelo_rpc_04_tcp_mailbox() {
    node_calls_rust(Transport::Tcp, false, &["--impl", "rpc04", "--transport", "tcp"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pomelo_rpc_04_tcp_mailbox_buffered() {
    node_calls_rust(Transport::Tcp, false, &["--impl", "rpc04", "--transport", "tcp", "--buffer"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pomelo_rpc_04_tcp_mailbox_buffered_server() {
    node_calls_rust(Transport::Tcp, true, &["--impl", "rpc04", "--transport", "tcp"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pomelo_rpc_10_mqtt_mailbox() {
    node_calls_rust(Transport::Mqtt, false, &["--impl", "rpc10", "--transport", "mqtt"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pomelo_rpc_10_mqtt_mailbox_buffered() {
    node_calls_rust(Transport::Mqtt, false, &["--impl", "rpc10", "--transport", "mqtt", "--buffer"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pomelo_rpc_10_mqtt_mailbox_buffered_server() {
    node_calls_rust(Transport::Mqtt, true, &["--impl", "rpc10", "--transport", "mqtt"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinus_rpc_mqtt_mailbox() {
    node_calls_rust(Transport::Mqtt, false, &["--impl", "pinus", "--transport", "mqtt"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinus_rpc_mqtt_mailbox_buffered() {
    node_calls_rust(Transport::Mqtt, false, &["--impl", "pinus", "--transport", "mqtt", "--buffer"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinus_rpc_tcp_mailbox() {
    node_calls_rust(Transport::PinusTcp, false, &["--impl", "pinus", "--transport", "tcp"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinus_rpc_tcp_mailbox_buffered() {
    node_calls_rust(Transport::PinusTcp, true, &["--impl", "pinus", "--transport", "tcp", "--buffer"]).await;
}

/// The 1.0.7 mailbox pings every period and closes after two without PINGRESP: idle for five
/// periods against the Rust acceptor, the same mailbox must still be open and working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pomelo_rpc_10_mqtt_mailbox_keepalive() {
    compat_dir();
    let acc = demo_acceptor(Transport::Mqtt, false).await;
    let port = acc.local_addr().port();
    tokio::task::spawn_blocking(move || {
        let args =
            ["--impl", "rpc10", "--transport", "mqtt", "--keepalive", "200", "--cases", "keepalive-idle"];
        assert_node_cases(&args, port, 1);
    })
    .await
    .unwrap();
    acc.shutdown().await;
}
