//! Append-only logs of records in segment files: the write-ahead log (`<data_dir>/wal/`)
//! and the hot chunk log (`<data_dir>/chunks/`, see `hot.rs`) are two of these.
//! Owns: all file I/O of both — segment files and their rotation (by size, or on
//! request), record framing and the frame checksum, fdatasync (group commit calls
//! `sync`; `Flusher` flushes the rest), reading a record back by its location,
//! deletion by whole segments, repair of a torn tail, quarantine of damaged records
//! under `<log>/quarantine/`.
//! Does not: interpret entries (opaque bytes here; `wal.rs` and `hot.rs` encode them),
//! or know series and the head.
//! Limits: the segment size given to `open` (`WAL_SEGMENT_BYTES_MAX`,
//! `HOT_SEGMENT_BYTES_MAX`), `WAL_RECORD_BYTES_MAX` (one record).
//!
//! A record is a 16-byte frame header — entry length u32 LE, sequence number u64 LE,
//! crc32c of those 12 bytes u32 LE — followed by the entry (docs/format/wal.md). The
//! header's own checksum is what tells a torn or damaged length from a real one; the
//! entry carries its own crc32c, checked by the caller's decoder.
//!
//! Appends from concurrent batches can reach the file slightly out of sequence order,
//! so replay indexes every record first and then reads them in sequence order, and a
//! segment is deleted only once its *highest* sequence number is below the watermark.

use crate::limits::WAL_RECORD_BYTES_MAX;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub const FRAME_HEADER_BYTES: usize = 16;

/// The sequence number of a record replay found damaged: its bytes were copied to the
/// quarantine folder and its header rewritten with this number, so later replays skip
/// it without counting it again. Appends start at 1.
const SEQ_QUARANTINED: u64 = 0;

/// A migration from the sled WAL is written here, then renamed into a segment.
const LEGACY_TEMP_FILE: &str = "legacy.tmp";

const QUARANTINE_DIR: &str = "quarantine";

#[derive(Debug, thiserror::Error)]
pub enum SegmentLogError {
    #[error("log file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("log record too large: encoded length is {bytes}, limit is {limit}")]
    RecordTooLarge { bytes: u64, limit: u64 },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SegmentLogError + use<> {
    let path = path.to_path_buf();
    move |source| SegmentLogError::Io { path, source }
}

/// The frame header of a record with `length` bytes of entry.
fn frame_header(length: u32, seq: u64) -> [u8; FRAME_HEADER_BYTES] {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    header[..4].copy_from_slice(&length.to_le_bytes());
    header[4..12].copy_from_slice(&seq.to_le_bytes());
    let checksum = crc32c::crc32c(&header[..12]);
    header[12..].copy_from_slice(&checksum.to_le_bytes());
    header
}

/// Entry length and sequence number, if the header's checksum holds.
fn parse_frame_header(header: &[u8; FRAME_HEADER_BYTES]) -> Option<(u32, u64)> {
    let stored = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
    if crc32c::crc32c(&header[..12]) != stored {
        return None;
    }
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&header[4..12]);
    Some((length, u64::from_le_bytes(seq)))
}

/// What a segment holds, for truncation and the size gauge.
#[derive(Clone, Copy, Debug)]
struct SegmentSummary {
    bytes: u64,
    records: u64,
    /// Highest sequence number in the segment (0 when it holds none). `u64::MAX` until
    /// replay has read a segment found at open, so it is never deleted unread.
    seq_max: u64,
}

impl SegmentSummary {
    const EMPTY: SegmentSummary = SegmentSummary {
        bytes: 0,
        records: 0,
        seq_max: 0,
    };
}

struct ClosedSegment {
    number: u64,
    summary: SegmentSummary,
    /// Opened for reading by the first `read` (or kept from when it was active).
    file: Option<Arc<File>>,
}

struct ActiveSegment {
    number: u64,
    /// Shared with `sync`, which fdatasyncs without holding the writer's lock, and
    /// with `read`.
    file: Arc<File>,
    summary: SegmentSummary,
    created: Instant,
}

struct Writer {
    /// Created by the first append after open or rotation, so an idle WAL has no files.
    active: Option<ActiveSegment>,
    /// In segment number order.
    closed: Vec<ClosedSegment>,
    next_number: u64,
    /// A failed write could not be cut back off the segment: start a new one, so no
    /// record follows the damage in the same file.
    rotate_next: bool,
}

