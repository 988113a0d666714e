//! Rule-by-rule tests, including the cases that must not fire.

use super::*;
use crate::protocol::Speaker::{Agent, Customer};

#[derive(Clone)]
struct S {
    id: String,
    sp: Speaker,
    start: u64,
    end: u64,
    fin: bool,
    quote: String,
    bc: bool,
    hold: bool,
    formal: bool,
    syl: u32,
    cut: bool,
}

/// A final, non-backchannel segment speaking 5 syllables per second.
fn s(id: &str, sp: Speaker, start: u64, end: u64) -> S {
    S {
        id: id.to_string(),
        sp,
        start,
        end,
        fin: true,
        quote: format!("quote of {id}"),
        bc: false,
        hold: false,
        formal: false,
        syl: (end.saturating_sub(start) / 200) as u32,
        cut: false,
    }
}

impl S {
    fn partial(mut self) -> Self {
        self.fin = false;
        self
    }
    fn bc(mut self) -> Self {
        self.bc = true;
        self
    }
    fn hold(mut self) -> Self {
        self.hold = true;
        self
    }
    fn formal(mut self) -> Self {
        self.hold = true;
        self.formal = true;
        self
    }
    fn cut(mut self) -> Self {
        self.cut = true;
        self
    }
    fn syl(mut self, n: u32) -> Self {
        self.syl = n;
        self
    }
    fn info(&self) -> SegmentInfo<'_> {
        SegmentInfo {
            segment_id: &self.id,
            speaker: self.sp,
            start_ms: self.start,
            end_ms: self.end,
            is_final: self.fin,
            quote: &self.quote,
            backchannel: self.bc,
            announces_hold: self.hold,
            formal_hold: self.formal,
            syllables: self.syl,
            ends_cut_off: self.cut,
        }
    }
}

struct Call {
    m: TimingModel,
    ev: Vec<TimingEvent>,
}

impl Call {
    fn new() -> Self {
        Call {
            m: TimingModel::new(TimingConfig::default()),
            ev: Vec::new(),
        }
    }
    /// Feed a revision, then advance to its end as the engine does.
    fn seg(&mut self, seg: &S) -> Vec<TimingEvent> {
        let mut out = self.m.on_segment(&seg.info());
        out.extend(self.m.advance(seg.end));
        self.ev.extend(out.clone());
        out
    }
    fn tick(&mut self, at: u64) -> Vec<TimingEvent> {
        let out = self.m.advance(at);
        self.ev.extend(out.clone());
        out
    }
    /// Tick every 500 ms up to `to`.
    fn ticks(&mut self, from: u64, to: u64) {
        let mut t = from;
        while t <= to {
            self.tick(t);
            t += 500;
        }
    }
    fn interruptions(&self) -> Vec<&TimingEvent> {
        self.ev
            .iter()
            .filter(|e| matches!(e, TimingEvent::Interruption { .. }))
            .collect()
    }
    fn count(&self, f: impl Fn(&TimingEvent) -> bool) -> usize {
        self.ev.iter().filter(|e| f(e)).count()
    }
}

fn is_dead_start(e: &TimingEvent) -> bool {
    matches!(e, TimingEvent::DeadAirStart { .. })
}

// ---------- interruptions ----------

#[test]
fn backchannels_while_listening_are_not_interruptions() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 6_000));
    c.seg(&s("a1", Agent, 2_000, 2_400).bc());
    c.seg(&s("c2", Customer, 6_300, 12_000));
    c.seg(&s("a2", Agent, 7_000, 7_400).bc());
    c.seg(&s("a3", Agent, 11_500, 11_900).bc());
    c.seg(&s("c3", Customer, 12_200, 14_000));
    assert!(c.interruptions().is_empty(), "{:?}", c.ev);
    let snap = c.m.snapshot();
    assert_eq!(snap.interruptions_by_agent, 0);
    // The customer still holds the floor: one turn of 14 s.
    assert_eq!(c.m.summary().longest_customer_turn_ms, 14_000);
}

