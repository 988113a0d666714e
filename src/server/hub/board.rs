//! The supervisor board: live calls, the supervisors subscribed to them, and the post-call
//! records of recently ended calls, by tenant.
//!
//! Scaling rules (a board may hold 10,000 calls and dozens of supervisors):
//! - A snapshot carries per-call **summaries** (state, open nudges, the last few segments, a short
//!   trajectory); the full transcript of one call is sent only when a supervisor opens it
//!   (`call.open` → `call.detail`).
//! - Nothing is serialised while the board lock is held: events arrive serialised, and snapshots
//!   and details are copied out under the lock and serialised by the subscriber's own task.
//! - Each subscriber has a bounded queue. One that falls behind has its queue dropped and is
//!   resynchronised with a fresh (small) snapshot; nothing is rebuilt for it while it lags.
//!
//! Every event is applied to the board and queued for subscribers under one lock, and a
//! subscription (snapshot + registration) is taken under the same lock, so a subscriber sees
//! every later event exactly once.
//!
//! Segment text is personal data: it is kept only while the call is active (bounded per call)
//! and never after the call ends; the post-call record keeps the segments' timing and speaker.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::lock;
use crate::protocol::{
    ErrorCode, Evidence, FrustrationPoint, InterruptionCounts, Outbound, ProtocolError, Segment,
    Severity, Speaker, State,
};

/// Ended calls kept for `GET /v1/calls/{call_id}` by default.
pub const RECENT_CALLS: usize = 500;
/// Messages queued per supervisor socket by default (then: dropped, and a fresh snapshot).
pub const SUPERVISOR_QUEUE: usize = 1024;
/// Calls per snapshot frame: a large board is sent as several frames of this many calls.
pub const SNAPSHOT_PAGE: usize = 50;
/// Ended calls listed in the snapshot (links to their post-call view).
const SNAPSHOT_RECENT: usize = 20;
/// Final segments of each call in a snapshot summary (the newest)...
const SUMMARY_SEGMENTS: usize = 3;
/// ...each cut to this many characters (a preview; `call.open` has the whole text).
const SUMMARY_TEXT_CHARS: usize = 120;
/// Frustration points of each call in a snapshot summary (the newest, for the sparkline).
const SUMMARY_TRAJECTORY: usize = 20;
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

