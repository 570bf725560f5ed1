//! Charts drawn as SVG on the server: line and stacked-area charts, sparklines,
//! histogram heatmaps, their legends, and the value formatting they share.
//! Owns: chart geometry, tick choice, unit formatting, series colours, SVG text.
//! Does not: query data, know about actix or askama (every function returns a plain
//! `String` or struct), or emit `style` attributes or `<style>` elements: the
//! Content-Security-Policy (`style-src 'self'`) would block them, so the SVG uses
//! presentation attributes only, and `currentColor` for text and grid lines so that
//! it follows the page's light or dark theme.
//! Limits: `WIDTH_PX_MAX`, `HEIGHT_PX_MAX`, `SPAN_MS_MAX`, `TIME_MS_MIN`/`TIME_MS_MAX`,
//! `HEATMAP_BUCKETS_MAX` (kept here rather than in `limits.rs`: they bound drawing
//! only, not memory or time of any other subsystem).
//!
//! Module map: `format` (units), `ticks` (axis ticks and UTC calendar), `svg` (text,
//! numbers, path data, ids), `frame` (plot box and axes), `palette` (colours), `align`
//! (series on a common time grid), `line` (line and stacked charts), `legend`,
//! `sparkline`, `heatmap`; `tests` drives the public functions.

mod align;
mod format;
mod frame;
mod heatmap;
mod legend;
mod line;
mod palette;
mod sparkline;
mod svg;
mod ticks;

#[cfg(test)]
mod tests;

pub use palette::{PALETTE, series_color};
pub use ticks::{TimeTick, ValueTick, log_ticks, time_ticks, value_ticks};

/// Widest chart drawn; wider requests are narrowed. Bounds the work per chart (one
/// path column per pixel) whatever a page asks for.
pub const WIDTH_PX_MAX: u32 = 4096;
/// Tallest chart drawn; taller requests are shortened.
pub const HEIGHT_PX_MAX: u32 = 2048;
/// The longest time range a chart accepts: 200 years. Longer (or reversed) ranges get
/// an "invalid time range" chart instead of a tick loop over millions of labels.
pub const SPAN_MS_MAX: i64 = 200 * 365 * 86_400_000;
/// Earliest timestamp a chart accepts, 0001-01-01T00:00:00Z. With `TIME_MS_MAX` it
/// keeps all time arithmetic far from `i64` overflow.
pub const TIME_MS_MIN: i64 = -62_135_596_800_000;
/// Latest timestamp a chart accepts, 9999-12-31T23:59:59.999Z.
pub const TIME_MS_MAX: i64 = 253_402_300_799_999;
/// Most buckets a heatmap draws: classic histograms have a few dozen.
pub const HEATMAP_BUCKETS_MAX: usize = 128;

/// What a value means, for axis labels, legends and single stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unit {
    /// Plain numbers with SI prefixes (k, M, G).
    #[default]
    Short,
    /// Bytes, IEC prefixes (KiB, MiB).
    Bytes,
    /// Bytes per second, IEC.
    BytesPerSecond,
    /// Seconds, shown as ms/s/min/h/d.
    Seconds,
    /// 0–1 shown as 0–100 %.
    PercentUnit,
    /// 0–100 shown as %.
    Percent,
    /// Events per second (`/s`).
    PerSecond,
    /// No unit, no prefixes.
    None,
}

impl Unit {
    /// The unit from its config name: `short`, `bytes`, `bytes_per_second`, `seconds`,
    /// `percentunit`, `percent`, `per_second`, `none`.
    pub fn parse(name: &str) -> Option<Unit> {
        Some(match name {
            "short" => Unit::Short,
            "bytes" => Unit::Bytes,
            "bytes_per_second" => Unit::BytesPerSecond,
            "seconds" => Unit::Seconds,
            "percentunit" => Unit::PercentUnit,
            "percent" => Unit::Percent,
            "per_second" => Unit::PerSecond,
            "none" => Unit::None,
            _ => return None,
        })
    }

    /// Every name `parse` accepts, for config validation messages.
    pub const NAMES: [&'static str; 8] = [
        "short",
        "bytes",
        "bytes_per_second",
        "seconds",
        "percentunit",
        "percent",
        "per_second",
        "none",
    ];
}

/// One line of a chart. `points` are sorted by time; a gap longer than 1.5 steps
/// (or a NaN) breaks the line.
#[derive(Clone, Debug, Default)]
pub struct ChartSeries {
    /// Legend text.
    pub name: String,
    /// (Unix ms, value).
    pub points: Vec<(i64, f64)>,
}

/// How bad crossing a threshold is; it picks the threshold's colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Warn,
    Bad,
}

/// A horizontal line at `value`.
#[derive(Clone, Debug)]
pub struct Threshold {
    pub value: f64,
    pub level: Level,
    pub label: Option<String>,
}

