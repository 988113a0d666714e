//! Authentication, tenancy and dev mode on a real server: API keys on platform endpoints, HS256
//! tokens on agent sockets, tenants kept apart, and the start-up refusal without credentials.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

use calma::server::auth::{mint_token, unix_now, AuthConfig, Claims, Role};
use calma::server::Options;
use common::*;

const SECRET: &[u8] = b"test-secret-0123456789abcdef0123";

fn secured() -> Options {
    Options {
        auth: AuthConfig::from_values(
            Some("t1:key-one-0123456789,t2:key-two-0123456789"),
            Some(std::str::from_utf8(SECRET).unwrap()),
        )
        .unwrap()
        .with_admin_key(ADMIN_KEY),
        ..Options::default()
    }
}

const ADMIN_KEY: &str = "admin-key-0123456789";

const K1: &str = "Bearer key-one-0123456789";
const K2: &str = "Bearer key-two-0123456789";

fn token(tenant: &str, sub: &str, role: Role, exp: u64) -> String {
    mint_token(
        SECRET,
        &Claims {
            tenant: tenant.into(),
            sub: sub.into(),
            role,
            exp,
            nbf: None,
            iat: None,
        },
    )
}

fn error_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["type"], "error", "{body}");
    v["code"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn platform_endpoints_need_an_api_key() {
    let server = server_with(secured()).await;
    let addr = server.local_addr();

    for headers in [
        vec![],
        vec![("Authorization", "Bearer nope")],
        vec![("Authorization", "Basic a2V5")],
    ] {
        let (status, body) = try_connect_with(addr, "/v1/stream", &headers)
            .await
            .err()
            .unwrap();
        assert_eq!((status, error_code(&body).as_str()), (401, "unauthorized"));
    }
    // The key is not accepted in the URL.
    let (status, _) = try_connect_with(addr, "/v1/stream?access_token=key-one-0123456789", &[])
        .await
        .err()
        .unwrap();
    assert_eq!(status, 401);

    let mut ws = connect_with(addr, "/v1/stream", &[("Authorization", K1)]).await;
    send(&mut ws, &start_msg("c-1", "a-1")).await;
    send(&mut ws, &end_msg("c-1")).await;
    until_summary(&mut ws, "c-1").await;

    let body = r#"{"call_id":"c","events":[]}"#;
    let (status, resp) = http(addr, "POST", "/v1/analyze", Some(body)).await;
    assert_eq!((status, error_code(&resp).as_str()), (401, "unauthorized"));
    let (status, _) = http_with(
        addr,
        "POST",
        "/v1/analyze",
        &[("Authorization", K2)],
        Some(body),
    )
    .await;
    assert_eq!(status, 200);

    let (status, resp) = http(addr, "POST", "/v1/admin/reload", None).await;
    assert_eq!((status, error_code(&resp).as_str()), (401, "unauthorized"));
    // A tenant's platform key does not reload the whole process; the admin key does.
    let (status, resp) = http_with(
        addr,
        "POST",
        "/v1/admin/reload",
        &[("Authorization", K1)],
        None,
    )
    .await;
    assert_eq!((status, error_code(&resp).as_str()), (403, "forbidden"));
    let bearer = format!("Bearer {ADMIN_KEY}");
    let (status, _) = http_with(
        addr,
        "POST",
        "/v1/admin/reload",
        &[("Authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(status, 200);

    // Health and metrics stay open (bind them to an internal network).
    assert_eq!(http(addr, "GET", "/healthz", None).await.0, 200);
    let (_, text) = http(addr, "GET", "/metrics", None).await;
    assert!(metric(&text, "calma_errors_total", &[("code", "unauthorized")]).unwrap() >= 6.0);
    server.shutdown().await;
}

#[tokio::test]
async fn agent_tokens_open_only_their_own_feed() {
    let server = server_with(secured()).await;
    let addr = server.local_addr();
    let exp = unix_now() + 600;
    let a7 = token("t1", "a-7", Role::Agent, exp);

    // Wrong agent id, wrong role: 403. Expired, forged, missing: 401.
    let refused = [
        (
            format!("/v1/agents/a-8/nudges?access_token={a7}"),
            403,
            "forbidden",
        ),
        (
            format!(
                "/v1/agents/a-7/nudges?access_token={}",
                token("t1", "a-7", Role::Supervisor, exp)
            ),
            403,
            "forbidden",
        ),
        (
            format!(
                "/v1/agents/a-7/nudges?access_token={}",
                token("t1", "a-7", Role::Agent, unix_now() - 3600)
            ),
            401,
            "unauthorized",
        ),
        (
            format!(
                "/v1/agents/a-7/nudges?access_token={}x",
                &a7[..a7.len() - 1]
            ),
            401,
            "unauthorized",
        ),
        ("/v1/agents/a-7/nudges".to_string(), 401, "unauthorized"),
        (
            // An API key is not a token.
            "/v1/agents/a-7/nudges?access_token=key-one-0123456789".to_string(),
            401,
            "unauthorized",
        ),
    ];
    for (path, status, code) in refused {
        let (s, body) = try_connect_with(addr, &path, &[]).await.err().unwrap();
        assert_eq!((s, error_code(&body).as_str()), (status, code), "{path}");
    }

    // The right token, by query string and by header.
    let mut panel = connect(addr, &format!("/v1/agents/a-7/nudges?access_token={a7}")).await;
    let auth = format!("Bearer {a7}");
    let mut panel_h =
        connect_with(addr, "/v1/agents/a-7/nudges", &[("Authorization", &auth)]).await;
    // Same agent id in another tenant.
    let mut other = connect(
        addr,
        &format!(
            "/v1/agents/a-7/nudges?access_token={}",
            token("t2", "a-7", Role::Agent, exp)
        ),
    )
    .await;
    wait_health(addr, "agent_sockets", 3).await;

    // Tenant t2 runs a call for its a-7 first, then tenant t1 for its a-7 and for a-8.
    let mut p2 = connect_with(addr, "/v1/stream", &[("Authorization", K2)]).await;
    // A shorter call (2 segments) than t1's (5), so the summaries tell the tenants apart.
    let mut t2_call = angry_call("c-1", "a-7")[..3].to_vec();
    t2_call.push(end_msg("c-1"));
    send_all(&mut p2, &t2_call).await;
    until_summary(&mut p2, "c-1").await;

    let mut p1 = connect_with(addr, "/v1/stream", &[("Authorization", K1)]).await;
    let mut calls = angry_call("c-8", "a-8");
    calls.extend(angry_call("c-1", "a-7"));
    calls.push(end_msg("c-8"));
    calls.push(end_msg("c-1"));
    send_all(&mut p1, &calls).await;
    until_summary(&mut p1, "c-1").await;

    // The t1 panels see t1's c-1 only: never a-8's call, never t2's call with the same ids.
    for ws in [&mut panel, &mut panel_h] {
        let got = parse(&until_summary(ws, "c-1").await);
        assert!(got.iter().all(|m| m["call_id"] == "c-1"));
        // The t2 call came first: had it leaked, its summary would have ended this wait.
        let summary = got.last().unwrap();
        assert_eq!(
            (summary["agent_id"].as_str(), summary["segments"].as_u64()),
            (Some("a-7"), Some(5))
        );
    }
    let got = parse(&until_summary(&mut other, "c-1").await);
    assert_eq!(got.last().unwrap()["segments"], 2);

    // Feedback routing is per tenant too: t2's panel cannot rate t1's open calls.
    send_all(&mut p1, &angry_call("c-9", "a-7")[..2]).await;
    let fb = r#"{"type":"feedback","call_id":"c-9","nudge_id":"n1","useful":true}"#;
    send(&mut other, fb).await;
    assert_eq!(next_error(&mut other).await["code"], "unknown_call");
    server.shutdown().await;
}

/// `calma` started as a process: returns (exit status if it exited, stderr, first stdout line).
fn start_binary(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_calma"));
    cmd.args(args)
        .env_remove("CALMA_API_KEYS")
        .env_remove("CALMA_TOKEN_SECRET")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // Either the "listening" line (logs go to stdout too), or EOF because it refused to start.
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| l.unwrap())
        .find(|l| l.contains("calma listening"))
        .unwrap_or_default();
    let exited = if line.is_empty() {
        child.wait().unwrap().code()
    } else {
        child.kill().unwrap();
        child.wait().unwrap();
        None
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (exited, err, line)
}

#[test]
fn dev_mode_only_on_loopback_unless_insecure_dev() {
    let (code, err, _) = start_binary(&["serve", "--addr", "0.0.0.0:0"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without credentials"),
        "{err}"
    );

    let (code, err, line) = start_binary(&["serve", "--addr", "0.0.0.0:0", "--insecure-dev"], &[]);
    assert_eq!(code, None, "{err}");
    assert!(line.contains("calma listening"), "{line}");
    assert!(err.contains("DEV MODE"), "{err}");

    let (code, err, line) = start_binary(&["serve", "--addr", "127.0.0.1:0"], &[]);
    assert_eq!(code, None, "{err}");
    assert!(line.contains("calma listening"));
    assert!(err.contains("DEV MODE"), "{err}");

    // With credentials, any address; no dev-mode warning.
    let env = [
        ("CALMA_API_KEYS", "t1:key-one-0123456789"),
        ("CALMA_TOKEN_SECRET", "test-secret-0123456789abcdef0123"),
    ];
    let (code, err, line) = start_binary(&["serve", "--addr", "0.0.0.0:0"], &env);
    assert_eq!(code, None, "{err}");
    assert!(line.contains("calma listening"));
    assert!(!err.contains("DEV MODE"), "{err}");

    // A secret too short to be one is refused.
    let (code, err, _) = start_binary(
        &["serve", "--addr", "127.0.0.1:0"],
        &[("CALMA_TOKEN_SECRET", "short")],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("at least 16 bytes"), "{err}");
}

#[test]
fn token_subcommand_mints_a_verifiable_token() {
    let out = Command::new(env!("CARGO_BIN_EXE_calma"))
        .args([
            "token", "--sub", "a-7", "--role", "agent", "--tenant", "t1", "--ttl", "3600",
        ])
        .env("CALMA_TOKEN_SECRET", std::str::from_utf8(SECRET).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success());
    let t = String::from_utf8(out.stdout).unwrap();
    let c = calma::server::auth::verify_token(SECRET, t.trim(), unix_now()).unwrap();
    assert_eq!(
        (c.tenant.as_str(), c.sub.as_str(), c.role),
        ("t1", "a-7", Role::Agent)
    );
    assert!(c.exp > unix_now() + 3500 && c.exp <= unix_now() + 3600);
}

#[tokio::test]
async fn the_supervisor_feed_needs_a_supervisor_token_and_shows_only_its_tenant() {
    let server = server_with(secured()).await;
    let addr = server.local_addr();
    let exp = unix_now() + 600;

    // No token, or an agent's token: refused.
    let (status, _) = try_connect_with(addr, "/v1/supervisor", &[])
        .await
        .unwrap_err();
    assert_eq!(status, 401);
    let agent = token("t1", "a-1", Role::Agent, exp);
    let (status, _) = try_connect_with(addr, &format!("/v1/supervisor?access_token={agent}"), &[])
        .await
        .unwrap_err();
    assert_eq!(status, 403);

    // A t1 supervisor watches while both tenants stream a call.
    let sup = token("t1", "sup-1", Role::Supervisor, exp);
    let mut feed = connect_with(addr, &format!("/v1/supervisor?access_token={sup}"), &[]).await;
    let snapshot = next_json(&mut feed).await;
    assert_eq!(snapshot["type"], "snapshot");
    let mut t2 = connect_with(addr, "/v1/stream", &[("authorization", K2)]).await;
    let mut lines = angry_call("c-other", "a-9");
    lines.push(end_msg("c-other"));
    send_all(&mut t2, &lines).await;
    until_summary(&mut t2, "c-other").await;
    let mut t1 = connect_with(addr, "/v1/stream", &[("authorization", K1)]).await;
    let mut lines = angry_call("c-mine", "a-1");
    lines.push(end_msg("c-mine"));
    send_all(&mut t1, &lines).await;
    until_summary(&mut t1, "c-mine").await;
    loop {
        let v = next_json(&mut feed).await;
        assert_ne!(v["call_id"], "c-other", "another tenant's call leaked: {v}");
        if v["type"] == "call.ended" && v["call_id"] == "c-mine" {
            break;
        }
    }

    // Post-call records: own tenant only.
    let bearer = format!("Bearer {sup}");
    let (status, _) = http_with(
        addr,
        "GET",
        "/v1/calls/c-mine",
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = http_with(
        addr,
        "GET",
        "/v1/calls/c-other",
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = http_with(addr, "GET", "/v1/calls/c-mine", &[], None).await;
    assert_eq!(status, 401);
    server.shutdown().await;
}
