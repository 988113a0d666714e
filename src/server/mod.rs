//! The async shell around the engine: HTTP + WebSocket endpoints, agent feeds, metrics, shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// `calma serve` options.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "CALMA_ADDR")]
    pub addr: SocketAddr,
    /// Directory of lexicon TSV files overriding the embedded ones, file by file.
    #[arg(long, env = "CALMA_LEXICONS")]
    pub lexicons: Option<PathBuf>,
    /// Campaign configuration (TOML).
    #[arg(long, env = "CALMA_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Run the server until SIGINT/SIGTERM.
pub fn run(args: ServeArgs) -> ExitCode {
    let _ = args;
    eprintln!("calma: the server is being built (see issue 3)");
    ExitCode::from(1)
}
