//! Literal values as upstream reads them: numbers (Go's `strconv.ParseInt` with base 0,
//! then `strconv.ParseFloat`), durations (`model.ParseDuration`) and quoted strings
//! (`strutil.Unquote`).
//! Owns: turning a token's text into a value, and the wording of what can go wrong.
//! Does not: decide where a literal may appear (the parser does).

use super::super::format::go_quote;

/// A number token's value: `1`, `0x1f`, `010` (octal, as in Go), `1_000`, `1.5e3`,
/// `Inf`, `NaN`. The error reads as upstream's (`error parsing number: ...`).
pub fn number(text: &str) -> Result<f64, String> {
    if let Some(value) = go_parse_int(text) {
        return Ok(value as f64);
    }
    go_parse_float(text).map_err(|reason| {
        format!(
            "error parsing number: strconv.ParseFloat: parsing {}: {reason}",
            go_quote(text)
        )
    })
}

/// Go's `strconv.ParseInt(text, 0, 64)`; `None` for any error.
fn go_parse_int(text: &str) -> Option<i64> {
    if text.contains('_') && !underscores_ok(text) {
        return None;
    }
    let digits: String = text.chars().filter(|c| *c != '_').collect();
    let bytes = digits.as_bytes();
    let (radix, body) = match bytes {
        [b'0', prefix, _, ..] if prefix.eq_ignore_ascii_case(&b'x') => (16, &digits[2..]),
        [b'0', prefix, _, ..] if prefix.eq_ignore_ascii_case(&b'o') => (8, &digits[2..]),
        [b'0', prefix, _, ..] if prefix.eq_ignore_ascii_case(&b'b') => (2, &digits[2..]),
        [b'0', ..] => (8, &digits[1..]),
        _ => (10, digits.as_str()),
    };
    if body.is_empty() {
        return (radix == 8).then_some(0);
    }
    if !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    i64::from_str_radix(body, radix).ok()
}

/// Go's `strconv.ParseFloat(text, 64)` for what the lexer can produce: decimal floats
/// with `_` between digits, `Inf` and `NaN`. A hexadecimal mantissa needs a `p`
/// exponent in Go, which the lexer never lets through, so it is a syntax error.
fn go_parse_float(text: &str) -> Result<f64, &'static str> {
    const SYNTAX: &str = "invalid syntax";
    let lower = text.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return lower.parse::<f64>().map_err(|_| SYNTAX);
    }
    if lower.starts_with("0x") || (text.contains('_') && !underscores_ok(text)) {
        return Err(SYNTAX);
    }
    let digits: String = text.chars().filter(|c| *c != '_').collect();
    if !digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err(SYNTAX);
    }
    let value = digits.parse::<f64>().map_err(|_| SYNTAX)?;
    if value.is_infinite() {
        return Err("value out of range");
    }
    Ok(value)
}

