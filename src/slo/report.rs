//! What an SLO's budget looks like now and over history, computed through the PromQL
//! engine from the SLI's own counters (not from the generated series, so an SLO added
//! today reports on the history already stored).
//! Owns: the status (SLI, budget remaining as a fraction, in events and in time, burn
//! rates, time to exhaustion), the burn-down over the window, and compliance per
//! calendar month and quarter.
//! Does not: choose tiers — the engine does. The hourly queries of the history run at
//! hour boundaries over whole hours, which the 1h tier answers exactly. The status'
//! window query at an arbitrary time reads raw data while the raw tier holds the
//! window, else the coarsest rollup tier that still cuts it into 720 buckets (ADR
//! 0007; only the two edge buckets are approximate).

use super::{EXHAUSTION_WINDOW, increase_expr, window_label, windows_of};
use crate::config::slos::SloConfig;
use crate::model::Labels;
use crate::promql::value::QueryValue;
use crate::promql::{self, EvalOptions, QueryError};
use crate::storage::Storage;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const HOUR_MS: i64 = 3_600_000;
/// Windows from this long (1d, 3d and the SLO's own) are read up to the last hour
/// boundary plus the rest (`Reader::counts`); shorter ones are cheap from raw data
/// and are read exactly as the rules read them.
const SPLIT_WINDOW_MIN: Duration = Duration::from_secs(86_400);
/// Points a burn-down chart aims for over the window.
const BURN_DOWN_POINTS: i64 = 240;
/// Calendar months and quarters the compliance history covers, the current included.
pub const COMPLIANCE_MONTHS: usize = 12;
pub const COMPLIANCE_QUARTERS: usize = 4;

/// One SLO now.
#[derive(Clone, Debug, Serialize)]
pub struct SloStatus {
    pub name: String,
    pub description: String,
    /// Percent: `99.9`.
    pub objective: f64,
    /// Seconds.
    pub window_seconds: u64,
    pub window: String,
    /// The file it is defined in.
    pub file: String,
    /// One entry per combination of `group_by` values seen in the window (one entry
    /// with no labels without `group_by`), sorted by labels.
    pub groups: Vec<GroupStatus>,
    /// Storage tiers that served the queries, finest first.
    pub tiers: Vec<String>,
    /// Evaluation time (Unix ms).
    pub time_ms: i64,
}

/// One SLO (one group of it) now.
#[derive(Clone, Debug, Serialize)]
pub struct GroupStatus {
    /// The `group_by` labels.
    pub labels: BTreeMap<String, String>,
    /// Events over the window.
    pub total_events: f64,
    pub good_events: f64,
    /// good / total over the window; `None` without events.
    pub sli: Option<f64>,
    /// 1 - errors / (budget fraction × total); negative when overspent.
    pub budget_remaining_ratio: Option<f64>,
    /// Bad events the window may still take: budget fraction × total − errors.
    pub budget_remaining_events: Option<f64>,
    /// The remaining budget as time of total outage: remaining ratio × budget
    /// fraction × window, in seconds.
    pub budget_remaining_seconds: Option<f64>,
    /// Error ratio over the budget fraction, per window (`5m` … the SLO's window).
    pub burn_rates: Vec<BurnRate>,
    /// At the last hour's burn rate, how long until the budget is gone (seconds):
    /// remaining ratio × window ÷ burn rate, assuming steady traffic. 0 when already
    /// exhausted; `None` when not burning or without data.
    pub time_to_exhaustion_seconds: Option<f64>,
    /// `ok`, `burning` (a burn-rate alert's condition holds), `exhausted`, `no data`.
    pub state: &'static str,
    /// The burn-rate alerts whose condition holds now, as `page 1h/5m`.
    pub alerting: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BurnRate {
    pub window: String,
    pub window_seconds: u64,
    /// `None` without events in the window.
    pub burn_rate: Option<f64>,
    pub error_ratio: Option<f64>,
}

/// Good and total events per group.
type Counts = BTreeMap<Labels, (f64, f64)>;
/// A series' labels and its (Unix ms, value) points.
pub type Points = Vec<(i64, f64)>;
/// An hour's end (Unix ms), good and total events.
type HourCounts = (i64, f64, f64);
/// `group_by` labels by name.
pub type GroupLabels = BTreeMap<String, String>;

/// Runs instant and range queries for the reports, recording the tiers served.
pub struct Reader<'a> {
    storage: &'a Storage,
    options: EvalOptions,
    tiers: BTreeSet<String>,
}

