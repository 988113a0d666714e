//! Trace labelled calls as `calma eval` streams them: every final segment with the level calma
//! reads after it, and every nudge (with its evidence) and clear, in media order.
//!
//! `cargo run --example trace -- [--lexicons DIR] eval/blind/dev/calls/NAME.jsonl`; an exchange
//! is named by its file and id: `eval/blind/dev/cM/exchanges.tsv#cM-015`.

use calma::engine::{Resources, Session};
use calma::protocol::{parse_inbound, ParseLimits};
use serde_json::Value;

/// A labelled call and its label (`Null` when it has none).
fn call(path: &str) -> (Vec<Value>, Value) {
    let text = std::fs::read_to_string(path).expect("read call");
    let label: Value = std::fs::read_to_string(path.replace(".jsonl", ".expect.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (calma::traffic::parse_jsonl(&text).expect("jsonl"), label)
}

/// One exchange as `calma eval` streams it, with its label in the calls' shape.
fn exchange(file: &str, id: &str) -> (Vec<Value>, Value) {
    let text = std::fs::read_to_string(file).expect("read exchanges");
    let rows = calma::eval::read_exchanges(&text).expect("exchanges");
    let x = rows.iter().find(|x| x.id == id).expect("no such exchange");
    let label = serde_json::json!({
        "region": x.region, "peak_level": x.customer_level,
        "expected_nudges": if x.due == "none" { serde_json::json!([]) } else { serde_json::json!([{"kind": x.due, "after": "a"}]) },
        "acceptable": x.acceptable, "max_nudges": null,
    });
    (calma::eval::exchange_call(x), label)
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.iter().position(|a| a == "--lexicons") {
        Some(i) => {
            let dir = args.remove(i + 1);
            args.remove(i);
            Resources::load(Some(std::path::Path::new(&dir)), None).expect("lexicon directory")
        }
        None => Resources::embedded(),
    };
    for path in args {
        let (mut messages, label) = match path.split_once('#') {
            Some((file, id)) => exchange(file, id),
            None => call(&path),
        };
        if let Some(region) = label["region"].as_str() {
            if let Some(start) = messages.iter_mut().find(|m| m["type"] == "call.start") {
                if start.get("region").is_none() {
                    start["region"] = Value::from(region);
                }
            }
        }
        println!("===== {path}");
        if !label.is_null() {
            println!(
                "expect peak {} end {} nudges {} acceptable {} max {}",
                label["peak_level"],
                label["end_level"],
                label["expected_nudges"],
                label["acceptable"],
                label["max_nudges"]
            );
            if let Some(d) = label["description"].as_str() {
                println!("desc: {d}");
            }
        }
        let stream = if std::env::var_os("FINALS").is_some() {
            messages.clone()
        } else {
            calma::traffic::live_stream(&messages, 1_000).expect("whole call")
        };
        let mut session = Session::new(res.clone(), 10);
        let mut last_level = String::new();
        for m in stream {
            let is_final = m["type"] == "segment" && m["final"] != false;
            if is_final {
                println!(
                    "{:>6.1}-{:>6.1} {:<8} {:<5} {}",
                    m["start_ms"].as_u64().unwrap_or(0) as f64 / 1000.0,
                    m["end_ms"].as_u64().unwrap_or(0) as f64 / 1000.0,
                    m["speaker"].as_str().unwrap_or(""),
                    m["segment_id"].as_str().unwrap_or(""),
                    m["text"].as_str().unwrap_or("")
                );
            }
            let line = m.to_string();
            let outs = match parse_inbound(&line, &ParseLimits::default())
                .and_then(|i| session.handle(i))
            {
                Ok(o) => o,
                Err(e) => {
                    println!("   ERROR {}", e.to_json());
                    continue;
                }
            };
            for o in outs {
                let v: Value = serde_json::from_str(&o.to_json()).unwrap();
                match v["type"].as_str() {
                    Some("state") => {
                        let f = &v["frustration"];
                        let lv = format!(
                            "{} {:.2}",
                            f["level"].as_str().unwrap_or(""),
                            f["score"].as_f64().unwrap_or(0.0)
                        );
                        if lv != last_level {
                            let ev: Vec<String> = f["evidence"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(|e| {
                                    format!(
                                        "{}[{}]",
                                        e["quote"].as_str().unwrap_or(""),
                                        e["rule"].as_str().unwrap_or("")
                                    )
                                })
                                .collect();
                            println!("                          -> {lv}  {}", ev.join("; "));
                            last_level = lv;
                        }
                    }
                    Some("nudge") => {
                        let ev: Vec<String> = v["evidence"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|e| {
                                format!(
                                    "{}:{:?}[{}]",
                                    e["segment_id"].as_str().unwrap_or(""),
                                    e["quote"].as_str().unwrap_or(""),
                                    e["rule"].as_str().unwrap_or("")
                                )
                            })
                            .collect();
                        println!(
                            "   >>> NUDGE {} @{:.1} {} :: {}",
                            v["kind"].as_str().unwrap_or(""),
                            v["at_ms"].as_u64().unwrap_or(0) as f64 / 1000.0,
                            v["severity"].as_str().unwrap_or(""),
                            ev.join(" | ")
                        );
                    }
                    Some("nudge.clear") => println!(
                        "   <<< clear {} @{:.1} {}",
                        v["kind"].as_str().unwrap_or(""),
                        v["at_ms"].as_u64().unwrap_or(0) as f64 / 1000.0,
                        v["reason"].as_str().unwrap_or("")
                    ),
                    _ => {}
                }
            }
        }
        for o in session.end_all() {
            let _ = o;
        }
    }
}
