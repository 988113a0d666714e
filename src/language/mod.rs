//! Reading Spanish call text: normalisation, lexicon matching with negation and intensity, and the
//! customer/agent readings the engine turns into frustration and nudges.
//!
//! [`Analyzer`] is built once (lexicons compiled into automata) and shared by every call;
//! [`Analyzer::analyze`] is pure: one segment's text in, [`Analysis`] out.

pub mod agent;
pub mod calibration;
pub mod constructions;
pub mod cues;
pub mod customer;
pub mod detect;
pub mod frustration;
pub mod lexicon;
pub mod model;
pub mod morphology;
pub mod normalize;
pub mod pii;
pub mod region;

use std::path::Path;

use lexicon::{Cat, Haystack, LexMatch, LexiconError, LexiconFile, Lexicons, Matching};
use normalize::{Token, Tokenizer};
use region::Region;

/// Words after "no" that make an exclamation of it ("no mames, qué rápido"), not a negation.
const NOT_A_NEGATION: &[&str] = &[
    "mames", "manches", "inventes", "jodas", "friegues", "chingues", "mamen",
];

/// Affirmative imperatives with an enclitic pronoun ("espéreme", "déjame", "fíjese"): Spanish
/// negates an order with the subjunctive and the pronoun before it ("no me espere"), so a "no"
/// before one of these is an interjection ("no, espéreme, déjeme terminar") that negates nothing
/// after it.
const ENCLITIC_ORDERS: &[&str] = &[
    "espereme",
    "esperame",
    "esperate",
    "esperese",
    "esperenme",
    "dejeme",
    "dejame",
    "dejenme",
    "escucheme",
    "escuchame",
    "escuchenme",
    "digame",
    "dimelo",
    "permitame",
    "permiteme",
    "perdoneme",
    "perdoname",
    "disculpeme",
    "disculpame",
    "mireme",
    "mirame",
    "oigame",
    "oyeme",
    "fijese",
    "fijate",
    "atiendame",
    "atiendeme",
    "expliqueme",
    "explicame",
    "ayudeme",
    "ayudame",
    "paseme",
    "pasame",
    "comuniqueme",
];

/// Weight kept by a regional word heard in another region: still understood (customers move,
/// television travels), but not the local reading.
pub const FOREIGN_VARIANT_FACTOR: f64 = 0.6;

/// Words after which a Spanish sentence cannot end: a segment ending on one was cut off.
const CUT_OFF_WORDS: &[&str] = &[
    "que", "de", "y", "o", "pero", "el", "la", "los", "las", "un", "una", "a", "en", "con", "por",
    "para", "porque", "mi", "su", "me", "le", "se", "lo", "del", "al", "cuando", "si", "como",
    "sino", "ni", "tu", "mis", "sus", "es", "estoy", "muy",
];

/// One lexicon entry found in a segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub file: LexiconFile,
    pub cat: Cat,
    /// The lexicon term that matched.
    pub term: String,
    /// Entry weight times intensity (1.0 when no intensifier applies).
    pub weight: f64,
    /// Intensity multiplier applied (intensifiers, -ísimo), 1.0 when none.
    pub intensity: f64,
    /// A negator governs this hit ("no estoy enfadado").
    pub negated: bool,
    /// The words as the speaker said them (original spelling), including a governing negator or
    /// intensifier so the evidence reads naturally.
    pub quote: String,
    pub first: usize,
    pub last: usize,
}

impl Hit {
    /// Evidence rule name: `lexicon/category:term`, plus modifiers.
    pub fn rule(&self) -> String {
        let mut r = format!("{}/{}:{}", self.file.name(), self.cat.as_str(), self.term);
        if self.negated {
            r.push_str(" (negated)");
        }
        if self.intensity != 1.0 {
            r.push_str(&format!(" (x{:.1})", self.intensity));
        }
        r
    }
}

