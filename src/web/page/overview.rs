//! `/`: the overview page: the key metrics of `[[overview.key_metric]]` (value,
//! health, last hour as a sparkline), each SLO's SLI and budget left (from the series
//! its rules record), firing alerts, storage health, each peer's
//! state, version, uptime, the running config and the last reload.
//! Does not: read samples except through the PromQL engine.

use super::{Nav, format_age, format_time, render};
use crate::config::ConfigSource;
use crate::promql::value::QueryValue;
use crate::reload::ReloadOutcome;
use crate::selfmon::REVISION;
use crate::web::WebState;
use crate::web::api::query::run_for_page;
use crate::web::chart::{self, Unit};
use actix_web::{HttpResponse, web};
use askama::Template;

/// A key metric's sparkline: the last hour, this wide.
const SPARKLINE_WIDTH: u32 = 160;
const SPARKLINE_HEIGHT: u32 = 36;
const SPARKLINE_RANGE_MS: i64 = 3600 * 1000;

struct KeyMetricCard {
    title: String,
    expr: String,
    value: String,
    /// `ok`, `bad`, or empty when no bound is set or there is no value.
    health: &'static str,
    bound: String,
    sparkline: String,
    error: Option<String>,
}

/// One `[[peer]]` in a line: from its `tandem_peer_*` series.
struct PeerSummary {
    name: String,
    /// `up`, `down`, `waiting for a first heartbeat`, or `no data`.
    state: &'static str,
    state_class: &'static str,
    /// `last heartbeat 4.2 s ago`, or `no heartbeat yet`.
    heartbeat: String,
    /// `reachable`, `unreachable`, or `no data`.
    reachable: &'static str,
    reachable_class: &'static str,
    /// How many alerts the peer reports firing, once it has reported.
    firing: Option<String>,
}

struct FiringAlert {
    name: String,
    labels: String,
    since: String,
    summary: String,
    link: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    nav: Nav,
    revision: &'static str,
    uptime: String,
    started_at: String,
    config_hash: String,
    config_source: String,
    listen: String,
    data_dir: String,
    reload_at: String,
    reload_by: &'static str,
    reload_ok: bool,
    reload_changed: bool,
    reload_errors: Vec<String>,
    restart_needed: Vec<String>,
    key_metrics: Vec<KeyMetricCard>,
    slos: Vec<super::slos::GroupRow>,
    firing: Vec<FiringAlert>,
    pending: usize,
    peers: Vec<PeerSummary>,
    peers_error: Option<String>,
    series: u64,
    corruptions: u64,
    disk: String,
}

pub async fn show(state: web::Data<WebState>) -> HttpResponse {
    let config = state.reloader.current();
    let report = state.reloader.last_report();
    let (reload_ok, reload_changed, reload_errors, restart_needed) = match report.outcome {
        ReloadOutcome::Applied {
            changed,
            restart_needed,
            ..
        } => (true, changed, Vec::new(), restart_needed),
        ReloadOutcome::Rejected { errors } => (false, false, errors, Vec::new()),
    };
    let config_source = match &config.source {
        ConfigSource::Directory(dir) => dir.display().to_string(),
        ConfigSource::Embedded => "embedded default".to_string(),
    };
    let mut key_metrics = Vec::with_capacity(config.key_metrics.len());
    for metric in &config.key_metrics {
        key_metrics.push(key_metric_card(&state, metric).await);
    }
    let env = super::dashboards::QueryEnv::from_state(&state);
    let now_ms = crate::config::history::unix_millis(std::time::SystemTime::now());
    let slos = super::slos::recorded_rows(&env, &config.slos, now_ms).await;
    let (firing, pending) = firing_alerts(&state, &config.server.external_url);
    let (peers, peers_error) = peer_summaries(&state, &config.peers).await;
    let stats = state.storage.stats();
    let page = OverviewPage {
        key_metrics,
        slos,
        firing,
        pending,
        peers,
        peers_error,
        series: stats.series,
        corruptions: state
            .storage
            .counters
            .corruptions
            .load(std::sync::atomic::Ordering::Relaxed),
        disk: chart::format_value(
            (stats.wal_bytes + stats.hot_bytes + stats.cold_bytes) as f64,
            Unit::Bytes,
        ),
        nav: Nav::new("overview"),
        revision: REVISION,
        uptime: format_age(state.started_instant.elapsed()),
        started_at: format_time(crate::config::history::unix_millis(state.started_at)),
        config_hash: config.hash.0.clone(),
        config_source,
        listen: config.server.listen.to_string(),
        data_dir: config.data_dir.display().to_string(),
        reload_at: format_time(report.at_ms),
        reload_by: report.applied_by.as_str(),
        reload_ok,
        reload_changed,
        reload_errors,
        restart_needed,
    };
    render(&page)
}

