//! Heatmaps of classic histograms: one row per bucket, one column per step (or per
//! few steps on a narrow chart), shaded by the bucket's share of its column.
//! Owns: bucket order, column merging, intensity levels.
//! Does not: query, or de-cumulate `le` counts: the caller passes per-bucket rates
//! (the contract the dashboards page was written against).

use super::align;
use super::format::write_value;
use super::frame::{self, Plot};
use super::line::hash_options;
use super::svg::{IdHasher, push_num};
use super::{ChartOptions, HEATMAP_BUCKETS_MAX, SPAN_MS_MAX, step_for_width, ticks};
use std::fmt::Write;

/// Intensity levels: one `<path>` each, so a heatmap is a handful of elements
/// however many cells it has. Six are as many as the eye tells apart in one hue.
const LEVELS: usize = 6;
/// The opacity of each level, 1/6 to 6/6.
const OPACITIES: [&str; LEVELS] = [".17", ".33", ".5", ".67", ".83", "1"];
/// Narrowest column: on a narrow chart, neighbouring steps merge into one column.
const COLUMN_PX_MIN: f64 = 3.0;
/// Vertical space wanted per bucket label.
const ROW_LABEL_PX: f64 = 13.0;
/// One hue (vermillion), readable at every opacity on light and dark backgrounds.
const HEAT_COLOR: &str = "#d55e00";

pub(super) fn render(buckets: &[(f64, Vec<(i64, f64)>)], options: &ChartOptions) -> String {
    let id = heatmap_id(buckets, options);
    if !ticks::valid_range(options.start_ms, options.end_ms) {
        return frame::message_chart(options, &id, "invalid time range");
    }
    let bounds = sorted_bounds(buckets);
    if bounds.len() > HEATMAP_BUCKETS_MAX {
        return frame::message_chart(options, &id, "too many buckets");
    }
    let grid = Grid::new(buckets, &bounds, options);
    let labels: Vec<String> = bounds
        .iter()
        .map(|index| {
            let mut label = String::new();
            write_value(&mut label, buckets[*index].0, options.unit);
            label
        })
        .collect();
    let label_chars = labels.iter().map(|label| label.chars().count()).max();
    let plot = Plot::new(
        options.width,
        options.height,
        label_chars.unwrap_or(0),
        options.start_ms,
        options.end_ms,
    );
    let time_ticks = ticks::time_ticks(options.start_ms, options.end_ms, plot.plot_width());
    let row_px = plot.plot_height() / bounds.len().max(1) as f64;
    let every = (ROW_LABEL_PX / row_px).ceil().max(1.0) as usize;
    // The top bound (+Inf) is always labelled; then every few bounds downwards.
    let value_labels: Vec<(f64, &str)> = (0..labels.len())
        .rev()
        .step_by(every)
        .map(|row| {
            (
                plot.bottom - (row + 1) as f64 * row_px,
                labels[row].as_str(),
            )
        })
        .collect();

    let mut out = String::with_capacity(8192);
    let drawable = grid.has_counts();
    frame::open_svg(
        &mut out,
        &plot,
        &id,
        &options.title,
        &options.description,
        |out| {
            if !drawable {
                out.push_str("no data, ");
            }
            let _ = write!(out, "histogram of {} buckets, ", bounds.len());
            ticks::write_range(out, options.start_ms, options.end_ms);
            out.push_str("; darker cells hold more of their column's observations");
        },
    );
    frame::write_axes(&mut out, &plot, &time_ticks, &value_labels);
    if drawable {
        grid.write(&mut out, &plot, row_px);
    } else {
        frame::write_message(&mut out, &plot, "no data");
    }
    frame::close_svg(&mut out);
    out
}

fn heatmap_id(buckets: &[(f64, Vec<(i64, f64)>)], options: &ChartOptions) -> String {
    let mut hasher = IdHasher::new("heatmap");
    hash_options(&mut hasher, options);
    for (le, points) in buckets {
        hasher.write_u64(le.to_bits());
        hasher.write_points(points);
    }
    hasher.finish()
}

/// Indices of `buckets` by ascending bound, NaN bounds and repeated bounds dropped.
fn sorted_bounds(buckets: &[(f64, Vec<(i64, f64)>)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..buckets.len())
        .filter(|index| !buckets[*index].0.is_nan())
        .collect();
    order.sort_by(|a, b| buckets[*a].0.total_cmp(&buckets[*b].0));
    order.dedup_by(|a, b| buckets[*a].0 == buckets[*b].0);
    order
}

