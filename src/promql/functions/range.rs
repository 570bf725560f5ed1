//! Functions of a range vector (`rate(x[5m])`, `avg_over_time(x[1h:1m])`, ...): one
//! value per input series and step, computed from the samples of the step's window.
//! Owns: the per-window arithmetic, exactly as Prometheus' `functions.go` does it
//! (extrapolated rates, Kahan sums, linear regression), and the annotations these
//! functions emit.
//! Does not: select samples or cut windows (`RangeArg::windows` in `eval.rs`).

use super::{arg, at_step, duration_seconds, format_go_g, go_quote};
use crate::model::{METRIC_NAME, Sample};
use crate::promql::aggregate::{kahan_add, quantile};
use crate::promql::ast::{Expr, ValueType};
use crate::promql::eval::{EvalError, Evaluator, RangeArg, RangeUse};
use crate::promql::value::{RangeSeries, StepSeries, Steps, Value, absent};
use crate::storage::rollup::Bucket;
use std::collections::BTreeSet;

/// A function whose argument is a range vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RangeFunction {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Deriv,
    PredictLinear,
    Resets,
    Changes,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    SumOverTime,
    CountOverTime,
    LastOverTime,
    FirstOverTime,
    PresentOverTime,
    AbsentOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    MadOverTime,
    TsOfFirstOverTime,
    TsOfLastOverTime,
    TsOfMaxOverTime,
    TsOfMinOverTime,
    DoubleExponentialSmoothing,
}

impl RangeFunction {
    pub(super) fn from_name(name: &str) -> Option<RangeFunction> {
        use RangeFunction::*;
        Some(match name {
            "rate" => Rate,
            "increase" => Increase,
            "delta" => Delta,
            "irate" => Irate,
            "idelta" => Idelta,
            "deriv" => Deriv,
            "predict_linear" => PredictLinear,
            "resets" => Resets,
            "changes" => Changes,
            "avg_over_time" => AvgOverTime,
            "min_over_time" => MinOverTime,
            "max_over_time" => MaxOverTime,
            "sum_over_time" => SumOverTime,
            "count_over_time" => CountOverTime,
            "last_over_time" => LastOverTime,
            "first_over_time" => FirstOverTime,
            "present_over_time" => PresentOverTime,
            "absent_over_time" => AbsentOverTime,
            "stddev_over_time" => StddevOverTime,
            "stdvar_over_time" => StdvarOverTime,
            "quantile_over_time" => QuantileOverTime,
            "mad_over_time" => MadOverTime,
            "ts_of_first_over_time" => TsOfFirstOverTime,
            "ts_of_last_over_time" => TsOfLastOverTime,
            "ts_of_max_over_time" => TsOfMaxOverTime,
            "ts_of_min_over_time" => TsOfMinOverTime,
            "double_exponential_smoothing" => DoubleExponentialSmoothing,
            _ => return None,
        })
    }

    /// Whether the function is computed exactly from the rollup buckets of windows
    /// made of whole buckets (`promql::tiers`).
    fn rollup_exact(self) -> bool {
        use RangeFunction::*;
        matches!(
            self,
            Rate | Increase
                | Delta
                | AvgOverTime
                | MinOverTime
                | MaxOverTime
                | SumOverTime
                | CountOverTime
                | LastOverTime
                | FirstOverTime
                | PresentOverTime
                | AbsentOverTime
                | TsOfFirstOverTime
                | TsOfLastOverTime
        )
    }

    /// `last_over_time` and `first_over_time` act like `offset` and keep the metric
    /// name; every other function of a range vector drops it.
    fn keeps_name(self) -> bool {
        matches!(
            self,
            RangeFunction::LastOverTime | RangeFunction::FirstOverTime
        )
    }
}

/// What a window function may read besides the window's samples.
struct Window<'p> {
    /// The window is `(end - range_ms, end]`.
    end: i64,
    range_ms: i64,
    /// The evaluation time of the step (differs from `end` under `offset` and `@`).
    step_time: i64,
    /// The scalar arguments at this step, in argument order without the range vector.
    params: &'p [f64],
    /// Whether the window may hold a counter reset (a drop between two samples);
    /// false lets `rate`/`increase` skip their pass over the window.
    resets_possible: bool,
}

