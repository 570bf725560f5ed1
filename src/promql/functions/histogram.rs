//! Histogram functions over classic histograms: series that differ only in their `le`
//! label are the cumulative buckets of one histogram. `histogram_quantile`,
//! `histogram_quantiles` and `histogram_fraction` follow Prometheus' `quantile.go`
//! (`BucketQuantile`, `BucketFraction`), including the monotonicity repair and its
//! merged info annotation.
//! Owns: grouping buckets per step, the bucket arithmetic.
//! Does not: handle native histograms, which tandem does not store; the functions that
//! read only native histograms give an empty result, as Prometheus does for floats.

use super::{
    arg, at_step, format_go_g, format_go_g_precision, format_openmetrics_float, go_quote,
    go_search, set_label,
};
use crate::model::{Labels, is_stale_nan};
use crate::promql::ast::{Expr, Span};
use crate::promql::eval::{EvalError, Evaluator};
use crate::promql::value::{StepSeries, Steps, Value, absent, is_absent};
use std::collections::{HashMap, HashSet};

/// Relative differences between adjacent buckets below this are floating-point noise
/// (e.g. from sharded sums) and are evened out silently (`smallDeltaTolerance`).
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// The bucket label of classic histograms.
const BUCKET_LABEL: &str = "le";

/// One cumulative bucket: the count of observations ≤ `upper`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Bucket {
    pub(super) upper: f64,
    pub(super) count: f64,
}

/// Where `ensure_monotonic` had to raise bucket counts (for the info annotation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct MonotonicityFix {
    pub(super) min_bucket: f64,
    pub(super) max_bucket: f64,
    pub(super) max_diff: f64,
}

/// The series of one classic histogram: its labels without `le`, and each member
/// series with its parsed upper bound.
struct BucketGroup {
    labels: Labels,
    members: Vec<(usize, f64)>,
}

// === histogram_quantile(k parser.ValueTypeScalar, Vector parser.ValueTypeVector) (Vector, Annotations) ===
pub(super) fn histogram_quantile(
    ev: &mut Evaluator,
    args: &[Expr],
    steps: &Steps,
) -> Result<Value, EvalError> {
    let phi_expr = arg(args, 0, "histogram_quantile")?;
    let vector_expr = arg(args, 1, "histogram_quantile")?;
    let phis = ev.eval_scalar(phi_expr, steps)?;
    let input = ev.eval_vector(vector_expr, steps)?;
    // Prometheus checks φ at every step, whether or not there are buckets.
    warn_invalid_quantiles(ev, &phis, phi_expr.unparen().span());
    let position = vector_expr.unparen().span();
    let groups = group_buckets(ev, &input, position);
    let mut fixes = MonotonicityNotes::default();
    let mut buckets = Vec::new();
    let mut output = Vec::with_capacity(groups.len());
    for group in groups {
        ev.check_deadline()?;
        let mut values = vec![absent(); steps.len()];
        for (step, slot) in values.iter_mut().enumerate() {
            if !gather(&group, &input, step, &mut buckets) {
                continue;
            }
            let (value, fix) = bucket_quantile(at_step(&phis, step), &mut buckets);
            *slot = value;
            if let Some(fix) = fix {
                fixes.record(group.labels.metric_name(), steps.time(step), fix);
            }
        }
        output.push(StepSeries {
            labels: group.labels,
            values,
            drop_name: true,
        });
    }
    fixes.emit(ev, position);
    output.retain(StepSeries::has_values);
    Ok(Value::Vector(output))
}

