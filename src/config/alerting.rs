//! `[[receiver]]`, `[route]`, `[[inhibit_rule]]` and `[alerting]` in tandem.toml, and
//! `silences/*.toml`: as written and as validated.
//! Owns: their keys, defaults and checks (receivers unique and referenced ones defined,
//! URLs and addresses parse, matchers parse, files exist, routes inherit from their
//! parent as in Alertmanager), each error at file:line:col.
//! Does not: route, deliver or persist anything (`alert::notify` does); read secret
//! files (checked to exist here, read at each delivery so a rotated secret needs no
//! reload).
//!
//! ```toml
//! [[receiver]]
//! name = "ops"
//! webhook = { url = "http://127.0.0.1:5001/hook" }
//!
//! [route]
//! receiver = "ops"
//! group_by = ["alertname", "instance"]
//!
//! [[route.route]]
//! matchers = ['severity="page"']
//! receiver = "pager"
//!
//! [[inhibit_rule]]
//! source_matchers = ['severity="page"']
//! target_matchers = ['severity="warning"']
//! equal = ["instance"]
//! ```
//! ```toml
//! # silences/maintenance.toml
//! [[silence]]
//! matchers = ['instance="db-1:9100"']
//! comment = "disk swap, ticket 4711"
//! created_by = "alice"
//! ends_at = "2026-12-06T18:00:00Z"
//! ```

use super::units::{ConfigDuration, format_duration};
use super::validate::Checker;
use crate::alert::notify::matcher::{AlertMatcher, parse_matchers};
use crate::alert::notify::silence::check_not_everything;
use serde::Deserialize;
use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// Receivers one config may define.
pub const RECEIVERS_MAX: usize = 1_000;
/// Routes in the whole tree: routing walks it for every new alert.
pub const ROUTES_MAX: usize = 1_000;
/// How deep `[[route.route]]` may nest.
pub const ROUTE_DEPTH_MAX: usize = 16;
/// Inhibit rules: each is checked against every alert at every flush.
pub const INHIBIT_RULES_MAX: usize = 1_000;
/// Silences across all `silences/*.toml` files.
pub const FILE_SILENCES_MAX: usize = 10_000;
/// Shortest `group_interval` and `repeat_interval`: below it a group would flush
/// continuously.
pub const GROUP_INTERVAL_MIN: Duration = Duration::from_secs(1);
/// `group_wait` of the root route when unset: tandem is fast by default.
pub const GROUP_WAIT_DEFAULT: Duration = Duration::ZERO;
/// `group_interval` of the root route when unset (Alertmanager's default).
pub const GROUP_INTERVAL_DEFAULT: Duration = Duration::from_secs(5 * 60);
/// `repeat_interval` of the root route when unset (Alertmanager's default).
pub const REPEAT_INTERVAL_DEFAULT: Duration = Duration::from_secs(4 * 3600);
/// `timeout` of a receiver integration when unset.
pub const TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// Longest `timeout`: a delivery holds a concurrency slot that long.
pub const TIMEOUT_MAX: Duration = Duration::from_secs(5 * 60);
/// Ceiling of `[alerting] retry_attempts_max`: beyond it a dead receiver is retried
/// for hours with `retry_max`, and the next group_interval tries again anyway.
pub const RETRY_ATTEMPTS_CEILING: usize = 100;
/// Ceiling of `alerts_max` and `queue_alerts_max`: about 1 KiB each in memory.
pub const ALERTS_CEILING: usize = 10_000_000;
/// Ceiling of `group_alerts_max`: a notification carries every alert of its group.
pub const GROUP_ALERTS_CEILING: usize = 100_000;
/// Ceiling of `delivery_concurrency_max`: each delivery may hold a connection or a
/// child process.
pub const DELIVERY_CONCURRENCY_CEILING: usize = 1_000;
/// The label list meaning "group by every label" (Alertmanager's `...`).
pub const GROUP_BY_ALL: &str = "...";

/// One `[[receiver]]` as written: a name and at least one integration.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReceiverSection {
    /// Unique among receivers; routes refer to it.
    pub name: Spanned<String>,
    /// POST Alertmanager's webhook JSON (version 4) to a URL.
    #[serde(default)]
    pub webhook: Option<Spanned<WebhookSection>>,
    /// Send a plain-text email over SMTP.
    #[serde(default)]
    pub email: Option<Spanned<EmailSection>>,
    /// Run a command with the webhook JSON on its standard input.
    #[serde(default)]
    pub exec: Option<Spanned<ExecSection>>,
    /// Forward the alerts to an Alertmanager (`POST /api/v2/alerts`).
    #[serde(default)]
    pub alertmanager: Option<Spanned<AlertmanagerSection>>,
}

/// `webhook = { url = "...", ... }`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// `http://` or `https://` URL the JSON is POSTed to.
    pub url: Spanned<String>,
    /// How long one delivery may take, `10s` by default.
    #[serde(default)]
    pub timeout: Option<Spanned<ConfigDuration>>,
    /// Most alerts in one message, the rest counted in `truncatedAlerts`; 0 (the
    /// default) sends all.
    #[serde(default)]
    pub max_alerts: usize,
    /// Also notify when alerts resolve (true by default).
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// File holding a token sent as `Authorization: Bearer`, relative to the config
    /// directory; read at every delivery.
    #[serde(default)]
    pub bearer_token_file: Option<Spanned<PathBuf>>,
}

