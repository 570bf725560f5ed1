//! Type checking of a parsed tree, as upstream's `checkAST` does it after a parse
//! without syntax errors.
//! Owns: operand and argument types, argument counts, vector-matching rules, the
//! non-empty-matcher rule for selectors, and normalising binary expressions the way
//! upstream does (set operators become many-to-many; matching is dropped when a scalar
//! is involved).
//! Does not: look at syntax (the parser has) or evaluate anything.
//!
//! The walk visits nodes in upstream's order so that, of several problems, the one
//! reported is the one Prometheus reports.

use super::ParseError;
use crate::model::METRIC_NAME;
use crate::promql::ast::{Cardinality, Expr, Function, Selector, Span, ValueType};
use crate::promql::format::go_quote;

/// Checks `expr`, fixing up binary expressions in place. `unary_plus` lists the
/// operands of `+expr` (which the tree leaves out) with where each `+` stood.
pub fn check(query: &str, expr: &mut Expr, unary_plus: &[(Span, usize)]) -> Result<(), ParseError> {
    let checker = Checker { query, unary_plus };
    checker.expr(expr).map(|_| ()).map_err(|error| *error)
}

struct Checker<'a> {
    query: &'a str,
    unary_plus: &'a [(Span, usize)],
}

/// Errors are boxed while checking, to keep the recursive frames small.
type CheckResult<T> = Result<T, Box<ParseError>>;