// === histogram_quantiles(Vector parser.ValueTypeVector, label parser.ValueTypeString, q0 parser.ValueTypeScalar, qs parser.ValueTypeScalar...) (Vector, Annotations) ===
// One output series per histogram and φ, labelled `label="<φ>"`.
pub(super) fn histogram_quantiles(
    ev: &mut Evaluator,
    args: &[Expr],
    steps: &Steps,
) -> Result<Value, EvalError> {
    let vector_expr = arg(args, 0, "histogram_quantiles")?;
    let label = ev.eval_string(arg(args, 1, "histogram_quantiles")?, steps)?;
    let mut phis = Vec::with_capacity(args.len().saturating_sub(2));
    for phi_expr in args.iter().skip(2) {
        let values = ev.eval_scalar(phi_expr, steps)?;
        warn_invalid_quantiles(ev, &values, phi_expr.unparen().span());
        phis.push(values);
    }
    let input = ev.eval_vector(vector_expr, steps)?;
    let position = vector_expr.unparen().span();
    let groups = group_buckets(ev, &input, position);
    let mut fixes = MonotonicityNotes::default();
    let mut buckets = Vec::new();
    let mut output: Vec<StepSeries> = Vec::new();
    let mut index_of: HashMap<(usize, String), usize> = HashMap::new();
    for (group_index, group) in groups.iter().enumerate() {
        ev.check_deadline()?;
        for step in 0..steps.len() {
            for phi_values in &phis {
                if !gather(group, &input, step, &mut buckets) {
                    continue;
                }
                let phi = at_step(phi_values, step);
                let (value, fix) = bucket_quantile(phi, &mut buckets);
                if let Some(fix) = fix {
                    fixes.record(group.labels.metric_name(), steps.time(step), fix);
                }
                let phi_text = format_openmetrics_float(phi);
                let index = match index_of.get(&(group_index, phi_text.clone())) {
                    Some(index) => *index,
                    None => {
                        output.push(StepSeries {
                            labels: set_label(&group.labels, &label, &phi_text),
                            values: vec![absent(); steps.len()],
                            drop_name: true,
                        });
                        index_of.insert((group_index, phi_text), output.len() - 1);
                        output.len() - 1
                    }
                };
                output[index].values[step] = value;
            }
        }
    }
    fixes.emit(ev, position);
    output.retain(StepSeries::has_values);
    Ok(Value::Vector(output))
}

// === histogram_fraction(lower, upper parser.ValueTypeScalar, Vector parser.ValueTypeVector) (Vector, Annotations) ===
pub(super) fn histogram_fraction(
    ev: &mut Evaluator,
    args: &[Expr],
    steps: &Steps,
) -> Result<Value, EvalError> {
    let lowers = ev.eval_scalar(arg(args, 0, "histogram_fraction")?, steps)?;
    let uppers = ev.eval_scalar(arg(args, 1, "histogram_fraction")?, steps)?;
    let vector_expr = arg(args, 2, "histogram_fraction")?;
    let input = ev.eval_vector(vector_expr, steps)?;
    let groups = group_buckets(ev, &input, vector_expr.unparen().span());
    let mut buckets = Vec::new();
    let mut output = Vec::with_capacity(groups.len());
    for group in groups {
        ev.check_deadline()?;
        let mut values = vec![absent(); steps.len()];
        for (step, slot) in values.iter_mut().enumerate() {
            if gather(&group, &input, step, &mut buckets) {
                *slot =
                    bucket_fraction(at_step(&lowers, step), at_step(&uppers, step), &mut buckets);
            }
        }
        output.push(StepSeries {
            labels: group.labels,
            values,
            drop_name: true,
        });
    }
    output.retain(StepSeries::has_values);
    Ok(Value::Vector(output))
}

// === histogram_count(Vector parser.ValueTypeVector) (Vector, Annotations) === and
// histogram_sum, histogram_avg, histogram_stddev, histogram_stdvar, which read native
// histograms only; also start_timestamp, which reads start timestamps (not stored, as
// with Prometheus' `use-start-timestamps` off). The argument is still evaluated for its
// errors and annotations.
pub(super) fn native_only(
    ev: &mut Evaluator,
    args: &[Expr],
    steps: &Steps,
) -> Result<Value, EvalError> {
    ev.eval_vector(arg(args, 0, "histogram function")?, steps)?;
    Ok(Value::Vector(Vec::new()))
}

/// Warns once per distinct φ outside [0, 1] (NaN included).
fn warn_invalid_quantiles(ev: &mut Evaluator, phis: &[f64], position: Span) {
    let mut warned: HashSet<u64> = HashSet::new();
    for phi in phis {
        if !(0.0..=1.0).contains(phi) && warned.insert(phi.to_bits()) {
            ev.warn(
                position,
                format!(
                    "quantile value should be between 0 and 1, got {}",
                    format_go_g(*phi)
                ),
            );
        }
    }
}

/// Groups the input's series by their labels without `le`, in order of first
/// appearance. A series whose `le` is missing or no number is left out with a warning
/// (when it has values: Prometheus warns per sample it sees).
fn group_buckets(ev: &mut Evaluator, input: &[StepSeries], position: Span) -> Vec<BucketGroup> {
    let mut groups: Vec<BucketGroup> = Vec::new();
    let mut index_of: HashMap<Labels, usize> = HashMap::new();
    for (series_index, series) in input.iter().enumerate() {
        let bound = series.labels.get(BUCKET_LABEL).unwrap_or("");
        let Some(upper) = parse_go_float(bound) else {
            if series.has_values() {
                let mut text = format!(
                    "bucket label \"le\" is missing or has a malformed value of {}",
                    go_quote(bound)
                );
                if let Some(name) = series.labels.metric_name() {
                    text.push_str(&format!(" for metric name {}", go_quote(name)));
                }
                ev.warn(position, text);
            }
            continue;
        };
        let labels = series.labels.without(&[BUCKET_LABEL]);
        let group = match index_of.get(&labels) {
            Some(index) => *index,
            None => {
                index_of.insert(labels.clone(), groups.len());
                groups.push(BucketGroup {
                    labels,
                    members: Vec::new(),
                });
                groups.len() - 1
            }
        };
        groups[group].members.push((series_index, upper));
    }
    groups
}

