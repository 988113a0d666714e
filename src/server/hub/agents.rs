//! Agent panels: their bounded outbound queues and the registry that routes a call's outputs to
//! the sockets of its agent, by tenant and `agent_id`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::lock;

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
            // Grown on demand: most panels hold a message or two, and 10,000 panels with
            // their whole capacity allocated cost 60 MiB for nothing.
            items: Mutex::new(VecDeque::new()),
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

/// One registered agent socket: its registration id and queue.
type AgentSlot = (u64, Arc<AgentQueue>);

/// Agent sockets by tenant and agent id.
#[derive(Debug, Default)]
pub struct Agents {
    by_tenant: Mutex<HashMap<String, HashMap<String, Vec<AgentSlot>>>>,
    next_id: AtomicU64,
}

impl Agents {
    /// Register an agent socket; it stays registered until [`Agents::remove`].
    pub fn add(&self, tenant: &str, agent_id: &str, q: Arc<AgentQueue>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.by_tenant)
            .entry(tenant.to_string())
            .or_default()
            .entry(agent_id.to_string())
            .or_default()
            .push((id, q));
        id
    }

    pub fn remove(&self, tenant: &str, agent_id: &str, id: u64) {
        let mut agents = lock(&self.by_tenant);
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
    pub fn publish(&self, tenant: &str, agent_id: &str, msg: AgentMsg) -> u64 {
        let agents = lock(&self.by_tenant);
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

    #[test]
    fn agents_of_equal_ids_in_two_tenants_are_apart() {
        let agents = Agents::default();
        let (q1, q2) = (Arc::new(AgentQueue::new(4)), Arc::new(AgentQueue::new(4)));
        let r1 = agents.add("acme", "a-1", q1.clone());
        agents.add("globex", "a-1", q2.clone());
        agents.publish("acme", "a-1", msg(Class::Keep, "for acme"));
        assert_eq!(q1.try_pop().unwrap().json.as_ref(), "for acme");
        assert!(q2.try_pop().is_none());
        agents.remove("acme", "a-1", r1);
        agents.publish("acme", "a-1", msg(Class::Keep, "nobody"));
        assert!(q1.try_pop().is_none());
    }
}
