//! `rules/*.toml` and the `[rules]` section of tandem.toml: as written and as validated.
//! Owns: rule keys, defaults and checks — PromQL expressions parse and have the right
//! type, templates parse, names are valid and unique — each error at file:line:col,
//! PromQL and template errors pointing inside the expression or template.
//! Does not: evaluate anything (`alert::rules` does).
//!
//! ```toml
//! [[group]]
//! name = "host"
//! interval = "15s"
//!
//! [[group.alert]]
//! alert = "FilesystemFillsWithin4h"
//! expr = 'predict_linear(node_filesystem_avail_bytes[1h], 4*3600) < 0'
//! for = "5m"
//! labels = { severity = "page" }
//! annotations = { summary = "{{ $labels.mountpoint }} fills within 4h" }
//!
//! [[group.record]]
//! record = "instance:node_cpu_busy:rate5m"
//! expr = 'sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))'
//! ```
//!
//! Alerting and recording rules of a group are evaluated in the order they appear in
//! the file (as Prometheus evaluates a group's list), whichever array they belong to,
//! so a recording rule can feed an alert below it in the same group.

use super::units::{ConfigDuration, format_duration};
use super::validate::Checker;
use crate::alert::template::Template;
use crate::model::{METRIC_NAME, check_label_name, check_metric_name};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use toml::Spanned;

/// Rule groups one config may hold.
pub const GROUPS_MAX: usize = 1_000;
/// Rules one group may hold.
pub const RULES_PER_GROUP_MAX: usize = 1_000;
/// Shortest group interval: below it evaluation cost outgrows what it buys, and
/// evaluation after new data already reacts faster.
pub const INTERVAL_MIN: Duration = Duration::from_secs(1);
/// Labels and annotations one rule may set.
pub const RULE_LABELS_MAX: usize = 64;

/// `[rules]` in tandem.toml.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RulesSection {
    /// Interval of a group that sets none, e.g. `15s` (the default).
    #[serde(default = "default_evaluation_interval")]
    pub evaluation_interval: Spanned<ConfigDuration>,
    /// Also evaluate a group soon after samples arrive for a series it reads (true by
    /// default): a breach is noticed within a fraction of a second of ingest.
    #[serde(default = "default_true")]
    pub evaluate_on_ingest: bool,
    /// How long to wait for more samples after the first one that triggers a group,
    /// so that one scrape evaluates a group once, e.g. `50ms` (the default).
    #[serde(default = "default_ingest_debounce")]
    pub ingest_debounce: Spanned<ConfigDuration>,
    /// Labels added to every alert sent and visible to templates as `$externalLabels`.
    #[serde(default)]
    pub external_labels: BTreeMap<Spanned<String>, Spanned<String>>,
}

fn default_true() -> bool {
    true
}

fn default_evaluation_interval() -> Spanned<ConfigDuration> {
    Spanned::new(0..0, ConfigDuration(Duration::from_secs(15)))
}

fn default_ingest_debounce() -> Spanned<ConfigDuration> {
    Spanned::new(0..0, ConfigDuration(Duration::from_millis(50)))
}

impl Default for RulesSection {
    fn default() -> Self {
        RulesSection {
            evaluation_interval: default_evaluation_interval(),
            evaluate_on_ingest: true,
            ingest_debounce: default_ingest_debounce(),
            external_labels: BTreeMap::new(),
        }
    }
}

/// `[rules]` after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RulesConfig {
    pub evaluation_interval: Duration,
    pub evaluate_on_ingest: bool,
    pub ingest_debounce: Duration,
    /// Sorted by name.
    pub external_labels: Vec<(String, String)>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            evaluation_interval: Duration::from_secs(15),
            evaluate_on_ingest: true,
            ingest_debounce: Duration::from_millis(50),
            external_labels: Vec::new(),
        }
    }
}

/// A rule file as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    #[serde(default)]
    pub group: Vec<GroupSection>,
}

