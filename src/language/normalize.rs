//! Text normalisation for matching: NFC, lowercase, accent folding, tokens with byte offsets into
//! the original (so evidence quotes show what the customer said), Snowball Spanish stems.
//!
//! Lexicon entries and transcript text go through exactly this pipeline, in the same order, so a
//! folded-and-stemmed entry matches every inflection and accent spelling ASR produces.

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;

/// One word of a segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// Byte range in the original text.
    pub start: usize,
    pub end: usize,
    /// Lowercase, accents removed ("Vergüenza" → "verguenza").
    pub folded: String,
    /// Snowball Spanish stem of `folded` (after undoing the -ísimo superlative).
    pub stem: String,
    /// The word carried the -ísimo/-ísima superlative ("hartísimo"): an intensifier in itself.
    pub superlative: bool,
    /// The folded word without its superlative ("harto" for "hartísimo"), when it had one.
    pub base: Option<String>,
    /// Punctuation that ends a clause (, . ; : ? ! …) stands between this token and the previous one.
    pub clause_break_before: bool,
    /// The original word was written in capitals (two letters or more).
    pub all_caps: bool,
}

/// Lowercase + strip accents (NFD, drop combining marks), but keep "ñ": it is a letter of its
/// own in Spanish ("año" is not "ano", "coño" is not "con"), and ASR writes it reliably.
pub fn fold(s: &str) -> String {
    if s.is_ascii() {
        // NFD leaves ASCII alone and it has no combining marks: lowercasing is all there is.
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.nfd().peekable();
    while let Some(c) = chars.next() {
        if ('\u{0300}'..='\u{036f}').contains(&c) {
            continue;
        }
        if (c == 'n' || c == 'N') && chars.peek() == Some(&'\u{0303}') {
            chars.next();
            out.push('ñ');
            continue;
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn is_clause_punct(c: char) -> bool {
    matches!(
        c,
        ',' | '.'
            | ';'
            | ':'
            | '?'
            | '!'
            | '¿'
            | '¡'
            | '…'
            | '('
            | ')'
            | '—'
            | '–'
            | '"'
            | '«'
            | '»'
    )
}

/// What a word reads as (folded, stemmed, superlative, capitals): a pure function of the word.
#[derive(Clone)]
struct Word {
    folded: std::rc::Rc<str>,
    stem: std::rc::Rc<str>,
    base: Option<std::rc::Rc<str>>,
    superlative: bool,
    all_caps: bool,
}

/// Distinct words remembered per thread before the cache starts over (about 180 bytes a word:
/// under 3 MiB per thread at most; 179 KiB after the 16 labelled calls).
const WORD_CACHE_MAX: usize = 16_384;

thread_local! {
    /// Word → reading. Call text repeats words constantly (every partial revision re-reads the
    /// words before it, and a contact centre's vocabulary is small), and Snowball stemming is
    /// the analyzer's largest single cost. The cache holds only pure results, so it cannot
    /// change any reading; it lives per thread so the shared analyzer needs no lock.
    static WORDS: std::cell::RefCell<foldhash::HashMap<Box<str>, Word>> =
        std::cell::RefCell::new(foldhash::HashMap::default());
}

/// Split into word tokens; keep offsets into the NFC form of the text (returned alongside), since
/// decomposed input would otherwise split words at combining marks.
pub struct Tokenizer {
    stemmer: Stemmer,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokenizer(es)")
    }
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer {
            stemmer: Stemmer::create(Algorithm::Spanish),
        }
    }
}

impl Tokenizer {
    /// Tokenise `text`. Returns the NFC text the offsets refer to and the tokens.
    pub fn tokenize(&self, text: &str) -> (String, Vec<Token>) {
        let nfc: String = if unicode_normalization::is_nfc(text) {
            text.to_string()
        } else {
            text.nfc().collect()
        };
        // About one word per six bytes of call text: one allocation instead of a growth series.
        let mut tokens = Vec::with_capacity(nfc.len() / 6 + 1);
        let mut word_start: Option<usize> = None;
        let mut saw_break = false;
        let mut pending_break = false;
        let mut iter = nfc.char_indices().peekable();
        while let Some((i, c)) = iter.next() {
            // Keep apostrophes and hyphens inside words ("wi-fi"), not at their edges.
            let joiner = (c == '-' || c == '\'' || c == '’')
                && word_start.is_some()
                && iter.peek().is_some_and(|(_, n)| is_word_char(*n));
            if is_word_char(c) || joiner {
                if word_start.is_none() {
                    word_start = Some(i);
                    pending_break = saw_break;
                    saw_break = false;
                }
            } else {
                if let Some(s) = word_start.take() {
                    tokens.push(self.make_token(&nfc, s, i, pending_break));
                }
                if is_clause_punct(c) {
                    saw_break = true;
                }
            }
        }
        if let Some(s) = word_start {
            tokens.push(self.make_token(&nfc, s, nfc.len(), pending_break));
        }
        (nfc, tokens)
    }

    fn make_token(&self, text: &str, start: usize, end: usize, brk: bool) -> Token {
        let word = &text[start..end];
        let token = |w: &Word| Token {
            start,
            end,
            // `String::from(&str)`: one exact allocation (`Rc<str>::to_string` goes through
            // `Display` and grows the string).
            folded: String::from(&*w.folded),
            stem: String::from(&*w.stem),
            superlative: w.superlative,
            base: w.base.as_deref().map(str::to_string),
            clause_break_before: brk,
            all_caps: w.all_caps,
        };
        WORDS.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(w) = cache.get(word) {
                return token(w);
            }
            let w = self.read_word(word);
            if cache.len() >= WORD_CACHE_MAX {
                cache.clear();
            }
            let t = token(&w);
            cache.insert(word.into(), w);
            t
        })
    }

    /// Everything a token derives from its word alone.
    fn read_word(&self, word: &str) -> Word {
        let letters = word.chars().filter(|c| c.is_alphabetic()).count();
        let all_caps = letters >= 2 && word.chars().all(|c| !c.is_alphabetic() || c.is_uppercase());
        let folded = fold(word);
        let (base, superlative) = undo_superlative(&folded);
        let stem = self.stem(&base);
        Word {
            folded: folded.as_str().into(),
            stem: stem.as_str().into(),
            base: superlative.then(|| base.as_str().into()),
            superlative,
            all_caps,
        }
    }

    /// Stem one folded word.
    pub fn stem(&self, folded: &str) -> String {
        self.stemmer.stem(folded).into_owned()
    }

    /// Folded words of a lexicon term, joined by single spaces (for grammar-word lexicons).
    pub fn fold_phrase(&self, term: &str) -> String {
        let (_, toks) = self.tokenize(term);
        toks.iter()
            .map(|t| t.folded.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Stems of a lexicon term, leaving out words whose folded form is in `skip`.
    pub fn stem_phrase_skipping(
        &self,
        term: &str,
        skip: &std::collections::HashSet<String>,
    ) -> String {
        let (_, toks) = self.tokenize(term);
        let kept: Vec<&str> = toks
            .iter()
            .filter(|t| !skip.contains(&t.folded))
            .map(|t| t.stem.as_str())
            .collect();
        if kept.len() < 2 && toks.len() >= 2 {
            // A phrase never shrinks to one word: "mil veces" must not become "veces" (that
            // would match "a veces", "dos veces"); it then matches as written.
            return self.stem_phrase(term);
        }
        kept.join(" ")
    }

    /// Stems of a lexicon term (already a phrase of words), joined by single spaces.
    pub fn stem_phrase(&self, term: &str) -> String {
        let (_, toks) = self.tokenize(term);
        toks.iter()
            .map(|t| t.stem.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// "hartisimo" → ("harto", true); "riquisima" → ("rico", true); other words unchanged.
///
/// Snowball leaves superlatives alone (hartísimo → "hartisim"), so without this they would
/// never meet their base entry.
fn undo_superlative(folded: &str) -> (String, bool) {
    for suffix in ["isimos", "isimas", "isimo", "isima"] {
        if let Some(base) = folded.strip_suffix(suffix) {
            if base.chars().count() < 2 {
                break;
            }
            let base = if let Some(b) = base.strip_suffix("qu") {
                format!("{b}c")
            } else if let Some(b) = base.strip_suffix("gu") {
                format!("{b}g")
            } else {
                base.to_string()
            };
            let ending = if suffix.contains('a') { "a" } else { "o" };
            return (format!("{base}{ending}"), true);
        }
    }
    (folded.to_string(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_accents_and_case() {
        assert_eq!(
            fold("Vergüenza ÉXITO año Ñandú"),
            "verguenza exito año ñandu"
        );
        let t = Tokenizer::default();
        assert_ne!(t.stem_phrase("coño"), t.stem_phrase("con"));
    }

    #[test]
    fn offsets_point_into_original() {
        let t = Tokenizer::default();
        let (text, toks) = t.tokenize("¡Estoy HARTÍSIMO, de verdad!");
        let words: Vec<&str> = toks.iter().map(|k| &text[k.start..k.end]).collect();
        assert_eq!(words, ["Estoy", "HARTÍSIMO", "de", "verdad"]);
        assert!(toks[1].superlative && toks[1].all_caps);
        assert_eq!(toks[1].stem, t.stem("harto"));
        assert!(toks[2].clause_break_before);
        assert!(!toks[1].clause_break_before);
    }

    #[test]
    fn same_pipeline_for_accented_and_plain() {
        let t = Tokenizer::default();
        assert_eq!(t.stem_phrase("está harta"), t.stem_phrase("esta harto"));
        assert_eq!(t.stem_phrase("vergüenza"), t.stem_phrase("verguenza"));
        assert_eq!(undo_superlative("riquisimo").0, "rico");
        assert_eq!(undo_superlative("larguisima").0, "larga");
    }

    #[test]
    fn decomposed_input_is_one_word() {
        let t = Tokenizer::default();
        let (_, toks) = t.tokenize("cami\u{301}on wi-fi");
        assert_eq!(toks.len(), 2);
        assert_eq!(toks[0].folded, "camion");
        assert_eq!(toks[1].folded, "wi-fi");
    }
}
