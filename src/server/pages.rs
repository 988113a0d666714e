//! The web UI: three self-contained HTML pages (inline CSS and JS, no external assets, no build
//! step) embedded in the binary from `web/`.
//!
//! - `GET /agent/{agent_id}`: the agent panel, for a softphone iframe (connects to
//!   `/v1/agents/{agent_id}/nudges` on the same origin).
//! - `GET /supervisor`: the supervisor board (connects to `/v1/supervisor`).
//! - `GET /calls/{call_id}`: the post-call view (fetches `/v1/calls/{call_id}`).
//! - `GET /reports/{campaign}`: the campaign report (fetches `/v1/reports/{campaign}`).
//!
//! The pages are static: each reads its id from `location.pathname`, so nothing from the request
//! is written into the HTML. The content security policy allows only inline code and same-origin
//! connections; the agent panel may be framed by any origin (it lives inside softphones), the
//! supervisor pages only by their own.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::gate::error_response;
use super::AppState;
use crate::protocol::{ErrorCode, ProtocolError};

pub const AGENT_HTML: &str = include_str!("../../web/agent.html");
pub const SUPERVISOR_HTML: &str = include_str!("../../web/supervisor.html");
pub const CALL_HTML: &str = include_str!("../../web/call.html");
pub const REPORT_HTML: &str = include_str!("../../web/report.html");

const CSP_BASE: &str =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
     img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'";

fn page(html: &'static str, framable_anywhere: bool) -> Response {
    let csp = if framable_anywhere {
        CSP_BASE.to_string()
    } else {
        format!("{CSP_BASE}; frame-ancestors 'self'")
    };
    let mut r = (StatusCode::OK, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

fn bad_id(app: &AppState, id: &str, what: &str) -> Option<Response> {
    let bad = id.is_empty()
        || id.chars().count() > app.opts.parse_limits.max_id_chars
        || id.chars().any(char::is_control);
    bad.then(|| {
        let e = ProtocolError::new(
            ErrorCode::InvalidField,
            format!("invalid {what} in the path"),
        );
        error_response(app, StatusCode::BAD_REQUEST, e)
    })
}

pub async fn agent(
    State(app): State<Arc<AppState>>,
    Path(agent_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = bad_id(&app, &agent_id, "agent_id") {
        return r;
    }
    // The page is static and holds no data; the WebSocket it opens checks the token.
    let _ = headers;
    page(AGENT_HTML, true)
}

pub async fn supervisor(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    // Static page: the feed it opens (`/v1/supervisor`) checks the supervisor token.
    let _ = (app, headers);
    page(SUPERVISOR_HTML, false)
}

pub async fn call(
    State(app): State<Arc<AppState>>,
    Path(call_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = bad_id(&app, &call_id, "call_id") {
        return r;
    }
    // Static page: the record it fetches (`/v1/calls/{call_id}`) checks the token.
    let _ = headers;
    page(CALL_HTML, false)
}

pub async fn report(State(app): State<Arc<AppState>>, Path(campaign): Path<String>) -> Response {
    if let Some(r) = bad_id(&app, &campaign, "campaign") {
        return r;
    }
    // Static page: the report it fetches (`/v1/reports/{campaign}`) checks the token.
    page(REPORT_HTML, false)
}
