//! The PromQL function library: `rate`, `*_over_time`, math, date, label and sort
//! functions, `absent`, and `histogram_quantile`/`histogram_fraction` over classic
//! `le` buckets, each with Prometheus 3's numerics, annotations and error texts.
//! Owns: the dispatch from a function name to its implementation, per-window and
//! per-step arithmetic, which functions drop `__name__` (delayed name removal: they
//! set `drop_name`, the evaluator removes the label at the end), Go-compatible number
//! formatting for annotations and labels (`format_go_float`, `format_go_g`).
//! Does not: parse or type-check calls (`signatures.rs`), select or window samples
//! (`eval.rs` hands over `RangeArg` windows), or finalise results.
//!
//! Layout: `range.rs` holds the functions of a range vector, `instant.rs` those of
//! instant vectors and scalars, `histogram.rs` the classic-histogram functions.
//! Native histograms are not stored by tandem, so the functions that only read them
//! (`histogram_count`, `histogram_sum`, ...) return an empty vector, as Prometheus
//! does for float samples.

mod histogram;
mod instant;
mod range;
#[cfg(test)]
mod tests;

use super::ast::{Expr, Function, Span};
use super::eval::{EvalError, Evaluator};
use super::value::{Steps, Value};
use crate::model::{Label, Labels};

/// Evaluates the call `function(args)` at every step.
pub(super) fn call(
    ev: &mut Evaluator,
    function: &'static Function,
    args: &[Expr],
    span: Span,
    steps: &Steps,
) -> Result<Value, EvalError> {
    let name = function.name;
    if let Some(kind) = range::RangeFunction::from_name(name) {
        return range::eval(ev, kind, args, steps);
    }
    if let Some(kind) = instant::MathFunction::from_name(name) {
        return instant::math(ev, kind, args, steps);
    }
    if let Some(kind) = instant::DateFunction::from_name(name) {
        return instant::date(ev, kind, args, steps);
    }
    match name {
        "time" | "pi" | "start" | "end" | "range" => instant::constant(ev, name, steps),
        "vector" => instant::vector(ev, args, steps),
        "scalar" => instant::scalar(ev, args, steps),
        "timestamp" => instant::timestamp(ev, args, steps),
        "round" => instant::round(ev, args, steps),
        "clamp" | "clamp_min" | "clamp_max" => instant::clamp(ev, name, args, steps),
        "min_of" | "max_of" => instant::min_max_of(ev, name, args, steps),
        "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
            instant::sort(ev, name, args, span, steps)
        }
        "label_replace" => instant::label_replace(ev, args, steps),
        "label_join" => instant::label_join(ev, args, steps),
        "absent" => instant::absent_vector(ev, args, steps),
        "histogram_quantile" => histogram::histogram_quantile(ev, args, steps),
        "histogram_quantiles" => histogram::histogram_quantiles(ev, args, steps),
        "histogram_fraction" => histogram::histogram_fraction(ev, args, steps),
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
        | "histogram_stdvar" | "start_timestamp" => histogram::native_only(ev, args, steps),
        _ => Err(EvalError::Unsupported(format!("the function {name}()"))),
    }
}

/// The `index`th argument; the parser has checked the count, so a missing one is a bug
/// in the signature table, reported rather than panicking.
fn arg<'a>(args: &'a [Expr], index: usize, function: &str) -> Result<&'a Expr, EvalError> {
    args.get(index).ok_or_else(|| {
        EvalError::Execution(format!(
            "BUG: {function}() called with {} arguments, needs at least {}",
            args.len(),
            index + 1
        ))
    })
}

/// The value of a per-step scalar parameter. Scalars have one value per step; a
/// shorter vector would be a bug upstream of here, and NaN is what Prometheus gives
/// an undefined scalar.
#[inline]
fn at_step(values: &[f64], step: usize) -> f64 {
    values.get(step).copied().unwrap_or(f64::NAN)
}

/// Milliseconds as seconds, computed like Go's `time.Duration.Seconds()` (whole
/// seconds plus the fraction) so that `rate`'s divisor has the same rounding.
fn duration_seconds(ms: i64) -> f64 {
    let seconds = ms / 1000;
    let nanos = (ms % 1000) * 1_000_000;
    seconds as f64 + nanos as f64 / 1e9
}

/// `labels` with `name` set to `value`, or removed when `value` is empty (an empty
/// value means "no label", as in Prometheus' label builder).
fn set_label(labels: &Labels, name: &str, value: &str) -> Labels {
    let mut result: Vec<Label> = Vec::with_capacity(labels.len() + 1);
    let mut inserted = value.is_empty();
    for label in labels.iter() {
        if label.name == name {
            continue;
        }
        if !inserted && label.name.as_str() > name {
            result.push(Label {
                name: name.to_string(),
                value: value.to_string(),
            });
            inserted = true;
        }
        result.push(label.clone());
    }
    if !inserted {
        result.push(Label {
            name: name.to_string(),
            value: value.to_string(),
        });
    }
    Labels::from_sorted_unchecked(result)
}

/// Go's `math.Max`: NaN wins over numbers, +Inf over NaN, +0 over -0.
fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        return f64::INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { y } else { x };
    }
    if x > y { x } else { y }
}

/// Go's `math.Min`: NaN wins over numbers, -Inf over NaN, -0 over +0.
fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { x } else { y };
    }
    if x < y { x } else { y }
}

