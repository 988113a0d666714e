//! Platform adapters: the transcripts contact-centre platforms already produce, turned into
//! protocol v1 messages, so a platform needs no glue code. Sans-IO like the engine.
//!
//! Two steps:
//! 1. A format module (`twilio`, `aws_lca`, ...) decodes one vendor message into [`Note`]s: which
//!    call, who spoke (mapped to a [`Role`]), the text, the times, and how this revision relates
//!    to earlier ones ([`Rev`]). Anything malformed is an [`AdapterError`] naming the field.
//! 2. A [`CallAdapter`] per call turns notes into `segment`s on the call's media clock (integer
//!    ms), for the three partial models vendors use: replace-by-id (Transcribe, LCA, Genesys),
//!    append fragments then a final (Contact Lens), and no id (Deepgram, Google intermediate
//!    results, jambonz, Twilio: a stable segment id per channel, closed by the final).
//!
//! [`Adapter`] ties both together for a connection that carries calls of one format: it starts
//! each call on its first message (`call.start`) and ends it on the vendor's end event.

pub mod aws_lca;
pub mod aws_transcribe;
pub mod contact_lens;
pub mod deepgram;
pub mod genesys;
pub mod google_ccai;
pub mod jambonz;
pub mod twilio;

mod fields;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::protocol::{CallEnd, CallStart, ErrorCode, Inbound, Segment, Speaker};
pub(crate) use fields::Obj;

/// A vendor message format, named in the URL (`/v1/ingest/{format}`, `/v1/stream/{format}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    AwsLca,
    AwsTranscribe,
    ContactLens,
    Genesys,
    Deepgram,
    GoogleCcai,
    Jambonz,
    Twilio,
}

impl Format {
    pub const ALL: [Format; 8] = [
        Format::AwsLca,
        Format::AwsTranscribe,
        Format::ContactLens,
        Format::Genesys,
        Format::Deepgram,
        Format::GoogleCcai,
        Format::Jambonz,
        Format::Twilio,
    ];

    /// The URL name.
    pub fn name(self) -> &'static str {
        match self {
            Format::AwsLca => "aws-lca",
            Format::AwsTranscribe => "aws-transcribe",
            Format::ContactLens => "contact-lens",
            Format::Genesys => "genesys",
            Format::Deepgram => "deepgram",
            Format::GoogleCcai => "google-ccai",
            Format::Jambonz => "jambonz",
            Format::Twilio => "twilio",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The (customer, agent) channel names of a two-channel format, which `customer_channel`
    /// may swap; `None` where the vendor names roles itself (or tracks, for Twilio).
    pub fn channels(self) -> Option<(&'static str, &'static str)> {
        match self {
            Format::AwsLca => Some(("CALLER", "AGENT")),
            Format::AwsTranscribe => Some(("ch_0", "ch_1")),
            Format::Genesys => Some(("EXTERNAL", "INTERNAL")),
            Format::Deepgram => Some(("0", "1")),
            Format::Jambonz => Some(("1", "2")),
            Format::ContactLens | Format::GoogleCcai | Format::Twilio => None,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Who spoke, as the vendor's channel or participant role says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Customer,
    Agent,
    /// A third party (supervisor barge-in, bot, IVR, system): kept out of the customer/agent
    /// reading, so it never counts as either.
    Other,
}

/// `[campaigns.X.adapters.<format>]`: one format's role mapping for a campaign, used when the
/// request does not say. Per format because channel names differ (`ch_1` means nothing to
/// Genesys, and a mapping shared by every feed would silence the others).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleMapping {
    /// The vendor channel that carries the customer (`ch_1`, `1`, `2`, `EXTERNAL`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_channel: Option<String>,
    /// Twilio: the track that carries the customer (`inbound_track` or `outbound_track`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_track: Option<String>,
    /// Deepgram with diarization on a mono feed: the `speaker` number of the customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_speaker: Option<u32>,
}

/// `[campaigns.X.adapters]`: a [`RoleMapping`] per format name; names are checked at load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, RoleMapping>",
    into = "BTreeMap<String, RoleMapping>"
)]
pub struct AdapterConfig {
    formats: BTreeMap<String, RoleMapping>,
}

impl AdapterConfig {
    /// The mapping for `format` (empty when the campaign names none).
    pub fn get(&self, format: Format) -> RoleMapping {
        self.formats.get(format.name()).cloned().unwrap_or_default()
    }
}

impl TryFrom<BTreeMap<String, RoleMapping>> for AdapterConfig {
    type Error = String;

    fn try_from(formats: BTreeMap<String, RoleMapping>) -> Result<Self, String> {
        for (name, m) in &formats {
            let format = Format::from_name(name).ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "adapters.{name}: unknown format, one of {}",
                    names.join(", ")
                )
            })?;
            let s = Settings::default().with_mapping(m);
            s.for_format(format)
                .map_err(|e| format!("adapters.{name}: {}", e.detail))?;
        }
        Ok(AdapterConfig { formats })
    }
}

impl From<AdapterConfig> for BTreeMap<String, RoleMapping> {
    fn from(c: AdapterConfig) -> Self {
        c.formats
    }
}

/// Identity and role mapping for one connection or request: query parameters first, then the
/// campaign's [`AdapterConfig`], then each format's convention.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// Used when the payload has no call id (Deepgram, Transcribe), or its own is absent.
    pub call_id: Option<String>,
    pub agent_id: Option<String>,
    pub campaign: Option<String>,
    pub language: Option<String>,
    pub customer_channel: Option<String>,
    pub customer_track: Option<String>,
    /// Deepgram diarization: the `speaker` number of the customer (mono feeds).
    pub customer_speaker: Option<u32>,
    /// The customer's id (ANI, CRM id) for the history's customer context; wins over the one a
    /// vendor payload carries (Twilio `From`, LCA `CustomerPhoneNumber`...).
    pub customer_id: Option<String>,
    /// `customer_speaker` as given, when it is not a number (refused by [`Settings::for_format`]).
    bad_speaker: Option<String>,
}

