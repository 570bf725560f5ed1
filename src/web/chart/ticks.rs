//! Axis ticks: where they go and what they say. Time ticks on the UTC calendar, value
//! ticks on 1/2/5 × 10ⁿ (powers of two of 1024ⁿ for bytes, clock steps for
//! seconds), log ticks on powers of ten.
//! Owns: the time-step ladder (shared with `step_for_width`), UTC date arithmetic.
//! Does not: draw anything (`frame` does), or know the chart's pixel layout beyond the
//! length it is given.

use super::Unit;
use super::format::write_tick;
use std::fmt::Write;

const SECOND_MS: i64 = 1000;
const MINUTE_MS: i64 = 60 * SECOND_MS;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Time steps for ticks and queries, ascending. Past a year, years of 365 days (tick
/// labels then show the exact date they fall on).
const TIME_STEPS_MS: [i64; 32] = [
    SECOND_MS,
    2 * SECOND_MS,
    5 * SECOND_MS,
    10 * SECOND_MS,
    15 * SECOND_MS,
    30 * SECOND_MS,
    MINUTE_MS,
    2 * MINUTE_MS,
    5 * MINUTE_MS,
    10 * MINUTE_MS,
    15 * MINUTE_MS,
    30 * MINUTE_MS,
    HOUR_MS,
    2 * HOUR_MS,
    3 * HOUR_MS,
    6 * HOUR_MS,
    12 * HOUR_MS,
    DAY_MS,
    2 * DAY_MS,
    7 * DAY_MS,
    14 * DAY_MS,
    30 * DAY_MS,
    60 * DAY_MS,
    91 * DAY_MS,
    182 * DAY_MS,
    365 * DAY_MS,
    2 * 365 * DAY_MS,
    5 * 365 * DAY_MS,
    10 * 365 * DAY_MS,
    20 * 365 * DAY_MS,
    50 * 365 * DAY_MS,
    100 * 365 * DAY_MS,
];

/// At most this many time ticks, however wide the chart.
const TIME_TICKS_MAX: i64 = 10;
/// Estimated width of one character of an 11 px label: digits of system-ui fonts are
/// about 6.1 px wide; a little more keeps neighbours apart in wider fonts.
pub(super) const CHAR_PX: f64 = 6.4;
/// Empty space wanted between two time labels.
const TIME_LABEL_GAP_PX: f64 = 16.0;
/// Vertical space wanted per value tick.
const VALUE_TICK_PX: f64 = 40.0;
/// At most this many value ticks (a bound on the loop, whatever the input).
const VALUE_TICKS_MAX: usize = 32;

/// A tick of the time axis.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeTick {
    pub at_ms: i64,
    pub label: String,
}

/// A tick of the value axis.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueTick {
    pub value: f64,
    pub label: String,
}

/// The first step of the ladder at least `at_least_ms` long (the longest if none).
pub(super) fn nice_time_step_ms(at_least_ms: i64) -> i64 {
    TIME_STEPS_MS
        .iter()
        .copied()
        .find(|step| *step >= at_least_ms)
        .unwrap_or(TIME_STEPS_MS[TIME_STEPS_MS.len() - 1])
}

/// How a time tick reads, chosen by the step.
#[derive(Clone, Copy, Debug, PartialEq)]
enum TimeLabel {
    /// `HH:MM:SS`.
    Seconds,
    /// `HH:MM`, and `MM-DD` at midnight so a range over days shows its dates.
    Minutes,
    /// `MM-DD`.
    Days,
    /// `YYYY-MM-DD`, when the range spans years.
    Years,
}

impl TimeLabel {
    fn choose(step_ms: i64, start_ms: i64, end_ms: i64) -> TimeLabel {
        if step_ms < MINUTE_MS {
            TimeLabel::Seconds
        } else if step_ms < DAY_MS {
            TimeLabel::Minutes
        } else if civil(start_ms).year == civil(end_ms).year {
            TimeLabel::Days
        } else {
            TimeLabel::Years
        }
    }

    fn chars(self) -> f64 {
        match self {
            TimeLabel::Seconds => 8.0,
            TimeLabel::Minutes | TimeLabel::Days => 5.0,
            TimeLabel::Years => 10.0,
        }
    }

