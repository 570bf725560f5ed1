//! tandem scraping real exporters: `prometheus-node-exporter` and Prometheus' own
//! `/metrics` (Debian packages `prometheus-node-exporter` and `prometheus`). Every
//! sample of a scrape must be stored: at a time after a scrape, the job's series that
//! a query sees are exactly the samples that scrape reported plus the five report
//! series (`up`, `scrape_duration_seconds`, ...).
//!
//! Without the programs on PATH the test prints why and passes, except under CI
//! (`CI=true`), where it fails.

mod common;

use common::{Instance, Running, client, eventually, free_port, required};
use std::process::{Command, Stdio};
use std::time::Duration;

fn spawn(program: &str, args: &[String]) -> Running {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("start {program}: {error}"));
    Running(child)
}

/// One instant query's single value at `time` (Unix seconds), if it has one.
fn value_at(instance: &Instance, expr: &str, time: f64) -> Option<f64> {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", expr)
        .append_pair("time", &format!("{time:.3}"))
        .finish();
    let body: serde_json::Value = client()
        .get(instance.url(&format!("/api/v1/query?{query}")))
        .send()
        .ok()?
        .json()
        .ok()?;
    body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

#[test]
fn every_sample_of_node_exporter_and_prometheus_scrapes_is_stored() {
    if !required(&[
        ("prometheus-node-exporter", "prometheus-node-exporter"),
        ("prometheus", "prometheus"),
    ]) {
        return;
    }
    let temp = tempfile::tempdir().expect("temp dir");
    let node_port = free_port();
    let _node = spawn(
        "prometheus-node-exporter",
        &[format!("--web.listen-address=127.0.0.1:{node_port}")],
    );
    let prometheus_port = free_port();
    let prometheus_config = temp.path().join("prometheus.yml");
    std::fs::write(&prometheus_config, "global:\n  scrape_interval: 1m\n").expect("write");
    let _prometheus = spawn(
        "prometheus",
        &[
            format!("--config.file={}", prometheus_config.display()),
            format!("--storage.tsdb.path={}", temp.path().join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{prometheus_port}"),
        ],
    );
    let config = format!(
        "[collect.host]\nenabled = false\n\n\
         [[scrape]]\njob = \"node\"\ntargets = [\"127.0.0.1:{node_port}\"]\ninterval = \"1s\"\n\n\
         [[scrape]]\njob = \"prometheus\"\ntargets = [\"127.0.0.1:{prometheus_port}\"]\ninterval = \"1s\"\n"
    );
    let instance = Instance::start(&config);
    for (job, build_info) in [
        ("node", "node_exporter_build_info"),
        ("prometheus", "prometheus_build_info"),
    ] {
        let up = format!("up{{job=\"{job}\"}}");
        assert!(
            eventually(Duration::from_secs(30), || value_at(
                &instance,
                &up,
                now_seconds()
            ) == Some(1.0)),
            "{job} never up; stderr:\n{}",
            instance.stderr()
        );
        // A time two scrapes back, so that the scrape before it is wholly stored.
        let mut last = (None, None);
        let matched = eventually(Duration::from_secs(20), || {
            let at = now_seconds() - 2.0;
            let scraped = value_at(
                &instance,
                &format!("scrape_samples_scraped{{job=\"{job}\"}}"),
                at,
            );
            let stored = value_at(&instance, &format!("count({{job=\"{job}\"}})"), at);
            last = (scraped, stored);
            matches!((scraped, stored), (Some(scraped), Some(stored)) if scraped > 100.0 && stored == scraped + 5.0)
        });
        assert!(
            matched,
            "{job}: scrape_samples_scraped and stored series (+5 report series) differ: {last:?}"
        );
        assert_eq!(
            value_at(
                &instance,
                &format!("count({build_info}{{job=\"{job}\"}})"),
                now_seconds()
            ),
            Some(1.0),
            "{job}"
        );
        println!(
            "{job}: {} samples per scrape, all stored",
            last.0.unwrap_or(0.0)
        );
    }
}
