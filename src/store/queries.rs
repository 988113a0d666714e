//! Questions the history answers: one call, filtered lists (JSON and CSV), campaign reports,
//! a customer's recent contacts, and stored transcripts for re-runs. Every query takes the
//! tenant it is scoped to (`None` only in dev mode, where there are no tenants to keep apart).

use std::collections::BTreeMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// Rows per page at most.
pub const MAX_LIMIT: usize = 500;

const LEVELS: [&str; 4] = ["calm", "tense", "frustrated", "angry"];

fn level_rank(l: &str) -> Option<usize> {
    LEVELS.iter().position(|x| *x == l)
}

/// The newest stored record of `call_id` (the `GET /v1/calls/{id}` body).
pub fn get_call(
    conn: &Connection,
    tenant: Option<&str>,
    call_id: &str,
) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT record_json FROM calls WHERE call_id = ?1 AND (?2 IS NULL OR tenant = ?2)
         ORDER BY ended_at_ms DESC, id DESC LIMIT 1",
        params![call_id, tenant],
        |r| r.get(0),
    )
    .optional()
}

/// Filters of `GET /v1/calls` and `GET /v1/calls.csv`.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub agent_id: Option<String>,
    pub campaign: Option<String>,
    /// Unix ms, inclusive.
    pub since_ms: Option<i64>,
    /// Unix ms, exclusive.
    pub until_ms: Option<i64>,
    /// Only calls whose frustration peak reached at least this level.
    pub min_level: Option<String>,
    pub limit: usize,
    /// Opaque: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl CallFilter {
    /// Check values a client sent; the message names the parameter.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(l) = &self.min_level {
            if level_rank(l).is_none() {
                return Err(format!(
                    "min_level: {l:?} is not one of calm, tense, frustrated, angry"
                ));
            }
        }
        if let Some(c) = &self.cursor {
            if parse_cursor(c).is_none() {
                return Err("cursor: not a cursor this server issued".into());
            }
        }
        Ok(())
    }
}

