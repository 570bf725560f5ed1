//! `/explore?expr=...`: ad-hoc PromQL as a graph and a table, with what the query
//! cost and which tier served it.
//! Owns: the page's parameters (`expr`, `range`, `end`, `alertname`), finding a
//! threshold in the expression, shading when an alert fired.
//! Does not: evaluate anything itself; every number on the page comes from the PromQL
//! engine, the alert's firing intervals included (from its `ALERTS` series).
//!
//! An alert's link (`generatorURL`) opens this page with its expression and name. When
//! the expression's top is a comparison with a number (`x > 50`), the page graphs the
//! other side (`x`) and draws the number as the threshold, so the graph shows how close
//! the data came, not only the moments it crossed.

use super::{Nav, format_time, render};
use crate::model::Labels;
use crate::promql::ast::{BinaryOp, Expr};
use crate::promql::value::QueryValue;
use crate::web::WebState;
use crate::web::api::query::run_for_page;
use crate::web::chart::{self, ChartOptions, ChartSeries, Level, Shade, Threshold, Unit};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use std::time::Duration;

/// The graph's width in pixels, and so its number of points at most.
const GRAPH_WIDTH: u32 = 1100;
const GRAPH_HEIGHT: u32 = 320;
/// Series drawn at most; a query returning more shows the first ones and says so.
const GRAPH_SERIES_MAX: usize = 50;
/// Table rows at most.
const TABLE_ROWS_MAX: usize = 1000;
/// Ranges offered by the form.
const RANGES: [&str; 8] = ["5m", "15m", "1h", "3h", "6h", "24h", "7d", "30d"];

struct Row {
    labels: String,
    value: String,
}

#[derive(Template)]
#[template(path = "explore.html")]
struct ExplorePage {
    nav: Nav,
    expr: String,
    range: String,
    ranges: &'static [&'static str],
    alertname: String,
    /// A parse error: the message, the expression, and a caret line under it.
    parse_error: Option<(String, String, String)>,
    query_error: Option<String>,
    graph: Option<String>,
    legend: Vec<chart::LegendRow>,
    graphed: String,
    threshold: Option<String>,
    truncated: Option<usize>,
    rows: Vec<Row>,
    rows_total: usize,
    result_type: &'static str,
    stats: Option<String>,
    end: String,
}

