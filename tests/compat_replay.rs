//! Every fixture in `fixtures/rpc/` (recorded Node ↔ Node by `scripts/capture-fixtures`) is
//! replayed against the Rust demo acceptor and against the Node acceptor it was recorded from;
//! both must answer like the recording. Fixtures also replay across dialects, and must carry no
//! absolute path of the machine that recorded them. Fails, never skips, when the Node peers are
//! not installed.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{demo_acceptor, node_server};
use pomelo_interop::capture::fixture::Fixture;
use pomelo_interop::capture::record::unhex;
use pomelo_interop::capture::replay::{Outcome, ReplayOptions, ReplayReport, replay};
use pomelo_interop::transport::Transport;
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("rpc")
}

fn load(name: &str) -> Fixture {
    let path = fixtures_dir().join(format!("{name}.jsonl"));
    let fx = Fixture::load(&path).unwrap_or_else(|e| panic!("{e} (record it with scripts/capture-fixtures)"));
    assert!(fx.answered().count() > 0, "{name}: no answered calls");
    assert_eq!(fx.malformed, 0, "{name}: malformed frames");
    assert!(fx.summary.is_some(), "{name}: no summary line; the capture did not end cleanly");
    fx
}

/// A readable account of what did not match.
fn failures(report: &ReplayReport) -> String {
    let mut out = String::new();
    for r in &report.results {
        match &r.outcome {
            Outcome::Match => {}
            Outcome::Mismatch { differences, .. } => {
                out.push_str(&format!(
                    "\n  #{} {} args {}:",
                    r.index,
                    r.call.route(),
                    Value::from(r.call.msg.args.clone())
                ));
                for d in differences {
                    out.push_str(&format!("\n    {} recorded {:?} got {:?}", d.path, d.expected, d.got));
                }
            }
            other => out.push_str(&format!("\n  #{} {}: {other:?}", r.index, r.call.route())),
        }
    }
    out
}

async fn replay_against(fx: &Fixture, name: &str, what: &str, transport: Transport, addr: SocketAddr) {
    let mut opts = ReplayOptions::new(transport, addr.to_string());
    opts.concurrency = 32;
    opts.timeout = Duration::from_secs(10);
    opts.max_time = Duration::from_secs(60);
    let report = replay(fx, &opts, &|_| {}).await.expect("replay runs");
    assert!(report.ok(), "{name} replayed against {what} over {transport}: {}", failures(&report));
    assert_eq!(report.results.len(), fx.answered().count());
}

/// Replays fixture `name` against the Rust demo acceptor and the Node acceptor it came from.
async fn replay_both(name: &str) {
    let fx = load(name);
    let transport = fx.transport().expect("the header names the transport");
    let server_buffer = fx.meta("server_buffer") == Some("true");

    let rust = demo_acceptor(transport, server_buffer).await;
    replay_against(&fx, name, "the Rust acceptor", transport, rust.local_addr()).await;
    rust.shutdown().await;

    let impl_ = fx.meta("impl").expect("meta.impl");
    let peer_transport = fx.meta("peer_transport").expect("meta.peer_transport");
    let mut args = vec!["--impl", impl_, "--transport", peer_transport, "--port", "0"];
    if server_buffer {
        args.push("--buffer");
    }
    let (node, port) = node_server(&args);
    let what = format!("the Node acceptor ({})", node.name);
    replay_against(&fx, name, &what, transport, SocketAddr::from(([127, 0, 0, 1], port))).await;
    drop(node);
}

macro_rules! fixtures {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                replay_both($name).await;
            }
        )*
        /// Every fixture a test replays.
        const LISTED: &[&str] = &[$($name),*];
    };
}

fixtures! {
    tcp_rpc04_corpus => "tcp-rpc04-corpus",
    tcp_rpc04_buffered => "tcp-rpc04-buffered",
    tcp_rpc04_errors => "tcp-rpc04-errors",
    tcp_rpc10_corpus => "tcp-rpc10-corpus",
    tcp_rpc10_buffered => "tcp-rpc10-buffered",
    tcp_rpc10_errors => "tcp-rpc10-errors",
    mqtt_rpc10_corpus => "mqtt-rpc10-corpus",
    mqtt_rpc10_buffered => "mqtt-rpc10-buffered",
    mqtt_rpc10_errors => "mqtt-rpc10-errors",
    mqtt_pinus_corpus => "mqtt-pinus-corpus",
    mqtt_pinus_buffered => "mqtt-pinus-buffered",
    mqtt_pinus_errors => "mqtt-pinus-errors",
    pinus_tcp_pinus_corpus => "pinus-tcp-pinus-corpus",
    pinus_tcp_pinus_buffered => "pinus-tcp-pinus-buffered",
    pinus_tcp_pinus_errors => "pinus-tcp-pinus-errors",
    sio09_rpc04_corpus => "sio09-rpc04-corpus",
    sio09_rpc04_buffered => "sio09-rpc04-buffered",
    sio09_rpc04_errors => "sio09-rpc04-errors",
    sio09_rpc04polling_corpus => "sio09-rpc04polling-corpus",
}

