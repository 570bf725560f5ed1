//! The write-ahead log's entry format: one entry per appended batch.
//! Owns: encoding and decoding of WAL entries (docs/format/wal.md), with a crc32c per entry.
//! Does not: frame or store entries (`segment_log.rs` owns the segment files) or apply them
//! (`mod.rs` replays).
//!
//! An entry carries the series it creates (ref and labels), so replay can rebuild
//! series that had not reached the SQLite catalog, then the samples by series.

use crate::model::{Label, Labels, Sample, SeriesRef};

/// Timestamps delta-encoded from 0 within each series' group. Still decoded: WALs
/// written before kind 2 existed replay after an upgrade.
const ENTRY_KIND_BATCH: u8 = 1;

/// Timestamps delta-encoded from a base timestamp held in the entry's header. A scrape
/// batch has one timestamp for every series, so each group's first delta is 0 (one
/// byte) instead of a whole timestamp (six bytes from 0).
const ENTRY_KIND_BATCH_BASE: u8 = 2;

/// One decoded WAL entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WalEntry {
    pub new_series: Vec<(SeriesRef, Labels)>,
    pub samples: Vec<(SeriesRef, Vec<Sample>)>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WalError {
    #[error("WAL entry truncated at byte {0}")]
    Truncated(usize),
    #[error("WAL entry checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum { stored: u32, computed: u32 },
    #[error("WAL entry of unknown kind {0}")]
    UnknownKind(u8),
    #[error("WAL entry has invalid labels: {0}")]
    Labels(String),
    #[error("WAL entry has {0} trailing bytes")]
    Trailing(usize),
}

fn put_varint(buffer: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buffer.push((value as u8) | 0x80);
        value >>= 7;
    }
    buffer.push(value as u8);
}

fn put_signed(buffer: &mut Vec<u8>, value: i64) {
    put_varint(buffer, ((value << 1) ^ (value >> 63)) as u64);
}

fn put_bytes(buffer: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(buffer, bytes.len() as u64);
    buffer.extend_from_slice(bytes);
}

/// Series created since the last entry, already encoded as the entry lists them (ref,
/// labels), so that a burst of new series — a first scrape of 50 000 — holds about a
/// hundred bytes per series until its entry is written, not a `Labels` clone.
#[derive(Debug, Default)]
pub struct PendingSeries {
    count: u64,
    bytes: Vec<u8>,
}

impl PendingSeries {
    pub fn push(&mut self, series: SeriesRef, labels: &Labels) {
        put_varint(&mut self.bytes, series.0);
        put_varint(&mut self.bytes, labels.len() as u64);
        for label in labels.iter() {
            put_bytes(&mut self.bytes, label.name.as_bytes());
            put_bytes(&mut self.bytes, label.value.as_bytes());
        }
        self.count += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds `other`'s series after these (puts back series whose entry failed).
    pub fn extend(&mut self, other: PendingSeries) {
        self.count += other.count;
        self.bytes.extend_from_slice(&other.bytes);
    }
}

/// Builds an entry one series' samples at a time, so that an append encodes straight
/// from the head's output instead of keeping a copy of every series' samples.
#[derive(Debug)]
pub struct EntryBuilder {
    kind: u8,
    /// Kind 2: the first sample's timestamp, once there is one.
    base_t: Option<i64>,
    groups: u64,
    bytes: Vec<u8>,
}

impl EntryBuilder {
    /// An entry of kind 2, sized for about `samples` samples.
    pub fn new(samples: usize) -> EntryBuilder {
        EntryBuilder {
            kind: ENTRY_KIND_BATCH_BASE,
            base_t: None,
            groups: 0,
            // Scrape samples take ~11 bytes: ref and count varints, a 1-byte delta, 8-byte value.
            bytes: Vec::with_capacity(samples.saturating_mul(11)),
        }
    }

    /// Adds one series' samples (in the order the head accepted them).
    pub fn push(&mut self, series: SeriesRef, samples: &[Sample]) {
        let Some(first) = samples.first() else {
            return;
        };
        let base_t = match self.kind {
            ENTRY_KIND_BATCH_BASE => *self.base_t.get_or_insert(first.t),
            _ => 0,
        };
        put_varint(&mut self.bytes, series.0);
        put_varint(&mut self.bytes, samples.len() as u64);
        let mut previous = base_t;
        for sample in samples {
            put_signed(&mut self.bytes, sample.t.wrapping_sub(previous));
            previous = sample.t;
            self.bytes
                .extend_from_slice(&sample.v.to_bits().to_le_bytes());
        }
        self.groups += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.groups == 0
    }

