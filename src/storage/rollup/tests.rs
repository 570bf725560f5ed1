//! Every bucket aggregate against the same aggregate computed from the raw samples in
//! the bucket's window, for random series with resets, gaps, irregular intervals, NaN
//! and stale markers; and blocks round-trip bit for bit.

use super::*;
use crate::model::stale_nan;
use proptest::prelude::*;

/// The raw samples a window `(end - resolution, end]` holds.
fn window(samples: &[Sample], end: i64, resolution: i64) -> Vec<Sample> {
    samples
        .iter()
        .filter(|sample| sample.t > end - resolution && sample.t <= end)
        .copied()
        .collect()
}

/// A bucket computed the slow way, one aggregate at a time.
fn expected(samples: &[Sample], end: i64, resolution: i64) -> Bucket {
    let all = window(samples, end, resolution);
    let live: Vec<Sample> = all.iter().filter(|s| !is_stale_nan(s.v)).copied().collect();
    let (mut sum, mut compensation) = (0.0, 0.0);
    for sample in &live {
        (sum, compensation) = kahan_add(sample.v, sum, compensation);
    }
    let pick = |better: fn(f64, f64) -> bool| {
        live.iter().fold(f64::NAN, |best, sample| {
            if better(sample.v, best) || best.is_nan() {
                sample.v
            } else {
                best
            }
        })
    };
    // As `rate()` adds it up: last minus first, plus the value before each drop.
    let increase = match (live.first(), live.last()) {
        (Some(first), Some(last)) => {
            let resets = live
                .windows(2)
                .filter(|pair| pair[1].v < pair[0].v)
                .fold(0.0, |total, pair| total + pair[0].v);
            last.v - first.v + resets
        }
        _ => 0.0,
    };
    Bucket {
        end,
        count: live.len() as u32,
        sum: kahan_total(sum, compensation),
        min: pick(|v, best| v < best),
        max: pick(|v, best| v > best),
        first_t: live.first().map_or(i64::MIN, |s| s.t),
        first: live.first().map_or(f64::NAN, |s| s.v),
        last_t: live.last().map_or(i64::MIN, |s| s.t),
        last: live.last().map_or(f64::NAN, |s| s.v),
        increase,
        stale_t: all.last().filter(|s| is_stale_nan(s.v)).map(|s| s.t),
    }
}

/// Random series: irregular steps with gaps, counters that reset, gauges, specials.
fn series() -> impl Strategy<Value = Vec<Sample>> {
    let step = prop_oneof![
        8 => 1i64..20_000,
        1 => 60_000i64..10_000_000,
    ];
    let value = prop_oneof![
        6 => 0u32..1000,   // rise (counter) by this much
        1 => Just(u32::MAX), // reset to a small value
        1 => Just(u32::MAX - 1), // stale marker
        1 => Just(u32::MAX - 2), // NaN
    ];
    (
        -5_000_000i64..5_000_000,
        proptest::collection::vec((step, value), 0..300),
    )
        .prop_map(|(start, points)| {
            let (mut t, mut counter) = (start, 0.0f64);
            let mut samples = Vec::new();
            for (step, value) in points {
                t += step;
                let v = match value {
                    u32::MAX => {
                        counter = 3.0;
                        counter
                    }
                    x if x == u32::MAX - 1 => stale_nan(),
                    x if x == u32::MAX - 2 => f64::NAN,
                    rise => {
                        counter += f64::from(rise) * 0.25;
                        counter
                    }
                };
                samples.push(Sample { t, v });
            }
            samples
        })
}

