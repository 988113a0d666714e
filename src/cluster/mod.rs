//! Cluster mode (`calma serve --cluster nats://HOST:PORT`): several nodes behind one NATS server.
//!
//! - A call runs on the node whose platform connection carries it (the *owner*); the owner
//!   logs every engine input of the call to JetStream ([`subject::call_events`], bounded per call)
//!   and publishes its outputs and board events on `calma.v1.{tenant}.out.>`.
//! - Every node subscribes to those: agent panels and supervisor boards on any node see the
//!   tenant's calls wherever they run (a node applies a bus message only to its own sockets of
//!   the tenant named by the message's subject).
//! - When the owner dies, the platform reconnects to any node with `call.resume`; that node asks
//!   the holder to let the call go ([`subject::call_ctl`] `release`; nobody answers for a dead
//!   node), reads the call's log and rebuilds it ([`rehome`]); outputs are delivered once by `seq`.
//! - Agent feedback given on a node that does not hold the call is forwarded to the holder
//!   (`ctl.feedback`).
//! - Nodes send heartbeats; a call whose node went silent and that no platform resumed within
//!   the grace period is ended by one surviving node, chosen by rendezvous hashing over the
//!   live nodes (all agree without talking), from the call's log: its summary reaches agents
//!   and boards as on a single node when a parked call expires.
//!
//! This module is the transport only: it knows NATS, subjects and the wire, and nothing of
//! sockets. The hub calls [`Cluster`] (publishing never blocks: a queue feeds one publisher
//! task, which keeps the order of a call's messages); the server applies what arrives
//! ([`Remote`]) to the hub.

pub mod rehome;
pub mod subject;
pub mod wire;

use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use async_nats::jetstream::{self, stream};
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::protocol::{ErrorCode, Feedback, ProtocolError};
use wire::{CallEvent, FeedbackReply, FeedbackRequest, OutMsg};

/// How long a node answering a release request may take (it flushes the call's log first).
const RELEASE_WAIT: Duration = Duration::from_secs(2);
/// How long the holder of a call may take to apply forwarded feedback.
const FEEDBACK_WAIT: Duration = Duration::from_secs(2);
/// Messages waiting for the publisher task; past this they are dropped (and counted).
const PUBLISH_QUEUE: usize = 65_536;
/// What the server must apply, waiting for it.
const REMOTE_QUEUE: usize = 8_192;
/// How often a node says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node not heard from for this long is dead.
const DEAD_AFTER: Duration = Duration::from_secs(3);

/// Settings of the cluster link.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `nats://HOST:PORT`.
    pub url: String,
    /// Events kept per call in the log; a call with more cannot be rebuilt (its start is gone).
    pub log_events_per_call: i64,
    /// How long a call's log is kept.
    pub log_max_age: Duration,
}