impl SegmentView {
    /// The segment with its text cut to [`SUMMARY_TEXT_CHARS`] (`…` marks a cut).
    fn preview(&self) -> SegmentView {
        let text = self
            .text
            .as_ref()
            .map(|t| match t.char_indices().nth(SUMMARY_TEXT_CHARS) {
                Some((at, _)) => format!("{}…", &t[..at]),
                None => t.clone(),
            });
        SegmentView {
            text,
            ..self.clone()
        }
    }
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
    fn new(agent_id: Arc<str>, campaign: Arc<str>) -> LiveCall {
        LiveCall {
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
            started_at_ms: crate::server::auth::unix_now_ms(),
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

    /// The record of `call_id` of `tenant`.
    fn get(&self, tenant: &str, call_id: &str) -> Option<Arc<str>> {
        self.by_id
            .get(&Self::key(tenant, call_id))
            .map(|(_, b, ..)| b.clone())
    }

    /// The `n` latest records of `tenant`, newest first.
    fn latest(&self, tenant: &str, n: usize) -> Vec<RecentView> {
        self.order
            .iter()
            .rev()
            .filter_map(|(g, k)| {
                self.by_id
                    .get(k)
                    .filter(|(id, _, _, t)| id == g && tenant == &**t)
                    .map(|(_, _, v, _)| v.clone())
            })
            .take(n)
            .collect()
    }
}

/// A `state` with its `type` tag, as the platform got it.
#[derive(Debug, Clone, Serialize)]
struct StateMsg {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    state: State,
}

fn state_msg(s: &Option<State>) -> Option<StateMsg> {
    s.clone().map(|state| StateMsg {
        kind: "state",
        state,
    })
}

fn elapsed_ms(c: &LiveCall) -> u64 {
    c.started.elapsed().as_millis() as u64
}

/// An open nudge as a snapshot lists it.
#[derive(Debug, Serialize)]
struct NudgeBrief {
    nudge_id: String,
    kind: String,
    text: String,
    severity: Severity,
    at_ms: u64,
}

/// What a snapshot says about one active call: enough for the board's row.
#[derive(Debug, Serialize)]
struct CallSummary {
    call_id: Arc<str>,
    agent_id: Arc<str>,
    campaign: Arc<str>,
    /// Wall time since `call.start` reached calma, in ms (the board counts on from here).
    elapsed_ms: u64,
    /// The last `state` message of the call, as sent (`null` before the first).
    state: Option<StateMsg>,
    /// The newest points of the frustration trajectory.
    trajectory: Vec<FrustrationPoint>,
    /// Nudges not cleared yet (without evidence: `call.open` has it).
    open_nudges: Vec<NudgeBrief>,
    /// The newest final segments, oldest first.
    last_segments: Vec<SegmentView>,
    /// Final segments on the board for this call (`call.open` sends them all).
    segment_count: usize,
    /// The returning customer's `context` message, when they called before.
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<serde_json::Value>,
}

impl CallSummary {
    fn of(call_id: &Arc<str>, c: &LiveCall) -> CallSummary {
        let skip_points = c.trajectory.len().saturating_sub(SUMMARY_TRAJECTORY);
        let skip_segments = c.segments.len().saturating_sub(SUMMARY_SEGMENTS);
        CallSummary {
            call_id: call_id.clone(),
            agent_id: c.agent_id.clone(),
            campaign: c.campaign.clone(),
            elapsed_ms: elapsed_ms(c),
            state: state_msg(&c.state),
            trajectory: c.trajectory.iter().skip(skip_points).copied().collect(),
            open_nudges: c
                .nudges
                .iter()
                .filter(|n| n.cleared_at_ms.is_none())
                .map(|n| NudgeBrief {
                    nudge_id: n.nudge_id.clone(),
                    kind: n.kind.clone(),
                    text: n.text.clone(),
                    severity: n.severity,
                    at_ms: n.at_ms,
                })
                .collect(),
            last_segments: c
                .segments
                .iter()
                .skip(skip_segments)
                .map(SegmentView::preview)
                .collect(),
            segment_count: c.segments.len(),
            context: c.context.clone(),
        }
    }
}

/// The tenant's active calls (summaries) and recently ended calls, copied out of the board.
/// Sent as pages ([`Snapshot::into_pages`]).
#[derive(Debug)]
pub struct Snapshot {
    calls: Vec<CallSummary>,
    recent: Vec<RecentView>,
}

/// The first page: `{"type":"snapshot","calls":[...],"recent":[...],"complete":bool}`.
#[derive(Serialize)]
struct FirstPage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    calls: &'a [CallSummary],
    recent: &'a [RecentView],
    complete: bool,
}

/// Further pages: `{"type":"snapshot.more","calls":[...],"complete":bool}`.
#[derive(Serialize)]
struct MorePage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    calls: &'a [CallSummary],
    complete: bool,
}

/// The frames of a snapshot, serialised one at a time as they are sent: a socket never holds
/// more than one page of JSON, however many calls the board has.
#[derive(Debug)]
pub struct SnapshotPages {
    calls: std::vec::IntoIter<CallSummary>,
    recent: Option<Vec<RecentView>>,
}

impl Iterator for SnapshotPages {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let first = self.recent.take();
        if first.is_none() && self.calls.len() == 0 {
            return None;
        }
        let page: Vec<CallSummary> = self.calls.by_ref().take(SNAPSHOT_PAGE).collect();
        let complete = self.calls.len() == 0;
        let json = match &first {
            Some(recent) => serde_json::to_string(&FirstPage {
                kind: "snapshot",
                calls: &page,
                recent,
                complete,
            }),
            None => serde_json::to_string(&MorePage {
                kind: "snapshot.more",
                calls: &page,
                complete,
            }),
        };
        Some(json.expect("snapshots always serialise"))
    }
}

impl Snapshot {
    /// The snapshot as frames of at most [`SNAPSHOT_PAGE`] calls each.
    pub fn into_pages(self) -> SnapshotPages {
        SnapshotPages {
            calls: self.calls.into_iter(),
            recent: Some(self.recent),
        }
    }

    /// Active calls in the snapshot.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }
}