proptest! {
    #[test]
    fn every_aggregate_equals_the_raw_computation(samples in series(), resolution in prop_oneof![Just(60_000i64), Just(3_600_000i64), 1i64..100_000]) {
        let computed = buckets(&samples, resolution);
        // Exactly the buckets that hold samples, in order.
        let mut ends: Vec<i64> = samples.iter().map(|s| bucket_end(s.t, resolution)).collect();
        ends.dedup();
        prop_assert_eq!(computed.iter().map(|b| b.end).collect::<Vec<_>>(), ends);
        for bucket in &computed {
            prop_assert_eq!(*bucket, expected(&samples, bucket.end, resolution));
        }
    }

    #[test]
    fn merging_the_buckets_of_an_earlier_and_a_later_part_gives_the_whole(samples in series(), cut in 0usize..400, resolution in prop_oneof![Just(60_000i64), Just(3_600_000i64)]) {
        // Within a bucket one part's samples all precede the other's: every aggregate
        // is exact, sums up to rounding (they are added in another order).
        let cut = cut.min(samples.len());
        let (early, late) = samples.split_at(cut);
        let merged = merge(buckets(late, resolution), buckets(early, resolution));
        let whole = buckets(&samples, resolution);
        prop_assert_eq!(merged.len(), whole.len());
        for (got, want) in merged.iter().zip(&whole) {
            prop_assert_eq!(
                (got.end, got.count, got.first_t, got.last_t, got.stale_t),
                (want.end, want.count, want.first_t, want.last_t, want.stale_t)
            );
            let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
            let close = |a: f64, b: f64| same(a, b) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
            prop_assert!(same(got.min, want.min) && same(got.max, want.max), "{:?} {:?}", got, want);
            prop_assert!(same(got.first, want.first) && same(got.last, want.last), "{:?} {:?}", got, want);
            prop_assert!(close(got.sum, want.sum), "sum {:?} {:?}", got, want);
            // A NaN sample makes a part's increase NaN; the whole skips it.
            let has_nan = samples.iter().any(|s| s.v.is_nan() && !is_stale_nan(s.v));
            if !has_nan {
                prop_assert!(close(got.increase, want.increase), "increase {:?} {:?}", got, want);
            }
        }
    }

    #[test]
    fn blocks_round_trip_bit_for_bit(samples in series(), resolution in prop_oneof![Just(60_000i64), Just(3_600_000i64)]) {
        let computed = buckets(&samples, resolution);
        let block_start = computed.first().map_or(0, |b| b.end - resolution);
        let bytes = encode_block(block_start, resolution, &computed).expect("encodes");
        let decoded = decode_block(block_start, resolution, &bytes).expect("decodes");
        prop_assert_eq!(decoded, computed);
    }
}

#[test]
fn buckets_are_left_open_like_promql_ranges() {
    assert_eq!(bucket_end(60_000, 60_000), 60_000);
    assert_eq!(bucket_end(60_001, 60_000), 120_000);
    assert_eq!(bucket_end(1, 60_000), 60_000);
    assert_eq!(bucket_end(0, 60_000), 0);
    assert_eq!(bucket_end(-59_999, 60_000), 0);
    assert_eq!(bucket_end(-60_000, 60_000), -60_000);
}

#[test]
fn a_reset_counts_the_value_after_it() {
    let samples: Vec<Sample> = [(1, 10.0), (2, 15.0), (3, 2.0), (4, 7.0)]
        .iter()
        .map(|(t, v)| Sample {
            t: *t * 1000,
            v: *v,
        })
        .collect();
    let bucket = buckets(&samples, 60_000)[0];
    // 5 before the reset, 2 at it, 5 after.
    assert_eq!(bucket.increase, 12.0);
    assert_eq!((bucket.first, bucket.last, bucket.count), (10.0, 7.0, 4));
}

#[test]
fn a_bucket_ending_in_a_stale_marker_says_when() {
    let samples = vec![
        Sample { t: 1_000, v: 1.0 },
        Sample {
            t: 2_000,
            v: stale_nan(),
        },
        Sample {
            t: 61_000,
            v: stale_nan(),
        },
        Sample { t: 62_000, v: 5.0 },
    ];
    let computed = buckets(&samples, 60_000);
    assert_eq!(computed[0].stale_t, Some(2_000));
    assert_eq!(computed[0].count, 1);
    assert_eq!(
        computed[1].stale_t, None,
        "a later sample ends the staleness"
    );
    assert_eq!(computed[1].count, 1);
}