/// Called with each record's sequence number and entry, during `scan` (to check it)
/// and `read_records` (to apply it).
pub type RecordVisitor<'a, E> = dyn FnMut(u64, &[u8]) -> Result<(), E> + 'a;

/// Where one record's entry lies. Replay sorts these by sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordLocation {
    pub seq: u64,
    pub segment: u64,
    /// Of the frame header, from the start of the segment file.
    pub offset: u64,
    /// Of the entry.
    pub length: u32,
}

/// What the first replay pass found.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// Every record whose entry passed the check, in sequence order.
    pub records: Vec<RecordLocation>,
    /// Damaged records (or damaged segment tails) moved to quarantine.
    pub corrupt: u64,
    /// Incomplete records cut off the end of the last segment (a crash mid-write).
    pub torn: u64,
    /// Highest sequence number in any readable frame header; 0 for an empty WAL.
    pub seq_max: u64,
}

/// A reader's place in a log, in file order: a segment number and a byte offset in it
/// (the start of a record, or the segment's end).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct TailPosition {
    pub segment: u64,
    pub offset: u64,
}

/// What `read_from` found.
#[derive(Debug, Default)]
pub struct TailRead {
    /// Sequence number and entry of each record, in file order.
    pub records: Vec<(u64, Vec<u8>)>,
    /// Where the next read starts.
    pub next: TailPosition,
    /// Segments that were deleted before they were read, or could not be read past
    /// damage: what a reader lost.
    pub skipped_segments: u64,
}

/// What `truncate_below` removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Truncation {
    pub segments: u64,
    pub records: u64,
}

pub struct SegmentLog {
    /// What the log holds ("WAL", "hot chunk log"), for messages.
    name: &'static str,
    dir: PathBuf,
    segment_bytes_max: u64,
    writer: Mutex<Writer>,
    /// Bytes of all segment files, kept as a counter so metrics need no directory scan.
    bytes: AtomicU64,
    /// Set by appends, cleared by `sync`: the background flusher skips a clean log.
    dirty: AtomicBool,
}

/// How a frame at some offset of a segment reads.
enum Frame {
    /// The file ends inside the header or the entry.
    Incomplete,
    /// The header fails its checksum or names an impossible length.
    Unreadable,
    Record {
        length: u32,
        seq: u64,
    },
}

