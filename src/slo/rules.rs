//! The rule group generated for each SLO on load and reload (never written to a file).
//!
//! For an SLO named `api` with a 30-day window, group `slo:api` (file: the SLO's file)
//! holds, in evaluation order:
//! - `tandem_slo_error_ratio{slo="api", window=W}` for W in 5m, 30m, 1h, 2h, 6h, 1d,
//!   3d and 30d: `(total - good) / total` of the event rates over W, by `group_by`;
//! - `tandem_slo_sli_ratio{slo, window}`: 1 - the error ratio;
//! - `tandem_slo_burn_rate{slo, window}`: the error ratio over the error budget
//!   fraction (1 = spending the budget exactly over the window);
//! - `tandem_slo_error_budget_remaining_ratio{slo}`: 1 - the burn rate over the SLO's
//!   window (negative once overspent);
//! - four `SLOErrorBudgetBurn` alerts, one per row of `BURN_ALERTS`, labelled with
//!   `severity`, `long_window`, `short_window` and `burn_rate_threshold`.
//!
//! The later rules read what the error-ratio rules just wrote (a group's rules run in
//! order, each seeing the samples of the ones before it), so every figure derives from
//! one evaluation of each window.

use super::{BURN_ALERTS, error_ratio_expr, number, slo_matcher, window_label, windows_of};
use crate::config::rules::{RuleConfig, RuleGroupConfig, RuleKind};
use crate::config::slos::SloConfig;
use std::time::Duration;

pub const ERROR_RATIO: &str = "tandem_slo_error_ratio";
pub const SLI_RATIO: &str = "tandem_slo_sli_ratio";
pub const BURN_RATE: &str = "tandem_slo_burn_rate";
pub const BUDGET_REMAINING: &str = "tandem_slo_error_budget_remaining_ratio";
pub const ALERT_NAME: &str = "SLOErrorBudgetBurn";

/// The name of the group generated for an SLO.
pub fn group_name(slo: &SloConfig) -> String {
    format!("slo:{}", slo.name)
}

/// The rule group `slo` generates.
pub fn generate(slo: &SloConfig) -> RuleGroupConfig {
    let matcher = slo_matcher(slo);
    let mut base_labels = slo.labels.clone();
    base_labels.push(("slo".into(), slo.name.clone()));
    base_labels.sort();
    let record = |name: &str, expr: String, labels: Vec<(String, String)>| RuleConfig {
        kind: RuleKind::Record { name: name.into() },
        expr,
        labels,
        line: slo.line,
    };
    let mut rules = Vec::new();
    for window in windows_of(slo) {
        let mut labels = base_labels.clone();
        labels.push(("window".into(), window_label(window)));
        labels.sort();
        rules.push(record(ERROR_RATIO, error_ratio_expr(slo, window), labels));
    }
    rules.push(record(
        SLI_RATIO,
        format!("1 - {ERROR_RATIO}{{{matcher}}}"),
        Vec::new(),
    ));
    let budget = number(slo.budget_fraction());
    rules.push(record(
        BURN_RATE,
        format!("{ERROR_RATIO}{{{matcher}}} / {budget}"),
        Vec::new(),
    ));
    rules.push(record(
        BUDGET_REMAINING,
        format!(
            "1 - sum without (window) ({BURN_RATE}{{{matcher}, window=\"{}\"}})",
            window_label(slo.window)
        ),
        Vec::new(),
    ));
    for alert in BURN_ALERTS {
        rules.push(burn_alert(slo, &matcher, &alert));
    }
    RuleGroupConfig {
        file: slo.file.clone(),
        name: group_name(slo),
        interval: slo.interval,
        limit: None,
        rules,
        evaluate_on_ingest: false,
    }
}

fn burn_alert(slo: &SloConfig, matcher: &str, alert: &super::BurnAlert) -> RuleConfig {
    let long = window_label(alert.long);
    let short = window_label(alert.short);
    let factor = number(alert.factor);
    let expr = format!(
        "max without (window) ({BURN_RATE}{{{matcher}, window=\"{long}\"}} > {factor}) \
         and ignoring (window) {BURN_RATE}{{{matcher}, window=\"{short}\"}} > {factor}"
    );
    let mut labels = slo.labels.clone();
    labels.extend([
        ("severity".to_string(), alert.severity.to_string()),
        ("long_window".to_string(), long.clone()),
        ("short_window".to_string(), short.clone()),
        ("burn_rate_threshold".to_string(), factor.clone()),
    ]);
    labels.sort();
    // Templates: `{` and `}` in the SLO's own text must not open an action.
    let description = template_text(&slo.description);
    let exhausted_in = super::human_duration(slo.window.as_secs_f64() / alert.factor);
    let mut annotations = vec![
        (
            "summary".to_string(),
            format!(
                "SLO {{{{ $labels.slo }}}}: error budget burning faster than {factor}× \
                 the sustainable rate over {long} and over {short}"
            ),
        ),
        (
            "description".to_string(),
            format!(
                "{description}{}At {factor}× the {} error budget of {}% lasts {exhausted_in}.",
                if description.is_empty() { "" } else { " " },
                window_label(slo.window),
                number(slo.objective_percent),
            ),
        ),
    ];
    annotations.sort();
    RuleConfig {
        kind: RuleKind::Alert {
            name: ALERT_NAME.into(),
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            annotations,
        },
        expr,
        labels,
        line: slo.line,
    }
}

