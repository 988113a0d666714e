//! The nudge policy: which proposed nudge is shown, when, and when it clears.
//!
//! Signals are not nudges. An agent in a hard call can read a few words every few seconds, so the
//! policy keeps nudges rare: one kind open once, per-kind cooldown after it clears, a per-call
//! budget (one new non-urgent nudge per `min_gap_ms`), a quiet warm-up at the start of the call,
//! the most important proposal wins, and non-urgent nudges wait for the agent to stop talking.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::catalogue::{Kind, TextLanguage, ALL_KINDS};
use crate::protocol::{Evidence, Level, NudgeRecord, Severity};

/// Per-kind settings; anything left out takes the catalogue default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KindConfig {
    pub enabled: Option<bool>,
    /// After this kind clears, it may not open again for this long (media ms).
    pub cooldown_ms: Option<u64>,
    /// Custom text (overrides the catalogue text in every language).
    pub text: Option<String>,
    pub severity: Option<Severity>,
}

/// `[campaigns.X.nudges]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Language of the catalogue texts.
    pub text_language: TextLanguage,
    /// At most one new non-urgent nudge per this much media time...
    pub min_gap_ms: u64,
    /// ...except nudges about what is happening right now (an anger spike, interrupting, silence,
    /// a blind transfer, racing), which only need this much between each other: later they are
    /// useless.
    pub immediate_gap_ms: u64,
    /// No non-urgent nudge before this media time (greetings, identification).
    pub warmup_ms: u64,
    /// Default per-kind cooldown after a clear.
    pub cooldown_ms: u64,
    /// An open nudge clears itself after this long ("expired"): advice goes stale.
    pub expire_ms: u64,
    /// A non-urgent nudge waiting for the agent to stop talking is dropped after this long.
    pub defer_max_ms: u64,
    /// Customer level from which missing empathy is flagged.
    pub empathy_level: Level,
    /// Customer level from which a missing next step is flagged...
    pub next_step_level: Level,
    /// ...once the customer has been at that level for this long without one.
    pub next_step_after_ms: u64,
    /// Customer level from which stock phrases are flagged.
    pub stock_phrase_level: Level,
    /// Stock phrases (since the customer got tense) before `avoid_empty_phrases`.
    pub stock_phrase_count: u32,
    /// Customer level from which a transfer must be owned (who and why).
    pub transfer_level: Level,
    /// Per-kind overrides, keyed by kind id (`breathe`, `dead_air`...).
    pub kinds: BTreeMap<String, KindConfig>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            text_language: TextLanguage::Es,
            min_gap_ms: 20_000,
            immediate_gap_ms: 5_000,
            warmup_ms: 10_000,
            cooldown_ms: 60_000,
            expire_ms: 90_000,
            defer_max_ms: 12_000,
            empathy_level: Level::Frustrated,
            next_step_level: Level::Frustrated,
            next_step_after_ms: 40_000,
            stock_phrase_level: Level::Tense,
            stock_phrase_count: 2,
            transfer_level: Level::Tense,
            kinds: BTreeMap::new(),
        }
    }
}

impl PolicyConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (name, k) in &self.kinds {
            if Kind::parse(name).is_none() {
                let known: Vec<&str> = ALL_KINDS.iter().map(|k| k.as_str()).collect();
                return Err(format!(
                    "unknown nudge kind `{name}` (known: {})",
                    known.join(", ")
                ));
            }
            if let Some(t) = &k.text {
                let n = t.chars().count();
                if n == 0 || n > 120 {
                    return Err(format!(
                        "nudges.kinds.{name}.text must be 1..120 characters (an agent reads it at a glance), got {n}"
                    ));
                }
            }
        }
        if self.expire_ms < 5_000 {
            return Err("expire_ms must be at least 5000".into());
        }
        if self.stock_phrase_count == 0 {
            return Err("stock_phrase_count must be at least 1".into());
        }
        Ok(())
    }

    fn kind(&self, k: Kind) -> Option<&KindConfig> {
        self.kinds.get(k.as_str())
    }
    pub fn enabled(&self, k: Kind) -> bool {
        self.kind(k).and_then(|c| c.enabled).unwrap_or(true)
    }
    pub fn cooldown(&self, k: Kind) -> u64 {
        self.kind(k)
            .and_then(|c| c.cooldown_ms)
            .unwrap_or(self.cooldown_ms)
    }
    pub fn text(&self, k: Kind) -> String {
        self.kind(k)
            .and_then(|c| c.text.clone())
            .unwrap_or_else(|| k.default_text(self.text_language).to_string())
    }
    pub fn severity(&self, k: Kind) -> Severity {
        self.kind(k)
            .and_then(|c| c.severity)
            .unwrap_or_else(|| k.default_severity())
    }
}

