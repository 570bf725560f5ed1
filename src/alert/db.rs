//! `alerts.sqlite`: alert state, alert history, temporary silences and the
//! notification log, in the data directory (schema: docs/format/alerts.md).
//! Owns: opening the database, its schema and version, the history table.
//! Does not: decide anything. The rule manager owns `alert_state` (`rules/state.rs`);
//! the notifier owns `silence` and `notification_log` (`notify/store.rs`).
//!
//! One connection behind a mutex: writes are a few per evaluation or notification,
//! reads a few per API call; SQLite in WAL mode with `synchronous = NORMAL` keeps each
//! commit to one fsync-free append, durable at the next checkpoint. A state change lost
//! to a power cut re-fires or re-resolves an alert; it never loses samples.

use crate::alert::Fingerprint;
use crate::model::Labels;
use rusqlite::{Connection, params};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

pub const ALERTS_FILE: &str = "alerts.sqlite";
const SCHEMA_VERSION: i64 = 1;
/// History rows kept; older rows are pruned in batches (`prune_history`).
pub const HISTORY_ROWS_MAX: i64 = 1_000_000;
/// How long history rows are kept.
pub const HISTORY_RETENTION: std::time::Duration = std::time::Duration::from_secs(90 * 24 * 3600);
/// Rows one history query returns at most.
pub const HISTORY_QUERY_ROWS_MAX: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum AlertDbError {
    #[error("alert database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error(
        "alert database was written by a newer tandem (schema {found}, this build knows {SCHEMA_VERSION})"
    )]
    NewerSchema { found: i64 },
    #[error("alert database: {0}")]
    Query(#[from] rusqlite::Error),
    #[error("alert database: {what} holds invalid data: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

pub struct AlertDb {
    connection: Mutex<Connection>,
}

impl AlertDb {
    /// Opens (creating if needed) `alerts.sqlite` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<AlertDb, AlertDbError> {
        let path = data_dir.join(ALERTS_FILE);
        let open_error = |source| AlertDbError::Open {
            path: path.display().to_string(),
            source,
        };
        let connection = Connection::open(&path).map_err(open_error)?;
        Self::init(connection).map_err(|error| match error {
            AlertDbError::Query(source) => open_error(source),
            other => other,
        })
    }

    /// An in-memory database, for `tandem test-rules` and tests.
    pub fn in_memory() -> Result<AlertDb, AlertDbError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(connection: Connection) -> Result<AlertDb, AlertDbError> {
        connection.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
        )?;
        let found: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if found > SCHEMA_VERSION {
            return Err(AlertDbError::NewerSchema { found });
        }
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS alert_state (
                rule_key TEXT NOT NULL,
                labels TEXT NOT NULL,
                state TEXT NOT NULL,
                active_at_ms INTEGER NOT NULL,
                fired_at_ms INTEGER,
                keep_firing_since_ms INTEGER,
                value REAL,
                annotations TEXT NOT NULL,
                PRIMARY KEY (rule_key, labels)
             );
             CREATE TABLE IF NOT EXISTS alert_history (
                id INTEGER PRIMARY KEY,
                t_ms INTEGER NOT NULL,
                event TEXT NOT NULL,
                alertname TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                labels TEXT NOT NULL,
                value REAL,
                receiver TEXT,
                outcome TEXT,
                attempt INTEGER,
                detail TEXT
             );
             CREATE INDEX IF NOT EXISTS alert_history_t ON alert_history (t_ms);
             CREATE INDEX IF NOT EXISTS alert_history_name ON alert_history (alertname, t_ms);
             CREATE TABLE IF NOT EXISTS silence (
                id TEXT PRIMARY KEY,
                matchers TEXT NOT NULL,
                starts_at_ms INTEGER NOT NULL,
                ends_at_ms INTEGER NOT NULL,
                created_by TEXT NOT NULL,
                comment TEXT NOT NULL,
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS notification_log (
                receiver TEXT NOT NULL,
                integration TEXT NOT NULL,
                group_key TEXT NOT NULL,
                sent_at_ms INTEGER NOT NULL,
                firing TEXT NOT NULL,
                resolved TEXT NOT NULL,
                PRIMARY KEY (receiver, integration, group_key)
             );
             PRAGMA user_version = 1;",
        )?;
        Ok(AlertDb {
            connection: Mutex::new(connection),
        })
    }

    /// The connection, for the modules that own a table. A panic while it was held
    /// left at worst one transaction rolled back, so the lock is taken regardless.
    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends events to the history.
    pub fn record_history(&self, events: &[HistoryEvent]) -> Result<(), AlertDbError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        {
            let mut statement = transaction.prepare_cached(
                "INSERT INTO alert_history
                 (t_ms, event, alertname, fingerprint, labels, value, receiver, outcome, attempt, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for event in events {
                statement.execute(params![
                    event.t_ms,
                    event.event.as_str(),
                    event.alertname,
                    event.fingerprint.to_string(),
                    labels_to_json(&event.labels),
                    event.value,
                    event.receiver,
                    event.outcome,
                    event.attempt,
                    event.detail,
                ])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// Deletes the oldest history rows beyond `HISTORY_ROWS_MAX` and rows older than
    /// `before_ms`. Returns how many went.
    pub fn prune_history(&self, before_ms: i64) -> Result<usize, AlertDbError> {
        let connection = self.lock();
        let mut deleted =
            connection.execute("DELETE FROM alert_history WHERE t_ms < ?1", [before_ms])?;
        deleted += connection.execute(
            "DELETE FROM alert_history WHERE id <= (SELECT MAX(id) FROM alert_history) - ?1",
            [HISTORY_ROWS_MAX],
        )?;
        Ok(deleted)
    }

    /// History rows matching `query`, newest first.
    pub fn history(&self, query: &HistoryQuery) -> Result<Vec<HistoryEvent>, AlertDbError> {
        let connection = self.lock();
        let mut sql = String::from(
            "SELECT t_ms, event, alertname, fingerprint, labels, value, receiver, outcome, attempt, detail
             FROM alert_history WHERE t_ms >= ?1 AND t_ms <= ?2",
        );
        let mut values: Vec<rusqlite::types::Value> =
            vec![query.start_ms.into(), query.end_ms.into()];
        if let Some(alertname) = &query.alertname {
            values.push(alertname.clone().into());
            sql.push_str(&format!(" AND alertname = ?{}", values.len()));
        }
        if let Some(fingerprint) = query.fingerprint {
            values.push(fingerprint.to_string().into());
            sql.push_str(&format!(" AND fingerprint = ?{}", values.len()));
        }
        if let Some(event) = query.event {
            values.push(event.as_str().to_string().into());
            sql.push_str(&format!(" AND event = ?{}", values.len()));
        }
        sql.push_str(" ORDER BY t_ms DESC, id DESC");
        values.push((query.limit.min(HISTORY_QUERY_ROWS_MAX) as i64).into());
        sql.push_str(&format!(" LIMIT ?{}", values.len()));
        let mut statement = connection.prepare(&sql)?;
        let rows = statement.query_map(rusqlite::params_from_iter(values), |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, Option<f64>>(5)?,
                row.get::<_, Option<String>>(6)?,
                row.get::<_, Option<String>>(7)?,
                row.get::<_, Option<u32>>(8)?,
                row.get::<_, Option<String>>(9)?,
            ))
        })?;
        let mut events = Vec::new();
        for row in rows {
            let (
                t_ms,
                event,
                alertname,
                fingerprint,
                labels,
                value,
                receiver,
                outcome,
                attempt,
                detail,
            ) = row?;
            let corrupt = |detail: String| AlertDbError::Corrupt {
                what: "alert_history",
                detail,
            };
            events.push(HistoryEvent {
                t_ms,
                event: HistoryKind::parse(&event)
                    .ok_or_else(|| corrupt(format!("unknown event {event:?}")))?,
                alertname,
                fingerprint: u64::from_str_radix(&fingerprint, 16)
                    .map(Fingerprint)
                    .map_err(|_| corrupt(format!("bad fingerprint {fingerprint:?}")))?,
                labels: labels_from_json(&labels).map_err(corrupt)?,
                value,
                receiver,
                outcome,
                attempt,
                detail,
            });
        }
        Ok(events)
    }
}