/// Go's `underscoreOK`: every `_` sits between digits, or between a base prefix and a
/// digit.
fn underscores_ok(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut index = 0;
    // What came last: '^' start, '0' digit or prefix, '_' underscore, '!' other.
    let mut saw = b'^';
    let mut hex = false;
    if bytes.len() >= 2
        && bytes[0] == b'0'
        && matches!(bytes[1].to_ascii_lowercase(), b'b' | b'o' | b'x')
    {
        index = 2;
        saw = b'0';
        hex = bytes[1].eq_ignore_ascii_case(&b'x');
    }
    for &byte in &bytes[index..] {
        if byte.is_ascii_digit() || (hex && byte.is_ascii_hexdigit()) {
            saw = b'0';
        } else if byte == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Nanoseconds of a duration as `model.ParseDuration` reads it: `<int><unit>` pairs,
/// units `y w d h m s ms` from largest to smallest, or a bare `0`.
pub fn duration_ns(text: &str) -> Result<u64, String> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3_600_000_000_000),
        ("w", 7 * 24 * 3_600_000_000_000),
        ("d", 24 * 3_600_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ];
    match text {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", go_quote(text));
    let mut rest = text;
    let mut total: u64 = 0;
    let mut last_unit = None;
    while !rest.is_empty() {
        let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits_len == 0 {
            return Err(invalid());
        }
        let count: u64 = rest[..digits_len].parse().map_err(|_| invalid())?;
        rest = &rest[digits_len..];
        let unit_len = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        if unit_len == 0 {
            return Err(invalid());
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(position) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(format!(
                "unknown unit {} in duration {}",
                go_quote(unit),
                go_quote(text)
            ));
        };
        if last_unit.is_some_and(|last| position <= last) {
            return Err(invalid());
        }
        last_unit = Some(position);
        let unit_ns = UNITS[position].1;
        if count > (1u64 << 63) / unit_ns {
            return Err("duration out of range".into());
        }
        total += count * unit_ns;
        if total > (1u64 << 63) - 1 {
            return Err("duration out of range".into());
        }
    }
    Ok(total)
}

/// A string token's value, as `strutil.Unquote` gives it. The lexer has already
/// checked the escapes; what is left to fail is a `\x` escape that makes invalid
/// UTF-8, which Go strings can hold and ours cannot.
pub fn unquote(token_text: &str) -> Result<String, String> {
    let Some(quote) = token_text.chars().next() else {
        return Err("empty string token".into());
    };
    let inner = token_text
        .get(1..token_text.len().saturating_sub(1))
        .unwrap_or("");
    if quote == '`' {
        return Ok(inner.to_string());
    }
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(character) = chars.next() {
        if character != '\\' {
            let mut buffer = [0u8; 4];
            bytes.extend_from_slice(character.encode_utf8(&mut buffer).as_bytes());
            continue;
        }
        let escaped = chars.next().unwrap_or('\\');
        let simple = match escaped {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            '\'' => Some(b'\''),
            '"' => Some(b'"'),
            _ => None,
        };
        if let Some(byte) = simple {
            bytes.push(byte);
            continue;
        }
        let (digits, radix, first) = match escaped {
            'x' => (2, 16, None),
            'u' => (4, 16, None),
            'U' => (8, 16, None),
            octal => (2, 8, octal.to_digit(8)),
        };
        let mut value = first.unwrap_or(0);
        for _ in 0..digits {
            let digit = chars.next().and_then(|c| c.to_digit(radix)).unwrap_or(0);
            value = value * radix + digit;
        }
        if escaped == 'x' || radix == 8 {
            // Single bytes, possibly not UTF-8 on their own.
            bytes.push(u8::try_from(value).unwrap_or(u8::MAX));
        } else {
            let character = char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER);
            let mut buffer = [0u8; 4];
            bytes.extend_from_slice(character.encode_utf8(&mut buffer).as_bytes());
        }
    }
    // Go strings may hold any bytes; ours are UTF-8. Invalid sequences (`"\xff"`)
    // become U+FFFD: such a string is never a valid label name, so `label_replace`
    // and `label_join` still fail at evaluation, as upstream does.
    let _ = token_text;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_go_does() {
        let check = |text: &str, expect: f64| assert_eq!(number(text), Ok(expect), "{text}");
        check("1", 1.0);
        check("0x1f", 31.0);
        check("0X_1F", 31.0);
        check("010", 8.0);
        check("09", 9.0);
        check("1_000", 1000.0);
        check("1_000.5", 1000.5);
        check(".5", 0.5);
        check("5.", 5.0);
        check("1e3", 1000.0);
        check("1E-3", 0.001);
        check("1e-400", 0.0);
        check("99999999999999999999", 1e20);
        assert_eq!(number("Inf"), Ok(f64::INFINITY));
        assert!(number("nAn").is_ok_and(f64::is_nan));
        assert_eq!(
            number("1e999"),
            Err(
                r#"error parsing number: strconv.ParseFloat: parsing "1e999": value out of range"#
                    .into()
            )
        );
        assert_eq!(
            number(".5.3"),
            Err(
                r#"error parsing number: strconv.ParseFloat: parsing ".5.3": invalid syntax"#
                    .into()
            )
        );
        assert!(number("0xffffffffffffffffff").is_err());
    }

    #[test]
    fn durations_read_as_prometheus_does() {
        let ms = |text: &str| duration_ns(text).map(|ns| ns / 1_000_000);
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("1h30m"), Ok(5_400_000));
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms("1y"), Ok(31_536_000_000));
        assert_eq!(
            ms("5m1h"),
            Err(r#"not a valid duration string: "5m1h""#.into())
        );
        assert_eq!(
            ms("5m1m"),
            Err(r#"not a valid duration string: "5m1m""#.into())
        );
        assert_eq!(
            ms("5y1hs"),
            Err(r#"unknown unit "hs" in duration "5y1hs""#.into())
        );
        assert_eq!(ms("300y"), Err("duration out of range".into()));
    }

    #[test]
    fn strings_unquote_as_go_does() {
        assert_eq!(unquote(r#""a\"b\\c\n""#), Ok("a\"b\\c\n".into()));
        assert_eq!(unquote(r"'it\'s'"), Ok("it's".into()));
        assert_eq!(unquote(r#""\x41\101\u00e9\U0001F642""#), Ok("AAé🙂".into()));
        assert_eq!(unquote(r#""\xc3\xa9""#), Ok("é".into()));
        assert_eq!(unquote(r"`raw\n`"), Ok(r"raw\n".into()));
        // Not UTF-8: kept as U+FFFD (see `unquote`).
        assert_eq!(unquote(r#""\xff""#), Ok("\u{FFFD}".into()));
    }
}
