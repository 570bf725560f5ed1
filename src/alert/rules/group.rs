//! One rule group and its evaluation: queries through the PromQL engine, alert state
//! transitions, recorded series, `ALERTS`/`ALERTS_FOR_STATE`, stale markers.
//! Owns: the in-memory state of every rule of the group.
//! Does not: schedule (`mod.rs`), persist (`state.rs`) or notify; an evaluation returns
//! what changed and the caller hands it on. Time is an argument, so `tandem test-rules`
//! drives the same code with a simulated clock.
//!
//! Semantics follow Prometheus' rules/alerting.go and rules/group.go: an alert becomes
//! pending when its expression returns the series, fires once it has been pending for
//! `for` (at once with `for = 0s`), keeps firing for `keep_firing_for` after the series
//! goes away, and resolves after that; a pending alert that goes away is dropped.

use crate::alert::db::{HistoryEvent, HistoryKind};
use crate::alert::template::{Template, TemplateData, TemplateQuery};
use crate::alert::{ALERTNAME, Alert, Fingerprint};
use crate::config::rules::{RuleConfig, RuleGroupConfig, RuleKind};
use crate::model::{Label, Labels, METRIC_NAME, Sample, stale_nan};
use crate::promql::ast::Expr;
use crate::promql::value::QueryValue;
use crate::promql::{EvalOptions, QueryError};
use crate::storage::{SeriesSamples, Storage};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// The metric every active alert writes a sample of, as Prometheus does.
pub const ALERTS_METRIC: &str = "ALERTS";
pub const ALERTS_FOR_STATE_METRIC: &str = "ALERTS_FOR_STATE";
pub const ALERTSTATE_LABEL: &str = "alertstate";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// An alert of a rule that is pending or firing.
#[derive(Clone, Debug, PartialEq)]
pub struct ActiveAlert {
    /// The series' labels without `__name__`, the rule's labels over them, `alertname`.
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    pub active_at_ms: i64,
    pub fired_at_ms: Option<i64>,
    /// Set while the expression no longer returns the series but `keep_firing_for`
    /// holds the alert.
    pub keep_firing_since_ms: Option<i64>,
    pub value: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Ok,
    Err,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// One rule with its state.
pub struct Rule {
    pub config: RuleConfig,
    /// Identity across reloads and restarts: a rule keeps its alerts while its group,
    /// name, expression and labels stay the same.
    pub key: String,
    pub expr: Expr,
    labels: Vec<(String, Template)>,
    annotations: Vec<(String, Template)>,
    /// Alerting rules: by fingerprint of the alert's labels.
    pub active: BTreeMap<Fingerprint, ActiveAlert>,
    pub health: Health,
    pub last_error: Option<String>,
    pub last_evaluation_ms: Option<i64>,
    pub evaluation_duration: Duration,
    /// Series written at the previous evaluation; those missing now get a stale marker.
    previous_series: HashSet<Labels>,
}

/// A group with the state of its rules.
pub struct Group {
    pub config: RuleGroupConfig,
    pub rules: Vec<Rule>,
    pub last_evaluation_ms: Option<i64>,
    pub evaluation_duration: Duration,
}

/// What the group needs from outside to evaluate.
pub struct EvalContext<'a> {
    pub storage: &'a Storage,
    pub options: EvalOptions,
    pub external_labels: &'a Labels,
    pub external_url: &'a str,
}

