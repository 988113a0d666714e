//! Read customer utterances as calma does, one per line on standard input (or the arguments):
//! level, heat, target and every piece of evidence. `--region es-MX` reads them as that region;
//! with `READ_TSV=1` each line is `region<TAB>text`; `--model` adds the learned reading's placement
//! and the features that pushed it most (to see why a turn was raised).
//!
//! `--agent` reads the lines as agent answers instead (what `language::agent` finds in them);
//! `HITS=1` lists every lexicon hit of a customer line (file, category, term, negation, span).
//!
//! `cargo run --example read -- "qué tonta soy"`

use std::io::BufRead;

use calma::language::customer;
use calma::language::frustration::FrustrationConfig;
use calma::language::model;
use calma::language::region::Region;
use calma::language::{Analyzer, Side};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut region = None;
    if let Some(i) = args.iter().position(|a| a == "--region") {
        region = args.get(i + 1).and_then(|r| Region::parse(r));
        args.drain(i..(i + 2).min(args.len()));
    }
    let show_model = args.iter().any(|a| a == "--model");
    let agent_side = args.iter().any(|a| a == "--agent");
    args.retain(|a| a != "--model" && a != "--agent");
    let an = Analyzer::load(None).expect("embedded lexicons load");
    let lines: Vec<String> = if args.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .map_while(Result::ok)
            .collect()
    } else {
        args
    };
    let cfg = FrustrationConfig::default();
    let tsv = std::env::var_os("READ_TSV").is_some();
    for line in lines {
        // READ_TSV=1: each line is `region<TAB>text`.
        let (line_region, text) = match line.split_once('\t') {
            Some((r, t)) if tsv => (Region::parse(r), t.to_string()),
            _ => (region, line),
        };
        if agent_side {
            let a = an.analyze_in(&text, Side::Agent, line_region);
            println!("agent  {text}\n  {:#?}", calma::language::agent::read(&a));
            continue;
        }
        let a = an.analyze_in(&text, Side::Customer, line_region);
        let r = customer::read(&a);
        let abuse = if r.abuse.is_some() { " ABUSE" } else { "" };
        // As a call of one segment reads it: only a turn that shows anger reaches angry.
        let score = if r.can_anger {
            r.heat
        } else {
            r.heat.min(cfg.angry - 0.01)
        };
        println!(
            "{:<10} heat {:.2}{abuse}  {text}",
            cfg.level(score).as_str(),
            r.heat
        );
        for (quote, rule) in &r.evidence {
            println!("           {rule}  «{quote}»");
        }
        if std::env::var("HITS").is_ok() {
            for h in &a.hits {
                println!(
                    "           hit {:?}/{:?} {:?} neg={} [{}..{}]",
                    h.file, h.cat, h.term, h.negated, h.first, h.last
                );
            }
        }
        let cues = calma::language::cues::read(&a);
        if !cues.is_empty() {
            println!("           cues {cues:?}");
        }
        if show_model {
            let m = an.reading_model();
            let rules = an.read_customer_rules(&a);
            let placed = m.place(&a, &rules);
            let p = placed.probabilities;
            println!(
                "           model {} p={:.2} (calm {:.2} tense {:.2} frustrated {:.2} angry {:.2})",
                placed.level.as_str(),
                placed.p,
                p[0],
                p[1],
                p[2],
                p[3]
            );
            let mut feats = Vec::new();
            model::for_each_feature(&a, &rules, &mut |f| {
                if !feats.iter().any(|g: &(String, [f64; 4])| g.0 == f) {
                    feats.push((f.to_string(), m.weights(f)))
                }
            });
            // Strongest pull towards frustrated-or-angry over calm-or-tense.
            let pull = |w: &[f64; 4]| w[2].max(w[3]) - w[0].max(w[1]);
            feats.sort_by(|x, y| pull(&y.1).total_cmp(&pull(&x.1)));
            for (f, w) in feats.iter().take(6) {
                println!("             {f:<28} {:+.2}", pull(w));
            }
        }
    }
}
