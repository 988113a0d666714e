//! The supervisor side: the board of active calls, a bounded store of recently ended calls, and the
//! `/v1/supervisor` socket.
//!
//! [`Feed`] is the single place supervisor events go through. Every event is applied to the board
//! and broadcast **under one lock**, so a subscriber that takes a snapshot and subscribes under the
//! same lock sees every later event exactly once: no gap, no duplicate. Each event is serialised
//! once (its wire JSON travels in the [`SupervisorEvent`]) and fanned out through the broadcast; a
//! subscriber that lags behind gets a fresh snapshot instead of the events it missed.
//!
//! Segment text is personal data: it is kept only while the call is active (for the board's
//! transcript, bounded per call) and never after the call ends; the post-call record keeps the
//! segments' timing and speaker only. The feed gets authentication in a later issue through
//! [`super::auth::Scope::Supervisor`].

use super::WS_READ_BUFFER;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio::time::{interval_at, timeout, Duration, Instant, MissedTickBehavior};

use super::auth::{Principal, Scope};
use super::http::{
    check, error_response, json, query_pairs, refuse, refuse_if_closing, socket_slot, QueryPairs,
};
use super::hub::SupervisorEvent;
use super::ws::{CLOSE_GOING_AWAY, CLOSE_POLICY};
use super::AppState;
use crate::protocol::{
    ErrorCode, Evidence, FrustrationPoint, InterruptionCounts, Outbound, ProtocolError, Segment,
    Severity, Speaker, State,
};

/// Ended calls kept for `GET /v1/calls/{call_id}` by default.
pub const RECENT_CALLS: usize = 500;
/// Ended calls listed in the snapshot (links to their post-call view).
const SNAPSHOT_RECENT: usize = 20;
/// Frustration points kept per active call for the sparkline (oldest dropped first).
const MAX_TRAJECTORY: usize = 600;
/// Transcript of an active call: at most this many final segments...
const MAX_LIVE_SEGMENTS: usize = 2000;
/// ...and this many bytes of text (oldest segments dropped first).
const MAX_LIVE_TEXT_BYTES: usize = 256 * 1024;
/// Segment timings kept per call for the post-call plot.
const MAX_TIMINGS: usize = 5000;
/// Nudges kept per call (the policy makes them rare; this only bounds a pathological call).
const MAX_NUDGES: usize = 500;

/// A final segment as the board shows it. `text` is absent in post-call records.
#[derive(Debug, Clone, Serialize)]
struct SegmentView {
    segment_id: String,
    speaker: Speaker,
    start_ms: u64,
    end_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

/// A nudge with its text, evidence and outcome (the summary's `nudges[]` lacks text and evidence).
#[derive(Debug, Clone, Serialize)]
struct NudgeView {
    nudge_id: String,
    kind: String,
    text: String,
    severity: Severity,
    at_ms: u64,
    evidence: Vec<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cleared_at_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    clear_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    useful: Option<bool>,
}

/// An interruption seen in the `state` stream (the count went up at that `state`'s media time).
#[derive(Debug, Clone, Copy, Serialize)]
struct InterruptionMark {
    at_ms: u64,
    /// Who interrupted.
    by: Speaker,
}

/// One active call on the board.
#[derive(Debug)]
struct LiveCall {
    tenant: Arc<str>,
    agent_id: Arc<str>,
    campaign: Arc<str>,
    started: Instant,
    state: Option<State>,
    trajectory: VecDeque<FrustrationPoint>,
    nudges: Vec<NudgeView>,
    segments: VecDeque<SegmentView>,
    text_bytes: usize,
    timings: Vec<SegmentView>,
    interruptions: Vec<InterruptionMark>,
    counts: InterruptionCounts,
    /// Wall-clock unix ms at `call.start`, for the history.
    started_at_ms: i64,
    history: HistoryMeta,
    /// The customer's `context` message, when they called before.
    context: Option<serde_json::Value>,
}

/// What the history needs to know about a call beyond its outputs.
#[derive(Debug, Clone, Default)]
pub struct HistoryMeta {
    /// Keyed hash of the customer id, when the platform sent one.
    pub customer_key: Option<String>,
    pub config: crate::config::HistoryConfig,
}

impl LiveCall {
    fn new(tenant: Arc<str>, agent_id: Arc<str>, campaign: Arc<str>) -> LiveCall {
        LiveCall {
            tenant,
            agent_id,
            campaign,
            started: Instant::now(),
            state: None,
            trajectory: VecDeque::new(),
            nudges: Vec::new(),
            segments: VecDeque::new(),
            text_bytes: 0,
            timings: Vec::new(),
            interruptions: Vec::new(),
            counts: InterruptionCounts::default(),
            started_at_ms: super::auth::unix_now_ms(),
            history: HistoryMeta::default(),
            context: None,
        }
    }