/// What one evaluation changed.
#[derive(Debug, Default)]
pub struct GroupOutcome {
    /// For the notifier: every firing alert, and each alert resolved by this evaluation.
    pub alerts: Vec<Alert>,
    pub transitions: Vec<HistoryEvent>,
    /// Positions of rules whose alert state changed (to persist).
    pub changed_rules: Vec<usize>,
    pub failures: u64,
    /// Samples the storage refused (rules' own output), with the first reason.
    pub rejected: u64,
    pub write_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleBuildError {
    #[error("rule {rule:?}: {message}")]
    Invalid { rule: String, message: String },
}

impl Rule {
    pub fn new(group_key: &str, config: RuleConfig) -> Result<Rule, RuleBuildError> {
        let invalid = |message: String| RuleBuildError::Invalid {
            rule: config.name().to_string(),
            message,
        };
        let expr = crate::promql::parse::parse(&config.expr)
            .map_err(|error| invalid(error.to_string()))?;
        let templates =
            |pairs: &[(String, String)]| -> Result<Vec<(String, Template)>, RuleBuildError> {
                pairs
                    .iter()
                    .map(|(name, text)| {
                        Template::parse(name, text)
                            .map(|template| (name.clone(), template))
                            .map_err(|error| invalid(error.to_string()))
                    })
                    .collect()
            };
        let (labels, annotations) = match &config.kind {
            RuleKind::Alert { annotations, .. } => {
                (templates(&config.labels)?, templates(annotations)?)
            }
            RuleKind::Record { .. } => (Vec::new(), Vec::new()),
        };
        let key = rule_key(group_key, &config);
        Ok(Rule {
            config,
            key,
            expr,
            labels,
            annotations,
            active: BTreeMap::new(),
            health: Health::Unknown,
            last_error: None,
            last_evaluation_ms: None,
            evaluation_duration: Duration::ZERO,
            previous_series: HashSet::new(),
        })
    }

    /// The rule's current state as `/api/v1/rules` names it: the "worst" of its alerts.
    pub fn state(&self) -> &'static str {
        if self
            .active
            .values()
            .any(|alert| alert.state == AlertState::Firing)
        {
            "firing"
        } else if self.active.is_empty() {
            "inactive"
        } else {
            "pending"
        }
    }
}

/// `GROUP_KEY;NAME;HASH` where HASH covers kind, expression and labels.
fn rule_key(group_key: &str, config: &RuleConfig) -> String {
    let mut hasher = Sha256::new();
    let kind = match config.kind {
        RuleKind::Alert { .. } => "alert",
        RuleKind::Record { .. } => "record",
    };
    hasher.update(kind.as_bytes());
    hasher.update([0]);
    hasher.update(config.expr.as_bytes());
    for (name, value) in &config.labels {
        hasher.update([0]);
        hasher.update(name.as_bytes());
        hasher.update([0xff]);
        hasher.update(value.as_bytes());
    }
    let hex = crate::config::short_hex(&hasher.finalize());
    format!("{group_key};{};{hex}", config.name())
}

