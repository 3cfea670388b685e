//! Shared test helpers: in-process demo acceptors, processes killed on drop (by pid), waiting
//! for conditions (never for a fixed time), raw sockets.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use pomelo_interop::client::{ClientOptions, RpcClient, ServerInfo};
use pomelo_interop::server::demo;
use pomelo_interop::server::{Acceptor, AcceptorOptions, ServerCall};
use pomelo_interop::transport::Transport;

/// Starts the demo remotes on 127.0.0.1 with a free port.
pub async fn demo_acceptor(transport: Transport, buffer: bool) -> Acceptor {
    let mut opts = AcceptorOptions::new(transport, "127.0.0.1:0".parse().unwrap());
    opts.buffer_msg = buffer;
    Acceptor::start(opts, demo::remotes("rust-1").into_dispatcher().unwrap()).await.expect("acceptor starts")
}

/// A client with one server `rust-1` at `addr`.
pub fn client_for(transport: Transport, addr: SocketAddr, buffer: bool) -> RpcClient {
    let mut opts = ClientOptions::new(transport);
    opts.mailbox.buffer_msg = buffer;
    opts.default_timeout = Duration::from_secs(10);
    let c = RpcClient::new(opts);
    c.add_server(ServerInfo::new("rust-1", "demo", addr.ip().to_string(), addr.port()));
    c
}

/// The compat-tests directory; panics (fails the test) when the Node peers are not installed.
pub fn compat_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compat-tests");
    let modules = dir.join("node_modules");
    for pkg in ["pomelo-rpc", "pomelo-rpc-04", "pinus-rpc"] {
        assert!(
            modules.join(pkg).join("package.json").exists(),
            "Node peer {pkg} is missing from {}: run `npm ci --prefix compat-tests` \
             (scripts/test does this) — live-peer tests never skip",
            modules.display()
        );
    }
    if Command::new("node").arg("--version").output().is_err() {
        panic!("`node` is not on PATH: install Node 20 to run the live-peer tests");
    }
    dir
}

/// A child process that is killed (SIGKILL to its pid) and reaped when dropped, also when the
/// test panics. Wrap a child in it right after spawning, before anything can fail.
pub struct KillOnDrop {
    child: Child,
}

impl KillOnDrop {
    pub fn new(child: Child) -> KillOnDrop {
        KillOnDrop { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Node process that is killed (by pid) when dropped, even if the test panics.
pub struct NodeProc {
    proc_: KillOnDrop,
    _stdin: Option<ChildStdin>,
    pub name: String,
}

impl NodeProc {
    pub fn pid(&self) -> u32 {
        self.proc_.pid()
    }
}

/// Runs `node compat-tests/peer.js server …` and waits for its `READY {"port":N}` line.
pub fn node_server(args: &[&str]) -> (NodeProc, u16) {
    let dir = compat_dir();
    let mut child = KillOnDrop::new(
        Command::new("node")
            .arg(dir.join("peer.js"))
            .arg("server")
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node"),
    );
    let stdin = child.child().stdin.take();
    let stdout = child.child().stdout.take().unwrap();
    let name = format!("node peer.js server {}", args.join(" "));
    let proc_ = NodeProc { proc_: child, _stdin: stdin, name: name.clone() };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("READY ") {
                let v: serde_json::Value = serde_json::from_str(rest).unwrap();
                let _ = tx.send(v["port"].as_u64().unwrap() as u16);
                break;
            }
        }
        for _ in lines {}
    });
    let port = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{name} did not print READY within 20 s"));
    (proc_, port)
}

/// Output of a finished Node client run.
pub struct NodeRun {
    pub status: std::process::ExitStatus,
    pub stdout: String,
}

