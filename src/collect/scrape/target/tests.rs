//! Target labels and relabeling as Prometheus' `PopulateLabels` does them: the URL
//! from `__scheme__`/`__address__`/`__metrics_path__`/`__param_*`, dropped targets,
//! the default `instance`, and what reaches the series.

use super::*;
use crate::collect::relabel::{RelabelRule, RelabelSpec};
use std::time::Duration;

fn job(rules: &[&[(&str, &str)]]) -> Arc<ScrapeJob> {
    Arc::new(ScrapeJob {
        job: "node".into(),
        targets: Vec::new(),
        file_sd: Vec::new(),
        scheme: ScrapeScheme::Http,
        path: "/metrics".into(),
        interval: Duration::from_secs(15),
        timeout: Duration::from_secs(10),
        honor_labels: false,
        honor_timestamps: true,
        labels: vec![("env".into(), "prod".into())],
        sample_limit: None,
        body_bytes_max: 1 << 20,
        label_limit: None,
        relabel: rules.iter().map(|fields| rule(fields)).collect(),
        metric_relabel: Vec::new(),
        basic_auth: None,
        bearer_token_file: None,
        tls: Default::default(),
    })
}

/// A rule from `(field, value)` pairs as in Prometheus' config; action defaults to
/// "replace", `source_labels` is comma-separated.
fn rule(fields: &[(&str, &str)]) -> RelabelRule {
    let mut spec = RelabelSpec {
        action: "replace".into(),
        ..RelabelSpec::default()
    };
    for &(field, value) in fields {
        let text = Some(value.to_string());
        match field {
            "source_labels" => spec.source_labels = value.split(',').map(str::to_string).collect(),
            "regex" => spec.regex = text,
            "target_label" => spec.target_label = text,
            "replacement" => spec.replacement = text,
            "action" => spec.action = value.into(),
            _ => panic!("unknown relabel field {field:?} in test"),
        }
    }
    RelabelRule::new(spec).expect("valid rule")
}

/// Builds the target of `address` with `group` labels from file `f.json`, and prints
/// it as `URL {final labels}` (plus the job's scheme, interval and timeout when
/// relabeling changed them), `dropped`, or `invalid: reason`.
fn check(rules: &[&[(&str, &str)]], address: &str, group: &[(&str, &str)], expect: &str) {
    let job = job(rules);
    let group: Vec<(String, String)> = group
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    let actual = match build(&job, address, &group, Some(Path::new("/sd/f.json"))) {
        Built::Active(target) => {
            let labels: Vec<String> = target
                .labels()
                .iter()
                .map(|(name, value)| format!("{name}={value:?}"))
                .collect();
            let mut text = format!("{} {{{}}}", target.url(), labels.join(", "));
            if !Arc::ptr_eq(&target.job, &job) {
                text.push_str(&format!(
                    " (job: {} every {} timeout {})",
                    target.job.scheme.as_str(),
                    format_duration(target.job.interval),
                    format_duration(target.job.timeout)
                ));
            }
            text
        }
        Built::Dropped(_) => "dropped".into(),
        Built::Invalid(_, reason) => format!("invalid: {reason}"),
    };
    assert_eq!(actual, expect);
}

#[test]
fn without_rules_the_job_defaults_apply() {
    check(
        &[],
        "h1:9100",
        &[],
        r#"http://h1:9100/metrics {env="prod", instance="h1:9100", job="node"}"#,
    );
    // File labels win over the job's; `__` labels never reach the series.
    check(
        &[],
        "h1:9100",
        &[("env", "dev"), ("rack", "r1"), ("__tmp_x", "y")],
        r#"http://h1:9100/metrics {env="dev", instance="h1:9100", job="node", rack="r1"}"#,
    );
    // A file may set the scheme, path and job as discovered labels.
    check(
        &[],
        "h1:9100",
        &[
            ("__scheme__", "https"),
            ("__metrics_path__", "/m"),
            ("job", "other"),
        ],
        r#"https://h1:9100/m {env="prod", instance="h1:9100", job="other"} (job: https every 15s timeout 10s)"#,
    );
}

#[test]
fn discovered_labels_are_what_relabeling_sees() {
    let job = job(&[]);
    let group = [("team".to_string(), "db".to_string())];
    let Built::Active(target) = build(&job, "h1:9100", &group, Some(Path::new("/sd/f.json")))
    else {
        panic!("target dropped");
    };
    assert_eq!(
        target.discovered_labels().to_string(),
        r#"{__address__="h1:9100", __meta_filepath="/sd/f.json", __metrics_path__="/metrics", __scheme__="http", __scrape_interval__="15s", __scrape_timeout__="10s", env="prod", job="node", team="db"}"#
    );
}

