//! Memory per active call (`cargo bench --bench memory`): a counting global allocator measures the
//! heap bytes a `Call` keeps, (1) after N calls were fed the labelled calls streamed live (partials
//! every second, ticks) and kept open, and (2) along one simulated 30-minute call, to check the
//! engine's history stays bounded (timing segments evicted after 60 s, language text dropped once
//! locked, frustration trajectory thinned at 240 points, policy records capped at 200, finals id
//! set capped at 512). Prints tables; no timing assertions.
//!
//! Bytes are what the program asked the allocator for (plus `size_of::<Call>()`); malloc's own
//! rounding and headers come on top, so RSS growth per call is shown beside it as a cross-check.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};

use calma::engine::{Call, Event, Resources};
use calma::protocol::{parse_inbound, CallStart, Inbound, ParseLimits};
use serde_json::{json, Value};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// One call's events: its start, then everything up to (not including) the end.
struct Script {
    start: CallStart,
    events: Vec<Event>,
    finals: u64,
}

fn to_script(msgs: &[Value]) -> Script {
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
            _ => {}
        }
    }
    Script {
        start: start.unwrap(),
        events,
        finals,
    }
}

/// The labelled calls back to back as one long call: media times shifted, segment ids made unique.
fn long_call(minutes: u64) -> Vec<Value> {
    let calls = calma::traffic::embedded_live_calls();
    let limit = minutes * 60_000 + 1_000;
    let mut out = vec![calls[2].1[0].clone()];
    let mut offset = 0u64;
    for round in 0.. {
        for (k, (_, msgs)) in calls.iter().enumerate() {
            let mut last = 0;
            for m in &msgs[1..msgs.len() - 1] {
                let mut m = m.clone();
                m["call_id"] = out[0]["call_id"].clone();
                for k in ["start_ms", "end_ms", "at_ms"] {
                    if let Some(t) = m[k].as_u64() {
                        m[k] = json!(t + offset);
                        last = last.max(t);
                    }
                }
                if let Some(id) = m["segment_id"].as_str() {
                    m["segment_id"] = json!(format!("r{round}-c{k}-{id}"));
                }
                if calma::traffic::media_ms(&m) > limit {
                    return out;
                }
                out.push(m);
            }
            offset += last + 2_000;
        }
    }
    out
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run a quick pass.
    let quick = !std::env::args().any(|a| a == "--bench");
    let res = Resources::embedded();
    let scripts: Vec<Script> = calma::traffic::embedded_live_calls()
        .iter()
        .map(|(_, m)| to_script(m))
        .collect();

    // Warm the analyzer's per-thread word cache (shared by every call on a thread, bounded at
    // 16k words) so it is not billed to the first calls measured.
    let cache0 = live();
    for s in &scripts {
        let mut call = Call::new(&s.start, res.clone());
        for e in &s.events {
            drop(call.on_event(e.clone()));
        }
    }
    println!(
        "shared per thread (word cache after the 16 labelled calls): {:.1} KiB",
        (live() - cache0) as f64 / 1024.0
    );
    println!("size_of::<Call>() = {} bytes", std::mem::size_of::<Call>());
    println!();
    println!("## Calls kept open after streaming a whole labelled call each (live, with partials)");
    println!();
    println!("| open calls | heap bytes per call | RSS growth per call | allocations per final segment |");
    println!("|---:|---:|---:|---:|");
    let counts: &[usize] = if quick { &[16] } else { &[16, 1_000, 10_000] };
    for &n in counts {
        let (base, rss0, allocs0) = (live(), rss_bytes(), ALLOCS.load(Ordering::Relaxed));
        let mut calls: Vec<Call> = Vec::with_capacity(n);
        let mut finals = 0;
        for i in 0..n {
            let s = &scripts[i % scripts.len()];
            let mut start = s.start.clone();
            start.call_id = format!("{}-{i}", s.start.call_id);
            let mut call = Call::new(&start, res.clone());
            for e in &s.events {
                drop(call.on_event(e.clone()));
            }
            finals += s.finals;
            calls.push(call);
        }
        // The event clones and outputs are freed; what is left is the calls themselves.
        let per_call = (live() - base) as f64 / n as f64;
        let rss = rss_bytes().saturating_sub(rss0) as f64 / n as f64;
        let allocs = (ALLOCS.load(Ordering::Relaxed) - allocs0) as f64 / finals as f64;
        println!(
            "| {n} | {:.0} ({:.1} KiB) | {:.1} KiB | {allocs:.0} |",
            per_call,
            per_call / 1024.0,
            rss / 1024.0
        );
        drop(calls);
    }

    println!();
    println!("## One call over 30 minutes of media (the labelled calls back to back, live)");
    println!();
    println!("| media time | heap bytes of the call | nudge records | trajectory points | segments | language |");
    println!("|---:|---:|---:|---:|---:|---|");
    let minutes = if quick { 3 } else { 30 };
    let lc = long_call(minutes);
    if let Ok(p) = std::env::var("DUMP_LONG_CALL") {
        let mut text: String = lc.iter().map(|m| format!("{m}\n")).collect();
        text.push_str(&format!(
            "{}\n",
            json!({"type":"call.end","call_id":lc[0]["call_id"]})
        ));
        std::fs::write(p, text).unwrap();
    }
    let s = to_script(&lc);
    let base = live();
    let mut call = Call::new(&s.start, res.clone());
    let mut next_report = 60_000u64;
    let mut last_bytes = 0;
    for e in &s.events {
        drop(call.on_event(e.clone()));
        if call.now_ms() >= next_report {
            let bytes = live() - base;
            let sum = call.summary();
            let report = [1u64, 2, 5, 10, 15, 20, 25, 30].contains(&(next_report / 60_000));
            if report {
                println!(
                    "| {} min | {} ({:.1} KiB) | {} | {} | {} | {} |",
                    next_report / 60_000,
                    bytes,
                    bytes as f64 / 1024.0,
                    sum.nudges.len(),
                    sum.frustration_trajectory.len(),
                    sum.segments,
                    sum.language
                );
            }
            last_bytes = bytes;
            next_report += 60_000;
        }
    }
    println!();
    println!(
        "after {minutes} min: {:.1} KiB per call (target <= 32 KiB), {} final segments fed",
        (last_bytes as f64 + std::mem::size_of::<Call>() as f64) / 1024.0,
        s.finals
    );
}
