//! The dispatcher: a synchronous state machine that turns alerts into notifications,
//! driven by an explicit clock (`now`, Unix ms) so tests control time.
//! Owns: aggregation groups (Alertmanager's semantics: one per route and `group_by`
//! values; first flush after `group_wait`, changes at `group_interval`, unchanged
//! firing groups again at `repeat_interval`, resolved alerts sent once then dropped),
//! the notification log deciding what is new (Alertmanager's `DedupStage`), retries
//! with exponential backoff, and the Alertmanager forwarding set (re-posted every
//! minute, outside group timing, as Prometheus does).
//! Does not: sleep, do I/O, or know how a notification is delivered (`runner.rs` and
//! the integration files); persist anything (it hands nflog entries out through
//! `take_nflog_writes`).
//! Limits: `[alerting] alerts_max` (alerts tracked), `group_alerts_max`,
//! `retry_attempts_max`.
//!
//! Usage: `ingest` alerts, then `due` returns what to send now; report each outcome
//! with `delivered`; sleep until `next_wakeup` or until new alerts arrive.

use super::inhibit::InhibitIndex;
use super::route::{RouteTree, group_key};
use super::silence::{Silence, Silences};
use crate::alert::{Alert, Fingerprint};
use crate::config::alerting::{
    AlertingConfig, AlertmanagerConfig, EmailConfig, ExecConfig, InhibitRuleConfig,
    NotifierSettings, ReceiverConfig, WebhookConfig,
};
use crate::model::Labels;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Unix time in milliseconds.
pub type Millis = i64;

/// How often firing alerts are re-posted to an Alertmanager: Prometheus' default
/// resend delay. Alertmanager resolves an alert it stops hearing about.
pub const FORWARD_RESEND_MS: Millis = 60_000;
/// `endsAt` of a firing alert posted to an Alertmanager is now plus this, four resend
/// periods, as Prometheus does: three lost posts do not resolve it.
pub const FORWARD_ENDS_AFTER_MS: Millis = 4 * FORWARD_RESEND_MS;
/// Notification log entries older than this are forgotten (Alertmanager's default
/// retention). A group unchanged for longer is notified as new after a restart.
pub const NFLOG_RETENTION_MS: Millis = 5 * 24 * 3600 * 1000;
/// `next_flush_ms` of a group whose flush is still being delivered.
const NEVER: Millis = Millis::MAX;

/// The kinds of integration a receiver may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntegrationKind {
    Webhook,
    Email,
    Exec,
    Alertmanager,
}

impl IntegrationKind {
    pub const ALL: [IntegrationKind; 4] = [
        IntegrationKind::Webhook,
        IntegrationKind::Email,
        IntegrationKind::Exec,
        IntegrationKind::Alertmanager,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Webhook => "webhook",
            IntegrationKind::Email => "email",
            IntegrationKind::Exec => "exec",
            IntegrationKind::Alertmanager => "alertmanager",
        }
    }

    pub fn parse(text: &str) -> Option<IntegrationKind> {
        IntegrationKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// An integration with its settings, as a notification carries them: a reload while
/// it is being retried does not change where it goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Integration {
    Webhook(WebhookConfig),
    Email(EmailConfig),
    Exec(ExecConfig),
    Alertmanager(AlertmanagerConfig),
}

impl Integration {
    pub fn kind(&self) -> IntegrationKind {
        match self {
            Integration::Webhook(_) => IntegrationKind::Webhook,
            Integration::Email(_) => IntegrationKind::Email,
            Integration::Exec(_) => IntegrationKind::Exec,
            Integration::Alertmanager(_) => IntegrationKind::Alertmanager,
        }
    }

    fn send_resolved(&self) -> bool {
        match self {
            Integration::Webhook(webhook) => webhook.send_resolved,
            Integration::Email(email) => email.send_resolved,
            Integration::Exec(exec) => exec.send_resolved,
            Integration::Alertmanager(_) => true,
        }
    }
}

/// The integrations that follow group timing (all but `alertmanager`).
fn grouped_integrations(receiver: &ReceiverConfig) -> Vec<Integration> {
    let mut integrations = Vec::new();
    if let Some(webhook) = &receiver.webhook {
        integrations.push(Integration::Webhook(webhook.clone()));
    }
    if let Some(email) = &receiver.email {
        integrations.push(Integration::Email(email.clone()));
    }
    if let Some(exec) = &receiver.exec {
        integrations.push(Integration::Exec(exec.clone()));
    }
    integrations
}

