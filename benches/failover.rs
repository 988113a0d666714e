//! The cost of a node failure in a cluster: one `nats-server` (JetStream) and three calma nodes
//! (the real binary), N live calls streamed half-way to node 1, node 1 killed (SIGKILL), then
//! every call resumed on node 3 with `call.resume`. Reports how long re-homing took (per call,
//! round trip from `call.resume` to `call.resumed`, and node 3's own measure) and how many
//! logged events it replayed.
//!
//! Not run by `cargo bench` (bench = false); needs `nats-server` on the PATH:
//!
//! ```sh
//! cargo bench --bench failover -- --calls 200
//! ```

#[path = "../tests/common/procs.rs"]
mod procs;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nats_server(dir: &std::path::Path) -> (Proc, String) {
    let port = free_port();
    let mut child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nats-server is not installed: apt-get install nats-server");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    procs::wait_for_line(
        &mut err,
        "Server is ready",
        "nats-server exited before it was ready",
    );
    procs::drain(err);
    (Proc(child), format!("nats://127.0.0.1:{port}"))
}

/// A node; its log lines saying "call re-homed" are collected into `rehomed`.
fn node(nats: &str, db: &std::path::Path, rehomed: Arc<Mutex<Vec<String>>>) -> (Proc, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_calma"))
        .args(["serve", "--addr", "127.0.0.1:0", "--max-segment-rate", "0"])
        .args(["--max-calls", "100000", "--max-process-calls", "100000"])
        .args([
            "--max-calls-per-tenant",
            "100000",
            "--resume-grace-secs",
            "120",
        ])
        .arg("--db")
        .arg(db)
        .args(["--cluster", nats])
        .env_remove("CALMA_API_KEYS")
        .env_remove("CALMA_TOKEN_SECRET")
        .env("RUST_LOG", "warn,calma::server::peers=info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn calma");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let line = procs::wait_for_line(
        &mut out,
        "calma listening on http://",
        "calma exited before listening",
    );
    let addr = procs::listening_addr(&line);
    std::thread::spawn(move || {
        for l in out.lines().map_while(Result::ok) {
            if l.contains("call re-homed") {
                rehomed.lock().unwrap().push(l);
            }
        }
    });
    (Proc(child), addr)
}

async fn connect(addr: SocketAddr) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/stream"))
        .await
        .expect("connect");
    ws
}

/// `key=value` from a tracing line.
fn field(line: &str, key: &str) -> Option<f64> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    line[at..].split_whitespace().next()?.parse().ok()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let calls: usize = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("calma-failover-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (_nats, url) = nats_server(&dir.join("nats"));
    let rehomed = Arc::new(Mutex::new(Vec::new()));
    let (mut node1, addr1) = node(&url, &dir.join("n1.sqlite3"), rehomed.clone());
    let (_node2, _) = node(&url, &dir.join("n2.sqlite3"), rehomed.clone());
    let (_node3, addr3) = node(&url, &dir.join("n3.sqlite3"), rehomed.clone());

    // N calls, each streamed live to half of its messages, on 10 connections to node 1.
    let live = calma::traffic::embedded_live_calls();
    let mut ids = Vec::new();
    let mut sent_events = 0usize;
    let mut conns = Vec::new();
    for _ in 0..10 {
        conns.push(connect(addr1).await);
    }
    for i in 0..calls {
        let (_, msgs) = &live[i % live.len()];
        let id = format!("f-{i}");
        let half = msgs.len() / 2;
        let ws = &mut conns[i % 10];
        for m in &msgs[..half] {
            let mut m = m.clone();
            m["call_id"] = Value::from(id.as_str());
            ws.send(Message::text(m.to_string())).await.unwrap();
        }
        sent_events += half;
        ids.push(id);
    }
    // Let node 1 work through them (its outputs flow to the other nodes meanwhile).
    tokio::time::sleep(Duration::from_secs(2)).await;
    node1.0.kill().unwrap();
    node1.0.wait().unwrap();
    drop(conns);

    let mut ws = connect(addr3).await;
    let all = Instant::now();
    let mut round_trips = Vec::new();
    for id in &ids {
        let t0 = Instant::now();
        let resume = serde_json::json!({"type":"call.resume","call_id":id,"after_seq":0});
        ws.send(Message::text(resume.to_string())).await.unwrap();
        loop {
            let m = timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("call.resumed in time")
                .expect("open")
                .expect("frame");
            let Ok(v) = serde_json::from_str::<Value>(m.to_text().unwrap_or("")) else {
                continue;
            };
            if v["type"] == "error" {
                panic!("{v}");
            }
            if v["type"] == "call.resumed" && v["call_id"] == id.as_str() {
                break;
            }
        }
        round_trips.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    let total = all.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = rehomed.lock().unwrap().clone();
    let mut server_ms: Vec<f64> = lines.iter().filter_map(|l| field(l, "ms")).collect();
    let events: Vec<f64> = lines.iter().filter_map(|l| field(l, "events")).collect();
    round_trips.sort_by(f64::total_cmp);
    server_ms.sort_by(f64::total_cmp);
    let ev_total: f64 = events.iter().sum();
    println!(
        "calls re-homed: {} of {calls} (inputs streamed before the kill: {sent_events})",
        lines.len()
    );
    println!(
        "events replayed: {ev_total} in all, {:.1} per call (max {})",
        ev_total / events.len().max(1) as f64,
        events.iter().cloned().fold(0.0, f64::max)
    );
    println!(
        "call.resume → call.resumed: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; all {calls} calls one after another: {total:.2} s",
        pct(&round_trips, 0.5),
        pct(&round_trips, 0.99),
        round_trips.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "node 3's re-home (release request + log read + replay): p50 {:.2} ms, p99 {:.2} ms",
        pct(&server_ms, 0.5),
        pct(&server_ms, 0.99)
    );
}
