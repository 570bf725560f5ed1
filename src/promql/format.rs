//! Printing a syntax tree back as PromQL, in Prometheus' canonical form (the `String()`
//! of its nodes, which `/api/v1/format_query` returns when not prettifying).
//! Owns: `Display for Expr`, Go-style quoting (`strconv.Quote`) and Prometheus'
//! duration and number spelling.
//! Does not: parse (`parse`), or pretty-print over several lines.
//!
//! Printing then parsing gives the same tree, and printing that gives the same text.
//! Two spellings are not kept, as the tree does not record them: a duration used as a
//! number (`time() - 1h` prints `time() - 3600`) and a unary plus (`+x` prints `x`).

use super::ast::{Cardinality, Expr, Grouping, Matching, Selector};
use crate::model::{MatchOp, Matcher};
use std::fmt::{self, Write};

impl fmt::Display for Expr {
    /// Each kind of node prints in its own function, to keep this recursive frame
    /// small (deep trees print through one frame per level).
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Expr::Number { value, .. } => formatter.write_str(&format_number(*value)),
            Expr::String { value, .. } => formatter.write_str(&go_quote(value)),
            Expr::Selector(selector) => write_selector(formatter, selector, None),
            Expr::Matrix {
                selector, range, ..
            } => write_selector(formatter, selector, Some(*range)),
            Expr::Subquery { .. } => write_subquery(formatter, self),
            Expr::Paren { expr, .. } => write_wrapped(formatter, "(", expr, ")"),
            Expr::Negate { expr, .. } => write_wrapped(formatter, "-", expr, ""),
            Expr::Binary { .. } => write_binary(formatter, self),
            Expr::Aggregate { .. } => write_aggregate(formatter, self),
            Expr::Call { function, args, .. } => write_call(formatter, function.name, args),
        }
    }
}

fn write_wrapped(
    formatter: &mut fmt::Formatter,
    before: &str,
    expr: &Expr,
    after: &str,
) -> fmt::Result {
    formatter.write_str(before)?;
    fmt::Display::fmt(expr, formatter)?;
    formatter.write_str(after)
}

/// A selector, with `[range]` for a range selector, then `@` and `offset`.
fn write_selector(
    formatter: &mut fmt::Formatter,
    selector: &Selector,
    range_ms: Option<i64>,
) -> fmt::Result {
    write_selector_core(formatter, selector)?;
    if let Some(range_ms) = range_ms {
        write!(formatter, "[{}]", format_duration(range_ms))?;
    }
    write_modifiers(formatter, selector.at, selector.offset)
}

fn write_subquery(formatter: &mut fmt::Formatter, subquery: &Expr) -> fmt::Result {
    let Expr::Subquery {
        expr,
        range,
        step,
        offset,
        at,
        ..
    } = subquery
    else {
        return Ok(());
    };
    fmt::Display::fmt(expr, formatter)?;
    let step = step.map(format_duration).unwrap_or_default();
    write!(formatter, "[{}:{step}]", format_duration(*range))?;
    write_modifiers(formatter, *at, *offset)
}

fn write_binary(formatter: &mut fmt::Formatter, binary: &Expr) -> fmt::Result {
    let Expr::Binary {
        op,
        lhs,
        rhs,
        return_bool,
        matching,
        cardinality,
        ..
    } = binary
    else {
        return Ok(());
    };
    fmt::Display::fmt(lhs, formatter)?;
    formatter.write_char(' ')?;
    formatter.write_str(op.as_str())?;
    if *return_bool {
        formatter.write_str(" bool")?;
    }
    write_matching(formatter, matching.as_ref(), cardinality)?;
    formatter.write_char(' ')?;
    fmt::Display::fmt(rhs, formatter)
}

fn write_aggregate(formatter: &mut fmt::Formatter, aggregate: &Expr) -> fmt::Result {
    let Expr::Aggregate {
        op,
        expr,
        param,
        grouping,
        ..
    } = aggregate
    else {
        return Ok(());
    };
    formatter.write_str(op.as_str())?;
    write_grouping(formatter, grouping.as_ref())?;
    formatter.write_char('(')?;
    if let Some(param) = param {
        fmt::Display::fmt(param, formatter)?;
        formatter.write_str(", ")?;
    }
    fmt::Display::fmt(expr, formatter)?;
    formatter.write_char(')')
}

