//! One call's state machine: events in, protocol outputs out, on media time only.

use std::collections::VecDeque;
use std::sync::Arc;

use super::rules::{ev, Conversation, Outcome};
use super::{Event, Resources};
use crate::config::CampaignConfig;
use crate::language::detect::LanguageGate;
use crate::language::frustration::Frustration;
use crate::language::region::Region;
use crate::language::{agent, cues, model, Analysis, PartialReading, Side};
use crate::nudges::policy::{Decision, Policy};
use crate::protocol::{
    CallStart, FeedbackCounts, InterruptionCounts, Level, Nudge, NudgeClear, Outbound, Segment,
    Speaker, State, Summary, TalkShare, TimingSummary,
};
use crate::timing::{id_hash, syllables, SegmentInfo, TimingModel};

/// A first event within this much of 0 means the platform's clock starts at the call's start.
const ORIGIN_ZERO_WITHIN_MS: u64 = 60_000;
/// Finalised segment ids remembered to ignore duplicate finals (bounded).
const FINAL_IDS_KEPT: usize = 512;
/// Without Spanish lexicons, a short overlap of this many words at most is taken as a backchannel.
const FOREIGN_BACKCHANNEL_WORDS: usize = 2;

/// How long a turn that showed anger lets later complaints take the customer to angry.
const ANGER_MEMORY_MS: u64 = 120_000;
/// A retold complaint without heat of its own counts as a repetition from this level on.
const REPEAT_LEVEL: Level = Level::Tense;

/// One call: everything calma knows about it, driven only by [`Event`]s.
#[derive(Debug)]
pub struct Call {
    res: Arc<Resources>,
    cfg: Arc<CampaignConfig>,
    call_id: String,
    agent_id: String,
    campaign: String,
    /// When the customer last showed anger (see [`ANGER_MEMORY_MS`]).
    anger_shown_ms: Option<u64>,
    /// The customer's region for regional word readings (`call.start.region`, else the
    /// campaign's `region`).
    region: Option<Region>,
    seq: u64,
    now_ms: u64,
    ended: bool,
    segments: u64,
    /// Hashes of the latest finalised segment ids, oldest first (8 bytes each; see [`id_hash`]).
    finals: VecDeque<u64>,
    /// Speaker of each recent segment id (partials and finals; bounded like `finals`): a
    /// revision must keep its speaker.
    speakers: VecDeque<(u64, Speaker)>,
    language: LanguageGate,
    frustration: Frustration,
    timing: TimingModel,
    conv: Conversation,
    policy: Policy,
    feedback: FeedbackCounts,
    last_state: Option<State>,
    /// Media time of the first event: platforms may not start their clocks at 0.
    origin_ms: Option<u64>,
    /// The agent's turn may still go on until this media time (their last final plus the turn
    /// join gap), unless the customer speaks first: advice waits for the turn to end.
    agent_turn_until: u64,
    /// Earlier contacts of this customer in the last 7 days (from `call.start`).
    prior_contacts_7d: u32,
    /// Customer finals read so far.
    customer_finals: u32,
    /// The level of the last customer final when it was a turn only the learned reading raised
    /// above the conversation's level, held back (see [`Call::confirmed_reading`]).
    unconfirmed_raise: Option<Level>,
}

/// Earlier contacts in a week from which a call starts tense ("a third call this week").
const REPEAT_CONTACTS_TENSE: u32 = 2;
/// Heat of a repeat contact at call start: enough for *tense*, never more.
const REPEAT_CONTACT_HEAT: f64 = 0.25;
const REPEAT_CONTACT_CEILING: f64 = 0.3;

