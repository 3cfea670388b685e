//! The binary as a user runs it: `serve`, then `call` with every kind of outcome.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{KillOnDrop, WAIT, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_pomelo-interop");

/// `serve`, killed on drop (also when its banner is not what is expected).
fn serve(args: &[&str]) -> (KillOnDrop, String) {
    let mut child = KillOnDrop::new(
        Command::new(BIN)
            .arg("serve")
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.child().stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.rsplit("://").next().unwrap().to_string();
    assert!(first.contains("listening on"), "{first}");
    let banner: Vec<String> = lines
        .by_ref()
        .take_while(|l| l.as_ref().is_ok_and(|l| !l.starts_with("stop")))
        .map(Result::unwrap)
        .collect();
    assert!(banner.iter().any(|l| l.contains("user.timeRemote.getCurrentTime")), "{banner:?}");
    assert!(banner.iter().any(|l| l.contains("pomelo-interop call")), "{banner:?}");
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

fn call(args: &[&str]) -> Output {
    Command::new(BIN).arg("call").args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn serve_and_call_both_dialects() {
    for t in ["tcp", "mqtt"] {
        let (_srv, addr) = serve(&["-t", t]);
        let o = call(&["-t", t, "--to", &addr, "user.demo.echoRemote.echo", r#"["hi",{"z":1,"a":2},[]]"#]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stdout(&o), r#"[null,"hi",{"z":1,"a":2},[]]"#);

        let o = call(&["-t", t, "--to", &addr, "user.demo.timeRemote.getCurrentTime", "[1,2]"]);
        let hms: Vec<u32> = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(hms.len(), 3);

        // A reply carrying an error is still a reply: exit 0.
        let o = call(&["-t", t, "--to", &addr, "user.demo.echoRemote.fail", r#"["boom"]"#]);
        assert_eq!(o.status.code(), Some(0));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(v[0]["msg"], "boom");
        assert!(v[0]["stack"].as_str().unwrap().starts_with("Error: boom\n    at "));

        let o = call(&["-t", t, "--to", &addr, "user.demo.nopeRemote.x"]);
        assert!(stdout(&o).contains("no such service:nopeRemote"), "{}", stdout(&o));

        // No reply within the deadline: exit 1, a message, nothing on stdout.
        let o = call(&["-t", t, "--to", &addr, "--timeout", "300", "user.demo.echoRemote.sleep", "[5000]"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("no reply") && stderr(&o).contains("300 ms"), "{}", stderr(&o));
        assert_eq!(stdout(&o), "");
    }
}

/// The argument bytes are read as Node reads JSON and sent as typed; the Rust echo returns them
/// untouched, so what comes back is the text given, except a byte that is not UTF-8, which is
/// read (and sent) as U+FFFD. (tests/compat_json.rs does the same against Node acceptors.)
#[test]
fn call_sends_arguments_as_node_reads_them() {
    use std::os::unix::ffi::OsStrExt;
    let (_srv, addr) = serve(&["-t", "tcp"]);
    let nested = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
    let cases: Vec<(Vec<u8>, String)> = vec![
        (
            br#"["cut mid-emoji \ud83d","\udc00 low first"]"#.to_vec(),
            r#"["cut mid-emoji \ud83d","\udc00 low first"]"#.into(),
        ),
        (br#"[1e400, -0]"#.to_vec(), "[1e400, -0]".into()),
        (format!("[{nested}]").into_bytes(), format!("[{nested}]")),
        (b"[\"a\xffb\"]".to_vec(), "[\"a\u{FFFD}b\"]".into()),
    ];
    for (args, echoed) in cases {
        let o = Command::new(BIN)
            .args(["call", "-t", "tcp", "--to", &addr, "user.demo.echoRemote.echo"])
            .arg(std::ffi::OsStr::from_bytes(&args))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stdout(&o), format!("[null,{}]", &echoed[1..echoed.len() - 1]));
    }
}

#[test]
fn buffered_server_answers_the_cli() {
    let (_srv, addr) = serve(&["-t", "mqtt", "--buffer-msg", "--interval", "5"]);
    let o = call(&["--to", &addr, "user.demo.echoRemote.echo", "[1]"]);
    assert_eq!(stdout(&o), "[null,1]", "{}", stderr(&o));
}

#[test]
fn dead_port_fails_at_once_in_both_dialects() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    for t in ["tcp", "mqtt"] {
        let started = Instant::now();
        let o = call(&[
            "-t",
            t,
            "--to",
            &format!("127.0.0.1:{port}"),
            "--timeout",
            "20000",
            "user.demo.echoRemote.echo",
        ]);
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("cannot connect") && stderr(&o).contains("refused"), "{}", stderr(&o));
    }
}

#[test]
fn peer_that_hangs_up_fails_at_once() {
    // Accepts and closes: the Node MQTT acceptor would never do this, but a dying server does.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming().take(2) {
            drop(s);
        }
    });
    for t in ["tcp", "mqtt"] {
        let started = Instant::now();
        let o = call(&["-t", t, "--to", &addr, "--timeout", "20000", "user.demo.echoRemote.echo"]);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("closed"), "{}", stderr(&o));
    }
}

#[test]
fn usage_errors_explain_themselves() {
    let o = call(&["--to", "127.0.0.1:1", "user.demo.echoRemote", "[]"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("namespace.serverType.service.method"), "{}", stderr(&o));
    let o = call(&["--to", "127.0.0.1:1", "user.demo.echoRemote.echo", r#"{"a":1}"#]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("JSON array"), "{}", stderr(&o));
    let o = call(&["--to", "localhost", "user.demo.echoRemote.echo"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("HOST:PORT"), "{}", stderr(&o));
    let o = Command::new(BIN).args(["call", "--help"]).output().unwrap();
    assert!(stdout(&o).contains("Exit status"), "{}", stdout(&o));
    let o = Command::new(BIN).args(["serve", "--port", "0", "--rpc-listen", "127.0.0.1:0"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--rpc-listen is for cluster members"), "{}", stderr(&o));
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let (mut srv, _addr) = serve(&[]);
    let pid = srv.pid();
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    let status = wait_for("serve stops on SIGTERM", WAIT, || srv.child().try_wait().unwrap());
    assert!(status.success(), "{status:?}");
}

#[test]
fn route_and_call_by_servers_file() {
    let (_a, addr_a) = serve(&["--id", "time-server-1"]);
    let (_b, addr_b) = serve(&["--id", "time-server-2"]);
    let port = |a: &str| a.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let dir = std::env::temp_dir().join(format!("pomelo-interop-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("servers.json");
    let servers = serde_json::json!({
        "development": {
            "connector": [{"id": "connector-server-1", "host": "127.0.0.1", "port": 1, "frontend": true}],
            "demo": [
                {"id": "time-server-1", "host": "127.0.0.1", "port": port(&addr_a)},
                {"id": "time-server-2", "host": "127.0.0.1", "port": port(&addr_b)}
            ]
        }
    });
    std::fs::write(&file, servers.to_string()).unwrap();
    let f = file.to_str().unwrap();
    for uid in ["", "alice", "bob", "a", "中文"] {
        let want = ["time-server-1", "time-server-2"][pomelo_interop::client::router::default_index(
            pomelo_interop::client::CrcFlavor::Pomelo,
            uid,
            2,
        )];
        let o = Command::new(BIN)
            .args(["route", "--servers", f, "--server-type", "demo", "--uid", uid])
            .output()
            .unwrap();
        assert_eq!(stdout(&o), want, "route uid {uid:?}: {}", stderr(&o));
        let o = call(&["--servers", f, "--uid", uid, "user.demo.echoRemote.whoami"]);
        assert_eq!(stdout(&o), format!(r#"[null,"{want}"]"#), "call uid {uid:?}: {}", stderr(&o));
    }
    let o = Command::new(BIN)
        .args(["route", "--servers", f, "--server-type", "demo", "--uid", "a", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["crc32"], -390611389);
    let o = Command::new(BIN).args(["route", "--servers", f, "--server-type", "nope"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("can not find server info for type:nope"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}
