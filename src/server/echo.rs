//! `GET /v1/echo`: a WebSocket that sends every text frame back, through the same stack as
//! `/v1/stream` (axum upgrade, frame limits, split socket, bounded writer queue, shutdown) but
//! without the engine. It is the baseline `calma loadgen --echo` measures calma against: the
//! difference is what parsing, analysis and routing add. Holds no call state.

use super::WS_READ_BUFFER;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::auth::{authorize, Scope};
use super::ws::{writer, Out, CLOSE_GOING_AWAY};
use super::AppState;

pub async fn echo(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if app.shutdown.is_cancelled() {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    // The baseline takes the same platform key as `/v1/stream`.
    if authorize(&app.opts.auth, &headers, &[], Scope::Stream).is_err() {
        return axum::http::StatusCode::UNAUTHORIZED.into_response();
    }
    let tracker = app.streams.clone();
    ws.read_buffer_size(WS_READ_BUFFER)
        .max_message_size(app.opts.hard_message_limit)
        .max_frame_size(app.opts.hard_message_limit)
        .on_upgrade(move |socket| tracker.track_future(serve(socket, app)))
}

async fn serve(socket: WebSocket, app: Arc<AppState>) {
    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel(app.opts.platform_queue);
    let writer = app.streams.spawn(writer(sink, rx, app.opts.send_timeout));
    loop {
        tokio::select! {
            biased;
            _ = app.shutdown.cancelled() => {
                let _ = tx.send(Out::Close(CLOSE_GOING_AWAY, "server shutting down")).await;
                break;
            }
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(t))) => {
                    if tx.send(Out::Text(t.as_str().to_string())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            }
        }
    }
    drop(tx);
    let _ = tokio::time::timeout(app.opts.send_timeout, writer).await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::{SinkExt, StreamExt};
    use tokio::time::timeout;
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    use crate::engine::Resources;
    use crate::server::{start, Options};

    #[tokio::test]
    async fn echoes_text_frames_in_order() {
        let t = Duration::from_secs(10);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = start(Resources::embedded(), Options::default(), listener)
            .await
            .unwrap();
        let url = format!("ws://{}/v1/echo", server.local_addr());
        let (mut ws, _) = timeout(t, tokio_tungstenite::connect_async(url))
            .await
            .unwrap()
            .unwrap();
        for i in 0..3 {
            let text = format!("{{\"type\":\"tick\",\"n\":{i}}}");
            timeout(t, ws.send(WsMessage::text(text.clone())))
                .await
                .unwrap()
                .unwrap();
            let back = timeout(t, ws.next()).await.unwrap().unwrap().unwrap();
            assert_eq!(back, WsMessage::text(text));
        }
        drop(ws);
        assert!(server.shutdown().await.clean);
    }
}
