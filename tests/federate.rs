//! `/federate` end to end: samples imported with recent timestamps come back as the
//! exact text exposition Prometheus' federation writes (each series' newest sample at
//! its own time, old and stale series absent, external labels added), with
//! Prometheus' error envelope for bad requests and query limits. Then real Prometheus
//! (Debian package `prometheus`, 2.42) scrapes tandem's `/federate` with
//! `honor_labels: true` and must hold the same series, values and timestamps.
//!
//! Without `prometheus` on PATH the second test prints why and passes, except under
//! CI (`CI=true`), where it fails.

mod common;

use common::{Instance, client, eventually, required};
use prost::Message;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use tandem::collect::remote_write::proto;

/// `[query] samples_max = 2`: no federated series has more samples in the lookback
/// (`gone` has a sample and its stale marker), and `many` has three, so selecting it
/// breaks the limit.
const CONFIG: &str =
    "[query]\nsamples_max = 2\n\n[rules]\nexternal_labels = { cluster = \"eu\" }\n";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Starts tandem with `CONFIG` and stores the test's series, their newest samples at
/// `t` (whole seconds, half a minute ago); returns `t` in milliseconds.
fn start() -> (Instance, i64) {
    let instance = Instance::start(CONFIG);
    let t = (now_ms() / 1000 - 30) * 1000;
    let old = t - 10 * 60 * 1000;
    let text = format!(
        "up{{job=\"x\",instance=\"a\"}} 0 {t}\n\
         up{{job=\"y\",instance=\"b\"}} 1 {t}\n\
         weird{{job=\"x\",instance=\"a\",path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\",text=\"two\\nlines\"}} +Inf {t}\n\
         big_total{{job=\"x\",instance=\"a\"}} 1234567 {t}\n\
         small{{job=\"x\",instance=\"a\",cluster=\"own\"}} 0.00001 {t}\n\
         nan{{job=\"x\",instance=\"a\"}} NaN {t}\n\
         old{{job=\"x\",instance=\"a\"}} 5 {old}\n\
         many{{job=\"z\"}} 1 {}\nmany{{job=\"z\"}} 2 {}\nmany{{job=\"z\"}} 3 {t}\n",
        t - 2000,
        t - 1000
    );
    let response = client()
        .post(instance.url("/api/v1/import/prometheus"))
        .body(text)
        .send()
        .expect("import");
    assert_eq!(response.status(), 200, "{:?}", response.text());
    // A series ended by a stale marker, which only remote_write can carry.
    let stale = f64::from_bits(tandem::model::STALE_NAN_BITS);
    let request = proto::WriteRequest {
        timeseries: vec![proto::TimeSeries::new(
            &[("__name__", "gone"), ("instance", "a"), ("job", "x")],
            &[(t - 1000, 1.0), (t, stale)],
        )],
        metadata: Vec::new(),
    };
    let body = snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("snappy");
    let response = client()
        .post(instance.url("/api/v1/write"))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .expect("remote write");
    assert_eq!(response.status(), 204, "{:?}", response.text());
    (instance, t)
}

/// GET `/federate` with these `match[]` selectors: status, content type, body.
fn federate(instance: &Instance, selectors: &[&str]) -> (u16, String, String) {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(selectors.iter().map(|selector| ("match[]", *selector)))
        .finish();
    let response = client()
        .get(instance.url(&format!("/federate?{query}")))
        .send()
        .expect("GET /federate");
    answer(response)
}

fn answer(response: reqwest::blocking::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, response.text().expect("body"))
}

