//! `GET /api/v1/targets`: scrape targets and their health in Prometheus' shape.
//! Owns: the JSON of active and dropped targets and the `state` / `scrapePool`
//! parameters.
//! Does not: keep target state (`collect::scrape::health::TargetHealth` does).

use crate::collect::scrape::health::{TargetHealth, TargetStatus};
use crate::collect::scrape::target::DroppedTarget;
use crate::config::units::format_duration;
use crate::model::Labels;
use crate::web::WebState;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

/// Prometheus' zero `time.Time`, shown for a target not scraped yet.
const NEVER: &str = "0001-01-01T00:00:00Z";

/// Prometheus' `LocalhostRepresentations`: hosts replaced in `globalUrl`.
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

pub async fn list(request: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let mut wanted_state = String::new();
    let mut pool = String::new();
    for (name, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        match name.as_ref() {
            "state" => wanted_state = value.to_ascii_lowercase(),
            "scrapePool" => pool = value.into_owned(),
            _ => {}
        }
    }
    HttpResponse::Ok().json(json!({
        "status": "success",
        "data": targets_data(&state.target_health, &wanted_state, &pool),
    }))
}

/// As Prometheus: `state` empty or `any` shows both lists, an unknown value neither;
/// a list not asked for is `[]`, and `droppedTargetCounts` is there only with the
/// dropped ones.
fn targets_data(health: &TargetHealth, wanted_state: &str, pool: &str) -> Value {
    let show_active = matches!(wanted_state, "" | "any" | "active");
    let show_dropped = matches!(wanted_state, "" | "any" | "dropped");
    let in_pool = |job: &str| pool.is_empty() || job == pool;
    let host = hostname();
    let active: Vec<Value> = if show_active {
        health
            .active()
            .iter()
            .filter(|status| in_pool(&status.target.job.job))
            .map(|status| active_json(status, &host))
            .collect()
    } else {
        Vec::new()
    };
    let mut data = Map::new();
    data.insert("activeTargets".into(), Value::Array(active));
    if show_dropped {
        let dropped: Vec<DroppedTarget> = health
            .dropped()
            .into_iter()
            .filter(|target| in_pool(&target.job))
            .collect();
        let mut counts = Map::new();
        for target in &dropped {
            let count = counts.entry(target.job.clone()).or_insert(json!(0));
            *count = json!(count.as_u64().unwrap_or(0) + 1);
        }
        let dropped: Vec<Value> = dropped
            .iter()
            .map(|target| {
                json!({
                    "discoveredLabels": labels_json(&target.discovered),
                    "scrapePool": target.job,
                })
            })
            .collect();
        data.insert("droppedTargets".into(), Value::Array(dropped));
        data.insert("droppedTargetCounts".into(), Value::Object(counts));
    } else {
        data.insert("droppedTargets".into(), json!([]));
    }
    Value::Object(data)
}

fn active_json(status: &TargetStatus, host: &str) -> Value {
    let target = &status.target;
    let last = &status.last;
    let labels: Map<String, Value> = target
        .labels()
        .into_iter()
        .map(|(name, value)| (name, Value::String(value)))
        .collect();
    let url = target.url();
    json!({
        "discoveredLabels": labels_json(target.discovered_labels()),
        "labels": labels,
        "scrapePool": target.job.job,
        "scrapeUrl": url,
        "globalUrl": global_url(&url, &target.address, host),
        "lastError": last.error.clone().unwrap_or_default(),
        "lastScrape": last.at_ms.map_or_else(|| NEVER.to_string(), rfc3339),
        "lastScrapeDuration": last.duration.as_secs_f64(),
        "health": last.health().as_str(),
        "scrapeInterval": format_duration(target.job.interval),
        "scrapeTimeout": format_duration(target.job.timeout),
    })
}

fn labels_json(labels: &Labels) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|label| (label.name.clone(), Value::String(label.value.clone())))
            .collect(),
    )
}

/// RFC 3339 in UTC with the milliseconds we record.
fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| NEVER.to_string(), |at| at.to_string())
}

/// The scrape URL as seen from elsewhere: a loopback host is replaced by this
/// machine's name, as Prometheus does when it has no external URL configured.
fn global_url(url: &str, address: &str, host: &str) -> String {
    let Some((address_host, port)) = address.rsplit_once(':') else {
        return url.to_string();
    };
    if !LOOPBACK_HOSTS.contains(&address_host) {
        return url.to_string();
    }
    url.replacen(address, &format!("{host}:{port}"), 1)
}

/// The kernel's host name; "localhost" when it cannot be read.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
