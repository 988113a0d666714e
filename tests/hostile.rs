//! Hostile input: property tests of the parser and the engine (never panic, typed errors, valid
//! JSON out), and a real server fed invalid UTF-8, binary frames and 10,000 calls on one
//! connection. The long-running fuzz target is in `fuzz/` (see README, Operations).

mod common;

use std::sync::{Arc, OnceLock};

use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use serde_json::{json, Value};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

use calma::engine::{Resources, Session};
use calma::protocol::{parse_inbound, ErrorCode, Outbound, ParseLimits, MAX_MEDIA_MS};
use calma::server::Options;
use common::*;

fn res() -> Arc<Resources> {
    static RES: OnceLock<Arc<Resources>> = OnceLock::new();
    RES.get_or_init(Resources::embedded).clone()
}

const CODES: &[&str] = &[
    "bad_json",
    "unknown_type",
    "missing_field",
    "invalid_field",
    "unknown_call",
    "duplicate_call",
    "message_too_large",
    "text_too_long",
    "binary_frame",
    "too_many_calls",
    "too_many_connections",
    "rate_limited",
    "unauthorized",
    "forbidden",
    "not_allowed_here",
    "shutting_down",
];

fn assert_valid_outputs(outs: &[Outbound]) {
    for o in outs {
        let v: Value = serde_json::from_str(&o.to_json()).expect("outputs are JSON");
        assert_eq!(v["type"], o.type_name());
        assert_eq!(v["call_id"], o.call_id());
    }
}

/// Text with the characters that break naive code: emoji, combining marks, controls, RTL marks,
/// NUL, lone quotes and backslashes.
fn nasty_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("estoy harto".to_string()),
        Just("quiero hablar con un supervisor".to_string()),
        Just("😡🤬👍🏽".to_string()),
        Just("e\u{301}\u{301}\u{301}".to_string()),
        Just("\u{0}\u{1b}[31m\u{7f}".to_string()),
        Just("\u{202e}\u{200b}\u{feff}".to_string()),
        Just("\"\\\n\t".to_string()),
        Just("ÑOÑO ÁÉÍÓÚ ü".to_string()),
        "\\PC{0,12}",
        ".{0,12}",
    ];
    prop::collection::vec(pieces, 0..6).prop_map(|v| v.join(" "))
}

/// One protocol message of a random call sequence, as JSON.
fn message() -> impl Strategy<Value = Value> {
    let call = (0u8..6).prop_map(|c| format!("c-{c}"));
    let seg = (0u8..6).prop_map(|s| format!("s{s}"));
    // Ordinary times, the largest legal ones (the engine must cope), and anything (refused at
    // parse beyond `MAX_MEDIA_MS`).
    let time = prop_oneof![
        4 => 0u64..120_000,
        1 => Just(MAX_MEDIA_MS),
        1 => (MAX_MEDIA_MS - 200_000)..=MAX_MEDIA_MS,
        1 => any::<u64>(),
    ];
    prop_oneof![
        (
            call.clone(),
            prop::option::of(prop_oneof![Just("es"), Just("en"), Just("pt")])
        )
            .prop_map(
                |(c, l)| json!({"type":"call.start","call_id":c,"agent_id":"a","language":l})
            ),
        (
            call.clone(),
            seg,
            any::<bool>(),
            nasty_text(),
            time.clone(),
            time.clone(),
            any::<bool>()
        )
            .prop_map(|(c, s, agent, text, a, b, fin)| {
                json!({"type":"segment","call_id":c,"segment_id":s,
                       "speaker": if agent {"agent"} else {"customer"},
                       "text":text,"start_ms":a,"end_ms":b,"final":fin})
            }),
        (call.clone(), time).prop_map(|(c, t)| json!({"type":"tick","call_id":c,"at_ms":t})),
        call.clone()
            .prop_map(|c| json!({"type":"call.end","call_id":c})),
        (call, 0u8..4, any::<bool>()).prop_map(|(c, n, u)| {
            json!({"type":"feedback","call_id":c,"nudge_id":format!("n{n}"),"useful":u})
        }),
    ]
}

/// JSON-ish text: fragments of protocol messages glued at random.
fn jsonish() -> impl Strategy<Value = String> {
    let frag = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("\"type\":".to_string()),
        Just("\"segment\"".to_string()),
        Just("\"call.start\"".to_string()),
        Just("\"call.resume\"".to_string()),
        Just("\"call_id\":\"c\"".to_string()),
        Just("\"start_ms\":".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-1".to_string()),
        Just("1e400".to_string()),
        Just("null".to_string()),
        Just("[".to_string()),
        Just(",".to_string()),
        Just("\"\\ud800\"".to_string()),
        "[a-z\":,{}0-9 ]{0,8}",
    ];
    prop::collection::vec(frag, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = parse_inbound(&text, &ParseLimits::default()) {
            let v: Value = serde_json::from_str(&e.to_json()).unwrap();
            prop_assert!(CODES.contains(&v["code"].as_str().unwrap()));
        }
    }

    #[test]
    fn parser_never_panics_on_jsonish(text in jsonish()) {
        if let Err(e) = parse_inbound(&text, &ParseLimits::default()) {
            prop_assert!(CODES.contains(&e.code.as_str()));
        }
    }

    #[test]
    fn session_survives_random_event_sequences(msgs in prop::collection::vec(message(), 1..60)) {
        let mut session = Session::new(res(), 4);
        for m in msgs {
            let text = m.to_string();
            match parse_inbound(&text, &ParseLimits::default()) {
                Ok(msg) => {
                    if let Ok(outs) = session.handle(msg) {
                        assert_valid_outputs(&outs);
                    }
                }
                Err(e) => {
                    // Reversed and out-of-range timestamps never reach the engine.
                    if m["type"] == "segment" && m["end_ms"].as_u64() < m["start_ms"].as_u64() {
                        prop_assert_eq!(e.code, ErrorCode::InvalidField);
                    }
                    let too_big = |k: &str| m[k].as_u64().is_some_and(|t| t > MAX_MEDIA_MS);
                    if too_big("end_ms") || too_big("start_ms") || too_big("at_ms") {
                        prop_assert_eq!(e.code, ErrorCode::InvalidField);
                    }
                }
            }
        }
        assert_valid_outputs(&session.end_all());
    }
}

