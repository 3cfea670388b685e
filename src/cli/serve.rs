//! `serve`: an acceptor with the demo remotes.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Args;

use super::{CliError, DialectArgs, millis};
use crate::server::demo;
use crate::transport::{Acceptor, AcceptorOptions, Heartbeat};

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub dialect: DialectArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, short = 'p', default_value_t = 3333)]
    pub port: u16,
    /// This server's id.
    #[arg(long, default_value = "demo-server-1")]
    pub id: String,
    /// This server's type (callers put it in the route).
    #[arg(long, default_value = "demo")]
    pub server_type: String,
    /// Reply in JSON arrays flushed every --interval (pomelo's bufferMsg).
    #[arg(long)]
    pub buffer_msg: bool,
    /// Flush interval for --buffer-msg, in milliseconds.
    #[arg(long, default_value = "30", value_parser = millis, value_name = "MS")]
    pub interval: Duration,
    /// Admit only peers whose IP matches this regular expression (repeatable; tried against
    /// both `127.0.0.1` and `::ffff:127.0.0.1` forms). Refused peers are disconnected at once.
    #[arg(long, value_name = "REGEX")]
    pub whitelist: Vec<String>,
    /// sio09: send `2::` every this many milliseconds.
    #[arg(long, default_value = "25000", value_parser = millis, value_name = "MS")]
    pub heartbeat_interval: Duration,
    /// sio09: heartbeat timeout advertised to clients (whole seconds on the wire); a client
    /// silent this long is dropped.
    #[arg(long, default_value = "60000", value_parser = millis, value_name = "MS")]
    pub heartbeat_timeout: Duration,
    /// sio09: how long an xhr-polling GET is held before `8::`.
    #[arg(long, default_value = "20000", value_parser = millis, value_name = "MS")]
    pub polling_duration: Duration,
    /// sio09: transports to advertise, comma-separated (websocket, xhr-polling).
    #[arg(long, default_value = "websocket,xhr-polling", value_delimiter = ',')]
    pub sio_transports: Vec<String>,
}

/// Runs until Ctrl-C or SIGTERM, then shuts down gracefully.
pub async fn run(a: ServeArgs) -> Result<(), CliError> {
    let mut opts = AcceptorOptions::new(a.dialect.transport, SocketAddr::new(a.host, a.port));
    opts.server_id = a.id.clone();
    opts.buffer_msg = a.buffer_msg;
    opts.interval = a.interval;
    opts.max_frame = a.dialect.max_frame;
    opts.whitelist = a.whitelist.clone();
    opts.sio09.heartbeat = Heartbeat { interval: a.heartbeat_interval, timeout: a.heartbeat_timeout };
    opts.sio09.polling_duration = a.polling_duration;
    for t in &a.sio_transports {
        if t != "websocket" && t != "xhr-polling" {
            return Err(CliError::Usage(format!(
                "--sio-transports: {t:?} is not served (websocket, xhr-polling)"
            )));
        }
    }
    opts.sio09.transports = a.sio_transports.clone();
    let dispatcher = demo::remotes(&a.id).into_dispatcher();
    let routes = dispatcher.routes();
    let acceptor = Acceptor::start(opts, dispatcher).await.map_err(|e| CliError::Failed(e.to_string()))?;
    let addr = acceptor.local_addr();
    let t = a.dialect.transport;
    let st = &a.server_type;
    println!("pomelo-interop: server {} (type {st}) listening on {t}://{addr}", a.id);
    println!("remotes:");
    for r in &routes {
        println!("  {r}");
    }
    println!("try:");
    println!("  pomelo-interop call -t {t} --to {addr} user.{st}.timeRemote.getCurrentTime '[1, 2]'");
    println!("  pomelo-interop call -t {t} --to {addr} user.{st}.echoRemote.echo '[\"hello\", 42]'");
    println!("  pomelo-interop call -t {t} --to {addr} user.{st}.echoRemote.fail '[\"boom\"]'");
    println!("  pomelo-interop call -t {t} --to {addr} user.{st}.echoRemote.sleep '[500]'");
    println!("stop with Ctrl-C");
    wait_for_signal().await;
    tracing::info!("shutting down");
    acceptor.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
