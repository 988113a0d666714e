//! Resume on a real server: agent panels that reconnect get what they missed (by query string or
//! by a `resume` message), platforms re-attach the calls of a lost connection with `call.resume`,
//! and calls nobody resumes end after the grace period as before.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use calma::server::auth::AuthConfig;
use calma::server::Options;
use common::*;

/// More of the angry call, after `angry_call`'s five segments.
fn more(call_id: &str) -> Vec<String> {
    vec![
        final_seg(
            call_id,
            "s6",
            "customer",
            "no me vale mañana lo necesito hoy es una vergüenza",
            23500,
            28000,
        ),
        final_seg(
            call_id,
            "s7",
            "agent",
            "lo entiendo le paso con mi supervisora que lo revisa ahora mismo",
            28500,
            32000,
        ),
        final_seg(call_id, "s8", "customer", "vale gracias", 32500, 33500),
    ]
}

fn seqs(msgs: &[Value]) -> Vec<u64> {
    msgs.iter().filter_map(|m| m["seq"].as_u64()).collect()
}

#[tokio::test]
async fn agent_panel_resumes_by_query_string() {
    let server = server().await;
    let addr = server.local_addr();
    let mut panel = connect(addr, "/v1/agents/a-r/nudges").await;
    wait_health(addr, "agent_sockets", 1).await;
    let mut ws = connect(addr, "/v1/stream").await;
    send_all(&mut ws, &angry_call("c-r", "a-r")[..3]).await;
    let first = next_json(&mut panel).await;
    let last_seen = first["seq"].as_u64().unwrap();
    drop(panel);
    wait_health(addr, "agent_sockets", 0).await;

    // While the panel is away the call goes on.
    send_all(&mut ws, &angry_call("c-r", "a-r")[3..]).await;
    let mut platform = Vec::new();
    // Wait until the platform saw the outputs of the segments sent so far (last one is at 23 s).
    while !platform
        .iter()
        .any(|m: &Value| m["type"] == "state" && m["at_ms"] == 23000)
    {
        platform.push(next_json(&mut ws).await);
    }

    let mut panel = connect(
        addr,
        &format!("/v1/agents/a-r/nudges?resume=c-r:{last_seen}"),
    )
    .await;
    let mut got = Vec::new();
    loop {
        let m = next_json(&mut panel).await;
        if m["type"] == "resumed" {
            assert_eq!(
                (m["call_id"].as_str(), m["missed"].as_u64()),
                (Some("c-r"), Some(0))
            );
            assert_eq!(m["replayed"].as_u64().unwrap() as usize, got.len());
            break;
        }
        got.push(m);
    }
    // Exactly what the platform saw after `last_seen`, in order.
    let want: Vec<u64> = seqs(&platform)
        .into_iter()
        .filter(|s| *s > last_seen)
        .collect();
    assert_eq!(seqs(&got), want);
    // Then live, without gaps or repeats, through the summary.
    send_all(&mut ws, &more("c-r")).await;
    send(&mut ws, &end_msg("c-r")).await;
    got.extend(parse(&until_summary(&mut panel, "c-r").await));
    let s = seqs(&got);
    assert_eq!(
        s,
        ((last_seen + 1)..=*s.last().unwrap()).collect::<Vec<_>>()
    );

    // Unknown calls are typed errors, the socket stays.
    let mut p2 = connect(addr, "/v1/agents/a-r/nudges?resume=nope:3").await;
    assert_eq!(next_error(&mut p2).await["code"], "unknown_call");
    server.shutdown().await;
}

#[tokio::test]
async fn agent_panel_resumes_by_message_without_duplicates() {
    let server = server().await;
    let addr = server.local_addr();
    let mut ws = connect(addr, "/v1/stream").await;
    // No panel at all during the first half of the call.
    send_all(&mut ws, &angry_call("c-m", "a-m")).await;
    let mut platform = Vec::new();
    while !platform
        .iter()
        .any(|m: &Value| m["type"] == "state" && m["at_ms"] == 23000)
    {
        platform.push(next_json(&mut ws).await);
    }
    let mut panel = connect(addr, "/v1/agents/a-m/nudges").await;
    wait_health(addr, "agent_sockets", 1).await;
    // Live traffic first, then the resume request: the panel gets both, each seq once.
    send_all(&mut ws, &more("c-m")).await;
    send(
        &mut panel,
        &json!({"type":"resume","call_id":"c-m","after_seq":1}).to_string(),
    )
    .await;
    send(&mut ws, &end_msg("c-m")).await;
    let mut got = Vec::new();
    let mut acked = false;
    while !(acked && got.iter().any(|m: &Value| m["type"] == "call.summary")) {
        let m = next_json(&mut panel).await;
        if m["type"] == "resumed" {
            acked = true;
        } else {
            got.push(m);
        }
    }
    let received: Vec<u64> = seqs(&got);
    let set: BTreeSet<u64> = received.iter().copied().collect();
    assert_eq!(set.len(), received.len(), "no seq twice: {received:?}");
    let last = *set.iter().last().unwrap();
    assert_eq!(set, (2..=last).collect::<BTreeSet<_>>());
    // Not this agent's call: same answer as an unknown one.
    let mut other = connect(addr, "/v1/agents/a-x/nudges").await;
    send(
        &mut other,
        &json!({"type":"resume","call_id":"c-m","after_seq":0}).to_string(),
    )
    .await;
    assert_eq!(next_error(&mut other).await["code"], "unknown_call");
    server.shutdown().await;
}

