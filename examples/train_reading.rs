//! Fit `lexicons/es/reading_model.tsv`, the learned reading of a customer turn
//! (`src/language/model.rs`): a multinomial logistic regression with an L2 penalty over the features
//! `model::for_each_feature` gives (the rule reading's signals and the turn's words), on labelled
//! customer utterances of the **dev** parts only (the tool refuses a path with `/test/`).
//!
//! ```sh
//! cargo run --release --example train_reading -- [--l2 X] [--min-p P] [--far-p P] [--min-count N] [--folds K] \
//!     [--check OTHER.tsv] DEV.tsv... > lexicons/es/reading_model.tsv
//! ```
//! `--min-p P` and `--far-p P` set the limits written into the file (`ReadingModel::decide`: how
//! sure the model must be to raise the rules' level, and to move it more than one level).
//! `--folds K` reports K-fold agreement (fit on K−1 parts, read the other); `--check FILE` fits
//! on the given files and reads FILE, which the fit never saw; `--calm-calls DIR` adds every
//! customer segment of the labelled calls under DIR whose peak level is calm, as calm rows (what
//! people say in a call when nothing is wrong: greetings, details, small talk); `--cv FILE` adds K−1 folds of FILE
//! to the fit and reads the K-th (default K = 5), for each fold; `--misses` lists the rows of the
//! `--check` file the model reads on the wrong side of frustrated. The report goes to stderr.

use std::collections::HashMap;
use std::path::Path;

use calma::language::model::{self, ReadingModel};
use calma::language::region::Region;
use calma::language::{Analyzer, Side};

thread_local! {
    /// `--min-p P`: the model overrules the rules only this sure.
    static MIN_P: std::cell::RefCell<f64> = const { std::cell::RefCell::new(0.0) };
    /// `--far-p P`: the model moves a turn more than one level only this sure (default never).
    static FAR_P: std::cell::RefCell<f64> = const { std::cell::RefCell::new(1.01) };
    /// `--temperature T`: the fitted logits are divided by T (temperature scaling, T > 1 makes the
    /// model less sure), so that `min_p` means what it says on turns the fit never saw.
    static TEMPERATURE: std::cell::RefCell<f64> = const { std::cell::RefCell::new(1.0) };
    /// Feature families the fit uses (`--families a,b,…`; default all).
    static FAMILIES: std::cell::RefCell<Vec<String>> =
        std::cell::RefCell::new(model::FAMILIES.iter().map(|s| s.to_string()).collect());
}

const LEVELS: [&str; 4] = ["calm", "tense", "frustrated", "angry"];

struct Row {
    features: Vec<String>,
    rule: usize,
    /// The rules saw a trap: the model may lower their level, never raise it.
    trap: bool,
    /// The least level the turn's own words set (`model::rules_floor`).
    floor: usize,
    level: usize,
    region: String,
    /// The turn as written, for `--misses`.
    text: String,
}

/// One labelled customer turn, read by the rules and turned into features.
fn row(an: &Analyzer, text: &str, region: &str, level: usize) -> Row {
    let a = an.analyze_in(text, Side::Customer, Region::parse(region));
    let r = an.read_customer_rules(&a);
    let mut features = Vec::new();
    model::for_each_feature(&a, &r, &mut |f| {
        if FAMILIES.with(|fam| fam.borrow().iter().any(|p| f.split(':').next() == Some(p)))
            && !features.iter().any(|g| g == f)
        {
            features.push(f.to_string())
        }
    });
    let rule = LEVELS
        .iter()
        .position(|x| *x == model::rule_level(&r).as_str())
        .unwrap_or(0);
    Row {
        features,
        rule,
        trap: model::rules_saw_a_trap(&a, &r),
        floor: model::rules_floor(&a),
        level,
        region: region.to_string(),
        text: text.to_string(),
    }
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
            let level = LEVELS.iter().position(|x| Some(x) == c.get(level))?;
            let region = c.get(variant).copied().unwrap_or("");
            Some(row(an, c[text_col], region, level))
        })
        .collect()
}