/// Per-bucket counts on the union of the buckets' timestamps.
struct Grid {
    times_ms: Vec<i64>,
    /// `counts[row * times + time]`: the bucket's rate, NaN where unknown.
    counts: Vec<f64>,
    rows: usize,
    step_ms: i64,
}

impl Grid {
    fn new(buckets: &[(f64, Vec<(i64, f64)>)], bounds: &[usize], options: &ChartOptions) -> Grid {
        let lists = bounds.iter().map(|index| buckets[*index].1.as_slice());
        let times_ms = align::union_times(lists, options.start_ms, options.end_ms);
        let count = times_ms.len();
        let mut counts = vec![f64::NAN; bounds.len() * count];
        for (row, index) in bounds.iter().enumerate() {
            let mut locator = align::Locator::new(&times_ms);
            for (at_ms, value) in &buckets[*index].1 {
                if let Some(at) = locator.find(*at_ms)
                    && value.is_finite()
                {
                    counts[row * count + at] = value.max(0.0);
                }
            }
        }
        let step_ms = if options.step_ms > 0 {
            options.step_ms.min(SPAN_MS_MAX)
        } else {
            step_for_width(options.start_ms, options.end_ms, options.width)
        };
        Grid {
            times_ms,
            counts,
            rows: bounds.len(),
            step_ms,
        }
    }

    fn has_counts(&self) -> bool {
        self.counts.iter().any(|count| *count > 0.0)
    }

