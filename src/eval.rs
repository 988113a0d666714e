//! The tuning workbench's scorer (`calma eval DIR`): labelled calls and utterances, run through the
//! same engine as the live service, compared with what a human labeller wrote.
//!
//! - **Calls**: `NAME.jsonl` (protocol v1 messages) beside `NAME.expect.json`. Calls are streamed
//!   as a platform would (partials every second, ticks in silence) unless `finals_only`. A label
//!   file lists `expected_nudges` (`kind`, and a window `after`..`by` of segment ids), `acceptable`
//!   kinds (neither right nor wrong), `must_not_fire`, `max_nudges`, and the customer's
//!   `peak_level` / `end_level`. The older team format (`must_fire`, `peak_level_at_most`, …) is
//!   read too: a `must_fire` kind may fire anywhere in the call.
//! - **Utterances**: TSV files with a header naming at least `id`, `speaker`, `text`, `level`
//!   (and optionally `variant`): each customer row is run as a one-segment call and its level is the
//!   call's frustration peak.
//! - **Exchanges**: `exchanges.tsv` files (`id region customer_level customer agent … due
//!   acceptable`): one customer turn and the agent's answer to it, streamed as a short call after
//!   a greeting; the nudge `due` on that answer (or `none`) is compared with what the answer got.
//!   Only the kinds that judge an answer to the customer's words are scored ([`EXCHANGE_KINDS`]).
//!
//! Scores: per-kind precision and recall of nudges, calls whose nudges are all right, nudges on
//! calm calls, nudge rate, frustration confusion matrices, exact and binary agreement per region.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use crate::engine::Resources;
use crate::protocol::ParseLimits;
use crate::replay::replay_jsonl;

/// The four frustration levels, in order.
pub const LEVELS: [&str; 4] = ["calm", "tense", "frustrated", "angry"];

/// A fired nudge counts as on time if it falls within the expected window widened by this much
/// on each side: the engine sees a segment only when its final arrives, and a panel shows advice
/// at the next turn boundary.
pub const WINDOW_SLACK_MS: u64 = 3_000;

fn level_rank(l: &str) -> Option<usize> {
    LEVELS.iter().position(|x| *x == l)
}

/// How to run the evaluation.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Stream calls with only their final segments (no partials, no ticks).
    pub finals_only: bool,
    /// Partial revision interval when streaming live.
    pub partial_every_ms: u64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            finals_only: false,
            partial_every_ms: 1_000,
        }
    }
}

/// Precision/recall counts of one nudge kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindScore {
    pub expected: usize,
    pub fired: usize,
    pub true_pos: usize,
    pub false_pos: usize,
    pub false_neg: usize,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
}

/// One call's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CallResult {
    pub name: String,
    pub region: String,
    /// Every nudge shown, and every expected one that was not.
    pub nudges: Vec<NudgeOutcome>,
    /// Human-readable problems with the nudges (missed, wrong, early/late, too many).
    pub nudge_errors: Vec<String>,
    pub peak_expected: Option<String>,
    pub peak_read: String,
    pub end_expected: Option<String>,
    pub end_read: String,
    pub levels_ok: bool,
    pub media_minutes: f64,
    /// Labelled with the older `must_fire`/`must_not_fire` format.
    pub old_format: bool,
}

impl CallResult {
    pub fn nudges_ok(&self) -> bool {
        self.nudge_errors.is_empty()
    }
}

/// How one nudge compares with the label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Expected, and shown within its window.
    Right,
    /// Not expected, but the label accepts it.
    Acceptable,
    /// Shown, but not expected (or outside its window).
    FalseAlarm,
    /// Expected, never shown in its window.
    Missed,
}

/// One nudge of a call: shown (with its media time) or missed.
#[derive(Debug, Clone, Serialize)]
pub struct NudgeOutcome {
    pub kind: String,
    pub at_ms: Option<u64>,
    pub outcome: Outcome,
}

impl NudgeOutcome {
    fn shown(&self) -> bool {
        self.at_ms.is_some()
    }
}

impl std::fmt::Display for NudgeOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tag = match self.outcome {
            Outcome::Right => "",
            Outcome::Acceptable => "~",
            Outcome::FalseAlarm => "!",
            Outcome::Missed => "?",
        };
        match self.at_ms {
            Some(ms) => write!(f, "{tag}{}@{:.1}", self.kind, ms as f64 / 1000.0),
            None => write!(f, "{tag}{}", self.kind),
        }
    }
}

/// Scores over a set of calls.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CallsReport {
    pub calls: Vec<CallResult>,
    pub per_kind: BTreeMap<String, KindScore>,
    pub calls_nudges_right: usize,
    pub calls_levels_right: usize,
    pub calm_calls: usize,
    pub nudges_on_calm_calls: usize,
    pub nudges_total: usize,
    pub nudges_per_call: f64,
    pub nudges_per_minute: f64,
    /// `peak[expected][read]` counts, rows and columns in [`LEVELS`] order.
    pub peak_confusion: [[usize; 4]; 4],
    pub end_confusion: [[usize; 4]; 4],
    /// Calls labelled in the older format (kinds they do not name are tolerated).
    pub old_format_calls: usize,
}

/// One utterance's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct UtteranceResult {
    pub id: String,
    pub region: String,
    pub text: String,
    pub expected: String,
    pub read: String,
}

/// Agreement figures for a group of utterances.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Agreement {
    pub n: usize,
    pub exact: usize,
    /// calm/tense vs frustrated/angry.
    pub binary: usize,
    pub within_one: usize,
}

