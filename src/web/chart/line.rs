//! Line and stacked-area charts.
//! Owns: gap rules (a point more than 1.5 steps after the previous one, a NaN or an
//! infinity, a non-positive value on a log axis, a point missing from a stack),
//! downsampling to the pixel grid, stacking, threshold lines and alert shades.
//! Does not: format values (`format`), choose ticks (`ticks`), pick colours
//! (`palette`).

use super::align;
use super::format::write_value;
use super::frame::{self, Plot};
use super::palette::{self, PALETTE, SHADE_COLOR};
use super::svg::{IdHasher, PathData, escape_into, push_num, tenths};
use super::ticks::{self, Axis};
use super::{ChartOptions, ChartSeries, SPAN_MS_MAX, Shade, Threshold, step_for_width};
use std::fmt::Write;

/// Output reserved up front, per point: a relative line segment is 5–9 bytes.
const BYTES_PER_POINT: usize = 8;
/// At most this much reserved up front, whatever the input claims.
const RESERVE_BYTES_MAX: usize = 1 << 20;

pub(super) fn render(series: &[ChartSeries], options: &ChartOptions) -> String {
    let id = chart_id(series, options);
    if !ticks::valid_range(options.start_ms, options.end_ms) {
        return frame::message_chart(options, &id, "invalid time range");
    }
    let step_ms = effective_step_ms(options);
    let stack = options
        .stacked
        .then(|| Stack::new(series, options, step_ms));
    let (min, max) = match &stack {
        Some(stack) => stack.extent(options.log_scale),
        None => lines_extent(series, options),
    };
    let drawable = min <= max;
    let (min, max) = thresholds_extent(&options.thresholds, options.log_scale, min, max);
    let probe = Plot::new(
        options.width,
        options.height,
        0,
        options.start_ms,
        options.end_ms,
    );
    let axis = if options.log_scale {
        ticks::log_axis(min, max, options.unit, probe.plot_height())
    } else {
        ticks::linear_axis(min, max, options.unit, probe.plot_height())
    };
    let label_chars = axis
        .ticks
        .iter()
        .map(|tick| tick.label.chars().count())
        .max()
        .unwrap_or(0);
    let plot = Plot::new(
        options.width,
        options.height,
        label_chars,
        options.start_ms,
        options.end_ms,
    );
    let time_ticks = ticks::time_ticks(options.start_ms, options.end_ms, plot.plot_width());
    let scale = plot.value_scale(&axis);
    let value_labels: Vec<(f64, &str)> = axis
        .ticks
        .iter()
        .map(|tick| (scale.y(tick.value), tick.label.as_str()))
        .collect();

    let points: usize = series.iter().map(|one| one.points.len()).sum();
    let mut out = String::with_capacity((4096 + points * BYTES_PER_POINT).min(RESERVE_BYTES_MAX));
    frame::open_svg(
        &mut out,
        &plot,
        &id,
        &options.title,
        &options.description,
        |out| write_summary(out, series.len(), drawable, options),
    );
    frame::write_axes(&mut out, &plot, &time_ticks, &value_labels);
    write_shades(&mut out, &plot, &options.shades);
    let colors = palette::assign(series);
    match &stack {
        _ if !drawable => frame::write_message(&mut out, &plot, "no data"),
        Some(stack) => stack.write(&mut out, &plot, &axis, series, &colors),
        None => write_lines(&mut out, &plot, &axis, series, &colors, step_ms, options),
    }
    write_thresholds(&mut out, &plot, &axis, &options.thresholds);
    frame::close_svg(&mut out);
    out
}

/// The step gaps are measured against: the options' step, or if unset the step the
/// query would have used.
fn effective_step_ms(options: &ChartOptions) -> i64 {
    let step_ms = if options.step_ms > 0 {
        options.step_ms
    } else {
        step_for_width(options.start_ms, options.end_ms, options.width)
    };
    // Bounded so that `3 * step` cannot overflow.
    step_ms.min(SPAN_MS_MAX)
}

