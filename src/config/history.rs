//! The history of applied config versions, kept in SQLite under the data directory.
//! Owns: `config-history.sqlite` (schema in docs/format/config-history.md) and diffs
//! between stored versions.
//! Does not: decide when a config is applied; the reloader calls `record`.
//!
//! Each distinct config hash is stored once with its files; every time a different
//! version becomes the running one, an application row records when and how.

use super::{Config, SourceFile};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

pub const HISTORY_FILE: &str = "config-history.sqlite";
const SCHEMA_VERSION: i64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("config history database {path}: {source}")]
    Database {
        path: String,
        source: rusqlite::Error,
    },
    #[error(
        "config history database was written by a newer tandem (schema {found}, this build knows {SCHEMA_VERSION})"
    )]
    NewerSchema { found: i64 },
    #[error("config history: {0}")]
    Query(#[from] rusqlite::Error),
    #[error("config history: lock poisoned by a panic in another thread")]
    Poisoned,
}

/// How a version came to be applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppliedBy {
    Startup,
    Signal,
    Http,
    WebPage,
    Watch,
}

impl AppliedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            AppliedBy::Startup => "startup",
            AppliedBy::Signal => "sighup",
            AppliedBy::Http => "http",
            AppliedBy::WebPage => "web-page",
            AppliedBy::Watch => "file-watch",
        }
    }
}

/// One stored version as listed on the config page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionSummary {
    pub hash: String,
    pub first_applied_ms: i64,
    pub last_applied_ms: i64,
    pub first_applied_by: String,
    pub applied_count: i64,
    pub file_count: i64,
}

