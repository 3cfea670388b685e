//! Tests of the packet text codec (`parse`, `encode`), and the helpers the submodules' tests
//! share (`s`, `reason`).

use std::fmt;

use super::*;
use proptest::prelude::*;

/// `x.to_owned()`, to keep the tables short.
pub(super) fn s(x: &str) -> String {
    x.to_owned()
}

/// The reason of a sio09 [`WireError::Malformed`]; panics on anything else.
pub(super) fn reason(r: Result<impl fmt::Debug, WireError>) -> String {
    match r {
        Err(WireError::Malformed { dialect: "sio09", reason }) => reason,
        other => panic!("expected a sio09 Malformed error, got {other:?}"),
    }
}

/// Every canonical form from spec/wire.md §4 and the Node encoder, with its parse.
fn table() -> Vec<(&'static str, Packet)> {
    vec![
        ("0::", Packet::Disconnect { endpoint: s("") }),
        ("0::/chat", Packet::Disconnect { endpoint: s("/chat") }),
        ("1::", Packet::Connect { endpoint: s(""), query: s("") }),
        ("1::/chat", Packet::Connect { endpoint: s("/chat"), query: s("") }),
        ("1::/chat?x=1", Packet::Connect { endpoint: s("/chat?x=1"), query: s("") }),
        ("1::/chat:a=1&b=2", Packet::Connect { endpoint: s("/chat"), query: s("a=1&b=2") }),
        ("2::", Packet::Heartbeat),
        ("3::", Packet::Message { id: s(""), endpoint: s(""), data: s("") }),
        ("3:::hi: there", Packet::Message { id: s(""), endpoint: s(""), data: s("hi: there") }),
        ("3:1::blah", Packet::Message { id: s("1"), endpoint: s(""), data: s("blah") }),
        ("3:12+:/a:b:c", Packet::Message { id: s("12+"), endpoint: s("/a"), data: s("b:c") }),
        ("4:::{\"a\":1}", Packet::Json { id: s(""), endpoint: s(""), data: s("{\"a\":1}") }),
        ("4:::", Packet::Json { id: s(""), endpoint: s(""), data: s("") }),
        ("4:7:/n:[\"x:y\"]", Packet::Json { id: s("7"), endpoint: s("/n"), data: s("[\"x:y\"]") }),
        (
            "5:::{\"name\":\"message\",\"args\":[{\"id\":0}]}",
            Packet::Event {
                id: s(""),
                endpoint: s(""),
                data: s("{\"name\":\"message\",\"args\":[{\"id\":0}]}"),
            },
        ),
        (
            "5:3+:/chat:{\"name\":\"a:b\"}",
            Packet::Event { id: s("3+"), endpoint: s("/chat"), data: s("{\"name\":\"a:b\"}") },
        ),
        ("6:::4", Packet::Ack { data: s("4") }),
        ("6:::4+[\"A\",{\"k\":\":\"}]", Packet::Ack { data: s("4+[\"A\",{\"k\":\":\"}]") }),
        ("7::", Packet::Error { endpoint: s(""), reason: s(""), advice: s("") }),
        ("7:::1+0", Packet::Error { endpoint: s(""), reason: s("1"), advice: s("0") }),
        ("7:::2", Packet::Error { endpoint: s(""), reason: s("2"), advice: s("") }),
        ("7:::+0", Packet::Error { endpoint: s(""), reason: s(""), advice: s("0") }),
        ("7::/chat:2", Packet::Error { endpoint: s("/chat"), reason: s("2"), advice: s("") }),
        ("8::", Packet::Noop),
    ]
}

#[test]
fn every_type_round_trips_byte_exactly() {
    for (text, packet) in table() {
        assert_eq!(parse(text).unwrap(), packet, "parse {text:?}");
        assert_eq!(encode(&packet), text, "encode {packet:?}");
    }
}

#[test]
fn exact_node_bytes() {
    // spec/wire.md §4.2: frame payloads `31 3a 3a`, `30 3a 3a`, heartbeats, the unknown-sid error.
    assert_eq!(encode(&Packet::Connect { endpoint: s(""), query: s("") }).as_bytes(), b"1::");
    assert_eq!(encode(&Packet::Disconnect { endpoint: s("") }).as_bytes(), b"0::");
    assert_eq!(encode(&Packet::Heartbeat), "2::");
    assert_eq!(encode(&Packet::Noop), "8::");
    let err = Packet::Error { endpoint: s(""), reason: s("1"), advice: s("0") };
    assert_eq!(encode(&err), "7:::1+0");
    assert_eq!(parse("7:::1+0").unwrap(), err);
    let frame = r#"5:::{"name":"message","args":[{"id":0,"resp":[null,"echo: hello"]}]}"#;
    assert_eq!(encode(&parse(frame).unwrap()), frame);
}

