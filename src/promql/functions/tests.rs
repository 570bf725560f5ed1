//! Numerics of the function library, checked against values from Prometheus'
//! `functions.test` and `histograms.test` (comments name the case) and against Go's
//! formatting. Whole queries run through the promqltest runner instead.

use super::histogram::{Bucket, MonotonicityFix, bucket_fraction, bucket_quantile};
use super::range::{average_over_time, extrapolated_rate, linear_regression};
use super::{format_go_float, format_go_g, format_go_g_precision, format_openmetrics_float};
use crate::model::Sample;

const MINUTE_MS: i64 = 60_000;

/// Samples every `interval_ms` from t=0 with the given values.
fn series(interval_ms: i64, values: &[f64]) -> Vec<Sample> {
    values
        .iter()
        .enumerate()
        .map(|(index, v)| Sample {
            t: index as i64 * interval_ms,
            v: *v,
        })
        .collect()
}

/// `first + step*n` for n in 0..=count, as promqltest's `first+stepxcount`.
fn counting(first: f64, step: f64, count: usize) -> Vec<f64> {
    (0..=count).map(|n| first + step * n as f64).collect()
}

/// The samples in the left-open window `(end - range_ms, end]`.
fn window(samples: &[Sample], end: i64, range_ms: i64) -> Vec<Sample> {
    samples
        .iter()
        .filter(|sample| sample.t > end - range_ms && sample.t <= end)
        .copied()
        .collect()
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    let tolerance = 1e-9 * expected.abs().max(1.0);
    assert!(
        actual == expected
            || (actual - expected).abs() <= tolerance
            || (actual.is_nan() && expected.is_nan()),
        "{what}: got {actual}, expected {expected}"
    );
}

/// Checks `increase`/`rate`/`delta` of `values` (a sample every 5m) at `end` over
/// `range_ms`.
fn check_rate(values: &[f64], end: i64, range_ms: i64, kind: &str, expected: Option<f64>) {
    let samples = window(&series(5 * MINUTE_MS, values), end, range_ms);
    let (is_counter, is_rate) = match kind {
        "rate" => (true, true),
        "increase" => (true, false),
        _ => (false, false),
    };
    let actual = extrapolated_rate(&samples, end, range_ms, is_counter, is_rate, true);
    match (actual, expected) {
        (Some(actual), Some(expected)) => assert_close(actual, expected, kind),
        (actual, expected) => assert_eq!(actual, expected, "{kind}"),
    }
}

#[test]
fn extrapolated_rate_matches_prometheus() {
    let foo = counting(0.0, 10.0, 10);
    let mut bar = counting(0.0, 18.0, 5);
    bar.extend(counting(0.0, 18.0, 5));
    let dings = counting(10.0, 10.0, 10);
    let bumms = counting(1.0, 10.0, 10);
    // functions.test: increase(http_requests_total[50m]) at 50m.
    check_rate(
        &foo,
        50 * MINUTE_MS,
        50 * MINUTE_MS,
        "increase",
        Some(100.0),
    );
    // A counter reset adds the value before the reset.
    check_rate(
        &bar,
        50 * MINUTE_MS,
        50 * MINUTE_MS,
        "increase",
        Some(160.0),
    );
    // [100m]: extrapolated by half an interval, or only to where the counter was zero.
    check_rate(
        &foo,
        50 * MINUTE_MS,
        100 * MINUTE_MS,
        "increase",
        Some(100.0),
    );
    check_rate(
        &bar,
        50 * MINUTE_MS,
        100 * MINUTE_MS,
        "increase",
        Some(162.0),
    );
    check_rate(
        &dings,
        50 * MINUTE_MS,
        100 * MINUTE_MS,
        "increase",
        Some(105.0),
    );
    check_rate(
        &bumms,
        50 * MINUTE_MS,
        100 * MINUTE_MS,
        "increase",
        Some(101.0),
    );
    // rate is increase per second of the range.
    check_rate(
        &foo,
        50 * MINUTE_MS,
        50 * MINUTE_MS,
        "rate",
        Some(100.0 / 3000.0),
    );
    // delta has no zero clamp: extrapolates to the start of the window.
    check_rate(
        &dings,
        50 * MINUTE_MS,
        100 * MINUTE_MS,
        "delta",
        Some(105.0),
    );
    // delta does not treat a drop as a reset; a start 1ms before the first sample is
    // within the extrapolation threshold.
    let expected = -5.0 * (300.001 / 300.0);
    check_rate(
        &[10.0, 5.0],
        5 * MINUTE_MS,
        5 * MINUTE_MS + 1,
        "delta",
        Some(expected),
    );
    // One sample is not enough.
    check_rate(&foo, 50 * MINUTE_MS, 5 * MINUTE_MS, "increase", None);
}