#[test]
fn long_flagged_backchannel_is_a_real_turn() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 10_000));
    // Flagged, but 3 s long while the customer talks: talk-over.
    c.seg(&s("a1", Agent, 5_000, 8_000).bc());
    assert_eq!(c.interruptions().len(), 1);
}

#[test]
fn normal_transition_overlap_is_not_an_interruption() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 5_000));
    c.seg(&s("a1", Agent, 4_700, 9_000));
    assert!(c.interruptions().is_empty());
    assert_eq!(
        c.count(|e| matches!(e, TimingEvent::CustomerTurnCompleted { .. })),
        1
    );
}

#[test]
fn agent_talking_over_is_an_interruption_with_talk_over() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 10_000));
    c.seg(&s("a1", Agent, 4_000, 9_000));
    let i = c.interruptions();
    assert_eq!(i.len(), 1);
    match i[0] {
        TimingEvent::Interruption {
            by,
            at_ms,
            overlap_ms,
            talk_over,
            interrupter_segment,
            interrupted_segment,
            interrupter_quote,
            ..
        } => {
            assert_eq!(*by, Agent);
            assert!(*talk_over);
            assert_eq!(*overlap_ms, 5_000);
            assert_eq!(*at_ms, 6_000);
            assert_eq!(interrupter_segment, "a1");
            assert_eq!(interrupted_segment, "c1");
            assert_eq!(interrupter_quote, "quote of a1");
        }
        _ => unreachable!(),
    }
    let sum = c.m.summary();
    assert_eq!(sum.talk_overs, 1);
    assert_eq!(sum.overlap_ms, 5_000);
}

#[test]
fn talk_over_is_decided_from_partials_and_counted_once() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 3_000).partial());
    c.seg(&s("a1", Agent, 2_000, 2_600).partial());
    c.seg(&s("c1", Customer, 0, 3_500).partial());
    c.seg(&s("a1", Agent, 2_000, 3_500).partial());
    assert!(c.interruptions().is_empty());
    c.seg(&s("c1", Customer, 0, 4_200).partial());
    c.seg(&s("a1", Agent, 2_000, 4_100).partial());
    assert_eq!(c.interruptions().len(), 1, "decided before any final");
    c.seg(&s("c1", Customer, 0, 6_000));
    c.seg(&s("a1", Agent, 2_000, 8_000));
    assert_eq!(c.interruptions().len(), 1);
    assert_eq!(c.m.snapshot().interruptions_by_agent, 1);
}

#[test]
fn customer_giving_up_within_a_second_is_an_interruption() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 5_000));
    c.seg(&s("a1", Agent, 4_000, 9_000));
    let i = c.interruptions();
    assert_eq!(i.len(), 1);
    assert!(matches!(
        i[0],
        TimingEvent::Interruption {
            by: Agent,
            talk_over: false,
            overlap_ms: 1_000,
            at_ms: 5_000,
            ..
        }
    ));
    // An interrupted turn is not a completed one.
    c.tick(12_000);
    assert_eq!(
        c.count(|e| matches!(e, TimingEvent::CustomerTurnCompleted { .. })),
        0
    );
}

#[test]
fn yield_is_judged_whatever_the_arrival_order() {
    let mut c = Call::new();
    c.seg(&s("a1", Agent, 4_000, 9_000));
    c.seg(&s("c1", Customer, 0, 5_000));
    assert_eq!(c.interruptions().len(), 1);
}

#[test]
fn cut_off_speaker_needs_less_overlap() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 5_000).cut());
    c.seg(&s("a1", Agent, 4_600, 8_000));
    assert_eq!(c.interruptions().len(), 1);
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 5_000));
    c.seg(&s("a1", Agent, 4_600, 8_000));
    assert!(c.interruptions().is_empty());
}

#[test]
fn customer_interrupting_the_agent_counts_for_the_customer() {
    let mut c = Call::new();
    c.seg(&s("a1", Agent, 0, 6_000));
    c.seg(&s("c1", Customer, 5_000, 9_000));
    let i = c.interruptions();
    assert_eq!(i.len(), 1);
    assert!(matches!(
        i[0],
        TimingEvent::Interruption { by: Customer, .. }
    ));
    assert_eq!(c.m.snapshot().interruptions_by_customer, 1);
}