/// Evaluates `function` over the range vector among `args`.
pub(super) fn eval(
    ev: &mut Evaluator,
    function: RangeFunction,
    args: &[Expr],
    steps: &Steps,
) -> Result<Value, EvalError> {
    let name = function_name(function);
    let matrix_index = args
        .iter()
        .position(|argument| argument.value_type() == ValueType::Matrix)
        .ok_or_else(|| {
            EvalError::Execution(format!("BUG: {name}() called without a range vector"))
        })?;
    let mut params: Vec<Vec<f64>> = Vec::with_capacity(args.len().saturating_sub(1));
    for (index, argument) in args.iter().enumerate() {
        if index != matrix_index {
            params.push(ev.eval_scalar(argument, steps)?);
        }
    }
    let range_expr = arg(args, matrix_index, name)?;
    let usage = RangeUse::Function {
        exact: function.rollup_exact(),
    };
    let mut range = ev.eval_range(range_expr, steps, usage)?;
    if function == RangeFunction::AbsentOverTime {
        // From a rollup tier, the buckets' first and last samples: a window holds
        // one of them exactly when it holds a sample.
        let series_list = range.all_series(ev)?;
        return Ok(absent_over_time(&range, &series_list, range_expr, steps));
    }
    let mut notes = Notes::new(steps.len());
    let mut scratch = Scratch::new(params.len());
    let mut output = Vec::new();
    let from_buckets = range.resolution.is_some() && function.rollup_exact();
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(crate::limits::QUERY_THREADS_MAX);
    if threads > 1 && range.pending_len() >= crate::limits::QUERY_PARALLEL_SERIES_MIN {
        let pending = range.take_pending();
        let job = Job {
            function,
            range: &range,
            params: &params,
            steps,
            from_buckets,
        };
        output = eval_parallel(ev, &job, pending, &mut notes, threads)?;
    } else if from_buckets {
        for data in range.take_pending() {
            ev.check_deadline()?;
            let labels = data.labels.clone();
            let buckets = data.into_buckets();
            if buckets.is_empty() {
                continue;
            }
            let held = buckets.len() as u64;
            ev.charge(held)?;
            ev.stats.series_selected += 1;
            output.extend(eval_buckets(
                function, &range, labels, &buckets, steps, &mut notes,
            ));
            ev.release(held);
        }
    }
    // The rest, one series at a time: still compressed ones are decoded here, and
    // their samples released once their values are out.
    while let Some(series) = range.next_series(ev)? {
        ev.check_deadline()?;
        let held = series.samples.len() as u64;
        let evaluated = eval_series(
            function,
            &range,
            series,
            &params,
            steps,
            &mut notes,
            &mut scratch,
        )?;
        ev.release(held);
        output.extend(evaluated);
    }
    notes.emit(ev, args, range_expr, &params);
    Ok(Value::Vector(output))
}

/// What `eval_parallel` evaluates on each series.
struct Job<'j> {
    function: RangeFunction,
    range: &'j RangeArg<'j>,
    params: &'j [Vec<f64>],
    steps: &'j Steps,
    /// Windows from the series' rollup buckets instead of its samples.
    from_buckets: bool,
}

