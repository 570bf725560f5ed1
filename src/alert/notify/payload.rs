//! What receivers get: Alertmanager's webhook message (version 4, the same JSON an
//! Alertmanager 0.25 POSTs, also the standard input of `exec`), the alert list of
//! Alertmanager's `POST /api/v2/alerts`, and the subject and text of an email.
//! Owns: field names, order, time formats and the summary fields (`status`,
//! `commonLabels`, `commonAnnotations`, `truncatedAlerts`).
//! Does not: send anything.

use super::dispatch::{FORWARD_ENDS_AFTER_MS, Notification};
use crate::alert::Alert;
use crate::alert::template::{Template, TemplateData};
use crate::model::Labels;
use serde::Serialize;
use std::collections::BTreeMap;

/// Go's zero `time.Time` in JSON: a firing alert's `endsAt` in webhook messages.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Alertmanager's `notify/webhook.Message`: the template data, then the version, the
/// group key and how many alerts `max_alerts` left out.
#[derive(Debug, Serialize)]
pub struct WebhookMessage<'a> {
    pub receiver: String,
    pub status: &'static str,
    pub alerts: Vec<WebhookAlert<'a>>,
    #[serde(rename = "groupLabels")]
    pub group_labels: BTreeMap<&'a str, &'a str>,
    #[serde(rename = "commonLabels")]
    pub common_labels: BTreeMap<&'a str, &'a str>,
    #[serde(rename = "commonAnnotations")]
    pub common_annotations: BTreeMap<&'a str, &'a str>,
    #[serde(rename = "externalURL")]
    pub external_url: &'a str,
    pub version: &'static str,
    #[serde(rename = "groupKey")]
    pub group_key: &'a str,
    #[serde(rename = "truncatedAlerts")]
    pub truncated_alerts: u64,
}

/// Alertmanager's `template.Alert`.
#[derive(Debug, Serialize)]
pub struct WebhookAlert<'a> {
    pub status: &'static str,
    pub labels: BTreeMap<&'a str, &'a str>,
    pub annotations: &'a BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: &'a str,
    pub fingerprint: String,
}

/// The webhook message for `notification`, at most `max_alerts` alerts (0: all).
pub fn webhook_message(notification: &Notification, max_alerts: usize) -> WebhookMessage<'_> {
    let (alerts, truncated) = if max_alerts > 0 && notification.alerts.len() > max_alerts {
        (
            &notification.alerts[..max_alerts],
            notification.alerts.len() - max_alerts,
        )
    } else {
        (&notification.alerts[..], 0)
    };
    WebhookMessage {
        receiver: quote_meta(&notification.receiver),
        status: status(alerts),
        alerts: alerts.iter().map(webhook_alert).collect(),
        group_labels: label_map(&notification.group_labels),
        common_labels: common_labels(alerts),
        common_annotations: common_annotations(alerts),
        external_url: &notification.external_url,
        version: "4",
        group_key: &notification.group_key,
        truncated_alerts: truncated as u64,
    }
}

/// The webhook message as JSON bytes.
pub fn webhook_body(notification: &Notification, max_alerts: usize) -> Result<Vec<u8>, String> {
    serde_json::to_vec(&webhook_message(notification, max_alerts))
        .map_err(|error| format!("encoding the message: {error}"))
}

fn webhook_alert(alert: &Alert) -> WebhookAlert<'_> {
    WebhookAlert {
        status: alert_status(alert),
        labels: label_map(&alert.labels),
        annotations: &alert.annotations,
        starts_at: rfc3339(alert.starts_at_ms),
        ends_at: alert
            .resolved_at_ms
            .map_or_else(|| ZERO_TIME.to_string(), rfc3339),
        generator_url: &alert.generator_url,
        fingerprint: alert.fingerprint().to_string(),
    }
}

/// One alert of Alertmanager's `POST /api/v2/alerts` body (`models.PostableAlert`).
#[derive(Debug, Serialize)]
pub struct PostableAlert<'a> {
    pub labels: BTreeMap<&'a str, &'a str>,
    pub annotations: &'a BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: &'a str,
}

