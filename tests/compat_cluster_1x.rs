//! A live pomelo 1.2.3 cluster (`compat-tests/cluster-1x/`, its own npm project) in which the
//! `time` servers are this binary with `--flavor pomelo1` (socket.io 0.9 admin link and RPC):
//! a Node master and connector (hybridconnector, websocket clients), `time-server-1` spawned by
//! the master through the project's `launcher.js` (reads the project dir), `time-server-2`
//! started by hand with `--master`. One test, in phases: registration and `pomelo list`,
//! forwarded client requests answered by Rust handlers, the channel push back to the client,
//! user remotes called from the connector (`app.rpc.time...`), a refused token, a Rust server's
//! death broadcast to the connector, two master restarts (the survivors reconnect and keep
//! serving, a new Rust server joins a restarted master), and `pomelo stop`.
//!
//! Fixed ports 24005 (master), 24010 (clients), 24150 (connector RPC), 24051-24054 (Rust).
//! Fails, never skips, when `compat-tests/cluster-1x/node_modules` is missing: run
//! `npm ci --ignore-scripts` there (scripts/test does).

include!("common/cluster_generation.rs");

const GEN: Gen = Gen {
    project: "cluster-1x",
    packages: &["pomelo", "pomelo-protocol", "ws"],
    flavor: "pomelo1",
    node_pre: &["-r", "./shim.js"],
    cli: "node_modules/pomelo/bin/pomelo",
    master_port: 24005,
    client_port: 24010,
    ports: &[24005, 24010, 24150, 24051, 24052, 24053, 24054],
    ts2_port: 24052,
    bad_port: 24053,
    ts3_port: 24054,
    pinus_paths: false,
};

#[test]
fn pomelo_cluster_with_rust_time_servers() {
    run_generation();
}
