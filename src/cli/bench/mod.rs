//! `bench`: ops/s with N calls in flight on one connection, as pomelo's bench clients measure,
//! with latency percentiles from an HDR histogram. Two variants: `--raw-echo` (the same loop
//! against `echo-server`, the ceiling of this machine) and `--idle-connections N` (the bench on
//! a fresh connection while N idle ones stay open, with the server's memory per connection).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use super::call::{build_msg, server_from_addr};
use super::{CliError, DialectArgs, echo, millis};
use crate::client::{ClientOptions, RpcClient};
use crate::message::RpcMsg;

mod idle;
pub(crate) mod stats;

pub(crate) use stats::{ProgressLine, Stats, WARMUP, calls_line, micros, new_histogram, process_cpu_secs};

/// Options of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub(crate) dialect: DialectArgs,
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
    /// The server is a pomelo-interop process: with tcp, no limit on unanswered request bytes
    /// (that limit protects pomelo-rpc's stream-pkg decoder; cluster members learn it from the
    /// server table).
    #[arg(long)]
    pub(crate) rust_peer: bool,
}

/// The bench target's record, marked when it is a pomelo-interop process.
pub(crate) fn target(a: &BenchArgs, id: &str) -> Result<crate::client::ServerInfo, CliError> {
    let info = server_from_addr(id, &a.to)?;
    Ok(if a.rust_peer { info.mark_pomelo_interop() } else { info })
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
        (Some(n), Some(pid)) => Some(idle::open_idle(&a, n, pid, progress).await?),
        _ => None,
    };
    let client = RpcClient::new(client_options(&a));
    client.add_server(target(&a, "bench-target")?);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

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