fn parse_cursor(c: &str) -> Option<(i64, i64)> {
    let (a, b) = c.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// One call in a list.
#[derive(Debug, Clone, Serialize)]
pub struct CallRow {
    pub call_id: String,
    pub agent_id: String,
    pub campaign: String,
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    pub duration_ms: i64,
    pub peak_level: String,
    pub peak_score: f64,
    pub end_level: String,
    pub end_score: f64,
    pub nudges: i64,
    pub agent_interruptions: i64,
    pub customer_interruptions: i64,
    pub useful: i64,
    pub not_useful: i64,
}

/// A page of calls, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct CallPage {
    pub calls: Vec<CallRow>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Calls matching `f`, newest first, at most `f.limit` (1..=[`MAX_LIMIT`]).
pub fn list_calls(
    conn: &Connection,
    tenant: Option<&str>,
    f: &CallFilter,
) -> rusqlite::Result<CallPage> {
    let limit = f.limit.clamp(1, MAX_LIMIT);
    let mut sql = String::from(
        "SELECT id, call_id, agent_id, campaign, started_at_ms, ended_at_ms, duration_ms,
            peak_level, peak_score, end_level, end_score, nudge_count, agent_interruptions,
            customer_interruptions, useful, not_useful FROM calls WHERE 1 = 1",
    );
    let mut args: Vec<SqlValue> = Vec::new();
    let mut push = |sql: &mut String, clause: &str, v: SqlValue| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    if let Some(t) = tenant {
        push(&mut sql, " AND tenant = ?", t.to_string().into());
    }
    if let Some(a) = &f.agent_id {
        push(&mut sql, " AND agent_id = ?", a.clone().into());
    }
    if let Some(c) = &f.campaign {
        push(&mut sql, " AND campaign = ?", c.clone().into());
    }
    if let Some(s) = f.since_ms {
        push(&mut sql, " AND ended_at_ms >= ?", s.into());
    }
    if let Some(u) = f.until_ms {
        push(&mut sql, " AND ended_at_ms < ?", u.into());
    }
    if let Some(min) = f.min_level.as_deref().and_then(level_rank) {
        let allowed: Vec<String> = LEVELS[min..].iter().map(|l| format!("'{l}'")).collect();
        sql.push_str(&format!(" AND peak_level IN ({})", allowed.join(",")));
    }
    if let Some((ended, id)) = f.cursor.as_deref().and_then(parse_cursor) {
        push(&mut sql, " AND (ended_at_ms < ?", ended.into());
        push(&mut sql, " OR (ended_at_ms = ?", ended.into());
        push(&mut sql, " AND id < ?))", id.into());
    }
    sql.push_str(&format!(
        " ORDER BY ended_at_ms DESC, id DESC LIMIT {}",
        limit + 1
    ));
    let mut stmt = conn.prepare(&sql)?;
    let mut rows: Vec<(i64, CallRow)> = stmt
        .query_map(rusqlite::params_from_iter(args.iter()), |r| {
            Ok((
                r.get(0)?,
                CallRow {
                    call_id: r.get(1)?,
                    agent_id: r.get(2)?,
                    campaign: r.get(3)?,
                    started_at_ms: r.get(4)?,
                    ended_at_ms: r.get(5)?,
                    duration_ms: r.get(6)?,
                    peak_level: r.get(7)?,
                    peak_score: r.get(8)?,
                    end_level: r.get(9)?,
                    end_score: r.get(10)?,
                    nudges: r.get(11)?,
                    agent_interruptions: r.get(12)?,
                    customer_interruptions: r.get(13)?,
                    useful: r.get(14)?,
                    not_useful: r.get(15)?,
                },
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last()
            .map(|(id, c)| format!("{}.{}", c.ended_at_ms, id))
    } else {
        None
    };
    Ok(CallPage {
        calls: rows.into_iter().map(|(_, c)| c).collect(),
        next_cursor,
    })
}

/// RFC 4180 field: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-`,
/// `@`, tab or carriage return is prefixed with `'` so a spreadsheet never runs it as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The CSV header of `GET /v1/calls.csv`.
pub const CSV_HEADER: &str = "call_id,agent_id,campaign,started_at_ms,ended_at_ms,duration_ms,peak_level,peak_score,end_level,end_score,nudges,agent_interruptions,customer_interruptions,useful,not_useful\n";

/// Rows as CSV lines (no header).
pub fn csv_rows(rows: &[CallRow]) -> String {
    let mut out = String::new();
    for c in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{:.3},{},{:.3},{},{},{},{},{}\n",
            csv_field(&c.call_id),
            csv_field(&c.agent_id),
            csv_field(&c.campaign),
            c.started_at_ms,
            c.ended_at_ms,
            c.duration_ms,
            c.peak_level,
            c.peak_score,
            c.end_level,
            c.end_score,
            c.nudges,
            c.agent_interruptions,
            c.customer_interruptions,
            c.useful,
            c.not_useful
        ));
    }
    out
}

/// Per nudge kind in a report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindReport {
    pub count: i64,
    pub per_call: f64,
    pub useful: i64,
    pub not_useful: i64,
    /// useful / (useful + not_useful), when any feedback came.
    pub usefulness: Option<f64>,
    /// How they cleared: reason → count.
    pub cleared: BTreeMap<String, i64>,
}

/// Per agent in a report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AgentReport {
    pub calls: i64,
    pub interruptions_by_agent: i64,
    pub interruptions_by_customer: i64,
    /// The agent's share of talk time over their calls.
    pub talk_share: f64,
    pub nudges: i64,
}

/// One day of a report (UTC).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DayReport {
    pub day: String,
    pub calls: i64,
    pub nudges_per_call: f64,
    pub mean_peak_score: f64,
    /// Calls whose peak reached frustrated or angry.
    pub heated_calls: i64,
}

/// `GET /v1/reports/{campaign}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CampaignReport {
    pub campaign: String,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub calls: i64,
    pub nudges: i64,
    pub nudges_per_call: f64,
    pub kinds: BTreeMap<String, KindReport>,
    /// Calls by frustration peak / end level (calm, tense, frustrated, angry).
    pub peak_levels: BTreeMap<String, i64>,
    pub end_levels: BTreeMap<String, i64>,
    pub agents: BTreeMap<String, AgentReport>,
    pub days: Vec<DayReport>,
}