impl Settings {
    /// From query parameters of the same names (others are ignored; empty values are absent).
    pub fn from_query(query: &[(String, String)]) -> Settings {
        let mut s = Settings::default();
        for (k, v) in query {
            if v.trim().is_empty() {
                continue;
            }
            if k == "customer_speaker" {
                match v.trim().parse::<u32>() {
                    Ok(n) => s.customer_speaker = Some(n),
                    Err(_) => s.bad_speaker = Some(v.clone()),
                }
                continue;
            }
            let slot = match k.as_str() {
                "call_id" => &mut s.call_id,
                "agent_id" => &mut s.agent_id,
                "campaign" => &mut s.campaign,
                "language" => &mut s.language,
                "customer_channel" => &mut s.customer_channel,
                "customer_track" => &mut s.customer_track,
                "customer_id" => &mut s.customer_id,
                _ => continue,
            };
            *slot = Some(v.clone());
        }
        s
    }

    /// Fill what the request left open from the campaign's mapping for `format`.
    pub fn with_campaign(self, cfg: &AdapterConfig, format: Format) -> Settings {
        self.with_mapping(&cfg.get(format))
    }

    fn with_mapping(mut self, m: &RoleMapping) -> Settings {
        if self.customer_channel.is_none() {
            self.customer_channel = m.customer_channel.clone();
        }
        if self.customer_track.is_none() {
            self.customer_track = m.customer_track.clone();
        }
        if self.customer_speaker.is_none() && self.bad_speaker.is_none() {
            self.customer_speaker = m.customer_speaker;
        }
        self
    }

    /// These settings checked against `format`: a role override must name one of the
    /// format's own channels (else it would silently turn both parties into third parties).
    /// LCA also takes the Transcribe names `ch_0`/`ch_1` for `CALLER`/`AGENT`.
    pub fn for_format(mut self, format: Format) -> Result<Settings, AdapterError> {
        let refuse =
            |field: &str, detail: String| Err(AdapterError::invalid(format, field, &detail));
        if let Some(c) = self.customer_channel.clone() {
            let c = match (format, c.to_ascii_lowercase().as_str()) {
                (Format::AwsLca, "ch_0") => "CALLER".to_string(),
                (Format::AwsLca, "ch_1") => "AGENT".to_string(),
                _ => c,
            };
            match format.channels() {
                Some((a, b)) if c.eq_ignore_ascii_case(a) || c.eq_ignore_ascii_case(b) => {
                    self.customer_channel = Some(c);
                }
                Some((a, b)) => {
                    return refuse(
                        "customer_channel",
                        format!("`{c}` is not a {format} channel: `{a}` or `{b}`"),
                    )
                }
                None if format == Format::Twilio => {
                    return refuse(
                        "customer_channel",
                        "twilio names tracks: use `customer_track`".into(),
                    )
                }
                None => {
                    return refuse(
                        "customer_channel",
                        format!("{format} names roles itself: there is no channel to map"),
                    )
                }
            }
        }
        if let Some(t) = &self.customer_track {
            let ok = ["inbound_track", "outbound_track"]
                .iter()
                .any(|k| t.eq_ignore_ascii_case(k));
            if format != Format::Twilio {
                return refuse(
                    "customer_track",
                    format!("only twilio has tracks: {format} takes `customer_channel`"),
                );
            }
            if !ok {
                return refuse(
                    "customer_track",
                    format!("`{t}` is not a twilio track: `inbound_track` or `outbound_track`"),
                );
            }
        }
        if let Some(v) = &self.bad_speaker {
            return refuse(
                "customer_speaker",
                format!("`{v}` is not a speaker number (0, 1...)"),
            );
        }
        if self.customer_speaker.is_some() && format != Format::Deepgram {
            return refuse(
                "customer_speaker",
                format!("only deepgram diarizes: {format} takes `customer_channel`"),
            );
        }
        Ok(self)
    }

    /// The call id from the payload, else from the `call_id` parameter; `field` names where the
    /// vendor would have carried it.
    pub(crate) fn call_id(
        &self,
        format: Format,
        payload: Option<&str>,
        field: &str,
    ) -> Result<String, AdapterError> {
        payload
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| self.call_id.clone())
            .ok_or_else(|| {
                AdapterError::missing(
                    format,
                    field,
                    "no call id: the payload has none, so pass the `call_id` query parameter",
                )
            })
    }

    /// Role of `channel` in a two-party format whose convention is `customer`/`agent`: with a
    /// `customer_channel` override that channel is the customer and the other one of the pair
    /// the agent. Anything else is a third party.
    pub(crate) fn pair_role(&self, channel: &str, customer: &str, agent: &str) -> Role {
        pair_role(self.customer_channel.as_deref(), channel, customer, agent)
    }
}

fn pair_role(overridden: Option<&str>, channel: &str, customer: &str, agent: &str) -> Role {
    let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let in_pair = is(channel, customer) || is(channel, agent);
    // An override outside the pair is refused up front (`Settings::for_format`); here it is
    // ignored rather than turning both parties into third parties.
    let overridden = overridden.filter(|c| is(c, customer) || is(c, agent));
    match overridden {
        Some(c) if is(channel, c) => Role::Customer,
        Some(_) if in_pair => Role::Agent,
        _ if is(channel, customer) => Role::Customer,
        _ if is(channel, agent) => Role::Agent,
        _ => Role::Other,
    }
}

/// What was wrong with a vendor message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Not JSON (or not a form body for Twilio), or not an object.
    Body,
    Missing,
    Invalid,
}

/// A vendor message that cannot be read, naming the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{format}: {detail}")]
pub struct AdapterError {
    pub format: Format,
    pub fault: Fault,
    /// Path of the field in the vendor payload (`Transcript.Results[0].ChannelId`), empty for
    /// the body as a whole.
    pub field: String,
    pub detail: String,
}

impl AdapterError {
    pub(crate) fn body(format: Format, detail: impl Into<String>) -> AdapterError {
        AdapterError {
            format,
            fault: Fault::Body,
            field: String::new(),
            detail: detail.into(),
        }
    }

    pub(crate) fn missing(format: Format, field: &str, detail: &str) -> AdapterError {
        AdapterError {
            format,
            fault: Fault::Missing,
            field: field.to_string(),
            detail: format!("`{field}`: {detail}"),
        }
    }

