//! The customer's side of one segment: how much heat it carries, whether it abuses the agent,
//! demands escalation, says it already explained, or asks what happens next.

use super::calibration::Calibration;
use super::constructions::Kind;
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
    "marido",
    "esposo",
    "esposa",
    "mujer",
    "hijo",
    "hija",
    "madre",
    "padre",
    "mama",
    "papa",
    "jefe",
    "jefa",
    "vecino",
    "vecina",
    "vecinos",
    "suegra",
    "suegro",
    "hermano",
    "hermana",
    "novio",
    "novia",
    "abuelo",
    "abuela",
    "socio",
    "socia",
    "cuñado",
    "cuñada",
    "primo",
    "prima",
    "tio",
    "tia",
    "ex",
    "exmarido",
    "exmujer",
    "casero",
    "casera",
    "landlord",
    "dueño",
    "dueña",
    "patron",
    "patrona",
    "compañero",
    "compañera",
    "amigo",
    "amiga",
    "vecindario",
    "nieto",
    "nieta",
    "sobrino",
    "sobrina",
    "yerno",
    "nuera",
    "roommate",
    "boss",
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

/// Whom an insult or a swear word is aimed at: it decides what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The agent on the line: abuse (`abuse_boundary`), anger.
    Agent,
    /// The company or its staff ("son unos ladrones", "ustedes son unos incompetentes"): anger.
    Company,
    /// The situation or a thing ("esto es una mierda", "el router es una porquería"): frustration.
    Situation,
    /// Someone else, or a story ("me robaron unos ladrones", "mi jefe es un idiota"): context only.
    ThirdParty,
    /// The customer themself ("qué tonta soy"): nothing.
    Oneself,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Agent => "agent",
            Target::Company => "company",
            Target::Situation => "situation",
            Target::ThirdParty => "third_party",
            Target::Oneself => "self",
        }
    }
}

/// First-person words that turn an insult on the speaker ("qué tonta soy", "soy un idiota").
const SELF_MARKERS: &[&str] = &[
    "soy", "fui", "era", "siento", "sentí", "senti", "yo", "estuve",
];
/// Words that make the company (its people, as a body) the target.
const COMPANY_MARKERS: &[&str] = &[
    "ustedes",
    "sois",
    "vosotros",
    "son",
    "empresa",
    "compania",
    "companía",
    "banco",
    "operador",
    "operadora",
    "aseguradora",
    "gente",
    "servicio",
    "atencion",
    "tecnicos",
    "tecnico",
    "asesores",
    "ejecutivos",
    "ejecutivo",
    "agentes",
    "uds",
];
/// Story verbs before an insult: the customer tells what happened to them ("me robaron unos
/// ladrones", "entraron unos ladrones").
const STORY_VERBS: &[&str] = &[
    "robaron",
    "robo",
    "entraron",
    "entro",
    "asaltaron",
    "asalto",
    "atracaron",
    "atraco",
    "llevaron",
    "llevo",
    "quitaron",
    "estafaron",
    "engañaron",
    "enganaron",
    "pillaron",
];
/// Determiners before an insult that make it a noun about someone ("unos ladrones").
const DETERMINERS: &[&str] = &[
    "unos", "unas", "los", "las", "esos", "esas", "aquellos", "un", "una", "el", "la", "ese", "esa",
];

/// A cue this strong is fury on its own.
const FURY_WEIGHT: f64 = 0.8;
/// Abuse aimed at the agent is at least this hot.
const ABUSE_HEAT: f64 = 0.8;
/// A complaint this strong (before intensifiers), aimed at the company or the agent, is contempt.
const CONTEMPT_WEIGHT: f64 = 0.65;
/// Escalation cues below this weight are requests, not demands or threats.
const ESCALATION_MIN_WEIGHT: f64 = 0.3;
/// A sarcasm cue at least this strong is irony on its own; weaker ones ("encima", "de lujo") only
/// turn praise into irony, never thanks ("me quitaste un peso de encima, gracias").
const SARCASM_CUE_WEIGHT: f64 = 0.3;

