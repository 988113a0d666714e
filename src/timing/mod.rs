//! Turn timing on media time: who holds the floor, interruptions, talk-over, gaps, dead air,
//! monologues and speech rate.
//!
//! Fed by segment revisions (partials and finals, possibly late or out of order) and by media-time
//! advances. Pure and synchronous like the rest of the engine: no clock, no I/O.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::protocol::{Speaker, TimingSummary};
use turns::{
    intersection_len, merged, short_quote, speaker_index, total_len, Seg, Turn, TurnBuilder,
};

pub mod syllables;
#[cfg(test)]
mod tests;
mod turns;

/// Segments ending this long before the latest media time are folded into running totals: no
/// rule looks further back (the rate window is 20 s, reordering a few seconds). A configuration
/// with longer windows raises it.
const RETAIN_MS: u64 = 60_000;
/// Hard cap on retained segments whatever their timing, so hostile input cannot grow memory.
const MAX_SEGMENTS: usize = 128;
/// Evicted ids remembered so a very late revision of one is not counted as new speech.
const MAX_EVICTED_IDS: usize = 256;

/// How soon after a formal hold's announcement a quick "ya vuelvo" still belongs to it.
const HOLD_CLOSING_MS: u64 = 20_000;

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
    /// Silence after the agent announced a quick check ("un momento, lo compruebo") before dead
    /// air is reported: the customer expects to hear back within ~20–30 s.
    pub dead_air_check_ms: u64,
    /// Silence after the agent announced a formal hold ("le pongo en espera") before dead air is
    /// reported.
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
            dead_air_check_ms: 25_000,
            dead_air_hold_ms: 45_000,
            stale_partial_ms: 4_000,
            turn_join_gap_ms: 1_200,
            agent_monologue_ms: 45_000,
            customer_venting_ms: 15_000,
            fast_syllables_per_s: 7.2,
            fast_clear_syllables_per_s: 6.4,
            rate_window_ms: 10_000,
            rate_min_speech_ms: 6_000,
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
    /// The speaker asked for a moment: an agent's quick check ("un momento, lo consulto") or hold
    /// sets a longer dead-air threshold; a customer's ("un momento que lo busco") means the silence
    /// is theirs.
    pub announces_hold: bool,
    /// The wait is a formal hold ("le pongo en espera"): the longest threshold applies.
    pub formal_hold: bool,
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
        /// The agent had announced a wait (a longer threshold applied)...
        hold: bool,
        /// ...and it was a formal hold, not a quick check.
        formal_hold: bool,
        /// The last segment before the silence.
        last_segment: String,
    },
    /// Someone spoke again.
    DeadAirEnd {
        at_ms: u64,
        silence_ms: u64,
        segment_id: String,
        /// Who broke the silence: a customer asking "¿hola?" is still waiting for the agent.
        speaker: Speaker,
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
        let total = self.agent_talk_ms.saturating_add(self.customer_talk_ms);
        if total == 0 {
            0.0
        } else {
            self.agent_talk_ms as f64 / total as f64
        }
    }
}

/// Figures of segments already evicted, folded into running totals.
#[derive(Debug, Clone, Default)]
struct Totals {
    talk: [u64; 2],
    overlap: u64,
    agent_syllables: u64,
    agent_speech_ms: u64,
    longest: [u64; 2],
    gap_sum: u64,
    gap_n: u64,
    last_end: u64,
    last_id: Arc<str>,
}

/// A long turn reported and not yet ended.
#[derive(Debug, Clone)]
struct LongTurn {
    turn_start: u64,
    last_end: u64,
}

/// The picture derived from retained segments at `now` (recomputed; kept only from a segment's
/// evaluation to the media-time advance that follows it, see [`TimingModel::reusable_view`]).
#[derive(Debug, Clone)]
struct View {
    turns: Vec<Turn>,
    gap_sum: u64,
    gap_n: u64,
    talk: [u64; 2],
    overlap: u64,
    open: [bool; 2],
    last_end: u64,
    last_id: Arc<str>,
    waiting: bool,
    hold: bool,
    formal_hold: bool,
    rate: Option<f64>,
    agent_syllables: u64,
    agent_speech_ms: u64,
}