fn keyed() -> Options {
    Options {
        auth: AuthConfig::from_values(Some("t1:key-one-0123456789,t2:key-two-0123456789"), None)
            .unwrap(),
        ..Options::default()
    }
}

#[tokio::test]
async fn platform_reattaches_a_call_after_losing_its_connection() {
    let server = server_with(keyed()).await;
    let addr = server.local_addr();
    let k1 = [("Authorization", "Bearer key-one-0123456789")];
    let k2 = [("Authorization", "Bearer key-two-0123456789")];
    let mut a = connect_with(addr, "/v1/stream", &k1).await;
    send_all(&mut a, &angry_call("c-p", "a-p")).await;
    // Read nothing, then lose the connection (no Close frame).
    wait_health(addr, "active_calls", 1).await;
    drop(a);
    wait_health(addr, "connections", 0).await;
    // Still running, parked.
    wait_health(addr, "active_calls", 1).await;
    let (_, text) = http(addr, "GET", "/metrics", None).await;
    assert_eq!(metric(&text, "calma_parked_calls", &[]), Some(1.0));

    // Another tenant cannot take it.
    let mut intruder = connect_with(addr, "/v1/stream", &k2).await;
    send(
        &mut intruder,
        &json!({"type":"call.resume","call_id":"c-p","after_seq":0}).to_string(),
    )
    .await;
    assert_eq!(next_error(&mut intruder).await["code"], "unknown_call");

    let mut b = connect_with(addr, "/v1/stream", &k1).await;
    send(
        &mut b,
        &json!({"type":"call.resume","call_id":"c-p","after_seq":0}).to_string(),
    )
    .await;
    let mut got = Vec::new();
    loop {
        let m = next_json(&mut b).await;
        if m["type"] == "call.resumed" {
            assert_eq!(m["replayed"].as_u64().unwrap() as usize, got.len());
            assert_eq!(m["missed"], 0);
            break;
        }
        got.push(m);
    }
    assert!(
        !got.is_empty(),
        "the outputs produced before the loss are replayed"
    );
    send_all(&mut b, &more("c-p")).await;
    send(&mut b, &end_msg("c-p")).await;
    got.extend(parse(&until_summary(&mut b, "c-p").await));
    let s = seqs(&got);
    assert_eq!(s, (1..=*s.last().unwrap()).collect::<Vec<_>>());
    // The call kept its whole history.
    assert_eq!(got.last().unwrap()["segments"], 8);
    let (_, text) = http(addr, "GET", "/metrics", None).await;
    assert_eq!(
        metric(&text, "calma_resumes_total", &[("side", "platform")]),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "calma_calls_ended_total", &[("reason", "call_end")]),
        Some(1.0)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_call_still_held_by_a_live_connection_is_handed_over() {
    let server = server().await;
    let addr = server.local_addr();
    // `a` is half-open from the platform's point of view: it will not be used again.
    let mut a = connect(addr, "/v1/stream").await;
    send_all(&mut a, &angry_call("c-h", "a-h")[..3]).await;
    while next_json(&mut a).await["at_ms"] != 9000 {}
    let mut b = connect(addr, "/v1/stream").await;
    send(
        &mut b,
        &json!({"type":"call.resume","call_id":"c-h","after_seq":0}).to_string(),
    )
    .await;
    loop {
        if next_json(&mut b).await["type"] == "call.resumed" {
            break;
        }
    }
    send_all(&mut b, &angry_call("c-h", "a-h")[3..]).await;
    send(&mut b, &end_msg("c-h")).await;
    let msgs = parse(&until_summary(&mut b, "c-h").await);
    assert_eq!(msgs.last().unwrap()["segments"], 5);
    // The old connection no longer carries it.
    send(&mut a, &end_msg("c-h")).await;
    assert_eq!(next_error(&mut a).await["code"], "unknown_call");
    server.shutdown().await;
}

#[tokio::test]
async fn unresumed_calls_end_after_the_grace_period_and_clean_closes_end_at_once() {
    let server = server_with(Options {
        resume_grace: Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let mut panel = connect(addr, "/v1/agents/a-g/nudges").await;
    wait_health(addr, "agent_sockets", 1).await;

    // Lost: the summary comes after the grace period, through the agent panel.
    let mut a = connect(addr, "/v1/stream").await;
    send_all(&mut a, &angry_call("c-lost", "a-g")).await;
    wait_health(addr, "active_calls", 1).await;
    drop(a);
    let msgs = parse(&until_summary(&mut panel, "c-lost").await);
    assert_eq!(msgs.last().unwrap()["segments"], 5);
    wait_health(addr, "active_calls", 0).await;

    // Closed cleanly: ended at once, as before resume existed.
    let mut b = connect(addr, "/v1/stream").await;
    send_all(&mut b, &angry_call("c-closed", "a-g")).await;
    wait_health(addr, "active_calls", 1).await;
    b.close(None).await.unwrap();
    until_summary(&mut panel, "c-closed").await;

    let (_, text) = http(addr, "GET", "/metrics", None).await;
    assert_eq!(
        metric(
            &text,
            "calma_calls_ended_total",
            &[("reason", "grace_expired")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "calma_calls_ended_total",
            &[("reason", "disconnect")]
        ),
        Some(1.0)
    );
    assert_eq!(metric(&text, "calma_parked_calls", &[]), Some(0.0));
    // Too late to re-attach, but what was missed (through the summary) is still replayed.
    let mut c = connect(addr, "/v1/stream").await;
    send(
        &mut c,
        &json!({"type":"call.resume","call_id":"c-lost","after_seq":0}).to_string(),
    )
    .await;
    let mut got = Vec::new();
    loop {
        let m = next_json(&mut c).await;
        if m["type"] == "call.resumed" {
            break;
        }
        got.push(m);
    }
    assert_eq!(got.last().unwrap()["type"], "call.summary");
    let s = seqs(&got);
    assert_eq!(s, (1..=*s.last().unwrap()).collect::<Vec<_>>());
    // The call is over: sending to it is an unknown call, and a call never seen cannot resume.
    send(&mut c, &end_msg("c-lost")).await;
    assert_eq!(next_error(&mut c).await["code"], "unknown_call");
    send(
        &mut c,
        &json!({"type":"call.resume","call_id":"c-never","after_seq":0}).to_string(),
    )
    .await;
    assert_eq!(next_error(&mut c).await["code"], "unknown_call");
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_parked_calls_too() {
    let server = server().await;
    let addr = server.local_addr();
    let mut panel = connect(addr, "/v1/agents/a-z/nudges").await;
    wait_health(addr, "agent_sockets", 1).await;
    let mut a = connect(addr, "/v1/stream").await;
    send_all(&mut a, &angry_call("c-z", "a-z")).await;
    wait_health(addr, "active_calls", 1).await;
    drop(a);
    wait_health(addr, "connections", 0).await;
    let report = tokio::time::timeout(T, server.shutdown()).await.unwrap();
    assert!(report.clean);
    let texts = until_closed(&mut panel).await;
    let last: Value = serde_json::from_str(texts.last().unwrap()).unwrap();
    assert_eq!(
        (last["type"].as_str(), last["call_id"].as_str()),
        (Some("call.summary"), Some("c-z"))
    );
}

#[tokio::test]
async fn starting_a_parked_call_afresh_ends_the_parked_one() {
    let server = server().await;
    let addr = server.local_addr();
    let mut panel = connect(addr, "/v1/agents/a-n/nudges").await;
    wait_health(addr, "agent_sockets", 1).await;
    let mut a = connect(addr, "/v1/stream").await;
    send_all(&mut a, &angry_call("c-n", "a-n")).await;
    wait_health(addr, "active_calls", 1).await;
    drop(a);
    wait_health(addr, "connections", 0).await;
    let mut b = connect(addr, "/v1/stream").await;
    send_all(&mut b, &angry_call("c-n", "a-n")[..2]).await;
    // The old call's summary reaches the panel; the new call starts from seq 1.
    let old = parse(&until_summary(&mut panel, "c-n").await);
    assert_eq!(old.last().unwrap()["segments"], 5);
    assert_eq!(next_json(&mut b).await["seq"], 1);
    send(&mut b, &end_msg("c-n")).await;
    let new = parse(&until_summary(&mut b, "c-n").await);
    assert_eq!(new.last().unwrap()["segments"], 1);
    wait_health(addr, "active_calls", 0).await;
    let (_, text) = http(addr, "GET", "/metrics", None).await;
    assert_eq!(
        metric(&text, "calma_calls_ended_total", &[("reason", "replaced")]),
        Some(1.0)
    );
    server.shutdown().await;
}