impl SegmentLog {
    /// Opens (creating) the WAL folder and lists its segments. Nothing is read until
    /// `scan`, which must run before the first append or truncation.
    pub fn open(
        name: &'static str,
        dir: &Path,
        segment_bytes_max: u64,
    ) -> Result<SegmentLog, SegmentLogError> {
        // Locations keep offsets in 32 bits where memory counts (`hot.rs`).
        assert!(segment_bytes_max > 0 && segment_bytes_max <= u64::from(u32::MAX));
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        // Left by a migration that was interrupted; the sled tree is still there.
        let _ = std::fs::remove_file(dir.join(LEGACY_TEMP_FILE));
        let mut closed = Vec::new();
        let mut bytes = 0;
        for number in list_segments(dir)? {
            let path = segment_path(dir, number);
            let length = std::fs::metadata(&path).map_err(io_error(&path))?.len();
            bytes += length;
            let summary = SegmentSummary {
                bytes: length,
                records: 0,
                seq_max: u64::MAX,
            };
            closed.push(ClosedSegment {
                number,
                summary,
                file: None,
            });
        }
        let next_number = closed.last().map_or(1, |segment| segment.number + 1);
        Ok(SegmentLog {
            name,
            dir: dir.to_path_buf(),
            segment_bytes_max,
            writer: Mutex::new(Writer {
                active: None,
                closed,
                next_number,
                rotate_next: false,
            }),
            bytes: AtomicU64::new(bytes),
            dirty: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes of all segment files.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Number of segment files (the active one included).
    #[cfg(test)]
    pub fn segment_count(&self) -> usize {
        let writer = self.lock();
        writer.closed.len() + usize::from(writer.active.is_some())
    }

    /// Appends one record and says where it went. It is in the page cache on return;
    /// `sync` (or the flusher) puts it on disk.
    pub fn append(&self, seq: u64, entry: &[u8]) -> Result<RecordLocation, SegmentLogError> {
        assert!(
            seq != SEQ_QUARANTINED,
            "BUG: log sequence numbers start at 1"
        );
        let length = entry.len() as u64;
        if length > WAL_RECORD_BYTES_MAX {
            return Err(SegmentLogError::RecordTooLarge {
                bytes: length,
                limit: WAL_RECORD_BYTES_MAX,
            });
        }
        let header = frame_header(length as u32, seq);
        let frame_bytes = (FRAME_HEADER_BYTES + entry.len()) as u64;
        let mut writer = self.lock();
        let full = writer.active.as_ref().is_none_or(|active| {
            active.summary.bytes > 0 && active.summary.bytes + frame_bytes > self.segment_bytes_max
        });
        if full || writer.rotate_next {
            self.rotate(&mut writer)?;
            self.create_active(&mut writer)?;
        }
        let Some(active) = writer.active.as_mut() else {
            unreachable!("BUG: no active segment after creating one");
        };
        let location = RecordLocation {
            seq,
            segment: active.number,
            offset: active.summary.bytes,
            length: length as u32,
        };
        if let Err(error) = write_frame(&active.file, &header, entry) {
            // Cut a partial write back off so no record follows a torn one in the file.
            let undone = active.file.set_len(active.summary.bytes).is_ok();
            let path = segment_path(&self.dir, active.number);
            writer.rotate_next |= !undone;
            return Err(io_error(&path)(error));
        }
        active.summary.bytes += frame_bytes;
        active.summary.records += 1;
        active.summary.seq_max = active.summary.seq_max.max(seq);
        self.bytes.fetch_add(frame_bytes, Ordering::Relaxed);
        self.dirty.store(true, Ordering::SeqCst);
        Ok(location)
    }

    /// Reads back the entry at `location` (from `append` or `scan`); `None` when its
    /// segment has been removed since.
    pub fn read(&self, location: &RecordLocation) -> Result<Option<Vec<u8>>, SegmentLogError> {
        let path = segment_path(&self.dir, location.segment);
        let file = {
            let mut writer = self.lock();
            if let Some(active) = writer
                .active
                .as_ref()
                .filter(|active| active.number == location.segment)
            {
                Arc::clone(&active.file)
            } else {
                let Some(closed) = writer
                    .closed
                    .iter_mut()
                    .find(|segment| segment.number == location.segment)
                else {
                    return Ok(None);
                };
                match &closed.file {
                    Some(file) => Arc::clone(file),
                    None => {
                        let file = Arc::new(File::open(&path).map_err(io_error(&path))?);
                        closed.file = Some(Arc::clone(&file));
                        file
                    }
                }
            }
        };
        let mut entry = vec![0u8; location.length as usize];
        file.read_exact_at(&mut entry, location.offset + FRAME_HEADER_BYTES as u64)
            .map_err(io_error(&path))?;
        Ok(Some(entry))
    }

    /// Numbers of the closed segments (every segment but the active one), ascending.
    pub fn closed_segments(&self) -> Vec<u64> {
        self.lock()
            .closed
            .iter()
            .map(|segment| segment.number)
            .collect()
    }

    /// Closes the active segment when `close(age, bytes)` says so; the next append
    /// starts a new one. Returns whether it closed one.
    pub fn rotate_if(
        &self,
        close: impl FnOnce(Duration, u64) -> bool,
    ) -> Result<bool, SegmentLogError> {
        let mut writer = self.lock();
        let Some(active) = writer.active.as_ref() else {
            return Ok(false);
        };
        if active.summary.bytes == 0 || !close(active.created.elapsed(), active.summary.bytes) {
            return Ok(false);
        }
        self.rotate(&mut writer)?;
        Ok(true)
    }

    /// The end of the log now: where a reader that wants only what is appended from
    /// now on starts.
    pub fn end_position(&self) -> TailPosition {
        let writer = self.lock();
        match &writer.active {
            Some(active) => TailPosition {
                segment: active.number,
                offset: active.summary.bytes,
            },
            None => TailPosition {
                segment: writer.next_number,
                offset: 0,
            },
        }
    }

    /// Bytes of the segments from `from` on (the part of `from.segment` before
    /// `from.offset` not counted): how far a reader is behind.
    pub fn bytes_after(&self, from: TailPosition) -> u64 {
        self.segment_lengths()
            .iter()
            .filter(|(number, _)| *number >= from.segment)
            .map(|(number, bytes)| {
                if *number == from.segment {
                    bytes.saturating_sub(from.offset)
                } else {
                    *bytes
                }
            })
            .sum()
    }

    /// Every segment's number and the bytes of whole records in it, ascending.
    fn segment_lengths(&self) -> Vec<(u64, u64)> {
        let writer = self.lock();
        let mut lengths: Vec<(u64, u64)> = writer
            .closed
            .iter()
            .map(|segment| (segment.number, segment.summary.bytes))
            .collect();
        if let Some(active) = &writer.active {
            lengths.push((active.number, active.summary.bytes));
        }
        lengths
    }

    /// Reads whole records from `from` on, in file order (not sequence order: a reader
    /// tailing the log sees each record once, as it was written), until about
    /// `max_bytes` of entries are read or the end is reached. Only bytes the writer
    /// has finished are read, so a record being appended is never seen half-written.
    /// A segment deleted before it was read, or damaged past a point, is skipped and
    /// counted. Quarantined records are skipped.
    pub fn read_from(
        &self,
        from: TailPosition,
        max_bytes: u64,
    ) -> Result<TailRead, SegmentLogError> {
        let lengths = self.segment_lengths();
        let mut read = TailRead {
            next: from,
            ..TailRead::default()
        };
        let mut taken = 0u64;
        let last = lengths.last().map(|(number, _)| *number);
        for (number, length) in lengths {
            if number < read.next.segment {
                continue;
            }
            if number > read.next.segment {
                // Segments between the position and this one are gone (numbers are
                // consecutive: a new segment is the highest plus one).
                read.skipped_segments += number - read.next.segment;
                read.next = TailPosition {
                    segment: number,
                    offset: 0,
                };
            }
            let path = segment_path(&self.dir, number);
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    read.skipped_segments += 1;
                    read.next = TailPosition {
                        segment: number + 1,
                        offset: 0,
                    };
                    continue;
                }
                Err(error) => return Err(io_error(&path)(error)),
            };
            let mut offset = read.next.offset;
            let mut damaged = false;
            while offset + FRAME_HEADER_BYTES as u64 <= length && taken < max_bytes {
                let mut header = [0u8; FRAME_HEADER_BYTES];
                file.read_exact_at(&mut header, offset)
                    .map_err(io_error(&path))?;
                let Some((entry_length, seq)) = parse_frame_header(&header) else {
                    damaged = true;
                    break;
                };
                let end = offset + FRAME_HEADER_BYTES as u64 + u64::from(entry_length);
                if end > length {
                    damaged = true;
                    break;
                }
                if seq != SEQ_QUARANTINED {
                    let mut entry = vec![0u8; entry_length as usize];
                    file.read_exact_at(&mut entry, offset + FRAME_HEADER_BYTES as u64)
                        .map_err(io_error(&path))?;
                    taken += u64::from(entry_length);
                    read.records.push((seq, entry));
                }
                offset = end;
            }
            if damaged {
                read.skipped_segments += 1;
                read.next = TailPosition {
                    segment: number + 1,
                    offset: 0,
                };
                continue;
            }
            read.next = if offset >= length && Some(number) != last {
                // A closed segment read to its end: the next one follows.
                TailPosition {
                    segment: number + 1,
                    offset: 0,
                }
            } else {
                TailPosition {
                    segment: number,
                    offset,
                }
            };
            if taken >= max_bytes || offset < length {
                break;
            }
        }
        Ok(read)
    }

    /// The active segment's number, if there is one.
    pub fn active_segment(&self) -> Option<u64> {
        self.lock().active.as_ref().map(|active| active.number)
    }

    /// Closes the active segment, if any: fdatasync, then it joins the closed ones.
    fn rotate(&self, writer: &mut Writer) -> Result<(), SegmentLogError> {
        writer.rotate_next = false;
        let Some(active) = writer.active.take() else {
            return Ok(());
        };
        if let Err(error) = active.file.sync_data() {
            let path = segment_path(&self.dir, active.number);
            writer.active = Some(active);
            writer.rotate_next = true;
            return Err(io_error(&path)(error));
        }
        debug_assert!(
            writer
                .closed
                .last()
                .is_none_or(|last| last.number < active.number)
        );
        writer.closed.push(ClosedSegment {
            number: active.number,
            summary: active.summary,
            file: Some(active.file),
        });
        Ok(())
    }

    /// Creates the next segment and fsyncs the folder, so that a record synced into
    /// the new file is not lost with a directory entry that never reached disk.
    fn create_active(&self, writer: &mut Writer) -> Result<(), SegmentLogError> {
        assert!(writer.active.is_none());
        let number = writer.next_number;
        let path = segment_path(&self.dir, number);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(io_error(&path))?;
        if let Err(error) = sync_dir(&self.dir) {
            let _ = std::fs::remove_file(&path);
            return Err(error);
        }
        writer.next_number += 1;
        writer.active = Some(ActiveSegment {
            number,
            file: Arc::new(file),
            summary: SegmentSummary::EMPTY,
            created: Instant::now(),
        });
        Ok(())
    }

    /// Puts every record appended so far on disk (fdatasync of the active segment;
    /// closed segments were synced when they were closed). Does not hold the writer's
    /// lock during the fsync, so appends go on meanwhile.
    pub fn sync(&self) -> Result<(), SegmentLogError> {
        self.dirty.store(false, Ordering::SeqCst);
        let active = {
            let writer = self.lock();
            writer
                .active
                .as_ref()
                .map(|active| (Arc::clone(&active.file), active.number))
        };
        let Some((file, number)) = active else {
            return Ok(());
        };
        file.sync_data().map_err(|error| {
            self.dirty.store(true, Ordering::SeqCst);
            io_error(&segment_path(&self.dir, number))(error)
        })
    }

    /// `sync`, when something was appended since the last one.
    pub fn sync_if_dirty(&self) -> Result<(), SegmentLogError> {
        if self.dirty.load(Ordering::SeqCst) {
            self.sync()?;
        }
        Ok(())
    }

    /// Deletes every segment whose records all have sequence numbers below
    /// `watermark`. The active segment is closed first when that holds for it too, so
    /// a WAL that receives nothing shrinks to no files at all. The caller has made
    /// everything those records describe durable elsewhere.
    #[cfg(test)]
    pub fn truncate_below(&self, watermark: u64) -> Result<Truncation, SegmentLogError> {
        self.truncate_below_keeping(watermark, u64::MAX)
    }

    /// `truncate_below`, but keeping every segment numbered `keep_from` or higher (a
    /// reader still needs them).
    pub fn truncate_below_keeping(
        &self,
        watermark: u64,
        keep_from: u64,
    ) -> Result<Truncation, SegmentLogError> {
        assert!(watermark > SEQ_QUARANTINED);
        self.remove_closed(
            |active| active.seq_max < watermark,
            |segment| segment.summary.seq_max < watermark && segment.number < keep_from,
        )
    }

    /// Deletes the closed segments `numbers` (the active one is never among them). The
    /// caller has made everything their records describe durable elsewhere.
    pub fn remove_segments(&self, numbers: &[u64]) -> Result<Truncation, SegmentLogError> {
        self.remove_closed(|_| false, |segment| numbers.contains(&segment.number))
    }

    /// Closes the active segment when `close_active` holds for it, then deletes the
    /// closed segments `remove` picks.
    fn remove_closed(
        &self,
        close_active: impl FnOnce(&SegmentSummary) -> bool,
        remove: impl Fn(&ClosedSegment) -> bool,
    ) -> Result<Truncation, SegmentLogError> {
        let removed = {
            let mut writer = self.lock();
            let idle = writer
                .active
                .as_ref()
                .is_some_and(|active| active.summary.bytes > 0 && close_active(&active.summary));
            if idle {
                self.rotate(&mut writer)?;
            }
            let (removed, kept) = std::mem::take(&mut writer.closed)
                .into_iter()
                .partition(|segment| remove(segment));
            writer.closed = kept;
            removed
        };
        let mut truncation = Truncation::default();
        let mut removed: std::vec::IntoIter<ClosedSegment> = removed.into_iter();
        while let Some(segment) = removed.next() {
            let path = segment_path(&self.dir, segment.number);
            if let Err(error) = std::fs::remove_file(&path) {
                // Keep track of what is still on disk, so a later call retries.
                let mut writer = self.lock();
                writer.closed.push(segment);
                writer.closed.extend(removed);
                writer.closed.sort_by_key(|segment| segment.number);
                return Err(io_error(&path)(error));
            }
            self.bytes
                .fetch_sub(segment.summary.bytes, Ordering::Relaxed);
            truncation.segments += 1;
            truncation.records += segment.summary.records;
        }
        if truncation.segments > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(truncation)
    }

    /// Copies the damaged record at `location` to quarantine and marks it so that
    /// later scans skip it (see `quarantine_record`).
    pub fn quarantine(&self, location: &RecordLocation) -> Result<(), SegmentLogError> {
        let Some(entry) = self.read(location)? else {
            return Ok(());
        };
        self.quarantine_record(location.segment, location.offset, location.length, &entry)
    }

    /// Reads every segment, checking each frame and handing each entry to `check`
    /// (the caller decodes it; an `Err` means the entry is damaged). Repairs as it
    /// goes: an incomplete record at the end of the last segment is a crash mid-write
    /// and is cut off; any other damage is copied to `wal/quarantine/`, logged and
    /// counted, and made invisible to later replays.
    pub fn scan<E: std::fmt::Display>(
        &self,
        check: &mut RecordVisitor<'_, E>,
    ) -> Result<ScanReport, SegmentLogError> {
        let mut writer = self.lock();
        assert!(writer.active.is_none(), "BUG: log scanned after appends");
        let mut report = ScanReport::default();
        let last = writer.closed.last().map(|segment| segment.number);
        let mut bytes = 0;
        for segment in writer.closed.iter_mut() {
            let is_last = Some(segment.number) == last;
            segment.summary = self.scan_segment(segment.number, is_last, check, &mut report)?;
            bytes += segment.summary.bytes;
        }
        self.bytes.store(bytes, Ordering::Relaxed);
        report.records.sort_unstable();
        Ok(report)
    }

    fn scan_segment<E: std::fmt::Display>(
        &self,
        number: u64,
        is_last: bool,
        check: &mut RecordVisitor<'_, E>,
        report: &mut ScanReport,
    ) -> Result<SegmentSummary, SegmentLogError> {
        let path = segment_path(&self.dir, number);
        let file = File::open(&path).map_err(io_error(&path))?;
        let file_bytes = file.metadata().map_err(io_error(&path))?.len();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut summary = SegmentSummary::EMPTY;
        let mut entry = Vec::new();
        let mut offset = 0u64;
        while offset < file_bytes {
            let frame = read_frame(&mut reader, file_bytes - offset).map_err(io_error(&path))?;
            let (length, seq) = match frame {
                Frame::Record { length, seq } => (length, seq),
                Frame::Incomplete | Frame::Unreadable => {
                    let torn = is_last
                        && (matches!(frame, Frame::Incomplete)
                            || is_zero_from(&path, offset).map_err(io_error(&path))?);
                    self.cut_tail(number, offset, file_bytes, torn, report)?;
                    break;
                }
            };
            entry.resize(length as usize, 0);
            reader.read_exact(&mut entry).map_err(io_error(&path))?;
            report.seq_max = report.seq_max.max(seq);
            if seq != SEQ_QUARANTINED {
                match check(seq, &entry) {
                    Ok(()) => {
                        report.records.push(RecordLocation {
                            seq,
                            segment: number,
                            offset,
                            length,
                        });
                        summary.records += 1;
                        summary.seq_max = summary.seq_max.max(seq);
                    }
                    Err(error) => {
                        tracing::error!(log = self.name, segment = %path.display(), offset, seq, %error,
                            "corrupt record quarantined; the rest is read");
                        self.quarantine_record(number, offset, length, &entry)?;
                        report.corrupt += 1;
                    }
                }
            }
            offset += FRAME_HEADER_BYTES as u64 + u64::from(length);
        }
        summary.bytes = offset;
        Ok(summary)
    }

    /// Ends a segment at `offset`. A torn tail (crash mid-write) is simply cut off;
    /// anything else is damage whose extent is unknown, so the rest of the segment
    /// goes to quarantine first.
    fn cut_tail(
        &self,
        number: u64,
        offset: u64,
        file_bytes: u64,
        torn: bool,
        report: &mut ScanReport,
    ) -> Result<(), SegmentLogError> {
        let path = segment_path(&self.dir, number);
        let cut = file_bytes - offset;
        if torn {
            tracing::info!(log = self.name, segment = %path.display(), offset, bytes = cut,
                "incomplete record at the end of the log (a crash mid-write) cut off");
            report.torn += 1;
        } else {
            tracing::error!(log = self.name, segment = %path.display(), offset, bytes = cut,
                "unreadable record header: the rest of the segment is quarantined");
            let target = self.quarantine_path(number, offset)?;
            let mut source = File::open(&path).map_err(io_error(&path))?;
            std::io::Seek::seek(&mut source, std::io::SeekFrom::Start(offset))
                .map_err(io_error(&path))?;
            let mut copy = File::create(&target).map_err(io_error(&target))?;
            std::io::copy(&mut source, &mut copy).map_err(io_error(&target))?;
            copy.sync_all().map_err(io_error(&target))?;
            sync_dir(&self.dir.join(QUARANTINE_DIR))?;
            report.corrupt += 1;
        }
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        file.set_len(offset).map_err(io_error(&path))?;
        file.sync_all().map_err(io_error(&path))
    }

    /// Copies a damaged record to quarantine, then rewrites its header with
    /// `SEQ_QUARANTINED` (same length, valid header checksum) so later replays skip it.
    fn quarantine_record(
        &self,
        number: u64,
        offset: u64,
        length: u32,
        entry: &[u8],
    ) -> Result<(), SegmentLogError> {
        let target = self.quarantine_path(number, offset)?;
        let mut copy = File::create(&target).map_err(io_error(&target))?;
        copy.write_all(&frame_header(length, SEQ_QUARANTINED))
            .and_then(|()| copy.write_all(entry))
            .and_then(|()| copy.sync_all())
            .map_err(io_error(&target))?;
        sync_dir(&self.dir.join(QUARANTINE_DIR))?;
        let path = segment_path(&self.dir, number);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        file.write_all_at(&frame_header(length, SEQ_QUARANTINED), offset)
            .and_then(|()| file.sync_data())
            .map_err(io_error(&path))
    }

    /// `wal/quarantine/<segment>-<offset>`, creating the folder.
    fn quarantine_path(&self, number: u64, offset: u64) -> Result<PathBuf, SegmentLogError> {
        let dir = self.dir.join(QUARANTINE_DIR);
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        Ok(dir.join(format!("{number:08}-{offset:012}")))
    }

    /// Hands the entries at `records` (from `scan`) to `apply`, in the given order.
    pub fn read_records<E: From<SegmentLogError>>(
        &self,
        records: &[RecordLocation],
        apply: &mut RecordVisitor<'_, E>,
    ) -> Result<(), E> {
        let mut files: std::collections::HashMap<u64, File> = std::collections::HashMap::new();
        let mut entry = Vec::new();
        for record in records {
            let path = segment_path(&self.dir, record.segment);
            let file = match files.entry(record.segment) {
                std::collections::hash_map::Entry::Occupied(file) => file.into_mut(),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(File::open(&path).map_err(io_error(&path))?)
                }
            };
            entry.resize(record.length as usize, 0);
            file.read_exact_at(&mut entry, record.offset + FRAME_HEADER_BYTES as u64)
                .map_err(io_error(&path))?;
            apply(record.seq, &entry)?;
        }
        Ok(())
    }