/// One file's change between two versions, as unified-diff lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDiff {
    pub path: String,
    pub change: FileChange,
    pub lines: Vec<DiffLine>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileChange {
    Added,
    Removed,
    Modified,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffLineKind {
    Hunk,
    Added,
    Removed,
    Context,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffLine {
    pub kind: DiffLineKind,
    pub text: String,
}

/// The config history store. Cheap to share: one connection behind a mutex, since
/// writes happen once per reload and reads once per page view.
pub struct ConfigHistory {
    connection: Mutex<Connection>,
}

impl ConfigHistory {
    /// Opens (creating if needed) the history database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<ConfigHistory, HistoryError> {
        let path = data_dir.join(HISTORY_FILE);
        let database_error = |source| HistoryError::Database {
            path: path.display().to_string(),
            source,
        };
        let connection = Connection::open(&path).map_err(database_error)?;
        // FULL: a config application is rare and must not vanish in a power cut.
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
            )
            .map_err(database_error)?;
        let found: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(database_error)?;
        if found > SCHEMA_VERSION {
            return Err(HistoryError::NewerSchema { found });
        }
        connection
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS config_version (
                    id INTEGER PRIMARY KEY,
                    hash TEXT NOT NULL UNIQUE,
                    first_applied_ms INTEGER NOT NULL,
                    first_applied_by TEXT NOT NULL
                 );
                 CREATE TABLE IF NOT EXISTS config_file (
                    version_id INTEGER NOT NULL REFERENCES config_version(id),
                    path TEXT NOT NULL,
                    content TEXT NOT NULL,
                    PRIMARY KEY (version_id, path)
                 );
                 CREATE TABLE IF NOT EXISTS config_application (
                    id INTEGER PRIMARY KEY,
                    version_id INTEGER NOT NULL REFERENCES config_version(id),
                    applied_ms INTEGER NOT NULL,
                    applied_by TEXT NOT NULL
                 );
                 PRAGMA user_version = 1;",
            )
            .map_err(database_error)?;
        Ok(ConfigHistory {
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, HistoryError> {
        self.connection.lock().map_err(|_| HistoryError::Poisoned)
    }

    /// Records that `config` became the running config. Stores its files the first
    /// time its hash is seen; always adds an application row.
    pub fn record(&self, config: &Config, applied_by: AppliedBy) -> Result<(), HistoryError> {
        let now_ms = unix_millis(SystemTime::now());
        let mut connection = self.lock()?;
        let transaction = connection.transaction()?;
        let existing: Option<i64> = transaction
            .query_row(
                "SELECT id FROM config_version WHERE hash = ?1",
                [&config.hash.0],
                |row| row.get(0),
            )
            .optional()?;
        let version_id = match existing {
            Some(id) => id,
            None => {
                transaction.execute(
                    "INSERT INTO config_version (hash, first_applied_ms, first_applied_by) VALUES (?1, ?2, ?3)",
                    params![config.hash.0, now_ms, applied_by.as_str()],
                )?;
                let id = transaction.last_insert_rowid();
                for file in &config.files {
                    transaction.execute(
                        "INSERT INTO config_file (version_id, path, content) VALUES (?1, ?2, ?3)",
                        params![id, file.relative_path, file.content],
                    )?;
                }
                id
            }
        };
        transaction.execute(
            "INSERT INTO config_application (version_id, applied_ms, applied_by) VALUES (?1, ?2, ?3)",
            params![version_id, now_ms, applied_by.as_str()],
        )?;
        transaction.commit()?;
        Ok(())
    }

    /// The newest `limit` versions, most recently applied first.
    pub fn versions(&self, limit: usize) -> Result<Vec<VersionSummary>, HistoryError> {
        let connection = self.lock()?;
        let mut statement = connection.prepare(
            "SELECT v.hash, v.first_applied_ms, MAX(a.applied_ms), v.first_applied_by, COUNT(a.id),
                    (SELECT COUNT(*) FROM config_file f WHERE f.version_id = v.id)
             FROM config_version v JOIN config_application a ON a.version_id = v.id
             GROUP BY v.id ORDER BY MAX(a.id) DESC LIMIT ?1",
        )?;
        let rows = statement.query_map([limit as i64], |row| {
            Ok(VersionSummary {
                hash: row.get(0)?,
                first_applied_ms: row.get(1)?,
                last_applied_ms: row.get(2)?,
                first_applied_by: row.get(3)?,
                applied_count: row.get(4)?,
                file_count: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The files of the version with `hash`, or `None` if it was never applied here.
    pub fn files(&self, hash: &str) -> Result<Option<Vec<SourceFile>>, HistoryError> {
        let connection = self.lock()?;
        let id: Option<i64> = connection
            .query_row(
                "SELECT id FROM config_version WHERE hash = ?1",
                [hash],
                |row| row.get(0),
            )
            .optional()?;
        let Some(id) = id else { return Ok(None) };
        let mut statement = connection
            .prepare("SELECT path, content FROM config_file WHERE version_id = ?1 ORDER BY path")?;
        let rows = statement.query_map([id], |row| {
            let path: String = row.get(0)?;
            Ok(SourceFile {
                display_path: path.clone(),
                relative_path: path,
                content: row.get(1)?,
            })
        })?;
        Ok(Some(rows.collect::<Result<Vec<_>, _>>()?))
    }
}

pub fn unix_millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |elapsed| {
        i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
    })
}

/// Unified diffs (3 lines of context) of every file that differs between two versions.
pub fn diff(from: &[SourceFile], to: &[SourceFile]) -> Vec<FileDiff> {
    let mut paths: Vec<&str> = from
        .iter()
        .chain(to.iter())
        .map(|file| file.relative_path.as_str())
        .collect();
    paths.sort_unstable();
    paths.dedup();
    let find = |files: &'_ [SourceFile], path: &str| -> Option<String> {
        files
            .iter()
            .find(|file| file.relative_path == path)
            .map(|file| file.content.clone())
    };
    let mut diffs = Vec::new();
    for path in paths {
        let (old, new) = (find(from, path), find(to, path));
        let change = match (&old, &new) {
            (Some(a), Some(b)) if a == b => continue,
            (Some(_), Some(_)) => FileChange::Modified,
            (None, _) => FileChange::Added,
            (_, None) => FileChange::Removed,
        };
        let (old, new) = (old.unwrap_or_default(), new.unwrap_or_default());
        let text = similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .to_string();
        let lines = text.lines().map(classify_line).collect();
        diffs.push(FileDiff {
            path: path.to_string(),
            change,
            lines,
        });
    }
    diffs
}

fn classify_line(line: &str) -> DiffLine {
    let kind = match line.chars().next() {
        Some('@') => DiffLineKind::Hunk,
        Some('+') => DiffLineKind::Added,
        Some('-') => DiffLineKind::Removed,
        _ => DiffLineKind::Context,
    };
    DiffLine {
        kind,
        text: line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str) -> SourceFile {
        SourceFile {
            relative_path: path.into(),
            display_path: path.into(),
            content: content.into(),
        }
    }

    #[test]
    fn diff_lists_added_removed_and_modified_files() {
        let from = [file("a.toml", "x = 1\ny = 2\n"), file("b.toml", "gone\n")];
        let to = [file("a.toml", "x = 1\ny = 3\n"), file("c.toml", "new\n")];
        let diffs = diff(&from, &to);
        let summary: Vec<(&str, FileChange)> =
            diffs.iter().map(|d| (d.path.as_str(), d.change)).collect();
        assert_eq!(
            summary,
            [
                ("a.toml", FileChange::Modified),
                ("b.toml", FileChange::Removed),
                ("c.toml", FileChange::Added)
            ]
        );
        let texts: Vec<&str> = diffs[0]
            .lines
            .iter()
            .map(|line| line.text.as_str())
            .collect();
        assert_eq!(texts, ["@@ -1,2 +1,2 @@", " x = 1", "-y = 2", "+y = 3"]);
    }
}
