//! Resume: nothing a client missed during a reconnect is lost, within bounds.
//!
//! - **Replay buffers**: the last `replay_buffer` outputs (default 256) of every call, by tenant
//!   and call id, kept `replay_retention` (default 60 s) after the call ends. An agent panel that
//!   reconnects with `?resume=<call_id>:<last_seq>` or sends `{"type":"resume",...}` receives the
//!   outputs with a larger `seq` it has not had; a platform re-attaching a call receives them too.
//! - **Parked calls**: when a platform connection is *lost* (no Close frame: TCP reset, EOF,
//!   keepalive timeout, stalled writer), its calls are parked for `resume_grace` (default 30 s)
//!   instead of ended. A new connection of the same tenant sends `call.resume` and the call goes
//!   on there; otherwise the reaper ends it (summary to agents and supervisors, as today).
//!
//! Agent (re)registration and publishing go through one lock here, so that every output is
//! either in the snapshot replayed to a joining panel or in its live queue, never both or neither:
//! [`ResumeStore::record_and_publish`] appends to the buffer and pushes to the panels under the
//! lock; [`ResumeStore::join_agent`] snapshots and registers under the same lock.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::agents::{AgentMsg, AgentQueue, Agents, Class};
use super::quotas::CallSlot;
use crate::engine::Call;
use crate::protocol::{ErrorCode, ProtocolError};

/// A running call without a connection, waiting for `call.resume`.
#[derive(Debug)]
pub struct ParkedCall {
    pub call: Call,
    pub agent_id: Arc<str>,
    /// Media time reached at the call's last platform event, and when that was (the wall clock
    /// keeps advancing the call's media time from there once it is re-attached).
    pub media_at_event: u64,
    pub event_at: Instant,
    /// The call's place in its tenant's quota: parked calls count.
    pub slot: CallSlot,
}

/// The bounded output history of one call.
#[derive(Debug)]
struct Buffer {
    agent_id: Arc<str>,
    items: VecDeque<(u64, Class, Arc<str>)>,
    ended_at: Option<Instant>,
}

impl Buffer {
    /// Outputs with `after < seq <= upto`, and how many such seqs were evicted already.
    fn since(&self, after: u64, upto: u64) -> (Vec<(Class, Arc<str>)>, u64) {
        let items: Vec<(Class, Arc<str>)> = self
            .items
            .iter()
            .filter(|(s, _, _)| *s > after && *s <= upto)
            .map(|(_, c, j)| (*c, j.clone()))
            .collect();
        let oldest = self.items.front().map_or(upto + 1, |(s, _, _)| *s);
        let missed = oldest.min(upto + 1).saturating_sub(after + 1);
        (items, missed)
    }

    fn last_seq(&self) -> u64 {
        self.items.back().map_or(0, |(s, _, _)| *s)
    }
}

type Key = (Arc<str>, String);

#[derive(Debug, Default)]
struct Inner {
    buffers: HashMap<Key, Buffer>,
    parked: HashMap<Key, (ParkedCall, Instant)>,
}

/// Replay buffers and parked calls of one server.
#[derive(Debug)]
pub struct ResumeStore {
    inner: Mutex<Inner>,
    cap: usize,
}

/// What a joining agent panel gets: its hub registration, the seq each of its calls had reached
/// when it joined (later outputs reach it live), and the messages to send first.
#[derive(Debug)]
pub struct Joined {
    pub reg: u64,
    pub horizon: HashMap<String, u64>,
}

/// The answer to a resume request: the missed outputs and an acknowledgement to send after them.
#[derive(Debug)]
pub struct Replay {
    /// With their class: a panel short of room drops replayed `state`s first, as live ones.
    pub messages: Vec<(Class, Arc<str>)>,
    pub ack: String,
}

fn key(tenant: &str, call_id: &str) -> Key {
    (Arc::from(tenant), call_id.to_string())
}

fn ack(kind: &str, call_id: &str, after: u64, replayed: usize, missed: u64) -> String {
    serde_json::json!({
        "type": kind,
        "call_id": call_id,
        "after_seq": after,
        "replayed": replayed,
        "missed": missed,
    })
    .to_string()
}

fn unknown(call_id: &str) -> ProtocolError {
    ProtocolError::new(
        ErrorCode::UnknownCall,
        format!("nothing to resume for call `{call_id}` (unknown, not yours, or expired)"),
    )
    .for_call(call_id)
}

