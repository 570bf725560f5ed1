//! Server render of the SLO pages for 10 SLOs with 90-day windows: median time and
//! page weight.
//!
//!     cargo bench --bench slo_page [-- --days 91 --interval-seconds 60 --renders 15 --no-retention]
//!
//! Builds a storage in a temporary directory holding `--days` of request counters for
//! 10 services at a `--interval-seconds` interval:
//! `http_requests_total{job="api", service="svc-NN", instance="i-0".."i-2", code="200"|"500"}`,
//! 6 series per service, about 1000 requests a minute per service with an error
//! fraction that differs per service, follows a daily wave and has one two-hour
//! incident per service. Samples go through `Storage::append` a day per batch; then,
//! as `tandem serve` leaves it, everything older than the 2 h hot window is compacted
//! to SQLite blocks and rollups (1 m and 1 h, the default tiers) and retention runs
//! at the evaluation time, so raw data reaches back 15 days, the 1 m rollups 90 days
//! and the 1 h rollups the whole history, as on a server that has been running that
//! long. `--no-retention` skips retention: raw data then reaches back over the whole
//! history and the engine may read it for long windows instead of the rollups.
//!
//! One SLO per service (99.9 % over 90 days, `good` = codes other than 5xx) is loaded
//! through `config::slos::load_slo_files` from a file in the temporary directory.
//! The evaluation time is the wall clock when the data was built, as the handlers
//! use (no whole minute or hour).
//!
//! Then it renders the SLO list (`web::page::slos::render_list`: every SLO's status)
//! and the first SLO's page (`web::page::slos::render_slo` with the default range:
//! status, burn-down over the window, four burn-rate charts over 7 days, compliance
//! per month and quarter), each once to warm up and `--renders` times measured, with
//! the default `[query]` settings, and prints the median, minimum and maximum render
//! time and the page's size. It also prints the tiers that served the statuses, the
//! first SLO's SLI, and where one status' time goes (per window), and exits non-zero
//! when an SLO has no data or a page shows an error. Target: median ≤ 100 ms for the
//! list of 10 SLOs with 90-day windows.

mod common;

use common::Noise;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tandem::config::slos::SloConfig;
use tandem::config::{ConfigSource, Overrides};
use tandem::model::{Labels, Sample};
use tandem::slo::report::{self, Reader};
use tandem::storage::{Durability, SeriesSamples, Storage, StorageOptions};
use tandem::web::page::dashboards::QueryEnv;
use tandem::web::page::slos::{render_list, render_slo};

const DAY_MS: i64 = 86_400_000;
const SERVICES: usize = 10;
const INSTANCES: usize = 3;
/// Requests per minute per service.
const REQUESTS_PER_MINUTE: f64 = 1000.0;

struct Options {
    days: i64,
    interval_ms: i64,
    renders: usize,
    retention: bool,
}

fn options() -> Options {
    let mut options = Options {
        days: 91,
        interval_ms: 60_000,
        renders: 15,
        retention: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--days" => options.days = value().parse().unwrap_or(options.days).max(1),
            "--interval-seconds" => {
                let seconds: i64 = value().parse().unwrap_or(options.interval_ms / 1000);
                options.interval_ms = seconds.clamp(1, 3600) * 1000;
            }
            "--renders" => options.renders = value().parse().unwrap_or(options.renders).max(1),
            "--no-retention" => options.retention = false,
            // `cargo bench` passes `--bench`; other harness flags are ignored too.
            _ => {}
        }
    }
    options
}

/// One instance of one service: its counters of good (`code="200"`) and failed
/// (`code="500"`) requests.
struct Instance {
    good_labels: Labels,
    bad_labels: Labels,
    good: f64,
    bad: f64,
    /// Mean error fraction.
    error_base: f64,
    /// A two-hour incident at 5 % errors: (start, end) in Unix ms.
    incident: (i64, i64),
    noise: Noise,
}

impl Instance {
    fn new(service: usize, instance: usize, end_ms: i64) -> Instance {
        let labels = |code: &str| {
            Labels::new(vec![
                ("__name__", "http_requests_total".to_string()),
                ("job", "api".to_string()),
                ("service", format!("svc-{service:02}")),
                ("instance", format!("i-{instance}")),
                ("code", code.to_string()),
            ])
            .expect("valid labels")
        };
        let incident_start = end_ms - (3 + 7 * service as i64) * DAY_MS;
        Instance {
            good_labels: labels("200"),
            bad_labels: labels("500"),
            good: 1e6,
            bad: 1e3,
            // 0.02 % to 0.11 %: the later services come close to a 99.9 % objective.
            error_base: 0.0002 + 0.0001 * service as f64,
            incident: (incident_start, incident_start + 2 * 3_600_000),
            noise: Noise(
                0x9e37_79b9_7f4a_7c15 ^ ((service * INSTANCES + instance + 1) << 20) as u64,
            ),
        }
    }

