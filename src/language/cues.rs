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
/// Words that may come with them ("¿hola, señorita?", "¿aló, joven?").
const ADDRESS_WORDS: &[&str] = &[
    "senorita", "senora", "senor", "joven", "disculpe", "perdon", "eh", "mi", "amigo", "amiga",
    "hay", "alguien", "ahi", "alli", "si",
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
}

impl CustomerCues {
    pub fn is_empty(&self) -> bool {
        self.pace_request.is_none()
            && self.not_understood.is_none()
            && self.presence_check.is_none()
            && self.let_me_finish.is_none()
            && self.misunderstood.is_none()
            && self.what_now.is_none()
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
    }
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
    let first = words.iter().position(|w| greeting(w))?;
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
