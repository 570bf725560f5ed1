//! The hot store: sealed chunks younger than the hot window, in an append-only log of
//! segment files under `<data_dir>/chunks/`, with an index in memory.
//! Owns: the chunk record format (docs/format/hot.md), the index (series → where its
//! chunks are), which segments the compactor may take, quarantine of damaged chunks.
//! Does not: interpret chunk payloads (framed bytes here), decide the hot window, or
//! touch files itself (`segment_log.rs` does all file I/O).
//! Limits: `HOT_SEGMENT_BYTES_MAX`, `HOT_SEGMENT_AGE_MAX`.
//!
//! Why not sled (DESIGN.md's choice): sled keeps every value written in anonymous
//! memory whatever `cache_capacity` says, which made sealed chunks the largest cost
//! per live series (docs/adr/0004-hot-chunks-in-a-segment-log.md). Chunks written here
//! sit in the page cache, which the kernel reclaims; memory holds 24 bytes per chunk.
//!
//! Segments are written in sealing order, so each holds chunks sealed within a few
//! minutes of each other. Compaction takes whole closed segments whose every chunk
//! ended before its cut-off, writes them to SQLite, then drops their index entries and
//! deletes the files: a chunk is never in the log and gone from the index after a
//! restart, and a crash between the SQLite commit and the delete only means the same
//! samples are compacted twice (merging keeps one per timestamp).

use super::segment_log::{RecordLocation, ScanReport, SegmentLog, SegmentLogError};
use crate::limits;
use crate::model::SeriesRef;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

pub type HotError = SegmentLogError;

/// Version byte of a chunk record entry.
const ENTRY_VERSION: u8 = 1;
/// Version, series u64 LE, start and end time i64 LE; the framed chunk follows.
const ENTRY_HEADER_BYTES: usize = 1 + 8 + 8 + 8;

const SHARDS: usize = 64;

/// Where one sealed chunk is, and the time range it covers: 24 bytes, held per chunk
/// for the whole hot window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HotChunk {
    pub start_t: i64,
    /// `end_t - start_t`; `u32::MAX` stands for that or more (a head chunk spans at
    /// most `CHUNK_SPAN_MS_MAX`, an out-of-order one at most the out-of-order window).
    span: u32,
    segment: u32,
    offset: u32,
    length: u32,
}

impl HotChunk {
    /// The last sample's time, or later when the span did not fit.
    pub fn end_t(&self) -> i64 {
        if self.span == u32::MAX {
            i64::MAX
        } else {
            self.start_t + i64::from(self.span)
        }
    }

    fn location(&self) -> RecordLocation {
        RecordLocation {
            seq: 0,
            segment: u64::from(self.segment),
            offset: u64::from(self.offset),
            length: self.length,
        }
    }
}

/// What the index knows of a segment.
#[derive(Clone, Copy, Debug)]
struct SegmentInfo {
    /// Newest sample time of any chunk in it.
    end_t_max: i64,
}

/// What opening the hot store found on disk.
#[derive(Clone, Copy, Debug, Default)]
pub struct HotOpenReport {
    pub chunks: u64,
    /// Damaged records moved to quarantine.
    pub corrupt: u64,
    /// An incomplete record cut off the end of the log (a crash mid-write).
    pub torn: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("chunk record: {0}")]
struct EntryError(&'static str);

/// Series, start and end time of a record entry, and where its framed chunk starts.
fn parse_entry(entry: &[u8]) -> Result<(SeriesRef, i64, i64), EntryError> {
    if entry.len() <= ENTRY_HEADER_BYTES {
        return Err(EntryError("shorter than its header"));
    }
    if entry[0] != ENTRY_VERSION {
        return Err(EntryError("unknown version"));
    }
    let word = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&entry[at..at + 8]);
        u64::from_le_bytes(bytes)
    };
    let (start_t, end_t) = (word(9) as i64, word(17) as i64);
    if end_t < start_t {
        return Err(EntryError("ends before it starts"));
    }
    Ok((SeriesRef(word(1)), start_t, end_t))
}

