//! The async shell around the engine: HTTP + WebSocket endpoints, agent feeds, metrics, shutdown.
//!
//! Module map (arrows: "imports"; no cycles, the hub imports no handler):
//!
//! ```text
//! supervisor ──▶ history         ingest ──▶ http, stream, vendor, history
//! http ──▶ agent, stream        stream ──▶ history, reaper, vendor
//! agent, stream, supervisor, ingest, history, reaper ──▶ hub ──▶ engine, protocol, store
//! every handler ──▶ gate (checks and typed refusals; like hub, it imports no handler)
//! ```
//!
//! - [`hub`]: all shared state, keyed by tenant: agent queues, call routes, the supervisor board
//!   and post-call records, replay buffers and parked calls, quotas.
//! - [`http`]: the route handlers (thin: check, then hand over), `/v1/analyze`, `/healthz`, `/metrics`.
//! - `gate`: checks and typed refusals every handler shares (auth, slots, quotas, JSON errors).
//! - `vendor`: the vendor-frame hook of `/v1/stream/{format}`.
//! - `history`: the history API and the customer lookup at `call.start`.
//! - `stream`: one task per platform connection (`/v1/stream`), owning its engine `Session`.
//! - [`ingest`]: platform adapters: `/v1/ingest/{format}` (webhook calls kept across requests)
//!   and `/v1/stream/{format}` (a hook in `stream`).
//! - `echo`: `/v1/echo`, the same WebSocket stack without the engine (the load-test baseline).
//! - `agent`: one task per agent panel socket (`/v1/agents/{agent_id}/nudges`).
//! - [`supervisor`]: the `/v1/supervisor` socket and `GET /v1/calls/{call_id}`.
//! - `reaper`: ends parked calls whose grace period passed.
//! - `pages`: the web UI (agent panel, supervisor board, post-call view), embedded HTML.
//! - [`ws`]: the bounded, time-limited WebSocket writer.
//! - [`metrics`]: a per-server Prometheus registry.
//! - [`auth`]: API keys (platforms), HS256 tokens (agents, supervisors), tenants, dev mode.
//! - [`limits`]: connection slots, segment rate per call.
//! - [`logging`]: the log filter (no transcript text in logs).
//! - `accept`: the accept loop (HTTP/1, header-read and idle timeouts, cap on HTTP connections).
//! - [`guard`]: checks before routing: Origin allow-list, dev-mode Host names, dev-mode admin.
//!
//! Start a server in-process with [`start`] (tests bind `127.0.0.1:0`), or run the binary's
//! `serve` command through [`run`].

pub mod auth;
pub mod guard;
pub mod http;
pub mod hub;
pub mod ingest;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod supervisor;
pub mod ws;

