//! Rust client ↔ Rust acceptor over loopback, both dialects: the corpus, batching, deadlines,
//! disconnects, keepalive and bad input.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Target, WAIT, client_for, count_calls, demo_acceptor, rust_corpus, wait_until};

use pomelo_interop::client::{ClientError, Mailbox, MailboxOptions};
use pomelo_interop::message::RpcMsg;
use pomelo_interop::server::{Acceptor, AcceptorOptions, ServerStack, demo};
use pomelo_interop::server::{RemoteError, Remotes};
use pomelo_interop::transport::{CloseReason, Transport, TransportError};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The dialects spoken directly over TCP (raw-byte tests); sio09 has its own in tests/sio09.rs.
const STREAM: [Transport; 3] = [Transport::Tcp, Transport::Mqtt, Transport::PinusTcp];

fn echo(args: Vec<Value>) -> RpcMsg {
    RpcMsg::new("user", "demo", "echoRemote", "echo", args)
}

async fn corpus(transport: Transport, server_buffer: bool, client_buffer: bool) {
    let acc = demo_acceptor(transport, server_buffer).await;
    let client = client_for(transport, acc.local_addr(), client_buffer);
    let failures = rust_corpus(&client, Target::Rust).await;
    assert!(failures.is_empty(), "{transport} failures:\n{}", failures.join("\n"));
    client.close();
    acc.shutdown().await;
}

#[tokio::test]
async fn corpus_tcp() {
    corpus(Transport::Tcp, false, false).await;
}

#[tokio::test]
async fn corpus_mqtt() {
    corpus(Transport::Mqtt, false, false).await;
}

#[tokio::test]
async fn corpus_pinus_tcp() {
    corpus(Transport::PinusTcp, false, false).await;
    corpus(Transport::PinusTcp, true, true).await;
}

#[tokio::test]
async fn corpus_sio09() {
    corpus(Transport::Sio09, false, false).await;
    corpus(Transport::Sio09, true, true).await;
}

#[tokio::test]
async fn corpus_buffered_both_sides() {
    corpus(Transport::Tcp, true, true).await;
    corpus(Transport::Mqtt, true, true).await;
}

#[tokio::test]
async fn corpus_buffered_one_side() {
    corpus(Transport::Mqtt, true, false).await;
    corpus(Transport::Tcp, false, true).await;
}

#[tokio::test]
async fn deadline_fires_and_leaves_nothing_pending() {
    for t in Transport::ALL {
        let acc = demo_acceptor(t, false).await;
        let addr = acc.local_addr().to_string();
        let mb = Mailbox::connect("slow-1", &addr, MailboxOptions::new(t)).await.unwrap();
        let sleep = RpcMsg::new("user", "demo", "echoRemote", "sleep", vec![json!(1000)]);
        let started = Instant::now();
        let err = mb.call(sleep, Duration::from_millis(200)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(matches!(&err, ClientError::Timeout { server, .. } if server == "slow-1"), "{err}");
        assert!(err.to_string().contains("slow-1"), "{err}");
        assert_eq!(mb.pending(), 0);
        // The connection is still good.
        assert_eq!(
            mb.call(echo(vec![json!(1)]), Duration::from_secs(5)).await.unwrap(),
            vec![json!(null), json!(1)]
        );
        mb.close();
        acc.shutdown().await;
    }
}

/// A server that reads requests and closes the connection after `n` bytes.
async fn closing_server(close_after: usize) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut seen = 0;
                let mut buf = [0u8; 4096];
                while seen < close_after {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen += n,
                    }
                }
                drop(s);
            });
        }
    });
    addr
}

#[tokio::test]
async fn dropped_connection_fails_every_pending_call_at_once() {
    for t in STREAM {
        // Long enough to hold several requests before the server hangs up.
        let addr = closing_server(600).await;
        let client = client_for(t, addr, false);
        let started = Instant::now();
        let calls = (0..5).map(|i| {
            client.call("rust-1", echo(vec![json!("x".repeat(100)), json!(i)]), Some(Duration::from_secs(20)))
        });
        let results = futures::future::join_all(calls).await;
        assert!(started.elapsed() < Duration::from_secs(5), "failed at once, not at the deadline");
        for r in results {
            match r {
                Err(ClientError::Closed { server, reason }) => {
                    assert_eq!(server, "rust-1");
                    assert!(reason.to_string().contains("closed"), "{reason}");
                }
                other => panic!("{t}: expected a closed-connection error, got {other:?}"),
            }
        }
        // The next call reconnects (and fails the same way, at once).
        let r =
            client.call("rust-1", echo(vec![json!("y".repeat(700))]), Some(Duration::from_secs(20))).await;
        assert!(matches!(r, Err(ClientError::Closed { .. })), "{r:?}");
    }
}

