//! The hub: every piece of state shared between connections, in one place, each keyed by
//! tenant first: equal call or agent ids in two tenants never meet.
//!
//! - [`agents`]: agent-panel queues, by tenant and `agent_id`.
//! - call routes (here): which connection carries a call, by tenant and `call_id` (feedback,
//!   `call.resume` hand-over).
//! - [`board`]: the supervisor board (live calls, subscriptions) and post-call records.
//! - [`resume`]: replay buffers and parked calls.
//! - [`quotas`]: calls, connections and sockets per tenant and principal.
//! - the cluster link (here, optional): with `--cluster`, outputs of the calls this node owns
//!   also go to the other nodes, and theirs arrive through [`Hub::publish_remote_output`].
//!
//! The hub imports no socket handler; the handlers (`stream`, `agent`, `supervisor`, `http`) and
//! the `reaper` depend on it. Everything here is synchronous and never blocks on a peer.

pub mod agents;
pub mod board;
pub mod quotas;
pub mod resume;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, oneshot};

use crate::cluster::wire::{CallEvent, OutMsg};
use crate::cluster::Cluster;
use crate::protocol::{ErrorCode, Feedback, Outbound, ProtocolError, Segment};
use agents::{Agents, Class};
use board::Board;
use quotas::{QuotaLimits, Quotas};
use resume::{ParkedCall, ResumeStore};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A command for the connection task that owns a call.
#[derive(Debug)]
pub enum ConnCmd {
    /// Agent feedback on one of the call's nudges; the connection applies it to its session.
    Feedback {
        feedback: Feedback,
        reply: oneshot::Sender<Result<(), ProtocolError>>,
    },
    /// Another connection of the same tenant resumes this call (`call.resume`): hand it over,
    /// still running (see `resume.rs`).
    Release {
        call_id: String,
        reply: oneshot::Sender<Option<ParkedCall>>,
    },
}

#[derive(Debug, Clone)]
struct CallRoute {
    conn_id: u64,
    agent_id: String,
    tx: mpsc::Sender<ConnCmd>,
}

/// How big the hub's stores are (see `Options`).
#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    /// Ended calls kept for `GET /v1/calls/{call_id}`.
    pub recent_calls: usize,
    /// Outputs kept per call for replay.
    pub replay_buffer: usize,
    /// Messages queued per supervisor socket before it is resynchronised with a snapshot.
    pub supervisor_queue: usize,
    pub quotas: QuotaLimits,
}

/// The state shared by all connections of one server.
#[derive(Debug)]
pub struct Hub {
    pub agents: Agents,
    /// tenant → call id → owning connection.
    calls: Mutex<HashMap<String, HashMap<String, CallRoute>>>,
    pub board: Board,
    pub resume: ResumeStore,
    pub quotas: Quotas,
    /// The other nodes (`--cluster`); `None` on a single node.
    cluster: Option<Arc<Cluster>>,
}

impl Hub {
    pub fn new(cfg: HubConfig) -> Hub {
        Hub {
            agents: Agents::default(),
            calls: Mutex::new(HashMap::new()),
            board: Board::new(cfg.recent_calls, cfg.supervisor_queue),
            resume: ResumeStore::new(cfg.replay_buffer),
            quotas: Quotas::new(cfg.quotas),
            cluster: None,
        }
    }

    /// Join a cluster: outputs of this node's calls go to the other nodes too.
    pub fn with_cluster(mut self, cluster: Arc<Cluster>) -> Hub {
        self.cluster = Some(cluster);
        self
    }

    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// Cluster mode: log an engine input of a call this node owns (`ev` is only built then).
    pub fn log_event(&self, tenant: &str, call_id: &str, ev: impl FnOnce() -> CallEvent) {
        if let Some(c) = &self.cluster {
            c.log_event(tenant, call_id, &ev());
        }
    }

    /// A call started here: on this board, and on the other nodes' boards.
    pub fn board_call_start(
        &self,
        tenant: &Arc<str>,
        call_id: &str,
        agent_id: &Arc<str>,
        campaign: &str,
    ) {
        self.board.call_start(tenant, call_id, agent_id, campaign);
        if let Some(c) = &self.cluster {
            c.hold(tenant, call_id);
            c.publish(&OutMsg::CallStart {
                tenant: tenant.to_string(),
                call_id: call_id.to_string(),
                agent_id: agent_id.to_string(),
                campaign: campaign.to_string(),
                node: c.node().to_string(),
            });
        }
    }

