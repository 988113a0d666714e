//! Shared helpers for the integration tests: loading labelled calls and streaming them the way a
//! platform does (partials about every second, ticks in silence, finals).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// A labelled call: its protocol messages (finals only) and the expectations a team lead wrote.
pub struct LabelledCall {
    pub name: String,
    pub messages: Vec<Value>,
    pub expect: Value,
}

pub fn calls_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/calls")
}

pub fn load_calls() -> Vec<LabelledCall> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(calls_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            let messages = std::fs::read_to_string(&p)
                .unwrap()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let expect_path = p.with_extension("expect.json");
            let expect = serde_json::from_str(&std::fs::read_to_string(&expect_path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", expect_path.display()));
            LabelledCall {
                name: p.file_stem().unwrap().to_string_lossy().into_owned(),
                messages,
                expect,
            }
        })
        .collect()
}

/// Re-stream finals the way a live STT does: each final segment longer than a second is preceded
/// by partial revisions every `partial_every_ms` (text growing word by word, end_ms growing), all
/// messages ordered by the media time at which a platform would send them, with ticks every
/// second of silence. Existing ticks are dropped and regenerated.
pub fn as_live_stream(messages: &[Value], partial_every_ms: u64) -> Vec<Value> {
    let mut timed: Vec<(u64, u32, Value)> = Vec::new();
    let mut start = None;
    let mut end = None;
    let mut last_ms = 0;
    let mut speech: Vec<(u64, u64)> = Vec::new();
    for m in messages {
        match m["type"].as_str().unwrap() {
            "call.start" => start = Some(m.clone()),
            "call.end" => end = Some(m.clone()),
            "tick" => {}
            "segment" => {
                let s = m["start_ms"].as_u64().unwrap();
                let e = m["end_ms"].as_u64().unwrap();
                speech.push((s, e));
                last_ms = last_ms.max(e);
                let words: Vec<&str> = m["text"].as_str().unwrap().split_whitespace().collect();
                let mut t = s + partial_every_ms;
                while t + 300 < e {
                    let frac = (t - s) as f64 / (e - s) as f64;
                    let n = ((words.len() as f64 * frac).floor() as usize).max(1);
                    let mut p = m.clone();
                    p["text"] = json!(words[..n.min(words.len())].join(" "));
                    p["end_ms"] = json!(t);
                    p["final"] = json!(false);
                    timed.push((t, 0, p));
                    t += partial_every_ms;
                }
                timed.push((e, 1, m.clone()));
            }
            other => panic!("unexpected {other}"),
        }
    }
    // Ticks every second where nobody is speaking.
    let call_id = start.as_ref().unwrap()["call_id"].clone();
    let mut t = 1000;
    while t < last_ms + 3000 {
        if !speech.iter().any(|(s, e)| *s <= t && t <= *e) {
            timed.push((t, 2, json!({"type":"tick","call_id":call_id,"at_ms":t})));
        }
        t += 1000;
    }
    timed.sort_by_key(|(t, k, _)| (*t, *k));
    let mut out = vec![start.unwrap()];
    out.extend(timed.into_iter().map(|(_, _, v)| v));
    out.push(end.unwrap());
    out
}

pub fn level_rank(l: &str) -> u8 {
    match l {
        "calm" => 0,
        "tense" => 1,
        "frustrated" => 2,
        "angry" => 3,
        other => panic!("unknown level {other}"),
    }
}

/// Check outputs of one call against its expectations; returns the list of violations.
pub fn check_expectations(expect: &Value, outputs: &[Value]) -> Vec<String> {
    let mut bad = Vec::new();
    let fired: Vec<&str> = outputs
        .iter()
        .filter(|o| o["type"] == "nudge")
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    let summary = outputs
        .iter()
        .find(|o| o["type"] == "call.summary")
        .expect("a call.summary");
    for k in expect["must_fire"].as_array().into_iter().flatten() {
        let k = k.as_str().unwrap();
        if !fired.contains(&k) {
            bad.push(format!("expected `{k}` to fire; fired {fired:?}"));
        }
    }
    for k in expect["must_not_fire"].as_array().into_iter().flatten() {
        let k = k.as_str().unwrap();
        if fired.contains(&k) {
            bad.push(format!("`{k}` must not fire; fired {fired:?}"));
        }
    }
    if let Some(max) = expect["max_nudges"].as_u64() {
        if fired.len() as u64 > max {
            bad.push(format!("at most {max} nudges expected; fired {fired:?}"));
        }
    }
    let peak = summary["frustration_peak"]["level"].as_str().unwrap();
    let end = summary["frustration_end"]["level"].as_str().unwrap();
    if let Some(l) = expect["peak_level_at_least"].as_str() {
        if level_rank(peak) < level_rank(l) {
            bad.push(format!("peak level {peak}, expected at least {l}"));
        }
    }
    if let Some(l) = expect["peak_level_at_most"].as_str() {
        if level_rank(peak) > level_rank(l) {
            bad.push(format!("peak level {peak}, expected at most {l}"));
        }
    }
    if let Some(l) = expect["end_level_at_most"].as_str() {
        if level_rank(end) > level_rank(l) {
            bad.push(format!("end level {end}, expected at most {l}"));
        }
    }
    let by_agent = summary["interruptions"]["by_agent"].as_u64().unwrap();
    if let Some(n) = expect["agent_interruptions_min"].as_u64() {
        if by_agent < n {
            bad.push(format!(
                "{by_agent} agent interruptions, expected at least {n}"
            ));
        }
    }
    if let Some(n) = expect["agent_interruptions_max"].as_u64() {
        if by_agent > n {
            bad.push(format!(
                "{by_agent} agent interruptions, expected at most {n}"
            ));
        }
    }
    // Every nudge carries evidence, and every open nudge is cleared by the end.
    for o in outputs.iter().filter(|o| o["type"] == "nudge") {
        if o["evidence"].as_array().is_none_or(|e| e.is_empty()) {
            bad.push(format!("nudge without evidence: {o}"));
        }
        let id = &o["nudge_id"];
        if !outputs
            .iter()
            .any(|c| c["type"] == "nudge.clear" && c["nudge_id"] == *id)
        {
            bad.push(format!("nudge {id} never cleared"));
        }
    }
    bad
}
