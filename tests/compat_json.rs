//! "JSON as Node reads it", proven live in both directions on every dialect: the values that
//! used to break a connection (compat-tests/json-corpus.js: a string cut mid-emoji, a lone low
//! surrogate, an array nested 1,000 deep, `1e400`, a byte that is not UTF-8, `-0`) are echoed,
//! each on one connection, followed by a plain call on that same connection.
//!
//! Per dialect, one Node acceptor of the library gives the reference: a Node mailbox of the same
//! library sends it the corpus (`peer.js corpus --cases json-edge`). Then
//! - Node → Rust: the same Node mailbox sends the corpus to the Rust demo acceptor; per value,
//!   what the Node caller got back (`JSON.stringify` of its callback arguments, and the same
//!   with -0 and Infinity spelled out) is compared with what it got from the Node acceptor;
//! - Rust → Node: `RpcClient::call_raw` and the `call` CLI send the corpus to the Node acceptor;
//!   the reply text they received is compared with the Node mailbox's `JSON.stringify`.
//!
//! Fails, never skips, when the Node peers are not installed. Every Node process is killed by
//! pid when the test ends, passing or not.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{client_for, compat_dir, demo_acceptor, node_run, node_server, run_bounded};
use pomelo_interop::message::{JsonArray, RawJson, RpcMsg};
use pomelo_interop::transport::Transport;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pomelo-interop");

/// The corpus of compat-tests/json-corpus.js: each value's exact bytes as a call argument.
/// The Node runs report their bytes (`arg_hex`), and the test checks both lists agree.
fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("cut-emoji", br#""cut mid-emoji \ud83d""#.to_vec()),
        ("lone-low", br#""\udc00 low first""#.to_vec()),
        ("nested-1000", [vec![b'['; 1000], vec![b']'; 1000]].concat()),
        ("number-1e400", b"1e400".to_vec()),
        ("invalid-utf8", b"\"a\xffb\"".to_vec()),
        ("minus-zero", b"-0".to_vec()),
    ]
}

const PLAIN: &str = "plain after the corpus";

/// What a Node mailbox saw for one value (one observation line of case json-edge).
#[derive(Debug, Clone)]
struct Seen {
    arg_hex: String,
    /// `JSON.stringify` of the callback arguments.
    reply: Option<String>,
    /// The same with -0, Infinity, NaN and undefined written as such.
    exact: Option<String>,
    error: Option<String>,
    closed: u64,
    same_mailbox: bool,
    injected: Option<bool>,
}

/// One Node corpus run of case json-edge.
#[derive(Clone)]
struct EdgeRun {
    what: String,
    seen: BTreeMap<String, Seen>,
    case_line: Option<Value>,
    ok: bool,
    stdout: String,
}

impl EdgeRun {
    fn get(&self, name: &str) -> &Seen {
        self.seen
            .get(name)
            .unwrap_or_else(|| panic!("{}: no observation for {name}; output:\n{}", self.what, self.stdout))
    }

    /// The run passed: every value answered, the mailbox never closed, the plain call after the
    /// corpus answered on it, raw bytes really written.
    fn assert_healthy(&self) {
        assert!(
            self.ok && self.case_line.as_ref().is_some_and(|c| c["ok"] == true),
            "{} failed: {}\n{}",
            self.what,
            self.case_line.as_ref().map_or("no case line".to_string(), Value::to_string),
            self.stdout
        );
        for (name, _) in corpus().iter().chain([("plain-after", vec![])].iter()) {
            let s = self.get(name);
            assert!(s.error.is_none() && s.closed == 0 && s.same_mailbox, "{}: {name}: {s:?}", self.what);
            assert_ne!(s.injected, Some(false), "{}: {name}: raw bytes not injected", self.what);
        }
    }
}

