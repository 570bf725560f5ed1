//! `slos/*.toml`: service-level objectives as written and as validated.
//! Owns: SLO keys and checks — names valid and unique across files, objective and
//! window in range, the SLI given one way (good/total selectors, or a classic
//! histogram and a threshold), selectors that are plain instant-vector selectors —
//! each error at file:line:col, PromQL errors pointing inside the selector.
//! Does not: generate rules or compute budgets (`crate::slo` does).
//!
//! ```toml
//! [[slo]]
//! name = "api-availability"
//! description = "API requests answered without a server error"
//! objective = 99.9                      # percent of good events
//! window = "30d"
//! good = 'http_requests_total{job="api", code!~"5.."}'
//! total = 'http_requests_total{job="api"}'
//! group_by = ["service"]                # one SLO per service
//! labels = { team = "platform" }        # on the generated series and alerts
//!
//! [[slo]]
//! name = "api-latency"
//! objective = 99
//! window = "28d"
//! histogram = 'http_request_duration_seconds{job="api"}'   # without _bucket
//! threshold = 0.25                      # good: requests in buckets le <= 0.25
//! ```

use super::units::{ConfigDuration, format_duration};
use super::validate::Checker;
use crate::model::{METRIC_NAME, Matcher, check_label_name};
use crate::promql::ast::Expr;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use toml::Spanned;

/// SLOs one config may hold: each generates a rule group of 15 rules.
pub const SLOS_MAX: usize = 200;
/// Shortest SLO window: the slowest burn-rate alert looks back 3 days, and shorter
/// windows make a budget too small to reason about.
pub const WINDOW_MIN: Duration = Duration::from_secs(86_400);
/// Longest SLO window: a year and a month, enough for a yearly objective.
pub const WINDOW_MAX: Duration = Duration::from_secs(400 * 86_400);
/// Longest SLO name: it is a label value on every generated series.
pub const NAME_BYTES_MAX: usize = 100;
/// Labels the generated series and alerts set themselves.
pub const RESERVED_LABELS: [&str; 7] = [
    METRIC_NAME,
    "slo",
    "window",
    "severity",
    "long_window",
    "short_window",
    "burn_rate_threshold",
];

/// An SLO file as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloFile {
    #[serde(default)]
    pub slo: Vec<SloSection>,
}

/// `[[slo]]` as written.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloSection {
    /// Unique across every SLO file; letters, digits, `_`, `-`, `.` and `:`.
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<Spanned<String>>,
    /// Percent of events that must be good, e.g. `99.9`.
    pub objective: Spanned<f64>,
    /// The rolling window the objective holds over, e.g. `30d`.
    pub window: Spanned<ConfigDuration>,
    /// A selector of the counters of good events.
    #[serde(default)]
    pub good: Option<Spanned<String>>,
    /// A selector of the counters of all events.
    #[serde(default)]
    pub total: Option<Spanned<String>>,
    /// A selector of a classic histogram by its base name (its `_bucket` series are
    /// read).
    #[serde(default)]
    pub histogram: Option<Spanned<String>>,
    /// Seconds: events in buckets with `le` up to this are good. Must be a bucket
    /// boundary of the histogram.
    #[serde(default)]
    pub threshold: Option<Spanned<f64>>,
    /// Label names: one SLO is evaluated per combination of their values.
    #[serde(default)]
    pub group_by: Vec<Spanned<String>>,
    /// Labels set on every generated series and alert.
    #[serde(default)]
    pub labels: BTreeMap<Spanned<String>, Spanned<String>>,
    /// How often the generated rules run; default `[rules] evaluation_interval`.
    #[serde(default)]
    pub interval: Option<Spanned<ConfigDuration>>,
}

/// How an SLO counts good and total events.
#[derive(Clone, Debug, PartialEq)]
pub enum Sli {
    /// Two counter selectors, as written (checked to parse).
    Events { good: String, total: String },
    /// A classic histogram: `metric{matchers}` names its base; good events are those
    /// in the bucket `le = threshold`, total those in `le = +Inf`.
    Latency {
        metric: String,
        /// The selector's matchers other than the name, rendered.
        matchers: Vec<String>,
        threshold: f64,
    },
}

