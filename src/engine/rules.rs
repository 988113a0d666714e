//! When each nudge kind is proposed and when it resolves, from the call's conversation facts.
//!
//! The rules only *propose* and *resolve*; [`crate::nudges::policy::Policy`] decides what is shown
//! (budget, cooldown, priority, turn boundaries). Each rule names the guidance it encodes in the
//! catalogue (`src/nudges/catalogue.rs`).

use std::collections::VecDeque;

use crate::config::CampaignConfig;
use crate::language::agent::AgentReading;
use crate::language::customer::CustomerReading;
use crate::language::{Analysis, Hit};
use crate::nudges::policy::Proposal;
use crate::nudges::Kind;
use crate::protocol::{Evidence, Level, Speaker};
use crate::timing::TimingEvent;

/// How long ago a complaint may be and still count as "the same complaint again".
const COMPLAINT_MEMORY: usize = 8;
/// A repeat must come at least this long after the first telling.
const REPEAT_MIN_GAP_MS: u64 = 12_000;
/// An action and its time/reference may be split over agent segments this close together.
const NEXT_STEP_JOIN_MS: u64 = 15_000;
/// Abuse is over when nothing abusive has been said for this long.
const ABUSE_QUIET_MS: u64 = 30_000;
/// A single segment this hot makes an anger spike (breathe), even before the level is angry.
const BREATHE_SPIKE_HEAT: f64 = 0.8;
/// Distress this strong makes empathy owed from *tense* already.
const DISTRESS_EMPATHY_HEAT: f64 = 0.3;
/// After the agent showed empathy, the score must rise this much before it is owed again.
const EMPATHY_AGAIN_RISE: f64 = 0.2;
/// An answer with empathy or a next step counts as "good" for cooling this long.
const GOOD_ANSWER_MS: u64 = 60_000;

pub(super) fn ev(segment_id: &str, quote: &str, rule: impl Into<String>) -> Evidence {
    Evidence {
        segment_id: segment_id.to_string(),
        quote: quote.to_string(),
        rule: rule.into(),
    }
}

fn hit_ev(segment_id: &str, h: &Hit) -> Evidence {
    ev(segment_id, &h.quote, h.rule())
}

fn propose(kind: Kind, evidence: Vec<Evidence>) -> Proposal {
    Proposal {
        kind,
        evidence,
        immediate: false,
        severity: None,
    }
}

/// Proposals and resolutions produced by one event.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub proposals: Vec<Proposal>,
    pub resolved: Vec<(Kind, &'static str)>,
    /// Extra frustration heat from timing (the customer cutting the agent off), with evidence.
    pub heat: Vec<(f64, Evidence)>,
}

impl Outcome {
    fn resolve(&mut self, kind: Kind, reason: &'static str) {
        self.resolved.push((kind, reason));
    }
}

/// What the rules remember about the conversation so far.
#[derive(Debug, Clone, Default)]
pub(super) struct Conversation {
    last_abuse_ms: Option<u64>,
    pending_escalation: Option<Evidence>,
    pending_next_step_request: Option<Evidence>,
    /// The customer said they already explained (or repeated their complaint); not yet paraphrased.
    pending_repetition: Option<Evidence>,
    /// The customer reached the empathy level and the agent has not acknowledged it yet.
    empathy_owed: Option<Evidence>,
    /// Since when the customer has been at `next_step_level` with no next step offered.
    frustrated_since: Option<u64>,
    frustration_evidence: Option<Evidence>,
    stock_phrases: Vec<Evidence>,
    unowned_transfer: bool,
    /// Recent customer complaints: (media ms, segment id, content stems).
    complaints: VecDeque<(u64, String, Vec<String>)>,
    /// Conditions that last (re-proposed on every event until they end, so a nudge that lost to a
    /// more important one at first still gets its turn): agent too fast or in a monologue, dead
    /// air, a customer turn interrupted and not yet finished.
    fast_speech: Option<Evidence>,
    monologue: Option<Evidence>,
    dead_air: Option<Evidence>,
    interrupted: Option<Vec<Evidence>>,
    /// Score when the agent last showed empathy: only a real new rise makes it owed again.
    empathy_shown_at: Option<f64>,
    /// An agent commitment waiting for its time/reference in the next words.
    pending_action: Option<u64>,
    pub last_good_answer_ms: Option<u64>,
    /// Concrete next steps the agent promised (for the summary and the customer's next call).
    pub next_steps: Vec<Evidence>,
}