/// `text` as literal template text.
fn template_text(text: &str) -> String {
    if text.contains("{{") {
        format!("{{{{ `{}` }}}}", text.replace('`', "'"))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::slos::Sli;

    fn slo() -> SloConfig {
        SloConfig {
            file: "slos/api.toml".into(),
            line: 2,
            name: "api".into(),
            description: "API answers".into(),
            objective_percent: 99.9,
            window: Duration::from_secs(30 * 86_400),
            sli: Sli::Events {
                good: "http_requests_total{code!~\"5..\"}".into(),
                total: "http_requests_total".into(),
            },
            group_by: vec!["service".into()],
            labels: vec![("team".into(), "web".into())],
            interval: Duration::from_secs(30),
        }
    }

    #[test]
    fn group_has_every_window_then_the_budget_then_four_alerts() {
        let group = generate(&slo());
        assert_eq!(group.name, "slo:api");
        assert_eq!(group.file, "slos/api.toml");
        assert!(!group.evaluate_on_ingest);
        let names: Vec<&str> = group.rules.iter().map(RuleConfig::name).collect();
        assert_eq!(names.iter().filter(|name| **name == ERROR_RATIO).count(), 8);
        assert_eq!(
            &names[8..],
            [
                SLI_RATIO,
                BURN_RATE,
                BUDGET_REMAINING,
                ALERT_NAME,
                ALERT_NAME,
                ALERT_NAME,
                ALERT_NAME
            ]
        );
        let windows: Vec<String> = group.rules[..8]
            .iter()
            .map(|rule| {
                rule.labels
                    .iter()
                    .find(|(name, _)| name == "window")
                    .map(|(_, value)| value.clone())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(
            windows,
            ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"].map(String::from)
        );
        assert_eq!(
            group.rules[0].expr,
            "(sum by (service) (rate(http_requests_total[5m])) - (sum by (service) (rate(http_requests_total{code!~\"5..\"}[5m])) or 0 * sum by (service) (rate(http_requests_total[5m])))) / sum by (service) (rate(http_requests_total[5m]))"
        );
        assert_eq!(
            group.rules[9].expr,
            "tandem_slo_error_ratio{slo=\"api\"} / 0.001"
        );
        assert_eq!(
            group.rules[11].expr,
            "max without (window) (tandem_slo_burn_rate{slo=\"api\", window=\"1h\"} > 14.4) and ignoring (window) tandem_slo_burn_rate{slo=\"api\", window=\"5m\"} > 14.4"
        );
        assert_eq!(
            group.rules[11].labels,
            [
                ("burn_rate_threshold", "14.4"),
                ("long_window", "1h"),
                ("severity", "page"),
                ("short_window", "5m"),
                ("team", "web")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        // Every generated expression parses.
        for rule in &group.rules {
            crate::promql::parse::parse(&rule.expr).expect("generated PromQL parses");
        }
    }

    #[test]
    fn latency_sli_reads_the_threshold_bucket_in_both_spellings() {
        let mut slo = slo();
        slo.sli = Sli::Latency {
            metric: "http_request_duration_seconds".into(),
            matchers: vec!["job=\"api\"".into()],
            threshold: 1.0,
        };
        let (good, total) = super::super::selectors(&slo);
        assert_eq!(
            good,
            "http_request_duration_seconds_bucket{job=\"api\", le=~\"1|1\\\\.0\"}"
        );
        assert_eq!(
            total,
            "http_request_duration_seconds_bucket{job=\"api\", le=\"+Inf\"}"
        );
        crate::promql::parse::parse(&good).expect("parses");
    }

    #[test]
    fn budget_fraction_is_the_decimal_the_operator_wrote() {
        let mut slo = slo();
        assert_eq!(slo.budget_fraction(), 0.001);
        slo.objective_percent = 99.99;
        assert_eq!(slo.budget_fraction(), 0.0001);
        slo.objective_percent = 95.0;
        assert_eq!(slo.budget_fraction(), 0.05);
        assert_eq!(slo.objective_ratio(), 0.95);
    }
}