    /// A final segment of a call running here, for every node's board.
    pub fn board_segment(&self, tenant: &str, seg: &Segment) {
        self.board.segment(tenant, seg);
        if let Some(c) = &self.cluster {
            c.publish(&OutMsg::Segment {
                tenant: tenant.to_string(),
                segment: seg.clone(),
            });
        }
    }

    /// A call that ran here ended (after its summary), on every node's board.
    pub fn board_call_end(&self, tenant: &str, call_id: &str, agent_id: &str) {
        self.board.call_end(tenant, call_id, agent_id);
        if let Some(c) = &self.cluster {
            c.publish(&OutMsg::CallEnd {
                tenant: tenant.to_string(),
                call_id: call_id.to_string(),
                agent_id: agent_id.to_string(),
            });
        }
    }

    /// An engine output of a call: kept for replay, queued for the agent's panels, applied to the
    /// board and queued for the tenant's supervisors (and, in a cluster, sent to the other
    /// nodes). An output whose `seq` is already kept is dropped: a call re-homed from its log
    /// regenerates outputs that were delivered before. Returns messages dropped for slow panels.
    pub fn publish_output(
        &self,
        tenant: &Arc<str>,
        call_id: &Arc<str>,
        agent_id: &Arc<str>,
        o: &Outbound,
        json: Arc<str>,
    ) -> u64 {
        let Some(dropped) = self.apply_output(tenant, call_id, agent_id, o, &json) else {
            return 0;
        };
        if let Some(c) = &self.cluster {
            c.publish(&OutMsg::Output {
                tenant: tenant.to_string(),
                call_id: call_id.to_string(),
                agent_id: agent_id.to_string(),
                seq: o.seq(),
                json: json.to_string(),
            });
            if matches!(o, Outbound::Summary(_)) {
                c.unhold(tenant, call_id);
            }
        }
        dropped
    }

    /// An output of a call owned by another node (`json` as its platform got it), applied here
    /// like a local one. Returns messages dropped for slow panels.
    pub fn publish_remote_output(
        &self,
        tenant: &Arc<str>,
        call_id: &str,
        agent_id: &str,
        json: &str,
    ) -> u64 {
        let Ok(o) = serde_json::from_str::<Outbound>(json) else {
            tracing::warn!(call = call_id, "unreadable output from the cluster dropped");
            return 0;
        };
        if o.call_id() != call_id {
            return 0;
        }
        let json: Arc<str> = Arc::from(json);
        self.apply_output(tenant, &Arc::from(call_id), &Arc::from(agent_id), &o, &json)
            .unwrap_or(0)
    }

    fn apply_output(
        &self,
        tenant: &Arc<str>,
        call_id: &Arc<str>,
        agent_id: &Arc<str>,
        o: &Outbound,
        json: &Arc<str>,
    ) -> Option<u64> {
        let class = if matches!(o, Outbound::State(_)) {
            Class::State
        } else {
            Class::Keep
        };
        let ends = matches!(o, Outbound::Summary(_));
        let dropped = self.resume.record_and_publish(
            &self.agents,
            tenant,
            call_id,
            agent_id,
            o.seq(),
            class,
            json,
            ends,
        )?;
        self.board
            .output(tenant, call_id, agent_id, o, json.clone());
        Some(dropped)
    }

    /// Route feedback for `call_id` to the owning connection (from now on, `conn_id` owns it).
    pub fn register_call(
        &self,
        tenant: &str,
        call_id: &str,
        agent_id: &str,
        conn_id: u64,
        tx: mpsc::Sender<ConnCmd>,
    ) {
        lock(&self.calls)
            .entry(tenant.to_string())
            .or_default()
            .insert(
                call_id.to_string(),
                CallRoute {
                    conn_id,
                    agent_id: agent_id.to_string(),
                    tx,
                },
            );
    }

    /// Forget the route, unless another connection has since taken over the same call id.
    pub fn unregister_call(&self, tenant: &str, call_id: &str, conn_id: u64) {
        let mut calls = lock(&self.calls);
        let Some(of_tenant) = calls.get_mut(tenant) else {
            return;
        };
        if of_tenant.get(call_id).is_some_and(|r| r.conn_id == conn_id) {
            of_tenant.remove(call_id);
        }
        if of_tenant.is_empty() {
            calls.remove(tenant);
        }
    }

