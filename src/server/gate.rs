//! Checks and typed refusals shared by every handler: JSON responses, authentication, the
//! socket slot, quota refusals. A leaf: it imports no handler, so every handler may use it.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::auth::{authorize, Principal, Scope};
use super::AppState;
use crate::protocol::{ErrorCode, ProtocolError};

pub(super) fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(super) fn error_response(app: &AppState, status: StatusCode, e: ProtocolError) -> Response {
    app.metrics.error(e.code);
    json(status, e.to_json())
}

pub(super) fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::MessageTooLarge | ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Busy => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        ErrorCode::ShuttingDown | ErrorCode::TooManyConnections => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Refuse new work once shutdown has begun.
pub(super) fn refuse_if_closing(app: &AppState) -> Option<Response> {
    app.shutdown.is_cancelled().then(|| {
        error_response(
            app,
            StatusCode::SERVICE_UNAVAILABLE,
            ProtocolError::new(ErrorCode::ShuttingDown, "the server is shutting down"),
        )
    })
}

/// Query parameters as pairs (repeatable keys such as `resume`), or a typed 400.
pub(super) type QueryPairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// Why a request is refused: the HTTP status and the typed error body.
type Refusal = (StatusCode, ProtocolError);

pub(super) fn refuse(app: &AppState, (status, e): Refusal) -> Response {
    error_response(app, status, e)
}

pub(super) fn query_pairs(q: QueryPairs) -> Result<Vec<(String, String)>, Refusal> {
    q.map(|Query(v)| v).map_err(|rej| {
        let e = ProtocolError::new(
            ErrorCode::InvalidField,
            format!("bad query string: {}", rej.body_text()),
        );
        (StatusCode::BAD_REQUEST, e)
    })
}

/// Authenticate a request for `scope`: the principal, or the 401/403 response.
pub(super) fn check(
    app: &AppState,
    headers: &HeaderMap,
    query: &[(String, String)],
    scope: Scope<'_>,
) -> Result<Principal, Refusal> {
    authorize(&app.opts.auth, headers, query, scope).map_err(|e| {
        tracing::info!(reason = %e, "request refused");
        let e = e.to_protocol();
        (status_of(e.code), e)
    })
}

/// A request's query parameters as pairs.
pub(super) type Pairs = Vec<(String, String)>;

/// Authenticate a supervisor request (feed, records, history): its principal and query.
pub(super) fn supervisor_principal(
    app: &AppState,
    headers: &HeaderMap,
    query: QueryPairs,
) -> Result<(Principal, Pairs), Box<Response>> {
    let query = query_pairs(query).map_err(|r| Box::new(refuse(app, r)))?;
    let who =
        check(app, headers, &query, Scope::Supervisor).map_err(|r| Box::new(refuse(app, r)))?;
    Ok((who, query))
}

/// A supervisor request's tenant scope (`None` in dev mode, where every call is tenant
/// `default`'s) and its query parameters.
pub(super) type ScopedQuery = (Option<String>, Pairs);

/// The tenant a supervisor request is scoped to and its query parameters.
pub(super) fn supervisor_scope_and_query(
    app: &AppState,
    headers: &HeaderMap,
    query: QueryPairs,
) -> Result<ScopedQuery, Box<Response>> {
    let (who, query) = supervisor_principal(app, headers, query)?;
    let scope = match who {
        Principal::Anonymous => None,
        Principal::Platform { tenant } => Some(tenant),
        Principal::Token(claims) => Some(claims.tenant),
    };
    Ok((scope, query))
}

/// A quota refusal (`too_many_*` with its `quota`): HTTP 429, the client's own share is used up.
pub(super) fn quota_refusal(app: &AppState, e: ProtocolError) -> Response {
    error_response(app, StatusCode::TOO_MANY_REQUESTS, e)
}

/// Whose sockets count together against `sockets_per_principal`: a token's role and subject, a
/// platform key's tenant; nobody in dev mode.
pub(super) fn principal_key(p: &Principal) -> Option<String> {
    match p {
        Principal::Anonymous => None,
        Principal::Platform { .. } => Some("platform".to_string()),
        Principal::Token(c) => Some(format!("{}:{}", c.role.as_str(), c.sub)),
    }
}

/// A WebSocket slot, or the 503 response when every slot is taken.
pub(super) fn socket_slot(app: &AppState) -> Result<super::limits::SocketSlot, Refusal> {
    app.limits.socket_slot().ok_or_else(|| {
        let e = ProtocolError::new(
            ErrorCode::TooManyConnections,
            format!(
                "the server holds its maximum of {} connections; retry later or elsewhere",
                app.limits.max_sockets()
            ),
        );
        (StatusCode::SERVICE_UNAVAILABLE, e)
    })
}