    fn write(self, out: &mut String, at_ms: i64) {
        let at = civil(at_ms);
        let _ = match self {
            TimeLabel::Seconds => write!(out, "{:02}:{:02}:{:02}", at.hour, at.minute, at.second),
            TimeLabel::Minutes if at.hour == 0 && at.minute == 0 => {
                write!(out, "{:02}-{:02}", at.month, at.day)
            }
            TimeLabel::Minutes => write!(out, "{:02}:{:02}", at.hour, at.minute),
            TimeLabel::Days => write!(out, "{:02}-{:02}", at.month, at.day),
            TimeLabel::Years => write!(out, "{:04}-{:02}-{:02}", at.year, at.month, at.day),
        };
    }
}

/// Weeks start on Monday: the Unix epoch is a Thursday, the first Monday 4 days later.
fn step_offset_ms(step_ms: i64) -> i64 {
    if step_ms == 7 * DAY_MS || step_ms == 14 * DAY_MS {
        4 * DAY_MS
    } else {
        0
    }
}

/// The first tick at or after `start_ms`.
fn first_tick_ms(start_ms: i64, step_ms: i64) -> i64 {
    let offset_ms = step_offset_ms(step_ms);
    let tick_ms = (start_ms - offset_ms).div_euclid(step_ms) * step_ms + offset_ms;
    if tick_ms < start_ms {
        tick_ms + step_ms
    } else {
        tick_ms
    }
}

/// Ticks for `[start_ms, end_ms]` drawn `width_px` wide: the shortest step of the
/// ladder whose labels do not touch, at most ten ticks, at UTC multiples of the step.
/// Empty when the range is empty, reversed or outside the accepted times.
pub fn time_ticks(start_ms: i64, end_ms: i64, width_px: f64) -> Vec<TimeTick> {
    let mut ticks = Vec::new();
    if !valid_range(start_ms, end_ms) || width_px.is_nan() || width_px <= 0.0 {
        return ticks;
    }
    let span_ms = end_ms - start_ms;
    let (step_ms, label) = choose_time_step(start_ms, end_ms, width_px);
    let mut at_ms = first_tick_ms(start_ms, step_ms);
    while at_ms <= end_ms && ticks.len() < TIME_TICKS_MAX as usize {
        let mut text = String::new();
        label.write(&mut text, at_ms);
        ticks.push(TimeTick { at_ms, label: text });
        at_ms += step_ms;
    }
    debug_assert!(span_ms > 0);
    ticks
}

fn choose_time_step(start_ms: i64, end_ms: i64, width_px: f64) -> (i64, TimeLabel) {
    let span_ms = end_ms - start_ms;
    for step_ms in TIME_STEPS_MS {
        let label = TimeLabel::choose(step_ms, start_ms, end_ms);
        let count = (end_ms - first_tick_ms(start_ms, step_ms)).div_euclid(step_ms) + 1;
        let step_px = step_ms as f64 / span_ms as f64 * width_px;
        if count <= TIME_TICKS_MAX && step_px >= label.chars() * CHAR_PX + TIME_LABEL_GAP_PX {
            return (step_ms, label);
        }
    }
    let step_ms = TIME_STEPS_MS[TIME_STEPS_MS.len() - 1];
    (step_ms, TimeLabel::choose(step_ms, start_ms, end_ms))
}

/// Whether charts accept `[start_ms, end_ms]`.
pub(super) fn valid_range(start_ms: i64, end_ms: i64) -> bool {
    (super::TIME_MS_MIN..=super::TIME_MS_MAX).contains(&start_ms)
        && (super::TIME_MS_MIN..=super::TIME_MS_MAX).contains(&end_ms)
        && start_ms < end_ms
        && end_ms - start_ms <= super::SPAN_MS_MAX
}

/// A value axis: the drawn range `[lo, hi]` and its ticks.
#[derive(Clone, Debug)]
pub(super) struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
    pub ticks: Vec<ValueTick>,
}

/// Nice ticks covering `[min, max]` for an axis `height_px` tall: the first and last
/// tick are the axis ends. Both bounds must be finite; a flat range is widened to
/// include zero (or to `[0, 1]` at zero).
pub fn value_ticks(min: f64, max: f64, unit: Unit, height_px: f64) -> Vec<ValueTick> {
    linear_axis(min, max, unit, height_px).ticks
}

