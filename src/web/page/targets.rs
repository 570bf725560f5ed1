//! `/targets`: scrape targets and blackbox probes with their health and last error.
//! Owns: the page's view model.
//! Does not: keep health. Scrape health comes from the scrape runner's
//! `TargetHealth`; probe results are read through the query engine
//! (`probe_success`, `probe_duration_seconds`), as every reader of samples must.

use super::{Nav, format_age, render};
use crate::model::Labels;
use crate::promql::value::QueryValue;
use crate::web::WebState;
use crate::web::api::query::run_for_page;
use actix_web::{HttpResponse, web};
use askama::Template;

struct TargetRow {
    job: String,
    url: String,
    labels: String,
    health: &'static str,
    last_scrape: String,
    duration: String,
    error: String,
}

struct ProbeRow {
    name: String,
    target: String,
    success: Option<bool>,
    duration: String,
}

#[derive(Template)]
#[template(path = "targets.html")]
struct TargetsPage {
    nav: Nav,
    targets: Vec<TargetRow>,
    up: usize,
    probes: Vec<ProbeRow>,
    probe_error: Option<String>,
}

pub async fn show(state: web::Data<WebState>) -> HttpResponse {
    let now_ms = crate::alert::rules::now_ms();
    let mut targets: Vec<TargetRow> = state
        .target_health
        .active()
        .into_iter()
        .map(|status| {
            let labels: Vec<String> = status
                .target
                .labels()
                .into_iter()
                .map(|(name, value)| format!("{name}=\"{value}\""))
                .collect();
            TargetRow {
                job: status.target.job.job.clone(),
                url: status.target.url(),
                labels: labels.join(", "),
                health: status.last.health().as_str(),
                last_scrape: status.last.at_ms.map_or_else(
                    || "never".into(),
                    |at| {
                        format!(
                            "{} ago",
                            format_age(std::time::Duration::from_millis(
                                (now_ms - at).max(0) as u64
                            ))
                        )
                    },
                ),
                duration: format!("{} ms", status.last.duration.as_millis()),
                error: status.last.error.clone().unwrap_or_default(),
            }
        })
        .collect();
    targets.sort_by(|a, b| (&a.job, &a.url).cmp(&(&b.job, &b.url)));
    let up = targets
        .iter()
        .filter(|target| target.health == "up")
        .count();
    let config = state.reloader.current();
    let (probes, probe_error) = if config.probes.is_empty() {
        (Vec::new(), None)
    } else {
        match probe_rows(&state, now_ms).await {
            Ok(rows) => (rows, None),
            Err(error) => (Vec::new(), Some(error)),
        }
    };
    let probes = config
        .probes
        .iter()
        .map(|probe| {
            probes
                .iter()
                .find(|row| row.name == probe.name)
                .map(|row| ProbeRow {
                    name: row.name.clone(),
                    target: probe.target.clone(),
                    success: row.success,
                    duration: row.duration.clone(),
                })
                .unwrap_or(ProbeRow {
                    name: probe.name.clone(),
                    target: probe.target.clone(),
                    success: None,
                    duration: String::new(),
                })
        })
        .collect();
    render(&TargetsPage {
        nav: Nav::new("targets"),
        targets,
        up,
        probes,
        probe_error,
    })
}

/// The newest `probe_success` and `probe_duration_seconds` of every probe.
async fn probe_rows(state: &WebState, now_ms: i64) -> Result<Vec<ProbeRow>, String> {
    let query = |expr: &'static str| {
        let storage = std::sync::Arc::clone(&state.storage);
        run_for_page(state, move |options| {
            crate::promql::instant(&storage, expr, now_ms, &options)
        })
    };
    let by_probe = |value: QueryValue| -> Vec<(String, f64)> {
        match value {
            QueryValue::Vector(samples) => samples
                .into_iter()
                .map(|(labels, sample): (Labels, _)| {
                    (labels.get("probe").unwrap_or("").to_string(), sample.v)
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let success = by_probe(query(r#"probe_success{job="blackbox"}"#).await?.0.value);
    let durations = by_probe(
        query(r#"probe_duration_seconds{job="blackbox"}"#)
            .await?
            .0
            .value,
    );
    Ok(success
        .into_iter()
        .map(|(name, value)| {
            let duration = durations
                .iter()
                .find(|(probe, _)| *probe == name)
                .map(|(_, seconds)| format!("{:.0} ms", seconds * 1000.0))
                .unwrap_or_default();
            ProbeRow {
                name,
                target: String::new(),
                success: Some(value == 1.0),
                duration,
            }
        })
        .collect())
}