/// A shaded time interval (an alert firing), `end_ms` clipped to the chart.
#[derive(Clone, Debug)]
pub struct Shade {
    pub start_ms: i64,
    pub end_ms: i64,
    pub label: String,
}

/// Everything about a chart but its data.
#[derive(Clone, Debug)]
pub struct ChartOptions {
    /// The SVG's `<title>` (screen readers, hover).
    pub title: String,
    /// The SVG's `<desc>`.
    pub description: String,
    pub width: u32,
    pub height: u32,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The query step; points further apart than 1.5 steps are a gap.
    pub step_ms: i64,
    pub unit: Unit,
    pub stacked: bool,
    pub log_scale: bool,
    pub thresholds: Vec<Threshold>,
    pub shades: Vec<Shade>,
}

/// One row of a chart's legend, values formatted in the chart's unit.
/// Texts are raw (not HTML-escaped): the template escapes them.
#[derive(Clone, Debug, PartialEq)]
pub struct LegendRow {
    pub name: String,
    /// CSS colour of the series.
    pub color: String,
    pub last: String,
    pub min: String,
    pub max: String,
    pub avg: String,
}

/// The query step for a chart `width` pixels wide over `[start, end]`: at most one
/// point per pixel, at least 1 s.
///
/// In fact at most one point per `STEP_PX_MIN` (2) pixels, rounded up to the next step
/// of the time-axis ladder (1 s, 2 s, 5 s, 10 s, 15 s, 30 s, 1 min, 2 min, 5 min, …,
/// 1 d, …): panels of one dashboard then share steps, points line up with the grid,
/// and the query cache sees the same steps again. Callers that know the scrape
/// interval should raise the step to it.
pub fn step_for_width(start_ms: i64, end_ms: i64, width: u32) -> i64 {
    let span_ms = end_ms.saturating_sub(start_ms).max(0);
    let width_px = i64::from(width.clamp(1, WIDTH_PX_MAX));
    let points_max = (width_px + STEP_PX_MIN - 1) / STEP_PX_MIN;
    // Ceiling division: the step must not give more points than allowed.
    let step_ms = span_ms / points_max + i64::from(span_ms % points_max != 0);
    ticks::nice_time_step_ms(step_ms.max(1000))
}

/// Pixels per query step, at least. A 1.5 px line shows no more detail with a point
/// on every pixel than on every other one, and a point costs about 7 bytes of path
/// data: 12 panels of 10 series over 24 h measured about 560 KB of SVG at one point
/// per pixel (a 2 min step), 240–275 KB at one per two (5 min), within the page's
/// 300 KB budget (`tests::render_time_and_size`).
pub const STEP_PX_MIN: i64 = 2;

/// A line (or stacked area) chart as an `<svg>` element.
///
/// Points outside `[start_ms, end_ms]` are not drawn. A chart whose range is empty,
/// reversed or longer than `SPAN_MS_MAX` says "invalid time range"; a chart without a
/// drawable point says "no data" over its axes.
pub fn line_chart(series: &[ChartSeries], options: &ChartOptions) -> String {
    line::render(series, options)
}

/// The legend rows of `series`, in the same order and colours as `line_chart`.
/// Statistics are over the points that are not NaN; a series without one shows "–".
pub fn legend(series: &[ChartSeries], unit: Unit) -> Vec<LegendRow> {
    legend::rows(series, unit)
}

/// A small line without axes, for single-stat panels. It is drawn in `currentColor`
/// (the page colours it through its container) and is hidden from screen readers:
/// the stat next to it carries the meaning. A gap is a distance between points of more
/// than 1.5 times their median spacing, or a NaN.
pub fn sparkline(points: &[(i64, f64)], width: u32, height: u32) -> String {
    sparkline::render(points, width, height)
}

/// A heatmap of a classic histogram: `buckets` are (upper bound `le`, points of the
/// per-bucket rate), upper bounds ascending.
///
/// Per-bucket means *not* cumulative: the caller has already subtracted each bucket's
/// lower neighbour from Prometheus' cumulative `le` counts (the dashboards page does),
/// so a bucket holds only the observations between the previous bound and its own.
/// Bounds need not be sorted; a NaN bound is dropped, a negative or non-finite rate
/// counts as nothing. The `+Inf` bucket is labelled `+Inf`.
///
/// Each column is coloured relative to its own largest bucket, so the shape of the
/// distribution stays visible when traffic varies over the day.
pub fn heatmap(buckets: &[(f64, Vec<(i64, f64)>)], options: &ChartOptions) -> String {
    heatmap::render(buckets, options)
}

/// `value` in `unit`, with three significant digits and a prefix: `1.23 GiB`, `450 ms`.
/// Trailing zeros are dropped (`1 GiB`); NaN is `NaN`, infinities `+Inf` and `-Inf`.
pub fn format_value(value: f64, unit: Unit) -> String {
    let mut out = String::new();
    format::write_value(&mut out, value, unit);
    out
}
