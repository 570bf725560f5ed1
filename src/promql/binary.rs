//! Binary operators: arithmetic, comparisons (filtering or `bool`), set operators, and
//! vector matching (`on`/`ignoring`, `group_left`/`group_right`), with Prometheus'
//! rules for which labels the result keeps and when a match is ambiguous.
//! Owns: the per-step matching of series, worked out once per pair of series.
//! Does not: evaluate operands (`eval.rs`).

use super::ast::{BinaryOp, Cardinality, Expr, Matching};
use super::eval::{EvalError, Evaluator};
use super::value::{StepSeries, Steps, Value, absent, is_absent};
use crate::model::{Label, Labels, METRIC_NAME};
/// foldhash, seeded per process: label sets hashed once or twice per series.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub(super) fn eval(ev: &mut Evaluator, expr: &Expr, steps: &Steps) -> Result<Value, EvalError> {
    let Expr::Binary {
        op,
        lhs,
        rhs,
        return_bool,
        matching,
        cardinality,
        ..
    } = expr
    else {
        return Err(EvalError::Execution("not a binary expression".into()));
    };
    let (op, return_bool) = (*op, *return_bool);
    let left = ev.eval(lhs, steps)?;
    // `and` with an empty left side is empty whatever the right side is.
    if op == BinaryOp::And && matches!(&left, Value::Vector(series) if series.is_empty()) {
        return Ok(Value::Vector(Vec::new()));
    }
    let right = ev.eval(rhs, steps)?;
    match (left, right) {
        (Value::Scalar(left), Value::Scalar(right)) => Ok(Value::Scalar(
            left.iter()
                .zip(&right)
                .map(|(l, r)| {
                    let (value, keep) = apply(op, *l, *r);
                    if op.is_comparison() {
                        // The parser only lets `bool` comparisons between scalars through.
                        f64::from(u8::from(keep))
                    } else {
                        value
                    }
                })
                .collect(),
        )),
        (Value::Vector(vector), Value::Scalar(scalar)) => Ok(Value::Vector(vector_scalar(
            op,
            vector,
            &scalar,
            false,
            return_bool,
        ))),
        (Value::Scalar(scalar), Value::Vector(vector)) => Ok(Value::Vector(vector_scalar(
            op,
            vector,
            &scalar,
            true,
            return_bool,
        ))),
        (Value::Vector(left), Value::Vector(right)) => {
            let default_matching = Matching {
                on: false,
                labels: Vec::new(),
            };
            let matching = matching.as_ref().unwrap_or(&default_matching);
            let result = match op {
                BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => {
                    set_operation(op, left, right, matching, steps)
                }
                _ => vector_vector(
                    op,
                    left,
                    right,
                    matching,
                    cardinality,
                    return_bool,
                    steps,
                    ev,
                )?,
            };
            Ok(Value::Vector(result))
        }
        (left, right) => Err(EvalError::Execution(format!(
            "binary operator {} between a {} and a {}",
            op.as_str(),
            left.type_name(),
            right.type_name()
        ))),
    }
}

/// `lhs op rhs`: the value, and for comparisons whether the comparison holds.
pub(super) fn apply(op: BinaryOp, lhs: f64, rhs: f64) -> (f64, bool) {
    match op {
        BinaryOp::Add => (lhs + rhs, true),
        BinaryOp::Sub => (lhs - rhs, true),
        BinaryOp::Mul => (lhs * rhs, true),
        BinaryOp::Div => (lhs / rhs, true),
        // Rust's `%` on floats is C's fmod, like Go's math.Mod: the sign of the dividend.
        BinaryOp::Mod => (lhs % rhs, true),
        BinaryOp::Pow => (lhs.powf(rhs), true),
        BinaryOp::Atan2 => (lhs.atan2(rhs), true),
        BinaryOp::Eq => (lhs, lhs == rhs),
        BinaryOp::Ne => (lhs, lhs != rhs),
        BinaryOp::Gt => (lhs, lhs > rhs),
        BinaryOp::Lt => (lhs, lhs < rhs),
        BinaryOp::Ge => (lhs, lhs >= rhs),
        BinaryOp::Le => (lhs, lhs <= rhs),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => (lhs, true),
    }
}

/// Arithmetic drops the metric name; filtering comparisons keep it.
fn drops_name(op: BinaryOp) -> bool {
    !op.is_comparison() && !op.is_set()
}

