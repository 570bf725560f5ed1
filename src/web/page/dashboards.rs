//! `/dashboards` and `/dashboards/<name>`: the dashboards of `dashboards/*.toml`, every
//! panel rendered on the server.
//! Owns: a view's URL state (time range, refresh, variable values), the values a
//! variable offers (from storage's label index, like `/api/v1/label/<name>/values`),
//! each panel's query plan (step, built-ins, substitution), evaluating panels
//! concurrently within the query slots, and turning results into charts, legends,
//! stats and tables.
//! Does not: read dashboard files (`config::dashboards`), draw SVG (`web::chart`), or
//! read samples other than through `promql`.
//! Limits: `SERIES_PER_PANEL_MAX`, `STATS_PER_PANEL_MAX`, `TABLE_ROWS_MAX`,
//! `VARIABLE_OPTIONS_MAX`, `PANELS_CONCURRENT_MAX`, and `[query]` (timeout, samples,
//! slots) for every query.
//!
//! URL parameters (all optional, so every view is a link):
//! `from`, `to`: `now`, `now-6h` (a duration before now), Unix seconds or RFC 3339
//! (default `now-<time_range>` and `now`); `range`: one of `RANGES` or `custom`, and
//! when it is not `custom` it wins over `from`/`to` (the form's select); `refresh`:
//! `off` or a duration of at least 5 s (default: the file's); `var-<name>`: a
//! variable's value, repeated for several, `$__all` for All.
//!
//! A panel's step is `chart::step_for_width` of its width in pixels (`COLUMN_PX` per
//! grid column), its first point the first multiple of the step in the range (so
//! rollup tiers can answer exactly); `$__interval` is the step and `$__rate_interval`
//! max(4 × step, 1m).

use super::{Nav, format_time};
use crate::config::dashboards::{
    self, ALL_VALUE, Bindings, DashboardConfig, PanelConfig, PanelKind, VariableConfig,
    VariableSource,
};
use crate::config::units::{format_duration, parse_duration};
use crate::model::{Labels, METRIC_NAME, Matcher};
use crate::promql::value::QueryValue;
use crate::promql::{self, EvalOptions, QueryError, TierRequest};
use crate::storage::Storage;
use crate::web::WebState;
use crate::web::chart::{self, ChartOptions, ChartSeries, LegendRow, Level, Threshold};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Series one graph or heatmap panel draws; more are unreadable and weigh down the
/// page. The panel says how many it left out.
pub const SERIES_PER_PANEL_MAX: usize = 40;
/// Values one stat panel shows.
pub const STATS_PER_PANEL_MAX: usize = 12;
/// Rows one table panel lists.
pub const TABLE_ROWS_MAX: usize = 200;
/// Values one variable's select offers.
pub const VARIABLE_OPTIONS_MAX: usize = 1_000;
/// Longest value a URL may give a variable.
pub const VARIABLE_VALUE_BYTES_MAX: usize = 1_024;
/// Panels of one page evaluated at once (each also holds a query slot): more would
/// only queue on the appliance's 2–4 cores and take slots from API clients.
pub const PANELS_CONCURRENT_MAX: usize = 4;
/// Width of one of the 12 grid columns in pixels, for the query step and the SVG size.
pub const COLUMN_PX: u32 = 100;
/// Pixels a panel's frame takes from its chart's width.
const PANEL_PADDING_PX: u32 = 24;
const GRAPH_HEIGHT_PX: u32 = 220;
const SPARKLINE_HEIGHT_PX: u32 = 40;
/// Ranges of the time-range select.
pub const RANGES: [&str; 5] = ["15m", "1h", "6h", "24h", "7d"];
/// Auto-refresh intervals of the refresh select.
const REFRESHES: [&str; 7] = ["off", "10s", "30s", "1m", "5m", "15m", "1h"];

// === the list ===

struct ListEntry {
    name: String,
    title: String,
    description: String,
    panels: usize,
    file: String,
}

#[derive(Template)]
#[template(path = "dashboards.html")]
struct ListPage {
    nav: Nav,
    dashboards: Vec<ListEntry>,
}

pub async fn list(state: web::Data<WebState>) -> HttpResponse {
    let config = state.reloader.current();
    let dashboards = config
        .dashboards
        .iter()
        .map(|dashboard| ListEntry {
            name: dashboard.name.clone(),
            title: dashboard.title.clone(),
            description: dashboard.description.clone(),
            panels: dashboard.panel_count(),
            file: dashboard.file.clone(),
        })
        .collect();
    super::render(&ListPage {
        nav: Nav::new("dashboards"),
        dashboards,
    })
}

// === one dashboard ===