    /// The entry: kind, base timestamp (kind 2), new series, samples by series
    /// (timestamps delta-encoded from the base, values as raw bits so NaN payloads
    /// survive), then crc32c of all of it.
    pub fn finish(self, new_series: &PendingSeries) -> Vec<u8> {
        let mut entry = Vec::with_capacity(32 + new_series.bytes.len() + self.bytes.len());
        entry.push(self.kind);
        if self.kind == ENTRY_KIND_BATCH_BASE {
            put_signed(&mut entry, self.base_t.unwrap_or(0));
        }
        put_varint(&mut entry, new_series.count);
        entry.extend_from_slice(&new_series.bytes);
        put_varint(&mut entry, self.groups);
        entry.extend_from_slice(&self.bytes);
        let checksum = crc32c::crc32c(&entry);
        entry.extend_from_slice(&checksum.to_le_bytes());
        entry
    }
}

/// Encodes an entry (kind 2) from new series and samples by series; the base
/// timestamp is the first sample's.
pub fn encode(new_series: &[(SeriesRef, &Labels)], samples: &[(SeriesRef, &[Sample])]) -> Vec<u8> {
    encode_kind(ENTRY_KIND_BATCH_BASE, new_series, samples)
}

/// Encodes an entry of kind 1 (no base timestamp; deltas start at 0), as written
/// before kind 2 existed. Tests use it to check that old WALs still decode.
#[cfg(test)]
pub(crate) fn encode_kind_1(
    new_series: &[(SeriesRef, &Labels)],
    samples: &[(SeriesRef, &[Sample])],
) -> Vec<u8> {
    encode_kind(ENTRY_KIND_BATCH, new_series, samples)
}

fn encode_kind(
    kind: u8,
    new_series: &[(SeriesRef, &Labels)],
    samples: &[(SeriesRef, &[Sample])],
) -> Vec<u8> {
    let mut pending = PendingSeries::default();
    for (series, labels) in new_series {
        pending.push(*series, labels);
    }
    let sample_count: usize = samples.iter().map(|(_, samples)| samples.len()).sum();
    let mut builder = EntryBuilder::new(sample_count);
    builder.kind = kind;
    for (series, series_samples) in samples {
        builder.push(*series, series_samples);
    }
    builder.finish(&pending)
}

struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Result<u64, WalError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.position)
                .ok_or(WalError::Truncated(self.position))?;
            self.position += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WalError::Truncated(self.position))
    }

    fn signed(&mut self) -> Result<i64, WalError> {
        let raw = self.varint()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    fn take(&mut self, length: usize) -> Result<&[u8], WalError> {
        let end = self
            .position
            .checked_add(length)
            .ok_or(WalError::Truncated(self.position))?;
        let slice = self
            .bytes
            .get(self.position..end)
            .ok_or(WalError::Truncated(self.position))?;
        self.position = end;
        Ok(slice)
    }

    fn string(&mut self) -> Result<String, WalError> {
        let length = self.varint()? as usize;
        let bytes = self.take(length)?;
        String::from_utf8(bytes.to_vec()).map_err(|error| WalError::Labels(error.to_string()))
    }

    /// A count read from the entry, refused if it cannot fit in the bytes left (so a
    /// corrupt count cannot make us allocate gigabytes).
    fn count(&mut self, minimum_item_bytes: usize) -> Result<usize, WalError> {
        let count = self.varint()? as usize;
        let remaining = self.bytes.len() - self.position;
        if count.saturating_mul(minimum_item_bytes) > remaining {
            return Err(WalError::Truncated(self.position));
        }
        Ok(count)
    }
}

