//! Realistic live traffic, shared by the load tool, the engine and memory benches, the test
//! harness and `calma eval`: the labelled Spanish calls of `tests/calls` (embedded, finals only)
//! re-streamed the way a live STT does — partial revisions about every second, ticks in silence.
//! Pure functions over protocol messages: no sockets, no clock.

use serde_json::{json, Value};

/// The labelled calls (finals only), embedded: `(name, jsonl)`.
pub const CALLS: &[(&str, &str)] = &[
    (
        "01_es_calm_billing_question",
        include_str!("../tests/calls/01_es_calm_billing_question.jsonl"),
    ),
    (
        "02_mx_calm_heavy_backchannel",
        include_str!("../tests/calls/02_mx_calm_heavy_backchannel.jsonl"),
    ),
    (
        "03_es_angry_third_call_no_internet",
        include_str!("../tests/calls/03_es_angry_third_call_no_internet.jsonl"),
    ),
    (
        "04_mx_repeat_complaint_stock_phrases",
        include_str!("../tests/calls/04_mx_repeat_complaint_stock_phrases.jsonl"),
    ),
    (
        "05_ar_voseo_insults_firm_limit",
        include_str!("../tests/calls/05_ar_voseo_insults_firm_limit.jsonl"),
    ),
    (
        "06_co_supervisor_superintendencia",
        include_str!("../tests/calls/06_co_supervisor_superintendencia.jsonl"),
    ),
    (
        "07_es_churn_threat_concrete_next_step",
        include_str!("../tests/calls/07_es_churn_threat_concrete_next_step.jsonl"),
    ),
    (
        "08_ar_dead_air_no_hold",
        include_str!("../tests/calls/08_ar_dead_air_no_hold.jsonl"),
    ),
    (
        "09_co_hold_announced_25s",
        include_str!("../tests/calls/09_co_hold_announced_25s.jsonl"),
    ),
    (
        "10_es_fast_agent_reading_terms",
        include_str!("../tests/calls/10_es_fast_agent_reading_terms.jsonl"),
    ),
    (
        "11_pe_blind_transfer_frustrated",
        include_str!("../tests/calls/11_pe_blind_transfer_frustrated.jsonl"),
    ),
    (
        "12_es_sarcasm_negation_power_cut",
        include_str!("../tests/calls/12_es_sarcasm_negation_power_cut.jsonl"),
    ),
    (
        "13_es_negation_trap_calm_order",
        include_str!("../tests/calls/13_es_negation_trap_calm_order.jsonl"),
    ),
    (
        "14_en_english_call_no_nudges",
        include_str!("../tests/calls/14_en_english_call_no_nudges.jsonl"),
    ),
    (
        "15_cl_early_empathy_next_step",
        include_str!("../tests/calls/15_cl_early_empathy_next_step.jsonl"),
    ),
    (
        "16_mx_regional_positive_slang",
        include_str!("../tests/calls/16_mx_regional_positive_slang.jsonl"),
    ),
];

/// Partial revisions are sent about this often while someone speaks (media time).
pub const PARTIAL_EVERY_MS: u64 = 1000;

/// Parse JSONL protocol messages (blank lines and `#` comments skipped).
pub fn parse_jsonl(text: &str) -> Result<Vec<Value>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// Re-stream one call's finals the way a live STT does: each final segment longer than a second
/// is preceded by partial revisions every `partial_every_ms` (text growing word by word, `end_ms`
/// growing), all messages ordered by the media time at which a platform would send them, with
/// ticks every second of silence. Existing ticks are dropped and regenerated. (The same algorithm
/// as the test harness's `as_live_stream`.)
///
/// Returns `None` when the messages are not one call (no `call.start`, no `call.end`).
pub fn live_stream(messages: &[Value], partial_every_ms: u64) -> Option<Vec<Value>> {
    let partial_every_ms = partial_every_ms.max(100);
    let mut timed: Vec<(u64, u32, Value)> = Vec::new();
    let mut start = None;
    let mut end = None;
    let mut last_ms = 0;
    let mut speech: Vec<(u64, u64)> = Vec::new();
    for m in messages {
        match m["type"].as_str()? {
            "call.start" => start = Some(m.clone()),
            "call.end" => end = Some(m.clone()),
            "segment" => {
                let s = m["start_ms"].as_u64()?;
                let e = m["end_ms"].as_u64()?;
                speech.push((s, e));
                last_ms = last_ms.max(e);
                let words: Vec<&str> = m["text"].as_str()?.split_whitespace().collect();
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
            _ => {}
        }
    }
    let start = start?;
    let end = end?;
    let call_id = start["call_id"].clone();
    let mut t = 1000;
    while t < last_ms + 3000 {
        if !speech.iter().any(|(s, e)| *s <= t && t <= *e) {
            timed.push((t, 2, json!({"type":"tick","call_id":call_id,"at_ms":t})));
        }
        t += 1000;
    }
    timed.sort_by_key(|(t, k, _)| (*t, *k));
    let mut out = vec![start];
    out.extend(timed.into_iter().map(|(_, _, v)| v));
    out.push(end);
    Some(out)
}

/// Media time at which a platform sends a message.
pub fn media_ms(v: &Value) -> u64 {
    match v["type"].as_str() {
        Some("segment") => v["end_ms"].as_u64().unwrap_or(0),
        Some("tick") => v["at_ms"].as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// The labelled calls streamed live (partials every [`PARTIAL_EVERY_MS`], ticks in silence).
pub fn embedded_live_calls() -> Vec<(&'static str, Vec<Value>)> {
    CALLS
        .iter()
        .map(|(name, text)| {
            let msgs = parse_jsonl(text).expect("embedded calls are valid JSONL (tested)");
            let live = live_stream(&msgs, PARTIAL_EVERY_MS).expect("embedded calls are whole");
            (*name, live)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_calls_stream_live_in_media_order() {
        let calls = embedded_live_calls();
        assert_eq!(calls.len(), 16);
        for (name, msgs) in &calls {
            assert_eq!(msgs[0]["type"], "call.start", "{name}");
            assert_eq!(msgs.last().unwrap()["type"], "call.end", "{name}");
            let times: Vec<u64> = msgs[1..msgs.len() - 1].iter().map(media_ms).collect();
            assert!(times.windows(2).all(|w| w[0] <= w[1]), "{name}");
            assert!(msgs.iter().any(|m| m["final"] == false), "{name}");
        }
    }
}