/// Go's `sort.Search`: the smallest index in `[0, n)` for which `predicate` holds,
/// `n` if none, probing exactly the indices Go probes (this matters when NaN breaks
/// the monotonicity the search assumes).
fn go_search(n: usize, predicate: impl Fn(usize) -> bool) -> usize {
    let (mut low, mut high) = (0, n);
    while low < high {
        let middle = low + (high - low) / 2;
        if predicate(middle) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    low
}

/// Go's `strconv.FormatFloat(value, 'f', -1, 64)`: the shortest decimal that round-trips,
/// never in exponent form; `+Inf`, `-Inf`, `NaN` as Prometheus prints them.
pub(super) fn format_go_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        // Rust's `Display` also prints the shortest round-trip digits without exponent.
        format!("{value}")
    }
}

/// Go's `fmt` verb `%g`: shortest round-trip digits, in exponent form below 1e-4 and
/// from 1e6 on (`1e+06`). Prometheus' annotations use it, e.g. "quantile value should
/// be between 0 and 1, got %g".
pub(super) fn format_go_g(value: f64) -> String {
    format_go_g_precision(value, None)
}

/// Go's `%g` (`precision` None) or `%.Ng` (`precision` Some(N)), following
/// `strconv.formatDigits`: digits are rounded to the precision (or the shortest
/// round-trip digits), trailing zeros dropped, and exponent form is used when the
/// decimal exponent is below -4 or at least the precision (6 for the shortest form).
fn format_go_g_precision(value: f64, precision: Option<usize>) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let negative = value.is_sign_negative();
    let (digits, point) = decimal_digits(value.abs(), precision);
    let digit_count = digits.len() as i64;
    let shortest = precision.is_none();
    let mut precision = precision.map_or(digit_count, |p| p.max(1) as i64);
    let mut exponent_limit = precision;
    if exponent_limit > digit_count && digit_count >= point {
        exponent_limit = digit_count;
    }
    if shortest {
        exponent_limit = 6;
    }
    let exponent = point - 1;
    let mut text = String::with_capacity(24);
    if negative {
        text.push('-');
    }
    if exponent < -4 || exponent >= exponent_limit {
        precision = precision.min(digit_count);
        push_exponent_form(&mut text, &digits, point, precision - 1);
    } else {
        if precision > point {
            precision = digit_count;
        }
        push_fixed_form(&mut text, &digits, point, (precision - point).max(0));
    }
    text
}

/// The decimal digits of `value` (≥ 0) without trailing zeros, and the position of the
/// decimal point relative to them (Go's `decimalSlice.dp`): 0.25 is ("25", 0), 120 is
/// ("12", 3), 0 is ("", 0).
fn decimal_digits(value: f64, precision: Option<usize>) -> (Vec<u8>, i64) {
    if value == 0.0 {
        return (Vec::new(), 0);
    }
    // Rust's `{:e}` prints the shortest round-trip digits, `{:.Ne}` correctly rounded
    // ones: the same digits Go's ryu-based conversion produces.
    let scientific = match precision {
        None => format!("{value:e}"),
        Some(precision) => format!("{value:.*e}", precision.max(1) - 1),
    };
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exponent + 1)
}

/// Go's `fmtE`: `d.ddde±XX` with `decimals` digits after the point.
fn push_exponent_form(text: &mut String, digits: &[u8], point: i64, decimals: i64) {
    text.push(char::from(digits.first().copied().unwrap_or(b'0')));
    if decimals > 0 {
        text.push('.');
        for index in 1..=decimals as usize {
            text.push(char::from(digits.get(index).copied().unwrap_or(b'0')));
        }
    }
    let exponent = if digits.is_empty() { 0 } else { point - 1 };
    text.push('e');
    text.push(if exponent < 0 { '-' } else { '+' });
    let exponent = exponent.unsigned_abs();
    if exponent < 10 {
        text.push('0');
    }
    text.push_str(&exponent.to_string());
}

/// Go's `fmtF`: the integer part, then `decimals` digits after the point.
fn push_fixed_form(text: &mut String, digits: &[u8], point: i64, decimals: i64) {
    if point > 0 {
        for index in 0..point as usize {
            text.push(char::from(digits.get(index).copied().unwrap_or(b'0')));
        }
    } else {
        text.push('0');
    }
    if decimals > 0 {
        text.push('.');
        for offset in 1..=decimals {
            let index = point + offset - 1;
            let digit = if index >= 0 {
                digits.get(index as usize).copied().unwrap_or(b'0')
            } else {
                b'0'
            };
            text.push(char::from(digit));
        }
    }
}

/// Prometheus' `labels.FormatOpenMetricsFloat`: `%g`, with `.0` appended when the
/// result has neither a point nor an exponent (used for `histogram_quantiles` labels).
fn format_openmetrics_float(value: f64) -> String {
    if value == 0.0 {
        // Negative zero too: Prometheus hard-codes `f == 0`.
        return "0.0".to_string();
    }
    let mut text = format_go_g(value);
    if value.is_finite() && !text.contains(['.', 'e']) {
        text.push_str(".0");
    }
    text
}

/// Go's `%q` of a string (`strconv.Quote`): double quotes, backslash escapes for
/// quotes, backslashes and control characters; printable Unicode kept as is.
fn go_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\u{7}' => quoted.push_str("\\a"),
            '\u{8}' => quoted.push_str("\\b"),
            '\u{c}' => quoted.push_str("\\f"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\u{b}' => quoted.push_str("\\v"),
            ' ' => quoted.push(' '),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                quoted.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || c.is_whitespace() => {
                if (c as u32) < 0x10000 {
                    quoted.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    quoted.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}
