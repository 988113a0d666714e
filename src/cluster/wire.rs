//! What travels between nodes: JSON, one message per NATS message.

use serde::{Deserialize, Serialize};

use crate::protocol::{CallStart, Feedback, ProtocolError, Segment};

/// One input of a call's engine, in the order the owning node applied it. Replaying a call's
/// events from its `start` through a fresh engine gives the same outputs (the engine is
/// deterministic on media time), which is how another node re-homes the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "snake_case")]
pub enum CallEvent {
    /// `call.start`, as the engine got it (after the history lookup filled in context).
    Start(CallStart),
    Segment(Segment),
    /// A platform tick or the owning node's wall clock advancing an idle call.
    Tick {
        at_ms: u64,
    },
    Feedback {
        nudge_id: String,
        useful: bool,
    },
    /// `call.end`, an idle timeout or the connection closing.
    End,
}

impl CallEvent {
    pub fn feedback(f: &Feedback) -> CallEvent {
        CallEvent::Feedback {
            nudge_id: f.nudge_id.clone(),
            useful: f.useful,
        }
    }
}

/// A message on `calma.v1.{tenant}.out.>`: what other nodes show on their agent panels and
/// supervisor boards. The tenant is in the subject and repeated here; a node drops a message
/// whose two disagree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "m", rename_all = "snake_case")]
pub enum OutMsg {
    /// An engine output (`json` exactly as the platform got it).
    Output {
        tenant: String,
        call_id: String,
        agent_id: String,
        seq: u64,
        json: String,
    },
    CallStart {
        tenant: String,
        call_id: String,
        agent_id: String,
        campaign: String,
        /// The node running it.
        node: String,
    },
    /// The call was re-homed: `node` runs it now.
    Moved {
        tenant: String,
        call_id: String,
        node: String,
    },
    /// A final segment for the board's transcript (already redacted when the call redacts).
    Segment { tenant: String, segment: Segment },
    CallEnd {
        tenant: String,
        call_id: String,
        agent_id: String,
    },
}

impl OutMsg {
    pub fn tenant(&self) -> &str {
        match self {
            OutMsg::Output { tenant, .. }
            | OutMsg::CallStart { tenant, .. }
            | OutMsg::Moved { tenant, .. }
            | OutMsg::Segment { tenant, .. }
            | OutMsg::CallEnd { tenant, .. } => tenant,
        }
    }
}

/// Agent feedback forwarded to the node holding the call (`ctl.feedback`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRequest {
    pub agent_id: String,
    pub feedback: Feedback,
}

/// The holder's answer: `error` as the agent's own node would have given it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackReply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ProtocolError>,
}