/// The alerts to post to an Alertmanager: a firing alert ends `FORWARD_ENDS_AFTER_MS`
/// after the post (it is posted again before), a resolved one when it resolved.
pub fn alertmanager_body(notification: &Notification) -> Result<Vec<u8>, String> {
    let ends_firing = notification
        .built_at_ms
        .saturating_add(FORWARD_ENDS_AFTER_MS);
    let alerts: Vec<PostableAlert> = notification
        .alerts
        .iter()
        .map(|alert| PostableAlert {
            labels: label_map(&alert.labels),
            annotations: &alert.annotations,
            starts_at: rfc3339(alert.starts_at_ms),
            ends_at: rfc3339(alert.resolved_at_ms.unwrap_or(ends_firing)),
            generator_url: &alert.generator_url,
        })
        .collect();
    serde_json::to_vec(&alerts).map_err(|error| format!("encoding the alerts: {error}"))
}

/// Alertmanager's default email subject:
/// `[FIRING:2] <group label values> (<other common label values>)`, or
/// `[RESOLVED] ...`. With `template`, that template rendered with the group's common
/// labels as `$labels` and the number of firing alerts as `$value`.
pub fn email_subject(
    notification: &Notification,
    template: Option<&str>,
) -> Result<String, String> {
    let alerts = &notification.alerts;
    let firing = alerts.iter().filter(|alert| !alert.is_resolved()).count();
    if let Some(text) = template {
        let common = common_labels(alerts);
        let labels = Labels::new(common).map_err(|error| format!("subject: {error}"))?;
        let rendered = Template::parse("subject", text)
            .and_then(|template| {
                template.render(&TemplateData {
                    labels: &labels,
                    external_labels: &Labels::default(),
                    external_url: &notification.external_url,
                    value: firing as f64,
                    query: None,
                })
            })
            .map_err(|error| format!("subject template: {error}"))?;
        return Ok(one_line(&rendered));
    }
    let mut subject = match status(alerts) {
        "firing" => format!("[FIRING:{firing}]"),
        _ => "[RESOLVED]".to_string(),
    };
    for label in notification.group_labels.iter() {
        subject.push(' ');
        subject.push_str(&label.value);
    }
    let common = common_labels(alerts);
    let extra: Vec<&str> = common
        .iter()
        .filter(|(name, _)| notification.group_labels.get(name).is_none())
        .map(|(_, value)| *value)
        .collect();
    if common.len() > notification.group_labels.len() && !extra.is_empty() {
        subject.push_str(&format!(" ({})", extra.join(" ")));
    }
    Ok(one_line(&subject))
}

/// The plain-text body: each alert's labels and annotations, firing ones first.
pub fn email_text(notification: &Notification) -> String {
    let alerts = &notification.alerts;
    let mut text = String::new();
    let pairs: Vec<String> = notification
        .group_labels
        .iter()
        .map(|label| format!("{}={}", label.name, label.value))
        .collect();
    text.push_str(&format!(
        "{} alert{} for {}\n",
        alerts.len(),
        if alerts.len() == 1 { "" } else { "s" },
        if pairs.is_empty() {
            "(all)".to_string()
        } else {
            pairs.join(" ")
        }
    ));
    text.push_str(&format!(
        "View in tandem: {}/alerts\n",
        notification.external_url
    ));
    for (title, resolved) in [("Firing", false), ("Resolved", true)] {
        let listed: Vec<&Alert> = alerts
            .iter()
            .filter(|alert| alert.is_resolved() == resolved)
            .collect();
        if listed.is_empty() {
            continue;
        }
        text.push_str(&format!("\n[{}] {title}\n", listed.len()));
        for alert in listed {
            text.push_str(&email_alert(alert));
        }
    }
    text
}