#[test]
fn ten_thousand_calls_on_one_session() {
    let mut session = Session::new(res(), 20_000);
    let limits = ParseLimits::default();
    for i in 0..10_000 {
        let start = json!({"type":"call.start","call_id":format!("c-{i}"),"agent_id":"a"});
        session
            .handle(parse_inbound(&start.to_string(), &limits).unwrap())
            .unwrap();
        let seg = json!({"type":"segment","call_id":format!("c-{i}"),"segment_id":"s1",
            "speaker":"customer","text":"estoy harto 😡","start_ms":0,"end_ms":1500});
        let outs = session
            .handle(parse_inbound(&seg.to_string(), &limits).unwrap())
            .unwrap();
        assert_valid_outputs(&outs);
    }
    assert_eq!(session.len(), 10_000);
    let outs = session.end_all();
    assert_eq!(
        outs.iter()
            .filter(|o| matches!(o, Outbound::Summary(_)))
            .count(),
        10_000
    );
    assert_valid_outputs(&outs);
}

#[tokio::test]
async fn invalid_utf8_and_binary_frames_do_not_hurt_other_connections() {
    let server = server().await;
    let addr = server.local_addr();
    let mut good = connect(addr, "/v1/stream").await;
    send(&mut good, &start_msg("c-good", "a")).await;

    // A binary frame: typed error, connection kept.
    let mut bin = connect(addr, "/v1/stream").await;
    timeout(T, bin.send(Message::binary(vec![0xff, 0xfe, 0])))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next_error(&mut bin).await["code"], "binary_frame");
    send(&mut bin, &start_msg("c-bin", "a")).await;
    send(&mut bin, &end_msg("c-bin")).await;
    until_summary(&mut bin, "c-bin").await;

    // Invalid UTF-8 in a text frame fails that connection (RFC 6455 §8.1), nothing else.
    let mut bad = connect(addr, "/v1/stream").await;
    let frame = Frame::message(
        b"{\"type\":\"call.start\",\"call_id\":\"\xc3\x28\"}".to_vec(),
        OpCode::Data(Data::Text),
        true,
    );
    timeout(T, bad.send(Message::Frame(frame)))
        .await
        .unwrap()
        .unwrap();
    until_closed(&mut bad).await;
    wait_health(addr, "connections", 2).await;

    // The other connections never noticed.
    for s in angry_call("c-good", "a").into_iter().skip(1) {
        send(&mut good, &s).await;
    }
    send(&mut good, &end_msg("c-good")).await;
    let msgs = parse(&until_summary(&mut good, "c-good").await);
    assert_eq!(msgs.last().unwrap()["segments"], 5);
    server.shutdown().await;
}

#[tokio::test]
async fn ten_thousand_calls_on_one_connection() {
    let server = server_with(Options {
        max_calls_per_connection: 20_000,
        max_calls_per_process: 20_000,
        max_calls_per_tenant: 20_000,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let ws = connect(addr, "/v1/stream").await;
    let (mut tx, mut rx) = ws.split();
    let reader = tokio::spawn(async move {
        let (mut summaries, mut errors) = (0u32, 0u32);
        // Bounded by the `timeout` around the whole task below.
        while let Some(Ok(m)) = rx.next().await {
            if let Message::Text(t) = m {
                summaries += u32::from(t.contains("\"type\":\"call.summary\""));
                errors += u32::from(t.contains("\"type\":\"error\""));
                if summaries == 10_000 {
                    break;
                }
            }
        }
        (summaries, errors)
    });
    let mut batch = futures_util::stream::iter((0..10_000).map(|i| {
        Ok::<_, tokio_tungstenite::tungstenite::Error>(Message::text(start_msg(
            &format!("c-{i}"),
            "a",
        )))
    }));
    timeout(T, tx.send_all(&mut batch)).await.unwrap().unwrap();
    wait_health(addr, "active_calls", 10_000).await;
    // One more connection is served normally meanwhile.
    let mut other = connect(addr, "/v1/stream").await;
    send(&mut other, &start_msg("c-x", "b")).await;
    send(&mut other, &end_msg("c-x")).await;
    until_summary(&mut other, "c-x").await;
    // Ending them all gives 10,000 summaries on the same connection.
    let mut ends = futures_util::stream::iter((0..10_000).map(|i| {
        Ok::<_, tokio_tungstenite::tungstenite::Error>(Message::text(end_msg(&format!("c-{i}"))))
    }));
    timeout(T, tx.send_all(&mut ends)).await.unwrap().unwrap();
    let (summaries, errors) = timeout(T, reader).await.unwrap().unwrap();
    assert_eq!((summaries, errors), (10_000, 0));
    wait_health(addr, "active_calls", 0).await;
    server.shutdown().await;
}
