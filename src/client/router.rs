//! Routing (spec/wire.md §2.8, cluster.md §4): which server of a type gets a call.
//!
//! Every decision pomelo-rpc 1.0.7 makes visibly (default crc route, rr, wrr, ch) is reproduced
//! exactly and checked against vectors from the real Node code; its state bugs (la's NaN
//! counters, ch's cross-type ring) are not.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use rand::Rng;
use serde_json::Value;

use super::ServerInfo;
use crate::message::RpcMsg;

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

/// The default route's key: JS `String(routeParam ? (routeParam.uid || '') : '')`; only an
/// object's truthy `uid` counts, formatted as JS would (`10001`, `1.5`, `true`).
pub fn route_key(route_param: Option<&Value>) -> String {
    match route_param {
        Some(Value::Object(map)) => match map.get("uid") {
            Some(uid) if js_truthy(uid) => js_to_string(uid),
            _ => String::new(),
        },
        _ => String::new(),
    }
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

/// Everything a router may look at for one call.
#[derive(Debug, Clone, Copy)]
pub struct RouteContext<'a> {
    /// The target server type.
    pub server_type: &'a str,
    /// The servers of that type, in the caller's arrival order (the order pomelo routes over).
    pub servers: &'a [ServerInfo],
    /// The proxy call's first argument (usually the session); `None` = JS `undefined`.
    pub route_param: Option<&'a Value>,
    /// The call being routed.
    pub msg: &'a RpcMsg,
}

/// Why no server could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// No server of this type is known (the field is the type; Node's default-route text).
    #[error("can not find server info for type:{0}")]
    NoServers(String),
    /// `wrr` found no positive weight among the servers of this type (the field).
    #[error("rpc wrr route get invalid weight.")]
    InvalidWeight(String),
    /// A custom router's own error.
    #[error("{0}")]
    Custom(String),
    /// `ch`'s hash field is truthy but not a string (Node's crypto throws a TypeError).
    #[error("ch route: hash field is not a string: {0}")]
    HashField(String),
}

