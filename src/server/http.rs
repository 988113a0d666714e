//! Plain HTTP handlers and the WebSocket upgrade handlers: thin, they check, then hand over.

use super::WS_READ_BUFFER;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::auth::Scope;
use super::gate::{
    check, error_response, json, principal_key, query_pairs, quota_refusal, refuse,
    refuse_if_closing, socket_slot, status_of, QueryPairs,
};
use super::AppState;
use crate::protocol::{parse_value, ErrorCode, ProtocolError, PROTOCOL_VERSION};
use crate::replay::{analyze, analyze_response, AnalyzeRequest};

pub async fn stream(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    query: QueryPairs,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(r) = refuse_if_closing(&app) {
        return r;
    }
    let principal = match query_pairs(query).and_then(|q| check(&app, &headers, &q, Scope::Stream))
    {
        Ok(p) => p,
        Err(r) => return refuse(&app, r),
    };
    let tenant: Arc<str> = Arc::from(principal.tenant());
    let quota = match app.hub.quotas.reserve_connection(&tenant) {
        Ok(q) => q,
        Err(e) => return quota_refusal(&app, e),
    };
    let slot = match socket_slot(&app) {
        Ok(s) => s,
        Err(r) => return refuse(&app, r),
    };
    let tracker = app.streams.clone();
    ws.read_buffer_size(WS_READ_BUFFER)
        .max_message_size(app.opts.hard_message_limit)
        .max_frame_size(app.opts.hard_message_limit)
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                let _slots = (slot, quota);
                super::stream::serve(socket, app, tenant).await
            })
        })
}

/// `?resume=<call_id>:<last_seq>` parameters (repeatable; the call id may contain `:`).
fn resume_params(query: &[(String, String)]) -> Result<Vec<(String, u64)>, ProtocolError> {
    const MAX_RESUMES: usize = 64;
    let list: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "resume")
        .map(|(_, v)| v.as_str())
        .collect();
    if list.len() > MAX_RESUMES {
        return Err(ProtocolError::new(
            ErrorCode::InvalidField,
            format!("at most {MAX_RESUMES} `resume` parameters"),
        ));
    }
    list.into_iter()
        .map(|v| {
            v.rsplit_once(':')
                .and_then(|(c, s)| Some((c.to_string(), s.parse::<u64>().ok()?)))
                .filter(|(c, _)| !c.is_empty() && !c.chars().any(char::is_control))
                .ok_or_else(|| {
                    ProtocolError::new(
                        ErrorCode::InvalidField,
                        "`resume` must be <call_id>:<last_seq>",
                    )
                })
        })
        .collect()
}

pub async fn agent(
    State(app): State<Arc<AppState>>,
    Path(agent_id): Path<String>,
    headers: HeaderMap,
    query: QueryPairs,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(r) = refuse_if_closing(&app) {
        return r;
    }
    if agent_id.is_empty()
        || agent_id.chars().count() > app.opts.parse_limits.max_id_chars
        || agent_id.chars().any(char::is_control)
    {
        let e = ProtocolError::new(ErrorCode::InvalidField, "invalid agent_id in the path");
        return error_response(&app, StatusCode::BAD_REQUEST, e);
    }
    let query = match query_pairs(query) {
        Ok(q) => q,
        Err(r) => return refuse(&app, r),
    };
    let principal = match check(&app, &headers, &query, Scope::Agent(&agent_id)) {
        Ok(p) => p,
        Err(r) => return refuse(&app, r),
    };
    let resume = match resume_params(&query) {
        Ok(r) => r,
        Err(e) => return error_response(&app, StatusCode::BAD_REQUEST, e),
    };
    let tenant: Arc<str> = Arc::from(principal.tenant());
    let quota = match app
        .hub
        .quotas
        .reserve_socket(principal_key(&principal).as_deref().map(|k| (&tenant, k)))
    {
        Ok(q) => q,
        Err(e) => return quota_refusal(&app, e),
    };
    let slot = match socket_slot(&app) {
        Ok(s) => s,
        Err(r) => return refuse(&app, r),
    };
    let peer = super::agent::Panel {
        tenant,
        agent_id,
        resume,
    };
    let tracker = app.agents.clone();
    ws.read_buffer_size(WS_READ_BUFFER)
        .max_message_size(app.opts.hard_message_limit)
        .max_frame_size(app.opts.hard_message_limit)
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                let _slots = (slot, quota);
                super::agent::serve(socket, app, peer).await
            })
        })
}