impl Agreement {
    fn add(&mut self, expected: usize, read: usize) {
        self.n += 1;
        self.exact += usize::from(expected == read);
        self.binary += usize::from((expected >= 2) == (read >= 2));
        self.within_one += usize::from(expected.abs_diff(read) <= 1);
    }
    pub fn exact_rate(&self) -> f64 {
        ratio(self.exact, self.n)
    }
    pub fn binary_rate(&self) -> f64 {
        ratio(self.binary, self.n)
    }
}

/// Scores over a set of customer utterances.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UtterancesReport {
    pub overall: Agreement,
    pub per_region: BTreeMap<String, Agreement>,
    /// `[expected][read]`, in [`LEVELS`] order.
    pub confusion: [[usize; 4]; 4],
    pub misses: Vec<UtteranceResult>,
}

/// Everything `calma eval` found under a directory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub calls: Option<CallsReport>,
    pub utterances: Option<UtterancesReport>,
    /// One answer each: a call per exchange, `calm_calls` counting those where nothing is due.
    pub exchanges: Option<CallsReport>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Files found under `dir` (recursively): call files with their labels, and utterance TSVs.
#[derive(Debug, Default)]
pub struct Corpus {
    pub calls: Vec<(PathBuf, PathBuf)>,
    pub utterances: Vec<PathBuf>,
    pub exchanges: Vec<PathBuf>,
}

/// Walk `dir` for `*.jsonl` with a sibling `*.expect.json`, and `*.tsv` utterance files.
pub fn discover(dir: &Path) -> std::io::Result<Corpus> {
    let mut corpus = Corpus::default();
    let mut stack = vec![dir.to_path_buf()];
    if dir.is_file() {
        stack.clear();
        classify(dir, &mut corpus);
    }
    while let Some(d) = stack.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&d)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else {
                classify(&p, &mut corpus);
            }
        }
    }
    corpus.calls.sort();
    corpus.utterances.sort();
    corpus.exchanges.sort();
    Ok(corpus)
}

fn classify(p: &Path, corpus: &mut Corpus) {
    let name = p.to_string_lossy();
    if let Some(stem) = name.strip_suffix(".jsonl") {
        let expect = PathBuf::from(format!("{stem}.expect.json"));
        if expect.is_file() {
            corpus.calls.push((p.to_path_buf(), expect));
        }
    } else if name.ends_with("exchanges.tsv") {
        corpus.exchanges.push(p.to_path_buf());
    } else if name.ends_with(".tsv") {
        corpus.utterances.push(p.to_path_buf());
    }
}

/// Score every labelled call and utterance file under `dir`.
pub fn evaluate_dir(res: Arc<Resources>, dir: &Path, opts: &EvalOptions) -> Result<Report, String> {
    let corpus = discover(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut report = Report::default();
    if !corpus.calls.is_empty() {
        let mut calls = Vec::new();
        for (jsonl, expect) in &corpus.calls {
            let text = read(jsonl)?;
            let label: Value = serde_json::from_str(&read(expect)?)
                .map_err(|e| format!("{}: {e}", expect.display()))?;
            let name = jsonl
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            calls.push(
                evaluate_call(res.clone(), &name, &text, &label, opts)
                    .map_err(|e| format!("{}: {e}", jsonl.display()))?,
            );
        }
        report.calls = Some(summarise_calls(calls));
    }
    if !corpus.utterances.is_empty() {
        let mut rows = Vec::new();
        for p in &corpus.utterances {
            rows.extend(read_utterances(&read(p)?).map_err(|e| format!("{}: {e}", p.display()))?);
        }
        report.utterances = Some(evaluate_utterances(res.clone(), &rows));
    }
    if !corpus.exchanges.is_empty() {
        let mut results = Vec::new();
        for p in &corpus.exchanges {
            let rows = read_exchanges(&read(p)?).map_err(|e| format!("{}: {e}", p.display()))?;
            for x in &rows {
                results.push(
                    evaluate_exchange(res.clone(), x, opts)
                        .map_err(|e| format!("{} {}: {e}", p.display(), x.id))?,
                );
            }
        }
        report.exchanges = Some(summarise_calls(results));
    }
    Ok(report)
}

fn read(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

/// One labelled customer utterance.
#[derive(Debug, Clone)]
pub struct Utterance {
    pub id: String,
    pub region: String,
    pub text: String,
    pub level: String,
}

/// Read an utterance TSV by its header's column names (`#` comment lines skipped); agent rows and
/// rows without a level are left out.
pub fn read_utterances(text: &str) -> Result<Vec<Utterance>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let cols: Vec<&str> = header.split('\t').map(str::trim).collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let (Some(id), Some(speaker), Some(text_col), Some(level)) =
        (col("id"), col("speaker"), col("text"), col("level"))
    else {
        return Err("the header must name id, speaker, text and level".into());
    };
    let variant = col("variant");
    let mut out = Vec::new();
    for (i, line) in lines {
        let c: Vec<&str> = line.split('\t').collect();
        let get = |k: usize| c.get(k).map(|s| s.trim()).unwrap_or("");
        if get(speaker) != "customer" {
            continue;
        }
        let lv = get(level);
        if level_rank(lv).is_none() {
            return Err(format!("line {}: unknown level {lv:?}", i + 1));
        }
        out.push(Utterance {
            id: get(id).to_string(),
            region: variant.map(get).unwrap_or("").to_string(),
            text: get(text_col).to_string(),
            level: lv.to_string(),
        });
    }
    Ok(out)
}

/// The level calma reads for one customer utterance said once in a call: the frustration peak
/// of a call made of that one segment. `region` is passed as the call's region hint.
pub fn read_utterance_level(res: Arc<Resources>, text: &str, region: &str) -> String {
    let mut start = json!({"type":"call.start","call_id":"u","agent_id":"eval"});
    if !region.is_empty() && region != "all" {
        start["region"] = json!(region);
    }
    let ms = 600 + 70 * text.chars().count() as u64;
    let seg = json!({"type":"segment","call_id":"u","segment_id":"u-1","speaker":"customer",
        "text":text,"start_ms":1000,"end_ms":1000 + ms,"final":true});
    let input = format!(
        "{start}\n{seg}\n{}\n",
        json!({"type":"call.end","call_id":"u"})
    );
    replay_jsonl(res, &input, &ParseLimits::default())
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|o| o["type"] == "call.summary")
        .and_then(|s| s["frustration_peak"]["level"].as_str().map(String::from))
        .unwrap_or_else(|| "calm".into())
}

