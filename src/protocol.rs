//! Protocol v1: the JSON messages calma reads and writes.
//!
//! Every message is one JSON object with a `"type"` tag. Unknown fields are ignored so platforms can
//! send richer payloads; unknown types are refused with a typed [`ErrorCode::UnknownType`].
//! Parsing is two-step (JSON, then shape) so a client learns *which* of the two went wrong.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Protocol version reported by `/healthz` and documented in `docs/protocol.md`.
pub const PROTOCOL_VERSION: &str = "v1";

/// Who spoke a segment.
/// Common platform spellings are accepted on input ("caller", "client", "cliente"; "operator",
/// "agente"); calma always writes `customer` and `agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    #[serde(alias = "caller", alias = "client", alias = "cliente", alias = "user")]
    Customer,
    #[serde(alias = "operator", alias = "agente", alias = "rep")]
    Agent,
}

impl Speaker {
    pub fn other(self) -> Speaker {
        match self {
            Speaker::Customer => Speaker::Agent,
            Speaker::Agent => Speaker::Customer,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::Customer => "customer",
            Speaker::Agent => "agent",
        }
    }
}

/// `call.start`: opens a call on this connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallStart {
    pub call_id: String,
    /// Optional on input (a call without an agent is still analysed; no panel receives it).
    #[serde(default = "unassigned")]
    pub agent_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// BCP-47-ish language hint from the platform ("es", "es-MX", "en"...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Where the customer speaks from ("es-MX", "es-AR"…): overrides the campaign's `region` for
    /// the regional reading of words. A code calma has no readings for means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The platform's id of the customer (ANI, CRM id), for the customer context of the next
    /// call. Personal data: calma keeps only a keyed hash of it and never echoes it.
    #[serde(default, skip_serializing)]
    pub customer_id: Option<String>,
    /// The customer's earlier contacts in the last 7 days: filled in by calma from its history
    /// when `customer_id` is known (a platform may send it itself). From the second earlier
    /// contact on, the call starts *tense*.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_contacts_7d: Option<u32>,
}

/// `segment`: one revision of a transcript segment. Partials (`final: false`) are replaced by later
/// revisions with the same `segment_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    #[serde(default)]
    pub call_id: String,
    /// Optional on input: when absent it is derived from speaker and start time, which the
    /// revisions of one utterance share.
    #[serde(default)]
    pub segment_id: String,
    pub speaker: Speaker,
    pub text: String,
    #[serde(deserialize_with = "millis")]
    pub start_ms: u64,
    #[serde(deserialize_with = "millis")]
    pub end_ms: u64,
    #[serde(rename = "final", default = "default_true")]
    pub is_final: bool,
}

fn default_true() -> bool {
    true
}

fn unassigned() -> String {
    "unassigned".to_string()
}

/// Media milliseconds: an integer, or a float some pipelines send (rounded); never negative.
fn millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = serde_json::Number::deserialize(d)?;
    if let Some(u) = v.as_u64() {
        return Ok(u);
    }
    match v.as_f64() {
        Some(f) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => Ok(f.round() as u64),
        _ => Err(serde::de::Error::custom(format!(
            "expected a non-negative number of milliseconds, got {v}"
        ))),
    }
}

/// `tick`: media time advances with no speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    #[serde(default)]
    pub call_id: String,
    #[serde(deserialize_with = "millis")]
    pub at_ms: u64,
}

/// `call.end`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEnd {
    pub call_id: String,
}

/// `feedback` from the agent panel: was this nudge useful?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    pub call_id: String,
    pub nudge_id: String,
    pub useful: bool,
}

/// `call.resume` (platform) and `resume` (agent panel): send me the outputs of `call_id` with
/// `seq > after_seq` that I missed, then carry on live. Handled by the server shell, not the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    pub call_id: String,
    #[serde(default)]
    pub after_seq: u64,
}