/// Aggregate a campaign's stored calls between `since_ms` and `until_ms`.
pub fn campaign_report(
    conn: &Connection,
    tenant: Option<&str>,
    campaign: &str,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
) -> rusqlite::Result<CampaignReport> {
    let mut rep = CampaignReport {
        campaign: campaign.to_string(),
        since_ms,
        until_ms,
        ..Default::default()
    };
    for l in LEVELS {
        rep.peak_levels.insert(l.to_string(), 0);
        rep.end_levels.insert(l.to_string(), 0);
    }
    let window = "campaign = ?1 AND (?2 IS NULL OR tenant = ?2)
        AND (?3 IS NULL OR ended_at_ms >= ?3) AND (?4 IS NULL OR ended_at_ms < ?4)";
    let mut stmt = conn.prepare(&format!(
        "SELECT agent_id, peak_level, end_level, peak_score, nudge_count, agent_interruptions,
            customer_interruptions, agent_talk_ms, customer_talk_ms, ended_at_ms
         FROM calls WHERE {window}"
    ))?;
    let mut talk: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut days: BTreeMap<i64, (DayReport, f64)> = BTreeMap::new();
    let mut rows = stmt.query(params![campaign, tenant, since_ms, until_ms])?;
    while let Some(r) = rows.next()? {
        let agent: String = r.get(0)?;
        let peak: String = r.get(1)?;
        let end: String = r.get(2)?;
        let peak_score: f64 = r.get(3)?;
        let nudges: i64 = r.get(4)?;
        let ended: i64 = r.get(9)?;
        rep.calls += 1;
        rep.nudges += nudges;
        *rep.peak_levels.entry(peak.clone()).or_default() += 1;
        *rep.end_levels.entry(end).or_default() += 1;
        let a = rep.agents.entry(agent.clone()).or_default();
        a.calls += 1;
        a.interruptions_by_agent += r.get::<_, i64>(5)?;
        a.interruptions_by_customer += r.get::<_, i64>(6)?;
        a.nudges += nudges;
        let t = talk.entry(agent).or_default();
        t.0 += r.get::<_, i64>(7)?;
        t.1 += r.get::<_, i64>(8)?;
        let day = ended.div_euclid(86_400_000);
        let d = days.entry(day).or_default();
        d.0.calls += 1;
        d.0.nudges_per_call += nudges as f64;
        d.1 += peak_score;
        d.0.heated_calls += i64::from(level_rank(&peak).unwrap_or(0) >= 2);
    }
    for (agent, (a_ms, c_ms)) in talk {
        if let Some(a) = rep.agents.get_mut(&agent) {
            let total = a_ms + c_ms;
            a.talk_share = if total > 0 {
                a_ms as f64 / total as f64
            } else {
                0.0
            };
        }
    }
    rep.days = days
        .into_iter()
        .map(|(day, (mut d, score_sum))| {
            d.day = day_string(day);
            d.mean_peak_score = score_sum / d.calls as f64;
            d.nudges_per_call /= d.calls as f64;
            d
        })
        .collect();
    rep.nudges_per_call = if rep.calls > 0 {
        rep.nudges as f64 / rep.calls as f64
    } else {
        0.0
    };
    let mut stmt = conn.prepare(
        "SELECT n.kind, n.useful, n.clear_reason FROM nudges n JOIN calls c ON c.id = n.call_row
         WHERE c.campaign = ?1 AND (?2 IS NULL OR c.tenant = ?2)
            AND (?3 IS NULL OR c.ended_at_ms >= ?3) AND (?4 IS NULL OR c.ended_at_ms < ?4)",
    )?;
    let mut rows = stmt.query(params![campaign, tenant, since_ms, until_ms])?;
    while let Some(r) = rows.next()? {
        let kind: String = r.get(0)?;
        let useful: Option<bool> = r.get(1)?;
        let reason: Option<String> = r.get(2)?;
        let k = rep.kinds.entry(kind).or_default();
        k.count += 1;
        match useful {
            Some(true) => k.useful += 1,
            Some(false) => k.not_useful += 1,
            None => {}
        }
        *k.cleared
            .entry(reason.unwrap_or_else(|| "open".into()))
            .or_default() += 1;
    }
    for k in rep.kinds.values_mut() {
        k.per_call = if rep.calls > 0 {
            k.count as f64 / rep.calls as f64
        } else {
            0.0
        };
        let fb = k.useful + k.not_useful;
        k.usefulness = (fb > 0).then(|| k.useful as f64 / fb as f64);
    }
    Ok(rep)
}