/// One SLO after validation.
#[derive(Clone, Debug, PartialEq)]
pub struct SloConfig {
    /// The SLO file, relative to the config directory: `slos/api.toml`.
    pub file: String,
    /// Line of the SLO's name in its file, for messages.
    pub line: usize,
    pub name: String,
    pub description: String,
    /// Percent, as written: `99.9`.
    pub objective_percent: f64,
    pub window: Duration,
    pub sli: Sli,
    /// Sorted as written.
    pub group_by: Vec<String>,
    /// Sorted by name.
    pub labels: Vec<(String, String)>,
    /// `Duration::ZERO` until `finish` sets the `[rules]` default.
    pub interval: Duration,
}

impl SloConfig {
    /// The fraction of events allowed to be bad: `0.001` for 99.9 %, rounded to 11
    /// significant digits so that `100 - 99.9` reads as the 0.1 the operator wrote.
    pub fn budget_fraction(&self) -> f64 {
        round_significant((100.0 - self.objective_percent) / 100.0)
    }

    /// The fraction of events that must be good: `0.999` for 99.9 %.
    pub fn objective_ratio(&self) -> f64 {
        round_significant(self.objective_percent / 100.0)
    }
}

/// `value` with 11 significant digits: undoes the binary noise of decimal arithmetic.
fn round_significant(value: f64) -> f64 {
    format!("{value:.10e}").parse().unwrap_or(value)
}

