//! Platform adapters over HTTP and WebSocket: `POST /v1/ingest/{format}` (webhooks, batches)
//! and `GET /v1/stream/{format}` (streamed feeds). The translation itself is sans-IO
//! ([`crate::adapters`]); this is the shell.
//!
//! - The stream endpoint is `/v1/stream` with one hook: each vendor frame is translated to
//!   protocol v1 messages before the usual handling (`vendor::VendorFeed`, used by `stream.rs`).
//! - Webhook calls live across requests, so [`IngestCalls`] keeps a table per tenant of live
//!   adapted calls, each with its engine [`Call`]. A request's outputs are published exactly as
//!   a stream's (agent panels through the hub, replay buffers, supervisors) and returned in the
//!   200 body. Calls end on the vendor's end event, a v1 `call.end`, idle expiry or shutdown,
//!   with a summary either way. Agent feedback reaches them through a per-tenant command queue.
//!
//! Webhook calls get no wall-clock ticks: batched feeds (Genesys) arrive long after the speech,
//! so media time advances only with the vendor's own times. Each webhook call has the stream's
//! per-call segment rate limit (`rate_limited` errors in the outputs).
//!
//! The engine work of a request (a batch may be 8 MiB) runs on a blocking thread, never on an
//! async worker: the tenant's table is a std mutex, which the feedback task and the reaper also
//! take, and they do that on blocking threads too. The history lookup for a new call's
//! customer (async, bounded) happens before, off the lock.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tokio::sync::mpsc;

use super::auth::{Principal, Scope};
use super::gate::{
    check, error_response, json, query_pairs, quota_refusal, refuse, refuse_if_closing,
    socket_slot, QueryPairs,
};
use super::history::StartContext;
use super::hub::agents::{AgentMsg, Class};
use super::hub::quotas::CallSlot;
use super::hub::ConnCmd;
use super::limits::RateLimiter;
use super::vendor::VendorFeed;
use super::{AppState, WS_READ_BUFFER};
use crate::adapters::{
    decode, Adapter, AdapterError, CallAdapter, EndedCalls, Fault, Format, Note, Settings, What,
};
use crate::engine::{Call, Event};
use crate::protocol::{validate, CallStart, ErrorCode, Inbound, Outbound, ProtocolError};

/// Commands (agent feedback) queued for one tenant's webhook calls.
const CMD_QUEUE: usize = 64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Milliseconds on a monotonic clock, for vendors that give no times (arrival time).
fn arrival_ms(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

/// The format named in the path, or the error (a 404) naming the formats there are.
fn format_of(name: &str) -> Result<Format, ProtocolError> {
    Format::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        ProtocolError::new(
            ErrorCode::InvalidField,
            format!("unknown format `{name}`: one of {}", names.join(", ")),
        )
    })
}

/// Query parameters, then the campaign's `[campaigns.X.adapters.<format>]`; a role override
/// that is not one of the format's channels is refused (422 naming it).
fn settings(
    app: &AppState,
    query: &[(String, String)],
    format: Format,
) -> Result<Settings, AdapterError> {
    let s = Settings::from_query(query);
    let campaign = app
        .resources()
        .config
        .campaign(s.campaign.as_deref().unwrap_or("default"));
    s.with_campaign(&campaign.adapters, format)
        .for_format(format)
}

fn adapter_error(app: &AppState, e: &AdapterError) -> Response {
    app.metrics.error(e.code());
    let status = match e.fault {
        Fault::Body => StatusCode::BAD_REQUEST,
        Fault::Missing | Fault::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
    };
    json(status, e.to_json())
}

/// An admitted vendor request: its query parameters, who sent it, and its format.
type Admitted = (Vec<(String, String)>, Principal, Format);

/// What both vendor endpoints check first, in this order: not shutting down, a readable query,
/// platform credentials, a known format (404 otherwise).
fn admit(
    app: &AppState,
    headers: &HeaderMap,
    query: QueryPairs,
    format: &str,
) -> Result<Admitted, Box<Response>> {
    if let Some(r) = refuse_if_closing(app) {
        return Err(Box::new(r));
    }
    let query = query_pairs(query).map_err(|r| Box::new(refuse(app, r)))?;
    let principal =
        check(app, headers, &query, Scope::Stream).map_err(|r| Box::new(refuse(app, r)))?;
    let format =
        format_of(format).map_err(|e| Box::new(error_response(app, StatusCode::NOT_FOUND, e)))?;
    Ok((query, principal, format))
}

