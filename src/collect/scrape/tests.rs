//! Scrape ingest against a real storage: labels, the series cache, staleness markers,
//! failed scrapes and limits. The HTTP side is covered by `tests/scrape.rs`.

use super::*;
use crate::config::ScrapeScheme;
use crate::model::{Matcher, is_stale_nan};
use crate::storage::{SelectHints, StorageOptions};

fn job(honor_labels: bool, sample_limit: Option<u64>) -> ScrapeJob {
    ScrapeJob {
        job: "node".into(),
        targets: vec!["host-1:9100".into()],
        scheme: ScrapeScheme::Http,
        path: "/metrics".into(),
        interval: Duration::from_secs(15),
        timeout: Duration::from_secs(10),
        honor_labels,
        honor_timestamps: true,
        labels: vec![("env".into(), "prod".into())],
        sample_limit,
        body_bytes_max: 1 << 20,
    }
}

fn target(job: ScrapeJob) -> Target {
    Target {
        address: job.targets[0].clone(),
        job: Arc::new(job),
    }
}

fn body(text: &str) -> Fetched {
    Ok((bytes::Bytes::copy_from_slice(text.as_bytes()), Format::Text))
}

/// Every series whose name matches `name` as (labels, samples), sorted; NaN values
/// are written "stale" or "NaN" so they compare.
fn read(storage: &Storage, name: &str) -> Vec<(String, Vec<(i64, String)>)> {
    let matchers = [Matcher::new(METRIC_NAME, crate::model::MatchOp::Regex, name).expect("regex")];
    let mut result: Vec<(String, Vec<(i64, String)>)> = storage
        .select(&matchers, i64::MIN, i64::MAX, &SelectHints::default())
        .expect("select")
        .into_iter()
        .map(|data| {
            let labels = data.labels.to_string();
            let samples = data
                .samples()
                .map(|sample| {
                    let value = if is_stale_nan(sample.v) {
                        "stale".to_string()
                    } else {
                        sample.v.to_string()
                    };
                    (sample.t, value)
                })
                .collect();
            (labels, samples)
        })
        .collect();
    result.sort();
    result
}

fn points(list: &[(i64, &str)]) -> Vec<(i64, String)> {
    list.iter().map(|(t, v)| (*t, v.to_string())).collect()
}

#[test]
fn target_labels_are_added_and_clashing_ones_exported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let mut state = TargetState::new(&target(job(false, None)));
    let text = "# TYPE a counter\na_total{job=\"x\",instance=\"y\"} 1\nb 2\n";
    let outcome = state
        .ingest(&storage, body(text), 1000, Duration::from_millis(5))
        .expect("scrape ok");
    assert_eq!(outcome.samples, 2);
    assert_eq!(outcome.series_added, 2);
    assert_eq!(
        read(&storage, "a_total|b"),
        vec![
            (
                r#"a_total{env="prod", exported_instance="y", exported_job="x", instance="host-1:9100", job="node"}"#.to_string(),
                points(&[(1000, "1")])
            ),
            (
                r#"b{env="prod", instance="host-1:9100", job="node"}"#.to_string(),
                points(&[(1000, "2")])
            ),
        ]
    );
    assert_eq!(
        read(&storage, "up|scrape_samples_scraped|scrape_series_added"),
        vec![
            (
                r#"scrape_samples_scraped{env="prod", instance="host-1:9100", job="node"}"#
                    .to_string(),
                points(&[(1000, "2")])
            ),
            (
                r#"scrape_series_added{env="prod", instance="host-1:9100", job="node"}"#
                    .to_string(),
                points(&[(1000, "2")])
            ),
            (
                r#"up{env="prod", instance="host-1:9100", job="node"}"#.to_string(),
                points(&[(1000, "1")])
            ),
        ]
    );
}

#[test]
fn honor_labels_keeps_the_exposed_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let mut state = TargetState::new(&target(job(true, None)));
    state
        .ingest(
            &storage,
            body("a{job=\"x\",env=\"\"} 1\n"),
            1000,
            Duration::ZERO,
        )
        .expect("scrape ok");
    // The exposed empty `env` means "no env": the target's is not added either.
    assert_eq!(
        read(&storage, "a"),
        vec![(
            r#"a{instance="host-1:9100", job="x"}"#.to_string(),
            points(&[(1000, "1")])
        )]
    );
}

#[test]
fn a_series_that_disappears_is_marked_stale_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let mut state = TargetState::new(&target(job(false, None)));
    state
        .ingest(&storage, body("a 1\nb 1\n"), 1000, Duration::ZERO)
        .expect("scrape 1");
    let second = state
        .ingest(&storage, body("a 2\n"), 2000, Duration::ZERO)
        .expect("scrape 2");
    assert_eq!(second.stale_markers, 1);
    let third = state
        .ingest(&storage, body("a 3\nb 3\n"), 3000, Duration::ZERO)
        .expect("scrape 3");
    assert_eq!(third.stale_markers, 0);
    assert_eq!(
        read(&storage, "a|b"),
        vec![
            (
                r#"a{env="prod", instance="host-1:9100", job="node"}"#.to_string(),
                points(&[(1000, "1"), (2000, "2"), (3000, "3")])
            ),
            (
                r#"b{env="prod", instance="host-1:9100", job="node"}"#.to_string(),
                points(&[(1000, "1"), (2000, "stale"), (3000, "3")])
            ),
        ]
    );
}

