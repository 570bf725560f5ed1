//! The head: per-series open chunks in memory, compressed as samples arrive.
//! Owns: in-order and out-of-order acceptance rules, duplicate detection, when a
//! chunk is sealed, and the WAL position each open chunk still depends on.
//! Does not: write anything to disk (sealed chunks are returned to the caller).
//!
//! Series live in shards, each behind its own mutex, so appends to different series
//! run in parallel; a series' index within its shard is `ref / SHARDS`.

use super::chunk::xor::XorAppender;
use crate::limits;
use crate::model::{Sample, SeriesRef};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

const SHARDS: usize = 64;

/// Why the head refused a sample.
#[derive(Clone, Debug, PartialEq)]
pub enum HeadRejection {
    /// Older than the newest sample minus the out-of-order window.
    TooOld { newest_t: i64, window_ms: i64 },
    /// Same timestamp as a stored sample, different value.
    DuplicateTimestamp { stored: f64 },
}

/// A chunk that left the head, to be written to the hot store.
#[derive(Clone, Debug)]
pub struct SealedChunk {
    pub series: SeriesRef,
    pub start_t: i64,
    pub end_t: i64,
    /// The XOR encoding (unframed).
    pub bytes: Vec<u8>,
}

/// What a query needs from the head for one series.
#[derive(Clone, Debug, Default)]
pub struct HeadSnapshot {
    /// The open in-order chunk's encoding, when it has samples.
    pub open_chunk: Option<Vec<u8>>,
    pub open_range: Option<(i64, i64)>,
    /// Out-of-order samples not yet sealed, sorted by time.
    pub out_of_order: Vec<Sample>,
}

/// One series in the head. This and its open chunk's bytes are most of what memory
/// holds per live series, so it is kept small: out-of-order samples, rare, live
/// behind a pointer.
struct MemSeries {
    open: XorAppender,
    /// WAL sequence of the first sample in `open` (meaningful when it has samples).
    open_wal_seq: u64,
    /// Newest in-order timestamp ever accepted, and its value.
    newest_t: i64,
    newest_v: f64,
    oldest_t: i64,
    out_of_order: Option<Box<OutOfOrder>>,
}

/// Samples older than the open chunk, not yet sealed, sorted by time.
struct OutOfOrder {
    samples: Vec<Sample>,
    wal_seq: u64,
}

impl MemSeries {
    fn new() -> MemSeries {
        MemSeries {
            open: XorAppender::new(),
            open_wal_seq: 0,
            newest_t: i64::MIN,
            newest_v: 0.0,
            oldest_t: i64::MAX,
            out_of_order: None,
        }
    }

    fn out_of_order(&self) -> &[Sample] {
        self.out_of_order
            .as_ref()
            .map_or(&[], |buffer| buffer.samples.as_slice())
    }
}

/// Slots per page of a shard. Series live in fixed pages rather than one growing
/// `Vec`, whose doubling left up to half of its capacity unused.
const PAGE_SLOTS: usize = 64;

#[derive(Default)]
struct Shard {
    pages: Vec<Box<[Option<MemSeries>]>>,
}

impl Shard {
    fn get(&self, index: usize) -> Option<&MemSeries> {
        self.pages
            .get(index / PAGE_SLOTS)
            .and_then(|page| page[index % PAGE_SLOTS].as_ref())
    }

    fn slot(&mut self, index: usize) -> &mut Option<MemSeries> {
        let page = index / PAGE_SLOTS;
        while self.pages.len() <= page {
            self.pages.push((0..PAGE_SLOTS).map(|_| None).collect());
        }
        &mut self.pages[page][index % PAGE_SLOTS]
    }

    /// Every series with its index in the shard.
    fn iter(&self) -> impl Iterator<Item = (usize, &MemSeries)> {
        self.pages.iter().enumerate().flat_map(|(page, slots)| {
            slots
                .iter()
                .enumerate()
                .filter_map(move |(offset, memory)| {
                    memory
                        .as_ref()
                        .map(|memory| (page * PAGE_SLOTS + offset, memory))
                })
        })
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut MemSeries)> {
        self.pages.iter_mut().enumerate().flat_map(|(page, slots)| {
            slots
                .iter_mut()
                .enumerate()
                .filter_map(move |(offset, memory)| {
                    memory
                        .as_mut()
                        .map(|memory| (page * PAGE_SLOTS + offset, memory))
                })
        })
    }
}