/// Whether a point `at_ms` after one at `previous_ms` starts a new segment.
fn is_gap(previous_ms: i64, at_ms: i64, step_ms: i64) -> bool {
    // Both times are within the chart's (valid) range: no overflow.
    at_ms < previous_ms || 2 * (at_ms - previous_ms) > 3 * step_ms
}

/// Whether `value` can be drawn at all.
fn is_drawable(value: f64, log_scale: bool) -> bool {
    value.is_finite() && (!log_scale || value > 0.0)
}

fn chart_id(series: &[ChartSeries], options: &ChartOptions) -> String {
    let mut hasher = IdHasher::new("line");
    hash_options(&mut hasher, options);
    for one in series {
        hasher.write_str(&one.name);
        hasher.write_points(&one.points);
    }
    hasher.finish()
}

pub(super) fn hash_options(hasher: &mut IdHasher, options: &ChartOptions) {
    hasher.write_str(&options.title);
    hasher.write_str(&options.description);
    for number in [
        i64::from(options.width),
        i64::from(options.height),
        options.start_ms,
        options.end_ms,
        options.step_ms,
        options.unit as i64,
        i64::from(options.stacked),
        i64::from(options.log_scale),
    ] {
        hasher.write_u64(number as u64);
    }
    for threshold in &options.thresholds {
        hasher.write_u64(threshold.value.to_bits());
        hasher.write_u64(threshold.level as u64);
        hasher.write_str(threshold.label.as_deref().unwrap_or(""));
    }
    for shade in &options.shades {
        hasher.write_u64(shade.start_ms as u64);
        hasher.write_u64(shade.end_ms as u64);
        hasher.write_str(&shade.label);
    }
}

/// The generated part of the description: what a sighted reader sees at a glance.
fn write_summary(out: &mut String, series_count: usize, drawable: bool, options: &ChartOptions) {
    if !drawable {
        out.push_str("no data, ");
    }
    let _ = write!(out, "{series_count} series, ");
    ticks::write_range(out, options.start_ms, options.end_ms);
    // A few thresholds say what the lines mean; a dozen would drown the summary.
    let drawn = (options.thresholds.iter())
        .filter(|threshold| is_drawable(threshold.value, options.log_scale));
    for (shown, threshold) in drawn.take(4).enumerate() {
        out.push_str(if shown == 0 { "; threshold " } else { ", " });
        write_value(out, threshold.value, options.unit);
    }
    // Shades say their label on hover only: screen readers get them here.
    let shades = visible_shades(&options.shades, options.start_ms, options.end_ms);
    for (shown, shade) in shades.take(4).enumerate() {
        out.push_str(if shown == 0 { "; shaded: " } else { ", " });
        escape_into(out, &shade.label);
        out.push_str(" (");
        ticks::write_clock(out, shade.start_ms.max(options.start_ms));
        out.push('–');
        ticks::write_clock(out, shade.end_ms.min(options.end_ms));
        out.push(')');
    }
}

/// The shades that overlap `[start_ms, end_ms]` (and are not reversed).
fn visible_shades(shades: &[Shade], start_ms: i64, end_ms: i64) -> impl Iterator<Item = &Shade> {
    shades.iter().filter(move |shade| {
        shade.start_ms <= shade.end_ms && shade.end_ms >= start_ms && shade.start_ms <= end_ms
    })
}

/// Smallest and largest drawable value in range (min > max when there is none).
fn lines_extent(series: &[ChartSeries], options: &ChartOptions) -> (f64, f64) {
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for one in series {
        for (at_ms, value) in &one.points {
            let in_range = (options.start_ms..=options.end_ms).contains(at_ms);
            if in_range && is_drawable(*value, options.log_scale) {
                min = min.min(*value);
                max = max.max(*value);
            }
        }
    }
    (min, max)
}