    /// Advances both counters by one interval ending at `t`.
    fn step(&mut self, t: i64, interval_ms: i64) {
        let requests = REQUESTS_PER_MINUTE / INSTANCES as f64 * interval_ms as f64 / 60_000.0
            * (0.5 + self.noise.next());
        let day = (t as f64 / DAY_MS as f64 * std::f64::consts::TAU).sin();
        let mut error = self.error_base * (1.0 + 0.8 * day) * (0.5 + self.noise.next());
        if t > self.incident.0 && t <= self.incident.1 {
            error = 0.05;
        }
        self.good += requests * (1.0 - error);
        self.bad += requests * error;
    }
}

/// Appends every instance's samples from `start_ms` up to `end_ms`, a day per batch.
fn load(
    storage: &Storage,
    instances: &mut [Instance],
    start_ms: i64,
    end_ms: i64,
    interval_ms: i64,
) -> u64 {
    let mut samples_total = 0u64;
    let mut batch_start = start_ms;
    while batch_start <= end_ms {
        let batch_end = (batch_start + DAY_MS).min(end_ms + 1);
        let mut batch = Vec::with_capacity(instances.len() * 2);
        for instance in instances.iter_mut() {
            let mut good = Vec::new();
            let mut bad = Vec::new();
            for t in (batch_start..batch_end).step_by(interval_ms as usize) {
                instance.step(t, interval_ms);
                good.push(Sample {
                    t,
                    v: instance.good,
                });
                bad.push(Sample { t, v: instance.bad });
            }
            batch.push(SeriesSamples {
                labels: instance.good_labels.clone(),
                samples: good,
            });
            batch.push(SeriesSamples {
                labels: instance.bad_labels.clone(),
                samples: bad,
            });
        }
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
        // The next batch starts on the interval grid after this one.
        batch_start += (batch_end - batch_start + interval_ms - 1) / interval_ms * interval_ms;
    }
    samples_total
}

/// The SLO file: one 90-day availability SLO per service.
fn slo_toml() -> String {
    let mut toml = String::new();
    for service in 0..SERVICES {
        toml.push_str(&format!(
            "[[slo]]\n\
             name = \"svc-{service:02}-availability\"\n\
             objective = 99.9\n\
             window = \"90d\"\n\
             good = 'http_requests_total{{service=\"svc-{service:02}\", code!~\"5..\"}}'\n\
             total = 'http_requests_total{{service=\"svc-{service:02}\"}}'\n\n"
        ));
    }
    toml
}

