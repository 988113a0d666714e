//! A learned reading of one customer turn: a multinomial logistic regression (one weight per level
//! and feature, softmax) over the rule reading's own signals (its level, flags, cue categories, constructions) and the turn's words (folded
//! words, word pairs, content stems, punctuation).
//!
//! Why: the rules know Spanish grammar (targets, negation, constructions) but only the words someone
//! listed; on turns nobody here wrote, early *tense* signals in new words read calm. The weights,
//! fitted on labelled dev utterances (`cargo run --release --example train_reading`), carry what the
//! rules miss, and the rules' signals stay the strongest features. Shipped as data
//! (`lexicons/es/reading_model.tsv`), overridable like any lexicon file.
//!
//! The model only places a turn on the four levels; whom an insult is aimed at, abuse, escalation and
//! the other cues stay the rules' (the nudges answer those, never the model alone).

use std::collections::HashMap;
use std::path::Path;

use super::customer::CustomerReading;
use super::frustration::FrustrationConfig;
use super::lexicon::LexiconError;
use super::Analysis;
use crate::protocol::Level;

/// File name (without `.tsv`) of the weights, in `lexicons/es/` or an override directory.
pub const FILE: &str = "reading_model";

/// Multinomial logistic regression: `P(level) ∝ exp(bias[level] + Σ weights[feature][level])`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadingModel {
    /// Looked up once per feature of every customer segment: a fast hash (foldhash), not
    /// SipHash, whose cost showed in profiles (the keys are our own feature names).
    weights: foldhash::HashMap<Box<str>, [f64; 4]>,
    bias: [f64; 4],
    /// The model raises a turn above the rules' level only when its level has at least this
    /// probability (lowering needs no more than being the likeliest): a false raise costs a
    /// nudge in a calm call, and a call has many turns to get one wrong.
    min_p: f64,
    /// The model moves a turn two or three levels away from the rules only when its level has at
    /// least this probability (above 1: never); nearer moves are one level at most.
    far_p: f64,
}

/// What the model says about one turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub level: Level,
    /// Probability of `level`.
    pub p: f64,
    /// Probabilities of calm, tense, frustrated, angry.
    pub probabilities: [f64; 4],
    /// The features that pushed the turn up the most, strongest first, with their weights.
    pub top: Vec<(String, f64)>,
}

const LEVELS: [Level; 4] = [Level::Calm, Level::Tense, Level::Frustrated, Level::Angry];

/// Softmax of four scores.
pub fn softmax(z: [f64; 4]) -> [f64; 4] {
    let top = z.iter().copied().fold(f64::MIN, f64::max);
    let e = z.map(|v| (v - top).exp());
    let sum: f64 = e.iter().sum();
    e.map(|v| v / sum)
}

/// The rule reading's level for a turn said once: heat on the default thresholds, and *angry* only
/// when the turn shows anger (as the call's tracker caps it).
pub fn rule_level(r: &CustomerReading) -> Level {
    let t = FrustrationConfig::default();
    let level = t.level(r.heat);
    if level == Level::Angry && !r.can_anger {
        Level::Frustrated
    } else {
        level
    }
}

