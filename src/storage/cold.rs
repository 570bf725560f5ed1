//! The SQLite side of storage: the persisted series catalog and compacted blocks.
//! Owns: `<data_dir>/storage.sqlite` (schema in docs/format/storage-sqlite.md).
//! Does not: decide what to compact (`compact.rs`) or decode blocks.
//!
//! One writer connection and a small pool of reader connections: SQLite in WAL mode
//! lets readers run while the compactor writes.

use crate::model::{Label, Labels, SeriesRef};
use rusqlite::{Connection, OptionalExtension, config::DbConfig, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const STORAGE_FILE: &str = "storage.sqlite";
const SCHEMA_VERSION: i64 = 2;
/// Reader connections kept open; more concurrent readers open their own.
const READERS_KEPT: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ColdError {
    #[error("storage database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error(
        "storage database was written by a newer tandem (schema {0}, this build knows {SCHEMA_VERSION})"
    )]
    NewerSchema(i64),
    #[error("storage database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("storage database: stored labels of series {series} are invalid: {message}")]
    BadLabels { series: u64, message: String },
}

/// A compacted block as stored: one series, a time range, framed encoded samples.
#[derive(Clone, Debug)]
pub struct StoredBlock {
    pub id: i64,
    pub series: SeriesRef,
    pub min_t: i64,
    pub max_t: i64,
    pub count: u32,
    pub data: Vec<u8>,
}

/// A block of rollup buckets of one series at one resolution: a framed column table
/// (`rollup::encode_block`, framed like chunks so damage is caught by its crc32c).
#[derive(Clone, Debug)]
pub struct RollupBlock {
    pub series: SeriesRef,
    pub resolution: i64,
    pub block_start: i64,
    pub buckets: u32,
    pub data: Vec<u8>,
}

pub struct Cold {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

fn open_connection(path: &Path) -> Result<Connection, ColdError> {
    let open_error = |source| ColdError::Open {
        path: path.display().to_string(),
        source,
    };
    let connection = Connection::open(path).map_err(open_error)?;
    // NORMAL under WAL: a power cut may lose the last commits but never corrupts;
    // what a client was promised durable is in tandem's WAL or hot chunk log until
    // compacted here, and compaction fsyncs (checkpoint) before it deletes those.
    connection
        .execute_batch(
            // page_size first: it applies only to a new file, before WAL mode is set.
            // A day block is ~2 KiB: with the default 4 KiB pages only one fits per
            // page (45 MB of blocks took a 55 MB file on the bench dataset); 16 KiB
            // pages hold seven, and a block read still touches one page.
            // auto_vacuum likewise applies only to a new file: INCREMENTAL lets retention
            // give freed pages back to the file system in bounded steps.
            "PRAGMA page_size = 65536; PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;",
        )
        .map_err(open_error)?;
    // The bundled SQLite is built with STAT4, under which binding a value to a
    // parameter compared with an indexed column marks the statement for re-preparing,
    // so every block lookup parsed and planned its SQL again (a fifth of a rollup
    // query's time). Our statements have one good plan whatever the values.
    connection
        .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(open_error)?;
    // Blocks are read through a memory map rather than copied page by page into
    // SQLite's cache: a 30-day query reads thousands of rows spread over 64 KiB pages,
    // and the copies were a tenth of its time. The map is the OS page cache, so it
    // adds no anonymous memory. SQLite caps it at its compile-time maximum (2 GiB);
    // pages past that are read as before.
    connection
        .pragma_update(None, "mmap_size", MMAP_BYTES_MAX)
        .map_err(open_error)?;
    Ok(connection)
}

/// Bytes of the database file that connections map (SQLite lowers it to its own cap).
const MMAP_BYTES_MAX: i64 = 1 << 40;

/// Bytes and blocks per tier, so that `tandem_storage_tier_bytes` costs one small
/// read instead of a scan of every block. Counted once when the table is made (a store
/// of schema 1), then adjusted in the same transaction as every write of a block or
/// rollup (`UsageDelta`). Not triggers: a per-row trigger doubled the cost of a rollup
/// upsert in a measurement (20 000 rows of 1.5 KB: 1.3 s to 2.8 s), while the writers
/// here know the sizes they add and read the sizes they replace from the row header
/// (`LENGTH` of a blob column does not load the blob).
const TIER_USAGE_SCHEMA: &str = "BEGIN;
    CREATE TABLE tier_usage (
        resolution INTEGER PRIMARY KEY,
        bytes INTEGER NOT NULL,
        blocks INTEGER NOT NULL
    );
    INSERT INTO tier_usage (resolution, bytes, blocks)
        SELECT 0, COALESCE(SUM(LENGTH(data)), 0), COUNT(*) FROM block;
    INSERT INTO tier_usage (resolution, bytes, blocks)
        SELECT resolution, SUM(LENGTH(data)), COUNT(*) FROM rollup GROUP BY resolution;
    COMMIT;";

/// Changes of `tier_usage` gathered during one transaction: resolution (0: raw) →
/// (bytes, blocks).
#[derive(Default)]
struct UsageDelta(std::collections::BTreeMap<i64, (i64, i64)>);

impl UsageDelta {
    fn add(&mut self, resolution: i64, bytes: i64, blocks: i64) {
        let entry = self.0.entry(resolution).or_default();
        entry.0 += bytes;
        entry.1 += blocks;
    }

