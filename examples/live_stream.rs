//! Re-stream a call file the way a live STT does (partial revisions, ticks in silence), with the
//! same synthesis the tests, benches and load tool use (`calma::traffic::live_stream`), and print
//! it as JSONL: the input `benches/identical.sh` replays to check outputs stay byte-identical.
//!
//! `cargo run --release --example live_stream -- FILE.jsonl [PARTIAL_EVERY_MS]`
//! (exit status 3 when the file is not one whole call, e.g. several calls in one file).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: live_stream FILE.jsonl [PARTIAL_EVERY_MS]");
        return ExitCode::from(2);
    };
    let every = match args.get(1).map(|s| s.parse::<u64>()) {
        None => calma::traffic::PARTIAL_EVERY_MS,
        Some(Ok(ms)) => ms,
        Some(Err(e)) => {
            eprintln!("live_stream: PARTIAL_EVERY_MS: {e}");
            return ExitCode::from(2);
        }
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("live_stream: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let msgs = match calma::traffic::parse_jsonl(&text) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("live_stream: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(live) = calma::traffic::live_stream(&msgs, every) else {
        return ExitCode::from(3);
    };
    for m in live {
        println!("{m}");
    }
    ExitCode::SUCCESS
}
