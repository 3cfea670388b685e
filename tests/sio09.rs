//! The socket.io 0.9 acceptor on the wire, driven by a raw WebSocket / HTTP client: handshake
//! format, `1::` first, heartbeats, disconnects, unknown sids, xhr-polling framing and bad
//! input (which costs only its own connection).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{WAIT, wait_until};

use futures::{SinkExt, StreamExt};
use pomelo_interop::server::demo;
use pomelo_interop::server::{Acceptor, AcceptorOptions};
use pomelo_interop::transport::{Heartbeat, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

async fn acceptor(tweak: impl FnOnce(&mut AcceptorOptions)) -> Acceptor {
    let mut opts = AcceptorOptions::new(Transport::Sio09, "127.0.0.1:0".parse().unwrap());
    tweak(&mut opts);
    Acceptor::start(opts, demo::remotes("rust-1").into_dispatcher().unwrap()).await.unwrap()
}

/// One HTTP/1.1 request on a fresh connection; returns (status line, headers, body).
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    extra: &str,
) -> (String, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw)).await.unwrap().unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let (status, headers) = head.split_once("\r\n").unwrap();
    (status.to_string(), headers.to_lowercase(), body.to_string())
}

async fn handshake(addr: std::net::SocketAddr) -> String {
    let (status, _, body) = http(addr, "GET", "/socket.io/1/?t=1795247306707", "", "").await;
    assert!(status.contains("200"), "{status}");
    body.split(':').next().unwrap().to_string()
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn websocket(addr: std::net::SocketAddr, sid: &str) -> Ws {
    let stream = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/socket.io/1/websocket/{sid}");
    tokio_tungstenite::client_async(url, stream).await.unwrap().0
}

async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a frame within 10 s") {
            Some(Ok(Message::Text(t))) => return Some(t.to_string()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

const ECHO: &str = r#"5:::{"name":"message","args":[{"id":0,"msg":{"namespace":"user","serverType":"demo","service":"echoRemote","method":"echo","args":["hi"]}}]}"#;
const ECHO_REPLY: &str = r#"5:::{"name":"message","args":[{"id":0,"resp":[null,"hi"]}]}"#;

#[tokio::test]
async fn handshake_connect_event_json_and_disconnect() {
    let acc = acceptor(|_| {}).await;
    let addr = acc.local_addr();
    let (status, headers, body) = http(addr, "GET", "/socket.io/1/?t=1", "", "Origin: 127.0.0.1:9\r\n").await;
    assert!(status.contains("200"));
    assert!(headers.contains("access-control-allow-origin: 127.0.0.1:9"), "{headers}");
    assert!(headers.contains("access-control-allow-credentials: true"), "{headers}");
    let parts: Vec<&str> = body.split(':').collect();
    assert_eq!(parts.len(), 4, "{body}");
    assert_eq!(parts[0].len(), 20);
    assert!(parts[0].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(&parts[1..], ["60", "60", "websocket,xhr-polling"]);

    let mut ws = websocket(addr, parts[0]).await;
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("1::"));
    ws.send(Message::Text(ECHO.into())).await.unwrap();
    assert_eq!(next_text(&mut ws).await.as_deref(), Some(ECHO_REPLY));
    // A json packet carries a package too; the reply is still an event.
    let json = r#"4:::{"id":"j","msg":{"namespace":"user","serverType":"demo","service":"echoRemote","method":"echo","args":[]}}"#;
    ws.send(Message::Text(json.into())).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await.as_deref(),
        Some(r#"5:::{"name":"message","args":[{"id":"j","resp":[null]}]}"#)
    );
    // The client's heartbeat answer is tolerated, not echoed.
    ws.send(Message::Text("2::".into())).await.unwrap();
    ws.send(Message::Text("0::".into())).await.unwrap();
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("0::"));
    assert_eq!(next_text(&mut ws).await, None, "closed after the goodbye");
    acc.shutdown().await;
}

#[tokio::test]
async fn unknown_sid_gets_error_packet_and_close() {
    let acc = acceptor(|_| {}).await;
    let mut ws = websocket(acc.local_addr(), "AAAAAAAAAAAAAAAAAAAA").await;
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("7:::1+0"));
    assert_eq!(next_text(&mut ws).await, None);
    // A sid is good for one transport only.
    let sid = handshake(acc.local_addr()).await;
    let mut first = websocket(acc.local_addr(), &sid).await;
    assert_eq!(next_text(&mut first).await.as_deref(), Some("1::"));
    let mut second = websocket(acc.local_addr(), &sid).await;
    assert_eq!(next_text(&mut second).await.as_deref(), Some("7:::1+0"));
    acc.shutdown().await;
}

