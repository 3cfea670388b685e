//! `call`: one request, the reply array on stdout.

use std::time::Duration;

use clap::Args;

use super::{CliError, DialectArgs, millis};
use crate::client::{ClientError, ClientOptions, RpcClient, ServerInfo};
use crate::message::{JsonArray, RawJson, RpcMsg};

/// Options of `call`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    pomelo-interop call --to 127.0.0.1:3333 user.demo.timeRemote.getCurrentTime '[1,2]'\n  \
    pomelo-interop call -t tcp --to 127.0.0.1:3334 user.demo.echoRemote.echo '[\"hi\",{\"a\":1}]'\n\n\
    Exit status: 0 when a reply arrived (even one carrying an error), 1 when none did, 2 on bad usage.")]
pub struct CallArgs {
    #[command(flatten)]
    dialect: DialectArgs,
    /// Server address, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", required_unless_present = "servers", conflicts_with = "servers")]
    to: Option<String>,
    /// Route among the servers of a pomelo config/servers.json instead of --to, as the Node
    /// default route would (crc32 of --uid over the type's servers in file order).
    #[arg(long, value_name = "FILE")]
    servers: Option<std::path::PathBuf>,
    /// Environment section of --servers.
    #[arg(long, default_value = "development", requires = "servers")]
    env: String,
    /// Server type to route among (default: the route's serverType).
    #[arg(long, requires = "servers")]
    server_type: Option<String>,
    /// The uid the default route hashes (empty: an unbound session).
    #[arg(long, default_value = "", requires = "servers")]
    uid: String,
    /// Route: namespace.serverType.service.method (e.g. user.demo.echoRemote.echo).
    route: String,
    /// Arguments as a JSON array (read as Node reads JSON: bytes that are not UTF-8 become
    /// U+FFFD, lone surrogate escapes, `1e400` and `-0` are sent as typed).
    #[arg(default_value = "[]")]
    args: std::ffi::OsString,
    /// Give up after this many milliseconds.
    #[arg(long, default_value = "10000", value_parser = millis, value_name = "MS")]
    timeout: Duration,
    /// Server id to use in messages (default: the address).
    #[arg(long)]
    id: Option<String>,
}

/// Parses `HOST:PORT` into a server record.
pub fn server_from_addr(id: &str, to: &str) -> Result<ServerInfo, CliError> {
    let (host, port) = to
        .rsplit_once(':')
        .ok_or_else(|| CliError::Usage(format!("--to {to:?}: expected HOST:PORT, e.g. 127.0.0.1:3333")))?;
    let port =
        port.parse().map_err(|_| CliError::Usage(format!("--to {to:?}: {port:?} is not a port number")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    Ok(ServerInfo::new(id, "", host, port))
}

/// Parses the route and the JSON argument array. The arguments are read as Node reads JSON and
/// sent exactly as given (a lone surrogate escape, `-0`, `1e400` go out as typed); bytes that
/// are not UTF-8 are read as U+FFFD, as Node's `buffer.toString()` reads them, since what goes
/// out is always UTF-8.
pub fn build_msg(route: &str, args: &[u8]) -> Result<RpcMsg, CliError> {
    let raw = RawJson::from_slice(args).map_err(|e| {
        CliError::Usage(format!("arguments must be a JSON array, e.g. '[\"hello\", 1]': {e}"))
    })?;
    let args = JsonArray::from_raw(raw).map_err(|_| {
        CliError::Usage(format!(
            "arguments must be a JSON array; wrap a single value in brackets: '[{}]'",
            String::from_utf8_lossy(args).trim()
        ))
    })?;
    RpcMsg::parse_route(route, args).ok_or_else(|| {
        CliError::Usage(format!(
            "route {route:?} must be namespace.serverType.service.method, e.g. user.demo.echoRemote.echo"
        ))
    })
}

/// Sends the request and prints the reply.
pub async fn run(a: CallArgs) -> Result<(), CliError> {
    let msg = build_msg(&a.route, a.args.as_encoded_bytes())?;
    let mut opts = ClientOptions::new(a.dialect.transport);
    opts.mailbox.max_frame = a.dialect.max_frame;
    let client = RpcClient::new(opts);
    let result = match (&a.to, &a.servers) {
        (Some(to), _) => {
            let id = a.id.clone().unwrap_or_else(|| to.clone());
            client.add_server(server_from_addr(&id, to)?);
            client.call_raw(&id, msg, Some(a.timeout)).await
        }
        (None, Some(file)) => {
            let server_type = a.server_type.clone().unwrap_or_else(|| msg.server_type.to_string());
            let servers = super::route::load_servers(file, &a.env)?;
            for s in servers.into_iter().filter(|s| s.server_type == server_type) {
                client.add_server(s);
            }
            let msg = RpcMsg { server_type: server_type.into(), ..msg };
            let param = serde_json::json!({ "uid": a.uid });
            client.call_routed_raw(Some(param), msg, Some(a.timeout)).await
        }
        (None, None) => return Err(CliError::Usage("give --to HOST:PORT or --servers FILE".into())),
    };
    client.close();
    match result {
        Ok(resp) => {
            println!("{resp}");
            Ok(())
        }
        Err(ClientError::Transport(e)) => Err(CliError::NoReply(format!("no reply: {e}"))),
        Err(e) => Err(CliError::NoReply(e.to_string())),
    }
}
