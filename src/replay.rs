//! Replaying protocol messages through the engine: `calma replay FILE.jsonl` and
//! `POST /v1/analyze` share this, and the live server uses the same [`Session`], so all three
//! produce the same bytes for the same input.

use std::sync::Arc;

use serde_json::Value;

use crate::engine::{Resources, Session};
use crate::protocol::{parse_value, CallStart, Inbound, Outbound, ParseLimits, ProtocolError};

/// Calls a replay file may carry.
pub const REPLAY_MAX_CALLS: usize = 100_000;

/// Replay JSONL text: one protocol message per line (blank lines and `#` comments skipped).
/// Returns every output line, errors included, as the stream would have sent them; calls still
/// open at the end of the input are ended (with their summaries) in call-id order.
pub fn replay_jsonl(res: Arc<Resources>, text: &str, limits: &ParseLimits) -> Vec<String> {
    let mut session = Session::new(res, REPLAY_MAX_CALLS);
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        match crate::protocol::parse_inbound(l, limits).and_then(|m| session.handle(m)) {
            Ok(outs) => lines.extend(outs.iter().map(|o| o.to_json())),
            Err(mut e) => {
                e.message = format!("line {}: {}", i + 1, e.message);
                lines.push(e.to_json());
            }
        }
    }
    lines.extend(session.end_all().iter().map(|o| o.to_json()));
    lines
}

/// A `POST /v1/analyze` request body.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct AnalyzeRequest {
    pub call_id: String,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub campaign: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    pub events: Vec<Value>,
}

/// Run a batch request: the events of one call, in arrival order. Returns every output in order,
/// ending with `call.summary`; the first bad event is an error naming its index.
pub fn analyze(
    res: Arc<Resources>,
    req: AnalyzeRequest,
    limits: &ParseLimits,
) -> Result<Vec<Outbound>, ProtocolError> {
    let mut session = Session::new(res, 1);
    let start = CallStart {
        call_id: req.call_id.clone(),
        agent_id: req.agent_id.unwrap_or_else(|| "batch".to_string()),
        campaign: req.campaign,
        language: req.language,
        customer_id: None,
        prior_contacts_7d: None,
    };
    let mut outputs = Vec::new();
    session.handle(Inbound::CallStart(start))?;
    for (i, mut ev) in req.events.into_iter().enumerate() {
        if let Value::Object(map) = &mut ev {
            map.entry("call_id")
                .or_insert_with(|| Value::String(req.call_id.clone()));
        }
        let msg = parse_value(ev, limits).map_err(|mut e| {
            e.message = format!("events[{i}]: {}", e.message);
            e
        })?;
        match &msg {
            Inbound::Segment(_) | Inbound::Tick(_) => {}
            _ => {
                return Err(ProtocolError::new(
                    crate::protocol::ErrorCode::NotAllowedHere,
                    format!("events[{i}]: only segment and tick events belong in a batch"),
                ))
            }
        }
        if msg.call_id() != req.call_id {
            return Err(ProtocolError::new(
                crate::protocol::ErrorCode::InvalidField,
                format!("events[{i}]: call_id differs from the request's call_id"),
            ));
        }
        outputs.extend(session.handle(msg)?);
    }
    outputs.extend(session.end_all());
    Ok(outputs)
}

/// The `POST /v1/analyze` response body, serialised message by message exactly as the stream
/// serialises them, so batch and live bytes match.
pub fn analyze_response(outputs: &[Outbound]) -> String {
    let mut body = String::from("{\"outputs\":[");
    for (i, o) in outputs.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&o.to_json());
    }
    body.push_str("]}");
    body
}
