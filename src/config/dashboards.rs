//! `dashboards/*.toml`: dashboards as written and as validated, and the variable
//! syntax their expressions use.
//! Owns: the dashboard keys, their defaults and checks (each error at file:line:col,
//! PromQL errors pointing inside the expression), `$variable` substitution
//! (`substitute`) and `label_values(...)` (`parse_label_values`), which the page uses
//! at request time with the same rules the checks use here.
//! Does not: evaluate queries or draw anything (`web::page::dashboards`, `web::chart`).
//! Limits: `PANELS_MAX`, `QUERIES_PER_PANEL_MAX`, `VARIABLES_MAX`, `THRESHOLDS_MAX`.
//!
//! One file is one dashboard; its URL name is the file stem (`dashboards/host.toml`
//! is `/dashboards/host`), which must match `[a-z0-9_-]+`.
//!
//! ```toml
//! title = "Host"                       # required, not empty
//! description = "node_exporter metrics" # optional, shown under the title and in the list
//! time_range = "6h"                    # range shown when the URL gives none (default 6h)
//! refresh = "30s"                      # auto-refresh when the URL gives none; absent or
//!                                      # "0s": off; else at least 5s
//!
//! [[variable]]
//! name = "instance"                    # used as $instance or ${instance}; [a-zA-Z_][a-zA-Z0-9_]*,
//!                                      # unique, not starting with "__" (built-ins)
//! label = "Instance"                   # optional: the text beside the select (default: name)
//! query = 'label_values(node_uname_info{job="node"}, instance)'
//!                                      # label_values(SELECTOR, LABEL) or label_values(LABEL):
//!                                      # the label's values in series with samples in the
//!                                      # time range shown; SELECTOR may use earlier variables
//! # values = ["a", "b"]                # instead of query: a fixed list
//! multi = false                        # optional: several values may be selected
//! all = false                          # optional: offer "All" (every listed value)
//! default = "..."                      # optional: the value when the URL gives none
//!                                      # (else All when `all`, else the first value)
//!
//! [[row]]
//! title = "CPU"                        # optional heading
//!
//! [[row.panel]]
//! title = "CPU busy"                   # optional; may use $variables (display only)
//! description = "..."                  # optional, shown on hover
//! kind = "graph"                       # graph (default) | stat | table | heatmap
//! expr = '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[$__rate_interval]))'
//! legend = "{{instance}}"              # optional: {{label}} is the series' label value
//! unit = "percentunit"                 # optional, `web::chart::Unit::NAMES` (default short)
//! thresholds = [{ value = 0.9, level = "bad", label = "busy" }]   # level: warn | bad
//! stacked = false                      # graph only
//! log_scale = false                    # graph only
//! width = 6                            # columns out of 12 (default 3 for stat, else 12)
//!
//! # Instead of expr/legend, up to 10 queries drawn in one panel:
//! [[row.panel.query]]
//! expr = 'node_load1{instance=~"$instance"}'
//! legend = "1m"
//! ```
//!
//! Panel kinds: `graph` draws every series of every query over the time range (with a
//! legend table: last, min, max, avg); `stat` shows each series' value at the end of
//! the range with a sparkline, coloured by the thresholds it reaches; `table` lists
//! each series' value at the end of the range; `heatmap` draws a classic histogram:
//! the expression gives cumulative `le` buckets, e.g.
//! `sum by (le) (rate(x_bucket[$__rate_interval]))`.
//!
//! Variables in expressions (`$name`, `${name}`; `$$` is a literal `$`) are replaced
//! as text before parsing, by context: inside the string of a regex matcher (`=~`,
//! `!~`) a value is regex-escaped, and several values (multi, All) become
//! `(?:a|b|c)`; inside any other string it is inserted as is; in both cases escaped
//! for that string's quotes. Outside strings the value is inserted as is. A variable
//! that can hold several values may only be used in a regex matcher. Built-ins:
//! `$__range` (the time range, e.g. `6h`), `$__interval` (the step of the panel's
//! query) and `$__rate_interval` (max(4 × step, 1m): at least four samples at the
//! usual 15 s interval, and whole minutes so rollup tiers answer exactly). An unknown
//! `$name` is an error. Checks parse each expression with placeholders in place of
//! the variables: a query variable's name, a `values` variable's first value,
//! `1m`/`4m` for the intervals and `time_range` for `$__range`.

use super::units::{ConfigDuration, format_duration};
use super::validate::Checker;
use crate::model::check_label_name;
use crate::web::chart::{Level, Unit};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;
use toml::Spanned;

/// Panels one dashboard may hold: each is a query per page view.
pub const PANELS_MAX: usize = 100;
/// Queries one panel may draw.
pub const QUERIES_PER_PANEL_MAX: usize = 10;
/// Variables one dashboard may declare.
pub const VARIABLES_MAX: usize = 20;
/// Thresholds one panel may draw.
pub const THRESHOLDS_MAX: usize = 10;
/// Values a `values = [...]` list may hold.
pub const VARIABLE_VALUES_MAX: usize = 1_000;
/// Grid columns of a dashboard row.
pub const COLUMNS: u8 = 12;
/// Shortest auto-refresh: a dashboard page runs every panel's query.
pub const REFRESH_MIN: Duration = Duration::from_secs(5);
/// The range shown when neither the file nor the URL gives one.
pub const TIME_RANGE_DEFAULT: Duration = Duration::from_secs(6 * 3600);
/// Selector value of "every value" in URLs (`var-instance=$__all`, as Grafana).
pub const ALL_VALUE: &str = "$__all";
/// The built-in variables, bound per panel query by the page.
pub const BUILTINS: [&str; 3] = ["__range", "__interval", "__rate_interval"];

