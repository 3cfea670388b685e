//! `serve`: an acceptor with the demo remotes.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use std::path::PathBuf;

use clap::Args;

use super::{CliError, DialectArgs, millis};
use crate::client::Schedule;
use crate::client::{ClientOptions, RpcClient, ServerInfo};
use crate::cluster::{self, Cluster, Flavor, Handlers, Monitor, MonitorTimings};
use crate::server::demo;
use crate::server::{Acceptor, AcceptorOptions, ServerStack};
use crate::transport::Heartbeat;

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
    /// Connections served at once; further ones wait in the kernel backlog until one closes.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub max_connections: usize,
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
    /// Join the pomelo cluster of this game-server directory: reads config/master.json, this
    /// server's entry (--id) in config/servers.json and config/adminServer.json.
    #[arg(long, value_name = "DIR", conflicts_with = "master")]
    pub pomelo_config: Option<PathBuf>,
    /// Environment of the pomelo config files.
    #[arg(long, default_value = "development")]
    pub env: String,
    /// Join the pomelo cluster whose master listens here (HOST:PORT), without a project dir;
    /// uses --id, --server-type, --host and --port.
    #[arg(long, value_name = "HOST:PORT")]
    pub master: Option<String>,
    /// Admin token for this server type (the master's config/adminServer.json).
    #[arg(long)]
    pub token: Option<String>,
    /// Cluster generation: pomelo1 (socket.io 0.9 admin and RPC), pomelo2 (MQTT) or pinus
    /// (MQTT, crc over UTF-8, `[null, value]` replies). Default: detected from the project's
    /// package.json with --pomelo-config, else pomelo2.
    #[arg(long, value_parser = parse_flavor)]
    pub flavor: Option<Flavor>,
    /// pinus: `remoterPaths` to put in this server's info (JSON array of {namespace,
    /// serverType, path}); pinus servers load proxies for us from these paths on their disk.
    #[arg(long, value_name = "JSON")]
    pub remoter_paths: Option<String>,
    /// pinus: `handlerPaths` to put in this server's info (JSON array of paths).
    #[arg(long, value_name = "JSON")]
    pub handler_paths: Option<String>,
    /// Cluster member: listen for RPC here, but register the servers.json (or --host/--port)
    /// address with the master, so that a `capture` relay can sit on the registered port.
    #[arg(long, value_name = "HOST:PORT")]
    pub rpc_listen: Option<SocketAddr>,
}

fn parse_flavor(s: &str) -> Result<Flavor, cluster::UnknownFlavor> {
    s.parse()
}

/// Runs until Ctrl-C or SIGTERM, then shuts down gracefully.
pub async fn run(a: ServeArgs) -> Result<(), CliError> {
    let signal = stop_signal();
    if a.pomelo_config.is_some() || a.master.is_some() {
        return run_member(a, signal).await;
    }
    if a.rpc_listen.is_some() {
        return Err(CliError::Usage(
            "--rpc-listen is for cluster members (--pomelo-config or --master); use --host/--port".into(),
        ));
    }
    let mut opts = acceptor_options(&a, SocketAddr::new(a.host, a.port))?;
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
    let dispatcher = demo::remotes(&a.id).into_dispatcher().map_err(|e| CliError::Failed(e.to_string()))?;
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
    signal.await;
    tracing::info!("shutting down");
    acceptor.shutdown().await;
    Ok(())
}

/// Registers SIGTERM and SIGINT handlers now (before any banner is printed, so an early
/// signal is never lost) and resolves when one arrives.
pub(super) fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn acceptor_options(a: &ServeArgs, listen: SocketAddr) -> Result<AcceptorOptions, CliError> {
    let mut opts = AcceptorOptions::new(a.dialect.transport, listen);
    opts.server_id = a.id.clone();
    opts.buffer_msg = a.buffer_msg;
    opts.interval = a.interval;
    opts.max_frame = a.dialect.max_frame;
    opts.whitelist = a.whitelist.clone();
    opts.max_connections = a.max_connections;
    Ok(opts)
}

/// `serve` as a member of a Node pomelo cluster: listen first, then register with the master;
/// leave when the master says stop/kill/restart or on a signal.
async fn run_member(a: ServeArgs, signal: impl std::future::Future<Output = ()>) -> Result<(), CliError> {
    let failed = |e: crate::cluster::ClusterError| CliError::Failed(e.to_string());
    let cfg = match &a.pomelo_config {
        Some(dir) => cluster::config::from_project(dir, &a.env, &a.id, a.flavor).map_err(failed)?,
        None => cluster::JoinConfig {
            master: a.master.clone().expect("--master or --pomelo-config"),
            me: ServerInfo::new(&a.id, &a.server_type, a.host.to_string(), a.port),
            token: a.token.clone(),
            env: a.env.clone(),
            main: None,
            flavor: a.flavor.unwrap_or_default(),
        },
    };
    let mut cfg = cfg;
    if a.token.is_some() {
        cfg.token = a.token.clone();
    }
    for (key, flag, json) in [
        ("remoterPaths", "--remoter-paths", &a.remoter_paths),
        ("handlerPaths", "--handler-paths", &a.handler_paths),
    ] {
        if let Some(text) = json {
            let v: serde_json::Value =
                serde_json::from_str(text).map_err(|e| CliError::Usage(format!("{flag}: not JSON: {e}")))?;
            cfg.me.extra.insert(key.to_string(), v);
        }
    }
    let flavor = cfg.flavor;
    let me = cfg.me.clone();
    let listen_ip: IpAddr = me.host.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let opts = ClientOptions::new(flavor.rpc_transport());
    let client = RpcClient::builder(opts, Schedule::Default(flavor.crc())).build();
    let ctx = Cluster::new(client.clone(), &me.id, &me.server_type);
    let mut remotes = demo::remotes(&me.id);
    let mut handlers = Handlers::new();
    cluster::demo::register(&mut handlers);
    handlers.serve(&mut remotes, ctx);
    let listen = a.rpc_listen.unwrap_or(SocketAddr::new(listen_ip, me.port));
    let mut opts = acceptor_options(&a, listen)?;
    opts.transport = flavor.rpc_transport();
    opts.server_id = me.id.clone();
    let mut stack = ServerStack::new(remotes.into_dispatcher().map_err(|e| CliError::Failed(e.to_string()))?);
    if flavor == Flavor::Pinus {
        stack = stack.layer(tower::util::MapResponseLayer::new(cluster::pinus_reply));
    }
    let acceptor =
        Acceptor::start(opts, stack.into_handler()).await.map_err(|e| CliError::Failed(e.to_string()))?;
    let mut monitor = match Monitor::join(cfg.clone(), client.clone(), MonitorTimings::default()).await {
        Ok(m) => m,
        Err(e) => {
            acceptor.shutdown().await;
            return Err(failed(e));
        }
    };
    println!(
        "pomelo-interop: {} (type {}) joined the {:?} cluster of master {} and serves {}://{}",
        me.id,
        me.server_type,
        flavor,
        cfg.master,
        flavor.rpc_transport(),
        acceptor.local_addr()
    );
    let reason = tokio::select! {
        r = monitor.stopped() => format!("{r:?} from the master"),
        _ = signal => "signal".to_string(),
    };
    tracing::info!("leaving the cluster ({reason})");
    monitor.leave();
    acceptor.shutdown().await;
    client.close();
    println!("pomelo-interop: {} stopped ({reason})", me.id);
    Ok(())
}
