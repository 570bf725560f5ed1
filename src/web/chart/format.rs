//! Values in a chart's unit: the three-significant-digit text of legends and single
//! stats (`write_value`) and the exact text of axis ticks (`write_tick`).
//! Owns: prefix tables (SI, IEC, time), rounding, promotion to the next prefix.
//! Does not: choose tick positions (`ticks`) or write SVG.

use super::Unit;
use std::fmt::Write;

/// One prefix of a unit: a value shown with it is divided by `divisor` (in base units).
#[derive(Clone, Copy)]
struct Prefix {
    divisor: f64,
    text: &'static str,
}

const fn prefix(divisor: f64, text: &'static str) -> Prefix {
    Prefix { divisor, text }
}

/// How a unit writes its values.
struct Scheme {
    /// Ascending divisors; `prefixes[base]` has divisor 1.
    prefixes: &'static [Prefix],
    base: usize,
    /// Values at least this large (and below 1) are written plainly with the base
    /// prefix (`0.05`, not `50m`): small prefixes only for really small values.
    plain_from: f64,
    /// Between the number and the prefix: `1.2 GiB` but `1.2k`.
    separator: &'static str,
    /// After the prefix: `/s`.
    suffix: &'static str,
    /// Applied before anything else: percentunit shows 0.5 as 50%.
    multiplier: f64,
}

const SI: &[Prefix] = &[
    prefix(1e-12, "p"),
    prefix(1e-9, "n"),
    prefix(1e-6, "µ"),
    prefix(1e-3, "m"),
    prefix(1.0, ""),
    prefix(1e3, "k"),
    prefix(1e6, "M"),
    prefix(1e9, "G"),
    prefix(1e12, "T"),
    prefix(1e15, "P"),
    prefix(1e18, "E"),
];
const IEC: &[Prefix] = &[
    prefix(1.0, "B"),
    prefix(1024.0, "KiB"),
    prefix(1_048_576.0, "MiB"),
    prefix(1_073_741_824.0, "GiB"),
    prefix(1_099_511_627_776.0, "TiB"),
    prefix(1_125_899_906_842_624.0, "PiB"),
    prefix(1_152_921_504_606_846_976.0, "EiB"),
];
const TIME: &[Prefix] = &[
    prefix(1e-9, "ns"),
    prefix(1e-6, "µs"),
    prefix(1e-3, "ms"),
    prefix(1.0, "s"),
    prefix(60.0, "min"),
    prefix(3600.0, "h"),
    prefix(86_400.0, "d"),
];
const PLAIN: &[Prefix] = &[prefix(1.0, "")];
const PERCENT: &[Prefix] = &[prefix(1.0, "%")];

fn scheme(unit: Unit) -> Scheme {
    let si = |suffix| Scheme {
        prefixes: SI,
        base: 4,
        plain_from: 0.01,
        separator: "",
        suffix,
        multiplier: 1.0,
    };
    let iec = |suffix| Scheme {
        prefixes: IEC,
        base: 0,
        plain_from: 0.0,
        separator: " ",
        suffix,
        multiplier: 1.0,
    };
    let plain = |prefixes, multiplier| Scheme {
        prefixes,
        base: 0,
        plain_from: 0.0,
        separator: "",
        suffix: "",
        multiplier,
    };
    match unit {
        Unit::Short => si(""),
        Unit::PerSecond => si("/s"),
        Unit::Bytes => iec(""),
        Unit::BytesPerSecond => iec("/s"),
        Unit::Seconds => Scheme {
            prefixes: TIME,
            base: 3,
            plain_from: 1.0,
            separator: " ",
            suffix: "",
            multiplier: 1.0,
        },
        Unit::PercentUnit => plain(PERCENT, 100.0),
        Unit::Percent => plain(PERCENT, 1.0),
        Unit::None => plain(PLAIN, 1.0),
    }
}

/// Scaled values this large or small are written with an exponent (`1.2e21`): past
/// the largest prefix, or below the smallest.
const EXPONENT_ABOVE: f64 = 1e6;
const EXPONENT_BELOW: f64 = 1e-4;