/// Promised next steps kept per call (the first ones: later ones tend to repeat them).
const MAX_NEXT_STEPS: usize = 5;

impl Conversation {
    pub fn good_answer_recent(&self, now: u64) -> bool {
        self.last_good_answer_ms
            .is_some_and(|t| now.saturating_sub(t) <= GOOD_ANSWER_MS)
    }

    /// The customer says the same thing again (content words shared with an earlier complaint).
    pub fn repeated_complaint(
        &mut self,
        now: u64,
        seg: &str,
        quote: &str,
        a: &Analysis,
        is_complaint: bool,
    ) -> Option<Evidence> {
        let mine: Vec<&String> = {
            let mut v: Vec<&String> = a.content.iter().collect();
            v.sort();
            v.dedup();
            v
        };
        let mut found = None;
        if mine.len() >= 3 {
            for (t, id, theirs) in &self.complaints {
                if now.saturating_sub(*t) < REPEAT_MIN_GAP_MS {
                    continue;
                }
                let shared: Vec<&&String> = mine.iter().filter(|w| theirs.contains(*w)).collect();
                let smaller = mine.len().min(theirs.len()).max(1);
                if shared.len() >= 3 && shared.len() * 2 >= smaller {
                    found = Some(ev(
                        seg,
                        quote,
                        format!(
                            "repeated_complaint ({} content words shared with {id})",
                            shared.len()
                        ),
                    ));
                    break;
                }
            }
        }
        if is_complaint || mine.len() >= 4 {
            self.complaints
                .push_back((now, seg.to_string(), mine.into_iter().cloned().collect()));
            if self.complaints.len() > COMPLAINT_MEMORY {
                self.complaints.pop_front();
            }
        }
        found
    }

    /// Rules on a final customer segment, after the frustration score moved.
    #[allow(clippy::too_many_arguments)]
    pub fn on_customer(
        &mut self,
        cfg: &CampaignConfig,
        now: u64,
        seg: &str,
        r: &CustomerReading,
        evidence: &[Evidence],
        repeated: Option<Evidence>,
        before: Level,
        after: Level,
        score: f64,
        out: &mut Outcome,
    ) {
        let pc = &cfg.nudges;
        let heat_ev: Vec<Evidence> = evidence
            .iter()
            .filter(|e| !e.quote.is_empty())
            .cloned()
            .collect();

        if let Some(h) = &r.abuse {
            self.last_abuse_ms = Some(now);
            out.proposals
                .push(propose(Kind::AbuseBoundary, vec![hit_ev(seg, h)]));
            // Abuse is the moment to breathe before answering: as urgent as the limit itself.
            out.proposals.push(Proposal {
                severity: Some(crate::protocol::Severity::Urgent),
                ..propose(Kind::Breathe, vec![hit_ev(seg, h)])
            });
        } else if self
            .last_abuse_ms
            .is_some_and(|t| now.saturating_sub(t) >= ABUSE_QUIET_MS)
        {
            out.resolve(Kind::AbuseBoundary, "abuse_stopped");
        }

        let spike = r.heat >= BREATHE_SPIKE_HEAT && after >= Level::Frustrated;
        // Worry and fear call for empathy, not for the agent to calm themselves.
        if !r.distress_only && ((after == Level::Angry && before < Level::Angry) || spike) {
            // Breathing helps before the next answer, not twenty seconds later: immediate.
            out.proposals.push(Proposal {
                immediate: true,
                ..propose(Kind::Breathe, heat_ev.clone())
            });
        }
        if after < Level::Frustrated {
            out.resolve(Kind::Breathe, "customer_calmer");
        }

        if let Some(h) = &r.escalation {
            self.pending_escalation = Some(hit_ev(seg, h));
        }
        if let Some(e) = &self.pending_escalation {
            out.proposals
                .push(propose(Kind::OfferEscalation, vec![e.clone()]));
        }

        let listening = r.repetition.as_ref().map(|h| hit_ev(seg, h)).or(repeated);
        if let Some(e) = listening {
            self.pending_repetition = Some(e.clone());
            out.proposals.push(propose(Kind::ActiveListening, vec![e]));
        }

        if let Some(h) = &r.next_step_request {
            self.pending_next_step_request = Some(hit_ev(seg, h));
            out.proposals
                .push(propose(Kind::OfferNextStep, vec![hit_ev(seg, h)]));
        }

        let rose_again = self
            .empathy_shown_at
            .is_none_or(|at| score >= at + EMPATHY_AGAIN_RISE);
        // Real worry or fear (not "un poco asustado") calls for empathy sooner: from tense.
        let threshold = if r.distress_only && r.heat >= DISTRESS_EMPATHY_HEAT {
            pc.empathy_level.min(Level::Tense)
        } else {
            pc.empathy_level
        };
        if after >= threshold
            && self.empathy_owed.is_none()
            && rose_again
            && (before < threshold || (r.distress_only && r.heat >= DISTRESS_EMPATHY_HEAT))
        {
            self.empathy_owed = heat_ev.first().cloned().or_else(|| {
                Some(ev(
                    seg,
                    "",
                    format!("frustration reached {}", after.as_str()),
                ))
            });
        }
        if after >= pc.next_step_level {
            self.frustrated_since.get_or_insert(now);
            if let Some(e) = heat_ev.first() {
                self.frustration_evidence = Some(e.clone());
            }
        } else {
            self.frustrated_since = None;
        }
        if after < Level::Tense {
            self.empathy_owed = None;
            self.pending_repetition = None;
            self.stock_phrases.clear();
            out.resolve(Kind::ShowEmpathy, "customer_calm");
            out.resolve(Kind::AvoidEmptyPhrases, "customer_calm");
            out.resolve(Kind::OfferNextStep, "customer_calm");
            out.resolve(Kind::OwnTheTransfer, "customer_calm");
        }
    }

