//! Host ingest against a real storage: labels, staleness markers for vanished series,
//! family failures counted without stopping the others.

use super::*;
use crate::collect::host::HostError;
use crate::storage::StorageOptions;

fn family(name: &'static str, points: Result<Vec<Point>, HostError>) -> FamilyOutcome {
    FamilyOutcome {
        family: name,
        points,
        duration: std::time::Duration::from_millis(2),
    }
}

fn disk(device: &str, value: f64) -> Point {
    Point::new("node_disk_reads_completed_total", value).with("device", device)
}

fn read(storage: &Storage, name: &str) -> Vec<(String, Vec<(i64, String)>)> {
    crate::collect::stored_series(storage, name)
}

#[test]
fn vanished_series_get_a_staleness_marker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let mut state = HostState::new();
    let first = vec![family(
        "diskstats",
        Ok(vec![disk("sda", 1.0), disk("sdb", 2.0)]),
    )];
    let outcome = state.ingest(&storage, first, 1000);
    assert_eq!(outcome.samples, 2);
    assert_eq!(outcome.stale_markers, 0);
    let second = vec![family("diskstats", Ok(vec![disk("sda", 3.0)]))];
    let outcome = state.ingest(&storage, second, 2000);
    assert_eq!(outcome.stale_markers, 1);
    assert_eq!(
        read(&storage, "node_disk_reads_completed_total"),
        vec![
            (
                "node_disk_reads_completed_total{device=\"sda\", instance=\"localhost\", job=\"node\"}".to_string(),
                vec![(1000, "1".to_string()), (2000, "3".to_string())]
            ),
            (
                "node_disk_reads_completed_total{device=\"sdb\", instance=\"localhost\", job=\"node\"}".to_string(),
                vec![(1000, "2".to_string()), (2000, "stale".to_string())]
            ),
        ]
    );
    state.mark_all_stale(&storage, 3000);
    assert_eq!(state.cached_series(), 0);
    let stored = read(
        &storage,
        "node_disk_reads_completed_total|tandem_collector_samples",
    );
    for (labels, samples) in stored {
        assert_eq!(
            samples.last().map(|s| s.1.as_str()),
            Some("stale"),
            "{labels}"
        );
    }
}

#[test]
fn a_failing_family_is_counted_and_the_others_are_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let mut state = HostState::new();
    let failing = || {
        family(
            "pressure",
            Err(HostError::Parse {
                path: "/proc/pressure/cpu".into(),
                message: "test".into(),
            }),
        )
    };
    for t in [1000, 2000] {
        let outcomes = vec![failing(), family("diskstats", Ok(vec![disk("sda", 1.0)]))];
        let outcome = state.ingest(&storage, outcomes, t);
        assert_eq!(outcome.family_errors, 1);
        assert_eq!(outcome.samples, 1);
        assert!(!outcome.append_failed);
    }
    let errors = read(&storage, "tandem_collector_errors_total");
    let pressure = errors
        .iter()
        .find(|(labels, _)| labels.contains("collector=\"pressure\""))
        .expect("pressure errors series");
    assert_eq!(pressure.1, vec![(1000, "1".into()), (2000, "2".into())]);
    let disk = errors
        .iter()
        .find(|(labels, _)| labels.contains("collector=\"diskstats\""))
        .expect("diskstats errors series");
    assert_eq!(disk.1, vec![(1000, "0".into()), (2000, "0".into())]);
    assert_eq!(read(&storage, "node_disk_reads_completed_total").len(), 1);
    let samples = read(&storage, "tandem_collector_samples");
    assert_eq!(samples.len(), 2);
    // The report series are not marked stale between collections.
    for (labels, values) in read(&storage, "tandem_collector_.*") {
        assert!(values.iter().all(|(_, value)| value != "stale"), "{labels}");
    }
}

#[test]
fn timestamps_align_to_the_interval() {
    assert_eq!(aligned(None, 10_003, 10_000), 10_003);
    assert_eq!(aligned(Some(10_000), 20_002, 10_000), 20_000);
    assert_eq!(aligned(Some(10_000), 20_500, 10_000), 20_500);
}

#[test]
fn one_real_collection_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
    let options = HostOptions::node_exporter_defaults().expect("defaults");
    let mut state = HostState::new();
    let outcome = state.ingest(&storage, collect_once(&options), now_ms());
    assert!(outcome.samples > 20, "{outcome:?}");
    assert_eq!(read(&storage, "node_load1").len(), 1);
}
