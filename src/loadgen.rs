//! `calma loadgen`: a platform-side load generator. It streams [`crate::traffic`] (the labelled
//! calls re-streamed like a live STT, each simulated call with a unique `call_id`).
//!
//! Measurement: N WebSocket connections carry M concurrent calls in total, paced on media time
//! (real time or K× faster). The latency of a **final segment** is the time from the client's send
//! to the receipt of the `state` message that final produced (calma sends `state` after a final
//! only when something a viewer sees changed; finals without one are counted, not timed). The
//! same load against `GET /v1/echo` (same axum stack, no engine) is the baseline: there the
//! response to a final is its echo.
//!
//! With `--agents`, every call slot has its own agent id and an agent panel socket
//! (`/v1/agents/{id}/nudges`) that receives the call's outputs, as softphone panels would.
//! Connections (and panels) open when their first call starts, staggered over the ramp, as a
//! contact centre's calls arrive; `--connections` equal to `--calls` is one connection per call.
//!
//! Every loop is bounded in count and time, and traffic goes to loopback addresses only.

use serde_json::{json, Value};

use crate::traffic::{embedded_live_calls, live_stream, media_ms, parse_jsonl, PARTIAL_EVERY_MS};

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Waiting for outstanding responses once sending stopped.
const DRAIN: Duration = Duration::from_secs(5);
/// Opening one connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest run a single phase may take, whatever the options say.
const MAX_DURATION_S: u64 = 3_600;
/// Most concurrent calls one run may simulate.
const MAX_CALLS: usize = 100_000;
/// Most connections one run may open.
const MAX_CONNECTIONS: usize = 20_000;
/// Error messages printed verbatim per phase (the rest are counted).
const ERRORS_SHOWN: usize = 5;
/// Timed finals at least this slow are kept with their send time for `--timeline`.
const SLOW_MS: f64 = 10.0;
/// Most slow finals kept per phase for the timeline.
const SLOW_KEPT: usize = 200_000;
/// Read buffer of each client socket: the generator's frames are small, and 10,000 sockets
/// with tungstenite's default 128 KiB would make the generator, not the server, the memory hog.
const CLIENT_READ_BUFFER: usize = 4 * 1024;

/// `calma loadgen` options.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadgenArgs {
    /// Base URL of a running calma (loopback only: 127.0.0.1, ::1 or localhost).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// WebSocket connections (platform connections), opened at start.
    #[arg(long, default_value_t = 10)]
    pub connections: usize,
    /// Concurrent calls in total, spread evenly over the connections. A call that ends is
    /// replaced at once by the next labelled call under a new call_id.
    #[arg(long, default_value_t = 100)]
    pub calls: usize,
    /// Media time runs this many times faster than real time.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Measured seconds (wall clock), after the ramp.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Seconds over which calls start (staggered, not measured).
    #[arg(long, default_value_t = 10)]
    pub ramp: u64,
    /// Also run the same load against `/v1/echo` (same server, no engine) and compare.
    #[arg(long)]
    pub echo: bool,
    /// Run once per call count in this comma-separated list (e.g. 100,1000,5000); overrides --calls.
    #[arg(long, value_delimiter = ',')]
    pub sweep: Vec<usize>,
    /// Read calls from the `*.jsonl` files of this directory (finals only; partials are
    /// synthesised) instead of the embedded labelled calls.
    #[arg(long)]
    pub calls_dir: Option<PathBuf>,
    /// Report this server process's CPU and memory (/proc/PID).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Start `calma serve` on a free loopback port for the run (and stop it after); --url is ignored.
    #[arg(long)]
    pub spawn: bool,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw p50/p95/p99 latency against concurrent calls (calma and echo) as SVG to this file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Give every call slot its own agent id and open its agent panel socket
    /// (`/v1/agents/{id}/nudges`): as many panels as calls, receiving the calls' outputs.
    #[arg(long)]
    pub agents: bool,
    /// Write every timed final of at least 10 ms as CSV (phase, seconds into the measured
    /// window, latency ms, connection) to this file: shows whether slow finals come in bursts
    /// (a stall of the whole server) or one connection at a time.
    #[arg(long)]
    pub timeline: Option<PathBuf>,
}

/// One prepared message: its media time, the JSON split around the call id, and for a final
/// segment its `end_ms` (the key its response is matched by).
#[derive(Debug, Clone)]
struct Msg {
    at_ms: u64,
    before: String,
    after: String,
    final_end: Option<u64>,
    /// A `call.start` whose `agent_id` is [`AGENT_MARK`], replaced with the slot's agent.
    names_agent: bool,
}

/// A call ready to be replayed under any call id.
#[derive(Debug, Clone)]
struct Template {
    msgs: Vec<Msg>,
}

