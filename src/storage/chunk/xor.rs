//! Gorilla-style XOR chunks: the streaming encoding of head chunks, appended one sample
//! at a time and readable at any moment.
//! Owns: the `Encoding::Xor` payload format (docs/format/chunk.md), `XorAppender`, `XorIter`.
//! Does not: frame or checksum chunks (`super::frame`), decide when a chunk is full, or
//! check that timestamps increase (the head does; here it is only `debug_assert!`ed).
//! Limits: `XOR_SAMPLES_MAX` (the 16-bit count in the header).
//!
//! Layout: a 2-byte big-endian sample count, then a bit stream written most significant
//! bit first. Sample 0 is a zigzag varint timestamp and the value's 64 raw bits; sample 1
//! the timestamp delta as a varint; later samples the delta of deltas in a prefix-coded
//! bucket. Every value after the first is XOR-ed with its predecessor and only the
//! meaningful bits of the XOR are written, inside a (leading zeros, trailing zeros)
//! window that is reused while it still fits.
//!
//! Timestamp arithmetic wraps (u64 deltas, i64 delta-of-deltas taken modulo 2^64), so
//! every strictly increasing sequence of i64 timestamps round-trips, `i64::MIN` to
//! `i64::MAX` included. The decoder rejects any sequence that is not strictly increasing,
//! which also catches many corruptions the checksum would otherwise be alone to find.

use super::{ChunkError, unzigzag, zigzag};

/// The header stores the count as a u16.
pub const XOR_SAMPLES_MAX: usize = u16::MAX as usize;

const HEADER_BYTES: usize = 2;

/// Delta-of-delta buckets after the 1-bit `0` that means "same interval again":
/// (prefix, prefix length in bits, payload bits of two's complement).
/// 8 bits (±127 ms) cover the jitter of a collector's clock at 10 bits a sample, where
/// Prometheus' smallest bucket spends 16; 17 bits (±65 s) cover one or more missed
/// scrapes at intervals up to a minute; 24 bits (±2.3 h) cover restarts and suspended
/// hosts. Anything else takes the 4-bit prefix `1111` and 64 bits.
const DOD_BUCKETS: [(u64, u32, u32); 3] = [(0b10, 2, 8), (0b110, 3, 17), (0b1110, 4, 24)];
const DOD_ESCAPE: (u64, u32) = (0b1111, 4);

/// Leading zeros of a value XOR are stored in 5 bits, so more than 31 are stored as 31.
const LEADING_ZEROS_MAX: u32 = 31;

/// The meaningful bits of a value XOR: everything between `leading` and `trailing` zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    leading: u32,
    trailing: u32,
}

impl Window {
    fn bits(self) -> u32 {
        64 - self.leading - self.trailing
    }
}

/// What both the appender and the iterator carry from one sample to the next.
#[derive(Clone, Copy, Debug, Default)]
struct State {
    t: i64,
    delta: u64,
    v_bits: u64,
    window: Option<Window>,
}