/// Turns and timing rules for one call. See [`TimingConfig`] for the thresholds.
///
/// Every `at_ms` in the events is the media time at which the condition became true (the interrupter
/// crossing `talk_over_ms`, the interrupted speaker stopping, the dead-air threshold...), so events do
/// not depend on how coarsely the caller advances time; rate events use the current media time.
#[derive(Debug, Clone)]
pub struct TimingModel {
    cfg: TimingConfig,
    now: u64,
    /// Latest revision of each segment still able to matter.
    segs: Vec<Seg>,
    /// Hashes of evicted ids, oldest first ([`id_hash`]: 8 bytes each, whatever the id's length).
    evicted_ids: VecDeque<u64>,
    /// Talk before this media time is in `committed`; retained segments count only after it.
    talk_frontier: u64,
    /// Segments starting before this arrived after their neighbours were folded away: they count as
    /// talk and for interruptions but are not placed into turns.
    turn_frontier: u64,
    /// The turn in progress when its segments were evicted.
    carry: Option<Turn>,
    committed: Totals,
    interruptions: [u32; 2],
    talk_overs: u32,
    dead_air_since: Option<u64>,
    last_dead_air_since: Option<u64>,
    dead_air_episodes: u32,
    long_turn: [Option<LongTurn>; 2],
    fast: bool,
    /// Start, id and wait announced (any, formal) of the agent's latest non-backchannel segment.
    last_agent: Option<(u64, Arc<str>, (bool, bool))>,
    /// Start of the latest agent segment that announced a formal hold: "¿me permite ponerlo en
    /// espera?" … "sí" … "gracias, ya vuelvo" is still that hold, not a quick check.
    formal_hold_at: Option<u64>,
    /// The view the last evaluation read, while nothing it depends on has changed since (segments
    /// and their flags, media time, carry, frontiers, totals). The engine advances media time
    /// right after every segment; when that changes nothing, the view is not rebuilt.
    reusable_view: Option<View>,
}

impl TimingModel {
    pub fn new(cfg: TimingConfig) -> Self {
        TimingModel {
            cfg,
            now: 0,
            segs: Vec::new(),
            evicted_ids: VecDeque::new(),
            talk_frontier: 0,
            turn_frontier: 0,
            carry: None,
            committed: Totals::default(),
            interruptions: [0; 2],
            talk_overs: 0,
            dead_air_since: None,
            last_dead_air_since: None,
            dead_air_episodes: 0,
            long_turn: [None, None],
            fast: false,
            last_agent: None,
            formal_hold_at: None,
            reusable_view: None,
        }
    }

    /// A new revision of a segment (partial or final). Later revisions replace earlier ones.
    pub fn on_segment(&mut self, seg: &SegmentInfo<'_>) -> Vec<TimingEvent> {
        self.reusable_view = None;
        let end = seg.end_ms.max(seg.start_ms);
        if self.evicted_ids.contains(&id_hash(seg.segment_id)) {
            // Its neighbours are gone: counting it again would double its talk time.
            return self.advance(end);
        }
        // A revision describes speech that has happened: media time is at least its end.
        self.now = self.now.max(end);
        let mut fresh = Seg {
            id: Arc::from(seg.segment_id),
            speaker: seg.speaker,
            start: seg.start_ms,
            end,
            is_final: seg.is_final,
            quote: short_quote(seg.quote),
            backchannel_flag: seg.backchannel,
            announces_hold: seg.announces_hold,
            formal_hold: seg.formal_hold,
            syllables: seg.syllables,
            ends_cut_off: seg.ends_cut_off,
            interrupted: Vec::new(),
            interrupted_by_agent: false,
            long_reported: false,
            completed_reported: false,
        };
        let idx = match self.segs.iter().position(|s| s.id == fresh.id) {
            Some(i) => {
                let old = &mut self.segs[i];
                fresh.interrupted = std::mem::take(&mut old.interrupted);
                fresh.interrupted_by_agent = old.interrupted_by_agent;
                fresh.long_reported = old.long_reported;
                fresh.completed_reported = old.completed_reported;
                *old = fresh;
                i
            }
            None => {
                self.segs.push(fresh);
                self.segs.len() - 1
            }
        };
        let mut ev = Vec::new();
        let s = &self.segs[idx];
        if s.speaker == Speaker::Agent && !s.is_backchannel(&self.cfg) {
            let newer = match &self.last_agent {
                None => true,
                Some((start, id, _)) => *id == s.id || s.start >= *start,
            };
            if newer {
                self.last_agent = Some((s.start, s.id.clone(), (s.announces_hold, s.formal_hold)));
            }
            if s.formal_hold {
                self.formal_hold_at = Some(self.formal_hold_at.map_or(s.start, |t| t.max(s.start)));
            }
        }
        if let Some(since) = self.dead_air_since {
            // Any speech reaching into the silence ends it, even a late segment that covers it.
            if end > since {
                let at = s.start.max(since);
                ev.push(TimingEvent::DeadAirEnd {
                    at_ms: at,
                    silence_ms: at - since,
                    segment_id: s.id.to_string(),
                    speaker: s.speaker,
                });
                self.dead_air_since = None;
            }
        }
        self.check_interruptions(Some(idx), &mut ev);
        self.evaluate(&mut ev);
        self.evict();
        ev
    }

