//! The frame every axis chart shares: the `<svg>` element with its accessible name,
//! the plot box, grid lines, tick labels, and messages ("no data").
//! Owns: margins and the pixel mapping of time.
//! Does not: choose ticks (`ticks`) or draw data (`line`, `heatmap`).

use super::svg::{escape_into, push_num};
use super::ticks::{Axis, CHAR_PX, TimeTick};
use super::{ChartOptions, HEIGHT_PX_MAX, WIDTH_PX_MAX};

/// Smallest chart drawn: room for a few labels and a plot.
const WIDTH_PX_MIN: u32 = 160;
const HEIGHT_PX_MIN: u32 = 80;
const TOP_PX: f64 = 8.0;
/// Time labels sit below the plot, their baseline 5 px above the bottom edge.
const BOTTOM_PX: f64 = 20.0;
const RIGHT_PX: f64 = 10.0;
/// Space between a value label and the plot.
const LABEL_PAD_PX: f64 = 5.0;

/// The chart's size and its plot box, in viewBox units (pixels at 100 %).
#[derive(Clone, Copy, Debug)]
pub(super) struct Plot {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Pixels per millisecond: a multiplication per point rather than a division.
    px_per_ms: f64,
}

impl Plot {
    /// A plot `width` × `height` (clamped to the drawable sizes) whose value labels
    /// are at most `label_chars` characters long.
    pub fn new(width: u32, height: u32, label_chars: usize, start_ms: i64, end_ms: i64) -> Plot {
        let width = f64::from(width.clamp(WIDTH_PX_MIN, WIDTH_PX_MAX));
        let height = f64::from(height.clamp(HEIGHT_PX_MIN, HEIGHT_PX_MAX));
        let left = (label_chars as f64 * CHAR_PX + 2.0 * LABEL_PAD_PX).clamp(24.0, width / 3.0);
        let edges = (left, TOP_PX, width - RIGHT_PX, height - BOTTOM_PX);
        Plot::with_edges(width, height, edges, start_ms, end_ms)
    }

    /// A plot with its box given as (left, top, right, bottom).
    pub fn with_edges(
        width: f64,
        height: f64,
        (left, top, right, bottom): (f64, f64, f64, f64),
        start_ms: i64,
        end_ms: i64,
    ) -> Plot {
        debug_assert!(right > left, "BUG: plot box {left}..{right}");
        debug_assert!(bottom > top, "BUG: plot box {top}..{bottom}");
        let span_ms = (end_ms as f64 - start_ms as f64).max(1.0);
        Plot {
            width,
            height,
            left,
            top,
            right,
            bottom,
            start_ms,
            end_ms,
            px_per_ms: (right - left) / span_ms,
        }
    }

    pub fn plot_width(&self) -> f64 {
        self.right - self.left
    }

    pub fn plot_height(&self) -> f64 {
        self.bottom - self.top
    }

    /// The x of `at_ms`.
    pub fn x(&self, at_ms: i64) -> f64 {
        // In f64, not i64: a sparkline's points may span all of i64, and at Unix
        // times in ms f64 is exact to a fraction of a millisecond.
        self.left + (at_ms as f64 - self.start_ms as f64) * self.px_per_ms
    }

    /// The mapping of values on `axis` to y.
    pub fn value_scale(&self, axis: &Axis) -> ValueScale {
        let (origin, span) = if axis.log {
            (axis.lo.log10(), axis.hi.log10() - axis.lo.log10())
        } else {
            // Halves: `hi - lo` overflows for ranges wider than f64::MAX.
            (axis.lo * 0.5, axis.hi * 0.5 - axis.lo * 0.5)
        };
        let px_per_unit = self.plot_height() / span;
        ValueScale {
            log: axis.log,
            origin,
            // A range of subnormals has no usable scale: draw it flat at the bottom.
            px_per_unit: if px_per_unit.is_finite() {
                px_per_unit
            } else {
                0.0
            },
            top: self.top,
            bottom: self.bottom,
        }
    }
}

/// Values to y, precomputed for the per-point loop: two multiplications a point.
#[derive(Clone, Copy, Debug)]
pub(super) struct ValueScale {
    log: bool,
    origin: f64,
    px_per_unit: f64,
    top: f64,
    bottom: f64,
}

impl ValueScale {
    /// The y of `value`, kept within a pixel of the plot so that values off the
    /// axis (a stack's zero base on a log axis, -inf) stay at its edge.
    pub fn y(&self, value: f64) -> f64 {
        let offset = if self.log {
            value.log10() - self.origin
        } else {
            value * 0.5 - self.origin
        };
        let y = self.bottom - offset * self.px_per_unit;
        if y.is_nan() {
            // An infinite stack on a flat scale (inf × 0).
            return self.bottom;
        }
        y.clamp(self.top - 1.0, self.bottom + 1.0)
    }
}

