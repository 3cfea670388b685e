//! The table of calls a mailbox has sent and not yet seen answered: a plain struct with no
//! sockets and no clock, so every completion path can be tested directly.

use std::collections::HashMap;

use serde_json::Value;
use tokio::sync::oneshot;

use super::TransportError;

/// Outcome delivered to a waiting caller.
pub type CallResult = Result<Vec<Value>, TransportError>;

/// Pending calls of one connection, keyed by the per-connection id (from 0, like Node).
#[derive(Debug, Default)]
pub struct PendingTable {
    next_id: u64,
    waiting: HashMap<u64, oneshot::Sender<CallResult>>,
    closed: Option<String>,
}

impl PendingTable {
    /// A table whose first id is `first` (0 for pomelo, 1 for pinus tcp).
    pub fn starting_at(first: u64) -> Self {
        PendingTable { next_id: first, ..Self::default() }
    }

    /// Registers a call: its id and the receiver its result arrives on, or the close reason
    /// if the connection is already gone.
    pub fn register(&mut self) -> Result<(u64, oneshot::Receiver<CallResult>), String> {
        if let Some(reason) = &self.closed {
            return Err(reason.clone());
        }
        let id = self.next_id;
        self.next_id += 1;
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(id, tx);
        Ok((id, rx))
    }

    /// Delivers a response; returns false when no call waits for that id (late or foreign).
    pub fn complete(&mut self, id: &Value, resp: Vec<Value>) -> bool {
        let Some(id) = id.as_u64() else { return false };
        match self.waiting.remove(&id) {
            Some(tx) => {
                let _ = tx.send(Ok(resp));
                true
            }
            None => false,
        }
    }

    /// Forgets a call whose caller gave up (deadline, drop).
    pub fn forget(&mut self, id: u64) {
        self.waiting.remove(&id);
    }

    /// Fails every pending call at once and refuses new ones.
    pub fn close(&mut self, reason: &str, make_err: impl Fn() -> TransportError) {
        if self.closed.is_none() {
            self.closed = Some(reason.to_string());
        }
        for (_, tx) in self.waiting.drain() {
            let _ = tx.send(Err(make_err()));
        }
    }

    /// Why the table was closed, if it was.
    pub fn closed_reason(&self) -> Option<&str> {
        self.closed.as_deref()
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
    use serde_json::json;

    fn closed(reason: &str) -> TransportError {
        TransportError::Closed { server: "s1".into(), reason: reason.into() }
    }

    #[test]
    fn ids_count_from_zero_and_complete_once() {
        let mut t = PendingTable::default();
        let (a, mut ra) = t.register().unwrap();
        let (b, _rb) = t.register().unwrap();
        assert_eq!((a, b), (0, 1));
        assert!(t.complete(&json!(0), vec![json!(null), json!(1)]));
        assert!(!t.complete(&json!(0), vec![]), "second answer for the same id is dropped");
        assert!(!t.complete(&json!("0"), vec![]), "non-numeric ids are not ours");
        assert_eq!(ra.try_recv().unwrap().unwrap(), vec![json!(null), json!(1)]);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn close_fails_everything_and_refuses_new_calls() {
        let mut t = PendingTable::default();
        let (_, mut r1) = t.register().unwrap();
        let (_, mut r2) = t.register().unwrap();
        t.close("reset", || closed("reset"));
        assert!(matches!(r1.try_recv().unwrap(), Err(TransportError::Closed { .. })));
        assert!(matches!(r2.try_recv().unwrap(), Err(TransportError::Closed { .. })));
        assert!(t.is_empty());
        assert_eq!(t.register().unwrap_err(), "reset");
    }

    #[test]
    fn forget_removes_the_entry() {
        let mut t = PendingTable::default();
        let (id, _r) = t.register().unwrap();
        t.forget(id);
        assert!(t.is_empty());
        assert!(!t.complete(&json!(id), vec![]));
    }
}
