//! The write-ahead log's entry format: one entry per appended batch.
//! Owns: encoding and decoding of WAL entries (docs/format/wal.md), with a crc32c per entry.
//! Does not: store entries (`hot.rs` keeps them in sled) or apply them (`mod.rs` replays).
//!
//! An entry carries the series it creates (ref and labels), so replay can rebuild
//! series that had not reached the SQLite catalog, then the samples by series.

use crate::model::{Label, Labels, Sample, SeriesRef};

const ENTRY_KIND_BATCH: u8 = 1;

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

/// Encodes an entry: kind, new series, samples by series (timestamps delta-encoded,
/// values as raw bits so NaN payloads survive), then crc32c of all of it.
pub fn encode(new_series: &[(SeriesRef, &Labels)], samples: &[(SeriesRef, &[Sample])]) -> Vec<u8> {
    let sample_count: usize = samples.iter().map(|(_, samples)| samples.len()).sum();
    let mut buffer = Vec::with_capacity(16 + sample_count * 11 + new_series.len() * 64);
    buffer.push(ENTRY_KIND_BATCH);
    put_varint(&mut buffer, new_series.len() as u64);
    for (series, labels) in new_series {
        put_varint(&mut buffer, series.0);
        put_varint(&mut buffer, labels.len() as u64);
        for label in labels.iter() {
            put_bytes(&mut buffer, label.name.as_bytes());
            put_bytes(&mut buffer, label.value.as_bytes());
        }
    }
    put_varint(&mut buffer, samples.len() as u64);
    for (series, series_samples) in samples {
        put_varint(&mut buffer, series.0);
        put_varint(&mut buffer, series_samples.len() as u64);
        let mut previous = 0i64;
        for sample in *series_samples {
            put_signed(&mut buffer, sample.t.wrapping_sub(previous));
            previous = sample.t;
            buffer.extend_from_slice(&sample.v.to_bits().to_le_bytes());
        }
    }
    let checksum = crc32c::crc32c(&buffer);
    buffer.extend_from_slice(&checksum.to_le_bytes());
    buffer
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
    if kind != ENTRY_KIND_BATCH {
        return Err(WalError::UnknownKind(kind));
    }
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
        let mut previous = 0i64;
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
        entry.samples.push((series, samples));
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

    proptest! {
        #[test]
        fn samples_round_trip(values in proptest::collection::vec((any::<i64>(), any::<u64>()), 0..50)) {
            let samples: Vec<Sample> = values.iter().map(|(t, bits)| Sample { t: *t, v: f64::from_bits(*bits) }).collect();
            let bytes = encode(&[], &[(SeriesRef(3), &samples[..])]);
            let entry = decode(&bytes).expect("decodes");
            prop_assert_eq!(entry.samples.len(), 1);
            prop_assert!(entry.samples[0].1.iter().zip(samples.iter()).all(|(a, b)| a.bit_eq(b)));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
}
