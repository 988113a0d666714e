//! Two tenants with equal call and agent ids never meet: stream outputs, agent panels, the
//! supervisor snapshot and live events, post-call records and resume, over real sockets.

mod common;

use std::collections::HashSet;

use serde_json::{json, Value};

use calma::server::auth::{mint_token, unix_now, AuthConfig, Claims, Role};
use calma::server::Options;
use common::*;

const SECRET: &str = "tenancy-secret-0123456789abcdef";
const ACME: &str = "Bearer acme-key-0123456789";
const GLOBEX: &str = "Bearer globex-key-0123456789";
const CALL: &str = "c-2001";
const AGENT: &str = "a-1";

fn options() -> Options {
    Options {
        auth: AuthConfig::from_values(
            Some("acme:acme-key-0123456789,globex:globex-key-0123456789"),
            Some(SECRET),
        )
        .unwrap(),
        ..Options::default()
    }
}

fn token(tenant: &str, sub: &str, role: Role) -> String {
    mint_token(
        SECRET.as_bytes(),
        &Claims {
            tenant: tenant.into(),
            sub: sub.into(),
            role,
            exp: unix_now() + 600,
            nbf: None,
            iat: None,
        },
    )
}

/// acme's call: an angry customer (nudges). Without `call.end`.
fn acme_call() -> Vec<String> {
    angry_call(CALL, AGENT)
}

/// globex's call, same ids: a calm one about an invoice.
fn globex_call() -> Vec<String> {
    vec![
        start_msg(CALL, AGENT),
        final_seg(
            CALL,
            "s1",
            "agent",
            "hola buenas tardes le atiende marta",
            0,
            2500,
        ),
        final_seg(
            CALL,
            "s2",
            "customer",
            "quería consultar el importe de mi última factura",
            3000,
            6000,
        ),
        final_seg(
            CALL,
            "s3",
            "agent",
            "claro ahora mismo se lo miro",
            6500,
            8000,
        ),
        final_seg(
            CALL,
            "s4",
            "customer",
            "muy bien muchas gracias",
            8500,
            10000,
        ),
        final_seg(
            CALL,
            "s5",
            "agent",
            "son cuarenta y dos euros con diez",
            10500,
            13000,
        ),
    ]
}

fn texts_of(lines: &[String]) -> HashSet<String> {
    lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "segment")
        .map(|v| v["text"].as_str().unwrap().to_string())
        .collect()
}

/// Every transcript text anywhere in a feed message (objects with a `segment_id` and a `text`).
fn segment_texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let (Some(_), Some(Value::String(t))) = (m.get("segment_id"), m.get("text")) {
                out.push(t.clone());
            }
            m.values().for_each(|x| segment_texts(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| segment_texts(x, out)),
        _ => {}
    }
}

/// Every message of one call on a supervisor feed, through its `call.ended`.
async fn feed_until_ended(feed: &mut Ws) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let v = next_json(feed).await;
        let done = v["type"] == "call.ended" && v["call_id"] == CALL;
        out.push(v);
        if done {
            return out;
        }
    }
}

/// Panel messages up to and including the call's summary.
async fn panel_until_summary(panel: &mut Ws) -> Vec<String> {
    until_summary(panel, CALL).await
}

/// Platform outputs until `n` outputs that are not `error`s have arrived.
async fn outputs(ws: &mut Ws, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        out.push(next_text(ws).await);
    }
    out
}

fn check_snapshot(snapshot: &Value, own: &HashSet<String>, other: &HashSet<String>, who: &str) {
    assert_eq!(snapshot["type"], "snapshot", "{who}: {snapshot}");
    let calls = snapshot["calls"].as_array().unwrap();
    assert_eq!(
        calls.len(),
        1,
        "{who} sees exactly its own call: {snapshot}"
    );
    assert_eq!(calls[0]["call_id"], CALL);
    assert_eq!(calls[0]["agent_id"], AGENT);
    let mut texts = Vec::new();
    segment_texts(&calls[0], &mut texts);
    assert!(
        !texts.is_empty(),
        "{who}: the snapshot shows its transcript"
    );
    for t in &texts {
        assert!(
            !other.contains(t),
            "{who} sees the other tenant's words: {t}"
        );
        assert!(own.contains(t), "{who}: unexpected text {t}");
    }
}

