//! Import end to end: `POST /api/v1/import/prometheus` and `tandem import`, with
//! bad input refused whole (every bad line named) or skipped on request.

mod common;

use common::{Instance, client};
use std::io::Write;
use tandem::model::Matcher;
use tandem::storage::{SelectHints, Storage, StorageOptions};

const GOOD: &str = "# TYPE up gauge\nup{job=\"a\"} 1 1800000000000\nup{job=\"a\"} 0 1800000015000\nup{job=\"b\"} 1 1800000000000\n";
const BAD: &str = "up{job=\"a\"} 1 1800000000000\nup{job=\"a\" 2 1800000015000\nup{job=\"b\"} x 1800000000000\nup{job=\"c\"} 3 1800000000000\n";

fn stored(data_dir: &std::path::Path) -> Vec<(String, Vec<(i64, f64)>)> {
    let storage = Storage::open(StorageOptions::new(data_dir)).expect("open");
    let mut result: Vec<(String, Vec<(i64, f64)>)> = storage
        .select(
            &[Matcher::equal("__name__", "up")],
            i64::MIN,
            i64::MAX,
            &SelectHints::default(),
        )
        .expect("select")
        .into_iter()
        .map(|data| {
            (
                data.labels.to_string(),
                data.samples().map(|s| (s.t, s.v)).collect(),
            )
        })
        .collect();
    result.sort_by(|a, b| a.0.cmp(&b.0));
    result
}