/// A message from a platform (or agent panel) to calma.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    CallStart(CallStart),
    Segment(Segment),
    Tick(Tick),
    CallEnd(CallEnd),
    Feedback(Feedback),
    /// `call.resume` on a platform connection: re-attach a call of a lost connection.
    CallResume(Resume),
    /// `resume` on an agent socket: replay what the panel missed.
    Resume(Resume),
}

impl Inbound {
    pub fn call_id(&self) -> &str {
        match self {
            Inbound::CallStart(m) => &m.call_id,
            Inbound::Segment(m) => &m.call_id,
            Inbound::Tick(m) => &m.call_id,
            Inbound::CallEnd(m) => &m.call_id,
            Inbound::Feedback(m) => &m.call_id,
            Inbound::CallResume(m) | Inbound::Resume(m) => &m.call_id,
        }
    }
}

/// Machine-readable error codes, stable across versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not valid JSON (or not a JSON object).
    BadJson,
    /// `type` names no message of protocol v1.
    UnknownType,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong type or an impossible value.
    InvalidField,
    /// The message refers to a call this connection has not started (or already ended).
    UnknownCall,
    /// `call.start` for a call that is already running.
    DuplicateCall,
    /// The frame is larger than the configured limit.
    MessageTooLarge,
    /// The segment text is longer than the configured limit.
    TextTooLong,
    /// Binary frames are not part of the protocol.
    BinaryFrame,
    /// Too many calls on this connection, for this tenant or in this process (`quota` says which).
    TooManyCalls,
    /// The server holds as many WebSocket connections as it allows (HTTP 503 on upgrade).
    TooManyConnections,
    /// Segments arrive faster than the per-call limit.
    RateLimited,
    /// Missing or invalid credentials.
    Unauthorized,
    /// Credentials are valid but do not grant this.
    Forbidden,
    /// The message type is not accepted on this endpoint.
    NotAllowedHere,
    /// The server is shutting down.
    ShuttingDown,
    /// `feedback` names a nudge the call never sent.
    UnknownNudge,
    /// The endpoint is at its concurrency limit (HTTP 429); retry shortly.
    Busy,
    /// An HTTP request body is larger than the endpoint accepts (HTTP 413).
    PayloadTooLarge,
    /// An HTTP request body did not arrive in time (HTTP 408).
    RequestTimeout,
    /// The call history could not be read or written.
    StorageError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::UnknownCall => "unknown_call",
            ErrorCode::DuplicateCall => "duplicate_call",
            ErrorCode::MessageTooLarge => "message_too_large",
            ErrorCode::TextTooLong => "text_too_long",
            ErrorCode::BinaryFrame => "binary_frame",
            ErrorCode::TooManyCalls => "too_many_calls",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotAllowedHere => "not_allowed_here",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::UnknownNudge => "unknown_nudge",
            ErrorCode::Busy => "busy",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::StorageError => "storage_error",
        }
    }
}

/// A typed protocol error, sent as `{"type":"error",...}` on the connection that caused it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// The quota that refused the request (`calls_per_tenant`, ...), for `too_many_*` errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<String>,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
            call_id: None,
            quota: None,
        }
    }

    /// Name the quota that refused the request.
    pub fn with_quota(mut self, quota: &str) -> Self {
        self.quota = Some(quota.to_string());
        self
    }
    pub fn for_call(mut self, call_id: impl Into<String>) -> Self {
        let id = call_id.into();
        if !id.is_empty() {
            self.call_id = Some(id);
        }
        self
    }
    /// The wire form: `{"type":"error","code":...,"message":...,"call_id"?:...,"quota"?:...}`,
    /// `type` first.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Wire<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            code: ErrorCode,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            call_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            quota: Option<&'a str>,
        }
        serde_json::to_string(&Wire {
            kind: "error",
            code: self.code,
            message: &self.message,
            call_id: self.call_id.as_deref(),
            quota: self.quota.as_deref(),
        })
        .expect("error messages always serialise")
    }
}

