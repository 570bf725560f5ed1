//! The PromQL syntax tree: what `parse` produces and `eval` walks.
//! Owns: node shapes, value types, operator and function tables, and the source span
//! of every node (annotations and errors name `line:col` like Prometheus).
//! Does not: parse (`parse.rs`) or evaluate (`eval.rs`).
//!
//! Our own tree rather than promql-parser's: that crate's nodes carry no positions and
//! its errors none either ("invalid promql query"), while our errors and annotations
//! must name where in the query the problem is (see docs/adr/0002).

use crate::model::Matcher;
use std::fmt;

/// Byte offsets `[start, end)` into the query text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// `line:col` of the start, both 1-based, columns counted in bytes, as
    /// Prometheus prints positions.
    pub fn position(self, query: &str) -> (usize, usize) {
        let start = (self.start as usize).min(query.len());
        let before = &query.as_bytes()[..start];
        let line = before.iter().filter(|byte| **byte == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|byte| *byte == b'\n')
            .map_or(0, |index| index + 1);
        (line, start - line_start + 1)
    }
}

/// The type of a PromQL value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    Scalar,
    Vector,
    Matrix,
    String,
}

impl ValueType {
    /// As Prometheus names it in errors: `scalar`, `instant vector`, `range vector`, `string`.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }

    /// As the HTTP API names it in `resultType`.
    pub fn api_name(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "vector",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }
}

/// `@` modifier.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum At {
    /// `@ start()`: the query's start time.
    Start,
    /// `@ end()`: the query's end time.
    End,
    /// `@ <unix seconds>`, here in milliseconds.
    Time(i64),
}

/// A vector selector: `name{matchers} offset d @ t`.
#[derive(Clone, Debug)]
pub struct Selector {
    /// The metric name when written before the braces (also present as an `=` matcher
    /// on `__name__` in `matchers`).
    pub name: Option<String>,
    /// Every matcher, the name's included.
    pub matchers: Vec<Matcher>,
    /// `offset`, in milliseconds; negative for `offset -5m`.
    pub offset: i64,
    pub at: Option<At>,
    pub span: Span,
}

/// `on(...)`/`ignoring(...)` of a binary operation between vectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matching {
    /// `on` (true) or `ignoring` (false).
    pub on: bool,
    pub labels: Vec<String>,
}

/// The cardinality of a vector match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cardinality {
    OneToOne,
    /// `group_left(labels)`.
    ManyToOne(Vec<String>),
    /// `group_right(labels)`.
    OneToMany(Vec<String>),
    /// Set operators (`and`, `or`, `unless`).
    ManyToMany,
}

/// `by (...)` or `without (...)` of an aggregation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl BinaryOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Gt | BinaryOp::Lt | BinaryOp::Ge | BinaryOp::Le
        )
    }

    pub fn is_set(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }

    /// Binding strength, higher binds tighter (Prometheus' precedence table).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Gt
            | BinaryOp::Lt
            | BinaryOp::Ge
            | BinaryOp::Le => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// `^` is the only right-associative operator.
    pub fn right_associative(self) -> bool {
        self == BinaryOp::Pow
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Gt => ">",
            BinaryOp::Lt => "<",
            BinaryOp::Ge => ">=",
            BinaryOp::Le => "<=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateOp {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    CountValues,
    Quantile,
    Limitk,
    LimitRatio,
}

