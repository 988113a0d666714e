use calma::language::{Analyzer, Side};
#[test]
fn dbg() {
    let an = Analyzer::load(None).unwrap();
    for t in std::env::var("T").unwrap_or_default().split('|') {
        let side = if t.starts_with("A:") {
            Side::Agent
        } else {
            Side::Customer
        };
        let t = t.trim_start_matches("A:");
        let a = an.analyze(t, side);
        println!(
            "== {t}\n words={} bc={} cut={} content={:?}",
            a.words, a.backchannel_only, a.ends_cut_off, a.content
        );
        for h in &a.hits {
            println!(
                "  {:?} {} w={:.2} neg={} q={:?}",
                h.cat, h.term, h.weight, h.negated, h.quote
            );
        }
        if side == Side::Customer {
            let r = calma::language::customer::read(&a);
            println!(
                "  heat={:.2} cool={:.2} abuse={:?} esc={:?}",
                r.heat,
                r.cool,
                r.abuse.map(|h| h.term),
                r.escalation.map(|h| h.term)
            );
        }
    }
    let d = calma::language::detect::Detector::default();
    println!("{:?}", d.detect("hola buenas llamo porque llevo dos semanas sin internet ya es la tercera vez que llamo y nadie me soluciona nada"));
}
#[test]
fn dbg2() {
    let d = calma::language::detect::Detector::default();
    for t in ["hola buenas llamo porque llevo dos semanas sin internet", "hola buenas llamo porque llevo dos semanas sin internet ya es la tercera vez que llamo y nadie me soluciona nada"] {
        println!("{:?} {t}", d.detect(t));
    }
}