/// Runs `node compat-tests/peer.js <mode> …` to completion (bounded by `limit`), killing it on
/// timeout.
pub fn node_run(mode: &str, args: &[&str], limit: Duration) -> NodeRun {
    let dir = compat_dir();
    let child = Command::new("node")
        .arg(dir.join("peer.js"))
        .arg(mode)
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn node");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => {
            let out = out.expect("node output");
            NodeRun { status: out.status, stdout: String::from_utf8_lossy(&out.stdout).into_owned() }
        }
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("node peer.js {mode} {} did not finish within {limit:?}", args.join(" "));
        }
    }
}

/// Runs the Node corpus client against `port` and asserts every case passed.
pub fn assert_node_corpus(args: &[&str], port: u16) {
    assert_node_cases(args, port, 10);
}

/// Like [`assert_node_corpus`], for a chosen set of at least `min_cases` cases.
pub fn assert_node_cases(args: &[&str], port: u16, min_cases: usize) {
    let port_s = port.to_string();
    let mut all = vec!["--host", "127.0.0.1", "--port", port_s.as_str()];
    all.extend_from_slice(args);
    let run = node_run("corpus", &all, Duration::from_secs(120));
    let mut failed = vec![];
    let mut passed = 0;
    let mut summary = None;
    for line in run.stdout.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if let Some(s) = v.get("summary") {
            summary = Some(s.clone());
        } else if v["ok"] == serde_json::Value::Bool(true) {
            passed += 1;
        } else {
            failed.push(line.to_string());
        }
    }
    assert!(failed.is_empty(), "Node corpus {args:?} failed cases:\n{}", failed.join("\n"));
    let summary =
        summary.unwrap_or_else(|| panic!("Node corpus {args:?} printed no summary:\n{}", run.stdout));
    assert_eq!(summary["failed"], 0, "{summary}");
    assert!(passed >= min_cases, "only {passed} cases ran for {args:?}:\n{}", run.stdout);
    assert!(run.status.success(), "Node corpus exited with {:?}", run.status);
}

/// What kind of server the Rust corpus is talking to (their replies differ in known ways).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Our own demo remotes.
    Rust,
    /// pomelo-rpc 0.4.11 / 1.0.7 acceptors with compat-tests/remote.
    Pomelo,
    /// pinus-rpc acceptors: replies are exactly `[null, value]`.
    Pinus,
}

use pomelo_interop::message::RpcMsg;
use serde_json::{Value, json};

fn msg(service: &str, method: &str, args: Vec<Value>) -> RpcMsg {
    RpcMsg::new("user", "demo", service, method, args)
}

/// Echo expectation: `[null, ...args]`, or `[null, args[0]]` for pinus.
fn echo_expect(target: Target, args: &[Value]) -> Vec<Value> {
    let mut want = vec![Value::Null];
    match target {
        Target::Pinus => want.push(args.first().cloned().unwrap_or(Value::Null)),
        _ => want.extend(args.iter().cloned()),
    }
    want
}

fn nested(depth: usize) -> Value {
    let mut v = json!({"leaf": [1, "two", null]});
    for i in 0..depth {
        v = if i % 2 == 0 { json!([v, i]) } else { json!({"k": v, "i": i}) };
    }
    v
}

