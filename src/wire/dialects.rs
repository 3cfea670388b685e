//! The names of the dialects this build speaks ([`Transport`]): what the command line, pomelo
//! configs and capture files call them. A plain enum with no behaviour, so that pure code (the
//! capture decoders, fixture files) can name a dialect without depending on the socket layer;
//! [`crate::transport`] re-exports it.

use std::fmt;
use std::str::FromStr;

/// The dialects this build can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Native TCP with stream-pkg framing.
    Tcp,
    /// MQTT 3.1.1, topic `rpc` (pomelo 2.x / pinus default).
    Mqtt,
    /// pinus-rpc's `tcp`: stream-pkg with a type byte, pings every 25 s.
    PinusTcp,
    /// socket.io 0.9 (pomelo-rpc 0.4 `ws`, the pomelo 1.x default).
    Sio09,
}

impl Transport {
    /// Every transport, for help texts and matrices.
    pub const ALL: [Transport; 4] = [Transport::Tcp, Transport::Mqtt, Transport::PinusTcp, Transport::Sio09];

    /// The name used on the command line and in pomelo configs.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Mqtt => "mqtt",
            Transport::PinusTcp => "pinus-tcp",
            Transport::Sio09 => "sio09",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A transport name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport {0:?} (expected tcp, mqtt, pinus-tcp or sio09)")]
pub struct UnknownTransport(pub String);

impl FromStr for Transport {
    type Err = UnknownTransport;
    fn from_str(s: &str) -> Result<Self, UnknownTransport> {
        Transport::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownTransport(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Transport::ALL {
            assert_eq!(t.name().parse::<Transport>(), Ok(t));
        }
        assert_eq!("MQTT".parse::<Transport>(), Ok(Transport::Mqtt));
        assert!("ws".parse::<Transport>().is_err());
    }
}
