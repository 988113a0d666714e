//! Segments as the model keeps them, interval arithmetic and the turn builder.
//!
//! Turns are rebuilt from the retained segments on every update instead of being patched
//! incrementally: late and reordered revisions then land in the right place for free, and the
//! window is small (about a minute of speech).

use std::sync::Arc;

use super::TimingConfig;
use crate::protocol::Speaker;

/// Longest quote kept per segment (characters): evidence only needs the first words.
pub(crate) const QUOTE_CHARS: usize = 80;

pub(crate) fn speaker_index(s: Speaker) -> usize {
    match s {
        Speaker::Agent => 0,
        Speaker::Customer => 1,
    }
}

pub(crate) fn short_quote(q: &str) -> String {
    // The first `QUOTE_CHARS` characters, copied in one piece.
    match q.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => q[..cut].to_owned(),
        None => q.to_owned(),
    }
}

/// Latest revision of one segment, plus flags that must survive revisions.
#[derive(Debug, Clone)]
pub(crate) struct Seg {
    /// Shared, so turns rebuilt on every update copy a pointer, not the id.
    pub id: Arc<str>,
    pub speaker: Speaker,
    pub start: u64,
    pub end: u64,
    pub is_final: bool,
    pub quote: String,
    pub backchannel_flag: bool,
    pub announces_hold: bool,
    pub formal_hold: bool,
    pub syllables: u32,
    pub ends_cut_off: bool,
    /// Segments this one was already counted as interrupting (pairs are counted once).
    pub interrupted: Vec<Arc<str>>,
    /// The agent interrupted this (customer) segment.
    pub interrupted_by_agent: bool,
    /// Part of a turn already reported as long.
    pub long_reported: bool,
    /// Part of a customer turn already judged complete.
    pub completed_reported: bool,
}

