//! Every customer lexicon word, expanded by its inflection class exactly as calma matches it, is
//! checked against a real Spanish word list: Debian's `hunspell-es` (`/usr/share/hunspell/es_ES.dic`
//! and `.aff`, installed by `.ci/run`). A form that the dictionary knows, but only as an inflection
//! of some *other* word, is a collision ("cabreado" must not match "cabra", an insult must not
//! match its -idad noun or its -mente adverb). Each accepted exception is documented in
//! `tests/data/lexicon_collisions_allowed.tsv`.
//!
//! The word list is the `.dic` stems plus their suffix (SFX) rules applied one level deep, which
//! is how the Spanish `.aff` is built (no continuation classes); prefixes are left out (they make
//! "anti-"/"re-" words, not inflections).

use std::collections::{HashMap, HashSet};

use calma::language::lexicon::Matching;
use calma::language::morphology::{self, Inflection};
use calma::language::normalize::fold;
use calma::language::{Analyzer, Side};

const DIC: &str = "/usr/share/hunspell/es_ES.dic";
const AFF: &str = "/usr/share/hunspell/es_ES.aff";

/// One suffix rule: strip `strip` from the end, add `add`, if the word ends matching `cond`.
struct Rule {
    strip: String,
    add: String,
    cond: Vec<(bool, Vec<char>)>,
}

fn parse_cond(c: &str) -> Vec<(bool, Vec<char>)> {
    let mut out = Vec::new();
    let mut it = c.chars().peekable();
    while let Some(ch) = it.next() {
        match ch {
            '.' => out.push((true, Vec::new())),
            '[' => {
                let neg = it.peek() == Some(&'^');
                if neg {
                    it.next();
                }
                let mut set = Vec::new();
                for c in it.by_ref() {
                    if c == ']' {
                        break;
                    }
                    set.push(c);
                }
                out.push((neg, set));
            }
            c => out.push((false, vec![c])),
        }
    }
    out
}

impl Rule {
    fn apply(&self, word: &str) -> Option<String> {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() < self.cond.len() {
            return None;
        }
        let tail = &chars[chars.len() - self.cond.len()..];
        let ok = tail.iter().zip(&self.cond).all(|(c, (neg, set))| {
            if *neg {
                !set.contains(c)
            } else {
                set.contains(c)
            }
        });
        if !ok {
            return None;
        }
        let base = word.strip_suffix(self.strip.as_str())?;
        Some(format!("{base}{}", self.add))
    }
}

/// Folded form → the dictionary stems (folded) that produce it, for the forms in `wanted`.
fn dictionary(wanted: &HashSet<String>) -> HashMap<String, HashSet<String>> {
    let aff = std::fs::read_to_string(AFF).unwrap();
    let mut rules: HashMap<char, Vec<Rule>> = HashMap::new();
    for line in aff.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 5 && f[0] == "SFX" {
            let flag = f[1].chars().next().unwrap();
            let z = |s: &str| {
                if s == "0" {
                    String::new()
                } else {
                    s.to_string()
                }
            };
            rules.entry(flag).or_default().push(Rule {
                strip: z(f[2]),
                add: z(f[3].split('/').next().unwrap()),
                cond: parse_cond(f[4]),
            });
        }
    }
    let dic = std::fs::read_to_string(DIC).unwrap();
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    for line in dic.lines().skip(1) {
        let entry = line.split_whitespace().next().unwrap_or("");
        let (word, flags) = entry.split_once('/').unwrap_or((entry, ""));
        let root = fold(word);
        let mut forms = vec![root.clone()];
        for flag in flags.chars() {
            for r in rules.get(&flag).into_iter().flatten() {
                if let Some(f) = r.apply(word) {
                    forms.push(fold(&f));
                }
            }
        }
        for f in forms {
            if wanted.contains(&f) {
                out.entry(f).or_default().insert(root.clone());
            }
        }
    }
    out
}

#[test]
fn lexicon_words_do_not_match_unrelated_spanish_words() {
    if !std::path::Path::new(DIC).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{DIC} is missing: .ci/run installs hunspell-es"
        );
        eprintln!("skipped: {DIC} missing (apt-get install hunspell-es)");
        return;
    }
    let an = Analyzer::load(None).unwrap();
    let allowed_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/lexicon_collisions_allowed.tsv"
    ))
    .unwrap();
    let allowed: HashSet<(String, String)> = allowed_text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            assert!(
                c.len() >= 3 && !c[2].trim().is_empty(),
                "every exception says why: {l}"
            );
            (c[0].to_string(), c[1].to_string())
        })
        .collect();

    // Every inflecting word of a customer lexicon and the family it matches.
    let mut words: Vec<(String, String, Vec<String>)> = Vec::new();
    for lex in an.lexicons().all() {
        if lex.file.matching() != Matching::Lemma {
            continue;
        }
        for e in &lex.entries {
            for raw in e.term.split_whitespace() {
                let w = morphology::parse_word(raw).unwrap();
                if w.class == Inflection::Exact {
                    continue;
                }
                let family = morphology::forms(&w);
                words.push((
                    format!("{}.tsv:{}", lex.file.name(), e.line),
                    w.text,
                    family,
                ));
            }
        }
    }
    assert!(words.len() > 300, "only {} inflecting words", words.len());
    let wanted: HashSet<String> = words
        .iter()
        .flat_map(|(_, c, f)| f.iter().cloned().chain([c.clone()]))
        .collect();
    let dict = dictionary(&wanted);
    assert!(
        dict.len() > 1000,
        "the word list looks empty ({} forms)",
        dict.len()
    );

    let mut collisions = Vec::new();
    let mut seen = HashSet::new();
    for (place, citation, family) in &words {
        let own = dict.get(citation).cloned().unwrap_or_default();
        for form in family {
            if form == citation || !seen.insert((form.clone(), citation.clone())) {
                continue;
            }
            let Some(roots) = dict.get(form) else {
                continue;
            };
            // Related: the form's dictionary stem also makes the lexicon word, or is one of the
            // word's own forms (irregular verb forms are listed one by one in the .dic).
            let related = roots
                .iter()
                .any(|r| own.contains(r) || r == citation || family.contains(r));
            if !related && !allowed.contains(&(form.clone(), citation.clone())) {
                let mut r: Vec<&String> = roots.iter().collect();
                r.sort();
                collisions.push(format!(
                    "{place}: `{citation}` also matches `{form}` (a form of {r:?})"
                ));
            }
        }
    }
    assert!(
        collisions.is_empty(),
        "{} lexicon words match unrelated Spanish words (fix the entry's inflection class, or \
         document the exception in tests/data/lexicon_collisions_allowed.tsv):\n{}",
        collisions.len(),
        collisions.join("\n")
    );
}

/// The collisions the issue names: the words are read, their look-alikes are not.
#[test]
fn issue_collisions_read_nothing() {
    let an = Analyzer::load(None).unwrap();
    let hits = |t: &str| {
        an.analyze(t, Side::Customer)
            .hits
            .iter()
            .map(|h| h.term.clone())
            .collect::<Vec<_>>()
    };
    for (word, look_alike) in [
        ("estoy cabreado", "tengo una cabra en la finca"),
        ("es un imbécil", "la imbecilidad del sistema"),
        ("qué estúpido", "lo hizo estúpidamente"),
        ("no seas tonto", "lo dijo tontamente"),
        ("qué idiota", "qué idiotez de sistema"),
    ] {
        assert!(!hits(word).is_empty(), "{word:?} is read");
        assert!(
            hits(look_alike).is_empty(),
            "{look_alike:?} read as {:?}",
            hits(look_alike)
        );
    }
}