mod accept;
mod agent;
mod echo;
mod gate;
mod history;
mod pages;
mod peers;
mod reaper;
mod stream;
mod vendor;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::Resources;
use crate::protocol::ParseLimits;
use hub::quotas::QuotaLimits;
use hub::{Hub, HubConfig};
use metrics::Metrics;

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
    /// Calls one platform connection may carry at once.
    #[arg(long, default_value_t = 1000, env = "CALMA_MAX_CALLS")]
    pub max_calls: usize,
    /// Largest text frame answered normally (bytes); larger ones get `message_too_large`.
    #[arg(long, default_value_t = 64 * 1024, env = "CALMA_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: usize,
    /// Platform API keys, comma-separated, each `key` (tenant "default") or `tenant:key`.
    /// Prefer the environment variable: command lines are visible to other users.
    #[arg(long, env = "CALMA_API_KEYS", hide_env_values = true)]
    pub api_keys: Option<String>,
    /// Secret (at least 16 bytes) verifying the HS256 tokens of agent panels and supervisors.
    /// Prefer the environment variable.
    #[arg(long, env = "CALMA_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<String>,
    /// Run without credentials on a non-loopback address (never in production).
    #[arg(long)]
    pub insecure_dev: bool,
    /// Log transcript text (debug level). Off by default: logs never contain what was said.
    #[arg(long, env = "CALMA_LOG_TRANSCRIPTS")]
    pub log_transcripts: bool,
    /// Calls the whole process may carry at once (parked calls included).
    #[arg(long, default_value_t = 10_000, env = "CALMA_MAX_PROCESS_CALLS")]
    pub max_process_calls: usize,
    /// Calls one tenant may carry at once (parked calls included).
    #[arg(long, default_value_t = 5_000, env = "CALMA_MAX_CALLS_PER_TENANT")]
    pub max_calls_per_tenant: usize,
    /// Platform connections (`/v1/stream`) one tenant may hold at once.
    #[arg(
        long,
        default_value_t = 1_000,
        env = "CALMA_MAX_CONNECTIONS_PER_TENANT"
    )]
    pub max_connections_per_tenant: usize,
    /// Agent-panel and supervisor sockets one token holder may hold at once.
    #[arg(long, default_value_t = 8, env = "CALMA_MAX_SOCKETS_PER_PRINCIPAL")]
    pub max_sockets_per_principal: usize,
    /// WebSocket connections (platform, agent and supervisor sockets together).
    #[arg(long, default_value_t = 10_000, env = "CALMA_MAX_CONNECTIONS")]
    pub max_connections: usize,
    /// Segment messages per second per call, averaged over 5 s (0 = no limit).
    #[arg(long, default_value_t = 20, env = "CALMA_MAX_SEGMENT_RATE")]
    pub max_segment_rate: u32,
    /// Minutes without any platform event after which a call is ended (0 = never).
    #[arg(long, default_value_t = 10, env = "CALMA_IDLE_CALL_MINUTES")]
    pub idle_call_minutes: u64,
    /// Seconds the calls of a lost platform connection wait for `call.resume` (0 = end at once).
    #[arg(long, default_value_t = 30, env = "CALMA_RESUME_GRACE_SECS")]
    pub resume_grace_secs: u64,
    /// Outputs kept per call for replay on resume.
    #[arg(long, default_value_t = 256, env = "CALMA_REPLAY_BUFFER")]
    pub replay_buffer: usize,
    /// Join a cluster through this NATS server (`nats://HOST:PORT`, JetStream enabled): calls,
    /// agent panels and supervisor boards on any node, failover by `call.resume` (README →
    /// Cluster). Unset: a single node, as before.
    #[arg(long, env = "CALMA_CLUSTER")]
    pub cluster: Option<String>,
    /// Key for `/v1/admin/*` (`Authorization: Bearer`); platform keys cannot use it.
    /// Prefer the environment variable.
    #[arg(long, env = "CALMA_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Key required for `GET /metrics` (`Authorization: Bearer`); unset = open.
    #[arg(long, env = "CALMA_METRICS_KEY", hide_env_values = true)]
    pub metrics_key: Option<String>,
    /// Browser origins besides calma's own allowed to open agent and supervisor sockets and to
    /// POST, comma-separated (`https://softphone.example.com`).
    #[arg(long, env = "CALMA_ALLOWED_ORIGINS")]
    pub allowed_origins: Option<String>,
    /// Longest token lifetime accepted (`exp - iat`, or `exp - now` without `iat`), seconds.
    #[arg(long, default_value_t = auth::DEFAULT_MAX_TOKEN_TTL_SECS, env = "CALMA_MAX_TOKEN_TTL_SECS")]
    pub max_token_ttl_secs: u64,
    /// Seconds a client has to send a request's headers (also bounds the wait for the next
    /// request on a keep-alive connection).
    #[arg(long, default_value_t = 10, env = "CALMA_HTTP_HEADER_TIMEOUT_SECS")]
    pub http_header_timeout_secs: u64,
    /// Seconds an idle keep-alive connection stays open after its last response.
    #[arg(long, default_value_t = 5, env = "CALMA_HTTP_IDLE_TIMEOUT_SECS")]
    pub http_idle_timeout_secs: u64,
    /// Plain HTTP connections open at once (not yet upgraded to a WebSocket); 503 beyond.
    #[arg(long, default_value_t = 512, env = "CALMA_MAX_HTTP_CONNECTIONS")]
    pub max_http_connections: usize,
    /// `POST /v1/analyze` requests processed at once; `busy` (429) beyond.
    #[arg(long, default_value_t = 4, env = "CALMA_MAX_ANALYZE_CONCURRENCY")]
    pub max_analyze_concurrency: usize,
    /// `POST /v1/analyze` body limit (bytes); `payload_too_large` (413) beyond.
    #[arg(long, default_value_t = 8 * 1024 * 1024, env = "CALMA_MAX_ANALYZE_BYTES")]
    pub max_analyze_bytes: usize,
    /// `POST /v1/ingest/{format}` requests processed at once; `busy` (429) beyond.
    #[arg(long, default_value_t = 64, env = "CALMA_MAX_INGEST_CONCURRENCY")]
    pub max_ingest_concurrency: usize,
    /// `POST /v1/ingest/{format}` body limit (bytes); `payload_too_large` (413) beyond.
    #[arg(long, default_value_t = 1024 * 1024, env = "CALMA_MAX_INGEST_BYTES")]
    pub max_ingest_bytes: usize,
    /// Call history (SQLite file, created with its directory); `:memory:` keeps nothing.
    #[arg(long, default_value = "calma-data/calma.sqlite3", env = "CALMA_DB")]
    pub db: String,
    /// Cap on the history's size in MiB (0 = none): past it, records are not written (counted
    /// in `calma_history_write_errors_total`, as on a full disk) and calls go on.
    #[arg(long, default_value_t = 0, env = "CALMA_DB_MAX_MIB")]
    pub db_max_mib: u64,
    /// Secret keying the hash under which customer ids are stored (at least 16 bytes). Without
    /// it, a random secret is created once and kept in the database.
    #[arg(long, env = "CALMA_CUSTOMER_KEY_SECRET", hide_env_values = true)]
    pub customer_key_secret: Option<String>,
}

