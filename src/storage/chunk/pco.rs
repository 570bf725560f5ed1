//! pco blocks: the compaction encoding of a whole finished series-period at once,
//! built on the pco crate (pcodec) with transforms chosen per block.
//! Owns: the `Encoding::Pco` payload format (docs/format/chunk.md), `encode`, `decode`.
//! Does not: frame or checksum blocks (`super::frame`), pick the period, or stream: a
//! block is encoded and decoded whole.
//! Limits: `PCO_SAMPLES_MAX` per block.
//!
//! Layout: the sample count, pco's format version, a timestamp section and a value
//! section, each opened by a tag byte naming its form. Timestamps are either `Regular`
//! (first timestamp and one interval: what a healthy scrape produces) or a pco i64 chunk
//! whose delta encoding absorbs jitter and gaps. Values are `Constant` (one bit pattern),
//! `Decimal` (integers m with v = m / 10^e, compressed as pco i64) or `Float` (pco f64),
//! whichever of the forms that apply is smallest; `Decimal` wins on counters and on
//! gauges written with a few decimals, where pco's own float modes still pay for the
//! rounding error of `m * 0.01`.
//!
//! Bit exactness. pco itself round-trips every f64 we tried, NaN payloads and -0.0
//! included (see the tests), but its FloatMult mode decodes as `mult * base` in float
//! arithmetic, and the payload of a NaN produced by arithmetic is unspecified in Rust and
//! differs between CPUs (x86 propagates it, RISC-V canonicalises it). A block written on
//! one machine must decode identically on another, so NaNs never reach pco: they are
//! stored as exceptions (index and raw 64 bits) and replaced in the pco stream by the
//! value before them. `Decimal` stores as exceptions every value that `m / 10^e` does not
//! reproduce bit for bit (NaN, ±Inf, -0.0, full-precision outliers); that division is
//! correctly rounded IEEE arithmetic on finite operands, so it is portable. Finally
//! `encode` decodes what it produced and compares bit patterns, so a codec bug shows up
//! as `ChunkError::RoundTrip` at compaction, while the source chunks still exist, and
//! never as a silently different block.

use pco::data_types::Number;
use pco::wrapped::{FileCompressor, FileDecompressor};
use pco::{ChunkConfig, DeltaSpec, PagingSpec};

use super::{ChunkError, get_uvarint, put_uvarint, unzigzag, zigzag};

/// Most samples one block may hold: 12 days at one sample a second. Decoding allocates
/// 16 bytes per sample up front (16 MiB here) before pco can notice a lie in the count.
pub const PCO_SAMPLES_MAX: usize = 1 << 20;

/// Largest decimal exponent tried: 10^18 is exact in f64 (every power up to 10^22 is),
/// so `m / 10^e` is one correctly rounded division.
const DECIMAL_EXPONENT_MAX: u32 = 18;

/// Mantissas are kept within ±2^53 so that `m as f64` is exact.
const DECIMAL_MANTISSA_MAX: f64 = 9_007_199_254_740_992.0;

/// A decimal block may store at most this fraction (1/n) of its values as exceptions;
/// each costs 9 or more bytes, so past this the float form is smaller anyway.
const DECIMAL_EXCEPTIONS_DIVISOR: usize = 64;

const TIMESTAMPS_REGULAR: u8 = 0;
const TIMESTAMPS_PCO: u8 = 1;
const VALUES_CONSTANT: u8 = 0;
const VALUES_FLOAT: u8 = 1;
const VALUES_DECIMAL: u8 = 2;

/// Encodes one series' samples as a block. Timestamps must be strictly increasing.
pub fn encode(timestamps: &[i64], values: &[f64]) -> Result<Vec<u8>, ChunkError> {
    check_input(timestamps, values)?;
    let mut out = Vec::new();
    put_uvarint(&mut out, timestamps.len() as u64);
    if timestamps.is_empty() {
        return Ok(out);
    }
    FileCompressor::default()
        .write_header(&mut out)
        .map_err(pco_error)?;
    put_timestamps(&mut out, timestamps)?;
    put_values(&mut out, values)?;
    verify(&out, timestamps, values)?;
    Ok(out)
}

