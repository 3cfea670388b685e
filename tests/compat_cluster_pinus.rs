//! A live pinus 1.7.4 cluster (`compat-tests/cluster-pinus/`, a plain-JS pinus project with its
//! own npm project) in which the `time` servers are this binary with `--flavor pinus` (MQTT
//! admin link and RPC, crc over UTF-8, `[null, value]` replies): a Node master and connector
//! (hybridconnector, websocket clients), `time-server-1` spawned by the master through the
//! project's `launcher.js` (its servers.json entry carries the `remoterPaths` the Node peers build
//! their proxies from), `time-server-2` started by hand with `--master` and the same records as
//! `--remoter-paths`/`--handler-paths`. One test, in phases: registration and `pinus list`,
//! forwarded client requests answered by Rust handlers, the channel push back to the client,
//! user remotes called from the connector (`app.rpc.time...route(session)()`), a refused token,
//! a Rust server's death broadcast to the connector, two master restarts (the survivors reconnect
//! and keep serving, a new Rust server joins a restarted master), and `pinus stop`.
//!
//! Fixed ports 25005 (master), 25010 (clients), 25150 (connector RPC), 25051-25054 (Rust).
//! Fails, never skips, when `compat-tests/cluster-pinus/node_modules` is missing: run
//! `npm ci --ignore-scripts` there (scripts/test does).

include!("common/cluster_generation.rs");

const GEN: Gen = Gen {
    project: "cluster-pinus",
    packages: &["pinus", "pinus-protocol", "reflect-metadata", "ws"],
    flavor: "pinus",
    node_pre: &[],
    cli: "node_modules/pinus/dist/bin/pinus.js",
    master_port: 25005,
    client_port: 25010,
    ports: &[25005, 25010, 25150, 25051, 25052, 25053, 25054],
    ts2_port: 25052,
    bad_port: 25053,
    ts3_port: 25054,
    pinus_paths: true,
};

#[test]
fn pinus_cluster_with_rust_time_servers() {
    run_generation();
}
