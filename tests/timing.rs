//! Properties of the timing model over random timelines: no panics, monotone counters, and results
//! that do not depend on arrival order (within the reorder window) or on partial revisions.

use calma::protocol::Speaker;
use calma::timing::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Gen {
    speaker: Speaker,
    start: u64,
    dur: u64,
    backchannel: bool,
    cut_off: bool,
    hold: bool,
    /// Partial revisions, as percentages of the final duration.
    partials: Vec<u64>,
    /// Arrival delay after the revision's end, within the reorder window.
    delay: u64,
    syllables: u32,
}

fn gen_segment() -> impl Strategy<Value = Gen> {
    (
        any::<bool>(),
        0u64..120_000,
        0u64..15_000,
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.1),
        prop::collection::vec(0u64..=100, 0..4),
        0u64..3_000,
        0u32..150,
    )
        .prop_map(
            |(agent, start, dur, backchannel, cut_off, hold, mut partials, delay, syllables)| {
                partials.sort_unstable();
                Gen {
                    speaker: if agent {
                        Speaker::Agent
                    } else {
                        Speaker::Customer
                    },
                    start,
                    // Backchannels are short; a few run past backchannel_max_ms on purpose.
                    dur: if backchannel { dur % 1_500 } else { dur },
                    backchannel,
                    cut_off,
                    hold,
                    partials,
                    delay,
                    syllables,
                }
            },
        )
}

fn gen_timeline() -> impl Strategy<Value = (Vec<Gen>, Vec<u64>)> {
    (
        prop::collection::vec(gen_segment(), 2..40),
        prop::collection::vec(0u64..150_000, 0..20),
    )
}

#[derive(Debug, Clone, Copy)]
enum Ev {
    Rev {
        seg: usize,
        end: u64,
        is_final: bool,
    },
    Tick(u64),
}

/// Arrival order: each revision arrives `delay` after its end; ticks at their time.
fn arrivals(tl: &[Gen], ticks: &[u64], partials: bool) -> Vec<Ev> {
    let mut evs: Vec<(u64, Ev)> = Vec::new();
    for (i, g) in tl.iter().enumerate() {
        if partials {
            for pct in &g.partials {
                let end = g.start + g.dur * pct / 100;
                let ev = Ev::Rev {
                    seg: i,
                    end,
                    is_final: false,
                };
                evs.push((end + g.delay, ev));
            }
        }
        let end = g.start + g.dur;
        let ev = Ev::Rev {
            seg: i,
            end,
            is_final: true,
        };
        evs.push((end + g.delay, ev));
    }
    evs.extend(ticks.iter().map(|t| (*t, Ev::Tick(*t))));
    // Stable: a segment's partials stay before its final.
    evs.sort_by_key(|(k, _)| *k);
    evs.into_iter().map(|(_, e)| e).collect()
}

struct Feeder {
    model: TimingModel,
    ids: Vec<String>,
    max_end: u64,
}

impl Feeder {
    fn new(n: usize) -> Self {
        Feeder {
            model: TimingModel::new(TimingConfig::default()),
            ids: (0..n).map(|i| format!("seg-{i}")).collect(),
            max_end: 0,
        }
    }

    /// Feed one event the way the engine does: a revision, then advance to the latest end seen.
    fn feed(&mut self, tl: &[Gen], ev: Ev) -> Vec<TimingEvent> {
        match ev {
            Ev::Rev { seg, end, is_final } => {
                let g = &tl[seg];
                let info = SegmentInfo {
                    segment_id: &self.ids[seg],
                    speaker: g.speaker,
                    start_ms: g.start,
                    end_ms: end,
                    is_final,
                    quote: "vale pues mire le cuento lo que pasa con la factura",
                    backchannel: g.backchannel,
                    announces_hold: g.hold,
                    formal_hold: false,
                    syllables: g.syllables,
                    ends_cut_off: g.cut_off,
                };
                self.max_end = self.max_end.max(end);
                let mut out = self.model.on_segment(&info);
                out.extend(self.model.advance(self.max_end));
                out
            }
            Ev::Tick(t) => self.model.advance(t),
        }
    }

