//! The dispatcher under a controlled clock. Each test drives `Harness`: alerts in,
//! time set, and the notifications due summarised as one line each:
//! `RECEIVER/INTEGRATION GROUPKEY firing=[...] resolved=[...]`, alerts named by
//! `alertname` (and `:instance` when they have one).

use super::*;
use crate::alert::notify::matcher::parse_matchers;
use crate::alert::notify::silence::NewSilence;
use crate::config::alerting::{
    AlertingConfig, EmailConfig, EmailTls, FileSilence, GroupBy, InhibitRuleConfig, ReceiverConfig,
    RouteConfig, WebhookConfig,
};
use std::time::Duration;

const SECOND: Millis = 1_000;
const MINUTE: Millis = 60 * SECOND;
const HOUR: Millis = 60 * MINUTE;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied()).expect("valid labels")
}

/// A firing alert active since `starts_at_ms`. `name` is `alertname` or
/// `alertname:instance`; `extra` adds labels.
fn firing(name: &str, starts_at_ms: Millis, extra: &[(&str, &str)]) -> Alert {
    let mut pairs = extra.to_vec();
    match name.split_once(':') {
        Some((alertname, instance)) => {
            pairs.push(("alertname", alertname));
            pairs.push(("instance", instance));
        }
        None => pairs.push(("alertname", name)),
    }
    Alert {
        labels: labels(&pairs),
        annotations: BTreeMap::new(),
        starts_at_ms,
        resolved_at_ms: None,
        generator_url: String::new(),
    }
}

fn resolved(alert: &Alert, at_ms: Millis) -> Alert {
    Alert {
        resolved_at_ms: Some(at_ms),
        ..alert.clone()
    }
}

fn webhook_receiver(name: &str) -> ReceiverConfig {
    ReceiverConfig {
        name: name.into(),
        webhook: Some(WebhookConfig {
            url: format!("http://127.0.0.1:1/{name}"),
            timeout: Duration::from_secs(10),
            max_alerts: 0,
            send_resolved: true,
            bearer_token_file: None,
        }),
        email: None,
        exec: None,
        alertmanager: None,
    }
}

fn email_config() -> EmailConfig {
    EmailConfig {
        to: vec!["ops@example.org".into()],
        from: "tandem@example.org".into(),
        host: "127.0.0.1".into(),
        port: 25,
        tls: EmailTls::None,
        auth_username: None,
        auth_password_file: None,
        hello: None,
        subject: None,
        send_resolved: false,
        timeout: Duration::from_secs(10),
    }
}

use crate::alert::notify::route::tests::route;

fn config(root: RouteConfig, receivers: Vec<ReceiverConfig>) -> AlertingConfig {
    AlertingConfig {
        receivers,
        route: Some(root),
        ..AlertingConfig::default()
    }
}

/// The default setup: one webhook receiver `ops` taking everything.
fn ops() -> AlertingConfig {
    config(route("ops", "", vec![]), vec![webhook_receiver("ops")])
}

struct Harness {
    dispatcher: Dispatcher,
    /// Outcome reported for every notification `at` returns.
    outcome: Outcome,
}

impl Harness {
    fn new(config: AlertingConfig) -> Harness {
        Harness::restored(config, Vec::new())
    }

    fn restored(config: AlertingConfig, nflog: Vec<NflogEntry>) -> Harness {
        Harness {
            dispatcher: Dispatcher::new(&config, "http://tandem:9797", nflog, Vec::new()),
            outcome: Outcome::Sent,
        }
    }

    fn send(&mut self, alerts: &[Alert], now: Millis) {
        let dropped = self.dispatcher.ingest(alerts.to_vec(), now);
        assert_eq!(dropped, 0, "alerts dropped");
    }

    /// What is due at `now`, sorted, each reported with `self.outcome` at once.
    fn at(&mut self, now: Millis) -> Vec<String> {
        let due = self.dispatcher.due(now);
        let mut lines = Vec::new();
        for notification in due {
            lines.push(summary(&notification));
            self.dispatcher
                .delivered(notification.id, self.outcome, now);
        }
        lines.sort();
        lines
    }
}