    /// Rules on a final agent segment.
    #[allow(clippy::too_many_arguments)]
    pub fn on_agent(
        &mut self,
        cfg: &CampaignConfig,
        now: u64,
        seg: &str,
        a: &Analysis,
        r: &AgentReading,
        level: Level,
        score: f64,
        out: &mut Outcome,
    ) {
        let pc = &cfg.nudges;
        // Next step: action + when/reference, possibly across close agent segments.
        let next_step = r.next_step().is_some()
            || (r.anchor.is_some()
                && self
                    .pending_action
                    .is_some_and(|t| now.saturating_sub(t) <= NEXT_STEP_JOIN_MS));
        if r.action.is_some() && r.anchor.is_none() {
            self.pending_action = Some(now);
        } else if next_step {
            self.pending_action = None;
        }
        let paraphrase = r.paraphrase.is_some() || self.echoes_complaint(a);
        let empathy = r.empathy.is_some();
        if empathy || next_step || paraphrase {
            self.last_good_answer_ms = Some(now);
        }

        if empathy {
            self.empathy_owed = None;
            self.empathy_shown_at = Some(score);
            out.resolve(Kind::ShowEmpathy, "empathy_shown");
        }
        if next_step && self.next_steps.len() < MAX_NEXT_STEPS {
            let quote = match r.next_step() {
                Some((action, anchor)) if action.first <= anchor.first => {
                    format!("{} … {}", action.quote, anchor.quote)
                }
                Some((action, anchor)) => format!("{} … {}", anchor.quote, action.quote),
                None => r
                    .anchor
                    .as_ref()
                    .map(|h| h.quote.clone())
                    .unwrap_or_default(),
            };
            if !self.next_steps.iter().any(|e| e.quote == quote) {
                self.next_steps.push(ev(seg, &quote, "next_step"));
            }
        }
        if next_step {
            self.pending_next_step_request = None;
            self.frustrated_since = self.frustrated_since.map(|_| now);
            out.resolve(Kind::OfferNextStep, "next_step_offered");
        }
        let transfer_owned = r.transfer.as_ref().is_some_and(|t| t.owned());
        if r.escalation_offer.is_some() || next_step || transfer_owned {
            self.pending_escalation = None;
            out.resolve(Kind::OfferEscalation, "escalation_offered");
        }
        if paraphrase {
            self.pending_repetition = None;
            out.resolve(Kind::ActiveListening, "paraphrased");
        }
        if r.boundary.is_some() {
            out.resolve(Kind::AbuseBoundary, "limit_set");
        }
        if empathy || paraphrase || next_step {
            self.stock_phrases.clear();
            out.resolve(Kind::AvoidEmptyPhrases, "said_something_real");
        }
        if self.unowned_transfer && (transfer_owned || r.reason.is_some() && r.target.is_some()) {
            self.unowned_transfer = false;
            out.resolve(Kind::OwnTheTransfer, "transfer_explained");
        }

        // Empty stock phrases to a customer who is already tense.
        let mut rote = false;
        if level >= pc.stock_phrase_level && !(empathy || paraphrase || next_step) {
            for h in &r.stock {
                self.stock_phrases.push(hit_ev(seg, h));
            }
            if self.stock_phrases.len() as u32 >= pc.stock_phrase_count {
                let n = self.stock_phrases.len();
                let recent = self.stock_phrases[n.saturating_sub(3)..].to_vec();
                out.proposals.push(propose(Kind::AvoidEmptyPhrases, recent));
                rote = !r.stock.is_empty();
            }
        }

        // A blind transfer of an upset customer.
        if let Some(t) = &r.transfer {
            if !t.owned() && level >= pc.transfer_level {
                // Only useful before the line goes to someone else: show it now.
                self.unowned_transfer = true;
                let mut e = vec![hit_ev(seg, &t.hit)];
                let missing = match (t.target.is_some() && t.vague.is_none(), t.reason.is_some()) {
                    (false, false) => "says neither who nor why",
                    (false, true) => "does not say who",
                    (true, false) => "does not say why",
                    (true, true) => "",
                };
                if let Some(v) = &t.vague {
                    e.push(hit_ev(seg, v));
                }
                e[0].rule = format!("{} — transfer {missing}", e[0].rule);
                out.proposals.push(Proposal {
                    immediate: true,
                    ..propose(Kind::OwnTheTransfer, e)
                });
            }
        }

        // The agent answered an upset customer without acknowledging how they feel. Not while
        // setting a limit on abuse, and not when this answer is what `avoid_empty_phrases` is
        // proposed for: that is the more precise advice.
        let substantive = a.words >= 4 && !a.backchannel_only && r.hold.is_none();
        let setting_limit = r.boundary.is_some();
        if substantive && !empathy && !setting_limit && !rote {
            if let Some(e) = &self.empathy_owed {
                // Owed since the customer reached `empathy_level`; still owed while they are
                // at least tense.
                if level >= Level::Tense {
                    let mut evidence = vec![e.clone()];
                    evidence.push(ev(
                        seg,
                        &first_words(&a.folded, 8),
                        "agent answered without acknowledging the customer's feelings",
                    ));
                    out.proposals.push(propose(Kind::ShowEmpathy, evidence));
                }
            }
        }

        // Still no concrete next step while the customer stays upset, or after they asked.
        if substantive && !next_step && !setting_limit {
            let waited = self
                .frustrated_since
                .is_some_and(|t| now.saturating_sub(t) >= pc.next_step_after_ms);
            let asked = self.pending_next_step_request.clone();
            if level >= pc.next_step_level && waited || asked.is_some() {
                let mut evidence: Vec<Evidence> = asked
                    .into_iter()
                    .chain(self.frustration_evidence.clone())
                    .collect();
                evidence.push(ev(
                    seg,
                    &first_words(&a.folded, 8),
                    "no concrete next step (action + time or reference) offered yet",
                ));
                out.proposals.push(propose(Kind::OfferNextStep, evidence));
            }
            if let Some(e) = &self.pending_escalation {
                out.proposals
                    .push(propose(Kind::OfferEscalation, vec![e.clone()]));
            }
        }
        // The agent answered a customer who had to repeat themselves without showing they heard.
        if substantive && !paraphrase {
            if let Some(e) = &self.pending_repetition {
                out.proposals
                    .push(propose(Kind::ActiveListening, vec![e.clone()]));
            }
        }
    }