/// Customer segments of the calls under `dir` labelled calm all through (peak level calm).
fn calm_call_rows(dir: &Path, an: &Analyzer) -> Vec<Row> {
    let mut out = Vec::new();
    let Ok(listing) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<_> = listing.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            out.extend(calm_call_rows(&p, an));
            continue;
        }
        let name = p.to_string_lossy().to_string();
        let Some(base) = name.strip_suffix(".expect.json") else {
            continue;
        };
        let label: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_default())
                .unwrap_or_default();
        if label["peak_level"] != "calm" {
            continue;
        }
        let region = label["region"].as_str().unwrap_or("").to_string();
        let text = std::fs::read_to_string(format!("{base}.jsonl")).unwrap_or_default();
        for line in text.lines() {
            let m: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            if m["type"] == "segment" && m["speaker"] == "customer" && m["final"] != false {
                let t = m["text"].as_str().unwrap_or("");
                out.push(row(an, t, &region, 0));
            }
        }
    }
    out
}

fn is_word(f: &str) -> bool {
    ["w:", "b:", "s:", "t:", "u:"]
        .iter()
        .any(|p| f.starts_with(p))
}

/// Features seen in at least `min_count` training rows, and every rule signal.
fn vocabulary(rows: &[&Row], min_count: usize) -> HashMap<String, usize> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for r in rows {
        let mut seen: Vec<&str> = r.features.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for f in seen {
            *count.entry(f).or_default() += 1;
        }
    }
    let mut names: Vec<&str> = count
        .iter()
        .filter(|(f, n)| **n >= min_count || !is_word(f))
        .map(|(f, _)| *f)
        .collect();
    names.sort_unstable();
    names
        .into_iter()
        .enumerate()
        .map(|(i, f)| (f.to_string(), i))
        .collect()
}

/// Multinomial logistic regression by full-batch Adam: minimise the mean negative
/// log-likelihood plus `l2`/2 · |w|² (biases unpenalised).
fn fit(rows: &[&Row], l2: f64, min_count: usize) -> ReadingModel {
    let min_p = MIN_P.with(|m| *m.borrow());
    let far_p = FAR_P.with(|m| *m.borrow());
    let vocab = vocabulary(rows, min_count);
    let x: Vec<Vec<(usize, f64)>> = rows
        .iter()
        .map(|r| {
            r.features
                .iter()
                .filter_map(|f| vocab.get(f).map(|&j| (j, 1.0)))
                .collect()
        })
        .collect();
    let n = rows.len() as f64;
    let mut w = vec![[0.0f64; 4]; vocab.len()];
    let mut bias = [0.0f64; 4];
    let (b1, b2, lr, eps) = (0.9, 0.999, 0.05, 1e-8);
    let (mut mw, mut vw) = (vec![[0.0; 4]; w.len()], vec![[0.0; 4]; w.len()]);
    let (mut mb, mut vb) = ([0.0; 4], [0.0; 4]);
    let adam = |p: &mut f64, m: &mut f64, v: &mut f64, g: f64, t: i32| {
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        let (c1, c2) = (1.0 - f64::powi(b1, t), 1.0 - f64::powi(b2, t));
        *p -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
    };
    for step in 1..=STEPS {
        let mut gw: Vec<[f64; 4]> = w.iter().map(|wk| wk.map(|v| l2 * v)).collect();
        let mut gb = [0.0f64; 4];
        for (xi, r) in x.iter().zip(rows) {
            let mut z = bias;
            for &(j, v) in xi {
                for c in 0..4 {
                    z[c] += w[j][c] * v;
                }
            }
            let p = model::softmax(z);
            for c in 0..4 {
                // d(−log p_y)/dz_c = p_c − [c = y]
                let g = (p[c] - f64::from(u8::from(c == r.level))) / n;
                gb[c] += g;
                for &(j, v) in xi {
                    gw[j][c] += g * v;
                }
            }
        }
        let t = step;
        for k in 0..w.len() {
            for c in 0..4 {
                adam(&mut w[k][c], &mut mw[k][c], &mut vw[k][c], gw[k][c], t);
            }
        }
        for c in 0..4 {
            adam(&mut bias[c], &mut mb[c], &mut vb[c], gb[c], t);
        }
    }
    let t = TEMPERATURE.with(|t| *t.borrow());
    let round = |v: f64| (v / t * 1e4).round() / 1e4;
    let weights = vocab
        .into_iter()
        .filter(|(_, i)| w[*i].iter().any(|v| v.abs() >= 0.005))
        .map(|(f, i)| (f.into_boxed_str(), w[i].map(round)))
        .collect();
    ReadingModel::new(weights, bias.map(round), min_p, far_p)
}

