//! SLOs: budget math against hand-computed values, burn-rate alerts through
//! `tandem test-rules`, the latency SLI from histogram buckets, 90 days from rollups
//! against raw data, compliance per calendar month, `tandem check` errors, and the
//! API and pages of a running instance.
//!
//! The synthetic data lives near 1970 (as promqltest's does) and is written in
//! promqltest notation. Both counters of an SLI share sample times and stay far from
//! zero, so `rate`/`increase` extrapolate them by the same factor and every ratio is
//! exactly the ratio of the increments between samples.

mod common;

use common::{Instance, Start, client};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tandem::config::slos::{SloConfig, load_slo_files};
use tandem::promql::eval::TierRequest;
use tandem::promql::testfmt::{self, Command as TestCommand};
use tandem::promql::{EvalOptions, promqltest};
use tandem::slo::report::{self, GroupStatus, Reader, SloStatus};
use tandem::storage::{Storage, StorageOptions, Tier};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

fn storage(dir: &Path, rollups: &[i64]) -> Storage {
    let mut options = StorageOptions::new(dir);
    let forever = Duration::from_secs(1000 * 365 * 86_400);
    options.tiers = std::iter::once(None)
        .chain(rollups.iter().copied().map(Some))
        .map(|resolution_ms| Tier {
            resolution_ms,
            retention: forever,
        })
        .collect();
    Storage::open(options).expect("storage opens")
}

/// Loads every `load` block of promqltest text.
fn load(storage: &Storage, text: &str) {
    for command in testfmt::parse(text) {
        match command {
            TestCommand::Load(load) => promqltest::load_into(storage, &load).expect("loads"),
            other => panic!("only load commands expected, got line {}", other.line()),
        }
    }
}

fn slos(dir: &Path, toml: &str) -> Vec<SloConfig> {
    let path = dir.join("slos.toml");
    std::fs::write(&path, toml).expect("write");
    load_slo_files(&[path], Duration::from_secs(60)).expect("SLO file is valid")
}

fn options(tier: TierRequest) -> EvalOptions {
    EvalOptions {
        lookback_ms: 5 * MINUTE,
        samples_max: 50_000_000,
        deadline: None,
        subquery_step_ms: MINUTE,
        tier,
    }
}

fn status(storage: &Storage, slo: &SloConfig, t: i64, tier: TierRequest) -> SloStatus {
    let mut reader = Reader::new(storage, options(tier));
    report::status(&mut reader, slo, t).expect("status")
}

fn close(got: Option<f64>, want: f64) {
    let got = got.expect("a value");
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "got {got}, want {want}"
    );
}

fn burn(group: &GroupStatus, window: &str) -> Option<f64> {
    group
        .burn_rates
        .iter()
        .find(|burn| burn.window == window)
        .and_then(|burn| burn.burn_rate)
}

/// The checkout traffic of `tests/rules/slo_test.toml`: 100 requests a minute, half
/// failing from minute 61 to 90 (the increments into minutes 61..=90).
const CHECKOUT: &str = r#"
load 1m
    requests_total{code="200"} 100000+100x60 106050+50x29 107600+100x149
    requests_total{code="500"} 1000x60 1050+50x29 2500x149
"#;

