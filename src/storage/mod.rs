//! Storage: the end of the one write path and the start of the one read path.
//! Owns: the data directory's sample data — catalog (`catalog.rs`), the WAL's entries
//! (`wal.rs`), hot sealed chunks (`hot.rs`), both kept in segment files
//! (`segment_log.rs`), the head (`head.rs`), compacted blocks and the persisted catalog
//! in SQLite (`cold.rs`) — and the limits enforced at append (`append.rs`).
//! Does not: know PromQL, HTTP or TOML.
//!
//! Write path: `append` → limits → catalog → head (XOR chunks) + WAL entry (segment
//! files) → sealed chunks (hot chunk log) → `compact` → pco blocks per series and day
//! (SQLite).
//! Read path: `select` → catalog postings → per series: head, hot chunks, blocks,
//! merged lazily in time order (`querier.rs`).

mod append;
mod catalog;
pub mod chunk;
mod cold;
mod compact;
mod head;
mod hot;
mod legacy_sled;
mod querier;
mod retention;
pub mod rollup;
mod segment_log;
pub mod wal;
mod wal_reader;
mod watch;
pub use wal_reader::{WalBatch, WalPosition};
pub use watch::Interest;

pub use append::{AppendOutcome, Durability, RejectReason, Rejection, SeriesSamples};
pub use catalog::Cardinality;
pub use compact::CompactionReport;
use querier::merge as querier_merge;
pub use querier::{SampleIter, SelectHints, SeriesData};
pub use retention::{RetentionReport, TierCoverage};

use crate::model::{Labels, Sample, SeriesRef};
use catalog::Catalog;
use cold::{Cold, ColdError};
use head::Head;
use hot::Hot;
use legacy_sled::{LegacyError, LegacySled};
use segment_log::{Flusher, SegmentLog, SegmentLogError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

/// Limits enforced at append; `[limits]` in the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageLimits {
    pub series_max: u64,
    pub series_per_metric_max: u64,
    pub labels_per_series_max: usize,
    pub label_name_bytes_max: usize,
    pub label_value_bytes_max: usize,
    pub out_of_order_window: Duration,
}

impl Default for StorageLimits {
    fn default() -> Self {
        StorageLimits {
            series_max: 2_000_000,
            series_per_metric_max: 200_000,
            labels_per_series_max: 64,
            label_name_bytes_max: 256,
            label_value_bytes_max: 4096,
            out_of_order_window: Duration::from_secs(600),
        }
    }
}

/// A storage tier: raw samples (`resolution_ms` `None`) or rollups in buckets of
/// `resolution_ms`, kept for `retention`. `[storage] tiers`, finest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tier {
    pub resolution_ms: Option<i64>,
    pub retention: Duration,
}

impl Tier {
    /// The default tiers: raw 15 d, 1 m rollups 90 d, 1 h rollups 5 y (DESIGN.md).
    pub fn defaults() -> Vec<Tier> {
        Tier::design_defaults()
    }

    /// Raw 15 d, 1 m rollups 90 d, 1 h rollups 5 y (DESIGN.md).
    pub fn design_defaults() -> Vec<Tier> {
        let day = 24 * 3600;
        vec![
            Tier {
                resolution_ms: None,
                retention: Duration::from_secs(15 * day),
            },
            Tier {
                resolution_ms: Some(60_000),
                retention: Duration::from_secs(90 * day),
            },
            Tier {
                resolution_ms: Some(3_600_000),
                retention: Duration::from_secs(5 * 365 * day),
            },
        ]
    }

    /// `raw`, or the resolution in Prometheus notation (`1m`, `1h`).
    pub fn name(&self) -> String {
        Tier::name_of(self.resolution_ms)
    }

    /// The name of the tier at `resolution_ms` (`None`: raw), as `name` gives it.
    pub fn name_of(resolution_ms: Option<i64>) -> String {
        match resolution_ms {
            None => "raw".to_string(),
            Some(ms) => crate::config::units::format_duration(Duration::from_millis(
                u64::try_from(ms).unwrap_or(0),
            )),
        }
    }
}