const ID_MARK: &str = "@@calma-loadgen-call-id@@";
const AGENT_MARK: &str = "@@calma-loadgen-agent-id@@";

/// The calls as templates; with `own_agents`, each `call.start` leaves its agent id open.
fn templates(calls: &[Vec<Value>], own_agents: bool) -> Vec<Template> {
    calls
        .iter()
        .map(|msgs| Template {
            msgs: msgs
                .iter()
                .map(|m| {
                    let mut m = m.clone();
                    m["call_id"] = json!(ID_MARK);
                    let names_agent = own_agents && m["type"] == "call.start";
                    if names_agent {
                        m["agent_id"] = json!(AGENT_MARK);
                    }
                    let text = m.to_string();
                    let (before, after) = text.split_once(ID_MARK).unwrap_or((&text, ""));
                    let is_final = m["type"] == "segment" && m["final"] != false;
                    Msg {
                        at_ms: media_ms(&m),
                        before: before.to_string(),
                        after: after.to_string(),
                        final_end: is_final.then(|| m["end_ms"].as_u64().unwrap_or(0)),
                        names_agent,
                    }
                })
                .collect(),
        })
        .collect()
}

/// What one phase (one target, one call count) measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PhaseResult {
    pub target: String,
    pub calls: usize,
    pub connections: usize,
    pub speed: f64,
    pub seconds: f64,
    pub sent: u64,
    pub received: u64,
    pub finals_sent: u64,
    pub finals_timed: u64,
    /// Finals that produced no `state` (nothing visible changed): counted, not timed.
    pub finals_without_response: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub server_cpu_percent: Option<f64>,
    pub server_rss_mib: Option<f64>,
    pub server_fds: Option<u64>,
    pub loadgen_cpu_percent: Option<f64>,
    /// Agent panel sockets open at the end of the measured window (`--agents`).
    pub panels: u64,
    /// Messages the panels received in the measured window.
    pub panel_received: u64,
    /// Timed finals of at least 10 ms, and in how many distinct seconds of the window they fell.
    pub slow_finals: u64,
    pub slow_seconds: u64,
    /// The second (into the measured window) with the most slow finals, and how many.
    pub worst_second: Option<(u64, u64)>,
}

/// Shared between a connection's writer and reader.
#[derive(Default)]
struct Pending {
    /// call id → finals sent and not answered yet: (end_ms, sent at, measured).
    calls: HashMap<String, Vec<(u64, Instant, bool)>>,
}

struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
    finals_sent: AtomicU64,
    unanswered: AtomicU64,
    errors: AtomicU64,
    samples: Mutex<Vec<String>>,
    hist: Mutex<Histogram<u64>>,
    panels: AtomicU64,
    panel_received: AtomicU64,
    /// Slow timed finals: (send time, latency µs, connection).
    slow: Mutex<Vec<(Instant, u64, usize)>>,
}

impl Counters {
    fn new() -> Self {
        Counters {
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            finals_sent: AtomicU64::new(0),
            unanswered: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            samples: Mutex::new(Vec::new()),
            // 1 µs .. 60 s, 3 significant digits.
            hist: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")),
            panels: AtomicU64::new(0),
            panel_received: AtomicU64::new(0),
            slow: Mutex::new(Vec::new()),
        }
    }

    fn error(&self, msg: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut s) = self.samples.lock() {
            if s.len() < ERRORS_SHOWN {
                s.push(msg);
            }
        }
    }
}

/// The fields of a response the generator reads (the rest is skipped).
#[derive(serde::Deserialize)]
struct Resp<'a> {
    #[serde(rename = "type", borrow)]
    ty: &'a str,
    #[serde(borrow)]
    call_id: Option<&'a str>,
    at_ms: Option<u64>,
    end_ms: Option<u64>,
    #[serde(rename = "final")]
    fin: Option<bool>,
    #[serde(borrow)]
    code: Option<&'a str>,
    #[serde(borrow)]
    message: Option<std::borrow::Cow<'a, str>>,
}

