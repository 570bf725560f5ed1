//! The Prometheus HTTP query API end to end: exact JSON for every endpoint and error
//! shape, and Prometheus' own `promtool` as a real client.

mod common;

use common::{Instance, client};
use serde_json::{Value, json};
use std::process::Command;

/// Two series of `up` and one `http_requests_total`, 15 s apart from T0: an hour
/// ago, so that promtool's default window (the last year) covers them.
fn t0_s() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    (now - 3600) / 60 * 60
}

fn data(t0_s: i64) -> String {
    let mut text = String::new();
    for (series, values) in [
        ("up{job=\"api\",instance=\"a:1\"}", [1, 1, 0]),
        ("up{job=\"db\",instance=\"b:2\"}", [1, 1, 1]),
        (
            "http_requests_total{job=\"api\",code=\"200\"}",
            [10, 25, 40],
        ),
    ] {
        for (index, value) in values.iter().enumerate() {
            let t_ms = (t0_s + 15 * index as i64) * 1000;
            text.push_str(&format!("{series} {value} {t_ms}\n"));
        }
    }
    text
}

fn start() -> Instance {
    let instance = Instance::start("[query]\nsamples_max = 1000\n");
    let response = client()
        .post(instance.url("/api/v1/import/prometheus"))
        .body(data(t0_s()))
        .send()
        .expect("import");
    assert_eq!(response.status(), 200, "{:?}", response.text());
    instance
}

fn get(instance: &Instance, path_and_query: &str) -> (u16, Value) {
    let response = client()
        .get(instance.url(path_and_query))
        .send()
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().expect("JSON body"))
}

fn post(instance: &Instance, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = client()
        .post(instance.url(path))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish(),
        )
        .send()
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().expect("JSON body"))
}

#[test]
fn query_endpoints_answer_in_prometheus_shapes() {
    let instance = start();
    let t0 = t0_s();
    let t = t0 + 30;

    // Instant vector, GET and POST alike.
    // `tier` (tandem's addition, ignored by Prometheus clients) says what served it.
    let expected = json!({
        "status": "success",
        "data": {"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "instance": "a:1", "job": "api"}, "value": [t, "0"]},
        ]},
        "tier": "raw",
    });
    assert_eq!(
        get(
            &instance,
            &format!("/api/v1/query?query=up%7Bjob%3D%22api%22%7D&time={t}")
        ),
        (200, expected.clone())
    );
    assert_eq!(
        post(
            &instance,
            "/api/v1/query",
            &[("query", "up{job=\"api\"}"), ("time", &t.to_string())]
        ),
        (200, expected)
    );

    // Grafana's health check: a scalar.
    assert_eq!(
        get(&instance, &format!("/api/v1/query?query=1%2B1&time={t}")),
        (
            200,
            json!({"status": "success", "data": {"resultType": "scalar", "result": [t, "2"]}})
        )
    );

    // A range query: a matrix sorted by labels, fractional times with three decimals.
    let (status, body) = post(
        &instance,
        "/api/v1/query_range",
        &[
            ("query", "sum by (job) (up)"),
            ("start", &t0.to_string()),
            ("end", &format!("{}.5", t0 + 30)),
            ("step", "15"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"job": "api"}, "values": [[t0, "1"], [t0 + 15, "1"], [t0 + 30, "0"]]},
            {"metric": {"job": "db"}, "values": [[t0, "1"], [t0 + 15, "1"], [t0 + 30, "1"]]},
        ]}, "tier": "raw"})
    );

    // rate() over a counter, and an info annotation for a non-counter name.
    let (status, body) = get(
        &instance,
        &format!("/api/v1/query?query=rate(http_requests_total%5B1m%5D)&time={t}"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["result"][0]["metric"],
        json!({"code": "200", "job": "api"})
    );
    assert!(body.get("infos").is_none(), "{body}");
    let (_, body) = get(
        &instance,
        &format!("/api/v1/query?query=rate(up%5B1m%5D)&time={t}"),
    );
    let infos = body["infos"].as_array().expect("infos");
    assert!(
        infos[0]
            .as_str()
            .unwrap_or("")
            .starts_with("PromQL info: metric might not be a counter"),
        "{body}"
    );

    // Series, label names and values, bounded by time.
    assert_eq!(
        get(
            &instance,
            "/api/v1/series?match%5B%5D=up&match%5B%5D=http_requests_total"
        ),
        (
            200,
            json!({"status": "success", "data": [
                {"__name__": "http_requests_total", "code": "200", "job": "api"},
                {"__name__": "up", "instance": "a:1", "job": "api"},
                {"__name__": "up", "instance": "b:2", "job": "db"},
            ]})
        )
    );
    assert_eq!(
        get(&instance, "/api/v1/labels"),
        (
            200,
            json!({"status": "success", "data": ["__name__", "code", "instance", "job"]})
        )
    );
    assert_eq!(
        get(&instance, "/api/v1/label/job/values?match%5B%5D=up"),
        (200, json!({"status": "success", "data": ["api", "db"]}))
    );
    assert_eq!(
        get(
            &instance,
            &format!(
                "/api/v1/label/job/values?start={}&end={}",
                t0 + 3600,
                t0 + 7200
            )
        ),
        (200, json!({"status": "success", "data": []}))
    );
    assert_eq!(
        get(&instance, "/api/v1/label/job/values?limit=1"),
        (
            200,
            json!({"status": "success", "data": ["api"], "warnings": ["results truncated due to limit"]})
        )
    );
    assert_eq!(
        get(&instance, "/api/v1/metadata"),
        (200, json!({"status": "success", "data": {}}))
    );
    assert_eq!(
        get(
            &instance,
            "/api/v1/format_query?query=sum(rate(x%5B5m%5D))by(job)"
        ),
        (
            200,
            json!({"status": "success", "data": "sum by (job) (rate(x[5m]))"})
        )
    );

    // Statistics on request.
    let (_, body) = get(
        &instance,
        &format!("/api/v1/query?query=up&time={t}&stats=all"),
    );
    // Three samples of each `up` series lie in the 5 m lookback window.
    assert_eq!(
        body["data"]["stats"]["samples"]["totalQueryableSamples"],
        json!(6)
    );
}