impl Call {
    /// Start a call with the campaign settings of `res` at this moment.
    pub fn new(start: &CallStart, res: Arc<Resources>) -> Call {
        let campaign = start
            .campaign
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let cfg = res.config.campaign(&campaign);
        let region = match start.region.as_deref() {
            Some(code) => Region::parse(code),
            None => cfg.region,
        };
        Call {
            region,
            anger_shown_ms: None,
            call_id: start.call_id.clone(),
            agent_id: start.agent_id.clone(),
            // A Spanish region ("es-CL") says the customer speaks Spanish: it hints the language
            // gate when no `language` is given (short unaccented turns otherwise read as English).
            language: LanguageGate::new(start.language.as_deref().or(region.map(|_| "es"))),
            frustration: Frustration::new(cfg.frustration.clone()),
            timing: TimingModel::new(cfg.timing.clone()),
            conv: Conversation::default(),
            policy: Policy::new(),
            feedback: FeedbackCounts::default(),
            last_state: None,
            agent_turn_until: 0,
            prior_contacts_7d: start.prior_contacts_7d.unwrap_or(0),
            customer_finals: 0,
            unconfirmed_raise: None,
            origin_ms: None,
            seq: 0,
            now_ms: 0,
            ended: false,
            segments: 0,
            finals: VecDeque::new(),
            speakers: VecDeque::new(),
            campaign,
            cfg,
            res,
        }
    }