#[tokio::test]
async fn dead_port_fails_at_once() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    for t in Transport::ALL {
        let client = client_for(t, addr, false);
        let started = Instant::now();
        let r = client.call("rust-1", echo(vec![]), Some(Duration::from_secs(30))).await;
        assert!(matches!(r, Err(ClientError::Transport(TransportError::Connect { .. }))), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

#[tokio::test]
async fn mqtt_keepalive_detects_a_silent_server() {
    // Accepts, reads everything, never answers (not even PINGRESP).
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let pings = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = pings.clone();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 65536];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if buf[..n].windows(2).any(|w| w == [0xc0, 0x00]) {
                        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
        }
    });
    let mut opts = MailboxOptions::new(Transport::Mqtt);
    opts.keepalive = Some(Duration::from_millis(100));
    let mb = Mailbox::connect("silent-1", &addr.to_string(), opts).await.unwrap();
    let started = Instant::now();
    let err = mb.call(echo(vec![]), Duration::from_secs(30)).await.unwrap_err();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(3), "{took:?}");
    match err {
        ClientError::Closed { server, reason } => {
            assert_eq!(server, "silent-1");
            assert!(matches!(reason, CloseReason::NoKeepaliveAnswer(_)), "{reason}");
        }
        other => panic!("{other}"),
    }
    assert!(pings.load(std::sync::atomic::Ordering::SeqCst) >= 1, "a PINGREQ was sent");
}

#[tokio::test]
async fn mqtt_acceptor_answers_pingreq_and_publish_without_connect() {
    let acc = demo_acceptor(Transport::Mqtt, false).await;
    let mut s = TcpStream::connect(acc.local_addr()).await.unwrap();
    // No CONNECT at all: Node's acceptor processes PUBLISH anyway, so do we.
    let payload = br#"{"id":"ten","msg":{"namespace":"user","serverType":"demo","service":"echoRemote","method":"echo","args":[1]}}"#;
    let mut pkt = vec![0xc0, 0x00, 0x30, (5 + payload.len()) as u8, 0x00, 0x03, b'r', b'p', b'c'];
    pkt.extend_from_slice(payload);
    s.write_all(&pkt).await.unwrap();
    let want_resp = br#"{"id":"ten","resp":[null,1]}"#;
    let mut want = vec![0xd0, 0x00, 0x30, (5 + want_resp.len()) as u8, 0x00, 0x03, b'r', b'p', b'c'];
    want.extend_from_slice(want_resp);
    let mut got = vec![0u8; want.len()];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut got)).await.unwrap().unwrap();
    assert_eq!(got, want);
    acc.shutdown().await;
}