/// How storage is opened.
#[derive(Clone, Debug)]
pub struct StorageOptions {
    pub data_dir: PathBuf,
    pub limits: StorageLimits,
    /// Sealed chunks younger than this stay in the hot chunk log; older ones are
    /// compacted to SQLite.
    pub hot_window: Duration,
    /// Raw data and rollups, finest first (`Tier::defaults()` unless configured).
    pub tiers: Vec<Tier>,
    /// Without a WAL (offline import), durability comes from `finish_offline`.
    pub write_ahead_log: bool,
    /// Size at which a WAL segment file is closed and the next one started (tests
    /// shrink it so rotation and truncation run).
    pub wal_segment_bytes_max: u64,
    /// The same for the hot chunk log (tests shrink it to get many segments).
    pub hot_segment_bytes_max: u64,
    /// Without a WAL, sealed chunks staged in memory before a compaction is forced.
    /// `u64::MAX` defers every write to `finish_offline`, so an import that turns out
    /// to be invalid can be dropped having written nothing.
    pub staged_bytes_max: u64,
}

impl StorageOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> StorageOptions {
        StorageOptions {
            data_dir: data_dir.into(),
            limits: StorageLimits::default(),
            hot_window: Duration::from_secs(2 * 3600),
            tiers: Tier::defaults(),
            write_ahead_log: true,
            wal_segment_bytes_max: crate::limits::WAL_SEGMENT_BYTES_MAX,
            hot_segment_bytes_max: crate::limits::HOT_SEGMENT_BYTES_MAX,
            staged_bytes_max: crate::limits::STAGED_BYTES_MAX,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Log(#[from] SegmentLogError),
    #[error(transparent)]
    Cold(#[from] ColdError),
    #[error(transparent)]
    Legacy(#[from] LegacyError),
    #[error("data directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("storage is shutting down")]
    Closed,
}

/// Counters behind the `tandem_storage_*` metrics.
#[derive(Debug, Default)]
pub struct StorageCounters {
    pub samples_appended: AtomicU64,
    pub samples_unchanged: AtomicU64,
    pub rejected: [AtomicU64; RejectReason::KINDS.len()],
    pub corruptions: AtomicU64,
    pub compactions: AtomicU64,
    pub chunks_compacted: AtomicU64,
    pub retention_blocks_deleted: AtomicU64,
    pub retention_bytes_freed: AtomicU64,
    pub wal_entries_truncated: AtomicU64,
    pub series_created: AtomicU64,
    /// Appends that failed (the WAL or hot chunk log could not be written or synced).
    pub write_errors: AtomicU64,
    /// When an ingest append (not rules, not status series) last stored a sample,
    /// Unix ms; 0 before the first.
    pub last_ingest_ms: std::sync::atomic::AtomicI64,
}

/// Group commit: callers that need durability share fsyncs. A waiter needs a flush
/// that *started* after its write, so it waits for flush number `started + 1`.
#[derive(Default)]
struct Committer {
    state: Mutex<CommitState>,
    flushed: Condvar,
}

#[derive(Default)]
struct CommitState {
    in_progress: bool,
    started: u64,
    completed: u64,
    failed: Option<String>,
}

pub struct Storage {
    options: StorageOptions,
    catalog: Catalog,
    head: Head,
    hot: Hot,
    wal_log: Arc<SegmentLog>,
    /// Flushes `Durability::Background` appends; `None` without a WAL.
    flusher: Option<Flusher>,
    cold: Cold,
    next_series: AtomicU64,
    next_wal_seq: AtomicU64,
    /// Appends hold it shared; the checkpoint takes it exclusively for an instant to
    /// see a state where every sealed chunk of every finished append is in the hot log.
    append_gate: RwLock<()>,
    committer: Committer,
    /// Series created since the last WAL entry was written; the next entry records them.
    new_series_for_wal: Mutex<wal::PendingSeries>,
    /// Without a WAL (offline import), sealed chunks wait here for compaction instead
    /// of passing through the hot chunk log, which would only be written to be deleted.
    staged: Mutex<Vec<head::SealedChunk>>,
    staged_bytes: AtomicU64,
    /// Serialises compaction and checkpoints.
    maintenance: Mutex<()>,
    /// Per tier: where its data is complete from (`retention.rs`).
    tier_state: RwLock<Vec<retention::TierState>>,
    /// Which watched selectors received samples (the rule manager's trigger).
    watch: watch::AppendWatch,
    /// WAL segments that readers (remote_write) still need.
    wal_holds: wal_reader::WalHolds,
    pub counters: StorageCounters,
}

/// Sizes and counts for metrics and `/api/v1/status/tsdb`.
#[derive(Clone, Debug, Default)]
pub struct StorageStats {
    pub series: u64,
    pub head_series: u64,
    pub head_samples: u64,
    pub hot_chunks: u64,
    pub hot_bytes: u64,
    pub cold_bytes: u64,
    pub wal_bytes: u64,
}

impl Storage {
    /// Opens the data directory: loads the catalog, restores the head's newest
    /// timestamps from the hot chunks and SQLite, and replays the WAL.
    pub fn open(options: StorageOptions) -> Result<Storage, StorageError> {
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StorageError::Io { path, source }
        };
        std::fs::create_dir_all(&options.data_dir).map_err(io_error(&options.data_dir))?;
        let (hot, hot_report) = Hot::open(
            &options.data_dir.join(HOT_DIR),
            options.hot_segment_bytes_max,
        )?;
        let wal_log = SegmentLog::open(
            "WAL",
            &options.data_dir.join("wal"),
            options.wal_segment_bytes_max,
        )?;
        migrate_legacy_sled(&options.data_dir.join(LEGACY_SLED_DIR), &hot, &wal_log)?;
        let cold = Cold::open(&options.data_dir)?;
        let catalog = Catalog::default();
        for (series, labels) in cold.load_series()? {
            catalog.insert(series, &labels, true);
        }
        let window = window_ms(&options.limits);
        let mut storage = Storage {
            next_series: AtomicU64::new(catalog.max_ref() + 1),
            // Set by the replay, from the highest sequence number in the WAL.
            next_wal_seq: AtomicU64::new(1),
            options,
            catalog,
            head: Head::new(window),
            hot,
            wal_log: Arc::new(wal_log),
            flusher: None,
            cold,
            append_gate: RwLock::new(()),
            committer: Committer::default(),
            new_series_for_wal: Mutex::new(wal::PendingSeries::default()),
            staged: Mutex::new(Vec::new()),
            staged_bytes: AtomicU64::new(0),
            maintenance: Mutex::new(()),
            tier_state: RwLock::new(Vec::new()),
            watch: watch::AppendWatch::default(),
            wal_holds: wal_reader::WalHolds::default(),
            counters: StorageCounters::default(),
        };
        storage
            .counters
            .corruptions
            .fetch_add(hot_report.corrupt, Ordering::Relaxed);
        if hot_report.corrupt > 0 || hot_report.torn > 0 {
            tracing::info!(
                chunks = hot_report.chunks,
                corrupt = hot_report.corrupt,
                torn = hot_report.torn,
                "hot chunk log read"
            );
        }
        storage.load_tier_state()?;
        storage.restore_head()?;
        storage.replay_wal()?;
        if storage.options.write_ahead_log {
            storage.flusher = Some(Flusher::start(
                Arc::clone(&storage.wal_log),
                crate::limits::WAL_FLUSH_INTERVAL,
            )?);
        }
        Ok(storage)
    }

    pub fn options(&self) -> &StorageOptions {
        &self.options
    }

    /// Tells the head where each series' stored data ends, so replayed samples that
    /// were already sealed are recognised as duplicates instead of stored twice.
    fn restore_head(&self) -> Result<(), StorageError> {
        for (series, min_t, max_t) in self.cold.block_time_ranges()? {
            self.head.restore_newest(
                series,
                min_t,
                Sample {
                    t: max_t,
                    v: f64::NAN,
                },
            );
        }
        for (series, oldest_t, last) in self.hot.series_extents() {
            if let Some(framed) = self.hot.read(&last)?
                && let Ok(samples) = decode_framed(&framed)
                && let Some(newest) = samples.last()
            {
                self.head.restore_newest(series, oldest_t, *newest);
            }
        }
        Ok(())
    }

    /// Re-applies every WAL entry in sequence order: series first (an entry may name a
    /// series whose creation is in a later entry when appends ran concurrently), then
    /// samples.
    fn replay_wal(&self) -> Result<(), StorageError> {
        // Two passes over the files rather than one over a decoded copy: holding every
        // decoded entry at once cost hundreds of MB with a million series in the WAL.
        // The first checks every record and creates series; the second reads the
        // records again in sequence order, which concurrent appends may not have
        // written them in.
        let scan = self.wal_log.scan(&mut |_, bytes| {
            let entry = wal::decode(bytes)?;
            for (series, labels) in &entry.new_series {
                self.catalog.insert(*series, labels, false);
                self.next_series.fetch_max(series.0 + 1, Ordering::Relaxed);
            }
            Ok::<(), wal::WalError>(())
        })?;
        self.counters
            .corruptions
            .fetch_add(scan.corrupt, Ordering::Relaxed);
        self.next_wal_seq.store(scan.seq_max + 1, Ordering::SeqCst);
        let mut replayed = 0u64;
        let mut result = head::HeadAppend::default();
        self.wal_log
            .read_records(&scan.records, &mut |seq, bytes| {
                // Checked in the first pass; a failure now is a disk changing under us.
                let entry = match wal::decode(bytes) {
                    Ok(entry) => entry,
                    Err(error) => {
                        tracing::error!(seq, %error, "WAL entry unreadable on the second pass; skipped");
                        self.counters.corruptions.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                };
                for (series, samples) in &entry.samples {
                    result.clear();
                    self.head_append(*series, samples, seq, &mut result)?;
                    replayed += result.accepted.len() as u64;
                }
                Ok::<(), StorageError>(())
            })?;
        if !scan.records.is_empty() || scan.corrupt > 0 || scan.torn > 0 {
            tracing::info!(
                entries = scan.records.len(),
                samples = replayed,
                corrupt = scan.corrupt,
                torn = scan.torn,
                "WAL replayed"
            );
        }
        Ok(())
    }

    /// Appends to the head, writing sealed chunks to the hot log under the series' lock.
    /// The outcome is added to `result`.
    fn head_append(
        &self,
        series: SeriesRef,
        samples: &[Sample],
        wal_seq: u64,
        result: &mut head::HeadAppend,
    ) -> Result<(), StorageError> {
        let mut put_error: Option<SegmentLogError> = None;
        self.head.append(
            series,
            samples,
            wal_seq,
            &mut |chunk| {
                if let Err(error) = self.store_sealed(chunk) {
                    put_error = Some(error);
                }
            },
            &mut |t| self.stored_in_hot(series, t),
            result,
        );
        match put_error {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }

    /// Writes a sealed chunk to the hot log, or, when there is no WAL (offline import,
    /// which compacts everything before it exits), stages it in memory for compaction.
    fn store_sealed(&self, chunk: head::SealedChunk) -> Result<(), SegmentLogError> {
        if !self.options.write_ahead_log {
            self.staged_bytes
                .fetch_add(chunk.bytes.len() as u64, Ordering::Relaxed);
            self.staged
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(chunk);
            return Ok(());
        }
        let framed = chunk::frame(chunk::Encoding::Xor, &chunk.bytes);
        self.hot
            .put(chunk.series, chunk.start_t, chunk.end_t, &framed)
    }

    /// The value stored at exactly `t` in a sealed hot chunk of `series`, if any.
    fn stored_in_hot(&self, series: SeriesRef, t: i64) -> Option<f64> {
        self.hot
            .chunks_of(series, t, t)
            .iter()
            .filter_map(|chunk| self.hot.read(chunk).ok().flatten())
            .filter_map(|framed| decode_framed(&framed).ok())
            .flat_map(|samples| samples.into_iter())
            .find(|sample| sample.t == t)
            .map(|sample| sample.v)
    }

    /// Blocks until everything appended so far is on disk.
    pub fn sync(&self) -> Result<(), StorageError> {
        self.wait_durable()
    }

    /// Blocks until every WAL record written so far is on disk, sharing the fdatasync
    /// with concurrent callers (group commit). Sealed chunks need no fsync here: the
    /// WAL keeps their entries until a checkpoint has synced the hot chunk log.
    fn wait_durable(&self) -> Result<(), StorageError> {
        fn lock(committer: &Committer) -> std::sync::MutexGuard<'_, CommitState> {
            committer
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }
        let mut state = lock(&self.committer);
        let target = state.started + 1;
        loop {
            if state.completed >= target {
                return match &state.failed {
                    Some(message) => Err(StorageError::Io {
                        path: self.options.data_dir.join("wal"),
                        source: std::io::Error::other(message.clone()),
                    }),
                    None => Ok(()),
                };
            }
            if state.in_progress {
                state = self
                    .committer
                    .flushed
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            state.in_progress = true;
            state.started += 1;
            let number = state.started;
            drop(state);
            let result = self.wal_log.sync();
            state = lock(&self.committer);
            state.in_progress = false;
            state.completed = number;
            state.failed = result.err().map(|error| error.to_string());
            self.committer.flushed.notify_all();
        }
    }

    /// Persists new series to SQLite, fsyncs the hot chunk log and deletes the WAL
    /// segments nothing unsealed depends on.
    pub fn checkpoint(&self) -> Result<(), StorageError> {
        let _maintenance = self
            .maintenance
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.persist_catalog()?;
        let watermark = {
            let _gate = self
                .append_gate
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.head
                .wal_low_watermark()
                .unwrap_or_else(|| self.next_wal_seq.load(Ordering::SeqCst))
        };
        // Sealed chunks must be on disk before the WAL entries behind them go.
        self.hot.flush()?;
        let keep_from = self.wal_holds.keep_from(self.wal_log.bytes());
        let truncation = self.wal_log.truncate_below_keeping(watermark, keep_from)?;
        self.counters
            .wal_entries_truncated
            .fetch_add(truncation.records, Ordering::Relaxed);
        Ok(())
    }

    /// Seals open chunks whose newest sample is older than `before_t`.
    pub fn seal_idle(&self, before_t: i64) -> Result<(), StorageError> {
        let _gate = self
            .append_gate
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut put_error = None;
        self.head.seal_idle(before_t, &mut |chunk| {
            if let Err(error) = self.store_sealed(chunk) {
                put_error = Some(error);
            }
        });
        match put_error {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }

    fn persist_catalog(&self) -> Result<(), StorageError> {
        let pending = self.catalog.take_unpersisted();
        if let Err(error) = self.cold.persist_series(&pending) {
            self.catalog.return_unpersisted(&pending);
            return Err(error.into());
        }
        Ok(())
    }

    /// Ends an offline import: seals every open chunk, compacts everything and syncs,
    /// so the data is durable without a WAL.
    pub fn finish_offline(&self) -> Result<(), StorageError> {
        self.seal_idle(i64::MAX)?;
        self.compact(i64::MAX)?;
        self.persist_catalog()?;
        self.hot.flush()?;
        self.cold.checkpoint()?;
        Ok(())
    }

    pub fn stats(&self) -> StorageStats {
        let (head_series, head_samples) = self.head.stats();
        StorageStats {
            series: self.catalog.series_count(),
            head_series,
            head_samples,
            hot_chunks: self.hot.chunk_count(),
            hot_bytes: self.hot.bytes(),
            cold_bytes: self.cold.size_on_disk(),
            wal_bytes: self.wal_log.bytes(),
        }
    }

    /// Encoded bytes and blocks per tier in SQLite (raw: `None`), for the storage page
    /// and `tandem_storage_tier_bytes`: one read of a small table kept by triggers.
    pub fn bytes_per_tier(&self) -> Result<Vec<(Option<i64>, u64, u64)>, StorageError> {
        Ok(self.cold.bytes_per_tier()?)
    }

    /// The oldest and newest sample timestamp stored (ms), `None` when empty.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        self.head.time_range()
    }

    /// The `limit` biggest metric names and label pairs by series count, and the
    /// number of distinct label pairs.
    pub fn cardinality(&self, limit: usize) -> Cardinality {
        self.catalog.top_counts(limit)
    }

    /// The series matching `matchers` (all series when empty) with samples between
    /// `mint` and `maxt`; `None` for every series, unbounded.
    fn series_in(
        &self,
        matchers: &[crate::model::Matcher],
        mint: i64,
        maxt: i64,
    ) -> Option<roaring::RoaringBitmap> {
        let bounded = mint > i64::MIN || maxt < i64::MAX;
        let selected = (!matchers.is_empty()).then(|| self.catalog.select(matchers));
        if !bounded {
            return selected;
        }
        let candidates = selected.unwrap_or_else(|| self.catalog.select(&[]));
        Some(self.head.overlapping(&candidates, mint, maxt))
    }

    /// Sorted label names of the series matching `matchers` (all when empty) that have
    /// samples between `mint` and `maxt` (ms, inclusive; `i64::MIN`/`MAX` for unbounded).
    pub fn label_names(
        &self,
        matchers: &[crate::model::Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<String> {
        let refs = self.series_in(matchers, mint, maxt);
        self.catalog.label_names(refs.as_ref())
    }

    /// Sorted values of label `name`, bounded like `label_names`.
    pub fn label_values(
        &self,
        name: &str,
        matchers: &[crate::model::Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<String> {
        let refs = self.series_in(matchers, mint, maxt);
        self.catalog.label_values(name, refs.as_ref())
    }

    /// Label sets of the series matching `matchers` with samples between `mint` and
    /// `maxt`, in label order (for `/api/v1/series`).
    pub fn series_labels(
        &self,
        matchers: &[crate::model::Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<Labels> {
        let refs = match self.series_in(matchers, mint, maxt) {
            Some(refs) => refs,
            None => self.catalog.select(&[]),
        };
        let mut labels: Vec<Labels> = refs
            .iter()
            .filter_map(|series| self.catalog.labels(SeriesRef(u64::from(series))))
            .collect();
        labels.sort();
        labels
    }
}

/// `[limits] out_of_order_window` in milliseconds.
fn window_ms(limits: &StorageLimits) -> i64 {
    i64::try_from(limits.out_of_order_window.as_millis()).unwrap_or(i64::MAX)
}

/// Where the hot chunk log lives under the data directory.
const HOT_DIR: &str = "chunks";
/// Where builds before docs/adr/0004 kept sled (the WAL before docs/adr/0003, then the
/// hot chunks).
const LEGACY_SLED_DIR: &str = "hot";

/// Moves what a sled directory left by an earlier build holds — a WAL tree, sealed
/// chunks — into the WAL segment files and the hot chunk log, makes both durable, then
/// deletes the sled directory. Runs before the WAL replay, which then reads the moved
/// entries like any others. A crash part-way leaves the sled directory in place and
/// the next start moves it again: WAL entries only if no segment exists yet (see
/// `SegmentLog::import_legacy`), chunks possibly twice, which reads and compaction
/// merge away (one sample per timestamp).
fn migrate_legacy_sled(dir: &Path, hot: &Hot, wal_log: &SegmentLog) -> Result<(), StorageError> {
    if !legacy_sled::exists(dir) {
        return Ok(());
    }
    let sled = LegacySled::open(dir)?;
    let entries = sled
        .wal_entries()?
        .map(|item| item.map_err(StorageError::from));
    let moved_entries = wal_log.import_legacy(entries)?;
    let (mut moved_chunks, mut unreadable) = (0u64, 0u64);
    for item in sled.chunks()? {
        let (series, start_t, framed) = item?;
        match decode_framed(&framed) {
            Ok(samples) => {
                let end_t = samples.last().map_or(start_t, |last| last.t);
                hot.put(series, start_t, end_t, &framed)?;
                moved_chunks += 1;
            }
            Err(error) => {
                tracing::error!(series = series.0, start_t, %error,
                    "damaged chunk in the old sled store left behind");
                unreadable += 1;
            }
        }
    }
    hot.flush()?;
    drop(sled);
    std::fs::remove_dir_all(dir).map_err(|source| StorageError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    tracing::info!(
        wal_entries = moved_entries,
        chunks = moved_chunks,
        unreadable,
        "data moved from the sled store of an earlier version (hot/) into wal/ and chunks/"
    );
    Ok(())
}

/// Creates the data directory and takes an exclusive lock on it, so that two
/// processes (two servers, or a server and `tandem import`) never write the same files.
/// The lock lasts as long as the returned file is open.
pub fn lock_data_dir(path: &Path) -> Result<std::fs::File, LockError> {
    let io = |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(path).map_err(io)?;
    let lock = std::fs::File::create(path.join("lock")).map_err(io)?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Locked {
            path: path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(error)) => Err(io(error)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("data directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "data directory {path} is in use by another tandem process (it holds {path}/lock); stop it or pass another --data"
    )]
    Locked { path: PathBuf },
}

/// Decodes a framed XOR or pco chunk into samples.
pub(crate) fn decode_framed(bytes: &[u8]) -> Result<Vec<Sample>, chunk::ChunkError> {
    let (encoding, payload) = chunk::unframe(bytes)?;
    match encoding {
        chunk::Encoding::Xor => chunk_samples(payload),
        chunk::Encoding::Pco => {
            let (timestamps, values) = chunk::pco::decode(payload)?;
            Ok(timestamps
                .into_iter()
                .zip(values)
                .map(|(t, v)| Sample { t, v })
                .collect())
        }
        chunk::Encoding::Rollup => Err(chunk::ChunkError::Corrupt(
            "a rollup block where samples were expected".into(),
        )),
    }
}

/// Decodes an unframed XOR chunk into samples.
pub(crate) fn chunk_samples(bytes: &[u8]) -> Result<Vec<Sample>, chunk::ChunkError> {
    let mut samples = Vec::new();
    for item in chunk::xor::iter(bytes)? {
        let (t, v) = item?;
        samples.push(Sample { t, v });
    }
    Ok(samples)
}

#[cfg(test)]
mod tests;