/// Ticks at powers of ten covering `[min, max]` (both positive), thinned to one every
/// few decades on a short axis.
pub fn log_ticks(min: f64, max: f64, unit: Unit, height_px: f64) -> Vec<ValueTick> {
    log_axis(min, max, unit, height_px).ticks
}

pub(super) fn linear_axis(min: f64, max: f64, unit: Unit, height_px: f64) -> Axis {
    let (mut min, mut max) = if min.is_finite() && max.is_finite() {
        (min.min(max), min.max(max))
    } else {
        (0.0, 1.0)
    };
    if min == max {
        if min == 0.0 {
            max = 1.0;
        } else {
            min = min.min(0.0);
            max = max.max(0.0);
        }
    }
    let intervals = (height_px / VALUE_TICK_PX).floor().clamp(2.0, 8.0);
    let raw = (max / 2.0 - min / 2.0) / intervals * 2.0;
    let step = nice_value_step(raw, unit);
    let lo = (min / step).floor() * step;
    let hi = (max / step).ceil() * step;
    let count = ((hi - lo) / step).round();
    if !step.is_normal() || !lo.is_finite() || !hi.is_finite() || count.is_nan() || count < 1.0 {
        return plain_axis(min, max, unit);
    }
    let count = (count as usize).min(VALUE_TICKS_MAX);
    let mut ticks = Vec::with_capacity(count + 1);
    for index in 0..=count {
        let mut value = lo + step * index as f64;
        if value.abs() < step * 1e-9 {
            value = 0.0;
        }
        ticks.push(value_tick(value, unit));
    }
    let hi = lo + step * count as f64;
    // The axis covers the data (up to float noise in the division by the step).
    let noise = step * 1e-9;
    debug_assert!(lo <= min + noise, "BUG: axis from {lo} above {min}");
    debug_assert!(
        count == VALUE_TICKS_MAX || max <= hi + noise,
        "BUG: axis to {hi} below {max}"
    );
    Axis {
        lo,
        hi,
        log: false,
        ticks,
    }
}

/// The range as given with ticks at its ends: for ranges no nice step fits (wider
/// than f64::MAX, or narrower than the smallest normal float).
fn plain_axis(min: f64, max: f64, unit: Unit) -> Axis {
    Axis {
        lo: min,
        hi: max,
        log: false,
        ticks: vec![value_tick(min, unit), value_tick(max, unit)],
    }
}

fn value_tick(value: f64, unit: Unit) -> ValueTick {
    let mut label = String::new();
    write_tick(&mut label, value, unit);
    ValueTick { value, label }
}

/// The step at least `raw` long that reads well in `unit`.
fn nice_value_step(raw: f64, unit: Unit) -> f64 {
    if raw.is_nan() || raw <= 0.0 || raw.is_infinite() {
        return f64::NAN;
    }
    match unit {
        // 256 MiB, 512 MiB, 768 MiB, 1 GiB: each label exact in its own prefix.
        Unit::Bytes | Unit::BytesPerSecond if raw >= 1024.0 => {
            let power = raw.log2().ceil();
            2f64.powf(power)
        }
        Unit::Seconds if raw >= 1.0 => {
            const CLOCK: [f64; 18] = [
                1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
                7200.0, 10800.0, 21600.0, 43200.0, 86400.0,
            ];
            match CLOCK.iter().copied().find(|step| *step >= raw) {
                Some(step) => step,
                None => 86400.0 * nice_125(raw / 86400.0),
            }
        }
        _ => nice_125(raw),
    }
}

/// The smallest of 1, 2, 5 × 10ⁿ at least `raw`.
fn nice_125(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let mantissa = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    mantissa * magnitude
}

/// Smallest and largest decade a log axis shows: far enough for any f64 that
/// matters, near enough that 10^decade stays a normal float.
const DECADE_MIN: f64 = -300.0;
const DECADE_MAX: f64 = 300.0;
/// Vertical space wanted per labelled decade.
const DECADE_PX: f64 = 20.0;

