//! Which storage tier a selector reads, and how buckets become what the engine
//! evaluates.
//! Owns: the choice of tier per selector (from the query's `tier=` request, the
//! selector's steps and window, and which tiers hold the range), when a tier's answer
//! is exact, and the points a bucket stands for when a function needs samples.
//! Does not: read storage (`Storage::select` serves the tier chosen here) or compute
//! window functions (`functions/range.rs`).
//!
//! A rollup bucket ends at a multiple of its resolution and holds the samples after
//! the previous end up to its own (left-open, like PromQL windows). A window
//! `(te - range, te]` whose end and length are multiples of the resolution therefore
//! holds exactly the samples of whole buckets: every aggregate a bucket keeps (count,
//! sum, min, max, first, last, the reset-adjusted increase) combines into the window's
//! exactly, and so does everything computed from them — `rate` and `increase`
//! included, extrapolation and all. An instant selector at such a time sees the last
//! sample of the newest bucket, which is the sample it would see in raw data.
//! Windows that cut buckets, and functions that need each sample (`quantile_over_time`,
//! `changes`, ...), are answered from the buckets' first and last samples instead, and
//! flagged approximate — unless a finer tier holding the whole range can answer them.

use super::ast::Span;
use super::eval::TierRequest;
use crate::model::{Sample, stale_nan};
use crate::storage::rollup::Bucket;
use crate::storage::{Storage, TierCoverage};

/// Buckets a window read from a tier that cannot answer it exactly is cut into, at
/// least: the error is then at most the two edge buckets' share, 2/720 of the window
/// (a 30-day `rate` from the 1h tier rather than 43 200 one-minute buckets).
pub const WINDOW_BUCKETS_MIN: i64 = 720;

/// One read a selector makes.
pub struct Read {
    pub span: Span,
    /// The oldest time the read needs (ms).
    pub mint: i64,
    /// The end of the first window (or the first instant), after `offset` and `@`.
    pub first_end: i64,
    /// The distance between window ends; `None` for one window (an instant query,
    /// or `@`).
    pub step: Option<i64>,
    /// The window length of a range function; `None` for an instant selector.
    pub window: Option<i64>,
    /// Whether the function reading it is exact on whole buckets.
    pub exact: bool,
}

/// What a read is served from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The rollup resolution (ms); `None` for raw samples.
    pub resolution: Option<i64>,
    pub tier_name: String,
    /// Why the answer is not exact, when it is not.
    pub approximate: Option<String>,
}

/// Chooses the tier of `read` (see the module comment). `coverage` lists the
/// configured tiers finest first.
pub fn plan(coverage: &[TierCoverage], request: TierRequest, read: &Read) -> Plan {
    let raw = coverage
        .iter()
        .find(|tier| tier.tier.resolution_ms.is_none());
    let rollups: Vec<(i64, &TierCoverage)> = coverage
        .iter()
        .filter_map(|tier| tier.tier.resolution_ms.map(|r| (r, tier)))
        .collect();
    let raw_plan = |approximate: Option<String>| Plan {
        resolution: None,
        tier_name: "raw".into(),
        approximate,
    };
    let rollup_plan = |resolution: i64, tier: &TierCoverage| Plan {
        resolution: Some(resolution),
        tier_name: tier.tier.name(),
        approximate: inexact(read, resolution, &tier.tier.name()),
    };
    match request {
        TierRequest::Raw => raw_plan(None),
        TierRequest::Rollup(resolution) => match rollups.iter().find(|(r, _)| *r == resolution) {
            Some((r, tier)) => rollup_plan(*r, tier),
            None => raw_plan(None),
        },
        TierRequest::Auto => {
            // The step (or, for one window, the window itself) is the finest detail
            // the answer shows: a tier no finer than that loses nothing.
            let needed = read.step.or(read.window).unwrap_or(0);
            let exact_and_enough = rollups.iter().rev().find(|(r, tier)| {
                *r <= needed && tier.covers(read.mint) && inexact(read, *r, "").is_none()
            });
            if let Some((r, tier)) = exact_and_enough {
                return rollup_plan(*r, tier);
            }
            if raw.is_none_or(|raw| raw.covers(read.mint)) {
                return raw_plan(None);
            }
            // Approximate either way: a long window takes the coarsest tier that still
            // cuts it into `WINDOW_BUCKETS_MIN` buckets (only its two edge buckets are
            // approximate), anything else the finest.
            let covering = || rollups.iter().filter(|(_, tier)| tier.covers(read.mint));
            let coarse = read.window.and_then(|window| {
                covering().rfind(|(r, _)| r.saturating_mul(WINDOW_BUCKETS_MIN) <= window)
            });
            match coarse.or_else(|| covering().next()) {
                Some((r, tier)) => rollup_plan(*r, tier),
                // No tier holds it all (a tier added recently): raw has what exists.
                None => raw_plan(None),
            }
        }
    }
}

/// Why the tier of `resolution` cannot answer `read` exactly; `None` when it can.
fn inexact(read: &Read, resolution: i64, name: &str) -> Option<String> {
    if !read.exact {
        return Some("the function needs every sample".into());
    }
    if let Some(window) = read.window
        && window % resolution != 0
    {
        return Some(format!("the range is not a multiple of {name}"));
    }
    if read.first_end.rem_euclid(resolution) != 0
        || read.step.is_some_and(|step| step % resolution != 0)
    {
        return Some(format!("the evaluation times are not multiples of {name}"));
    }
    None
}