fn write_call(formatter: &mut fmt::Formatter, name: &str, args: &[Expr]) -> fmt::Result {
    formatter.write_str(name)?;
    formatter.write_char('(')?;
    for (index, arg) in args.iter().enumerate() {
        if index > 0 {
            formatter.write_str(", ")?;
        }
        fmt::Display::fmt(arg, formatter)?;
    }
    formatter.write_char(')')
}

/// `name{matchers}` without `offset` or `@`: matchers sorted as text, the `__name__`
/// matcher left out when the name is written before the braces.
fn write_selector_core(formatter: &mut fmt::Formatter, selector: &Selector) -> fmt::Result {
    let name = selector.name.as_deref().unwrap_or("");
    let mut matchers: Vec<String> = selector
        .matchers
        .iter()
        .filter(|matcher| {
            !(matcher.name == crate::model::METRIC_NAME
                && matcher.op == MatchOp::Equal
                && matcher.value == name
                && !name.is_empty())
        })
        .map(format_matcher)
        .collect();
    formatter.write_str(name)?;
    if !matchers.is_empty() {
        matchers.sort();
        write!(formatter, "{{{}}}", matchers.join(","))?;
    }
    Ok(())
}

/// ` @ t` then ` offset d`, in that order, each only when set.
fn write_modifiers(
    formatter: &mut fmt::Formatter,
    at: Option<super::ast::At>,
    offset_ms: i64,
) -> fmt::Result {
    if let Some(at) = at {
        write!(formatter, " {at}")?;
    }
    if offset_ms != 0 {
        write!(formatter, " offset {}", format_duration(offset_ms))?;
    }
    Ok(())
}

/// ` on (..)`/` ignoring (..)` and ` group_left (..)`/` group_right (..)`. An empty
/// `ignoring ()` is left out unless a group modifier needs it.
fn write_matching(
    formatter: &mut fmt::Formatter,
    matching: Option<&Matching>,
    cardinality: &Cardinality,
) -> fmt::Result {
    let include = match cardinality {
        Cardinality::ManyToOne(labels) => Some(("left", labels)),
        Cardinality::OneToMany(labels) => Some(("right", labels)),
        Cardinality::OneToOne | Cardinality::ManyToMany => None,
    };
    let (on, labels) = matching.map_or((false, &[][..]), |m| (m.on, m.labels.as_slice()));
    if on || !labels.is_empty() || include.is_some() {
        let keyword = if on { "on" } else { "ignoring" };
        write!(formatter, " {keyword} ({})", format_label_list(labels))?;
    }
    if let Some((side, labels)) = include {
        write!(formatter, " group_{side} ({})", format_label_list(labels))?;
    }
    Ok(())
}

/// ` by (..) ` or ` without (..) `; nothing for no grouping or an empty `by ()`.
fn write_grouping(formatter: &mut fmt::Formatter, grouping: Option<&Grouping>) -> fmt::Result {
    match grouping {
        Some(grouping) if grouping.without => {
            write!(
                formatter,
                " without ({}) ",
                format_label_list(&grouping.labels)
            )
        }
        Some(grouping) if !grouping.labels.is_empty() => {
            write!(formatter, " by ({}) ", format_label_list(&grouping.labels))
        }
        _ => Ok(()),
    }
}

/// Label names joined by `, `, quoted unless they are classic names.
fn format_label_list(labels: &[String]) -> String {
    let names: Vec<String> = labels.iter().map(|name| format_label_name(name)).collect();
    names.join(", ")
}

/// A label name bare when it is a classic one (`[a-zA-Z_][a-zA-Z0-9_]*`), else quoted.
fn format_label_name(name: &str) -> String {
    if crate::model::check_label_name(name).is_ok() {
        name.to_string()
    } else {
        go_quote(name)
    }
}

/// `name="value"` with Prometheus' quoting (not `Matcher`'s own Display, which uses
/// Rust's escapes).
fn format_matcher(matcher: &Matcher) -> String {
    let op = match matcher.op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Regex => "=~",
        MatchOp::NotRegex => "!~",
    };
    format!(
        "{}{op}{}",
        format_label_name(&matcher.name),
        go_quote(&matcher.value)
    )
}

/// A float as Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest digits that
/// read back the same, never an exponent; `+Inf`, `-Inf`, `NaN`.
pub fn format_number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        // Rust's Display is also shortest-round-trip without an exponent.
        value.to_string()
    }
}

