//! The notifier's tables in `alerts.sqlite`: temporary silences and the notification
//! log. The schema is created by `alert::db`; this file owns the rows.
//! Does not: decide anything (`dispatch.rs`), or store file silences (they live in
//! the config).
//!
//! ```sql
//! -- One row per temporary silence; expired ones are kept 5 days for the listing.
//! silence (
//!   id TEXT PRIMARY KEY,           -- UUID
//!   matchers TEXT NOT NULL,        -- JSON: [{"name":"alertname","op":"=","value":"X"}]
//!   starts_at_ms INTEGER NOT NULL,
//!   ends_at_ms INTEGER NOT NULL,   -- expiring sets it to the expiry time
//!   created_by TEXT NOT NULL,
//!   comment TEXT NOT NULL,
//!   created_at_ms INTEGER NOT NULL,
//!   updated_at_ms INTEGER NOT NULL
//! )
//! -- What one integration of one receiver was last sent for one aggregation group
//! -- (Alertmanager's nflog); rows not updated for 5 days are deleted.
//! notification_log (
//!   receiver TEXT NOT NULL,
//!   integration TEXT NOT NULL,     -- webhook, email or exec
//!   group_key TEXT NOT NULL,       -- Alertmanager's: {}/{severity="page"}:{alertname="X"}
//!   sent_at_ms INTEGER NOT NULL,
//!   firing TEXT NOT NULL,          -- JSON array of fingerprints (16 hex digits)
//!   resolved TEXT NOT NULL,        -- likewise
//!   PRIMARY KEY (receiver, integration, group_key)
//! )
//! ```

use super::dispatch::{IntegrationKind, NflogEntry};
use super::matcher::{AlertMatcher, parse_op};
use super::silence::{Silence, SilenceSource};
use crate::alert::Fingerprint;
use crate::alert::db::{AlertDb, AlertDbError};
use rusqlite::{OptionalExtension, params};
use std::collections::BTreeSet;

/// Writes entries (insert or replace), in one transaction.
pub fn save_nflog(db: &AlertDb, entries: &[NflogEntry]) -> Result<(), AlertDbError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut connection = db.lock();
    let transaction = connection.transaction()?;
    {
        let mut statement = transaction.prepare_cached(
            "INSERT OR REPLACE INTO notification_log
             (receiver, integration, group_key, sent_at_ms, firing, resolved)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for entry in entries {
            statement.execute(params![
                entry.receiver,
                entry.integration.as_str(),
                entry.group_key,
                entry.sent_at_ms,
                fingerprints_to_json(&entry.firing),
                fingerprints_to_json(&entry.resolved),
            ])?;
        }
    }
    transaction.commit()?;
    Ok(())
}

/// Every entry sent at or after `since_ms`.
pub fn load_nflog(db: &AlertDb, since_ms: i64) -> Result<Vec<NflogEntry>, AlertDbError> {
    let connection = db.lock();
    let mut statement = connection.prepare(
        "SELECT receiver, integration, group_key, sent_at_ms, firing, resolved
         FROM notification_log WHERE sent_at_ms >= ?1",
    )?;
    let rows = statement.query_map([since_ms], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, i64>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, String>(5)?,
        ))
    })?;
    let mut entries = Vec::new();
    for row in rows {
        let (receiver, integration, group_key, sent_at_ms, firing, resolved) = row?;
        let corrupt = |detail: String| AlertDbError::Corrupt {
            what: "notification_log",
            detail,
        };
        entries.push(NflogEntry {
            receiver,
            integration: IntegrationKind::parse(&integration)
                .ok_or_else(|| corrupt(format!("unknown integration {integration:?}")))?,
            group_key,
            sent_at_ms,
            firing: fingerprints_from_json(&firing).map_err(corrupt)?,
            resolved: fingerprints_from_json(&resolved).map_err(corrupt)?,
        });
    }
    Ok(entries)
}

/// Deletes entries sent before `before_ms`.
pub fn prune_nflog(db: &AlertDb, before_ms: i64) -> Result<usize, AlertDbError> {
    Ok(db.lock().execute(
        "DELETE FROM notification_log WHERE sent_at_ms < ?1",
        [before_ms],
    )?)
}