/// `[[group]]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupSection {
    /// Unique within the file.
    pub name: Spanned<String>,
    /// How often the group is evaluated; default `[rules] evaluation_interval`.
    #[serde(default)]
    pub interval: Option<Spanned<ConfigDuration>>,
    /// Most alerts an alerting rule, or series a recording rule, may produce; past it
    /// the rule fails (as Prometheus' `limit`). 0 or absent: no limit.
    #[serde(default)]
    pub limit: Option<Spanned<u64>>,
    #[serde(default)]
    pub alert: Vec<AlertRuleSection>,
    #[serde(default)]
    pub record: Vec<RecordRuleSection>,
}

/// `[[group.alert]]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleSection {
    /// The `alertname` label.
    pub alert: Spanned<String>,
    /// PromQL; each series of its result is one alert.
    pub expr: Spanned<String>,
    /// How long the result must hold before the alert fires; default 0s.
    #[serde(rename = "for", default)]
    pub for_: Option<Spanned<ConfigDuration>>,
    /// How long the alert keeps firing after the result stops holding; default 0s.
    #[serde(default)]
    pub keep_firing_for: Option<Spanned<ConfigDuration>>,
    /// Labels added to each alert; values are templates.
    #[serde(default)]
    pub labels: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Annotations of each alert; values are templates.
    #[serde(default)]
    pub annotations: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// `[[group.record]]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecordRuleSection {
    /// The metric name of the series written.
    pub record: Spanned<String>,
    pub expr: Spanned<String>,
    /// Labels set on each series written.
    #[serde(default)]
    pub labels: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// One group after validation. Equal groups evaluate identically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleGroupConfig {
    /// The rule file, relative to the config directory: `rules/host.toml`.
    pub file: String,
    pub name: String,
    pub interval: Duration,
    /// `None`: no limit.
    pub limit: Option<usize>,
    /// In file order.
    pub rules: Vec<RuleConfig>,
    /// Whether ingest into a series a rule reads wakes the group (with `[rules]
    /// evaluate_on_ingest`). Groups generated from SLOs are not: their windows are
    /// minutes to days long, and their interval is soon enough.
    pub evaluate_on_ingest: bool,
}

impl RuleGroupConfig {
    /// `FILE;NAME`, as Prometheus identifies a group.
    pub fn key(&self) -> String {
        format!("{};{}", self.file, self.name)
    }
}

/// One rule after validation: the expression parses, the templates parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleConfig {
    pub kind: RuleKind,
    pub expr: String,
    /// Sorted by name. Alerting rules: templates; recording rules: plain values.
    pub labels: Vec<(String, String)>,
    /// Line of the rule's name in its file, for messages.
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleKind {
    Alert {
        name: String,
        for_: Duration,
        keep_firing_for: Duration,
        /// Sorted by name; values are templates.
        annotations: Vec<(String, String)>,
    },
    Record {
        name: String,
    },
}

impl RuleConfig {
    /// The alert name or recorded metric name.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Alert { name, .. } | RuleKind::Record { name } => name,
        }
    }
}