/// Runs the shared corpus through `client` against server `rust-1`; returns failures.
pub async fn rust_corpus(client: &RpcClient, target: Target) -> Vec<String> {
    let mut failures = Vec::new();
    let echo_cases: Vec<(&str, Vec<Value>)> = vec![
        ("unicode", vec![json!("é 中文 😀 \u{2028} \u{2029} \u{0} \"quoted\" \\ \n\t")]),
        ("unicode-astral", vec![json!("𝄞𠀀😀😀")]),
        ("int-max", vec![json!(9_007_199_254_740_992u64)]),
        ("int-min", vec![json!(-9_007_199_254_740_992i64)]),
        ("int-safe", vec![json!(9_007_199_254_740_991u64)]),
        ("floats", vec![json!([1.5, 0.1, 1e-7, std::f64::consts::PI, 5e-324, 1.7976931348623157e308, -2.5])]),
        ("nesting", vec![nested(64)]),
        // JavaScript puts integer-like keys ("0") first, so only other keys keep their order in Node.
        ("key-order", vec![json!({"zeta": 1, "alpha": 2, "mid": {"z": 0, "a": 1}, "é": 3})]),
        ("empty-string", vec![json!("")]),
        ("empty-array", vec![json!([])]),
        ("empty-object", vec![json!({})]),
        ("literals", vec![json!(null), json!(true), json!(false)]),
        ("no-args", vec![]),
        ("multi", vec![json!("a"), json!(1), json!({"b": 2}), json!([3])]),
        ("one-mib", vec![json!("ab€中".repeat(1024 * 1024 / 4))]),
    ];
    for (name, args) in echo_cases {
        let want = echo_expect(target, &args);
        match client.call("rust-1", msg("echoRemote", "echo", args), None).await {
            Ok(got) if got == want => {
                // Key order must survive, not just equality.
                if name == "key-order"
                    && serde_json::to_string(&got[1]).ok() != serde_json::to_string(&want[1]).ok()
                {
                    failures.push(format!("{name}: key order changed: {}", got[1]));
                }
            }
            Ok(got) => failures.push(format!("echo {name}: got {}", short(&Value::Array(got)))),
            Err(e) => failures.push(format!("echo {name}: {e}")),
        }
    }
    // -0 comes back as 0 from Node (JSON.stringify(-0) is "0").
    match client.call("rust-1", msg("echoRemote", "echo", vec![json!(-0.0)]), None).await {
        Ok(got) if got[1].as_f64() == Some(0.0) => {}
        other => failures.push(format!("echo -0: {other:?}")),
    }

    // 50 concurrent calls completing out of order.
    let calls = (0..50u64).map(|i| {
        let ms = 5 + (49 - i) * 4;
        async move {
            let r = client.call("rust-1", msg("echoRemote", "sleep", vec![json!(ms)]), None).await;
            (i, ms, r, std::time::Instant::now())
        }
    });
    let mut done = futures::future::join_all(calls).await;
    done.sort_by_key(|(_, _, _, at)| *at);
    let order: Vec<u64> = done.iter().map(|(i, _, _, _)| *i).collect();
    for (i, ms, r, _) in &done {
        match r {
            Ok(v) if *v == vec![Value::Null, json!(ms)] => {}
            other => failures.push(format!("sleep #{i}: {other:?}")),
        }
    }
    if order == (0..50).collect::<Vec<_>>() {
        failures.push("50 sleeps completed in send order; expected out of order".into());
    }

    // The tutorial's time server: cb(hour, min, sec).
    match client.call("rust-1", msg("timeRemote", "getCurrentTime", vec![json!(1), json!(2)]), None).await {
        Ok(v) => {
            let hms = if target == Target::Pinus {
                v.get(1).and_then(Value::as_array).cloned().unwrap_or_default()
            } else {
                v.clone()
            };
            let ok = hms.len() == 3
                && hms[0].as_u64().is_some_and(|h| h < 24)
                && hms[1].as_u64().is_some_and(|m| m < 60)
                && hms[2].as_u64().is_some_and(|s| s < 60);
            if !ok {
                failures.push(format!("getCurrentTime: {v:?}"));
            }
        }
        Err(e) => failures.push(format!("getCurrentTime: {e}")),
    }

    // Error shape.
    match client.call("rust-1", msg("echoRemote", "fail", vec![json!("boom ü")]), None).await {
        Ok(v) => {
            let stack = v.first().and_then(|e| e.get("stack")).and_then(Value::as_str).unwrap_or("");
            if v.len() != 1 || !stack.starts_with("Error: boom ü") {
                failures.push(format!("fail: {v:?}"));
            }
            if target == Target::Rust && v[0]["msg"] != json!("boom ü") {
                failures.push(format!("fail: msg missing: {v:?}"));
            }
        }
        Err(e) => failures.push(format!("fail: {e}")),
    }

    // Dispatcher texts.
    let mut missing = vec![
        (msg("nopeRemote", "echo", vec![]), "no such service:nopeRemote"),
        (msg("echoRemote", "nope", vec![]), "no such method:nope"),
    ];
    if target != Target::Pinus {
        missing.push((RpcMsg::new("nons", "demo", "echoRemote", "echo", vec![]), "no such namespace:nons"));
    }
    for (m, text) in missing {
        match client.call("rust-1", m, None).await {
            Ok(v) => {
                let stack = v.first().and_then(|e| e.get("stack")).and_then(Value::as_str).unwrap_or("");
                if !stack.contains(text) {
                    failures.push(format!("{text}: got {v:?}"));
                }
            }
            Err(e) => failures.push(format!("{text}: {e}")),
        }
    }
    failures
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        format!("{}…", &s[..s.char_indices().nth(300).map_or(s.len(), |(i, _)| i)])
    } else {
        s
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300)).is_ok()
}

