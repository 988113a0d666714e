//! The log filter of `calma serve`. calma's own log lines never carry transcript text (ids,
//! codes and counts only; `--log-transcripts` adds a debug line per segment). Dependencies are
//! another matter: tungstenite logs whole frames — transcripts, tokens in URLs — at `trace`, so
//! their level is capped at `info` whatever `RUST_LOG` asks, unless `--log-transcripts` is set.

use tracing_subscriber::EnvFilter;

/// Crates that log payloads at debug/trace level.
const PAYLOAD_LOGGERS: &[&str] = &["tungstenite", "tokio_tungstenite", "hyper", "h2", "axum"];

/// The filter for `spec` (a `RUST_LOG` value; default `info`).
pub fn filter(spec: Option<&str>, log_transcripts: bool) -> EnvFilter {
    let mut f = spec
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    if !log_transcripts {
        for krate in PAYLOAD_LOGGERS {
            if let Ok(d) = format!("{krate}=info").parse() {
                f = f.add_directive(d);
            }
        }
    }
    f
}