#[tokio::test]
async fn heartbeats_are_sent_and_silence_is_dropped() {
    let acc = acceptor(|o| {
        o.sio09.heartbeat =
            Heartbeat { interval: Duration::from_millis(200), timeout: Duration::from_millis(900) };
    })
    .await;
    let addr = acc.local_addr();
    let (_, _, body) = http(addr, "GET", "/socket.io/1/", "", "").await;
    assert!(body.contains(":1:60:"), "timeout advertised in whole seconds: {body}");
    let sid = body.split(':').next().unwrap();
    let mut ws = websocket(addr, sid).await;
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("1::"));
    // Answer two heartbeats, then go silent: the server must drop us.
    for _ in 0..2 {
        assert_eq!(next_text(&mut ws).await.as_deref(), Some("2::"));
        ws.send(Message::Text("2::".into())).await.unwrap();
    }
    let started = std::time::Instant::now();
    while let Some(t) = next_text(&mut ws).await {
        assert!(t == "2::" || t == "0::", "{t}");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    acc.shutdown().await;
}

#[tokio::test]
async fn bad_input_costs_only_that_connection() {
    let acc = acceptor(|o| o.max_frame = 64 * 1024).await;
    let addr = acc.local_addr();
    let mut good = websocket(addr, &handshake(addr).await).await;
    assert_eq!(next_text(&mut good).await.as_deref(), Some("1::"));
    let cases: Vec<(&str, Message)> = vec![
        ("garbage", Message::Text("garbage".into())),
        ("unknown packet type", Message::Text("9::".into())),
        ("truncated event JSON", Message::Text(r#"5:::{"name":"message","args":[{"id":1"#.into())),
        ("event with another name", Message::Text(r#"5:::{"name":"other","args":[1]}"#.into())),
        ("binary frame", Message::Binary(vec![1u8, 2, 3].into())),
        ("oversize frame", Message::Text("x".repeat(100 * 1024).into())),
    ];
    for (what, msg) in cases {
        let mut ws = websocket(addr, &handshake(addr).await).await;
        assert_eq!(next_text(&mut ws).await.as_deref(), Some("1::"));
        // A slow request first: it was accepted, so it is answered before the connection ends.
        let slow = r#"5:::{"name":"message","args":[{"id":7,"msg":{"namespace":"user","serverType":"demo","service":"echoRemote","method":"sleep","args":[100]}}]}"#;
        ws.send(Message::Text(slow.into())).await.unwrap();
        let _ = ws.send(msg).await;
        let mut seen = Vec::new();
        while let Some(t) = next_text(&mut ws).await {
            seen.push(t);
        }
        if what != "oversize frame" {
            // (tungstenite's size check ends the socket without a chance to answer.)
            assert!(
                seen.iter().any(|t| t == r#"5:::{"name":"message","args":[{"id":7,"resp":[null,100]}]}"#),
                "{what}: accepted request lost: {seen:?}"
            );
        }
        good.send(Message::Text(ECHO.into())).await.unwrap();
        assert_eq!(next_text(&mut good).await.as_deref(), Some(ECHO_REPLY), "{what}: others unaffected");
    }
    acc.shutdown().await;
}

/// socket.io 0.9 reads a text frame with `buffer.toString('utf8')`: bytes that are not UTF-8
/// are U+FFFD and the connection goes on (a Node mailbox can send them; tests/compat_json.rs
/// does). The acceptor reads them the same way, whole or in fragments, and keeps the connection.
#[tokio::test]
async fn text_frames_that_are_not_utf8_read_as_node_reads_them() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let acc = acceptor(|_| {}).await;
    let addr = acc.local_addr();
    let mut ws = websocket(addr, &handshake(addr).await).await;
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("1::"));
    let event = |id: u32, arg: &[u8]| {
        [
            format!(r#"5:::{{"name":"message","args":[{{"id":{id},"msg":{{"namespace":"user","serverType":"demo","service":"echoRemote","method":"echo","args":["#).as_bytes(),
            arg,
            b"]}}]}",
        ]
        .concat()
    };
    let text = |data: Vec<u8>, fin: bool| Message::Frame(Frame::message(data, OpCode::Data(Data::Text), fin));
    let more =
        |data: Vec<u8>, fin: bool| Message::Frame(Frame::message(data, OpCode::Data(Data::Continue), fin));
    ws.send(text(event(1, b"\"a\xffb\""), true)).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await.as_deref(),
        Some("5:::{\"name\":\"message\",\"args\":[{\"id\":1,\"resp\":[null,\"a\u{FFFD}b\"]}]}")
    );
    // Fragments: "é" split between two frames, an encoded surrogate (ED A0 80) in the last one.
    let whole = event(2, &["\"é \\u0000\",\"x".as_bytes(), b"\xed\xa0\x80", b"y\""].concat());
    let cut = whole.iter().position(|&b| b == 0xc3).unwrap() + 1;
    ws.send(text(whole[..cut].to_vec(), false)).await.unwrap();
    ws.send(more(whole[cut..].to_vec(), true)).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await.as_deref(),
        Some(
            "5:::{\"name\":\"message\",\"args\":[{\"id\":2,\"resp\":[null,\"é \\u0000\",\"x\u{FFFD}\u{FFFD}\u{FFFD}y\"]}]}"
        )
    );
    ws.send(Message::Text(ECHO.into())).await.unwrap();
    assert_eq!(next_text(&mut ws).await.as_deref(), Some(ECHO_REPLY), "the same connection goes on");
    // A request on the WebSocket path that is not an upgrade is refused plainly.
    let (status, _, _) = http(addr, "GET", "/socket.io/1/websocket/AAAA", "", "").await;
    assert!(status.contains("400"), "{status}");
    acc.shutdown().await;
}

#[tokio::test]
async fn xhr_polling_wire() {
    let acc = acceptor(|o| {
        o.sio09.transports = vec!["xhr-polling".into()];
        o.sio09.polling_duration = Duration::from_millis(300);
    })
    .await;
    let addr = acc.local_addr();
    let (_, _, body) = http(addr, "GET", "/socket.io/1/", "", "").await;
    assert!(body.ends_with(":xhr-polling"), "{body}");
    let sid = body.split(':').next().unwrap().to_string();
    // Only the advertised transport is served: a websocket gets "transport not supported".
    let mut ws = websocket(addr, &sid).await;
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("7:::0+0"));
    let path = format!("/socket.io/1/xhr-polling/{sid}?t=1");
    let (_, _, first) = http(addr, "GET", &path, "", "").await;
    assert_eq!(first, "1::");
    // Two packets in one POST body, lengths in UTF-16 units (é counts 1, 😀 counts 2).
    let a = r#"5:::{"name":"message","args":[{"id":0,"msg":{"namespace":"user","serverType":"demo","service":"echoRemote","method":"echo","args":["é😀"]}}]}"#;
    let b = r#"5:::{"name":"message","args":[{"id":1,"msg":{"namespace":"user","serverType":"demo","service":"echoRemote","method":"echo","args":[]}}]}"#;
    let framed = format!(
        "\u{fffd}{}\u{fffd}{a}\u{fffd}{}\u{fffd}{b}",
        a.encode_utf16().count(),
        b.encode_utf16().count()
    );
    let (_, _, ok) = http(addr, "POST", &path, &framed, "").await;
    assert_eq!(ok, "1");
    let mut got = String::new();
    for _ in 0..5 {
        let (_, _, body) = http(addr, "GET", &path, "", "").await;
        if body != "8::" {
            got.push_str(&body);
        }
        if got.contains(r#""id":0"#) && got.contains(r#""id":1"#) {
            break;
        }
    }
    assert!(got.contains(r#"{"id":0,"resp":[null,"é😀"]}"#), "{got}");
    assert!(got.contains(r#"{"id":1,"resp":[null]}"#), "{got}");
    // An idle poll is answered with a noop after the polling duration.
    let (_, _, noop) = http(addr, "GET", &path, "", "").await;
    assert_eq!(noop, "8::");
    // Disconnect by POST.
    http(addr, "POST", &path, "0::", "").await;
    let (_, _, bye) = http(addr, "GET", &path, "", "").await;
    assert_eq!(bye, "0::");
    acc.shutdown().await;
}

#[tokio::test]
async fn shutdown_says_goodbye_first() {
    let acc = acceptor(|_| {}).await;
    let addr = acc.local_addr();
    let mut ws = websocket(addr, &handshake(addr).await).await;
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("1::"));
    let stop = tokio::spawn(acc.shutdown());
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("0::"));
    assert_eq!(next_text(&mut ws).await, None);
    stop.await.unwrap();
}

/// The server advertises a 1 s heartbeat timeout but never sends `2::`: our mailbox declares the
/// connection dead after 1 s and fails the pending call with that reason. The server is a raw
/// one that never drops the mailbox itself: an acceptor with a 1 s heartbeat timeout drops a
/// peer silent for 1 s too, and its timer, started by the call, raced the mailbox's by well under
/// a millisecond (on a loaded machine the acceptor's goodbye came first).
#[tokio::test]
async fn mailbox_drops_a_server_silent_past_its_heartbeat_timeout() {
    use pomelo_interop::client::{ClientError, Mailbox, MailboxOptions};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let raw = tokio::spawn(async move {
        let (mut http, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = http.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"GET /socket.io/1/?t="), "{}", String::from_utf8_lossy(&buf[..n]));
        let body = "AAAAAAAAAAAAAAAAAAAA:1:60:websocket";
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        http.write_all(resp.as_bytes()).await.unwrap();
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        ws.send(Message::Text("1::".into())).await.unwrap();
        // Silent from here on, until the mailbox goes.
        while let Some(Ok(_)) = ws.next().await {}
    });
    let mb =
        Mailbox::connect("quiet-1", &addr.to_string(), MailboxOptions::new(Transport::Sio09)).await.unwrap();
    let sleep =
        pomelo_interop::message::RpcMsg::new("user", "demo", "echoRemote", "sleep", vec![5000.into()]);
    let started = std::time::Instant::now();
    match mb.call(sleep, Duration::from_secs(20)).await {
        Err(ClientError::Closed { server, reason }) => {
            assert_eq!(server, "quiet-1");
            assert!(reason.to_string().contains("heartbeat timeout"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "{took:?}");
    tokio::time::timeout(Duration::from_secs(5), raw).await.unwrap().unwrap();
}

/// A raw socket.io 0.9 server: our mailbox sends the handshake GET with a `t` parameter, upgrades
/// with a scheme-less Origin, waits for `1::`, answers `2::`, and closes with `0::` then a close
/// frame.
#[tokio::test]
#[allow(clippy::result_large_err)] // tungstenite's handshake callback signature, not ours
async fn mailbox_wire_sequence() {
    use pomelo_interop::client::{Mailbox, MailboxOptions};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let server_received = received.clone();
    let server = tokio::spawn(async move {
        let (mut http, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = http.read(&mut buf).await.unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(req.starts_with("GET /socket.io/1/?t="), "{req}");
        let body = "AAAAAAAAAAAAAAAAAAAA:60:60:websocket,xhr-polling";
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        http.write_all(resp.as_bytes()).await.unwrap();
        let (tcp, _) = l.accept().await.unwrap();
        let mut origin = None;
        let mut path = String::new();
        let callback = |req: &tokio_tungstenite::tungstenite::handshake::server::Request, resp| {
            origin = req.headers().get("origin").map(|v| v.to_str().unwrap().to_string());
            path = req.uri().path().to_string();
            Ok(resp)
        };
        let mut ws = tokio_tungstenite::accept_hdr_async(tcp, callback).await.unwrap();
        assert_eq!(path, "/socket.io/1/websocket/AAAAAAAAAAAAAAAAAAAA");
        assert_eq!(origin.as_deref(), Some(addr.to_string().as_str()));
        ws.send(Message::Text("1::".into())).await.unwrap();
        ws.send(Message::Text("2::".into())).await.unwrap();
        let mut seen = Vec::new();
        while let Some(Ok(m)) = ws.next().await {
            let close = matches!(m, Message::Close(_));
            seen.push(m);
            server_received.fetch_add(1, Ordering::SeqCst);
            if close {
                break;
            }
        }
        seen
    });
    let mb =
        Mailbox::connect("raw-1", &addr.to_string(), MailboxOptions::new(Transport::Sio09)).await.unwrap();
    wait_until("the server receives the heartbeat's answer", WAIT, || received.load(Ordering::SeqCst) >= 1)
        .await;
    mb.close();
    let seen = tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap();
    assert_eq!(seen[0], Message::Text("2::".into()), "heartbeat answered: {seen:?}");
    assert_eq!(seen[1], Message::Text("0::".into()), "goodbye before closing: {seen:?}");
    assert!(matches!(seen[2], Message::Close(_)), "{seen:?}");
}
