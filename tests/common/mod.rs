//! Helpers for the server integration tests: an in-process server on an ephemeral port, a
//! WebSocket client with timeouts, and a tiny HTTP/1.1 client (no extra dependency).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use calma::engine::Resources;
use calma::server::{start, Options, ServerHandle};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Every await in the tests is bounded by this.
pub const T: Duration = Duration::from_secs(10);

pub async fn server() -> ServerHandle {
    server_with(Options::default()).await
}

pub async fn server_with(opts: Options) -> ServerHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    timeout(T, start(Resources::embedded(), opts, listener))
        .await
        .expect("start in time")
        .expect("start")
}

pub async fn connect(addr: SocketAddr, path: &str) -> Ws {
    let url = format!("ws://{addr}{path}");
    let (ws, _) = timeout(T, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect in time")
        .expect("connect");
    ws
}

pub async fn send(ws: &mut Ws, text: &str) {
    timeout(T, ws.send(Message::text(text)))
        .await
        .expect("send in time")
        .expect("send");
}

pub async fn send_all(ws: &mut Ws, lines: &[String]) {
    for l in lines {
        send(ws, l).await;
    }
}

/// Next text frame (pings and pongs skipped). Panics on close or timeout.
pub async fn next_text(ws: &mut Ws) -> String {
    loop {
        let m = timeout(T, ws.next())
            .await
            .expect("a message in time")
            .expect("socket open")
            .expect("no socket error");
        match m {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

pub async fn next_json(ws: &mut Ws) -> Value {
    let t = next_text(ws).await;
    serde_json::from_str(&t).expect("server sends JSON")
}

/// Text frames up to and including the `call.summary` of `call_id`.
pub async fn until_summary(ws: &mut Ws, call_id: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let t = next_text(ws).await;
        let v: Value = serde_json::from_str(&t).unwrap();
        let done = v["type"] == "call.summary" && v["call_id"] == call_id;
        out.push(t);
        if done {
            return out;
        }
    }
}

pub fn parse(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One HTTP/1.1 exchange with `Connection: close`; returns (status, body).
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.expect("tcp connect");
        let body = body.unwrap_or("");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.expect("write request");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.expect("read response");
        let text = String::from_utf8(buf).expect("utf-8 response");
        let (head, body) = text.split_once("\r\n\r\n").expect("http response");
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_string()
        };
        (status, body)
    };
    timeout(T, fut).await.expect("http exchange in time")
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let Some((size, rest)) = s.split_once("\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
}

/// Value of the sample `name{labels...}` in Prometheus text (labels in any order).
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if n != name {
            return None;
        }
        let have: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split(',').collect()
        };
        let all = labels
            .iter()
            .all(|(k, v)| have.contains(&format!("{k}=\"{v}\"").as_str()));
        (all && have.len() == labels.len()).then(|| value.parse().ok())?
    })
}

/// Poll `/healthz` until `field` reaches `want` (registrations happen just after the upgrade).
pub async fn wait_health(addr: SocketAddr, field: &str, want: i64) {
    let fut = async {
        loop {
            let (_, body) = http(addr, "GET", "/healthz", None).await;
            let v: Value = serde_json::from_str(&body).unwrap();
            if v[field].as_i64() == Some(want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    timeout(T, fut).await.expect("health condition in time");
}