pub async fn show(
    state: web::Data<WebState>,
    name: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let config = state.reloader.current();
    let name = name.into_inner();
    let Some(dashboard) = config.dashboards.iter().find(|d| d.name == name) else {
        let known: Vec<&str> = config.dashboards.iter().map(|d| d.name.as_str()).collect();
        let message = format!(
            "no dashboard {name:?}: dashboards are the files dashboards/*.toml of the config directory (this config has: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
        return super::error_page(StatusCode::NOT_FOUND, &message);
    };
    let env = QueryEnv::from_state(&state);
    let now_ms = jiff::Timestamp::now().as_millisecond();
    match render_dashboard(&env, dashboard, request.query_string(), now_ms).await {
        Ok(html) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(error) => HttpResponse::InternalServerError()
            .content_type("text/plain; charset=utf-8")
            .body(format!("BUG: rendering the page failed: {error}\n")),
    }
}

/// What evaluating a page's queries needs: the storage, the query slots and the
/// `[query]` settings. The handler takes them from `WebState`; the benchmark makes its own.
#[derive(Clone)]
pub struct QueryEnv {
    pub storage: Arc<Storage>,
    /// `[query] concurrency_max` slots shared with the query API.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// Longest a page's queries may take, queueing included.
    pub timeout: Duration,
    pub lookback: Duration,
    pub samples_max: u64,
}

impl QueryEnv {
    pub fn from_state(state: &WebState) -> QueryEnv {
        let config = state.reloader.current();
        QueryEnv {
            storage: Arc::clone(&state.storage),
            slots: Arc::clone(&state.query_slots),
            timeout: config.query.timeout,
            lookback: config.query.lookback_delta,
            samples_max: config.query.samples_max,
        }
    }

    /// Evaluation settings for a page whose queries end by `deadline`.
    pub fn options(&self, deadline: Instant) -> EvalOptions {
        EvalOptions {
            lookback_ms: i64::try_from(self.lookback.as_millis()).unwrap_or(i64::MAX),
            samples_max: self.samples_max,
            deadline: Some(deadline),
            subquery_step_ms: 60_000,
            tier: TierRequest::Auto,
        }
    }
}

/// Renders `dashboard` for the URL query string `query_string` at `now_ms`: the whole
/// HTML page. Panel failures show inside their panels; bad parameters show as notices
/// above the panels, with defaults used instead.
pub async fn render_dashboard(
    env: &QueryEnv,
    dashboard: &DashboardConfig,
    query_string: &str,
    now_ms: i64,
) -> Result<String, askama::Error> {
    let request = ViewRequest::parse(query_string);
    let mut notices = Vec::new();
    let range = resolve_range(&request, dashboard.time_range, now_ms, &mut notices);
    let refresh = resolve_refresh(&request, dashboard.refresh, &mut notices);
    let deadline = Instant::now() + env.timeout;
    let (variables, bindings) =
        resolve_variables(env, dashboard, &request, &range, &mut notices).await;
    let plans = plan_panels(dashboard, &bindings, &range);
    let mut views = evaluate_panels(env, plans, deadline).await.into_iter();
    let mut rows = Vec::with_capacity(dashboard.rows.len());
    for row in &dashboard.rows {
        let panels: Vec<PanelView> = views.by_ref().take(row.panels.len()).collect();
        rows.push(RowView {
            title: substitute_display(&row.title, &bindings),
            panels,
        });
    }
    let page = DashboardPage {
        nav: Nav::new("dashboards"),
        name: dashboard.name.clone(),
        title: dashboard.title.clone(),
        description: dashboard.description.clone(),
        refresh_seconds: refresh.map(|refresh| refresh.as_secs()),
        notices,
        range_options: range_options(&range),
        from_text: range.from_text.clone(),
        to_text: range.to_text.clone(),
        range_text: format!(
            "{} to {}",
            format_time(range.start_ms),
            format_time(range.end_ms)
        ),
        refresh_options: refresh_options(refresh),
        variables,
        share_relative: share_link(dashboard, &request, &range, refresh, false),
        share_absolute: share_link(dashboard, &request, &range, refresh, true),
        rows,
    };
    page.render()
}

// === URL state ===

/// The parameters of a dashboard URL, as given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ViewRequest {
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
    refresh: Option<String>,
    /// (variable name, value) for each `var-<name>=<value>`, in order.
    variables: Vec<(String, String)>,
}

impl ViewRequest {
    fn parse(query_string: &str) -> ViewRequest {
        let mut request = ViewRequest::default();
        for (key, value) in form_urlencoded::parse(query_string.as_bytes()) {
            let value = value.trim().to_string();
            match key.as_ref() {
                "range" => request.range = Some(value).filter(|value| !value.is_empty()),
                "from" => request.from = Some(value).filter(|value| !value.is_empty()),
                "to" => request.to = Some(value).filter(|value| !value.is_empty()),
                "refresh" => request.refresh = Some(value).filter(|value| !value.is_empty()),
                other => {
                    if let Some(name) = other.strip_prefix("var-")
                        && !value.is_empty()
                    {
                        request.variables.push((name.to_string(), value));
                    }
                }
            }
        }
        request
    }

    fn values_of(&self, name: &str) -> Vec<&str> {
        self.variables
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

/// A `from`/`to` value: relative to now, or a fixed time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSpec {
    /// `now-6h`: this many milliseconds before now (negative: after).
    BeforeNow(i64),
    /// Unix milliseconds.
    At(i64),
}

impl TimeSpec {
    pub fn at(self, now_ms: i64) -> i64 {
        match self {
            TimeSpec::BeforeNow(ms) => now_ms.saturating_sub(ms),
            TimeSpec::At(ms) => ms,
        }
    }
}

/// `now`, `now-6h`, `now+5m`, Unix seconds (fractions allowed) or RFC 3339.
pub fn parse_time(text: &str) -> Result<TimeSpec, String> {
    let text = text.trim();
    let duration_ms = |duration: &str| {
        parse_duration(duration)
            .ok()
            .and_then(|duration| i64::try_from(duration.as_millis()).ok())
            .ok_or_else(|| {
                format!("{text:?}: after now- or now+ comes a duration such as 6h or 1h30m")
            })
    };
    if text == "now" {
        return Ok(TimeSpec::BeforeNow(0));
    }
    if let Some(duration) = text.strip_prefix("now-") {
        return duration_ms(duration).map(TimeSpec::BeforeNow);
    }
    if let Some(duration) = text.strip_prefix("now+") {
        return duration_ms(duration).map(|ms| TimeSpec::BeforeNow(-ms));
    }
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() && seconds.abs() < 1e13 {
            return Ok(TimeSpec::At((seconds * 1000.0).round() as i64));
        }
    } else if let Ok(timestamp) = text.parse::<jiff::Timestamp>() {
        return Ok(TimeSpec::At(timestamp.as_millisecond()));
    }
    Err(format!(
        "{text:?} is not a time: give now, now-6h, Unix seconds or RFC 3339 (2026-12-05T10:00:00Z)"
    ))
}

