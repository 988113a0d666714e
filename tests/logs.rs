//! Logs never contain transcript text unless `--log-transcripts` is set: a call (with errors, an
//! agent panel and feedback) runs through a real server while every log line, at every level and
//! from every crate, is captured.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;

use calma::server::Options;
use common::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn take(&self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut *self.0.lock().unwrap())).into_owned()
    }
}

/// Words that appear nowhere in calma's code, lexicons or ids.
const SECRET_WORDS: &str = "zanahoria morada";
const SECRET_AGENT_WORDS: &str = "ornitorrinco azul";

const KEY: &str = "key-that-must-not-be-logged";
const SECRET: &str = "secret-that-must-not-be-logged";

fn token() -> String {
    use calma::server::auth::{mint_token, unix_now, Claims, Role};
    let c = Claims {
        tenant: "default".into(),
        sub: "a-log".into(),
        role: Role::Agent,
        exp: unix_now() + 600,
        nbf: None,
        iat: None,
    };
    mint_token(SECRET.as_bytes(), &c)
}

fn keyed() -> Options {
    Options {
        auth: calma::server::auth::AuthConfig::from_values(Some(KEY), Some(SECRET)).unwrap(),
        ..Options::default()
    }
}

async fn run_call(opts: Options) {
    let server = server_with(opts).await;
    let addr = server.local_addr();
    let auth = format!("Bearer {KEY}");
    let bearer = [("Authorization", auth.as_str())];
    let mut panel = connect(
        addr,
        &format!("/v1/agents/a-log/nudges?access_token={}", token()),
    )
    .await;
    wait_health(addr, "agent_sockets", 1).await;
    // A refused attempt too: credentials must not be logged when they fail either.
    assert!(try_connect_with(
        addr,
        "/v1/stream",
        &[("Authorization", "Bearer key-that-must-not-be-logged-x")]
    )
    .await
    .is_err());
    let mut ws = connect_with(addr, "/v1/stream", &bearer).await;
    let mut lines = angry_call("c-log", "a-log");
    lines.push(final_seg(
        "c-log",
        "s6",
        "customer",
        &format!("mi {SECRET_WORDS} sigue sin funcionar estoy harto"),
        24000,
        28000,
    ));
    lines.push(final_seg(
        "c-log",
        "s7",
        "agent",
        &format!("le cambio la {SECRET_AGENT_WORDS} mañana a las diez"),
        28500,
        31000,
    ));
    send_all(&mut ws, &lines).await;
    // Bad messages carrying the text: wrong field types, unknown call, over-long text.
    let bad = [
        json!({"type":"segment","call_id":"c-log","segment_id":"x","speaker":SECRET_WORDS,"text":"a","start_ms":0,"end_ms":1}),
        json!({"type":"segment","call_id":"c-log","segment_id":"x","speaker":"agent","text":"a","start_ms":SECRET_WORDS,"end_ms":1}),
        json!({"type":"segment","call_id":"nope","segment_id":"x","speaker":"agent","text":SECRET_WORDS,"start_ms":0,"end_ms":1}),
        json!({"type":"segment","call_id":"c-log","segment_id":"x","speaker":"agent","text":SECRET_WORDS.repeat(400),"start_ms":0,"end_ms":1}),
    ];
    for b in &bad {
        send(&mut ws, &b.to_string()).await;
        next_error(&mut ws).await;
    }
    send(&mut ws, &format!("{{\"type\":\"{SECRET_WORDS}\"")).await;
    next_error(&mut ws).await;
    let fb = json!({"type":"feedback","call_id":"c-log","nudge_id":"n1","useful":true});
    send(&mut panel, &fb.to_string()).await;
    send(&mut ws, &end_msg("c-log")).await;
    let out = until_summary(&mut ws, "c-log").await.join("\n");
    // The evidence quotes the customer's words back to the platform: the data is there, on the
    // wire, just not in the logs.
    assert!(out.contains("harto"));
    until_summary(&mut panel, "c-log").await;
    let body = json!({"call_id":"b-log","events":[
        {"type":"segment","segment_id":"s1","speaker":"customer","text":SECRET_WORDS,"start_ms":0,"end_ms":900}
    ]});
    let (status, _) = http_with(
        addr,
        "POST",
        "/v1/analyze",
        &bearer,
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn transcript_text_stays_out_of_logs_unless_asked_for() {
    let capture = Capture::default();
    let writer = capture.clone();
    // Everything at trace, through the filter `calma serve` uses (which caps the crates that log
    // whole frames).
    tracing_subscriber::fmt()
        .with_env_filter(calma::server::logging::filter(Some("trace"), false))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    run_call(keyed()).await;
    let logs = capture.take();
    // The capture works: the call was logged, by id.
    assert!(
        logs.contains("call started") && logs.contains("c-log"),
        "{logs}"
    );
    for words in [
        SECRET_WORDS,
        SECRET_AGENT_WORDS,
        "harto",
        "vergüenza",
        "supervisor",
        KEY,
        &token(),
    ] {
        if let Some(l) = logs.lines().find(|l| l.contains(words)) {
            panic!("`{words}` leaked into the logs: {l:.400}");
        }
    }

    run_call(Options {
        log_transcripts: true,
        ..keyed()
    })
    .await;
    let logs = capture.take();
    assert!(
        logs.contains(SECRET_WORDS),
        "--log-transcripts logs segment text"
    );
}
