//! The customer's side of one segment: how much heat it carries, whether it abuses the agent,
//! demands escalation, says it already explained, or asks what happens next.

use super::lexicon::Cat;
use super::{Analysis, Hit};

/// Verbs of reported speech: an insult after them is quoted ("me dijo idiota"), not aimed.
const REPORTING: &[&str] = &[
    "dijo",
    "dijeron",
    "dice",
    "dicen",
    "decia",
    "decian",
    "grito",
    "gritaron",
    "insulto",
    "insultaron",
    "trato",
    "llamaron",
    "puso",
    "pusieron",
];
/// How far back (words) a verb of reported speech governs what follows.
const REPORTED_WINDOW: usize = 8;
/// Someone else whose anger the customer reports ("mi marido está furioso").
const THIRD_PARTIES: &[&str] = &[
    "marido", "esposo", "esposa", "mujer", "hijo", "hija", "madre", "padre", "mama", "papa",
    "jefe", "jefa", "vecino", "vecina", "suegra", "suegro", "hermano", "hermana", "novio", "novia",
    "abuelo", "abuela", "socio", "socia",
];
/// Third-person copulas that attach an emotion to that someone.
const THIRD_PERSON_COPULA: &[&str] = &["esta", "estan", "anda", "andan", "quedo", "se"];
/// Weight kept for quoted insults and reported third-party anger.
const REPORTED_FACTOR: f64 = 0.35;
/// Heat of swearing on its own: emphasis, not a grievance ("joder, qué rápido"). In Spain it is
/// everyday punctuation, so alone it barely counts; next to a complaint it amplifies (x1.2).
const PROFANITY_ALONE_HEAT: f64 = 0.05;

/// The words follow a verb of reported speech ("le dijo a mi hijo que era un idiota", "mi esposo
/// dice que son unos ladrones"): someone else's words, not the customer's own.
fn quoted(a: &Analysis, h: &Hit) -> bool {
    let from = h.first.saturating_sub(REPORTED_WINDOW);
    a.folded[from..h.first]
        .iter()
        .any(|w| REPORTING.contains(&w.as_str()))
}

/// The emotion belongs to someone else named before it ("mi marido está furioso").
fn third_party(a: &Analysis, h: &Hit) -> bool {
    let copula = h
        .first
        .checked_sub(1)
        .is_some_and(|i| THIRD_PERSON_COPULA.contains(&a.folded[i].as_str()))
        || h.first
            .checked_sub(2)
            .is_some_and(|i| THIRD_PERSON_COPULA.contains(&a.folded[i].as_str()));
    copula
        && a.folded[..h.first]
            .iter()
            .any(|w| THIRD_PARTIES.contains(&w.as_str()))
}

/// Second-person words that aim an insult at the listener ("eres un inútil", "vos sos un boludo").
const SECOND_PERSON: &[&str] = &[
    "eres", "sos", "sois", "seas", "seais", "usted", "ustedes", "tu", "vos", "te", "ti", "contigo",
    "tus", "os", "vosotros", "estas",
];

/// Heat one utterance can carry without abuse, fury or shouting.
const SINGLE_UTTERANCE_CAP: f64 = 0.65;
/// A cue this strong is fury on its own.
const FURY_WEIGHT: f64 = 0.8;
/// Abuse aimed at the agent is at least this hot.
const ABUSE_HEAT: f64 = 0.8;
/// Escalation cues below this weight are requests, not demands or threats.
const ESCALATION_MIN_WEIGHT: f64 = 0.3;
/// Praise next to at least this much heat reads as sarcasm.
const SARCASM_MIN_HEAT: f64 = 0.15;
/// Heat kept when thanks or an apology come with the grievance.
const MIXED_HEAT_FACTOR: f64 = 0.5;
/// Lexicon weights below this are notes, not cues.
const INFORMATIONAL_WEIGHT: f64 = 0.1;
/// Shouting (capitals) and repeated '!' multiply the heat of what was said.
const SHOUT_FACTOR: f64 = 1.3;
const EXCLAMATION_FACTOR: f64 = 1.15;
/// Shouting with no lexicon words still shows some heat.
const SHOUT_ALONE_HEAT: f64 = 0.2;