/// `email = { to = [...], from = "...", smarthost = "host:port", ... }`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmailSection {
    /// Recipients, e.g. `["ops@example.org", "Pager <pager@example.org>"]`.
    pub to: Spanned<Vec<Spanned<String>>>,
    /// The sender address.
    pub from: Spanned<String>,
    /// The SMTP server, `host:port`.
    pub smarthost: Spanned<String>,
    /// `starttls` (the default: STARTTLS required), `tls` (TLS from the first byte,
    /// usually port 465) or `none` (plain text, for a relay on the same host).
    #[serde(default)]
    pub tls: Option<Spanned<String>>,
    /// SMTP AUTH user; needs `auth_password_file`.
    #[serde(default)]
    pub auth_username: Option<Spanned<String>>,
    /// File holding the SMTP AUTH password, relative to the config directory.
    #[serde(default)]
    pub auth_password_file: Option<Spanned<PathBuf>>,
    /// The name sent in EHLO; the host name by default.
    #[serde(default)]
    pub hello: Option<Spanned<String>>,
    /// Subject template (`$labels` are the group's common labels, `$value` the number
    /// of firing alerts); Alertmanager's default subject when absent, e.g.
    /// `[FIRING:2] DiskFull db-1`.
    #[serde(default)]
    pub subject: Option<Spanned<String>>,
    /// Also notify when alerts resolve (false by default, as in Alertmanager).
    #[serde(default)]
    pub send_resolved: bool,
    /// How long one delivery may take, `10s` by default.
    #[serde(default)]
    pub timeout: Option<Spanned<ConfigDuration>>,
}

/// `exec = { command = ["/path", "arg"], ... }`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExecSection {
    /// Program and arguments; the program relative to the config directory unless
    /// absolute. Gets the webhook JSON on standard input; a non-zero exit is a failure.
    pub command: Spanned<Vec<String>>,
    /// The program is killed after this long, `10s` by default.
    #[serde(default)]
    pub timeout: Option<Spanned<ConfigDuration>>,
    /// Also run when alerts resolve (true by default).
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

/// `alertmanager = { url = "http://am:9093" }`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerSection {
    /// The Alertmanager's base URL; alerts go to `<url>/api/v2/alerts`.
    pub url: Spanned<String>,
    /// How long one post may take, `10s` by default.
    #[serde(default)]
    pub timeout: Option<Spanned<ConfigDuration>>,
}

fn default_true() -> bool {
    true
}

/// `[route]` and each nested `[[route.route]]` as written. Unset keys are inherited
/// from the parent route.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    /// Where the route's alerts go. Required on the root route.
    #[serde(default)]
    pub receiver: Option<Spanned<String>>,
    /// Labels that split alerts into groups, one notification per group; `["..."]`
    /// groups by every label. Root default: `["alertname"]`.
    #[serde(default)]
    pub group_by: Option<Spanned<Vec<Spanned<String>>>>,
    /// How long a new group waits for more alerts before its first notification
    /// (root default `0s`: at once).
    #[serde(default)]
    pub group_wait: Option<Spanned<ConfigDuration>>,
    /// How long a group waits before notifying about changes (root default `5m`).
    #[serde(default)]
    pub group_interval: Option<Spanned<ConfigDuration>>,
    /// How long before an unchanged firing group is notified again (root default `4h`).
    #[serde(default)]
    pub repeat_interval: Option<Spanned<ConfigDuration>>,
    /// Alertmanager matchers an alert must all satisfy, e.g. `['severity="page"']`.
    /// Not on the root route, which takes every alert.
    #[serde(default)]
    pub matchers: Option<Spanned<Vec<Spanned<String>>>>,
    /// After matching this route, go on trying its next siblings.
    #[serde(default, rename = "continue")]
    pub continue_matching: Option<Spanned<bool>>,
    /// Child routes, tried in order; the first that matches takes the alert.
    #[serde(default)]
    pub route: Vec<RouteSection>,
}

/// One `[[inhibit_rule]]` as written.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleSection {
    /// A firing alert matching all of these mutes the targets.
    pub source_matchers: Spanned<Vec<Spanned<String>>>,
    /// Alerts matching all of these are muted while a source fires.
    pub target_matchers: Spanned<Vec<Spanned<String>>>,
    /// Labels whose values source and target must share.
    #[serde(default)]
    pub equal: Vec<Spanned<String>>,
}

/// `[alerting]` as written: how the notifier retries and what bounds it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertingSection {
    /// Wait before the first retry of a failed delivery, `1s` by default; it doubles
    /// at each retry.
    #[serde(default)]
    pub retry_initial: Option<Spanned<ConfigDuration>>,
    /// Longest wait between retries, `1m` by default.
    #[serde(default)]
    pub retry_max: Option<Spanned<ConfigDuration>>,
    /// Attempts per notification, the first included, `6` by default; after the
    /// last the notification is dropped (counted) and the group tries again at its
    /// next `group_interval`.
    #[serde(default)]
    pub retry_attempts_max: Option<Spanned<usize>>,
    /// Alerts handed over by the rule manager and not yet taken by the notifier,
    /// `20000` by default; a batch that does not fit is dropped and counted.
    #[serde(default)]
    pub queue_alerts_max: Option<Spanned<usize>>,
    /// Alerts the notifier tracks at once, `100000` by default; more are dropped
    /// and counted.
    #[serde(default)]
    pub alerts_max: Option<Spanned<usize>>,
    /// Alerts one group holds, `1000` by default; more are dropped and counted.
    #[serde(default)]
    pub group_alerts_max: Option<Spanned<usize>>,
    /// Deliveries running at once across receivers, `16` by default.
    #[serde(default)]
    pub delivery_concurrency_max: Option<Spanned<usize>>,
}

