//! Rollups: per series and bucket, what PromQL's functions need of the raw samples in
//! it, so that long ranges are answered from a few points per hour or minute.
//! Owns: the bucket aggregates, how raw samples map to buckets, and the encoding of a
//! block of buckets (docs/format/storage-sqlite.md, table `rollup`).
//! Does not: store blocks (`cold.rs`), decide which tier a query reads (the querier),
//! or evaluate functions (the engine gets samples derived from buckets).
//!
//! Buckets are left-open like PromQL's ranges: the bucket ending at `end` holds the
//! samples with `end - resolution < t <= end`. A query whose windows are whole buckets
//! (`[1h]` at a step that is a multiple of 1 h, on the 1 h tier) therefore sees exactly
//! the raw samples those windows hold, in aggregate.
//!
//! Counters: a bucket keeps its first and last sample and the reset-adjusted increase
//! between them; the increase from one bucket's last sample to the next bucket's first
//! is computed at read time from those raw values (a drop is a reset, as in
//! `rate()`). Nothing depends on earlier buckets, so buckets are written independently,
//! in any order, and backfilled data needs no rewrite of what follows it.
//!
//! Stale markers count as no sample in every aggregate; a bucket whose final sample
//! is a stale marker records when, so selectors on the tier see the series end.

use super::chunk::{self, ChunkError};
use crate::model::{Sample, is_stale_nan, kahan_add, kahan_total};

/// The aggregates of one bucket. `first*`/`last*` are NaN and `i64::MIN` when the
/// bucket held only stale markers (`count == 0`).
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    pub end: i64,
    /// Samples in the bucket, stale markers not counted.
    pub count: u32,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub first_t: i64,
    pub first: f64,
    pub last_t: i64,
    pub last: f64,
    /// Reset-adjusted increase from `first` to `last`, computed as `rate()` computes
    /// it: `last - first`, plus the value before each drop (a counter reset). Without
    /// a reset it is exactly `last - first`.
    pub increase: f64,
    /// Time of the bucket's final sample when that is a stale marker.
    pub stale_t: Option<i64>,
}

impl PartialEq for Bucket {
    /// Bit-exact on floats, so NaN aggregates compare equal to themselves.
    fn eq(&self, other: &Bucket) -> bool {
        let floats = |bucket: &Bucket| {
            [
                bucket.sum,
                bucket.min,
                bucket.max,
                bucket.first,
                bucket.last,
                bucket.increase,
            ]
            .map(f64::to_bits)
        };
        (
            self.end,
            self.count,
            self.first_t,
            self.last_t,
            self.stale_t,
        ) == (
            other.end,
            other.count,
            other.first_t,
            other.last_t,
            other.stale_t,
        ) && floats(self) == floats(other)
    }
}

/// The end of the bucket of `resolution` ms holding a sample at `t`.
pub fn bucket_end(t: i64, resolution: i64) -> i64 {
    t.saturating_sub(1)
        .div_euclid(resolution)
        .saturating_mul(resolution)
        .saturating_add(resolution)
}

/// The buckets of `samples` (sorted by time, one per timestamp) at `resolution` ms.
/// Sums are compensated (Kahan–Neumaier), as the engine's `sum_over_time` is.
pub fn buckets(samples: &[Sample], resolution: i64) -> Vec<Bucket> {
    debug_assert!(resolution > 0);
    debug_assert!(samples.windows(2).all(|pair| pair[0].t < pair[1].t));
    let mut result: Vec<Bucket> = Vec::new();
    // The open bucket's compensation, folded into its sum when it closes, and the
    // values before its drops, folded into its increase.
    let mut compensation = 0.0;
    let mut before_resets = 0.0;
    let close = |bucket: &mut Bucket, compensation: f64, before_resets: f64| {
        bucket.sum = kahan_total(bucket.sum, compensation);
        if bucket.count > 0 {
            bucket.increase = bucket.last - bucket.first + before_resets;
        }
    };
    for sample in samples {
        let end = bucket_end(sample.t, resolution);
        if result.last().is_none_or(|bucket| bucket.end != end) {
            if let Some(closed) = result.last_mut() {
                close(closed, compensation, before_resets);
            }
            compensation = 0.0;
            before_resets = 0.0;
            result.push(Bucket {
                end,
                count: 0,
                sum: 0.0,
                min: f64::NAN,
                max: f64::NAN,
                first_t: i64::MIN,
                first: f64::NAN,
                last_t: i64::MIN,
                last: f64::NAN,
                increase: 0.0,
                stale_t: None,
            });
        }
        let Some(bucket) = result.last_mut() else {
            continue;
        };
        if is_stale_nan(sample.v) {
            bucket.stale_t = Some(sample.t);
            continue;
        }
        bucket.stale_t = None;
        let v = sample.v;
        if bucket.count == 0 {
            bucket.first_t = sample.t;
            bucket.first = v;
            bucket.min = v;
            bucket.max = v;
        } else {
            if v < bucket.last {
                before_resets += bucket.last;
            }
            // As Prometheus' min_over_time/max_over_time: NaN only when all are NaN.
            if v < bucket.min || bucket.min.is_nan() {
                bucket.min = v;
            }
            if v > bucket.max || bucket.max.is_nan() {
                bucket.max = v;
            }
        }
        (bucket.sum, compensation) = kahan_add(v, bucket.sum, compensation);
        bucket.last_t = sample.t;
        bucket.last = v;
        bucket.count += 1;
    }
    if let Some(closed) = result.last_mut() {
        close(closed, compensation, before_resets);
    }
    result
}