/// A dashboard file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardFile {
    /// The heading and the name in the list; not empty.
    pub title: Spanned<String>,
    /// A sentence under the title and in the list.
    #[serde(default)]
    pub description: Option<String>,
    /// The range shown when the URL gives none, e.g. `6h` (the default).
    #[serde(default)]
    pub time_range: Option<Spanned<ConfigDuration>>,
    /// Auto-refresh when the URL gives none; `0s` or absent: off.
    #[serde(default)]
    pub refresh: Option<Spanned<ConfigDuration>>,
    #[serde(default)]
    pub variable: Vec<VariableSection>,
    #[serde(default)]
    pub row: Vec<RowSection>,
}

/// `[[variable]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableSection {
    /// `$name` in expressions.
    pub name: Spanned<String>,
    /// Shown beside the select; default the name.
    #[serde(default)]
    pub label: Option<String>,
    /// `label_values(SELECTOR, LABEL)` or `label_values(LABEL)`.
    #[serde(default)]
    pub query: Option<Spanned<String>>,
    /// A fixed list of values, instead of `query`.
    #[serde(default)]
    pub values: Option<Spanned<Vec<String>>>,
    /// Several values may be selected.
    #[serde(default)]
    pub multi: bool,
    /// Offer "All": every listed value.
    #[serde(default)]
    pub all: bool,
    /// The value when the URL gives none.
    #[serde(default)]
    pub default: Option<Spanned<String>>,
}

/// `[[row]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowSection {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub panel: Vec<Spanned<PanelSection>>,
}

/// `[[row.panel]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelSection {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub kind: PanelKind,
    /// One query; or `[[row.panel.query]]` for several.
    #[serde(default)]
    pub expr: Option<Spanned<String>>,
    /// Legend template of `expr`.
    #[serde(default)]
    pub legend: Option<Spanned<String>>,
    #[serde(default)]
    pub query: Vec<QuerySection>,
    /// `web::chart::Unit::NAMES`; default `short`.
    #[serde(default)]
    pub unit: Option<Spanned<String>>,
    #[serde(default = "no_thresholds")]
    pub thresholds: Spanned<Vec<ThresholdSection>>,
    #[serde(default)]
    pub stacked: Option<Spanned<bool>>,
    #[serde(default)]
    pub log_scale: Option<Spanned<bool>>,
    /// Columns out of 12.
    #[serde(default)]
    pub width: Option<Spanned<i64>>,
}

fn no_thresholds() -> Spanned<Vec<ThresholdSection>> {
    Spanned::new(0..0, Vec::new())
}

/// `[[row.panel.query]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuerySection {
    pub expr: Spanned<String>,
    #[serde(default)]
    pub legend: Option<Spanned<String>>,
}

/// `thresholds = [{ value = 0.9, level = "bad", label = "..." }]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSection {
    pub value: f64,
    pub level: ThresholdLevel,
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ThresholdLevel {
    Warn,
    Bad,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PanelKind {
    #[default]
    Graph,
    Stat,
    Table,
    Heatmap,
}

impl PanelKind {
    pub fn name(self) -> &'static str {
        match self {
            PanelKind::Graph => "graph",
            PanelKind::Stat => "stat",
            PanelKind::Table => "table",
            PanelKind::Heatmap => "heatmap",
        }
    }
}

/// One dashboard after validation.
#[derive(Clone, Debug, PartialEq)]
pub struct DashboardConfig {
    /// The file name without `.toml`: the dashboard's URL name (`/dashboards/<name>`).
    pub name: String,
    /// The file, relative to the config directory: `dashboards/host.toml`.
    pub file: String,
    pub title: String,
    /// Empty when the file has none.
    pub description: String,
    pub time_range: Duration,
    /// `None`: no auto-refresh.
    pub refresh: Option<Duration>,
    /// In file order; a variable's query may use the ones before it.
    pub variables: Vec<VariableConfig>,
    pub rows: Vec<RowConfig>,
}

