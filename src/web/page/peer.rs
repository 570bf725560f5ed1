//! `/peer`: each `[[peer]]` beside this instance (version, uptime, config hash,
//! heartbeats both ways, clock skew, and the health each side reports), the peer's
//! firing alerts, and a chart of heartbeat gaps; without `[[peer]]`, how to pair.
//! Owns: the page's view model and its `range` parameter.
//! Does not: read samples except through the PromQL engine (`run_for_page`). This
//! instance's column is live process state (`PeerService::local_status`), not stored
//! data; the peer's column is what its heartbeats wrote (`tandem_peer_*`, listed in
//! `crate::peer`).

use super::explore::firing_intervals;
use super::{Nav, format_age, format_time, instant_vector, promql_string, render};
use crate::config::peer::PeerConfig;
use crate::model::Labels;
use crate::peer::LocalStatus;
use crate::promql::value::QueryValue;
use crate::web::WebState;
use crate::web::api::query::run_for_page;
use crate::web::chart::{self, ChartOptions, ChartSeries, Level, Threshold, Unit};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

/// The heartbeat chart's size in pixels (it shrinks to the screen's width).
const GRAPH_WIDTH: u32 = 1100;
const GRAPH_HEIGHT: u32 = 220;
/// Ranges of the chart's select, and the one shown without `range`.
const RANGES: [&str; 5] = ["15m", "1h", "6h", "24h", "7d"];
const RANGE_DEFAULT: &str = "1h";
/// How far back a silent peer's last figures are looked for. Fresh ones are within
/// the query lookback; a heartbeat's figures stop being written when the peer goes
/// silent, and the page should still show what it last said.
const LAST_KNOWN_RANGE: &str = "1d";
/// What a cell shows without a value.
const ABSENT: &str = "—";
/// Thresholds of the default rules (`config/rules/peer.toml`), to colour the same
/// figures the alerts watch. Only a colour: the alerts decide.
const NEWEST_SAMPLE_AGE_BAD_SECONDS: f64 = 300.0;
const RULE_LAG_BAD_SECONDS: f64 = 60.0;
const DISK_FREE_RATIO_BAD: f64 = 0.05;
const CLOCK_SKEW_WARN_SECONDS: f64 = 10.0;

/// One side of a row.
struct Cell {
    text: String,
    /// `ok`, `warn`, `bad`, `differs` or empty.
    class: &'static str,
    /// A second, smaller line: an error, a time.
    note: String,
}

impl Cell {
    fn new(text: impl Into<String>, class: &'static str) -> Cell {
        Cell {
            text: text.into(),
            class,
            note: String::new(),
        }
    }

    fn absent() -> Cell {
        Cell::new(ABSENT, "")
    }

    fn with_note(mut self, note: impl Into<String>) -> Cell {
        self.note = note.into();
        self
    }
}

struct Row {
    label: &'static str,
    ours: Cell,
    theirs: Cell,
}

impl Row {
    /// Both columns, for the template.
    fn cells(&self) -> [&Cell; 2] {
        [&self.ours, &self.theirs]
    }
}

struct PeerAlert {
    name: String,
    labels: String,
}

struct PeerView {
    name: String,
    heard: bool,
    /// Said above the table when the peer is silent: since when, and that its
    /// figures are from its last heartbeat.
    silent_note: Option<String>,
    rows: Vec<Row>,
    alerts: Vec<PeerAlert>,
    chart: Option<String>,
    /// The threshold line's value, for the text under the chart.
    down_after: String,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "peer.html")]
struct PeerPage {
    nav: Nav,
    own_name: String,
    range: &'static str,
    ranges: &'static [&'static str],
    peers: Vec<PeerView>,
}