/// The buckets of two disjoint sets of samples of one series, merged by end (the
/// rollups of a day whose raw data retention has already deleted, plus samples that
/// arrived for it later). Exact for counts, sums, minima, maxima, first and last; a
/// bucket's increase is exact when one set's samples all precede the other's, and
/// otherwise joins the two runs at their ends.
pub fn merge(old: Vec<Bucket>, new: Vec<Bucket>) -> Vec<Bucket> {
    let mut merged: Vec<Bucket> = Vec::with_capacity(old.len() + new.len());
    let (mut a, mut b) = (old.into_iter().peekable(), new.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.end == y.end => match (a.next(), b.next()) {
                (Some(x), Some(y)) => merge_bucket(x, y),
                _ => break,
            },
            (Some(x), Some(y)) if x.end > y.end => match b.next() {
                Some(y) => y,
                None => break,
            },
            (Some(_), _) => match a.next() {
                Some(x) => x,
                None => break,
            },
            (None, _) => match b.next() {
                Some(y) => y,
                None => break,
            },
        };
        merged.push(next);
    }
    merged
}

fn merge_bucket(x: Bucket, y: Bucket) -> Bucket {
    if x.count == 0 || y.count == 0 {
        let (live, other) = if x.count == 0 { (y, x) } else { (x, y) };
        let stale_t = [live.stale_t, other.stale_t]
            .into_iter()
            .flatten()
            .max()
            .filter(|t| *t > live.last_t);
        return Bucket { stale_t, ..live };
    }
    let (early, late) = if x.first_t <= y.first_t {
        (x, y)
    } else {
        (y, x)
    };
    let pick = |a: f64, b: f64, better: fn(f64, f64) -> bool| {
        if better(b, a) || a.is_nan() { b } else { a }
    };
    let last_is_late = late.last_t >= early.last_t;
    let (last_t, last) = if last_is_late {
        (late.last_t, late.last)
    } else {
        (early.last_t, early.last)
    };
    let stale_t = [early.stale_t, late.stale_t]
        .into_iter()
        .flatten()
        .max()
        .filter(|t| *t > last_t);
    Bucket {
        end: x.end,
        count: x.count + y.count,
        sum: x.sum + y.sum,
        min: pick(early.min, late.min, |v, best| v < best),
        max: pick(early.max, late.max, |v, best| v > best),
        first_t: early.first_t,
        first: early.first,
        last_t,
        last,
        // As `buckets` computes it: last - first, plus the values before drops (each
        // part's own, exactly zero without one, and the one between the parts).
        increase: last - early.first
            + (early.increase - (early.last - early.first))
            + (late.increase - (late.last - late.first))
            + if late.first < early.last {
                early.last
            } else {
                0.0
            },
        stale_t,
    }
}

/// Columns of a rollup block: integer columns, then float columns.
const INT_COLUMNS: usize = 8;
const FLOAT_COLUMNS: usize = 3;

/// What `increase` is stored relative to: `last - first`, which it equals without
/// a counter reset (bits of 0.0 where that is NaN, so decoding never depends on how a
/// platform propagates NaN payloads).
fn increase_reference(first: f64, last: f64) -> u64 {
    let difference = last - first;
    if difference.is_nan() {
        0
    } else {
        difference.to_bits()
    }
}