/// Everything tunable about a server instance. `Default` gives the production values.
#[derive(Debug, Clone)]
pub struct Options {
    /// Calls one platform connection may carry (`too_many_calls` beyond).
    pub max_calls_per_connection: usize,
    /// Text frames above this many bytes are answered with `message_too_large`.
    pub soft_message_limit: usize,
    /// Frames above this many bytes close the connection (WebSocket protocol error).
    pub hard_message_limit: usize,
    /// `POST /v1/analyze` body limit (bytes); `payload_too_large` (413) beyond.
    pub analyze_body_limit: usize,
    /// A `POST /v1/analyze` body must arrive within this (408 `request_timeout`).
    pub analyze_body_timeout: Duration,
    pub parse_limits: ParseLimits,
    /// How often idle calls are checked for wall-clock ticks.
    pub tick_interval: Duration,
    /// A call gets wall-clock ticks once no platform event reached it for this long.
    pub tick_idle: Duration,
    /// Subtracted from wall-clock media time: the transcript lags the audio by about this much.
    pub stt_latency: Duration,
    /// Keepalive ping period on every socket.
    pub ping_interval: Duration,
    /// A socket from which nothing (not even a pong) arrived for this long is closed.
    pub pong_timeout: Duration,
    /// Outbound queue of a platform connection (messages).
    pub platform_queue: usize,
    /// Outbound queue of an agent socket (messages).
    pub agent_queue: usize,
    /// One WebSocket send taking longer than this drops the peer.
    pub send_timeout: Duration,
    /// Time shutdown waits for sockets to flush and close.
    pub shutdown_deadline: Duration,
    /// Ended calls kept in memory for `GET /v1/calls/{call_id}` and the post-call view.
    pub recent_calls: usize,
    /// Credentials; `AuthConfig::open()` (the default) is dev mode.
    pub auth: auth::AuthConfig,
    /// Calls the process may carry at once, parked calls included (`too_many_calls` beyond).
    pub max_calls_per_process: usize,
    /// Calls one tenant may carry at once, parked calls included (`too_many_calls`,
    /// `quota: calls_per_tenant`, beyond).
    pub max_calls_per_tenant: usize,
    /// Platform connections one tenant may hold (HTTP 429 `too_many_connections`,
    /// `quota: connections_per_tenant`, beyond).
    pub max_connections_per_tenant: usize,
    /// Agent and supervisor sockets one token holder may hold (HTTP 429
    /// `too_many_connections`, `quota: sockets_per_principal`, beyond).
    pub max_sockets_per_principal: usize,
    /// Messages queued per supervisor socket; one that falls further behind is sent a fresh
    /// snapshot instead of what it missed.
    pub supervisor_queue: usize,
    /// WebSocket connections of every kind (HTTP 503 `too_many_connections` beyond).
    pub max_connections: usize,
    /// Segment messages per second per call (0 = unlimited); `rate_limited` beyond.
    pub max_segments_per_sec: u32,
    /// The rate is averaged over this window (bursts up to rate × window pass).
    pub segment_rate_window: Duration,
    /// A call with no platform event for this long is ended (`Duration::ZERO` = never).
    pub idle_call_timeout: Duration,
    /// Calls of a lost platform connection wait this long for `call.resume` (zero = end at once).
    pub resume_grace: Duration,
    /// Outputs kept per call for replay.
    pub replay_buffer: usize,
    /// Replay buffers of ended calls are kept this long (an agent reconnecting gets the summary).
    pub replay_retention: Duration,
    /// Log transcript text at debug level.
    pub log_transcripts: bool,
    /// Time a client has to send a request's headers. hyper also starts this clock when a
    /// keep-alive connection waits for its next request.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request for this long after its last response is closed.
    pub http_idle_timeout: Duration,
    /// Plain HTTP connections (not upgraded) open at once; new ones get 503 beyond.
    pub max_http_connections: usize,
    /// Concurrent `POST /v1/analyze` requests; 429 `busy` beyond.
    pub max_analyze_concurrency: usize,
    /// Concurrent `POST /v1/ingest/{format}` requests; 429 `busy` beyond.
    pub max_ingest_concurrency: usize,
    /// `POST /v1/ingest/{format}` body limit (bytes): webhooks are small, batches of a call
    /// fit; 413 `payload_too_large` beyond.
    pub ingest_body_limit: usize,
    /// Browser origins allowed besides calma's own (exact `scheme://host[:port]`, lowercase).
    pub allowed_origins: Vec<String>,
    /// `Bearer` key required for `GET /metrics` (`None` = open).
    pub metrics_key: Option<String>,
    /// The call history's SQLite file (`:memory:` keeps nothing: the default for embedded
    /// servers and tests; `calma serve` defaults to `calma-data/calma.sqlite3`).
    pub db_path: String,
    /// Keys the customer-id hash (see [`crate::store::Store::open`]).
    pub customer_key_secret: Option<Vec<u8>>,
    /// Cap on the history's size in MiB (0 = none).
    pub db_max_mib: u64,
    /// How often records past their retention are purged.
    pub history_purge_interval: Duration,
    /// The NATS server of the cluster this node joins (`None`: a single node).
    pub cluster: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_calls_per_connection: 1000,
            soft_message_limit: 64 * 1024,
            hard_message_limit: 1024 * 1024,
            analyze_body_limit: 8 * 1024 * 1024,
            analyze_body_timeout: Duration::from_secs(30),
            parse_limits: ParseLimits::default(),
            tick_interval: Duration::from_millis(250),
            tick_idle: Duration::from_secs(1),
            stt_latency: Duration::from_millis(1500),
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(50),
            platform_queue: 1024,
            agent_queue: 256,
            send_timeout: Duration::from_secs(10),
            shutdown_deadline: Duration::from_secs(5),
            recent_calls: hub::board::RECENT_CALLS,
            auth: auth::AuthConfig::open(),
            max_calls_per_process: 10_000,
            max_calls_per_tenant: 5_000,
            max_connections_per_tenant: 1_000,
            max_sockets_per_principal: 8,
            supervisor_queue: hub::board::SUPERVISOR_QUEUE,
            max_connections: 10_000,
            max_segments_per_sec: 20,
            segment_rate_window: Duration::from_secs(5),
            idle_call_timeout: Duration::from_secs(10 * 60),
            resume_grace: Duration::from_secs(30),
            replay_buffer: 256,
            replay_retention: Duration::from_secs(60),
            log_transcripts: false,
            header_read_timeout: Duration::from_secs(10),
            http_idle_timeout: Duration::from_secs(5),
            max_http_connections: 512,
            max_analyze_concurrency: 4,
            max_ingest_concurrency: 64,
            ingest_body_limit: 1024 * 1024,
            allowed_origins: Vec::new(),
            metrics_key: None,
            db_path: ":memory:".into(),
            customer_key_secret: None,
            db_max_mib: 0,
            history_purge_interval: Duration::from_secs(3600),
            cluster: None,
        }
    }
}