/// Default [`ParseLimits::max_media_ms`]: 2^50 ms (about 35,000 years): room for platforms whose
/// clocks are epoch milliseconds, far from any u64 overflow in the engine.
pub const MAX_MEDIA_MS: u64 = 1 << 50;

/// Limits applied while parsing, so the engine never sees absurd input.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    pub max_text_chars: usize,
    pub max_id_chars: usize,
    /// Largest media time accepted (`start_ms`, `end_ms`, `at_ms`), so that media-time
    /// arithmetic in the engine can never overflow. The default, [`MAX_MEDIA_MS`] (2^50 ms), is about
    /// 35,000 years.
    pub max_media_ms: u64,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_text_chars: 4_000,
            max_id_chars: 128,
            max_media_ms: MAX_MEDIA_MS,
        }
    }
}

/// Parse one inbound text frame.
pub fn parse_inbound(text: &str, limits: &ParseLimits) -> Result<Inbound, ProtocolError> {
    if let Some(msg) = parse_media_fast(text, limits) {
        return Ok(msg);
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ProtocolError::new(ErrorCode::BadJson, format!("not valid JSON: {e}")))?;
    parse_value(value, limits)
}

/// The fields of `segment` and `tick`, read straight from the text into one struct, with the
/// same types, defaults and number rules as [`Segment`] and [`Tick`].
#[derive(Deserialize)]
struct MediaWire<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default)]
    call_id: String,
    #[serde(default)]
    segment_id: String,
    #[serde(default, deserialize_with = "present")]
    speaker: Option<Speaker>,
    #[serde(default, deserialize_with = "present")]
    text: Option<String>,
    #[serde(default, deserialize_with = "present_millis")]
    start_ms: Option<u64>,
    #[serde(default, deserialize_with = "present_millis")]
    end_ms: Option<u64>,
    #[serde(rename = "final", default = "default_true")]
    is_final: bool,
    #[serde(default, deserialize_with = "present_millis")]
    at_ms: Option<u64>,
}

/// A field that, when present, must hold a `T` (`null` is refused, as by the plain field).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn present_millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    millis(d).map(Some)
}

/// The fast path for the messages of the hot loop (`segment`, `tick`): one pass from text to
/// the typed message, without the intermediate JSON tree. It answers only when the message is
/// well-formed as one of the two, with each field once; anything else (other types, errors,
/// repeated keys) returns `None` and goes through the general path, which words the errors.
/// Where it answers, the message is the one the general path gives.
fn parse_media_fast(text: &str, limits: &ParseLimits) -> Option<Inbound> {
    // A derived struct would also read a JSON array; the protocol wants an object.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let w: MediaWire = serde_json::from_str(text).ok()?;
    let msg = match &*w.kind {
        "segment" => {
            let mut s = Segment {
                call_id: w.call_id,
                segment_id: w.segment_id,
                speaker: w.speaker?,
                text: w.text?,
                start_ms: w.start_ms?,
                end_ms: w.end_ms?,
                is_final: w.is_final,
            };
            if s.segment_id.is_empty() {
                s.segment_id = format!("{}@{}", s.speaker.as_str(), s.start_ms);
            }
            Inbound::Segment(s)
        }
        "tick" => Inbound::Tick(Tick {
            call_id: w.call_id,
            at_ms: w.at_ms?,
        }),
        _ => return None,
    };
    validate(&msg, limits).ok()?;
    Some(msg)
}

