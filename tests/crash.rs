//! Crash safety: acknowledged pushes survive `kill -9`. Several threads push batches
//! over `POST /api/v1/import/prometheus`; the process is killed mid-stream; the data
//! directory is then opened and every acknowledged sample must be there, bit for bit,
//! with no corruption found. Five rounds on the same data directory.

mod common;

use common::{Instance, client};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tandem::model::{Matcher, Sample};
use tandem::storage::{SelectHints, Storage, StorageOptions};

const THREADS: usize = 3;
const SAMPLES_PER_BATCH: i64 = 50;
const T0: i64 = 1_800_000_000_000;

fn value(round: usize, thread: usize, t: i64) -> f64 {
    (round * 1_000_000 + thread * 10_000) as f64 + (t - T0) as f64 / 1000.0
}

/// Pushes batches until `stop`; returns the timestamps whose batch was acknowledged.
fn push(base_url: String, round: usize, thread: usize, stop: Arc<AtomicBool>) -> Vec<i64> {
    let client = client();
    let mut acknowledged = Vec::new();
    let mut batch = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let mut body = String::new();
        let mut times = Vec::new();
        for i in 0..SAMPLES_PER_BATCH {
            let t = T0 + ((round as i64 * 100_000 + batch) * SAMPLES_PER_BATCH + i) * 1000;
            body.push_str(&format!(
                "crash_test{{thread=\"{thread}\"}} {} {t}\n",
                value(round, thread, t)
            ));
            times.push(t);
        }
        batch += 1;
        let response = client
            .post(format!("{base_url}/api/v1/import/prometheus"))
            .body(body)
            .send();
        match response {
            Ok(response) if response.status() == 200 => acknowledged.extend(times),
            _ => break,
        }
    }
    acknowledged
}

#[test]
fn acknowledged_samples_survive_sigkill() {
    let mut instance = Instance::start("");
    let mut acknowledged: Vec<Vec<(i64, f64)>> = vec![Vec::new(); THREADS];
    for round in 0..5 {
        if round > 0 {
            instance.respawn();
            instance.wait_ready(&client());
        }
        let stop = Arc::new(AtomicBool::new(false));
        let results = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (base_url, stop, results) = (
                    instance.base_url.clone(),
                    Arc::clone(&stop),
                    Arc::clone(&results),
                );
                std::thread::spawn(move || {
                    let times = push(base_url, round, thread, stop);
                    results.lock().expect("results").push((thread, times));
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(700));
        instance.signal(libc::SIGKILL);
        stop.store(true, Ordering::Relaxed);
        for handle in handles {
            handle.join().expect("pusher");
        }
        instance.wait_exit(Duration::from_secs(10)).expect("killed");
        for (thread, times) in results.lock().expect("results").drain(..) {
            acknowledged[thread].extend(times.into_iter().map(|t| (t, value(round, thread, t))));
        }
        let total: usize = acknowledged.iter().map(Vec::len).sum();
        assert!(
            total > 0,
            "round {round}: nothing was acknowledged; stderr:\n{}",
            instance.stderr()
        );

        // Open the data directory the way a restart does, and compare.
        let storage = Storage::open(StorageOptions::new(&instance.data_dir))
            .expect("data directory opens after kill -9");
        for (thread, expected) in acknowledged.iter().enumerate() {
            let matchers = [
                Matcher::equal("__name__", "crash_test"),
                Matcher::equal("thread", thread.to_string()),
            ];
            let stored: Vec<Sample> = storage
                .select(&matchers, i64::MIN, i64::MAX, &SelectHints::default())
                .expect("select")
                .into_iter()
                .flat_map(|data| data.samples().collect::<Vec<_>>())
                .collect();
            let stored: std::collections::HashMap<i64, u64> =
                stored.iter().map(|s| (s.t, s.v.to_bits())).collect();
            for (t, v) in expected {
                assert_eq!(
                    stored.get(t),
                    Some(&v.to_bits()),
                    "round {round}, thread {thread}: acknowledged sample at {t} missing or changed"
                );
            }
        }
        assert_eq!(
            storage.counters.corruptions.load(Ordering::Relaxed),
            0,
            "round {round}"
        );
    }
}
