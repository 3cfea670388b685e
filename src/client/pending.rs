//! The table of calls a mailbox has sent and not yet seen answered: a plain struct with no
//! sockets and no clock, so every completion path can be tested directly.

use rustc_hash::FxHashMap;

use tokio::sync::oneshot;

use super::ClientError;
use crate::message::Resp;
use crate::transport::CloseReason;

/// Outcome delivered to a waiting caller.
pub type CallResult = Result<Resp, ClientError>;

/// Pending calls of one connection, keyed by the per-connection id.
#[derive(Debug, Default)]
pub struct PendingTable {
    next_id: u64,
    waiting: FxHashMap<u64, oneshot::Sender<CallResult>>,
    closed: Option<CloseReason>,
}

impl PendingTable {
    /// A table whose first id is `first` (0 for pomelo, 1 for pinus tcp, whose acceptor
    /// ignores id 0).
    pub fn starting_at(first: u64) -> Self {
        PendingTable { next_id: first, ..Self::default() }
    }

    /// Registers a call: its id and the receiver its result arrives on, or the close reason
    /// if the connection is already gone.
    pub fn register(&mut self) -> Result<(u64, oneshot::Receiver<CallResult>), CloseReason> {
        if let Some(reason) = &self.closed {
            return Err(reason.clone());
        }
        let id = self.next_id;
        self.next_id += 1;
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(id, tx);
        Ok((id, rx))
    }

    /// Delivers the outcome of call `id`; returns false when no call waits for it (late,
    /// given up, or not ours).
    pub fn complete(&mut self, id: u64, result: CallResult) -> bool {
        match self.waiting.remove(&id) {
            Some(tx) => {
                let _ = tx.send(result);
                true
            }
            None => false,
        }
    }

    /// Forgets a call whose caller gave up (deadline, drop).
    pub fn forget(&mut self, id: u64) {
        self.waiting.remove(&id);
    }

    /// Fails every pending call at once (`make_err` builds each one's error) and refuses new
    /// ones.
    pub fn close(&mut self, reason: &CloseReason, make_err: impl Fn() -> ClientError) {
        if self.closed.is_none() {
            self.closed = Some(reason.clone());
        }
        for (_, tx) in self.waiting.drain() {
            let _ = tx.send(Err(make_err()));
        }
    }

    /// Why the table was closed, if it was.
    pub fn closed_reason(&self) -> Option<&CloseReason> {
        self.closed.as_ref()
    }

    /// Number of calls still waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// True when no call waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::JsonArray;
    use serde_json::json;

    fn closed(reason: &CloseReason) -> ClientError {
        ClientError::Closed { server: "s1".into(), reason: reason.clone() }
    }

    #[test]
    fn ids_count_from_the_start_and_complete_once() {
        let mut t = PendingTable::default();
        let (a, mut ra) = t.register().unwrap();
        let (b, _rb) = t.register().unwrap();
        assert_eq!((a, b), (0, 1));
        let resp = JsonArray::from_values(&[json!(null), json!(1)]);
        assert!(t.complete(0, Ok(resp.clone())));
        assert!(!t.complete(0, Ok(resp.clone())), "second answer for the same id is dropped");
        assert_eq!(ra.try_recv().unwrap().unwrap(), resp);
        assert_eq!(t.len(), 1);
        let (c, _) = PendingTable::starting_at(1).register().unwrap();
        assert_eq!(c, 1);
    }

    #[test]
    fn close_fails_everything_and_refuses_new_calls() {
        let mut t = PendingTable::default();
        let (_, mut r1) = t.register().unwrap();
        let (_, mut r2) = t.register().unwrap();
        let reason = CloseReason::PeerClosed;
        t.close(&reason, || closed(&reason));
        assert!(matches!(r1.try_recv().unwrap(), Err(ClientError::Closed { .. })));
        assert!(matches!(r2.try_recv().unwrap(), Err(ClientError::Closed { .. })));
        assert!(t.is_empty());
        assert_eq!(t.register().unwrap_err(), CloseReason::PeerClosed);
    }

    #[test]
    fn forget_removes_the_entry() {
        let mut t = PendingTable::default();
        let (id, _r) = t.register().unwrap();
        t.forget(id);
        assert!(t.is_empty());
        assert!(!t.complete(id, Ok(JsonArray::empty())));
    }
}