// ---------------------------------------------------------------------------------------------
// Waiting for conditions, not for time

/// The bound for conditions that hold within milliseconds on an idle machine: generous, so that
/// a loaded machine does not fail the test, and still ending a test whose condition never holds.
pub const WAIT: Duration = Duration::from_secs(10);

/// What a polled condition returns: `bool`, `Option<T>` (reached with the value), or
/// `Result<T, String>` (reached with the value, or not yet with a description of the state seen,
/// printed when the bound passes).
pub trait Condition {
    type Value;
    fn reached(self) -> Result<Self::Value, String>;
}

impl Condition for bool {
    type Value = ();
    fn reached(self) -> Result<(), String> {
        if self { Ok(()) } else { Err(String::new()) }
    }
}

impl<T> Condition for Option<T> {
    type Value = T;
    fn reached(self) -> Result<T, String> {
        self.ok_or_else(String::new)
    }
}

impl<T> Condition for Result<T, String> {
    type Value = T;
    fn reached(self) -> Result<T, String> {
        self
    }
}

/// The pacing and the bound of one wait: polls every 2 ms at first, backing off to every 100 ms
/// for conditions that take long (a probe that runs a Node CLI should not run back to back).
struct Poll {
    started: std::time::Instant,
    bound: Duration,
    pause: Duration,
}

impl Poll {
    fn new(bound: Duration) -> Poll {
        Poll { started: std::time::Instant::now(), bound, pause: Duration::from_millis(2) }
    }

    /// The pause before the next try; fails the test, naming the condition and the last state
    /// seen, once the bound has passed.
    fn next(&mut self, what: &str, last: &str) -> Duration {
        let waited = self.started.elapsed();
        if waited >= self.bound {
            let last = if last.is_empty() { String::new() } else { format!("; last seen: {last}") };
            panic!("timed out after {waited:.1?} (bound {:?}) waiting for: {what}{last}", self.bound);
        }
        let pause = self.pause;
        self.pause = (self.pause * 2).min(Duration::from_millis(100));
        pause
    }
}

/// Polls `cond` until it holds and returns its value; fails the test, naming `what`, when it
/// still does not hold after `bound` (real time, also under a paused tokio clock).
pub async fn wait_until<C: Condition>(what: &str, bound: Duration, mut cond: impl FnMut() -> C) -> C::Value {
    wait_until_async(what, bound, async || cond()).await
}

/// [`wait_until`] for a condition that has to await (a call, a probe over a socket).
pub async fn wait_until_async<C: Condition>(
    what: &str,
    bound: Duration,
    mut cond: impl AsyncFnMut() -> C,
) -> C::Value {
    let mut poll = Poll::new(bound);
    loop {
        match cond().await.reached() {
            Ok(v) => return v,
            Err(last) => tokio::time::sleep(poll.next(what, &last)).await,
        }
    }
}

/// [`wait_until`] for tests without a runtime (processes, the cluster harnesses): blocks the
/// thread between tries.
pub fn wait_for<C: Condition>(what: &str, bound: Duration, mut cond: impl FnMut() -> C) -> C::Value {
    let mut poll = Poll::new(bound);
    loop {
        match cond().reached() {
            Ok(v) => return v,
            Err(last) => std::thread::sleep(poll.next(what, &last)),
        }
    }
}

