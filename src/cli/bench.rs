//! `bench`: ops/s with N calls in flight on one connection, as pomelo's bench clients measure.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use super::call::{build_msg, server_from_addr};
use super::{CliError, DialectArgs, millis};
use crate::client::{ClientOptions, RpcClient};

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
    /// Size of the string argument, in bytes.
    #[arg(long, default_value_t = 1024)]
    payload: usize,
    /// Per-call deadline.
    #[arg(long, default_value = "30000", value_parser = millis, value_name = "MS")]
    timeout: Duration,
    /// Label for the output line.
    #[arg(long, default_value = "rust")]
    label: String,
    /// Send requests in JSON arrays (bufferMsg).
    #[arg(long)]
    buffer_msg: bool,
}

/// Runs the benchmark and prints one JSON line.
pub async fn run(a: BenchArgs) -> Result<(), CliError> {
    let payload = "x".repeat(a.payload);
    let msg = build_msg(&a.route, &json!([payload]).to_string())?;
    let server = server_from_addr("bench-target", &a.to)?;
    let mut opts = ClientOptions::new(a.dialect.transport);
    opts.mailbox.max_frame = a.dialect.max_frame;
    opts.mailbox.buffer_msg = a.buffer_msg;
    let client = Arc::new(RpcClient::new(opts));
    client.add_server(server);
    // Warm-up, which also opens the connection.
    for _ in 0..200 {
        client
            .call("bench-target", msg.clone(), Some(a.timeout))
            .await
            .map_err(|e| CliError::NoReply(format!("warm-up failed: {e}")))?;
    }
    let started = Instant::now();
    let limit = Duration::from_secs_f64(a.max_seconds);
    let issued = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..a.inflight.max(1) {
        let (client, msg, issued, errors) = (client.clone(), msg.clone(), issued.clone(), errors.clone());
        let (count, timeout) = (a.count, a.timeout);
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while issued.fetch_add(1, Ordering::Relaxed) < count && started.elapsed() < limit {
                let t = Instant::now();
                match client.call_raw("bench-target", msg.clone(), Some(timeout)).await {
                    Ok(_) => lat.push(t.elapsed().as_micros() as u64),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.await.map_err(|e| CliError::Failed(e.to_string()))?);
    }
    let secs = started.elapsed().as_secs_f64();
    client.close();
    lat.sort_unstable();
    let pct = |p: f64| -> Value {
        if lat.is_empty() { Value::Null } else { json!(lat[((lat.len() - 1) as f64 * p) as usize]) }
    };
    let calls = lat.len() as u64;
    println!(
        "{}",
        json!({
            "impl": a.label,
            "transport": a.dialect.transport.name(),
            "inflight": a.inflight,
            "calls": calls,
            "secs": (secs * 1000.0).round() / 1000.0,
            "ops_per_sec": (calls as f64 / secs).round(),
            "errors": errors.load(Ordering::Relaxed),
            "p50_us": pct(0.5),
            "p99_us": pct(0.99),
        })
    );
    Ok(())
}
