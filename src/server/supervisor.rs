//! `/v1/supervisor`: the live board of a tenant's calls, and `GET /v1/calls/{call_id}`, the
//! post-call record. The board's state lives in the hub ([`super::hub::board`]); this socket
//! sends its snapshot, then its queued events, answers `call.open` with the call's full detail,
//! and resynchronises itself with a fresh snapshot when its queue overflowed.

use super::WS_READ_BUFFER;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::time::{interval_at, timeout, Duration, Instant, MissedTickBehavior};

use super::auth::Principal;
use super::gate::{
    error_response, json, quota_refusal, refuse, refuse_if_closing, socket_slot,
    supervisor_principal, QueryPairs,
};
use super::hub::board::{FeedItem, Next, Snapshot, Subscription};
use super::hub::quotas::PrincipalSlot;
use super::ws::{CLOSE_GOING_AWAY, CLOSE_POLICY};
use super::AppState;
use crate::protocol::{ErrorCode, ProtocolError};

/// The one message a supervisor sends: `{"type":"call.open","call_id":...}`.
#[derive(Deserialize)]
struct Request {
    #[serde(rename = "type")]
    kind: String,
    call_id: Option<String>,
}

/// What a frame from the supervisor asks for: a call's detail, or an error to send back.
fn request(app: &AppState, text: &str) -> Result<String, ProtocolError> {
    if text.len() > app.opts.soft_message_limit {
        return Err(ProtocolError::new(
            ErrorCode::MessageTooLarge,
            format!("the limit is {} bytes", app.opts.soft_message_limit),
        ));
    }
    let r: Request = serde_json::from_str(text).map_err(|e| {
        ProtocolError::new(
            ErrorCode::BadJson,
            format!("expected {{\"type\":\"call.open\",\"call_id\":...}}: {e}"),
        )
    })?;
    if r.kind != "call.open" {
        return Err(ProtocolError::new(
            ErrorCode::NotAllowedHere,
            "the supervisor feed accepts only `call.open`",
        ));
    }
    r.call_id
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ProtocolError::new(ErrorCode::MissingField, "`call.open` needs a `call_id`"))
}

/// The frame for a queued item (a call's detail is serialised here, outside the board lock).
fn frame_of(item: FeedItem) -> Message {
    match item {
        FeedItem::Json(j) => text(&j),
        FeedItem::Detail(d) => Message::Text(d.to_json().into()),
    }
}

async fn send(sink: &mut SplitSink<WebSocket, Message>, msg: Message, limit: Duration) -> bool {
    matches!(timeout(limit, sink.send(msg)).await, Ok(Ok(())))
}

/// Send a snapshot page by page, each serialised just before it goes (outside the board lock).
async fn send_snapshot(
    sink: &mut SplitSink<WebSocket, Message>,
    snapshot: Snapshot,
    limit: Duration,
) -> bool {
    for page in snapshot.into_pages() {
        if !send(sink, Message::Text(page.into()), limit).await {
            return false;
        }
    }
    true
}

fn text(s: &str) -> Message {
    Message::Text(s.to_string().into())
}

/// Unsubscribes when the socket's task ends, however it ends.
struct Subscribed<'a>(&'a AppState, Arc<Subscription>);

impl Drop for Subscribed<'_> {
    fn drop(&mut self) {
        self.0.hub.board.unsubscribe(&self.1);
    }
}