/// What one segment says, before any call context is applied.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Hits of the lexicons for this speaker (customer or agent), in token order per file.
    pub hits: Vec<Hit>,
    /// Words, fillers excluded.
    pub words: usize,
    /// Only backchannel words ("ajá", "sí", "vale"), fillers aside.
    pub backchannel_only: bool,
    /// Written in capitals (ASR or chat that keeps case): shouting.
    pub shouting: bool,
    /// Number of '!' characters.
    pub exclamations: u32,
    /// Ends on a word that cannot end a sentence.
    pub ends_cut_off: bool,
    /// Stems of content words (stopwords and fillers removed), for repeated-complaint detection.
    pub content: Vec<String>,
    /// The text contains a question mark.
    pub question: bool,
    /// Every token, folded (fillers included, so hit indices line up).
    pub folded: Vec<String>,
    /// Customer turns: token `i` is a filler or a stopword ("y", "me", "como"), aligned with
    /// `folded`; empty for the agent. The learned reading ignores words made only of these: on
    /// a few thousand rows they carry each author's style, not the customer's mood.
    pub function_word: Vec<bool>,
    /// Customer turns: the stem of every token, aligned with `folded` (the learned reading's
    /// words, [`model`]); empty for the agent.
    pub stems: Vec<String>,
    /// A clause break (, . ? ! …) stands before token `i`.
    pub breaks: Vec<bool>,
    /// Grammar-level cues of a customer turn (ultimatums, counted contacts and waits,
    /// rhetorical challenges), with the customer's words.
    pub constructions: Vec<Construction>,
}

/// A construction found in a customer turn ([`constructions`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Construction {
    pub kind: constructions::Kind,
    pub quote: String,
    pub first: usize,
    pub last: usize,
}

impl Analysis {
    pub fn has(&self, cat: Cat) -> bool {
        self.hits.iter().any(|h| h.cat == cat && !h.negated)
    }
    pub fn first(&self, cat: Cat) -> Option<&Hit> {
        self.hits.iter().find(|h| h.cat == cat && !h.negated)
    }
    pub fn all(&self, cat: Cat) -> impl Iterator<Item = &Hit> {
        self.hits.iter().filter(move |h| h.cat == cat)
    }
}

/// The text ends on a word that cannot end a sentence, with no closing punctuation.
fn ends_cut_off(nfc: &str, tokens: &[Token]) -> bool {
    tokens
        .iter()
        .rev()
        .find(|t| !t.folded.is_empty())
        .is_some_and(|t| CUT_OFF_WORDS.contains(&t.folded.as_str()))
        && !nfc.trim_end().ends_with(['.', '?', '!'])
}

/// The part of an [`Analysis`] the timing model reads ([`Analyzer::analyze_partial`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialReading {
    pub words: usize,
    pub backchannel_only: bool,
    pub announces_hold: bool,
    /// The wait announced is a formal hold (music, muted line), not a quick check.
    pub formal_hold: bool,
    pub ends_cut_off: bool,
}

impl From<&Analysis> for PartialReading {
    fn from(a: &Analysis) -> Self {
        PartialReading {
            words: a.words,
            backchannel_only: a.backchannel_only,
            announces_hold: a.has(Cat::Hold) || a.has(Cat::FormalHold),
            formal_hold: a.has(Cat::FormalHold),
            ends_cut_off: a.ends_cut_off,
        }
    }
}

/// Whose words these are: each side is read with its own lexicons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Customer,
    Agent,
}

const CUSTOMER_FILES: &[LexiconFile] = &[
    // A customer also asks for a moment ("un momento que lo busco"): the silence is theirs.
    LexiconFile::AgentHold,
    LexiconFile::Frustration,
    LexiconFile::Insults,
    LexiconFile::Escalation,
    LexiconFile::Repetition,
    LexiconFile::Calm,
    LexiconFile::Polarity,
    // What the customer says about the agent's delivery (read by `cues`, no heat).
    LexiconFile::CustomerCues,
];

const AGENT_FILES: &[LexiconFile] = &[
    LexiconFile::AgentEmpathy,
    LexiconFile::AgentStock,
    LexiconFile::AgentNextStep,
    LexiconFile::AgentTransfer,
    LexiconFile::AgentHold,
];

/// The shared, immutable language model: tokenizer + compiled lexicons + language detector.
#[derive(Debug)]
pub struct Analyzer {
    tok: Tokenizer,
    lex: Lexicons,
    detector: detect::Detector,
    calibration: calibration::Calibration,
    model: model::ReadingModel,
}