/// Praise next to at least this much heat reads as sarcasm.
const SARCASM_MIN_HEAT: f64 = 0.15;
/// Heat kept when thanks or an apology come with the grievance.
const MIXED_HEAT_FACTOR: f64 = 0.5;
/// Lexicon weights below this are notes, not cues.
const INFORMATIONAL_WEIGHT: f64 = 0.1;
/// Shouting (capitals) and repeated '!' multiply the heat of what was said.
const SHOUT_FACTOR: f64 = 1.3;
const EXCLAMATION_FACTOR: f64 = 1.15;
/// How much of a swear word's weight adds to a grievance it comes with.
const PROFANITY_BLEND: f64 = 0.6;
/// Legal threats at least this strong are hostility.
const HOSTILE_LEGAL_WEIGHT: f64 = 0.5;

/// What one customer segment says about their state.
#[derive(Debug, Clone, Default)]
pub struct CustomerReading {
    /// 0..1: how much this segment raises frustration (probabilistic OR of its cues).
    pub heat: f64,
    /// 0..1: how much it calms things (thanks, satisfaction, apology); zero when it is sarcasm.
    pub cool: f64,
    /// The hits that made up heat or cool, with their rule names.
    pub evidence: Vec<(String, String)>,
    /// An insult or abusive phrase aimed at the agent (never at the company, a thing, someone
    /// else or the customer themself): what `abuse_boundary` answers.
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
    /// The turn shows anger (abuse, hostility, fury, an anger word, a legal threat, shouting):
    /// only such a turn may take the customer to *angry*; complaints, waits and requests pile up
    /// to *frustrated* at most.
    pub can_anger: bool,
    /// Whom the first insult or swear word was aimed at.
    pub insult_target: Option<Target>,
    /// The learned reading moved this turn's heat: its level and probability, and the level
    /// the rules alone read.
    pub model_read: Option<ModelRead>,
}

/// What the learned reading made of a turn whose heat it moved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelRead {
    pub level: crate::protocol::Level,
    pub p: f64,
    pub rules: crate::protocol::Level,
}

/// First-person words of state before a feeling ("estoy bien frustrado", "me siento engañada",
/// "ando desesperado", "me tienen harta", "ya me estoy preocupando").
const DECLARING: &[&str] = &[
    "estoy", "estamos", "ando", "andamos", "siento", "sentimos", "tienen", "tiene", "quede",
    "quedé", "quedamos",
];
/// How many words may stand between the state word and the feeling ("estoy ya muy harta").
const DECLARING_REACH: usize = 3;

/// A feeling the customer names in the first person: anger or distress, not negated, after a
/// word of state. It says the level outright — empathy is owed for it from *tense*, and the
/// learned reading may not talk it down to calm.
pub fn declared_feeling(a: &Analysis) -> Option<&Hit> {
    declared(a, &[Cat::Anger, Cat::Distress])
}

/// A complaint the customer says they are in ("estoy muy decepcionado", "me siento estafada"):
/// a feeling too, for empathy, though the reading weighs it as a complaint.
pub fn declared_complaint(a: &Analysis) -> Option<&Hit> {
    // One word ("decepcionado"), not a state of the service ("estoy sin internet").
    declared(a, &[Cat::Complaint]).filter(|h| h.first == h.last)
}

fn declared<'a>(a: &'a Analysis, cats: &[Cat]) -> Option<&'a Hit> {
    a.hits.iter().find(|h| {
        cats.contains(&h.cat)
            && h.file != super::lexicon::LexiconFile::Insults
            && !h.negated
            && (h.first.saturating_sub(DECLARING_REACH)..=h.first)
                .filter_map(|i| a.folded.get(i))
                .any(|w| DECLARING.contains(&w.as_str()))
    })
}