    pub(crate) fn invalid(format: Format, field: &str, detail: &str) -> AdapterError {
        AdapterError {
            format,
            fault: Fault::Invalid,
            field: field.to_string(),
            detail: format!("`{field}`: {detail}"),
        }
    }

    /// The protocol error code: `bad_json`, `missing_field` or `invalid_field`.
    pub fn code(&self) -> ErrorCode {
        match self.fault {
            Fault::Body => ErrorCode::BadJson,
            Fault::Missing => ErrorCode::MissingField,
            Fault::Invalid => ErrorCode::InvalidField,
        }
    }

    /// The protocol v1 `error` message, with `format` and `field` added.
    pub fn to_json(&self) -> String {
        let mut v = serde_json::json!({
            "type": "error",
            "code": self.code().as_str(),
            "message": self.to_string(),
            "format": self.format.name(),
        });
        if !self.field.is_empty() {
            v["field"] = Value::String(self.field.clone());
        }
        v.to_string()
    }
}

/// A time as the vendor gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Already on the call's media clock, in ms.
    Media(u64),
    /// A wall-clock timestamp (Unix ms); the call's first one is media time 0.
    Wall(i64),
}

/// How a revision relates to earlier ones of the same utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rev {
    /// The whole text so far of utterance `id`; the final closes it (replace-by-id). Also the
    /// final of a fragment utterance.
    Replace { id: String, is_final: bool },
    /// A piece appended to utterance `id`; its final comes as a `Replace` with the same id.
    Fragment { id: String },
    /// No id: the channel's open utterance (a segment id is made up for it).
    Open(Step),
    /// No id: close the channel's open utterance with the text it has (Deepgram `UtteranceEnd`).
    Close,
}

/// A step of an id-less utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A hypothesis for the part after the committed text.
    Interim,
    /// This text is fixed and appended to the committed text; the utterance goes on (Deepgram
    /// `is_final` without `speech_final`).
    Commit,
    /// The last piece: the utterance is the committed text plus this one.
    Final,
}

/// One thing a vendor message says about a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub call_id: String,
    /// The vendor's language code, if the message has one (a hint for `call.start`).
    pub language: Option<String>,
    /// The customer's id if the payload has one (Twilio `From`, LCA `CustomerPhoneNumber`...),
    /// for `call.start.customer_id`; the `customer_id` parameter wins.
    pub customer_id: Option<String>,
    /// What makes this delivery recognisable when the vendor sends it again (webhook retries,
    /// Pub/Sub's at-least-once redelivery); empty where the vendor's ids already do that.
    pub once: Vec<Once>,
    pub what: What,
}

impl Note {
    pub(crate) fn new(call_id: &str, what: What) -> Note {
        Note {
            call_id: call_id.to_string(),
            language: None,
            customer_id: None,
            once: Vec::new(),
            what,
        }
    }

    pub(crate) fn language(mut self, language: Option<&str>) -> Note {
        self.language = language.map(str::to_string);
        self
    }

    pub(crate) fn customer(mut self, customer_id: Option<&str>) -> Note {
        self.customer_id = customer_id.map(str::to_string);
        self
    }

    pub(crate) fn once(mut self, once: Vec<Once>) -> Note {
        self.once = once;
        self
    }
}

/// A mark of one delivery, to drop repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Once {
    /// A message id (Pub/Sub `messageId`, Google message `name`): seen once, dropped after.
    Id(String),
    /// A sequence number that grows per track (Twilio `SequenceId`): anything not above the
    /// last one seen on the track is a repeat or arrived too late to matter.
    Seq { track: String, seq: u64 },
}

#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// The vendor's start event; `at` fixes media time 0 for wall-clock formats.
    Start {
        agent_id: Option<String>,
        at: Option<When>,
    },
    Speech(Speech),
    /// The vendor's end event (or a v1 `call.end`).
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Speech {
    pub role: Role,
    /// The vendor's channel (key of id-less utterances).
    pub channel: String,
    pub text: String,
    pub rev: Rev,
    pub start: Option<When>,
    pub end: Option<When>,
}

/// Decode one vendor message (one HTTP body or one WebSocket frame).
pub fn decode(format: Format, body: &[u8], s: &Settings) -> Result<Vec<Note>, AdapterError> {
    let json = serde_json::from_slice::<Value>(body);
    if format == Format::Twilio {
        // Form-encoded, except a v1 `call.end`, which every format takes.
        return match json {
            Ok(v) if v.is_object() => match v1_call_end(&v, format, s)? {
                Some(end) => Ok(vec![end]),
                None => Err(AdapterError::body(
                    format,
                    "a JSON body here must be a v1 `call.end`; Twilio callbacks are form-encoded",
                )),
            },
            _ => twilio::decode(body, s),
        };
    }
    let value: Value =
        json.map_err(|e| AdapterError::body(format, format!("not valid JSON: {e}")))?;
    if let Some(end) = v1_call_end(&value, format, s)? {
        return Ok(vec![end]);
    }
    match format {
        Format::AwsLca => aws_lca::decode(&value, s),
        Format::AwsTranscribe => aws_transcribe::decode(&value, s),
        Format::ContactLens => contact_lens::decode(&value, s),
        Format::Genesys => genesys::decode(&value, s),
        Format::Deepgram => deepgram::decode(&value, s),
        Format::GoogleCcai => google_ccai::decode(&value, s),
        Format::Jambonz => jambonz::decode(&value, s),
        Format::Twilio => unreachable!("form-encoded, decoded above"),
    }
}

/// A protocol v1 `{"type":"call.end"}` ends a call on any adapted feed (for vendors without an
/// end event, such as Deepgram).
fn v1_call_end(v: &Value, format: Format, s: &Settings) -> Result<Option<Note>, AdapterError> {
    if v.get("type").and_then(Value::as_str) != Some("call.end") {
        return Ok(None);
    }
    let id = v
        .get("call_id")
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty());
    Ok(Some(Note::new(
        &s.call_id(format, id, "call_id")?,
        What::End,
    )))
}

/// An id-less utterance so far.
#[derive(Debug, Clone)]
struct OpenUtterance {
    id: String,
    role: Role,
    start_ms: u64,
    end_ms: u64,
    committed: String,
    shown: String,
}

