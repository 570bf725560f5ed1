//! Sparklines: a series' shape without axes, for single-stat panels.
//! Owns: the sparkline's own gap rule (it has no step: 1.5 times the median spacing).
//! Does not: label anything; the stat beside it does, so it is hidden from screen
//! readers.

use super::frame::Plot;
use super::line::{LineDrawer, write_dots};
use super::svg::push_num;
use super::{HEIGHT_PX_MAX, WIDTH_PX_MAX};

/// Inset from the edges, so that the stroke is not cut in half at the extremes.
const PAD_PX: f64 = 1.5;

pub(super) fn render(points: &[(i64, f64)], width: u32, height: u32) -> String {
    let width = f64::from(width.clamp(8, WIDTH_PX_MAX));
    let height = f64::from(height.clamp(4, HEIGHT_PX_MAX));
    let mut out = String::with_capacity(256 + points.len().min(4096) * 8);
    out.push_str(r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 "#);
    push_num(&mut out, width);
    out.push(' ');
    push_num(&mut out, height);
    out.push_str(r#"" width=""#);
    push_num(&mut out, width);
    out.push_str(r#"" height=""#);
    push_num(&mut out, height);
    out.push_str(r#"" aria-hidden="true" focusable="false">"#);
    if let Some(extent) = Extent::of(points) {
        write_shape(&mut out, points, &extent, width, height);
    }
    out.push_str("</svg>");
    out
}

/// The finite points' time and value ranges.
struct Extent {
    start_ms: i64,
    end_ms: i64,
    min: f64,
    max: f64,
    gap_ms: i64,
}

impl Extent {
    fn of(points: &[(i64, f64)]) -> Option<Extent> {
        let mut finite = points.iter().filter(|(_, value)| value.is_finite());
        let (first_ms, first) = *finite.next()?;
        let mut extent = Extent {
            start_ms: first_ms,
            end_ms: first_ms,
            min: first,
            max: first,
            gap_ms: i64::MAX,
        };
        for (at_ms, value) in finite {
            extent.start_ms = extent.start_ms.min(*at_ms);
            extent.end_ms = extent.end_ms.max(*at_ms);
            extent.min = extent.min.min(*value);
            extent.max = extent.max.max(*value);
        }
        extent.gap_ms =
            median_spacing_ms(points).map_or(i64::MAX, |median| median.saturating_add(median / 2));
        Some(extent)
    }
}

/// The median distance between neighbouring points (ignoring repeats and
/// reversals), or None with fewer than two distinct times.
fn median_spacing_ms(points: &[(i64, f64)]) -> Option<i64> {
    let mut spacings: Vec<i64> = points
        .windows(2)
        .map(|pair| pair[1].0.saturating_sub(pair[0].0))
        .filter(|spacing| *spacing > 0)
        .collect();
    if spacings.is_empty() {
        return None;
    }
    let middle = spacings.len() / 2;
    Some(*spacings.select_nth_unstable(middle).1)
}

fn write_shape(out: &mut String, points: &[(i64, f64)], extent: &Extent, width: f64, height: f64) {
    let edges = (PAD_PX, PAD_PX, width - PAD_PX, height - PAD_PX);
    let plot = Plot::with_edges(width, height, edges, extent.start_ms, extent.end_ms);
    let x = |at_ms: i64| {
        if extent.end_ms == extent.start_ms {
            width / 2.0
        } else {
            plot.x(at_ms)
        }
    };
    let y = |value: f64| {
        let range = extent.max / 2.0 - extent.min / 2.0;
        if range > 0.0 && range.is_finite() {
            plot.bottom - (value / 2.0 - extent.min / 2.0) / range * plot.plot_height()
        } else {
            height / 2.0
        }
    };
    let mut line = String::new();
    let mut area = String::new();
    let mut dots = String::new();
    let mut drawer = LineDrawer::new();
    let mut previous_ms: Option<i64> = None;
    let mut close = |line: &mut String, dots: &mut String, drawer: &mut LineDrawer| {
        if let Some((start, first_x)) = drawer.end_segment(line, dots) {
            area.push_str(&line[start..]);
            area.push('V');
            push_num(&mut area, plot.bottom);
            area.push('H');
            push_num(&mut area, first_x);
            area.push('z');
        }
    };
    for (at_ms, value) in points {
        let gap = previous_ms.is_some_and(|previous| {
            *at_ms < previous || at_ms.saturating_sub(previous) > extent.gap_ms
        });
        if gap || !value.is_finite() {
            close(&mut line, &mut dots, &mut drawer);
        }
        previous_ms = Some(*at_ms);
        if value.is_finite() {
            drawer.push(&mut line, x(*at_ms), y(*value));
        }
    }
    close(&mut line, &mut dots, &mut drawer);
    if !area.is_empty() {
        out.push_str(r#"<path fill="currentColor" fill-opacity=".15" d=""#);
        out.push_str(&area);
        out.push_str(r#""/><path fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round" d=""#);
        out.push_str(&line);
        out.push_str("\"/>");
    }
    write_dots(out, &dots, "currentColor");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_line_and_area() {
        let points: Vec<(i64, f64)> = (0..10).map(|i| (i * 1000, (i % 3) as f64)).collect();
        let svg = render(&points, 100, 20);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"aria-hidden="true""#));
        assert_eq!(svg.matches("<path").count(), 2, "{svg}");
        assert_eq!(
            svg.matches('M').count(),
            2,
            "one segment in line and area: {svg}"
        );
    }

    #[test]
    fn gaps_break_the_line() {
        let mut points: Vec<(i64, f64)> = (0..10).map(|i| (i * 1000, 1.0 + i as f64)).collect();
        points.extend((20..30).map(|i| (i * 1000, 1.0 + i as f64)));
        points.push((30_000, f64::NAN));
        points.push((31_000, 5.0));
        let svg = render(&points, 100, 20);
        let line = svg.split("stroke-width=\"1.5\"").nth(1).unwrap_or_default();
        assert_eq!(
            line.split("\"/>")
                .next()
                .unwrap_or_default()
                .matches('M')
                .count(),
            2
        );
        // The lone point after the NaN is a dot.
        assert!(svg.contains("h0"), "{svg}");
    }

    #[test]
    fn degenerate_input() {
        assert_eq!(render(&[], 0, 0).matches("<path").count(), 0);
        assert!(render(&[(5, f64::NAN)], 50, 10).ends_with("</svg>"));
        let flat = render(&[(0, 3.0), (1000, 3.0), (2000, 3.0)], 50, 10);
        assert!(flat.contains("M1.5 5h47"), "{flat}");
        let wide = render(&[(i64::MIN, -f64::MAX), (i64::MAX, f64::MAX)], 50, 10);
        assert!(wide.ends_with("</svg>"));
    }
}