/// Runs `peer.js corpus --cases json-edge` with `impl_`'s mailbox against 127.0.0.1:`port`.
fn node_edge(what: &str, impl_: &str, transport: &str, port: u16) -> EdgeRun {
    let port = port.to_string();
    let args = [
        "--impl",
        impl_,
        "--transport",
        transport,
        "--port",
        &port,
        "--cases",
        "json-edge",
        "--timeout",
        "5000",
    ];
    let run = node_run("corpus", &args, Duration::from_secs(120));
    let mut seen = BTreeMap::new();
    let mut case_line = None;
    for line in run.stdout.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        if let Some(name) = v["json_value"].as_str() {
            let text = |k: &str| v[k].as_str().map(str::to_string);
            seen.insert(
                name.to_string(),
                Seen {
                    arg_hex: text("arg_hex").unwrap_or_default(),
                    reply: text("reply"),
                    exact: text("exact"),
                    error: text("error"),
                    closed: v["closed"].as_u64().unwrap_or(u64::MAX),
                    same_mailbox: v["same_mailbox"] == true,
                    injected: v["injected"].as_bool(),
                },
            );
        } else if v["case"] == "json-edge" {
            case_line = Some(v);
        }
    }
    EdgeRun { what: what.to_string(), seen, case_line, ok: run.status.success(), stdout: run.stdout }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The argument array `[value]` as the Rust client sends it.
fn args_of(value: &[u8]) -> JsonArray {
    let text = [b"[".as_slice(), value, b"]"].concat();
    JsonArray::from_raw(RawJson::from_slice(&text).expect("corpus value is JSON as Node reads it"))
        .expect("an array")
}

fn echo(args: JsonArray) -> RpcMsg {
    RpcMsg::new("user", "demo", "echoRemote", "echo", args)
}

/// One dialect: the Node library on each side and the Rust transport.
#[derive(Clone, Copy)]
struct Dialect {
    label: &'static str,
    /// `--impl` of the Node acceptor.
    acceptor: &'static str,
    /// `--impl` of the Node mailbox (the reference client, and the caller of the Rust acceptor).
    mailbox: &'static str,
    /// `--transport` of peer.js.
    node_transport: &'static str,
    rust: Transport,
    /// Whether the Node mailbox also calls a Rust acceptor (not for the 1.0.7 tcp acceptor,
    /// whose own mailbox is broken; the 0.4.11 mailbox already covers tcp Node → Rust).
    node_to_rust: bool,
}

/// Node → Rust: what the Node caller saw from Rust must be what it saw from Node, per value.
fn compare_node_to_rust(reference: &EdgeRun, from_rust: &EdgeRun, problems: &mut Vec<String>) {
    let names: Vec<&str> = corpus().iter().map(|(n, _)| *n).chain(["plain-after"]).collect();
    for name in names {
        let (want, got) = (reference.get(name), from_rust.get(name));
        let what = format!("{}: {name}", from_rust.what);
        if got.error.is_some() || got.closed != 0 || !got.same_mailbox {
            problems.push(format!(
                "{what}: error {:?}, mailbox closes {}, same mailbox {}",
                got.error, got.closed, got.same_mailbox
            ));
            continue;
        }
        if got.arg_hex != want.arg_hex {
            problems.push(format!("{what}: sent {} but the reference sent {}", got.arg_hex, want.arg_hex));
        }
        // As a Node program serializes what it got: identical for every value.
        if got.reply != want.reply {
            problems.push(format!(
                "{what}: JSON.stringify of the reply from Rust {:?} != from Node {:?}",
                got.reply, want.reply
            ));
        }
        // As a Node program holds it. Rust's echo returns its arguments' text untouched (README:
        // "[null, ...args], untouched"); Node's echo re-serializes the numbers it parsed, and
        // JSON.stringify writes Infinity as null and -0 as 0. So for these two values, and only
        // these, the caller holds a different number, which JSON.stringify cannot show.
        let expected_exact = match name {
            "number-1e400" => {
                assert_eq!(want.exact.as_deref(), Some("[null,null]"), "{what}: Node acceptor");
                Some("[null,Infinity]".to_string())
            }
            "minus-zero" => {
                assert_eq!(want.exact.as_deref(), Some("[null,0]"), "{what}: Node acceptor");
                Some("[null,-0]".to_string())
            }
            _ => want.exact.clone(),
        };
        if got.exact != expected_exact {
            problems.push(format!(
                "{what}: the Node caller holds {:?} from Rust, expected {:?} (from Node: {:?})",
                got.exact, expected_exact, want.exact
            ));
        }
    }
}