/// Score customer utterances.
pub fn evaluate_utterances(res: Arc<Resources>, rows: &[Utterance]) -> UtterancesReport {
    let mut r = UtterancesReport::default();
    for u in rows {
        let read = read_utterance_level(res.clone(), &u.text, &u.region);
        let (e, g) = (
            level_rank(&u.level).unwrap_or(0),
            level_rank(&read).unwrap_or(0),
        );
        r.overall.add(e, g);
        r.per_region.entry(u.region.clone()).or_default().add(e, g);
        r.confusion[e][g] += 1;
        if e != g {
            r.misses.push(UtteranceResult {
                id: u.id.clone(),
                region: u.region.clone(),
                text: u.text.clone(),
                expected: u.level.clone(),
                read,
            });
        }
    }
    r
}

/// The `after` segment of an expected nudge and its start.
type AfterSegment = Option<(String, u64)>;

/// A nudge the engine showed.
struct Fired {
    kind: String,
    at_ms: u64,
    /// The segments its evidence cites.
    cites: Vec<String>,
    matched: bool,
}

/// The nudge kinds an exchange judges: advice about an answer to what the customer just said.
/// The others (an outburst's `breathe`, abuse, silences, pace, transfers, interruptions, an
/// unheard repetition) need a call around them and are neither right nor wrong here.
pub const EXCHANGE_KINDS: [&str; 4] = [
    "show_empathy",
    "avoid_empty_phrases",
    "offer_next_step",
    "offer_escalation",
];

/// Every nudge kind, for the exchanges' tolerated list.
const ALL_KINDS: [&str; 11] = [
    "abuse_boundary",
    "breathe",
    "let_them_finish",
    "dead_air",
    "offer_escalation",
    "own_the_transfer",
    "active_listening",
    "show_empathy",
    "offer_next_step",
    "avoid_empty_phrases",
    "slow_down",
];

/// One labelled customer turn and the agent's answer to it.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub id: String,
    pub region: String,
    pub customer_level: String,
    pub customer: String,
    pub agent: String,
    /// One of [`EXCHANGE_KINDS`], or `none`.
    pub due: String,
    /// Kinds a reasonable coach might also show here.
    pub acceptable: Vec<String>,
}

/// Read an exchanges TSV by its header's column names (`#` comment lines skipped).
pub fn read_exchanges(text: &str) -> Result<Vec<Exchange>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let cols: Vec<&str> = header.split('\t').map(str::trim).collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let (Some(id), Some(customer), Some(agent), Some(due)) =
        (col("id"), col("customer"), col("agent"), col("due"))
    else {
        return Err("the header must name id, customer, agent and due".into());
    };
    let (region, level, acceptable) = (col("region"), col("customer_level"), col("acceptable"));
    let mut out = Vec::new();
    for (i, line) in lines {
        let c: Vec<&str> = line.split('\t').collect();
        let get = |k: usize| c.get(k).map(|s| s.trim()).unwrap_or("");
        let due_kind = get(due);
        if due_kind != "none" && !EXCHANGE_KINDS.contains(&due_kind) {
            return Err(format!("line {}: unknown due kind {due_kind:?}", i + 1));
        }
        if get(customer).is_empty() || get(agent).is_empty() {
            return Err(format!("line {}: an exchange needs both turns", i + 1));
        }
        out.push(Exchange {
            id: get(id).to_string(),
            region: region.map(get).unwrap_or("").to_string(),
            customer_level: level.map(get).unwrap_or("").to_string(),
            customer: get(customer).to_string(),
            agent: get(agent).to_string(),
            due: due_kind.to_string(),
            acceptable: acceptable
                .map(get)
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|k| ALL_KINDS.contains(k))
                .map(String::from)
                .collect(),
        });
    }
    Ok(out)
}

/// An exchange as a short call: the agent's greeting, a pause, the customer's turn at ~2.9 words
/// a second, the answer 0.7 s later at ~2.6 words a second (about 5.5 syllables a second, well
/// under the pace rule), then a few seconds of ticks for the advice to arrive. The customer speaks after the first
/// 10 s, when advice may be shown. Segment ids: `g` greeting, `c` customer, `a` answer.
pub fn exchange_call(x: &Exchange) -> Vec<Value> {
    let words = |t: &str| t.split_whitespace().count() as u64;
    let c_start = 9_000;
    let c_end = c_start + (words(&x.customer) * 350).max(1_500);
    let a_start = c_end + 700;
    let a_end = a_start + (words(&x.agent) * 380).max(900);
    let seg = |id: &str, speaker: &str, text: &str, start: u64, end: u64| {
        json!({"type":"segment","call_id":x.id,"segment_id":id,"speaker":speaker,"text":text,
               "start_ms":start,"end_ms":end,"final":true})
    };
    let mut start = json!({"type":"call.start","call_id":x.id,"agent_id":"eval"});
    if !x.region.is_empty() {
        start["region"] = json!(x.region);
    }
    vec![
        start,
        seg(
            "g",
            "agent",
            "buenos días, gracias por llamar, ¿en qué le puedo ayudar?",
            0,
            3_500,
        ),
        seg("c", "customer", &x.customer, c_start, c_end),
        seg("a", "agent", &x.agent, a_start, a_end),
        json!({"type":"tick","call_id":x.id,"at_ms":a_end + 8_000}),
        json!({"type":"call.end","call_id":x.id}),
    ]
}

