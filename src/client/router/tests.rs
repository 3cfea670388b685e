//! The router's unit tests: every schedule through `Router::pick`, replayed against the Node
//! vectors where pomelo's decision is visible, plus state, accounting and concurrency.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::hash::Ring;
use super::jsvalue::js_stringify_msg;
use super::vectors::{section, vectors};
use super::*;
use crate::client::ServerInfo;
use crate::message::RpcMsg;

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
            assert_eq!(pick(&pomelo, &servers, param, &msg()).unwrap(), want("pomelo"), "{param:?} n={n}");
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
                    _ => assert_eq!(got.unwrap_err().to_string(), want["error"].as_str().unwrap(), "{name}"),
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
    let at =
        |t| router.pick(&RouteContext { server_type: t, servers: &servers, route_param: None, msg: &msg() });
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