    /// Writes entries of the WAL that older versions kept in sled into a new segment,
    /// before `scan`. Written to a temporary file and renamed, so a crash leaves either
    /// the whole segment or none; if a segment already exists, an earlier migration got
    /// as far as the rename and nothing is written. Returns the entries written.
    pub fn import_legacy<B: AsRef<[u8]>, E: From<SegmentLogError>>(
        &self,
        entries: impl Iterator<Item = Result<(u64, B), E>>,
    ) -> Result<u64, E> {
        let mut writer = self.lock();
        assert!(writer.active.is_none(), "BUG: WAL migrated after appends");
        if !writer.closed.is_empty() {
            return Ok(0);
        }
        let temp = self.dir.join(LEGACY_TEMP_FILE);
        let file = File::create(&temp).map_err(io_error(&temp))?;
        let mut output = std::io::BufWriter::with_capacity(1 << 20, file);
        let (mut count, mut bytes) = (0u64, 0u64);
        for item in entries {
            let (seq, entry) = item?;
            let entry = entry.as_ref();
            let length = entry.len() as u64;
            if length > WAL_RECORD_BYTES_MAX {
                return Err(SegmentLogError::RecordTooLarge {
                    bytes: length,
                    limit: WAL_RECORD_BYTES_MAX,
                }
                .into());
            }
            output
                .write_all(&frame_header(length as u32, seq))
                .and_then(|()| output.write_all(entry))
                .map_err(io_error(&temp))?;
            count += 1;
            bytes += FRAME_HEADER_BYTES as u64 + length;
        }
        let file = output
            .into_inner()
            .map_err(|error| io_error(&temp)(error.into_error()))?;
        file.sync_all().map_err(io_error(&temp))?;
        let number = writer.next_number;
        let path = segment_path(&self.dir, number);
        std::fs::rename(&temp, &path).map_err(io_error(&path))?;
        sync_dir(&self.dir)?;
        writer.next_number += 1;
        writer.closed.push(ClosedSegment {
            number,
            summary: SegmentSummary {
                bytes,
                records: count,
                seq_max: u64::MAX,
            },
            file: None,
        });
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(count)
    }
}