/// Stream one exchange like a call and compare what its answer got with `due`.
pub fn evaluate_exchange(
    res: Arc<Resources>,
    x: &Exchange,
    opts: &EvalOptions,
) -> Result<CallResult, String> {
    let jsonl: String = exchange_call(x).iter().map(|m| format!("{m}\n")).collect();
    let mut acceptable: Vec<&str> = ALL_KINDS
        .iter()
        .copied()
        .filter(|k| !EXCHANGE_KINDS.contains(k))
        .collect();
    acceptable.extend(x.acceptable.iter().map(String::as_str));
    let expected: Vec<Value> = if x.due == "none" {
        Vec::new()
    } else {
        vec![json!({"kind": x.due, "after": "a"})]
    };
    let label = json!({"region": x.region, "expected_nudges": expected, "acceptable": acceptable});
    evaluate_call(res, &x.id, &jsonl, &label, opts)
}

/// Run one labelled call and compare its nudges and levels with the label.
pub fn evaluate_call(
    res: Arc<Resources>,
    name: &str,
    jsonl: &str,
    label: &Value,
    opts: &EvalOptions,
) -> Result<CallResult, String> {
    let mut messages = crate::traffic::parse_jsonl(jsonl)?;
    let region = label["region"].as_str().unwrap_or("").to_string();
    if let Some(start) = messages.iter_mut().find(|m| m["type"] == "call.start") {
        if !region.is_empty() && start.get("region").is_none() {
            start["region"] = json!(region);
        }
    }
    // Each final segment's (start, end), by id: windows open and close on them.
    let seg_span: BTreeMap<String, (Option<u64>, u64)> = messages
        .iter()
        .filter(|m| m["type"] == "segment" && m["final"] != false)
        .filter_map(|m| {
            let span = (m["start_ms"].as_u64(), m["end_ms"].as_u64()?);
            Some((m["segment_id"].as_str()?.to_string(), span))
        })
        .collect();
    let first_ms = messages
        .iter()
        .filter(|m| m["type"] == "segment")
        .filter_map(|m| m["start_ms"].as_u64())
        .min()
        .unwrap_or(0);
    let last_ms = seg_span.values().map(|s| s.1).max().unwrap_or(0);
    let stream = if opts.finals_only {
        messages.clone()
    } else {
        crate::traffic::live_stream(&messages, opts.partial_every_ms)
            .ok_or("not one whole call (call.start … call.end)")?
    };
    let input: String = stream.iter().map(|m| format!("{m}\n")).collect();
    let outputs: Vec<Value> = replay_jsonl(res, &input, &ParseLimits::default())
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    if let Some(e) = outputs.iter().find(|o| o["type"] == "error") {
        return Err(format!("the engine refused the call: {e}"));
    }
    let summary = outputs
        .iter()
        .find(|o| o["type"] == "call.summary")
        .ok_or("no call.summary")?;
    let mut fired: Vec<Fired> = outputs
        .iter()
        .filter(|o| o["type"] == "nudge")
        .map(|o| Fired {
            kind: o["kind"].as_str().unwrap_or("").to_string(),
            at_ms: o["at_ms"].as_u64().unwrap_or(0),
            cites: o["evidence"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["segment_id"].as_str().map(str::to_string))
                .collect(),
            matched: false,
        })
        .collect();
    let mut errors = Vec::new();
    // Expected nudges, each matched to the first unmatched fired nudge of its kind in its window.
    // (kind, from, to, the `after` segment and its start)
    let mut expected: Vec<(String, u64, u64, AfterSegment)> = Vec::new();
    for e in label["expected_nudges"].as_array().into_iter().flatten() {
        let kind = e["kind"].as_str().ok_or("expected_nudges[].kind missing")?;
        let bound = |key: &str, default: u64| -> Result<u64, String> {
            match e[key].as_str() {
                None => Ok(default),
                Some(id) => seg_span
                    .get(id)
                    .map(|s| s.1)
                    .ok_or(format!("expected_nudges: unknown segment {id:?}")),
            }
        };
        let after = e["after"]
            .as_str()
            .and_then(|id| Some((id.to_string(), seg_span.get(id)?.0?)));
        expected.push((
            kind.to_string(),
            bound("after", first_ms)?,
            bound("by", last_ms)?,
            after,
        ));
    }
    for k in label["must_fire"].as_array().into_iter().flatten() {
        if let Some(k) = k.as_str() {
            if !expected.iter().any(|(e, ..)| e == k) {
                expected.push((k.to_string(), first_ms, last_ms + 60_000, None));
            }
        }
    }
    let acceptable: Vec<&str> = label["acceptable"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    // The older team format lists only must_fire / must_not_fire: other kinds are tolerated.
    let old_format = label.get("expected_nudges").is_none();
    let must_not: Vec<&str> = label["must_not_fire"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let tolerated = |kind: &str| {
        (acceptable.contains(&kind) || (old_format && !must_not.contains(&kind)))
            && !expected.iter().any(|(k, ..)| k == kind)
    };
    let mut outcomes: Vec<(String, bool)> = Vec::new(); // (kind, found) per expected nudge
    for (kind, from, to, after) in &expected {
        let hi = to + WINDOW_SLACK_MS;
        // A nudge about the `after` segment itself (its evidence cites it) is on time from that
        // segment's start: live partials let the engine see a burst or an interruption while it
        // is still being spoken, which is when the agent can still act on it.
        let lo = |f: &Fired| {
            match after {
                Some((id, start)) if f.cites.contains(id) => start.min(from),
                _ => from,
            }
            .saturating_sub(WINDOW_SLACK_MS)
        };
        let hit = fired
            .iter_mut()
            .find(|f| !f.matched && f.kind == *kind && f.at_ms >= lo(f) && f.at_ms <= hi);
        match hit {
            Some(f) => {
                f.matched = true;
                outcomes.push((kind.clone(), true));
            }
            None => {
                let near: Vec<String> = fired
                    .iter()
                    .filter(|f| f.kind == *kind)
                    .map(|f| format!("{:.1}s", f.at_ms as f64 / 1000.0))
                    .collect();
                errors.push(if near.is_empty() {
                    format!(
                        "missed `{kind}` (due {:.1}–{:.1}s)",
                        *from as f64 / 1000.0,
                        *to as f64 / 1000.0
                    )
                } else {
                    format!(
                        "`{kind}` at {} but due {:.1}–{:.1}s",
                        near.join(", "),
                        *from as f64 / 1000.0,
                        *to as f64 / 1000.0
                    )
                });
                outcomes.push((kind.clone(), false));
            }
        }
    }
    for f in fired.iter().filter(|f| !f.matched) {
        if !tolerated(&f.kind) {
            errors.push(format!(
                "unexpected `{}` at {:.1}s",
                f.kind,
                f.at_ms as f64 / 1000.0
            ));
        }
    }
    if let Some(max) = label["max_nudges"].as_u64() {
        if fired.len() as u64 > max {
            errors.push(format!("{} nudges, at most {max} expected", fired.len()));
        }
    }
    let peak_read = summary["frustration_peak"]["level"]
        .as_str()
        .unwrap_or("calm")
        .to_string();
    let end_read = summary["frustration_end"]["level"]
        .as_str()
        .unwrap_or("calm")
        .to_string();
    let rank = |s: &str| level_rank(s).unwrap_or(0);
    let mut levels_ok = true;
    let peak_expected = label["peak_level"].as_str().map(String::from);
    let end_expected = label["end_level"].as_str().map(String::from);
    if let Some(p) = &peak_expected {
        levels_ok &= *p == peak_read;
    }
    if let Some(e) = &end_expected {
        levels_ok &= *e == end_read;
    }
    if let Some(l) = label["peak_level_at_least"].as_str() {
        levels_ok &= rank(&peak_read) >= rank(l);
    }
    if let Some(l) = label["peak_level_at_most"].as_str() {
        levels_ok &= rank(&peak_read) <= rank(l);
    }
    if let Some(l) = label["end_level_at_most"].as_str() {
        levels_ok &= rank(&end_read) <= rank(l);
    }
    let mut nudges: Vec<NudgeOutcome> = fired
        .iter()
        .map(|f| NudgeOutcome {
            kind: f.kind.clone(),
            at_ms: Some(f.at_ms),
            outcome: if f.matched {
                Outcome::Right
            } else if tolerated(&f.kind) {
                Outcome::Acceptable
            } else {
                Outcome::FalseAlarm
            },
        })
        .collect();
    nudges.extend(
        outcomes
            .iter()
            .filter(|(_, found)| !found)
            .map(|(k, _)| NudgeOutcome {
                kind: k.clone(),
                at_ms: None,
                outcome: Outcome::Missed,
            }),
    );
    Ok(CallResult {
        name: name.to_string(),
        region,
        nudges,
        nudge_errors: errors,
        peak_expected,
        peak_read,
        end_expected,
        end_read,
        levels_ok,
        media_minutes: (last_ms.saturating_sub(first_ms)) as f64 / 60_000.0,
        old_format,
    })
}

fn summarise_calls(calls: Vec<CallResult>) -> CallsReport {
    let mut r = CallsReport::default();
    let mut minutes = 0.0;
    for c in &calls {
        minutes += c.media_minutes;
        r.old_format_calls += usize::from(c.old_format);
        r.calls_nudges_right += usize::from(c.nudges_ok());
        r.calls_levels_right += usize::from(c.levels_ok);
        for n in &c.nudges {
            let k = r.per_kind.entry(n.kind.clone()).or_default();
            match n.outcome {
                Outcome::Right => {
                    k.true_pos += 1;
                    k.fired += 1;
                    k.expected += 1;
                }
                Outcome::FalseAlarm => {
                    k.false_pos += 1;
                    k.fired += 1;
                }
                Outcome::Acceptable => {}
                Outcome::Missed => {
                    k.false_neg += 1;
                    k.expected += 1;
                }
            }
        }
        let shown = c.nudges.iter().filter(|n| n.shown()).count();
        r.nudges_total += shown;
        // A calm call: the label says calm and expects no nudge.
        let calm = c.peak_expected.as_deref() == Some("calm")
            && c.nudges
                .iter()
                .all(|n| matches!(n.outcome, Outcome::FalseAlarm | Outcome::Acceptable));
        if calm {
            r.calm_calls += 1;
            r.nudges_on_calm_calls += shown;
        }
        if let (Some(e), Some(g)) = (
            c.peak_expected.as_deref().and_then(level_rank),
            level_rank(&c.peak_read),
        ) {
            r.peak_confusion[e][g] += 1;
        }
        if let (Some(e), Some(g)) = (
            c.end_expected.as_deref().and_then(level_rank),
            level_rank(&c.end_read),
        ) {
            r.end_confusion[e][g] += 1;
        }
    }
    for k in r.per_kind.values_mut() {
        k.precision = (k.fired > 0).then(|| ratio(k.true_pos, k.fired));
        k.recall = (k.expected > 0).then(|| ratio(k.true_pos, k.expected));
    }
    r.nudges_per_call = ratio(r.nudges_total, calls.len());
    r.nudges_per_minute = if minutes > 0.0 {
        r.nudges_total as f64 / minutes
    } else {
        0.0
    };
    r.calls = calls;
    r
}

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

fn confusion_table(out: &mut String, title: &str, m: &[[usize; 4]; 4]) {
    out.push_str(&format!(
        "\n{title} (rows: label, columns: calma)\n| | calm | tense | frustrated | angry |\n|---|---|---|---|---|\n"
    ));
    for (i, row) in m.iter().enumerate() {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            LEVELS[i], row[0], row[1], row[2], row[3]
        ));
    }
}