/// Rust → Node through `RpcClient::call_raw`: one client, one connection. A `sleep` call is
/// kept pending on that connection for the whole corpus and the plain call: it can only be
/// answered if the connection that carries it never dropped (a reconnect would fail it).
async fn rust_client_to_node(d: &Dialect, port: u16, reference: &EdgeRun, problems: &mut Vec<String>) {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let client = client_for(d.rust, addr, false);
    let what = format!("{} Rust RpcClient -> Node {}", d.label, d.acceptor);
    let first = client.call_raw("rust-1", echo(args_of(br#""before the corpus""#)), None).await;
    assert_eq!(
        first.map(|r| r.as_str().to_string()).ok().as_deref(),
        Some(r#"[null,"before the corpus"]"#),
        "{what}: first call"
    );
    let sentinel_ms = 4000;
    let sleep =
        RpcMsg::new("user", "demo", "echoRemote", "sleep", args_of(sentinel_ms.to_string().as_bytes()));
    let sentinel = {
        let client = client.clone();
        tokio::spawn(async move {
            let r = client.call_raw("rust-1", sleep, Some(Duration::from_secs(20))).await;
            (r.map(|r| r.as_str().to_string()), Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    for (name, value) in corpus() {
        let sent = args_of(&value);
        if name == "invalid-utf8" {
            // Deliberate: the Rust client's arguments are JSON text, always UTF-8, read as Node
            // reads bytes; the FF leaves as U+FFFD (EF BF BD), the string Node's
            // buffer.toString() makes of the Node mailbox's raw FF. The reply is compared below.
            assert_eq!(sent.as_str().as_bytes(), "[\"a\u{FFFD}b\"]".as_bytes(), "{what}: {name}");
        } else {
            assert_eq!(sent.as_str().as_bytes(), [b"[".as_slice(), &value, b"]"].concat(), "{what}: {name}");
        }
        let want = reference.get(name).reply.clone();
        match client.call_raw("rust-1", echo(sent), None).await {
            Ok(resp) if Some(resp.as_str()) == want.as_deref() => {}
            Ok(resp) => problems.push(format!("{what}: {name}: got {} but Node got {want:?}", resp.as_str())),
            Err(e) => problems.push(format!("{what}: {name}: no reply: {e}")),
        }
    }
    let plain = client.call_raw("rust-1", echo(args_of(format!("{PLAIN:?}").as_bytes())), None).await;
    let plain_done = Instant::now();
    match plain {
        Ok(resp) if Some(resp.as_str()) == reference.get("plain-after").reply.as_deref() => {}
        other => problems.push(format!("{what}: plain call after the corpus: {other:?}")),
    }
    let (slept, sentinel_done) = sentinel.await.expect("sentinel task");
    match slept {
        Ok(text) if text == format!("[null,{sentinel_ms}]") => assert!(
            sentinel_done >= plain_done,
            "{what}: the corpus took {:?}, longer than the {sentinel_ms} ms sentinel call that proves \
             the connection stayed up; raise sentinel_ms",
            plain_done - started
        ),
        other => {
            problems.push(format!("{what}: the connection did not survive the corpus: sleep got {other:?}"))
        }
    }
    client.close();
}

/// Rust → Node through the `call` CLI: one process per value, each must exit 0 and print the
/// reply the Node mailbox got.
fn cli_to_node(d: &Dialect, port: u16, reference: &EdgeRun, problems: &mut Vec<String>) {
    let to = format!("127.0.0.1:{port}");
    for (name, value) in corpus() {
        let what = format!("{} `call` CLI -> Node {}: {name}", d.label, d.acceptor);
        let args = [b"[".as_slice(), &value, b"]"].concat();
        let mut cmd = Command::new(BIN);
        // The argument bytes as they are (the invalid-utf8 value is not UTF-8 on the command
        // line either); the CLI reads them as Node reads JSON.
        cmd.args([
            "call",
            "-t",
            d.rust.name(),
            "--to",
            &to,
            "--timeout",
            "10000",
            "user.demo.echoRemote.echo",
        ])
        .arg(OsStr::from_bytes(&args));
        let out = run_bounded(cmd, Duration::from_secs(30), &what);
        let stdout = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
        if out.status.code() != Some(0) {
            problems.push(format!(
                "{what}: exit {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        } else if Some(stdout.as_str()) != reference.get(name).reply.as_deref() {
            problems.push(format!("{what}: printed {stdout} but Node got {:?}", reference.get(name).reply));
        }
    }
}

async fn prove(d: Dialect) {
    compat_dir();
    let (node, port) = node_server(&["--impl", d.acceptor, "--transport", d.node_transport, "--port", "0"]);
    let (mailbox, transport) = (d.mailbox, d.node_transport);
    let what = format!("{}: Node {mailbox} mailbox -> Node {} acceptor (reference)", d.label, d.acceptor);
    let reference =
        tokio::task::spawn_blocking(move || node_edge(&what, mailbox, transport, port)).await.unwrap();
    reference.assert_healthy();
    for (name, value) in corpus() {
        assert_eq!(
            reference.get(name).arg_hex,
            hex(&value),
            "{name}: tests/compat_json.rs and json-corpus.js differ"
        );
    }

    let mut problems = Vec::new();
    rust_client_to_node(&d, port, &reference, &mut problems).await;
    let reference_copy = reference.clone();
    let cli_problems = tokio::task::spawn_blocking(move || {
        let mut p = Vec::new();
        cli_to_node(&d, port, &reference_copy, &mut p);
        p
    })
    .await
    .unwrap();
    problems.extend(cli_problems);

    if d.node_to_rust {
        let acc = demo_acceptor(d.rust, false).await;
        let rust_port = acc.local_addr().port();
        let what = format!("{}: Node {mailbox} mailbox -> Rust acceptor", d.label);
        let from_rust = tokio::task::spawn_blocking(move || node_edge(&what, mailbox, transport, rust_port))
            .await
            .unwrap();
        compare_node_to_rust(&reference, &from_rust, &mut problems);
        if problems.is_empty() {
            from_rust.assert_healthy();
        }
        acc.shutdown().await;
    }
    drop(node);
    assert!(problems.is_empty(), "{} differences from Node:\n{}", d.label, problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_pomelo_rpc_04() {
    prove(Dialect {
        label: "tcp (pomelo-rpc 0.4.11)",
        acceptor: "rpc04",
        mailbox: "rpc04",
        node_transport: "tcp",
        rust: Transport::Tcp,
        node_to_rust: true,
    })
    .await;
}

/// The 1.0.7 tcp acceptor, Rust → Node only; its reference client is the 0.4.11 tcp mailbox
/// (same stream-pkg wire; the 1.0.7 tcp mailbox throws before connecting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_pomelo_rpc_10_acceptor() {
    prove(Dialect {
        label: "tcp (pomelo-rpc 1.0.7 acceptor)",
        acceptor: "rpc10",
        mailbox: "rpc04",
        node_transport: "tcp",
        rust: Transport::Tcp,
        node_to_rust: false,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_pomelo_rpc_10() {
    prove(Dialect {
        label: "mqtt (pomelo-rpc 1.0.7)",
        acceptor: "rpc10",
        mailbox: "rpc10",
        node_transport: "mqtt",
        rust: Transport::Mqtt,
        node_to_rust: true,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_pinus_rpc() {
    prove(Dialect {
        label: "mqtt (pinus-rpc 1.7.4)",
        acceptor: "pinus",
        mailbox: "pinus",
        node_transport: "mqtt",
        rust: Transport::Mqtt,
        node_to_rust: true,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinus_tcp_pinus_rpc() {
    prove(Dialect {
        label: "pinus-tcp (pinus-rpc 1.7.4)",
        acceptor: "pinus",
        mailbox: "pinus",
        node_transport: "tcp",
        rust: Transport::PinusTcp,
        node_to_rust: true,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sio09_pomelo_rpc_04_ws() {
    prove(Dialect {
        label: "sio09 (pomelo-rpc 0.4.11 ws)",
        acceptor: "rpc04",
        mailbox: "rpc04",
        node_transport: "ws",
        rust: Transport::Sio09,
        node_to_rust: true,
    })
    .await;
}