/// What happened to an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryKind {
    /// Became active; waiting for `for`.
    Pending,
    Firing,
    /// Was firing and stopped.
    Resolved,
    /// Was pending and stopped before firing.
    Inactive,
    /// A delivery attempt to a receiver (`outcome`: `sent` or `failed`).
    Notify,
}

impl HistoryKind {
    pub const ALL: [HistoryKind; 5] = [
        HistoryKind::Pending,
        HistoryKind::Firing,
        HistoryKind::Resolved,
        HistoryKind::Inactive,
        HistoryKind::Notify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Pending => "pending",
            HistoryKind::Firing => "firing",
            HistoryKind::Resolved => "resolved",
            HistoryKind::Inactive => "inactive",
            HistoryKind::Notify => "notify",
        }
    }

    pub fn parse(text: &str) -> Option<HistoryKind> {
        HistoryKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// One row of the alert history.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEvent {
    pub t_ms: i64,
    pub event: HistoryKind,
    pub alertname: String,
    pub fingerprint: Fingerprint,
    pub labels: Labels,
    /// The expression's value at a transition.
    pub value: Option<f64>,
    /// Notifications: the receiver's name.
    pub receiver: Option<String>,
    /// Notifications: `sent` or `failed`.
    pub outcome: Option<String>,
    /// Notifications: 1 for the first try.
    pub attempt: Option<u32>,
    /// Notifications: the error, or how many alerts the message carried.
    pub detail: Option<String>,
}

