//! Fan-out between connections: agent panels (by tenant and `agent_id`), feedback routing (by
//! tenant and `call_id` to the connection that owns the call) and the supervisor broadcast.
//! Tenants never see each other: every key below starts with the tenant.
//!
//! Everything here is called synchronously from connection tasks and never blocks: agent sockets
//! have bounded queues fed with `push` (drop `state` first, disconnect a consumer that stays
//! stuck), and the supervisor channel is a `tokio::sync::broadcast` whose laggards skip ahead.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use super::supervisor::{Feed, RECENT_CALLS};
use crate::protocol::{ErrorCode, Feedback, ProtocolError};

/// Capacity of the supervisor broadcast channel.
pub const SUPERVISOR_CAPACITY: usize = 4096;

/// What a message sent to an agent panel is, for the drop policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `state`: superseded by the next one, dropped first when the panel is slow.
    State,
    /// `nudge`, `nudge.clear`, `call.summary`, `error`: kept.
    Keep,
}

/// A message queued for one agent socket (JSON text shared between destinations).
#[derive(Debug, Clone)]
pub struct AgentMsg {
    pub class: Class,
    pub json: Arc<str>,
}

/// Bounded outbound queue of one agent socket. `push` never blocks; when full it drops the
/// incoming `state`, or evicts the oldest queued `state`; when there is nothing left to drop the
/// consumer is stuck and `stuck` is cancelled so its task closes the socket.
#[derive(Debug)]
pub struct AgentQueue {
    items: Mutex<VecDeque<AgentMsg>>,
    notify: Notify,
    cap: usize,
    stuck: CancellationToken,
    dropped: AtomicU64,
}