pub async fn show(request: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let config = state.reloader.current();
    let range = chosen_range(request.query_string());
    let mut page = PeerPage {
        nav: Nav::new("peer"),
        own_name: config.server.name.clone(),
        range,
        ranges: &RANGES,
        peers: Vec::with_capacity(config.peers.len()),
    };
    if config.peers.is_empty() {
        return render(&page);
    }
    let local = state.peers.local_status().await;
    let now_ms = crate::alert::rules::now_ms();
    for peer in &config.peers {
        page.peers
            .push(peer_view(&state, peer, &local, now_ms, range).await);
    }
    render(&page)
}

/// `range` from the query string when it is one of `RANGES`, else the default.
fn chosen_range(query_string: &str) -> &'static str {
    form_urlencoded::parse(query_string.as_bytes())
        .filter(|(name, _)| name == "range")
        .find_map(|(_, value)| RANGES.iter().find(|range| **range == value).copied())
        .unwrap_or(RANGE_DEFAULT)
}

/// A peer's series at one instant.
#[derive(Default)]
struct Snapshot(Vec<(Labels, f64)>);

impl Snapshot {
    fn series(&self, name: &str) -> Option<&(Labels, f64)> {
        self.0
            .iter()
            .find(|(labels, _)| labels.metric_name() == Some(name))
    }

    fn value(&self, name: &str) -> Option<f64> {
        self.series(name).map(|(_, value)| *value)
    }

    fn label(&self, name: &str, label: &str) -> Option<String> {
        self.series(name)
            .and_then(|(labels, _)| labels.get(label))
            .map(str::to_string)
    }
}

/// What the stored series say about one peer. `current`: its series within the query
/// lookback, honouring stale markers, so what holds now (up, reachable, errors).
/// `last`: each series' last value within `LAST_KNOWN_RANGE`, for the figures a
/// silent peer no longer refreshes.
struct Known {
    current: Snapshot,
    last: Snapshot,
}

impl Known {
    fn figure(&self, name: &str) -> Option<f64> {
        self.current.value(name).or_else(|| self.last.value(name))
    }

    fn figure_label(&self, name: &str, label: &str) -> Option<String> {
        self.current
            .label(name, label)
            .or_else(|| self.last.label(name, label))
    }

    fn reported(&self, figure: &str) -> Option<f64> {
        self.figure(&format!("tandem_peer_reported_{figure}"))
    }
}

async fn peer_view(
    state: &WebState,
    peer: &PeerConfig,
    local: &LocalStatus,
    now_ms: i64,
    range: &'static str,
) -> PeerView {
    let mut errors = Vec::new();
    let (known, alerts) = read_peer(state, &peer.name, now_ms, &mut errors).await;
    let last_heartbeat_ms = known
        .figure("tandem_peer_last_heartbeat_timestamp_seconds")
        .map(|seconds| (seconds * 1000.0) as i64);
    // A silent peer's figures are from its last heartbeat, and its uptime is as of
    // then: it may have died since.
    let silent_since_ms =
        last_heartbeat_ms.filter(|_| known.current.value("tandem_peer_up") == Some(0.0));
    let silent_note = silent_since_ms.map(|last_ms| {
        format!(
            "No heartbeat from {} for {}: the figures below are from its last one, at {}.",
            peer.name,
            format_age(age(now_ms, last_ms)),
            format_time(last_ms)
        )
    });
    let as_of_ms = silent_since_ms.unwrap_or(now_ms);
    let mut rows = identity_rows(peer, local, &known, now_ms, as_of_ms);
    rows.extend(heartbeat_rows(peer, &known, now_ms, last_heartbeat_ms));
    rows.extend(health_rows(local, &known));
    let range_ms = crate::config::units::parse_duration(range)
        .map_or(3_600_000, |duration| duration.as_millis() as i64);
    let chart = match heartbeat_chart(state, peer, now_ms - range_ms, now_ms).await {
        Ok(svg) => Some(svg),
        Err(error) => {
            errors.push(error);
            None
        }
    };
    PeerView {
        name: peer.name.clone(),
        heard: last_heartbeat_ms.is_some(),
        silent_note,
        rows,
        alerts,
        chart,
        down_after: chart::format_value(peer.down_after_duration().as_secs_f64(), Unit::Seconds),
        errors,
    }
}

