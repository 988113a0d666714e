//! The history API (supervisor token, scoped to its tenant): `GET /v1/calls` (filtered pages),
//! `GET /v1/calls.csv`, `GET /v1/reports/{campaign}`, and the stored fallback of
//! `GET /v1/calls/{call_id}`. Queries run on the blocking pool, never on the async workers.

use std::sync::Arc;

use axum::extract::{Path, State as AxState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::gate::{error_response, json, QueryPairs};
use super::AppState;
use crate::protocol::{ErrorCode, ProtocolError};
use crate::store::queries::{self, CallFilter};
use crate::store::Store;

/// Rows a CSV export carries at most (larger ranges: narrow `since`/`until`).
pub const CSV_MAX_ROWS: usize = 100_000;

fn invalid(app: &AppState, msg: String) -> Response {
    error_response(
        app,
        StatusCode::BAD_REQUEST,
        ProtocolError::new(ErrorCode::InvalidField, msg),
    )
}

fn storage_failed(app: &AppState, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "history query failed");
    error_response(
        app,
        StatusCode::INTERNAL_SERVER_ERROR,
        ProtocolError::new(
            ErrorCode::StorageError,
            "the call history could not be read",
        ),
    )
}

/// A time parameter: unix milliseconds or a UTC date `YYYY-MM-DD`. A date as `until` means the
/// end of that day (so `since=D&until=D` is day D).
fn time_param(name: &str, v: &str) -> Result<i64, String> {
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms);
    }
    let day = crate::store::parse_date_ms(v)
        .ok_or_else(|| format!("{name}: {v:?} is neither unix milliseconds nor YYYY-MM-DD"))?;
    Ok(if name == "until" {
        day + 86_400_000
    } else {
        day
    })
}

/// History is always read within one tenant: dev mode's anonymous requests see the `default`
/// tenant (where every dev-mode call lives), never every tenant of a production file.
fn tenant_scope(scope: Option<String>) -> Option<String> {
    scope.or_else(|| Some(super::auth::DEFAULT_TENANT.to_string()))
}

fn filter_from(query: &[(String, String)]) -> Result<CallFilter, String> {
    let mut f = CallFilter {
        limit: 100,
        ..Default::default()
    };
    for (k, v) in query {
        match k.as_str() {
            "agent_id" => f.agent_id = Some(v.clone()),
            "campaign" => f.campaign = Some(v.clone()),
            "since" => f.since_ms = Some(time_param("since", v)?),
            "until" => f.until_ms = Some(time_param("until", v)?),
            "min_level" => f.min_level = Some(v.clone()),
            "cursor" => f.cursor = Some(v.clone()),
            "limit" => {
                f.limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=queries::MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "limit: {v:?} is not a number from 1 to {}",
                            queries::MAX_LIMIT
                        )
                    })?
            }
            "access_token" => {}
            other => return Err(format!("unknown parameter `{other}`")),
        }
    }
    f.validate()?;
    Ok(f)
}

async fn blocking<T: Send + 'static>(
    store: Arc<Store>,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(move || {
        let conn = store.reader().map_err(|e| e.to_string())?;
        f(&conn).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// The supervisor's tenant (see [`tenant_scope`]) and the query parameters, or the refusal.
fn scoped(
    app: &AppState,
    headers: &HeaderMap,
    query: QueryPairs,
) -> Result<super::gate::ScopedQuery, Box<Response>> {
    let (scope, query) = super::gate::supervisor_scope_and_query(app, headers, query)?;
    Ok((tenant_scope(scope), query))
}

/// The tenant scope and the call filter of `GET /v1/calls` and `GET /v1/calls.csv`.
fn scoped_filter(
    app: &AppState,
    headers: &HeaderMap,
    query: QueryPairs,
) -> Result<(Option<String>, CallFilter), Box<Response>> {
    let (scope, query) = scoped(app, headers, query)?;
    let f = filter_from(&query).map_err(|m| Box::new(invalid(app, m)))?;
    Ok((scope, f))
}

/// Run a query off the async workers and answer its result as JSON (500 `storage_error` if the
/// history cannot be read).
async fn answer_json<T: serde::Serialize + Send + 'static>(
    app: &AppState,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Response {
    match blocking(app.store.clone(), f).await {
        Ok(v) => json(
            StatusCode::OK,
            serde_json::to_string(&v).unwrap_or_default(),
        ),
        Err(e) => storage_failed(app, e),
    }
}

/// `GET /v1/calls?agent_id=&campaign=&since=&until=&min_level=&limit=&cursor=`.
pub async fn list(
    AxState(app): AxState<Arc<AppState>>,
    headers: HeaderMap,
    query: QueryPairs,
) -> Response {
    let (scope, f) = match scoped_filter(&app, &headers, query) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    answer_json(&app, move |c| queries::list_calls(c, scope.as_deref(), &f)).await
}

/// `GET /v1/calls.csv` with the filters of [`list`]: every matching call (up to
/// [`CSV_MAX_ROWS`]), newest first.
pub async fn csv(
    AxState(app): AxState<Arc<AppState>>,
    headers: HeaderMap,
    query: QueryPairs,
) -> Response {
    let (scope, mut f) = match scoped_filter(&app, &headers, query) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    f.limit = queries::MAX_LIMIT;
    let body = blocking(app.store.clone(), move |c| {
        let mut out = String::from(queries::CSV_HEADER);
        let mut rows = 0;
        loop {
            let page = queries::list_calls(c, scope.as_deref(), &f)?;
            rows += page.calls.len();
            out.push_str(&queries::csv_rows(&page.calls));
            match page.next_cursor {
                Some(cur) if rows < CSV_MAX_ROWS => f.cursor = Some(cur),
                Some(_) => return Ok((out, true)),
                None => return Ok((out, false)),
            }
        }
    })
    .await;
    match body {
        Ok((b, truncated)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"calma-calls.csv\"",
                ),
                // More rows matched than one export carries: narrow since/until.
                (
                    header::HeaderName::from_static("x-calma-truncated"),
                    if truncated { "true" } else { "false" },
                ),
            ],
            b,
        )
            .into_response(),
        Err(e) => storage_failed(&app, e),
    }
}

