//! Legend rows: each series' colour and its last, min, max and mean.
//! Owns: the statistics (over points that are not NaN; infinities count, so a +Inf
//! shows as max rather than vanishing).
//! Does not: escape (askama does), or draw.

use super::format::write_value;
use super::palette::{self, PALETTE};
use super::{ChartSeries, LegendRow, Unit};

/// Shown for a statistic of a series without a single value.
const MISSING: &str = "–";

pub(super) fn rows(series: &[ChartSeries], unit: Unit) -> Vec<LegendRow> {
    let colors = palette::assign(series);
    series
        .iter()
        .zip(colors)
        .map(|(one, color)| row(one, PALETTE[color], unit))
        .collect()
}

fn row(series: &ChartSeries, color: &str, unit: Unit) -> LegendRow {
    let mut stats = Stats::default();
    for (_, value) in &series.points {
        stats.add(*value);
    }
    let text = |value: Option<f64>| match value {
        Some(value) => {
            let mut out = String::new();
            write_value(&mut out, value, unit);
            out
        }
        None => MISSING.to_string(),
    };
    LegendRow {
        name: series.name.clone(),
        color: color.to_string(),
        last: text(stats.last),
        min: text(stats.min),
        max: text(stats.max),
        avg: text(stats.mean()),
    }
}

#[derive(Default)]
struct Stats {
    last: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    /// Mean of the finite values, kept incrementally (a plain sum overflows).
    finite_mean: f64,
    finite_count: u64,
    positive_infinity: bool,
    negative_infinity: bool,
}

impl Stats {
    fn add(&mut self, value: f64) {
        if value.is_nan() {
            return;
        }
        self.last = Some(value);
        self.min = Some(self.min.map_or(value, |min| min.min(value)));
        self.max = Some(self.max.map_or(value, |max| max.max(value)));
        if value == f64::INFINITY {
            self.positive_infinity = true;
        } else if value == f64::NEG_INFINITY {
            self.negative_infinity = true;
        } else {
            self.finite_count += 1;
            // Halves: `value - mean` overflows between -f64::MAX and f64::MAX.
            let step = (value / 2.0 - self.finite_mean / 2.0) / self.finite_count as f64;
            self.finite_mean += step * 2.0;
        }
    }

    /// The mean: infinite when an infinity occurred, NaN when both did.
    fn mean(&self) -> Option<f64> {
        self.last?;
        Some(match (self.positive_infinity, self.negative_infinity) {
            (true, true) => f64::NAN,
            (true, false) => f64::INFINITY,
            (false, true) => f64::NEG_INFINITY,
            (false, false) => self.finite_mean,
        })
    }
}