impl DashboardConfig {
    pub fn panel_count(&self) -> usize {
        self.rows.iter().map(|row| row.panels.len()).sum()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariableConfig {
    pub name: String,
    /// Text beside the select.
    pub label: String,
    pub source: VariableSource,
    pub multi: bool,
    pub all: bool,
    pub default: Option<String>,
}

impl VariableConfig {
    /// Whether the variable can stand for several values at once.
    pub fn is_multi_valued(&self) -> bool {
        self.multi || self.all
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VariableSource {
    /// `label_values(selector, label)`; the selector may hold `$variables`.
    LabelValues {
        selector: Option<String>,
        label: String,
    },
    Values(Vec<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct RowConfig {
    /// Empty: no heading.
    pub title: String,
    pub panels: Vec<PanelConfig>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PanelConfig {
    pub title: String,
    pub description: String,
    pub kind: PanelKind,
    /// At least one.
    pub queries: Vec<PanelQuery>,
    pub unit: Unit,
    pub thresholds: Vec<ThresholdConfig>,
    pub stacked: bool,
    pub log_scale: bool,
    /// Columns out of `COLUMNS`, 1 to 12.
    pub width: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanelQuery {
    /// With `$variables` in place.
    pub expr: String,
    /// `{{label}}` template; `None`: the series' labels.
    pub legend: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdConfig {
    pub value: f64,
    pub level: Level,
    pub label: Option<String>,
}

impl Checker<'_> {
    /// Validates one `dashboards/*.toml` file (the checker's source).
    pub(super) fn dashboard_file(&mut self) -> Option<DashboardConfig> {
        let source = self.source()?;
        let (parsed, found) = super::file::load_partial::<DashboardFile>(source);
        self.extend(found);
        let parsed = parsed?;
        let name = dashboard_name(&source.relative_path);
        if !is_url_name(&name) {
            self.error(
                0..0,
                format!(
                    "dashboard file name {name:?}: the file stem is the URL name and must be [a-z0-9_-]+"
                ),
            );
        }
        if parsed.title.get_ref().trim().is_empty() {
            self.error(parsed.title.span(), "title: must not be empty");
        }
        let time_range = match &parsed.time_range {
            Some(range) if range.get_ref().0.is_zero() => {
                self.error(range.span(), "time_range: must be longer than 0s");
                TIME_RANGE_DEFAULT
            }
            Some(range) => range.get_ref().0,
            None => TIME_RANGE_DEFAULT,
        };
        let refresh = match &parsed.refresh {
            Some(refresh) if refresh.get_ref().0.is_zero() => None,
            Some(refresh) => {
                if refresh.get_ref().0 < REFRESH_MIN {
                    self.error(
                        refresh.span(),
                        format!(
                            "refresh: at least {} (or 0s for none)",
                            format_duration(REFRESH_MIN)
                        ),
                    );
                }
                Some(refresh.get_ref().0)
            }
            None => None,
        };
        let variables = self.variables(&parsed.variable);
        let placeholders = Placeholders::new(&variables, time_range);
        let mut rows = Vec::with_capacity(parsed.row.len());
        let mut panel_count = 0;
        for row in &parsed.row {
            let mut panels = Vec::with_capacity(row.panel.len());
            for panel in &row.panel {
                panel_count += 1;
                if panel_count == PANELS_MAX + 1 {
                    self.error(
                        panel.span(),
                        format!("row.panel: more than {PANELS_MAX} panels in one dashboard"),
                    );
                }
                panels.push(self.panel(panel, &placeholders));
            }
            rows.push(RowConfig {
                title: row.title.clone().unwrap_or_default(),
                panels,
            });
        }
        Some(DashboardConfig {
            name,
            file: source.relative_path.clone(),
            title: parsed.title.get_ref().trim().to_string(),
            description: parsed.description.clone().unwrap_or_default(),
            time_range,
            refresh,
            variables,
            rows,
        })
    }

    fn variables(&mut self, sections: &[VariableSection]) -> Vec<VariableConfig> {
        let mut names = HashMap::new();
        let mut variables: Vec<VariableConfig> = Vec::with_capacity(sections.len());
        for (index, section) in sections.iter().enumerate() {
            if index == VARIABLES_MAX {
                self.error(
                    section.name.span(),
                    format!("variable: more than {VARIABLES_MAX} variables in one dashboard"),
                );
            }
            let name = section.name.get_ref();
            if !name.is_empty() && !is_variable_name(name) {
                self.error(
                    section.name.span(),
                    format!("variable.name: {name:?} must match [a-zA-Z_][a-zA-Z0-9_]*"),
                );
            } else if name.starts_with("__") {
                self.error(
                    section.name.span(),
                    format!("variable.name: {name:?}: names starting with __ are built-ins"),
                );
            }
            self.unique(&mut names, &section.name, "variable");
            let source = self.variable_source(section, &variables);
            variables.push(VariableConfig {
                name: name.clone(),
                label: section.label.clone().unwrap_or_else(|| name.clone()),
                source,
                multi: section.multi,
                all: section.all,
                default: section
                    .default
                    .as_ref()
                    .map(|value| value.get_ref().clone()),
            });
        }
        variables
    }

    /// A variable's `query` or `values`; `earlier` are the variables its query may use.
    fn variable_source(
        &mut self,
        section: &VariableSection,
        earlier: &[VariableConfig],
    ) -> VariableSource {
        match (&section.query, &section.values) {
            (Some(_), Some(values)) => {
                self.error(values.span(), "variable: give query or values, not both");
                VariableSource::Values(values.get_ref().clone())
            }
            (None, None) => {
                self.error(
                    section.name.span(),
                    "variable: give query = 'label_values(...)' or values = [...]",
                );
                VariableSource::Values(Vec::new())
            }
            (None, Some(values)) => {
                if values.get_ref().is_empty() {
                    self.error(values.span(), "variable.values: list at least one value");
                } else if values.get_ref().len() > VARIABLE_VALUES_MAX {
                    self.error(
                        values.span(),
                        format!("variable.values: more than {VARIABLE_VALUES_MAX} values"),
                    );
                }
                VariableSource::Values(values.get_ref().clone())
            }
            (Some(query), None) => self.label_values_query(query, earlier),
        }
    }

    fn label_values_query(
        &mut self,
        query: &Spanned<String>,
        earlier: &[VariableConfig],
    ) -> VariableSource {
        let parsed = match parse_label_values(query.get_ref()) {
            Ok(parsed) => parsed,
            Err((offset, message)) => {
                let offset = self.offset_in_string(query, offset);
                self.error(offset..offset, format!("variable.query: {message}"));
                return VariableSource::Values(Vec::new());
            }
        };
        if let Some((start, selector)) = &parsed.selector {
            let placeholders = Placeholders::new(earlier, TIME_RANGE_DEFAULT);
            let shifted = |offset: usize| start + offset;
            let substituted = substitute(selector, &placeholders.bindings);
            for (offset, name) in &substituted.unknown {
                let offset = self.offset_in_string(query, shifted(*offset));
                self.error(
                    offset..offset,
                    format!(
                        "variable.query: unknown variable ${name} (a query may use the variables declared before it)"
                    ),
                );
            }
            self.multi_uses(query, &substituted, earlier, shifted, "variable.query");
            match crate::promql::parse::parse(&substituted.text) {
                Ok(crate::promql::ast::Expr::Selector(_)) => {}
                Ok(_) => {
                    let offset = self.offset_in_string(query, *start);
                    self.error(
                        offset..offset,
                        "variable.query: the first argument of label_values must be a series selector",
                    );
                }
                Err(error) => {
                    let at = shifted(substituted.original_offset(error.span.start as usize));
                    let offset = self.offset_in_string(query, at);
                    self.error(offset..offset, format!("variable.query: {}", error.message));
                }
            }
        }
        VariableSource::LabelValues {
            selector: parsed.selector.map(|(_, selector)| selector),
            label: parsed.label,
        }
    }

    /// Errors for variables that can hold several values used outside a regex matcher.
    fn multi_uses(
        &mut self,
        text: &Spanned<String>,
        substituted: &Substitution,
        variables: &[VariableConfig],
        shifted: impl Fn(usize) -> usize,
        key: &str,
    ) {
        for used in &substituted.uses {
            let multi = variables
                .iter()
                .any(|variable| variable.name == used.name && variable.is_multi_valued());
            if multi && used.context != UseContext::RegexString {
                let offset = self.offset_in_string(text, shifted(used.offset));
                self.error(
                    offset..offset,
                    format!(
                        "{key}: ${} can hold several values (multi or all): use it inside a regex matcher (=~ or !~)",
                        used.name
                    ),
                );
            }
        }
    }

    fn panel(
        &mut self,
        section: &Spanned<PanelSection>,
        placeholders: &Placeholders,
    ) -> PanelConfig {
        let panel = section.get_ref();
        let queries = self.panel_queries(section, placeholders);
        let unit = match &panel.unit {
            Some(name) => Unit::parse(name.get_ref()).unwrap_or_else(|| {
                self.error(
                    name.span(),
                    format!(
                        "row.panel.unit: unknown unit {:?} (valid units: {})",
                        name.get_ref(),
                        Unit::NAMES.join(", ")
                    ),
                );
                Unit::default()
            }),
            None => Unit::default(),
        };
        if panel.thresholds.get_ref().len() > THRESHOLDS_MAX {
            self.error(
                panel.thresholds.span(),
                format!("row.panel.thresholds: more than {THRESHOLDS_MAX} thresholds"),
            );
        }
        let thresholds = panel
            .thresholds
            .get_ref()
            .iter()
            .map(|threshold| ThresholdConfig {
                value: threshold.value,
                level: match threshold.level {
                    ThresholdLevel::Warn => Level::Warn,
                    ThresholdLevel::Bad => Level::Bad,
                },
                label: threshold.label.clone(),
            })
            .collect();
        let mut flag = |value: &Option<Spanned<bool>>, key: &str| match value {
            Some(value) if panel.kind != PanelKind::Graph && *value.get_ref() => {
                self.error(
                    value.span(),
                    format!(
                        "row.panel.{key}: only graph panels have it (this one is {})",
                        panel.kind.name()
                    ),
                );
                false
            }
            Some(value) => *value.get_ref(),
            None => false,
        };
        let stacked = flag(&panel.stacked, "stacked");
        let log_scale = flag(&panel.log_scale, "log_scale");
        let width = match &panel.width {
            Some(width) => match u8::try_from(*width.get_ref()) {
                Ok(columns) if (1..=COLUMNS).contains(&columns) => columns,
                _ => {
                    self.error(
                        width.span(),
                        format!("row.panel.width: columns out of {COLUMNS}, 1 to {COLUMNS}"),
                    );
                    COLUMNS
                }
            },
            None if panel.kind == PanelKind::Stat => 3,
            None => COLUMNS,
        };
        PanelConfig {
            title: panel.title.clone().unwrap_or_default(),
            description: panel.description.clone().unwrap_or_default(),
            kind: panel.kind,
            queries,
            unit,
            thresholds,
            stacked,
            log_scale,
            width,
        }
    }

    /// `expr`/`legend` or `[[row.panel.query]]`, each checked.
    fn panel_queries(
        &mut self,
        section: &Spanned<PanelSection>,
        placeholders: &Placeholders,
    ) -> Vec<PanelQuery> {
        let panel = section.get_ref();
        let written: Vec<(&Spanned<String>, Option<&Spanned<String>>)> = match &panel.expr {
            Some(expr) => {
                if let Some(first) = panel.query.first() {
                    self.error(
                        first.expr.span(),
                        "row.panel: give expr or [[row.panel.query]], not both",
                    );
                }
                vec![(expr, panel.legend.as_ref())]
            }
            None => {
                if let Some(legend) = &panel.legend {
                    self.error(
                        legend.span(),
                        "row.panel.legend: goes with expr; each [[row.panel.query]] has its own",
                    );
                }
                if panel.query.is_empty() {
                    self.error(
                        section.span(),
                        "row.panel: needs expr or at least one [[row.panel.query]]",
                    );
                }
                if panel.query.len() > QUERIES_PER_PANEL_MAX {
                    self.error(
                        panel.query[QUERIES_PER_PANEL_MAX].expr.span(),
                        format!("row.panel.query: more than {QUERIES_PER_PANEL_MAX} queries in one panel"),
                    );
                }
                panel
                    .query
                    .iter()
                    .map(|query| (&query.expr, query.legend.as_ref()))
                    .collect()
            }
        };
        written
            .into_iter()
            .map(|(expr, legend)| {
                self.panel_expr(expr, placeholders);
                if let Some(legend) = legend {
                    self.legend(legend);
                }
                PanelQuery {
                    expr: expr.get_ref().clone(),
                    legend: legend.map(|legend| legend.get_ref().clone()),
                }
            })
            .collect()
    }

    /// Parses an expression with placeholders for its variables; errors point inside it.
    fn panel_expr(&mut self, expr: &Spanned<String>, placeholders: &Placeholders) {
        if expr.get_ref().trim().is_empty() {
            self.error(expr.span(), "expr: must not be empty");
            return;
        }
        let substituted = substitute(expr.get_ref(), &placeholders.bindings);
        for (offset, name) in &substituted.unknown {
            let offset = self.offset_in_string(expr, *offset);
            self.error(
                offset..offset,
                format!(
                    "expr: unknown variable ${name} (declared: {})",
                    placeholders.known_names()
                ),
            );
        }
        self.multi_uses(
            expr,
            &substituted,
            &placeholders.variables,
            |offset| offset,
            "expr",
        );
        if !substituted.unknown.is_empty() {
            return;
        }
        match crate::promql::parse::parse(&substituted.text) {
            Ok(parsed) => {
                use crate::promql::ast::ValueType;
                let value_type = parsed.value_type();
                if !matches!(value_type, ValueType::Vector | ValueType::Scalar) {
                    self.error(
                        expr.span(),
                        format!(
                            "expr: a panel's expression must give an instant vector or a scalar, this gives a {}",
                            value_type.name()
                        ),
                    );
                }
            }
            Err(error) => {
                let at = substituted.original_offset(error.span.start as usize);
                let offset = self.offset_in_string(expr, at);
                self.error(offset..offset, format!("expr: {}", error.message));
            }
        }
    }

    /// A legend template: every `{{` closed, each holding a label name.
    fn legend(&mut self, legend: &Spanned<String>) {
        if let Err((offset, message)) = check_legend(legend.get_ref()) {
            let offset = self.offset_in_string(legend, offset);
            self.error(offset..offset, format!("legend: {message}"));
        }
    }
}

/// The values checks substitute for variables, and the names known.
struct Placeholders {
    bindings: Bindings,
    variables: Vec<VariableConfig>,
}

impl Placeholders {
    fn new(variables: &[VariableConfig], time_range: Duration) -> Placeholders {
        let mut bindings = Bindings::new();
        for variable in variables {
            let value = match &variable.source {
                VariableSource::Values(values) => values
                    .first()
                    .cloned()
                    .unwrap_or_else(|| variable.name.clone()),
                VariableSource::LabelValues { .. } => variable.name.clone(),
            };
            bindings.insert(variable.name.clone(), vec![value]);
        }
        bindings.insert("__range".into(), vec![format_duration(time_range)]);
        bindings.insert("__interval".into(), vec!["1m".into()]);
        bindings.insert("__rate_interval".into(), vec!["4m".into()]);
        Placeholders {
            bindings,
            variables: variables.to_vec(),
        }
    }

    fn known_names(&self) -> String {
        let mut names: Vec<String> = self
            .variables
            .iter()
            .map(|variable| format!("${}", variable.name))
            .chain(BUILTINS.iter().map(|name| format!("${name}")))
            .collect();
        names.dedup();
        names.join(", ")
    }
}

/// The file stem of `dashboards/<stem>.toml`.
pub fn dashboard_name(relative_path: &str) -> String {
    let file = relative_path.rsplit('/').next().unwrap_or(relative_path);
    file.strip_suffix(".toml").unwrap_or(file).to_string()
}

/// `[a-z0-9_-]+`: safe in a URL path without escaping.
pub fn is_url_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-'
        })
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

/// Variable name → the values it stands for (one, or several for multi and All).
pub type Bindings = HashMap<String, Vec<String>>;

/// Where a variable was used, which decides how its values are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UseContext {
    /// Outside any string: inserted as is.
    Code,
    /// In the string of a `=~`/`!~` matcher: regex-escaped.
    RegexString,
    /// In any other string.
    String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariableUse {
    pub name: String,
    /// Byte offset of the `$` in the input.
    pub offset: usize,
    pub context: UseContext,
}

/// An expression with its variables replaced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Substitution {
    pub text: String,
    /// Every variable replaced.
    pub uses: Vec<VariableUse>,
    /// (offset in the input, name) of `$name`s with no binding, left as written.
    pub unknown: Vec<(usize, String)>,
    /// (start in `text`, start in the input, whether it replaced a variable): the
    /// pieces `text` is made of, in order.
    pieces: Vec<(usize, usize, bool)>,
}

impl Substitution {
    /// The input offset that produced byte `offset` of `text`: inside a replaced
    /// variable, where the variable starts.
    pub fn original_offset(&self, offset: usize) -> usize {
        let index = self
            .pieces
            .partition_point(|(text_start, _, _)| *text_start <= offset);
        match index
            .checked_sub(1)
            .and_then(|index| self.pieces.get(index))
        {
            Some((text_start, input_start, false)) => input_start + (offset - text_start),
            Some((_, input_start, true)) => *input_start,
            None => offset,
        }
    }

    fn push_input(&mut self, input: &str, input_start: usize) {
        if input.is_empty() {
            return;
        }
        let extends = self
            .pieces
            .last()
            .is_some_and(|(text_start, start, replaced)| {
                !replaced && start + (self.text.len() - text_start) == input_start
            });
        if !extends {
            self.pieces.push((self.text.len(), input_start, false));
        }
        self.text.push_str(input);
    }

    fn push_replacement(&mut self, replacement: &str, input_start: usize) {
        self.pieces.push((self.text.len(), input_start, true));
        self.text.push_str(replacement);
    }
}

/// Lexer state of `substitute`: which kind of text the next byte belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lexed {
    Code,
    Comment,
    /// In a string opened by `quote`; `regex` when it is a regex matcher's value.
    String {
        quote: u8,
        regex: bool,
    },
}

/// Replaces `$name`, `${name}` and `$$` in a PromQL expression (see the module doc for
/// how values are written in each context). Names without a binding stay as written
/// and are listed in `unknown`. Comments are copied unchanged.
pub fn substitute(input: &str, bindings: &Bindings) -> Substitution {
    let bytes = input.as_bytes();
    let mut out = Substitution::default();
    let mut state = Lexed::Code;
    let mut copied = 0;
    let mut position = 0;
    while position < bytes.len() {
        let byte = bytes[position];
        match state {
            Lexed::Comment if byte == b'\n' => state = Lexed::Code,
            Lexed::Comment => {}
            Lexed::Code if byte == b'#' => state = Lexed::Comment,
            Lexed::Code if matches!(byte, b'"' | b'\'' | b'`') => {
                let before = input[..position].trim_end();
                let regex = before.ends_with("=~") || before.ends_with("!~");
                state = Lexed::String { quote: byte, regex };
            }
            Lexed::String { quote, .. } if byte == b'\\' && quote != b'`' => {
                position += 2;
                continue;
            }
            Lexed::String { quote, .. } if byte == quote => state = Lexed::Code,
            _ if byte == b'$' => {
                if let Some((name, length)) = variable_at(&input[position..]) {
                    out.push_input(&input[copied..position], copied);
                    copied = position + length;
                    match name {
                        None => out.push_replacement("$", position),
                        Some(name) => match bindings.get(name) {
                            Some(values) => {
                                let context = match state {
                                    Lexed::String { regex: true, .. } => UseContext::RegexString,
                                    Lexed::String { .. } => UseContext::String,
                                    _ => UseContext::Code,
                                };
                                let quote = match state {
                                    Lexed::String { quote, .. } => Some(quote),
                                    _ => None,
                                };
                                out.push_replacement(
                                    &write_values(values, context, quote),
                                    position,
                                );
                                out.uses.push(VariableUse {
                                    name: name.to_string(),
                                    offset: position,
                                    context,
                                });
                            }
                            None => {
                                out.unknown.push((position, name.to_string()));
                                out.push_input(&input[position..copied], position);
                            }
                        },
                    }
                    position = copied;
                    continue;
                }
            }
            _ => {}
        }
        position += 1;
    }
    out.push_input(&input[copied..], copied);
    out
}

/// At a `$`: `(Some(name), length)` for `$name`/`${name}`, `(None, 2)` for `$$`, `None`
/// when the `$` starts no variable (e.g. `$1` in a replacement, `$` ending a regex).
fn variable_at(text: &str) -> Option<(Option<&str>, usize)> {
    let rest = text.get(1..)?;
    if rest.starts_with('$') {
        return Some((None, 2));
    }
    let name_length = |text: &str| {
        let bytes = text.as_bytes();
        if !bytes
            .first()
            .is_some_and(|first| first.is_ascii_alphabetic() || *first == b'_')
        {
            return 0;
        }
        bytes
            .iter()
            .take_while(|byte| byte.is_ascii_alphanumeric() || **byte == b'_')
            .count()
    };
    if let Some(braced) = rest.strip_prefix('{') {
        let length = name_length(braced);
        return (length > 0 && braced[length..].starts_with('}'))
            .then(|| (Some(&braced[..length]), length + 3));
    }
    let length = name_length(rest);
    (length > 0).then(|| (Some(&rest[..length]), length + 1))
}

/// Values as written in `context`, escaped for the string's `quote` if in one.
fn write_values(values: &[String], context: UseContext, quote: Option<u8>) -> String {
    let raw = quote == Some(b'`');
    let text = match context {
        UseContext::RegexString => {
            let escaped: Vec<String> = values
                .iter()
                .map(|value| regex_escape(value, raw))
                .collect();
            match escaped.len() {
                1 => escaped.concat(),
                _ => format!("(?:{})", escaped.join("|")),
            }
        }
        UseContext::String | UseContext::Code => values.join("|"),
    };
    match quote {
        Some(quote) if quote != b'`' => string_escape(&text, quote),
        _ => text,
    }
}

/// `value` matching itself in RE2; in a raw (backtick) string a backtick becomes
/// `\x60`, the one character such a string cannot hold.
pub fn regex_escape(value: &str, raw: bool) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    for character in value.chars() {
        match character {
            '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' => {
                out.push('\\');
                out.push(character);
            }
            '`' if raw => out.push_str("\\x60"),
            _ => out.push(character),
        }
    }
    out
}

/// `text` inside a PromQL string quoted with `quote` (`"` or `'`).
fn string_escape(text: &str, quote: u8) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for character in text.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ if character as u32 == u32::from(quote) => {
                out.push('\\');
                out.push(character);
            }
            _ => out.push(character),
        }
    }
    out
}