impl Group {
    pub fn new(config: RuleGroupConfig) -> Result<Group, RuleBuildError> {
        let key = config.key();
        let rules = config
            .rules
            .iter()
            .map(|rule| Rule::new(&key, rule.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Group {
            config,
            rules,
            last_evaluation_ms: None,
            evaluation_duration: Duration::ZERO,
        })
    }

    pub fn key(&self) -> String {
        self.config.key()
    }

    /// Takes over the state of rules that did not change from `old` (a reload).
    pub fn adopt(&mut self, old: &mut Group) {
        let mut by_key: HashMap<String, &mut Rule> = old
            .rules
            .iter_mut()
            .map(|rule| (rule.key.clone(), rule))
            .collect();
        for rule in &mut self.rules {
            if let Some(previous) = by_key.remove(&rule.key) {
                rule.active = std::mem::take(&mut previous.active);
                rule.health = previous.health;
                rule.last_error = previous.last_error.take();
                rule.last_evaluation_ms = previous.last_evaluation_ms;
                rule.evaluation_duration = previous.evaluation_duration;
                rule.previous_series = std::mem::take(&mut previous.previous_series);
            }
        }
        self.last_evaluation_ms = old.last_evaluation_ms;
        self.evaluation_duration = old.evaluation_duration;
    }

    /// Evaluates every rule at `t_ms`, in order; each rule's output is stored before
    /// the next rule runs, so a recording rule feeds the rules after it.
    pub fn evaluate(&mut self, context: &EvalContext, t_ms: i64) -> GroupOutcome {
        let started = Instant::now();
        let mut outcome = GroupOutcome::default();
        let limit = self.config.limit;
        for (position, rule) in self.rules.iter_mut().enumerate() {
            let rule_started = Instant::now();
            let mut output = Vec::new();
            let result = match &rule.config.kind {
                RuleKind::Alert { .. } => evaluate_alert(
                    rule,
                    context,
                    t_ms,
                    limit,
                    &mut output,
                    &mut outcome,
                    position,
                ),
                RuleKind::Record { name } => {
                    let name = name.clone();
                    evaluate_record(rule, &name, context, t_ms, limit, &mut output)
                }
            };
            match result {
                Ok(()) => {
                    rule.health = Health::Ok;
                    rule.last_error = None;
                }
                Err(message) => {
                    rule.health = Health::Err;
                    rule.last_error = Some(message);
                    outcome.failures += 1;
                }
            }
            write_output(rule, context.storage, t_ms, output, &mut outcome);
            rule.last_evaluation_ms = Some(t_ms);
            rule.evaluation_duration = rule_started.elapsed();
        }
        self.last_evaluation_ms = Some(t_ms);
        self.evaluation_duration = started.elapsed();
        outcome
    }

    /// Every active alert as the notifier takes it, resolved ones at `t_ms`: for a group
    /// that goes away at a reload.
    pub fn resolve_all(&mut self, t_ms: i64, generator_base: &str) -> GroupOutcome {
        let mut outcome = GroupOutcome::default();
        for (position, rule) in self.rules.iter_mut().enumerate() {
            if rule.active.is_empty() {
                continue;
            }
            outcome.changed_rules.push(position);
            let url = generator_url(generator_base, &rule.config.expr, rule.config.name());
            for (fingerprint, alert) in std::mem::take(&mut rule.active) {
                end_alert(&alert, fingerprint, t_ms, &url, &mut outcome);
            }
        }
        outcome
    }
}

fn run_query(context: &EvalContext, rule: &Rule, t_ms: i64) -> Result<Vec<(Labels, f64)>, String> {
    let steps = crate::promql::value::Steps::instant(t_ms);
    let result = crate::promql::evaluate(
        context.storage,
        &rule.config.expr,
        &rule.expr,
        &steps,
        false,
        &context.options,
    )
    .map_err(|error: QueryError| error.to_string())?;
    samples_of(result.value)
        .map_err(|kind| format!("rule result is not a vector or scalar: {kind}"))
}

/// An instant result as (labels, value) pairs; `Err` names the other kind of result.
fn samples_of(value: QueryValue) -> Result<Vec<(Labels, f64)>, &'static str> {
    match value {
        QueryValue::Vector(samples) => Ok(samples
            .into_iter()
            .map(|(labels, sample)| (labels, sample.v))
            .collect()),
        QueryValue::Scalar(_, value) => Ok(vec![(Labels::default(), value)]),
        QueryValue::Matrix(_) => Err("matrix"),
        QueryValue::String(..) => Err("string"),
    }
}

/// The `query` template function, through the same engine.
struct RuleQuery<'a> {
    context: &'a EvalContext<'a>,
    t_ms: i64,
}

impl TemplateQuery for RuleQuery<'_> {
    fn query(&self, expr: &str) -> Result<Vec<(Labels, f64)>, String> {
        let result =
            crate::promql::instant(self.context.storage, expr, self.t_ms, &self.context.options)
                .map_err(|error| error.to_string())?;
        samples_of(result.value)
            .map_err(|kind| format!("query: the result is a {kind}, not a vector or scalar"))
    }
}