/// Fills `buckets` with the group's buckets present at `step`; false if there are none.
fn gather(
    group: &BucketGroup,
    input: &[StepSeries],
    step: usize,
    buckets: &mut Vec<Bucket>,
) -> bool {
    buckets.clear();
    for (series_index, upper) in &group.members {
        let count = input
            .get(*series_index)
            .and_then(|series| series.values.get(step))
            .copied()
            .unwrap_or_else(absent);
        if !is_absent(count) {
            buckets.push(Bucket {
                upper: *upper,
                count,
            });
        }
    }
    !buckets.is_empty()
}

/// Go's `strconv.ParseFloat(text, 64)` for the forms an `le` label takes: decimal and
/// exponent notation, an optional sign, `Inf`/`Infinity`/`NaN` in any case.
pub(super) fn parse_go_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    // Rust also accepts these words, but Go rejects a sign before "NaN".
    if unsigned.eq_ignore_ascii_case("nan") && unsigned.len() != text.len() {
        return None;
    }
    let value = text.parse::<f64>().ok()?;
    // Go reports an out-of-range literal such as "1e400" as an error, Rust as ±Inf.
    if value.is_infinite() && !unsigned.to_ascii_lowercase().starts_with("inf") {
        return None;
    }
    Some(value)
}

/// The φ-quantile of a classic histogram (`BucketQuantile`): linear interpolation
/// within the bucket holding the rank, a lower bound of 0 for the first bucket when
/// its upper bound is positive, and the second-highest bound when the rank falls into
/// the +Inf bucket. NaN without a +Inf bucket, with fewer than two buckets, or with no
/// observations. Sorts, merges and repairs `buckets` in place; reports a repair of
/// non-monotonic counts.
pub(super) fn bucket_quantile(
    phi: f64,
    buckets: &mut Vec<Bucket>,
) -> (f64, Option<MonotonicityFix>) {
    if phi.is_nan() {
        return (f64::NAN, None);
    }
    if phi < 0.0 {
        return (f64::NEG_INFINITY, None);
    }
    if phi > 1.0 {
        return (f64::INFINITY, None);
    }
    sort_and_coalesce(buckets);
    if buckets
        .last()
        .is_none_or(|last| last.upper != f64::INFINITY)
    {
        return (f64::NAN, None);
    }
    let fix = ensure_monotonic(buckets, SMALL_DELTA_TOLERANCE);
    let count = buckets.len();
    if count < 2 {
        return (f64::NAN, fix);
    }
    let observations = buckets[count - 1].count;
    if observations == 0.0 {
        return (f64::NAN, fix);
    }
    let mut rank = phi * observations;
    let index = go_search(count - 1, |index| buckets[index].count >= rank);
    let value = if index == count - 1 {
        buckets[count - 2].upper
    } else if index == 0 && buckets[0].upper <= 0.0 {
        buckets[0].upper
    } else {
        let mut bucket_start = 0.0;
        let bucket_end = buckets[index].upper;
        let mut bucket_count = buckets[index].count;
        if index > 0 {
            bucket_start = buckets[index - 1].upper;
            bucket_count -= buckets[index - 1].count;
            rank -= buckets[index - 1].count;
        }
        bucket_start + (bucket_end - bucket_start) * (rank / bucket_count)
    };
    (value, fix)
}