/// Milliseconds as Prometheus prints a duration (`model.Duration.String`): `1h30m`,
/// `500ms`, `0s`; years and weeks only when they divide exactly; `-` for negatives.
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut rest = ms.unsigned_abs();
    let mut text = String::new();
    if ms < 0 {
        text.push('-');
    }
    const UNITS: [(&str, u64, bool); 7] = [
        ("y", 365 * 24 * 3_600_000, true),
        ("w", 7 * 24 * 3_600_000, true),
        ("d", 24 * 3_600_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1_000, false),
        ("ms", 1, false),
    ];
    for (unit, unit_ms, exact) in UNITS {
        if exact && !rest.is_multiple_of(unit_ms) {
            continue;
        }
        let count = rest / unit_ms;
        if count > 0 {
            let _ = write!(text, "{count}{unit}");
            rest -= count * unit_ms;
        }
    }
    text
}

/// A string as Go's `strconv.Quote`: double quotes, `\"` and `\\`, printable
/// characters as they are, the rest as `\n`-style, `\xNN`, `\uNNNN` or `\UNNNNNNNN`.
pub fn go_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        push_go_escaped(&mut quoted, character, '"');
    }
    quoted.push('"');
    quoted
}

/// A character as Go's `strconv.QuoteRune` (what `%q` prints for a rune): `'x'`,
/// `'\n'`, `'\''`.
pub fn go_quote_rune(character: char) -> String {
    let mut quoted = String::from("'");
    push_go_escaped(&mut quoted, character, '\'');
    quoted.push('\'');
    quoted
}

fn push_go_escaped(out: &mut String, character: char, quote: char) {
    if character == quote || character == '\\' {
        out.push('\\');
        out.push(character);
        return;
    }
    if is_go_printable(character) {
        out.push(character);
        return;
    }
    let _ = match character {
        '\u{7}' => out.write_str("\\a"),
        '\u{8}' => out.write_str("\\b"),
        '\u{c}' => out.write_str("\\f"),
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        '\u{b}' => out.write_str("\\v"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => write!(out, "\\x{:02x}", c as u32),
        c if (c as u32) < 0x10000 => write!(out, "\\u{:04x}", c as u32),
        c => write!(out, "\\U{:08x}", c as u32),
    };
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII
/// space. Rust's `escape_debug` leaves exactly those alone (it escapes the categories
/// Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs but for the space), except that it also escapes a
/// combining mark at the start of a string, hence the `a` put before the character.
pub fn is_go_printable(character: char) -> bool {
    if matches!(character, '\\' | '\'' | '"') {
        return true;
    }
    let mut buffer = [0u8; 8];
    buffer[0] = b'a';
    let encoded_len = character.encode_utf8(&mut buffer[1..]).len();
    let text = std::str::from_utf8(&buffer[..=encoded_len]).unwrap_or("");
    text.escape_debug().eq(text.chars())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_go_prints_them() {
        let check = |value: f64, expect: &str| assert_eq!(format_number(value), expect);
        check(1.0, "1");
        check(-0.5, "-0.5");
        check(1e21, "1000000000000000000000");
        check(1e-7, "0.0000001");
        check(0.1 + 0.2, "0.30000000000000004");
        check(f64::INFINITY, "+Inf");
        check(f64::NEG_INFINITY, "-Inf");
        check(f64::NAN, "NaN");
        check(-0.0, "-0");
    }

    #[test]
    fn durations_as_prometheus_prints_them() {
        let check = |ms: i64, expect: &str| assert_eq!(format_duration(ms), expect);
        check(0, "0s");
        check(500, "500ms");
        check(90 * 60_000, "1h30m");
        check(7 * 86_400_000, "1w");
        check(8 * 86_400_000, "8d");
        check(365 * 86_400_000, "1y");
        check(366 * 86_400_000, "366d");
        check(-300_000, "-5m");
        check(1_001, "1s1ms");
    }

    #[test]
    fn quoting_as_go_does() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("tab\there\n"), r#""tab\there\n""#);
        assert_eq!(go_quote("\u{0}\u{7f}"), r#""\x00\x7f""#);
        assert_eq!(go_quote("üñï 🙂"), "\"üñï 🙂\"");
        assert_eq!(go_quote("\u{a0}\u{200b}"), r#""\u00a0\u200b""#);
        assert_eq!(go_quote("e\u{301}"), "\"e\u{301}\"");
        assert_eq!(go_quote("'"), r#""'""#);
        assert_eq!(go_quote_rune('\''), r"'\''");
        assert_eq!(go_quote_rune('"'), r#"'"'"#);
        assert_eq!(go_quote_rune('\n'), r"'\n'");
        assert_eq!(go_quote_rune('\u{e0001}'), r"'\U000e0001'");
    }
}
