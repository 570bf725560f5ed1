//! Numbers of the exposition formats: sample values, and timestamps in both units.
//! Owns: the accepted number syntax (Go's `strconv.ParseFloat`, minus what Prometheus
//! rejects) and the conversion of OpenMetrics seconds to milliseconds.
//! Does not: know about lines, columns or messages; callers word the errors.

/// Why a number did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NumberError {
    /// Not a number in the accepted syntax.
    Syntax,
    /// Well-formed, but outside the range of the target type (a float that rounds to
    /// infinity, a timestamp beyond `i64` milliseconds).
    Range,
    /// NaN or infinity where only finite numbers make sense (timestamps).
    NotFinite,
}

/// Integers of up to 15 digits are below 2^53, so they convert to `f64` exactly.
/// Most sample values are such integers (counters, bucket counts, byte sizes), and
/// this path skips the general float parser for them.
const EXACT_DIGITS_MAX: usize = 15;

/// Parses a sample value the way Prometheus does: Go's `strconv.ParseFloat` syntax
/// (`1`, `-1.5`, `.5`, `5.`, `1e-3`, `+Inf`, `inf`, `Infinity`, `NaN`, any case), but
/// without Go's hexadecimal floats and `_` digit separators, which Prometheus rejects.
/// A finite number that rounds to infinity is a `Range` error, as in Go.
pub(super) fn parse_float(text: &str) -> Result<f64, NumberError> {
    let bytes = text.as_bytes();
    if !bytes.is_empty() && bytes.len() <= EXACT_DIGITS_MAX && bytes.iter().all(u8::is_ascii_digit)
    {
        let integer = bytes
            .iter()
            .fold(0u64, |sum, digit| sum * 10 + u64::from(digit - b'0'));
        return Ok(integer as f64);
    }
    if let Some(special) = parse_special(text) {
        return Ok(special);
    }
    if !is_decimal_float(bytes) {
        return Err(NumberError::Syntax);
    }
    // The syntax is checked above, so Rust's parser (correctly rounded, like Go's)
    // sees only inputs on which the two languages agree.
    let value: f64 = text.parse().map_err(|_| NumberError::Syntax)?;
    if value.is_infinite() {
        return Err(NumberError::Range);
    }
    Ok(value)
}

/// `inf`, `infinity` (either with a sign) and `nan` (without one), case-insensitive:
/// exactly the words Go's `strconv.ParseFloat` accepts.
fn parse_special(text: &str) -> Option<f64> {
    let (sign, word) = match text.as_bytes().first() {
        Some(b'+') => (1.0, &text[1..]),
        Some(b'-') => (-1.0, &text[1..]),
        _ => (0.0, text),
    };
    if word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("infinity") {
        return Some(if sign < 0.0 {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if sign == 0.0 && word.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    None
}

/// `[+-] (digits [. digits*] | . digits) [(e|E) [+-] digits]`.
fn is_decimal_float(bytes: &[u8]) -> bool {
    let mut pos = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let integer_digits = count_digits(bytes, pos);
    pos += integer_digits;
    let mut fraction_digits = 0;
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        fraction_digits = count_digits(bytes, pos);
        pos += fraction_digits;
    }
    if integer_digits + fraction_digits == 0 {
        return false;
    }
    if matches!(bytes.get(pos), Some(b'e' | b'E')) {
        pos += 1;
        pos += usize::from(matches!(bytes.get(pos), Some(b'+' | b'-')));
        let exponent_digits = count_digits(bytes, pos);
        if exponent_digits == 0 {
            return false;
        }
        pos += exponent_digits;
    }
    pos == bytes.len()
}

fn count_digits(bytes: &[u8], from: usize) -> usize {
    bytes.get(from..).map_or(0, |rest| {
        rest.iter().take_while(|b| b.is_ascii_digit()).count()
    })
}

/// A Prometheus text timestamp: integer milliseconds, optionally signed (Go's
/// `strconv.ParseInt` base 10, which Rust's `i64::from_str` matches).
pub(super) fn parse_timestamp_ms(text: &str) -> Result<i64, NumberError> {
    text.parse::<i64>().map_err(|error| match error.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
            NumberError::Range
        }
        _ => NumberError::Syntax,
    })
}

/// 2^63: the first float above every `i64`.
const I64_END: f64 = 9_223_372_036_854_775_808.0;

/// An OpenMetrics timestamp: float seconds, converted to milliseconds and rounded to
/// the nearest one. Prometheus truncates instead, which turns `1.001` (as a float
/// 1.000999…) into 1000 ms; rounding gives the 1001 ms the writer meant.
pub(super) fn parse_timestamp_secs(text: &str) -> Result<i64, NumberError> {
    let secs = parse_float(text)?;
    if !secs.is_finite() {
        return Err(NumberError::NotFinite);
    }
    let ms = (secs * 1000.0).round();
    if !(-I64_END..I64_END).contains(&ms) {
        return Err(NumberError::Range);
    }
    Ok(ms as i64)
}