    /// Media time moved on to `now_ms` (tick, or the end of a segment). Earlier times are ignored.
    pub fn advance(&mut self, now_ms: u64) -> Vec<TimingEvent> {
        if now_ms > self.now {
            self.now = now_ms;
            self.reusable_view = None;
        }
        let mut ev = Vec::new();
        self.check_interruptions(None, &mut ev);
        self.evaluate(&mut ev);
        self.evict();
        // Kept only between a segment and the advance after it: nothing stays at rest.
        self.reusable_view = None;
        ev
    }

    pub fn snapshot(&self) -> TimingSnapshot {
        let v = self.view();
        TimingSnapshot {
            now_ms: self.now,
            agent_talk_ms: v.talk[0],
            customer_talk_ms: v.talk[1],
            interruptions_by_agent: self.interruptions[0],
            interruptions_by_customer: self.interruptions[1],
            agent_speaking: v.open[0],
            customer_speaking: v.open[1],
            customer_venting: self.long_turn[1].is_some(),
            customer_waiting: v.waiting,
            hold_active: v.hold,
            dead_air: self.dead_air_since.is_some(),
            agent_fast: self.fast,
            agent_monologue: self.long_turn[0].is_some(),
            agent_rate: v.rate,
            last_speech_end_ms: v.last_end,
        }
    }

    /// How long nobody had spoken before `start_ms`, when segment `segment_id` began (0 when
    /// nothing was said before it): "¿hola?" after 15 s of silence is a presence check.
    pub fn silence_before(&self, segment_id: &str, start_ms: u64) -> u64 {
        let before = self
            .segs
            .iter()
            .filter(|s| &*s.id != segment_id && s.start < start_ms)
            .map(|s| s.end)
            .chain((self.committed.last_end > 0).then_some(self.committed.last_end))
            .max();
        before.map_or(0, |end| start_ms.saturating_sub(end))
    }

    /// The agent's segment is open at the current media time: `snapshot().agent_speaking`
    /// without building turns (the engine asks on every event).
    pub fn agent_speaking(&self) -> bool {
        self.segs
            .iter()
            .any(|s| s.speaker == Speaker::Agent && s.open(self.now, &self.cfg))
    }

    /// The customer's segment is open at the current media time (they are mid-turn).
    pub fn customer_speaking(&self) -> bool {
        self.segs
            .iter()
            .any(|s| s.speaker == Speaker::Customer && s.open(self.now, &self.cfg))
    }

    /// Talk and interruption figures of [`TimingModel::snapshot`] (`agent_talk_ms`,
    /// `customer_talk_ms`, `interruptions_by_*`; the rest default) without building turns: what
    /// `state` shows after every final segment.
    pub fn talk_snapshot(&self) -> TimingSnapshot {
        let talk = self.talk();
        TimingSnapshot {
            now_ms: self.now,
            agent_talk_ms: talk[0],
            customer_talk_ms: talk[1],
            interruptions_by_agent: self.interruptions[0],
            interruptions_by_customer: self.interruptions[1],
            ..TimingSnapshot::default()
        }
    }