pub async fn show(request: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let mut expr = String::new();
    let mut range = "1h".to_string();
    let mut end_ms = crate::alert::rules::now_ms();
    let mut end_text = String::new();
    let mut alertname = String::new();
    for (name, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        match name.as_ref() {
            "expr" => expr = value.trim().to_string(),
            "range" => range = value.into_owned(),
            "end" => {
                if let Ok(seconds) = value.parse::<f64>()
                    && seconds.is_finite()
                {
                    end_ms = (seconds * 1000.0) as i64;
                    end_text = value.into_owned();
                }
            }
            "alertname" => alertname = value.into_owned(),
            _ => {}
        }
    }
    let range_duration = crate::config::units::parse_duration(&range)
        .ok()
        .filter(|duration| {
            *duration >= Duration::from_secs(60) && *duration <= Duration::from_secs(400 * 86_400)
        })
        .unwrap_or_else(|| {
            range = "1h".into();
            Duration::from_secs(3600)
        });
    let mut page = ExplorePage {
        nav: Nav::new("explore"),
        expr: expr.clone(),
        range: range.clone(),
        ranges: &RANGES,
        alertname: alertname.clone(),
        parse_error: None,
        query_error: None,
        graph: None,
        legend: Vec::new(),
        graphed: String::new(),
        threshold: None,
        truncated: None,
        rows: Vec::new(),
        rows_total: 0,
        result_type: "",
        stats: None,
        end: end_text,
    };
    if expr.is_empty() {
        return render(&page);
    }
    let parsed = match crate::promql::parse::parse(&expr) {
        Ok(parsed) => parsed,
        Err(error) => {
            page.parse_error = Some(caret(&expr, error.span.start as usize, &error.message));
            return render(&page);
        }
    };
    let start_ms = end_ms - range_duration.as_millis() as i64;
    let step_ms = chart::step_for_width(start_ms, end_ms, GRAPH_WIDTH);
    // The instant result, for the table.
    let instant_expr = expr.clone();
    let storage = std::sync::Arc::clone(&state.storage);
    match run_for_page(&state, move |options| {
        crate::promql::instant(&storage, &instant_expr, end_ms, &options)
    })
    .await
    {
        Ok((result, elapsed)) => {
            page.stats = Some(format!(
                "{} samples loaded, {} series, {} ms, served by {}",
                result.stats.samples_loaded,
                result.stats.series_selected,
                elapsed.as_millis(),
                if result.tiers.is_empty() {
                    "no data".to_string()
                } else {
                    result.tiers.join(", ")
                }
            ));
            let (kind, rows) = table_rows(result.value);
            page.result_type = kind;
            page.rows_total = rows.len();
            page.rows = rows.into_iter().take(TABLE_ROWS_MAX).collect();
        }
        Err(error) => {
            page.query_error = Some(error);
            return render(&page);
        }
    }
    // The graph: of the whole expression, or of one side of a comparison with a number.
    use crate::promql::ast::ValueType;
    if !matches!(parsed.value_type(), ValueType::Vector | ValueType::Scalar) {
        return render(&page);
    }
    let (graphed, threshold) = split_threshold(&expr, &parsed);
    page.graphed = graphed.clone();
    page.threshold = threshold.map(crate::web::api::query::format_value);
    let storage = std::sync::Arc::clone(&state.storage);
    let range_result = run_for_page(&state, move |options| {
        crate::promql::range(&storage, &graphed, start_ms, end_ms, step_ms, &options)
    })
    .await;
    let series = match range_result {
        Ok((result, _)) => match result.value {
            QueryValue::Matrix(series) => series,
            _ => Vec::new(),
        },
        Err(error) => {
            page.query_error = Some(error);
            return render(&page);
        }
    };
    if series.len() > GRAPH_SERIES_MAX {
        page.truncated = Some(series.len());
    }
    let series: Vec<ChartSeries> = series
        .into_iter()
        .take(GRAPH_SERIES_MAX)
        .map(|(labels, samples)| ChartSeries {
            name: series_name(&labels),
            points: samples.iter().map(|sample| (sample.t, sample.v)).collect(),
        })
        .collect();
    let shades = if alertname.is_empty() {
        Vec::new()
    } else {
        firing_intervals(
            &state,
            &[("alertname", &alertname)],
            start_ms,
            end_ms,
            step_ms,
        )
        .await
    };
    let options = ChartOptions {
        title: if page.graphed == expr {
            expr.clone()
        } else {
            format!(
                "{} (threshold {})",
                page.graphed,
                page.threshold.clone().unwrap_or_default()
            )
        },
        description: format!(
            "{} from {} to {}",
            expr,
            format_time(start_ms),
            format_time(end_ms)
        ),
        width: GRAPH_WIDTH,
        height: GRAPH_HEIGHT,
        start_ms,
        end_ms,
        step_ms,
        unit: Unit::Short,
        stacked: false,
        log_scale: false,
        thresholds: threshold
            .map(|value| Threshold {
                value,
                level: Level::Bad,
                label: Some(format!(
                    "threshold {}",
                    crate::web::api::query::format_value(value)
                )),
            })
            .into_iter()
            .collect(),
        shades,
    };
    page.legend = chart::legend(&series, options.unit);
    page.graph = Some(chart::line_chart(&series, &options));
    render(&page)
}

/// When `expr` is `x <op> N` or `N <op> x` (a filtering comparison), `x`'s text and N;
/// otherwise the whole expression and no threshold.
fn split_threshold(expr: &str, parsed: &Expr) -> (String, Option<f64>) {
    if let Expr::Binary {
        op,
        lhs,
        rhs,
        return_bool: false,
        ..
    } = parsed.unparen()
        && op.is_comparison()
        && *op != BinaryOp::Eq
        && *op != BinaryOp::Ne
    {
        let number = |side: &Expr| match side.unparen() {
            Expr::Number { value, .. } => Some(*value),
            _ => None,
        };
        let text = |side: &Expr| {
            let span = side.span();
            expr.get(span.start as usize..span.end as usize)
                .map(str::to_string)
        };
        if let (Some(value), Some(text)) = (number(rhs), text(lhs)) {
            return (text, Some(value));
        }
        if let (Some(value), Some(text)) = (number(lhs), text(rhs)) {
            return (text, Some(value));
        }
    }
    (expr.to_string(), None)
}

