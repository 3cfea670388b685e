//! `call`: one request, the reply array on stdout.

use std::time::Duration;

use clap::Args;
use serde_json::Value;

use super::{CliError, DialectArgs, millis};
use crate::client::{ClientError, ClientOptions, RpcClient, ServerInfo};
use crate::message::RpcMsg;

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
    #[arg(long, value_name = "HOST:PORT")]
    to: String,
    /// Route: namespace.serverType.service.method (e.g. user.demo.echoRemote.echo).
    route: String,
    /// Arguments as a JSON array.
    #[arg(default_value = "[]")]
    args: String,
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

/// Parses the route and the JSON argument array.
pub fn build_msg(route: &str, args: &str) -> Result<RpcMsg, CliError> {
    let args: Value = serde_json::from_str(args).map_err(|e| {
        CliError::Usage(format!("arguments must be a JSON array, e.g. '[\"hello\", 1]': {e}"))
    })?;
    let Value::Array(args) = args else {
        return Err(CliError::Usage(format!(
            "arguments must be a JSON array; wrap a single value in brackets: '[{args}]'"
        )));
    };
    RpcMsg::parse_route(route, args).ok_or_else(|| {
        CliError::Usage(format!(
            "route {route:?} must be namespace.serverType.service.method, e.g. user.demo.echoRemote.echo"
        ))
    })
}

/// Sends the request and prints the reply.
pub async fn run(a: CallArgs) -> Result<(), CliError> {
    let msg = build_msg(&a.route, &a.args)?;
    let id = a.id.clone().unwrap_or_else(|| a.to.clone());
    let server = server_from_addr(&id, &a.to)?;
    let mut opts = ClientOptions::new(a.dialect.transport);
    opts.mailbox.max_frame = a.dialect.max_frame;
    let client = RpcClient::new(opts);
    client.add_server(server);
    let result = client.call(&id, msg, Some(a.timeout)).await;
    client.close();
    match result {
        Ok(resp) => {
            println!("{}", Value::Array(resp));
            Ok(())
        }
        Err(ClientError::Transport(e)) => Err(CliError::NoReply(format!("no reply: {e}"))),
        Err(e) => Err(CliError::NoReply(e.to_string())),
    }
}
