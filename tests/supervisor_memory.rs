//! Memory stays flat when 30 supervisors that never read watch 300 live calls with long
//! transcripts. One test in its own binary: it reads the process's own RSS (Linux
//! `/proc/self/status`), so nothing else may run beside it.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

use calma::server::Options;
use common::*;

const CALLS: usize = 300;
const CONNECTIONS: usize = 10;
const SUPERVISORS: usize = 30;
/// Final segments per call before the supervisors connect (the board's transcripts)...
const SEGMENTS_BEFORE: usize = 24;
/// ...and while they are connected.
const SEGMENTS_DURING: usize = 6;
/// Generous: the summaries of 300 calls are well under a megabyte per supervisor.
const MAX_GROWTH_MIB: f64 = 64.0;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// About 600 characters of ordinary speech, different per segment.
fn words(call: usize, n: usize) -> String {
    let base = "pues mire le llamo porque la factura de este mes no cuadra con lo que me dijeron \
                cuando contraté la tarifa y quiero que me lo expliquen con calma porque no lo entiendo";
    let mut s = format!("{call} {n} ");
    while s.len() < 600 {
        s.push_str(base);
        s.push(' ');
    }
    s
}

fn segment(call: &str, n: usize, idx: usize) -> String {
    let speaker = if n.is_multiple_of(2) {
        "customer"
    } else {
        "agent"
    };
    let start = n as u64 * 4000;
    json!({"type":"segment","call_id":call,"segment_id":format!("s{n}"),"speaker":speaker,
           "text":words(idx, n),"start_ms":start,"end_ms":start + 3500,"final":true})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_non_reading_supervisors_over_300_calls_keep_memory_flat() {
    let server = server_with(Options {
        max_segments_per_sec: 0,
        ..Options::default()
    })
    .await;
    let addr = server.local_addr();

    // Platforms: each connection carries CALLS / CONNECTIONS calls; a task drains its outputs
    // and counts the summaries.
    let summaries = Arc::new(AtomicU64::new(0));
    let mut sinks = Vec::new();
    let mut progress = Vec::new();
    for c in 0..CONNECTIONS {
        let ws = connect(addr, "/v1/stream").await;
        let (mut sink, mut stream) = ws.split();
        let ids: Vec<(usize, String)> = (0..CALLS / CONNECTIONS)
            .map(|i| {
                let idx = c * (CALLS / CONNECTIONS) + i;
                (idx, format!("c-{idx}"))
            })
            .collect();
        for (_, id) in &ids {
            let start = json!({"type":"call.start","call_id":id,"agent_id":format!("a-{id}"),
                               "language":"es"});
            sink.send(Message::text(start.to_string())).await.unwrap();
        }
        let seen = Arc::new(AtomicU64::new(0));
        let (s2, n2) = (summaries.clone(), seen.clone());
        tokio::spawn(async move {
            while let Some(Ok(m)) = stream.next().await {
                if let Message::Text(t) = m {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    assert_ne!(v["type"], "error", "{t}");
                    if v["type"] == "state" {
                        n2.fetch_add(1, Ordering::Relaxed);
                    }
                    if v["type"] == "call.summary" {
                        s2.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        sinks.push((sink, ids));
        progress.push(seen);
    }
    // Each final segment yields one `state`: wait until every segment was processed.
    let states_for = |segments: usize| (CALLS / CONNECTIONS * segments) as u64;
    async fn wait_for(counters: &[Arc<AtomicU64>], want: u64) {
        let all = async {
            while counters.iter().any(|c| c.load(Ordering::Relaxed) < want) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        timeout(Duration::from_secs(240), all)
            .await
            .expect("the server processed the segments");
    }
    for n in 0..SEGMENTS_BEFORE {
        for (sink, ids) in &mut sinks {
            for (idx, id) in ids.iter() {
                sink.send(Message::text(segment(id, n, *idx)))
                    .await
                    .unwrap();
            }
        }
    }
    wait_for(&progress, states_for(SEGMENTS_BEFORE)).await;
    let before = rss_kib();

    // Sample RSS from now on; keep the peak.
    let peak = Arc::new(AtomicU64::new(before));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    // 30 supervisors that complete the upgrade and then never read a byte.
    let mut supervisors = Vec::new();
    for _ in 0..SUPERVISORS {
        supervisors.push(connect(addr, "/v1/supervisor").await);
    }
    wait_health_supervisors(&server, SUPERVISORS).await;
    for n in SEGMENTS_BEFORE..SEGMENTS_BEFORE + SEGMENTS_DURING {
        for (sink, ids) in &mut sinks {
            for (idx, id) in ids.iter() {
                sink.send(Message::text(segment(id, n, *idx)))
                    .await
                    .unwrap();
            }
        }
    }
    wait_for(&progress, states_for(SEGMENTS_BEFORE + SEGMENTS_DURING)).await;
    // The platforms are still served: end every call and get every summary.
    for (sink, ids) in &mut sinks {
        for (_, id) in ids.iter() {
            let end = json!({"type":"call.end","call_id":id}).to_string();
            sink.send(Message::text(end)).await.unwrap();
        }
    }
    let all = async {
        while summaries.load(Ordering::Relaxed) < CALLS as u64 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    timeout(Duration::from_secs(120), all)
        .await
        .expect("every call summarised");
    stop.store(true, Ordering::Relaxed);
    sampler.await.unwrap();

    let peak = peak.load(Ordering::Relaxed);
    let growth_mib = peak.saturating_sub(before) as f64 / 1024.0;
    eprintln!(
        "RSS before supervisors {:.1} MiB, peak with {SUPERVISORS} non-reading supervisors {:.1} MiB, growth {growth_mib:.1} MiB",
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    assert!(
        growth_mib < MAX_GROWTH_MIB,
        "RSS grew by {growth_mib:.1} MiB with {SUPERVISORS} non-reading supervisors (limit {MAX_GROWTH_MIB} MiB)"
    );
    drop(supervisors);
    server.shutdown().await;
}

/// Wait until the server counts `n` supervisor sockets.
async fn wait_health_supervisors(server: &calma::server::ServerHandle, n: usize) {
    let state = server.state().clone();
    let fut = async {
        while state.supervisor_sockets.load(Ordering::Relaxed) < n as i64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    timeout(T, fut).await.expect("supervisors connected");
}