impl<'a> Reader<'a> {
    pub fn new(storage: &'a Storage, options: EvalOptions) -> Reader<'a> {
        Reader {
            storage,
            options,
            tiers: BTreeSet::new(),
        }
    }

    /// Tiers served so far, finest first.
    pub fn tiers(&self) -> Vec<String> {
        promql::tiers::in_order(self.storage, &self.tiers)
    }

    /// An instant query's series and values.
    pub fn instant_values(
        &mut self,
        query: &str,
        t: i64,
    ) -> Result<Vec<(Labels, f64)>, QueryError> {
        let result = promql::instant(self.storage, query, t, &self.options)?;
        self.tiers.extend(result.tiers);
        Ok(match result.value {
            QueryValue::Vector(samples) => samples
                .into_iter()
                .map(|(labels, sample)| (labels, sample.v))
                .collect(),
            QueryValue::Scalar(_, v) => vec![(Labels::default(), v)],
            _ => Vec::new(),
        })
    }

    /// A range query's series as (time, value) points.
    pub fn range_points(
        &mut self,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Vec<(Labels, Points)>, QueryError> {
        let result = promql::range(self.storage, query, start, end, step, &self.options)?;
        self.tiers.extend(result.tiers);
        Ok(match result.value {
            QueryValue::Matrix(series) => series
                .into_iter()
                .map(|(labels, samples)| {
                    (
                        labels,
                        samples
                            .into_iter()
                            .map(|sample| (sample.t, sample.v))
                            .collect(),
                    )
                })
                .collect(),
            _ => Vec::new(),
        })
    }

    /// Good and total events per group over `window` ending at `t`.
    ///
    /// A window of a day or more is split at the last hour boundary `a`: the window
    /// ending at `a` (whole hours, which the 1h tier answers exactly, as 2 160
    /// buckets for 90 days) plus the events since `a` (minutes of raw data). That is
    /// the window `(a - window, t]`, up to an hour longer than asked; in exchange a
    /// long window costs the same whatever the raw tier's retention, and is never
    /// approximated bucket by bucket.
    fn counts(&mut self, slo: &SloConfig, window: Duration, t: i64) -> Result<Counts, QueryError> {
        let mut counts = Counts::new();
        if window >= SPLIT_WINDOW_MIN && window.as_secs().is_multiple_of(3600) {
            let aligned = t.div_euclid(HOUR_MS) * HOUR_MS;
            let at = format!(" @ {}", aligned / 1000);
            self.add_counts(&mut counts, slo, &window_label(window), &at, t)?;
            if t > aligned {
                let tail = format!("{}ms", t - aligned);
                self.add_counts(&mut counts, slo, &tail, "", t)?;
            }
        } else {
            self.add_counts(&mut counts, slo, &window_label(window), "", t)?;
        }
        Ok(counts)
    }

    /// Adds `sum by (group_by) (increase(selector[range] modifier))` of good and total
    /// events at `t` to `counts`.
    fn add_counts(
        &mut self,
        counts: &mut Counts,
        slo: &SloConfig,
        range: &str,
        modifier: &str,
        t: i64,
    ) -> Result<(), QueryError> {
        let (good_selector, total_selector) = super::selectors(slo);
        let query = |selector: &str| {
            super::sum_by(slo, &format!("increase({selector}[{range}]{modifier})"))
        };
        let total = self.instant_values(&query(&total_selector), t)?;
        let good: BTreeMap<Labels, f64> = self
            .instant_values(&query(&good_selector), t)?
            .into_iter()
            .collect();
        for (labels, total) in total {
            let good = good.get(&labels).copied().unwrap_or(0.0);
            let entry = counts.entry(labels).or_insert((0.0, 0.0));
            entry.0 += good;
            entry.1 += total;
        }
        Ok(())
    }
}

fn labels_map(labels: &Labels) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|label| (label.name.clone(), label.value.clone()))
        .collect()
}

fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