/// A server layer that counts the calls reaching it. Added first (innermost), it counts the
/// calls being dispatched: what a test waits for before it acts on a call in progress.
pub fn count_calls(
    count: &Arc<AtomicUsize>,
) -> tower::util::MapRequestLayer<impl Fn(ServerCall) -> ServerCall + Clone + Send + Sync + 'static> {
    let count = count.clone();
    tower::util::MapRequestLayer::new(move |call: ServerCall| {
        count.fetch_add(1, Ordering::SeqCst);
        call
    })
}

/// Runs `cmd` to its end with its output captured; kills it and fails the test after `limit`.
pub fn run_bounded(cmd: Command, limit: Duration, what: &str) -> std::process::Output {
    try_run_bounded(cmd, limit, what).unwrap_or_else(|| panic!("{what} did not finish within {limit:?}"))
}

/// Runs `cmd` to its end with its output captured; kills it (by pid) and returns None after
/// `limit`.
pub fn try_run_bounded(mut cmd: Command, limit: Duration, what: &str) -> Option<std::process::Output> {
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let child = child.unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => Some(out.unwrap_or_else(|e| panic!("{what}: {e}"))),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            None
        }
    }
}

/// Whether `pid` runs (exists and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// The command line of `pid`, arguments separated by spaces ("" once it is gone).
pub fn cmdline(pid: u32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .replace('\0', " ")
}

/// `s` without ANSI escape sequences (the pomelo CLIs colour their output).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Pids of the processes (other than this one) whose command line contains `pattern`.
pub fn pgrep(pattern: &std::path::Path) -> Vec<u32> {
    let out = Command::new("pgrep").arg("-f").arg(pattern).output();
    let own = std::process::id();
    out.map(|o| String::from_utf8_lossy(&o.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_else(|_| Vec::new())
        .into_iter()
        .filter(|p: &u32| *p != own)
        .collect()
}

/// What compat-tests/cluster/client.js printed: one JSON event per stdout line.
pub struct ClientRun {
    pub status: std::process::ExitStatus,
    pub events: Vec<serde_json::Value>,
    /// stdout then stderr, for failure messages.
    pub raw: String,
}

impl ClientRun {
    pub fn from_output(out: std::process::Output) -> ClientRun {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let events = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        ClientRun { status: out.status, events, raw: stdout + &String::from_utf8_lossy(&out.stderr) }
    }

    /// The response body of a step, if it got one.
    pub fn body(&self, step: &str) -> Option<&serde_json::Value> {
        self.events.iter().find(|e| e["event"] == "response" && e["step"] == step).map(|e| &e["body"])
    }

    /// The response body of a step; panics with the whole run if the step got none.
    pub fn response(&self, step: &str) -> &serde_json::Value {
        self.body(step).unwrap_or_else(|| panic!("no response to step {step}; client output:\n{}", self.raw))
    }

    /// Whether the run succeeded and `step` answered with `"server": server`.
    pub fn served_by(&self, step: &str, server: &str) -> bool {
        self.status.success() && self.body(step).is_some_and(|b| b["server"] == server)
    }

    /// The bodies of the pushes on `route`.
    pub fn pushes(&self, route: &str) -> Vec<&serde_json::Value> {
        self.events
            .iter()
            .filter(|e| e["event"] == "push" && e["route"] == route)
            .map(|e| &e["body"])
            .collect()
    }

    /// The kick's body, if the server kicked the client.
    pub fn kick(&self) -> Option<&serde_json::Value> {
        self.events.iter().find(|e| e["event"] == "kick").map(|e| &e["body"])
    }

    pub fn assert_ok(&self, what: &str) {
        assert!(self.status.success(), "client {what} failed ({:?}):\n{}", self.status, self.raw);
    }
}
