//! The evaluator: walks the syntax tree once for all steps of a query.
//! Owns: selecting and windowing samples (lookback, left-open ranges, staleness,
//! `offset`, `@`), subqueries, limits (samples loaded, deadline), annotations, and the
//! final clean-up (delayed `__name__` removal, duplicate label sets).
//! Does not: implement operators (`binary.rs`), aggregations (`aggregate.rs`) or
//! functions (`functions.rs`).

use super::ast::{At, Expr, Selector, Span};
use super::value::{RangeSeries, StepSeries, Steps, Value, absent, from_stored, is_absent};
use crate::model::{Labels, Sample, is_stale_nan};
use crate::storage::{SelectHints, SeriesData, Storage, StorageError};
use std::time::Instant;

/// Prometheus' default lookback: an instant selector sees samples up to 5m old.
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// Settings of one evaluation.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    pub lookback_ms: i64,
    /// Samples a query may load from storage (and points its subqueries may produce).
    pub samples_max: u64,
    /// When to give up.
    pub deadline: Option<Instant>,
    /// Step of a subquery written without one (`x[10m:]`).
    pub subquery_step_ms: i64,
    /// Which storage tier selectors read (`tier=` on the API).
    pub tier: TierRequest,
}

/// The tier a query asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TierRequest {
    /// Per selector, the coarsest tier that answers exactly and is no finer than the
    /// step needs, among those holding the whole range (`TierPlan` in `tiers.rs`).
    #[default]
    Auto,
    Raw,
    /// The rollup tier of this resolution (ms), exact or not.
    Rollup(i64),
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            lookback_ms: LOOKBACK_MS,
            samples_max: 50_000_000,
            deadline: None,
            subquery_step_ms: 60_000,
            tier: TierRequest::Auto,
        }
    }
}

/// Why a query failed while it ran.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A semantic error in the data, e.g. duplicate series in a match group; worded as
    /// Prometheus words it.
    #[error("{0}")]
    Execution(String),
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    #[error("query timed out in query execution")]
    Timeout,
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// Syntax that parses but that this engine does not evaluate.
    #[error("not supported: {0}")]
    Unsupported(String),
}

/// A warning or an informational note about a query's result, e.g. a `rate` over a
/// metric that does not look like a counter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    pub kind: AnnotationKind,
    /// The full text, as Prometheus renders it: `PromQL info: ... (1:6)`.
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnotationKind {
    Warning,
    Info,
}

/// What storage and evaluation cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvalStats {
    /// Samples decoded from storage, and points made by subqueries.
    pub samples_loaded: u64,
    /// Most samples and points held in memory at once.
    pub peak_samples: u64,
    pub series_selected: u64,
}

/// How a function uses a range vector, for choosing its tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeUse {
    /// The samples themselves (a range vector as a query's result): raw data only.
    Samples,
    /// A function of the window; `exact` when it can be computed exactly from the
    /// buckets of windows that are whole buckets.
    Function { exact: bool },
}

/// A range vector argument: series with their samples, and how each step maps to the
/// end of its window. Series of a matrix selector are decoded one at a time by
/// `next_series`, so a query over thousands of series holds one series' samples at
/// once, not all of them.
pub struct RangeArg<'a> {
    /// Series already in memory (a subquery's points).
    pub series: Vec<RangeSeries>,
    /// Series still compressed in storage, decoded on demand.
    pending: std::vec::IntoIter<SeriesData<'a>>,
    /// Window length: a step at evaluation time `te` sees samples in `(te - range, te]`.
    pub range: i64,
    pub offset: i64,
    /// Resolved `@` time.
    pub at: Option<i64>,
    /// The rollup tier (resolution, ms) the pending series are read from.
    pub resolution: Option<i64>,
}

impl<'a> RangeArg<'a> {
    /// The next series with its samples (stale markers removed), charged to `ev`'s
    /// sample budget; give the charge back with `Evaluator::release` once done with it.
    pub fn next_series(
        &mut self,
        ev: &mut Evaluator<'a>,
    ) -> Result<Option<RangeSeries>, EvalError> {
        if let Some(series) = self.series.pop() {
            return Ok(Some(series));
        }
        for data in self.pending.by_ref() {
            if let Some(series) = ev.decode(data, true)? {
                return Ok(Some(series));
            }
        }
        Ok(None)
    }