/// The index of the prefix `abs` (already multiplied) is shown with.
fn pick(scheme: &Scheme, abs: f64) -> usize {
    if abs == 0.0 || (abs >= scheme.plain_from && abs < 1.0) {
        return scheme.base;
    }
    let mut index = 0;
    for (i, one) in scheme.prefixes.iter().enumerate() {
        if one.divisor <= abs {
            index = i;
        }
    }
    index
}

/// Appends `value` with three significant digits (trailing zeros dropped).
pub(super) fn write_value(out: &mut String, value: f64, unit: Unit) {
    if !value.is_finite() {
        write_non_finite(out, value);
        return;
    }
    let scheme = scheme(unit);
    let scaled = value * scheme.multiplier;
    if !scaled.is_finite() {
        write_overflowed(out, value, &scheme);
        return;
    }
    let abs = scaled.abs();
    let mut index = pick(&scheme, abs);
    let mut decimals = significant_decimals(abs / scheme.prefixes[index].divisor);
    // Rounding can reach the next prefix: 1023.7 B is 1 KiB, 59.97 s is 1 min.
    if let Some(next) = scheme.prefixes.get(index + 1) {
        let rounded = round_to(abs / scheme.prefixes[index].divisor, decimals);
        let ratio = next.divisor / scheme.prefixes[index].divisor;
        if rounded >= ratio {
            index += 1;
            // Digits of the rounded value (59.97 s is 60 s, so 1 min, not 0.9995).
            decimals = significant_decimals(rounded / ratio);
        }
    }
    let mut shown = scaled / scheme.prefixes[index].divisor;
    if shown != 0.0 && !(EXPONENT_BELOW..EXPONENT_ABOVE).contains(&shown.abs()) {
        // Past the largest prefix or below the smallest: an exponent on the base
        // unit (`1.8e308 B`) reads better than one on a prefix (`1.6e290 EiB`).
        index = scheme.base;
        shown = scaled;
    }
    write_number(out, shown, decimals);
    out.push_str(scheme.separator);
    out.push_str(scheme.prefixes[index].text);
    out.push_str(scheme.suffix);
}

/// Appends an axis tick: exact (ticks are round numbers), with the largest prefix in
/// which the value needs at most three decimals, so `65 min` rather than `1.08 h`,
/// and `1.25 GiB` next to `768 MiB`.
pub(super) fn write_tick(out: &mut String, value: f64, unit: Unit) {
    if !value.is_finite() {
        write_non_finite(out, value);
        return;
    }
    let scheme = scheme(unit);
    let scaled = value * scheme.multiplier;
    let top = pick(&scheme, scaled.abs());
    for index in (0..=top).rev() {
        let shown = scaled / scheme.prefixes[index].divisor;
        if shown.abs() >= EXPONENT_ABOVE {
            break;
        }
        let Some(decimals) = exact_decimals(shown) else {
            continue;
        };
        write_number(out, shown, decimals);
        out.push_str(scheme.separator);
        out.push_str(scheme.prefixes[index].text);
        out.push_str(scheme.suffix);
        return;
    }
    write_value(out, value, unit);
}

/// A finite value the multiplier pushed past f64::MAX (percentunit near f64::MAX):
/// the exponent moves instead, `1.8e310%`.
fn write_overflowed(out: &mut String, value: f64, scheme: &Scheme) {
    debug_assert!(value.is_finite());
    let start = out.len();
    let _ = write!(out, "{value:.2e}");
    if let Some(e_at) = out[start..].find('e') {
        let exponent: i32 = out[start + e_at + 1..].parse().unwrap_or(0);
        out.truncate(start + e_at);
        trim_zeros(out, start);
        let shift = scheme.multiplier.log10().round() as i32;
        let _ = write!(out, "e{}", exponent + shift);
    }
    out.push_str(scheme.separator);
    out.push_str(scheme.prefixes[scheme.base].text);
    out.push_str(scheme.suffix);
}

fn write_non_finite(out: &mut String, value: f64) {
    debug_assert!(!value.is_finite());
    out.push_str(if value.is_nan() {
        "NaN"
    } else if value > 0.0 {
        "+Inf"
    } else {
        "-Inf"
    });
}