/// What one customer segment says about their state.
#[derive(Debug, Clone, Default)]
pub struct CustomerReading {
    /// 0..1: how much this segment raises frustration (probabilistic OR of its cues).
    pub heat: f64,
    /// 0..1: how much it calms things (thanks, satisfaction, apology); zero when it is sarcasm.
    pub cool: f64,
    /// The hits that made up heat or cool, with their rule names.
    pub evidence: Vec<(String, String)>,
    /// An insult or abusive phrase aimed at the agent.
    pub abuse: Option<Hit>,
    /// Asks for a supervisor, threatens to leave or to complain formally.
    pub escalation: Option<Hit>,
    /// Says they already explained, or that the agent is not listening.
    pub repetition: Option<Hit>,
    /// Asks what happens now ("¿y ahora qué?").
    pub next_step_request: Option<Hit>,
    /// Positive words inside a complaint ("qué maravilla, otra vez sin luz").
    pub sarcasm: bool,
    pub shouting: bool,
    /// All the heat is distress (worry, fear, helplessness): it calls for empathy, not "breathe".
    pub distress_only: bool,
}

fn aimed_at_listener(a: &Analysis, hit: &Hit) -> bool {
    let folded = &a.folded;
    if hit.cat == Cat::Directed {
        return true;
    }
    // A vocative: the insult is (nearly) all that was said, or closes the sentence.
    if a.words <= 4 || hit.last + 1 >= folded.len() {
        return true;
    }
    folded.iter().any(|w| SECOND_PERSON.contains(&w.as_str()))
}

