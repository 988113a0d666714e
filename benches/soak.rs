//! Soak: a calma server (the real binary, spawned on 127.0.0.1 with an ephemeral port) under N
//! platform connections streaming realistic calls (the labelled Spanish calls of `tests/`, with
//! partial revisions) for a while, with random abrupt disconnects followed by `call.resume`.
//! Reports the server's RSS over time (from /proc) and every lost message:
//!
//! - every started call must get exactly one `call.summary` (through a resume if its connection
//!   was lost), whose `segments` equals the segment messages sent for it;
//! - the outputs of every call must arrive with `seq` 1, 2, 3... with no gap and no repeat,
//!   across reconnects (missed outputs come back from the replay buffer).
//!
//! Not run by `cargo bench` (bench = false). Run it explicitly:
//!
//! ```sh
//! cargo bench --bench soak -- --minutes 2          # quick
//! cargo bench --bench soak                         # 30 minutes
//! cargo bench --bench soak -- --help
//! ```
//!
//! Exits non-zero if anything was lost. Traffic goes to 127.0.0.1 only; every loop is bounded by
//! the duration.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Sink = SplitSink<Ws, Message>;

#[derive(Debug, Clone)]
struct Args {
    minutes: f64,
    connections: usize,
    calls_per_connection: usize,
    speed: f64,
    /// Mean seconds between abrupt disconnects of one connection (0 = never).
    disconnect_every: f64,
    report_every: f64,
    seed: u64,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut a = Args {
            minutes: 30.0,
            connections: 8,
            calls_per_connection: 12,
            speed: 4.0,
            disconnect_every: 45.0,
            report_every: 0.0,
            seed: 42,
        };
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < argv.len() {
            let k = argv[i].as_str();
            if k == "--bench" {
                i += 1;
                continue;
            }
            if k == "--help" || k == "-h" {
                return Err("options: --minutes M (30) --connections N (8) --calls-per-connection K (12) \
                     --speed X (4, media time runs X times faster) --disconnect-every S (45, mean seconds \
                     between abrupt disconnects per connection; 0 = never) --report-every S \
                     (minutes*4 s) --seed N (42)"
                    .to_string());
            }
            let v = argv.get(i + 1).ok_or(format!("{k} needs a value"))?;
            let num = |v: &str| v.parse::<f64>().map_err(|e| format!("{k}: {e}"));
            match k {
                "--minutes" => a.minutes = num(v)?,
                "--connections" => a.connections = num(v)? as usize,
                "--calls-per-connection" => a.calls_per_connection = num(v)? as usize,
                "--speed" => a.speed = num(v)?,
                "--disconnect-every" => a.disconnect_every = num(v)?,
                "--report-every" => a.report_every = num(v)?,
                "--seed" => a.seed = num(v)? as u64,
                other => return Err(format!("unknown option {other} (--help)")),
            }
            i += 2;
        }
        if a.report_every <= 0.0 {
            a.report_every = (a.minutes * 4.0).clamp(5.0, 60.0);
        }
        Ok(a)
    }
}

/// xorshift64*: deterministic and good enough for jitter.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Exponentially distributed with the given mean.
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).max(1e-12).ln()
    }
}

/// One recorded call: its segment messages (finals plus a partial before each longer final),
/// each with the media time it is due at.
#[derive(Debug, Clone)]
struct Script {
    events: Vec<(u64, Value)>,
}

fn load_scripts() -> Vec<Script> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["tests/calls", "tests/holdout", "examples"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut paths: Vec<_> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).unwrap();
            let msgs: Vec<Value> = text
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if msgs.iter().filter(|m| m["type"] == "call.start").count() != 1 {
                continue;
            }
            let mut events = Vec::new();
            for m in msgs.iter().filter(|m| m["type"] == "segment") {
                let (s, e) = (
                    m["start_ms"].as_u64().unwrap(),
                    m["end_ms"].as_u64().unwrap(),
                );
                let words: Vec<&str> = m["text"].as_str().unwrap().split_whitespace().collect();
                if e > s + 1500 && words.len() > 2 {
                    let mut p = m.clone();
                    p["text"] = json!(words[..words.len() / 2].join(" "));
                    p["end_ms"] = json!((s + e) / 2);
                    p["final"] = json!(false);
                    events.push(((s + e) / 2, p));
                }
                let mut f = m.clone();
                f["final"] = json!(true);
                events.push((e, f));
            }
            events.sort_by_key(|(t, _)| *t);
            if !events.is_empty() {
                out.push(Script { events });
            }
        }
    }
    out
}