/// Match a response to the final it answers: calma's `state` (`at_ms` = the final's `end_ms`,
/// the call's media time) or the echo of the final itself. Earlier finals of the call still
/// waiting got no response (no visible change) and are dropped as such.
fn on_response(
    text: &str,
    echo: bool,
    pending: &Mutex<Pending>,
    c: &Counters,
    now: Instant,
    conn: usize,
) {
    let Ok(r) = serde_json::from_str::<Resp>(text) else {
        c.error(format!(
            "unreadable response: {}",
            text.chars().take(120).collect::<String>()
        ));
        return;
    };
    let key = match (echo, r.ty) {
        (false, "state") => r.at_ms,
        (true, "segment") if r.fin != Some(false) => r.end_ms,
        (_, "error") => {
            c.error(format!(
                "server error {}: {}",
                r.code.unwrap_or("?"),
                r.message.as_deref().unwrap_or("")
            ));
            None
        }
        _ => None,
    };
    let (Some(at), Some(call)) = (key, r.call_id) else {
        return;
    };
    let Ok(mut p) = pending.lock() else { return };
    let Some(list) = p.calls.get_mut(call) else {
        return;
    };
    let Some(i) = list.iter().rposition(|(end, _, _)| *end <= at) else {
        return;
    };
    let (_, sent, measured) = list[i];
    c.unanswered.fetch_add(i as u64, Ordering::Relaxed);
    list.drain(..=i);
    if measured {
        let us = now.saturating_duration_since(sent).as_micros() as u64;
        if let Ok(mut h) = c.hist.lock() {
            let _ = h.record(us.clamp(1, 60_000_000));
        }
        if us as f64 >= SLOW_MS * 1000.0 {
            if let Ok(mut s) = c.slow.lock() {
                if s.len() < SLOW_KEPT {
                    s.push((sent, us, conn));
                }
            }
        }
    }
}

fn client_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(CLIENT_READ_BUFFER)
}

/// One agent panel: count what it receives until `until`.
async fn panel(
    url: String,
    until: Instant,
    measure_from: Instant,
    stop: Instant,
    c: Arc<Counters>,
) {
    let connect = tokio_tungstenite::connect_async_with_config(&url, Some(client_config()), true);
    let ws = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => return c.error(format!("panel {url}: cannot connect: {e}")),
        Err(_) => return c.error(format!("panel {url}: connect timed out")),
    };
    c.panels.fetch_add(1, Ordering::Relaxed);
    let (mut tx, mut rx) = ws.split();
    loop {
        let Ok(Some(msg)) = tokio::time::timeout_at(until, rx.next()).await else {
            break;
        };
        match msg {
            Ok(Message::Text(t)) => {
                let now = Instant::now();
                if now >= measure_from && now < stop {
                    c.panel_received.fetch_add(1, Ordering::Relaxed);
                }
                if t.as_str().contains("\"type\":\"error\"") {
                    c.error(format!(
                        "panel error: {}",
                        t.as_str().chars().take(120).collect::<String>()
                    ));
                }
            }
            Ok(Message::Close(_)) => break,
            Ok(_) => {}
            Err(e) => {
                c.error(format!("panel read: {e}"));
                break;
            }
        }
    }
    c.panels.fetch_sub(1, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(2), tx.send(Message::Close(None))).await;
}