/// Decodes and evaluates `pending` on `threads` threads, each taking a contiguous
/// share so the output keeps storage order. Each thread holds one series' samples (or
/// buckets) at a time; the budget check is per series (Prometheus' peak rule, per
/// thread).
fn eval_parallel(
    ev: &mut Evaluator,
    job: &Job<'_>,
    pending: Vec<crate::storage::SeriesData<'_>>,
    notes: &mut Notes,
    threads: usize,
) -> Result<Vec<StepSeries>, EvalError> {
    let deadline = ev.options().deadline;
    let samples_max = ev.options().samples_max;
    let share = pending.len().div_ceil(threads);
    let mut shares: Vec<Vec<crate::storage::SeriesData<'_>>> = Vec::with_capacity(threads);
    let mut rest = pending.into_iter();
    for _ in 0..threads {
        shares.push(rest.by_ref().take(share).collect());
    }
    struct Done {
        output: Vec<StepSeries>,
        notes: Notes,
        decoded: u64,
        largest: u64,
        series: u64,
    }
    let results: Vec<Result<Done, EvalError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|share| {
                scope.spawn(move || -> Result<Done, EvalError> {
                    let mut done = Done {
                        output: Vec::new(),
                        notes: Notes::new(job.steps.len()),
                        decoded: 0,
                        largest: 0,
                        series: 0,
                    };
                    let mut scratch = Scratch::new(job.params.len());
                    for data in share {
                        if deadline.is_some_and(|deadline| std::time::Instant::now() > deadline) {
                            return Err(EvalError::Timeout);
                        }
                        let labels = data.labels.clone();
                        let (count, evaluated) = if job.from_buckets {
                            let buckets = data.into_buckets();
                            let evaluated = eval_buckets(
                                job.function,
                                job.range,
                                labels,
                                &buckets,
                                job.steps,
                                &mut done.notes,
                            );
                            (buckets.len() as u64, evaluated)
                        } else {
                            let samples = super::super::eval::decode_samples(data, true);
                            let count = samples.len() as u64;
                            if count > samples_max {
                                return Err(EvalError::TooManySamples);
                            }
                            let series = RangeSeries {
                                labels,
                                samples,
                                drop_name: false,
                            };
                            let evaluated = eval_series(
                                job.function,
                                job.range,
                                series,
                                job.params,
                                job.steps,
                                &mut done.notes,
                                &mut scratch,
                            )?;
                            (count, evaluated)
                        };
                        if count == 0 {
                            continue;
                        }
                        if count > samples_max {
                            return Err(EvalError::TooManySamples);
                        }
                        done.decoded += count;
                        done.largest = done.largest.max(count);
                        done.series += 1;
                        done.output.extend(evaluated);
                    }
                    Ok(done)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(EvalError::Execution("a query thread panicked".into())))
            })
            .collect()
    });
    let mut output = Vec::new();
    let mut peak = 0;
    for result in results {
        let done = result?;
        ev.stats.samples_loaded += done.decoded;
        ev.stats.series_selected += done.series;
        peak += done.largest;
        output.extend(done.output);
        for (mine, theirs) in notes
            .bad_quantile_steps
            .iter_mut()
            .zip(&done.notes.bad_quantile_steps)
        {
            *mine |= *theirs;
        }
        notes.not_counters.extend(done.notes.not_counters);
    }
    ev.stats.peak_samples = ev.stats.peak_samples.max(peak);
    Ok(output)
}

/// Buffers reused across windows, so that a window allocates nothing.
struct Scratch {
    /// The scalar arguments at the current step.
    params: Vec<f64>,
    /// Window values to sort (`quantile_over_time`, `mad_over_time`).
    values: Vec<f64>,
}

impl Scratch {
    fn new(params_len: usize) -> Scratch {
        Scratch {
            params: vec![0.0; params_len],
            values: Vec::new(),
        }
    }
}

/// One input series' output: a value at each step whose window yields one; `None`
/// when no step does.
fn eval_series(
    function: RangeFunction,
    range: &RangeArg,
    series: RangeSeries,
    params: &[Vec<f64>],
    steps: &Steps,
    notes: &mut Notes,
    scratch: &mut Scratch,
) -> Result<Option<StepSeries>, EvalError> {
    let mut values = vec![absent(); steps.len()];
    let mut any = false;
    // drops[i]: how many samples up to i are lower than the one before them. With it
    // a window knows in O(1) whether it holds a counter reset.
    let drops: Option<Vec<u32>> = matches!(function, RangeFunction::Rate | RangeFunction::Increase)
        .then(|| {
            let mut count = 0u32;
            let mut drops = Vec::with_capacity(series.samples.len());
            drops.push(0);
            for pair in series.samples.windows(2) {
                count += u32::from(pair[1].v < pair[0].v);
                drops.push(count);
            }
            drops
        });
    let base = series.samples.as_ptr() as usize;
    for (step, (end, samples)) in range.windows(&series.samples, steps).enumerate() {
        if samples.is_empty() {
            continue;
        }
        let resets_possible = drops.as_ref().is_none_or(|drops| {
            // The window is a sub-slice of `series.samples`: its first index.
            let low = (samples.as_ptr() as usize - base) / std::mem::size_of::<Sample>();
            let high = low + samples.len() - 1;
            drops
                .get(high)
                .zip(drops.get(low))
                .is_none_or(|(h, l)| h > l)
        });
        for (slot, param) in scratch.params.iter_mut().zip(params) {
            *slot = at_step(param, step);
        }
        let window = Window {
            end,
            range_ms: range.range,
            step_time: steps.time(step),
            params: &scratch.params,
            resets_possible,
        };
        if function == RangeFunction::QuantileOverTime && !valid_quantile(window.params) {
            notes.bad_quantile_steps[step] = true;
        }
        if let Some(value) = apply(function, samples, &window, &mut scratch.values)? {
            values[step] = value;
            any = true;
        }
    }
    if !any {
        return Ok(None);
    }
    if matches!(function, RangeFunction::Rate | RangeFunction::Increase)
        && let Some(metric) = series.labels.get(METRIC_NAME)
        && !looks_like_counter(metric)
    {
        notes.not_counters.insert(metric.to_string());
    }
    Ok(Some(StepSeries {
        labels: series.labels,
        values,
        drop_name: !function.keeps_name() || series.drop_name,
    }))
}

