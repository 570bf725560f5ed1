//! Tests of the public chart functions: what a page gets back.

use super::*;
use proptest::prelude::*;
use std::time::Instant;

/// 2026-12-05T12:00:00Z.
const NOON_MS: i64 = 1_796_472_000_000;
const HOUR_MS: i64 = 3_600_000;

fn options(unit: Unit) -> ChartOptions {
    ChartOptions {
        title: "CPU".to_string(),
        description: "CPU use by host".to_string(),
        width: 800,
        height: 200,
        start_ms: NOON_MS,
        end_ms: NOON_MS + HOUR_MS,
        step_ms: 60_000,
        unit,
        stacked: false,
        log_scale: false,
        thresholds: Vec::new(),
        shades: Vec::new(),
    }
}

/// A series with a point a minute from noon for each value.
fn series(name: &str, values: &[f64]) -> ChartSeries {
    ChartSeries {
        name: name.to_string(),
        points: values
            .iter()
            .enumerate()
            .map(|(i, value)| (NOON_MS + 60_000 * i as i64, *value))
            .collect(),
    }
}

/// The `d` of every `<path>` drawn in `color`, in order.
fn paths_in<'a>(svg: &'a str, color: &str) -> Vec<&'a str> {
    let needle = format!(r#"stroke="{color}" d=""#);
    svg.match_indices(&needle)
        .map(|(at, _)| {
            let data = &svg[at + needle.len()..];
            &data[..data.find('"').unwrap_or(data.len())]
        })
        .collect()
}

/// `value` to one decimal, as the SVG has it (sums of relative moves drift).
fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// The absolute points of path data: each subpath as a list of (x, y).
fn subpaths(data: &str) -> Vec<Vec<(f64, f64)>> {
    let mut result: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut numbers: Vec<f64> = Vec::new();
    let mut command = ' ';
    let mut at = (0.0, 0.0);
    let mut token = String::new();
    let mut apply = |command: char, numbers: &mut Vec<f64>, result: &mut Vec<Vec<(f64, f64)>>| {
        match command {
            'M' => {
                for pair in numbers.chunks(2) {
                    at = (pair[0], pair[1]);
                    result.push(vec![at]);
                }
            }
            'l' => {
                for pair in numbers.chunks(2) {
                    at = (round(at.0 + pair[0]), round(at.1 + pair[1]));
                    if let Some(points) = result.last_mut() {
                        points.push(at);
                    }
                }
            }
            'h' | 'H' | 'v' | 'V' => {
                for number in numbers.iter() {
                    match command {
                        'h' => at.0 = round(at.0 + number),
                        'H' => at.0 = *number,
                        'v' => at.1 = round(at.1 + number),
                        _ => at.1 = *number,
                    }
                    if let Some(points) = result.last_mut() {
                        points.push(at);
                    }
                }
            }
            _ => {}
        }
        numbers.clear();
    };
    for c in data.chars().chain(std::iter::once('Z')) {
        if c.is_ascii_digit() || c == '.' || (c == '-' && token.is_empty()) {
            token.push(c);
            continue;
        }
        if !token.is_empty() {
            numbers.push(token.parse().unwrap_or(f64::NAN));
            token.clear();
        }
        if c == '-' {
            token.push(c);
        } else if c.is_ascii_alphabetic() {
            apply(command, &mut numbers, &mut result);
            command = c;
        }
    }
    result
}

fn color_of(name: &str, all: &[ChartSeries]) -> String {
    legend(all, Unit::Short)
        .into_iter()
        .find(|row| row.name == name)
        .map(|row| row.color)
        .unwrap_or_default()
}

#[test]
fn unit_names_round_trip() {
    for name in Unit::NAMES {
        assert!(Unit::parse(name).is_some(), "{name}");
    }
    assert_eq!(Unit::parse("bogus"), None);
}

