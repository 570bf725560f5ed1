//! Scrape ingest against a real storage: labels, the series cache, staleness markers,
//! failed scrapes and limits. The HTTP side is covered by `tests/scrape.rs`.

use super::*;
use crate::config::ScrapeScheme;

use crate::storage::StorageOptions;

fn job(honor_labels: bool, sample_limit: Option<u64>) -> ScrapeJob {
    ScrapeJob {
        job: "node".into(),
        targets: vec!["host-1:9100".into()],
        file_sd: Vec::new(),
        scheme: ScrapeScheme::Http,
        path: "/metrics".into(),
        interval: Duration::from_secs(15),
        timeout: Duration::from_secs(10),
        honor_labels,
        honor_timestamps: true,
        labels: vec![("env".into(), "prod".into())],
        sample_limit,
        body_bytes_max: 1 << 20,
        label_limit: None,
        relabel: Vec::new(),
        metric_relabel: Vec::new(),
        basic_auth: None,
        bearer_token_file: None,
        tls: Default::default(),
    }
}

/// A metric_relabel rule from its action and fields, as `config/` would build it.
fn rule(action: &str, source: &[&str], regex: &str, target: Option<&str>) -> RelabelRule {
    RelabelRule::new(crate::collect::relabel::RelabelSpec {
        source_labels: source.iter().map(|s| s.to_string()).collect(),
        regex: Some(regex.into()),
        target_label: target.map(str::to_string),
        action: action.into(),
        ..Default::default()
    })
    .expect("valid rule")
}

/// The value of report series `name` at `t`.
fn report(storage: &Storage, name: &str, t: i64) -> String {
    read(storage, name)
        .into_iter()
        .flat_map(|(_, samples)| samples)
        .find(|(at, _)| *at == t)
        .map_or_else(|| "none".into(), |(_, value)| value)
}

fn target(job: ScrapeJob) -> Target {
    let address = job.targets[0].clone();
    Target::from_address(Arc::new(job), &address).expect("no relabeling drops it")
}

fn body(text: &str) -> Fetched {
    Ok((bytes::Bytes::copy_from_slice(text.as_bytes()), Format::Text))
}

fn read(storage: &Storage, name: &str) -> Vec<(String, Vec<(i64, String)>)> {
    crate::collect::stored_series(storage, name)
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

#[test]
fn metric_relabel_drops_and_rewrites_series_and_counts_what_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let mut job = job(false, Some(2));
    job.metric_relabel = vec![
        rule("drop", &["__name__"], "go_.*", None),
        rule("replace", &["mode"], "(.+)", Some("cpu_mode")),
        rule("labeldrop", &[], "mode", None),
    ];
    let mut state = TargetState::new(&target(job));
    // Three samples exposed, one dropped by relabeling: under the sample limit of 2.
    let text = "go_goroutines 7\ncpu_seconds_total{mode=\"idle\"} 5\nup_time 1\n";
    for t in [1000, 16000] {
        let outcome = state
            .ingest(&storage, body(text), t, Duration::from_millis(5))
            .expect("scrape ok");
        assert_eq!(outcome.samples, 2, "at {t}");
    }
    assert_eq!(read(&storage, "go_.*"), Vec::new());
    assert_eq!(
        read(&storage, "cpu_seconds_total"),
        vec![(
            "cpu_seconds_total{cpu_mode=\"idle\", env=\"prod\", instance=\"host-1:9100\", job=\"node\"}"
                .to_string(),
            points(&[(1000, "5"), (16000, "5")])
        )]
    );
    // The second scrape took the cache's fast path: the counts are the same.
    for t in [1000, 16000] {
        assert_eq!(report(&storage, "scrape_samples_scraped", t), "3");
        assert_eq!(
            report(&storage, "scrape_samples_post_metric_relabeling", t),
            "2"
        );
    }
}