#[tokio::test]
async fn tcp_acceptor_wire_bytes_and_verbatim_ids() {
    let acc = demo_acceptor(Transport::Tcp, false).await;
    let mut s = TcpStream::connect(acc.local_addr()).await.unwrap();
    // A batch with a non-numeric id, an object id and trace fields; replies come one by one.
    let body = br#"[{"traceId":"t","seqId":11,"source":"c","remote":"s","id":"ten","msg":{"namespace":"user","serverType":"demo","service":"echoRemote","method":"echo","args":["a"]}},{"id":{"x":1},"msg":{"namespace":"user","serverType":"demo","service":"echoRemote","method":"echo","args":[]}}]"#;
    let mut frame = vec![0x80 | (body.len() >> 7) as u8, (body.len() & 0x7f) as u8];
    frame.extend_from_slice(body);
    s.write_all(&frame).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let frame_of = |body: &[u8]| [&[body.len() as u8][..], body].concat();
    let want_a = frame_of(br#"{"id":"ten","resp":[null,"a"]}"#);
    let want_b = frame_of(br#"{"id":{"x":1},"resp":[null]}"#);
    while got.len() < want_a.len() + want_b.len() {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    let both = [&want_a[..], &want_b[..]].concat();
    let both_rev = [&want_b[..], &want_a[..]].concat();
    assert!(got == both || got == both_rev, "{:?}", String::from_utf8_lossy(&got));
    acc.shutdown().await;
}

/// Bad input costs only its own connection, and what was accepted before it is still answered.
#[tokio::test]
async fn bad_input_costs_only_that_connection() {
    for t in STREAM {
        let mut opts = AcceptorOptions::new(t, "127.0.0.1:0".parse().unwrap());
        opts.max_frame = 64 * 1024;
        let acc =
            Acceptor::start(opts, pomelo_interop::server::demo::remotes("rust-1").into_dispatcher().unwrap())
                .await
                .unwrap();
        let addr = acc.local_addr();
        let good = client_for(t, addr, false);
        assert!(good.call("rust-1", echo(vec![json!(0)]), None).await.is_ok());

        let garbage: Vec<(&str, Vec<u8>)> = match t {
            // 2^28-byte header: over the cap, refused before any allocation.
            Transport::Tcp => vec![
                ("oversize", vec![0x81, 0x80, 0x80, 0x80, 0x00]),
                ("endless header", vec![0xff; 8]),
                ("not json", b"\x05hello".to_vec()),
                ("empty frame", vec![0x00]),
            ],
            Transport::Sio09 => unreachable!("not a stream dialect"),
            Transport::PinusTcp => vec![
                ("oversize", vec![0x81, 0x80, 0x80, 0x80, 0x00]),
                ("unknown type", vec![0x01, 0x07]),
                ("not json", b"\x06\x00hello".to_vec()),
                ("empty frame", vec![0x00]),
            ],
            Transport::Mqtt => vec![
                ("oversize", vec![0x30, 0xff, 0xff, 0xff, 0x7f]),
                ("bad varint", vec![0x30, 0xff, 0xff, 0xff, 0xff, 0x01]),
                ("reserved type", vec![0xf0, 0x00]),
                ("not json", b"\x30\x0a\x00\x03rpchello".to_vec()),
                ("truncated topic", vec![0x30, 0x02, 0x00, 0x09]),
            ],
        };
        for (what, bytes) in garbage {
            let mut s = TcpStream::connect(addr).await.unwrap();
            // First a slow, valid request, then the garbage on the same connection.
            let req = br#"{"id":7,"msg":{"namespace":"user","serverType":"demo","service":"echoRemote","method":"sleep","args":[150]}}"#;
            let mut framed = Vec::new();
            match t {
                Transport::Tcp => framed.push(req.len() as u8),
                Transport::PinusTcp => framed.extend_from_slice(&[(req.len() + 1) as u8, 0x00]),
                Transport::Sio09 => unreachable!("not a stream dialect"),
                Transport::Mqtt => {
                    framed.extend_from_slice(&[0x30, (req.len() + 5) as u8, 0, 3, b'r', b'p', b'c'])
                }
            }
            framed.extend_from_slice(req);
            framed.extend_from_slice(&bytes);
            s.write_all(&framed).await.unwrap();
            let mut got = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got)).await;
            assert!(read.is_ok(), "{t} {what}: connection was not closed");
            let text = String::from_utf8_lossy(&got);
            assert!(
                text.contains(r#"{"id":7,"resp":[null,150]}"#),
                "{t} {what}: accepted request lost: {text:?}"
            );
            // Others are unaffected.
            assert_eq!(
                good.call("rust-1", echo(vec![json!(what)]), None).await.unwrap(),
                vec![json!(null), json!(what)]
            );
        }
        acc.shutdown().await;
    }
}

#[tokio::test]
async fn handler_errors_and_panics_cost_only_that_call() {
    let mut r = Remotes::new();
    r.service("user", "risky")
        .method("panic", |_x: Value| async move {
            if true {
                panic!("kaboom");
            }
            Ok::<_, RemoteError>(1)
        })
        .method("err", || async { Err::<u8, _>(RemoteError::new("nope").with("code", 7)) })
        .method("ok", || async { Ok::<_, RemoteError>("fine") });
    for t in Transport::ALL {
        let acc = Acceptor::start(
            AcceptorOptions::new(t, "127.0.0.1:0".parse().unwrap()),
            r.clone().into_dispatcher().unwrap(),
        )
        .await
        .unwrap();
        let client = client_for(t, acc.local_addr(), false);
        let call = |m: &str| client.call("rust-1", RpcMsg::new("user", "demo", "risky", m, vec![]), None);
        let p = call("panic").await.unwrap();
        assert!(p[0]["stack"].as_str().unwrap().contains("panicked: kaboom"), "{p:?}");
        let e = call("err").await.unwrap();
        assert_eq!((e[0]["msg"].clone(), e[0]["code"].clone()), (json!("nope"), json!(7)));
        assert_eq!(call("ok").await.unwrap(), vec![json!(null), json!("fine")]);
        acc.shutdown().await;
    }
}

#[tokio::test]
async fn graceful_shutdown_answers_inflight_requests() {
    // The demo remotes, counting the calls handed to them (the acceptor has read them).
    let dispatched = Arc::new(AtomicUsize::new(0));
    let stack =
        ServerStack::new(demo::remotes("rust-1").into_dispatcher().unwrap()).layer(count_calls(&dispatched));
    let opts = AcceptorOptions::new(Transport::Mqtt, "127.0.0.1:0".parse().unwrap());
    let acc = Acceptor::start(opts, stack.into_handler()).await.unwrap();
    let client = client_for(Transport::Mqtt, acc.local_addr(), false);
    assert!(client.call("rust-1", echo(vec![]), None).await.is_ok());
    let slow =
        client.call("rust-1", RpcMsg::new("user", "demo", "echoRemote", "sleep", vec![json!(300)]), None);
    let stop = async {
        wait_until("the server runs the slow call", WAIT, || dispatched.load(Ordering::SeqCst) == 2).await;
        acc.shutdown().await;
    };
    let (r, ()) = tokio::join!(slow, stop);
    assert_eq!(r.unwrap(), vec![json!(null), json!(300)]);
}

/// Node's MQTT acceptor never sends CONNACK; a broker-like server does. Both must work.
#[tokio::test]
async fn mqtt_mailbox_tolerates_a_connack() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut seen = Vec::new();
        // Wait for CONNECT and the first PUBLISH, then answer with CONNACK + a response.
        while !seen.windows(3).any(|w| w == b"rpc") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0);
            seen.extend_from_slice(&buf[..n]);
        }
        assert_eq!(seen[0], 0x10, "CONNECT comes first");
        let body = br#"{"id":0,"resp":[null,"ok"]}"#;
        let mut out =
            vec![0x20, 0x02, 0x00, 0x00, 0x30, (5 + body.len()) as u8, 0x00, 0x03, b'r', b'p', b'c'];
        out.extend_from_slice(body);
        s.write_all(&out).await.unwrap();
        let _ = s.read(&mut buf).await;
    });
    let mb =
        Mailbox::connect("broker-1", &addr.to_string(), MailboxOptions::new(Transport::Mqtt)).await.unwrap();
    assert_eq!(mb.call(echo(vec![]), Duration::from_secs(5)).await.unwrap(), vec![json!(null), json!("ok")]);
}

