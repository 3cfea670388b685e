//! The routing vocabulary (what a pick sees, the policies, why a pick fails) and each policy's
//! stateless step; the per-type state they step through is kept by [`super::Router`].

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::hash::{CrcFlavor, DEFAULT_REPLICAS};
use super::jsvalue::{js_stringify_msg, js_to_string, js_truthy, js_type};
use crate::client::ServerInfo;
use crate::message::RpcMsg;

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

/// wrr's per-type cursor, pomelo's `wrrParam[type]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct WrrState {
    pub(super) index: i64,
    pub(super) weight: i64,
}

/// One step of pomelo-rpc 1.0.7's `wrrRoute`: the chosen index and the new cursor, or `None`
/// when no server has a positive weight (state is then left as it was, as in Node).
pub(super) fn wrr_next(servers: &[ServerInfo], cur: WrrState) -> Option<(usize, WrrState)> {
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
pub(super) fn ch_field(msg: &RpcMsg, hash_field_index: Option<usize>) -> Result<String, RouteError> {
    let args = msg.args.values().unwrap_or_default();
    match hash_field_index.and_then(|i| args.get(i).map(|v| (i, v))) {
        Some((_, Value::String(s))) if !s.is_empty() => Ok(s.clone()),
        Some((i, v)) if js_truthy(v) => Err(RouteError::HashField(format!("args[{i}] is {}", js_type(v)))),
        _ => Ok(js_stringify_msg(msg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        // uid number 10001 routes like "10001".
        assert_eq!(route_key(Some(&json!({"uid": 10001}))), "10001");
    }
}