#[test]
fn a_failed_scrape_sets_up_to_zero_and_stales_every_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let mut state = TargetState::new(&target(job(false, None)));
    state
        .ingest(&storage, body("a 1\nb 1\n"), 1000, Duration::ZERO)
        .expect("scrape 1");
    // A bad line fails the whole scrape, although `a` parsed before it.
    let error = state
        .ingest(&storage, body("a 2\nb{ 2\n"), 2000, Duration::ZERO)
        .expect_err("bad line");
    assert!(error.contains("line 2"), "{error}");
    let error = state
        .ingest(
            &storage,
            Err("connection refused".into()),
            3000,
            Duration::ZERO,
        )
        .expect_err("fetch failed");
    assert_eq!(error, "connection refused");
    state
        .ingest(&storage, body("a 4\n"), 4000, Duration::ZERO)
        .expect("scrape 4");
    assert_eq!(
        read(&storage, "a|b|up"),
        vec![
            (
                r#"a{env="prod", instance="host-1:9100", job="node"}"#.to_string(),
                points(&[(1000, "1"), (2000, "stale"), (4000, "4")])
            ),
            (
                r#"b{env="prod", instance="host-1:9100", job="node"}"#.to_string(),
                points(&[(1000, "1"), (2000, "stale")])
            ),
            (
                r#"up{env="prod", instance="host-1:9100", job="node"}"#.to_string(),
                points(&[(1000, "1"), (2000, "0"), (3000, "0"), (4000, "1")])
            ),
        ]
    );
}

#[test]
fn sample_limit_and_duplicate_series_fail_the_scrape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let mut limited = TargetState::new(&target(job(false, Some(2))));
    let error = limited
        .ingest(&storage, body("a 1\nb 1\nc 1\n"), 1000, Duration::ZERO)
        .expect_err("over the limit");
    assert!(error.contains("sample_limit (2)"), "{error}");
    let mut state = TargetState::new(&target(job(false, None)));
    state
        .ingest(&storage, body("d 1\n"), 1000, Duration::ZERO)
        .expect("scrape 1");
    // The second `d` takes the cached fast path and is still caught.
    let error = state
        .ingest(&storage, body("d 2\nd 3\n"), 2000, Duration::ZERO)
        .expect_err("duplicate");
    assert!(error.contains("line 2: series d appears twice"), "{error}");
    assert_eq!(read(&storage, "a|b|c"), vec![]);
}

#[test]
fn explicit_timestamps_are_kept_and_never_staled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let mut state = TargetState::new(&target(job(false, None)));
    state
        .ingest(&storage, body("a 1 500\n"), 1000, Duration::ZERO)
        .expect("scrape 1");
    state
        .ingest(&storage, body(""), 2000, Duration::ZERO)
        .expect("scrape 2");
    assert_eq!(
        read(&storage, "a"),
        vec![(
            r#"a{env="prod", instance="host-1:9100", job="node"}"#.to_string(),
            points(&[(500, "1")])
        )]
    );
}

#[test]
fn a_removed_target_marks_everything_stale() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let mut state = TargetState::new(&target(job(false, None)));
    state
        .ingest(&storage, body("a 1\n"), 1000, Duration::ZERO)
        .expect("scrape 1");
    state.mark_all_stale(&storage, 1500);
    assert_eq!(
        read(&storage, "a|up"),
        vec![
            (
                r#"a{env="prod", instance="host-1:9100", job="node"}"#.to_string(),
                points(&[(1000, "1"), (1500, "stale")])
            ),
            (
                r#"up{env="prod", instance="host-1:9100", job="node"}"#.to_string(),
                points(&[(1000, "1"), (1500, "stale")])
            ),
        ]
    );
}

#[test]
fn unseen_series_leave_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let mut state = TargetState::new(&target(job(false, None)));
    for scrape in 0..limits::SCRAPE_CACHE_SCRAPES_KEPT as i64 * 2 {
        let text = format!("a 1\nchurn{{id=\"{scrape}\"}} 1\n");
        state
            .ingest(&storage, body(&text), 1000 + scrape, Duration::ZERO)
            .expect("scrape");
    }
    assert!(
        state.cached_series() <= limits::SCRAPE_CACHE_SCRAPES_KEPT as usize + 1,
        "{} cached",
        state.cached_series()
    );
}

#[test]
fn offsets_are_stable_and_within_the_interval() {
    let first = target(job(false, None));
    let offset = offset_in_interval(&first);
    assert!(offset < first.job.interval);
    assert_eq!(offset, offset_in_interval(&target(job(false, None))));
}

#[test]
fn the_two_halves_of_a_cache_key_are_independent() {
    let state = TargetState::new(&target(job(false, None)));
    let [first, second] = state.key_of(r#"up{job="a"}"#);
    assert_ne!(first, second);
    assert_ne!(state.key_of("a"), state.key_of("b"));
}

#[test]
fn timestamps_within_tolerance_of_the_interval_are_made_exact() {
    assert_eq!(aligned(None, 1_000_003, 1_000), 1_000_003);
    assert_eq!(aligned(Some(1_000_000), 1_001_002, 1_000), 1_001_000);
    assert_eq!(aligned(Some(1_000_000), 1_000_998, 1_000), 1_001_000);
    // Further off (a slow wake-up, a clock step): the clock wins.
    assert_eq!(aligned(Some(1_000_000), 1_001_003, 1_000), 1_001_003);
    assert_eq!(aligned(Some(1_000_000), 1_000_990, 1_000), 1_000_990);
    assert_eq!(aligned(Some(1_000_000), 1_005_000, 1_000), 1_005_000);
}