    /// How many series are still compressed in storage.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The series still compressed in storage, for a caller that decodes them itself
    /// (in parallel); series already in memory stay for `next_series`.
    pub fn take_pending(&mut self) -> Vec<SeriesData<'a>> {
        std::mem::take(&mut self.pending).collect()
    }

    /// Every series, decoded (for functions that need all at once).
    pub fn all_series(&mut self, ev: &mut Evaluator<'a>) -> Result<Vec<RangeSeries>, EvalError> {
        let mut all = std::mem::take(&mut self.series);
        all.reverse();
        while let Some(series) = self.next_series(ev)? {
            all.push(series);
        }
        Ok(all)
    }

    /// The end of the window for the step at time `t`.
    pub fn window_end(&self, t: i64) -> i64 {
        self.at.unwrap_or(t) - self.offset
    }

    /// For each step, the window of `samples` it sees.
    pub fn windows<'s>(&self, samples: &'s [Sample], steps: &Steps) -> Windows<'s> {
        Windows {
            samples,
            range: self.range,
            at: self.at,
            offset: self.offset,
            steps: *steps,
            index: 0,
            low: 0,
            high: 0,
        }
    }
}

/// Iterator over `(window end, samples in (end - range, end])` for each step. The
/// two bounds only move forward while steps ascend, so a whole query walks each
/// series' samples once.
pub struct Windows<'s> {
    samples: &'s [Sample],
    range: i64,
    at: Option<i64>,
    offset: i64,
    steps: Steps,
    index: usize,
    low: usize,
    high: usize,
}

impl<'s> Iterator for Windows<'s> {
    type Item = (i64, &'s [Sample]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.steps.len() {
            return None;
        }
        let end = self.at.unwrap_or(self.steps.time(self.index)) - self.offset;
        self.index += 1;
        let start = end - self.range;
        // Pinned by `@`, every step has the same window; otherwise ends ascend.
        if self.low > 0 && self.samples.get(self.low - 1).is_some_and(|s| s.t > start) {
            self.low = 0;
            self.high = 0;
        }
        while self.low < self.samples.len() && self.samples[self.low].t <= start {
            self.low += 1;
        }
        if self.high < self.low {
            self.high = self.low;
        }
        while self.high < self.samples.len() && self.samples[self.high].t <= end {
            self.high += 1;
        }
        Some((end, &self.samples[self.low..self.high]))
    }
}

pub struct Evaluator<'a> {
    storage: &'a Storage,
    query: &'a str,
    options: &'a EvalOptions,
    /// The query's first and last step, for `@ start()` and `@ end()`.
    query_start: i64,
    query_end: i64,
    pub stats: EvalStats,
    pub annotations: Vec<Annotation>,
    ticks: u32,
    /// Samples and points charged and not yet released.
    held: u64,
    /// Names of the tiers that served the query's selectors.
    pub tiers_served: std::collections::BTreeSet<String>,
}