#[test]
fn status_equals_hand_computed_budget_burn_and_exhaustion() {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = storage(&dir.path().join("data"), &[]);
    load(&storage, CHECKOUT);
    let slos = slos(
        dir.path(),
        r#"
[[slo]]
name = "strict"
objective = 99
window = "1d"
good = 'requests_total{code!~"5.."}'
total = 'requests_total'

[[slo]]
name = "lenient"
objective = 80
window = "1d"
good = 'requests_total{code!~"5.."}'
total = 'requests_total'
"#,
    );
    // At minute 120, an hour boundary, the 1d window reaches back past 0: samples
    // 0..=120, 120 increments, 30 of them half failing: 1 500 errors in 12 000
    // requests, ratio 0.125. `increase` extrapolates half an interval towards the
    // window's start (the gap is longer than 1.1 intervals): × 120.5/120.
    let t = 120 * MINUTE;
    let lenient = status(&storage, &slos[1], t, TierRequest::Auto);
    assert_eq!(lenient.groups.len(), 1);
    let group = &lenient.groups[0];
    close(Some(group.total_events), 12_050.0);
    close(Some(group.good_events), 12_050.0 - 1_506.25);
    close(group.sli, 0.875);
    // Budget 0.2: remaining 1 - 0.125/0.2.
    close(group.budget_remaining_ratio, 0.375);
    // 0.2 × 12 050 allowed, 1 506.25 spent.
    close(group.budget_remaining_events, 2_410.0 - 1_506.25);
    // 0.375 × 0.2 × 86 400 s of total outage.
    close(group.budget_remaining_seconds, 6_480.0);
    // 5m and 30m: increments 117..=120 and 92..=120, none failing.
    close(burn(group, "5m"), 0.0);
    close(burn(group, "30m"), 0.0);
    // 1h: increments 62..=120 (59), 29 of them failing: 0.5 × 29/59 over 0.2.
    let burn_1h = 0.5 * 29.0 / 59.0 / 0.2;
    close(burn(group, "1h"), burn_1h);
    // 2h: the window (0, 120m] leaves the sample at 0 out: 119 increments, 30 failing.
    close(burn(group, "2h"), 0.5 * 30.0 / 119.0 / 0.2);
    // 6h and longer: every increment since 0.
    for window in ["6h", "1d", "3d"] {
        close(burn(group, window), 0.625);
    }
    // 0.375 of a day at the last hour's burn rate.
    close(group.time_to_exhaustion_seconds, 0.375 * 86_400.0 / burn_1h);
    assert_eq!(group.state, "ok");
    assert!(group.alerting.is_empty(), "{:?}", group.alerting);

    let strict = status(&storage, &slos[0], t, TierRequest::Auto);
    let group = &strict.groups[0];
    // Budget 0.01: 12.5× overspent.
    close(group.budget_remaining_ratio, -11.5);
    close(group.budget_remaining_events, 120.5 - 1_506.25);
    close(group.time_to_exhaustion_seconds, 0.0);
    assert_eq!(group.state, "exhausted");
    // 5m and 30m burn nothing, so the pages hold off; the tickets hold.
    assert_eq!(group.alerting, ["ticket 1d/2h", "ticket 3d/6h"]);

    // Between hour boundaries, windows of a day and more are read up to the last
    // boundary plus the minutes since, each extrapolated on its own. At minute 100:
    // (-23h, 1h] holds increments 1..=60, none failing, × 60.5/60; (1h, 100m] holds
    // the samples 61..=100, so increments 62..=100 (39, 29 failing), × 40/39.
    let at_100 = status(&storage, &slos[1], 100 * MINUTE, TierRequest::Auto);
    let group = &at_100.groups[0];
    let errors = 29.0 * 50.0 * 40.0 / 39.0;
    let total = 6_000.0 * 60.5 / 60.0 + 3_900.0 * 40.0 / 39.0;
    close(Some(group.total_events), total);
    close(group.sli, 1.0 - errors / total);
}

