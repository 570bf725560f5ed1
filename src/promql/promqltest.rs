//! Runs Prometheus' promqltest files (`tandem promql-test FILE...`) against our engine
//! and a real storage, judging results the way upstream's runner does, including its
//! implicit re-runs of every instant eval: with `@` pinned at other times, and as a
//! three-step range query (see `../shared/conformance/promql/FORMAT.md`).
//! Owns: loading test data, the re-runs, comparing results and annotations.
//! Does not: parse the file format (`testfmt.rs`) or evaluate (`eval.rs`).

use super::ast::{At, Expr};
use super::testfmt::{self, Command, Eval, EvalMode, ExpectKind, LabelPairs, Load, MessageMatch};
use super::value::{QueryValue, Steps};
use super::{AnnotationKind, EvalOptions, QueryError, QueryResult, TierRequest};
use crate::model::{Labels, Sample, is_stale_nan};
use crate::storage::{Durability, SeriesSamples, Storage, StorageOptions};
use std::path::Path;

/// Functions whose result depends on the evaluation time itself, so pinning selectors
/// with `@` would change the answer (upstream's `AtModifierUnsafeFunctions`).
const AT_UNSAFE_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
    "start",
    "end",
    "range",
    "step",
];

/// The outcome of one file.
#[derive(Clone, Debug, Default)]
pub struct FileReport {
    pub passed: usize,
    pub failed: usize,
    /// `FILE:LINE: message` for each failed eval or unsupported command.
    pub failures: Vec<String>,
}

/// Runs one file; `name` prefixes failure lines.
pub fn run_file(path: &Path) -> std::io::Result<FileReport> {
    let text = std::fs::read_to_string(path)?;
    Ok(run_text(&path.display().to_string(), &text))
}

struct Fixture {
    storage: Storage,
    _dir: tempfile::TempDir,
}

/// What tandem's own files set with `# tandem:` lines.
#[derive(Clone, Debug, Default)]
struct FileSettings {
    options: EvalOptions,
    /// Rollup resolutions (ms), from `# tandem: tiers = 1m 1h`. With them, loaded
    /// data is compacted (so rollups are written) and every eval runs once per tier
    /// (forced raw, each rollup tier forced, and auto), all against the same
    /// expected result.
    rollups: Vec<i64>,
}

fn fresh_storage(settings: &FileSettings) -> Result<Fixture, String> {
    let dir = tempfile::tempdir().map_err(|error| format!("temporary directory: {error}"))?;
    let mut options = StorageOptions::new(dir.path());
    // The upstream test storage accepts no out-of-order samples; neither do we here.
    options.limits.out_of_order_window = std::time::Duration::ZERO;
    // Nothing loaded here expires: test data lives near 1970.
    let forever = std::time::Duration::from_secs(1000 * 365 * 24 * 3600);
    options.tiers = std::iter::once(None)
        .chain(settings.rollups.iter().copied().map(Some))
        .map(|resolution_ms| crate::storage::Tier {
            resolution_ms,
            retention: forever,
        })
        .collect();
    let storage = Storage::open(options).map_err(|error| format!("storage: {error}"))?;
    Ok(Fixture { storage, _dir: dir })
}

/// Runs the commands of `text`; every eval passes or fails, and a command this runner
/// cannot handle counts as a failure.
pub fn run_text(name: &str, text: &str) -> FileReport {
    let mut report = FileReport::default();
    let settings = match file_settings(text) {
        Ok(settings) => settings,
        Err(error) => {
            report.failed += 1;
            report.failures.push(format!("{name}:1: {error}"));
            return report;
        }
    };
    let mut fixture = match fresh_storage(&settings) {
        Ok(fixture) => fixture,
        Err(error) => {
            report.failed += 1;
            report.failures.push(format!("{name}:1: {error}"));
            return report;
        }
    };
    for command in testfmt::parse(text) {
        match command {
            Command::Clear { line } => match fresh_storage(&settings) {
                Ok(fresh) => fixture = fresh,
                Err(error) => {
                    report.failed += 1;
                    report.failures.push(format!("{name}:{line}: {error}"));
                }
            },
            Command::Load(load) => {
                let loaded = load_into(&fixture.storage, &load).and_then(|()| {
                    if settings.rollups.is_empty() {
                        return Ok(());
                    }
                    // Into SQLite blocks and their rollups, as a day of scraping ends up.
                    fixture
                        .storage
                        .finish_offline()
                        .and_then(|()| fixture.storage.compact(i64::MAX).map(|_| ()))
                        .map_err(|error| format!("compact: {error}"))
                });
                if let Err(error) = loaded {
                    report.failed += 1;
                    report
                        .failures
                        .push(format!("{name}:{}: {error}", load.line));
                }
            }
            Command::Eval(eval) => match run_eval_on_tiers(&fixture.storage, &eval, &settings) {
                Ok(()) => report.passed += 1,
                Err(error) => {
                    report.failed += 1;
                    report
                        .failures
                        .push(format!("{name}:{}: {}: {error}", eval.line, eval.expr));
                }
            },
            Command::Unsupported { line, text, error } => {
                report.failed += 1;
                report
                    .failures
                    .push(format!("{name}:{line}: unsupported: {text}: {error}"));
            }
        }
    }
    report
}

