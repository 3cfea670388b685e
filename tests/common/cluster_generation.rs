// The live-cluster harness shared by tests/compat_cluster_1x.rs and tests/compat_cluster_pinus.rs,
// included by both (`include!`), each defining `GEN` with what differs between the generations.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "mod.rs"]
mod common;
use common::{ClientRun, alive, cmdline, port_open, strip_ansi, try_run_bounded as run_bounded, wait_for};

/// What differs between the generations.
struct Gen {
    /// Directory under compat-tests/.
    project: &'static str,
    /// Packages that must be installed in its node_modules.
    packages: &'static [&'static str],
    /// `--flavor` for the hand-started server.
    flavor: &'static str,
    /// node options for the master and the admin CLI (pomelo 1.x needs the shims).
    node_pre: &'static [&'static str],
    /// The admin CLI script, relative to the project.
    cli: &'static str,
    master_port: u16,
    client_port: u16,
    ports: &'static [u16],
    /// Port of the hand-started `time-server-2`, and of the one refused for a wrong token.
    ts2_port: u16,
    bad_port: u16,
    /// A Rust server that joins after the master restart.
    ts3_port: u16,
    /// pinus: pass the servers.json entry's remoterPaths/handlerPaths as flags.
    pinus_paths: bool,
}


const ENV: &str = "interop";

// ---------------------------------------------------------------------------------------------
// Processes

/// Every process the test started or found below the master; all killed by pid on drop.
/// When the test panics, the tails of the logs are printed.
struct Procs {
    children: Vec<(String, Child)>,
    pids: Vec<(String, u32)>,
    log_dir: PathBuf,
}

impl Procs {
    fn all_pids(&self) -> Vec<u32> {
        self.children.iter().map(|(_, c)| c.id()).chain(self.pids.iter().map(|(_, p)| *p)).collect()
    }

    /// Adds every live descendant of the processes already tracked (connector, launcher and the
    /// Rust server it runs); call before the master dies, since its children are re-parented.
    fn adopt_descendants(&mut self) {
        let mut known = self.all_pids();
        let table = proc_table();
        let mut i = 0;
        while i < known.len() {
            let parent = known[i];
            for (pid, ppid) in &table {
                if *ppid == parent && !known.contains(pid) {
                    known.push(*pid);
                    self.pids.push((format!("descendant of {parent}"), *pid));
                }
            }
            i += 1;
        }
    }

    fn child(&mut self, name: &str) -> &mut Child {
        &mut self
            .children
            .iter_mut()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no process {name}"))
            .1
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        self.adopt_descendants();
        for (_, child) in &mut self.children {
            let _ = child.kill();
        }
        for (_, pid) in &self.pids {
            if alive(*pid) {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
        }
        for (_, child) in &mut self.children {
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("\n==== logs of the failed cluster test (kept in {}) ====", self.log_dir.display());
            if let Ok(entries) = std::fs::read_dir(&self.log_dir) {
                let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                paths.sort();
                for p in paths {
                    eprintln!("---- {} (last 80 lines)", p.display());
                    eprintln!("{}", tail(&p, 80));
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(&self.log_dir);
        }
    }
}

/// (pid, ppid) of every process, from /proc.
fn proc_table() -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return out };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let Some(close) = stat.rfind(')') else { continue };
        let mut rest = stat[close + 1..].split_whitespace();
        let _state = rest.next();
        if let Some(ppid) = rest.next().and_then(|p| p.parse().ok()) {
            out.push((pid, ppid));
        }
    }
    out
}



fn tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let text = strip_ansi(&text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}


// ---------------------------------------------------------------------------------------------
// The cluster

#[derive(Debug, Clone)]
struct Row {
    server_type: String,
    pid: u32,
    uptime: f64,
}


struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    procs: Procs,
    master_log: PathBuf,
}