fn email_alert(alert: &Alert) -> String {
    let mut text = String::from("\nLabels:\n");
    for label in alert.labels.iter() {
        text.push_str(&format!(" - {} = {}\n", label.name, label.value));
    }
    if !alert.annotations.is_empty() {
        text.push_str("Annotations:\n");
        for (name, value) in &alert.annotations {
            text.push_str(&format!(" - {name} = {value}\n"));
        }
    }
    text.push_str(&format!("Started: {}\n", rfc3339(alert.starts_at_ms)));
    if let Some(resolved_at_ms) = alert.resolved_at_ms {
        text.push_str(&format!("Resolved: {}\n", rfc3339(resolved_at_ms)));
    }
    if !alert.generator_url.is_empty() {
        text.push_str(&format!("Source: {}\n", alert.generator_url));
    }
    text
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn alert_status(alert: &Alert) -> &'static str {
    if alert.is_resolved() {
        "resolved"
    } else {
        "firing"
    }
}

/// `firing` if any alert fires, as Alertmanager's `Alerts.Status()`.
fn status(alerts: &[Alert]) -> &'static str {
    if alerts.iter().any(|alert| !alert.is_resolved()) {
        "firing"
    } else {
        "resolved"
    }
}

fn label_map(labels: &Labels) -> BTreeMap<&str, &str> {
    labels
        .iter()
        .map(|label| (label.name.as_str(), label.value.as_str()))
        .collect()
}

/// Labels every alert has with the same value.
fn common_labels(alerts: &[Alert]) -> BTreeMap<&str, &str> {
    let Some((first, rest)) = alerts.split_first() else {
        return BTreeMap::new();
    };
    let mut common = label_map(&first.labels);
    for alert in rest {
        common.retain(|name, value| alert.labels.get(name) == Some(*value));
    }
    common
}

fn common_annotations(alerts: &[Alert]) -> BTreeMap<&str, &str> {
    let Some((first, rest)) = alerts.split_first() else {
        return BTreeMap::new();
    };
    let mut common: BTreeMap<&str, &str> = first
        .annotations
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    for alert in rest {
        common
            .retain(|name, value| alert.annotations.get(*name).map(String::as_str) == Some(*value));
    }
    common
}

/// RFC 3339 in UTC with as many fractional digits as needed, as Go prints a
/// `time.Time` in JSON.
pub fn rfc3339(unix_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms)
        .map_or_else(|_| ZERO_TIME.to_string(), |timestamp| timestamp.to_string())
}