#[test]
fn no_yield_when_the_interrupted_speaker_stops_late_or_the_interrupter_stops_first() {
    // Stops 1.8 s after the other started: outside the yield window, under talk-over.
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 5_800));
    c.seg(&s("a1", Agent, 4_000, 9_000));
    assert!(c.interruptions().is_empty());
    // The "interrupter" stops first: an aside, not taking the floor.
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 5_000));
    c.seg(&s("a1", Agent, 4_000, 4_900));
    assert!(c.interruptions().is_empty());
}

#[test]
fn stale_partial_counts_as_yielding() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 5_000).partial());
    c.seg(&s("a1", Agent, 4_000, 8_000).partial());
    assert!(c.interruptions().is_empty());
    assert!(c.m.snapshot().customer_speaking);
    c.tick(9_000);
    assert!(!c.m.snapshot().customer_speaking, "stale after 4 s");
    assert_eq!(c.interruptions().len(), 1);
}

// ---------- talk time ----------

#[test]
fn talk_time_is_the_union_of_latest_revisions() {
    let mut c = Call::new();
    c.seg(&s("a1", Agent, 0, 1_000).partial());
    c.seg(&s("a1", Agent, 0, 2_000).partial());
    c.seg(&s("a1", Agent, 0, 3_000));
    // Overlapping segment of the same speaker: not double counted.
    c.seg(&s("a2", Agent, 2_500, 4_000));
    c.seg(&s("c1", Customer, 3_500, 6_000));
    let snap = c.m.snapshot();
    assert_eq!(snap.agent_talk_ms, 4_000);
    assert_eq!(snap.customer_talk_ms, 2_500);
    assert_eq!(c.m.summary().overlap_ms, 500);
    // A final may shorten the partial.
    c.seg(&s("c1", Customer, 3_500, 5_000));
    assert_eq!(c.m.snapshot().customer_talk_ms, 1_500);
    assert!((snap.agent_share() - 4.0 / 6.5).abs() < 1e-9);
}

// ---------- dead air ----------

#[test]
fn dead_air_after_the_customer_asked() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 3_000));
    c.ticks(3_000, 10_500);
    assert_eq!(c.count(is_dead_start), 0);
    assert!(c.m.snapshot().customer_waiting);
    c.ticks(11_000, 13_000);
    let starts: Vec<_> = c.ev.iter().filter(|e| is_dead_start(e)).collect();
    assert_eq!(starts.len(), 1);
    assert_eq!(
        starts[0],
        &TimingEvent::DeadAirStart {
            at_ms: 11_000,
            silent_since_ms: 3_000,
            hold: false,
            formal_hold: false,
            last_segment: "c1".into()
        }
    );
    assert!(c.m.snapshot().dead_air);
    let out = c.seg(&s("a1", Agent, 14_000, 16_000));
    assert!(out.contains(&TimingEvent::DeadAirEnd {
        at_ms: 14_000,
        silence_ms: 11_000,
        segment_id: "a1".into(),
        speaker: Agent,
    }));
    assert!(!c.m.snapshot().dead_air);
    assert_eq!(c.m.summary().dead_air_episodes, 1);
}

#[test]
fn announced_quick_check_expects_a_check_back_within_25_s() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 3_000));
    c.seg(&s("a1", Agent, 3_500, 5_000).hold());
    c.ticks(5_000, 29_500);
    assert_eq!(c.count(is_dead_start), 0);
    assert!(c.m.snapshot().hold_active);
    c.ticks(30_000, 31_000);
    assert!(c.ev.iter().any(|e| matches!(
        e,
        TimingEvent::DeadAirStart {
            at_ms: 30_000,
            hold: true,
            formal_hold: false,
            ..
        }
    )));
}

#[test]
fn silence_before_measures_the_gap_a_segment_broke() {
    let mut c = Call::new();
    c.seg(&s("a1", Agent, 1_000, 5_000));
    c.seg(&s("c1", Customer, 21_000, 22_000));
    assert_eq!(c.m.silence_before("c1", 21_000), 16_000);
    assert_eq!(c.m.silence_before("a1", 1_000), 0);
}

