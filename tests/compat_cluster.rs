//! A live pomelo 2.2.7 cluster (`compat-tests/cluster/game-server/`) in which the `time` servers
//! are this binary: a Node master and connector (hybridconnector, websocket clients), and
//! `time-server-1`/`time-server-2` spawned by the master through `scripts/pomelo-launcher.js`
//! (`pomelo-interop serve --pomelo-config <game-server>`). One test, in phases:
//!
//! 1. startup: `pomelo list` shows the master, the connector and both Rust servers (with the pids
//!    of the Rust processes); a Rust server with a wrong token is refused and exits non-zero;
//! 2. client requests `time.timeHandler.*` forwarded by the Node connector reach the Rust
//!    handlers; the Rust handler binds the session (the connector sees the uid), pushes `onTime`
//!    to the client through channel `clock`, sets a session setting, fails with code 500 and
//!    kicks; the connector's `app.rpc.time.*` calls reach the Rust server picked by the Node
//!    route (`app/util/timeRoute.js`: alice → time-server-1, bob → time-server-2);
//! 3. `time-server-2` is killed (SIGKILL, by the pid `pomelo list` shows): the master broadcasts
//!    removeServer and bob's calls go to time-server-1; a hand-started `time-server-2` rejoins;
//! 4. the master is killed and restarted with `type=master`: the Rust servers reconnect and keep
//!    serving, `pomelo list` shows them again;
//! 5. `pomelo stop`: every process exits.
//!
//! Fixed ports 23005 (master), 23010 (clients), 23150 (connector RPC), 23051/23052 (Rust),
//! 23059 (the refused server). Fails, never skips, when `compat-tests/node_modules` is missing
//! (`npm ci --prefix compat-tests`; scripts/test does it). Every process it starts is killed on
//! drop of the [`Cluster`] guard, also when an assertion fails; the cluster log is printed then.

mod common;

use common::{ClientRun, WAIT, alive, cmdline, port_open, run_bounded, strip_ansi, wait_for};

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pomelo-interop");
const MASTER_PORT: u16 = 23005;
const CLIENT_PORT: u16 = 23010;
const PORTS: [u16; 6] = [23005, 23010, 23150, 23051, 23052, 23059];

/// The route of app/util/timeRoute.js with both servers up.
const ALICE_SERVER: &str = "time-server-1";
const BOB_SERVER: &str = "time-server-2";

/// One server row of `pomelo list`.
#[derive(Debug, Clone)]
struct Listed {
    server_type: String,
    pid: u32,
}

/// Everything the test started. Drop kills it all by pid, then anything still running from
/// this game-server dir (servers re-parented after their master died).
struct Cluster {
    compat: PathBuf,
    game_server: PathBuf,
    logs: PathBuf,
    children: Vec<(String, Child)>,
    /// Processes that are not our children (the Rust servers the master spawned).
    pids: Vec<u32>,
    masters: usize,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for pid in self.pids.clone() {
            self.kill_if_ours(pid);
        }
        // Fallback: whatever still runs with this game-server path on its command line.
        for pid in common::pgrep(&self.game_server) {
            self.kill_if_ours(pid);
        }
        if std::thread::panicking() {
            for entry in std::fs::read_dir(&self.logs).into_iter().flatten().flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(60)..];
                eprintln!("---- last lines of {} ----", entry.path().display());
                for line in tail {
                    eprintln!("{}", strip_ansi(line));
                }
            }
            eprintln!("---- the whole logs are kept in {} ----", self.logs.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.logs);
        }
    }
}

impl Cluster {
    fn new() -> Cluster {
        // Fails (never skips) without the Node packages.
        let compat = common::compat_dir();
        let modules = compat.join("node_modules");
        assert!(
            modules.join("pomelo/package.json").exists() && modules.join("pomelo/bin/pomelo").exists(),
            "pomelo 2.2.7 is missing from {}: run `npm ci --prefix compat-tests` (scripts/test does this)",
            modules.display()
        );
        for pkg in ["ws", "pomelo-protocol"] {
            assert!(
                modules.join(pkg).join("package.json").exists(),
                "{pkg} is missing from {}",
                modules.display()
            );
        }
        let game_server = compat.join("cluster").join("game-server");
        assert!(game_server.join("app.js").exists(), "{} is missing", game_server.display());
        for port in PORTS {
            assert!(
                !port_open(port),
                "port {port} is already in use (another run of this test or of scripts/demo-cluster?)"
            );
        }
        let logs = std::env::temp_dir().join(format!("compat-cluster-{}", std::process::id()));
        std::fs::create_dir_all(&logs).unwrap();
        Cluster { compat, game_server, logs, children: Vec::new(), pids: Vec::new(), masters: 0 }
    }

