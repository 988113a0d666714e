//! Turn timing on media time: who holds the floor, interruptions, talk-over, gaps, dead air,
//! monologues and speech rate.
//!
//! Fed by segment revisions (partials and finals, possibly late or out of order) and by media-time
//! advances. Pure and synchronous like the rest of the engine: no clock, no I/O.

use serde::{Deserialize, Serialize};

use crate::protocol::{Speaker, TimingSummary};

pub mod syllables;

/// Thresholds for the timing rules. Every default has a rationale in the README ("Timing signals").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimingConfig {
    /// The interrupter must start at least this long before the other speaker's segment ends
    /// (ordinary turn transitions overlap by a few hundred ms).
    pub interrupt_min_overlap_ms: u64,
    /// ... or this long when the interrupted segment ends on a word that cannot end a sentence
    /// ("que", "de", "pero"): the speaker was visibly cut off.
    pub interrupt_cutoff_overlap_ms: u64,
    /// The interrupted speaker "gives up the floor" if they stop within this window after the
    /// interrupter started.
    pub yield_window_ms: u64,
    /// Both speaking at once for longer than this is talk-over (counted even if nobody yields).
    pub talk_over_ms: u64,
    /// Backchannels ("ajá", "vale") longer than this are treated as real turns.
    pub backchannel_max_ms: u64,
    /// Silence while the customer waits (no hold announced) before dead air is reported.
    pub dead_air_ms: u64,
    /// Silence after the agent announced a hold before dead air is reported.
    pub dead_air_hold_ms: u64,
    /// A partial not updated for this long is considered finished (lost final).
    pub stale_partial_ms: u64,
    /// Consecutive segments of one speaker separated by less than this form one turn.
    pub turn_join_gap_ms: u64,
    /// Agent continuous talk longer than this is a monologue.
    pub agent_monologue_ms: u64,
    /// Customer continuous talk longer than this is venting (exposed to the nudge policy).
    pub customer_venting_ms: u64,
    /// Agent speech rate above this (syllables per second of speech) is too fast.
    pub fast_syllables_per_s: f64,
    /// The rate resets below this (hysteresis).
    pub fast_clear_syllables_per_s: f64,
    /// Sliding window of agent speech (media time) over which the rate is measured.
    pub rate_window_ms: u64,
    /// Minimum agent speech inside the window before a rate is judged.
    pub rate_min_speech_ms: u64,
    /// Segments whose start is at most this far behind the latest media time are placed in order;
    /// older ones are still counted but do not re-open closed turns.
    pub reorder_window_ms: u64,
}

impl Default for TimingConfig {
    fn default() -> Self {
        TimingConfig {
            interrupt_min_overlap_ms: 700,
            interrupt_cutoff_overlap_ms: 300,
            yield_window_ms: 1_500,
            talk_over_ms: 2_000,
            backchannel_max_ms: 1_200,
            dead_air_ms: 8_000,
            dead_air_hold_ms: 45_000,
            stale_partial_ms: 4_000,
            turn_join_gap_ms: 1_200,
            agent_monologue_ms: 45_000,
            customer_venting_ms: 15_000,
            fast_syllables_per_s: 7.2,
            fast_clear_syllables_per_s: 6.4,
            rate_window_ms: 20_000,
            rate_min_speech_ms: 8_000,
            reorder_window_ms: 3_000,
        }
    }
}

/// What the engine tells the timing model about one segment revision. Language-dependent facts
/// (is it a backchannel, does it announce a hold, how many syllables) come from the language layer.
#[derive(Debug, Clone)]
pub struct SegmentInfo<'a> {
    pub segment_id: &'a str,
    pub speaker: Speaker,
    pub start_ms: u64,
    pub end_ms: u64,
    pub is_final: bool,
    /// First words of the text, for evidence quotes.
    pub quote: &'a str,
    /// Only backchannel tokens ("ajá", "sí", "vale"...): never an interruption, never takes the floor.
    pub backchannel: bool,
    /// The agent announced a hold ("un momento", "le pongo en espera").
    pub announces_hold: bool,
    /// Estimated Spanish syllables in the text.
    pub syllables: u32,
    /// The text ends on a word that cannot end a sentence ("que", "de", "y"...).
    pub ends_cut_off: bool,
}