/// A nudge the rules would like to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub kind: Kind,
    pub evidence: Vec<Evidence>,
    /// Show even while the agent is talking (it is about what they are doing right now).
    pub immediate: bool,
    /// Severity for this occurrence, when the moment warrants more than the kind's default
    /// (e.g. `breathe` when abuse starts is urgent).
    pub severity: Option<Severity>,
    /// Advice about the answer the agent just gave (stock phrases to an upset customer, an
    /// escalation demand left unanswered): it still waits for the turn boundary, but does not wait
    /// for the rolling budget, which would show it when it no longer applies.
    pub timely: bool,
    /// Only as the replacement of an open nudge it sharpens (see [`Kind::sharpens`]); otherwise
    /// dropped.
    pub replace_only: bool,
}

/// What the policy decided to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Open {
        nudge_id: String,
        kind: Kind,
        text: String,
        severity: Severity,
        evidence: Vec<Evidence>,
    },
    Clear {
        nudge_id: String,
        kind: Kind,
        reason: String,
    },
}

#[derive(Debug, Clone)]
struct Open {
    id: String,
    kind: Kind,
    opened_ms: u64,
    urgent: bool,
}

/// Per-call policy state.
#[derive(Debug, Clone)]
pub struct Policy {
    counter: u32,
    open: Vec<Open>,
    /// When each kind last cleared (cooldown runs from there) or opened.
    last_seen: BTreeMap<Kind, u64>,
    last_open_ms: Option<u64>,
    /// Last opening that counted against the rolling budget (not urgent, not immediate).
    last_budgeted_ms: Option<u64>,
    /// Last immediate opening (immediate nudges keep `immediate_gap_ms` between each other).
    last_immediate_ms: Option<u64>,
    deferred: Option<(u64, Proposal)>,
    records: Vec<NudgeRecord>,
    origin_ms: u64,
}

/// Records kept for the summary; older ones beyond this are counted, not listed.
const MAX_RECORDS: usize = 200;

impl Default for Policy {
    fn default() -> Self {
        Self::new()
    }
}

impl Policy {
    pub fn new() -> Self {
        Policy {
            counter: 0,
            open: Vec::new(),
            last_seen: BTreeMap::new(),
            last_open_ms: None,
            last_budgeted_ms: None,
            last_immediate_ms: None,
            deferred: None,
            records: Vec::new(),
            origin_ms: 0,
        }
    }

    pub fn is_open(&self, kind: Kind) -> bool {
        self.open.iter().any(|o| o.kind == kind)
    }