/// Writes header and entry with as few `writev` calls as the kernel allows (one, in
/// practice), without copying the entry: in an append-only file a crash leaves a
/// prefix of the record, never a gap.
fn write_frame(mut file: &File, header: &[u8], entry: &[u8]) -> std::io::Result<()> {
    let total = header.len() + entry.len();
    let mut written = 0;
    while written < total {
        let result = if written < header.len() {
            file.write_vectored(&[
                std::io::IoSlice::new(&header[written..]),
                std::io::IoSlice::new(entry),
            ])
        } else {
            file.write(&entry[written - header.len()..])
        };
        match result {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(count) => written += count,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Reads the frame header at the reader's position; `remaining` is what the file
/// holds from there on.
fn read_frame(reader: &mut impl Read, remaining: u64) -> std::io::Result<Frame> {
    if remaining < FRAME_HEADER_BYTES as u64 {
        return Ok(Frame::Incomplete);
    }
    let mut header = [0u8; FRAME_HEADER_BYTES];
    reader.read_exact(&mut header)?;
    let Some((length, seq)) = parse_frame_header(&header) else {
        return Ok(Frame::Unreadable);
    };
    if u64::from(length) > WAL_RECORD_BYTES_MAX {
        return Ok(Frame::Unreadable);
    }
    if u64::from(length) > remaining - FRAME_HEADER_BYTES as u64 {
        return Ok(Frame::Incomplete);
    }
    Ok(Frame::Record { length, seq })
}

/// Whether every byte of the file from `offset` on is zero: what a file system can
/// leave where an unsynced write was lost with power, which is a torn tail too.
fn is_zero_from(path: &Path, offset: u64) -> std::io::Result<bool> {
    let mut file = File::open(path)?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))?;
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(true);
        }
        if buffer[..read].iter().any(|byte| *byte != 0) {
            return Ok(false);
        }
    }
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:08}"))
}