fn vector_scalar(
    op: BinaryOp,
    mut vector: Vec<StepSeries>,
    scalar: &[f64],
    scalar_on_left: bool,
    return_bool: bool,
) -> Vec<StepSeries> {
    for series in &mut vector {
        for (value, scalar) in series.values.iter_mut().zip(scalar) {
            if is_absent(*value) {
                continue;
            }
            let (l, r) = if scalar_on_left {
                (*scalar, *value)
            } else {
                (*value, *scalar)
            };
            let (mut result, keep) = apply(op, l, r);
            // A comparison keeps the vector's value, on whichever side it is.
            if op.is_comparison() && scalar_on_left {
                result = r;
            }
            *value = if return_bool {
                f64::from(u8::from(keep))
            } else if keep {
                result
            } else {
                absent()
            };
        }
        if drops_name(op) || return_bool {
            series.drop_name = true;
        }
    }
    vector.retain(StepSeries::has_values);
    vector
}

/// The text two series must share to match: their labels restricted to `on(...)`, or
/// without `ignoring(...)` and the metric name.
fn signature(labels: &Labels, matching: &Matching) -> String {
    let mut key = String::new();
    for label in labels.iter() {
        let listed = matching.labels.contains(&label.name);
        let included = if matching.on {
            listed
        } else {
            !listed && label.name != METRIC_NAME
        };
        if included {
            key.push_str(&label.name);
            key.push('\u{0}');
            key.push_str(&label.value);
            key.push('\u{0}');
        }
    }
    key
}

fn set_operation(
    op: BinaryOp,
    left: Vec<StepSeries>,
    right: Vec<StepSeries>,
    matching: &Matching,
    steps: &Steps,
) -> Vec<StepSeries> {
    let steps_len = steps.len();
    // For each signature, at which steps the other side has a series.
    let presence = |side: &[StepSeries]| -> HashMap<String, Vec<bool>> {
        let mut map: HashMap<String, Vec<bool>> = HashMap::default();
        for series in side {
            let present = map
                .entry(signature(&series.labels, matching))
                .or_insert_with(|| vec![false; steps_len]);
            for (slot, value) in present.iter_mut().zip(&series.values) {
                *slot |= !is_absent(*value);
            }
        }
        map
    };
    match op {
        BinaryOp::And | BinaryOp::Unless => {
            let right_present = presence(&right);
            let keep_matched = op == BinaryOp::And;
            let mut result = left;
            for series in &mut result {
                let present = right_present.get(&signature(&series.labels, matching));
                for (index, value) in series.values.iter_mut().enumerate() {
                    let matched = present.is_some_and(|present| present[index]);
                    if matched != keep_matched {
                        *value = absent();
                    }
                }
            }
            result.retain(StepSeries::has_values);
            result
        }
        _ => {
            let left_present = presence(&left);
            let mut result = left;
            for mut series in right {
                if let Some(present) = left_present.get(&signature(&series.labels, matching)) {
                    for (value, taken) in series.values.iter_mut().zip(present) {
                        if *taken {
                            *value = absent();
                        }
                    }
                }
                if series.has_values() {
                    result.push(series);
                }
            }
            result
        }
    }
}

/// The labels of a result: the "many" side's (or the left side's), restricted by
/// `on`/`ignoring` for one-to-one matches, plus `group_x` labels from the "one" side.
fn result_labels(
    many: &Labels,
    one: &Labels,
    matching: &Matching,
    cardinality: &Cardinality,
) -> Labels {
    let mut labels: Vec<Label> = many.iter().cloned().collect();
    if *cardinality == Cardinality::OneToOne {
        if matching.on {
            labels.retain(|label| matching.labels.contains(&label.name));
        } else {
            labels.retain(|label| !matching.labels.contains(&label.name));
        }
    }
    if let Cardinality::ManyToOne(include) | Cardinality::OneToMany(include) = cardinality {
        for name in include {
            labels.retain(|label| label.name != *name);
            if let Some(value) = one.get(name)
                && !value.is_empty()
            {
                labels.push(Label {
                    name: name.clone(),
                    value: value.to_string(),
                });
            }
        }
        labels.sort();
    }
    Labels::from_sorted_unchecked(labels)
}

