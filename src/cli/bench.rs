//! `bench`: ops/s with N calls in flight on one connection, as pomelo's bench clients measure,
//! with latency percentiles from an HDR histogram. Two variants: `--raw-echo` (the same loop
//! against `echo-server`, the ceiling of this machine) and `--idle-connections N` (the bench on
//! a fresh connection while N idle ones stay open, with the server's memory per connection).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use super::call::{build_msg, server_from_addr};
use super::{CliError, DialectArgs, echo, millis};
use crate::client::{ClientOptions, RpcClient, ServerInfo};
use crate::message::RpcMsg;

/// Options of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    dialect: DialectArgs,
    /// Server address, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    to: String,
    /// Route to call; it gets one string argument of --payload bytes.
    #[arg(long, default_value = "user.demo.echoRemote.echo")]
    route: String,
    /// Calls kept in flight.
    #[arg(long, default_value_t = 1)]
    inflight: usize,
    /// Stop after this many calls...
    #[arg(long, default_value_t = 20_000)]
    count: u64,
    /// ...or after this many seconds, whichever comes first.
    #[arg(long, default_value_t = 10.0)]
    max_seconds: f64,
    /// Size of the string argument (with --raw-echo: of the frame body), in bytes.
    #[arg(long, default_value_t = 1024)]
    payload: usize,
    /// Per-call deadline (with --raw-echo: per read or write).
    #[arg(long, default_value = "30000", value_parser = millis, value_name = "MS")]
    timeout: Duration,
    /// Label for the output line.
    #[arg(long, default_value = "rust")]
    label: String,
    /// Send requests in JSON arrays (bufferMsg).
    #[arg(long)]
    buffer_msg: bool,
    /// Speak the raw echo protocol of `echo-server` (u32 big-endian length + body, sent back
    /// unchanged) instead of RPC: the same loop with no RPC work, the ceiling of this machine.
    /// --transport is ignored.
    #[arg(long, conflicts_with_all = ["idle_connections", "buffer_msg", "route"])]
    raw_echo: bool,
    /// First open this many idle connections to the server (one cheap call each), then bench
    /// on a fresh connection while they stay open; reports the server's VmRSS per connection.
    #[arg(long, value_name = "N", requires = "server_pid")]
    idle_connections: Option<usize>,
    /// Process id of the server, whose VmRSS (/proc/PID/status) --idle-connections reports.
    #[arg(long, value_name = "PID", requires = "idle_connections")]
    server_pid: Option<u32>,
    /// Idle connections opened at once.
    #[arg(long, default_value_t = 64, value_name = "N")]
    idle_parallel: usize,
    /// No progress line, even when stderr is a terminal.
    #[arg(long)]
    no_progress: bool,
}

/// Sequential calls before measuring (they also open the connection).
pub(crate) const WARMUP: usize = 200;

/// How long opening the idle connections may take in all.
const IDLE_OPEN_LIMIT: Duration = Duration::from_secs(120);

/// What one measurement gives: a latency histogram of the calls that succeeded (µs), the
/// calls that failed, the measured time.
pub(crate) struct Stats {
    pub(crate) hist: Histogram<u64>,
    pub(crate) errors: u64,
    pub(crate) secs: f64,
    /// CPU time this process used while measuring (user + system), when the OS tells.
    pub(crate) cpu_secs: Option<f64>,
}

/// CPU time (user + system) this process has used so far, from `/proc/self/stat` (Linux).
pub(crate) fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// An empty latency histogram: 1 µs to one hour, 3 significant digits.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Microseconds since `t`, saturating.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Stats {
    /// The fields of the output line, in their order.
    fn fields(&self, label: &str, transport: &str, inflight: usize) -> Map<String, Value> {
        let calls = self.hist.len();
        let pct = |q: f64| if calls == 0 { Value::Null } else { json!(self.hist.value_at_quantile(q)) };
        let ops = if self.secs > 0.0 { (calls as f64 / self.secs).round() } else { 0.0 };
        let v = json!({
            "impl": label,
            "transport": transport,
            "inflight": inflight,
            "calls": calls,
            "secs": (self.secs * 1000.0).round() / 1000.0,
            "ops_per_sec": ops,
            "errors": self.errors,
            "p50_us": pct(0.5),
            "p99_us": pct(0.99),
            "p999_us": pct(0.999),
            "cpu_us_per_call": self.cpu_secs.filter(|_| calls > 0).map(|c| (c * 1e6 / calls as f64 * 100.0).round() / 100.0),
        });
        let Value::Object(m) = v else { unreachable!("json! of an object") };
        m
    }
}