fn fingerprints_to_json(set: &BTreeSet<Fingerprint>) -> String {
    let list: Vec<String> = set.iter().map(ToString::to_string).collect();
    serde_json::Value::from(list).to_string()
}

fn fingerprints_from_json(text: &str) -> Result<BTreeSet<Fingerprint>, String> {
    let list: Vec<String> =
        serde_json::from_str(text).map_err(|error| format!("fingerprints {text:?}: {error}"))?;
    list.iter()
        .map(|hex| {
            u64::from_str_radix(hex, 16)
                .map(Fingerprint)
                .map_err(|_| format!("bad fingerprint {hex:?}"))
        })
        .collect()
}

/// Stores a new temporary silence.
pub fn insert_silence(db: &AlertDb, silence: &Silence) -> Result<(), AlertDbError> {
    assert_eq!(
        silence.source,
        SilenceSource::Api,
        "BUG: storing a file silence"
    );
    let matchers: Vec<serde_json::Value> = silence
        .matchers
        .iter()
        .map(|matcher| {
            serde_json::json!({
                "name": matcher.name(),
                "op": matcher.op_str(),
                "value": matcher.value(),
            })
        })
        .collect();
    let ends_at_ms = silence.ends_at_ms.unwrap_or(i64::MAX);
    db.lock().execute(
        "INSERT INTO silence
         (id, matchers, starts_at_ms, ends_at_ms, created_by, comment, created_at_ms, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            silence.id,
            serde_json::Value::from(matchers).to_string(),
            silence.starts_at_ms,
            ends_at_ms,
            silence.created_by,
            silence.comment,
            silence.updated_at_ms,
        ],
    )?;
    Ok(())
}

/// Temporary silences that end at or after `ended_since_ms`, oldest start first.
pub fn load_silences(db: &AlertDb, ended_since_ms: i64) -> Result<Vec<Silence>, AlertDbError> {
    let connection = db.lock();
    let mut statement = connection.prepare(
        "SELECT id, matchers, starts_at_ms, ends_at_ms, created_by, comment, updated_at_ms
         FROM silence WHERE ends_at_ms >= ?1 ORDER BY starts_at_ms, id",
    )?;
    let rows = statement.query_map([ended_since_ms], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, i64>(2)?,
            row.get::<_, i64>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, String>(5)?,
            row.get::<_, i64>(6)?,
        ))
    })?;
    let mut silences = Vec::new();
    for row in rows {
        let (id, matchers, starts_at_ms, ends_at_ms, created_by, comment, updated_at_ms) = row?;
        let corrupt = |detail: String| AlertDbError::Corrupt {
            what: "silence",
            detail,
        };
        let stored: Vec<StoredMatcher> = serde_json::from_str(&matchers)
            .map_err(|error| corrupt(format!("silence {id}: matchers {matchers:?}: {error}")))?;
        let mut parsed = Vec::with_capacity(stored.len());
        for matcher in &stored {
            let op = parse_op(&matcher.op)
                .ok_or_else(|| corrupt(format!("silence {id}: operator {:?}", matcher.op)))?;
            parsed.push(
                AlertMatcher::new(&matcher.name, op, &matcher.value)
                    .map_err(|error| corrupt(format!("silence {id}: {error}")))?,
            );
        }
        silences.push(Silence {
            id,
            matchers: parsed,
            starts_at_ms,
            ends_at_ms: Some(ends_at_ms),
            created_by,
            comment,
            source: SilenceSource::Api,
            updated_at_ms,
        });
    }
    Ok(silences)
}

/// A matcher as the `silence` table stores it.
#[derive(serde::Deserialize)]
struct StoredMatcher {
    name: String,
    op: String,
    value: String,
}

/// How many temporary silences have not ended at `now_ms`.
pub fn count_unexpired_silences(db: &AlertDb, now_ms: i64) -> Result<usize, AlertDbError> {
    let count: i64 = db.lock().query_row(
        "SELECT COUNT(*) FROM silence WHERE ends_at_ms > ?1",
        [now_ms],
        |row| row.get(0),
    )?;
    Ok(usize::try_from(count).unwrap_or(usize::MAX))
}