pub(super) fn log_axis(min: f64, max: f64, unit: Unit, height_px: f64) -> Axis {
    let (min, max) = if min > 0.0 && max > 0.0 && min.is_finite() && max.is_finite() {
        (min.min(max), min.max(max))
    } else {
        (1.0, 10.0)
    };
    let low = min.log10().floor().clamp(DECADE_MIN, DECADE_MAX);
    let mut high = max.log10().ceil().clamp(DECADE_MIN, DECADE_MAX);
    if high <= low {
        high = low + 1.0;
    }
    let decades = high - low;
    let labels_max = (height_px / DECADE_PX).floor().max(2.0);
    let every = (decades / labels_max).ceil().max(1.0);
    let mut ticks = Vec::new();
    let mut decade = low;
    while decade <= high && ticks.len() < VALUE_TICKS_MAX {
        ticks.push(value_tick(10f64.powf(decade), unit));
        decade += every;
    }
    Axis {
        lo: 10f64.powf(low),
        hi: 10f64.powf(high),
        log: true,
        ticks,
    }
}

/// A UTC calendar time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// The UTC calendar time of `at_ms` (proleptic Gregorian), after Howard Hinnant's
/// `civil_from_days`: a few integer operations, no allocation, no time zone database.
pub(super) fn civil(at_ms: i64) -> Civil {
    let days = at_ms.div_euclid(DAY_MS);
    let seconds_of_day = at_ms.rem_euclid(DAY_MS) / SECOND_MS;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (seconds_of_day / 3600) as u32,
        minute: (seconds_of_day / 60 % 60) as u32,
        second: (seconds_of_day % 60) as u32,
    }
}

/// Appends `YYYY-MM-DD HH:MM` (with `:SS` when `seconds`).
pub(super) fn write_date_time(out: &mut String, at_ms: i64, seconds: bool) {
    let at = civil(at_ms);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}",
        at.year, at.month, at.day, at.hour, at.minute
    );
    if seconds {
        let _ = write!(out, ":{:02}", at.second);
    }
}

/// Appends `HH:MM` (UTC).
pub(super) fn write_clock(out: &mut String, at_ms: i64) {
    let at = civil(at_ms);
    let _ = write!(out, "{:02}:{:02}", at.hour, at.minute);
}