/// Opens the `<svg>` with its title and description, named by `id` for screen
/// readers. `summary` writes the generated part of the description.
pub(super) fn open_svg(
    out: &mut String,
    plot: &Plot,
    id: &str,
    title: &str,
    description: &str,
    summary: impl FnOnce(&mut String),
) {
    out.push_str(r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 "#);
    push_num(out, plot.width);
    out.push(' ');
    push_num(out, plot.height);
    out.push_str(r#"" width=""#);
    push_num(out, plot.width);
    out.push_str(r#"" height=""#);
    push_num(out, plot.height);
    out.push_str(r#"" role="img" aria-labelledby=""#);
    out.push_str(id);
    out.push_str("-t ");
    out.push_str(id);
    out.push_str(r#"-d" font-size="11"><title id=""#);
    out.push_str(id);
    out.push_str(r#"-t">"#);
    escape_into(out, title);
    out.push_str(r#"</title><desc id=""#);
    out.push_str(id);
    out.push_str(r#"-d">"#);
    escape_into(out, description);
    if !description.is_empty() {
        out.push_str(" — ");
    }
    summary(out);
    out.push_str("</desc>");
}

pub(super) fn close_svg(out: &mut String) {
    out.push_str("</svg>");
}

/// Grid lines at the time ticks and at `value_labels` (y, text), the axis line, and
/// the labels themselves.
pub(super) fn write_axes(
    out: &mut String,
    plot: &Plot,
    time_ticks: &[TimeTick],
    value_labels: &[(f64, &str)],
) {
    out.push_str(r#"<path stroke="currentColor" stroke-opacity=".13" d=""#);
    for tick in time_ticks {
        out.push('M');
        push_num(out, plot.x(tick.at_ms));
        out.push(' ');
        push_num(out, plot.top);
        out.push('V');
        push_num(out, plot.bottom);
    }
    for (y, _) in value_labels {
        out.push('M');
        push_num(out, plot.left);
        out.push(' ');
        push_num(out, *y);
        out.push('H');
        push_num(out, plot.right);
    }
    out.push_str(r#""/><path stroke="currentColor" stroke-opacity=".4" d="M"#);
    push_num(out, plot.left);
    out.push(' ');
    push_num(out, plot.bottom);
    out.push('H');
    push_num(out, plot.right);
    out.push_str(r#""/><g fill="currentColor" fill-opacity=".75"><g text-anchor="end">"#);
    for (y, label) in value_labels {
        write_text(out, plot.left - LABEL_PAD_PX, y + 3.5, None, label);
    }
    out.push_str(r#"</g><g text-anchor="middle">"#);
    let baseline = plot.height - 6.0;
    for tick in time_ticks {
        let x = plot.x(tick.at_ms);
        let half = tick.label.chars().count() as f64 * CHAR_PX / 2.0;
        // Labels at the edges are pulled inside the chart rather than cut off.
        if x + half > plot.width {
            write_text(out, plot.width - 1.0, baseline, Some("end"), &tick.label);
        } else if x - half < 0.0 {
            write_text(out, 1.0, baseline, Some("start"), &tick.label);
        } else {
            write_text(out, x, baseline, None, &tick.label);
        }
    }
    out.push_str("</g></g>");
}

/// A `<text>` element; `anchor` overrides the group's `text-anchor`.
pub(super) fn write_text(out: &mut String, x: f64, y: f64, anchor: Option<&str>, text: &str) {
    out.push_str("<text x=\"");
    push_num(out, x);
    out.push_str("\" y=\"");
    push_num(out, y);
    if let Some(anchor) = anchor {
        out.push_str("\" text-anchor=\"");
        out.push_str(anchor);
    }
    out.push_str("\">");
    escape_into(out, text);
    out.push_str("</text>");
}

/// A message in the middle of the plot: "no data", "invalid time range".
pub(super) fn write_message(out: &mut String, plot: &Plot, message: &str) {
    out.push_str(r#"<g fill="currentColor" fill-opacity=".65" font-size="13">"#);
    let x = (plot.left + plot.right) / 2.0;
    let y = (plot.top + plot.bottom) / 2.0 + 4.0;
    write_text(out, x, y, Some("middle"), message);
    out.push_str("</g>");
}

/// A chart with only a message, for input that cannot be drawn (an invalid range).
pub(super) fn message_chart(options: &ChartOptions, id: &str, message: &str) -> String {
    let plot = Plot::new(options.width, options.height, 0, 0, 1);
    let mut out = String::with_capacity(512);
    open_svg(
        &mut out,
        &plot,
        id,
        &options.title,
        &options.description,
        |out| out.push_str(message),
    );
    write_message(&mut out, &plot, message);
    close_svg(&mut out);
    out
}