/// `{"type":"call.detail",...}`: everything the board has about one active call.
#[derive(Debug, Serialize)]
pub struct CallDetail {
    #[serde(rename = "type")]
    kind: &'static str,
    call_id: Arc<str>,
    agent_id: Arc<str>,
    campaign: Arc<str>,
    elapsed_ms: u64,
    state: Option<StateMsg>,
    trajectory: Vec<FrustrationPoint>,
    nudges: Vec<NudgeView>,
    interruptions: Vec<InterruptionMark>,
    /// The transcript so far (final segments, bounded per call), oldest first.
    segments: Vec<SegmentView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<serde_json::Value>,
}

impl CallDetail {
    fn of(call_id: &Arc<str>, c: &LiveCall) -> CallDetail {
        CallDetail {
            kind: "call.detail",
            call_id: call_id.clone(),
            agent_id: c.agent_id.clone(),
            campaign: c.campaign.clone(),
            elapsed_ms: elapsed_ms(c),
            state: state_msg(&c.state),
            trajectory: c.trajectory.iter().copied().collect(),
            nudges: c.nudges.clone(),
            interruptions: c.interruptions.clone(),
            segments: c.segments.iter().cloned().collect(),
            context: c.context.clone(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("call details always serialise")
    }
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
}

fn wire(m: &FeedMsg<'_>) -> Arc<str> {
    Arc::from(serde_json::to_string(m).expect("feed messages always serialise"))
}

/// What a subscriber's queue holds: an event's wire JSON (shared by every subscriber), or the
/// detail of a call it opened (serialised by the subscriber's task).
#[derive(Debug)]
pub enum FeedItem {
    Json(Arc<str>),
    Detail(Box<CallDetail>),
}

/// What a subscriber sends next.
#[derive(Debug)]
pub enum Next {
    Item(FeedItem),
    /// The queue overflowed and was dropped: send a fresh snapshot ([`Board::resync`]).
    Resync,
}

#[derive(Debug, Default)]
struct SubQueue {
    items: VecDeque<FeedItem>,
    /// Dropped for overflow; everything is dropped until the resync.
    resync: bool,
    dropped: u64,
}

/// One supervisor socket's view of the board: its tenant and bounded queue.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    tenant: Arc<str>,
    cap: usize,
    queue: Mutex<SubQueue>,
    notify: Notify,
}

impl Subscription {
    /// Queue an item (called under the board lock; never blocks).
    fn push(&self, item: FeedItem) {
        let mut q = lock(&self.queue);
        if q.resync {
            q.dropped += 1;
            return;
        }
        if q.items.len() >= self.cap {
            q.dropped += q.items.len() as u64 + 1;
            q.items.clear();
            q.resync = true;
        } else {
            q.items.push_back(item);
        }
        drop(q);
        self.notify.notify_one();
    }

    /// The next thing to send, or `None` when nothing is queued.
    pub fn try_next(&self) -> Option<Next> {
        let mut q = lock(&self.queue);
        if q.resync {
            return Some(Next::Resync);
        }
        q.items.pop_front().map(Next::Item)
    }

    /// The next thing to send, waiting for it. Cancel-safe.
    pub async fn next(&self) -> Next {
        loop {
            let notified = self.notify.notified();
            if let Some(n) = self.try_next() {
                return n;
            }
            notified.await;
        }
    }

    /// Events dropped since the last call (for metrics).
    pub fn take_dropped(&self) -> u64 {
        std::mem::take(&mut lock(&self.queue).dropped)
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }
}

#[derive(Debug)]
struct Inner {
    /// tenant → call id → call.
    live: HashMap<Arc<str>, HashMap<Arc<str>, LiveCall>>,
    recent: Recent,
    /// tenant → subscribers.
    subs: HashMap<Arc<str>, Vec<Arc<Subscription>>>,
}

impl Inner {
    fn publish(&self, tenant: &str, json: &Arc<str>) {
        for s in self.subs.get(tenant).into_iter().flatten() {
            s.push(FeedItem::Json(json.clone()));
        }
    }

    fn snapshot(&self, tenant: &str) -> Snapshot {
        let mut calls: Vec<CallSummary> = self
            .live
            .get(tenant)
            .into_iter()
            .flatten()
            .map(|(id, c)| CallSummary::of(id, c))
            .collect();
        calls.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        Snapshot {
            calls,
            recent: self.recent.latest(tenant, SNAPSHOT_RECENT),
        }
    }

    fn live_call(&mut self, tenant: &str, call_id: &str) -> Option<&mut LiveCall> {
        self.live.get_mut(tenant)?.get_mut(call_id)
    }

