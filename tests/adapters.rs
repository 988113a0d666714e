//! Platform adapters: sample calls rendered in every vendor format (tests/vendors/, see
//! render.py there) give the nudges of the same call in protocol v1, through the sans-IO
//! adapters and end to end over real HTTP / WebSocket with an agent panel connected.

mod common;

use std::path::PathBuf;

use futures_util::SinkExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use calma::adapters::{Adapter, Format, Settings};
use calma::engine::{Resources, Session};
use calma::protocol::{parse_inbound, Outbound, ParseLimits};
use calma::server::auth::AuthConfig;
use calma::server::Options;
use common::*;

/// The sample calls (tests/calls/<name>.jsonl) rendered by tests/vendors/render.py, with their
/// agent and campaign (vendors other than LCA carry no agent: the query names it).
const CALLS: [(&str, &str, &str); 2] = [
    ("03_es_angry_third_call_no_internet", "a-31", "tech-support"),
    ("05_ar_voseo_insults_firm_limit", "a-5", "default"),
];

fn vendors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vendors")
}

fn lines(dir: &str, call: &str) -> Vec<String> {
    let ext = if dir == "twilio" { "form" } else { "jsonl" };
    let path = vendors_dir().join(dir).join(format!("{call}.{ext}"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Query parameters a deployment of `format` passes for the call: what the vendor's payload
/// does not carry (agent, campaign; the call id for Deepgram and Transcribe; the language where
/// the vendor's start event has none).
fn query(format: Format, call: &str, agent: &str, campaign: &str) -> String {
    let mut q = format!("campaign={campaign}");
    if format != Format::AwsLca {
        q.push_str(&format!("&agent_id={agent}"));
    }
    if matches!(format, Format::Deepgram | Format::AwsTranscribe) {
        q.push_str(&format!("&call_id=c-{call}"));
    }
    if matches!(
        format,
        Format::AwsLca | Format::Genesys | Format::GoogleCcai | Format::Jambonz
    ) {
        q.push_str("&language=es");
    }
    q
}

fn pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What an agent notices of a nudge: its kind, severity, media time and text.
fn nudge_key(v: &Value) -> (String, String, u64, String) {
    (
        v["kind"].as_str().unwrap().to_string(),
        v["severity"].as_str().unwrap().to_string(),
        v["at_ms"].as_u64().unwrap(),
        v["text"].as_str().unwrap().to_string(),
    )
}

fn nudges(outs: &[Value]) -> Vec<(String, String, u64, String)> {
    outs.iter()
        .filter(|o| o["type"] == "nudge")
        .map(nudge_key)
        .collect()
}

fn json_of(outs: Vec<Outbound>) -> Vec<Value> {
    outs.iter()
        .map(|o| serde_json::from_str(&o.to_json()).unwrap())
        .collect()
}

/// The v1 stream of `call`, run through an engine session.
fn v1_outputs(call: &str) -> Vec<Value> {
    let mut session = Session::new(Resources::embedded(), 10);
    let limits = ParseLimits::default();
    let mut outs = Vec::new();
    for l in lines("v1", call) {
        outs.extend(session.handle(parse_inbound(&l, &limits).unwrap()).unwrap());
    }
    outs.extend(session.end_all());
    json_of(outs)
}

/// The vendor fixture of `call`, through the sans-IO adapter and an engine session.
fn adapted_outputs(format: Format, call: &str, agent: &str, campaign: &str) -> Vec<Value> {
    let settings = Settings::from_query(&pairs(&query(format, call, agent, campaign)));
    let mut adapter = Adapter::new(format, settings);
    let mut session = Session::new(Resources::embedded(), 10);
    let mut outs = Vec::new();
    for (i, l) in lines(format.name(), call).iter().enumerate() {
        let msgs = adapter
            .translate(l.as_bytes(), 0)
            .unwrap_or_else(|e| panic!("{format} line {}: {e}", i + 1));
        for m in msgs {
            outs.extend(session.handle(m).unwrap());
        }
    }
    outs.extend(session.end_all());
    json_of(outs)
}

#[test]
fn the_reference_calls_nudge_what_their_labels_require() {
    for (call, _, _) in CALLS {
        let expect: Value = serde_json::from_str(
            &std::fs::read_to_string(calls_dir().join(format!("{call}.expect.json"))).unwrap(),
        )
        .unwrap();
        let kinds: Vec<String> = nudges(&v1_outputs(call)).into_iter().map(|n| n.0).collect();
        for k in expect["must_fire"].as_array().unwrap() {
            assert!(kinds.iter().any(|x| x == k), "{call}: {k} not in {kinds:?}");
        }
    }
}

#[test]
fn every_vendor_format_gives_the_nudges_of_the_same_call_in_v1() {
    for (call, agent, campaign) in CALLS {
        let want = nudges(&v1_outputs(call));
        assert!(want.len() >= 2, "{call}: a call worth comparing");
        for format in Format::ALL {
            let outs = adapted_outputs(format, call, agent, campaign);
            assert_eq!(nudges(&outs), want, "{format} / {call}");
            let summary = outs.iter().find(|o| o["type"] == "call.summary").unwrap();
            assert_eq!(summary["agent_id"], agent, "{format} / {call}");
            assert_eq!(summary["campaign"], campaign, "{format} / {call}");
            assert_eq!(summary["language"], "es", "{format} / {call}");
        }
    }
}

#[test]
fn every_sample_utterance_arrives_whole_and_partials_stay_partials() {
    let (call, agent, campaign) = CALLS[0];
    let want = v1_outputs(call);
    let want_summary = want.iter().find(|o| o["type"] == "call.summary").unwrap();
    let want_revisions = want_summary["segments"].as_u64().unwrap();
    for format in Format::ALL {
        let outs = adapted_outputs(format, call, agent, campaign);
        let summary = outs.iter().find(|o| o["type"] == "call.summary").unwrap();
        // Same revisions, same talk: timing read identically. A Deepgram utterance closed by
        // `UtteranceEnd` has one revision more: its last chunk (partial), then the close.
        let closes = lines(format.name(), call)
            .iter()
            .filter(|l| l.contains(r#""type": "UtteranceEnd""#))
            .count() as u64;
        assert_eq!(summary["segments"], want_revisions + closes, "{format}");
        assert_eq!(
            summary["interruptions"], want_summary["interruptions"],
            "{format}"
        );
        let share = |s: &Value| s["talk_share"]["agent"].as_f64().unwrap();
        if format == Format::Twilio {
            // Twilio has timestamps only: an utterance starts at its first result, 0.4 s late
            // in these fixtures, which shifts talk time a little.
            let d = (share(summary) - share(want_summary)).abs();
            assert!(d <= 0.02, "twilio talk share off by {d}");
        } else {
            assert_eq!(share(summary), share(want_summary), "{format}");
        }
    }
}

/// Send every fixture line of `format` to a server as the vendor would; the outputs the
/// platform side received (HTTP 200 bodies or the stream socket).
async fn feed(
    addr: std::net::SocketAddr,
    format: Format,
    call: &str,
    q: &str,
    headers: &[(&str, &str)],
) -> Vec<Value> {
    let mut got = Vec::new();
    if matches!(format, Format::Deepgram | Format::AwsTranscribe) {
        let mut ws =
            connect_with(addr, &format!("/v1/stream/{}?{q}", format.name()), headers).await;
        send_all(&mut ws, &lines(format.name(), call)).await;
        // One call per connection: closing it ends the call.
        ws.send(Message::Close(None)).await.unwrap();
        for t in until_closed(&mut ws).await {
            got.push(serde_json::from_str(&t).unwrap());
        }
        return got;
    }
    for (i, l) in lines(format.name(), call).iter().enumerate() {
        let path = format!("/v1/ingest/{}?{q}", format.name());
        let (status, body) = http_with(addr, "POST", &path, headers, Some(l)).await;
        assert_eq!(status, 200, "{format} line {}: {body}", i + 1);
        let v: Value = serde_json::from_str(&body).unwrap();
        got.extend(v["outputs"].as_array().unwrap().iter().cloned());
    }
    got
}

/// Everything the agent panel receives up to the call's summary.
async fn panel_until_summary(panel: &mut Ws) -> Vec<Value> {
    let mut got = Vec::new();
    loop {
        let v = next_json(panel).await;
        let done = v["type"] == "call.summary";
        got.push(v);
        if done {
            return got;
        }
    }
}

#[tokio::test]
async fn every_platform_pointed_at_calma_shows_nudges_on_the_agent_panel() {
    let (call, agent, campaign) = CALLS[0];
    let want = nudges(&v1_outputs(call));
    // The fixtures are sent as fast as possible, not at speaking pace.
    let server = server_with(Options {
        max_segments_per_sec: 0,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let mut panel = connect(addr, &format!("/v1/agents/{agent}/nudges")).await;
    wait_health(addr, "agent_sockets", 1).await;
    for format in Format::ALL {
        let q = query(format, call, agent, campaign);
        let platform = feed(addr, format, call, &q, &[]).await;
        assert!(
            platform.iter().all(|o| o["type"] != "error"),
            "{format}: {:?}",
            platform.iter().find(|o| o["type"] == "error")
        );
        assert_eq!(nudges(&platform), want, "{format}: platform side");
        let seen = panel_until_summary(&mut panel).await;
        assert_eq!(nudges(&seen), want, "{format}: agent panel");
        let summary = seen.last().unwrap();
        assert_eq!(summary["agent_id"], agent, "{format}");
    }
    wait_health(addr, "active_calls", 0).await;
    server.shutdown().await;
}

#[tokio::test]
async fn webhooks_need_the_platform_key_and_calls_stay_in_their_tenant() {
    let opts = Options {
        auth: AuthConfig::open()
            .with_key("acme", "key-acme-0123456789")
            .with_key("globex", "key-globex-0123456789")
            .with_secret(b"0123456789abcdef0123456789abcdef"),
        ..Options::default()
    };
    let server = server_with(opts).await;
    let addr = server.local_addr();
    let body = lines("twilio", CALLS[0].0)[1].clone();
    let (status, _) = http(addr, "POST", "/v1/ingest/twilio?agent_id=a-31", Some(&body)).await;
    assert_eq!(status, 401);
    let acme = [("Authorization", "Bearer key-acme-0123456789")];
    let globex = [("Authorization", "Bearer key-globex-0123456789")];
    for l in &lines("twilio", CALLS[0].0)[..30] {
        let (status, _) = http_with(
            addr,
            "POST",
            "/v1/ingest/twilio?agent_id=a-31",
            &acme,
            Some(l),
        )
        .await;
        assert_eq!(status, 200);
    }
    // The same CallSid under another tenant is another call: it starts afresh there.
    let (status, body) = http_with(
        addr,
        "POST",
        "/v1/ingest/twilio?agent_id=a-31",
        &globex,
        Some(&lines("twilio", CALLS[0].0)[29]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    wait_health(addr, "active_calls", 2).await;
    let stop = lines("twilio", CALLS[0].0).last().unwrap().clone();
    let (_, body) = http_with(addr, "POST", "/v1/ingest/twilio", &acme, Some(&stop)).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    let summary = v["outputs"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(summary["type"], "call.summary");
    // Only acme's revisions: the one globex sent is not in acme's call.
    assert_eq!(summary["segments"], 29);
    wait_health(addr, "active_calls", 1).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_malformed_payload_is_refused_naming_the_field_and_nothing_else_changes() {
    let server = server().await;
    let addr = server.local_addr();
    let lca = lines("aws-lca", CALLS[0].0);
    for l in &lca[..10] {
        assert_eq!(
            http(addr, "POST", "/v1/ingest/aws-lca", Some(l)).await.0,
            200
        );
    }
    let cases: [(&str, &str, u16, &str, &str); 6] = [
        ("aws-lca", "{not json", 400, "bad_json", ""),
        ("aws-lca", r#"{"EventType":"ADD_TRANSCRIPT_SEGMENT","CallId":"x","Channel":"CALLER","StartTime":"ayer","Transcript":"hola"}"#, 422, "invalid_field", "StartTime"),
        ("contact-lens", r#"{"EventType":"SEGMENTS","ContactId":"c","Segments":[{"Transcript":{"Id":"t","ParticipantRole":"AGENT","BeginOffsetMillis":0}}]}"#, 422, "missing_field", "Segments[0].Transcript.Content"),
        ("google-ccai", r#"{"message":{"data":"bm90IGpzb24="}}"#, 422, "invalid_field", "message.data"),
        ("twilio", "TranscriptionEvent=transcription-content&CallSid=CA1&Track=inbound_track&TranscriptionData=%7Bnope", 422, "invalid_field", "TranscriptionData"),
        ("deepgram", r#"{"type":"Results","start":1,"channel":{"alternatives":[{"transcript":"hola"}]}}"#, 422, "missing_field", "call_id"),
    ];
    for (format, body, status, code, field) in cases {
        let (got, text) = http(addr, "POST", &format!("/v1/ingest/{format}"), Some(body)).await;
        assert_eq!(got, status, "{format}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (v["code"].as_str(), v["format"].as_str()),
            (Some(code), Some(format)),
            "{text}"
        );
        if !field.is_empty() {
            assert_eq!(v["field"], field, "{text}");
        }
    }
    let (status, text) = http(addr, "POST", "/v1/ingest/avaya", Some("{}")).await;
    assert_eq!(status, 404, "{text}");
    // The LCA call carried on: the rest of it still produces its nudges and summary.
    let mut rest = Vec::new();
    for l in &lca[10..] {
        let (status, body) = http(addr, "POST", "/v1/ingest/aws-lca?language=es", Some(l)).await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        rest.extend(v["outputs"].as_array().unwrap().iter().cloned());
    }
    assert!(rest.iter().any(|o| o["type"] == "nudge"));
    assert_eq!(rest.last().unwrap()["type"], "call.summary");
    server.shutdown().await;
}

#[tokio::test]
async fn a_bad_frame_on_a_vendor_stream_gets_an_error_and_the_call_goes_on() {
    let server = server().await;
    let addr = server.local_addr();
    let mut ws = connect(
        addr,
        "/v1/stream/deepgram?call_id=c-dg&agent_id=a-1&customer_channel=1",
    )
    .await;
    send(&mut ws, r#"{"type":"Results","channel_index":"left","start":0.5,"channel":{"alternatives":[{"transcript":"hola"}]}}"#).await;
    let e = next_error(&mut ws).await;
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("invalid_field"), Some("channel_index"))
    );
    send(&mut ws, r#"{"type":"Results","channel_index":[1,2],"start":0.5,"duration":1.0,"is_final":true,"speech_final":true,"channel":{"alternatives":[{"transcript":"quiero hablar con un supervisor ya"}]}}"#).await;
    send(&mut ws, r#"{"type":"call.end","call_id":"c-dg"}"#).await;
    let outs = until_summary(&mut ws, "c-dg").await;
    let summary: Value = serde_json::from_str(outs.last().unwrap()).unwrap();
    // customer_channel=1: channel 1 spoke, as the customer.
    assert_eq!(summary["segments"], 1);
    assert!(
        summary["talk_share"]["agent"].as_f64().unwrap() < 0.01,
        "{summary}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_idle_webhook_call_ends_with_a_summary_to_the_agent() {
    let opts = Options {
        idle_call_timeout: std::time::Duration::from_millis(300),
        tick_interval: std::time::Duration::from_millis(50),
        ..Options::default()
    };
    let server = server_with(opts).await;
    let addr = server.local_addr();
    let mut panel = connect(addr, "/v1/agents/a-7/nudges").await;
    wait_health(addr, "agent_sockets", 1).await;
    for l in &lines("jambonz", CALLS[0].0)[..20] {
        assert_eq!(
            http(
                addr,
                "POST",
                "/v1/ingest/jambonz?agent_id=a-7&language=es",
                Some(l)
            )
            .await
            .0,
            200
        );
    }
    // No completed status: the call expires instead.
    let seen = panel_until_summary(&mut panel).await;
    assert_eq!(seen.last().unwrap()["agent_id"], "a-7");
    wait_health(addr, "active_calls", 0).await;
    server.shutdown().await;
}

#[tokio::test]
async fn agent_feedback_reaches_a_webhook_call_and_lands_in_its_summary() {
    let (call, agent, campaign) = CALLS[0];
    let server = server().await;
    let addr = server.local_addr();
    let mut panel = connect(addr, &format!("/v1/agents/{agent}/nudges")).await;
    wait_health(addr, "agent_sockets", 1).await;
    let path = format!(
        "/v1/ingest/google-ccai?{}",
        query(Format::GoogleCcai, call, agent, campaign)
    );
    let all = lines("google-ccai", call);
    let mut sent = 0;
    let mut nudge = None;
    while nudge.is_none() {
        let (status, body) = http(addr, "POST", &path, Some(&all[sent])).await;
        assert_eq!(status, 200, "{body}");
        sent += 1;
        let v: Value = serde_json::from_str(&body).unwrap();
        nudge = v["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["type"] == "nudge")
            .cloned();
    }
    let nudge = nudge.unwrap();
    let fb = serde_json::json!({"type":"feedback","call_id":nudge["call_id"],
        "nudge_id":nudge["nudge_id"],"useful":true});
    send(&mut panel, &fb.to_string()).await;
    let kind = nudge["kind"].as_str().unwrap();
    let counted = async {
        loop {
            let (_, text) = http(addr, "GET", "/metrics", None).await;
            // `tech-support` is not in the (embedded) configuration: its label is `other`.
            let label = if campaign == "default" {
                campaign
            } else {
                "other"
            };
            let labels = [("kind", kind), ("campaign", label), ("useful", "true")];
            if metric(&text, "calma_feedback_total", &labels) == Some(1.0) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(T, counted)
        .await
        .expect("feedback applied");
    for l in &all[sent..] {
        assert_eq!(http(addr, "POST", &path, Some(l)).await.0, 200);
    }
    let seen = panel_until_summary(&mut panel).await;
    let summary = seen.last().unwrap();
    let rated = summary["nudges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["nudge_id"] == nudge["nudge_id"])
        .unwrap();
    assert_eq!(rated["useful"], true, "{summary}");
    assert_eq!(summary["feedback"]["useful"], 1);
    server.shutdown().await;
}

#[test]
fn the_campaign_config_maps_roles_per_format_when_the_request_does_not() {
    let cfg = calma::config::Config::from_toml(
        "[campaigns.swapped.adapters.aws-transcribe]\ncustomer_channel = \"ch_1\"\n",
    )
    .unwrap();
    let frame = r#"{"Transcript":{"Results":[{"ResultId":"r","StartTime":1,"EndTime":2,
        "IsPartial":false,"ChannelId":"ch_1","Alternatives":[{"Transcript":"no me funciona"}]}]}}"#;
    let speaker = |settings: Settings| {
        let mut a = Adapter::new(Format::AwsTranscribe, settings);
        let msgs = a.translate(frame.as_bytes(), 0).unwrap();
        match &msgs[1] {
            calma::protocol::Inbound::Segment(s) => s.speaker,
            other => panic!("{other:?}"),
        }
    };
    let adapters = &cfg.campaign("swapped").adapters;
    let base = Settings::from_query(&pairs("call_id=c-1&campaign=swapped"));
    let swapped = base.clone().with_campaign(adapters, Format::AwsTranscribe);
    assert_eq!(speaker(base.clone()), calma::protocol::Speaker::Agent);
    assert_eq!(speaker(swapped), calma::protocol::Speaker::Customer);
    // The query wins over the campaign.
    let q = Settings::from_query(&pairs("call_id=c-1&campaign=swapped&customer_channel=ch_0"));
    let q = q.with_campaign(adapters, Format::AwsTranscribe);
    assert_eq!(speaker(q), calma::protocol::Speaker::Agent);
    // The same campaign's other feeds keep their own convention: Genesys is untouched.
    let genesys = base.with_campaign(adapters, Format::Genesys);
    assert_eq!(genesys.customer_channel, None);
    // A mapping naming another format's channel is a configuration error.
    let bad = calma::config::Config::from_toml(
        "[campaigns.x.adapters.genesys]\ncustomer_channel = \"ch_1\"\n",
    )
    .unwrap_err();
    assert!(bad.to_string().contains("customer_channel"), "{bad}");
    let unknown = calma::config::Config::from_toml(
        "[campaigns.x.adapters.avaya]\ncustomer_channel = \"1\"\n",
    )
    .unwrap_err();
    assert!(unknown.to_string().contains("avaya"), "{unknown}");
}

#[tokio::test]
async fn shutdown_ends_open_webhook_calls_with_summaries_to_the_agent() {
    let server = server().await;
    let addr = server.local_addr();
    let mut panel = connect(addr, "/v1/agents/a-31/nudges").await;
    wait_health(addr, "agent_sockets", 1).await;
    let path = "/v1/ingest/contact-lens?agent_id=a-31&campaign=tech-support";
    for l in &lines("contact-lens", CALLS[0].0)[..40] {
        assert_eq!(http(addr, "POST", path, Some(l)).await.0, 200);
    }
    wait_health(addr, "active_calls", 1).await;
    let report = tokio::spawn(server.shutdown());
    let seen = panel_until_summary(&mut panel).await;
    let summary = seen.last().unwrap();
    assert_eq!(summary["agent_id"], "a-31");
    assert!(summary["segments"].as_u64().unwrap() > 0, "{summary}");
    report.await.unwrap();
}

/// The outputs of POSTing `bodies` to `/v1/ingest/{format}?{q}`, each answered 200.
async fn post_all(
    addr: std::net::SocketAddr,
    format: &str,
    q: &str,
    bodies: &[String],
) -> Vec<Value> {
    let mut got = Vec::new();
    for (i, b) in bodies.iter().enumerate() {
        let (status, body) = http(addr, "POST", &format!("/v1/ingest/{format}?{q}"), Some(b)).await;
        assert_eq!(status, 200, "{format} body {}: {body}", i + 1);
        let v: Value = serde_json::from_str(&body).unwrap();
        got.extend(v["outputs"].as_array().unwrap().iter().cloned());
    }
    got
}

fn summary_of(outs: &[Value]) -> Value {
    outs.iter()
        .find(|o| o["type"] == "call.summary")
        .cloned()
        .expect("a summary")
}

#[tokio::test]
async fn a_role_override_naming_no_channel_of_the_format_is_refused_not_silent() {
    let server = server().await;
    let addr = server.local_addr();
    let cases = [
        ("genesys", "customer_channel=ch_1", "customer_channel"),
        ("jambonz", "customer_channel=ch_1", "customer_channel"),
        ("google-ccai", "customer_channel=1", "customer_channel"),
        ("twilio", "customer_track=left", "customer_track"),
        (
            "deepgram",
            "call_id=c&customer_speaker=uno",
            "customer_speaker",
        ),
    ];
    let body = lines("jambonz", CALLS[0].0)[1].clone();
    for (format, q, field) in cases {
        let (status, text) = http(
            addr,
            "POST",
            &format!("/v1/ingest/{format}?{q}"),
            Some(&body),
        )
        .await;
        assert_eq!(status, 422, "{format}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (v["code"].as_str(), v["field"].as_str()),
            (Some("invalid_field"), Some(field)),
            "{text}"
        );
    }
    let refused = try_connect_with(
        addr,
        "/v1/stream/aws-transcribe?call_id=c&customer_channel=EXTERNAL",
        &[],
    )
    .await;
    let Err((status, text)) = refused else {
        panic!("refused before the upgrade");
    };
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("customer_channel"), "{text}");
    // Nothing started.
    wait_health(addr, "active_calls", 0).await;
    server.shutdown().await;
}

#[tokio::test]
async fn retried_and_redelivered_webhooks_count_once() {
    let (call, agent, campaign) = CALLS[0];
    let want = v1_outputs(call);
    let want_summary = summary_of(&want);
    let server = server_with(Options {
        max_segments_per_sec: 0,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    for format in [Format::Twilio, Format::GoogleCcai] {
        // Every delivery twice (a retry after a lost 200), and each final followed by a late
        // copy of the hypothesis before it (Pub/Sub does not keep order across topics).
        let all = lines(format.name(), call);
        let mut bodies = Vec::new();
        let mut last_partial: Option<String> = None;
        for l in &all {
            bodies.push(l.clone());
            bodies.push(l.clone());
            let is_final =
                l.contains("Final=true") || decoded_type(l) == Some("NEW_MESSAGE".into());
            if is_final {
                if let Some(p) = last_partial.take() {
                    bodies.push(p);
                }
            } else if l.contains("Final=false")
                || decoded_type(l) == Some("NEW_RECOGNITION_RESULT".into())
            {
                last_partial = Some(l.clone());
            }
        }
        let q = query(format, call, agent, campaign);
        let outs = post_all(addr, format.name(), &q, &bodies).await;
        let summary = summary_of(&outs);
        assert_eq!(
            summary["segments"], want_summary["segments"],
            "{format}: {summary}"
        );
        assert_eq!(nudges(&outs), nudges(&want), "{format}");
        // A final redelivered after the call ended starts no ghost call.
        let late = all
            .iter()
            .rev()
            .find(|l| l.contains("Final=true") || decoded_type(l) == Some("NEW_MESSAGE".into()));
        let outs = post_all(addr, format.name(), &q, &[late.unwrap().clone()]).await;
        assert!(outs.is_empty(), "{format}: {outs:?}");
        wait_health(addr, "active_calls", 0).await;
    }
    wait_health(addr, "active_calls", 0).await;
    server.shutdown().await;
}

/// The `type` of the ConversationEvent in a Pub/Sub push body (`None` for other bodies).
fn decoded_type(line: &str) -> Option<String> {
    use base64::Engine as _;
    let v: Value = serde_json::from_str(line).ok()?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(v["message"]["data"].as_str()?)
        .ok()?;
    let ev: Value = serde_json::from_slice(&data).ok()?;
    ev["type"].as_str().map(str::to_string)
}

#[tokio::test]
async fn genesys_topics_other_than_transcription_are_ignored() {
    let server = server().await;
    let addr = server.local_addr();
    let heartbeat =
        r#"{"topicName":"channel.metadata","eventBody":{"message":"WebSocket Heartbeat"}}"#;
    let other = r#"{"topicName":"v2.conversations.conv-7.participants","eventBody":{"conversationId":"conv-7","participants":[]}}"#;
    for body in [heartbeat, other] {
        let (status, text) =
            http(addr, "POST", "/v1/ingest/genesys?agent_id=a-1", Some(body)).await;
        assert_eq!((status, text.as_str()), (200, r#"{"outputs":[]}"#));
    }
    let mut ws = connect(addr, "/v1/stream/genesys?agent_id=a-1").await;
    send(&mut ws, heartbeat).await;
    // The transcription topic still works on the same socket, and no error came first.
    let body = lines("genesys", CALLS[0].0)[1].clone();
    send(&mut ws, &body).await;
    let first = next_json(&mut ws).await;
    assert_ne!(first["type"], "error", "{first}");
    wait_health(addr, "active_calls", 1).await;
    ws.send(Message::Close(None)).await.unwrap();
    until_closed(&mut ws).await;
    wait_health(addr, "active_calls", 0).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_v1_call_end_ends_a_twilio_call() {
    let server = server_with(Options {
        max_segments_per_sec: 0,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let all = lines("twilio", CALLS[0].0);
    let sid = all[0]
        .split('&')
        .find_map(|kv| kv.strip_prefix("CallSid="))
        .unwrap()
        .to_string();
    post_all(addr, "twilio", "agent_id=a-31", &all[..30]).await;
    let end = format!(r#"{{"type":"call.end","call_id":"{sid}"}}"#);
    let outs = post_all(addr, "twilio", "", &[end]).await;
    assert_eq!(outs.last().unwrap()["type"], "call.summary", "{outs:?}");
    wait_health(addr, "active_calls", 0).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_vendor_start_that_fails_validation_is_forgotten() {
    let server = server().await;
    let addr = server.local_addr();
    // An agent id over the limit: the call's start is refused, its segment is not malformed.
    let agent = "a".repeat(300);
    let mut ws = connect(addr, &format!("/v1/stream/genesys?agent_id={agent}")).await;
    let body = serde_json::json!({"conversationId":"conv-1","transcripts":[{"utteranceId":"u1",
        "isFinal":true,"channel":"EXTERNAL","alternatives":[{"offsetMs":100,"durationMs":900,
        "transcript":"hola"}]}]})
    .to_string();
    for _ in 0..2 {
        send(&mut ws, &body).await;
        // Each frame retries the start, refused naming the field (a refused start that stayed
        // known answered later frames with `unknown_call` only), then its segment has no call.
        let e = next_error(&mut ws).await;
        assert_eq!(e["code"], "invalid_field", "{e}");
        assert!(e["message"].as_str().unwrap().contains("agent_id"), "{e}");
        let e = next_error(&mut ws).await;
        assert_eq!(e["code"], "unknown_call", "{e}");
    }
    wait_health(addr, "active_calls", 0).await;
    server.shutdown().await;
}

#[tokio::test]
async fn webhook_calls_have_the_per_call_segment_limit() {
    let server = server_with(Options {
        max_segments_per_sec: 2,
        segment_rate_window: std::time::Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let all = lines("twilio", CALLS[0].0);
    let outs = post_all(addr, "twilio", "agent_id=a-31", &all[..20]).await;
    let limited: Vec<&Value> = outs
        .iter()
        .filter(|o| o["code"] == "rate_limited")
        .collect();
    assert!(!limited.is_empty(), "{outs:?}");
    assert!(limited[0]["call_id"].as_str().unwrap().starts_with("CA"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_webhook_callers_number_brings_their_history_to_the_agent() {
    let server = server_with(Options {
        max_segments_per_sec: 0,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let all = lines("jambonz", CALLS[0].0);
    let sid: Value = serde_json::from_str(&all[0]).unwrap();
    let sid = sid["call_sid"].as_str().unwrap().to_string();
    for n in 1..=2 {
        let bodies: Vec<String> = all
            .iter()
            .map(|l| l.replace(&sid, &format!("call-{n}")))
            .collect();
        let outs = post_all(addr, "jambonz", "agent_id=a-77&language=es", &bodies).await;
        summary_of(&outs);
    }
    server.state().store.flush();
    let mut panel = connect(addr, "/v1/agents/a-77/nudges").await;
    wait_health(addr, "agent_sockets", 1).await;
    let first = all[1].replace(&sid, "call-3");
    post_all(addr, "jambonz", "agent_id=a-77&language=es", &[first]).await;
    let ctx = next_json(&mut panel).await;
    assert_eq!(
        (ctx["type"].as_str(), ctx["call_id"].as_str()),
        (Some("context"), Some("call-3")),
        "{ctx}"
    );
    assert_eq!(ctx["contacts_7d"], 2, "{ctx}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_diarized_mono_deepgram_feed_maps_the_customer_speaker() {
    let server = server().await;
    let addr = server.local_addr();
    let mut ws = connect(
        addr,
        "/v1/stream/deepgram?call_id=c-mono&agent_id=a-1&customer_speaker=1",
    )
    .await;
    let result = |speaker: u32, start: f64, text: &str| {
        let words: Vec<Value> = text
            .split(' ')
            .enumerate()
            .map(|(i, w)| {
                serde_json::json!({"word":w,"start":start + i as f64 * 0.3,
                "end":start + i as f64 * 0.3 + 0.25,"speaker":speaker})
            })
            .collect();
        serde_json::json!({"type":"Results","channel_index":[0,1],"start":start,"duration":2.0,
            "is_final":true,"speech_final":true,
            "channel":{"alternatives":[{"transcript":text,"words":words}]}})
        .to_string()
    };
    // Speaker 1 (the customer) talks four times as long as speaker 0 (the agent).
    send(&mut ws, &result(0, 0.5, "buenas tardes")).await;
    for i in 0..4 {
        let start = 3.0 + f64::from(i) * 2.5;
        send(
            &mut ws,
            &result(1, start, "no me funciona internet desde ayer"),
        )
        .await;
    }
    send(&mut ws, r#"{"type":"call.end","call_id":"c-mono"}"#).await;
    let outs = until_summary(&mut ws, "c-mono").await;
    let summary: Value = serde_json::from_str(outs.last().unwrap()).unwrap();
    assert_eq!(summary["segments"], 5, "{summary}");
    let agent = summary["talk_share"]["agent"].as_f64().unwrap();
    assert!(agent > 0.1 && agent < 0.3, "{summary}");
    server.shutdown().await;
}
