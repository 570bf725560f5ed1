//! The notifier end to end against real programs: an HTTP server receiving webhooks,
//! an SMTP server (Python aiosmtpd), commands run by `exec`, a real Alertmanager
//! (`prometheus-alertmanager`, queried with `amtool`), and the silences API and CLI of
//! a running tandem. Alerts are handed to `Notifier::send` directly (the notifier is
//! started from the library with a config loaded from a temp directory), so these
//! tests do not depend on the rule manager.
//!
//! No assertion depends on timing: each waits (generously) for the next message and
//! checks what it holds; "not sent" is proven by what the next message contains.

mod common;

use common::{HttpRecorder, Running};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tandem::alert::db::{AlertDb, HistoryEvent, HistoryKind, HistoryQuery};
use tandem::alert::notify::Notifier;
use tandem::alert::{Alert, Fingerprint};
use tandem::config::{self, Config, ConfigSource, Overrides};
use tandem::model::Labels;
use tandem::selfmon::{NotifyMetrics, ReceiverLabels};

/// How long a test waits for something that should happen at once.
const WAIT: Duration = Duration::from_secs(30);
/// 2025-12-05T16:00:00.123Z
const STARTS_AT_MS: i64 = 1_764_950_400_123;
const EXTERNAL_URL: &str = "http://tandem.example:9797";

/// A notifier started from the library on its own runtime, over a config directory
/// and an alerts.sqlite in a temp directory.
struct Notifying {
    runtime: tokio::runtime::Runtime,
    notifier: Notifier,
    configs: tokio::sync::watch::Sender<Arc<Config>>,
    db: Arc<AlertDb>,
    metrics: NotifyMetrics,
    dir: PathBuf,
}

impl Notifying {
    fn start(dir: &Path, tandem_toml: &str, extra_files: &[(&str, &str)]) -> Notifying {
        let config = write_config(dir, tandem_toml, extra_files);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a Tokio runtime");
        std::fs::create_dir_all(dir.join("data")).expect("data dir");
        let db = Arc::new(AlertDb::open(&dir.join("data")).expect("alerts.sqlite opens"));
        let (configs, receiver) = tokio::sync::watch::channel(Arc::new(config));
        let metrics = NotifyMetrics::default();
        let notifier = {
            let _entered = runtime.enter();
            Notifier::start(Arc::clone(&db), receiver, metrics.clone())
        };
        Notifying {
            runtime,
            notifier,
            configs,
            db,
            metrics,
            dir: dir.to_path_buf(),
        }
    }

    fn send(&self, alerts: &[Alert]) {
        self.notifier.send(alerts.to_vec());
    }

    /// Replaces tandem.toml and hands the new config over, as a reload does.
    fn reload(&self, tandem_toml: &str) {
        let config = write_config(&self.dir, tandem_toml, &[]);
        self.configs.send_replace(Arc::new(config));
    }

    /// Stops the way `serve` does.
    fn stop(self) {
        self.runtime
            .block_on(self.notifier.stop(Duration::from_secs(5)));
    }

    /// Notification attempts recorded in the history, oldest first.
    fn notify_history(&self) -> Vec<HistoryEvent> {
        let mut events = self
            .db
            .history(&HistoryQuery {
                start_ms: 0,
                end_ms: i64::MAX,
                alertname: None,
                fingerprint: None,
                event: Some(HistoryKind::Notify),
                limit: 1_000,
            })
            .expect("history query");
        events.reverse();
        events
    }

    fn attempts(&self, receiver: &str, integration: &'static str) -> (u64, u64) {
        let labels = ReceiverLabels {
            receiver: receiver.into(),
            integration,
        };
        (
            self.metrics.notifications.get_or_create(&labels).get(),
            self.metrics
                .notifications_failed
                .get_or_create(&labels)
                .get(),
        )
    }
}

