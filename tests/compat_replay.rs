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
use pomelo_interop::capture::relay::{Relay, RelayOptions};
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
                out.push_str(&format!("\n  #{} {} args {}:", r.index, r.call.route(), r.call.msg.args));
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
    let replayed = |f: &str| LISTED.contains(&f) || f == CLUSTER_FIXTURE;
    let missing: Vec<&String> = files.iter().filter(|f| !replayed(f)).collect();
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

// ---------------------------------------------------------------------------------------------
// The cluster fixture: forwarded client requests and user RPC, recorded by scripts/capture-fixtures
// in front of a Node time-server-1 of the pomelo 2.2.7 demo cluster (env `capture` of
// compat-tests/cluster/game-server). It replays against time-server-1 of the same cluster, once as
// Node and once as this binary; the handlers bind sessions, push to channel `clock`, set session
// settings and kick through the live Node connector, whose sessions 1 and 2 are held open by two
// game clients (client.js `myUid,hold`) as during the recording. time-server-1 listens on 23261
// (POMELO_INTEROP_RPC_LISTEN; `serve --rpc-listen` for the Rust one) and a capture relay on its
// registered port 23251 records the replay, as scripts/capture-fixtures recorded the fixture.

const CLUSTER_FIXTURE: &str = "mqtt-pomelo2-cluster";
/// master, clients, connector RPC, time-server-1 RPC, and the port it listened on while recorded.
const CAPTURE_PORTS: [u16; 5] = [23205, 23210, 23250, 23251, 23261];
const CAPTURE_MASTER: u16 = 23205;
const CAPTURE_CLIENTS: u16 = 23210;
const CAPTURE_TIME: u16 = 23251;
const CAPTURE_TIME_LISTEN: u16 = 23261;
/// `timeHandler.now` answers the clock: hour, minute and second are not compared.
const CLUSTER_IGNORES: [&str; 3] = [
    "sys.time.msgRemote.forwardMessage:$[1].hour",
    "sys.time.msgRemote.forwardMessage:$[1].min",
    "sys.time.msgRemote.forwardMessage:$[1].sec",
];

/// A game client holding a session open; its events arrive on `events`.
struct Holder {
    child: std::process::Child,
    events: std::sync::mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Holder {
    /// Waits (bounded) for an event matching `pred`, keeping every event seen.
    fn wait(&mut self, what: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(e) = self.seen.iter().find(|e| pred(e)) {
            return e.clone();
        }
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) => {
                    self.seen.push(e.clone());
                    if pred(&e) {
                        return e;
                    }
                }
                Err(_) => panic!("game client: no {what} within {limit:?}; events {:?}", self.seen),
            }
        }
    }
}

/// The `capture` cluster; drop kills everything it started, by pid and by command line.
struct CaptureCluster {
    compat: PathBuf,
    game: PathBuf,
    log: PathBuf,
    master: Option<std::process::Child>,
    /// The servers the master started (connector, time server), once they registered.
    pids: Vec<u32>,
    holders: Vec<Holder>,
}