/// Decimals that give `abs` three significant digits.
fn significant_decimals(abs: f64) -> usize {
    if abs >= 100.0 || abs == 0.0 {
        0
    } else if abs >= 10.0 {
        1
    } else if abs >= 1.0 {
        2
    } else {
        // 0.0123 needs 4 (log10 is -1.9, floored -2): a zero, then three digits.
        (2.0 - abs.log10().floor()).clamp(0.0, 12.0) as usize
    }
}

/// The fewest decimals (at most 3) that write `shown` exactly, up to float noise.
fn exact_decimals(shown: f64) -> Option<usize> {
    let mut factor = 1.0;
    for decimals in 0..=3 {
        let scaled = shown * factor;
        let noise = 1e-9 * scaled.abs().max(1.0);
        // A tiny value is not "exactly 0": it needs a smaller prefix.
        let vanishes = scaled.round() == 0.0 && shown != 0.0;
        if !vanishes && (scaled - scaled.round()).abs() <= noise {
            return Some(decimals);
        }
        factor *= 10.0;
    }
    None
}

fn round_to(value: f64, decimals: usize) -> f64 {
    let factor = 10f64.powi(decimals as i32);
    (value * factor).round() / factor
}

/// Appends `shown` with `decimals` decimals, trailing zeros dropped; an exponent
/// outside the range prefixes cover; never `-0`.
fn write_number(out: &mut String, shown: f64, decimals: usize) {
    let abs = shown.abs();
    if abs != 0.0 && !(EXPONENT_BELOW..EXPONENT_ABOVE).contains(&abs) {
        let start = out.len();
        let _ = write!(out, "{shown:.2e}");
        // "1.20e21" -> "1.2e21".
        if let Some(e_at) = out[start..].find('e') {
            let exponent = out.split_off(start + e_at);
            trim_zeros(out, start);
            out.push_str(&exponent);
        }
        return;
    }
    let start = out.len();
    let _ = write!(out, "{shown:.decimals$}");
    trim_zeros(out, start);
    if &out[start..] == "-0" {
        out.truncate(start);
        out.push('0');
    }
}

