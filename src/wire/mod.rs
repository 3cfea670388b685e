//! Pure codecs, one file per dialect: no sockets, no clocks.
//!
//! The RPC dialects: [`stream_pkg`] (tcp), [`typed_pkg`] (pinus-tcp), [`mqtt`], [`sio09`]
//! (socket.io 0.9 packets), with the two readers socket.io 0.9 travels in when a relay sees it
//! on the wire: [`http`] (HTTP/1.1 message heads and bodies) and [`ws`] (RFC 6455 frames).
//! [`json`] reads every JSON payload as Node does; [`Transport`] names the dialects.
//!
//! Every decoder caps announced lengths before it allocates, and treats "not enough bytes yet"
//! as a state (`Ok(None)`), never as an error.

mod dialects;
pub mod http;
pub mod json;
pub mod mqtt;
pub mod sio09;
pub mod stream_pkg;
pub mod typed_pkg;
pub mod ws;

pub use dialects::{Transport, UnknownTransport};

/// Default cap on one frame's body (pomelo's `pkgSize` is unlimited; we are not).
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024 * 1024;

/// Errors a decoder or encoder reports; each one ends the connection it came from.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// A length field announced more than the configured cap.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes (raise --max-frame to allow it)")]
    FrameTooLarge {
        /// Announced length.
        len: usize,
        /// Configured cap.
        max: usize,
    },
    /// A length header is longer than any valid header.
    #[error("length header longer than {0} bytes")]
    HeaderTooLong(usize),
    /// Empty frame (stream-pkg cannot carry one).
    #[error("empty frame")]
    EmptyFrame,
    /// Bytes that do not form a valid packet of the dialect.
    #[error("malformed {dialect} packet: {reason}")]
    Malformed {
        /// Dialect name.
        dialect: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The socket failed underneath the codec.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