/// Something the timing model noticed. Each carries the segment ids and quotes that justify it.
#[derive(Debug, Clone, PartialEq)]
pub enum TimingEvent {
    /// `by` started speaking while the other side was mid-turn and took the floor, or both kept
    /// talking beyond `talk_over_ms`.
    Interruption {
        by: Speaker,
        at_ms: u64,
        interrupter_segment: String,
        interrupted_segment: String,
        overlap_ms: u64,
        /// Both kept talking past `talk_over_ms`.
        talk_over: bool,
        interrupter_quote: String,
        interrupted_quote: String,
    },
    /// Nobody has spoken for a while although the customer is waiting.
    DeadAirStart {
        at_ms: u64,
        silent_since_ms: u64,
        /// The agent had announced a hold (the longer threshold applied).
        hold: bool,
        /// The last segment before the silence.
        last_segment: String,
    },
    /// Someone spoke again.
    DeadAirEnd {
        at_ms: u64,
        silence_ms: u64,
        segment_id: String,
    },
    /// A speaker has talked continuously beyond the threshold (agent: monologue, customer: venting).
    LongTurnStart {
        speaker: Speaker,
        at_ms: u64,
        turn_start_ms: u64,
        segment_ids: Vec<String>,
    },
    /// That long turn ended (the other side spoke).
    LongTurnEnd {
        speaker: Speaker,
        at_ms: u64,
        turn_ms: u64,
    },
    /// Agent speech rate rose above the threshold over the sliding window.
    FastSpeechStart {
        at_ms: u64,
        syllables_per_s: f64,
        segment_ids: Vec<String>,
    },
    /// Agent speech rate fell back below the clear threshold.
    FastSpeechEnd { at_ms: u64, syllables_per_s: f64 },
    /// A customer turn ended and the agent did not interrupt it.
    CustomerTurnCompleted {
        at_ms: u64,
        segment_id: String,
        turn_ms: u64,
    },
}

/// The timing picture at the current media time, read by the nudge policy and `state`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimingSnapshot {
    pub now_ms: u64,
    pub agent_talk_ms: u64,
    pub customer_talk_ms: u64,
    pub interruptions_by_agent: u32,
    pub interruptions_by_customer: u32,
    /// Someone's segment is open (partial, not stale) at `now_ms`.
    pub agent_speaking: bool,
    pub customer_speaking: bool,
    /// The customer is in a long turn (venting): the agent should let them finish.
    pub customer_venting: bool,
    /// The last completed turn was the customer's and the agent has not answered yet.
    pub customer_waiting: bool,
    /// The agent announced a hold and has not spoken since.
    pub hold_active: bool,
    pub dead_air: bool,
    pub agent_fast: bool,
    pub agent_monologue: bool,
    /// Agent syllables per second over the sliding window, when enough speech was heard.
    pub agent_rate: Option<f64>,
    /// Media time when the last speech (any speaker) ended.
    pub last_speech_end_ms: u64,
}

impl TimingSnapshot {
    /// Agent share of all speech heard so far (0 when nobody spoke).
    pub fn agent_share(&self) -> f64 {
        let total = self.agent_talk_ms + self.customer_talk_ms;
        if total == 0 {
            0.0
        } else {
            self.agent_talk_ms as f64 / total as f64
        }
    }
}

/// Turns and timing rules for one call. See [`TimingConfig`] for the thresholds.
#[derive(Debug, Clone)]
pub struct TimingModel {
    cfg: TimingConfig,
    // implementation state lives here (see src/timing/turns.rs etc.)
}

impl TimingModel {
    pub fn new(cfg: TimingConfig) -> Self {
        TimingModel { cfg }
    }

    /// A new revision of a segment (partial or final). Later revisions replace earlier ones.
    pub fn on_segment(&mut self, _seg: &SegmentInfo<'_>) -> Vec<TimingEvent> {
        let _ = &self.cfg;
        Vec::new()
    }

    /// Media time moved on to `now_ms` (tick, or the end of a segment).
    pub fn advance(&mut self, _now_ms: u64) -> Vec<TimingEvent> {
        Vec::new()
    }

    pub fn snapshot(&self) -> TimingSnapshot {
        TimingSnapshot::default()
    }

    pub fn summary(&self) -> TimingSummary {
        TimingSummary::default()
    }
}