/// Call `f` with every feature of a customer turn (a feature may come more than once: readers
/// count it once). Training and reading share
/// this one definition, so a weight always means the same thing.
pub fn for_each_feature(a: &Analysis, r: &CustomerReading, f: &mut dyn FnMut(&str)) {
    let mut buf = String::with_capacity(48);
    let mut emit = |parts: &[&str], f: &mut dyn FnMut(&str)| {
        buf.clear();
        for p in parts {
            buf.push_str(p);
        }
        f(&buf);
    };
    emit(&["rule:", rule_level(r).as_str()], f);
    let flags = [
        ("abuse", r.abuse.is_some()),
        ("can_anger", r.can_anger),
        ("shouting", r.shouting),
        ("sarcasm", r.sarcasm),
        ("escalation", r.escalation.is_some()),
        ("repetition", r.repetition.is_some()),
        ("next_step", r.next_step_request.is_some()),
        ("distress_only", r.distress_only),
        ("cool", r.cool > 0.0),
        ("question", a.question),
        ("exclamation", a.exclamations > 0),
        ("exclamations", a.exclamations > 1),
        ("short", a.words <= 3),
        ("long", a.words >= 20),
    ];
    for (name, on) in flags {
        if on {
            emit(&["flag:", name], f);
        }
    }
    for h in &a.hits {
        if h.weight.abs() >= 0.1 {
            let sign = if h.negated { "neg:" } else { "cat:" };
            emit(&[sign, h.cat.as_str()], f);
        }
    }
    for c in &a.constructions {
        emit(&["cx:", c.kind.family()], f);
    }
    for s in &a.content {
        emit(&["s:", s], f);
    }
    // Words and word pairs, folded and stemmed; none made only of function words.
    let function = |i: usize| a.function_word.get(i).copied().unwrap_or(false);
    for (unit, pair, list) in [("w:", "b:", &a.folded), ("t:", "u:", &a.stems)] {
        for (i, w) in list.iter().enumerate() {
            if !function(i) {
                emit(&[unit, w], f);
            }
        }
        for (i, two) in list.windows(2).enumerate() {
            if !(function(i) && function(i + 1)) {
                emit(&[pair, &two[0], "_", &two[1]], f);
            }
        }
    }
}

/// The least level a turn's own words set, which the learned reading may not lower it under: a
/// feeling named in the first person ("ya me estoy preocupando", "estoy bien frustrado") is at
/// least *tense*, however calm the rest of a long story sounds to a bag of words.
pub fn rules_floor(a: &Analysis) -> usize {
    usize::from(super::customer::declared_feeling(a).is_some())
}

/// The rules read something a bag of words cannot: a negated cue ("no estoy enfadado"), praise or
/// thanks taken at face value ("qué pasada, joder, funciona genial"), a trap entry ("no manches"),
/// or heat that belongs to someone else (reported speech, a third party, the customer themself).
/// The model may then lower the rules' level, never raise it.
pub fn rules_saw_a_trap(a: &Analysis, r: &CustomerReading) -> bool {
    use super::lexicon::Cat;
    let heat_cat = |c: Cat| {
        matches!(
            c,
            Cat::Anger
                | Cat::Complaint
                | Cat::RepeatContact
                | Cat::Sarcasm
                | Cat::Distress
                | Cat::Distrust
                | Cat::Command
                | Cat::Insult
                | Cat::InsultPeer
                | Cat::Directed
                | Cat::Profanity
                | Cat::Supervisor
                | Cat::Churn
                | Cat::Legal
                | Cat::AlreadySaid
                | Cat::NotListened
        )
    };
    let praise = !r.sarcasm
        && r.cool > 0.0
        && a.hits
            .iter()
            .any(|h| matches!(h.cat, Cat::Thanks | Cat::Satisfaction) && !h.negated);
    praise
        || r.evidence
            .iter()
            .any(|(_, rule)| rule.ends_with("(context)"))
        || a.hits
            .iter()
            .any(|h| heat_cat(h.cat) && (h.negated || (h.weight > 0.0 && h.weight < 0.1)))
}

