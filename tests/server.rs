//! Integration tests: the real server in-process on 127.0.0.1:0, driven by tokio-tungstenite
//! clients and a tiny HTTP client. Every await is bounded (see `common::T`).

mod common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use calma::engine::Resources;
use calma::protocol::ParseLimits;
use calma::server::Options;
use common::*;

fn start_msg(call_id: &str, agent_id: &str) -> String {
    json!({"type":"call.start","call_id":call_id,"agent_id":agent_id,"language":"es"}).to_string()
}

fn end_msg(call_id: &str) -> String {
    json!({"type":"call.end","call_id":call_id}).to_string()
}

fn seg(
    call_id: &str,
    id: &str,
    speaker: &str,
    text: &str,
    start: u64,
    end: u64,
    fin: bool,
) -> Value {
    json!({"type":"segment","call_id":call_id,"segment_id":id,"speaker":speaker,"text":text,
           "start_ms":start,"end_ms":end,"final":fin})
}

/// A short Spanish call: partial revisions, the agent starting well inside a customer segment
/// (an interruption), and the customer repeating a complaint later (which, with the engine of
/// this branch, opens an `active_listening` nudge).
fn segments(call_id: &str) -> Vec<Value> {
    vec![
        seg(
            call_id,
            "s1",
            "agent",
            "buenos días le atiende",
            0,
            1500,
            false,
        ),
        seg(
            call_id,
            "s1",
            "agent",
            "buenos días le atiende nuria en qué puedo ayudarle",
            0,
            3000,
            true,
        ),
        seg(
            call_id,
            "s2",
            "customer",
            "llevo tres semanas esperando",
            3500,
            5500,
            false,
        ),
        seg(
            call_id,
            "s2",
            "customer",
            "llevo tres semanas esperando al técnico de la lavadora y no viene nadie",
            3500,
            9000,
            true,
        ),
        seg(
            call_id,
            "s3",
            "agent",
            "me dice su número de cliente por favor",
            6000,
            8000,
            true,
        ),
        seg(
            call_id,
            "s4",
            "customer",
            "le repito que llevo tres semanas esperando al técnico de la lavadora",
            40000,
            44000,
            true,
        ),
        seg(
            call_id,
            "s5",
            "agent",
            "entiendo su enfado le mando un técnico mañana por la mañana",
            44500,
            48000,
            true,
        ),
    ]
}

fn call_lines(call_id: &str, agent_id: &str) -> Vec<String> {
    let mut v = vec![start_msg(call_id, agent_id)];
    v.extend(segments(call_id).iter().map(Value::to_string));
    v
}

/// Outputs of one call are well-formed: its call_id, seq strictly increasing, summary last.
fn assert_call_structure(msgs: &[Value], call_id: &str, agent_id: &str) {
    assert!(!msgs.is_empty());
    let mut last_seq = 0;
    for m in msgs {
        assert_eq!(m["call_id"], call_id, "{m}");
        let seq = m["seq"].as_u64().expect("seq");
        assert!(seq > last_seq, "seq must increase: {msgs:?}");
        last_seq = seq;
        assert!(
            ["state", "nudge", "nudge.clear", "call.summary"]
                .contains(&m["type"].as_str().unwrap()),
            "{m}"
        );
    }
    assert!(
        msgs.iter().any(|m| m["type"] == "state"),
        "some state: {msgs:?}"
    );
    let summary = msgs.last().unwrap();
    assert_eq!(summary["type"], "call.summary");
    assert_eq!(summary["agent_id"], agent_id);
    assert_eq!(
        msgs.iter().filter(|m| m["type"] == "call.summary").count(),
        1
    );
}