#[test]
fn announced_formal_hold_uses_the_longer_threshold() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 3_000));
    c.seg(&s("a1", Agent, 3_500, 5_000).formal());
    c.ticks(5_000, 49_500);
    assert_eq!(c.count(is_dead_start), 0);
    let snap = c.m.snapshot();
    assert!(snap.hold_active);
    assert!(!snap.customer_waiting);
    c.ticks(50_000, 51_000);
    assert_eq!(c.count(is_dead_start), 1);
    assert!(c.ev.iter().any(|e| matches!(
        e,
        TimingEvent::DeadAirStart {
            at_ms: 50_000,
            hold: true,
            silent_since_ms: 5_000,
            ..
        }
    )));
    // Agent speaks again: hold over.
    c.seg(&s("a2", Agent, 52_000, 54_000));
    assert!(!c.m.snapshot().hold_active);
}

#[test]
fn silence_after_the_agent_finished_is_not_dead_air() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 3_000));
    c.seg(&s("a1", Agent, 3_500, 7_000));
    c.ticks(7_000, 40_000);
    assert_eq!(c.count(is_dead_start), 0);
    assert!(!c.m.snapshot().customer_waiting);
}

#[test]
fn no_dead_air_while_someone_has_an_open_partial() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 3_000));
    c.seg(&s("a1", Agent, 3_500, 4_000).bc());
    // The agent's partial is open until it goes stale.
    c.seg(&s("a2", Agent, 5_000, 6_000).partial());
    c.tick(9_000);
    assert!(c.m.snapshot().agent_speaking);
    assert_eq!(c.count(is_dead_start), 0);
}

#[test]
fn late_segment_covering_the_silence_ends_dead_air() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 3_000));
    c.ticks(3_000, 12_000);
    assert_eq!(c.count(is_dead_start), 1);
    let out = c.seg(&s("a1", Agent, 2_800, 9_000));
    assert!(out
        .iter()
        .any(|e| matches!(e, TimingEvent::DeadAirEnd { segment_id, .. } if segment_id == "a1")));
    // Same silence is not reported twice.
    c.ticks(12_000, 20_000);
    assert_eq!(c.count(is_dead_start), 1);
}

// ---------- long turns ----------

#[test]
fn agent_monologue_is_not_broken_by_customer_backchannels() {
    let mut c = Call::new();
    c.seg(&s("c0", Customer, 0, 2_000));
    let mut t = 2_500;
    for i in 0..5 {
        c.seg(&s(&format!("a{i}"), Agent, t, t + 10_000));
        c.seg(&s(&format!("bc{i}"), Customer, t + 10_100, t + 10_400).bc());
        t += 10_500;
    }
    let starts: Vec<_> =
        c.ev.iter()
            .filter(|e| matches!(e, TimingEvent::LongTurnStart { .. }))
            .collect();
    assert_eq!(starts.len(), 1, "{:?}", c.ev);
    match starts[0] {
        TimingEvent::LongTurnStart {
            speaker,
            at_ms,
            turn_start_ms,
            segment_ids,
        } => {
            assert_eq!(*speaker, Agent);
            assert_eq!(*turn_start_ms, 2_500);
            assert_eq!(*at_ms, 47_500);
            assert_eq!(segment_ids.len(), 5);
        }
        _ => unreachable!(),
    }
    assert!(c.m.snapshot().agent_monologue);
    c.seg(&s("c1", Customer, t + 500, t + 3_000));
    assert!(c.ev.iter().any(|e| matches!(
        e,
        TimingEvent::LongTurnEnd {
            speaker: Agent,
            turn_ms: 52_000,
            ..
        }
    )));
    assert!(!c.m.snapshot().agent_monologue);
    assert_eq!(c.m.summary().longest_agent_monologue_ms, 52_000);
}