/// Decodes a block written by `encode`. Any malformed input is an error, never a panic.
pub fn decode(bytes: &[u8]) -> Result<(Vec<i64>, Vec<f64>), ChunkError> {
    let mut input = bytes;
    let count = get_count(&mut input, "block sample count")?;
    if count == 0 {
        expect_end(input)?;
        return Ok((Vec::new(), Vec::new()));
    }
    let (file, rest) = FileDecompressor::new(input).map_err(pco_error)?;
    input = rest;
    let timestamps = get_timestamps(&file, &mut input, count)?;
    let values = get_values(&file, &mut input, count)?;
    expect_end(input)?;
    debug_assert_eq!(timestamps.len(), values.len());
    Ok((timestamps, values))
}

/// Encodes a table of equally long columns (rollup blocks): the row count, pco's
/// header, each integer column as pco i64, then each float column in the value forms
/// above (constant, decimal or float, NaNs as exceptions). Checked by decoding, as
/// `encode` is.
pub fn encode_columns(ints: &[&[i64]], floats: &[&[f64]]) -> Result<Vec<u8>, ChunkError> {
    let rows = ints
        .first()
        .map(|column| column.len())
        .or_else(|| floats.first().map(|column| column.len()))
        .unwrap_or(0);
    if ints.iter().any(|column| column.len() != rows)
        || floats.iter().any(|column| column.len() != rows)
    {
        return Err(ChunkError::Corrupt("columns of different lengths".into()));
    }
    if rows > PCO_SAMPLES_MAX {
        return Err(ChunkError::Corrupt(format!(
            "{rows} rows exceed the limit of {PCO_SAMPLES_MAX}"
        )));
    }
    let mut out = Vec::new();
    put_uvarint(&mut out, rows as u64);
    if rows > 0 {
        FileCompressor::default()
            .write_header(&mut out)
            .map_err(pco_error)?;
        for column in ints {
            put_best_pco(&mut out, column)?;
        }
        for column in floats {
            put_values(&mut out, column)?;
        }
    }
    let (ints_back, floats_back) = decode_columns(&out, ints.len(), floats.len())?;
    let same_ints = ints_back
        .iter()
        .zip(ints)
        .all(|(back, column)| back == column);
    let same_floats = floats_back.iter().zip(floats).all(|(back, column)| {
        back.iter()
            .zip(column.iter())
            .all(|(a, b)| a.to_bits() == b.to_bits())
    });
    if !same_ints || !same_floats {
        return Err(ChunkError::RoundTrip(
            "a column table did not decode to its input".into(),
        ));
    }
    Ok(out)
}

/// Decodes a table written by `encode_columns` with that many columns of each kind.
#[allow(clippy::type_complexity)] // Two lists of columns; a struct would only name them.
pub fn decode_columns(
    bytes: &[u8],
    ints: usize,
    floats: usize,
) -> Result<(Vec<Vec<i64>>, Vec<Vec<f64>>), ChunkError> {
    let mut input = bytes;
    let rows = get_count(&mut input, "table row count")?;
    if rows == 0 {
        expect_end(input)?;
        return Ok((vec![Vec::new(); ints], vec![Vec::new(); floats]));
    }
    let (file, rest) = FileDecompressor::new(input).map_err(pco_error)?;
    input = rest;
    let mut int_columns = Vec::with_capacity(ints);
    for _ in 0..ints {
        int_columns.push(get_pco::<i64>(&file, &mut input, rows)?);
    }
    let mut float_columns = Vec::with_capacity(floats);
    for _ in 0..floats {
        float_columns.push(get_values(&file, &mut input, rows)?);
    }
    expect_end(input)?;
    Ok((int_columns, float_columns))
}

/// A leading count of samples or rows, refused above `PCO_SAMPLES_MAX` before anything
/// is allocated for it.
fn get_count(input: &mut &[u8], what: &'static str) -> Result<usize, ChunkError> {
    let count = get_uvarint(input, what)?;
    usize::try_from(count)
        .ok()
        .filter(|&count| count <= PCO_SAMPLES_MAX)
        .ok_or_else(|| {
            ChunkError::Corrupt(format!(
                "{what} {count} exceeds the limit of {PCO_SAMPLES_MAX}"
            ))
        })
}

fn check_input(timestamps: &[i64], values: &[f64]) -> Result<(), ChunkError> {
    if timestamps.len() != values.len() {
        return Err(ChunkError::LengthMismatch {
            timestamps: timestamps.len(),
            values: values.len(),
        });
    }
    if timestamps.len() > PCO_SAMPLES_MAX {
        return Err(ChunkError::TooManySamples {
            count: timestamps.len(),
            limit: PCO_SAMPLES_MAX,
        });
    }
    // Checked for real, not only in debug builds: this runs once per block, and a block
    // that the decoder would reject must never be written in place of good chunks.
    if let Some(index) = timestamps.windows(2).position(|pair| pair[0] >= pair[1]) {
        return Err(ChunkError::Unordered {
            index: index + 1,
            previous: timestamps[index],
            timestamp: timestamps[index + 1],
        });
    }
    Ok(())
}