/// An open chunk: appends samples and always holds their complete encoding.
#[derive(Clone, Debug)]
pub struct XorAppender {
    /// Header and bit stream; unused low bits of the last byte are zero.
    buf: Vec<u8>,
    /// How many low bits of the last byte are still free (0..8).
    free_bits: u32,
    count: u16,
    first_t: i64,
    state: State,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl XorAppender {
    pub fn new() -> XorAppender {
        XorAppender::with_capacity(HEADER_BYTES + 64)
    }

    /// An empty chunk with room for `bytes` of encoding (header included) before it
    /// reallocates.
    pub fn with_capacity(bytes: usize) -> XorAppender {
        let mut buf = Vec::with_capacity(bytes.max(HEADER_BYTES));
        buf.extend_from_slice(&0u16.to_be_bytes());
        XorAppender {
            buf,
            free_bits: 0,
            count: 0,
            first_t: 0,
            state: State::default(),
        }
    }

    /// Resumes appending to a stored chunk, e.g. a head chunk replayed at start.
    /// Decodes every sample to rebuild the state, so it fails exactly when `iter` would.
    pub fn from_bytes(bytes: &[u8]) -> Result<XorAppender, ChunkError> {
        let mut samples = iter(bytes)?;
        for sample in samples.by_ref() {
            sample?;
        }
        let bit_pos = samples.reader.pos;
        // The iterator's end check guarantees that nothing but zero padding follows.
        assert!(bit_pos.div_ceil(8) == bytes.len());
        Ok(XorAppender {
            buf: bytes.to_vec(),
            free_bits: ((8 - bit_pos % 8) % 8) as u32,
            count: samples.total,
            first_t: samples.first_t,
            state: samples.state,
        })
    }

    /// Adds a sample. The caller must keep timestamps strictly increasing and must not
    /// append to a chunk that already holds `XOR_SAMPLES_MAX` samples (see `is_full`).
    pub fn append(&mut self, t: i64, v: f64) {
        // A wrapped count would make the whole chunk undecodable: a bug, not bad input.
        assert!(
            self.count < u16::MAX,
            "BUG: append to a full xor chunk ({} samples)",
            self.count
        );
        let v_bits = v.to_bits();
        match self.count {
            0 => {
                self.first_t = t;
                self.put_uvarint(zigzag(t));
                self.put_bits(v_bits, 64);
            }
            1 => {
                debug_assert!(
                    t > self.state.t,
                    "BUG: timestamp {t} after {}",
                    self.state.t
                );
                let delta = t.wrapping_sub(self.state.t) as u64;
                self.put_uvarint(delta);
                self.put_value(v_bits);
                self.state.delta = delta;
            }
            _ => {
                debug_assert!(
                    t > self.state.t,
                    "BUG: timestamp {t} after {}",
                    self.state.t
                );
                let delta = t.wrapping_sub(self.state.t) as u64;
                self.put_delta_of_delta(delta.wrapping_sub(self.state.delta) as i64);
                self.put_value(v_bits);
                self.state.delta = delta;
            }
        }
        self.state.t = t;
        self.state.v_bits = v_bits;
        self.count += 1;
        self.buf[..HEADER_BYTES].copy_from_slice(&self.count.to_be_bytes());
    }

    pub fn count(&self) -> usize {
        usize::from(self.count)
    }

    pub fn is_full(&self) -> bool {
        self.count() == XOR_SAMPLES_MAX
    }

    pub fn first_t(&self) -> Option<i64> {
        (self.count > 0).then_some(self.first_t)
    }

    pub fn last_t(&self) -> Option<i64> {
        (self.count > 0).then_some(self.state.t)
    }

    pub fn last_v(&self) -> Option<f64> {
        (self.count > 0).then_some(f64::from_bits(self.state.v_bits))
    }

    /// The complete encoding so far, decodable as is: readers may copy it while the
    /// chunk is still open.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    fn put_value(&mut self, v_bits: u64) {
        let xor = v_bits ^ self.state.v_bits;
        if xor == 0 {
            self.put_bits(0, 1);
            return;
        }
        let leading = xor.leading_zeros().min(LEADING_ZEROS_MAX);
        let trailing = xor.trailing_zeros();
        let fresh = Window { leading, trailing };
        match self.state.window {
            // Reuse the previous window when the XOR fits inside it and the reuse is no
            // dearer than describing a new window (11 bits) around fewer meaningful bits.
            // Prometheus always reuses; after a wide XOR that pins a wide window, this
            // saves bits on the narrow ones that follow. The decoder does not care.
            Some(old)
                if leading >= old.leading
                    && trailing >= old.trailing
                    && old.bits() <= fresh.bits() + 11 =>
            {
                self.put_bits(0b10, 2);
                self.put_bits(xor >> old.trailing, old.bits());
            }
            _ => {
                self.put_bits(0b11, 2);
                self.put_bits(u64::from(leading), 5);
                // 64 meaningful bits are stored as 0: a window is never empty.
                self.put_bits(u64::from(fresh.bits() & 63), 6);
                self.put_bits(xor >> trailing, fresh.bits());
                self.state.window = Some(fresh);
            }
        }
    }