/// The fraction of observations between `lower` and `upper` in a classic histogram
/// (`BucketFraction`), interpolating linearly within buckets; the infinite-width
/// first and last buckets contribute nothing to a partial overlap.
pub(super) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<Bucket>) -> f64 {
    sort_and_coalesce(buckets);
    let Some(last) = buckets.last().copied() else {
        return f64::NAN;
    };
    if last.upper != f64::INFINITY {
        return f64::NAN;
    }
    let count = last.count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    // Positive buckets only start at zero; otherwise the first starts at -Inf.
    let mut lower_bound = if buckets[0].upper <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for (index, bucket) in buckets.iter().enumerate() {
        if index > 0 {
            lower_bound = buckets[index - 1].upper;
        }
        let upper_bound = bucket.upper;
        let interpolate = |value: f64| {
            if lower_bound == f64::NEG_INFINITY {
                bucket.count
            } else {
                rank + (bucket.count - rank) * (value - lower_bound) / (upper_bound - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = bucket.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// Sorts by upper bound (stable, NaN last) and merges buckets with equal bounds.
fn sort_and_coalesce(buckets: &mut Vec<Bucket>) {
    buckets.sort_by(|a, b| a.upper.total_cmp(&b.upper));
    let mut kept = 0;
    for index in 1..buckets.len() {
        if buckets[index].upper == buckets[kept].upper {
            buckets[kept].count += buckets[index].count;
        } else {
            kept += 1;
            buckets[kept] = buckets[index];
        }
    }
    buckets.truncate(kept + 1);
}

/// Evens out relative differences below `tolerance` in either direction, then raises
/// every count that is lower than the one before (`ensureMonotonicAndIgnoreSmallDeltas`).
/// Reports where raising was needed.
fn ensure_monotonic(buckets: &mut [Bucket], tolerance: f64) -> Option<MonotonicityFix> {
    let mut forced = false;
    let mut fix = MonotonicityFix {
        min_bucket: f64::INFINITY,
        max_bucket: f64::NEG_INFINITY,
        max_diff: 0.0,
    };
    let mut previous = buckets.first()?.count;
    for bucket in buckets.iter_mut().skip(1) {
        let current = bucket.count;
        if current == previous {
            continue;
        }
        if almost_equal(previous, current, tolerance) {
            bucket.count = previous;
            continue;
        }
        if current < previous {
            bucket.count = previous;
            forced = true;
            if bucket.upper < fix.min_bucket {
                fix.min_bucket = bucket.upper;
            }
            if bucket.upper > fix.max_bucket {
                fix.max_bucket = bucket.upper;
            }
            if previous - current > fix.max_diff {
                fix.max_diff = previous - current;
            }
            continue;
        }
        previous = current;
    }
    forced.then_some(fix)
}

/// Prometheus' `almost.Equal`: relative difference below `epsilon`, NaN equal to NaN.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let sum = a.abs() + b.abs();
    let difference = (a - b).abs();
    if a == 0.0 || b == 0.0 || sum < f64::MIN_POSITIVE {
        return difference < epsilon * f64::MIN_POSITIVE;
    }
    difference / sum.min(f64::MAX) < epsilon
}

/// The monotonicity repairs of one call, merged per metric name the way Prometheus
/// merges its `histogramQuantileForcedMonotonicityErr` annotations.
#[derive(Default)]
struct MonotonicityNotes {
    by_name: Vec<(String, MonotonicityStats)>,
}

struct MonotonicityStats {
    min_t: i64,
    max_t: i64,
    fix: MonotonicityFix,
    count: u64,
}

impl MonotonicityNotes {
    fn record(&mut self, metric: Option<&str>, t: i64, fix: MonotonicityFix) {
        let metric = metric.unwrap_or("");
        match self.by_name.iter_mut().find(|(name, _)| name == metric) {
            Some((_, stats)) => {
                stats.min_t = stats.min_t.min(t);
                stats.max_t = stats.max_t.max(t);
                if fix.min_bucket < stats.fix.min_bucket {
                    stats.fix.min_bucket = fix.min_bucket;
                }
                if fix.max_bucket > stats.fix.max_bucket {
                    stats.fix.max_bucket = fix.max_bucket;
                }
                if fix.max_diff > stats.fix.max_diff {
                    stats.fix.max_diff = fix.max_diff;
                }
                stats.count += 1;
            }
            None => self.by_name.push((
                metric.to_string(),
                MonotonicityStats {
                    min_t: t,
                    max_t: t,
                    fix,
                    count: 1,
                },
            )),
        }
    }

    fn emit(&self, ev: &mut Evaluator, position: Span) {
        for (metric, stats) in &self.by_name {
            ev.info(position, monotonicity_text(metric, stats));
        }
    }
}

fn monotonicity_text(metric: &str, stats: &MonotonicityStats) -> String {
    let mut text = String::from(
        "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)",
    );
    if !metric.is_empty() {
        text.push_str(&format!(" for metric name {}", go_quote(metric)));
    }
    text.push_str(&format!(
        ", from buckets {} to {}, with a max diff of {}, over {} samples from {} to {}",
        format_go_g(stats.fix.min_bucket),
        format_go_g(stats.fix.max_bucket),
        format_go_g_precision(stats.fix.max_diff, Some(2)),
        stats.count,
        format_rfc3339(stats.min_t),
        format_rfc3339(stats.max_t),
    ));
    text
}

/// Go's `time.Unix(ms/1000, 0).UTC().Format(time.RFC3339)`.
fn format_rfc3339(ms: i64) -> String {
    let seconds = ms / 1000;
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = super::instant::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}