fn fixture_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/rpc exists")
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".jsonl").map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[test]
fn every_fixture_is_replayed_by_a_test() {
    let files = fixture_files();
    let missing: Vec<&String> = files.iter().filter(|f| !LISTED.contains(&f.as_str())).collect();
    assert!(missing.is_empty(), "fixtures without a replay test in tests/compat_replay.rs: {missing:?}");
    for name in LISTED {
        assert!(files.iter().any(|f| f == name), "fixture {name}.jsonl is listed but missing");
    }
}

/// Absolute paths of this checkout, of home directories or temp dirs must not be in a fixture,
/// neither in the decoded text nor in the raw bytes.
#[test]
fn fixtures_carry_no_absolute_paths() {
    let root = env!("CARGO_MANIFEST_DIR");
    let needles = [root, "/home/", "/Users/", "/root/", "/tmp/"];
    for name in fixture_files() {
        let path = fixtures_dir().join(format!("{name}.jsonl"));
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let v: Value = serde_json::from_str(line).unwrap();
            let raw = v.get("hex").and_then(Value::as_str).map(|h| unhex(h).expect("hex"));
            let raw_text = raw.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            for needle in needles {
                assert!(
                    !line.contains(needle) && !raw_text.contains(needle),
                    "{name}.jsonl line {}: contains {needle:?}",
                    n + 1
                );
            }
            // Node stacks name files relative to compat-tests/ (peer.js --relative-stacks).
            assert!(!raw_text.contains("(/") && !raw_text.contains("at /"), "{name}.jsonl line {}", n + 1);
        }
    }
}

/// The error fixtures carry Node's error objects, with relative file names in their stacks.
#[test]
fn error_fixtures_hold_node_stacks() {
    for name in ["tcp-rpc04-errors", "mqtt-rpc10-errors", "mqtt-pinus-errors", "sio09-rpc04-errors"] {
        let fx = load(name);
        let stacks: Vec<String> = fx
            .answered()
            .filter_map(|c| c.resp.as_ref()?.first()?.get("stack")?.as_str().map(str::to_owned))
            .collect();
        assert_eq!(stacks.len(), 4, "{name}: {stacks:?}");
        assert!(stacks.iter().any(|s| s.starts_with("Error: boom ü\n    at ")), "{name}: {stacks:?}");
        assert!(stacks.iter().any(|s| s.contains("node_modules/")), "{name}: relative library paths");
    }
}

/// A request is a request: fixtures recorded on one dialect replay over the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_replay_across_dialects() {
    let tcp = load("tcp-rpc04-corpus");
    for t in [Transport::Mqtt, Transport::PinusTcp, Transport::Sio09] {
        let rust = demo_acceptor(t, false).await;
        replay_against(&tcp, "tcp-rpc04-corpus", "the Rust acceptor", t, rust.local_addr()).await;
        rust.shutdown().await;
    }
    // socket.io xhr-polling recorded, WebSocket and tcp replayed, against Rust and Node.
    let polling = load("sio09-rpc04polling-corpus");
    let rust = demo_acceptor(Transport::Tcp, true).await;
    replay_against(
        &polling,
        "sio09-rpc04polling-corpus",
        "the Rust acceptor",
        Transport::Tcp,
        rust.local_addr(),
    )
    .await;
    rust.shutdown().await;
    let (node, port) = node_server(&["--impl", "rpc10", "--transport", "mqtt", "--port", "0"]);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    replay_against(&polling, "sio09-rpc04polling-corpus", &node.name, Transport::Mqtt, addr).await;
    drop(node);
}

/// The README's format: what a fixture line looks like, checked on a real one.
#[test]
fn fixture_lines_have_the_documented_fields() {
    let path: &Path = &fixtures_dir().join("mqtt-rpc10-buffered.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let header = &lines[0];
    assert_eq!((header["capture"].as_str(), header["version"].as_u64()), (Some("pomelo-interop"), Some(1)));
    assert_eq!(header["transport"], "mqtt");
    assert!(lines.last().unwrap().get("summary").is_some());
    let publish = lines.iter().find(|l| l["frame"] == "mqtt:publish" && l["dir"] == "c2s").unwrap();
    for key in ["t_ms", "conn", "dir", "frame", "topic", "rpc", "len", "hex"] {
        assert!(publish.get(key).is_some(), "{key} missing from {publish}");
    }
    assert!(publish["rpc"][0].is_array(), "a buffered client sends batches");
    let raw = unhex(publish["hex"].as_str().unwrap()).unwrap();
    assert_eq!(raw.len() as u64, publish["len"].as_u64().unwrap());
    assert_eq!(raw[0], 0x30, "the raw bytes are the MQTT PUBLISH itself");
}