    pub fn call_id(&self) -> &str {
        &self.call_id
    }
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }
    pub fn campaign(&self) -> &str {
        &self.campaign
    }
    /// Media time reached so far (latest segment end or tick).
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }
    pub fn is_ended(&self) -> bool {
        self.ended
    }
    /// Personal data is masked in what this call sends out (campaign `privacy.redact_pii`);
    /// shells that forward transcript text (the supervisor feed) honour it too.
    pub fn redacts_pii(&self) -> bool {
        self.cfg.privacy.redact_pii
    }

    /// Feed one event; returns every message the call produces, in order.
    pub fn on_event(&mut self, event: Event) -> Vec<Outbound> {
        let mut out = self.process(event);
        if self.cfg.privacy.redact_pii {
            for o in &mut out {
                redact_outbound(o);
            }
        }
        out
    }

    fn process(&mut self, event: Event) -> Vec<Outbound> {
        if self.ended {
            return Vec::new();
        }
        let mut out = Vec::new();
        match event {
            Event::Segment(seg) => self.on_segment(seg, &mut out),
            Event::Tick { at_ms } => {
                self.set_origin(at_ms);
                self.now_ms = self.now_ms.max(at_ms);
                let mut o = Outcome::default();
                for e in self.timing.advance(self.now_ms) {
                    self.conv.on_timing(&self.cfg, &e, &mut o);
                }
                self.frustration.decay_to(self.now_ms);
                self.apply(o, &mut out);
            }
            Event::Feedback { nudge_id, useful } => {
                if self.policy.feedback(&nudge_id, useful).is_some() {
                    if useful {
                        self.feedback.useful += 1;
                    } else {
                        self.feedback.not_useful += 1;
                    }
                }
            }
            Event::End => {
                for d in self.policy.clear_all(self.now_ms, "call_ended") {
                    self.emit_decision(d, &mut out);
                }
                let s = self.summary();
                out.push(Outbound::Summary(Box::new(s)));
                self.ended = true;
            }
        }
        out
    }

    /// The speaker an earlier revision of `segment_id` had, if the call still remembers it
    /// (the last 512 segment ids).
    pub fn speaker_of(&self, segment_id: &str) -> Option<Speaker> {
        let h = id_hash(segment_id);
        self.speakers
            .iter()
            .rev()
            .find(|(id, _)| *id == h)
            .map(|(_, s)| *s)
    }

    /// Agent feedback on one of this call's nudges; an id the call never sent is refused with
    /// `unknown_nudge` (so invented ids cannot inflate feedback counts).
    pub fn feedback(
        &mut self,
        nudge_id: String,
        useful: bool,
    ) -> Result<Vec<Outbound>, crate::protocol::ProtocolError> {
        if self.nudge_kind(&nudge_id).is_none() {
            return Err(crate::protocol::ProtocolError::new(
                crate::protocol::ErrorCode::UnknownNudge,
                format!("call {} sent no nudge `{nudge_id}`", self.call_id),
            )
            .for_call(&self.call_id));
        }
        Ok(self.on_event(Event::Feedback { nudge_id, useful }))
    }

    /// Nudge kind of a nudge id this call sent (for feedback metrics).
    pub fn nudge_kind(&self, nudge_id: &str) -> Option<&str> {
        self.policy
            .records()
            .iter()
            .find(|r| r.nudge_id == nudge_id)
            .map(|r| r.kind.as_str())
    }

    fn on_segment(&mut self, seg: Segment, out: &mut Vec<Outbound>) {
        self.segments += 1;
        if self.speaker_of(&seg.segment_id).is_none() {
            self.speakers
                .push_back((id_hash(&seg.segment_id), seg.speaker));
            if self.speakers.len() > FINAL_IDS_KEPT {
                self.speakers.pop_front();
            }
        }
        self.set_origin(seg.start_ms);
        self.now_ms = self.now_ms.max(seg.end_ms);
        let spanish = self.language.is_spanish();
        let side = match seg.speaker {
            Speaker::Customer => Side::Customer,
            Speaker::Agent => Side::Agent,
        };
        let duplicate_final = seg.is_final && self.finals.contains(&id_hash(&seg.segment_id));
        let new_final = seg.is_final && !duplicate_final;
        // Only a new final is read in full; partials and repeats feed the timing model alone,
        // which needs the same few facts (backchannel, hold, cut off) from a lighter pass.
        let analysis =
            new_final.then(|| self.res.analyzer.analyze_in(&seg.text, side, self.region));
        let reading = match &analysis {
            Some(a) => PartialReading::from(a),
            None => self.res.analyzer.analyze_partial(&seg.text, side),
        };
        let backchannel = if spanish {
            reading.backchannel_only
        } else {
            reading.words <= FOREIGN_BACKCHANNEL_WORDS
        };
        let quote = quote_of(&seg.text);
        let info = SegmentInfo {
            segment_id: &seg.segment_id,
            speaker: seg.speaker,
            start_ms: seg.start_ms,
            end_ms: seg.end_ms,
            is_final: seg.is_final,
            quote: &quote,
            backchannel,
            announces_hold: spanish && reading.announces_hold,
            formal_hold: spanish && reading.formal_hold,
            syllables: if spanish {
                syllables::count(&seg.text)
            } else {
                0
            },
            ends_cut_off: spanish && reading.ends_cut_off,
        };
        let mut o = Outcome::default();
        // The silence this segment broke, measured before it joins the timing model.
        let silence_before = self.timing.silence_before(&seg.segment_id, seg.start_ms);
        let mut tev = self.timing.on_segment(&info);
        tev.extend(self.timing.advance(self.now_ms));
        for e in &tev {
            self.conv.on_timing(&self.cfg, e, &mut o);
        }

        if side == Side::Agent && !backchannel {
            self.conv.agent_spoke(&mut o);
        }
        if side == Side::Customer && !backchannel {
            self.conv.customer_heard(seg.end_ms);
        }
        if side == Side::Agent && !backchannel {
            let mut first = Outcome::default();
            self.conv.flush_abuse(&mut first);
            if !first.proposals.is_empty() {
                self.apply(first, out);
            }
        }
        match side {
            Side::Agent if seg.is_final && !backchannel => {
                self.agent_turn_until = seg.end_ms + self.cfg.timing.turn_join_gap_ms;
            }
            Side::Customer if !backchannel => self.agent_turn_until = 0,
            _ => {}
        }
        if let Some(analysis) = &analysis {
            self.remember_final(&seg.segment_id);
            self.language
                .observe(self.res.analyzer.detector(), &seg.text);
            if self.language.is_spanish() {
                match side {
                    Side::Customer => {
                        self.on_customer_final(&seg, analysis, silence_before, &mut o)
                    }
                    Side::Agent => {
                        if !backchannel {
                            self.conv.note_agent_speech(
                                &self.cfg,
                                analysis.words,
                                info.syllables,
                                seg.start_ms,
                                seg.end_ms,
                                &mut o,
                            );
                        }
                        self.conv.customer_speaking = self.timing.customer_speaking();
                        let r = agent::read(analysis);
                        let level = self.frustration.level();
                        let score = self.frustration.score();
                        self.conv.on_agent(
                            &self.cfg,
                            self.now_ms,
                            &seg.segment_id,
                            analysis,
                            &r,
                            level,
                            score,
                            &mut o,
                        );
                    }
                }
            }
        }
        // Timing heat (customer cutting the agent off) counts in every language.
        for (h, e) in std::mem::take(&mut o.heat) {
            self.frustration.heat(self.now_ms, h, vec![e]);
        }
        self.apply(o, out);
        if new_final {
            self.maybe_state(out);
        }
    }

    /// The customer turn's reading, with one guard for calls: a turn that only the learned
    /// reading's words raise above the rules *and* above the conversation's level (a calm call to
    /// tense, a tense one to frustrated) waits for a second such turn before it counts. A bag of
    /// words misreads one turn in a long call often enough (blind calm calls peaked *tense*, tense
    /// ones *frustrated*, on one raised turn) that a single raise is no evidence; the first turn
    /// of a call and a turn the rules read as hot are read as they are (the customer's words
    /// about the conversation, "¿sigues ahí?", drive their own nudges but are held back here too:
    /// exempting them read calm calls worse).
    fn confirmed_reading(
        &mut self,
        analysis: &Analysis,
        cues: &cues::CustomerCues,
    ) -> crate::language::customer::CustomerReading {
        let analyzer = &self.res.analyzer;
        let mut reading = analyzer.read_customer_rules(analysis);
        let model = analyzer.reading_model();
        let mut placed = model.place(analysis, &reading);
        // The words alone lifting the conversation to a level it has not reached (a calm call to
        // tense, a tense one to frustrated) wait for a second such turn.
        let rules = model::rule_level(&reading);
        let model_raise =
            rules == Level::Calm && placed.level > rules && placed.level > self.frustration.level();
        let hold_back = model_raise && self.customer_finals > 0 && self.unconfirmed_raise.is_none();
        // Two such turns confirm each other only as far as both go: a story read *tense*, then
        // one read *frustrated*, say *tense*.
        if let Some(first) = self.unconfirmed_raise.filter(|_| model_raise) {
            placed.level = placed.level.min(first);
        }
        self.customer_finals += 1;
        // A held-back turn about the conversation itself ("hola, ¿seguís ahí?", "más despacio")
        // says nothing of the customer's mood: it cannot be the first of two.
        let about_the_call = cues.presence_check.is_some()
            || cues.pace_request.is_some()
            || cues.not_understood.is_some();
        self.unconfirmed_raise = (hold_back && !about_the_call).then_some(placed.level);
        if !hold_back {
            model.apply(&placed, &mut reading);
        }
        reading
    }

    fn on_customer_final(
        &mut self,
        seg: &Segment,
        analysis: &Analysis,
        silence_before_ms: u64,
        o: &mut Outcome,
    ) {
        let now = self.now_ms;
        let cues = cues::read(analysis);
        let reading = self.confirmed_reading(analysis, &cues);
        let repeated = self.conv.repeated_complaint(
            now,
            &seg.segment_id,
            &quote_of(&seg.text),
            analysis,
            reading.heat > 0.0,
        );
        let before = self.frustration.level();
        let before_level = before;
        let mut evidence: Vec<_> = reading
            .evidence
            .iter()
            .map(|(q, r)| ev(&seg.segment_id, q, r.clone()))
            .collect();
        let mut heat = reading.heat;
        // Saying the same thing again is frustration when it is heated (a cue of its own, not
        // only the learned reading's words) or the customer already was tense; a calm customer
        // retelling ("el mes pasado me quedé sin datos") is not.
        let heated = heat > 0.0
            && reading
                .evidence
                .iter()
                .any(|(_, rule)| !rule.starts_with("model/"));
        let repeated = repeated.filter(|_| heated || before_level >= REPEAT_LEVEL);
        if let Some(e) = &repeated {
            heat = 1.0 - (1.0 - heat) * (1.0 - self.cfg.frustration.repeated_complaint_heat);
            evidence.push(e.clone());
        }
        let evidence_for_rules = evidence.clone();
        if reading.cool > 0.0 {
            let mut keep = 1.0 - reading.cool;
            if self.conv.good_answer_recent(now) {
                keep *= self.cfg.frustration.after_good_answer_factor;
            }
            self.frustration.cool(now, keep, evidence.clone());
        }
        // Only a customer who has shown anger (this turn or within the last two minutes) gets to
        // angry: distress, complaints and firm requests pile up to frustrated at most.
        if reading.can_anger {
            self.anger_shown_ms = Some(now);
        }
        let anger_shown = self
            .anger_shown_ms
            .is_some_and(|t| now.saturating_sub(t) <= ANGER_MEMORY_MS);
        if heat > 0.0 && !anger_shown {
            let ceiling = self.cfg.frustration.angry - 0.01;
            self.frustration.heat_below(now, heat, ceiling, evidence);
        } else if heat > 0.0 {
            self.frustration.heat(now, heat, evidence);
        } else if reading.cool > 0.0 {
            // cooled above
        } else if analysis.words >= 1 {
            let keep = if self.conv.good_answer_recent(now) {
                self.cfg.frustration.after_good_answer_factor
            } else {
                self.cfg.frustration.neutral_turn_factor
            };
            self.frustration.cool(
                now,
                keep,
                vec![ev(
                    &seg.segment_id,
                    "",
                    "customer spoke without frustration cues",
                )],
            );
        }
        let after = self.frustration.level();
        self.conv.on_customer(
            &self.cfg,
            now,
            &seg.segment_id,
            &seg.text,
            analysis,
            &reading,
            &evidence_for_rules,
            repeated,
            &cues,
            silence_before_ms,
            before,
            after,
            self.frustration.score(),
            o,
        );
        self.conv.customer_said(now, analysis);
    }

    /// The first media time seen is the call's origin (for warm-up and duration). A platform
    /// starting at 0 sends its first segment a few seconds in: origin stays 0 then.
    fn set_origin(&mut self, t: u64) {
        if self.origin_ms.is_none() {
            let origin = if t < ORIGIN_ZERO_WITHIN_MS { 0 } else { t };
            self.origin_ms = Some(origin);
            self.policy.set_origin(origin);
            if self.prior_contacts_7d >= REPEAT_CONTACTS_TENSE {
                let n = self.prior_contacts_7d + 1;
                self.frustration.heat_below(
                    origin,
                    REPEAT_CONTACT_HEAT,
                    REPEAT_CONTACT_CEILING,
                    vec![ev(
                        "call.start",
                        &format!("llamada {n} en 7 días"),
                        "history/repeat_contact",
                    )],
                );
            }
        }
    }

    fn remember_final(&mut self, id: &str) {
        self.finals.push_back(id_hash(id));
        if self.finals.len() > FINAL_IDS_KEPT {
            self.finals.pop_front();
        }
    }

    /// Turn rule outcomes into policy decisions and protocol messages.
    fn apply(&mut self, mut o: Outcome, out: &mut Vec<Outbound>) {
        let now = self.now_ms;
        self.conv.lasting(now, &mut o);
        for d in self.policy.expire(&self.cfg.nudges, now) {
            self.emit_decision(d, out);
        }
        for (kind, reason) in o.resolved {
            if let Some(d) = self.policy.resolve(now, kind, reason) {
                self.emit_decision(d, out);
            }
        }
        let agent_speaking = self.timing.agent_speaking() || now < self.agent_turn_until;
        for d in self
            .policy
            .propose(&self.cfg.nudges, now, agent_speaking, o.proposals)
        {
            self.emit_decision(d, out);
        }
    }

    fn emit_decision(&mut self, d: Decision, out: &mut Vec<Outbound>) {
        self.seq += 1;
        let msg = match d {
            Decision::Open {
                nudge_id,
                kind,
                text,
                severity,
                evidence,
            } => Outbound::Nudge(Nudge {
                call_id: self.call_id.clone(),
                seq: self.seq,
                nudge_id,
                kind: kind.as_str().to_string(),
                text,
                severity,
                at_ms: self.now_ms,
                evidence,
            }),
            Decision::Clear {
                nudge_id,
                kind,
                reason,
            } => Outbound::NudgeClear(NudgeClear {
                call_id: self.call_id.clone(),
                seq: self.seq,
                nudge_id,
                kind: kind.as_str().to_string(),
                at_ms: self.now_ms,
                reason,
            }),
        };
        out.push(msg);
    }

    fn current_state(&self) -> State {
        // Talk share and interruption counts only: no need to rebuild turns for them.
        let snap = self.timing.talk_snapshot();
        State {
            call_id: self.call_id.clone(),
            seq: self.seq,
            at_ms: self.now_ms,
            language: self.language.code().to_string(),
            frustration: self.frustration.view(self.now_ms),
            interruptions: InterruptionCounts {
                by_agent: snap.interruptions_by_agent,
                by_customer: snap.interruptions_by_customer,
            },
            talk_share: TalkShare {
                agent: round2(snap.agent_share()),
            },
        }
    }

    /// Send `state` when something a viewer would see changed.
    fn maybe_state(&mut self, out: &mut Vec<Outbound>) {
        let s = self.current_state();
        let changed = match &self.last_state {
            None => true,
            Some(p) => {
                p.frustration.score != s.frustration.score
                    || p.frustration.level != s.frustration.level
                    || p.frustration.trend != s.frustration.trend
                    || p.interruptions != s.interruptions
                    || p.talk_share != s.talk_share
                    || p.language != s.language
            }
        };
        if changed {
            self.seq += 1;
            let s = State { seq: self.seq, ..s };
            self.last_state = Some(s.clone());
            out.push(Outbound::State(s));
        }
    }

    /// The call summary as it stands now.
    pub fn summary(&self) -> Summary {
        let snap = self.timing.snapshot();
        let timing = self.timing.summary();
        Summary {
            call_id: self.call_id.clone(),
            seq: self.seq + 1,
            agent_id: self.agent_id.clone(),
            campaign: self.campaign.clone(),
            language: self.language.code().to_string(),
            duration_ms: self.now_ms.saturating_sub(self.origin_ms.unwrap_or(0)),
            talk_share: TalkShare {
                agent: round2(snap.agent_share()),
            },
            interruptions: InterruptionCounts {
                by_agent: snap.interruptions_by_agent,
                by_customer: snap.interruptions_by_customer,
            },
            timing: TimingSummary {
                agent_syllables_per_s: timing.agent_syllables_per_s.map(round2),
                ..timing
            },
            frustration_peak: self.frustration.peak_view(),
            frustration_end: self.frustration.view(self.now_ms),
            frustration_trajectory: self.frustration.trajectory().to_vec(),
            nudges: self.policy.records().to_vec(),
            feedback: self.feedback,
            segments: self.segments,
            next_steps: self.conv.next_steps.clone(),
        }
    }
}

