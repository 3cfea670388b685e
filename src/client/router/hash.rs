//! The hashes routing is built on: pomelo's and pinus's CRC-32 flavours behind the default route,
//! and the md5 consistent-hash ring behind `ch`. Pure functions of their inputs, no router state.

/// Ring points per server when the `ch` schedule is given 0 (pomelo's `opts.replicas || 100`).
pub const DEFAULT_REPLICAS: usize = 100;

/// Which CRC the default route uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CrcFlavor {
    /// crc@0.2.0 (pomelo): CRC-32 over the low byte of each UTF-16 unit, signed, then `Math.abs`.
    #[default]
    Pomelo,
    /// crc@4.3.2 (pinus): CRC-32 over the UTF-8 bytes, unsigned.
    Pinus,
}

/// crc@0.2.0's `crc32(str)`: standard CRC-32 fed with the low 8 bits of each UTF-16 code unit,
/// as a signed 32-bit integer.
pub fn crc32_pomelo(s: &str) -> i32 {
    let bytes: Vec<u8> = s.encode_utf16().map(|u| u as u8).collect();
    crc32fast::hash(&bytes) as i32
}

/// crc@4.3.2's `crc32(str)` (pinus): standard CRC-32 over the UTF-8 bytes, unsigned.
pub fn crc32_pinus(s: &str) -> u32 {
    crc32fast::hash(s.as_bytes())
}

/// The default route's index: `|crc(key)| mod n` (i64 arithmetic, so `|i32::MIN|` is fine).
/// `n` must be non-zero.
pub fn default_index(flavor: CrcFlavor, key: &str, n: usize) -> usize {
    assert!(n > 0, "default_index over an empty server list");
    let crc = match flavor {
        CrcFlavor::Pomelo => i64::from(crc32_pomelo(key)).unsigned_abs(),
        CrcFlavor::Pinus => u64::from(crc32_pinus(key)),
    };
    (crc % n as u64) as usize
}

/// pomelo's consistent-hash ring: md5 of `id:i` per replica, sorted; lookups take the largest
/// point <= md5(field), wrapping to the last point.
#[derive(Debug)]
pub(super) struct Ring {
    /// The id list (arrival order) the ring was built from, to notice a changed list.
    pub(super) built_from: Vec<String>,
    nodes: Vec<String>,
    /// (md5 digest, index into `nodes`); raw digests sort like their lowercase hex strings.
    points: Vec<([u8; 16], usize)>,
}

impl Ring {
    /// Builds the ring over `ids` (duplicates count once); `replicas` 0 means the default.
    pub(super) fn build(ids: &[&str], replicas: usize) -> Ring {
        let replicas = if replicas == 0 { DEFAULT_REPLICAS } else { replicas };
        let mut nodes: Vec<String> = Vec::with_capacity(ids.len());
        for id in ids {
            if !nodes.iter().any(|n| n == id) {
                nodes.push(id.to_string());
            }
        }
        let mut points = Vec::with_capacity(nodes.len() * replicas);
        for (ni, node) in nodes.iter().enumerate() {
            for i in 0..replicas {
                points.push((md5::compute(format!("{node}:{i}")).0, ni));
            }
        }
        points.sort_unstable();
        Ring { built_from: ids.iter().map(|s| s.to_string()).collect(), nodes, points }
    }

    /// The node owning `field`. The ring is never empty (callers check for servers first).
    pub(super) fn lookup(&self, field: &str) -> &str {
        let h = md5::compute(field.as_bytes()).0;
        let at_or_below = self.points.partition_point(|(k, _)| *k <= h);
        let pos = if at_or_below == 0 { self.points.len() - 1 } else { at_or_below - 1 };
        &self.nodes[self.points[pos].1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::router::vectors::{section, vectors};

    #[test]
    fn crc_table_from_spec() {
        // spec/cluster.md §4.1 and cluster-1x-pinus.md §B.4.
        let table: &[(&str, i32, u32, usize, usize)] = &[
            ("", 0, 0, 0, 0),
            ("a", -390611389, 3904355907, 1, 1),
            ("abc", 891568578, 891568578, 0, 0),
            ("123456789", -873187034, 3421780262, 0, 2),
            ("alice", 663665735, 663665735, 1, 2),
            ("bob", -171200192, 4123767104, 0, 2),
            ("carol", 1782484163, 1782484163, 1, 2),
            ("1", -2082672713, 2212294583, 1, 2),
            ("10001", 12275155, 12275155, 1, 1),
            ("uid-42", -1994178691, 2300788605, 1, 1),
            ("é", 198489425, 235179326, 1, 2),
            ("中文", 305094291, 1510599991, 1, 0),
            ("😀", 724654657, 88978756, 1, 1),
        ];
        for &(key, pomelo, pinus, i2, i3) in table {
            assert_eq!(crc32_pomelo(key), pomelo, "pomelo crc of {key:?}");
            assert_eq!(crc32_pinus(key), pinus, "pinus crc of {key:?}");
            assert_eq!(default_index(CrcFlavor::Pomelo, key, 2), i2, "{key:?} n=2");
            assert_eq!(default_index(CrcFlavor::Pomelo, key, 3), i3, "{key:?} n=3");
        }
        // §B.4's pinus index columns.
        assert_eq!(default_index(CrcFlavor::Pinus, "a", 3), 0);
        assert_eq!(default_index(CrcFlavor::Pinus, "é", 2), 0);
        assert_eq!(default_index(CrcFlavor::Pinus, "中文", 3), 1);
        assert_eq!(default_index(CrcFlavor::Pinus, "😀", 2), 0);
        // Only the low byte of each UTF-16 unit counts: U+0100 hashes like NUL, 😀 like [3d, 00].
        assert_eq!(crc32_pomelo("\u{100}"), crc32_pomelo("\0"));
        assert_eq!(crc32_pomelo("😀"), crc32fast::hash(&[0x3d, 0x00]) as i32);
    }

    #[test]
    fn abs_of_i32_min_does_not_overflow() {
        assert_eq!(i64::from(i32::MIN).unsigned_abs() % 3, 2);
        // Any key works through default_index without panicking.
        for key in ["", "x", "中文"] {
            for n in 1..7 {
                assert!(default_index(CrcFlavor::Pomelo, key, n) < n);
            }
        }
    }

    #[test]
    fn node_crc_vectors() {
        let v = vectors();
        let crc = section(&v, "crc");
        assert!(crc.len() >= 40, "expected ~40 crc vectors, got {}", crc.len());
        for c in crc {
            let key = c["key"].as_str().expect("key");
            assert_eq!(i64::from(crc32_pomelo(key)), c["pomelo"].as_i64().unwrap(), "pomelo crc of {key:?}");
            assert_eq!(u64::from(crc32_pinus(key)), c["pinus"].as_u64().unwrap(), "pinus crc of {key:?}");
        }
    }

    #[test]
    fn node_ch_ring_vectors() {
        let v = vectors();
        for r in section(&v, "ch_ring") {
            let nodes: Vec<&str> =
                r["nodes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
            let replicas = r["replicas"].as_u64().unwrap_or(0) as usize;
            let ring = Ring::build(&nodes, replicas);
            assert_eq!(ring.points.len() as u64, r["ring_size"].as_u64().unwrap(), "{nodes:?}");
            let lookups = r["lookups"].as_array().unwrap();
            assert!(lookups.len() >= 50);
            for l in lookups {
                let key = l["key"].as_str().unwrap();
                assert_eq!(ring.lookup(key), l["node"].as_str().unwrap(), "{nodes:?} x{replicas}: {key:?}");
            }
        }
    }
}