#[tokio::test]
async fn stream_call_yields_states_and_summary() {
    let server = server().await;
    let mut ws = connect(server.local_addr(), "/v1/stream").await;
    send_all(&mut ws, &call_lines("c-1", "a-1")).await;
    send(&mut ws, &end_msg("c-1")).await;
    let msgs = parse(&until_summary(&mut ws, "c-1").await);
    assert_call_structure(&msgs, "c-1", "a-1");
    let summary = msgs.last().unwrap();
    assert_eq!(summary["segments"], 7);
    assert_eq!(summary["duration_ms"], 48000);
    server.shutdown().await;
}

#[tokio::test]
async fn two_calls_multiplexed_on_one_connection() {
    let server = server().await;
    let mut ws = connect(server.local_addr(), "/v1/stream").await;
    let (a, b) = (call_lines("c-a", "a-1"), call_lines("c-b", "a-2"));
    // Interleave the two calls message by message.
    for (x, y) in a.iter().zip(b.iter()) {
        send(&mut ws, x).await;
        send(&mut ws, y).await;
    }
    send(&mut ws, &end_msg("c-b")).await;
    send(&mut ws, &end_msg("c-a")).await;
    let mut all = until_summary(&mut ws, "c-b").await;
    all.extend(until_summary(&mut ws, "c-a").await);
    let all = parse(&all);
    let of = |id: &str| {
        all.iter()
            .filter(|m| m["call_id"] == id)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_call_structure(&of("c-a"), "c-a", "a-1");
    assert_call_structure(&of("c-b"), "c-b", "a-2");
    // Same input, same outputs (only the call_id differs).
    let strip = |v: Vec<Value>| {
        v.into_iter()
            .map(|mut m| {
                m["call_id"] = Value::Null;
                m["agent_id"] = Value::Null;
                m
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(of("c-a")), strip(of("c-b")));
    server.shutdown().await;
}

#[tokio::test]
async fn agent_socket_gets_its_calls_only_and_feedback_is_counted() {
    let server = server().await;
    let addr = server.local_addr();
    let mut agent1 = connect(addr, "/v1/agents/a-1/nudges").await;
    let mut agent2 = connect(addr, "/v1/agents/a-2/nudges").await;
    wait_health(addr, "agent_sockets", 2).await;
    let mut ws = connect(addr, "/v1/stream").await;
    send_all(&mut ws, &call_lines("c-1", "a-1")).await;
    send(&mut ws, &start_msg("c-2", "a-2")).await;
    send(&mut ws, &segments("c-2")[1].to_string()).await;

    // Agent 1 sees c-1's state (and nudge, if the engine opened one), never c-2's.
    let mut seen = Vec::new();
    let mut nudge: Option<Value> = None;
    // The state after the repeated complaint (s4, media 44 s) follows any nudge it opened.
    while !seen
        .iter()
        .any(|m: &Value| m["type"] == "state" && m["at_ms"].as_u64() >= Some(44000))
    {
        let m = next_json(&mut agent1).await;
        assert_eq!(m["call_id"], "c-1", "{m}");
        if m["type"] == "nudge" {
            nudge = Some(m.clone());
        }
        seen.push(m);
    }
    let m2 = next_json(&mut agent2).await;
    assert_eq!(m2["call_id"], "c-2");
    assert_eq!(m2["type"], "state");

    // Feedback: on the real nudge if there is one (counted under its kind); on a nudge id the
    // call never sent, a typed error and nothing counted.
    if let Some(n) = &nudge {
        let fb = json!({"type":"feedback","call_id":"c-1","nudge_id":n["nudge_id"],"useful":true});
        send(&mut agent1, &fb.to_string()).await;
    }
    let fb = json!({"type":"feedback","call_id":"c-1","nudge_id":"n-404","useful":false});
    send(&mut agent1, &fb.to_string()).await;
    let e = next_error(&mut agent1).await;
    assert_eq!(
        (e["code"].as_str(), e["call_id"].as_str()),
        (Some("unknown_nudge"), Some("c-1"))
    );
    // Not allowed on the agent socket; not this agent's call.
    send(&mut agent1, &segments("c-1")[0].to_string()).await;
    let e = next_error(&mut agent1).await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("not_allowed_here"))
    );
    let fb = json!({"type":"feedback","call_id":"c-2","nudge_id":"n1","useful":true});
    send(&mut agent1, &fb.to_string()).await;
    let e = next_error(&mut agent1).await;
    assert_eq!(e["code"], "forbidden");

    let wait_metrics = async {
        loop {
            let (status, text) = http(addr, "GET", "/metrics", None).await;
            assert_eq!(status, 200);
            let real = match &nudge {
                Some(n) => metric(
                    &text,
                    "calma_feedback_total",
                    &[
                        ("kind", n["kind"].as_str().unwrap()),
                        ("campaign", "default"),
                        ("useful", "true"),
                    ],
                ),
                None => Some(1.0),
            };
            if real == Some(1.0) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let text = timeout(T, wait_metrics).await.expect("feedback counted");
    // Invented nudge ids never become series.
    assert!(
        !text.contains("nudge_id") && !text.contains("kind=\"unknown\""),
        "{text}"
    );
    assert_eq!(
        metric(&text, "calma_errors_total", &[("code", "unknown_nudge")]),
        Some(1.0)
    );
    if let Some(n) = &nudge {
        assert_eq!(
            metric(
                &text,
                "calma_nudges_total",
                &[("kind", n["kind"].as_str().unwrap())]
            ),
            Some(1.0)
        );
    }

    send(&mut ws, &end_msg("c-1")).await;
    let rest = parse(&until_summary(&mut agent1, "c-1").await);
    let summary = rest.last().unwrap();
    assert_eq!(summary["type"], "call.summary");
    let useful = if nudge.is_some() { 1 } else { 0 };
    assert_eq!(summary["feedback"]["useful"], useful);
    assert!(rest.iter().all(|m| m["call_id"] == "c-1"));
    server.shutdown().await;
}

async fn expect_error(ws: &mut Ws, code: &str) {
    let m = next_json(ws).await;
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(m["code"], code, "{m}");
}

#[tokio::test]
async fn bad_input_gets_typed_errors_and_the_connection_survives() {
    let server = server().await;
    let mut ws = connect(server.local_addr(), "/v1/stream").await;

    send(&mut ws, "{nope").await;
    expect_error(&mut ws, "bad_json").await;
    send(&mut ws, r#"{"type":"hello","call_id":"c-x"}"#).await;
    expect_error(&mut ws, "unknown_type").await;
    send(&mut ws, r#"{"type":"segment","call_id":"c-x"}"#).await;
    expect_error(&mut ws, "missing_field").await;
    send(&mut ws, &segments("ghost")[1].to_string()).await;
    expect_error(&mut ws, "unknown_call").await;
    let huge = json!({"type":"segment","call_id":"c-ok","segment_id":"big","speaker":"agent",
                      "text":"a".repeat(100 * 1024),"start_ms":0,"end_ms":1});
    send(&mut ws, &huge.to_string()).await;
    expect_error(&mut ws, "message_too_large").await;
    timeout(T, ws.send(Message::binary(vec![1u8, 2, 3])))
        .await
        .unwrap()
        .unwrap();
    expect_error(&mut ws, "binary_frame").await;
    send(&mut ws, &start_msg("c-ok", "a-1")).await;
    send(&mut ws, &start_msg("c-ok", "a-1")).await;
    expect_error(&mut ws, "duplicate_call").await;
    let long = seg("c-ok", "long", "agent", &"palabra ".repeat(600), 0, 1, true);
    send(&mut ws, &long.to_string()).await;
    expect_error(&mut ws, "text_too_long").await;

    // Still working: the call goes on and gets its summary.
    for s in segments("c-ok") {
        send(&mut ws, &s.to_string()).await;
    }
    send(&mut ws, &end_msg("c-ok")).await;
    let msgs = parse(&until_summary(&mut ws, "c-ok").await);
    assert_call_structure(&msgs, "c-ok", "a-1");

    let (_, text) = http(server.local_addr(), "GET", "/metrics", None).await;
    assert_eq!(
        metric(&text, "calma_errors_total", &[("code", "bad_json")]),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "calma_errors_total", &[("code", "binary_frame")]),
        Some(1.0)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn too_many_calls_on_one_connection() {
    let server = server_with(Options {
        max_calls_per_connection: 1,
        ..Options::default()
    })
    .await;
    let mut ws = connect(server.local_addr(), "/v1/stream").await;
    send(&mut ws, &start_msg("c-1", "a-1")).await;
    send(&mut ws, &start_msg("c-2", "a-1")).await;
    expect_error(&mut ws, "too_many_calls").await;
    send(&mut ws, &end_msg("c-1")).await;
    until_summary(&mut ws, "c-1").await;
    server.shutdown().await;
}

#[tokio::test]
async fn live_batch_and_replay_produce_identical_bytes() {
    let server = server().await;
    let addr = server.local_addr();

    let mut ws = connect(addr, "/v1/stream").await;
    let mut lines = call_lines("c-id", "a-9");
    lines.push(end_msg("c-id"));
    send_all(&mut ws, &lines).await;
    let live = until_summary(&mut ws, "c-id").await;
    assert!(live.iter().all(|l| !l.contains("\"type\":\"error\"")));

    let body = json!({"call_id":"c-id","agent_id":"a-9","language":"es","events":segments("c-id")});
    let (status, batch) = http(addr, "POST", "/v1/analyze", Some(&body.to_string())).await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch, format!("{{\"outputs\":[{}]}}", live.join(",")));

    let replayed = calma::replay::replay_jsonl(
        Resources::embedded(),
        &lines.join("\n"),
        &ParseLimits::default(),
    );
    assert_eq!(replayed, live);
    server.shutdown().await;
}

#[tokio::test]
async fn analyze_rejects_bad_requests_with_typed_400() {
    let server = server().await;
    let addr = server.local_addr();
    let (status, body) = http(addr, "POST", "/v1/analyze", Some("{nope")).await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["code"],
        "bad_json"
    );
    let (status, body) = http(addr, "POST", "/v1/analyze", Some(r#"{"call_id":"c"}"#)).await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["code"],
        "missing_field"
    );
    let req = json!({"call_id":"c","events":[{"type":"segment","segment_id":"s"}]});
    let (status, body) = http(addr, "POST", "/v1/analyze", Some(&req.to_string())).await;
    assert_eq!(status, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["code"], "missing_field");
    assert!(v["message"].as_str().unwrap().contains("events[0]"));
    server.shutdown().await;
}

#[tokio::test]
async fn healthz_and_metrics_respond() {
    let server = server().await;
    let addr = server.local_addr();
    let mut ws = connect(addr, "/v1/stream").await;
    send_all(&mut ws, &call_lines("c-h", "a-1")[..3]).await;
    let m = next_json(&mut ws).await;
    assert_eq!(m["type"], "state");

    let (status, body) = http(addr, "GET", "/healthz", None).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["protocol"], "v1");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["lexicon_entries"].is_u64());
    assert_eq!(v["active_calls"], 1);
    assert_eq!(v["connections"], 1);

    let (status, text) = http(addr, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    assert_eq!(metric(&text, "calma_connections", &[]), Some(1.0));
    assert_eq!(metric(&text, "calma_active_calls", &[]), Some(1.0));
    assert_eq!(metric(&text, "calma_segments_total", &[]), Some(2.0));
    assert_eq!(
        metric(&text, "calma_segment_processing_seconds_count", &[]),
        Some(2.0)
    );
    assert!(
        text.contains("# TYPE calma_segment_processing_seconds histogram"),
        "{text}"
    );
    server.shutdown().await;
}

/// Read frames until a Close frame; returns the texts seen before it and the close code.
async fn until_close(ws: &mut Ws) -> (Vec<String>, Option<CloseCode>) {
    let mut texts = Vec::new();
    loop {
        match timeout(T, ws.next()).await.expect("frame in time") {
            Some(Ok(Message::Text(t))) => texts.push(t.to_string()),
            Some(Ok(Message::Close(f))) => return (texts, f.map(|f| f.code)),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("socket error before Close: {e}"),
            None => panic!("socket ended without a Close frame"),
        }
    }
}

#[tokio::test]
async fn shutdown_sends_open_calls_summaries_and_close_1001() {
    let server = server().await;
    let addr = server.local_addr();
    let mut agent = connect(addr, "/v1/agents/a-s/nudges").await;
    wait_health(addr, "agent_sockets", 1).await;
    let mut ws = connect(addr, "/v1/stream").await;
    send_all(&mut ws, &call_lines("c-s", "a-s")[..3]).await;
    assert_eq!(next_json(&mut ws).await["type"], "state");

    let report = timeout(T, server.shutdown())
        .await
        .expect("shutdown in time");
    assert!(report.clean);

    let (texts, code) = until_close(&mut ws).await;
    let last = parse(&texts).pop().expect("summary before close");
    assert_eq!(
        (last["type"].as_str(), last["call_id"].as_str()),
        (Some("call.summary"), Some("c-s"))
    );
    assert_eq!(code, Some(CloseCode::Away));

    let (texts, code) = until_close(&mut agent).await;
    let msgs = parse(&texts);
    assert!(msgs.iter().any(|m| m["type"] == "state"));
    assert_eq!(msgs.last().unwrap()["type"], "call.summary");
    assert_eq!(code, Some(CloseCode::Away));
}

#[tokio::test]
async fn wall_clock_advances_media_time_of_idle_calls() {
    // Short settings so the test takes well under a second of idle time.
    let server = server_with(Options {
        tick_interval: Duration::from_millis(20),
        tick_idle: Duration::from_millis(100),
        stt_latency: Duration::from_millis(0),
        ..Options::default()
    })
    .await;
    let mut ws = connect(server.local_addr(), "/v1/stream").await;
    send_all(&mut ws, &call_lines("c-w", "a-1")[..3]).await;
    assert_eq!(next_json(&mut ws).await["at_ms"], 3000);
    tokio::time::sleep(Duration::from_millis(400)).await;
    send(&mut ws, &end_msg("c-w")).await;
    let msgs = parse(&until_summary(&mut ws, "c-w").await);
    let d = msgs.last().unwrap()["duration_ms"].as_u64().unwrap();
    // 3000 ms of media, then ~400 ms of silence on the wall clock.
    assert!((3000 + 250..3000 + 5000).contains(&d), "duration {d}");
    server.shutdown().await;
}

#[tokio::test]
async fn supervisor_feed_sees_call_start_outputs_and_end() {
    let server = server().await;
    let mut sup = connect(server.local_addr(), "/v1/supervisor").await;
    assert_eq!(next_json(&mut sup).await["type"], "snapshot");
    let mut ws = connect(server.local_addr(), "/v1/stream").await;
    let mut lines = call_lines("c-v", "a-v");
    lines.push(end_msg("c-v"));
    send_all(&mut ws, &lines).await;
    let live = until_summary(&mut ws, "c-v").await;

    let first = next_json(&mut sup).await;
    assert_eq!(first["type"], "call.started");
    assert_eq!(first["agent_id"], "a-v");
    let mut outputs = Vec::new();
    loop {
        let t = next_text(&mut sup).await;
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        match v["type"].as_str().unwrap() {
            // Final segments (the board's transcript) come before the outputs they caused.
            "segment" => {}
            "call.ended" => {
                assert_eq!(v["call_id"], "c-v");
                break;
            }
            _ => outputs.push(t),
        }
    }
    assert_eq!(outputs, live);
    server.shutdown().await;
}
