//! Shared test helpers: an in-process server on an ephemeral port, a WebSocket client with
//! timeouts, a tiny HTTP/1.1 client (no extra dependency), and the labelled calls streamed the way
//! a platform does (partials about every second, ticks in silence, finals).

#![allow(dead_code)]

pub mod procs;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use calma::engine::Resources;
use calma::server::{start, Options, ServerHandle};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Every await in the tests is bounded by this.
pub const T: Duration = Duration::from_secs(10);

pub async fn server() -> ServerHandle {
    server_with(Options::default()).await
}

pub async fn server_with(opts: Options) -> ServerHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    timeout(T, start(Resources::embedded(), opts, listener))
        .await
        .expect("start in time")
        .expect("start")
}

pub async fn connect(addr: SocketAddr, path: &str) -> Ws {
    let url = format!("ws://{addr}{path}");
    let (ws, _) = timeout(T, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect in time")
        .expect("connect");
    ws
}

pub async fn send(ws: &mut Ws, text: &str) {
    timeout(T, ws.send(Message::text(text)))
        .await
        .expect("send in time")
        .expect("send");
}

pub async fn send_all(ws: &mut Ws, lines: &[String]) {
    for l in lines {
        send(ws, l).await;
    }
}

/// Next text frame (pings and pongs skipped). Panics on close or timeout.
pub async fn next_text(ws: &mut Ws) -> String {
    loop {
        let m = timeout(T, ws.next())
            .await
            .expect("a message in time")
            .expect("socket open")
            .expect("no socket error");
        match m {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

pub async fn next_json(ws: &mut Ws) -> Value {
    let t = next_text(ws).await;
    serde_json::from_str(&t).expect("server sends JSON")
}

/// Text frames up to and including the `call.summary` of `call_id`.
/// The next `error` message, skipping call traffic (state, nudges) that may arrive first.
pub async fn next_error(ws: &mut Ws) -> Value {
    loop {
        let m = next_json(ws).await;
        if m["type"] == "error" {
            return m;
        }
    }
}

pub async fn until_summary(ws: &mut Ws, call_id: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let t = next_text(ws).await;
        let v: Value = serde_json::from_str(&t).unwrap();
        let done = v["type"] == "call.summary" && v["call_id"] == call_id;
        out.push(t);
        if done {
            return out;
        }
    }
}

pub fn parse(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One HTTP/1.1 exchange with `Connection: close`; returns (status, body).
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    http_with(addr, method, path, &[], body).await
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let Some((size, rest)) = s.split_once("\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
}

/// Value of the sample `name{labels...}` in Prometheus text (labels in any order).
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if n != name {
            return None;
        }
        let have: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split(',').collect()
        };
        let all = labels
            .iter()
            .all(|(k, v)| have.contains(&format!("{k}=\"{v}\"").as_str()));
        (all && have.len() == labels.len()).then(|| value.parse().ok())?
    })
}

/// Poll `/healthz` until `field` reaches `want` (registrations happen just after the upgrade).
pub async fn wait_health(addr: SocketAddr, field: &str, want: i64) {
    let fut = async {
        loop {
            let (_, body) = http(addr, "GET", "/healthz", None).await;
            let v: Value = serde_json::from_str(&body).unwrap();
            if v[field].as_i64() == Some(want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    timeout(T, fut).await.expect("health condition in time");
}

/// A labelled call: its protocol messages (finals only) and the expectations a team lead wrote.
pub struct LabelledCall {
    pub name: String,
    pub messages: Vec<Value>,
    pub expect: Value,
}

pub fn calls_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/calls")
}

/// Labelled calls in `tests/calls` (finals only; the harness synthesises partials).
pub fn load_calls() -> Vec<LabelledCall> {
    load_dir(&calls_dir())
}

/// The second held-out set in `eval/holdout2` (see its use in tests/calls.rs).
pub fn load_holdout2() -> Vec<LabelledCall> {
    load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("eval/holdout2"))
}

/// The held-out set in `tests/holdout`: written blind to the implementation, already streamed
/// with the platform's own partials, latencies and ticks.
pub fn load_holdout() -> Vec<LabelledCall> {
    load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/holdout"))
}

fn load_dir(dir: &Path) -> Vec<LabelledCall> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            let messages = std::fs::read_to_string(&p)
                .unwrap()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let expect_path = p.with_extension("expect.json");
            let expect = serde_json::from_str(&std::fs::read_to_string(&expect_path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", expect_path.display()));
            LabelledCall {
                name: p.file_stem().unwrap().to_string_lossy().into_owned(),
                messages,
                expect,
            }
        })
        .collect()
}