    fn put_delta_of_delta(&mut self, dod: i64) {
        if dod == 0 {
            self.put_bits(0, 1);
            return;
        }
        for (prefix, prefix_bits, bits) in DOD_BUCKETS {
            if fits_signed(dod, bits) {
                self.put_bits(prefix, prefix_bits);
                self.put_bits(dod as u64 & low_mask(bits), bits);
                return;
            }
        }
        self.put_bits(DOD_ESCAPE.0, DOD_ESCAPE.1);
        self.put_bits(dod as u64, 64);
    }

    fn put_uvarint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.put_bits((value & 0x7f) | 0x80, 8);
            value >>= 7;
        }
        self.put_bits(value, 8);
    }

    /// Writes the low `bits` bits of `value`, most significant first.
    fn put_bits(&mut self, value: u64, bits: u32) {
        debug_assert!(bits <= 64);
        debug_assert!(bits == 64 || value >> bits == 0);
        let mut remaining = bits;
        while remaining > 0 {
            if self.free_bits == 0 {
                self.buf.push(0);
                self.free_bits = 8;
            }
            let take = remaining.min(self.free_bits);
            let chunk = ((value >> (remaining - take)) & low_mask(take)) as u8;
            let last = self.buf.len() - 1;
            self.buf[last] |= chunk << (self.free_bits - take);
            self.free_bits -= take;
            remaining -= take;
        }
    }
}

/// Starts decoding a chunk. Only the header is checked here; every later problem comes
/// out of the iterator as an `Err` item, after which it ends.
pub fn iter(bytes: &[u8]) -> Result<XorIter<'_>, ChunkError> {
    let header: [u8; HEADER_BYTES] = bytes
        .get(..HEADER_BYTES)
        .and_then(|header| header.try_into().ok())
        .ok_or(ChunkError::Truncated {
            what: "xor chunk header",
        })?;
    Ok(XorIter {
        reader: BitReader {
            bytes,
            pos: HEADER_BYTES * 8,
        },
        total: u16::from_be_bytes(header),
        read: 0,
        done: false,
        first_t: 0,
        state: State::default(),
    })
}

/// Lazily decodes a chunk: yields `Ok` samples, then at most one `Err`, then nothing.
/// The last item is an `Err` if the bytes after the last sample are anything but zero
/// padding, which catches a garbled count.
#[derive(Clone, Debug)]
pub struct XorIter<'a> {
    reader: BitReader<'a>,
    total: u16,
    read: u16,
    done: bool,
    first_t: i64,
    state: State,
}

impl Iterator for XorIter<'_> {
    type Item = Result<(i64, f64), ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.read == self.total {
            self.done = true;
            return self.reader.check_padding().err().map(Err);
        }
        match self.read_sample() {
            Ok(sample) => {
                self.read += 1;
                Some(Ok(sample))
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        // The remaining samples, or fewer of them and one error.
        let remaining = usize::from(self.total - self.read);
        (0, Some(remaining + 1))
    }
}