/// Whom an insult, abusive phrase or swear word is aimed at.
pub fn target(a: &Analysis, hit: &Hit) -> Target {
    let w = &a.folded;
    let n = w.len();
    let has = |from: usize, to: usize, list: &[&str]| {
        w[from.min(n)..to.min(n)]
            .iter()
            .any(|x| list.contains(&x.as_str()))
    };
    let phrase = |p: &[&str]| {
        w.windows(p.len())
            .any(|win| win.iter().zip(p).all(|(x, y)| x == y))
    };
    if quoted(a, hit) {
        return Target::ThirdParty;
    }
    if hit.cat == Cat::Directed {
        return Target::Agent;
    }
    let before = hit.first.saturating_sub(3);
    let after = hit.last + 1;
    // "qué tonta soy", "soy un idiota", "me siento estúpida", "fue mi culpa"
    if has(before, hit.first, SELF_MARKERS) || has(after, after + 2, &["soy", "fui"]) {
        return Target::Oneself;
    }
    // "…cambié una cosa en el teléfono y no me llegaban, qué tarada": an exclamation of one
    // singular insult closing a turn the customer tells in the first person, with no "you" in
    // it, is about themselves.
    let exclaimed = hit.first > 0
        && w[hit.first - 1] == "que"
        && !w[hit.last].ends_with('s')
        && a.breaks.get(after).copied().unwrap_or(true);
    let clause = hit.first.saturating_sub(6);
    let first_person_story = (hit.first.saturating_sub(12)..hit.first)
        .any(|k| matches!(w[k].as_str(), "yo" | "me" | "mi" | "mis" | "conmigo"));
    if exclaimed
        && first_person_story
        && !has(clause, hit.first, SINGULAR_YOU)
        && !has(0, n, &["ustedes", "vosotros", "sois"])
    {
        return Target::Oneself;
    }
    // The customer says it is not about the company ("pero eso no es con ustedes").
    let exonerated = phrase(&["no", "es", "con", "ustedes"])
        || phrase(&["no", "es", "con", "usted"])
        || phrase(&["no", "es", "culpa", "de", "ustedes"])
        || phrase(&["no", "es", "culpa", "suya"])
        || phrase(&["no", "es", "su", "culpa"]);
    // Someone else: named before it ("mi jefe es un idiota"), after it ("el weón de mi
    // cuñado"), or in a story ("me robaron unos ladrones").
    let named = has(hit.first.saturating_sub(6), hit.first, THIRD_PARTIES)
        || (has(after, after + 1, &["de"]) && has(after + 1, after + 4, THIRD_PARTIES));
    // A verb of a story, not the same word as a noun after a determiner ("es un robo").
    let story = (hit.first.saturating_sub(6)..hit.first.min(n)).any(|k| {
        STORY_VERBS.contains(&w[k].as_str())
            && !(k > 0 && matches!(w[k - 1].as_str(), "un" | "el" | "este" | "ese" | "otro"))
    });
    let you_near = has(before, after + 3, SINGULAR_YOU) || after_no_sea(a, hit);
    // "me están tomando el pelo", "nos quieren ver la cara": a third-person plural acting on the
    // customer, the impersonal "they" of a contact-centre call, is the company.
    let they_on_me = (before..hit.first).any(|k| {
        matches!(w[k].as_str(), "me" | "nos")
            && w.get(k + 1)
                .is_some_and(|v| v.len() >= 3 && v.ends_with('n') && !v.ends_with("ion"))
    });
    let company_near = has(hit.first.saturating_sub(4), after + 4, COMPANY_MARKERS) || they_on_me;
    if hit.cat == Cat::Profanity {
        return if you_near && !named && !exonerated {
            Target::Agent
        } else if company_near && !exonerated {
            Target::Company
        } else {
            // Swearing about things ("esto es una mierda") or an interjection ("joder, otra vez").
            Target::Situation
        };
    }
    // "eres una inútil (como todos)", "sos un pelotudo": the second-person copula right before
    // it says whom, whatever else the turn names ("ya me tienen hasta la madre, eres una…").
    if has(
        hit.first.saturating_sub(2),
        hit.first,
        &["eres", "sos", "eris", "eri"],
    ) && !exonerated
    {
        return Target::Agent;
    }
    if named || story || exonerated {
        return Target::ThirdParty;
    }
    if you_near {
        return Target::Agent;
    }
    // A vocative: the insult is (nearly) all that was said, closes it, or opens it before a
    // pause or an order ("malparido, deje de leerme el guion", "pelotudo dejame hablar").
    let opens = hit.first == 0
        && (a.breaks.get(after).copied().unwrap_or(true)
            || w.get(after).is_some_and(|x| imperative_like(x)));
    let determiner = hit.first > 0 && DETERMINERS.contains(&w[hit.first - 1].as_str());
    if company_near || (!determiner && has(0, n, &["ustedes", "vosotros", "sois"])) {
        return Target::Company;
    }
    if a.words <= 3 || after >= n || opens {
        return Target::Agent;
    }
    if determiner {
        // "es un inútil": a predicate about someone; "unos ladrones entraron": a story.
        return if has(
            before,
            hit.first,
            &["es", "son", "eran", "era", "sos", "eres"],
        ) {
            Target::Company
        } else {
            Target::ThirdParty
        };
    }
    // An exclamation at the situation ("hijueputa, ya se cayó otra vez").
    Target::Situation
}