/// Parse an already-decoded JSON value (used by `POST /v1/analyze` for its `events` array).
pub fn parse_value(value: Value, limits: &ParseLimits) -> Result<Inbound, ProtocolError> {
    let Value::Object(map) = &value else {
        return Err(ProtocolError::new(
            ErrorCode::BadJson,
            "each message must be a JSON object",
        ));
    };
    let call_id = map
        .get("call_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let kind = match map.get("type") {
        None => {
            return Err(
                ProtocolError::new(ErrorCode::MissingField, "missing field `type`")
                    .for_call(call_id),
            )
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(
                ProtocolError::new(ErrorCode::InvalidField, "`type` must be a string")
                    .for_call(call_id),
            )
        }
    };
    let msg = match kind.as_str() {
        "call.start" => Inbound::CallStart(shape(value, &kind, &call_id)?),
        "segment" => {
            let mut s: Segment = shape(value, &kind, &call_id)?;
            if s.segment_id.is_empty() {
                s.segment_id = format!("{}@{}", s.speaker.as_str(), s.start_ms);
            }
            Inbound::Segment(s)
        }
        "tick" => Inbound::Tick(shape(value, &kind, &call_id)?),
        "call.end" => Inbound::CallEnd(shape(value, &kind, &call_id)?),
        "feedback" => Inbound::Feedback(shape(value, &kind, &call_id)?),
        "call.resume" => Inbound::CallResume(shape(value, &kind, &call_id)?),
        "resume" => Inbound::Resume(shape(value, &kind, &call_id)?),
        other => {
            return Err(ProtocolError::new(
                ErrorCode::UnknownType,
                format!(
                    "unknown message type `{other}` (protocol v1 accepts call.start, segment, tick, call.end, feedback, call.resume, resume)"
                ),
            )
            .for_call(call_id))
        }
    };
    validate(&msg, limits).map_err(|e| e.for_call(call_id))?;
    Ok(msg)
}

fn shape<T: serde::de::DeserializeOwned>(
    value: Value,
    kind: &str,
    call_id: &str,
) -> Result<T, ProtocolError> {
    serde_json::from_value(value).map_err(|e| {
        let text = e.to_string();
        let code = if text.starts_with("missing field") {
            ErrorCode::MissingField
        } else {
            ErrorCode::InvalidField
        };
        ProtocolError::new(code, format!("{kind}: {text}")).for_call(call_id)
    })
}

/// Check ids, times and text sizes of a message built in-process (platform adapters), as
/// [`parse_value`] checks parsed ones.
pub fn validate(msg: &Inbound, limits: &ParseLimits) -> Result<(), ProtocolError> {
    let id_ok = |field: &str, v: &str, required: bool| -> Result<(), ProtocolError> {
        if required && v.is_empty() {
            return Err(ProtocolError::new(
                ErrorCode::InvalidField,
                format!("`{field}` must not be empty"),
            ));
        }
        if v.chars().count() > limits.max_id_chars {
            return Err(ProtocolError::new(
                ErrorCode::InvalidField,
                format!(
                    "`{field}` is longer than {} characters",
                    limits.max_id_chars
                ),
            ));
        }
        if v.chars().any(char::is_control) {
            return Err(ProtocolError::new(
                ErrorCode::InvalidField,
                format!("`{field}` contains control characters"),
            ));
        }
        Ok(())
    };
    let time_ok = |field: &str, v: u64| -> Result<(), ProtocolError> {
        if v > limits.max_media_ms {
            return Err(ProtocolError::new(
                ErrorCode::InvalidField,
                format!(
                    "`{field}` ({v}) is beyond the largest media time, {} ms",
                    limits.max_media_ms
                ),
            ));
        }
        Ok(())
    };
    match msg {
        Inbound::CallStart(m) => {
            id_ok("call_id", &m.call_id, true)?;
            id_ok("agent_id", &m.agent_id, true)?;
            if let Some(c) = &m.campaign {
                id_ok("campaign", c, true)?;
            }
        }
        Inbound::Segment(s) => {
            id_ok("call_id", &s.call_id, false)?;
            id_ok("segment_id", &s.segment_id, true)?;
            time_ok("start_ms", s.start_ms)?;
            time_ok("end_ms", s.end_ms)?;
            if s.end_ms < s.start_ms {
                return Err(ProtocolError::new(
                    ErrorCode::InvalidField,
                    format!(
                        "segment {}: end_ms ({}) is before start_ms ({})",
                        s.segment_id, s.end_ms, s.start_ms
                    ),
                ));
            }
            let n = s.text.chars().count();
            if n > limits.max_text_chars {
                return Err(ProtocolError::new(
                    ErrorCode::TextTooLong,
                    format!(
                        "segment {}: text has {n} characters, the limit is {}",
                        s.segment_id, limits.max_text_chars
                    ),
                ));
            }
        }
        Inbound::Tick(t) => {
            id_ok("call_id", &t.call_id, false)?;
            time_ok("at_ms", t.at_ms)?;
        }
        Inbound::CallEnd(m) => id_ok("call_id", &m.call_id, true)?,
        Inbound::Feedback(f) => {
            id_ok("call_id", &f.call_id, true)?;
            id_ok("nudge_id", &f.nudge_id, true)?;
        }
        Inbound::CallResume(r) | Inbound::Resume(r) => id_ok("call_id", &r.call_id, true)?,
    }
    Ok(())
}