/// `YYYY-MM-DD` of a day number since the unix epoch (civil-from-days, proleptic Gregorian).
fn day_string(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// What the agent is told about a returning customer at call start.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CustomerContext {
    pub contacts_7d: i64,
    pub contacts_30d: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_call: Option<LastCall>,
}

/// The customer's previous call, in brief.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LastCall {
    pub ended_at_ms: i64,
    pub campaign: String,
    pub peak_level: String,
    pub end_level: String,
    /// Nudge kinds that fired, in order.
    pub nudges: Vec<String>,
    /// Next steps the agent promised (quotes).
    pub next_steps: Vec<String>,
}

/// The customer's contacts in the last 7 and 30 days before `now_ms`, and their last call.
/// `None` when the history has never seen them.
pub fn customer_context(
    conn: &Connection,
    tenant: &str,
    customer_key: &str,
    now_ms: i64,
) -> rusqlite::Result<Option<CustomerContext>> {
    const DAY: i64 = 86_400_000;
    let (c7, c30): (i64, i64) = conn.query_row(
        "SELECT COALESCE(SUM(ended_at_ms >= ?3), 0), COUNT(*) FROM calls
         WHERE tenant = ?1 AND customer_key = ?2 AND ended_at_ms >= ?4",
        params![tenant, customer_key, now_ms - 7 * DAY, now_ms - 30 * DAY],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let last = conn
        .query_row(
            "SELECT id, ended_at_ms, campaign, peak_level, end_level, next_steps_json FROM calls
             WHERE tenant = ?1 AND customer_key = ?2 ORDER BY ended_at_ms DESC, id DESC LIMIT 1",
            params![tenant, customer_key],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    LastCall {
                        ended_at_ms: r.get(1)?,
                        campaign: r.get(2)?,
                        peak_level: r.get(3)?,
                        end_level: r.get(4)?,
                        nudges: Vec::new(),
                        next_steps: serde_json::from_str(&r.get::<_, String>(5)?)
                            .unwrap_or_default(),
                    },
                ))
            },
        )
        .optional()?;
    let Some((row, mut last)) = last else {
        return Ok(None);
    };
    let mut stmt = conn.prepare("SELECT kind FROM nudges WHERE call_row = ?1 ORDER BY at_ms")?;
    last.nudges = stmt
        .query_map(params![row], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(CustomerContext {
        contacts_7d: c7,
        contacts_30d: c30,
        last_call: Some(last),
    }))
}

/// A stored call's transcript, for `calma replay --db`.
#[derive(Debug, Clone)]
pub struct StoredTranscript {
    pub tenant: String,
    pub call_id: String,
    pub agent_id: String,
    pub campaign: String,
    pub transcript_json: String,
}

/// Calls of `campaign` (of `tenant`, or every tenant when `None`) ended at or after `since_ms`
/// that kept their transcript.
pub fn transcripts(
    conn: &Connection,
    tenant: Option<&str>,
    campaign: &str,
    since_ms: Option<i64>,
) -> rusqlite::Result<Vec<StoredTranscript>> {
    let mut stmt = conn.prepare(
        "SELECT tenant, call_id, agent_id, campaign, transcript_json FROM calls
         WHERE campaign = ?1 AND transcript_json IS NOT NULL AND (?2 IS NULL OR ended_at_ms >= ?2)
            AND (?3 IS NULL OR tenant = ?3)
         ORDER BY ended_at_ms",
    )?;
    let rows = stmt
        .query_map(params![campaign, since_ms, tenant], |r| {
            Ok(StoredTranscript {
                tenant: r.get(0)?,
                call_id: r.get(1)?,
                agent_id: r.get(2)?,
                campaign: r.get(3)?,
                transcript_json: r.get(4)?,
            })
        })?
        .collect();
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_and_csv_fields() {
        assert_eq!(day_string(0), "1970-01-01");
        assert_eq!(day_string(20_788), "2026-12-01");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