/// Second-person-singular words near an insult aim it at the agent.
const SINGULAR_YOU: &[&str] = &[
    "eres", "sos", "eri", "eris", "tu", "vos", "te", "ti", "contigo", "usted", "oiga", "oye",
    "mira", "mire", "estas", "estai", "seas",
];

/// An order to the listener right after a vocative: "dejame", "escúcheme", "páseme", "deje".
fn imperative_like(w: &str) -> bool {
    (w.len() > 4 && (w.ends_with("me") || w.ends_with("nos")))
        || matches!(
            w,
            "deje"
                | "deja"
                | "mire"
                | "mira"
                | "oiga"
                | "oye"
                | "callate"
                | "escuche"
                | "escucha"
                | "entienda"
                | "aprenda"
                | "haga"
                | "hace"
        )
}

/// "no seas idiota", "no sea guevón": a negative imperative of *ser* before the insult.
fn after_no_sea(a: &Analysis, h: &Hit) -> bool {
    h.first >= 1
        && matches!(
            a.folded[h.first - 1].as_str(),
            "sea" | "seas" | "sean" | "seais"
        )
}

/// An anger word or legal threat at least this strong lets a turn take the customer to angry.
const ANGER_GRADE_WEIGHT: f64 = 0.5;
/// Insults aimed at the company are hostility when at least this strong.
const HOSTILE_INSULT_WEIGHT: f64 = 0.55;
/// Commands to the agent ("no me vengas con…") are hostility when at least this strong.
const HOSTILE_COMMAND_WEIGHT: f64 = 0.6;
/// Most heat a turn reaches by volume and hostility alone, below abuse and fury.
const LOUD_CAP: f64 = 0.85;
/// Heat kept when only agreement ("dale", "vale", "está bien") comes with the grievance.
const AGREEMENT_HEAT_FACTOR: f64 = 0.75;
/// A peer word ("boludo", "güey") aimed at the agent is abuse from this weight up.
const PEER_ABUSE_WEIGHT: f64 = 0.5;
/// Weight kept by an insult aimed at the company rather than at the agent.
const COMPANY_FACTOR: f64 = 1.0;
/// Weight kept by an insult word used about a thing or the situation ("el router es un inútil").
const SITUATION_FACTOR: f64 = 0.6;

/// Read a customer segment with the shipped calibration.
pub fn read(a: &Analysis) -> CustomerReading {
    read_with(a, Calibration::embedded())
}

