//! Issue 12, part B, over real sockets: HTTP timeouts and the cap on HTTP connections
//! (slowloris), bounded metric labels and the metrics key, the Origin allow-list and dev-mode
//! Host check (cross-site WebSocket hijacking, DNS rebinding), the admin key, the token
//! lifetime cap, and the `/v1/analyze` concurrency and body limits.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use calma::server::auth::{mint_token, unix_now, AuthConfig, Claims, Role};
use calma::server::Options;
use common::*;

const SECRET: &str = "test-secret-0123456789abcdef0123";
const PLATFORM_KEY: &str = "key-one-0123456789";

fn secured() -> Options {
    Options {
        auth: AuthConfig::from_values(Some(&format!("t1:{PLATFORM_KEY}")), Some(SECRET)).unwrap(),
        ..Options::default()
    }
}

fn token(role: Role, sub: &str, iat: Option<u64>, exp: u64) -> String {
    let c = Claims {
        tenant: "t1".into(),
        sub: sub.into(),
        role,
        exp,
        nbf: None,
        iat,
    };
    mint_token(SECRET.as_bytes(), &c)
}

/// Send `request` as is and read until the server closes; (status, body). `None` if the server
/// closed without answering.
async fn raw(addr: SocketAddr, request: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    timeout(T, s.read_to_end(&mut buf))
        .await
        .expect("the server answers and closes in time")
        .ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// A WebSocket upgrade request for `path` with the given `Host` and optional `Origin`.
fn upgrade_request(path: &str, host: &str, origin: Option<&str>) -> String {
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{origin}Connection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

/// The status line of an upgrade attempt (101 when the socket opens), and the error code of
/// a refusal's JSON body.
async fn try_upgrade(
    addr: SocketAddr,
    path: &str,
    host: &str,
    origin: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(upgrade_request(path, host, origin).as_bytes())
        .await
        .expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // A 101 keeps the socket open: read the head only, then the body of a refusal.
    loop {
        let n = timeout(T, s.read(&mut chunk))
            .await
            .expect("an answer in time")
            .expect("read");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if status == 101 || body.len() >= len || n == 0 {
                let code = serde_json::from_str::<Value>(body)
                    .map(|v| v["code"].as_str().unwrap_or("").to_string())
                    .unwrap_or_default();
                return (status, code);
            }
        }
        assert!(n > 0, "closed before a full answer");
    }
}

fn code_of(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON body: {body}"));
    assert_eq!(v["type"], "error", "{body}");
    v["code"].as_str().unwrap().to_string()
}

/// Read until the server closes the socket (bounded by `T`): Ok = closed.
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut sink = Vec::new();
    timeout(T, s.read_to_end(&mut sink)).await.is_ok()
}

// ---- Finding 3: HTTP timeouts and the cap on HTTP connections --------------------------------