/// A single updating line on stderr (only when it is a terminal), redrawn ten times a second
/// after the first half second, so that short runs print nothing. It draws from the cursor
/// position it found (saved with ESC 7), so a caller may print a label before it.
struct ProgressLine {
    done: Arc<AtomicU64>,
    task: Option<(tokio::task::JoinHandle<()>, Arc<AtomicBool>)>,
}

impl ProgressLine {
    fn start(enabled: bool, render: impl Fn(u64, f64) -> String + Send + 'static) -> Self {
        let done = Arc::new(AtomicU64::new(0));
        if !enabled {
            return ProgressLine { done, task: None };
        }
        let drawn = Arc::new(AtomicBool::new(false));
        let (counter, flag) = (done.clone(), drawn.clone());
        let task = tokio::spawn(async move {
            let started = Instant::now();
            tokio::time::sleep(Duration::from_millis(500)).await;
            loop {
                let text = render(counter.load(Ordering::Relaxed), started.elapsed().as_secs_f64());
                let first = !flag.swap(true, Ordering::Relaxed);
                {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "{}{text}", if first { "\x1b7" } else { "\x1b8\x1b[K" });
                    let _ = err.flush();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        ProgressLine { done, task: Some((task, drawn)) }
    }

    fn counter(&self) -> Arc<AtomicU64> {
        self.done.clone()
    }

    async fn finish(self) {
        if let Some((task, drawn)) = self.task {
            task.abort();
            let _ = task.await;
            if drawn.load(Ordering::Relaxed) {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\x1b8\x1b[K");
                let _ = err.flush();
            }
        }
    }
}

fn calls_line(count: u64) -> impl Fn(u64, f64) -> String + Send + 'static {
    move |done, secs| {
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        format!("{done}/{count} calls, {rate:.0} ops/s")
    }
}

/// Runs the benchmark and prints one JSON line.
pub async fn run(a: BenchArgs) -> Result<(), CliError> {
    if !(a.max_seconds > 0.0 && a.max_seconds.is_finite()) {
        return Err(CliError::Usage("--max-seconds must be a positive number".into()));
    }
    let progress = !a.no_progress && std::io::stderr().is_terminal();
    if a.raw_echo {
        let stream = echo::connect_and_warm_up(&a.to, a.payload, a.timeout).await?;
        let line = ProgressLine::start(progress, calls_line(a.count));
        let stats = echo::measure(
            stream,
            &echo::EchoLoad {
                inflight: a.inflight.max(1),
                count: a.count,
                limit: Duration::from_secs_f64(a.max_seconds),
                payload: a.payload,
                timeout: a.timeout,
                done: &line.counter(),
            },
        )
        .await;
        line.finish().await;
        println!("{}", Value::Object(stats?.fields(&a.label, "raw-echo", a.inflight)));
        return Ok(());
    }
    let msg = build_msg(&a.route, json!(["x".repeat(a.payload)]).to_string().as_bytes())?;
    let idle = match (a.idle_connections, a.server_pid) {
        (Some(n), Some(pid)) => Some(open_idle(&a, n, pid, progress).await?),
        _ => None,
    };
    let client = RpcClient::new(client_options(&a));
    client.add_server(server_from_addr("bench-target", &a.to)?);
    let mut stats = measure_rpc(&client, "bench-target", &msg, &a, progress).await;
    if let (Some(n), Err(CliError::NoReply(why))) = (a.idle_connections, &mut stats) {
        why.push_str(&format!(
            " (with {n} idle connections open: is the server's connection limit above {n}? \
             `serve --max-connections`)"
        ));
    }
    client.close();
    let mut fields = stats?.fields(&a.label, a.dialect.transport.name(), a.inflight);
    if let Some(idle) = idle {
        idle.client.close();
        fields.extend(idle.fields);
    }
    println!("{}", Value::Object(fields));
    Ok(())
}

fn client_options(a: &BenchArgs) -> ClientOptions {
    let mut opts = ClientOptions::new(a.dialect.transport);
    opts.mailbox.max_frame = a.dialect.max_frame;
    opts.mailbox.buffer_msg = a.buffer_msg;
    opts
}

/// Warms up (which opens the connection), then keeps `--inflight` calls going until
/// `--count` calls or `--max-seconds`.
async fn measure_rpc(
    client: &RpcClient,
    target: &'static str,
    msg: &RpcMsg,
    a: &BenchArgs,
    progress: bool,
) -> Result<Stats, CliError> {
    for _ in 0..WARMUP {
        // Only ok or not matters here (the reply itself is not looked at).
        if let Err(e) = client.call(target, msg.clone(), Some(a.timeout)).await {
            return Err(CliError::NoReply(format!("warm-up failed: {e}")));
        }
    }
    // One histogram for all workers: a lock held for a few nanoseconds per call costs less than
    // a histogram (~180 KB) per worker, allocated and zeroed inside the measured time.
    let hist = Arc::new(std::sync::Mutex::new(new_histogram()));
    let errors = Arc::new(AtomicU64::new(0));
    let issued = Arc::new(AtomicU64::new(0));
    let line = ProgressLine::start(progress, calls_line(a.count));
    let done = line.counter();
    let cpu0 = process_cpu_secs();
    let started = Instant::now();
    let limit = Duration::from_secs_f64(a.max_seconds);
    // The time limit as a flag a timer sets, so that workers read no clock for it.
    let stop = Arc::new(AtomicBool::new(false));
    let timer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let mut workers = Vec::new();
    for _ in 0..a.inflight.max(1) {
        let (client, msg, issued, done) = (client.clone(), msg.clone(), issued.clone(), done.clone());
        let (hist, errors, stop) = (hist.clone(), errors.clone(), stop.clone());
        let (count, timeout) = (a.count, a.timeout);
        workers.push(tokio::spawn(async move {
            while issued.fetch_add(1, Ordering::Relaxed) < count && !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match client.call_raw(target, msg.clone(), Some(timeout)).await {
                    Ok(_) => {
                        let us = micros(t.elapsed());
                        hist.lock().unwrap_or_else(|e| e.into_inner()).saturating_record(us);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut failure = None;
    for w in workers {
        if let Err(e) = w.await {
            failure = Some(CliError::Failed(e.to_string()));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    timer.abort();
    line.finish().await;
    if let Some(e) = failure {
        return Err(e);
    }
    let hist = std::mem::replace(&mut *hist.lock().unwrap_or_else(|e| e.into_inner()), new_histogram());
    let cpu_secs = process_cpu_secs().zip(cpu0).map(|(b, a)| b - a);
    Ok(Stats { hist, errors: errors.load(Ordering::Relaxed), secs, cpu_secs })
}

/// The idle connections, kept open until the bench on the fresh one is done, and what they
/// cost the server.
struct Idle {
    client: RpcClient,
    fields: Map<String, Value>,
}

/// Opens `n` connections (one `whoami` call each, `--idle-parallel` at a time), waits for the
/// server's VmRSS to settle and measures it before and after.
async fn open_idle(a: &BenchArgs, n: usize, pid: u32, progress: bool) -> Result<Idle, CliError> {
    if n == 0 {
        return Err(CliError::Usage("--idle-connections must be at least 1".into()));
    }
    let rss_before = vm_rss_kib(pid)?;
    let target = server_from_addr("idle", &a.to)?;
    let client = RpcClient::new(client_options(a));
    for i in 0..n {
        client.add_server(ServerInfo::new(format!("idle-{i}"), "", target.host.clone(), target.port));
    }
    let whoami = build_msg("user.demo.echoRemote.whoami", b"[]")?;
    let line = ProgressLine::start(progress, move |done, _| format!("{done}/{n} idle connections"));
    let done = line.counter();
    let deadline = Instant::now() + IDLE_OPEN_LIMIT;
    let opened = futures::stream::iter(0..n)
        .map(|i| {
            let (client, msg, done) = (client.clone(), whoami.clone(), done.clone());
            let timeout = a.timeout;
            async move {
                if Instant::now() >= deadline {
                    return false;
                }
                let ok = client.call(&format!("idle-{i}"), msg, Some(timeout)).await.is_ok();
                done.fetch_add(1, Ordering::Relaxed);
                ok
            }
        })
        .buffer_unordered(a.idle_parallel.max(1))
        .fold(0usize, |opened, ok| async move { opened + usize::from(ok) })
        .await;
    line.finish().await;
    if opened == 0 {
        client.close();
        return Err(CliError::NoReply(format!("none of the {n} idle connections to {} opened", a.to)));
    }
    let (rss_after, settled) = settled_rss(pid).await?;
    let per_conn = (rss_after as f64 - rss_before as f64) / opened as f64;
    let Value::Object(fields) = json!({
        "idle_connections": opened,
        "idle_failed": n - opened,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "rss_per_conn_kib": (per_conn * 100.0).round() / 100.0,
        "rss_settled": settled,
    }) else {
        unreachable!("json! of an object")
    };
    Ok(Idle { client, fields })
}

/// VmRSS of a process, in KiB.
fn vm_rss_kib(pid: u32) -> Result<u64, CliError> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Usage(format!("--server-pid {pid}: cannot read {path}: {e}")))?;
    parse_vm_rss(&text).ok_or_else(|| CliError::Failed(format!("{path}: no VmRSS line")))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// Samples VmRSS every 250 ms until four samples in a row (one second) are within 64 KiB of
/// each other, for at most 15 s; returns the last sample and whether it settled.
async fn settled_rss(pid: u32) -> Result<(u64, bool), CliError> {
    let give_up = Instant::now() + Duration::from_secs(15);
    let mut samples = vec![vm_rss_kib(pid)?];
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        samples.push(vm_rss_kib(pid)?);
        let last = &samples[samples.len().saturating_sub(4)..];
        let (lo, hi) = (last.iter().min(), last.iter().max());
        if let (Some(lo), Some(hi)) = (lo, hi)
            && last.len() == 4
            && hi - lo <= 64
        {
            return Ok((*hi, true));
        }
        if Instant::now() >= give_up {
            return Ok((samples[samples.len() - 1], false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn vm_rss_is_read_from_proc_status() {
        let status = "Name:\tpomelo-interop\nVmPeak:\t  99 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1 kB\n";
        assert_eq!(parse_vm_rss(status), Some(12345));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        let me = vm_rss_kib(std::process::id()).unwrap();
        assert!(me > 0);
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut hist = new_histogram();
        for v in 1..=1000 {
            hist.record(v).unwrap();
        }
        let stats = Stats { hist, errors: 2, secs: 0.5, cpu_secs: None };
        let f = stats.fields("rust", "tcp", 10);
        let keys: Vec<&str> = f.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "impl",
                "transport",
                "inflight",
                "calls",
                "secs",
                "ops_per_sec",
                "errors",
                "p50_us",
                "p99_us",
                "p999_us",
                "cpu_us_per_call"
            ]
        );
        assert_eq!((f["calls"].as_u64(), f["ops_per_sec"].as_f64()), (Some(1000), Some(2000.0)));
        assert_eq!(
            (f["p50_us"].as_u64(), f["p99_us"].as_u64(), f["p999_us"].as_u64()),
            (Some(500), Some(990), Some(999))
        );
        let empty = Stats { hist: new_histogram(), errors: 0, secs: 1.0, cpu_secs: None };
        assert!(empty.fields("rust", "tcp", 1)["p99_us"].is_null());
    }

    #[test]
    fn idle_connections_need_the_server_pid() {
        let base = ["pomelo-interop", "bench", "--to", "127.0.0.1:1"];
        assert!(Cli::try_parse_from(base.iter().chain(&["--idle-connections", "10"])).is_err());
        let cli = Cli::try_parse_from(base.iter().chain(&["--idle-connections", "10", "--server-pid", "1"]))
            .unwrap();
        let Command::Bench(b) = cli.command else { panic!("not bench") };
        assert_eq!((b.idle_connections, b.server_pid), (Some(10), Some(1)));
        assert!(Cli::try_parse_from(base.iter().chain(&["--raw-echo", "--buffer-msg"])).is_err());
    }
}