#[test]
fn short_agent_turns_are_no_monologue() {
    let mut c = Call::new();
    let mut t = 0;
    for i in 0..10 {
        c.seg(&s(&format!("a{i}"), Agent, t, t + 8_000));
        c.seg(&s(&format!("c{i}"), Customer, t + 8_200, t + 10_000));
        t += 10_300;
    }
    assert_eq!(
        c.count(|e| matches!(e, TimingEvent::LongTurnStart { .. })),
        0
    );
}

#[test]
fn customer_venting_is_reported_until_the_agent_takes_a_turn() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 9_000));
    // The agent's short aside inside the customer's speech does not take the floor.
    c.seg(&s("a0", Agent, 8_000, 8_500));
    c.seg(&s("c2", Customer, 9_500, 16_000));
    assert!(c.ev.iter().any(|e| matches!(
        e,
        TimingEvent::LongTurnStart {
            speaker: Customer,
            at_ms: 15_000,
            ..
        }
    )));
    assert!(c.m.snapshot().customer_venting);
    // A pause and more venting: still the same long turn, not a second report.
    c.seg(&s("c3", Customer, 18_000, 35_000));
    assert_eq!(
        c.count(|e| matches!(e, TimingEvent::LongTurnStart { .. })),
        1
    );
    c.seg(&s("a1", Agent, 35_500, 38_000));
    assert!(c.ev.iter().any(|e| matches!(
        e,
        TimingEvent::LongTurnEnd {
            speaker: Customer,
            at_ms: 35_500,
            turn_ms: 35_000
        }
    )));
    assert!(!c.m.snapshot().customer_venting);
}

// ---------- customer turns and response gaps ----------

#[test]
fn customer_turn_completes_when_the_agent_answers_or_after_the_join_gap() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 3_000));
    c.seg(&s("a1", Agent, 3_500, 6_000));
    assert_eq!(
        c.ev.iter()
            .filter(|e| matches!(e, TimingEvent::CustomerTurnCompleted { .. }))
            .collect::<Vec<_>>(),
        vec![&TimingEvent::CustomerTurnCompleted {
            at_ms: 3_000,
            segment_id: "c1".into(),
            turn_ms: 3_000
        }]
    );
    c.seg(&s("c2", Customer, 7_000, 8_000));
    c.tick(9_000);
    assert_eq!(
        c.count(|e| matches!(e, TimingEvent::CustomerTurnCompleted { .. })),
        1
    );
    c.tick(9_200);
    assert_eq!(
        c.count(|e| matches!(e, TimingEvent::CustomerTurnCompleted { .. })),
        2
    );
    // A partial turn is not complete.
    c.seg(&s("c3", Customer, 12_000, 13_000).partial());
    c.tick(15_000);
    assert_eq!(
        c.count(|e| matches!(e, TimingEvent::CustomerTurnCompleted { .. })),
        2
    );
}

#[test]
fn mean_response_gap_counts_overlapping_answers_as_zero() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 2_000));
    c.seg(&s("a1", Agent, 2_500, 4_000));
    c.seg(&s("c2", Customer, 5_000, 7_000));
    c.seg(&s("a2", Agent, 6_800, 9_000));
    let sum = c.m.summary();
    assert_eq!(sum.mean_response_gap_ms, Some(250));
    assert_eq!(sum.agent_talk_ms, 3_700);
    assert_eq!(sum.customer_talk_ms, 4_000);
    assert_eq!(sum.overlap_ms, 200);
    assert_eq!(sum.longest_customer_turn_ms, 2_000);
    assert_eq!(sum.longest_agent_monologue_ms, 2_200);
    assert_eq!(
        TimingModel::new(TimingConfig::default())
            .summary()
            .mean_response_gap_ms,
        None
    );
}

// ---------- speech rate ----------