/// A `silences/*.toml` file as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct SilenceFile {
    #[serde(default)]
    silence: Vec<SilenceSection>,
}

/// One `[[silence]]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct SilenceSection {
    /// Alertmanager matchers; an alert matching all of them is silenced.
    matchers: Spanned<Vec<Spanned<String>>>,
    /// Why.
    comment: Spanned<String>,
    /// Who.
    created_by: Spanned<String>,
    /// RFC 3339; absent: from the moment the file is loaded.
    #[serde(default)]
    starts_at: Option<Spanned<toml::Value>>,
    /// RFC 3339; absent: until the silence is removed from the file.
    #[serde(default)]
    ends_at: Option<Spanned<toml::Value>>,
}

/// A silence from `silences/*.toml`, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct FileSilence {
    /// `FILE#N`: the file's path in the config directory and the silence's place in it
    /// (1-based).
    pub id: String,
    /// Path relative to the config directory, e.g. `silences/maintenance.toml`.
    pub file: String,
    pub matchers: Vec<AlertMatcher>,
    pub comment: String,
    pub created_by: String,
    /// Unix ms; `None`: always started.
    pub starts_at_ms: Option<i64>,
    /// Unix ms; `None`: until removed from the file.
    pub ends_at_ms: Option<i64>,
}

/// One receiver, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceiverConfig {
    pub name: String,
    pub webhook: Option<WebhookConfig>,
    pub email: Option<EmailConfig>,
    pub exec: Option<ExecConfig>,
    pub alertmanager: Option<AlertmanagerConfig>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WebhookConfig {
    pub url: String,
    pub timeout: Duration,
    /// 0: no limit.
    pub max_alerts: usize,
    pub send_resolved: bool,
    /// Resolved against the config directory.
    pub bearer_token_file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailTls {
    /// STARTTLS, required.
    StartTls,
    /// TLS from the start of the connection.
    Tls,
    /// Plain text.
    None,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EmailConfig {
    /// Checked to parse as mailboxes.
    pub to: Vec<String>,
    pub from: String,
    pub host: String,
    pub port: u16,
    pub tls: EmailTls,
    pub auth_username: Option<String>,
    /// Resolved against the config directory; set exactly when `auth_username` is.
    pub auth_password_file: Option<PathBuf>,
    pub hello: Option<String>,
    /// Template text, checked to parse.
    pub subject: Option<String>,
    pub send_resolved: bool,
    pub timeout: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExecConfig {
    /// The program (resolved against the config directory) and its arguments.
    pub command: Vec<String>,
    pub timeout: Duration,
    pub send_resolved: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertmanagerConfig {
    /// Without a trailing `/`.
    pub url: String,
    pub timeout: Duration,
}

/// How a route splits its alerts into groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// `["..."]`: every label; one group per alert.
    All,
    /// These label names, sorted and unique; empty: one group for the route.
    Labels(Vec<String>),
}

/// A route with every inherited value filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteConfig {
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub matchers: Vec<AlertMatcher>,
    pub continue_matching: bool,
    pub routes: Vec<RouteConfig>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct InhibitRuleConfig {
    pub source_matchers: Vec<AlertMatcher>,
    pub target_matchers: Vec<AlertMatcher>,
    pub equal: Vec<String>,
}

/// `[alerting]`, validated, defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifierSettings {
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub retry_attempts_max: u32,
    pub queue_alerts_max: usize,
    pub alerts_max: usize,
    pub group_alerts_max: usize,
    pub delivery_concurrency_max: usize,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        NotifierSettings {
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            retry_attempts_max: 6,
            queue_alerts_max: 20_000,
            alerts_max: 100_000,
            group_alerts_max: 1_000,
            delivery_concurrency_max: 16,
        }
    }
}

/// Everything the notifier needs, validated.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertingConfig {
    /// In file order.
    pub receivers: Vec<ReceiverConfig>,
    /// `None` exactly when there are no receivers: alerts are then only kept in state
    /// and history. Without `[route]`, a root route to the first receiver.
    pub route: Option<RouteConfig>,
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    pub settings: NotifierSettings,
    /// From `silences/*.toml`, in file order.
    pub file_silences: Vec<FileSilence>,
}

/// What a child route inherits from its parent.
struct Inherited {
    receiver: Option<String>,
    group_by: GroupBy,
    group_wait: Duration,
    group_interval: Duration,
    repeat_interval: Duration,
}

