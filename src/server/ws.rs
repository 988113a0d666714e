//! WebSocket plumbing shared by the platform and agent sockets: the writer task behind a bounded
//! queue, with a time limit per send.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::sync::mpsc;

/// Close code sent when the server goes away (shutdown).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code for a peer that broke the rules (unanswered pings, stuck consumer).
pub const CLOSE_POLICY: u16 = 1008;
/// Close code for a frame or message over the hard size limit.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// What the writer task sends.
#[derive(Debug)]
pub enum Out {
    Text(String),
    Ping,
    Close(u16, &'static str),
}

impl Out {
    fn into_message(self) -> (Message, bool) {
        match self {
            Out::Text(s) => (Message::Text(s.into()), false),
            Out::Ping => (Message::Ping(Default::default()), false),
            Out::Close(code, reason) => (
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })),
                true,
            ),
        }
    }
}

/// Most queued messages written with one flush (one `send` syscall for a burst).
const WRITE_BATCH: usize = 64;

/// Drain `rx` into the socket until the queue closes, a Close frame is sent, or one write takes
/// longer than `send_timeout` (a stalled peer: give up on it rather than block anyone).
///
/// Messages already queued are framed together and flushed once: a connection carrying many
/// calls (or one final giving `state` and a `nudge`) costs one syscall per burst, not one per
/// message, on both ends.
pub async fn writer(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Out>,
    send_timeout: Duration,
) {
    'outer: while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut last = false;
        let mut batched = 0;
        let write = async {
            while let Some(out) = next.take() {
                let (msg, closes) = out.into_message();
                sink.feed(msg).await?;
                batched += 1;
                if closes {
                    last = true;
                    break;
                }
                if batched < WRITE_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            sink.flush().await
        };
        match tokio::time::timeout(send_timeout, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "websocket send failed");
                return;
            }
            Err(_) => {
                tracing::warn!("websocket peer stalled; dropping the connection");
                return;
            }
        }
        if last {
            break 'outer;
        }
    }
    let _ = tokio::time::timeout(send_timeout, sink.close()).await;
}