impl<'a> Evaluator<'a> {
    pub fn new(
        storage: &'a Storage,
        query: &'a str,
        options: &'a EvalOptions,
        steps: &Steps,
    ) -> Evaluator<'a> {
        Evaluator {
            storage,
            query,
            options,
            query_start: steps.start,
            query_end: steps.end,
            stats: EvalStats::default(),
            annotations: Vec::new(),
            ticks: 0,
            held: 0,
            tiers_served: std::collections::BTreeSet::new(),
        }
    }

    pub fn options(&self) -> &EvalOptions {
        self.options
    }

    /// Fails once the deadline has passed. Cheap enough to call per series.
    pub fn check_deadline(&mut self) -> Result<(), EvalError> {
        // The first call checks too, so a query whose time ran out while it waited for
        // a slot stops at once.
        let check = self.ticks.is_multiple_of(64);
        self.ticks = self.ticks.wrapping_add(1);
        if check
            && let Some(deadline) = self.options.deadline
            && Instant::now() > deadline
        {
            return Err(EvalError::Timeout);
        }
        Ok(())
    }

    /// Counts `count` more samples or points held in memory, failing when more than
    /// `samples_max` are held at once (Prometheus' "peak samples" rule).
    pub fn charge(&mut self, count: u64) -> Result<(), EvalError> {
        self.stats.samples_loaded += count;
        self.held += count;
        self.stats.peak_samples = self.stats.peak_samples.max(self.held);
        if self.held > self.options.samples_max {
            return Err(EvalError::TooManySamples);
        }
        Ok(())
    }

    /// Gives back `count` samples charged earlier and no longer held.
    pub fn release(&mut self, count: u64) {
        self.held = self.held.saturating_sub(count);
    }

    fn annotate(&mut self, kind: AnnotationKind, span: Span, text: String) {
        let (line, column) = span.position(self.query);
        let prefix = match kind {
            AnnotationKind::Warning => "PromQL warning",
            AnnotationKind::Info => "PromQL info",
        };
        // Prometheus keys annotations by their text without the position: the same
        // note about two sub-expressions is reported once.
        let head = format!("{prefix}: {text} (");
        if self
            .annotations
            .iter()
            .any(|existing| existing.message.starts_with(&head))
        {
            return;
        }
        let message = format!("{head}{line}:{column})");
        self.annotations.push(Annotation { kind, message });
    }

    pub fn warn(&mut self, span: Span, text: impl Into<String>) {
        self.annotate(AnnotationKind::Warning, span, text.into());
    }

    pub fn info(&mut self, span: Span, text: impl Into<String>) {
        self.annotate(AnnotationKind::Info, span, text.into());
    }

    pub fn resolve_at(&self, at: Option<At>) -> Option<i64> {
        at.map(|at| match at {
            At::Start => self.query_start,
            At::End => self.query_end,
            At::Time(t) => t,
        })
    }

    /// Evaluates `expr` at every step.
    pub fn eval(&mut self, expr: &Expr, steps: &Steps) -> Result<Value, EvalError> {
        self.check_deadline()?;
        match expr {
            Expr::Number { value, .. } => Ok(Value::Scalar(vec![*value; steps.len()])),
            Expr::String { value, .. } => Ok(Value::String(value.clone())),
            Expr::Paren { expr, .. } => self.eval(expr, steps),
            Expr::Negate { expr, .. } => match self.eval(expr, steps)? {
                Value::Scalar(values) => Ok(Value::Scalar(
                    values.into_iter().map(|value| -value).collect(),
                )),
                Value::Vector(mut series) => {
                    for one in &mut series {
                        for value in &mut one.values {
                            if !is_absent(*value) {
                                *value = -*value;
                            }
                        }
                        one.drop_name = true;
                    }
                    Ok(Value::Vector(series))
                }
                other => Err(EvalError::Execution(format!(
                    "unary minus on a {}",
                    other.type_name()
                ))),
            },
            Expr::Selector(selector) => self.eval_selector(selector, steps, false),
            Expr::Matrix { .. } | Expr::Subquery { .. } => {
                let mut range = self.eval_range(expr, steps, RangeUse::Samples)?;
                Ok(Value::Matrix(range.all_series(self)?))
            }
            Expr::Binary { .. } => super::binary::eval(self, expr, steps),
            Expr::Aggregate { .. } => super::aggregate::eval(self, expr, steps),
            Expr::Call {
                function,
                args,
                span,
            } => super::functions::call(self, function, args, *span, steps),
        }
    }

    /// Evaluates an expression that must give an instant vector.
    pub fn eval_vector(
        &mut self,
        expr: &Expr,
        steps: &Steps,
    ) -> Result<Vec<StepSeries>, EvalError> {
        match self.eval(expr, steps)? {
            Value::Vector(series) => Ok(series),
            other => Err(EvalError::Execution(format!(
                "expected an instant vector, got a {}",
                other.type_name()
            ))),
        }
    }

    /// Evaluates an expression that must give a scalar: one value per step.
    pub fn eval_scalar(&mut self, expr: &Expr, steps: &Steps) -> Result<Vec<f64>, EvalError> {
        match self.eval(expr, steps)? {
            Value::Scalar(values) => Ok(values),
            other => Err(EvalError::Execution(format!(
                "expected a scalar, got a {}",
                other.type_name()
            ))),
        }
    }

    pub fn eval_string(&mut self, expr: &Expr, steps: &Steps) -> Result<String, EvalError> {
        match self.eval(expr, steps)? {
            Value::String(text) => Ok(text),
            other => Err(EvalError::Execution(format!(
                "expected a string, got a {}",
                other.type_name()
            ))),
        }
    }

    /// The tier `read` is served from (`tiers::plan`), noted for the response; a
    /// warning when its answer is approximate, or when raw data was asked for and
    /// part of the range has expired from it.
    pub fn choose_tier(&mut self, read: &super::tiers::Read) -> Option<i64> {
        let coverage = self.storage.tier_coverage();
        let plan = super::tiers::plan(&coverage, self.options.tier, read);
        if let Some(reason) = &plan.approximate {
            self.warn(
                read.span,
                format!(
                    "served from the {} rollup tier, which cannot answer this exactly ({reason}); the result is approximate",
                    plan.tier_name
                ),
            );
        } else if plan.resolution.is_none()
            && let Some(raw) = coverage
                .iter()
                .find(|tier| tier.tier.resolution_ms.is_none())
            && !raw.covers(read.mint)
        {
            self.warn(
                read.span,
                format!(
                    "raw samples before {} have expired (retention {}); older parts of the result are missing",
                    format_ms(raw.from_t),
                    crate::config::units::format_duration(raw.tier.retention)
                ),
            );
        }
        self.tiers_served.insert(plan.tier_name);
        plan.resolution
    }

    /// The series of `selector` that may have samples in `[mint, maxt]`
    /// (milliseconds, inclusive), still compressed.
    pub fn select(
        &mut self,
        selector: &Selector,
        mint: i64,
        maxt: i64,
        hints: &SelectHints,
    ) -> Result<Vec<SeriesData<'a>>, EvalError> {
        Ok(self.storage.select(&selector.matchers, mint, maxt, hints)?)
    }

    /// Decodes one series' samples, charging them to the budget; `None` when it has
    /// none (in range, and not stale when `drop_stale`).
    pub fn decode(
        &mut self,
        data: SeriesData<'a>,
        drop_stale: bool,
    ) -> Result<Option<RangeSeries>, EvalError> {
        self.check_deadline()?;
        let labels = data.labels.clone();
        let samples = decode_samples(data, drop_stale);
        if samples.is_empty() {
            return Ok(None);
        }
        self.charge(samples.len() as u64)?;
        self.stats.series_selected += 1;
        Ok(Some(RangeSeries {
            labels,
            samples,
            drop_name: false,
        }))
    }

    /// An instant vector selector at every step: the newest sample in
    /// `(te - lookback, te]`, none when that sample is a stale marker. With
    /// `timestamps`, the sample's timestamp in seconds instead of its value (for
    /// `timestamp()`).
    pub fn eval_selector(
        &mut self,
        selector: &Selector,
        steps: &Steps,
        timestamps: bool,
    ) -> Result<Value, EvalError> {
        let at = self.resolve_at(selector.at);
        let lookback = self.options.lookback_ms;
        let mut result = Vec::new();
        self.each_instant_series(selector, steps, |series| {
            let values = instant_values(
                &series.samples,
                steps,
                at,
                selector.offset,
                lookback,
                timestamps,
            );
            if values.iter().any(|value| !is_absent(*value)) {
                result.push(StepSeries {
                    labels: series.labels,
                    values,
                    drop_name: false,
                });
            }
        })?;
        Ok(Value::Vector(result))
    }

    /// The sample an instant selector evaluated at `t` sees in each series, with its
    /// own timestamp rather than `t` and every label: what `/federate` exposes, where
    /// the receiving server must store each sample at the time it was taken.
    pub fn latest_samples(
        &mut self,
        selector: &Selector,
        t: i64,
    ) -> Result<Vec<(Labels, Sample)>, EvalError> {
        let end = self.resolve_at(selector.at).unwrap_or(t) - selector.offset;
        let lookback = self.options.lookback_ms;
        let mut result = Vec::new();
        self.each_instant_series(selector, &Steps::instant(t), |series| {
            let next = series.samples.partition_point(|sample| sample.t <= end);
            if let Some(sample) = newest_in_lookback(&series.samples[..next], end, lookback) {
                result.push((series.labels, *sample));
            }
        })?;
        Ok(result)
    }

    /// Selects what an instant selector needs for `steps` (the lookback before the
    /// first step on) and hands each series' samples, stale markers included, to
    /// `each`, one series in memory at a time.
    fn each_instant_series(
        &mut self,
        selector: &Selector,
        steps: &Steps,
        mut each: impl FnMut(RangeSeries),
    ) -> Result<(), EvalError> {
        let at = self.resolve_at(selector.at);
        let (first, last) = match at {
            Some(at) => (at - selector.offset, at - selector.offset),
            None => (steps.start - selector.offset, steps.end - selector.offset),
        };
        let mint = first - self.options.lookback_ms + 1;
        let resolution = self.choose_tier(&super::tiers::Read {
            span: selector.span,
            mint,
            first_end: first,
            step: (at.is_none() && steps.len() > 1).then_some(steps.step),
            window: None,
            exact: true,
        });
        let selected = self.select(selector, mint, last, &SelectHints { resolution })?;
        for data in selected {
            let Some(series) = self.decode(data, false)? else {
                continue;
            };
            self.release(series.samples.len() as u64);
            each(series);
        }
        Ok(())
    }

    /// A range vector argument (`x[5m]` or a subquery) for all steps, read for `usage`.
    pub fn eval_range(
        &mut self,
        expr: &Expr,
        steps: &Steps,
        usage: RangeUse,
    ) -> Result<RangeArg<'a>, EvalError> {
        match expr {
            Expr::Paren { expr, .. } => self.eval_range(expr, steps, usage),
            Expr::Matrix {
                selector, range, ..
            } => {
                let at = self.resolve_at(selector.at);
                let (first, last) = match at {
                    Some(at) => (at - selector.offset, at - selector.offset),
                    None => (steps.start - selector.offset, steps.end - selector.offset),
                };
                let mint = first - range + 1;
                let resolution = match usage {
                    RangeUse::Samples => {
                        self.tiers_served.insert("raw".into());
                        None
                    }
                    RangeUse::Function { exact } => self.choose_tier(&super::tiers::Read {
                        span: selector.span,
                        mint,
                        first_end: first,
                        step: (at.is_none() && steps.len() > 1).then_some(steps.step),
                        window: Some(*range),
                        exact,
                    }),
                };
                let selected = self.select(selector, mint, last, &SelectHints { resolution })?;
                Ok(RangeArg {
                    series: Vec::new(),
                    pending: selected.into_iter(),
                    range: *range,
                    offset: selector.offset,
                    at,
                    resolution,
                })
            }
            Expr::Subquery {
                expr,
                range,
                step,
                offset,
                at,
                ..
            } => {
                let at = self.resolve_at(*at);
                let step = step.unwrap_or(self.options.subquery_step_ms).max(1);
                let (first, last) = match at {
                    Some(at) => (at - offset, at - offset),
                    None => (steps.start - offset, steps.end - offset),
                };
                // The first step-aligned time after `first - range` (Go's truncating
                // division, as Prometheus computes it, also for negative times).
                let from = first - range;
                let mut start = step * (from / step);
                if start <= from {
                    start += step;
                }
                let inner = Steps {
                    start,
                    end: last,
                    step,
                };
                let series = match self.eval(expr, &inner)? {
                    Value::Vector(series) => series,
                    Value::Scalar(values) => vec![StepSeries::new(Labels::default(), values)],
                    other => {
                        return Err(EvalError::Execution(format!(
                            "subquery of a {}",
                            other.type_name()
                        )));
                    }
                };
                let mut result = Vec::with_capacity(series.len());
                for one in series {
                    let samples: Vec<Sample> = one
                        .values
                        .iter()
                        .enumerate()
                        .filter(|(_, value)| !is_absent(**value))
                        .map(|(index, value)| Sample {
                            t: inner.time(index),
                            v: *value,
                        })
                        .collect();
                    if samples.is_empty() {
                        continue;
                    }
                    self.charge(samples.len() as u64)?;
                    result.push(RangeSeries {
                        labels: one.labels,
                        samples,
                        drop_name: one.drop_name,
                    });
                }
                // `next_series` pops from the end: keep the evaluation order.
                result.reverse();
                Ok(RangeArg {
                    series: result,
                    pending: Vec::new().into_iter(),
                    range: *range,
                    offset: *offset,
                    at,
                    resolution: None,
                })
            }
            other => Err(EvalError::Execution(format!(
                "expected a range vector, got {}",
                other.value_type().name()
            ))),
        }
    }
}