impl Analyzer {
    /// Embedded lexicons, optionally overridden file by file from `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Analyzer, LexiconError> {
        let tok = Tokenizer::default();
        let lex = Lexicons::load(dir, &tok)?;
        Ok(Analyzer {
            tok,
            lex,
            detector: detect::Detector::default(),
            calibration: calibration::Calibration::load(dir)?,
            model: model::ReadingModel::load(dir)?,
        })
    }

    pub fn lexicons(&self) -> &Lexicons {
        &self.lex
    }

    pub fn detector(&self) -> &detect::Detector {
        &self.detector
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tok
    }

    /// What a customer turn says about their state: the rules' reading, placed on the level the
    /// learned reading gives ([`model`]).
    pub fn read_customer(&self, a: &Analysis) -> customer::CustomerReading {
        let mut r = customer::read_with(a, &self.calibration);
        self.model.adjust(a, &mut r);
        r
    }

    /// The rules' reading alone (what the learned reading starts from).
    pub fn read_customer_rules(&self, a: &Analysis) -> customer::CustomerReading {
        customer::read_with(a, &self.calibration)
    }

    pub fn reading_model(&self) -> &model::ReadingModel {
        &self.model
    }

    /// Read one segment's text as `side`, with no regional reading (every variant at full weight).
    pub fn analyze(&self, text: &str, side: Side) -> Analysis {
        self.analyze_in(text, side, None)
    }

    /// Read one segment's text as `side` spoken in `region`: a term's regional reading for that
    /// region wins, and words of other regions count at [`FOREIGN_VARIANT_FACTOR`].
    pub fn analyze_in(&self, text: &str, side: Side, region: Option<Region>) -> Analysis {
        let (nfc, tokens) = self.tok.tokenize(text);
        let fillers = self.single_word_set(LexiconFile::Fillers, &tokens);
        // Grammar lexicons read folded words; content lexicons read stems.
        let hay = grammar_haystack(&tokens, &fillers);
        let words = fillers.iter().filter(|f| !**f).count();

        // Grammar lexicons shared by both sides.
        let negators = self.lex.get(LexiconFile::Negators).find(&hay);
        let intens = self.lex.get(LexiconFile::Intensifiers).find(&hay);
        let backch = self.lex.get(LexiconFile::Backchannels).find(&hay);
        let stop = self.single_word_set(LexiconFile::Stopwords, &tokens);

        let content_hay = self.content_haystack(&tokens, &fillers, side);
        let lemma_hay = match side {
            Side::Customer => self.word_haystack(&tokens, &fillers),
            Side::Agent => Haystack::default(),
        };

        let files = match side {
            Side::Customer => CUSTOMER_FILES,
            Side::Agent => AGENT_FILES,
        };
        let mut hits = Vec::new();
        for &file in files {
            let lex = self.lex.get(file);
            let hay = match file.matching() {
                Matching::Lemma => &lemma_hay,
                _ => &content_hay,
            };
            for m in lex.find_in(hay, region) {
                let e = lex.entry(&m);
                let regional = match region {
                    Some(r) if !r.covers(&e.variant) => FOREIGN_VARIANT_FACTOR,
                    _ => 1.0,
                };
                let negator = self.governing_negator(&m, &negators, &tokens);
                let (intensity, int_first, int_last) = self.intensity(&m, &intens, &tokens);
                let start_tok = negator
                    .map(|n| n.first)
                    .unwrap_or(m.first)
                    .min(int_first.unwrap_or(m.first));
                let quote = nfc[tokens[start_tok].start..tokens[int_last].end].to_string();
                hits.push(Hit {
                    file,
                    cat: e.cat,
                    term: e.term.clone(),
                    weight: e.weight * intensity * regional,
                    intensity,
                    negated: negator.is_some(),
                    quote,
                    first: m.first,
                    last: m.last,
                });
            }
        }

        if side == Side::Agent
            && !hits
                .iter()
                .any(|h| matches!(h.cat, Cat::Hold | Cat::FormalHold))
        {
            let folded: Vec<&str> = tokens.iter().map(|t| t.folded.as_str()).collect();
            hits.extend(agent::counted_wait(&folded));
        }

        let backchannel_only = backchannel_only(words, &fillers, &backch);

        let caps_words = tokens.iter().filter(|t| t.all_caps).count();
        let long_words = tokens
            .iter()
            .filter(|t| t.folded.chars().count() >= 2)
            .count();
        let shouting = caps_words >= 2 && caps_words * 10 >= long_words * 6;
        let exclamations = nfc.chars().filter(|c| *c == '!').count() as u32;
        let ends_cut_off = ends_cut_off(&nfc, &tokens);
        let content = tokens
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                !fillers[*i]
                    && !stop[*i]
                    && t.folded.chars().count() > 2
                    && !t.folded.chars().all(|c| c.is_ascii_digit())
            })
            .map(|(_, t)| t.stem.clone())
            .collect();

        let constructions = match side {
            Side::Customer => find_constructions(&nfc, &tokens, &fillers),
            Side::Agent => Vec::new(),
        };

        Analysis {
            hits,
            constructions,
            words,
            backchannel_only,
            shouting,
            exclamations,
            ends_cut_off,
            content,
            question: nfc.contains('?'),
            breaks: tokens.iter().map(|t| t.clause_break_before).collect(),
            stems: match side {
                Side::Customer => tokens.iter().map(|t| t.stem.clone()).collect(),
                Side::Agent => Vec::new(),
            },
            function_word: match side {
                Side::Customer => (0..tokens.len()).map(|i| fillers[i] || stop[i]).collect(),
                Side::Agent => Vec::new(),
            },
            folded: tokens.into_iter().map(|t| t.folded).collect(),
        }
    }

    /// What the timing model needs from a segment revision that is not analysed as a final
    /// (partials, repeated finals): exactly the `words`, `backchannel_only`, hold and
    /// `ends_cut_off` that [`Analyzer::analyze`] gives for the same text and side, computed
    /// with the hold lexicon only (partials are most revisions, and the engine reads nothing
    /// else from them).
    pub fn analyze_partial(&self, text: &str, side: Side) -> PartialReading {
        let (nfc, tokens) = self.tok.tokenize(text);
        let fillers = self.single_word_set(LexiconFile::Fillers, &tokens);
        let hay = grammar_haystack(&tokens, &fillers);
        let words = fillers.iter().filter(|f| !**f).count();
        let backch = self.lex.get(LexiconFile::Backchannels).find(&hay);
        let backchannel_only = backchannel_only(words, &fillers, &backch);
        let ends_cut_off = ends_cut_off(&nfc, &tokens);

        // `Analysis::has(Cat::Hold | Cat::FormalHold)`: un-negated hits of the hold lexicon (the only
        // one with those categories), found over the same content haystack.
        let content_hay = self.content_haystack(&tokens, &fillers, side);
        let lex = self.lex.get(LexiconFile::AgentHold);
        let holds = lex.find(&content_hay);
        // Negators matter only for a hold phrase to negate (most partials have none).
        let negators = if holds.is_empty() {
            Vec::new()
        } else {
            self.lex.get(LexiconFile::Negators).find(&hay)
        };
        let waits: Vec<Cat> = holds
            .iter()
            .filter(|m| self.governing_negator(m, &negators, &tokens).is_none())
            .map(|m| lex.entry(m).cat)
            .collect();
        PartialReading {
            words,
            backchannel_only,
            announces_hold: !waits.is_empty(),
            formal_hold: waits.contains(&Cat::FormalHold),
            ends_cut_off,
        }
    }

    /// The stemmed stream content lexicons read: it looks through fillers, single-word
    /// intensifiers and numbers, exactly as their entries were compiled ("estoy muy harta" meets
    /// "estoy harto"); agents' tú forms read as usted forms.
    fn content_haystack(&self, tokens: &[Token], fillers: &[bool], side: Side) -> Haystack {
        Haystack::new(tokens.iter().enumerate().map(|(i, t)| {
            let stem = match side {
                Side::Agent => lexicon::agent_form(&t.stem),
                Side::Customer => t.stem.as_str(),
            };
            (i, stem, fillers[i] || self.lex.is_transparent(&t.folded))
        }))
    }

    /// The whole-word stream customer lexicons read (their terms are expanded to every inflected
    /// form): folded words, a superlative read as its base ("hartísimo" → "harto"), looking
    /// through fillers, single-word intensifiers and numbers.
    fn word_haystack(&self, tokens: &[Token], fillers: &[bool]) -> Haystack {
        Haystack::new(tokens.iter().enumerate().map(|(i, t)| {
            let word = t.base.as_deref().unwrap_or(&t.folded);
            (i, word, fillers[i] || self.lex.is_transparent(&t.folded))
        }))
    }

    /// Tokens that are single-word entries of `file` (fillers, stopwords).
    fn single_word_set(&self, file: LexiconFile, tokens: &[Token]) -> Vec<bool> {
        self.lex
            .get(file)
            .single_word_tokens(tokens.iter().map(|t| t.folded.as_str()))
    }

    /// A negator governs a match when it stands before it within its scope (tokens), with no
    /// clause break or scope-breaking word ("pero", "sino") between. Negators inside the matched
    /// phrase ("no funciona", "nadie me soluciona") are part of the entry, not a negation of it.
    /// Spanish negative concord ("no me parece nada bien") is one negation, not two.
    fn governing_negator<'m>(
        &self,
        m: &LexMatch,
        negators: &'m [LexMatch],
        tokens: &[Token],
    ) -> Option<&'m LexMatch> {
        let lex = self.lex.get(LexiconFile::Negators);
        let mut found = None;
        for n in negators.iter().filter(|n| n.last < m.first) {
            let e = lex.entry(n);
            if e.cat != Cat::Negator {
                continue;
            }
            // "no mames", "no manches": an interjection, not a negation of what follows.
            if tokens
                .get(n.last + 1)
                .is_some_and(|t| NOT_A_NEGATION.contains(&t.folded.as_str()))
            {
                continue;
            }
            let scope = e.weight.max(0.0) as usize;
            if m.first - n.last > scope {
                continue;
            }
            let blocked = (n.last + 1..=m.first).any(|i| {
                tokens[i].clause_break_before
                    || ENCLITIC_ORDERS.contains(&tokens[i].folded.as_str())
            }) || negators.iter().any(|b| {
                lex.entry(b).cat == Cat::ScopeBreak && b.first > n.last && b.last < m.first
            });
            if !blocked {
                found = Some(n);
                break;
            }
        }
        found
    }

    /// Intensifiers/diminishers directly before the match or inside it, diminishers right after
    /// it, and the -ísimo superlative. Returns the multiplier and the quote's widened token span.
    fn intensity(
        &self,
        m: &LexMatch,
        intens: &[LexMatch],
        tokens: &[Token],
    ) -> (f64, Option<usize>, usize) {
        let lex = self.lex.get(LexiconFile::Intensifiers);
        let mut factor: f64 = 1.0;
        let mut first = None;
        let mut last = m.last;
        // Directly before ("muy harto"), or inside the phrase ("estoy muy harto"); a wider window
        // catches unrelated words ("las once y media sigue sin luz").
        let before = |i: &&LexMatch| i.last + 1 == m.first;
        let inside = |i: &&LexMatch| i.first > m.first && i.last < m.last;
        // Diminishers often follow the verb: "me molesta un poquito".
        let after_dim = |i: &&LexMatch| i.first == m.last + 1 && lex.entry(i).weight < 1.0;
        for i in intens
            .iter()
            .filter(|i| before(i) || inside(i) || after_dim(i))
        {
            let w = lex.entry(i).weight;
            if (w - 1.0).abs() > (factor - 1.0).abs() {
                factor = w;
                first = Some(i.first.min(m.first));
                last = last.max(i.last);
            }
        }
        if tokens[m.first..=m.last].iter().any(|t| t.superlative) && factor < 1.5 {
            factor = 1.5;
        }
        (factor, first, last)
    }
}