/// Re-stream finals the way a live STT does: each final segment longer than a second is preceded
/// by partial revisions every `partial_every_ms` (text growing word by word, end_ms growing), all
/// messages ordered by the media time at which a platform would send them, with ticks every
/// second of silence. Existing ticks are dropped and regenerated.
pub fn as_live_stream(messages: &[Value], partial_every_ms: u64) -> Vec<Value> {
    calma::traffic::live_stream(messages, partial_every_ms).expect("a whole call")
}

pub fn level_rank(l: &str) -> u8 {
    match l {
        "calm" => 0,
        "tense" => 1,
        "frustrated" => 2,
        "angry" => 3,
        other => panic!("unknown level {other}"),
    }
}

/// How many individual label checks an expectation file asserts.
pub fn count_checks(expect: &Value) -> usize {
    let list = |k: &str| expect[k].as_array().map_or(0, |a| a.len());
    let present = |k: &str| usize::from(!expect[k].is_null());
    list("must_fire")
        + list("must_not_fire")
        + [
            "max_nudges",
            "peak_level_at_least",
            "peak_level_at_most",
            "end_level_at_most",
            "agent_interruptions_min",
            "agent_interruptions_max",
        ]
        .iter()
        .map(|k| present(k))
        .sum::<usize>()
}

/// Check outputs of one call against its expectations; returns the list of violations.
pub fn check_expectations(expect: &Value, outputs: &[Value]) -> Vec<String> {
    let mut bad = Vec::new();
    let fired: Vec<&str> = outputs
        .iter()
        .filter(|o| o["type"] == "nudge")
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    let summary = outputs
        .iter()
        .find(|o| o["type"] == "call.summary")
        .expect("a call.summary");
    for k in expect["must_fire"].as_array().into_iter().flatten() {
        let k = k.as_str().unwrap();
        if !fired.contains(&k) {
            bad.push(format!("expected `{k}` to fire; fired {fired:?}"));
        }
    }
    for k in expect["must_not_fire"].as_array().into_iter().flatten() {
        let k = k.as_str().unwrap();
        if fired.contains(&k) {
            bad.push(format!("`{k}` must not fire; fired {fired:?}"));
        }
    }
    if let Some(max) = expect["max_nudges"].as_u64() {
        if fired.len() as u64 > max {
            bad.push(format!("at most {max} nudges expected; fired {fired:?}"));
        }
    }
    let peak = summary["frustration_peak"]["level"].as_str().unwrap();
    let end = summary["frustration_end"]["level"].as_str().unwrap();
    if let Some(l) = expect["peak_level_at_least"].as_str() {
        if level_rank(peak) < level_rank(l) {
            bad.push(format!("peak level {peak}, expected at least {l}"));
        }
    }
    if let Some(l) = expect["peak_level_at_most"].as_str() {
        if level_rank(peak) > level_rank(l) {
            bad.push(format!("peak level {peak}, expected at most {l}"));
        }
    }
    if let Some(l) = expect["end_level_at_most"].as_str() {
        if level_rank(end) > level_rank(l) {
            bad.push(format!("end level {end}, expected at most {l}"));
        }
    }
    let by_agent = summary["interruptions"]["by_agent"].as_u64().unwrap();
    if let Some(n) = expect["agent_interruptions_min"].as_u64() {
        if by_agent < n {
            bad.push(format!(
                "{by_agent} agent interruptions, expected at least {n}"
            ));
        }
    }
    if let Some(n) = expect["agent_interruptions_max"].as_u64() {
        if by_agent > n {
            bad.push(format!(
                "{by_agent} agent interruptions, expected at most {n}"
            ));
        }
    }
    // Every nudge carries evidence, and every open nudge is cleared by the end.
    for o in outputs.iter().filter(|o| o["type"] == "nudge") {
        if o["evidence"].as_array().is_none_or(|e| e.is_empty()) {
            bad.push(format!("nudge without evidence: {o}"));
        }
        let id = &o["nudge_id"];
        if !outputs
            .iter()
            .any(|c| c["type"] == "nudge.clear" && c["nudge_id"] == *id)
        {
            bad.push(format!("nudge {id} never cleared"));
        }
    }
    bad
}