#[test]
fn http_import_is_durable_refuses_bad_bodies_and_can_skip_bad_lines() {
    let mut instance = Instance::start("");
    let client = client();
    let url = instance.url("/api/v1/import/prometheus");
    let response = client.post(&url).body(GOOD).send().expect("post");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().expect("json");
    assert_eq!(body["data"]["accepted"], 3);

    let refused = client.post(&url).body(BAD).send().expect("post");
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().expect("json");
    let lines: Vec<&str> = body["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("line 2: "), "{lines:?}");
    assert!(
        lines[1].starts_with("line 3: ") && lines[1].contains("\"x\""),
        "{lines:?}"
    );

    let skipped = client
        .post(format!("{url}?skip_invalid=1"))
        .body(BAD)
        .send()
        .expect("post");
    assert_eq!(skipped.status(), 200);
    let body: serde_json::Value = skipped.json().expect("json");
    assert_eq!(body["data"]["skipped_lines"], 2);
    assert_eq!(body["data"]["accepted"], 1, "{body}");
    assert_eq!(body["data"]["unchanged"], 1, "{body}");

    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(b"up{job=\"d\"} 4 1800000000000\n")
        .expect("gzip");
    let gzipped = client
        .post(&url)
        .header("Content-Encoding", "gzip")
        .body(encoder.finish().expect("gzip"))
        .send()
        .expect("post");
    assert_eq!(gzipped.status(), 200);

    let tsdb: serde_json::Value = client
        .get(instance.url("/api/v1/status/tsdb"))
        .send()
        .expect("tsdb")
        .json()
        .expect("json");
    assert_eq!(tsdb["data"]["headStats"]["numSeries"], 4);
    assert_eq!(tsdb["data"]["headStats"]["minTime"], 1_800_000_000_000i64);
    assert_eq!(tsdb["data"]["headStats"]["maxTime"], 1_800_000_015_000i64);
    assert_eq!(
        tsdb["data"]["seriesCountByMetricName"],
        serde_json::json!([{"name": "up", "value": 4}])
    );
    let metrics = client
        .get(instance.url("/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        metrics.contains("tandem_storage_samples_appended_total 5\n"),
        "{metrics}"
    );
    assert!(metrics.contains("tandem_storage_series 4\n"), "{metrics}");
    // 3 good lines, then 2 valid and 2 skipped, then 1 gzipped; the body refused
    // whole counts as a request, not as samples.
    for expected in [
        "tandem_import_samples_received_total 8\n",
        "tandem_import_samples_rejected_total{reason=\"invalid_line\"} 2\n",
        "tandem_import_requests_rejected_total{reason=\"invalid_lines\"} 1\n",
    ] {
        assert!(metrics.contains(expected), "{expected} in {metrics}");
    }

    // Stop hard: what was acknowledged must be on disk.
    instance.signal(libc::SIGKILL);
    instance
        .wait_exit(std::time::Duration::from_secs(10))
        .expect("killed");
    assert_eq!(
        stored(&instance.data_dir),
        vec![
            (
                "up{job=\"a\"}".to_string(),
                vec![(1_800_000_000_000, 1.0), (1_800_000_015_000, 0.0)]
            ),
            ("up{job=\"b\"}".to_string(), vec![(1_800_000_000_000, 1.0)]),
            ("up{job=\"c\"}".to_string(), vec![(1_800_000_000_000, 3.0)]),
            ("up{job=\"d\"}".to_string(), vec![(1_800_000_000_000, 4.0)]),
        ]
    );
}

#[test]
fn import_bodies_have_their_own_limit() {
    // Above the 1 KiB general limit, below the import limit: accepted.
    let instance = Instance::start("[server]\nrequest_body_bytes_max = \"1KiB\"\n");
    let body: String = (0..100)
        .map(|i| format!("big{{i=\"{i}\"}} {i} 1800000000000\n"))
        .collect();
    assert!(body.len() > 1024);
    let response = client()
        .post(instance.url("/api/v1/import/prometheus"))
        .body(body)
        .send()
        .expect("post");
    assert_eq!(response.status(), 200);
}

#[test]
fn import_body_limit() {
    let instance = Instance::start("[storage]\nimport_body_bytes_max = \"64B\"\n");
    let response = client()
        .post(instance.url("/api/v1/import/prometheus"))
        .body(GOOD.repeat(3))
        .send()
        .expect("post");
    assert_eq!(response.status(), 413);
}

#[test]
fn offline_import_command() {
    let temp = tempfile::tempdir().expect("temp");
    let (good, bad, data) = (
        temp.path().join("good.prom"),
        temp.path().join("bad.prom"),
        temp.path().join("data"),
    );
    std::fs::write(&good, GOOD).expect("write");
    std::fs::write(&bad, BAD).expect("write");
    let run = |files: &[&std::path::Path], extra: &[&str]| {
        std::process::Command::new(common::BIN)
            .arg("import")
            .arg("--data")
            .arg(&data)
            .args(extra)
            .args(files)
            .output()
            .expect("tandem import")
    };
    let refused = run(&[&bad], &[]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("2 invalid line(s); nothing from it was imported"),
        "{stderr}"
    );
    assert!(stderr.contains("bad.prom:line 2: "), "{stderr}");
    assert!(
        stored(&data).is_empty(),
        "a refused file leaves nothing behind"
    );
    // A compressed file takes the two-pass path (check, then store): same result.
    let bad_gz = temp.path().join("bad.prom.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(BAD.as_bytes()).expect("gzip");
    std::fs::write(&bad_gz, encoder.finish().expect("gzip")).expect("write");
    let refused_gz = run(&[&bad_gz], &[]);
    assert_eq!(refused_gz.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused_gz.stderr)
            .contains("2 invalid line(s); nothing was imported")
    );
    assert!(stored(&data).is_empty());
    let imported = run(&[&good], &[]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert!(String::from_utf8_lossy(&imported.stdout).starts_with("imported 3 samples"));
    let skipping = run(&[&bad], &["--skip-invalid"]);
    assert!(skipping.status.success());
    let stored = stored(&data);
    assert_eq!(stored.len(), 3);
    assert_eq!(
        stored[2],
        ("up{job=\"c\"}".to_string(), vec![(1_800_000_000_000, 3.0)])
    );
    // Everything was compacted into SQLite: no chunk is left in the hot chunk log.
    let compact = std::process::Command::new(common::BIN)
        .arg("compact")
        .arg("--data")
        .arg(&data)
        .output()
        .expect("compact");
    assert!(
        String::from_utf8_lossy(&compact.stdout).starts_with("compacted 0 chunks"),
        "{}",
        String::from_utf8_lossy(&compact.stdout)
    );
}