/// What the checker knows about one call.
#[derive(Debug, Default)]
struct CallLog {
    segments_sent: u64,
    last_seq: u64,
    gaps: u64,
    repeats: u64,
    summaries: u64,
    summary_segments: Option<u64>,
    ended_sent: bool,
}

#[derive(Debug, Default)]
struct Stats {
    calls: HashMap<String, CallLog>,
    errors: HashMap<String, u64>,
    messages: u64,
    disconnects: u64,
    resumes: u64,
    resume_missed: u64,
}

type Shared = Arc<Mutex<Stats>>;

fn on_message(stats: &Shared, text: &str) {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let mut st = stats.lock().unwrap();
    st.messages += 1;
    match v["type"].as_str() {
        Some("error") => {
            *st.errors
                .entry(v["code"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
        }
        Some("call.resumed") => {
            st.resumes += 1;
            st.resume_missed += v["missed"].as_u64().unwrap_or(0);
        }
        _ => {
            let (Some(call), Some(seq)) = (v["call_id"].as_str(), v["seq"].as_u64()) else {
                return;
            };
            let c = st.calls.entry(call.to_string()).or_default();
            if seq <= c.last_seq {
                c.repeats += 1;
            } else {
                c.gaps += seq - c.last_seq - 1;
                c.last_seq = seq;
            }
            if v["type"] == "call.summary" {
                c.summaries += 1;
                c.summary_segments = v["segments"].as_u64();
            }
        }
    }
}

async fn open(addr: &str, stats: Shared) -> (Sink, JoinHandle<()>) {
    let (ws, _) = timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(format!("ws://{addr}/v1/stream")),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    let (sink, mut stream) = ws.split();
    let reader = tokio::spawn(async move {
        while let Some(Ok(m)) = stream.next().await {
            if let Message::Text(t) = m {
                on_message(&stats, t.as_str());
            }
        }
    });
    (sink, reader)
}

async fn send(sink: &mut Sink, v: &Value) -> bool {
    matches!(
        timeout(
            Duration::from_secs(10),
            sink.send(Message::text(v.to_string()))
        )
        .await,
        Ok(Ok(()))
    )
}

/// One platform connection: keeps `k` calls going until `deadline`, disconnecting now and then.
async fn platform(
    id: usize,
    addr: String,
    scripts: Arc<Vec<Script>>,
    args: Args,
    deadline: Instant,
    stats: Shared,
) {
    let mut rng = Rng(args.seed ^ ((id as u64 + 1) * 0x9e37_79b9_7f4a_7c15));
    let (mut sink, mut reader) = open(&addr, stats.clone()).await;
    // Scheduled sends: (due, call index, event index); event index == len means call.end.
    let mut queue: BinaryHeap<Reverse<(Instant, usize, usize)>> = BinaryHeap::new();
    let mut calls: Vec<(String, usize, Instant)> = Vec::new(); // (call id, script, media zero)
    let mut active = 0usize;
    let mut next_drop = if args.disconnect_every > 0.0 {
        Some(Instant::now() + Duration::from_secs_f64(rng.exp(args.disconnect_every)))
    } else {
        None
    };
    let mut serial = 0u64;
    loop {
        let now = Instant::now();
        let finishing = now >= deadline;
        // Keep `k` calls going; staggered starts.
        while !finishing && active < args.calls_per_connection {
            serial += 1;
            let call_id = format!("p{id}-c{serial}");
            let script = rng.below(scripts.len());
            let zero = now + Duration::from_millis(rng.below(3000) as u64);
            let start = json!({"type":"call.start","call_id":call_id,
                "agent_id":format!("agent-{}", rng.below(50)),"language":"es"});
            if !send(&mut sink, &start).await {
                break;
            }
            stats
                .lock()
                .unwrap()
                .calls
                .entry(call_id.clone())
                .or_default();
            calls.push((call_id, script, zero));
            queue.push(Reverse((zero, calls.len() - 1, 0)));
            active += 1;
        }
        if finishing {
            // Wrap up: end every call now.
            let mut open_calls = Vec::new();
            while let Some(Reverse((_, ci, _))) = queue.pop() {
                open_calls.push(ci);
            }
            open_calls.sort_unstable();
            open_calls.dedup();
            for ci in open_calls {
                let call_id = calls[ci].0.clone();
                if send(&mut sink, &json!({"type":"call.end","call_id":call_id})).await {
                    stats
                        .lock()
                        .unwrap()
                        .calls
                        .entry(call_id)
                        .or_default()
                        .ended_sent = true;
                }
            }
            break;
        }
        // An abrupt disconnect: stop sending, let what was sent be read, drop without a Close,
        // reconnect, resume every open call from the last seq seen.
        if next_drop.is_some_and(|t| now >= t) {
            sleep(Duration::from_millis(200)).await;
            reader.abort();
            drop(sink);
            stats.lock().unwrap().disconnects += 1;
            sleep(Duration::from_millis(50 + rng.below(500) as u64)).await;
            (sink, reader) = open(&addr, stats.clone()).await;
            // Every call of this connection still without its summary: running ones are
            // re-attached, ones that ended meanwhile replay through their summary.
            let open_calls: Vec<String> = {
                let st = stats.lock().unwrap();
                calls
                    .iter()
                    .filter_map(|(c, _, _)| {
                        let log = st.calls.get(c)?;
                        (log.summaries == 0).then(|| {
                            json!({"type":"call.resume","call_id":c,"after_seq":log.last_seq})
                                .to_string()
                        })
                    })
                    .collect()
            };
            for m in open_calls {
                let _ = timeout(Duration::from_secs(10), sink.send(Message::text(m))).await;
            }
            next_drop =
                Some(Instant::now() + Duration::from_secs_f64(rng.exp(args.disconnect_every)));
            continue;
        }
        let Some(Reverse((due, ci, ei))) = queue.peek().copied() else {
            sleep(Duration::from_millis(10)).await;
            continue;
        };
        let wake = next_drop.map_or(due, |d| d.min(due)).min(deadline);
        if wake > now {
            sleep_until(wake).await;
            continue;
        }
        queue.pop();
        let (call_id, script, zero) = calls[ci].clone();
        let events = &scripts[script].events;
        if ei == events.len() {
            if send(&mut sink, &json!({"type":"call.end","call_id":call_id})).await {
                stats
                    .lock()
                    .unwrap()
                    .calls
                    .entry(call_id)
                    .or_default()
                    .ended_sent = true;
            }
            active -= 1;
            continue;
        }
        let (_, ev) = &events[ei];
        let mut m = ev.clone();
        m["call_id"] = json!(call_id);
        if send(&mut sink, &m).await {
            stats
                .lock()
                .unwrap()
                .calls
                .entry(call_id)
                .or_default()
                .segments_sent += 1;
        }
        let next_at = if ei + 1 < events.len() {
            events[ei + 1].0
        } else {
            events[ei].0 + 1000
        };
        let due = zero + Duration::from_secs_f64(next_at as f64 / 1000.0 / args.speed);
        queue.push(Reverse((due, ci, ei + 1)));
    }
    // Read the summaries of the calls ended above, then close cleanly.
    let wait_until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < wait_until {
        let pending = {
            let st = stats.lock().unwrap();
            calls
                .iter()
                .filter(|(c, _, _)| st.calls.get(c).is_none_or(|l| l.summaries == 0))
                .count()
        };
        if pending == 0 {
            break;
        }
        sleep(Duration::from_millis(50)).await;
    }
    let _ = timeout(Duration::from_secs(5), sink.close()).await;
    let _ = timeout(Duration::from_secs(5), reader).await;
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::from(2);
        }
    };
    let scripts = Arc::new(load_scripts());
    assert!(!scripts.is_empty(), "no call scripts found");
    let mut server = Command::new(env!("CARGO_BIN_EXE_calma"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env_remove("CALMA_API_KEYS")
        .env_remove("CALMA_TOKEN_SECRET")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn calma");
    let pid = server.id();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("http://")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_string)
        })
        .expect("calma prints its address");
    // Keep draining the server's stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    println!(
        "soak: calma pid {pid} on {addr}; {} connections × {} calls, media ×{}, a disconnect every ~{} s per connection, {} min, {} call scripts",
        args.connections, args.calls_per_connection, args.speed, args.disconnect_every, args.minutes, scripts.len()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let stats: Shared = Arc::default();
    let started = std::time::Instant::now();
    let mut rss = Vec::new();
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs_f64(args.minutes * 60.0);
        let mut tasks = Vec::new();
        for id in 0..args.connections {
            tasks.push(tokio::spawn(platform(
                id,
                addr.clone(),
                scripts.clone(),
                args.clone(),
                deadline,
                stats.clone(),
            )));
        }
        let report = Duration::from_secs_f64(args.report_every);
        let mut next = Instant::now();
        println!(
            "{:>7} {:>10} {:>8} {:>10} {:>9} {:>11} {:>8}",
            "t (s)", "RSS (MiB)", "calls", "summaries", "messages", "disconnects", "resumes"
        );
        while tasks.iter().any(|t| !t.is_finished()) {
            if Instant::now() >= next {
                let kib = rss_kib(pid).unwrap_or(0);
                let st = stats.lock().unwrap();
                let summaries: u64 = st.calls.values().map(|c| c.summaries).sum();
                println!(
                    "{:>7.0} {:>10.1} {:>8} {:>10} {:>9} {:>11} {:>8}",
                    started.elapsed().as_secs_f64(),
                    kib as f64 / 1024.0,
                    st.calls.len(),
                    summaries,
                    st.messages,
                    st.disconnects,
                    st.resumes
                );
                rss.push(kib);
                next += report;
            }
            sleep(Duration::from_millis(100)).await;
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let final_rss = rss_kib(pid).unwrap_or(0);
    rss.push(final_rss);
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = server.wait();

    let st = stats.lock().unwrap();
    let calls = st.calls.len() as u64;
    let no_summary = st.calls.values().filter(|c| c.summaries == 0).count();
    let double_summary = st.calls.values().filter(|c| c.summaries > 1).count();
    let gaps: u64 = st.calls.values().map(|c| c.gaps).sum();
    let repeats: u64 = st.calls.values().map(|c| c.repeats).sum();
    let seg_mismatch = st
        .calls
        .values()
        .filter(|c| c.summary_segments.is_some_and(|s| s != c.segments_sent))
        .count();
    let segments: u64 = st.calls.values().map(|c| c.segments_sent).sum();
    let (min, max) = (rss.iter().min().unwrap(), rss.iter().max().unwrap());
    println!("soak: {:.1} min, {calls} calls, {segments} segment messages sent, {} messages received, {} disconnects, {} resumes ({} outputs reported missed by the server)",
        started.elapsed().as_secs_f64() / 60.0, st.messages, st.disconnects, st.resumes, st.resume_missed);
    println!(
        "soak: RSS min {:.1} MiB, max {:.1} MiB, end {:.1} MiB",
        *min as f64 / 1024.0,
        *max as f64 / 1024.0,
        final_rss as f64 / 1024.0
    );
    println!("soak: calls without summary {no_summary}, with several {double_summary}, seq gaps {gaps}, repeats {repeats}, summary segment count wrong {seg_mismatch}, errors {:?}", st.errors);
    let lost = no_summary + double_summary + seg_mismatch + gaps as usize + st.errors.len();
    if lost == 0 {
        println!("soak: OK, nothing lost");
        ExitCode::SUCCESS
    } else {
        println!("soak: FAILED");
        ExitCode::FAILURE
    }
}
