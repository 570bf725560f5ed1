//! `tandem test-rules FILE...`: unit tests for rule files, as `promtool test rules`
//! runs them, in TOML that mirrors promtool's YAML key for key.
//! Owns: the test file format, the simulated clock, comparing alerts and samples.
//! Does not: evaluate rules itself — the same `rules::group::Group` the server runs
//! does, against a scratch storage, through the one PromQL engine.
//!
//! ```toml
//! rule_files = ["../rules/host.toml"]     # relative to this file
//! slo_files = ["../slos/api.toml"]        # tandem's addition: the rules SLOs generate
//! evaluation_interval = "1m"
//!
//! [[tests]]
//! interval = "1m"
//! [[tests.input_series]]
//! series = 'up{job="node", instance="a"}'
//! values = "1 1 0x10"
//! [[tests.alert_rule_test]]
//! eval_time = "10m"
//! alertname = "InstanceDown"
//! [[tests.alert_rule_test.exp_alerts]]
//! exp_labels = { job = "node", instance = "a", severity = "page" }
//! exp_annotations = { summary = "a is down" }
//! [[tests.promql_expr_test]]
//! expr = 'up == 0'
//! eval_time = "5m"
//! [[tests.promql_expr_test.exp_samples]]
//! labels = 'up{job="node", instance="a"}'
//! value = 0
//! ```
//!
//! As in promtool: time starts at 0 (the Unix epoch); groups are evaluated every
//! `evaluation_interval` (or their own interval) up to the largest `eval_time`; an
//! alert test compares the firing alerts of the last evaluation at or before its
//! `eval_time` (order does not matter, `alertname` is added to `exp_labels`); an
//! expression test queries at `eval_time` after the rules ran up to then.

use crate::alert::ALERTNAME;
use crate::alert::rules::group::{AlertState, EvalContext, Group};
use crate::config::rule_tests::{ExprTest, TestGroup};
use crate::model::{Labels, Sample};
use crate::promql::EvalOptions;
use crate::promql::value::QueryValue;
use crate::storage::{Durability, SeriesSamples, Storage, StorageOptions};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Points one test may load, so a typo like `0+1x100000000` fails instead of
/// filling the disk.
pub const TEST_POINTS_MAX: usize = 10_000_000;

/// A firing alert's labels and annotations, as tests compare them.
type FiringAlert = (Labels, BTreeMap<String, String>);

/// What running one test file gave.
#[derive(Debug, Default)]
pub struct TestReport {
    pub passed: usize,
    pub failed: usize,
    /// One entry per failure (or per problem with the file), ready to print.
    pub failures: Vec<String>,
}

