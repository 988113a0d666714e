//! The sans-IO analysis engine: one [`Call`] per call, driven by [`Event`]s on media time.
//!
//! No sockets, no clock, no tokio: the WebSocket server, `POST /v1/analyze` and `calma replay`
//! all feed the same events into the same `Call`, so the same input gives the same bytes out.

mod call;
mod rules;
mod session;

use std::path::Path;
use std::sync::Arc;

pub use call::Call;
pub use session::Session;

use crate::config::{Config, ConfigError};
use crate::language::lexicon::LexiconError;
use crate::language::Analyzer;
use crate::protocol::Segment;

/// Something that happens to a call, on media time.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A transcript segment revision (partial or final).
    Segment(Segment),
    /// Media time advanced with no speech.
    Tick { at_ms: u64 },
    /// The agent rated a nudge.
    Feedback { nudge_id: String, useful: bool },
    /// The call ended: the engine clears open nudges and emits the summary.
    End,
}

/// Shared, immutable resources every call reads: compiled lexicons and configuration.
/// Built once at start-up (and again on reload); calls hold an `Arc` to the version they began with.
#[derive(Debug)]
pub struct Resources {
    pub analyzer: Analyzer,
    pub config: Config,
}

/// Why resources could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Lexicon(#[from] LexiconError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl Resources {
    /// Embedded lexicons and built-in defaults.
    pub fn embedded() -> Arc<Resources> {
        Arc::new(Resources {
            analyzer: Analyzer::load(None).expect("embedded lexicons are valid (tested)"),
            config: Config::default(),
        })
    }

    /// Lexicons from `lexicons` (overriding embedded files) and configuration from `config`.
    pub fn load(
        lexicons: Option<&Path>,
        config: Option<&Path>,
    ) -> Result<Arc<Resources>, LoadError> {
        let analyzer = Analyzer::load(lexicons)?;
        let config = match config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        };
        Ok(Arc::new(Resources { analyzer, config }))
    }
}
