//! Functions of instant vectors and scalars: math (`abs`, `round`, `clamp`, trig),
//! `time`/`vector`/`scalar`/`timestamp`, the date functions, `sort*`, `label_replace`,
//! `label_join` and `absent`.
//! Owns: per-step value mapping, label rewriting with Prometheus' validation errors,
//! `absent`'s label derivation, the ordering `sort*` gives instant queries.
//! Does not: finalise names or order range results (the evaluator does).

use super::{arg, at_step, duration_seconds, go_max, go_min, set_label};
use crate::model::{Labels, METRIC_NAME, MatchOp};
use crate::promql::ast::{At, Expr, Span};
use crate::promql::eval::{EvalError, Evaluator};
use crate::promql::value::{StepSeries, Steps, Value, absent, is_absent};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A function applying one float → float map to every value, dropping the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MathFunction {
    Abs,
    Ceil,
    Floor,
    Exp,
    Sqrt,
    Ln,
    Log2,
    Log10,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    Deg,
    Rad,
    Sgn,
}

impl MathFunction {
    pub(super) fn from_name(name: &str) -> Option<MathFunction> {
        use MathFunction::*;
        Some(match name {
            "abs" => Abs,
            "ceil" => Ceil,
            "floor" => Floor,
            "exp" => Exp,
            "sqrt" => Sqrt,
            "ln" => Ln,
            "log2" => Log2,
            "log10" => Log10,
            "sin" => Sin,
            "cos" => Cos,
            "tan" => Tan,
            "asin" => Asin,
            "acos" => Acos,
            "atan" => Atan,
            "sinh" => Sinh,
            "cosh" => Cosh,
            "tanh" => Tanh,
            "asinh" => Asinh,
            "acosh" => Acosh,
            "atanh" => Atanh,
            "deg" => Deg,
            "rad" => Rad,
            "sgn" => Sgn,
            _ => return None,
        })
    }

    fn apply(self, value: f64) -> f64 {
        use MathFunction::*;
        match self {
            Abs => value.abs(),
            Ceil => value.ceil(),
            Floor => value.floor(),
            Exp => value.exp(),
            Sqrt => value.sqrt(),
            Ln => value.ln(),
            Log2 => value.log2(),
            Log10 => value.log10(),
            Sin => value.sin(),
            Cos => value.cos(),
            Tan => value.tan(),
            Asin => value.asin(),
            Acos => value.acos(),
            Atan => value.atan(),
            Sinh => value.sinh(),
            Cosh => value.cosh(),
            Tanh => value.tanh(),
            Asinh => value.asinh(),
            Acosh => value.acosh(),
            Atanh => value.atanh(),
            Deg => value * 180.0 / std::f64::consts::PI,
            Rad => value * std::f64::consts::PI / 180.0,
            // Zero, negative zero and NaN are their own sign.
            Sgn if value < 0.0 => -1.0,
            Sgn if value > 0.0 => 1.0,
            Sgn => value,
        }
    }
}

/// `values` mapped through `map(step, value)` where present, absent where `map` gives
/// `None`; series left without values are dropped, names are to be dropped.
fn map_series(
    mut input: Vec<StepSeries>,
    mut map: impl FnMut(usize, f64) -> Option<f64>,
) -> Vec<StepSeries> {
    for series in &mut input {
        for (step, value) in series.values.iter_mut().enumerate() {
            if !is_absent(*value) {
                *value = map(step, *value).unwrap_or_else(absent);
            }
        }
        series.drop_name = true;
    }
    input.retain(StepSeries::has_values);
    input
}

// === abs(Vector parser.ValueTypeVector) (Vector, Annotations) === and the other
// one-argument math functions (ceil, floor, exp, sqrt, ln, log2, log10, trig, deg,
// rad, sgn).
pub(super) fn math(
    ev: &mut Evaluator,
    function: MathFunction,
    args: &[Expr],
    steps: &Steps,
) -> Result<Value, EvalError> {
    let input = ev.eval_vector(arg(args, 0, "math function")?, steps)?;
    Ok(Value::Vector(map_series(input, |_, value| {
        Some(function.apply(value))
    })))
}

