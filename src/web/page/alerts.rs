//! `/alerts`: active alerts, silences, rules and recent history.
//! Owns: the page's view model.
//! Does not: compute anything; it reads the rule manager, the notifier's silences and
//! the history table.

use super::{Nav, format_time, render};
use crate::alert::db::HistoryQuery;
use crate::alert::rules::group::AlertState;
use crate::config::rules::RuleKind;
use crate::web::WebState;
use actix_web::{HttpResponse, web};
use askama::Template;

/// History rows shown on the page.
const HISTORY_ROWS: usize = 50;

struct AlertRow {
    name: String,
    state: &'static str,
    silenced: bool,
    labels: String,
    active_since: String,
    value: String,
    summary: String,
    link: String,
}

struct RuleRow {
    group: String,
    name: String,
    kind: &'static str,
    state: &'static str,
    health: &'static str,
    last_evaluation: String,
    error: String,
}

struct HistoryRow {
    time: String,
    alertname: String,
    event: &'static str,
    labels: String,
    receiver: String,
    outcome: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    nav: Nav,
    firing: usize,
    pending: usize,
    alerts: Vec<AlertRow>,
    silences: Vec<super::silences::SilenceRow>,
    /// The alerts page lists silences; their forms are on the silences page.
    csrf: String,
    silences_error: Option<String>,
    rules: Vec<RuleRow>,
    history: Vec<HistoryRow>,
    /// Firing alerts by name over the last day: an SVG chart, or why there is none.
    timeline: Result<String, String>,
}

pub async fn show(state: web::Data<WebState>) -> HttpResponse {
    let now_ms = crate::alert::rules::now_ms();
    let external_url = state.reloader.current().server.external_url.clone();
    let (silences, silences_error) = match state.notifier.silences(now_ms) {
        Ok(silences) => (silences, None),
        Err(error) => (Vec::new(), Some(format!("cannot list silences: {error}"))),
    };
    let mut alerts = Vec::new();
    let mut rules = Vec::new();
    for handle in state.rules.groups() {
        let group = handle.lock();
        for rule in &group.rules {
            rules.push(RuleRow {
                group: group.config.name.clone(),
                name: rule.config.name().to_string(),
                kind: match rule.config.kind {
                    RuleKind::Alert { .. } => "alerting",
                    RuleKind::Record { .. } => "recording",
                },
                state: match rule.config.kind {
                    RuleKind::Alert { .. } => rule.state(),
                    RuleKind::Record { .. } => "",
                },
                health: rule.health.as_str(),
                last_evaluation: rule.last_evaluation_ms.map(format_time).unwrap_or_default(),
                error: rule.last_error.clone().unwrap_or_default(),
            });
            for alert in rule.active.values() {
                alerts.push(AlertRow {
                    name: alert
                        .labels
                        .get(crate::alert::ALERTNAME)
                        .unwrap_or("")
                        .to_string(),
                    state: alert.state.as_str(),
                    silenced: silences
                        .iter()
                        .any(|silence| silence.mutes(&alert.labels, now_ms)),
                    labels: alert.labels.to_string(),
                    active_since: format_time(alert.active_at_ms),
                    value: crate::web::api::query::format_value(alert.value),
                    summary: alert
                        .annotations
                        .get("summary")
                        .cloned()
                        .unwrap_or_default(),
                    link: format!(
                        "{}&range={}",
                        crate::alert::rules::group::generator_url(
                            &external_url,
                            &rule.config.expr,
                            rule.config.name(),
                        ),
                        window_around(alert.active_at_ms, now_ms)
                    ),
                });
            }
        }
    }
    // Firing first, then the longest-active.
    alerts.sort_by(|a, b| {
        (a.state != "firing", &a.active_since).cmp(&(b.state != "firing", &b.active_since))
    });
    let firing = alerts
        .iter()
        .filter(|alert| alert.state == AlertState::Firing.as_str())
        .count();
    let pending = alerts.len() - firing;
    let silences = super::silences::silence_rows(&silences, now_ms);
    let db = std::sync::Arc::clone(&state.alert_db);
    let history = web::block(move || {
        db.history(&HistoryQuery {
            start_ms: i64::MIN,
            end_ms: i64::MAX,
            alertname: None,
            fingerprint: None,
            event: None,
            limit: HISTORY_ROWS,
        })
    })
    .await
    .ok()
    .and_then(Result::ok)
    .unwrap_or_default()
    .into_iter()
    .map(|event| HistoryRow {
        time: format_time(event.t_ms),
        alertname: event.alertname,
        event: event.event.as_str(),
        labels: event.labels.to_string(),
        receiver: event.receiver.unwrap_or_default(),
        outcome: event.outcome.unwrap_or_default(),
        detail: event.detail.unwrap_or_default(),
    })
    .collect();
    let timeline = timeline(&state, now_ms).await;
    render(&AlertsPage {
        timeline,
        csrf: String::new(),
        nav: Nav::new("alerts"),
        firing,
        pending,
        alerts,
        silences,
        silences_error,
        rules,
        history,
    })
}

/// How many alerts of each name fired over the last day, from the `ALERTS` series
/// through the query engine: the history at a glance.
async fn timeline(state: &WebState, now_ms: i64) -> Result<String, String> {
    use crate::web::chart::{self, ChartOptions, ChartSeries, Unit};
    const WIDTH: u32 = 1100;
    let start_ms = now_ms - 24 * 3600 * 1000;
    let step_ms = chart::step_for_width(start_ms, now_ms, WIDTH);
    let storage = std::sync::Arc::clone(&state.storage);
    let result = crate::web::api::query::run_for_page(state, move |options| {
        crate::promql::range(
            &storage,
            r#"count by (alertname) (ALERTS{alertstate="firing"})"#,
            start_ms,
            now_ms,
            step_ms,
            &options,
        )
    })
    .await;
    let series: Vec<ChartSeries> = match result {
        Ok((result, _)) => match result.value {
            crate::promql::value::QueryValue::Matrix(series) => series
                .into_iter()
                .map(|(labels, samples)| ChartSeries {
                    name: labels
                        .get(crate::alert::ALERTNAME)
                        .unwrap_or("")
                        .to_string(),
                    points: samples.iter().map(|sample| (sample.t, sample.v)).collect(),
                })
                .collect(),
            _ => Vec::new(),
        },
        Err(error) => return Err(error),
    };
    Ok(chart::line_chart(
        &series,
        &ChartOptions {
            title: "Firing alerts by name, last 24 hours".into(),
            description: "count by (alertname) (ALERTS{alertstate=\"firing\"})".into(),
            width: WIDTH,
            height: 180,
            start_ms,
            end_ms: now_ms,
            step_ms,
            unit: Unit::None,
            stacked: true,
            log_scale: false,
            thresholds: Vec::new(),
            shades: Vec::new(),
        },
    ))
}

/// The Explore range that shows an alert's whole activity with some time before it:
/// a quarter more than it has been active, at least an hour, in whole minutes.
fn window_around(active_at_ms: i64, now_ms: i64) -> String {
    let active_ms = (now_ms - active_at_ms).max(0);
    let minutes = ((active_ms + active_ms / 4 + 59_999) / 60_000).max(60);
    format!("{minutes}m")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_window_covers_the_activity_and_some_before() {
        assert_eq!(super::window_around(0, 60_000), "60m");
        assert_eq!(super::window_around(0, 4 * 3_600_000), "300m");
    }
}
