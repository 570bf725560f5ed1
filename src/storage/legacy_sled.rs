//! Reading data directories written by earlier builds, which kept the WAL and then the
//! hot chunks in sled (`<data_dir>/hot/`). At start, `Storage::open` moves what such a
//! directory holds into the WAL segment files and the hot chunk log, then deletes it
//! (docs/adr/0003-wal-in-segment-files.md, docs/adr/0004-hot-chunks-in-a-segment-log.md).
//! Owns: the only use of sled in tandem, and the old key layout (tree `wal`: sequence
//! u64 BE → entry; tree `chunks`: series u64 BE · start time (sign bit flipped) BE ·
//! suffix u32 BE → framed chunk).
//! Does not: write anything but the test fixtures below.

use crate::model::SeriesRef;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[error("hot store left by an earlier version (sled): {0}")]
pub struct LegacyError(#[from] sled::Error);

const WAL_TREE: &[u8] = b"wal";
const CHUNKS_TREE: &[u8] = b"chunks";
/// Bytes of a chunk key: series, start time, suffix.
const CHUNK_KEY_BYTES: usize = 20;

/// Whether `dir` holds a sled database (its `conf` file), as earlier builds left it.
pub fn exists(dir: &Path) -> bool {
    dir.join("conf").is_file() || dir.join("db").is_file()
}

pub struct LegacySled {
    db: sled::Db,
}

/// Series and start time of a chunk key; `None` for a key of the wrong size.
fn parse_chunk_key(key: &[u8]) -> Option<(SeriesRef, i64)> {
    if key.len() != CHUNK_KEY_BYTES {
        return None;
    }
    let mut series = [0u8; 8];
    series.copy_from_slice(&key[..8]);
    let mut start = [0u8; 8];
    start.copy_from_slice(&key[8..16]);
    let start_t = (u64::from_be_bytes(start) ^ (1 << 63)) as i64;
    Some((SeriesRef(u64::from_be_bytes(series)), start_t))
}

impl LegacySled {
    /// Opens the database with a small cache: it is read once, sequentially.
    pub fn open(dir: &Path) -> Result<LegacySled, LegacyError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(8 << 20)
            .open()?;
        Ok(LegacySled { db })
    }

    fn has_tree(&self, name: &[u8]) -> bool {
        self.db
            .tree_names()
            .iter()
            .any(|tree| tree.as_ref() == name)
    }

    /// The WAL entries, in sequence order (the key is the sequence number).
    pub fn wal_entries(
        &self,
    ) -> Result<impl Iterator<Item = Result<(u64, sled::IVec), LegacyError>> + use<>, LegacyError>
    {
        let tree = if self.has_tree(WAL_TREE) {
            Some(self.db.open_tree(WAL_TREE)?)
        } else {
            None
        };
        Ok(tree.into_iter().flat_map(|tree| {
            tree.iter().map(|item| {
                let (key, value) = item?;
                let mut seq = [0u8; 8];
                if key.len() == 8 {
                    seq.copy_from_slice(&key);
                }
                Ok((u64::from_be_bytes(seq), value))
            })
        }))
    }

    /// Every sealed chunk with its series and start time, in key order. Keys of the
    /// wrong size are skipped.
    pub fn chunks(
        &self,
    ) -> Result<
        impl Iterator<Item = Result<(SeriesRef, i64, sled::IVec), LegacyError>> + use<>,
        LegacyError,
    > {
        let tree = if self.has_tree(CHUNKS_TREE) {
            Some(self.db.open_tree(CHUNKS_TREE)?)
        } else {
            None
        };
        Ok(tree.into_iter().flat_map(|tree| {
            tree.iter().filter_map(|item| match item {
                Ok((key, value)) => {
                    parse_chunk_key(&key).map(|(series, start)| Ok((series, start, value)))
                }
                Err(error) => Some(Err(LegacyError::from(error))),
            })
        }))
    }

    /// Writes a WAL entry the way earlier builds did (tests of the migration).
    #[cfg(test)]
    pub fn wal_put(&self, seq: u64, entry: &[u8]) -> Result<(), LegacyError> {
        self.db
            .open_tree(WAL_TREE)?
            .insert(seq.to_be_bytes(), entry)?;
        Ok(())
    }

    /// Writes a sealed chunk the way earlier builds did (tests of the migration).
    #[cfg(test)]
    pub fn chunk_put(
        &self,
        series: SeriesRef,
        start_t: i64,
        framed: &[u8],
    ) -> Result<(), LegacyError> {
        let mut key = [0u8; CHUNK_KEY_BYTES];
        key[..8].copy_from_slice(&series.0.to_be_bytes());
        key[8..16].copy_from_slice(&((start_t as u64) ^ (1 << 63)).to_be_bytes());
        self.db.open_tree(CHUNKS_TREE)?.insert(key, framed)?;
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_keys_read_back_series_and_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sled = LegacySled::open(dir.path()).expect("open");
        assert!(exists(dir.path()));
        sled.chunk_put(SeriesRef(4), -5, b"a").expect("put");
        sled.chunk_put(SeriesRef(4), 7, b"b").expect("put");
        sled.chunk_put(SeriesRef(2), i64::MIN, b"c").expect("put");
        sled.wal_put(2, b"y").expect("put");
        sled.wal_put(1, b"x").expect("put");
        let chunks: Vec<(SeriesRef, i64, Vec<u8>)> = sled
            .chunks()
            .expect("tree")
            .map(|item| item.map(|(series, start, value)| (series, start, value.to_vec())))
            .collect::<Result<_, _>>()
            .expect("chunks");
        assert_eq!(
            chunks,
            [
                (SeriesRef(2), i64::MIN, b"c".to_vec()),
                (SeriesRef(4), -5, b"a".to_vec()),
                (SeriesRef(4), 7, b"b".to_vec()),
            ]
        );
        let entries: Vec<(u64, Vec<u8>)> = sled
            .wal_entries()
            .expect("tree")
            .map(|item| item.map(|(seq, value)| (seq, value.to_vec())))
            .collect::<Result<_, _>>()
            .expect("entries");
        assert_eq!(entries, [(1, b"x".to_vec()), (2, b"y".to_vec())]);
    }
}