#[test]
fn latency_sli_is_the_share_of_events_in_buckets_up_to_the_threshold() {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = storage(&dir.path().join("data"), &[]);
    // Per minute: 100 requests, 50 within 0.1 s, 80 within 0.25 s, 95 within 1 s.
    // `api` writes boundaries as Go does (1), `worker` as Python does (1.0); a
    // second job must not count.
    load(
        &storage,
        r#"
load 1m
    latency_seconds_bucket{job="api", le="0.1"} 5000+50x60
    latency_seconds_bucket{job="api", le="0.25"} 8000+80x60
    latency_seconds_bucket{job="api", le="1"} 9500+95x60
    latency_seconds_bucket{job="api", le="+Inf"} 10000+100x60
    latency_seconds_bucket{job="worker", le="0.1"} 1000+10x60
    latency_seconds_bucket{job="worker", le="1.0"} 1000+30x60
    latency_seconds_bucket{job="worker", le="+Inf"} 1000+40x60
    latency_seconds_bucket{job="other", le="0.25"} 0x60
    latency_seconds_bucket{job="other", le="+Inf"} 1000+100x60
"#,
    );
    let slos = slos(
        dir.path(),
        r#"
[[slo]]
name = "api-fast"
objective = 75
window = "1d"
histogram = 'latency_seconds{job="api"}'
threshold = 0.25

[[slo]]
name = "within-a-second"
objective = 90
window = "1d"
histogram = 'latency_seconds{job=~"api|worker"}'
threshold = 1
group_by = ["job"]
"#,
    );
    let t = 60 * MINUTE;
    let fast = status(&storage, &slos[0], t, TierRequest::Auto);
    assert_eq!(fast.groups.len(), 1);
    close(fast.groups[0].sli, 0.8);
    // Budget 0.25, errors 0.2 of events.
    close(fast.groups[0].budget_remaining_ratio, 1.0 - 0.2 / 0.25);
    let second = status(&storage, &slos[1], t, TierRequest::Auto);
    let by_job: Vec<(String, Option<f64>)> = second
        .groups
        .iter()
        .map(|group| (group.labels["job"].clone(), group.sli))
        .collect();
    assert_eq!(by_job.len(), 2, "{by_job:?}");
    assert_eq!(by_job[0].0, "api");
    close(by_job[0].1, 0.95);
    assert_eq!(by_job[1].0, "worker");
    close(by_job[1].1, 0.75);
}

/// 91 days at a 5-minute interval: 1 000 requests per step, and a failure rate that
/// changes by day (0, 1, 2 or 5 per step) and peaks at 20 for one hour every ten
/// days, so hours, days and months differ.
fn ninety_days() -> String {
    let steps_per_day = 288;
    let mut good = String::new();
    let mut bad = String::new();
    let (mut good_value, mut bad_value) = (1_000_000u64, 100_000u64);
    let mut good_runs: Vec<String> = Vec::new();
    let mut bad_runs: Vec<String> = Vec::new();
    for day in 0..91u64 {
        for step in 0..steps_per_day as u64 {
            let failing = if day % 10 == 3 && (100..112).contains(&step) {
                20
            } else {
                [0, 1, 2, 5][(day % 4) as usize]
            };
            if day == 0 && step == 0 {
                good_runs.push(good_value.to_string());
                bad_runs.push(bad_value.to_string());
                continue;
            }
            good_value += 1000 - failing;
            bad_value += failing;
            good_runs.push(good_value.to_string());
            bad_runs.push(bad_value.to_string());
        }
    }
    good.push_str(&good_runs.join(" "));
    bad.push_str(&bad_runs.join(" "));
    format!(
        "load 5m\n    requests_total{{code=\"200\"}} {good}\n    requests_total{{code=\"500\"}} {bad}\n"
    )
}

/// `ninety_days()` compacted into blocks and 1m and 1h rollups, and a 90-day SLO of
/// `objective` percent over it.
fn ninety_days_compacted(dir: &Path, objective: f64) -> (Storage, Vec<SloConfig>) {
    let storage = storage(&dir.join("data"), &[MINUTE, HOUR]);
    load(&storage, &ninety_days());
    storage.finish_offline().expect("finish");
    storage.compact(i64::MAX).expect("compact");
    let slos = slos(
        dir,
        &format!(
            "[[slo]]\nname = \"quarter\"\nobjective = {objective}\nwindow = \"90d\"\n\
             good = 'requests_total{{code!~\"5..\"}}'\ntotal = 'requests_total'\n"
        ),
    );
    (storage, slos)
}