    fn log_file(&self, name: &str) -> (File, File) {
        let f = File::create(self.logs.join(name)).unwrap();
        let g = f.try_clone().unwrap();
        (f, g)
    }

    /// `node app.js env=development [type=master]` in the game-server dir; output to a log file.
    fn start_master(&mut self, master_only: bool) -> u32 {
        self.masters += 1;
        let (out, err) = self.log_file(&format!("master-{}.log", self.masters));
        let mut cmd = Command::new("node");
        cmd.arg(self.game_server.join("app.js")).arg("env=development");
        if master_only {
            cmd.arg("type=master");
        }
        let child = cmd
            .current_dir(&self.game_server)
            // The launcher starts this very binary (the one cargo built for the test).
            .env("POMELO_INTEROP_BIN", BIN)
            // Every server of env development as configured (variables of the capture runs).
            .env_remove("POMELO_INTEROP_RPC_LISTEN")
            .env_remove("POMELO_INTEROP_NODE_IDS")
            // Their output also goes to <logs>/<id>.log: it outlives the master's pipes.
            .env("POMELO_LAUNCHER_LOG_DIR", &self.logs)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn node app.js");
        let pid = child.id();
        self.children.push((format!("master #{}", self.masters), child));
        pid
    }

    /// A Rust server started by hand (not by the master), from the game-server config.
    fn start_rust_by_hand(&mut self, id: &str) -> u32 {
        let (out, err) = self.log_file(&format!("{id}-by-hand.log"));
        let child = Command::new(BIN)
            .env("RUST_LOG", "info")
            .args(["serve", "--pomelo-config"])
            .arg(&self.game_server)
            .args(["--env", "development", "--id", id])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn pomelo-interop serve");
        let pid = child.id();
        self.children.push((id.to_string(), child));
        pid
    }

    fn child_mut(&mut self, name: &str) -> &mut Child {
        &mut self.children.iter_mut().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no child {name}")).1
    }