/// Read a customer segment with calibration `cal` (the fitting tool tries others).
pub fn read_with(a: &Analysis, cal: &Calibration) -> CustomerReading {
    let mut r = CustomerReading {
        shouting: a.shouting,
        ..Default::default()
    };
    let mut keep_cold = 1.0;
    let mut profanity: f64 = 0.0;
    let mut fury = false;
    let mut hostile = false;
    let mut weak_sarcasm = false;
    let mut anger_word = false;
    let (mut distress, mut other_heat, mut demand) = (false, false, false);
    let mut cool_parts = Vec::new();
    let mut spans: Vec<(usize, usize, f64)> = Vec::new();
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
    // "no me tomes por tonto": the insult inside a command is about the customer, not aimed.
    let command_spans: Vec<(usize, usize)> = a
        .hits
        .iter()
        .filter(|h| h.cat == Cat::Command && !h.negated)
        .map(|h| (h.first, h.last + 2))
        .collect();
    let inside_command = |h: &Hit| {
        matches!(h.cat, Cat::Insult | Cat::InsultPeer)
            && command_spans
                .iter()
                .any(|(f, l)| *f <= h.first && h.first <= *l)
    };
    let inside_condition = |h: &Hit| {
        a.constructions
            .iter()
            .any(|c| c.kind == Kind::Condition && c.first <= h.first && h.first <= c.last + 6)
    };
    for h in &a.hits {
        if (h.weight > 0.0 && inside_calm(h)) || inside_command(h) {
            continue;
        }
        // Entries weighted under 0.1 document a trap ("no manches" is surprise, not anger):
        // recognised, but they carry no heat.
        if h.weight.abs() < INFORMATIONAL_WEIGHT {
            continue;
        }
        let mut w = h.weight.clamp(0.0, 0.95);
        if h.weight > 0.0 {
            w = (w * cal.scale(h.cat)).clamp(0.0, 0.95);
        }
        // A threat inside a calm condition ("si no me mejoran la oferta, me cambio de compañía")
        // is the condition's, not a declared one.
        if matches!(h.cat, Cat::Churn | Cat::Legal | Cat::Supervisor) && inside_condition(h) {
            w = w.min(cal.heat_condition);
        }
        let mut rule = h.rule();
        let contributes = match h.cat {
            // "no me parece nada bien" is one complaint, not a complaint plus a negated "bien".
            Cat::Positive => h.negated && !inside_heat(h),
            // A "no" before thanks answers an offer ("no, nada más, muchas gracias"): thanks are
            // never negated; "no estoy contenta" is.
            Cat::Thanks | Cat::Satisfaction | Cat::Agreement | Cat::Apology => {
                if (!h.negated || h.cat == Cat::Thanks) && !inside_heat(h) {
                    cool_parts.push(h);
                }
                false
            }
            // "no seas idiota" orders, it does not negate.
            Cat::Insult | Cat::InsultPeer | Cat::Directed | Cat::Profanity
                if h.negated && !after_no_sea(a, h) =>
            {
                false
            }
            Cat::Insult | Cat::InsultPeer | Cat::Directed | Cat::Profanity => {
                let t = target(a, h);
                r.insult_target.get_or_insert(t);
                rule = format!("{rule} -> {}", t.as_str());
                let evaluative = h.first > 0
                    && matches!(
                        a.folded[h.first - 1].as_str(),
                        "una" | "un" | "es" | "de" | "que"
                    );
                match (t, h.cat) {
                    (Target::Agent, Cat::Profanity) if !evaluative => {
                        profanity = profanity.max(w);
                        false
                    }
                    // A mild peer word at the agent ("no seas pendejo" in Buenos Aires, "güey") is
                    // familiarity, not abuse.
                    (Target::Agent, Cat::InsultPeer) if w < PEER_ABUSE_WEIGHT => true,
                    (Target::Agent, _) => {
                        if r.abuse.is_none() {
                            r.abuse = Some(h.clone());
                        }
                        hostile = true;
                        true
                    }
                    (Target::Company, Cat::Profanity) => true,
                    (Target::Company, _) => {
                        let peer = h.cat == Cat::InsultPeer;
                        w *= if peer { 0.5 } else { COMPANY_FACTOR };
                        hostile |= !peer && w >= HOSTILE_INSULT_WEIGHT;
                        true
                    }
                    (Target::Situation, Cat::Profanity) => {
                        if evaluative {
                            // "esto es una mierda", "qué mierda de servicio": a verdict.
                            true
                        } else {
                            profanity = profanity.max(w);
                            false
                        }
                    }
                    (Target::Situation, Cat::InsultPeer) => false,
                    (Target::Situation, _) => {
                        w *= SITUATION_FACTOR;
                        true
                    }
                    // Someone else's insult, a story, or self-deprecation: context, no heat.
                    (Target::ThirdParty | Target::Oneself, _) => {
                        r.evidence
                            .push((h.quote.clone(), format!("{rule} (context)")));
                        false
                    }
                }
            }
            Cat::Anger
            | Cat::Distress
            | Cat::Distrust
            | Cat::Command
            | Cat::Complaint
            | Cat::RepeatContact
            | Cat::Sarcasm
            | Cat::NextStepRequest
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
            // A hedged cue ("encima", "de lujo") is irony only next to praise, below.
            Cat::Sarcasm if h.weight >= SARCASM_CUE_WEIGHT => r.sarcasm = true,
            Cat::Sarcasm => weak_sarcasm = true,
            Cat::Command => hostile |= w >= HOSTILE_COMMAND_WEIGHT,
            // Contempt said to the company or the agent ("ustedes me están tomando el pelo", "lo
            // que hacen es un robo") is hostility, as the level table says; "es una vergüenza"
            // about the weather is not.
            Cat::Complaint
                if h.weight >= CONTEMPT_WEIGHT
                    && matches!(target(a, h), Target::Agent | Target::Company) =>
            {
                hostile = true
            }
            // "les va a llover una demanda", "mi abogado va a tener noticias suyas".
            Cat::Legal => hostile |= w >= HOSTILE_LEGAL_WEIGHT,
            _ => {}
        }
        let w = if (h.cat == Cat::Anger && third_party(a, h)) || quoted(a, h) {
            w * REPORTED_FACTOR
        } else {
            w
        };
        match h.cat {
            Cat::Distress => distress = true,
            Cat::Supervisor | Cat::Churn => demand = true,
            _ => other_heat = true,
        }
        fury |= w >= FURY_WEIGHT;
        anger_word |= matches!(h.cat, Cat::Anger | Cat::Legal) && w >= ANGER_GRADE_WEIGHT;
        keep_cold *= 1.0 - w;
        spans.push((h.first, h.last, w));
        r.evidence.push((h.quote.clone(), rule));
    }
    // "Ya te lo expliqué" in any clitic order is a repetition as the lexicon's phrases are.
    if r.repetition.is_none() {
        if let Some(c) = a.constructions.iter().find(|c| c.kind == Kind::AlreadyTold) {
            r.repetition = Some(Hit {
                file: super::lexicon::LexiconFile::Repetition,
                cat: Cat::AlreadySaid,
                term: c.kind.rule(),
                weight: cal.construction(c.kind),
                intensity: 1.0,
                negated: false,
                quote: c.quote.clone(),
                first: c.first,
                last: c.last,
            });
        }
    }
    // Constructions add what the words inside them did not already say.
    for c in &a.constructions {
        let heat = cal.construction(c.kind).clamp(0.0, 0.95);
        let covered = spans
            .iter()
            .filter(|(f, l, _)| *f <= c.last && c.first <= *l)
            .map(|s| s.2)
            .fold(0.0, f64::max);
        if covered >= heat {
            continue;
        }
        keep_cold *= (1.0 - heat) / (1.0 - covered);
        other_heat = true;
        hostile |= matches!(
            c.kind,
            Kind::Ultimatum | Kind::PublicExposure | Kind::Worst | Kind::Taunt
        );
        r.evidence.push((c.quote.clone(), c.kind.rule()));
    }
    let mut heat = 1.0 - keep_cold;
    // Swearing amplifies a grievance; alone it is emphasis, and next to praise it is delight
    // ("qué pasada, joder, funciona genial").
    let praise = cool_parts
        .iter()
        .any(|h| h.cat == Cat::Satisfaction || h.cat == Cat::Thanks);
    if profanity > 0.0 {
        if heat > 0.0 {
            // "carajo, se me ponchó la llanta y la asistencia no llega": the grievance, louder.
            heat = 1.0 - (1.0 - heat) * (1.0 - PROFANITY_BLEND * profanity);
        } else if !praise {
            heat = PROFANITY_ALONE_HEAT.min(profanity);
        }
    }
    // One utterance says "frustrated" at most; anger is reached over turns, or at once by
    // hostility (abuse, an insult at the company, an ultimatum, a command), a fury-grade word
    // ("furioso", "hijo de puta") or shouting.
    // Louder words first, then the floors and the cap: the floors say how hot hostility, abuse
    // and shouting are at least, not how much hotter they make what was said.
    if a.shouting {
        heat *= SHOUT_FACTOR;
        r.evidence
            .push((String::new(), "shouting (capitals)".into()));
    }
    if heat > 0.0 && a.exclamations >= 2 {
        heat *= EXCLAMATION_FACTOR;
        r.evidence.push((String::new(), "exclamations".into()));
    }
    if r.abuse.is_some() {
        heat = heat.max(ABUSE_HEAT);
        r.evidence
            .push((String::new(), "abuse aimed at the agent".into()));
    } else if hostile || (a.shouting && a.exclamations > 0) {
        heat = heat.max(cal.heat_hostile);
    } else if a.shouting {
        heat = heat.max(cal.heat_shout);
    } else if !fury {
        heat = heat.min(cal.cap_single_utterance);
    }
    if r.abuse.is_none() && !fury {
        // Loud words are not abuse: they stay under its heat.
        heat = heat.min(LOUD_CAP);
    }
    r.heat = heat.clamp(0.0, 1.0);
    r.can_anger = r.abuse.is_some() || hostile || fury || anger_word || a.shouting;
    r.distress_only = distress && !other_heat && !demand && r.abuse.is_none();
    if !cool_parts.is_empty() {
        // Irony uses praise words ("genial", "qué maravilla"); thanks, agreement or an apology
        // next to a grievance are sincere.
        let only_praise = cool_parts.iter().all(|h| h.cat == Cat::Satisfaction);
        let relief = distress && !other_heat;
        if relief {
            // Relief after worry ("qué alivio, estaba preocupadísima") calms; it is not irony.
            r.heat = 0.0;
        }
        // Praise next to an adverse fact no cue of its own names ("qué rapidez, un mes pa mandar
        // un correo", "ah mira qué bueno, otra promo y mi reclamo igualito").
        let adverse =
            only_praise && (weak_sarcasm || super::constructions::adverse_fact(&a.folded));
        if !relief && (r.sarcasm || (only_praise && (r.heat >= SARCASM_MIN_HEAT || adverse))) {
            // Praise next to an adverse fact is irony, not relief ("genial, otra vez sin luz").
            if !r.sarcasm || r.heat < cal.heat_sarcasm {
                let praise: Vec<&str> = cool_parts.iter().map(|h| h.quote.as_str()).collect();
                r.evidence
                    .push((praise.join(" … "), "construction/sarcasm".into()));
            }
            r.sarcasm = true;
            r.heat = r.heat.max(cal.heat_sarcasm);
        } else {
            // Thanks or an apology next to a grievance ("gracias, perdona, es que ya van tres
            // veces") is a customer coming down while explaining: halve the heat, keep the cool.
            // A strong apology or self-blame ("fue mi culpa") calms more than thanks do.
            let strongest = cool_parts
                .iter()
                .map(|h| h.weight.abs())
                .fold(0.0, f64::max);
            // Agreement alone ("dale, pero apurate") softens less than thanks or an apology.
            let factor = if cool_parts.iter().all(|h| h.cat == Cat::Agreement) {
                AGREEMENT_HEAT_FACTOR
            } else {
                MIXED_HEAT_FACTOR
            };
            if r.heat > 0.0 {
                r.heat *= factor.min(1.0 - strongest.min(0.9));
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
