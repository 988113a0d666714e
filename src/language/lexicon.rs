//! Lexicons: UTF-8 TSV data under `lexicons/es/`, compiled into the binary and overridable per
//! file from a directory at run time.
//!
//! Format (see README "How calma reads Spanish"): `#` comment lines (provenance first), then the
//! header `term<TAB>weight<TAB>category<TAB>variant<TAB>source[<TAB>note]`, then one entry a line.
//! Each entry is normalised with the same pipeline as transcript text (fold, stem) and all entries
//! of a file go into one Aho-Corasick automaton over the stemmed token stream.

use std::collections::HashSet;
use std::path::Path;

use aho_corasick::{AhoCorasick, MatchKind};

use super::morphology;
use super::normalize::Tokenizer;
use super::region::Region;

macro_rules! lexicon_files {
    ($( $variant:ident => $name:literal [$($cat:ident),+] ),+ $(,)?) => {
        /// The lexicon files calma knows, one concept each.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum LexiconFile { $($variant),+ }

        impl LexiconFile {
            pub const ALL: &'static [LexiconFile] = &[$(LexiconFile::$variant),+];

            /// File stem under `lexicons/es/`.
            pub fn name(self) -> &'static str {
                match self { $(LexiconFile::$variant => $name),+ }
            }

            /// Categories allowed in this file's `category` column.
            pub fn categories(self) -> &'static [Cat] {
                match self { $(LexiconFile::$variant => &[$(Cat::$cat),+]),+ }
            }

            /// Grammar words (negators, intensifiers, fillers, backchannels, stopwords) match the
            /// folded word exactly; stemming would merge them with content words ("sino" and "sin"
            /// share a stem, "súper" and "supe", "medio" and "media").
            pub fn matches_folded(self) -> bool {
                matches!(
                    self,
                    LexiconFile::Negators
                        | LexiconFile::Intensifiers
                        | LexiconFile::Fillers
                        | LexiconFile::Backchannels
                        | LexiconFile::Stopwords
                )
            }

            /// How this file's terms meet the text (see [`Matching`]).
            pub fn matching(self) -> Matching {
                if self.matches_folded() {
                    Matching::Folded
                } else if self.is_agent() {
                    Matching::Stem
                } else {
                    Matching::Lemma
                }
            }

            /// Lexicons of what agents say (read with [`agent_form`]).
            pub fn is_agent(self) -> bool {
                self.name().starts_with("agent_")
            }

            /// The compiled-in default content.
            pub fn embedded(self) -> &'static str {
                match self {
                    $(LexiconFile::$variant => include_str!(concat!("../../lexicons/es/", $name, ".tsv"))),+
                }
            }
        }
    };
}

lexicon_files! {
    Frustration => "frustration" [Anger, Complaint, RepeatContact, Sarcasm, NextStepRequest, Distress, Distrust, Command],
    Insults => "insults" [Insult, InsultPeer, Directed, Profanity],
    Escalation => "escalation" [Supervisor, Churn, Legal],
    Repetition => "repetition" [AlreadySaid, NotListened],
    Calm => "calm" [Thanks, Satisfaction, Agreement, Apology],
    Polarity => "polarity" [Positive],
    Negators => "negators" [Negator, ScopeBreak],
    Intensifiers => "intensifiers" [Intensifier, Diminisher],
    Fillers => "fillers" [Filler],
    Backchannels => "backchannels" [Backchannel],
    AgentEmpathy => "agent_empathy" [Empathy, Ownership, Paraphrase, Boundary, EscalationOffer, Validation],
    AgentStock => "agent_stock" [Stock, EmptyEmpathy, FeelingNoun, Dismissal],
    AgentNextStep => "agent_next_step" [Action, When, Reference],
    AgentTransfer => "agent_transfer" [Transfer, VagueTarget, Target, Reason],
    AgentHold => "agent_hold" [Hold, FormalHold],
    Stopwords => "stopwords" [Stopword],
    CustomerCues => "customer_cues" [PaceRequest, NotUnderstood, PresenceCheck, LetMeFinish, Misunderstood, WhatNow, Impact, Stake, Pressure, EscalationRequest, LeaveThreat],
}