// === round(Vector parser.ValueTypeVector, toNearest=1 Scalar) (Vector, Annotations) ===
pub(super) fn round(ev: &mut Evaluator, args: &[Expr], steps: &Steps) -> Result<Value, EvalError> {
    let input = ev.eval_vector(arg(args, 0, "round")?, steps)?;
    let to_nearest = match args.get(1) {
        Some(expr) => ev.eval_scalar(expr, steps)?,
        None => vec![1.0; steps.len()],
    };
    Ok(Value::Vector(map_series(input, |step, value| {
        // Multiplying by the inverse loses less precision than dividing; ties round up.
        let inverse = 1.0 / at_step(&to_nearest, step);
        Some((value * inverse + 0.5).floor() / inverse)
    })))
}

// === clamp(Vector parser.ValueTypeVector, min, max Scalar) (Vector, Annotations) ===
// === clamp_max(Vector parser.ValueTypeVector, max Scalar) (Vector, Annotations) ===
// === clamp_min(Vector parser.ValueTypeVector, min Scalar) (Vector, Annotations) ===
pub(super) fn clamp(
    ev: &mut Evaluator,
    name: &str,
    args: &[Expr],
    steps: &Steps,
) -> Result<Value, EvalError> {
    let input = ev.eval_vector(arg(args, 0, name)?, steps)?;
    let first = ev.eval_scalar(arg(args, 1, name)?, steps)?;
    let (minimum, maximum) = match name {
        "clamp" => (first, ev.eval_scalar(arg(args, 2, name)?, steps)?),
        "clamp_max" => (vec![f64::NEG_INFINITY; steps.len()], first),
        _ => (first, vec![f64::INFINITY; steps.len()]),
    };
    Ok(Value::Vector(map_series(input, |step, value| {
        let (low, high) = (at_step(&minimum, step), at_step(&maximum, step));
        // An empty interval yields nothing at this step.
        if high < low {
            None
        } else {
            Some(go_max(low, go_min(high, value)))
        }
    })))
}

// === time() float64 ===, === pi() Scalar ===, and the query-context functions
// start(), end(), range() that Prometheus folds into number literals.
pub(super) fn constant(ev: &mut Evaluator, name: &str, steps: &Steps) -> Result<Value, EvalError> {
    let query_start = ev.resolve_at(Some(At::Start)).unwrap_or(steps.start);
    let query_end = ev.resolve_at(Some(At::End)).unwrap_or(steps.end);
    let value = match name {
        "time" => {
            return Ok(Value::Scalar(
                steps.times().map(|t| t as f64 / 1000.0).collect(),
            ));
        }
        "pi" => std::f64::consts::PI,
        "start" => query_start as f64 / 1000.0,
        "end" => query_end as f64 / 1000.0,
        _ => duration_seconds(query_end - query_start),
    };
    Ok(Value::Scalar(vec![value; steps.len()]))
}

// === min_of(a, b parser.ValueTypeScalar) Scalar ===
// === max_of(a, b parser.ValueTypeScalar) Scalar ===
pub(super) fn min_max_of(
    ev: &mut Evaluator,
    name: &str,
    args: &[Expr],
    steps: &Steps,
) -> Result<Value, EvalError> {
    let left = ev.eval_scalar(arg(args, 0, name)?, steps)?;
    let right = ev.eval_scalar(arg(args, 1, name)?, steps)?;
    let pick = if name == "max_of" { go_max } else { go_min };
    Ok(Value::Scalar(
        left.iter().zip(&right).map(|(l, r)| pick(*l, *r)).collect(),
    ))
}

// === Vector(s Scalar) (Vector, Annotations) ===
pub(super) fn vector(ev: &mut Evaluator, args: &[Expr], steps: &Steps) -> Result<Value, EvalError> {
    let values = ev.eval_scalar(arg(args, 0, "vector")?, steps)?;
    Ok(Value::Vector(vec![StepSeries::new(
        Labels::default(),
        values,
    )]))
}

