//! Compaction: sealed chunks leave sled for SQLite, re-encoded with pco as one block
//! per series and UTC day.
//! Owns: when data moves, the period of a block, merging partial blocks of a day,
//! and quarantining chunks or blocks that fail their checksum.
//! Does not: choose tiers or retention (the tiers issue adds rollups here).

use super::cold::StoredBlock;
use super::{Storage, StorageError, chunk, decode_framed};
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
}

#[derive(Clone)]
struct SeriesWork {
    series: SeriesRef,
    keys: Vec<sled::IVec>,
    samples: Vec<Sample>,
}

impl Storage {
    /// Moves every sealed chunk whose last sample is older than `before_t` into
    /// SQLite blocks. With `i64::MAX`, all sealed chunks move (`finish_offline`,
    /// `POST /api/v1/admin/compact`).
    pub fn compact(&self, before_t: i64) -> Result<CompactionReport, StorageError> {
        let _maintenance = self
            .maintenance
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.persist_catalog()?;
        let mut report = CompactionReport::default();
        let mut batch: Vec<SeriesWork> = Vec::new();
        let mut compacted_keys: Vec<sled::IVec> = Vec::new();
        self.compact_staged(&mut report)?;
        let mut current: Option<SeriesWork> = None;
        for item in self.hot.chunk_index() {
            let (key, series, start_t) = item?;
            if current.as_ref().is_some_and(|work| work.series != series) {
                batch.extend(current.take());
                if batch.len() >= SERIES_PER_TRANSACTION {
                    self.write_blocks(
                        std::mem::take(&mut batch),
                        &mut compacted_keys,
                        &mut report,
                    )?;
                }
            }
            let work = current.get_or_insert_with(|| SeriesWork {
                series,
                keys: Vec::new(),
                samples: Vec::new(),
            });
            // A chunk that starts after the cut-off cannot end before it: skip the decode.
            if start_t >= before_t {
                continue;
            }
            let Some(value) = self.hot.chunk_get(&key)? else {
                continue;
            };
            match decode_framed(&value) {
                Ok(samples) if samples.last().is_some_and(|last| last.t < before_t) => {
                    report.chunks += 1;
                    work.samples.extend(samples);
                    work.keys.push(key);
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(series = series.0, %error, "corrupt chunk quarantined");
                    self.counters.corruptions.fetch_add(1, Ordering::Relaxed);
                    self.hot.quarantine_chunk(&key)?;
                }
            }
        }
        batch.extend(current.take());
        self.write_blocks(batch, &mut compacted_keys, &mut report)?;
        if !compacted_keys.is_empty() {
            // Blocks must be on disk before sled forgets the chunks.
            self.cold.checkpoint()?;
            self.hot.chunk_remove_all(&compacted_keys)?;
            self.hot.flush()?;
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
        let mut no_keys = Vec::new();
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
                        self.write_blocks(std::mem::take(&mut batch), &mut no_keys, report)?;
                    }
                    batch.push(SeriesWork {
                        series: chunk.series,
                        keys: Vec::new(),
                        samples,
                    });
                }
            }
        }
        self.write_blocks(batch, &mut no_keys, report)?;
        Ok(())
    }

    /// Bytes of chunks staged for compaction.
    pub fn staged_bytes(&self) -> u64 {
        self.staged_bytes.load(Ordering::Relaxed)
    }

    fn write_blocks(
        &self,
        batch: Vec<SeriesWork>,
        compacted_keys: &mut Vec<sled::IVec>,
        report: &mut CompactionReport,
    ) -> Result<(), StorageError> {
        let mut replaced = Vec::new();
        let mut pending: Vec<(SeriesRef, Vec<Sample>)> = Vec::new();
        for mut work in batch {
            if work.samples.is_empty() {
                continue;
            }
            into_time_order(&mut work.samples);
            report.samples += work.samples.len() as u64;
            let mut by_period: BTreeMap<i64, Vec<Sample>> = BTreeMap::new();
            for sample in work.samples {
                by_period
                    .entry(sample.t.div_euclid(BLOCK_PERIOD_MS))
                    .or_default()
                    .push(sample);
            }
            for (period, samples) in by_period {
                let start = period * BLOCK_PERIOD_MS;
                let end = start + BLOCK_PERIOD_MS - 1;
                let mut merged = samples;
                for block in self.cold.blocks_of(work.series, start, end)? {
                    // Only blocks wholly inside the period are merged; there are no others.
                    match decode_framed(&block.data) {
                        Ok(stored) => merged = super::querier_merge(merged, stored),
                        Err(error) => {
                            tracing::error!(series = work.series.0, block = block.id, %error, "corrupt block quarantined");
                            self.counters.corruptions.fetch_add(1, Ordering::Relaxed);
                            self.cold.quarantine_block(block.id, &error.to_string())?;
                            continue;
                        }
                    }
                    replaced.push(block.id);
                }
                pending.push((work.series, merged));
            }
            compacted_keys.extend(work.keys);
        }
        let blocks = in_page_order(encode_blocks(pending)?);
        report.blocks_written += blocks.len() as u64;
        self.cold.replace_blocks(&replaced, &blocks)?;
        Ok(())
    }
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
    let threads = std::thread::available_parallelism().map_or(1, |count| count.get());
    let per_thread = pending.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = pending
            .chunks(per_thread)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(series, samples)| encode_block(*series, samples))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut blocks = Vec::with_capacity(pending.len());
        for worker in workers {
            let encoded = worker
                .join()
                .unwrap_or_else(|_| panic!("BUG: a block encoder thread panicked"));
            blocks.extend(encoded?);
        }
        Ok(blocks)
    })
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