/// The report as Markdown tables (what `calma eval` prints).
pub fn render(report: &Report, verbose: bool) -> String {
    let mut out = String::new();
    if let Some(u) = &report.utterances {
        out.push_str(&format!(
            "## Utterances: {} customer rows\nexact {}/{} ({}), binary {} ({}), within one {}\n\n| region | n | exact | binary |\n|---|---|---|---|\n",
            u.overall.n,
            u.overall.exact,
            u.overall.n,
            pct(u.overall.exact_rate()),
            u.overall.binary,
            pct(u.overall.binary_rate()),
            u.overall.within_one
        ));
        for (region, a) in &u.per_region {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                if region.is_empty() { "-" } else { region },
                a.n,
                pct(a.exact_rate()),
                pct(a.binary_rate())
            ));
        }
        confusion_table(&mut out, "Levels", &u.confusion);
        if verbose {
            out.push_str("\nMisses:\n");
            for m in &u.misses {
                out.push_str(&format!(
                    "- {} [{}] label {} read {}: {}\n",
                    m.id, m.region, m.expected, m.read, m.text
                ));
            }
        }
        out.push('\n');
    }
    if let Some(x) = &report.exchanges {
        render_exchanges(&mut out, x, verbose);
    }
    if let Some(c) = &report.calls {
        if c.old_format_calls > 0 {
            out.push_str(&format!(
                "({} calls carry the older labels (must_fire/must_not_fire): nudges of kinds they do not name are not scored, so their precision is optimistic)\n",
                c.old_format_calls
            ));
        }
        out.push_str(&format!(
            "## Calls: {}\nnudges all right: {}/{}; levels right: {}/{}; nudges on calm calls: {} over {} calm calls; nudges per call {:.2}, per minute {:.2}\n\n| kind | expected | fired | precision | recall |\n|---|---|---|---|---|\n",
            c.calls.len(),
            c.calls_nudges_right,
            c.calls.len(),
            c.calls_levels_right,
            c.calls.len(),
            c.nudges_on_calm_calls,
            c.calm_calls,
            c.nudges_per_call,
            c.nudges_per_minute
        ));
        for (kind, k) in &c.per_kind {
            kind_row(&mut out, kind, k);
        }
        region_table(&mut out, &c.calls, "calls", "nudges all right");
        confusion_table(&mut out, "Peak level", &c.peak_confusion);
        confusion_table(&mut out, "End level", &c.end_confusion);
        if verbose {
            out.push_str("\nPer call (`!` false alarm, `~` acceptable, `?` missed):\n");
            for call in &c.calls {
                out.push_str(&format!(
                    "- {} [{}] {} peak {}/{} end {}/{} — {}\n",
                    if call.nudges_ok() { "ok  " } else { "FAIL" },
                    call.region,
                    call.name,
                    call.peak_read,
                    call.peak_expected.as_deref().unwrap_or("-"),
                    call.end_read,
                    call.end_expected.as_deref().unwrap_or("-"),
                    if call.nudges.is_empty() {
                        "no nudge".to_string()
                    } else {
                        call.nudges
                            .iter()
                            .map(|n| n.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    }
                ));
                for e in &call.nudge_errors {
                    out.push_str(&format!("      {e}\n"));
                }
            }
        }
    }
    out
}