impl Checker<'_> {
    /// `[rules]` in tandem.toml.
    pub(super) fn rules_section(&mut self, section: &RulesSection) -> RulesConfig {
        let evaluation_interval = section.evaluation_interval.get_ref().0;
        if evaluation_interval < INTERVAL_MIN {
            self.error(
                section.evaluation_interval.span(),
                format!(
                    "rules.evaluation_interval: at least {}",
                    format_duration(INTERVAL_MIN)
                ),
            );
        }
        let ingest_debounce = section.ingest_debounce.get_ref().0;
        if ingest_debounce > Duration::from_secs(1) {
            self.error(
                section.ingest_debounce.span(),
                "rules.ingest_debounce: at most 1s (alerts are meant to be fast)",
            );
        }
        let external_labels =
            self.label_map(&section.external_labels, "rules.external_labels", false);
        RulesConfig {
            evaluation_interval,
            evaluate_on_ingest: section.evaluate_on_ingest,
            ingest_debounce,
            external_labels,
        }
    }

    /// One `rules/*.toml` file (the checker's source). Groups whose interval is unset
    /// get `Duration::ZERO`, replaced by `[rules] evaluation_interval` in `finish_groups`.
    pub(super) fn rule_file(&mut self) -> Vec<RuleGroupConfig> {
        let Some(source) = self.source() else {
            return Vec::new();
        };
        let (parsed, found) = super::file::load_partial::<RuleFile>(source);
        self.extend(found);
        let Some(parsed) = parsed else {
            return Vec::new();
        };
        let mut names = HashMap::new();
        let mut groups = Vec::with_capacity(parsed.group.len());
        for group in &parsed.group {
            self.unique(&mut names, &group.name, "group");
            groups.push(self.rule_group(group, &source.relative_path));
        }
        groups
    }

    fn rule_group(&mut self, group: &GroupSection, file: &str) -> RuleGroupConfig {
        let interval = match &group.interval {
            Some(interval) => {
                if interval.get_ref().0 < INTERVAL_MIN {
                    self.error(
                        interval.span(),
                        format!("group.interval: at least {}", format_duration(INTERVAL_MIN)),
                    );
                }
                interval.get_ref().0
            }
            None => Duration::ZERO,
        };
        let limit = group
            .limit
            .as_ref()
            .map(|limit| *limit.get_ref() as usize)
            .filter(|limit| *limit > 0);
        let count = group.alert.len() + group.record.len();
        if count > RULES_PER_GROUP_MAX {
            self.error(
                group.name.span(),
                format!(
                    "group {:?}: {count} rules, limit is {RULES_PER_GROUP_MAX}",
                    group.name.get_ref()
                ),
            );
        }
        // (position in file, rule): both arrays merged back into file order.
        let mut rules: Vec<(usize, RuleConfig)> = Vec::with_capacity(count);
        let mut alert_names: HashMap<String, usize> = HashMap::new();
        for alert in &group.alert {
            let name = alert.alert.get_ref();
            if name.is_empty() {
                self.error(alert.alert.span(), "alert: must not be empty");
            }
            *alert_names.entry(name.clone()).or_default() += 1;
            self.rule_expr(&alert.expr);
            let labels = self.label_map(&alert.labels, "labels", true);
            let annotations = self.annotation_map(&alert.annotations);
            let duration = |value: &Option<Spanned<ConfigDuration>>| {
                value
                    .as_ref()
                    .map_or(Duration::ZERO, |value| value.get_ref().0)
            };
            rules.push((
                alert.alert.span().start,
                RuleConfig {
                    kind: RuleKind::Alert {
                        name: name.clone(),
                        for_: duration(&alert.for_),
                        keep_firing_for: duration(&alert.keep_firing_for),
                        annotations,
                    },
                    expr: alert.expr.get_ref().clone(),
                    labels,
                    line: self.line_of(alert.alert.span().start),
                },
            ));
        }
        for record in &group.record {
            let name = record.record.get_ref();
            if let Err(error) = check_metric_name(name) {
                self.error(record.record.span(), format!("record: {error}"));
            }
            self.rule_expr(&record.expr);
            let labels = self.label_map(&record.labels, "labels", false);
            rules.push((
                record.record.span().start,
                RuleConfig {
                    kind: RuleKind::Record { name: name.clone() },
                    expr: record.expr.get_ref().clone(),
                    labels,
                    line: self.line_of(record.record.span().start),
                },
            ));
        }
        rules.sort_by_key(|(position, _)| *position);
        RuleGroupConfig {
            file: file.to_string(),
            name: group.name.get_ref().clone(),
            interval,
            limit,
            rules: rules.into_iter().map(|(_, rule)| rule).collect(),
            evaluate_on_ingest: true,
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.source().map_or(0, |source| {
            super::file::line_column(&source.content, offset).0
        })
    }

    /// Parses a rule's PromQL; an error points at its place inside the expression.
    fn rule_expr(&mut self, expr: &Spanned<String>) {
        if expr.get_ref().trim().is_empty() {
            self.error(expr.span(), "expr: must not be empty");
            return;
        }
        if let Some(parsed) = self.promql(expr, "expr") {
            use crate::promql::ast::ValueType;
            let value_type = parsed.value_type();
            if !matches!(value_type, ValueType::Vector | ValueType::Scalar) {
                self.error(
                    expr.span(),
                    format!(
                        "expr: a rule's expression must give an instant vector or a scalar, this gives a {}",
                        value_type.name()
                    ),
                );
            }
        }
    }

    /// Labels of a rule (or external labels): names valid, values templates when
    /// `templated`.
    fn label_map(
        &mut self,
        labels: &BTreeMap<Spanned<String>, Spanned<String>>,
        key: &str,
        templated: bool,
    ) -> Vec<(String, String)> {
        if labels.len() > RULE_LABELS_MAX
            && let Some((name, _)) = labels.iter().next()
        {
            self.error(
                name.span(),
                format!("{key}: {} labels, limit is {RULE_LABELS_MAX}", labels.len()),
            );
        }
        let mut result = Vec::with_capacity(labels.len());
        for (name, value) in labels {
            if let Err(error) = check_label_name(name.get_ref()) {
                self.error(name.span(), format!("{key}: {error}"));
            } else if name.get_ref() == METRIC_NAME {
                self.error(
                    name.span(),
                    format!("{key}: {METRIC_NAME} cannot be set here"),
                );
            }
            if templated {
                self.template(value, &format!("{key}.{}", name.get_ref()));
            }
            result.push((name.get_ref().clone(), value.get_ref().clone()));
        }
        result
    }

    fn annotation_map(
        &mut self,
        annotations: &BTreeMap<Spanned<String>, Spanned<String>>,
    ) -> Vec<(String, String)> {
        let mut result = Vec::with_capacity(annotations.len());
        for (name, value) in annotations {
            if let Err(error) = check_label_name(name.get_ref()) {
                self.error(name.span(), format!("annotations: {error}"));
            }
            self.template(value, &format!("annotations.{}", name.get_ref()));
            result.push((name.get_ref().clone(), value.get_ref().clone()));
        }
        result
    }

    fn template(&mut self, text: &Spanned<String>, key: &str) {
        if let Err(error) = Template::parse(key, text.get_ref()) {
            let offset = self.offset_in_string(text, error.offset.unwrap_or(0));
            // The message names the key (the template's name) and its own line:column.
            self.error(offset..offset, error.message);
        }
    }
}

