//! calma: real-time agent assist for Spanish-speaking contact centres.
//!
//! Module map (the analysis core is sans-IO: no sockets, no clock, no tokio):
//! - [`adapters`]: vendor transcript messages (Twilio, AWS, Genesys, Deepgram...) → protocol v1.
//! - [`protocol`]: wire types of protocol v1 and their parsing, with typed errors.
//! - [`engine`]: per-call state machine, `Call::on_event(event) -> Vec<Outbound>` on media time.
//! - [`language`]: normalisation, lexicons, frustration and agent-speech analysis of Spanish text.
//! - [`timing`]: turns, interruptions, talk-over, dead air, monologues, speech rate.
//! - [`nudges`]: the nudge catalogue and the policy that opens, budgets and clears nudges.
//! - [`config`]: per-campaign configuration (TOML) with validated defaults.
//! - [`eval`]: scores labelled calls and utterances against the engine (`calma eval`).
//! - [`replay`]: drives the engine from protocol messages (CLI replay and `POST /v1/analyze`).
//! - [`store`]: call history on SQLite (records, reports, customer context), written off the hot path.
//! - [`cluster`]: the NATS link of `--cluster` (subjects, wire, event log, re-homing a call from
//!   its log); below the server's hub, which it knows nothing of.
//! - [`server`]: the thin async shell: WebSocket streams, batch HTTP, agent feeds, metrics.
//! - [`client`]: a platform-side WebSocket client (`calma replay --live`).
//! - [`traffic`]: realistic live traffic (labelled calls re-streamed like a live STT), shared by
//!   tests, benches, `calma eval` and the load tool.
//! - [`loadgen`]: the load generator (`calma loadgen`), above the server it measures.

pub mod adapters;
pub mod client;
pub mod cluster;
pub mod config;
pub mod engine;
pub mod eval;
pub mod language;
pub mod loadgen;
pub mod nudges;
pub mod protocol;
pub mod replay;
pub mod server;
pub mod store;
pub mod timing;
pub mod traffic;