impl XorIter<'_> {
    /// The sample count the header announces.
    pub fn total(&self) -> usize {
        usize::from(self.total)
    }

    fn read_sample(&mut self) -> Result<(i64, f64), ChunkError> {
        let (t, v_bits) = match self.read {
            0 => {
                let t = unzigzag(self.reader.uvarint("first timestamp")?);
                self.first_t = t;
                (t, self.reader.bits(64, "first value")?)
            }
            1 => {
                let delta = self.reader.uvarint("second timestamp delta")?;
                let t = advance(self.state.t, delta)?;
                self.state.delta = delta;
                (t, self.read_value()?)
            }
            _ => {
                let dod = self.read_delta_of_delta()?;
                let delta = self.state.delta.wrapping_add(dod as u64);
                let t = advance(self.state.t, delta)?;
                self.state.delta = delta;
                (t, self.read_value()?)
            }
        };
        self.state.t = t;
        self.state.v_bits = v_bits;
        Ok((t, f64::from_bits(v_bits)))
    }

    fn read_value(&mut self) -> Result<u64, ChunkError> {
        const WHAT: &str = "value";
        if self.reader.bits(1, WHAT)? == 0 {
            return Ok(self.state.v_bits);
        }
        let window = if self.reader.bits(1, WHAT)? == 0 {
            self.state.window.ok_or_else(|| {
                ChunkError::Corrupt("value reuses a bit window before any was set".into())
            })?
        } else {
            let leading = self.reader.bits(5, WHAT)? as u32;
            let bits = match self.reader.bits(6, WHAT)? as u32 {
                0 => 64,
                bits => bits,
            };
            if leading + bits > 64 {
                return Err(ChunkError::Corrupt(format!(
                    "value window of {leading} leading zeros and {bits} bits exceeds 64 bits"
                )));
            }
            let window = Window {
                leading,
                trailing: 64 - leading - bits,
            };
            self.state.window = Some(window);
            window
        };
        let xor = self.reader.bits(window.bits(), WHAT)? << window.trailing;
        Ok(self.state.v_bits ^ xor)
    }

    fn read_delta_of_delta(&mut self) -> Result<i64, ChunkError> {
        const WHAT: &str = "timestamp delta of delta";
        if self.reader.bits(1, WHAT)? == 0 {
            return Ok(0);
        }
        // Bucket k is k + 1 ones and a zero; four ones are the 64-bit escape.
        for (_, _, bits) in DOD_BUCKETS {
            if self.reader.bits(1, WHAT)? == 0 {
                let raw = self.reader.bits(bits, WHAT)?;
                return Ok(sign_extend(raw, bits));
            }
        }
        Ok(self.reader.bits(64, WHAT)? as i64)
    }
}

/// Adds a delta to a timestamp, rejecting what no strictly increasing i64 sequence
/// could have produced.
fn advance(t: i64, delta: u64) -> Result<i64, ChunkError> {
    let next = i128::from(t) + i128::from(delta);
    if delta == 0 || next > i128::from(i64::MAX) {
        return Err(ChunkError::Corrupt(format!(
            "timestamp delta {delta} after {t} does not give a later i64 timestamp"
        )));
    }
    Ok(next as i64)
}

fn fits_signed(value: i64, bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    (-half..half).contains(&value)
}

fn sign_extend(raw: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((raw << shift) as i64) >> shift
}

fn low_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Reads a big-endian bit stream; every read is bounds-checked against the slice.
#[derive(Clone, Debug)]
struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits from the start of `bytes`.
    pos: usize,
}

