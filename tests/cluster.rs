//! Cluster mode end to end: one real `nats-server` (JetStream on) and three real calma nodes on
//! loopback. A call streamed to node 1 nudges an agent whose panel is on node 2; node 1 is killed
//! mid-call; the platform reconnects to node 3 with `call.resume` and the call goes on there.
//! The panel gets every nudge of the call exactly once, a supervisor on node 3 sees the call,
//! and the agent's feedback from node 2 reaches the call wherever it runs. A call of node 1
//! that nobody resumes is ended by a surviving node after the grace period.
//!
//! Needs `nats-server` on the PATH (Debian: `apt-get install nats-server`; `.ci/run` does).

mod common;

use std::collections::BTreeSet;
use std::io::BufReader;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use calma::engine::{Resources, Session};
use calma::protocol::{parse_inbound, Outbound, ParseLimits};
use common::*;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("calma-cluster-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A child process killed when the test ends, whatever happens.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `nats-server` with JetStream on a free loopback port; returns it and its URL.
fn nats_server(dir: &std::path::Path) -> (Proc, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nats-server is not installed: apt-get install nats-server");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    procs::wait_for_line(
        &mut err,
        "Server is ready",
        "nats-server exited before it was ready",
    );
    procs::drain(err);
    (Proc(child), format!("nats://127.0.0.1:{port}"))
}

/// A calma node (the real binary) joined to the cluster at `nats`.
fn node(nats: &str, db: &std::path::Path) -> (Proc, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_calma"))
        .args(["serve", "--addr", "127.0.0.1:0", "--max-segment-rate", "0"])
        .args(["--resume-grace-secs", "2"])
        .arg("--db")
        .arg(db)
        .args(["--cluster", nats])
        .env_remove("CALMA_API_KEYS")
        .env_remove("CALMA_TOKEN_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn calma");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let line = procs::wait_for_line(
        &mut out,
        "calma listening on http://",
        "calma exited before listening (could it join the cluster?)",
    );
    procs::drain(out);
    (Proc(child), procs::listening_addr(&line))
}

/// The labelled call with the most nudges, streamed live (partials, ticks), and the index of
/// the message after which its first nudge comes out of the engine.
fn busy_call() -> (Vec<String>, usize, usize) {
    let res = Resources::embedded();
    let mut best: Option<(Vec<String>, usize, usize)> = None;
    for call in load_calls() {
        let lines: Vec<String> = as_live_stream(&call.messages, 1000)
            .iter()
            .map(Value::to_string)
            .collect();
        let mut session = Session::new(res.clone(), 1);
        let mut first = None;
        let mut nudges = 0;
        for (i, l) in lines.iter().enumerate() {
            let msg = parse_inbound(l, &ParseLimits::default()).unwrap();
            for o in session.handle(msg).unwrap_or_default() {
                if matches!(o, Outbound::Nudge(_)) {
                    nudges += 1;
                    first.get_or_insert(i);
                }
            }
        }
        if best.as_ref().is_none_or(|b| nudges > b.2) {
            if let Some(first) = first {
                best = Some((lines, first, nudges));
            }
        }
    }
    best.expect("a labelled call with nudges")
}

