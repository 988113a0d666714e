//! The authentication seam. Dev mode (today): every request is allowed. A later issue checks
//! credentials here; handlers already call [`authorize`] before upgrading or answering.

use axum::http::HeaderMap;

use crate::protocol::ProtocolError;

/// What a request asks to do.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Open a platform stream (`/v1/stream`).
    Stream,
    /// Open the panel feed of one agent.
    Agent(&'a str),
    /// Run a batch analysis.
    Analyze,
    /// Watch every call: the supervisor feed (`/v1/supervisor`, carries transcripts), post-call
    /// records (`/v1/calls/{call_id}`) and the supervisor pages.
    Supervisor,
}

/// Who is asking, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Dev mode: no credentials are checked.
    Anonymous,
}

/// Check a request before it is served. Errors use [`crate::protocol::ErrorCode::Unauthorized`]
/// or [`crate::protocol::ErrorCode::Forbidden`] and are answered with HTTP 401 / 403.
pub fn authorize(_headers: &HeaderMap, _scope: Scope<'_>) -> Result<Principal, ProtocolError> {
    Ok(Principal::Anonymous)
}
