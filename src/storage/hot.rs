//! Everything stored in sled: the hot window of sealed chunks and their quarantine.
//! Owns: `<data_dir>/hot/` (sled), its trees and key layout (docs/format/hot.md).
//! Does not: hold the WAL (`wal_log.rs`; see docs/adr/0003-wal-in-segment-files.md),
//! only hands out the `wal` tree older versions left, once, to be migrated; interpret
//! chunks (opaque bytes here).
//!
//! All sled access in tandem goes through this file, so that sled — unmaintained since
//! 2021 and known for space amplification — can be replaced by touching nothing else.

use crate::model::SeriesRef;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, thiserror::Error)]
#[error("hot store (sled): {0}")]
pub struct HotError(#[from] sled::Error);

/// The tree in which versions before docs/adr/0003 kept the WAL.
const LEGACY_WAL_TREE: &[u8] = b"wal";

pub struct Hot {
    db: sled::Db,
    chunks: sled::Tree,
    quarantine: sled::Tree,
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
        let chunks = db.open_tree("chunks")?;
        let quarantine = db.open_tree("quarantine")?;
        let suffix = chunks.last()?.map_or(0, |(key, _)| {
            key.get(16..20).map_or(0, |bytes| {
                u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
            })
        });
        Ok(Hot {
            db,
            chunks,
            quarantine,
            chunk_suffix: AtomicU32::new(suffix.wrapping_add(1)),
        })
    }

    /// Whether the data directory still has the WAL tree of an older version.
    pub fn legacy_wal_exists(&self) -> bool {
        self.db
            .tree_names()
            .iter()
            .any(|name| name.as_ref() == LEGACY_WAL_TREE)
    }

    /// The entries of the older versions' WAL tree, in sequence order (the key is the
    /// sequence number, u64 big-endian).
    pub fn legacy_wal_entries(
        &self,
    ) -> Result<impl Iterator<Item = Result<(u64, sled::IVec), HotError>> + use<>, HotError> {
        let tree = self.db.open_tree(LEGACY_WAL_TREE)?;
        Ok(tree.iter().map(|item| {
            let (key, value) = item?;
            let mut seq = [0u8; 8];
            if key.len() == 8 {
                seq.copy_from_slice(&key);
            }
            Ok((u64::from_be_bytes(seq), value))
        }))
    }

    /// Drops the older versions' WAL tree once its entries are safely in segment files.
    pub fn drop_legacy_wal(&self) -> Result<(), HotError> {
        self.db.drop_tree(LEGACY_WAL_TREE)?;
        Ok(())
    }

    /// Writes an entry the way versions before docs/adr/0003 did (tests of the migration).
    #[cfg(test)]
    pub fn legacy_wal_put(&self, seq: u64, entry: &[u8]) -> Result<(), HotError> {
        self.db
            .open_tree(LEGACY_WAL_TREE)?
            .insert(seq.to_be_bytes(), entry)?;
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
    fn legacy_wal_tree_and_chunk_ranges() {
        let dir = tempfile::tempdir().expect("temp dir");
        let hot = Hot::open(dir.path(), 1 << 20).expect("open");
        assert!(!hot.legacy_wal_exists(), "opening must not create the tree");
        for seq in [2u64, 1, 300] {
            hot.legacy_wal_put(seq, &[seq as u8]).expect("put");
        }
        assert!(hot.legacy_wal_exists());
        let entries: Vec<(u64, Vec<u8>)> = hot
            .legacy_wal_entries()
            .expect("tree")
            .map(|item| item.map(|(seq, value)| (seq, value.to_vec())))
            .collect::<Result<_, _>>()
            .expect("entries");
        assert_eq!(entries, [(1, vec![1]), (2, vec![2]), (300, vec![44])]);
        hot.drop_legacy_wal().expect("drop");
        assert!(!hot.legacy_wal_exists());
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