/// Runs `eval` as `run_eval` does, once per tier when the file has rollup tiers; a
/// forced tier must be the one that served.
fn run_eval_on_tiers(
    storage: &Storage,
    eval: &Eval,
    settings: &FileSettings,
) -> Result<(), String> {
    if settings.rollups.is_empty() {
        return run_eval(storage, eval, &settings.options, true);
    }
    let mut requests = vec![(TierRequest::Raw, "raw".to_string())];
    for resolution in &settings.rollups {
        let name = crate::config::units::format_duration(std::time::Duration::from_millis(
            u64::try_from(*resolution).unwrap_or(0),
        ));
        requests.push((TierRequest::Rollup(*resolution), name));
    }
    requests.push((TierRequest::Auto, String::new()));
    for (request, name) in requests {
        let options = EvalOptions {
            tier: request,
            ..settings.options.clone()
        };
        let label = if name.is_empty() {
            "auto"
        } else {
            name.as_str()
        };
        // Upstream's re-runs at other times and steps are not whole buckets.
        run_eval(storage, eval, &options, request == TierRequest::Raw)
            .map_err(|error| format!("tier {label}: {error}"))?;
        if !name.is_empty() {
            let served = served_tiers(storage, eval, &options)?;
            if served.iter().any(|tier| *tier != name) {
                return Err(format!("tier {label}: served by {served:?}"));
            }
        }
    }
    Ok(())
}

/// The tiers that served `eval`'s query.
fn served_tiers(
    storage: &Storage,
    eval: &Eval,
    options: &EvalOptions,
) -> Result<Vec<String>, String> {
    let result = match eval.mode {
        EvalMode::Range {
            start_ms,
            end_ms,
            step_ms,
        } => super::range(storage, &eval.expr, start_ms, end_ms, step_ms, options),
        EvalMode::Instant { at_ms } => {
            let t = eval.range_vector.map_or(at_ms, |range| range.end_ms);
            super::instant(storage, &eval.expr, t, options)
        }
    };
    Ok(result.map(|result| result.tiers).unwrap_or_default())
}

/// Engine settings for a file. Upstream's format has no way to set them, so tandem's
/// own files use comment lines (ignored upstream): `# tandem: samples_max = 100`.
fn file_settings(text: &str) -> Result<FileSettings, String> {
    let mut settings = FileSettings::default();
    let options = &mut settings.options;
    for line in text.lines() {
        let Some(setting) = line.trim().strip_prefix("# tandem:") else {
            continue;
        };
        let (key, value) = setting
            .split_once('=')
            .map(|(key, value)| (key.trim(), value.trim()))
            .ok_or_else(|| format!("bad setting {setting:?}: expected key = value"))?;
        match key {
            "samples_max" => {
                options.samples_max = value
                    .parse()
                    .map_err(|_| format!("samples_max: {value:?} is not a number"))?;
            }
            "lookback_delta" => {
                options.lookback_ms = testfmt::parse_duration_ms(value)
                    .map_err(|error| format!("lookback_delta: {error}"))?;
            }
            "tiers" => {
                for word in value.split_whitespace() {
                    let ms = testfmt::parse_duration_ms(word)
                        .map_err(|error| format!("tiers: {error}"))?;
                    settings.rollups.push(ms);
                }
            }
            other => return Err(format!("unknown setting {other:?}")),
        }
    }
    Ok(settings)
}

fn labels_of(pairs: &LabelPairs) -> Result<Labels, String> {
    Labels::new(pairs.iter().cloned()).map_err(|error| error.to_string())
}

