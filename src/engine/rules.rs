//! When each nudge kind is proposed and when it resolves, from the call's conversation facts.
//!
//! The rules only *propose* and *resolve*; [`crate::nudges::policy::Policy`] decides what is shown
//! (budget, cooldown, priority, turn boundaries). Each rule names the guidance it encodes in the
//! catalogue (`src/nudges/catalogue.rs`).

use std::collections::VecDeque;

use crate::config::CampaignConfig;
use crate::language::agent::AgentReading;
use crate::language::cues::CustomerCues;
use crate::language::customer::{CustomerReading, Target};
use crate::language::lexicon::Cat;
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
/// Abuse nudges wait for the customer to have been quiet this long (their outburst is over)...
const ABUSE_PAUSE_MS: u64 = 800;
/// ...but no longer than this after the first abusive words.
const ABUSE_MAX_WAIT_MS: u64 = 15_000;
/// Abuse is over when nothing abusive has been said for this long.
const ABUSE_QUIET_MS: u64 = 30_000;
/// Shouting this hot (or with "!!") is a shouting-grade outburst (breathe), even before the level
/// is angry.
const BREATHE_SHOUT_HEAT: f64 = 0.6;
/// Abuse this soon after an outburst is part of it (breathe, urgent).
const OUTBURST_MEMORY_MS: u64 = 30_000;
/// Anger words at least this strong are fury ("furioso", "estoy que exploto", "emputado"):
/// hostility. Weaker ones are being fed up ("estoy harta", "ya estoy cansado", "hasta las
/// narices"): frustration, for empathy and a next step, not for `breathe`.
const BREATHE_FURY_WEIGHT: f64 = 0.8;
/// Complaints at least this strong are contempt or accusations ("es una vergüenza", "me están
/// robando", "tomadura de pelo"): hostility when they take the customer to *angry*.
const BREATHE_CONTEMPT_WEIGHT: f64 = 0.6;
/// A presence check ("¿hola?, ¿hay alguien?") counts after at least this much silence.
const PRESENCE_MIN_SILENCE_MS: u64 = 5_000;
/// "Couldn't follow you" points at the agent's delivery when their turn before it was brisk, or
/// (for an unambiguous cue) this long...
const LONG_AGENT_TURN_WORDS: usize = 40;
/// ...or this fast (syllables per second of speech; conversational Spanish is ~5–6.5).
const BRISK_AGENT_SYLLABLES_PER_S: f64 = 6.0;
/// Cue weight from which a cue counts on its own evidence (weaker ones need context).
const STRONG_CUE: f64 = 0.8;
/// Customer turns an agent's reflection may echo, and for how long.
const RECENT_CUSTOMER_TURNS: usize = 8;
const RECENT_CUSTOMER_MS: u64 = 180_000;
/// A transfer announced this soon after its who and why were said is a reminder, not blind.
const TRANSFER_EXPLAINED_MS: u64 = 120_000;
/// An ownership cue at least this strong ("me encargo yo") shows care; "voy a" does not.
const OWNERSHIP_EMPATHY_WEIGHT: f64 = 0.8;
/// Distress this strong makes empathy owed from *tense* already.
const DISTRESS_EMPATHY_HEAT: f64 = 0.3;
/// Kinds of customer evidence that show a feeling (as opposed to facts: a repeat contact, a
/// complaint about the service, distrust, a request).
const FEELING_CATS: &[Cat] = &[
    Cat::Anger,
    Cat::Distress,
    Cat::Command,
    Cat::Insult,
    Cat::InsultPeer,
    Cat::Directed,
    Cat::Profanity,
];
/// An answer sharing this many content words with what the customer said since the agent's
/// last answer addresses it.
const RESPONSIVE_SHARED_WORDS: usize = 2;
/// Sarcasm phrases at least this strong show a feeling ("qué maravilla, otra vez sin luz");
/// weaker ones collide with idioms ("me sacaste un peso de encima"), and praise next to a
/// complaint ("qué bueno, pensé que me iban a cobrar otra vez") is too often relief.
const SARCASM_FEELING_WEIGHT: f64 = 0.3;
/// The learned reading at least this sure that a turn is frustrated shows a feeling.
const MODEL_FEELING_P: f64 = 0.9;
/// Complaints at least this strong are indignation, a feeling ("es una vergüenza", "es el colmo",
/// "me están robando"); "qué vergüenza" (0.6) is as often embarrassment about oneself.
const INDIGNATION_WEIGHT: f64 = 0.65;
/// Negators that deny a feeling when they stand at most this many words before it ("no estoy
/// arrecha", "nunca estoy enfadado").
const DIRECT_NEGATORS: &[&str] = &["no", "nunca", "ni", "tampoco", "jamas", "jamás"];
const NEGATION_REACH: usize = 2;
/// An agent who starts talking this far into the customer's words cut them off: that answer is
/// `let_them_finish` business, and empathy advice waits for the next one.
const TALK_OVER_MS: u64 = 1_000;
/// After the agent showed empathy, the score must rise this much before it is owed again.
const EMPATHY_AGAIN_RISE: f64 = 0.2;
/// Empathy is due in the answers right after the customer showed how they feel; later the advice
/// is stale (and the rolling budget must not make it fire then).
const EMPATHY_MOMENT_MS: u64 = 30_000;
/// A request for a supervisor this soon after the agent offered one accepts the offer.
const OFFER_ACCEPTED_MS: u64 = 30_000;
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
        timely: false,
        replace_only: false,
    }
}

/// The agent's speech since the customer last said something of substance.
#[derive(Debug, Clone, Default)]
struct AgentTurn {
    /// The turn began while the customer was still talking (by at least [`TALK_OVER_MS`]).
    began_over_customer: bool,
    words: usize,
    syllables: u32,
    speech_ms: u64,
    last_end_ms: u64,
}

