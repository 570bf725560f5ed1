//! Chunk encodings: how runs of one series' samples are compressed, and the framing
//! (encoding byte, length, crc32c) that lets every stored chunk be checked when read.
//! Owns: the byte formats in docs/format/chunk.md.
//! Does not: know where chunks are stored (sled or SQLite) or which series they belong to.

pub mod pco;
pub mod xor;

/// Everything that can go wrong turning bytes back into samples, or samples into a
/// block. Decoders return these for any input, however garbled; they never panic.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk truncated while reading {what}")]
    Truncated { what: &'static str },
    #[error("chunk checksum mismatch: stored crc32c is {expected:#010x}, computed {found:#010x}")]
    Checksum { expected: u32, found: u32 },
    #[error("unknown chunk encoding {0}")]
    UnknownEncoding(u8),
    #[error("corrupt chunk: {0}")]
    Corrupt(String),
    #[error("pco: {0}")]
    Pco(String),
    #[error("block has {count} samples, limit is {limit}")]
    TooManySamples { count: usize, limit: usize },
    #[error("block has {timestamps} timestamps but {values} values")]
    LengthMismatch { timestamps: usize, values: usize },
    /// A bug, reported rather than panicking so the compactor keeps the source chunks.
    #[error("BUG: encoded block does not decode to its input: {0}")]
    RoundTrip(String),
    #[error("timestamps not strictly increasing at sample {index}: {previous} then {timestamp}")]
    Unordered {
        index: usize,
        previous: i64,
        timestamp: i64,
    },
}

/// The first byte of a framed chunk: which codec wrote the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    /// `xor.rs`: streaming Gorilla-style chunk, written by the head.
    Xor = 1,
    /// `pco.rs`: a block re-encoded by the compactor.
    Pco = 2,
    /// `storage/rollup.rs`: a block of rollup buckets (a pco column table).
    Rollup = 3,
}

impl Encoding {
    fn from_byte(byte: u8) -> Result<Encoding, ChunkError> {
        match byte {
            1 => Ok(Encoding::Xor),
            2 => Ok(Encoding::Pco),
            3 => Ok(Encoding::Rollup),
            other => Err(ChunkError::UnknownEncoding(other)),
        }
    }
}

/// Bytes the frame adds after the payload.
const CRC_BYTES: usize = 4;

/// Wraps a payload as `[encoding u8][payload length, LEB128][payload][crc32c u32 LE]`.
/// The checksum covers every byte before it, so the encoding byte and the length are
/// protected too.
pub fn frame(encoding: Encoding, payload: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(1 + VARINT_BYTES_MAX + payload.len() + CRC_BYTES);
    framed.push(encoding as u8);
    put_uvarint(&mut framed, payload.len() as u64);
    framed.extend_from_slice(payload);
    let crc = crc32c::crc32c(&framed);
    framed.extend_from_slice(&crc.to_le_bytes());
    debug_assert!(framed.len() > payload.len() + CRC_BYTES);
    framed
}

/// Checks a framed chunk and returns its encoding and payload. `bytes` must hold exactly
/// one frame: a length that disagrees with the bytes present is corruption, as is any
/// flipped bit (crc32c detects every error burst up to 32 bits long).
pub fn unframe(bytes: &[u8]) -> Result<(Encoding, &[u8]), ChunkError> {
    let (&encoding_byte, rest) = bytes.split_first().ok_or(ChunkError::Truncated {
        what: "frame encoding byte",
    })?;
    let mut cursor = rest;
    let payload_len = get_uvarint(&mut cursor, "frame payload length")?;
    let payload_len = usize::try_from(payload_len).map_err(|_| {
        ChunkError::Corrupt(format!("frame payload length {payload_len} too large"))
    })?;
    if cursor.len() < payload_len.saturating_add(CRC_BYTES) {
        return Err(ChunkError::Truncated {
            what: "frame payload and checksum",
        });
    }
    if cursor.len() > payload_len + CRC_BYTES {
        let trailing = cursor.len() - payload_len - CRC_BYTES;
        return Err(ChunkError::Corrupt(format!(
            "{trailing} bytes after the frame checksum"
        )));
    }
    let crc_start = bytes.len() - CRC_BYTES;
    let (covered, crc_bytes) = bytes.split_at(crc_start);
    let mut expected = [0u8; CRC_BYTES];
    expected.copy_from_slice(crc_bytes);
    let expected = u32::from_le_bytes(expected);
    let found = crc32c::crc32c(covered);
    if expected != found {
        return Err(ChunkError::Checksum { expected, found });
    }
    let encoding = Encoding::from_byte(encoding_byte)?;
    let payload = &cursor[..payload_len];
    Ok((encoding, payload))
}

/// A u64 takes at most ten 7-bit groups.
pub(crate) const VARINT_BYTES_MAX: usize = 10;