#[test]
fn linear_regression_matches_predict_linear_and_deriv() {
    // functions.test: testcounter_reset_middle_total 0+10x4 0+10x5 every 5m.
    let mut values = counting(0.0, 10.0, 4);
    values.extend(counting(0.0, 10.0, 5));
    let samples = series(5 * MINUTE_MS, &values);
    // predict_linear(testcounter_reset_middle_total[50m], 3600) at 50m: 70.
    let window_50m = window(&samples, 50 * MINUTE_MS, 50 * MINUTE_MS);
    let (slope, intercept) = linear_regression(&window_50m, 50 * MINUTE_MS);
    assert_close(slope * 3600.0 + intercept, 70.0, "predict_linear [50m]");
    // predict_linear(...[55m] @ 3000, 3600) at 10m: intercept at the step time (600s).
    let window_at = window(&samples, 3_000_000, 55 * MINUTE_MS);
    let (slope, intercept) = linear_regression(&window_at, 10 * MINUTE_MS);
    assert_close(
        slope * 3600.0 + intercept,
        51.36363636363637,
        "predict_linear @",
    );
    // deriv(testcounter_reset_middle_total[100m]) at 50m.
    let window_100m = window(&samples, 50 * MINUTE_MS, 100 * MINUTE_MS);
    let (slope, _) = linear_regression(&window_100m, window_100m[0].t);
    assert_close(slope, 0.010606060606060607, "deriv");
    // Constant values: an exact zero slope; infinite constants: NaN.
    let constant = series(MINUTE_MS, &[3.0, 3.0, 3.0]);
    assert_eq!(linear_regression(&constant, 0), (0.0, 3.0));
    let infinite = series(MINUTE_MS, &[f64::INFINITY, f64::INFINITY]);
    assert!(linear_regression(&infinite, 0).0.is_nan());
}

#[test]
fn average_over_time_survives_overflow() {
    // functions.test: avg_over_time(metricN[1m]) at 55s.
    let big = 9.988_465_674_311_58e307;
    let inf = f64::INFINITY;
    for (values, expected) in [
        (vec![1.0, 2.0, 3.0, 4.0, 5.0], 3.0),
        (vec![big, big], big),
        (vec![-big, -big, -big], -big),
        (vec![-big, big], 0.0),
        (vec![1.0, 2.0, 3.0, 4.0, inf], inf),
        (vec![inf, 0.0, inf], inf),
        (vec![1.0, 2.0, 3.0, inf, -inf], f64::NAN),
        (vec![inf, inf, inf, -inf], f64::NAN),
        (vec![1.0, 2.0, 3.0, f64::NAN], f64::NAN),
    ] {
        let actual = average_over_time(&series(10_000, &values));
        assert_close(actual, expected, &format!("avg_over_time of {values:?}"));
    }
}

#[test]
fn quantile_over_time_interpolates() {
    // functions.test: quantile_over_time(φ, data[2m]) of 0 1 4.
    for (phi, expected) in [(0.0, 0.0), (0.5, 1.0), (0.75, 2.5), (0.8, 2.8), (1.0, 4.0)] {
        let mut values = vec![4.0, 0.0, 1.0];
        assert_close(
            crate::promql::aggregate::quantile(phi, &mut values),
            expected,
            "φ",
        );
    }
    let mut values = vec![1.0];
    assert_eq!(
        crate::promql::aggregate::quantile(-1.0, &mut values),
        f64::NEG_INFINITY
    );
}

/// Checks `bucket_quantile` of `(upper bound, count)` pairs in any order.
fn check_quantile(phi: f64, pairs: &[(f64, f64)], expected: f64, fix: Option<MonotonicityFix>) {
    let mut buckets: Vec<Bucket> = pairs
        .iter()
        .map(|(upper, count)| Bucket {
            upper: *upper,
            count: *count,
        })
        .collect();
    let (value, actual_fix) = bucket_quantile(phi, &mut buckets);
    assert_close(value, expected, &format!("histogram_quantile({phi})"));
    assert_eq!(actual_fix, fix, "monotonicity fix for φ={phi}");
}