/// Adam steps of a fit.
const STEPS: i32 = 400;

/// The model's probabilities of the four levels for a row.
fn probabilities(m: &ReadingModel, r: &Row) -> [f64; 4] {
    let mut z = m.bias();
    for f in &r.features {
        for (zi, wi) in z.iter_mut().zip(m.weights(f)) {
            *zi += wi;
        }
    }
    model::softmax(z)
}

fn read(m: &ReadingModel, r: &Row) -> usize {
    m.decide(probabilities(m, r), r.rule, r.trap, r.floor)
}

/// (rows, exact, binary) of `got` against the labels.
fn agreement(rows: &[&Row], got: impl Fn(&Row) -> usize) -> (usize, usize, usize) {
    rows.iter().fold((0, 0, 0), |(n, e, b), r| {
        let g = got(r);
        (
            n + 1,
            e + usize::from(g == r.level),
            b + usize::from((g >= 2) == (r.level >= 2)),
        )
    })
}

fn line(name: &str, (n, e, b): (usize, usize, usize)) -> String {
    let pct = |x: usize| 100.0 * x as f64 / n.max(1) as f64;
    format!(
        "{name}: {n} rows, exact {:.1} %, binary {:.1} %",
        pct(e),
        pct(b)
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut l2, mut min_count, mut folds) = (0.001, 2usize, 0usize);
    let (mut check, mut cv, mut paths) = (None, None, Vec::new());
    let (mut words_only, mut calm_calls) = (Vec::new(), Vec::new());
    let mut misses = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--l2" => l2 = args.next().and_then(|v| v.parse().ok()).expect("--l2 X"),
            "--min-count" => {
                min_count = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--min-count N")
            }
            "--folds" => folds = args.next().and_then(|v| v.parse().ok()).expect("--folds K"),
            "--check" => check = Some(args.next().expect("--check FILE")),
            "--misses" => misses = true,
            "--cv" => cv = Some(args.next().expect("--cv FILE")),
            "--words-only" => words_only.push(args.next().expect("--words-only FILE")),
            "--calm-calls" => calm_calls.push(args.next().expect("--calm-calls DIR")),
            "--temperature" => {
                let t: f64 = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--temperature T");
                TEMPERATURE.with(|m| *m.borrow_mut() = t);
            }
            "--min-p" => {
                let p: f64 = args.next().and_then(|v| v.parse().ok()).expect("--min-p P");
                MIN_P.with(|m| *m.borrow_mut() = p);
            }
            "--far-p" => {
                let p: f64 = args.next().and_then(|v| v.parse().ok()).expect("--far-p P");
                FAR_P.with(|m| *m.borrow_mut() = p);
            }
            "--families" => {
                let list = args.next().expect("--families a,b");
                FAMILIES.with(|f| *f.borrow_mut() = list.split(',').map(String::from).collect());
            }
            _ => paths.push(a),
        }
    }
    assert!(
        !paths.is_empty() || !words_only.is_empty(),
        "usage: train_reading [options] DEV.tsv..."
    );
    for p in paths
        .iter()
        .chain(check.iter())
        .chain(cv.iter())
        .chain(&words_only)
        .chain(&calm_calls)
    {
        assert!(
            !p.contains("/test/"),
            "fit and check on dev parts only, never on a test part ({p})"
        );
    }
    let an = Analyzer::load(None).expect("embedded lexicons");
    let mut rows: Vec<Row> = paths.iter().flat_map(|p| load(p, &an)).collect();
    // Rows the rules were tuned on overstate how far the rules can be trusted: they teach the
    // word features only.
    for p in &words_only {
        for mut r in load(p, &an) {
            r.features.retain(|f| is_word(f));
            rows.push(r);
        }
    }
    for d in &calm_calls {
        rows.extend(calm_call_rows(Path::new(d), &an));
    }
    let all: Vec<&Row> = rows.iter().collect();
    let mut report = vec![
        format!(
            "fitted on {} ({} customer rows), l2 {l2}, min count {min_count}",
            paths.join(", "),
            rows.len()
        ),
        line("rules alone, in sample", agreement(&all, |r| r.rule)),
    ];
    if folds > 1 {
        let mut got = vec![0usize; rows.len()];
        for k in 0..folds {
            let train: Vec<&Row> = (0..rows.len())
                .filter(|i| i % folds != k)
                .map(|i| &rows[i])
                .collect();
            let m = fit(&train, l2, min_count);
            for i in (0..rows.len()).filter(|i| i % folds == k) {
                got[i] = read(&m, &rows[i]);
            }
        }
        let idx: HashMap<*const Row, usize> = all
            .iter()
            .enumerate()
            .map(|(i, r)| (*r as *const Row, i))
            .collect();
        report.push(line(
            &format!("model, {folds}-fold held out"),
            agreement(&all, |r| got[idx[&(r as *const Row)]]),
        ));
    }
    if let Some(c) = &cv {
        let other = load(c, &an);
        let k = folds.max(2);
        let mut got = vec![0usize; other.len()];
        for fold in 0..k {
            let mut train = all.clone();
            train.extend(
                (0..other.len())
                    .filter(|i| i % k != fold)
                    .map(|i| &other[i]),
            );
            let m = fit(&train, l2, min_count);
            for i in (0..other.len()).filter(|i| i % k == fold) {
                got[i] = read(&m, &other[i]);
            }
        }
        let refs: Vec<&Row> = other.iter().collect();
        report.push(line(
            &format!("rules alone on {c}"),
            agreement(&refs, |r| r.rule),
        ));
        let pos = |r: &Row| other.iter().position(|o| std::ptr::eq(o, r)).unwrap_or(0);
        report.push(line(
            &format!("model on {c}, {k}-fold (each fold fitted without it)"),
            agreement(&refs, |r| got[pos(r)]),
        ));
    }
    let m = fit(&all, l2, min_count);
    report.push(line("model, in sample", agreement(&all, |r| read(&m, r))));
    if let Some(c) = &check {
        let other = load(c, &an);
        let other: Vec<&Row> = other.iter().collect();
        report.push(line(
            &format!("rules alone on {c}"),
            agreement(&other, |r| r.rule),
        ));
        report.push(line(
            &format!("model on {c} (never fitted on)"),
            agreement(&other, |r| read(&m, r)),
        ));
        // Mean negative log-likelihood of the labels on the held-out rows: what temperature
        // scaling minimises.
        let nll = other
            .iter()
            .map(|r| -probabilities(&m, r)[r.level].max(1e-12).ln())
            .sum::<f64>()
            / other.len().max(1) as f64;
        report.push(format!(
            "  held-out log-loss {nll:.4} over {} rows",
            other.len()
        ));
        if misses {
            for r in other
                .iter()
                .filter(|r| (read(&m, r) >= 2) != (r.level >= 2))
            {
                let (want, rule, got) = (LEVELS[r.level], LEVELS[r.rule], LEVELS[read(&m, r)]);
                eprintln!(
                    "miss\t{}\t{want}\trules {rule}\tmodel {got}\t{}",
                    r.region, r.text
                );
            }
        }
        let mut regions: Vec<&str> = other.iter().map(|r| r.region.as_str()).collect();
        regions.sort_unstable();
        regions.dedup();
        for g in regions {
            let part: Vec<&Row> = other.iter().copied().filter(|r| r.region == g).collect();
            report.push(format!(
                "  {g}: rules {} | model {}",
                line("", agreement(&part, |r| r.rule)),
                line("", agreement(&part, |r| read(&m, r)))
            ));
        }
    }
    for l in &report {
        eprintln!("{l}");
    }
    let header = format!(
        "reading_model.tsv — weights of the learned customer reading (src/language/model.rs):\n\
         multinomial logistic regression, P(level) = softmax(bias + the turn's feature weights).\n\
         Written by `cargo run --release --example train_reading`; provenance: fitted on labelled\n\
         utterances written for calma (dev parts only). {}",
        report.join("\n")
    );
    print!("{}", m.to_tsv(&header));
}