#[test]
fn params_become_the_query_string() {
    // The blackbox exporter pattern: the listed target becomes a parameter and the
    // exporter's address replaces it.
    check(
        &[
            &[
                ("source_labels", "__address__"),
                ("target_label", "__param_target"),
            ],
            &[
                ("source_labels", "__param_target"),
                ("target_label", "instance"),
            ],
            &[
                ("target_label", "__address__"),
                ("replacement", "127.0.0.1:9115"),
            ],
            &[
                ("target_label", "__param_module"),
                ("replacement", "http 2xx"),
            ],
            &[
                ("target_label", "__metrics_path__"),
                ("replacement", "/probe"),
            ],
        ],
        "https://example.org/a?b",
        &[],
        r#"http://127.0.0.1:9115/probe?module=http+2xx&target=https%3A%2F%2Fexample.org%2Fa%3Fb {env="prod", instance="https://example.org/a?b", job="node"}"#,
    );
}

#[test]
fn relabeling_drops_targets() {
    check(
        &[&[
            ("source_labels", "env"),
            ("regex", "prod"),
            ("action", "drop"),
        ]],
        "h1:9100",
        &[],
        "dropped",
    );
    check(
        &[&[
            ("source_labels", "__meta_filepath"),
            ("regex", ".*/f\\.json"),
            ("action", "keep"),
        ]],
        "h1:9100",
        &[],
        r#"http://h1:9100/metrics {env="prod", instance="h1:9100", job="node"}"#,
    );
    // No `__address__` left: dropped.
    check(
        &[&[("regex", "__address__"), ("action", "labeldrop")]],
        "h1:9100",
        &[],
        "dropped",
    );
    check(&[], "", &[], "dropped");
}

#[test]
fn instance_defaults_to_the_final_address() {
    check(
        &[&[("target_label", "__address__"), ("replacement", "h2:9100")]],
        "h1:9100",
        &[],
        r#"http://h2:9100/metrics {env="prod", instance="h2:9100", job="node"}"#,
    );
    check(
        &[&[("target_label", "instance"), ("replacement", "db-1")]],
        "h1:9100",
        &[],
        r#"http://h1:9100/metrics {env="prod", instance="db-1", job="node"}"#,
    );
}

#[test]
fn interval_timeout_and_scheme_may_be_relabeled() {
    check(
        &[
            &[
                ("target_label", "__scrape_interval__"),
                ("replacement", "1m"),
            ],
            &[
                ("target_label", "__scrape_timeout__"),
                ("replacement", "30s"),
            ],
        ],
        "h1:9100",
        &[],
        r#"http://h1:9100/metrics {env="prod", instance="h1:9100", job="node"} (job: http every 1m timeout 30s)"#,
    );
    check(
        &[&[
            ("target_label", "__scrape_timeout__"),
            ("replacement", "1m"),
        ]],
        "h1:9100",
        &[],
        "invalid: __scrape_timeout__ is 1m: it must be more than 0s and at most __scrape_interval__ (15s)",
    );
    check(
        &[&[("target_label", "__scheme__"), ("replacement", "ftp")]],
        "h1:9100",
        &[],
        "invalid: __scheme__ is \"ftp\", not \"http\" or \"https\"",
    );
    check(
        &[],
        "h1:9100/x",
        &[],
        "invalid: __address__ \"h1:9100/x\" is not a valid host:port",
    );
}

#[test]
fn equal_targets_compare_equal_and_dropped_ones_keep_their_labels() {
    use crate::config::TargetGroup;
    let job = job(&[&[
        ("source_labels", "__address__"),
        ("regex", "drop.*"),
        ("action", "drop"),
    ]]);
    let statics = ["a:1", "drop:1", "a:1"];
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    let group = TargetGroup::default();
    for address in statics {
        match build(&job, address, &group.labels, None) {
            Built::Active(target) if !active.contains(&target) => active.push(target),
            Built::Active(_) => {}
            Built::Dropped(target) | Built::Invalid(target, _) => dropped.push(target),
        }
    }
    assert_eq!(active.len(), 1);
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].discovered.get(ADDRESS_LABEL), Some("drop:1"));
    assert_eq!(dropped[0].job, "node");
}