/// Appends the series of a `load` command to `storage`.
pub fn load_into(storage: &Storage, load: &Load) -> Result<(), String> {
    let mut batch = Vec::with_capacity(load.series.len());
    for series in &load.series {
        let labels = labels_of(&series.labels)?;
        let samples: Vec<Sample> = series
            .points(load.interval_ms)
            .map(|point| Sample {
                t: point.t_ms,
                v: point.value,
            })
            .collect();
        batch.push(SeriesSamples { labels, samples });
    }
    let outcome = storage
        .append(&batch, Durability::Background)
        .map_err(|error| format!("load: {error}"))?;
    match outcome.rejections.first() {
        Some(rejection) => Err(format!("load: {rejection}")),
        None => Ok(()),
    }
}

/// Whether `expr` calls a function whose value depends on the evaluation time.
fn uses_at_unsafe_function(expr: &Expr) -> bool {
    match expr {
        Expr::Call { function, args, .. } => {
            AT_UNSAFE_FUNCTIONS.contains(&function.name) || args.iter().any(uses_at_unsafe_function)
        }
        Expr::Paren { expr, .. } | Expr::Negate { expr, .. } | Expr::Subquery { expr, .. } => {
            uses_at_unsafe_function(expr)
        }
        Expr::Binary { lhs, rhs, .. } => {
            uses_at_unsafe_function(lhs) || uses_at_unsafe_function(rhs)
        }
        Expr::Aggregate { expr, param, .. } => {
            uses_at_unsafe_function(expr) || param.as_deref().is_some_and(uses_at_unsafe_function)
        }
        _ => false,
    }
}

/// Pins every selector and subquery without `@` to `@ t`, not descending into
/// subqueries (which carry the `@` themselves).
fn pin_at(expr: &mut Expr, t: i64) {
    match expr {
        Expr::Selector(selector) => {
            selector.at.get_or_insert(At::Time(t));
        }
        Expr::Matrix { selector, .. } => {
            selector.at.get_or_insert(At::Time(t));
        }
        Expr::Subquery { at, .. } => {
            at.get_or_insert(At::Time(t));
        }
        Expr::Paren { expr, .. } | Expr::Negate { expr, .. } => pin_at(expr, t),
        Expr::Binary { lhs, rhs, .. } => {
            pin_at(lhs, t);
            pin_at(rhs, t);
        }
        Expr::Aggregate { expr, param, .. } => {
            pin_at(expr, t);
            if let Some(param) = param {
                pin_at(param, t);
            }
        }
        Expr::Call { args, .. } => args.iter_mut().for_each(|arg| pin_at(arg, t)),
        Expr::Number { .. } | Expr::String { .. } => {}
    }
}

fn run_eval(
    storage: &Storage,
    eval: &Eval,
    options: &EvalOptions,
    reruns: bool,
) -> Result<(), String> {
    let expr = super::parse::parse(&eval.expr).map_err(|error| format!("parse: {error}"))?;
    match eval.mode {
        EvalMode::Range {
            start_ms,
            end_ms,
            step_ms,
        } => {
            let result = super::range(storage, &eval.expr, start_ms, end_ms, step_ms, options);
            let Some(result) = check_outcome(eval, result, true)? else {
                return Ok(());
            };
            let steps = Steps {
                start: start_ms,
                end: end_ms,
                step: step_ms,
            };
            compare_matrix(eval, &result.value, &steps)
        }
        EvalMode::Instant { at_ms } => {
            let t = eval.range_vector.map_or(at_ms, |range| range.end_ms);
            let mut queries = vec![(eval.expr.clone(), t)];
            if reruns && !uses_at_unsafe_function(&expr) {
                let mut pinned = expr.clone();
                pin_at(&mut pinned, t);
                let text = pinned.to_string();
                let times = if t == 0 {
                    vec![-1000, 0, 1000]
                } else {
                    vec![-10 * t, 0, t / 5, t, 10 * t]
                };
                queries.extend(times.into_iter().map(|time| (text.clone(), time)));
            }
            let range_check = reruns
                && !eval.excluded_from_range_check()
                && !eval_text_uses_query_range(&eval.expr);
            for (query, time) in queries {
                let result = super::instant(storage, &query, time, options);
                let Some(result) = check_outcome(eval, result, true)
                    .map_err(|error| format!("{error} (as `{query}` at {time}ms)"))?
                else {
                    continue;
                };
                match eval.range_vector {
                    Some(range) => compare_range_vector(eval, &result.value, range)?,
                    None => compare_instant(eval, &result.value)
                        .map_err(|error| format!("{error} (as `{query}` at {time}ms)"))?,
                }
                if range_check {
                    let ranged = super::range(
                        storage,
                        &query,
                        time - 60_000,
                        time + 60_000,
                        60_000,
                        options,
                    );
                    let Some(ranged) = check_outcome(eval, ranged, false)
                        .map_err(|error| format!("range mode: {error} (as `{query}`)"))?
                    else {
                        continue;
                    };
                    if eval.ordered {
                        continue;
                    }
                    let at_t = points_at(&ranged.value, time, eval.expected_scalar.is_some());
                    compare_instant(eval, &at_t).map_err(|error| {
                        format!("range mode: {error} (as `{query}` at {time}ms)")
                    })?;
                }
            }
            Ok(())
        }
    }
}