/// The time range a view shows.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TimeRange {
    start_ms: i64,
    end_ms: i64,
    /// As given (or defaulted), for the form and links.
    from_text: String,
    to_text: String,
    /// The select's entry: one of `RANGES`, or `None` for custom.
    quick: Option<&'static str>,
}

/// The view's range: `range` when it is one of `RANGES`, else `from`/`to`, else the
/// dashboard's `time_range` before now. Bad values become notices and defaults.
fn resolve_range(
    request: &ViewRequest,
    default: Duration,
    now_ms: i64,
    notices: &mut Vec<String>,
) -> TimeRange {
    let default_from = format!("now-{}", format_duration(default));
    let (from_text, to_text) = match request.range.as_deref() {
        Some("custom") | None => (
            request.from.clone().unwrap_or_else(|| default_from.clone()),
            request.to.clone().unwrap_or_else(|| "now".into()),
        ),
        Some(range) if RANGES.contains(&range) => (format!("now-{range}"), "now".to_string()),
        Some(range) => {
            notices.push(format!(
                "range {range:?}: not one of {}; showing the default range",
                RANGES.join(", ")
            ));
            (default_from.clone(), "now".to_string())
        }
    };
    let mut parse = |text: &str, key: &str, fallback: TimeSpec| match parse_time(text) {
        Ok(spec) => spec,
        Err(message) => {
            notices.push(format!("{key}: {message}"));
            fallback
        }
    };
    let default_ms = i64::try_from(default.as_millis()).unwrap_or(i64::MAX);
    let from = parse(&from_text, "from", TimeSpec::BeforeNow(default_ms));
    let to = parse(&to_text, "to", TimeSpec::BeforeNow(0));
    let (mut start_ms, mut end_ms) = (from.at(now_ms), to.at(now_ms));
    let (mut from_text, mut to_text) = (from_text, to_text);
    if start_ms >= end_ms {
        notices.push(format!(
            "from ({from_text}) must be before to ({to_text}); showing the default range"
        ));
        start_ms = now_ms.saturating_sub(default_ms);
        end_ms = now_ms;
        from_text = default_from;
        to_text = "now".into();
    }
    let quick = (to_text == "now")
        .then(|| {
            RANGES
                .iter()
                .find(|range| from_text.strip_prefix("now-") == Some(**range))
                .copied()
        })
        .flatten();
    TimeRange {
        start_ms,
        end_ms,
        from_text,
        to_text,
        quick,
    }
}

/// The view's auto-refresh: `refresh` (`off`, or at least `REFRESH_MIN`), else the
/// dashboard's.
fn resolve_refresh(
    request: &ViewRequest,
    default: Option<Duration>,
    notices: &mut Vec<String>,
) -> Option<Duration> {
    let Some(text) = request.refresh.as_deref() else {
        return default;
    };
    if text == "off" {
        return None;
    }
    match parse_duration(text) {
        Ok(duration) if duration.is_zero() => None,
        Ok(duration) if duration >= dashboards::REFRESH_MIN => Some(duration),
        _ => {
            notices.push(format!(
                "refresh {text:?}: give off or a duration of at least {}",
                format_duration(dashboards::REFRESH_MIN)
            ));
            default
        }
    }
}

// === variables ===

struct VariableView {
    name: String,
    label: String,
    multi: bool,
    options: Vec<OptionView>,
    /// Why the values could not be listed.
    error: Option<String>,
}

struct OptionView {
    value: String,
    text: String,
    selected: bool,
}

/// Lists each variable's values and picks the selected ones (from the URL, else the
/// default, else All or the first value), in file order so a variable's query can use
/// the ones before it. Returns the selects and the bindings for expressions.
async fn resolve_variables(
    env: &QueryEnv,
    dashboard: &DashboardConfig,
    request: &ViewRequest,
    range: &TimeRange,
    notices: &mut Vec<String>,
) -> (Vec<VariableView>, Bindings) {
    let mut bindings = Bindings::new();
    bindings.insert(
        "__range".into(),
        vec![format_duration(range_duration(range))],
    );
    let mut views = Vec::with_capacity(dashboard.variables.len());
    for variable in &dashboard.variables {
        let (mut values, error) = match list_values(env, variable, &bindings, range).await {
            Ok(values) => (values, None),
            Err(message) => (Vec::new(), Some(message)),
        };
        values.truncate(VARIABLE_OPTIONS_MAX);
        let (selected, all) = selected_values(variable, &values, request, notices);
        // A value the URL gives that is not listed (another time range) stays
        // selectable, so that the form gives it back.
        for value in &selected {
            if !values.contains(value) {
                values.push(value.clone());
            }
        }
        let mut options: Vec<OptionView> = Vec::with_capacity(values.len() + 1);
        if variable.all {
            options.push(OptionView {
                value: ALL_VALUE.into(),
                text: "All".into(),
                selected: all,
            });
        }
        options.extend(values.iter().map(|value| OptionView {
            value: value.clone(),
            text: value.clone(),
            selected: !all && selected.contains(value),
        }));
        bindings.insert(
            variable.name.clone(),
            if all { values.clone() } else { selected },
        );
        views.push(VariableView {
            name: variable.name.clone(),
            label: variable.label.clone(),
            multi: variable.multi,
            options,
            error,
        });
    }
    (views, bindings)
}

