//! `POST /api/v1/write` against a running tandem: every kind of bad input gets its
//! status and a message naming the problem, the valid part of a request is stored,
//! and what was stored before is untouched. Then real Prometheus (Debian package
//! `prometheus`, 2.42) remote-writes its own scrapes to tandem, and both sides must
//! hold identical samples.
//!
//! Requests are built with tandem's own protobuf messages (`collect::remote_write::
//! proto`), encoded by prost and compressed with snap, as any sender's would be.

mod common;

use common::{Instance, client, eventually, required};
use prost::Message;
use serde_json::Value;
use std::time::Duration;
use tandem::collect::remote_write::proto;

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> proto::TimeSeries {
    proto::TimeSeries::new(labels, samples)
}

fn body(timeseries: Vec<proto::TimeSeries>) -> Vec<u8> {
    let request = proto::WriteRequest {
        timeseries,
        metadata: Vec::new(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("snappy")
}

/// POSTs `body` with the given headers; returns status and body text.
fn post(instance: &Instance, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = client().post(instance.url("/api/v1/write")).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().expect("POST /api/v1/write");
    let status = response.status().as_u16();
    (status, response.text().unwrap_or_default())
}

const PROTOBUF: [(&str, &str); 3] = [
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

/// `expr` evaluated at `time` (ms) by the server at `base` (tandem or Prometheus), as
/// Prometheus' JSON.
fn query(base: &str, expr: &str, time_ms: i64) -> Value {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", expr)
        .append_pair("time", &format!("{:.3}", time_ms as f64 / 1000.0))
        .finish();
    client()
        .get(format!("{base}/api/v1/query?{query}"))
        .send()
        .expect("query")
        .json()
        .expect("JSON")
}

/// The samples of `selector` in the 10 minutes before `time_ms`, as (ms, value text).
fn samples(base: &str, selector: &str, time_ms: i64) -> Vec<(i64, String)> {
    let body = query(base, &format!("{selector}[10m]"), time_ms);
    let Some(values) = body["data"]["result"][0]["values"].as_array() else {
        return Vec::new();
    };
    values
        .iter()
        .map(|pair| {
            (
                (pair[0].as_f64().unwrap_or(0.0) * 1000.0).round() as i64,
                pair[1].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

#[test]
fn bad_requests_are_refused_with_a_reason_and_stored_data_is_untouched() {
    let instance = Instance::start(
        "[storage]\nremote_write_body_bytes_max = \"4KiB\"\n[limits]\nout_of_order_window = \"1m\"\n",
    );
    let t = now_ms() - 60_000;
    // A first good request: 204, stored.
    let good = body(vec![series(
        &[("__name__", "pushed"), ("job", "a")],
        &[(t, 1.0), (t + 1_000, 2.0)],
    )]);
    let (status, text) = post(&instance, good.clone(), &PROTOBUF);
    assert_eq!(status, 204, "{text}");
    let before = samples(&instance.base_url, "pushed{job=\"a\"}", t + 2_000);
    assert_eq!(
        before,
        vec![(t, "1".to_string()), (t + 1_000, "2".to_string())]
    );

    // Whole requests refused: status and a message naming the problem.
    // (what, body, headers, status, a phrase the message must hold)
    type Case<'a> = (&'a str, Vec<u8>, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "not snappy",
            b"definitely not snappy".to_vec(),
            PROTOBUF.to_vec(),
            400,
            "snappy",
        ),
        (
            "snappy around a corrupt protobuf",
            snap::raw::Encoder::new()
                .compress_vec(b"\x0a\x05\x0a\x03")
                .expect("snappy"),
            PROTOBUF.to_vec(),
            400,
            "protobuf",
        ),
        (
            "JSON content type",
            good.clone(),
            vec![("Content-Type", "application/json")],
            415,
            "application/x-protobuf",
        ),
        (
            "remote_write 2.0",
            good.clone(),
            vec![(
                "Content-Type",
                "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            )],
            415,
            "1.0",
        ),
        (
            "gzip encoding",
            good.clone(),
            vec![
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "gzip"),
            ],
            415,
            "snappy",
        ),
        (
            "over the body limit",
            vec![0u8; 8 << 10],
            PROTOBUF.to_vec(),
            413,
            "remote_write_body_bytes_max",
        ),
    ];
    for (what, payload, headers, expected, message) in cases {
        let (status, text) = post(&instance, payload, &headers);
        assert_eq!(status, expected, "{what}: {text}");
        assert!(text.contains(message), "{what}: {text:?} lacks {message:?}");
    }

    // Partly invalid: the valid series is stored, each invalid one is named.
    let mixed = body(vec![
        series(&[("__name__", "pushed"), ("job", "b")], &[(t, 7.0)]),
        series(&[("job", "nameless")], &[(t, 1.0)]),
        series(
            &[("__name__", "pushed"), ("zone", "z"), ("job", "c")],
            &[(t, 1.0)],
        ),
        series(
            &[("__name__", "pushed"), ("job", "d"), ("job", "e")],
            &[(t, 1.0)],
        ),
        // Out of order beyond the 1m window, and a changed value at a stored time.
        series(
            &[("__name__", "pushed"), ("job", "a")],
            &[(t - 120_000, 5.0), (t + 1_000, 3.0)],
        ),
    ]);
    let (status, text) = post(&instance, mixed, &PROTOBUF);
    assert_eq!(status, 400, "{text}");
    for expected in [
        "refused 3 of 5 series",
        "series 1 {job=\"nameless\"}: no __name__ label",
        "series 2 {__name__=\"pushed\", zone=\"z\", job=\"c\"}: labels not sorted",
        "series 3 {__name__=\"pushed\", job=\"d\", job=\"e\"}: duplicate label name \"job\"",
        "and 2 more samples",
    ] {
        assert!(text.contains(expected), "{text:?} lacks {expected:?}");
    }
    assert_eq!(
        samples(&instance.base_url, "pushed{job=\"b\"}", t + 2_000),
        vec![(t, "7".to_string())]
    );
    // Nothing stored before changed.
    assert_eq!(
        samples(&instance.base_url, "pushed{job=\"a\"}", t + 2_000),
        before
    );
    assert_eq!(
        query(&instance.base_url, "count(pushed)", t + 2_000)["data"]["result"][0]["value"][1],
        "2"
    );

    // The same good request again (a sender's retry): 204, nothing doubled.
    let (status, text) = post(&instance, good, &PROTOBUF);
    assert_eq!(status, 204, "{text}");
    assert_eq!(
        samples(&instance.base_url, "pushed{job=\"a\"}", t + 2_000),
        before
    );

    // The receiver's counters.
    let http = client();
    assert_eq!(
        instance.metric(&http, "tandem_remote_write_samples_received_total"),
        Some(2.0 + 6.0 + 2.0)
    );
    assert_eq!(
        instance.metric(
            &http,
            "tandem_remote_write_samples_rejected_total{reason=\"invalid_labels\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        instance.metric(
            &http,
            "tandem_remote_write_samples_rejected_total{reason=\"out_of_order\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        instance.metric(
            &http,
            "tandem_remote_write_requests_rejected_total{reason=\"content_type\"}"
        ),
        Some(2.0)
    );
}

#[test]
fn prometheus_remote_writes_identical_samples() {
    if !required(&[("prometheus", "prometheus")]) {
        return;
    }
    let instance = Instance::start("");
    let temp = tempfile::tempdir().expect("temp dir");
    let (_prometheus, prometheus) = common::start_prometheus(
        temp.path(),
        |prometheus_port| {
            format!(
                "global:\n  scrape_interval: 1s\n\
                 scrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{prometheus_port}']\n\
                 remote_write:\n  - url: {}\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n",
                instance.url("/api/v1/write")
            )
        },
        &[],
    );

    // Wait for a few scrapes to reach tandem, then compare a moment both sides have.
    assert!(
        eventually(Duration::from_secs(60), || {
            samples(&instance.base_url, "up{job=\"self\"}", now_ms()).len() >= 5
        }),
        "no remote-written samples reached tandem:\n{}",
        instance.stderr()
    );
    let at = now_ms() - 3_000;
    let selectors = [
        "up{job=\"self\"}",
        "scrape_samples_scraped{job=\"self\"}",
        "prometheus_tsdb_head_series{job=\"self\"}",
        "prometheus_http_requests_total{job=\"self\",handler=\"/metrics\"}",
    ];
    for selector in selectors {
        let mut theirs = Vec::new();
        let same = eventually(Duration::from_secs(20), || {
            theirs = samples(&prometheus, selector, at);
            !theirs.is_empty() && samples(&instance.base_url, selector, at) == theirs
        });
        let ours = samples(&instance.base_url, selector, at);
        assert!(same, "{selector}: tandem {ours:?}\nPrometheus {theirs:?}");
        let count = format!("count_over_time({selector}[10m])");
        assert_eq!(
            query(&instance.base_url, &count, at)["data"]["result"][0]["value"][1],
            query(&prometheus, &count, at)["data"]["result"][0]["value"][1],
            "{count}"
        );
        println!("{selector}: {} identical samples", ours.len());
    }
}