/// Read a customer segment.
pub fn read(a: &Analysis) -> CustomerReading {
    let mut r = CustomerReading {
        shouting: a.shouting,
        ..Default::default()
    };
    let mut keep_cold = 1.0;
    let mut profanity: f64 = 0.0;
    let mut fury = false;
    let (mut distress, mut other_heat) = (false, false);
    let mut cool_parts = Vec::new();
    // A calm word inside a grievance phrase ("gracias por nada") belongs to the grievance.
    let heat_spans: Vec<(usize, usize)> = a
        .hits
        .iter()
        .filter(|h| h.weight > 0.0 && !matches!(h.cat, Cat::Positive | Cat::Hold))
        .map(|h| (h.first, h.last))
        .collect();
    let inside_heat = |h: &Hit| {
        heat_spans
            .iter()
            .any(|(f, l)| h.first <= *l && *f <= h.last)
    };
    // ...and a heat word inside a longer calm phrase belongs to the calm phrase ("perdone que le
    // moleste" is politeness, "de puta madre" is delight in Spain).
    let calm_spans: Vec<(usize, usize)> = a
        .hits
        .iter()
        .filter(|h| h.weight < 0.0 && !h.negated)
        .map(|h| (h.first, h.last))
        .collect();
    let inside_calm = |h: &Hit| {
        calm_spans
            .iter()
            .any(|(f, l)| *f <= h.first && h.last <= *l && (l - f) > (h.last - h.first))
    };
    for h in &a.hits {
        if h.weight > 0.0 && inside_calm(h) {
            continue;
        }
        // Entries weighted under 0.1 document a trap ("no manches" is surprise, not anger):
        // recognised, but they carry no heat.
        if h.weight.abs() < INFORMATIONAL_WEIGHT {
            continue;
        }
        let w = h.weight.clamp(0.0, 0.95);
        let contributes = match h.cat {
            // "no me parece nada bien" is one complaint, not a complaint plus a negated "bien".
            Cat::Positive => h.negated && !inside_heat(h),
            Cat::Thanks | Cat::Satisfaction | Cat::Agreement | Cat::Apology => {
                if !h.negated && !inside_heat(h) {
                    cool_parts.push(h);
                }
                false
            }
            Cat::Insult | Cat::InsultPeer | Cat::Directed => {
                if h.negated || quoted(a, h) {
                    false
                } else {
                    if r.abuse.is_none() && aimed_at_listener(a, h) {
                        r.abuse = Some(h.clone());
                    }
                    // A peer word ("boludo", "güey") not aimed at anyone is no heat.
                    h.cat != Cat::InsultPeer || r.abuse.is_some()
                }
            }
            Cat::Anger
            | Cat::Distress
            | Cat::Complaint
            | Cat::RepeatContact
            | Cat::Sarcasm
            | Cat::NextStepRequest
            | Cat::Profanity
            | Cat::Supervisor
            | Cat::Churn
            | Cat::Legal
            | Cat::AlreadySaid
            | Cat::NotListened => !h.negated,
            // Other categories (a hold request) say nothing about frustration.
            _ => false,
        };
        if !contributes {
            continue;
        }
        match h.cat {
            // Only a real demand or threat asks for escalation; a cancellation request
            // ("quiero dar de baja la línea") carries little weight and is not one.
            Cat::Supervisor | Cat::Churn | Cat::Legal
                if r.escalation.is_none() && h.weight >= ESCALATION_MIN_WEIGHT =>
            {
                r.escalation = Some(h.clone())
            }
            Cat::AlreadySaid | Cat::NotListened if r.repetition.is_none() => {
                r.repetition = Some(h.clone())
            }
            Cat::NextStepRequest if r.next_step_request.is_none() => {
                r.next_step_request = Some(h.clone())
            }
            Cat::Sarcasm => r.sarcasm = true,
            _ => {}
        }
        let w = if (h.cat == Cat::Anger && third_party(a, h)) || quoted(a, h) {
            w * REPORTED_FACTOR
        } else {
            w
        };
        if h.cat == Cat::Distress {
            distress = true;
        } else if h.cat != Cat::Profanity {
            other_heat = true;
        }
        if h.cat == Cat::Profanity {
            profanity = profanity.max(w);
        } else {
            fury |= w >= FURY_WEIGHT;
            keep_cold *= 1.0 - w;
        }
        r.evidence.push((h.quote.clone(), h.rule()));
    }
    let mut heat = 1.0 - keep_cold;
    // Swearing amplifies a grievance; alone it is emphasis, and next to praise it is delight
    // ("qué pasada, joder, funciona genial").
    let praise = cool_parts
        .iter()
        .any(|h| h.cat == Cat::Satisfaction || h.cat == Cat::Thanks);
    if profanity > 0.0 {
        if heat > 0.0 {
            heat = (heat * 1.2).min(1.0);
        } else if !praise {
            heat = PROFANITY_ALONE_HEAT.min(profanity);
        }
    }
    // One utterance says "frustrated" at most; anger is reached over turns, or at once by abuse,
    // a fury-grade word ("furioso", "hijo de puta") or shouting.
    if r.abuse.is_some() {
        heat = heat.max(ABUSE_HEAT);
        r.evidence
            .push((String::new(), "abuse aimed at the agent".into()));
    } else if !fury && !a.shouting {
        heat = heat.min(SINGLE_UTTERANCE_CAP);
    }
    if heat > 0.0 {
        if a.shouting {
            heat *= SHOUT_FACTOR;
            r.evidence
                .push((String::new(), "shouting (capitals)".into()));
        }
        if a.exclamations >= 2 {
            heat *= EXCLAMATION_FACTOR;
            r.evidence.push((String::new(), "exclamations".into()));
        }
    } else if a.shouting {
        heat = SHOUT_ALONE_HEAT;
        r.evidence
            .push((String::new(), "shouting (capitals)".into()));
    }
    r.heat = heat.clamp(0.0, 1.0);
    r.distress_only = distress && !other_heat && r.abuse.is_none();
    if !cool_parts.is_empty() {
        // Irony uses praise words ("genial", "qué maravilla"); thanks, agreement or an apology
        // next to a grievance are sincere.
        let only_praise = cool_parts.iter().all(|h| h.cat == Cat::Satisfaction);
        let relief = distress && !other_heat;
        if relief {
            // Relief after worry ("qué alivio, estaba preocupadísima") calms; it is not irony.
            r.heat = 0.0;
        }
        if !relief && (r.sarcasm || (r.heat >= SARCASM_MIN_HEAT && only_praise)) {
            // Praise inside a complaint is irony, not relief ("qué maravilla, otra vez sin luz").
            r.sarcasm = true;
        } else {
            // Thanks or an apology next to a grievance ("gracias, perdona, es que ya van tres
            // veces") is a customer coming down while explaining: halve the heat, keep the cool.
            if r.heat > 0.0 {
                r.heat *= MIXED_HEAT_FACTOR;
            }
            let keep = cool_parts
                .iter()
                .fold(1.0, |k, h| k * (1.0 - h.weight.abs().clamp(0.0, 0.9)));
            r.cool = 1.0 - keep;
            for h in cool_parts {
                r.evidence.push((h.quote.clone(), h.rule()));
            }
        }
    }
    r
}