#[test]
fn ninety_day_budget_from_rollups_equals_the_raw_computation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (storage, slos) = ninety_days_compacted(dir.path(), 99.5);
    let slo = &slos[0];
    // An hour boundary, and 17 minutes past it.
    for t in [91 * DAY - 5 * HOUR, 91 * DAY - 5 * HOUR + 17 * MINUTE] {
        // The engine's own choice reads the 90 days up to the last hour boundary from
        // the 1h tier (whole buckets: exact), the minutes since from raw data; forced
        // onto raw data, the same reads give the same figures.
        let rolled = status(&storage, slo, t, TierRequest::Auto);
        let raw = status(&storage, slo, t, TierRequest::Raw);
        assert!(
            rolled.tiers.iter().any(|tier| tier == "1h"),
            "served from {:?}",
            rolled.tiers
        );
        assert_eq!(raw.tiers, ["raw"]);
        let (rolled, raw) = (&rolled.groups[0], &raw.groups[0]);
        let relative = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-300);
        assert!(relative(rolled.total_events, raw.total_events) < 1e-12);
        assert!(relative(rolled.good_events, raw.good_events) < 1e-12);
        let sli = rolled.sli.expect("sli");
        assert!(sli < 0.999 && sli > 0.99, "{sli}");
        // Against the plain 90-day window on raw data: the split reads the window
        // from the last hour boundary back (at most an hour more than 90 days), so
        // the stated tolerance is one hour's share: 1/2160 of the events, and the
        // SLI and budget within what an hour of this traffic can move them.
        let mut reader = Reader::new(&storage, options(TierRequest::Raw));
        let plain = |reader: &mut Reader, selector: &str| {
            reader
                .instant_values(&format!("sum(increase({selector}[90d]))"), t)
                .expect("query")[0]
                .1
        };
        let total = plain(&mut reader, "requests_total");
        let good = plain(&mut reader, "requests_total{code!~\"5..\"}");
        assert!(
            relative(rolled.total_events, total) <= 1.0 / 2160.0,
            "{} against {total}",
            rolled.total_events
        );
        let plain_sli = good / total;
        eprintln!(
            "t = {t}: events {} (plain 90d: {total}), SLI {sli} (plain {plain_sli}), budget {:?}",
            rolled.total_events, rolled.budget_remaining_ratio
        );
        assert!(
            (sli - plain_sli).abs() < 1e-5,
            "SLI {sli} against {plain_sli}"
        );
        let plain_budget = 1.0 - (1.0 - plain_sli) / 0.005;
        let budget = rolled.budget_remaining_ratio.expect("budget");
        assert!(
            (budget - plain_budget).abs() < 0.01,
            "budget {budget} against {plain_budget}"
        );
    }
}