impl AgentQueue {
    pub fn new(cap: usize) -> AgentQueue {
        AgentQueue {
            items: Mutex::new(VecDeque::with_capacity(cap.min(1024))),
            notify: Notify::new(),
            cap: cap.max(1),
            stuck: CancellationToken::new(),
            dropped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<AgentMsg>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue a message; returns false when the consumer is declared stuck.
    pub fn push(&self, msg: AgentMsg) -> bool {
        if self.stuck.is_cancelled() {
            return false;
        }
        let mut q = self.lock();
        if q.len() >= self.cap {
            if msg.class == Class::State {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            match q.iter().position(|m| m.class == Class::State) {
                Some(i) => {
                    q.remove(i);
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    drop(q);
                    self.stuck.cancel();
                    return false;
                }
            }
        }
        q.push_back(msg);
        drop(q);
        self.notify.notify_one();
        true
    }

    /// Next message, waiting for one. Cancel-safe: a message is removed only when returned.
    pub async fn pop(&self) -> AgentMsg {
        loop {
            if let Some(m) = self.try_pop() {
                return m;
            }
            self.notify.notified().await;
        }
    }

    pub fn try_pop(&self) -> Option<AgentMsg> {
        self.lock().pop_front()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cancelled when the consumer could not keep up.
    pub fn stuck(&self) -> &CancellationToken {
        &self.stuck
    }

    /// Messages dropped since the last call (for metrics).
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
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
        reply: oneshot::Sender<Option<super::resume::ParkedCall>>,
    },
}

#[derive(Debug, Clone)]
struct CallRoute {
    conn_id: u64,
    agent_id: String,
    tx: mpsc::Sender<ConnCmd>,
}

/// What supervisors see. Every event carries its `/v1/supervisor` wire JSON, serialised once
/// where the event happened (see [`super::supervisor::Feed`], which publishes them), and names its
/// tenant: a subscriber only receives its own tenant's events ([`super::auth::may_see`]).
#[derive(Debug, Clone)]
pub enum SupervisorEvent {
    /// `{"type":"call.started",...}`.
    CallStart {
        tenant: Arc<str>,
        call_id: Arc<str>,
        agent_id: Arc<str>,
        campaign: Arc<str>,
        conn_id: u64,
        json: Arc<str>,
    },
    /// A final segment of the call: `{"type":"segment",...}` (the transcript; personal data).
    Segment {
        tenant: Arc<str>,
        call_id: Arc<str>,
        agent_id: Arc<str>,
        json: Arc<str>,
    },
    /// Any engine output of a call (`nudge`, `nudge.clear`, `state`, `call.summary`), as sent.
    Output {
        tenant: Arc<str>,
        call_id: Arc<str>,
        agent_id: Arc<str>,
        json: Arc<str>,
    },
    /// `{"type":"call.ended",...}`, after the call's `call.summary`.
    CallEnd {
        tenant: Arc<str>,
        call_id: Arc<str>,
        agent_id: Arc<str>,
        json: Arc<str>,
    },
}

impl SupervisorEvent {
    /// The message sent to `/v1/supervisor` subscribers.
    pub fn json(&self) -> &Arc<str> {
        match self {
            SupervisorEvent::CallStart { json, .. }
            | SupervisorEvent::Segment { json, .. }
            | SupervisorEvent::Output { json, .. }
            | SupervisorEvent::CallEnd { json, .. } => json,
        }
    }

    /// The tenant and agent of the call the event is about.
    pub fn tenant_and_agent(&self) -> (&str, &str) {
        match self {
            SupervisorEvent::CallStart {
                tenant, agent_id, ..
            }
            | SupervisorEvent::Segment {
                tenant, agent_id, ..
            }
            | SupervisorEvent::Output {
                tenant, agent_id, ..
            }
            | SupervisorEvent::CallEnd {
                tenant, agent_id, ..
            } => (tenant, agent_id),
        }
    }
}

/// One registered agent socket: its registration id and queue.
type AgentSlot = (u64, Arc<AgentQueue>);

/// The hub shared by all connections of one server.
#[derive(Debug)]
pub struct Hub {
    /// tenant → agent id → sockets.
    agents: Mutex<HashMap<String, HashMap<String, Vec<AgentSlot>>>>,
    /// tenant → call id → owning connection.
    calls: Mutex<HashMap<String, HashMap<String, CallRoute>>>,
    /// The supervisor feed: board state + broadcast.
    feed: Feed,
    next_id: AtomicU64,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    pub fn new() -> Hub {
        Hub::with_recent_calls(RECENT_CALLS)
    }

    /// A hub whose supervisor feed keeps the last `recent` ended calls.
    pub fn with_recent_calls(recent: usize) -> Hub {
        Hub {
            agents: Mutex::new(HashMap::new()),
            calls: Mutex::new(HashMap::new()),
            feed: Feed::new(SUPERVISOR_CAPACITY, recent),
            next_id: AtomicU64::new(1),
        }
    }

    /// Register an agent socket; it stays registered until [`Hub::remove_agent`].
    pub fn add_agent(&self, tenant: &str, agent_id: &str, q: Arc<AgentQueue>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.agents)
            .entry(tenant.to_string())
            .or_default()
            .entry(agent_id.to_string())
            .or_default()
            .push((id, q));
        id
    }

    pub fn remove_agent(&self, tenant: &str, agent_id: &str, id: u64) {
        let mut agents = lock(&self.agents);
        let Some(of_tenant) = agents.get_mut(tenant) else {
            return;
        };
        if let Some(v) = of_tenant.get_mut(agent_id) {
            v.retain(|(i, _)| *i != id);
            if v.is_empty() {
                of_tenant.remove(agent_id);
            }
        }
        if of_tenant.is_empty() {
            agents.remove(tenant);
        }
    }

    /// Send a message to every socket of `agent_id` in `tenant`. Never blocks. Returns messages
    /// dropped.
    pub fn publish_agent(&self, tenant: &str, agent_id: &str, msg: AgentMsg) -> u64 {
        let agents = lock(&self.agents);
        let Some(v) = agents.get(tenant).and_then(|t| t.get(agent_id)) else {
            return 0;
        };
        let mut dropped = 0;
        for (_, q) in v {
            q.push(msg.clone());
            dropped += q.take_dropped();
        }
        dropped
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

    /// The supervisor feed: publish call events there (board + broadcast).
    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    pub fn subscribe_supervisor(&self) -> broadcast::Receiver<SupervisorEvent> {
        self.feed.subscribe()
    }

    pub fn open_call_routes(&self) -> usize {
        lock(&self.calls).values().map(HashMap::len).sum()
    }
}

/// Receive the next supervisor event, skipping ahead (and reporting how many were missed through
/// `on_lag`) when the subscriber lagged. `None` once the hub is gone.
pub async fn recv_supervisor(
    rx: &mut broadcast::Receiver<SupervisorEvent>,
    mut on_lag: impl FnMut(u64),
) -> Option<SupervisorEvent> {
    loop {
        match rx.recv().await {
            Ok(ev) => return Some(ev),
            Err(broadcast::error::RecvError::Lagged(n)) => on_lag(n),
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(class: Class, s: &str) -> AgentMsg {
        AgentMsg {
            class,
            json: Arc::from(s),
        }
    }

    #[test]
    fn full_queue_drops_state_first_then_declares_stuck() {
        let q = AgentQueue::new(3);
        assert!(q.push(msg(Class::State, "s1")));
        assert!(q.push(msg(Class::Keep, "n1")));
        assert!(q.push(msg(Class::State, "s2")));
        // Full: an incoming state is dropped.
        assert!(q.push(msg(Class::State, "s3")));
        assert_eq!(q.len(), 3);
        // Full: a nudge evicts the oldest state.
        assert!(q.push(msg(Class::Keep, "n2")));
        assert!(q.push(msg(Class::Keep, "n3")));
        let got: Vec<_> = std::iter::from_fn(|| q.try_pop())
            .map(|m| m.json.to_string())
            .collect();
        assert_eq!(got, ["n1", "n2", "n3"]);
        assert_eq!(q.take_dropped(), 3);
        for i in 0..3 {
            assert!(q.push(msg(Class::Keep, &format!("k{i}"))));
        }
        assert!(!q.push(msg(Class::Keep, "overflow")));
        assert!(q.stuck().is_cancelled());
    }

    #[tokio::test]
    async fn lagging_supervisor_skips_ahead() {
        let hub = Hub::new();
        let mut rx = hub.subscribe_supervisor();
        for i in 0..(SUPERVISOR_CAPACITY + 10) {
            hub.feed().call_end(
                Arc::from("default"),
                Arc::from(format!("c{i}")),
                Arc::from("a"),
            );
        }
        let mut lagged = 0;
        let ev = recv_supervisor(&mut rx, |n| lagged += n).await.unwrap();
        assert_eq!(lagged, 10);
        match ev {
            SupervisorEvent::CallEnd { call_id, .. } => assert_eq!(&*call_id, "c10"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn feedback_routing_checks_owner() {
        let hub = Hub::new();
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
