//! `capture`: a transparent relay in front of a real server that records every frame, both
//! ways, as JSON lines.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::{Map, Value};

use super::{CliError, DialectArgs};
use tokio::sync::oneshot;

use crate::capture::{Relay, RelayOptions, Summary};

/// Options of `capture`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    pomelo-interop capture -t mqtt --listen 4100 --upstream 127.0.0.1:3333 --out run.jsonl\n  \
    pomelo-interop capture -t sio09 --listen 0 --upstream 127.0.0.1:3010 --out ws.jsonl --meta impl=rpc04\n\n\
    Point the peers at the --listen port instead of the real server. Bytes are forwarded as they \
    arrive and decoded on a copy; every frame becomes one JSON line (format: fixtures/README.md). \
    Prints READY {\"port\":N} once listening; stops on Ctrl-C, SIGTERM or --max-seconds and prints \
    a summary (connections, frames per direction, calls per service.method).")]
pub struct CaptureArgs {
    #[command(flatten)]
    dialect: DialectArgs,
    /// Where peers connect: PORT (on 127.0.0.1) or HOST:PORT; 0 picks a free port.
    #[arg(long, value_name = "PORT|HOST:PORT")]
    listen: String,
    /// The real server, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    upstream: String,
    /// The JSON lines file to write (created or truncated).
    #[arg(long, value_name = "FILE.jsonl")]
    out: PathBuf,
    /// A label for the header line, e.g. impl=rpc10 (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// Stop by itself after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    max_seconds: Option<f64>,
    /// Undecoded bytes one connection may queue for its decoder before decoding of that
    /// direction stops (it is still relayed).
    #[arg(long, default_value_t = 64 * 1024 * 1024, value_name = "BYTES")]
    queue_limit: usize,
    /// Connections relayed at once; a peer past the cap is closed at once.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_connections: usize,
}

/// `PORT` or `HOST:PORT`.
fn listen_addr(s: &str) -> Result<SocketAddr, CliError> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().map_err(|_| CliError::Usage(format!("--listen {s:?}: expected PORT or HOST:PORT, e.g. 4100")))
}

/// `KEY=VALUE` pairs into the header's meta object.
fn meta(pairs: &[String]) -> Result<Map<String, Value>, CliError> {
    let mut m = Map::new();
    for p in pairs {
        let (k, v) =
            p.split_once('=').ok_or_else(|| CliError::Usage(format!("--meta {p:?}: expected KEY=VALUE")))?;
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(m)
}

/// Runs the relay until a signal or `--max-seconds`, then prints the summary.
pub async fn run(a: CaptureArgs) -> Result<(), CliError> {
    let listen = listen_addr(&a.listen)?;
    if !a.upstream.contains(':') {
        return Err(CliError::Usage(format!("--upstream {:?}: expected HOST:PORT", a.upstream)));
    }
    let mut opts = RelayOptions::new(a.dialect.transport, listen, a.upstream.clone(), a.out.clone());
    opts.max_frame = a.dialect.max_frame;
    opts.queue_limit = a.queue_limit;
    opts.max_connections = a.max_connections;
    opts.meta = meta(&a.meta)?;
    // Listen for signals before announcing the port: a SIGTERM right after READY must still
    // end in a summary, not kill the process.
    let stop = stop_signal();
    let (ready_tx, ready_rx) = oneshot::channel::<Result<std::net::SocketAddr, CliError>>();
    let (quit_tx, quit_rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = oneshot::channel::<Summary>();
    // The relay gets a single-threaded runtime of its own: one thread polls the sockets and
    // forwards, with no hand-off between worker threads on the path of a frame (decoding has
    // its own thread). Measured: about half the added latency of the multi-threaded runtime.
    std::thread::Builder::new()
        .name("capture-relay".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ =
                        ready_tx.send(Err(CliError::Failed(format!("cannot start the relay runtime: {e}"))));
                    return;
                }
            };
            rt.block_on(async move {
                let relay = match Relay::start(opts).await {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(CliError::Failed(e.to_string())));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(relay.local_addr()));
                let _ = quit_rx.await;
                let _ = done_tx.send(relay.shutdown().await);
            });
        })
        .map_err(|e| CliError::Failed(format!("cannot start the relay thread: {e}")))?;
    let gone = || CliError::Failed("the relay thread ended unexpectedly".into());
    let addr = ready_rx.await.map_err(|_| gone())??;
    println!("READY {}", serde_json::json!({ "port": addr.port() }));
    let _ = std::io::stdout().flush();
    eprintln!(
        "capture: {} relay {addr} -> {}, writing {}; stop with Ctrl-C",
        a.dialect.transport,
        a.upstream,
        a.out.display()
    );
    let limit = a.max_seconds.map(Duration::from_secs_f64);
    tokio::select! {
        _ = stop => {}
        _ = async {
            match limit {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        } => {}
    }
    let _ = quit_tx.send(());
    let summary = done_rx.await.map_err(|_| gone())?;
    print!("{summary}");
    let _ = std::io::stdout().flush();
    Ok(())
}

/// A future that completes on Ctrl-C or SIGTERM; the handlers are installed when it is made.
fn stop_signal() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => Box::pin(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }),
            _ => Box::pin(async {
                let _ = tokio::signal::ctrl_c().await;
            }),
        }
    }
    #[cfg(not(unix))]
    {
        Box::pin(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_and_meta() {
        assert_eq!(listen_addr("4100").unwrap(), "127.0.0.1:4100".parse().unwrap());
        assert_eq!(listen_addr("0.0.0.0:1").unwrap(), "0.0.0.0:1".parse().unwrap());
        assert!(listen_addr("x").is_err());
        let m = meta(&["impl=rpc04".into(), "note=a=b".into()]).unwrap();
        assert_eq!(m["note"], "a=b");
        assert!(meta(&["nope".into()]).is_err());
    }
}