    /// The agent's words reuse the content of the customer's last complaint: a paraphrase.
    fn echoes_complaint(&self, a: &Analysis) -> bool {
        let Some((_, _, theirs)) = self.complaints.back() else {
            return false;
        };
        let shared = a
            .content
            .iter()
            .filter(|w| theirs.contains(w))
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        shared >= 3
    }

    /// Rules on a timing event.
    pub fn on_timing(&mut self, cfg: &CampaignConfig, e: &TimingEvent, out: &mut Outcome) {
        match e {
            TimingEvent::Interruption {
                by: Speaker::Agent,
                interrupter_segment,
                interrupted_segment,
                overlap_ms,
                talk_over,
                interrupter_quote,
                interrupted_quote,
                ..
            } => {
                // Stepping in while the customer reads out digits is a correction ("sí, eso"),
                // not cutting them off: counted as an interruption, not nudged.
                if reading_numbers(interrupted_quote) {
                    return;
                }
                let rule = if *talk_over {
                    format!("talk-over: agent spoke over the customer for {overlap_ms} ms")
                } else {
                    format!(
                        "interruption: agent started {overlap_ms} ms before the customer finished"
                    )
                };
                self.interrupted = Some(vec![
                    ev(interrupter_segment, interrupter_quote, rule),
                    ev(
                        interrupted_segment,
                        interrupted_quote,
                        "customer was mid-turn",
                    ),
                ]);
            }
            TimingEvent::Interruption {
                by: Speaker::Customer,
                interrupter_segment,
                interrupter_quote,
                overlap_ms,
                ..
            } => {
                out.heat.push((
                    cfg.frustration.customer_interrupt_heat,
                    ev(
                        interrupter_segment,
                        interrupter_quote,
                        format!("customer cut the agent off ({overlap_ms} ms overlap)"),
                    ),
                ));
            }
            TimingEvent::CustomerTurnCompleted { .. } => {
                self.interrupted = None;
                out.resolve(Kind::LetThemFinish, "customer_finished");
            }
            TimingEvent::DeadAirStart {
                at_ms,
                silent_since_ms,
                hold,
                last_segment,
            } => {
                let secs = at_ms.saturating_sub(*silent_since_ms) / 1000;
                let rule = if *hold {
                    format!("silence of {secs} s after a hold was announced")
                } else {
                    format!("silence of {secs} s while the customer waits, no hold announced")
                };
                self.dead_air = Some(ev(last_segment, "", rule));
            }
            TimingEvent::DeadAirEnd { .. } => {
                self.dead_air = None;
                out.resolve(Kind::DeadAir, "speech_resumed");
            }
            TimingEvent::LongTurnStart {
                speaker: Speaker::Agent,
                at_ms,
                turn_start_ms,
                segment_ids,
            } => {
                let secs = at_ms.saturating_sub(*turn_start_ms) / 1000;
                self.monologue = Some(ev(
                    segment_ids.last().map(String::as_str).unwrap_or(""),
                    "",
                    format!("agent monologue of {secs} s without the customer speaking"),
                ));
            }
            TimingEvent::LongTurnEnd {
                speaker: Speaker::Agent,
                ..
            } => {
                self.monologue = None;
                if self.fast_speech.is_none() {
                    out.resolve(Kind::SlowDown, "monologue_ended");
                }
            }
            TimingEvent::FastSpeechStart {
                syllables_per_s,
                segment_ids,
                ..
            } => {
                self.fast_speech = Some(ev(
                    segment_ids.last().map(String::as_str).unwrap_or(""),
                    "",
                    format!(
                        "agent speech rate {syllables_per_s:.1} syllables/s (limit {:.1})",
                        cfg.timing.fast_syllables_per_s
                    ),
                ));
            }
            TimingEvent::FastSpeechEnd { .. } => {
                self.fast_speech = None;
                if self.monologue.is_none() {
                    out.resolve(Kind::SlowDown, "pace_normal");
                }
            }
            TimingEvent::LongTurnStart { .. } | TimingEvent::LongTurnEnd { .. } => {}
        }
    }