// === Scalar(node parser.ValueTypeVector) Scalar ===
pub(super) fn scalar(ev: &mut Evaluator, args: &[Expr], steps: &Steps) -> Result<Value, EvalError> {
    let input = ev.eval_vector(arg(args, 0, "scalar")?, steps)?;
    let values = (0..steps.len())
        .map(|step| {
            let mut present = input
                .iter()
                .map(|series| series.values.get(step).copied().unwrap_or_else(absent))
                .filter(|value| !is_absent(*value));
            match (present.next(), present.next()) {
                (Some(value), None) => value,
                _ => f64::NAN,
            }
        })
        .collect();
    Ok(Value::Scalar(values))
}

// === timestamp(Vector parser.ValueTypeVector) (Vector, Annotations) ===
// Of a plain selector: each selected sample's own timestamp. Of anything else: the
// evaluation time, which is all an evaluated instant vector knows.
pub(super) fn timestamp(
    ev: &mut Evaluator,
    args: &[Expr],
    steps: &Steps,
) -> Result<Value, EvalError> {
    let argument = arg(args, 0, "timestamp")?.unparen();
    let input = match argument {
        Expr::Selector(selector) => match ev.eval_selector(selector.as_ref(), steps, true)? {
            Value::Vector(series) => series,
            other => {
                return Err(EvalError::Execution(format!(
                    "BUG: selector evaluated to a {}",
                    other.type_name()
                )));
            }
        },
        other => {
            let mut series = ev.eval_vector(other, steps)?;
            for one in &mut series {
                for (step, value) in one.values.iter_mut().enumerate() {
                    if !is_absent(*value) {
                        *value = steps.time(step) as f64 / 1000.0;
                    }
                }
            }
            series
        }
    };
    Ok(Value::Vector(map_series(input, |_, value| Some(value))))
}

/// A date function: one calendar field of a Unix time in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DateFunction {
    Minute,
    Hour,
    DayOfWeek,
    DayOfMonth,
    DayOfYear,
    DaysInMonth,
    Month,
    Year,
}

impl DateFunction {
    pub(super) fn from_name(name: &str) -> Option<DateFunction> {
        use DateFunction::*;
        Some(match name {
            "minute" => Minute,
            "hour" => Hour,
            "day_of_week" => DayOfWeek,
            "day_of_month" => DayOfMonth,
            "day_of_year" => DayOfYear,
            "days_in_month" => DaysInMonth,
            "month" => Month,
            "year" => Year,
            _ => return None,
        })
    }

    pub(super) fn apply(self, unix_seconds: i64) -> f64 {
        let civil = Civil::from_unix(unix_seconds);
        use DateFunction::*;
        (match self {
            Minute => civil.minute,
            Hour => civil.hour,
            DayOfWeek => civil.weekday,
            DayOfMonth => civil.day,
            DayOfYear => civil.day_of_year,
            DaysInMonth => days_in_month(civil.year, civil.month),
            Month => civil.month,
            Year => civil.year,
        }) as f64
    }
}

// === minute(v Vector) Scalar === and hour, day_of_week, day_of_month, day_of_year,
// days_in_month, month, year. Without an argument, of `vector(time())`.
pub(super) fn date(
    ev: &mut Evaluator,
    function: DateFunction,
    args: &[Expr],
    steps: &Steps,
) -> Result<Value, EvalError> {
    let Some(argument) = args.first() else {
        let values = steps.times().map(|t| function.apply(t / 1000)).collect();
        return Ok(Value::Vector(vec![StepSeries::new(
            Labels::default(),
            values,
        )]));
    };
    let input = ev.eval_vector(argument, steps)?;
    Ok(Value::Vector(map_series(input, |_, value| {
        Some(function.apply(go_float_to_int(value)))
    })))
}

