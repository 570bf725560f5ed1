//! Dashboards end to end: the list of the shipped dashboards, a dashboard over
//! imported data (a chart per graph panel, legends from the template, variables from
//! the URL narrowing the query, a failing panel beside working ones), an unknown
//! dashboard, and `tandem check` positions for a broken dashboard file.

mod common;

use common::{BIN, Instance, Start, client};
use std::path::Path;
use std::process::Command;

const HOST: &str = include_str!("../config/dashboards/host.toml");
const TANDEM: &str = include_str!("../config/dashboards/tandem.toml");

/// Two instances of `node_load1` (a near 1, b near 5) and a CPU counter rising by
/// 0.5/s, every 15 s over the last 30 minutes.
fn import_samples(instance: &Instance) {
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let mut body = String::new();
    for step in 0..120 {
        let t = now_ms - 1_800_000 + step * 15_000;
        for (host, load) in [("a", 1.0), ("b", 5.0)] {
            body.push_str(&format!(
                "node_load1{{job=\"node\",instance=\"{host}\"}} {} {t}\n",
                load + (step % 4) as f64 / 10.0
            ));
            body.push_str(&format!(
                "node_cpu_seconds_total{{job=\"node\",instance=\"{host}\",cpu=\"0\",mode=\"user\"}} {} {t}\n",
                step as f64 * 7.5
            ));
        }
    }
    let response = client()
        .post(instance.url("/api/v1/import/prometheus"))
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

fn get(instance: &Instance, path: &str) -> (u16, String) {
    let response = client().get(instance.url(path)).send().expect("GET");
    let status = response.status().as_u16();
    (status, response.text().expect("body"))
}

/// The HTML of the panel whose caption starts with `title`.
fn panel<'a>(page: &'a str, title: &str) -> &'a str {
    let caption = format!("<figcaption>{title}");
    let start = page
        .find(&caption)
        .unwrap_or_else(|| panic!("no panel {title:?} in:\n{page}"));
    let end = page[start..]
        .find("</figure>")
        .map_or(page.len(), |end| start + end);
    &page[start..end]
}

const TEST_DASHBOARD: &str = r#"
title = "Test board"
description = "For the integration test"
time_range = "1h"

[[variable]]
name = "instance"
query = 'label_values(node_load1{job="node"}, instance)'

[[variable]]
name = "hosts"
query = 'label_values(node_load1, instance)'
multi = true
all = true

[[row]]
title = "Load"

[[row.panel]]
title = "Load of one"
expr = 'node_load1{instance=~"$instance"}'
legend = "load of {{instance}}"

[[row.panel]]
title = "Load of several"
expr = 'node_load1{instance=~"$hosts"}'
legend = "several {{instance}}"

[[row.panel]]
title = "CPU busy"
expr = 'rate(node_cpu_seconds_total{instance=~"$instance"}[$__rate_interval])'
legend = "{{instance}} {{mode}}"
unit = "percentunit"
width = 6

[[row.panel]]
title = "Broken at run time"
expr = 'node_load1 + on (job) node_load1'
width = 6

[[row]]
title = "Now"

[[row.panel]]
title = "Load now"
kind = "stat"
expr = 'node_load1{instance=~"$instance"}'
legend = "{{instance}}"
thresholds = [{ value = 3, level = "bad" }]

[[row.panel]]
title = "All loads"
kind = "table"
expr = 'node_load1'
legend = "table {{instance}}"
"#;

fn start() -> Instance {
    Instance::start_with(Start {
        tandem_toml: "",
        extra_files: &[
            ("dashboards/host.toml", HOST),
            ("dashboards/tandem.toml", TANDEM),
            ("dashboards/test.toml", TEST_DASHBOARD),
        ],
        ..Start::default()
    })
}

#[test]
fn list_shows_the_shipped_dashboards() {
    let instance = start();
    let (status, page) = get(&instance, "/dashboards");
    assert_eq!(status, 200, "{page}");
    for (name, title) in [
        ("host", "Host"),
        ("tandem", "tandem"),
        ("test", "Test board"),
    ] {
        assert!(
            page.contains(&format!("<a href=\"/dashboards/{name}\">{title}</a>")),
            "{name}: {page}"
        );
    }
    assert!(page.contains("dashboards/host.toml"), "{page}");
    // Both shipped dashboards render without data: panels say so, the page works.
    for name in ["host", "tandem"] {
        let (status, page) = get(&instance, &format!("/dashboards/{name}"));
        assert_eq!(status, 200, "{page}");
        // Refreshed in place by the script; a full reload only without JavaScript.
        assert!(page.contains("<main data-refresh=\"60\">"), "{page}");
        assert!(page.contains("<noscript><meta http-equiv=\"refresh\" content=\"60\"></noscript>"));
    }
}

