//! Alert state in `alerts.sqlite` (`alert_state`): what is pending or firing, since
//! when, so that a restart neither forgets a pending `for` timer nor re-announces a
//! firing alert as new.
//! Owns: the `alert_state` table's rows.
//! Does not: decide state (`group.rs`).

use super::group::{ActiveAlert, AlertState};
use crate::alert::Fingerprint;
use crate::alert::db::{AlertDb, AlertDbError, labels_from_json, labels_to_json};
use rusqlite::params;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Replaces the stored alerts of each rule with its current ones, in one transaction.
pub fn save(
    db: &AlertDb,
    rules: &[(&str, &BTreeMap<Fingerprint, ActiveAlert>)],
) -> Result<(), AlertDbError> {
    if rules.is_empty() {
        return Ok(());
    }
    let mut connection = db.lock();
    let transaction = connection.transaction()?;
    {
        let mut delete =
            transaction.prepare_cached("DELETE FROM alert_state WHERE rule_key = ?1")?;
        let mut insert = transaction.prepare_cached(
            "INSERT INTO alert_state
             (rule_key, labels, state, active_at_ms, fired_at_ms, keep_firing_since_ms, value, annotations)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for (rule_key, alerts) in rules {
            delete.execute([rule_key])?;
            for alert in alerts.values() {
                let annotations =
                    serde_json::to_string(&alert.annotations).unwrap_or_else(|_| "{}".into());
                insert.execute(params![
                    rule_key,
                    labels_to_json(&alert.labels),
                    alert.state.as_str(),
                    alert.active_at_ms,
                    alert.fired_at_ms,
                    alert.keep_firing_since_ms,
                    // NaN is not storable as REAL in SQLite (it becomes NULL).
                    Some(alert.value).filter(|value| !value.is_nan()),
                    annotations,
                ])?;
            }
        }
    }
    transaction.commit()?;
    Ok(())
}

/// Every stored alert, by rule key.
pub fn load(
    db: &AlertDb,
) -> Result<HashMap<String, BTreeMap<Fingerprint, ActiveAlert>>, AlertDbError> {
    let connection = db.lock();
    let mut statement = connection.prepare(
        "SELECT rule_key, labels, state, active_at_ms, fired_at_ms, keep_firing_since_ms, value, annotations
         FROM alert_state",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, i64>(3)?,
            row.get::<_, Option<i64>>(4)?,
            row.get::<_, Option<i64>>(5)?,
            row.get::<_, Option<f64>>(6)?,
            row.get::<_, String>(7)?,
        ))
    })?;
    let mut result: HashMap<String, BTreeMap<Fingerprint, ActiveAlert>> = HashMap::new();
    for row in rows {
        let (
            rule_key,
            labels,
            state,
            active_at_ms,
            fired_at_ms,
            keep_firing_since_ms,
            value,
            annotations,
        ) = row?;
        let corrupt = |detail: String| AlertDbError::Corrupt {
            what: "alert_state",
            detail,
        };
        let labels = labels_from_json(&labels).map_err(corrupt)?;
        let state = match state.as_str() {
            "pending" => AlertState::Pending,
            "firing" => AlertState::Firing,
            other => return Err(corrupt(format!("unknown state {other:?}"))),
        };
        let annotations: BTreeMap<String, String> = serde_json::from_str(&annotations)
            .map_err(|error| corrupt(format!("annotations: {error}")))?;
        let alert = ActiveAlert {
            labels,
            annotations,
            state,
            active_at_ms,
            fired_at_ms,
            keep_firing_since_ms,
            value: value.unwrap_or(f64::NAN),
        };
        result
            .entry(rule_key)
            .or_default()
            .insert(Fingerprint::of(&alert.labels), alert);
    }
    Ok(result)
}

/// Deletes the state of rules not in `keep` (removed or changed rules).
pub fn retain(db: &AlertDb, keep: &HashSet<String>) -> Result<usize, AlertDbError> {
    let connection = db.lock();
    let stored: Vec<String> = {
        let mut statement = connection.prepare("SELECT DISTINCT rule_key FROM alert_state")?;
        let keys = statement.query_map([], |row| row.get::<_, String>(0))?;
        keys.collect::<Result<_, _>>()?
    };
    let mut deleted = 0;
    for key in stored.iter().filter(|key| !keep.contains(*key)) {
        deleted += connection.execute("DELETE FROM alert_state WHERE rule_key = ?1", [key])?;
    }
    Ok(deleted)
}