/// One message to one integration of one receiver.
#[derive(Clone, Debug)]
pub struct Notification {
    /// Identifies the delivery across its retries; report outcomes with it.
    pub id: u64,
    /// 1 for the first try.
    pub attempt: u32,
    pub receiver: String,
    pub integration: Integration,
    /// Alertmanager's group key; empty for the Alertmanager forwarding set.
    pub group_key: String,
    pub group_labels: Labels,
    /// Firing and (if the integration sends them) resolved alerts, in Alertmanager's
    /// order (by `job`, `instance`, then all labels).
    pub alerts: Vec<Alert>,
    /// `[server] external_url`.
    pub external_url: String,
    /// When the notification was made (the flush time).
    pub built_at_ms: Millis,
}

/// What was last sent to one integration for one group: Alertmanager's nflog entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NflogEntry {
    pub receiver: String,
    pub integration: IntegrationKind,
    pub group_key: String,
    pub sent_at_ms: Millis,
    pub firing: BTreeSet<Fingerprint>,
    pub resolved: BTreeSet<Fingerprint>,
}

type NflogKey = (String, IntegrationKind, String);

impl NflogEntry {
    fn key(&self) -> NflogKey {
        (
            self.receiver.clone(),
            self.integration,
            self.group_key.clone(),
        )
    }
}

/// How a delivery attempt went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// `retryable`: the receiver may accept a later attempt (network errors, 5xx).
    Failed {
        retryable: bool,
    },
}

/// What happens after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterDelivery {
    Done,
    /// Tried again at this time (it comes out of `due` then).
    Retry {
        at_ms: Millis,
    },
    /// Failed for good: out of attempts or not retryable. The group tries again at
    /// its next `group_interval`, since the notification log did not record it.
    GaveUp,
    /// Not a delivery this dispatcher knows.
    Unknown,
}

struct Tracked {
    alert: Alert,
    /// Bumped at every change, so a flush removes only resolved alerts that did not
    /// change while it was being delivered.
    version: u64,
    /// Groups and forwarding sets holding the alert; at 0 it is forgotten.
    holders: u32,
}

/// A group is identified by its route's ID and its labels.
type GroupId = (String, Labels);

struct Group {
    /// Index into the current route tree.
    route: usize,
    key: String,
    labels: Labels,
    alerts: BTreeSet<Fingerprint>,
    next_flush_ms: Millis,
    has_flushed: bool,
    /// The flush being delivered, if any.
    flush: Option<Flush>,
    /// A flush came due while the previous one was being delivered: flush again as
    /// soon as it completes (Alertmanager's group loop does the same).
    flush_pending: bool,
}

struct Flush {
    resolved: Vec<(Fingerprint, u64)>,
    outstanding: BTreeSet<u64>,
    failed: bool,
}

/// What one flush of a group is about.
struct FlushPlan {
    receiver: String,
    repeat_ms: Millis,
    group_key: String,
    group_labels: Labels,
    /// Unmuted alerts, by state.
    firing: BTreeSet<Fingerprint>,
    resolved: BTreeSet<Fingerprint>,
    /// Every resolved alert (muted or not) with its version: they leave the group
    /// when the flush succeeds.
    resolved_versions: Vec<(Fingerprint, u64)>,
}