/// Go's `regexp.QuoteMeta`, which Alertmanager applies to the receiver name in its
/// template data (so `ops.team` is sent as `ops\.team`).
fn quote_meta(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len());
    for character in text.chars() {
        if r"\.+*?()|[]{}^$".contains(character) {
            quoted.push('\\');
        }
        quoted.push(character);
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notify::dispatch::Integration;
    use crate::config::alerting::ExecConfig;

    fn alert(pairs: &[(&str, &str)], annotations: &[(&str, &str)], resolved: Option<i64>) -> Alert {
        Alert {
            labels: Labels::new(pairs.iter().copied()).expect("labels"),
            annotations: annotations
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            starts_at_ms: 1_764_950_400_123,
            resolved_at_ms: resolved,
            generator_url: "http://tandem/explore?expr=up".into(),
        }
    }

    fn notification(alerts: Vec<Alert>, group: &[(&str, &str)]) -> Notification {
        Notification {
            id: 1,
            attempt: 1,
            receiver: "ops.team".into(),
            integration: Integration::Exec(ExecConfig {
                command: vec!["/bin/true".into()],
                timeout: std::time::Duration::from_secs(1),
                send_resolved: true,
            }),
            group_key: r#"{}:{alertname="Disk"}"#.into(),
            group_labels: Labels::new(group.iter().copied()).expect("labels"),
            alerts,
            external_url: "http://tandem:9797".into(),
            built_at_ms: 1_764_950_460_000,
        }
    }

    #[test]
    fn webhook_message_has_alertmanagers_shape() {
        let alerts = vec![
            alert(
                &[
                    ("alertname", "Disk"),
                    ("instance", "a"),
                    ("severity", "page"),
                ],
                &[("summary", "full"), ("runbook", "r1")],
                None,
            ),
            alert(
                &[
                    ("alertname", "Disk"),
                    ("instance", "b"),
                    ("severity", "page"),
                ],
                &[("summary", "full"), ("runbook", "r2")],
                Some(1_764_950_450_000),
            ),
        ];
        let notification = notification(alerts, &[("alertname", "Disk")]);
        let body = webhook_body(&notification, 0).expect("encodes");
        let value: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        let expected = serde_json::json!({
            "receiver": "ops\\.team",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "Disk", "instance": "a", "severity": "page"},
                    "annotations": {"runbook": "r1", "summary": "full"},
                    "startsAt": "2025-12-05T16:00:00.123Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://tandem/explore?expr=up",
                    "fingerprint": notification.alerts[0].fingerprint().to_string(),
                },
                {
                    "status": "resolved",
                    "labels": {"alertname": "Disk", "instance": "b", "severity": "page"},
                    "annotations": {"runbook": "r2", "summary": "full"},
                    "startsAt": "2025-12-05T16:00:00.123Z",
                    "endsAt": "2025-12-05T16:00:50Z",
                    "generatorURL": "http://tandem/explore?expr=up",
                    "fingerprint": notification.alerts[1].fingerprint().to_string(),
                },
            ],
            "groupLabels": {"alertname": "Disk"},
            "commonLabels": {"alertname": "Disk", "severity": "page"},
            "commonAnnotations": {"summary": "full"},
            "externalURL": "http://tandem:9797",
            "version": "4",
            "groupKey": "{}:{alertname=\"Disk\"}",
            "truncatedAlerts": 0,
        });
        assert_eq!(value, expected);
        let text = String::from_utf8(body).expect("UTF-8");
        assert!(
            text.starts_with(r#"{"receiver":"#),
            "field order as Alertmanager's: {text}"
        );
        let truncated: serde_json::Value =
            serde_json::from_slice(&webhook_body(&notification, 1).expect("encodes"))
                .expect("JSON");
        assert_eq!(truncated["truncatedAlerts"], 1);
        assert_eq!(truncated["alerts"].as_array().map(Vec::len), Some(1));
        assert_eq!(truncated["commonAnnotations"]["runbook"], "r1");
    }

    #[test]
    fn alertmanager_alerts_end_four_minutes_after_the_post_while_firing() {
        let notification = notification(
            vec![
                alert(&[("alertname", "Disk")], &[], None),
                alert(&[("alertname", "Cpu")], &[], Some(1_764_950_450_000)),
            ],
            &[],
        );
        let value: serde_json::Value =
            serde_json::from_slice(&alertmanager_body(&notification).expect("encodes"))
                .expect("JSON");
        assert_eq!(value[0]["endsAt"], "2025-12-05T16:05:00Z");
        assert_eq!(value[1]["endsAt"], "2025-12-05T16:00:50Z");
        assert_eq!(value[0]["labels"]["alertname"], "Disk");
        assert_eq!(value[0]["generatorURL"], "http://tandem/explore?expr=up");
        assert!(value[0].get("status").is_none());
    }

    #[test]
    fn email_subject_is_alertmanagers_default() {
        let firing = |instance| {
            alert(
                &[
                    ("alertname", "Disk"),
                    ("instance", instance),
                    ("team", "db"),
                ],
                &[],
                None,
            )
        };
        let two = notification(vec![firing("a"), firing("b")], &[("alertname", "Disk")]);
        assert_eq!(
            email_subject(&two, None).expect("subject"),
            "[FIRING:2] Disk (db)"
        );
        let one = notification(vec![firing("a")], &[("alertname", "Disk")]);
        assert_eq!(
            email_subject(&one, None).expect("subject"),
            "[FIRING:1] Disk (a db)"
        );
        let done = notification(
            vec![alert(&[("alertname", "Disk")], &[], Some(1))],
            &[("alertname", "Disk")],
        );
        assert_eq!(
            email_subject(&done, None).expect("subject"),
            "[RESOLVED] Disk"
        );
        let text = email_text(&two);
        assert!(text.starts_with("2 alerts for alertname=Disk\n"), "{text}");
        assert!(text.contains("[2] Firing"));
        assert!(text.contains(" - instance = b\n"));
    }
}