/// One series read from a rollup tier, for a function exact on whole buckets: per
/// step, the buckets ending in the window combine into the window's value
/// (`promql::tiers` explains when that equals the raw answer).
fn eval_buckets(
    function: RangeFunction,
    range: &RangeArg,
    labels: crate::model::Labels,
    buckets: &[Bucket],
    steps: &Steps,
    notes: &mut Notes,
) -> Option<StepSeries> {
    let mut values = vec![absent(); steps.len()];
    let mut any = false;
    let mut live: Vec<&Bucket> = Vec::new();
    // Window ends only grow from step to step (or stay, under `@`): both bounds move
    // forward, so a whole series costs one pass over its buckets, not a binary
    // search per step.
    let (mut low, mut high, mut previous_end) = (0, 0, i64::MIN);
    for (step, t) in steps.times().enumerate() {
        let end = range.window_end(t);
        if end < previous_end {
            (low, high) = (0, 0);
        }
        previous_end = end;
        while low < buckets.len() && buckets[low].end <= end - range.range {
            low += 1;
        }
        while high < buckets.len() && buckets[high].end <= end {
            high += 1;
        }
        live.clear();
        live.extend(buckets[low..high.max(low)].iter().filter(|b| b.count > 0));
        if let Some(value) = apply_buckets(function, &live, end, range.range) {
            values[step] = crate::promql::value::from_stored(value);
            any = true;
        }
    }
    if !any {
        return None;
    }
    if matches!(function, RangeFunction::Rate | RangeFunction::Increase)
        && let Some(metric) = labels.get(METRIC_NAME)
        && !looks_like_counter(metric)
    {
        notes.not_counters.insert(metric.to_string());
    }
    Some(StepSeries {
        labels,
        values,
        drop_name: !function.keeps_name(),
    })
}

/// One window's value from its buckets (each holding at least one sample), as
/// `apply` computes it from the samples they hold.
fn apply_buckets(
    function: RangeFunction,
    window: &[&Bucket],
    end: i64,
    range_ms: i64,
) -> Option<f64> {
    use RangeFunction::*;
    let (first, last) = (window.first()?, window.last()?);
    let first_sample = Sample {
        t: first.first_t,
        v: first.first,
    };
    let last_sample = Sample {
        t: last.last_t,
        v: last.last,
    };
    let count: usize = window.iter().map(|bucket| bucket.count as usize).sum();
    let float_sum = |get: fn(&Bucket) -> f64| {
        let (mut sum, mut compensation) = (0.0, 0.0);
        for bucket in window {
            (sum, compensation) = kahan_add(get(bucket), sum, compensation);
        }
        crate::model::kahan_total(sum, compensation)
    };
    let best = |get: fn(&Bucket) -> f64, better: fn(f64, f64) -> bool| {
        window.iter().fold(f64::NAN, |best, bucket| {
            let v = get(bucket);
            if better(v, best) || best.is_nan() {
                v
            } else {
                best
            }
        })
    };
    match function {
        Rate | Increase | Delta => {
            if count < 2 {
                return None;
            }
            let is_counter = function != Delta;
            let mut result = last_sample.v - first_sample.v;
            if is_counter {
                // Resets inside buckets (their increase beyond last - first, exactly
                // zero without one), then between consecutive buckets.
                for bucket in window {
                    result += bucket.increase - (bucket.last - bucket.first);
                }
                for pair in window.windows(2) {
                    if pair[1].first < pair[0].last {
                        result += pair[0].last;
                    }
                }
            }
            Some(extrapolate(
                first_sample,
                last_sample,
                count,
                result,
                end,
                range_ms,
                is_counter,
                function == Rate,
            ))
        }
        AvgOverTime => Some(float_sum(|b| b.sum) / count as f64),
        SumOverTime => Some(float_sum(|b| b.sum)),
        CountOverTime => Some(count as f64),
        MinOverTime => Some(best(|b| b.min, |v, best| v < best)),
        MaxOverTime => Some(best(|b| b.max, |v, best| v > best)),
        LastOverTime => Some(last_sample.v),
        FirstOverTime => Some(first_sample.v),
        PresentOverTime => Some(1.0),
        TsOfFirstOverTime => Some(first_sample.t as f64 / 1000.0),
        TsOfLastOverTime => Some(last_sample.t as f64 / 1000.0),
        // Not exact on buckets: `eval` serves these from bucket points instead.
        _ => None,
    }
}