/// The peer's series now and as last known, and its firing alerts; a query that
/// fails adds its error to `errors` and counts as no series.
async fn read_peer(
    state: &WebState,
    name: &str,
    now_ms: i64,
    errors: &mut Vec<String>,
) -> (Known, Vec<PeerAlert>) {
    let mut collect = |result: Result<Vec<(Labels, f64)>, String>| {
        result.unwrap_or_else(|error| {
            errors.push(error);
            Vec::new()
        })
    };
    let quoted = promql_string(name);
    let selector = format!(r#"{{__name__=~"tandem_peer_.+", peer={quoted}}}"#);
    let last_query = format!("last_over_time({selector}[{LAST_KNOWN_RANGE}])");
    let alerts_query = format!(r#"ALERTS{{peer={quoted}, alertstate="firing"}}"#);
    let current = collect(instant_vector(state, selector, now_ms).await);
    let last = collect(instant_vector(state, last_query, now_ms).await);
    let firing = collect(instant_vector(state, alerts_query, now_ms).await);
    let known = Known {
        current: Snapshot(current),
        last: Snapshot(last),
    };
    (known, firing.into_iter().map(peer_alert).collect())
}

fn age(now_ms: i64, then_ms: i64) -> std::time::Duration {
    std::time::Duration::from_millis(u64::try_from(now_ms - then_ms).unwrap_or(0))
}

/// Name, version, uptime, config hash.
fn identity_rows(
    peer: &PeerConfig,
    local: &LocalStatus,
    known: &Known,
    now_ms: i64,
    as_of_ms: i64,
) -> Vec<Row> {
    let uptime = |start_ms: i64, as_of_ms: i64| {
        Cell::new(format_age(age(as_of_ms, start_ms)), "")
            .with_note(format!("since {}", format_time(start_ms)))
    };
    let their_hash = known.figure_label("tandem_peer_info", "config_hash");
    let hash = match their_hash {
        Some(hash) if hash != local.config_hash => Cell::new(hash, "differs"),
        Some(hash) => Cell::new(hash, ""),
        None => Cell::absent(),
    };
    vec![
        Row {
            label: "Name",
            ours: Cell::new(local.name.clone(), "").with_note("this instance"),
            theirs: Cell::new(peer.name.clone(), "").with_note(peer.url.clone()),
        },
        Row {
            label: "Version",
            ours: Cell::new(local.version, ""),
            theirs: known
                .figure_label("tandem_peer_info", "version")
                .map_or_else(Cell::absent, |version| Cell::new(version, "")),
        },
        Row {
            label: "Uptime",
            ours: uptime(local.start_time_ms, now_ms),
            theirs: known
                .reported("start_time_seconds")
                .map_or_else(Cell::absent, |seconds| {
                    uptime((seconds * 1000.0) as i64, as_of_ms)
                }),
        },
        Row {
            label: "Config hash",
            ours: Cell::new(local.config_hash.clone(), ""),
            theirs: hash,
        },
    ]
}

/// The last heartbeat, both directions' state, clock skew: about the pair, so this
/// instance's column has nothing to say.
fn heartbeat_rows(
    peer: &PeerConfig,
    known: &Known,
    now_ms: i64,
    last_heartbeat_ms: Option<i64>,
) -> Vec<Row> {
    let last_heartbeat = match last_heartbeat_ms {
        Some(last_ms) => {
            let age_ms = now_ms - last_ms;
            let late = age_ms > peer.down_after_duration().as_millis() as i64;
            let age = chart::format_value(age_ms as f64 / 1000.0, Unit::Seconds);
            Cell::new(format!("{age} ago"), if late { "bad" } else { "" })
                .with_note(format_time(last_ms))
        }
        None => Cell::new("none yet", "warn"),
    };
    let up = match known.current.value("tandem_peer_up") {
        Some(0.0) => Cell::new("down", "bad"),
        Some(_) if last_heartbeat_ms.is_none() => {
            Cell::new("waiting for a first heartbeat", "warn")
        }
        Some(_) => Cell::new("up", "ok"),
        None => Cell::absent(),
    };
    let delivery_error = known
        .current
        .label("tandem_peer_delivery_error_info", "error");
    let reachable = match (known.current.value("tandem_peer_reachable"), delivery_error) {
        (Some(0.0), error) => Cell::new("unreachable", "bad").with_note(error.unwrap_or_default()),
        (Some(_), Some(error)) => {
            Cell::new("reachable, last heartbeat failed", "warn").with_note(error)
        }
        (Some(_), None) => Cell::new("reachable", "ok"),
        (None, _) => Cell::absent(),
    };
    let skew =
        known
            .figure("tandem_peer_clock_skew_seconds")
            .map_or_else(Cell::absent, |seconds| {
                let class = if seconds.abs() > CLOCK_SKEW_WARN_SECONDS {
                    "warn"
                } else {
                    ""
                };
                Cell::new(chart::format_value(seconds, Unit::Seconds), class)
                    .with_note("its clock minus ours")
            });
    [
        ("Last heartbeat", last_heartbeat),
        ("State", up),
        ("Our heartbeats to it", reachable),
        ("Clock skew", skew),
    ]
    .into_iter()
    .map(|(label, theirs)| Row {
        label,
        ours: Cell::new("n/a", "muted"),
        theirs,
    })
    .collect()
}

/// A figure as a cell, coloured by `class_of`.
fn figure(value: Option<f64>, unit: Unit, class_of: fn(f64) -> &'static str) -> Cell {
    value.map_or_else(Cell::absent, |value| {
        Cell::new(chart::format_value(value, unit), class_of(value))
    })
}

fn no_class(_: f64) -> &'static str {
    ""
}

fn bad_above_zero(value: f64) -> &'static str {
    if value > 0.0 { "bad" } else { "" }
}

