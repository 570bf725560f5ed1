//! Charts drawn as SVG on the server (STUB: the chart renderer's owner replaces this
//! file; the signatures below are what pages call).

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
pub fn step_for_width(start_ms: i64, end_ms: i64, width: u32) -> i64 {
    ((end_ms - start_ms) / i64::from(width.max(1))).max(1000)
}

/// A line (or stacked area) chart as an `<svg>` element.
pub fn line_chart(_series: &[ChartSeries], options: &ChartOptions) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img"><title>{}</title></svg>"#,
        options.width,
        options.height,
        escape(&options.title)
    )
}

/// The legend rows of `series`, in the same order and colours as `line_chart`.
pub fn legend(series: &[ChartSeries], unit: Unit) -> Vec<LegendRow> {
    series
        .iter()
        .map(|one| LegendRow {
            name: one.name.clone(),
            color: String::new(),
            last: one
                .points
                .last()
                .map(|(_, value)| format_value(*value, unit))
                .unwrap_or_default(),
            min: String::new(),
            max: String::new(),
            avg: String::new(),
        })
        .collect()
}

/// A small line without axes, for single-stat panels.
pub fn sparkline(_points: &[(i64, f64)], width: u32, height: u32) -> String {
    format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"></svg>"#)
}

/// A heatmap of a classic histogram: `buckets` are (upper bound `le`, points of the
/// per-bucket rate), upper bounds ascending.
pub fn heatmap(_buckets: &[(f64, Vec<(i64, f64)>)], options: &ChartOptions) -> String {
    line_chart(&[], options)
}

/// `value` in `unit`, with three significant digits and a prefix: `1.23 GiB`, `450 ms`.
pub fn format_value(value: f64, _unit: Unit) -> String {
    format!("{value}")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