#[tokio::test]
async fn whitelist_closes_refused_peers_at_once() {
    for t in Transport::ALL {
        let mut opts = AcceptorOptions::new(t, "127.0.0.1:0".parse().unwrap());
        opts.whitelist = vec![r"^10\.".into()];
        let acc =
            Acceptor::start(opts, pomelo_interop::server::demo::remotes("rust-1").into_dispatcher().unwrap())
                .await
                .unwrap();
        let client = client_for(t, acc.local_addr(), false);
        let started = Instant::now();
        let r = client.call("rust-1", echo(vec![]), Some(Duration::from_secs(20))).await;
        assert!(r.is_err(), "{t}: a refused peer got {r:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{t}: refused at once");
        acc.shutdown().await;

        let mut opts = AcceptorOptions::new(t, "127.0.0.1:0".parse().unwrap());
        opts.whitelist = vec![r"^10\.".into(), r"^::ffff:127\.0\.0\.1$".into()];
        let acc =
            Acceptor::start(opts, pomelo_interop::server::demo::remotes("rust-1").into_dispatcher().unwrap())
                .await
                .unwrap();
        let client = client_for(t, acc.local_addr(), false);
        assert_eq!(
            client.call("rust-1", echo(vec![json!(1)]), None).await.unwrap(),
            vec![json!(null), json!(1)]
        );
        acc.shutdown().await;
    }
}
