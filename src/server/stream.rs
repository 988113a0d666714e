//! `GET /v1/stream`: one platform connection = one [`Session`], driven from one task.
//!
//! The task reads frames, runs the engine synchronously (microseconds per segment), and queues
//! every output for the writer task, the agent panels and the supervisor broadcast. A wall-clock
//! interval advances idle calls' media time so silence-driven rules work without platform ticks,
//! and ends calls that stayed idle too long.
//!
//! The connection belongs to one tenant (its API key's); its calls are that tenant's. When the
//! socket is lost without a Close frame, its calls are parked for `call.resume` (`resume.rs`);
//! a clean Close ends them at once, as before.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant as StdInstant;

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::{interval, interval_at, Instant, MissedTickBehavior};

use super::hub::agents::{AgentMsg, Class};
use super::hub::quotas::CallSlot;
use super::hub::resume::ParkedCall;
use super::hub::ConnCmd;
use super::limits::RateLimiter;
use super::reaper::end_unattached;
use super::vendor::VendorFeed;
use super::ws::{writer, Out, CLOSE_GOING_AWAY, CLOSE_POLICY, CLOSE_TOO_BIG};
use super::AppState;
use crate::cluster::wire::CallEvent;
use crate::engine::{Event, Session};
use crate::protocol::{
    parse_inbound, validate, ErrorCode, Feedback, Inbound, Outbound, ProtocolError, Resume,
};

