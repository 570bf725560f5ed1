//! Values flowing through the evaluator. Every node is evaluated over all steps of
//! the query at once (an instant query is a range of one step), so a series carries
//! one value per step rather than being re-selected at each step: a 24 h range query
//! at a 60 s step walks each stored sample once, not once per step.
//! Owns: the per-step series shapes, the "absent" marker, the final result shapes.
//! Does not: evaluate anything.

use crate::model::{Labels, METRIC_NAME, Sample};

/// Marks "no value at this step". A NaN with a payload no arithmetic produces: values
/// loaded from storage that happen to carry these bits are replaced by a plain NaN
/// (`from_stored`), and absent values never take part in arithmetic.
const ABSENT_BITS: u64 = 0x7ff8_0000_dead_0001;

#[inline]
pub fn absent() -> f64 {
    f64::from_bits(ABSENT_BITS)
}

#[inline]
pub fn is_absent(value: f64) -> bool {
    value.to_bits() == ABSENT_BITS
}

/// A stored value as the evaluator may hold it.
#[inline]
pub fn from_stored(value: f64) -> f64 {
    if is_absent(value) { f64::NAN } else { value }
}

/// The evaluation times of a query: `start, start+step, ..., ≤ end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Steps {
    pub start: i64,
    pub end: i64,
    /// Milliseconds, > 0.
    pub step: i64,
}

impl Steps {
    pub fn instant(t: i64) -> Steps {
        Steps {
            start: t,
            end: t,
            step: 1,
        }
    }

    pub fn len(&self) -> usize {
        if self.end < self.start {
            0
        } else {
            ((self.end - self.start) / self.step) as usize + 1
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn time(&self, index: usize) -> i64 {
        self.start + index as i64 * self.step
    }

    pub fn times(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|index| self.time(index))
    }
}

/// One series of an instant vector, over every step; `absent()` where it has no value.
#[derive(Clone, Debug)]
pub struct StepSeries {
    pub labels: Labels,
    pub values: Vec<f64>,
    /// The metric name is to be dropped when the query finishes (Prometheus 3's
    /// delayed name removal): kept until then so `label_replace` and friends can
    /// still read it.
    pub drop_name: bool,
}

impl StepSeries {
    pub fn new(labels: Labels, values: Vec<f64>) -> StepSeries {
        StepSeries {
            labels,
            values,
            drop_name: false,
        }
    }

    pub fn has_values(&self) -> bool {
        self.values.iter().any(|value| !is_absent(*value))
    }

    /// The labels as the user sees them: without the name when it is to be dropped.
    pub fn visible_labels(&self) -> Labels {
        if self.drop_name {
            self.labels.without(&[METRIC_NAME])
        } else {
            self.labels.clone()
        }
    }
}

/// One series of a range vector: its samples in time order (stale markers removed).
#[derive(Clone, Debug)]
pub struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    pub drop_name: bool,
}

/// The value of an expression over all steps.
#[derive(Clone, Debug)]
pub enum Value {
    /// One value per step.
    Scalar(Vec<f64>),
    String(String),
    Vector(Vec<StepSeries>),
    /// Only as the result of an instant query whose expression is a range vector.
    Matrix(Vec<RangeSeries>),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// A query's answer, shaped as the HTTP API returns it.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryValue {
    /// (time, value)
    Scalar(i64, f64),
    String(i64, String),
    /// Instant query: one sample per series, at the evaluation time.
    Vector(Vec<(Labels, Sample)>),
    /// Range query, or an instant query of a range vector: series sorted by labels.
    Matrix(Vec<(Labels, Vec<Sample>)>),
}
