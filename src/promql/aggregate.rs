//! Aggregation operators (`sum`, `avg`, `topk`, `count_values`, ...) with `by` and
//! `without`, computed per group and step with Prometheus' numerics: Kahan–Neumaier
//! compensated sums, an incremental mean once a sum would overflow, Welford's
//! variance, NaN ordering in `min`/`max`/`topk`.
//! Owns: grouping, the per-step accumulators.
//! Does not: evaluate operands (`eval.rs`).

use super::ast::{AggregateOp, Expr, Grouping};
use super::eval::{EvalError, Evaluator};
use super::value::{StepSeries, Steps, Value, absent, is_absent};
use crate::model::{Label, Labels, METRIC_NAME, check_label_name};
/// foldhash, seeded per process: label sets hashed once or twice per series.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub(super) fn eval(ev: &mut Evaluator, expr: &Expr, steps: &Steps) -> Result<Value, EvalError> {
    let Expr::Aggregate {
        op,
        expr: inner,
        param,
        grouping,
        ..
    } = expr
    else {
        return Err(EvalError::Execution("not an aggregation".into()));
    };
    let op = *op;
    if op.experimental() {
        return Err(EvalError::Unsupported(format!(
            "the experimental aggregation {}",
            op.as_str()
        )));
    }
    let mut label_param = None;
    let mut scalar_param = None;
    if let Some(param) = param {
        match op {
            AggregateOp::CountValues => {
                let name = ev.eval_string(param, steps)?;
                if check_label_name(&name).is_err() {
                    return Err(EvalError::Execution(format!("invalid label name {name:?}")));
                }
                label_param = Some(name);
            }
            _ => {
                let values = ev.eval_scalar(param, steps)?;
                if op == AggregateOp::Quantile
                    && let Some(bad) = values.iter().find(|q| !(0.0..=1.0).contains(*q))
                {
                    ev.warn(
                        param.span(),
                        format!(
                            "quantile value should be between 0 and 1, got {}",
                            super::functions::format_go_g(*bad)
                        ),
                    );
                }
                scalar_param = Some(values);
            }
        }
    }
    let input = ev.eval_vector(inner, steps)?;
    let steps_len = steps.len();
    // Group series.
    let mut groups: Vec<(Labels, Vec<usize>)> = Vec::new();
    let mut group_of: HashMap<Labels, usize> = HashMap::default();
    // `by (__name__)` groups by names that are still to be dropped, and passes the mark on.
    let mut group_drops_name: Vec<bool> = Vec::new();
    for (index, series) in input.iter().enumerate() {
        let key = group_labels(&series.labels, grouping.as_ref());
        let group = *group_of.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            group_drops_name.push(false);
            groups.len() - 1
        });
        groups[group].1.push(index);
        group_drops_name[group] |= series.drop_name && groups[group].0.get(METRIC_NAME).is_some();
    }
    if matches!(op, AggregateOp::Topk | AggregateOp::Bottomk)
        && scalar_param
            .as_ref()
            .is_some_and(|ks| ks.iter().any(|k| k.is_nan()))
    {
        return Err(EvalError::Execution("Parameter value is NaN".into()));
    }
    let mut output: Vec<StepSeries> = Vec::new();
    match op {
        AggregateOp::Topk | AggregateOp::Bottomk => {
            let ks = scalar_param.unwrap_or_else(|| vec![1.0; steps_len]);
            select_k(
                op == AggregateOp::Topk,
                &input,
                &groups,
                &ks,
                steps_len,
                &mut output,
            );
        }
        AggregateOp::CountValues => {
            let label = label_param.unwrap_or_default();
            let mut index_of: HashMap<Labels, usize> = HashMap::default();
            for (group_labels, members) in &groups {
                for step in 0..steps_len {
                    for member in members {
                        let value = input[*member].values[step];
                        if is_absent(value) {
                            continue;
                        }
                        let mut labels: Vec<Label> = group_labels
                            .iter()
                            .filter(|existing| existing.name != label)
                            .cloned()
                            .collect();
                        labels.push(Label {
                            name: label.clone(),
                            value: super::functions::format_go_float(value),
                        });
                        labels.sort();
                        let labels = Labels::from_sorted_unchecked(labels);
                        let index = *index_of.entry(labels.clone()).or_insert_with(|| {
                            output.push(StepSeries::new(labels, vec![absent(); steps_len]));
                            output.len() - 1
                        });
                        let slot = &mut output[index].values[step];
                        *slot = if is_absent(*slot) { 1.0 } else { *slot + 1.0 };
                    }
                }
            }
        }
        _ => {
            for ((labels, members), drop_name) in groups.into_iter().zip(group_drops_name) {
                ev.check_deadline()?;
                let mut values = Vec::with_capacity(steps_len);
                let mut scratch = Vec::new();
                for step in 0..steps_len {
                    scratch.clear();
                    scratch.extend(
                        members
                            .iter()
                            .map(|member| input[*member].values[step])
                            .filter(|value| !is_absent(*value)),
                    );
                    let param = scalar_param.as_ref().map_or(0.0, |values| values[step]);
                    values.push(if scratch.is_empty() {
                        absent()
                    } else {
                        aggregate(op, &mut scratch, param)
                    });
                }
                output.push(StepSeries {
                    labels,
                    values,
                    drop_name,
                });
            }
        }
    }
    output.retain(StepSeries::has_values);
    Ok(Value::Vector(output))
}