/// Outcome of appending one series' samples. Callers reuse one across series
/// (`clear`), so an append of many series allocates nothing per series.
#[derive(Debug, Default)]
pub struct HeadAppend {
    pub accepted: Vec<Sample>,
    /// Samples equal to a stored one: accepted without storing them again.
    pub unchanged: usize,
    pub rejected: Vec<(Sample, HeadRejection)>,
}

impl HeadAppend {
    pub fn clear(&mut self) {
        self.accepted.clear();
        self.unchanged = 0;
        self.rejected.clear();
    }
}

pub struct Head {
    shards: Box<[Mutex<Shard>]>,
    /// `[limits] out_of_order_window`.
    window_ms: i64,
    /// Kept as counters so that `/metrics` does not lock every shard and walk every
    /// series on each scrape.
    series_count: AtomicU64,
    samples_held: AtomicU64,
}

fn held(memory: &MemSeries) -> u64 {
    (memory.open.count() + memory.out_of_order().len()) as u64
}

fn slot(series: SeriesRef) -> (usize, usize) {
    (
        (series.0 % SHARDS as u64) as usize,
        (series.0 / SHARDS as u64) as usize,
    )
}

impl Head {
    pub fn new(window_ms: i64) -> Head {
        Head {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            window_ms,
            series_count: AtomicU64::new(0),
            samples_held: AtomicU64::new(0),
        }
    }

    fn shard(&self, index: usize) -> std::sync::MutexGuard<'_, Shard> {
        // A panic mid-append leaves at worst one series' open chunk short; serving on
        // is better than refusing every later append.
        self.shards[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends `samples` (any order) to `series`. Chunks sealed on the way are handed to
    /// `sealed` while the series is still locked, so a reader never finds a sample in
    /// neither the head nor the hot store. `wal_seq` is the WAL entry holding them;
    /// `stored_at(t)` answers whether a sealed chunk already holds a sample at `t`, and
    /// is asked only for out-of-order samples older than the open chunk. The outcome
    /// is added to `result`.
    pub fn append(
        &self,
        series: SeriesRef,
        samples: &[Sample],
        wal_seq: u64,
        sealed: &mut dyn FnMut(SealedChunk),
        stored_at: &mut dyn FnMut(i64) -> Option<f64>,
        result: &mut HeadAppend,
    ) {
        let (shard_index, index) = slot(series);
        let mut shard = self.shard(shard_index);
        let slot = shard.slot(index);
        if slot.is_none() {
            self.series_count.fetch_add(1, Ordering::Relaxed);
        }
        let memory = slot.get_or_insert_with(MemSeries::new);
        let before = held(memory);
        let context = AppendContext {
            series,
            wal_seq,
            window_ms: self.window_ms,
        };
        for sample in samples {
            append_one(memory, &context, *sample, sealed, stored_at, result);
        }
        self.adjust_held(before, held(memory));
    }

    /// Appends a batch, taking each shard's lock once: the series are visited shard
    /// by shard (a stable counting sort, so a series listed twice keeps its order),
    /// and `samples_held` is adjusted once. Per series, `each` receives its outcome
    /// (cleared before every series) while the shard is still locked.
    ///
    /// Why not `append` in a loop: a scrape's series have consecutive refs, so every
    /// sample landed in a different shard, and the lock, unlock and counter update
    /// (three locked instructions) per sample drained the store buffer each time,
    /// serializing the cache misses on the series' memory. Measured in `perf` at 10 k
    /// series scraped every second: `Head::append` was 16 % of tandem's CPU, 70 % of
    /// it on those instructions.
    #[allow(clippy::too_many_arguments)]
    pub fn append_batch(
        &self,
        batch: &[(SeriesRef, &[Sample])],
        wal_seq: u64,
        sealed: &mut dyn FnMut(SealedChunk),
        stored_at: &mut dyn FnMut(SeriesRef, i64) -> Option<f64>,
        result: &mut HeadAppend,
        each: &mut dyn FnMut(SeriesRef, &mut HeadAppend) -> bool,
    ) {
        // Start of each shard's run in `order`.
        let mut starts = [0usize; SHARDS + 1];
        for (series, _) in batch {
            starts[slot(*series).0 + 1] += 1;
        }
        for shard in 0..SHARDS {
            starts[shard + 1] += starts[shard];
        }
        let mut next = starts;
        let mut order = vec![0usize; batch.len()];
        for (position, (series, _)) in batch.iter().enumerate() {
            let shard = slot(*series).0;
            order[next[shard]] = position;
            next[shard] += 1;
        }
        let (mut held_added, mut held_removed) = (0u64, 0u64);
        let mut created = 0u64;
        'shards: for shard_index in 0..SHARDS {
            let run = &order[starts[shard_index]..starts[shard_index + 1]];
            if run.is_empty() {
                continue;
            }
            let mut shard = self.shard(shard_index);
            for position in run {
                let (series, samples) = batch[*position];
                let slot = shard.slot(slot(series).1);
                if slot.is_none() {
                    created += 1;
                }
                let memory = slot.get_or_insert_with(MemSeries::new);
                let before = held(memory);
                let context = AppendContext {
                    series,
                    wal_seq,
                    window_ms: self.window_ms,
                };
                result.clear();
                for sample in samples {
                    append_one(
                        memory,
                        &context,
                        *sample,
                        sealed,
                        &mut |t| stored_at(series, t),
                        result,
                    );
                }
                let after = held(memory);
                held_added += after.saturating_sub(before);
                held_removed += before.saturating_sub(after);
                if !each(series, result) {
                    break 'shards;
                }
            }
        }
        self.series_count.fetch_add(created, Ordering::Relaxed);
        self.adjust_held(held_removed, held_added);
    }

