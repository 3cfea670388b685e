//! The golden vectors under fixtures/golden were computed by the real Node code in
//! compat-tests; regenerate them here and check the committed files are exactly that output.

mod common;

use std::process::Command;

fn regenerate(script: &str, fixture: &str) {
    let dir = common::compat_dir();
    let out = Command::new("node").arg(dir.join(script)).current_dir(dir.parent().unwrap()).output().unwrap();
    assert!(out.status.success(), "{script} failed: {}", String::from_utf8_lossy(&out.stderr));
    let committed = std::fs::read(dir.parent().unwrap().join(fixture)).unwrap();
    assert!(
        out.stdout == committed,
        "{fixture} is not what {script} prints with the pinned Node packages; regenerate it: \
         node compat-tests/{script} > {fixture}"
    );
}

#[test]
fn route_vectors_come_from_pomelo_rpc_and_pinus() {
    regenerate("gen-route-vectors.js", "fixtures/golden/route-vectors.json");
}

#[test]
fn pinus_tcp_frames_come_from_pinus_composer() {
    regenerate("gen-pinus-golden.js", "fixtures/golden/pinus-tcp-composer.json");
}