    fn remove_live(&mut self, tenant: &str, call_id: &str) -> Option<LiveCall> {
        let of_tenant = self.live.get_mut(tenant)?;
        let c = of_tenant.remove(call_id);
        if of_tenant.is_empty() {
            self.live.remove(tenant);
        }
        c
    }
}

/// The board of one server.
#[derive(Debug)]
pub struct Board {
    inner: Mutex<Inner>,
    queue_cap: usize,
    next_sub: AtomicU64,
    /// Where ended calls' records are written (set once at server start).
    history: std::sync::OnceLock<Arc<crate::store::Store>>,
}

impl Board {
    /// A board remembering `recent` ended calls, queueing `queue_cap` messages per subscriber.
    pub fn new(recent: usize, queue_cap: usize) -> Board {
        Board {
            inner: Mutex::new(Inner {
                live: HashMap::new(),
                recent: Recent::new(recent),
                subs: HashMap::new(),
            }),
            queue_cap: queue_cap.max(1),
            next_sub: AtomicU64::new(0),
            history: std::sync::OnceLock::new(),
        }
    }

    /// Write every ended call's record to `store` from now on.
    pub fn set_history(&self, store: Arc<crate::store::Store>) {
        let _ = self.history.set(store);
    }

    /// A returning customer's `context` (sent to the agent panel): kept on the board's call and
    /// queued for the tenant's supervisors.
    pub fn context(&self, tenant: &str, call_id: &str, json: Arc<str>) {
        let value = serde_json::from_str(&json).ok();
        let mut inner = lock(&self.inner);
        if let Some(c) = inner.live_call(tenant, call_id) {
            c.context = value;
        }
        inner.publish(tenant, &json);
    }

    /// Attach the history settings (customer key, retention, transcripts) to a live call.
    pub fn set_history_meta(&self, tenant: &str, call_id: &str, meta: HistoryMeta) {
        if let Some(c) = lock(&self.inner).live_call(tenant, call_id) {
            c.history = meta;
        }
    }

    /// A call started.
    pub fn call_start(
        &self,
        tenant: &Arc<str>,
        call_id: &str,
        agent_id: &Arc<str>,
        campaign: &str,
    ) {
        let call: Arc<str> = Arc::from(call_id);
        let campaign: Arc<str> = Arc::from(campaign);
        let json = wire(&FeedMsg::CallStarted {
            call_id,
            agent_id,
            campaign: &campaign,
        });
        let mut inner = lock(&self.inner);
        inner
            .live
            .entry(tenant.clone())
            .or_default()
            .insert(call, LiveCall::new(agent_id.clone(), campaign));
        inner.publish(tenant, &json);
    }

    /// A final segment of a call (partials are not sent to supervisors).
    pub fn segment(&self, tenant: &str, seg: &Segment) {
        let json = wire(&FeedMsg::Segment {
            call_id: &seg.call_id,
            segment_id: &seg.segment_id,
            speaker: seg.speaker,
            text: &seg.text,
            start_ms: seg.start_ms,
            end_ms: seg.end_ms,
        });
        let mut inner = lock(&self.inner);
        if let Some(c) = inner.live_call(tenant, &seg.call_id) {
            c.segment(seg);
        }
        inner.publish(tenant, &json);
    }