impl AgentTurn {
    fn rate(&self) -> Option<f64> {
        (self.speech_ms >= 1_000)
            .then(|| f64::from(self.syllables) * 1000.0 / self.speech_ms as f64)
    }
    /// Fast (or, for an unambiguous cue, long) enough that a customer who could not follow is
    /// telling us about the delivery, not about their own situation ("yo no me entero de nada").
    fn hard_to_follow(&self, strong_cue: bool) -> bool {
        let long = self.words >= LONG_AGENT_TURN_WORDS;
        let brisk = self
            .rate()
            .is_some_and(|r| r >= BRISK_AGENT_SYLLABLES_PER_S);
        brisk || (strong_cue && long)
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
    /// ...and the customer said so in words ("usted no me escucha"): the strongest evidence, not
    /// held back by the rolling budget.
    understanding_rejected: bool,
    /// The customer said in so many words that they are not understood ("usted no me escucha"):
    /// only their case said back settles it, not a step.
    said_not_understood: bool,
    /// "Menos fórmulas" was already advised: a later formula answer to a retold case owes the
    /// summary too, since the first advice did not land.
    formulas_advised: bool,
    /// When the agent last offered escalation or an owned transfer: "sí, pásame con ella" right
    /// after it accepts the offer, it does not demand one.
    escalation_offered_ms: Option<u64>,
    /// A stake was answered with a step alone ("le ofrezco el jueves"), and then...
    stake_stepped: bool,
    /// ...the customer said what is at stake again ("le estoy diciendo que mi mamá está grave"):
    /// the step did not take care of it, and only acknowledgement answers it now.
    stake_restated: bool,
    /// The customer reached the empathy level and the agent has not acknowledged it yet.
    empathy_owed: Option<Evidence>,
    /// Since when: a cold answer long after the moment is no longer the moment.
    empathy_owed_since: u64,
    /// The level it became owed at: it stays owed while the customer is at least there.
    empathy_threshold: Option<Level>,
    /// It is owed for a feeling the customer showed (not only for what is at stake)...
    empathy_felt: bool,
    /// ...and the agent has already asked for identification since.
    identification_asked: bool,
    /// Empathy became owed on the customer's latest turn and the agent has not answered it yet:
    /// to a customer who said how they feel, a request for identification now is the whole
    /// answer to it ("estoy podrida, mi vieja sin la medicación" — "¿me decís el número de
    /// socio?"); a stake said as a fact waits for the answer about it.
    owed_unanswered: bool,
    /// The customer's latest turn had any heat (a complaint, however mild).
    last_turn_heated: bool,
    /// Since when the customer has been at `next_step_level` with no next step offered.
    frustrated_since: Option<u64>,
    /// When the agent last showed they heard the customer (empathy, a paraphrase).
    heard_at: Option<u64>,
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
    /// What the agent has said since the customer last spoke (for "no me he enterado").
    agent_turn: AgentTurn,
    /// The customer asked the agent to slow down or could not follow: lasts until the agent
    /// answers.
    slow_request: Option<Evidence>,
    /// The silence was broken by the customer (often "¿hola?"): the agent still owes them word of
    /// what is happening, so `dead_air` stays open until the agent speaks.
    dead_air_owed: bool,
    /// Abuse waiting for the customer to pause: since when, and the proposals (the limit, and
    /// `breathe` when it came in an outburst).
    pending_abuse: Option<(u64, Vec<Proposal>)>,
    /// The end of the customer's latest words heard (partials included).
    last_customer_heard_ms: u64,
    /// Content stems (numbers aside) the customer said since the agent's last answer.
    unanswered: Vec<String>,
    /// Content stems of the turn in which the customer said how they feel (empathy owed).
    felt_words: Vec<String>,
    /// When the customer's last final of substance ended.
    last_customer_end_ms: u64,
    /// Content stems of the customer's recent turns, for recognising an agent who reflects them.
    recent_customer: VecDeque<(u64, Vec<String>)>,
    /// The customer is mid-turn: an agent's "entiendo" now is listening, not an answer.
    pub customer_speaking: bool,
    /// When the customer last had a shouting-grade outburst.
    last_outburst_ms: Option<u64>,
    /// When the agent last said who will take the call and why.
    transfer_explained_ms: Option<u64>,
    /// When the customer last asked to be passed to someone ("pásame con un supervisor"): a
    /// transfer they asked for is not blind, they know who and why.
    transfer_asked_ms: Option<u64>,
    /// When the agent last named a department or person, and last gave a reason.
    transfer_who_ms: Option<u64>,
    transfer_why_ms: Option<u64>,
    /// Highest level the customer reached: a customer upset earlier and calmed by a warm agent
    /// is still owed a transfer that says who and why.
    peak_level: Option<Level>,
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
        // Numbers read out (an account, an amount) are data, not the complaint's content.
        let mine: Vec<&String> = {
            let mut v: Vec<&String> = a
                .content
                .iter()
                .filter(|w| !crate::language::lexicon::is_number_word(w))
                .collect();
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

    /// After the rules on a customer final: remember what they said (an agent reflecting it shows
    /// empathy) and, when they said something of substance, start a new agent turn.
    pub fn customer_said(&mut self, now: u64, a: &Analysis) {
        if a.backchannel_only || a.words < 2 {
            return;
        }
        self.agent_turn = AgentTurn::default();
        self.last_customer_end_ms = now;
        let mut stems = a.content.clone();
        stems.sort();
        stems.dedup();
        self.unanswered.extend(
            stems
                .iter()
                .filter(|w| !crate::language::lexicon::is_number_word(w))
                .cloned(),
        );
        self.recent_customer.push_back((now, stems));
        while self.recent_customer.len() > RECENT_CUSTOMER_TURNS {
            self.recent_customer.pop_front();
        }
    }

    /// The agent starts answering: abuse still waiting for the customer's pause is shown now,
    /// before the answer is read (a limit in it then clears it).
    pub fn flush_abuse(&mut self, out: &mut Outcome) {
        if let Some((_, abuse)) = self.pending_abuse.take() {
            out.proposals.extend(abuse);
        }
    }

    /// The customer is speaking (a partial or final of theirs, not a backchannel, ending here).
    pub fn customer_heard(&mut self, end_ms: u64) {
        self.last_customer_heard_ms = self.last_customer_heard_ms.max(end_ms);
    }

    /// The agent said something (partial or final, not a backchannel): a silence the customer broke
    /// is now answered.
    pub fn agent_spoke(&mut self, out: &mut Outcome) {
        if self.dead_air_owed {
            self.dead_air_owed = false;
            self.dead_air = None;
            out.resolve(Kind::DeadAir, "speech_resumed");
        }
    }

    /// A final agent segment's delivery, for judging "no me he enterado" after it. An answer to a
    /// request to slow down ends that request; said at a normal pace, it clears `slow_down`.
    pub fn note_agent_speech(
        &mut self,
        cfg: &CampaignConfig,
        words: usize,
        syllables: u32,
        start: u64,
        end: u64,
        out: &mut Outcome,
    ) {
        let dur = end.saturating_sub(start);
        let asked = self.slow_request.take().is_some();
        let calm_pace = dur >= 2_000
            && f64::from(syllables) * 1000.0 / (dur as f64) < cfg.timing.fast_clear_syllables_per_s;
        if !asked && calm_pace && self.fast_speech.is_none() && self.monologue.is_none() {
            out.resolve(Kind::SlowDown, "pace_normal");
        }
        let over = self.last_customer_end_ms.saturating_sub(start) >= TALK_OVER_MS;
        let t = &mut self.agent_turn;
        if t.words == 0 {
            t.began_over_customer = over;
        }
        t.words += words;
        t.syllables = t.syllables.saturating_add(syllables);
        t.speech_ms += end.saturating_sub(start);
        t.last_end_ms = t.last_end_ms.max(end);
    }

    /// The customer's own words about the agent's delivery.
    fn on_cues(
        &mut self,
        cues: &CustomerCues,
        now: u64,
        seg: &str,
        silence_before_ms: u64,
        abusive: bool,
    ) {
        // Could not follow / asked to slow down → slow_down, whatever the measured rate.
        let pace = cues.pace_request.as_ref().map(|h| {
            let mut e = hit_ev(seg, h);
            e.rule = format!("{} — the customer asked the agent to slow down", e.rule);
            e
        });
        let lost = cues
            .not_understood
            .as_ref()
            .filter(|h| self.agent_turn.hard_to_follow(h.weight >= STRONG_CUE))
            .map(|h| {
                let t = &self.agent_turn;
                let mut e = hit_ev(seg, h);
                e.rule = format!(
                    "{} — the customer could not follow {} words at {:.1} syllables/s",
                    e.rule,
                    t.words,
                    t.rate().unwrap_or(0.0)
                );
                e
            });
        if let Some(e) = pace.or(lost) {
            self.slow_request = Some(e);
        }
        // "¿Hola? ¿Hay alguien?" after a silence → dead_air, even under the silence threshold.
        if let Some(h) = cues
            .presence_check
            .as_ref()
            .filter(|_| silence_before_ms >= PRESENCE_MIN_SILENCE_MS)
        {
            let mut e = hit_ev(seg, h);
            e.rule = format!(
                "{} — the customer checked whether anyone is there after {} s of silence",
                e.rule,
                silence_before_ms / 1000
            );
            self.dead_air = Some(e);
            self.dead_air_owed = true;
        }
        // "Déjeme terminar" → let_them_finish, until they finish their turn uninterrupted. Not
        // when it comes with abuse ("¡CONCHATUMARE, NO ME INTERRUMPAS!!"): the limit and
        // `breathe` ("escucha y luego responde") are the advice then, one at a time.
        if let Some(h) = cues.let_me_finish.as_ref().filter(|h| {
            !abusive
                && (h.weight >= STRONG_CUE
                    || now.saturating_sub(self.agent_turn.last_end_ms) <= 3_000)
        }) {
            let mut e = hit_ev(seg, h);
            e.rule = format!("{} — the customer asked to be let finish", e.rule);
            self.interrupted = Some(vec![e]);
        }
    }

    /// Rules on a final customer segment, after the frustration score moved.
    #[allow(clippy::too_many_arguments)]
    pub fn on_customer(
        &mut self,
        cfg: &CampaignConfig,
        now: u64,
        seg: &str,
        text: &str,
        a: &Analysis,
        r: &CustomerReading,
        evidence: &[Evidence],
        repeated: Option<Evidence>,
        cues: &CustomerCues,
        silence_before_ms: u64,
        before: Level,
        after: Level,
        score: f64,
        out: &mut Outcome,
    ) {
        let pc = &cfg.nudges;
        self.peak_level = self.peak_level.max(Some(after));
        self.last_turn_heated = r.heat > 0.0;
        self.on_cues(cues, now, seg, silence_before_ms, r.abuse.is_some());
        let heat_ev: Vec<Evidence> = evidence
            .iter()
            .filter(|e| !e.quote.is_empty())
            .cloned()
            .collect();

        // A shouting-grade outburst: capitals with an exclamation or real heat, or "!!" with real
        // heat ("NO ESTABA ACTIVO!!", "¡CÁLLESE!").
        let shouting = a.shouting || shouted_clause(text);
        let outburst = after >= Level::Tense
            && ((shouting && (a.exclamations >= 1 || r.heat >= BREATHE_SHOUT_HEAT))
                || (a.exclamations >= 2 && r.heat >= BREATHE_SHOUT_HEAT));
        if outburst {
            self.last_outburst_ms = Some(now);
        }
        let fury_recently = self
            .last_outburst_ms
            .is_some_and(|t| now.saturating_sub(t) <= OUTBURST_MEMORY_MS);
        if let Some(h) = &r.abuse {
            self.last_abuse_ms = Some(now);
            // Shown when the customer pauses (the agent cannot answer mid-outburst, and the
            // panel changing while they listen is noise), or after `ABUSE_MAX_WAIT_MS` at most.
            let since = self.pending_abuse.as_ref().map_or(now, |(t, _)| *t);
            let mut abuse = vec![propose(Kind::AbuseBoundary, vec![hit_ev(seg, h)])];
            // Abuse shouted or exclaimed ("¡que no funciona…! ¿estás sorda?"), right after an
            // outburst, or with the customer jumping to angry in one turn, is the moment to
            // breathe before answering: as urgent as the limit itself. A plain insult said flat
            // gets the limit alone.
            let exclaimed = shouting || a.exclamations >= 1;
            let jumped = after == Level::Angry && before <= Level::Tense;
            if fury_recently || exclaimed || jumped {
                let why = if fury_recently {
                    "hostility: abuse in a shouting-grade outburst".to_string()
                } else if exclaimed {
                    "hostility: abuse exclaimed at the agent".to_string()
                } else {
                    format!(
                        "hostility: abuse as the customer jumped from {} to angry",
                        before.as_str()
                    )
                };
                abuse.push(Proposal {
                    severity: Some(crate::protocol::Severity::Urgent),
                    ..propose(Kind::Breathe, vec![ev(seg, "", why), hit_ev(seg, h)])
                });
            }
            self.pending_abuse = Some((since, abuse));
        } else if self
            .last_abuse_ms
            .is_some_and(|t| now.saturating_sub(t) >= ABUSE_QUIET_MS)
        {
            out.resolve(Kind::AbuseBoundary, "abuse_stopped");
        }

        // `breathe` is about the agent's composure under hostility, and needs hostility evidence
        // in this very turn: a shouting-grade outburst, or the customer turning angry with
        // insults or swearing at the agent or the company, or fury words ("estoy que exploto").
        // Never a level alone, being fed up ("estoy harta", "ya me cansé"), one complaint,
        // sarcasm or a firm demand for a supervisor (that wants `offer_escalation` first). Abuse
        // is handled above (urgent). Worry and fear call for empathy instead.
        let insulting = matches!(r.insult_target, Some(Target::Agent | Target::Company));
        let fury = a
            .hits
            .iter()
            .any(|h| h.cat == Cat::Anger && !h.negated && base_weight(h) >= BREATHE_FURY_WEIGHT);
        // Contempt for the company ("es una vergüenza", "me están tomando el pelo", "esto es un
        // robo"): the strongest complaints, not "sigue sin funcionar".
        let contempt = a.hits.iter().any(|h| {
            h.cat == Cat::Complaint && !h.negated && base_weight(h) >= BREATHE_CONTEMPT_WEIGHT
        });
        let entered_angry = after == Level::Angry && before < Level::Angry;
        let hostile = outburst || entered_angry && (insulting || fury || contempt);
        let demand_only = r.escalation.is_some() && !r.shouting;
        // With abuse, `breathe` comes (urgent) with the limit, when the customer pauses.
        if hostile && r.abuse.is_none() && !r.distress_only && !demand_only {
            let why = if outburst {
                "hostility: shouting-grade outburst".to_string()
            } else if insulting {
                format!(
                    "hostility: insults at the {} as the customer turned angry (from {})",
                    if r.insult_target == Some(Target::Agent) {
                        "agent"
                    } else {
                        "company"
                    },
                    before.as_str()
                )
            } else {
                format!(
                    "hostility: {} as the customer turned angry (from {})",
                    if fury {
                        "fury words"
                    } else {
                        "contempt for the company"
                    },
                    before.as_str()
                )
            };
            let mut evidence = vec![ev(seg, "", why)];
            evidence.extend(heat_ev.iter().take(3).cloned());
            if let Some((_, abuse)) = self.pending_abuse.as_mut() {
                // The same outburst as abuse still waiting for the customer's pause: shown with
                // the limit, as urgent.
                if !abuse.iter().any(|p| p.kind == Kind::Breathe) {
                    abuse.push(Proposal {
                        severity: Some(crate::protocol::Severity::Urgent),
                        ..propose(Kind::Breathe, evidence)
                    });
                }
            } else {
                // Breathing helps before the next answer, not twenty seconds later: immediate.
                out.proposals.push(Proposal {
                    immediate: true,
                    ..propose(Kind::Breathe, evidence)
                });
            }
        }
        if after < Level::Frustrated {
            out.resolve(Kind::Breathe, "customer_calmer");
        }

        // A threat to leave ("me doy de baja", "si no me la mandan esta semana cancelo") wants a
        // concrete next step (or a retention offer) on the agent's answer; a demand for a
        // supervisor or a formal complaint wants the escalation offered.
        let churn = r
            .escalation
            .as_ref()
            // Refusing a charge ("no voy a pagar eso") is a dispute, not a threat to leave.
            .filter(|h| h.cat == Cat::Churn && !h.term.contains("pag"))
            .map(|h| hit_ev(seg, h))
            .or_else(|| {
                a.constructions
                    .iter()
                    .find(|c| {
                        matches!(
                            c.kind,
                            crate::language::constructions::Kind::Condition
                                | crate::language::constructions::Kind::Ultimatum
                        )
                    })
                    .map(|c| {
                        ev(
                            seg,
                            &c.quote,
                            format!("{} — a threat to leave", c.kind.rule()),
                        )
                    })
            })
            .or_else(|| cues.leave_threat.as_ref().map(|h| hit_ev(seg, h)));
        if let Some(e) = churn {
            self.pending_next_step_request = Some(e);
        }
        let accepting = self
            .escalation_offered_ms
            .is_some_and(|t| now.saturating_sub(t) <= OFFER_ACCEPTED_MS);
        let demand = r.escalation.as_ref().filter(|h| h.cat != Cat::Churn);
        if let Some(h) = demand
            .or(cues.escalation_request.as_ref())
            .filter(|h| !(accepting && matches!(h.cat, Cat::Supervisor | Cat::EscalationRequest)))
        {
            self.pending_escalation = Some(hit_ev(seg, h));
            if h.cat == Cat::Supervisor || h.cat == Cat::EscalationRequest {
                self.transfer_asked_ms = Some(now);
            }
        }
        // Due on the agent's answer to the demand, if it offers no escalation (see `on_agent`).

        // "Déjeme terminar" is about being cut off (`let_them_finish`), not about repeating.
        let asked_to_finish = |h: &crate::language::Hit| {
            cues.let_me_finish
                .as_ref()
                .is_some_and(|f| h.first <= f.last && f.first <= h.last)
        };
        let rejected = cues
            .misunderstood
            .as_ref()
            .filter(|h| h.weight >= STRONG_CUE || after >= Level::Frustrated)
            .map(|h| {
                let mut e = hit_ev(seg, h);
                e.rule = format!(
                    "{} — the customer says the agent has not understood",
                    e.rule
                );
                e
            });
        let rejected_now = rejected.is_some();
        let listening = r
            .repetition
            .as_ref()
            .filter(|h| !asked_to_finish(h))
            .map(|h| hit_ev(seg, h))
            .or(rejected)
            // (The engine passes a repeat only when heated or from a tense customer.)
            .or(repeated);
        // "Ya se lo he dicho", "usted no me escucha" and the same complaint told again are all
        // due on the agent's next answer if it still does not sum up the case (see `on_agent`):
        // an agent who answers "entonces, el cobro doble de marzo…" needed no nudge.
        let repeated_complaint = r.repetition.is_none() && !rejected_now && listening.is_some();
        if let Some(e) = listening {
            self.understanding_rejected = true;
            self.said_not_understood |= rejected_now;
            self.pending_repetition = Some(e);
        }

        let what_now = cues
            .what_now
            .as_ref()
            .filter(|h| h.weight >= STRONG_CUE || after >= Level::Tense || before >= Level::Tense);
        // Due on the agent's answer, if it brings no concrete step (see `on_agent`).
        if let Some(h) = r.next_step_request.as_ref().or(what_now) {
            self.pending_next_step_request = Some(hit_ev(seg, h));
        }

        let rose_again = self
            .empathy_shown_at
            .is_none_or(|at| score >= at + EMPATHY_AGAIN_RISE);
        // Empathy is owed for feelings the customer showed (anger or being fed up, worry,
        // clear sarcasm, indignation — "es una vergüenza" —, a command, insults, shouting) or for what is at stake for them ("mi mamá ya no
        // tiene pastillas", "vivo de esa bodega"): not for facts alone (a repeat contact, "sigue
        // igual", "me dijeron que…"), however they add up, where a firm customer wants the
        // problem handled.
        // A negation a few words before a feeling is often another clause's ("nadie me contesta,
        // estoy desesperada"); right before it, it is the feeling's ("no estoy arrecha").
        let negated_here = |h: &Hit| {
            h.negated
                && (h.first.saturating_sub(NEGATION_REACH)..=h.first)
                    .filter_map(|i| a.folded.get(i))
                    .any(|w| DIRECT_NEGATORS.contains(&w.as_str()))
        };
        let feeling = a
            .hits
            .iter()
            .filter(|h| {
                (FEELING_CATS.contains(&h.cat)
                    || h.cat == Cat::Sarcasm && base_weight(h) >= SARCASM_FEELING_WEIGHT
                    || h.cat == Cat::Complaint && base_weight(h) >= INDIGNATION_WEIGHT)
                    && !negated_here(h)
            })
            // Insults and swearing say how the customer feels about the agent or the company;
            // "qué bruta soy" or "el weón de mi cuñado" do not.
            .find(|h| {
                h.file != crate::language::lexicon::LexiconFile::Insults
                    || matches!(
                        crate::language::customer::target(a, h),
                        Target::Agent | Target::Company
                    )
            })
            .map(|h| hit_ev(seg, h))
            .or_else(|| outburst.then(|| ev(seg, "", "shouting")))
            .or_else(|| crate::language::customer::declared_complaint(a).map(|h| hit_ev(seg, h)))
            // The reading of this very turn is evidence of a feeling too: a turn that reads
            // frustrated on its own words — disappointment, sarcasm or resignation no list names
            // ("qué lindo es esperar una hora con la musiquita"), read by the rules or, sure of
            // it, by the learned reading — owes acknowledgement. Not when all it carries are
            // facts (a repeat contact, a counted wait): the firm customer wants them handled.
            .or_else(|| {
                // Sure, and on words the rules read nothing in: when they read facts (a
                // repeat contact, "sigue igual"), the learned reading builds on those.
                let sure_model = r.model_read.is_some_and(|m| {
                    m.level >= Level::Frustrated && m.p >= MODEL_FEELING_P && m.rules == Level::Calm
                });
                let felt_words = heat_ev
                    .iter()
                    .find(|e| sure_model && e.rule.starts_with("model/"));
                (r.heat >= cfg.frustration.frustrated && after >= Level::Frustrated)
                    .then_some(felt_words)
                    .flatten()
                    .map(|e| {
                        let mut e = e.clone();
                        e.rule = format!("{} — the turn reads frustrated", e.rule);
                        e
                    })
            });
        let impact = cues.impact.as_ref().map(|h| {
            let mut e = hit_ev(seg, h);
            e.rule = format!("{} — what is at stake for the customer", e.rule);
            e
        });
        // Real worry or fear (not "un poco asustado"), or a feeling named in the first person
        // ("estoy bien frustrado"), call for empathy sooner: from tense.
        let declared = crate::language::customer::declared_feeling(a).is_some();
        // What is at stake is owed whatever the heat ("necesito esa plata para la renta y la
        // medicina de mi mamá", said calmly, answered with the contract's small print).
        let impact_now = impact.is_some();
        let threshold = if impact_now {
            pc.empathy_level.min(Level::Calm)
        } else if r.distress_only && r.heat >= DISTRESS_EMPATHY_HEAT || declared {
            pc.empathy_level.min(Level::Tense)
        } else {
            pc.empathy_level
        };
        let felt = feeling.is_some();
        if let Some(e) = impact
            .or(feeling)
            .filter(|_| after >= threshold && rose_again)
        {
            if self.empathy_owed.is_none() {
                self.identification_asked = false;
                self.empathy_felt = false;
            }
            self.empathy_felt |= felt;
            self.stake_restated |= impact_now && self.stake_stepped;
            if felt {
                self.felt_words = a.content.clone();
            }
            self.empathy_owed_since = now;
            self.owed_unanswered = true;
            self.empathy_threshold = Some(threshold);
            self.empathy_owed = Some(e);
            // The same complaint told again, this time with how it feels ("…ya estoy
            // preocupado"): the feeling is what is owed first; an answer that acknowledges it
            // hears the retelling too. Words about not being heard still owe a summary.
            if felt && repeated_complaint {
                self.pending_repetition = None;
            }
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
            // (A stake said calmly this turn stays owed.)
            if !impact_now {
                self.empathy_owed = None;
            }
            // The customer's own words about being unheard count even from a calm level.
            if self
                .pending_repetition
                .as_ref()
                .is_none_or(|e| e.segment_id != seg)
            {
                self.pending_repetition = None;
                self.understanding_rejected = false;
                self.said_not_understood = false;
            }
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
        let paraphrase = r.paraphrase.is_some() || !r.data_request && self.echoes_complaint(a);
        // Empathy in the agent's own words: a stock-free empathy phrase, ownership ("me encargo
        // yo"), or an evaluative frame about the customer's own situation ("tres semanas sin poder
        // teletrabajar, eso es muy duro").
        let owns = r
            .ownership
            .as_ref()
            .is_some_and(|h| h.weight >= OWNERSHIP_EMPATHY_WEIGHT);
        // An evaluative frame or a paraphrase ("a ver si lo he entendido: le cobraron dos cuotas
        // de cuarenta y cinco euros…") around the customer's own facts shows they were heard.
        let reflects =
            (r.validation.is_some() || r.paraphrase.is_some()) && self.reflects_customer(now, a);
        let empathy = r.empathy.is_some() || owns || reflects;

        if empathy || next_step || paraphrase {
            self.last_good_answer_ms = Some(now);
        }
        if empathy || paraphrase {
            self.heard_at = Some(now);
        }

        if empathy {
            self.empathy_owed = None;
            self.stake_stepped = false;
            self.stake_restated = false;
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
        if r.escalation_offer.is_some() || transfer_owned {
            self.escalation_offered_ms = Some(now);
        }
        if r.escalation_offer.is_some() || next_step || transfer_owned {
            self.pending_escalation = None;
            out.resolve(Kind::OfferEscalation, "escalation_offered");
        }
        // A repeated complaint is also heard when the answer settles it with a concrete step; a
        // customer who said they are not understood needs to hear their case back.
        if paraphrase || next_step && !self.said_not_understood {
            self.pending_repetition = None;
            self.understanding_rejected = false;
            self.said_not_understood = false;
            let reason = if paraphrase {
                "paraphrased"
            } else {
                "next_step_offered"
            };
            out.resolve(Kind::ActiveListening, reason);
        }
        if r.boundary.is_some() {
            self.pending_abuse = None;
            out.resolve(Kind::AbuseBoundary, "limit_set");
        }
        if empathy || paraphrase || next_step {
            self.stock_phrases.clear();
            out.resolve(Kind::AvoidEmptyPhrases, "said_something_real");
        }
        // Who and why may be said over several segments ("lo paso con fraudes, con mi compañera"
        // … "para que revise el cargo").
        if r.target.is_some() || r.transfer.as_ref().is_some_and(|t| t.target.is_some()) {
            self.transfer_who_ms = Some(now);
        }
        if r.reason.is_some() {
            self.transfer_why_ms = Some(now);
        }
        let recent =
            |t: Option<u64>| t.is_some_and(|t| now.saturating_sub(t) <= TRANSFER_EXPLAINED_MS);
        let explained = transfer_owned
            || r.reason.is_some() && r.target.is_some()
            || recent(self.transfer_who_ms) && recent(self.transfer_why_ms);
        if explained {
            self.transfer_explained_ms = Some(now);
        }
        if self.unowned_transfer && explained {
            self.unowned_transfer = false;
            out.resolve(Kind::OwnTheTransfer, "transfer_explained");
        }

        // A bare "entiendo" to an upset customer who has finished is an answer too: the empty one.
        let rote_answer =
            r.rote_ack.is_some() && level >= pc.empathy_level && !self.customer_speaking;
        // Empty stock phrases to a customer who is already tense; a bare "entiendo" is one too
        // when the customer is upset.
        let mut rote = false;
        if level >= pc.stock_phrase_level && !(empathy || paraphrase || next_step) {
            let before = self.stock_phrases.len();
            for h in &r.stock {
                self.stock_phrases.push(hit_ev(seg, h));
            }
            // A bare acknowledgement counts once per answer: not on top of a stock phrase.
            if let Some(h) = r
                .rote_ack
                .as_ref()
                .filter(|_| rote_answer && r.stock.is_empty())
            {
                self.stock_phrases.push(ev(
                    seg,
                    &h.quote,
                    "rote acknowledgement to an upset customer, nothing about their case",
                ));
            }
            let said_now = self.stock_phrases.len() > before;
            let formula_now = !r.stock.is_empty();
            // Answering an owed "resume su caso" with a formula: the sharper advice is due at
            // once.
            let owed = self.pending_repetition.is_some();
            let enough = self.stock_phrases.len() as u32 >= pc.stock_phrase_count;
            if said_now && (enough || owed && formula_now) {
                let n = self.stock_phrases.len();
                let recent = self.stock_phrases[n.saturating_sub(3)..].to_vec();
                out.proposals.push(Proposal {
                    // About this very answer: the rolling budget must not hide it.
                    timely: level >= pc.empathy_level || !enough,
                    // One formula is enough only as the sharper form of an open nudge.
                    replace_only: !enough,
                    ..propose(Kind::AvoidEmptyPhrases, recent)
                });
                if enough && !std::mem::replace(&mut self.formulas_advised, true) {
                    // "Menos fórmulas" covers the summary that was owed: one piece of advice.
                    self.pending_repetition = None;
                    self.understanding_rejected = false;
                    self.said_not_understood = false;
                }
            }
            // An answer that is only a formula is `avoid_empty_phrases` business (on the second
            // one, as the guidance's own "sí claro, le entiendo perfectamente"), not empathy's.
            let acknowledgement = r.rote_ack.is_some()
                || r.stock
                    .iter()
                    .any(|h| h.cat == crate::language::lexicon::Cat::EmptyEmpathy);
            if said_now && acknowledgement && r.substantive_words < 4 {
                rote = true;
            }
        }

        // A blind transfer of an upset customer, or to "otra área" whoever the customer is; not
        // a reminder ("la transfiero ahora") of a transfer whose who and why were just said.
        let recent =
            |t: Option<u64>| t.is_some_and(|t| now.saturating_sub(t) <= TRANSFER_EXPLAINED_MS);
        // Asked for ("pásame con ella"), the why is the customer's own: naming who is enough
        // ("ahora lo paso con la doctora Silva"); "le transfiero, no cuelgue" still says nobody.
        let named = r
            .transfer
            .as_ref()
            .is_some_and(|t| t.target.is_some() && t.vague.is_none());
        let just_explained =
            recent(self.transfer_explained_ms) || recent(self.transfer_asked_ms) && named;
        if let Some(t) = r
            .transfer
            .as_ref()
            .filter(|_| !just_explained && !explained)
        {
            let upset = Some(level).max(self.peak_level) >= Some(pc.transfer_level);
            // A vague target ("otra área") fires whatever the level: the reading often takes a
            // worried customer for a calm one, and "otra área" is never owned.
            if !t.owned() && (upset || t.vague.is_some()) {
                // Only useful before the line goes to someone else.
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
                // Shown at once when the line is going now ("le transfiero, no cuelgue");
                // otherwise when the agent's turn is over: who and why often come in the next
                // segment ("le comunico con la supervisora…" … "que sí puede llamar a
                // cumplimiento"), and then nothing is missing.
                let going_now = r.hold.is_some();
                out.proposals.push(Proposal {
                    immediate: going_now,
                    timely: !going_now,
                    ..propose(Kind::OwnTheTransfer, e)
                });
            }
        }

        // The agent answered an upset customer without acknowledging how they feel. Not while
        // setting a limit on abuse, and not when this answer is what `avoid_empty_phrases` is
        // proposed for: that is the more precise advice.
        // Asking for the account number or the ID is identification, not the answer: advice on
        // what the answer lacked (empathy, a step, a summary) waits for the answer about the
        // customer's problem.
        // The first such request after the customer said how they feel is identification; a
        // customer who said so and gets question after question is being answered coldly.
        // "Entiendo. ¿Me da el número de póliza?" to a customer who said how they feel is the rote
        // acknowledgement the guidance names, whatever the request after it.
        let rote_then_request = self.empathy_felt
            && a.folded.first().is_some_and(|w| {
                matches!(
                    w.trim_matches(|c: char| !c.is_alphanumeric()),
                    "entiendo" | "comprendo"
                )
            });
        let identification = r.data_request
            && !rote_then_request
            && !(self.empathy_felt && (self.identification_asked || self.owed_unanswered));
        if r.data_request {
            self.identification_asked = true;
        }
        let substantive = (a.words >= 4 && !a.backchannel_only || rote_answer)
            && r.hold.is_none()
            && !identification;
        let setting_limit = r.boundary.is_some();
        // A factual answer to what the customer just said ("sí, la autorización figura
        // pendiente de auditoría" to "me sigue apareciendo pendiente") addresses their concern:
        // not the cold answer. Their words since the agent's last answer are what it answers.
        let shared: std::collections::BTreeSet<&String> = a
            .content
            .iter()
            .filter(|w| self.unanswered.contains(*w))
            .collect();
        // To a customer who said how they feel, the facts answered must include that turn's:
        // "el vuelo fue cancelado" does not answer "mi papá entra a cirugía… estoy angustiada".
        let answers_feeling_turn = !self.empathy_felt
            || self.empathy_owed.is_none()
            || shared.iter().any(|w| self.felt_words.contains(w));
        let responsive =
            shared.len() >= RESPONSIVE_SHARED_WORDS && !r.mentions_id && answers_feeling_turn;
        if substantive {
            self.unanswered.clear();
        }
        if substantive || r.data_request {
            self.owed_unanswered = false;
        }
        // What is at stake, said without a feeling ("trabaja desde la casa", "es para la renta"),
        // is answered by a concrete step that takes care of it.
        let stake_handled =
            next_step && self.empathy_owed.is_some() && !self.empathy_felt && !self.stake_restated;
        if stake_handled {
            self.empathy_owed = None;
            self.stake_stepped = true;
        }
        // An answer that blames the customer, minimises what happened or changes the subject,
        // to a customer who is upset, owed empathy or just complained, is the cold answer whatever words their
        // feeling came in, and whatever it shares with them.
        let dismissed = r.dismissal.as_ref().filter(|_| {
            !empathy
                && !setting_limit
                && (level >= Level::Tense || self.empathy_owed.is_some() || self.last_turn_heated)
                && self.pending_escalation.is_none()
        });
        if let Some(d) = dismissed {
            let mut evidence: Vec<Evidence> = self.empathy_owed.iter().cloned().collect();
            let mut e = hit_ev(seg, d);
            e.rule = format!("{} — a dismissive answer to an upset customer", e.rule);
            evidence.push(e);
            out.proposals.push(propose(Kind::ShowEmpathy, evidence));
        }
        if substantive
            && !empathy
            && !setting_limit
            && !rote
            && !responsive
            && !stake_handled
            && dismissed.is_none()
        {
            let moment = now.saturating_sub(self.empathy_owed_since) <= EMPATHY_MOMENT_MS;
            if let Some(e) = self.empathy_owed.as_ref().filter(|_| moment) {
                // Owed since the customer showed how they feel; still owed while they are at
                // least at the level it became owed at. Not on an answer that cut the customer
                // off (`let_them_finish` is the advice for it), nor while a demand for a
                // supervisor or "¿y ahora qué hago?" is unanswered (`offer_escalation` or
                // `offer_next_step` first: the answer failed what was asked).
                let cut_off = self.agent_turn.began_over_customer;
                if Some(level) >= self.empathy_threshold
                    && !cut_off
                    && self.pending_escalation.is_none()
                    && (next_step || self.pending_next_step_request.is_none())
                {
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

        // Still no concrete next step while the customer stays upset, or after they asked (or
        // threatened to leave): then a short answer ("lamento escuchar eso") is the answer too.
        let answers_request = self.pending_next_step_request.is_some()
            && a.words >= 2
            && !a.backchannel_only
            && r.hold.is_none()
            && !r.data_request;
        if (substantive || answers_request) && !next_step && !setting_limit {
            // A formula ("sí claro, le entiendo perfectamente") is `avoid_empty_phrases`
            // business while the customer has not asked for a step.
            // The wait counts from the agent's last answer that showed they heard the customer
            // (empathy, a paraphrase): an agent working through the case with them is on track.
            // An answer made of formulas ("le entiendo perfectamente… disculpe las molestias…")
            // is `avoid_empty_phrases`' to answer, the more precise advice.
            let formulaic = r.stock.len() >= 2;
            let waited = !rote
                && !formulaic
                && !empathy
                && !paraphrase
                && self.frustrated_since.is_some_and(|t| {
                    let since = self.heard_at.map_or(t, |h| h.max(t));
                    now.saturating_sub(since) >= pc.next_step_after_ms
                });
            let asked = self.pending_next_step_request.clone();
            let asked_now = asked.is_some();
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
                out.proposals.push(Proposal {
                    // They asked and this answer has no step: about this very answer.
                    timely: asked_now,
                    ..propose(Kind::OfferNextStep, evidence)
                });
            }
        }
        // An unanswered demand, whatever else the answer does ("le transfiero, no cuelgue"): not
        // held back by the rolling budget.
        // An announced check ("déjeme revisar la lectura, un momento") is the agent working on
        // it: the answer comes after it, as with a request for identification.
        if a.words >= 4 && !next_step && !setting_limit && !r.data_request && r.hold.is_none() {
            if let Some(e) = &self.pending_escalation {
                out.proposals.push(Proposal {
                    timely: true,
                    ..propose(Kind::OfferEscalation, vec![e.clone()])
                });
            }
        }
        // The agent answered a customer who had to repeat themselves without showing they heard.
        if substantive && !paraphrase {
            if let Some(e) = &self.pending_repetition {
                out.proposals.push(Proposal {
                    timely: self.understanding_rejected,
                    ..propose(Kind::ActiveListening, vec![e.clone()])
                });
            }
        }
    }

    /// The agent's words share a content word with what the customer said recently (their facts,
    /// duration, impact): an evaluative frame around them is empathy, not small talk.
    fn reflects_customer(&self, now: u64, a: &Analysis) -> bool {
        self.recent_customer
            .iter()
            .filter(|(t, _)| now.saturating_sub(*t) <= RECENT_CUSTOMER_MS)
            .any(|(_, theirs)| a.content.iter().any(|w| theirs.contains(w)))
    }

    /// The agent's words reuse the content of the customer's last complaint: a paraphrase.
    /// The customer's case is often told over several turns, and a summary reuses the words of
    /// the case, not only of the latest grumble: any of the last three complaints counts.
    fn echoes_complaint(&self, a: &Analysis) -> bool {
        self.complaints.iter().rev().take(3).any(|(_, _, theirs)| {
            a.content
                .iter()
                .filter(|w| theirs.contains(w))
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                >= 3
        })
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
                formal_hold,
                last_segment,
            } => {
                let secs = at_ms.saturating_sub(*silent_since_ms) / 1000;
                let rule = if *formal_hold {
                    format!("silence of {secs} s after a hold was announced")
                } else if *hold {
                    format!("silence of {secs} s after a quick check was announced, no check-back")
                } else {
                    format!("silence of {secs} s while the customer waits, no hold announced")
                };
                self.dead_air = Some(ev(last_segment, "", rule));
            }
            TimingEvent::DeadAirEnd {
                speaker: Speaker::Customer,
                ..
            } => {
                // "¿Hola?" ends the silence but the customer is still waiting for the agent.
                self.dead_air_owed = true;
            }
            TimingEvent::DeadAirEnd { .. } => {
                self.dead_air = None;
                self.dead_air_owed = false;
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
    pub fn lasting(&mut self, now: u64, out: &mut Outcome) {
        let paused = now.saturating_sub(self.last_customer_heard_ms) >= ABUSE_PAUSE_MS;
        let abuse_due = self
            .pending_abuse
            .as_ref()
            .is_some_and(|(since, _)| paused || now.saturating_sub(*since) >= ABUSE_MAX_WAIT_MS);
        if abuse_due {
            if let Some((_, abuse)) = self.pending_abuse.take() {
                out.proposals.extend(abuse);
            }
        }
        let now = |kind, evidence| Proposal {
            kind,
            evidence,
            immediate: true,
            severity: None,
            timely: false,
            replace_only: false,
        };
        if let Some(e) = &self.interrupted {
            // Shown once the interrupting words are over (the agent's turn boundary, or the
            // customer speaking again), outside the rolling budget: mid-sentence it is noise.
            out.proposals.push(Proposal {
                immediate: false,
                timely: true,
                ..now(Kind::LetThemFinish, e.clone())
            });
        }
        if let Some(e) = &self.dead_air {
            out.proposals.push(now(Kind::DeadAir, vec![e.clone()]));
        }
        let pace: Vec<Evidence> = self
            .slow_request
            .iter()
            .chain(self.fast_speech.iter())
            .chain(self.monologue.iter())
            .cloned()
            .collect();
        if !pace.is_empty() {
            out.proposals.push(now(Kind::SlowDown, pace));
        }
    }
}

/// A cue's lexicon weight before intensifiers: "de verdad estoy harta" is still being fed up.
fn base_weight(h: &Hit) -> f64 {
    if h.intensity > 0.0 {
        h.weight / h.intensity
    } else {
        h.weight
    }
}

/// At least this many words in capitals in a row are a shouted clause ("NO ESTABA ACTIVO!! yo
/// lo desactivé"), even when the rest of the turn is not: one capitalised word is emphasis
/// ("cobrado DOS veces"), an acronym ("el DNI") nothing.
const SHOUTED_RUN_WORDS: usize = 2;

/// A run of words in capitals (ASR or chat that keeps case) that is shouting, not emphasis.
fn shouted_clause(text: &str) -> bool {
    let mut run = 0;
    let mut long_in_run = false;
    for w in text.split_whitespace() {
        let letters: Vec<char> = w.chars().filter(|c| c.is_alphabetic()).collect();
        let caps = letters.len() >= 2 && letters.iter().all(|c| c.is_uppercase());
        if caps {
            run += 1;
            long_in_run |= letters.len() >= 4;
            if run >= SHOUTED_RUN_WORDS && long_in_run {
                return true;
            }
        } else if !letters.is_empty() {
            run = 0;
            long_in_run = false;
        }
    }
    false
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
