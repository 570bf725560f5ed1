//! Scraping end to end: tandem scrapes a real HTTP exporter (a tiny server in this
//! test), stores its samples with the target's labels, and marks them stale when a
//! reload removes the target.

mod common;

use common::{Instance, client, eventually};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tandem::model::{Matcher, is_stale_nan};
use tandem::storage::{SelectHints, Storage, StorageOptions};

/// Serves `counter_total N` (N = 1, 2, ... per request) and records each request's
/// Accept header.
fn exporter() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let accepts = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&accepts);
    std::thread::spawn(move || {
        for (count, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut accept = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("accept:") {
                    accept = value.trim().to_string();
                }
            }
            seen.lock().expect("lock").push(accept);
            let body = format!(
                "# HELP counter_total Requests.\n# TYPE counter_total counter\ncounter_total{{path=\"/\"}} {}\n",
                count + 1
            );
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (port, accepts)
}

fn stored(data_dir: &std::path::Path, name: &str) -> Vec<(String, Vec<f64>)> {
    let storage = Storage::open(StorageOptions::new(data_dir)).expect("open");
    let mut result: Vec<(String, Vec<f64>)> = storage
        .select(
            &[Matcher::equal("__name__", name)],
            i64::MIN,
            i64::MAX,
            &SelectHints::default(),
        )
        .expect("select")
        .into_iter()
        .map(|data| {
            (
                data.labels.to_string(),
                data.samples().map(|sample| sample.v).collect(),
            )
        })
        .collect();
    result.sort_by(|a, b| a.0.cmp(&b.0));
    result
}

#[test]
fn scrapes_a_target_and_stales_its_series_when_it_is_removed() {
    let (port, accepts) = exporter();
    let config = format!(
        "[collect.host]\nenabled = false\n\n[[scrape]]\njob = \"app\"\ntargets = [\"127.0.0.1:{port}\"]\ninterval = \"200ms\"\nlabels = {{ env = \"test\" }}\n"
    );
    let mut instance = Instance::start(&config);
    assert!(
        eventually(Duration::from_secs(10), || accepts
            .lock()
            .expect("lock")
            .len()
            >= 3),
        "tandem did not scrape three times; stderr:\n{}",
        instance.stderr()
    );
    let first_accept = accepts.lock().expect("lock")[0].clone();
    assert!(
        first_accept.starts_with("text/plain;version=0.0.4"),
        "{first_accept}"
    );
    // Removing the job stops the target and writes staleness markers.
    instance.write_config("tandem.toml", "[collect.host]\nenabled = false\n");
    let response = client()
        .post(instance.url("/-/reload"))
        .send()
        .expect("reload");
    assert_eq!(response.status(), 200);
    let scrapes_at_reload = accepts.lock().expect("lock").len();
    std::thread::sleep(Duration::from_millis(600));
    let scrapes_after = accepts.lock().expect("lock").len();
    assert!(
        scrapes_after <= scrapes_at_reload + 1,
        "still scraping after the reload: {scrapes_at_reload} then {scrapes_after}"
    );
    instance.signal(libc::SIGTERM);
    assert!(instance.wait_exit(Duration::from_secs(20)).is_some());

    let counters = stored(&instance.data_dir, "counter_total");
    assert_eq!(counters.len(), 1, "{counters:?}");
    let (labels, values) = &counters[0];
    assert_eq!(
        labels,
        &format!(
            r#"counter_total{{env="test", instance="127.0.0.1:{port}", job="app", path="/"}}"#
        )
    );
    let (last, scraped) = values.split_last().expect("samples");
    assert!(
        is_stale_nan(*last),
        "last sample {last} is not a staleness marker"
    );
    let expected: Vec<f64> = (1..=scraped.len()).map(|n| n as f64).collect();
    assert_eq!(scraped, expected.as_slice());
    assert!(scraped.len() >= 3);
    let up = stored(&instance.data_dir, "up");
    assert_eq!(up.len(), 1);
    assert!(
        up[0].1[..up[0].1.len() - 1].iter().all(|v| *v == 1.0),
        "{up:?}"
    );
}

#[test]
fn an_unreachable_target_is_down() {
    let closed = common::free_port();
    let config = format!(
        "[collect.host]\nenabled = false\n\n[[scrape]]\njob = \"gone\"\ntargets = [\"127.0.0.1:{closed}\"]\ninterval = \"200ms\"\n"
    );
    let mut instance = Instance::start(&config);
    std::thread::sleep(Duration::from_millis(800));
    instance.signal(libc::SIGTERM);
    assert!(instance.wait_exit(Duration::from_secs(20)).is_some());
    let up = stored(&instance.data_dir, "up");
    assert_eq!(up.len(), 1, "{up:?}");
    // Stopping tandem ends the series with a staleness marker, as Prometheus does.
    let (last, values) = up[0].1.split_last().expect("samples");
    assert!(is_stale_nan(*last), "{up:?}");
    assert!(!values.is_empty());
    assert!(values.iter().all(|v| *v == 0.0), "{up:?}");
}
