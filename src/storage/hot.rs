//! Everything stored in sled: the WAL and the hot window of sealed chunks.
//! Owns: `<data_dir>/hot/` (sled), its trees and key layout (docs/format/hot.md).
//! Does not: interpret entries or chunks (opaque bytes here).
//!
//! All sled access in tandem goes through this file, so that sled — unmaintained since
//! 2021 and known for space amplification — can be replaced by touching nothing else.

use crate::model::SeriesRef;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, thiserror::Error)]
#[error("hot store (sled): {0}")]
pub struct HotError(#[from] sled::Error);

pub struct Hot {
    db: sled::Db,
    wal: sled::Tree,
    chunks: sled::Tree,
    quarantine: sled::Tree,
    /// Bytes of WAL entries present, kept as a counter so metrics need no scan.
    wal_bytes: std::sync::atomic::AtomicU64,
    /// Distinguishes chunks of one series that start at the same millisecond (an
    /// in-order chunk and an out-of-order one).
    chunk_suffix: AtomicU32,
}

/// A chunk's key: series (u64 BE), start time (i64 with the sign bit flipped, BE, so
/// byte order is time order), suffix (u32 BE).
pub const CHUNK_KEY_BYTES: usize = 20;

fn time_key(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

fn time_from_key(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

pub fn chunk_key(series: SeriesRef, start_t: i64, suffix: u32) -> [u8; CHUNK_KEY_BYTES] {
    let mut key = [0u8; CHUNK_KEY_BYTES];
    key[..8].copy_from_slice(&series.0.to_be_bytes());
    key[8..16].copy_from_slice(&time_key(start_t));
    key[16..].copy_from_slice(&suffix.to_be_bytes());
    key
}

/// Series and start time of a chunk key; `None` for a key of the wrong size.
pub fn parse_chunk_key(key: &[u8]) -> Option<(SeriesRef, i64)> {
    if key.len() != CHUNK_KEY_BYTES {
        return None;
    }
    let mut series = [0u8; 8];
    series.copy_from_slice(&key[..8]);
    let mut start = [0u8; 8];
    start.copy_from_slice(&key[8..16]);
    Some((SeriesRef(u64::from_be_bytes(series)), time_from_key(start)))
}

impl Hot {
    /// Opens (creating) the sled database in `dir` with a bounded page cache.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Hot, HotError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            // Scraped data must reach disk within a second even when nobody calls flush.
            .flush_every_ms(Some(500))
            .open()?;
        let wal = db.open_tree("wal")?;
        let chunks = db.open_tree("chunks")?;
        let quarantine = db.open_tree("quarantine")?;
        let suffix = chunks.last()?.map_or(0, |(key, _)| {
            key.get(16..20).map_or(0, |bytes| {
                u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
            })
        });
        let wal_bytes = wal
            .iter()
            .values()
            .flatten()
            .map(|value| value.len() as u64)
            .sum();
        Ok(Hot {
            wal_bytes: std::sync::atomic::AtomicU64::new(wal_bytes),
            db,
            wal,
            chunks,
            quarantine,
            chunk_suffix: AtomicU32::new(suffix.wrapping_add(1)),
        })
    }

    pub fn wal_put(&self, seq: u64, entry: &[u8]) -> Result<(), HotError> {
        if let Some(previous) = self.wal.insert(seq.to_be_bytes(), entry)? {
            self.wal_bytes
                .fetch_sub(previous.len() as u64, Ordering::Relaxed);
        }
        self.wal_bytes
            .fetch_add(entry.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// WAL entries in sequence order.
    pub fn wal_entries(&self) -> impl Iterator<Item = Result<(u64, sled::IVec), HotError>> + '_ {
        self.wal.iter().map(|item| {
            let (key, value) = item?;
            let mut seq = [0u8; 8];
            if key.len() == 8 {
                seq.copy_from_slice(&key);
            }
            Ok((u64::from_be_bytes(seq), value))
        })
    }

    pub fn wal_last_seq(&self) -> Result<Option<u64>, HotError> {
        Ok(self.wal.last()?.and_then(|(key, _)| {
            let bytes: [u8; 8] = key.as_ref().try_into().ok()?;
            Some(u64::from_be_bytes(bytes))
        }))
    }

    /// Removes WAL entries with sequence numbers below `seq`; returns how many.
    pub fn wal_truncate_below(&self, seq: u64) -> Result<usize, HotError> {
        let mut removed = 0;
        let mut batch = sled::Batch::default();
        let mut bytes = 0u64;
        for item in self.wal.range(..seq.to_be_bytes()) {
            let (key, value) = item?;
            bytes += value.len() as u64;
            batch.remove(key);
            removed += 1;
        }
        self.wal.apply_batch(batch)?;
        self.wal_bytes.fetch_sub(
            bytes.min(self.wal_bytes.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        Ok(removed)
    }

    pub fn wal_bytes(&self) -> u64 {
        self.wal
            .iter()
            .values()
            .flatten()
            .map(|value| value.len() as u64)
            .sum()
    }

    /// Moves a damaged entry aside (kept for inspection) so the rest stays readable.
    pub fn quarantine_wal(&self, seq: u64) -> Result<(), HotError> {
        let key = seq.to_be_bytes();
        if let Some(value) = self.wal.remove(key)? {
            self.wal_bytes.fetch_sub(
                (value.len() as u64).min(self.wal_bytes.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
            let mut quarantine_key = b"wal/".to_vec();
            quarantine_key.extend_from_slice(&key);
            self.quarantine.insert(quarantine_key, value)?;
        }
        Ok(())
    }

    pub fn quarantine_chunk(&self, key: &[u8]) -> Result<(), HotError> {
        if let Some(value) = self.chunks.remove(key)? {
            let mut quarantine_key = b"chunk/".to_vec();
            quarantine_key.extend_from_slice(key);
            self.quarantine.insert(quarantine_key, value)?;
        }
        Ok(())
    }

    pub fn chunk_put(
        &self,
        series: SeriesRef,
        start_t: i64,
        framed: &[u8],
    ) -> Result<(), HotError> {
        let suffix = self.chunk_suffix.fetch_add(1, Ordering::Relaxed);
        self.chunks
            .insert(chunk_key(series, start_t, suffix), framed)?;
        Ok(())
    }

    /// Chunks of `series` starting at or after `from_t` and at or before `to_t`, in
    /// start order, with their keys.
    pub fn chunks_of(
        &self,
        series: SeriesRef,
        from_t: i64,
        to_t: i64,
    ) -> Result<Vec<(sled::IVec, sled::IVec)>, HotError> {
        let start = chunk_key(series, from_t, 0);
        let end = chunk_key(series, to_t, u32::MAX);
        self.chunks
            .range(start..=end)
            .map(|item| item.map_err(HotError::from))
            .collect()
    }

    /// Every chunk key with its series and start time, in key order.
    pub fn chunk_index(
        &self,
    ) -> impl Iterator<Item = Result<(sled::IVec, SeriesRef, i64), HotError>> + '_ {
        self.chunks.iter().keys().filter_map(|key| match key {
            Ok(key) => {
                parse_chunk_key(&key).map(|(series, start)| Ok((key.clone(), series, start)))
            }
            Err(error) => Some(Err(HotError::from(error))),
        })
    }

    pub fn chunk_get(&self, key: &[u8]) -> Result<Option<sled::IVec>, HotError> {
        Ok(self.chunks.get(key)?)
    }

    pub fn chunk_remove_all(&self, keys: &[sled::IVec]) -> Result<(), HotError> {
        let mut batch = sled::Batch::default();
        for key in keys {
            batch.remove(key.clone());
        }
        self.chunks.apply_batch(batch)?;
        Ok(())
    }

    /// Overwrites a chunk's stored bytes (tests inject corruption with it).
    #[cfg(test)]
    pub fn chunk_overwrite(&self, key: &[u8], value: Vec<u8>) -> Result<(), HotError> {
        self.chunks.insert(key, value)?;
        Ok(())
    }

    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Writes everything inserted so far to disk (fsync); returns bytes flushed.
    pub fn flush(&self) -> Result<usize, HotError> {
        Ok(self.db.flush()?)
    }

    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_keys_sort_by_series_then_time() {
        let keys = [
            chunk_key(SeriesRef(1), -5, 0),
            chunk_key(SeriesRef(1), 0, 9),
            chunk_key(SeriesRef(1), 7, 0),
            chunk_key(SeriesRef(2), i64::MIN, 0),
        ];
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(parse_chunk_key(&keys[0]), Some((SeriesRef(1), -5)));
        assert_eq!(parse_chunk_key(&keys[3]), Some((SeriesRef(2), i64::MIN)));
    }

    #[test]
    fn wal_truncation_and_chunk_ranges() {
        let dir = tempfile::tempdir().expect("temp dir");
        let hot = Hot::open(dir.path(), 1 << 20).expect("open");
        for seq in 1..=5u64 {
            hot.wal_put(seq, &[seq as u8]).expect("put");
        }
        assert_eq!(hot.wal_truncate_below(3).expect("truncate"), 2);
        let left: Vec<u64> = hot
            .wal_entries()
            .map(|item| item.expect("entry").0)
            .collect();
        assert_eq!(left, [3, 4, 5]);
        assert_eq!(hot.wal_last_seq().expect("last"), Some(5));
        for start in [0, 100, 200] {
            hot.chunk_put(SeriesRef(4), start, b"x").expect("chunk");
        }
        hot.chunk_put(SeriesRef(5), 50, b"y").expect("chunk");
        let found = hot.chunks_of(SeriesRef(4), 50, 200).expect("range");
        let starts: Vec<i64> = found
            .iter()
            .filter_map(|(key, _)| parse_chunk_key(key).map(|(_, t)| t))
            .collect();
        assert_eq!(starts, [100, 200]);
        hot.flush().expect("flush");
    }
}
