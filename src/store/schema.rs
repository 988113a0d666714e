//! The history's schema, migrated in code: `PRAGMA user_version` says which migrations ran.
//! A migration is appended, never edited, so every older file upgrades in order.

use rusqlite::{params, Connection, OptionalExtension};

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

/// The customer-hash secret kept in the database (created on first use).
pub fn server_secret(conn: &Connection) -> rusqlite::Result<Vec<u8>> {
    let existing: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'customer_key_secret'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(s) = existing {
        return Ok(s);
    }
    let secret: Vec<u8> = conn.query_row("SELECT randomblob(32)", [], |r| r.get(0))?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('customer_key_secret', ?1)",
        params![secret],
    )?;
    Ok(secret)
}

/// Delete records past their retention and transcripts past theirs. Returns the records deleted.
pub fn purge(conn: &Connection, now_ms: i64) -> rusqlite::Result<u64> {
    conn.execute(
        "UPDATE calls SET transcript_json = NULL, transcript_expires_at_ms = NULL
         WHERE transcript_expires_at_ms IS NOT NULL AND transcript_expires_at_ms <= ?1",
        params![now_ms],
    )?;
    let n = conn.execute(
        "DELETE FROM calls WHERE expires_at_ms <= ?1",
        params![now_ms],
    )?;
    Ok(n as u64)
}