fn encode_entry(series: SeriesRef, start_t: i64, end_t: i64, framed: &[u8]) -> Vec<u8> {
    let mut entry = Vec::with_capacity(ENTRY_HEADER_BYTES + framed.len());
    entry.push(ENTRY_VERSION);
    entry.extend_from_slice(&series.0.to_le_bytes());
    entry.extend_from_slice(&start_t.to_le_bytes());
    entry.extend_from_slice(&end_t.to_le_bytes());
    entry.extend_from_slice(framed);
    entry
}

fn slot(series: SeriesRef) -> (usize, usize) {
    (
        (series.0 % SHARDS as u64) as usize,
        (series.0 / SHARDS as u64) as usize,
    )
}

/// One shard of the index: per series (index `ref / SHARDS`), its chunks.
type Shard = Vec<Box<[HotChunk]>>;

pub struct Hot {
    log: SegmentLog,
    /// Per shard, per series (index `ref / SHARDS`): its chunks by start time. A boxed
    /// slice rather than a `Vec`: 8 bytes less per series, and no spare capacity.
    shards: Box<[RwLock<Shard>]>,
    segments: Mutex<HashMap<u64, SegmentInfo>>,
    next_seq: AtomicU64,
    chunk_count: AtomicU64,
}

impl Hot {
    /// Opens (creating) the log in `dir` and rebuilds the index from it, cutting a
    /// torn tail and quarantining damaged records on the way.
    pub fn open(dir: &Path, segment_bytes_max: u64) -> Result<(Hot, HotOpenReport), HotError> {
        let log = SegmentLog::open("hot chunk log", dir, segment_bytes_max)?;
        let mut headers: Vec<(u64, SeriesRef, i64, i64)> = Vec::new();
        let scan: ScanReport = log.scan(&mut |seq, entry| {
            let (series, start_t, end_t) = parse_entry(entry)?;
            headers.push((seq, series, start_t, end_t));
            Ok::<(), EntryError>(())
        })?;
        headers.sort_unstable_by_key(|header| header.0);
        let hot = Hot {
            log,
            shards: (0..SHARDS).map(|_| RwLock::new(Vec::new())).collect(),
            segments: Mutex::new(HashMap::new()),
            next_seq: AtomicU64::new(scan.seq_max + 1),
            chunk_count: AtomicU64::new(0),
        };
        // `scan.records` is sorted by sequence number and holds exactly the records the
        // check accepted, as does `headers`.
        for (location, (seq, series, start_t, end_t)) in scan.records.iter().zip(&headers) {
            debug_assert_eq!(location.seq, *seq);
            hot.index_insert(series.to_owned(), *start_t, *end_t, location);
        }
        let report = HotOpenReport {
            chunks: headers.len() as u64,
            corrupt: scan.corrupt,
            torn: scan.torn,
        };
        Ok((hot, report))
    }

    fn shard_read(&self, index: usize) -> std::sync::RwLockReadGuard<'_, Shard> {
        self.shards[index]
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn shard_write(&self, index: usize) -> std::sync::RwLockWriteGuard<'_, Shard> {
        self.shards[index]
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn segments(&self) -> std::sync::MutexGuard<'_, HashMap<u64, SegmentInfo>> {
        self.segments.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn index_insert(&self, series: SeriesRef, start_t: i64, end_t: i64, location: &RecordLocation) {
        let chunk = HotChunk {
            start_t,
            span: u32::try_from(end_t.saturating_sub(start_t)).unwrap_or(u32::MAX),
            // `SegmentLog::open` bounds segments to u32 offsets; segment numbers grow
            // by one per closed segment and would take centuries to pass u32.
            segment: u32::try_from(location.segment).unwrap_or(u32::MAX),
            offset: u32::try_from(location.offset).unwrap_or(u32::MAX),
            length: location.length,
        };
        {
            let mut segments = self.segments();
            let info = segments.entry(location.segment).or_insert(SegmentInfo {
                end_t_max: i64::MIN,
            });
            info.end_t_max = info.end_t_max.max(end_t);
        }
        let (shard_index, index) = slot(series);
        let mut shard = self.shard_write(shard_index);
        if shard.len() <= index {
            shard.resize_with(index + 1, Box::default);
        }
        // Chunks arrive in start order but for out-of-order ones. One reallocation per
        // sealed chunk (minutes apart per series) buys an index without spare capacity.
        let mut chunks = std::mem::take(&mut shard[index]).into_vec();
        let position = chunks.partition_point(|existing| existing.start_t <= start_t);
        chunks.reserve_exact(1);
        chunks.insert(position, chunk);
        shard[index] = chunks.into_boxed_slice();
        self.chunk_count.fetch_add(1, Ordering::Relaxed);
    }

