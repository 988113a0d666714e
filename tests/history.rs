//! Call history on SQLite, end to end: a restart of the real binary keeps ended calls' records,
//! nudges, evidence and feedback; list, CSV and report APIs stay inside each tenant; a returning
//! customer's next call brings its context to the agent and starts tense; a corrupt database
//! stops start-up naming the file; stored transcripts re-run with `calma replay --db`.

mod common;

use std::io::BufReader;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use calma::engine::Resources;
use calma::server::auth::{mint_token, unix_now, AuthConfig, Claims, Role};
use calma::server::{start, Options};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use common::*;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("calma-history-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The real binary on an ephemeral loopback port, with its history in `db`.
struct Calma {
    child: Child,
    addr: std::net::SocketAddr,
}

impl Calma {
    fn spawn(db: &str) -> Calma {
        let mut child = Command::new(env!("CARGO_BIN_EXE_calma"))
            .args(["serve", "--addr", "127.0.0.1:0", "--db", db])
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
            "calma exited before listening",
        );
        procs::drain(out);
        let addr = procs::listening_addr(&line);
        Calma { child, addr }
    }

    /// SIGTERM (graceful: calls end, the history is flushed) and wait for the exit.
    fn terminate(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// SIGKILL: no flush, no goodbye.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn example_lines() -> Vec<String> {
    include_str!("../examples/angry_call.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

/// Stream the angry example (agent a-7), rate one nudge as useful from the panel, end the call.
async fn angry_call_with_feedback(addr: std::net::SocketAddr, call_id: &str) -> Vec<Value> {
    let mut panel = connect(addr, "/v1/agents/a-7/nudges").await;
    let mut platform = connect(addr, "/v1/stream").await;
    let lines: Vec<String> = example_lines()
        .into_iter()
        .map(|l| l.replace("c-angry-1", call_id))
        .collect();
    let (end, body) = lines.split_last().unwrap();
    send_all(&mut platform, body).await;
    let nudge = loop {
        let m = next_json(&mut panel).await;
        if m["type"] == "nudge" {
            break m;
        }
    };
    send(
        &mut panel,
        &json!({"type":"feedback","call_id":call_id,"nudge_id":nudge["nudge_id"],"useful":true})
            .to_string(),
    )
    .await;
    // Feedback travels panel → hub → platform connection; give it a moment before the end.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    send(&mut platform, end).await;
    parse(&until_summary(&mut platform, call_id).await)
}

#[tokio::test]
async fn a_restart_keeps_every_ended_call_with_its_nudges_evidence_and_feedback() {
    let dir = temp_dir("restart");
    let db = dir.join("calma.sqlite3").to_string_lossy().into_owned();

    let calma = Calma::spawn(&db);
    let outputs = angry_call_with_feedback(calma.addr, "c-restart-1").await;
    let summary = outputs.last().unwrap();
    assert_eq!(summary["feedback"]["useful"], 1, "{summary}");
    calma.terminate();

    // A second run: the record comes from the database now, feedback and evidence included.
    let calma = Calma::spawn(&db);
    let (status, body) = http(calma.addr, "GET", "/v1/calls/c-restart-1", None).await;
    assert_eq!(status, 200, "{body}");
    let rec: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rec["summary"]["call_id"], "c-restart-1");
    let nudges = rec["nudges"].as_array().unwrap();
    assert!(!nudges.is_empty());
    assert!(nudges
        .iter()
        .all(|n| n["evidence"].as_array().is_some_and(|e| !e.is_empty())));
    assert!(nudges.iter().all(|n| n["clear_reason"].is_string()));
    assert_eq!(nudges.iter().filter(|n| n["useful"] == true).count(), 1);

    // A crash right after a call is written loses nothing already on disk.
    angry_call_with_feedback(calma.addr, "c-restart-2").await;
    let mut listed = false;
    for _ in 0..50 {
        let (_, body) = http(calma.addr, "GET", "/v1/calls?agent_id=a-7", None).await;
        if body.contains("c-restart-2") {
            listed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(listed, "the second call reached the database");
    calma.kill();
    let calma = Calma::spawn(&db);
    let (_, body) = http(calma.addr, "GET", "/v1/calls?agent_id=a-7&limit=10", None).await;
    let page: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = page["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c-restart-2", "c-restart-1"], "newest first");
    calma.terminate();
}

#[test]
fn a_corrupt_database_stops_start_up_naming_the_file() {
    let dir = temp_dir("corrupt");
    let db = dir.join("broken.sqlite3");
    std::fs::write(&db, vec![0x5au8; 16 * 1024]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_calma"))
        .args(["serve", "--addr", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env_remove("CALMA_API_KEYS")
        .env_remove("CALMA_TOKEN_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&*db.to_string_lossy()), "{err}");
    assert!(err.contains("not a"), "{err}");
}

const SECRET: &str = "history-secret-0123456789abcdef";

fn two_tenants() -> Options {
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
    let now = unix_now();
    mint_token(
        SECRET.as_bytes(),
        &Claims {
            tenant: tenant.into(),
            sub: sub.into(),
            role,
            exp: now + 600,
            nbf: None,
            iat: Some(now),
        },
    )
}

async fn stream_as(addr: std::net::SocketAddr, key: &str, lines: &[String], call_id: &str) {
    let auth = format!("Bearer {key}");
    let mut ws = connect_with(addr, "/v1/stream", &[("Authorization", &auth)]).await;
    send_all(&mut ws, lines).await;
    send(&mut ws, &end_msg(call_id)).await;
    until_summary(&mut ws, call_id).await;
}

async fn get_as(addr: std::net::SocketAddr, tenant: &str, path: &str) -> (u16, String) {
    let auth = format!("Bearer {}", token(tenant, "lead", Role::Supervisor));
    http_with(addr, "GET", path, &[("Authorization", &auth)], None).await
}

#[tokio::test]
async fn lists_csv_and_reports_stay_inside_each_tenant() {
    let server = server_with(two_tenants()).await;
    let addr = server.local_addr();
    // The same call id and agent id in both tenants: acme's call is angry, globex's is calm.
    let mut acme = angry_call("c-7", "a-1");
    acme[0] = json!({"type":"call.start","call_id":"c-7","agent_id":"a-1","campaign":"soporte"})
        .to_string();
    stream_as(addr, "acme-key-0123456789", &acme, "c-7").await;
    let globex = vec![
        json!({"type":"call.start","call_id":"c-7","agent_id":"a-1","campaign":"soporte"})
            .to_string(),
        final_seg(
            "c-7",
            "s1",
            "customer",
            "hola quería saber el horario de la tienda",
            0,
            3000,
        ),
        final_seg(
            "c-7",
            "s2",
            "agent",
            "abrimos de nueve a ocho de lunes a sábado",
            3500,
            6000,
        ),
    ];
    stream_as(addr, "globex-key-0123456789", &globex, "c-7").await;
    // Out of memory: the second call's record must also be in the database.
    server.state().store.flush();

    for (tenant, peak) in [("acme", "frustrated"), ("globex", "calm")] {
        let (status, body) = get_as(addr, tenant, "/v1/calls?campaign=soporte").await;
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        let calls = page["calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1, "{tenant} sees only its own call: {body}");
        let level = calls[0]["peak_level"].as_str().unwrap();
        assert!(
            if tenant == "acme" {
                level == "frustrated" || level == "angry"
            } else {
                level == peak
            },
            "{tenant}: {body}"
        );

        let (status, csv) = get_as(addr, tenant, "/v1/calls.csv?campaign=soporte").await;
        assert_eq!(status, 200);
        let rows: Vec<&str> = csv.lines().collect();
        assert!(rows[0].starts_with("call_id,agent_id,campaign"));
        assert_eq!(rows.len(), 2, "{tenant}: {csv}");

        let (status, body) = get_as(addr, tenant, "/v1/reports/soporte").await;
        assert_eq!(status, 200, "{body}");
        let rep: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(rep["calls"], 1, "{tenant}: {body}");
        assert_eq!(rep["agents"]["a-1"]["calls"], 1);
    }
    let (_, body) = get_as(addr, "acme", "/v1/reports/soporte").await;
    let rep: Value = serde_json::from_str(&body).unwrap();
    assert!(
        rep["nudges"].as_i64().unwrap() >= 1,
        "the angry call had nudges: {body}"
    );
    let (_, body) = get_as(addr, "globex", "/v1/reports/soporte").await;
    let rep: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        rep["nudges"], 0,
        "globex's report holds none of acme's nudges: {body}"
    );

    // Bad filters are typed errors naming the parameter; no credentials is 401.
    let (status, body) = get_as(addr, "acme", "/v1/calls?min_level=furious").await;
    assert_eq!(status, 400);
    assert!(body.contains("min_level"), "{body}");
    let (status, body) = get_as(addr, "acme", "/v1/calls?since=yesterday").await;
    assert_eq!(status, 400);
    assert!(body.contains("since"), "{body}");
    let (status, _) = http(addr, "GET", "/v1/calls", None).await;
    assert_eq!(status, 401);
    let agent = format!("Bearer {}", token("acme", "a-1", Role::Agent));
    let (status, _) = http_with(addr, "GET", "/v1/calls", &[("Authorization", &agent)], None).await;
    assert_eq!(status, 403, "an agent token cannot list calls");
    server.shutdown().await;
}

#[tokio::test]
async fn a_returning_customer_brings_context_to_the_agent_and_starts_tense() {
    let server = server().await;
    let addr = server.local_addr();
    let customer = "+34 600 111 222";
    for (i, call) in ["c-r1", "c-r2"].iter().enumerate() {
        let mut lines = angry_call(call, "a-9");
        lines[0] = json!({"type":"call.start","call_id":call,"agent_id":"a-9",
            "customer_id":customer})
        .to_string();
        let mut ws = connect(addr, "/v1/stream").await;
        send_all(&mut ws, &lines).await;
        send(&mut ws, &end_msg(call)).await;
        let out = parse(&until_summary(&mut ws, call).await);
        assert!(
            out.iter().all(|o| !o.to_string().contains("600 111")),
            "call {i}: the customer id is never echoed"
        );
    }
    server.state().store.flush();

    let mut panel = connect(addr, "/v1/agents/a-9/nudges").await;
    let mut ws = connect(addr, "/v1/stream").await;
    send(
        &mut ws,
        &json!({"type":"call.start","call_id":"c-r3","agent_id":"a-9","customer_id":customer})
            .to_string(),
    )
    .await;
    let ctx = next_json(&mut panel).await;
    assert_eq!(ctx["type"], "context", "{ctx}");
    assert_eq!(ctx["call_id"], "c-r3");
    assert_eq!(ctx["contacts_7d"], 2);
    assert_eq!(ctx["contacts_30d"], 2);
    let last = &ctx["last_call"];
    assert!(
        last["peak_level"] == "frustrated" || last["peak_level"] == "angry",
        "{ctx}"
    );
    assert!(
        last["next_steps"]
            .as_array()
            .is_some_and(|s| s.iter().any(|q| q.as_str().unwrap().contains("mañana"))),
        "the technician promised for tomorrow is remembered: {ctx}"
    );
    assert!(last["nudges"].as_array().is_some_and(|n| !n.is_empty()));

    // A polite opening still reads tense: this is the third call this week.
    send(
        &mut ws,
        &final_seg(
            "c-r3",
            "s1",
            "customer",
            "hola buenos días le llamo por lo del técnico",
            500,
            3500,
        ),
    )
    .await;
    let state = loop {
        let m = next_json(&mut ws).await;
        if m["type"] == "state" {
            break m;
        }
    };
    assert_eq!(state["frustration"]["level"], "tense", "{state}");
    send(&mut ws, &end_msg("c-r3")).await;
    let out = parse(&until_summary(&mut ws, "c-r3").await);
    let summary = out.last().unwrap();
    assert!(
        summary["frustration_peak"]
            .to_string()
            .contains("history/repeat_contact"),
        "the evidence says why: {summary}"
    );
    // The database holds a keyed hash, never the number.
    let raw: i64 = server
        .state()
        .store
        .reader()
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM calls WHERE customer_key LIKE '%600%' OR record_json LIKE '%600 111%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(raw, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn kept_transcripts_re_run_with_replay_db_and_a_campaign_can_opt_out_of_context() {
    let dir = temp_dir("transcripts");
    let db = dir.join("calma.sqlite3").to_string_lossy().into_owned();
    let cfg = dir.join("campaigns.toml");
    std::fs::write(
        &cfg,
        "[campaigns.ventas.history]\nkeep_transcripts = true\ncustomer_context = false\n",
    )
    .unwrap();
    let res = Resources::load(None, Some(&cfg)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = start(
        res,
        Options {
            db_path: db.clone(),
            ..Options::default()
        },
        listener,
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    for call in ["v-1", "v-2", "v-3"] {
        let mut lines = angry_call(call, "a-3");
        lines[0] = json!({"type":"call.start","call_id":call,"agent_id":"a-3",
            "campaign":"ventas","customer_id":"cliente-42"})
        .to_string();
        lines.push(final_seg(
            call,
            "s6",
            "customer",
            "mi teléfono es el 612 345 678",
            24_000,
            27_000,
        ));
        let mut ws = connect(addr, "/v1/stream").await;
        send_all(&mut ws, &lines).await;
        send(&mut ws, &end_msg(call)).await;
        until_summary(&mut ws, call).await;
    }
    server.shutdown().await;

    let out = Command::new(env!("CARGO_BIN_EXE_calma"))
        .args(["replay", "--db", &db, "--campaign", "ventas"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summaries: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "call.summary")
        .collect();
    assert_eq!(summaries.len(), 3, "{stdout}");
    assert!(
        stdout.contains("\"nudge\""),
        "the stored calls nudge again: {stdout}"
    );
    // Transcripts are kept PII-redacted only.
    let conn = calma::store::Store::open_read_only(&db).unwrap();
    let t: String = conn
        .query_row(
            "SELECT transcript_json FROM calls WHERE call_id = 'v-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!t.contains("612 345 678") && t.contains("[número]"), "{t}");
    // customer_context = false: the third call got no prior contacts from the history.
    let rec: String = conn
        .query_row(
            "SELECT record_json FROM calls WHERE call_id = 'v-3'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!rec.contains("history/repeat_contact"));
}

#[tokio::test]
async fn a_full_database_is_counted_and_live_analysis_goes_on() {
    let dir = temp_dir("full");
    let db = dir.join("calma.sqlite3").to_string_lossy().into_owned();
    let server = server_with(Options {
        db_path: db,
        db_max_mib: 1,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let mut ws = connect(addr, "/v1/stream").await;
    let mut summaries = 0;
    for i in 0..600 {
        let call = format!("f-{i}");
        send_all(&mut ws, &angry_call(&call, "a-f")).await;
        send(&mut ws, &end_msg(&call)).await;
        let out = parse(&until_summary(&mut ws, &call).await);
        assert!(
            out.iter().any(|o| o["type"] == "nudge"),
            "call {i} still nudges"
        );
        summaries += 1;
    }
    assert_eq!(summaries, 600, "every call ended with its summary");
    server.state().store.flush();
    let (_, text) = http(addr, "GET", "/metrics", None).await;
    let written = metric(&text, "calma_history_written_total", &[]).unwrap();
    let failed = metric(&text, "calma_history_write_errors_total", &[]).unwrap();
    assert!(
        written > 0.0 && failed > 0.0,
        "written {written}, failed {failed}"
    );
    assert_eq!(written + failed, 600.0);
    server.shutdown().await;
}