impl Options {
    pub fn from_args(args: &ServeArgs) -> Options {
        Options {
            max_calls_per_connection: args.max_calls.max(1),
            soft_message_limit: args.max_message_bytes,
            hard_message_limit: (1024 * 1024).max(args.max_message_bytes * 2),
            max_calls_per_process: args.max_process_calls.max(1),
            max_calls_per_tenant: args.max_calls_per_tenant.max(1),
            max_connections_per_tenant: args.max_connections_per_tenant.max(1),
            max_sockets_per_principal: args.max_sockets_per_principal.max(1),
            max_connections: args.max_connections.max(1),
            max_segments_per_sec: args.max_segment_rate,
            idle_call_timeout: Duration::from_secs(args.idle_call_minutes.saturating_mul(60)),
            resume_grace: Duration::from_secs(args.resume_grace_secs),
            replay_buffer: args.replay_buffer.max(1),
            log_transcripts: args.log_transcripts,
            analyze_body_limit: args.max_analyze_bytes.max(1),
            header_read_timeout: Duration::from_secs(args.http_header_timeout_secs.max(1)),
            http_idle_timeout: Duration::from_secs(args.http_idle_timeout_secs.max(1)),
            max_http_connections: args.max_http_connections.max(1),
            max_analyze_concurrency: args.max_analyze_concurrency.max(1),
            max_ingest_concurrency: args.max_ingest_concurrency.max(1),
            ingest_body_limit: args.max_ingest_bytes.max(1),
            allowed_origins: guard::parse_origins(args.allowed_origins.as_deref()),
            metrics_key: args.metrics_key.clone().filter(|k| !k.is_empty()),
            db_path: args.db.clone(),
            db_max_mib: args.db_max_mib,
            cluster: args.cluster.clone().filter(|u| !u.is_empty()),
            customer_key_secret: args
                .customer_key_secret
                .as_ref()
                .map(|s| s.as_bytes().to_vec()),
            ..Options::default()
        }
    }
}

