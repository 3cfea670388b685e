//! IP whitelist of an acceptor (pomelo-rpc's `whitelist` option): regular expressions matched
//! against the peer address in the forms a Node server sees it.

use std::net::IpAddr;

use regex::Regex;

use super::TransportError;

/// Compiled whitelist; an empty list admits everyone.
#[derive(Debug, Clone, Default)]
pub struct Whitelist {
    patterns: Vec<Regex>,
}

impl Whitelist {
    /// Compiles regex sources, as pomelo's whitelist function returns them.
    pub fn new<S: AsRef<str>>(sources: &[S]) -> Result<Self, TransportError> {
        let patterns = sources
            .iter()
            .map(|s| {
                Regex::new(s.as_ref())
                    .map_err(|source| TransportError::Whitelist { pattern: s.as_ref().to_string(), source })
            })
            .collect::<Result<_, _>>()?;
        Ok(Whitelist { patterns })
    }

    /// True when no patterns are configured.
    pub fn is_open(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `ip` is admitted. An IPv4 peer is tried as `127.0.0.1` and as
    /// `::ffff:127.0.0.1` (Node's dual-stack form), so patterns written for either work.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.is_open() {
            return true;
        }
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let forms = match ip {
            IpAddr::V4(v4) => vec![v4.to_string(), format!("::ffff:{v4}")],
            IpAddr::V6(v6) => vec![v6.to_string()],
        };
        self.patterns.iter().any(|p| forms.iter().any(|f| p.is_match(f)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_of_an_ipv4_peer_match() {
        let plain = Whitelist::new(&["^127\\.0\\.0\\.1$"]).unwrap();
        let mapped = Whitelist::new(&["^::ffff:127\\.0\\.0\\.1$"]).unwrap();
        for w in [&plain, &mapped] {
            assert!(w.allows("127.0.0.1".parse().unwrap()));
            assert!(w.allows("::ffff:127.0.0.1".parse().unwrap()));
            assert!(!w.allows("127.0.0.2".parse().unwrap()));
        }
        assert!(Whitelist::new(&["^::1$"]).unwrap().allows("::1".parse().unwrap()));
        assert!(Whitelist::default().allows("10.1.2.3".parse().unwrap()));
        assert!(Whitelist::new(&["("]).is_err());
    }
}
