use bytes::Bytes;
use serde_json::json;

use super::*;

fn requests(text: &str) -> Packages<Request> {
    parse_requests(Bytes::copy_from_slice(text.as_bytes())).unwrap()
}

#[test]
fn request_key_order_matches_node() {
    // tcp04-basic, first request body (108 bytes).
    let req = Request::new(0, RpcMsg::new("user", "test", "service", "echo", vec![json!("hello")]));
    assert_eq!(
        String::from_utf8(encode_request(&req)).unwrap(),
        r#"{"id":0,"msg":{"namespace":"user","serverType":"test","service":"service","method":"echo","args":["hello"]}}"#
    );
}

#[test]
fn trace_fields_come_first_and_round_trip() {
    let text = r#"{"traceId":"986f8a10-e57f-11f1-a4f9-c5431bbc5487","seqId":11,"source":"client-1","remote":"srv-1","id":0,"msg":{"namespace":"user","serverType":"test","service":"service","method":"echo","args":["traced"]}}"#;
    let reqs = requests(text);
    let req = reqs[0].as_ref().unwrap();
    assert_eq!(req.trace.seq_id.as_ref().unwrap().as_str(), "11");
    assert_eq!(String::from_utf8(encode_request(req)).unwrap(), text);
}

#[test]
fn args_stay_raw_and_route_names_decode() {
    let text = r#"{"id":"x7","msg":{"namespace":"user","serverType":"t","service":"s\u0041","method":"m","args":["cut \ud83d", -0, 1e400, {"b":1,"a":2}]}}"#;
    let req = requests(text).remove(0).unwrap();
    assert_eq!(req.id.as_str(), r#""x7""#);
    assert_eq!(&*req.msg.service, "sA");
    assert_eq!(req.msg.args.as_str(), r#"["cut \ud83d", -0, 1e400, {"b":1,"a":2}]"#);
    assert_eq!(
        req.msg.args.values().unwrap(),
        vec![json!("cut \u{FFFD}"), json!(-0.0), json!(null), json!({"b":1,"a":2})]
    );
}

#[test]
fn batch_and_single_both_parse() {
    let one = parse_responses(Bytes::from_static(br#"{"id":"ten","resp":[null,1]}"#)).unwrap();
    assert_eq!(one[0].as_ref().unwrap().id.as_ref().unwrap().as_str(), r#""ten""#);
    let many =
        parse_responses(Bytes::from_static(br#" [{"id":0,"resp":[null]},{"id":1,"resp":[]}]"#)).unwrap();
    assert_eq!(many.len(), 2);
    assert_eq!(many[1].as_ref().unwrap().numeric_id(), Some(1));
    let no_id = parse_responses(Bytes::from_static(br#"{"resp":[{"stack":"x"}]}"#)).unwrap();
    assert_eq!(no_id[0].as_ref().unwrap().id, None);
}

#[test]
fn a_bad_package_costs_only_itself() {
    let reqs = requests(
        r#"[{"id":1,"msg":{"namespace":"user","service":"s","method":"m"}}, {"id":2}, 7, {"id":3,"msg":{"namespace":1}}]"#,
    );
    assert!(reqs[0].is_ok());
    assert_eq!(reqs[0].as_ref().unwrap().msg.args.as_str(), "[]");
    let two = reqs[1].as_ref().unwrap_err();
    assert_eq!(two.id.as_ref().unwrap().as_str(), "2");
    assert!(two.reason.contains("missing field `msg`"), "{}", two.reason);
    assert_eq!(reqs[2].as_ref().unwrap_err().id, None);
    assert!(reqs[3].as_ref().unwrap_err().reason.contains("namespace is not a string"));
    assert!(parse_requests(Bytes::from_static(b"{not json")).is_err());
}

#[test]
fn responses_splice_raw_values() {
    let args = JsonArray::from_raw(RawJson::from_slice(br#"[ "cut \ud83d" , 1 ]"#).unwrap()).unwrap();
    let resp = args.prepend("null");
    assert_eq!(resp.as_str(), r#"[null,"cut \ud83d" , 1]"#);
    assert_eq!(JsonArray::empty().prepend("null").as_str(), "[null]");
    let id = RawJson::from_value(&3);
    assert_eq!(
        String::from_utf8(encode_response(Some(&id), &resp)).unwrap(),
        r#"{"id":3,"resp":[null,"cut \ud83d" , 1]}"#
    );
    assert!(resp.is_ok());
    assert!(!JsonArray::from_values(&[json!({"stack": "x"})]).is_ok());
    assert!(JsonArray::from_values(&[json!(null), json!(1)]).is_ok());
    assert!(
        !JsonArray::from_raw(
            RawJson::from_slice(b"[nullx]").unwrap_or_else(|_| RawJson::from_value(&json!(["nullx"])))
        )
        .unwrap()
        .is_ok()
    );
}

#[test]
fn route_parsing() {
    let m = RpcMsg::parse_route("user.demo.echoRemote.echo", vec![]).unwrap();
    assert_eq!((&*m.server_type, &*m.method), ("demo", "echo"));
    assert_eq!(m.route(), "user.demo.echoRemote.echo");
    assert!(RpcMsg::parse_route("user.demo.echoRemote", vec![]).is_none());
    assert!(RpcMsg::parse_route("user..echoRemote.echo", vec![]).is_none());
    assert!(RpcMsg::parse_route("a.b.c.d.e", vec![]).is_none());
}

#[test]
fn error_objects() {
    let e = NodeError::new("bad").to_json("svc.m");
    assert_eq!(e["stack"], json!("Error: bad\n    at svc.m (pomelo-interop)"));
    assert_eq!(error_message(&e), "bad");
    assert_eq!(error_message(&json!({"stack":"Error: boom\n    at y"})), "boom");
    assert_eq!(error_message(&json!({})), "{}");
}

#[test]
fn batch_join() {
    assert_eq!(join_batch([&b"{}"[..], &b"1"[..]]), b"[{},1]");
}

#[test]
fn an_envelope_key_with_a_lone_surrogate_still_parses_and_args_keep_their_bytes() {
    let text =
        r#"{"id":4,"x\ud800":1,"msg":{"namespace":"user","service":"s","method":"m","args":["cut \ud83d"]}}"#;
    let req = requests(text).remove(0).unwrap();
    assert_eq!(req.id.as_str(), "4");
    assert_eq!(req.msg.args.as_str(), r#"["cut \ud83d"]"#);
}

#[test]
fn scalars_and_arrays_are_packages_of_the_wrong_kind() {
    let reqs = requests("5");
    assert!(reqs[0].as_ref().unwrap_err().reason.contains("not an object"));
    let reqs = requests(r#"[[1], "x"]"#);
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|r| r.is_err()));
}