impl Checker<'_> {
    /// Validates the notifier's sections of tandem.toml.
    pub(super) fn alerting(
        &mut self,
        receivers: &[ReceiverSection],
        route: Option<&RouteSection>,
        inhibit_rules: &[InhibitRuleSection],
        section: &AlertingSection,
    ) -> AlertingConfig {
        if receivers.len() > RECEIVERS_MAX
            && let Some(last) = receivers.last()
        {
            self.error(
                last.name.span(),
                format!(
                    "receiver: {} receivers, limit is {RECEIVERS_MAX}",
                    receivers.len()
                ),
            );
        }
        let mut names = HashMap::new();
        let receivers: Vec<ReceiverConfig> = receivers
            .iter()
            .map(|receiver| self.receiver(receiver, &mut names))
            .collect();
        let route = self.root_route(route, &names);
        if inhibit_rules.len() > INHIBIT_RULES_MAX
            && let Some(last) = inhibit_rules.last()
        {
            self.error(
                last.source_matchers.span(),
                format!(
                    "inhibit_rule: {} rules, limit is {INHIBIT_RULES_MAX}",
                    inhibit_rules.len()
                ),
            );
        }
        let inhibit_rules = inhibit_rules
            .iter()
            .map(|rule| InhibitRuleConfig {
                source_matchers: self
                    .matchers(&rule.source_matchers, "inhibit_rule.source_matchers"),
                target_matchers: self
                    .matchers(&rule.target_matchers, "inhibit_rule.target_matchers"),
                equal: rule
                    .equal
                    .iter()
                    .filter_map(|name| self.label_name(name, "inhibit_rule.equal"))
                    .collect(),
            })
            .collect();
        AlertingConfig {
            receivers,
            route,
            inhibit_rules,
            settings: self.notifier_settings(section),
            file_silences: Vec::new(),
        }
    }

    fn receiver(
        &mut self,
        section: &ReceiverSection,
        names: &mut HashMap<String, Range<usize>>,
    ) -> ReceiverConfig {
        self.unique(names, &section.name, "receiver");
        let receiver = ReceiverConfig {
            name: section.name.get_ref().clone(),
            webhook: section
                .webhook
                .as_ref()
                .map(|webhook| self.webhook(webhook)),
            email: section.email.as_ref().map(|email| self.email(email)),
            exec: section.exec.as_ref().and_then(|exec| self.exec(exec)),
            alertmanager: section
                .alertmanager
                .as_ref()
                .map(|alertmanager| self.alertmanager(alertmanager)),
        };
        let none = section.webhook.is_none()
            && section.email.is_none()
            && section.exec.is_none()
            && section.alertmanager.is_none();
        if none {
            self.error(
                section.name.span(),
                format!(
                    "receiver {:?}: needs at least one of webhook, email, exec or alertmanager",
                    section.name.get_ref()
                ),
            );
        }
        receiver
    }

    fn timeout(&mut self, timeout: Option<&Spanned<ConfigDuration>>, key: &str) -> Duration {
        let Some(timeout) = timeout else {
            return TIMEOUT_DEFAULT;
        };
        let value = timeout.get_ref().0;
        if value.is_zero() || value > TIMEOUT_MAX {
            self.error(
                timeout.span(),
                format!(
                    "{key}: {} is outside 1ms..{}",
                    format_duration(value),
                    format_duration(TIMEOUT_MAX)
                ),
            );
        }
        value
    }

    fn http_url(&mut self, url: &Spanned<String>, key: &str) -> String {
        let text = url.get_ref();
        match reqwest::Url::parse(text) {
            Ok(parsed) if !matches!(parsed.scheme(), "http" | "https") => self.error(
                url.span(),
                format!("{key}: scheme {:?} is not http or https", parsed.scheme()),
            ),
            Ok(parsed) if parsed.host_str().is_none_or(str::is_empty) => {
                self.error(url.span(), format!("{key}: {text:?} has no host"))
            }
            Ok(_) => {}
            Err(error) => self.error(
                url.span(),
                format!("{key}: {text:?} is not a URL ({error})"),
            ),
        }
        text.clone()
    }

    fn webhook(&mut self, section: &Spanned<WebhookSection>) -> WebhookConfig {
        let webhook = section.get_ref();
        WebhookConfig {
            url: self.http_url(&webhook.url, "receiver.webhook.url"),
            timeout: self.timeout(webhook.timeout.as_ref(), "receiver.webhook.timeout"),
            max_alerts: webhook.max_alerts,
            send_resolved: webhook.send_resolved,
            bearer_token_file: webhook
                .bearer_token_file
                .as_ref()
                .map(|file| self.existing_file(file, "receiver.webhook.bearer_token_file")),
        }
    }

    fn alertmanager(&mut self, section: &Spanned<AlertmanagerSection>) -> AlertmanagerConfig {
        let alertmanager = section.get_ref();
        let url = self.http_url(&alertmanager.url, "receiver.alertmanager.url");
        AlertmanagerConfig {
            url: url.trim_end_matches('/').to_string(),
            timeout: self.timeout(
                alertmanager.timeout.as_ref(),
                "receiver.alertmanager.timeout",
            ),
        }
    }

    fn exec(&mut self, section: &Spanned<ExecSection>) -> Option<ExecConfig> {
        let exec = section.get_ref();
        let timeout = self.timeout(exec.timeout.as_ref(), "receiver.exec.timeout");
        let Some(program) = exec.command.get_ref().first() else {
            self.error(
                exec.command.span(),
                "receiver.exec.command: name at least the program, e.g. [\"/usr/local/bin/page\"]",
            );
            return None;
        };
        let program = Spanned::new(exec.command.span(), PathBuf::from(program));
        let resolved = self.existing_file(&program, "receiver.exec.command");
        if let Ok(metadata) = std::fs::metadata(&resolved) {
            use std::os::unix::fs::PermissionsExt;
            if !metadata.is_file() || metadata.permissions().mode() & 0o111 == 0 {
                self.error(
                    exec.command.span(),
                    format!(
                        "receiver.exec.command: {} is not an executable file",
                        resolved.display()
                    ),
                );
            }
        }
        let mut command = vec![resolved.display().to_string()];
        command.extend(exec.command.get_ref().iter().skip(1).cloned());
        Some(ExecConfig {
            command,
            timeout,
            send_resolved: exec.send_resolved,
        })
    }

    fn mailbox(&mut self, address: &Spanned<String>, key: &str) -> String {
        if let Err(error) = address.get_ref().parse::<lettre::message::Mailbox>() {
            self.error(
                address.span(),
                format!(
                    "{key}: {:?} is not an email address ({error})",
                    address.get_ref()
                ),
            );
        }
        address.get_ref().clone()
    }

    fn email(&mut self, section: &Spanned<EmailSection>) -> EmailConfig {
        let email = section.get_ref();
        if email.to.get_ref().is_empty() {
            self.error(
                email.to.span(),
                "receiver.email.to: list at least one recipient",
            );
        }
        let to = email
            .to
            .get_ref()
            .iter()
            .map(|address| self.mailbox(address, "receiver.email.to"))
            .collect();
        let from = self.mailbox(&email.from, "receiver.email.from");
        let (host, port) = self.smarthost(&email.smarthost);
        let tls = self.email_tls(email.tls.as_ref());
        match (&email.auth_username, &email.auth_password_file) {
            (Some(_), None) | (None, Some(_)) => self.error(
                section.span(),
                "receiver.email: auth_username and auth_password_file must be set together",
            ),
            _ => {}
        }
        let auth_password_file = email
            .auth_password_file
            .as_ref()
            .map(|file| self.existing_file(file, "receiver.email.auth_password_file"));
        if let Some(hello) = &email.hello
            && (hello.get_ref().is_empty() || hello.get_ref().contains(char::is_whitespace))
        {
            self.error(
                hello.span(),
                "receiver.email.hello: a host name without spaces",
            );
        }
        if let Some(subject) = &email.subject
            && let Err(error) =
                crate::alert::template::Template::parse("subject", subject.get_ref())
        {
            self.error(subject.span(), format!("receiver.email.subject: {error}"));
        }
        EmailConfig {
            to,
            from,
            host,
            port,
            tls,
            auth_username: email
                .auth_username
                .as_ref()
                .map(|user| user.get_ref().clone()),
            auth_password_file,
            hello: email.hello.as_ref().map(|hello| hello.get_ref().clone()),
            subject: email
                .subject
                .as_ref()
                .map(|subject| subject.get_ref().clone()),
            send_resolved: email.send_resolved,
            timeout: self.timeout(email.timeout.as_ref(), "receiver.email.timeout"),
        }
    }

    fn email_tls(&mut self, tls: Option<&Spanned<String>>) -> EmailTls {
        let Some(tls) = tls else {
            return EmailTls::StartTls;
        };
        match tls.get_ref().as_str() {
            "starttls" => EmailTls::StartTls,
            "tls" => EmailTls::Tls,
            "none" => EmailTls::None,
            other => {
                self.error(
                    tls.span(),
                    format!("receiver.email.tls: must be starttls, tls or none, not {other:?}"),
                );
                EmailTls::StartTls
            }
        }
    }

    /// `host:port`, `[v6]:port`.
    fn smarthost(&mut self, smarthost: &Spanned<String>) -> (String, u16) {
        let text = smarthost.get_ref();
        let parsed = text.rsplit_once(':').and_then(|(host, port)| {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port = port.parse::<u16>().ok().filter(|port| *port > 0)?;
            (!host.is_empty()).then(|| (host.to_string(), port))
        });
        parsed.unwrap_or_else(|| {
            self.error(
                smarthost.span(),
                format!("receiver.email.smarthost: {text:?} is not host:port, e.g. \"mail.example.org:587\""),
            );
            (String::new(), 0)
        })
    }

    fn matchers(&mut self, list: &Spanned<Vec<Spanned<String>>>, key: &str) -> Vec<AlertMatcher> {
        let mut matchers = Vec::new();
        for text in list.get_ref() {
            match parse_matchers(text.get_ref()) {
                Ok(parsed) => matchers.extend(parsed),
                Err(message) => self.error(text.span(), format!("{key}: {message}")),
            }
        }
        if matchers.len() > crate::alert::notify::matcher::MATCHERS_MAX {
            self.error(
                list.span(),
                format!(
                    "{key}: {} matchers, limit is {}",
                    matchers.len(),
                    crate::alert::notify::matcher::MATCHERS_MAX
                ),
            );
        }
        matchers
    }

    fn label_name(&mut self, name: &Spanned<String>, key: &str) -> Option<String> {
        match crate::model::check_label_name(name.get_ref()) {
            Ok(()) => Some(name.get_ref().clone()),
            Err(error) => {
                self.error(name.span(), format!("{key}: {error}"));
                None
            }
        }
    }

    fn root_route(
        &mut self,
        section: Option<&RouteSection>,
        receivers: &HashMap<String, Range<usize>>,
    ) -> Option<RouteConfig> {
        let defaults = Inherited {
            receiver: None,
            group_by: GroupBy::Labels(vec![crate::alert::ALERTNAME.to_string()]),
            group_wait: GROUP_WAIT_DEFAULT,
            group_interval: GROUP_INTERVAL_DEFAULT,
            repeat_interval: REPEAT_INTERVAL_DEFAULT,
        };
        let Some(section) = section else {
            // No [route]: every alert goes to the first receiver, if there is one.
            let first = receivers.iter().min_by_key(|(_, span)| span.start)?;
            return Some(RouteConfig {
                receiver: first.0.clone(),
                group_by: defaults.group_by,
                group_wait: defaults.group_wait,
                group_interval: defaults.group_interval,
                repeat_interval: defaults.repeat_interval,
                matchers: Vec::new(),
                continue_matching: false,
                routes: Vec::new(),
            });
        };
        if let Some(matchers) = &section.matchers {
            self.error(
                matchers.span(),
                "route.matchers: the root route takes every alert; put matchers on a [[route.route]]",
            );
        }
        if let Some(continue_matching) = &section.continue_matching {
            self.error(
                continue_matching.span(),
                "route.continue: the root route has no siblings to continue to",
            );
        }
        if section.receiver.is_none() {
            // Where to say it: the first key of the section, or the file start.
            let span = section
                .group_by
                .as_ref()
                .map(Spanned::span)
                .or_else(|| section.group_wait.as_ref().map(Spanned::span))
                .unwrap_or(0..0);
            self.error(span, "route.receiver: the root route needs a receiver");
        }
        let mut count = 0;
        let route = self.route(section, &defaults, receivers, 1, &mut count);
        if receivers.is_empty() {
            return None;
        }
        route
    }

    fn route(
        &mut self,
        section: &RouteSection,
        parent: &Inherited,
        receivers: &HashMap<String, Range<usize>>,
        depth: usize,
        count: &mut usize,
    ) -> Option<RouteConfig> {
        *count += 1;
        let inherited = self.inherit(section, parent, receivers);
        let matchers = section
            .matchers
            .as_ref()
            .map(|list| self.matchers(list, "route.matchers"))
            .unwrap_or_default();
        if !section.route.is_empty() && depth >= ROUTE_DEPTH_MAX {
            self.error(
                section.receiver.as_ref().map_or(0..0, Spanned::span),
                format!("route: nested more than {ROUTE_DEPTH_MAX} levels deep"),
            );
            return None;
        }
        let mut routes = Vec::with_capacity(section.route.len());
        for child in &section.route {
            if *count >= ROUTES_MAX {
                self.error(
                    child.receiver.as_ref().map_or(0..0, Spanned::span),
                    format!("route: more than {ROUTES_MAX} routes"),
                );
                break;
            }
            routes.extend(self.route(child, &inherited, receivers, depth + 1, count));
        }
        Some(RouteConfig {
            receiver: inherited.receiver?,
            group_by: inherited.group_by,
            group_wait: inherited.group_wait,
            group_interval: inherited.group_interval,
            repeat_interval: inherited.repeat_interval,
            matchers,
            continue_matching: section
                .continue_matching
                .as_ref()
                .is_some_and(|value| *value.get_ref()),
            routes,
        })
    }

    /// A route's own values where set, its parent's where not.
    fn inherit(
        &mut self,
        section: &RouteSection,
        parent: &Inherited,
        receivers: &HashMap<String, Range<usize>>,
    ) -> Inherited {
        let receiver = match &section.receiver {
            Some(name) => {
                if !receivers.contains_key(name.get_ref()) {
                    self.error(
                        name.span(),
                        format!(
                            "route.receiver: no [[receiver]] is named {:?}",
                            name.get_ref()
                        ),
                    );
                }
                Some(name.get_ref().clone())
            }
            None => parent.receiver.clone(),
        };
        Inherited {
            receiver,
            group_by: match &section.group_by {
                Some(list) => self.group_by(list),
                None => parent.group_by.clone(),
            },
            group_wait: section
                .group_wait
                .as_ref()
                .map_or(parent.group_wait, |wait| wait.get_ref().0),
            group_interval: self
                .interval(section.group_interval.as_ref(), "route.group_interval")
                .unwrap_or(parent.group_interval),
            repeat_interval: self
                .interval(section.repeat_interval.as_ref(), "route.repeat_interval")
                .unwrap_or(parent.repeat_interval),
        }
    }

    fn interval(&mut self, value: Option<&Spanned<ConfigDuration>>, key: &str) -> Option<Duration> {
        let value = value?;
        if value.get_ref().0 < GROUP_INTERVAL_MIN {
            self.error(
                value.span(),
                format!("{key}: at least {}", format_duration(GROUP_INTERVAL_MIN)),
            );
        }
        Some(value.get_ref().0.max(GROUP_INTERVAL_MIN))
    }

    fn group_by(&mut self, list: &Spanned<Vec<Spanned<String>>>) -> GroupBy {
        let names = list.get_ref();
        if names.iter().any(|name| name.get_ref() == GROUP_BY_ALL) {
            if names.len() > 1 {
                self.error(
                    list.span(),
                    "route.group_by: \"...\" (every label) must be alone in the list",
                );
            }
            return GroupBy::All;
        }
        let mut labels: Vec<String> = names
            .iter()
            .filter_map(|name| self.label_name(name, "route.group_by"))
            .collect();
        labels.sort();
        labels.dedup();
        GroupBy::Labels(labels)
    }

    fn notifier_settings(&mut self, section: &AlertingSection) -> NotifierSettings {
        let defaults = NotifierSettings::default();
        let retry_initial = section
            .retry_initial
            .as_ref()
            .map_or(defaults.retry_initial, |value| value.get_ref().0);
        if let Some(value) = &section.retry_initial
            && value.get_ref().0.is_zero()
        {
            self.error(value.span(), "alerting.retry_initial: must be more than 0s");
        }
        let retry_max = section
            .retry_max
            .as_ref()
            .map_or(defaults.retry_max, |value| value.get_ref().0);
        if let Some(value) = &section.retry_max
            && value.get_ref().0 < retry_initial
        {
            self.error(
                value.span(),
                format!(
                    "alerting.retry_max: must be at least retry_initial ({})",
                    format_duration(retry_initial)
                ),
            );
        }
        let attempts = self.count(
            section.retry_attempts_max.as_ref(),
            "retry_attempts_max",
            defaults.retry_attempts_max as usize,
            RETRY_ATTEMPTS_CEILING,
        );
        NotifierSettings {
            retry_initial,
            retry_max: retry_max.max(retry_initial),
            retry_attempts_max: u32::try_from(attempts).unwrap_or(defaults.retry_attempts_max),
            queue_alerts_max: self.count(
                section.queue_alerts_max.as_ref(),
                "queue_alerts_max",
                defaults.queue_alerts_max,
                ALERTS_CEILING,
            ),
            alerts_max: self.count(
                section.alerts_max.as_ref(),
                "alerts_max",
                defaults.alerts_max,
                ALERTS_CEILING,
            ),
            group_alerts_max: self.count(
                section.group_alerts_max.as_ref(),
                "group_alerts_max",
                defaults.group_alerts_max,
                GROUP_ALERTS_CEILING,
            ),
            delivery_concurrency_max: self.count(
                section.delivery_concurrency_max.as_ref(),
                "delivery_concurrency_max",
                defaults.delivery_concurrency_max,
                DELIVERY_CONCURRENCY_CEILING,
            ),
        }
    }

    /// An `[alerting]` count in 1..=`max`, `default` when absent.
    fn count(
        &mut self,
        value: Option<&Spanned<usize>>,
        key: &str,
        default: usize,
        max: usize,
    ) -> usize {
        let Some(value) = value else {
            return default;
        };
        if !(1..=max).contains(value.get_ref()) {
            self.error(
                value.span(),
                format!("alerting.{key}: {} is outside 1..{max}", value.get_ref()),
            );
        }
        (*value.get_ref()).clamp(1, max)
    }

    /// Validates one `silences/*.toml` file (the checker's source).
    pub(super) fn silence_file(&mut self) -> Vec<FileSilence> {
        let Some(source) = self.source() else {
            return Vec::new();
        };
        let (parsed, found) = super::file::load_partial::<SilenceFile>(source);
        self.extend(found);
        let Some(parsed) = parsed else {
            return Vec::new();
        };
        let mut silences = Vec::with_capacity(parsed.silence.len());
        for (index, section) in parsed.silence.iter().enumerate() {
            if index >= FILE_SILENCES_MAX {
                self.error(
                    section.matchers.span(),
                    format!("silence: more than {FILE_SILENCES_MAX} silences in one file"),
                );
                break;
            }
            let matchers = self.matchers(&section.matchers, "silence.matchers");
            if section.matchers.get_ref().is_empty() {
                self.error(
                    section.matchers.span(),
                    "silence.matchers: list at least one matcher",
                );
            } else if !matchers.is_empty()
                && let Err(message) = check_not_everything(&matchers)
            {
                self.error(section.matchers.span(), format!("silence.{message}"));
            }
            for (value, key) in [
                (&section.comment, "silence.comment"),
                (&section.created_by, "silence.created_by"),
            ] {
                if value.get_ref().trim().is_empty() {
                    self.error(value.span(), format!("{key}: must not be empty"));
                }
            }
            let starts_at_ms = section
                .starts_at
                .as_ref()
                .and_then(|value| self.timestamp(value, "silence.starts_at"));
            let ends_at_ms = section
                .ends_at
                .as_ref()
                .and_then(|value| self.timestamp(value, "silence.ends_at"));
            if let (Some(starts), Some(ends), Some(span)) = (
                starts_at_ms,
                ends_at_ms,
                section.ends_at.as_ref().map(Spanned::span),
            ) && ends <= starts
            {
                self.error(span, "silence.ends_at: must be after starts_at");
            }
            silences.push(FileSilence {
                id: format!("{}#{}", source.relative_path, index + 1),
                file: source.relative_path.clone(),
                matchers,
                comment: section.comment.get_ref().clone(),
                created_by: section.created_by.get_ref().clone(),
                starts_at_ms,
                ends_at_ms,
            });
        }
        silences
    }

    /// An RFC 3339 time as a string or a TOML offset date-time, as Unix ms.
    fn timestamp(&mut self, value: &Spanned<toml::Value>, key: &str) -> Option<i64> {
        let text = match value.get_ref() {
            toml::Value::String(text) => text.clone(),
            toml::Value::Datetime(datetime) => datetime.to_string(),
            other => {
                self.error(
                    value.span(),
                    format!("{key}: expected an RFC 3339 time such as \"2026-12-06T18:00:00Z\", found a {}", other.type_str()),
                );
                return None;
            }
        };
        match text.parse::<jiff::Timestamp>() {
            Ok(timestamp) => Some(timestamp.as_millisecond()),
            Err(error) => {
                self.error(
                    value.span(),
                    format!("{key}: {text:?} is not an RFC 3339 time with an offset, e.g. \"2026-12-06T18:00:00Z\" ({error})"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigSource, Overrides, load};

    fn fixture(name: &str) -> Config {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/config")
            .join(name);
        load(&ConfigSource::Directory(dir), &Overrides::default())
            .unwrap_or_else(|error| panic!("{name}: {error}"))
    }

    fn with_main(tandem_toml: &str) -> AlertingConfig {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("tandem.toml"), tandem_toml).expect("write");
        load(
            &ConfigSource::Directory(dir.path().to_path_buf()),
            &Overrides::default(),
        )
        .unwrap_or_else(|error| panic!("{error}"))
        .alerting
    }

    #[test]
    fn routes_inherit_from_their_parent() {
        let alerting = fixture("alerting.good").alerting;
        let root = alerting.route.expect("a root route");
        assert_eq!(root.receiver, "ops");
        assert_eq!(
            root.group_by,
            GroupBy::Labels(vec!["alertname".into(), "instance".into()])
        );
        assert_eq!(
            (root.group_wait, root.group_interval, root.repeat_interval),
            (
                Duration::from_secs(10),
                Duration::from_secs(60),
                Duration::from_secs(7200)
            )
        );
        let page = &root.routes[0];
        assert_eq!(page.receiver, "page");
        assert_eq!(page.group_by, GroupBy::All);
        assert!(page.continue_matching);
        assert_eq!(page.matchers.len(), 2);
        assert_eq!(page.group_interval, Duration::from_secs(60), "inherited");
        let nested = &page.routes[0];
        assert_eq!(nested.receiver, "mail");
        assert_eq!(
            nested.group_by,
            GroupBy::All,
            "inherited from its parent, not the root"
        );
        assert_eq!(nested.repeat_interval, Duration::from_secs(12 * 3600));
        assert_eq!(nested.matchers.len(), 2, "one string, two matchers");
        assert_eq!(root.routes[1].receiver, "mail");
        assert!(!root.routes[1].continue_matching);
        let page_receiver = &alerting.receivers[2];
        let exec = page_receiver.exec.as_ref().expect("exec");
        assert!(
            exec.command[0].ends_with("alerting.good/page.sh"),
            "{:?}",
            exec.command
        );
        assert_eq!(exec.command[1], "--urgent");
        assert_eq!(
            page_receiver
                .alertmanager
                .as_ref()
                .map(|am| am.url.as_str()),
            Some("http://am.example:9093")
        );
        let email = alerting.receivers[1].email.as_ref().expect("email");
        assert_eq!((email.host.as_str(), email.port), ("mail.example.org", 587));
        assert_eq!(email.tls, EmailTls::StartTls);
        assert_eq!(alerting.settings.retry_attempts_max, 4);
        assert_eq!(alerting.settings.delivery_concurrency_max, 8);
        assert_eq!(alerting.inhibit_rules[0].equal, ["instance", "alertname"]);
        let silences = &alerting.file_silences;
        assert_eq!(silences.len(), 2);
        assert_eq!(silences[0].id, "silences/maintenance.toml#1");
        assert_eq!(silences[0].starts_at_ms, Some(1_796_544_000_000));
        assert_eq!(
            silences[0].ends_at_ms,
            Some(1_796_576_400_000),
            "+01:00 offset"
        );
        assert_eq!(
            (silences[1].starts_at_ms, silences[1].ends_at_ms),
            (None, None)
        );
    }

    #[test]
    fn without_a_route_the_first_receiver_takes_everything() {
        let alerting = with_main(
            "[[receiver]]\nname = \"first\"\nwebhook = { url = \"http://a/\" }\n\
             [[receiver]]\nname = \"second\"\nwebhook = { url = \"http://b/\" }\n",
        );
        let root = alerting.route.expect("a default route");
        assert_eq!(root.receiver, "first");
        assert_eq!(root.group_by, GroupBy::Labels(vec!["alertname".into()]));
        assert_eq!(root.group_wait, Duration::ZERO);
        assert_eq!(root.group_interval, GROUP_INTERVAL_DEFAULT);
        assert_eq!(root.repeat_interval, REPEAT_INTERVAL_DEFAULT);
        let webhook = alerting.receivers[0].webhook.as_ref().expect("webhook");
        assert_eq!(webhook.timeout, TIMEOUT_DEFAULT);
        assert!(webhook.send_resolved);
        assert_eq!(alerting.settings, NotifierSettings::default());
        assert!(with_main("").route.is_none(), "no receivers, no route");
    }
}