/// Severity of a nudge, which the panel maps to colour (never flashing red).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warn,
    Urgent,
}

/// Why a nudge, state change or timing event happened: which words, in which segment, by which rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub segment_id: String,
    pub quote: String,
    pub rule: String,
}

/// Customer frustration level bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Calm,
    Tense,
    Frustrated,
    Angry,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Calm => "calm",
            Level::Tense => "tense",
            Level::Frustrated => "frustrated",
            Level::Angry => "angry",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    Rising,
    Steady,
    Falling,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrustrationView {
    pub score: f64,
    pub level: Level,
    pub trend: Trend,
    /// What moved the score most recently (empty when nothing has).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InterruptionCounts {
    pub by_agent: u32,
    pub by_customer: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TalkShare {
    pub agent: f64,
}

/// `nudge`: advice shown on the agent's panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nudge {
    pub call_id: String,
    pub seq: u64,
    pub nudge_id: String,
    pub kind: String,
    pub text: String,
    pub severity: Severity,
    pub at_ms: u64,
    pub evidence: Vec<Evidence>,
}

/// `nudge.clear`: the condition behind a nudge has resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NudgeClear {
    pub call_id: String,
    pub seq: u64,
    pub nudge_id: String,
    pub kind: String,
    pub at_ms: u64,
    pub reason: String,
}

/// `state`: the call's running picture, sent after each final segment that changes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub call_id: String,
    pub seq: u64,
    pub at_ms: u64,
    pub language: String,
    pub frustration: FrustrationView,
    pub interruptions: InterruptionCounts,
    pub talk_share: TalkShare,
}

/// One nudge as listed in the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NudgeRecord {
    pub nudge_id: String,
    pub kind: String,
    pub severity: Severity,
    pub at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear_reason: Option<String>,
    /// Agent feedback: Some(true) useful, Some(false) not useful.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub useful: Option<bool>,
}

/// A point of the frustration trajectory, for plots and the supervisor sparkline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrustrationPoint {
    pub at_ms: u64,
    pub score: f64,
}

/// Timing figures for the whole call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TimingSummary {
    pub agent_talk_ms: u64,
    pub customer_talk_ms: u64,
    pub overlap_ms: u64,
    pub talk_overs: u32,
    pub longest_agent_monologue_ms: u64,
    pub longest_customer_turn_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_response_gap_ms: Option<u64>,
    pub dead_air_episodes: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_syllables_per_s: Option<f64>,
}

/// `call.summary`: sent once when the call ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub call_id: String,
    pub seq: u64,
    pub agent_id: String,
    pub campaign: String,
    pub language: String,
    pub duration_ms: u64,
    pub talk_share: TalkShare,
    pub interruptions: InterruptionCounts,
    pub timing: TimingSummary,
    pub frustration_peak: FrustrationView,
    pub frustration_end: FrustrationView,
    pub frustration_trajectory: Vec<FrustrationPoint>,
    pub nudges: Vec<NudgeRecord>,
    pub feedback: FeedbackCounts,
    pub segments: u64,
    /// Concrete next steps the agent promised (action + time or reference), with evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_steps: Vec<Evidence>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FeedbackCounts {
    pub useful: u32,
    pub not_useful: u32,
}