    /// Re-propose the lasting timing conditions. They are about what is happening right now, so
    /// they are immediate: shown even mid-sentence, outside the rolling budget.
    pub fn lasting(&self, out: &mut Outcome) {
        let now = |kind, evidence| Proposal {
            kind,
            evidence,
            immediate: true,
            severity: None,
        };
        if let Some(e) = &self.interrupted {
            out.proposals.push(now(Kind::LetThemFinish, e.clone()));
        }
        if let Some(e) = &self.dead_air {
            out.proposals.push(now(Kind::DeadAir, vec![e.clone()]));
        }
        let pace: Vec<Evidence> = self
            .fast_speech
            .iter()
            .chain(self.monologue.iter())
            .cloned()
            .collect();
        if !pace.is_empty() {
            out.proposals.push(now(Kind::SlowDown, pace));
        }
    }
}

/// Most of the words are numbers: an account, phone or reference being read out.
fn reading_numbers(quote: &str) -> bool {
    let words: Vec<String> = quote
        .split_whitespace()
        .map(crate::language::normalize::fold)
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_string())
        .filter(|w| !w.is_empty())
        .collect();
    let numbers = words
        .iter()
        .filter(|w| crate::language::lexicon::is_number_word(w))
        .count();
    words.len() >= 3 && numbers * 10 >= words.len() * 6
}

fn first_words(folded: &[String], n: usize) -> String {
    folded.iter().take(n).cloned().collect::<Vec<_>>().join(" ")
}
