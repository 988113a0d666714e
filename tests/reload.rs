//! Per-campaign configuration changes without a rebuild or a restart: `POST /v1/admin/reload`
//! re-reads the files; new calls follow the new settings, calls in progress keep theirs, and a
//! broken file is refused while the running configuration stays.

mod common;

use std::process::Command;

use calma::engine::Resources;
use calma::server::{start_with_sources, Options, Sources};
use common::*;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// A call with 11 s of silence after the customer asked something: `dead_air` unless disabled.
fn silent_call(id: &str) -> Vec<String> {
    vec![
        json!({"type":"call.start","call_id":id,"agent_id":"a-1","campaign":"ventas","language":"es"}),
        json!({"type":"segment","call_id":id,"segment_id":"s1","speaker":"agent","text":"buenas tardes en qué le puedo ayudar","start_ms":500,"end_ms":3000,"final":true}),
        json!({"type":"segment","call_id":id,"segment_id":"s2","speaker":"customer","text":"quería saber por qué me han cobrado dos veces","start_ms":3500,"end_ms":8000,"final":true}),
        json!({"type":"tick","call_id":id,"at_ms":19000}),
        json!({"type":"segment","call_id":id,"segment_id":"s3","speaker":"agent","text":"perdone ya lo veo","start_ms":19500,"end_ms":21000,"final":true}),
        json!({"type":"call.end","call_id":id}),
    ]
    .into_iter()
    .map(|v| v.to_string())
    .collect()
}

fn kinds(lines: &[String]) -> Vec<String> {
    parse(lines)
        .into_iter()
        .filter(|m| m["type"] == "nudge")
        .map(|m| m["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn reload_applies_to_new_calls_and_refuses_a_broken_file() {
    let dir = std::env::temp_dir().join(format!("calma-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("campaigns.toml");
    std::fs::write(&cfg, "[campaigns.ventas.nudges]\nmin_gap_ms = 20000\n").unwrap();
    let res = Resources::load(None, Some(&cfg)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sources = Sources {
        lexicons: None,
        config: Some(cfg.clone()),
    };
    let server = start_with_sources(res, sources, Options::default(), listener)
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut ws = connect(addr, "/v1/stream").await;

    // Before: dead air is flagged.
    send_all(&mut ws, &silent_call("c-1")).await;
    assert!(kinds(&until_summary(&mut ws, "c-1").await).contains(&"dead_air".to_string()));

    // A call already running when the reload happens keeps its settings.
    let running = silent_call("c-2");
    send_all(&mut ws, &running[..3]).await;

    // The supervisor disables dead_air for this campaign and reloads.
    std::fs::write(
        &cfg,
        "[campaigns.ventas.nudges.kinds.dead_air]\nenabled = false\n",
    )
    .unwrap();
    let (status, body) = http(addr, "POST", "/v1/admin/reload", None).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "reloaded");
    assert!(v["campaigns"]
        .as_array()
        .unwrap()
        .contains(&json!("ventas")));

    send_all(&mut ws, &running[3..]).await;
    assert!(kinds(&until_summary(&mut ws, "c-2").await).contains(&"dead_air".to_string()));
    send_all(&mut ws, &silent_call("c-3")).await;
    assert!(!kinds(&until_summary(&mut ws, "c-3").await).contains(&"dead_air".to_string()));

    // A broken file is refused with the reason; the running configuration stays.
    std::fs::write(
        &cfg,
        "[campaigns.ventas.nudges.kinds.dead_air]\nenabeld = true\n",
    )
    .unwrap();
    let (status, body) = http(addr, "POST", "/v1/admin/reload", None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("enabeld"), "{body}");
    send_all(&mut ws, &silent_call("c-4")).await;
    assert!(!kinds(&until_summary(&mut ws, "c-4").await).contains(&"dead_air".to_string()));
    server.shutdown().await;
}

#[test]
fn an_invalid_config_stops_start_up_with_a_clear_message() {
    let dir = std::env::temp_dir().join(format!("calma-badcfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "[campaigns.x.frustration]\ntense = 0.9\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_calma"))
        .args(["serve", "--addr", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("campaign `x`"), "{err}");
    assert!(err.contains("tense < frustrated < angry"), "{err}");
}
