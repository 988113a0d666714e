//! Cluster mode (`calma serve --cluster nats://HOST:PORT`): several nodes behind one NATS server.
//!
//! - A call runs on the node whose platform connection carries it (the *owner*); the owner
//!   logs every engine input of the call to JetStream ([`subject::call_events`], bounded per call)
//!   and publishes its outputs and board events on `calma.v1.{tenant}.out.>`.
//! - Every node subscribes to those: agent panels and supervisor boards on any node see the
//!   tenant's calls wherever they run (a node applies a bus message only to its own sockets of
//!   the tenant named by the message's subject).
//! - When the owner dies, the platform reconnects to any node with `call.resume`; that node asks
//!   the holder to let the call go ([`subject::call_release`]; nobody answers for a dead node),
//!   reads the call's log and rebuilds it ([`rehome`]); outputs are delivered once by `seq`.
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
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use wire::{CallEvent, OutMsg};

/// How long a node answering a release request may take (it flushes the call's log first).
const RELEASE_WAIT: Duration = Duration::from_secs(2);
/// Messages waiting for the publisher task; past this they are dropped (and counted).
const PUBLISH_QUEUE: usize = 65_536;
/// What the server must apply, waiting for it.
const REMOTE_QUEUE: usize = 8_192;

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
        let out_sub = client
            .subscribe(subject::ALL_OUT)
            .await
            .map_err(|e| ClusterError::JetStream(e.to_string()))?;
        let (tx, rx) = mpsc::channel(PUBLISH_QUEUE);
        let (remote_tx, remote_rx) = mpsc::channel(REMOTE_QUEUE);
        tokio::spawn(publisher(client.clone(), js, rx, remote_tx.clone()));
        tokio::spawn(receive_out(out_sub, remote_tx));
        let cluster = Arc::new(Cluster {
            client,
            events,
            tx,
            dropped: AtomicU64::new(0),
        });
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

    /// Messages that could not be queued for the bus (NATS too slow or away).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
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
        let ask = self
            .client
            .request(subject::call_release(tenant, call_id), Vec::new().into());
        match tokio::time::timeout(RELEASE_WAIT, ask).await {
            Ok(Ok(_)) => tracing::info!(call = call_id, "call released by its node"),
            Ok(Err(e)) => tracing::debug!(call = call_id, error = %e, "no node holds the call"),
            Err(_) => tracing::warn!(call = call_id, "release request timed out"),
        }
        self.read_log(tenant, call_id).await
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
                        match client.subscribe(subject::call_release(&tenant, &call_id)).await {
                            Ok(sub) => {
                                let task = tokio::spawn(answer_release(
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

/// Answer the release request for one call this node holds; the call is then gone from here.
async fn answer_release(
    client: async_nats::Client,
    mut sub: async_nats::Subscriber,
    tenant: String,
    call_id: String,
    remote: mpsc::Sender<Remote>,
) {
    if let Some(msg) = sub.next().await {
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
        if let Some(reply) = msg.reply {
            let _ = client.publish(reply, Vec::new().into()).await;
        }
    }
}

/// Outputs and board events from other nodes, checked and handed to the server in order.
async fn receive_out(mut sub: async_nats::Subscriber, remote: mpsc::Sender<Remote>) {
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
        if remote.send(Remote::Out(out)).await.is_err() {
            return;
        }
    }
}