/// Reads back what `encode` wrote and compares bit patterns (see the module doc).
fn verify(block: &[u8], timestamps: &[i64], values: &[f64]) -> Result<(), ChunkError> {
    let (decoded_timestamps, decoded_values) = decode(block)
        .map_err(|error| ChunkError::RoundTrip(format!("decoding it fails: {error}")))?;
    if decoded_timestamps.len() != timestamps.len() || decoded_values.len() != values.len() {
        return Err(ChunkError::RoundTrip(format!(
            "{} samples in, {} timestamps and {} values out",
            timestamps.len(),
            decoded_timestamps.len(),
            decoded_values.len()
        )));
    }
    let differs = |i: &usize| {
        decoded_timestamps[*i] != timestamps[*i]
            || decoded_values[*i].to_bits() != values[*i].to_bits()
    };
    if let Some(index) = (0..timestamps.len()).find(differs) {
        return Err(ChunkError::RoundTrip(format!(
            "sample {index} of {} differs",
            timestamps.len()
        )));
    }
    Ok(())
}

fn put_timestamps(out: &mut Vec<u8>, timestamps: &[i64]) -> Result<(), ChunkError> {
    let step = match timestamps {
        [first, second, ..] => second.wrapping_sub(*first) as u64,
        _ => 0,
    };
    let regular = timestamps
        .windows(2)
        .all(|pair| pair[1].wrapping_sub(pair[0]) as u64 == step);
    if regular {
        out.push(TIMESTAMPS_REGULAR);
        put_uvarint(out, zigzag(timestamps[0]));
        if timestamps.len() > 1 {
            put_uvarint(out, step);
        }
        return Ok(());
    }
    out.push(TIMESTAMPS_PCO);
    put_pco(out, timestamps, &ChunkConfig::default())
}

fn get_timestamps(
    file: &FileDecompressor,
    input: &mut &[u8],
    count: usize,
) -> Result<Vec<i64>, ChunkError> {
    let timestamps = match take_byte(input, "timestamp form")? {
        TIMESTAMPS_REGULAR => {
            let first = unzigzag(get_uvarint(input, "first timestamp")?);
            let step = if count > 1 {
                get_uvarint(input, "timestamp interval")?
            } else {
                0
            };
            // The last timestamp must be an i64; checking it bounds all the others.
            let last = i128::from(first) + i128::from(step) * (count as i128 - 1);
            if last > i128::from(i64::MAX) || (count > 1 && step == 0) {
                return Err(ChunkError::Corrupt(format!(
                    "regular timestamps from {first} every {step} ms for {count} samples do not increase within i64"
                )));
            }
            (0..count)
                .map(|i| (i128::from(first) + i128::from(step) * i as i128) as i64)
                .collect()
        }
        TIMESTAMPS_PCO => get_pco::<i64>(file, input, count)?,
        other => {
            return Err(ChunkError::Corrupt(format!(
                "unknown timestamp form {other}"
            )));
        }
    };
    if let Some(index) = timestamps.windows(2).position(|pair| pair[0] >= pair[1]) {
        return Err(ChunkError::Corrupt(format!(
            "timestamps not strictly increasing at sample {}",
            index + 1
        )));
    }
    Ok(timestamps)
}

/// Values the main stream cannot carry, stored verbatim: (index, bit pattern).
type Exceptions = Vec<(usize, u64)>;

fn put_values(out: &mut Vec<u8>, values: &[f64]) -> Result<(), ChunkError> {
    let first_bits = values[0].to_bits();
    if values.iter().all(|v| v.to_bits() == first_bits) {
        out.push(VALUES_CONSTANT);
        out.extend_from_slice(&first_bits.to_le_bytes());
        return Ok(());
    }
    let mut best = float_candidate(values)?;
    if let Some(decimal) = decimal_candidate(values)?
        && decimal.len() < best.len()
    {
        best = decimal;
    }
    out.extend_from_slice(&best);
    Ok(())
}

