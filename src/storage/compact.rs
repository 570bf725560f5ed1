//! Compaction: sealed chunks leave the hot chunk log for SQLite, re-encoded with pco as
//! one block per series and UTC day.
//! Owns: when data moves, the period of a block, merging partial blocks of a day,
//! and quarantining chunks or blocks that fail their checksum.
//! Does not: choose tiers or retention (the tiers issue adds rollups here).

use super::cold::{RollupBlock, StoredBlock};
use super::{Storage, StorageError, chunk, decode_framed, rollup};
use crate::model::{Sample, SeriesRef};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// A block holds one series for one UTC day: long enough for pco to find the
/// structure of a series, short enough that retention can drop whole blocks.
pub const BLOCK_PERIOD_MS: i64 = 24 * 3600 * 1000;

/// Series compacted per SQLite transaction.
const SERIES_PER_TRANSACTION: usize = 512;

/// What one compaction did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactionReport {
    pub chunks: u64,
    pub samples: u64,
    pub blocks_written: u64,
    pub rollup_blocks_written: u64,
}

struct SeriesWork {
    series: SeriesRef,
    samples: Vec<Sample>,
}

impl Storage {
    /// Moves sealed chunks whose last sample is older than `before_t` into SQLite
    /// blocks, a whole segment of the hot chunk log at a time (`Hot` explains why).
    /// With `i64::MAX`, all sealed chunks move (`finish_offline`,
    /// `POST /api/v1/admin/compact`).
    pub fn compact(&self, before_t: i64) -> Result<CompactionReport, StorageError> {
        let _maintenance = self
            .maintenance
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.persist_catalog()?;
        let mut report = CompactionReport::default();
        self.compact_staged(&mut report)?;
        let segments = self.hot.compactable_segments(before_t)?;
        let mut batch: Vec<SeriesWork> = Vec::new();
        for (series, chunk) in self.hot.chunks_in(&segments) {
            let Some(framed) = self.hot.read(&chunk)? else {
                continue;
            };
            let samples = match decode_framed(&framed) {
                Ok(samples) => samples,
                Err(error) => {
                    tracing::error!(series = series.0, start_t = chunk.start_t, %error,
                        "corrupt chunk quarantined");
                    self.counters.corruptions.fetch_add(1, Ordering::Relaxed);
                    self.hot.quarantine(series, &chunk)?;
                    continue;
                }
            };
            report.chunks += 1;
            match batch.last_mut() {
                Some(work) if work.series == series => work.samples.extend(samples),
                _ => {
                    if batch.len() >= SERIES_PER_TRANSACTION {
                        self.write_blocks(std::mem::take(&mut batch), &mut report)?;
                    }
                    batch.push(SeriesWork { series, samples });
                }
            }
        }
        self.write_blocks(batch, &mut report)?;
        if !segments.is_empty() {
            // Blocks must be on disk before the hot log forgets the chunks.
            self.cold.checkpoint()?;
            self.hot.remove_segments(&segments)?;
        }
        self.counters.compactions.fetch_add(1, Ordering::Relaxed);
        self.counters
            .chunks_compacted
            .fetch_add(report.chunks, Ordering::Relaxed);
        Ok(report)
    }