/// The intervals in which `ALERTS{<matchers>, alertstate="firing"}` had samples,
/// read through the engine like any other series; each shade is labelled with the
/// alert's name and its other labels. The peer page shades `PeerDown` this way too.
pub(super) async fn firing_intervals(
    state: &WebState,
    matchers: &[(&str, &str)],
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
) -> Vec<Shade> {
    let mut selector = String::new();
    for (name, value) in matchers {
        selector.push_str(&format!("{name}={}, ", super::promql_string(value)));
    }
    let query = format!(r#"ALERTS{{{selector}alertstate="firing"}}"#);
    let storage = std::sync::Arc::clone(&state.storage);
    let Ok((result, _)) = run_for_page(state, move |options| {
        crate::promql::range(&storage, &query, start_ms, end_ms, step_ms, &options)
    })
    .await
    else {
        return Vec::new();
    };
    let QueryValue::Matrix(series) = result.value else {
        return Vec::new();
    };
    let mut shades = Vec::new();
    for (labels, samples) in series {
        let label = format!(
            "{} firing {}",
            labels.get("alertname").unwrap_or(""),
            series_name(&labels.without(&["__name__", "alertstate", "alertname"]))
        );
        let mut run: Option<(i64, i64)> = None;
        for sample in samples {
            run = match run {
                Some((from, to)) if sample.t - to <= step_ms * 3 / 2 => Some((from, sample.t)),
                Some((from, to)) => {
                    shades.push(Shade {
                        start_ms: from,
                        end_ms: to + step_ms,
                        label: label.clone(),
                    });
                    Some((sample.t, sample.t))
                }
                None => Some((sample.t, sample.t)),
            };
        }
        if let Some((from, to)) = run {
            shades.push(Shade {
                start_ms: from,
                end_ms: (to + step_ms).min(end_ms),
                label,
            });
        }
    }
    shades
}

fn series_name(labels: &Labels) -> String {
    let text = labels.to_string();
    if text == "{}" {
        "(no labels)".into()
    } else {
        text
    }
}

fn table_rows(value: QueryValue) -> (&'static str, Vec<Row>) {
    let format = crate::web::api::query::format_value;
    match value {
        QueryValue::Scalar(_, value) => (
            "scalar",
            vec![Row {
                labels: "scalar".into(),
                value: format(value),
            }],
        ),
        QueryValue::String(_, text) => (
            "string",
            vec![Row {
                labels: "string".into(),
                value: text,
            }],
        ),
        QueryValue::Vector(samples) => (
            "vector",
            samples
                .into_iter()
                .map(|(labels, sample)| Row {
                    labels: series_name(&labels),
                    value: format(sample.v),
                })
                .collect(),
        ),
        QueryValue::Matrix(series) => (
            "matrix",
            series
                .into_iter()
                .map(|(labels, samples)| Row {
                    labels: series_name(&labels),
                    value: samples
                        .iter()
                        .map(|sample| format!("{} @{}", format(sample.v), sample.t as f64 / 1000.0))
                        .collect::<Vec<_>>()
                        .join("\n"),
                })
                .collect(),
        ),
    }
}

/// The message, the expression's line holding the error, and a caret under its column.
fn caret(expr: &str, offset: usize, message: &str) -> (String, String, String) {
    let offset = offset.min(expr.len());
    let line_start = expr[..offset]
        .rfind('\n')
        .map_or(0, |position| position + 1);
    let line_end = expr[offset..]
        .find('\n')
        .map_or(expr.len(), |position| offset + position);
    let column = expr[line_start..offset].chars().count();
    let (line, _) = crate::config::line_column(expr, offset);
    (
        format!("{line}:{}: {message}", column + 1),
        expr[line_start..line_end].to_string(),
        format!("{}^", " ".repeat(column)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_found_on_either_side_of_a_comparison() {
        let split = |text: &str| {
            let parsed = crate::promql::parse::parse(text).expect("parses");
            split_threshold(text, &parsed)
        };
        assert_eq!(split("temp > 50"), ("temp".into(), Some(50.0)));
        assert_eq!(
            split("(0.9 < rate(x[5m]))"),
            ("rate(x[5m])".into(), Some(0.9))
        );
        assert_eq!(split("temp > bool 50"), ("temp > bool 50".into(), None));
        assert_eq!(split("a > b"), ("a > b".into(), None));
        assert_eq!(split("up == 0"), ("up == 0".into(), None));
    }

    #[test]
    fn the_caret_points_at_the_error() {
        let (message, line, caret) = caret("sum(rate(x[5m])\n  by (job", 24, "unclosed");
        assert_eq!(message, "2:9: unclosed");
        assert_eq!(line, "  by (job");
        assert_eq!(caret, "        ^");
    }
}