#[test]
fn histogram_quantile_repairs_broken_buckets() {
    let inf = f64::INFINITY;
    // histograms.test: nonmonotonic_bucket at 50m, given out of order.
    let broken = [
        (10.0, 50.0),
        (0.1, 20.0),
        (inf, 80.0),
        (1.0, 10.0),
        (1000.0, 90.0),
        (100.0, 40.0),
    ];
    let fix = Some(MonotonicityFix {
        min_bucket: 1.0,
        max_bucket: inf,
        max_diff: 10.0,
    });
    check_quantile(0.01, &broken, 0.0045, fix);
    check_quantile(0.5, &broken, 8.5, fix);
    check_quantile(0.99, &broken, 979.75, fix);
    // Out-of-range φ returns before any repair.
    check_quantile(1.5, &broken, inf, None);
    check_quantile(-0.5, &broken, f64::NEG_INFINITY, None);
    check_quantile(f64::NAN, &broken, f64::NAN, None);
    // Without a +Inf bucket, or with no observations: NaN.
    check_quantile(0.5, &[(1.0, 1.0), (2.0, 2.0)], f64::NAN, None);
    check_quantile(0.5, &[(1.0, 0.0), (inf, 0.0)], f64::NAN, None);
    // Only the +Inf bucket: NaN.
    check_quantile(0.5, &[(inf, 3.0)], f64::NAN, None);
    // In the +Inf bucket: the second-highest bound.
    check_quantile(0.99, &[(1.0, 1.0), (2.0, 2.0), (inf, 10.0)], 2.0, None);
    // A first bucket ≤ 0 is returned as is; a positive one interpolates from 0.
    check_quantile(0.1, &[(-1.0, 5.0), (inf, 10.0)], -1.0, None);
    check_quantile(0.25, &[(4.0, 10.0), (inf, 10.0)], 1.0, None);
    // Equal bounds ("1" and "1.0") are merged; tiny differences are not "fixes".
    check_quantile(
        0.5,
        &[(1.0, 1.0), (1.0, 1.0), (2.0, 4.0), (inf, 4.0)],
        1.0,
        None,
    );
    check_quantile(
        0.5,
        &[(1.0, 100.0), (2.0, 100.0 - 1e-11), (inf, 200.0)],
        1.0,
        None,
    );
}

#[test]
fn histogram_fraction_interpolates_classic_buckets() {
    let inf = f64::INFINITY;
    let check = |lower: f64, upper: f64, expected: f64| {
        let mut buckets = vec![
            Bucket {
                upper: 1.0,
                count: 10.0,
            },
            Bucket {
                upper: 2.0,
                count: 30.0,
            },
            Bucket {
                upper: inf,
                count: 40.0,
            },
        ];
        let actual = bucket_fraction(lower, upper, &mut buckets);
        assert_close(
            actual,
            expected,
            &format!("histogram_fraction({lower}, {upper})"),
        );
    };
    check(0.0, 1.0, 0.25);
    check(0.0, 0.5, 0.125);
    check(1.0, 1.5, 0.25);
    check(f64::NEG_INFINITY, 2.0, 0.75);
    check(2.0, inf, 0.25);
    check(2.0, 1.0, 0.0);
    check(f64::NAN, 1.0, f64::NAN);
}

#[test]
fn numbers_format_like_go() {
    let check = |value: f64, f: &str, g: &str, g2: &str, openmetrics: &str| {
        assert_eq!(format_go_float(value), f, "FormatFloat 'f' of {value:e}");
        assert_eq!(format_go_g(value), g, "%g of {value:e}");
        assert_eq!(
            format_go_g_precision(value, Some(2)),
            g2,
            "%.2g of {value:e}"
        );
        assert_eq!(
            format_openmetrics_float(value),
            openmetrics,
            "OpenMetrics {value:e}"
        );
    };
    check(0.0, "0", "0", "0", "0.0");
    check(-0.0, "-0", "-0", "-0", "0.0");
    check(1.0, "1", "1", "1", "1.0");
    check(0.5, "0.5", "0.5", "0.5", "0.5");
    check(-1.1, "-1.1", "-1.1", "-1.1", "-1.1");
    check(10.0, "10", "10", "10", "10.0");
    check(100.0, "100", "100", "1e+02", "100.0");
    check(123456.0, "123456", "123456", "1.2e+05", "123456.0");
    check(1e6, "1000000", "1e+06", "1e+06", "1e+06");
    check(1e21, "1000000000000000000000", "1e+21", "1e+21", "1e+21");
    check(0.0001, "0.0001", "0.0001", "0.0001", "0.0001");
    check(0.00001, "0.00001", "1e-05", "1e-05", "1e-05");
    check(1.5e-7, "0.00000015", "1.5e-07", "1.5e-07", "1.5e-07");
    check(0.125, "0.125", "0.125", "0.12", "0.125");
    check(99.5, "99.5", "99.5", "1e+02", "99.5");
    check(f64::INFINITY, "+Inf", "+Inf", "+Inf", "+Inf");
    check(f64::NEG_INFINITY, "-Inf", "-Inf", "-Inf", "-Inf");
    check(f64::NAN, "NaN", "NaN", "NaN", "NaN");
    check(
        0.1 + 0.2,
        "0.30000000000000004",
        "0.30000000000000004",
        "0.3",
        "0.30000000000000004",
    );
}