    /// Cells by level, each level one path of rectangles, neighbouring cells of a row
    /// with the same level merged into one rectangle.
    fn write(&self, out: &mut String, plot: &Plot, row_px: f64) {
        let times = self.times_ms.len();
        let columns_max = (plot.plot_width() / COLUMN_PX_MIN).floor().max(1.0) as usize;
        let per_column = times.div_ceil(columns_max).max(1);
        let columns = times.div_ceil(per_column);
        let mut spans = Vec::with_capacity(columns);
        let mut levels = vec![0u8; columns * self.rows];
        let mut sums = vec![f64::NAN; self.rows];
        for column in 0..columns {
            let first = column * per_column;
            let last = (first + per_column).min(times) - 1;
            // A rate at t describes the step that ends at t.
            let x_start = plot.x((self.times_ms[first] - self.step_ms).max(plot.start_ms));
            spans.push((x_start, plot.x(self.times_ms[last])));
            for (row, sum) in sums.iter_mut().enumerate() {
                let cells = &self.counts[row * times + first..=row * times + last];
                *sum = cells.iter().filter(|count| !count.is_nan()).sum();
            }
            let largest = sums.iter().copied().fold(0.0, f64::max);
            for (row, sum) in sums.iter().enumerate() {
                if *sum > 0.0 && largest > 0.0 {
                    let level = (sum / largest * LEVELS as f64)
                        .ceil()
                        .clamp(1.0, LEVELS as f64);
                    levels[row * columns + column] = level as u8;
                }
            }
        }
        out.push_str(r#"<g fill=""#);
        out.push_str(HEAT_COLOR);
        out.push_str("\">");
        for level in 1..=LEVELS as u8 {
            let element_start = out.len();
            out.push_str(r#"<path fill-opacity=""#);
            out.push_str(OPACITIES[usize::from(level) - 1]);
            out.push_str(r#"" d=""#);
            let data_start = out.len();
            for row in 0..self.rows {
                let y = plot.bottom - (row + 1) as f64 * row_px;
                let mut run: Option<(f64, f64)> = None;
                for column in 0..columns {
                    let (x_start, x_end) = spans[column];
                    if levels[row * columns + column] != level {
                        write_rect(out, run.take(), y, row_px);
                        continue;
                    }
                    run = match run {
                        Some((start, end)) if (x_start - end).abs() < 0.5 => Some((start, x_end)),
                        other => {
                            write_rect(out, other, y, row_px);
                            Some((x_start, x_end))
                        }
                    };
                }
                write_rect(out, run, y, row_px);
            }
            if out.len() == data_start {
                out.truncate(element_start);
            } else {
                out.push_str("\"/>");
            }
        }
        out.push_str("</g>");
    }
}

fn write_rect(out: &mut String, run: Option<(f64, f64)>, y: f64, height: f64) {
    let Some((x_start, x_end)) = run else {
        return;
    };
    out.push('M');
    push_num(out, x_start);
    out.push(' ');
    push_num(out, y);
    out.push('h');
    push_num(out, (x_end - x_start).max(1.0));
    out.push('v');
    push_num(out, height);
    out.push('H');
    push_num(out, x_start);
    out.push('z');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::chart::{Unit, heatmap};

    /// 2026-12-05T12:00:00Z.
    const NOON_MS: i64 = 1_796_472_000_000;

    fn options() -> ChartOptions {
        ChartOptions {
            title: "Latency".to_string(),
            description: String::new(),
            width: 600,
            height: 200,
            start_ms: NOON_MS,
            end_ms: NOON_MS + 600_000,
            step_ms: 60_000,
            unit: Unit::Seconds,
            stacked: false,
            log_scale: false,
            thresholds: Vec::new(),
            shades: Vec::new(),
        }
    }

    fn bucket(le: f64, values: &[f64]) -> (f64, Vec<(i64, f64)>) {
        let points = values
            .iter()
            .enumerate()
            .map(|(i, value)| (NOON_MS + 60_000 * (i as i64 + 1), *value))
            .collect();
        (le, points)
    }

    #[test]
    fn buckets_sorted_and_labelled() {
        // Two steps: all observations at most 0.1 s in the first, between 0.1 and
        // 1 s in the second. Bounds arrive unsorted.
        let buckets = vec![
            bucket(f64::INFINITY, &[0.0, 0.0]),
            bucket(0.1, &[5.0, 0.0]),
            bucket(1.0, &[0.0, 5.0]),
            bucket(f64::NAN, &[9.0, 9.0]),
        ];
        let svg = heatmap(&buckets, &options());
        assert!(svg.contains(">100 ms</text>"), "{svg}");
        assert!(svg.contains(">1 s</text>"));
        assert!(svg.contains(">+Inf</text>"));
        // Only full-intensity cells: one per column, in different rows.
        assert_eq!(svg.matches(r#"<path fill-opacity="1""#).count(), 1, "{svg}");
        assert_eq!(svg.matches("<path fill-opacity").count(), 1, "{svg}");
        assert_eq!(svg.matches("v57.3H").count(), 2, "{svg}");
        let bounds = sorted_bounds(&buckets);
        assert_eq!(bounds, [1, 2, 0]);
        let grid = Grid::new(&buckets, &bounds, &options());
        assert_eq!(grid.counts, vec![5.0, 0.0, 0.0, 5.0, 0.0, 0.0]);
    }

    #[test]
    fn cells_where_they_belong() {
        // One step at 12:01 in a 10-minute chart: the cell covers 12:00–12:01 in the
        // lowest of two rows.
        let buckets = vec![bucket(1.0, &[3.0]), bucket(f64::INFINITY, &[1.0])];
        let svg = heatmap(&buckets, &options());
        let plot = Plot::new(600, 200, 4, NOON_MS, NOON_MS + 600_000);
        let mut expect = String::from("M");
        push_num(&mut expect, plot.left);
        expect.push(' ');
        push_num(&mut expect, plot.bottom - plot.plot_height() / 2.0);
        expect.push('h');
        push_num(&mut expect, plot.plot_width() / 10.0);
        assert!(svg.contains(&expect), "{expect}: {svg}");
        // The upper bucket has a third of the column's largest: level 2.
        assert!(svg.contains(r#"<path fill-opacity=".33""#), "{svg}");
    }

    #[test]
    fn empty_and_invalid() {
        let svg = heatmap(&[], &options());
        assert!(svg.contains(">no data</text>"), "{svg}");
        let mut reversed = options();
        reversed.end_ms = reversed.start_ms - 1;
        assert!(heatmap(&[], &reversed).contains(">invalid time range</text>"));
        let many: Vec<(f64, Vec<(i64, f64)>)> = (0..=HEATMAP_BUCKETS_MAX)
            .map(|i| (i as f64, Vec::new()))
            .collect();
        assert!(heatmap(&many, &options()).contains("too many buckets"));
    }

    #[test]
    fn narrow_chart_merges_columns() {
        let values: Vec<f64> = (0..600).map(|i| f64::from(i % 7)).collect();
        let buckets = vec![bucket(1.0, &values), bucket(f64::INFINITY, &values)];
        let mut wide = options();
        wide.end_ms = NOON_MS + 601 * 60_000;
        wide.width = 200;
        let svg = heatmap(&buckets, &wide);
        assert!(svg.len() < 20_000, "{}", svg.len());
        assert!(svg.ends_with("</svg>"));
    }
}