#[test]
fn fast_talker_is_flagged_then_cleared() {
    let mut c = Call::new();
    // 4 x 3 s at 8.5 syllables per second = 12 s of fast speech.
    for i in 0..4u64 {
        let t = i * 3_200;
        c.seg(&s(&format!("a{i}"), Agent, t, t + 3_000).syl(25 + (i % 2) as u32));
    }
    let fast: Vec<_> =
        c.ev.iter()
            .filter(|e| matches!(e, TimingEvent::FastSpeechStart { .. }))
            .collect();
    assert_eq!(fast.len(), 1, "{:?}", c.ev);
    match fast[0] {
        TimingEvent::FastSpeechStart {
            syllables_per_s,
            segment_ids,
            ..
        } => {
            assert!((*syllables_per_s - 8.5).abs() < 0.2, "{syllables_per_s}");
            assert_eq!(
                segment_ids.len(),
                2,
                "judged once 6 s of speech are in the window"
            );
        }
        _ => unreachable!(),
    }
    assert!(c.m.snapshot().agent_fast);
    // Slow speech (5 syll/s) pushes the fast segments out of the 10 s window.
    for i in 0..8u64 {
        let t = 13_000 + i * 3_000;
        c.seg(&s(&format!("b{i}"), Agent, t, t + 3_000).syl(15));
    }
    assert_eq!(
        c.count(|e| matches!(e, TimingEvent::FastSpeechEnd { .. })),
        1
    );
    let snap = c.m.snapshot();
    assert!(!snap.agent_fast);
    assert!((snap.agent_rate.unwrap() - 5.0).abs() < 1e-9);
}

#[test]
fn rate_needs_enough_speech_and_has_hysteresis() {
    let mut c = Call::new();
    c.seg(&s("a1", Agent, 0, 5_000).syl(50));
    assert_eq!(
        c.m.snapshot().agent_rate,
        None,
        "5 s is under rate_min_speech_ms"
    );
    c.seg(&s("a2", Agent, 5_000, 9_000).syl(40));
    assert!(c.m.snapshot().agent_fast);
    // 6.8 syll/s sits between the thresholds: stays fast.
    c.seg(&s("a3", Agent, 9_000, 30_000).syl(143));
    let snap = c.m.snapshot();
    assert!(snap.agent_fast, "{:?}", snap.agent_rate);
    assert_eq!(
        c.count(|e| matches!(e, TimingEvent::FastSpeechEnd { .. })),
        0
    );
}

#[test]
fn a_slow_sentence_before_a_burst_does_not_dilute_it() {
    let mut c = Call::new();
    // 8 s at 3 syllables per second, then 8 s at 9: the 10 s window holds 2 s of the slow
    // sentence (6 syllables) and the burst (72): 7.8, where counting whole segments gave 6.0.
    c.seg(&s("a1", Agent, 0, 8_000).syl(24));
    c.seg(&s("a2", Agent, 8_000, 16_000).syl(72));
    let rate = c.m.snapshot().agent_rate.unwrap();
    assert!((rate - 7.8).abs() < 1e-9, "{rate}");
    assert!(c.m.snapshot().agent_fast);
}

#[test]
fn rate_uses_only_the_latest_partial() {
    let mut c = Call::new();
    // A stale partial whose final never came, then fresh speech.
    c.seg(&s("p1", Agent, 0, 4_000).partial().syl(80));
    c.seg(&s("a1", Agent, 4_500, 9_000).syl(20));
    c.seg(&s("p2", Agent, 9_500, 14_000).partial().syl(20));
    let snap = c.m.snapshot();
    assert_eq!(snap.agent_rate, Some(40.0 / 9.0));
    assert!(!snap.agent_fast);
}

// ---------- memory and robustness ----------

#[test]
fn hours_of_audio_keep_memory_bounded_and_totals_exact() {
    let mut c = Call::new();
    let mut t = 0u64;
    let (mut agent, mut customer) = (0u64, 0u64);
    for i in 0..4_000u64 {
        let (sp, d) = if i % 2 == 0 {
            (Agent, 2_000)
        } else {
            (Customer, 1_500)
        };
        c.seg(&s(&format!("s{i}"), sp, t, t + d).partial());
        c.seg(&s(&format!("s{i}"), sp, t, t + d));
        match sp {
            Agent => agent += d,
            Customer => customer += d,
        }
        t += d + 400;
        assert!(c.m.segs.len() <= 64, "{}", c.m.segs.len());
    }
    let sum = c.m.summary();
    assert_eq!(sum.agent_talk_ms, agent);
    assert_eq!(sum.customer_talk_ms, customer);
    assert_eq!(sum.mean_response_gap_ms, Some(400));
    assert_eq!(sum.longest_agent_monologue_ms, 2_000);
    assert!((sum.agent_syllables_per_s.unwrap() - 5.0).abs() < 1e-9);
    assert!(c.m.evicted_ids.len() <= MAX_EVICTED_IDS);
    c.tick(t + 2_000);
    assert_eq!(
        c.count(|e| matches!(e, TimingEvent::CustomerTurnCompleted { .. })),
        2_000
    );
}

