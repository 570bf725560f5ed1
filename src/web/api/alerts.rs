//! `GET /api/v1/rules`, `GET /api/v1/alerts` in Prometheus' shapes, and
//! `GET /api/v1/alerts/history` (tandem's own: state transitions and notification
//! attempts from alerts.sqlite).
//! Owns: their JSON and parameters.
//! Does not: keep state (`alert::rules` and `alert::db` do).

use crate::alert::Fingerprint;
use crate::alert::db::{HistoryKind, HistoryQuery};
use crate::alert::rules::group::{ActiveAlert, Group, Rule};
use crate::config::rules::RuleKind;
use crate::model::Labels;
use crate::web::WebState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

/// Prometheus' zero time, for a rule never evaluated.
const NEVER: &str = "0001-01-01T00:00:00Z";

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| NEVER.to_string(), |at| at.to_string())
}

fn labels_json(labels: &Labels) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|label| (label.name.clone(), Value::String(label.value.clone())))
            .collect(),
    )
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, as Prometheus writes an alert's value.
pub fn format_value_exponent(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    // Rust prints the shortest round-trip mantissa as `1.5e3`; Go writes `1.5e+03`.
    let text = format!("{value:e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let (sign, digits) = match exponent.strip_prefix('-') {
                Some(digits) => ('-', digits),
                None => ('+', exponent),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => text,
    }
}

fn alert_json(alert: &ActiveAlert) -> Value {
    let mut object = json!({
        "labels": labels_json(&alert.labels),
        "annotations": alert.annotations,
        "state": alert.state.as_str(),
        "activeAt": rfc3339(alert.active_at_ms),
        "value": format_value_exponent(alert.value),
    });
    if let (Some(since), Value::Object(map)) = (alert.keep_firing_since_ms, &mut object) {
        map.insert("keepFiringSince".into(), Value::String(rfc3339(since)));
    }
    object
}

fn rule_json(rule: &Rule, exclude_alerts: bool) -> Value {
    let labels: Map<String, Value> = rule
        .config
        .labels
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    let common = |object: &mut Map<String, Value>| {
        object.insert("health".into(), rule.health.as_str().into());
        object.insert(
            "lastError".into(),
            rule.last_error.clone().unwrap_or_default().into(),
        );
        object.insert(
            "evaluationTime".into(),
            rule.evaluation_duration.as_secs_f64().into(),
        );
        object.insert(
            "lastEvaluation".into(),
            rule.last_evaluation_ms
                .map_or_else(|| NEVER.into(), rfc3339)
                .into(),
        );
    };
    let mut object = Map::new();
    match &rule.config.kind {
        RuleKind::Alert {
            name,
            for_,
            keep_firing_for,
            annotations,
        } => {
            object.insert("state".into(), rule.state().into());
            object.insert("name".into(), name.clone().into());
            object.insert("query".into(), rule.config.expr.clone().into());
            object.insert("duration".into(), for_.as_secs_f64().into());
            object.insert("keepFiringFor".into(), keep_firing_for.as_secs_f64().into());
            object.insert("labels".into(), Value::Object(labels));
            let annotations: Map<String, Value> = annotations
                .iter()
                .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                .collect();
            object.insert("annotations".into(), Value::Object(annotations));
            if !exclude_alerts {
                let alerts: Vec<Value> = rule.active.values().map(alert_json).collect();
                object.insert("alerts".into(), Value::Array(alerts));
            }
            common(&mut object);
            object.insert("type".into(), "alerting".into());
        }
        RuleKind::Record { name } => {
            object.insert("name".into(), name.clone().into());
            object.insert("query".into(), rule.config.expr.clone().into());
            object.insert("labels".into(), Value::Object(labels));
            common(&mut object);
            object.insert("type".into(), "recording".into());
        }
    }
    Value::Object(object)
}

fn group_json(group: &Group, rules: Vec<Value>) -> Value {
    json!({
        "name": group.config.name,
        "file": group.config.file,
        "rules": rules,
        "interval": group.config.interval.as_secs_f64(),
        "limit": group.config.limit.unwrap_or(0),
        "evaluationTime": group.evaluation_duration.as_secs_f64(),
        "lastEvaluation": group.last_evaluation_ms.map_or_else(|| NEVER.into(), rfc3339),
    })
}

