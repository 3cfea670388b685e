//! Test-only loader for fixtures/golden/route-vectors.json, the decisions recorded from the real
//! Node code; shared by the hash tests and the router tests.

use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/golden/route-vectors.json");

pub(super) fn vectors() -> Value {
    let text = std::fs::read_to_string(VECTORS).unwrap_or_else(|e| {
        panic!(
            "{VECTORS}: {e}; generate it with `node compat-tests/gen-route-vectors.js > \
             fixtures/golden/route-vectors.json` from the crate root"
        )
    });
    serde_json::from_str(&text).expect("route-vectors.json is JSON")
}

pub(super) fn section<'a>(v: &'a Value, name: &str) -> &'a Vec<Value> {
    v[name].as_array().unwrap_or_else(|| panic!("route-vectors.json has no `{name}` array"))
}