#[test]
fn ack_with_data_keeps_the_plus() {
    let p = parse("5:1+::{\"name\":\"message\",\"args\":[1]}").unwrap();
    assert!(matches!(&p, Packet::Event { id, .. } if id == "1+"));
    assert_eq!(encode(&p), "5:1+::{\"name\":\"message\",\"args\":[1]}");
    let p = parse("3:42::x").unwrap();
    assert!(matches!(&p, Packet::Message { id, .. } if id == "42"));
}

#[test]
fn colons_belong_to_the_data_never_to_the_endpoint() {
    let p = parse("3::/a:b::c:").unwrap();
    assert_eq!(p, Packet::Message { id: s(""), endpoint: s("/a"), data: s("b::c:") });
    assert_eq!(encode(&p), "3::/a:b::c:");
    let p = parse("5::/ns::::").unwrap();
    assert_eq!(p, Packet::Event { id: s(""), endpoint: s("/ns"), data: s(":::") });
}

#[test]
fn non_canonical_empty_parts_normalise_like_node() {
    for (text, canonical) in [
        ("0:::", "0::"),
        ("1:::", "1::"),
        ("2:::", "2::"),
        ("3:::", "3::"),
        ("7:::", "7::"),
        ("7:::1+", "7:::1"),
        ("7:::+", "7::"),
        ("8:::", "8::"),
    ] {
        assert_eq!(encode(&parse(text).unwrap()), canonical, "{text:?}");
    }
}

#[test]
fn garbage_is_malformed() {
    assert_eq!(reason(parse("")), "empty packet");
    assert!(reason(parse("x")).contains("no ':'"));
    assert!(reason(parse("9::")).contains("unknown packet type \"9\""));
    assert!(reason(parse("x::")).contains("unknown packet type"));
    assert!(reason(parse("55::")).contains("unknown packet type"));
    assert!(reason(parse(" 5:::{}")).contains("unknown packet type"));
    assert!(reason(parse(&"y".repeat(1000))).len() < 100, "hostile input is not echoed whole");
    for bad in ["5:", "2:", "5:x::{}", "5:1", "5:1+", "5:+::{}", "5:1++::{}", "5:-1::{}"] {
        reason(parse(bad));
    }
    // Fields the variant cannot hold.
    for bad in
        ["2::/ns", "2:1::", "2:::x", "8::/ns", "0:1::", "0:::x", "1:1::", "7:1:::1", "6:1:::1", "6::/n:1"]
    {
        reason(parse(bad));
    }
    // Types whose data is required; ack data must start with the ack id.
    for bad in ["4::", "5::", "5::/ns", "6::", "6:::", "6:::x", "6:::1x", "6:::+[1]"] {
        reason(parse(bad));
    }
}

/// Valid field values for generated packets.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[0-9]{1,4}\\+?"]
}
fn endpoint() -> impl Strategy<Value = String> {
    "[^:]{0,8}"
}
fn text() -> impl Strategy<Value = String> {
    ".{0,16}"
}
fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        endpoint().prop_map(|endpoint| Packet::Disconnect { endpoint }),
        (endpoint(), text()).prop_map(|(endpoint, query)| Packet::Connect { endpoint, query }),
        Just(Packet::Heartbeat),
        (id(), endpoint(), text()).prop_map(|(id, endpoint, data)| Packet::Message { id, endpoint, data }),
        (id(), endpoint(), text()).prop_map(|(id, endpoint, data)| Packet::Json { id, endpoint, data }),
        (id(), endpoint(), text()).prop_map(|(id, endpoint, data)| Packet::Event { id, endpoint, data }),
        ("[0-9]{1,3}", prop::option::of(text()))
            .prop_map(|(n, a)| Packet::Ack { data: a.map_or(n.clone(), |a| format!("{n}+{a}")) }),
        (endpoint(), "[0-9]{0,2}", ".{0,4}").prop_map(|(endpoint, reason, advice)| Packet::Error {
            endpoint,
            reason,
            advice
        }),
        Just(Packet::Noop),
    ]
    .prop_filter(
        "reason cannot contain '+'",
        |p| !matches!(p, Packet::Error { reason, .. } if reason.contains('+')),
    )
}

proptest! {
    #[test]
    fn generated_packets_round_trip(p in packet()) {
        let text = encode(&p);
        prop_assert_eq!(parse(&text).unwrap(), p);
    }

    #[test]
    fn parse_is_total_and_canonical(text in prop_oneof![".{0,24}", "[0-9x][0-9+:/a{}\"]{0,12}"]) {
        if let Ok(p) = parse(&text) {
            prop_assert_eq!(parse(&encode(&p)).unwrap(), p);
        }
    }
}
