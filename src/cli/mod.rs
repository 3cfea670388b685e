//! The binary's commands: `serve`, `call`, `bench`, `echo-server`, `route`, `capture`, `replay`.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::transport::Transport;

pub mod bench;
pub mod call;
pub mod capture;
pub mod echo;
pub mod replay;
pub mod route;
pub mod serve;

/// Exit code when no reply arrived (refused, reset, timeout).
pub const EXIT_NO_REPLY: i32 = 1;
/// Exit code for bad usage (clap uses it too).
pub const EXIT_USAGE: i32 = 2;

/// Errors the commands report; the binary prints them and picks the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line is wrong; the text says how to fix it.
    #[error("{0}")]
    Usage(String),
    /// Nothing came back from the remote side.
    #[error("{0}")]
    NoReply(String),
    /// Anything else (binding a port, I/O).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// Process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::NoReply(_) | CliError::Failed(_) => EXIT_NO_REPLY,
        }
    }
}

/// pomelo-interop: serve and call pomelo / pinus RPCs from Rust.
#[derive(Debug, Parser)]
#[command(name = "pomelo-interop", version, about, long_about = None)]
pub struct Cli {
    /// Runtime worker threads: 1 (the default) runs everything on one thread, like the Node
    /// processes it stands beside, with no hand-off between threads on the path of a call
    /// (measured faster at 1, 10 and 100 calls in flight on one connection); N > 1 a
    /// work-stealing runtime of N threads for handlers that need more than one core; 0 one
    /// thread per core.
    #[arg(long, global = true, env = "POMELO_INTEROP_THREADS", value_name = "N", default_value_t = 1)]
    pub threads: usize,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The worker threads the runtime should have (see `--threads`).
    pub fn worker_threads(&self) -> usize {
        self.threads
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start an RPC acceptor serving the demo remotes (timeRemote, echoRemote).
    Serve(serve::ServeArgs),
    /// Send one RPC and print the reply array as one line of JSON.
    Call(call::CallArgs),
    /// Measure calls per second against an acceptor (Rust or Node).
    Bench(bench::BenchArgs),
    /// Echo u32-big-endian-length-framed messages back unchanged (the raw baseline of
    /// `bench --raw-echo`); prints `READY {"port":N}` when listening.
    EchoServer(echo::EchoServerArgs),
    /// Print which server pomelo's default route picks for a uid.
    Route(route::RouteArgs),
    /// Relay a dialect to a real server and record every frame, both ways, as JSON lines.
    Capture(capture::CaptureArgs),
    /// Send the requests of a capture to a target and compare its answers with the recorded ones.
    Replay(replay::ReplayArgs),
}

/// Options shared by commands that speak a dialect.
#[derive(Debug, Clone, Args)]
pub struct DialectArgs {
    /// Wire dialect: tcp (stream-pkg), mqtt (pomelo 2.x / pinus default), pinus-tcp
    /// (pinus-rpc's typed tcp frames) or sio09 (socket.io 0.9, the pomelo 1.x default).
    #[arg(long, short = 't', default_value = "mqtt", value_parser = parse_transport)]
    pub transport: Transport,
    /// Largest frame accepted or sent, in bytes (pomelo's pkgSize).
    #[arg(long, default_value_t = crate::wire::DEFAULT_MAX_FRAME, value_name = "BYTES")]
    pub max_frame: usize,
}

fn parse_transport(s: &str) -> Result<Transport, crate::transport::UnknownTransport> {
    s.parse()
}

/// A command-line value that does not parse; the text says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadValue(pub String);

/// Parses a millisecond count.
pub fn millis(s: &str) -> Result<Duration, BadValue> {
    s.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| BadValue(format!("{s:?} is not a number of milliseconds")))
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(a) => serve::run(a).await,
        Command::Call(a) => call::run(a).await,
        Command::Bench(a) => bench::run(a).await,
        Command::EchoServer(a) => echo::run_server(a).await,
        Command::Route(a) => route::run(a).await,
        Command::Capture(a) => capture::run(a).await,
        Command::Replay(a) => replay::run(a).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_defaults_match_the_readme() {
        let cli = Cli::try_parse_from(["pomelo-interop", "serve"]).unwrap();
        let Command::Serve(s) = cli.command else { panic!("not serve") };
        assert_eq!(s.dialect.transport, Transport::Mqtt);
        assert_eq!((s.host.to_string().as_str(), s.port), ("127.0.0.1", 3333));
        assert_eq!((s.id.as_str(), s.server_type.as_str()), ("demo-server-1", "demo"));
        assert!(!s.buffer_msg);
        assert_eq!(
            s.max_connections,
            crate::server::AcceptorOptions::new(Transport::Mqtt, ([127, 0, 0, 1], 0).into()).max_connections
        );
    }

    #[test]
    fn transports_parse_case_insensitively() {
        assert_eq!(parse_transport("TCP"), Ok(Transport::Tcp));
        assert!(
            parse_transport("ws").unwrap_err().to_string().contains("expected tcp, mqtt, pinus-tcp or sio09")
        );
    }
}