    /// Stores a sealed chunk (`framed`: docs/format/chunk.md) of `series` covering
    /// `[start_t, end_t]`. Readable on return; on disk after the next `flush`.
    pub fn put(
        &self,
        series: SeriesRef,
        start_t: i64,
        end_t: i64,
        framed: &[u8],
    ) -> Result<(), HotError> {
        self.log
            .rotate_if(|age, _| age >= limits::HOT_SEGMENT_AGE_MAX)?;
        let entry = encode_entry(series, start_t, end_t, framed);
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let location = self.log.append(seq, &entry)?;
        self.index_insert(series, start_t, end_t, &location);
        Ok(())
    }

    /// The framed chunk `chunk` points at; `None` when compaction removed it since.
    pub fn read(&self, chunk: &HotChunk) -> Result<Option<Vec<u8>>, HotError> {
        let Some(mut entry) = self.log.read(&chunk.location())? else {
            return Ok(None);
        };
        // The index came from this header, so only a disk that changed under us fails
        // here; the chunk's own checksum then reports it to the reader.
        entry.drain(..ENTRY_HEADER_BYTES.min(entry.len()));
        Ok(Some(entry))
    }

    /// Chunks of `series` overlapping `[mint, maxt]`, by start time.
    pub fn chunks_of(&self, series: SeriesRef, mint: i64, maxt: i64) -> Vec<HotChunk> {
        let (shard_index, index) = slot(series);
        let shard = self.shard_read(shard_index);
        shard.get(index).map_or_else(Vec::new, |chunks| {
            chunks
                .iter()
                .filter(|chunk| chunk.start_t <= maxt && chunk.end_t() >= mint)
                .copied()
                .collect()
        })
    }

    /// For every series with hot chunks: the oldest start time and the chunk that ends
    /// last (which holds the series' newest sample in the hot store).
    pub fn series_extents(&self) -> Vec<(SeriesRef, i64, HotChunk)> {
        let mut extents = Vec::new();
        for (shard_index, shard) in self.shards.iter().enumerate() {
            let shard = shard.read().unwrap_or_else(PoisonError::into_inner);
            for (index, chunks) in shard.iter().enumerate() {
                let (Some(first), Some(last)) = (
                    chunks.first(),
                    chunks.iter().max_by_key(|chunk| chunk.end_t()),
                ) else {
                    continue;
                };
                let series = SeriesRef((index * SHARDS + shard_index) as u64);
                extents.push((series, first.start_t, *last));
            }
        }
        extents
    }

    /// Closed segments whose every chunk ended before `before_t`, after closing the
    /// active segment when the same holds for it (so a quiet log still drains).
    pub fn compactable_segments(&self, before_t: i64) -> Result<Vec<u64>, HotError> {
        let ended = |segment: u64| {
            self.segments()
                .get(&segment)
                .is_none_or(|info| info.end_t_max < before_t)
        };
        if let Some(active) = self.log.active_segment()
            && ended(active)
        {
            self.log.rotate_if(|_, _| true)?;
        }
        Ok(self
            .log
            .closed_segments()
            .into_iter()
            .filter(|segment| ended(*segment))
            .collect())
    }

    /// The chunks in `segments`, by series then start time.
    pub fn chunks_in(&self, segments: &[u64]) -> Vec<(SeriesRef, HotChunk)> {
        let segments: HashSet<u64> = segments.iter().copied().collect();
        let mut found = Vec::new();
        for (shard_index, shard) in self.shards.iter().enumerate() {
            let shard = shard.read().unwrap_or_else(PoisonError::into_inner);
            for (index, chunks) in shard.iter().enumerate() {
                let series = SeriesRef((index * SHARDS + shard_index) as u64);
                found.extend(
                    chunks
                        .iter()
                        .filter(|chunk| segments.contains(&u64::from(chunk.segment)))
                        .map(|chunk| (series, *chunk)),
                );
            }
        }
        found.sort_by_key(|(series, chunk)| (*series, chunk.start_t));
        found
    }