impl Cluster {
    fn new() -> Cluster {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = root.join("compat-tests").join(GEN.project);
        for pkg in GEN.packages {
            assert!(
                dir.join("node_modules").join(pkg).join("package.json").exists(),
                "{pkg} is missing from {}/node_modules: run `npm ci --ignore-scripts` in compat-tests/{} \
                 (scripts/test does this); this live-cluster test never skips",
                dir.display(),
                GEN.project
            );
        }
        if Command::new("node").arg("--version").output().is_err() {
            panic!("`node` is not on PATH: install Node 20 to run the live-cluster tests");
        }
        for port in GEN.ports {
            assert!(
                !port_open(*port),
                "port {port} is already in use (another run of this test, or a leftover cluster?)"
            );
        }
        let log_dir =
            std::env::temp_dir().join(format!("pomelo-interop-{}-{}", GEN.project, std::process::id()));
        let _ = std::fs::remove_dir_all(&log_dir);
        std::fs::create_dir_all(&log_dir).unwrap();
        Cluster {
            master_log: log_dir.join("cluster.log"),
            dir,
            // The binary under test; POMELO_INTEROP_BIN overrides it (as for launcher.js).
            bin: std::env::var_os("POMELO_INTEROP_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_pomelo-interop"))),
            procs: Procs { children: Vec::new(), pids: Vec::new(), log_dir },
        }
    }

    fn admin_token(&self, server_type: &str) -> String {
        let text = std::fs::read_to_string(self.dir.join("config/adminServer.json")).unwrap();
        let list: Vec<Value> = serde_json::from_str(&text).unwrap();
        list.iter().find(|e| e["type"] == server_type).unwrap()["token"].as_str().unwrap().to_string()
    }

    fn servers_entry(&self, id: &str) -> Value {
        let text = std::fs::read_to_string(self.dir.join("config/servers.json")).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        doc[ENV]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|l| l.as_array().unwrap().iter())
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in servers.json"))
            .clone()
    }

    /// Starts the master (`extra` = `type=master` for a restart: no servers spawned). Its output
    /// and that of every server it spawns (env `interop`: inherited stdio) go to cluster.log.
    fn start_master(&mut self, extra: &[&str]) {
        let log = OpenOptions::new().create(true).append(true).open(&self.master_log).unwrap();
        let child = Command::new("node")
            .args(GEN.node_pre)
            .arg("app.js")
            .arg(format!("env={ENV}"))
            .args(extra)
            .current_dir(&self.dir)
            .env("POMELO_INTEROP_BIN", &self.bin)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn the master");
        self.procs.children.push(("master".into(), child));
    }

    /// `pomelo list` / `pinus list`: id → row; None when the master does not answer.
    fn list(&self) -> Option<BTreeMap<String, Row>> {
        let mut cmd = Command::new("node");
        cmd.args(GEN.node_pre)
            .arg(GEN.cli)
            .args(["list", "-h", "127.0.0.1", "-P", &GEN.master_port.to_string()])
            .current_dir(&self.dir);
        let out = run_bounded(cmd, Duration::from_secs(15), "list")?;
        let text = strip_ansi(&String::from_utf8_lossy(&out.stdout));
        let mut rows = BTreeMap::new();
        for line in text.lines() {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() >= 7
                && let (Ok(pid), Ok(uptime)) = (cols[2].parse::<u32>(), cols[6].parse::<f64>())
            {
                rows.insert(cols[0].to_string(), Row { server_type: cols[1].to_string(), pid, uptime });
            }
        }
        if rows.is_empty() { None } else { Some(rows) }
    }

    fn wait_list(
        &self,
        what: &str,
        limit: Duration,
        ok: impl Fn(&BTreeMap<String, Row>) -> bool,
    ) -> BTreeMap<String, Row> {
        let mut last = None;
        wait_for(&format!("{what} (in the list)"), limit, || {
            if let Some(rows) = self.list() {
                if ok(&rows) {
                    return Ok(rows);
                }
                last = Some(rows);
            }
            Err(format!("last list: {last:?}"))
        })
    }

    fn cli(&self, command: &str) {
        let mut cmd = Command::new("node");
        cmd.args(GEN.node_pre)
            .arg(GEN.cli)
            .args([command, "-h", "127.0.0.1", "-P", &GEN.master_port.to_string()])
            .current_dir(&self.dir);
        run_bounded(cmd, Duration::from_secs(20), command).unwrap_or_else(|| panic!("{command} hung"));
    }

    /// Runs the game client (client.js) to completion.
    fn client(&self, uid: &str, steps: &str, lenient: bool) -> ClientRun {
        let mut cmd = Command::new("node");
        cmd.arg("client.js")
            .args(["--port", &GEN.client_port.to_string(), "--uid", uid, "--steps", steps])
            .args(["--format", "json", "--timeout", "20000"])
            .current_dir(&self.dir);
        if lenient {
            cmd.arg("--lenient");
        }
        let out = run_bounded(cmd, Duration::from_secs(30), "client.js")
            .unwrap_or_else(|| panic!("client.js {uid} {steps} did not finish within 30 s"));
        ClientRun::from_output(out)
    }

    /// `serve --master …` by hand; returns its pid once it printed that it joined.
    fn serve_by_hand(&mut self, id: &str, port: u16, token: &str) -> u32 {
        let log_path = self.procs.log_dir.join(format!("{id}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new(&self.bin);
        cmd.args(["serve", "--flavor", GEN.flavor, "--master", &format!("127.0.0.1:{}", GEN.master_port)])
            .args(["--server-type", "time", "--id", id, "--port", &port.to_string(), "--token", token])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if GEN.pinus_paths {
            // The same records time-server-1 carries in its servers.json entry.
            let entry = self.servers_entry("time-server-1");
            cmd.args(["--remoter-paths", &entry["remoterPaths"].to_string()]);
            cmd.args(["--handler-paths", &entry["handlerPaths"].to_string()]);
        }
        let child = cmd.spawn().expect("spawn pomelo-interop serve");
        let pid = child.id();
        self.procs.children.push((id.to_string(), child));
        let joined = format!("{id} (type time) joined");
        wait_for(&format!("{id} joins"), Duration::from_secs(20), || {
            if let Ok(Some(status)) = self.procs.child(id).try_wait() {
                panic!("{id} exited with {status} before joining:\n{}", tail(&log_path, 40));
            }
            std::fs::read_to_string(&log_path).ok().filter(|t| t.contains(&joined)).map(|_| ())
        });
        pid
    }

    fn logs(&self) -> String {
        let mut all = tail(&self.master_log, 100_000);
        if let Ok(entries) = std::fs::read_dir(&self.procs.log_dir) {
            for e in entries.flatten() {
                all += &tail(&e.path(), 100_000);
            }
        }
        all
    }
}

/// One client session on `uid`: log in, a Rust handler (forwarded), the push it sends, user
/// remotes from the connector, the session state the Rust handler set, a Rust handler error.
/// Returns the time server that served it.
fn full_round(c: &Cluster, uid: &str, phase: &str) -> String {
    let run = c.client(uid, "entry,now,timeViaRpc,whoViaRpc,myUid,fail", false);
    assert!(run.status.success(), "{phase}: client {uid} failed (the cluster log says why):\n{}", run.raw);
    let now = run.response("now");
    let server = now["server"].as_str().unwrap().to_string();
    assert_eq!(now["code"], 200, "{now}");
    assert_eq!(now["uid"], uid, "the Rust handler sees the session's uid: {now}");
    for k in ["hour", "min", "sec"] {
        assert!(now[k].is_u64(), "{k} in {now}");
    }
    // channel `clock` → sys.channelRemote.pushMessage on the connector → the client.
    let pushes = run.pushes("onTime");
    assert_eq!(pushes.len(), 1, "one onTime push: {}", run.raw);
    assert_eq!(pushes[0]["server"], server.as_str(), "the push comes from the server that answered");
    // app.rpc.time.timeRemote.getCurrentTime(session, 1, 2, cb(h, m, s)) on the Node connector.
    let hms = run.response("timeViaRpc")["hms"].as_array().unwrap().clone();
    assert!(hms.len() == 3 && hms[0].as_u64().unwrap() < 24 && hms[1].as_u64().unwrap() < 60, "{hms:?}");
    // app.rpc.time.echoRemote.whoami: the same default route (by uid) as forwarded requests.
    assert_eq!(run.response("whoViaRpc")["server"], server.as_str(), "user RPC and forward route alike");
    // sessionRemote.push from the Rust handler reached the connector's session.
    assert_eq!(run.response("myUid")["lastTimeServer"], server.as_str());
    assert_eq!(run.response("fail")["code"], 500);
    server
}

/// The whole scenario, in phases (see the including test file).
fn run_generation() {
    let t0 = Instant::now();
    let mut c = Cluster::new();
    let token = c.admin_token("time");

    // 1. Registration: the master spawns the connector and, through launcher.js, time-server-1;
    //    time-server-2 is started by hand and is as much a member.
    c.start_master(&[]);
    let rows = c.wait_list("master, connector and time-server-1", Duration::from_secs(40), |r| {
        ["master-server-1", "connector-server-1", "time-server-1"].iter().all(|id| r.contains_key(*id))
    });
    let ts1 = rows["time-server-1"].clone();
    assert_eq!(ts1.server_type, "time");
    assert!(
        cmdline(ts1.pid).contains("pomelo-interop"),
        "time-server-1 (pid {}) is the Rust binary, registered with its own pid: {:?}",
        ts1.pid,
        cmdline(ts1.pid)
    );
    c.procs.adopt_descendants();
    let ts2_pid = c.serve_by_hand("time-server-2", GEN.ts2_port, &token);
    let rows = c.wait_list("time-server-2", Duration::from_secs(15), |r| r.contains_key("time-server-2"));
    assert_eq!(rows["time-server-2"].pid, ts2_pid, "list shows the Rust process's own pid");
    assert_eq!(rows["time-server-2"].server_type, "time");
    assert!(rows["time-server-2"].uptime < 1.0);
    if GEN.pinus_paths {
        // The connector built its `time` proxies from what the Rust servers advertised: the
        // servers.json entry's remoterPaths (time-server-1) and the same given as flags.
        let run = c.client("zed", "timeServers", false);
        let want = &c.servers_entry("time-server-1")["remoterPaths"];
        let infos = &run.response("timeServers")["remoterPaths"];
        for id in ["time-server-1", "time-server-2"] {
            assert_eq!(&infos[id], want, "{id}'s remoterPaths as the connector sees them");
        }
    }

    // 2. Both Rust servers serve; the connector routes by uid (crc32 of the uid mod 2 in arrival
    //    order; pinus hashes UTF-8, unsigned): alice → index 1, bob → index 0.
    let alice = full_round(&c, "alice", "both Rust servers up");
    let bob = full_round(&c, "bob", "both Rust servers up");
    assert_eq!(alice, "time-server-2", "alice routes to the second time server");
    assert_eq!(bob, "time-server-1", "bob routes to the first time server");
    let kick = c.client("carol", "entry,kickMe", false);
    assert!(kick.status.success() && kick.events.iter().any(|e| e["event"] == "kick"), "kickMe:\n{}", kick.raw);

    // 3. A wrong token: refused, exits non-zero with a message naming the token file.
    let mut cmd = Command::new(&c.bin);
    cmd.args(["serve", "--flavor", GEN.flavor, "--master", &format!("127.0.0.1:{}", GEN.master_port)])
        .args(["--server-type", "time", "--id", "time-server-9", "--port", &GEN.bad_port.to_string()])
        .args(["--token", "not-the-token"]);
    let out = run_bounded(cmd, Duration::from_secs(20), "serve with a wrong token")
        .expect("a refused server must exit, not hang");
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "wrong token: exit status {}: {text}", out.status);
    assert!(text.contains("refused") && text.contains("adminServer.json"), "clear message: {text}");
    // A real wait: an absence cannot be waited for; this gives the master time to list the
    // refused server if it had let it in.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!c.list().unwrap_or_default().contains_key("time-server-9"), "the refused server stays out");

    // 4. Death: kill -9 alice's time server. The master broadcasts removeServer; the connector
    //    routes alice to the survivor and the list drops the dead one.
    let (dead, survivor) = ("time-server-2", "time-server-1");
    let _ = Command::new("kill").arg("-9").arg(ts2_pid.to_string()).status();
    c.wait_list("time-server-2 dropped", Duration::from_secs(15), |r| {
        !r.contains_key(dead) && r.contains_key(survivor)
    });
    wait_for("the connector forgets time-server-2", Duration::from_secs(10), || {
        let run = c.client("alice", "timeServers", false);
        (run.response("timeServers")["servers"] == serde_json::json!([survivor])).then_some(())
    });
    let run = c.client("alice", "entry,whoViaRpc,now", true);
    assert_eq!(
        run.response("whoViaRpc")["server"],
        survivor,
        "alice's user RPC goes elsewhere:\n{}",
        run.raw
    );
    assert_eq!(run.response("now")["server"], survivor, "alice's requests go elsewhere:\n{}", run.raw);
    assert_eq!(run.pushes("onTime").len(), 1, "{}", run.raw);

    // 5. Master restart, twice: kill -9 the master, start a new one that spawns nothing
    //    (`type=master`). The connector and the Rust servers reconnect (`reconnect`) and the
    //    cluster keeps serving. After the first restart a new Rust server joins the new master.
    //    Each new master counts its request ids from 1 again (one counter shared by all
    //    monitors), so after the second restart the ids repeat those of the first: every
    //    request must be acted on and answered afresh, not from what was answered to an older
    //    master under the same id.
    let mut rust: Vec<(&str, u32)> = vec![(survivor, ts1.pid)];
    for restart in 1..=2 {
        let before = c.list().expect("list before the restart");
        c.procs.adopt_descendants();
        {
            let master = c.procs.child("master");
            let _ = master.kill();
            let _ = master.wait();
        }
        c.procs.children.retain(|(n, _)| n != "master");
        // A real wait, part of the scenario: the cluster runs without a master for a second
        // (the connector and the Rust servers try to reconnect and fail) before the new one.
        std::thread::sleep(Duration::from_secs(1));
        c.start_master(&["type=master"]);
        let rows = c.wait_list("the connector and the Rust servers back", Duration::from_secs(45), |r| {
            r.contains_key("connector-server-1") && rust.iter().all(|(id, _)| r.contains_key(*id))
        });
        for (id, pid) in &rust {
            assert_eq!(rows[*id].pid, *pid, "{id}: the same Rust process, reconnected");
        }
        let phase = format!("after master restart #{restart}");
        let served = full_round(&c, "alice", &phase);
        assert!(rust.iter().any(|(id, _)| *id == served), "{phase}: alice served by {served}");
        let mut lists = 0;
        let mut check_fresh = |c: &Cluster| {
            let rows = c.list().expect("list after the restart");
            for (id, _) in &rust {
                let now = rows.get(*id).unwrap_or_else(|| {
                    panic!(
                        "{phase}, list #{lists} leaves out {id}, which is connected and serving: \
                         its answer to the list request was not a list answer (the Rust monitor \
                         answers a new master's request id from its cache of an older master's \
                         answers, here probably a watchdog `error: 1`); rows: {rows:?}"
                    )
                });
                assert!(
                    now.uptime > before[*id].uptime,
                    "{phase}, list #{lists} shows {id} with uptime {} min, not more than the {} min \
                     before the restart: a stale reply (the Rust monitor answered a request of the \
                     new master from its cache of an older master's request ids)",
                    now.uptime,
                    before[*id].uptime
                );
            }
            lists += 1;
            rows
        };
        for _ in 0..8 {
            check_fresh(&c);
        }
        if restart == 1 {
            let ts3_pid = c.serve_by_hand("time-server-3", GEN.ts3_port, &token);
            wait_for("time-server-3 in the list", Duration::from_secs(15), || {
                check_fresh(&c).get("time-server-3").map(|r| assert_eq!(r.pid, ts3_pid))
            });
            for _ in 0..8 {
                check_fresh(&c);
            }
            // The newcomer is routable: with time-server-1 and time-server-3, alice → index 1.
            wait_for("the connector knows time-server-3", Duration::from_secs(10), || {
                let run = c.client("alice", "timeServers", false);
                let want = serde_json::json!([survivor, "time-server-3"]);
                (run.response("timeServers")["servers"] == want).then_some(())
            });
            assert_eq!(full_round(&c, "alice", "time-server-3 joined"), "time-server-3");
            assert_eq!(full_round(&c, "bob", "time-server-3 joined"), survivor);
            rust.push(("time-server-3", ts3_pid));
        }
    }

    // 6. stop: the Rust servers leave with the rest of the cluster.
    c.cli("stop");
    c.procs.adopt_descendants();
    let pids = c.procs.all_pids();
    wait_for("every process of the cluster exits after stop", Duration::from_secs(20), || {
        let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        left.is_empty().then_some(())
    });
    let logs = c.logs();
    for id in ["time-server-1", "time-server-3"] {
        assert!(logs.contains(&format!("{id} stopped (Stop from the master)")), "{id} says why it left");
    }
    assert!(t0.elapsed() < Duration::from_secs(120), "took {:?}", t0.elapsed());
}