/// A custom routing function, pomelo's `app.route(type, fn)`.
pub type RouteFn = Arc<dyn Fn(&RouteContext<'_>) -> Result<String, RouteError> + Send + Sync>;

/// A routing policy. Stateful ones (rr, wrr, la, ch) keep per-server-type state inside the router.
#[derive(Clone)]
pub enum Schedule {
    /// pomelo's default route: crc of the route parameter's uid, modulo the server count.
    Default(CrcFlavor),
    /// `rr`: per-type counter from 0, `ids[counter % n]`.
    RoundRobin,
    /// `wrr`: pomelo's interleaved weighted round robin; servers without weight are never picked.
    WeightedRoundRobin,
    /// `la`: fewest calls in flight, ties broken uniformly at random.
    LeastActive,
    /// `ch`: pomelo's md5 ring over the servers of the type.
    ConsistentHash {
        /// Ring points per server; 0 means [`DEFAULT_REPLICAS`], as in pomelo.
        replicas: usize,
        /// Which `msg.args` entry to hash; unset or falsy → `JSON.stringify(msg)`.
        hash_field_index: Option<usize>,
    },
    /// Any other `routerType`: uniform random.
    Random,
    /// A user function. Its answer is returned as is, even an id not in `ctx.servers`: the
    /// caller's server table decides what an unknown id means (Node: error code 2).
    Custom(RouteFn),
}

impl Schedule {
    /// pomelo's `routerType` option: `rr|wrr|la|ch`, empty → the default route, anything else
    /// → random (`ch` with pomelo's defaults).
    pub fn from_router_type(router_type: &str) -> Self {
        match router_type {
            "" => Schedule::Default(CrcFlavor::Pomelo),
            "rr" => Schedule::RoundRobin,
            "wrr" => Schedule::WeightedRoundRobin,
            "la" => Schedule::LeastActive,
            "ch" => Schedule::ConsistentHash { replicas: DEFAULT_REPLICAS, hash_field_index: None },
            _ => Schedule::Random,
        }
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Default(flavor) => f.debug_tuple("Default").field(flavor).finish(),
            Schedule::RoundRobin => f.write_str("RoundRobin"),
            Schedule::WeightedRoundRobin => f.write_str("WeightedRoundRobin"),
            Schedule::LeastActive => f.write_str("LeastActive"),
            Schedule::ConsistentHash { replicas, hash_field_index } => f
                .debug_struct("ConsistentHash")
                .field("replicas", replicas)
                .field("hash_field_index", hash_field_index)
                .finish(),
            Schedule::Random => f.write_str("Random"),
            Schedule::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// wrr's per-type cursor, pomelo's `wrrParam[type]`.
#[derive(Debug, Clone, Copy)]
struct WrrState {
    index: i64,
    weight: i64,
}

/// Mutable router state, all schedules' fields side by side (only the active one is used).
#[derive(Debug, Default)]
struct State {
    rr: HashMap<String, u64>,
    wrr: HashMap<String, WrrState>,
    in_flight: HashMap<String, u64>,
    rings: HashMap<String, Arc<Ring>>,
}

/// Thread-safe router: `pick` returns the chosen server id.
#[derive(Debug)]
pub struct Router {
    schedule: Schedule,
    state: Mutex<State>,
}

impl Router {
    /// A router with fresh state.
    pub fn new(schedule: Schedule) -> Self {
        Router { schedule, state: Mutex::default() }
    }

    /// The policy this router applies.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Chooses the server for one call.
    pub fn pick(&self, ctx: &RouteContext) -> Result<String, RouteError> {
        if let Schedule::Custom(f) = &self.schedule {
            return f(ctx);
        }
        let servers = ctx.servers;
        if servers.is_empty() {
            return Err(RouteError::NoServers(ctx.server_type.to_string()));
        }
        let n = servers.len();
        let id = match &self.schedule {
            Schedule::Default(flavor) => &servers[default_index(*flavor, &route_key(ctx.route_param), n)].id,
            Schedule::RoundRobin => {
                let mut st = self.lock();
                let counter = st.rr.entry(ctx.server_type.to_string()).or_insert(0);
                let i = (*counter % n as u64) as usize;
                *counter = counter.wrapping_add(1);
                &servers[i].id
            }
            Schedule::WeightedRoundRobin => {
                let mut st = self.lock();
                let cur = st.wrr.get(ctx.server_type).copied().unwrap_or(WrrState { index: -1, weight: 0 });
                let (i, next) = wrr_next(servers, cur)
                    .ok_or_else(|| RouteError::InvalidWeight(ctx.server_type.to_string()))?;
                st.wrr.insert(ctx.server_type.to_string(), next);
                &servers[i].id
            }
            Schedule::LeastActive => {
                let st = self.lock();
                let count = |s: &ServerInfo| st.in_flight.get(&s.id).copied().unwrap_or(0);
                let min = servers.iter().map(count).min().unwrap_or(0);
                let ties: Vec<&ServerInfo> = servers.iter().filter(|s| count(s) == min).collect();
                &ties[rand::rng().random_range(0..ties.len())].id
            }
            Schedule::ConsistentHash { replicas, hash_field_index } => {
                let field = ch_field(ctx.msg, *hash_field_index)?;
                let ring = self.ring(ctx, *replicas);
                return Ok(ring.lookup(&field).to_string());
            }
            Schedule::Random => &servers[rand::rng().random_range(0..n)].id,
            Schedule::Custom(_) => unreachable!("handled above"),
        };
        Ok(id.clone())
    }

    /// Least-active accounting: a call to `server_id` started. Other schedules ignore it.
    pub fn started(&self, server_id: &str) {
        if matches!(self.schedule, Schedule::LeastActive) {
            *self.lock().in_flight.entry(server_id.to_string()).or_insert(0) += 1;
        }
    }

    /// Least-active accounting: a call to `server_id` ended (reply, error or timeout; exactly
    /// once per `started`). Other schedules ignore it.
    pub fn finished(&self, server_id: &str) {
        if matches!(self.schedule, Schedule::LeastActive) {
            let mut st = self.lock();
            if let Some(c) = st.in_flight.get_mut(server_id) {
                *c = c.saturating_sub(1);
                if *c == 0 {
                    st.in_flight.remove(server_id);
                }
            }
        }
    }

    /// Calls to `server_id` in flight, as least-active sees them (0 under other schedules).
    pub fn in_flight(&self, server_id: &str) -> u64 {
        self.lock().in_flight.get(server_id).copied().unwrap_or(0)
    }

    /// The server list of a type changed: ch rebuilds that type's ring on the next pick; rr and
    /// wrr keep their cursors, as pomelo does.
    pub fn servers_changed(&self, server_type: &str) {
        self.lock().rings.remove(server_type);
    }

    /// State lock; a panic elsewhere cannot leave it inconsistent, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ring for this type, rebuilt when the id list differs from the one it was built from.
    fn ring(&self, ctx: &RouteContext, replicas: usize) -> Arc<Ring> {
        let mut st = self.lock();
        if let Some(ring) = st.rings.get(ctx.server_type)
            && ring.built_from.iter().eq(ctx.servers.iter().map(|s| &s.id))
        {
            return ring.clone();
        }
        let ids: Vec<&str> = ctx.servers.iter().map(|s| s.id.as_str()).collect();
        let ring = Arc::new(Ring::build(&ids, replicas));
        st.rings.insert(ctx.server_type.to_string(), ring.clone());
        ring
    }
}

/// One step of pomelo-rpc 1.0.7's `wrrRoute`: the chosen index and the new cursor, or `None`
/// when no server has a positive weight (state is then left as it was, as in Node).
fn wrr_next(servers: &[ServerInfo], cur: WrrState) -> Option<(usize, WrrState)> {
    let n = servers.len() as i64;
    // getMaxWeight: starts at -1 and only counts truthy weights, so it is the largest positive one.
    let max = servers.iter().filter_map(|s| s.weight).filter(|&w| w > 0).max().unwrap_or(-1);
    let WrrState { mut index, mut weight } = cur;
    loop {
        index = (index + 1) % n;
        if index == 0 {
            weight -= 1;
            if weight <= 0 {
                weight = max;
                if weight <= 0 {
                    return None;
                }
            }
        }
        if servers[index as usize].weight.is_some_and(|w| w >= weight) {
            return Some((index as usize, WrrState { index, weight }));
        }
    }
}

/// ch's hash input: `msg.args[i]` if truthy (it must then be a string), else `JSON.stringify(msg)`.
fn ch_field(msg: &RpcMsg, hash_field_index: Option<usize>) -> Result<String, RouteError> {
    match hash_field_index.and_then(|i| msg.args.get(i).map(|v| (i, v))) {
        Some((_, Value::String(s))) if !s.is_empty() => Ok(s.clone()),
        Some((i, v)) if js_truthy(v) => Err(RouteError::HashField(format!("args[{i}] is {}", js_type(v)))),
        _ => Ok(js_stringify_msg(msg)),
    }
}

/// pomelo's consistent-hash ring: md5 of `id:i` per replica, sorted; lookups take the largest
/// point <= md5(field), wrapping to the last point.
#[derive(Debug)]
struct Ring {
    /// The id list (arrival order) the ring was built from, to notice a changed list.
    built_from: Vec<String>,
    nodes: Vec<String>,
    /// (md5 digest, index into `nodes`); raw digests sort like their lowercase hex strings.
    points: Vec<([u8; 16], usize)>,
}

impl Ring {
    /// Builds the ring over `ids` (duplicates count once); `replicas` 0 means the default.
    fn build(ids: &[&str], replicas: usize) -> Ring {
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
    fn lookup(&self, field: &str) -> &str {
        let h = md5::compute(field.as_bytes()).0;
        let at_or_below = self.points.partition_point(|(k, _)| *k <= h);
        let pos = if at_or_below == 0 { self.points.len() - 1 } else { at_or_below - 1 };
        &self.nodes[self.points[pos].1]
    }
}

/// JS truthiness of a JSON value.
fn js_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// JS `typeof`-style name for error messages.
fn js_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// JS `String(v)` of a JSON value.
fn js_to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => js_number(n),
        Value::String(s) => s.clone(),
        // Array.prototype.join: null/undefined elements become empty.
        Value::Array(a) => a
            .iter()
            .map(|e| if e.is_null() { String::new() } else { js_to_string(e) })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".to_string(),
    }
}

/// JS `Number.prototype.toString()` of a JSON number (Node holds every number as an f64).
fn js_number(n: &serde_json::Number) -> String {
    const EXACT: u64 = 1 << 53;
    if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= EXACT) {
        return i.to_string();
    }
    if let Some(u) = n.as_u64().filter(|&u| u <= EXACT) {
        return u.to_string();
    }
    js_f64(n.as_f64().unwrap_or(f64::NAN))
}

/// ECMAScript Number::toString(10) for an f64: Rust's `{:e}` gives the same shortest digits,
/// laid out here by the spec's rules (plain up to 1e21, exponent below 1e-6).
fn js_f64(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i64;
    let n = exp.parse::<i64>().expect("{:e} exponent is an integer") + 1;
    let mut out = String::from(if x < 0.0 { "-" } else { "" });
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str(&format!("e{}{}", if n > 0 { "+" } else { "-" }, (n - 1).abs()));
    }
    out
}