#[test]
fn dashboard_renders_panels_from_imported_data() {
    let instance = start();
    import_samples(&instance);

    // No variable in the URL: the first value (a); All for the multi variable.
    let (status, page) = get(&instance, "/dashboards/test");
    assert_eq!(status, 200, "{page}");
    assert!(!page.contains("http-equiv=\"refresh\""), "no refresh set");
    let graphs = page.matches("<figure class=\"panel panel-graph").count();
    assert_eq!(graphs, 4, "{page}");
    let charts = page.matches("<div class=\"chart\"><svg").count();
    assert_eq!(
        charts, 3,
        "every graph but the broken one has a chart: {page}"
    );

    let one = panel(&page, "Load of one");
    assert!(one.contains("<svg"), "{one}");
    assert!(one.contains("load of a"), "{one}");
    assert!(!one.contains("load of b"), "only instance a: {one}");
    let several = panel(&page, "Load of several");
    assert!(
        several.contains("several a") && several.contains("several b"),
        "{several}"
    );
    let cpu = panel(&page, "CPU busy");
    assert!(cpu.contains("a user"), "{cpu}");
    assert!(cpu.contains("50%"), "rate 0.5/s as percent: {cpu}");

    // The failing panel shows its error; the others rendered anyway.
    let broken = panel(&page, "Broken at run time");
    assert!(broken.contains("class=\"panel-error"), "{broken}");
    assert!(!broken.contains("<svg"), "{broken}");

    let stat = panel(&page, "Load now");
    assert!(
        stat.contains("class=\"stat-value ok\""),
        "load 1.x is below 3: {stat}"
    );
    let table = panel(&page, "All loads");
    assert!(
        table.contains("table a") && table.contains("table b"),
        "{table}"
    );

    // Variables from the URL change the queries: instance b only.
    let (status, page) = get(
        &instance,
        "/dashboards/test?range=15m&var-instance=b&var-hosts=a&refresh=30s",
    );
    assert_eq!(status, 200, "{page}");
    let one = panel(&page, "Load of one");
    assert!(
        one.contains("load of b") && !one.contains("load of a"),
        "{one}"
    );
    let several = panel(&page, "Load of several");
    assert!(
        several.contains("several a") && !several.contains("several b"),
        "{several}"
    );
    let stat = panel(&page, "Load now");
    assert!(
        stat.contains("class=\"stat-value bad\""),
        "load 5.x reaches 3: {stat}"
    );
    assert!(
        page.contains("<option value=\"b\" selected>b</option>"),
        "{page}"
    );
    assert!(page.contains("<option value=\"15m\" selected>"), "{page}");
    assert!(
        page.contains("<noscript><meta http-equiv=\"refresh\" content=\"30\"></noscript>")
            && page.contains("<main data-refresh=\"30\">"),
        "{page}"
    );

    // Several values of a multi variable.
    let (_, page) = get(&instance, "/dashboards/test?var-hosts=a&var-hosts=b");
    let several = panel(&page, "Load of several");
    assert!(
        several.contains("several a") && several.contains("several b"),
        "{several}"
    );

    // A bad parameter is a notice, not a failure.
    let (status, page) = get(&instance, "/dashboards/test?from=yesterday");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("class=\"warn notice\">from: "), "{page}");
}

#[test]
fn unknown_dashboard_is_404_naming_it() {
    let instance = start();
    let (status, page) = get(&instance, "/dashboards/nope");
    assert_eq!(status, 404, "{page}");
    assert!(
        page.contains("no dashboard &#34;nope&#34;") || page.contains("no dashboard \"nope\""),
        "{page}"
    );
}

#[test]
fn check_reports_dashboard_errors_at_their_position() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config/dashboard-errors.bad");
    let output = Command::new(BIN)
        .arg("check")
        .arg(&dir)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let prefix = format!("{}/", dir.display());
    let got: Vec<String> = stderr
        .lines()
        .filter(|line| !line.ends_with(" errors"))
        .map(|line| line.replace(&prefix, ""))
        .collect();
    let expected: Vec<String> = std::fs::read_to_string(dir.join("expect.txt"))
        .expect("expect.txt")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(got, expected);
    // The parse error points inside the expression: the end of line 22, where the
    // closing parenthesis is missing.
    assert!(
        expected
            .contains(&"dashboards/broken.toml:22:82: expr: unclosed left parenthesis".to_string()),
        "{expected:#?}"
    );
}