/// How a file's terms are matched against a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// Grammar words: the folded word exactly.
    Folded,
    /// Agent phrases: Snowball stems (agent lexicons are read for what the agent does, where a
    /// loose match costs little).
    Stem,
    /// Customer content: whole folded words, each entry word expanded by its explicit inflection
    /// class ([`super::morphology`]); no stem prefixes, so "cabreado" never meets "cabra".
    Lemma,
}

/// Every category of every file (snake_case in the TSV).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cat {
    Anger,
    Complaint,
    RepeatContact,
    Sarcasm,
    NextStepRequest,
    Distress,
    /// "me dijeron otra cosa", "no me cuadra": the customer doubts what they are told.
    Distrust,
    /// "no me vengas con…", "no me tome por…": the customer orders the agent about.
    Command,
    Insult,
    InsultPeer,
    Directed,
    Profanity,
    Supervisor,
    Churn,
    Legal,
    AlreadySaid,
    NotListened,
    Thanks,
    Satisfaction,
    Agreement,
    Apology,
    Positive,
    Negator,
    ScopeBreak,
    Intensifier,
    Diminisher,
    Filler,
    Backchannel,
    Empathy,
    Ownership,
    Paraphrase,
    Boundary,
    EscalationOffer,
    Stock,
    EmptyEmpathy,
    /// A generic noun for the customer's feeling or case ("su molestia", "la situación"): after an
    /// acknowledgement verb, and naming nothing more, it makes the rote formula.
    FeelingNoun,
    /// An answer that blames the customer, minimises what happened or changes the subject ("usted
    /// debió revisar", "no es para tanto", "por cierto, tenemos una promoción"): the cold answer
    /// whatever the words of the customer's feeling were.
    Dismissal,
    Action,
    When,
    Reference,
    Transfer,
    VagueTarget,
    Target,
    Reason,
    Hold,
    FormalHold,
    Validation,
    Stopword,
    PaceRequest,
    NotUnderstood,
    PresenceCheck,
    LetMeFinish,
    Misunderstood,
    WhatNow,
    Impact,
    EscalationRequest,
    LeaveThreat,
    /// Something the customer's life rests on (a dependant, their health, their livelihood,
    /// money they need): at stake only together with a [`Cat::Pressure`] on it.
    Stake,
    /// What presses on a [`Cat::Stake`]: a need, a deadline, a loss, something they cannot do.
    Pressure,
}

