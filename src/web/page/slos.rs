//! `/slos` (every SLO: state, budget left, burn) and `/slos/<name>` (one SLO: its
//! figures per group, the budget burn-down over the window, a burn-rate chart per
//! alert, compliance per month and quarter).
//! Owns: the views and the concurrency of their queries (one blocking task per SLO
//! or chart, each behind a `[query]` slot).
//! Does not: compute budgets (`slo::report` does, through the PromQL engine).

use super::dashboards::QueryEnv;
use super::{Nav, error_page, format_age, format_time};
use crate::config::slos::{Sli, SloConfig};
use crate::promql::QueryError;
use crate::slo::report::{self, Compliance, GroupStatus, Reader, SloStatus};
use crate::slo::{BURN_ALERTS, BurnAlert, error_ratio_expr, window_label};
use crate::web::WebState;
use crate::web::chart::{self, ChartOptions, ChartSeries, Level, Threshold, Unit};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHART_WIDTH: u32 = 1200;
const CHART_HEIGHT: u32 = 220;
const SMALL_CHART_WIDTH: u32 = 600;
/// Ranges the burn-rate charts offer.
const RANGES: [&str; 4] = ["1d", "3d", "7d", "30d"];
const RANGE_DEFAULT: &str = "7d";

/// Runs `work` for each item on the blocking pool, each behind a query slot, all
/// within `env.timeout`. Results in the items' order; a failure is its message.
pub async fn run_each<I, T>(
    env: &QueryEnv,
    items: Vec<I>,
    work: impl Fn(&mut Reader, I) -> Result<T, QueryError> + Send + Sync + 'static,
) -> Vec<Result<T, String>>
where
    I: Send + 'static,
    T: Send + 'static,
{
    let deadline = Instant::now() + env.timeout;
    let work = Arc::new(work);
    let mut handles = Vec::with_capacity(items.len());
    for item in items {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let permit = tokio::time::timeout(remaining, Arc::clone(&env.slots).acquire_owned()).await;
        let permit = match permit {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => {
                handles.push(Err("the server is shutting down".to_string()));
                continue;
            }
            Err(_) => {
                handles.push(Err("query timed out in query queue".to_string()));
                continue;
            }
        };
        let storage = Arc::clone(&env.storage);
        let options = env.options(deadline);
        let work = Arc::clone(&work);
        handles.push(Ok(tokio::task::spawn_blocking(move || {
            let mut reader = Reader::new(&storage, options);
            let result = work(&mut reader, item).map_err(|error| error.to_string());
            drop(permit);
            result
        })));
    }
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(match handle {
            Ok(handle) => match handle.await {
                Ok(result) => result,
                Err(_) => Err("the evaluation panicked".to_string()),
            },
            Err(message) => Err(message),
        });
    }
    results
}

/// The status of every SLO at `now_ms`, in config order.
pub async fn statuses(
    env: &QueryEnv,
    slos: &[SloConfig],
    now_ms: i64,
) -> Vec<(SloConfig, Result<SloStatus, String>)> {
    let results = run_each(env, slos.to_vec(), move |reader, slo: SloConfig| {
        report::status(reader, &slo, now_ms)
    })
    .await;
    slos.iter().cloned().zip(results).collect()
}

/// Rows for every SLO at `now_ms` from the series their rules recorded: one query
/// for all of them (the overview's cards; `statuses` recomputes from the counters).
pub async fn recorded_rows(env: &QueryEnv, slos: &[SloConfig], now_ms: i64) -> Vec<GroupRow> {
    if slos.is_empty() {
        return Vec::new();
    }
    let configs = slos.to_vec();
    let result = run_each(env, vec![()], move |reader, ()| {
        report::recorded_statuses(reader, &configs, now_ms)
    })
    .await
    .pop()
    .unwrap_or_else(|| Err("no result".into()));
    match result {
        Ok(statuses) => slos
            .iter()
            .zip(statuses)
            .flat_map(|(slo, status)| rows(slo, &Ok(status)))
            .collect(),
        Err(error) => slos
            .iter()
            .flat_map(|slo| rows(slo, &Err(error.clone())))
            .collect(),
    }
}

