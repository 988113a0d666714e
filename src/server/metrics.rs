//! Prometheus metrics, one registry per server instance (so several servers can run in one test
//! process and each `/metrics` shows its own figures). Recording goes through
//! [`metrics::with_local_recorder`], never through a global recorder.
//!
//! Label values are bounded: a `campaign` label is either a campaign of the configuration or
//! [`OTHER_CAMPAIGN`], whatever string a client sends, so clients cannot create series at will.

use std::collections::BTreeSet;
use std::sync::RwLock;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::protocol::ErrorCode;

pub const CONNECTIONS: &str = "calma_connections";
pub const AGENT_SOCKETS: &str = "calma_agent_sockets";
pub const ACTIVE_CALLS: &str = "calma_active_calls";
pub const SEGMENTS: &str = "calma_segments_total";
pub const NUDGES: &str = "calma_nudges_total";
pub const ERRORS: &str = "calma_errors_total";
pub const FEEDBACK: &str = "calma_feedback_total";
pub const SEGMENT_SECONDS: &str = "calma_segment_processing_seconds";
pub const AGENT_DROPPED: &str = "calma_agent_messages_dropped_total";
pub const SUPERVISOR_LAGGED: &str = "calma_supervisor_lagged_total";
pub const CALLS_ENDED: &str = "calma_calls_ended_total";
pub const RESUMES: &str = "calma_resumes_total";
pub const PARKED_CALLS: &str = "calma_parked_calls";

/// Buckets for the per-segment engine time: the engine takes microseconds, so resolve those.
const SEGMENT_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05,
];

/// The `campaign` label of campaigns the configuration does not name.
pub const OTHER_CAMPAIGN: &str = "other";

/// A per-server metrics registry.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// Campaign names allowed as label values (the configuration's, updated on reload).
    campaigns: RwLock<BTreeSet<String>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(SEGMENT_SECONDS.to_string()), SEGMENT_BUCKETS)
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        let m = Metrics {
            recorder,
            handle,
            campaigns: RwLock::new(BTreeSet::from(["default".to_string()])),
        };
        m.with(|| {
            describe_gauge!(CONNECTIONS, "Open platform stream connections.");
            describe_gauge!(
                "calma_history_queue_depth",
                "Ended calls waiting for the history writer."
            );
            describe_counter!(
                "calma_history_dropped_total",
                "Ended calls not recorded because the history writer was too far behind."
            );
            describe_counter!(
                "calma_history_write_errors_total",
                "Ended calls whose history write failed (full disk, I/O error)."
            );
            describe_gauge!(AGENT_SOCKETS, "Open agent panel sockets.");
            describe_gauge!(ACTIVE_CALLS, "Calls currently open on all connections.");
            describe_counter!(SEGMENTS, "Segment revisions processed on live streams.");
            describe_counter!(NUDGES, "Nudges sent on live streams, by kind.");
            describe_counter!(ERRORS, "Protocol errors sent, by code.");
            describe_counter!(
                FEEDBACK,
                "Agent feedback on nudges, by kind, campaign and verdict."
            );
            describe_histogram!(
                SEGMENT_SECONDS,
                metrics::Unit::Seconds,
                "Time spent in the engine per segment revision."
            );
            describe_counter!(
                AGENT_DROPPED,
                "Messages dropped for slow agent sockets (state first)."
            );
            describe_counter!(
                SUPERVISOR_LAGGED,
                "Supervisor broadcast events skipped by lagging subscribers."
            );
            describe_counter!(
                CALLS_ENDED,
                "Calls ended, by reason (call_end, disconnect, idle, grace_expired, shutdown, replaced)."
            );
            describe_counter!(
                RESUMES,
                "Successful resumes, by side (platform: call re-attached; agent: panel replay)."
            );
            describe_gauge!(
                PARKED_CALLS,
                "Calls of lost platform connections waiting for call.resume."
            );
        });
        m
    }

    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    pub fn segment(&self, seconds: f64) {
        self.with(|| {
            counter!(SEGMENTS).increment(1);
            histogram!(SEGMENT_SECONDS).record(seconds);
        });
    }

    pub fn nudge(&self, kind: &str) {
        let kind = kind.to_string();
        self.with(|| counter!(NUDGES, "kind" => kind).increment(1));
    }

    pub fn error(&self, code: ErrorCode) {
        self.with(|| counter!(ERRORS, "code" => code.as_str()).increment(1));
    }

    /// The campaigns that may appear as label values (call at start and on every reload).
    pub fn set_campaigns<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let set = names.into_iter().map(str::to_string).collect();
        *self.campaigns.write().unwrap_or_else(|p| p.into_inner()) = set;
    }

    /// `campaign` if the configuration names it, else [`OTHER_CAMPAIGN`].
    pub fn campaign_label(&self, campaign: &str) -> String {
        let known = self
            .campaigns
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(campaign);
        if known { campaign } else { OTHER_CAMPAIGN }.to_string()
    }

    pub fn feedback(&self, kind: &str, campaign: &str, useful: bool) {
        let (kind, campaign) = (kind.to_string(), self.campaign_label(campaign));
        let useful = if useful { "true" } else { "false" };
        self.with(|| {
            counter!(FEEDBACK, "kind" => kind, "campaign" => campaign, "useful" => useful)
                .increment(1)
        });
    }

    pub fn agent_dropped(&self, n: u64) {
        self.with(|| counter!(AGENT_DROPPED).increment(n));
    }

    pub fn call_ended(&self, reason: &'static str) {
        self.with(|| counter!(CALLS_ENDED, "reason" => reason).increment(1));
    }

    pub fn resumed(&self, side: &'static str) {
        self.with(|| counter!(RESUMES, "side" => side).increment(1));
    }

    /// The history writer's counters, copied in at each scrape.
    pub fn history(&self, store: &crate::store::Store) {
        use std::sync::atomic::Ordering::Relaxed;
        let st = &store.stats;
        self.with(|| {
            gauge!("calma_history_queue_depth").set(store.queue_depth() as f64);
            counter!("calma_history_written_total").absolute(st.written.load(Relaxed));
            counter!("calma_history_dropped_total").absolute(st.dropped.load(Relaxed));
            counter!("calma_history_write_errors_total").absolute(st.write_errors.load(Relaxed));
            counter!("calma_history_purged_total").absolute(st.purged.load(Relaxed));
        });
    }

    pub fn parked(&self, n: usize) {
        self.with(|| gauge!(PARKED_CALLS).set(n as f64));
    }

    pub fn supervisor_lagged(&self, n: u64) {
        self.with(|| counter!(SUPERVISOR_LAGGED).increment(n));
    }

    /// Move recorded histogram samples into their buckets. Samples otherwise pile up (8 bytes
    /// per segment) until the next scrape; the server calls this every few seconds.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// Render the exposition text, with the gauges set from the live counts.
    pub fn render(&self, connections: i64, agent_sockets: i64, active_calls: i64) -> String {
        self.with(|| {
            gauge!(CONNECTIONS).set(connections as f64);
            gauge!(AGENT_SOCKETS).set(agent_sockets as f64);
            gauge!(ACTIVE_CALLS).set(active_calls as f64);
        });
        self.handle.run_upkeep();
        self.handle.render()
    }
}