/// Appends `value` as unsigned LEB128 (7 bits per byte, least significant group first,
/// high bit set on every byte but the last).
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads one unsigned LEB128 from the front of `input` and advances it. `what` names the
/// field for the error message.
pub(crate) fn get_uvarint(input: &mut &[u8], what: &'static str) -> Result<u64, ChunkError> {
    let mut value: u64 = 0;
    for (index, &byte) in input.iter().enumerate().take(VARINT_BYTES_MAX) {
        let group = u64::from(byte & 0x7f);
        // The tenth byte holds only bit 63; anything more would be silently lost.
        if index == VARINT_BYTES_MAX - 1 && byte > 1 {
            return Err(ChunkError::Corrupt(format!(
                "{what}: varint overflows 64 bits"
            )));
        }
        value |= group << (7 * index);
        if byte & 0x80 == 0 {
            *input = &input[index + 1..];
            return Ok(value);
        }
    }
    if input.len() >= VARINT_BYTES_MAX {
        return Err(ChunkError::Corrupt(format!(
            "{what}: varint longer than 10 bytes"
        )));
    }
    Err(ChunkError::Truncated { what })
}

/// Maps signed to unsigned so that small magnitudes of either sign stay short as varints.
pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frame_layout_is_as_documented() {
        let framed = frame(Encoding::Pco, &[0xaa; 130]);
        assert_eq!(framed[0], 2);
        // 130 = 0b1_0000010: low group 0x02 with the continuation bit, then 0x01.
        assert_eq!(&framed[1..3], &[0x82, 0x01]);
        assert_eq!(framed.len(), 1 + 2 + 130 + 4);
        let crc = crc32c::crc32c(&framed[..framed.len() - 4]);
        assert_eq!(&framed[framed.len() - 4..], &crc.to_le_bytes());
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let payload: Vec<u8> = (0..200u32).map(|i| (i * 7) as u8).collect();
        let framed = frame(Encoding::Xor, &payload);
        for byte in 0..framed.len() {
            for bit in 0..8 {
                let mut bad = framed.clone();
                bad[byte] ^= 1 << bit;
                assert!(
                    unframe(&bad).is_err(),
                    "flip of bit {bit} in byte {byte} passed"
                );
            }
        }
    }

    #[test]
    fn every_truncation_and_extension_is_detected() {
        let framed = frame(Encoding::Pco, b"payload");
        for len in 0..framed.len() {
            assert!(
                unframe(&framed[..len]).is_err(),
                "prefix of {len} bytes passed"
            );
        }
        let mut longer = framed.clone();
        longer.push(0);
        assert!(matches!(unframe(&longer), Err(ChunkError::Corrupt(_))));
    }

    #[test]
    fn unknown_encoding_with_valid_checksum_is_reported() {
        let mut framed = frame(Encoding::Xor, b"x");
        framed[0] = 9;
        let body = framed.len() - CRC_BYTES;
        let crc = crc32c::crc32c(&framed[..body]);
        framed[body..].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            unframe(&framed),
            Err(ChunkError::UnknownEncoding(9))
        ));
    }

    #[test]
    fn varint_rejects_overflow_and_overlong() {
        let mut too_big: &[u8] = &[0xff; 9].iter().copied().chain([0x02]).collect::<Vec<_>>();
        assert!(matches!(
            get_uvarint(&mut too_big, "x"),
            Err(ChunkError::Corrupt(_))
        ));
        let mut too_long: &[u8] = &[0x80; 11];
        assert!(matches!(
            get_uvarint(&mut too_long, "x"),
            Err(ChunkError::Corrupt(_))
        ));
        let mut cut: &[u8] = &[0x80, 0x80];
        assert!(matches!(
            get_uvarint(&mut cut, "x"),
            Err(ChunkError::Truncated { .. })
        ));
    }

    proptest! {
        #[test]
        fn frame_round_trips(payload in proptest::collection::vec(any::<u8>(), 0..2000), xor in any::<bool>()) {
            let encoding = if xor { Encoding::Xor } else { Encoding::Pco };
            let framed = frame(encoding, &payload);
            let (found_encoding, found_payload) = unframe(&framed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(found_encoding, encoding);
            prop_assert_eq!(found_payload, &payload[..]);
        }

        #[test]
        fn unframe_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = unframe(&bytes);
        }

        #[test]
        fn varint_round_trips(value in any::<u64>(), signed in any::<i64>()) {
            let mut out = Vec::new();
            put_uvarint(&mut out, value);
            put_uvarint(&mut out, zigzag(signed));
            prop_assert!(out.len() <= 2 * VARINT_BYTES_MAX);
            let mut cursor = &out[..];
            prop_assert_eq!(get_uvarint(&mut cursor, "a").ok(), Some(value));
            prop_assert_eq!(get_uvarint(&mut cursor, "b").ok().map(unzigzag), Some(signed));
            prop_assert!(cursor.is_empty());
        }
    }
}