/// The tier names in `served`, finest first (the configured order).
pub fn in_order(storage: &Storage, served: &std::collections::BTreeSet<String>) -> Vec<String> {
    storage
        .tier_coverage()
        .iter()
        .map(|tier| tier.tier.name())
        .filter(|name| served.contains(name))
        .collect()
}

/// The samples a run of buckets stands for where a function needs samples: each
/// bucket's first and last sample, and its closing stale marker. An instant selector
/// at a bucket's end sees exactly what it would see in the raw data.
pub fn bucket_points(buckets: &[Bucket]) -> Vec<Sample> {
    let mut points = Vec::with_capacity(buckets.len() * 2);
    for bucket in buckets {
        if bucket.count > 0 {
            points.push(Sample {
                t: bucket.first_t,
                v: bucket.first,
            });
            if bucket.last_t != bucket.first_t {
                points.push(Sample {
                    t: bucket.last_t,
                    v: bucket.last,
                });
            }
        }
        if let Some(t) = bucket.stale_t {
            points.push(Sample { t, v: stale_nan() });
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Tier;

    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 3_600_000;

    fn coverage(raw_from: i64) -> Vec<TierCoverage> {
        Tier::design_defaults()
            .into_iter()
            .map(|tier| TierCoverage {
                tier,
                from_t: if tier.resolution_ms.is_none() {
                    raw_from
                } else {
                    i64::MIN
                },
            })
            .collect()
    }

    fn read(first_end: i64, step: Option<i64>, window: Option<i64>, exact: bool) -> Read {
        Read {
            span: Span::default(),
            mint: first_end - window.unwrap_or(5 * MINUTE) + 1,
            first_end,
            step,
            window,
            exact,
        }
    }

    #[test]
    fn auto_takes_the_coarsest_exact_tier_the_step_allows() {
        let tiers = coverage(i64::MIN);
        let day = 24 * HOUR;
        let hourly = plan(
            &tiers,
            TierRequest::Auto,
            &read(day, Some(HOUR), Some(HOUR), true),
        );
        assert_eq!(hourly.tier_name, "1h");
        assert_eq!(hourly.approximate, None);
        // rate(x[5m]) at a 1 h step: 1 h buckets would cut the windows; 1 m do not.
        let five = plan(
            &tiers,
            TierRequest::Auto,
            &read(day, Some(HOUR), Some(5 * MINUTE), true),
        );
        assert_eq!(five.resolution, Some(MINUTE));
        // A 15 s step needs raw data.
        let fine = plan(
            &tiers,
            TierRequest::Auto,
            &read(day, Some(15_000), Some(HOUR), true),
        );
        assert_eq!(fine.resolution, None);
        // Unaligned evaluation times, or a function needing every sample: raw.
        let unaligned = plan(
            &tiers,
            TierRequest::Auto,
            &read(day + 1000, Some(HOUR), Some(HOUR), true),
        );
        assert_eq!(unaligned.resolution, None);
        let quantile = plan(
            &tiers,
            TierRequest::Auto,
            &read(day, Some(HOUR), Some(HOUR), false),
        );
        assert_eq!(quantile.resolution, None);
    }

    #[test]
    fn expired_raw_data_sends_the_read_to_a_rollup_tier_and_says_if_it_is_approximate() {
        let day = 24 * HOUR;
        let tiers = coverage(30 * day);
        let old = read(20 * day + 1000, Some(HOUR), Some(HOUR), true);
        let chosen = plan(&tiers, TierRequest::Auto, &old);
        assert_eq!(chosen.tier_name, "1m");
        assert_eq!(
            chosen.approximate.as_deref(),
            Some("the evaluation times are not multiples of 1m")
        );
        let forced = plan(
            &tiers,
            TierRequest::Rollup(HOUR),
            &read(day, Some(HOUR), Some(30 * MINUTE), true),
        );
        assert_eq!(forced.tier_name, "1h");
        assert_eq!(
            forced.approximate.as_deref(),
            Some("the range is not a multiple of 1h")
        );
        let raw = plan(&tiers, TierRequest::Raw, &old);
        assert_eq!((raw.resolution, raw.approximate), (None, None));
    }

    #[test]
    fn an_unaligned_long_window_reads_the_coarsest_tier_that_keeps_720_buckets() {
        let day = 24 * HOUR;
        // Raw keeps 15 days; `rate(x[30d])` at a time that is no whole hour.
        let tiers = coverage(100 * day - 15 * day);
        let now = 100 * day + 17 * MINUTE + 1234;
        let month = plan(
            &tiers,
            TierRequest::Auto,
            &read(now, None, Some(30 * day), true),
        );
        assert_eq!(month.tier_name, "1h");
        assert!(month.approximate.is_some());
        // 20 days in 1h buckets would be 480: too few, so 1m.
        let twenty = plan(
            &tiers,
            TierRequest::Auto,
            &read(now, None, Some(20 * day), true),
        );
        assert_eq!(twenty.tier_name, "1m");
        // Raw still holds 7 days: exact beats cheap.
        let week = plan(
            &tiers,
            TierRequest::Auto,
            &read(now, None, Some(7 * day), true),
        );
        assert_eq!(week.tier_name, "raw");
    }
}