/// `GET /v1/stream/{format}`: `/v1/stream` with vendor frames.
pub async fn stream(
    State(app): State<Arc<AppState>>,
    Path(format): Path<String>,
    headers: HeaderMap,
    query: QueryPairs,
    ws: WebSocketUpgrade,
) -> Response {
    let (query, principal, format) = match admit(&app, &headers, query, &format) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let settings = match settings(&app, &query, format) {
        Ok(s) => s,
        Err(e) => return adapter_error(&app, &e),
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
    let feed = VendorFeed::new(Adapter::new(format, settings));
    let tracker = app.streams.clone();
    ws.read_buffer_size(WS_READ_BUFFER)
        .max_message_size(app.opts.hard_message_limit)
        .max_frame_size(app.opts.hard_message_limit)
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                let _slots = (slot, quota);
                super::stream::serve_vendor(socket, app, tenant, Some(feed)).await
            })
        })
}

/// `POST /v1/ingest/{format}`: one vendor message (or batch); the 200 body carries the outputs
/// it produced, `{"outputs":[...]}`, the same messages the stream would send (errors about
/// single messages included). A malformed payload is refused whole: 400 (not JSON / not a
/// form) or 422 (a field missing or wrong, named in `field`).
pub async fn ingest(
    State(app): State<Arc<AppState>>,
    Path(format): Path<String>,
    headers: HeaderMap,
    query: QueryPairs,
    body: axum::body::Body,
) -> Response {
    let (query, principal, format) = match admit(&app, &headers, query, &format) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    // Credentials first, then a slot (webhook bodies are as large as batches), then the body
    // (bounded in size and time).
    let limit = app.opts.ingest_body_limit;
    if let Some(r) = super::http::refuse_declared_oversize(&app, &headers, limit) {
        return r;
    }
    let _slot = match super::http::batch_slot(&app, &app.ingest_slots, "webhook requests") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let body = match super::http::read_request_body(&app, body, limit).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let settings = match settings(&app, &query, format) {
        Ok(s) => s,
        Err(e) => return adapter_error(&app, &e),
    };
    let notes = match decode(format, &body, &settings) {
        Ok(n) => n,
        Err(e) => return adapter_error(&app, &e),
    };
    let tenant: Arc<str> = Arc::from(principal.tenant());
    let starts = app.ingest.prepare(&app, &tenant, &notes, &settings).await;
    let work = app.clone();
    let applied = tokio::task::spawn_blocking(move || {
        work.ingest
            .apply(&work, &tenant, format, &settings, notes, starts)
    })
    .await;
    let Ok(outputs) = applied else {
        let e = ProtocolError::new(
            ErrorCode::Busy,
            "the request could not be applied; retry it",
        );
        return error_response(&app, StatusCode::SERVICE_UNAVAILABLE, e);
    };
    let mut body = String::from("{\"outputs\":[");
    body.push_str(&outputs.join(","));
    body.push_str("]}");
    json(StatusCode::OK, body)
}

/// One webhook call: its engine call and its adapter state.
#[derive(Debug)]
struct Live {
    call: Call,
    adapter: CallAdapter,
    agent_id: Arc<str>,
    last_event: Instant,
    /// The call's place in its tenant's quota, given back when the call is removed.
    #[allow(dead_code)]
    slot: CallSlot,
    /// The stream's per-call segment limit (`--max-segment-rate`), per webhook call.
    limiter: RateLimiter,
}

/// A new call's `call.start`, prepared before the engine work: with its customer's history.
struct Prepared {
    start: CallStart,
    context: StartContext,
}

/// The webhook calls of one tenant.
#[derive(Debug)]
struct TenantCalls {
    calls: Mutex<HashMap<String, Live>>,
    /// Calls that ended, so their redeliveries start no ghost call (locked after `calls`).
    ended: Mutex<EndedCalls>,
    /// Feedback routing: the hub sends agent feedback on these calls here.
    cmd_tx: mpsc::Sender<ConnCmd>,
    conn_id: u64,
}

/// Webhook calls, keyed by (tenant, call id).
#[derive(Debug)]
pub struct IngestCalls {
    tenants: Mutex<HashMap<Arc<str>, Arc<TenantCalls>>>,
    epoch: Instant,
}

impl Default for IngestCalls {
    fn default() -> Self {
        IngestCalls {
            tenants: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        }
    }
}