/// Go's `int64(f)` on amd64: truncation, and the "integer indefinite" value
/// `i64::MIN` for NaN and out-of-range values.
pub(super) fn go_float_to_int(value: f64) -> i64 {
    // 2^63 is exactly representable; everything in [-2^63, 2^63) converts.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if value.is_nan() || !(-LIMIT..LIMIT).contains(&value) {
        i64::MIN
    } else {
        value as i64
    }
}

/// A Unix time's calendar fields in UTC (proleptic Gregorian), as Go's `time` gives
/// them; `weekday` counts from Sunday = 0.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    weekday: i64,
    day_of_year: i64,
}

impl Civil {
    fn from_unix(seconds: i64) -> Civil {
        let days = seconds.div_euclid(86_400);
        let second_of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: second_of_day / 3600,
            minute: second_of_day % 3600 / 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7),
            day_of_year: days - days_from_civil(year, 1, 1) + 1,
        }
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
pub(super) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Howard Hinnant's `days_from_civil`: (year, month, day) → days since 1970-01-01.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

// === sort(node parser.ValueTypeVector) (Vector, Annotations) ===
// === sort_desc(node parser.ValueTypeVector) (Vector, Annotations) ===
// === sort_by_label(vector parser.ValueTypeVector, label parser.ValueTypeString...) (Vector, Annotations) ===
// === sort_by_label_desc(vector parser.ValueTypeVector, label parser.ValueTypeString...) (Vector, Annotations) ===
// Order only shows in an instant query's result; a range query's series are ordered
// by labels, which Prometheus points out with a warning.
pub(super) fn sort(
    ev: &mut Evaluator,
    name: &str,
    args: &[Expr],
    span: Span,
    steps: &Steps,
) -> Result<Value, EvalError> {
    let mut input = ev.eval_vector(arg(args, 0, name)?, steps)?;
    let mut sort_labels = Vec::with_capacity(args.len().saturating_sub(1));
    for label in args.iter().skip(1) {
        sort_labels.push(ev.eval_string(label, steps)?);
    }
    if steps.start != steps.end {
        ev.warn(
            span,
            "sort is ineffective for range queries since results are always ordered by labels",
        );
    }
    input.retain(StepSeries::has_values);
    if steps.len() != 1 {
        return Ok(Value::Vector(input));
    }
    let value = |series: &StepSeries| series.values.first().copied().unwrap_or(f64::NAN);
    match name {
        // Ascending, NaN last.
        "sort" => input.sort_by(|a, b| by_value_nan_last(value(a), value(b), false)),
        // Descending, NaN last.
        "sort_desc" => input.sort_by(|a, b| by_value_nan_last(value(a), value(b), true)),
        "sort_by_label" => input.sort_by(|a, b| by_labels(a, b, &sort_labels)),
        _ => input.sort_by(|a, b| by_labels(b, a, &sort_labels)),
    }
    Ok(Value::Vector(input))
}

fn by_value_nan_last(a: f64, b: f64, descending: bool) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) if descending => b.total_cmp(&a),
        (false, false) => a.total_cmp(&b),
    }
}

/// `sort_by_label`'s order: the named labels' values in natural order, then the whole
/// label sets.
fn by_labels(a: &StepSeries, b: &StepSeries, names: &[String]) -> Ordering {
    for name in names {
        let (left, right) = (
            a.labels.get(name).unwrap_or(""),
            b.labels.get(name).unwrap_or(""),
        );
        if left != right {
            return natural_cmp(left, right);
        }
    }
    a.labels.cmp(&b.labels)
}