impl BitReader<'_> {
    fn bits(&mut self, bits: u32, what: &'static str) -> Result<u64, ChunkError> {
        debug_assert!(bits <= 64);
        if self.pos + bits as usize > self.bytes.len() * 8 {
            return Err(ChunkError::Truncated { what });
        }
        let mut value: u64 = 0;
        let mut remaining = bits;
        while remaining > 0 {
            let byte = self.bytes[self.pos / 8];
            let available = 8 - (self.pos % 8) as u32;
            let take = remaining.min(available);
            let chunk = (byte >> (available - take)) as u64 & low_mask(take);
            // `take` is at most 8, so the shift never drops set bits of a valid value.
            value = (value << take) | chunk;
            self.pos += take as usize;
            remaining -= take;
        }
        Ok(value)
    }

    fn uvarint(&mut self, what: &'static str) -> Result<u64, ChunkError> {
        let mut value: u64 = 0;
        for index in 0..super::VARINT_BYTES_MAX {
            let byte = self.bits(8, what)?;
            if index == super::VARINT_BYTES_MAX - 1 && byte > 1 {
                return Err(ChunkError::Corrupt(format!(
                    "{what}: varint overflows 64 bits"
                )));
            }
            value |= (byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ChunkError::Corrupt(format!(
            "{what}: varint longer than 10 bytes"
        )))
    }

    /// After the last sample only the zero bits padding the last byte may remain.
    fn check_padding(&self) -> Result<(), ChunkError> {
        let end = self.pos.div_ceil(8);
        if end != self.bytes.len() {
            return Err(ChunkError::Corrupt(format!(
                "{} bytes after the last sample",
                self.bytes.len() - end
            )));
        }
        let used = (self.pos % 8) as u32;
        if used != 0 && self.bytes[end - 1] & (low_mask(8 - used) as u8) != 0 {
            return Err(ChunkError::Corrupt(
                "non-zero padding after the last sample".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
    const PROMETHEUS_NAN: u64 = 0x7ff8_0000_0000_0001;

    fn decode(bytes: &[u8]) -> Result<Vec<(i64, u64)>, ChunkError> {
        iter(bytes)?
            .map(|sample| sample.map(|(t, v)| (t, v.to_bits())))
            .collect()
    }

    /// Appends `samples` and checks, bit for bit: the full decode, the decode of every
    /// prefix copied while the chunk was open, and that resuming with `from_bytes` at
    /// every point produces exactly the bytes of an uninterrupted appender.
    fn check(samples: &[(i64, f64)]) {
        let expected: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        let mut appender = XorAppender::new();
        let mut snapshots = vec![appender.bytes().to_vec()];
        for &(t, v) in samples {
            appender.append(t, v);
            snapshots.push(appender.bytes().to_vec());
        }
        assert_eq!(decode(appender.bytes()).unwrap(), expected);
        assert_eq!(appender.count(), samples.len());
        assert_eq!(appender.first_t(), samples.first().map(|s| s.0));
        assert_eq!(appender.last_t(), samples.last().map(|s| s.0));
        assert_eq!(
            appender.last_v().map(f64::to_bits),
            samples.last().map(|s| s.1.to_bits())
        );
        for (len, snapshot) in snapshots.iter().enumerate() {
            assert_eq!(
                decode(snapshot).unwrap(),
                expected[..len],
                "prefix of {len}"
            );
            let mut resumed = XorAppender::from_bytes(snapshot).unwrap();
            assert_eq!(resumed.count(), len);
            assert_eq!(resumed.last_t(), appender_last_t(samples, len));
            for &(t, v) in &samples[len..] {
                resumed.append(t, v);
            }
            assert_eq!(resumed.bytes(), appender.bytes(), "resumed after {len}");
        }
    }

    fn appender_last_t(samples: &[(i64, f64)], len: usize) -> Option<i64> {
        len.checked_sub(1).map(|i| samples[i].0)
    }

    fn regular(
        count: usize,
        t0: i64,
        interval_ms: i64,
        value: impl Fn(usize) -> f64,
    ) -> Vec<(i64, f64)> {
        (0..count)
            .map(|i| (t0 + i as i64 * interval_ms, value(i)))
            .collect()
    }

    #[test]
    fn empty_chunk_is_two_zero_bytes() {
        let appender = XorAppender::new();
        assert_eq!(appender.bytes(), &[0, 0]);
        assert_eq!(appender.first_t(), None);
        assert_eq!(appender.last_v(), None);
        check(&[]);
    }

    #[test]
    fn single_sample() {
        check(&[(1_700_000_000_000, 42.5)]);
        check(&[(-5, f64::from_bits(STALE_NAN))]);
    }

    #[test]
    fn special_values_round_trip_bit_exactly() {
        let specials = [
            f64::from_bits(STALE_NAN),
            f64::from_bits(PROMETHEUS_NAN),
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001), // signalling NaN
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::MIN_POSITIVE / 2.0,
            -f64::MIN_POSITIVE / 3.0,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            1.0,
        ];
        check(&regular(specials.len(), 0, 15_000, |i| specials[i]));
        // Every special after every other one exercises all window transitions.
        let pairs: Vec<f64> = specials
            .iter()
            .flat_map(|&a| specials.iter().flat_map(move |&b| [a, b]))
            .collect();
        check(&regular(pairs.len(), 1_000, 1, |i| pairs[i]));
    }

    #[test]
    fn timestamp_extremes_round_trip() {
        check(&[(i64::MIN, 1.0), (i64::MAX, 2.0)]);
        check(&[
            (i64::MIN, 1.0),
            (i64::MIN + 1, 2.0),
            (-1, 3.0),
            (0, 4.0),
            (i64::MAX - 1, 5.0),
            (i64::MAX, 6.0),
        ]);
        check(&[
            (-1_000_000_000_000, 0.0),
            (-999_999_985_000, 1.0),
            (-999_999_970_000, 2.0),
        ]);
    }

    #[test]
    fn every_delta_of_delta_bucket_boundary_round_trips() {
        let mut dods = vec![1i64, -1, 1 << 40, -(1 << 40)];
        for (_, _, bits) in DOD_BUCKETS {
            let half = 1i64 << (bits - 1);
            dods.extend([half - 1, half, -half, -half - 1]);
        }
        // Each dod is followed by its negation so the interval returns to its base, which
        // is large enough to keep every interval positive.
        let mut samples = vec![(0i64, 0.0), (1 << 50, 1.0)];
        let mut delta = 1i64 << 50;
        for dod in dods.iter().flat_map(|&dod| [dod, -dod]) {
            delta += dod;
            let t = samples.last().unwrap().0 + delta;
            samples.push((t, samples.len() as f64));
        }
        check(&samples);
    }

    #[test]
    fn large_gaps_and_irregular_intervals() {
        let mut t = 1_600_000_000_000i64;
        let mut samples = Vec::new();
        let gaps = [
            15_000,
            15_003,
            14_998,
            30_000,
            3_600_000 * 5,
            15_000,
            1,
            2,
            86_400_000 * 40,
            15_000,
        ];
        for (i, gap) in gaps.iter().cycle().take(500).enumerate() {
            t += gap;
            samples.push((t, (i as f64).sqrt()));
        }
        check(&samples);
    }

    #[test]
    fn regular_counter_costs_little() {
        let samples = regular(120, 1_795_316_415_000, 15_000, |i| (1000 + 3 * i) as f64);
        let mut appender = XorAppender::new();
        for &(t, v) in &samples {
            appender.append(t, v);
        }
        // Timestamps cost 1 bit after the second; the counter's XORs about 2 bytes.
        assert!(
            appender.bytes().len() < 300,
            "{} bytes",
            appender.bytes().len()
        );
        check(&samples);
    }

    #[test]
    fn holds_up_to_the_count_limit() {
        let samples = regular(XOR_SAMPLES_MAX, -1_000_000, 7, |i| (i % 17) as f64);
        let mut appender = XorAppender::new();
        for &(t, v) in &samples {
            appender.append(t, v);
        }
        assert!(appender.is_full());
        assert_eq!(decode(appender.bytes()).unwrap().len(), XOR_SAMPLES_MAX);
        let resumed = XorAppender::from_bytes(appender.bytes()).unwrap();
        assert!(resumed.is_full());
    }

    #[test]
    #[should_panic(expected = "BUG: append to a full xor chunk")]
    fn append_past_the_limit_is_a_bug() {
        let mut appender = XorAppender::new();
        for i in 0..=XOR_SAMPLES_MAX {
            appender.append(i as i64, 0.0);
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let samples = regular(50, 0, 15_000, |i| (i as f64) * 0.1);
        let mut appender = XorAppender::new();
        for &(t, v) in &samples {
            appender.append(t, v);
        }
        let bytes = appender.bytes();
        for len in 0..bytes.len() {
            assert!(
                decode(&bytes[..len]).is_err(),
                "prefix of {len} bytes decoded"
            );
            assert!(XorAppender::from_bytes(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn trailing_bytes_and_dirty_padding_are_errors() {
        let mut appender = XorAppender::new();
        appender.append(0, 1.0);
        appender.append(10, 1.0);
        let mut longer = appender.bytes().to_vec();
        longer.push(0);
        assert!(matches!(decode(&longer), Err(ChunkError::Corrupt(_))));
        let mut dirty = appender.bytes().to_vec();
        *dirty.last_mut().unwrap() |= 1;
        assert!(matches!(decode(&dirty), Err(ChunkError::Corrupt(_))));
        // A count that is too small leaves undecoded bytes behind.
        let mut fewer = appender.bytes().to_vec();
        fewer[1] = 1;
        assert!(decode(&fewer).is_err());
    }

    #[test]
    fn non_increasing_timestamps_are_corruption() {
        // Hand-made: count 2, t0 = 0, value 0.0, delta varint 0.
        let mut bytes = vec![0, 2, 0];
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&[0, 0]);
        assert!(matches!(decode(&bytes), Err(ChunkError::Corrupt(_))));
    }

    #[test]
    fn iterator_ends_after_an_error() {
        let mut it = iter(&[0, 3, 0x80]).unwrap();
        assert!(matches!(it.next(), Some(Err(ChunkError::Truncated { .. }))));
        assert!(it.next().is_none());
    }

    fn timestamps_strategy() -> impl Strategy<Value = Vec<i64>> {
        let delta = prop_oneof![
            8 => Just(15_000u64),
            4 => 14_900u64..15_100,
            2 => 1u64..100_000,
            1 => 1u64..(1 << 40),
            1 => 1u64..=u64::MAX,
        ];
        (any::<i64>(), proptest::collection::vec(delta, 0..200)).prop_map(|(start, deltas)| {
            let mut ts = vec![start];
            for delta in deltas {
                let next = i128::from(*ts.last().unwrap()) + i128::from(delta);
                match i64::try_from(next) {
                    Ok(next) => ts.push(next),
                    Err(_) => break,
                }
            }
            ts
        })
    }

    fn value_strategy() -> impl Strategy<Value = f64> {
        prop_oneof![
            3 => any::<u64>().prop_map(f64::from_bits),
            3 => (0i64..1000).prop_map(|i| i as f64 / 100.0),
            2 => (0u32..4).prop_map(|i| [0.0, 1.0, 7.25, 1e300][i as usize]),
            2 => (0u32..8).prop_map(|i| f64::from_bits([STALE_NAN, PROMETHEUS_NAN, f64::INFINITY.to_bits(), (-0.0f64).to_bits(),
                (f64::MIN_POSITIVE / 2.0).to_bits(), f64::NEG_INFINITY.to_bits(), f64::NAN.to_bits(), 1][i as usize])),
        ]
    }

    fn samples_strategy() -> impl Strategy<Value = Vec<(i64, f64)>> {
        (
            timestamps_strategy(),
            proptest::collection::vec(value_strategy(), 200),
        )
            .prop_map(|(ts, vs)| ts.into_iter().zip(vs).collect())
    }

    proptest! {
        #[test]
        fn round_trips_with_resume_and_open_reads(samples in samples_strategy()) {
            check(&samples);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(samples) = iter(&bytes) {
                for sample in samples.take(70_000) {
                    let _ = sample;
                }
            }
            let _ = XorAppender::from_bytes(&bytes);
        }

        #[test]
        fn garbled_chunks_never_panic(samples in samples_strategy(), flips in proptest::collection::vec((any::<usize>(), 0u8..8), 1..4)) {
            let mut appender = XorAppender::new();
            for &(t, v) in &samples {
                appender.append(t, v);
            }
            let mut bytes = appender.bytes().to_vec();
            for (index, bit) in flips {
                let len = bytes.len();
                bytes[index % len] ^= 1 << bit;
            }
            let _ = decode(&bytes);
            let _ = XorAppender::from_bytes(&bytes);
        }
    }
}