/// Fragment utterances kept open per call at most (a call has one or two open at a time).
const MAX_OPEN_FRAGMENTS: usize = 64;

/// Fragments of one utterance so far.
#[derive(Debug, Clone)]
struct Fragments {
    text: String,
    start_ms: u64,
}

/// A replace-by-id utterance still open on a channel: a later revision with a different vendor
/// id but the same start is the same utterance (Transcribe's `ResultId` may change, §1).
#[derive(Debug, Clone)]
struct OpenReplace {
    segment_id: String,
    start_ms: u64,
}

/// Deliveries remembered per call to drop redeliveries (a retry comes within minutes, so the
/// last few hundred are enough; older ones are forgotten first).
const MAX_REMEMBERED: usize = 256;

/// The deliveries a call has seen, bounded. Ids are kept as 64-bit hashes: a collision (one in
/// 2^64) would drop one message of the same call.
#[derive(Debug, Clone, Default)]
struct Seen {
    ids: HashSet<u64>,
    order: VecDeque<u64>,
    last_seq: HashMap<String, u64>,
}

fn id_hash(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

impl Seen {
    /// Whether a message with these marks was seen before (or comes too late in its sequence).
    fn repeats(&self, once: &[Once]) -> bool {
        once.iter().any(|o| match o {
            Once::Id(id) => self.ids.contains(&id_hash(id)),
            Once::Seq { track, seq } => self.last_seq.get(track).is_some_and(|last| seq <= last),
        })
    }

    fn record(&mut self, once: &[Once]) {
        for o in once {
            match o {
                Once::Id(id) => {
                    if self.order.len() >= MAX_REMEMBERED {
                        if let Some(old) = self.order.pop_front() {
                            self.ids.remove(&old);
                        }
                    }
                    let h = id_hash(id);
                    if self.ids.insert(h) {
                        self.order.push_back(h);
                    }
                }
                Once::Seq { track, seq } => {
                    if self.last_seq.len() < MAX_REMEMBERED || self.last_seq.contains_key(track) {
                        self.last_seq.insert(track.clone(), *seq);
                    }
                }
            }
        }
    }

    /// Whether a message with these marks is new; remembers it if so.
    fn first_time(&mut self, once: &[Once]) -> bool {
        if self.repeats(once) {
            return false;
        }
        self.record(once);
        true
    }

    fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.last_seq.is_empty()
    }
}

/// Calls that ended recently, remembered per feed or tenant with what they had seen.
const MAX_ENDED: usize = 128;

/// Recently ended calls and the deliveries each had seen, so that a redelivery arriving after
/// the vendor's end event (Pub/Sub, a retried webhook) is dropped instead of starting a ghost
/// call that lingers until idle expiry. Bounded: the oldest are forgotten first.
#[derive(Debug, Clone, Default)]
pub struct EndedCalls {
    calls: HashMap<String, Seen>,
    order: VecDeque<String>,
}

impl EndedCalls {
    /// Remember a call that ended on its vendor's end event (or idle expiry).
    pub fn ended(&mut self, call: CallAdapter) {
        if call.seen.is_empty() {
            return;
        }
        if self.calls.len() >= MAX_ENDED && !self.calls.contains_key(&call.call_id) {
            if let Some(old) = self.order.pop_front() {
                self.calls.remove(&old);
            }
        }
        if self.calls.insert(call.call_id.clone(), call.seen).is_none() {
            self.order.push_back(call.call_id);
        }
    }

    /// The adapter for a call `note` (re)starts: `None` when the note repeats a delivery of
    /// the ended call (drop it), else a fresh one, still knowing what the ended call had seen.
    pub fn reopen(&mut self, note: &Note) -> Option<CallAdapter> {
        let mut call = CallAdapter::new(&note.call_id);
        if let Some(seen) = self.calls.get(&note.call_id) {
            if seen.repeats(&note.once) {
                return None;
            }
            call.seen = seen.clone();
            self.calls.remove(&note.call_id);
            self.order.retain(|c| c != &note.call_id);
        }
        Some(call)
    }
}

/// Per-call adapter state: media clock origin and the utterances still open.
#[derive(Debug, Clone)]
pub struct CallAdapter {
    call_id: String,
    seen: Seen,
    /// Per channel, the vendor end time of the last id-less utterance closed: a hypothesis no
    /// later than it is a late one for that utterance, not the start of a new one.
    closed_at: HashMap<String, u64>,
    origin_wall: Option<i64>,
    first_arrival: Option<u64>,
    reached_ms: u64,
    fragments: HashMap<String, Fragments>,
    aliases: HashMap<String, String>,
    open_replace: HashMap<String, OpenReplace>,
    open: HashMap<String, OpenUtterance>,
    opened: u64,
}

impl CallAdapter {
    pub fn new(call_id: &str) -> CallAdapter {
        CallAdapter {
            call_id: call_id.to_string(),
            seen: Seen::default(),
            closed_at: HashMap::new(),
            origin_wall: None,
            first_arrival: None,
            reached_ms: 0,
            fragments: HashMap::new(),
            aliases: HashMap::new(),
            open_replace: HashMap::new(),
            open: HashMap::new(),
            opened: 0,
        }
    }

    /// The `call.start` of a call whose first note is `note`.
    pub fn start_message(note: &Note, s: &Settings) -> CallStart {
        let payload_agent = match &note.what {
            What::Start { agent_id, .. } => agent_id.clone().filter(|a| !a.trim().is_empty()),
            _ => None,
        };
        CallStart {
            call_id: note.call_id.clone(),
            agent_id: payload_agent
                .or_else(|| s.agent_id.clone())
                .unwrap_or_else(|| "unassigned".to_string()),
            campaign: s.campaign.clone(),
            language: s.language.clone().or_else(|| note.language.clone()),
            customer_id: s
                .customer_id
                .clone()
                .or_else(|| note.customer_id.clone().filter(|c| !c.trim().is_empty())),
            prior_contacts_7d: None,
            region: None,
        }
    }

    /// Protocol v1 messages for one note of this call; nothing for a repeated delivery.
    /// `arrival_ms` is the shell's monotonic clock, used only for vendors that give no time.
    pub fn apply_note(&mut self, note: Note, arrival_ms: u64) -> Vec<Inbound> {
        if !self.seen.first_time(&note.once) {
            return Vec::new();
        }
        self.apply(note.what, arrival_ms)
    }