/// What the windows of one call noticed, turned into annotations at the end.
struct Notes {
    /// Steps at which `quantile_over_time` ran with φ outside [0, 1].
    bad_quantile_steps: Vec<bool>,
    /// Names `rate`/`increase` produced values for that do not look like counters.
    not_counters: BTreeSet<String>,
}

impl Notes {
    fn new(steps_len: usize) -> Notes {
        Notes {
            bad_quantile_steps: vec![false; steps_len],
            not_counters: BTreeSet::new(),
        }
    }

    /// Prometheus positions both notes at the (parenthesis-free) argument they concern.
    fn emit(&self, ev: &mut Evaluator, args: &[Expr], range_expr: &Expr, params: &[Vec<f64>]) {
        let position = range_expr.unparen().span();
        for metric in &self.not_counters {
            ev.info(
                position,
                format!(
                    "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}",
                    go_quote(metric)
                ),
            );
        }
        let (Some(phi_expr), Some(phis)) = (args.first(), params.first()) else {
            return;
        };
        let mut warned: Vec<u64> = Vec::new();
        for (step, bad) in self.bad_quantile_steps.iter().enumerate() {
            let phi = at_step(phis, step);
            if *bad && !warned.contains(&phi.to_bits()) {
                warned.push(phi.to_bits());
                ev.warn(
                    phi_expr.unparen().span(),
                    format!(
                        "quantile value should be between 0 and 1, got {}",
                        format_go_g(phi)
                    ),
                );
            }
        }
    }
}

fn function_name(function: RangeFunction) -> &'static str {
    use RangeFunction::*;
    match function {
        Rate => "rate",
        Increase => "increase",
        Delta => "delta",
        Irate => "irate",
        Idelta => "idelta",
        Deriv => "deriv",
        PredictLinear => "predict_linear",
        Resets => "resets",
        Changes => "changes",
        AvgOverTime => "avg_over_time",
        MinOverTime => "min_over_time",
        MaxOverTime => "max_over_time",
        SumOverTime => "sum_over_time",
        CountOverTime => "count_over_time",
        LastOverTime => "last_over_time",
        FirstOverTime => "first_over_time",
        PresentOverTime => "present_over_time",
        AbsentOverTime => "absent_over_time",
        StddevOverTime => "stddev_over_time",
        StdvarOverTime => "stdvar_over_time",
        QuantileOverTime => "quantile_over_time",
        MadOverTime => "mad_over_time",
        TsOfFirstOverTime => "ts_of_first_over_time",
        TsOfLastOverTime => "ts_of_last_over_time",
        TsOfMaxOverTime => "ts_of_max_over_time",
        TsOfMinOverTime => "ts_of_min_over_time",
        DoubleExponentialSmoothing => "double_exponential_smoothing",
    }
}

/// The names `rate` and `increase` accept without the "might not be a counter" note.
fn looks_like_counter(metric: &str) -> bool {
    ["_total", "_sum", "_count", "_bucket"]
        .iter()
        .any(|suffix| metric.ends_with(suffix))
}

fn valid_quantile(params: &[f64]) -> bool {
    params.first().is_some_and(|phi| (0.0..=1.0).contains(phi))
}