impl ResumeStore {
    pub fn new(cap: usize) -> ResumeStore {
        ResumeStore {
            inner: Mutex::new(Inner::default()),
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keep `json` (output `seq` of the call) for replay and push it to the agent's panels, both
    /// under the store lock. Returns messages dropped for slow panels, or `None` when output
    /// `seq` of this call was kept already (a re-homed call replays what was delivered).
    #[allow(clippy::too_many_arguments)]
    pub fn record_and_publish(
        &self,
        agents: &Agents,
        tenant: &Arc<str>,
        call_id: &str,
        agent_id: &Arc<str>,
        seq: u64,
        class: Class,
        json: &Arc<str>,
        ends_call: bool,
    ) -> Option<u64> {
        let mut inner = self.lock();
        let buf = inner
            .buffers
            .entry((tenant.clone(), call_id.to_string()))
            .or_insert_with(|| Buffer {
                agent_id: agent_id.clone(),
                items: VecDeque::new(),
                ended_at: None,
            });
        let known = !buf.items.is_empty() && seq <= buf.last_seq();
        if known && (buf.ended_at.is_none() || ends_call) {
            return None;
        }
        if buf.ended_at.is_some() && !ends_call {
            // A new call reusing the id of an ended one: start afresh.
            buf.items.clear();
            buf.ended_at = None;
            buf.agent_id = agent_id.clone();
        }
        if buf.items.len() >= self.cap {
            buf.items.pop_front();
        }
        buf.items.push_back((seq, class, json.clone()));
        if ends_call {
            buf.ended_at = Some(Instant::now());
        }
        Some(agents.publish(
            tenant,
            agent_id,
            AgentMsg {
                class,
                json: json.clone(),
            },
        ))
    }

    /// Register an agent panel with the hub, replaying `resume` requests (`call_id`, last seq
    /// seen) into its queue first, all under the store lock. Errors (unknown calls) are queued too.
    pub fn join_agent(
        &self,
        agents: &Agents,
        tenant: &str,
        agent_id: &str,
        queue: &Arc<AgentQueue>,
        resume: &[(String, u64)],
    ) -> Joined {
        let inner = self.lock();
        let horizon: HashMap<String, u64> = inner
            .buffers
            .iter()
            .filter(|((t, _), b)| &**t == tenant && &*b.agent_id == agent_id)
            .map(|((_, c), b)| (c.clone(), b.last_seq()))
            .collect();
        for (call_id, after) in resume {
            let r = Self::replay_locked(&inner, tenant, agent_id, call_id, *after, &horizon);
            push_replay(queue, r);
        }
        let reg = agents.add(tenant, agent_id, queue.clone());
        Joined { reg, horizon }
    }

    /// A `resume` message on an open agent socket: the outputs it missed before it joined.
    pub fn agent_resume(
        &self,
        tenant: &str,
        agent_id: &str,
        call_id: &str,
        after: u64,
        horizon: &HashMap<String, u64>,
    ) -> Result<Replay, ProtocolError> {
        let inner = self.lock();
        Self::replay_locked(&inner, tenant, agent_id, call_id, after, horizon)
    }

    fn replay_locked(
        inner: &Inner,
        tenant: &str,
        agent_id: &str,
        call_id: &str,
        after: u64,
        horizon: &HashMap<String, u64>,
    ) -> Result<Replay, ProtocolError> {
        let buf = inner
            .buffers
            .get(&key(tenant, call_id))
            .filter(|b| &*b.agent_id == agent_id)
            .ok_or_else(|| unknown(call_id))?;
        // Outputs after the horizon reached this panel live.
        let upto = horizon.get(call_id).copied().unwrap_or(0);
        let (messages, missed) = buf.since(after, upto);
        let ack = ack("resumed", call_id, after, messages.len(), missed);
        Ok(Replay { messages, ack })
    }

    /// Outputs of `call_id` after `after` for a platform that re-attached the call (or whose
    /// call ended while it was away: then the replay ends with the summary). `None` when no
    /// output of the call is kept.
    pub fn platform_replay(&self, tenant: &str, call_id: &str, after: u64) -> Option<Replay> {
        let inner = self.lock();
        let b = inner.buffers.get(&key(tenant, call_id))?;
        let (messages, missed) = b.since(after, u64::MAX - 1);
        let ack = ack("call.resumed", call_id, after, messages.len(), missed);
        Some(Replay { messages, ack })
    }

    /// Whether output `seq` of the call is kept (delivered here already).
    pub fn has_output(&self, tenant: &str, call_id: &str, seq: u64) -> bool {
        self.lock()
            .buffers
            .get(&key(tenant, call_id))
            .is_some_and(|b| !b.items.is_empty() && seq <= b.last_seq())
    }

    /// Drop the kept outputs of an ended call (its id is being reused by a new call).
    pub fn forget_ended(&self, tenant: &str, call_id: &str) {
        let mut inner = self.lock();
        let k = key(tenant, call_id);
        if inner.buffers.get(&k).is_some_and(|b| b.ended_at.is_some()) {
            inner.buffers.remove(&k);
        }
    }

    /// Whether the call's outputs are kept and the call has ended (its summary is the last).
    pub fn ended(&self, tenant: &str, call_id: &str) -> bool {
        self.lock()
            .buffers
            .get(&key(tenant, call_id))
            .is_some_and(|b| b.ended_at.is_some())
    }

    /// Park a running call of a lost connection until `deadline`.
    pub fn park(&self, tenant: &Arc<str>, call: ParkedCall, deadline: Instant) {
        let k = (tenant.clone(), call.call.call_id().to_string());
        self.lock().parked.insert(k, (call, deadline));
    }

    /// Take a parked call back (for `call.resume`).
    pub fn unpark(&self, tenant: &str, call_id: &str) -> Option<ParkedCall> {
        self.lock()
            .parked
            .remove(&key(tenant, call_id))
            .map(|(c, _)| c)
    }

    pub fn parked_len(&self) -> usize {
        self.lock().parked.len()
    }

    /// Parked calls past their deadline (all of them with `all`), removed from the store; ended
    /// calls' buffers older than `retention` are dropped.
    pub fn due(&self, now: Instant, all: bool, retention: Duration) -> Vec<(Arc<str>, ParkedCall)> {
        let mut inner = self.lock();
        let keys: Vec<Key> = inner
            .parked
            .iter()
            .filter(|(_, (_, deadline))| all || *deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let out = keys
            .into_iter()
            .filter_map(|k| inner.parked.remove(&k).map(|(c, _)| (k.0, c)))
            .collect();
        inner.buffers.retain(|_, b| {
            b.ended_at
                .is_none_or(|t| now.saturating_duration_since(t) < retention)
        });
        out
    }
}

fn push_replay(queue: &AgentQueue, r: Result<Replay, ProtocolError>) {
    match r {
        Ok(r) => {
            for (class, json) in r.messages {
                queue.push(AgentMsg { class, json });
            }
            queue.push(AgentMsg {
                class: Class::Keep,
                json: Arc::from(r.ack),
            });
        }
        Err(e) => {
            queue.push(AgentMsg {
                class: Class::Keep,
                json: Arc::from(e.to_json()),
            });
        }
    }
}

/// Queue a replay (or its error) on an agent panel.
pub fn queue_replay(queue: &AgentQueue, r: Result<Replay, ProtocolError>) {
    push_replay(queue, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(seqs: std::ops::RangeInclusive<u64>) -> Buffer {
        Buffer {
            agent_id: Arc::from("a"),
            items: seqs
                .map(|s| (s, Class::Keep, Arc::from(format!("m{s}"))))
                .collect(),
            ended_at: None,
        }
    }

    #[test]
    fn since_counts_what_fell_out_of_the_buffer() {
        let b = buf(5..=9);
        let (m, missed) = b.since(2, 100);
        assert_eq!(m.len(), 5);
        assert_eq!(missed, 2); // seqs 3 and 4
        let (m, missed) = b.since(6, 100);
        assert_eq!((m.len(), missed), (3, 0));
        let (m, missed) = b.since(6, 8);
        assert_eq!((m.len(), missed), (2, 0));
        let (m, missed) = b.since(9, 100);
        assert_eq!((m.len(), missed), (0, 0));
        let (m, missed) = b.since(0, 0);
        assert_eq!((m.len(), missed), (0, 0));
    }

    #[test]
    fn record_is_bounded_and_join_replays_once() {
        let agents = Agents::default();
        let store = ResumeStore::new(3);
        let t: Arc<str> = Arc::from("t");
        let a: Arc<str> = Arc::from("a");
        for seq in 1..=5 {
            let j: Arc<str> = Arc::from(format!("{{\"seq\":{seq}}}"));
            store.record_and_publish(&agents, &t, "c", &a, seq, Class::Keep, &j, false);
        }
        let q = Arc::new(AgentQueue::new(16));
        let joined = store.join_agent(&agents, "t", "a", &q, &[("c".into(), 1), ("zz".into(), 0)]);
        assert_eq!(joined.horizon.get("c"), Some(&5));
        let got: Vec<String> = std::iter::from_fn(|| q.try_pop())
            .map(|m| m.json.to_string())
            .collect();
        assert_eq!(got[..3], ["{\"seq\":3}", "{\"seq\":4}", "{\"seq\":5}"]);
        assert!(
            got[3].contains("\"resumed\"") && got[3].contains("\"missed\":1"),
            "{}",
            got[3]
        );
        assert!(got[4].contains("unknown_call"));
        // Live from now on: published to the queue, not replayed again by a later `resume`.
        let j: Arc<str> = Arc::from("{\"seq\":6}");
        store.record_and_publish(&agents, &t, "c", &a, 6, Class::Keep, &j, false);
        assert_eq!(q.try_pop().unwrap().json.to_string(), "{\"seq\":6}");
        let r = store
            .agent_resume("t", "a", "c", 4, &joined.horizon)
            .unwrap();
        assert_eq!(r.messages.len(), 1); // seq 5 only; 6 came live
                                         // Other tenants and other agents see nothing.
        assert!(store
            .agent_resume("u", "a", "c", 0, &joined.horizon)
            .is_err());
        assert!(store
            .agent_resume("t", "b", "c", 0, &joined.horizon)
            .is_err());
    }

    #[test]
    fn an_output_kept_already_is_not_published_again() {
        let agents = Agents::default();
        let store = ResumeStore::new(8);
        let (t, a): (Arc<str>, Arc<str>) = (Arc::from("t"), Arc::from("a"));
        let q = Arc::new(AgentQueue::new(16));
        agents.add("t", "a", q.clone());
        let j = |s: u64| -> Arc<str> { Arc::from(format!("{{\"seq\":{s}}}")) };
        for seq in 1..=3 {
            assert!(store
                .record_and_publish(&agents, &t, "c", &a, seq, Class::Keep, &j(seq), false)
                .is_some());
        }
        // A re-homed call regenerates seqs 1..=4: only 4 is new.
        let again: Vec<bool> = (1..=4)
            .map(|seq| {
                store
                    .record_and_publish(&agents, &t, "c", &a, seq, Class::Keep, &j(seq), false)
                    .is_some()
            })
            .collect();
        assert_eq!(again, [false, false, false, true]);
        assert!(store.has_output("t", "c", 4) && !store.has_output("t", "c", 5));
        let got: Vec<String> = std::iter::from_fn(|| q.try_pop())
            .map(|m| m.json.to_string())
            .collect();
        assert_eq!(
            got,
            ["{\"seq\":1}", "{\"seq\":2}", "{\"seq\":3}", "{\"seq\":4}"]
        );
        // A summary that was delivered is not delivered twice; a new call with the id starts over.
        assert!(store
            .record_and_publish(&agents, &t, "c", &a, 5, Class::Keep, &j(5), true)
            .is_some());
        assert!(store
            .record_and_publish(&agents, &t, "c", &a, 5, Class::Keep, &j(5), true)
            .is_none());
        assert!(store
            .record_and_publish(&agents, &t, "c", &a, 1, Class::Keep, &j(1), false)
            .is_some());
    }

    #[test]
    fn a_full_replay_does_not_jam_a_panel_queue() {
        let agents = Agents::default();
        let store = ResumeStore::new(256);
        let t: Arc<str> = Arc::from("t");
        let a: Arc<str> = Arc::from("a");
        for seq in 1..=300 {
            let class = if seq % 50 == 0 {
                Class::Keep
            } else {
                Class::State
            };
            let j: Arc<str> = Arc::from(format!("{{\"seq\":{seq}}}"));
            store.record_and_publish(&agents, &t, "c", &a, seq, class, &j, false);
        }
        let q = Arc::new(AgentQueue::new(256));
        store.join_agent(&agents, "t", "a", &q, &[("c".into(), 0)]);
        assert!(!q.stuck().is_cancelled());
        let got: Vec<String> = std::iter::from_fn(|| q.try_pop())
            .map(|m| m.json.to_string())
            .collect();
        // Every kept message (seq 50, 100... within the buffer) and the ack made it.
        for seq in [100, 150, 200, 250, 300] {
            assert!(got.contains(&format!("{{\"seq\":{seq}}}")), "{seq}");
        }
        assert!(got.last().unwrap().contains("\"missed\":44"));
    }
}
