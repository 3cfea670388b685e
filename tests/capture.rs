//! The capture relay and the replay command: the decoders against the Node byte captures of
//! `fixtures/captures/rpc`, live Rust ↔ Node exchanges through the relay decoded back to the same
//! calls, malformed input and a slow decoder (recorded, still relayed byte for byte), the file
//! flushed while running, and the `capture` / `replay` commands as a user runs them.
//! Tests that start Node peers fail, never skip, when compat-tests/node_modules is missing.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{WAIT, client_for, demo_acceptor, node_run, node_server, wait_until};
use pomelo_interop::capture::fixture::Fixture;
use pomelo_interop::capture::record::{FrameRecord, member, packages, unhex};
use pomelo_interop::capture::replay::{Outcome, ReplayOptions, replay};
use pomelo_interop::capture::{ConnDecoder, Dir, Relay, RelayOptions};
use pomelo_interop::client::RpcClient;
use pomelo_interop::message::RpcMsg;
use pomelo_interop::server::demo;
use pomelo_interop::server::{Acceptor, AcceptorOptions};
use pomelo_interop::transport::Transport;
use pomelo_interop::wire::json::RawJson;
use pomelo_interop::wire::stream_pkg;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_pomelo-interop");
const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/captures/rpc");

/// A fresh file path in the system temp dir, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str) -> TempFile {
        let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        TempFile(std::env::temp_dir().join(format!("pomelo-capture-{tag}-{}-{n}.jsonl", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

async fn relay_to(transport: Transport, upstream: SocketAddr, out: &TempFile) -> Relay {
    let opts = RelayOptions::new(transport, local(0), upstream.to_string(), &out.0);
    Relay::start(opts).await.expect("relay starts")
}

fn msg(service: &str, method: &str, args: Vec<Value>) -> RpcMsg {
    RpcMsg::new("user", "demo", service, method, args)
}

// ---------------------------------------------------------------------------------------------
// The decoders against the Node captures

/// Decoded records with their connection and direction.
type Records = Vec<(u64, Dir, FrameRecord)>;
/// The bytes of each (connection, direction), reassembled from the capture.
type Streams = BTreeMap<(u64, u8), Vec<u8>>;

/// Every relayed byte of each connection and direction is in exactly one record, in order.
fn assert_every_byte_once(name: &str, recs: &[(u64, Dir, FrameRecord)], streams: &Streams) {
    for ((conn, dir), bytes) in streams {
        let raw: Vec<u8> = recs
            .iter()
            .filter(|(c, d, _)| c == conn && d.index() as u8 == *dir)
            .flat_map(|(_, _, r)| r.raw.clone())
            .collect();
        assert_eq!(&raw, bytes, "{name} conn {conn} dir {dir}");
    }
}

/// Feeds a Node capture through one decoder per connection, in file order; returns every
/// record with its connection and direction, and the reassembled streams.
fn decode_capture(name: &str, t: Transport) -> (Records, Streams) {
    let path = Path::new(CAPTURES).join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (fixtures/captures/ is part of the repository)", path.display()));
    let mut decoders: HashMap<u64, ConnDecoder> = HashMap::new();
    let mut out = Vec::new();
    let mut streams = BTreeMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let Some(conn) = v["conn"].as_u64() else { continue };
        let d = decoders.entry(conn).or_insert_with(|| ConnDecoder::new(t, 1 << 26));
        let (dir, recs) = if let Some(hex) = v["hex"].as_str() {
            let dir = if v["dir"] == "c2s" { Dir::C2s } else { Dir::S2c };
            let bytes = unhex(hex).unwrap();
            streams.entry((conn, dir.index() as u8)).or_insert_with(Vec::new).extend_from_slice(&bytes);
            (dir, d.feed(dir, &bytes))
        } else {
            match v["event"].as_str() {
                Some("c2s FIN") => (Dir::C2s, d.fin(Dir::C2s)),
                Some("s2c FIN") => (Dir::S2c, d.fin(Dir::S2c)),
                _ => continue,
            }
        };
        out.extend(recs.into_iter().map(|r| (conn, dir, r)));
    }
    (out, streams)
}

fn count(recs: &[(u64, Dir, FrameRecord)], key: &str) -> usize {
    recs.iter().flat_map(|(_, _, r)| r.rpc.iter().flat_map(packages)).filter(|p| p.get(key).is_some()).count()
}

#[test]
fn node_captures_decode_to_their_calls() {
    let cases: &[(&str, Transport, usize, usize)] = &[
        ("tcp04-basic", Transport::Tcp, 6, 6),
        ("tcp04-buffer", Transport::Tcp, 3, 3),
        ("tcp10-trace", Transport::Tcp, 6, 6),
        ("mqtt10-basic", Transport::Mqtt, 6, 6),
        ("mqtt10-buffer", Transport::Mqtt, 3, 3),
        ("mqtt10-idle", Transport::Mqtt, 2, 2),
        ("ws04-basic", Transport::Sio09, 6, 6),
        ("ws04-buffer", Transport::Sio09, 3, 3),
        ("ws04-idle", Transport::Sio09, 2, 2),
        ("ws04-xhrpolling", Transport::Sio09, 3, 3),
        ("ws04-whitelist-reject", Transport::Sio09, 1, 0),
    ];
    for &(name, t, requests, responses) in cases {
        let (recs, streams) = decode_capture(name, t);
        let bad: Vec<String> = recs
            .iter()
            .filter_map(|(_, _, r)| r.malformed.clone().map(|m| format!("{}: {m}", r.frame)))
            .collect();
        assert!(bad.is_empty(), "{name}: {bad:?}");
        assert_eq!((count(&recs, "msg"), count(&recs, "resp")), (requests, responses), "{name}");
        assert_every_byte_once(name, &recs, &streams);
    }
    // The polling capture: handshake, sid on every line, batches in POST bodies.
    let (recs, _) = decode_capture("ws04-xhrpolling", Transport::Sio09);
    let handshake = recs.iter().find(|(_, _, r)| r.fields.contains_key("handshake")).expect("handshake");
    assert_eq!(handshake.2.fields["handshake"]["transports"], json!(["xhr-polling"]));
    assert!(recs.iter().filter(|(_, _, r)| !r.rpc.is_empty()).all(|(_, _, r)| r.fields.contains_key("sid")));
}

/// Traffic outside the dialect (TLS, permessage-deflate, another coder) is recorded as
/// malformed without losing a byte, and the other direction keeps decoding.
#[test]
fn foreign_traffic_is_malformed_but_kept_whole() {
    for (name, t) in
        [("ws10-basic", Transport::Sio09), ("ws2-basic", Transport::Sio09), ("mqtt2-basic", Transport::Mqtt)]
    {
        let (recs, streams) = decode_capture(name, t);
        assert!(recs.iter().any(|(_, _, r)| r.malformed.is_some()), "{name}");
        assert_every_byte_once(name, &recs, &streams);
    }
    let (recs, _) = decode_capture("ws2-basic", Transport::Sio09);
    assert!(recs.iter().any(|(_, _, r)| r.frame == "http:response"), "the other direction still decodes");
}

/// The relay logs of a real pomelo 2.2.7 cluster (`fixtures/captures/cluster/run1-node`,
/// `TIMESTAMP [conn N] C->S|S->C <n> bytes hex=…` per read): the admin link to the master and
/// the cluster's RPC links decode as MQTT without a malformed frame.
fn decode_cluster_log(file: &str) -> Vec<(Dir, FrameRecord)> {
    let path = Path::new(CAPTURES).join("../cluster/run1-node").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut decoders: HashMap<u64, ConnDecoder> = HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((_, rest)) = line.split_once(" [conn ") else { continue };
        let Some((conn, rest)) = rest.split_once("] ") else { continue };
        let dir = match rest.get(..4) {
            Some("C->S") => Dir::C2s,
            Some("S->C") => Dir::S2c,
            _ => continue,
        };
        let Some((_, hex)) = rest.split_once("hex=") else { continue };
        let conn: u64 = conn.parse().unwrap();
        let d = decoders.entry(conn).or_insert_with(|| ConnDecoder::new(Transport::Mqtt, 1 << 26));
        out.extend(d.feed(dir, &unhex(hex.trim()).unwrap()).into_iter().map(|r| (dir, r)));
    }
    out
}

#[test]
fn cluster_admin_link_and_rpc_logs_decode() {
    let admin = decode_cluster_log("master-admin.log");
    assert!(admin.iter().all(|(_, r)| r.malformed.is_none()), "admin link: malformed frames");
    let topic = |t: &str| admin.iter().filter(|(_, r)| r.fields.get("topic") == Some(&json!(t))).count();
    assert!(
        topic("register") >= 2 && topic("monitor") >= 10,
        "register {} monitor {}",
        topic("register"),
        topic("monitor")
    );
    // Requests and responses on `monitor` are JSON encoded twice: decoded to objects.
    let watcher = admin
        .iter()
        .filter_map(|(_, r)| r.fields.get("json"))
        .find(|j| j["moduleId"] == "__masterwatcher__" && j.get("reqId").is_some())
        .expect("a twice-encoded __masterwatcher__ request");
    assert_eq!(watcher["body"]["action"], "subscribe");
    let registered: Vec<&Value> = admin
        .iter()
        .filter(|(d, r)| *d == Dir::C2s && r.fields.get("topic") == Some(&json!("register")))
        .map(|(_, r)| &r.fields["json"])
        .collect();
    assert!(registered.iter().any(|j| j["serverType"] == "time"), "{registered:?}");

    // The connector's forwarded client requests and the backend's session calls.
    let mut routes = BTreeMap::new();
    for file in ["rpc-time-server-1.log", "rpc-connector-server-1.log"] {
        let recs = decode_cluster_log(file);
        assert!(recs.iter().all(|(_, r)| r.malformed.is_none()), "{file}: malformed frames");
        for (_, r) in &recs {
            for p in r.rpc.iter().flat_map(packages) {
                if let Some(m) = p.get("msg") {
                    let route = format!(
                        "{}.{}.{}",
                        m["namespace"].as_str().unwrap(),
                        m["service"].as_str().unwrap(),
                        m["method"].as_str().unwrap()
                    );
                    *routes.entry(route).or_insert(0) += 1;
                }
            }
        }
    }
    assert!(routes.contains_key("sys.msgRemote.forwardMessage"), "{routes:?}");
    assert!(
        routes.keys().any(|r| r.starts_with("sys.sessionRemote.") || r.starts_with("sys.channelRemote.")),
        "{routes:?}"
    );
}

/// pomelo 1.2.3's admin link runs over socket.io 0.9 (`fixtures/captures/cluster-1x-pinus`, hex
/// dumps per read): its `register` / `monitor` events decode, arguments parsed.
#[test]
fn pomelo_1x_admin_link_over_socket_io_decodes() {
    let path = Path::new(CAPTURES).join("../cluster-1x-pinus/p123-admin-baseline.hex.log");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut decoders: HashMap<u64, ConnDecoder> = HashMap::new();
    let mut recs = Vec::new();
    let mut current: Option<(u64, Dir, Vec<u8>)> = None;
    let mut flush = |cur: Option<(u64, Dir, Vec<u8>)>, recs: &mut Vec<FrameRecord>| {
        if let Some((conn, dir, bytes)) = cur {
            let d = decoders.entry(conn).or_insert_with(|| ConnDecoder::new(Transport::Sio09, 1 << 26));
            recs.extend(d.feed(dir, &bytes));
        }
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("[admin #") {
            flush(current.take(), &mut recs);
            let conn: u64 = rest.split_whitespace().next().unwrap().parse().unwrap();
            let dir = if line.contains("] C->S ") {
                Some(Dir::C2s)
            } else if line.contains("] S->C ") {
                Some(Dir::S2c)
            } else {
                None
            };
            current = dir.map(|d| (conn, d, Vec::new()));
        } else if let (Some((_, _, bytes)), Some(dump)) = (current.as_mut(), line.strip_prefix("  ")) {
            // `  000010  72 65 …   |text|`: the hex between the offset and the text column.
            let hex_part = dump.get(8..).unwrap_or("").split("  |").next().unwrap_or("");
            bytes.extend(hex_part.split_whitespace().map(|h| u8::from_str_radix(h, 16).unwrap()));
        }
    }
    flush(current.take(), &mut recs);
    assert!(recs.iter().all(|r| r.malformed.is_none()), "{:?}", recs.iter().find(|r| r.malformed.is_some()));
    let events: Vec<&Value> =
        recs.iter().filter_map(|r| r.fields.get("events")).flat_map(|e| e.as_array().unwrap()).collect();
    let named = |n: &str| events.iter().filter(|e| e["name"] == n).count();
    assert_eq!((named("register"), named("monitor")), (4, 12), "{events:?}");
    let register = events.iter().find(|e| e["name"] == "register").unwrap();
    assert_eq!(register["args"][0]["type"], "monitor");
    assert!(recs.iter().any(|r| r.fields.contains_key("handshake")));
}

// ---------------------------------------------------------------------------------------------
// Live exchanges through the relay

/// Calls made through the relay; returns what the client sent and got, in order.
async fn exchange(client: &RpcClient) -> Vec<(RpcMsg, Vec<Value>)> {
    let mut calls = vec![
        msg(
            "echoRemote",
            "echo",
            vec![json!("é 中文 😀 \u{2028}"), json!({"zeta": 1, "alpha": [1.5, null]})],
        ),
        msg("echoRemote", "echo", vec![json!("x".repeat(70_000))]),
        msg("echoRemote", "fail", vec![json!("boom ü")]),
        msg("nopeRemote", "echo", vec![]),
    ];
    calls.extend((0..10u64).map(|i| msg("echoRemote", "sleep", vec![json!(5 + (9 - i) * 3)])));
    let futures = calls.into_iter().map(|m| async move {
        let got = client.call("rust-1", m.clone(), Some(Duration::from_secs(10))).await.expect("reply");
        (m, got)
    });
    futures::future::join_all(futures).await
}

/// The capture of a Rust client ↔ Node acceptor exchange decodes back to the same calls and the
/// same answers.
async fn rust_to_node_through_relay(node_args: &[&str], t: Transport, buffer: bool) {
    let (node, port) = node_server(node_args);
    let out = TempFile::new(t.name());
    let relay = relay_to(t, local(port), &out).await;
    let client = client_for(t, relay.local_addr(), buffer);
    let sent = exchange(&client).await;
    client.close();
    // The client's close has reached the relay: it recorded the client's FIN (or the end of the
    // connection, after a reset).
    wait_until("the relay records the client's close", WAIT, || {
        let text = std::fs::read_to_string(&out.0).unwrap();
        // Whole lines only: the writer may be in the middle of one.
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|l| (l["event"] == "fin" && l["dir"] == "c2s") || l["event"] == "close")
    })
    .await;
    let summary = relay.shutdown().await;
    let name = node.name.clone();
    drop(node);

    let fx = Fixture::load(&out.0).unwrap();
    assert_eq!(fx.malformed, 0, "{name}: malformed frames");
    assert_eq!(fx.calls.len(), sent.len(), "{name}");
    for (m, got) in &sent {
        let rec = fx
            .calls
            .iter()
            .find(|c| c.msg == *m)
            .unwrap_or_else(|| panic!("{name}: {}.{} not recorded", m.service, m.method));
        assert_eq!(rec.resp.as_ref(), Some(got), "{name}: {}.{}", m.service, m.method);
    }
    assert_eq!(summary.requests as usize, sent.len());
    assert_eq!(summary.responses as usize, sent.len());
    assert_eq!(summary.calls["echoRemote.sleep"], 10);
    assert_eq!(summary.malformed, 0);
    assert!(summary.frames.c2s > 0 && summary.frames.s2c > 0);
    let all = lines(&out.0);
    assert_eq!(all[0]["capture"], "pomelo-interop");
    assert_eq!(all[0]["transport"], t.name());
    assert!(all.last().unwrap().get("summary").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_to_node_tcp_through_relay() {
    rust_to_node_through_relay(
        &["--impl", "rpc04", "--transport", "tcp", "--port", "0"],
        Transport::Tcp,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_to_node_mqtt_buffered_through_relay() {
    rust_to_node_through_relay(
        &["--impl", "rpc10", "--transport", "mqtt", "--port", "0", "--buffer"],
        Transport::Mqtt,
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_to_node_sio09_through_relay() {
    rust_to_node_through_relay(
        &["--impl", "rpc04", "--transport", "ws", "--port", "0"],
        Transport::Sio09,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_to_node_pinus_tcp_through_relay() {
    // pinus remotes answer [null, args[0]] and have no multi-argument echo: use one argument.
    let (node, port) = node_server(&["--impl", "pinus", "--transport", "tcp", "--port", "0"]);
    let out = TempFile::new("pinus");
    let relay = relay_to(Transport::PinusTcp, local(port), &out).await;
    let client = client_for(Transport::PinusTcp, relay.local_addr(), false);
    let m = msg("echoRemote", "echo", vec![json!({"k": [1, 2]})]);
    let got = client.call("rust-1", m.clone(), None).await.unwrap();
    client.close();
    let summary = relay.shutdown().await;
    drop(node);
    let fx = Fixture::load(&out.0).unwrap();
    assert_eq!((fx.calls.len(), fx.malformed), (1, 0));
    assert_eq!(fx.calls[0].msg, m);
    assert_eq!(fx.calls[0].resp.as_ref(), Some(&got));
    assert_eq!(fx.calls[0].id, json!(1), "pinus tcp ids start at 1");
    assert_eq!(summary.calls["echoRemote.echo"], 1);
}

/// A Node client polls a Rust acceptor (xhr-polling only) through the relay: HTTP handshake,
/// long polls and POSTs are decoded, every call is paired by session id, and the capture replays
/// against the same acceptor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_polls_rust_through_relay_and_the_capture_replays() {
    let mut opts = AcceptorOptions::new(Transport::Sio09, local(0));
    opts.sio09.transports = vec!["xhr-polling".into()];
    let acceptor = Acceptor::start(opts, demo::remotes("rust-1").into_dispatcher().unwrap()).await.unwrap();
    let out = TempFile::new("polling");
    let relay = relay_to(Transport::Sio09, acceptor.local_addr(), &out).await;
    let port = relay.local_addr().port().to_string();
    let run = tokio::task::spawn_blocking(move || {
        node_run(
            "corpus",
            &[
                "--impl",
                "rpc04",
                "--transport",
                "ws",
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--cases",
                "echo-unicode,echo-multi,concurrent-50,fail-shape",
            ],
            Duration::from_secs(60),
        )
    })
    .await
    .unwrap();
    assert!(run.status.success(), "Node corpus over xhr-polling failed:\n{}", run.stdout);
    let summary = relay.shutdown().await;
    assert_eq!(summary.malformed, 0);
    let fx = Fixture::load(&out.0).unwrap();
    assert_eq!(fx.malformed, 0);
    assert_eq!(fx.calls.len(), 9 + 1 + 50 + 1);
    let unpaired: Vec<_> =
        fx.calls.iter().filter(|c| c.resp.is_none() || !c.session.starts_with("sid:")).collect();
    assert!(unpaired.is_empty(), "{unpaired:?}");
    let http = lines(&out.0).iter().filter(|l| l["frame"] == "http:request").count();
    assert!(http > 3, "polling is HTTP requests ({http})");
    acceptor.shutdown().await;
    // Our mailbox speaks WebSocket: replay against an acceptor that offers it.
    let ws = demo_acceptor(Transport::Sio09, false).await;
    let report = replay(&fx, &ReplayOptions::new(Transport::Sio09, ws.local_addr().to_string()), &|_| {})
        .await
        .unwrap();
    assert!(report.ok(), "{:?}", report.results.iter().find(|r| r.outcome != Outcome::Match));
    ws.shutdown().await;
}

/// What Node reads and serde_json's typed parser refuses (a lone surrogate from an emoji cut in
/// half, a number past f64, `-0`, 300 levels of nesting) decodes into a capture line, reads back
/// as a call, and replays against the Rust echo: the request goes out with its arguments exactly
/// as recorded and the reply comes back byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_json_in_a_capture_line_replays_byte_for_byte() {
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let args = format!(r#"["cut \ud83d",1e400,-0,{deep}]"#);
    let resp = format!(r#"[null,"cut \ud83d",1e400,-0,{deep}]"#);
    let request = format!(
        r#"{{"id":7,"msg":{{"namespace":"user","serverType":"demo","service":"echoRemote","method":"echo","args":{args}}}}}"#
    );
    let response = format!(r#"{{"id":7,"resp":{resp}}}"#);

    // The capture lines of these two stream-pkg frames, as the relay writes them.
    let mut text = json!({"capture": "pomelo-interop", "version": 1, "transport": "tcp"}).to_string() + "\n";
    let mut decoder = ConnDecoder::new(Transport::Tcp, 1 << 20);
    for (dir, payload) in [(Dir::C2s, &request), (Dir::S2c, &response)] {
        let mut frame = bytes::BytesMut::new();
        stream_pkg::put_header(payload.len(), &mut frame);
        frame.extend_from_slice(payload.as_bytes());
        let recs = decoder.feed(dir, &frame);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].malformed, None, "{dir:?}: not malformed");
        text += &recs[0].to_line(1.0, 1, dir);
        text.push('\n');
    }
    assert!(text.contains(&format!(r#""args":{args}"#)), "the line holds the arguments as sent");
    let fx = Fixture::read(text.as_bytes(), "inline").unwrap();
    assert_eq!((fx.calls.len(), fx.malformed, fx.unparsed), (1, 0, 0));
    assert_eq!(fx.calls[0].msg.args.as_str(), args);
    assert_eq!(fx.calls[0].resp_text.as_ref().map(|r| r.as_str()), Some(resp.as_str()));

    // Replayed through a relay in front of the Rust demo acceptor.
    let acceptor = demo_acceptor(Transport::Tcp, false).await;
    let out = TempFile::new("node-json");
    let relay = relay_to(Transport::Tcp, acceptor.local_addr(), &out).await;
    let opts = ReplayOptions::new(Transport::Tcp, relay.local_addr().to_string());
    let report = replay(&fx, &opts, &|_| {}).await.unwrap();
    assert_eq!(report.results[0].outcome, Outcome::Match);
    let reply = report.results[0].reply.as_ref().map(|r| r.as_str());
    assert_eq!(reply, Some(resp.as_str()), "the reply byte for byte");
    let summary = relay.shutdown().await;
    acceptor.shutdown().await;
    assert_eq!((summary.requests, summary.responses, summary.malformed), (1, 1, 0));

    // What crossed the relay: the recorded arguments, escape for escape.
    let again = Fixture::load(&out.0).unwrap();
    assert_eq!(again.calls[0].msg.args.as_str(), args);
    assert_eq!(again.calls[0].resp_text.as_ref().map(|r| r.as_str()), Some(resp.as_str()));
    let written = std::fs::read_to_string(&out.0).unwrap();
    let sent: Vec<u8> = written
        .lines()
        .map(|l| RawJson::from_slice(l.as_bytes()).unwrap())
        .filter(|l| member(l, "dir").is_some_and(|d| d == json!("c2s")) && member(l, "rpc").is_some())
        .flat_map(|l| unhex(&member(&l, "hex").unwrap().str().unwrap()).unwrap())
        .collect();
    assert!(sent.windows(args.len()).any(|w| w == args.as_bytes()), "the request on the wire");
}

// ---------------------------------------------------------------------------------------------
// Robustness: malformed frames, a decoder that falls behind, flushing

/// An upstream that echoes every byte back.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind(local(0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn send_and_read_back(addr: SocketAddr, chunks: &[&[u8]]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let total: usize = chunks.iter().map(|c| c.len()).sum();
    for c in chunks {
        s.write_all(c).await.unwrap();
        // Pacing: lets the relay read the chunks apart; what is asserted holds however they
        // arrive (the read below waits for every byte).
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut got = vec![0u8; total];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut got))
        .await
        .expect("echo within 5 s")
        .unwrap();
    got
}

#[tokio::test]
async fn malformed_frames_are_recorded_and_still_relayed() {
    let upstream = echo_server().await;
    let out = TempFile::new("malformed");
    let relay = relay_to(Transport::Tcp, upstream, &out).await;
    let good = b"\x08{\"id\":0}";
    let bad = [0x80u8; 6];
    let chunks: [&[u8]; 3] = [good, &bad, b"after the garbage"];
    let sent: Vec<u8> = chunks.concat();
    assert_eq!(send_and_read_back(relay.local_addr(), &chunks).await, sent, "relayed byte for byte");
    let summary = relay.shutdown().await;
    let all = lines(&out.0);
    for dir in ["c2s", "s2c"] {
        let frames: Vec<&str> = all
            .iter()
            .filter(|l| l["dir"] == dir && l.get("frame").is_some())
            .map(|l| l["frame"].as_str().unwrap())
            .collect();
        assert_eq!(frames[..2], ["stream-pkg", "malformed"], "{dir}: {frames:?}");
        assert!(frames[2..].iter().all(|f| *f == "raw"), "{dir}: {frames:?}");
        let raw: Vec<u8> = all
            .iter()
            .filter(|l| l["dir"] == dir && l.get("hex").is_some())
            .flat_map(|l| unhex(l["hex"].as_str().unwrap()).unwrap())
            .collect();
        assert_eq!(raw, sent, "{dir}: the file has every byte");
    }
    let reason =
        all.iter().find(|l| l["frame"] == "malformed").unwrap()["malformed"].as_str().unwrap().to_string();
    assert!(reason.to_string().contains("header"), "{reason}");
    assert!(summary.malformed >= 2, "{summary:?}");
}

#[tokio::test]
async fn a_decoder_that_falls_behind_stops_decoding_not_relaying() {
    let upstream = echo_server().await;
    let out = TempFile::new("overflow");
    let mut opts = RelayOptions::new(Transport::Tcp, local(0), upstream.to_string(), &out.0);
    opts.queue_limit = 16;
    let relay = Relay::start(opts).await.unwrap();
    let big = vec![b'x'; 100_000];
    assert_eq!(send_and_read_back(relay.local_addr(), &[&big]).await, big);
    relay.shutdown().await;
    let all = lines(&out.0);
    let behind =
        all.iter().filter(|l| l["malformed"].as_str().is_some_and(|m| m.contains("fell behind"))).count();
    assert!(behind >= 1, "{all:?}");
    let close = all.iter().find(|l| l["event"] == "close").unwrap();
    assert_eq!(close["bytes"], json!({"c2s": 100_000, "s2c": 100_000}));
}

/// A crash loses nothing written before it: lines reach the file while the relay runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_is_flushed_while_relaying() {
    let acceptor = demo_acceptor(Transport::Mqtt, false).await;
    let out = TempFile::new("flush");
    let relay = relay_to(Transport::Mqtt, acceptor.local_addr(), &out).await;
    let client = client_for(Transport::Mqtt, relay.local_addr(), false);
    client.call("rust-1", msg("echoRemote", "echo", vec![json!("flushed?")]), None).await.unwrap();
    wait_until("the call and its reply on disk while the relay runs", WAIT, || {
        let text = std::fs::read_to_string(&out.0).unwrap();
        if text.contains("flushed?") && text.contains(r#""resp":[null,"flushed?"]"#) {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await;
    client.close();
    relay.shutdown().await;
    acceptor.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The commands

/// A capture made through the relay of a Rust exchange, to replay in the command tests.
async fn small_fixture(acceptor: SocketAddr, out: &TempFile) {
    let relay = relay_to(Transport::Tcp, acceptor, out).await;
    let client = client_for(Transport::Tcp, relay.local_addr(), false);
    for m in [
        msg("echoRemote", "echo", vec![json!("one"), json!({"b": 2})]),
        msg("echoRemote", "fail", vec![json!("bad")]),
        msg("timeRemote", "getCurrentTime", vec![json!(1), json!(2)]),
    ] {
        client.call("rust-1", m, None).await.unwrap();
    }
    client.close();
    relay.shutdown().await;
}

async fn replay_cmd(args: &[&str]) -> (Option<i32>, String, String) {
    let out =
        tokio::process::Command::new(BIN).arg("replay").args(args).kill_on_drop(true).output().await.unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_command_matches_reports_diffs_and_exit_codes() {
    let acceptor = demo_acceptor(Transport::Tcp, false).await;
    let target = acceptor.local_addr().to_string();
    let fx = TempFile::new("cmd");
    small_fixture(acceptor.local_addr(), &fx).await;
    let file = fx.0.to_str().unwrap();

    let (code, out, err) = replay_cmd(&[file, "--target", &target]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("3 calls: 3 match"), "{out}");
    let (code, out, _) = replay_cmd(&[file, "--target", &target, "--check"]).await;
    assert_eq!(code, Some(0));
    let summary: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(summary["summary"]["ok"], true);
    assert_eq!(summary["summary"]["matched"], 3);

    // Over another dialect: a request is a request.
    let mqtt = demo_acceptor(Transport::Mqtt, true).await;
    let (code, out, err) =
        replay_cmd(&[file, "--target", &mqtt.local_addr().to_string(), "-t", "mqtt"]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    mqtt.shutdown().await;

    // A recorded answer that the target no longer gives.
    let tampered = TempFile::new("tampered");
    let text = std::fs::read_to_string(&fx.0)
        .unwrap()
        .replace(r#""resp":[null,"one",{"b":2}]"#, r#""resp":[null,"uno",{"b":2}]"#);
    assert!(text.contains("uno"));
    std::fs::write(&tampered.0, text).unwrap();
    let tfile = tampered.0.to_str().unwrap();
    let (code, out, err) = replay_cmd(&[tfile, "--target", &target]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("DIFFERS  #0 user.demo.echoRemote.echo"), "{out}");
    assert!(out.contains("$[1]\n      recorded \"uno\"\n      got      \"one\""), "{out}");
    assert!(err.contains("1 of 3 calls did not match"), "{err}");
    let (code, out, _) = replay_cmd(&[tfile, "--target", &target, "--check"]).await;
    assert_eq!(code, Some(1));
    let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["outcome"], "mismatch");
    assert_eq!(first["differences"], json!([{"path": "$[1]", "expected": "uno", "got": "one"}]));
    // Ignoring the path (for that route only) makes it pass.
    let (code, out, _) =
        replay_cmd(&[tfile, "--target", &target, "--ignore", "*.echoRemote.echo:$[1]"]).await;
    assert_eq!(code, Some(0), "{out}");
    // Strict comparison: the clock and the error stack count.
    let (code, out, _) = replay_cmd(&[file, "--target", &target, "--no-default-ignores", "--check"]).await;
    let summary: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert!(summary["summary"]["matched"].as_u64().unwrap() >= 2, "{out}");
    assert!(code == Some(0) || code == Some(1));

    // Nobody listening: no reply, exit 1, at once.
    let dead = TcpListener::bind(local(0)).await.unwrap().local_addr().unwrap().to_string();
    let started = Instant::now();
    let (code, out, _) = replay_cmd(&[file, "--target", &dead, "--timeout", "2000"]).await;
    assert_eq!(code, Some(1));
    assert!(out.contains("NO REPLY"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // Bad usage.
    let (code, _, err) = replay_cmd(&[file, "--target", &target, "--ignore", "stack"]).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("must start with $"), "{err}");
    acceptor.shutdown().await;
}

/// The whole replay is bounded: a call that would take long is cut at --max-seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_is_bounded_in_time() {
    let acceptor = demo_acceptor(Transport::Tcp, false).await;
    let lines = [
        json!({"capture": "pomelo-interop", "version": 1, "transport": "tcp"}),
        json!({"t_ms": 1, "conn": 1, "dir": "c2s", "frame": "stream-pkg", "rpc": [
            {"id": 0, "msg": {"namespace": "user", "serverType": "demo", "service": "echoRemote", "method": "sleep", "args": [5000]}},
            {"id": 1, "msg": {"namespace": "user", "serverType": "demo", "service": "echoRemote", "method": "echo", "args": [1]}},
        ]}),
        json!({"t_ms": 2, "conn": 1, "dir": "s2c", "frame": "stream-pkg", "rpc": [{"id": 1, "resp": [null, 1]}]}),
        json!({"t_ms": 5002, "conn": 1, "dir": "s2c", "frame": "stream-pkg", "rpc": [{"id": 0, "resp": [null, 5000]}]}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let fx = Fixture::read(text.as_bytes(), "inline").unwrap();
    let mut opts = ReplayOptions::new(Transport::Tcp, acceptor.local_addr().to_string());
    opts.max_time = Duration::from_millis(400);
    let started = Instant::now();
    let report = replay(&fx, &opts, &|_| {}).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(matches!(report.results[0].outcome, Outcome::NoReply(_)), "{:?}", report.results[0].outcome);
    assert_eq!(report.results[1].outcome, Outcome::Match);
    assert!(!report.ok());
    // With --rate, calls start no faster than asked.
    let mut opts = ReplayOptions::new(Transport::Tcp, acceptor.local_addr().to_string());
    opts.rate = Some(10.0);
    opts.only = vec!["*.echo".into()];
    let fx3 = Fixture::read(text.repeat(3).as_bytes(), "inline").unwrap();
    let started = Instant::now();
    let report = replay(&fx3, &opts, &|_| {}).await.unwrap();
    assert_eq!((report.results.len(), report.filtered), (3, 3));
    assert!(report.ok());
    assert!(started.elapsed() >= Duration::from_millis(190), "3 calls at 10/s take 0.2 s at least");
    // No graceful shutdown: it would wait for the 5 s sleep the first replay left running.
    drop(acceptor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_command_relays_and_prints_a_summary() {
    let acceptor = demo_acceptor(Transport::Mqtt, false).await;
    let out = TempFile::new("cli");
    let mut child = tokio::process::Command::new(BIN)
        .args(["capture", "-t", "mqtt", "--listen", "0", "--upstream", &acceptor.local_addr().to_string()])
        .args(["--out", out.0.to_str().unwrap(), "--meta", "who=test"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut first),
    )
    .await
    .expect("READY within 10 s")
    .unwrap();
    let port: u16 = serde_json::from_str::<Value>(first.trim().strip_prefix("READY ").expect(&first)).unwrap()
        ["port"]
        .as_u64()
        .unwrap() as u16;
    let client = client_for(Transport::Mqtt, local(port), false);
    for i in 0..3 {
        client.call("rust-1", msg("echoRemote", "echo", vec![json!(i)]), None).await.unwrap();
    }
    client.call("rust-1", msg("timeRemote", "getCurrentTime", vec![json!(1), json!(2)]), None).await.unwrap();
    client.close();
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status =
        tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("exits on SIGTERM").unwrap();
    assert!(status.success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    assert!(rest.contains("capture summary: 1 connection(s)"), "{rest}");
    assert!(rest.contains("calls per service.method:"), "{rest}");
    assert!(rest.contains("3  echoRemote.echo") && rest.contains("1  timeRemote.getCurrentTime"), "{rest}");
    let all = lines(&out.0);
    assert_eq!(all[0]["meta"], json!({"who": "test"}));
    assert_eq!(all.last().unwrap()["summary"]["requests"], 4);
    acceptor.shutdown().await;
}
