//! Call history on SQLite: every ended call's record survives a restart.
//!
//! - [`Store::open`] opens (or creates) the database file in WAL mode and migrates its schema
//!   ([`schema`]); a corrupt or locked file is a start-up error naming the file.
//! - Writes go through a bounded queue to one writer thread that batches them in transactions
//!   ([`Store::record`] never blocks: a full queue drops the record and counts it); a failing
//!   write (full disk) is logged and counted, and live analysis goes on.
//! - Reads ([`queries`]) use their own connection (WAL lets them run beside the writer); callers
//!   in async code run them on the blocking pool.
//! - Customer ids are never stored: only an HMAC of (tenant, id) with a server secret.
//!
//! The store knows nothing of sockets or the engine: the server hands it finished
//! [`CallRecord`]s and asks it questions.

pub mod queries;
pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rusqlite::{params, Connection, OpenFlags};
use sha2::Sha256;

use crate::protocol::Summary;

/// Records waiting for the writer before new ones are dropped (and counted).
pub const QUEUE_CAPACITY: usize = 16_384;
/// Records written in one transaction at most.
const BATCH_MAX: usize = 512;

/// Why the history could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("history database {path}: {message}")]
    Open { path: String, message: String },
    #[error("history database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// One ended call as the history keeps it.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub tenant: String,
    pub call_id: String,
    pub agent_id: String,
    pub campaign: String,
    /// Wall-clock unix milliseconds.
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    pub summary: Summary,
    /// The post-call body served by `GET /v1/calls/{id}` (summary, nudges with evidence, timing).
    pub record_json: String,
    /// HMAC of the customer id, when `call.start` carried one.
    pub customer_key: Option<String>,
    /// Concrete next steps the agent promised (quotes), for the next call's context.
    pub next_steps: Vec<String>,
    /// PII-redacted final segments as JSON, only when the campaign keeps transcripts.
    pub transcript_json: Option<String>,
    pub retention_days: u32,
    pub transcript_retention_days: u32,
}

/// Counters the server exports as metrics.
#[derive(Debug, Default)]
pub struct StoreStats {
    pub queued: AtomicU64,
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub write_errors: AtomicU64,
    pub purged: AtomicU64,
}

enum Op {
    Write(Box<CallRecord>),
    Purge {
        now_ms: i64,
        retention: schema::Retention,
    },
    /// Answered once everything queued before it is on disk.
    Flush(std::sync::mpsc::Sender<()>),
}

/// The call history: a writer thread fed by a bounded queue, and a read connection.
pub struct Store {
    path: String,
    tx: Mutex<Option<SyncSender<Op>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Where readers connect (a file path or the shared in-memory URI).
    uri: String,
    /// Keeps a `:memory:` database alive between readers (the writer thread owns its own).
    _keepalive: Option<Mutex<Connection>>,
    secret: Vec<u8>,
    pub stats: Arc<StoreStats>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Where `--db :memory:` lives: a shared in-memory database, gone when the process exits.
fn memory_uri() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "file:calma-mem-{}-{}?mode=memory&cache=shared",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn open_conn(uri: &str, display: &str) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(uri, flags).map_err(|e| StoreError::Open {
        path: display.to_string(),
        message: e.to_string(),
    })?;
    conn.busy_timeout(Duration::from_millis(2_000))?;
    Ok(conn)
}

impl Store {
    /// Open the history at `path` (created with its directory if missing; `:memory:` keeps
    /// nothing). `secret` keys the customer-id hash; without one, a random secret is created once
    /// and kept in the database, so hashes stay stable across restarts.
    pub fn open(path: &str, secret: Option<&[u8]>) -> Result<Arc<Store>, StoreError> {
        Store::open_capped(path, secret, 0)
    }