/// Mask personal data in every quote an output carries.
fn redact_outbound(o: &mut Outbound) {
    fn quotes(evidence: &mut [crate::protocol::Evidence]) {
        for e in evidence {
            if let std::borrow::Cow::Owned(r) = crate::language::pii::redact(&e.quote) {
                e.quote = r;
            }
        }
    }
    match o {
        Outbound::Nudge(n) => quotes(&mut n.evidence),
        Outbound::State(s) => quotes(&mut s.frustration.evidence),
        Outbound::Summary(s) => {
            quotes(&mut s.frustration_peak.evidence);
            quotes(&mut s.frustration_end.evidence);
        }
        Outbound::NudgeClear(_) => {}
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The first words of a segment, for evidence (bounded so evidence stays small).
fn quote_of(text: &str) -> String {
    const MAX: usize = 80;
    let t = text.trim();
    if t.chars().count() <= MAX {
        return t.to_string();
    }
    // More than MAX characters: the first MAX, copied in one piece.
    let cut = t.char_indices().nth(MAX).map_or(t.len(), |(i, _)| i);
    let mut s = String::with_capacity(cut + '…'.len_utf8());
    s.push_str(&t[..cut]);
    if let Some(i) = s.rfind(' ') {
        s.truncate(i);
    }
    s.push('…');
    s
}
