//! The PromQL function table: every function Prometheus 3 knows, with its argument
//! types, how many arguments it takes and what it returns.
//! Owns: `FUNCTIONS`, the lookup by name, and the argument-count rules.
//! Does not: evaluate functions (the evaluator does) or hold aggregations (`sum`,
//! `topk`, `limitk`, ...), which are operators with their own syntax (`ast::AggregateOp`).
//!
//! The table follows Prometheus' `promql/parser/functions.go` (at the commit in
//! shared/conformance/promql/SOURCE.md) entry for entry, `variadic` included, so the
//! parser's argument errors read exactly as upstream's.

use super::ast::{Function, ValueType};

use ValueType::{Matrix, Scalar, String as Str, Vector};

/// Every function, sorted by name (`function` searches it by bisection; a test keeps it
/// sorted).
pub static FUNCTIONS: &[Function] = &[
    stable("abs", &[Vector], 0, Vector),
    stable("absent", &[Vector], 0, Vector),
    stable("absent_over_time", &[Matrix], 0, Vector),
    stable("acos", &[Vector], 0, Vector),
    stable("acosh", &[Vector], 0, Vector),
    stable("asin", &[Vector], 0, Vector),
    stable("asinh", &[Vector], 0, Vector),
    stable("atan", &[Vector], 0, Vector),
    stable("atanh", &[Vector], 0, Vector),
    stable("avg_over_time", &[Matrix], 0, Vector),
    stable("ceil", &[Vector], 0, Vector),
    stable("changes", &[Matrix], 0, Vector),
    stable("clamp", &[Vector, Scalar, Scalar], 0, Vector),
    stable("clamp_max", &[Vector, Scalar], 0, Vector),
    stable("clamp_min", &[Vector, Scalar], 0, Vector),
    stable("cos", &[Vector], 0, Vector),
    stable("cosh", &[Vector], 0, Vector),
    stable("count_over_time", &[Matrix], 0, Vector),
    stable("day_of_month", &[Vector], 1, Vector),
    stable("day_of_week", &[Vector], 1, Vector),
    stable("day_of_year", &[Vector], 1, Vector),
    stable("days_in_month", &[Vector], 1, Vector),
    stable("deg", &[Vector], 0, Vector),
    stable("delta", &[Matrix], 0, Vector),
    stable("deriv", &[Matrix], 0, Vector),
    experimental(
        "double_exponential_smoothing",
        &[Matrix, Scalar, Scalar],
        0,
        Vector,
    ),
    experimental("end", &[], 0, Scalar),
    stable("exp", &[Vector], 0, Vector),
    stable("first_over_time", &[Matrix], 0, Vector),
    stable("floor", &[Vector], 0, Vector),
    stable("histogram_avg", &[Vector], 0, Vector),
    stable("histogram_count", &[Vector], 0, Vector),
    stable("histogram_fraction", &[Scalar, Scalar, Vector], 0, Vector),
    stable("histogram_quantile", &[Scalar, Vector], 0, Vector),
    experimental(
        "histogram_quantiles",
        &[Vector, Str, Scalar, Scalar],
        9,
        Vector,
    ),
    stable("histogram_stddev", &[Vector], 0, Vector),
    stable("histogram_stdvar", &[Vector], 0, Vector),
    stable("histogram_sum", &[Vector], 0, Vector),
    stable("hour", &[Vector], 1, Vector),
    stable("idelta", &[Matrix], 0, Vector),
    stable("increase", &[Matrix], 0, Vector),
    experimental("info", &[Vector, Vector], 1, Vector),
    stable("irate", &[Matrix], 0, Vector),
    stable("label_join", &[Vector, Str, Str, Str], -1, Vector),
    stable("label_replace", &[Vector, Str, Str, Str, Str], 0, Vector),
    stable("last_over_time", &[Matrix], 0, Vector),
    stable("ln", &[Vector], 0, Vector),
    stable("log10", &[Vector], 0, Vector),
    stable("log2", &[Vector], 0, Vector),
    experimental("mad_over_time", &[Matrix], 0, Vector),
    experimental("max_of", &[Scalar, Scalar], 0, Scalar),
    stable("max_over_time", &[Matrix], 0, Vector),
    experimental("min_of", &[Scalar, Scalar], 0, Scalar),
    stable("min_over_time", &[Matrix], 0, Vector),
    stable("minute", &[Vector], 1, Vector),
    stable("month", &[Vector], 1, Vector),
    stable("pi", &[], 0, Scalar),
    stable("predict_linear", &[Matrix, Scalar], 0, Vector),
    stable("present_over_time", &[Matrix], 0, Vector),
    stable("quantile_over_time", &[Scalar, Matrix], 0, Vector),
    stable("rad", &[Vector], 0, Vector),
    experimental("range", &[], 0, Scalar),
    stable("rate", &[Matrix], 0, Vector),
    stable("resets", &[Matrix], 0, Vector),
    stable("round", &[Vector, Scalar], 1, Vector),
    stable("scalar", &[Vector], 0, Scalar),
    stable("sgn", &[Vector], 0, Vector),
    stable("sin", &[Vector], 0, Vector),
    stable("sinh", &[Vector], 0, Vector),
    stable("sort", &[Vector], 0, Vector),
    experimental("sort_by_label", &[Vector, Str], -1, Vector),
    experimental("sort_by_label_desc", &[Vector, Str], -1, Vector),
    stable("sort_desc", &[Vector], 0, Vector),
    stable("sqrt", &[Vector], 0, Vector),
    experimental("start", &[], 0, Scalar),
    experimental("start_timestamp", &[Vector], 0, Vector),
    stable("stddev_over_time", &[Matrix], 0, Vector),
    stable("stdvar_over_time", &[Matrix], 0, Vector),
    experimental("step", &[], 0, Scalar),
    stable("sum_over_time", &[Matrix], 0, Vector),
    stable("tan", &[Vector], 0, Vector),
    stable("tanh", &[Vector], 0, Vector),
    stable("time", &[], 0, Scalar),
    stable("timestamp", &[Vector], 0, Vector),
    experimental("ts_of_first_over_time", &[Matrix], 0, Vector),
    experimental("ts_of_last_over_time", &[Matrix], 0, Vector),
    experimental("ts_of_max_over_time", &[Matrix], 0, Vector),
    experimental("ts_of_min_over_time", &[Matrix], 0, Vector),
    stable("vector", &[Scalar], 0, Vector),
    stable("year", &[Vector], 1, Vector),
];