/// Upstream skips the range-mode check for queries calling `start()` and friends.
fn eval_text_uses_query_range(text: &str) -> bool {
    ["start()", "end()", "range()", "step()"]
        .iter()
        .any(|call| text.contains(call))
}

/// Checks an error against `expect fail`, and annotations (when `annotations`) against
/// `expect warn/info` lines. `Ok(None)`: failed as expected, nothing more to compare.
fn check_outcome(
    eval: &Eval,
    result: Result<QueryResult, QueryError>,
    annotations: bool,
) -> Result<Option<QueryResult>, String> {
    let expected_failure = eval.expected_failure();
    let result = match (result, expected_failure) {
        (Err(error), Some(expect)) => {
            let text = error.to_string();
            return if expect.message.matches(&text) {
                Ok(None)
            } else {
                Err(format!("error {text:?} does not match the expected one"))
            };
        }
        (Err(error), None) => return Err(format!("unexpected error: {error}")),
        (Ok(_), Some(_)) => return Err("expected an error, got a result".into()),
        (Ok(result), None) => result,
    };
    if annotations {
        for (kind, expect_kind, none_kind, label) in [
            (
                AnnotationKind::Warning,
                ExpectKind::Warn,
                ExpectKind::NoWarn,
                "warning",
            ),
            (
                AnnotationKind::Info,
                ExpectKind::Info,
                ExpectKind::NoInfo,
                "info",
            ),
        ] {
            let got: Vec<&str> = result
                .annotations
                .iter()
                .filter(|annotation| annotation.kind == kind)
                .map(|annotation| annotation.message.as_str())
                .collect();
            let expected: Vec<&MessageMatch> = eval
                .expects
                .iter()
                .filter(|expect| expect.kind == expect_kind)
                .map(|expect| &expect.message)
                .collect();
            if eval.expects.iter().any(|expect| expect.kind == none_kind) && !got.is_empty() {
                return Err(format!("expected no {label} annotations, got {got:?}"));
            }
            if expected.is_empty() {
                continue;
            }
            if got.is_empty() {
                return Err(format!("expected {label} annotations, got none"));
            }
            for message in &got {
                if !expected.iter().any(|expect| expect.matches(message)) {
                    return Err(format!("unexpected {label} annotation {message:?}"));
                }
            }
            for expect in &expected {
                if !got.iter().any(|message| expect.matches(message)) {
                    return Err(format!(
                        "no {label} annotation matches {expect:?}; got {got:?}"
                    ));
                }
            }
        }
    }
    Ok(Some(result))
}

/// Prometheus' `almost.Equal` with epsilon 1e-6: NaN equals NaN, the stale marker only
/// itself, and zero must match exactly.
pub fn almost_equal(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 1e-6;
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
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
    if a == 0.0 || b == 0.0 || sum < MIN_NORMAL {
        return difference < EPSILON * MIN_NORMAL;
    }
    difference / sum.min(f64::MAX) < EPSILON
}

/// The points of a range-mode result at exactly `t`, as an instant result.
fn points_at(value: &QueryValue, t: i64, scalar: bool) -> QueryValue {
    let QueryValue::Matrix(series) = value else {
        return value.clone();
    };
    let vector: Vec<(Labels, Sample)> = series
        .iter()
        .filter_map(|(labels, samples)| {
            samples
                .iter()
                .find(|sample| sample.t == t)
                .map(|sample| (labels.clone(), *sample))
        })
        .collect();
    if scalar {
        return match vector.first() {
            Some((_, sample)) => QueryValue::Scalar(t, sample.v),
            None => QueryValue::Vector(Vec::new()),
        };
    }
    QueryValue::Vector(vector)
}

