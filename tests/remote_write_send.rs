//! The remote_write sender against real receivers: Prometheus 2.42 with its
//! remote-write receiver and a VictoriaMetrics single node (Debian's packages), and a
//! recording HTTP server for refusals. Samples are imported into tandem with their
//! own timestamps, so every system can be asked for exactly the same ones.

mod common;

use common::{HttpRecorder, Instance, Running, Start, client, eventually, free_port, required};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// `count` samples of `series` one second apart ending at `end_ms`, in the text format.
fn lines(series: &str, end_ms: i64, count: i64, offset: f64) -> String {
    (0..count)
        .map(|i| {
            let t = end_ms - (count - 1 - i) * 1000;
            format!("{series} {} {t}\n", offset + i as f64 * 1.5)
        })
        .collect()
}

fn import(base_url: &str, body: String) {
    let response = client()
        .post(format!("{base_url}/api/v1/import/prometheus"))
        .body(body)
        .send()
        .expect("import");
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().unwrap_or_default()
    );
}

fn query(base_url: &str, promql: &str, at_ms: i64) -> serde_json::Value {
    let url = format!(
        "{base_url}/api/v1/query?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("query", promql)
            .append_pair("time", &format!("{:.3}", at_ms as f64 / 1000.0))
            .finish()
    );
    client()
        .get(url)
        .send()
        .expect("query")
        .json()
        .expect("json")
}

/// Every (labels, [(t, value)]) a range selector returns, sorted, as text.
fn stored(base_url: &str, selector: &str, at_ms: i64) -> Vec<String> {
    let body = query(base_url, &format!("{selector}[15m]"), at_ms);
    let mut series: Vec<String> = body["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|series| {
            let mut metric: Vec<(String, String)> = series["metric"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, value)| (name.clone(), value.as_str().unwrap_or("").to_string()))
                .collect();
            metric.sort();
            format!("{metric:?} {}", series["values"])
        })
        .collect();
    series.sort();
    series
}

fn spawn_victoria_metrics(dir: &std::path::Path, port: u16) -> Child {
    Command::new("victoria-metrics")
        .arg(format!(
            "-storageDataPath={}",
            dir.join("victoria").display()
        ))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-retentionPeriod=10y")
        // Answer with what was just written (the default hides the last 30 s).
        .arg("-search.latencyOffset=0s")
        .arg("-search.disableCache")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start victoria-metrics")
}

fn queue(name: &str, url: &str) -> String {
    format!(
        "[[remote_write]]\nname = \"{name}\"\nurl = \"{url}\"\nbatch_send_deadline = \"200ms\"\nmax_backoff = \"500ms\"\n"
    )
}