    fn segment(&mut self, seg: &Segment) {
        let timing = SegmentView {
            segment_id: seg.segment_id.clone(),
            speaker: seg.speaker,
            start_ms: seg.start_ms,
            end_ms: seg.end_ms,
            text: None,
        };
        // A repeated final of the same segment replaces the earlier one.
        if let Some(t) = self
            .timings
            .iter_mut()
            .rev()
            .take(16)
            .find(|t| t.segment_id == seg.segment_id)
        {
            *t = timing.clone();
        } else if self.timings.len() < MAX_TIMINGS {
            self.timings.push(timing.clone());
        }
        if let Some(s) = self
            .segments
            .iter_mut()
            .rev()
            .take(16)
            .find(|s| s.segment_id == seg.segment_id)
        {
            self.text_bytes -= s.text.as_ref().map_or(0, String::len);
            *s = SegmentView {
                text: Some(seg.text.clone()),
                ..timing
            };
        } else {
            self.segments.push_back(SegmentView {
                text: Some(seg.text.clone()),
                ..timing
            });
        }
        self.text_bytes += seg.text.len();
        while self.segments.len() > MAX_LIVE_SEGMENTS || self.text_bytes > MAX_LIVE_TEXT_BYTES {
            match self.segments.pop_front() {
                Some(s) => self.text_bytes -= s.text.as_ref().map_or(0, String::len),
                None => break,
            }
        }
    }

    fn output(&mut self, o: &Outbound) {
        match o {
            Outbound::State(s) => {
                if s.interruptions.by_agent > self.counts.by_agent {
                    self.interruptions.push(InterruptionMark {
                        at_ms: s.at_ms,
                        by: Speaker::Agent,
                    });
                }
                if s.interruptions.by_customer > self.counts.by_customer {
                    self.interruptions.push(InterruptionMark {
                        at_ms: s.at_ms,
                        by: Speaker::Customer,
                    });
                }
                self.interruptions.truncate(MAX_TIMINGS);
                self.counts = s.interruptions;
                let point = FrustrationPoint {
                    at_ms: s.at_ms,
                    score: s.frustration.score,
                };
                if self.trajectory.back() != Some(&point) {
                    self.trajectory.push_back(point);
                    if self.trajectory.len() > MAX_TRAJECTORY {
                        self.trajectory.pop_front();
                    }
                }
                self.state = Some(s.clone());
            }
            Outbound::Nudge(n) => {
                if self.nudges.len() < MAX_NUDGES {
                    self.nudges.push(NudgeView {
                        nudge_id: n.nudge_id.clone(),
                        kind: n.kind.clone(),
                        text: n.text.clone(),
                        severity: n.severity,
                        at_ms: n.at_ms,
                        evidence: n.evidence.clone(),
                        cleared_at_ms: None,
                        clear_reason: None,
                        useful: None,
                    });
                }
            }
            Outbound::NudgeClear(c) => {
                if let Some(n) = self.nudges.iter_mut().find(|n| n.nudge_id == c.nudge_id) {
                    n.cleared_at_ms = Some(c.at_ms);
                    n.clear_reason = Some(c.reason.clone());
                }
            }
            Outbound::Summary(_) => {}
        }
    }
}

/// What the snapshot says about one active call.
#[derive(Serialize)]
struct LiveCallView<'a> {
    call_id: &'a str,
    agent_id: &'a str,
    campaign: &'a str,
    /// Wall time since `call.start` reached calma, in ms (the board counts on from here).
    elapsed_ms: u64,
    /// The last `state` message of the call, as sent (`null` before the first).
    state: Option<StateMsg<'a>>,
    trajectory: &'a VecDeque<FrustrationPoint>,
    nudges: &'a [NudgeView],
    interruptions: &'a [InterruptionMark],
    segments: &'a VecDeque<SegmentView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a serde_json::Value>,
}

