//! Tiers over time: retention per tier with queries running, rollup reads across
//! compacted and uncompacted data, late samples for days raw retention has cut, and
//! tier state across restarts.

use super::super::*;
use crate::model::{Matcher, Sample, SeriesRef};
use crate::promql::{self, EvalOptions, TierRequest, value::QueryValue};
use rollup::Bucket;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// A midnight (UTC) in 2023: whole days and hours line up with it.
const T0: i64 = 19_700 * DAY;

fn tier(resolution_ms: Option<i64>, days: u64) -> Tier {
    Tier {
        resolution_ms,
        retention: Duration::from_secs(days * 86_400),
    }
}

fn open_with(dir: &std::path::Path, tiers: Vec<Tier>) -> Storage {
    let mut options = StorageOptions::new(dir);
    options.tiers = tiers;
    Storage::open(options).expect("storage opens")
}

/// A counter sampled every minute over `(from, to]`, rising by irregular steps (so
/// that blocks do not compress to nothing) and resetting every 1000 samples.
fn counter(from: i64, to: i64) -> Vec<Sample> {
    (1..)
        .map(|i| from + i * MINUTE)
        .take_while(|t| *t <= to)
        .map(|t| {
            let n = t / MINUTE;
            let since_reset = n % 1000;
            let noise = (n.wrapping_mul(2_654_435_761) % 977) as f64 / 7.0;
            Sample {
                t,
                v: since_reset as f64 * 100.0 + noise,
            }
        })
        .collect()
}

fn append(storage: &Storage, job: &str, samples: &[Sample]) {
    let labels = crate::model::Labels::new_series([("__name__", "work_total"), ("job", job)])
        .expect("labels");
    for part in samples.chunks(5_000) {
        let outcome = storage
            .append(
                &[SeriesSamples {
                    labels: labels.clone(),
                    samples: part.to_vec(),
                }],
                Durability::Background,
            )
            .expect("append");
        assert!(outcome.rejections.is_empty(), "{:?}", outcome.rejections);
    }
}

fn compact_all(storage: &Storage) {
    storage.seal_idle(i64::MAX).expect("seal");
    storage.compact(i64::MAX).expect("compact");
}

/// The per-tier sizes kept by triggers agree with a count of every block.
fn assert_tier_usage_counted(storage: &Storage, what: &str) {
    let kept = storage.cold.bytes_per_tier().expect("tier usage");
    let counted = storage.cold.bytes_per_tier_counted().expect("counted");
    assert_eq!(kept, counted, "{what}");
}

fn raw_samples(storage: &Storage, job: &str) -> Vec<Sample> {
    storage
        .select(
            &[Matcher::equal("job", job)],
            i64::MIN,
            i64::MAX,
            &SelectHints::default(),
        )
        .expect("select")
        .into_iter()
        .flat_map(|data| data.into_vec())
        .collect()
}

fn tier_buckets(
    storage: &Storage,
    job: &str,
    resolution: i64,
    mint: i64,
    maxt: i64,
) -> Vec<Bucket> {
    storage
        .select(
            &[Matcher::equal("job", job)],
            mint,
            maxt,
            &SelectHints {
                resolution: Some(resolution),
            },
        )
        .expect("select")
        .into_iter()
        .flat_map(|data| data.into_buckets())
        .collect()
}

fn assert_buckets_eq(got: &[Bucket], expected: &[Bucket], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: bucket count");
    for (got, expected) in got.iter().zip(expected) {
        assert_eq!(got, expected, "{what}");
    }
}