    /// Protocol v1 messages for what a note says (no repeat check: see [`Self::apply_note`]).
    pub fn apply(&mut self, what: What, arrival_ms: u64) -> Vec<Inbound> {
        match what {
            What::Start { at, .. } => {
                self.media(at);
                Vec::new()
            }
            What::End => vec![Inbound::CallEnd(CallEnd {
                call_id: self.call_id.clone(),
            })],
            What::Speech(sp) => self.speech(sp, arrival_ms).into_iter().collect(),
        }
    }

    /// A vendor time on the media clock.
    fn media(&mut self, w: Option<When>) -> Option<u64> {
        match w? {
            When::Media(ms) => Some(ms),
            When::Wall(t) => {
                let origin = *self.origin_wall.get_or_insert(t);
                Some(t.saturating_sub(origin).max(0) as u64)
            }
        }
    }

    /// Media time from the arrival clock: for messages with no time.
    fn arrival(&mut self, arrival_ms: u64) -> u64 {
        let first = *self.first_arrival.get_or_insert(arrival_ms);
        arrival_ms.saturating_sub(first).max(self.reached_ms)
    }

    fn speech(&mut self, sp: Speech, arrival_ms: u64) -> Option<Inbound> {
        if sp.role == Role::Other {
            // Third parties are not analysed, and leave no state behind.
            return None;
        }
        let start = self.media(sp.start);
        let end = self.media(sp.end);
        let seg = match sp.rev.clone() {
            Rev::Replace { id, is_final } => self.replace(&sp, id, is_final, start, end),
            Rev::Fragment { id } => self.fragment(&sp, id, start, end),
            Rev::Open(step) => {
                let closed = self.closed_at.get(&sp.channel).copied();
                let late = end.zip(closed).is_some_and(|(e, c)| e <= c);
                let open = self.open.contains_key(&sp.channel);
                if late && (step != Step::Final || !open) {
                    // A hypothesis of an utterance already closed (it arrived after its
                    // final), or that final again (a retried webhook without an id).
                    return None;
                }
                let now = end.unwrap_or_else(|| self.arrival(arrival_ms));
                self.open_step(&sp, step, start.unwrap_or(now), now, end.is_some())
            }
            Rev::Close => self.close(&sp.channel),
        }?;
        self.reached_ms = self.reached_ms.max(seg.end_ms);
        Some(Inbound::Segment(seg))
    }

    fn segment(
        &self,
        id: String,
        role: Role,
        text: String,
        start: u64,
        end: u64,
        fin: bool,
    ) -> Option<Segment> {
        let speaker = match role {
            Role::Customer => Speaker::Customer,
            Role::Agent => Speaker::Agent,
            Role::Other => return None,
        };
        Some(Segment {
            call_id: self.call_id.clone(),
            segment_id: id,
            speaker,
            text,
            start_ms: start,
            end_ms: end.max(start),
            is_final: fin,
        })
    }

    fn replace(
        &mut self,
        sp: &Speech,
        vendor_id: String,
        is_final: bool,
        start: Option<u64>,
        end: Option<u64>,
    ) -> Option<Segment> {
        let frag = self.fragments.remove(&vendor_id);
        let start = start
            .or(frag.as_ref().map(|f| f.start_ms))
            .unwrap_or(self.reached_ms);
        let id = match self.aliases.get(&vendor_id) {
            Some(id) => id.clone(),
            None => match self.open_replace.get(&sp.channel) {
                Some(o) if o.start_ms == start && o.segment_id != vendor_id => {
                    let id = o.segment_id.clone();
                    self.aliases.insert(vendor_id.clone(), id.clone());
                    id
                }
                _ => vendor_id.clone(),
            },
        };
        if is_final {
            if self
                .open_replace
                .get(&sp.channel)
                .is_some_and(|o| o.segment_id == id)
            {
                self.open_replace.remove(&sp.channel);
            }
            self.aliases.retain(|_, v| *v != id);
        } else {
            self.open_replace.insert(
                sp.channel.clone(),
                OpenReplace {
                    segment_id: id.clone(),
                    start_ms: start,
                },
            );
        }
        let end = end.unwrap_or(start);
        self.segment(id, sp.role, sp.text.clone(), start, end, is_final)
    }

    fn fragment(
        &mut self,
        sp: &Speech,
        id: String,
        start: Option<u64>,
        end: Option<u64>,
    ) -> Option<Segment> {
        let reached = self.reached_ms;
        if !self.fragments.contains_key(&id) && self.fragments.len() >= MAX_OPEN_FRAGMENTS {
            // Utterances whose final never came: forget the oldest.
            let oldest = self
                .fragments
                .iter()
                .min_by_key(|(_, f)| f.start_ms)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.fragments.remove(&k);
            }
        }
        let f = self
            .fragments
            .entry(id.clone())
            .or_insert_with(|| Fragments {
                text: String::new(),
                start_ms: start.unwrap_or(reached),
            });
        append(&mut f.text, &sp.text);
        let (text, start) = (f.text.clone(), f.start_ms);
        let end = end.unwrap_or(start);
        self.segment(id, sp.role, text, start, end, false)
    }

    fn open_step(
        &mut self,
        sp: &Speech,
        step: Step,
        start: u64,
        end: u64,
        vendor_timed: bool,
    ) -> Option<Segment> {
        if step == Step::Final && vendor_timed {
            let c = self.closed_at.entry(sp.channel.clone()).or_insert(0);
            *c = (*c).max(end);
        }
        if !self.open.contains_key(&sp.channel) {
            if sp.text.trim().is_empty() {
                return None;
            }
            self.opened += 1;
            let id = format!("{}#{}", sp.channel, self.opened);
            self.open.insert(
                sp.channel.clone(),
                OpenUtterance {
                    id,
                    role: sp.role,
                    start_ms: start,
                    end_ms: end,
                    committed: String::new(),
                    shown: String::new(),
                },
            );
        }
        let u = self.open.get_mut(&sp.channel)?;
        let mut text = u.committed.clone();
        append(&mut text, &sp.text);
        if text.is_empty() {
            text = u.shown.clone();
        }
        // The earliest start wins: a final may know when the utterance began better than its
        // first hypothesis did (Google `sendTime`).
        u.start_ms = u.start_ms.min(start);
        u.end_ms = u.end_ms.max(end);
        u.shown = text.clone();
        if step == Step::Commit {
            u.committed = text.clone();
        }
        let (id, role, start, end) = (u.id.clone(), u.role, u.start_ms, u.end_ms);
        let fin = step == Step::Final;
        if fin {
            self.open.remove(&sp.channel);
            if text.is_empty() {
                return None;
            }
        }
        self.segment(id, role, text, start, end, fin)
    }

    fn close(&mut self, channel: &str) -> Option<Segment> {
        let u = self.open.remove(channel)?;
        if u.shown.is_empty() {
            return None;
        }
        self.segment(u.id, u.role, u.shown, u.start_ms, u.end_ms, true)
    }
}