    fn run(tl: &[Gen], evs: &[Ev]) -> Feeder {
        let mut f = Feeder::new(tl.len());
        for ev in evs {
            f.feed(tl, *ev);
        }
        f
    }
}

/// (interruptions by agent, by customer, agent talk, customer talk, overlap).
fn totals(m: &TimingModel) -> (u32, u32, u64, u64, u64) {
    let s = m.snapshot();
    let sum = m.summary();
    (
        s.interruptions_by_agent,
        s.interruptions_by_customer,
        s.agent_talk_ms,
        s.customer_talk_ms,
        sum.overlap_ms,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn never_panics_and_counters_only_grow((tl, ticks) in gen_timeline()) {
        let evs = arrivals(&tl, &ticks, true);
        let mut f = Feeder::new(tl.len());
        let mut prev = totals(&f.model);
        let mut interruption_events = 0u32;
        for ev in evs {
            for e in f.feed(&tl, ev) {
                if matches!(e, TimingEvent::Interruption { .. }) {
                    interruption_events += 1;
                }
            }
            let cur = totals(&f.model);
            prop_assert!(cur.0 >= prev.0 && cur.1 >= prev.1, "{prev:?} -> {cur:?}");
            prop_assert!(cur.2 >= prev.2 && cur.3 >= prev.3, "{prev:?} -> {cur:?}");
            prev = cur;
        }
        prop_assert_eq!(interruption_events, prev.0 + prev.1);
        let s = f.model.summary();
        let total_ms: u64 = tl.iter().map(|g| g.dur).sum();
        prop_assert!(s.agent_talk_ms + s.customer_talk_ms <= total_ms);
        prop_assert!(s.overlap_ms <= s.agent_talk_ms.min(s.customer_talk_ms));
        prop_assert!(s.talk_overs <= prev.0 + prev.1);
    }

    #[test]
    fn reordering_finals_within_the_window_changes_nothing((tl, _ticks) in gen_timeline()) {
        let mut in_order: Vec<Gen> = tl.clone();
        for g in &mut in_order {
            g.delay = 0;
        }
        let ordered = Feeder::run(&in_order, &arrivals(&in_order, &[], false));
        let shuffled = Feeder::run(&tl, &arrivals(&tl, &[], false));
        prop_assert_eq!(totals(&ordered.model), totals(&shuffled.model));
        prop_assert_eq!(
            ordered.model.summary().talk_overs,
            shuffled.model.summary().talk_overs
        );
    }

    #[test]
    fn revisions_replace_earlier_ones((tl, _ticks) in gen_timeline()) {
        let finals = Feeder::run(&tl, &arrivals(&tl, &[], false));
        let with_partials = Feeder::run(&tl, &arrivals(&tl, &[], true));
        let (a, b) = (totals(&finals.model), totals(&with_partials.model));
        prop_assert_eq!((a.2, a.3, a.4), (b.2, b.3, b.4));
        // Feeding every revision twice is the same as feeding it once.
        let evs = arrivals(&tl, &[], true);
        let twice: Vec<Ev> = evs.iter().flat_map(|e| [*e, *e]).collect();
        let doubled = Feeder::run(&tl, &twice);
        prop_assert_eq!(totals(&with_partials.model), totals(&doubled.model));
    }
}

#[test]
fn shortening_final_replaces_a_longer_partial() {
    let mut m = TimingModel::new(TimingConfig::default());
    let mut info = SegmentInfo {
        segment_id: "c1",
        speaker: Speaker::Customer,
        start_ms: 1_000,
        end_ms: 5_000,
        is_final: false,
        quote: "quiero hablar con",
        backchannel: false,
        announces_hold: false,
        formal_hold: false,
        syllables: 6,
        ends_cut_off: true,
    };
    m.on_segment(&info);
    info.end_ms = 4_000;
    info.is_final = true;
    m.on_segment(&info);
    assert_eq!(m.snapshot().customer_talk_ms, 3_000);
    assert_eq!(m.summary().longest_customer_turn_ms, 3_000);
}
