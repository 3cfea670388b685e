//! The cluster generation a server joins (pomelo 1.x, pomelo 2.x, pinus) and what follows from
//! it: admin and RPC transports, the route hash, detection from package.json, pinus replies.

use super::link::AdminTransport;
use crate::message::{JsonArray, RawJson, Resp};

/// The cluster generation a server joins; everything that differs follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// pomelo 1.x: admin link and RPC over socket.io 0.9.
    Pomelo1,
    /// pomelo 2.x: admin link and RPC over MQTT.
    #[default]
    Pomelo2,
    /// pinus 1.7: MQTT, crc over UTF-8, replies exactly `[null, value]`.
    Pinus,
}

impl Flavor {
    /// The admin link's transport.
    pub fn admin_transport(self) -> AdminTransport {
        match self {
            Flavor::Pomelo1 => AdminTransport::Sio09,
            _ => AdminTransport::Mqtt,
        }
    }

    /// The default RPC dialect.
    pub fn rpc_transport(self) -> crate::transport::Transport {
        match self {
            Flavor::Pomelo1 => crate::transport::Transport::Sio09,
            _ => crate::transport::Transport::Mqtt,
        }
    }

    /// The default route's hash.
    pub fn crc(self) -> crate::client::CrcFlavor {
        match self {
            Flavor::Pinus => crate::client::CrcFlavor::Pinus,
            _ => crate::client::CrcFlavor::Pomelo,
        }
    }

    /// The generation of a Node project, from its package.json dependencies.
    pub fn detect(project: &std::path::Path) -> Option<Flavor> {
        let bytes = std::fs::read(project.join("package.json")).ok()?;
        let doc: serde_json::Value = crate::wire::json::from_slice(&bytes).ok()?;
        let deps = doc.get("dependencies")?;
        if deps.get("pinus").is_some() {
            return Some(Flavor::Pinus);
        }
        let v = deps.get("pomelo")?.as_str()?.trim_start_matches(['^', '~', '=', 'v', ' ']);
        Some(if v.starts_with("0.") || v.starts_with("1.") { Flavor::Pomelo1 } else { Flavor::Pomelo2 })
    }
}

/// A flavor name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown flavor {0:?} (pomelo1, pomelo2 or pinus)")]
pub struct UnknownFlavor(pub String);

impl std::str::FromStr for Flavor {
    type Err = UnknownFlavor;
    fn from_str(s: &str) -> Result<Self, UnknownFlavor> {
        match s {
            "pomelo1" => Ok(Flavor::Pomelo1),
            "pomelo2" | "pomelo" => Ok(Flavor::Pomelo2),
            "pinus" => Ok(Flavor::Pinus),
            _ => Err(UnknownFlavor(s.to_string())),
        }
    }
}

/// pinus callers read exactly `[null, value]` (or `[err]`): a reply with more results keeps
/// the first, and a reply without an error slot (`cb(hour, min, sec)`) becomes
/// `[null, [hour, min, sec]]`.
pub fn pinus_reply(resp: Resp) -> Resp {
    let Ok(els) = resp.elements() else { return resp };
    let null = RawJson::null();
    match els.first() {
        None => JsonArray::from_elements([&null, &null]),
        Some(e) if e.is_null() => JsonArray::from_elements([&null, els.get(1).unwrap_or(&null)]),
        Some(e) if e.is_object() && e.members().is_ok_and(|m| m.iter().any(|(k, _)| k == "stack")) => {
            JsonArray::from_elements([e])
        }
        Some(_) => JsonArray::from_elements([&null, resp.raw()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pinus_reply_shapes() {
        let pinus = |v: Vec<serde_json::Value>| pinus_reply(v.into()).values().unwrap();
        assert_eq!(pinus(vec![json!(null), json!(1), json!(2)]), vec![json!(null), json!(1)]);
        assert_eq!(pinus(vec![json!(null)]), vec![json!(null), json!(null)]);
        assert_eq!(pinus(vec![json!(1), json!(2), json!(3)]), vec![json!(null), json!([1, 2, 3])]);
        let err = json!({"msg": "x", "stack": "Error: x"});
        assert_eq!(pinus(vec![err.clone(), json!(null)]), vec![err]);
    }

    #[test]
    fn flavor_from_package_json() {
        let dir = std::env::temp_dir().join(format!("pomelo-interop-flavor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (deps, want) in [
            (json!({"pomelo": "1.2.3"}), Some(Flavor::Pomelo1)),
            (json!({"pomelo": "^2.2.7"}), Some(Flavor::Pomelo2)),
            (json!({"pinus": "1.7.4"}), Some(Flavor::Pinus)),
            (json!({"express": "4"}), None),
        ] {
            std::fs::write(dir.join("package.json"), json!({"dependencies": deps}).to_string()).unwrap();
            assert_eq!(Flavor::detect(&dir), want);
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!("pomelo1".parse::<Flavor>(), Ok(Flavor::Pomelo1));
        assert!("x".parse::<Flavor>().is_err());
    }
}
