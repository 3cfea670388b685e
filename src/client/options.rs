//! Client settings: pomelo's `proxyConfig` (failure modes, retries, the waiting queue) and the
//! per-connection mailbox options.

use std::time::Duration;

use super::station::Backoff;
use crate::transport::Transport;
use crate::wire::DEFAULT_MAX_FRAME;

/// Mailbox settings (pomelo's `proxyConfig` subset that concerns one connection).
#[derive(Debug, Clone)]
pub struct MailboxOptions {
    /// Dialect to speak.
    pub transport: Transport,
    /// `bufferMsg`: send requests in JSON arrays flushed every `interval`.
    pub buffer_msg: bool,
    /// Flush interval for `buffer_msg` (pomelo-rpc default 50 ms).
    pub interval: Duration,
    /// Largest frame body accepted or sent.
    pub max_frame: usize,
    /// Keepalive probe period; `None` uses the dialect's default (mqtt: 10 s).
    pub keepalive: Option<Duration>,
    /// Give up connecting after this long.
    pub connect_timeout: Duration,
    /// Requests still unanswered on one connection, in bytes, before the next one waits
    /// (`None`: no limit). The default for `tcp` keeps them under 64 KiB: pomelo-rpc's
    /// stream-pkg decoder (0.4.x, 1.0.x) reads 64 KiB at a time and throws when a frame's length
    /// header straddles two reads, after which that connection answers nothing more; with less
    /// than 64 KiB unread, every read ends where one of our writes ended, on a frame boundary.
    pub max_unanswered_bytes: Option<usize>,
}

/// The `tcp` default of [`MailboxOptions::max_unanswered_bytes`].
pub const TCP_UNANSWERED_BYTES: usize = 60 * 1024;

impl MailboxOptions {
    /// Defaults for a transport.
    pub fn new(transport: Transport) -> Self {
        MailboxOptions {
            transport,
            buffer_msg: false,
            interval: Duration::from_millis(50),
            max_frame: DEFAULT_MAX_FRAME,
            keepalive: None,
            connect_timeout: Duration::from_secs(5),
            max_unanswered_bytes: (transport == Transport::Tcp).then_some(TCP_UNANSWERED_BYTES),
        }
    }
}

/// What to do when a call fails before a reply arrived (pomelo's `failMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// Report the error at once (pomelo's default).
    #[default]
    Failfast,
    /// Try the next server of the type (in table order) when the request was not delivered;
    /// the table itself is left alone.
    Failover,
    /// Wait for the same server to come back (reconnect with backoff) and retry it,
    /// at most `retries` times, when the request was not delivered.
    Failback,
    /// Retry the same call up to `retries` times, `retry_delay` × attempt apart, on any
    /// failure that is not a reply (the call may run twice: for idempotent remotes).
    Failsafe,
}

/// A fail mode name that is not one of pomelo's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fail mode {0:?} (failfast, failover, failback, failsafe)")]
pub struct UnknownFailMode(pub String);

impl std::str::FromStr for FailMode {
    type Err = UnknownFailMode;
    fn from_str(s: &str) -> Result<Self, UnknownFailMode> {
        match s {
            "failfast" => Ok(FailMode::Failfast),
            "failover" => Ok(FailMode::Failover),
            "failback" => Ok(FailMode::Failback),
            "failsafe" => Ok(FailMode::Failsafe),
            _ => Err(UnknownFailMode(s.to_string())),
        }
    }
}

/// Client settings (pomelo's `proxyConfig`).
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Per-connection settings (dialect, batching, keepalive).
    pub mailbox: MailboxOptions,
    /// Deadline for calls that do not give their own (pomelo: 30 s).
    pub default_timeout: Duration,
    /// Calls that may wait for one server's connection (pomelo's `pendingSize`, 10000).
    pub pending_size: usize,
    /// Failure handling.
    pub fail_mode: FailMode,
    /// Retries for failback/failsafe (pomelo's `retryTimes`, 3).
    pub retries: u32,
    /// Delay unit between failsafe retries (pomelo's `retryConnectTime`, 5 s).
    pub retry_delay: Duration,
    /// Backoff between connect attempts to one server.
    pub backoff: Backoff,
}

impl ClientOptions {
    /// pomelo's defaults for a transport.
    pub fn new(transport: Transport) -> Self {
        ClientOptions {
            mailbox: MailboxOptions::new(transport),
            default_timeout: Duration::from_secs(30),
            pending_size: 10_000,
            fail_mode: FailMode::Failfast,
            retries: 3,
            retry_delay: Duration::from_secs(5),
            backoff: Backoff::default(),
        }
    }
}