/// The selected values of `variable`, and whether All is selected.
fn selected_values(
    variable: &VariableConfig,
    values: &[String],
    request: &ViewRequest,
    notices: &mut Vec<String>,
) -> (Vec<String>, bool) {
    let mut given: Vec<String> = request
        .values_of(&variable.name)
        .into_iter()
        .filter(|value| {
            let fits = value.len() <= VARIABLE_VALUE_BYTES_MAX;
            if !fits {
                notices.push(format!(
                    "var-{}: a value longer than {VARIABLE_VALUE_BYTES_MAX} bytes is ignored",
                    variable.name
                ));
            }
            fits
        })
        .map(str::to_string)
        .collect();
    if given.is_empty()
        && let Some(default) = &variable.default
    {
        given.push(default.clone());
    }
    if given.iter().any(|value| value == ALL_VALUE) {
        if variable.all {
            return (Vec::new(), true);
        }
        given.retain(|value| value != ALL_VALUE);
    }
    if given.is_empty() {
        if variable.all {
            return (Vec::new(), true);
        }
        given.extend(values.first().cloned());
    }
    if !variable.multi {
        given.truncate(1);
    }
    given.truncate(VARIABLE_OPTIONS_MAX);
    (given, false)
}

/// The values a variable offers: its list, or the label's values among series with
/// samples in the range (storage's label index, as `/api/v1/label/<name>/values`).
async fn list_values(
    env: &QueryEnv,
    variable: &VariableConfig,
    bindings: &Bindings,
    range: &TimeRange,
) -> Result<Vec<String>, String> {
    let (selector, label) = match &variable.source {
        VariableSource::Values(values) => return Ok(values.clone()),
        VariableSource::LabelValues { selector, label } => (selector, label.clone()),
    };
    let matchers: Vec<Matcher> = match selector {
        None => Vec::new(),
        Some(selector) => {
            let substituted = dashboards::substitute(selector, bindings);
            match promql::parse::parse(&substituted.text) {
                Ok(promql::ast::Expr::Selector(selector)) => selector.matchers,
                Ok(_) => return Err(format!("{}: not a series selector", substituted.text)),
                Err(error) => return Err(format!("{}: {error}", substituted.text)),
            }
        }
    };
    let storage = Arc::clone(&env.storage);
    let (start_ms, end_ms) = (range.start_ms, range.end_ms);
    tokio::task::spawn_blocking(move || storage.label_values(&label, &matchers, start_ms, end_ms))
        .await
        .map_err(|_| "BUG: listing label values panicked".to_string())
}

/// A title with its `$variables` replaced by their values (unknown ones stay).
fn substitute_display(text: &str, bindings: &Bindings) -> String {
    if !text.contains('$') {
        return text.to_string();
    }
    let display: Bindings = bindings
        .iter()
        .map(|(name, values)| (name.clone(), vec![values.join(", ")]))
        .collect();
    dashboards::substitute(text, &display).text
}

// === panels ===

/// One panel's queries, ready to run.
#[derive(Clone, Debug)]
struct PanelPlan {
    panel: PanelConfig,
    title: String,
    /// (expression with values in place, legend template) per query.
    queries: Vec<(String, Option<String>)>,
    /// Why the panel cannot run (a variable without a value).
    error: Option<String>,
    range_start_ms: i64,
    /// The first evaluation time: the first multiple of `step_ms` in the range.
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    width_px: u32,
}

fn range_duration(range: &TimeRange) -> Duration {
    // Whole seconds: `$__range` is written as a duration.
    let ms = range.end_ms.saturating_sub(range.start_ms).max(1000);
    Duration::from_secs(u64::try_from(ms / 1000).unwrap_or(1))
}

fn plan_panels(
    dashboard: &DashboardConfig,
    bindings: &Bindings,
    range: &TimeRange,
) -> Vec<PanelPlan> {
    let mut plans = Vec::with_capacity(dashboard.panel_count());
    for panel in dashboard.rows.iter().flat_map(|row| row.panels.iter()) {
        let width_px = u32::from(panel.width) * COLUMN_PX - PANEL_PADDING_PX;
        let chart_width = match panel.kind {
            PanelKind::Stat => sparkline_width(panel),
            _ => width_px,
        };
        let step_ms = chart::step_for_width(range.start_ms, range.end_ms, chart_width).max(1000);
        let start_ms = range.start_ms + (step_ms - range.start_ms.rem_euclid(step_ms)) % step_ms;
        let mut panel_bindings = bindings.clone();
        panel_bindings.insert("__interval".into(), vec![format_ms(step_ms)]);
        panel_bindings.insert(
            "__rate_interval".into(),
            vec![format_ms((4 * step_ms).max(60_000))],
        );
        let mut error = None;
        let queries = panel
            .queries
            .iter()
            .map(|query| {
                let substituted = dashboards::substitute(&query.expr, &panel_bindings);
                if let Some((_, name)) = substituted.unknown.first() {
                    error = Some(format!("${name} has no value"));
                }
                (substituted.text, query.legend.clone())
            })
            .collect();
        plans.push(PanelPlan {
            panel: panel.clone(),
            title: substitute_display(&panel.title, bindings),
            queries,
            error,
            range_start_ms: range.start_ms,
            start_ms,
            end_ms: range.end_ms,
            step_ms,
            width_px,
        });
    }
    plans
}