/// Segment numbers in `dir` (files named by digits only), ascending.
fn list_segments(dir: &Path) -> Result<Vec<u64>, SegmentLogError> {
    let mut numbers = Vec::new();
    for item in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let item = item.map_err(io_error(dir))?;
        let name = item.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if name.is_empty() || !name.bytes().all(|byte| byte.is_ascii_digit()) {
            continue;
        }
        if let Ok(number) = name.parse::<u64>()
            && item.file_type().map_err(io_error(dir))?.is_file()
        {
            numbers.push(number);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// Fsyncs a folder, so that files created, renamed or deleted in it stay so after a
/// power loss.
fn sync_dir(dir: &Path) -> Result<(), SegmentLogError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(io_error(dir))
}

/// The background thread that fdatasyncs the WAL every `interval` when appends made
/// it dirty: data appended with `Durability::Background` reaches disk within a second
/// without its writer waiting. Dropping it stops the thread after a last flush.
pub struct Flusher {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flusher {
    pub fn start(wal_log: Arc<SegmentLog>, interval: Duration) -> Result<Flusher, SegmentLogError> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let dir = wal_log.dir.clone();
        let thread = std::thread::Builder::new()
            .name("wal-flusher".to_string())
            .spawn(move || flush_until_stopped(&wal_log, &signal, interval))
            .map_err(io_error(&dir))?;
        Ok(Flusher {
            stop,
            thread: Some(thread),
        })
    }
}

fn flush_until_stopped(wal_log: &SegmentLog, stop: &(Mutex<bool>, Condvar), interval: Duration) {
    let (stopped, wake) = stop;
    loop {
        let stop_now = {
            let guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
            let (guard, _) = wake
                .wait_timeout_while(guard, interval, |stopped| !*stopped)
                .unwrap_or_else(PoisonError::into_inner);
            *guard
        };
        if let Err(error) = wal_log.sync_if_dirty() {
            tracing::error!(%error, "WAL background flush failed; retrying");
        }
        if stop_now {
            return;
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("BUG: the WAL flusher thread panicked");
        }
    }
}

#[cfg(test)]
mod tests;