/// `label_values(SELECTOR, LABEL)` or `label_values(LABEL)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelValuesQuery {
    /// The selector's offset in the query and its text.
    pub selector: Option<(usize, String)>,
    pub label: String,
}

/// Parses a variable's `query`; an error is (byte offset, message).
pub fn parse_label_values(query: &str) -> Result<LabelValuesQuery, (usize, String)> {
    const FUNCTION: &str = "label_values";
    let start = query.len() - query.trim_start().len();
    let trimmed = query.trim();
    let Some(after_name) = trimmed.strip_prefix(FUNCTION) else {
        return Err((
            start,
            "expected label_values(SELECTOR, LABEL) or label_values(LABEL)".into(),
        ));
    };
    let open = start + FUNCTION.len() + (after_name.len() - after_name.trim_start().len());
    if !query[open..].starts_with('(') {
        return Err((open, "expected ( after label_values".into()));
    }
    let end = start + trimmed.len();
    if !trimmed.ends_with(')') {
        return Err((end, "expected ) at the end".into()));
    }
    let inner_start = open + 1;
    let inner = &query[inner_start..end - 1];
    let comma = last_top_level_comma(inner);
    let (selector, label_start) = match comma {
        Some(comma) => {
            let selector = &inner[..comma];
            let selector_start = inner_start + (selector.len() - selector.trim_start().len());
            if selector.trim().is_empty() {
                return Err((selector_start, "empty series selector".into()));
            }
            (
                Some((selector_start, selector.trim().to_string())),
                inner_start + comma + 1,
            )
        }
        None => (None, inner_start),
    };
    let label_text = &query[label_start..end - 1];
    let label_offset = label_start + (label_text.len() - label_text.trim_start().len());
    let label = label_text.trim();
    if let Err(error) = check_label_name(label) {
        return Err((label_offset, format!("label_values: {error}")));
    }
    Ok(LabelValuesQuery {
        selector,
        label: label.to_string(),
    })
}