#[test]
fn monologue_longer_than_the_retention_window() {
    let mut c = Call::new();
    c.seg(&s("c0", Customer, 0, 2_000));
    let mut t = 2_500;
    for i in 0..36 {
        c.seg(&s(&format!("a{i}"), Agent, t, t + 5_000));
        t += 5_200;
    }
    assert!(c.m.segs.len() < 20);
    assert_eq!(
        c.count(|e| matches!(e, TimingEvent::LongTurnStart { .. })),
        1
    );
    c.seg(&s("c1", Customer, t, t + 1_500));
    let monologue = t - 200 - 2_500;
    assert!(c.ev.iter().any(
        |e| matches!(e, TimingEvent::LongTurnEnd { speaker: Agent, turn_ms, .. } if *turn_ms == monologue)
    ));
    assert_eq!(c.m.summary().longest_agent_monologue_ms, monologue);
    assert_eq!(c.m.summary().mean_response_gap_ms, Some(500));
}

#[test]
fn late_revision_of_an_evicted_segment_is_ignored() {
    let mut c = Call::new();
    c.seg(&s("c1", Customer, 0, 2_000));
    c.seg(&s("a1", Agent, 70_000, 72_000));
    assert!(c.m.evicted_ids.contains(&super::id_hash("c1")));
    c.seg(&s("c1", Customer, 0, 3_000));
    assert_eq!(c.m.snapshot().customer_talk_ms, 2_000);
}

#[test]
fn flood_of_segments_is_capped() {
    let mut c = Call::new();
    for i in 0..1_000u64 {
        c.seg(&s(
            &format!("x{i}"),
            if i % 3 == 0 { Agent } else { Customer },
            i * 10,
            i * 10 + 500,
        ));
        assert!(c.m.segs.len() <= MAX_SEGMENTS);
    }
    // Forced eviction still folds talk time exactly.
    let snap = c.m.snapshot();
    assert_eq!(snap.agent_talk_ms, 10_490);
    assert_eq!(snap.customer_talk_ms, 10_470);
}

#[test]
fn hostile_timestamps_do_not_panic() {
    let mut c = Call::new();
    let weird = [
        s("z", Agent, 5, 5),
        s("big", Customer, u64::MAX - 10, u64::MAX),
        s("back", Agent, 10, 20),
        s("inv", Customer, 500, 100),
        s("max", Agent, u64::MAX, u64::MAX).bc().hold().cut(),
        s("z", Customer, 0, u64::MAX).partial(),
    ];
    for w in &weird {
        c.seg(w);
        c.tick(0);
        c.tick(u64::MAX);
        let _ = c.m.snapshot();
        let _ = c.m.summary();
    }
    // Talk totals near u64::MAX must not overflow the share.
    let mut big = Call::new();
    big.seg(&s("a", Agent, 0, u64::MAX).partial());
    big.seg(&s("c", Customer, 1, u64::MAX).partial());
    let snap = big.m.snapshot();
    assert!(
        snap.customer_talk_ms > 0 && snap.agent_talk_ms > 0,
        "{snap:?}"
    );
    assert!((0.0..=1.0).contains(&snap.agent_share()));
    let _ = big.m.summary();
    let mut cfg = TimingConfig {
        rate_min_speech_ms: 0,
        turn_join_gap_ms: u64::MAX,
        talk_over_ms: 0,
        ..TimingConfig::default()
    };
    cfg.dead_air_ms = 0;
    let mut m = TimingModel::new(cfg);
    for w in &weird {
        m.on_segment(&w.info());
        m.advance(u64::MAX);
    }
    let _ = m.summary();
}