impl Cat {
    pub fn as_str(self) -> &'static str {
        match self {
            Cat::Anger => "anger",
            Cat::Complaint => "complaint",
            Cat::RepeatContact => "repeat_contact",
            Cat::Sarcasm => "sarcasm",
            Cat::NextStepRequest => "next_step_request",
            Cat::Distress => "distress",
            Cat::Distrust => "distrust",
            Cat::Command => "command",
            Cat::Insult => "insult",
            Cat::InsultPeer => "insult_peer",
            Cat::Directed => "directed",
            Cat::Profanity => "profanity",
            Cat::Supervisor => "supervisor",
            Cat::Churn => "churn",
            Cat::Legal => "legal",
            Cat::AlreadySaid => "already_said",
            Cat::NotListened => "not_listened",
            Cat::Thanks => "thanks",
            Cat::Satisfaction => "satisfaction",
            Cat::Agreement => "agreement",
            Cat::Apology => "apology",
            Cat::Positive => "positive",
            Cat::Negator => "negator",
            Cat::ScopeBreak => "scope_break",
            Cat::Intensifier => "intensifier",
            Cat::Diminisher => "diminisher",
            Cat::Filler => "filler",
            Cat::Backchannel => "backchannel",
            Cat::Empathy => "empathy",
            Cat::Ownership => "ownership",
            Cat::Paraphrase => "paraphrase",
            Cat::Boundary => "boundary",
            Cat::EscalationOffer => "escalation_offer",
            Cat::Stock => "stock",
            Cat::EmptyEmpathy => "empty_empathy",
            Cat::FeelingNoun => "feeling_noun",
            Cat::Dismissal => "dismissal",
            Cat::Action => "action",
            Cat::When => "when",
            Cat::Reference => "reference",
            Cat::Transfer => "transfer",
            Cat::VagueTarget => "vague_target",
            Cat::Target => "target",
            Cat::Reason => "reason",
            Cat::Hold => "hold",
            Cat::FormalHold => "formal_hold",
            Cat::Validation => "validation",
            Cat::Stopword => "stopword",
            Cat::PaceRequest => "pace_request",
            Cat::NotUnderstood => "not_understood",
            Cat::PresenceCheck => "presence_check",
            Cat::LetMeFinish => "let_me_finish",
            Cat::Misunderstood => "misunderstood",
            Cat::WhatNow => "what_now",
            Cat::Impact => "impact",
            Cat::EscalationRequest => "escalation_request",
            Cat::LeaveThreat => "leave_threat",
            Cat::Stake => "stake",
            Cat::Pressure => "pressure",
        }
    }
}

/// Agents address customers as "usted" or "tú/vos" depending on region and campaign: their
/// words are read with tú clitics and possessives in usted form, in entries and in text alike, so
/// "le envío" also covers "te envío" and "su cuenta" covers "tu cuenta".
pub fn agent_form(stem: &str) -> &str {
    match stem {
        "te" => "le",
        "tu" => "su",
        "tus" => "sus",
        other => other,
    }
}

/// One lexicon line.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub term: String,
    pub weight: f64,
    pub cat: Cat,
    pub variant: String,
    pub source: String,
    /// Line number in its file, for error messages and evidence.
    pub line: usize,
}

/// A lexicon file that failed to load: which file, which line, what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("lexicon {file}, line {line}: {message}")]
pub struct LexiconError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

const HEADER: [&str; 5] = ["term", "weight", "category", "variant", "source"];

/// Parse one TSV file's text into entries, strictly: a wrong line is an error, not a silent skip.
pub fn parse_tsv(file: LexiconFile, origin: &str, text: &str) -> Result<Vec<Entry>, LexiconError> {
    let err = |line: usize, message: String| LexiconError {
        file: origin.to_string(),
        line,
        message,
    };
    let mut entries = Vec::new();
    let mut header_seen = false;
    let mut seen_terms = HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if !header_seen {
            let got: Vec<&str> = cols.iter().take(5).map(|c| c.trim()).collect();
            if got != HEADER {
                return Err(err(
                    n,
                    format!("expected header `{}`, found `{line}`", HEADER.join("\\t")),
                ));
            }
            header_seen = true;
            continue;
        }
        if cols.len() < 5 {
            return Err(err(
                n,
                format!(
                    "expected at least 5 tab-separated columns, found {}",
                    cols.len()
                ),
            ));
        }
        let term = cols[0].trim();
        if term.is_empty() {
            return Err(err(n, "empty term".into()));
        }
        let markers_ok = file.matching() == Matching::Lemma;
        if term.chars().any(|c| {
            c.is_ascii_punctuation()
                && c != '-'
                && c != '\''
                && !(markers_ok && (c == '=' || c == ':'))
        }) {
            return Err(err(n, format!("term `{term}` contains punctuation")));
        }
        let weight: f64 = cols[1]
            .trim()
            .parse()
            .ok()
            .filter(|w: &f64| w.is_finite())
            .ok_or_else(|| err(n, format!("weight `{}` is not a number", cols[1])))?;
        let cat_name = cols[2].trim();
        let cat = file
            .categories()
            .iter()
            .copied()
            .find(|c| c.as_str() == cat_name)
            .ok_or_else(|| {
                let allowed: Vec<&str> = file.categories().iter().map(|c| c.as_str()).collect();
                err(
                    n,
                    format!(
                        "category `{cat_name}` is not allowed in {}.tsv (allowed: {})",
                        file.name(),
                        allowed.join(", ")
                    ),
                )
            })?;
        let variant = cols[3].trim();
        if !file.is_agent() && !super::region::valid_variant(variant) {
            return Err(err(
                n,
                format!("variant `{variant}`: use all, es-419 or region codes (es-MX,es-AR…)"),
            ));
        }
        if file.matching() == Matching::Lemma {
            for w in term.split_whitespace() {
                morphology::parse_word(w).map_err(|m| err(n, m))?;
            }
        }
        // The same term may come once per variant: its regional readings.
        if !seen_terms.insert((term.to_lowercase(), cat, variant.to_string())) {
            return Err(err(n, format!("duplicate term `{term}`")));
        }
        entries.push(Entry {
            term: term.to_string(),
            weight,
            cat,
            variant: variant.to_string(),
            source: cols[4].trim().to_string(),
            line: n,
        });
    }
    if !header_seen {
        return Err(err(0, "no header line found".into()));
    }
    Ok(entries)
}

