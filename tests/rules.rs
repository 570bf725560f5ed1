//! Rules end to end: `tandem test-rules` on the shipped rules and on a failing test,
//! `tandem check` positions for rule errors, evaluation right after ingest, `ALERTS`,
//! the history, and alert state across SIGKILL and reloads.

mod common;

use common::{BIN, Instance, Start, client, eventually, write};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

fn import(instance: &Instance, body: &str) {
    let response = client()
        .post(instance.url("/api/v1/import/prometheus"))
        .body(body.to_string())
        .send()
        .expect("import");
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().unwrap_or_default()
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

fn api(instance: &Instance, path: &str) -> Value {
    let body: Value = client()
        .get(instance.url(path))
        .send()
        .expect("GET")
        .json()
        .expect("JSON");
    assert_eq!(body["status"], "success", "{path}: {body}");
    body["data"].clone()
}

fn alerts(instance: &Instance) -> Vec<Value> {
    api(instance, "/api/v1/alerts")["alerts"]
        .as_array()
        .expect("alerts array")
        .clone()
}

#[test]
fn shipped_rules_pass_their_unit_tests() {
    let output = Command::new(BIN)
        .args(["test-rules", "tests/rules/default_rules_test.toml"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.lines().last(),
        Some("25 passed, 0 failed"),
        "{stdout}"
    );
}

#[test]
fn test_rules_reports_each_failure_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join("rules.toml"),
        r#"
[[group]]
name = "g"
[[group.alert]]
alert = "High"
expr = 'load > 5'
for = "2m"
labels = { severity = "page" }
annotations = { summary = "load is {{ $value }} on {{ $labels.instance }}" }
"#,
    );
    write(
        &dir.path().join("test.toml"),
        r#"
rule_files = ["rules.toml"]
evaluation_interval = "1m"
[[tests]]
interval = "1m"
[[tests.input_series]]
series = 'load{instance="a"}'
values = "1 1 9 9 9 9"
[[tests.alert_rule_test]]
eval_time = "4m"
alertname = "High"
[[tests.alert_rule_test.exp_alerts]]
exp_labels = { instance = "a", severity = "page" }
exp_annotations = { summary = "load is 9 on a" }
[[tests.alert_rule_test]]
eval_time = "3m"
alertname = "High"
[[tests.alert_rule_test.exp_alerts]]
exp_labels = { instance = "a", severity = "page" }
"#,
    );
    let output = Command::new(BIN)
        .arg("test-rules")
        .arg(dir.path().join("test.toml"))
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("1 passed, 1 failed"),
        "{stdout}"
    );
    // Pending at 3m (for = 2m from 2m): nothing fires yet.
    assert!(stdout.contains("alertname \"High\", time 3m"), "{stdout}");
    assert!(stdout.contains("got: (none)"), "{stdout}");
}

#[test]
fn check_points_inside_expressions_and_templates() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir.path().join("tandem.toml"), "");
    let rules = r#"[[group]]
