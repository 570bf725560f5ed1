//! Server render of the shipped Host dashboard over 24 h: median time and page weight.
//!
//!     cargo bench --bench dashboard_render [-- --hosts 10 --hours 24 --renders 15 --instance host-03:9100]
//!
//! Builds a storage in a temporary directory holding `--hours` of the series the Host
//! dashboard (`config/dashboards/host.toml`) reads, for `--hosts` hosts at a 15 s
//! interval, with node_exporter's cardinalities: 8 CPUs × 8 modes, 4 disks, 5 file
//! systems, 3 network devices (133 series per host). Samples go through
//! `Storage::append` in 10-minute batches as a scrape would write them; then, as
//! `tandem serve` leaves it, everything older than the 2 h hot window is compacted to
//! SQLite blocks and rollups (1 m and 1 h, the default tiers), the rest stays in the
//! hot chunk log and the head.
//!
//! Then it renders the dashboard page (`web::page::dashboards::render_dashboard`, the
//! function the HTTP handler calls, with the default `[query]` settings: every panel on
//! the blocking pool behind the query slots) for the last 24 h of the data, once to
//! warm up and `--renders` times measured, and prints the median, minimum and maximum
//! render time and the page's size in bytes. The instance shown is the variable's
//! default (the first host) unless `--instance` names another. Targets: median
//! ≤ 100 ms, page ≤ 300 KB.

mod common;

use common::Noise;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tandem::config::{ConfigSource, Overrides};
use tandem::model::{Labels, Sample};
use tandem::storage::{Durability, SeriesSamples, Storage, StorageOptions};
use tandem::web::page::dashboards::{QueryEnv, render_dashboard};

const INTERVAL_MS: i64 = 15_000;
/// Samples per series per append batch: 10 minutes of scrapes.
const BATCH_SAMPLES: i64 = 40;

struct Options {
    hosts: usize,
    hours: i64,
    renders: usize,
    instance: Option<String>,
}

fn options() -> Options {
    let mut options = Options {
        hosts: 10,
        hours: 24,
        renders: 15,
        instance: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--hosts" => options.hosts = value().parse().unwrap_or(options.hosts).max(1),
            "--hours" => options.hours = value().parse().unwrap_or(options.hours).max(1),
            "--renders" => options.renders = value().parse().unwrap_or(options.renders).max(1),
            "--instance" => options.instance = Some(value()),
            // `cargo bench` passes `--bench`; other harness flags are ignored too.
            _ => {}
        }
    }
    options
}

/// How a series' value moves from one scrape to the next.
enum Shape {
    /// Grows by about `per_second` × 15 s per scrape.
    Counter { per_second: f64 },
    /// Wanders around `base` by up to `spread` (a fraction of it), with a daily wave.
    Gauge { base: f64, spread: f64 },
    /// Exactly this value.
    Constant(f64),
    /// The scrape time in seconds (`node_time_seconds`).
    Clock,
}

struct Generated {
    labels: Labels,
    shape: Shape,
    value: f64,
    noise: Noise,
}

impl Generated {
    fn sample(&mut self, t: i64) -> f64 {
        let jitter = self.noise.next();
        match self.shape {
            Shape::Counter { per_second } => {
                self.value += per_second * 15.0 * (0.5 + jitter);
                self.value
            }
            Shape::Gauge { base, spread } => {
                let day = (t as f64 / 86_400_000.0 * std::f64::consts::TAU).sin();
                base * (1.0 + spread * (0.6 * day + 0.4 * (jitter - 0.5)))
            }
            Shape::Constant(value) => value,
            Shape::Clock => t as f64 / 1000.0,
        }
    }
}