/// A key metric's current value, health and last hour.
async fn key_metric_card(
    state: &WebState,
    metric: &crate::config::overview::KeyMetric,
) -> KeyMetricCard {
    let unit = Unit::parse(&metric.unit).unwrap_or_default();
    let now_ms = crate::alert::rules::now_ms();
    let start_ms = now_ms - SPARKLINE_RANGE_MS;
    let step_ms = chart::step_for_width(start_ms, now_ms, SPARKLINE_WIDTH);
    let mut card = KeyMetricCard {
        title: metric.title.clone(),
        expr: metric.expr.clone(),
        value: "no data".into(),
        health: "",
        bound: match (metric.healthy_below, metric.healthy_above) {
            (Some(below), _) => format!("healthy below {}", chart::format_value(below, unit)),
            (_, Some(above)) => format!("healthy above {}", chart::format_value(above, unit)),
            _ => String::new(),
        },
        sparkline: String::new(),
        error: None,
    };
    let storage = std::sync::Arc::clone(&state.storage);
    let expr = metric.expr.clone();
    let result = run_for_page(state, move |options| {
        crate::promql::range(&storage, &expr, start_ms, now_ms, step_ms, &options)
    })
    .await;
    let points: Vec<(i64, f64)> = match result {
        Ok((result, _)) => match result.value {
            // The first series stands for the metric (it should give one).
            QueryValue::Matrix(series) => series
                .into_iter()
                .next()
                .map(|(_, samples)| samples.iter().map(|sample| (sample.t, sample.v)).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        },
        Err(error) => {
            card.error = Some(error);
            return card;
        }
    };
    // The value shown is the newest point, if it is recent (within two steps).
    if let Some((t, value)) = points.last().copied()
        && now_ms - t <= 2 * step_ms
    {
        card.value = chart::format_value(value, unit);
        card.health = match (metric.healthy_below, metric.healthy_above) {
            (Some(below), _) if value < below => "ok",
            (Some(_), _) => "bad",
            (_, Some(above)) if value > above => "ok",
            (_, Some(_)) => "bad",
            _ => "",
        };
    }
    card.sparkline = chart::sparkline(&points, SPARKLINE_WIDTH, SPARKLINE_HEIGHT);
    card
}

/// Firing alerts, longest-firing first, and how many are pending.
fn firing_alerts(state: &WebState, external_url: &str) -> (Vec<FiringAlert>, usize) {
    use crate::alert::rules::group::AlertState;
    let mut firing = Vec::new();
    let mut pending = 0;
    for handle in state.rules.groups() {
        let group = handle.lock();
        for rule in &group.rules {
            for alert in rule.active.values() {
                if alert.state != AlertState::Firing {
                    pending += 1;
                    continue;
                }
                firing.push((
                    alert.active_at_ms,
                    FiringAlert {
                        name: alert
                            .labels
                            .get(crate::alert::ALERTNAME)
                            .unwrap_or("")
                            .to_string(),
                        labels: alert.labels.without(&[crate::alert::ALERTNAME]).to_string(),
                        since: format_time(alert.active_at_ms),
                        summary: alert
                            .annotations
                            .get("summary")
                            .cloned()
                            .unwrap_or_default(),
                        link: crate::alert::rules::group::generator_url(
                            external_url,
                            &rule.config.expr,
                            rule.config.name(),
                        ),
                    },
                ));
            }
        }
    }
    firing.sort_by_key(|(since, _)| *since);
    (
        firing.into_iter().map(|(_, alert)| alert).collect(),
        pending,
    )
}

/// Each configured peer's state, heartbeat age, reachability and reported firing
/// alerts, from one query over the `tandem_peer_*` series.
async fn peer_summaries(
    state: &WebState,
    peers: &[crate::config::peer::PeerConfig],
) -> (Vec<PeerSummary>, Option<String>) {
    if peers.is_empty() {
        return (Vec::new(), None);
    }
    let now_ms = crate::alert::rules::now_ms();
    let query = r#"{__name__=~"tandem_peer_(up|reachable|last_heartbeat_timestamp_seconds|reported_firing_alerts)"}"#;
    let (series, error) = match super::instant_vector(state, query.to_string(), now_ms).await {
        Ok(series) => (series, None),
        Err(error) => (Vec::new(), Some(error)),
    };
    let summaries = peers
        .iter()
        .map(|peer| {
            peer_summary(&peer.name, now_ms, |name| {
                series
                    .iter()
                    .find(|(labels, _)| {
                        labels.metric_name() == Some(name)
                            && labels.get("peer") == Some(peer.name.as_str())
                    })
                    .map(|(_, value)| *value)
            })
        })
        .collect();
    (summaries, error)
}

/// One peer's line; `value` gives the value of its series by metric name.
fn peer_summary(name: &str, now_ms: i64, value: impl Fn(&str) -> Option<f64>) -> PeerSummary {
    let last_heartbeat = value("tandem_peer_last_heartbeat_timestamp_seconds");
    let (state, state_class) = match value("tandem_peer_up") {
        Some(0.0) => ("down", "bad"),
        Some(_) if last_heartbeat.is_none() => ("waiting for a first heartbeat", "warn"),
        Some(_) => ("up", "ok"),
        None => ("no data", "muted"),
    };
    let (reachable, reachable_class) = match value("tandem_peer_reachable") {
        Some(0.0) => ("unreachable", "bad"),
        Some(_) => ("reachable", "ok"),
        None => ("no data", "muted"),
    };
    let heartbeat = match last_heartbeat {
        Some(seconds) => format!(
            "last heartbeat {} ago",
            chart::format_value(now_ms as f64 / 1000.0 - seconds, Unit::Seconds)
        ),
        None => "no heartbeat yet".to_string(),
    };
    PeerSummary {
        name: name.to_string(),
        state,
        state_class,
        heartbeat,
        reachable,
        reachable_class,
        firing: value("tandem_peer_reported_firing_alerts")
            .map(|count| chart::format_value(count, Unit::Short)),
    }
}