    pub fn open_kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        self.open.iter().map(|o| o.kind)
    }

    /// A non-urgent nudge at least as important as `kind` is open (breathing, letting them
    /// finish and a silence are): the panel shows one piece of advice at a time, so general
    /// advice waits for it to clear.
    fn open_at_least_as_important(&self, kind: Kind) -> bool {
        self.open
            .iter()
            .any(|o| !o.urgent && o.kind.priority() <= kind.priority())
    }

    pub fn records(&self) -> &[NudgeRecord] {
        &self.records
    }

    /// Record agent feedback on a nudge; false if the id is unknown.
    pub fn feedback(&mut self, nudge_id: &str, useful: bool) -> Option<Kind> {
        let r = self.records.iter_mut().find(|r| r.nudge_id == nudge_id)?;
        r.useful = Some(useful);
        Kind::parse(&r.kind)
    }

    /// Media time the call began at: platforms may start their clocks anywhere (a stream offset,
    /// even epoch milliseconds); warm-up counts from here.
    pub fn set_origin(&mut self, origin_ms: u64) {
        self.origin_ms = origin_ms;
    }

    /// Consider proposals made at `now_ms`. Every eligible urgent proposal opens at once; of the
    /// rest, the most important immediate one and the most important budgeted one may open,
    /// subject to warm-up, gaps and budget.
    /// `agent_speaking` defers non-urgent, non-immediate proposals to the next turn boundary.
    pub fn propose(
        &mut self,
        cfg: &PolicyConfig,
        now_ms: u64,
        agent_speaking: bool,
        mut proposals: Vec<Proposal>,
    ) -> Vec<Decision> {
        if let Some((at, p)) = self.deferred.take() {
            if now_ms.saturating_sub(at) <= cfg.defer_max_ms {
                proposals.push(p);
            }
        }
        // A sharper proposal wins over the kinds it sharpens, proposed at the same moment
        // ("menos fórmulas" over "resume su caso" for a formula answering a repetition).
        let sharpened: Vec<Kind> = proposals
            .iter()
            .filter(|p| !p.replace_only && self.eligible(cfg, now_ms, p.kind))
            .flat_map(|p| p.kind.sharpens().iter().copied())
            .collect();
        proposals.retain(|p| !sharpened.contains(&p.kind));
        proposals.sort_by_key(|p| p.kind.priority());
        let mut opened = Vec::new();
        // Per event: every urgent proposal, plus at most one immediate and one budgeted.
        let (mut immediate_done, mut budgeted_done) = (false, false);
        for p in proposals {
            if !self.eligible(cfg, now_ms, p.kind) {
                continue;
            }
            let severity = p.severity.unwrap_or_else(|| cfg.severity(p.kind));
            // A sharper version of an open nudge replaces it ("menos fórmulas" for an open
            // "resume su caso" the agent answered with a stock phrase): the panel still shows one
            // piece of advice, so the budget does not apply; it waits for the turn boundary.
            let sharpens = p.kind.sharpens().iter().copied().find(|k| self.is_open(*k));
            if let Some(old) = sharpens.filter(|_| severity != Severity::Urgent) {
                let warming_up = now_ms.saturating_sub(self.origin_ms) < cfg.warmup_ms;
                if warming_up || budgeted_done {
                    continue;
                }
                budgeted_done = true;
                if agent_speaking && !p.immediate {
                    self.deferred = Some((now_ms, p));
                    continue;
                }
                opened.extend(self.resolve(now_ms, old, "sharpened"));
                opened.push(self.open(cfg, now_ms, p, severity));
                continue;
            }
            if p.replace_only {
                continue;
            }
            if severity != Severity::Urgent {
                let done = if p.immediate {
                    &mut immediate_done
                } else {
                    &mut budgeted_done
                };
                if *done {
                    continue;
                }
                // Immediate nudges need only a short gap after any nudge and do not use up the
                // rolling budget; the others share the budget.
                let (last, gap) = if p.immediate {
                    (self.last_immediate_ms, cfg.immediate_gap_ms)
                } else if p.timely {
                    (self.last_open_ms, cfg.immediate_gap_ms)
                } else {
                    (self.last_budgeted_ms, cfg.min_gap_ms)
                };
                let warming_up = now_ms.saturating_sub(self.origin_ms) < cfg.warmup_ms;
                // One piece of general advice at a time: a budgeted nudge waits while a more
                // important non-urgent one is still open (timely and immediate ones are about now).
                let busy = !p.immediate && !p.timely && self.open_at_least_as_important(p.kind);
                let gap_left = last.map_or(0, |t| (t + gap).saturating_sub(now_ms));
                if warming_up || busy || gap_left > 0 {
                    // Held back by its gap: a lower-priority proposal outside that gap (a timely
                    // one, a sharper replacement) may still go. Advice about the answer just
                    // given waits a few seconds for its gap instead of being lost: timely advice
                    // always, budgeted advice when its gap ends within `defer_max_ms`.
                    let gap_soon = !busy && gap_left <= cfg.defer_max_ms;
                    if (p.timely || gap_soon) && !warming_up && self.deferred.is_none() {
                        self.deferred = Some((now_ms, p));
                    }
                    continue;
                }
                *done = true;
                if agent_speaking && !p.immediate {
                    self.deferred = Some((now_ms, p));
                    continue;
                }
            }
            if severity != Severity::Urgent {
                if p.immediate {
                    self.last_immediate_ms = Some(now_ms);
                } else if p.timely {
                    // Outside the budget, but what follows still waits its turn.
                } else {
                    self.last_budgeted_ms = Some(now_ms);
                }
            }
            opened.push(self.open(cfg, now_ms, p, severity));
        }
        opened
    }

    fn open(
        &mut self,
        cfg: &PolicyConfig,
        now_ms: u64,
        p: Proposal,
        severity: Severity,
    ) -> Decision {
        self.counter += 1;
        let nudge_id = format!("n{}", self.counter);
        self.open.push(Open {
            id: nudge_id.clone(),
            kind: p.kind,
            opened_ms: now_ms,
            urgent: severity == Severity::Urgent,
        });
        self.last_seen.insert(p.kind, now_ms);
        self.last_open_ms = Some(now_ms);
        if self.records.len() < MAX_RECORDS {
            self.records.push(NudgeRecord {
                nudge_id: nudge_id.clone(),
                kind: p.kind.as_str().to_string(),
                severity,
                at_ms: now_ms,
                cleared_at_ms: None,
                clear_reason: None,
                useful: None,
            });
        }
        Decision::Open {
            nudge_id,
            kind: p.kind,
            text: cfg.text(p.kind),
            severity,
            evidence: p.evidence,
        }
    }

    fn eligible(&self, cfg: &PolicyConfig, now_ms: u64, kind: Kind) -> bool {
        cfg.enabled(kind)
            && !self.is_open(kind)
            && self
                .last_seen
                .get(&kind)
                .is_none_or(|t| now_ms.saturating_sub(*t) >= cfg.cooldown(kind))
    }

    /// The condition behind `kind` resolved: clear it if open.
    pub fn resolve(&mut self, now_ms: u64, kind: Kind, reason: &str) -> Option<Decision> {
        if self.deferred.as_ref().is_some_and(|(_, p)| p.kind == kind) {
            self.deferred = None;
        }
        let i = self.open.iter().position(|o| o.kind == kind)?;
        let o = self.open.remove(i);
        self.last_seen.insert(kind, now_ms);
        if let Some(r) = self.records.iter_mut().find(|r| r.nudge_id == o.id) {
            r.cleared_at_ms = Some(now_ms);
            r.clear_reason = Some(reason.to_string());
        }
        Some(Decision::Clear {
            nudge_id: o.id,
            kind,
            reason: reason.to_string(),
        })
    }

    /// Clear nudges that have been open longer than `expire_ms`.
    pub fn expire(&mut self, cfg: &PolicyConfig, now_ms: u64) -> Vec<Decision> {
        let stale: Vec<Kind> = self
            .open
            .iter()
            .filter(|o| now_ms.saturating_sub(o.opened_ms) >= cfg.expire_ms)
            .map(|o| o.kind)
            .collect();
        stale
            .into_iter()
            .filter_map(|k| self.resolve(now_ms, k, "expired"))
            .collect()
    }

    /// Clear everything (call ended).
    pub fn clear_all(&mut self, now_ms: u64, reason: &str) -> Vec<Decision> {
        self.deferred = None;
        let kinds: Vec<Kind> = self.open.iter().map(|o| o.kind).collect();
        kinds
            .into_iter()
            .filter_map(|k| self.resolve(now_ms, k, reason))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(kind: Kind) -> Proposal {
        Proposal {
            kind,
            evidence: vec![],
            immediate: false,
            severity: None,
            timely: false,
            replace_only: false,
        }
    }

    #[test]
    fn priority_budget_and_warmup() {
        let cfg = PolicyConfig::default();
        let mut pol = Policy::new();
        // warm-up holds non-urgent nudges, not urgent ones
        assert!(pol
            .propose(&cfg, 2_000, false, vec![p(Kind::ShowEmpathy)])
            .is_empty());
        let d = pol.propose(
            &cfg,
            2_000,
            false,
            vec![p(Kind::ShowEmpathy), p(Kind::AbuseBoundary)],
        );
        assert!(matches!(
            d[..],
            [Decision::Open {
                kind: Kind::AbuseBoundary,
                ..
            }]
        ));
        // urgent nudges do not use up the rolling budget
        let d = pol.propose(
            &cfg,
            12_000,
            false,
            vec![p(Kind::OfferNextStep), p(Kind::ShowEmpathy)],
        );
        assert!(matches!(
            d[..],
            [Decision::Open {
                kind: Kind::ShowEmpathy,
                ..
            }]
        ));
        // budget: one non-urgent per 20 s, the most important first
        assert!(pol
            .propose(&cfg, 25_000, false, vec![p(Kind::OfferNextStep)])
            .is_empty());
        let d = pol.propose(
            &cfg,
            33_000,
            false,
            vec![p(Kind::OfferNextStep), p(Kind::Breathe)],
        );
        assert!(matches!(
            d[..],
            [Decision::Open {
                kind: Kind::Breathe,
                ..
            }]
        ));
        // immediate nudges only need a short gap between each other
        let mut now = p(Kind::DeadAir);
        now.immediate = true;
        assert_eq!(pol.propose(&cfg, 35_000, false, vec![now]).len(), 1);
        let mut other = p(Kind::LetThemFinish);
        other.immediate = true;
        assert!(pol
            .propose(&cfg, 38_000, false, vec![other.clone()])
            .is_empty());
        assert_eq!(pol.propose(&cfg, 40_500, false, vec![other]).len(), 1);
        // ... and do not use up the budget either: the next non-urgent waits for 33 s + 20 s,
        // and for every more important nudge still open to clear (show_empathy, and the ones
        // about the moment too: one piece of advice at a time)
        assert!(pol
            .propose(&cfg, 50_000, false, vec![p(Kind::OfferNextStep)])
            .is_empty());
        assert!(pol
            .propose(&cfg, 53_000, false, vec![p(Kind::OfferNextStep)])
            .is_empty());
        assert!(pol
            .resolve(53_500, Kind::ShowEmpathy, "empathy_shown")
            .is_some());
        assert!(pol
            .propose(&cfg, 53_600, false, vec![p(Kind::OfferNextStep)])
            .is_empty());
        for (k, why) in [
            (Kind::Breathe, "customer_calmer"),
            (Kind::DeadAir, "speech_resumed"),
            (Kind::LetThemFinish, "customer_finished"),
        ] {
            assert!(pol.resolve(53_700, k, why).is_some());
        }
        assert_eq!(
            pol.propose(&cfg, 54_000, false, vec![p(Kind::OfferNextStep)])
                .len(),
            1
        );
        // urgent proposals all open, budget or not
        let mut urgent = p(Kind::ActiveListening);
        urgent.severity = Some(Severity::Urgent);
        assert_eq!(pol.propose(&cfg, 55_000, false, vec![urgent]).len(), 1);
    }

    #[test]
    fn cooldown_after_clear_and_deferral() {
        let cfg = PolicyConfig::default();
        let mut pol = Policy::new();
        assert!(pol
            .propose(&cfg, 20_000, true, vec![p(Kind::ShowEmpathy)])
            .is_empty());
        // delivered when the agent stops talking
        assert_eq!(pol.propose(&cfg, 22_000, false, vec![]).len(), 1);
        assert!(matches!(
            pol.resolve(30_000, Kind::ShowEmpathy, "empathy_shown"),
            Some(Decision::Clear { .. })
        ));
        assert!(pol
            .propose(&cfg, 60_000, false, vec![p(Kind::ShowEmpathy)])
            .is_empty());
        assert_eq!(
            pol.propose(&cfg, 91_000, false, vec![p(Kind::ShowEmpathy)])
                .len(),
            1
        );
        assert_eq!(pol.expire(&cfg, 91_000 + 90_000).len(), 1);
    }

    #[test]
    fn config_validation() {
        let mut cfg = PolicyConfig::default();
        cfg.kinds.insert("breath".into(), KindConfig::default());
        assert!(cfg.validate().unwrap_err().contains("unknown nudge kind"));
    }
}