impl AggregateOp {
    pub fn from_name(name: &str) -> Option<AggregateOp> {
        Some(match name {
            "sum" => AggregateOp::Sum,
            "avg" => AggregateOp::Avg,
            "count" => AggregateOp::Count,
            "min" => AggregateOp::Min,
            "max" => AggregateOp::Max,
            "group" => AggregateOp::Group,
            "stddev" => AggregateOp::Stddev,
            "stdvar" => AggregateOp::Stdvar,
            "topk" => AggregateOp::Topk,
            "bottomk" => AggregateOp::Bottomk,
            "count_values" => AggregateOp::CountValues,
            "quantile" => AggregateOp::Quantile,
            "limitk" => AggregateOp::Limitk,
            "limit_ratio" => AggregateOp::LimitRatio,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Count => "count",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Quantile => "quantile",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// The type of the parameter, for those that take one.
    pub fn param_type(self) -> Option<ValueType> {
        match self {
            AggregateOp::Topk
            | AggregateOp::Bottomk
            | AggregateOp::Quantile
            | AggregateOp::Limitk
            | AggregateOp::LimitRatio => Some(ValueType::Scalar),
            AggregateOp::CountValues => Some(ValueType::String),
            _ => None,
        }
    }

    /// Experimental upstream (behind a feature flag in Prometheus).
    pub fn experimental(self) -> bool {
        matches!(self, AggregateOp::Limitk | AggregateOp::LimitRatio)
    }
}

/// A function's signature, as upstream's table: with `variadic` non-zero the last of
/// `args` is optional (n > 0: up to n of it; -1: any number). Use `args_min`,
/// `args_max` and `arg_type` (in `signatures.rs`) rather than reading these directly.
#[derive(Debug, PartialEq)]
pub struct Function {
    pub name: &'static str,
    pub args: &'static [ValueType],
    pub variadic: i8,
    pub returns: ValueType,
    /// Experimental upstream (behind `--enable-feature=promql-experimental-functions`).
    pub experimental: bool,
}

/// A parsed PromQL expression. Every node carries its span.
#[derive(Clone, Debug)]
pub enum Expr {
    Number {
        value: f64,
        span: Span,
    },
    String {
        value: String,
        span: Span,
    },
    /// An instant vector selector.
    Selector(Box<Selector>),
    /// A range vector selector `selector[range]`; range in milliseconds. The
    /// selector's offset and `@` are written after the brackets.
    Matrix {
        selector: Box<Selector>,
        range: i64,
        span: Span,
    },
    /// `expr[range:step] offset d @ t`; durations in milliseconds; `step: None` means
    /// the default (the query's step for range queries, 1m in tests).
    Subquery {
        expr: Box<Expr>,
        range: i64,
        step: Option<i64>,
        offset: i64,
        at: Option<At>,
        span: Span,
    },
    Paren {
        expr: Box<Expr>,
        span: Span,
    },
    /// `-expr` (`+expr` parses to `expr` itself).
    Negate {
        expr: Box<Expr>,
        span: Span,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        /// `bool` after a comparison.
        return_bool: bool,
        /// `on`/`ignoring`; `None` when neither is written.
        matching: Option<Matching>,
        cardinality: Cardinality,
        span: Span,
    },
    Aggregate {
        op: AggregateOp,
        expr: Box<Expr>,
        param: Option<Box<Expr>>,
        grouping: Option<Grouping>,
        span: Span,
    },
    Call {
        function: &'static Function,
        args: Vec<Expr>,
        span: Span,
    },
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Number { span, .. }
            | Expr::String { span, .. }
            | Expr::Matrix { span, .. }
            | Expr::Subquery { span, .. }
            | Expr::Paren { span, .. }
            | Expr::Negate { span, .. }
            | Expr::Binary { span, .. }
            | Expr::Aggregate { span, .. }
            | Expr::Call { span, .. } => *span,
            Expr::Selector(selector) => selector.span,
        }
    }

    /// The type this expression evaluates to.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number { .. } => ValueType::Scalar,
            Expr::String { .. } => ValueType::String,
            Expr::Selector(_) => ValueType::Vector,
            Expr::Matrix { .. } | Expr::Subquery { .. } => ValueType::Matrix,
            Expr::Paren { expr, .. } | Expr::Negate { expr, .. } => expr.value_type(),
            Expr::Binary { lhs, rhs, .. } => {
                if lhs.value_type() == ValueType::Scalar && rhs.value_type() == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Aggregate { .. } => ValueType::Vector,
            Expr::Call { function, .. } => function.returns,
        }
    }

    /// Every selector in the expression (instant and range), in order.
    pub fn selectors(&self) -> Vec<&Selector> {
        let mut found = Vec::new();
        let mut stack = vec![self];
        while let Some(expr) = stack.pop() {
            match expr {
                Expr::Number { .. } | Expr::String { .. } => {}
                Expr::Selector(selector) | Expr::Matrix { selector, .. } => found.push(&**selector),
                Expr::Subquery { expr, .. }
                | Expr::Paren { expr, .. }
                | Expr::Negate { expr, .. } => stack.push(expr),
                Expr::Binary { lhs, rhs, .. } => {
                    stack.push(rhs);
                    stack.push(lhs);
                }
                Expr::Aggregate { expr, param, .. } => {
                    stack.push(expr);
                    if let Some(param) = param {
                        stack.push(param);
                    }
                }
                Expr::Call { args, .. } => stack.extend(args.iter().rev()),
            }
        }
        found
    }

    /// The expression without enclosing parentheses.
    pub fn unparen(&self) -> &Expr {
        match self {
            Expr::Paren { expr, .. } => expr.unparen(),
            other => other,
        }
    }
}

impl fmt::Display for At {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            At::Start => formatter.write_str("@ start()"),
            At::End => formatter.write_str("@ end()"),
            At::Time(ms) => write!(formatter, "@ {}", format_seconds(*ms)),
        }
    }
}

/// Milliseconds as Prometheus prints an `@` time: seconds with three decimals.
fn format_seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    format!("{sign}{}.{:03}", ms / 1000, ms % 1000)
}
