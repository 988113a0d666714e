//! The supervisor feed (`/v1/supervisor`), post-call records (`/v1/calls/{call_id}`) and the web
//! pages, against the real server in-process on 127.0.0.1:0. Every await is bounded.

mod common;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use calma::server::Options;
use common::*;

fn seg(call: &str, id: &str, speaker: &str, text: &str, start: u64, end: u64) -> String {
    json!({"type":"segment","call_id":call,"segment_id":id,"speaker":speaker,"text":text,
           "start_ms":start,"end_ms":end,"final":true})
    .to_string()
}

/// A short call whose customer insults the agent at s4 (`abuse_boundary` + `breathe`), then the
/// agent sets a limit at s5 (clears `abuse_boundary` with `limit_set`).
fn abusive_call(call: &str, agent: &str) -> Vec<String> {
    vec![
        json!({"type":"call.start","call_id":call,"agent_id":agent,"campaign":"soporte","language":"es"})
            .to_string(),
        seg(call, "s1", "agent", "buenos días le atiende laura en qué puedo ayudarle", 0, 3000),
        seg(call, "s2", "customer", "llevo una semana sin internet y nadie me soluciona nada", 3500, 8000),
        seg(call, "s3", "agent", "vaya lo siento déjeme revisar su línea un momento", 8500, 11000),
        seg(call, "s4", "customer", "eres un inútil no sirves para nada", 11500, 14000),
        seg(call, "s5", "agent", "le pido respeto por favor así no puedo ayudarle", 14500, 18000),
    ]
}

fn end(call: &str) -> String {
    json!({"type":"call.end","call_id":call}).to_string()
}

/// Supervisor messages up to and including `call.ended` of `call`.
async fn until_ended(ws: &mut Ws, call: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let v = next_json(ws).await;
        let done = v["type"] == "call.ended" && v["call_id"] == call;
        out.push(v);
        if done {
            return out;
        }
    }
}

#[tokio::test]
async fn feed_sends_a_snapshot_then_every_event_in_order() {
    let server = server().await;
    let addr = server.local_addr();
    let mut sup = connect(addr, "/v1/supervisor").await;
    let snap = next_json(&mut sup).await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["calls"], json!([]));

    let mut ws = connect(addr, "/v1/stream").await;
    let mut lines = abusive_call("c-f", "a-f");
    lines.push(end("c-f"));
    send_all(&mut ws, &lines).await;
    let platform = parse(&until_summary(&mut ws, "c-f").await);
    let feed = until_ended(&mut sup, "c-f").await;

    assert_eq!(
        feed[0],
        json!({"type":"call.started","call_id":"c-f","agent_id":"a-f","campaign":"soporte"})
    );
    assert_eq!(feed.last().unwrap()["type"], "call.ended");
    assert_eq!(feed.last().unwrap()["agent_id"], "a-f");
    // Outputs: exactly what the platform got, in the same order.
    let outputs: Vec<&Value> = feed
        .iter()
        .filter(|v| {
            !matches!(
                v["type"].as_str(),
                Some("call.started" | "call.ended" | "segment")
            )
        })
        .collect();
    assert_eq!(outputs, platform.iter().collect::<Vec<_>>());
    // Final segments, with text, each before the outputs it caused.
    let segs: Vec<&Value> = feed.iter().filter(|v| v["type"] == "segment").collect();
    assert_eq!(segs.len(), 5);
    assert_eq!(segs[3]["text"], "eres un inútil no sirves para nada");
    assert_eq!(segs[3]["speaker"], "customer");
    let pos = |pred: &dyn Fn(&Value) -> bool| feed.iter().position(pred).unwrap();
    let s4 = pos(&|v| v["type"] == "segment" && v["segment_id"] == "s4");
    let abuse = pos(&|v| v["type"] == "nudge" && v["kind"] == "abuse_boundary");
    assert!(s4 < abuse);
    server.shutdown().await;
}