#[allow(clippy::too_many_arguments)]
fn evaluate_alert(
    rule: &mut Rule,
    context: &EvalContext,
    t_ms: i64,
    limit: Option<usize>,
    output: &mut Vec<SeriesSamples>,
    outcome: &mut GroupOutcome,
    position: usize,
) -> Result<(), String> {
    let RuleKind::Alert {
        name,
        for_,
        keep_firing_for,
        ..
    } = &rule.config.kind
    else {
        return Ok(());
    };
    let (name, for_ms, keep_ms) = (
        name.clone(),
        for_.as_millis() as i64,
        keep_firing_for.as_millis() as i64,
    );
    let url = generator_url(context.external_url, &rule.config.expr, &name);
    let result = run_query(context, rule, t_ms);
    let samples = match result {
        Ok(samples) => samples,
        Err(message) => {
            // Prometheus keeps the alerts as they are when the query fails: a broken
            // query must not resolve (and re-fire) everything.
            for alert in rule.active.values() {
                if alert.state == AlertState::Firing {
                    outcome.alerts.push(to_alert(alert, None, &url));
                }
                output.extend(alert_series(alert, t_ms));
            }
            return Err(message);
        }
    };
    let query = RuleQuery { context, t_ms };
    let mut seen: HashMap<Fingerprint, (Labels, BTreeMap<String, String>, f64)> = HashMap::new();
    let mut template_error = None;
    for (series_labels, value) in samples {
        let data = TemplateData {
            labels: &series_labels,
            external_labels: context.external_labels,
            external_url: context.external_url,
            value,
            query: Some(&query),
        };
        let mut pairs: BTreeMap<String, String> = series_labels
            .iter()
            .filter(|label| label.name != METRIC_NAME)
            .map(|label| (label.name.clone(), label.value.clone()))
            .collect();
        for (label, template) in &rule.labels {
            match template.render(&data) {
                Ok(text) => {
                    pairs.insert(label.clone(), text);
                }
                Err(error) => {
                    template_error.get_or_insert_with(|| error.to_string());
                }
            }
        }
        pairs.insert(ALERTNAME.to_string(), name.clone());
        let mut annotations = BTreeMap::new();
        for (annotation, template) in &rule.annotations {
            match template.render(&data) {
                Ok(text) => {
                    annotations.insert(annotation.clone(), text);
                }
                Err(error) => {
                    annotations.insert(
                        annotation.clone(),
                        format!("<error expanding template: {error}>"),
                    );
                    template_error.get_or_insert_with(|| error.to_string());
                }
            }
        }
        let labels = Labels::new(pairs).map_err(|error| format!("alert labels: {error}"))?;
        let fingerprint = Fingerprint::of(&labels);
        if seen
            .insert(fingerprint, (labels, annotations, value))
            .is_some()
        {
            return Err(
                "vector contains metrics with the same labelset after applying alert labels".into(),
            );
        }
    }
    let mut changed = false;
    for (fingerprint, (labels, annotations, value)) in &seen {
        match rule.active.get_mut(fingerprint) {
            Some(alert) => {
                alert.value = *value;
                alert.annotations = annotations.clone();
                alert.labels = labels.clone();
                if alert.keep_firing_since_ms.take().is_some() {
                    changed = true;
                }
            }
            None => {
                let alert = ActiveAlert {
                    labels: labels.clone(),
                    annotations: annotations.clone(),
                    state: AlertState::Pending,
                    active_at_ms: t_ms,
                    fired_at_ms: None,
                    keep_firing_since_ms: None,
                    value: *value,
                };
                outcome.transitions.push(transition(
                    &alert,
                    *fingerprint,
                    HistoryKind::Pending,
                    t_ms,
                ));
                rule.active.insert(*fingerprint, alert);
                changed = true;
            }
        }
    }
    let mut gone = Vec::new();
    for (fingerprint, alert) in rule.active.iter_mut() {
        if seen.contains_key(fingerprint) {
            continue;
        }
        if alert.state == AlertState::Firing && keep_ms > 0 {
            let since = *alert.keep_firing_since_ms.get_or_insert_with(|| {
                changed = true;
                t_ms
            });
            if t_ms - since < keep_ms {
                continue;
            }
        }
        gone.push(*fingerprint);
    }
    for fingerprint in gone {
        if let Some(alert) = rule.active.remove(&fingerprint) {
            changed = true;
            end_alert(&alert, fingerprint, t_ms, &url, outcome);
        }
    }
    if let Some(limit) = limit
        && rule.active.len() > limit
    {
        let count = rule.active.len();
        for (fingerprint, alert) in std::mem::take(&mut rule.active) {
            end_alert(&alert, fingerprint, t_ms, &url, outcome);
        }
        outcome.changed_rules.push(position);
        return Err(format!("exceeded limit of {limit} with {count} alerts"));
    }
    for (fingerprint, alert) in rule.active.iter_mut() {
        if alert.state == AlertState::Pending && t_ms - alert.active_at_ms >= for_ms {
            alert.state = AlertState::Firing;
            alert.fired_at_ms = Some(t_ms);
            outcome
                .transitions
                .push(transition(alert, *fingerprint, HistoryKind::Firing, t_ms));
            changed = true;
        }
        if alert.state == AlertState::Firing {
            outcome.alerts.push(to_alert(alert, None, &url));
        }
        output.extend(alert_series(alert, t_ms));
    }
    if changed {
        outcome.changed_rules.push(position);
    }
    match template_error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn evaluate_record(
    rule: &mut Rule,
    name: &str,
    context: &EvalContext,
    t_ms: i64,
    limit: Option<usize>,
    output: &mut Vec<SeriesSamples>,
) -> Result<(), String> {
    let samples = run_query(context, rule, t_ms)?;
    if let Some(limit) = limit
        && samples.len() > limit
    {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            samples.len()
        ));
    }
    let mut seen = HashSet::with_capacity(samples.len());
    for (series_labels, value) in samples {
        let mut pairs: BTreeMap<String, String> = series_labels
            .iter()
            .map(|label| (label.name.clone(), label.value.clone()))
            .collect();
        pairs.insert(METRIC_NAME.to_string(), name.to_string());
        for (label, value) in &rule.config.labels {
            pairs.insert(label.clone(), value.clone());
        }
        let labels = Labels::new(pairs).map_err(|error| format!("recorded labels: {error}"))?;
        if !seen.insert(labels.clone()) {
            output.clear();
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        output.push(SeriesSamples {
            labels,
            samples: vec![Sample { t: t_ms, v: value }],
        });
    }
    Ok(())
}

