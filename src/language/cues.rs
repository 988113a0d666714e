//! What the customer says about the agent's delivery: they could not follow ("¿perdón? no me he
//! enterado de nada"), they check whether anyone is still there ("¿hola? ¿hay alguien?"), they ask
//! to be let finish ("déjeme terminar"), or they say the agent has not understood them ("usted no
//! me escucha", "eso no es lo que le pregunto").
//!
//! These are the customer's own words about the agent, the strongest evidence the timing and
//! nudge rules have; they carry no frustration heat (that is [`super::customer`]'s reading). The
//! rules decide, with the call's context, whether each cue makes a nudge (`src/engine/rules.rs`).

use super::lexicon::{Cat, LexiconFile};
use super::{Analysis, Hit};

/// Words that make a presence check when they are all the customer said ("¿hola?", "¿aló?",
/// "¿bueno?" in Mexico, "¿oiga?"), possibly with a form of address.
const PRESENCE_WORDS: &[&str] = &["hola", "alo", "halo", "bueno", "oiga", "oigan", "oye"];
/// Words that may come with them ("¿hola, señorita?", "¿aló, joven?"); folding keeps "ñ", ASR may
/// drop it.
const ADDRESS_WORDS: &[&str] = &[
    "señorita",
    "señora",
    "señor",
    "senorita",
    "senora",
    "senor",
    "joven",
    "disculpe",
    "perdon",
    "eh",
    "mi",
    "amigo",
    "amiga",
    "hay",
    "alguien",
    "ahi",
    "alli",
    "si",
];
/// A single-word presence check is at most this long ("¿hola? ¿hola? ¿señorita?").
const PRESENCE_MAX_WORDS: usize = 5;

/// The customer's cues about the agent in one final segment.
#[derive(Debug, Clone, Default)]
pub struct CustomerCues {
    /// An explicit request to slow down ("más despacio", "habla muy rápido").
    pub pace_request: Option<Hit>,
    /// They could not follow what the agent said ("no me he enterado", "no le sigo", "me perdí").
    pub not_understood: Option<Hit>,
    /// They check whether anyone is there ("¿hola?", "¿sigue ahí?", "¿hay alguien?").
    pub presence_check: Option<Hit>,
    /// They ask to be let finish ("déjeme terminar", "no me interrumpa", "todavía no termino").
    pub let_me_finish: Option<Hit>,
    /// They reject the agent's understanding ("usted no me escucha", "eso no es lo que le pregunto").
    pub misunderstood: Option<Hit>,
    /// They ask what they should do now ("¿y entonces qué hago?"): no next step was given.
    pub what_now: Option<Hit>,
    /// What is at stake for them ("mi mamá ya no tiene pastillas", "vivo de esa bodega", "no
    /// puede caminar"): empathy is owed for it, whatever the heat.
    pub impact: Option<Hit>,
    /// They ask for someone above the agent in words the reading takes as a mere mention ("le
    /// estoy pidiendo un supervisor", "quiero hablar con un manager"), or name a regulator to
    /// complain to ("pongo mi reclamo en Osiptel").
    pub escalation_request: Option<Hit>,
    /// They threaten to leave in words the reading's churn list does not have ("me voy pa otro
    /// banco", "me llevo la cuenta sueldo").
    pub leave_threat: Option<Hit>,
}

impl CustomerCues {
    pub fn is_empty(&self) -> bool {
        self.pace_request.is_none()
            && self.not_understood.is_none()
            && self.presence_check.is_none()
            && self.let_me_finish.is_none()
            && self.misunderstood.is_none()
            && self.what_now.is_none()
            && self.impact.is_none()
            && self.escalation_request.is_none()
            && self.leave_threat.is_none()
    }
}