/// The function called `name` (case-sensitive, as in Prometheus).
pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS
        .binary_search_by(|function| function.name.cmp(name))
        .ok()
        .and_then(|index| FUNCTIONS.get(index))
}

impl Function {
    /// The fewest arguments a call may pass. For a variadic function the last declared
    /// argument is optional, as upstream has it: `round(v)` and `label_join(v, dst, sep)`
    /// are valid.
    pub fn args_min(&self) -> usize {
        if self.variadic == 0 {
            self.args.len()
        } else {
            self.args.len().saturating_sub(1)
        }
    }

    /// The most arguments a call may pass; `None` when unbounded (`variadic` = -1).
    pub fn args_max(&self) -> Option<usize> {
        match self.variadic {
            0 => Some(self.args.len()),
            more if more > 0 => Some(self.args_min() + more as usize),
            _ => None,
        }
    }

    /// The type the argument at `index` must have; extra arguments of a variadic
    /// function take the last declared type. `None` past the end of a fixed list.
    pub fn arg_type(&self, index: usize) -> Option<ValueType> {
        match self.args.get(index) {
            Some(value_type) => Some(*value_type),
            None if self.variadic != 0 => self.args.last().copied(),
            None => None,
        }
    }
}

const fn stable(
    name: &'static str,
    args: &'static [ValueType],
    variadic: i8,
    returns: ValueType,
) -> Function {
    Function {
        name,
        args,
        variadic,
        returns,
        experimental: false,
    }
}

/// Behind `--enable-feature=promql-experimental-functions` upstream.
const fn experimental(
    name: &'static str,
    args: &'static [ValueType],
    variadic: i8,
    returns: ValueType,
) -> Function {
    Function {
        name,
        args,
        variadic,
        returns,
        experimental: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in FUNCTIONS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} >= {}",
                pair[0].name,
                pair[1].name
            );
        }
        assert_eq!(FUNCTIONS.len(), 90);
    }

    #[test]
    fn lookup() {
        assert_eq!(function("rate").map(|f| f.args), Some(&[Matrix][..]));
        assert!(function("sum").is_none(), "aggregations are not functions");
        assert!(function("Rate").is_none());
        assert!(function("info").is_some_and(|f| f.experimental));
        assert!(function("abs").is_some_and(|f| !f.experimental));
    }

    #[test]
    fn argument_counts() {
        let check = |name: &str, min: usize, max: Option<usize>| {
            let function = function(name).expect("known function");
            assert_eq!(
                (function.args_min(), function.args_max()),
                (min, max),
                "{name}"
            );
        };
        check("abs", 1, Some(1));
        check("time", 0, Some(0));
        check("hour", 0, Some(1));
        check("round", 1, Some(2));
        check("label_join", 3, None);
        check("sort_by_label", 1, None);
        check("histogram_quantiles", 3, Some(12));
        check("info", 1, Some(2));
        let label_join = function("label_join").expect("known function");
        assert_eq!(label_join.arg_type(7), Some(Str));
        assert_eq!(function("abs").and_then(|f| f.arg_type(1)), None);
    }
}