/// A history search.
#[derive(Clone, Debug)]
pub struct HistoryQuery {
    pub start_ms: i64,
    pub end_ms: i64,
    pub alertname: Option<String>,
    pub fingerprint: Option<Fingerprint>,
    pub event: Option<HistoryKind>,
    pub limit: usize,
}

/// Labels as a JSON object, the form every table stores them in.
pub fn labels_to_json(labels: &Labels) -> String {
    let map: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|label| (label.name.clone(), label.value.clone().into()))
        .collect();
    serde_json::Value::Object(map).to_string()
}

pub fn labels_from_json(text: &str) -> Result<Labels, String> {
    let map: std::collections::BTreeMap<String, String> =
        serde_json::from_str(text).map_err(|error| format!("labels {text:?}: {error}"))?;
    Labels::new(map).map_err(|error| format!("labels {text:?}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(t_ms: i64, event: HistoryKind, alertname: &str) -> HistoryEvent {
        let labels = Labels::new([("alertname", alertname)]).expect("valid");
        HistoryEvent {
            t_ms,
            event,
            alertname: alertname.into(),
            fingerprint: Fingerprint::of(&labels),
            labels,
            value: Some(1.5),
            receiver: None,
            outcome: None,
            attempt: None,
            detail: None,
        }
    }

    #[test]
    fn history_round_trips_and_filters() {
        let db = AlertDb::in_memory().expect("opens");
        let events = vec![
            event(1_000, HistoryKind::Pending, "A"),
            event(2_000, HistoryKind::Firing, "A"),
            event(3_000, HistoryKind::Firing, "B"),
        ];
        db.record_history(&events).expect("recorded");
        let query = HistoryQuery {
            start_ms: 0,
            end_ms: 10_000,
            alertname: Some("A".into()),
            fingerprint: None,
            event: None,
            limit: 100,
        };
        let found = db.history(&query).expect("queried");
        assert_eq!(found, vec![events[1].clone(), events[0].clone()]);
        let firing = db
            .history(&HistoryQuery {
                alertname: None,
                event: Some(HistoryKind::Firing),
                limit: 1,
                ..query
            })
            .expect("queried");
        assert_eq!(firing, vec![events[2].clone()]);
    }

    #[test]
    fn reopening_keeps_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        AlertDb::open(dir.path())
            .expect("opens")
            .record_history(&[event(5, HistoryKind::Resolved, "C")])
            .expect("recorded");
        let db = AlertDb::open(dir.path()).expect("reopens");
        let query = HistoryQuery {
            start_ms: 0,
            end_ms: 10,
            alertname: None,
            fingerprint: None,
            event: None,
            limit: 10,
        };
        assert_eq!(db.history(&query).expect("queried").len(), 1);
    }
}