#[test]
fn compliance_per_calendar_month_from_hourly_counts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (storage, slos) = ninety_days_compacted(dir.path(), 99.8);
    // Evaluated on 1970-04-01 (day 90) 00:00: January, February and March are whole.
    let t = 90 * DAY;
    let mut reader = Reader::new(&storage, options(TierRequest::Auto));
    let compliance = report::compliance(&mut reader, &slos[0], t).expect("compliance");
    let month = |name: &str| {
        compliance
            .months
            .iter()
            .find(|month| month.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    // What hourly `increase` sees: the window (H h, H+1 h] holds the samples at steps
    // 12H+1 ..= 12H+12, so the increments into steps 12H+2 ..= 12H+12 (11 of them),
    // extrapolated by 12/11 alike for good and total. Per step: 1000 requests,
    // failing [0,1,2,5][day % 4], or 20 on steps 100..112 of days ≡ 3 (mod 10).
    let failing = |global_step: u64| {
        let (day, step) = (global_step / 288, global_step % 288);
        if day % 10 == 3 && (100..112).contains(&step) {
            20
        } else {
            [0, 1, 2, 5][(day % 4) as usize]
        }
    };
    let expected = |days: std::ops::Range<u64>| {
        let (mut errors, mut total, mut hours_above, mut hours) = (0u64, 0u64, 0u64, 0u64);
        for hour in days.start * 24..days.end * 24 {
            let hour_errors: u64 = (12 * hour + 2..=12 * hour + 12).map(failing).sum();
            errors += hour_errors;
            total += 11_000;
            hours += 1;
            if (11_000 - hour_errors) as f64 / 11_000.0 >= 0.998 {
                hours_above += 1;
            }
        }
        (
            1.0 - errors as f64 / total as f64,
            hours_above as f64 / hours as f64,
        )
    };
    for (name, days) in [("1970-01", 0..31), ("1970-02", 31..59), ("1970-03", 59..90)] {
        let period = month(name);
        assert!(!period.partial, "{name}");
        assert_eq!(period.groups.len(), 1, "{name}");
        let group = &period.groups[0];
        let (sli, above) = expected(days.clone());
        let got = group.sli.expect("sli");
        // Served exactly by the 1h tier (whole buckets at hour boundaries).
        assert!((got - sli).abs() < 1e-9, "{name}: SLI {got}, want {sli}");
        let time_above = group.time_above_objective.expect("time above");
        assert!(
            (time_above - above).abs() < 1e-9,
            "{name}: time above {time_above}, want {above}"
        );
        assert_eq!(group.met, Some(sli >= 0.998), "{name}");
    }
    // The current month has just begun: no data yet, and it is partial.
    let april = month("1970-04");
    assert!(april.partial && april.groups.is_empty());
    let q1 = compliance
        .quarters
        .iter()
        .find(|quarter| quarter.name == "1970-Q1")
        .expect("Q1");
    let (sli, _) = expected(0..90);
    assert!((q1.groups[0].sli.expect("sli") - sli).abs() < 1e-9);
}

#[test]
fn burn_rate_alerts_fire_and_resolve_at_the_derived_times() {
    let output = Command::new(BIN)
        .args(["test-rules", "tests/rules/slo_test.toml"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().last(), Some("20 passed, 0 failed"));
}

#[test]
fn check_names_each_bad_slo_key_at_its_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config");
    common::write(&config.join("tandem.toml"), "");
    common::write(
        &config.join("slos/a.toml"),
        r#"[[slo]]
name = "api"
objective = 100
window = "30d"
good = 'rate(x[5m])'
total = 'x'

[[slo]]
name = "api"
objective = 99
window = "2h"
histogram = 'latency_bucket'
threshold = 0.5
group_by = ["slo"]

[[slo]]
name = "none"
objective = 99
window = "7d"
"#,
    );
    common::write(
        &config.join("slos/b.toml"),
        "[[slo]]\nname = \"both\"\nobjective = 99.9\nwindow = \"30d\"\ngood = 'x{a=\"1\"'\ntotal = 'x'\nhistogram = 'h'\nthreshold = 1\n",
    );
    let output = Command::new(BIN)
        .arg("check")
        .arg(&config)
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let a = config.join("slos/a.toml").display().to_string();
    let b = config.join("slos/b.toml").display().to_string();
    for expected in [
        format!("{a}:3:13: slo.objective: a percentage above 0 and below 100"),
        format!("{a}:5:8: slo.good: a series selector such as"),
        format!("{a}:9:8: slo.name: duplicate name \"api\""),
        format!("{a}:11:10: slo.window: between 1d and"),
        format!("{a}:12:13: slo.histogram: name the histogram without _bucket"),
        format!("{a}:14:13: slo.group_by: \"slo\" is set by the generated series"),
        format!("{a}:17:8: slo: no SLI"),
        format!("{b}:7:13: slo: give good and total, or histogram and threshold, not both"),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn api_and_pages_show_status_rules_and_charts_of_a_running_instance() {
    let slo_file = r#"
[[slo]]
name = "imports"
description = "Imported requests served"
objective = 99
window = "7d"
good = 'served_total{code="ok"}'
total = 'served_total'
"#;
    let instance = Instance::start_with(Start {
        tandem_toml: "",
        extra_files: &[("slos/imports.toml", slo_file)],
        ..Start::default()
    });
    // Two hours of 100 requests a minute, 2 failing.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64;
    let mut body = String::new();
    for minute in 0..=120i64 {
        let t = now - (120 - minute) * MINUTE;
        body.push_str(&format!(
            "served_total{{code=\"ok\"}} {} {t}\nserved_total{{code=\"error\"}} {} {t}\n",
            100_000 + 98 * minute,
            10_000 + 2 * minute
        ));
    }
    let response = client()
        .post(instance.url("/api/v1/import/prometheus"))
        .body(body)
        .send()
        .expect("import");
    assert_eq!(response.status(), 200);

    let body: serde_json::Value = instance.get_json("/api/v1/slos");
    assert_eq!(body["status"], "success", "{body}");
    let slos = body["data"]["slos"].as_array().expect("slos");
    // The test's config directory has only this SLO (the default config's is not read).
    assert_eq!(slos.len(), 1, "{body}");
    let group = &slos[0]["groups"][0];
    let sli = group["sli"].as_f64().expect("sli");
    assert!((sli - 0.98).abs() < 1e-9, "{body}");
    // Error ratio 0.02 over a budget of 0.01: burning twice too fast, overspent.
    let remaining = group["budget_remaining_ratio"].as_f64().expect("budget");
    assert!((remaining + 1.0).abs() < 1e-9, "{body}");
    assert_eq!(group["state"], "exhausted");

    let detail: serde_json::Value = instance.get_json("/api/v1/slos/imports");
    assert!(
        detail["data"]["compliance"]["months"].is_array(),
        "{detail}"
    );
    assert!(detail["data"]["burn_down"]["series"].is_array(), "{detail}");
    let missing = client()
        .get(instance.url("/api/v1/slos/nope"))
        .send()
        .expect("GET");
    assert_eq!(missing.status(), 404);

    // The generated group is a rule group like any other.
    let rules: serde_json::Value = instance.get_json("/api/v1/rules");
    let group = rules["data"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|group| group["name"] == "slo:imports")
        .unwrap_or_else(|| panic!("no slo:imports group in {rules}"))
        .clone();
    assert_eq!(group["file"], "slos/imports.toml");
    assert_eq!(group["rules"].as_array().map(Vec::len), Some(15));

    let list = instance.page("/slos");
    assert!(list.contains("href=\"/slos/imports\""), "{list}");
    assert!(list.contains("98.0 %"), "{list}");
    assert!(list.contains("exhausted"), "{list}");
    let detail = instance.page("/slos/imports");
    assert!(detail.contains("<svg"), "{detail}");
    assert!(detail.contains("Error budget burn-down"), "{detail}");
    assert_eq!(
        detail.matches("class=\"burn-chart\"").count(),
        4,
        "{detail}"
    );
    assert!(detail.contains("id=\"compliance-months\""), "{detail}");
    let overview = instance.page("/");
    assert!(overview.contains("SLO imports"), "{overview}");
    let alerts = instance.page("/alerts");
    assert!(alerts.contains("SLOErrorBudgetBurn"), "{alerts}");
    assert_eq!(
        client()
            .get(instance.url("/slos/nope"))
            .send()
            .expect("GET")
            .status(),
        404
    );
}

/// `served_total` for the two hours up to now, 100 requests a minute, the last
/// `failing_minutes` increments half failing, as an import body.
fn served(now: i64, failing_minutes: i64) -> String {
    let mut body = String::new();
    let (mut ok, mut error) = (100_000i64, 10_000i64);
    for minute in 0..=120i64 {
        if minute > 0 {
            if minute > 120 - failing_minutes {
                ok += 50;
                error += 50;
            } else {
                ok += 100;
            }
        }
        let t = now - (120 - minute) * MINUTE;
        body.push_str(&format!(
            "served_total{{code=\"ok\"}} {ok} {t}\nserved_total{{code=\"error\"}} {error} {t}\n"
        ));
    }
    body
}

#[test]
fn a_burning_slo_pages_a_real_webhook_and_reload_adds_and_removes_its_rules() {
    let hook = common::HttpRecorder::start();
    let tandem_toml = format!(
        r#"
[[receiver]]
name = "ops"
webhook = {{ url = "{}" }}

[route]
receiver = "ops"
group_by = ["alertname", "severity", "long_window"]
"#,
        hook.url("/hook")
    );
    let instance = Instance::start_with(Start {
        tandem_toml: &tandem_toml,
        ..Start::default()
    });
    let rules = |instance: &Instance| -> Vec<String> {
        let body: serde_json::Value = instance.get_json("/api/v1/rules");
        body["data"]["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .filter_map(|group| group["name"].as_str().map(String::from))
            .collect()
    };
    assert!(rules(&instance).is_empty());
    // Twenty of the last 59 one-minute increments half failing: over 1h the error
    // ratio is 0.5 × 20/59 = 0.169 (16.9× a 1 % budget), over 5m 0.5 (50×).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64;
    let response = client()
        .post(instance.url("/api/v1/import/prometheus"))
        .body(served(now, 20))
        .send()
        .expect("import");
    assert_eq!(response.status(), 200);
    instance.write_config(
        "slos/served.toml",
        r#"
[[slo]]
name = "served"
objective = 99
window = "1d"
good = 'served_total{code="ok"}'
total = 'served_total'
interval = "1s"
labels = { team = "web" }
"#,
    );
    let reload = client()
        .post(instance.url("/-/reload"))
        .send()
        .expect("reload");
    assert_eq!(
        reload.status(),
        200,
        "{}",
        reload.text().unwrap_or_default()
    );
    assert_eq!(rules(&instance), ["slo:served"]);
    // Each (severity, long window) is its own notification group: wait for the
    // 1h/5m page among them.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut pages = Vec::new();
    while std::time::Instant::now() < deadline {
        let Some(request) = hook.try_next() else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        let message = request.json();
        for alert in message["alerts"].as_array().cloned().unwrap_or_default() {
            if alert["labels"]["long_window"] == "1h" {
                pages.push(alert);
            }
        }
        if !pages.is_empty() {
            break;
        }
    }
    let page = pages
        .first()
        .unwrap_or_else(|| panic!("no 1h/5m page arrived; stderr:\n{}", instance.stderr()));
    let labels = &page["labels"];
    assert_eq!(labels["alertname"], "SLOErrorBudgetBurn");
    assert_eq!(labels["severity"], "page");
    assert_eq!(labels["slo"], "served");
    assert_eq!(labels["short_window"], "5m");
    assert_eq!(labels["burn_rate_threshold"], "14.4");
    assert_eq!(labels["team"], "web");
    assert_eq!(page["status"], "firing");
    // The overview's card reads the recorded series: over the day, 20 of 120
    // increments half failing, SLI 1 - 0.5 × 20/120, far past a 1 % budget.
    let overview = instance.page("/");
    assert!(overview.contains("SLO served"), "{overview}");
    assert!(overview.contains("SLI 91.7 %"), "{overview}");
    assert!(overview.contains("exhausted"), "{overview}");
    // Removing the file removes the generated group on the next reload.
    std::fs::remove_file(instance.config_dir.join("slos/served.toml")).expect("remove");
    let reload = client()
        .post(instance.url("/-/reload"))
        .send()
        .expect("reload");
    assert_eq!(reload.status(), 200);
    assert!(rules(&instance).is_empty());
}