/// The labels a series is grouped under.
fn group_labels(labels: &Labels, grouping: Option<&Grouping>) -> Labels {
    let kept: Vec<Label> = match grouping {
        None => Vec::new(),
        Some(Grouping {
            without: false,
            labels: names,
        }) => labels
            .iter()
            .filter(|label| names.contains(&label.name))
            .cloned()
            .collect(),
        Some(Grouping {
            without: true,
            labels: names,
        }) => labels
            .iter()
            .filter(|label| label.name != METRIC_NAME && !names.contains(&label.name))
            .cloned()
            .collect(),
    };
    Labels::from_sorted_unchecked(kept)
}

pub(super) use crate::model::kahan_add;

/// One group's value at one step; `values` holds at least one value.
fn aggregate(op: AggregateOp, values: &mut [f64], param: f64) -> f64 {
    match op {
        AggregateOp::Sum => {
            // Started at the first value, not at 0, so a lone -0 stays -0.
            let (mut sum, mut compensation) = (values[0], 0.0);
            for value in values[1..].iter() {
                (sum, compensation) = kahan_add(*value, sum, compensation);
            }
            sum + compensation
        }
        AggregateOp::Avg => average(values),
        AggregateOp::Count => values.len() as f64,
        AggregateOp::Group => 1.0,
        AggregateOp::Min => values[1..].iter().fold(values[0], |min, value| {
            if min > *value || min.is_nan() {
                *value
            } else {
                min
            }
        }),
        AggregateOp::Max => values[1..].iter().fold(values[0], |max, value| {
            if max < *value || max.is_nan() {
                *value
            } else {
                max
            }
        }),
        AggregateOp::Stddev | AggregateOp::Stdvar => {
            let (mut count, mut mean, mut squares) = (0.0, 0.0, 0.0);
            for value in values.iter() {
                count += 1.0;
                let delta = value - mean;
                mean += delta / count;
                squares += delta * (value - mean);
            }
            let variance = squares / count;
            if op == AggregateOp::Stddev {
                variance.sqrt()
            } else {
                variance
            }
        }
        AggregateOp::Quantile => quantile(param, values),
        _ => f64::NAN,
    }
}