    /// Talk per speaker (agent, customer): committed history plus retained segments, overlaps
    /// within a speaker merged (the same figures as `view().talk`).
    fn talk(&self) -> [u64; 2] {
        let spans = |sp: Speaker| {
            merged(
                self.segs
                    .iter()
                    .filter(|s| s.speaker == sp)
                    .map(|s| (s.start, s.end)),
                self.talk_frontier,
                u64::MAX,
            )
        };
        [
            self.committed.talk[0].saturating_add(total_len(&spans(Speaker::Agent))),
            self.committed.talk[1].saturating_add(total_len(&spans(Speaker::Customer))),
        ]
    }

    pub fn summary(&self) -> TimingSummary {
        let v = self.view();
        let longest = |sp: Speaker| {
            v.turns
                .iter()
                .filter(|t| t.speaker == sp)
                .map(Turn::dur)
                .fold(self.committed.longest[speaker_index(sp)], u64::max)
        };
        let gap_n = self.committed.gap_n.saturating_add(v.gap_n);
        let gap_sum = self.committed.gap_sum.saturating_add(v.gap_sum);
        let syllables = self
            .committed
            .agent_syllables
            .saturating_add(v.agent_syllables);
        let speech_ms = self
            .committed
            .agent_speech_ms
            .saturating_add(v.agent_speech_ms);
        TimingSummary {
            agent_talk_ms: v.talk[0],
            customer_talk_ms: v.talk[1],
            overlap_ms: v.overlap,
            talk_overs: self.talk_overs,
            longest_agent_monologue_ms: longest(Speaker::Agent),
            longest_customer_turn_ms: longest(Speaker::Customer),
            mean_response_gap_ms: (gap_n > 0).then(|| gap_sum / gap_n),
            dead_air_episodes: self.dead_air_episodes,
            agent_syllables_per_s: (speech_ms > 0)
                .then(|| syllables as f64 * 1000.0 / speech_ms as f64),
        }
    }