/// Runs every test of the file at `path`.
pub fn run_file(path: &Path) -> TestReport {
    let mut report = TestReport::default();
    let display = path.display().to_string();
    let file = match crate::config::rule_tests::load_test_file(path) {
        Ok(file) => file,
        Err(message) => {
            report.failed += 1;
            report.failures.push(message);
            return report;
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let rule_files: Vec<PathBuf> = file.rule_files.iter().map(|file| base.join(file)).collect();
    let evaluation_interval = file
        .evaluation_interval
        .map_or(Duration::from_secs(60), |interval| interval.0);
    let slo_files: Vec<PathBuf> = file.slo_files.iter().map(|file| base.join(file)).collect();
    let groups = match crate::config::rules::load_rule_files(&rule_files, evaluation_interval)
        .and_then(|mut groups| {
            let slos = crate::config::slos::load_slo_files(&slo_files, evaluation_interval)?;
            groups.extend(slos.iter().map(crate::slo::rules::generate));
            Ok(groups)
        }) {
        Ok(groups) => groups,
        Err(error) => {
            report.failed += 1;
            report
                .failures
                .push(format!("{display}: rule files do not load:\n{error}"));
            return report;
        }
    };
    for (index, test) in file.tests.iter().enumerate() {
        let name = test
            .name
            .clone()
            .unwrap_or_else(|| format!("tests[{index}]"));
        if let Err(message) = run_group(
            test,
            &groups,
            evaluation_interval,
            &mut report,
            &format!("{display}: {name}"),
        ) {
            report.failed += 1;
            report
                .failures
                .push(format!("{display}: {name}: {message}"));
        }
    }
    report
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn run_group(
    test: &TestGroup,
    group_configs: &[crate::config::rules::RuleGroupConfig],
    evaluation_interval: Duration,
    report: &mut TestReport,
    prefix: &str,
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|error| format!("temporary directory: {error}"))?;
    let mut options = StorageOptions::new(dir.path());
    options.limits.out_of_order_window = Duration::ZERO;
    // Test data lives near 1970: nothing may expire.
    options.tiers = vec![crate::storage::Tier {
        resolution_ms: None,
        retention: Duration::from_secs(1000 * 365 * 24 * 3600),
    }];
    let storage = Storage::open(options).map_err(|error| format!("storage: {error}"))?;
    let interval_ms = duration_ms(
        test.interval
            .map_or(Duration::from_secs(60), |interval| interval.0),
    );
    let mut batch = Vec::with_capacity(test.input_series.len());
    let mut points = 0usize;
    for input in &test.input_series {
        let line = format!("{} {}", input.series, input.values);
        let (pairs, values) = crate::promql::testfmt::parse_series_line(&line)
            .map_err(|error| format!("input_series {:?}: {error:?}", input.series))?;
        let labels = Labels::new(pairs)
            .map_err(|error| format!("input_series {:?}: {error}", input.series))?;
        points += values.len();
        if points > TEST_POINTS_MAX {
            return Err(format!("more than {TEST_POINTS_MAX} input points"));
        }
        let samples: Vec<Sample> = values
            .iter()
            .enumerate()
            .filter_map(|(slot, value)| {
                value.map(|v| Sample {
                    t: interval_ms.saturating_mul(slot as i64),
                    v,
                })
            })
            .collect();
        batch.push(SeriesSamples { labels, samples });
    }
    storage
        .append(&batch, Durability::Background)
        .map_err(|error| format!("storage: {error}"))?;
    let mut groups = group_configs
        .iter()
        .map(|config| Group::new(config.clone()).map_err(|error| error.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let external_labels = Labels::new(test.external_labels.clone())
        .map_err(|error| format!("external_labels: {error}"))?;
    let external_url = test
        .external_url
        .clone()
        .unwrap_or_else(|| "http://localhost:9797".into());
    let context = EvalContext {
        storage: &storage,
        options: EvalOptions::default(),
        external_labels: &external_labels,
        external_url: &external_url,
    };
    let end_ms = test
        .alert_rule_test
        .iter()
        .map(|alert| duration_ms(alert.eval_time.0))
        .chain(
            test.promql_expr_test
                .iter()
                .map(|expr| duration_ms(expr.eval_time.0)),
        )
        .max()
        .unwrap_or(0);
    let step_ms = duration_ms(evaluation_interval).max(1);
    // Firing alerts by alertname after each evaluation time.
    let mut firing: BTreeMap<i64, HashMap<String, Vec<FiringAlert>>> = BTreeMap::new();
    // Expression tests run once the rules have run up to their time.
    let mut expr_tests: Vec<&ExprTest> = test.promql_expr_test.iter().collect();
    expr_tests.sort_by_key(|expr| expr.eval_time.0);
    let mut next_expr = 0;
    let mut t_ms = 0;
    loop {
        while next_expr < expr_tests.len() && duration_ms(expr_tests[next_expr].eval_time.0) < t_ms
        {
            check_expr(&storage, expr_tests[next_expr], report, prefix);
            next_expr += 1;
        }
        if t_ms > end_ms {
            break;
        }
        let mut now_firing: HashMap<String, Vec<FiringAlert>> = HashMap::new();
        for group in &mut groups {
            let group_interval_ms = duration_ms(group.config.interval).max(1);
            if t_ms % group_interval_ms == 0 {
                group.evaluate(&context, t_ms);
            }
            for rule in &group.rules {
                for alert in rule
                    .active
                    .values()
                    .filter(|alert| alert.state == AlertState::Firing)
                {
                    now_firing
                        .entry(alert.labels.get(ALERTNAME).unwrap_or("").to_string())
                        .or_default()
                        .push((alert.labels.clone(), alert.annotations.clone()));
                }
            }
        }
        firing.insert(t_ms, now_firing);
        t_ms += step_ms;
    }
    for alert_test in &test.alert_rule_test {
        let at = duration_ms(alert_test.eval_time.0);
        let got: Vec<(Labels, BTreeMap<String, String>)> = firing
            .range(..=at)
            .next_back()
            .and_then(|(_, by_name)| by_name.get(&alert_test.alertname).cloned())
            .unwrap_or_default();
        let mut expected = Vec::with_capacity(alert_test.exp_alerts.len());
        for alert in &alert_test.exp_alerts {
            let mut labels = alert.exp_labels.clone();
            labels.insert(ALERTNAME.into(), alert_test.alertname.clone());
            let labels = Labels::new(labels).map_err(|error| format!("exp_labels: {error}"))?;
            expected.push((labels, alert.exp_annotations.clone()));
        }
        let sort = |alerts: &mut Vec<(Labels, BTreeMap<String, String>)>| {
            alerts.sort_by(|a, b| a.0.cmp(&b.0))
        };
        let (mut got_sorted, mut expected_sorted) = (got, expected);
        sort(&mut got_sorted);
        sort(&mut expected_sorted);
        if got_sorted == expected_sorted {
            report.passed += 1;
        } else {
            report.failed += 1;
            report.failures.push(format!(
                "{prefix}: alertname {:?}, time {}:\n    expected: {}\n         got: {}",
                alert_test.alertname,
                crate::config::units::format_duration(alert_test.eval_time.0),
                describe_alerts(&expected_sorted),
                describe_alerts(&got_sorted),
            ));
        }
    }
    Ok(())
}

fn describe_alerts(alerts: &[(Labels, BTreeMap<String, String>)]) -> String {
    if alerts.is_empty() {
        return "(none)".into();
    }
    let mut text = String::new();
    for (index, (labels, annotations)) in alerts.iter().enumerate() {
        if index > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "[labels {labels} annotations {annotations:?}]");
    }
    text
}

fn check_expr(storage: &Storage, test: &ExprTest, report: &mut TestReport, prefix: &str) {
    let at = duration_ms(test.eval_time.0);
    let mut fail = |message: String| {
        report.failed += 1;
        report.failures.push(format!(
            "{prefix}: expr {:?}, time {}: {message}",
            test.expr,
            crate::config::units::format_duration(test.eval_time.0)
        ));
    };
    let result = match crate::promql::instant(storage, &test.expr, at, &EvalOptions::default()) {
        Ok(result) => result,
        Err(error) => return fail(format!("error: {error}")),
    };
    let mut got: Vec<(Labels, f64)> = match result.value {
        QueryValue::Vector(samples) => samples
            .into_iter()
            .map(|(labels, sample)| (labels, sample.v))
            .collect(),
        QueryValue::Scalar(_, value) => vec![(Labels::default(), value)],
        _ => return fail("the expression does not give a vector or scalar".into()),
    };
    let mut expected = Vec::with_capacity(test.exp_samples.len());
    for sample in &test.exp_samples {
        let labels = if sample.labels.trim().is_empty() {
            Labels::default()
        } else {
            match crate::promql::testfmt::parse_series_line(&format!("{} 0", sample.labels))
                .map_err(|error| format!("{error:?}"))
                .and_then(|(pairs, _)| Labels::new(pairs).map_err(|error| error.to_string()))
            {
                Ok(labels) => labels,
                Err(error) => {
                    return fail(format!("exp_samples labels {:?}: {error}", sample.labels));
                }
            }
        };
        expected.push((labels, sample.value));
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let equal = got.len() == expected.len()
        && got
            .iter()
            .zip(&expected)
            .all(|(a, b)| a.0 == b.0 && crate::promql::promqltest::almost_equal(a.1, b.1));
    if equal {
        report.passed += 1;
    } else {
        let describe = |samples: &[(Labels, f64)]| -> String {
            if samples.is_empty() {
                return "(none)".into();
            }
            samples
                .iter()
                .map(|(labels, value)| format!("{labels} {value}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        fail(format!(
            "\n    expected: {}\n         got: {}",
            describe(&expected),
            describe(&got)
        ));
    }
}