/// A `state` with its `type` tag, as the platform got it.
#[derive(Serialize)]
struct StateMsg<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    state: &'a State,
}

/// A recently ended call, listed in the snapshot.
#[derive(Debug, Clone, Serialize)]
struct RecentView {
    call_id: String,
    agent_id: String,
    campaign: String,
    duration_ms: u64,
    peak_level: crate::protocol::Level,
    peak_score: f64,
    nudges: usize,
}

/// Ended calls: the `GET /v1/calls/{call_id}` body (serialised once, at the end of the call),
/// bounded to the last `cap` calls.
#[derive(Debug)]
struct Recent {
    cap: usize,
    next: u64,
    /// Keyed by tenant and call id.
    by_id: HashMap<String, (u64, Arc<str>, RecentView, Arc<str>)>,
    order: VecDeque<(u64, String)>,
}

impl Recent {
    fn new(cap: usize) -> Recent {
        Recent {
            cap: cap.max(1),
            next: 0,
            by_id: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn key(tenant: &str, call_id: &str) -> String {
        format!("{tenant}\u{1f}{call_id}")
    }

    fn insert(&mut self, call_id: &str, tenant: Arc<str>, body: Arc<str>, view: RecentView) {
        self.next += 1;
        let id = self.next;
        let key = Self::key(&tenant, call_id);
        self.by_id.insert(key.clone(), (id, body, view, tenant));
        self.order.push_back((id, key));
        // A reused call id leaves a stale entry in `order`: skip those, count only live ones.
        while self.by_id.len() > self.cap || self.order.len() > 2 * self.cap {
            let Some((old, key)) = self.order.pop_front() else {
                break;
            };
            if self.by_id.get(&key).is_some_and(|(g, ..)| *g == old) {
                self.by_id.remove(&key);
            }
        }
    }

    /// The record of `call_id` in the tenant `scope` (any tenant when `None`: dev mode).
    fn get(&self, scope: Option<&str>, call_id: &str) -> Option<Arc<str>> {
        match scope {
            Some(t) => self
                .by_id
                .get(&Self::key(t, call_id))
                .map(|(_, b, ..)| b.clone()),
            None => self
                .by_id
                .values()
                .filter(|(_, _, v, _)| v.call_id == call_id)
                .max_by_key(|(g, ..)| *g)
                .map(|(_, b, ..)| b.clone()),
        }
    }

    fn latest(&self, scope: Option<&str>, n: usize) -> Vec<&RecentView> {
        self.order
            .iter()
            .rev()
            .filter_map(|(g, k)| {
                self.by_id
                    .get(k)
                    .filter(|(id, _, _, t)| id == g && scope.is_none_or(|s| s == &**t))
                    .map(|(_, _, v, _)| v)
            })
            .take(n)
            .collect()
    }
}

#[derive(Debug)]
struct Board {
    live: HashMap<Arc<str>, LiveCall>,
    recent: Recent,
}

/// The `GET /v1/calls/{call_id}` body.
#[derive(Serialize)]
struct PostCall<'a> {
    call_id: &'a str,
    summary: &'a crate::protocol::Summary,
    nudges: &'a [NudgeView],
    segments: &'a [SegmentView],
    interruptions: &'a [InterruptionMark],
}

/// The supervisor feed: board state + broadcast, updated together.
#[derive(Debug)]
pub struct Feed {
    board: Mutex<Board>,
    tx: broadcast::Sender<SupervisorEvent>,
    /// Where ended calls' records are written (set once at server start).
    history: std::sync::OnceLock<Arc<crate::store::Store>>,
}

/// Feed messages other than engine outputs, `type` first like every other message.
#[derive(Serialize)]
#[serde(tag = "type")]
enum FeedMsg<'a> {
    #[serde(rename = "call.started")]
    CallStarted {
        call_id: &'a str,
        agent_id: &'a str,
        campaign: &'a str,
    },
    #[serde(rename = "segment")]
    Segment {
        call_id: &'a str,
        segment_id: &'a str,
        speaker: Speaker,
        text: &'a str,
        start_ms: u64,
        end_ms: u64,
    },
    #[serde(rename = "call.ended")]
    CallEnded { call_id: &'a str, agent_id: &'a str },
    #[serde(rename = "snapshot")]
    Snapshot {
        calls: Vec<LiveCallView<'a>>,
        recent: Vec<&'a RecentView>,
    },
}