    /// [`Store::open`] with the database capped at `max_mib` MiB (0 = no cap): past it, writes
    /// fail as on a full disk (counted in `calma_history_write_errors_total`) and calls go on.
    pub fn open_capped(
        path: &str,
        secret: Option<&[u8]>,
        max_mib: u64,
    ) -> Result<Arc<Store>, StoreError> {
        let memory = path == ":memory:";
        let uri = if memory {
            memory_uri()
        } else {
            let p = PathBuf::from(path);
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                    path: path.to_string(),
                    message: format!("cannot create {}: {e}", dir.display()),
                })?;
            }
            path.to_string()
        };
        let open_err = |message: String| StoreError::Open {
            path: path.to_string(),
            message,
        };
        let writer = open_conn(&uri, path)?;
        if !memory {
            writer
                .pragma_update(None, "journal_mode", "WAL")
                .map_err(|e| open_err(describe(&e)))?;
            writer
                .pragma_update(None, "synchronous", "NORMAL")
                .map_err(|e| open_err(describe(&e)))?;
        }
        // Deleted personal data is overwritten, not left in free pages.
        writer
            .pragma_update(None, "secure_delete", "ON")
            .map_err(|e| open_err(describe(&e)))?;
        // A write lock proves the file is a database we can use now, not at the first call.
        schema::migrate(&writer).map_err(|e| open_err(describe(&e)))?;
        if max_mib > 0 {
            let page: i64 = writer
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .map_err(|e| open_err(describe(&e)))?;
            let pages = (max_mib * 1024 * 1024 / page.max(512) as u64).max(1);
            writer
                .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
                .map_err(|e| open_err(describe(&e)))?;
        }
        let secret = match secret {
            Some(s) => s.to_vec(),
            None if memory => schema::random_bytes(&writer).map_err(|e| open_err(describe(&e)))?,
            None => key_file_secret(path, &writer).map_err(open_err)?,
        };
        let keepalive = if memory {
            Some(Mutex::new(open_conn(&uri, path)?))
        } else {
            None
        };
        let stats = Arc::new(StoreStats::default());
        let (tx, rx) = sync_channel(QUEUE_CAPACITY);
        let thread_stats = stats.clone();
        let display = path.to_string();
        let handle = std::thread::Builder::new()
            .name("calma-history".into())
            .spawn(move || write_loop(writer, rx, thread_stats, display))
            .map_err(|e| open_err(format!("cannot start the writer thread: {e}")))?;
        Ok(Arc::new(Store {
            path: path.to_string(),
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            uri,
            _keepalive: keepalive,
            secret,
            stats,
        }))
    }

    /// Open an existing history file read-only, without migrating or locking it (for
    /// `calma replay --db` beside a running server). A missing file is an error, not a new
    /// empty database.
    pub fn open_read_only(path: &str) -> Result<Connection, StoreError> {
        let err = |message: String| StoreError::Open {
            path: path.to_string(),
            message,
        };
        if !Path::new(path).is_file() {
            return Err(err("no such file".into()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| err(describe(&e)))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| err(describe(&e)))?;
        if version == 0 {
            return Err(err("not a calma history database (no schema)".into()));
        }
        Ok(conn)
    }

    /// The database file as given at start.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn sender(&self) -> Option<SyncSender<Op>> {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Queue an ended call for writing. Never blocks: when the writer is this far behind, the
    /// record is dropped and counted (`calma_history_dropped_total`).
    pub fn record(&self, rec: CallRecord) -> bool {
        let Some(tx) = self.sender() else {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        match tx.try_send(Op::Write(Box::new(rec))) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Ask the writer to delete records (and transcripts) past their campaign's retention.
    pub fn purge(&self, now_ms: i64, retention: schema::Retention) {
        if let Some(tx) = self.sender() {
            let _ = tx.try_send(Op::Purge { now_ms, retention });
        }
    }

    /// Wait until everything queued so far is written (blocking; tests and shutdown).
    pub fn flush(&self) {
        if let Some(tx) = self.sender() {
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            if tx.send(Op::Flush(done_tx)).is_ok() {
                let _ = done_rx.recv();
            }
        }
    }

    /// Write what is queued and stop the writer (blocking). Later records are dropped.
    pub fn close(&self) {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(tx);
        if let Some(h) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }

    /// Records waiting to be written.
    pub fn queue_depth(&self) -> u64 {
        let s = &self.stats;
        s.queued.load(Ordering::Relaxed).saturating_sub(
            s.written.load(Ordering::Relaxed) + s.write_errors.load(Ordering::Relaxed),
        )
    }

    /// The keyed hash under which a tenant's customer id is stored.
    pub fn customer_key(&self, tenant: &str, customer_id: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(tenant.as_bytes());
        mac.update(&[0]);
        mac.update(customer_id.as_bytes());
        let bytes = mac.finalize().into_bytes();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A fresh read connection: each request reads on its own (WAL lets readers run beside the
    /// writer and each other), so a long export never holds up a customer-context lookup. Run
    /// queries off the async workers.
    pub fn reader(&self) -> Result<Connection, StoreError> {
        let conn = open_conn(&self.uri, &self.path)?;
        conn.pragma_update(None, "query_only", "ON")?;
        Ok(conn)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

/// The customer-hash secret kept beside the database in `<db>.customer-key` (mode 0600), created
/// on first start. Not inside the database: a copy of the data alone does not let anyone test
/// phone numbers against the hashes. Back it up with the database (or set
/// `CALMA_CUSTOMER_KEY_SECRET`), or earlier customers are no longer recognised.
fn key_file_secret(db_path: &str, conn: &Connection) -> Result<Vec<u8>, String> {
    let key_path = format!("{db_path}.customer-key");
    match std::fs::read(&key_path) {
        Ok(k) if k.len() >= 16 => return Ok(k),
        Ok(_) => return Err(format!("{key_path}: the customer-key file is too short")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{key_path}: {e}")),
    }
    let secret = schema::random_bytes(conn).map_err(|e| describe(&e))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    opts.open(&key_path)
        .and_then(|mut f| f.write_all(&secret))
        .map_err(|e| format!("{key_path}: cannot create the customer-key file: {e}"))?;
    Ok(secret)
}

/// SQLite's own words for the common start-up failures, with what to do.
fn describe(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::NotADatabase) => format!("{e}: the file is not a calma/SQLite database (corrupt?)"),
        Some(C::DatabaseBusy) | Some(C::DatabaseLocked) => {
            format!("{e}: locked by another process (is another calma using it?)")
        }
        Some(C::ReadOnly) | Some(C::CannotOpen) | Some(C::PermissionDenied) => {
            format!("{e}: check the path and its permissions")
        }
        _ => e.to_string(),
    }
}

fn write_loop(mut conn: Connection, rx: Receiver<Op>, stats: Arc<StoreStats>, path: String) {
    let mut batch: Vec<Box<CallRecord>> = Vec::new();
    let mut flushes = Vec::new();
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(3600)) {
            Ok(op) => op,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut purge = None;
        let mut take = |op: Op, batch: &mut Vec<Box<CallRecord>>| match op {
            Op::Write(r) => batch.push(r),
            Op::Purge { now_ms, retention } => purge = Some((now_ms, retention)),
            Op::Flush(done) => flushes.push(done),
        };
        take(first, &mut batch);
        while batch.len() < BATCH_MAX {
            match rx.try_recv() {
                Ok(op) => take(op, &mut batch),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let n = batch.len() as u64;
            match write_batch(&mut conn, &batch) {
                Ok(()) => {
                    stats.written.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    // One bad record must not cost the others: write them one by one.
                    tracing::warn!(db = %path, error = %e, records = n, "history batch failed; writing records one by one");
                    for rec in &batch {
                        match write_batch(&mut conn, std::slice::from_ref(rec)) {
                            Ok(()) => stats.written.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                tracing::error!(db = %path, error = %e, call = %rec.call_id, "history write failed; live analysis goes on");
                                stats.write_errors.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                }
            }
            batch.clear();
        }
        if let Some((now_ms, retention)) = purge {
            match schema::purge(&conn, now_ms, &retention) {
                Ok(n) => {
                    stats.purged.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => tracing::error!(db = %path, error = %e, "history purge failed"),
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

const DAY_MS: i64 = 86_400_000;

fn write_batch(conn: &mut Connection, batch: &[Box<CallRecord>]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut call = tx.prepare_cached(
            "INSERT INTO calls (tenant, call_id, agent_id, campaign, started_at_ms, ended_at_ms,
                duration_ms, peak_level, peak_score, end_level, end_score, nudge_count,
                agent_interruptions, customer_interruptions, agent_talk_ms, customer_talk_ms,
                useful, not_useful, customer_key, next_steps_json, record_json, transcript_json,
                expires_at_ms, transcript_expires_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
        )?;
        let mut nudge = tx.prepare_cached(
            "INSERT INTO nudges (call_row, tenant, campaign, kind, at_ms, cleared_at_ms,
                clear_reason, useful) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for r in batch {
            let s = &r.summary;
            let keep_transcript = r.transcript_json.is_some();
            call.execute(params![
                r.tenant,
                r.call_id,
                r.agent_id,
                r.campaign,
                r.started_at_ms,
                r.ended_at_ms,
                s.duration_ms as i64,
                s.frustration_peak.level.as_str(),
                s.frustration_peak.score,
                s.frustration_end.level.as_str(),
                s.frustration_end.score,
                s.nudges.len() as i64,
                s.interruptions.by_agent,
                s.interruptions.by_customer,
                s.timing.agent_talk_ms as i64,
                s.timing.customer_talk_ms as i64,
                s.feedback.useful,
                s.feedback.not_useful,
                r.customer_key,
                serde_json::to_string(&r.next_steps).unwrap_or_else(|_| "[]".into()),
                r.record_json,
                r.transcript_json,
                r.ended_at_ms + i64::from(r.retention_days) * DAY_MS,
                keep_transcript.then(|| {
                    r.ended_at_ms
                        + i64::from(r.transcript_retention_days.min(r.retention_days)) * DAY_MS
                }),
            ])?;
            let row = tx.last_insert_rowid();
            for n in &s.nudges {
                nudge.execute(params![
                    row,
                    r.tenant,
                    r.campaign,
                    n.kind,
                    n.at_ms as i64,
                    n.cleared_at_ms.map(|v| v as i64),
                    n.clear_reason,
                    n.useful,
                ])?;
            }
        }
    }
    tx.commit()
}

/// A kept transcript's segment (text PII-redacted when the campaign redacts).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TranscriptSegment {
    pub segment_id: String,
    pub speaker: crate::protocol::Speaker,
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// A stored call as protocol v1 JSONL (call.start, its final segments, call.end), for
/// `calma replay --db`.
pub fn transcript_to_jsonl(t: &queries::StoredTranscript) -> Option<String> {
    let segs: Vec<TranscriptSegment> = serde_json::from_str(&t.transcript_json).ok()?;
    let mut out = serde_json::json!({"type":"call.start","call_id":t.call_id,
        "agent_id":t.agent_id,"campaign":t.campaign})
    .to_string();
    out.push('\n');
    for s in segs {
        out.push_str(
            &serde_json::json!({"type":"segment","call_id":t.call_id,"segment_id":s.segment_id,
                "speaker":s.speaker,"text":s.text,"start_ms":s.start_ms,"end_ms":s.end_ms,
                "final":true})
            .to_string(),
        );
        out.push('\n');
    }
    out.push_str(&serde_json::json!({"type":"call.end","call_id":t.call_id}).to_string());
    out.push('\n');
    Some(out)
}

/// A UTC date `YYYY-MM-DD` as unix ms at its midnight.
pub fn parse_date_ms(s: &str) -> Option<i64> {
    let mut it = s.splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    // days-from-civil (proleptic Gregorian).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * DAY_MS)
}

/// The default history file of `cargo run --release`.
pub fn default_path() -> &'static Path {
    Path::new("calma-data/calma.sqlite3")
}

#[cfg(test)]
mod tests {
    use super::queries::{self, CallFilter};
    use super::*;
    use crate::engine::Resources;
    use crate::protocol::{Outbound, ParseLimits};

    fn summary_of(file: &str) -> Summary {
        let text = std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR")))
            .expect("example call");
        let lines =
            crate::replay::replay_jsonl(Resources::embedded(), &text, &ParseLimits::default());
        let last = lines
            .iter()
            .rev()
            .find(|l| l.contains("call.summary"))
            .unwrap();
        match serde_json::from_str::<Outbound>(last).unwrap() {
            Outbound::Summary(s) => *s,
            _ => unreachable!(),
        }
    }

    fn record(tenant: &str, call_id: &str, ended_at_ms: i64, s: &Summary) -> CallRecord {
        CallRecord {
            tenant: tenant.into(),
            call_id: call_id.into(),
            agent_id: s.agent_id.clone(),
            campaign: s.campaign.clone(),
            started_at_ms: ended_at_ms - s.duration_ms as i64,
            ended_at_ms,
            summary: s.clone(),
            record_json: format!("{{\"call_id\":\"{call_id}\",\"tenant_marker\":\"{tenant}\"}}"),
            customer_key: None,
            next_steps: vec![],
            transcript_json: None,
            retention_days: 30,
            transcript_retention_days: 7,
        }
    }

    fn temp_db(name: &str) -> String {
        let dir = std::env::temp_dir().join(format!("calma-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("calma.sqlite3").to_string_lossy().into_owned()
    }

    #[test]
    fn records_survive_reopening_and_stay_in_their_tenant() {
        let path = temp_db("reopen");
        let angry = summary_of("examples/angry_call.jsonl");
        {
            let store = Store::open(&path, None).unwrap();
            assert!(store.record(record("acme", "c-1", 1_000_000, &angry)));
            assert!(store.record(record("globex", "c-1", 1_000_500, &angry)));
            store.close();
        }
        let store = Store::open(&path, None).unwrap();
        let conn = store.reader().unwrap();
        let acme = queries::get_call(&conn, Some("acme"), "c-1")
            .unwrap()
            .unwrap();
        assert!(acme.contains("\"tenant_marker\":\"acme\""), "{acme}");
        let globex = queries::get_call(&conn, Some("globex"), "c-1")
            .unwrap()
            .unwrap();
        assert!(globex.contains("globex"));
        assert!(queries::get_call(&conn, Some("initech"), "c-1")
            .unwrap()
            .is_none());
        let page = queries::list_calls(
            &conn,
            Some("acme"),
            &CallFilter {
                limit: 50,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(page.calls.len(), 1);
        assert_eq!(page.calls[0].nudges as usize, angry.nudges.len());
    }

    #[test]
    fn lists_filter_and_page_with_a_cursor() {
        let store = Store::open(":memory:", Some(b"0123456789abcdef")).unwrap();
        let angry = summary_of("examples/angry_call.jsonl");
        let calm = summary_of("examples/calm_call.jsonl");
        for i in 0..7 {
            let s = if i % 2 == 0 { &angry } else { &calm };
            store.record(record("acme", &format!("c-{i}"), 1_000 * i, s));
        }
        store.flush();
        let conn = store.reader().unwrap();
        let mut f = CallFilter {
            limit: 3,
            ..Default::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = queries::list_calls(&conn, Some("acme"), &f).unwrap();
            seen.extend(page.calls.iter().map(|c| c.call_id.clone()));
            match page.next_cursor {
                Some(c) => f.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, ["c-6", "c-5", "c-4", "c-3", "c-2", "c-1", "c-0"]);
        let heated = queries::list_calls(
            &conn,
            Some("acme"),
            &CallFilter {
                min_level: Some("frustrated".into()),
                limit: 50,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            heated.calls.len(),
            4,
            "the angry example reaches at least frustrated"
        );
        let report =
            queries::campaign_report(&conn, Some("acme"), &angry.campaign, None, None).unwrap();
        let same_campaign = if angry.campaign == calm.campaign {
            7
        } else {
            4
        };
        assert_eq!(report.calls, same_campaign);
        assert!(report.kinds.values().map(|k| k.count).sum::<i64>() >= 4);
        assert!(CallFilter {
            min_level: Some("furious".into()),
            ..Default::default()
        }
        .validate()
        .is_err());
    }

    #[test]
    fn customer_context_counts_recent_contacts_by_keyed_hash() {
        let store = Store::open(":memory:", Some(b"0123456789abcdef")).unwrap();
        let angry = summary_of("examples/angry_call.jsonl");
        let key = store.customer_key("acme", "+34600111222");
        assert_ne!(
            key,
            store.customer_key("globex", "+34600111222"),
            "hashes differ per tenant"
        );
        assert!(!key.contains("600111222"));
        let day = 86_400_000;
        let now = 100 * day;
        for ended in [now - 40 * day, now - 10 * day, now - 2 * day, now - day] {
            let mut r = record("acme", "c", ended, &angry);
            r.customer_key = Some(key.clone());
            r.next_steps = vec!["le llamo mañana antes de las diez".into()];
            store.record(r);
        }
        store.flush();
        let conn = store.reader().unwrap();
        let ctx = queries::customer_context(&conn, "acme", &key, now)
            .unwrap()
            .unwrap();
        assert_eq!((ctx.contacts_7d, ctx.contacts_30d), (2, 3));
        let last = ctx.last_call.unwrap();
        assert_eq!(last.ended_at_ms, now - day);
        assert_eq!(last.next_steps, ["le llamo mañana antes de las diez"]);
        assert_eq!(last.nudges.len(), angry.nudges.len());
        assert!(queries::customer_context(&conn, "globex", &key, now)
            .unwrap()
            .is_none());
    }

    #[test]
    fn purge_drops_expired_records_and_transcripts_first() {
        let store = Store::open(":memory:", Some(b"0123456789abcdef")).unwrap();
        let calm = summary_of("examples/calm_call.jsonl");
        let day = 86_400_000;
        let mut r = record("acme", "c-t", 10 * day, &calm);
        r.transcript_json = Some("[]".into());
        r.retention_days = 30;
        r.transcript_retention_days = 7;
        store.record(r);
        store.flush();
        let retention = schema::Retention {
            campaigns: vec![],
            default: (30, 7),
        };
        store.purge(18 * day, retention.clone());
        store.flush();
        {
            let conn = store.reader().unwrap();
            let left: Option<String> = conn
                .query_row("SELECT transcript_json FROM calls", [], |r| r.get(0))
                .unwrap();
            assert!(left.is_none(), "the transcript outlived its 7 days");
        }
        store.purge(41 * day, retention);
        store.flush();
        let conn = store.reader().unwrap();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM calls", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        assert_eq!(store.stats.purged.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn dates_and_stored_transcripts_round_trip() {
        assert_eq!(parse_date_ms("1970-01-02"), Some(DAY_MS));
        assert_eq!(parse_date_ms("2026-12-01"), Some(20_788 * DAY_MS));
        assert_eq!(parse_date_ms("2026-13-01"), None);
        let t = queries::StoredTranscript {
            tenant: "acme".into(),
            call_id: "c-9".into(),
            agent_id: "a-1".into(),
            campaign: "ventas".into(),
            transcript_json: r#"[{"segment_id":"s-1","speaker":"customer","text":"hola [número]","start_ms":0,"end_ms":900}]"#.into(),
        };
        let jsonl = transcript_to_jsonl(&t).unwrap();
        let out =
            crate::replay::replay_jsonl(Resources::embedded(), &jsonl, &ParseLimits::default());
        assert!(out.iter().any(|l| l.contains("call.summary")), "{out:?}");
        assert!(out.iter().all(|l| !l.contains("\"error\"")), "{out:?}");
    }

    #[test]
    fn retention_follows_each_campaigns_current_setting() {
        let store = Store::open(":memory:", Some(b"0123456789abcdef")).unwrap();
        let calm = summary_of("examples/calm_call.jsonl");
        let day = 86_400_000;
        let mut ventas = record("acme", "c-v", 10 * day, &calm);
        ventas.campaign = "ventas".into();
        store.record(ventas);
        let mut other = record("acme", "c-o", 10 * day, &calm);
        other.campaign = "soporte".into();
        store.record(other);
        store.flush();
        // ventas was written with 30 days; its campaign now keeps 3.
        store.purge(
            15 * day,
            schema::Retention {
                campaigns: vec![("ventas".into(), 3, 1)],
                default: (30, 7),
            },
        );
        store.flush();
        let conn = store.reader().unwrap();
        let left: Vec<String> = conn
            .prepare("SELECT call_id FROM calls")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(left, ["c-o"]);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_naming_it() {
        let path = temp_db("corrupt");
        std::fs::create_dir_all(Path::new(&path).parent().unwrap()).unwrap();
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        let err = Store::open(&path, None).unwrap_err().to_string();
        assert!(err.contains(&path) && err.contains("not a"), "{err}");
    }
}