/// One window's value; `None` when the function yields nothing for it (e.g. `rate`
/// over fewer than two samples). `samples` is never empty.
fn apply(
    function: RangeFunction,
    samples: &[Sample],
    window: &Window,
    scratch: &mut Vec<f64>,
) -> Result<Option<f64>, EvalError> {
    use RangeFunction::*;
    debug_assert!(
        !samples.is_empty(),
        "BUG: window function called on no samples"
    );
    let first = samples[0];
    let last = samples[samples.len() - 1];
    Ok(match function {
        // === rate(node parser.ValueTypeMatrix) (Vector, Annotations) ===
        Rate => extrapolated_rate(
            samples,
            window.end,
            window.range_ms,
            true,
            true,
            window.resets_possible,
        ),
        // === increase(node parser.ValueTypeMatrix) (Vector, Annotations) ===
        Increase => extrapolated_rate(
            samples,
            window.end,
            window.range_ms,
            true,
            false,
            window.resets_possible,
        ),
        // === delta(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        Delta => extrapolated_rate(samples, window.end, window.range_ms, false, false, false),
        // === irate(node parser.ValueTypeMatrix) (Vector, Annotations) ===
        Irate => instant_value(samples, true),
        // === idelta(node model.ValMatrix) (Vector, Annotations) ===
        Idelta => instant_value(samples, false),
        // === deriv(node parser.ValueTypeMatrix) (Vector, Annotations) ===
        // Regressing relative to the first sample keeps x small (prometheus#2674).
        Deriv if samples.len() >= 2 => Some(linear_regression(samples, first.t).0),
        Deriv => None,
        // === predict_linear(node parser.ValueTypeMatrix, k parser.ValueTypeScalar) (Vector, Annotations) ===
        // Relative to the step's evaluation time, not the window's end: under `offset`
        // or `@` the prediction is still for "evaluation time + k".
        PredictLinear if samples.len() >= 2 => {
            let (slope, intercept) = linear_regression(samples, window.step_time);
            let duration = window.params.first().copied().unwrap_or(f64::NAN);
            Some(slope * duration + intercept)
        }
        PredictLinear => None,
        // === resets(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        Resets => Some(
            samples
                .windows(2)
                .filter(|pair| pair[1].v < pair[0].v)
                .count() as f64,
        ),
        // === changes(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        Changes => Some(
            samples
                .windows(2)
                .filter(|pair| {
                    pair[1].v != pair[0].v && !(pair[1].v.is_nan() && pair[0].v.is_nan())
                })
                .count() as f64,
        ),
        // === avg_over_time(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        AvgOverTime => Some(average_over_time(samples)),
        // === min_over_time(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        MinOverTime => Some(compare_over_time(samples, |current, best| current < best).v),
        // === max_over_time(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        MaxOverTime => Some(compare_over_time(samples, |current, best| current > best).v),
        // === sum_over_time(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        SumOverTime => Some(sum_over_time(samples)),
        // === count_over_time(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        CountOverTime => Some(samples.len() as f64),
        // === last_over_time(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        LastOverTime => Some(last.v),
        // === first_over_time(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        FirstOverTime => Some(first.v),
        // === present_over_time(Vector parser.ValueTypeMatrix) (Vector, Annotations) ===
        PresentOverTime => Some(1.0),
        // Handled for all series together in `absent_over_time`.
        AbsentOverTime => None,
        // === stddev_over_time(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        StddevOverTime => Some(variance_over_time(samples).sqrt()),
        // === stdvar_over_time(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        StdvarOverTime => Some(variance_over_time(samples)),
        // === quantile_over_time(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        QuantileOverTime => {
            let phi = window.params.first().copied().unwrap_or(f64::NAN);
            scratch.clear();
            scratch.extend(samples.iter().map(|sample| sample.v));
            Some(quantile(phi, scratch))
        }
        // === mad_over_time(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        MadOverTime => Some(median_absolute_deviation(samples, scratch)),
        // === ts_of_first_over_time(Matrix parser.ValueTypeMatrix) (Vector, Notes) ===
        TsOfFirstOverTime => Some(first.t as f64 / 1000.0),
        // === ts_of_last_over_time(Matrix parser.ValueTypeMatrix) (Vector, Notes) ===
        TsOfLastOverTime => Some(last.t as f64 / 1000.0),
        // === ts_of_max_over_time(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        TsOfMaxOverTime => {
            Some(compare_over_time(samples, |current, best| current >= best).t as f64 / 1000.0)
        }
        // === ts_of_min_over_time(Matrix parser.ValueTypeMatrix) (Vector, Annotations) ===
        TsOfMinOverTime => {
            Some(compare_over_time(samples, |current, best| current <= best).t as f64 / 1000.0)
        }
        // === double_exponential_smoothing(Matrix parser.ValueTypeMatrix, sf, tf parser.ValueTypeScalar) (Vector, Annotations) ===
        DoubleExponentialSmoothing => {
            let smoothing = window.params.first().copied().unwrap_or(f64::NAN);
            let trend = window.params.get(1).copied().unwrap_or(f64::NAN);
            double_exponential_smoothing(samples, smoothing, trend)?
        }
    })
}

