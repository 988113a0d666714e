//! The history writer under a contact centre's load: 10,000 calls ending in a burst, written to a
//! real SQLite file. Reports what the live path pays per ended call (the enqueue, p50/p99/max)
//! and how long the writer takes to put them all on disk.
//!
//! `cargo bench --bench history` (`-- --calls N` for another count).

use std::time::{Duration, Instant};

use calma::engine::Resources;
use calma::protocol::{Outbound, ParseLimits};
use calma::store::{CallRecord, Store};

fn main() {
    let calls: usize = std::env::args()
        .skip_while(|a| a != "--calls")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let text = include_str!("../examples/angry_call.jsonl");
    let lines = calma::replay::replay_jsonl(Resources::embedded(), text, &ParseLimits::default());
    let summary = lines
        .iter()
        .rev()
        .find_map(|l| match serde_json::from_str::<Outbound>(l) {
            Ok(Outbound::Summary(s)) => Some(*s),
            _ => None,
        })
        .expect("the example ends with a summary");
    let record_json = format!(
        "{{\"summary\":{}}}",
        serde_json::to_string(&summary).unwrap()
    );
    let dir = std::env::temp_dir().join(format!("calma-history-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("calma.sqlite3");
    let store = Store::open(&path.to_string_lossy(), Some(b"bench-secret-0123456789")).unwrap();

    let mut enqueue = Vec::with_capacity(calls);
    let t0 = Instant::now();
    for i in 0..calls {
        let rec = CallRecord {
            tenant: format!("t{}", i % 4),
            call_id: format!("c-{i}"),
            agent_id: format!("a-{}", i % 500),
            campaign: "soporte".into(),
            started_at_ms: 1_764_600_000_000 + i as i64,
            ended_at_ms: 1_764_600_180_000 + i as i64,
            summary: summary.clone(),
            record_json: record_json.clone(),
            customer_key: Some(store.customer_key("t", &i.to_string())),
            next_steps: vec!["le mando un técnico mañana".into()],
            transcript_json: None,
            retention_days: 90,
            transcript_retention_days: 7,
        };
        let t = Instant::now();
        assert!(store.record(rec), "the queue took the record");
        enqueue.push(t.elapsed());
    }
    let queued = t0.elapsed();
    store.flush();
    let total = t0.elapsed();
    enqueue.sort();
    let pct = |p: f64| enqueue[((enqueue.len() as f64 * p) as usize).min(enqueue.len() - 1)];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("history writer: {calls} ended calls to {}", path.display());
    println!(
        "  enqueue (what the live path pays): p50 {:.2} µs, p99 {:.2} µs, max {:.1} µs",
        us(pct(0.5)),
        us(pct(0.99)),
        us(*enqueue.last().unwrap())
    );
    println!(
        "  all queued in {:.1} ms; all on disk after {:.1} ms: {:.0} records/s",
        queued.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        calls as f64 / total.as_secs_f64()
    );
    println!(
        "  database size {:.1} MiB ({:.1} KiB per call)",
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0,
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1024.0 / calls as f64
    );
    store.close();
    let _ = std::fs::remove_dir_all(&dir);
}
