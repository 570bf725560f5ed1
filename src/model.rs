//! The values that cross module boundaries: `Labels`, `Sample`, `SeriesRef`, `Matcher`.
//! Owns: label-set validation and ordering, the stale marker, matcher semantics.
//! Does not: intern or store anything (storage keeps its own compact form).

use std::fmt;

/// The NaN bit pattern Prometheus writes to mark a series as stale. Storage keeps it
/// bit-exact; the query engine treats it as "no sample".
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The name of the label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// Whether `value` is the stale marker (not merely any NaN).
pub fn is_stale_nan(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// The stale marker as an f64.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// One point: milliseconds since the Unix epoch and a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

impl Sample {
    /// Equality that compares values bit for bit, so NaN equals the same NaN.
    pub fn bit_eq(&self, other: &Sample) -> bool {
        self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}

/// Storage's identifier of a series. Stable for the life of the data directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesRef(pub u64);

/// One label.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// A label set: sorted by name, names unique, no empty values (an empty value means
/// the label is absent, as in Prometheus).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels {
    labels: Vec<Label>,
}

/// Why a label set was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("duplicate label name {0:?}")]
    Duplicate(String),
    #[error("empty label name")]
    EmptyName,
    #[error(
        "invalid label name {0:?}: names are letters, digits and underscores, not starting with a digit"
    )]
    InvalidName(String),
    #[error(
        "invalid metric name {0:?}: names are letters, digits, underscores and colons, not starting with a digit"
    )]
    InvalidMetricName(String),
    #[error("missing metric name (label __name__)")]
    MissingMetricName,
}

impl Labels {
    /// Builds a label set from pairs in any order. Empty values are dropped; names are
    /// checked; duplicates are an error.
    pub fn new<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Labels, LabelError> {
        let mut labels: Vec<Label> = pairs
            .into_iter()
            .map(|(name, value)| Label {
                name: name.into(),
                value: value.into(),
            })
            .filter(|label| !label.value.is_empty())
            .collect();
        labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        for pair in labels.windows(2) {
            if pair[0].name == pair[1].name {
                return Err(LabelError::Duplicate(pair[0].name.clone()));
            }
        }
        for label in &labels {
            check_label_name(&label.name)?;
            if label.name == METRIC_NAME {
                check_metric_name(&label.value)?;
            }
        }
        Ok(Labels { labels })
    }

    /// Builds from pairs already known to be valid, sorted and unique (storage reading
    /// its own catalog). Checked in debug builds.
    pub fn from_sorted_unchecked(labels: Vec<Label>) -> Labels {
        debug_assert!(
            labels.windows(2).all(|pair| pair[0].name < pair[1].name),
            "BUG: labels not sorted: {labels:?}"
        );
        Labels { labels }
    }

    /// Like `new`, and also requires `__name__`, as every stored series has one.
    pub fn new_series<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Labels, LabelError> {
        let labels = Labels::new(pairs)?;
        if labels.get(METRIC_NAME).is_none() {
            return Err(LabelError::MissingMetricName);
        }
        Ok(labels)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|label| label.name.as_str().cmp(name))
            .ok()
            .map(|index| self.labels[index].value.as_str())
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.labels.iter()
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// A copy without the labels named in `names`.
    pub fn without(&self, names: &[&str]) -> Labels {
        Labels {
            labels: self
                .labels
                .iter()
                .filter(|label| !names.contains(&label.name.as_str()))
                .cloned()
                .collect(),
        }
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.labels
    }
}

impl fmt::Display for Labels {
    /// `name{a="1", b="2"}` like Prometheus prints series.
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            formatter.write_str(name)?;
        }
        formatter.write_str("{")?;
        let mut first = true;
        for label in self.labels.iter().filter(|label| label.name != METRIC_NAME) {
            if !first {
                formatter.write_str(", ")?;
            }
            first = false;
            write!(formatter, "{}={:?}", label.name, label.value)?;
        }
        formatter.write_str("}")
    }
}

/// Label names: `[a-zA-Z_][a-zA-Z0-9_]*`, Prometheus' classic rule.
pub fn check_label_name(name: &str) -> Result<(), LabelError> {
    let mut bytes = name.bytes();
    match bytes.next() {
        None => return Err(LabelError::EmptyName),
        Some(first) if !(first.is_ascii_alphabetic() || first == b'_') => {
            return Err(LabelError::InvalidName(name.to_string()));
        }
        Some(_) => {}
    }
    if bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_') {
        Ok(())
    } else {
        Err(LabelError::InvalidName(name.to_string()))
    }
}

/// Metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn check_metric_name(name: &str) -> Result<(), LabelError> {
    let mut bytes = name.bytes();
    let valid_first = bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == b'_' || first == b':');
    if valid_first && bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b':')
    {
        Ok(())
    } else {
        Err(LabelError::InvalidMetricName(name.to_string()))
    }
}

/// How a matcher compares a label's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// A label matcher as in `{job=~"api|web"}`. Regexes are fully anchored, and a
/// missing label matches as the empty string, both as in Prometheus.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<regex::Regex>,
}

#[derive(Clone, Debug, thiserror::Error)]
#[error("invalid regex {pattern:?} for label {name:?}: {message}")]
pub struct MatcherError {
    pub name: String,
    pub pattern: String,
    pub message: String,
}

impl Matcher {
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Matcher, MatcherError> {
        let (name, value) = (name.into(), value.into());
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                regex::Regex::new(&format!("^(?s:{value})$")).map_err(|error| MatcherError {
                    name: name.clone(),
                    pattern: value.clone(),
                    message: error.to_string(),
                })?,
            ),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    /// `name="value"`; cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// Whether a label value (empty when the label is absent) matches.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(regex)) => regex.is_match(value),
            (MatchOp::NotRegex, Some(regex)) => !regex.is_match(value),
            (MatchOp::Regex | MatchOp::NotRegex, None) => {
                unreachable!("BUG: regex matcher without a compiled regex")
            }
        }
    }

    /// Whether the empty string matches, i.e. whether series without the label match.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        write!(formatter, "{}{op}{:?}", self.name, self.value)
    }
}

/// Neumaier's compensated addition, as Prometheus' `kahanSumInc`: returns the new sum
/// and compensation. Shared by the query engine and the storage rollups, whose bucket
/// sums must equal what `sum_over_time` computes from the same samples.
pub fn kahan_add(increment: f64, sum: f64, compensation: f64) -> (f64, f64) {
    let total = sum + increment;
    let compensation = if total.is_infinite() {
        0.0
    } else if sum.abs() >= increment.abs() {
        compensation + ((sum - total) + increment)
    } else {
        compensation + ((increment - total) + sum)
    };
    (total, compensation)
}

/// The end of a compensated sum: `sum + compensation`, or the sum alone when infinite.
pub fn kahan_total(sum: f64, compensation: f64) -> f64 {
    if sum.is_infinite() {
        sum
    } else {
        sum + compensation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_and_checked() {
        let labels =
            Labels::new_series([("job", "a"), ("__name__", "up"), ("empty", "")]).expect("valid");
        let names: Vec<&str> = labels.iter().map(|label| label.name.as_str()).collect();
        assert_eq!(names, ["__name__", "job"]);
        assert_eq!(labels.to_string(), "up{job=\"a\"}");
        assert_eq!(
            Labels::new([("a", "1"), ("a", "2")]),
            Err(LabelError::Duplicate("a".into()))
        );
        assert_eq!(
            Labels::new([("1a", "x")]),
            Err(LabelError::InvalidName("1a".into()))
        );
        assert_eq!(
            Labels::new([("__name__", "a-b")]),
            Err(LabelError::InvalidMetricName("a-b".into()))
        );
        assert_eq!(
            Labels::new_series([("job", "a")]),
            Err(LabelError::MissingMetricName)
        );
        assert!(Labels::new([("__name__", "ns:metric_total")]).is_ok());
    }

    #[test]
    fn matchers_are_anchored_and_match_missing_as_empty() {
        let regex = Matcher::new("job", MatchOp::Regex, "api|web").expect("regex");
        assert!(regex.matches("api"));
        assert!(!regex.matches("xapi"));
        assert!(!regex.matches_empty());
        let not_regex = Matcher::new("job", MatchOp::NotRegex, "a.*").expect("regex");
        assert!(not_regex.matches_empty());
        assert!(!not_regex.matches("abc"));
        assert!(
            Matcher::new("job", MatchOp::NotEqual, "x")
                .expect("matcher")
                .matches_empty()
        );
        assert!(Matcher::new("job", MatchOp::Regex, "(").is_err());
        let dot_matches_newline = Matcher::new("a", MatchOp::Regex, ".*").expect("regex");
        assert!(dot_matches_newline.matches("x\ny"));
    }

    #[test]
    fn stale_marker_is_a_specific_nan() {
        assert!(is_stale_nan(stale_nan()));
        assert!(!is_stale_nan(f64::NAN));
        assert!(stale_nan().is_nan());
    }
}