/// `absent_over_time`: one series, valued 1 at the steps where no input series has a
/// sample in its window, labelled from the selector's equality matchers.
fn absent_over_time(
    range: &RangeArg,
    series_list: &[RangeSeries],
    range_expr: &Expr,
    steps: &Steps,
) -> Value {
    let mut present = vec![false; steps.len()];
    for series in series_list {
        for (step, (_, samples)) in range.windows(&series.samples, steps).enumerate() {
            if !samples.is_empty() {
                present[step] = true;
            }
        }
    }
    if present.iter().all(|present| *present) {
        return Value::Vector(Vec::new());
    }
    let values = present
        .iter()
        .map(|present| if *present { absent() } else { 1.0 })
        .collect();
    Value::Vector(vec![StepSeries {
        labels: super::instant::absent_labels(range_expr),
        values,
        drop_name: true,
    }])
}

/// Prometheus' `extrapolatedRate` for floats: the increase between the first and last
/// sample (plus the value before each counter reset), extrapolated towards the window's
/// edges when the samples come close enough to them: up to 1.1 times the average
/// sample interval, else by half an interval; a counter is never extrapolated below
/// zero. Needs two samples.
pub(super) fn extrapolated_rate(
    samples: &[Sample],
    end: i64,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
    resets_possible: bool,
) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let mut result = last.v - first.v;
    // A window without a drop needs no pass over its samples (the common case; the
    // caller can tell from `resets_in_window`).
    if is_counter && resets_possible {
        for pair in samples.windows(2) {
            if pair[1].v < pair[0].v {
                result += pair[0].v;
            }
        }
    }
    Some(extrapolate(
        first,
        last,
        samples.len(),
        result,
        end,
        range_ms,
        is_counter,
        is_rate,
    ))
}

/// The extrapolation step of `extrapolated_rate`: `result` is the (reset-adjusted)
/// change from `first` to `last` over `count` samples in the window ending at `end`.
/// Shared with rollup tiers, which know these four things of a window of buckets.
#[allow(clippy::too_many_arguments)]
pub(super) fn extrapolate(
    first: Sample,
    last: Sample,
    count: usize,
    result: f64,
    end: i64,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> f64 {
    let range_start = end - range_ms;
    let mut duration_to_start = (first.t - range_start) as f64 / 1000.0;
    let mut duration_to_end = (end - last.t) as f64 / 1000.0;
    let sampled_interval = (last.t - first.t) as f64 / 1000.0;
    let average_interval = sampled_interval / (count - 1) as f64;
    let threshold = average_interval * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = average_interval / 2.0;
    }
    if is_counter {
        // A counter started at zero: if the line through the samples reaches zero
        // before the extrapolated start, start there instead.
        let mut duration_to_zero = duration_to_start;
        if result > 0.0 && first.v >= 0.0 {
            duration_to_zero = sampled_interval * (first.v / result);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_interval / 2.0;
    }
    let mut factor = 1.0;
    if sampled_interval != 0.0 {
        factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    }
    if is_rate {
        factor /= duration_seconds(range_ms);
    }
    result * factor
}

/// `irate` (`is_rate`) and `idelta`: from the last two samples; a drop counts as a
/// counter reset for `irate`.
fn instant_value(samples: &[Sample], is_rate: bool) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let previous = samples[samples.len() - 2];
    let last = samples[samples.len() - 1];
    let interval_ms = last.t - previous.t;
    if interval_ms == 0 {
        return None;
    }
    // After a counter reset the counter counted up from zero: the last value is the
    // increase. A NaN is no reset.
    let reset = last.v < previous.v;
    let mut result = last.v;
    if !is_rate || !reset {
        result = last.v - previous.v;
    }
    if is_rate {
        result /= interval_ms as f64 / 1000.0;
    }
    Some(result)
}

