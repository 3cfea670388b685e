//! Capture and replay of real RPC traffic.
//!
//! [`relay`] is a transparent TCP relay that forwards bytes as they arrive and, on a copy,
//! decodes the dialect's frames in both directions ([`decode`], pure, no sockets: it drives the
//! codecs of [`crate::wire`], HTTP and WebSocket readers included) into one JSON line per frame
//! ([`record`]; the format is documented in `fixtures/README.md`). [`fixture`] reads such a
//! file back into recorded calls (requests paired with their answers), [`replay`] sends them
//! to a target with the real [`crate::client::RpcClient`], and [`compare`] decides whether the
//! new answers mean the same as the recorded ones.
//!
//! Every JSON text read from the network or from a capture file goes through
//! [`crate::wire::json`] (Node's rules), and RPC payloads stay the exact text that was sent.
//! The pure modules ([`decode`], [`record`], [`fixture`], [`compare`]) use nothing above
//! [`crate::wire`] and [`crate::message`]; only [`relay`] and [`replay`] touch sockets.

pub mod compare;
pub mod decode;
pub mod fixture;
pub mod record;
pub mod relay;
pub mod replay;

use serde::{Deserialize, Serialize};

pub use compare::{Comparator, Difference, IgnoreRule};
pub use decode::{ConnDecoder, DecodeError};
pub use fixture::{Fixture, RecordedCall};
pub use record::FrameRecord;
pub use relay::{Relay, RelayOptions, Summary};
pub use replay::{Outcome, ReplayOptions, ReplayReport};

/// Which way a frame travelled through the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dir {
    /// From the side that connected (mailbox, monitor, HTTP client) to the upstream server.
    #[serde(rename = "c2s")]
    C2s,
    /// From the upstream server back to the side that connected.
    #[serde(rename = "s2c")]
    S2c,
}

impl Dir {
    /// Both directions, client to server first.
    pub const BOTH: [Dir; 2] = [Dir::C2s, Dir::S2c];

    /// `c2s` or `s2c`, as written in capture files.
    pub fn name(self) -> &'static str {
        match self {
            Dir::C2s => "c2s",
            Dir::S2c => "s2c",
        }
    }

    /// 0 for c2s, 1 for s2c: an index into per-direction arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Errors of capturing and replaying.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The relay could not listen.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The output or fixture file could not be opened, read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A capture file line is not what a capture writes.
    #[error("{path}:{line}: {reason}")]
    Fixture {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// An `--ignore` rule does not parse.
    #[error("invalid ignore rule {rule:?}: {reason}")]
    Ignore {
        /// The rule as given.
        rule: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A replay option is unusable (bad target address, zero concurrency, …).
    #[error("{0}")]
    Options(String),
}