/// The status of `slo` at `t` (Unix ms), from the SLI's counters.
pub fn status(reader: &mut Reader, slo: &SloConfig, t: i64) -> Result<SloStatus, QueryError> {
    let windows = windows_of(slo);
    let mut per_window = Vec::with_capacity(windows.len());
    for window in &windows {
        per_window.push((*window, reader.counts(slo, *window, t)?));
    }
    let main = per_window
        .iter()
        .find(|(window, _)| *window == slo.window)
        .map(|(_, counts)| counts.clone())
        .unwrap_or_default();
    let groups = main
        .iter()
        .map(|(labels, events)| {
            let ratios: Vec<(Duration, Option<f64>)> = per_window
                .iter()
                .map(|(window, counts)| {
                    let ratio = counts.get(labels).and_then(|(good, total)| {
                        (*total > 0.0)
                            .then(|| finite((total - good) / total))
                            .flatten()
                    });
                    (*window, ratio)
                })
                .collect();
            group_status(slo, labels_map(labels), &ratios, Some(*events))
        })
        .collect();
    Ok(SloStatus {
        name: slo.name.clone(),
        description: slo.description.clone(),
        objective: slo.objective_percent,
        window_seconds: slo.window.as_secs(),
        window: window_label(slo.window),
        file: slo.file.clone(),
        groups,
        tiers: reader.tiers(),
        time_ms: t,
    })
}

/// The status of every SLO at `t` from the series their rules recorded
/// (`tandem_slo_error_ratio`): one query for all, so cheap enough for the overview.
/// Without event counts (`total_events` and `good_events` are 0 and the budget in
/// events is `None`), and empty for an SLO whose rules have not run yet.
pub fn recorded_statuses(
    reader: &mut Reader,
    slos: &[SloConfig],
    t: i64,
) -> Result<Vec<SloStatus>, QueryError> {
    let recorded = reader.instant_values(super::rules::ERROR_RATIO, t)?;
    let mut statuses = Vec::with_capacity(slos.len());
    for slo in slos {
        // Per group (the series' labels but the name, `slo`, `window` and the SLO's
        // own labels): the error ratio per window.
        let mut groups: BTreeMap<GroupLabels, Vec<(Duration, Option<f64>)>> = BTreeMap::new();
        for (labels, value) in &recorded {
            if labels.get("slo") != Some(slo.name.as_str()) {
                continue;
            }
            let Some(window) = windows_of(slo)
                .into_iter()
                .find(|window| labels.get("window") == Some(window_label(*window).as_str()))
            else {
                continue;
            };
            let group: GroupLabels = labels
                .iter()
                .filter(|label| {
                    !matches!(label.name.as_str(), "__name__" | "slo" | "window")
                        && !slo.labels.iter().any(|(name, _)| *name == label.name)
                })
                .map(|label| (label.name.clone(), label.value.clone()))
                .collect();
            groups
                .entry(group)
                .or_default()
                .push((window, finite(*value)));
        }
        statuses.push(SloStatus {
            name: slo.name.clone(),
            description: slo.description.clone(),
            objective: slo.objective_percent,
            window_seconds: slo.window.as_secs(),
            window: window_label(slo.window),
            file: slo.file.clone(),
            groups: groups
                .into_iter()
                .filter(|(_, ratios)| ratios.iter().any(|(window, _)| *window == slo.window))
                .map(|(labels, mut ratios)| {
                    ratios.sort_by_key(|(window, _)| *window);
                    group_status(slo, labels, &ratios, None)
                })
                .collect(),
            tiers: reader.tiers(),
            time_ms: t,
        });
    }
    Ok(statuses)
}

