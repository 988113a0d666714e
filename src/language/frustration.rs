//! The customer's frustration over a call: a 0..1 score moved by what they say (heat, cool), by
//! timing (cutting the agent off, repeating the same complaint), and cooling over media time.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::protocol::{Evidence, FrustrationPoint, FrustrationView, Level, Trend};

/// Tunables for the estimator (`[campaigns.X.frustration]` in the config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrustrationConfig {
    /// Score at which the level becomes tense / frustrated / angry.
    pub tense: f64,
    pub frustrated: f64,
    pub angry: f64,
    /// How strongly one segment's heat moves the score toward 1 (1.0 = all the way to its heat).
    pub gain: f64,
    /// Media time for the score to halve with nothing new said.
    pub half_life_ms: u64,
    /// A customer segment with no heat multiplies the score by this. 1.0 by default: a customer
    /// who is merely answering questions has not calmed down (time still cools, see `half_life_ms`).
    pub neutral_turn_factor: f64,
    /// ... or by this when the agent recently showed empathy, paraphrased or gave a concrete next
    /// step: what actually calms a customer.
    pub after_good_answer_factor: f64,
    /// Heat of the customer cutting the agent off.
    pub customer_interrupt_heat: f64,
    /// Heat of the customer repeating the same complaint.
    pub repeated_complaint_heat: f64,
    /// Trend compares the score with its value this long ago.
    pub trend_window_ms: u64,
    /// Minimum change over the window to call the trend rising or falling.
    pub trend_delta: f64,
    /// How much a turn's heat adds on top of the heat already there, 0..1: 1 adds them as
    /// independent evidence (two tense turns make a frustrated customer); lower values make the
    /// score follow the hottest recent turn and climb only slowly with persistence, as a person
    /// judges a customer who keeps saying tense things.
    pub accumulation: f64,
}

impl Default for FrustrationConfig {
    fn default() -> Self {
        FrustrationConfig {
            tense: 0.2,
            frustrated: 0.45,
            angry: 0.7,
            gain: 1.0,
            half_life_ms: 120_000,
            neutral_turn_factor: 1.0,
            after_good_answer_factor: 0.75,
            customer_interrupt_heat: 0.12,
            repeated_complaint_heat: 0.25,
            trend_window_ms: 20_000,
            trend_delta: 0.06,
            accumulation: 0.2,
        }
    }
}

impl FrustrationConfig {
    pub fn validate(&self) -> Result<(), String> {
        let ok = |v: f64| (0.0..=1.0).contains(&v);
        if !(ok(self.tense) && ok(self.frustrated) && ok(self.angry)) {
            return Err("level thresholds must be within 0..1".into());
        }
        if !(self.tense < self.frustrated && self.frustrated < self.angry) {
            return Err("thresholds must rise: tense < frustrated < angry".into());
        }
        for (name, v) in [
            ("gain", self.gain),
            ("neutral_turn_factor", self.neutral_turn_factor),
            ("after_good_answer_factor", self.after_good_answer_factor),
            ("customer_interrupt_heat", self.customer_interrupt_heat),
            ("repeated_complaint_heat", self.repeated_complaint_heat),
            ("trend_delta", self.trend_delta),
            ("accumulation", self.accumulation),
        ] {
            if !ok(v) {
                return Err(format!("{name} must be within 0..1"));
            }
        }
        if self.half_life_ms == 0 {
            return Err("half_life_ms must be positive".into());
        }
        Ok(())
    }

    pub fn level(&self, score: f64) -> Level {
        if score >= self.angry {
            Level::Angry
        } else if score >= self.frustrated {
            Level::Frustrated
        } else if score >= self.tense {
            Level::Tense
        } else {
            Level::Calm
        }
    }
}

/// Most trajectory points kept per call; older ones are thinned, not dropped, so the whole call
/// stays plottable in bounded memory.
const MAX_TRAJECTORY: usize = 240;