/// `ALERTS` and `ALERTS_FOR_STATE` samples of an active alert.
fn alert_series(alert: &ActiveAlert, t_ms: i64) -> [SeriesSamples; 2] {
    let with = |name: &str, extra: Option<(&str, &str)>| {
        let mut labels: Vec<Label> = alert.labels.iter().cloned().collect();
        labels.push(Label {
            name: METRIC_NAME.into(),
            value: name.into(),
        });
        if let Some((label, value)) = extra {
            labels.retain(|existing| existing.name != label);
            labels.push(Label {
                name: label.into(),
                value: value.into(),
            });
        }
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        Labels::from_sorted_unchecked(labels)
    };
    [
        SeriesSamples {
            labels: with(
                ALERTS_METRIC,
                Some((ALERTSTATE_LABEL, alert.state.as_str())),
            ),
            samples: vec![Sample { t: t_ms, v: 1.0 }],
        },
        SeriesSamples {
            labels: with(ALERTS_FOR_STATE_METRIC, None),
            samples: vec![Sample {
                t: t_ms,
                v: alert.active_at_ms as f64 / 1000.0,
            }],
        },
    ]
}

/// Stores a rule's output, with stale markers for the series it wrote last time and
/// not now, so that graphs and `ALERTS` queries end where the data ended.
fn write_output(
    rule: &mut Rule,
    storage: &Storage,
    t_ms: i64,
    mut output: Vec<SeriesSamples>,
    outcome: &mut GroupOutcome,
) {
    let current: HashSet<Labels> = output.iter().map(|series| series.labels.clone()).collect();
    for labels in rule.previous_series.difference(&current) {
        output.push(SeriesSamples {
            labels: labels.clone(),
            samples: vec![Sample {
                t: t_ms,
                v: stale_nan(),
            }],
        });
    }
    rule.previous_series = current;
    if output.is_empty() {
        return;
    }
    match storage.append_from_rules(&output) {
        Ok(appended) => outcome.rejected += appended.rejected,
        Err(error) => {
            outcome.write_error.get_or_insert_with(|| error.to_string());
        }
    }
}

/// An alert that went away: a firing one resolves (the notifier hears of it once), a
/// pending one becomes inactive.
fn end_alert(
    alert: &ActiveAlert,
    fingerprint: Fingerprint,
    t_ms: i64,
    generator_url: &str,
    outcome: &mut GroupOutcome,
) {
    let event = if alert.state == AlertState::Firing {
        outcome
            .alerts
            .push(to_alert(alert, Some(t_ms), generator_url));
        HistoryKind::Resolved
    } else {
        HistoryKind::Inactive
    };
    outcome
        .transitions
        .push(transition(alert, fingerprint, event, t_ms));
}

