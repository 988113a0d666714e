//! Per-tenant and per-principal quotas over real sockets: a tenant at its quota gets a typed
//! error naming the quota, and the other tenant is not stopped by it.

mod common;

use serde_json::{json, Value};

use calma::server::auth::{mint_token, unix_now, AuthConfig, Claims, Role};
use calma::server::Options;
use common::*;

const SECRET: &str = "quota-secret-0123456789abcdef0";
const ACME: &str = "Bearer acme-key-0123456789";
const GLOBEX: &str = "Bearer globex-key-0123456789";

fn options() -> Options {
    Options {
        auth: AuthConfig::from_values(
            Some("acme:acme-key-0123456789,globex:globex-key-0123456789"),
            Some(SECRET),
        )
        .unwrap(),
        max_calls_per_tenant: 2,
        max_connections_per_tenant: 2,
        max_sockets_per_principal: 1,
        ..Options::default()
    }
}

fn agent_token(tenant: &str, agent: &str) -> String {
    mint_token(
        SECRET.as_bytes(),
        &Claims {
            tenant: tenant.into(),
            sub: agent.into(),
            role: Role::Agent,
            exp: unix_now() + 600,
            nbf: None,
            iat: None,
        },
    )
}

fn refused(status: u16, body: &str, quota: &str) {
    assert_eq!(status, 429, "{body}");
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["code"], "too_many_connections", "{body}");
    assert_eq!(v["quota"], quota, "{body}");
    assert!(v["message"].as_str().unwrap().contains(quota), "{body}");
}

async fn active_calls(addr: std::net::SocketAddr) -> i64 {
    let (_, body) = http(addr, "GET", "/healthz", None).await;
    serde_json::from_str::<Value>(&body).unwrap()["active_calls"]
        .as_i64()
        .unwrap()
}

/// Connect once a just-closed socket has given its quota back (released right after the
/// socket's task ends).
async fn connect_eventually(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Ws {
    let fut = async {
        loop {
            match try_connect_with(addr, path, headers).await {
                Ok(ws) => return ws,
                Err((429, _)) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                Err((status, body)) => panic!("{status} {body}"),
            }
        }
    };
    tokio::time::timeout(T, fut)
        .await
        .expect("the quota freed in time")
}

/// Start a call and prove it runs: its first segment is answered with a `state`.
async fn start_call(ws: &mut Ws, call: &str) {
    send(ws, &start_msg(call, "a-1")).await;
    send(ws, &final_seg(call, "s1", "agent", "buenos días", 0, 1000)).await;
    let v = next_json(ws).await;
    assert_eq!(
        (v["type"].as_str(), v["call_id"].as_str()),
        (Some("state"), Some(call)),
        "{v}"
    );
}

#[tokio::test]
async fn a_tenant_at_its_quotas_does_not_stop_another() {
    let server = server_with(options()).await;
    let addr = server.local_addr();

    // Calls: acme fills its quota of 2; the third is refused, naming the quota.
    let mut acme = connect_with(addr, "/v1/stream", &[("authorization", ACME)]).await;
    start_call(&mut acme, "c-1").await;
    start_call(&mut acme, "c-2").await;
    send(&mut acme, &start_msg("c-3", "a-1")).await;
    let e = next_error(&mut acme).await;
    assert_eq!(e["code"], "too_many_calls");
    assert_eq!(e["quota"], "calls_per_tenant");
    assert_eq!(e["call_id"], "c-3");
    assert!(e["message"].as_str().unwrap().contains("calls_per_tenant"));
    // globex, same call ids, is not stopped.
    let mut globex = connect_with(addr, "/v1/stream", &[("authorization", GLOBEX)]).await;
    start_call(&mut globex, "c-1").await;
    start_call(&mut globex, "c-2").await;
    assert_eq!(active_calls(addr).await, 4);

    // acme's connection is lost: its calls are parked and still count against its quota.
    drop(acme);
    wait_health(addr, "connections", 1).await;
    let mut acme = connect_with(addr, "/v1/stream", &[("authorization", ACME)]).await;
    send(&mut acme, &start_msg("c-9", "a-1")).await;
    let e = next_error(&mut acme).await;
    assert_eq!(e["quota"], "calls_per_tenant", "{e}");
    // Resuming a parked call is not a new call: allowed.
    send(
        &mut acme,
        &json!({"type":"call.resume","call_id":"c-1","after_seq":0}).to_string(),
    )
    .await;
    loop {
        let v = next_json(&mut acme).await;
        assert_ne!(v["type"], "error", "{v}");
        if v["type"] == "call.resumed" {
            break;
        }
    }
    // Ending a call gives its place back.
    send(&mut acme, &end_msg("c-1")).await;
    until_summary(&mut acme, "c-1").await;
    start_call(&mut acme, "c-9").await;

    // Platform connections: acme holds 1 (the lost one is gone); 2 is its quota.
    let _acme2 = connect_eventually(addr, "/v1/stream", &[("authorization", ACME)]).await;
    let (status, body) = try_connect_with(addr, "/v1/stream", &[("authorization", ACME)])
        .await
        .unwrap_err();
    refused(status, &body, "connections_per_tenant");
    let _globex2 = connect_with(addr, "/v1/stream", &[("authorization", GLOBEX)]).await;

    // Sockets per principal: one panel per agent token here.
    let path = |t: &str, a: &str| format!("/v1/agents/{a}/nudges?access_token={t}");
    let acme_a1 = agent_token("acme", "a-1");
    let _p1 = connect_with(addr, &path(&acme_a1, "a-1"), &[]).await;
    let (status, body) = try_connect_with(addr, &path(&acme_a1, "a-1"), &[])
        .await
        .unwrap_err();
    refused(status, &body, "sockets_per_principal");
    // Another agent of acme, and the same agent id at globex, are not affected.
    let _p2 = connect_with(addr, &path(&agent_token("acme", "a-2"), "a-2"), &[]).await;
    let _p3 = connect_with(addr, &path(&agent_token("globex", "a-1"), "a-1"), &[]).await;
    // Closing the panel frees its place.
    drop(_p1);
    let _p1 = connect_eventually(addr, &path(&acme_a1, "a-1"), &[]).await;

    drop(globex);
    server.shutdown().await;
}