/// Commands from other tasks (agent feedback) waiting for this connection.
const CMD_QUEUE: usize = 64;
/// How long `call.resume` waits for another connection to hand over a call it still carries.
const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What the connection remembers per open call, beside the engine's `Call`.
struct CallMeta {
    agent_id: Arc<str>,
    /// Media time reached at the last platform event (segment or tick).
    media_at_event: u64,
    /// When that event arrived.
    event_at: Instant,
    /// Segment rate limit of the call.
    limiter: RateLimiter,
    /// The call's place in its tenant's quota, given back when the call ends here.
    slot: CallSlot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndReason {
    /// A Close frame: the platform is done; its calls end now.
    PeerClosed,
    /// The stream ended without a Close frame.
    PeerGone,
    /// Reading failed otherwise (reset, EOF without a Close frame): the connection was lost.
    PeerError,
    /// The peer sent a frame over the hard size limit: not a lost connection, so its calls end
    /// as on a Close.
    PeerViolation,
    PeerSilent,
    WriterGone,
    Shutdown,
}

impl EndReason {
    /// The connection was lost rather than closed: its calls wait for a resume.
    fn lost(self) -> bool {
        !matches!(
            self,
            EndReason::PeerClosed | EndReason::PeerViolation | EndReason::Shutdown
        )
    }
}

struct Conn {
    app: Arc<AppState>,
    id: u64,
    tenant: Arc<str>,
    session: Session,
    /// Resource generation the session was last given (see `AppState::reload`).
    res_generation: u64,
    calls: HashMap<String, CallMeta>,
    out: mpsc::Sender<Out>,
    cmd_tx: mpsc::Sender<ConnCmd>,
    writer_alive: bool,
    /// `/v1/stream/{format}`: frames are vendor messages, translated before the usual handling.
    vendor: Option<VendorFeed>,
}

/// Serve one upgraded platform socket until it closes or the server shuts down.
pub async fn serve(socket: WebSocket, app: Arc<AppState>, tenant: Arc<str>) {
    serve_vendor(socket, app, tenant, None).await
}

/// [`serve`], with frames in a vendor's format when `vendor` is given.
pub(super) async fn serve_vendor(
    socket: WebSocket,
    app: Arc<AppState>,
    tenant: Arc<str>,
    vendor: Option<VendorFeed>,
) {
    let id = app.next_conn.fetch_add(1, Ordering::Relaxed);
    app.connections.fetch_add(1, Ordering::Relaxed);
    tracing::info!(conn = id, tenant = %tenant, "stream connection opened");
    let (sink, mut stream) = socket.split();
    let (out_tx, out_rx) = mpsc::channel(app.opts.platform_queue);
    let writer = app
        .streams
        .spawn(writer(sink, out_rx, app.opts.send_timeout));
    let (cmd_tx, mut cmd_rx) = mpsc::channel(CMD_QUEUE);
    let mut conn = Conn {
        session: Session::new(app.resources(), app.opts.max_calls_per_connection),
        res_generation: app.res_generation.load(Ordering::Relaxed),
        app: app.clone(),
        id,
        tenant,
        calls: HashMap::new(),
        out: out_tx,
        cmd_tx,
        writer_alive: true,
        vendor,
    };

    let mut ticks = interval(app.opts.tick_interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut pings = interval_at(
        Instant::now() + app.opts.ping_interval,
        app.opts.ping_interval,
    );
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_seen = Instant::now();

    let reason = loop {
        tokio::select! {
            biased;
            _ = app.shutdown.cancelled() => break EndReason::Shutdown,
            frame = stream.next() => {
                let Some(frame) = frame else { break EndReason::PeerGone };
                let frame = match frame {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::info!(conn = id, error = %e, "stream read error");
                        break if is_over_the_size_limit(&e) {
                            EndReason::PeerViolation
                        } else {
                            EndReason::PeerError
                        };
                    }
                };
                last_seen = Instant::now();
                match frame {
                    Message::Text(t) => conn.on_text(t.as_str()).await,
                    Message::Binary(_) => {
                        conn.send_error(ProtocolError::new(
                            ErrorCode::BinaryFrame,
                            "binary frames are not part of protocol v1: send JSON text frames",
                        ))
                        .await
                    }
                    Message::Close(_) => break EndReason::PeerClosed,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            Some(cmd) = cmd_rx.recv() => conn.on_cmd(cmd).await,
            _ = ticks.tick() => conn.on_wall_clock().await,
            _ = pings.tick() => {
                if last_seen.elapsed() > app.opts.pong_timeout {
                    break EndReason::PeerSilent;
                }
                conn.send(Out::Ping).await;
            }
        }
        if !conn.writer_alive {
            break EndReason::WriterGone;
        }
    };

    if reason.lost() && !app.opts.resume_grace.is_zero() && !app.shutdown.is_cancelled() {
        // Lost, not closed: keep the calls for a `call.resume` from another connection.
        conn.park_all();
    } else {
        // End every call still open: agents and supervisors get the summaries whatever happened
        // to the platform socket, and the platform gets them too if it is still there.
        let n = conn.session.len();
        for call_id in conn.calls.keys() {
            app.hub.log_event(&conn.tenant, call_id, || CallEvent::End);
        }
        let outs = conn.session.end_all();
        conn.route(outs).await;
        let why = match reason {
            EndReason::Shutdown => "shutdown",
            EndReason::PeerViolation => "protocol_violation",
            _ => "disconnect",
        };
        for _ in 0..n {
            app.metrics.call_ended(why);
        }
    }
    match reason {
        EndReason::Shutdown => {
            conn.send(Out::Close(CLOSE_GOING_AWAY, "server shutting down"))
                .await
        }
        EndReason::PeerSilent => conn.send(Out::Close(CLOSE_POLICY, "no pong")).await,
        EndReason::PeerViolation => {
            conn.send(Out::Close(CLOSE_TOO_BIG, "message too big"))
                .await
        }
        _ => {}
    }
    drop(conn.out);
    let _ = tokio::time::timeout(app.opts.send_timeout, writer).await;
    app.connections.fetch_sub(1, Ordering::Relaxed);
    tracing::info!(conn = id, ?reason, "stream connection closed");
}

/// Whether a read error is the peer sending a frame or message over the hard size limit (a
/// protocol violation) rather than the connection being lost (reset, EOF without a Close
/// frame, broken framing on a dying socket), which parks the calls for a resume.
fn is_over_the_size_limit(e: &axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(ws) = c.downcast_ref::<WsError>() {
            return matches!(ws, WsError::Capacity(_));
        }
        cause = c.source();
    }
    false
}

impl Conn {
    async fn send(&mut self, out: Out) {
        if self.writer_alive && self.out.send(out).await.is_err() {
            self.writer_alive = false;
        }
    }

    async fn send_error(&mut self, e: ProtocolError) {
        self.app.metrics.error(e.code);
        tracing::debug!(conn = self.id, code = e.code.as_str(), call = ?e.call_id, "protocol error");
        self.send(Out::Text(e.to_json())).await;
    }

    async fn on_text(&mut self, text: &str) {
        let generation = self.app.res_generation.load(Ordering::Relaxed);
        if generation != self.res_generation {
            // A reload happened: calls started from now on use the new lexicons and settings.
            self.session.set_resources(self.app.resources());
            self.res_generation = generation;
        }
        if text.len() > self.app.opts.soft_message_limit {
            let e = ProtocolError::new(
                ErrorCode::MessageTooLarge,
                format!(
                    "message of {} bytes; the limit is {} bytes",
                    text.len(),
                    self.app.opts.soft_message_limit
                ),
            );
            return self.send_error(e).await;
        }
        if self.vendor.is_some() {
            return self.on_vendor_text(text).await;
        }
        match parse_inbound(text, &self.app.opts.parse_limits) {
            Ok(msg) => self.on_message(msg).await,
            Err(e) => self.send_error(e).await,
        }
    }

    /// A vendor frame: its protocol v1 messages, each handled as if the platform had sent it.
    async fn on_vendor_text(&mut self, text: &str) {
        let Some(vendor) = self.vendor.as_mut() else {
            return;
        };
        let msgs = match vendor.translate(text.as_bytes()) {
            Ok(m) => m,
            Err(e) => {
                self.app.metrics.error(e.code());
                tracing::debug!(conn = self.id, code = e.code().as_str(), field = %e.field, "vendor frame refused");
                return self.send(Out::Text(e.to_json())).await;
            }
        };
        for msg in msgs {
            if let Err(e) = validate(&msg, &self.app.opts.parse_limits) {
                let e = e.for_call(msg.call_id());
                // A refused start leaves nothing behind: the next message tries it afresh.
                if let (Inbound::CallStart(s), Some(v)) = (&msg, self.vendor.as_mut()) {
                    v.forget(&s.call_id);
                }
                self.send_error(e).await;
                continue;
            }
            let started = match &msg {
                Inbound::CallStart(s) => Some(s.call_id.clone()),
                _ => None,
            };
            self.on_message(msg).await;
            // A refused start (limits): the vendor's next message tries again.
            if let Some(id) = started.filter(|id| self.session.call(id).is_none()) {
                if let Some(v) = self.vendor.as_mut() {
                    v.forget(&id);
                }
            }
        }
    }

    async fn on_message(&mut self, msg: Inbound) {
        let result = match msg {
            Inbound::CallStart(start) => {
                // A parked call with this id is superseded: the platform started it afresh
                // instead of resuming it. End the old one (summary to agents) first.
                if self.session.call(&start.call_id).is_none() {
                    if let Some(p) = self.app.hub.resume.unpark(&self.tenant, &start.call_id) {
                        end_unattached(&self.app, &self.tenant, p, "replaced");
                    }
                }
                if self.session.call(&start.call_id).is_none()
                    && self
                        .app
                        .hub
                        .call_is_live_elsewhere(&self.tenant, &start.call_id, self.id)
                {
                    let e = ProtocolError::new(
                        ErrorCode::DuplicateCall,
                        format!(
                            "call `{}` is live on another connection of this tenant: send call.resume to move it here, or use another id",
                            start.call_id
                        ),
                    )
                    .for_call(&start.call_id);
                    return self.send_error(e).await;
                }
                let slot = match self.app.hub.quotas.reserve_call(&self.tenant) {
                    Ok(s) => s,
                    Err(e) => return self.send_error(e.for_call(&start.call_id)).await,
                };
                let mut start = start;
                let ctx = super::history::at_call_start(&self.app, &self.tenant, &mut start).await;
                let r = self.session.handle(Inbound::CallStart(start.clone()));
                if r.is_ok() {
                    self.app.hub.log_event(&self.tenant, &start.call_id, || {
                        CallEvent::Start(start.clone())
                    });
                    self.call_started(&start.call_id, &start.agent_id, slot);
                    self.app
                        .hub
                        .board
                        .set_history_meta(&self.tenant, &start.call_id, ctx.meta);
                    if let Some(json) = ctx.message {
                        let json: Arc<str> = Arc::from(json);
                        self.app.hub.agents.publish(
                            &self.tenant,
                            &start.agent_id,
                            AgentMsg {
                                class: Class::Keep,
                                json: json.clone(),
                            },
                        );
                        self.app
                            .hub
                            .board
                            .context(&self.tenant, &start.call_id, json);
                    }
                }
                r
            }
            Inbound::Segment(seg) => {
                let call_id = seg.call_id.clone();
                if let Some(meta) = self.calls.get_mut(&call_id) {
                    if !meta.limiter.allow(Instant::now()) {
                        let e = ProtocolError::new(
                            ErrorCode::RateLimited,
                            format!(
                                "more than {} segments/s on this call: segment {} dropped",
                                self.app.opts.max_segments_per_sec, seg.segment_id
                            ),
                        )
                        .for_call(&call_id);
                        return self.send_error(e).await;
                    }
                }
                if self.app.opts.log_transcripts {
                    tracing::debug!(conn = self.id, call = %call_id, segment = %seg.segment_id,
                        speaker = seg.speaker.as_str(), text = %seg.text, "segment");
                }
                // Finals go to supervisors (the board's transcript), before their outputs.
                let fin = seg.is_final.then(|| seg.clone());
                if self.session.call(&call_id).is_some() {
                    self.app
                        .hub
                        .log_event(&self.tenant, &call_id, || CallEvent::Segment(seg.clone()));
                }
                let t0 = StdInstant::now();
                let r = self.session.handle(Inbound::Segment(seg));
                if r.is_ok() {
                    self.app.metrics.segment(t0.elapsed().as_secs_f64());
                    self.touched(&call_id);
                    let redact = self.session.call(&call_id).is_some_and(|c| c.redacts_pii());
                    let fin = fin.map(|mut s| {
                        if redact {
                            s.text = crate::language::pii::redact(&s.text).into_owned();
                        }
                        s
                    });
                    if let Some(seg) = fin {
                        self.app.hub.board_segment(&self.tenant, &seg);
                    }
                }
                r
            }
            Inbound::Tick(t) => {
                let call_id = t.call_id.clone();
                if self.session.call(&call_id).is_some() {
                    let at_ms = t.at_ms;
                    self.app
                        .hub
                        .log_event(&self.tenant, &call_id, || CallEvent::Tick { at_ms });
                }
                let r = self.session.handle(Inbound::Tick(t));
                if r.is_ok() {
                    self.touched(&call_id);
                }
                r
            }
            Inbound::Feedback(f) => self.feedback(f).map(|()| Vec::new()),
            Inbound::CallEnd(e) => {
                if self.session.call(&e.call_id).is_some() {
                    self.app
                        .hub
                        .log_event(&self.tenant, &e.call_id, || CallEvent::End);
                }
                let r = self.session.handle(Inbound::CallEnd(e));
                if r.is_ok() {
                    self.app.metrics.call_ended("call_end");
                }
                r
            }
            Inbound::CallResume(r) => return self.resume(r).await,
            Inbound::Resume(r) => Err(ProtocolError::new(
                ErrorCode::NotAllowedHere,
                "`resume` is for agent sockets; platforms send `call.resume`",
            )
            .for_call(r.call_id)),
        };
        match result {
            Ok(outs) => self.route(outs).await,
            Err(e) => self.send_error(e).await,
        }
    }

    fn new_limiter(&self) -> RateLimiter {
        RateLimiter::new(
            self.app.opts.max_segments_per_sec,
            self.app.opts.segment_rate_window,
            Instant::now(),
        )
    }

    /// A call started here (its quota slot is already reserved).
    fn call_started(&mut self, call_id: &str, agent_id: &str, slot: CallSlot) {
        // The id now names this call: forget the outputs of an earlier call that had it.
        self.app.hub.resume.forget_ended(&self.tenant, call_id);
        let agent: Arc<str> = Arc::from(agent_id);
        self.calls.insert(
            call_id.to_string(),
            CallMeta {
                agent_id: agent.clone(),
                media_at_event: 0,
                event_at: Instant::now(),
                limiter: self.new_limiter(),
                slot,
            },
        );
        self.app.hub.register_call(
            &self.tenant,
            call_id,
            agent_id,
            self.id,
            self.cmd_tx.clone(),
        );
        let campaign = self
            .session
            .call(call_id)
            .map(|c| c.campaign().to_string())
            .unwrap_or_default();
        tracing::info!(conn = self.id, call = call_id, agent = agent_id, %campaign, "call started");
        self.app
            .hub
            .board_call_start(&self.tenant, call_id, &agent, &campaign);
    }

    /// A platform event reached the call: restart its wall clock from the media time it reached.
    fn touched(&mut self, call_id: &str) {
        if let (Some(meta), Some(call)) = (self.calls.get_mut(call_id), self.session.call(call_id))
        {
            meta.media_at_event = call.now_ms();
            meta.event_at = Instant::now();
        }
    }

    /// Apply feedback to the session (which refuses ids the call never sent with
    /// `unknown_nudge`), counting it by the nudge's kind.
    fn feedback(&mut self, f: Feedback) -> Result<(), ProtocolError> {
        let (kind, campaign) = match self.session.call(&f.call_id) {
            Some(c) => (
                c.nudge_kind(&f.nudge_id).unwrap_or_default().to_string(),
                c.campaign().to_string(),
            ),
            None => (String::new(), String::new()),
        };
        let useful = f.useful;
        let ev = CallEvent::feedback(&f);
        let call_id = f.call_id.clone();
        self.session.handle(Inbound::Feedback(f))?;
        self.app.hub.log_event(&self.tenant, &call_id, || ev);
        self.app.metrics.feedback(&kind, &campaign, useful);
        Ok(())
    }

    async fn on_cmd(&mut self, cmd: ConnCmd) {
        match cmd {
            ConnCmd::Feedback { feedback, reply } => {
                let r = self.feedback(feedback);
                if let Err(e) = &r {
                    self.app.metrics.error(e.code);
                }
                let _ = reply.send(r);
            }
            ConnCmd::Release { call_id, reply } => {
                let parked = self.detach(&call_id);
                if let Some(p) = parked {
                    tracing::info!(conn = self.id, call = %call_id, "call handed to another connection");
                    // If the asker gave up meanwhile, park the call rather than lose it.
                    if let Err(Some(p)) = reply.send(Some(p)) {
                        let deadline = Instant::now() + self.app.opts.resume_grace;
                        self.app.hub.resume.park(&self.tenant, p, deadline);
                    }
                } else {
                    let _ = reply.send(None);
                }
            }
        }
    }

    /// Take a call out of this connection, still running.
    fn detach(&mut self, call_id: &str) -> Option<ParkedCall> {
        let meta = self.calls.remove(call_id)?;
        let call = self.session.take(call_id)?;
        self.app.hub.unregister_call(&self.tenant, call_id, self.id);
        Some(ParkedCall {
            call,
            agent_id: meta.agent_id,
            media_at_event: meta.media_at_event,
            event_at: meta.event_at,
            slot: meta.slot,
        })
    }

    /// The connection was lost: park every call for `resume_grace`.
    fn park_all(&mut self) {
        let deadline = Instant::now() + self.app.opts.resume_grace;
        let ids: Vec<String> = self.calls.keys().cloned().collect();
        for call_id in ids {
            if let Some(p) = self.detach(&call_id) {
                self.app.hub.resume.park(&self.tenant, p, deadline);
            }
        }
        tracing::info!(
            conn = self.id,
            parked = self.app.hub.resume.parked_len(),
            "calls parked for resume"
        );
    }

    /// `call.resume`: re-attach a call of this tenant that a lost (or still open) connection
    /// carried, then replay the outputs after `after_seq`.
    async fn resume(&mut self, r: Resume) {
        let call_id = r.call_id.clone();
        let ended = self.app.hub.resume.ended(&self.tenant, &call_id);
        if self.session.call(&call_id).is_none() && !ended {
            let found = match self.find_call(&call_id).await {
                Some(p) => Ok(Some(p)),
                None => self.rehome(&call_id).await,
            };
            let parked = match found {
                Ok(p) => p,
                Err(e) => return self.send_error(e).await,
            };
            // A call that ended in its log was summarised by the re-homing: replay that.
            let rehomed_ended = self.app.hub.resume.ended(&self.tenant, &call_id);
            match parked {
                Some(p) => {
                    if let Err(e) = self.adopt_resumed(p, &call_id) {
                        return self.send_error(e).await;
                    }
                    // Cluster: the other nodes can reach the call here (feedback) before the
                    // platform hears it resumed.
                    if let Some(c) = self.app.hub.cluster().cloned() {
                        c.flush().await;
                    }
                    tracing::info!(conn = self.id, call = %call_id, after_seq = r.after_seq, "call resumed");
                }
                None if rehomed_ended => {}
                None => {
                    let e = ProtocolError::new(
                        ErrorCode::UnknownCall,
                        format!("no call `{call_id}` to resume (never started, ended, or its grace period passed): start it again"),
                    )
                    .for_call(&call_id);
                    return self.send_error(e).await;
                }
            }
        }
        let Some(replay) = self
            .app
            .hub
            .resume
            .platform_replay(&self.tenant, &call_id, r.after_seq)
        else {
            // Running here, but nothing kept yet: nothing was missed.
            let ack = serde_json::json!({"type":"call.resumed","call_id":call_id,
                "after_seq":r.after_seq,"replayed":0,"missed":0});
            return self.send(Out::Text(ack.to_string())).await;
        };
        for (_, m) in replay.messages {
            self.send(Out::Text(m.to_string())).await;
        }
        self.send(Out::Text(replay.ack)).await;
    }

    /// Run a resumed call on this connection (over its call limit: park it for another one).
    fn adopt_resumed(&mut self, parked: ParkedCall, call_id: &str) -> Result<(), ProtocolError> {
        // Cluster: this node holds the call now (running or parked), and answers for it.
        if let Some(c) = self.app.hub.cluster() {
            c.hold(&self.tenant, call_id);
        }
        if let Err(e) = self.session.can_adopt(call_id) {
            let deadline = Instant::now() + self.app.opts.resume_grace;
            self.app.hub.resume.park(&self.tenant, parked, deadline);
            return Err(e);
        }
        let ParkedCall {
            call,
            agent_id,
            media_at_event,
            event_at,
            slot,
        } = parked;
        self.session.adopt(call);
        self.calls.insert(
            call_id.to_string(),
            CallMeta {
                agent_id: agent_id.clone(),
                media_at_event,
                event_at,
                limiter: self.new_limiter(),
                slot,
            },
        );
        self.app.hub.register_call(
            &self.tenant,
            call_id,
            &agent_id,
            self.id,
            self.cmd_tx.clone(),
        );
        self.app.metrics.resumed("platform");
        Ok(())
    }

    /// Cluster mode, the call is on no connection of this node: take it over from the node that
    /// holds it (or held it and died) by rebuilding it from its event log. The outputs nobody
    /// has had yet are delivered on the way (agents, boards, replay buffer). `Ok(None)`: not in
    /// the log, or it ended there (then its summary was just delivered).
    async fn rehome(&mut self, call_id: &str) -> Result<Option<ParkedCall>, ProtocolError> {
        let Some(super::peers::Rehomed {
            call: Some(call),
            agent_id,
        }) = super::peers::rehome(&self.app, &self.tenant, call_id).await
        else {
            return Ok(None);
        };
        let slot = self
            .app
            .hub
            .quotas
            .reserve_call(&self.tenant)
            .map_err(|e| e.for_call(call_id))?;
        Ok(Some(ParkedCall {
            media_at_event: call.now_ms(),
            event_at: Instant::now(),
            call,
            agent_id,
            slot,
        }))
    }

    /// A running call of this tenant: parked, or released by the connection still holding it.
    async fn find_call(&mut self, call_id: &str) -> Option<ParkedCall> {
        if let Some(p) = self.app.hub.resume.unpark(&self.tenant, call_id) {
            return Some(p);
        }
        if let Some(owner) = self.app.hub.call_owner(&self.tenant, call_id, self.id) {
            let (reply, rx) = tokio::sync::oneshot::channel();
            let cmd = ConnCmd::Release {
                call_id: call_id.to_string(),
                reply,
            };
            let ask = async {
                owner.send(cmd).await.ok()?;
                rx.await.ok()?
            };
            if let Ok(Some(p)) = tokio::time::timeout(RELEASE_WAIT, ask).await {
                return Some(p);
            }
        }
        // The owner may have parked the call while we asked.
        self.app.hub.resume.unpark(&self.tenant, call_id)
    }

    /// Advance idle calls' media time from the wall clock: media time at the call's last event
    /// plus the wall time since, minus the STT latency allowance.
    async fn on_wall_clock(&mut self) {
        let now = Instant::now();
        let opts = &self.app.opts;
        let mut due = Vec::new();
        let mut expired = Vec::new();
        for (call_id, meta) in &self.calls {
            let idle = now.saturating_duration_since(meta.event_at);
            if !opts.idle_call_timeout.is_zero() && idle >= opts.idle_call_timeout {
                expired.push(call_id.clone());
                continue;
            }
            if idle < opts.tick_idle {
                continue;
            }
            let at = (meta.media_at_event + idle.as_millis() as u64)
                .saturating_sub(opts.stt_latency.as_millis() as u64);
            if self.session.call(call_id).is_some_and(|c| at > c.now_ms()) {
                due.push((call_id.clone(), at));
            }
        }
        for (call_id, at_ms) in due {
            self.app
                .hub
                .log_event(&self.tenant, &call_id, || CallEvent::Tick { at_ms });
            if let Ok(outs) = self.session.event(&call_id, Event::Tick { at_ms }) {
                self.route(outs).await;
            }
        }
        for call_id in expired {
            tracing::info!(conn = self.id, call = %call_id, reason = "idle", "call expired: no platform event");
            self.app
                .hub
                .log_event(&self.tenant, &call_id, || CallEvent::End);
            if let Ok(outs) = self.session.event(&call_id, Event::End) {
                self.app.metrics.call_ended("idle");
                self.route(outs).await;
            }
        }
    }

    /// Send outputs everywhere they belong, in order: agent panel, supervisors, platform.
    async fn route(&mut self, outs: Vec<Outbound>) {
        for o in outs {
            let json = o.to_json();
            let call: Arc<str> = Arc::from(o.call_id());
            let agent_id = match (&o, self.calls.get(&*call)) {
                (_, Some(meta)) => meta.agent_id.clone(),
                (Outbound::Summary(s), None) => Arc::from(s.agent_id.as_str()),
                (_, None) => Arc::from(""),
            };
            if let Outbound::Nudge(n) = &o {
                self.app.metrics.nudge(&n.kind);
            }
            let shared: Arc<str> = Arc::from(json.as_str());
            let dropped = self
                .app
                .hub
                .publish_output(&self.tenant, &call, &agent_id, &o, shared);
            if dropped > 0 {
                self.app.metrics.agent_dropped(dropped);
            }
            if let Outbound::Summary(_) = &o {
                if let Some(v) = self.vendor.as_mut() {
                    v.forget(&call);
                }
                // Dropping the call's meta gives its quota slot back.
                self.calls.remove(&*call);
                self.app.hub.unregister_call(&self.tenant, &call, self.id);
                self.app.hub.board_call_end(&self.tenant, &call, &agent_id);
                tracing::info!(conn = self.id, call = %call, "call ended");
            }
            self.send(Out::Text(json)).await;
        }
    }
}
