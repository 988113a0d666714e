//! The `calma` command: `serve` (default), `replay`, `eval`, `loadgen`, `token`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use calma::engine::Resources;
use calma::protocol::ParseLimits;

#[derive(Parser, Debug)]
#[command(
    name = "calma",
    version,
    about = "Real-time agent assist for Spanish-speaking contact centres"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Options of the default command, `serve`.
    #[command(flatten)]
    serve: calma::server::ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the service (the default command).
    Serve(Box<calma::server::ServeArgs>),
    /// Replay protocol messages (JSONL, one per line) through the engine; print every output as
    /// JSON lines on stdout, on media time only (deterministic).
    Replay {
        /// JSONL files ("-" for standard input); not needed with --db.
        #[arg(required_unless_present = "db")]
        files: Vec<PathBuf>,
        /// Directory of lexicon TSV files overriding the embedded ones, file by file.
        #[arg(long, env = "CALMA_LEXICONS")]
        lexicons: Option<PathBuf>,
        /// Campaign configuration (TOML).
        #[arg(long, env = "CALMA_CONFIG")]
        config: Option<PathBuf>,
        /// Stream the file to a running calma instead (e.g. http://127.0.0.1:8080), paced on
        /// media time, and print what it sends back.
        #[arg(long, value_name = "URL")]
        live: Option<String>,
        /// With --live: how many times faster than real time (0 = as fast as possible).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// A second campaign configuration: print, call by call, the nudges that differ between
        /// --config and this one, with their evidence.
        #[arg(long, value_name = "B.toml")]
        compare: Option<PathBuf>,
        /// Re-run stored calls from this history database (calls of --campaign that kept their
        /// transcripts) instead of files.
        #[arg(long, value_name = "PATH", requires = "campaign")]
        db: Option<PathBuf>,
        /// With --db: the campaign whose stored calls to re-run.
        #[arg(long)]
        campaign: Option<String>,
        /// With --db: only calls ended at or after this time (unix ms, or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// With --db: only this tenant's calls (default: every tenant's).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Score labelled calls (`*.jsonl` + `*.expect.json`) and utterance files (`*.tsv`) under a
    /// directory: per-kind nudge precision and recall, calls fully right, nudges on calm calls,
    /// frustration confusion matrices, exact and binary level agreement per region. Calls are
    /// streamed as a platform would (partials every second, ticks) unless --finals.
    Eval {
        /// A directory (searched recursively) or one file.
        dir: PathBuf,
        /// Directory of lexicon TSV files overriding the embedded ones, file by file.
        #[arg(long, env = "CALMA_LEXICONS")]
        lexicons: Option<PathBuf>,
        /// Campaign configuration (TOML).
        #[arg(long, env = "CALMA_CONFIG")]
        config: Option<PathBuf>,
        /// Feed final segments only (no partials, no ticks).
        #[arg(long)]
        finals: bool,
        /// Print the whole report as JSON.
        #[arg(long)]
        json: bool,
        /// List every call and every missed utterance.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Load-test a running calma (loopback only): N connections carrying M concurrent labelled
    /// Spanish calls with partials, at real-time pace or faster; reports final-segment → state
    /// latency percentiles, throughput, errors, and the server's CPU and memory. With --echo,
    /// the same load against /v1/echo as the baseline.
    Loadgen(calma::loadgen::LoadgenArgs),
    /// Mint a short-lived HS256 token for an agent panel or a supervisor and print it.
    Token {
        /// The server's token secret (prefer the environment variable).
        #[arg(long, env = "CALMA_TOKEN_SECRET", hide_env_values = true)]
        secret: String,
        /// The agent id (for supervisors: who they are).
        #[arg(long)]
        sub: String,
        #[arg(long, value_enum)]
        role: calma::server::auth::Role,
        #[arg(long, default_value = calma::server::auth::DEFAULT_TENANT)]
        tenant: String,
        /// Lifetime in seconds (short: tokens travel in WebSocket URLs).
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// The server's longest accepted lifetime; a longer `--ttl` is refused here rather
        /// than by the server later.
        #[arg(long, default_value_t = calma::server::auth::DEFAULT_MAX_TOKEN_TTL_SECS, env = "CALMA_MAX_TOKEN_TTL_SECS")]
        max_ttl: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Replay {
            files,
            live: Some(url),
            speed,
            ..
        }) => match files.as_slice() {
            [file] => replay_live(file, &url, speed),
            _ => {
                eprintln!("calma: --live streams exactly one file");
                ExitCode::from(2)
            }
        },
        Some(Command::Replay {
            files,
            lexicons,
            config,
            live: None,
            compare,
            db,
            campaign,
            since,
            tenant,
            ..
        }) => replay(ReplayArgs {
            files,
            lexicons,
            config,
            compare,
            db,
            campaign,
            since,
            tenant,
        }),
        Some(Command::Eval {
            dir,
            lexicons,
            config,
            finals,
            json,
            verbose,
        }) => eval(&dir, lexicons, config, finals, json, verbose),
        Some(Command::Serve(args)) => calma::server::run(*args),
        Some(Command::Loadgen(args)) => match calma::loadgen::run(args) {
            Ok(results) if results.iter().all(|r| r.errors == 0) => ExitCode::SUCCESS,
            Ok(_) => {
                eprintln!("calma loadgen: errors occurred (see above)");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("calma loadgen: {e}");
                ExitCode::from(2)
            }
        },
        Some(Command::Token {
            secret,
            sub,
            role,
            tenant,
            ttl,
            max_ttl,
        }) => {
            use calma::server::auth::{mint_token, unix_now, Claims};
            if secret.len() < 16 {
                eprintln!("calma: the token secret must be at least 16 bytes");
                return ExitCode::from(2);
            }
            if ttl == 0 || ttl > max_ttl {
                eprintln!(
                    "calma: --ttl must be between 1 and {max_ttl} s (the server refuses longer \
                     tokens; see CALMA_MAX_TOKEN_TTL_SECS)"
                );
                return ExitCode::from(2);
            }
            let now = unix_now();
            let claims = Claims {
                tenant,
                sub,
                role,
                exp: now.saturating_add(ttl),
                nbf: None,
                iat: Some(now),
            };
            println!("{}", mint_token(secret.as_bytes(), &claims));
            ExitCode::SUCCESS
        }
        None => calma::server::run(cli.serve),
    }
}

