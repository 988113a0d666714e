//! Evaluation of the language layer on 118 hand-labelled utterances (tests/data/utterances.tsv):
//! customer frustration level of a single utterance, and every customer and agent signal.
//! Run with `--nocapture` to see the per-signal table. The thresholds below are floors that the
//! current lexicons clear; a change that lowers accuracy below them fails.

use std::collections::BTreeMap;

use calma::language::agent;
use calma::language::customer;
use calma::language::frustration::{Frustration, FrustrationConfig};
use calma::language::lexicon::Cat;
use calma::language::{Analyzer, Side};

struct Row {
    id: String,
    speaker: String,
    text: String,
    level: String,
    signals: Vec<String>,
}

fn rows() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/utterances.tsv");
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut header = true;
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if header {
            header = false;
            continue;
        }
        let c: Vec<&str> = line.split('\t').collect();
        out.push(Row {
            id: c[0].into(),
            speaker: c[1].into(),
            text: c[3].into(),
            level: c[4].into(),
            signals: c[5]
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty() && s != "none")
                .collect(),
        });
    }
    out
}

fn rank(l: &str) -> i32 {
    ["calm", "tense", "frustrated", "angry"]
        .iter()
        .position(|x| *x == l)
        .unwrap() as i32
}

/// What calma detects in one utterance, in the label vocabulary.
fn detect(an: &Analyzer, row: &Row) -> (Option<String>, Vec<String>) {
    let side = if row.speaker == "agent" {
        Side::Agent
    } else {
        Side::Customer
    };
    let a = an.analyze(&row.text, side);
    let mut s = Vec::new();
    if side == Side::Customer {
        let r = customer::read(&a);
        let contributing = |c: Cat| {
            a.hits
                .iter()
                .any(|h| h.cat == c && !h.negated && h.weight.abs() >= 0.1)
        };
        if contributing(Cat::Anger) {
            s.push("anger");
        }
        if contributing(Cat::Complaint)
            || a.hits.iter().any(|h| h.cat == Cat::Positive && h.negated)
        {
            s.push("complaint");
        }
        if r.abuse.is_some() {
            s.push("insult_at_agent");
        }
        if contributing(Cat::Profanity) {
            s.push("profanity");
        }
        if contributing(Cat::Supervisor) {
            s.push("escalation");
        }
        if contributing(Cat::Churn) {
            s.push("churn");
        }
        if contributing(Cat::Legal) {
            s.push("legal");
        }
        if r.repetition.is_some() || contributing(Cat::RepeatContact) {
            s.push("repetition");
        }
        if r.next_step_request.is_some() {
            s.push("next_step_request");
        }
        if r.sarcasm || contributing(Cat::Sarcasm) {
            s.push("sarcasm");
        }
        if contributing(Cat::Thanks) {
            s.push("thanks");
        }
        let mut f = Frustration::new(FrustrationConfig::default());
        f.heat(1_000, r.heat, vec![]);
        let level = f.level().as_str().to_string();
        (Some(level), s.into_iter().map(String::from).collect())
    } else {
        let r = agent::read(&a);
        if r.empathy.is_some() {
            s.push("empathy");
        }
        if r.ownership.is_some() {
            s.push("ownership");
        }
        if !r.stock.is_empty() {
            s.push("stock_phrase");
        }
        if r.next_step().is_some() {
            s.push("next_step");
        }
        if let Some(t) = &r.transfer {
            s.push(if t.owned() {
                "transfer_owned"
            } else {
                "transfer_vague"
            });
        }
        if r.hold.is_some() {
            s.push("hold");
        }
        if r.boundary.is_some() {
            s.push("boundary");
        }
        if r.paraphrase.is_some() {
            s.push("paraphrase");
        }
        if r.escalation_offer.is_some() {
            s.push("escalation_offer");
        }
        if a.backchannel_only {
            s.push("backchannel");
        }
        (None, s.into_iter().map(String::from).collect())
    }
}

#[derive(Default, Debug)]
struct Counts {
    tp: u32,
    fp: u32,
    fn_: u32,
}

#[test]
fn labelled_utterances() {
    let an = Analyzer::load(None).unwrap();
    let rows = rows();
    assert!(rows.len() >= 90, "the labelled set has {} rows", rows.len());

    let mut exact = 0;
    let mut within_one = 0;
    let mut customers = 0;
    let mut calm_false_alarms = Vec::new();
    let mut misses = Vec::new();
    let mut per_signal: BTreeMap<String, Counts> = BTreeMap::new();
    for row in &rows {
        let (level, found) = detect(&an, row);
        if let Some(level) = level {
            customers += 1;
            let d = (rank(&level) - rank(&row.level)).abs();
            if d == 0 {
                exact += 1;
            }
            if d <= 1 {
                within_one += 1;
            }
            if row.level == "calm" && rank(&level) >= rank("frustrated") {
                calm_false_alarms.push(format!("{} {:?} -> {level}", row.id, row.text));
            }
            if d >= 1 {
                misses.push(format!(
                    "{} level {} got {level}: {:?}",
                    row.id, row.level, row.text
                ));
            }
        }
        for sig in &row.signals {
            let c = per_signal.entry(sig.clone()).or_default();
            if found.contains(sig) {
                c.tp += 1;
            } else {
                c.fn_ += 1;
                misses.push(format!("{} missed {sig}: {:?}", row.id, row.text));
            }
        }
        for sig in &found {
            if !row.signals.contains(sig) {
                per_signal.entry(sig.clone()).or_default().fp += 1;
                misses.push(format!("{} spurious {sig}: {:?}", row.id, row.text));
            }
        }
    }
    let (tp, fp, fn_) = per_signal
        .values()
        .fold((0, 0, 0), |a, c| (a.0 + c.tp, a.1 + c.fp, a.2 + c.fn_));
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    println!("customer level: exact {exact}/{customers}, within one band {within_one}/{customers}");
    println!("signals: precision {precision:.2}, recall {recall:.2} (tp {tp}, fp {fp}, fn {fn_})");
    for (k, c) in &per_signal {
        println!("  {k:<20} tp {:>3} fp {:>3} fn {:>3}", c.tp, c.fp, c.fn_);
    }
    for m in &misses {
        println!("  - {m}");
    }
    assert!(
        calm_false_alarms.is_empty(),
        "calm utterances read as frustrated or worse: {calm_false_alarms:#?}"
    );
    assert!(
        exact as f64 >= 0.75 * customers as f64,
        "level exact {exact}/{customers}"
    );
    assert!(
        within_one as f64 >= 0.95 * customers as f64,
        "level within one band {within_one}/{customers}"
    );
    assert!(precision >= 0.85, "signal precision {precision:.2}");
    assert!(recall >= 0.85, "signal recall {recall:.2}");
}