#[tokio::test]
async fn two_tenants_with_equal_call_and_agent_ids_never_meet() {
    let server = server_with(options()).await;
    let addr = server.local_addr();
    let acme_sup = token("acme", "sup", Role::Supervisor);
    let globex_sup = token("globex", "sup", Role::Supervisor);
    let acme_texts = texts_of(&acme_call());
    let globex_texts = texts_of(&globex_call());

    // Both supervisors and both agents (same agent id) watch from the start.
    let mut acme_feed = connect_with(
        addr,
        &format!("/v1/supervisor?access_token={acme_sup}"),
        &[],
    )
    .await;
    let mut globex_feed = connect_with(
        addr,
        &format!("/v1/supervisor?access_token={globex_sup}"),
        &[],
    )
    .await;
    assert_eq!(next_json(&mut acme_feed).await["calls"], json!([]));
    assert_eq!(next_json(&mut globex_feed).await["calls"], json!([]));
    let acme_agent = token("acme", AGENT, Role::Agent);
    let globex_agent = token("globex", AGENT, Role::Agent);
    let panel_path = |t: &str| format!("/v1/agents/{AGENT}/nudges?access_token={t}");
    let mut acme_panel = connect_with(addr, &panel_path(&acme_agent), &[]).await;
    let mut globex_panel = connect_with(addr, &panel_path(&globex_agent), &[]).await;
    wait_health(addr, "agent_sockets", 2).await;

    // Both platforms start the same call id; the first four segments of each.
    let mut acme = connect_with(addr, "/v1/stream", &[("authorization", ACME)]).await;
    let mut globex = connect_with(addr, "/v1/stream", &[("authorization", GLOBEX)]).await;
    send_all(&mut acme, &acme_call()[..5]).await;
    send_all(&mut globex, &globex_call()[..5]).await;
    // Each segment yields at least a `state`: wait until both calls are on the board.
    let mut acme_out = outputs(&mut acme, 4).await;
    let mut globex_out = outputs(&mut globex, 4).await;

    // Late supervisors: each snapshot holds its own tenant's call, with its own words only.
    let mut late_acme = connect_with(
        addr,
        &format!("/v1/supervisor?access_token={acme_sup}"),
        &[],
    )
    .await;
    check_snapshot(
        &next_json(&mut late_acme).await,
        &acme_texts,
        &globex_texts,
        "acme",
    );
    let mut late_globex = connect_with(
        addr,
        &format!("/v1/supervisor?access_token={globex_sup}"),
        &[],
    )
    .await;
    check_snapshot(
        &next_json(&mut late_globex).await,
        &globex_texts,
        &acme_texts,
        "globex",
    );
    drop(late_acme);
    drop(late_globex);

    // acme's platform connection is lost (no Close frame); a new one resumes the call and gets
    // acme's outputs only, while globex's call runs on.
    drop(acme);
    wait_health(addr, "connections", 1).await;
    let mut acme = connect_with(addr, "/v1/stream", &[("authorization", ACME)]).await;
    send(
        &mut acme,
        &json!({"type":"call.resume","call_id":CALL,"after_seq":0}).to_string(),
    )
    .await;
    let mut replayed = Vec::new();
    loop {
        let t = next_text(&mut acme).await;
        let v: Value = serde_json::from_str(&t).unwrap();
        if v["type"] == "call.resumed" {
            break;
        }
        replayed.push(t);
    }
    assert!(replayed.len() >= acme_out.len(), "{replayed:?}");
    assert_eq!(replayed[..acme_out.len()], acme_out[..]);
    acme_out = replayed;

    // Feedback is routed by tenant: acme's agent rates a nudge of acme's call; globex's agent,
    // same agent and call ids, names the same nudge id and is refused (globex's call sent none).
    let mut acme_panel_seen = Vec::new();
    let nudge_id = loop {
        let t = next_text(&mut acme_panel).await;
        let v: Value = serde_json::from_str(&t).unwrap();
        acme_panel_seen.push(t);
        if v["type"] == "nudge" {
            break v["nudge_id"].as_str().unwrap().to_string();
        }
    };
    let feedback = |useful: bool| {
        json!({"type":"feedback","call_id":CALL,"nudge_id":nudge_id,"useful":useful}).to_string()
    };
    send(&mut acme_panel, &feedback(true)).await;
    send(&mut globex_panel, &feedback(false)).await;
    let mut globex_panel_seen = Vec::new();
    let refusal = loop {
        let t = next_text(&mut globex_panel).await;
        let v: Value = serde_json::from_str(&t).unwrap();
        if v["type"] == "error" {
            break v;
        }
        globex_panel_seen.push(t);
    };
    assert_eq!(refusal["code"], "unknown_nudge", "{refusal}");

    // Both calls end.
    let mut rest = acme_call()[5..].to_vec();
    rest.push(end_msg(CALL));
    send_all(&mut acme, &rest).await;
    let mut rest = globex_call()[5..].to_vec();
    rest.push(end_msg(CALL));
    send_all(&mut globex, &rest).await;
    acme_out.extend(until_summary(&mut acme, CALL).await);
    globex_out.extend(until_summary(&mut globex, CALL).await);
    let acme_summary: Value = serde_json::from_str(acme_out.last().unwrap()).unwrap();
    let globex_summary: Value = serde_json::from_str(globex_out.last().unwrap()).unwrap();
    assert!(!acme_summary["nudges"].as_array().unwrap().is_empty());
    assert!(globex_summary["nudges"].as_array().unwrap().is_empty());
    assert_eq!(acme_summary["feedback"], json!({"useful":1,"not_useful":0}));
    assert_eq!(
        globex_summary["feedback"],
        json!({"useful":0,"not_useful":0})
    );

    // Stream outputs: each platform got only its own call's outputs (no error either).
    for (who, out) in [("acme", &acme_out), ("globex", &globex_out)] {
        for t in out {
            let v: Value = serde_json::from_str(t).unwrap();
            assert_ne!(v["type"], "error", "{who}: {t}");
        }
    }

    // Agent panels: exactly their own platform's outputs, in order.
    acme_panel_seen.extend(panel_until_summary(&mut acme_panel).await);
    globex_panel_seen.extend(panel_until_summary(&mut globex_panel).await);
    assert_eq!(acme_panel_seen, acme_out);
    assert_eq!(globex_panel_seen, globex_out);

    // Live supervisor events: own outputs in order, own words only.
    for (who, feed, own_out, own, other) in [
        (
            "acme",
            &mut acme_feed,
            &acme_out,
            &acme_texts,
            &globex_texts,
        ),
        (
            "globex",
            &mut globex_feed,
            &globex_out,
            &globex_texts,
            &acme_texts,
        ),
    ] {
        let events = feed_until_ended(feed).await;
        let mut texts = Vec::new();
        for e in &events {
            segment_texts(e, &mut texts);
        }
        for t in &texts {
            assert!(
                !other.contains(t),
                "{who}'s feed shows the other tenant's words: {t}"
            );
        }
        assert_eq!(
            texts.iter().collect::<HashSet<_>>(),
            own.iter().collect::<HashSet<_>>(),
            "{who}: every own final segment, nothing else"
        );
        let outs: Vec<Value> = events
            .iter()
            .filter(|v| {
                !matches!(
                    v["type"].as_str(),
                    Some("call.started" | "call.ended" | "segment")
                )
            })
            .cloned()
            .collect();
        let want: Vec<Value> = own_out
            .iter()
            .map(|t| serde_json::from_str(t).unwrap())
            .collect();
        assert_eq!(outs, want, "{who}: the outputs its platform got, in order");
    }

    // Post-call records: each supervisor gets its own tenant's record.
    for (who, sup, summary) in [
        ("acme", &acme_sup, &acme_summary),
        ("globex", &globex_sup, &globex_summary),
    ] {
        let bearer = format!("Bearer {sup}");
        let (status, body) = http_with(
            addr,
            "GET",
            &format!("/v1/calls/{CALL}"),
            &[("authorization", &bearer)],
            None,
        )
        .await;
        assert_eq!(status, 200, "{who}: {body}");
        let rec: Value = serde_json::from_str(&body).unwrap();
        let mut want = summary.clone();
        want.as_object_mut().unwrap().remove("type");
        assert_eq!(rec["summary"], want, "{who}");
        assert_eq!(
            rec["nudges"].as_array().unwrap().len(),
            summary["nudges"].as_array().unwrap().len(),
            "{who}: its own nudges in the record"
        );
        assert_eq!(rec["segments"].as_array().unwrap().len(), 5, "{who}");
    }

    // Resume of agent panels: each gets its own tenant's outputs.
    let mut p = connect_with(
        addr,
        &format!("{}&resume={CALL}:0", panel_path(&globex_agent)),
        &[],
    )
    .await;
    let mut got = Vec::new();
    loop {
        let t = next_text(&mut p).await;
        if serde_json::from_str::<Value>(&t).unwrap()["type"] == "resumed" {
            break;
        }
        got.push(t);
    }
    assert_eq!(got, globex_out);
    server.shutdown().await;
}