name = "g"
[[group.alert]]
alert = "Broken"
expr = 'rate(x[5m]) >'
[[group.alert]]
alert = "BadTemplate"
expr = 'up == 0'
annotations = { summary = "{{ $labels.instance " }
[[group.record]]
record = "not a name"
expr = 'up'
[[group]]
name = "g"
"#;
    write(&dir.path().join("rules/bad.toml"), rules);
    let output = Command::new(BIN)
        .arg("check")
        .arg(dir.path())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let text = format!("{stdout}{stderr}");
    assert_eq!(output.status.code(), Some(1), "{text}");
    let file = dir.path().join("rules/bad.toml").display().to_string();
    // The parse error is at the end of `rate(x[5m]) >`: line 5, the column after `>`.
    let line5 = rules.lines().nth(4).expect("line 5");
    let column = line5.find(">'").expect("operator") + 2;
    assert!(
        text.contains(&format!("{file}:5:{column}: expr:")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{file}:9:")),
        "template error on line 9: {text}"
    );
    assert!(
        text.contains(&format!("{file}:11:")) && text.contains("record:"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{file}:14:8: group.name: duplicate name")),
        "{text}"
    );
}

const RULES: &str = r#"
[[group]]
name = "temperature"
interval = "1h"

[[group.alert]]
alert = "Hot"
expr = 'temp > 50'
labels = { severity = "page" }
annotations = { summary = "{{ $labels.room }} is at {{ $value }} degrees" }

[[group.alert]]
alert = "Warm"
expr = 'temp > 30'
for = "1h"
"#;

/// The group's interval is an hour: only evaluation on ingest can notice the breach.
#[test]
fn a_breach_is_evaluated_on_ingest_and_state_survives_sigkill() {
    let mut instance = Instance::start_with(Start {
        tandem_toml: "",
        extra_files: &[("rules/temperature.toml", RULES)],
        ..Start::default()
    });
    // Let the first (start-up) evaluation pass, so that only ingest can trigger.
    assert!(eventually(Duration::from_secs(10), || {
        api(&instance, "/api/v1/rules")["groups"][0]["lastEvaluation"] != "0001-01-01T00:00:00Z"
    }));
    import(
        &instance,
        &format!("temp{{room=\"lab\"}} 60 {}\n", now_ms()),
    );
    assert!(
        eventually(Duration::from_secs(10), || alerts(&instance).len() == 2),
        "both alerts active after ingest: {:?}\n{}",
        alerts(&instance),
        instance.stderr()
    );
    let before = alerts(&instance);
    let hot = before
        .iter()
        .find(|alert| alert["labels"]["alertname"] == "Hot")
        .expect("Hot");
    assert_eq!(hot["state"], "firing");
    assert_eq!(hot["value"], "6e+01");
    assert_eq!(hot["labels"]["severity"], "page");
    assert_eq!(hot["annotations"]["summary"], "lab is at 60 degrees");
    let warm = before
        .iter()
        .find(|alert| alert["labels"]["alertname"] == "Warm")
        .expect("Warm");
    assert_eq!(warm["state"], "pending");
    // ALERTS and ALERTS_FOR_STATE as Prometheus writes them.
    let series = instance.query_result("ALERTS");
    let states: Vec<(String, String)> = series
        .iter()
        .map(|one| {
            (
                one["metric"]["alertname"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                one["metric"]["alertstate"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    assert!(
        states.contains(&("Hot".into(), "firing".into())),
        "{series:?}"
    );
    assert!(
        states.contains(&("Warm".into(), "pending".into())),
        "{series:?}"
    );
    let for_state = instance.query_result(r#"ALERTS_FOR_STATE{alertname="Hot"}"#);
    assert_eq!(for_state.len(), 1, "{for_state:?}");
    assert_eq!(for_state[0]["metric"]["room"], "lab");
    // History: pending then firing for Hot, pending for Warm.
    let events = api(&instance, "/api/v1/alerts/history?alertname=Hot")["events"]
        .as_array()
        .expect("events")
        .clone();
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|event| event["event"].as_str())
        .collect();
    assert_eq!(kinds, ["firing", "pending"], "{events:?}");

    instance.signal(libc::SIGKILL);
    assert!(instance.wait_exit(Duration::from_secs(10)).is_some());
    instance.respawn();
    instance.wait_ready(&client());
    assert!(eventually(Duration::from_secs(10), || {
        api(&instance, "/api/v1/rules")["groups"][0]["lastEvaluation"] != "0001-01-01T00:00:00Z"
    }));
    let after = alerts(&instance);
    let find = |alerts: &[Value], name: &str| {
        alerts
            .iter()
            .find(|alert| alert["labels"]["alertname"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(find(&after, "Hot")["state"], "firing", "{after:?}");
    assert_eq!(
        find(&after, "Hot")["activeAt"],
        hot["activeAt"],
        "restored, not new"
    );
    assert_eq!(find(&after, "Warm")["state"], "pending", "{after:?}");
    assert_eq!(
        find(&after, "Warm")["activeAt"],
        warm["activeAt"],
        "the for timer keeps running"
    );
    let events = api(
        &instance,
        "/api/v1/alerts/history?alertname=Hot&event=firing",
    )["events"]
        .as_array()
        .expect("events")
        .len();
    assert_eq!(events, 1, "no second firing transition after the restart");

    // The value falls: Hot resolves and Warm, pending, goes inactive.
    import(
        &instance,
        &format!("temp{{room=\"lab\"}} 20 {}\n", now_ms()),
    );
    assert!(
        eventually(Duration::from_secs(10), || alerts(&instance).is_empty()),
        "{:?}",
        alerts(&instance)
    );
    let events = api(&instance, "/api/v1/alerts/history")["events"]
        .as_array()
        .expect("events")
        .clone();
    let latest: Vec<(&str, &str)> = events
        .iter()
        .take(2)
        .map(|event| {
            (
                event["alertname"].as_str().unwrap_or(""),
                event["event"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(latest.contains(&("Hot", "resolved")), "{latest:?}");
    assert!(latest.contains(&("Warm", "inactive")), "{latest:?}");
}

#[test]
fn reload_keeps_the_state_of_unchanged_rules() {
    let instance = Instance::start_with(Start {
        tandem_toml: "",
        extra_files: &[("rules/temperature.toml", RULES)],
        ..Start::default()
    });
    import(
        &instance,
        &format!("temp{{room=\"lab\"}} 60 {}\n", now_ms()),
    );
    assert!(eventually(Duration::from_secs(10), || alerts(&instance)
        .len()
        == 2));
    let before = alerts(&instance);
    // Change Warm's expression; Hot is untouched.
    instance.write_config(
        "rules/temperature.toml",
        &RULES.replace("temp > 30", "temp > 31"),
    );
    let response = client()
        .post(instance.url("/-/reload"))
        .send()
        .expect("reload");
    assert_eq!(response.status(), 200);
    std::thread::sleep(Duration::from_millis(200));
    import(
        &instance,
        &format!("temp{{room=\"lab\"}} 61 {}\n", now_ms()),
    );
    assert!(eventually(Duration::from_secs(10), || {
        let now = alerts(&instance);
        now.len() == 2 && now.iter().all(|alert| alert["value"] == "6.1e+01")
    }));
    let after = alerts(&instance);
    let active_at = |alerts: &[Value], name: &str| {
        alerts
            .iter()
            .find(|alert| alert["labels"]["alertname"] == name)
            .map(|alert| alert["activeAt"].clone())
    };
    assert_eq!(
        active_at(&after, "Hot"),
        active_at(&before, "Hot"),
        "unchanged rule keeps its alert"
    );
    assert_ne!(
        active_at(&after, "Warm"),
        active_at(&before, "Warm"),
        "changed rule starts over"
    );
}

/// The whole pipeline through the one binary: a pushed sample, the rule evaluated on
/// ingest, the notifier, a real HTTP receiver. After SIGKILL and a restart the firing
/// alert is not announced again; its resolution is.
#[test]
fn a_pushed_breach_reaches_the_webhook_once_across_a_restart() {
    let receiver = common::HttpRecorder::start();
    let tandem_toml = format!(
        r#"
[server]
external_url = "http://monitor.example:9797"
[[receiver]]
name = "ops"
webhook = {{ url = "{}" }}
[route]
receiver = "ops"
group_by = ["alertname", "room"]
# A change to a notified group (here: the resolution) waits for group_interval.
group_interval = "1s"
"#,
        receiver.url("/hook")
    );
    let mut instance = Instance::start_with(Start {
        tandem_toml: &tandem_toml,
        extra_files: &[("rules/temperature.toml", RULES)],
        ..Start::default()
    });
    import(
        &instance,
        &format!("temp{{room=\"lab\"}} 60 {}\n", now_ms()),
    );
    let message = receiver.next(Duration::from_secs(20)).json();
    assert_eq!(message["status"], "firing", "{message}");
    assert_eq!(message["receiver"], "ops");
    assert_eq!(message["groupLabels"]["alertname"], "Hot");
    assert_eq!(message["externalURL"], "http://monitor.example:9797");
    let alert = &message["alerts"][0];
    assert_eq!(alert["labels"]["room"], "lab");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["annotations"]["summary"], "lab is at 60 degrees");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(
        alert["generatorURL"],
        "http://monitor.example:9797/explore?expr=temp+%3E+50&alertname=Hot"
    );
    let fired = alerts(&instance);
    let starts_at = alert["startsAt"].clone();
    assert!(
        starts_at.as_str().is_some_and(|text| text.ends_with('Z')),
        "{starts_at}"
    );

    instance.signal(libc::SIGKILL);
    assert!(instance.wait_exit(Duration::from_secs(10)).is_some());
    instance.respawn();
    instance.wait_ready(&client());
    assert!(eventually(Duration::from_secs(10), || alerts(&instance)
        .len()
        == fired.len()));
    // Give the restored alerts an evaluation and a flush: nothing may arrive.
    std::thread::sleep(Duration::from_secs(2));
    if let Some(again) = receiver.try_next() {
        panic!(
            "re-notified after the restart: {}",
            String::from_utf8_lossy(&again.body)
        );
    }
    import(
        &instance,
        &format!("temp{{room=\"lab\"}} 20 {}\n", now_ms()),
    );
    let message = receiver.next(Duration::from_secs(20)).json();
    assert_eq!(message["status"], "resolved", "{message}");
    assert_eq!(
        message["alerts"][0]["startsAt"], starts_at,
        "the same alert, not a new one"
    );
    assert_ne!(message["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    // The notification attempts are in the history next to the transitions.
    let events = api(
        &instance,
        "/api/v1/alerts/history?alertname=Hot&event=notify",
    )["events"]
        .as_array()
        .expect("events")
        .clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events
            .iter()
            .all(|event| event["outcome"] == "sent" && event["receiver"] == "ops")
    );
}

/// The alerts page lists the firing alert, marks it silenced, and shows the silence
/// from its file and the history.
#[test]
fn the_alerts_page_shows_alerts_silences_and_history() {
    let silence = r#"
[[silence]]
matchers = ['alertname="Hot"']
comment = "lab maintenance"
created_by = "ops"
"#;
    let instance = Instance::start_with(Start {
        tandem_toml: "",
        extra_files: &[
            ("rules/temperature.toml", RULES),
            ("silences/lab.toml", silence),
        ],
        ..Start::default()
    });
    import(
        &instance,
        &format!("temp{{room=\"lab\"}} 60 {}\n", now_ms()),
    );
    assert!(eventually(Duration::from_secs(10), || alerts(&instance)
        .len()
        == 2));
    let page = client()
        .get(instance.url("/alerts"))
        .send()
        .expect("GET /alerts")
        .text()
        .expect("body");
    assert!(
        page.contains("2 firing") || page.contains("1 firing, 1 pending"),
        "{page}"
    );
    assert!(page.contains("<td>Hot</td>"), "{page}");
    assert!(page.contains("lab is at 60 degrees"), "{page}");
    assert!(
        page.contains(r#"<span class="muted">silenced</span>"#),
        "{page}"
    );
    assert!(page.contains("silences/lab.toml#1"), "{page}");
    assert!(page.contains("lab maintenance"), "{page}");
    assert!(
        page.contains("alertname=&quot;Hot&quot;") || page.contains("alertname=&#34;Hot&#34;"),
        "{page}"
    );
    assert!(
        page.contains("<td>firing</td>"),
        "history shows the transition: {page}"
    );
    // The timeline of firing alerts is drawn from ALERTS.
    assert!(
        page.contains(r#"<div class="chart" id="timeline"><svg"#),
        "{page}"
    );
    assert!(
        page.contains("Firing alerts by name, last 24 hours"),
        "{page}"
    );
}