    /// Kills a pid only if its command line mentions this game-server dir (pids get reused).
    fn kill_if_ours(&self, pid: u32) {
        let cmdline = cmdline(pid);
        // Only env `development`: tests/compat_replay.rs runs env `capture` of the same dir.
        let development = cmdline.contains("env=development") || cmdline.contains("--env development");
        if cmdline.contains(&*self.game_server.to_string_lossy()) && development {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }

    /// `node node_modules/.bin/pomelo <args> -h 127.0.0.1 -P 23005`, bounded.
    fn pomelo_cli(&self, args: &[&str]) -> (ExitStatus, String) {
        let mut cmd = Command::new("node");
        cmd.arg(self.compat.join("node_modules/pomelo/bin/pomelo"))
            .args(args)
            .args(["-h", "127.0.0.1", "-P", &MASTER_PORT.to_string()])
            .current_dir(&self.compat);
        let out = run_bounded(cmd, Duration::from_secs(20), &format!("pomelo {}", args.join(" ")));
        (out.status, String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `pomelo list` as id → (type, pid). Only call it once a server has registered: with none,
    /// the master's count-down latch throws and the CLI never answers (hence the bound).
    fn pomelo_list(&self) -> BTreeMap<String, Listed> {
        let (_, out) = self.pomelo_cli(&["list"]);
        parse_list(&out)
    }

    /// Runs compat-tests/cluster/client.js with these steps; bounded.
    fn client(&self, uid: Option<&str>, steps: &str) -> ClientRun {
        let mut cmd = Command::new("node");
        cmd.arg(self.compat.join("cluster/client.js")).args([
            "--port",
            &CLIENT_PORT.to_string(),
            "--steps",
            steps,
            "--timeout",
            "15000",
        ]);
        if let Some(uid) = uid {
            cmd.args(["--uid", uid]);
        }
        ClientRun::from_output(run_bounded(cmd, Duration::from_secs(30), &format!("client {uid:?} {steps}")))
    }

    /// Waits until `pomelo list` satisfies `ok` (bounded), returns that list.
    fn wait_list(
        &self,
        what: &str,
        limit: Duration,
        ok: impl Fn(&BTreeMap<String, Listed>) -> bool,
    ) -> BTreeMap<String, Listed> {
        let mut attempt = 0;
        wait_for(&format!("{what} (in pomelo list)"), limit, || {
            attempt += 1;
            let list = self.pomelo_list();
            if ok(&list) {
                eprintln!("        {what}: yes (pomelo list #{attempt})");
                Ok(list)
            } else {
                Err(format!("pomelo list {list:?}"))
            }
        })
    }
}

/// Rows of `pomelo list`: `serverId serverType pid rss heapTotal heapUsed uptime`.
fn parse_list(out: &str) -> BTreeMap<String, Listed> {
    let mut map = BTreeMap::new();
    for line in out.lines().map(strip_ansi) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() >= 3
            && cols[0] != "serverId"
            && let Ok(pid) = cols[2].parse()
        {
            map.insert(cols[0].to_string(), Listed { server_type: cols[1].to_string(), pid });
        }
    }
    map
}

/// Runs a command to completion (stdout and stderr captured), killing it by pid after `limit`.
/// A Rust time server as `pomelo list` shows it: type `time`, and its pid is a pomelo-interop
/// process (not the node launcher the master spawned).
fn assert_rust_server(list: &BTreeMap<String, Listed>, id: &str) -> u32 {
    let s = list.get(id).unwrap_or_else(|| panic!("{id} is not in pomelo list: {list:?}"));
    assert_eq!(s.server_type, "time", "{id}: {s:?}");
    let cmd = cmdline(s.pid);
    assert!(cmd.contains("pomelo-interop") && cmd.contains("serve"), "pid {} of {id} runs {cmd:?}", s.pid);
    s.pid
}

/// Checks a full client scenario for `uid`, whose requests the route sends to `server`.
fn assert_served_by(c: &Cluster, uid: &str, server: &str, when: &str) {
    let run = c.client(Some(uid), "entry,now,timeViaRpc,whoViaRpc,myUid,fail");
    if run.body("now").is_some_and(|b| b["code"] == 500) {
        // timeHandler.now calls the connector back (sessionRemote, channelRemote): it fails when
        // the Rust server does not know connector-server-1 (missed or ignored addServer).
        panic!(
            "{when}: time.timeHandler.now for {uid} on {server} answered code 500; the Rust server's \
             calls back to the connector failed (see {server}'s log: did it get addServer for \
             connector-server-1?):\n{}",
            run.raw
        );
    }
    run.assert_ok(&format!("{uid} ({when})"));
    // Client → Node connector → sys.msgRemote.forwardMessage → Rust timeHandler.now.
    let now = run.response("now");
    assert_eq!(now["code"], 200, "{now}");
    assert_eq!(now["server"], server, "time.timeHandler.now for {uid}: {now}");
    assert_eq!(now["uid"], uid, "{now}");
    for key in ["hour", "min", "sec"] {
        assert!(now[key].is_u64(), "{key} in {now}");
    }
    // Rust → connector channelRemote.pushMessage → the client.
    let pushes = run.pushes("onTime");
    assert!(
        pushes.iter().any(|p| p["server"] == server && p["hour"].is_u64()),
        "no onTime push from {server} for {uid}:\n{}",
        run.raw
    );
    // Connector → app.rpc.time.timeRemote.getCurrentTime (tutorial callback without error slot).
    let hms = run.response("timeViaRpc");
    assert_eq!(hms["code"], 200, "{hms}");
    let hms = hms["hms"].as_array().unwrap_or_else(|| panic!("hms: {hms}"));
    assert!(
        hms.len() == 3
            && hms[0].as_u64().is_some_and(|h| h < 24)
            && hms[1].as_u64().is_some_and(|m| m < 60)
            && hms[2].as_u64().is_some_and(|s| s < 60),
        "getCurrentTime answered {hms:?}"
    );
    // Connector → app.rpc.time.echoRemote.whoami, routed by the Node route on uid.
    let who = run.response("whoViaRpc");
    assert_eq!(who["server"], server, "echoRemote.whoami for {uid}: {who}");
    // The Rust handler's sessionRemote.push reached the connector's session.
    let me = run.response("myUid");
    assert_eq!(me["uid"], uid, "{me}");
    assert_eq!(me["lastTimeServer"], server, "session setting lastTimeServer: {me}");
    // A Rust handler error reaches the client as code 500.
    assert_eq!(run.response("fail")["code"], 500);
}

/// Retries (bounded) until both the forwarded request and the user RPC of `uid` are answered by
/// `server`: membership changes reach the connector through the master's broadcasts.
fn wait_routed(c: &Cluster, uid: &str, server: &str, what: &str) {
    wait_for(&format!("{what}: {uid} served by {server}"), Duration::from_secs(20), || {
        let run = c.client(Some(uid), "entry,whoViaRpc,now");
        if run.served_by("whoViaRpc", server) && run.served_by("now", server) {
            Ok(())
        } else {
            Err(format!("client run:\n{}", run.raw))
        }
    });
}

#[test]
fn pomelo_cluster_with_rust_time_servers() {
    let t0 = Instant::now();
    let mut c = Cluster::new();
    let phase = |name: &str| eprintln!("[{:>5.1}s] {name}", t0.elapsed().as_secs_f64());

    // ---- 1. startup ------------------------------------------------------------------------
    phase("start the master (it spawns connector-server-1, time-server-1, time-server-2)");
    let master1 = c.start_master(false);
    wait_for("the cluster's ports 23005, 23010, 23051, 23052 listen", Duration::from_secs(30), || {
        assert!(alive(master1), "the master exited during startup");
        [MASTER_PORT, CLIENT_PORT, 23051, 23052].iter().all(|p| port_open(*p))
    });
    let list = c.wait_list("pomelo list shows 4 servers", Duration::from_secs(30), |l| {
        ["master-server-1", "connector-server-1", "time-server-1", "time-server-2"]
            .iter()
            .all(|id| l.contains_key(*id))
    });
    let ts1 = assert_rust_server(&list, "time-server-1");
    let ts2 = assert_rust_server(&list, "time-server-2");
    let connector = list["connector-server-1"].pid;
    c.pids.extend([ts1, ts2, connector]);
    assert_eq!(list["master-server-1"].pid, master1);
    phase("all 4 servers registered");

    phase("a Rust server with a wrong token is refused");
    let mut bad = Command::new(BIN);
    bad.args(["serve", "--master", "127.0.0.1:23005", "--server-type", "time", "--id", "time-bad"])
        .args(["--port", "23059", "--token", "WRONG"]);
    let out = run_bounded(bad, Duration::from_secs(15), "pomelo-interop serve --token WRONG");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a wrong token must fail: {:?}, stderr {stderr}", out.status);
    assert!(stderr.contains("token"), "the refusal must mention the token: {stderr:?}");
    assert!(!c.pomelo_list().contains_key("time-bad"));

    // ---- 2. client requests, user RPC, session, channel, kick --------------------------------
    phase("alice → time-server-1, bob → time-server-2");
    assert_served_by(&c, "alice", ALICE_SERVER, "at startup");
    assert_served_by(&c, "bob", BOB_SERVER, "at startup");

    phase("the Rust handler binds an unbound session (sessionRemote.bind)");
    let run = c.client(Some("dave"), "myUid,now,myUid");
    run.assert_ok("dave");
    assert_eq!(run.response("now")["uid"], "dave");
    let me = run.events.iter().rfind(|e| e["step"] == "myUid").unwrap();
    assert_eq!(me["body"]["uid"], "dave", "the connector's session after the Rust bind: {me}");
    assert!(!run.pushes("onTime").is_empty(), "no push after the Rust bind:\n{}", run.raw);

    phase("the Rust handler kicks the session (sessionRemote.kickBySid)");
    let run = c.client(Some("erin"), "entry,kickMe");
    run.assert_ok("erin");
    let kick = run.kick().unwrap_or_else(|| panic!("no kick:\n{}", run.raw));
    assert_eq!(kick["reason"], "bye", "{kick}");

    // ---- 3. a Rust server dies ---------------------------------------------------------------
    phase("kill -9 time-server-2 (pid from pomelo list)");
    let _ = Command::new("kill").args(["-9", &ts2.to_string()]).status();
    wait_for("time-server-2 exits", Duration::from_secs(10), || !alive(ts2));
    c.wait_list("the master drops time-server-2", Duration::from_secs(20), |l| {
        !l.contains_key("time-server-2") && l.contains_key("time-server-1")
    });
    // The connector learns it from the master's removeServer broadcast.
    wait_routed(&c, "bob", ALICE_SERVER, "after time-server-2 died");
    phase("bob's calls went to time-server-1");

    phase("time-server-2 started again by hand rejoins");
    let ts2b = c.start_rust_by_hand("time-server-2");
    let list = c.wait_list("time-server-2 registers again", Duration::from_secs(20), |l| {
        l.get("time-server-2").is_some_and(|s| s.pid == ts2b)
    });
    assert_rust_server(&list, "time-server-2");
    wait_routed(&c, "bob", BOB_SERVER, "after time-server-2 rejoined");

    // ---- 4. master restart -------------------------------------------------------------------
    phase("kill -9 the master, restart it with type=master");
    let _ = Command::new("kill").args(["-9", &master1.to_string()]).status();
    wait_for("the master exits", Duration::from_secs(10), || !alive(master1));
    // A real wait: that the servers do not die with the master cannot be waited for, only seen
    // over a while (the Node processes would exit within it).
    std::thread::sleep(Duration::from_millis(500));
    for (name, pid) in [("time-server-1", ts1), ("time-server-2", ts2b), ("connector-server-1", connector)] {
        assert!(alive(pid), "{name} (pid {pid}) died with the master");
    }
    let master2 = c.start_master(true);
    wait_for("the new master listens", Duration::from_secs(20), || {
        assert!(alive(master2), "the restarted master exited");
        port_open(MASTER_PORT)
    });
    // The Node connector retries after 1, 2, 4 … s; the Rust servers on their own schedule.
    let list = c.wait_list("all servers reconnect to the new master", Duration::from_secs(40), |l| {
        ["master-server-1", "connector-server-1", "time-server-1", "time-server-2"]
            .iter()
            .all(|id| l.contains_key(*id))
    });
    assert_eq!(list["master-server-1"].pid, master2);
    // Every later list must be complete too. The new master numbers its requests from 1 again,
    // so these lists reuse request ids the old master gave to watchdog requests (addServer,
    // removeServer…); a server must answer what is asked now, not replay an old answer.
    for n in 1..=8 {
        let again = c.pomelo_list();
        let missing: Vec<&str> = ["master-server-1", "connector-server-1", "time-server-1", "time-server-2"]
            .into_iter()
            .filter(|id| !again.contains_key(*id))
            .collect();
        assert!(
            missing.is_empty(),
            "pomelo list #{n} after the master restart leaves out {missing:?}, which are connected and \
             serving (a server that answers the new master's `list` request with its cached answer to \
             an old request of the same id, e.g. a watchdog `error: 1`, drops out of the list): {again:?}"
        );
    }
    assert_eq!(assert_rust_server(&list, "time-server-1"), ts1);
    assert_eq!(assert_rust_server(&list, "time-server-2"), ts2b);
    phase("reconnected; requests still flow");
    wait_routed(&c, "bob", BOB_SERVER, "after the master restart");
    assert_served_by(&c, "alice", ALICE_SERVER, "after the master restart");
    assert_served_by(&c, "bob", BOB_SERVER, "after the master restart");

    // ---- 5. pomelo stop ----------------------------------------------------------------------
    phase("pomelo stop");
    let (status, out) = c.pomelo_cli(&["stop"]);
    assert!(status.success(), "pomelo stop: {status:?} {out}");
    let everyone = [master2, connector, ts1, ts2b];
    wait_for("every server exits after pomelo stop", Duration::from_secs(20), || {
        for name in ["master #2", "time-server-2"] {
            let _ = c.child_mut(name).try_wait();
        }
        everyone.iter().all(|p| !alive(*p))
    });
    let hand = c.child_mut("time-server-2").try_wait().unwrap().expect("time-server-2 has exited");
    assert!(hand.success(), "time-server-2 stopped by the master exits 0, got {hand:?}");
    let ports = [MASTER_PORT, CLIENT_PORT, 23150, 23051, 23052];
    wait_for("no port of the cluster accepts connections after pomelo stop", WAIT, || {
        let open: Vec<u16> = ports.iter().copied().filter(|p| port_open(*p)).collect();
        if open.is_empty() {
            return Ok(());
        }
        let ss = Command::new("ss").args(["-ltnp"]).output().map(|o| o.stdout).unwrap_or_default();
        Err(format!("ports {open:?} still accept connections:\n{}", String::from_utf8_lossy(&ss)))
    });
    phase("every process exited");
    eprintln!("cluster test took {:.1} s", t0.elapsed().as_secs_f64());
}
