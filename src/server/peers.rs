//! Cluster mode: what the other nodes send, applied to this node's hub. Outputs and board events
//! of their calls reach this node's agent panels and supervisor boards (of the tenant the bus
//! message names, only); a release request hands a call this node holds to the node taking it
//! over (`call.resume` there); forwarded agent feedback is applied as if given here.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::hub::ConnCmd;
use super::AppState;
use crate::cluster::wire::{CallEvent, OutMsg};
use crate::cluster::Remote;
use crate::engine::{Call, Event};
use crate::protocol::{ErrorCode, Feedback, ProtocolError};

/// How long the connection carrying a call may take to let it go.
const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Apply remote messages in their order until the cluster link closes.
pub async fn apply(app: Arc<AppState>, mut remote: mpsc::Receiver<Remote>) {
    while let Some(r) = remote.recv().await {
        match r {
            Remote::Out(msg) => apply_out(&app, msg),
            Remote::Release {
                tenant,
                call_id,
                done,
            } => {
                let app = app.clone();
                tokio::spawn(async move {
                    release(&app, &tenant, &call_id).await;
                    let _ = done.send(());
                });
            }
            Remote::Feedback {
                tenant,
                agent_id,
                feedback,
                done,
            } => {
                let app = app.clone();
                tokio::spawn(async move {
                    let _ = done.send(feedback_here(&app, &tenant, &agent_id, feedback).await);
                });
            }
        }
    }
}

fn apply_out(app: &AppState, msg: OutMsg) {
    match msg {
        OutMsg::Output {
            tenant,
            call_id,
            agent_id,
            seq: _,
            json,
        } => {
            let tenant: Arc<str> = Arc::from(tenant);
            let dropped = app
                .hub
                .publish_remote_output(&tenant, &call_id, &agent_id, &json);
            if dropped > 0 {
                app.metrics.agent_dropped(dropped);
            }
        }
        OutMsg::CallStart {
            tenant,
            call_id,
            agent_id,
            campaign,
            node: _,
        } => {
            let tenant: Arc<str> = Arc::from(tenant);
            // The id names a new call: outputs kept of an earlier one are not its.
            app.hub.resume.forget_ended(&tenant, &call_id);
            app.hub
                .board
                .call_start(&tenant, &call_id, &Arc::from(agent_id), &campaign);
        }
        OutMsg::Moved { .. } => {}
        OutMsg::Segment { tenant, segment } => app.hub.board.segment(&tenant, &segment),
        OutMsg::CallEnd {
            tenant,
            call_id,
            agent_id,
        } => app.hub.board.call_end(&tenant, &call_id, &agent_id),
    }
}

/// Feedback from an agent panel on another node, for a call a connection here carries.
async fn feedback_here(
    app: &AppState,
    tenant: &str,
    agent_id: &str,
    feedback: Feedback,
) -> Result<(), ProtocolError> {
    let call_id = feedback.call_id.clone();
    let rx = app.hub.route_feedback(tenant, agent_id, feedback)?;
    match tokio::time::timeout(RELEASE_WAIT, rx).await {
        Ok(Ok(r)) => r,
        _ => Err(ProtocolError::new(
            ErrorCode::UnknownCall,
            "the call ended before the feedback arrived",
        )
        .for_call(call_id)),
    }
}

/// Let a call of this node go, not ended (another node rebuilds it from its log), and wait until
/// its log is complete on the server.
async fn release(app: &AppState, tenant: &str, call_id: &str) {
    let mut call = app.hub.resume.unpark(tenant, call_id);
    if call.is_none() {
        if let Some(owner) = app.hub.call_owner(tenant, call_id, u64::MAX) {
            let (reply, rx) = tokio::sync::oneshot::channel();
            let cmd = ConnCmd::Release {
                call_id: call_id.to_string(),
                reply,
            };
            let ask = async {
                owner.send(cmd).await.ok()?;
                rx.await.ok()?
            };
            call = tokio::time::timeout(RELEASE_WAIT, ask).await.ok().flatten();
        }
    }
    // (The release subscription ends by itself once it has answered.)
    if let Some(c) = app.hub.cluster() {
        c.flush().await;
    }
    // Dropping the call gives its quota slot back; nothing is sent: the call goes on elsewhere.
    if call.is_some() {
        tracing::info!(tenant, call = call_id, "call handed to another node");
    }
}

/// A call brought back from its log on this node.
pub(super) struct Rehomed {
    /// `None`: it had ended (its summary was among the outputs delivered).
    pub call: Option<Call>,
    pub agent_id: Arc<str>,
}

/// Take a call over from the node holding it (or that held it and died): rebuild it from its
/// log and deliver the outputs nobody has had yet (agents, boards, replay buffers, every node).
/// `None` when this node is not in a cluster or the log has no start for the call.
pub(super) async fn rehome(app: &AppState, tenant: &Arc<str>, call_id: &str) -> Option<Rehomed> {
    let cluster = app.hub.cluster()?;
    let t0 = std::time::Instant::now();
    let events = match cluster.take_over(tenant, call_id).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(call = call_id, error = %e, "cannot read the call's log");
            return None;
        }
    };
    let rebuilt = crate::cluster::rehome::rebuild(app.resources(), call_id, &events)?;
    let agent: Arc<str> = Arc::from(rebuilt.agent_id.as_str());
    let call: Arc<str> = Arc::from(call_id);
    let mut delivered = 0;
    for o in &rebuilt.outputs {
        if app.hub.resume.has_output(tenant, call_id, o.seq()) {
            continue;
        }
        delivered += 1;
        let json: Arc<str> = Arc::from(o.to_json());
        let dropped = app.hub.publish_output(tenant, &call, &agent, o, json);
        if dropped > 0 {
            app.metrics.agent_dropped(dropped);
        }
    }
    if rebuilt.call.is_some() {
        cluster.claim(tenant, call_id);
    }
    tracing::info!(
        tenant = %tenant,
        call = call_id,
        events = rebuilt.events,
        outputs = rebuilt.outputs.len(),
        delivered,
        ms = t0.elapsed().as_secs_f64() * 1e3,
        "call re-homed from the cluster log"
    );
    Some(Rehomed {
        call: rebuilt.call,
        agent_id: agent,
    })
}

/// Background task (cluster mode): end the calls of dead nodes that no platform resumed
/// within the grace period and that this node was chosen for, as the reaper ends a parked call.
pub async fn end_orphans(app: Arc<AppState>) {
    let Some(cluster) = app.hub.cluster().cloned() else {
        return;
    };
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = app.shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        for (tenant, call_id) in cluster.orphans(app.opts.resume_grace) {
            let tenant: Arc<str> = Arc::from(tenant);
            // Resumed here meanwhile: it is not an orphan.
            if app.hub.call_owner(&tenant, &call_id, u64::MAX).is_some() {
                continue;
            }
            let Some(Rehomed {
                call: Some(mut call),
                agent_id,
            }) = rehome(&app, &tenant, &call_id).await
            else {
                continue;
            };
            let id: Arc<str> = Arc::from(call_id.as_str());
            app.hub.log_event(&tenant, &call_id, || CallEvent::End);
            for o in call.on_event(Event::End) {
                let json: Arc<str> = Arc::from(o.to_json());
                let dropped = app.hub.publish_output(&tenant, &id, &agent_id, &o, json);
                if dropped > 0 {
                    app.metrics.agent_dropped(dropped);
                }
            }
            app.hub.board_call_end(&tenant, &call_id, &agent_id);
            app.metrics.call_ended("grace_expired");
            tracing::info!(tenant = %tenant, call = %call_id, "call of a lost node ended");
        }
    }
}