fn wire(m: &FeedMsg<'_>) -> String {
    serde_json::to_string(m).expect("feed messages always serialise")
}

impl Feed {
    /// A feed whose broadcast holds `capacity` events and which remembers `recent` ended calls.
    pub fn new(capacity: usize, recent: usize) -> Feed {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Feed {
            board: Mutex::new(Board {
                live: HashMap::new(),
                recent: Recent::new(recent),
            }),
            tx,
            history: std::sync::OnceLock::new(),
        }
    }

    /// Write every ended call's record to `store` from now on.
    pub fn set_history(&self, store: Arc<crate::store::Store>) {
        let _ = self.history.set(store);
    }

    /// A returning customer's `context` (sent to the agent panel): kept on the board's call and
    /// broadcast to supervisors.
    pub fn context(&self, tenant: Arc<str>, call_id: &str, agent_id: Arc<str>, json: Arc<str>) {
        let mut board = self.lock();
        if let Some(c) = board.live.get_mut(call_id).filter(|c| c.tenant == tenant) {
            c.context = serde_json::from_str(&json).ok();
        }
        self.send(SupervisorEvent::Output {
            tenant,
            call_id: Arc::from(call_id),
            agent_id,
            json,
        });
    }

    /// Attach the history settings (customer key, retention, transcripts) to a live call.
    pub fn set_history_meta(&self, tenant: &str, call_id: &str, meta: HistoryMeta) {
        let mut board = self.lock();
        if let Some(c) = board.live.get_mut(call_id).filter(|c| &*c.tenant == tenant) {
            c.history = meta;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, ev: SupervisorEvent) {
        // No subscriber is fine: nobody is watching.
        let _ = self.tx.send(ev);
    }

    /// A call started.
    pub fn call_start(
        &self,
        tenant: Arc<str>,
        call_id: &str,
        agent_id: Arc<str>,
        campaign: &str,
        conn_id: u64,
    ) {
        let call: Arc<str> = Arc::from(call_id);
        let campaign: Arc<str> = Arc::from(campaign);
        let json = Arc::from(wire(&FeedMsg::CallStarted {
            call_id,
            agent_id: &agent_id,
            campaign: &campaign,
        }));
        let mut board = self.lock();
        board.live.insert(
            call.clone(),
            LiveCall::new(tenant.clone(), agent_id.clone(), campaign.clone()),
        );
        self.send(SupervisorEvent::CallStart {
            tenant,
            call_id: call,
            agent_id,
            campaign,
            conn_id,
            json,
        });
    }

    /// A final segment of a call (partials are not sent to supervisors).
    pub fn segment(&self, tenant: Arc<str>, call_id: &str, agent_id: Arc<str>, seg: &Segment) {
        let json = Arc::from(wire(&FeedMsg::Segment {
            call_id,
            segment_id: &seg.segment_id,
            speaker: seg.speaker,
            text: &seg.text,
            start_ms: seg.start_ms,
            end_ms: seg.end_ms,
        }));
        let mut board = self.lock();
        if let Some(c) = board.live.get_mut(call_id) {
            c.segment(seg);
        }
        self.send(SupervisorEvent::Segment {
            tenant,
            call_id: Arc::from(call_id),
            agent_id,
            json,
        });
    }

    /// An engine output of a call, `json` being exactly what the platform was sent. A
    /// `call.summary` moves the call from the board to the recent store.
    pub fn output(
        &self,
        tenant: Arc<str>,
        call_id: Arc<str>,
        agent_id: Arc<str>,
        o: &Outbound,
        json: Arc<str>,
    ) {
        let mut board = self.lock();
        if let Outbound::Summary(s) = o {
            let live = board.live.remove(&*call_id);
            let mut nudges = live.as_ref().map(|c| c.nudges.clone()).unwrap_or_default();
            for n in &mut nudges {
                if let Some(r) = s.nudges.iter().find(|r| r.nudge_id == n.nudge_id) {
                    n.cleared_at_ms = r.cleared_at_ms.or(n.cleared_at_ms);
                    n.clear_reason = r.clear_reason.clone().or(n.clear_reason.take());
                    n.useful = r.useful;
                }
            }
            let record_meta = live.as_ref().map(|c| {
                let transcript = c.history.config.keep_transcripts.then(|| {
                    let segs: Vec<crate::store::TranscriptSegment> = c
                        .segments
                        .iter()
                        .map(|v| crate::store::TranscriptSegment {
                            segment_id: v.segment_id.clone(),
                            speaker: v.speaker,
                            text: crate::language::pii::redact(v.text.as_deref().unwrap_or(""))
                                .into_owned(),
                            start_ms: v.start_ms,
                            end_ms: v.end_ms,
                        })
                        .collect();
                    serde_json::to_string(&segs).unwrap_or_else(|_| "[]".into())
                });
                (c.started_at_ms, c.history.clone(), transcript)
            });
            let (segments, interruptions) = live
                .map(|c| (c.timings, c.interruptions))
                .unwrap_or_default();
            let body = serde_json::to_string(&PostCall {
                call_id: &call_id,
                summary: s,
                nudges: &nudges,
                segments: &segments,
                interruptions: &interruptions,
            })
            .expect("post-call records always serialise");
            let view = RecentView {
                call_id: call_id.to_string(),
                agent_id: s.agent_id.clone(),
                campaign: s.campaign.clone(),
                duration_ms: s.duration_ms,
                peak_level: s.frustration_peak.level,
                peak_score: s.frustration_peak.score,
                nudges: s.nudges.len(),
            };
            if let (Some(store), Some((started_at_ms, meta, transcript))) =
                (self.history.get(), record_meta)
            {
                store.record(crate::store::CallRecord {
                    tenant: tenant.to_string(),
                    call_id: call_id.to_string(),
                    agent_id: s.agent_id.clone(),
                    campaign: s.campaign.clone(),
                    started_at_ms,
                    ended_at_ms: super::auth::unix_now_ms(),
                    summary: (**s).clone(),
                    record_json: body.clone(),
                    customer_key: meta.customer_key,
                    next_steps: s.next_steps.iter().map(|e| e.quote.clone()).collect(),
                    transcript_json: transcript,
                    retention_days: meta.config.retention_days,
                    transcript_retention_days: meta.config.transcript_retention_days,
                });
            }
            board
                .recent
                .insert(&call_id, tenant.clone(), Arc::from(body), view);
        } else if let Some(c) = board.live.get_mut(&*call_id) {
            c.output(o);
        }
        self.send(SupervisorEvent::Output {
            tenant,
            call_id,
            agent_id,
            json,
        });
    }

    /// A call ended (after its `call.summary`).
    pub fn call_end(&self, tenant: Arc<str>, call_id: Arc<str>, agent_id: Arc<str>) {
        let json = Arc::from(wire(&FeedMsg::CallEnded {
            call_id: &call_id,
            agent_id: &agent_id,
        }));
        let mut board = self.lock();
        board.live.remove(&*call_id);
        self.send(SupervisorEvent::CallEnd {
            tenant,
            call_id,
            agent_id,
            json,
        });
    }

    /// Subscribe to the raw events (no snapshot).
    pub fn subscribe(&self) -> broadcast::Receiver<SupervisorEvent> {
        self.tx.subscribe()
    }

    /// The snapshot of active calls of the tenant `scope` (every tenant when `None`: dev mode)
    /// and a receiver of every event after it, taken atomically.
    pub fn subscribe_with_snapshot(
        &self,
        scope: Option<&str>,
    ) -> (String, broadcast::Receiver<SupervisorEvent>) {
        let board = self.lock();
        let rx = self.tx.subscribe();
        let mut calls: Vec<LiveCallView<'_>> = board
            .live
            .iter()
            .filter(|(_, c)| scope.is_none_or(|t| t == &*c.tenant))
            .map(|(id, c)| LiveCallView {
                call_id: id,
                agent_id: &c.agent_id,
                campaign: &c.campaign,
                elapsed_ms: c.started.elapsed().as_millis() as u64,
                state: c.state.as_ref().map(|state| StateMsg {
                    kind: "state",
                    state,
                }),
                trajectory: &c.trajectory,
                nudges: &c.nudges,
                interruptions: &c.interruptions,
                segments: &c.segments,
                context: c.context.as_ref(),
            })
            .collect();
        calls.sort_by(|a, b| a.call_id.cmp(b.call_id));
        let snapshot = wire(&FeedMsg::Snapshot {
            calls,
            recent: board.recent.latest(scope, SNAPSHOT_RECENT),
        });
        (snapshot, rx)
    }

    /// The post-call record of a recently ended call (`GET /v1/calls/{call_id}`), within the
    /// tenant `scope` (any tenant when `None`: dev mode).
    pub fn recent(&self, scope: Option<&str>, call_id: &str) -> Option<Arc<str>> {
        self.lock().recent.get(scope, call_id)
    }

    /// Calls on the board now.
    pub fn active(&self) -> usize {
        self.lock().live.len()
    }
}

/// What the socket sends next: an event's JSON, or a fresh snapshot after lagging.
enum Next {
    Frame(Arc<str>),
    Closed,
}

/// The next frame for a subscriber. On lag, the receiver is replaced by a new one taken together
/// with a snapshot, which is returned instead of the events that were missed.
async fn next_frame(
    feed: &Feed,
    rx: &mut broadcast::Receiver<SupervisorEvent>,
    scope: Option<&str>,
    on_lag: impl FnOnce(u64),
) -> Next {
    loop {
        match rx.recv().await {
            // Other tenants' calls are never shown.
            Ok(ev) if scope.is_some_and(|t| t != ev.tenant_and_agent().0) => continue,
            Ok(ev) => return Next::Frame(ev.json().clone()),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                on_lag(n);
                let (snapshot, fresh) = feed.subscribe_with_snapshot(scope);
                *rx = fresh;
                return Next::Frame(Arc::from(snapshot));
            }
            Err(broadcast::error::RecvError::Closed) => return Next::Closed,
        }
    }
}