#[allow(clippy::too_many_arguments)]
fn vector_vector(
    op: BinaryOp,
    left: Vec<StepSeries>,
    right: Vec<StepSeries>,
    matching: &Matching,
    cardinality: &Cardinality,
    return_bool: bool,
    steps: &Steps,
    ev: &mut Evaluator,
) -> Result<Vec<StepSeries>, EvalError> {
    let steps_len = steps.len();
    // group_right swaps the roles: the right side is then the "many" side.
    let swapped = matches!(cardinality, Cardinality::OneToMany(_));
    let (many, one) = if swapped {
        (right, left)
    } else {
        (left, right)
    };
    let mut one_by_signature: HashMap<String, Vec<usize>> = HashMap::default();
    for (index, series) in one.iter().enumerate() {
        one_by_signature
            .entry(signature(&series.labels, matching))
            .or_default()
            .push(index);
    }
    // Per signature and step, whether a "many" series already matched (one-to-one only).
    let mut matched_at: HashMap<String, usize> = HashMap::default();
    let mut output: Vec<StepSeries> = Vec::new();
    let mut output_index: HashMap<Labels, usize> = HashMap::default();
    let mut matched_rows: Vec<Vec<bool>> = Vec::new();
    for series in &many {
        ev.check_deadline()?;
        let key = signature(&series.labels, matching);
        let Some(candidates) = one_by_signature.get(&key) else {
            continue;
        };
        // Per signature, at which steps a "many" series already matched (one-to-one).
        let matched_row = if *cardinality == Cardinality::OneToOne {
            let row = *matched_at.entry(key).or_insert_with(|| {
                matched_rows.push(vec![false; steps_len]);
                matched_rows.len() - 1
            });
            Some(row)
        } else {
            None
        };
        // The output series of each partner this series met: labels are worked out
        // once per pair, not once per step.
        let mut outputs: Vec<(usize, usize)> = Vec::new();
        for (step, &value) in series.values.iter().enumerate() {
            if is_absent(value) {
                continue;
            }
            let mut partner: Option<usize> = None;
            for candidate in candidates {
                let other = &one[*candidate];
                if is_absent(other.values[step]) {
                    continue;
                }
                if let Some(first) = partner {
                    let side = if swapped { "left" } else { "right" };
                    let mut pair = [
                        braced(&one[first].visible_labels()),
                        braced(&other.visible_labels()),
                    ];
                    pair.sort();
                    return Err(EvalError::Execution(format!(
                        "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                        braced(&group_text(&series.labels, matching)),
                        pair[0],
                        pair[1]
                    )));
                }
                partner = Some(*candidate);
            }
            let Some(partner) = partner else { continue };
            let other = &one[partner];
            if let Some(row) = matched_row {
                let seen = &mut matched_rows[row][step];
                if *seen {
                    return Err(EvalError::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                    ));
                }
                *seen = true;
            }
            let (l, r) = if swapped {
                (other.values[step], value)
            } else {
                (value, other.values[step])
            };
            let (result, keep) = apply(op, l, r);
            let result = if return_bool {
                f64::from(u8::from(keep))
            } else if keep {
                result
            } else {
                continue;
            };
            let index = match outputs.iter().find(|(known, _)| *known == partner) {
                Some((_, index)) => *index,
                None => {
                    let mut labels =
                        result_labels(&series.labels, &other.labels, matching, cardinality);
                    // Arithmetic between vectors drops the name at once, even with
                    // delayed name removal (the result is a new metric); `bool` only
                    // marks it.
                    if drops_name(op) {
                        labels = labels.without(&super::NAME_LABELS);
                    }
                    let drop_name = return_bool || series.drop_name;
                    let index = match output_index.get(&labels) {
                        Some(index) => *index,
                        None => {
                            output.push(StepSeries {
                                labels: labels.clone(),
                                values: vec![absent(); steps_len],
                                drop_name,
                            });
                            output_index.insert(labels, output.len() - 1);
                            output.len() - 1
                        }
                    };
                    outputs.push((partner, index));
                    index
                }
            };
            let slot = &mut output[index].values[step];
            if !is_absent(*slot) {
                return Err(EvalError::Execution(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                        .into(),
                ));
            }
            *slot = result;
        }
    }
    Ok(output)
}

/// Labels as Prometheus' `Labels.String()` prints them: `{__name__="x", a="b"}`.
fn braced(labels: &Labels) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|label| format!("{}={:?}", label.name, label.value))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// The match group as Prometheus prints it in errors: the matching labels of a series.
fn group_text(labels: &Labels, matching: &Matching) -> Labels {
    let kept: Vec<Label> = labels
        .iter()
        .filter(|label| {
            let listed = matching.labels.contains(&label.name);
            if matching.on {
                listed
            } else {
                !listed && label.name != METRIC_NAME
            }
        })
        .cloned()
        .collect();
    Labels::from_sorted_unchecked(kept)
}