/// Join transcript pieces with one space.
fn append(text: &mut String, piece: &str) {
    let piece = piece.trim();
    if piece.is_empty() {
        return;
    }
    if !text.is_empty() {
        text.push(' ');
    }
    text.push_str(piece);
}

/// The calls of one feed in one format: each starts on its first message and ends on the
/// vendor's end event. Used by `/v1/stream/{format}` and by tests; `/v1/ingest` keeps its
/// calls in the server's table instead, with the same [`CallAdapter`]s.
#[derive(Debug, Clone)]
pub struct Adapter {
    format: Format,
    settings: Settings,
    calls: HashMap<String, CallAdapter>,
    ended: EndedCalls,
}

impl Adapter {
    pub fn new(format: Format, settings: Settings) -> Adapter {
        Adapter {
            format,
            settings,
            calls: HashMap::new(),
            ended: EndedCalls::default(),
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Protocol v1 messages for one vendor message. A malformed message changes nothing.
    pub fn translate(
        &mut self,
        body: &[u8],
        arrival_ms: u64,
    ) -> Result<Vec<Inbound>, AdapterError> {
        let notes = decode(self.format, body, &self.settings)?;
        let mut out = Vec::new();
        for note in notes {
            let ends = matches!(note.what, What::End);
            if !self.calls.contains_key(&note.call_id) {
                if ends {
                    continue;
                }
                let Some(call) = self.ended.reopen(&note) else {
                    continue;
                };
                let start = CallAdapter::start_message(&note, &self.settings);
                out.push(Inbound::CallStart(start));
                self.calls.insert(note.call_id.clone(), call);
            }
            let call_id = note.call_id.clone();
            let Some(call) = self.calls.get_mut(&call_id) else {
                continue;
            };
            out.extend(call.apply_note(note, arrival_ms));
            if ends {
                if let Some(call) = self.calls.remove(&call_id) {
                    self.ended.ended(call);
                }
            }
        }
        Ok(out)
    }

    /// The call ended some other way (idle expiry, `call.end`) or its start was refused: its
    /// next message starts it afresh.
    pub fn forget(&mut self, call_id: &str) {
        self.calls.remove(call_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speech(channel: &str, text: &str, rev: Rev, start: u64, end: u64) -> What {
        What::Speech(Speech {
            role: Role::Customer,
            channel: channel.into(),
            text: text.into(),
            rev,
            start: Some(When::Media(start)),
            end: Some(When::Media(end)),
        })
    }

    fn seg(i: Vec<Inbound>) -> Segment {
        match i.into_iter().next() {
            Some(Inbound::Segment(s)) => s,
            other => panic!("expected a segment, got {other:?}"),
        }
    }

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(Format::from_name(f.name()), Some(f));
        }
        assert_eq!(Format::from_name("aws"), None);
    }

    #[test]
    fn overrides_swap_the_pair_and_third_channels_stay_out() {
        let swap = Some("ch_1");
        assert_eq!(pair_role(None, "ch_0", "ch_0", "ch_1"), Role::Customer);
        assert_eq!(pair_role(None, "ch_1", "ch_0", "ch_1"), Role::Agent);
        assert_eq!(pair_role(swap, "ch_1", "ch_0", "ch_1"), Role::Customer);
        assert_eq!(pair_role(swap, "ch_0", "ch_0", "ch_1"), Role::Agent);
        assert_eq!(pair_role(None, "ch_2", "ch_0", "ch_1"), Role::Other);
        assert_eq!(pair_role(Some("3"), "ch_2", "ch_0", "ch_1"), Role::Other);
        // An override naming neither channel does not silence both.
        assert_eq!(pair_role(Some("x"), "ch_0", "ch_0", "ch_1"), Role::Customer);
        assert_eq!(pair_role(Some("x"), "ch_1", "ch_0", "ch_1"), Role::Agent);
    }

    #[test]
    fn replace_by_id_keeps_one_segment_even_when_the_vendor_id_changes() {
        let mut c = CallAdapter::new("c");
        let rev = |id: &str, f| Rev::Replace {
            id: id.into(),
            is_final: f,
        };
        let a = seg(c.apply(speech("ch_0", "llevo", rev("r1", false), 1000, 1400), 0));
        let b = seg(c.apply(
            speech("ch_0", "llevo una hora", rev("r2", true), 1000, 2500),
            0,
        ));
        assert_eq!(a.segment_id, b.segment_id);
        assert!(b.is_final && b.text == "llevo una hora");
    }

    #[test]
    fn fragments_are_appended_then_replaced_by_the_final() {
        let mut c = CallAdapter::new("c");
        let frag = || Rev::Fragment { id: "t7".into() };
        seg(c.apply(
            speech("CUSTOMER", "llevo una hora", frag(), 12340, 13100),
            0,
        ));
        let p = seg(c.apply(speech("CUSTOMER", "esperando", frag(), 13120, 14020), 0));
        assert_eq!(
            (p.text.as_str(), p.start_ms, p.end_ms),
            ("llevo una hora esperando", 12340, 14020)
        );
        let fin = Rev::Replace {
            id: "t7".into(),
            is_final: true,
        };
        let f = seg(c.apply(
            speech("CUSTOMER", "Llevo una hora esperando.", fin, 12340, 14020),
            0,
        ));
        assert!(f.is_final && f.segment_id == "t7");
    }

    #[test]
    fn id_less_utterances_get_a_stable_id_per_channel_closed_by_the_final() {
        let mut c = CallAdapter::new("c");
        let a = seg(c.apply(
            speech("0", "llevo una", Rev::Open(Step::Commit), 1000, 1500),
            0,
        ));
        let b = seg(c.apply(speech("0", "hora", Rev::Open(Step::Interim), 1500, 1900), 0));
        let other = seg(c.apply(speech("1", "vale", Rev::Open(Step::Interim), 1600, 1800), 0));
        let f = seg(c.apply(
            speech("0", "hora esperando", Rev::Open(Step::Final), 1500, 2400),
            0,
        ));
        assert_eq!(a.segment_id, b.segment_id);
        assert_eq!(b.segment_id, f.segment_id);
        assert_ne!(other.segment_id, a.segment_id);
        assert_eq!(
            (f.text.as_str(), f.start_ms, f.end_ms, f.is_final),
            ("llevo una hora esperando", 1000, 2400, true)
        );
        let next = seg(c.apply(speech("0", "otra", Rev::Open(Step::Interim), 3000, 3300), 0));
        assert_ne!(next.segment_id, f.segment_id);
    }

    #[test]
    fn wall_clock_times_count_from_the_first_one() {
        let mut c = CallAdapter::new("c");
        c.apply(
            What::Start {
                agent_id: None,
                at: Some(When::Wall(1_000_000)),
            },
            0,
        );
        let s = What::Speech(Speech {
            role: Role::Agent,
            channel: "outbound_track".into(),
            text: "buenas tardes".into(),
            rev: Rev::Open(Step::Final),
            start: Some(When::Wall(1_000_500)),
            end: Some(When::Wall(1_002_000)),
        });
        let s = seg(c.apply(s, 0));
        assert_eq!((s.start_ms, s.end_ms), (500, 2000));
    }

    #[test]
    fn fragments_of_utterances_never_finalised_are_bounded() {
        let mut c = CallAdapter::new("c");
        for i in 0..(MAX_OPEN_FRAGMENTS as u64 + 10) {
            let rev = Rev::Fragment {
                id: format!("t{i}"),
            };
            seg(c.apply(speech("CUSTOMER", "hola", rev, i * 1000, i * 1000 + 500), 0));
        }
        assert_eq!(c.fragments.len(), MAX_OPEN_FRAGMENTS);
        assert!(!c.fragments.contains_key("t0"));
    }

    #[test]
    fn third_parties_produce_nothing() {
        let mut c = CallAdapter::new("c");
        let w = What::Speech(Speech {
            role: Role::Other,
            channel: "SUPERVISOR".into(),
            text: "entro en la llamada".into(),
            rev: Rev::Replace {
                id: "x".into(),
                is_final: true,
            },
            start: Some(When::Media(0)),
            end: Some(When::Media(900)),
        });
        assert!(c.apply(w, 0).is_empty());
    }

    fn twilio(event: &str, seq: u64, track: &str, fin: bool, text: &str, at: &str) -> String {
        format!(
            "TranscriptionEvent={event}&CallSid=CA1&SequenceId={seq}&Track={track}&Final={fin}\
             &Timestamp=2026-11-23T10%3A00%3A{at}Z&TranscriptionData=%7B%22transcript%22%3A%22{text}%22%7D"
        )
    }

    fn segments(out: &[Inbound]) -> Vec<&Segment> {
        out.iter()
            .filter_map(|m| match m {
                Inbound::Segment(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn retried_twilio_callbacks_and_late_partials_change_nothing() {
        let mut a = Adapter::new(Format::Twilio, Settings::default());
        let start = "TranscriptionEvent=transcription-started&CallSid=CA1&SequenceId=1\
            &Track=both_tracks&Timestamp=2026-11-23T10%3A00%3A00.000Z";
        let p = twilio(
            "transcription-content",
            2,
            "inbound_track",
            false,
            "llevo",
            "01.000",
        );
        let f = twilio(
            "transcription-content",
            3,
            "inbound_track",
            true,
            "llevo+una+hora",
            "02.000",
        );
        let mut out = Vec::new();
        for body in [start, &p, &f, &f, &p] {
            out.extend(a.translate(body.as_bytes(), 0).unwrap());
        }
        let segs = segments(&out);
        assert_eq!(segs.len(), 2, "{segs:?}");
        assert!(segs[1].is_final && segs[1].text == "llevo una hora");
        // The next utterance still opens: a higher SequenceId.
        let next = twilio(
            "transcription-content",
            4,
            "inbound_track",
            false,
            "vale",
            "03.000",
        );
        let n = a.translate(next.as_bytes(), 0).unwrap();
        assert_eq!(segments(&n).len(), 1);
        assert_ne!(segments(&n)[0].segment_id, segs[1].segment_id);
    }

    #[test]
    fn a_partial_after_its_final_opens_no_utterance_and_a_repeated_final_is_dropped() {
        let mut c = CallAdapter::new("c");
        let at = |ms| Some(When::Media(ms));
        let sp = |text: &str, step, end| {
            What::Speech(Speech {
                role: Role::Customer,
                channel: "1".into(),
                text: text.into(),
                rev: Rev::Open(step),
                start: at(end),
                end: at(end),
            })
        };
        seg(c.apply(sp("llevo", Step::Interim, 1000), 0));
        let f = seg(c.apply(sp("llevo una hora", Step::Final, 2000), 0));
        assert!(f.is_final);
        assert!(c.apply(sp("llevo una", Step::Interim, 1500), 0).is_empty());
        assert!(c
            .apply(sp("llevo una hora", Step::Final, 2000), 0)
            .is_empty());
        assert!(c.open.is_empty());
        let n = seg(c.apply(sp("vale", Step::Interim, 2600), 0));
        assert_ne!(n.segment_id, f.segment_id);
    }

    #[test]
    fn remembered_deliveries_are_bounded() {
        let mut seen = Seen::default();
        for i in 0..(MAX_REMEMBERED + 10) {
            assert!(seen.first_time(&[Once::Id(format!("m{i}"))]));
        }
        assert_eq!(seen.ids.len(), MAX_REMEMBERED);
        assert!(!seen.first_time(&[Once::Id(format!("m{}", MAX_REMEMBERED + 9))]));
        // The oldest was forgotten.
        assert!(seen.first_time(&[Once::Id("m0".into())]));
    }

    #[test]
    fn a_final_knows_the_start_better_than_its_first_hypothesis() {
        let mut c = CallAdapter::new("c");
        let sp = |step, start, end| {
            What::Speech(Speech {
                role: Role::Agent,
                channel: "HUMAN_AGENT".into(),
                text: "buenas tardes".into(),
                rev: Rev::Open(step),
                start: Some(When::Media(start)),
                end: Some(When::Media(end)),
            })
        };
        seg(c.apply(sp(Step::Interim, 900, 900), 0));
        let f = seg(c.apply(sp(Step::Final, 500, 1800), 0));
        assert_eq!((f.start_ms, f.end_ms), (500, 1800));
    }

    #[test]
    fn an_override_must_name_a_channel_of_the_format() {
        let with = |k: &str, v: &str| Settings::from_query(&[(k.to_string(), v.to_string())]);
        let field = |s: Settings, f| s.for_format(f).unwrap_err().field;
        assert_eq!(
            field(with("customer_channel", "ch_1"), Format::Genesys),
            "customer_channel"
        );
        assert_eq!(
            field(with("customer_channel", "0"), Format::ContactLens),
            "customer_channel"
        );
        assert_eq!(
            field(with("customer_channel", "1"), Format::Twilio),
            "customer_channel"
        );
        assert_eq!(
            field(with("customer_track", "left"), Format::Twilio),
            "customer_track"
        );
        assert_eq!(
            field(with("customer_speaker", "uno"), Format::Deepgram),
            "customer_speaker"
        );
        assert_eq!(
            field(with("customer_speaker", "0"), Format::Jambonz),
            "customer_speaker"
        );
        for (f, c) in [
            (Format::AwsTranscribe, "CH_1"),
            (Format::Genesys, "internal"),
            (Format::Deepgram, "1"),
            (Format::Jambonz, "2"),
        ] {
            assert!(with("customer_channel", c).for_format(f).is_ok(), "{f} {c}");
        }
        // LCA takes Transcribe's names for its channels.
        let lca = with("customer_channel", "ch_1")
            .for_format(Format::AwsLca)
            .unwrap();
        assert_eq!(lca.customer_channel.as_deref(), Some("AGENT"));
    }

    #[test]
    fn an_lca_override_also_swaps_embedded_transcribe_events() {
        let s = Settings::from_query(&[("customer_channel".into(), "AGENT".into())])
            .for_format(Format::AwsLca)
            .unwrap();
        let rec = r#"{"EventType":"ADD_TRANSCRIPT_SEGMENT","CallId":"c","TranscriptEvent":{"Transcript":
            {"Results":[{"ResultId":"r","StartTime":1,"EndTime":2,"ChannelId":"ch_1",
            "Alternatives":[{"Transcript":"hola"}]}]}}}"#;
        let n = decode(Format::AwsLca, rec.as_bytes(), &s).unwrap();
        let What::Speech(sp) = &n[0].what else {
            panic!()
        };
        assert_eq!(sp.role, Role::Customer);
    }

    #[test]
    fn empty_ids_count_as_absent() {
        let s = Settings::from_query(&[
            ("agent_id".into(), "a-9".into()),
            ("customer_id".into(), "".into()),
        ]);
        let mut a = Adapter::new(Format::AwsLca, s);
        let out = a
            .translate(
                br#"{"EventType":"START","CallId":"c-1","AgentId":"","CustomerPhoneNumber":"+34600111222"}"#,
                0,
            )
            .unwrap();
        let Some(Inbound::CallStart(start)) = out.first() else {
            panic!("{out:?}")
        };
        assert_eq!(start.agent_id, "a-9");
        assert_eq!(start.customer_id.as_deref(), Some("+34600111222"));
        let e = decode(
            Format::AwsLca,
            br#"{"EventType":"END","CallId":""}"#,
            &Settings::default(),
        )
        .unwrap_err();
        assert_eq!(e.field, "CallId");
    }

    #[test]
    fn twilio_takes_a_v1_call_end_and_its_from_is_the_customer() {
        let n = decode(
            Format::Twilio,
            br#"{"type":"call.end","call_id":"CA1"}"#,
            &Settings::default(),
        )
        .unwrap();
        assert_eq!((n[0].call_id.as_str(), &n[0].what), ("CA1", &What::End));
        let body = b"TranscriptionEvent=transcription-started&CallSid=CA1&From=%2B34600111222";
        let n = decode(Format::Twilio, body, &Settings::default()).unwrap();
        assert_eq!(n[0].customer_id.as_deref(), Some("+34600111222"));
        let s = Settings::from_query(&[("customer_id".into(), "crm-7".into())]);
        assert_eq!(
            CallAdapter::start_message(&n[0], &s).customer_id.as_deref(),
            Some("crm-7")
        );
    }

    #[test]
    fn a_redelivery_after_the_end_starts_no_ghost_call() {
        let mut a = Adapter::new(Format::Twilio, Settings::default());
        let f = twilio(
            "transcription-content",
            2,
            "inbound_track",
            true,
            "hola",
            "01.000",
        );
        let stop = "TranscriptionEvent=transcription-stopped&CallSid=CA1&SequenceId=3\
            &Track=both_tracks&Timestamp=2026-11-23T10%3A00%3A05.000Z";
        for body in [f.as_str(), stop] {
            a.translate(body.as_bytes(), 0).unwrap();
        }
        assert!(a.translate(f.as_bytes(), 0).unwrap().is_empty());
        // A new delivery on the same call id starts it again.
        let next = twilio(
            "transcription-content",
            4,
            "inbound_track",
            true,
            "otra",
            "09.000",
        );
        let out = a.translate(next.as_bytes(), 0).unwrap();
        assert!(
            matches!(out.first(), Some(Inbound::CallStart(_))),
            "{out:?}"
        );
        assert_eq!(segments(&out).len(), 1);
    }
}
