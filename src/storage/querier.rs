//! The read side of storage: which series match, and their samples in time order.
//! Owns: gathering a series' data from the head, the hot chunks and SQLite, and merging it
//! lazily (a chunk or block is decoded when the iterator reaches it).
//! Does not: evaluate anything; the query engine consumes `SampleIter`.
//!
//! Order of reading is head, then hot chunks, then SQLite: data only ever moves in that
//! direction (head → hot under the series lock; hot → SQLite with the SQLite commit
//! before the hot chunks are forgotten), so a concurrent move shows data twice (merged
//! away here), never zero times.

use super::rollup::{self, Bucket, bucket_end};
use super::{Storage, StorageError, decode_framed};
use crate::model::{Labels, Matcher, Sample, SeriesRef};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

/// How the query engine wants a series served: raw samples, or the buckets of the
/// rollup tier of `resolution` ms (the engine chooses, from `Storage::tier_coverage`).
#[derive(Clone, Debug, Default)]
pub struct SelectHints {
    pub resolution: Option<i64>,
}

/// The rollup part of a series read from a rollup tier: stored blocks for buckets
/// ending up to `split`, raw samples (the `SeriesData`'s sources) after it.
struct RollupPart {
    resolution: i64,
    blocks: Vec<(i64, Vec<u8>)>,
    /// Buckets ending in `[first_end, split]` come from `blocks`.
    first_end: i64,
    split: i64,
}

enum Source {
    /// A framed chunk or block, decoded on demand.
    Framed {
        start_t: i64,
        bytes: Vec<u8>,
    },
    /// The head's open chunk (unframed XOR).
    OpenChunk {
        start_t: i64,
        bytes: Vec<u8>,
    },
    Samples {
        start_t: i64,
        samples: Vec<Sample>,
    },
}

impl Source {
    fn start_t(&self) -> i64 {
        match self {
            Source::Framed { start_t, .. }
            | Source::OpenChunk { start_t, .. }
            | Source::Samples { start_t, .. } => *start_t,
        }
    }
}

/// One series and the places its samples are in.
pub struct SeriesData<'a> {
    pub series: SeriesRef,
    pub labels: Labels,
    sources: Vec<Source>,
    mint: i64,
    maxt: i64,
    corruptions: &'a AtomicU64,
    rollup: Option<RollupPart>,
}

impl<'a> SeriesData<'a> {
    /// The resolution (ms) of the rollup tier this series is served from; `None` for
    /// raw samples.
    pub fn resolution(&self) -> Option<i64> {
        self.rollup.as_ref().map(|part| part.resolution)
    }

    /// The series' buckets at its rollup resolution, by end: stored ones, then ones
    /// computed from samples not yet compacted. Empty for a raw series.
    pub fn into_buckets(mut self) -> Vec<Bucket> {
        let Some(part) = self.rollup.take() else {
            return Vec::new();
        };
        let mut buckets = Vec::new();
        for (block_start, framed) in &part.blocks {
            match super::compact::decode_rollup_block(framed, *block_start, part.resolution) {
                Ok(decoded) => {
                    // Decoded buckets are in order of end: copy the slice wanted.
                    let low = decoded.partition_point(|bucket| bucket.end < part.first_end);
                    let high = decoded.partition_point(|bucket| bucket.end <= part.split);
                    if buckets.is_empty() && low == 0 && high == decoded.len() {
                        buckets = decoded;
                    } else {
                        buckets.extend_from_slice(&decoded[low..high.max(low)]);
                    }
                }
                Err(error) => {
                    self.corruptions.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(series = self.series.0, %error, "corrupt rollup block skipped while reading");
                }
            }
        }
        let raw = self.into_vec();
        buckets.extend(rollup::buckets(&raw, part.resolution));
        buckets
    }

    /// All of the series' samples in `[mint, maxt]`, ascending, one per timestamp:
    /// what `samples()` yields, decoded a chunk at a time instead of a sample at a
    /// time (a query reading millions of samples spends a fifth less).
    pub fn into_vec(self) -> Vec<Sample> {
        let mut iter = self.samples();
        let mut all: Vec<Sample> = Vec::new();
        loop {
            iter.refill();
            if iter.buffer.is_empty() {
                return all;
            }
            if all.is_empty() {
                all = Vec::from(std::mem::take(&mut iter.buffer));
            } else {
                all.extend(iter.buffer.drain(..));
            }
        }
    }

