//! Bytes → `protocol::parse_inbound` → `engine::Session`, the path every platform frame takes.
//!
//! The input is read as JSONL (one message per line, invalid UTF-8 replaced, as a WebSocket
//! text frame could never carry it); the whole input is also parsed as one frame. Whatever
//! parses is fed to one session (a small call limit, so `too_many_calls` is reached too), and
//! every output must serialise to JSON that parses back. Ends every open call at the end.
//!
//! Run: `cargo +nightly fuzz run protocol_and_engine fuzz/corpus/protocol_and_engine examples
//! tests/calls -- -dict=fuzz/protocol.dict -max_total_time=600`

#![no_main]

use std::sync::{Arc, OnceLock};

use calma::engine::{Resources, Session};
use calma::protocol::{parse_inbound, Outbound, ParseLimits};
use libfuzzer_sys::fuzz_target;

fn resources() -> Arc<Resources> {
    static RES: OnceLock<Arc<Resources>> = OnceLock::new();
    RES.get_or_init(Resources::embedded).clone()
}

fn check(outs: &[Outbound]) {
    for o in outs {
        let json = o.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).expect("outputs are valid JSON");
        assert_eq!(v["call_id"].as_str(), Some(o.call_id()));
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = ParseLimits::default();
    let text = String::from_utf8_lossy(data);
    let _ = parse_inbound(&text, &limits);
    let mut session = Session::new(resources(), 16);
    for line in text.lines() {
        match parse_inbound(line, &limits) {
            Ok(msg) => {
                if let Ok(outs) = session.handle(msg) {
                    check(&outs);
                }
            }
            Err(e) => {
                let v: serde_json::Value = serde_json::from_str(&e.to_json()).expect("errors are JSON");
                assert_eq!(v["type"], "error");
            }
        }
    }
    check(&session.end_all());
});