fn compare_instant(eval: &Eval, value: &QueryValue) -> Result<(), String> {
    match value {
        QueryValue::Scalar(_, v) => match eval.expected_scalar {
            Some(expected) if almost_equal(expected, *v) => Ok(()),
            Some(expected) => Err(format!("expected scalar {expected}, got {v}")),
            None => Err(format!("expected a vector, got scalar {v}")),
        },
        QueryValue::String(_, text) => match &eval.expected_string {
            Some(expected) if expected == text => Ok(()),
            Some(expected) => Err(format!("expected string {expected:?}, got {text:?}")),
            None if text.is_empty() => Ok(()),
            None => Err(format!("expected a vector, got string {text:?}")),
        },
        QueryValue::Matrix(_) => Err("received a range result on an instant evaluation".into()),
        QueryValue::Vector(samples) => {
            if let Some(expected) = eval.expected_scalar {
                return Err(format!(
                    "expected scalar {expected}, got a vector of {}",
                    samples.len()
                ));
            }
            let expected: Vec<(Labels, f64, usize)> = eval
                .expected_series
                .iter()
                .map(|series| {
                    Ok((
                        labels_of(&series.labels)?,
                        series.values.first().copied().flatten().unwrap_or(f64::NAN),
                        series.position,
                    ))
                })
                .collect::<Result<_, String>>()?;
            if expected.len() != samples.len() {
                return Err(format!(
                    "expected {} series, got {}: {}",
                    expected.len(),
                    samples.len(),
                    render_vector(samples)
                ));
            }
            let mut positions: Vec<usize> = Vec::new();
            for (labels, sample) in samples {
                let Some((_, value, position)) =
                    expected.iter().find(|(expected, _, _)| expected == labels)
                else {
                    return Err(format!("unexpected series {labels} {}", sample.v));
                };
                if !almost_equal(*value, sample.v) {
                    return Err(format!("{labels}: expected {value}, got {}", sample.v));
                }
                positions.push(*position);
            }
            if eval.ordered && positions.windows(2).any(|pair| pair[0] > pair[1]) {
                return Err(format!("wrong order: {}", render_vector(samples)));
            }
            Ok(())
        }
    }
}

fn render_vector(samples: &[(Labels, Sample)]) -> String {
    samples
        .iter()
        .map(|(labels, sample)| format!("{labels} {}", sample.v))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compares a matrix with expected series whose i-th value is at `start + i*step`.
fn compare_points(eval: &Eval, value: &QueryValue, start: i64, step: i64) -> Result<(), String> {
    let QueryValue::Matrix(series) = value else {
        return Err(format!("expected a matrix, got {value:?}"));
    };
    if series.windows(2).any(|pair| pair[0].0 > pair[1].0) {
        return Err("the matrix is not sorted by labels".into());
    }
    let mut expected = Vec::new();
    for one in &eval.expected_series {
        let labels = labels_of(&one.labels)?;
        let points: Vec<Sample> = one
            .values
            .iter()
            .enumerate()
            .filter_map(|(index, value)| {
                value.map(|v| Sample {
                    t: start + index as i64 * step,
                    v,
                })
            })
            .collect();
        expected.push((labels, points));
    }
    if expected.len() != series.len() {
        let got: Vec<String> = series
            .iter()
            .map(|(labels, _)| labels.to_string())
            .collect();
        return Err(format!(
            "expected {} series, got {}: {}",
            expected.len(),
            series.len(),
            got.join(", ")
        ));
    }
    for (labels, samples) in series {
        let Some((_, points)) = expected.iter().find(|(expected, _)| expected == labels) else {
            return Err(format!("unexpected series {labels}"));
        };
        let same = points.len() == samples.len()
            && points
                .iter()
                .zip(samples)
                .all(|(a, b)| a.t == b.t && almost_equal(a.v, b.v));
        if !same {
            let render = |list: &[Sample]| {
                list.iter()
                    .map(|sample| format!("{}@{}", sample.v, sample.t))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            return Err(format!(
                "{labels}: expected [{}], got [{}]",
                render(points),
                render(samples)
            ));
        }
    }
    Ok(())
}

fn compare_matrix(eval: &Eval, value: &QueryValue, steps: &Steps) -> Result<(), String> {
    compare_points(eval, value, steps.start, steps.step)
}

fn compare_range_vector(
    eval: &Eval,
    value: &QueryValue,
    range: testfmt::RangeVector,
) -> Result<(), String> {
    compare_points(eval, value, range.start_ms, range.step_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn almost_equal_follows_upstream() {
        assert!(almost_equal(1.0, 1.0 + 1e-9));
        assert!(!almost_equal(0.0, 1e-300));
        assert!(almost_equal(f64::NAN, -f64::NAN));
        assert!(!almost_equal(crate::model::stale_nan(), f64::NAN));
        assert!(!almost_equal(f64::INFINITY, f64::NEG_INFINITY));
    }
}
