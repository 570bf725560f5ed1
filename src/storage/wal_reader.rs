//! Reading the WAL from outside the write path: the remote_write sender tails it so
//! that what it sends survives a receiver outage and a restart (the WAL is the
//! durable queue), and holds the segments it has not sent yet against truncation.
//! Owns: decoding records for readers, and the holds.
//! Does not: touch files (`segment_log.rs` does), or know what readers do.

use super::segment_log::TailPosition;
use super::{Storage, StorageError, wal};
use crate::model::{Labels, Sample, SeriesRef};
use std::collections::HashMap;
use std::sync::Mutex;

/// A reader's place in the WAL (file order).
pub type WalPosition = TailPosition;

/// What one `wal_read` returned.
#[derive(Debug, Default)]
pub struct WalBatch {
    /// Samples by series, in the order the WAL holds them.
    pub samples: Vec<(SeriesRef, Vec<Sample>)>,
    /// Where the next read starts.
    pub next: WalPosition,
    /// Segments deleted before this reader got to them (its hold was overridden by
    /// the backlog limit) or unreadable: their samples are lost to this reader.
    pub skipped_segments: u64,
    /// Records whose entry did not decode (damaged): skipped.
    pub undecodable: u64,
}

/// The WAL segments readers still need: by reader name, the oldest segment it will
/// read, and how many bytes of WAL it may hold back at most.
#[derive(Default)]
pub(super) struct WalHolds {
    holds: Mutex<HashMap<String, (u64, u64)>>,
}

impl WalHolds {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, u64)>> {
        self.holds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The oldest segment to keep given the WAL holds `wal_bytes`: the lowest held
    /// segment, unless the WAL is bigger than every hold allows (then `u64::MAX`:
    /// truncation goes ahead and the readers lose what it deletes).
    pub(super) fn keep_from(&self, wal_bytes: u64) -> u64 {
        let holds = self.lock();
        let allowed = holds.values().map(|(_, bytes_max)| *bytes_max).max();
        match allowed {
            Some(allowed) if wal_bytes <= allowed => holds
                .values()
                .map(|(segment, _)| *segment)
                .min()
                .unwrap_or(u64::MAX),
            Some(allowed) => {
                tracing::warn!(
                    wal_bytes,
                    allowed,
                    "the WAL held back for remote_write exceeds its limit: the oldest unsent segments are deleted"
                );
                u64::MAX
            }
            None => u64::MAX,
        }
    }
}

impl Storage {
    /// The end of the WAL now: where a new reader starts.
    pub fn wal_end(&self) -> WalPosition {
        self.wal_log.end_position()
    }

    /// Bytes of WAL from `from` to the end: a reader's backlog.
    pub fn wal_bytes_after(&self, from: WalPosition) -> u64 {
        self.wal_log.bytes_after(from)
    }

    /// Reads about `max_bytes` of WAL entries from `from` on, decoded. Labels of the
    /// series come from `labels_of` (every series the WAL names is in the catalog).
    pub fn wal_read(&self, from: WalPosition, max_bytes: u64) -> Result<WalBatch, StorageError> {
        let read = self.wal_log.read_from(from, max_bytes)?;
        let mut batch = WalBatch {
            next: read.next,
            skipped_segments: read.skipped_segments,
            ..WalBatch::default()
        };
        for (_, entry) in read.records {
            match wal::decode(&entry) {
                Ok(entry) => batch.samples.extend(entry.samples),
                Err(_) => batch.undecodable += 1,
            }
        }
        Ok(batch)
    }

    /// The labels of a series, if it exists.
    pub fn labels_of(&self, series: SeriesRef) -> Option<Labels> {
        self.catalog.labels(series)
    }

    /// Keeps WAL segments from `from.segment` on until the reader `holder` moves on
    /// (or `None`: lets them go), unless the WAL grows past `bytes_max`.
    pub fn hold_wal(&self, holder: &str, from: Option<WalPosition>, bytes_max: u64) {
        let mut holds = self.wal_holds.lock();
        match from {
            Some(from) => {
                holds.insert(holder.to_string(), (from.segment, bytes_max));
            }
            None => {
                holds.remove(holder);
            }
        }
    }
}
