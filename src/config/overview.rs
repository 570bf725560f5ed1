//! `[overview]` in tandem.toml: the key metrics the overview page shows first.
//! Owns: their keys and checks (the expression parses, the unit is known, one health
//! bound at most).
//! Does not: evaluate them (`web::page::overview` does, through the PromQL engine).
//!
//! ```toml
//! [[overview.key_metric]]
//! title = "HTTP error ratio"
//! expr = 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
//! unit = "percentunit"
//! healthy_below = 0.01
//! ```

use super::validate::Checker;
use serde::Deserialize;
use toml::Spanned;

/// Key metrics one overview may show.
pub const KEY_METRICS_MAX: usize = 12;

/// `[overview]` as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OverviewSection {
    #[serde(default)]
    pub key_metric: Vec<KeyMetricSection>,
}

/// One `[[overview.key_metric]]` as written.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyMetricSection {
    pub title: Spanned<String>,
    /// PromQL giving one value (the first series is shown when it gives several).
    pub expr: Spanned<String>,
    /// How values read: `short` (default), `bytes`, `seconds`, `percentunit`... as
    /// dashboards name units.
    #[serde(default)]
    pub unit: Option<Spanned<String>>,
    /// Healthy while the value is below this.
    #[serde(default)]
    pub healthy_below: Option<Spanned<f64>>,
    /// Healthy while the value is above this.
    #[serde(default)]
    pub healthy_above: Option<Spanned<f64>>,
}

/// A key metric after validation.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyMetric {
    pub title: String,
    pub expr: String,
    /// One of `web::chart::Unit::NAMES`.
    pub unit: String,
    pub healthy_below: Option<f64>,
    pub healthy_above: Option<f64>,
}

impl Checker<'_> {
    pub(super) fn overview(&mut self, section: &OverviewSection) -> Vec<KeyMetric> {
        if section.key_metric.len() > KEY_METRICS_MAX
            && let Some(extra) = section.key_metric.get(KEY_METRICS_MAX)
        {
            self.error(
                extra.title.span(),
                format!("overview.key_metric: at most {KEY_METRICS_MAX}"),
            );
        }
        let mut metrics = Vec::with_capacity(section.key_metric.len());
        for metric in &section.key_metric {
            if metric.title.get_ref().trim().is_empty() {
                self.error(
                    metric.title.span(),
                    "overview.key_metric.title: must not be empty",
                );
            }
            self.promql(&metric.expr, "overview.key_metric.expr");
            let unit = match &metric.unit {
                Some(unit) => {
                    if !crate::web::chart::Unit::NAMES.contains(&unit.get_ref().as_str()) {
                        self.error(
                            unit.span(),
                            format!(
                                "overview.key_metric.unit: unknown unit {:?}; use one of {}",
                                unit.get_ref(),
                                crate::web::chart::Unit::NAMES.join(", ")
                            ),
                        );
                    }
                    unit.get_ref().clone()
                }
                None => "short".into(),
            };
            if let (Some(_), Some(above)) = (&metric.healthy_below, &metric.healthy_above) {
                self.error(
                    above.span(),
                    "overview.key_metric: give healthy_below or healthy_above, not both",
                );
            }
            metrics.push(KeyMetric {
                title: metric.title.get_ref().clone(),
                expr: metric.expr.get_ref().clone(),
                unit,
                healthy_below: metric.healthy_below.as_ref().map(|value| *value.get_ref()),
                healthy_above: metric.healthy_above.as_ref().map(|value| *value.get_ref()),
            });
        }
        metrics
    }
}