/// Serve one `/v1/supervisor` socket: snapshot, then live events, until the peer leaves or the
/// server shuts down (after the platform sockets, so the last `call.ended`s get out first).
pub async fn serve(socket: WebSocket, app: Arc<AppState>, tenant: Arc<str>) {
    let board = &app.hub.board;
    app.supervisor_sockets.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let limit = app.opts.send_timeout;
    let (snapshot, sub) = board.subscribe(&tenant);
    let subscribed = Subscribed(&app, sub);
    let sub = &subscribed.1;

    let mut pings = interval_at(
        Instant::now() + app.opts.ping_interval,
        app.opts.ping_interval,
    );
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_seen = Instant::now();

    let close: Option<(u16, &'static str)> = if !send_snapshot(&mut sink, snapshot, limit).await {
        None
    } else {
        loop {
            tokio::select! {
                biased;
                _ = app.agents_close.cancelled() => {
                    // Flush what is queued (the `call.ended`s of the shutdown) first.
                    while let Some(Next::Item(item)) = sub.try_next() {
                        if !send(&mut sink, frame_of(item), limit).await {
                            break;
                        }
                    }
                    break Some((CLOSE_GOING_AWAY, "server shutting down"));
                }
                next = sub.next() => {
                    let frame = match next {
                        Next::Item(item) => frame_of(item),
                        Next::Resync => {
                            // Fell behind: what it missed is dropped; a fresh snapshot instead.
                            app.metrics.supervisor_lagged(sub.take_dropped());
                            if !send_snapshot(&mut sink, board.resync(sub), limit).await {
                                break None;
                            }
                            continue;
                        }
                    };
                    if !send(&mut sink, frame, limit).await {
                        break None;
                    }
                }
                frame = stream.next() => {
                    let frame = match frame {
                        Some(Ok(f)) => f,
                        Some(Err(_)) | None => break None,
                    };
                    last_seen = Instant::now();
                    let asked = match frame {
                        Message::Text(t) => Some(request(&app, t.as_str())),
                        Message::Binary(_) => Some(Err(ProtocolError::new(
                            ErrorCode::BinaryFrame,
                            "binary frames are not part of protocol v1",
                        ))),
                        Message::Close(_) => break None,
                        Message::Ping(_) | Message::Pong(_) => None,
                    };
                    // The detail is queued in order with the call's events; errors go out now.
                    if let Some(Err(e)) = asked.map(|r| r.and_then(|call_id| board.open(sub, &call_id))) {
                        app.metrics.error(e.code);
                        if !send(&mut sink, text(&e.to_json()), limit).await {
                            break None;
                        }
                    }
                }
                _ = pings.tick() => {
                    if last_seen.elapsed() > app.opts.pong_timeout {
                        break Some((CLOSE_POLICY, "no pong"));
                    }
                    if !send(&mut sink, Message::Ping(Default::default()), limit).await {
                        break None;
                    }
                }
            }
        }
    };
    if let Some((code, reason)) = close {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        send(&mut sink, frame, limit).await;
    }
    let _ = timeout(limit, sink.close()).await;
    app.supervisor_sockets.fetch_sub(1, Ordering::Relaxed);
}

/// `GET /v1/supervisor`: upgrade to the supervisor feed.
pub async fn upgrade(
    AxState(app): AxState<Arc<AppState>>,
    headers: HeaderMap,
    query: QueryPairs,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(r) = refuse_if_closing(&app) {
        return r;
    }
    let principal = match supervisor(&app, &headers, query) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let tenant: Arc<str> = Arc::from(principal.tenant());
    let quota: PrincipalSlot = match app.hub.quotas.reserve_socket(
        super::gate::principal_key(&principal)
            .as_deref()
            .map(|k| (&tenant, k)),
    ) {
        Ok(q) => q,
        Err(e) => return quota_refusal(&app, e),
    };
    let slot = match socket_slot(&app) {
        Ok(s) => s,
        Err(r) => return refuse(&app, r),
    };
    let tracker = app.agents.clone();
    ws.read_buffer_size(WS_READ_BUFFER)
        .max_message_size(app.opts.hard_message_limit)
        .max_frame_size(app.opts.hard_message_limit)
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                serve(socket, app, tenant).await;
                drop((slot, quota));
            })
        })
}

/// Who may watch: a supervisor token (or platform key) sees its own tenant's calls. In dev mode
/// every call is tenant `default`'s.
fn supervisor(
    app: &AppState,
    headers: &HeaderMap,
    query: QueryPairs,
) -> Result<Principal, Box<Response>> {
    supervisor_principal(app, headers, query).map(|(who, _)| who)
}

/// `GET /v1/calls/{call_id}`: the post-call record of a recently ended call; 404 otherwise.
pub async fn call_record(
    AxState(app): AxState<Arc<AppState>>,
    Path(call_id): Path<String>,
    headers: HeaderMap,
    query: QueryPairs,
) -> Response {
    let principal = match supervisor(&app, &headers, query) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    if let Some(body) = app.hub.board.record(principal.tenant(), &call_id) {
        return json(StatusCode::OK, body.to_string());
    }
    let scope = Some(principal.tenant().to_string());
    match super::history::stored_record(&app, scope, call_id.clone()).await {
        Err(r) => r,
        Ok(Some(body)) => json(StatusCode::OK, body),
        Ok(None) => {
            let e = ProtocolError::new(
                ErrorCode::UnknownCall,
                format!(
                    "no ended call `{call_id}` in memory (last {}) or in the history (calls appear here once they end)",
                    app.opts.recent_calls
                ),
            )
            .for_call(call_id);
            error_response(&app, StatusCode::NOT_FOUND, e)
        }
    }
}