    /// An engine output of a call, `json` being exactly what the platform was sent. A
    /// `call.summary` moves the call from the board to the recent store.
    pub fn output(
        &self,
        tenant: &Arc<str>,
        call_id: &Arc<str>,
        agent_id: &Arc<str>,
        o: &Outbound,
        json: Arc<str>,
    ) {
        let Outbound::Summary(s) = o else {
            let mut inner = lock(&self.inner);
            if let Some(c) = inner.live_call(tenant, call_id) {
                c.output(o);
            }
            inner.publish(tenant, &json);
            return;
        };
        // The call leaves the board; its record is serialised outside the lock. (Only this
        // call's own connection publishes for it, so nothing of the call interleaves.)
        let live = lock(&self.inner).remove_live(tenant, call_id);
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
            call_id,
            summary: s,
            nudges: &nudges,
            segments: &segments,
            interruptions: &interruptions,
        })
        .expect("post-call records always serialise");
        let view = RecentView {
            call_id: call_id.to_string(),
            agent_id: agent_id.to_string(),
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
                ended_at_ms: crate::server::auth::unix_now_ms(),
                summary: (**s).clone(),
                record_json: body.clone(),
                customer_key: meta.customer_key,
                next_steps: s.next_steps.iter().map(|e| e.quote.clone()).collect(),
                transcript_json: transcript,
                retention_days: meta.config.retention_days,
                transcript_retention_days: meta.config.transcript_retention_days,
            });
        }
        let mut inner = lock(&self.inner);
        inner
            .recent
            .insert(call_id, tenant.clone(), Arc::from(body), view);
        inner.publish(tenant, &json);
    }

    /// A call ended (after its `call.summary`).
    pub fn call_end(&self, tenant: &str, call_id: &str, agent_id: &str) {
        let json = wire(&FeedMsg::CallEnded { call_id, agent_id });
        let mut inner = lock(&self.inner);
        inner.remove_live(tenant, call_id);
        inner.publish(tenant, &json);
    }

    /// Subscribe to `tenant`'s board: the snapshot now and a queue of every later event. Call
    /// [`Board::unsubscribe`] when done.
    pub fn subscribe(&self, tenant: &Arc<str>) -> (Snapshot, Arc<Subscription>) {
        let sub = Arc::new(Subscription {
            id: self.next_sub.fetch_add(1, Ordering::Relaxed),
            tenant: tenant.clone(),
            cap: self.queue_cap,
            queue: Mutex::new(SubQueue::default()),
            notify: Notify::new(),
        });
        let mut inner = lock(&self.inner);
        let snapshot = inner.snapshot(tenant);
        inner
            .subs
            .entry(tenant.clone())
            .or_default()
            .push(sub.clone());
        (snapshot, sub)
    }

    pub fn unsubscribe(&self, sub: &Subscription) {
        let mut inner = lock(&self.inner);
        if let Some(v) = inner.subs.get_mut(&sub.tenant) {
            v.retain(|s| s.id != sub.id);
            if v.is_empty() {
                inner.subs.remove(&sub.tenant);
            }
        }
    }

    /// A fresh snapshot for a subscriber whose queue overflowed; its queue restarts from here.
    pub fn resync(&self, sub: &Subscription) -> Snapshot {
        let inner = lock(&self.inner);
        let snapshot = inner.snapshot(&sub.tenant);
        let mut q = lock(&sub.queue);
        q.items.clear();
        q.resync = false;
        snapshot
    }

    /// `call.open`: queue the detail of one of the subscriber's tenant's active calls, in order
    /// with the events around it; `unknown_call` if the tenant has no such active call.
    pub fn open(&self, sub: &Subscription, call_id: &str) -> Result<(), ProtocolError> {
        let inner = lock(&self.inner);
        let detail = inner
            .live
            .get(&sub.tenant)
            .and_then(|t| t.get_key_value(call_id))
            .map(|(id, c)| CallDetail::of(id, c))
            .ok_or_else(|| {
                ProtocolError::new(
                    ErrorCode::UnknownCall,
                    format!("no active call `{call_id}` on this board (ended ones are at /v1/calls/{{call_id}})"),
                )
                .for_call(call_id)
            })?;
        sub.push(FeedItem::Detail(Box::new(detail)));
        Ok(())
    }

    /// The post-call record of a recently ended call of `tenant` (`GET /v1/calls/{call_id}`).
    pub fn record(&self, tenant: &str, call_id: &str) -> Option<Arc<str>> {
        lock(&self.inner).recent.get(tenant, call_id)
    }

    /// Calls on the board now, all tenants.
    pub fn active(&self) -> usize {
        lock(&self.inner).live.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{FrustrationView, Level, Nudge, NudgeClear, TalkShare, Trend};
    use serde_json::Value;

    fn t() -> Arc<str> {
        Arc::from("default")
    }

    fn seg(call: &str, id: &str, speaker: Speaker, text: &str, start: u64, end: u64) -> Segment {
        Segment {
            call_id: call.into(),
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

    fn json_of(item: Next) -> Value {
        match item {
            Next::Item(FeedItem::Json(j)) => serde_json::from_str(&j).unwrap(),
            Next::Item(FeedItem::Detail(d)) => serde_json::from_str(&d.to_json()).unwrap(),
            Next::Resync => panic!("resync"),
        }
    }

    /// The snapshot's pages, merged.
    fn pages(s: Snapshot) -> Value {
        let mut pages = s
            .into_pages()
            .map(|p| serde_json::from_str::<Value>(&p).unwrap());
        let mut first = pages.next().unwrap();
        assert_eq!(first["type"], "snapshot");
        let mut complete = first["complete"].as_bool().unwrap();
        for p in pages {
            assert!(!complete);
            assert_eq!(p["type"], "snapshot.more");
            first["calls"]
                .as_array_mut()
                .unwrap()
                .extend(p["calls"].as_array().unwrap().iter().cloned());
            complete = p["complete"].as_bool().unwrap();
        }
        assert!(complete);
        first
    }

    fn snapshot(board: &Board, tenant: &str) -> Value {
        let (s, sub) = board.subscribe(&Arc::from(tenant));
        board.unsubscribe(&sub);
        pages(s)
    }

    #[test]
    fn snapshots_summarise_and_call_open_sends_the_transcript() {
        let board = Board::new(10, 64);
        let a: Arc<str> = Arc::from("a1");
        let c: Arc<str> = Arc::from("c1");
        board.call_start(&t(), "c1", &a, "default");
        for i in 0..6u64 {
            let text = format!("frase {i}");
            board.segment(
                &t(),
                &seg(
                    "c1",
                    &format!("s{i}"),
                    Speaker::Customer,
                    &text,
                    i * 1000,
                    i * 1000 + 900,
                ),
            );
        }
        // A repeated final replaces the earlier one.
        board.segment(
            &t(),
            &seg(
                "c1",
                "s5",
                Speaker::Customer,
                "frase 5 revisada",
                5000,
                5950,
            ),
        );
        let o = state(1000, 0.3, 1);
        board.output(&t(), &c, &a, &o, Arc::from(o.to_json()));
        let nudge = |id: &str| {
            Outbound::Nudge(Nudge {
                call_id: "c1".into(),
                seq: 2,
                nudge_id: id.into(),
                kind: "let_them_finish".into(),
                text: "Déjale terminar.".into(),
                severity: Severity::Warn,
                at_ms: 1000,
                evidence: vec![],
            })
        };
        for id in ["n1", "n2"] {
            let n = nudge(id);
            board.output(&t(), &c, &a, &n, Arc::from(n.to_json()));
        }
        let clear = Outbound::NudgeClear(NudgeClear {
            call_id: "c1".into(),
            seq: 3,
            nudge_id: "n1".into(),
            kind: "let_them_finish".into(),
            at_ms: 2000,
            reason: "customer_finished".into(),
        });
        board.output(&t(), &c, &a, &clear, Arc::from(clear.to_json()));

        let snap = snapshot(&board, "default");
        let call = &snap["calls"][0];
        assert_eq!(call["call_id"], "c1");
        assert_eq!(call["segment_count"], 6);
        let last: Vec<&str> = call["last_segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["text"].as_str().unwrap())
            .collect();
        assert_eq!(last, ["frase 3", "frase 4", "frase 5 revisada"]);
        assert_eq!(call["trajectory"][0]["score"], 0.3);
        assert_eq!(call["state"]["type"], "state");
        let open: Vec<&str> = call["open_nudges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["nudge_id"].as_str().unwrap())
            .collect();
        assert_eq!(open, ["n2"]);

        let (_, sub) = board.subscribe(&t());
        board.open(&sub, "c1").unwrap();
        let detail = json_of(sub.try_next().unwrap());
        assert_eq!(detail["type"], "call.detail");
        assert_eq!(detail["segments"].as_array().unwrap().len(), 6);
        assert_eq!(detail["segments"][0]["text"], "frase 0");
        assert_eq!(detail["nudges"][0]["cleared_at_ms"], 2000);
        assert_eq!(detail["interruptions"][0]["by"], "agent");
        // Another tenant cannot open it.
        let (_, other) = board.subscribe(&Arc::from("globex"));
        assert_eq!(
            board.open(&other, "c1").unwrap_err().code,
            ErrorCode::UnknownCall
        );
        assert!(board.record("default", "c1").is_none());
    }

    #[test]
    fn equal_call_ids_in_two_tenants_stay_apart() {
        let board = Board::new(10, 64);
        let (acme, globex): (Arc<str>, Arc<str>) = (Arc::from("acme"), Arc::from("globex"));
        let a: Arc<str> = Arc::from("a-1");
        let (_, acme_sub) = board.subscribe(&acme);
        board.call_start(&acme, "c-1", &a, "default");
        board.call_start(&globex, "c-1", &a, "default");
        board.segment(
            &acme,
            &seg("c-1", "s1", Speaker::Customer, "de acme", 0, 900),
        );
        board.segment(
            &globex,
            &seg("c-1", "s1", Speaker::Customer, "de globex", 0, 900),
        );
        for (tenant, text) in [("acme", "de acme"), ("globex", "de globex")] {
            let snap = snapshot(&board, tenant);
            assert_eq!(snap["calls"].as_array().unwrap().len(), 1, "{snap}");
            assert_eq!(snap["calls"][0]["last_segments"][0]["text"], text);
        }
        // acme's subscriber got acme's two events only.
        assert_eq!(json_of(sub_next(&acme_sub))["type"], "call.started");
        assert_eq!(json_of(sub_next(&acme_sub))["text"], "de acme");
        assert!(acme_sub.try_next().is_none());
        // globex's call ending leaves acme's on the board.
        board.call_end(&globex, "c-1", &a);
        assert_eq!(
            snapshot(&board, "acme")["calls"].as_array().unwrap().len(),
            1
        );
        assert_eq!(board.active(), 1);
    }

    fn sub_next(s: &Subscription) -> Next {
        s.try_next().expect("a queued item")
    }

    #[test]
    fn a_large_board_is_sent_in_pages() {
        let board = Board::new(10, 4);
        for i in 0..(2 * SNAPSHOT_PAGE + 1) {
            board.call_start(&t(), &format!("c{i:03}"), &Arc::from("a"), "default");
        }
        let (s, _) = board.subscribe(&t());
        assert_eq!(s.calls(), 2 * SNAPSHOT_PAGE + 1);
        let frames: Vec<Value> = s
            .into_pages()
            .map(|p| serde_json::from_str(&p).unwrap())
            .collect();
        let sizes: Vec<usize> = frames
            .iter()
            .map(|f| f["calls"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [SNAPSHOT_PAGE, SNAPSHOT_PAGE, 1]);
        assert!(frames[0]["recent"].is_array() && frames[1].get("recent").is_none());
        assert_eq!(frames[2]["complete"], true);
        // An empty board is one complete frame.
        let (s, _) = Board::new(10, 4).subscribe(&t());
        let frames: Vec<String> = s.into_pages().collect();
        assert_eq!(frames.len(), 1);
        assert!(frames[0].contains(r#""complete":true"#), "{}", frames[0]);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_dropped_and_resynced_with_a_snapshot() {
        let board = Board::new(10, 4);
        let (_, sub) = board.subscribe(&t());
        for i in 0..10 {
            board.call_start(&t(), &format!("c{i}"), &Arc::from("a"), "default");
        }
        assert!(matches!(sub.next().await, Next::Resync));
        assert_eq!(sub.take_dropped(), 10);
        let snap = pages(board.resync(&sub));
        assert_eq!(snap["calls"].as_array().unwrap().len(), 10);
        // The queue restarts after the snapshot: the next event is new.
        assert!(sub.try_next().is_none());
        board.call_end(&t(), "c3", "a");
        assert_eq!(json_of(sub.next().await)["type"], "call.ended");
        board.unsubscribe(&sub);
        board.call_end(&t(), "c4", "a");
        assert!(sub.try_next().is_none());
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
        assert!(r.get("default", "c0").is_none() && r.get("default", "c1").is_none());
        assert_eq!(r.get("default", "c4").as_deref(), Some("4"));
        // c2 reused: the new record replaces the old, and its old slot does not evict it.
        r.insert("c2", t(), Arc::from("2b"), view("c2"));
        assert_eq!(r.get("default", "c2").as_deref(), Some("2b"));
        r.insert("c5", t(), Arc::from("5"), view("c5"));
        assert_eq!(r.get("default", "c2").as_deref(), Some("2b"));
        assert!(r.get("default", "c3").is_none());
        assert!(r.get("other", "c5").is_none());
        assert_eq!(r.by_id.len(), 3);
        let latest: Vec<_> = r
            .latest("default", 10)
            .iter()
            .map(|v| v.call_id.clone())
            .collect();
        assert_eq!(latest, ["c5", "c2", "c4"]);
    }
}