/// One group's figures from its error ratio per window (shortest first) and, when
/// known, its good and total events over the SLO's window.
fn group_status(
    slo: &SloConfig,
    labels: GroupLabels,
    ratios: &[(Duration, Option<f64>)],
    events: Option<(f64, f64)>,
) -> GroupStatus {
    let budget = slo.budget_fraction();
    let window_seconds = slo.window.as_secs_f64();
    let burn_rates: Vec<BurnRate> = ratios
        .iter()
        .map(|(window, error_ratio)| BurnRate {
            window: window_label(*window),
            window_seconds: window.as_secs(),
            burn_rate: error_ratio.map(|ratio| ratio / budget),
            error_ratio: *error_ratio,
        })
        .collect();
    let burn_of = |window: Duration| {
        burn_rates
            .iter()
            .find(|burn| burn.window_seconds == window.as_secs())
            .and_then(|burn| burn.burn_rate)
    };
    let sli = ratios
        .iter()
        .find(|(window, _)| *window == slo.window)
        .and_then(|(_, ratio)| *ratio)
        .map(|ratio| 1.0 - ratio);
    let remaining = sli.map(|sli| 1.0 - (1.0 - sli) / budget);
    let time_to_exhaustion = match (remaining, burn_of(EXHAUSTION_WINDOW)) {
        (Some(remaining), _) if remaining <= 0.0 => Some(0.0),
        (Some(remaining), Some(burn)) if burn > 0.0 => Some(remaining * window_seconds / burn),
        _ => None,
    };
    let alerting: Vec<String> = super::BURN_ALERTS
        .iter()
        .filter(|alert| {
            burn_of(alert.long).is_some_and(|burn| burn > alert.factor)
                && burn_of(alert.short).is_some_and(|burn| burn > alert.factor)
        })
        .map(|alert| {
            format!(
                "{} {}/{}",
                alert.severity,
                window_label(alert.long),
                window_label(alert.short)
            )
        })
        .collect();
    let state = match remaining {
        None => "no data",
        Some(remaining) if remaining <= 0.0 => "exhausted",
        Some(_) if !alerting.is_empty() => "burning",
        Some(_) => "ok",
    };
    let (good, total) = events.unwrap_or((0.0, 0.0));
    let counted = events.is_some() && total > 0.0 && total.is_finite();
    // The SLI from events when they are counted: the same ratio, without a subtraction.
    let sli = if counted { Some(good / total) } else { sli };
    GroupStatus {
        labels,
        total_events: total,
        good_events: good,
        sli,
        budget_remaining_ratio: remaining,
        budget_remaining_events: counted.then_some(budget * total - (total - good)),
        budget_remaining_seconds: remaining.map(|remaining| remaining * budget * window_seconds),
        burn_rates,
        time_to_exhaustion_seconds: time_to_exhaustion,
        state,
        alerting,
    }
}

/// The budget spent over the window, per group: `(t, remaining ratio)` from 1 at the
/// window's start down to the status' figure now.
#[derive(Clone, Debug, Serialize)]
pub struct BurnDown {
    pub step_ms: i64,
    pub series: Vec<(GroupLabels, Points)>,
}

/// The burn-down of `slo` over its window ending at `status.time_ms`: errors in
/// whole-hour steps (answered exactly by the 1h tier), accumulated, over the budget of
/// the window's events; the last point is the status itself.
pub fn burn_down(
    reader: &mut Reader,
    slo: &SloConfig,
    status: &SloStatus,
) -> Result<BurnDown, QueryError> {
    let t = status.time_ms;
    let window_ms = i64::try_from(slo.window.as_millis()).unwrap_or(i64::MAX);
    let step = ((window_ms / BURN_DOWN_POINTS + HOUR_MS - 1) / HOUR_MS).max(1) * HOUR_MS;
    let end = t.div_euclid(step) * step;
    let steps = (window_ms / step).max(1);
    let start = end - (steps - 1) * step;
    let step_window = Duration::from_millis(u64::try_from(step).unwrap_or(u64::MAX));
    let total = reader.range_points(&increase_expr(slo, step_window, false), start, end, step)?;
    let good = reader.range_points(&increase_expr(slo, step_window, true), start, end, step)?;
    let good: BTreeMap<Labels, BTreeMap<i64, f64>> = good
        .into_iter()
        .map(|(labels, points)| (labels, points.into_iter().collect()))
        .collect();
    let budget = slo.budget_fraction();
    let mut series = Vec::new();
    for (labels, points) in total {
        let map = labels_map(&labels);
        let Some(group) = status.groups.iter().find(|group| group.labels == map) else {
            continue;
        };
        let allowed = budget * group.total_events;
        if allowed <= 0.0 {
            continue;
        }
        let good_points = good.get(&labels);
        let totals: BTreeMap<i64, f64> = points.into_iter().collect();
        let mut spent = 0.0;
        let mut line = vec![(start - step, 1.0)];
        // Every step, those without events too: no events spend no budget.
        for index in 0..steps {
            let time = start + index * step;
            if let Some(total) = totals.get(&time) {
                let good = good_points
                    .and_then(|points| points.get(&time))
                    .copied()
                    .unwrap_or(0.0);
                if (total - good).is_finite() {
                    spent += total - good;
                }
            }
            line.push((time, 1.0 - spent / allowed));
        }
        if let Some(remaining) = group.budget_remaining_ratio {
            line.push((t, remaining));
        }
        series.push((map, line));
    }
    Ok(BurnDown {
        step_ms: step,
        series,
    })
}

