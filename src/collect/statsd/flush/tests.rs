//! Flushes against a real storage: what each statsd type is stored as across flushes,
//! expiry, limits, and the self series.

use super::super::Settings;
use super::super::aggregate::Aggregator;
use super::*;
use crate::config::statsd::TimerType;
use crate::model::{MatchOp, Matcher, is_stale_nan};
use crate::storage::{SelectHints, StorageOptions};
use std::sync::Arc;
use std::time::Duration;

fn config() -> StatsdConfig {
    StatsdConfig {
        listen: "127.0.0.1:0".parse().expect("literal"),
        flush_interval: Duration::from_secs(1),
        histogram_buckets: vec![0.01, 0.1, 1.0],
        timer_type: TimerType::Histogram,
        labels: vec![("job".into(), "statsd".into())],
        packet_bytes_max: 1000,
        receive_buffer_bytes: 0,
        series_max: 100,
        expire_after: Some(Duration::from_secs(3)),
    }
}

/// Receives `packets` into a fresh interval and returns it.
fn interval(config: &StatsdConfig, packets: &[&[u8]]) -> Taken {
    let mut aggregator = Aggregator::new(Arc::new(Settings::of(config)));
    for packet in packets {
        aggregator.ingest_packet(packet);
    }
    aggregator.take()
}

/// Every stored series whose name matches the regex `name`: labels and samples as
/// `t=value` (`stale` for a staleness marker).
fn read(storage: &Storage, name: &str) -> Vec<String> {
    let matchers = [Matcher::new(METRIC_NAME, MatchOp::Regex, name).expect("regex")];
    let mut result: Vec<String> = storage
        .select(&matchers, i64::MIN, i64::MAX, &SelectHints::default())
        .expect("select")
        .into_iter()
        .map(|data| {
            let labels = data.labels.to_string();
            let samples: Vec<String> = data
                .samples()
                .map(|sample| match is_stale_nan(sample.v) {
                    true => format!("{}=stale", sample.t),
                    false => format!("{}={}", sample.t, sample.v),
                })
                .collect();
            format!("{labels} {}", samples.join(" "))
        })
        .collect();
    result.sort();
    result
}

#[test]
fn each_type_is_stored_as_its_prometheus_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let config = config();
    let mut flusher = Flusher::new();
    let first = interval(
        &config,
        &[
            b"hits:1|c|#code:200\nhits:2|c|@0.5|#code:200",
            b"temp:20|g\ntemp:+2|g",
            b"lat:5|ms\nlat:50|ms\nlat:5000|ms|#job:ignored",
            b"users:a|s\nusers:b|s",
        ],
    );
    let outcome = flusher.flush(&storage, &config, first, 1000);
    assert_eq!(
        outcome,
        FlushOutcome {
            samples: 1 + 1 + 6 + 1,
            ..FlushOutcome::default()
        }
    );
    let second = interval(&config, &[b"hits:1|c|#code:200\ntemp:-5|g\nlat:0.5|ms"]);
    flusher.flush(&storage, &config, second, 2000);
    assert_eq!(
        read(&storage, "hits|temp|users"),
        [
            "hits{code=\"200\", job=\"statsd\"} 1000=5 2000=6",
            "temp{job=\"statsd\"} 1000=22 2000=17",
            "users{job=\"statsd\"} 1000=2 2000=0",
        ]
    );
    assert_eq!(
        read(&storage, "lat.*"),
        [
            "lat_bucket{job=\"statsd\", le=\"+Inf\"} 1000=3 2000=4",
            "lat_bucket{job=\"statsd\", le=\"0.01\"} 1000=1 2000=2",
            "lat_bucket{job=\"statsd\", le=\"0.1\"} 1000=2 2000=3",
            "lat_bucket{job=\"statsd\", le=\"1\"} 1000=2 2000=3",
            "lat_count{job=\"statsd\"} 1000=3 2000=4",
            "lat_sum{job=\"statsd\"} 1000=5.055 2000=5.055499999999999",
        ]
    );
    assert_eq!(flusher.metric_count(), 4);
}

#[test]
fn idle_metrics_expire_with_a_staleness_marker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let config = config();
    let mut flusher = Flusher::new();
    flusher.flush(
        &storage,
        &config,
        interval(&config, &[b"a:1|c\nb:1|g"]),
        1000,
    );
    for t in [2000, 3000, 4000] {
        flusher.flush(&storage, &config, interval(&config, &[b"b:2|g"]), t);
    }
    // `a` has had no input for more than 3 s at 5000.
    let outcome = flusher.flush(&storage, &config, interval(&config, &[]), 5000);
    assert_eq!(outcome.expired, 1);
    assert_eq!(outcome.stale_markers, 1);
    assert_eq!(
        read(&storage, "a|b"),
        [
            "a{job=\"statsd\"} 1000=1 2000=1 3000=1 4000=1 5000=stale",
            "b{job=\"statsd\"} 1000=1 2000=2 3000=2 4000=2 5000=2",
        ]
    );
    // Back after expiry: a new counter from 0.
    flusher.flush(&storage, &config, interval(&config, &[b"a:4|c"]), 6000);
    assert_eq!(
        read(&storage, "a")[0],
        "a{job=\"statsd\"} 1000=1 2000=1 3000=1 4000=1 5000=stale 6000=4"
    );
    assert_eq!(flusher.counters.expired, 1);
}