/// Appends a range for screen readers: `2026-12-05 12:00–13:00 UTC`, or both dates
/// when it spans days.
pub(super) fn write_range(out: &mut String, start_ms: i64, end_ms: i64) {
    let seconds = start_ms % MINUTE_MS != 0 || end_ms % MINUTE_MS != 0;
    let (start, end) = (civil(start_ms), civil(end_ms));
    write_date_time(out, start_ms, seconds);
    if (start.year, start.month, start.day) == (end.year, end.month, end.day) {
        let _ = write!(out, "–{:02}:{:02}", end.hour, end.minute);
        if seconds {
            let _ = write!(out, ":{:02}", end.second);
        }
    } else {
        out.push_str(" – ");
        write_date_time(out, end_ms, seconds);
    }
    out.push_str(" UTC");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-05T12:00:00Z.
    const NOON_MS: i64 = 1_796_472_000_000;

    fn check_time(start_ms: i64, end_ms: i64, width_px: f64, expect: &[(i64, &str)]) {
        let ticks = time_ticks(start_ms, end_ms, width_px);
        let got: Vec<(i64, &str)> = ticks
            .iter()
            .map(|tick| (tick.at_ms - start_ms, tick.label.as_str()))
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn calendar() {
        let at = civil(NOON_MS);
        assert_eq!((at.year, at.month, at.day, at.hour), (2026, 12, 5, 12));
        assert_eq!(civil(0).year, 1970);
        let before_epoch = civil(-1);
        assert_eq!(
            (before_epoch.year, before_epoch.month, before_epoch.day),
            (1969, 12, 31)
        );
        assert_eq!(before_epoch.second, 59);
        let leap = civil(951_782_400_000); // 2000-02-29
        assert_eq!((leap.month, leap.day), (2, 29));
        assert_eq!(civil(super::super::TIME_MS_MIN).year, 1);
        assert_eq!(civil(super::super::TIME_MS_MAX).year, 9999);
    }

    #[test]
    fn one_hour_wide() {
        check_time(
            NOON_MS,
            NOON_MS + HOUR_MS,
            740.0,
            &[
                (0, "12:00"),
                (10 * MINUTE_MS, "12:10"),
                (20 * MINUTE_MS, "12:20"),
                (30 * MINUTE_MS, "12:30"),
                (40 * MINUTE_MS, "12:40"),
                (50 * MINUTE_MS, "12:50"),
                (HOUR_MS, "13:00"),
            ],
        );
    }

    #[test]
    fn one_hour_narrow() {
        check_time(
            NOON_MS,
            NOON_MS + HOUR_MS,
            200.0,
            &[
                (0, "12:00"),
                (15 * MINUTE_MS, "12:15"),
                (30 * MINUTE_MS, "12:30"),
                (45 * MINUTE_MS, "12:45"),
                (HOUR_MS, "13:00"),
            ],
        );
    }

    #[test]
    fn unaligned_start() {
        // 12:07:30 to 13:07:30: ticks at the next multiples of 10 minutes.
        let start_ms = NOON_MS + 7 * MINUTE_MS + 30 * SECOND_MS;
        check_time(
            start_ms,
            start_ms + HOUR_MS,
            740.0,
            &[
                (150_000, "12:10"),
                (750_000, "12:20"),
                (1_350_000, "12:30"),
                (1_950_000, "12:40"),
                (2_550_000, "12:50"),
                (3_150_000, "13:00"),
            ],
        );
    }

    #[test]
    fn two_minutes_has_seconds() {
        check_time(
            NOON_MS,
            NOON_MS + 2 * MINUTE_MS,
            740.0,
            &[
                (0, "12:00:00"),
                (15_000, "12:00:15"),
                (30_000, "12:00:30"),
                (45_000, "12:00:45"),
                (60_000, "12:01:00"),
                (75_000, "12:01:15"),
                (90_000, "12:01:30"),
                (105_000, "12:01:45"),
                (120_000, "12:02:00"),
            ],
        );
        // Five minutes: 30 s would be 11 ticks, so whole minutes.
        let ticks = time_ticks(NOON_MS, NOON_MS + 5 * MINUTE_MS, 740.0);
        assert_eq!(ticks.len(), 6);
        assert_eq!(ticks[1].label, "12:01");
    }

    #[test]
    fn one_day_marks_midnight() {
        // 2026-12-04 12:00 to 2026-12-05 12:00: 3 h steps, midnight shows the date.
        check_time(
            NOON_MS - DAY_MS,
            NOON_MS,
            740.0,
            &[
                (0, "12:00"),
                (3 * HOUR_MS, "15:00"),
                (6 * HOUR_MS, "18:00"),
                (9 * HOUR_MS, "21:00"),
                (12 * HOUR_MS, "12-05"),
                (15 * HOUR_MS, "03:00"),
                (18 * HOUR_MS, "06:00"),
                (21 * HOUR_MS, "09:00"),
                (24 * HOUR_MS, "12:00"),
            ],
        );
    }

    #[test]
    fn seven_days_by_day() {
        let start_ms = NOON_MS - 7 * DAY_MS;
        let ticks = time_ticks(start_ms, NOON_MS, 740.0);
        let labels: Vec<&str> = ticks.iter().map(|tick| tick.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "11-29", "11-30", "12-01", "12-02", "12-03", "12-04", "12-05"
            ]
        );
        assert_eq!(ticks[0].at_ms, start_ms + 12 * HOUR_MS);
    }

    #[test]
    fn ninety_days_by_week_on_mondays() {
        let start_ms = NOON_MS - 90 * DAY_MS;
        let ticks = time_ticks(start_ms, NOON_MS, 740.0);
        assert!((6..=10).contains(&ticks.len()), "{ticks:?}");
        // 2026-09-14 is a Monday (fortnights count from 1970-01-05, a Monday).
        assert_eq!(ticks[0].label, "09-14");
        assert!(
            ticks
                .windows(2)
                .all(|pair| pair[1].at_ms - pair[0].at_ms == 14 * DAY_MS)
        );
    }

    #[test]
    fn years_show_the_year() {
        let ticks = time_ticks(0, 10 * 365 * DAY_MS, 740.0);
        assert_eq!(ticks[0].label, "1970-01-01");
        assert!(ticks.len() <= 10);
    }

    #[test]
    fn invalid_ranges_have_no_ticks() {
        assert!(time_ticks(NOON_MS, NOON_MS, 740.0).is_empty());
        assert!(time_ticks(NOON_MS, NOON_MS - 1, 740.0).is_empty());
        assert!(time_ticks(i64::MIN, i64::MAX, 740.0).is_empty());
        assert!(time_ticks(NOON_MS, NOON_MS + 1000, f64::NAN).is_empty());
        // One millisecond: no tick fits, nothing loops.
        assert!(time_ticks(NOON_MS + 1, NOON_MS + 2, 740.0).is_empty());
    }

    fn labels(ticks: &[ValueTick]) -> Vec<&str> {
        ticks.iter().map(|tick| tick.label.as_str()).collect()
    }

    #[test]
    fn value_ticks_nice() {
        let ticks = value_ticks(3.0, 97.0, Unit::Percent, 200.0);
        assert_eq!(labels(&ticks), ["0%", "20%", "40%", "60%", "80%", "100%"]);
        let ticks = value_ticks(0.0, 0.83, Unit::PercentUnit, 160.0);
        assert_eq!(labels(&ticks), ["0%", "50%", "100%"]);
        let ticks = value_ticks(-3.0, 4.0, Unit::Short, 120.0);
        assert_eq!(labels(&ticks), ["-5", "0", "5"]);
        let ticks = value_ticks(-0.7, -0.3, Unit::Short, 120.0);
        assert_eq!(labels(&ticks), ["-0.8", "-0.6", "-0.4", "-0.2"]);
        let ticks = value_ticks(0.0, 0.0012, Unit::Seconds, 200.0);
        assert_eq!(labels(&ticks), ["0 s", "500 µs", "1 ms", "1.5 ms"]);
    }

    #[test]
    fn value_ticks_bytes_are_binary() {
        let ticks = value_ticks(0.0, 1.2 * 1_073_741_824.0, Unit::Bytes, 200.0);
        assert_eq!(
            labels(&ticks),
            ["0 B", "256 MiB", "512 MiB", "768 MiB", "1 GiB", "1.25 GiB"]
        );
    }

    #[test]
    fn value_ticks_seconds_use_the_clock() {
        let ticks = value_ticks(0.0, 1000.0, Unit::Seconds, 200.0);
        assert_eq!(
            labels(&ticks),
            ["0 s", "5 min", "10 min", "15 min", "20 min"]
        );
    }

    #[test]
    fn value_ticks_degenerate() {
        assert_eq!(
            labels(&value_ticks(0.0, 0.0, Unit::Short, 200.0)).first(),
            Some(&"0")
        );
        assert_eq!(
            labels(&value_ticks(5.0, 5.0, Unit::Short, 200.0)).last(),
            Some(&"5")
        );
        let huge = value_ticks(-f64::MAX, f64::MAX, Unit::Short, 200.0);
        assert!(huge.len() >= 2 && huge.len() <= VALUE_TICKS_MAX + 1);
        let tiny = value_ticks(0.0, 1e-320, Unit::Short, 200.0);
        assert!(tiny.len() == 2);
        let reversed = value_ticks(10.0, 0.0, Unit::Short, 200.0);
        assert_eq!(labels(&reversed).first(), Some(&"0"));
        let nan = value_ticks(f64::NAN, 1.0, Unit::Short, 200.0);
        assert_eq!(labels(&nan), ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
    }

    #[test]
    fn log_ticks_powers_of_ten() {
        let ticks = log_ticks(0.5, 2000.0, Unit::Short, 200.0);
        assert_eq!(labels(&ticks), ["0.1", "1", "10", "100", "1k", "10k"]);
        let wide = log_ticks(1e-100, 1e100, Unit::Short, 200.0);
        assert!(wide.len() <= 11, "{}", wide.len());
        assert_eq!(log_ticks(1.0, 1.0, Unit::Short, 200.0).len(), 2);
    }

    #[test]
    fn ranges_for_screen_readers() {
        let mut out = String::new();
        write_range(&mut out, NOON_MS, NOON_MS + HOUR_MS);
        assert_eq!(out, "2026-12-05 12:00–13:00 UTC");
        out.clear();
        write_range(&mut out, NOON_MS - DAY_MS, NOON_MS + 1500);
        assert_eq!(out, "2026-12-04 12:00:00 – 2026-12-05 12:00:01 UTC");
    }
}