/// The series the Host dashboard reads, for one host.
fn host_series(host: usize, out: &mut Vec<Generated>) {
    let instance = format!("host-{host:02}:9100");
    let mut add = |name: &str, extra: &[(&str, &str)], shape: Shape| {
        let mut pairs = vec![
            ("__name__", name.to_string()),
            ("job", "node".to_string()),
            ("instance", instance.clone()),
        ];
        pairs.extend(extra.iter().map(|(key, value)| (*key, value.to_string())));
        let labels = Labels::new(pairs).expect("valid labels");
        let seed = 0x9e37_79b9_7f4a_7c15 ^ ((out.len() as u64 + 1) << 20) ^ host as u64;
        out.push(Generated {
            labels,
            shape,
            value: 1e6,
            noise: Noise(seed),
        });
    };
    let release = [
        ("nodename", "bench"),
        ("release", "6.1.0"),
        ("sysname", "Linux"),
    ];
    add("node_uname_info", &release, Shape::Constant(1.0));
    let modes = [
        ("idle", 0.70),
        ("user", 0.18),
        ("system", 0.06),
        ("iowait", 0.02),
        ("irq", 0.005),
        ("softirq", 0.015),
        ("steal", 0.01),
        ("nice", 0.01),
    ];
    for cpu in 0..8 {
        let cpu = cpu.to_string();
        for (mode, share) in modes {
            let labels = [("cpu", cpu.as_str()), ("mode", mode)];
            add(
                "node_cpu_seconds_total",
                &labels,
                Shape::Counter { per_second: share },
            );
        }
    }
    for (name, base) in [
        ("node_load1", 2.0),
        ("node_load5", 1.8),
        ("node_load15", 1.6),
    ] {
        add(name, &[], Shape::Gauge { base, spread: 0.5 });
    }
    let gib = 1024.0 * 1024.0 * 1024.0;
    add(
        "node_memory_MemTotal_bytes",
        &[],
        Shape::Constant(32.0 * gib),
    );
    add(
        "node_memory_MemAvailable_bytes",
        &[],
        Shape::Gauge {
            base: 20.0 * gib,
            spread: 0.2,
        },
    );
    add(
        "node_memory_SwapTotal_bytes",
        &[],
        Shape::Constant(4.0 * gib),
    );
    add(
        "node_memory_SwapFree_bytes",
        &[],
        Shape::Gauge {
            base: 3.5 * gib,
            spread: 0.05,
        },
    );
    add(
        "node_context_switches_total",
        &[],
        Shape::Counter { per_second: 4000.0 },
    );
    add("node_forks_total", &[], Shape::Counter { per_second: 12.0 });
    for (resource, kind, per_second) in [
        ("cpu", "waiting", 0.03),
        ("memory", "waiting", 0.001),
        ("memory", "stalled", 0.0005),
        ("io", "waiting", 0.01),
        ("io", "stalled", 0.005),
    ] {
        let name = format!("node_pressure_{resource}_{kind}_seconds_total");
        add(&name, &[], Shape::Counter { per_second });
    }
    for device in ["sda", "sdb", "nvme0n1", "nvme1n1"] {
        let labels = [("device", device)];
        add(
            "node_disk_read_bytes_total",
            &labels,
            Shape::Counter { per_second: 2e6 },
        );
        add(
            "node_disk_written_bytes_total",
            &labels,
            Shape::Counter { per_second: 5e6 },
        );
        add(
            "node_disk_io_time_seconds_total",
            &labels,
            Shape::Counter { per_second: 0.1 },
        );
        add(
            "node_disk_reads_completed_total",
            &labels,
            Shape::Counter { per_second: 40.0 },
        );
        add(
            "node_disk_writes_completed_total",
            &labels,
            Shape::Counter { per_second: 120.0 },
        );
    }
    for (mountpoint, device, fstype, size_gib) in [
        ("/", "/dev/sda1", "ext4", 100.0),
        ("/boot", "/dev/sda2", "ext4", 1.0),
        ("/home", "/dev/nvme0n1p1", "xfs", 900.0),
        ("/var", "/dev/sdb1", "xfs", 500.0),
        ("/srv", "/dev/nvme1n1p1", "xfs", 1800.0),
    ] {
        let labels = [
            ("device", device),
            ("fstype", fstype),
            ("mountpoint", mountpoint),
        ];
        add(
            "node_filesystem_size_bytes",
            &labels,
            Shape::Constant(size_gib * gib),
        );
        let avail = Shape::Gauge {
            base: 0.4 * size_gib * gib,
            spread: 0.1,
        };
        add("node_filesystem_avail_bytes", &labels, avail);
    }
    for device in ["eth0", "eth1", "lo"] {
        let labels = [("device", device)];
        add(
            "node_network_receive_bytes_total",
            &labels,
            Shape::Counter { per_second: 3e6 },
        );
        add(
            "node_network_transmit_bytes_total",
            &labels,
            Shape::Counter { per_second: 1e6 },
        );
        add(
            "node_network_receive_errs_total",
            &labels,
            Shape::Counter { per_second: 0.01 },
        );
        add(
            "node_network_transmit_errs_total",
            &labels,
            Shape::Counter { per_second: 0.01 },
        );
        add(
            "node_network_receive_drop_total",
            &labels,
            Shape::Counter { per_second: 0.1 },
        );
        add(
            "node_network_transmit_drop_total",
            &labels,
            Shape::Counter { per_second: 0.05 },
        );
    }
    add(
        "node_filefd_allocated",
        &[],
        Shape::Gauge {
            base: 9000.0,
            spread: 0.2,
        },
    );
    add(
        "node_procs_running",
        &[],
        Shape::Gauge {
            base: 3.0,
            spread: 0.8,
        },
    );
    add(
        "node_procs_blocked",
        &[],
        Shape::Gauge {
            base: 0.5,
            spread: 1.0,
        },
    );
    add(
        "node_timex_offset_seconds",
        &[],
        Shape::Gauge {
            base: 0.0005,
            spread: 1.0,
        },
    );
    add("node_time_seconds", &[], Shape::Clock);
    add("node_boot_time_seconds", &[], Shape::Constant(1.7e9));
}