/// Errors a page shows: a failed status (`state` error), a failed chart or
/// compliance table.
fn page_errors(html: &str) -> Vec<String> {
    let mut errors = Vec::new();
    for marker in [
        "<br><span class=\"bad\">",
        "<p class=\"bad\">",
        "<span class=\"bad state\">error",
    ] {
        for (at, _) in html.match_indices(marker) {
            let text = &html[at + marker.len()..];
            errors.push(text[..text.find('<').unwrap_or(text.len())].to_string());
        }
    }
    errors
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Renders `render` once to warm up and `renders` times measured; prints a line and
/// returns the last page.
fn measure(name: &str, renders: usize, render: impl Fn() -> (Duration, String)) -> String {
    let (warm_up, mut html) = render();
    let mut times: Vec<Duration> = Vec::with_capacity(renders);
    for _ in 0..renders {
        let (elapsed, page) = render();
        times.push(elapsed);
        html = page;
    }
    times.sort();
    println!(
        "{name}: median {:.1} ms (min {:.1} ms, max {:.1} ms, warm-up {:.1} ms) over {} renders, {:.1} KB ({} bytes)",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        ms(warm_up),
        times.len(),
        html.len() as f64 / 1000.0,
        html.len()
    );
    html
}

/// Where one status' time goes: the `increase` queries of each window, timed alone,
/// with the tiers that served them.
fn breakdown(env: &QueryEnv, slo: &SloConfig, now_ms: i64) {
    let deadline = || Instant::now() + env.timeout;
    let started = Instant::now();
    let mut reader = Reader::new(&env.storage, env.options(deadline()));
    let status = report::status(&mut reader, slo, now_ms);
    let status_time = started.elapsed();
    println!("one status ({}): {:.1} ms", slo.name, ms(status_time));
    for window in tandem::slo::windows_of(slo) {
        let mut reader = Reader::new(&env.storage, env.options(deadline()));
        let started = Instant::now();
        let mut series = 0;
        for good in [false, true] {
            let query = tandem::slo::increase_expr(slo, window, good);
            match reader.instant_values(&query, now_ms) {
                Ok(values) => series += values.len(),
                Err(error) => println!("  {query}: {error}"),
            }
        }
        println!(
            "  window {:>4}: {:6.1} ms (good + total), {series} result series, tiers {}",
            tandem::slo::window_label(window),
            ms(started.elapsed()),
            reader.tiers().join(", ")
        );
    }
    if let Ok(status) = status {
        let mut reader = Reader::new(&env.storage, env.options(deadline()));
        let started = Instant::now();
        let burn_down = report::burn_down(&mut reader, slo, &status);
        println!(
            "  burn-down: {:.1} ms ({} step), tiers {}{}",
            ms(started.elapsed()),
            burn_down.as_ref().map_or(String::new(), |burn_down| {
                tandem::slo::window_label(Duration::from_millis(burn_down.step_ms as u64))
            }),
            reader.tiers().join(", "),
            burn_down
                .err()
                .map(|error| format!(": {error}"))
                .unwrap_or_default()
        );
    }
    let mut reader = Reader::new(&env.storage, env.options(deadline()));
    let started = Instant::now();
    let compliance = report::compliance(&mut reader, slo, now_ms);
    println!(
        "  compliance: {:.1} ms, tiers {}{}",
        ms(started.elapsed()),
        reader.tiers().join(", "),
        compliance
            .err()
            .map(|error| format!(": {error}"))
            .unwrap_or_default()
    );
    // The burn-rate charts: the alerts' error ratios over the default 7 days at the
    // page's step, as `render_slo` queries them.
    let start_ms = now_ms - 7 * DAY_MS;
    let step_ms = tandem::web::chart::step_for_width(start_ms, now_ms, 430);
    for alert in tandem::slo::BURN_ALERTS {
        let mut reader = Reader::new(&env.storage, env.options(deadline()));
        let started = Instant::now();
        for window in [alert.long, alert.short] {
            let query = tandem::slo::error_ratio_expr(slo, window);
            if let Err(error) = reader.range_points(&query, start_ms, now_ms, step_ms) {
                println!("  {query}: {error}");
            }
        }
        println!(
            "  burn chart {}/{} over 7d at {} s steps: {:.1} ms, tiers {}",
            tandem::slo::window_label(alert.long),
            tandem::slo::window_label(alert.short),
            step_ms / 1000,
            ms(started.elapsed()),
            reader.tiers().join(", ")
        );
    }
}

fn main() -> ExitCode {
    let options = options();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage_options = StorageOptions::new(dir.path().join("data"));
    // `tandem serve` starts a hot chunk log segment every 10 minutes of wall time
    // (`HOT_SEGMENT_AGE_MAX`), so compaction can take everything older than the hot
    // window. Loading months takes seconds, so segments are cut by size instead.
    storage_options.hot_segment_bytes_max = 256 << 10;
    let hot_window_ms = storage_options.hot_window.as_millis() as i64;
    let tiers: Vec<String> = storage_options
        .tiers
        .iter()
        .map(|tier| {
            format!(
                "{} {}",
                tier.name(),
                tandem::slo::window_label(tier.retention)
            )
        })
        .collect();
    let storage = Arc::new(Storage::open(storage_options).expect("storage"));
    // The handlers evaluate at the wall clock: no whole minute or hour.
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let start_ms = (now_ms - options.days * DAY_MS) / options.interval_ms * options.interval_ms;

    let built = Instant::now();
    let mut instances = Vec::new();
    for service in 0..SERVICES {
        for instance in 0..INSTANCES {
            instances.push(Instance::new(service, instance, now_ms));
        }
    }
    let samples = load(
        &storage,
        &mut instances,
        start_ms,
        now_ms,
        options.interval_ms,
    );
    storage.checkpoint().expect("checkpoint");
    let compaction = storage.compact(now_ms - hot_window_ms).expect("compact");
    let retention = options
        .retention
        .then(|| storage.enforce_retention(now_ms).expect("retention"));
    let stats = storage.stats();
    println!(
        "storage: {SERVICES} services, {} series, {samples} samples over {} days at {} s built in {:.1} s; \
         {} blocks and {} rollup blocks written, hot chunks {}, SQLite {:.1} MiB",
        instances.len() * 2,
        options.days,
        options.interval_ms / 1000,
        built.elapsed().as_secs_f64(),
        compaction.blocks_written,
        compaction.rollup_blocks_written,
        stats.hot_chunks,
        stats.cold_bytes as f64 / (1024.0 * 1024.0)
    );
    match &retention {
        Some(report) => println!(
            "retention at the evaluation time: {} raw and {} rollup blocks deleted (tiers {})",
            report.raw_blocks_deleted,
            report.rollup_blocks_deleted,
            tiers.join(", ")
        ),
        None => println!("retention skipped: raw data covers the whole history"),
    }
    let coverage: Vec<String> = storage
        .tier_coverage()
        .iter()
        .map(|tier| {
            if tier.from_t == i64::MIN {
                format!("{} from the start", tier.tier.name())
            } else {
                format!(
                    "{} from {:.1} days ago",
                    tier.tier.name(),
                    (now_ms - tier.from_t) as f64 / DAY_MS as f64
                )
            }
        })
        .collect();
    println!("coverage: {}", coverage.join(", "));

    let slo_path = dir.path().join("slos.toml");
    std::fs::write(&slo_path, slo_toml()).expect("write the SLO file");
    let slos = match tandem::config::slos::load_slo_files(&[slo_path], Duration::from_secs(60)) {
        Ok(slos) => slos,
        Err(error) => {
            eprintln!("the SLO file does not load: {error:?}");
            return ExitCode::FAILURE;
        }
    };

    let config_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let config = tandem::config::load(&ConfigSource::Directory(config_dir), &Overrides::default())
        .expect("the shipped config loads");
    let env = QueryEnv {
        storage: Arc::clone(&storage),
        slots: Arc::new(tokio::sync::Semaphore::new(config.query.concurrency_max)),
        timeout: config.query.timeout,
        lookback: config.query.lookback_delta,
        samples_max: config.query.samples_max,
    };
    println!(
        "query: concurrency_max {}, timeout {:?}, lookback {:?}, samples_max {}; {} cores",
        config.query.concurrency_max,
        config.query.timeout,
        config.query.lookback_delta,
        config.query.samples_max,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let mut failed = false;
    // Every SLO's status, as the list computes them: data found, and the tiers.
    let mut served = std::collections::BTreeSet::new();
    for (index, slo) in slos.iter().enumerate() {
        let mut reader = Reader::new(&storage, env.options(Instant::now() + env.timeout));
        match report::status(&mut reader, slo, now_ms) {
            Ok(status) => {
                served.insert(status.tiers.join(", "));
                if status.groups.is_empty() {
                    println!("FAIL: SLO {} has no data", slo.name);
                    failed = true;
                }
                if index == 0 {
                    for group in &status.groups {
                        println!(
                            "{}: SLI {}, budget left {}, {:.0} events over {}, state {}",
                            slo.name,
                            group
                                .sli
                                .map_or("no data".into(), |sli| format!("{:.4} %", sli * 100.0)),
                            group
                                .budget_remaining_ratio
                                .map_or("—".into(), |ratio| format!("{:.1} %", ratio * 100.0)),
                            group.total_events,
                            status.window,
                            group.state
                        );
                    }
                }
            }
            Err(error) => {
                println!("FAIL: SLO {}: {error}", slo.name);
                failed = true;
            }
        }
    }
    println!(
        "tiers serving the statuses: {}",
        served.into_iter().collect::<Vec<_>>().join(" | ")
    );

    // One thread for the page, tokio's blocking pool for the queries: as an actix worker.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let list = measure(
        &format!("slo list ({} SLOs, 90d windows)", slos.len()),
        options.renders,
        || {
            let started = Instant::now();
            let html = runtime
                .block_on(render_list(&env, &slos, now_ms))
                .expect("the list renders");
            (started.elapsed(), html)
        },
    );
    let first = &slos[0];
    let page = measure(
        &format!("slo page ({}, range 7d)", first.name),
        options.renders,
        || {
            let started = Instant::now();
            let html = runtime
                .block_on(render_slo(&env, first, "", now_ms))
                .expect("the SLO page renders");
            (started.elapsed(), html)
        },
    );
    let no_data = list.matches("state\">no data<").count();
    if no_data > 0 {
        println!("FAIL: the list shows {no_data} SLOs without data");
        failed = true;
    }
    for (name, html) in [("list", &list), ("SLO page", &page)] {
        let errors = page_errors(html);
        if let Some(error) = errors.first() {
            println!(
                "FAIL: the {name} shows {} errors (first: {error})",
                errors.len()
            );
            failed = true;
        }
    }
    println!(
        "SLO page: {} charts",
        page.matches("<div class=\"chart\"><svg").count()
    );

    println!("where the time goes (each part alone, one thread):");
    breakdown(&env, first, now_ms);

    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
