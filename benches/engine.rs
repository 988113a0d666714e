//! Engine benchmarks (no I/O): the language layer per segment, the timing model per segment, and
//! whole labelled calls through `Call`, streamed with partials like a live platform.
//!
//! `cargo bench --bench engine`; criterion reports time per iteration and throughput
//! (elements = segments; for the streamed calls, elements = **final** segments, the partials and
//! ticks that come with them are part of the cost).

use std::hint::black_box;

use calma::engine::{Call, Event, Resources};
use calma::language::{customer, Analyzer, Side};
use calma::protocol::{parse_inbound, CallStart, Inbound, ParseLimits, Speaker};
use calma::timing::{SegmentInfo, TimingConfig, TimingModel};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const CUSTOMER: &[&str] = &[
    "hola buenas mire llamo porque llevo dos semanas sin internet y ya es la tercera vez que llamo",
    "no me parece nada bien lo que han hecho estoy harto de verdad",
    "vale perfecto muchas gracias por su ayuda",
    "eh o sea yo lo que quiero saber es cuando me lo van a solucionar",
    "quiero hablar con su supervisor ahora mismo esto es una vergüenza",
    "no estoy enfadado solo quería saber cuándo llega el pedido",
];
const AGENT: &[&str] = &[
    "siento mucho lo que me cuenta le abro una incidencia y le llamo mañana antes de las doce",
    "le entiendo perfectamente disculpe las molestias",
    "un momento por favor que lo consulto con el departamento técnico",
    "le paso con el departamento de facturación porque son quienes pueden anular el cargo",
];

fn language(c: &mut Criterion) {
    let an = Analyzer::load(None).unwrap();
    let mut g = c.benchmark_group("language");
    g.throughput(Throughput::Elements((CUSTOMER.len() + AGENT.len()) as u64));
    g.bench_function("analyze_segment", |b| {
        b.iter(|| {
            for t in CUSTOMER {
                let a = an.analyze(black_box(t), Side::Customer);
                black_box(customer::read(&a));
            }
            for t in AGENT {
                black_box(an.analyze(black_box(t), Side::Agent));
            }
        })
    });
    g.finish();
}

fn timing(c: &mut Criterion) {
    let mut g = c.benchmark_group("timing");
    const N: u64 = 200;
    g.throughput(Throughput::Elements(N));
    g.bench_function("on_segment_alternating_turns", |b| {
        let ids: Vec<String> = (0..N).map(|i| format!("s-{i}")).collect();
        b.iter(|| {
            let mut m = TimingModel::new(TimingConfig::default());
            for i in 0..N {
                let start = i * 3_000;
                let info = SegmentInfo {
                    segment_id: &ids[i as usize],
                    speaker: if i % 2 == 0 {
                        Speaker::Customer
                    } else {
                        Speaker::Agent
                    },
                    start_ms: start,
                    end_ms: start + 2_600 + (i % 3) * 400,
                    is_final: true,
                    quote: "hola buenas",
                    backchannel: false,
                    announces_hold: false,
                    formal_hold: false,
                    syllables: 16,
                    ends_cut_off: false,
                };
                black_box(m.on_segment(&info));
                black_box(m.advance(start + 2_600));
            }
        })
    });
    g.finish();
}

/// A labelled call file as parsed inbound messages.
fn load_call(name: &str) -> Vec<Inbound> {
    let path = format!("{}/tests/calls/{name}.jsonl", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_inbound(l, &ParseLimits::default()).unwrap())
        .collect()
}

fn whole_call(c: &mut Criterion) {
    let res = Resources::embedded();
    let msgs = load_call("03_es_angry_third_call_no_internet");
    let start = match &msgs[0] {
        Inbound::CallStart(s) => s.clone(),
        _ => CallStart {
            call_id: "c".into(),
            agent_id: "a".into(),
            campaign: None,
            language: None,
            region: None,
            customer_id: None,
            prior_contacts_7d: None,
        },
    };
    let segments = msgs
        .iter()
        .filter(|m| matches!(m, Inbound::Segment(_)))
        .count();
    let mut g = c.benchmark_group("call");
    g.throughput(Throughput::Elements(segments as u64));
    g.bench_function("angry_call_final_segments", |b| {
        b.iter(|| {
            let mut call = Call::new(&start, res.clone());
            for m in &msgs {
                let ev = match m {
                    Inbound::Segment(s) => Event::Segment(s.clone()),
                    Inbound::Tick(t) => Event::Tick { at_ms: t.at_ms },
                    Inbound::CallEnd(_) => Event::End,
                    _ => continue,
                };
                black_box(call.on_event(ev));
            }
        })
    });
    g.finish();
}

