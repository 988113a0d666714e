//! The calls that have no connection: the reaper ends parked calls whose grace period passed
//! (and every parked call on shutdown), exactly as their connection would have ended them.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::time::{Duration, Instant, MissedTickBehavior};

use super::hub::resume::ParkedCall;
use super::AppState;
use crate::cluster::wire::CallEvent;
use crate::engine::Event;

/// End a call that has no connection (parked too long, or shutdown): outputs go to the replay
/// buffer, agent panels and supervisors, exactly as if its connection had ended it.
pub fn end_unattached(
    app: &AppState,
    tenant: &Arc<str>,
    mut parked: ParkedCall,
    reason: &'static str,
) {
    let call_id: Arc<str> = Arc::from(parked.call.call_id());
    let agent_id = parked.agent_id.clone();
    app.hub.log_event(tenant, &call_id, || CallEvent::End);
    for o in parked.call.on_event(Event::End) {
        let json: Arc<str> = Arc::from(o.to_json());
        let dropped = app
            .hub
            .publish_output(tenant, &call_id, &agent_id, &o, json);
        if dropped > 0 {
            app.metrics.agent_dropped(dropped);
        }
    }
    // The call leaves its tenant's quota.
    drop(parked.slot);
    app.metrics.call_ended(reason);
    app.hub.board_call_end(tenant, &call_id, &agent_id);
    tracing::info!(tenant = %tenant, call = %call_id, reason, "call ended");
}

/// Background task: end parked calls whose grace period passed, drop old replay buffers, drain
/// histogram samples into buckets (an unscraped `/metrics` must not grow); on shutdown end every
/// parked call.
pub async fn reaper(app: Arc<AppState>) {
    const METRICS_UPKEEP: Duration = Duration::from_secs(5);
    let mut last_upkeep = Instant::now();
    let period =
        (app.opts.resume_grace / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = app.shutdown.cancelled() => {
                // Stream tasks end their own calls on shutdown; wait for them (a connection lost
                // just before may still be parking its calls), then end every parked call.
                let deadline = Instant::now() + app.opts.shutdown_deadline / 2;
                while app.connections.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                for (tenant, c) in app.hub.resume.due(Instant::now(), true, Duration::ZERO) {
                    end_unattached(&app, &tenant, c, "shutdown");
                }
                return;
            }
            _ = tick.tick() => {
                for (tenant, c) in app.hub.resume.due(Instant::now(), false, app.opts.replay_retention) {
                    end_unattached(&app, &tenant, c, "grace_expired");
                }
                if last_upkeep.elapsed() >= METRICS_UPKEEP {
                    app.metrics.upkeep();
                    last_upkeep = Instant::now();
                }
            }
        }
    }
}