/// WebSocket read buffer per connection. The default (128 KiB) dominates memory with thousands
/// of connections; transcript frames are a few hundred bytes (larger messages still assemble).
pub(crate) const WS_READ_BUFFER: usize = 16 * 1024;

/// State shared by every handler and connection task of one server.
#[derive(Debug)]
pub struct AppState {
    /// Lexicons and campaign settings; swapped whole by a reload. Calls keep the version they
    /// started with.
    res: RwLock<Arc<Resources>>,
    /// Bumped on every reload, so connections notice cheaply.
    pub res_generation: AtomicU64,
    /// Where resources came from (for reloads).
    pub sources: Sources,
    pub opts: Options,
    pub hub: Hub,
    pub metrics: Metrics,
    /// Cancelled when shutdown begins: stop accepting, end calls, close platform sockets.
    pub shutdown: CancellationToken,
    /// Cancelled once platform connections are done: agent sockets flush and close.
    pub agents_close: CancellationToken,
    pub streams: TaskTracker,
    pub agents: TaskTracker,
    pub connections: AtomicI64,
    pub agent_sockets: AtomicI64,
    pub supervisor_sockets: AtomicI64,
    pub next_conn: AtomicU64,
    pub limits: limits::Limits,
    /// Slots for concurrent `POST /v1/analyze` requests.
    pub analyze_slots: Arc<tokio::sync::Semaphore>,
    /// Slots of `POST /v1/ingest/{format}` (its own: webhooks must not wait for batches).
    pub ingest_slots: Arc<tokio::sync::Semaphore>,
    /// The call history (SQLite): ended calls' records, reports, customer context.
    pub store: Arc<crate::store::Store>,
    /// Calls fed through `POST /v1/ingest/{format}`.
    pub ingest: ingest::IngestCalls,
}

/// Files the resources were loaded from; a reload reads them again.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub lexicons: Option<PathBuf>,
    pub config: Option<PathBuf>,
}