    fn index_remove(&self, keep: impl Fn(&HotChunk) -> bool) {
        let mut removed = 0u64;
        for shard in self.shards.iter() {
            let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
            for chunks in shard.iter_mut() {
                if chunks.iter().all(&keep) {
                    continue;
                }
                let before = chunks.len();
                let mut kept = std::mem::take(chunks).into_vec();
                kept.retain(&keep);
                removed += (before - kept.len()) as u64;
                *chunks = kept.into_boxed_slice();
            }
        }
        self.chunk_count.fetch_sub(removed, Ordering::Relaxed);
    }

    /// Forgets the chunks in `segments` and deletes the files. The caller has made
    /// them durable elsewhere.
    pub fn remove_segments(&self, segments: &[u64]) -> Result<(), HotError> {
        if segments.is_empty() {
            return Ok(());
        }
        let removed: HashSet<u64> = segments.iter().copied().collect();
        self.index_remove(|chunk| !removed.contains(&u64::from(chunk.segment)));
        {
            let mut infos = self.segments();
            for segment in segments {
                infos.remove(segment);
            }
        }
        self.log.remove_segments(segments)?;
        Ok(())
    }

    /// Copies a chunk that failed its checksum to `chunks/quarantine/`, marks its
    /// record so that no later start reads it, and forgets it.
    pub fn quarantine(&self, series: SeriesRef, chunk: &HotChunk) -> Result<(), HotError> {
        self.log.quarantine(&chunk.location())?;
        let (shard_index, index) = slot(series);
        let mut shard = self.shard_write(shard_index);
        if let Some(chunks) = shard.get_mut(index) {
            let before = chunks.len();
            let mut kept = std::mem::take(chunks).into_vec();
            kept.retain(|existing| existing != chunk);
            self.chunk_count
                .fetch_sub((before - kept.len()) as u64, Ordering::Relaxed);
            *chunks = kept.into_boxed_slice();
        }
        Ok(())
    }

    /// Overwrites bytes of a stored chunk in its file (tests inject corruption).
    #[cfg(test)]
    pub fn damage(&self, chunk: &HotChunk, dir: &Path, at: usize) {
        use std::os::unix::fs::FileExt;
        let path = dir.join(format!("{:08}", chunk.segment));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("segment file");
        let offset = u64::from(chunk.offset)
            + super::segment_log::FRAME_HEADER_BYTES as u64
            + (ENTRY_HEADER_BYTES + at) as u64;
        let mut byte = [0u8; 1];
        file.read_exact_at(&mut byte, offset).expect("read");
        file.write_all_at(&[byte[0] ^ 0x55], offset).expect("write");
    }

    pub fn chunk_count(&self) -> u64 {
        self.chunk_count.load(Ordering::Relaxed)
    }

    /// Puts every chunk stored so far on disk (fdatasync).
    pub fn flush(&self) -> Result<(), HotError> {
        self.log.sync()
    }

