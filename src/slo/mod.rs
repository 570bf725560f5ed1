//! Service-level objectives: the rules they generate and the budget math over history.
//! Owns: the windows and burn-rate alerts of the SRE workbook's multi-window,
//! multi-burn-rate scheme, the PromQL each SLO's rules and reports evaluate, the rule
//! group generated per SLO (`rules.rs`), and the status, burn-down and compliance
//! history computed through the PromQL engine (`report.rs`).
//! Does not: parse SLO files (`config::slos`), evaluate rules (`alert::rules` runs the
//! generated groups like any other) or read storage other than through the engine.
//!
//! Every number is a ratio of event counts over a window, `errors / total` with
//! `errors = total - good`, so the SLI is exact whatever the scrape interval: the
//! rates (or increases) of good and total share the same extrapolation, which cancels.

pub mod report;
pub mod rules;

use crate::config::slos::{Sli, SloConfig};
use std::time::Duration;

/// The windows every SLO records its error ratio over (besides its own window):
/// those the burn-rate alerts compare.
pub const WINDOWS: [Duration; 7] = [
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(3600),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(6 * 3600),
    Duration::from_secs(86_400),
    Duration::from_secs(3 * 86_400),
];

/// One multi-window burn-rate alert: it fires while the error budget burns faster
/// than `factor` times the sustainable rate over both windows. The long window makes
/// it significant, the short one makes it reset soon after the burning stops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurnAlert {
    /// `page` or `ticket`.
    pub severity: &'static str,
    pub long: Duration,
    pub short: Duration,
    pub factor: f64,
}

/// The SRE workbook's table (chapter 5, "Alerting on SLOs"): 2 % of a 30-day budget
/// in an hour or 5 % in six hours pages; 10 % in a day or in three days opens a ticket.
pub const BURN_ALERTS: [BurnAlert; 4] = [
    BurnAlert {
        severity: "page",
        long: Duration::from_secs(3600),
        short: Duration::from_secs(5 * 60),
        factor: 14.4,
    },
    BurnAlert {
        severity: "page",
        long: Duration::from_secs(6 * 3600),
        short: Duration::from_secs(30 * 60),
        factor: 6.0,
    },
    BurnAlert {
        severity: "ticket",
        long: Duration::from_secs(86_400),
        short: Duration::from_secs(2 * 3600),
        factor: 3.0,
    },
    BurnAlert {
        severity: "ticket",
        long: Duration::from_secs(3 * 86_400),
        short: Duration::from_secs(6 * 3600),
        factor: 1.0,
    },
];

/// The burn rate whose window the time to exhaustion is projected from.
pub const EXHAUSTION_WINDOW: Duration = Duration::from_secs(3600);

/// A window as labels and PromQL write it: `5m`, `6h`, `30d`.
pub fn window_label(window: Duration) -> String {
    let seconds = window.as_secs();
    if seconds > 0 && seconds.is_multiple_of(86_400) {
        format!("{}d", seconds / 86_400)
    } else if seconds > 0 && seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else if seconds > 0 && seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

/// The windows an SLO records: `WINDOWS` and its own, shortest first, once each.
pub fn windows_of(slo: &SloConfig) -> Vec<Duration> {
    let mut windows = WINDOWS.to_vec();
    if !windows.contains(&slo.window) {
        windows.push(slo.window);
        windows.sort();
    }
    windows
}

/// Seconds for people, to the minute, zero parts left out: `1d`, `1h 40m`, `2d 2h`.
pub fn human_duration(seconds: f64) -> String {
    let minutes = (seconds / 60.0).round().max(0.0) as u64;
    let parts: Vec<String> = [
        (minutes / 1440, "d"),
        (minutes / 60 % 24, "h"),
        (minutes % 60, "m"),
    ]
    .into_iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, unit)| format!("{count}{unit}"))
    .collect();
    if parts.is_empty() {
        "under a minute".into()
    } else {
        parts.join(" ")
    }
}

/// A number as PromQL and labels write it: shortest round-trip form.
pub fn number(value: f64) -> String {
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    format!("{value}")
}

/// `text` as a PromQL string literal.
fn quoted(text: &str) -> String {
    crate::web::page::promql_string(text)
}

/// The selectors of an SLO's good and total events.
pub fn selectors(slo: &SloConfig) -> (String, String) {
    match &slo.sli {
        Sli::Events { good, total } => (good.clone(), total.clone()),
        Sli::Latency {
            metric,
            matchers,
            threshold,
        } => {
            let mut base = matchers.clone();
            let bucket = format!("{metric}_bucket");
            // Clients spell a boundary differently (Go `1`, Python `1.0`): match both.
            let mut spellings = vec![number(*threshold)];
            if threshold.fract() == 0.0 && threshold.abs() < 1e15 {
                spellings.push(format!("{threshold:.1}"));
            }
            let pattern: Vec<String> = spellings.iter().map(|text| regex_escape(text)).collect();
            let good_le = format!("le=~{}", quoted(&pattern.join("|")));
            base.sort();
            let with = |extra: &str| {
                let mut all = base.clone();
                all.push(extra.to_string());
                format!("{bucket}{{{}}}", all.join(", "))
            };
            (with(&good_le), with("le=\"+Inf\""))
        }
    }
}

fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// `sum by (group_by) (inner)`, or `sum(inner)` without grouping.
pub fn sum_by(slo: &SloConfig, inner: &str) -> String {
    if slo.group_by.is_empty() {
        format!("sum({inner})")
    } else {
        format!("sum by ({}) ({inner})", slo.group_by.join(", "))
    }
}

/// The error ratio over `window`: `(total - good) / total` of the events' rates, with
/// no good series counting as no good events. NaN when there were no events.
pub fn error_ratio_expr(slo: &SloConfig, window: Duration) -> String {
    let (good, total) = selectors(slo);
    let w = window_label(window);
    let total_rate = sum_by(slo, &format!("rate({total}[{w}])"));
    let good_rate = sum_by(slo, &format!("rate({good}[{w}])"));
    format!("({total_rate} - ({good_rate} or 0 * {total_rate})) / {total_rate}")
}

/// The events counted over `window` ending at each evaluation: `increase` summed by
/// the SLO's groups, for `good` (true) or total events.
pub fn increase_expr(slo: &SloConfig, window: Duration, good: bool) -> String {
    let (good_selector, total_selector) = selectors(slo);
    let selector = if good { good_selector } else { total_selector };
    sum_by(
        slo,
        &format!("increase({selector}[{}])", window_label(window)),
    )
}

/// A label matcher list selecting one SLO's generated series: `slo="name"`.
pub fn slo_matcher(slo: &SloConfig) -> String {
    format!("slo={}", quoted(&slo.name))
}