/// Per-call frustration state.
#[derive(Debug, Clone)]
pub struct Frustration {
    cfg: FrustrationConfig,
    score: f64,
    at_ms: u64,
    recent: VecDeque<(u64, f64)>,
    evidence: Vec<Evidence>,
    peak: (f64, u64, Vec<Evidence>),
    trajectory: Vec<FrustrationPoint>,
}

impl Frustration {
    pub fn new(cfg: FrustrationConfig) -> Self {
        Frustration {
            cfg,
            score: 0.0,
            at_ms: 0,
            recent: VecDeque::new(),
            evidence: Vec::new(),
            peak: (0.0, 0, Vec::new()),
            trajectory: Vec::new(),
        }
    }

    pub fn config(&self) -> &FrustrationConfig {
        &self.cfg
    }

    pub fn score(&self) -> f64 {
        self.score
    }

    pub fn level(&self) -> Level {
        self.cfg.level(self.score)
    }

    /// Let time pass: the score halves every `half_life_ms` with nothing new said.
    pub fn decay_to(&mut self, now_ms: u64) {
        if now_ms <= self.at_ms {
            return;
        }
        let dt = (now_ms - self.at_ms) as f64;
        self.score *= 0.5f64.powf(dt / self.cfg.half_life_ms as f64);
        self.at_ms = now_ms;
    }

    /// Something raised frustration by `heat` (0..1).
    pub fn heat(&mut self, now_ms: u64, heat: f64, evidence: Vec<Evidence>) {
        self.decay_to(now_ms);
        let h = (heat * self.cfg.gain).clamp(0.0, 1.0);
        self.score = self.raised(h);
        self.record(now_ms, evidence);
    }

    /// The score after heat `h`: the hotter of the two, plus `accumulation` of what the other
    /// adds as independent evidence (at 1, `s + (1 − s)·h`).
    fn raised(&self, h: f64) -> f64 {
        let (hi, lo) = if h > self.score {
            (h, self.score)
        } else {
            (self.score, h)
        };
        (hi + self.cfg.accumulation * lo * (1.0 - hi)).clamp(0.0, 1.0)
    }

    /// Like [`Frustration::heat`], but never pushes the score past `ceiling` (distress alone is
    /// not anger: it may make a customer frustrated, not angry).
    pub fn heat_below(&mut self, now_ms: u64, heat: f64, ceiling: f64, evidence: Vec<Evidence>) {
        self.decay_to(now_ms);
        let h = (heat * self.cfg.gain).clamp(0.0, 1.0);
        let raised = self.raised(h);
        self.score = raised.min(ceiling.max(self.score)).clamp(0.0, 1.0);
        self.record(now_ms, evidence);
    }

    /// Something calmed the customer: keep `factor` (0..1) of the score.
    pub fn cool(&mut self, now_ms: u64, factor: f64, evidence: Vec<Evidence>) {
        self.decay_to(now_ms);
        self.score = (self.score * factor.clamp(0.0, 1.0)).clamp(0.0, 1.0);
        self.record(now_ms, evidence);
    }