/// Least-squares regression of the samples over time in seconds relative to
/// `intercept_time`: `(slope, value at intercept_time)`, with Kahan sums as Prometheus'
/// `linearRegression`. Constant values give an exact zero slope.
pub(super) fn linear_regression(samples: &[Sample], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    let initial = samples.first().map_or(f64::NAN, |sample| sample.v);
    let mut constant = true;
    for (index, sample) in samples.iter().enumerate() {
        if constant && index > 0 && sample.v != initial {
            constant = false;
        }
        n += 1.0;
        let x = (sample.t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_add(x, sum_x, c_x);
        (sum_y, c_y) = kahan_add(sample.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_add(x * sample.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_add(x * x, sum_x2, c_x2);
    }
    if constant {
        if initial.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, initial);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let covariance_xy = sum_xy - sum_x * sum_y / n;
    let variance_x = sum_x2 - sum_x * sum_x / n;
    let slope = covariance_xy / variance_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// `avg_over_time`: a compensated sum divided by the count, switching to an
/// incremental mean once the sum would overflow (Prometheus' `funcAvgOverTime`).
pub(super) fn average_over_time(samples: &[Sample]) -> f64 {
    let Some((first, rest)) = samples.split_first() else {
        return f64::NAN;
    };
    let (mut sum, mut count) = (first.v, 1.0);
    let (mut mean, mut compensation) = (0.0, 0.0);
    let mut incremental = false;
    for (index, sample) in rest.iter().enumerate() {
        count = (index + 2) as f64;
        if !incremental {
            let (new_sum, new_compensation) = kahan_add(sample.v, sum, compensation);
            if !new_sum.is_infinite() {
                (sum, compensation) = (new_sum, new_compensation);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            compensation /= count - 1.0;
        }
        let weight = (count - 1.0) / count;
        (mean, compensation) = kahan_add(sample.v / count, weight * mean, weight * compensation);
    }
    if incremental {
        mean + compensation
    } else {
        sum / count + compensation / count
    }
}

/// `sum_over_time`: Kahan–Neumaier sum; an infinite sum is returned as is.
fn sum_over_time(samples: &[Sample]) -> f64 {
    let (mut sum, mut compensation) = (0.0, 0.0);
    for sample in samples {
        (sum, compensation) = kahan_add(sample.v, sum, compensation);
    }
    crate::model::kahan_total(sum, compensation)
}

/// Population variance with a compensated Welford update (`varianceOverTime`).
fn variance_over_time(samples: &[Sample]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for sample in samples {
        count += 1.0;
        let delta = sample.v - (mean + c_mean);
        (mean, c_mean) = kahan_add(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_add(delta * (sample.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// The sample that wins `better(current, best)` over the window, starting from the
/// first; a NaN best is always replaced (`compareOverTime`).
fn compare_over_time(samples: &[Sample], better: impl Fn(f64, f64) -> bool) -> Sample {
    let mut best = samples[0];
    for sample in samples {
        if better(sample.v, best.v) || best.v.is_nan() {
            best = *sample;
        }
    }
    best
}

/// `mad_over_time`: the median of absolute deviations from the median; NaN if any
/// value is NaN.
fn median_absolute_deviation(samples: &[Sample], scratch: &mut Vec<f64>) -> f64 {
    if samples.iter().any(|sample| sample.v.is_nan()) {
        return f64::NAN;
    }
    scratch.clear();
    scratch.extend(samples.iter().map(|sample| sample.v));
    let median = quantile(0.5, scratch);
    for value in scratch.iter_mut() {
        *value = (*value - median).abs();
    }
    quantile(0.5, scratch)
}

/// Holt's double exponential smoothing (`funcDoubleExponentialSmoothing`). Factors
/// outside (0, 1) fail the query, as upstream panics with this text.
fn double_exponential_smoothing(
    samples: &[Sample],
    smoothing: f64,
    trend: f64,
) -> Result<Option<f64>, EvalError> {
    if smoothing <= 0.0 || smoothing >= 1.0 {
        return Err(EvalError::Execution(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
            format_go_fixed6(smoothing)
        )));
    }
    if trend <= 0.0 || trend >= 1.0 {
        return Err(EvalError::Execution(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {}",
            format_go_fixed6(trend)
        )));
    }
    if samples.len() < 2 {
        return Ok(None);
    }
    let (mut s0, mut s1) = (0.0, samples[0].v);
    let mut b = samples[1].v - samples[0].v;
    for (index, sample) in samples.iter().enumerate().skip(1) {
        let x = smoothing * sample.v;
        // The trend at the previous point; the first one is the initial slope.
        if index > 1 {
            b = trend * (s1 - s0) + (1.0 - trend) * b;
        }
        let y = (1.0 - smoothing) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Ok(Some(s1))
}

/// Go's `%f`: six decimals, `+Inf`/`-Inf`/`NaN` spelled out.
fn format_go_fixed6(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{value:.6}")
    }
}