/// `type=alert|record`, `rule_name[]`, `rule_group[]`, `file[]`, `exclude_alerts`.
pub async fn rules(request: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let (mut kind, mut names, mut groups, mut files, mut exclude_alerts) =
        (String::new(), Vec::new(), Vec::new(), Vec::new(), false);
    for (name, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        match name.as_ref() {
            "type" => kind = value.into_owned(),
            "rule_name[]" => names.push(value.into_owned()),
            "rule_group[]" => groups.push(value.into_owned()),
            "file[]" => files.push(value.into_owned()),
            "exclude_alerts" => exclude_alerts = value == "true",
            _ => {}
        }
    }
    if !matches!(kind.as_str(), "" | "alert" | "record") {
        return super::error_response(
            StatusCode::BAD_REQUEST,
            "bad_data",
            &format!("unsupported type {kind:?}: use alert or record"),
        );
    }
    let mut result = Vec::new();
    for handle in state.rules.groups() {
        let group = handle.lock();
        if (!groups.is_empty() && !groups.contains(&group.config.name))
            || (!files.is_empty() && !files.contains(&group.config.file))
        {
            continue;
        }
        let rules: Vec<Value> = group
            .rules
            .iter()
            .filter(|rule| {
                !matches!(
                    (&rule.config.kind, kind.as_str()),
                    (RuleKind::Alert { .. }, "record") | (RuleKind::Record { .. }, "alert")
                )
            })
            .filter(|rule| names.is_empty() || names.iter().any(|name| name == rule.config.name()))
            .map(|rule| rule_json(rule, exclude_alerts))
            .collect();
        if (names.is_empty() && kind.is_empty()) || !rules.is_empty() {
            result.push(group_json(&group, rules));
        }
    }
    HttpResponse::Ok().json(json!({"status": "success", "data": {"groups": result}}))
}

/// Every pending and firing alert.
pub async fn alerts(state: web::Data<WebState>) -> HttpResponse {
    let mut alerts = Vec::new();
    for handle in state.rules.groups() {
        let group = handle.lock();
        for rule in &group.rules {
            alerts.extend(rule.active.values().map(alert_json));
        }
    }
    HttpResponse::Ok().json(json!({"status": "success", "data": {"alerts": alerts}}))
}

/// `start`, `end` (Unix seconds or RFC 3339; default the last 24 h), `alertname`,
/// `fingerprint`, `event` (pending, firing, resolved, inactive, notify), `limit`
/// (default 1000). Newest first.
pub async fn history(request: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let now_ms = crate::alert::rules::now_ms();
    let mut query = HistoryQuery {
        start_ms: now_ms - 24 * 3600 * 1000,
        end_ms: now_ms,
        alertname: None,
        fingerprint: None,
        event: None,
        limit: 1000,
    };
    let bad =
        |message: String| super::error_response(StatusCode::BAD_REQUEST, "bad_data", &message);
    for (name, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        match name.as_ref() {
            "start" | "end" => {
                let Some(ms) = parse_time(&value) else {
                    return bad(format!(
                        "invalid parameter {name:?}: cannot parse {value:?} to a valid timestamp"
                    ));
                };
                if name == "start" {
                    query.start_ms = ms;
                } else {
                    query.end_ms = ms;
                }
            }
            "alertname" => query.alertname = Some(value.into_owned()),
            "fingerprint" => match u64::from_str_radix(&value, 16) {
                Ok(fingerprint) => query.fingerprint = Some(Fingerprint(fingerprint)),
                Err(_) => {
                    return bad(format!(
                        "invalid parameter \"fingerprint\": {value:?} is not 16 hex digits"
                    ));
                }
            },
            "event" => match HistoryKind::parse(&value) {
                Some(event) => query.event = Some(event),
                None => {
                    return bad(format!(
                        "invalid parameter \"event\": {value:?}; use pending, firing, resolved, inactive or notify"
                    ));
                }
            },
            "limit" => match value.parse::<usize>() {
                Ok(limit) if limit > 0 => {
                    query.limit = limit.min(crate::alert::db::HISTORY_QUERY_ROWS_MAX)
                }
                _ => {
                    return bad(format!(
                        "invalid parameter \"limit\": {value:?} is not a positive integer"
                    ));
                }
            },
            _ => {}
        }
    }
    let db = std::sync::Arc::clone(&state.alert_db);
    let found = web::block(move || db.history(&query)).await;
    match found {
        Ok(Ok(events)) => {
            let events: Vec<Value> = events
                .into_iter()
                .map(|event| {
                    json!({
                        "time": rfc3339(event.t_ms),
                        "event": event.event.as_str(),
                        "alertname": event.alertname,
                        "fingerprint": event.fingerprint.to_string(),
                        "labels": labels_json(&event.labels),
                        "value": event.value.map(format_value_exponent),
                        "receiver": event.receiver,
                        "outcome": event.outcome,
                        "attempt": event.attempt,
                        "detail": event.detail,
                    })
                })
                .collect();
            HttpResponse::Ok().json(json!({"status": "success", "data": {"events": events}}))
        }
        Ok(Err(error)) => super::error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &error.to_string(),
        ),
        Err(error) => super::error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &error.to_string(),
        ),
    }
}

/// Unix seconds (fractions allowed) or RFC 3339, as the query API takes times.
fn parse_time(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds
            .is_finite()
            .then(|| (seconds * 1000.0).round() as i64);
    }
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|at| at.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_formatted_as_go_does() {
        assert_eq!(format_value_exponent(1.0), "1e+00");
        assert_eq!(format_value_exponent(1500.0), "1.5e+03");
        assert_eq!(format_value_exponent(0.00025), "2.5e-04");
        assert_eq!(format_value_exponent(1e123), "1e+123");
        assert_eq!(format_value_exponent(f64::NAN), "NaN");
        assert_eq!(format_value_exponent(f64::NEG_INFINITY), "-Inf");
    }
}