    /// The connection (other than `except_conn`) currently carrying `call_id` of `tenant`, to
    /// ask it to release the call for a `call.resume`.
    /// Whether `call_id` is live for `tenant` on a connection other than `conn_id` (a stream or
    /// the tenant's webhook table): starting it again there would steal its route and board.
    pub fn call_is_live_elsewhere(&self, tenant: &str, call_id: &str, conn_id: u64) -> bool {
        lock(&self.calls)
            .get(tenant)
            .and_then(|t| t.get(call_id))
            .is_some_and(|r| r.conn_id != conn_id)
    }

    pub fn call_owner(
        &self,
        tenant: &str,
        call_id: &str,
        except_conn: u64,
    ) -> Option<mpsc::Sender<ConnCmd>> {
        lock(&self.calls)
            .get(tenant)
            .and_then(|t| t.get(call_id))
            .filter(|r| r.conn_id != except_conn)
            .map(|r| r.tx.clone())
    }

    /// Hand feedback from `agent_id`'s panel to the connection owning the call. The reply says
    /// whether the session accepted it.
    pub fn route_feedback(
        &self,
        tenant: &str,
        agent_id: &str,
        feedback: Feedback,
    ) -> Result<oneshot::Receiver<Result<(), ProtocolError>>, ProtocolError> {
        let route = lock(&self.calls)
            .get(tenant)
            .and_then(|t| t.get(&feedback.call_id))
            .cloned();
        let call_id = feedback.call_id.clone();
        let Some(route) = route else {
            return Err(ProtocolError::new(
                ErrorCode::UnknownCall,
                format!("no open call `{call_id}`"),
            )
            .for_call(call_id));
        };
        if route.agent_id != agent_id {
            return Err(ProtocolError::new(
                ErrorCode::Forbidden,
                format!("call `{call_id}` is not handled by agent `{agent_id}`"),
            )
            .for_call(call_id));
        }
        let (reply, rx) = oneshot::channel();
        route
            .tx
            .try_send(ConnCmd::Feedback { feedback, reply })
            .map_err(|_| {
                ProtocolError::new(
                    ErrorCode::RateLimited,
                    "the call's connection is busy, send the feedback again later",
                )
                .for_call(&call_id)
            })?;
        Ok(rx)
    }

    pub fn open_call_routes(&self) -> usize {
        lock(&self.calls).values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Hub {
        Hub::new(HubConfig {
            recent_calls: 10,
            replay_buffer: 16,
            supervisor_queue: 16,
            quotas: QuotaLimits {
                calls_per_process: 10,
                calls_per_tenant: 10,
                connections_per_tenant: 10,
                sockets_per_principal: 10,
            },
        })
    }

    #[test]
    fn feedback_routing_checks_owner() {
        let hub = hub();
        let (tx, mut rx) = mpsc::channel(4);
        hub.register_call("t", "c1", "a1", 7, tx);
        let fb = |call: &str| Feedback {
            call_id: call.into(),
            nudge_id: "n1".into(),
            useful: true,
        };
        assert_eq!(
            hub.route_feedback("t", "a2", fb("c1")).unwrap_err().code,
            ErrorCode::Forbidden
        );
        assert_eq!(
            hub.route_feedback("t", "a1", fb("c9")).unwrap_err().code,
            ErrorCode::UnknownCall
        );
        // Another tenant's agent with the same ids sees no such call.
        assert_eq!(
            hub.route_feedback("u", "a1", fb("c1")).unwrap_err().code,
            ErrorCode::UnknownCall
        );
        assert!(hub.route_feedback("t", "a1", fb("c1")).is_ok());
        assert!(matches!(rx.try_recv(), Ok(ConnCmd::Feedback { .. })));
        assert!(hub.call_owner("t", "c1", 7).is_none());
        assert!(hub.call_owner("t", "c1", 8).is_some());
        hub.unregister_call("t", "c1", 8);
        assert_eq!(hub.open_call_routes(), 1);
        hub.unregister_call("t", "c1", 7);
        assert_eq!(hub.open_call_routes(), 0);
    }
}