/// One kind's row of a precision/recall table.
fn kind_row(out: &mut String, kind: &str, k: &KindScore) {
    let f = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
    out.push_str(&format!(
        "| {kind} | {} | {} | {} | {} |\n",
        k.expected,
        k.fired,
        f(k.precision),
        f(k.recall)
    ));
}

/// Calls (or answers) and how many got their nudges right, per region.
fn region_table(out: &mut String, calls: &[CallResult], items: &str, right: &str) {
    let mut regions: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for c in calls {
        let e = regions.entry(c.region.as_str()).or_default();
        e.0 += 1;
        e.1 += usize::from(c.nudges_ok());
    }
    out.push_str(&format!(
        "\n| region | {items} | {right} |\n|---|---|---|\n"
    ));
    for (r, (n, ok)) in regions {
        out.push_str(&format!(
            "| {} | {n} | {ok} |\n",
            if r.is_empty() { "-" } else { r }
        ));
    }
}

/// The exchanges' section: answers right, what the rows with nothing due got, per kind and region.
fn render_exchanges(out: &mut String, x: &CallsReport, verbose: bool) {
    let quiet: Vec<&CallResult> = x
        .calls
        .iter()
        .filter(|c| {
            !c.nudges
                .iter()
                .any(|n| matches!(n.outcome, Outcome::Right | Outcome::Missed))
        })
        .collect();
    let nudged = quiet.iter().filter(|c| !c.nudges_ok()).count();
    out.push_str(&format!(
        "## Exchanges: {} answers\nright: {}/{}; nothing due: {} answers, {} of them nudged\n\n| kind | expected | fired | precision | recall |\n|---|---|---|---|---|\n",
        x.calls.len(),
        x.calls_nudges_right,
        x.calls.len(),
        quiet.len(),
        nudged
    ));
    for kind in EXCHANGE_KINDS {
        kind_row(
            out,
            kind,
            &x.per_kind.get(kind).cloned().unwrap_or_default(),
        );
    }
    region_table(out, &x.calls, "answers", "right");
    if verbose {
        out.push_str("\nWrong answers (`!` false alarm, `?` missed):\n");
        for c in x.calls.iter().filter(|c| !c.nudges_ok()) {
            let shown: Vec<String> = c
                .nudges
                .iter()
                .filter(|n| n.outcome != Outcome::Acceptable)
                .map(|n| n.to_string())
                .collect();
            out.push_str(&format!(
                "- {} [{}] {}\n",
                c.name,
                c.region,
                shown.join(" ")
            ));
        }
    }
    out.push('\n');
}