/// Natural order as `github.com/facette/natsort` (which Prometheus uses) defines it:
/// runs of ASCII digits compare as numbers, other runs as strings, and a string that
/// runs out of runs first comes first. natsort's `Compare` is not a total order where
/// runs differ only in leading zeros ("01" vs "1" precede each other), and Rust's sort
/// may panic on such a comparator, so those ties fall back to byte order; numbers too
/// long for an i64 compare by value here rather than as strings.
pub(super) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (chunks_a, chunks_b) = (natural_chunks(a), natural_chunks(b));
    for (chunk_a, chunk_b) in chunks_a.iter().zip(&chunks_b) {
        let ordering = if is_digits(chunk_a) && is_digits(chunk_b) {
            let (number_a, number_b) = (
                chunk_a.trim_start_matches('0'),
                chunk_b.trim_start_matches('0'),
            );
            number_a
                .len()
                .cmp(&number_b.len())
                .then_with(|| number_a.cmp(number_b))
        } else {
            chunk_a.cmp(chunk_b)
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    chunks_a.len().cmp(&chunks_b.len()).then_with(|| a.cmp(b))
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// Maximal runs of ASCII digits and of everything else (`(\d+|\D+)`).
fn natural_chunks(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut chunks = Vec::new();
    let mut start = 0;
    for index in 1..=bytes.len() {
        // A digit is ASCII, so a change between digit and non-digit is a char boundary.
        if index == bytes.len()
            || bytes[index].is_ascii_digit() != bytes[index - 1].is_ascii_digit()
        {
            chunks.push(&text[start..index]);
            start = index;
        }
    }
    chunks
}

/// Whether Prometheus 3 (UTF-8 label names) accepts `name`: any non-empty valid UTF-8,
/// which a Rust string always is (the parser refuses escapes that make invalid UTF-8,
/// such as `"\xff"`, where Prometheus fails here).
/// Prometheus 3 accepts any non-empty UTF-8 label name. A string literal with bytes
/// that are not UTF-8 (`"\xff"`) reaches us with U+FFFD in their place (see
/// `parse::literal::unquote`); upstream rejects such a name, so do we.
fn valid_label_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('\u{FFFD}')
}

// label_replace(v instant-vector, dst_label string, replacement string, src_label string, regex string)
pub(super) fn label_replace(
    ev: &mut Evaluator,
    args: &[Expr],
    steps: &Steps,
) -> Result<Value, EvalError> {
    let destination = ev.eval_string(arg(args, 1, "label_replace")?, steps)?;
    let replacement = ev.eval_string(arg(args, 2, "label_replace")?, steps)?;
    let source = ev.eval_string(arg(args, 3, "label_replace")?, steps)?;
    let pattern = ev.eval_string(arg(args, 4, "label_replace")?, steps)?;
    let regex = regex::Regex::new(&format!("^(?s:{pattern})$")).map_err(|_| {
        EvalError::Execution(format!(
            "invalid regular expression in label_replace(): {pattern}"
        ))
    })?;
    if !valid_label_name(&destination) {
        return Err(EvalError::Execution(format!(
            "invalid destination label name in label_replace(): {destination}"
        )));
    }
    let mut input = ev.eval_vector(arg(args, 0, "label_replace")?, steps)?;
    let mut expanded = String::new();
    for series in &mut input {
        let value = series.labels.get(&source).unwrap_or("");
        // Only a match rewrites the label, even to an empty value.
        let Some(captures) = regex.captures(value) else {
            continue;
        };
        expanded.clear();
        captures.expand(&replacement, &mut expanded);
        series.labels = set_label(&series.labels, &destination, &expanded);
        if destination == METRIC_NAME {
            series.drop_name = false;
        }
    }
    Ok(Value::Vector(merge_same_labels(input)?))
}

// label_join(v instant-vector, dst_label string, separator string, src_label_1 string, ...)
pub(super) fn label_join(
    ev: &mut Evaluator,
    args: &[Expr],
    steps: &Steps,
) -> Result<Value, EvalError> {
    let destination = ev.eval_string(arg(args, 1, "label_join")?, steps)?;
    let separator = ev.eval_string(arg(args, 2, "label_join")?, steps)?;
    let mut sources = Vec::with_capacity(args.len().saturating_sub(3));
    for source in args.iter().skip(3) {
        let source = ev.eval_string(source, steps)?;
        if !valid_label_name(&source) {
            return Err(EvalError::Execution(format!(
                "invalid source label name in label_join(): {source}"
            )));
        }
        sources.push(source);
    }
    if !valid_label_name(&destination) {
        return Err(EvalError::Execution(format!(
            "invalid destination label name in label_join(): {destination}"
        )));
    }
    let mut input = ev.eval_vector(arg(args, 0, "label_join")?, steps)?;
    let mut joined = String::new();
    for series in &mut input {
        joined.clear();
        for (index, source) in sources.iter().enumerate() {
            if index > 0 {
                joined.push_str(&separator);
            }
            joined.push_str(series.labels.get(source).unwrap_or(""));
        }
        series.labels = set_label(&series.labels, &destination, &joined);
        if destination == METRIC_NAME {
            series.drop_name = false;
        }
    }
    Ok(Value::Vector(merge_same_labels(input)?))
}

/// Merges series that relabelling made identical, as Prometheus'
/// `mergeSeriesWithSameLabelset`: allowed while they have no step in common.
fn merge_same_labels(input: Vec<StepSeries>) -> Result<Vec<StepSeries>, EvalError> {
    let mut seen: HashSet<&Labels> = HashSet::with_capacity(input.len());
    if input.iter().all(|series| seen.insert(&series.labels)) {
        return Ok(input);
    }
    let mut index_of: HashMap<Labels, usize> = HashMap::with_capacity(input.len());
    let mut merged: Vec<StepSeries> = Vec::with_capacity(input.len());
    for series in input {
        let Some(index) = index_of.get(&series.labels).copied() else {
            index_of.insert(series.labels.clone(), merged.len());
            merged.push(series);
            continue;
        };
        let target = &mut merged[index].values;
        for (slot, value) in target.iter_mut().zip(series.values) {
            if is_absent(value) {
                continue;
            }
            if !is_absent(*slot) {
                return Err(EvalError::Execution(
                    "vector cannot contain metrics with the same labelset".into(),
                ));
            }
            *slot = value;
        }
    }
    Ok(merged)
}

// === absent(Vector parser.ValueTypeVector) (Vector, Annotations) ===
pub(super) fn absent_vector(
    ev: &mut Evaluator,
    args: &[Expr],
    steps: &Steps,
) -> Result<Value, EvalError> {
    let argument = arg(args, 0, "absent")?;
    let input = ev.eval_vector(argument, steps)?;
    let mut values = vec![1.0; steps.len()];
    for series in &input {
        for (slot, value) in values.iter_mut().zip(&series.values) {
            if !is_absent(*value) {
                *slot = absent();
            }
        }
    }
    let mut output = vec![StepSeries::new(absent_labels(argument), values)];
    output.retain(StepSeries::has_values);
    Ok(Value::Vector(output))
}

/// The labels `absent` and `absent_over_time` give their result: those a selector
/// argument fixes with a single equality matcher (`createLabelsForAbsentFunction`).
/// A label matched twice, or matched otherwise than by `=`, is left out.
pub(super) fn absent_labels(argument: &Expr) -> Labels {
    let matchers = match argument.unparen() {
        Expr::Selector(selector) => &selector.matchers,
        Expr::Matrix { selector, .. } => &selector.matchers,
        _ => return Labels::default(),
    };
    let mut labels: BTreeMap<&str, &str> = BTreeMap::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for matcher in matchers {
        if matcher.name == METRIC_NAME {
            continue;
        }
        if matcher.op == MatchOp::Equal && !seen.contains(matcher.name.as_str()) {
            seen.insert(&matcher.name);
            if matcher.value.is_empty() {
                labels.remove(matcher.name.as_str());
            } else {
                labels.insert(&matcher.name, &matcher.value);
            }
        } else {
            labels.remove(matcher.name.as_str());
        }
    }
    Labels::from_sorted_unchecked(
        labels
            .into_iter()
            .map(|(name, value)| crate::model::Label {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect(),
    )
}