#[test]
fn label_limit_fails_the_scrape_and_names_the_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let mut job = job(false, None);
    // env, instance, job: 3 labels from the target, so 4 allows one of the exposed.
    job.label_limit = Some(4);
    let mut state = TargetState::new(&target(job));
    let error = state
        .ingest(
            &storage,
            body("ok{a=\"1\"} 1\nwide{a=\"1\",b=\"2\"} 2\n"),
            1000,
            Duration::from_millis(5),
        )
        .expect_err("over the label limit");
    assert_eq!(
        error,
        "line 2: series wide{a=\"1\", b=\"2\", env=\"prod\", instance=\"host-1:9100\", job=\"node\"} has 5 labels, more than label_limit (4)"
    );
    assert_eq!(report(&storage, "up", 1000), "0");
    assert_eq!(read(&storage, "ok|wide"), Vec::new());
}

/// Each bad body fails the scrape with a message naming the problem and its line,
/// and leaves what earlier scrapes stored as it was.
#[test]
fn bad_bodies_fail_the_scrape_and_keep_what_was_stored() {
    let check = |bad: &[u8], expect: &str| {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
        let mut state = TargetState::new(&target(job(false, None)));
        state
            .ingest(&storage, body("kept 1\n"), 1000, Duration::from_millis(5))
            .expect("good scrape");
        let fetched = Ok((bytes::Bytes::copy_from_slice(bad), Format::Text));
        let error = state
            .ingest(&storage, fetched, 16000, Duration::from_millis(5))
            .expect_err("bad body");
        assert!(error.contains(expect), "{error:?} lacks {expect:?}");
        assert_eq!(
            read(&storage, "kept"),
            vec![(
                "kept{env=\"prod\", instance=\"host-1:9100\", job=\"node\"}".to_string(),
                points(&[(1000, "1"), (16000, "stale")])
            )],
            "{expect}"
        );
        assert_eq!(report(&storage, "up", 16000), "0");
    };
    check(b"kept 1\nbad{ 2\n", "line 2");
    check(b"kept 1\nx \xff\xfe 2\n", "not UTF-8");
    check(b"kept 1\nkept 2\n", "line 2: series kept appears twice");
    check(b"a{b=\"1\",b=\"2\"} 1\n", "line 1");
    check(b"kept one\n", "line 1");
    let long = format!(
        "kept 1\nlong{{a=\"{}\"}} 1\n",
        "x".repeat(limits::SCRAPE_LINE_BYTES_MAX)
    );
    check(
        long.as_bytes(),
        "line 2: 524300 bytes, longer than the limit of 524288 bytes",
    );
}

#[test]
fn nan_and_infinities_are_stored_as_given_and_far_future_timestamps_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let mut state = TargetState::new(&target(job(false, None)));
    // Up to 10 minutes ahead of the scrape is clock skew, and kept.
    let text = "n NaN\np +Inf\nm -Inf\nahead 1 601000\n";
    state
        .ingest(&storage, body(text), 1000, Duration::from_millis(5))
        .expect("scrape ok");
    let value = |name: &str| read(&storage, name)[0].1.clone();
    assert_eq!(value("n"), points(&[(1000, "NaN")]));
    assert_eq!(value("p"), points(&[(1000, "inf")]));
    assert_eq!(value("m"), points(&[(1000, "-inf")]));
    assert_eq!(value("ahead"), points(&[(601000, "1")]));
    // Further ahead would make every later sample of the series out of order: the
    // scrape fails, on the slow path (a new series) and the cached one alike.
    for text in [
        "n 1\np 1\nm 1\nahead 2 901000\n",
        "n 1\nfuture 1 4102444800000\n",
    ] {
        let error = state
            .ingest(&storage, body(text), 16000, Duration::from_millis(5))
            .expect_err("far future");
        assert!(
            error.contains("ahead of the scrape time 16000; at most 10m is accepted"),
            "{error}"
        );
    }
    assert_eq!(read(&storage, "future"), Vec::new());
    assert_eq!(value("ahead"), points(&[(601000, "1")]));
}