/// A nudge as the comparison shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShownNudge {
    pub kind: String,
    pub at_ms: u64,
    /// `rule: "quote"` of each piece of evidence.
    pub evidence: Vec<String>,
}

/// How one call's nudges differ between two configurations.
#[derive(Debug, Clone, Serialize)]
pub struct CallDiff {
    pub call_id: String,
    pub only_a: Vec<ShownNudge>,
    pub only_b: Vec<ShownNudge>,
    pub same: usize,
}

/// Two nudges are the same advice if they are of one kind within this much media time.
const SAME_NUDGE_MS: u64 = 5_000;

fn nudges_by_call(res: Arc<Resources>, jsonl: &str) -> BTreeMap<String, Vec<ShownNudge>> {
    let mut out: BTreeMap<String, Vec<ShownNudge>> = BTreeMap::new();
    for line in replay_jsonl(res, jsonl, &ParseLimits::default()) {
        let Ok(o) = serde_json::from_str::<crate::protocol::Outbound>(&line) else {
            continue;
        };
        match o {
            crate::protocol::Outbound::Nudge(n) => {
                out.entry(n.call_id.clone()).or_default().push(ShownNudge {
                    kind: n.kind,
                    at_ms: n.at_ms,
                    evidence: n
                        .evidence
                        .iter()
                        .map(|e| format!("{}: \"{}\"", e.rule, e.quote))
                        .collect(),
                })
            }
            crate::protocol::Outbound::Summary(s) => {
                out.entry(s.call_id.clone()).or_default();
            }
            _ => {}
        }
    }
    out
}

/// Replay the same protocol messages under configurations `a` and `b` and list, call by call,
/// the nudges that only one of them shows (`calma replay --config A --compare B`): what a
/// supervisor checks before changing a campaign.
pub fn compare(a: Arc<Resources>, b: Arc<Resources>, jsonl: &str) -> Vec<CallDiff> {
    let na = nudges_by_call(a, jsonl);
    let mut nb = nudges_by_call(b, jsonl);
    let mut diffs = Vec::new();
    for (call_id, list_a) in na {
        let mut list_b = nb.remove(&call_id).unwrap_or_default();
        let mut only_a = Vec::new();
        let mut same = 0;
        for n in list_a {
            match list_b
                .iter()
                .position(|m| m.kind == n.kind && m.at_ms.abs_diff(n.at_ms) <= SAME_NUDGE_MS)
            {
                Some(i) => {
                    list_b.remove(i);
                    same += 1;
                }
                None => only_a.push(n),
            }
        }
        diffs.push(CallDiff {
            call_id,
            only_a,
            only_b: list_b,
            same,
        });
    }
    for (call_id, only_b) in nb {
        diffs.push(CallDiff {
            call_id,
            only_a: Vec::new(),
            only_b,
            same: 0,
        });
    }
    diffs
}