#[test]
fn format_value_every_unit() {
    let cases = [
        (1_320_702_443.0, Unit::Bytes, "1.23 GiB"),
        (1023.0, Unit::Bytes, "1023 B"),
        (1024.0, Unit::Bytes, "1 KiB"),
        (1_572_864.0, Unit::BytesPerSecond, "1.5 MiB/s"),
        (0.45, Unit::Seconds, "450 ms"),
        (0.0005, Unit::Seconds, "500 µs"),
        (0.1234, Unit::PercentUnit, "12.3%"),
        (45.0, Unit::Percent, "45%"),
        (1200.0, Unit::PerSecond, "1.2k/s"),
        (2.5e6, Unit::Short, "2.5M"),
        (1234.6, Unit::None, "1235"),
        (f64::NAN, Unit::Bytes, "NaN"),
        (f64::INFINITY, Unit::Seconds, "+Inf"),
        (-0.25, Unit::Seconds, "-250 ms"),
    ];
    for (value, unit, expect) in cases {
        assert_eq!(format_value(value, unit), expect, "{value} {unit:?}");
    }
}

#[test]
fn step_for_width_rounds_up_to_the_ladder() {
    assert_eq!(step_for_width(0, HOUR_MS, 800), 10_000);
    assert_eq!(step_for_width(0, HOUR_MS, 576), 15_000);
    assert_eq!(step_for_width(0, 24 * HOUR_MS, 1176), 300_000);
    assert_eq!(step_for_width(0, 24 * HOUR_MS, 600), 300_000);
    assert_eq!(step_for_width(0, 7 * 24 * HOUR_MS, 1176), 30 * 60_000);
    assert_eq!(step_for_width(0, 60_000, 800), 1000);
    assert_eq!(step_for_width(0, 0, 0), 1000);
    assert_eq!(step_for_width(10, 0, 800), 1000);
    assert!(step_for_width(i64::MIN, i64::MAX, 800) > 0);
    // Never more points than pixels.
    for width in [100, 333, 800, 1234] {
        for span_ms in [HOUR_MS, 6 * HOUR_MS, 24 * HOUR_MS, 7 * 24 * HOUR_MS] {
            let step_ms = step_for_width(0, span_ms, width);
            assert!(span_ms / step_ms <= i64::from(width), "{span_ms} {width}");
        }
    }
}

#[test]
fn gaps_break_the_line() {
    let all = [series("a", &[1.0, 2.0, 3.0, 4.0, 5.0])];
    let svg = line_chart(&all, &options(Unit::Short));
    let color = color_of("a", &all);
    let paths = paths_in(&svg, &color);
    assert_eq!(paths.len(), 1, "{svg}");
    assert_eq!(paths[0].matches('M').count(), 1);

    // Points at 0, 1, 2 minutes, then 10, 11: a gap of 8 steps.
    let mut gapped = all[0].clone();
    gapped.points[3].0 = NOON_MS + 10 * 60_000;
    gapped.points[4].0 = NOON_MS + 11 * 60_000;
    let svg = line_chart(std::slice::from_ref(&gapped), &options(Unit::Short));
    assert_eq!(paths_in(&svg, &color)[0].matches('M').count(), 2, "{svg}");

    // 1.5 steps apart is still one line; more is a gap.
    let mut near = all[0].clone();
    near.points[3].0 = near.points[2].0 + 90_000;
    near.points[4].0 = near.points[3].0 + 90_001;
    let svg = line_chart(&[near], &options(Unit::Short));
    assert_eq!(paths_in(&svg, &color)[0].matches('M').count(), 1);
    assert!(
        svg.contains("stroke-linecap"),
        "the last point alone is a dot: {svg}"
    );

    // NaN and infinities break it too.
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let all = [series("a", &[1.0, 2.0, bad, 4.0, 5.0])];
        let svg = line_chart(&all, &options(Unit::Short));
        assert_eq!(
            paths_in(&svg, &color)[0].matches('M').count(),
            2,
            "{bad}: {svg}"
        );
    }
}