/// What tandem holds is what Prometheus and VictoriaMetrics hold: same series, same
/// timestamps, same values.
#[test]
fn both_receivers_hold_exactly_what_tandem_holds() {
    if !required(&[
        ("prometheus", "prometheus"),
        ("victoria-metrics", "victoria-metrics"),
    ]) {
        return;
    }
    let temp = tempfile::tempdir().expect("temp");
    let (_prometheus, prometheus) = common::start_prometheus(
        temp.path(),
        |_| "global:\n  scrape_interval: 1m\n".into(),
        &["--web.enable-remote-write-receiver"],
    );
    let vm_port = free_port();
    let _vm = Running(spawn_victoria_metrics(temp.path(), vm_port));
    assert!(
        common::wait_for_port(vm_port, Duration::from_secs(20)),
        "victoria-metrics did not start"
    );
    let victoria = format!("http://127.0.0.1:{vm_port}");
    let relabel = "[[remote_write.write_relabel]]\nsource_labels = [\"__name__\"]\nregex = \"secret_.*\"\naction = \"drop\"\n";
    let config = format!(
        "[rules]\nexternal_labels = {{ replica = \"a\" }}\n{}{relabel}{}{relabel}",
        queue("prometheus", &format!("{prometheus}/api/v1/write")),
        queue("victoria", &format!("{victoria}/api/v1/write")),
    );
    let instance = Instance::start(&config);
    let end = now_ms() - 5_000;
    let mut body = String::new();
    body.push_str(&lines("bench_gauge{host=\"a\"}", end, 120, 0.0));
    body.push_str(&lines("bench_gauge{host=\"b\"}", end, 120, 1e9));
    body.push_str(&lines(
        "bench_total{host=\"a\",code=\"200\"}",
        end,
        120,
        0.25,
    ));
    body.push_str(&lines("secret_thing{host=\"a\"}", end, 10, 1.0));
    import(&instance.base_url, body);
    let selector = "{__name__=~\"bench_.*\"}";
    let ours = stored(&instance.base_url, selector, end);
    assert_eq!(ours.len(), 3);
    for (name, base) in [("prometheus", &prometheus), ("victoria", &victoria)] {
        let mut theirs = Vec::new();
        let same = eventually(Duration::from_secs(30), || {
            theirs = stored(base, selector, end);
            // The receivers hold the external label too.
            theirs.len() == 3
                && theirs
                    .iter()
                    .zip(&ours)
                    .all(|(theirs, ours)| theirs.replace(", (\"replica\", \"a\")", "") == *ours)
        });
        assert!(
            same,
            "{name}:\n{theirs:#?}\ntandem:\n{ours:#?}\n{}",
            instance.stderr()
        );
        assert!(
            stored(base, "secret_thing", end).is_empty(),
            "{name}: write_relabel dropped secret_thing"
        );
    }
    let metrics = client()
        .get(instance.url("/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    for queue in ["prometheus", "victoria"] {
        assert!(
            metrics.contains(&format!(
                "tandem_remote_write_samples_total{{queue=\"{queue}\",state=\"sent\"}} 360\n"
            )),
            "{queue}: {metrics}"
        );
        assert!(metrics.contains(&format!(
            "tandem_remote_write_dropped_samples_total{{queue=\"{queue}\",reason=\"write_relabel\"}} 10\n"
        )));
    }
}

/// The receiver stops for 60 s while tandem keeps ingesting; tandem is SIGKILLed in
/// the middle and restarted; the receiver comes back: every sample arrives, none
/// twice (VictoriaMetrics keeps duplicates, so a count shows them).
#[test]
fn an_outage_and_a_restart_lose_nothing_and_duplicate_nothing() {
    if !required(&[("victoria-metrics", "victoria-metrics")]) {
        return;
    }
    let temp = tempfile::tempdir().expect("temp");
    let vm_port = free_port();
    let victoria = format!("http://127.0.0.1:{vm_port}");
    let mut vm = Running(spawn_victoria_metrics(temp.path(), vm_port));
    assert!(common::wait_for_port(vm_port, Duration::from_secs(20)));
    let mut instance = Instance::start_with(Start {
        tandem_toml: &queue("victoria", &format!("{victoria}/api/v1/write")),
        ..Start::default()
    });
    let start = now_ms();
    let mut written = 0;
    let mut write_batch = |instance: &Instance, round: i64| {
        let t = start + round * 1000;
        import(
            &instance.base_url,
            format!(
                "outage_test{{series=\"a\"}} {round} {t}\noutage_test{{series=\"b\"}} {round} {t}\n"
            ),
        );
        written += 2;
    };
    write_batch(&instance, 0);
    assert!(
        eventually(Duration::from_secs(20), || {
            query(&victoria, "count_over_time(outage_test[1h])", now_ms())["data"]["result"]
                .as_array()
                .is_some_and(|result| result.len() == 2)
        }),
        "the first samples never reached VictoriaMetrics:\n{}",
        instance.stderr()
    );
    // The outage: 60 s without the receiver, ingest going on, tandem killed halfway.
    // Stopped cleanly: VictoriaMetrics keeps recent samples in memory, and a SIGKILL
    // would lose what it had acknowledged.
    let pid = i32::try_from(vm.0.id()).expect("pid");
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let _ = vm.0.wait();
    for round in 1..=60 {
        write_batch(&instance, round);
        if round == 30 {
            instance.signal(libc::SIGKILL);
            let _ = instance.wait_exit(Duration::from_secs(10));
            instance.respawn();
            instance.wait_ready(&client());
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
    vm = Running(spawn_victoria_metrics(temp.path(), vm_port));
    assert!(common::wait_for_port(vm_port, Duration::from_secs(20)));
    let per_series = written / 2;
    let mut counts = serde_json::Value::Null;
    let arrived = eventually(Duration::from_secs(60), || {
        counts = query(&victoria, "count_over_time(outage_test[1h])", now_ms());
        counts["data"]["result"].as_array().is_some_and(|result| {
            result.len() == 2
                && result.iter().all(|series| {
                    series["value"][1].as_str() == Some(per_series.to_string().as_str())
                })
        })
    });
    assert!(
        arrived,
        "expected {per_series} samples per series: {counts}\n{}",
        instance.stderr()
    );
    // And they stay exactly that many (nothing sent twice late).
    std::thread::sleep(Duration::from_secs(2));
    let again = query(&victoria, "count_over_time(outage_test[1h])", now_ms());
    let values = |body: &serde_json::Value| -> Vec<String> {
        body["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|series| format!("{} {}", series["metric"], series["value"][1]))
            .collect()
    };
    assert_eq!(values(&again), values(&counts));
    drop(vm);
}

/// A receiver that refuses a batch with 400 gets it dropped and counted; one that
/// answers 503 gets it again; the rest flows.
#[test]
fn refused_batches_are_dropped_and_counted_and_the_rest_flows() {
    let receiver = HttpRecorder::start();
    // First request refused, second asked to come back, then everything accepted.
    receiver.respond_with(&[400, 503]);
    let config = format!(
        "{}shards = 1\nmax_samples_per_send = 10\nmin_backoff = \"10ms\"\n",
        queue("recorder", &receiver.url("/write"))
    );
    let instance = Instance::start(&config);
    let end = now_ms() - 1_000;
    import(&instance.base_url, lines("refused_test", end, 30, 0.0));
    let mut requests = Vec::new();
    while requests.len() < 4 {
        requests.push(receiver.next(Duration::from_secs(20)));
    }
    let decoded: Vec<Vec<i64>> = requests
        .iter()
        .map(|request| {
            assert_eq!(request.header("content-encoding"), Some("snappy"));
            assert_eq!(
                request.header("x-prometheus-remote-write-version"),
                Some("0.1.0")
            );
            let body =
                tandem::collect::remote_write::decode(&request.body, 1 << 20).expect("decode");
            body.timeseries
                .iter()
                .flat_map(|series| series.samples.iter().map(|sample| sample.timestamp))
                .collect()
        })
        .collect();
    let first: Vec<i64> = (0..10).map(|i| end - (29 - i) * 1000).collect();
    let second: Vec<i64> = (10..20).map(|i| end - (29 - i) * 1000).collect();
    let third: Vec<i64> = (20..30).map(|i| end - (29 - i) * 1000).collect();
    // Refused (dropped), refused for now (503), the same again (accepted), the rest.
    assert_eq!(decoded, [first, second.clone(), second, third]);
    let metrics = || {
        client()
            .get(instance.url("/metrics"))
            .send()
            .expect("metrics")
            .text()
            .expect("text")
    };
    assert!(
        eventually(Duration::from_secs(5), || metrics().contains(
            "tandem_remote_write_samples_total{queue=\"recorder\",state=\"sent\"} 20\n"
        )),
        "{}",
        metrics()
    );
    let text = metrics();
    for line in [
        "tandem_remote_write_dropped_samples_total{queue=\"recorder\",reason=\"http_400\"} 10\n",
        "tandem_remote_write_samples_total{queue=\"recorder\",state=\"retried\"} 10\n",
        "tandem_remote_write_retries_total{queue=\"recorder\"} 1\n",
        "tandem_remote_write_shards{queue=\"recorder\"} 1\n",
    ] {
        assert!(text.contains(line), "{line}{text}");
    }
}