    /// The series' samples in `[mint, maxt]`, ascending, one per timestamp.
    pub fn samples(self) -> SampleIter<'a> {
        let mut sources = self.sources;
        sources.sort_by_key(Source::start_t);
        SampleIter {
            sources: sources.into(),
            buffer: VecDeque::new(),
            mint: self.mint,
            maxt: self.maxt,
            corruptions: self.corruptions,
        }
    }
}

pub struct SampleIter<'a> {
    sources: VecDeque<Source>,
    buffer: VecDeque<Sample>,
    mint: i64,
    maxt: i64,
    corruptions: &'a AtomicU64,
}

impl SampleIter<'_> {
    fn decode(&self, source: Source) -> Vec<Sample> {
        let decoded = match source {
            Source::Framed { bytes, .. } => decode_framed(&bytes),
            Source::OpenChunk { bytes, .. } => super::chunk_samples(&bytes),
            Source::Samples { samples, .. } => Ok(samples),
        };
        match decoded {
            Ok(samples) => samples
                .into_iter()
                .filter(|sample| sample.t >= self.mint && sample.t <= self.maxt)
                .collect(),
            Err(error) => {
                // The compactor quarantines it when it gets there; a query skips it.
                self.corruptions.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, "corrupt chunk skipped while reading");
                Vec::new()
            }
        }
    }

    /// Decodes the next source, and every later one that overlaps what is buffered.
    fn refill(&mut self) {
        while self.buffer.is_empty() {
            let Some(source) = self.sources.pop_front() else {
                return;
            };
            let mut merged = self.decode(source);
            while let (Some(last), Some(next)) = (merged.last(), self.sources.front()) {
                if next.start_t() > last.t {
                    break;
                }
                let Some(next) = self.sources.pop_front() else {
                    break;
                };
                let decoded = self.decode(next);
                merged = merge(merged, decoded);
            }
            self.buffer = merged.into();
        }
    }
}

/// Merges two ascending runs; on equal timestamps the first run's sample wins.
pub(super) fn merge(first: Vec<Sample>, second: Vec<Sample>) -> Vec<Sample> {
    let mut merged = Vec::with_capacity(first.len() + second.len());
    let (mut a, mut b) = (first.into_iter().peekable(), second.into_iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.t < y.t => merged.extend(a.next()),
            (Some(x), Some(y)) if x.t > y.t => merged.extend(b.next()),
            (Some(_), Some(_)) => {
                merged.extend(a.next());
                b.next();
            }
            (Some(_), None) => merged.extend(a.next()),
            (None, Some(_)) => merged.extend(b.next()),
            (None, None) => return merged,
        }
    }
}

impl Iterator for SampleIter<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.buffer.is_empty() {
            self.refill();
        }
        self.buffer.pop_front()
    }
}