/// `GET /v1/reports/{campaign}?since=&until=`.
pub async fn report(
    AxState(app): AxState<Arc<AppState>>,
    Path(campaign): Path<String>,
    headers: HeaderMap,
    query: QueryPairs,
) -> Response {
    let (scope, query) = match scoped(&app, &headers, query) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let (mut since, mut until) = (None, None);
    for (k, v) in &query {
        let parsed = match k.as_str() {
            "since" => time_param("since", v).map(|t| since = Some(t)),
            "until" => time_param("until", v).map(|t| until = Some(t)),
            "access_token" => Ok(()),
            other => Err(format!("unknown parameter `{other}`")),
        };
        if let Err(m) = parsed {
            return invalid(&app, m);
        }
    }
    answer_json(&app, move |c| {
        queries::campaign_report(c, scope.as_deref(), &campaign, since, until)
    })
    .await
}

/// The stored record of an ended call, for `GET /v1/calls/{call_id}` once it has left memory.
pub async fn stored_record(
    app: &AppState,
    scope: Option<String>,
    call_id: String,
) -> Result<Option<String>, Response> {
    let scope = tenant_scope(scope);
    blocking(app.store.clone(), move |c| {
        queries::get_call(c, scope.as_deref(), &call_id)
    })
    .await
    .map_err(|e| storage_failed(app, e))
}

/// Purge records past their retention now and then, until shutdown.
pub async fn purge_loop(app: Arc<AppState>) {
    let mut every = tokio::time::interval(app.opts.history_purge_interval);
    loop {
        tokio::select! {
            _ = app.shutdown.cancelled() => return,
            _ = every.tick() => app.store.purge(super::auth::unix_now_ms(), retention(&app)),
        }
    }
}

/// The `context` message an agent panel gets at the start of a returning customer's call.
#[derive(serde::Serialize)]
struct ContextMsg<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    call_id: &'a str,
    #[serde(flatten)]
    context: &'a queries::CustomerContext,
}

/// What calma knows of a call's customer at `call.start`.
pub struct StartContext {
    pub meta: super::hub::board::HistoryMeta,
    /// The `context` message for the agent panel, when the customer called before.
    pub message: Option<String>,
}

/// Look the customer up (when `call.start` carries a `customer_id` and the campaign allows it),
/// fill `prior_contacts_7d` for the reading, and prepare the panel's `context` message. The id
/// itself goes no further: it is dropped from `start` here, and only its keyed hash is kept.
pub async fn at_call_start(
    app: &AppState,
    tenant: &str,
    start: &mut crate::protocol::CallStart,
) -> StartContext {
    let campaign = start.campaign.clone().unwrap_or_else(|| "default".into());
    let config = app.resources().config.campaign(&campaign).history.clone();
    let customer_id = start.customer_id.take().filter(|c| !c.trim().is_empty());
    let mut meta = super::hub::board::HistoryMeta {
        customer_key: None,
        config,
    };
    let Some(customer_id) = customer_id else {
        return StartContext {
            meta,
            message: None,
        };
    };
    // A campaign without customer context keeps no trace of who called.
    if !meta.config.customer_context {
        return StartContext {
            meta,
            message: None,
        };
    }
    let key = app.store.customer_key(tenant, customer_id.trim());
    meta.customer_key = Some(key.clone());
    let (tenant_owned, now) = (tenant.to_string(), super::auth::unix_now_ms());
    // Bounded: a slow disk must not hold up the call's first messages.
    let lookup = blocking(app.store.clone(), move |c| {
        queries::customer_context(c, &tenant_owned, &key, now)
    });
    let context = match tokio::time::timeout(CONTEXT_LOOKUP_TIMEOUT, lookup).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "customer context lookup failed");
            None
        }
        Err(_) => {
            tracing::warn!("customer context lookup timed out");
            None
        }
    };
    let Some(context) = context else {
        return StartContext {
            meta,
            message: None,
        };
    };
    if start.prior_contacts_7d.is_none() {
        start.prior_contacts_7d = Some(context.contacts_7d.max(0) as u32);
    }
    let message = serde_json::to_string(&ContextMsg {
        kind: "context",
        call_id: &start.call_id,
        context: &context,
    })
    .ok();
    StartContext { meta, message }
}

/// How long a call's start waits for its customer's history at most.
const CONTEXT_LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(100);

/// Retention per campaign as configured now (reloads included).
fn retention(app: &AppState) -> crate::store::schema::Retention {
    let res = app.resources();
    let days = |name: &str| {
        let h = &res.config.campaign(name).history;
        (h.retention_days, h.transcript_retention_days)
    };
    crate::store::schema::Retention {
        campaigns: res
            .config
            .campaign_names()
            .filter(|n| *n != "default")
            .map(|n| {
                let (d, t) = days(n);
                (n.to_string(), d, t)
            })
            .collect(),
        default: days("default"),
    }
}