#[test]
fn isolated_point_is_a_dot() {
    let all = [series("a", &[1.0, f64::NAN, 3.0, f64::NAN, 5.0, 6.0])];
    let svg = line_chart(&all, &options(Unit::Short));
    let color = color_of("a", &all);
    let dots = svg
        .split(&format!(r#"stroke="{color}" stroke-width="3""#))
        .nth(1)
        .unwrap_or_default();
    assert_eq!(
        dots.split("/>")
            .next()
            .unwrap_or_default()
            .matches("h0")
            .count(),
        2,
        "{svg}"
    );
}

#[test]
fn thresholds_and_shades_where_they_belong() {
    let mut options = options(Unit::Percent);
    options.thresholds = vec![
        Threshold {
            value: 80.0,
            level: Level::Warn,
            label: Some("warn > 80%".to_string()),
        },
        Threshold {
            value: 95.0,
            level: Level::Bad,
            label: None,
        },
    ];
    options.shades = vec![Shade {
        start_ms: NOON_MS + HOUR_MS / 4,
        end_ms: NOON_MS + HOUR_MS / 2,
        label: "HighCpu firing".to_string(),
    }];
    let svg = line_chart(&[series("a", &[10.0, 20.0, 30.0])], &options);
    // Axis 0–100 %, labels "100%" wide: plot from x 35.6 to 790, y 8 to 180.
    assert!(
        svg.contains(r##"<path stroke="#b7791f" stroke-dasharray="5 3" d="M35.6 42.4H790"/>"##),
        "{svg}"
    );
    assert!(
        svg.contains(r##"<path stroke="#e0403a" stroke-dasharray="5 3" d="M35.6 16.6H790"/>"##)
    );
    assert!(svg.contains("warn &gt; 80%</text>"));
    assert!(svg.contains(r#"<rect x="224.2" y="8" width="188.6" height="172"><title>HighCpu firing</title></rect>"#), "{svg}");
    assert!(
        svg.contains("threshold 80%, 95%; shaded: HighCpu firing (12:15–12:30)</desc>"),
        "{svg}"
    );

    // A threshold above the data widens the axis; shades outside the range vanish.
    options.shades[0].start_ms = NOON_MS - 2 * HOUR_MS;
    options.shades[0].end_ms = NOON_MS - HOUR_MS;
    let svg = line_chart(&[series("a", &[1.0, 2.0])], &options);
    assert!(svg.contains(">100%</text>"));
    assert!(!svg.contains("<rect"));
}

#[test]
fn stacked_sums() {
    let mut options = options(Unit::Short);
    options.stacked = true;
    let all = [
        series("low", &[1.0, 1.0, 1.0, 1.0, 1.0]),
        series("high", &[2.0, 2.0, f64::NAN, 2.0, 2.0]),
    ];
    let svg = line_chart(&all, &options);
    // Axis 0–3 over y 180..8 (1 at 122.7, 3 at the top); minutes 0, 1, 3, 4 at x 24,
    // 36.8, 62.3, 75.1.
    let (low_color, high_color) = (color_of("low", &all), color_of("high", &all));
    let low = paths_in(&svg, &low_color);
    assert_eq!(
        subpaths(low[0]),
        vec![vec![(24.0, 122.7), (75.1, 122.7)]],
        "{svg}"
    );
    // "high" is missing at minute 2: its line breaks there.
    let high = paths_in(&svg, &high_color);
    assert_eq!(
        subpaths(high[0]),
        vec![
            vec![(24.0, 8.0), (36.8, 8.0)],
            vec![(62.3, 8.0), (75.1, 8.0)]
        ],
        "{svg}"
    );
    // Areas: "low" from 0 to 1, "high" from 1 to 3 in two parts.
    let fill = |color: &str| {
        let needle = format!(r#"<path fill="{color}" d=""#);
        let at = svg.find(&needle).map_or(0, |at| at + needle.len());
        subpaths(&svg[at..at + svg[at..].find('"').unwrap_or(0)])
    };
    assert_eq!(
        fill(&low_color),
        vec![vec![
            (24.0, 122.7),
            (75.1, 122.7),
            (75.1, 180.0),
            (24.0, 180.0)
        ]]
    );
    let high_area = fill(&high_color);
    assert_eq!(high_area.len(), 2);
    assert_eq!(
        high_area[1],
        vec![(62.3, 8.0), (75.1, 8.0), (75.1, 122.7), (62.3, 122.7)]
    );
}

#[test]
fn stacked_missing_point_contributes_nothing() {
    let mut options = options(Unit::Short);
    options.stacked = true;
    // "b" on top of "a", but "a" is missing at minute 1: "b" sits on 0 there.
    let all = [
        series("a", &[1.0, f64::NAN, 1.0]),
        series("b", &[1.0, 1.0, 1.0]),
    ];
    let svg = line_chart(&all, &options);
    let b = subpaths(paths_in(&svg, &color_of("b", &all))[0]);
    // Axis 0–2 (labels "1.5" wide: the plot starts at 29.2): 2 at y 8, 1 at y 94.
    assert_eq!(
        b,
        vec![vec![(29.2, 8.0), (41.9, 94.0), (54.6, 8.0)]],
        "{svg}"
    );
}

#[test]
fn log_scale_drops_non_positive() {
    let mut options = options(Unit::Short);
    options.log_scale = true;
    let all = [series("a", &[1.0, 10.0, 0.0, -5.0, 100.0, 1000.0])];
    let svg = line_chart(&all, &options);
    let paths = paths_in(&svg, &color_of("a", &all));
    assert_eq!(subpaths(paths[0]).len(), 2, "{svg}");
    for label in [">1</text>", ">10</text>", ">100</text>", ">1k</text>"] {
        assert!(svg.contains(label), "{label}: {svg}");
    }
    // Only non-positive values: no data.
    let svg = line_chart(&[series("a", &[0.0, -1.0])], &options);
    assert!(svg.contains(">no data</text>"));
}

#[test]
fn legend_stats() {
    let all = [
        series("a", &[1.0, f64::NAN, 3.0, 8.0, f64::NAN]),
        series("b", &[]),
        series("c", &[1.0, f64::INFINITY]),
    ];
    let rows = legend(&all, Unit::Seconds);
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (
            rows[0].last.as_str(),
            rows[0].min.as_str(),
            rows[0].max.as_str(),
            rows[0].avg.as_str()
        ),
        ("8 s", "1 s", "8 s", "4 s")
    );
    assert_eq!((rows[1].last.as_str(), rows[1].avg.as_str()), ("–", "–"));
    assert_eq!(
        (rows[2].max.as_str(), rows[2].avg.as_str()),
        ("+Inf", "+Inf")
    );
    assert!(
        rows.iter()
            .all(|row| row.color.starts_with('#') && row.color.len() == 7)
    );
    let svg = line_chart(&all, &options(Unit::Seconds));
    for row in &rows {
        if row.name != "b" {
            assert!(
                svg.contains(&format!(r#"stroke="{}""#, row.color)),
                "{}",
                row.name
            );
        }
    }
}

#[test]
fn escapes_everything() {
    let evil = r#"<script>alert("x")</script>&'"#;
    let mut options = options(Unit::Short);
    options.title = evil.to_string();
    options.description = evil.to_string();
    options.thresholds = vec![Threshold {
        value: 1.0,
        level: Level::Bad,
        label: Some(evil.to_string()),
    }];
    options.shades = vec![Shade {
        start_ms: NOON_MS,
        end_ms: NOON_MS + 60_000,
        label: evil.to_string(),
    }];
    let svg = line_chart(&[series(evil, &[1.0, 2.0])], &options);
    assert!(!svg.contains("<script"), "{svg}");
    assert!(!svg.contains("\"x\""));
    let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;";
    assert_eq!(
        svg.matches(escaped).count(),
        6,
        "title, desc and its shade summary, threshold, shade, series: {svg}"
    );
}

#[test]
fn empty_data_keeps_the_axes() {
    for all in [
        vec![],
        vec![series("a", &[])],
        vec![series("a", &[f64::NAN])],
    ] {
        let svg = line_chart(&all, &options(Unit::Bytes));
        assert!(svg.contains(">no data</text>"), "{svg}");
        assert!(svg.contains(">12:00</text>") && svg.contains(">13:00</text>"));
        assert!(svg.contains(">0 B</text>"));
        assert!(svg.contains("<desc id=") && svg.contains("no data, "));
    }
}

#[test]
fn invalid_input_never_panics() {
    let mut reversed = options(Unit::Short);
    reversed.end_ms = reversed.start_ms - HOUR_MS;
    assert!(line_chart(&[series("a", &[1.0])], &reversed).contains(">invalid time range</text>"));
    let mut huge = options(Unit::Short);
    huge.start_ms = i64::MIN;
    huge.end_ms = i64::MAX;
    assert!(line_chart(&[], &huge).contains("invalid time range"));

    let mut odd = options(Unit::Seconds);
    odd.width = 0;
    odd.height = u32::MAX;
    odd.step_ms = i64::MAX;
    let wild = ChartSeries {
        name: String::new(),
        points: vec![
            (i64::MIN, 1.0),
            (NOON_MS, f64::MAX),
            (NOON_MS + 1, -f64::MAX),
            (NOON_MS + 2, f64::MIN_POSITIVE),
            (NOON_MS - 5, 3.0),
            (NOON_MS + 3, 1e-320),
            (i64::MAX, f64::NAN),
        ],
    };
    for stacked in [false, true] {
        for log_scale in [false, true] {
            odd.stacked = stacked;
            odd.log_scale = log_scale;
            let svg = line_chart(&[wild.clone(), wild.clone()], &odd);
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
            assert!(!svg.contains("NaN\"") && !svg.contains("inf"), "{svg}");
            let svg = heatmap(
                &[(f64::NAN, wild.points.clone()), (1.0, wild.points.clone())],
                &odd,
            );
            assert!(svg.ends_with("</svg>"));
        }
    }
    assert!(sparkline(&wild.points, 0, 0).ends_with("</svg>"));
    let _ = legend(&[wild], Unit::Bytes);
}

#[test]
fn downsampling_keeps_the_spike() {
    // 10 000 points of 0 in an hour, one of 100 in the middle.
    let mut spiky = ChartSeries {
        name: "spiky".to_string(),
        points: (0..10_000).map(|i| (NOON_MS + i * 360, 0.0)).collect(),
    };
    spiky.points[5_000].1 = 100.0;
    let mut options = options(Unit::Short);
    options.step_ms = 360;
    let svg = line_chart(std::slice::from_ref(&spiky), &options);
    let path = paths_in(&svg, &color_of("spiky", std::slice::from_ref(&spiky)))[0];
    let points = &subpaths(path)[0];
    let top = points
        .iter()
        .map(|point| point.1)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(top, 8.0, "the spike reaches the top of the plot");
    assert!(points.len() < 20, "a flat line and one spike: {path}");
    assert!(path.len() < 100, "{path}");
}

#[test]
fn ids_are_unique_and_referenced() {
    let one = line_chart(&[series("a", &[1.0, 2.0])], &options(Unit::Short));
    let two = line_chart(&[series("a", &[1.0, 2.5])], &options(Unit::Short));
    let id = |svg: &str| {
        let start = svg.find("<title id=\"").map_or(0, |at| at + 11);
        svg[start..start + 13].to_string()
    };
    assert_ne!(id(&one), id(&two));
    assert_eq!(
        id(&one),
        id(&line_chart(
            &[series("a", &[1.0, 2.0])],
            &options(Unit::Short)
        ))
    );
    let labelled_by = format!(r#"aria-labelledby="{0}-t {0}-d""#, id(&one));
    assert!(one.contains(&labelled_by), "{one}");
    assert!(
        one.contains(&format!(
            r#"<desc id="{}-d">CPU use by host — 1 series, 2026-12-05 12:00–13:00 UTC</desc>"#,
            id(&one)
        )),
        "{one}"
    );
    assert!(one.contains(r#"role="img""#) && one.contains(r#"viewBox="0 0 800 200""#));
}

/// Ten hosts over a day, as a dashboard panel draws them.
fn day_of_hosts(width: u32, points_per_series: usize) -> (Vec<ChartSeries>, ChartOptions) {
    let mut options = options(Unit::PercentUnit);
    options.width = width;
    options.start_ms = NOON_MS - 24 * HOUR_MS;
    options.end_ms = NOON_MS;
    options.step_ms = 24 * HOUR_MS / points_per_series as i64;
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let all = (0..10)
        .map(|host| {
            let mut level = 0.3 + 0.04 * f64::from(host);
            let points = (0..points_per_series)
                .map(|i| {
                    // xorshift: a deterministic random walk.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    level = (level + ((state % 1000) as f64 / 1000.0 - 0.5) * 0.02).clamp(0.0, 1.0);
                    (options.start_ms + i as i64 * options.step_ms, level)
                })
                .collect();
            ChartSeries {
                name: format!("host-{host}:9100"),
                points,
            }
        })
        .collect();
    (all, options)
}

#[test]
fn render_time_and_size() {
    // Not an assertion on time (debug builds, shared machines): printed for the
    // record; run with `--release --nocapture` for real figures.
    let (all, options) = day_of_hosts(800, 1500);
    let started = Instant::now();
    let rounds = 20;
    let mut bytes = 0;
    for _ in 0..rounds {
        bytes = line_chart(&all, &options).len();
    }
    let per_chart = started.elapsed() / rounds;
    println!("line_chart 10 x 1500 points, 800 px: {per_chart:?} per chart, {bytes} bytes");

    // A 12-panel dashboard over 24 h, 10 hosts, at the step `step_for_width` gives.
    for width in [576, 1176] {
        let step_ms = step_for_width(NOON_MS - 24 * HOUR_MS, NOON_MS, width);
        let (all, options) = day_of_hosts(width, (24 * HOUR_MS / step_ms) as usize);
        let panel = line_chart(&all, &options).len();
        let legend_bytes: usize = legend(&all, options.unit)
            .iter()
            .map(|row| {
                row.name.len() + row.last.len() + row.min.len() + row.max.len() + row.avg.len() + 80
            })
            .sum();
        println!(
            "dashboard at {width} px (step {step_ms} ms): {panel} bytes a panel, {} KB for 12 panels with legends",
            12 * (panel + legend_bytes) / 1000
        );
        assert!(12 * panel < 300_000, "{width}: {panel}");
    }
}

/// Values that break naive code: NaN, infinities, extremes, subnormals, zeros.
fn nasty_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e3..1e3f64,
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MAX),
        Just(-f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(1e-320),
        Just(0.0),
        Just(-0.0),
        any::<f64>(),
    ]
}

proptest! {
    // No regression file: this module may not write outside src/web/chart*; a failure
    // prints its minimal input, which belongs in a named test above.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn never_panics_and_stays_well_formed(
        offsets in prop::collection::vec((-100i64..20_000, nasty_value()), 0..40),
        far in prop::collection::vec((any::<i64>(), nasty_value()), 0..3),
        span_ms in -1000i64..20_000,
        step_ms in prop_oneof![Just(0i64), Just(i64::MAX), -10i64..5000],
        width in 0u32..5000,
        height in 0u32..3000,
        stacked in any::<bool>(),
        log_scale in any::<bool>(),
        threshold in nasty_value(),
        unit_index in 0usize..8,
    ) {
        let mut points: Vec<(i64, f64)> =
            offsets.iter().map(|(at, value)| (NOON_MS + at, *value)).collect();
        points.extend(far);
        let series = [
            ChartSeries { name: "a".to_string(), points: points.clone() },
            ChartSeries { name: "b".to_string(), points: points.iter().rev().copied().collect() },
        ];
        let options = ChartOptions {
            width,
            height,
            end_ms: NOON_MS + span_ms,
            step_ms,
            unit: Unit::parse(Unit::NAMES[unit_index]).unwrap_or_default(),
            stacked,
            log_scale,
            thresholds: vec![Threshold { value: threshold, level: Level::Warn, label: None }],
            shades: vec![Shade { start_ms: NOON_MS + span_ms / 2, end_ms: NOON_MS + span_ms, label: String::new() }],
            ..options(Unit::Short)
        };
        for svg in [
            line_chart(&series, &options),
            heatmap(&[(1.0, points.clone()), (f64::INFINITY, points.clone())], &options),
            sparkline(&points, width, height),
        ] {
            prop_assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
            prop_assert!(!svg.contains("NaN") && !svg.contains("inf"), "{}", svg);
        }
        let rows = legend(&series, options.unit);
        prop_assert_eq!(rows.len(), 2);
    }
}
