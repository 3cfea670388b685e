//! One remote server's connection, managed: lazy connect, a bounded queue of calls waiting for
//! the connection, one connect attempt at a time, capped backoff after failures, removal.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::{ClientError, Mailbox, MailboxOptions, ServerInfo};

/// Backoff between connect attempts to one server: doubles from `min` up to `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Wait after the first failure.
    pub min: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { min: Duration::from_millis(100), max: Duration::from_secs(5) }
    }
}

impl Backoff {
    /// The wait after `failures` consecutive failures (≥ 1).
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        self.min.saturating_mul(factor).min(self.max)
    }
}

#[derive(Debug)]
struct State {
    mailbox: Option<Mailbox>,
    failures: u32,
    /// The last connect failure and when the next attempt is allowed.
    last_failure: Option<(String, Instant)>,
}

/// The connection manager of one server id.
#[derive(Debug)]
pub(crate) struct Station {
    pub info: ServerInfo,
    state: tokio::sync::Mutex<State>,
    /// Calls waiting for the connection.
    waiting: AtomicUsize,
    /// Connect attempts finished so far, so a waiter can tell whether one ran while it waited.
    attempts: AtomicU64,
    removed: AtomicBool,
}

impl Station {
    pub fn new(info: ServerInfo) -> Self {
        Station {
            info,
            state: tokio::sync::Mutex::new(State { mailbox: None, failures: 0, last_failure: None }),
            waiting: AtomicUsize::new(0),
            attempts: AtomicU64::new(0),
            removed: AtomicBool::new(false),
        }
    }

    /// Calls waiting for this server's connection right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    fn removed_error(&self) -> ClientError {
        ClientError::Removed(self.info.id.clone())
    }

    /// The open mailbox, connecting first if needed. At most `queue_limit` calls wait while a
    /// connection is being made; the next one fails at once. Calls that waited through a
    /// failed attempt fail with that attempt's error; a call arriving during the backoff after
    /// a failure fails at once with it.
    pub async fn mailbox(
        &self,
        opts: &MailboxOptions,
        queue_limit: usize,
        backoff: Backoff,
    ) -> Result<Mailbox, ClientError> {
        if self.removed.load(Ordering::Acquire) {
            return Err(self.removed_error());
        }
        // Fast path: connected.
        if let Ok(state) = self.state.try_lock()
            && let Some(mb) = state.mailbox.as_ref().filter(|m| !m.is_closed())
        {
            return Ok(mb.clone());
        }
        let queued = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _leave = Leave(&self.waiting);
        if queued >= queue_limit {
            return Err(ClientError::QueueFull { server: self.info.id.clone(), limit: queue_limit });
        }
        let seen_attempts = self.attempts.load(Ordering::Acquire);
        let mut state = self.state.lock().await;
        if self.removed.load(Ordering::Acquire) {
            return Err(self.removed_error());
        }
        if let Some(mb) = state.mailbox.as_ref().filter(|m| !m.is_closed()) {
            return Ok(mb.clone());
        }
        if let Some((why, retry_at)) = &state.last_failure {
            let waited_through_attempt = seen_attempts != self.attempts.load(Ordering::Acquire);
            if waited_through_attempt || Instant::now() < *retry_at {
                let retry_in = retry_at.saturating_duration_since(Instant::now());
                return Err(ClientError::Unreachable {
                    server: self.info.id.clone(),
                    reason: why.clone(),
                    retry_in_ms: retry_in.as_millis(),
                });
            }
        }
        let mut opts = opts.clone();
        if self.info.is_pomelo_interop() {
            // The unanswered-bytes limit protects pomelo-rpc's decoder; a Rust peer needs none.
            opts.max_unanswered_bytes = None;
        }
        let result = Mailbox::connect(&self.info.id, &self.info.addr(), opts).await;
        self.attempts.fetch_add(1, Ordering::AcqRel);
        match result {
            Ok(mb) if self.removed.load(Ordering::Acquire) => {
                mb.close();
                Err(self.removed_error())
            }
            Ok(mb) => {
                state.failures = 0;
                state.last_failure = None;
                state.mailbox = Some(mb.clone());
                Ok(mb)
            }
            Err(e) => {
                state.failures += 1;
                let retry_at = Instant::now() + backoff.delay(state.failures);
                state.last_failure = Some((e.to_string(), retry_at));
                state.mailbox = None;
                Err(ClientError::Transport(e))
            }
        }
    }

    /// When the next connect attempt is allowed (None: now).
    pub async fn retry_at(&self) -> Option<Instant> {
        let state = self.state.lock().await;
        state.last_failure.as_ref().map(|(_, at)| *at).filter(|at| *at > Instant::now())
    }

    /// Marks the server gone: its connection closes (pending calls fail), waiters fail.
    pub fn remove(&self) {
        self.removed.store(true, Ordering::Release);
        // If a connect attempt holds the lock, it sees the flag when it finishes.
        if let Ok(mut state) = self.state.try_lock()
            && let Some(mb) = state.mailbox.take()
        {
            mb.close();
        }
    }

    /// Closes the connection if open (the next call reconnects).
    pub async fn close(&self) {
        let mut state = self.state.lock().await;
        if let Some(mb) = state.mailbox.take() {
            mb.close();
        }
    }

    /// Calls waiting for a reply on the open connection.
    pub fn pending(&self) -> usize {
        self.state.try_lock().ok().and_then(|s| s.mailbox.as_ref().map(Mailbox::pending)).unwrap_or(0)
    }
}

struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