#[test]
fn retention_removes_exactly_what_expired_per_tier_while_queries_run() {
    let dir = tempfile::tempdir().expect("temp");
    let storage = open_with(
        dir.path(),
        vec![tier(None, 2), tier(Some(MINUTE), 4), tier(Some(HOUR), 10)],
    );
    let all = counter(T0, T0 + 12 * DAY);
    append(&storage, "a", &all);
    // More series, so that deleting expired blocks frees whole pages.
    for job in 0..40 {
        append(&storage, &format!("other-{job}"), &all);
    }
    compact_all(&storage);
    assert_tier_usage_counted(&storage, "after compaction");
    let before = storage.cold.bytes_per_tier().expect("tier usage");
    assert_eq!(
        before
            .iter()
            .map(|(tier, _, blocks)| (*tier, *blocks))
            .collect::<Vec<_>>(),
        [(None, 41 * 12), (Some(MINUTE), 41 * 12), (Some(HOUR), 41)],
        "a block per series and day (days are left-open), one 60-day hourly block"
    );
    let size_before = storage.cold.size_on_disk();
    let now = T0 + 12 * DAY + 12 * HOUR;

    // A query over the last day, which no tier's retention touches, must give the
    // same answer on every tier at every moment while retention runs.
    let query = r#"sum_over_time(work_total{job="a"}[1h])"#;
    let run = |tier: TierRequest| -> Vec<(i64, f64)> {
        let options = EvalOptions {
            tier,
            ..EvalOptions::default()
        };
        let result = promql::range(
            &storage,
            query,
            now - 36 * HOUR,
            now - 12 * HOUR,
            HOUR,
            &options,
        )
        .expect("query runs during retention");
        match result.value {
            QueryValue::Matrix(series) => series
                .into_iter()
                .flat_map(|(_, samples)| samples.into_iter().map(|s| (s.t, s.v)))
                .collect(),
            other => panic!("{other:?}"),
        }
    };
    let expected = run(TierRequest::Raw);
    assert_eq!(expected.len(), 25);
    let done = AtomicBool::new(false);
    let report = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut runs = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || runs < 3 {
                for tier in [
                    TierRequest::Raw,
                    TierRequest::Rollup(MINUTE),
                    TierRequest::Rollup(HOUR),
                ] {
                    assert_eq!(run(tier), expected, "{tier:?}");
                }
                runs += 1;
            }
            runs
        });
        let report = storage.enforce_retention(now).expect("retention");
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().expect("reader") >= 3);
        report
    });
    assert!(report.finished);

    // Raw: cut-off 10 d 12 h; the day blocks ending before it are gone, the day
    // holding it stays whole.
    let raw = raw_samples(&storage, "a");
    let kept: Vec<Sample> = all
        .iter()
        .filter(|s| s.t > T0 + 10 * DAY)
        .copied()
        .collect();
    assert_eq!(raw.len(), kept.len());
    assert!(raw.iter().zip(&kept).all(|(a, b)| a.t == b.t && a.v == b.v));
    assert_eq!(report.raw_blocks_deleted, 41 * 10);
    // 1 m: cut-off 8 d 12 h; its blocks are days.
    let minute = storage
        .rollup_buckets(SeriesRef(1), MINUTE, i64::MIN, i64::MAX)
        .expect("1m");
    assert_eq!(minute.first().map(|b| b.end), Some(T0 + 8 * DAY + MINUTE));
    assert_eq!(minute.len() as i64, 4 * DAY / MINUTE);
    assert_eq!(report.rollup_blocks_deleted, 41 * 8);
    // 1 h: kept 10 d, and its one 60-day block ends after the cut-off: all there.
    let hourly = storage
        .rollup_buckets(SeriesRef(1), HOUR, i64::MIN, i64::MAX)
        .expect("1h");
    let expected_hourly = rollup::buckets(&all, HOUR);
    assert_buckets_eq(&hourly, &expected_hourly, "1h after retention");

    // The freed pages went back to the file system.
    assert!(report.bytes_freed > 0, "{report:?}");
    assert_tier_usage_counted(&storage, "after retention");
    assert!(storage.cold.size_on_disk() < size_before);

    // What each tier answers for moved with it, and survives a restart.
    let coverage = |storage: &Storage| -> Vec<i64> {
        storage.tier_coverage().iter().map(|c| c.from_t).collect()
    };
    let cutoffs = vec![now - 2 * DAY, now - 4 * DAY, now - 10 * DAY];
    assert_eq!(coverage(&storage), cutoffs);
    drop(storage);
    let reopened = open_with(
        dir.path(),
        vec![tier(None, 2), tier(Some(MINUTE), 4), tier(Some(HOUR), 10)],
    );
    assert_eq!(coverage(&reopened), cutoffs);
    // A second pass finds nothing more to delete.
    let again = reopened.enforce_retention(now).expect("retention");
    assert_eq!(
        (again.raw_blocks_deleted, again.rollup_blocks_deleted),
        (0, 0)
    );
}