/// `JSON.stringify(msg)` as Node produces it for pomelo's `{namespace, serverType, service,
/// method, args}` message object.
fn js_stringify_msg(msg: &RpcMsg) -> String {
    let mut out = String::with_capacity(128);
    out.push_str("{\"namespace\":");
    push_js_string(&mut out, &msg.namespace);
    out.push_str(",\"serverType\":");
    push_js_string(&mut out, &msg.server_type);
    out.push_str(",\"service\":");
    push_js_string(&mut out, &msg.service);
    out.push_str(",\"method\":");
    push_js_string(&mut out, &msg.method);
    out.push_str(",\"args\":[");
    for (i, a) in msg.args.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_js_json(&mut out, a);
    }
    out.push_str("]}");
    out
}

/// A JSON string literal; serde_json escapes exactly the characters JSON.stringify does.
fn push_js_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("strings serialize"));
}

/// JSON.stringify of a value: JS number formatting, and object keys in JS property order
/// (array-index keys ascending first, then the rest in insertion order).
fn push_js_json(out: &mut String, v: &Value) {
    match v {
        Value::Null | Value::Bool(_) => out.push_str(&v.to_string()),
        Value::Number(n) => out.push_str(&js_number(n)),
        Value::String(s) => push_js_string(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_js_json(out, e);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // Stable sort: index keys by value ahead of the others, which keep their order.
            entries.sort_by_key(|(k, _)| array_index(k).map_or((1, 0), |i| (0, i)));
            out.push('{');
            for (i, (k, e)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_js_string(out, k);
                out.push(':');
                push_js_json(out, e);
            }
            out.push('}');
        }
    }
}