#[tokio::test]
async fn a_late_supervisor_gets_the_active_call_in_its_snapshot() {
    let server = server().await;
    let addr = server.local_addr();
    let mut ws = connect(addr, "/v1/stream").await;
    send_all(&mut ws, &abusive_call("c-l", "a-l")[..5]).await;
    // Wait until the insult's nudges are out.
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let v = next_json(&mut ws).await;
        if v["type"] == "nudge" {
            kinds.push(v["kind"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(kinds, ["abuse_boundary", "breathe"]);

    let mut sup = connect(addr, "/v1/supervisor").await;
    let snap = next_json(&mut sup).await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["complete"], true);
    let calls = snap["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    // The snapshot summarises: state, open nudges, the last few segments.
    let c = &calls[0];
    assert_eq!(c["call_id"], "c-l");
    assert_eq!(c["agent_id"], "a-l");
    assert_eq!(c["campaign"], "soporte");
    assert!(c["elapsed_ms"].as_u64().is_some());
    assert_eq!(c["state"]["type"], "state");
    assert_eq!(c["state"]["frustration"]["level"], "angry");
    assert!(c["trajectory"].as_array().unwrap().len() >= 2);
    assert_eq!(c["segment_count"], 4);
    let last = c["last_segments"].as_array().unwrap();
    assert_eq!(last.len(), 3);
    assert_eq!(last[2]["text"], "eres un inútil no sirves para nada");
    let open: Vec<&str> = c["open_nudges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(open, ["abuse_boundary", "breathe"]);

    // Opening the call sends everything: the whole transcript, nudges with their evidence.
    send(
        &mut sup,
        &json!({"type":"call.open","call_id":"c-l"}).to_string(),
    )
    .await;
    let d = next_json(&mut sup).await;
    assert_eq!(d["type"], "call.detail", "{d}");
    assert_eq!(d["call_id"], "c-l");
    let segments = d["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 4);
    assert_eq!(segments[0]["segment_id"], "s1");
    assert_eq!(segments[3]["text"], "eres un inútil no sirves para nada");
    let nudges = d["nudges"].as_array().unwrap();
    assert_eq!(nudges.len(), 2);
    assert_eq!(nudges[0]["kind"], "abuse_boundary");
    assert_eq!(nudges[0]["evidence"][0]["quote"], "inútil");
    assert!(nudges[0].get("cleared_at_ms").is_none());
    assert!(d["trajectory"].as_array().unwrap().len() >= 2);
    // A call that is not on the board: a typed error, and the feed goes on.
    send(
        &mut sup,
        &json!({"type":"call.open","call_id":"c-nope"}).to_string(),
    )
    .await;
    let e = next_json(&mut sup).await;
    assert_eq!(
        (e["code"].as_str(), e["call_id"].as_str()),
        (Some("unknown_call"), Some("c-nope"))
    );

    // Then live: the limit clears abuse_boundary.
    send_all(&mut ws, &abusive_call("c-l", "a-l")[5..]).await;
    loop {
        let v = next_json(&mut sup).await;
        if v["type"] == "nudge.clear" {
            assert_eq!(v["kind"], "abuse_boundary");
            assert_eq!(v["reason"], "limit_set");
            break;
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn post_call_record_has_summary_nudges_and_timing_without_text() {
    let server = server().await;
    let addr = server.local_addr();
    let (status, body) = http(addr, "GET", "/v1/calls/c-p", None).await;
    assert_eq!(status, 404);
    let e: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["code"], "unknown_call");

    let mut agent = connect(addr, "/v1/agents/a-p/nudges").await;
    wait_health(addr, "agent_sockets", 1).await;
    let mut ws = connect(addr, "/v1/stream").await;
    send_all(&mut ws, &abusive_call("c-p", "a-p")[..5]).await;
    let nudge = loop {
        let v = next_json(&mut agent).await;
        if v["type"] == "nudge" {
            break v;
        }
    };
    send(
        &mut agent,
        &json!({"type":"feedback","call_id":"c-p","nudge_id":nudge["nudge_id"],"useful":true})
            .to_string(),
    )
    .await;
    // Still open while the call runs.
    let (status, _) = http(addr, "GET", "/v1/calls/c-p", None).await;
    assert_eq!(status, 404);
    let mut rest = abusive_call("c-p", "a-p")[5..].to_vec();
    rest.push(end("c-p"));
    send_all(&mut ws, &rest).await;
    let summary = parse(&until_summary(&mut ws, "c-p").await).pop().unwrap();

    let (status, body) = http(addr, "GET", "/v1/calls/c-p", None).await;
    assert_eq!(status, 200, "{body}");
    let rec: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rec["call_id"], "c-p");
    let mut want = summary.clone();
    want.as_object_mut().unwrap().remove("type");
    let mut got = rec["summary"].clone();
    got.as_object_mut().unwrap().remove("type");
    assert_eq!(got, want);
    assert_eq!(rec["summary"]["nudges"][0]["useful"], true);
    let segs = rec["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 5);
    assert!(segs.iter().all(|s| s.get("text").is_none()), "no text kept");
    assert_eq!(
        segs[3],
        json!({"segment_id":"s4","speaker":"customer","start_ms":11500,"end_ms":14000})
    );
    let n0 = &rec["nudges"][0];
    assert_eq!(n0["kind"], "abuse_boundary");
    assert_eq!(n0["text"], nudge["text"]);
    assert_eq!(n0["clear_reason"], "limit_set");
    assert_eq!(n0["useful"], true);
    assert!(rec["interruptions"].is_array());
    server.shutdown().await;
}

#[tokio::test]
async fn recent_calls_are_bounded() {
    let server = server_with(Options {
        recent_calls: 2,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let mut ws = connect(addr, "/v1/stream").await;
    for i in 0..3 {
        let call = format!("c-b{i}");
        let lines = vec![
            json!({"type":"call.start","call_id":call,"agent_id":"a-b"}).to_string(),
            seg(&call, "s1", "agent", "buenos días", 0, 1000),
            end(&call),
        ];
        send_all(&mut ws, &lines).await;
        until_summary(&mut ws, &call).await;
    }
    // Past the memory bound the record still comes, from the call history.
    server.state().store.flush();
    assert_eq!(http(addr, "GET", "/v1/calls/c-b0", None).await.0, 200);
    assert_eq!(http(addr, "GET", "/v1/calls/c-never", None).await.0, 404);
    assert_eq!(http(addr, "GET", "/v1/calls/c-b1", None).await.0, 200);
    assert_eq!(http(addr, "GET", "/v1/calls/c-b2", None).await.0, 200);
    // The snapshot lists recent calls, newest first.
    let mut sup = connect(addr, "/v1/supervisor").await;
    let snap = next_json(&mut sup).await;
    let ids: Vec<&str> = snap["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c-b2", "c-b1"]);
    server.shutdown().await;
}

#[tokio::test]
async fn the_feed_accepts_only_call_open_and_closes_with_1001_on_shutdown() {
    let server = server().await;
    let addr = server.local_addr();
    let mut sup = connect(addr, "/v1/supervisor").await;
    assert_eq!(next_json(&mut sup).await["type"], "snapshot");
    send(
        &mut sup,
        r#"{"type":"call.start","call_id":"x","agent_id":"y"}"#,
    )
    .await;
    let e = next_json(&mut sup).await;
    assert_eq!(e["code"], "not_allowed_here");
    send(&mut sup, "{not json").await;
    assert_eq!(next_json(&mut sup).await["code"], "bad_json");
    send(&mut sup, r#"{"type":"call.open"}"#).await;
    assert_eq!(next_json(&mut sup).await["code"], "missing_field");

    let mut ws = connect(addr, "/v1/stream").await;
    send_all(&mut ws, &abusive_call("c-s", "a-s")[..2]).await;
    loop {
        if next_json(&mut sup).await["type"] == "segment" {
            break;
        }
    }
    let shutdown = tokio::spawn(server.shutdown());
    // The call is ended by the shutdown: its summary and call.ended arrive, then Close 1001.
    let tail = until_ended(&mut sup, "c-s").await;
    assert!(tail.iter().any(|v| v["type"] == "call.summary"));
    let close = loop {
        match timeout(T, sup.next()).await.unwrap() {
            Some(Ok(Message::Close(f))) => break f,
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(close.unwrap().code, CloseCode::Away);
    assert!(shutdown.await.unwrap().clean);
}

/// Raw GET returning the status line, headers (lowercased names) and body.
async fn get_raw(addr: std::net::SocketAddr, path: &str) -> (u16, Vec<(String, String)>, String) {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8(buf).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        (status, headers, body.to_string())
    };
    timeout(T, fut).await.expect("http in time")
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn pages_are_self_contained_html() {
    let server = server().await;
    let addr = server.local_addr();
    for (path, marker, framable) in [
        ("/agent/a-7", "¿Por qué?", true),
        ("/supervisor", "Supervisión", false),
        ("/calls/c-1", "Línea de tiempo", false),
    ] {
        let (status, h, body) = get_raw(addr, path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(header(&h, "content-type"), Some("text/html; charset=utf-8"));
        assert!(body.contains(marker), "{path}");
        assert!(body.contains("lang=\"es\""), "{path}");
        // No external assets: nothing loaded from another origin (the SVG namespace is a name).
        let body = body.replace("http://www.w3.org/2000/svg", "");
        for bad in [
            "http://", "https://", "<link ", " src=\"", "@import", "url(",
        ] {
            assert!(!body.contains(bad), "{path} contains {bad}");
        }
        let csp = header(&h, "content-security-policy").unwrap();
        assert!(csp.contains("connect-src 'self'"), "{csp}");
        assert_eq!(csp.contains("frame-ancestors"), !framable, "{path}: {csp}");
    }
    let (status, _, _) = get_raw(addr, "/agent/%01").await;
    assert_eq!(status, 400);
    server.shutdown().await;
}

#[tokio::test]
async fn personal_numbers_are_masked_in_the_supervisor_transcript() {
    let server = server().await;
    let addr = server.local_addr();
    let mut sup = connect(addr, "/v1/supervisor").await;
    let _snapshot = next_json(&mut sup).await;
    let mut ws = connect(addr, "/v1/stream").await;
    send_all(
        &mut ws,
        &[
            json!({"type":"call.start","call_id":"c-p","agent_id":"a-p","language":"es"})
                .to_string(),
            seg(
                "c-p",
                "s1",
                "customer",
                "mi móvil es el seis uno dos tres cuatro cinco seis siete ocho",
                0,
                4000,
            ),
            end("c-p"),
        ],
    )
    .await;
    let feed = until_ended(&mut sup, "c-p").await;
    let text = feed.iter().find(|v| v["type"] == "segment").unwrap()["text"].clone();
    assert_eq!(text, "mi móvil es el [número]");
    server.shutdown().await;
}