impl Checker<'_> {
    /// One `slos/*.toml` file (the checker's source).
    pub(super) fn slo_file(&mut self) -> Vec<SloConfig> {
        let Some(source) = self.source() else {
            return Vec::new();
        };
        let (parsed, found) = super::file::load_partial::<SloFile>(source);
        self.extend(found);
        let Some(parsed) = parsed else {
            return Vec::new();
        };
        let mut names = HashMap::new();
        let mut slos = Vec::with_capacity(parsed.slo.len());
        for section in &parsed.slo {
            self.unique(&mut names, &section.name, "slo");
            if let Some(slo) = self.slo(section, &source.relative_path) {
                slos.push(slo);
            }
        }
        slos
    }

    fn slo(&mut self, section: &SloSection, file: &str) -> Option<SloConfig> {
        let name = section.name.get_ref();
        if name.len() > NAME_BYTES_MAX {
            self.error(
                section.name.span(),
                format!("slo.name: {} bytes, limit is {NAME_BYTES_MAX}", name.len()),
            );
        } else if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
        {
            self.error(
                section.name.span(),
                format!(
                    "slo.name: {bad:?} is not allowed; use letters, digits, '_', '-', '.' and ':'"
                ),
            );
        }
        let objective = *section.objective.get_ref();
        if !(objective > 0.0 && objective < 100.0) {
            self.error(
                section.objective.span(),
                format!(
                    "slo.objective: a percentage above 0 and below 100, e.g. 99.9 (got {objective})"
                ),
            );
        }
        let window = section.window.get_ref().0;
        if window < WINDOW_MIN || window > WINDOW_MAX {
            self.error(
                section.window.span(),
                format!(
                    "slo.window: between {} and {}, e.g. \"30d\"",
                    crate::slo::window_label(WINDOW_MIN),
                    crate::slo::window_label(WINDOW_MAX)
                ),
            );
        } else if !window.as_secs().is_multiple_of(3600) {
            self.error(
                section.window.span(),
                "slo.window: a whole number of hours, so that rollup tiers can serve it",
            );
        }
        let sli = self.sli(section);
        let mut group_by = Vec::with_capacity(section.group_by.len());
        for label in &section.group_by {
            let text = label.get_ref();
            if let Err(error) = check_label_name(text) {
                self.error(label.span(), format!("slo.group_by: {error}"));
            } else if RESERVED_LABELS.contains(&text.as_str()) || text == "le" {
                self.error(
                    label.span(),
                    format!("slo.group_by: {text:?} is set by the generated series"),
                );
            } else if group_by.contains(text) {
                self.error(label.span(), format!("slo.group_by: {text:?} given twice"));
            }
            group_by.push(text.clone());
        }
        let mut labels = Vec::with_capacity(section.labels.len());
        if section.labels.len() > super::rules::RULE_LABELS_MAX
            && let Some((first, _)) = section.labels.iter().next()
        {
            self.error(
                first.span(),
                format!(
                    "slo.labels: {} labels, limit is {}",
                    section.labels.len(),
                    super::rules::RULE_LABELS_MAX
                ),
            );
        }
        for (label, value) in &section.labels {
            let text = label.get_ref();
            if let Err(error) = check_label_name(text) {
                self.error(label.span(), format!("slo.labels: {error}"));
            } else if RESERVED_LABELS.contains(&text.as_str()) {
                self.error(
                    label.span(),
                    format!("slo.labels: {text:?} is set by the generated series and alerts"),
                );
            } else if group_by.contains(text) {
                self.error(
                    label.span(),
                    format!("slo.labels: {text:?} is also in group_by"),
                );
            }
            labels.push((text.clone(), value.get_ref().clone()));
        }
        let interval = match &section.interval {
            Some(interval) => {
                if interval.get_ref().0 < super::rules::INTERVAL_MIN {
                    self.error(
                        interval.span(),
                        format!(
                            "slo.interval: at least {}",
                            format_duration(super::rules::INTERVAL_MIN)
                        ),
                    );
                }
                interval.get_ref().0
            }
            None => Duration::ZERO,
        };
        Some(SloConfig {
            file: file.to_string(),
            line: self.line_of_offset(section.name.span().start),
            name: name.clone(),
            description: section
                .description
                .as_ref()
                .map(|text| text.get_ref().clone())
                .unwrap_or_default(),
            objective_percent: objective,
            window,
            sli: sli?,
            group_by,
            labels,
            interval,
        })
    }

    /// The SLI: good/total or histogram/threshold, each selector plain.
    fn sli(&mut self, section: &SloSection) -> Option<Sli> {
        let events = section.good.is_some() || section.total.is_some();
        let latency = section.histogram.is_some() || section.threshold.is_some();
        let name_span = section.name.span();
        // Where a latency key is written (the histogram's, else the threshold's).
        let latency_span = section
            .histogram
            .as_ref()
            .map(Spanned::span)
            .or(section.threshold.as_ref().map(Spanned::span))
            .unwrap_or(name_span.clone());
        match (events, latency) {
            (true, true) => {
                self.error(
                    latency_span,
                    "slo: give good and total, or histogram and threshold, not both",
                );
                None
            }
            (false, false) => {
                self.error(
                    name_span,
                    "slo: no SLI; give good and total (event counters), or histogram and threshold (latency)",
                );
                None
            }
            (true, false) => {
                let (Some(good), Some(total)) = (&section.good, &section.total) else {
                    let span = section
                        .good
                        .as_ref()
                        .or(section.total.as_ref())
                        .map_or(name_span, Spanned::span);
                    self.error(span, "slo: good and total go together; give both");
                    return None;
                };
                let good_ok = self.plain_selector(good, "slo.good").is_some();
                let total_ok = self.plain_selector(total, "slo.total").is_some();
                (good_ok && total_ok).then(|| Sli::Events {
                    good: good.get_ref().trim().to_string(),
                    total: total.get_ref().trim().to_string(),
                })
            }
            (false, true) => {
                let (Some(histogram), Some(threshold)) = (&section.histogram, &section.threshold)
                else {
                    self.error(
                        latency_span,
                        "slo: histogram and threshold go together; give both",
                    );
                    return None;
                };
                let value = *threshold.get_ref();
                if !(value.is_finite() && value > 0.0) {
                    self.error(
                        threshold.span(),
                        "slo.threshold: a positive number of seconds, a bucket boundary (le) of the histogram",
                    );
                }
                let selector = self.plain_selector(histogram, "slo.histogram")?;
                let Some(metric) = selector.name.clone() else {
                    self.error(
                        histogram.span(),
                        "slo.histogram: name the histogram before the braces, e.g. 'http_request_duration_seconds{job=\"api\"}'",
                    );
                    return None;
                };
                if let Some(base) = metric.strip_suffix("_bucket") {
                    self.error(
                        histogram.span(),
                        format!(
                            "slo.histogram: name the histogram without _bucket ({base:?}); tandem reads its _bucket series"
                        ),
                    );
                    return None;
                }
                let matchers: Vec<Matcher> = selector
                    .matchers
                    .into_iter()
                    .filter(|matcher| matcher.name != METRIC_NAME)
                    .collect();
                if let Some(le) = matchers.iter().find(|matcher| matcher.name == "le") {
                    self.error(
                        histogram.span(),
                        format!("slo.histogram: {le} is not allowed; threshold picks the bucket"),
                    );
                    return None;
                }
                Some(Sli::Latency {
                    metric,
                    matchers: matchers.iter().map(ToString::to_string).collect(),
                    threshold: value,
                })
            }
        }
    }

    /// A selector without range, offset or `@`: what the SLO takes rates of itself.
    fn plain_selector(
        &mut self,
        text: &Spanned<String>,
        key: &str,
    ) -> Option<crate::promql::ast::Selector> {
        let parsed = self.promql(text, key)?;
        let mut expr = &parsed;
        while let Expr::Paren { expr: inner, .. } = expr {
            expr = inner;
        }
        match expr {
            Expr::Selector(selector) if selector.offset == 0 && selector.at.is_none() => {
                Some((**selector).clone())
            }
            Expr::Selector(_) => {
                self.error(
                    text.span(),
                    format!("{key}: no offset or @ here; the SLO picks its windows itself"),
                );
                None
            }
            _ => {
                self.error(
                    text.span(),
                    format!(
                        "{key}: a series selector such as 'http_requests_total{{code!~\"5..\"}}' (tandem takes its rate over every window itself)"
                    ),
                );
                None
            }
        }
    }

    fn line_of_offset(&self, offset: usize) -> usize {
        self.source().map_or(0, |source| {
            super::file::line_column(&source.content, offset).0
        })
    }
}