/// One call slot of a connection: which template, where in it, under which id.
struct Slot {
    template: usize,
    pos: usize,
    anchor: Instant,
    call_id: String,
    agent_id: String,
    generation: u64,
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    url: String,
    panel_base: Option<String>,
    echo: bool,
    conn: usize,
    slots_global: Vec<usize>,
    total_calls: usize,
    templates: Arc<Vec<Template>>,
    speed: f64,
    start: Instant,
    ramp: Duration,
    measure_from: Instant,
    stop: Instant,
    run: u64,
    c: Arc<Counters>,
) {
    // Open when the first call starts, as a contact centre's calls arrive (one connection per
    // call opens with its call), not all in the same millisecond.
    let first = slots_global.iter().copied().min().unwrap_or(0);
    let opens = start + ramp.mul_f64(first as f64 / total_calls.max(1) as f64);
    tokio::time::sleep_until(
        opens
            .checked_sub(Duration::from_millis(500))
            .unwrap_or(opens),
    )
    .await;
    let agent = |g: usize| format!("lg{run}-a{g}");
    let mut panels = Vec::new();
    if let Some(base) = &panel_base {
        let until = stop + DRAIN + Duration::from_secs(1);
        for &g in &slots_global {
            let url = format!("{base}/v1/agents/{}/nudges", agent(g));
            panels.push(tokio::spawn(panel(
                url,
                until,
                measure_from,
                stop,
                c.clone(),
            )));
        }
    }
    // TCP_NODELAY, as a platform sending small frames would set it.
    let connect = tokio_tungstenite::connect_async_with_config(&url, Some(client_config()), true);
    let ws = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => return c.error(format!("connection {conn}: cannot connect: {e}")),
        Err(_) => return c.error(format!("connection {conn}: connect timed out")),
    };
    let (mut tx, mut rx) = ws.split();
    let pending = Arc::new(Mutex::new(Pending::default()));
    let reader = {
        let (pending, c) = (pending.clone(), c.clone());
        tokio::spawn(async move {
            let deadline = stop + DRAIN + Duration::from_secs(1);
            loop {
                let next = tokio::time::timeout_at(deadline, rx.next()).await;
                let Ok(Some(msg)) = next else { break };
                match msg {
                    Ok(Message::Text(t)) => {
                        let now = Instant::now();
                        if now >= measure_from && now < stop {
                            c.received.fetch_add(1, Ordering::Relaxed);
                        }
                        on_response(t.as_str(), echo, &pending, &c, now, conn);
                    }
                    Ok(Message::Close(_)) => break,
                    Ok(_) => {}
                    Err(e) => {
                        c.error(format!("connection {conn}: read: {e}"));
                        break;
                    }
                }
            }
        })
    };

    let speed = if speed > 0.0 { speed } else { 1.0 };
    let media = |ms: u64| Duration::from_secs_f64(ms as f64 / 1000.0 / speed);
    let mut slots: Vec<Slot> = slots_global
        .iter()
        .map(|&g| Slot {
            template: g % templates.len(),
            pos: 0,
            // Calls start staggered over the ramp, so the load is smooth from the first second.
            anchor: start + ramp.mul_f64(g as f64 / total_calls.max(1) as f64),
            call_id: format!("lg{run}-{g}-0"),
            agent_id: agent(g),
            generation: 0,
        })
        .collect();
    let mut heap: BinaryHeap<Reverse<(Instant, usize)>> = slots
        .iter()
        .enumerate()
        .map(|(i, s)| Reverse((s.anchor, i)))
        .collect();
    let mut out = String::with_capacity(512);
    while let Some(Reverse((due, i))) = heap.pop() {
        if due >= stop {
            // Nothing more to send in the window: stay connected until it ends.
            tokio::time::sleep_until(stop).await;
            break;
        }
        tokio::time::sleep_until(due).await;
        // Send everything due now in one flush.
        let mut batch = vec![i];
        while let Some(Reverse((d, j))) = heap.peek().copied() {
            if d > Instant::now() || d >= stop {
                break;
            }
            heap.pop();
            batch.push(j);
        }
        let mut failed = false;
        for i in batch {
            let s = &mut slots[i];
            let t = &templates[s.template];
            let m = &t.msgs[s.pos];
            out.clear();
            out.push_str(&m.before);
            out.push_str(&s.call_id);
            out.push_str(&m.after);
            if m.names_agent {
                out = out.replace(AGENT_MARK, &s.agent_id);
            }
            let now = Instant::now();
            if let Some(end) = m.final_end {
                let measured = now >= measure_from;
                if let Ok(mut p) = pending.lock() {
                    p.calls
                        .entry(s.call_id.clone())
                        .or_default()
                        .push((end, now, measured));
                }
                if measured {
                    c.finals_sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            if now >= measure_from {
                c.sent.fetch_add(1, Ordering::Relaxed);
            }
            if let Err(e) = tx.feed(Message::text(out.clone())).await {
                c.error(format!("connection {conn}: send: {e}"));
                failed = true;
                break;
            }
            s.pos += 1;
            if s.pos == t.msgs.len() {
                // The call ended: its unanswered finals got no state; start the next call.
                if let Ok(mut p) = pending.lock() {
                    if let Some(l) = p.calls.remove(&s.call_id) {
                        let n = l.iter().filter(|x| x.2).count();
                        c.unanswered.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
                s.generation += 1;
                s.template = (s.template + 1) % templates.len();
                s.pos = 0;
                s.anchor = Instant::now();
                s.call_id = format!("lg{run}-{}-{}", slots_global[i], s.generation);
            }
            let next = s.anchor + media(templates[s.template].msgs[s.pos].at_ms);
            heap.push(Reverse((next, i)));
        }
        if failed {
            break;
        }
        if let Err(e) = tx.flush().await {
            c.error(format!("connection {conn}: send: {e}"));
            break;
        }
    }
    // End the calls still open (the server sends summaries) and let responses drain.
    for s in &slots {
        if s.pos > 0 {
            let end = json!({"type": "call.end", "call_id": s.call_id}).to_string();
            if tx.feed(Message::text(end)).await.is_err() {
                break;
            }
        }
    }
    let _ = tx.flush().await;
    let wait_until = stop.max(Instant::now()) + DRAIN;
    while Instant::now() < wait_until {
        let outstanding = pending
            .lock()
            .map(|p| p.calls.values().any(|l| l.iter().any(|x| x.2)))
            .unwrap_or(false);
        if !outstanding {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Ok(p) = pending.lock() {
        let n: usize = p
            .calls
            .values()
            .map(|l| l.iter().filter(|x| x.2).count())
            .sum();
        c.unanswered.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), tx.send(Message::Close(None))).await;
    reader.abort();
    for p in panels {
        let _ = p.await;
    }
}

/// CPU ticks (user + system) and RSS of a process, from /proc.
#[derive(Debug, Clone, Copy)]
struct ProcSample {
    ticks: u64,
    rss_kib: u64,
    at: Instant,
}

fn proc_sample(pid: &str) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at "state".
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some(ProcSample {
        ticks,
        rss_kib,
        at: Instant::now(),
    })
}

/// CPU use between two samples, in percent of one core (USER_HZ is 100 on Linux).
fn cpu_percent(a: ProcSample, b: ProcSample) -> f64 {
    let secs = b.at.saturating_duration_since(a.at).as_secs_f64().max(1e-3);
    (b.ticks.saturating_sub(a.ticks)) as f64 / 100.0 / secs * 100.0
}

fn fd_count(pid: &str) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// The soft limit on open files of this process.
fn fd_limit() -> Option<u64> {
    let l = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = l.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Only loopback targets: a load generator must not be pointed at someone else's service.
fn loopback_base(url: &str) -> Result<String, String> {
    let b = url.trim_end_matches('/');
    let rest = b
        .strip_prefix("http://")
        .or_else(|| b.strip_prefix("ws://"))
        .ok_or_else(|| format!("--url must be http:// or ws:// on loopback, not `{url}`"))?;
    let host_port = rest.split('/').next().unwrap_or("");
    let host = if let Some(h) = host_port.strip_prefix('[') {
        h.split(']').next().unwrap_or("")
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    if !matches!(host, "127.0.0.1" | "localhost" | "::1") {
        return Err(format!(
            "--url must point at this machine (127.0.0.1, ::1, localhost), not `{host}`"
        ));
    }
    Ok(format!("ws://{host_port}"))
}

#[allow(clippy::too_many_arguments)]
async fn phase(
    base: &str,
    echo: bool,
    calls: usize,
    connections: usize,
    templates: Arc<Vec<Template>>,
    args: &LoadgenArgs,
    server_pid: Option<&str>,
    run: u64,
) -> PhaseResult {
    let url = format!("{base}/v1/{}", if echo { "echo" } else { "stream" });
    let panel_base = (args.agents && !echo).then(|| base.to_string());
    let c = Arc::new(Counters::new());
    let start = Instant::now() + Duration::from_millis(200);
    let ramp = Duration::from_secs(args.ramp);
    let measure_from = start + ramp;
    let stop = measure_from + Duration::from_secs(args.duration.min(MAX_DURATION_S));
    let mut tasks = Vec::with_capacity(connections);
    for conn in 0..connections {
        let slots: Vec<usize> = (conn..calls).step_by(connections).collect();
        tasks.push(tokio::spawn(connection(
            url.clone(),
            panel_base.clone(),
            echo,
            conn,
            slots,
            calls,
            templates.clone(),
            args.speed,
            start,
            ramp,
            measure_from,
            stop,
            run,
            c.clone(),
        )));
    }
    tokio::time::sleep_until(measure_from).await;
    let (s0, me0) = (server_pid.and_then(proc_sample), proc_sample("self"));
    // Sample just before the end: connections close as soon as sending stops.
    let sample_at = stop.checked_sub(Duration::from_millis(500)).unwrap_or(stop);
    tokio::time::sleep_until(sample_at.max(measure_from)).await;
    let (s1, me1) = (server_pid.and_then(proc_sample), proc_sample("self"));
    let fds = server_pid.and_then(fd_count);
    let panels = c.panels.load(Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let h =
        c.hist.lock().map(|h| h.clone()).unwrap_or_else(|_| {
            Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
        });
    let q = |p: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(p) as f64 / 1000.0
        }
    };
    let seconds = stop.saturating_duration_since(measure_from).as_secs_f64();
    let slow = c.slow.lock().map(|s| s.clone()).unwrap_or_default();
    let mut per_second: HashMap<u64, u64> = HashMap::new();
    for (sent, _, _) in &slow {
        *per_second
            .entry(sent.saturating_duration_since(measure_from).as_secs())
            .or_default() += 1;
    }
    let worst_second = per_second
        .iter()
        .max_by_key(|(s, n)| (**n, Reverse(**s)))
        .map(|(s, n)| (*s, *n));
    if let Some(path) = &args.timeline {
        let mut text = String::new();
        let new = !path.exists() || run == 1;
        if new {
            text.push_str("phase,target,calls,connections,t_s,latency_ms,connection\n");
        }
        for (sent, us, conn) in &slow {
            text.push_str(&format!(
                "{run},{},{calls},{connections},{:.3},{:.3},{conn}\n",
                if echo { "echo" } else { "calma" },
                sent.saturating_duration_since(measure_from).as_secs_f64(),
                *us as f64 / 1000.0
            ));
        }
        let written = if new {
            std::fs::write(path, text)
        } else {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(text.as_bytes()))
        };
        if let Err(e) = written {
            eprintln!("loadgen: cannot write {}: {e}", path.display());
        }
    }
    PhaseResult {
        target: if echo { "echo" } else { "calma" }.to_string(),
        calls,
        connections,
        speed: args.speed,
        seconds,
        sent: c.sent.load(Ordering::Relaxed),
        received: c.received.load(Ordering::Relaxed),
        finals_sent: c.finals_sent.load(Ordering::Relaxed),
        finals_timed: h.len(),
        finals_without_response: c.unanswered.load(Ordering::Relaxed),
        p50_ms: q(0.50),
        p95_ms: q(0.95),
        p99_ms: q(0.99),
        p999_ms: q(0.999),
        max_ms: if h.is_empty() {
            0.0
        } else {
            h.max() as f64 / 1000.0
        },
        errors: c.errors.load(Ordering::Relaxed),
        error_samples: c.samples.lock().map(|s| s.clone()).unwrap_or_default(),
        server_cpu_percent: s0.zip(s1).map(|(a, b)| cpu_percent(a, b)),
        server_rss_mib: s1.map(|s| s.rss_kib as f64 / 1024.0),
        server_fds: fds,
        loadgen_cpu_percent: me0.zip(me1).map(|(a, b)| cpu_percent(a, b)),
        panels,
        panel_received: c.panel_received.load(Ordering::Relaxed),
        slow_finals: slow.len() as u64,
        slow_seconds: per_second.len() as u64,
        worst_second,
    }
}

fn print_phase(r: &PhaseResult) {
    let opt = |v: Option<f64>, unit: &str| v.map_or("-".to_string(), |v| format!("{v:.1}{unit}"));
    println!(
        "{:<6} calls {:>6}  conns {:>5}  p50 {:>8.3} ms  p95 {:>8.3} ms  p99 {:>8.3} ms  p99.9 {:>8.3} ms  max {:>8.3} ms  \
         sent {:>8.0}/s  recv {:>8.0}/s  finals timed {}/{} (no state: {})  errors {}  server cpu {} rss {} fds {}  loadgen cpu {}",
        r.target,
        r.calls,
        r.connections,
        r.p50_ms,
        r.p95_ms,
        r.p99_ms,
        r.p999_ms,
        r.max_ms,
        r.sent as f64 / r.seconds.max(1e-3),
        r.received as f64 / r.seconds.max(1e-3),
        r.finals_timed,
        r.finals_sent,
        r.finals_without_response,
        r.errors,
        opt(r.server_cpu_percent, "%"),
        opt(r.server_rss_mib, " MiB"),
        r.server_fds.map_or("-".to_string(), |v| v.to_string()),
        opt(r.loadgen_cpu_percent, "%"),
    );
    if r.panels > 0 {
        println!(
            "       agent panels {}  panel msgs {:.0}/s",
            r.panels,
            r.panel_received as f64 / r.seconds.max(1e-3)
        );
    }
    if r.slow_finals > 0 {
        let worst = r.worst_second.map_or(String::new(), |(s, n)| {
            format!("; worst second {s} with {n}")
        });
        println!(
            "       finals >= {SLOW_MS} ms: {} in {} of {:.0} seconds{worst}",
            r.slow_finals, r.slow_seconds, r.seconds
        );
    }
    for e in &r.error_samples {
        println!("       error: {e}");
    }
}

/// A server this run started (`--spawn`), stopped when dropped.
struct Spawned(std::process::Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `max_calls`: per connection; `calls` and `sockets`: for the whole run.
fn spawn_server(
    max_calls: usize,
    calls: usize,
    sockets: usize,
) -> Result<(Spawned, String), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("cannot find a free port: {e}"))?
        .port();
    let exe = std::env::current_exe().map_err(|e| format!("cannot find calma: {e}"))?;
    let child = std::process::Command::new(exe)
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--max-calls",
            &max_calls.max(1).to_string(),
            // A load test is one tenant: let it use the whole process.
            "--max-calls-per-tenant",
            &calls.max(10_000).to_string(),
            "--max-process-calls",
            &calls.max(10_000).to_string(),
            "--max-connections-per-tenant",
            &sockets.max(10_000).to_string(),
            "--max-connections",
            &(sockets + 16).max(10_000).to_string(),
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start calma serve: {e}"))?;
    let child = Spawned(child);
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            return Ok((child, format!("http://{addr}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("the spawned server did not start listening within 5 s".into())
}

/// `calma loadgen`: run every phase, print a table, optionally write JSON and SVG.
pub fn run(args: LoadgenArgs) -> Result<Vec<PhaseResult>, String> {
    let calls_list: Vec<usize> = if args.sweep.is_empty() {
        vec![args.calls]
    } else {
        args.sweep.clone()
    };
    let max_calls = calls_list.iter().copied().max().unwrap_or(0);
    if max_calls == 0 || max_calls > MAX_CALLS {
        return Err(format!("--calls must be 1..={MAX_CALLS}"));
    }
    if args.connections == 0 || args.connections > MAX_CONNECTIONS {
        return Err(format!("--connections must be 1..={MAX_CONNECTIONS}"));
    }
    if !(args.speed > 0.0 && args.speed <= 1000.0) {
        return Err("--speed must be in (0, 1000]".into());
    }
    // Every connection is a socket here, and one in the server (which has its own limit; a
    // spawned server inherits this one).
    let panels = if args.agents { max_calls } else { 0 };
    let needed = (args.connections + panels) as u64 + 64;
    if let Some(limit) = fd_limit() {
        if limit < needed {
            return Err(format!(
                "{} connections and {panels} panels need about {needed} open files but this \
                 shell allows {limit}: raise it first (ulimit -n {needed})",
                args.connections
            ));
        }
    }
    let calls: Vec<Vec<Value>> = match &args.calls_dir {
        None => embedded_live_calls().into_iter().map(|(_, m)| m).collect(),
        Some(dir) => {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                .collect();
            paths.sort();
            let mut v = Vec::new();
            for p in paths {
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                let msgs = parse_jsonl(&text).map_err(|e| format!("{}: {e}", p.display()))?;
                let finals: Vec<Value> = msgs.into_iter().filter(|m| m["type"] != "tick").collect();
                match live_stream(&finals, PARTIAL_EVERY_MS) {
                    Some(l) => v.push(l),
                    None => eprintln!("loadgen: skipping {} (not one whole call)", p.display()),
                }
            }
            v
        }
    };
    if calls.is_empty() {
        return Err("no calls to stream".into());
    }
    let templates = Arc::new(templates(&calls, args.agents));

    let (_server, base_url, pid) = if args.spawn {
        let (child, url) = spawn_server(
            max_calls.div_ceil(args.connections) + 1,
            max_calls,
            args.connections.min(max_calls) + panels,
        )?;
        let pid = child.0.id().to_string();
        (Some(child), url, Some(pid))
    } else {
        (
            None,
            args.url.clone(),
            args.server_pid.map(|p| p.to_string()),
        )
    };
    let base = loopback_base(&base_url)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    println!(
        "loadgen: {} labelled calls, {} connections, speed {}x, ramp {} s, {} s measured per phase, target {base}",
        templates.len(),
        args.connections,
        args.speed,
        args.ramp,
        args.duration
    );
    let mut results = Vec::new();
    let mut run_id = 0;
    for &n in &calls_list {
        let conns = args.connections.min(n);
        let targets: &[bool] = if args.echo { &[false, true] } else { &[false] };
        for &echo in targets {
            run_id += 1;
            let r = rt.block_on(phase(
                &base,
                echo,
                n,
                conns,
                templates.clone(),
                &args,
                pid.as_deref(),
                run_id,
            ));
            print_phase(&r);
            results.push(r);
        }
        if args.echo {
            let (a, b) = (&results[results.len() - 2], &results[results.len() - 1]);
            let ratio = |x: f64, y: f64| if y > 0.0 { x / y } else { f64::NAN };
            println!(
                "       calma/echo at {n} calls: p50 x{:.2}  p99 x{:.2}  p99.9 x{:.2}",
                ratio(a.p50_ms, b.p50_ms),
                ratio(a.p99_ms, b.p99_ms),
                ratio(a.p999_ms, b.p999_ms)
            );
        }
    }
    if let Some(p) = &args.json {
        let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
        std::fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    if let Some(p) = &args.svg {
        std::fs::write(p, latency_svg(&results))
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(results)
}

/// p50/p95/p99 latency (log scale) against concurrent calls (log scale), calma solid, echo dashed.
pub fn latency_svg(results: &[PhaseResult]) -> String {
    let (w, h) = (720.0, 420.0);
    let (l, r, t, b) = (70.0, 170.0, 40.0, 50.0);
    let xs: Vec<f64> = results.iter().map(|x| x.calls as f64).collect();
    let ys: Vec<f64> = results
        .iter()
        .flat_map(|x| [x.p50_ms, x.p95_ms, x.p99_ms])
        .filter(|v| *v > 0.0)
        .collect();
    let (x0, x1) = (
        xs.iter().copied().fold(f64::MAX, f64::min).max(1.0),
        xs.iter().copied().fold(1.0, f64::max),
    );
    let y0 = 10f64.powf(
        ys.iter()
            .copied()
            .fold(f64::MAX, f64::min)
            .max(1e-3)
            .log10()
            .floor(),
    );
    let y1 = 10f64.powf(ys.iter().copied().fold(1e-3, f64::max).log10().ceil());
    let px = |x: f64| {
        if x1 > x0 {
            l + (x.ln() - x0.ln()) / (x1.ln() - x0.ln()) * (w - l - r)
        } else {
            l + (w - l - r) / 2.0
        }
    };
    let py = |y: f64| h - b - (y.max(y0).ln() - y0.ln()) / (y1.ln() - y0.ln()) * (h - t - b);
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="14">final segment → response latency (calma loadgen, real-time pace)</text>
"##,
        (w - r + l) / 2.0
    );
    // Axes and grid.
    let mut decade = y0;
    while decade <= y1 * 1.0001 {
        let y = py(decade);
        s += &format!(
            "<line x1=\"{l}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{} ms</text>\n",
            w - r,
            l - 6.0,
            y + 4.0,
            decade
        );
        decade *= 10.0;
    }
    let mut seen = Vec::new();
    for &x in &xs {
        if seen.contains(&(x as u64)) {
            continue;
        }
        seen.push(x as u64);
        let xp = px(x);
        s += &format!(
            "<line x1=\"{xp:.1}\" x2=\"{xp:.1}\" y1=\"{t}\" y2=\"{}\" stroke=\"#eee\"/><text x=\"{xp:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            h - b,
            h - b + 16.0,
            x as u64
        );
    }
    s += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">concurrent calls (log scale)</text>\n",
        (w - r + l) / 2.0,
        h - 12.0
    );
    s += &format!(
        "<line x1=\"{l}\" x2=\"{l}\" y1=\"{t}\" y2=\"{}\" stroke=\"black\"/><line x1=\"{l}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"black\"/>\n",
        h - b,
        w - r,
        h - b,
        h - b
    );
    type Series = (&'static str, fn(&PhaseResult) -> f64, &'static str);
    let series: [Series; 3] = [
        ("p50", |x| x.p50_ms, "#1b9e77"),
        ("p95", |x| x.p95_ms, "#7570b3"),
        ("p99", |x| x.p99_ms, "#d95f02"),
    ];
    let mut legend_y = t + 10.0;
    for target in ["calma", "echo"] {
        let pts: Vec<&PhaseResult> = results.iter().filter(|x| x.target == target).collect();
        if pts.is_empty() {
            continue;
        }
        for (name, f, color) in &series {
            let dash = if target == "echo" {
                " stroke-dasharray=\"5,4\""
            } else {
                ""
            };
            let path: Vec<String> = pts
                .iter()
                .map(|p| format!("{:.1},{:.1}", px(p.calls as f64), py(f(p))))
                .collect();
            s += &format!(
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"/>\n",
                path.join(" ")
            );
            for p in &pts {
                s += &format!(
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>\n",
                    px(p.calls as f64),
                    py(f(p))
                );
            }
            s += &format!(
                "<line x1=\"{}\" x2=\"{}\" y1=\"{legend_y:.1}\" y2=\"{legend_y:.1}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/><text x=\"{}\" y=\"{:.1}\">{target} {name}</text>\n",
                w - r + 12.0,
                w - r + 40.0,
                w - r + 46.0,
                legend_y + 4.0
            );
            legend_y += 18.0;
        }
    }
    s += "</svg>\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets() {
        assert_eq!(
            loopback_base("http://127.0.0.1:8080").unwrap(),
            "ws://127.0.0.1:8080"
        );
        assert_eq!(
            loopback_base("ws://localhost:1/").unwrap(),
            "ws://localhost:1"
        );
        assert_eq!(loopback_base("http://[::1]:9").unwrap(), "ws://[::1]:9");
        assert!(loopback_base("http://10.0.0.1:8080").is_err());
        assert!(loopback_base("https://calma.example").is_err());
    }

    #[test]
    fn templates_keep_the_call_id_slot_and_final_keys() {
        let calls: Vec<Vec<Value>> = embedded_live_calls().into_iter().map(|c| c.1).collect();
        let t = templates(&calls[..1], false);
        let m = t[0].msgs.iter().find(|m| m.final_end.is_some()).unwrap();
        let text = format!("{}x-1{}", m.before, m.after);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["call_id"], "x-1");
        assert_eq!(v["end_ms"].as_u64(), m.final_end);
    }

    #[test]
    fn own_agents_leave_only_the_start_naming_the_agent() {
        let calls: Vec<Vec<Value>> = embedded_live_calls().into_iter().map(|c| c.1).collect();
        let t = templates(&calls[..1], true);
        let starts: Vec<&Msg> = t[0].msgs.iter().filter(|m| m.names_agent).collect();
        assert_eq!(starts.len(), 1);
        assert!(starts[0].before.contains(AGENT_MARK) || starts[0].after.contains(AGENT_MARK));
        assert!(t[0]
            .msgs
            .iter()
            .filter(|m| !m.names_agent)
            .all(|m| { !m.before.contains(AGENT_MARK) && !m.after.contains(AGENT_MARK) }));
        assert!(templates(&calls[..1], false)[0]
            .msgs
            .iter()
            .all(|m| !m.names_agent));
    }
}