#[tokio::test]
async fn a_call_survives_the_death_of_its_node_without_losing_or_repeating_a_nudge() {
    let dir = temp_dir("failover");
    let (_nats, url) = nats_server(&dir.join("nats"));
    let (mut node1, addr1) = node(&url, &dir.join("n1.sqlite3"));
    let (_node2, addr2) = node(&url, &dir.join("n2.sqlite3"));
    let (_node3, addr3) = node(&url, &dir.join("n3.sqlite3"));

    let (lines, first_nudge_at, nudges_in_call) = busy_call();
    assert!(nudges_in_call >= 3, "the call has {nudges_in_call} nudges");
    let start: Value = serde_json::from_str(&lines[0]).unwrap();
    let call_id = start["call_id"].as_str().unwrap().to_string();
    let agent_id = start["agent_id"].as_str().unwrap().to_string();

    // The agent's panel is on node 2; the platform streams the call to node 1.
    let mut panel = connect(addr2, &format!("/v1/agents/{agent_id}/nudges")).await;
    wait_health(addr2, "agent_sockets", 1).await;
    let mut platform = connect(addr1, "/v1/stream").await;
    // A second call on node 1, whose platform will never come back.
    let mut orphan_panel = connect(addr2, "/v1/agents/a-orphan/nudges").await;
    wait_health(addr2, "agent_sockets", 2).await;
    let mut orphan_platform = connect(addr1, "/v1/stream").await;
    send_all(&mut orphan_platform, &angry_call("c-orphan", "a-orphan")).await;
    let sent = first_nudge_at + 1;
    send_all(&mut platform, &lines[..sent]).await;

    // The first nudge crosses from node 1 to the panel on node 2.
    let mut on_panel: Vec<Value> = Vec::new();
    while !on_panel.iter().any(|m| m["type"] == "nudge") {
        on_panel.push(next_json(&mut panel).await);
    }
    // A supervisor on node 3 sees the call running on node 1.
    let mut sup = connect(addr3, "/v1/supervisor").await;
    let snap = next_json(&mut sup).await;
    assert_eq!(snap["type"], "snapshot");
    let calls = snap["calls"].as_array().unwrap();
    let c = calls
        .iter()
        .find(|c| c["call_id"] == call_id.as_str())
        .unwrap_or_else(|| panic!("node 3's board lacks the call: {snap}"));
    assert_eq!(c["agent_id"], agent_id.as_str());
    assert!(c["segment_count"].as_u64().unwrap() > 0, "{c}");
    assert_eq!(c["state"]["type"], "state");
    drop(sup);

    // What the platform had received when its node died.
    let mut last_seq = 0;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        futures_util::StreamExt::next(&mut platform),
    )
    .await
    {
        if let Ok(v) = serde_json::from_str::<Value>(m.to_text().unwrap_or("")) {
            last_seq = last_seq.max(v["seq"].as_u64().unwrap_or(0));
        }
    }
    // The orphan call's outputs reached node 2 before node 1 dies.
    let mut orphan_seen = Vec::new();
    while !orphan_seen.iter().any(|m: &Value| m["type"] == "nudge") {
        orphan_seen.push(next_json(&mut orphan_panel).await);
    }
    node1.0.kill().unwrap();
    node1.0.wait().unwrap();
    drop(platform);
    drop(orphan_platform);
    let nudges_before = on_panel.iter().filter(|m| m["type"] == "nudge").count();

    // The platform reconnects to node 3, resumes the call, re-sends what it is unsure about
    // (segments are idempotent by id) and streams the rest.
    let mut platform = connect(addr3, "/v1/stream").await;
    let resume = serde_json::json!({"type":"call.resume","call_id":call_id,"after_seq":last_seq});
    send(&mut platform, &resume.to_string()).await;
    let mut replayed = Vec::new();
    loop {
        let m = next_json(&mut platform).await;
        if m["type"] == "call.resumed" {
            break;
        }
        assert_ne!(m["type"], "error", "{m}");
        replayed.push(m);
    }
    // Feedback from the panel on node 2 reaches the call on node 3: a real nudge is marked
    // useful (the summary says so), an invented one is refused with the usual error.
    let first_nudge = on_panel.iter().find(|m| m["type"] == "nudge").unwrap()["nudge_id"]
        .as_str()
        .unwrap()
        .to_string();
    let fb = |nudge: &str| {
        serde_json::json!({"type":"feedback","call_id":call_id,"nudge_id":nudge,"useful":true})
            .to_string()
    };
    send(&mut panel, &fb(&first_nudge)).await;
    send(&mut panel, &fb("n-invented")).await;
    loop {
        let m = next_json(&mut panel).await;
        if m["type"] == "error" {
            assert_eq!(m["code"], "unknown_nudge", "{m}");
            break;
        }
        on_panel.push(m);
    }

    let resend_from = sent - 1;
    send_all(&mut platform, &lines[resend_from..]).await;
    if !lines.last().unwrap().contains("call.end") {
        send(&mut platform, &end_msg(&call_id)).await;
    }
    let on_platform = parse(&until_summary(&mut platform, &call_id).await);
    assert!(
        on_platform.iter().all(|m| m["type"] != "error"),
        "{on_platform:?}"
    );

    // The panel on node 2 gets the rest, from node 3.
    loop {
        let m = next_json(&mut panel).await;
        let done = m["type"] == "call.summary";
        on_panel.push(m);
        if done {
            break;
        }
    }
    let summary = on_panel.last().unwrap().clone();
    let in_summary: Vec<String> = summary["nudges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["nudge_id"].as_str().unwrap().to_string())
        .collect();
    let panel_nudges: Vec<String> = on_panel
        .iter()
        .filter(|m| m["type"] == "nudge")
        .map(|m| m["nudge_id"].as_str().unwrap().to_string())
        .collect();
    let marked: Vec<&Value> = summary["nudges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["useful"] == true)
        .collect();
    assert_eq!(marked.len(), 1, "{summary}");
    assert_eq!(marked[0]["nudge_id"], first_nudge.as_str());
    let unique: BTreeSet<&String> = panel_nudges.iter().collect();
    assert_eq!(
        unique.len(),
        panel_nudges.len(),
        "a nudge came twice: {panel_nudges:?}"
    );
    assert_eq!(
        unique,
        in_summary.iter().collect::<BTreeSet<_>>(),
        "the panel's nudges are not the call's"
    );
    assert!(
        panel_nudges.len() > nudges_before,
        "no nudge after the failover ({nudges_before} before, {} in all)",
        panel_nudges.len()
    );
    // Every output reached the panel once, in order.
    let seqs: Vec<u64> = on_panel.iter().filter_map(|m| m["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // The same call as on one node: the nudges the engine gives the whole call.
    assert_eq!(panel_nudges.len(), nudges_in_call, "{panel_nudges:?}");

    // Nobody resumed the other call: once node 1 is known dead and the grace period is over, one
    // surviving node ends it from its log, and its agent gets the summary, once.
    loop {
        let m = next_json(&mut orphan_panel).await;
        let done = m["type"] == "call.summary";
        orphan_seen.push(m);
        if done {
            break;
        }
    }
    let orphan_summary = orphan_seen.last().unwrap();
    assert_eq!(orphan_summary["call_id"], "c-orphan");
    let orphan_nudges: BTreeSet<&str> = orphan_seen
        .iter()
        .filter(|m| m["type"] == "nudge")
        .map(|m| m["nudge_id"].as_str().unwrap())
        .collect();
    let summarised: BTreeSet<&str> = orphan_summary["nudges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["nudge_id"].as_str().unwrap())
        .collect();
    assert_eq!(orphan_nudges, summarised);
}