#[test]
fn federate_writes_newest_samples_as_prometheus_does() {
    let (instance, t) = start();
    const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

    // `up{job="x"}` is selected twice and written once; `old` is outside the 5m
    // lookback and `gone` ended with a stale marker.
    let (status, content_type, body) = federate(&instance, &["{job=\"x\"}", "up"]);
    assert_eq!((status, content_type.as_str()), (200, TEXT), "{body}");
    assert_eq!(
        body,
        format!(
            "# TYPE big_total untyped\n\
             big_total{{instance=\"a\",job=\"x\",cluster=\"eu\"}} 1.234567e+06 {t}\n\
             # TYPE nan untyped\n\
             nan{{instance=\"a\",job=\"x\",cluster=\"eu\"}} NaN {t}\n\
             # TYPE small untyped\n\
             small{{cluster=\"own\",instance=\"a\",job=\"x\"}} 1e-05 {t}\n\
             # TYPE up untyped\n\
             up{{instance=\"a\",job=\"x\",cluster=\"eu\"}} 0 {t}\n\
             up{{instance=\"b\",job=\"y\",cluster=\"eu\"}} 1 {t}\n\
             # TYPE weird untyped\n\
             weird{{instance=\"a\",job=\"x\",path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\",text=\"two\\nlines\",cluster=\"eu\"}} +Inf {t}\n"
        )
    );

    // POST with a form body, as the query endpoints take it.
    let response = client()
        .post(instance.url("/federate"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("match[]=up%7Bjob%3D%22y%22%7D")
        .send()
        .expect("POST /federate");
    let (status, content_type, body) = answer(response);
    assert_eq!((status, content_type.as_str()), (200, TEXT), "{body}");
    assert_eq!(
        body,
        format!("# TYPE up untyped\nup{{instance=\"b\",job=\"y\",cluster=\"eu\"}} 1 {t}\n")
    );

    // Nothing selected: an empty exposition.
    assert_eq!(
        federate(&instance, &["nothing"]),
        (200, TEXT.into(), "".into())
    );

    // Bad requests and the query limit: Prometheus' envelope, as /api/v1/query.
    let error = |selectors: &[&str]| {
        let (status, _, body) = federate(&instance, selectors);
        let body: Value = serde_json::from_str(&body).expect("JSON error");
        (status, body)
    };
    assert_eq!(
        error(&[]),
        (
            400,
            json!({"status": "error", "errorType": "bad_data", "error": "no match[] parameter provided"})
        )
    );
    let (status, body) = error(&["up", "rate(up[5m])"]);
    assert_eq!((status, &body["errorType"]), (400, &json!("bad_data")));
    assert_eq!(
        body["error"],
        "invalid parameter \"match[]\": \"rate(up[5m])\" is not a series selector"
    );
    let (status, body) = error(&["up offset 1m"]);
    assert_eq!(
        (status, &body["errorType"]),
        (400, &json!("bad_data")),
        "{body}"
    );
    let (status, body) = error(&["{job=~\"x|z\"}"]);
    let query: Value = client()
        .get(instance.url("/api/v1/query?query=many"))
        .send()
        .expect("query")
        .json()
        .expect("JSON");
    assert_eq!(
        (status, &body),
        (
            422,
            &json!({
                "status": "error",
                "errorType": "execution",
                "error": "query processing would load too many samples into memory in query execution"
            })
        )
    );
    assert_eq!(body, query);
}

/// `expr` evaluated now by the server at `base`, as JSON.
fn query(base: &str, expr: &str) -> Value {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", expr)
        .finish();
    client()
        .get(format!("{base}/api/v1/query?{query}"))
        .send()
        .and_then(|response| response.json())
        .unwrap_or(Value::Null)
}

/// The series of a result (`metric` objects as sorted maps) with what each holds.
fn by_labels(result: &Value, what: &str) -> BTreeMap<BTreeMap<String, String>, Value> {
    result["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|series| {
            let labels = serde_json::from_value(series["metric"].clone()).expect("labels");
            (labels, series[what].clone())
        })
        .collect()
}

#[test]
fn prometheus_federates_from_tandem() {
    if !required(&[("prometheus", "prometheus")]) {
        return;
    }
    let (instance, t) = start();
    let temp = tempfile::tempdir().expect("temp dir");
    let (_prometheus, prometheus) = common::start_prometheus(
        temp.path(),
        |_| {
            format!(
                "global:\n  scrape_interval: 1s\n\
             scrape_configs:\n  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n\
             \x20   params:\n      'match[]': ['{{job=\"x\"}}']\n\
             \x20   static_configs:\n      - targets: ['127.0.0.1:{}']\n",
                instance.port
            )
        },
        &[],
    );

    // What tandem federates: its `{job="x"}` series with the external label, each with
    // its newest sample at `t`.
    let ours: BTreeMap<BTreeMap<String, String>, Value> =
        by_labels(&query(&instance.base_url, "{job=\"x\"}"), "value")
            .into_iter()
            .map(|(mut labels, value)| {
                labels
                    .entry("cluster".into())
                    .or_insert_with(|| "eu".into());
                (labels, json!([[t / 1000, value[1]]]))
            })
            .collect();
    assert_eq!(ours.len(), 5, "{ours:?}");
    // The samples themselves (a range selector keeps their timestamps), once every
    // series has arrived.
    let mut theirs = BTreeMap::new();
    let arrived = eventually(Duration::from_secs(15), || {
        theirs = by_labels(&query(&prometheus, "{job=\"x\"}[5m]"), "values");
        theirs.len() >= ours.len()
    });
    assert!(arrived, "Prometheus has {theirs:?}");
    assert_eq!(theirs, ours);
    // And the scrape itself was clean.
    let up = query(&prometheus, "up{job=\"federate\"}");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
}