/// Read the cues of one customer segment.
pub fn read(a: &Analysis) -> CustomerCues {
    // A cue that carries its own negation ("no me está escuchando") is not undone by a "no"
    // before it: "no, usted no me está escuchando" is an interjection, not a double negative.
    let pick = |c: Cat| {
        a.hits
            .iter()
            .find(|h| {
                h.file == LexiconFile::CustomerCues
                    && h.cat == c
                    && (!h.negated || h.term.starts_with("no "))
            })
            .cloned()
    };
    CustomerCues {
        pace_request: pick(Cat::PaceRequest),
        not_understood: pick(Cat::NotUnderstood),
        presence_check: pick(Cat::PresenceCheck).or_else(|| bare_presence_check(a)),
        let_me_finish: pick(Cat::LetMeFinish),
        misunderstood: pick(Cat::Misunderstood),
        what_now: pick(Cat::WhatNow),
        // What is at stake is at stake however it is said: "si no está, no la operan" says the
        // operation hangs on it.
        impact: a
            .hits
            .iter()
            .find(|h| h.file == LexiconFile::CustomerCues && h.cat == Cat::Impact)
            .cloned()
            .or_else(|| stake_at_risk(a)),
        escalation_request: pick(Cat::EscalationRequest),
        leave_threat: pick(Cat::LeaveThreat).or_else(|| leave_intent(a)),
    }
}

/// Said before a verb of leaving, they make it an intention ("ya estoy pensando en cancelar",
/// "estoy por darme de baja", "me dan ganas de irme"). Not "quiero": "quiero cancelar la cita"
/// is a request.
const INTENT_MARKERS: &[&[&str]] = &[
    &["pensando", "en"],
    &["pienso"],
    &["estoy", "por"],
    &["ganas", "de"],
    &["decidi"],
    &["voy", "a"],
    &["considerando"],
];
/// Verbs of leaving a provider (folded infinitives), with what must follow them: "cancelar"
/// alone; "darme" only as "darme de baja"; "irme", "cambiarme", "pasarme" only to a rival ("a
/// otra compañía", "de banco"): "quiero cambiarme al plan de cuarenta gigas" stays.
const LEAVE_VERBS: &[(&str, &[&[&str]])] = &[
    ("cancelar", &[]),
    ("cancelarlo", &[]),
    ("cancelarla", &[]),
    ("darme", &[&["de", "baja"]]),
    (
        "irme",
        &[
            &["a", "otra"],
            &["a", "otro"],
            &["con", "otra"],
            &["con", "otro"],
            &["a", "la", "competencia"],
            &["con", "la", "competencia"],
        ],
    ),
    (
        "cambiarme",
        &[
            &["a", "otra"],
            &["a", "otro"],
            &["de", "compania"],
            &["de", "compañia"],
            &["de", "banco"],
            &["de", "operador"],
            &["de", "empresa"],
            &["a", "la", "competencia"],
        ],
    ),
    (
        "pasarme",
        &[&["a", "otra"], &["a", "otro"], &["a", "la", "competencia"]],
    ),
];

/// A threat to leave said with an intention and a verb of leaving, or as a rival's offer ("la
/// otra compañía me ofreció fibra por cuarenta y nueve"): built, not listed. Not when negated
/// ("no estoy pensando en cancelar").
fn leave_intent(a: &Analysis) -> Option<Hit> {
    let w: Vec<&str> = a
        .folded
        .iter()
        .map(|x| x.trim_matches(|c: char| !c.is_alphanumeric()))
        .collect();
    let negated_before =
        |i: usize| (i.saturating_sub(3)..i).any(|k| matches!(w[k], "no" | "nunca" | "tampoco"));
    let hit = |first: usize, last: usize, term: &str| Hit {
        file: LexiconFile::CustomerCues,
        cat: Cat::LeaveThreat,
        term: term.to_string(),
        weight: 1.0,
        intensity: 1.0,
        negated: false,
        quote: w[first..=last].join(" "),
        first,
        last,
    };
    for i in 0..w.len() {
        for marker in INTENT_MARKERS {
            let end = i + marker.len();
            if end >= w.len() || w[i..end] != **marker || negated_before(i) {
                continue;
            }
            let Some((_, after)) = LEAVE_VERBS.iter().find(|(v, _)| *v == w[end]) else {
                continue;
            };
            let rest = &w[end + 1..];
            let last = if after.is_empty() {
                Some(end)
            } else {
                after
                    .iter()
                    .find(|p| rest.len() >= p.len() && rest[..p.len()] == ***p)
                    .map(|p| end + p.len())
            };
            if let Some(last) = last {
                return Some(hit(i, last, "construction/leave_intent"));
            }
        }
        // "la otra compañía me ofreció…", "la competencia me da…".
        if matches!(
            w[i],
            "ofrecio" | "ofrece" | "ofrecen" | "ofrecieron" | "regala"
        ) && i >= 2
            && w[i - 1] == "me"
        {
            let rival =
                (i.saturating_sub(4)..i).find(|&k| matches!(w[k], "otra" | "otro" | "competencia"));
            if let Some(from) = rival {
                return Some(hit(from, i, "construction/rival_offer"));
            }
        }
    }
    None
}

