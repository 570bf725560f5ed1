//! Rule unit test files (`tandem test-rules`): promtool's `test rules` YAML, key for
//! key, in TOML. The format is described in `alert::unittest`, which runs them.
//! Owns: the file's shape and its parse errors (file:line:col).

use super::units::ConfigDuration;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// SLO files whose generated rule groups are tested too (tandem's addition).
    #[serde(default)]
    pub slo_files: Vec<String>,
    #[serde(default)]
    pub evaluation_interval: Option<ConfigDuration>,
    #[serde(default)]
    pub tests: Vec<TestGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestGroup {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub interval: Option<ConfigDuration>,
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub external_url: Option<String>,
    #[serde(default)]
    pub input_series: Vec<InputSeries>,
    #[serde(default)]
    pub alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    pub promql_expr_test: Vec<ExprTest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSeries {
    pub series: String,
    pub values: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTest {
    pub eval_time: ConfigDuration,
    pub alertname: String,
    #[serde(default)]
    pub exp_alerts: Vec<ExpectedAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedAlert {
    #[serde(default)]
    pub exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExprTest {
    pub expr: String,
    pub eval_time: ConfigDuration,
    #[serde(default)]
    pub exp_samples: Vec<ExpectedSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSample {
    #[serde(default)]
    pub labels: String,
    pub value: f64,
}

/// Reads and parses a test file; the error names file:line:col.
pub fn load_test_file(path: &std::path::Path) -> Result<TestFile, String> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("{display}: cannot read: {error}"))?;
    toml::from_str(&text).map_err(|error| {
        let (line, column) = error
            .span()
            .map_or((1, 1), |span| super::line_column(&text, span.start));
        format!("{display}:{line}:{column}: {}", error.message())
    })
}