fn format_ms(ms: i64) -> String {
    format_duration(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

fn sparkline_width(panel: &PanelConfig) -> u32 {
    (u32::from(panel.width) * COLUMN_PX - PANEL_PADDING_PX).min(240)
}

/// Evaluates every plan on the blocking pool, at most `PANELS_CONCURRENT_MAX` at once
/// and each holding a query slot; results in plan order.
async fn evaluate_panels(
    env: &QueryEnv,
    plans: Vec<PanelPlan>,
    deadline: Instant,
) -> Vec<PanelView> {
    enum Pending {
        Running(tokio::task::JoinHandle<PanelView>),
        Done(Box<PanelView>),
    }
    let page_slots = Arc::new(tokio::sync::Semaphore::new(PANELS_CONCURRENT_MAX));
    let mut pending = Vec::with_capacity(plans.len());
    for plan in plans {
        if let Some(error) = &plan.error {
            pending.push(Pending::Done(Box::new(PanelView::failed(
                &plan,
                error.clone(),
            ))));
            continue;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let acquired = tokio::time::timeout(remaining, async {
            let page = Arc::clone(&page_slots).acquire_owned().await?;
            let global = Arc::clone(&env.slots).acquire_owned().await?;
            Ok::<_, tokio::sync::AcquireError>((page, global))
        })
        .await;
        let permits = match acquired {
            Ok(Ok(permits)) => permits,
            Ok(Err(_)) => {
                let view = PanelView::failed(&plan, "the server is shutting down".into());
                pending.push(Pending::Done(Box::new(view)));
                continue;
            }
            Err(_) => {
                let view = PanelView::failed(&plan, "query timed out in query queue".into());
                pending.push(Pending::Done(Box::new(view)));
                continue;
            }
        };
        let storage = Arc::clone(&env.storage);
        let options = env.options(deadline);
        pending.push(Pending::Running(tokio::task::spawn_blocking(move || {
            let view = evaluate_panel(&storage, &plan, &options);
            drop(permits);
            view
        })));
    }
    let mut views = Vec::with_capacity(pending.len());
    for entry in pending {
        views.push(match entry {
            Pending::Done(view) => *view,
            Pending::Running(handle) => handle.await.unwrap_or_else(|_| PanelView {
                error: Some("BUG: evaluating this panel panicked".into()),
                ..PanelView::default()
            }),
        });
    }
    views
}

/// A panel as the template shows it.
#[derive(Default)]
struct PanelView {
    title: String,
    description: String,
    kind: &'static str,
    width: u8,
    /// The chart (graph, heatmap).
    svg: Option<String>,
    legend: Vec<LegendRow>,
    stats: Vec<StatView>,
    table: Vec<TableRow>,
    /// "showing 40 of 120 series".
    note: Option<String>,
    error: Option<String>,
    /// Each query, with its values in place, for the explore page.
    explore_links: Vec<String>,
}

struct StatView {
    name: String,
    value: String,
    /// `ok`, `warn`, `bad`, or empty without thresholds.
    class: &'static str,
    sparkline: String,
}

struct TableRow {
    name: String,
    value: String,
}

impl PanelView {
    fn new(plan: &PanelPlan) -> PanelView {
        let explore_links = plan
            .queries
            .iter()
            .map(|(expr, _)| {
                let prefix = "/explore?".to_string();
                let start = prefix.len();
                form_urlencoded::Serializer::for_suffix(prefix, start)
                    .append_pair("expr", expr)
                    .finish()
            })
            .collect();
        PanelView {
            title: plan.title.clone(),
            description: plan.panel.description.clone(),
            kind: plan.panel.kind.name(),
            width: plan.panel.width,
            explore_links,
            ..PanelView::default()
        }
    }

    fn failed(plan: &PanelPlan, error: String) -> PanelView {
        PanelView {
            error: Some(error),
            ..PanelView::new(plan)
        }
    }
}

/// Runs a panel's queries and renders what they gave. Never fails: errors are shown.
fn evaluate_panel(storage: &Storage, plan: &PanelPlan, options: &EvalOptions) -> PanelView {
    let mut view = PanelView::new(plan);
    let outcome = match plan.panel.kind {
        PanelKind::Graph => graph(storage, plan, options, &mut view),
        PanelKind::Stat => stat(storage, plan, options, &mut view),
        PanelKind::Table => table(storage, plan, options, &mut view),
        PanelKind::Heatmap => heatmap(storage, plan, options, &mut view),
    };
    if let Err(error) = outcome {
        view.error = Some(error);
    }
    view
}

/// The series of each query's range evaluation, named by its legend.
fn range_series(
    storage: &Storage,
    plan: &PanelPlan,
    options: &EvalOptions,
) -> Result<Vec<(Labels, ChartSeries)>, String> {
    let mut all = Vec::new();
    for (index, (expr, legend)) in plan.queries.iter().enumerate() {
        let result = promql::range(
            storage,
            expr,
            plan.start_ms,
            plan.end_ms,
            plan.step_ms,
            options,
        )
        .map_err(|error| query_error(plan, index, &error))?;
        let QueryValue::Matrix(series) = result.value else {
            return Err(query_error_text(
                plan,
                index,
                "the result is not a range of values",
            ));
        };
        for (labels, samples) in series {
            let name = series_name(&labels, legend.as_deref(), expr);
            let points = samples.iter().map(|sample| (sample.t, sample.v)).collect();
            all.push((labels, ChartSeries { name, points }));
        }
    }
    Ok(all)
}

/// The series of each query's instant evaluation at the end of the range.
fn instant_series(
    storage: &Storage,
    plan: &PanelPlan,
    options: &EvalOptions,
) -> Result<Vec<(Labels, String, f64)>, String> {
    let mut all = Vec::new();
    for (index, (expr, legend)) in plan.queries.iter().enumerate() {
        let result = promql::instant(storage, expr, plan.end_ms, options)
            .map_err(|error| query_error(plan, index, &error))?;
        match result.value {
            QueryValue::Scalar(_, value) => {
                all.push((
                    Labels::default(),
                    series_name(&Labels::default(), legend.as_deref(), expr),
                    value,
                ));
            }
            QueryValue::Vector(samples) => {
                for (labels, sample) in samples {
                    let name = series_name(&labels, legend.as_deref(), expr);
                    all.push((labels, name, sample.v));
                }
            }
            QueryValue::Matrix(_) | QueryValue::String(..) => {
                return Err(query_error_text(
                    plan,
                    index,
                    "the result is not an instant vector or a scalar",
                ));
            }
        }
    }
    Ok(all)
}

fn query_error(plan: &PanelPlan, index: usize, error: &QueryError) -> String {
    query_error_text(plan, index, &error.to_string())
}

fn query_error_text(plan: &PanelPlan, index: usize, message: &str) -> String {
    if plan.queries.len() > 1 {
        format!("query {}: {message}", index + 1)
    } else {
        message.to_string()
    }
}

/// The legend template applied to `labels`; without one, the labels as PromQL writes
/// them, or the expression for a series without labels.
fn series_name(labels: &Labels, legend: Option<&str>, expr: &str) -> String {
    if let Some(template) = legend {
        return dashboards::expand_legend(template, |name| labels.get(name).map(str::to_string));
    }
    if labels.is_empty() {
        return expr.to_string();
    }
    let mut text = labels.metric_name().unwrap_or("").to_string();
    let pairs: Vec<String> = labels
        .iter()
        .filter(|label| label.name != METRIC_NAME)
        .map(|label| format!("{}={:?}", label.name, label.value))
        .collect();
    if !pairs.is_empty() || text.is_empty() {
        text.push('{');
        text.push_str(&pairs.join(", "));
        text.push('}');
    }
    text
}

fn chart_options(plan: &PanelPlan, height: u32) -> ChartOptions {
    let panel = &plan.panel;
    ChartOptions {
        title: plan.title.clone(),
        description: if panel.description.is_empty() {
            plan.queries
                .iter()
                .map(|(expr, _)| expr.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            panel.description.clone()
        },
        width: plan.width_px,
        height,
        start_ms: plan.range_start_ms,
        end_ms: plan.end_ms,
        step_ms: plan.step_ms,
        unit: panel.unit,
        stacked: panel.stacked,
        log_scale: panel.log_scale,
        thresholds: panel
            .thresholds
            .iter()
            .map(|threshold| Threshold {
                value: threshold.value,
                level: threshold.level,
                label: threshold.label.clone(),
            })
            .collect(),
        shades: Vec::new(),
    }
}

fn truncation_note(shown: usize, total: usize, what: &str) -> Option<String> {
    (total > shown).then(|| format!("showing {shown} of {total} {what}"))
}

fn graph(
    storage: &Storage,
    plan: &PanelPlan,
    options: &EvalOptions,
    view: &mut PanelView,
) -> Result<(), String> {
    let mut series: Vec<ChartSeries> = range_series(storage, plan, options)?
        .into_iter()
        .map(|(_, series)| series)
        .collect();
    view.note = truncation_note(SERIES_PER_PANEL_MAX, series.len(), "series");
    series.truncate(SERIES_PER_PANEL_MAX);
    view.svg = Some(chart::line_chart(
        &series,
        &chart_options(plan, GRAPH_HEIGHT_PX),
    ));
    view.legend = chart::legend(&series, plan.panel.unit);
    Ok(())
}

/// Each series' value at the end of the range, coloured by the thresholds it reaches,
/// with a sparkline of the range.
fn stat(
    storage: &Storage,
    plan: &PanelPlan,
    options: &EvalOptions,
    view: &mut PanelView,
) -> Result<(), String> {
    let values = instant_series(storage, plan, options)?;
    let mut lines: HashMap<Labels, Vec<(i64, f64)>> = range_series(storage, plan, options)?
        .into_iter()
        .map(|(labels, series)| (labels, series.points))
        .collect();
    view.note = truncation_note(STATS_PER_PANEL_MAX, values.len(), "values");
    let width = sparkline_width(&plan.panel);
    for (labels, name, value) in values.into_iter().take(STATS_PER_PANEL_MAX) {
        let points = lines.remove(&labels).unwrap_or_default();
        view.stats.push(StatView {
            name,
            value: chart::format_value(value, plan.panel.unit),
            class: threshold_class(&plan.panel, value),
            sparkline: chart::sparkline(&points, width, SPARKLINE_HEIGHT_PX),
        });
    }
    Ok(())
}

/// `bad` or `warn` for the highest threshold `value` reaches, `ok` below all of them,
/// empty for a panel without thresholds.
fn threshold_class(panel: &PanelConfig, value: f64) -> &'static str {
    if panel.thresholds.is_empty() {
        return "";
    }
    let reached = panel
        .thresholds
        .iter()
        .filter(|threshold| value >= threshold.value)
        .map(|threshold| threshold.level);
    let mut class = "ok";
    for level in reached {
        match level {
            Level::Bad => return "bad",
            Level::Warn => class = "warn",
        }
    }
    class
}

fn table(
    storage: &Storage,
    plan: &PanelPlan,
    options: &EvalOptions,
    view: &mut PanelView,
) -> Result<(), String> {
    let values = instant_series(storage, plan, options)?;
    view.note = truncation_note(TABLE_ROWS_MAX, values.len(), "rows");
    view.table = values
        .into_iter()
        .take(TABLE_ROWS_MAX)
        .map(|(_, name, value)| TableRow {
            name,
            value: chart::format_value(value, plan.panel.unit),
        })
        .collect();
    Ok(())
}

/// A classic histogram: series grouped by `le` (summed when several share one),
/// cumulative counts turned into per-bucket ones.
fn heatmap(
    storage: &Storage,
    plan: &PanelPlan,
    options: &EvalOptions,
    view: &mut PanelView,
) -> Result<(), String> {
    let series = range_series(storage, plan, options)?;
    if series.is_empty() {
        // No data is not an error: the chart says so over its axes.
        view.svg = Some(chart::heatmap(&[], &chart_options(plan, GRAPH_HEIGHT_PX)));
        return Ok(());
    }
    let mut by_le: Vec<(f64, HashMap<i64, f64>)> = Vec::new();
    for (labels, series) in series {
        let Some(le) = labels.get("le").and_then(parse_le) else {
            continue;
        };
        let index = match by_le.iter().position(|(bound, _)| *bound == le) {
            Some(index) => index,
            None => {
                by_le.push((le, HashMap::new()));
                by_le.len() - 1
            }
        };
        for (t, v) in series.points {
            *by_le[index].1.entry(t).or_default() += v;
        }
    }
    if by_le.is_empty() {
        return Err("no series with an le label: a heatmap needs histogram buckets, e.g. sum by (le) (rate(x_bucket[$__rate_interval]))".into());
    }
    by_le.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut buckets: Vec<(f64, Vec<(i64, f64)>)> = Vec::with_capacity(by_le.len());
    let mut below: HashMap<i64, f64> = HashMap::new();
    for (le, cumulative) in &by_le {
        let mut points: Vec<(i64, f64)> = cumulative
            .iter()
            .map(|(t, v)| (*t, (v - below.get(t).copied().unwrap_or(0.0)).max(0.0)))
            .collect();
        points.sort_by_key(|(t, _)| *t);
        buckets.push((*le, points));
        below = cumulative.clone();
    }
    view.svg = Some(chart::heatmap(
        &buckets,
        &chart_options(plan, GRAPH_HEIGHT_PX),
    ));
    Ok(())
}

/// An `le` label's bound: a float, or `+Inf`.
fn parse_le(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
        _ => text.parse().ok(),
    }
}

// === the page ===

struct RowView {
    title: String,
    panels: Vec<PanelView>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    nav: Nav,
    name: String,
    title: String,
    description: String,
    /// `<meta http-equiv="refresh">` when set.
    refresh_seconds: Option<u64>,
    notices: Vec<String>,
    /// (value, text, selected) of the range select.
    range_options: Vec<(String, String, bool)>,
    from_text: String,
    to_text: String,
    range_text: String,
    /// (value, selected) of the refresh select.
    refresh_options: Vec<(String, bool)>,
    variables: Vec<VariableView>,
    share_relative: String,
    share_absolute: String,
    rows: Vec<RowView>,
}

fn range_options(range: &TimeRange) -> Vec<(String, String, bool)> {
    let mut options = vec![(
        "custom".to_string(),
        "custom (from, to)".to_string(),
        range.quick.is_none(),
    )];
    options.extend(RANGES.iter().map(|quick| {
        (
            quick.to_string(),
            format!("last {quick}"),
            range.quick == Some(*quick),
        )
    }));
    options
}

fn refresh_options(refresh: Option<Duration>) -> Vec<(String, bool)> {
    let current = refresh.map_or_else(|| "off".to_string(), format_duration);
    let mut options: Vec<(String, bool)> = REFRESHES
        .iter()
        .map(|option| (option.to_string(), *option == current))
        .collect();
    if !REFRESHES.contains(&current.as_str()) {
        options.push((current, true));
    }
    options
}

/// A link to this view: relative times as given, or (`absolute`) the resolved range
/// in Unix seconds, which shows the same data whenever it is opened.
fn share_link(
    dashboard: &DashboardConfig,
    request: &ViewRequest,
    range: &TimeRange,
    refresh: Option<Duration>,
    absolute: bool,
) -> String {
    let prefix = format!("/dashboards/{}?", dashboard.name);
    let start = prefix.len();
    let mut url = form_urlencoded::Serializer::for_suffix(prefix, start);
    if absolute {
        url.append_pair("from", &(range.start_ms / 1000).to_string());
        url.append_pair("to", &range.end_ms.div_euclid(1000).to_string());
    } else {
        url.append_pair("from", &range.from_text);
        url.append_pair("to", &range.to_text);
        if let Some(refresh) = refresh {
            url.append_pair("refresh", &format_duration(refresh));
        }
    }
    for (name, value) in &request.variables {
        url.append_pair(&format!("var-{name}"), value);
    }
    url.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_900_000_000;

    #[test]
    fn times_parse_relative_and_absolute() {
        assert_eq!(parse_time("now"), Ok(TimeSpec::BeforeNow(0)));
        assert_eq!(parse_time("now-6h"), Ok(TimeSpec::BeforeNow(6 * 3_600_000)));
        assert_eq!(parse_time("now-1h30m"), Ok(TimeSpec::BeforeNow(5_400_000)));
        assert_eq!(parse_time("now+5m"), Ok(TimeSpec::BeforeNow(-300_000)));
        assert_eq!(parse_time("1764900000"), Ok(TimeSpec::At(NOW)));
        assert_eq!(parse_time("1764900000.5"), Ok(TimeSpec::At(NOW + 500)));
        assert_eq!(parse_time("2025-12-05T02:00:00Z"), Ok(TimeSpec::At(NOW)));
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("now-6x").is_err());
        assert!(parse_time("now-").is_err());
        assert_eq!(TimeSpec::BeforeNow(1000).at(NOW), NOW - 1000);
    }

    fn range_of(query: &str) -> (TimeRange, Vec<String>) {
        let mut notices = Vec::new();
        let request = ViewRequest::parse(query);
        let range = resolve_range(&request, Duration::from_secs(3600), NOW, &mut notices);
        (range, notices)
    }

    #[test]
    fn ranges_come_from_the_select_the_inputs_or_the_default() {
        let (range, notices) = range_of("");
        assert_eq!((range.start_ms, range.end_ms), (NOW - 3_600_000, NOW));
        assert_eq!(range.quick, Some("1h"));
        assert!(notices.is_empty());
        let (range, _) = range_of("range=24h&from=now-1h&to=now");
        assert_eq!(range.start_ms, NOW - 86_400_000);
        assert_eq!(range.from_text, "now-24h");
        let (range, _) = range_of("range=custom&from=1764800000&to=1764850000");
        assert_eq!(
            (range.start_ms, range.end_ms),
            (1_764_800_000_000, 1_764_850_000_000)
        );
        assert_eq!(range.quick, None);
        let (range, notices) = range_of("from=now&to=now-1h");
        assert_eq!(range.start_ms, NOW - 3_600_000);
        assert_eq!(notices.len(), 1, "{notices:?}");
        let (range, notices) = range_of("from=soon");
        assert_eq!(range.start_ms, NOW - 3_600_000);
        assert!(notices[0].starts_with("from: "), "{notices:?}");
    }

    #[test]
    fn refresh_is_off_a_duration_or_the_default() {
        let refresh = |query: &str| {
            let mut notices = Vec::new();
            let request = ViewRequest::parse(query);
            let found = resolve_refresh(&request, Some(Duration::from_secs(30)), &mut notices);
            (found.map(|duration| duration.as_secs()), notices.len())
        };
        assert_eq!(refresh(""), (Some(30), 0));
        assert_eq!(refresh("refresh=off"), (None, 0));
        assert_eq!(refresh("refresh=1m"), (Some(60), 0));
        assert_eq!(refresh("refresh=1s"), (Some(30), 1));
    }

    fn variable(multi: bool, all: bool, default: Option<&str>) -> VariableConfig {
        VariableConfig {
            name: "instance".into(),
            label: "Instance".into(),
            source: VariableSource::Values(vec!["a".into(), "b".into()]),
            multi,
            all,
            default: default.map(str::to_string),
        }
    }

    #[test]
    fn selected_values_follow_url_default_all_first() {
        let values = vec!["a".to_string(), "b".to_string()];
        let pick = |variable: &VariableConfig, query: &str| {
            selected_values(
                variable,
                &values,
                &ViewRequest::parse(query),
                &mut Vec::new(),
            )
        };
        let single = variable(false, false, None);
        assert_eq!(pick(&single, ""), (vec!["a".to_string()], false));
        assert_eq!(
            pick(&single, "var-instance=b&var-instance=a"),
            (vec!["b".to_string()], false)
        );
        let multi = variable(true, true, None);
        assert_eq!(pick(&multi, ""), (vec![], true));
        assert_eq!(pick(&multi, "var-instance=%24__all"), (vec![], true));
        assert_eq!(
            pick(&multi, "var-instance=b&var-instance=a"),
            (vec!["b".to_string(), "a".to_string()], false)
        );
        let with_default = variable(false, false, Some("b"));
        assert_eq!(pick(&with_default, ""), (vec!["b".to_string()], false));
    }

    #[test]
    fn series_names_follow_the_legend() {
        let labels = Labels::new([("__name__", "up"), ("instance", "a"), ("job", "node")])
            .unwrap_or_default();
        assert_eq!(
            series_name(&labels, Some("{{instance}} ({{job}})"), "up"),
            "a (node)"
        );
        assert_eq!(
            series_name(&labels, None, "up"),
            r#"up{instance="a", job="node"}"#
        );
        assert_eq!(
            series_name(&Labels::default(), None, "vector(1)"),
            "vector(1)"
        );
    }

    #[test]
    fn le_bounds() {
        assert_eq!(parse_le("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_le("0.25"), Some(0.25));
        assert_eq!(parse_le("x"), None);
    }
}