/// A compiled lexicon: entries plus an automaton over stemmed tokens.
#[derive(Debug, Clone)]
pub struct Lexicon {
    pub file: LexiconFile,
    pub entries: Vec<Entry>,
    /// Leftmost-longest automaton over the distinct token sequences of the entries.
    automaton: Option<AhoCorasick>,
    /// Distinct pattern index → the entries spelled that way, in file order (a term may come
    /// once per regional variant, and a folded or inflected form may be shared by two entries).
    pattern_entries: Vec<Vec<usize>>,
    /// When every pattern is a single word (fillers, stopwords): those words, so a token is
    /// looked up instead of scanned for ([`Lexicon::single_word_tokens`]).
    single_words: Option<foldhash::HashSet<Box<str>>>,
    /// Where it came from ("embedded" or a path), for `/healthz` and logs.
    pub origin: String,
}

/// A match of one entry over tokens `first..=last` (indices into the segment's token list).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LexMatch {
    pub entry: usize,
    pub first: usize,
    pub last: usize,
}

/// The stemmed, filler-free token stream of a segment, ready for every automaton.
#[derive(Debug, Clone, Default)]
pub struct Haystack {
    text: String,
    /// Byte offset in `text` of each kept token's leading space, and the token index it stands for.
    starts: Vec<(usize, usize)>,
}

impl Haystack {
    /// Build from stems, skipping tokens whose `skip` flag is set (fillers).
    pub fn new<'a>(stems: impl Iterator<Item = (usize, &'a str, bool)>) -> Haystack {
        let mut text = String::with_capacity(128);
        let mut starts = Vec::with_capacity(stems.size_hint().0);
        for (idx, stem, skip) in stems {
            if skip || stem.is_empty() {
                continue;
            }
            starts.push((text.len(), idx));
            text.push(' ');
            text.push_str(stem);
        }
        text.push(' ');
        Haystack { text, starts }
    }

    fn token_at(&self, byte: usize) -> Option<usize> {
        self.starts
            .binary_search_by_key(&byte, |(b, _)| *b)
            .ok()
            .map(|i| self.starts[i].1)
    }

    fn token_ending_at(&self, byte: usize) -> Option<usize> {
        // The match ends on the space after its last token; that space is the next token's start
        // (or the final space).
        match self.starts.binary_search_by_key(&byte, |(b, _)| *b) {
            Ok(i) if i > 0 => Some(self.starts[i - 1].1),
            Ok(_) => None,
            Err(_) if byte + 1 == self.text.len() => self.starts.last().map(|s| s.1),
            Err(_) => None,
        }
    }
}