fn write_config(dir: &Path, tandem_toml: &str, extra_files: &[(&str, &str)]) -> Config {
    let config_dir = dir.join("config");
    common::write(&config_dir.join("tandem.toml"), tandem_toml);
    for (name, content) in extra_files {
        common::write(&config_dir.join(name), content);
    }
    config::load(&ConfigSource::Directory(config_dir), &Overrides::default())
        .unwrap_or_else(|error| panic!("test config is invalid:\n{error}"))
}

fn alert(pairs: &[(&str, &str)], annotations: &[(&str, &str)]) -> Alert {
    Alert {
        labels: Labels::new(pairs.iter().copied()).expect("valid labels"),
        annotations: annotations
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        starts_at_ms: STARTS_AT_MS,
        resolved_at_ms: None,
        generator_url: format!("{EXTERNAL_URL}/explore?expr=up"),
    }
}

fn resolved(alert: &Alert, at_ms: i64) -> Alert {
    Alert {
        resolved_at_ms: Some(at_ms),
        ..alert.clone()
    }
}

fn keys(value: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn alertnames(message: &serde_json::Value) -> Vec<String> {
    message["alerts"]
        .as_array()
        .expect("alerts array")
        .iter()
        .map(|alert| {
            let labels = &alert["labels"];
            match labels["instance"].as_str() {
                Some(instance) => {
                    format!("{}:{instance}", labels["alertname"].as_str().unwrap_or(""))
                }
                None => labels["alertname"].as_str().unwrap_or("").to_string(),
            }
        })
        .collect()
}

#[test]
fn webhook_receives_alertmanager_v4_json() {
    let hook = HttpRecorder::start();
    let temp = tempfile::tempdir().expect("temp dir");
    common::write(
        &temp.path().join("config/hook.token"),
        "s3cret-token-of-16+\n",
    );
    let toml = format!(
        r#"
[server]
external_url = "{EXTERNAL_URL}"

[[receiver]]
name = "ops"
webhook = {{ url = "{}", bearer_token_file = "hook.token" }}

[route]
receiver = "ops"
group_by = ["alertname"]
group_interval = "1s"
"#,
        hook.url("/hook")
    );
    let notifying = Notifying::start(temp.path(), &toml, &[]);
    let disk_a = alert(
        &[
            ("alertname", "DiskFull"),
            ("instance", "db-1"),
            ("severity", "page"),
        ],
        &[
            ("summary", "disk full"),
            ("runbook", "https://runbooks/disk"),
        ],
    );
    let disk_b = alert(
        &[
            ("alertname", "DiskFull"),
            ("instance", "db-2"),
            ("severity", "page"),
        ],
        &[
            ("summary", "disk full"),
            ("runbook", "https://runbooks/disk-2"),
        ],
    );
    notifying.send(&[disk_b.clone(), disk_a.clone()]);
    let request = hook.next(WAIT);
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/hook")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.header("authorization"),
        Some("Bearer s3cret-token-of-16+")
    );
    let message = request.json();
    // Alertmanager 0.25's webhook message has exactly these fields.
    assert_eq!(
        keys(&message),
        [
            "alerts",
            "commonAnnotations",
            "commonLabels",
            "externalURL",
            "groupKey",
            "groupLabels",
            "receiver",
            "status",
            "truncatedAlerts",
            "version",
        ]
    );
    assert_eq!(message["version"], "4");
    assert_eq!(message["groupKey"], r#"{}:{alertname="DiskFull"}"#);
    assert_eq!(message["truncatedAlerts"], 0);
    assert_eq!(message["status"], "firing");
    assert_eq!(message["receiver"], "ops");
    assert_eq!(message["externalURL"], EXTERNAL_URL);
    assert_eq!(
        message["groupLabels"],
        serde_json::json!({"alertname": "DiskFull"})
    );
    assert_eq!(
        message["commonLabels"],
        serde_json::json!({"alertname": "DiskFull", "severity": "page"})
    );
    assert_eq!(
        message["commonAnnotations"],
        serde_json::json!({"summary": "disk full"})
    );
    let alerts = message["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 2);
    for (sent, expected) in alerts.iter().zip([&disk_a, &disk_b]) {
        assert_eq!(
            keys(sent),
            [
                "annotations",
                "endsAt",
                "fingerprint",
                "generatorURL",
                "labels",
                "startsAt",
                "status"
            ]
        );
        assert_eq!(sent["status"], "firing");
        let labels: BTreeMap<String, String> =
            serde_json::from_value(sent["labels"].clone()).expect("labels object");
        let expected_labels: BTreeMap<String, String> = expected
            .labels
            .iter()
            .map(|label| (label.name.clone(), label.value.clone()))
            .collect();
        assert_eq!(labels, expected_labels);
        assert_eq!(sent["annotations"], serde_json::json!(expected.annotations));
        assert_eq!(sent["startsAt"], "2025-12-05T16:00:00.123Z");
        assert_eq!(sent["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(
            sent["generatorURL"],
            format!("{EXTERNAL_URL}/explore?expr=up")
        );
        let fingerprint = sent["fingerprint"].as_str().expect("fingerprint");
        assert_eq!(fingerprint.len(), 16);
        assert_eq!(
            u64::from_str_radix(fingerprint, 16).map(Fingerprint).ok(),
            Some(expected.fingerprint())
        );
    }
    // One resolves: the next message (at group_interval) carries it with its end.
    notifying.send(&[resolved(&disk_a, STARTS_AT_MS + 50_000)]);
    let message = hook.next(WAIT).json();
    assert_eq!(message["status"], "firing", "db-2 still fires");
    let statuses: Vec<(&str, &str)> = message["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|alert| {
            (
                alert["status"].as_str().unwrap_or(""),
                alert["endsAt"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("resolved", "2025-12-05T16:00:50.123Z"),
            ("firing", "0001-01-01T00:00:00Z")
        ]
    );
    // Every attempt is in the history, one row per alert.
    assert!(common::eventually(WAIT, || notifying
        .notify_history()
        .len()
        == 4));
    let history = notifying.notify_history();
    for event in &history {
        assert_eq!(event.receiver.as_deref(), Some("ops"));
        assert_eq!(event.outcome.as_deref(), Some("sent"));
        assert_eq!(event.attempt, Some(1));
        assert_eq!(event.alertname, "DiskFull");
    }
    assert_eq!(notifying.attempts("ops", "webhook"), (2, 0));
    assert!(hook.try_next().is_none());
    notifying.stop();
}

#[test]
fn failed_webhooks_are_retried_counted_and_recorded() {
    let hook = HttpRecorder::start();
    hook.respond_with(&[503, 500]);
    let temp = tempfile::tempdir().expect("temp dir");
    let toml = format!(
        r#"
[[receiver]]
name = "flaky"
webhook = {{ url = "{}" }}

[alerting]
retry_initial = "50ms"
retry_max = "200ms"
"#,
        hook.url("/hook")
    );
    let notifying = Notifying::start(temp.path(), &toml, &[]);
    notifying.send(&[alert(&[("alertname", "Flaky")], &[])]);
    for _ in 0..3 {
        assert_eq!(
            hook.next(WAIT).json()["alerts"][0]["labels"]["alertname"],
            "Flaky"
        );
    }
    assert!(common::eventually(WAIT, || notifying
        .notify_history()
        .len()
        == 3));
    let history = notifying.notify_history();
    let attempts: Vec<(Option<u32>, Option<&str>)> = history
        .iter()
        .map(|event| (event.attempt, event.outcome.as_deref()))
        .collect();
    assert_eq!(
        attempts,
        [
            (Some(1), Some("failed")),
            (Some(2), Some("failed")),
            (Some(3), Some("sent"))
        ]
    );
    let detail = history[0].detail.as_deref().unwrap_or("");
    assert!(
        detail.contains("503") && detail.contains("recorded"),
        "{detail}"
    );
    assert_eq!(notifying.attempts("flaky", "webhook"), (3, 2));
    notifying.stop();
}

#[test]
fn a_restart_does_not_notify_a_firing_alert_again_but_sends_its_resolution() {
    let hook = HttpRecorder::start();
    let temp = tempfile::tempdir().expect("temp dir");
    let toml = format!(
        r#"
[[receiver]]
name = "ops"
webhook = {{ url = "{}" }}

[route]
receiver = "ops"
group_interval = "1s"
"#,
        hook.url("/hook")
    );
    let firing = alert(&[("alertname", "Down"), ("instance", "a")], &[]);
    let first = Notifying::start(temp.path(), &toml, &[]);
    first.send(std::slice::from_ref(&firing));
    assert_eq!(hook.next(WAIT).json()["status"], "firing");
    // Wait until the notification log row is on disk, then die without stopping
    // (the runtime is dropped with its tasks, as a SIGKILL would).
    assert!(common::eventually(WAIT, || {
        tandem::alert::notify::store::load_nflog(&first.db, 0).is_ok_and(|log| log.len() == 1)
    }));
    drop(first);
    let second = Notifying::start(temp.path(), &toml, &[]);
    // The rule manager, restarted too, hands the firing alert over again, then its
    // resolution. Had the restart re-notified, the next message would be "firing".
    second.send(std::slice::from_ref(&firing));
    second.send(&[resolved(&firing, STARTS_AT_MS + 60_000)]);
    let message = hook.next(WAIT).json();
    assert_eq!(message["status"], "resolved", "{message}");
    assert_eq!(alertnames(&message), ["Down:a"]);
    second.stop();
}

#[test]
fn silences_and_inhibition_keep_alerts_out_of_the_message() {
    let hook = HttpRecorder::start();
    let temp = tempfile::tempdir().expect("temp dir");
    let toml = format!(
        r#"
[[receiver]]
name = "ops"
webhook = {{ url = "{}" }}

[route]
receiver = "ops"
group_by = []

[[inhibit_rule]]
source_matchers = ['severity="page"']
target_matchers = ['severity="warning"']
equal = ["instance"]
"#,
        hook.url("/hook")
    );
    let silence_file = r#"
[[silence]]
matchers = ['alertname="Watchdog"']
comment = "always fires"
created_by = "ops"
"#;
    let notifying = Notifying::start(
        temp.path(),
        &toml,
        &[("silences/always.toml", silence_file)],
    );
    let added = notifying
        .notifier
        .add_silence(
            &tandem::alert::notify::silence::NewSilence {
                matchers: vec![r#"alertname=~"Dep.*""#.into()],
                duration_ms: Some(3_600_000),
                created_by: "alice".into(),
                comment: "deploying".into(),
                ..Default::default()
            },
            tandem::alert::notify::now_ms(),
        )
        .expect("silence added");
    assert_eq!(added.id.len(), 36);
    // One group (group_by = []): one message with what is neither silenced nor inhibited.
    notifying.send(&[
        alert(&[("alertname", "Watchdog")], &[]),
        alert(&[("alertname", "Deploying")], &[]),
        alert(
            &[
                ("alertname", "Down"),
                ("instance", "a"),
                ("severity", "page"),
            ],
            &[],
        ),
        alert(
            &[
                ("alertname", "Slow"),
                ("instance", "a"),
                ("severity", "warning"),
            ],
            &[],
        ),
        alert(
            &[
                ("alertname", "Slow"),
                ("instance", "b"),
                ("severity", "warning"),
            ],
            &[],
        ),
    ]);
    let message = hook.next(WAIT).json();
    assert_eq!(alertnames(&message), ["Down:a", "Slow:b"]);
    let listed = notifying
        .notifier
        .silences(tandem::alert::notify::now_ms())
        .expect("silences listed");
    let ids: Vec<&str> = listed.iter().map(|silence| silence.id.as_str()).collect();
    assert_eq!(ids, ["silences/always.toml#1", added.id.as_str()]);
    notifying.stop();
}

#[test]
fn a_reload_changes_where_new_notifications_go_and_keeps_groups() {
    let (old, new) = (HttpRecorder::start(), HttpRecorder::start());
    let temp = tempfile::tempdir().expect("temp dir");
    let toml =
        |url: String| format!("[[receiver]]\nname = \"ops\"\nwebhook = {{ url = \"{url}\" }}\n");
    let notifying = Notifying::start(temp.path(), &toml(old.url("/old")), &[]);
    notifying.send(&[alert(&[("alertname", "A")], &[])]);
    assert_eq!(alertnames(&old.next(WAIT).json()), ["A"]);
    notifying.reload(&toml(new.url("/new")));
    // The reload and new alerts race to the notifier: send a new alert (a new group,
    // notified at once) until one reaches the new URL.
    let mut reached_new = None;
    for attempt in 0..200 {
        notifying.send(&[alert(&[("alertname", format!("B{attempt}").as_str())], &[])]);
        let mut went_old = false;
        let arrived = common::eventually(WAIT, || {
            went_old = old.try_next().is_some();
            if !went_old {
                reached_new = new.try_next();
            }
            went_old || reached_new.is_some()
        });
        assert!(arrived, "B{attempt} was not notified");
        if reached_new.is_some() {
            break;
        }
    }
    let message = reached_new.expect("a new alert reached the new URL").json();
    // Only the new group: A's group kept its state through the reload (not re-sent).
    assert_eq!(alertnames(&message).len(), 1);
    assert!(alertnames(&message)[0].starts_with('B'), "{message}");
    notifying.stop();
}

#[test]
fn exec_runs_commands_with_the_message_on_stdin() {
    let temp = tempfile::tempdir().expect("temp dir");
    let script = |name: &str, body: &str| -> String {
        let path = temp.path().join(name);
        common::write(&path, &format!("#!/bin/sh\n{body}\n"));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path.display().to_string()
    };
    let out = temp.path().join("stdin.json");
    let ok = script("ok.sh", r#"cat > "$1""#);
    let fails = script(
        "fails.sh",
        "cat > /dev/null; echo 'pager API said no' >&2; exit 3",
    );
    let hangs = script("hangs.sh", "exec sleep 60");
    let toml = format!(
        r#"
[[receiver]]
name = "ok"
exec = {{ command = ["{ok}", "{}"] }}

[[receiver]]
name = "fails"
exec = {{ command = ["{fails}"] }}

[[receiver]]
name = "hangs"
exec = {{ command = ["{hangs}"], timeout = "300ms" }}

[route]
receiver = "ok"

[[route.route]]
matchers = ['alertname="Fails"']
receiver = "fails"

[[route.route]]
matchers = ['alertname="Hangs"']
receiver = "hangs"

[alerting]
retry_attempts_max = 2
retry_initial = "10ms"
"#,
        out.display()
    );
    let notifying = Notifying::start(temp.path(), &toml, &[]);
    notifying.send(&[
        alert(
            &[("alertname", "Ok"), ("instance", "x")],
            &[("summary", "fine")],
        ),
        alert(&[("alertname", "Fails")], &[]),
        alert(&[("alertname", "Hangs")], &[]),
    ]);
    // 1 success + 2 attempts each for the two failing commands.
    assert!(common::eventually(WAIT, || notifying
        .notify_history()
        .len()
        == 5));
    let written = std::fs::read_to_string(&out).expect("the command wrote its stdin");
    let message: serde_json::Value = serde_json::from_str(&written).expect("JSON on stdin");
    assert_eq!(message["version"], "4");
    assert_eq!(message["receiver"], "ok");
    assert_eq!(message["groupKey"], r#"{}:{alertname="Ok"}"#);
    assert_eq!(message["alerts"][0]["annotations"]["summary"], "fine");
    let history = notifying.notify_history();
    let rows = |receiver: &str| -> Vec<(Option<u32>, String, String)> {
        history
            .iter()
            .filter(|event| event.receiver.as_deref() == Some(receiver))
            .map(|event| {
                (
                    event.attempt,
                    event.outcome.clone().unwrap_or_default(),
                    event.detail.clone().unwrap_or_default(),
                )
            })
            .collect()
    };
    assert_eq!(rows("ok").len(), 1);
    assert_eq!(rows("ok")[0].1, "sent");
    for (receiver, expected) in [("fails", "pager API said no"), ("hangs", "killed after")] {
        let found = rows(receiver);
        assert_eq!(found.len(), 2, "{receiver}: {found:?}");
        for (attempt, (number, outcome, detail)) in found.iter().enumerate() {
            assert_eq!(*number, Some(attempt as u32 + 1));
            assert_eq!(outcome, "failed");
            assert!(detail.contains(expected), "{receiver}: {detail}");
        }
    }
    assert!(
        rows("fails")[0].2.contains("exit status: 3"),
        "{:?}",
        rows("fails")
    );
    assert_eq!(notifying.attempts("hangs", "exec"), (2, 2));
    notifying.stop();
}

/// Runs an SMTP server (aiosmtpd) that appends each message to `spool` as a JSON line.
fn smtp_server(python: &str, port: u16, spool: &Path) -> Running {
    const SERVER: &str = r#"
import json, sys, threading
from aiosmtpd.controller import Controller

class Spool:
    async def handle_DATA(self, server, session, envelope):
        with open(sys.argv[2], "a") as spool:
            spool.write(json.dumps({
                "from": envelope.mail_from,
                "to": envelope.rcpt_tos,
                "data": envelope.content.decode("utf-8", "replace"),
            }) + "\n")
        return "250 OK"

controller = Controller(Spool(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
threading.Event().wait()
"#;
    let child = Command::new(python)
        .args(["-c", SERVER, &port.to_string()])
        .arg(spool)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the SMTP server");
    Running(child)
}

#[test]
fn email_goes_through_a_real_smtp_server() {
    let Some(python) = common::required_python("aiosmtpd", "python3-aiosmtpd") else {
        return;
    };
    let temp = tempfile::tempdir().expect("temp dir");
    let port = common::free_port();
    let spool = temp.path().join("spool.jsonl");
    let _server = smtp_server(&python, port, &spool);
    assert!(
        common::wait_for_port(port, WAIT),
        "the SMTP server did not start"
    );
    let toml = format!(
        r#"
[server]
external_url = "{EXTERNAL_URL}"

[[receiver]]
name = "mail"
email = {{ to = ["ops@example.org", "Pager <pager@example.org>"], from = "tandem@example.org", smarthost = "127.0.0.1:{port}", tls = "none", hello = "tandem.test" }}
"#
    );
    let notifying = Notifying::start(temp.path(), &toml, &[]);
    notifying.send(&[alert(
        &[
            ("alertname", "DiskFull"),
            ("instance", "db-1"),
            ("severity", "page"),
        ],
        &[("summary", "disk on db-1 is full")],
    )]);
    assert!(common::eventually(WAIT, || std::fs::read_to_string(&spool)
        .is_ok_and(|text| !text.is_empty())));
    let text = std::fs::read_to_string(&spool).expect("spool");
    let mail: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("one message")).expect("JSON line");
    assert_eq!(mail["from"], "tandem@example.org");
    assert_eq!(
        mail["to"],
        serde_json::json!(["ops@example.org", "pager@example.org"])
    );
    let data = mail["data"]
        .as_str()
        .expect("message text")
        .replace("\r\n", "\n");
    let (headers, body) = data.split_once("\n\n").expect("headers, blank line, body");
    assert!(
        headers.contains("Subject: [FIRING:1] DiskFull (db-1 page)"),
        "{headers}"
    );
    assert!(headers.contains("From: tandem@example.org"), "{headers}");
    assert!(
        headers
            .lines()
            .any(|line| line.starts_with("To: ops@example.org, ")
                && line.contains("<pager@example.org>")),
        "{headers}"
    );
    assert!(
        headers.contains("Content-Type: text/plain; charset=utf-8"),
        "{headers}"
    );
    assert!(
        body.starts_with("1 alert for alertname=DiskFull\n"),
        "{body}"
    );
    assert!(
        body.contains(&format!("View in tandem: {EXTERNAL_URL}/alerts")),
        "{body}"
    );
    assert!(body.contains(" - instance = db-1\n"), "{body}");
    assert!(
        body.contains(" - summary = disk on db-1 is full\n"),
        "{body}"
    );
    assert!(
        body.contains(&format!("Source: {EXTERNAL_URL}/explore?expr=up")),
        "{body}"
    );
    assert_eq!(notifying.attempts("mail", "email"), (1, 0));
    notifying.stop();
}

/// `amtool alert query` against `url`, as JSON.
fn amtool_alerts(url: &str) -> Vec<serde_json::Value> {
    let output = Command::new("amtool")
        .args(["alert", "query", "-o", "json"])
        .arg(format!("--alertmanager.url={url}"))
        .output()
        .expect("run amtool");
    assert!(
        output.status.success(),
        "amtool failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_default()
}

#[test]
fn a_real_alertmanager_receives_forwarded_alerts() {
    if !common::required(&[
        ("prometheus-alertmanager", "prometheus-alertmanager"),
        ("amtool", "prometheus-alertmanager"),
    ]) {
        return;
    }
    let temp = tempfile::tempdir().expect("temp dir");
    let port = common::free_port();
    let am_config = temp.path().join("alertmanager.yml");
    common::write(
        &am_config,
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    );
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", am_config.display()))
        .arg(format!(
            "--storage.path={}",
            temp.path().join("am-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Alertmanager");
    let _alertmanager = Running(child);
    let am_url = format!("http://127.0.0.1:{port}");
    let client = common::client();
    assert!(
        common::eventually(WAIT, || client
            .get(format!("{am_url}/-/ready"))
            .send()
            .is_ok_and(|response| response.status() == 200)),
        "Alertmanager did not become ready"
    );
    let toml = format!("[[receiver]]\nname = \"am\"\nalertmanager = {{ url = \"{am_url}/\" }}\n");
    let notifying = Notifying::start(temp.path(), &toml, &[]);
    let down = alert(
        &[("alertname", "TandemForwarded"), ("instance", "db-1")],
        &[("summary", "forwarded by tandem")],
    );
    notifying.send(std::slice::from_ref(&down));
    let mut found = Vec::new();
    assert!(
        common::eventually(WAIT, || {
            found = amtool_alerts(&am_url);
            !found.is_empty()
        }),
        "amtool shows no alert"
    );
    assert_eq!(found.len(), 1, "{found:?}");
    let shown = &found[0];
    assert_eq!(shown["labels"]["alertname"], "TandemForwarded");
    assert_eq!(shown["labels"]["instance"], "db-1");
    assert_eq!(shown["annotations"]["summary"], "forwarded by tandem");
    assert_eq!(
        shown["generatorURL"],
        format!("{EXTERNAL_URL}/explore?expr=up")
    );
    assert_eq!(shown["fingerprint"], down.fingerprint().to_string());
    assert_eq!(shown["status"]["state"], "active");
    // Firing alerts are posted with endsAt four minutes ahead (re-posted every minute).
    let ends_at: jiff::Timestamp = shown["endsAt"]
        .as_str()
        .and_then(|text| text.parse().ok())
        .expect("endsAt is a time");
    let ahead_ms = ends_at.as_millisecond() - tandem::alert::notify::now_ms();
    assert!(
        (120_000..=240_000).contains(&ahead_ms),
        "endsAt {ahead_ms} ms ahead"
    );
    // The resolution is posted at once; Alertmanager then lists it no more.
    notifying.send(&[resolved(&down, tandem::alert::notify::now_ms())]);
    assert!(
        common::eventually(WAIT, || amtool_alerts(&am_url).is_empty()),
        "still active in Alertmanager after the resolution"
    );
    // Two posts, or three if the test outlived the one-minute re-post.
    let (posts, failed) = notifying.attempts("am", "alertmanager");
    assert!(posts >= 2 && failed == 0, "{posts} posts, {failed} failed");
    notifying.stop();
}

#[test]
fn silences_api_and_cli_against_a_running_tandem() {
    let silence_file = r#"
[[silence]]
matchers = ['alertname="Watchdog"']
comment = "always fires"
created_by = "ops"
ends_at = 2099-01-01T00:00:00Z
"#;
    let instance = common::Instance::start_with(common::Start {
        tandem_toml: "",
        extra_files: &[("silences/watchdog.toml", silence_file)],
        ..common::Start::default()
    });
    let cli = |arguments: &[&str]| {
        let output = Command::new(common::BIN)
            .arg("silence")
            .args(arguments)
            .arg("--url")
            .arg(&instance.base_url)
            .output()
            .expect("run tandem silence");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, id, stderr) = cli(&[
        "add",
        "--duration",
        "2h",
        "--comment",
        "deploy",
        "--author",
        "alice",
        r#"alertname="Deploy""#,
        "env=prod",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let id = id.trim().to_string();
    assert_eq!(id.len(), 36, "{id}");
    let (code, listed, _) = cli(&["list"]);
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = listed.lines().collect();
    assert!(lines[0].starts_with("ID"), "{listed}");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("silences/watchdog.toml#1")
                && line.contains("2099-01-01T00:00:00Z")
                && line.contains("silences/watchdog.toml")),
        "{listed}"
    );
    assert!(
        lines.iter().any(|line| line.starts_with(&id)
            && line.contains("active")
            && line.contains("alice")
            && line.contains(r#"alertname="Deploy",env="prod""#)
            && line.contains("deploy")),
        "{listed}"
    );
    // The API shape.
    let client = common::client();
    let body: serde_json::Value = client
        .get(instance.url("/api/v1/silences"))
        .send()
        .expect("GET silences")
        .json()
        .expect("JSON");
    assert_eq!(body["status"], "success");
    let api = body["data"]
        .as_array()
        .expect("data array")
        .iter()
        .find(|silence| silence["id"] == id.as_str())
        .expect("the new silence is listed")
        .clone();
    assert_eq!(
        keys(&api),
        [
            "comment",
            "createdBy",
            "endsAt",
            "id",
            "matchers",
            "source",
            "startsAt",
            "status",
            "updatedAt"
        ]
    );
    assert_eq!(api["source"], "api");
    assert_eq!(
        api["matchers"],
        serde_json::json!([r#"alertname="Deploy""#, r#"env="prod""#])
    );
    let starts: jiff::Timestamp = api["startsAt"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("startsAt");
    let ends: jiff::Timestamp = api["endsAt"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("endsAt");
    assert_eq!(
        ends.as_millisecond() - starts.as_millisecond(),
        2 * 3600 * 1000
    );
    // Refusals name the problem.
    let refused: serde_json::Value = client
        .post(instance.url("/api/v1/silences"))
        .json(&serde_json::json!({
            "matchers": ["job=~\".*\""], "duration": "1h", "createdBy": "x", "comment": "y"
        }))
        .send()
        .expect("POST silence")
        .json()
        .expect("JSON");
    assert_eq!(refused["status"], "error");
    assert_eq!(refused["errorType"], "bad_data");
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or("")
            .contains("empty string"),
        "{refused}"
    );
    let (code, _, stderr) = cli(&["expire", "silences/watchdog.toml#1"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("remove it from that file"), "{stderr}");
    let (code, stdout, stderr) = cli(&["expire", &id]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), format!("expired {id}"));
    let (code, _, stderr) = cli(&["expire", &id]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("already expired"), "{stderr}");
    let (_, listed, _) = cli(&["list"]);
    assert!(
        !listed.contains(&id),
        "expired silences are listed only with --expired"
    );
    let (_, listed, _) = cli(&["list", "--expired"]);
    assert!(
        listed
            .lines()
            .any(|line| line.starts_with(&id) && line.contains("expired")),
        "{listed}"
    );
    let response = client
        .delete(instance.url("/api/v1/silence/no-such-id"))
        .send()
        .expect("DELETE");
    assert_eq!(response.status(), 404);
    // Unreachable server: exit 2.
    let output = Command::new(common::BIN)
        .args(["silence", "list", "--url"])
        .arg(format!("http://127.0.0.1:{}", common::free_port()))
        .output()
        .expect("run tandem silence");
    assert_eq!(output.status.code(), Some(2));
}