impl AppState {
    /// The resources new calls start with.
    pub fn resources(&self) -> Arc<Resources> {
        self.res
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Load lexicons and configuration again from their sources and swap them in. On error the
    /// running resources stay as they are. Calls in progress keep the settings they started with.
    pub fn reload(&self) -> Result<Arc<Resources>, crate::engine::LoadError> {
        let fresh = Resources::load(
            self.sources.lexicons.as_deref(),
            self.sources.config.as_deref(),
        )?;
        *self
            .res
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh.clone();
        self.res_generation.fetch_add(1, Ordering::Relaxed);
        self.metrics.set_campaigns(fresh.config.campaign_names());
        tracing::info!(
            lexicon_entries = fresh.analyzer.lexicons().entry_count(),
            "resources reloaded"
        );
        Ok(fresh)
    }
}

/// The routes of protocol v1.
pub fn router(app: Arc<AppState>) -> Router {
    let body_limit = app.opts.analyze_body_limit;
    Router::new()
        .route("/v1/stream", get(http::stream))
        .route("/v1/stream/{format}", get(ingest::stream))
        .route(
            "/v1/ingest/{format}",
            post(ingest::ingest).layer(DefaultBodyLimit::max(body_limit)),
        )
        .route("/v1/echo", get(echo::echo))
        .route("/v1/agents/{agent_id}/nudges", get(http::agent))
        .route(
            "/v1/analyze",
            // The handler enforces its own body limit (before buffering, per slot).
            post(http::analyze_handler).layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/admin/reload", post(http::reload))
        .route("/v1/supervisor", get(supervisor::upgrade))
        .route("/v1/calls/{call_id}", get(supervisor::call_record))
        .route("/v1/calls", get(history::list))
        .route("/v1/calls.csv", get(history::csv))
        .route("/v1/reports/{campaign}", get(history::report))
        .route("/reports/{campaign}", get(pages::report))
        .route("/healthz", get(http::healthz))
        .route("/metrics", get(http::metrics))
        .route("/agent/{agent_id}", get(pages::agent))
        .route("/supervisor", get(pages::supervisor))
        .route("/calls/{call_id}", get(pages::call))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::check,
        ))
        .with_state(app)
}

/// A running server.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    app: Arc<AppState>,
    serve: JoinHandle<()>,
}

/// Serve on `listener` until [`ServerHandle::shutdown`].
pub async fn start(
    res: Arc<Resources>,
    opts: Options,
    listener: TcpListener,
) -> std::io::Result<ServerHandle> {
    start_with_sources(res, Sources::default(), opts, listener).await
}

/// [`start`], remembering where resources came from so `POST /v1/admin/reload` and SIGHUP can
/// read them again.
pub async fn start_with_sources(
    res: Arc<Resources>,
    sources: Sources,
    opts: Options,
    listener: TcpListener,
) -> std::io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let store = crate::store::Store::open_capped(
        &opts.db_path,
        opts.customer_key_secret.as_deref(),
        opts.db_max_mib,
    )
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    let hub = Hub::new(HubConfig {
        recent_calls: opts.recent_calls,
        replay_buffer: opts.replay_buffer,
        supervisor_queue: opts.supervisor_queue,
        quotas: QuotaLimits {
            calls_per_process: opts.max_calls_per_process,
            calls_per_tenant: opts.max_calls_per_tenant,
            connections_per_tenant: opts.max_connections_per_tenant,
            sockets_per_principal: opts.max_sockets_per_principal,
        },
    });
    hub.board.set_history(store.clone());
    let (hub, remote) = match &opts.cluster {
        Some(url) => {
            let cfg = crate::cluster::ClusterConfig::new(url.clone());
            let (link, remote) = crate::cluster::Cluster::connect(
                &cfg,
                &format!("calma {addr} pid {}", std::process::id()),
            )
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
            tracing::info!(%url, "joined the cluster");
            (hub.with_cluster(link), Some(remote))
        }
        None => (hub, None),
    };
    let limits = limits::Limits::new(opts.max_connections);
    let analyze_slots = Arc::new(tokio::sync::Semaphore::new(
        opts.max_analyze_concurrency
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
    ));
    let ingest_slots = Arc::new(tokio::sync::Semaphore::new(
        opts.max_ingest_concurrency
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
    ));
    let metrics = Metrics::new();
    metrics.set_campaigns(res.config.campaign_names());
    let app = Arc::new(AppState {
        res: RwLock::new(res),
        res_generation: AtomicU64::new(0),
        sources,
        opts,
        hub,
        metrics,
        shutdown: CancellationToken::new(),
        agents_close: CancellationToken::new(),
        streams: TaskTracker::new(),
        agents: TaskTracker::new(),
        connections: AtomicI64::new(0),
        agent_sockets: AtomicI64::new(0),
        supervisor_sockets: AtomicI64::new(0),
        next_conn: AtomicU64::new(1),
        limits,
        analyze_slots,
        ingest_slots,
        store,
        ingest: ingest::IngestCalls::default(),
    });
    app.streams.spawn(reaper::reaper(app.clone()));
    app.streams.spawn(ingest::reaper(app.clone()));
    app.streams.spawn(history::purge_loop(app.clone()));
    if let Some(remote) = remote {
        tokio::spawn(peers::apply(app.clone(), remote));
        app.streams.spawn(peers::end_orphans(app.clone()));
    }
    let routes = router(app.clone());
    let serve = tokio::spawn(accept::serve(listener, routes, app.clone()));
    Ok(ServerHandle { addr, app, serve })
}