fn body_too_large(limit: usize) -> ProtocolError {
    ProtocolError::new(
        ErrorCode::PayloadTooLarge,
        format!("request body over {limit} bytes"),
    )
}

/// `POST /v1/analyze`. Before the body is read: credentials (401/403), a declared
/// `Content-Length` over the limit (413), then one of `max_analyze_concurrency` slots (429
/// `busy` when all are taken), held while the body is read and analysed. So memory stays within
/// slots × body limit and batch work cannot crowd out live calls; a body that does not arrive
/// within `analyze_body_timeout` frees its slot (408).
pub async fn analyze_handler(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    if let Some(r) = refuse_if_closing(&app) {
        return r;
    }
    if let Err(r) = check(&app, &headers, &[], Scope::Analyze) {
        return refuse(&app, r);
    }
    let limit = app.opts.analyze_body_limit;
    if let Some(r) = refuse_declared_oversize(&app, &headers, limit) {
        return r;
    }
    let _slot = match batch_slot(&app, &app.analyze_slots, "analyses") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let body = match read_request_body(&app, body, limit).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let req = match parse_request(&body, &app) {
        Ok(r) => r,
        Err(e) => return error_response(&app, StatusCode::BAD_REQUEST, e),
    };
    let res = app.resources();
    let limits = app.opts.parse_limits;
    // A large batch can take a while: keep it off the async workers.
    let result = tokio::task::spawn_blocking(move || analyze(res, req, &limits)).await;
    match result {
        Ok(Ok(outputs)) => json(StatusCode::OK, analyze_response(&outputs)),
        Ok(Err(e)) => error_response(&app, status_of(e.code), e),
        Err(_) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"type":"error","code":"internal","message":"analysis failed"}"#.to_string(),
        ),
    }
}

/// 413 at once for a body declared larger than the limit (before reading a byte of it).
pub(super) fn refuse_declared_oversize(
    app: &AppState,
    headers: &HeaderMap,
    limit: usize,
) -> Option<Response> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    declared
        .is_some_and(|n| n > limit as u64)
        .then(|| error_response(app, StatusCode::PAYLOAD_TOO_LARGE, body_too_large(limit)))
}

/// One of `slots` (`/v1/analyze` and `/v1/ingest` each have theirs: large bodies, heavy work),
/// or 429 `busy` with `Retry-After`. Memory stays within slots × body limit.
pub(super) fn batch_slot(
    app: &AppState,
    slots: &Arc<tokio::sync::Semaphore>,
    what: &str,
) -> Result<tokio::sync::OwnedSemaphorePermit, Box<Response>> {
    slots.clone().try_acquire_owned().map_err(|_| {
        let e = ProtocolError::new(
            ErrorCode::Busy,
            format!("as many {what} as allowed are already running; retry shortly"),
        );
        let mut r = error_response(app, StatusCode::TOO_MANY_REQUESTS, e);
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        Box::new(r)
    })
}

/// A POST body, read only after the request was authorised: refused with 413 as soon as it
/// grows past the body limit, 408 when it has not arrived within the body timeout.
pub(super) async fn read_request_body(
    app: &AppState,
    body: axum::body::Body,
    limit: usize,
) -> Result<Vec<u8>, Box<Response>> {
    match tokio::time::timeout(app.opts.analyze_body_timeout, read_body(body, limit)).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(BodyError::TooLarge)) => Err(Box::new(error_response(
            app,
            StatusCode::PAYLOAD_TOO_LARGE,
            body_too_large(limit),
        ))),
        Ok(Err(BodyError::Broken(e))) => {
            let e = ProtocolError::new(ErrorCode::BadJson, format!("cannot read the body: {e}"));
            Err(Box::new(error_response(app, StatusCode::BAD_REQUEST, e)))
        }
        Err(_) => {
            let e = ProtocolError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the request body did not arrive within {} s",
                    app.opts.analyze_body_timeout.as_secs()
                ),
            );
            Err(Box::new(error_response(
                app,
                StatusCode::REQUEST_TIMEOUT,
                e,
            )))
        }
    }
}