impl Lexicon {
    /// Compile entries. Content lexicons drop `transparent` words from their terms exactly as
    /// the analyzer drops them from text, so "muy amable" and "llevo dos semanas" meet
    /// "muy, muy amable" and "llevo diez semanas". Customer content terms expand to every
    /// inflected word sequence they stand for.
    pub fn compile(
        file: LexiconFile,
        entries: Vec<Entry>,
        origin: String,
        tok: &Tokenizer,
        transparent: &HashSet<String>,
    ) -> Result<Lexicon, LexiconError> {
        let mut patterns: Vec<String> = Vec::with_capacity(entries.len());
        let mut pattern_entries: Vec<Vec<usize>> = Vec::with_capacity(entries.len());
        let mut pattern_index: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let sequences = match file.matching() {
                Matching::Folded => vec![tok.fold_phrase(&e.term)],
                Matching::Lemma => term_forms(&e.term, transparent).map_err(|m| LexiconError {
                    file: origin.clone(),
                    line: e.line,
                    message: m,
                })?,
                Matching::Stem => {
                    let s = tok.stem_phrase_skipping(&e.term, transparent);
                    vec![s.split(' ').map(agent_form).collect::<Vec<_>>().join(" ")]
                }
            };
            if sequences.iter().any(|s| s.is_empty()) {
                return Err(LexiconError {
                    file: origin.clone(),
                    line: e.line,
                    message: format!("term `{}` has no words", e.term),
                });
            }
            for seq in sequences {
                let pattern = format!(" {seq} ");
                match pattern_index.get(&pattern) {
                    Some(&p) => {
                        // One entry may expand to the same form twice: it is one candidate.
                        if pattern_entries[p].last() != Some(&i) {
                            pattern_entries[p].push(i);
                        }
                    }
                    None => {
                        pattern_index.insert(pattern.clone(), patterns.len());
                        patterns.push(pattern);
                        pattern_entries.push(vec![i]);
                    }
                }
            }
        }
        let automaton = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&patterns)
                    .map_err(|e| LexiconError {
                        file: origin.clone(),
                        line: 0,
                        message: format!("cannot build matcher: {e}"),
                    })?,
            )
        };
        let single_words = patterns
            .iter()
            .all(|p| !p.trim().contains(' '))
            .then(|| patterns.iter().map(|p| p.trim().into()).collect());
        Ok(Lexicon {
            file,
            entries,
            automaton,
            pattern_entries,
            single_words,
            origin,
        })
    }

    /// Leftmost-longest, non-overlapping matches over the haystack, in token order.
    pub fn find(&self, hay: &Haystack) -> Vec<LexMatch> {
        self.find_in(hay, None)
    }

    /// Like [`Lexicon::find`]; where a term has several regional readings, the one for `region`
    /// wins, then the `all` one.
    pub fn find_in(&self, hay: &Haystack, region: Option<Region>) -> Vec<LexMatch> {
        let mut out = Vec::new();
        self.find_into(hay, region, &mut out);
        out
    }

    /// [`Lexicon::find_in`] into a caller's buffer (cleared first).
    ///
    /// One leftmost-longest pass: a match at the leftmost token, the longest there, then the next
    /// one from the token after it. Patterns are ` word word ` with a space on each side, so two
    /// adjacent matches share a space: the search resumes on the space that ended the previous
    /// match. Among entries spelled the same way, the best regional fit wins, then file order.
    pub fn find_into(&self, hay: &Haystack, region: Option<Region>, out: &mut Vec<LexMatch>) {
        out.clear();
        let Some(ac) = &self.automaton else {
            return;
        };
        let fit = |entry: usize| {
            let v = self.entries[entry].variant.as_str();
            match region {
                Some(r) if v != "all" && r.covers(v) => 2,
                _ if v == "all" => 1,
                _ => 0,
            }
        };
        let text = hay.text.as_str();
        let mut at = 0;
        while at < text.len() {
            let input = aho_corasick::Input::new(text).range(at..);
            let Some(m) = ac.find(input) else {
                break;
            };
            // The trailing space is the next token's leading one.
            at = m.end() - 1;
            let (Some(first), Some(last)) = (hay.token_at(m.start()), hay.token_ending_at(at))
            else {
                continue;
            };
            let candidates = &self.pattern_entries[m.pattern().as_usize()];
            let mut entry = candidates[0];
            if candidates.len() > 1 {
                let mut best = fit(entry);
                for &c in &candidates[1..] {
                    let f = fit(c);
                    if f > best {
                        (entry, best) = (c, f);
                    }
                }
            }
            out.push(LexMatch { entry, first, last });
        }
    }

    /// Which of `words` (one per token; empty words never match) are single-word entries: the
    /// tokens [`Lexicon::find`] reports as one-token matches over the same words.
    pub fn single_word_tokens<'a>(&self, words: impl Iterator<Item = &'a str>) -> Vec<bool> {
        match &self.single_words {
            // One-word patterns cannot overlap: every token that is one matches.
            Some(set) => words.map(|w| !w.is_empty() && set.contains(w)).collect(),
            None => {
                let words: Vec<&str> = words.collect();
                let hay = Haystack::new(words.iter().enumerate().map(|(i, w)| (i, *w, false)));
                let mut set = vec![false; words.len()];
                for m in self.find(&hay) {
                    if m.first == m.last {
                        set[m.first] = true;
                    }
                }
                set
            }
        }
    }

    pub fn entry(&self, m: &LexMatch) -> &Entry {
        &self.entries[m.entry]
    }
}