impl IngestCalls {
    /// The tenant's table, created with its feedback task on first use.
    fn tenant(&self, app: &Arc<AppState>, tenant: &Arc<str>) -> Arc<TenantCalls> {
        let mut tenants = lock(&self.tenants);
        if let Some(t) = tenants.get(tenant) {
            return t.clone();
        }
        let (cmd_tx, cmd_rx) = mpsc::channel(CMD_QUEUE);
        let t = Arc::new(TenantCalls {
            calls: Mutex::new(HashMap::new()),
            ended: Mutex::new(EndedCalls::default()),
            cmd_tx,
            conn_id: app.next_conn.fetch_add(1, Ordering::Relaxed),
        });
        tenants.insert(tenant.clone(), t.clone());
        tokio::spawn(commands(app.clone(), tenant.clone(), t.clone(), cmd_rx));
        t
    }

    /// The `call.start` of each call these notes would open, with what the history knows of
    /// its customer (looked up here, async and bounded, so the engine work holds no lock
    /// across it). At most as many as the tenant may still open.
    async fn prepare(
        &self,
        app: &Arc<AppState>,
        tenant: &Arc<str>,
        notes: &[Note],
        settings: &Settings,
    ) -> HashMap<String, Prepared> {
        let tc = self.tenant(app, tenant);
        let fresh: Vec<&Note> = {
            let calls = lock(&tc.calls);
            let room = app
                .opts
                .max_calls_per_connection
                .saturating_sub(calls.len());
            let mut seen = std::collections::HashSet::new();
            notes
                .iter()
                .filter(|n| !matches!(n.what, What::End) && !calls.contains_key(&n.call_id))
                .filter(|n| seen.insert(n.call_id.as_str()))
                .take(room)
                .collect()
        };
        let mut out = HashMap::new();
        for note in fresh {
            let mut start = CallAdapter::start_message(note, settings);
            if validate(&Inbound::CallStart(start.clone()), &app.opts.parse_limits).is_err() {
                continue; // refused (and reported) when the call would open
            }
            let context = super::history::at_call_start(app, tenant, &mut start).await;
            out.insert(note.call_id.clone(), Prepared { start, context });
        }
        out
    }

    /// Apply one request's notes; the JSON of every output (and per-message error), in order.
    /// Heavy (engine work under the tenant's lock): call it on a blocking thread.
    fn apply(
        &self,
        app: &Arc<AppState>,
        tenant: &Arc<str>,
        format: Format,
        settings: &Settings,
        notes: Vec<Note>,
        mut starts: HashMap<String, Prepared>,
    ) -> Vec<String> {
        let tc = self.tenant(app, tenant);
        let arrival = arrival_ms(self.epoch);
        let mut calls = lock(&tc.calls);
        let mut out = Vec::new();
        for note in notes {
            let ends = matches!(note.what, What::End);
            if !calls.contains_key(&note.call_id) {
                if ends {
                    continue;
                }
                // A redelivery of a call that already ended: already answered.
                let Some(adapter) = lock(&tc.ended).reopen(&note) else {
                    continue;
                };
                let (start, context) = match starts.remove(&note.call_id) {
                    Some(p) => (p.start, Some(p.context)),
                    None => (CallAdapter::start_message(&note, settings), None),
                };
                match open(app, tenant, &tc, calls.len(), start, context, adapter) {
                    Ok(live) => {
                        tracing::info!(tenant = %tenant, call = %note.call_id, %format, "webhook call started");
                        calls.insert(note.call_id.clone(), live);
                    }
                    Err(e) => {
                        app.metrics.error(e.code);
                        out.push(e.to_json());
                        continue;
                    }
                }
            }
            let call_id = note.call_id.clone();
            let Some(live) = calls.get_mut(&call_id) else {
                continue;
            };
            live.last_event = Instant::now();
            for msg in live.adapter.apply_note(note, arrival) {
                if let Err(e) = validate(&msg, &app.opts.parse_limits) {
                    let e = e.for_call(msg.call_id());
                    app.metrics.error(e.code);
                    out.push(e.to_json());
                    continue;
                }
                match msg {
                    Inbound::Segment(seg) => {
                        if !live.limiter.allow(tokio::time::Instant::now()) {
                            let e = ProtocolError::new(
                                ErrorCode::RateLimited,
                                format!(
                                    "more than {} segments/s on this call: segment {} dropped",
                                    app.opts.max_segments_per_sec, seg.segment_id
                                ),
                            )
                            .for_call(&seg.call_id);
                            app.metrics.error(e.code);
                            out.push(e.to_json());
                            continue;
                        }
                        let t0 = Instant::now();
                        if seg.is_final {
                            let mut s = seg.clone();
                            if live.call.redacts_pii() {
                                s.text = crate::language::pii::redact(&s.text).into_owned();
                            }
                            app.hub.board.segment(tenant, &s);
                        }
                        let outs = live.call.on_event(Event::Segment(seg));
                        app.metrics.segment(t0.elapsed().as_secs_f64());
                        out.extend(publish(app, tenant, tc.conn_id, &live.agent_id, outs));
                    }
                    Inbound::CallEnd(_) => {
                        let outs = live.call.on_event(Event::End);
                        app.metrics.call_ended("call_end");
                        out.extend(publish(app, tenant, tc.conn_id, &live.agent_id, outs));
                    }
                    _ => {}
                }
            }
            if ends {
                if let Some(live) = calls.remove(&call_id) {
                    lock(&tc.ended).ended(live.adapter);
                }
            }
        }
        out
    }