    fn record(&mut self, now_ms: u64, evidence: Vec<Evidence>) {
        if !evidence.is_empty() {
            self.evidence = evidence;
        }
        if self.score > self.peak.0 {
            self.peak = (self.score, now_ms, self.evidence.clone());
        }
        self.recent.push_back((now_ms, self.score));
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| now_ms.saturating_sub(*t) > self.cfg.trend_window_ms * 2)
            && self.recent.len() > 1
        {
            self.recent.pop_front();
        }
        let point = FrustrationPoint {
            at_ms: now_ms,
            score: round3(self.score),
        };
        match self.trajectory.last_mut() {
            Some(last) if last.at_ms == now_ms => *last = point,
            _ => self.trajectory.push(point),
        }
        if self.trajectory.len() > MAX_TRAJECTORY {
            // Thin the older half, keep every point of the recent half.
            let half = self.trajectory.len() / 2;
            let mut i = 0;
            self.trajectory.retain(|_| {
                i += 1;
                i > half || i % 2 == 1
            });
        }
    }

    pub fn trend(&self, now_ms: u64) -> Trend {
        let then = self
            .recent
            .iter()
            .rev()
            .find(|(t, _)| now_ms.saturating_sub(*t) >= self.cfg.trend_window_ms)
            .or(self.recent.front())
            .map(|(_, s)| *s)
            .unwrap_or(0.0);
        let d = self.score - then;
        if d > self.cfg.trend_delta {
            Trend::Rising
        } else if d < -self.cfg.trend_delta {
            Trend::Falling
        } else {
            Trend::Steady
        }
    }

    pub fn view(&self, now_ms: u64) -> FrustrationView {
        FrustrationView {
            score: round3(self.score),
            level: self.level(),
            trend: self.trend(now_ms),
            evidence: self.evidence.clone(),
        }
    }

    pub fn peak_view(&self) -> FrustrationView {
        FrustrationView {
            score: round3(self.peak.0),
            level: self.cfg.level(self.peak.0),
            trend: Trend::Steady,
            evidence: self.peak.2.clone(),
        }
    }

    pub fn trajectory(&self) -> &[FrustrationPoint] {
        &self.trajectory
    }
}

/// Three decimals: enough for a gauge, and stable bytes across platforms.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev() -> Vec<Evidence> {
        vec![Evidence {
            segment_id: "s".into(),
            quote: "harto".into(),
            rule: "r".into(),
        }]
    }

    #[test]
    fn heat_accumulates_and_decays() {
        let mut f = Frustration::new(FrustrationConfig {
            accumulation: 1.0,
            ..FrustrationConfig::default()
        });
        f.heat(1_000, 0.5, ev());
        assert_eq!(f.level(), Level::Frustrated);
        f.heat(5_000, 0.5, ev());
        assert_eq!(f.level(), Level::Angry);
        assert_eq!(f.trend(5_000), Trend::Rising);
        f.decay_to(5_000 + 150_000 * 3);
        assert_eq!(f.level(), Level::Calm);
        assert!(f.peak_view().score >= 0.7);
    }

    #[test]
    fn low_accumulation_follows_the_hottest_turn_and_climbs_with_persistence() {
        // Default accumulation: two tense turns leave a tense customer, not a frustrated one;
        // the same complaint kept up turn after turn climbs to frustrated.
        let mut f = Frustration::new(FrustrationConfig::default());
        f.heat(1_000, 0.3, ev());
        f.heat(6_000, 0.3, ev());
        assert_eq!(f.level(), Level::Tense);
        for i in 0..12 {
            f.heat(10_000 + i * 4_000, 0.4, ev());
        }
        assert_eq!(f.level(), Level::Frustrated);
        // A hotter turn takes the score to its own heat at once.
        f.heat(70_000, 0.75, ev());
        assert!(f.score() >= 0.75);
    }

    #[test]
    fn cooling_lowers_and_trend_falls() {
        let mut f = Frustration::new(FrustrationConfig::default());
        f.heat(1_000, 0.8, ev());
        f.cool(30_000, 0.4, vec![]);
        assert_eq!(f.trend(30_000), Trend::Falling);
        assert!(f.score() < 0.45);
    }

    #[test]
    fn trajectory_stays_bounded() {
        let mut f = Frustration::new(FrustrationConfig::default());
        for i in 0..5_000 {
            f.heat(i * 1000, 0.01, vec![]);
        }
        assert!(f.trajectory().len() <= MAX_TRAJECTORY);
        assert_eq!(f.trajectory().last().unwrap().at_ms, 4_999_000);
    }

    #[test]
    fn validation() {
        let bad = FrustrationConfig {
            tense: 0.5,
            frustrated: 0.4,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        assert!(FrustrationConfig::default().validate().is_ok());
    }
}
