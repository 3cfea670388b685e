//! `route`: which server pomelo's default route picks for a uid, so Rust and Node can be
//! checked against each other.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::CliError;
use crate::client::ServerInfo;
use crate::client::router::{CrcFlavor, crc32_pinus, crc32_pomelo, default_index};
use crate::client::servers_file::parse_servers;

/// Options of `route`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  pomelo-interop route --servers game-server/config/servers.json --server-type chat --uid alice\n\n\
    The list order is the file order, which is the order a Node process learns servers at start-up;\n\
    servers that join later are appended."
)]
pub struct RouteArgs {
    /// pomelo's config/servers.json (or {"type": [..]} or a list of server records).
    #[arg(long, value_name = "FILE")]
    servers: PathBuf,
    /// Environment section of servers.json.
    #[arg(long, default_value = "development")]
    env: String,
    /// Server type to route among.
    #[arg(long)]
    server_type: String,
    /// The session's uid (empty for an unbound session).
    #[arg(long, default_value = "")]
    uid: String,
    /// Hash of the default route: pomelo (crc@0.2.0, UTF-16 low bytes, signed) or pinus
    /// (crc over UTF-8, unsigned).
    #[arg(long, default_value = "pomelo", value_parser = parse_flavor)]
    flavor: CrcFlavor,
    /// Print the computation as JSON instead of the bare server id.
    #[arg(long)]
    json: bool,
}

fn parse_flavor(s: &str) -> Result<CrcFlavor, super::BadValue> {
    match s {
        "pomelo" | "pomelo1" | "pomelo2" => Ok(CrcFlavor::Pomelo),
        "pinus" => Ok(CrcFlavor::Pinus),
        _ => Err(super::BadValue(format!("unknown flavor {s:?} (pomelo or pinus)"))),
    }
}

/// Reads a servers file into the table order.
pub fn load_servers(path: &PathBuf, env: &str) -> Result<Vec<ServerInfo>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    parse_servers(&text, Some(env)).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
}

/// Prints the chosen server.
pub async fn run(a: RouteArgs) -> Result<(), CliError> {
    let all = load_servers(&a.servers, &a.env)?;
    let list: Vec<&ServerInfo> = all.iter().filter(|s| s.server_type == a.server_type).collect();
    if list.is_empty() {
        return Err(CliError::Usage(format!(
            "can not find server info for type:{} in {}",
            a.server_type,
            a.servers.display()
        )));
    }
    let index = default_index(a.flavor, &a.uid, list.len());
    let chosen = &list[index].id;
    if a.json {
        let crc = match a.flavor {
            CrcFlavor::Pomelo => json!(crc32_pomelo(&a.uid)),
            CrcFlavor::Pinus => json!(crc32_pinus(&a.uid)),
        };
        let ids: Vec<&str> = list.iter().map(|s| s.id.as_str()).collect();
        println!("{}", json!({"uid": a.uid, "crc32": crc, "index": index, "servers": ids, "id": chosen}));
    } else {
        println!("{chosen}");
    }
    Ok(())
}