    /// Writes the changes, in the caller's transaction.
    fn apply(self, transaction: &Connection) -> Result<(), ColdError> {
        let mut upsert = transaction.prepare_cached(
            "INSERT INTO tier_usage (resolution, bytes, blocks) VALUES (?1, ?2, ?3)
             ON CONFLICT (resolution) DO UPDATE
             SET bytes = bytes + excluded.bytes, blocks = blocks + excluded.blocks",
        )?;
        for (resolution, (bytes, blocks)) in self.0 {
            if bytes != 0 || blocks != 0 {
                upsert.execute(params![resolution, bytes, blocks])?;
            }
        }
        Ok(())
    }
}

fn blob_len(data: &[u8]) -> i64 {
    i64::try_from(data.len()).unwrap_or(i64::MAX)
}

pub fn encode_labels(labels: &Labels) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(labels.len() * 24);
    for label in labels.iter() {
        for part in [&label.name, &label.value] {
            let length = u32::try_from(part.len()).unwrap_or(u32::MAX);
            bytes.extend_from_slice(&length.to_le_bytes());
            bytes.extend_from_slice(part.as_bytes());
        }
    }
    bytes
}

pub fn decode_labels(mut bytes: &[u8]) -> Result<Labels, String> {
    let mut labels = Vec::new();
    let take = |bytes: &mut &[u8]| -> Result<String, String> {
        let length_bytes: [u8; 4] = bytes
            .get(..4)
            .and_then(|slice| slice.try_into().ok())
            .ok_or("truncated length")?;
        let length = u32::from_le_bytes(length_bytes) as usize;
        let text = bytes.get(4..4 + length).ok_or("truncated string")?;
        let text = String::from_utf8(text.to_vec()).map_err(|error| error.to_string())?;
        *bytes = &bytes[4 + length..];
        Ok(text)
    };
    while !bytes.is_empty() {
        let name = take(&mut bytes)?;
        let value = take(&mut bytes)?;
        labels.push(Label { name, value });
    }
    Labels::new(labels.into_iter().map(|label| (label.name, label.value)))
        .map_err(|error| error.to_string())
}