/// Decodes and checks an entry. Any flipped bit is a checksum error.
pub fn decode(bytes: &[u8]) -> Result<WalEntry, WalError> {
    let body_length = bytes
        .len()
        .checked_sub(4)
        .ok_or(WalError::Truncated(bytes.len()))?;
    let (body, stored) = bytes.split_at(body_length);
    let stored = u32::from_le_bytes([stored[0], stored[1], stored[2], stored[3]]);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(WalError::Checksum { stored, computed });
    }
    let mut reader = Reader {
        bytes: body,
        position: 0,
    };
    let kind = *reader.take(1)?.first().ok_or(WalError::Truncated(0))?;
    let base_t = match kind {
        ENTRY_KIND_BATCH => 0,
        ENTRY_KIND_BATCH_BASE => reader.signed()?,
        _ => return Err(WalError::UnknownKind(kind)),
    };
    let mut entry = WalEntry::default();
    for _ in 0..reader.count(2)? {
        let series = SeriesRef(reader.varint()?);
        let mut pairs = Vec::new();
        for _ in 0..reader.count(2)? {
            let name = reader.string()?;
            let value = reader.string()?;
            pairs.push(Label { name, value });
        }
        let labels = Labels::new(pairs.into_iter().map(|label| (label.name, label.value)))
            .map_err(|error| WalError::Labels(error.to_string()))?;
        entry.new_series.push((series, labels));
    }
    for _ in 0..reader.count(2)? {
        let series = SeriesRef(reader.varint()?);
        let count = reader.count(9)?;
        let mut samples = Vec::with_capacity(count);
        let mut previous = base_t;
        for _ in 0..count {
            let t = previous.wrapping_add(reader.signed()?);
            previous = t;
            let raw = reader.take(8)?;
            let mut bits = [0u8; 8];
            bits.copy_from_slice(raw);
            samples.push(Sample {
                t,
                v: f64::from_bits(u64::from_le_bytes(bits)),
            });
        }
        // A group without samples says nothing; the encoder never writes one.
        if !samples.is_empty() {
            entry.samples.push((series, samples));
        }
    }
    if reader.position != body.len() {
        return Err(WalError::Trailing(body.len() - reader.position));
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(name: &str) -> Labels {
        Labels::new_series([("__name__", name), ("job", "a")]).expect("labels")
    }

    #[test]
    fn round_trip_keeps_nan_bits_and_series() {
        let samples = [
            Sample {
                t: -5,
                v: crate::model::stale_nan(),
            },
            Sample {
                t: 1_700_000_000_000,
                v: -0.0,
            },
            Sample {
                t: 1_700_000_000_015,
                v: f64::INFINITY,
            },
        ];
        let up = labels("up");
        let bytes = encode(&[(SeriesRef(7), &up)], &[(SeriesRef(7), &samples[..])]);
        let entry = decode(&bytes).expect("decodes");
        assert_eq!(entry.new_series, vec![(SeriesRef(7), up)]);
        let decoded = &entry.samples[0].1;
        assert!(decoded.iter().zip(samples.iter()).all(|(a, b)| a.bit_eq(b)));
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let up = labels("up");
        let samples = [Sample { t: 1, v: 2.0 }, Sample { t: 3, v: 4.0 }];
        let bytes = encode(&[(SeriesRef(1), &up)], &[(SeriesRef(1), &samples[..])]);
        for index in 0..bytes.len() {
            let mut corrupt = bytes.clone();
            corrupt[index] ^= 0x10;
            assert!(decode(&corrupt).is_err(), "flip at {index} not detected");
        }
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode(&[]).is_err());
    }

    /// Bytes of an entry with its crc32c appended.
    fn with_checksum(body: &[u8]) -> Vec<u8> {
        let mut bytes = body.to_vec();
        bytes.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
        bytes
    }

    #[test]
    fn kind_1_written_by_older_versions_decodes() {
        // Kind 1, no new series, one group: series 5, two samples at t=1000 and t=1010
        // (deltas from 0: zigzag 2000 and 20), values 1.0 and -2.0.
        let mut body = vec![1, 0, 1, 5, 2, 0xd0, 0x0f];
        body.extend_from_slice(&1.0f64.to_bits().to_le_bytes());
        body.push(20);
        body.extend_from_slice(&(-2.0f64).to_bits().to_le_bytes());
        let entry = decode(&with_checksum(&body)).expect("kind 1 decodes");
        let expected = vec![Sample { t: 1000, v: 1.0 }, Sample { t: 1010, v: -2.0 }];
        assert_eq!(entry.samples, vec![(SeriesRef(5), expected)]);
        assert!(entry.new_series.is_empty());
    }

    #[test]
    fn kind_2_decodes_like_kind_1_and_is_smaller_for_a_scrape() {
        const T: i64 = 1_700_000_000_000;
        let up = labels("up");
        let groups: Vec<(SeriesRef, Vec<Sample>)> = (1_000..2_000u64)
            .map(|series| {
                let samples = vec![Sample {
                    t: T,
                    v: series as f64,
                }];
                (SeriesRef(series), samples)
            })
            .chain([(
                SeriesRef(9),
                vec![Sample { t: -T, v: 1.0 }, Sample { t: T, v: 2.0 }],
            )])
            .collect();
        let refs: Vec<(SeriesRef, &[Sample])> = groups
            .iter()
            .map(|(series, samples)| (*series, samples.as_slice()))
            .collect();
        let new_series = [(SeriesRef(9), &up)];
        let kind_1 = encode_kind_1(&new_series, &refs);
        let kind_2 = encode(&new_series, &refs);
        assert_eq!((kind_1[0], kind_2[0]), (1, 2));
        assert_eq!(decode(&kind_1), decode(&kind_2));
        assert_eq!(decode(&kind_2).expect("decodes").samples, groups);
        // A series of the scrape costs ref (2 bytes) + count + a 1-byte delta + the value.
        let fixed = kind_2.len() - 1_000 * (2 + 1 + 1 + 8);
        assert!(fixed < 96, "kind 2 is {} bytes", kind_2.len());
        assert!(
            kind_1.len() > kind_2.len() + 1_000 * 4,
            "kind 1 is {} bytes",
            kind_1.len()
        );
    }

    proptest! {
        #[test]
        fn samples_round_trip(values in proptest::collection::vec((any::<i64>(), any::<u64>()), 0..50)) {
            let samples: Vec<Sample> = values.iter().map(|(t, bits)| Sample { t: *t, v: f64::from_bits(*bits) }).collect();
            let bytes = encode(&[], &[(SeriesRef(3), &samples[..])]);
            let entry = decode(&bytes).expect("decodes");
            // A series without samples is left out of the entry.
            prop_assert_eq!(entry.samples.len(), usize::from(!samples.is_empty()));
            prop_assert!(entry.samples.iter().all(|(_, stored)| stored.len() == samples.len()
                && stored.iter().zip(samples.iter()).all(|(a, b)| a.bit_eq(b))));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
}