    /// End calls idle for `idle` (all of them with `None`), with their summaries. Engine work
    /// under the tenants' locks: call it on a blocking thread.
    fn expire(&self, app: &AppState, idle: Option<Duration>, reason: &'static str) {
        let tenants: Vec<(Arc<str>, Arc<TenantCalls>)> = lock(&self.tenants)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (tenant, tc) in tenants {
            let mut calls = lock(&tc.calls);
            let due: Vec<String> = calls
                .iter()
                .filter(|(_, l)| idle.is_none_or(|d| l.last_event.elapsed() >= d))
                .map(|(k, _)| k.clone())
                .collect();
            for call_id in due {
                if let Some(mut live) = calls.remove(&call_id) {
                    tracing::info!(tenant = %tenant, call = %call_id, reason, "webhook call ended");
                    let outs = live.call.on_event(Event::End);
                    app.metrics.call_ended(reason);
                    publish(app, &tenant, tc.conn_id, &live.agent_id, outs);
                    lock(&tc.ended).ended(live.adapter);
                }
            }
        }
    }
}

/// Start a webhook call from its `call.start` (with its customer's history when prepared) and
/// its adapter state.
fn open(
    app: &Arc<AppState>,
    tenant: &Arc<str>,
    tc: &TenantCalls,
    open_calls: usize,
    start: CallStart,
    context: Option<StartContext>,
    adapter: CallAdapter,
) -> Result<Live, ProtocolError> {
    validate(&Inbound::CallStart(start.clone()), &app.opts.parse_limits)
        .map_err(|e| e.for_call(&start.call_id))?;
    let per_tenant = app.opts.max_calls_per_connection;
    if open_calls >= per_tenant {
        return Err(ProtocolError::new(
            ErrorCode::TooManyCalls,
            format!("this tenant already has {per_tenant} webhook calls open (the limit)"),
        )
        .for_call(&start.call_id));
    }
    if app
        .hub
        .call_is_live_elsewhere(tenant, &start.call_id, tc.conn_id)
    {
        return Err(ProtocolError::new(
            ErrorCode::DuplicateCall,
            format!(
                "call `{}` is live on a stream connection of this tenant",
                start.call_id
            ),
        )
        .for_call(&start.call_id));
    }
    let slot = app
        .hub
        .quotas
        .reserve_call(tenant)
        .map_err(|e| e.for_call(&start.call_id))?;
    app.hub.resume.forget_ended(tenant, &start.call_id);
    let call = Call::new(&start, app.resources());
    let agent_id: Arc<str> = Arc::from(start.agent_id.as_str());
    app.hub.register_call(
        tenant,
        &start.call_id,
        &start.agent_id,
        tc.conn_id,
        tc.cmd_tx.clone(),
    );
    app.hub
        .board
        .call_start(tenant, &start.call_id, &agent_id, call.campaign());
    if let Some(ctx) = context {
        app.hub
            .board
            .set_history_meta(tenant, &start.call_id, ctx.meta);
        if let Some(json) = ctx.message {
            let json: Arc<str> = Arc::from(json);
            app.hub.agents.publish(
                tenant,
                &start.agent_id,
                AgentMsg {
                    class: Class::Keep,
                    json: json.clone(),
                },
            );
            app.hub.board.context(tenant, &start.call_id, json);
        }
    }
    let limiter = RateLimiter::new(
        app.opts.max_segments_per_sec,
        app.opts.segment_rate_window,
        tokio::time::Instant::now(),
    );
    Ok(Live {
        call,
        adapter,
        agent_id,
        last_event: Instant::now(),
        slot,
        limiter,
    })
}