#[test]
fn date_functions_use_utc_calendar() {
    use super::instant::DateFunction::{self, *};
    let check = |function: DateFunction, seconds: i64, expected: f64| {
        assert_eq!(function.apply(seconds), expected, "{function:?}({seconds})");
    };
    // functions.test: 1136239445 is 2006-01-02 22:04:05 UTC, a Monday.
    for (function, expected) in [
        (Year, 2006.0),
        (Month, 1.0),
        (DayOfMonth, 2.0),
        (DayOfYear, 2.0),
        (DayOfWeek, 1.0),
        (Hour, 22.0),
        (Minute, 4.0),
        (DaysInMonth, 31.0),
    ] {
        check(function, 1_136_239_445, expected);
    }
    // 1970-01-01 was a Thursday.
    check(DayOfWeek, 0, 4.0);
    // Around the 2008 leap second and in leap years.
    check(Year, 1_230_767_999, 2008.0);
    check(Year, 1_230_768_000, 2009.0);
    check(DayOfMonth, 1_456_790_399, 29.0);
    check(Month, 1_456_790_400, 3.0);
    check(DayOfYear, 1_483_191_420, 366.0);
    check(DayOfYear, 1_672_493_820, 365.0);
    check(DaysInMonth, 1_454_284_800, 29.0);
    check(DaysInMonth, 1_485_907_200, 28.0);
    // Before the epoch: 1969-12-31 23:59:59, a Wednesday.
    check(Year, -1, 1969.0);
    check(DayOfWeek, -1, 3.0);
    check(Minute, -1, 59.0);
    // Go's int64(f) on amd64: truncation, i64::MIN for NaN and overflow.
    assert_eq!(super::instant::go_float_to_int(-1.9), -1);
    assert_eq!(super::instant::go_float_to_int(f64::NAN), i64::MIN);
    assert_eq!(super::instant::go_float_to_int(1e19), i64::MIN);
}

#[test]
fn natural_order_compares_digit_runs_as_numbers() {
    use super::instant::natural_cmp;
    use std::cmp::Ordering::{Equal, Greater, Less};
    for (a, b, expected) in [
        ("a9", "a10", Less),
        ("1.11.3", "1.2.3", Greater),
        ("4m5", "4m1000", Less),
        ("abc", "abd", Less),
        ("a", "a1", Less),
        ("x", "x", Equal),
        // natsort's tie between equal numbers is broken by bytes to stay a total order.
        ("01", "1", Less),
        ("", "a", Less),
    ] {
        assert_eq!(natural_cmp(a, b), expected, "{a:?} vs {b:?}");
        assert_eq!(natural_cmp(b, a), expected.reverse(), "{b:?} vs {a:?}");
    }
}

#[test]
fn bucket_bounds_parse_like_go() {
    use super::histogram::parse_go_float;
    for (text, expected) in [
        ("0.1", Some(0.1)),
        ("+Inf", Some(f64::INFINITY)),
        ("-inf", Some(f64::NEG_INFINITY)),
        ("Infinity", Some(f64::INFINITY)),
        ("1e3", Some(1000.0)),
        (".5", Some(0.5)),
        ("", None),
        ("Hello World", None),
        ("1_000", None),
        ("1e400", None),
    ] {
        assert_eq!(parse_go_float(text), expected, "{text:?}");
    }
    assert!(parse_go_float("NaN").is_some_and(f64::is_nan));
    assert_eq!(parse_go_float("-NaN"), None);
}