#[test]
fn errors_have_prometheus_types_and_status_codes() {
    let instance = start();
    let t0 = t0_s();
    let (status, body) = get(&instance, "/api/v1/query?query=sum(up");
    assert_eq!(status, 400);
    assert_eq!(body["status"], "error");
    assert_eq!(body["errorType"], "bad_data");
    assert!(
        body["error"].as_str().unwrap_or("").starts_with("1:"),
        "{body}"
    );

    let (status, body) = get(&instance, "/api/v1/query");
    assert_eq!(
        (status, body["errorType"].clone()),
        (400, json!("bad_data"))
    );

    let (status, body) = get(
        &instance,
        "/api/v1/query_range?query=up&start=10&end=0&step=1",
    );
    assert_eq!(status, 400);
    assert_eq!(body["error"], "end timestamp must not be before start time");

    let (status, body) = get(
        &instance,
        "/api/v1/query_range?query=up&start=0&end=100000&step=1",
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("11,000 points"),
        "{body}"
    );

    let (status, body) = get(&instance, "/api/v1/query?query=up&time=yesterday");
    assert_eq!(
        (status, body["errorType"].clone()),
        (400, json!("bad_data"))
    );

    // [query] samples_max = 1000: a subquery making ~6 600 points is refused.
    let (status, body) = get(
        &instance,
        &format!(
            "/api/v1/query_range?query=count_over_time(up%5B1h:100ms%5D)&start={}&end={}&step=60",
            t0,
            t0 + 600
        ),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errorType"], "execution");
    assert_eq!(
        body["error"],
        "query processing would load too many samples into memory in query execution"
    );

    // A deadline already past when evaluation starts: Prometheus' timeout shape.
    let (status, body) = get(&instance, "/api/v1/query?query=up&timeout=0.000001");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errorType"], "timeout");

    let (status, body) = get(&instance, "/api/v1/series");
    assert_eq!(status, 400);
    assert_eq!(body["error"], "no match[] parameter provided");

    let (status, body) = get(&instance, "/api/v1/nothing");
    assert_eq!(
        (status, body["errorType"].clone()),
        (404, json!("not_found"))
    );
}

/// `promtool` from Prometheus, or `None` with a printed reason (a failure under CI).
fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool").arg("--version").output().is_ok();
    if found {
        return Some("promtool");
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "promtool is not on PATH (Debian package `prometheus`); required under CI"
    );
    eprintln!("skipping: promtool not on PATH (install the Debian package `prometheus`)");
    None
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .expect("run promtool");
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn promtool_queries_tandem() {
    let Some(promtool) = promtool() else { return };
    let instance = start();
    let url = instance.base_url.clone();
    let t0 = t0_s();
    let t = (t0 + 30).to_string();

    let instant = run(promtool, &["query", "instant", "--time", &t, &url, "up"]);
    assert_eq!(
        instant,
        format!(
            "up{{instance=\"a:1\", job=\"api\"}} => 0 @[{t}]\nup{{instance=\"b:2\", job=\"db\"}} => 1 @[{t}]\n"
        )
    );

    let range = run(
        promtool,
        &[
            "query",
            "range",
            "--start",
            &t0.to_string(),
            "--end",
            &t,
            "--step",
            "15s",
            &url,
            "sum(up)",
        ],
    );
    assert_eq!(
        range,
        format!("{{}} =>\n2 @[{}]\n2 @[{}]\n1 @[{t}]\n", t0, t0 + 15)
    );

    let series = run(
        promtool,
        &["query", "series", "--match", "up{job=\"db\"}", &url],
    );
    assert_eq!(series, "{__name__=\"up\", instance=\"b:2\", job=\"db\"}\n");

    let labels = run(promtool, &["query", "labels", &url, "job"]);
    assert_eq!(labels, "api\ndb\n");
}

#[test]
fn tandem_query_prints_an_aligned_table() {
    let instance = start();
    let t = (t0_s() + 30).to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["query", "--url", &instance.base_url, "--time", &t, "up"])
        .output()
        .expect("run tandem query");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "up{instance=\"a:1\", job=\"api\"}  0\nup{instance=\"b:2\", job=\"db\"}   1\n"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["query", "--url", &instance.base_url, "sum(up"])
        .output()
        .expect("run tandem query");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("query failed (bad_data): 1:"),
        "{output:?}"
    );
}