fn to_alert(alert: &ActiveAlert, resolved_at_ms: Option<i64>, generator_url: &str) -> Alert {
    Alert {
        labels: alert.labels.clone(),
        annotations: alert.annotations.clone(),
        starts_at_ms: alert.active_at_ms,
        resolved_at_ms,
        generator_url: generator_url.to_string(),
    }
}

fn transition(
    alert: &ActiveAlert,
    fingerprint: Fingerprint,
    event: HistoryKind,
    t_ms: i64,
) -> HistoryEvent {
    HistoryEvent {
        t_ms,
        event,
        alertname: alert.labels.get(ALERTNAME).unwrap_or("").to_string(),
        fingerprint,
        labels: alert.labels.clone(),
        value: Some(alert.value),
        receiver: None,
        outcome: None,
        attempt: None,
        detail: None,
    }
}

/// A link to the expression on this tandem's explore page, which graphs it with its
/// threshold and shades where the alert fired.
pub fn generator_url(external_url: &str, expr: &str, alertname: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("expr", expr)
        .append_pair("alertname", alertname)
        .finish();
    format!("{}/explore?{query}", external_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::rules::{RuleConfig, RuleGroupConfig, RuleKind};
    use crate::storage::{Durability, StorageOptions};

    fn storage(dir: &std::path::Path) -> Storage {
        let mut options = StorageOptions::new(dir);
        options.tiers = vec![crate::storage::Tier {
            resolution_ms: None,
            retention: Duration::from_secs(1000 * 365 * 24 * 3600),
        }];
        Storage::open(options).expect("storage opens")
    }

    fn put(storage: &Storage, series: &[(&str, &str)], t: i64, v: f64) {
        let labels = Labels::new(series.iter().copied()).expect("valid labels");
        storage
            .append(
                &[SeriesSamples {
                    labels,
                    samples: vec![Sample { t, v }],
                }],
                Durability::Background,
            )
            .expect("appends");
    }

    fn group(rules: Vec<RuleConfig>, limit: Option<usize>) -> Group {
        Group::new(RuleGroupConfig {
            file: "rules/t.toml".into(),
            name: "t".into(),
            interval: Duration::from_secs(60),
            limit,
            rules,
            evaluate_on_ingest: true,
        })
        .expect("builds")
    }

    fn alert_rule(expr: &str, keep_firing_for: Duration) -> RuleConfig {
        RuleConfig {
            kind: RuleKind::Alert {
                name: "A".into(),
                for_: Duration::ZERO,
                keep_firing_for,
                annotations: vec![("summary".into(), "{{ $labels.x }} at {{ $value }}".into())],
            },
            expr: expr.into(),
            labels: vec![("severity".into(), "page".into())],
            line: 1,
        }
    }

    fn context<'a>(storage: &'a Storage, empty: &'a Labels) -> EvalContext<'a> {
        EvalContext {
            storage,
            options: EvalOptions::default(),
            external_labels: empty,
            external_url: "http://tandem",
        }
    }

    #[test]
    fn keep_firing_for_holds_a_gone_alert_then_resolves_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = storage(dir.path());
        let empty = Labels::default();
        let context = context(&storage, &empty);
        let mut group = group(vec![alert_rule("m > 1", Duration::from_secs(120))], None);
        put(&storage, &[("__name__", "m"), ("x", "a")], 0, 5.0);
        let outcome = group.evaluate(&context, 0);
        assert_eq!(outcome.alerts.len(), 1, "fires at once with for = 0s");
        assert_eq!(outcome.alerts[0].annotations["summary"], "a at 5");
        put(&storage, &[("__name__", "m"), ("x", "a")], 60_000, 0.0);
        // Gone at 60 s: kept firing (since 60 s) while less than 120 s have passed.
        for t in [60_000, 120_000, 170_000] {
            let outcome = group.evaluate(&context, t);
            assert_eq!(outcome.alerts.len(), 1, "at {t}");
            assert!(outcome.alerts[0].resolved_at_ms.is_none(), "at {t}");
            let alert = group.rules[0].active.values().next().expect("still active");
            assert_eq!(alert.keep_firing_since_ms, Some(60_000));
        }
        let outcome = group.evaluate(&context, 180_000);
        assert_eq!(outcome.alerts.len(), 1);
        assert_eq!(outcome.alerts[0].resolved_at_ms, Some(180_000));
        assert!(group.rules[0].active.is_empty());
        let events: Vec<HistoryKind> = outcome
            .transitions
            .iter()
            .map(|event| event.event)
            .collect();
        assert_eq!(events, [HistoryKind::Resolved]);
    }

    #[test]
    fn a_rule_over_its_limit_fails_and_drops_its_alerts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = storage(dir.path());
        let empty = Labels::default();
        let context = context(&storage, &empty);
        let mut group = group(vec![alert_rule("m > 1", Duration::ZERO)], Some(1));
        put(&storage, &[("__name__", "m"), ("x", "a")], 0, 5.0);
        assert_eq!(group.evaluate(&context, 0).failures, 0);
        put(&storage, &[("__name__", "m"), ("x", "b")], 1_000, 5.0);
        let outcome = group.evaluate(&context, 1_000);
        assert_eq!(outcome.failures, 1);
        assert_eq!(group.rules[0].health, Health::Err);
        assert_eq!(
            group.rules[0].last_error.as_deref(),
            Some("exceeded limit of 1 with 2 alerts")
        );
        assert!(group.rules[0].active.is_empty());
        // The firing alert is resolved for the notifier; the new pending one just ends.
        assert_eq!(outcome.alerts.len(), 1);
        assert!(outcome.alerts[0].resolved_at_ms.is_some());
    }

    #[test]
    fn recorded_series_are_written_and_marked_stale_when_they_vanish() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = storage(dir.path());
        let empty = Labels::default();
        let context = context(&storage, &empty);
        let record = RuleConfig {
            kind: RuleKind::Record {
                name: "job:m:sum".into(),
            },
            expr: "sum by (job) (m)".into(),
            labels: vec![("source".into(), "rule".into())],
            line: 1,
        };
        // The alert reads what the recording rule above it wrote at the same time.
        let mut group = group(
            vec![record, alert_rule("job:m:sum > 4", Duration::ZERO)],
            None,
        );
        put(&storage, &[("__name__", "m"), ("job", "j")], 0, 5.0);
        let outcome = group.evaluate(&context, 0);
        assert_eq!(outcome.failures, 0);
        assert_eq!(outcome.alerts.len(), 1, "the recorded series fed the alert");
        let result = crate::promql::instant(&storage, "job:m:sum", 0, &EvalOptions::default())
            .expect("query");
        let QueryValue::Vector(samples) = result.value else {
            panic!("a vector")
        };
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].0.get("source"), Some("rule"));
        assert_eq!(samples[0].1.v, 5.0);
        // The input goes stale: the recorded series ends with a stale marker, not a
        // value that lingers for the lookback window.
        put(
            &storage,
            &[("__name__", "m"), ("job", "j")],
            10_000,
            stale_nan(),
        );
        group.evaluate(&context, 20_000);
        let later = crate::promql::instant(&storage, "job:m:sum", 30_000, &EvalOptions::default())
            .expect("query");
        assert!(matches!(later.value, QueryValue::Vector(ref samples) if samples.is_empty()));
        let alerts = crate::promql::instant(&storage, "ALERTS", 30_000, &EvalOptions::default())
            .expect("query");
        assert!(matches!(alerts.value, QueryValue::Vector(ref samples) if samples.is_empty()));
    }

    #[test]
    fn a_failing_query_keeps_the_alerts_it_had() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = storage(dir.path());
        let empty = Labels::default();
        let mut context = context(&storage, &empty);
        let mut group = group(vec![alert_rule("m > 1", Duration::ZERO)], None);
        put(&storage, &[("__name__", "m"), ("x", "a")], 0, 5.0);
        group.evaluate(&context, 0);
        context.options.samples_max = 0;
        let outcome = group.evaluate(&context, 1_000);
        assert_eq!(outcome.failures, 1);
        assert_eq!(
            group.rules[0].active.len(),
            1,
            "not resolved by a broken query"
        );
        assert!(
            outcome
                .alerts
                .iter()
                .all(|alert| alert.resolved_at_ms.is_none())
        );
    }
}
