//! Fit `lexicons/es/calibration.tsv` on labelled customer utterances (the dev part only: never
//! the test part). Coordinate search over every calibration number: each is tried at a few
//! multiples of its value and kept where exact 4-level agreement (ties: binary agreement) is
//! best. A two-fold run (fit on one half, score on the other) reports how well the fit carries
//! over to rows it did not see.
//!
//! `cargo run --release --example calibrate -- eval/blind/dev/utterances.tsv > lexicons/es/calibration.tsv`

use calma::language::calibration::Calibration;
use calma::language::customer;
use calma::language::frustration::FrustrationConfig;
use calma::language::region::Region;
use calma::language::{Analysis, Analyzer, Side};

struct Row {
    analysis: Analysis,
    level: usize,
}

fn rank(level: &str) -> Option<usize> {
    ["calm", "tense", "frustrated", "angry"]
        .iter()
        .position(|l| *l == level)
}

fn load(path: &str, an: &Analyzer) -> Vec<Row> {
    let text = std::fs::read_to_string(path).expect("readable utterance TSV");
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (speaker, variant, text_col, level) =
        (col("speaker"), col("variant"), col("text"), col("level"));
    lines
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            if c.get(speaker) != Some(&"customer") {
                return None;
            }
            let region = c.get(variant).and_then(|v| Region::parse(v));
            Some(Row {
                analysis: an.analyze_in(c[text_col], Side::Customer, region),
                level: rank(c.get(level)?)?,
            })
        })
        .collect()
}

/// The level a one-segment call reads: only a turn that shows anger reaches angry.
fn level_of(a: &Analysis, cal: &Calibration, levels: &FrustrationConfig) -> usize {
    let r = customer::read_with(a, cal);
    let score = if r.can_anger {
        r.heat
    } else {
        r.heat.min(levels.angry - 0.01)
    };
    rank(levels.level(score).as_str()).unwrap_or(0)
}

/// (exact, binary) agreement counts.
fn score(rows: &[&Row], cal: &Calibration, levels: &FrustrationConfig) -> (usize, usize) {
    rows.iter().fold((0, 0), |(e, b), r| {
        let got = level_of(&r.analysis, cal, levels);
        (
            e + usize::from(got == r.level),
            b + usize::from((got >= 2) == (r.level >= 2)),
        )
    })
}

/// A change is kept only if it gains at least this much (two rows exact, or four binary): smaller
/// gains on a few hundred rows are noise (the two-fold check showed it).
const MIN_GAIN: f64 = 2.0;

fn objective(s: (usize, usize)) -> f64 {
    s.0 as f64 + 0.5 * s.1 as f64
}

fn fit(rows: &[&Row], start: &Calibration, levels: &FrustrationConfig) -> Calibration {
    let mut cal = start.clone();
    let mut best = objective(score(rows, &cal, levels));
    for _pass in 0..3 {
        let mut improved = false;
        for name in Calibration::NAMES {
            let base = cal.get(name).unwrap_or_default();
            for m in [0.6, 0.75, 0.9, 1.1, 1.25, 1.5] {
                let v = if name.starts_with("scale_") {
                    (base * m).clamp(0.3, 2.0)
                } else {
                    (base * m).clamp(0.1, 0.95)
                };
                let mut trial = cal.clone();
                *trial.get_mut(name).expect("known name") = v;
                let o = objective(score(rows, &trial, levels));
                if o > best + MIN_GAIN {
                    best = o;
                    cal = trial;
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
    cal
}

fn pct(n: usize, d: usize) -> String {
    format!("{:.1} %", 100.0 * n as f64 / d.max(1) as f64)
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: calibrate UTTERANCES.tsv");
    assert!(
        !path.contains("/test/"),
        "calibrate on the dev part only, never on the test part"
    );
    let an = Analyzer::load(None).expect("embedded lexicons load");
    let rows = load(&path, &an);
    let levels = FrustrationConfig::default();
    let all: Vec<&Row> = rows.iter().collect();
    let start = Calibration::embedded().clone();
    let before = score(&all, &start, &levels);

    // Two-fold check: fit on one half, score the other.
    let (mut held_exact, mut held_binary) = (0, 0);
    for fold in 0..2 {
        let train: Vec<&Row> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 != fold)
            .map(|(_, r)| r)
            .collect();
        let test: Vec<&Row> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == fold)
            .map(|(_, r)| r)
            .collect();
        let cal = fit(&train, &start, &levels);
        let (e, b) = score(&test, &cal, &levels);
        held_exact += e;
        held_binary += b;
    }

    let cal = fit(&all, &start, &levels);
    let after = score(&all, &cal, &levels);
    let n = rows.len();
    eprintln!("rows {n}");
    eprintln!(
        "before: exact {} binary {}",
        pct(before.0, n),
        pct(before.1, n)
    );
    eprintln!(
        "fitted on all: exact {} binary {}",
        pct(after.0, n),
        pct(after.1, n)
    );
    eprintln!(
        "two-fold (fit one half, score the other): exact {} binary {}",
        pct(held_exact, n),
        pct(held_binary, n)
    );
    print!(
        "# calibration.tsv — the numbers that turn a customer turn's cues into heat\n\
         # (src/language/calibration.rs). Fitted by `cargo run --release --example calibrate --\n\
         # eval/blind/dev/utterances.tsv` on {n} dev customer utterances: exact {} -> {}, binary\n\
         # {} -> {}; two-fold held-out exact {}, binary {}. README \"Calibration\".\n{}",
        pct(before.0, n),
        pct(after.0, n),
        pct(before.1, n),
        pct(after.1, n),
        pct(held_exact, n),
        pct(held_binary, n),
        cal.to_tsv()
    );
}