enum BodyError {
    TooLarge,
    Broken(axum::Error),
}

/// The whole body, refusing it as soon as it grows past `limit` bytes.
async fn read_body(body: axum::body::Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BodyError::Broken)?;
        if out.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Decode the body with the same typed errors as the stream, and validate its ids as a
/// `call.start` would be validated.
fn parse_request(body: &[u8], app: &AppState) -> Result<AnalyzeRequest, ProtocolError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ProtocolError::new(ErrorCode::BadJson, format!("not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ProtocolError::new(
            ErrorCode::BadJson,
            "the body must be a JSON object",
        ));
    }
    let req: AnalyzeRequest = serde_json::from_value(value).map_err(|e| {
        let text = e.to_string();
        let code = if text.starts_with("missing field") {
            ErrorCode::MissingField
        } else {
            ErrorCode::InvalidField
        };
        ProtocolError::new(code, text)
    })?;
    let mut start = serde_json::json!({
        "type": "call.start",
        "call_id": req.call_id,
        "agent_id": req.agent_id.as_deref().unwrap_or("batch"),
    });
    if let Some(c) = &req.campaign {
        start["campaign"] = Value::String(c.clone());
    }
    parse_value(start, &app.opts.parse_limits)?;
    Ok(req)
}

pub async fn healthz(State(app): State<Arc<AppState>>) -> Response {
    let status = if app.shutdown.is_cancelled() {
        "shutting_down"
    } else {
        "ok"
    };
    let body = serde_json::json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": PROTOCOL_VERSION,
        "lexicon_entries": app.resources().analyzer.lexicons().entry_count(),
        "active_calls": app.hub.quotas.active_calls(),
        "connections": app.connections.load(Ordering::Relaxed),
        "agent_sockets": app.agent_sockets.load(Ordering::Relaxed),
    });
    json(StatusCode::OK, body.to_string())
}

/// `GET /metrics`; with `CALMA_METRICS_KEY` set, only for `Authorization: Bearer <that key>`.
pub async fn metrics(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(expected) = &app.opts.metrics_key {
        let presented = super::auth::credential(&headers, &[]).unwrap_or("");
        if !super::auth::same_key(expected, presented) {
            let e = ProtocolError::new(
                ErrorCode::Unauthorized,
                "/metrics needs `Authorization: Bearer <CALMA_METRICS_KEY>`",
            );
            return error_response(&app, StatusCode::UNAUTHORIZED, e);
        }
    }
    app.metrics.parked(app.hub.resume.parked_len());
    app.metrics.history(&app.store);
    let text = app.metrics.render(
        app.connections.load(Ordering::Relaxed),
        app.agent_sockets.load(Ordering::Relaxed),
        app.hub.quotas.active_calls() as i64,
    );
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `POST /v1/admin/reload`: read lexicons and configuration again from the files the server
/// started with. New calls use them; calls in progress keep theirs; nothing is dropped. A broken
/// file is refused with 400 and the running configuration stays.
pub async fn reload(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = check(&app, &headers, &[], Scope::Admin) {
        return refuse(&app, r);
    }
    let a = app.clone();
    match tokio::task::spawn_blocking(move || a.reload()).await {
        Ok(Ok(res)) => {
            let campaigns: Vec<&str> = res.config.campaign_names().collect();
            let body = serde_json::json!({
                "status": "reloaded",
                "lexicon_entries": res.analyzer.lexicons().entry_count(),
                "campaigns": campaigns,
            });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Ok(Err(e)) => {
            let body = serde_json::json!({
                "type": "error",
                "code": "invalid_config",
                "message": e.to_string(),
            });
            (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
