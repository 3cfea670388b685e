//! The monitor agent: pomelo-admin 1.0.1 over MQTT (or 0.4 over socket.io 0.9) to the Node
//! master. [`Monitor`] is its handle; the connection loop lives in `agent.rs`, the answers to
//! the master (server table, `__console__`, `pomelo list`) in `master.rs`.

use tokio::sync::{oneshot, watch};

use super::agent::Agent;
pub use super::agent::MonitorTimings;
use super::config::JoinConfig;
use super::error::ClusterError;
use super::master::Responder;
pub use super::master::StopReason;
use crate::client::{RpcClient, ServerInfo};
pub use crate::wire::json::parse_maybe_twice;

/// A registered monitor; resolves `stopped()` when the master asks us to go.
pub struct Monitor {
    stop_rx: watch::Receiver<Option<StopReason>>,
    servers_rx: watch::Receiver<Vec<ServerInfo>>,
    quit: Option<oneshot::Sender<()>>,
}

impl Monitor {
    /// Connects, registers (failing with [`ClusterError::Refused`] on a bad token),
    /// subscribes, records, and keeps serving the admin link in the background.
    pub async fn join(
        cfg: JoinConfig,
        client: RpcClient,
        timings: MonitorTimings,
    ) -> Result<Monitor, ClusterError> {
        let mut agent = Agent::new(Responder::new(cfg, client), timings);
        let conn = agent.join().await?;
        let (stop_tx, stop_rx) = watch::channel(None);
        let (servers_tx, servers_rx) = watch::channel(agent.servers());
        let (quit_tx, quit_rx) = oneshot::channel();
        agent.attach(stop_tx, servers_tx);
        tokio::spawn(agent.run(conn, quit_rx));
        Ok(Monitor { stop_rx, servers_rx, quit: Some(quit_tx) })
    }

    /// Resolves when the master sends stop, kill or restart.
    pub async fn stopped(&mut self) -> StopReason {
        loop {
            if let Some(r) = *self.stop_rx.borrow() {
                return r;
            }
            if self.stop_rx.changed().await.is_err() {
                return StopReason::Stop;
            }
        }
    }

    /// The server table as the master last described it.
    pub fn servers(&self) -> Vec<ServerInfo> {
        self.servers_rx.borrow().clone()
    }

    /// Closes the admin link (the master then broadcasts removeServer).
    pub fn leave(mut self) {
        if let Some(q) = self.quit.take() {
            let _ = q.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn once_or_twice_encoded() {
        let once = br#"{"reqId":1,"moduleId":"m"}"#;
        let twice = br#""{\"reqId\":1,\"moduleId\":\"m\"}""#;
        assert_eq!(parse_maybe_twice(once).unwrap(), parse_maybe_twice(twice).unwrap());
        assert_eq!(parse_maybe_twice(once).unwrap()["reqId"], json!(1));
        assert!(parse_maybe_twice(b"nope").is_err());
    }
}