    /// Segments that may enter turns, sorted by start.
    fn floor_segments<'a>(&self, sorted: &[&'a Seg]) -> Vec<&'a Seg> {
        let mut floor = Vec::with_capacity(sorted.len());
        floor.extend(
            sorted
                .iter()
                .copied()
                .filter(|s| !s.is_backchannel(&self.cfg) && s.start >= self.turn_frontier),
        );
        floor
    }

    fn view(&self) -> View {
        let cfg = &self.cfg;
        let mut sorted: Vec<&Seg> = self.segs.iter().collect();
        sort_by_start(&mut sorted);
        let floor = self.floor_segments(&sorted);
        let mut builder = TurnBuilder::new(cfg, self.now, &floor, self.carry.as_ref());
        builder.run(floor.len());
        let (turns, gap_sum, gap_n) = builder.into_turns();

        let spans = |sp: Speaker| {
            merged(
                self.segs
                    .iter()
                    .filter(|s| s.speaker == sp)
                    .map(|s| (s.start, s.end)),
                self.talk_frontier,
                u64::MAX,
            )
        };
        let (agent, customer) = (spans(Speaker::Agent), spans(Speaker::Customer));
        let talk = [
            self.committed.talk[0].saturating_add(total_len(&agent)),
            self.committed.talk[1].saturating_add(total_len(&customer)),
        ];
        let overlap = self
            .committed
            .overlap
            .saturating_add(intersection_len(&agent, &customer));

        let mut open = [false; 2];
        let (mut last_end, mut last_id) = (self.committed.last_end, &self.committed.last_id);
        let (mut agent_syllables, mut agent_speech_ms) = (0u64, 0u64);
        // The customer's latest words, and whether they asked the agent to wait ("un momento,
        // que lo busco"): then the silence is theirs, not the agent's.
        let mut customer_last: Option<(u64, bool)> = None;
        for s in &self.segs {
            open[speaker_index(s.speaker)] |= s.open(self.now, cfg);
            if s.speaker == Speaker::Customer
                && !s.is_backchannel(cfg)
                && customer_last.is_none_or(|(end, _)| s.end >= end)
            {
                customer_last = Some((s.end, s.announces_hold));
            }
            if s.end > last_end || (s.end == last_end && last_id.is_empty()) {
                last_end = s.end;
                last_id = &s.id;
            }
            if s.speaker == Speaker::Agent {
                agent_syllables = agent_syllables.saturating_add(u64::from(s.syllables));
                agent_speech_ms = agent_speech_ms.saturating_add(s.dur());
            }
        }
        let customer_busy = customer_last.is_some_and(|(_, hold)| hold);
        let waiting = !customer_busy
            && turns
                .last()
                .is_some_and(|t| t.speaker == Speaker::Customer && t.done);
        let (hold, formal_hold) =
            self.last_agent
                .as_ref()
                .map_or((false, false), |(start, _, (hold, formal))| {
                    let closing = *hold
                        && self
                            .formal_hold_at
                            .is_some_and(|t| start.saturating_sub(t) <= HOLD_CLOSING_MS);
                    (*hold, *formal || closing)
                });
        View {
            gap_sum,
            gap_n,
            talk,
            overlap,
            open,
            last_end,
            last_id: last_id.clone(),
            waiting,
            hold,
            formal_hold,
            rate: self.window_rate(&sorted, None),
            agent_syllables,
            agent_speech_ms,
            turns,
        }
    }

    /// Segment ids behind the current window rate (wanted only when fast speech starts).
    fn window_rate_ids(&self) -> Vec<String> {
        let mut sorted: Vec<&Seg> = self.segs.iter().collect();
        sort_by_start(&mut sorted);
        let mut ids = Vec::new();
        self.window_rate(&sorted, Some(&mut ids));
        ids
    }

    /// Agent syllables per second over finals (and the latest partial) ending inside the window;
    /// `ids` collects the segments counted.
    fn window_rate(&self, sorted: &[&Seg], mut ids: Option<&mut Vec<String>>) -> Option<f64> {
        let lo = self.now.saturating_sub(self.cfg.rate_window_ms);
        let latest_partial = sorted
            .iter()
            .filter(|s| s.speaker == Speaker::Agent && !s.is_final)
            .max_by_key(|s| (s.start, &s.id))
            .map(|s| &*s.id);
        let (mut syllables, mut speech_ms) = (0.0f64, 0u64);
        for s in sorted {
            let counted = s.is_final || Some(&*s.id) == latest_partial;
            if s.speaker == Speaker::Agent && counted && s.end >= lo {
                // Only the part inside the window counts, its syllables pro rata: a slow sentence
                // before a 10-s burst must not dilute it.
                let inside = s.end.min(self.now).saturating_sub(s.start.max(lo));
                let share = if s.dur() == 0 {
                    1.0
                } else {
                    inside as f64 / s.dur() as f64
                };
                syllables += f64::from(s.syllables) * share;
                speech_ms = speech_ms.saturating_add(inside);
                if let Some(ids) = ids.as_deref_mut() {
                    ids.push(s.id.to_string());
                }
            }
        }
        (speech_ms > 0 && speech_ms >= self.cfg.rate_min_speech_ms)
            .then(|| syllables * 1000.0 / speech_ms as f64)
    }

    /// Judge interrupter/interrupted pairs involving `trigger`, or (on a tick) pairs whose
    /// interrupted segment is a partial that may just have gone stale.
    fn check_interruptions(&mut self, trigger: Option<usize>, ev: &mut Vec<TimingEvent>) {
        let n = self.segs.len();
        let mut found = Vec::new();
        let mut judge = |xi: usize, yi: usize| {
            let (x, y) = (&self.segs[xi], &self.segs[yi]);
            // The verdict first (cheap arithmetic), then the pair's history (id compares).
            if let Some(verdict) = judge_interruption(&self.cfg, self.now, x, y) {
                if !x.interrupted.contains(&y.id) {
                    found.push((xi, yi, verdict));
                }
            }
        };
        // Pairs in (interrupter, interrupted) index order, as the events come out in that order.
        match trigger {
            Some(t) => {
                for xi in 0..n {
                    if xi == t {
                        (0..n).filter(|yi| *yi != t).for_each(|yi| judge(t, yi));
                    } else {
                        judge(xi, t);
                    }
                }
            }
            None => {
                // Only partials can have gone stale; usually there are none or one.
                let partials: Vec<usize> = (0..n).filter(|i| !self.segs[*i].is_final).collect();
                if partials.is_empty() {
                    return;
                }
                for xi in 0..n {
                    for &yi in &partials {
                        if xi != yi {
                            judge(xi, yi);
                        }
                    }
                }
            }
        }
        if !found.is_empty() {
            self.reusable_view = None;
        }
        for (xi, yi, (overlap, talk_over, at)) in found {
            let (y_id, y_quote) = (self.segs[yi].id.clone(), self.segs[yi].quote.clone());
            let x = &mut self.segs[xi];
            x.interrupted.push(y_id.clone());
            let by = x.speaker;
            ev.push(TimingEvent::Interruption {
                by,
                at_ms: at,
                interrupter_segment: x.id.to_string(),
                interrupted_segment: y_id.to_string(),
                overlap_ms: overlap,
                talk_over,
                interrupter_quote: x.quote.clone(),
                interrupted_quote: y_quote,
            });
            if by == Speaker::Agent {
                self.segs[yi].interrupted_by_agent = true;
            }
            let k = speaker_index(by);
            self.interruptions[k] = self.interruptions[k].saturating_add(1);
            if talk_over {
                self.talk_overs = self.talk_overs.saturating_add(1);
            }
        }
    }

    /// Turn, dead-air and rate rules on the current picture.
    fn evaluate(&mut self, ev: &mut Vec<TimingEvent>) {
        let v = match self.reusable_view.take() {
            Some(v) => v,
            None => self.view(),
        };
        let now = self.now;
        let mut marked = false;

        for sp in [Speaker::Agent, Speaker::Customer] {
            let k = speaker_index(sp);
            let Some(long) = self.long_turn[k].as_mut() else {
                continue;
            };
            if let Some(o) = v
                .turns
                .iter()
                .find(|t| t.speaker == sp.other() && t.start > long.turn_start)
            {
                ev.push(TimingEvent::LongTurnEnd {
                    speaker: sp,
                    at_ms: o.start,
                    turn_ms: long.last_end.saturating_sub(long.turn_start),
                });
                self.long_turn[k] = None;
            } else if let Some(last) = v.turns.last().filter(|t| t.speaker == sp) {
                long.last_end = long.last_end.max(last.end);
            }
        }
        // Only the speaker holding the floor now can be in a long turn; while one is reported, later
        // turns of the same speaker (after a pause, nobody else speaking) continue it.
        if let Some(last) = v.turns.last() {
            let k = speaker_index(last.speaker);
            let limit = match last.speaker {
                Speaker::Agent => self.cfg.agent_monologue_ms,
                Speaker::Customer => self.cfg.customer_venting_ms,
            };
            if self.long_turn[k].is_none() && !last.long_reported && last.dur() > limit {
                ev.push(TimingEvent::LongTurnStart {
                    speaker: last.speaker,
                    at_ms: last.start.saturating_add(limit),
                    turn_start_ms: last.start,
                    segment_ids: last.ids.iter().map(|i| i.to_string()).collect(),
                });
                self.long_turn[k] = Some(LongTurn {
                    turn_start: last.start,
                    last_end: last.end,
                });
                self.mark(last, |s| s.long_reported = true, |t| t.long_reported = true);
                marked = true;
            }
        }

        for (i, t) in v.turns.iter().enumerate() {
            if t.speaker != Speaker::Customer || t.completed_reported || !t.done {
                continue;
            }
            let answered = v.turns[i + 1..].iter().any(|u| u.speaker == Speaker::Agent);
            if answered || now >= t.end.saturating_add(self.cfg.turn_join_gap_ms) {
                if !t.interrupted {
                    ev.push(TimingEvent::CustomerTurnCompleted {
                        at_ms: t.end,
                        segment_id: t.last_id.to_string(),
                        turn_ms: t.dur(),
                    });
                }
                marked = true;
                self.mark(
                    t,
                    |s| s.completed_reported = true,
                    |c| c.completed_reported = true,
                );
            }
        }

        if self.dead_air_since.is_none() {
            let limit = match (v.hold, v.formal_hold) {
                (_, true) => self.cfg.dead_air_hold_ms,
                (true, false) => self.cfg.dead_air_check_ms,
                _ => self.cfg.dead_air_ms,
            };
            let waiting = v.waiting || v.hold;
            let quiet = !v.open[0] && !v.open[1];
            let new_silence = self.last_dead_air_since.is_none_or(|s| v.last_end > s);
            if waiting && quiet && new_silence && now.saturating_sub(v.last_end) >= limit {
                ev.push(TimingEvent::DeadAirStart {
                    at_ms: v.last_end.saturating_add(limit),
                    silent_since_ms: v.last_end,
                    hold: v.hold,
                    formal_hold: v.formal_hold,
                    last_segment: v.last_id.to_string(),
                });
                self.dead_air_since = Some(v.last_end);
                self.last_dead_air_since = Some(v.last_end);
                self.dead_air_episodes = self.dead_air_episodes.saturating_add(1);
            }
        }

        if let Some(rate) = v.rate {
            if !self.fast && rate > self.cfg.fast_syllables_per_s {
                self.fast = true;
                ev.push(TimingEvent::FastSpeechStart {
                    at_ms: now,
                    syllables_per_s: rate,
                    segment_ids: self.window_rate_ids(),
                });
            } else if self.fast && rate < self.cfg.fast_clear_syllables_per_s {
                self.fast = false;
                ev.push(TimingEvent::FastSpeechEnd {
                    at_ms: now,
                    syllables_per_s: rate,
                });
            }
        }
        // `mark` changed flags the view read: then it is stale.
        if !marked {
            self.reusable_view = Some(v);
        }
    }

    /// Set a flag on every retained segment of `turn` (and on the carried turn it continues).
    fn mark(&mut self, turn: &Turn, on_seg: impl Fn(&mut Seg), on_carry: impl Fn(&mut Turn)) {
        self.reusable_view = None;
        let ids: HashSet<&str> = turn.ids.iter().map(|i| &**i).collect();
        for s in self.segs.iter_mut().filter(|s| ids.contains(&*s.id)) {
            on_seg(s);
        }
        if turn.from_carry {
            if let Some(c) = self.carry.as_mut() {
                on_carry(c);
            }
        }
    }

    /// Fold the oldest segments into running totals once nothing can refer to them any more.
    fn evict(&mut self) {
        // Reordered segments must still find their neighbours, also under a custom configuration.
        let retain = RETAIN_MS.max(
            self.cfg
                .reorder_window_ms
                .saturating_add(self.cfg.rate_window_ms)
                .saturating_add(self.cfg.stale_partial_ms),
        );
        let target = self.now.saturating_sub(retain);
        sort_by_start(&mut self.segs);
        let mut k = self.segs.iter().take_while(|s| s.end <= target).count();
        if self.segs.len().saturating_sub(k) > MAX_SEGMENTS {
            k = self.segs.len() - MAX_SEGMENTS;
        }
        if k == 0 {
            return;
        }
        self.reusable_view = None;
        let prefix = &self.segs[..k];
        let prefix_end = prefix.iter().map(|s| s.end).max().unwrap_or(0);
        // Everything before `cutoff` becomes history; the evicted segments all end by then.
        let cutoff = target.max(prefix_end).max(self.talk_frontier);

        // Replay the turn builder over the evicted prefix (with the rest visible for look-ahead).
        let sorted: Vec<&Seg> = self.segs.iter().collect();
        let floor = self.floor_segments(&sorted);
        let floor_in_prefix = self.floor_segments(&sorted[..k]).len();
        let mut builder = TurnBuilder::new(&self.cfg, self.now, &floor, self.carry.as_ref());
        builder.run(floor_in_prefix);
        let mut carry = builder.cur.take();
        let (closed, gap_sum, gap_n) = builder.into_turns();

        let spans = |sp: Speaker| {
            merged(
                self.segs
                    .iter()
                    .filter(|s| s.speaker == sp)
                    .map(|s| (s.start, s.end)),
                self.talk_frontier,
                cutoff,
            )
        };
        let (agent, customer) = (spans(Speaker::Agent), spans(Speaker::Customer));
        let c = &mut self.committed;
        c.talk[0] = c.talk[0].saturating_add(total_len(&agent));
        c.talk[1] = c.talk[1].saturating_add(total_len(&customer));
        c.overlap = c
            .overlap
            .saturating_add(intersection_len(&agent, &customer));
        for s in prefix {
            if s.speaker == Speaker::Agent {
                c.agent_syllables = c.agent_syllables.saturating_add(u64::from(s.syllables));
                c.agent_speech_ms = c.agent_speech_ms.saturating_add(s.dur());
            }
            if s.end > c.last_end || c.last_id.is_empty() {
                c.last_end = c.last_end.max(s.end);
                c.last_id = s.id.clone();
            }
        }

        for t in &closed {
            let i = speaker_index(t.speaker);
            c.longest[i] = c.longest[i].max(t.dur());
        }
        c.gap_sum = c.gap_sum.saturating_add(gap_sum);
        c.gap_n = c.gap_n.saturating_add(gap_n);
        if let Some(t) = carry.as_mut() {
            // Revisions of evicted segments are ignored, so they are as good as final.
            t.ids.clear();
            t.done = true;
            t.from_carry = false;
        }
        self.carry = carry;

        self.turn_frontier = self.turn_frontier.max(self.segs[k - 1].start);
        self.talk_frontier = cutoff;
        for s in self.segs.drain(..k) {
            let h = id_hash(&s.id);
            if !self.evicted_ids.contains(&h) {
                self.evicted_ids.push_back(h);
            }
        }
        while self.evicted_ids.len() > MAX_EVICTED_IDS {
            self.evicted_ids.pop_front();
        }
    }
}