/// Most surface sequences one entry may expand to (a phrase with two verbs would explode).
const MAX_FORMS_PER_ENTRY: usize = 20_000;

/// The surface word sequences a customer-lexicon term matches: each word's inflections
/// ([`morphology::forms`]), leaving out `skip` words (fillers, single-word intensifiers, numbers)
/// unless that would shrink a phrase to one word ("mil veces" must not become "veces").
pub fn term_forms(term: &str, skip: &HashSet<String>) -> Result<Vec<String>, String> {
    let words: Vec<morphology::TermWord> = term
        .split_whitespace()
        .map(morphology::parse_word)
        .collect::<Result<_, _>>()?;
    let kept: Vec<&morphology::TermWord> =
        words.iter().filter(|w| !skip.contains(&w.text)).collect();
    let kept = if kept.len() < 2 && words.len() >= 2 {
        words.iter().collect()
    } else {
        kept
    };
    let mut seqs = vec![String::new()];
    for w in kept {
        let forms = morphology::forms(w);
        if seqs.len() * forms.len() > MAX_FORMS_PER_ENTRY {
            return Err(format!(
                "`{term}` expands to too many forms; mark fewer words as inflecting"
            ));
        }
        seqs = seqs
            .iter()
            .flat_map(|s| {
                forms.iter().map(move |f| {
                    if s.is_empty() {
                        f.clone()
                    } else {
                        format!("{s} {f}")
                    }
                })
            })
            .collect();
    }
    Ok(seqs)
}

/// All lexicons, compiled once and shared by every call.
#[derive(Debug, Clone)]
pub struct Lexicons {
    files: Vec<Lexicon>,
    /// Folded words content matching looks through: fillers, single-word intensifiers (their
    /// effect is applied as intensity), cardinal numbers ("llevo diez días" = "llevo días").
    transparent: foldhash::HashSet<String>,
}

/// Intensifiers that are also ordinary content words: never looked through.
const OPAQUE_INTENSIFIERS: &[&str] = &["bien", "algo", "medio", "poco"];

/// Cardinal numbers as ASR writes them. Grammar, not vocabulary: a duration or amount inside a
/// complaint ("llevo tres semanas") should not decide whether it matches.
/// A folded word that is a cardinal number, or digits.
pub fn is_number_word(folded: &str) -> bool {
    // Content words are stems ("ochocientos" → "ochocient", "millones" → "millon"): a stem of
    // four letters or more that begins a number word is that number.
    NUMBER_WORDS.contains(&folded)
        || (folded.len() >= 4 && NUMBER_WORDS.iter().any(|n| n.starts_with(folded)))
        || matches!(folded, "uno" | "un" | "y")
        || (!folded.is_empty() && folded.chars().all(|c| c.is_ascii_digit()))
}