/// One calendar period's compliance, per group.
#[derive(Clone, Debug, Serialize)]
pub struct Period {
    /// `2026-11` or `2026-Q4`.
    pub name: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Whether the period is still running (figures to date).
    pub partial: bool,
    pub groups: Vec<PeriodGroup>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PeriodGroup {
    pub labels: BTreeMap<String, String>,
    pub total_events: f64,
    /// good / total over the period.
    pub sli: Option<f64>,
    /// Hours of the period with events whose SLI met the objective, over all hours
    /// with events.
    pub time_above_objective: Option<f64>,
    pub hours_with_events: u64,
    pub met: Option<bool>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Compliance {
    pub months: Vec<Period>,
    pub quarters: Vec<Period>,
}

/// Compliance per calendar month (UTC) and quarter up to `t`: from hourly event counts
/// (two range queries at a 1 h step over the last 12 months, read from the 1h tier),
/// the SLI achieved and the fraction of hours whose SLI met the objective.
pub fn compliance(reader: &mut Reader, slo: &SloConfig, t: i64) -> Result<Compliance, QueryError> {
    let months = month_starts(t, COMPLIANCE_MONTHS);
    let quarters = quarter_starts(t, COMPLIANCE_QUARTERS);
    let first = months
        .first()
        .map(|(start, _)| *start)
        .into_iter()
        .chain(quarters.first().map(|(start, _)| *start))
        .min()
        .unwrap_or(t);
    let end = t.div_euclid(HOUR_MS) * HOUR_MS;
    let start = first + HOUR_MS;
    let hour = Duration::from_secs(3600);
    let (total, good) = if start <= end {
        (
            reader.range_points(&increase_expr(slo, hour, false), start, end, HOUR_MS)?,
            reader.range_points(&increase_expr(slo, hour, true), start, end, HOUR_MS)?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let good: BTreeMap<Labels, BTreeMap<i64, f64>> = good
        .into_iter()
        .map(|(labels, points)| (labels, points.into_iter().collect()))
        .collect();
    // Per group: (hour end, good, total).
    let hourly: Vec<(GroupLabels, Vec<HourCounts>)> = total
        .into_iter()
        .map(|(labels, points)| {
            let good_points = good.get(&labels);
            let rows = points
                .into_iter()
                .filter(|(_, total)| total.is_finite())
                .map(|(time, total)| {
                    let good = good_points
                        .and_then(|points| points.get(&time))
                        .copied()
                        .unwrap_or(0.0);
                    (time, good, total)
                })
                .collect();
            (labels_map(&labels), rows)
        })
        .collect();
    let objective = slo.objective_ratio();
    let period = |(start, end): (i64, i64), name: String| Period {
        partial: end > t,
        groups: hourly
            .iter()
            .filter_map(|(labels, rows)| {
                let in_period: Vec<&HourCounts> = rows
                    .iter()
                    .filter(|(time, _, _)| *time > start && *time <= end)
                    .collect();
                let total: f64 = in_period.iter().map(|(_, _, total)| total).sum();
                let good: f64 = in_period.iter().map(|(_, good, _)| good).sum();
                let with_events: Vec<_> = in_period
                    .iter()
                    .filter(|(_, _, total)| *total > 0.0)
                    .collect();
                if with_events.is_empty() {
                    return None;
                }
                let above = with_events
                    .iter()
                    .filter(|(_, good, total)| good / total >= objective)
                    .count();
                let sli = (total > 0.0).then(|| good / total);
                Some(PeriodGroup {
                    labels: labels.clone(),
                    total_events: total,
                    sli,
                    time_above_objective: Some(above as f64 / with_events.len() as f64),
                    hours_with_events: with_events.len() as u64,
                    met: sli.map(|sli| sli >= objective),
                })
            })
            .collect(),
        name,
        start_ms: start,
        end_ms: end,
    };
    let months = newest_first_with_data(
        months
            .into_iter()
            .map(|bounds| period(bounds, month_name(bounds.0)))
            .collect(),
    );
    let quarters = newest_first_with_data(
        quarters
            .into_iter()
            .map(|bounds| period(bounds, quarter_name(bounds.0)))
            .collect(),
    );
    Ok(Compliance { months, quarters })
}

/// Periods (oldest first) newest first, without those older than the first with
/// data; the current period stays, data or not.
fn newest_first_with_data(mut periods: Vec<Period>) -> Vec<Period> {
    let first = periods
        .iter()
        .position(|period| !period.groups.is_empty())
        .unwrap_or(periods.len().saturating_sub(1));
    periods.drain(..first);
    periods.reverse();
    periods
}

/// `(start, end)` in Unix ms of the last `count` calendar months (UTC), oldest first,
/// the one holding `t` last.
fn month_starts(t: i64, count: usize) -> Vec<(i64, i64)> {
    let (mut year, mut month) = year_month(t);
    let mut bounds = Vec::with_capacity(count);
    for _ in 0..count {
        let start = month_start_ms(year, month);
        let (next_year, next_month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        bounds.push((start, month_start_ms(next_year, next_month)));
        (year, month) = if month == 1 {
            (year - 1, 12)
        } else {
            (year, month - 1)
        };
    }
    bounds.reverse();
    bounds
}

fn quarter_starts(t: i64, count: usize) -> Vec<(i64, i64)> {
    let (mut year, month) = year_month(t);
    let mut quarter = (month - 1) / 3;
    let mut bounds = Vec::with_capacity(count);
    for _ in 0..count {
        let start = month_start_ms(year, quarter * 3 + 1);
        let end = if quarter == 3 {
            month_start_ms(year + 1, 1)
        } else {
            month_start_ms(year, quarter * 3 + 4)
        };
        bounds.push((start, end));
        if quarter == 0 {
            year -= 1;
            quarter = 3;
        } else {
            quarter -= 1;
        }
    }
    bounds.reverse();
    bounds
}

fn year_month(t: i64) -> (i16, i8) {
    match jiff::Timestamp::from_millisecond(t) {
        Ok(timestamp) => {
            let date = timestamp.to_zoned(jiff::tz::TimeZone::UTC).date();
            (date.year(), date.month())
        }
        Err(_) => (1970, 1),
    }
}

fn month_start_ms(year: i16, month: i8) -> i64 {
    jiff::civil::Date::new(year, month, 1)
        .and_then(|date| date.to_zoned(jiff::tz::TimeZone::UTC))
        .map(|zoned| zoned.timestamp().as_millisecond())
        .unwrap_or(0)
}

fn month_name(start: i64) -> String {
    let (year, month) = year_month(start);
    format!("{year}-{month:02}")
}

fn quarter_name(start: i64) -> String {
    let (year, month) = year_month(start);
    format!("{year}-Q{}", (month - 1) / 3 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_periods_end_where_the_next_begins() {
        // 2026-12-05T12:00:00Z
        let t = 1_796_472_000_000;
        let months = month_starts(t, 3);
        assert_eq!(
            months
                .iter()
                .map(|(start, _)| month_name(*start))
                .collect::<Vec<_>>(),
            ["2026-10", "2026-11", "2026-12"]
        );
        assert_eq!(months[0].1, months[1].0);
        assert_eq!(months[2].1, month_start_ms(2027, 1));
        let quarters = quarter_starts(t, 4);
        assert_eq!(
            quarters
                .iter()
                .map(|(start, _)| quarter_name(*start))
                .collect::<Vec<_>>(),
            ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
        );
        assert_eq!(
            quarters[3],
            (month_start_ms(2026, 10), month_start_ms(2027, 1))
        );
    }
}
