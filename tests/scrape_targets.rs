//! Scrape targets end to end: a file_sd JSON file pointing at a tiny exporter, the
//! target's health and labels at `/api/v1/targets`, its samples carrying the file's
//! labels, a rewritten file switching targets without a reload, and a relabel rule
//! moving the target to `droppedTargets`.

mod common;

use common::{Instance, client, eventually};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Serves `counter_total N` (N = 1, 2, ... per request); returns its port and the
/// number of requests so far.
fn exporter() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let count = counted.fetch_add(1, Ordering::SeqCst) + 1;
            let body = format!("# TYPE counter_total counter\ncounter_total {count}\n");
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (port, requests)
}

fn get_json(instance: &Instance, path: &str) -> Value {
    client()
        .get(instance.url(path))
        .send()
        .and_then(|response| response.json())
        .unwrap_or(Value::Null)
}

fn active_targets(instance: &Instance) -> Vec<Value> {
    let body = get_json(instance, "/api/v1/targets");
    body["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Writes a target file atomically (rename), as deployment tools do.
fn write_targets(path: &Path, port: u16) {
    let text = format!(r#"[{{"targets": ["127.0.0.1:{port}"], "labels": {{"env": "file"}}}}]"#);
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).expect("write");
    std::fs::rename(&temporary, path).expect("rename");
}

fn config(targets_dir: &Path, relabel: &str) -> String {
    format!(
        "[[scrape]]\njob = \"app\"\nfile_sd = [\"{}/*.json\"]\ninterval = \"200ms\"\n{relabel}",
        targets_dir.display()
    )
}

#[test]
fn file_sd_targets_are_scraped_listed_switched_and_dropped() {
    let (first_port, first_requests) = exporter();
    let (second_port, second_requests) = exporter();
    // Outside the config directory, so that no config reload notices the rewrite.
    let targets_dir = tempfile::tempdir().expect("temp dir");
    let targets_file = targets_dir.path().join("app.json");
    write_targets(&targets_file, first_port);
    let mut instance = Instance::start(&config(targets_dir.path(), ""));

    // The target is scraped and listed as up, with the file's labels.
    let up = eventually(Duration::from_secs(15), || {
        active_targets(&instance)
            .first()
            .is_some_and(|target| target["health"] == "up")
    });
    assert!(
        up,
        "target not up: {:?}\nstderr:\n{}",
        active_targets(&instance),
        instance.stderr()
    );
    let targets = active_targets(&instance);
    assert_eq!(targets.len(), 1, "{targets:?}");
    let target = &targets[0];
    let address = format!("127.0.0.1:{first_port}");
    assert_eq!(
        target["labels"],
        serde_json::json!({"env": "file", "instance": address, "job": "app"})
    );
    assert_eq!(target["scrapePool"], "app");
    assert_eq!(target["scrapeUrl"], format!("http://{address}/metrics"));
    assert_eq!(target["scrapeInterval"], "200ms");
    assert_eq!(target["lastError"], "");
    assert!(
        target["lastScrapeDuration"]
            .as_f64()
            .is_some_and(|d| d >= 0.0)
    );
    assert!(
        target["lastScrape"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{target}"
    );
    let discovered = &target["discoveredLabels"];
    assert_eq!(discovered["__address__"], address);
    assert_eq!(
        discovered["__meta_filepath"],
        targets_file.display().to_string()
    );
    assert_eq!(discovered["__scheme__"], "http");
    assert_eq!(discovered["__metrics_path__"], "/metrics");
    assert_eq!(discovered["job"], "app");

    // Its samples carry the file's labels.
    let query = "/api/v1/query?query=counter_total";
    let stored = eventually(Duration::from_secs(10), || {
        let result = get_json(&instance, query)["data"]["result"].clone();
        result[0]["metric"]
            == serde_json::json!({"__name__": "counter_total", "env": "file", "instance": address, "job": "app"})
    });
    assert!(stored, "{}", get_json(&instance, query));

    // Rewriting the file switches scraping to the other exporter without a reload.
    write_targets(&targets_file, second_port);
    let second_address = format!("127.0.0.1:{second_port}");
    let switched = eventually(Duration::from_secs(20), || {
        active_targets(&instance).first().is_some_and(|target| {
            target["labels"]["instance"] == second_address.as_str() && target["health"] == "up"
        })
    });
    assert!(switched, "{:?}", active_targets(&instance));
    assert_eq!(active_targets(&instance).len(), 1);
    let first_after_switch = first_requests.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(600));
    assert!(first_requests.load(Ordering::SeqCst) <= first_after_switch + 1);
    assert!(second_requests.load(Ordering::SeqCst) >= 2);

    // A relabel rule that drops the target moves it to droppedTargets.
    let drop_rule =
        "\n[[scrape.relabel]]\nsource_labels = [\"env\"]\nregex = \"file\"\naction = \"drop\"\n";
    instance.write_config(
        "tandem.toml",
        &format!(
            "{}\n[collect.host]\nenabled = false\n",
            config(targets_dir.path(), drop_rule)
        ),
    );
    let response = client()
        .post(instance.url("/-/reload"))
        .send()
        .expect("reload");
    assert_eq!(response.status(), 200, "{}", instance.stderr());
    let body = get_json(&instance, "/api/v1/targets");
    assert_eq!(body["status"], "success");
    assert_eq!(
        body["data"]["activeTargets"],
        serde_json::json!([]),
        "{body}"
    );
    let dropped = &body["data"]["droppedTargets"];
    assert_eq!(dropped.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(dropped[0]["scrapePool"], "app");
    assert_eq!(
        dropped[0]["discoveredLabels"]["__address__"],
        second_address
    );
    assert_eq!(dropped[0]["discoveredLabels"]["env"], "file");
    assert_eq!(
        body["data"]["droppedTargetCounts"],
        serde_json::json!({"app": 1})
    );

    // The state and scrapePool parameters filter as Prometheus' do.
    let only_active = get_json(&instance, "/api/v1/targets?state=active");
    assert_eq!(only_active["data"]["droppedTargets"], serde_json::json!([]));
    let other_pool = get_json(&instance, "/api/v1/targets?scrapePool=other");
    assert_eq!(other_pool["data"]["droppedTargets"], serde_json::json!([]));

    instance.signal(libc::SIGTERM);
    assert!(instance.wait_exit(Duration::from_secs(20)).is_some());
}

#[test]
fn a_malformed_target_file_keeps_the_previous_targets() {
    let (port, _requests) = exporter();
    let targets_dir = tempfile::tempdir().expect("temp dir");
    let targets_file = targets_dir.path().join("app.json");
    write_targets(&targets_file, port);
    let instance = Instance::start(&config(targets_dir.path(), ""));
    assert!(eventually(Duration::from_secs(15), || {
        active_targets(&instance)
            .first()
            .is_some_and(|target| target["health"] == "up")
    }));
    std::fs::write(&targets_file, "[{\"targets\": \n").expect("write");
    let logged = eventually(Duration::from_secs(15), || {
        instance
            .stderr()
            .contains(&format!("{}:2:", targets_file.display()))
    });
    assert!(
        logged,
        "no error naming file and line; stderr:\n{}",
        instance.stderr()
    );
    let targets = active_targets(&instance);
    assert_eq!(targets.len(), 1, "{targets:?}");
    assert_eq!(
        targets[0]["labels"]["instance"],
        format!("127.0.0.1:{port}")
    );
    let errors = instance.metric(&client(), "tandem_file_sd_read_errors_total");
    assert!(errors.is_some_and(|count| count >= 1.0), "{errors:?}");
}