/// A message from calma to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Outbound {
    #[serde(rename = "nudge")]
    Nudge(Nudge),
    #[serde(rename = "nudge.clear")]
    NudgeClear(NudgeClear),
    #[serde(rename = "state")]
    State(State),
    #[serde(rename = "call.summary")]
    Summary(Box<Summary>),
}

impl Outbound {
    pub fn call_id(&self) -> &str {
        match self {
            Outbound::Nudge(m) => &m.call_id,
            Outbound::NudgeClear(m) => &m.call_id,
            Outbound::State(m) => &m.call_id,
            Outbound::Summary(m) => &m.call_id,
        }
    }
    pub fn seq(&self) -> u64 {
        match self {
            Outbound::Nudge(m) => m.seq,
            Outbound::NudgeClear(m) => m.seq,
            Outbound::State(m) => m.seq,
            Outbound::Summary(m) => m.seq,
        }
    }
    pub fn type_name(&self) -> &'static str {
        match self {
            Outbound::Nudge(_) => "nudge",
            Outbound::NudgeClear(_) => "nudge.clear",
            Outbound::State(_) => "state",
            Outbound::Summary(_) => "call.summary",
        }
    }
    /// Serialise to the wire form. Serialising these types cannot fail (no maps with non-string
    /// keys, no non-finite floats: scores are clamped), so a failure is a bug worth a loud message.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("outbound messages always serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Inbound, ProtocolError> {
        parse_inbound(s, &ParseLimits::default())
    }

    /// The hot-loop fast path answers exactly as the general path (JSON tree, then shape) on
    /// well-formed messages, and leaves everything else to it.
    #[test]
    fn fast_path_reads_what_the_general_path_reads() {
        let limits = ParseLimits::default();
        let general = |t: &str| {
            serde_json::from_str::<Value>(t)
                .map_err(|e| ProtocolError::new(ErrorCode::BadJson, format!("not valid JSON: {e}")))
                .and_then(|v| parse_value(v, &limits))
        };
        let cases = [
            r#"{"type":"segment","call_id":"c","segment_id":"s","speaker":"agent","text":"hola","start_ms":1,"end_ms":2,"final":false}"#,
            r#"{"type":"segment","call_id":"c","speaker":"cliente","text":"h\u00f3la \"x\"","start_ms":1000.4,"end_ms":2e3}"#,
            r#"{"type":"segment","call_id":"c","segment_id":"s","speaker":"agent","text":"a","start_ms":5,"end_ms":2}"#,
            r#"{"type":"segment","call_id":"c","segment_id":"s","speaker":"agent","text":"a","start_ms":1,"end_ms":2,"final":null}"#,
            r#"{"type":"segment","call_id":"c","segment_id":null,"speaker":"agent","text":"a","start_ms":1,"end_ms":2}"#,
            r#"{"type":"segment","call_id":"c","segment_id":"s","speaker":"agent","text":"a","start_ms":-1,"end_ms":2}"#,
            r#"{"type":"segment","call_id":"c","segment_id":"s","speaker":"agent","text":"a","start_ms":1}"#,
            r#"{"type":"segment","call_id":"c","segment_id":"s","segment_id":"t","speaker":"agent","text":"a","start_ms":1,"end_ms":2}"#,
            r#"{"type":"segment","call_id":"","segment_id":"s","speaker":"robot","text":"a","start_ms":1,"end_ms":2}"#,
            r#"{"type":"segment","call_id":"c","segment_id":"s","speaker":"agent","text":"a","start_ms":1,"end_ms":2,"at_ms":"x"}"#,
            r#"{"type":"tick","call_id":"c","at_ms":1000}"#,
            r#"{"type":"tick","call_id":"c","at_ms":1000,"text":7}"#,
            r#"{"type":"tick","call_id":"c"}"#,
            r#"{"type":"tick","call_id":"c","at_ms":1125899906842625}"#,
            r#"["segment","c","s","agent","a",1,2,true]"#,
            r#"{"type":"call.end","call_id":"c"}"#,
            r#"{"type":7,"call_id":"c"}"#,
            r#"{"type":"segment""#,
        ];
        for t in cases {
            assert_eq!(parse(t), general(t), "{t}");
        }
    }

    #[test]
    fn parses_segment_and_ignores_unknown_fields() {
        let m = parse(r#"{"type":"segment","call_id":"c","segment_id":"s","speaker":"agent","text":"hola","start_ms":1,"end_ms":2,"final":false,"confidence":0.9}"#).unwrap();
        match m {
            Inbound::Segment(s) => {
                assert_eq!(s.speaker, Speaker::Agent);
                assert!(!s.is_final);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_codes_are_typed() {
        assert_eq!(parse("{nope").unwrap_err().code, ErrorCode::BadJson);
        assert_eq!(parse("[1]").unwrap_err().code, ErrorCode::BadJson);
        let e = parse(r#"{"type":"hello","call_id":"c-1"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownType);
        assert_eq!(e.call_id.as_deref(), Some("c-1"));
        assert_eq!(
            parse(r#"{"type":"segment","call_id":"c"}"#)
                .unwrap_err()
                .code,
            ErrorCode::MissingField
        );
        assert_eq!(
            parse(r#"{"type":"segment","call_id":"c","segment_id":"s","speaker":"bot","text":"x","start_ms":1,"end_ms":2}"#)
                .unwrap_err()
                .code,
            ErrorCode::InvalidField
        );
        assert_eq!(
            parse(r#"{"type":"segment","call_id":"c","segment_id":"s","speaker":"agent","text":"x","start_ms":5,"end_ms":2}"#)
                .unwrap_err()
                .code,
            ErrorCode::InvalidField
        );
        assert_eq!(
            parse(r#"{"type":"segment","call_id":"c","segment_id":"s","speaker":"agent","text":"x","start_ms":-5,"end_ms":2}"#)
                .unwrap_err()
                .code,
            ErrorCode::InvalidField
        );
    }

    #[test]
    fn lenient_where_the_intent_is_plain() {
        let m = parse(r#"{"type":"call.start","call_id":"c"}"#).unwrap();
        assert!(matches!(m, Inbound::CallStart(s) if s.agent_id == "unassigned"));
        let m = parse(r#"{"type":"segment","call_id":"c","speaker":"customer","text":"hola","start_ms":1200.4,"end_ms":2500}"#).unwrap();
        match m {
            Inbound::Segment(s) => {
                assert_eq!(s.start_ms, 1200);
                assert_eq!(s.segment_id, "customer@1200");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(r#"{"type":"tick","call_id":"c","at_ms":-3.5}"#)
                .unwrap_err()
                .code,
            ErrorCode::InvalidField
        );
    }

    #[test]
    fn media_times_are_capped() {
        let seg = |a: u64, b: u64| {
            format!(
                r#"{{"type":"segment","call_id":"c","segment_id":"s","speaker":"agent","text":"x","start_ms":{a},"end_ms":{b}}}"#
            )
        };
        assert!(parse(&seg(MAX_MEDIA_MS, MAX_MEDIA_MS)).is_ok());
        assert_eq!(
            parse(&seg(0, MAX_MEDIA_MS + 1)).unwrap_err().code,
            ErrorCode::InvalidField
        );
        assert_eq!(
            parse(&seg(0, u64::MAX)).unwrap_err().code,
            ErrorCode::InvalidField
        );
        let tick = format!(r#"{{"type":"tick","call_id":"c","at_ms":{}}}"#, u64::MAX);
        assert_eq!(parse(&tick).unwrap_err().code, ErrorCode::InvalidField);
    }

    #[test]
    fn error_wire_form() {
        let e = ProtocolError::new(ErrorCode::UnknownCall, "no such call").for_call("c-9");
        let v: Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["code"], "unknown_call");
        assert_eq!(v["call_id"], "c-9");
    }
}