    /// Bytes of the segment files.
    pub fn bytes(&self) -> u64 {
        self.log.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(chunks: &[HotChunk]) -> Vec<i64> {
        chunks.iter().map(|chunk| chunk.start_t).collect()
    }

    #[test]
    fn chunks_are_found_by_time_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let (hot, report) = Hot::open(dir.path(), 1 << 20).expect("open");
            assert_eq!(report.chunks, 0);
            hot.put(SeriesRef(4), 200, 299, b"c").expect("put");
            hot.put(SeriesRef(4), 0, 99, b"a").expect("put");
            hot.put(SeriesRef(4), 100, 199, b"b").expect("put");
            hot.put(SeriesRef(70), 50, 60, b"other").expect("put");
            let found = hot.chunks_of(SeriesRef(4), 150, 250);
            assert_eq!(starts(&found), [100, 200]);
            assert_eq!(hot.read(&found[0]).expect("read"), Some(b"b".to_vec()));
            assert!(hot.chunks_of(SeriesRef(5), i64::MIN, i64::MAX).is_empty());
            hot.flush().expect("flush");
        }
        let (hot, report) = Hot::open(dir.path(), 1 << 20).expect("reopen");
        assert_eq!((report.chunks, report.corrupt, report.torn), (4, 0, 0));
        let all = hot.chunks_of(SeriesRef(4), i64::MIN, i64::MAX);
        assert_eq!(starts(&all), [0, 100, 200]);
        let extents = hot.series_extents();
        assert_eq!(extents.len(), 2);
        let (series, oldest, last) = extents
            .iter()
            .find(|(series, _, _)| *series == SeriesRef(4))
            .copied()
            .expect("series 4");
        assert_eq!((series, oldest, last.end_t()), (SeriesRef(4), 0, 299));
        // New chunks go to a new segment after a reopen.
        hot.put(SeriesRef(4), 300, 399, b"d").expect("put");
        assert_eq!(hot.chunk_count(), 5);
    }

    #[test]
    fn compaction_takes_whole_ended_segments() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Tiny segments: every record closes the segment it starts.
        let (hot, _) = Hot::open(dir.path(), 1).expect("open");
        hot.put(SeriesRef(1), 0, 99, b"a").expect("put");
        hot.put(SeriesRef(2), 0, 150, b"b").expect("put");
        hot.put(SeriesRef(1), 100, 199, b"c").expect("put");
        // Segment 3 is active; 1 and 2 are closed.
        assert_eq!(hot.compactable_segments(120).expect("plan"), [1]);
        let ready = hot.compactable_segments(i64::MAX).expect("plan");
        assert_eq!(
            ready,
            [1, 2, 3],
            "the active segment is closed when it ended too"
        );
        let chunks = hot.chunks_in(&ready[..2]);
        let summary: Vec<(u64, i64)> = chunks
            .iter()
            .map(|(series, chunk)| (series.0, chunk.start_t))
            .collect();
        assert_eq!(summary, [(1, 0), (2, 0)]);
        let (_, first) = chunks[0];
        hot.remove_segments(&ready[..2]).expect("remove");
        assert_eq!(
            hot.read(&first).expect("read"),
            None,
            "removed with its segment"
        );
        assert_eq!(starts(&hot.chunks_of(SeriesRef(1), 0, 1000)), [100]);
        assert_eq!(hot.chunk_count(), 1);
        drop(hot);
        let (hot, report) = Hot::open(dir.path(), 1).expect("reopen");
        assert_eq!(report.chunks, 1);
        assert_eq!(starts(&hot.chunks_of(SeriesRef(1), 0, 1000)), [100]);
    }

    #[test]
    fn a_damaged_record_is_quarantined_at_open_and_the_rest_indexed() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let (hot, _) = Hot::open(dir.path(), 1 << 20).expect("open");
            hot.put(SeriesRef(1), 0, 9, b"first").expect("put");
            hot.put(SeriesRef(1), 10, 19, b"second").expect("put");
            hot.put(SeriesRef(2), 0, 9, b"third").expect("put");
            hot.flush().expect("flush");
        }
        // Break the second record's header: its end time now precedes its start.
        let path = dir.path().join("00000001");
        let mut bytes = std::fs::read(&path).expect("read");
        let first_record = super::super::segment_log::FRAME_HEADER_BYTES + ENTRY_HEADER_BYTES + 5;
        let end_t_at = first_record + super::super::segment_log::FRAME_HEADER_BYTES + 17;
        bytes[end_t_at + 7] = 0x80;
        std::fs::write(&path, bytes).expect("write");
        let (hot, report) = Hot::open(dir.path(), 1 << 20).expect("reopen");
        assert_eq!((report.chunks, report.corrupt), (2, 1));
        assert_eq!(starts(&hot.chunks_of(SeriesRef(1), 0, 100)), [0]);
        assert_eq!(starts(&hot.chunks_of(SeriesRef(2), 0, 100)), [0]);
        assert_eq!(
            std::fs::read_dir(dir.path().join("quarantine"))
                .expect("quarantine")
                .count(),
            1
        );
        drop(hot);
        let (_, report) = Hot::open(dir.path(), 1 << 20).expect("third open");
        assert_eq!(
            (report.chunks, report.corrupt),
            (2, 0),
            "counted once: the record is marked"
        );
    }
}