impl Drop for CaptureCluster {
    fn drop(&mut self) {
        for h in &mut self.holders {
            let _ = h.child.kill();
            let _ = h.child.wait();
        }
        if let Some(m) = &mut self.master {
            let _ = m.kill();
            let _ = m.wait();
        }
        for pid in self.pids.iter().copied().chain(self.server_pids()) {
            self.kill_if_ours(pid);
        }
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("---- last lines of {} ----", self.log.display());
            for line in &lines[lines.len().saturating_sub(80)..] {
                eprintln!("{line}");
            }
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

impl CaptureCluster {
    /// Starts the master of env `capture`, which starts the connector and time-server-1 (Node
    /// with `node_time`, else this binary through the launcher), and waits until both registered.
    fn start(node_time: bool) -> CaptureCluster {
        let compat = common::compat_dir();
        let game = compat.join("cluster").join("game-server");
        for pkg in ["pomelo", "ws", "pomelo-protocol"] {
            assert!(
                compat.join("node_modules").join(pkg).join("package.json").exists(),
                "{pkg} is missing from compat-tests/node_modules: run `npm ci --prefix compat-tests` \
                 (scripts/test does this)"
            );
        }
        // CAPTURE_TIME is the caller's relay.
        for port in CAPTURE_PORTS.into_iter().filter(|p| *p != CAPTURE_TIME) {
            assert!(!common::port_open(port), "port {port} is in use (another cluster run?)");
        }
        let which = if node_time { "node" } else { "rust" };
        let log =
            std::env::temp_dir().join(format!("compat-replay-cluster-{which}-{}.log", std::process::id()));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut cmd = std::process::Command::new("node");
        cmd.arg(game.join("app.js"))
            .arg("env=capture")
            .current_dir(&game)
            .env("POMELO_INTEROP_BIN", env!("CARGO_BIN_EXE_pomelo-interop"))
            .env("POMELO_INTEROP_RPC_LISTEN", format!("time-server-1={CAPTURE_TIME_LISTEN}"))
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err);
        if node_time {
            cmd.env("POMELO_INTEROP_NODE_IDS", "time-server-1");
        } else {
            cmd.env_remove("POMELO_INTEROP_NODE_IDS");
        }
        let master = cmd.spawn().expect("spawn node app.js env=capture");
        let mut c =
            CaptureCluster { compat, game, log, master: Some(master), pids: Vec::new(), holders: Vec::new() };
        for port in [CAPTURE_MASTER, CAPTURE_CLIENTS, CAPTURE_TIME_LISTEN] {
            common::wait_for(&format!("port {port}"), Duration::from_secs(30), || common::port_open(port));
        }
        // `pomelo list` never answers before a first server registered: short tries, retried.
        common::wait_for("both servers in `pomelo list`", Duration::from_secs(30), || {
            let list = c.try_pomelo(&["list"], Duration::from_secs(3)).unwrap_or_default();
            list.contains("connector-server-1") && list.contains("time-server-1")
        });
        c.pids = c.server_pids();
        c
    }

    /// `pomelo <args>` against this master; None if it did not finish within `limit`.
    fn try_pomelo(&self, args: &[&str], limit: Duration) -> Option<String> {
        let mut cmd = std::process::Command::new("node");
        cmd.arg(self.compat.join("node_modules/pomelo/bin/pomelo"))
            .args(args)
            .args(["-h", "127.0.0.1", "-P", &CAPTURE_MASTER.to_string()])
            .current_dir(&self.compat);
        let out = common::try_run_bounded(cmd, limit, &format!("pomelo {}", args.join(" ")))?;
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A game client that connects, asks its session id (`myUid`) and holds the session open.
    fn hold(&mut self) -> u64 {
        let mut child = std::process::Command::new("node")
            .arg(self.compat.join("cluster/client.js"))
            .args(["--port", &CAPTURE_CLIENTS.to_string(), "--steps", "myUid,hold", "--lenient"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::OpenOptions::new().append(true).open(&self.log).expect("the cluster log"))
            .spawn()
            .expect("spawn client.js");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        self.holders.push(Holder { child, events: rx, seen: Vec::new() });
        let h = self.holders.last_mut().unwrap();
        let resp = h.wait("myUid response", Duration::from_secs(20), |e| e["event"] == "response");
        h.wait("holding", Duration::from_secs(5), |e| e["event"] == "holding");
        resp["body"]["sid"].as_u64().unwrap_or_else(|| panic!("myUid without sid: {resp}"))
    }

    /// Stops the cluster with `pomelo stop` and waits for the master to exit.
    fn stop(mut self) {
        self.try_pomelo(&["stop"], Duration::from_secs(20)).expect("pomelo stop answers");
        let master = self.master.as_mut().unwrap();
        common::wait_for("the master exits after pomelo stop", Duration::from_secs(20), || {
            master.try_wait().ok().flatten().is_some()
        });
        common::wait_for("the cluster's ports close", Duration::from_secs(20), || {
            CAPTURE_PORTS.iter().filter(|p| **p != CAPTURE_TIME).all(|p| !common::port_open(*p))
        });
    }

    /// The processes of env `capture` of this game-server dir (master, node servers, Rust servers).
    fn server_pids(&self) -> Vec<u32> {
        common::pgrep(&self.game).into_iter().filter(|p| self.is_ours(*p)).collect()
    }

    fn is_ours(&self, pid: u32) -> bool {
        let cmdline = common::cmdline(pid);
        cmdline.contains(&*self.game.to_string_lossy())
            && (cmdline.contains("env=capture") || cmdline.contains("--env capture"))
    }

    /// SIGKILL to `pid` if it is still a process of this cluster (pids may be reused).
    fn kill_if_ours(&self, pid: u32) {
        if self.is_ours(pid) {
            let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// The session ids the recorded forwarded requests carry.
fn recorded_sids(fx: &Fixture) -> Vec<u64> {
    let mut sids: Vec<u64> = fx
        .answered()
        .filter(|c| c.msg.method == "forwardMessage")
        .filter_map(|c| c.msg.args.values().ok()?.get(1)?["id"].as_u64())
        .collect();
    sids.sort_unstable();
    sids.dedup();
    sids
}

async fn replay_cluster(fx: &Fixture, node_time: bool) {
    let what = if node_time { "the Node time-server-1" } else { "the Rust time-server-1" };
    let out =
        std::env::temp_dir().join(format!("compat-replay-cluster-{}-{node_time}.jsonl", std::process::id()));
    let relay_opts = RelayOptions::new(
        Transport::Mqtt,
        SocketAddr::from(([127, 0, 0, 1], CAPTURE_TIME)),
        format!("127.0.0.1:{CAPTURE_TIME_LISTEN}"),
        &out,
    );
    let relay = Relay::start(relay_opts).await.expect("relay on time-server-1's registered port");
    let mut cluster = CaptureCluster::start(node_time);
    let sids = recorded_sids(fx);
    assert_eq!(sids, vec![1, 2], "the fixture's sessions");
    for want in &sids {
        assert_eq!(cluster.hold(), *want, "the connector numbers sessions from 1, in connection order");
    }
    let mut opts = ReplayOptions::new(Transport::Mqtt, format!("127.0.0.1:{CAPTURE_TIME}"));
    // One call at a time, in recorded order: the session calls of one request (bind, push, kick)
    // finish before the next request starts (in the recording, the notify's answer came after the
    // next two user RPCs; they do not touch sessions).
    opts.concurrency = 1;
    opts.timeout = Duration::from_secs(10);
    opts.max_time = Duration::from_secs(60);
    for rule in CLUSTER_IGNORES {
        opts.comparator = opts.comparator.clone().ignore(rule.parse().unwrap());
    }
    let report = replay(fx, &opts, &|_| {}).await.expect("replay runs");
    assert!(report.ok(), "{CLUSTER_FIXTURE} replayed against {what}: {}", failures(&report));
    assert_eq!(report.results.len(), 9);

    // The target's session calls reached the connector and the clients holding the sessions.
    let alice = &mut cluster.holders[0];
    let push = alice.wait("onTime push (channel clock)", Duration::from_secs(5), |e| e["event"] == "push");
    assert_eq!(push["route"], "onTime");
    assert_eq!(push["body"]["server"], "time-server-1");
    let bob = &mut cluster.holders[1];
    let kick = bob.wait("kick (timeHandler.kickMe)", Duration::from_secs(5), |e| e["event"] == "kick");
    assert_eq!(kick["body"]["reason"], "bye");
    cluster.stop();

    // The relay in front of the cluster member recorded the same calls and answers.
    let summary = relay.shutdown().await;
    assert_eq!((summary.requests, summary.responses, summary.malformed), (9, 9, 0), "{summary:?}");
    let again = Fixture::load(&out).expect("the replay's capture loads");
    let _ = std::fs::remove_file(&out);
    let pairs: Vec<_> = fx.answered().zip(again.answered()).collect();
    assert_eq!(pairs.len(), 9);
    for (recorded, captured) in pairs {
        assert_eq!(recorded.msg, captured.msg, "the replay sends the recorded call");
        let (r, c) = (recorded.resp.as_deref().unwrap(), captured.resp.as_deref().unwrap());
        let diff = opts.comparator.compare(&recorded.route(), r, c);
        assert!(diff.is_empty(), "{}: {diff:?}", recorded.route());
    }
}

/// The pomelo 2.2.7 cluster fixture against the Node time server it was recorded from, then
/// against the Rust one in the same place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_fixture_replays_against_node_and_rust_time_servers() {
    let fx = load(CLUSTER_FIXTURE);
    assert_eq!(fx.meta("cluster_env"), Some("capture"));
    replay_cluster(&fx, true).await;
    replay_cluster(&fx, false).await;
}