/// The alerts one receiver forwards to an Alertmanager.
struct Forward {
    alerts: BTreeSet<Fingerprint>,
    /// Changed since the last post: post at once.
    dirty: bool,
    next_post_ms: Millis,
    /// The delivery in progress and the resolved alerts it carries.
    outstanding: Option<(u64, Vec<(Fingerprint, u64)>)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Origin {
    Group(GroupId),
    Forward(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeliveryState {
    Waiting { at_ms: Millis },
    InFlight,
}

struct Delivery {
    notification: Notification,
    origin: Origin,
    /// Recorded when the delivery succeeds.
    nflog: Option<NflogEntry>,
    state: DeliveryState,
}

/// Where an alert belongs.
enum Membership {
    Group { id: GroupId, route: usize },
    Forward(String),
}

pub struct Dispatcher {
    tree: Option<RouteTree>,
    receivers: HashMap<String, ReceiverConfig>,
    inhibit_rules: Vec<InhibitRuleConfig>,
    silences: Silences,
    settings: NotifierSettings,
    external_url: String,
    alerts: HashMap<Fingerprint, Tracked>,
    groups: BTreeMap<GroupId, Group>,
    forwards: BTreeMap<String, Forward>,
    nflog: HashMap<NflogKey, NflogEntry>,
    deliveries: BTreeMap<u64, Delivery>,
    next_delivery_id: u64,
    nflog_writes: Vec<NflogEntry>,
}

impl Dispatcher {
    /// A dispatcher for `config`, remembering what was sent before (`nflog`, as
    /// persisted) and applying the stored temporary silences.
    pub fn new(
        config: &AlertingConfig,
        external_url: &str,
        nflog: Vec<NflogEntry>,
        api_silences: Vec<Silence>,
    ) -> Dispatcher {
        let mut dispatcher = Dispatcher {
            tree: None,
            receivers: HashMap::new(),
            inhibit_rules: Vec::new(),
            silences: Silences::default(),
            settings: NotifierSettings::default(),
            external_url: String::new(),
            alerts: HashMap::new(),
            groups: BTreeMap::new(),
            forwards: BTreeMap::new(),
            nflog: nflog
                .into_iter()
                .map(|entry| (entry.key(), entry))
                .collect(),
            deliveries: BTreeMap::new(),
            next_delivery_id: 1,
            nflog_writes: Vec::new(),
        };
        dispatcher.silences.set_api(api_silences);
        dispatcher.reconfigure(config, external_url, 0);
        dispatcher
    }

    /// Applies a new config. Groups whose route (by ID) and labels still exist keep
    /// their timing; every alert is routed again.
    pub fn reconfigure(&mut self, config: &AlertingConfig, external_url: &str, now: Millis) {
        self.tree = config.route.as_ref().map(RouteTree::new);
        self.receivers = config
            .receivers
            .iter()
            .map(|receiver| (receiver.name.clone(), receiver.clone()))
            .collect();
        self.inhibit_rules = config.inhibit_rules.clone();
        self.silences.set_file(&config.file_silences);
        self.settings = config.settings.clone();
        self.external_url = external_url.to_string();
        let mut old_groups = std::mem::take(&mut self.groups);
        let mut old_forwards = std::mem::take(&mut self.forwards);
        let mut alerts: Vec<(Fingerprint, Tracked)> = self.alerts.drain().collect();
        alerts.sort_by_key(|(fingerprint, _)| *fingerprint);
        for (fingerprint, mut tracked) in alerts {
            tracked.holders = 0;
            self.alerts.insert(fingerprint, tracked);
            let holders = self.place(fingerprint, now, &mut old_groups, &mut old_forwards);
            if holders == 0 {
                self.alerts.remove(&fingerprint);
            }
        }
    }

    /// Replaces the temporary silences (after one was added or expired).
    pub fn set_api_silences(&mut self, silences: Vec<Silence>) {
        self.silences.set_api(silences);
    }

    /// Whether any receiver is configured; without one alerts are not tracked.
    pub fn has_receivers(&self) -> bool {
        self.tree.is_some()
    }

    pub fn alert_count(&self) -> usize {
        self.alerts.len()
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// Takes alerts from the rule manager. Returns how many were dropped because
    /// `alerts_max` or a group's `group_alerts_max` was reached.
    pub fn ingest(&mut self, alerts: Vec<Alert>, now: Millis) -> usize {
        if self.tree.is_none() {
            return 0;
        }
        let mut dropped = 0;
        for alert in alerts {
            let fingerprint = alert.fingerprint();
            if let Some(tracked) = self.alerts.get_mut(&fingerprint) {
                if tracked.alert != alert {
                    // Annotations rendered from `$value` change at every evaluation;
                    // only a change of state is worth an extra post to an Alertmanager.
                    let state_changed = tracked.alert.resolved_at_ms.is_some()
                        != alert.resolved_at_ms.is_some()
                        || tracked.alert.starts_at_ms != alert.starts_at_ms;
                    tracked.alert = alert;
                    tracked.version += 1;
                    self.touched(fingerprint, state_changed, now);
                }
                continue;
            }
            if self.alerts.len() >= self.settings.alerts_max {
                dropped += 1;
                continue;
            }
            self.alerts.insert(
                fingerprint,
                Tracked {
                    alert,
                    version: 0,
                    holders: 0,
                },
            );
            let holders = self.place(fingerprint, now, &mut BTreeMap::new(), &mut BTreeMap::new());
            if holders == 0 {
                self.alerts.remove(&fingerprint);
                dropped += 1;
            }
        }
        dropped
    }

    /// Where the alert belongs under the current routes.
    fn memberships(&self, labels: &Labels) -> Vec<Membership> {
        let Some(tree) = &self.tree else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for index in tree.matching(labels) {
            let route = tree.route(index);
            let Some(receiver) = self.receivers.get(&route.receiver) else {
                continue;
            };
            let grouped =
                receiver.webhook.is_some() || receiver.email.is_some() || receiver.exec.is_some();
            if grouped {
                found.push(Membership::Group {
                    id: (route.id.clone(), tree.group_labels(index, labels)),
                    route: index,
                });
            }
            let forwards = receiver.alertmanager.is_some();
            let listed = found.iter().any(
                |member| matches!(member, Membership::Forward(name) if *name == route.receiver),
            );
            if forwards && !listed {
                found.push(Membership::Forward(route.receiver.clone()));
            }
        }
        found
    }

    /// Adds a tracked alert to its groups and forwarding sets, taking a group or set
    /// from `old_*` (a reload) before making a new one. Returns its holder count.
    fn place(
        &mut self,
        fingerprint: Fingerprint,
        now: Millis,
        old_groups: &mut BTreeMap<GroupId, Group>,
        old_forwards: &mut BTreeMap<String, Forward>,
    ) -> u32 {
        let Some(tracked) = self.alerts.get(&fingerprint) else {
            return 0;
        };
        let starts_at_ms = tracked.alert.starts_at_ms;
        let memberships = self.memberships(&tracked.alert.labels);
        let mut holders = 0;
        for membership in memberships {
            match membership {
                Membership::Group { id, route } => {
                    if self.join_group(id, route, fingerprint, starts_at_ms, now, old_groups) {
                        holders += 1;
                    }
                }
                Membership::Forward(receiver) => {
                    let forward =
                        self.forwards
                            .entry(receiver.clone())
                            .or_insert_with(|| match old_forwards.remove(&receiver) {
                                Some(mut forward) => {
                                    forward.alerts.clear();
                                    forward
                                }
                                None => Forward {
                                    alerts: BTreeSet::new(),
                                    dirty: false,
                                    next_post_ms: now,
                                    outstanding: None,
                                },
                            });
                    if forward.alerts.len() < self.settings.group_alerts_max
                        && forward.alerts.insert(fingerprint)
                    {
                        forward.dirty = true;
                        holders += 1;
                    }
                }
            }
        }
        if let Some(tracked) = self.alerts.get_mut(&fingerprint) {
            tracked.holders = holders;
        }
        holders
    }

    fn join_group(
        &mut self,
        id: GroupId,
        route_index: usize,
        fingerprint: Fingerprint,
        starts_at_ms: Millis,
        now: Millis,
        old_groups: &mut BTreeMap<GroupId, Group>,
    ) -> bool {
        let Some(tree) = &self.tree else {
            return false;
        };
        let route = tree.route(route_index);
        let group_wait = millis(route.group_wait);
        let group = self
            .groups
            .entry(id.clone())
            .or_insert_with(|| match old_groups.remove(&id) {
                Some(mut group) => {
                    group.route = route_index;
                    group.alerts.clear();
                    group
                }
                None => Group {
                    route: route_index,
                    key: group_key(&route.key, &id.1),
                    labels: id.1.clone(),
                    alerts: BTreeSet::new(),
                    next_flush_ms: now.saturating_add(group_wait),
                    has_flushed: false,
                    flush: None,
                    flush_pending: false,
                },
            });
        if group.alerts.len() >= self.settings.group_alerts_max {
            return false;
        }
        group.alerts.insert(fingerprint);
        wait_no_longer(group, starts_at_ms, group_wait, now);
        true
    }

    /// An alert changed: if its state did, forwarding sets holding it post at once;
    /// groups not yet flushed flush now if its wait is over.
    fn touched(&mut self, fingerprint: Fingerprint, state_changed: bool, now: Millis) {
        for forward in self.forwards.values_mut() {
            if state_changed && forward.alerts.contains(&fingerprint) {
                forward.dirty = true;
            }
        }
        let Some(tracked) = self.alerts.get(&fingerprint) else {
            return;
        };
        let starts_at_ms = tracked.alert.starts_at_ms;
        for membership in self.memberships(&tracked.alert.labels) {
            if let Membership::Group { id, route } = membership
                && let Some(tree) = &self.tree
                && let Some(group) = self.groups.get_mut(&id)
            {
                wait_no_longer(
                    group,
                    starts_at_ms,
                    millis(tree.route(route).group_wait),
                    now,
                );
            }
        }
    }

    /// The notifications to send now: groups and forwarding sets that came due, and
    /// retries whose time has come.
    pub fn due(&mut self, now: Millis) -> Vec<Notification> {
        let due_groups: Vec<GroupId> = self
            .groups
            .iter()
            .filter(|(_, group)| group.next_flush_ms <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let due_forwards: Vec<String> = self
            .forwards
            .iter()
            .filter(|(_, forward)| {
                forward.outstanding.is_none() && (forward.dirty || forward.next_post_ms <= now)
            })
            .map(|(receiver, _)| receiver.clone())
            .collect();
        if !due_groups.is_empty() || !due_forwards.is_empty() {
            let unmuted = self.unmuted(&due_groups, &due_forwards, now);
            for id in due_groups {
                self.flush_group(&id, &unmuted, now);
            }
            for receiver in due_forwards {
                self.flush_forward(&receiver, &unmuted, now);
            }
        }
        let mut ready = Vec::new();
        for delivery in self.deliveries.values_mut() {
            if let DeliveryState::Waiting { at_ms } = delivery.state
                && at_ms <= now
            {
                delivery.state = DeliveryState::InFlight;
                ready.push(delivery.notification.clone());
            }
        }
        ready
    }

    /// Which alerts of the due groups and sets are neither silenced nor inhibited.
    fn unmuted(
        &self,
        groups: &[GroupId],
        forwards: &[String],
        now: Millis,
    ) -> BTreeSet<Fingerprint> {
        let index = (!self.inhibit_rules.is_empty()).then(|| {
            InhibitIndex::new(
                &self.inhibit_rules,
                self.alerts
                    .values()
                    .filter(|tracked| !tracked.alert.is_resolved())
                    .map(|tracked| &tracked.alert.labels),
            )
        });
        let candidates = groups
            .iter()
            .filter_map(|id| self.groups.get(id).map(|group| &group.alerts))
            .chain(
                forwards
                    .iter()
                    .filter_map(|receiver| self.forwards.get(receiver).map(|set| &set.alerts)),
            )
            .flatten();
        let mut unmuted = BTreeSet::new();
        for fingerprint in candidates {
            let Some(tracked) = self.alerts.get(fingerprint) else {
                continue;
            };
            let labels = &tracked.alert.labels;
            let muted = self.silences.mutes(labels, now)
                || index.as_ref().is_some_and(|index| index.inhibits(labels));
            if !muted {
                unmuted.insert(*fingerprint);
            }
        }
        unmuted
    }

    fn flush_group(&mut self, id: &GroupId, unmuted: &BTreeSet<Fingerprint>, now: Millis) {
        let Some(plan) = self.start_flush(id, unmuted, now) else {
            return;
        };
        let integrations = self
            .receivers
            .get(&plan.receiver)
            .map(grouped_integrations)
            .unwrap_or_default();
        let mut outstanding = BTreeSet::new();
        for integration in integrations {
            outstanding.extend(self.notify_integration(id, &plan, integration, now));
        }
        if outstanding.is_empty() {
            self.complete_flush(id, plan.resolved_versions, true, now);
        } else if let Some(group) = self.groups.get_mut(id) {
            group.flush = Some(Flush {
                resolved: plan.resolved_versions,
                outstanding,
                failed: false,
            });
        }
    }

    /// Starts a group's flush: schedules the next one and sorts its alerts. `None`
    /// when the previous flush is still being delivered (this one then follows it).
    fn start_flush(
        &mut self,
        id: &GroupId,
        unmuted: &BTreeSet<Fingerprint>,
        now: Millis,
    ) -> Option<FlushPlan> {
        let tree = self.tree.as_ref()?;
        let group = self.groups.get_mut(id)?;
        if group.flush.is_some() {
            group.flush_pending = true;
            group.next_flush_ms = NEVER;
            return None;
        }
        let route = tree.route(group.route);
        group.has_flushed = true;
        group.next_flush_ms = now.saturating_add(millis(route.group_interval));
        let mut plan = FlushPlan {
            receiver: route.receiver.clone(),
            repeat_ms: millis(route.repeat_interval),
            group_key: group.key.clone(),
            group_labels: group.labels.clone(),
            firing: BTreeSet::new(),
            resolved: BTreeSet::new(),
            resolved_versions: Vec::new(),
        };
        for fingerprint in &group.alerts {
            let Some(tracked) = self.alerts.get(fingerprint) else {
                continue;
            };
            let is_resolved = tracked.alert.is_resolved();
            if is_resolved {
                plan.resolved_versions.push((*fingerprint, tracked.version));
            }
            if unmuted.contains(fingerprint) {
                let set = if is_resolved {
                    &mut plan.resolved
                } else {
                    &mut plan.firing
                };
                set.insert(*fingerprint);
            }
        }
        Some(plan)
    }

    /// One integration's part of a flush: a delivery if the notification log says
    /// there is news for it (its ID returned), or just a log entry.
    fn notify_integration(
        &mut self,
        id: &GroupId,
        plan: &FlushPlan,
        integration: Integration,
        now: Millis,
    ) -> Option<u64> {
        let entry = NflogEntry {
            receiver: plan.receiver.clone(),
            integration: integration.kind(),
            group_key: plan.group_key.clone(),
            sent_at_ms: now,
            firing: plan.firing.clone(),
            resolved: plan.resolved.clone(),
        };
        let previous = self.nflog.get(&entry.key());
        let send_resolved = integration.send_resolved();
        let news = needs_update(
            previous,
            &plan.firing,
            &plan.resolved,
            send_resolved,
            plan.repeat_ms,
            now,
        );
        if !news {
            return None;
        }
        let resolved = plan.resolved.iter().filter(|_| send_resolved);
        let alerts = self.sorted_alerts(plan.firing.iter().chain(resolved));
        if alerts.is_empty() {
            // Only resolved alerts, which this integration does not get: log them so
            // the firing ones are not sent again.
            self.record_nflog(entry);
            return None;
        }
        let notification = Notification {
            id: 0,
            attempt: 1,
            receiver: plan.receiver.clone(),
            integration,
            group_key: plan.group_key.clone(),
            group_labels: plan.group_labels.clone(),
            alerts,
            external_url: self.external_url.clone(),
            built_at_ms: now,
        };
        Some(self.start_delivery(notification, Origin::Group(id.clone()), Some(entry), now))
    }

    fn flush_forward(&mut self, receiver: &str, unmuted: &BTreeSet<Fingerprint>, now: Millis) {
        let Some(config) = self
            .receivers
            .get(receiver)
            .and_then(|receiver| receiver.alertmanager.clone())
        else {
            // Cannot happen: a reload rebuilds the sets from the receivers. Drop the
            // set rather than leave it due forever.
            debug_assert!(
                false,
                "BUG: forwarding set of {receiver:?} without its receiver"
            );
            if let Some(forward) = self.forwards.remove(receiver) {
                for fingerprint in forward.alerts {
                    self.release(fingerprint);
                }
            }
            return;
        };
        let Some(forward) = self.forwards.get_mut(receiver) else {
            return;
        };
        forward.dirty = false;
        forward.next_post_ms = now.saturating_add(FORWARD_RESEND_MS);
        let members: Vec<Fingerprint> = forward.alerts.iter().copied().collect();
        let snapshot: Vec<(Fingerprint, u64)> = members
            .iter()
            .filter_map(|fingerprint| {
                let tracked = self.alerts.get(fingerprint)?;
                tracked
                    .alert
                    .is_resolved()
                    .then_some((*fingerprint, tracked.version))
            })
            .collect();
        let alerts = self.sorted_alerts(
            members
                .iter()
                .filter(|fingerprint| unmuted.contains(fingerprint)),
        );
        if alerts.is_empty() {
            self.complete_forward(receiver, snapshot);
            return;
        }
        let notification = Notification {
            id: 0,
            attempt: 1,
            receiver: receiver.to_string(),
            integration: Integration::Alertmanager(config),
            group_key: String::new(),
            group_labels: Labels::default(),
            alerts,
            external_url: self.external_url.clone(),
            built_at_ms: now,
        };
        let id = self.start_delivery(
            notification,
            Origin::Forward(receiver.to_string()),
            None,
            now,
        );
        if let Some(forward) = self.forwards.get_mut(receiver) {
            forward.outstanding = Some((id, snapshot));
        }
    }

    fn sorted_alerts<'a>(&self, fingerprints: impl Iterator<Item = &'a Fingerprint>) -> Vec<Alert> {
        let mut alerts: Vec<Alert> = fingerprints
            .filter_map(|fingerprint| self.alerts.get(fingerprint))
            .map(|tracked| tracked.alert.clone())
            .collect();
        alerts.sort_by(alertmanager_order);
        alerts
    }

    fn start_delivery(
        &mut self,
        mut notification: Notification,
        origin: Origin,
        nflog: Option<NflogEntry>,
        now: Millis,
    ) -> u64 {
        let id = self.next_delivery_id;
        self.next_delivery_id += 1;
        notification.id = id;
        self.deliveries.insert(
            id,
            Delivery {
                notification,
                origin,
                nflog,
                state: DeliveryState::Waiting { at_ms: now },
            },
        );
        id
    }

    fn record_nflog(&mut self, entry: NflogEntry) {
        self.nflog_writes.push(entry.clone());
        self.nflog.insert(entry.key(), entry);
    }

    /// Reports how an attempt of delivery `id` went.
    pub fn delivered(&mut self, id: u64, outcome: Outcome, now: Millis) -> AfterDelivery {
        let Some(delivery) = self.deliveries.get(&id) else {
            return AfterDelivery::Unknown;
        };
        debug_assert_eq!(
            delivery.state,
            DeliveryState::InFlight,
            "BUG: outcome of a delivery not in flight"
        );
        let attempt = delivery.notification.attempt;
        let retry = match outcome {
            Outcome::Sent => false,
            Outcome::Failed { retryable } => {
                retryable && attempt < self.settings.retry_attempts_max
            }
        };
        if retry {
            let at_ms = now.saturating_add(self.backoff_ms(attempt + 1));
            if let Some(delivery) = self.deliveries.get_mut(&id) {
                delivery.notification.attempt = attempt + 1;
                delivery.state = DeliveryState::Waiting { at_ms };
            }
            return AfterDelivery::Retry { at_ms };
        }
        let Some(delivery) = self.deliveries.remove(&id) else {
            return AfterDelivery::Unknown;
        };
        let sent = outcome == Outcome::Sent;
        if sent && let Some(entry) = delivery.nflog {
            self.record_nflog(entry);
        }
        match delivery.origin {
            Origin::Group(group_id) => self.finish_group_delivery(&group_id, id, sent, now),
            Origin::Forward(receiver) => self.finish_forward_delivery(&receiver, id, sent),
        }
        if sent {
            AfterDelivery::Done
        } else {
            AfterDelivery::GaveUp
        }
    }

    /// The wait before `attempt` (2 for the first retry): `retry_initial`, doubling,
    /// capped at `retry_max`.
    fn backoff_ms(&self, attempt: u32) -> Millis {
        let initial = millis(self.settings.retry_initial);
        let doublings = attempt.saturating_sub(2).min(40);
        initial
            .saturating_mul(1_i64 << doublings)
            .min(millis(self.settings.retry_max))
    }

    fn finish_group_delivery(&mut self, id: &GroupId, delivery: u64, sent: bool, now: Millis) {
        let Some(group) = self.groups.get_mut(id) else {
            return;
        };
        let Some(flush) = &mut group.flush else {
            return;
        };
        if !flush.outstanding.remove(&delivery) {
            return;
        }
        flush.failed |= !sent;
        if !flush.outstanding.is_empty() {
            return;
        }
        let Some(flush) = group.flush.take() else {
            return;
        };
        self.complete_flush(id, flush.resolved, !flush.failed, now);
    }

    /// After a flush: on success the resolved alerts it carried (unless they changed
    /// since) leave the group; an empty group goes.
    fn complete_flush(
        &mut self,
        id: &GroupId,
        resolved: Vec<(Fingerprint, u64)>,
        succeeded: bool,
        now: Millis,
    ) {
        let mut released = Vec::new();
        if let Some(group) = self.groups.get_mut(id) {
            if succeeded {
                for (fingerprint, version) in resolved {
                    let unchanged = self
                        .alerts
                        .get(&fingerprint)
                        .is_some_and(|tracked| tracked.version == version);
                    if unchanged && group.alerts.remove(&fingerprint) {
                        released.push(fingerprint);
                    }
                }
            }
            if group.flush_pending {
                group.flush_pending = false;
                group.next_flush_ms = now;
            }
            if group.alerts.is_empty() {
                self.groups.remove(id);
            }
        }
        for fingerprint in released {
            self.release(fingerprint);
        }
    }

    fn finish_forward_delivery(&mut self, receiver: &str, delivery: u64, sent: bool) {
        let Some(forward) = self.forwards.get_mut(receiver) else {
            return;
        };
        let snapshot = match forward.outstanding.take() {
            Some((outstanding, snapshot)) if outstanding == delivery => snapshot,
            other => {
                forward.outstanding = other;
                return;
            }
        };
        if sent {
            self.complete_forward(receiver, snapshot);
        }
    }

    fn complete_forward(&mut self, receiver: &str, resolved: Vec<(Fingerprint, u64)>) {
        let Some(forward) = self.forwards.get_mut(receiver) else {
            return;
        };
        let mut released = Vec::new();
        for (fingerprint, version) in resolved {
            let unchanged = self
                .alerts
                .get(&fingerprint)
                .is_some_and(|tracked| tracked.version == version);
            if unchanged && forward.alerts.remove(&fingerprint) {
                released.push(fingerprint);
            }
        }
        if forward.alerts.is_empty() && forward.outstanding.is_none() {
            self.forwards.remove(receiver);
        }
        for fingerprint in released {
            self.release(fingerprint);
        }
    }

    /// One holder fewer; an alert nobody holds is forgotten.
    fn release(&mut self, fingerprint: Fingerprint) {
        if let Some(tracked) = self.alerts.get_mut(&fingerprint) {
            tracked.holders = tracked.holders.saturating_sub(1);
            if tracked.holders == 0 {
                self.alerts.remove(&fingerprint);
            }
        }
    }

    /// When `due` next has something to do; `None`: nothing until new alerts arrive.
    pub fn next_wakeup(&self) -> Option<Millis> {
        let groups = self
            .groups
            .values()
            .map(|group| group.next_flush_ms)
            .filter(|at| *at != NEVER);
        let forwards = self.forwards.values().filter_map(|forward| {
            if forward.outstanding.is_some() {
                None
            } else if forward.dirty {
                Some(Millis::MIN)
            } else {
                Some(forward.next_post_ms)
            }
        });
        let retries = self
            .deliveries
            .values()
            .filter_map(|delivery| match delivery.state {
                DeliveryState::Waiting { at_ms } => Some(at_ms),
                DeliveryState::InFlight => None,
            });
        groups.chain(forwards).chain(retries).min()
    }

    /// Whether deliveries are running or waiting for a retry.
    pub fn deliveries_outstanding(&self) -> usize {
        self.deliveries.len()
    }

    /// Notification log entries recorded since the last call, to persist.
    pub fn take_nflog_writes(&mut self) -> Vec<NflogEntry> {
        std::mem::take(&mut self.nflog_writes)
    }

    /// Forgets notification log entries older than `NFLOG_RETENTION_MS`.
    pub fn prune_nflog(&mut self, now: Millis) {
        let cutoff = now.saturating_sub(NFLOG_RETENTION_MS);
        self.nflog.retain(|_, entry| entry.sent_at_ms >= cutoff);
    }
}

/// Alertmanager's `needsUpdate`: whether a group's current alerts differ enough from
/// what this integration was last sent. Firing alerts not sent before are news;
/// all resolved after some fired is news (even without `send_resolved`, to clear the
/// log); new resolved alerts are news with `send_resolved`; otherwise only
/// `repeat_interval` after the last send.
fn needs_update(
    previous: Option<&NflogEntry>,
    firing: &BTreeSet<Fingerprint>,
    resolved: &BTreeSet<Fingerprint>,
    send_resolved: bool,
    repeat_ms: Millis,
    now: Millis,
) -> bool {
    let Some(previous) = previous else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&previous.firing) {
        return true;
    }
    if firing.is_empty() {
        return !previous.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&previous.resolved) {
        return true;
    }
    previous.sent_at_ms <= now.saturating_sub(repeat_ms)
}

/// Alertmanager's initial wait: a group not flushed yet flushes at once when an
/// alert's `startsAt + group_wait` has passed (an alert that became active long ago
/// does not wait again).
fn wait_no_longer(group: &mut Group, starts_at_ms: Millis, group_wait_ms: Millis, now: Millis) {
    if !group.has_flushed && starts_at_ms.saturating_add(group_wait_ms) <= now {
        group.next_flush_ms = group.next_flush_ms.min(now);
    }
}

/// Alertmanager's order of a group's alerts: by `job`, then `instance` (alerts with
/// the label first), then all labels.
fn alertmanager_order(a: &Alert, b: &Alert) -> Ordering {
    for name in ["job", "instance"] {
        match (a.labels.get(name), b.labels.get(name)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    a.labels.cmp(&b.labels)
}

fn millis(duration: std::time::Duration) -> Millis {
    Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX)
}

#[cfg(test)]
mod tests;