/// The extent widened to show every threshold; without data, the thresholds alone.
fn thresholds_extent(thresholds: &[Threshold], log_scale: bool, min: f64, max: f64) -> (f64, f64) {
    let (mut min, mut max) = (min, max);
    for threshold in thresholds {
        if is_drawable(threshold.value, log_scale) {
            min = min.min(threshold.value);
            max = max.max(threshold.value);
        }
    }
    if min > max {
        // Nothing at all: the axis' defaults.
        return (f64::NAN, f64::NAN);
    }
    (min, max)
}

fn write_shades(out: &mut String, plot: &Plot, shades: &[Shade]) {
    if visible_shades(shades, plot.start_ms, plot.end_ms)
        .next()
        .is_none()
    {
        return;
    }
    out.push_str(r#"<g fill=""#);
    out.push_str(SHADE_COLOR);
    out.push_str(r#"" fill-opacity=".13">"#);
    for shade in visible_shades(shades, plot.start_ms, plot.end_ms) {
        let x_start = plot.x(shade.start_ms.max(plot.start_ms));
        let x_end = plot.x(shade.end_ms.min(plot.end_ms));
        // An alert that fired for less than a pixel still shows.
        let width = (x_end - x_start).max(1.0);
        out.push_str("<rect x=\"");
        push_num(out, x_start);
        out.push_str("\" y=\"");
        push_num(out, plot.top);
        out.push_str("\" width=\"");
        push_num(out, width);
        out.push_str("\" height=\"");
        push_num(out, plot.plot_height());
        out.push_str("\"><title>");
        escape_into(out, &shade.label);
        out.push_str("</title></rect>");
    }
    out.push_str("</g>");
}

fn write_thresholds(out: &mut String, plot: &Plot, axis: &Axis, thresholds: &[Threshold]) {
    for threshold in thresholds {
        if !is_drawable(threshold.value, axis.log) {
            continue;
        }
        let color = palette::level_color(threshold.level);
        let y = plot.value_scale(axis).y(threshold.value);
        out.push_str(r#"<path stroke=""#);
        out.push_str(color);
        out.push_str(r#"" stroke-dasharray="5 3" d="M"#);
        push_num(out, plot.left);
        out.push(' ');
        push_num(out, y);
        out.push('H');
        push_num(out, plot.right);
        out.push_str("\"/>");
        if let Some(label) = &threshold.label {
            // Above the line, or below it when the line is at the top of the plot.
            let label_y = if y - 4.0 < plot.top + 9.0 {
                y + 11.0
            } else {
                y - 4.0
            };
            out.push_str(r#"<text fill=""#);
            out.push_str(color);
            out.push_str(r#"" font-size="10" text-anchor="end" x=""#);
            push_num(out, plot.right - 2.0);
            out.push_str("\" y=\"");
            push_num(out, label_y);
            out.push_str("\">");
            escape_into(out, label);
            out.push_str("</text>");
        }
    }
}

fn write_lines(
    out: &mut String,
    plot: &Plot,
    axis: &Axis,
    series: &[ChartSeries],
    colors: &[usize],
    step_ms: i64,
    options: &ChartOptions,
) {
    out.push_str(r#"<g fill="none" stroke-width="1.5" stroke-linejoin="round">"#);
    let scale = plot.value_scale(axis);
    let mut dots = String::new();
    for (one, color) in series.iter().zip(colors) {
        let color = PALETTE[*color];
        let element_start = out.len();
        out.push_str(r#"<path stroke=""#);
        out.push_str(color);
        out.push_str(r#"" d=""#);
        let data_start = out.len();
        dots.clear();
        let mut line = LineDrawer::new();
        let mut previous_ms = None;
        for (at_ms, value) in &one.points {
            if !(options.start_ms..=options.end_ms).contains(at_ms) {
                line.end_segment(out, &mut dots);
                previous_ms = None;
                continue;
            }
            let drawable = is_drawable(*value, options.log_scale);
            let gap = previous_ms.is_some_and(|previous| is_gap(previous, *at_ms, step_ms));
            if gap || !drawable {
                line.end_segment(out, &mut dots);
            }
            previous_ms = Some(*at_ms);
            if drawable {
                line.push(out, plot.x(*at_ms), scale.y(*value));
            }
        }
        line.end_segment(out, &mut dots);
        close_or_drop(out, element_start, data_start, &one.name);
        write_dots(out, &dots, color);
    }
    out.push_str("</g>");
}

/// Isolated points as round caps of zero-length lines: one element for all of a
/// series' dots, none per point.
pub(super) fn write_dots(out: &mut String, dots: &str, color: &str) {
    if dots.is_empty() {
        return;
    }
    out.push_str(r#"<path stroke=""#);
    out.push_str(color);
    out.push_str(r#"" stroke-width="3" stroke-linecap="round" d=""#);
    out.push_str(dots);
    out.push_str("\"/>");
}

fn push_dot(dots: &mut String, x: f64, y: f64) {
    dots.push('M');
    push_num(dots, x);
    dots.push(' ');
    push_num(dots, y);
    dots.push_str("h0");
}

/// Draws one series' segments, keeping at most the lowest and the highest point of
/// each pixel column (in time order) so that a one-sample spike stays visible
/// however many points share its pixel. Points are converted to tenths once, on
/// arrival: everything after is integer work.
pub(super) struct LineDrawer {
    path: PathData,
    column: Option<Column>,
    /// The segment's first point, until a second distinct one lets us write it (so
    /// that a lone point becomes a dot, not a bare `M`).
    pending_move: Option<(i64, i64)>,
    started: bool,
    sequence: u64,
    /// Where the current segment's path data starts in the output, and its first x,
    /// once its `M` is written (a sparkline closes the segment into an area).
    segment: Option<(usize, f64)>,
}

/// The points of one pixel column so far: (sequence, x, y) in tenths, y growing
/// downwards.
#[derive(Clone, Copy)]
struct Column {
    index: i64,
    top: (u64, i64, i64),
    bottom: (u64, i64, i64),
}

impl LineDrawer {
    pub fn new() -> LineDrawer {
        LineDrawer {
            path: PathData::new(),
            column: None,
            pending_move: None,
            started: false,
            sequence: 0,
            segment: None,
        }
    }

    pub fn push(&mut self, out: &mut String, x: f64, y: f64) {
        debug_assert!(x.is_finite() && y.is_finite(), "BUG: point ({x}, {y})");
        let (x, y) = (tenths(x), tenths(y));
        // Columns of the viewBox's pixels (x ≥ 0 inside any chart).
        let index = x.div_euclid(10);
        let point = (self.sequence, x, y);
        self.sequence += 1;
        match &mut self.column {
            Some(column) if column.index == index => {
                if y < column.top.2 {
                    column.top = point;
                }
                if y > column.bottom.2 {
                    column.bottom = point;
                }
            }
            _ => {
                self.write_column(out);
                self.column = Some(Column {
                    index,
                    top: point,
                    bottom: point,
                });
            }
        }
    }

    fn write_column(&mut self, out: &mut String) {
        let Some(column) = self.column.take() else {
            return;
        };
        let (first, second) = if column.top.0 <= column.bottom.0 {
            (column.top, column.bottom)
        } else {
            (column.bottom, column.top)
        };
        self.write_point(out, first.1, first.2);
        if second.0 != first.0 {
            self.write_point(out, second.1, second.2);
        }
    }

    fn write_point(&mut self, out: &mut String, x: i64, y: i64) {
        if let Some((move_x, move_y)) = self.pending_move {
            if (move_x, move_y) == (x, y) {
                return;
            }
            self.segment = Some((out.len(), move_x as f64 / 10.0));
            self.path.move_to_tenths(out, move_x, move_y);
            self.pending_move = None;
            self.path.line_to_tenths(out, x, y);
        } else if self.started {
            self.path.line_to_tenths(out, x, y);
        } else {
            self.pending_move = Some((x, y));
            self.started = true;
        }
    }

    /// Ends the segment: a lone point goes to `dots`. Returns where the segment's
    /// path data starts in `out` and its first x, if it drew a line.
    pub fn end_segment(&mut self, out: &mut String, dots: &mut String) -> Option<(usize, f64)> {
        self.write_column(out);
        self.path.flush(out);
        if let Some((x, y)) = self.pending_move.take() {
            push_dot(dots, x as f64 / 10.0, y as f64 / 10.0);
        }
        self.started = false;
        self.segment.take()
    }
}

/// Series stacked in order on the union of their timestamps. A series missing at a
/// timestamp adds nothing to the stack there and its own line and area break.
struct Stack {
    times_ms: Vec<i64>,
    /// Whether a gap (more than 1.5 steps) comes before each time.
    gap_before: Vec<bool>,
    /// `values[series * times + time]`; NaN where the series has nothing to draw.
    values: Vec<f64>,
    series_count: usize,
}

impl Stack {
    fn new(series: &[ChartSeries], options: &ChartOptions, step_ms: i64) -> Stack {
        let lists = series.iter().map(|one| one.points.as_slice());
        let times_ms = align::union_times(lists, options.start_ms, options.end_ms);
        let count = times_ms.len();
        let mut values = vec![f64::NAN; series.len() * count];
        for (index, one) in series.iter().enumerate() {
            let row = &mut values[index * count..(index + 1) * count];
            let mut locator = align::Locator::new(&times_ms);
            for (at_ms, value) in &one.points {
                if let Some(at) = locator.find(*at_ms)
                    && is_drawable(*value, options.log_scale)
                {
                    row[at] = *value;
                }
            }
        }
        let gap_before = (0..count)
            .map(|at| at > 0 && is_gap(times_ms[at - 1], times_ms[at], step_ms))
            .collect();
        Stack {
            times_ms,
            gap_before,
            values,
            series_count: series.len(),
        }
    }

    fn row(&self, series: usize) -> &[f64] {
        let count = self.times_ms.len();
        &self.values[series * count..(series + 1) * count]
    }

    /// Smallest and largest edge of any band (min > max when nothing is drawable).
    fn extent(&self, log_scale: bool) -> (f64, f64) {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut running = vec![0.0; self.times_ms.len()];
        for series in 0..self.series_count {
            for (at, value) in self.row(series).iter().enumerate() {
                if value.is_nan() {
                    continue;
                }
                let base = running[at];
                let top = base + value;
                running[at] = top;
                if !top.is_finite() {
                    continue;
                }
                if !log_scale {
                    min = min.min(base);
                }
                min = min.min(top);
                max = max.max(top);
            }
        }
        (min, max)
    }

    /// Which times to draw: all of them, or when there are more than pixel columns,
    /// the one with the highest stack in each column (so the sum's spikes show).
    fn keep(&self, plot: &Plot) -> Vec<bool> {
        let count = self.times_ms.len();
        if (count as f64) <= plot.plot_width() {
            return vec![true; count];
        }
        let mut keep = vec![false; count];
        let mut best: Option<(i64, usize, f64)> = None;
        for at in 0..count {
            let total: f64 = (0..self.series_count)
                .map(|series| self.values[series * count + at])
                .filter(|value| !value.is_nan())
                .sum();
            let column = (plot.x(self.times_ms[at]) - plot.left).floor() as i64;
            match best {
                Some((best_column, _, best_total)) if best_column == column => {
                    if total > best_total {
                        best = Some((column, at, total));
                    }
                }
                _ => {
                    if let Some((_, kept, _)) = best {
                        keep[kept] = true;
                    }
                    best = Some((column, at, total));
                }
            }
        }
        if let Some((_, kept, _)) = best {
            keep[kept] = true;
        }
        keep
    }

    /// Areas first (all series), then the lines on top of them.
    fn write(
        &self,
        out: &mut String,
        plot: &Plot,
        axis: &Axis,
        series: &[ChartSeries],
        colors: &[usize],
    ) {
        let series_names: Vec<&str> = series.iter().map(|one| one.name.as_str()).collect();
        let keep = self.keep(plot);
        let scale = plot.value_scale(axis);
        let mut running = vec![0.0; self.times_ms.len()];
        let mut lines = String::new();
        let mut dots = String::new();
        let mut bases: Vec<(f64, f64)> = Vec::new();
        out.push_str(r#"<g fill-opacity=".3" stroke="none">"#);
        for (series, color) in colors.iter().enumerate().take(self.series_count) {
            let color = PALETTE[*color];
            let area_start = out.len();
            out.push_str(r#"<path fill=""#);
            out.push_str(color);
            out.push_str(r#"" d=""#);
            let area_data = out.len();
            let line_start = lines.len();
            lines.push_str(r#"<path stroke=""#);
            lines.push_str(color);
            lines.push_str(r#"" d=""#);
            let line_data = lines.len();
            dots.clear();
            let mut band = Band::new();
            let mut broken = true;
            for (at, value) in self.row(series).iter().enumerate() {
                if self.gap_before[at] || value.is_nan() {
                    broken = true;
                }
                if value.is_nan() || !keep[at] {
                    continue;
                }
                if broken {
                    band.end(out, &mut lines, &mut dots, &bases);
                    bases.clear();
                    broken = false;
                }
                let base = running[at];
                let top = base + value;
                let x = plot.x(self.times_ms[at]);
                let y_top = scale.y(top);
                bases.push((x, scale.y(base)));
                band.push(out, &mut lines, x, y_top);
            }
            band.end(out, &mut lines, &mut dots, &bases);
            bases.clear();
            // The running sums move up only after the series is drawn.
            for (at, value) in self.row(series).iter().enumerate() {
                if !value.is_nan() {
                    running[at] += value;
                }
            }
            let name = &series_names[series];
            close_or_drop(out, area_start, area_data, name);
            close_or_drop(&mut lines, line_start, line_data, name);
            if !dots.is_empty() {
                write_dots(&mut lines, &dots, color);
            }
        }
        out.push_str(r#"</g><g fill="none" stroke-width="1.5" stroke-linejoin="round">"#);
        out.push_str(&lines);
        out.push_str("</g>");
    }
}

/// Ends a `<path … d="` opened at `element_start` with the series name as its
/// tooltip, or removes it if no data followed.
fn close_or_drop(out: &mut String, element_start: usize, data_start: usize, name: &str) {
    if out.len() == data_start {
        out.truncate(element_start);
    } else if name.is_empty() {
        out.push_str("\"/>");
    } else {
        out.push_str("\"><title>");
        escape_into(out, name);
        out.push_str("</title></path>");
    }
}

/// One stacked segment: its top line, and its area (the top forwards, the base back).
struct Band {
    area: PathData,
    line: PathData,
    points: usize,
    first: (f64, f64),
}

impl Band {
    fn new() -> Band {
        Band {
            area: PathData::new(),
            line: PathData::new(),
            points: 0,
            first: (0.0, 0.0),
        }
    }

    fn push(&mut self, out: &mut String, lines: &mut String, x: f64, y: f64) {
        if self.points == 0 {
            self.first = (x, y);
        } else {
            if self.points == 1 {
                self.area.move_to(out, self.first.0, self.first.1);
                self.line.move_to(lines, self.first.0, self.first.1);
            }
            self.area.line_to(out, x, y);
            self.line.line_to(lines, x, y);
        }
        self.points += 1;
    }

    fn end(
        &mut self,
        out: &mut String,
        lines: &mut String,
        dots: &mut String,
        bases: &[(f64, f64)],
    ) {
        match self.points {
            0 => {}
            1 => push_dot(dots, self.first.0, self.first.1),
            _ => {
                for (x, y) in bases.iter().rev() {
                    self.area.line_to(out, *x, *y);
                }
                self.area.flush(out);
                out.push('z');
                self.line.flush(lines);
            }
        }
        self.points = 0;
    }
}