    fn adjust_held(&self, before: u64, after: u64) {
        if after >= before {
            self.samples_held
                .fetch_add(after - before, Ordering::Relaxed);
        } else {
            self.samples_held
                .fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    /// Copies what the head holds for `series` overlapping `[mint, maxt]`.
    pub fn snapshot(&self, series: SeriesRef, mint: i64, maxt: i64) -> HeadSnapshot {
        let (shard_index, index) = slot(series);
        let shard = self.shard(shard_index);
        let Some(memory) = shard.get(index) else {
            return HeadSnapshot::default();
        };
        let mut snapshot = HeadSnapshot::default();
        if let (Some(first), Some(last)) = (memory.open.first_t(), memory.open.last_t())
            && first <= maxt
            && last >= mint
        {
            snapshot.open_chunk = Some(memory.open.bytes().to_vec());
            snapshot.open_range = Some((first, last));
        }
        snapshot.out_of_order = memory
            .out_of_order()
            .iter()
            .filter(|sample| sample.t >= mint && sample.t <= maxt)
            .copied()
            .collect();
        snapshot
    }

    /// Starts `series` as if `newest` had been appended and sealed, so that WAL replay
    /// after a restart recognises samples already in sealed chunks as duplicates.
    pub fn restore_newest(&self, series: SeriesRef, oldest_t: i64, newest: Sample) {
        let (shard_index, index) = slot(series);
        let mut shard = self.shard(shard_index);
        let slot = shard.slot(index);
        if slot.is_none() {
            self.series_count.fetch_add(1, Ordering::Relaxed);
        }
        let memory = slot.get_or_insert_with(MemSeries::new);
        if newest.t > memory.newest_t {
            memory.newest_t = newest.t;
            memory.newest_v = newest.v;
        }
        memory.oldest_t = memory.oldest_t.min(oldest_t);
    }

    /// The oldest and newest timestamp stored for any series (`None` when empty). Walks
    /// every series: for status pages, not for hot paths.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let mut range: Option<(i64, i64)> = None;
        for shard in self.shards.iter() {
            let shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (_, memory) in shard.iter() {
                if memory.newest_t < memory.oldest_t {
                    continue;
                }
                range = Some(match range {
                    None => (memory.oldest_t, memory.newest_t),
                    Some((min, max)) => (min.min(memory.oldest_t), max.max(memory.newest_t)),
                });
            }
        }
        range
    }

    /// Of `candidates`, the series whose stored samples span a time range that overlaps
    /// `[mint, maxt]` (a series with a gap covering the whole range still counts: the
    /// span is kept per series, not per chunk). One lock per shard, not per series.
    pub fn overlapping(
        &self,
        candidates: &roaring::RoaringBitmap,
        mint: i64,
        maxt: i64,
    ) -> roaring::RoaringBitmap {
        let mut result = roaring::RoaringBitmap::new();
        for (shard_index, shard) in self.shards.iter().enumerate() {
            let shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (index, memory) in shard.iter() {
                let Ok(series) = u32::try_from(index * SHARDS + shard_index) else {
                    continue;
                };
                if memory.oldest_t <= maxt && memory.newest_t >= mint && candidates.contains(series)
                {
                    result.insert(series);
                }
            }
        }
        result
    }

    /// Seals every open chunk and out-of-order buffer whose newest sample is older than
    /// `before_t` (all of them with `i64::MAX`), so idle series stop pinning the WAL.
    pub fn seal_idle(&self, before_t: i64, sealed: &mut dyn FnMut(SealedChunk)) {
        for (shard_index, shard) in self.shards.iter().enumerate() {
            let mut shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (index, memory) in shard.iter_mut() {
                let series = SeriesRef((index * SHARDS + shard_index) as u64);
                let before = held(memory);
                if memory.open.last_t().is_some_and(|last| last < before_t) {
                    seal_open(memory, series, 0, sealed);
                }
                if memory
                    .out_of_order()
                    .last()
                    .is_some_and(|last| last.t < before_t)
                {
                    seal_out_of_order(memory, series, sealed);
                }
                self.adjust_held(before, held(memory));
            }
        }
    }

    /// The oldest WAL sequence any unsealed sample still depends on.
    pub fn wal_low_watermark(&self) -> Option<u64> {
        let mut lowest: Option<u64> = None;
        for shard in self.shards.iter() {
            let shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (_, memory) in shard.iter() {
                if memory.open.count() > 0 {
                    lowest = Some(
                        lowest.map_or(memory.open_wal_seq, |low| low.min(memory.open_wal_seq)),
                    );
                }
                if let Some(buffer) = &memory.out_of_order {
                    let seq = buffer.wal_seq;
                    lowest = Some(lowest.map_or(seq, |low| low.min(seq)));
                }
            }
        }
        lowest
    }

    /// (series with samples, samples held, bytes of open chunks).
    /// (series the head tracks, samples in open chunks and out-of-order buffers).
    pub fn stats(&self) -> (u64, u64) {
        (
            self.series_count.load(Ordering::Relaxed),
            self.samples_held.load(Ordering::Relaxed),
        )
    }
}

/// What stays the same for every sample of one append.
struct AppendContext {
    series: SeriesRef,
    wal_seq: u64,
    window_ms: i64,
}

fn append_one(
    memory: &mut MemSeries,
    context: &AppendContext,
    sample: Sample,
    sealed: &mut dyn FnMut(SealedChunk),
    stored_at: &mut dyn FnMut(i64) -> Option<f64>,
    result: &mut HeadAppend,
) {
    if sample.t > memory.newest_t {
        let span_full = memory
            .open
            .first_t()
            .is_some_and(|first| sample.t - first >= limits::CHUNK_SPAN_MS_MAX);
        if memory.open.count() >= limits::CHUNK_SAMPLES_MAX || span_full {
            seal_open(memory, context.series, context.wal_seq, sealed);
        }
        if memory.open.count() == 0 {
            memory.open_wal_seq = context.wal_seq;
        }
        memory.open.append(sample.t, sample.v);
        memory.newest_t = sample.t;
        memory.newest_v = sample.v;
        memory.oldest_t = memory.oldest_t.min(sample.t);
        result.accepted.push(sample);
        return;
    }
    if sample.t == memory.newest_t {
        duplicate(memory.newest_v, sample, result);
        return;
    }
    if sample.t < memory.newest_t.saturating_sub(context.window_ms) {
        result.rejected.push((
            sample,
            HeadRejection::TooOld {
                newest_t: memory.newest_t,
                window_ms: context.window_ms,
            },
        ));
        return;
    }
    if let Some(stored) = stored_in_open(memory, sample.t).or_else(|| {
        let buffer = memory.out_of_order();
        let in_buffer = buffer.binary_search_by_key(&sample.t, |s| s.t).ok();
        in_buffer.map(|position| buffer[position].v)
    }) {
        duplicate(stored, sample, result);
        return;
    }
    let before_open = memory.open.first_t().is_none_or(|first| sample.t < first);
    if before_open && let Some(stored) = stored_at(sample.t) {
        duplicate(stored, sample, result);
        return;
    }
    if memory.out_of_order().len() >= limits::CHUNK_SAMPLES_MAX {
        seal_out_of_order(memory, context.series, sealed);
    }
    let buffer = memory.out_of_order.get_or_insert_with(|| {
        Box::new(OutOfOrder {
            samples: Vec::new(),
            wal_seq: context.wal_seq,
        })
    });
    let position = buffer.samples.partition_point(|s| s.t < sample.t);
    buffer.samples.insert(position, sample);
    memory.oldest_t = memory.oldest_t.min(sample.t);
    result.accepted.push(sample);
}

fn duplicate(stored: f64, sample: Sample, result: &mut HeadAppend) {
    if stored.to_bits() == sample.v.to_bits() {
        result.unchanged += 1;
    } else {
        result
            .rejected
            .push((sample, HeadRejection::DuplicateTimestamp { stored }));
    }
}

fn stored_in_open(memory: &MemSeries, t: i64) -> Option<f64> {
    let first = memory.open.first_t()?;
    if t < first {
        return None;
    }
    super::chunk_samples(memory.open.bytes())
        .ok()?
        .into_iter()
        .find(|sample| sample.t == t)
        .map(|sample| sample.v)
}

fn seal_open(
    memory: &mut MemSeries,
    series: SeriesRef,
    next_wal_seq: u64,
    sealed: &mut dyn FnMut(SealedChunk),
) {
    let (Some(start_t), Some(end_t)) = (memory.open.first_t(), memory.open.last_t()) else {
        return;
    };
    // The next chunk of a series is usually about as large as this one: starting with
    // that much room (and a little more) avoids growth by doubling, which left a
    // quarter of an open chunk's bytes unused on average.
    let room = memory.open.bytes().len();
    let open = std::mem::replace(
        &mut memory.open,
        XorAppender::with_capacity(room + room / 16),
    );
    sealed(SealedChunk {
        series,
        start_t,
        end_t,
        bytes: open.bytes().to_vec(),
    });
    memory.open_wal_seq = next_wal_seq;
}

fn seal_out_of_order(
    memory: &mut MemSeries,
    series: SeriesRef,
    sealed: &mut dyn FnMut(SealedChunk),
) {
    let Some(buffer) = memory.out_of_order.take() else {
        return;
    };
    let (Some(first), Some(last)) = (buffer.samples.first(), buffer.samples.last()) else {
        return;
    };
    let (first, last) = (*first, *last);
    let mut chunk = XorAppender::new();
    for sample in &buffer.samples {
        chunk.append(sample.t, sample.v);
    }
    sealed(SealedChunk {
        series,
        start_t: first.t,
        end_t: last.t,
        bytes: chunk.bytes().to_vec(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(head: &Head, samples: &[(i64, f64)], sealed: &mut Vec<SealedChunk>) -> HeadAppend {
        let samples: Vec<Sample> = samples
            .iter()
            .map(|(t, v)| Sample { t: *t, v: *v })
            .collect();
        let mut result = HeadAppend::default();
        head.append(
            SeriesRef(1),
            &samples,
            1,
            &mut |chunk| sealed.push(chunk),
            &mut |_| None,
            &mut result,
        );
        result
    }

    #[test]
    fn in_order_duplicates_and_out_of_order() {
        let head = Head::new(600_000);
        let mut sealed = Vec::new();
        let first = append(&head, &[(1_000_000, 1.0), (1_015_000, 2.0)], &mut sealed);
        assert_eq!(first.accepted.len(), 2);
        let again = append(
            &head,
            &[(1_015_000, 2.0), (1_015_000, 3.0), (1_000_000, 1.0)],
            &mut sealed,
        );
        assert_eq!(again.unchanged, 2);
        assert_eq!(
            again.rejected,
            vec![(
                Sample {
                    t: 1_015_000,
                    v: 3.0
                },
                HeadRejection::DuplicateTimestamp { stored: 2.0 }
            )]
        );
        let late = append(
            &head,
            &[(1_007_000, 9.0), (1_015_000 - 600_001, 0.0)],
            &mut sealed,
        );
        assert_eq!(
            late.accepted,
            vec![Sample {
                t: 1_007_000,
                v: 9.0
            }]
        );
        assert!(matches!(
            late.rejected[0].1,
            HeadRejection::TooOld {
                newest_t: 1_015_000,
                ..
            }
        ));
        let snapshot = head.snapshot(SeriesRef(1), 0, i64::MAX);
        assert_eq!(
            snapshot.out_of_order,
            vec![Sample {
                t: 1_007_000,
                v: 9.0
            }]
        );
        assert_eq!(snapshot.open_range, Some((1_000_000, 1_015_000)));
        assert!(sealed.is_empty());
    }

    #[test]
    fn a_batch_visits_shards_once_and_keeps_each_series_in_order() {
        let head = Head::new(600_000);
        let sample = |t: i64, v: f64| Sample { t, v };
        // Series 1 and 65 share a shard; series 1 is listed twice, the second time
        // with a sample older than its first listing's (out of order, accepted).
        let first = [sample(2_000, 1.0)];
        let second = [sample(1_000, 2.0)];
        let other = [sample(2_000, 3.0), sample(2_000, 4.0)];
        let batch: Vec<(SeriesRef, &[Sample])> = vec![
            (SeriesRef(1), &first),
            (SeriesRef(2), &other),
            (SeriesRef(65), &first),
            (SeriesRef(1), &second),
        ];
        let mut seen = Vec::new();
        let mut result = HeadAppend::default();
        head.append_batch(
            &batch,
            1,
            &mut |_| {},
            &mut |_, _| None,
            &mut result,
            &mut |series, result| {
                seen.push((series.0, result.accepted.clone(), result.rejected.len()));
                true
            },
        );
        assert_eq!(
            seen,
            vec![
                (1, first.to_vec(), 0),
                (65, first.to_vec(), 0),
                (1, second.to_vec(), 0),
                // Same timestamp, different value: the second is refused.
                (2, vec![other[0]], 1),
            ]
        );
        assert_eq!(head.stats(), (3, 4));
        assert_eq!(
            head.snapshot(SeriesRef(1), 0, i64::MAX).out_of_order,
            second.to_vec()
        );
    }

    #[test]
    fn chunks_seal_when_full_and_when_idle() {
        let head = Head::new(600_000);
        let mut sealed = Vec::new();
        let samples: Vec<(i64, f64)> = (0..250).map(|i| (i * 15_000, i as f64)).collect();
        append(&head, &samples, &mut sealed);
        assert_eq!(sealed.len(), 2);
        assert_eq!(head.stats(), (1, 10), "120 + 120 sealed, 10 held");
        assert_eq!(sealed[0].start_t, 0);
        assert_eq!(
            crate::storage::chunk_samples(&sealed[0].bytes)
                .expect("decodes")
                .len(),
            120
        );
        assert_eq!(head.wal_low_watermark(), Some(1));
        head.seal_idle(i64::MAX, &mut |chunk| sealed.push(chunk));
        assert_eq!(sealed.len(), 3);
        assert_eq!(head.stats(), (1, 0));
        assert_eq!(head.wal_low_watermark(), None);
    }
}