fn get_values(
    file: &FileDecompressor,
    input: &mut &[u8],
    count: usize,
) -> Result<Vec<f64>, ChunkError> {
    match take_byte(input, "value form")? {
        VALUES_CONSTANT => {
            let bits = take_u64(input, "constant value")?;
            Ok(vec![f64::from_bits(bits); count])
        }
        VALUES_FLOAT => {
            let exceptions = get_exceptions(input, count)?;
            let mut values = get_pco::<f64>(file, input, count)?;
            for (index, bits) in exceptions {
                values[index] = f64::from_bits(bits);
            }
            Ok(values)
        }
        VALUES_DECIMAL => {
            let exponent = u32::from(take_byte(input, "decimal exponent")?);
            if exponent > DECIMAL_EXPONENT_MAX {
                return Err(ChunkError::Corrupt(format!(
                    "decimal exponent {exponent} exceeds {DECIMAL_EXPONENT_MAX}"
                )));
            }
            let exceptions = get_exceptions(input, count)?;
            let mantissas = get_pco::<i64>(file, input, count)?;
            let mut values: Vec<f64> = mantissas
                .into_iter()
                .map(|mantissa| from_decimal(mantissa, exponent))
                .collect();
            for (index, bits) in exceptions {
                values[index] = f64::from_bits(bits);
            }
            Ok(values)
        }
        other => Err(ChunkError::Corrupt(format!("unknown value form {other}"))),
    }
}

/// pco on the f64 values, with NaNs taken out (see the module doc).
fn float_candidate(values: &[f64]) -> Result<Vec<u8>, ChunkError> {
    let exceptions: Exceptions = values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_nan())
        .map(|(index, v)| (index, v.to_bits()))
        .collect();
    let stream = fill_exceptions(values, &exceptions);
    debug_assert!(stream.iter().all(|v| !v.is_nan()));
    let mut out = vec![VALUES_FLOAT];
    put_exceptions(&mut out, &exceptions);
    put_best_pco(&mut out, &stream)?;
    Ok(out)
}

/// pco on integer mantissas with one decimal exponent for the block, if one exists
/// that leaves few enough exceptions.
fn decimal_candidate(values: &[f64]) -> Result<Option<Vec<u8>>, ChunkError> {
    let Some(exponent) = choose_decimal_exponent(values) else {
        return Ok(None);
    };
    let mut exceptions = Exceptions::new();
    let mut mantissas = Vec::with_capacity(values.len());
    for (index, &value) in values.iter().enumerate() {
        match to_decimal(value, exponent) {
            Some(mantissa) => mantissas.push(mantissa),
            None => {
                exceptions.push((index, value.to_bits()));
                // A placeholder that `fill_exceptions` overwrites.
                mantissas.push(0);
            }
        }
    }
    let mantissas = fill_exceptions(&mantissas, &exceptions);
    let mut out = vec![VALUES_DECIMAL, exponent as u8];
    put_exceptions(&mut out, &exceptions);
    put_best_pco(&mut out, &mantissas)?;
    Ok(Some(out))
}

/// The smallest exponent that represents all but `1/DECIMAL_EXCEPTIONS_DIVISOR` of the
/// values; `None` if there is none. A value representable at exponent e is also
/// representable at every larger one while its mantissa stays within ±2^53, since
/// `m·10^k / 10^(e+k)` and `m / 10^e` are the same rational, rounded once.
fn choose_decimal_exponent(values: &[f64]) -> Option<u32> {
    let exceptions_max = values.len() / DECIMAL_EXCEPTIONS_DIVISOR;
    let mut needed = [0usize; DECIMAL_EXPONENT_MAX as usize + 1];
    let mut misses = 0;
    for &value in values {
        match (0..=DECIMAL_EXPONENT_MAX).find(|&e| to_decimal(value, e).is_some()) {
            Some(exponent) => needed[exponent as usize] += 1,
            // Stale markers are exceptions in the float form too: they decide nothing.
            None if value.is_nan() => {}
            None => {
                misses += 1;
                if misses > exceptions_max {
                    return None;
                }
            }
        }
    }
    let nans = values.iter().filter(|v| v.is_nan()).count();
    // Raise the exponent until the values that need more are few enough.
    let mut above = values.len() - misses - nans;
    for (exponent, &count) in needed.iter().enumerate() {
        above -= count;
        if misses + above <= exceptions_max {
            return Some(exponent as u32);
        }
    }
    None
}