impl ClusterConfig {
    pub fn new(url: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            url: url.into(),
            log_events_per_call: 20_000,
            log_max_age: Duration::from_secs(4 * 3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot connect to NATS at {url}: {why}")]
    Connect { url: String, why: String },
    #[error("JetStream: {0}")]
    JetStream(String),
}

/// Something from another node for this node's hub.
#[derive(Debug)]
pub enum Remote {
    /// An output or board event of a call owned elsewhere.
    Out(OutMsg),
    /// Another node takes the call over: let it go (not ended) and answer once its log is
    /// complete on the server.
    Release {
        tenant: String,
        call_id: String,
        done: oneshot::Sender<()>,
    },
    /// Agent feedback from another node for a call this node holds.
    Feedback {
        tenant: String,
        agent_id: String,
        feedback: Feedback,
        done: oneshot::Sender<Result<(), ProtocolError>>,
    },
}

enum Cmd {
    Publish {
        subject: String,
        payload: Vec<u8>,
    },
    Log {
        subject: String,
        payload: Vec<u8>,
    },
    /// Serve release requests for a call this node holds.
    Hold {
        tenant: String,
        call_id: String,
    },
    Unhold {
        tenant: String,
        call_id: String,
    },
    /// Every message queued before this is on the server (log writes acknowledged).
    Flush(oneshot::Sender<()>),
}

/// This node's link to the cluster.
#[derive(Debug)]
pub struct Cluster {
    client: async_nats::Client,
    events: stream::Stream,
    tx: mpsc::Sender<Cmd>,
    dropped: AtomicU64,
    /// This node's id (random per process).
    node: String,
    /// Other nodes, and when they were last heard from.
    nodes: Mutex<HashMap<String, Instant>>,
    /// Calls running on other nodes: (tenant, call id) → node.
    owners: Mutex<HashMap<(String, String), String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Rendezvous weight of `node` for a call: every node computes the same.
fn weight(node: &str, tenant: &str, call_id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [node, tenant, call_id] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

impl Cluster {
    /// Connect, make sure the event log stream exists, and start the publisher and subscriber
    /// tasks. The receiver yields what this node must apply.
    pub async fn connect(
        cfg: &ClusterConfig,
        node_name: &str,
    ) -> Result<(Arc<Cluster>, mpsc::Receiver<Remote>), ClusterError> {
        let client = async_nats::ConnectOptions::new()
            .name(node_name)
            // A node applies its own outputs locally; it must not get them back from the bus.
            .no_echo()
            .connect(cfg.url.as_str())
            .await
            .map_err(|e| ClusterError::Connect {
                url: cfg.url.clone(),
                why: e.to_string(),
            })?;
        let js = jetstream::new(client.clone());
        let events = js
            .get_or_create_stream(stream::Config {
                name: "CALMA_CALL_EVENTS".to_string(),
                subjects: vec![subject::ALL_EVENTS.to_string()],
                max_messages_per_subject: cfg.log_events_per_call,
                max_age: cfg.log_max_age,
                discard: stream::DiscardPolicy::Old,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| ClusterError::JetStream(e.to_string()))?;
        let sub_err = |e: async_nats::SubscribeError| ClusterError::JetStream(e.to_string());
        let out_sub = client.subscribe(subject::ALL_OUT).await.map_err(sub_err)?;
        let nodes_sub = client
            .subscribe(subject::ALL_NODES)
            .await
            .map_err(sub_err)?;
        let (tx, rx) = mpsc::channel(PUBLISH_QUEUE);
        let (remote_tx, remote_rx) = mpsc::channel(REMOTE_QUEUE);
        let seed = format!(
            "{node_name} {} {:?}",
            std::process::id(),
            std::time::SystemTime::now()
        );
        let node: String = Sha256::digest(seed.as_bytes())[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let cluster = Arc::new(Cluster {
            client: client.clone(),
            events,
            tx,
            dropped: AtomicU64::new(0),
            node,
            nodes: Mutex::new(HashMap::new()),
            owners: Mutex::new(HashMap::new()),
        });
        tokio::spawn(publisher(client, js, rx, remote_tx.clone()));
        tokio::spawn(receive_out(cluster.clone(), out_sub, remote_tx));
        tokio::spawn(heartbeats(cluster.clone(), nodes_sub));
        Ok((cluster, remote_rx))
    }

    fn queue(&self, cmd: Cmd) {
        if self.tx.try_send(cmd).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "cluster publish queue full: messages dropped");
            }
        }
    }

    /// This node's id in the cluster.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// This node runs the call now (re-homed here): the others learn it, and stop waiting for
    /// its old node.
    pub fn claim(&self, tenant: &str, call_id: &str) {
        lock(&self.owners).remove(&(tenant.to_string(), call_id.to_string()));
        self.publish(&OutMsg::Moved {
            tenant: tenant.to_string(),
            call_id: call_id.to_string(),
            node: self.node.clone(),
        });
    }

    /// Calls whose node has been silent for `grace` past being declared dead, that this node
    /// must end (the rendezvous choice among live nodes). Each is returned once.
    pub fn orphans(&self, grace: Duration) -> Vec<(String, String)> {
        let now = Instant::now();
        let nodes = lock(&self.nodes);
        let live: Vec<&str> = nodes
            .iter()
            .filter(|(_, seen)| now.saturating_duration_since(**seen) < DEAD_AFTER)
            .map(|(n, _)| n.as_str())
            .chain(std::iter::once(self.node.as_str()))
            .collect();
        let expired = |node: &str| {
            nodes
                .get(node)
                .is_none_or(|seen| now.saturating_duration_since(*seen) >= DEAD_AFTER + grace)
        };
        let mut owners = lock(&self.owners);
        let mine: Vec<(String, String)> = owners
            .iter()
            .filter(|(_, node)| expired(node))
            .filter(|((t, c), _)| {
                live.iter().max_by_key(|n| weight(n, t, c)).copied() == Some(self.node.as_str())
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in &mine {
            owners.remove(k);
        }
        mine
    }

    /// Keep track of which node runs which call (from the bus).
    fn track(&self, msg: &OutMsg) {
        let mut owners = lock(&self.owners);
        match msg {
            OutMsg::CallStart {
                tenant,
                call_id,
                node,
                ..
            }
            | OutMsg::Moved {
                tenant,
                call_id,
                node,
            } => {
                owners.insert((tenant.clone(), call_id.clone()), node.clone());
                // First sight of a node counts as a heartbeat.
                lock(&self.nodes)
                    .entry(node.clone())
                    .or_insert_with(Instant::now);
            }
            OutMsg::CallEnd {
                tenant, call_id, ..
            } => {
                owners.remove(&(tenant.clone(), call_id.clone()));
            }
            OutMsg::Output { .. } | OutMsg::Segment { .. } => {}
        }
    }

    /// Log one engine input of a call this node owns.
    pub fn log_event(&self, tenant: &str, call_id: &str, ev: &CallEvent) {
        let payload = serde_json::to_vec(ev).expect("call events always serialise");
        self.queue(Cmd::Log {
            subject: subject::call_events(tenant, call_id),
            payload,
        });
    }

    /// Tell the other nodes about an output or board event of a call this node owns.
    pub fn publish(&self, msg: &OutMsg) {
        let subject = match msg {
            OutMsg::Output {
                tenant, agent_id, ..
            } => subject::agent_out(tenant, agent_id),
            other => subject::board_out(other.tenant()),
        };
        let payload = serde_json::to_vec(msg).expect("bus messages always serialise");
        self.queue(Cmd::Publish { subject, payload });
    }

    /// This node now holds the call: answer release requests for it.
    pub fn hold(&self, tenant: &str, call_id: &str) {
        self.queue(Cmd::Hold {
            tenant: tenant.to_string(),
            call_id: call_id.to_string(),
        });
    }

    /// The call ended here or moved to another node.
    pub fn unhold(&self, tenant: &str, call_id: &str) {
        self.queue(Cmd::Unhold {
            tenant: tenant.to_string(),
            call_id: call_id.to_string(),
        });
    }

    /// Wait until everything queued so far is on the server.
    pub async fn flush(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Cmd::Flush(done)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Take a call over from whichever node holds it (a dead node holds nothing) and read its
    /// log, oldest event first.
    pub async fn take_over(
        &self,
        tenant: &str,
        call_id: &str,
    ) -> Result<Vec<CallEvent>, ClusterError> {
        let ask = self.client.request(
            subject::call_ctl(tenant, call_id, subject::CTL_RELEASE),
            Vec::new().into(),
        );
        match tokio::time::timeout(RELEASE_WAIT, ask).await {
            Ok(Ok(_)) => tracing::info!(call = call_id, "call released by its node"),
            Ok(Err(e)) => tracing::debug!(call = call_id, error = %e, "no node holds the call"),
            Err(_) => tracing::warn!(call = call_id, "release request timed out"),
        }
        self.read_log(tenant, call_id).await
    }

    /// Agent feedback for a call no connection of this node carries: the node holding it
    /// applies it (or refuses it with the usual typed error).
    pub async fn feedback(
        &self,
        tenant: &str,
        agent_id: &str,
        feedback: Feedback,
    ) -> Result<(), ProtocolError> {
        let call_id = feedback.call_id.clone();
        let unknown = |why: &str| {
            ProtocolError::new(
                ErrorCode::UnknownCall,
                format!("no open call `{call_id}`{why}"),
            )
            .for_call(&call_id)
        };
        let req = FeedbackRequest {
            agent_id: agent_id.to_string(),
            feedback: feedback.clone(),
        };
        let payload = serde_json::to_vec(&req).expect("feedback always serialises");
        let ask = self.client.request(
            subject::call_ctl(tenant, &feedback.call_id, subject::CTL_FEEDBACK),
            payload.into(),
        );
        match tokio::time::timeout(FEEDBACK_WAIT, ask).await {
            Ok(Ok(msg)) => match serde_json::from_slice::<FeedbackReply>(&msg.payload) {
                Ok(FeedbackReply { error: None }) => Ok(()),
                Ok(FeedbackReply { error: Some(e) }) => Err(e),
                Err(_) => Err(unknown(": unreadable answer from its node")),
            },
            Ok(Err(_)) => Err(unknown("")),
            Err(_) => Err(unknown(": its node did not answer in time")),
        }
    }

    async fn read_log(&self, tenant: &str, call_id: &str) -> Result<Vec<CallEvent>, ClusterError> {
        use async_nats::jetstream::stream::RawMessageErrorKind;
        let subject = subject::call_events(tenant, call_id);
        let mut out = Vec::new();
        let mut seq = 1;
        loop {
            let got = self
                .events
                .raw_message_builder()
                .sequence(seq)
                .next_by_subject(subject.clone())
                .send()
                .await;
            let msg = match got {
                Ok(m) => m,
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => break,
                Err(e) => return Err(ClusterError::JetStream(e.to_string())),
            };
            seq = msg.sequence + 1;
            match serde_json::from_slice::<CallEvent>(&msg.payload) {
                Ok(ev) => out.push(ev),
                Err(e) => {
                    tracing::warn!(call = call_id, error = %e, "unreadable call event skipped")
                }
            }
        }
        Ok(out)
    }
}

/// The one task that writes to NATS, in queue order.
async fn publisher(
    client: async_nats::Client,
    js: jetstream::Context,
    mut rx: mpsc::Receiver<Cmd>,
    remote: mpsc::Sender<Remote>,
) {
    let mut acks = FuturesUnordered::new();
    let mut held: HashMap<(String, String), AbortHandle> = HashMap::new();
    loop {
        tokio::select! {
            Some(r) = acks.next(), if !acks.is_empty() => {
                let r: Result<_, async_nats::jetstream::context::PublishError> = r;
                if let Err(e) = r {
                    tracing::warn!(error = %e, "call event not stored by JetStream");
                }
            }
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { break };
                match cmd {
                    Cmd::Publish { subject, payload } => {
                        if let Err(e) = client.publish(subject, payload.into()).await {
                            tracing::warn!(error = %e, "cluster publish failed");
                        }
                    }
                    Cmd::Log { subject, payload } => match js.publish(subject, payload.into()).await {
                        Ok(ack) => acks.push(ack.into_future()),
                        Err(e) => tracing::warn!(error = %e, "call event not sent to JetStream"),
                    },
                    Cmd::Hold { tenant, call_id } => {
                        let key = (tenant.clone(), call_id.clone());
                        if held.get(&key).is_some_and(|h| !h.is_finished()) {
                            continue;
                        }
                        // Calls released to other nodes leave finished entries: sweep them now
                        // and then (amortised over many holds).
                        if held.len() >= 1024 && held.len().is_power_of_two() {
                            held.retain(|_, h| !h.is_finished());
                        }
                        match client.subscribe(subject::call_ctl(&tenant, &call_id, "*")).await {
                            Ok(sub) => {
                                let task = tokio::spawn(answer_ctl(
                                    client.clone(), sub, tenant, call_id, remote.clone(),
                                ));
                                held.insert(key, task.abort_handle());
                            }
                            Err(e) => tracing::warn!(error = %e, "cannot serve release requests"),
                        }
                    }
                    Cmd::Unhold { tenant, call_id } => {
                        if let Some(task) = held.remove(&(tenant, call_id)) {
                            task.abort();
                        }
                    }
                    Cmd::Flush(done) => {
                        while let Some(r) = acks.next().await {
                            if let Err(e) = r {
                                tracing::warn!(error = %e, "call event not stored by JetStream");
                            }
                        }
                        let _ = client.flush().await;
                        let _ = done.send(());
                    }
                }
            }
        }
    }
}

/// Answer requests for one call this node holds: feedback, until a release request takes the
/// call away from here.
async fn answer_ctl(
    client: async_nats::Client,
    mut sub: async_nats::Subscriber,
    tenant: String,
    call_id: String,
    remote: mpsc::Sender<Remote>,
) {
    while let Some(msg) = sub.next().await {
        let what = msg.subject.rsplit('.').next().unwrap_or_default();
        let release = what == subject::CTL_RELEASE;
        let answer: Vec<u8> = if release {
            let (done, rx) = oneshot::channel();
            let ask = Remote::Release {
                tenant: tenant.clone(),
                call_id: call_id.clone(),
                done,
            };
            if remote.send(ask).await.is_err() {
                return;
            }
            let _ = rx.await;
            Vec::new()
        } else if what == subject::CTL_FEEDBACK {
            let error = match serde_json::from_slice::<FeedbackRequest>(&msg.payload) {
                Ok(req) if req.feedback.call_id == call_id => {
                    let (done, rx) = oneshot::channel();
                    let ask = Remote::Feedback {
                        tenant: tenant.clone(),
                        agent_id: req.agent_id,
                        feedback: req.feedback,
                        done,
                    };
                    if remote.send(ask).await.is_err() {
                        return;
                    }
                    rx.await
                        .unwrap_or_else(|_| {
                            Err(ProtocolError::new(ErrorCode::UnknownCall, "the call ended")
                                .for_call(&call_id))
                        })
                        .err()
                }
                _ => Some(
                    ProtocolError::new(ErrorCode::InvalidField, "unreadable forwarded feedback")
                        .for_call(&call_id),
                ),
            };
            serde_json::to_vec(&FeedbackReply { error }).expect("replies always serialise")
        } else {
            continue;
        };
        if let Some(reply) = msg.reply {
            let _ = client.publish(reply, answer.into()).await;
        }
        if release {
            return;
        }
    }
}

/// Outputs and board events from other nodes, checked and handed to the server in order.
async fn receive_out(
    cluster: Arc<Cluster>,
    mut sub: async_nats::Subscriber,
    remote: mpsc::Sender<Remote>,
) {
    while let Some(msg) = sub.next().await {
        let Ok(out) = serde_json::from_slice::<OutMsg>(&msg.payload) else {
            tracing::warn!(subject = %msg.subject, "unreadable cluster message dropped");
            continue;
        };
        // Tenants never meet: the tenant in the body must be the subject's.
        if subject::tenant_of(&msg.subject).as_deref() != Some(out.tenant()) {
            tracing::warn!(subject = %msg.subject, "cluster message for another tenant dropped");
            continue;
        }
        cluster.track(&out);
        if remote.send(Remote::Out(out)).await.is_err() {
            return;
        }
    }
}

/// Say this node is alive every [`HEARTBEAT`], and note when the others did.
async fn heartbeats(cluster: Arc<Cluster>, mut sub: async_nats::Subscriber) {
    let mut beat = tokio::time::interval(HEARTBEAT);
    let me = subject::node_alive(&cluster.node);
    loop {
        tokio::select! {
            _ = beat.tick() => {
                if cluster.client.publish(me.clone(), Vec::new().into()).await.is_err() {
                    return;
                }
            }
            msg = sub.next() => {
                let Some(msg) = msg else { return };
                if let Some(node) = msg.subject.rsplit('.').next().and_then(subject::untoken) {
                    lock(&cluster.nodes).insert(node, Instant::now());
                }
            }
        }
    }
}
