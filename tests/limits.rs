//! Limits and liveness on a real server: connection slots, calls per process, segment rate,
//! idle calls, keepalive, and a slow agent panel that must not hold anyone else back.
//! No test asserts a duration: short settings make the behaviour happen, bounded waits (`T`)
//! only stop a broken build from hanging.

mod common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpSocket;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

use calma::server::Options;
use common::*;

async fn metrics_text(addr: std::net::SocketAddr) -> String {
    http(addr, "GET", "/metrics", None).await.1
}

#[tokio::test]
async fn connections_beyond_the_limit_get_503_and_slots_come_back() {
    let server = server_with(Options {
        max_connections: 2,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let _platform = connect(addr, "/v1/stream").await;
    let agent = connect(addr, "/v1/agents/a-1/nudges").await;
    for path in ["/v1/stream", "/v1/agents/a-2/nudges"] {
        let (status, body) = try_connect_with(addr, path, &[]).await.err().unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (status, v["code"].as_str()),
            (503, Some("too_many_connections"))
        );
    }
    // Plain HTTP is not a WebSocket slot.
    assert_eq!(http(addr, "GET", "/healthz", None).await.0, 200);
    drop(agent);
    wait_health(addr, "agent_sockets", 0).await;
    let again = async {
        loop {
            if try_connect_with(addr, "/v1/agents/a-2/nudges", &[])
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    timeout(T, again).await.expect("the slot is returned");
    let text = metrics_text(addr).await;
    assert!(
        metric(
            &text,
            "calma_errors_total",
            &[("code", "too_many_connections")]
        ) >= Some(2.0)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn calls_per_process_are_limited_across_connections() {
    let server = server_with(Options {
        max_calls_per_process: 2,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let mut a = connect(addr, "/v1/stream").await;
    let mut b = connect(addr, "/v1/stream").await;
    send(&mut a, &start_msg("c-1", "x")).await;
    send(&mut a, &start_msg("c-2", "x")).await;
    wait_health(addr, "active_calls", 2).await;
    send(&mut b, &start_msg("c-3", "x")).await;
    let e = next_error(&mut b).await;
    assert_eq!(
        (e["code"].as_str(), e["call_id"].as_str()),
        (Some("too_many_calls"), Some("c-3"))
    );
    // A refused start does not hold a slot; an ended call frees one.
    send(&mut a, &end_msg("c-1")).await;
    until_summary(&mut a, "c-1").await;
    send(&mut b, &start_msg("c-3", "x")).await;
    send(&mut b, &end_msg("c-3")).await;
    until_summary(&mut b, "c-3").await;
    server.shutdown().await;
}

#[tokio::test]
async fn segments_beyond_the_rate_are_refused_and_the_call_goes_on() {
    let server = server_with(Options {
        max_segments_per_sec: 1,
        segment_rate_window: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let mut ws = connect(addr, "/v1/stream").await;
    send(&mut ws, &start_msg("c-r", "a")).await;
    for i in 0..20u64 {
        let s = final_seg(
            "c-r",
            &format!("s{i}"),
            "customer",
            "hola buenas",
            i * 1000,
            i * 1000 + 800,
        );
        send(&mut ws, &s).await;
    }
    send(&mut ws, &end_msg("c-r")).await;
    let msgs = parse(&until_summary(&mut ws, "c-r").await);
    let limited: Vec<&Value> = msgs
        .iter()
        .filter(|m| m["code"] == "rate_limited")
        .collect();
    assert!(!limited.is_empty());
    assert!(limited.iter().all(|m| m["call_id"] == "c-r"));
    let summary = msgs.last().unwrap();
    assert_eq!(
        summary["segments"].as_u64().unwrap() + limited.len() as u64,
        20
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_idle_call_is_ended_with_its_summary() {
    let server = server_with(Options {
        tick_interval: Duration::from_millis(20),
        idle_call_timeout: Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let mut agent = connect(addr, "/v1/agents/a-i/nudges").await;
    wait_health(addr, "agent_sockets", 1).await;
    let mut ws = connect(addr, "/v1/stream").await;
    send_all(&mut ws, &angry_call("c-i", "a-i")).await;
    // Nothing more is sent: the call is ended for us, platform and agent get the summary.
    let msgs = parse(&until_summary(&mut ws, "c-i").await);
    assert_eq!(msgs.last().unwrap()["segments"], 5);
    until_summary(&mut agent, "c-i").await;
    wait_health(addr, "active_calls", 0).await;
    let text = metrics_text(addr).await;
    assert_eq!(
        metric(&text, "calma_calls_ended_total", &[("reason", "idle")]),
        Some(1.0)
    );
    // The connection itself stays open.
    send(&mut ws, &start_msg("c-j", "a-i")).await;
    send(&mut ws, &end_msg("c-j")).await;
    until_summary(&mut ws, "c-j").await;
    server.shutdown().await;
}

#[tokio::test]
async fn keepalive_drops_silent_peers_and_keeps_reading_ones() {
    let server = server_with(Options {
        ping_interval: Duration::from_millis(30),
        pong_timeout: Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    // A reader answers pings (tungstenite replies to them while reading).
    let mut live = connect(addr, "/v1/stream").await;
    let reader = tokio::spawn(async move {
        let mut pings = 0;
        while pings < 20 {
            match timeout(T, live.next()).await {
                Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
                Ok(Some(Ok(_))) => {}
                other => panic!("the reading peer lost its connection: {other:?}"),
            }
        }
        live
    });
    // Silent peers never read, so never answer a ping: both kinds are dropped.
    let mut silent_platform = connect(addr, "/v1/stream").await;
    let mut silent_agent = connect(addr, "/v1/agents/a-s/nudges").await;
    wait_health(addr, "agent_sockets", 0).await;
    let mut live = timeout(T, reader).await.unwrap().unwrap();
    wait_health(addr, "connections", 1).await;
    until_closed(&mut silent_platform).await;
    until_closed(&mut silent_agent).await;
    // The reading peer is still served.
    send(&mut live, &start_msg("c-k", "a")).await;
    send(&mut live, &end_msg("c-k")).await;
    until_summary(&mut live, "c-k").await;
    server.shutdown().await;
}

/// A WebSocket client with a tiny receive buffer that never reads: a stuck agent panel.
async fn stuck_client(
    addr: std::net::SocketAddr,
    path: &str,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let sock = TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(1024).unwrap();
    let stream = sock.connect(addr).await.unwrap();
    let url = format!("ws://{addr}{path}");
    let (ws, _) = timeout(T, tokio_tungstenite::client_async(url, stream))
        .await
        .unwrap()
        .unwrap();
    ws
}

#[tokio::test]
async fn a_stuck_agent_panel_is_dropped_without_slowing_anyone() {
    let server = server_with(Options {
        agent_queue: 16,
        send_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let stuck = stuck_client(addr, "/v1/agents/a-slow/nudges").await;
    let mut fast = connect(addr, "/v1/agents/a-fast/nudges").await;
    wait_health(addr, "agent_sockets", 2).await;

    let ws = connect(addr, "/v1/stream").await;
    let (mut tx, mut rx) = ws.split();
    // The platform reads everything it is sent, counting summaries.
    let platform = tokio::spawn(async move {
        let mut summaries = 0u64;
        while let Some(Ok(m)) = rx.next().await {
            if let Message::Text(t) = m {
                if t.contains("\"call.summary\"") {
                    summaries += 1;
                }
            }
        }
        summaries
    });
    let mut sent_calls = 0u64;
    let mut fast_calls = 0u64;
    // Stream calls for the stuck agent (one for the fast agent every ten) until the server gives
    // up on the stuck panel; bounded.
    for round in 0..400u64 {
        let (id, agent) = if round % 10 == 0 {
            fast_calls += 1;
            (format!("f-{round}"), "a-fast")
        } else {
            (format!("s-{round}"), "a-slow")
        };
        let mut lines = angry_call(&id, agent);
        lines.push(end_msg(&id));
        for l in lines {
            timeout(T, tx.send(Message::text(l)))
                .await
                .unwrap()
                .unwrap();
        }
        sent_calls += 1;
        if round % 20 == 19 {
            let (_, body) = http(addr, "GET", "/healthz", None).await;
            let v: Value = serde_json::from_str(&body).unwrap();
            if v["agent_sockets"] == 1 && round >= 100 {
                break;
            }
        }
    }
    eprintln!("stuck panel: {sent_calls} calls streamed before it was dropped");
    // The fast panel got every one of its calls, complete.
    for _ in 0..fast_calls {
        let msgs = parse(&until_summary_any(&mut fast).await);
        assert!(msgs
            .iter()
            .all(|m| m["call_id"].as_str().unwrap().starts_with("f-")));
    }
    wait_health(addr, "agent_sockets", 1).await;
    wait_health(addr, "active_calls", 0).await;
    // The platform got every summary.
    timeout(T, tx.close()).await.unwrap().unwrap();
    let summaries = timeout(T, platform).await.unwrap().unwrap();
    assert_eq!(summaries, sent_calls);
    drop(stuck);
    server.shutdown().await;
}

/// Text frames up to and including the next `call.summary`, whatever its call.
async fn until_summary_any(ws: &mut Ws) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let t = next_text(ws).await;
        let done = t.contains("\"type\":\"call.summary\"");
        out.push(t);
        if done {
            return out;
        }
    }
}

#[tokio::test]
async fn a_frame_over_the_hard_limit_closes_the_connection_and_ends_its_calls() {
    let server = server_with(Options {
        soft_message_limit: 1024,
        hard_message_limit: 8 * 1024,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let mut panel = connect(addr, "/v1/agents/a-h/nudges").await;
    wait_health(addr, "agent_sockets", 1).await;
    let mut ws = connect(addr, "/v1/stream").await;
    send_all(&mut ws, &angry_call("c-h", "a-h")[..3]).await;
    next_json(&mut ws).await;
    // Over the soft limit: a typed error, the connection goes on.
    send(&mut ws, &"x".repeat(2 * 1024)).await;
    assert_eq!(next_error(&mut ws).await["code"], "message_too_large");
    // Over the hard limit: a protocol violation, not a lost connection. The socket closes
    // (1009), the call is ended and summarised at once (not parked for a resume).
    let _ = timeout(T, ws.send(Message::text("x".repeat(64 * 1024)))).await;
    let close = loop {
        match timeout(T, ws.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(f))) => break f,
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break None,
        }
    };
    if let Some(f) = close {
        assert_eq!(u16::from(f.code), 1009, "{f:?}");
    }
    let summary = until_summary(&mut panel, "c-h").await;
    let last: Value = serde_json::from_str(summary.last().unwrap()).unwrap();
    assert_eq!(last["type"], "call.summary");
    let text = metrics_text(addr).await;
    assert_eq!(metric(&text, "calma_parked_calls", &[]), Some(0.0));
    assert_eq!(
        metric(
            &text,
            "calma_calls_ended_total",
            &[("reason", "protocol_violation")]
        ),
        Some(1.0)
    );
    server.shutdown().await;
}