/// One row of the list, or of an SLO's own summary: one group of one SLO.
pub struct GroupRow {
    pub slo: String,
    pub link: String,
    /// `service="a"`, or empty.
    pub group: String,
    pub objective: String,
    pub window: String,
    pub sli: String,
    pub budget: String,
    /// 0–100, for the bar.
    pub budget_bar: u32,
    pub budget_class: &'static str,
    pub budget_events: String,
    pub budget_time: String,
    pub burn_1h: String,
    pub burn_window: String,
    pub exhaustion: String,
    pub state: &'static str,
    pub state_class: &'static str,
    pub alerting: String,
    pub error: Option<String>,
}

fn group_text(group: &GroupStatus) -> String {
    group
        .labels
        .iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn percent(value: Option<f64>, digits: usize) -> String {
    match value {
        Some(value) if value.is_finite() => format!("{:.*} %", digits, value * 100.0),
        _ => "—".into(),
    }
}

fn times(value: Option<f64>) -> String {
    match value {
        Some(value) if value.is_finite() => format!("{value:.2}×"),
        _ => "—".into(),
    }
}

/// Digits after the point that show an SLI against its objective: one more than the
/// objective has (99.95 → 3).
fn sli_digits(objective_percent: f64) -> usize {
    let text = crate::slo::number(objective_percent);
    text.split_once('.')
        .map_or(1, |(_, fraction)| fraction.len() + 1)
}

fn seconds_text(seconds: Option<f64>) -> String {
    match seconds {
        Some(seconds) if seconds.is_finite() && seconds > 0.0 => {
            format_age(Duration::from_secs_f64(seconds))
        }
        Some(seconds) if seconds.is_finite() => "0s".into(),
        _ => "—".into(),
    }
}

/// Rows for one SLO's status (one per group, or one saying why there are none).
pub fn rows(slo: &SloConfig, status: &Result<SloStatus, String>) -> Vec<GroupRow> {
    let base = |group: String| GroupRow {
        slo: slo.name.clone(),
        link: format!("/slos/{}", urlencoding(&slo.name)),
        group,
        objective: format!("{} %", crate::slo::number(slo.objective_percent)),
        window: window_label(slo.window),
        sli: "—".into(),
        budget: "—".into(),
        budget_bar: 0,
        budget_class: "",
        budget_events: "—".into(),
        budget_time: "—".into(),
        burn_1h: "—".into(),
        burn_window: "—".into(),
        exhaustion: "—".into(),
        state: "no data",
        state_class: "muted",
        alerting: String::new(),
        error: None,
    };
    let status = match status {
        Ok(status) => status,
        Err(error) => {
            let mut row = base(String::new());
            row.state = "error";
            row.state_class = "bad";
            row.error = Some(error.clone());
            return vec![row];
        }
    };
    if status.groups.is_empty() {
        return vec![base(String::new())];
    }
    let digits = sli_digits(slo.objective_percent);
    status
        .groups
        .iter()
        .map(|group| {
            let mut row = base(group_text(group));
            row.sli = percent(group.sli, digits);
            row.budget = percent(group.budget_remaining_ratio, 1);
            row.budget_bar = group
                .budget_remaining_ratio
                .map_or(0, |ratio| (ratio.clamp(0.0, 1.0) * 100.0).round() as u32);
            row.budget_class = match group.budget_remaining_ratio {
                Some(ratio) if ratio <= 0.0 => "bad",
                Some(ratio) if ratio < 0.25 => "warn",
                Some(_) => "ok",
                None => "",
            };
            row.budget_events = match group.budget_remaining_events {
                Some(events) if events.is_finite() => format!("{events:.0}"),
                _ => "—".into(),
            };
            row.budget_time = seconds_text(group.budget_remaining_seconds);
            let burn = |seconds: u64| {
                group
                    .burn_rates
                    .iter()
                    .find(|burn| burn.window_seconds == seconds)
                    .and_then(|burn| burn.burn_rate)
            };
            row.burn_1h = times(burn(3600));
            row.burn_window = times(burn(slo.window.as_secs()));
            row.exhaustion = match group.time_to_exhaustion_seconds {
                Some(seconds) if seconds <= 0.0 => "exhausted".into(),
                Some(seconds) => seconds_text(Some(seconds)),
                None if group.sli.is_some() => "not burning".into(),
                None => "—".into(),
            };
            row.state = group.state;
            row.state_class = match group.state {
                "ok" => "ok",
                "burning" => "warn",
                "exhausted" => "bad",
                _ => "muted",
            };
            row.alerting = group.alerting.join(", ");
            row
        })
        .collect()
}

/// Percent-encodes a path segment.
fn urlencoding(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[derive(Template)]
#[template(path = "slos.html")]
struct ListPage {
    nav: Nav,
    rows: Vec<GroupRow>,
    evaluated_at: String,
    count: usize,
}

/// Renders the SLO list at `now_ms`: the whole HTML page.
pub async fn render_list(
    env: &QueryEnv,
    slos: &[SloConfig],
    now_ms: i64,
) -> Result<String, askama::Error> {
    let statuses = statuses(env, slos, now_ms).await;
    let rows = statuses
        .iter()
        .flat_map(|(slo, status)| rows(slo, status))
        .collect();
    ListPage {
        nav: Nav::new("slos"),
        rows,
        evaluated_at: format_time(now_ms),
        count: slos.len(),
    }
    .render()
}

pub async fn list(state: web::Data<WebState>) -> HttpResponse {
    let config = state.reloader.current();
    let env = QueryEnv::from_state(&state);
    match render_list(&env, &config.slos, now_ms()).await {
        Ok(html) => html_response(html),
        Err(error) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    }
}

fn now_ms() -> i64 {
    crate::config::history::unix_millis(std::time::SystemTime::now())
}

fn html_response(html: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}

struct ChartView {
    title: String,
    svg: String,
    legend: Vec<chart::LegendRow>,
    caption: String,
    error: Option<String>,
}

struct PeriodRow {
    name: String,
    partial: bool,
    group: String,
    sli: String,
    met_class: &'static str,
    met: &'static str,
    time_above: String,
    events: String,
}

#[derive(Template)]
#[template(path = "slo.html")]
struct SloPage {
    nav: Nav,
    name: String,
    description: String,
    objective: String,
    window: String,
    sli_text: String,
    source: String,
    group_by: String,
    rows: Vec<GroupRow>,
    tiers: String,
    evaluated_at: String,
    burn_down: ChartView,
    burn_charts: Vec<ChartView>,
    range: &'static str,
    ranges: &'static [&'static str],
    months: Vec<PeriodRow>,
    quarters: Vec<PeriodRow>,
    compliance_error: Option<String>,
    objective_ratio_text: String,
}

/// `range` from the query string when it is one of `RANGES`, else the default.
fn chosen_range(query_string: &str) -> &'static str {
    form_urlencoded::parse(query_string.as_bytes())
        .filter(|(key, _)| key == "range")
        .find_map(|(_, value)| RANGES.iter().find(|range| **range == value).copied())
        .unwrap_or(RANGE_DEFAULT)
}