/// Appends `hours` of every series ending at `end_ms`, 10 minutes per batch.
fn load(storage: &Storage, series: &mut [Generated], start_ms: i64, end_ms: i64) -> u64 {
    let mut samples_total = 0u64;
    let mut batch_start = start_ms;
    while batch_start < end_ms {
        let batch_end = (batch_start + BATCH_SAMPLES * INTERVAL_MS).min(end_ms);
        let batch: Vec<SeriesSamples> = series
            .iter_mut()
            .map(|generated| SeriesSamples {
                labels: generated.labels.clone(),
                samples: (batch_start..batch_end)
                    .step_by(INTERVAL_MS as usize)
                    .map(|t| Sample {
                        t,
                        v: generated.sample(t),
                    })
                    .collect(),
            })
            .collect();
        samples_total += batch
            .iter()
            .map(|one| one.samples.len() as u64)
            .sum::<u64>();
        let outcome = storage
            .append(&batch, Durability::Background)
            .expect("append");
        assert!(
            outcome.rejections.is_empty(),
            "rejected: {:?}",
            outcome.rejections.first()
        );
        batch_start = batch_end;
    }
    samples_total
}

fn main() {
    let options = options();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage_options = StorageOptions::new(dir.path().join("data"));
    // `tandem serve` starts a hot chunk log segment every 10 minutes of wall time
    // (`HOT_SEGMENT_AGE_MAX`), so compaction can take everything older than the hot
    // window. Loading 24 h takes seconds, so segments are cut by size instead: 256 KiB
    // holds about 40 minutes of these series.
    storage_options.hot_segment_bytes_max = 256 << 10;
    let hot_window_ms = storage_options.hot_window.as_millis() as i64;
    let storage = Arc::new(Storage::open(storage_options).expect("storage"));
    let end_ms = jiff::Timestamp::now().as_millisecond() / INTERVAL_MS * INTERVAL_MS;
    let start_ms = end_ms - options.hours * 3_600_000;

    let built = Instant::now();
    let mut series = Vec::new();
    for host in 0..options.hosts {
        host_series(host, &mut series);
    }
    let samples = load(&storage, &mut series, start_ms, end_ms);
    storage.checkpoint().expect("checkpoint");
    storage.compact(end_ms - hot_window_ms).expect("compact");
    let stats = storage.stats();
    println!(
        "storage: {} hosts, {} series, {samples} samples over {} h built in {:.1} s; hot chunks {}, SQLite {:.1} MiB",
        options.hosts,
        series.len(),
        options.hours,
        built.elapsed().as_secs_f64(),
        stats.hot_chunks,
        stats.cold_bytes as f64 / (1024.0 * 1024.0)
    );

    let config_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let config = tandem::config::load(&ConfigSource::Directory(config_dir), &Overrides::default())
        .expect("the shipped config loads");
    let dashboard = config
        .dashboards
        .iter()
        .find(|dashboard| dashboard.name == "host")
        .expect("config/dashboards/host.toml");
    let env = QueryEnv {
        storage: Arc::clone(&storage),
        slots: Arc::new(tokio::sync::Semaphore::new(config.query.concurrency_max)),
        timeout: config.query.timeout,
        lookback: config.query.lookback_delta,
        samples_max: config.query.samples_max,
    };
    let mut query = "from=now-24h&to=now".to_string();
    if let Some(instance) = &options.instance {
        query.push_str("&var-instance=");
        query.push_str(&form_urlencoded::byte_serialize(instance.as_bytes()).collect::<String>());
    }
    // One thread for the page, tokio's blocking pool for the panels: as an actix worker.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let render = || {
        let started = Instant::now();
        let html = runtime
            .block_on(render_dashboard(&env, dashboard, &query, end_ms))
            .expect("the page renders");
        (started.elapsed(), html)
    };
    let (warm_up, html) = render();
    let panels = dashboard.panel_count();
    let charts = html.matches("<div class=\"chart\"><svg").count();
    let errors: Vec<&str> = html
        .match_indices("class=\"panel-error bad\">")
        .map(|(at, _)| {
            let text = &html[at + 24..];
            &text[..text.find('<').unwrap_or(text.len())]
        })
        .collect();
    println!(
        "page: {panels} panels, {charts} charts, {} panel errors{}; warm-up render {:.1} ms",
        errors.len(),
        errors
            .first()
            .map(|error| format!(" (first: {error})"))
            .unwrap_or_default(),
        warm_up.as_secs_f64() * 1000.0
    );
    let mut times: Vec<Duration> = Vec::with_capacity(options.renders);
    let mut bytes = 0;
    for _ in 0..options.renders {
        let (elapsed, html) = render();
        times.push(elapsed);
        bytes = html.len();
    }
    times.sort();
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    println!(
        "render: median {:.1} ms, min {:.1} ms, max {:.1} ms over {} renders; page {:.1} KB ({bytes} bytes)",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len(),
        bytes as f64 / 1000.0
    );
}