/// A time for messages: RFC 3339 in UTC.
fn format_ms(t: i64) -> String {
    jiff::Timestamp::from_millisecond(t).map_or_else(|_| format!("{t} ms"), |ts| ts.to_string())
}

/// A series' samples as the evaluator holds them: stored NaNs that look like our
/// "absent" marker made plain, stale markers dropped when `drop_stale`.
pub fn decode_samples(data: SeriesData<'_>, drop_stale: bool) -> Vec<Sample> {
    let mut samples = if data.resolution().is_some() {
        super::tiers::bucket_points(&data.into_buckets())
    } else {
        data.into_vec()
    };
    if drop_stale {
        samples.retain(|sample| !is_stale_nan(sample.v));
    }
    for sample in &mut samples {
        if !is_stale_nan(sample.v) {
            sample.v = from_stored(sample.v);
        }
    }
    samples
}

/// The newest of `samples` (those at or before `end`, in time order) when it is in
/// `(end - lookback, end]` and not a stale marker.
fn newest_in_lookback(samples: &[Sample], end: i64, lookback: i64) -> Option<&Sample> {
    samples
        .last()
        .filter(|sample| sample.t > end - lookback && !is_stale_nan(sample.v))
}

/// The value of an instant selector at each step (see `Evaluator::eval_selector`).
fn instant_values(
    samples: &[Sample],
    steps: &Steps,
    at: Option<i64>,
    offset: i64,
    lookback: i64,
    timestamps: bool,
) -> Vec<f64> {
    let pick = |end: i64, next: usize| -> f64 {
        // `next` is the index of the first sample after `end`.
        match newest_in_lookback(&samples[..next], end, lookback) {
            Some(sample) if timestamps => sample.t as f64 / 1000.0,
            Some(sample) => sample.v,
            None => absent(),
        }
    };
    if let Some(at) = at {
        let end = at - offset;
        let next = samples.partition_point(|sample| sample.t <= end);
        return vec![pick(end, next); steps.len()];
    }
    let mut values = Vec::with_capacity(steps.len());
    let mut next = 0;
    for t in steps.times() {
        let end = t - offset;
        while next < samples.len() && samples[next].t <= end {
            next += 1;
        }
        values.push(pick(end, next));
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|(t, v)| Sample { t: *t, v: *v })
            .collect()
    }

    #[test]
    fn lookback_is_left_open_and_stale_markers_end_a_series() {
        let data = samples(&[(30_000, 1.0), (60_000, crate::model::stale_nan())]);
        let steps = Steps {
            start: 0,
            end: 360_000,
            step: 30_000,
        };
        let values = instant_values(&data, &steps, None, 0, LOOKBACK_MS, false);
        let present: Vec<bool> = values.iter().map(|v| !is_absent(*v)).collect();
        assert!(!present[0]);
        assert!(present[1]);
        assert!(present[2..].iter().all(|p| !p));
        let only = samples(&[(30_000, 1.0)]);
        let at_329 = instant_values(&only, &Steps::instant(329_000), None, 0, LOOKBACK_MS, false);
        let at_330 = instant_values(&only, &Steps::instant(330_000), None, 0, LOOKBACK_MS, false);
        assert_eq!(at_329, vec![1.0]);
        assert!(is_absent(at_330[0]));
    }

    #[test]
    fn windows_are_left_open_and_follow_at() {
        let data = samples(&[(0, 0.0), (60_000, 1.0), (120_000, 2.0), (180_000, 3.0)]);
        let arg = RangeArg {
            series: Vec::new(),
            pending: Vec::new().into_iter(),
            range: 120_000,
            offset: 0,
            at: None,
            resolution: None,
        };
        let steps = Steps {
            start: 120_000,
            end: 180_000,
            step: 60_000,
        };
        let windows: Vec<Vec<i64>> = arg
            .windows(&data, &steps)
            .map(|(_, window)| window.iter().map(|s| s.t).collect())
            .collect();
        assert_eq!(windows, vec![vec![60_000, 120_000], vec![120_000, 180_000]]);
        let pinned = RangeArg {
            at: Some(60_000),
            ..arg
        };
        let windows: Vec<Vec<i64>> = pinned
            .windows(&data, &steps)
            .map(|(_, window)| window.iter().map(|s| s.t).collect())
            .collect();
        assert_eq!(windows, vec![vec![0, 60_000], vec![0, 60_000]]);
    }
}
