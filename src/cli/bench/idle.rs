//! Idle-connection scale: open many connections to an acceptor, then read what they cost it
//! (its VmRSS before and after) while a fresh connection is measured.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Map, Value, json};

use super::{BenchArgs, ProgressLine, client_options};
use crate::cli::CliError;
use crate::cli::call::{build_msg, server_from_addr};
use crate::client::{RpcClient, ServerInfo};

/// How long opening the idle connections may take in all.
const IDLE_OPEN_LIMIT: Duration = Duration::from_secs(120);

/// The idle connections, kept open until the bench on the fresh one is done, and what they
/// cost the server.
pub(super) struct Idle {
    pub(super) client: RpcClient,
    pub(super) fields: Map<String, Value>,
}

/// Opens `n` connections (one `whoami` call each, `--idle-parallel` at a time), waits for the
/// server's VmRSS to settle and measures it before and after.
pub(super) async fn open_idle(a: &BenchArgs, n: usize, pid: u32, progress: bool) -> Result<Idle, CliError> {
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

    #[test]
    fn vm_rss_is_read_from_proc_status() {
        let status = "Name:\tpomelo-interop\nVmPeak:\t  99 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1 kB\n";
        assert_eq!(parse_vm_rss(status), Some(12345));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        let me = vm_rss_kib(std::process::id()).unwrap();
        assert!(me > 0);
    }
}