const POWERS_OF_TEN: [f64; DECIMAL_EXPONENT_MAX as usize + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// The mantissa m with `from_decimal(m, exponent)` bit-identical to `value`, if any.
fn to_decimal(value: f64, exponent: u32) -> Option<i64> {
    let mantissa = (value * POWERS_OF_TEN[exponent as usize]).round();
    if !mantissa.is_finite() || mantissa.abs() > DECIMAL_MANTISSA_MAX {
        return None;
    }
    let mantissa = mantissa as i64;
    (from_decimal(mantissa, exponent).to_bits() == value.to_bits()).then_some(mantissa)
}

fn from_decimal(mantissa: i64, exponent: u32) -> f64 {
    debug_assert!(exponent <= DECIMAL_EXPONENT_MAX);
    mantissa as f64 / POWERS_OF_TEN[exponent as usize]
}

/// Replaces each exception by the value before it (or the first regular value, for
/// leading ones), so that it costs a zero delta in the pco stream.
fn fill_exceptions<T: Copy + Default>(stream: &[T], exceptions: &Exceptions) -> Vec<T> {
    let mut filled = stream.to_vec();
    if exceptions.is_empty() {
        return filled;
    }
    let mut is_exception = vec![false; stream.len()];
    for &(index, _) in exceptions {
        is_exception[index] = true;
    }
    let first_regular = (0..stream.len())
        .find(|&i| !is_exception[i])
        .map_or_else(T::default, |i| stream[i]);
    let mut previous = first_regular;
    for (value, exception) in filled.iter_mut().zip(is_exception) {
        if exception {
            *value = previous;
        }
        previous = *value;
    }
    filled
}

/// Exceptions: a count, then per exception the gap to the previous index (the index
/// itself for the first) as a varint and the value's bits, little-endian.
fn put_exceptions(out: &mut Vec<u8>, exceptions: &Exceptions) {
    put_uvarint(out, exceptions.len() as u64);
    let mut next_free = 0;
    for &(index, bits) in exceptions {
        debug_assert!(index >= next_free);
        put_uvarint(out, (index - next_free) as u64);
        out.extend_from_slice(&bits.to_le_bytes());
        next_free = index + 1;
    }
}

fn get_exceptions(input: &mut &[u8], count: usize) -> Result<Exceptions, ChunkError> {
    let len = get_uvarint(input, "exception count")?;
    if len > count as u64 {
        return Err(ChunkError::Corrupt(format!(
            "{len} exceptions in a block of {count} samples"
        )));
    }
    let mut exceptions = Exceptions::with_capacity(len as usize);
    let mut next_free: u64 = 0;
    for _ in 0..len {
        let index = next_free.saturating_add(get_uvarint(input, "exception index")?);
        if index >= count as u64 {
            return Err(ChunkError::Corrupt(format!(
                "exception index {index} beyond the block's {count} samples"
            )));
        }
        let bits = take_u64(input, "exception value")?;
        exceptions.push((index as usize, bits));
        next_free = index + 1;
    }
    Ok(exceptions)
}

/// Delta encodings tried per stream. pco's `Auto` guesses from a sample and sometimes
/// picks a higher order (or none) where first differences compress better, so first
/// differences are always tried as well and the smaller result kept.
const DELTA_SPECS: [DeltaSpec; 2] = [DeltaSpec::Auto, DeltaSpec::TryConsecutive(1)];

fn put_best_pco<T: Number>(out: &mut Vec<u8>, nums: &[T]) -> Result<(), ChunkError> {
    let mut best: Option<Vec<u8>> = None;
    for delta_spec in DELTA_SPECS {
        let mut candidate = Vec::new();
        put_pco(
            &mut candidate,
            nums,
            &ChunkConfig::default().with_delta_spec(delta_spec),
        )?;
        if best
            .as_ref()
            .is_none_or(|best| candidate.len() < best.len())
        {
            best = Some(candidate);
        }
    }
    out.extend_from_slice(&best.unwrap_or_default());
    Ok(())
}

/// One pco chunk of one page: the chunk metadata, then the page.
fn put_pco<T: Number>(
    out: &mut Vec<u8>,
    nums: &[T],
    config: &ChunkConfig,
) -> Result<(), ChunkError> {
    debug_assert!(!nums.is_empty());
    let config = config
        .clone()
        .with_paging_spec(PagingSpec::Exact(vec![nums.len()]));
    let mut chunk = FileCompressor::default()
        .chunk_compressor(nums, &config)
        .map_err(pco_error)?;
    chunk.write_meta(&mut *out).map_err(pco_error)?;
    chunk.write_page(0, &mut *out).map_err(pco_error)?;
    Ok(())
}

fn get_pco<T: Number + Default>(
    file: &FileDecompressor,
    input: &mut &[u8],
    count: usize,
) -> Result<Vec<T>, ChunkError> {
    let (mut chunk, rest) = file
        .chunk_decompressor::<T, &[u8]>(*input)
        .map_err(pco_error)?;
    let mut page = chunk.page_decompressor(rest, count).map_err(pco_error)?;
    let mut nums = vec![T::default(); count];
    let progress = page.read(&mut nums).map_err(pco_error)?;
    if progress.n_processed != count || !progress.finished {
        return Err(ChunkError::Corrupt(format!(
            "pco page held {} of {count} numbers",
            progress.n_processed
        )));
    }
    *input = page.into_src();
    Ok(nums)
}

fn pco_error(error: pco::errors::PcoError) -> ChunkError {
    ChunkError::Pco(error.to_string())
}

fn take_byte(input: &mut &[u8], what: &'static str) -> Result<u8, ChunkError> {
    let (&byte, rest) = input.split_first().ok_or(ChunkError::Truncated { what })?;
    *input = rest;
    Ok(byte)
}

fn take_u64(input: &mut &[u8], what: &'static str) -> Result<u64, ChunkError> {
    let (bytes, rest) = input
        .split_first_chunk::<8>()
        .ok_or(ChunkError::Truncated { what })?;
    *input = rest;
    Ok(u64::from_le_bytes(*bytes))
}

fn expect_end(input: &[u8]) -> Result<(), ChunkError> {
    if input.is_empty() {
        Ok(())
    } else {
        Err(ChunkError::Corrupt(format!(
            "{} bytes after the end of the block",
            input.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Encoding, frame, unframe};
    use super::*;
    use proptest::prelude::*;

    const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
    const PROMETHEUS_NAN: u64 = 0x7ff8_0000_0000_0001;

    /// Encodes, checks the block round-trips bit for bit (also through framing), and
    /// returns it so callers can look at its form and size.
    fn check(timestamps: &[i64], values: &[f64]) -> Vec<u8> {
        let block = encode(timestamps, values).unwrap();
        let (decoded_timestamps, decoded_values) = decode(&block).unwrap();
        assert_eq!(decoded_timestamps, timestamps);
        let bits = |vs: &[f64]| vs.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&decoded_values), bits(values));
        let framed = frame(Encoding::Pco, &block);
        assert_eq!(unframe(&framed).unwrap(), (Encoding::Pco, &block[..]));
        block
    }

    fn regular(count: usize) -> Vec<i64> {
        (0..count as i64)
            .map(|i| 1_795_316_415_000 + 15_000 * i)
            .collect()
    }

    /// The value form byte: after the count varint, pco's header, the timestamp section.
    /// Only meaningful for blocks with regular timestamps.
    fn value_form(block: &[u8], timestamps: &[i64]) -> u8 {
        let mut regular_section = vec![TIMESTAMPS_REGULAR];
        put_uvarint(&mut regular_section, zigzag(timestamps[0]));
        if timestamps.len() > 1 {
            put_uvarint(&mut regular_section, (timestamps[1] - timestamps[0]) as u64);
        }
        let mut prefix = Vec::new();
        put_uvarint(&mut prefix, timestamps.len() as u64);
        FileCompressor::default().write_header(&mut prefix).unwrap();
        block[prefix.len() + regular_section.len()]
    }

    #[test]
    fn empty_block_is_one_byte() {
        assert_eq!(check(&[], &[]), vec![0]);
    }

    #[test]
    fn single_sample() {
        check(&[42], &[1.5]);
        check(&[i64::MIN], &[f64::from_bits(STALE_NAN)]);
    }

    #[test]
    fn constant_series_costs_a_few_bytes() {
        let ts = regular(5760);
        let block = check(&ts, &vec![8_589_934_592.0; ts.len()]);
        assert_eq!(value_form(&block, &ts), VALUES_CONSTANT);
        assert!(block.len() < 25, "{} bytes", block.len());
    }

    #[test]
    fn special_values_round_trip_bit_exactly() {
        let specials = [
            f64::from_bits(STALE_NAN),
            f64::from_bits(PROMETHEUS_NAN),
            f64::from_bits(0xfff0_0000_0000_abcd),
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::MIN_POSITIVE / 2.0,
            -f64::MIN_POSITIVE / 2.0,
            f64::MAX,
            f64::MIN,
        ];
        let ts = regular(specials.len());
        check(&ts, &specials);
        // The same specials sprinkled into a decimal gauge and a full-precision float.
        for base in [
            |i: usize| (i % 300) as f64 / 100.0,
            |i: usize| (i as f64).sqrt() * 1.1,
        ] {
            let ts = regular(2000);
            let mut values: Vec<f64> = (0..ts.len()).map(base).collect();
            for (k, &special) in specials.iter().enumerate() {
                values[k * 97 + 1] = special;
            }
            values[0] = f64::from_bits(STALE_NAN);
            check(&ts, &values);
        }
    }

    #[test]
    fn decimal_form_wins_on_rounded_gauges_and_counters() {
        let ts = regular(5760);
        let load: Vec<f64> = (0..ts.len())
            .map(|i| ((i * 37) % 400) as f64 / 100.0)
            .collect();
        let block = check(&ts, &load);
        assert_eq!(value_form(&block, &ts), VALUES_DECIMAL);
        let counter: Vec<f64> = (0..ts.len())
            .map(|i| (1000 + 7 * i + i % 3) as f64)
            .collect();
        let block = check(&ts, &counter);
        // Small integer increments: well under a byte a sample, timestamps included.
        assert!(block.len() < ts.len() / 2, "{} bytes", block.len());
    }

    #[test]
    fn decimal_exponent_allows_few_exceptions() {
        let mut values: Vec<f64> = (0..640).map(|i| i as f64 / 10.0).collect();
        assert_eq!(choose_decimal_exponent(&values), Some(1));
        values[5] = 1.0 / 3.0;
        values[6] = -0.0;
        assert_eq!(choose_decimal_exponent(&values), Some(1));
        // 0.123 needs e = 3 and lifts all 640 mantissas; a lone outlier is better stored
        // as an exception.
        values[7] = 0.123;
        assert_eq!(choose_decimal_exponent(&values), Some(1));
        // Doubles near 1/3 that need 17 significant digits, more than 2^53 holds.
        let undecimal = (0..)
            .map(|k| f64::from_bits(0x3fd5_5555_5555_5555 + k))
            .filter(|&x| (0..=DECIMAL_EXPONENT_MAX).all(|e| to_decimal(x, e).is_none()));
        for (index, value) in (10..20).zip(undecimal) {
            values[index] = value;
        }
        assert_eq!(choose_decimal_exponent(&values), None);
        // NaNs are exceptions in every form, so they never rule out decimals.
        let stale = vec![f64::from_bits(STALE_NAN); 100];
        assert_eq!(choose_decimal_exponent(&stale), Some(0));
    }

    #[test]
    fn timestamp_extremes_and_gaps_round_trip() {
        check(&[i64::MIN, i64::MAX], &[1.0, 2.0]);
        check(&[i64::MIN, -1, 0, i64::MAX], &[1.0, 2.0, 3.0, 4.0]);
        check(&[i64::MIN, i64::MIN + 1, i64::MIN + 2], &[1.0, 2.0, 3.0]);
        check(&[i64::MAX - 2, i64::MAX - 1, i64::MAX], &[1.0, 2.0, 3.0]);
        let mut ts = regular(1000);
        for (i, t) in ts.iter_mut().enumerate() {
            // Jitter, a 5 h outage, and negative-epoch times.
            *t += (i as i64 * 7919) % 23 - 11 + if i > 500 { 5 * 3_600_000 } else { 0 }
                - 3_000_000_000_000;
        }
        check(&ts, &vec![1.0; ts.len()]);
    }

    #[test]
    fn invalid_input_is_rejected() {
        assert!(matches!(
            encode(&[1, 2], &[1.0]),
            Err(ChunkError::LengthMismatch {
                timestamps: 2,
                values: 1
            })
        ));
        assert!(matches!(
            encode(&[1, 5, 5], &[1.0; 3]),
            Err(ChunkError::Unordered {
                index: 2,
                previous: 5,
                timestamp: 5
            })
        ));
        let too_many = PCO_SAMPLES_MAX + 1;
        let ts: Vec<i64> = (0..too_many as i64).collect();
        assert!(matches!(
            encode(&ts, &vec![0.0; too_many]),
            Err(ChunkError::TooManySamples { .. })
        ));
    }

    #[test]
    fn corruption_is_an_error_never_a_panic() {
        let ts = regular(500);
        let values: Vec<f64> = (0..ts.len()).map(|i| (i as f64).ln() + 0.25).collect();
        let mut irregular = ts.clone();
        irregular[100] += 3;
        for block in [
            encode(&ts, &values).unwrap(),
            encode(&irregular, &values).unwrap(),
        ] {
            for len in 0..block.len() {
                assert!(
                    decode(&block[..len]).is_err(),
                    "prefix of {len} bytes decoded"
                );
            }
            let framed = frame(Encoding::Pco, &block);
            for index in 0..block.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut bad = block.clone();
                    bad[index] ^= flip;
                    let _ = decode(&bad);
                }
            }
            for index in 0..framed.len() {
                let mut bad = framed.clone();
                bad[index] ^= 0x10;
                assert!(unframe(&bad).is_err(), "flip in byte {index} passed");
            }
        }
    }

    #[test]
    fn huge_announced_count_is_rejected_before_allocating() {
        let mut block = Vec::new();
        put_uvarint(&mut block, u64::MAX);
        assert!(matches!(decode(&block), Err(ChunkError::Corrupt(_))));
    }

    /// Documents a finding rather than a dependency: on this CPU pco alone round-trips
    /// NaN payloads and -0.0 even in FloatMult mode. `encode` does not rely on it, for
    /// the portability reason in the module doc.
    #[test]
    fn pco_alone_round_trips_special_floats_here() {
        let mut values: Vec<f64> = (0..1000).map(|i| i as f64 * 0.01).collect();
        for (k, bits) in [
            STALE_NAN,
            PROMETHEUS_NAN,
            (-0.0f64).to_bits(),
            0xfff0_0000_0000_abcd,
        ]
        .into_iter()
        .enumerate()
        {
            values[k * 10 + 3] = f64::from_bits(bits);
        }
        let config = ChunkConfig::default().with_mode_spec(pco::ModeSpec::TryFloatMult(0.01));
        let compressed = pco::standalone::simple_compress(&values, &config).unwrap();
        let decompressed: Vec<f64> = pco::standalone::simple_decompress(&compressed).unwrap();
        let bits = |vs: &[f64]| vs.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&decompressed), bits(&values));
    }

    fn timestamps_strategy() -> impl Strategy<Value = Vec<i64>> {
        let delta = prop_oneof![
            8 => Just(15_000u64),
            4 => 14_990u64..15_010,
            1 => 1u64..(1 << 40),
            1 => 1u64..=u64::MAX,
        ];
        (any::<i64>(), proptest::collection::vec(delta, 0..600)).prop_map(|(start, deltas)| {
            let mut ts = vec![start];
            for delta in deltas {
                match i64::try_from(i128::from(*ts.last().unwrap()) + i128::from(delta)) {
                    Ok(next) => ts.push(next),
                    Err(_) => break,
                }
            }
            ts
        })
    }

    /// Value sequences shaped like real series, with specials sprinkled in.
    fn values_strategy(len: usize) -> impl Strategy<Value = Vec<f64>> {
        let special = (0usize..7).prop_map(|i| {
            f64::from_bits(
                [
                    STALE_NAN,
                    PROMETHEUS_NAN,
                    f64::INFINITY.to_bits(),
                    (-0.0f64).to_bits(),
                    (f64::MIN_POSITIVE / 2.0).to_bits(),
                    f64::NEG_INFINITY.to_bits(),
                    1,
                ][i],
            )
        });
        let shape = prop_oneof![
            // Counter with integer increments.
            (0u64..1 << 40, 0u64..1000).prop_map(move |(start, rate)| (0..len as u64)
                .map(|i| (start + rate * i + i % 7) as f64)
                .collect::<Vec<_>>()),
            // Gauge rounded to 0.01.
            (0i64..100_000).prop_map(move |seed| (0..len as i64)
                .map(|i| ((seed + i * 31) % 997) as f64 / 100.0)
                .collect()),
            // Arbitrary bit patterns.
            proptest::collection::vec(any::<u64>().prop_map(f64::from_bits), len),
            // Full-precision floats.
            proptest::collection::vec(any::<f64>(), len),
        ];
        (
            shape,
            proptest::collection::vec((any::<usize>(), special), 0..5),
        )
            .prop_map(move |(mut values, specials)| {
                for (index, value) in specials {
                    if !values.is_empty() {
                        let len = values.len();
                        values[index % len] = value;
                    }
                }
                values
            })
    }

    fn samples_strategy() -> impl Strategy<Value = (Vec<i64>, Vec<f64>)> {
        timestamps_strategy().prop_flat_map(|ts| {
            let len = ts.len();
            (Just(ts), values_strategy(len))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn round_trips((timestamps, values) in samples_strategy()) {
            check(&timestamps, &values);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn garbled_blocks_never_panic((timestamps, values) in samples_strategy(), flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..4)) {
            let mut block = encode(&timestamps, &values).unwrap();
            for (index, flip) in flips {
                let len = block.len();
                block[index % len] ^= flip;
            }
            let _ = decode(&block);
        }
    }
}