fn warn_above_zero(value: f64) -> &'static str {
    if value > 0.0 { "warn" } else { "" }
}

fn newest_sample_age_class(seconds: f64) -> &'static str {
    if seconds > NEWEST_SAMPLE_AGE_BAD_SECONDS {
        "bad"
    } else {
        ""
    }
}

fn rule_lag_class(seconds: f64) -> &'static str {
    if seconds > RULE_LAG_BAD_SECONDS {
        "bad"
    } else {
        ""
    }
}

/// The figures of `protocol::Health` shown as they are, in order: row label, the
/// reported series (`tandem_peer_reported_<this>`), unit, colour.
type HealthFigure = (&'static str, &'static str, Unit, fn(f64) -> &'static str);
const HEALTH_FIGURES: [HealthFigure; 7] = [
    (
        "Newest sample age",
        "newest_sample_age_seconds",
        Unit::Seconds,
        newest_sample_age_class,
    ),
    (
        "Rule evaluation lag",
        "rule_evaluation_lag_seconds",
        Unit::Seconds,
        rule_lag_class,
    ),
    (
        "Notifications failing",
        "notifications_failing",
        Unit::Short,
        bad_above_zero,
    ),
    (
        "Notification failures since start",
        "notification_failures_total",
        Unit::Short,
        no_class,
    ),
    (
        "Storage errors since start",
        "storage_errors_total",
        Unit::Short,
        warn_above_zero,
    ),
    (
        "Firing alerts",
        "firing_alerts",
        Unit::Short,
        warn_above_zero,
    ),
    ("WAL", "wal_bytes", Unit::Bytes, no_class),
];

/// This instance's value of the figure the peer reports as `reported`.
fn own_figure(health: &crate::peer::protocol::Health, reported: &str) -> Option<f64> {
    let count = |value: u64| Some(value as f64);
    match reported {
        "newest_sample_age_seconds" => health.newest_sample_age_seconds,
        "rule_evaluation_lag_seconds" => Some(health.rule_evaluation_lag_seconds),
        "notifications_failing" => count(health.notifications_failing),
        "notification_failures_total" => count(health.notification_failures_total),
        "storage_errors_total" => count(health.storage_errors_total),
        "firing_alerts" => count(health.firing_alerts),
        "wal_bytes" => count(health.wal_bytes),
        _ => None,
    }
}

/// The figures of `protocol::Health`, ours from this process, theirs as reported;
/// the failing notifications' error under their count, and free disk space last.
fn health_rows(local: &LocalStatus, known: &Known) -> Vec<Row> {
    let health = &local.health;
    let mut rows = Vec::with_capacity(HEALTH_FIGURES.len() + 1);
    for (label, reported, unit, class_of) in HEALTH_FIGURES {
        let mut row = Row {
            label,
            ours: figure(own_figure(health, reported), unit, class_of),
            theirs: figure(known.reported(reported), unit, class_of),
        };
        if reported == "notifications_failing" {
            row.ours.note = health.notification_last_error.clone().unwrap_or_default();
            row.theirs.note = known
                .current
                .label("tandem_peer_reported_notification_error_info", "error")
                .unwrap_or_default();
        }
        rows.push(row);
    }
    rows.push(Row {
        label: "Disk free",
        ours: disk_free(
            health.disk_free_bytes.map(|bytes| bytes as f64),
            health.disk_free_ratio,
        ),
        theirs: disk_free(
            known.reported("disk_free_bytes"),
            known.reported("disk_free_ratio"),
        ),
    });
    rows
}

/// `12 GiB (40% free)`, bad below the default rules' ratio.
fn disk_free(bytes: Option<f64>, ratio: Option<f64>) -> Cell {
    if bytes.is_none() && ratio.is_none() {
        return Cell::absent();
    }
    let mut cell = figure(bytes, Unit::Bytes, no_class);
    if let Some(ratio) = ratio {
        cell.text = format!(
            "{} ({} free)",
            cell.text,
            chart::format_value(ratio, Unit::PercentUnit)
        );
        if ratio < DISK_FREE_RATIO_BAD {
            cell.class = "bad";
        }
    }
    cell
}

fn peer_alert((labels, _): (Labels, f64)) -> PeerAlert {
    PeerAlert {
        name: labels.get("alertname").unwrap_or("").to_string(),
        labels: labels
            .without(&["__name__", "alertname", "alertstate", "peer"])
            .to_string(),
    }
}

/// The heartbeat's age over `[start_ms, end_ms]`, a line at `down_after` intervals
/// and `PeerDown`'s firing intervals shaded.
async fn heartbeat_chart(
    state: &WebState,
    peer: &PeerConfig,
    start_ms: i64,
    end_ms: i64,
) -> Result<String, String> {
    let step_ms = chart::step_for_width(start_ms, end_ms, GRAPH_WIDTH);
    let query = format!(
        "time() - tandem_peer_last_heartbeat_timestamp_seconds{{peer={}}}",
        promql_string(&peer.name)
    );
    let storage = std::sync::Arc::clone(&state.storage);
    let range_query = query.clone();
    let (result, _) = run_for_page(state, move |options| {
        crate::promql::range(&storage, &range_query, start_ms, end_ms, step_ms, &options)
    })
    .await?;
    let series: Vec<ChartSeries> = match result.value {
        QueryValue::Matrix(series) => series
            .into_iter()
            .map(|(_, samples)| ChartSeries {
                name: format!("heartbeat age of {}", peer.name),
                points: samples.iter().map(|sample| (sample.t, sample.v)).collect(),
            })
            .collect(),
        _ => Vec::new(),
    };
    let shades = firing_intervals(
        state,
        &[("alertname", "PeerDown"), ("peer", &peer.name)],
        start_ms,
        end_ms,
        step_ms,
    )
    .await;
    let down_after_seconds = peer.down_after_duration().as_secs_f64();
    let options = ChartOptions {
        title: format!("Heartbeat age of {}", peer.name),
        description: format!(
            "{query} from {} to {}",
            format_time(start_ms),
            format_time(end_ms)
        ),
        width: GRAPH_WIDTH,
        height: GRAPH_HEIGHT,
        start_ms,
        end_ms,
        step_ms,
        unit: Unit::Seconds,
        stacked: false,
        log_scale: false,
        thresholds: vec![Threshold {
            value: down_after_seconds,
            level: Level::Bad,
            label: Some(format!(
                "down after {}",
                chart::format_value(down_after_seconds, Unit::Seconds)
            )),
        }],
        shades,
    };
    Ok(chart::line_chart(&series, &options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_is_one_of_the_offered_ones() {
        assert_eq!(chosen_range(""), "1h");
        assert_eq!(chosen_range("range=6h"), "6h");
        assert_eq!(chosen_range("range=13h"), "1h");
        assert_eq!(chosen_range("other=1&range=%3Cb%3E&range=7d"), "7d");
    }

    /// Metric name, labels besides `peer="b"`, value.
    type Series<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

    fn snapshot(series: &[Series]) -> Snapshot {
        Snapshot(
            series
                .iter()
                .map(|(name, extra, value)| {
                    let mut pairs = vec![("__name__", *name), ("peer", "b")];
                    pairs.extend_from_slice(extra);
                    (Labels::new_series(pairs).expect("valid labels"), *value)
                })
                .collect(),
        )
    }

    #[test]
    fn figures_prefer_current_values_and_fall_back_to_the_last_known() {
        let known = Known {
            current: snapshot(&[
                ("tandem_peer_up", &[], 0.0),
                (
                    "tandem_peer_info",
                    &[("version", "2"), ("config_hash", "new")],
                    1.0,
                ),
            ]),
            last: snapshot(&[
                ("tandem_peer_up", &[], 1.0),
                (
                    "tandem_peer_info",
                    &[("version", "1"), ("config_hash", "old")],
                    1.0,
                ),
                ("tandem_peer_reported_wal_bytes", &[], 2048.0),
            ]),
        };
        assert_eq!(known.figure("tandem_peer_up"), Some(0.0));
        assert_eq!(
            known
                .figure_label("tandem_peer_info", "config_hash")
                .as_deref(),
            Some("new")
        );
        assert_eq!(known.reported("wal_bytes"), Some(2048.0));
        assert_eq!(known.reported("firing_alerts"), None);
    }

    #[test]
    fn absent_figures_are_dashes_and_disk_free_shows_both_numbers() {
        let local = LocalStatus {
            name: "a".into(),
            version: "1.0.0",
            start_time_ms: 0,
            config_hash: "abc".into(),
            health: crate::peer::protocol::Health {
                disk_free_bytes: Some(1024),
                disk_free_ratio: Some(0.01),
                ..Default::default()
            },
        };
        let known = Known {
            current: Snapshot::default(),
            last: Snapshot::default(),
        };
        let rows = health_rows(&local, &known);
        let disk = rows
            .iter()
            .find(|row| row.label == "Disk free")
            .expect("a disk row");
        assert_eq!(disk.ours.text, "1 KiB (1% free)");
        assert_eq!(disk.ours.class, "bad");
        assert!(rows.iter().all(|row| row.theirs.text == ABSENT));
    }

    #[test]
    fn every_reported_figure_has_this_instances_value_beside_it() {
        let health = crate::peer::protocol::Health {
            newest_sample_age_seconds: Some(1.0),
            ..Default::default()
        };
        for (label, reported, _, _) in HEALTH_FIGURES {
            assert!(own_figure(&health, reported).is_some(), "{label}");
        }
    }
}