/// The last comma outside braces, parentheses and strings.
fn last_top_level_comma(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0i32;
    let mut quote: Option<u8> = None;
    let mut last = None;
    let mut position = 0;
    while position < bytes.len() {
        let byte = bytes[position];
        match quote {
            Some(open) if byte == b'\\' && open != b'`' => position += 1,
            Some(open) if byte == open => quote = None,
            Some(_) => {}
            None => match byte {
                b'"' | b'\'' | b'`' => quote = Some(byte),
                b'{' | b'(' | b'[' => depth += 1,
                b'}' | b')' | b']' => depth -= 1,
                b',' if depth == 0 => last = Some(position),
                _ => {}
            },
        }
        position += 1;
    }
    last
}

/// Checks a legend template: `{{name}}` (spaces inside allowed) with a label name.
/// An error is (byte offset, message).
pub fn check_legend(template: &str) -> Result<(), (usize, String)> {
    let mut rest_start = 0;
    while let Some(open) = template[rest_start..].find("{{") {
        let open = rest_start + open;
        let Some(close) = template[open + 2..].find("}}") else {
            return Err((open, "{{ is not closed with }}".into()));
        };
        let name = template[open + 2..open + 2 + close].trim();
        if let Err(error) = check_label_name(name) {
            return Err((open, format!("{{{{{name}}}}}: {error}")));
        }
        rest_start = open + 2 + close + 2;
    }
    Ok(())
}