/// Constructions over the turn's words, fillers left out; indices and quotes refer to the tokens.
fn find_constructions(nfc: &str, tokens: &[Token], fillers: &[bool]) -> Vec<Construction> {
    let kept: Vec<usize> = (0..tokens.len()).filter(|i| !fillers[*i]).collect();
    let words: Vec<String> = kept.iter().map(|i| tokens[*i].folded.clone()).collect();
    let breaks: Vec<bool> = kept
        .iter()
        .map(|i| tokens[*i].clause_break_before)
        .collect();
    constructions::find(&words, &breaks)
        .into_iter()
        .map(|f| {
            let (first, last) = (kept[f.first], kept[f.last]);
            Construction {
                kind: f.kind,
                quote: nfc[tokens[first].start..tokens[last].end].to_string(),
                first,
                last,
            }
        })
        .collect()
}

/// The folded-word stream grammar lexicons read (fillers skipped).
fn grammar_haystack(tokens: &[Token], fillers: &[bool]) -> Haystack {
    Haystack::new(
        tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (i, t.folded.as_str(), fillers[i])),
    )
}

/// Only backchannel words ("ajá", "vale", "sí sí"), fillers aside, and few of them.
fn backchannel_only(words: usize, fillers: &[bool], backch: &[LexMatch]) -> bool {
    words > 0
        && words <= 6
        && fillers
            .iter()
            .enumerate()
            .all(|(i, f)| *f || backch.iter().any(|m| m.first <= i && i <= m.last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a() -> Analyzer {
        Analyzer::load(None).unwrap()
    }

    #[test]
    fn negation_neutralises_anger_but_concord_is_one_negation() {
        let an = a();
        let r = an.analyze(
            "no estoy enfadado solo quería saber cuándo llega",
            Side::Customer,
        );
        assert!(r.all(Cat::Anger).all(|h| h.negated), "{:?}", r.hits);
        let r = an.analyze("no me parece nada bien lo que han hecho", Side::Customer);
        assert!(r.all(Cat::Positive).any(|h| h.negated), "{:?}", r.hits);
    }

    #[test]
    fn a_no_before_an_order_with_a_pronoun_is_an_interjection() {
        let an = a();
        let r = an.analyze(
            "no espereme dejeme terminar el jueves no me sirve",
            Side::Customer,
        );
        assert!(r.all(Cat::LetMeFinish).all(|h| !h.negated), "{:?}", r.hits);
        assert!(r.all(Cat::LetMeFinish).next().is_some(), "{:?}", r.hits);
    }

    #[test]
    fn a_no_before_thanks_declines_an_offer_and_still_calms() {
        let an = a();
        for t in [
            "no nada más muchas gracias señorita",
            "no, muchas gracias, eso era todo",
        ] {
            let r = an.read_customer_rules(&an.analyze(t, Side::Customer));
            assert!(r.cool > 0.0 && r.heat == 0.0, "{t}: {r:?}");
        }
        // Satisfaction is still negated.
        let r = an.read_customer_rules(&an.analyze("no es excelente", Side::Customer));
        assert_eq!(r.cool, 0.0, "{r:?}");
    }

    #[test]
    fn intensifier_and_superlative_raise_weight() {
        let an = a();
        let plain = an.analyze("estoy harto", Side::Customer);
        let strong = an.analyze("estoy muy harto", Side::Customer);
        let sup = an.analyze("estoy hartísimo", Side::Customer);
        let w = |x: &Analysis| x.hits.iter().map(|h| h.weight).fold(0.0, f64::max);
        assert!(w(&strong) > w(&plain));
        assert!(w(&sup) > w(&plain));
        assert!(
            strong.hits.iter().any(|h| h.quote == "estoy muy harto"),
            "{:?}",
            strong.hits
        );
    }

    #[test]
    fn backchannels_and_fillers() {
        let an = a();
        assert!(an.analyze("ajá", Side::Agent).backchannel_only);
        assert!(an.analyze("eh vale vale", Side::Agent).backchannel_only);
        assert!(
            !an.analyze("vale pero eso no es así", Side::Agent)
                .backchannel_only
        );
        let r = an.analyze("estoy eh harto", Side::Customer);
        assert!(r.has(Cat::Anger), "{:?}", r.hits);
    }

    #[test]
    fn partial_reading_matches_the_full_analysis() {
        let an = a();
        let mut texts: Vec<String> = crate::traffic::CALLS
            .iter()
            .flat_map(|(_, jsonl)| crate::traffic::parse_jsonl(jsonl).unwrap())
            .filter_map(|v| v["text"].as_str().map(str::to_string))
            .collect();
        texts.extend(
            [
                "un momento por favor",
                "no, un momento no",
                "eh ajá vale",
                "espere un segundo que lo consulto y",
                "ESPERE UN MOMENTO!!",
                "",
            ]
            .map(String::from),
        );
        for t in &texts {
            // Every prefix, as partials grow word by word.
            let words: Vec<&str> = t.split_whitespace().collect();
            for n in 0..=words.len() {
                let p = words[..n].join(" ");
                for side in [Side::Customer, Side::Agent] {
                    let full = PartialReading::from(&an.analyze(&p, side));
                    assert_eq!(an.analyze_partial(&p, side), full, "{p:?} as {side:?}");
                }
            }
        }
    }

    #[test]
    fn shouting_and_cut_off() {
        let an = a();
        assert!(an.analyze("ESTO ES UNA VERGÜENZA", Side::Customer).shouting);
        assert!(!an.analyze("Llamo de Movistar", Side::Customer).shouting);
        assert!(
            an.analyze("lo que pasa es que", Side::Customer)
                .ends_cut_off
        );
        assert!(
            !an.analyze("ya está solucionado", Side::Customer)
                .ends_cut_off
        );
    }
}