/// What `expire_silence` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expired {
    /// It was active or pending and has now ended.
    Now,
    Already,
    NotFound,
}

/// Ends a temporary silence at `now_ms` (a pending one starts and ends then).
pub fn expire_silence(db: &AlertDb, id: &str, now_ms: i64) -> Result<Expired, AlertDbError> {
    let connection = db.lock();
    let found: Option<(i64, i64)> = connection
        .query_row(
            "SELECT starts_at_ms, ends_at_ms FROM silence WHERE id = ?1",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let Some((starts_at_ms, ends_at_ms)) = found else {
        return Ok(Expired::NotFound);
    };
    if ends_at_ms <= now_ms {
        return Ok(Expired::Already);
    }
    connection.execute(
        "UPDATE silence SET starts_at_ms = ?2, ends_at_ms = ?3, updated_at_ms = ?3 WHERE id = ?1",
        params![id, starts_at_ms.min(now_ms), now_ms],
    )?;
    Ok(Expired::Now)
}

/// Deletes silences that ended before `before_ms`.
pub fn prune_silences(db: &AlertDb, before_ms: i64) -> Result<usize, AlertDbError> {
    Ok(db
        .lock()
        .execute("DELETE FROM silence WHERE ends_at_ms < ?1", [before_ms])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notify::silence::NewSilence;

    #[test]
    fn nflog_round_trips_and_prunes() {
        let db = AlertDb::in_memory().expect("opens");
        let entry = NflogEntry {
            receiver: "ops".into(),
            integration: IntegrationKind::Email,
            group_key: r#"{}:{alertname="A"}"#.into(),
            sent_at_ms: 1_000,
            firing: [Fingerprint(1), Fingerprint(u64::MAX)].into(),
            resolved: [Fingerprint(0xabc)].into(),
        };
        save_nflog(&db, std::slice::from_ref(&entry)).expect("saved");
        let newer = NflogEntry {
            sent_at_ms: 2_000,
            firing: BTreeSet::new(),
            ..entry.clone()
        };
        save_nflog(&db, std::slice::from_ref(&newer)).expect("replaced");
        assert_eq!(load_nflog(&db, 0).expect("loads"), vec![newer]);
        assert_eq!(prune_nflog(&db, 2_001).expect("prunes"), 1);
        assert!(load_nflog(&db, 0).expect("loads").is_empty());
    }

    #[test]
    fn silences_are_stored_expired_and_pruned() {
        let db = AlertDb::in_memory().expect("opens");
        let silence = NewSilence {
            matchers: vec![r#"alertname="A""#.into(), r#"path=~"/x\\d""#.into()],
            starts_at_ms: Some(5_000),
            duration_ms: Some(10_000),
            created_by: "alice".into(),
            comment: "deploy".into(),
            ..NewSilence::default()
        }
        .build("s1".into(), 1_000)
        .expect("valid");
        insert_silence(&db, &silence).expect("stored");
        assert_eq!(load_silences(&db, 0).expect("loads"), vec![silence.clone()]);
        assert_eq!(count_unexpired_silences(&db, 2_000).expect("counts"), 1);
        assert_eq!(
            expire_silence(&db, "s1", 2_000).expect("expires"),
            Expired::Now
        );
        assert_eq!(
            expire_silence(&db, "s1", 3_000).expect("expires"),
            Expired::Already
        );
        assert_eq!(
            expire_silence(&db, "nope", 3_000).expect("expires"),
            Expired::NotFound
        );
        let loaded = load_silences(&db, 0).expect("loads");
        assert_eq!(
            (loaded[0].starts_at_ms, loaded[0].ends_at_ms),
            (2_000, Some(2_000))
        );
        assert!(load_silences(&db, 2_001).expect("loads").is_empty());
        assert_eq!(prune_silences(&db, 2_001).expect("prunes"), 1);
    }
}