/// Connect a WebSocket with extra request headers (e.g. `Authorization`). `Err` carries the HTTP
/// status and body of a refused upgrade.
pub async fn try_connect_with(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Ws, (u16, String)> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    match timeout(T, tokio_tungstenite::connect_async(req))
        .await
        .expect("connect in time")
    {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err((status, body))
        }
        Err(e) => panic!("connect failed: {e}"),
    }
}

pub async fn connect_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Ws {
    match try_connect_with(addr, path, headers).await {
        Ok(ws) => ws,
        Err((status, body)) => panic!("upgrade refused: {status} {body}"),
    }
}

/// [`http`] with extra request headers.
pub async fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.expect("tcp connect");
        let body = body.unwrap_or("");
        let extra: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.expect("write request");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.expect("read response");
        let text = String::from_utf8(buf).expect("utf-8 response");
        let (head, body) = text.split_once("\r\n\r\n").expect("http response");
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        (
            status,
            if chunked {
                dechunk(body)
            } else {
                body.to_string()
            },
        )
    };
    timeout(T, fut).await.expect("http exchange in time")
}

/// Read until the socket is closed by the server (Close frame, error or end); returns the text
/// frames seen. Panics if it stays open past `T`.
pub async fn until_closed(ws: &mut Ws) -> Vec<String> {
    let mut texts = Vec::new();
    loop {
        match timeout(T, ws.next()).await.expect("closed in time") {
            Some(Ok(Message::Text(t))) => texts.push(t.to_string()),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return texts,
            Some(Ok(_)) => {}
        }
    }
}

pub fn start_msg(call_id: &str, agent_id: &str) -> String {
    json!({"type":"call.start","call_id":call_id,"agent_id":agent_id,"language":"es"}).to_string()
}

pub fn end_msg(call_id: &str) -> String {
    json!({"type":"call.end","call_id":call_id}).to_string()
}

/// A final segment message.
pub fn final_seg(
    call_id: &str,
    id: &str,
    speaker: &str,
    text: &str,
    start: u64,
    end: u64,
) -> String {
    json!({"type":"segment","call_id":call_id,"segment_id":id,"speaker":speaker,"text":text,
           "start_ms":start,"end_ms":end,"final":true})
    .to_string()
}

/// A short call whose customer gets angry (states and a nudge or two), without `call.end`.
pub fn angry_call(call_id: &str, agent_id: &str) -> Vec<String> {
    vec![
        start_msg(call_id, agent_id),
        final_seg(call_id, "s1", "agent", "buenos días le atiende nuria en qué puedo ayudarle", 0, 3000),
        final_seg(call_id, "s2", "customer", "llevo tres semanas esperando al técnico y no viene nadie es una vergüenza", 3500, 9000),
        // A cold answer (not a request for ID, which empathy advice waits out): show_empathy.
        final_seg(call_id, "s3", "agent", "los técnicos van según la agenda que tengan", 9500, 11000),
        final_seg(call_id, "s4", "customer", "estoy harto de llamar cada vez que llamo me dicen lo mismo quiero hablar con un supervisor", 11500, 18000),
        final_seg(call_id, "s5", "agent", "entiendo su enfado le mando un técnico mañana entre las nueve y las doce", 18500, 23000),
    ]
}