const NUMBER_WORDS: &[&str] = &[
    "cero",
    "dos",
    "tres",
    "cuatro",
    "cinco",
    "seis",
    "siete",
    "ocho",
    "nueve",
    "diez",
    "once",
    "doce",
    "trece",
    "catorce",
    "quince",
    "dieciseis",
    "diecisiete",
    "dieciocho",
    "diecinueve",
    "veinte",
    "veintiuno",
    "veintidos",
    "veinticuatro",
    "treinta",
    "cuarenta",
    "cincuenta",
    "sesenta",
    "setenta",
    "ochenta",
    "noventa",
    "cien",
    "ciento",
    "doscientos",
    "trescientos",
    "cuatrocientos",
    "quinientos",
    "seiscientos",
    "setecientos",
    "ochocientos",
    "novecientos",
    "veintitres",
    "veinticinco",
    "veintiseis",
    "veintisiete",
    "veintiocho",
    "veintinueve",
    "mil",
    "millon",
    "millones",
    "guion",
];

impl Lexicons {
    /// The compiled-in defaults.
    pub fn embedded(tok: &Tokenizer) -> Result<Lexicons, LexiconError> {
        Self::load(None, tok)
    }

    /// Defaults, with any `<name>.tsv` found in `dir` replacing the embedded file of that name.
    /// A `.tsv` in `dir` whose name calma does not know is an error (a typo would otherwise be
    /// silently ignored).
    pub fn load(dir: Option<&Path>, tok: &Tokenizer) -> Result<Lexicons, LexiconError> {
        if let Some(dir) = dir {
            let listing = std::fs::read_dir(dir).map_err(|e| LexiconError {
                file: dir.display().to_string(),
                line: 0,
                message: format!("cannot read lexicon directory: {e}"),
            })?;
            for item in listing.flatten() {
                let path = item.path();
                if path.extension().and_then(|e| e.to_str()) != Some("tsv") {
                    continue;
                }
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                // The calibration and the learned reading's weights live beside the lexicons.
                let beside = [super::calibration::FILE, super::model::FILE];
                if !beside.contains(&stem) && !LexiconFile::ALL.iter().any(|f| f.name() == stem) {
                    let known: Vec<&str> = LexiconFile::ALL.iter().map(|f| f.name()).collect();
                    return Err(LexiconError {
                        file: path.display().to_string(),
                        line: 0,
                        message: format!("unknown lexicon file (known: {})", known.join(", ")),
                    });
                }
            }
        }
        let mut parsed: Vec<(String, Vec<Entry>)> = Vec::with_capacity(LexiconFile::ALL.len());
        for &file in LexiconFile::ALL {
            let over = dir.map(|d| d.join(format!("{}.tsv", file.name())));
            let (origin, text) = match over.filter(|p| p.is_file()) {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).map_err(|e| LexiconError {
                        file: path.display().to_string(),
                        line: 0,
                        message: format!("cannot read: {e}"),
                    })?;
                    (path.display().to_string(), text)
                }
                None => (
                    format!("embedded:{}.tsv", file.name()),
                    file.embedded().to_string(),
                ),
            };
            let entries = parse_tsv(file, &origin, &text)?;
            parsed.push((origin, entries));
        }
        // Grammar lexicons first: they decide which words content matching looks through.
        let mut transparent: HashSet<String> = NUMBER_WORDS.iter().map(|w| w.to_string()).collect();
        for (&file, (_, entries)) in LexiconFile::ALL.iter().zip(&parsed) {
            if matches!(file, LexiconFile::Fillers | LexiconFile::Intensifiers) {
                for e in entries {
                    let folded = tok.fold_phrase(&e.term);
                    if !folded.contains(' ') && !OPAQUE_INTENSIFIERS.contains(&folded.as_str()) {
                        transparent.insert(folded);
                    }
                }
            }
        }
        let no_skip = HashSet::new();
        let mut files = Vec::with_capacity(parsed.len());
        for (&file, (origin, entries)) in LexiconFile::ALL.iter().zip(parsed) {
            let skip = if file.matches_folded() {
                &no_skip
            } else {
                &transparent
            };
            files.push(Lexicon::compile(file, entries, origin, tok, skip)?);
        }
        let transparent = transparent.into_iter().collect();
        Ok(Lexicons { files, transparent })
    }

    pub fn get(&self, file: LexiconFile) -> &Lexicon {
        // `files` is built in `LexiconFile::ALL` order.
        let i = LexiconFile::ALL
            .iter()
            .position(|f| *f == file)
            .unwrap_or_default();
        &self.files[i]
    }

    /// Content matching looks through this folded word.
    pub fn is_transparent(&self, folded: &str) -> bool {
        self.transparent.contains(folded)
    }

    pub fn all(&self) -> &[Lexicon] {
        &self.files
    }

    /// Total entries, for `/healthz`.
    pub fn entry_count(&self) -> usize {
        self.files.iter().map(|f| f.entries.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# test\nterm\tweight\tcategory\tvariant\tsource\tnote\nestoy harto\t0.6\tanger\tall\tauthored\t\notra vez\t0.2\trepeat_contact\tall\tauthored\t\nharto\t0.4\tanger\tall\tauthored\t\n";

    fn hay(tok: &Tokenizer, text: &str) -> Haystack {
        let (_, toks) = tok.tokenize(text);
        Haystack::new(
            toks.iter()
                .enumerate()
                .map(|(i, t)| (i, t.folded.as_str(), false)),
        )
    }

    #[test]
    fn matches_inflections_longest_first_and_adjacent() {
        let tok = Tokenizer::default();
        let entries = parse_tsv(LexiconFile::Frustration, "t", SAMPLE).unwrap();
        let lex = Lexicon::compile(
            LexiconFile::Frustration,
            entries,
            "t".into(),
            &tok,
            &HashSet::new(),
        )
        .unwrap();
        let hay = |t: &str| hay(&tok, t);
        let m = lex.find(&hay("ESTOY HARTA otra vez"));
        let terms: Vec<&str> = m.iter().map(|m| lex.entry(m).term.as_str()).collect();
        assert_eq!(terms, ["estoy harto", "otra vez"]);
        assert_eq!((m[0].first, m[0].last), (0, 1));
        assert_eq!((m[1].first, m[1].last), (2, 3));
        // no partial-word matches
        assert!(lex.find(&hay("chartola")).is_empty());
        // whole words only: "hartazgo" is not an inflection of "harto"
        assert!(lex.find(&hay("qué hartazgo")).is_empty());
    }

    #[test]
    fn strict_format_errors_name_the_line() {
        let bad = "term\tweight\tcategory\tvariant\tsource\nharto\tmucho\tanger\tall\tauthored\n";
        let e = parse_tsv(LexiconFile::Frustration, "f.tsv", bad).unwrap_err();
        assert_eq!(e.line, 2);
        let bad = "term\tweight\tcategory\tvariant\tsource\nharto\t0.3\tinsult\tall\tauthored\n";
        assert!(parse_tsv(LexiconFile::Frustration, "f.tsv", bad)
            .unwrap_err()
            .message
            .contains("not allowed"));
        assert!(parse_tsv(LexiconFile::Frustration, "f.tsv", "harto\t1\n").is_err());
    }

    #[test]
    fn embedded_lexicons_load() {
        let tok = Tokenizer::default();
        let lex = Lexicons::embedded(&tok).unwrap();
        assert!(lex.entry_count() > 100);
    }
}