impl Seg {
    pub fn dur(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// A flagged backchannel that runs long is a real turn.
    pub fn is_backchannel(&self, cfg: &TimingConfig) -> bool {
        self.backchannel_flag && self.dur() <= cfg.backchannel_max_ms
    }

    /// Final, or a partial not updated for `stale_partial_ms` (its final was lost).
    pub fn done(&self, now: u64, cfg: &TimingConfig) -> bool {
        self.is_final || now.saturating_sub(self.end) >= cfg.stale_partial_ms
    }

    pub fn open(&self, now: u64, cfg: &TimingConfig) -> bool {
        !self.done(now, cfg)
    }
}

/// Merge intervals `[start, end)` clipped to `[lo, hi)` into sorted disjoint intervals.
pub(crate) fn merged(ivs: impl Iterator<Item = (u64, u64)>, lo: u64, hi: u64) -> Vec<(u64, u64)> {
    // Sized once for every interval (the iterator knows how many segments it walks).
    let (least, most) = ivs.size_hint();
    let mut v: Vec<(u64, u64)> = Vec::with_capacity(most.unwrap_or(least));
    v.extend(
        ivs.map(|(s, e)| (s.max(lo), e.min(hi)))
            .filter(|(s, e)| s < e),
    );
    // Segments are kept in start order, so this is usually sorted already.
    if !v.is_sorted() {
        v.sort_unstable();
    }
    // Merge in place: `kept` intervals are final, the next one may still grow.
    let mut kept = 0;
    for i in 0..v.len() {
        let (s, e) = v[i];
        if kept > 0 && s <= v[kept - 1].1 {
            v[kept - 1].1 = v[kept - 1].1.max(e);
        } else {
            v[kept] = (s, e);
            kept += 1;
        }
    }
    v.truncate(kept);
    v
}

pub(crate) fn total_len(ivs: &[(u64, u64)]) -> u64 {
    ivs.iter()
        .fold(0u64, |acc, (s, e)| acc.saturating_add(e.saturating_sub(*s)))
}

/// Length of the intersection of two sorted disjoint interval lists.
pub(crate) fn intersection_len(a: &[(u64, u64)], b: &[(u64, u64)]) -> u64 {
    let (mut i, mut j, mut total) = (0, 0, 0u64);
    while i < a.len() && j < b.len() {
        let s = a[i].0.max(b[j].0);
        let e = a[i].1.min(b[j].1);
        total = total.saturating_add(e.saturating_sub(s));
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    total
}

/// One speaker holding the floor: their segments joined by short gaps, not broken by the other side
/// taking the floor.
#[derive(Debug, Clone)]
pub(crate) struct Turn {
    pub speaker: Speaker,
    pub start: u64,
    pub end: u64,
    /// Retained segments of the turn (segments already evicted are summarised by the flags).
    pub ids: Vec<Arc<str>>,
    /// The segment that ends last, for evidence.
    pub last_id: Arc<str>,
    /// Every segment is final or stale.
    pub done: bool,
    pub long_reported: bool,
    pub completed_reported: bool,
    /// The agent interrupted one of its (customer) segments.
    pub interrupted: bool,
    /// Continues the turn carried over from evicted segments.
    pub from_carry: bool,
}

impl Turn {
    pub fn dur(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    fn from_seg(s: &Seg, now: u64, cfg: &TimingConfig) -> Turn {
        Turn {
            speaker: s.speaker,
            start: s.start,
            end: s.end,
            ids: {
                // Most turns hold a few segments: one allocation, no regrowth.
                let mut ids = Vec::with_capacity(4);
                ids.push(s.id.clone());
                ids
            },
            last_id: s.id.clone(),
            done: s.done(now, cfg),
            long_reported: s.long_reported,
            completed_reported: s.completed_reported,
            interrupted: s.interrupted_by_agent,
            from_carry: false,
        }
    }

    fn absorb(&mut self, s: &Seg, now: u64, cfg: &TimingConfig) {
        if s.end >= self.end {
            self.last_id = s.id.clone();
        }
        self.start = self.start.min(s.start);
        self.end = self.end.max(s.end);
        self.ids.push(s.id.clone());
        self.done &= s.done(now, cfg);
        self.long_reported |= s.long_reported;
        self.completed_reported |= s.completed_reported;
        self.interrupted |= s.interrupted_by_agent;
    }
}

/// Walks floor segments (non-backchannel, sorted by start) and groups them into turns.
pub(crate) struct TurnBuilder<'a> {
    cfg: &'a TimingConfig,
    now: u64,
    segs: &'a [&'a Seg],
    next: usize,
    pub cur: Option<Turn>,
    pub closed: Vec<Turn>,
    /// Sum and count of agent response gaps (agent turn start - customer turn end, at least 0).
    pub gap_sum: u64,
    pub gap_n: u64,
}

impl<'a> TurnBuilder<'a> {
    pub fn new(cfg: &'a TimingConfig, now: u64, segs: &'a [&'a Seg], carry: Option<&Turn>) -> Self {
        let cur = carry.map(|t| {
            let mut t = t.clone();
            t.from_carry = true;
            t
        });
        TurnBuilder {
            cfg,
            now,
            segs,
            next: 0,
            cur,
            closed: Vec::new(),
            gap_sum: 0,
            gap_n: 0,
        }
    }

    /// Process the next `n` floor segments.
    pub fn run(&mut self, n: usize) {
        let stop = self.next.saturating_add(n).min(self.segs.len());
        while self.next < stop {
            self.push(self.next);
            self.next += 1;
        }
    }

    fn push(&mut self, i: usize) {
        let s = self.segs[i];
        let join = self.cfg.turn_join_gap_ms;
        let Some(t) = self.cur.as_mut() else {
            self.cur = Some(Turn::from_seg(s, self.now, self.cfg));
            return;
        };
        if t.speaker == s.speaker {
            if s.start < t.end.saturating_add(join) {
                t.absorb(s, self.now, self.cfg);
                return;
            }
        } else {
            // Speech inside the holder's span does not take the floor (failed attempt, aside).
            if s.end <= t.end {
                return;
            }
            // Neither does speech the holder talks through: they resume before it ends.
            let holder_resumes = self.segs[i + 1..]
                .iter()
                .take_while(|n| n.start < s.end)
                .any(|n| n.speaker == t.speaker && n.start < t.end.saturating_add(join));
            if holder_resumes {
                return;
            }
        }
        let new = Turn::from_seg(s, self.now, self.cfg);
        if let Some(old) = self.cur.take() {
            if old.speaker == Speaker::Customer && new.speaker == Speaker::Agent {
                self.gap_sum = self
                    .gap_sum
                    .saturating_add(new.start.saturating_sub(old.end));
                self.gap_n = self.gap_n.saturating_add(1);
            }
            self.closed.push(old);
        }
        self.cur = Some(new);
    }

    /// Every turn seen so far, oldest first, the open one last.
    pub fn into_turns(self) -> (Vec<Turn>, u64, u64) {
        let mut turns = self.closed;
        turns.extend(self.cur);
        (turns, self.gap_sum, self.gap_n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_helpers() {
        let m = merged(
            [(0, 10), (5, 15), (20, 30), (30, 31)].into_iter(),
            0,
            u64::MAX,
        );
        assert_eq!(m, vec![(0, 15), (20, 31)]);
        assert_eq!(total_len(&m), 26);
        let c = merged([(0, 10), (20, 30)].into_iter(), 5, 25);
        assert_eq!(c, vec![(5, 10), (20, 25)]);
        let a = merged([(0, 10), (20, 30)].into_iter(), 0, u64::MAX);
        let b = merged([(5, 25)].into_iter(), 0, u64::MAX);
        assert_eq!(intersection_len(&a, &b), 10);
        assert_eq!(intersection_len(&a, &[]), 0);
        assert_eq!(short_quote(&"á".repeat(200)).chars().count(), QUOTE_CHARS);
    }
}