#[test]
fn limits_and_conflicts_across_flushes_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let config = StatsdConfig {
        series_max: 2,
        ..config()
    };
    let mut flusher = Flusher::new();
    flusher.flush(
        &storage,
        &config,
        interval(&config, &[b"a:1|c\nb:1|c"]),
        1000,
    );
    // Each interval is within the limit; together they are not.
    flusher.flush(
        &storage,
        &config,
        interval(&config, &[b"c:1:2|c\na:1|g"]),
        2000,
    );
    assert_eq!(flusher.counters.dropped_series_limit, 2);
    assert_eq!(flusher.counters.type_conflicts, 1);
    assert_eq!(
        read(&storage, "a|b|c"),
        [
            "a{job=\"statsd\"} 1000=1 2000=1",
            "b{job=\"statsd\"} 1000=1 2000=1"
        ]
    );
}

#[test]
fn self_series_count_what_came_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let config = config();
    let mut flusher = Flusher::new();
    let mut taken = interval(
        &config,
        &[b"a:1|c\nbroken\nb:x|g", b"\xff\xff", b"c:1|c|#flag"],
    );
    taken.kernel_drops = Some(3);
    flusher.flush(&storage, &config, taken, 1000);
    let stored = read(&storage, "tandem_statsd_.*");
    let expected = [
        "tandem_statsd_flushes_total{} 1000=1",
        "tandem_statsd_lines_received_total{} 1000=5",
        "tandem_statsd_lines_rejected_total{reason=\"name\"} 1000=0",
        "tandem_statsd_lines_rejected_total{reason=\"parse\"} 1000=1",
        "tandem_statsd_lines_rejected_total{reason=\"sample_rate\"} 1000=0",
        "tandem_statsd_lines_rejected_total{reason=\"tags\"} 1000=0",
        "tandem_statsd_lines_rejected_total{reason=\"too_large\"} 1000=0",
        "tandem_statsd_lines_rejected_total{reason=\"type\"} 1000=0",
        "tandem_statsd_lines_rejected_total{reason=\"type_conflict\"} 1000=0",
        "tandem_statsd_lines_rejected_total{reason=\"utf8\"} 1000=1",
        "tandem_statsd_lines_rejected_total{reason=\"value\"} 1000=1",
        "tandem_statsd_packets_dropped_total{} 1000=3",
        "tandem_statsd_packets_received_total{} 1000=3",
        "tandem_statsd_samples_dropped_total{reason=\"series_limit\"} 1000=0",
        "tandem_statsd_samples_dropped_total{reason=\"set_limit\"} 1000=0",
        "tandem_statsd_samples_dropped_total{reason=\"storage\"} 1000=0",
        "tandem_statsd_samples_received_total{} 1000=2",
        "tandem_statsd_series_expired_total{} 1000=0",
        "tandem_statsd_series{} 1000=2",
        "tandem_statsd_tags_dropped_total{} 1000=1",
    ];
    assert_eq!(stored, expected);
    // Disabled: everything goes stale, the self series too.
    flusher.mark_all_stale(&storage, 2000, true);
    assert!(
        read(&storage, "a|c|tandem_statsd_.*")
            .iter()
            .all(|line| line.ends_with(" 2000=stale")),
        "{:?}",
        read(&storage, "a|c|tandem_statsd_.*")
    );
    assert_eq!(flusher.metric_count(), 0);
}

#[test]
fn storage_limits_drop_and_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = StorageOptions::new(dir.path());
    options.limits.series_per_metric_max = 1;
    let storage = Storage::open(options).expect("open");
    let config = config();
    let mut flusher = Flusher::new();
    flusher.flush(
        &storage,
        &config,
        interval(&config, &[b"a:1|c|#k:1\na:1|c|#k:2"]),
        1000,
    );
    assert_eq!(read(&storage, "a").len(), 1);
    assert_eq!(flusher.counters.dropped_storage, 1);
}

#[test]
fn timestamps_align_and_always_advance() {
    let mut flusher = Flusher::new();
    assert_eq!(flusher.timestamp(10_000, 1000), 10_000);
    assert_eq!(flusher.timestamp(11_002, 1000), 11_000);
    assert_eq!(flusher.timestamp(11_000, 1000), 11_001);
    assert_eq!(flusher.timestamp(5_000, 1000), 11_002);
}

#[test]
fn histogram_outputs_are_named_and_labelled() {
    let config = config();
    let names: Vec<String> = (0..6)
        .map(|index| {
            output_labels(&config, "h\0a=1", Kind::Histogram, index)
                .expect("valid")
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        [
            "h_bucket{a=\"1\", job=\"statsd\", le=\"0.01\"}",
            "h_bucket{a=\"1\", job=\"statsd\", le=\"0.1\"}",
            "h_bucket{a=\"1\", job=\"statsd\", le=\"1\"}",
            "h_bucket{a=\"1\", job=\"statsd\", le=\"+Inf\"}",
            "h_sum{a=\"1\", job=\"statsd\"}",
            "h_count{a=\"1\", job=\"statsd\"}",
        ]
    );
}