impl Checker<'_> {
    fn error(&self, span: Span, message: String) -> Box<ParseError> {
        Box::new(ParseError {
            span,
            message,
            query: self.query.to_string(),
        })
    }

    fn expr(&self, expr: &mut Expr) -> CheckResult<ValueType> {
        let value_type = self.node(expr)?;
        // Unary plus nodes wrap the operand in upstream's tree and are checked after
        // it, innermost first.
        let span = expr.span();
        for (operand, plus_start) in self.unary_plus {
            if *operand == span && !matches!(value_type, ValueType::Scalar | ValueType::Vector) {
                return Err(self.error(
                    Span::new(*plus_start, span.end as usize),
                    unary_type_message(value_type),
                ));
            }
        }
        Ok(value_type)
    }

    fn node(&self, expr: &mut Expr) -> CheckResult<ValueType> {
        let value_type = expr.value_type();
        match expr {
            Expr::Number { .. } | Expr::String { .. } => Ok(()),
            Expr::Selector(selector) => self.selector(selector, false),
            Expr::Matrix { selector, .. } => self.selector(selector, false),
            Expr::Paren { expr, .. } => self.expr(expr).map(|_| ()),
            Expr::Negate { .. } => self.negate(expr),
            Expr::Subquery { .. } => self.subquery(expr),
            Expr::Aggregate { .. } => self.aggregate(expr),
            Expr::Call { .. } => self.call(expr),
            Expr::Binary { .. } => self.binary(expr),
        }?;
        Ok(value_type)
    }

    fn negate(&self, expr: &mut Expr) -> CheckResult<()> {
        let Expr::Negate { expr, span } = expr else {
            return Ok(());
        };
        let operand = self.expr(expr)?;
        if !matches!(operand, ValueType::Scalar | ValueType::Vector) {
            return Err(self.error(*span, unary_type_message(operand)));
        }
        Ok(())
    }

    fn subquery(&self, expr: &mut Expr) -> CheckResult<()> {
        let Expr::Subquery { expr, span, .. } = expr else {
            return Ok(());
        };
        let inner = self.expr(expr)?;
        if inner != ValueType::Vector {
            return Err(self.error(
                *span,
                format!(
                    "subquery is only allowed on instant vector, got {} instead",
                    inner.api_name()
                ),
            ));
        }
        Ok(())
    }

    /// A selector needs a name or a matcher that rejects the empty string, so that a
    /// typo cannot select every series; `info`'s label selector is exempt.
    fn selector(&self, selector: &Selector, bypass_empty_check: bool) -> CheckResult<()> {
        if let Some(name) = &selector.name {
            // The name's own matcher is the last one.
            let others = &selector.matchers[..selector.matchers.len().saturating_sub(1)];
            if let Some(matcher) = others.iter().find(|m| m.name == METRIC_NAME) {
                return Err(self.error(
                    selector.span,
                    format!(
                        "metric name must not be set twice: {} or {}",
                        go_quote(name),
                        go_quote(&matcher.value)
                    ),
                ));
            }
            return Ok(());
        }
        if !bypass_empty_check && selector.matchers.iter().all(|m| m.matches_empty()) {
            return Err(self.error(
                selector.span,
                "vector selector must contain at least one non-empty matcher".into(),
            ));
        }
        Ok(())
    }

    fn aggregate(&self, expr: &mut Expr) -> CheckResult<()> {
        let Expr::Aggregate {
            op, expr, param, ..
        } = expr
        else {
            return Ok(());
        };
        self.expect_type(expr, ValueType::Vector, "aggregation expression")?;
        if let (Some(wanted), Some(param)) = (op.param_type(), param) {
            self.expect_type(param, wanted, "aggregation parameter")?;
        }
        Ok(())
    }

    fn expect_type(&self, expr: &mut Expr, wanted: ValueType, context: &str) -> CheckResult<()> {
        let got = self.expr(expr)?;
        if got != wanted {
            return Err(self.error(
                expr.span(),
                format!(
                    "expected type {} in {context}, got {}",
                    wanted.name(),
                    got.name()
                ),
            ));
        }
        Ok(())
    }

    fn call(&self, expr: &mut Expr) -> CheckResult<()> {
        let Expr::Call {
            function,
            args,
            span,
        } = expr
        else {
            return Ok(());
        };
        self.arity(function, args.len(), *span)?;
        let info_labels = function.name == "info" && args.len() > 1;
        if info_labels {
            self.info_labels(&args[1], *span)?;
        }
        for (index, arg) in args.iter_mut().enumerate() {
            let Some(wanted) = function.arg_type(index) else {
                break;
            };
            let got = self.argument(arg, info_labels && index == 1)?;
            if got != wanted {
                return Err(self.error(
                    arg.span(),
                    format!(
                        "expected type {} in call to function {}, got {}",
                        wanted.name(),
                        go_quote(function.name),
                        got.name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// An argument's type; `info`'s label selector skips the non-empty-matcher rule.
    fn argument(&self, arg: &mut Expr, info_labels: bool) -> CheckResult<ValueType> {
        match arg {
            Expr::Selector(selector) if info_labels => {
                self.selector(selector, true)?;
                Ok(ValueType::Vector)
            }
            arg => self.expr(arg),
        }
    }

    fn arity(&self, function: &Function, count: usize, span: Span) -> CheckResult<()> {
        let name = go_quote(function.name);
        let message = if function.variadic == 0 {
            if count == function.args.len() {
                return Ok(());
            }
            format!(
                "expected {} argument(s) in call to {name}, got {count}",
                function.args.len()
            )
        } else if count < function.args_min() {
            format!(
                "expected at least {} argument(s) in call to {name}, got {count}",
                function.args_min()
            )
        } else if let Some(max) = function.args_max().filter(|max| count > *max) {
            format!("expected at most {max} argument(s) in call to {name}, got {count}")
        } else {
            return Ok(());
        };
        Err(self.error(span, message))
    }

    /// `info`'s second argument must be a bare label selector (`{k8s_cluster_id=~".+"}`).
    fn info_labels(&self, labels: &Expr, call_span: Span) -> CheckResult<()> {
        let value_type = labels.value_type();
        if value_type != ValueType::Vector {
            return Err(self.error(
                call_span,
                format!(
                    "expected type instant vector in call to function \"info\", got {}",
                    value_type.name()
                ),
            ));
        }
        match labels {
            Expr::Selector(selector) if selector.name.is_some() => Err(self.error(
                labels.span(),
                "expected label selectors only, got vector selector instead".into(),
            )),
            Expr::Selector(_) => Ok(()),
            _ => Err(self.error(labels.span(), "expected label selectors only".into())),
        }
    }

    fn binary(&self, expr: &mut Expr) -> CheckResult<()> {
        let Expr::Binary { lhs, rhs, .. } = expr else {
            return Ok(());
        };
        let left = self.expr(lhs)?;
        let right = self.expr(rhs)?;
        self.binary_rules(expr, left, right)
    }

    /// Upstream's rules for a binary expression whose operands have been checked, in
    /// upstream's order.
    fn binary_rules(&self, expr: &mut Expr, left: ValueType, right: ValueType) -> CheckResult<()> {
        self.modifier_rules(expr, left, right)?;
        self.operand_rules(expr, left, right)
    }

    /// `bool`, and `on` against the group modifier's labels.
    fn modifier_rules(
        &self,
        expr: &mut Expr,
        left: ValueType,
        right: ValueType,
    ) -> CheckResult<()> {
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
            return Ok(());
        };
        let operator_span = || self.operator_span(lhs.span(), rhs.span());
        if *return_bool && !op.is_comparison() {
            return Err(self.error(
                operator_span(),
                "bool modifier can only be used on comparison operators".into(),
            ));
        }
        let scalars = left == ValueType::Scalar && right == ValueType::Scalar;
        if op.is_comparison() && !*return_bool && scalars {
            return Err(self.error(
                operator_span(),
                "comparisons between scalars must use BOOL modifier".into(),
            ));
        }
        if op.is_set() && *cardinality == Cardinality::OneToOne {
            *cardinality = Cardinality::ManyToMany;
        }
        let included = match &*cardinality {
            Cardinality::ManyToOne(labels) | Cardinality::OneToMany(labels) => labels.as_slice(),
            _ => &[],
        };
        let on_labels = matching
            .as_ref()
            .filter(|m| m.on)
            .map_or(&[][..], |m| &m.labels);
        if let Some(label) = on_labels.iter().find(|l| included.contains(l)) {
            return Err(self.error(
                operator_span(),
                format!(
                    "label {} must not occur in ON and GROUP clause at once",
                    go_quote(label)
                ),
            ));
        }
        Ok(())
    }

    /// Operand types, and what vector matching they allow.
    fn operand_rules(&self, expr: &mut Expr, left: ValueType, right: ValueType) -> CheckResult<()> {
        let Expr::Binary {
            op,
            lhs,
            rhs,
            matching,
            cardinality,
            span,
            ..
        } = expr
        else {
            return Ok(());
        };
        for (side, value_type) in [(&*lhs, left), (&*rhs, right)] {
            if !matches!(value_type, ValueType::Scalar | ValueType::Vector) {
                return Err(self.error(
                    side.span(),
                    "binary expression must contain only scalar and instant vector types".into(),
                ));
            }
        }
        let op_name = || go_quote(op.as_str());
        if left != ValueType::Vector || right != ValueType::Vector {
            if matching.as_ref().is_some_and(|m| !m.labels.is_empty()) {
                return Err(self.error(
                    *span,
                    "vector matching only allowed between instant vectors".into(),
                ));
            }
            // Upstream drops the matching altogether; nothing is matched against a scalar.
            *matching = None;
            *cardinality = Cardinality::OneToOne;
        } else if op.is_set() {
            if matches!(
                cardinality,
                Cardinality::ManyToOne(_) | Cardinality::OneToMany(_)
            ) {
                let message = format!("no grouping allowed for {} operation", op_name());
                return Err(self.error(*span, message));
            }
            debug_assert_eq!(*cardinality, Cardinality::ManyToMany);
        }
        if (left == ValueType::Scalar || right == ValueType::Scalar) && op.is_set() {
            let message = format!(
                "set operator {} not allowed in binary scalar expression",
                op_name()
            );
            return Err(self.error(*span, message));
        }
        Ok(())
    }

    /// Where the operator and its modifiers stand: between the operands, without the
    /// spaces around them.
    fn operator_span(&self, lhs: Span, rhs: Span) -> Span {
        let bytes = self.query.as_bytes();
        let is_space = |index: usize| bytes.get(index).is_some_and(|b| b" \t\n\r".contains(b));
        let mut start = lhs.end as usize;
        while is_space(start) {
            start += 1;
        }
        let mut end = rhs.start as usize;
        while end > start && is_space(end - 1) {
            end -= 1;
        }
        Span::new(start, end)
    }
}

fn unary_type_message(value_type: ValueType) -> String {
    format!(
        "unary expression only allowed on expressions of type scalar or instant vector, got {}",
        go_quote(value_type.name())
    )
}