    /// Compacts chunks staged in memory by an offline import (see `Storage::store_sealed`).
    fn compact_staged(&self, report: &mut CompactionReport) -> Result<(), StorageError> {
        let staged = std::mem::take(
            &mut *self
                .staged
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        self.staged_bytes.store(0, Ordering::Relaxed);
        let mut staged = staged;
        // Group by series (stable: chunks of a series keep their order), then decode
        // one transaction's worth of series at a time, so memory holds the samples of
        // `SERIES_PER_TRANSACTION` series, not of the whole import.
        staged.sort_by_key(|chunk| chunk.series);
        let mut batch: Vec<SeriesWork> = Vec::new();
        for chunk in staged {
            report.chunks += 1;
            let samples = match super::chunk_samples(&chunk.bytes) {
                Ok(samples) => samples,
                Err(error) => {
                    panic!("BUG: a chunk sealed in this process does not decode: {error}")
                }
            };
            match batch.last_mut() {
                Some(work) if work.series == chunk.series => work.samples.extend(samples),
                _ => {
                    if batch.len() >= SERIES_PER_TRANSACTION {
                        self.write_blocks(std::mem::take(&mut batch), report)?;
                    }
                    batch.push(SeriesWork {
                        series: chunk.series,
                        samples,
                    });
                }
            }
        }
        self.write_blocks(batch, report)?;
        Ok(())
    }

    /// Bytes of chunks staged for compaction.
    pub fn staged_bytes(&self) -> u64 {
        self.staged_bytes.load(Ordering::Relaxed)
    }

    fn write_blocks(
        &self,
        batch: Vec<SeriesWork>,
        report: &mut CompactionReport,
    ) -> Result<(), StorageError> {
        let mut replaced = Vec::new();
        let mut pending: Vec<(SeriesRef, Vec<Sample>)> = Vec::new();
        let mut rollups = Rollups::new(self.rollup_resolutions());
        for mut work in batch {
            if work.samples.is_empty() {
                continue;
            }
            into_time_order(&mut work.samples);
            report.samples += work.samples.len() as u64;
            let mut by_period: BTreeMap<i64, Vec<Sample>> = BTreeMap::new();
            for sample in work.samples {
                by_period
                    .entry(period_of(sample.t))
                    .or_default()
                    .push(sample);
            }
            for (period, samples) in by_period {
                let (start, end) = period_bounds(period);
                // Retention may have deleted raw blocks of this day while its rollups
                // stay: those are then merged with the new samples, not rebuilt.
                let raw_complete = self.raw_period_complete(start);
                let mut arrived = (!raw_complete).then(|| samples.clone());
                let mut merged = samples;
                for block in self.cold.blocks_of(work.series, start, end)? {
                    match decode_framed(&block.data) {
                        Ok(stored) => {
                            if let Some(arrived) = arrived.as_mut() {
                                // Only samples at new timestamps add to the rollups.
                                arrived.retain(|sample| {
                                    stored.binary_search_by_key(&sample.t, |s| s.t).is_err()
                                });
                            }
                            merged = super::querier_merge(merged, stored)
                        }
                        Err(error) => {
                            tracing::error!(series = work.series.0, block = block.id, %error, "corrupt block quarantined");
                            self.counters.corruptions.fetch_add(1, Ordering::Relaxed);
                            self.cold.quarantine_block(block.id, &error.to_string())?;
                            continue;
                        }
                    }
                    replaced.push(block.id);
                }
                // Blocks written before periods were left-open (midnight belonged to the
                // next day) can reach into a neighbouring period: their samples there
                // get a block of that period, which later compactions merge.
                let (inside, outside): (Vec<Sample>, Vec<Sample>) = merged
                    .into_iter()
                    .partition(|sample| period_of(sample.t) == period);
                for (_, spilled) in group_by_period(outside) {
                    pending.push((work.series, spilled));
                }
                match arrived {
                    None => rollups.update_period(
                        self,
                        work.series,
                        period,
                        &inside,
                        PeriodUpdate::Replace,
                    )?,
                    Some(arrived) => rollups.update_period(
                        self,
                        work.series,
                        period,
                        &arrived,
                        PeriodUpdate::Merge,
                    )?,
                }
                pending.push((work.series, inside));
            }
        }
        let blocks = in_page_order(encode_blocks(pending)?);
        report.blocks_written += blocks.len() as u64;
        let rollup_blocks = rollups.encode()?;
        report.rollup_blocks_written += rollup_blocks.len() as u64;
        self.cold
            .replace_blocks(&replaced, &blocks, &rollup_blocks)?;
        Ok(())
    }

    /// The rollup buckets of `series` at `resolution` whose ends lie in `[mint, maxt]`,
    /// by end. A damaged block is skipped, logged and counted.
    pub fn rollup_buckets(
        &self,
        series: SeriesRef,
        resolution: i64,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<rollup::Bucket>, StorageError> {
        let from = rollup_block_start(mint, resolution);
        let to = rollup_block_start(maxt, resolution);
        let mut buckets = Vec::new();
        for (block_start, framed) in self.cold.rollup_blocks_of(series, resolution, from, to)? {
            match decode_rollup_block(&framed, block_start, resolution) {
                Ok(decoded) => buckets.extend(
                    decoded
                        .into_iter()
                        .filter(|bucket| bucket.end >= mint && bucket.end <= maxt),
                ),
                Err(error) => {
                    tracing::error!(series = series.0, resolution, block_start, %error,
                        "corrupt rollup block skipped");
                    self.counters.corruptions.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(buckets)
    }

    /// Resolutions (ms) of the rollup tiers.
    pub(super) fn rollup_resolutions(&self) -> Vec<i64> {
        self.options
            .tiers
            .iter()
            .filter_map(|tier| tier.resolution_ms)
            .collect()
    }
}

/// The period (UTC day) of a sample. Periods are left-open like rollup buckets and
/// PromQL ranges — day `d` holds `d * 24h < t <= (d + 1) * 24h` — so every bucket of
/// a resolution dividing a day lies in one period.
fn period_of(t: i64) -> i64 {
    t.saturating_sub(1).div_euclid(BLOCK_PERIOD_MS)
}

/// First and last millisecond of a period, inclusive.
fn period_bounds(period: i64) -> (i64, i64) {
    let start = period.saturating_mul(BLOCK_PERIOD_MS).saturating_add(1);
    (start, start.saturating_add(BLOCK_PERIOD_MS - 1))
}

fn group_by_period(samples: Vec<Sample>) -> BTreeMap<i64, Vec<Sample>> {
    let mut by_period: BTreeMap<i64, Vec<Sample>> = BTreeMap::new();
    for sample in samples {
        by_period
            .entry(period_of(sample.t))
            .or_default()
            .push(sample);
    }
    by_period
}

/// Buckets per rollup block, about: a block spans a whole number of periods (days),
/// the fewest that hold this many buckets (1 day at 1 m, 60 days at 1 h).
const ROLLUP_BUCKETS_PER_BLOCK: i64 = 1440;

/// Span (ms) of a rollup block at `resolution`: a whole number of days.
pub(super) fn rollup_block_span(resolution: i64) -> i64 {
    // Resolutions are positive (validated), so this is a ceiling division.
    let days = (resolution * ROLLUP_BUCKETS_PER_BLOCK + BLOCK_PERIOD_MS - 1) / BLOCK_PERIOD_MS;
    days.max(1) * BLOCK_PERIOD_MS
}

/// Start of the rollup block holding the bucket that ends at `end`: buckets with
/// `block_start < end <= block_start + span` belong to it.
pub(super) fn rollup_block_start(end: i64, resolution: i64) -> i64 {
    let span = rollup_block_span(resolution);
    end.saturating_sub(1).div_euclid(span).saturating_mul(span)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PeriodUpdate {
    Replace,
    Merge,
}

/// The rollup blocks one compaction transaction rewrites, gathered in memory so that
/// several periods of one block (an import of many days) all land in it.
struct Rollups {
    resolutions: Vec<i64>,
    /// (series, resolution, block start) → the block's buckets, by end.
    blocks: BTreeMap<(SeriesRef, i64, i64), Vec<rollup::Bucket>>,
}

impl Rollups {
    fn new(resolutions: Vec<i64>) -> Rollups {
        Rollups {
            resolutions,
            blocks: BTreeMap::new(),
        }
    }

    /// Updates every resolution's buckets of `period` from `samples`: with
    /// `Replace`, the period's complete raw data; with `Merge`, samples none of which
    /// the stored buckets already hold (raw data of the day may be gone).
    fn update_period(
        &mut self,
        storage: &Storage,
        series: SeriesRef,
        period: i64,
        samples: &[Sample],
        update: PeriodUpdate,
    ) -> Result<(), StorageError> {
        let (first, last) = period_bounds(period);
        for &resolution in &self.resolutions {
            let block_start = rollup_block_start(last, resolution);
            let key = (series, resolution, block_start);
            let buckets = match self.blocks.entry(key) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => {
                    let whole = rollup_block_span(resolution) == BLOCK_PERIOD_MS;
                    let stored = if whole && update == PeriodUpdate::Replace {
                        // The block is this one period, replaced whole.
                        Vec::new()
                    } else {
                        load_rollup_block(storage, series, resolution, block_start)?
                    };
                    entry.insert(stored)
                }
            };
            let (inside, mut kept): (Vec<rollup::Bucket>, Vec<rollup::Bucket>) =
                std::mem::take(buckets)
                    .into_iter()
                    .partition(|bucket| bucket.end >= first && bucket.end <= last);
            let new = rollup::buckets(samples, resolution);
            match update {
                PeriodUpdate::Replace => kept.extend(new),
                PeriodUpdate::Merge => kept.extend(rollup::merge(inside, new)),
            }
            kept.sort_by_key(|bucket| bucket.end);
            *buckets = kept;
        }
        Ok(())
    }

    /// Encodes every block, on every core (pco's encoder dominates compaction).
    fn encode(self) -> Result<Vec<RollupBlock>, StorageError> {
        let blocks: Vec<((SeriesRef, i64, i64), Vec<rollup::Bucket>)> =
            self.blocks.into_iter().collect();
        on_every_core(&blocks, |(key, buckets)| encode_rollup_block(*key, buckets))
    }
}

/// `encode` applied to every item, the items split in contiguous shares over the
/// cores; results keep the items' order, and the first error is returned.
fn on_every_core<T: Sync, R: Send>(
    items: &[T],
    encode: impl Fn(&T) -> Result<R, StorageError> + Sync,
) -> Result<Vec<R>, StorageError> {
    let threads = std::thread::available_parallelism().map_or(1, |count| count.get());
    let per_thread = items.len().div_ceil(threads).max(1);
    let encode = &encode;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(per_thread)
            .map(|part| scope.spawn(move || part.iter().map(encode).collect::<Result<Vec<_>, _>>()))
            .collect();
        let mut encoded = Vec::with_capacity(items.len());
        for worker in workers {
            let part = worker
                .join()
                .unwrap_or_else(|_| panic!("BUG: an encoder thread panicked"));
            encoded.extend(part?);
        }
        Ok(encoded)
    })
}

fn encode_rollup_block(
    (series, resolution, block_start): (SeriesRef, i64, i64),
    buckets: &[rollup::Bucket],
) -> Result<RollupBlock, StorageError> {
    let payload = rollup::encode_block(block_start, resolution, buckets).map_err(|error| {
        StorageError::Io {
            path: std::path::PathBuf::from("(rollup encoder)"),
            source: std::io::Error::other(format!("series {}: {error}", series.0)),
        }
    })?;
    Ok(RollupBlock {
        series,
        resolution,
        block_start,
        buckets: u32::try_from(buckets.len()).unwrap_or(u32::MAX),
        data: chunk::frame(chunk::Encoding::Rollup, &payload),
    })
}

/// The buckets of a stored rollup block; a damaged block is logged, counted and
/// rebuilt from what this compaction writes (its other periods are lost until they
/// are compacted again).
fn load_rollup_block(
    storage: &Storage,
    series: SeriesRef,
    resolution: i64,
    block_start: i64,
) -> Result<Vec<rollup::Bucket>, StorageError> {
    let Some(framed) = storage.cold.rollup_block(series, resolution, block_start)? else {
        return Ok(Vec::new());
    };
    match decode_rollup_block(&framed, block_start, resolution) {
        Ok(buckets) => Ok(buckets),
        Err(error) => {
            tracing::error!(series = series.0, resolution, block_start, %error,
                "corrupt rollup block replaced");
            storage.counters.corruptions.fetch_add(1, Ordering::Relaxed);
            Ok(Vec::new())
        }
    }
}

/// Unframes and decodes a rollup block.
pub(super) fn decode_rollup_block(
    framed: &[u8],
    block_start: i64,
    resolution: i64,
) -> Result<Vec<rollup::Bucket>, chunk::ChunkError> {
    let (encoding, payload) = chunk::unframe(framed)?;
    if encoding != chunk::Encoding::Rollup {
        return Err(chunk::ChunkError::Corrupt(format!(
            "a {encoding:?} frame where a rollup block was expected"
        )));
    }
    rollup::decode_block(block_start, resolution, payload)
}

/// Sorts samples gathered from several chunks (a stable sort: for equal timestamps
/// the first chunk's sample stays first) and keeps one sample per timestamp. Chunks
/// arrive mostly in order, so this is usually one linear check.
fn into_time_order(samples: &mut Vec<Sample>) {
    if !samples.is_sorted_by_key(|sample| sample.t) {
        samples.sort_by_key(|sample| sample.t);
    }
    samples.dedup_by_key(|sample| sample.t);
}

/// SQLite's usable bytes per page (`cold.rs` sets 64 KiB pages) less the page header,
/// and a generous per-row overhead (cell pointer, lengths, rowid, the integer columns).
const PAGE_BYTES: usize = 65536 - 8;
const ROW_OVERHEAD_BYTES: usize = 48;

/// Orders blocks so that consecutive inserts fill SQLite pages. Rows are appended in
/// insert order, and a row that does not fit the rest of a page starts a new one; day
/// blocks range from a few hundred bytes (constants) to ~30 KiB (full-precision
/// floats), so plain order left 16 % of the file empty on the bench dataset.
/// First-fit decreasing: place each block, largest first, in the first page-sized bin
/// with room, then emit bin after bin.
fn in_page_order(mut blocks: Vec<StoredBlock>) -> Vec<StoredBlock> {
    let row_bytes = |block: &StoredBlock| block.data.len() + ROW_OVERHEAD_BYTES;
    blocks.sort_by_key(|block| std::cmp::Reverse(row_bytes(block)));
    let mut bins: Vec<(usize, Vec<StoredBlock>)> = Vec::new();
    for block in blocks {
        let size = row_bytes(&block);
        match bins.iter_mut().find(|(used, _)| used + size <= PAGE_BYTES) {
            Some((used, members)) => {
                *used += size;
                members.push(block);
            }
            None => bins.push((size, vec![block])),
        }
    }
    bins.into_iter().flat_map(|(_, members)| members).collect()
}

/// Encodes blocks on every core: pco encoding (with its verifying decode) is the
/// expensive part of compaction, and blocks are independent.
fn encode_blocks(pending: Vec<(SeriesRef, Vec<Sample>)>) -> Result<Vec<StoredBlock>, StorageError> {
    on_every_core(&pending, |(series, samples)| encode_block(*series, samples))
}

/// One pco block. `pco::encode` decodes its own output and compares bit patterns
/// before returning, so what reaches SQLite is known to read back exactly.
fn encode_block(series: SeriesRef, samples: &[Sample]) -> Result<StoredBlock, StorageError> {
    let timestamps: Vec<i64> = samples.iter().map(|sample| sample.t).collect();
    let values: Vec<f64> = samples.iter().map(|sample| sample.v).collect();
    let payload = chunk::pco::encode(&timestamps, &values).map_err(|error| StorageError::Io {
        path: std::path::PathBuf::from("(block encoder)"),
        source: std::io::Error::other(format!("series {}: {error}", series.0)),
    })?;
    Ok(StoredBlock {
        id: 0,
        series,
        min_t: timestamps.first().copied().unwrap_or(0),
        max_t: timestamps.last().copied().unwrap_or(0),
        count: u32::try_from(samples.len()).unwrap_or(u32::MAX),
        data: chunk::frame(chunk::Encoding::Pco, &payload),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(id: i64, bytes: usize) -> StoredBlock {
        StoredBlock {
            id,
            series: SeriesRef(id as u64),
            min_t: 0,
            max_t: 0,
            count: 1,
            data: vec![0; bytes],
        }
    }

    #[test]
    fn page_order_keeps_every_block_and_fills_pages() {
        let sizes = [30_000, 500, 29_000, 2_000, 31_000, 3_000, 600, 20_000];
        let blocks: Vec<StoredBlock> = sizes
            .iter()
            .enumerate()
            .map(|(i, size)| block(i as i64, *size))
            .collect();
        let ordered = in_page_order(blocks);
        let mut ids: Vec<i64> = ordered.iter().map(|block| block.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..sizes.len() as i64).collect::<Vec<_>>());
        // Simulate SQLite's append: a row that does not fit starts a new page.
        let mut pages = 1;
        let mut used = 0;
        for block in &ordered {
            let size = block.data.len() + ROW_OVERHEAD_BYTES;
            if used + size > PAGE_BYTES {
                pages += 1;
                used = 0;
            }
            used += size;
        }
        assert_eq!(pages, 2, "116 KiB of rows fit two 64 KiB pages when packed");
    }

    #[test]
    fn time_order_keeps_the_first_sample_of_a_timestamp() {
        let mut samples = vec![
            Sample { t: 3, v: 3.0 },
            Sample { t: 1, v: 1.0 },
            Sample { t: 3, v: 9.0 },
            Sample { t: 2, v: 2.0 },
        ];
        into_time_order(&mut samples);
        assert_eq!(
            samples,
            [
                Sample { t: 1, v: 1.0 },
                Sample { t: 2, v: 2.0 },
                Sample { t: 3, v: 3.0 }
            ]
        );
    }
}