fn eval(
    dir: &std::path::Path,
    lexicons: Option<PathBuf>,
    config: Option<PathBuf>,
    finals: bool,
    json: bool,
    verbose: bool,
) -> ExitCode {
    let res = match Resources::load(lexicons.as_deref(), config.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("calma: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = calma::eval::EvalOptions {
        finals_only: finals,
        ..Default::default()
    };
    match calma::eval::evaluate_dir(res, dir, &opts) {
        Ok(report)
            if report.calls.is_none()
                && report.utterances.is_none()
                && report.exchanges.is_none() =>
        {
            eprintln!(
                "calma eval: no labelled calls, utterance or exchange files under {}",
                dir.display()
            );
            ExitCode::from(2)
        }
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("calma eval: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                print!("{}", calma::eval::render(&report, verbose));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("calma eval: {e}");
            ExitCode::from(2)
        }
    }
}

fn read_input(file: &PathBuf) -> std::io::Result<String> {
    if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    }
}

fn replay_live(file: &PathBuf, url: &str, speed: f64) -> ExitCode {
    let text = match read_input(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("calma: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("calma: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let mut stdout = std::io::stdout();
    match rt.block_on(calma::client::replay_live(url, &text, speed, &mut stdout)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("calma: {e}");
            ExitCode::from(1)
        }
    }
}

struct ReplayArgs {
    files: Vec<PathBuf>,
    lexicons: Option<PathBuf>,
    config: Option<PathBuf>,
    compare: Option<PathBuf>,
    db: Option<PathBuf>,
    campaign: Option<String>,
    since: Option<String>,
    tenant: Option<String>,
}

/// `--since` as unix ms: a number, or a UTC date `YYYY-MM-DD`.
fn parse_since(s: &str) -> Option<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    calma::store::parse_date_ms(s)
}

fn replay(a: ReplayArgs) -> ExitCode {
    let load =
        |config: Option<&std::path::Path>| match Resources::load(a.lexicons.as_deref(), config) {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("calma: {e}");
                None
            }
        };
    let Some(res) = load(a.config.as_deref()) else {
        return ExitCode::from(2);
    };
    let mut inputs: Vec<(String, String)> = Vec::new();
    if let Some(db) = &a.db {
        let since = match a.since.as_deref().map(|s| (s, parse_since(s))) {
            Some((s, None)) => {
                eprintln!("calma: --since {s:?} is neither unix ms nor YYYY-MM-DD");
                return ExitCode::from(2);
            }
            Some((_, ms)) => ms,
            None => None,
        };
        let campaign = a.campaign.as_deref().unwrap_or("default");
        match calma::store::Store::open_read_only(&db.to_string_lossy()).and_then(|conn| {
            calma::store::queries::transcripts(&conn, a.tenant.as_deref(), campaign, since)
                .map_err(Into::into)
        }) {
            Ok(calls) => {
                for t in calls {
                    match calma::store::transcript_to_jsonl(&t) {
                        Some(jsonl) => inputs.push((format!("{}/{}", t.tenant, t.call_id), jsonl)),
                        None => {
                            eprintln!("calma: stored transcript of {} is unreadable", t.call_id)
                        }
                    }
                }
            }
            Err(e) => {
                eprintln!("calma: {e}");
                return ExitCode::from(2);
            }
        }
    }
    for file in &a.files {
        match read_input(file) {
            Ok(t) => inputs.push((file.display().to_string(), t)),
            Err(e) => {
                eprintln!("calma: cannot read {}: {e}", file.display());
                return ExitCode::from(2);
            }
        }
    }
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Some(b) = &a.compare {
        let Some(res_b) = load(Some(b)) else {
            return ExitCode::from(2);
        };
        let label_a = a
            .config
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "built-in".into());
        let label_b = b.display().to_string();
        let mut diffs = Vec::new();
        for (_, text) in &inputs {
            diffs.extend(calma::eval::compare(res.clone(), res_b.clone(), text));
        }
        let _ = write!(
            stdout,
            "{}",
            calma::eval::render_compare(&diffs, &label_a, &label_b)
        );
        return ExitCode::SUCCESS;
    }
    for (_, text) in &inputs {
        for line in calma::replay::replay_jsonl(res.clone(), text, &ParseLimits::default()) {
            if writeln!(stdout, "{line}").is_err() {
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}
