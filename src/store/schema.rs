//! The history's schema, migrated in code: `PRAGMA user_version` says which migrations ran.
//! A migration is appended, never edited, so every older file upgrades in order.

use rusqlite::{params, Connection};

/// Migrations in order; `user_version` = how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: calls, their nudges, and the server's own settings.
    "CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        tenant TEXT NOT NULL,
        call_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        campaign TEXT NOT NULL,
        started_at_ms INTEGER NOT NULL,
        ended_at_ms INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        peak_level TEXT NOT NULL,
        peak_score REAL NOT NULL,
        end_level TEXT NOT NULL,
        end_score REAL NOT NULL,
        nudge_count INTEGER NOT NULL,
        agent_interruptions INTEGER NOT NULL,
        customer_interruptions INTEGER NOT NULL,
        agent_talk_ms INTEGER NOT NULL,
        customer_talk_ms INTEGER NOT NULL,
        useful INTEGER NOT NULL,
        not_useful INTEGER NOT NULL,
        customer_key TEXT,
        next_steps_json TEXT NOT NULL DEFAULT '[]',
        record_json TEXT NOT NULL,
        transcript_json TEXT,
        expires_at_ms INTEGER NOT NULL,
        transcript_expires_at_ms INTEGER
    );
    CREATE INDEX calls_by_tenant_time ON calls (tenant, ended_at_ms);
    CREATE INDEX calls_by_tenant_call ON calls (tenant, call_id, ended_at_ms);
    CREATE INDEX calls_by_customer ON calls (tenant, customer_key, ended_at_ms)
        WHERE customer_key IS NOT NULL;
    CREATE INDEX calls_by_expiry ON calls (expires_at_ms);
    CREATE TABLE nudges (
        call_row INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        tenant TEXT NOT NULL,
        campaign TEXT NOT NULL,
        kind TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        cleared_at_ms INTEGER,
        clear_reason TEXT,
        useful INTEGER
    );
    CREATE INDEX nudges_by_call ON nudges (call_row);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);",
];

/// Bring the schema up to date (in one transaction per migration). A file from a newer calma
/// is refused rather than written into.
pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version as usize > MIGRATIONS.len() {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "schema version {version} is newer than this calma knows ({})",
                MIGRATIONS.len()
            )),
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    // Take and release the write lock once: a file locked by another process fails here, at
    // start-up, rather than at the first call.
    conn.execute_batch("BEGIN IMMEDIATE; COMMIT;")?;
    Ok(())
}

/// 32 random bytes from SQLite's own generator (seeded from the OS).
pub fn random_bytes(conn: &Connection) -> rusqlite::Result<Vec<u8>> {
    conn.query_row("SELECT randomblob(32)", [], |r| r.get(0))
}

/// How long records and transcripts live, by campaign, as configured now.
#[derive(Debug, Clone, Default)]
pub struct Retention {
    /// (campaign, record days, transcript days) of every configured campaign.
    pub campaigns: Vec<(String, u32, u32)>,
    /// Days for campaigns not configured (the `default` campaign's settings).
    pub default: (u32, u32),
}

/// Rows deleted per statement: a big purge never holds the write lock for long.
const PURGE_CHUNK: usize = 1000;

/// Delete records past their campaign's retention and transcripts past theirs, in chunks.
/// Returns the records deleted. Retention follows the configuration at purge time, so lowering
/// `retention_days` shortens what is already stored.
pub fn purge(conn: &Connection, now_ms: i64, r: &Retention) -> rusqlite::Result<u64> {
    const DAY: i64 = 86_400_000;
    let configured: Vec<&str> = r.campaigns.iter().map(|(c, _, _)| c.as_str()).collect();
    let mut rules: Vec<(Option<&str>, u32, u32)> = r
        .campaigns
        .iter()
        .map(|(c, d, t)| (Some(c.as_str()), *d, *t))
        .collect();
    rules.push((None, r.default.0, r.default.1));
    let others = configured
        .iter()
        .map(|c| format!("'{}'", c.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(",");
    let mut deleted = 0;
    for (campaign, days, t_days) in rules {
        let which = match campaign {
            Some(_) => "campaign = ?2".to_string(),
            None if others.is_empty() => "?2 IS NULL".to_string(),
            None => format!("?2 IS NULL AND campaign NOT IN ({others})"),
        };
        let transcript_cut = now_ms - i64::from(t_days.min(days)) * DAY;
        conn.execute(
            &format!(
                "UPDATE calls SET transcript_json = NULL, transcript_expires_at_ms = NULL
                 WHERE transcript_json IS NOT NULL AND {which} AND ended_at_ms <= ?1"
            ),
            params![transcript_cut, campaign],
        )?;
        let cut = now_ms - i64::from(days) * DAY;
        loop {
            let n = conn.execute(
                &format!(
                    "DELETE FROM calls WHERE id IN (SELECT id FROM calls
                     WHERE {which} AND ended_at_ms <= ?1 LIMIT {PURGE_CHUNK})"
                ),
                params![cut, campaign],
            )?;
            deleted += n as u64;
            if n < PURGE_CHUNK {
                break;
            }
        }
    }
    Ok(deleted)
}