/// Encodes buckets (sorted by end, all of one block) as a column table; ends are
/// stored as bucket numbers after `block_start`, sample times as offsets back from the
/// bucket's end.
///
/// `min`, `max` and `increase` are stored as the XOR of their bits with what they
/// usually equal — `first`, `last`, `last - first` — so that for counters and
/// constants (more than half of typical series) those columns are all zeros, which
/// pco stores in almost nothing. Decoding XORs back: bit-exact whatever the values.
pub fn encode_block(
    block_start: i64,
    resolution: i64,
    buckets: &[Bucket],
) -> Result<Vec<u8>, ChunkError> {
    let index: Vec<i64> = buckets
        .iter()
        .map(|bucket| (bucket.end - block_start) / resolution)
        .collect();
    let count: Vec<i64> = buckets
        .iter()
        .map(|bucket| i64::from(bucket.count))
        .collect();
    let back = |t: i64, end: i64| if t == i64::MIN { -1 } else { end - t };
    let first_back: Vec<i64> = buckets.iter().map(|b| back(b.first_t, b.end)).collect();
    // The span from first to last sample: 0 in a bucket of one sample.
    let span: Vec<i64> = buckets
        .iter()
        .map(|b| {
            if b.count == 0 {
                -1
            } else {
                b.last_t - b.first_t
            }
        })
        .collect();
    let stale_back: Vec<i64> = buckets
        .iter()
        .map(|b| b.stale_t.map_or(-1, |t| b.end - t))
        .collect();
    let xor =
        |get: fn(&Bucket) -> u64| -> Vec<i64> { buckets.iter().map(|b| get(b) as i64).collect() };
    let min_x = xor(|b| b.min.to_bits() ^ b.first.to_bits());
    let max_x = xor(|b| b.max.to_bits() ^ b.last.to_bits());
    let increase_x = xor(|b| b.increase.to_bits() ^ increase_reference(b.first, b.last));
    let column = |get: fn(&Bucket) -> f64| buckets.iter().map(get).collect::<Vec<f64>>();
    // In a bucket of one sample, sum and last are that sample's value: stored as 0.0
    // (a tier as fine as the data's interval then costs little more than its raw
    // samples).
    fn single(b: &Bucket, v: f64) -> f64 {
        if b.count == 1 { 0.0 } else { v }
    }
    let floats = [
        column(|b| single(b, b.sum)),
        column(|b| b.first),
        column(|b| single(b, b.last)),
    ];
    let ints: [&[i64]; INT_COLUMNS] = [
        &index,
        &count,
        &first_back,
        &span,
        &stale_back,
        &min_x,
        &max_x,
        &increase_x,
    ];
    let float_refs: Vec<&[f64]> = floats.iter().map(Vec::as_slice).collect();
    chunk::pco::encode_columns(&ints, &float_refs)
}

/// Decodes a block written by `encode_block`.
pub fn decode_block(
    block_start: i64,
    resolution: i64,
    bytes: &[u8],
) -> Result<Vec<Bucket>, ChunkError> {
    let (ints, floats) = chunk::pco::decode_columns(bytes, INT_COLUMNS, FLOAT_COLUMNS)?;
    let rows = ints.first().map_or(0, Vec::len);
    let mut result = Vec::with_capacity(rows);
    for row in 0..rows {
        let end = block_start + ints[0][row] * resolution;
        let at = |offset: i64| if offset < 0 { i64::MIN } else { end - offset };
        let count = u32::try_from(ints[1][row])
            .map_err(|_| ChunkError::Corrupt(format!("bucket count {}", ints[1][row])))?;
        let first = floats[1][row];
        let (sum, last) = if count == 1 {
            (first, first)
        } else {
            (floats[0][row], floats[2][row])
        };
        let first_t = at(ints[2][row]);
        let last_t = match ints[3][row] {
            span if span < 0 || first_t == i64::MIN => i64::MIN,
            span => first_t + span,
        };
        let unxor =
            |column: usize, reference: u64| f64::from_bits(ints[column][row] as u64 ^ reference);
        result.push(Bucket {
            end,
            count,
            sum,
            min: unxor(5, first.to_bits()),
            max: unxor(6, last.to_bits()),
            first,
            last,
            increase: unxor(7, increase_reference(first, last)),
            first_t,
            last_t,
            stale_t: (ints[4][row] >= 0).then(|| end - ints[4][row]),
        });
    }
    Ok(result)
}

#[cfg(test)]
mod tests;