/// What shutdown managed within its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every socket closed in time.
    pub clean: bool,
}

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (counters, hub) of this server.
    pub fn state(&self) -> &Arc<AppState> {
        &self.app
    }

    /// Graceful shutdown: stop accepting; end every call (summaries go to platforms, agents and
    /// supervisors); Close 1001 on platform sockets; then flush and close agent sockets (1001);
    /// all within `shutdown_deadline`.
    pub async fn shutdown(self) -> ShutdownReport {
        let deadline = tokio::time::Instant::now() + self.app.opts.shutdown_deadline;
        tracing::info!("shutting down");
        self.app.shutdown.cancel();
        self.app.streams.close();
        let streams_done = tokio::time::timeout_at(deadline, self.app.streams.wait())
            .await
            .is_ok();
        self.app.agents_close.cancel();
        self.app.agents.close();
        let agents_done = tokio::time::timeout_at(deadline, self.app.agents.wait())
            .await
            .is_ok();
        let mut serve = self.serve;
        let serve_done = tokio::time::timeout_at(deadline, &mut serve).await.is_ok();
        if !serve_done {
            serve.abort();
        }
        // Every call has ended (and been queued for the history): write it all before exiting.
        let store = self.app.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
        let clean = streams_done && agents_done && serve_done;
        if !clean {
            tracing::warn!("shutdown deadline passed with sockets still open");
        }
        ShutdownReport { clean }
    }
}

/// Run the server until SIGINT/SIGTERM.
pub fn run(args: ServeArgs) -> ExitCode {
    let spec = std::env::var("RUST_LOG").ok();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(logging::filter(spec.as_deref(), args.log_transcripts))
        .try_init();
    let auth =
        match auth::AuthConfig::from_values(args.api_keys.as_deref(), args.token_secret.as_deref())
            .and_then(|a| a.with_admin_key_value(args.admin_key.as_deref()))
        {
            Ok(a) => a.with_max_token_ttl(args.max_token_ttl_secs),
            Err(e) => {
                eprintln!("calma: {e}");
                return ExitCode::from(2);
            }
        };
    match auth::startup_check(&auth, args.addr, args.insecure_dev) {
        Ok(warnings) => {
            for w in warnings {
                tracing::warn!("{w}");
                eprintln!("calma: WARNING: {w}");
            }
        }
        Err(e) => {
            eprintln!("calma: {e}");
            return ExitCode::from(2);
        }
    }
    let res = match Resources::load(args.lexicons.as_deref(), args.config.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("calma: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("calma: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let opts = Options {
        auth,
        ..Options::from_args(&args)
    };
    rt.block_on(async move {
        let listener = match TcpListener::bind(args.addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("calma: cannot listen on {}: {e}", args.addr);
                return ExitCode::from(2);
            }
        };
        let sources = Sources {
            lexicons: args.lexicons.clone(),
            config: args.config.clone(),
        };
        let handle = match start_with_sources(res, sources, opts, listener).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("calma: {e}");
                return ExitCode::from(2);
            }
        };
        let addr = handle.local_addr();
        tracing::info!(%addr, "calma listening");
        println!("calma listening on http://{addr} (stream: ws://{addr}/v1/stream)");
        #[cfg(unix)]
        {
            let app = handle.app.clone();
            tokio::spawn(async move {
                let Ok(mut hup) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                else {
                    return;
                };
                while hup.recv().await.is_some() {
                    let app = app.clone();
                    let r = tokio::task::spawn_blocking(move || app.reload().map(|_| ())).await;
                    match r {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::error!(error = %e, "reload refused; keeping the running configuration"),
                        Err(e) => tracing::error!(error = %e, "reload task failed"),
                    }
                }
            });
        }
        wait_for_signal().await;
        let report = handle.shutdown().await;
        tracing::info!(clean = report.clean, "calma stopped");
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