/// The legend of a series: `{{name}}` replaced by the label's value (empty when the
/// series has no such label).
pub fn expand_legend(template: &str, label: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open + 2..].find("}}") else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&label(rest[open + 2..open + 2 + close].trim()).unwrap_or_default());
        rest = &rest[open + 2 + close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bindings(pairs: &[(&str, &[&str])]) -> Bindings {
        pairs
            .iter()
            .map(|(name, values)| {
                (
                    name.to_string(),
                    values.iter().map(|value| value.to_string()).collect(),
                )
            })
            .collect()
    }

    fn check(input: &str, pairs: &[(&str, &[&str])], expect: &str) {
        let substituted = substitute(input, &bindings(pairs));
        assert_eq!(substituted.text, expect, "{input}");
        assert!(
            substituted.unknown.is_empty(),
            "{input}: {:?}",
            substituted.unknown
        );
    }

    #[test]
    fn values_are_written_for_their_context() {
        let one: &[(&str, &[&str])] = &[("instance", &["10.0.0.1:9100"])];
        check(
            r#"up{instance=~"$instance"}"#,
            one,
            r#"up{instance=~"10\\.0\\.0\\.1:9100"}"#,
        );
        check(
            r#"up{instance =~ '${instance}'}"#,
            one,
            r#"up{instance =~ '10\\.0\\.0\\.1:9100'}"#,
        );
        check(
            "up{instance=~`$instance`}",
            one,
            r"up{instance=~`10\.0\.0\.1:9100`}",
        );
        check(
            r#"up{instance="$instance"}"#,
            one,
            r#"up{instance="10.0.0.1:9100"}"#,
        );
        check(
            r#"up{instance!~"$instance.*"}"#,
            one,
            r#"up{instance!~"10\\.0\\.0\\.1:9100.*"}"#,
        );
        let many: &[(&str, &[&str])] = &[("host", &["a", "b.c"])];
        check(r#"up{host=~"$host"}"#, many, r#"up{host=~"(?:a|b\\.c)"}"#);
        let quoted: &[(&str, &[&str])] = &[("q", &["say \"hi\"\n"])];
        check(r#"x{a="$q"}"#, quoted, r#"x{a="say \"hi\"\n"}"#);
        check("x{a=~`$q`}", &[("q", &["a`b"])], r"x{a=~`a\x60b`}");
        let code: &[(&str, &[&str])] = &[("by", &["mode"]), ("__rate_interval", &["4m"])];
        check(
            "sum by ($by) (rate(x[$__rate_interval]))",
            code,
            "sum by (mode) (rate(x[4m]))",
        );
    }

    #[test]
    fn what_is_not_a_variable_stays() {
        check(
            r#"label_replace(up, "a", "$1", "b", "(.*)$") # $comment"#,
            &[],
            r#"label_replace(up, "a", "$1", "b", "(.*)$") # $comment"#,
        );
        check("x$$y", &[], "x$y");
        check(r#"x{a="\"$v\""}"#, &[("v", &["1"])], r#"x{a="\"1\""}"#);
        let unknown = substitute("rate(x{a=~\"$nope\"}[$__interval])", &Bindings::new());
        assert_eq!(
            unknown.unknown,
            vec![(11, "nope".to_string()), (19, "__interval".to_string())]
        );
        assert_eq!(unknown.text, "rate(x{a=~\"$nope\"}[$__interval])");
    }

    #[test]
    fn offsets_map_back_through_replacements() {
        let input = "rate(x{a=~\"$v\"}[$__interval]) +";
        let substituted = substitute(
            input,
            &bindings(&[("v", &["long.value"]), ("__interval", &["1m"])]),
        );
        assert_eq!(substituted.text, "rate(x{a=~\"long\\\\.value\"}[1m]) +");
        let plus = substituted.text.len() - 1;
        assert_eq!(substituted.original_offset(plus), input.len() - 1);
        let inside_value = substituted.text.find("value").unwrap_or(0);
        assert_eq!(
            substituted.original_offset(inside_value),
            input.find('$').unwrap_or(0)
        );
        assert_eq!(substituted.original_offset(0), 0);
        let uses: Vec<(&str, UseContext)> = substituted
            .uses
            .iter()
            .map(|used| (used.name.as_str(), used.context))
            .collect();
        assert_eq!(
            uses,
            [
                ("v", UseContext::RegexString),
                ("__interval", UseContext::Code)
            ]
        );
    }

    #[test]
    fn label_values_queries() {
        let parsed = parse_label_values(r#" label_values(up{job="a,b"}, instance) "#);
        assert_eq!(
            parsed,
            Ok(LabelValuesQuery {
                selector: Some((14, r#"up{job="a,b"}"#.into())),
                label: "instance".into()
            })
        );
        assert_eq!(
            parse_label_values("label_values(job)"),
            Ok(LabelValuesQuery {
                selector: None,
                label: "job".into()
            })
        );
        assert_eq!(
            parse_label_values("label_values(up, 1x)").map_err(|error| error.0),
            Err(17)
        );
        assert_eq!(
            parse_label_values("values(up, x)").map_err(|error| error.0),
            Err(0)
        );
        assert_eq!(
            parse_label_values("label_values(up, x").map_err(|error| error.0),
            Err(18)
        );
    }

    #[test]
    fn legends() {
        assert_eq!(check_legend("{{instance}} {{ mode }}"), Ok(()));
        assert_eq!(
            check_legend("a {{instance").map_err(|error| error.0),
            Err(2)
        );
        assert_eq!(check_legend("{{1x}}").map_err(|error| error.0), Err(0));
        let expanded = expand_legend("{{instance}} / {{ mode }} {{none}}", |name| {
            (name != "none").then(|| format!("<{name}>"))
        });
        assert_eq!(expanded, "<instance> / <mode> ");
    }

    #[test]
    fn names() {
        assert!(is_url_name("host-2_a"));
        assert!(!is_url_name("Host"));
        assert!(!is_url_name(""));
        assert_eq!(dashboard_name("dashboards/host.toml"), "host");
        assert!(is_variable_name("_a1"));
        assert!(!is_variable_name("1a"));
    }
}