/// The array index a property key denotes in JS (canonical decimal below 2^32 - 1), if any.
fn array_index(k: &str) -> Option<u32> {
    if k.is_empty() || (k.len() > 1 && k.starts_with('0')) || !k.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    k.parse::<u32>().ok().filter(|&i| i != u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/golden/route-vectors.json");

    fn vectors() -> Value {
        let text = std::fs::read_to_string(VECTORS).unwrap_or_else(|e| {
            panic!(
                "{VECTORS}: {e}; generate it with `node compat-tests/gen-route-vectors.js > \
                 fixtures/golden/route-vectors.json` from the crate root"
            )
        });
        serde_json::from_str(&text).expect("route-vectors.json is JSON")
    }

    fn section<'a>(v: &'a Value, name: &str) -> &'a Vec<Value> {
        v[name].as_array().unwrap_or_else(|| panic!("route-vectors.json has no `{name}` array"))
    }

    fn server(id: &str, weight: Option<i64>) -> ServerInfo {
        let mut s = ServerInfo::new(id, "t", "127.0.0.1", 3000);
        s.weight = weight;
        s
    }

    fn list(n: usize) -> Vec<ServerInfo> {
        (1..=n).map(|i| server(&format!("s-{i}"), None)).collect()
    }

    fn msg() -> RpcMsg {
        RpcMsg::new("user", "t", "svc", "m", vec![])
    }

    fn pick(
        router: &Router,
        servers: &[ServerInfo],
        param: Option<&Value>,
        msg: &RpcMsg,
    ) -> Result<String, RouteError> {
        router.pick(&RouteContext { server_type: "t", servers, route_param: param, msg })
    }

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
        // uid number 10001 routes like "10001".
        assert_eq!(route_key(Some(&json!({"uid": 10001}))), "10001");
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
    fn node_default_route_vectors() {
        let v = vectors();
        let cases = section(&v, "default_route");
        assert!(cases.len() >= 40);
        let pomelo = Router::new(Schedule::Default(CrcFlavor::Pomelo));
        let pinus = Router::new(Schedule::Default(CrcFlavor::Pinus));
        for c in cases {
            let param = c.get("route_param");
            assert_eq!(route_key(param), c["key"].as_str().unwrap(), "key of {param:?}");
            for n in 1..=5 {
                let servers = list(n);
                let want = |flavor: &str| c[flavor][n - 1].as_str().unwrap().to_string();
                assert_eq!(
                    pick(&pomelo, &servers, param, &msg()).unwrap(),
                    want("pomelo"),
                    "{param:?} n={n}"
                );
                assert_eq!(pick(&pinus, &servers, param, &msg()).unwrap(), want("pinus"), "{param:?} n={n}");
            }
        }
        let empty = &v["default_route_empty"];
        let err = pick(&pomelo, &[], Some(&json!({"uid": "a"})), &msg()).unwrap_err();
        assert_eq!(err.to_string(), empty["error"].as_str().expect("default_route_empty.error"));
    }

    /// Replays a Node rr/wrr scenario: the same router across steps, each step a server list.
    fn replay(schedule: fn() -> Schedule, scenarios: &[Value]) -> usize {
        let mut picks = 0;
        for sc in scenarios {
            let name = sc["name"].as_str().unwrap();
            let router = Router::new(schedule());
            for step in sc["steps"].as_array().unwrap() {
                let servers: Vec<ServerInfo> = step["servers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| server(s["id"].as_str().unwrap(), s.get("weight").and_then(Value::as_i64)))
                    .collect();
                for (i, want) in step["picks"].as_array().unwrap().iter().enumerate() {
                    let got = pick(&router, &servers, None, &msg());
                    match want {
                        Value::String(id) => assert_eq!(got.unwrap(), *id, "{name}: pick {i}"),
                        _ => assert_eq!(
                            got.unwrap_err().to_string(),
                            want["error"].as_str().unwrap(),
                            "{name}"
                        ),
                    }
                    picks += 1;
                }
            }
        }
        picks
    }

    #[test]
    fn node_rr_vectors() {
        let v = vectors();
        assert!(replay(|| Schedule::RoundRobin, section(&v, "rr")) >= 20);
    }

    #[test]
    fn node_wrr_vectors() {
        let v = vectors();
        assert!(replay(|| Schedule::WeightedRoundRobin, section(&v, "wrr")) >= 30);
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

    #[test]
    fn node_ch_route_vectors() {
        let v = vectors();
        for c in section(&v, "ch_route") {
            let m: RpcMsg = serde_json::from_value(c["msg"].clone()).unwrap();
            assert_eq!(js_stringify_msg(&m), c["stringify"].as_str().unwrap());
            let router = Router::new(Schedule::ConsistentHash {
                replicas: c["replicas"].as_u64().unwrap() as usize,
                hash_field_index: c["hash_field_index"].as_u64().map(|i| i as usize),
            });
            let got = pick(&router, &list(3), None, &m);
            match c.get("id") {
                Some(id) => assert_eq!(got.unwrap(), id.as_str().unwrap(), "{c}"),
                None => {
                    assert!(c["throws"].is_string(), "{c}");
                    assert!(matches!(got, Err(RouteError::HashField(_))), "{c}: {got:?}");
                }
            }
        }
    }

    #[test]
    fn route_key_cases() {
        let cases: &[(Option<Value>, &str)] = &[
            (None, ""),
            (Some(Value::Null), ""),
            (Some(json!({"uid": "alice"})), "alice"),
            (Some(json!({"uid": 10001})), "10001"),
            (Some(json!({"uid": 1.5})), "1.5"),
            (Some(json!({"uid": -7})), "-7"),
            (Some(json!({"uid": 1e21})), "1e+21"),
            (Some(json!({"uid": 1.5e-7})), "1.5e-7"),
            (Some(json!({"uid": 0.000001})), "0.000001"),
            (Some(json!({"uid": 100.0})), "100"),
            (Some(json!({"uid": true})), "true"),
            (Some(json!({"uid": [1, "a", null]})), "1,a,"),
            (Some(json!({"uid": {"a": 1}})), "[object Object]"),
            (Some(json!({"uid": 0})), ""),
            (Some(json!({"uid": 0.0})), ""),
            (Some(json!({"uid": ""})), ""),
            (Some(json!({"uid": null})), ""),
            (Some(json!({"uid": false})), ""),
            (Some(json!({})), ""),
            (Some(json!("alice")), ""),
            (Some(json!(42)), ""),
            (Some(json!(true)), ""),
            (Some(json!(["alice"])), ""),
        ];
        for (param, want) in cases {
            assert_eq!(route_key(param.as_ref()), *want, "{param:?}");
        }
    }

    #[test]
    fn js_number_formatting() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (123456789012.0, "123456789012"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.2345e22, "1.2345e+22"),
            (1e-6, "0.000001"),
            (1.5e-7, "1.5e-7"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (9007199254740994.0, "9007199254740994"),
        ];
        for &(x, want) in cases {
            assert_eq!(js_f64(x), want, "{x:e}");
        }
        assert_eq!(js_number(&serde_json::Number::from(u64::MAX)), "18446744073709552000");
    }

    #[test]
    fn stringify_orders_index_keys_first() {
        let m = RpcMsg::new(
            "user",
            "t",
            "s",
            "m",
            vec![json!({"b": 1, "10": 2, "2": 3, "01": 4, "a": [1.0, null]})],
        );
        assert_eq!(
            js_stringify_msg(&m),
            r#"{"namespace":"user","serverType":"t","service":"s","method":"m","args":[{"2":3,"10":2,"b":1,"01":4,"a":[1,null]}]}"#
        );
    }

    #[test]
    fn no_servers_error_text() {
        for schedule in [
            Schedule::Default(CrcFlavor::Pomelo),
            Schedule::RoundRobin,
            Schedule::WeightedRoundRobin,
            Schedule::LeastActive,
            Schedule::ConsistentHash { replicas: 0, hash_field_index: None },
            Schedule::Random,
        ] {
            let err = Router::new(schedule).pick(&RouteContext {
                server_type: "chat",
                servers: &[],
                route_param: None,
                msg: &msg(),
            });
            assert_eq!(err.unwrap_err().to_string(), "can not find server info for type:chat");
        }
    }

    #[test]
    fn wrr_invalid_weight() {
        let router = Router::new(Schedule::WeightedRoundRobin);
        for weights in [[None, None], [Some(0), Some(-3)]] {
            let servers: Vec<ServerInfo> =
                weights.iter().enumerate().map(|(i, w)| server(&format!("s-{i}"), *w)).collect();
            let err = pick(&router, &servers, None, &msg()).unwrap_err();
            assert!(matches!(err, RouteError::InvalidWeight(ref t) if t == "t"));
            assert_eq!(err.to_string(), "rpc wrr route get invalid weight.");
        }
        // A failed pick leaves the cursor alone: the first real pick starts a fresh cycle.
        let servers = [server("a", Some(1)), server("b", Some(2))];
        assert_eq!(pick(&router, &servers, None, &msg()).unwrap(), "b");
    }

    #[test]
    fn ch_non_string_field_is_an_error() {
        let router = Router::new(Schedule::ConsistentHash { replicas: 10, hash_field_index: Some(0) });
        for arg in [json!(5), json!({"uid": "a"}), json!(["a"]), json!(true)] {
            let m = RpcMsg::new("user", "t", "s", "m", vec![arg.clone()]);
            let err = pick(&router, &list(3), None, &m).unwrap_err();
            assert!(matches!(err, RouteError::HashField(_)), "{arg}: {err:?}");
        }
        // Falsy fields fall back to the whole message, like Node's `||`.
        for arg in [json!(0), json!(""), json!(false), Value::Null] {
            let m = RpcMsg::new("user", "t", "s", "m", vec![arg]);
            let want = Ring::build(&["s-1", "s-2", "s-3"], 10).lookup(&js_stringify_msg(&m)).to_string();
            assert_eq!(pick(&router, &list(3), None, &m).unwrap(), want);
        }
    }

    #[test]
    fn ch_ring_follows_the_list_of_its_type_only() {
        let router = Router::new(Schedule::ConsistentHash { replicas: 0, hash_field_index: Some(0) });
        let keys: Vec<RpcMsg> =
            (0..200).map(|i| RpcMsg::new("user", "t", "s", "m", vec![json!(format!("k{i}"))])).collect();
        let two = list(2);
        assert!(keys.iter().all(|m| pick(&router, &two, None, m).unwrap() != "s-3"));
        // Another type's servers never join this ring.
        let other = [server("other-1", None)];
        router
            .pick(&RouteContext { server_type: "o", servers: &other, route_param: None, msg: &keys[0] })
            .unwrap();
        assert!(keys.iter().all(|m| pick(&router, &two, None, m).unwrap() != "other-1"));
        // A grown list is noticed even without servers_changed, and with it.
        let three = list(3);
        assert!(keys.iter().any(|m| pick(&router, &three, None, m).unwrap() == "s-3"));
        router.servers_changed("t");
        assert!(keys.iter().any(|m| pick(&router, &three, None, m).unwrap() == "s-3"));
    }

    #[test]
    fn la_counts_completions() {
        let router = Router::new(Schedule::LeastActive);
        let servers = [server("A", None), server("B", None)];
        for _ in 0..3 {
            router.started("A");
        }
        for _ in 0..20 {
            assert_eq!(pick(&router, &servers, None, &msg()).unwrap(), "B");
        }
        router.started("B");
        for _ in 0..3 {
            router.finished("A");
        }
        assert_eq!(router.in_flight("A"), 0);
        for _ in 0..20 {
            assert_eq!(pick(&router, &servers, None, &msg()).unwrap(), "A");
        }
        router.finished("B");
        router.finished("B"); // an extra finish never goes below zero
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.insert(pick(&router, &servers, None, &msg()).unwrap());
        }
        assert_eq!(seen.len(), 2, "ties are broken at random");
    }

    #[test]
    fn la_late_server_starts_at_zero() {
        let router = Router::new(Schedule::LeastActive);
        let two = [server("a", None), server("b", None)];
        for _ in 0..4 {
            let id = pick(&router, &two, None, &msg()).unwrap();
            router.started(&id);
        }
        assert_eq!(router.in_flight("a") + router.in_flight("b"), 4);
        let three = [server("a", None), server("b", None), server("c", None)];
        let id = pick(&router, &three, None, &msg()).unwrap();
        assert_eq!(id, "c");
        router.started(&id);
        router.started(&id);
        router.started(&id);
        // c is now the busiest, unlike pomelo's NaN counter that pins every call to it.
        assert_ne!(pick(&router, &three, None, &msg()).unwrap(), "c");
    }

    #[test]
    fn accounting_is_ignored_by_other_schedules() {
        let router = Router::new(Schedule::RoundRobin);
        router.started("s-1");
        assert_eq!(router.in_flight("s-1"), 0);
        let ids: Vec<String> = (0..4).map(|_| pick(&router, &list(3), None, &msg()).unwrap()).collect();
        assert_eq!(ids, ["s-1", "s-2", "s-3", "s-1"]);
    }

    #[test]
    fn rr_state_is_per_type() {
        let router = Router::new(Schedule::RoundRobin);
        let servers = list(3);
        let at = |t| {
            router.pick(&RouteContext { server_type: t, servers: &servers, route_param: None, msg: &msg() })
        };
        assert_eq!(at("x").unwrap(), "s-1");
        assert_eq!(at("x").unwrap(), "s-2");
        assert_eq!(at("y").unwrap(), "s-1");
    }

    #[test]
    fn custom_router_is_trusted() {
        let router = Router::new(Schedule::Custom(Arc::new(|ctx: &RouteContext| {
            match ctx.route_param.and_then(|p| p["to"].as_str()) {
                Some(to) => Ok(to.to_string()),
                None => Err(RouteError::Custom(format!("no target among {}", ctx.servers.len()))),
            }
        })));
        let p = json!({"to": "not-in-list"});
        assert_eq!(pick(&router, &list(2), Some(&p), &msg()).unwrap(), "not-in-list");
        assert_eq!(pick(&router, &[], None, &msg()).unwrap_err().to_string(), "no target among 0");
        assert!(format!("{:?}", router.schedule()).contains("Custom"));
    }

    #[test]
    fn random_is_uniformish() {
        let router = Router::new(Schedule::from_router_type("whatever"));
        let mut counts = HashMap::new();
        for _ in 0..3000 {
            *counts.entry(pick(&router, &list(3), None, &msg()).unwrap()).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 3);
        assert!(counts.values().all(|&c| c > 800), "{counts:?}");
    }

    #[test]
    fn concurrent_picks() {
        let servers = list(4);
        for schedule in [
            Schedule::RoundRobin,
            Schedule::WeightedRoundRobin,
            Schedule::LeastActive,
            Schedule::ConsistentHash { replicas: 0, hash_field_index: None },
        ] {
            let weighted: Vec<ServerInfo> = servers.iter().map(|s| server(&s.id, Some(2))).collect();
            let router = Router::new(schedule);
            let total = std::sync::atomic::AtomicUsize::new(0);
            std::thread::scope(|scope| {
                for _ in 0..8 {
                    scope.spawn(|| {
                        for _ in 0..250 {
                            let id = pick(&router, &weighted, None, &msg()).unwrap();
                            router.started(&id);
                            router.finished(&id);
                            total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    });
                }
            });
            assert_eq!(total.into_inner(), 2000);
            assert!(servers.iter().all(|s| router.in_flight(&s.id) == 0));
            if let Schedule::RoundRobin = router.schedule() {
                // 2000 picks advanced the shared counter exactly 2000 times.
                assert_eq!(pick(&router, &weighted, None, &msg()).unwrap(), "s-1");
            }
        }
    }

    #[test]
    fn router_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Router>();
    }
}