async fn send(sink: &mut SplitSink<WebSocket, Message>, msg: Message, limit: Duration) -> bool {
    matches!(timeout(limit, sink.send(msg)).await, Ok(Ok(())))
}

fn text(s: &str) -> Message {
    Message::Text(s.to_string().into())
}

/// Serve one `/v1/supervisor` socket: snapshot, then live events, until the peer leaves or the
/// server shuts down (after the platform sockets, so the last `call.ended`s get out first).
pub async fn serve(socket: WebSocket, app: Arc<AppState>, scope: Option<String>) {
    let feed = app.hub.feed();
    app.supervisor_sockets.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let limit = app.opts.send_timeout;
    let scope = scope.as_deref();
    let (snapshot, mut rx) = feed.subscribe_with_snapshot(scope);
    let mut pings = interval_at(
        Instant::now() + app.opts.ping_interval,
        app.opts.ping_interval,
    );
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_seen = Instant::now();

    let close: Option<(u16, &'static str)> = if !send(&mut sink, text(&snapshot), limit).await {
        None
    } else {
        loop {
            tokio::select! {
                biased;
                _ = app.agents_close.cancelled() => {
                    while let Ok(ev) = rx.try_recv() {
                        if scope.is_some_and(|t| t != ev.tenant_and_agent().0) {
                            continue;
                        }
                        if !send(&mut sink, text(ev.json()), limit).await {
                            break;
                        }
                    }
                    break Some((CLOSE_GOING_AWAY, "server shutting down"));
                }
                next = next_frame(feed, &mut rx, scope, |n| app.metrics.supervisor_lagged(n)) => {
                    match next {
                        Next::Frame(json) => {
                            if !send(&mut sink, text(&json), limit).await {
                                break None;
                            }
                        }
                        Next::Closed => break Some((CLOSE_GOING_AWAY, "server shutting down")),
                    }
                }
                frame = stream.next() => {
                    let frame = match frame {
                        Some(Ok(f)) => f,
                        Some(Err(_)) | None => break None,
                    };
                    last_seen = Instant::now();
                    match frame {
                        Message::Text(_) | Message::Binary(_) => {
                            let e = ProtocolError::new(
                                ErrorCode::NotAllowedHere,
                                "the supervisor feed is read-only",
                            );
                            app.metrics.error(e.code);
                            if !send(&mut sink, text(&e.to_json()), limit).await {
                                break None;
                            }
                        }
                        Message::Close(_) => break None,
                        Message::Ping(_) | Message::Pong(_) => {}
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
    let scope = match supervisor_scope(&app, &headers, query) {
        Ok(s) => s,
        Err(r) => return *r,
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
                serve(socket, app, scope).await;
                drop(slot);
            })
        })
}

/// Who may watch: a supervisor token sees its tenant; dev mode sees every tenant (`None`).
fn supervisor_scope(
    app: &AppState,
    headers: &HeaderMap,
    query: QueryPairs,
) -> Result<Option<String>, Box<Response>> {
    supervisor_scope_and_query(app, headers, query).map(|(scope, _)| scope)
}

/// A supervisor request's tenant scope (`None` in dev mode) and its query parameters.
pub(super) type ScopedQuery = (Option<String>, Vec<(String, String)>);

/// The tenant a supervisor request is scoped to and its query parameters.
pub(super) fn supervisor_scope_and_query(
    app: &AppState,
    headers: &HeaderMap,
    query: QueryPairs,
) -> Result<ScopedQuery, Box<Response>> {
    let query = query_pairs(query).map_err(|r| Box::new(refuse(app, r)))?;
    let scope = match check(app, headers, &query, Scope::Supervisor)
        .map_err(|r| Box::new(refuse(app, r)))?
    {
        Principal::Anonymous => None,
        Principal::Platform { tenant } => Some(tenant),
        Principal::Token(claims) => Some(claims.tenant),
    };
    Ok((scope, query))
}

/// `GET /v1/calls/{call_id}`: the post-call record of a recently ended call; 404 otherwise.
pub async fn call_record(
    AxState(app): AxState<Arc<AppState>>,
    Path(call_id): Path<String>,
    headers: HeaderMap,
    query: QueryPairs,
) -> Response {
    let scope = match supervisor_scope(&app, &headers, query) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    if let Some(body) = app.hub.feed().recent(scope.as_deref(), &call_id) {
        return json(StatusCode::OK, body.to_string());
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Arc<str> {
        Arc::from("default")
    }
    use crate::protocol::{FrustrationView, Level, Nudge, NudgeClear, TalkShare, Trend};
    use serde_json::Value;

    fn seg(id: &str, speaker: Speaker, text: &str, start: u64, end: u64) -> Segment {
        Segment {
            call_id: "c1".into(),
            segment_id: id.into(),
            speaker,
            text: text.into(),
            start_ms: start,
            end_ms: end,
            is_final: true,
        }
    }

    fn state(at_ms: u64, score: f64, by_agent: u32) -> Outbound {
        Outbound::State(State {
            call_id: "c1".into(),
            seq: 1,
            at_ms,
            language: "es".into(),
            frustration: FrustrationView {
                score,
                level: Level::Tense,
                trend: Trend::Rising,
                evidence: vec![],
            },
            interruptions: InterruptionCounts {
                by_agent,
                by_customer: 0,
            },
            talk_share: TalkShare { agent: 0.5 },
        })
    }

    fn snapshot(feed: &Feed) -> Value {
        serde_json::from_str(&feed.subscribe_with_snapshot(None).0).unwrap()
    }

    #[test]
    fn board_tracks_a_call_and_keeps_no_text_after_it() {
        let feed = Feed::new(64, 10);
        let a: Arc<str> = Arc::from("a1");
        feed.call_start(t(), "c1", a.clone(), "default", 1);
        feed.segment(
            t(),
            "c1",
            a.clone(),
            &seg("s1", Speaker::Customer, "hola", 0, 900),
        );
        // A repeated final replaces the first.
        feed.segment(
            t(),
            "c1",
            a.clone(),
            &seg("s1", Speaker::Customer, "hola buenas", 0, 1000),
        );
        let c: Arc<str> = Arc::from("c1");
        let o = state(1000, 0.3, 1);
        feed.output(t(), c.clone(), a.clone(), &o, Arc::from(o.to_json()));
        let n = Outbound::Nudge(Nudge {
            call_id: "c1".into(),
            seq: 2,
            nudge_id: "n1".into(),
            kind: "let_them_finish".into(),
            text: "Déjale terminar.".into(),
            severity: Severity::Warn,
            at_ms: 1000,
            evidence: vec![],
        });
        feed.output(t(), c.clone(), a.clone(), &n, Arc::from(n.to_json()));
        let snap = snapshot(&feed);
        let call = &snap["calls"][0];
        assert_eq!(call["call_id"], "c1");
        assert_eq!(call["segments"].as_array().unwrap().len(), 1);
        assert_eq!(call["segments"][0]["text"], "hola buenas");
        assert_eq!(call["trajectory"][0]["score"], 0.3);
        assert_eq!(call["interruptions"][0]["by"], "agent");
        assert_eq!(call["nudges"][0]["kind"], "let_them_finish");
        assert!(call["nudges"][0].get("cleared_at_ms").is_none());

        let clear = Outbound::NudgeClear(NudgeClear {
            call_id: "c1".into(),
            seq: 3,
            nudge_id: "n1".into(),
            kind: "let_them_finish".into(),
            at_ms: 2000,
            reason: "customer_finished".into(),
        });
        feed.output(
            t(),
            c.clone(),
            a.clone(),
            &clear,
            Arc::from(clear.to_json()),
        );
        assert_eq!(
            snapshot(&feed)["calls"][0]["nudges"][0]["cleared_at_ms"],
            2000
        );
        assert!(feed.recent(None, "c1").is_none());
    }

    #[test]
    fn recent_store_is_bounded_and_survives_reused_ids() {
        let mut r = Recent::new(3);
        let view = |id: &str| RecentView {
            call_id: id.into(),
            agent_id: "a".into(),
            campaign: "default".into(),
            duration_ms: 1,
            peak_level: Level::Calm,
            peak_score: 0.0,
            nudges: 0,
        };
        for i in 0..5 {
            let id = format!("c{i}");
            r.insert(&id, t(), Arc::from(format!("{i}")), view(&id));
        }
        assert!(r.get(None, "c0").is_none() && r.get(None, "c1").is_none());
        assert_eq!(r.get(None, "c4").as_deref(), Some("4"));
        // c2 reused: the new record replaces the old, and its old slot does not evict it.
        r.insert("c2", t(), Arc::from("2b"), view("c2"));
        assert_eq!(r.get(None, "c2").as_deref(), Some("2b"));
        r.insert("c5", t(), Arc::from("5"), view("c5"));
        assert_eq!(r.get(None, "c2").as_deref(), Some("2b"));
        assert!(r.get(None, "c3").is_none());
        assert_eq!(r.by_id.len(), 3);
        let latest: Vec<_> = r
            .latest(None, 10)
            .iter()
            .map(|v| v.call_id.clone())
            .collect();
        assert_eq!(latest, ["c5", "c2", "c4"]);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_gets_a_snapshot_instead() {
        let feed = Feed::new(4, 10);
        let (_, mut rx) = feed.subscribe_with_snapshot(None);
        for i in 0..10 {
            feed.call_start(t(), &format!("c{i}"), Arc::from("a"), "default", 1);
        }
        let mut lagged = 0;
        let Next::Frame(json) = next_frame(&feed, &mut rx, None, |n| lagged = n).await else {
            panic!("closed")
        };
        assert_eq!(lagged, 6);
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["type"], "snapshot");
        assert_eq!(v["calls"].as_array().unwrap().len(), 10);
        // The fresh receiver starts after the snapshot: the next event is new.
        feed.call_end(t(), Arc::from("c3"), Arc::from("a"));
        let Next::Frame(json) = next_frame(&feed, &mut rx, None, |_| panic!("lag")).await else {
            panic!("closed")
        };
        assert!(json.contains(r#""type":"call.ended""#), "{json}");
    }
}