impl Cold {
    pub fn open(data_dir: &Path) -> Result<Cold, ColdError> {
        let path = data_dir.join(STORAGE_FILE);
        let writer = open_connection(&path)?;
        let found: i64 = writer.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if found > SCHEMA_VERSION {
            return Err(ColdError::NewerSchema(found));
        }
        writer.execute_batch(
            "CREATE TABLE IF NOT EXISTS series (
                id INTEGER PRIMARY KEY,
                labels BLOB NOT NULL
             );
             CREATE TABLE IF NOT EXISTS block (
                id INTEGER PRIMARY KEY,
                series_id INTEGER NOT NULL,
                min_t INTEGER NOT NULL,
                max_t INTEGER NOT NULL,
                sample_count INTEGER NOT NULL,
                data BLOB NOT NULL
             );
             CREATE INDEX IF NOT EXISTS block_by_series ON block (series_id, min_t);
             CREATE TABLE IF NOT EXISTS quarantined_block (
                id INTEGER PRIMARY KEY,
                series_id INTEGER NOT NULL,
                min_t INTEGER NOT NULL,
                max_t INTEGER NOT NULL,
                data BLOB NOT NULL,
                reason TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS rollup (
                series_id INTEGER NOT NULL,
                resolution INTEGER NOT NULL,
                block_start INTEGER NOT NULL,
                bucket_count INTEGER NOT NULL,
                data BLOB NOT NULL,
                PRIMARY KEY (series_id, resolution, block_start)
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS block_by_max_t ON block (max_t);
             CREATE INDEX IF NOT EXISTS rollup_by_start ON rollup (resolution, block_start);
             CREATE TABLE IF NOT EXISTS tier_state (
                resolution INTEGER PRIMARY KEY,
                complete_from INTEGER NOT NULL,
                horizon INTEGER NOT NULL
             );",
        )?;
        if found < 2 {
            // Schema 2 adds `tier_usage`, counted once here for a store of schema 1
            // and kept by the writers from then on.
            writer.execute_batch(TIER_USAGE_SCHEMA)?;
        }
        writer.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};"))?;
        Ok(Cold {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        })
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn with_reader<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, ColdError>,
    ) -> Result<T, ColdError> {
        let pooled = self
            .readers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => open_connection(&self.path)?,
        };
        let result = read(&connection);
        let mut readers = self
            .readers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if readers.len() < READERS_KEPT {
            readers.push(connection);
        }
        result
    }

    pub fn persist_series(&self, series: &[(SeriesRef, Labels)]) -> Result<(), ColdError> {
        if series.is_empty() {
            return Ok(());
        }
        let mut writer = self.writer();
        let transaction = writer.transaction()?;
        {
            let mut insert = transaction
                .prepare_cached("INSERT OR IGNORE INTO series (id, labels) VALUES (?1, ?2)")?;
            for (series, labels) in series {
                insert.execute(params![series.0 as i64, encode_labels(labels)])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    pub fn load_series(&self) -> Result<Vec<(SeriesRef, Labels)>, ColdError> {
        self.with_reader(|connection| {
            let mut statement = connection.prepare("SELECT id, labels FROM series ORDER BY id")?;
            let mut rows = statement.query([])?;
            let mut series = Vec::new();
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                let bytes: Vec<u8> = row.get(1)?;
                let labels = decode_labels(&bytes).map_err(|message| ColdError::BadLabels {
                    series: id as u64,
                    message,
                })?;
                series.push((SeriesRef(id as u64), labels));
            }
            Ok(series)
        })
    }

    /// Blocks of `series` overlapping `[mint, maxt]`, in time order.
    pub fn blocks_of(
        &self,
        series: SeriesRef,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<StoredBlock>, ColdError> {
        self.with_reader(|connection| blocks_in(connection, series, mint, maxt))
    }

    /// Newest timestamp per series over all blocks, for restoring the head at start.
    pub fn block_time_ranges(&self) -> Result<Vec<(SeriesRef, i64, i64)>, ColdError> {
        self.with_reader(|connection| {
            let mut statement = connection.prepare(
                "SELECT series_id, MIN(min_t), MAX(max_t) FROM block GROUP BY series_id",
            )?;
            let rows = statement.query_map([], |row| {
                Ok((
                    SeriesRef(row.get::<_, i64>(0)? as u64),
                    row.get(1)?,
                    row.get(2)?,
                ))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The rollup block of `series` at `resolution` starting at `block_start`, if any.
    pub fn rollup_block(
        &self,
        series: SeriesRef,
        resolution: i64,
        block_start: i64,
    ) -> Result<Option<Vec<u8>>, ColdError> {
        self.with_reader(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT data FROM rollup WHERE series_id = ?1 AND resolution = ?2 AND block_start = ?3",
            )?;
            let mut rows = statement.query(params![series.0 as i64, resolution, block_start])?;
            Ok(match rows.next()? {
                Some(row) => Some(row.get(0)?),
                None => None,
            })
        })
    }

    /// Rollup blocks of `series` at `resolution` starting in `[from, to]`, by start.
    pub fn rollup_blocks_of(
        &self,
        series: SeriesRef,
        resolution: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>, ColdError> {
        self.with_reader(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT block_start, data FROM rollup
                 WHERE series_id = ?1 AND resolution = ?2 AND block_start BETWEEN ?3 AND ?4
                 ORDER BY block_start",
            )?;
            let rows = statement
                .query_map(params![series.0 as i64, resolution, from, to], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// In one transaction: deletes the blocks `replaced`, inserts `blocks`, and writes
    /// (replacing) the rollup blocks `rollups`, so raw data and its rollups never
    /// disagree on disk.
    pub fn replace_blocks(
        &self,
        replaced: &[i64],
        blocks: &[StoredBlock],
        rollups: &[RollupBlock],
    ) -> Result<(), ColdError> {
        let mut writer = self.writer();
        let transaction = writer.transaction()?;
        let mut usage = UsageDelta::default();
        {
            let mut delete = transaction
                .prepare_cached("DELETE FROM block WHERE id = ?1 RETURNING LENGTH(data)")?;
            for id in replaced {
                let mut rows = delete.query([id])?;
                while let Some(row) = rows.next()? {
                    usage.add(0, -row.get::<_, i64>(0)?, -1);
                }
            }
            let mut insert = transaction.prepare_cached(
                "INSERT INTO block (series_id, min_t, max_t, sample_count, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for block in blocks {
                insert.execute(params![
                    block.series.0 as i64,
                    block.min_t,
                    block.max_t,
                    block.count,
                    block.data
                ])?;
                usage.add(0, blob_len(&block.data), 1);
            }
            let mut stored_size = transaction.prepare_cached(
                "SELECT LENGTH(data) FROM rollup
                 WHERE series_id = ?1 AND resolution = ?2 AND block_start = ?3",
            )?;
            let mut upsert = transaction.prepare_cached(
                "INSERT OR REPLACE INTO rollup (series_id, resolution, block_start, bucket_count, data)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for rollup in rollups {
                let key = params![
                    rollup.series.0 as i64,
                    rollup.resolution,
                    rollup.block_start
                ];
                if let Some(replaced) = stored_size
                    .query_row(key, |row| row.get::<_, i64>(0))
                    .optional()?
                {
                    usage.add(rollup.resolution, -replaced, -1);
                }
                upsert.execute(params![
                    rollup.series.0 as i64,
                    rollup.resolution,
                    rollup.block_start,
                    rollup.buckets,
                    rollup.data
                ])?;
                usage.add(rollup.resolution, blob_len(&rollup.data), 1);
            }
        }
        usage.apply(&transaction)?;
        transaction.commit()?;
        Ok(())
    }

    /// What is known of each tier: `(resolution, complete_from, horizon)`, raw data
    /// as resolution 0. Rows are made for `resolutions` that have none: a rollup tier
    /// added to a store that already holds blocks has no rollups of them, so it is
    /// complete only after the newest block's end; resolutions no longer configured
    /// are forgotten (their rollups are deleted by retention).
    pub fn tier_state(&self, resolutions: &[i64]) -> Result<Vec<(i64, i64, i64)>, ColdError> {
        let mut writer = self.writer();
        let transaction = writer.transaction()?;
        let newest: Option<i64> =
            transaction.query_row("SELECT MAX(max_t) FROM block", [], |row| row.get(0))?;
        let complete_from = newest.map_or(i64::MIN, |t| t.saturating_add(1));
        let mut wanted = vec![0];
        wanted.extend(resolutions.iter().copied());
        for resolution in &wanted {
            transaction.execute(
                "INSERT OR IGNORE INTO tier_state (resolution, complete_from, horizon) VALUES (?1, ?2, ?3)",
                params![resolution, if *resolution == 0 { i64::MIN } else { complete_from }, i64::MIN],
            )?;
        }
        let mut state = Vec::new();
        {
            let mut statement = transaction.prepare(
                "SELECT resolution, complete_from, horizon FROM tier_state ORDER BY resolution",
            )?;
            let rows =
                statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
            for row in rows {
                let row: (i64, i64, i64) = row?;
                if wanted.contains(&row.0) {
                    state.push(row);
                }
            }
        }
        let placeholders = wanted
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        transaction.execute(
            &format!("DELETE FROM tier_state WHERE resolution NOT IN ({placeholders})"),
            [],
        )?;
        transaction.commit()?;
        Ok(state)
    }

    /// Records that data of the tier at `resolution` (0: raw) older than `horizon` may
    /// be deleted; readers stop relying on it from now on.
    pub fn set_horizon(&self, resolution: i64, horizon: i64) -> Result<(), ColdError> {
        self.writer().execute(
            "UPDATE tier_state SET horizon = MAX(horizon, ?2) WHERE resolution = ?1",
            params![resolution, horizon],
        )?;
        Ok(())
    }

    /// Deletes up to `limit` raw blocks that end before `before_t`; returns how many.
    pub fn delete_expired_blocks(&self, before_t: i64, limit: u32) -> Result<u64, ColdError> {
        self.delete_counting(
            "DELETE FROM block WHERE id IN (SELECT id FROM block WHERE max_t < ?1 LIMIT ?2)
             RETURNING 0, LENGTH(data)",
            params![before_t, limit],
        )
    }

    /// Runs a `DELETE ... RETURNING resolution, LENGTH(data)` and takes what it
    /// deleted off `tier_usage`, in one transaction; returns the rows deleted.
    fn delete_counting(
        &self,
        delete: &str,
        parameters: impl rusqlite::Params,
    ) -> Result<u64, ColdError> {
        let mut writer = self.writer();
        let transaction = writer.transaction()?;
        let mut usage = UsageDelta::default();
        let mut deleted = 0;
        {
            let mut statement = transaction.prepare(delete)?;
            let mut rows = statement.query(parameters)?;
            while let Some(row) = rows.next()? {
                usage.add(row.get(0)?, -row.get::<_, i64>(1)?, -1);
                deleted += 1;
            }
        }
        usage.apply(&transaction)?;
        transaction.commit()?;
        Ok(deleted)
    }

    /// Deletes up to `limit` rollup blocks at `resolution` that end at or before
    /// `before_t` (a block ends `span` after its start); returns how many.
    pub fn delete_expired_rollups(
        &self,
        resolution: i64,
        span: i64,
        before_t: i64,
        limit: u32,
    ) -> Result<u64, ColdError> {
        // WITHOUT ROWID: rows are found through the (resolution, block_start) index.
        self.delete_counting(
            "DELETE FROM rollup WHERE (series_id, resolution, block_start) IN (
                SELECT series_id, resolution, block_start FROM rollup
                WHERE resolution = ?1 AND block_start <= ?2 LIMIT ?3)
             RETURNING resolution, LENGTH(data)",
            params![resolution, before_t.saturating_sub(span), limit],
        )
    }

    /// Deletes up to `limit` rollup blocks of resolutions not in `keep`.
    pub fn delete_unconfigured_rollups(&self, keep: &[i64], limit: u32) -> Result<u64, ColdError> {
        let keep = keep
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        self.delete_counting(
            &format!(
                "DELETE FROM rollup WHERE (series_id, resolution, block_start) IN (
                    SELECT series_id, resolution, block_start FROM rollup
                    WHERE resolution NOT IN ({keep}) LIMIT ?1)
                 RETURNING resolution, LENGTH(data)"
            ),
            params![limit],
        )
    }

    /// Gives up to `pages` free pages back to the file system; returns their bytes.
    /// (The file shrinks at the checkpoint that follows, in WAL mode.)
    pub fn release_free_pages(&self, pages: u32) -> Result<u64, ColdError> {
        let writer = self.writer();
        let free_pages = |connection: &Connection| -> Result<i64, ColdError> {
            Ok(connection.query_row("PRAGMA freelist_count", [], |row| row.get(0))?)
        };
        let before = free_pages(&writer)?;
        if before == 0 {
            return Ok(0);
        }
        writer.execute_batch(&format!("PRAGMA incremental_vacuum({pages});"))?;
        let after = free_pages(&writer)?;
        let page_size: i64 = writer.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        writer.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(u64::try_from((before - after) * page_size).unwrap_or(0))
    }

    /// Whether the file has free pages left to release.
    pub fn has_free_pages(&self) -> Result<bool, ColdError> {
        let free: i64 = self
            .writer()
            .query_row("PRAGMA freelist_count", [], |row| row.get(0))?;
        Ok(free > 0)
    }

    /// Moves a damaged block aside so reads skip it.
    pub fn quarantine_block(&self, id: i64, reason: &str) -> Result<(), ColdError> {
        let mut writer = self.writer();
        let transaction = writer.transaction()?;
        transaction.execute(
            "INSERT INTO quarantined_block (series_id, min_t, max_t, data, reason)
             SELECT series_id, min_t, max_t, data, ?2 FROM block WHERE id = ?1",
            params![id, reason],
        )?;
        let mut usage = UsageDelta::default();
        let size: Option<i64> = transaction
            .query_row(
                "DELETE FROM block WHERE id = ?1 RETURNING LENGTH(data)",
                [id],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(size) = size {
            usage.add(0, -size, -1);
        }
        usage.apply(&transaction)?;
        transaction.commit()?;
        Ok(())
    }

    /// Writes the WAL into the main file and truncates it, so the bytes on disk are the
    /// data's real size (and a compaction's result is fsynced before the hot chunk log
    /// forgets it).
    pub fn checkpoint(&self) -> Result<(), ColdError> {
        self.writer()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }

    /// Encoded bytes and blocks of each tier in the database: raw blocks under
    /// `None`, rollups under their resolution. Pages and indexes are not counted.
    /// Read from `tier_usage`, which the writers keep.
    pub fn bytes_per_tier(&self) -> Result<Vec<(Option<i64>, u64, u64)>, ColdError> {
        self.with_reader(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT resolution, bytes, blocks FROM tier_usage ORDER BY resolution",
            )?;
            let rows = statement.query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })?;
            let mut tiers = Vec::new();
            for row in rows {
                let (resolution, bytes, blocks) = row?;
                // A rollup tier whose blocks are all gone keeps a row of zeros.
                if resolution != 0 && blocks == 0 {
                    continue;
                }
                tiers.push((
                    (resolution != 0).then_some(resolution),
                    u64::try_from(bytes).unwrap_or(0),
                    u64::try_from(blocks).unwrap_or(0),
                ));
            }
            Ok(tiers)
        })
    }

    /// What `bytes_per_tier` would say, counted from every block (tests compare the
    /// two after each kind of write).
    #[cfg(test)]
    pub fn bytes_per_tier_counted(&self) -> Result<Vec<(Option<i64>, u64, u64)>, ColdError> {
        self.with_reader(|connection| {
            let mut tiers = Vec::new();
            let (bytes, blocks): (i64, i64) = connection.query_row(
                "SELECT COALESCE(SUM(LENGTH(data)), 0), COUNT(*) FROM block",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            tiers.push((None, bytes as u64, blocks as u64));
            let mut statement = connection.prepare(
                "SELECT resolution, SUM(LENGTH(data)), COUNT(*) FROM rollup GROUP BY resolution ORDER BY resolution",
            )?;
            let rows = statement.query_map([], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
            })?;
            for row in rows {
                let (resolution, bytes, blocks) = row?;
                tiers.push((Some(resolution), bytes as u64, blocks as u64));
            }
            Ok(tiers)
        })
    }

    /// Bytes of the database file and its WAL.
    pub fn size_on_disk(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        [self.path.as_path(), wal.as_path()]
            .iter()
            .filter_map(|path| std::fs::metadata(path).ok())
            .map(|metadata| metadata.len())
            .sum()
    }
}

fn blocks_in(
    connection: &Connection,
    series: SeriesRef,
    mint: i64,
    maxt: i64,
) -> Result<Vec<StoredBlock>, ColdError> {
    let mut statement = connection.prepare_cached(
        "SELECT id, min_t, max_t, sample_count, data FROM block
         WHERE series_id = ?1 AND max_t >= ?2 AND min_t <= ?3 ORDER BY min_t, id",
    )?;
    let rows = statement.query_map(params![series.0 as i64, mint, maxt], |row| {
        Ok(StoredBlock {
            id: row.get(0)?,
            series,
            min_t: row.get(1)?,
            max_t: row.get(2)?,
            count: row.get(3)?,
            data: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_series_persist() {
        let labels = Labels::new_series([("__name__", "up"), ("job", "a b")]).expect("labels");
        assert_eq!(decode_labels(&encode_labels(&labels)), Ok(labels.clone()));
        assert!(decode_labels(&[1, 0, 0]).is_err());
        let dir = tempfile::tempdir().expect("temp");
        let cold = Cold::open(dir.path()).expect("open");
        cold.persist_series(&[(SeriesRef(3), labels.clone())])
            .expect("persist");
        cold.persist_series(&[(SeriesRef(3), labels.clone())])
            .expect("idempotent");
        assert_eq!(
            cold.load_series().expect("load"),
            vec![(SeriesRef(3), labels)]
        );
    }
}