/// Checks what spans files: names unique across every SLO file and the count limit.
/// Sets the default interval. Returns the diagnostics found.
pub(super) fn finish(
    slos: &mut [SloConfig],
    files: &[super::SourceFile],
    evaluation_interval: Duration,
) -> Vec<super::Diagnostic> {
    let mut diagnostics = Vec::new();
    let display = |relative: &str| {
        files
            .iter()
            .find(|file| file.relative_path == relative)
            .map_or(relative.to_string(), |file| file.display_path.clone())
    };
    let mut seen: HashMap<&str, (&str, usize)> = HashMap::new();
    for slo in slos.iter() {
        match seen.get(slo.name.as_str()) {
            Some((file, line)) if *file != slo.file => diagnostics.push(super::Diagnostic {
                file: display(&slo.file),
                line: slo.line,
                column: 1,
                message: format!(
                    "slo.name: duplicate name {:?} (first defined in {} at line {line})",
                    slo.name,
                    display(file)
                ),
            }),
            Some(_) => {}
            None => {
                seen.insert(&slo.name, (&slo.file, slo.line));
            }
        }
    }
    if slos.len() > SLOS_MAX
        && let Some(extra) = slos.get(SLOS_MAX)
    {
        diagnostics.push(super::Diagnostic {
            file: display(&extra.file),
            line: extra.line,
            column: 1,
            message: format!("{} SLOs, limit is {SLOS_MAX}", slos.len()),
        });
    }
    for slo in slos {
        if slo.interval.is_zero() {
            slo.interval = evaluation_interval;
        }
    }
    diagnostics
}

/// Reads and checks SLO files outside a config directory (`tandem test-rules`).
pub fn load_slo_files(
    paths: &[std::path::PathBuf],
    evaluation_interval: Duration,
) -> Result<Vec<SloConfig>, super::ConfigError> {
    let mut diagnostics = Vec::new();
    let mut slos = Vec::new();
    let mut sources = Vec::new();
    for path in paths {
        let display = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(content) => sources.push(super::SourceFile {
                relative_path: display.clone(),
                display_path: display,
                content,
            }),
            Err(error) => diagnostics.push(super::Diagnostic {
                file: display,
                line: 1,
                column: 1,
                message: format!("cannot read: {error}"),
            }),
        }
    }
    for source in &sources {
        let base_dir = std::path::Path::new(&source.relative_path)
            .parent()
            .unwrap_or(std::path::Path::new("."));
        let mut checker = Checker::new(base_dir, source);
        slos.extend(checker.slo_file());
        diagnostics.extend(checker.into_diagnostics());
    }
    diagnostics.extend(finish(&mut slos, &sources, evaluation_interval));
    if !diagnostics.is_empty() {
        return Err(super::ConfigError { diagnostics });
    }
    Ok(slos)
}