fn sli_text(slo: &SloConfig) -> String {
    match &slo.sli {
        Sli::Events { good, total } => format!("good: {good}   total: {total}"),
        Sli::Latency {
            metric,
            matchers,
            threshold,
        } => format!(
            "latency: {metric}{{{}}} at most {}s",
            matchers.join(", "),
            crate::slo::number(*threshold)
        ),
    }
}

enum Work {
    Status,
    Compliance,
    Burn(BurnAlert),
}

enum Done {
    Status(Box<SloStatus>, Box<report::BurnDown>),
    Compliance(Compliance),
    Burn(Vec<ChartSeries>),
}

/// Renders one SLO's page at `now_ms` for the URL query string `query_string`.
pub async fn render_slo(
    env: &QueryEnv,
    slo: &SloConfig,
    query_string: &str,
    now_ms: i64,
) -> Result<String, askama::Error> {
    let range = chosen_range(query_string);
    let range_ms = crate::config::units::parse_duration(range)
        .map(|range| i64::try_from(range.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(7 * 86_400_000);
    let step_ms = chart::step_for_width(now_ms - range_ms, now_ms, SMALL_CHART_WIDTH);
    // Points at whole steps, as dashboards place them: rollup tiers then answer the
    // longer windows exactly, at a fraction of raw data's cost.
    let end_ms = now_ms.div_euclid(step_ms) * step_ms;
    let start_ms = end_ms - range_ms;
    let mut work = vec![Work::Status, Work::Compliance];
    work.extend(BURN_ALERTS.iter().map(|alert| Work::Burn(*alert)));
    let config = slo.clone();
    let results = run_each(env, work, move |reader, work| match work {
        Work::Status => {
            let status = report::status(reader, &config, now_ms)?;
            let burn_down = report::burn_down(reader, &config, &status)?;
            Ok(Done::Status(Box::new(status), Box::new(burn_down)))
        }
        Work::Compliance => report::compliance(reader, &config, now_ms).map(Done::Compliance),
        Work::Burn(alert) => {
            burn_series(reader, &config, &alert, start_ms, end_ms, step_ms).map(Done::Burn)
        }
    })
    .await;
    let mut results = results.into_iter();
    let (rows, tiers, burn_down) = match results.next() {
        Some(Ok(Done::Status(status, burn_down))) => {
            let chart = burn_down_chart(slo, &status, &burn_down);
            let tiers = status.tiers.join(", ");
            (rows(slo, &Ok(*status)), tiers, chart)
        }
        Some(Err(error)) => (
            rows(slo, &Err(error.clone())),
            String::new(),
            failed_chart("Error budget burn-down", error),
        ),
        _ => (
            Vec::new(),
            String::new(),
            failed_chart("Error budget burn-down", "no result".into()),
        ),
    };
    let (months, quarters, compliance_error) = match results.next() {
        Some(Ok(Done::Compliance(compliance))) => (
            period_rows(slo, &compliance.months),
            period_rows(slo, &compliance.quarters),
            None,
        ),
        Some(Err(error)) => (Vec::new(), Vec::new(), Some(error)),
        _ => (Vec::new(), Vec::new(), Some("no result".into())),
    };
    let mut burn_charts = Vec::with_capacity(BURN_ALERTS.len());
    for (alert, result) in BURN_ALERTS.iter().zip(results) {
        let title = format!(
            "{} burn rate over {} and {} (alert above {}×)",
            alert.severity,
            window_label(alert.long),
            window_label(alert.short),
            crate::slo::number(alert.factor)
        );
        burn_charts.push(match result {
            Ok(Done::Burn(series)) => {
                let options = ChartOptions {
                    title: title.clone(),
                    description: format!(
                        "Burn rate of SLO {} over {} and {} from {} to {}",
                        slo.name,
                        window_label(alert.long),
                        window_label(alert.short),
                        format_time(start_ms),
                        format_time(end_ms)
                    ),
                    width: SMALL_CHART_WIDTH,
                    height: CHART_HEIGHT,
                    start_ms,
                    end_ms,
                    step_ms,
                    unit: Unit::Short,
                    stacked: false,
                    log_scale: false,
                    thresholds: vec![Threshold {
                        value: alert.factor,
                        level: if alert.severity == "page" {
                            Level::Bad
                        } else {
                            Level::Warn
                        },
                        label: Some(format!("{}×", crate::slo::number(alert.factor))),
                    }],
                    shades: Vec::new(),
                };
                ChartView {
                    title,
                    svg: chart::line_chart(&series, &options),
                    legend: chart::legend(&series, Unit::Short),
                    caption: format!(
                        "The {} alert fires while both lines are above {}×.",
                        alert.severity,
                        crate::slo::number(alert.factor)
                    ),
                    error: None,
                }
            }
            Err(error) => failed_chart(&title, error),
            Ok(_) => failed_chart(&title, "no result".into()),
        });
    }
    SloPage {
        nav: Nav::new("slos"),
        name: slo.name.clone(),
        description: slo.description.clone(),
        objective: format!("{} %", crate::slo::number(slo.objective_percent)),
        objective_ratio_text: crate::slo::number(slo.objective_percent),
        window: window_label(slo.window),
        sli_text: sli_text(slo),
        source: format!("{}:{}", slo.file, slo.line),
        group_by: slo.group_by.join(", "),
        rows,
        tiers,
        evaluated_at: format_time(now_ms),
        burn_down,
        burn_charts,
        range,
        ranges: &RANGES,
        months,
        quarters,
        compliance_error,
    }
    .render()
}

fn failed_chart(title: &str, error: String) -> ChartView {
    ChartView {
        title: title.to_string(),
        svg: String::new(),
        legend: Vec::new(),
        caption: String::new(),
        error: Some(error),
    }
}

/// The long- and short-window burn rates of `alert` over the chart's range: the
/// alert's own expressions, so the chart shows what the alert evaluates.
fn burn_series(
    reader: &mut Reader,
    slo: &SloConfig,
    alert: &BurnAlert,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
) -> Result<Vec<ChartSeries>, QueryError> {
    let budget = crate::slo::number(slo.budget_fraction());
    let mut series = Vec::new();
    for window in [alert.long, alert.short] {
        let query = format!("({}) / {budget}", error_ratio_expr(slo, window));
        for (labels, points) in reader.range_points(&query, start_ms, end_ms, step_ms)? {
            let group = labels
                .iter()
                .map(|label| format!("{}={:?}", label.name, label.value))
                .collect::<Vec<_>>()
                .join(", ");
            let name = if group.is_empty() {
                format!("over {}", window_label(window))
            } else {
                format!("over {} {{{group}}}", window_label(window))
            };
            series.push(ChartSeries { name, points });
        }
    }
    Ok(series)
}

fn burn_down_chart(slo: &SloConfig, status: &SloStatus, burn_down: &report::BurnDown) -> ChartView {
    let window_ms = i64::try_from(slo.window.as_millis()).unwrap_or(i64::MAX);
    let series: Vec<ChartSeries> = burn_down
        .series
        .iter()
        .map(|(labels, points)| ChartSeries {
            name: if labels.is_empty() {
                "budget remaining".into()
            } else {
                labels
                    .iter()
                    .map(|(name, value)| format!("{name}={value:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            points: points.clone(),
        })
        .collect();
    let start_ms = status.time_ms - window_ms;
    let options = ChartOptions {
        title: "Error budget remaining over the window".into(),
        description: format!(
            "Error budget of SLO {} remaining from {} to {}",
            slo.name,
            format_time(start_ms),
            format_time(status.time_ms)
        ),
        width: CHART_WIDTH,
        height: CHART_HEIGHT,
        start_ms: start_ms - burn_down.step_ms,
        end_ms: status.time_ms,
        step_ms: burn_down.step_ms,
        unit: Unit::PercentUnit,
        stacked: false,
        log_scale: false,
        thresholds: vec![Threshold {
            value: 0.0,
            level: Level::Bad,
            label: Some("exhausted".into()),
        }],
        shades: Vec::new(),
    };
    ChartView {
        title: format!("Error budget burn-down, last {}", window_label(slo.window)),
        svg: chart::line_chart(&series, &options),
        legend: if series.len() > 1 {
            chart::legend(&series, Unit::PercentUnit)
        } else {
            Vec::new()
        },
        caption: format!(
            "Budget left as the window's errors accumulate, in {} steps; 100 % at the window's start.",
            window_label(Duration::from_millis(
                u64::try_from(burn_down.step_ms).unwrap_or(0)
            ))
        ),
        error: None,
    }
}

fn period_rows(slo: &SloConfig, periods: &[report::Period]) -> Vec<PeriodRow> {
    let digits = sli_digits(slo.objective_percent);
    let mut rows = Vec::new();
    for period in periods {
        if period.groups.is_empty() {
            rows.push(PeriodRow {
                name: period.name.clone(),
                partial: period.partial,
                group: String::new(),
                sli: "no data".into(),
                met_class: "muted",
                met: "",
                time_above: "—".into(),
                events: "0".into(),
            });
        }
        for group in &period.groups {
            rows.push(PeriodRow {
                name: period.name.clone(),
                partial: period.partial,
                group: group
                    .labels
                    .iter()
                    .map(|(name, value)| format!("{name}={value:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                sli: percent(group.sli, digits),
                met_class: match group.met {
                    Some(true) => "ok",
                    Some(false) => "bad",
                    None => "muted",
                },
                met: match group.met {
                    Some(true) => "met",
                    Some(false) => "missed",
                    None => "",
                },
                time_above: format!(
                    "{} of {} h",
                    percent(group.time_above_objective, 2),
                    group.hours_with_events
                ),
                events: format!("{:.0}", group.total_events),
            });
        }
    }
    rows
}

pub async fn show(
    state: web::Data<WebState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let config = state.reloader.current();
    let name = path.into_inner();
    let Some(slo) = config.slos.iter().find(|slo| slo.name == name) else {
        return error_page(StatusCode::NOT_FOUND, &format!("no SLO named {name:?}"));
    };
    let env = QueryEnv::from_state(&state);
    match render_slo(&env, slo, request.query_string(), now_ms()).await {
        Ok(html) => html_response(html),
        Err(error) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sli_shows_one_digit_more_than_the_objective() {
        assert_eq!(sli_digits(99.9), 2);
        assert_eq!(sli_digits(99.95), 3);
        assert_eq!(sli_digits(99.0), 1);
        assert_eq!(percent(Some(0.99912), 2), "99.91 %");
    }

    #[test]
    fn the_range_is_one_of_the_offered_ones() {
        assert_eq!(chosen_range(""), "7d");
        assert_eq!(chosen_range("range=1d"), "1d");
        assert_eq!(chosen_range("range=2d"), "7d");
    }
}