impl Storage {
    /// Every series matching `matchers` that may have samples in `[mint, maxt]`, as
    /// raw samples or, with `hints.resolution`, as that rollup tier's buckets ending
    /// in `[mint, maxt]` (and the bucket holding `maxt`).
    pub fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: &SelectHints,
    ) -> Result<Vec<SeriesData<'_>>, StorageError> {
        let refs = self.catalog.select(matchers);
        let mut result = Vec::new();
        for id in refs.iter() {
            let series = SeriesRef(u64::from(id));
            let data = match hints.resolution {
                Some(resolution) if resolution > 0 => {
                    self.rollup_series_data(series, resolution, mint, maxt)?
                }
                _ => self.series_data(series, mint, maxt)?,
            };
            let has_rollups = data
                .rollup
                .as_ref()
                .is_some_and(|part| !part.blocks.is_empty());
            if !data.sources.is_empty() || has_rollups {
                result.push(data);
            }
        }
        Ok(result)
    }

    /// Where a series' data not yet compacted lies: the head and the hot chunks.
    fn uncompacted_sources(
        &self,
        series: SeriesRef,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Source>, StorageError> {
        let mut sources = Vec::new();
        let head = self.head.snapshot(series, mint, maxt);
        if let (Some(bytes), Some((start_t, _))) = (head.open_chunk, head.open_range) {
            sources.push(Source::OpenChunk { start_t, bytes });
        }
        if let Some(first) = head.out_of_order.first() {
            sources.push(Source::Samples {
                start_t: first.t,
                samples: head.out_of_order,
            });
        }
        for chunk in self.hot.chunks_of(series, mint, maxt) {
            // `None`: compaction moved it meanwhile; the blocks read below have it.
            if let Some(bytes) = self.hot.read(&chunk)? {
                sources.push(Source::Framed {
                    start_t: chunk.start_t,
                    bytes,
                });
            }
        }
        Ok(sources)
    }

    fn series_data(
        &self,
        series: SeriesRef,
        mint: i64,
        maxt: i64,
    ) -> Result<SeriesData<'_>, StorageError> {
        let mut sources = self.uncompacted_sources(series, mint, maxt)?;
        for block in self.cold.blocks_of(series, mint, maxt)? {
            sources.push(Source::Framed {
                start_t: block.min_t,
                bytes: block.data,
            });
        }
        Ok(SeriesData {
            series,
            labels: self.catalog.labels(series).unwrap_or_default(),
            sources,
            mint,
            maxt,
            corruptions: &self.counters.corruptions,
            rollup: None,
        })
    }

    /// A series on the rollup tier of `resolution`. Stored rollups hold every
    /// compacted sample; samples still in the head or the hot chunk log have none
    /// yet. So buckets from the first one holding such a sample on are computed from
    /// raw data (the compacted samples in them included), and earlier ones are read.
    /// Raw data older than the raw tier's horizon may be gone: buckets before it are
    /// always read (a late sample there shows once compacted, merged into them).
    fn rollup_series_data(
        &self,
        series: SeriesRef,
        resolution: i64,
        mint: i64,
        maxt: i64,
    ) -> Result<SeriesData<'_>, StorageError> {
        let first_end = bucket_end(mint, resolution);
        let last_end = bucket_end(maxt, resolution);
        let uncompacted = self.uncompacted_sources(series, first_end - resolution + 1, maxt)?;
        let mut split = match uncompacted.iter().map(Source::start_t).min() {
            Some(t) => bucket_end(t, resolution) - resolution,
            None => last_end,
        };
        let raw_horizon = self.raw_horizon();
        if raw_horizon > split {
            split = bucket_end(raw_horizon, resolution).min(last_end);
        }
        split = split.max(first_end - resolution);
        let mut sources = uncompacted;
        if split < maxt {
            for block in self.cold.blocks_of(series, split + 1, maxt)? {
                sources.push(Source::Framed {
                    start_t: block.min_t,
                    bytes: block.data,
                });
            }
        }
        let blocks = if split >= first_end {
            self.cold.rollup_blocks_of(
                series,
                resolution,
                super::compact::rollup_block_start(first_end, resolution),
                super::compact::rollup_block_start(split, resolution),
            )?
        } else {
            Vec::new()
        };
        Ok(SeriesData {
            series,
            labels: self.catalog.labels(series).unwrap_or_default(),
            sources,
            mint: split + 1,
            maxt,
            corruptions: &self.counters.corruptions,
            rollup: Some(RollupPart {
                resolution,
                blocks,
                first_end,
                split,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|(t, v)| Sample { t: *t, v: *v })
            .collect()
    }

    #[test]
    fn merge_keeps_order_and_first_of_equal_timestamps() {
        let merged = merge(
            samples(&[(1, 1.0), (3, 3.0), (5, 5.0)]),
            samples(&[(2, 2.0), (3, 9.0), (6, 6.0)]),
        );
        assert_eq!(
            merged,
            samples(&[(1, 1.0), (2, 2.0), (3, 3.0), (5, 5.0), (6, 6.0)])
        );
    }
}
