//! `GET /v1/agents/{agent_id}/nudges`: the feed of one agent's softphone panel.
//!
//! Receives `nudge`, `nudge.clear`, `state` and `call.summary` of the calls whose `agent_id`
//! matches (in the panel's tenant), through a bounded [`AgentQueue`] (slow panels lose `state`
//! messages first and are disconnected if they stay stuck). Accepts `feedback`, routed to the
//! connection owning the call, and `resume` (replay of missed outputs, see `resume.rs`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::time::{interval_at, timeout, Duration, Instant, MissedTickBehavior};

use super::hub::agents::{AgentMsg, AgentQueue, Class};
use super::ws::{CLOSE_GOING_AWAY, CLOSE_POLICY};
use super::AppState;
use crate::protocol::{parse_inbound, ErrorCode, Inbound, ProtocolError};

/// How long the panel waits for the call's connection to apply a feedback.
const FEEDBACK_REPLY: Duration = Duration::from_secs(2);

/// Who is on the other end of an agent socket (authenticated by the upgrade handler).
#[derive(Debug)]
pub struct Panel {
    pub tenant: Arc<str>,
    pub agent_id: String,
    /// `?resume=<call_id>:<last_seq>` requests, replayed before anything live.
    pub resume: Vec<(String, u64)>,
}

/// Serve one agent panel socket until it closes, gets stuck, or the server shuts down.
pub async fn serve(socket: WebSocket, app: Arc<AppState>, panel: Panel) {
    let Panel {
        tenant,
        agent_id,
        resume,
    } = panel;
    let queue = Arc::new(AgentQueue::new(app.opts.agent_queue));
    let joined = app
        .hub
        .resume
        .join_agent(&app.hub.agents, &tenant, &agent_id, &queue, &resume);
    if !resume.is_empty() {
        app.metrics.resumed("agent");
    }
    let reg = joined.reg;
    let horizon = joined.horizon;
    app.agent_sockets.fetch_add(1, Ordering::Relaxed);
    tracing::info!(tenant = %tenant, agent = %agent_id, resumes = resume.len(), "agent socket opened");
    let (mut sink, mut stream) = socket.split();
    let mut pings = interval_at(
        Instant::now() + app.opts.ping_interval,
        app.opts.ping_interval,
    );
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_seen = Instant::now();
    let send_timeout = app.opts.send_timeout;

    let close: Option<(u16, &'static str)> = loop {
        tokio::select! {
            biased;
            _ = app.agents_close.cancelled() => {
                // Flush what is queued (the summaries of calls ended by the shutdown) first.
                while let Some(m) = queue.try_pop() {
                    if !send(&mut sink, Message::Text(m.json.to_string().into()), send_timeout).await {
                        break;
                    }
                }
                break Some((CLOSE_GOING_AWAY, "server shutting down"));
            }
            _ = queue.stuck().cancelled() => {
                tracing::warn!(agent = %agent_id, "agent socket cannot keep up; disconnecting");
                break Some((CLOSE_POLICY, "too slow"));
            }
            m = queue.pop() => {
                if !send(&mut sink, Message::Text(m.json.to_string().into()), send_timeout).await {
                    break None;
                }
            }
            frame = stream.next() => {
                let frame = match frame {
                    Some(Ok(f)) => f,
                    Some(Err(_)) | None => break None,
                };
                last_seen = Instant::now();
                match frame {
                    Message::Text(t) => {
                        let who = Who { tenant: &tenant, agent_id: &agent_id, horizon: &horizon };
                        on_text(&app, &who, &queue, t.as_str()).await
                    }
                    Message::Binary(_) => error(&app, &queue, ProtocolError::new(
                        ErrorCode::BinaryFrame,
                        "binary frames are not part of protocol v1",
                    )),
                    Message::Close(_) => break None,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            _ = pings.tick() => {
                if last_seen.elapsed() > app.opts.pong_timeout {
                    break Some((CLOSE_POLICY, "no pong"));
                }
                if !send(&mut sink, Message::Ping(Default::default()), send_timeout).await {
                    break None;
                }
            }
        }
    };
    app.hub.agents.remove(&tenant, &agent_id, reg);
    if let Some((code, reason)) = close {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        send(&mut sink, frame, send_timeout).await;
    }
    let _ = timeout(send_timeout, sink.close()).await;
    app.agent_sockets.fetch_sub(1, Ordering::Relaxed);
    tracing::info!(agent = %agent_id, "agent socket closed");
}

async fn send(sink: &mut SplitSink<WebSocket, Message>, msg: Message, limit: Duration) -> bool {
    matches!(timeout(limit, sink.send(msg)).await, Ok(Ok(())))
}

fn error(app: &AppState, queue: &AgentQueue, e: ProtocolError) {
    app.metrics.error(e.code);
    queue.push(AgentMsg {
        class: Class::Keep,
        json: Arc::from(e.to_json()),
    });
}

/// The panel's identity and the seq each of its calls had reached when it joined.
struct Who<'a> {
    tenant: &'a str,
    agent_id: &'a str,
    horizon: &'a HashMap<String, u64>,
}

async fn on_text(app: &AppState, who: &Who<'_>, queue: &AgentQueue, text: &str) {
    if text.len() > app.opts.soft_message_limit {
        return error(
            app,
            queue,
            ProtocolError::new(
                ErrorCode::MessageTooLarge,
                format!("the limit is {} bytes", app.opts.soft_message_limit),
            ),
        );
    }
    let fb = match parse_inbound(text, &app.opts.parse_limits) {
        Ok(Inbound::Feedback(f)) => f,
        Ok(Inbound::Resume(r)) => {
            let replay = app.hub.resume.agent_resume(
                who.tenant,
                who.agent_id,
                &r.call_id,
                r.after_seq,
                who.horizon,
            );
            match &replay {
                Ok(_) => app.metrics.resumed("agent"),
                Err(e) => app.metrics.error(e.code),
            }
            return super::hub::resume::queue_replay(queue, replay);
        }
        Ok(other) => {
            return error(
                app,
                queue,
                ProtocolError::new(
                    ErrorCode::NotAllowedHere,
                    "the agent socket accepts only `feedback` and `resume`",
                )
                .for_call(other.call_id()),
            )
        }
        Err(e) => return error(app, queue, e),
    };
    let call_id = fb.call_id.clone();
    let reply = match app.hub.route_feedback(who.tenant, who.agent_id, fb.clone()) {
        Ok(rx) => rx,
        Err(e) => {
            // Cluster mode: the call may run on another node, which applies it.
            if let (ErrorCode::UnknownCall, Some(cluster)) = (e.code, app.hub.cluster()) {
                if let Err(e) = cluster.feedback(who.tenant, who.agent_id, fb).await {
                    error(app, queue, e);
                }
                return;
            }
            return error(app, queue, e);
        }
    };
    match timeout(FEEDBACK_REPLY, reply).await {
        Ok(Ok(Ok(()))) => {}
        // The connection counted the error already.
        Ok(Ok(Err(e))) => queue_only(queue, e),
        Ok(Err(_)) | Err(_) => error(
            app,
            queue,
            ProtocolError::new(
                ErrorCode::UnknownCall,
                "the call ended before the feedback arrived",
            )
            .for_call(call_id),
        ),
    }
}

fn queue_only(queue: &AgentQueue, e: ProtocolError) {
    queue.push(AgentMsg {
        class: Class::Keep,
        json: Arc::from(e.to_json()),
    });
}