#[test]
fn a_rollup_tier_reads_stored_buckets_and_computes_the_uncompacted_rest() {
    let dir = tempfile::tempdir().expect("temp");
    let storage = open_with(dir.path(), Tier::design_defaults());
    let all = counter(T0, T0 + 2 * DAY);
    // The first 30 h compacted, the rest still in the head and hot chunks, with the
    // boundary inside an hour.
    let split = all.partition_point(|s| s.t <= T0 + 30 * HOUR + 17 * MINUTE);
    append(&storage, "a", &all[..split]);
    compact_all(&storage);
    append(&storage, "a", &all[split..]);
    for resolution in [MINUTE, HOUR] {
        let got = tier_buckets(&storage, "a", resolution, T0 + 1, T0 + 2 * DAY);
        assert_buckets_eq(&got, &rollup::buckets(&all, resolution), "mixed");
        // A part of the range only.
        let part = tier_buckets(
            &storage,
            "a",
            resolution,
            T0 + 20 * HOUR + 1,
            T0 + 40 * HOUR,
        );
        let expected: Vec<Bucket> = rollup::buckets(&all, resolution)
            .into_iter()
            .filter(|b| b.end > T0 + 20 * HOUR && b.end <= T0 + 40 * HOUR)
            .collect();
        assert_buckets_eq(&part, &expected, "part");
    }
}

#[test]
fn late_samples_for_a_day_raw_retention_has_cut_are_merged_into_its_rollups() {
    let dir = tempfile::tempdir().expect("temp");
    let tiers = vec![tier(None, 2), tier(Some(MINUTE), 30), tier(Some(HOUR), 365)];
    let mut options = StorageOptions::new(dir.path());
    options.tiers = tiers;
    options.limits.out_of_order_window = Duration::from_secs(30 * 86_400);
    let storage = Storage::open(options).expect("open");
    // Day 1 every other minute; later the minutes between arrive (a backfill).
    let day: Vec<Sample> = counter(T0, T0 + DAY);
    let (even, odd): (Vec<Sample>, Vec<Sample>) = day.iter().partition(|s| (s.t / MINUTE) % 2 == 0);
    append(&storage, "a", &even);
    compact_all(&storage);
    append(&storage, "recent", &counter(T0 + 9 * DAY, T0 + 10 * DAY));
    compact_all(&storage);
    let report = storage.enforce_retention(T0 + 10 * DAY).expect("retention");
    assert!(report.raw_blocks_deleted >= 1);
    assert!(raw_samples(&storage, "a").is_empty());
    append(&storage, "a", &odd);
    compact_all(&storage);
    // Rollups merged in place (an upsert) are counted at their new size.
    assert_tier_usage_counted(&storage, "after merging into stored rollups");
    // Minute buckets hold one sample each, so merging is exact; hourly buckets
    // interleave the two sets: everything but the increase is exact.
    let minute = storage
        .rollup_buckets(SeriesRef(1), MINUTE, i64::MIN, i64::MAX)
        .expect("1m");
    assert_buckets_eq(&minute, &rollup::buckets(&day, MINUTE), "1m merged");
    let hourly = storage
        .rollup_buckets(SeriesRef(1), HOUR, i64::MIN, i64::MAX)
        .expect("1h");
    let expected = rollup::buckets(&day, HOUR);
    assert_eq!(hourly.len(), expected.len());
    for (got, want) in hourly.iter().zip(&expected) {
        assert_eq!(
            (got.end, got.count, got.first_t, got.last_t),
            (want.end, want.count, want.first_t, want.last_t)
        );
        assert_eq!(
            (got.min, got.max, got.first, got.last),
            (want.min, want.max, want.first, want.last)
        );
        assert!((got.sum - want.sum).abs() <= want.sum.abs() * 1e-12);
    }
    // The merged raw block was written for a day past retention: the next pass
    // removes it again.
    let again = storage.enforce_retention(T0 + 10 * DAY).expect("retention");
    assert!(again.raw_blocks_deleted >= 1);
}

#[test]
fn a_tier_added_later_covers_only_what_is_compacted_after_it() {
    let dir = tempfile::tempdir().expect("temp");
    let storage = open_with(dir.path(), vec![tier(None, 3650)]);
    append(&storage, "a", &counter(T0, T0 + DAY));
    compact_all(&storage);
    drop(storage);
    let storage = open_with(dir.path(), vec![tier(None, 3650), tier(Some(HOUR), 3650)]);
    let coverage = storage.tier_coverage();
    assert_eq!(coverage[0].from_t, i64::MIN);
    assert_eq!(coverage[1].from_t, T0 + DAY + 1);
    // So an hourly query over that day is answered from raw data, exactly.
    let options = EvalOptions::default();
    let result = promql::range(
        &storage,
        "max_over_time(work_total[1h])",
        T0 + HOUR,
        T0 + DAY,
        HOUR,
        &options,
    )
    .expect("query");
    assert_eq!(result.tiers, ["raw"]);
}