/// The comparison as text, one block per call that differs.
pub fn render_compare(diffs: &[CallDiff], label_a: &str, label_b: &str) -> String {
    let mut out = String::new();
    let changed = diffs
        .iter()
        .filter(|d| !d.only_a.is_empty() || !d.only_b.is_empty())
        .count();
    out.push_str(&format!(
        "{changed} of {} calls differ ({label_a} vs {label_b})\n",
        diffs.len()
    ));
    for d in diffs
        .iter()
        .filter(|d| !d.only_a.is_empty() || !d.only_b.is_empty())
    {
        out.push_str(&format!("\n{} ({} nudges in both)\n", d.call_id, d.same));
        for (tag, list) in [(label_a, &d.only_a), (label_b, &d.only_b)] {
            for n in list {
                out.push_str(&format!(
                    "  only {tag}: {} at {:.1}s\n",
                    n.kind,
                    n.at_ms as f64 / 1000.0
                ));
                for e in &n.evidence {
                    out.push_str(&format!("      {e}\n"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEAD_AIR_CALL: &str = include_str!("../tests/calls/08_ar_dead_air_no_hold.jsonl");

    fn label(after: &str, by: &str) -> Value {
        // "¿seguís ahí?" after the silence reads tense only on the words, and in a call that was
        // calm a raise on the words alone waits for a second one (`Call::confirmed_reading`).
        json!({
            "region": "es-AR",
            "peak_level": "calm",
            "end_level": "calm",
            "expected_nudges": [{"kind": "dead_air", "after": after, "by": by}],
            "must_not_fire": ["breathe"],
            "max_nudges": 1
        })
    }

    #[test]
    fn a_nudge_inside_its_window_is_right_and_outside_it_is_both_a_miss_and_a_false_alarm() {
        let res = Resources::embedded();
        let opts = EvalOptions::default();
        // The customer waits ~15 s after s-9 and asks "¿seguís ahí?" in s-10.
        let right = evaluate_call(
            res.clone(),
            "c",
            DEAD_AIR_CALL,
            &label("s-9", "s-10"),
            &opts,
        )
        .unwrap();
        assert!(right.nudges_ok(), "{:?}", right.nudge_errors);
        assert_eq!(right.nudges[0].outcome, Outcome::Right);
        assert!(right.levels_ok);

        let early = evaluate_call(res, "c", DEAD_AIR_CALL, &label("s-1", "s-3"), &opts).unwrap();
        let outcomes: Vec<Outcome> = early.nudges.iter().map(|n| n.outcome).collect();
        assert_eq!(outcomes, vec![Outcome::FalseAlarm, Outcome::Missed]);
        assert!(!early.nudges_ok());

        let report = summarise_calls(vec![right, early]);
        let k = &report.per_kind["dead_air"];
        assert_eq!((k.true_pos, k.false_pos, k.false_neg), (1, 1, 1));
        assert_eq!(k.precision, Some(0.5));
        assert_eq!(report.calls_nudges_right, 1);
    }

    /// A call whose agent reads the conditions at a sprint for 18 s (s-3), streamed with partials.
    fn burst_call() -> String {
        let seg = |id: &str, who: &str, from: u64, to: u64, text: &str| {
            json!({"type": "segment", "call_id": "b", "segment_id": id, "speaker": who,
                "text": text, "start_ms": from, "end_ms": to, "final": true})
            .to_string()
        };
        [
            json!({"type": "call.start", "call_id": "b", "agent_id": "a"}).to_string(),
            seg("s-1", "customer", 500, 4_000, "quería saber qué incluye la tarifa nueva"),
            seg("s-2", "agent", 4_500, 6_000, "claro le cuento"),
            seg("s-3", "agent", 6_500, 24_500,
                "la tarifa incluye llamadas ilimitadas a fijos y móviles nacionales, treinta gigas de datos \
                 que se acumulan de un mes a otro, roaming en la unión europea sin coste adicional, una \
                 permanencia de doce meses con penalización proporcional si se da de baja antes, el router \
                 en régimen de cesión y la instalación gratuita si la pide antes del día treinta"),
            seg("s-4", "customer", 25_000, 28_000, "vale y eso cuánto cuesta al mes"),
            seg("s-5", "agent", 28_500, 31_000, "son treinta y cinco euros al mes"),
            json!({"type": "call.end", "call_id": "b"}).to_string(),
        ]
        .join("\n")
    }

    #[test]
    fn a_nudge_about_the_after_segment_itself_is_on_time_while_it_is_spoken() {
        let opts = EvalOptions::default();
        let label = |after: &str| {
            json!({"region": "es-ES", "peak_level": "calm", "end_level": "calm",
                "expected_nudges": [{"kind": "slow_down", "after": after, "by": "s-5"}]})
        };
        // The burst is seen on its partials, long before its final: the nudge cites s-3.
        let live = evaluate_call(
            Resources::embedded(),
            "b",
            &burst_call(),
            &label("s-3"),
            &opts,
        )
        .unwrap();
        assert!(live.nudges_ok(), "{:?}", live.nudge_errors);
        let at = live.nudges[0].at_ms.unwrap();
        assert!(
            at < 24_500 - WINDOW_SLACK_MS,
            "mid-burst, before the old window: {at}"
        );
        // A window opening after a later segment is not met by a nudge about an earlier one.
        let late = evaluate_call(
            Resources::embedded(),
            "b",
            &burst_call(),
            &label("s-4"),
            &opts,
        )
        .unwrap();
        assert!(!late.nudges_ok());
    }

    #[test]
    fn compare_lists_the_nudges_only_one_configuration_shows() {
        let base = Resources::embedded();
        let toml = "[campaigns.default.nudges.kinds.dead_air]\nenabled = false\n";
        let dir = std::env::temp_dir().join(format!("calma-compare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("b.toml");
        std::fs::write(&cfg, toml).unwrap();
        let b = Resources::load(None, Some(&cfg)).unwrap();
        let diffs = compare(base, b, DEAD_AIR_CALL);
        assert_eq!(diffs.len(), 1);
        let d = &diffs[0];
        assert_eq!(d.only_a.len(), 1, "{d:?}");
        assert_eq!(d.only_a[0].kind, "dead_air");
        assert!(
            !d.only_a[0].evidence.is_empty(),
            "the difference carries its evidence"
        );
        assert!(d.only_b.is_empty());
        let text = render_compare(&diffs, "A", "B");
        assert!(text.starts_with("1 of 1 calls differ"), "{text}");
    }

    #[test]
    fn an_unknown_segment_in_a_window_is_an_error_naming_it() {
        let err = evaluate_call(
            Resources::embedded(),
            "c",
            DEAD_AIR_CALL,
            &label("s-9", "s-99"),
            &EvalOptions::default(),
        )
        .unwrap_err();
        assert!(err.contains("s-99"), "{err}");
    }

    #[test]
    fn utterances_are_read_by_header_name_and_scored_per_region() {
        let tsv = "id\tspeaker\tvariant\ttext\tlevel\tsignals\ttarget\tnote\n\
                   u1\tcustomer\tes-ES\tbuenos días quería consultar una factura\tcalm\tnone\tnone\t-\n\
                   u2\tagent\tes-ES\tclaro que sí\t-\tnone\tnone\t-\n\
                   u3\tcustomer\tes-MX\tusted es un inútil y un ladrón\tangry\tinsult_at_agent\tagent\t-\n";
        let rows = read_utterances(tsv).unwrap();
        assert_eq!(rows.len(), 2, "agent rows are left out");
        let r = evaluate_utterances(Resources::embedded(), &rows);
        assert_eq!(r.overall.n, 2);
        assert_eq!(
            r.per_region["es-ES"].exact, 1,
            "a plain question reads calm"
        );
        assert_eq!(r.confusion[0][0], 1);
        assert!(read_utterances("id\tspeaker\ttext\tlevel\nx\tcustomer\thola\tfurious\n").is_err());
    }
}