#[test]
fn the_tier_parameter_forces_a_tier_and_every_response_names_it() {
    let instance = Instance::start(
        "[storage]\ntiers = [{ resolution = \"raw\", retention = \"15d\" }, { resolution = \"1m\", retention = \"90d\" }, { resolution = \"1h\", retention = \"5y\" }]\n",
    );
    let t0 = t0_s();
    let response = client()
        .post(instance.url("/api/v1/import/prometheus"))
        .body(data(t0))
        .send()
        .expect("import");
    assert_eq!(response.status(), 200);
    // The next full hour after the data: 2 h windows ending there hold all of it.
    let hour = (t0 / 3600 + 1) * 3600;
    let max_over = |tier: &str| {
        get(
            &instance,
            &format!(
                "/api/v1/query?query=max_over_time(http_requests_total%5B2h%5D)&time={hour}&tier={tier}"
            ),
        )
    };
    for (tier, served) in [("raw", "raw"), ("1m", "1m"), ("1h", "1h"), ("auto", "1h")] {
        let (status, body) = max_over(tier);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tier"], json!(served), "{tier}: {body}");
        assert_eq!(
            body["data"]["result"][0]["value"][1],
            json!("40"),
            "{tier}: {body}"
        );
        assert!(body.get("warnings").is_none(), "{tier}: {body}");
    }
    // A window that cuts the hourly buckets, forced onto them: answered, and said to
    // be approximate.
    let (status, body) = get(
        &instance,
        &format!("/api/v1/query?query=max_over_time(up%5B5m%5D)&time={hour}&tier=1h"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tier"], json!("1h"));
    let warning = body["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("served from the 1h rollup tier") && warning.contains("approximate"),
        "{body}"
    );
    // A tier this store does not have.
    let (status, body) = max_over("5m");
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"],
        json!("invalid parameter \"tier\": no tier \"5m\"; this store has auto, raw, 1m, 1h")
    );
}