/// Every final segment of the labelled calls, with its side.
fn labelled_finals() -> Vec<(String, Side)> {
    let mut out = Vec::new();
    for (_, text) in calma::traffic::CALLS {
        for v in calma::traffic::parse_jsonl(text).unwrap() {
            if v["type"] == "segment" {
                let side = if v["speaker"] == "agent" {
                    Side::Agent
                } else {
                    Side::Customer
                };
                out.push((v["text"].as_str().unwrap().to_string(), side));
            }
        }
    }
    out
}

/// The language layer over the real call text (16 labelled calls, ~550 segments).
fn language_calls(c: &mut Criterion) {
    let an = Analyzer::load(None).unwrap();
    let segs = labelled_finals();
    let mut g = c.benchmark_group("language");
    g.throughput(Throughput::Elements(segs.len() as u64));
    g.bench_function("analyze_labelled_call_segments", |b| {
        b.iter(|| {
            for (t, side) in &segs {
                let a = an.analyze(black_box(t), *side);
                if *side == Side::Customer {
                    black_box(customer::read(&a));
                } else {
                    black_box(calma::language::agent::read(&a));
                }
            }
        })
    });
    g.finish();
}

/// The labelled calls as the engine's events, streamed live (partials every second, ticks).
fn live_events() -> Vec<(CallStart, Vec<Event>, u64)> {
    calma::traffic::embedded_live_calls()
        .into_iter()
        .map(|(_, msgs)| {
            let mut start = None;
            let mut events = Vec::new();
            let mut finals = 0;
            for v in msgs {
                match parse_inbound(&v.to_string(), &ParseLimits::default()).unwrap() {
                    Inbound::CallStart(s) => start = Some(s),
                    Inbound::Segment(s) => {
                        finals += u64::from(s.is_final);
                        events.push(Event::Segment(s));
                    }
                    Inbound::Tick(t) => events.push(Event::Tick { at_ms: t.at_ms }),
                    Inbound::CallEnd(_) => events.push(Event::End),
                    _ => {}
                }
            }
            (start.unwrap(), events, finals)
        })
        .collect()
}

/// All 16 labelled calls through `Call`, streamed live with partials and ticks: the engine's
/// real per-call cost. Throughput counts final segments.
fn live_calls(c: &mut Criterion) {
    let res = Resources::embedded();
    let calls = live_events();
    let finals: u64 = calls.iter().map(|c| c.2).sum();
    let mut g = c.benchmark_group("call");
    g.throughput(Throughput::Elements(finals));
    g.bench_function("labelled_calls_live_with_partials", |b| {
        b.iter(|| {
            for (start, events, _) in &calls {
                let mut call = Call::new(start, res.clone());
                for e in events {
                    black_box(call.on_event(e.clone()));
                }
            }
        })
    });
    g.finish();
}

/// All 16 labelled calls streamed live, as JSON lines through `calma::replay` (parse, engine,
/// serialise every output): what `calma replay` and a platform connection pay per message.
/// Throughput counts final segments.
fn live_calls_json(c: &mut Criterion) {
    let res = Resources::embedded();
    let calls: Vec<String> = calma::traffic::embedded_live_calls()
        .into_iter()
        .map(|(_, msgs)| {
            msgs.iter()
                .map(|m| m.to_string() + "\n")
                .collect::<String>()
        })
        .collect();
    let finals = calls
        .iter()
        .flat_map(|c| c.lines())
        .filter(|l| l.contains("\"final\":true"))
        .count();
    let mut g = c.benchmark_group("call");
    g.throughput(Throughput::Elements(finals as u64));
    g.bench_function("labelled_calls_live_json", |b| {
        b.iter(|| {
            for text in &calls {
                black_box(calma::replay::replay_jsonl(
                    res.clone(),
                    text,
                    &ParseLimits::default(),
                ));
            }
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    language,
    language_calls,
    timing,
    whole_call,
    live_calls,
    live_calls_json
);
criterion_main!(benches);
