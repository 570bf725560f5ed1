//! Durations and byte sizes as they are written in config files.
//! Owns: the grammar of `15s`, `1h30m`, `5y` and `512MiB`, and their serde glue.
//! Does not: know which keys use them.
//!
//! Written by hand because the grammar is a contract with Prometheus users: a
//! duration is Prometheus' `model.Duration` (units y, w, d, h, m, s, ms, in
//! descending order, each at most once), which `humantime` does not follow
//! (it accepts spaces, `min`, `sec` and orders freely). Sizes accept both IEC
//! (`KiB`, `MiB`) and SI (`kB`, `MB`) suffixes and say so when a suffix is unknown.

use serde::{Deserialize, Deserializer, de};
use std::fmt;
use std::time::Duration;

/// A duration written in Prometheus notation, e.g. `15s`, `1h30m`, `90d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigDuration(pub Duration);

/// A size in bytes, written like `512MiB`, `64kB` or a bare integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

const DURATION_UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a Prometheus duration. `0` alone is allowed; every other value needs units.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err("empty duration: expected a value like \"15s\", \"5m\" or \"1h30m\"".into());
    }
    let bytes = text.as_bytes();
    let mut position = 0;
    let mut millis_total: u64 = 0;
    // Index into DURATION_UNITS of the last unit seen; units must strictly descend.
    let mut last_unit: Option<usize> = None;
    while position < bytes.len() {
        let digits_start = position;
        while position < bytes.len() && bytes[position].is_ascii_digit() {
            position += 1;
        }
        if position == digits_start {
            return Err(format!(
                "invalid duration {text:?}: expected a number at byte {position} (valid units: y, w, d, h, m, s, ms)"
            ));
        }
        let number: u64 = text[digits_start..position]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: number too large"))?;
        let unit_start = position;
        while position < bytes.len() && bytes[position].is_ascii_alphabetic() {
            position += 1;
        }
        let unit = &text[unit_start..position];
        let Some(unit_index) = DURATION_UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(if unit.is_empty() {
                format!(
                    "invalid duration {text:?}: missing unit after {number} (valid units: y, w, d, h, m, s, ms)"
                )
            } else {
                format!(
                    "invalid duration {text:?}: unknown unit {unit:?} (valid units: y, w, d, h, m, s, ms)"
                )
            });
        };
        if last_unit.is_some_and(|last| unit_index <= last) {
            return Err(format!(
                "invalid duration {text:?}: units must appear once each, largest first (e.g. \"1h30m\")"
            ));
        }
        last_unit = Some(unit_index);
        let unit_millis = DURATION_UNITS[unit_index].1;
        millis_total = number
            .checked_mul(unit_millis)
            .and_then(|part| millis_total.checked_add(part))
            .ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
    }
    Ok(Duration::from_millis(millis_total))
}

/// Formats a duration the way `parse_duration` reads it, e.g. `1h30m`.
pub fn format_duration(duration: Duration) -> String {
    let mut millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return "0s".into();
    }
    let mut text = String::new();
    for (name, unit_millis) in DURATION_UNITS {
        if millis >= unit_millis {
            text.push_str(&format!("{}{}", millis / unit_millis, name));
            millis %= unit_millis;
        }
    }
    text
}

const SIZE_UNITS: [(&str, u64); 11] = [
    ("", 1),
    ("B", 1),
    ("kB", 1000),
    ("KB", 1000),
    ("MB", 1000 * 1000),
    ("GB", 1000 * 1000 * 1000),
    ("TB", 1000 * 1000 * 1000 * 1000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

/// Parses a size such as `512MiB`, `10GB` or `4096`.
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number_text, unit) = (&trimmed[..split], trimmed[split..].trim_start());
    if number_text.is_empty() {
        return Err(format!(
            "invalid size {text:?}: expected a whole number followed by a unit, e.g. \"512MiB\""
        ));
    }
    let number: u64 = number_text
        .parse()
        .map_err(|_| format!("invalid size {text:?}: number too large"))?;
    let Some((_, multiplier)) = SIZE_UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(format!(
            "invalid size {text:?}: unknown unit {unit:?} (valid units: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)"
        ));
    };
    number
        .checked_mul(*multiplier)
        .ok_or_else(|| format!("invalid size {text:?}: too large"))
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .map(ConfigDuration)
            .map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl de::Visitor<'_> for SizeVisitor {
            type Value = ByteSize;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a size like \"512MiB\" or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<ByteSize, E> {
                parse_byte_size(text).map(ByteSize).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, number: i64) -> Result<ByteSize, E> {
                u64::try_from(number)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("invalid size {number}: must not be negative")))
            }
            fn visit_u64<E: de::Error>(self, number: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(number))
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(&format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_duration(text: &str, expect: Result<u64, &str>) {
        let got = parse_duration(text).map(|duration| duration.as_millis() as u64);
        match expect {
            Ok(millis) => assert_eq!(got, Ok(millis), "{text}"),
            Err(fragment) => {
                let message = got.expect_err(text);
                assert!(message.contains(fragment), "{text}: {message}");
            }
        }
    }

    #[test]
    fn durations() {
        check_duration("15s", Ok(15_000));
        check_duration("1h30m", Ok(5_400_000));
        check_duration("5y", Ok(5 * 365 * 86_400_000));
        check_duration("100ms", Ok(100));
        check_duration("1m1ms", Ok(60_001));
        check_duration("0", Ok(0));
        check_duration("", Err("empty duration"));
        check_duration("5", Err("missing unit"));
        check_duration("5x", Err("unknown unit \"x\""));
        check_duration("30m1h", Err("largest first"));
        check_duration("1h 30m", Err("expected a number"));
        check_duration("-5s", Err("expected a number"));
        check_duration("99999999999999y", Err("too large"));
    }

    #[test]
    fn durations_format_round_trip() {
        for text in ["15s", "1h30m", "12w6d", "5y", "1m1ms", "2w3d"] {
            let duration = parse_duration(text).expect("valid duration");
            assert_eq!(format_duration(duration), text);
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_byte_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_byte_size("64kB"), Ok(64_000));
        assert_eq!(parse_byte_size("4096"), Ok(4096));
        assert_eq!(parse_byte_size("1 GiB"), Ok(1 << 30));
        assert!(
            parse_byte_size("12XB")
                .expect_err("bad unit")
                .contains("unknown unit \"XB\"")
        );
        assert!(
            parse_byte_size("MiB")
                .expect_err("no number")
                .contains("expected a whole number")
        );
    }
}