/// Mean as Prometheus computes `avg`: a compensated sum started at the first value,
/// divided by the count, switching for good to an incremental mean once the sum would
/// overflow (so `Inf, 0, Inf` averages to `Inf`, not NaN).
pub(super) fn average(values: &[f64]) -> f64 {
    let Some((first, rest)) = values.split_first() else {
        return f64::NAN;
    };
    let (mut sum, mut compensation, mut mean) = (*first, 0.0, *first);
    let mut incremental = false;
    let mut count = 1.0;
    for value in rest {
        count += 1.0;
        if !incremental {
            let (new_sum, new_compensation) = kahan_add(*value, sum, compensation);
            if !new_sum.is_infinite() {
                (sum, compensation) = (new_sum, new_compensation);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            compensation /= count - 1.0;
        }
        if mean.is_infinite() {
            if value.is_infinite() && (mean > 0.0) == (*value > 0.0) {
                continue;
            }
            if !value.is_infinite() && !value.is_nan() {
                continue;
            }
        }
        let current = mean + compensation;
        (mean, compensation) = kahan_add(value / count - current / count, mean, compensation);
    }
    if incremental {
        mean + compensation
    } else {
        sum / count + compensation / count
    }
}

/// The φ-quantile of `values` with linear interpolation between closest ranks, as
/// Prometheus' `quantile`: -Inf below 0, +Inf above 1, NaN for NaN. Sorts `values`.
pub(super) fn quantile(phi: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    // total_cmp puts NaN (positive) last and -NaN first; Prometheus sorts with Go's
    // float64 Less, where NaN compares false. Move NaNs first like sort.Float64s.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.total_cmp(b),
    });
    let n = values.len() as f64;
    let rank = phi * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// `topk`/`bottomk`: per group and step, the k highest (lowest) values; NaN ranks
/// below every number for both. The output series are the selected inputs.
fn select_k(
    top: bool,
    input: &[StepSeries],
    groups: &[(Labels, Vec<usize>)],
    ks: &[f64],
    steps_len: usize,
    output: &mut Vec<StepSeries>,
) {
    let mut selected: Vec<Option<usize>> = vec![None; input.len()];
    let mut order: Vec<(usize, usize)> = Vec::new();
    for (_, members) in groups {
        let mut candidates: Vec<usize> = Vec::new();
        for (step, k) in ks.iter().copied().enumerate().take(steps_len) {
            if k.is_nan() || k < 1.0 {
                continue;
            }
            let k = if k >= usize::MAX as f64 {
                usize::MAX
            } else {
                k as usize
            };
            candidates.clear();
            candidates.extend(
                members
                    .iter()
                    .copied()
                    .filter(|member| !is_absent(input[*member].values[step])),
            );
            candidates.sort_by(|a, b| {
                let (x, y) = (input[*a].values[step], input[*b].values[step]);
                let ordering = match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    (false, false) if top => y.total_cmp(&x),
                    (false, false) => x.total_cmp(&y),
                };
                ordering.then(a.cmp(b))
            });
            for (rank, member) in candidates.iter().take(k).enumerate() {
                let index = match selected[*member] {
                    Some(index) => index,
                    None => {
                        let series = &input[*member];
                        output.push(StepSeries {
                            labels: series.labels.clone(),
                            values: vec![absent(); steps_len],
                            drop_name: series.drop_name,
                        });
                        selected[*member] = Some(output.len() - 1);
                        order.push((output.len() - 1, rank));
                        output.len() - 1
                    }
                };
                output[index].values[step] = input[*member].values[step];
            }
        }
    }
    // An instant query lists each group's selection in rank order; `order` already is.
    let _ = order;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensated_sum_keeps_small_terms() {
        let mut values = vec![1e100, 1.0, -1e100];
        assert_eq!(aggregate(AggregateOp::Sum, &mut values, 0.0), 1.0);
    }

    #[test]
    fn average_survives_overflow() {
        assert_eq!(average(&[f64::MAX, f64::MAX]), f64::MAX);
        assert_eq!(average(&[1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(average(&[f64::INFINITY, 0.0, f64::INFINITY]), f64::INFINITY);
        assert_eq!(
            average(&[f64::NEG_INFINITY, f64::NEG_INFINITY, 0.0]),
            f64::NEG_INFINITY
        );
        assert!(average(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
    }

    #[test]
    fn quantile_interpolates_and_clamps() {
        assert_eq!(quantile(0.5, &mut [1.0, 3.0, 2.0, 4.0]), 2.5);
        assert_eq!(quantile(-0.1, &mut [1.0]), f64::NEG_INFINITY);
        assert_eq!(quantile(1.1, &mut [1.0]), f64::INFINITY);
    }

    #[test]
    fn min_and_max_skip_leading_nan() {
        let mut values = vec![f64::NAN, 3.0, 1.0];
        assert_eq!(aggregate(AggregateOp::Min, &mut values, 0.0), 1.0);
        assert_eq!(aggregate(AggregateOp::Max, &mut values, 0.0), 3.0);
    }
}