/// Publish outputs as a stream connection does (replay buffer and agent panels, supervisors);
/// a summary also closes the call's routes (its quota slot goes with the call's `Live`). Returns
/// their JSON.
fn publish(
    app: &AppState,
    tenant: &Arc<str>,
    conn_id: u64,
    agent_id: &Arc<str>,
    outs: Vec<Outbound>,
) -> Vec<String> {
    let mut jsons = Vec::with_capacity(outs.len());
    for o in outs {
        let json = o.to_json();
        let shared: Arc<str> = Arc::from(json.as_str());
        let call: Arc<str> = Arc::from(o.call_id());
        if let Outbound::Nudge(n) = &o {
            app.metrics.nudge(&n.kind);
        }
        let dropped = app.hub.publish_output(tenant, &call, agent_id, &o, shared);
        if dropped > 0 {
            app.metrics.agent_dropped(dropped);
        }
        if matches!(o, Outbound::Summary(_)) {
            app.hub.unregister_call(tenant, &call, conn_id);
            app.hub.board.call_end(tenant, &call, agent_id);
        }
        jsons.push(json);
    }
    jsons
}

/// Agent feedback for one tenant's webhook calls, until shutdown.
async fn commands(
    app: Arc<AppState>,
    tenant: Arc<str>,
    tc: Arc<TenantCalls>,
    mut rx: mpsc::Receiver<ConnCmd>,
) {
    loop {
        let cmd = tokio::select! {
            _ = app.shutdown.cancelled() => return,
            cmd = rx.recv() => match cmd {
                Some(c) => c,
                None => return,
            },
        };
        match cmd {
            ConnCmd::Feedback { feedback, reply } => {
                // Off the async worker: the table's lock may be held by a request's engine work.
                let (a, t, c) = (app.clone(), tenant.clone(), tc.clone());
                let r = tokio::task::spawn_blocking(move || apply_feedback(&a, &t, &c, feedback))
                    .await
                    .unwrap_or_else(|_| {
                        Err(ProtocolError::new(
                            ErrorCode::Busy,
                            "the feedback could not be applied; retry it",
                        ))
                    });
                let _ = reply.send(r);
            }
            // Webhook calls stay in the webhook table: they are not handed to a stream.
            ConnCmd::Release { reply, .. } => {
                let _ = reply.send(None);
            }
        }
    }
}

/// Agent feedback on one of the tenant's webhook calls.
fn apply_feedback(
    app: &AppState,
    tenant: &Arc<str>,
    tc: &TenantCalls,
    feedback: crate::protocol::Feedback,
) -> Result<(), ProtocolError> {
    let mut calls = lock(&tc.calls);
    match calls.get_mut(&feedback.call_id) {
        Some(live) => {
            let useful = feedback.useful;
            let nudge_id = feedback.nudge_id;
            live.call.feedback(nudge_id.clone(), useful).map(|outs| {
                let kind = live.call.nudge_kind(&nudge_id).unwrap_or_default();
                app.metrics.feedback(kind, live.call.campaign(), useful);
                publish(app, tenant, tc.conn_id, &live.agent_id, outs);
            })
        }
        None => Err(ProtocolError::new(
            ErrorCode::UnknownCall,
            format!("no open call `{}`", feedback.call_id),
        )
        .for_call(&feedback.call_id)),
    }
}

/// Background task: end idle webhook calls; on shutdown end them all (summaries to agents and
/// supervisors).
pub async fn reaper(app: Arc<AppState>) {
    let idle = app.opts.idle_call_timeout;
    let period = app.opts.tick_interval.max(Duration::from_millis(50));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = app.shutdown.cancelled() => break,
            _ = ticks.tick() => {
                if !idle.is_zero() {
                    let a = app.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        a.ingest.expire(&a, Some(idle), "idle")
                    })
                    .await;
                }
            }
        }
    }
    let a = app.clone();
    let _ = tokio::task::spawn_blocking(move || a.ingest.expire(&a, None, "shutdown")).await;
}
