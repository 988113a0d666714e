//! A platform-side WebSocket client: streams protocol messages from a JSONL file to a running
//! calma, paced on media time, and prints what comes back (`calma replay --live URL FILE`).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::traffic::media_ms;

/// How long to wait for the summaries of the streamed calls once everything was sent.
const SUMMARY_WAIT: Duration = Duration::from_secs(10);

/// Why a live replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        source: tokio_tungstenite::tungstenite::Error,
    },
    #[error("line {line}: {message}")]
    Input { line: usize, message: String },
    #[error("connection lost: {0}")]
    Connection(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// Turn a base URL (`http://127.0.0.1:8080`) or a full WebSocket URL into the stream URL.
pub fn stream_url(base: &str) -> String {
    let b = base.trim_end_matches('/');
    let b = if let Some(rest) = b.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = b.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        b.to_string()
    };
    if b.contains("/v1/") {
        b
    } else {
        format!("{b}/v1/stream")
    }
}

/// Stream `text` (JSONL protocol messages) to `url`, `speed` times faster than real time
/// (0 = as fast as possible). Each call is paced from the moment its `call.start` is sent, so
/// interleaved calls keep their own clocks. Every message received is written to `out` as a line.
pub async fn replay_live(
    url: &str,
    text: &str,
    speed: f64,
    out: &mut (impl Write + Send),
) -> Result<(), ClientError> {
    let url = stream_url(url);
    let (ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .map_err(|source| ClientError::Connect {
            url: url.clone(),
            source,
        })?;
    let (mut tx, mut rx) = ws.split();

    let mut messages = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let v: Value = serde_json::from_str(l).map_err(|e| ClientError::Input {
            line: i + 1,
            message: e.to_string(),
        })?;
        messages.push((l.to_string(), v));
    }

    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let reader = tokio::spawn(async move {
        while let Some(msg) = rx.next().await {
            match msg {
                Ok(Message::Text(t)) => {
                    if lines_tx.send(t.to_string()).is_err() {
                        break;
                    }
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    });

    let mut anchors: HashMap<String, Instant> = HashMap::new();
    let mut started: HashSet<String> = HashSet::new();
    let mut summaries: HashSet<String> = HashSet::new();
    let drain = |out: &mut (dyn Write + Send),
                 rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
                 summaries: &mut HashSet<String>|
     -> Result<(), std::io::Error> {
        while let Ok(line) = rx.try_recv() {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["type"] == "call.summary" {
                    summaries.insert(v["call_id"].as_str().unwrap_or("").to_string());
                }
            }
            writeln!(out, "{line}")?;
        }
        Ok(())
    };
    for (raw, v) in &messages {
        let call = v["call_id"].as_str().unwrap_or("").to_string();
        if v["type"] == "call.start" {
            anchors.insert(call.clone(), Instant::now());
            started.insert(call.clone());
        }
        if speed > 0.0 {
            if let Some(anchor) = anchors.get(&call) {
                let due = *anchor + Duration::from_secs_f64(media_ms(v) as f64 / 1000.0 / speed);
                sleep_until(due).await;
            }
        }
        tx.send(Message::text(raw.clone())).await?;
        drain(out, &mut lines_rx, &mut summaries)?;
    }
    let deadline = Instant::now() + SUMMARY_WAIT;
    while !started.is_subset(&summaries) {
        let Ok(Some(line)) = tokio::time::timeout_at(deadline, lines_rx.recv()).await else {
            break;
        };
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            if v["type"] == "call.summary" {
                summaries.insert(v["call_id"].as_str().unwrap_or("").to_string());
            }
        }
        writeln!(out, "{line}")?;
    }
    let _ = tx.send(Message::Close(None)).await;
    reader.abort();
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            stream_url("http://127.0.0.1:8080"),
            "ws://127.0.0.1:8080/v1/stream"
        );
        assert_eq!(stream_url("ws://h:1/v1/stream"), "ws://h:1/v1/stream");
        assert_eq!(
            stream_url("https://calma.example/"),
            "wss://calma.example/v1/stream"
        );
    }
}