/// Words between a stake and what presses on it, at most.
const STAKE_REACH: usize = 10;

/// What is at stake, built: something the customer's life rests on (`stake`: "mi hijo", "los
/// sueldos", "la renta", "mi negocio") with a need, a deadline, a loss or an inability on it
/// (`pressure`) within [`STAKE_REACH`] words — "necesito ese dinero para pagar la matrícula de mi
/// hijo", "tengo una tiendita… no puedo recibir pagos", "me van a dejar sin ventas". Neither half
/// is a stake alone: "mi hijo me ayuda con la app" is a story, "no puedo entrar" a fault.
fn stake_at_risk(a: &Analysis) -> Option<Hit> {
    let of = |c: Cat| {
        a.hits.iter().filter(move |h| {
            h.file == LexiconFile::CustomerCues
                && h.cat == c
                && (!h.negated || h.term.starts_with("no "))
        })
    };
    let stakes = a
        .hits
        .iter()
        .filter(|h| h.file == LexiconFile::CustomerCues && h.cat == Cat::Stake);
    for stake in stakes {
        // A stake under a negation counts when the negation is the pressure itself ("no
        // puedo salir a trabajar", "me quedo sin mi negocio", "me van a dejar sin ventas"), not
        // "no es para mi hijo".
        let negating = |p: &Hit| {
            p.first < stake.first
                && (p.term.starts_with("no ") || p.term.split(' ').any(|w| w == "sin"))
        };
        let near = of(Cat::Pressure).find(|p| {
            p.first <= stake.last + STAKE_REACH
                && stake.first <= p.last + STAKE_REACH
                && (!stake.negated || negating(p))
        });
        if let Some(p) = near {
            let (first, last) = (stake.first.min(p.first), stake.last.max(p.last));
            return Some(Hit {
                file: LexiconFile::CustomerCues,
                cat: Cat::Impact,
                term: "construction/stake_at_risk".to_string(),
                weight: 1.0,
                intensity: 1.0,
                negated: false,
                quote: a.folded[first..=last].join(" "),
                first,
                last,
            });
        }
    }
    None
}