/// Order segments by (start, id). They arrive almost in order (a new one is pushed at the end,
/// a revision replaced in place), so an insertion pass does it without a general sort; the
/// order is total (ids are unique), so the result is the one any sort gives.
fn sort_by_start<S: AsSeg>(segs: &mut [S]) {
    for i in 1..segs.len() {
        let mut j = i;
        while j > 0 && {
            let (a, b) = (segs[j].seg(), segs[j - 1].seg());
            (a.start, &a.id) < (b.start, &b.id)
        } {
            segs.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// A retained segment, or a reference to one.
trait AsSeg {
    fn seg(&self) -> &Seg;
}

impl AsSeg for Seg {
    fn seg(&self) -> &Seg {
        self
    }
}

impl AsSeg for &Seg {
    fn seg(&self) -> &Seg {
        self
    }
}

/// A 64-bit hash of a segment id, for the bounded sets of ids that were already seen (evicted
/// here, finalised in the engine): 8 bytes per id whatever the platform's id length, scanned
/// linearly (a few hundred compares). SipHash with fixed keys: deterministic across runs; two ids
/// colliding (about 2^-64 per pair) would make the newer one look already seen.
pub fn id_hash(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// Does `x` interrupt `y`? Returns (overlap, talk_over, at_ms).
fn judge_interruption(cfg: &TimingConfig, now: u64, x: &Seg, y: &Seg) -> Option<(u64, bool, u64)> {
    // A backchannel neither interrupts nor holds a floor that could be interrupted.
    if x.speaker == y.speaker || x.is_backchannel(cfg) || y.is_backchannel(cfg) {
        return None;
    }
    if !(y.start < x.start && x.start < y.end) {
        return None;
    }
    let overlap = x.end.min(y.end).saturating_sub(x.start);
    let needed = if y.ends_cut_off {
        cfg.interrupt_cutoff_overlap_ms
    } else {
        cfg.interrupt_min_overlap_ms
    };
    if overlap < needed {
        return None;
    }
    if overlap >= cfg.talk_over_ms {
        return Some((overlap, true, x.start.saturating_add(cfg.talk_over_ms)));
    }
    let yielded =
        y.done(now, cfg) && y.end.saturating_sub(x.start) <= cfg.yield_window_ms && x.end > y.end;
    yielded.then_some((overlap, false, y.end))
}
