//! PromQL: the one read path. Parses queries, evaluates them against storage through
//! its querier, and runs Prometheus' promqltest files.
//! Owns: the syntax tree, the parser, the evaluator and its limits, and the final
//! shape of a result (delayed `__name__` removal, duplicate checks, sorting).
//! Does not: serve HTTP (`web::api::query` does) or touch storage except through
//! `Storage::select` and the label enumeration it offers.

mod aggregate;
pub mod ast;
mod binary;
pub mod eval;
pub mod format;
mod functions;
pub mod parse;
pub mod promqltest;
pub mod signatures;
pub mod testfmt;
pub mod tiers;
pub mod value;

use crate::model::{Labels, Sample};
use crate::storage::Storage;
use ast::{Expr, ValueType};
pub use eval::{Annotation, AnnotationKind, EvalError, EvalOptions, EvalStats, TierRequest};
/// foldhash, seeded per process: label sets hashed once or twice per series.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use value::{QueryValue, RangeSeries, StepSeries, Steps, Value, is_absent};

/// Labels removed together with `__name__` when an operation drops the metric name.
pub(crate) const NAME_LABELS: [&str; 3] = [crate::model::METRIC_NAME, "__type__", "__unit__"];

/// Points one series of a range query may have (Prometheus' limit, which protects the
/// client more than the server).
pub const RANGE_POINTS_PER_SERIES_MAX: i64 = 11_000;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Parse(#[from] parse::ParseError),
    #[error("{0}")]
    Eval(#[from] EvalError),
    /// Bad request parameters (range, step), worded as Prometheus does.
    #[error("{0}")]
    BadRequest(String),
}

/// A query's answer with what it cost and what it noticed.
#[derive(Clone, Debug)]
pub struct QueryResult {
    pub value: QueryValue,
    pub annotations: Vec<Annotation>,
    pub stats: EvalStats,
    /// Names of the storage tiers that served the query (`raw`, `1m`, ...), finest
    /// first; empty when it read no data.
    pub tiers: Vec<String>,
}

/// The newest sample of each series `selector` selects at `t` (milliseconds): within
/// the lookback, not a stale marker, with the sample's own timestamp and every label,
/// `__name__` included. What `/federate` serves; read like the selector in an instant
/// query (tier, limits, deadline). `query` is the selector's text, for annotations.
/// The value is a `QueryValue::Vector` sorted by labels whose times are the samples'.
pub fn latest_samples(
    storage: &Storage,
    query: &str,
    selector: &ast::Selector,
    t: i64,
    options: &EvalOptions,
) -> Result<QueryResult, QueryError> {
    let mut evaluator = eval::Evaluator::new(storage, query, options, &Steps::instant(t));
    let mut samples = evaluator.latest_samples(selector, t)?;
    samples.sort_by(|a, b| a.0.cmp(&b.0));
    let tiers = tiers::in_order(storage, &evaluator.tiers_served);
    Ok(QueryResult {
        value: QueryValue::Vector(samples),
        annotations: evaluator.annotations,
        stats: evaluator.stats,
        tiers,
    })
}

/// Evaluates `query` at `t` (milliseconds).
pub fn instant(
    storage: &Storage,
    query: &str,
    t: i64,
    options: &EvalOptions,
) -> Result<QueryResult, QueryError> {
    let expr = parse::parse(query)?;
    evaluate(storage, query, &expr, &Steps::instant(t), false, options)
}

/// Evaluates `query` at `start, start+step, ..., ≤ end` (milliseconds).
pub fn range(
    storage: &Storage,
    query: &str,
    start: i64,
    end: i64,
    step: i64,
    options: &EvalOptions,
) -> Result<QueryResult, QueryError> {
    if end < start {
        return Err(QueryError::BadRequest(
            "end timestamp must not be before start time".into(),
        ));
    }
    if step <= 0 {
        return Err(QueryError::BadRequest(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if (end - start) / step > RANGE_POINTS_PER_SERIES_MAX {
        return Err(QueryError::BadRequest(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
        ));
    }
    let expr = parse::parse(query)?;
    evaluate(
        storage,
        query,
        &expr,
        &Steps { start, end, step },
        true,
        options,
    )
}

/// Evaluates a parsed expression over `steps`: as a range query (a matrix of every
/// step) or, when `range_mode` is false, as an instant query at `steps.start`.
pub fn evaluate(
    storage: &Storage,
    query: &str,
    expr: &Expr,
    steps: &Steps,
    range_mode: bool,
    options: &EvalOptions,
) -> Result<QueryResult, QueryError> {
    if range_mode && !matches!(expr.value_type(), ValueType::Scalar | ValueType::Vector) {
        return Err(QueryError::BadRequest(format!(
            "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
            expr.value_type().name()
        )));
    }
    let mut evaluator = eval::Evaluator::new(storage, query, options, steps);
    let value = evaluator.eval(expr, steps)?;
    let value = if range_mode {
        to_matrix(value, steps)?
    } else {
        to_instant(value, steps.start)?
    };
    let tiers = tiers::in_order(storage, &evaluator.tiers_served);
    Ok(QueryResult {
        value,
        annotations: evaluator.annotations,
        stats: evaluator.stats,
        tiers,
    })
}

fn final_labels(labels: Labels, drop_name: bool) -> Labels {
    if drop_name {
        labels.without(&NAME_LABELS)
    } else {
        labels
    }
}

fn duplicate_labelset() -> QueryError {
    QueryError::Eval(EvalError::Execution(
        "vector cannot contain metrics with the same labelset".into(),
    ))
}

fn to_instant(value: Value, t: i64) -> Result<QueryValue, QueryError> {
    Ok(match value {
        Value::Scalar(values) => QueryValue::Scalar(t, values.first().copied().unwrap_or(f64::NAN)),
        Value::String(text) => QueryValue::String(t, text),
        Value::Vector(series) => {
            let mut result = Vec::with_capacity(series.len());
            let mut seen = std::collections::HashSet::new();
            for StepSeries {
                labels,
                values,
                drop_name,
            } in series
            {
                let Some(v) = values.first().copied().filter(|v| !is_absent(*v)) else {
                    continue;
                };
                let labels = final_labels(labels, drop_name);
                if !seen.insert(labels.clone()) {
                    return Err(duplicate_labelset());
                }
                result.push((labels, Sample { t, v }));
            }
            QueryValue::Vector(result)
        }
        Value::Matrix(series) => {
            let series = series
                .into_iter()
                .map(
                    |RangeSeries {
                         labels,
                         samples,
                         drop_name,
                     }| { (final_labels(labels, drop_name), samples) },
                )
                .collect();
            QueryValue::Matrix(merge_series(series)?)
        }
    })
}

fn to_matrix(value: Value, steps: &Steps) -> Result<QueryValue, QueryError> {
    let series: Vec<(Labels, Vec<Sample>)> = match value {
        Value::Scalar(values) => vec![(
            Labels::default(),
            values
                .iter()
                .enumerate()
                .map(|(index, v)| Sample {
                    t: steps.time(index),
                    v: *v,
                })
                .collect(),
        )],
        Value::Vector(series) => series
            .into_iter()
            .map(|one| {
                let samples: Vec<Sample> = one
                    .values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| !is_absent(**v))
                    .map(|(index, v)| Sample {
                        t: steps.time(index),
                        v: *v,
                    })
                    .collect();
                (final_labels(one.labels, one.drop_name), samples)
            })
            .filter(|(_, samples)| !samples.is_empty())
            .collect(),
        other => {
            return Err(QueryError::BadRequest(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                other.type_name()
            )));
        }
    };
    Ok(QueryValue::Matrix(merge_series(series)?))
}

/// Merges series whose labels became equal when names were dropped (their points
/// must not overlap), and sorts by labels.
fn merge_series(
    series: Vec<(Labels, Vec<Sample>)>,
) -> Result<Vec<(Labels, Vec<Sample>)>, QueryError> {
    let mut index: HashMap<Labels, usize> =
        HashMap::with_capacity_and_hasher(series.len(), Default::default());
    let mut merged: Vec<(Labels, Vec<Sample>)> = Vec::with_capacity(series.len());
    let mut needs_sort = Vec::new();
    for (labels, samples) in series {
        match index.get(&labels) {
            Some(position) => {
                let target = &mut merged[*position].1;
                let mut times: std::collections::HashSet<i64> =
                    target.iter().map(|sample| sample.t).collect();
                for sample in samples {
                    if !times.insert(sample.t) {
                        return Err(duplicate_labelset());
                    }
                    target.push(sample);
                }
                needs_sort.push(*position);
            }
            None => {
                index.insert(labels.clone(), merged.len());
                merged.push((labels, samples));
            }
        }
    }
    for position in needs_sort {
        merged[position].1.sort_by_key(|sample| sample.t);
    }
    merged.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Durability, SeriesSamples, StorageOptions};

    fn storage(dir: &std::path::Path) -> Storage {
        let mut options = StorageOptions::new(dir);
        // Nothing here expires: the samples are near 1970.
        options.tiers = vec![crate::storage::Tier {
            resolution_ms: None,
            retention: std::time::Duration::from_secs(1000 * 365 * 24 * 3600),
        }];
        Storage::open(options).expect("storage opens")
    }

    fn put(storage: &Storage, labels: &[(&str, &str)], samples: &[(i64, f64)]) {
        let batch = [SeriesSamples {
            labels: Labels::new(labels.iter().copied()).expect("valid labels"),
            samples: samples.iter().map(|&(t, v)| Sample { t, v }).collect(),
        }];
        let outcome = storage
            .append(&batch, Durability::Background)
            .expect("appends");
        assert!(outcome.rejections.is_empty(), "{:?}", outcome.rejections);
    }

    fn latest(storage: &Storage, query: &str, t: i64, options: &EvalOptions) -> QueryValue {
        let Ok(Expr::Selector(selector)) = parse::parse(query) else {
            panic!("{query} is a selector");
        };
        latest_samples(storage, query, &selector, t, options)
            .expect("evaluates")
            .value
    }

    #[test]
    fn latest_samples_keep_their_own_time_and_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = storage(dir.path());
        put(
            &storage,
            &[("__name__", "a"), ("job", "x")],
            &[(10_000, 1.0), (70_000, 2.0)],
        );
        put(
            &storage,
            &[("__name__", "b"), ("job", "x")],
            &[(20_000, 3.0)],
        );
        // `c` ends with a stale marker; `d` leaves the lookback at 61 s.
        put(
            &storage,
            &[("__name__", "c"), ("job", "x")],
            &[(10_000, 4.0), (30_000, crate::model::stale_nan())],
        );
        put(
            &storage,
            &[("__name__", "d"), ("job", "x")],
            &[(1_000, 5.0)],
        );
        let options = EvalOptions {
            lookback_ms: 60_000,
            ..EvalOptions::default()
        };
        let expected = |points: &[(&str, i64, f64)]| {
            QueryValue::Vector(
                points
                    .iter()
                    .map(|&(name, t, v)| {
                        let labels = Labels::new([("__name__", name), ("job", "x")]);
                        (labels.expect("valid labels"), Sample { t, v })
                    })
                    .collect(),
            )
        };
        assert_eq!(
            latest(&storage, "{job=\"x\"}", 75_000, &options),
            expected(&[("a", 70_000, 2.0), ("b", 20_000, 3.0)])
        );
        // Samples after the evaluation time are not seen; the lookback is left-open.
        assert_eq!(
            latest(&storage, "{job=\"x\"}", 60_000, &options),
            expected(&[("a", 10_000, 1.0), ("b", 20_000, 3.0), ("d", 1_000, 5.0)])
        );
        assert_eq!(
            latest(&storage, "{job=\"x\"}", 80_000, &options),
            expected(&[("a", 70_000, 2.0)])
        );
        // The same limit as any query: both samples of `a` are in the default lookback.
        let tight = EvalOptions {
            samples_max: 1,
            ..EvalOptions::default()
        };
        let Ok(Expr::Selector(selector)) = parse::parse("a") else {
            panic!("a selector");
        };
        assert!(matches!(
            latest_samples(&storage, "a", &selector, 75_000, &tight),
            Err(QueryError::Eval(EvalError::TooManySamples))
        ));
    }
}