/// Drops trailing zeros (and then a trailing dot) of the decimal number at `start..`.
fn trim_zeros(out: &mut String, start: usize) {
    if !out[start..].contains('.') {
        return;
    }
    while out.ends_with('0') {
        out.pop();
    }
    if out.ends_with('.') {
        out.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_value(value: f64, unit: Unit, expect: &str) {
        let mut out = String::new();
        write_value(&mut out, value, unit);
        assert_eq!(out, expect, "format_value({value:?}, {unit:?})");
    }

    fn check_tick(value: f64, unit: Unit, expect: &str) {
        let mut out = String::new();
        write_tick(&mut out, value, unit);
        assert_eq!(out, expect, "tick({value:?}, {unit:?})");
    }

    #[test]
    fn short_and_per_second() {
        check_value(0.0, Unit::Short, "0");
        check_value(1.0, Unit::Short, "1");
        check_value(123.456, Unit::Short, "123");
        check_value(999.0, Unit::Short, "999");
        check_value(999.7, Unit::Short, "1k");
        check_value(1000.0, Unit::Short, "1k");
        check_value(1234.0, Unit::Short, "1.23k");
        check_value(12_345.0, Unit::Short, "12.3k");
        check_value(2.5e6, Unit::Short, "2.5M");
        check_value(7.1e9, Unit::Short, "7.1G");
        check_value(3e12, Unit::Short, "3T");
        check_value(0.5, Unit::Short, "0.5");
        check_value(0.0123, Unit::Short, "0.0123");
        check_value(0.005, Unit::Short, "5m");
        check_value(0.000_002_5, Unit::Short, "2.5µ");
        check_value(-1234.0, Unit::Short, "-1.23k");
        check_value(-0.0, Unit::Short, "0");
        check_value(1e30, Unit::Short, "1e30");
        check_value(1200.0, Unit::PerSecond, "1.2k/s");
        check_value(3.0, Unit::PerSecond, "3/s");
        check_value(0.25, Unit::PerSecond, "0.25/s");
    }

    #[test]
    fn bytes() {
        check_value(0.0, Unit::Bytes, "0 B");
        check_value(512.0, Unit::Bytes, "512 B");
        check_value(1023.0, Unit::Bytes, "1023 B");
        check_value(1023.7, Unit::Bytes, "1 KiB");
        check_value(1024.0, Unit::Bytes, "1 KiB");
        check_value(1536.0, Unit::Bytes, "1.5 KiB");
        check_value(1_320_702_443.0, Unit::Bytes, "1.23 GiB");
        check_value(5.0 * 1_099_511_627_776.0, Unit::Bytes, "5 TiB");
        check_value(-2048.0, Unit::Bytes, "-2 KiB");
        check_value(0.5, Unit::Bytes, "0.5 B");
        check_value(1_572_864.0, Unit::BytesPerSecond, "1.5 MiB/s");
        check_value(100.0, Unit::BytesPerSecond, "100 B/s");
    }

    #[test]
    fn seconds() {
        check_value(0.0, Unit::Seconds, "0 s");
        check_value(0.0005, Unit::Seconds, "500 µs");
        check_value(0.45, Unit::Seconds, "450 ms");
        check_value(0.000_000_012, Unit::Seconds, "12 ns");
        check_value(1.5, Unit::Seconds, "1.5 s");
        check_value(59.0, Unit::Seconds, "59 s");
        check_value(59.97, Unit::Seconds, "1 min");
        check_value(90.0, Unit::Seconds, "1.5 min");
        check_value(7200.0, Unit::Seconds, "2 h");
        check_value(3.0 * 86_400.0, Unit::Seconds, "3 d");
        check_value(-0.002, Unit::Seconds, "-2 ms");
        check_value(0.999_9, Unit::Seconds, "1 s");
    }

    #[test]
    fn percent_and_none() {
        check_value(0.1234, Unit::PercentUnit, "12.3%");
        check_value(0.45, Unit::PercentUnit, "45%");
        check_value(1.0, Unit::PercentUnit, "100%");
        check_value(0.0, Unit::PercentUnit, "0%");
        check_value(-0.05, Unit::PercentUnit, "-5%");
        check_value(45.0, Unit::Percent, "45%");
        check_value(12.5, Unit::Percent, "12.5%");
        check_value(99.99, Unit::Percent, "100%");
        check_value(1234.6, Unit::None, "1235");
        check_value(0.123_45, Unit::None, "0.123");
        check_value(3.0, Unit::None, "3");
    }

    #[test]
    fn non_finite() {
        for unit in [Unit::Short, Unit::Bytes, Unit::Seconds, Unit::PercentUnit] {
            check_value(f64::NAN, unit, "NaN");
            check_value(f64::INFINITY, unit, "+Inf");
            check_value(f64::NEG_INFINITY, unit, "-Inf");
            check_tick(f64::INFINITY, unit, "+Inf");
        }
        check_value(f64::MAX, Unit::Bytes, "1.8e308 B");
        check_value(f64::MAX, Unit::PercentUnit, "1.8e310%");
        check_value(-f64::MAX, Unit::PercentUnit, "-1.8e310%");
        check_value(f64::MIN_POSITIVE, Unit::Short, "2.23e-308");
        check_value(1e-15, Unit::Seconds, "1e-15 s");
    }

    #[test]
    fn ticks_exact() {
        check_tick(0.0, Unit::Bytes, "0 B");
        check_tick(268_435_456.0, Unit::Bytes, "256 MiB");
        check_tick(805_306_368.0, Unit::Bytes, "768 MiB");
        check_tick(1_073_741_824.0, Unit::Bytes, "1 GiB");
        check_tick(1_342_177_280.0, Unit::Bytes, "1.25 GiB");
        check_tick(3900.0, Unit::Seconds, "65 min");
        check_tick(3600.0, Unit::Seconds, "1 h");
        check_tick(0.1 + 0.2, Unit::Short, "0.3");
        check_tick(1000.1, Unit::Short, "1000.1");
        check_tick(0.002, Unit::Short, "2m");
        check_tick(0.30000000000000004, Unit::PercentUnit, "30%");
        check_tick(-500.0, Unit::Short, "-500");
        check_tick(0.0, Unit::Seconds, "0 s");
    }
}