/// Sets the default interval on groups that have none.
pub(super) fn finish_groups(groups: &mut [RuleGroupConfig], rules: &RulesConfig) {
    for group in groups {
        if group.interval.is_zero() {
            group.interval = rules.evaluation_interval;
        }
    }
}

/// Reads and checks rule files outside a config directory (`tandem test-rules`), with
/// `evaluation_interval` for groups that set none.
pub fn load_rule_files(
    paths: &[std::path::PathBuf],
    evaluation_interval: Duration,
) -> Result<Vec<RuleGroupConfig>, super::ConfigError> {
    let mut diagnostics = Vec::new();
    let mut groups = Vec::new();
    for path in paths {
        let display = path.display().to_string();
        let content = match std::fs::read_to_string(path) {
            Ok(content) => content,
            Err(error) => {
                diagnostics.push(super::Diagnostic {
                    file: display,
                    line: 1,
                    column: 1,
                    message: format!("cannot read: {error}"),
                });
                continue;
            }
        };
        let source = super::SourceFile {
            relative_path: display.clone(),
            display_path: display,
            content,
        };
        let base_dir = path.parent().unwrap_or(std::path::Path::new("."));
        let mut checker = Checker::new(base_dir, &source);
        groups.extend(checker.rule_file());
        diagnostics.extend(checker.into_diagnostics());
    }
    if !diagnostics.is_empty() {
        return Err(super::ConfigError { diagnostics });
    }
    finish_groups(
        &mut groups,
        &RulesConfig {
            evaluation_interval,
            ..RulesConfig::default()
        },
    );
    Ok(groups)
}
