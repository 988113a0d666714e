//! Cluster mode: what the other nodes send, applied to this node's hub. Outputs and board events
//! of their calls reach this node's agent panels and supervisor boards (of the tenant the bus
//! message names, only); a release request hands a call this node holds to the node taking it
//! over (`call.resume` there).

use std::sync::Arc;

use tokio::sync::mpsc;

use super::hub::ConnCmd;
use super::AppState;
use crate::cluster::wire::OutMsg;
use crate::cluster::Remote;

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
        } => {
            let tenant: Arc<str> = Arc::from(tenant);
            // The id names a new call: outputs kept of an earlier one are not its.
            app.hub.resume.forget_ended(&tenant, &call_id);
            app.hub
                .board
                .call_start(&tenant, &call_id, &Arc::from(agent_id), &campaign);
        }
        OutMsg::Segment { tenant, segment } => app.hub.board.segment(&tenant, &segment),
        OutMsg::CallEnd {
            tenant,
            call_id,
            agent_id,
        } => app.hub.board.call_end(&tenant, &call_id, &agent_id),
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