/// A feature's identity for de-duplication within one turn (FNV-1a).
fn feature_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Features made of the customer's own words (quoted as evidence).
fn is_word_feature(name: &str) -> bool {
    ["w:", "b:", "s:", "t:", "u:"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Feature families, by prefix: the fitting tool can leave some out.
pub const FAMILIES: &[&str] = &["rule", "flag", "cat", "neg", "cx", "w", "b", "s", "t", "u"];

impl ReadingModel {
    /// A model from weights and biases (the fitting tool builds one).
    pub fn new(
        weights: HashMap<Box<str>, [f64; 4]>,
        bias: [f64; 4],
        min_p: f64,
        far_p: f64,
    ) -> ReadingModel {
        ReadingModel {
            weights: weights.into_iter().collect(),
            bias,
            min_p,
            far_p,
        }
    }

    /// The weights compiled into calma.
    pub fn embedded() -> ReadingModel {
        ReadingModel::parse(include_str!("../../lexicons/es/reading_model.tsv"))
            .expect("lexicons/es/reading_model.tsv is valid (tested)")
    }

    /// The embedded weights, or `reading_model.tsv` from an override directory when it has one.
    pub fn load(dir: Option<&Path>) -> Result<ReadingModel, LexiconError> {
        let Some(path) = dir
            .map(|d| d.join(format!("{FILE}.tsv")))
            .filter(|p| p.is_file())
        else {
            return Ok(ReadingModel::embedded());
        };
        let err = |message: String| LexiconError {
            file: path.display().to_string(),
            line: 0,
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
        ReadingModel::parse(&text).map_err(err)
    }

    /// Read `feature<TAB>calm<TAB>tense<TAB>frustrated<TAB>angry` lines (`#` comments, a header
    /// starting `feature`); the feature `bias` holds the four biases and is required; an optional
    /// `min_p<TAB>p` line sets the least probability at which the model raises the rules' level,
    /// an optional `far_p<TAB>p` the least at which it moves it more than one level (default: never).
    pub fn parse(text: &str) -> Result<ReadingModel, String> {
        let mut weights = HashMap::new();
        let mut bias = None;
        let mut min_p = 0.0;
        let mut far_p = 1.01;
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() || line.starts_with("feature\t") {
                continue;
            }
            let mut cols = line.split('\t');
            let name = cols.next().unwrap_or("");
            if name == "min_p" {
                min_p = cols
                    .next()
                    .and_then(|v| v.trim().parse().ok())
                    .filter(|v: &f64| (0.0..=1.0).contains(v))
                    .ok_or_else(|| format!("line {}: min_p must be within 0..1", i + 1))?;
                continue;
            }
            if name == "far_p" {
                far_p = cols
                    .next()
                    .and_then(|v| v.trim().parse().ok())
                    .filter(|v: &f64| (0.0..=1.01).contains(v))
                    .ok_or_else(|| format!("line {}: far_p must be within 0..1.01", i + 1))?;
                continue;
            }
            let mut w = [0.0; 4];
            for v in w.iter_mut() {
                *v = cols
                    .next()
                    .and_then(|v| v.trim().parse().ok())
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| format!("line {}: four finite weights expected", i + 1))?;
            }
            match name {
                "bias" => bias = Some(w),
                "" => return Err(format!("line {}: empty feature", i + 1)),
                _ => {
                    weights.insert(name.into(), w);
                }
            }
        }
        let bias = bias.ok_or("the `bias` line is required")?;
        Ok(ReadingModel {
            weights: weights.into_iter().collect(),
            bias,
            min_p,
            far_p,
        })
    }

    /// The file form, heaviest features first (`header` goes on top as comments).
    pub fn to_tsv(&self, header: &str) -> String {
        let mut s: String = header.lines().map(|l| format!("# {l}\n")).collect();
        s.push_str("feature\tcalm\ttense\tfrustrated\tangry\n");
        let row = |name: &str, w: &[f64; 4]| {
            format!(
                "{name}\t{:.4}\t{:.4}\t{:.4}\t{:.4}\n",
                w[0], w[1], w[2], w[3]
            )
        };
        s.push_str(&format!("min_p\t{:.2}\n", self.min_p));
        s.push_str(&format!("far_p\t{:.2}\n", self.far_p));
        s.push_str(&row("bias", &self.bias));
        let size = |w: &[f64; 4]| w.iter().map(|v| v.abs()).fold(0.0, f64::max);
        let mut w: Vec<_> = self.weights.iter().collect();
        w.sort_by(|a, b| size(b.1).total_cmp(&size(a.1)).then(a.0.cmp(b.0)));
        for (name, v) in w {
            s.push_str(&row(name, v));
        }
        s
    }

    pub fn weights(&self, feature: &str) -> [f64; 4] {
        self.weights.get(feature).copied().unwrap_or([0.0; 4])
    }

    pub fn bias(&self) -> [f64; 4] {
        self.bias
    }

    /// The least probability at which the model raises a turn above the rules' level.
    pub fn min_p(&self) -> f64 {
        self.min_p
    }

    /// The level a turn is read at, from the model's probabilities, the rules' level and whether
    /// the rules saw a trap. Reading and the fitting tool share this one rule.
    ///
    /// Words move the rules' reading by one level, up or down; further only at `far_p` (two
    /// levels away from what the rules read — praise read *angry*, "es una vergüenza" read calm —
    /// is mostly a bag of words out of its depth). A raise needs no trap and `min_p` of
    /// probability on the levels at or above the one it raises to: a turn the model reads
    /// *frustrated* but may move only to *tense* is surely at least *tense*.
    pub fn decide(&self, p: [f64; 4], rules: usize, trap: bool, floor: usize) -> usize {
        let best = (0..4).fold(0, |best, i| if p[i] > p[best] { i } else { best });
        let near = best.clamp(rules.saturating_sub(1), (rules + 1).min(3));
        let level = if best != near && p[best] >= self.far_p {
            best
        } else {
            near
        };
        let at_least: f64 = p[level..].iter().sum();
        // A lowering needs the model as sure of where it is heading: words it cannot place (an
        // entry a supervisor just added, a regional phrase it never saw) do not talk the rules
        // down.
        let placed = if level > rules && (at_least < self.min_p || trap)
            || level < rules && p[best] < LOWER_P
        {
            rules
        } else {
            level
        };
        // A lowering stops at the floor the turn's own words set (never above the rules).
        placed.max(floor.min(rules))
    }

    /// Place one customer turn on the four levels.
    pub fn predict(&self, a: &Analysis, r: &CustomerReading) -> Prediction {
        let mut signals = [0.0; 4];
        let mut words = [0.0; 4];
        // Quotable features, as ranges into one buffer: no allocation per feature.
        let mut names = String::new();
        let mut seen: Vec<(usize, usize, [f64; 4])> = Vec::new();
        let mut hashes: Vec<u64> = Vec::with_capacity(64);
        for_each_feature(a, r, &mut |name| {
            // Features are present or absent (a long turn is not hotter for repeating "y").
            let h = feature_hash(name);
            if hashes.contains(&h) {
                return;
            }
            hashes.push(h);
            let word = is_word_feature(name);
            if let Some(w) = self.weights.get(name) {
                let sum = if word { &mut words } else { &mut signals };
                for (zi, wi) in sum.iter_mut().zip(w) {
                    *zi += wi;
                }
                if name.starts_with("w:") || name.starts_with("b:") {
                    let start = names.len();
                    names.push_str(name);
                    seen.push((start, names.len(), *w));
                }
            }
        });
        let mut z = self.bias;
        for c in 0..4 {
            z[c] += signals[c] + words[c];
        }
        let p = softmax(z);
        let i = (0..4).fold(0, |best, i| if p[i] > p[best] { i } else { best });
        // The words that favour the chosen level over calm the most.
        let mut ranked: Vec<(&str, f64)> = seen
            .iter()
            .map(|&(from, to, w)| (&names[from..to], w[i] - w[0]))
            .filter(|(_, d)| *d > 0.0)
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.dedup_by(|a, b| a.0 == b.0);
        let top = ranked
            .into_iter()
            .take(3)
            .map(|(n, d)| (n.to_string(), d))
            .collect();
        Prediction {
            level: LEVELS[i],
            p: p[i],
            probabilities: p,
            top,
        }
    }

    /// The rule reading, placed on the level the model reads: heat moves into that level's band
    /// (on the default thresholds) only when the rules' heat lies outside it, and the move is in
    /// the evidence with the words that carried it.
    pub fn adjust(&self, a: &Analysis, r: &mut CustomerReading) {
        let pred = self.place(a, r);
        self.apply(&pred, r);
    }

    /// Where the model places a turn the rules read as `r` (its [`Prediction`] with the level
    /// [`ReadingModel::decide`] allows), without changing the reading yet.
    pub fn place(&self, a: &Analysis, r: &CustomerReading) -> Prediction {
        let mut pred = self.predict(a, r);
        let rules = rule_level(r) as usize;
        let level = self.decide(
            pred.probabilities,
            rules,
            rules_saw_a_trap(a, r),
            rules_floor(a),
        );
        pred.level = LEVELS[level];
        pred.p = pred.probabilities[level];
        pred
    }

    /// Move the rules' reading to the placed level (see [`ReadingModel::adjust`]).
    pub fn apply(&self, pred: &Prediction, r: &mut CustomerReading) {
        let t = FrustrationConfig::default();
        let (low, high) = match pred.level {
            Level::Calm => (0.0, t.tense * 0.5),
            Level::Tense => (t.tense + 0.05, t.frustrated - 0.01),
            Level::Frustrated => (t.frustrated + 0.05, t.angry - 0.01),
            Level::Angry => (t.angry + 0.05, 1.0),
        };
        if rule_level(r) == pred.level || (low..=high).contains(&r.heat) {
            return;
        }
        let moved = r.heat.clamp(low, high);
        let words: Vec<&str> = pred
            .top
            .iter()
            .map(|(n, _)| n.split_once(':').map_or(n.as_str(), |(_, w)| w))
            .collect();
        let quote = words.join(" … ").replace('_', " ");
        r.evidence.push((
            if moved > r.heat { quote } else { String::new() },
            format!(
                "model/{} (p={:.2}, rules read {})",
                pred.level.as_str(),
                pred.p,
                rule_level(r).as_str()
            ),
        ));
        r.model_read = Some(super::customer::ModelRead {
            level: pred.level,
            p: pred.p,
            rules: rule_level(r),
        });
        r.heat = moved;
        if pred.level == Level::Angry {
            r.can_anger = true;
        }
    }
}

/// A lowering needs the model's likeliest level at least this probable.
const LOWER_P: f64 = 0.5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_parses_and_round_trips() {
        let m = ReadingModel::embedded();
        let again = ReadingModel::parse(&m.to_tsv("x")).unwrap();
        assert_eq!(again.bias(), m.bias());
        assert!(
            ReadingModel::parse("feature\tcalm\ttense\tfrustrated\tangry\nw:x\t1\t2\t3\t4\n")
                .is_err()
        );
        assert!(ReadingModel::parse("bias\t0\t0\tnope\t0\n").is_err());
    }

    #[test]
    fn softmax_sums_to_one_and_follows_the_scores() {
        let p = softmax([0.0, 2.0, 0.0, -1.0]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(p[1] > p[0] && p[0] > p[3]);
        let big = softmax([900.0, 0.0, 0.0, 0.0]);
        assert!(big[0] > 0.999 && big.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn the_model_moves_the_rules_only_as_far_as_it_is_sure() {
        let m = ReadingModel::new(HashMap::new(), [0.0; 4], 0.7, 0.6);
        let (calm, tense, frustrated, angry) = (0, 1, 2, 3);
        // Sure it is angry where the rules read calm: two levels and more.
        assert_eq!(m.decide([0.1, 0.05, 0.15, 0.7], calm, false, 0), angry);
        // Likeliest angry but not sure of it: one level, because "at least tense" is sure.
        assert_eq!(m.decide([0.2, 0.15, 0.2, 0.45], calm, false, 0), tense);
        // Not sure enough that it is any higher: the rules' level stands.
        assert_eq!(m.decide([0.35, 0.4, 0.15, 0.1], calm, false, 0), calm);
        // A trap the rules saw ("no estoy enfadado") blocks every raise, never a lowering.
        assert_eq!(m.decide([0.0, 0.0, 0.1, 0.9], calm, true, 0), calm);
        // A feeling named in the first person sets a floor a lowering stops at, and never
        // lifts the rules' own level.
        assert_eq!(m.decide([0.98, 0.01, 0.01, 0.0], tense, false, 1), tense);
        assert_eq!(
            m.decide([0.98, 0.01, 0.01, 0.0], frustrated, false, 1),
            tense
        );
        assert_eq!(m.decide([0.98, 0.01, 0.01, 0.0], calm, false, 1), calm);
        assert_eq!(m.decide([0.9, 0.1, 0.0, 0.0], frustrated, true, 0), calm);
        // Lowering needs the likeliest level at LOWER_P (0.5), one level at a time below far_p; a model
        // unsure where the turn belongs leaves the rules' level.
        assert_eq!(
            m.decide([0.55, 0.2, 0.1, 0.15], angry, false, 0),
            frustrated
        );
        assert_eq!(m.decide([0.45, 0.2, 0.15, 0.2], angry, false, 0), angry);
        // The shipped file's limits are the documented ones.
        let shipped = ReadingModel::embedded();
        assert_eq!((shipped.min_p, shipped.far_p), (0.7, 0.6));
    }
}