fn summary(notification: &Notification) -> String {
    let name = |alert: &Alert| match alert.labels.get("instance") {
        Some(instance) => format!("{}:{instance}", alert.alertname()),
        None => alert.alertname().to_string(),
    };
    let list = |resolved: bool| -> String {
        let names: Vec<String> = notification
            .alerts
            .iter()
            .filter(|alert| alert.is_resolved() == resolved)
            .map(name)
            .collect();
        names.join(",")
    };
    format!(
        "{}/{} {} firing=[{}] resolved=[{}]",
        notification.receiver,
        notification.integration.kind().as_str(),
        notification.group_key,
        list(false),
        list(true)
    )
}

#[test]
fn group_wait_zero_sends_the_first_alert_at_once() {
    let mut harness = Harness::new(ops());
    harness.send(&[firing("A", 0, &[])], 0);
    assert_eq!(
        harness.at(0),
        [r#"ops/webhook {}:{alertname="A"} firing=[A] resolved=[]"#]
    );
    assert_eq!(harness.dispatcher.next_wakeup(), Some(5 * MINUTE));
    assert!(harness.at(MINUTE).is_empty());
}

#[test]
fn alerts_are_grouped_by_the_group_by_labels() {
    let mut harness = Harness::new(ops());
    harness.send(
        &[
            firing("A:1", 0, &[]),
            firing("A:2", 0, &[]),
            firing("B:1", 0, &[]),
        ],
        0,
    );
    assert_eq!(
        harness.at(0),
        [
            r#"ops/webhook {}:{alertname="A"} firing=[A:1,A:2] resolved=[]"#,
            r#"ops/webhook {}:{alertname="B"} firing=[B:1] resolved=[]"#,
        ]
    );
    let mut by_instance = route("ops", "", vec![]);
    by_instance.group_by = GroupBy::Labels(vec!["alertname".into(), "instance".into()]);
    let mut harness = Harness::new(config(by_instance, vec![webhook_receiver("ops")]));
    harness.send(&[firing("A:1", 0, &[]), firing("A:2", 0, &[])], 0);
    assert_eq!(
        harness.at(0),
        [
            r#"ops/webhook {}:{alertname="A", instance="1"} firing=[A:1] resolved=[]"#,
            r#"ops/webhook {}:{alertname="A", instance="2"} firing=[A:2] resolved=[]"#,
        ]
    );
    let mut everything = route("ops", "", vec![]);
    everything.group_by = GroupBy::Labels(Vec::new());
    let mut harness = Harness::new(config(everything, vec![webhook_receiver("ops")]));
    harness.send(&[firing("A:1", 0, &[]), firing("B", 0, &[])], 0);
    assert_eq!(
        harness.at(0),
        ["ops/webhook {}:{} firing=[A:1,B] resolved=[]"]
    );
}

#[test]
fn group_wait_delays_the_first_notification_unless_the_alert_is_old() {
    let mut waiting = route("ops", "", vec![]);
    waiting.group_wait = Duration::from_secs(30);
    let mut harness = Harness::new(config(waiting, vec![webhook_receiver("ops")]));
    harness.send(&[firing("A:1", 10 * SECOND, &[])], 10 * SECOND);
    assert_eq!(harness.dispatcher.next_wakeup(), Some(40 * SECOND));
    assert!(harness.at(39 * SECOND).is_empty());
    harness.send(&[firing("A:2", 20 * SECOND, &[])], 20 * SECOND);
    assert_eq!(
        harness.at(40 * SECOND),
        [r#"ops/webhook {}:{alertname="A"} firing=[A:1,A:2] resolved=[]"#]
    );
    // Active since long before (a `for` rule): its wait is over already.
    harness.send(&[firing("B", 0, &[])], 50 * SECOND);
    assert_eq!(
        harness.at(50 * SECOND),
        [r#"ops/webhook {}:{alertname="B"} firing=[B] resolved=[]"#]
    );
}

#[test]
fn changes_wait_for_group_interval_and_unchanged_groups_repeat() {
    let mut harness = Harness::new(ops());
    harness.send(&[firing("A:1", 0, &[])], 0);
    assert_eq!(harness.at(0).len(), 1);
    harness.send(&[firing("A:2", 10 * SECOND, &[])], 10 * SECOND);
    assert!(
        harness.at(10 * SECOND).is_empty(),
        "a change waits for group_interval"
    );
    assert!(harness.at(5 * MINUTE - 1).is_empty());
    assert_eq!(
        harness.at(5 * MINUTE),
        [r#"ops/webhook {}:{alertname="A"} firing=[A:1,A:2] resolved=[]"#]
    );
    // Unchanged: silent at every group_interval until repeat_interval has passed.
    let mut now = 5 * MINUTE;
    while now < 5 * MINUTE + 4 * HOUR - 5 * MINUTE {
        now += 5 * MINUTE;
        assert!(harness.at(now).is_empty(), "re-sent early at {now}");
    }
    assert_eq!(
        harness.at(5 * MINUTE + 4 * HOUR),
        [r#"ops/webhook {}:{alertname="A"} firing=[A:1,A:2] resolved=[]"#]
    );
}

#[test]
fn resolved_alerts_are_sent_once_then_dropped() {
    let mut harness = Harness::new(ops());
    let a = firing("A", 0, &[]);
    harness.send(std::slice::from_ref(&a), 0);
    assert_eq!(harness.at(0).len(), 1);
    harness.send(&[resolved(&a, MINUTE)], MINUTE);
    assert!(harness.at(MINUTE).is_empty());
    assert_eq!(
        harness.at(5 * MINUTE),
        [r#"ops/webhook {}:{alertname="A"} firing=[] resolved=[A]"#]
    );
    assert_eq!(harness.dispatcher.alert_count(), 0);
    assert_eq!(harness.dispatcher.group_count(), 0);
    assert_eq!(harness.dispatcher.next_wakeup(), None);
    // The rule manager repeating the resolution changes nothing.
    harness.send(&[resolved(&a, MINUTE)], 6 * MINUTE);
    assert!(harness.at(6 * MINUTE).is_empty());
    assert!(harness.at(11 * MINUTE).is_empty());
    // Firing again is news.
    harness.send(&[firing("A", 12 * MINUTE, &[])], 12 * MINUTE);
    assert_eq!(
        harness.at(12 * MINUTE),
        [r#"ops/webhook {}:{alertname="A"} firing=[A] resolved=[]"#]
    );
}

#[test]
fn fired_and_resolved_before_the_first_flush_sends_nothing() {
    let mut waiting = route("ops", "", vec![]);
    waiting.group_wait = Duration::from_secs(30);
    let mut harness = Harness::new(config(waiting, vec![webhook_receiver("ops")]));
    let a = firing("A", 0, &[]);
    harness.send(std::slice::from_ref(&a), 0);
    harness.send(&[resolved(&a, 10 * SECOND)], 10 * SECOND);
    assert!(harness.at(30 * SECOND).is_empty());
    assert_eq!(harness.dispatcher.alert_count(), 0);
}

#[test]
fn without_send_resolved_a_resolution_is_logged_not_sent() {
    let mut receiver = webhook_receiver("ops");
    receiver.webhook = None;
    receiver.email = Some(email_config());
    let mut harness = Harness::new(config(route("ops", "", vec![]), vec![receiver]));
    let a = firing("A", 0, &[]);
    let b = firing("A:b", 0, &[]);
    harness.send(&[a.clone(), b.clone()], 0);
    assert_eq!(
        harness.at(0),
        [r#"ops/email {}:{alertname="A"} firing=[A:b,A] resolved=[]"#]
    );
    harness.send(&[resolved(&a, MINUTE)], MINUTE);
    assert!(
        harness.at(5 * MINUTE).is_empty(),
        "one still fires: nothing new"
    );
    harness.send(&[resolved(&b, 6 * MINUTE)], 6 * MINUTE);
    assert!(
        harness.at(10 * MINUTE).is_empty(),
        "resolutions are not emailed"
    );
    assert_eq!(harness.dispatcher.alert_count(), 0);
    let log = harness.dispatcher.take_nflog_writes();
    assert!(log.last().is_some_and(|entry| entry.firing.is_empty()));
    harness.send(&[firing("A", 11 * MINUTE, &[])], 11 * MINUTE);
    assert_eq!(harness.at(11 * MINUTE).len(), 1, "firing again is news");
}

#[test]
fn routes_match_deepest_first_and_continue_goes_on() {
    let mut db = route("db", r#"team="db""#, vec![]);
    db.continue_matching = true;
    let root = route("ops", "", vec![db, route("pager", "severity=page", vec![])]);
    let receivers = ["ops", "db", "pager"].map(webhook_receiver).to_vec();
    let mut harness = Harness::new(config(root, receivers));
    harness.send(
        &[
            firing("A", 0, &[("team", "db"), ("severity", "page")]),
            firing("B", 0, &[("team", "web")]),
        ],
        0,
    );
    assert_eq!(
        harness.at(0),
        [
            r#"db/webhook {}/{team="db"}:{alertname="A"} firing=[A] resolved=[]"#,
            r#"ops/webhook {}:{alertname="B"} firing=[B] resolved=[]"#,
            r#"pager/webhook {}/{severity="page"}:{alertname="A"} firing=[A] resolved=[]"#,
        ]
    );
}

#[test]
fn inhibited_alerts_wait_until_the_source_resolves() {
    let mut alerting = ops();
    alerting.inhibit_rules = vec![InhibitRuleConfig {
        source_matchers: parse_matchers("severity=page").expect("parses"),
        target_matchers: parse_matchers("severity=warning").expect("parses"),
        equal: vec!["instance".into()],
    }];
    let mut harness = Harness::new(alerting);
    let down = firing("Down:db", 0, &[("severity", "page")]);
    harness.send(
        &[
            down.clone(),
            firing("Slow:db", 0, &[("severity", "warning")]),
            firing("Slow:web", 0, &[("severity", "warning")]),
        ],
        0,
    );
    assert_eq!(
        harness.at(0),
        [
            r#"ops/webhook {}:{alertname="Down"} firing=[Down:db] resolved=[]"#,
            r#"ops/webhook {}:{alertname="Slow"} firing=[Slow:web] resolved=[]"#,
        ]
    );
    harness.send(&[resolved(&down, MINUTE)], MINUTE);
    assert_eq!(
        harness.at(5 * MINUTE),
        [
            r#"ops/webhook {}:{alertname="Down"} firing=[] resolved=[Down:db]"#,
            r#"ops/webhook {}:{alertname="Slow"} firing=[Slow:db,Slow:web] resolved=[]"#,
        ]
    );
}

#[test]
fn file_silences_mute_while_in_effect() {
    let mut alerting = ops();
    alerting.file_silences = vec![FileSilence {
        id: "silences/x.toml#1".into(),
        file: "silences/x.toml".into(),
        matchers: parse_matchers("alertname=Watchdog").expect("parses"),
        comment: "always on".into(),
        created_by: "ops".into(),
        starts_at_ms: None,
        ends_at_ms: Some(10 * MINUTE),
    }];
    let mut harness = Harness::new(alerting);
    harness.send(&[firing("Watchdog", 0, &[]), firing("Other", 0, &[])], 0);
    assert_eq!(
        harness.at(0),
        [r#"ops/webhook {}:{alertname="Other"} firing=[Other] resolved=[]"#]
    );
    assert!(
        harness
            .at(5 * MINUTE)
            .iter()
            .all(|line| !line.contains("Watchdog"))
    );
    // Expired at 10m: the group's next flush sends it.
    assert_eq!(
        harness.at(10 * MINUTE),
        [r#"ops/webhook {}:{alertname="Watchdog"} firing=[Watchdog] resolved=[]"#]
    );
}

#[test]
fn temporary_silences_mute_from_start_to_end() {
    let mut harness = Harness::new(ops());
    let silence = NewSilence {
        matchers: vec!["alertname=A".into()],
        starts_at_ms: Some(MINUTE),
        duration_ms: Some(10 * MINUTE),
        created_by: "alice".into(),
        comment: "deploy".into(),
        ..NewSilence::default()
    }
    .build("s1".into(), 0)
    .expect("valid silence");
    harness.dispatcher.set_api_silences(vec![silence]);
    // Pending at 0: not yet muting.
    harness.send(&[firing("A:1", 0, &[])], 0);
    assert_eq!(harness.at(0).len(), 1);
    harness.send(&[firing("A:2", 2 * MINUTE, &[])], 2 * MINUTE);
    assert!(
        harness.at(5 * MINUTE).is_empty(),
        "active silence mutes A:2"
    );
    assert!(harness.at(10 * MINUTE).is_empty());
    assert_eq!(
        harness.at(15 * MINUTE),
        [r#"ops/webhook {}:{alertname="A"} firing=[A:1,A:2] resolved=[]"#],
        "after the silence ends at 11m"
    );
    // Expiring it early (through the API) takes effect at the next flush.
    let mut harness = Harness::new(ops());
    let silence = NewSilence {
        matchers: vec!["alertname=A".into()],
        duration_ms: Some(HOUR),
        created_by: "alice".into(),
        comment: "deploy".into(),
        ..NewSilence::default()
    }
    .build("s2".into(), 0)
    .expect("valid silence");
    harness.dispatcher.set_api_silences(vec![silence.clone()]);
    harness.send(&[firing("A", 0, &[])], 0);
    assert!(harness.at(0).is_empty());
    harness.dispatcher.set_api_silences(vec![Silence {
        ends_at_ms: Some(MINUTE),
        ..silence
    }]);
    assert_eq!(harness.at(5 * MINUTE).len(), 1);
}

#[test]
fn failed_deliveries_retry_with_backoff_then_give_up() {
    let mut alerting = ops();
    alerting.settings.retry_initial = Duration::from_secs(1);
    alerting.settings.retry_max = Duration::from_secs(5);
    alerting.settings.retry_attempts_max = 5;
    let mut harness = Harness::new(alerting);
    harness.outcome = Outcome::Failed { retryable: true };
    harness.send(&[firing("A", 0, &[])], 0);
    let first = harness.dispatcher.due(0);
    assert_eq!(first.len(), 1);
    let id = first[0].id;
    let mut now = 0;
    let mut waits = Vec::new();
    loop {
        match harness.dispatcher.delivered(id, harness.outcome, now) {
            AfterDelivery::Retry { at_ms } => {
                waits.push(at_ms - now);
                assert!(harness.dispatcher.due(at_ms - 1).is_empty());
                let retry = harness.dispatcher.due(at_ms);
                assert_eq!(retry.len(), 1);
                assert_eq!(
                    (retry[0].id, retry[0].attempt),
                    (id, waits.len() as u32 + 1)
                );
                now = at_ms;
            }
            AfterDelivery::GaveUp => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        waits,
        [1_000, 2_000, 4_000, 5_000],
        "doubling, capped at retry_max"
    );
    // Nothing was logged as sent, so the next group_interval tries again.
    harness.outcome = Outcome::Sent;
    assert_eq!(harness.at(5 * MINUTE).len(), 1);
    assert!(harness.at(10 * MINUTE).is_empty());
}

#[test]
fn permanent_failures_are_not_retried() {
    let mut harness = Harness::new(ops());
    harness.send(&[firing("A", 0, &[])], 0);
    let due = harness.dispatcher.due(0);
    let outcome = harness
        .dispatcher
        .delivered(due[0].id, Outcome::Failed { retryable: false }, 0);
    assert_eq!(outcome, AfterDelivery::GaveUp);
    assert_eq!(harness.dispatcher.next_wakeup(), Some(5 * MINUTE));
}

#[test]
fn a_flush_due_while_the_last_is_delivered_follows_it_at_once() {
    let mut alerting = ops();
    alerting.settings.retry_initial = Duration::from_secs(200);
    alerting.settings.retry_max = Duration::from_secs(400);
    let mut harness = Harness::new(alerting);
    harness.send(&[firing("A:1", 0, &[])], 0);
    let first = harness.dispatcher.due(0);
    let retry = harness
        .dispatcher
        .delivered(first[0].id, Outcome::Failed { retryable: true }, 0);
    assert_eq!(
        retry,
        AfterDelivery::Retry {
            at_ms: 200 * SECOND
        }
    );
    harness.send(&[firing("A:2", MINUTE, &[])], MINUTE);
    let retried = harness.dispatcher.due(200 * SECOND);
    assert_eq!(
        summary(&retried[0]),
        r#"ops/webhook {}:{alertname="A"} firing=[A:1] resolved=[]"#
    );
    // The 5m flush comes while the retry is in flight: it waits for it.
    assert!(harness.dispatcher.due(5 * MINUTE).is_empty());
    harness
        .dispatcher
        .delivered(retried[0].id, Outcome::Sent, 6 * MINUTE);
    assert_eq!(harness.dispatcher.next_wakeup(), Some(6 * MINUTE));
    assert_eq!(
        harness.at(6 * MINUTE),
        [r#"ops/webhook {}:{alertname="A"} firing=[A:1,A:2] resolved=[]"#]
    );
}

#[test]
fn a_restart_with_the_notification_log_does_not_notify_again() {
    let mut harness = Harness::new(ops());
    let a = firing("A", 0, &[]);
    harness.send(std::slice::from_ref(&a), 0);
    assert_eq!(harness.at(0).len(), 1);
    let log = harness.dispatcher.take_nflog_writes();
    assert_eq!(log.len(), 1);
    // Restart at 2m: the rule manager sends the firing alert again.
    let mut harness = Harness::restored(ops(), log.clone());
    harness.send(std::slice::from_ref(&a), 2 * MINUTE);
    assert!(
        harness.at(2 * MINUTE).is_empty(),
        "re-notified after restart"
    );
    assert!(harness.at(7 * MINUTE).is_empty());
    // Resolution after the restart is still sent.
    harness.send(&[resolved(&a, 8 * MINUTE)], 8 * MINUTE);
    assert_eq!(
        harness.at(12 * MINUTE),
        [r#"ops/webhook {}:{alertname="A"} firing=[] resolved=[A]"#]
    );
    // Restart at 4h: repeat_interval since the first notification has passed.
    let mut harness = Harness::restored(ops(), log.clone());
    harness.send(std::slice::from_ref(&a), 4 * HOUR);
    assert_eq!(harness.at(4 * HOUR).len(), 1);
    // A restart where only the resolution arrives still sends it.
    let mut harness = Harness::restored(ops(), log);
    harness.send(&[resolved(&a, HOUR)], HOUR);
    assert_eq!(
        harness.at(HOUR),
        [r#"ops/webhook {}:{alertname="A"} firing=[] resolved=[A]"#]
    );
    // Without the log, a restart notifies again.
    let mut harness = Harness::new(ops());
    harness.send(&[a], 2 * MINUTE);
    assert_eq!(harness.at(2 * MINUTE).len(), 1);
}

#[test]
fn alertmanager_forwarding_reposts_every_minute_outside_group_timing() {
    let mut receiver = webhook_receiver("am");
    receiver.webhook = None;
    receiver.alertmanager = Some(crate::config::alerting::AlertmanagerConfig {
        url: "http://127.0.0.1:9093".into(),
        timeout: Duration::from_secs(10),
    });
    let mut harness = Harness::new(config(route("am", "", vec![]), vec![receiver]));
    let a = firing("A", 0, &[]);
    harness.send(std::slice::from_ref(&a), 0);
    assert_eq!(harness.at(0), ["am/alertmanager  firing=[A] resolved=[]"]);
    assert!(harness.at(30 * SECOND).is_empty());
    harness.send(&[firing("B", 40 * SECOND, &[])], 40 * SECOND);
    assert_eq!(
        harness.at(40 * SECOND),
        ["am/alertmanager  firing=[A,B] resolved=[]"],
        "a new alert is posted at once"
    );
    assert_eq!(harness.dispatcher.next_wakeup(), Some(100 * SECOND));
    assert_eq!(
        harness.at(100 * SECOND),
        ["am/alertmanager  firing=[A,B] resolved=[]"]
    );
    // An annotation change (a new `$value`) waits for the next re-post.
    let mut updated = a.clone();
    updated.annotations.insert("value".into(), "42".into());
    harness.send(std::slice::from_ref(&updated), 105 * SECOND);
    assert!(harness.at(105 * SECOND).is_empty());
    harness.send(&[resolved(&updated, 110 * SECOND)], 110 * SECOND);
    assert_eq!(
        harness.at(110 * SECOND),
        ["am/alertmanager  firing=[B] resolved=[A]"]
    );
    assert_eq!(
        harness.at(170 * SECOND),
        ["am/alertmanager  firing=[B] resolved=[]"]
    );
}

#[test]
fn a_reload_reroutes_forwarded_alerts() {
    let forwarding = |matchers: &str| {
        let mut am = webhook_receiver("am");
        am.alertmanager = Some(crate::config::alerting::AlertmanagerConfig {
            url: "http://127.0.0.1:9093".into(),
            timeout: Duration::from_secs(10),
        });
        let root = route("ops", "", vec![route("am", matchers, vec![])]);
        config(root, vec![webhook_receiver("ops"), am])
    };
    let mut harness = Harness::new(forwarding("team=db"));
    harness.send(&[firing("A", 0, &[("team", "db")])], 0);
    assert_eq!(
        harness.at(0),
        [
            "am/alertmanager  firing=[A] resolved=[]",
            r#"am/webhook {}/{team="db"}:{alertname="A"} firing=[A] resolved=[]"#,
        ]
    );
    // A no longer matches the forwarding route: it leaves the set, stays tracked by
    // its new group, and the set (now empty) stops posting.
    harness
        .dispatcher
        .reconfigure(&forwarding("team=web"), "", 10 * SECOND);
    assert_eq!(
        harness.at(10 * SECOND),
        [r#"ops/webhook {}:{alertname="A"} firing=[A] resolved=[]"#]
    );
    assert_eq!(harness.dispatcher.alert_count(), 1);
    assert!(harness.at(2 * MINUTE).is_empty());
    harness.send(
        &[resolved(&firing("A", 0, &[("team", "db")]), 3 * MINUTE)],
        3 * MINUTE,
    );
    assert_eq!(
        harness.at(5 * MINUTE + 10 * SECOND),
        [r#"ops/webhook {}:{alertname="A"} firing=[] resolved=[A]"#]
    );
    assert_eq!(harness.dispatcher.alert_count(), 0);
}

#[test]
fn a_reload_keeps_groups_whose_route_stays() {
    let mut harness = Harness::new(ops());
    harness.send(&[firing("A", 0, &[]), firing("B", 0, &[("team", "db")])], 0);
    assert_eq!(harness.at(0).len(), 2);
    // Same routes plus a new child for team=db with its own receiver.
    let root = route("ops", "", vec![route("db", r#"team="db""#, vec![])]);
    let receivers = vec![webhook_receiver("ops"), webhook_receiver("db")];
    harness
        .dispatcher
        .reconfigure(&config(root, receivers), "http://tandem:9797", MINUTE);
    assert_eq!(
        harness.at(MINUTE),
        [r#"db/webhook {}/{team="db"}:{alertname="B"} firing=[B] resolved=[]"#],
        "B moved to a new group; A's group kept its state"
    );
    assert_eq!(harness.dispatcher.next_wakeup(), Some(5 * MINUTE));
    // Removing every receiver forgets the alerts.
    harness
        .dispatcher
        .reconfigure(&AlertingConfig::default(), "http://tandem:9797", 2 * MINUTE);
    assert!(!harness.dispatcher.has_receivers());
    assert_eq!(harness.dispatcher.alert_count(), 0);
}

#[test]
fn limits_drop_and_count() {
    let mut alerting = ops();
    alerting.settings.group_alerts_max = 2;
    alerting.settings.alerts_max = 3;
    let mut dispatcher = Dispatcher::new(&alerting, "", Vec::new(), Vec::new());
    let dropped = dispatcher.ingest(
        vec![
            firing("A:1", 0, &[]),
            firing("A:2", 0, &[]),
            firing("A:3", 0, &[]),
            firing("B", 0, &[]),
            firing("C", 0, &[]),
        ],
        0,
    );
    assert_eq!(dropped, 2, "A:3 over the group limit, C over the total");
    assert_eq!(dispatcher.alert_count(), 3);
}

#[test]
fn without_receivers_alerts_are_not_tracked() {
    let mut dispatcher = Dispatcher::new(&AlertingConfig::default(), "", Vec::new(), Vec::new());
    assert_eq!(dispatcher.ingest(vec![firing("A", 0, &[])], 0), 0);
    assert!(dispatcher.due(0).is_empty());
    assert_eq!(dispatcher.next_wakeup(), None);
}