#[tokio::test]
async fn unfinished_request_headers_are_closed_after_the_header_timeout() {
    let server = server_with(Options {
        header_read_timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut s).await,
        "a request whose headers never finish must be closed by the server"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let server = server_with(Options {
        header_read_timeout: Duration::from_secs(60),
        http_idle_timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // The response arrives on a connection that stays open (keep-alive)...
    let mut buf = vec![0u8; 4096];
    let n = timeout(T, s.read(&mut buf)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // ...until it has been idle for the idle timeout, well before the header timeout.
    assert!(
        closed_by_server(&mut s).await,
        "an idle keep-alive connection must be closed"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn half_open_requests_cannot_starve_healthz() {
    let cap = 20;
    let server = server_with(Options {
        header_read_timeout: Duration::from_secs(1),
        max_http_connections: cap,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let mut half_open = Vec::new();
    for _ in 0..cap {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .unwrap();
        half_open.push(s);
    }
    // With every HTTP slot held, a new connection is refused at once with a typed 503.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    timeout(T, s.read_to_end(&mut buf))
        .await
        .expect("refused quickly")
        .expect("read");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    let body = text.split_once("\r\n\r\n").unwrap().1;
    assert_eq!(code_of(body), "too_many_connections");
    // The half-open ones time out, and /healthz answers again.
    for s in &mut half_open {
        assert!(closed_by_server(s).await);
    }
    let health = async {
        loop {
            if let Some((200, _)) = raw(
                addr,
                &format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
            )
            .await
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    timeout(T, health).await.expect("/healthz answers again");
    server.shutdown().await;
}

/// The cap counts connections still speaking plain HTTP: upgraded WebSockets give their slot
/// back (they are counted against `max_connections` instead).
#[tokio::test]
async fn upgraded_sockets_do_not_hold_http_slots() {
    let server = server_with(Options {
        max_http_connections: 2,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let mut sockets = Vec::new();
    for _ in 0..4 {
        sockets.push(connect(addr, "/v1/stream").await);
    }
    wait_health(addr, "connections", 4).await;
    let (status, _) = http(addr, "GET", "/healthz", None).await;
    assert_eq!(status, 200);
    drop(sockets);
    server.shutdown().await;
}

// ---- Finding 5: bounded metric labels, metrics key ------------------------------------------

/// 1,000 calls, each with a campaign name of its own and one nudge the platform rates: the
/// feedback counter keeps one `campaign` series (`other`), not 1,000; a configured campaign
/// (`default`) keeps its own label.
#[tokio::test]
async fn random_campaign_names_do_not_create_metric_series() {
    let server = server_with(Options {
        max_calls_per_connection: 2000,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let mut ws = connect(addr, "/v1/stream").await;
    let n = 1000;
    for i in 0..n {
        let call = format!("c-{i}");
        let campaign = if i == 0 {
            "default".to_string()
        } else {
            format!("campaign-{i}-{}", unix_now())
        };
        let start = json!({"type":"call.start","call_id":call,"agent_id":"a-1","language":"es",
                           "campaign":campaign});
        send(&mut ws, &start.to_string()).await;
        let seg = json!({"type":"segment","call_id":call,"segment_id":"s1","speaker":"customer",
                         "text":"eres una inútil no sabes hacer nada","start_ms":500,"end_ms":3000,
                         "final":true});
        send(&mut ws, &seg.to_string()).await;
    }
    let mut nudge_of: HashMap<String, String> = HashMap::new();
    while nudge_of.len() < n {
        let m = next_json(&mut ws).await;
        if m["type"] == "nudge" {
            let call = m["call_id"].as_str().unwrap().to_string();
            nudge_of
                .entry(call)
                .or_insert_with(|| m["nudge_id"].as_str().unwrap().to_string());
        }
    }
    for (call, nudge) in &nudge_of {
        let fb = json!({"type":"feedback","call_id":call,"nudge_id":nudge,"useful":true});
        send(&mut ws, &fb.to_string()).await;
    }
    for i in 0..n {
        send(&mut ws, &end_msg(&format!("c-{i}"))).await;
    }
    let mut summaries = 0;
    while summaries < n {
        if next_json(&mut ws).await["type"] == "call.summary" {
            summaries += 1;
        }
    }
    let (_, text) = http(addr, "GET", "/metrics", None).await;
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("calma_feedback_total{"))
        .collect();
    assert!(
        !series.is_empty() && series.len() < 10,
        "{} feedback series",
        series.len()
    );
    let count = |campaign: &str| -> f64 {
        series
            .iter()
            .filter(|l| l.contains(&format!(r#"campaign="{campaign}""#)))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
            .sum()
    };
    // Every rating is still counted, under a configured name or `other`.
    assert_eq!(count("default"), 1.0, "{series:?}");
    assert_eq!(count("other"), (n - 1) as f64, "{series:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn metrics_can_require_a_key() {
    let server = server_with(Options {
        metrics_key: Some("metrics-key-0123456789".into()),
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let (status, body) = http(addr, "GET", "/metrics", None).await;
    assert_eq!((status, code_of(&body).as_str()), (401, "unauthorized"));
    let (status, _) = http_with(
        addr,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer metrics-key-012345678")],
        None,
    )
    .await;
    assert_eq!(status, 401);
    let (status, text) = http_with(
        addr,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer metrics-key-0123456789")],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(text.contains("calma_connections"));
    // Health stays open for load balancers.
    assert_eq!(http(addr, "GET", "/healthz", None).await.0, 200);
    server.shutdown().await;
}

// ---- Finding 6: Origin allow-list, dev-mode Host names ---------------------------------------

#[tokio::test]
async fn dev_mode_refuses_cross_site_sockets_posts_and_rebound_host_names() {
    let server = server().await;
    let addr = server.local_addr();
    let own = format!("http://{addr}");
    let host = addr.to_string();
    // A page of another origin cannot open the supervisor feed or an agent panel...
    for path in ["/v1/supervisor", "/v1/agents/a-1/nudges", "/v1/stream"] {
        assert_eq!(
            try_upgrade(addr, path, &host, Some("https://evil.example")).await,
            (403, "forbidden".to_string()),
            "{path}"
        );
    }
    // ...while calma's own pages and platforms (no Origin) can.
    assert_eq!(
        try_upgrade(addr, "/v1/supervisor", &host, Some(&own))
            .await
            .0,
        101
    );
    assert_eq!(
        try_upgrade(addr, "/v1/supervisor", &host, None).await.0,
        101
    );
    // DNS rebinding: evil.example resolving to 127.0.0.1 is same-origin for the browser, but
    // dev mode serves only loopback host names.
    let rebound = upgrade_request(
        "/v1/supervisor",
        "evil.example:8080",
        Some("http://evil.example:8080"),
    );
    let (status, body) = raw(addr, &rebound).await.unwrap();
    assert_eq!((status, code_of(&body).as_str()), (403, "forbidden"));
    let (status, body) = raw(
        addr,
        "GET /v1/calls/c-1 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!((status, code_of(&body).as_str()), (403, "forbidden"));
    // A cross-site text/plain POST (no preflight) reloads nothing and analyses nothing.
    for path in ["/v1/admin/reload", "/v1/analyze"] {
        let (status, body) = http_with(
            addr,
            "POST",
            path,
            &[("Origin", "https://evil.example")],
            Some(r#"{"call_id":"x","events":[]}"#),
        )
        .await;
        assert_eq!(
            (status, code_of(&body).as_str()),
            (403, "forbidden"),
            "{path}"
        );
    }
    // Reload from loopback with no Origin, or calma's own, still works in dev mode.
    assert_eq!(http(addr, "POST", "/v1/admin/reload", None).await.0, 200);
    let (status, _) = http_with(
        addr,
        "POST",
        "/v1/admin/reload",
        &[("Origin", own.as_str())],
        None,
    )
    .await;
    assert_eq!(status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn authenticated_sockets_check_origin_and_the_allow_list_admits_a_softphone() {
    let server = server_with(Options {
        allowed_origins: calma::server::guard::parse_origins(Some("https://softphone.example")),
        ..secured()
    })
    .await;
    let addr = server.local_addr();
    let host = addr.to_string();
    let agent = token(Role::Agent, "a-1", Some(unix_now()), unix_now() + 600);
    let sup = token(Role::Supervisor, "s-1", Some(unix_now()), unix_now() + 600);
    let panel = format!("/v1/agents/a-1/nudges?access_token={agent}");
    let board = format!("/v1/supervisor?access_token={sup}");
    // A valid token does not make a cross-site page welcome.
    for path in [&panel, &board] {
        assert_eq!(
            try_upgrade(addr, path, &host, Some("https://evil.example")).await,
            (403, "forbidden".to_string())
        );
        assert_eq!(
            try_upgrade(addr, path, &host, Some("https://softphone.example"))
                .await
                .0,
            101
        );
        assert_eq!(try_upgrade(addr, path, &host, None).await.0, 101);
    }
    // In authenticated mode any Host is fine (a real name behind a proxy).
    assert_eq!(
        try_upgrade(
            addr,
            &panel,
            "calma.internal.example",
            Some("https://calma.internal.example")
        )
        .await
        .0,
        101
    );
    // A softphone origin is no admin console.
    let (status, body) = http_with(
        addr,
        "POST",
        "/v1/admin/reload",
        &[("Origin", "https://softphone.example")],
        None,
    )
    .await;
    assert_eq!((status, code_of(&body).as_str()), (403, "forbidden"));
    // A platform with no Origin header streams as before.
    let mut req = format!("ws://{addr}/v1/stream")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Authorization",
        HeaderValue::from_str(&format!("Bearer {PLATFORM_KEY}")).unwrap(),
    );
    let (mut ws, _) = timeout(T, tokio_tungstenite::connect_async(req))
        .await
        .unwrap()
        .unwrap();
    send(&mut ws, &start_msg("c-1", "a-1")).await;
    send(&mut ws, &end_msg("c-1")).await;
    until_summary(&mut ws, "c-1").await;
    drop(ws);
    server.shutdown().await;
}

// ---- Finding 7: the admin key ----------------------------------------------------------------

#[tokio::test]
async fn only_the_admin_key_reloads_the_process() {
    let server = server_with(Options {
        auth: secured().auth.with_admin_key("admin-key-0123456789"),
        ..secured()
    })
    .await;
    let addr = server.local_addr();
    for _ in 0..3 {
        let (status, body) = http_with(
            addr,
            "POST",
            "/v1/admin/reload",
            &[("Authorization", &format!("Bearer {PLATFORM_KEY}"))],
            None,
        )
        .await;
        assert_eq!((status, code_of(&body).as_str()), (403, "forbidden"));
        assert!(body.contains("CALMA_ADMIN_KEY"), "{body}");
    }
    let (status, body) = http_with(
        addr,
        "POST",
        "/v1/admin/reload",
        &[("Authorization", "Bearer admin-key-0123456789")],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The admin key is not a platform key.
    let (status, _) = http_with(
        addr,
        "POST",
        "/v1/analyze",
        &[("Authorization", "Bearer admin-key-0123456789")],
        Some(r#"{"call_id":"x","events":[]}"#),
    )
    .await;
    assert_eq!(status, 401);
    server.shutdown().await;
}

// ---- Finding 8: token lifetime -----------------------------------------------------------------

#[tokio::test]
async fn tokens_living_longer_than_the_maximum_are_refused() {
    let server = server_with(secured()).await;
    let addr = server.local_addr();
    let host = addr.to_string();
    let now = unix_now();
    let year_3000 = 32_503_680_000;
    for t in [
        token(Role::Agent, "a-1", None, year_3000),
        token(Role::Agent, "a-1", Some(now), year_3000),
        token(Role::Agent, "a-1", Some(now - 60), now + 13 * 3600),
    ] {
        let path = format!("/v1/agents/a-1/nudges?access_token={t}");
        let (status, body) = raw(
            addr,
            &upgrade_request(&path, &host, None)
                .replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"),
        )
        .await
        .unwrap();
        assert_eq!((status, code_of(&body).as_str()), (401, "unauthorized"));
        assert!(body.contains("lifetime"), "{body}");
    }
    // A shift-long token is fine.
    let ok = token(Role::Agent, "a-1", Some(now), now + 8 * 3600);
    let path = format!("/v1/agents/a-1/nudges?access_token={ok}");
    assert_eq!(try_upgrade(addr, &path, &host, None).await.0, 101);
    server.shutdown().await;
}

#[test]
fn the_token_command_refuses_a_ttl_above_the_maximum() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_calma"))
            .args(["token", "--sub", "a-1", "--role", "agent"])
            .args(args)
            .env("CALMA_TOKEN_SECRET", SECRET)
            .env_remove("CALMA_MAX_TOKEN_TTL_SECS")
            .output()
            .unwrap()
    };
    let out = run(&["--ttl", "86400"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ttl"));
    // The default is short and verifies.
    let out = run(&[]);
    assert!(out.status.success());
    let t = String::from_utf8(out.stdout).unwrap();
    let c = AuthConfig::open()
        .with_secret(SECRET.as_bytes())
        .verify(t.trim())
        .unwrap();
    assert!(c.exp <= unix_now() + 3600);
}

// ---- Finding 9: /v1/analyze concurrency and body limits ---------------------------------------

#[tokio::test]
async fn analyze_refuses_beyond_its_concurrency_and_body_limits() {
    let server = server_with(Options {
        max_analyze_concurrency: 1,
        analyze_body_limit: 4096,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let body = json!({"call_id":"b-1","events":[
        {"type":"segment","segment_id":"s1","speaker":"customer","text":"hola buenas","start_ms":0,"end_ms":900}
    ]})
    .to_string();
    // One analysis in flight: its body is still arriving.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/analyze HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body.as_bytes()[..10]).await.unwrap();
    // Another one is refused with a typed 429 (retried until the slow one holds the slot).
    let busy = async {
        loop {
            let (status, resp) = http(addr, "POST", "/v1/analyze", Some(&body)).await;
            if status == 429 {
                return resp;
            }
            assert_eq!(status, 200, "{resp}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let resp = timeout(T, busy)
        .await
        .expect("a 429 while the slot is held");
    assert_eq!(code_of(&resp), "busy");
    // The slow one completes normally and frees the slot.
    slow.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut out = Vec::new();
    timeout(T, slow.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    assert_eq!(http(addr, "POST", "/v1/analyze", Some(&body)).await.0, 200);
    // Over the body limit: 413 with a typed body, declared or chunked.
    let big = "x".repeat(5000);
    let (status, resp) = http(addr, "POST", "/v1/analyze", Some(&big)).await;
    assert_eq!(
        (status, code_of(&resp).as_str()),
        (413, "payload_too_large")
    );
    let chunked = format!(
        "POST /v1/analyze HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    let (status, resp) = raw(addr, &chunked).await.unwrap();
    let resp = if resp.contains('{') {
        resp[resp.find('{').unwrap()..=resp.rfind('}').unwrap()].to_string()
    } else {
        resp
    };
    assert_eq!(
        (status, code_of(&resp).as_str()),
        (413, "payload_too_large")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn ingest_checks_credentials_before_reading_a_body() {
    let server = server_with(Options {
        analyze_body_limit: 4096,
        ..secured()
    })
    .await;
    let addr = server.local_addr();
    // No key, a huge declared body that never comes: refused at once with 401, not read.
    let head = format!(
        "POST /v1/ingest/twilio HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9000000\r\n\r\n"
    );
    let (status, body) = raw(addr, &head).await.expect("an answer");
    assert_eq!((status, code_of(&body).as_str()), (401, "unauthorized"));
    server.shutdown().await;
}

#[tokio::test]
async fn ingest_has_its_own_concurrency_cap_and_refuses_a_declared_oversize_body_at_once() {
    let server = server_with(Options {
        max_ingest_concurrency: 1,
        ingest_body_limit: 4096,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();
    let (status, body) = raw(
        addr,
        &format!(
            "POST /v1/ingest/contact-lens HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 9437184\r\n\r\n"
        ),
    )
    .await
    .expect("an answer without the body");
    assert_eq!(
        (status, code_of(&body).as_str()),
        (413, "payload_too_large")
    );
    // One webhook whose body is still arriving holds the only slot: the next gets 429 busy.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(
        format!(
            "POST /v1/ingest/contact-lens HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let busy = async {
        loop {
            let (status, resp) = http(addr, "POST", "/v1/ingest/contact-lens", Some("{}")).await;
            if status == 429 {
                return resp;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let resp = timeout(T, busy)
        .await
        .expect("a 429 while the slot is held");
    assert_eq!(code_of(&resp), "busy");
    drop(slow);
    server.shutdown().await;
}

#[tokio::test]
async fn a_live_call_id_cannot_be_taken_over_by_another_connection_of_the_tenant() {
    let server = server().await;
    let addr = server.local_addr();
    let mut first = connect(addr, "/v1/stream").await;
    send(&mut first, &start_msg("dup-1", "a-1")).await;
    send(
        &mut first,
        &final_seg(
            "dup-1",
            "s1",
            "customer",
            "hola buenas quería consultar una cosa",
            0,
            3000,
        ),
    )
    .await;
    let _ = next_json(&mut first).await; // the first state: the call is live
    let mut second = connect(addr, "/v1/stream").await;
    send(&mut second, &start_msg("dup-1", "a-9")).await;
    let e = next_error(&mut second).await;
    assert_eq!(e["code"], "duplicate_call", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("call.resume"),
        "{e}"
    );
    // The first connection still owns the call: it ends there with its summary.
    send(&mut first, &end_msg("dup-1")).await;
    let out = parse(&until_summary(&mut first, "dup-1").await);
    assert_eq!(out.last().unwrap()["agent_id"], "a-1");
    server.shutdown().await;
}