/// "¿hola?", "¿aló? ¿aló?", "¿bueno?": a greeting word that is all the customer said. "Bueno"
/// counts only as a question (it is also "well, …").
fn bare_presence_check(a: &Analysis) -> Option<Hit> {
    let words: Vec<&str> = a
        .folded
        .iter()
        .map(String::as_str)
        .filter(|w| !w.is_empty() && w.chars().any(char::is_alphanumeric))
        .collect();
    if words.is_empty() || words.len() > PRESENCE_MAX_WORDS {
        return None;
    }
    let greeting = |w: &str| {
        PRESENCE_WORDS.contains(&w) || (w.starts_with("hola") && w.trim_end_matches('a') == "hol")
    };
    // "¿Señorita?" alone, as a question, calls for someone too.
    let calls_out = |w: &str| {
        matches!(
            w,
            "señorita" | "señora" | "señor" | "senorita" | "senora" | "senor" | "joven"
        )
    };
    let first = words.iter().position(|w| greeting(w)).or_else(|| {
        (a.question && words.len() <= 3)
            .then(|| words.iter().position(|w| calls_out(w)))
            .flatten()
    })?;
    let all_fit = words
        .iter()
        .all(|w| greeting(w) || ADDRESS_WORDS.contains(w));
    let needs_question = words
        .iter()
        .all(|w| !greeting(w) || *w == "bueno" || *w == "oye");
    if !all_fit || (needs_question && !a.question) {
        return None;
    }
    let index = a.folded.iter().position(|w| w == words[first])?;
    Some(Hit {
        file: LexiconFile::CustomerCues,
        cat: Cat::PresenceCheck,
        term: words[first].to_string(),
        weight: 1.0,
        intensity: 1.0,
        negated: false,
        quote: words.join(" "),
        first: index,
        last: index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::{Analyzer, Side};

    fn cues(text: &str) -> CustomerCues {
        let analyzer = Analyzer::load(None).unwrap();
        read(&analyzer.analyze(text, Side::Customer))
    }

    #[test]
    fn an_intention_to_leave_is_a_threat_to_leave() {
        for t in [
            "mira de verdad ya estoy pensando en cancelar",
            "la otra compañía me ofreció fibra por cuarenta y nueve al mes",
            "estoy por darme de baja",
            "voy a cambiarme de compañía",
        ] {
            assert!(cues(t).leave_threat.is_some(), "{t}");
        }
        for t in [
            "no estoy pensando en cancelar solo quiero saber la fecha",
            "quiero cambiar la fecha de la cita",
            "oye quiero cambiarme al plan de los cuarenta gigas",
            "voy a cambiarme al plan de cuarenta",
        ] {
            assert!(cues(t).leave_threat.is_none(), "{t}");
        }
    }

    #[test]
    fn a_stake_with_a_pressure_on_it_is_at_stake_and_neither_half_alone() {
        for t in [
            "hace diez días que no puedo salir a trabajar",
            "necesito ese dinero para pagar la matrícula de mi hijo",
            "me van a dejar sin ventas en la tienda",
            "si no le pago al proveedor me quedo sin mi negocio",
            "le estoy diciendo que mi mamá está grave",
        ] {
            assert!(cues(t).impact.is_some(), "{t}");
        }
        for t in [
            "mi hijo me ayuda con la aplicación",
            "no puedo entrar a la página",
            "y tengo que ir yo o puede ir mi hija",
            "no es para mi hijo es para mí",
        ] {
            assert!(cues(t).impact.is_none(), "{t}");
        }
    }

    #[test]
    fn presence_checks_in_each_region_but_not_greetings() {
        for t in [
            "¿hola? ¿hola?",
            "¿aló?",
            "¿bueno? ¿bueno?",
            "¿oiga?",
            "¿señorita?",
            "¿hay alguien ahí?",
            "¿sigue ahí?",
            "¿seguís ahí?",
            "¿se cortó?",
        ] {
            assert!(cues(t).presence_check.is_some(), "{t}");
        }
        for t in [
            "hola buenas tardes",
            "bueno, le cuento",
            "mire señorita el recibo",
        ] {
            assert!(cues(t).presence_check.is_none(), "{t}");
        }
    }

    #[test]
    fn the_customer_on_the_agents_delivery_by_region() {
        for t in [
            "más despacito por favor",
            "habla muy rápido",
            "de a poco, por favor",
        ] {
            assert!(cues(t).pace_request.is_some(), "{t}");
        }
        for t in [
            "perdón, no me he enterado de nada",
            "no te cacho nada",
            "no le capté",
            "no le agarré la onda",
            "me perdí, señorita",
        ] {
            assert!(cues(t).not_understood.is_some(), "{t}");
        }
        for t in [
            "déjeme terminar",
            "dejame terminar chamo",
            "no me interrumpas",
            "todavía no termino",
            "me dejás hablar",
        ] {
            assert!(cues(t).let_me_finish.is_some(), "{t}");
        }
        for t in [
            "no, usted no me está escuchando",
            "eso no es lo que le pregunto",
            "no me para bolas",
            "no me pescás",
            "no me está poniendo atención",
        ] {
            assert!(cues(t).misunderstood.is_some(), "{t}");
        }
        assert!(cues("¿y entonces qué hago?").what_now.is_some());
        // Not about the agent: a calm customer about herself, a greeting.
        let calm = cues("es la tercera vez que hago lo mismo en casa, qué risa");
        assert!(calm.what_now.is_none() && calm.is_empty());
    }
}
