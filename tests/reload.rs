//! Reload, end to end: every trigger (HTTP, SIGHUP, `tandem reload`, file watch)
//! applies a valid config atomically, keeps the old one on error, and records history.

mod common;

use common::{Instance, client, eventually};
use std::process::Command;
use std::time::Duration;

fn config_hash(instance: &Instance, client: &reqwest::blocking::Client) -> String {
    let text = client
        .get(instance.url("/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("body");
    let line = text
        .lines()
        .find(|line| line.starts_with("tandem_config_info{hash=\""))
        .unwrap_or_else(|| panic!("no tandem_config_info in\n{text}"));
    line["tandem_config_info{hash=\"".len()..]
        .split('"')
        .next()
        .expect("hash")
        .to_string()
}

fn reload_cli(instance: &Instance) -> std::process::Output {
    Command::new(common::BIN)
        .args(["reload", "--url", &instance.base_url])
        .output()
        .expect("tandem reload")
}

#[test]
fn http_reload_applies_valid_and_keeps_old_on_invalid() {
    let instance = Instance::start("[log]\nlevel = \"info\"\n");
    let client = client();
    let first_hash = config_hash(&instance, &client);

    // Valid change: new hash, history grows, status/config shows the new text.
    instance.write_config("tandem.toml", "[log]\nlevel = \"debug\"\n");
    instance.write_config("rules/host.toml", "[[group]]\nname = \"host\"\n");
    let response = client
        .post(instance.url("/-/reload"))
        .send()
        .expect("reload");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().expect("json");
    assert_eq!(body["status"], "success");
    assert_eq!(body["changed"], true);
    let second_hash = body["hash"].as_str().expect("hash").to_string();
    assert_ne!(second_hash, first_hash);
    assert_eq!(config_hash(&instance, &client), second_hash);
    let status: serde_json::Value = client
        .get(instance.url("/api/v1/status/config"))
        .send()
        .expect("status")
        .json()
        .expect("json");
    let text = status["data"]["yaml"].as_str().expect("config text");
    assert!(
        text.contains("# file: rules/host.toml\n[[group]]\nname = \"host\"\n"),
        "{text}"
    );
    assert!(text.contains("level = \"debug\""), "{text}");

    // Same files again: success, unchanged, no new version.
    let unchanged: serde_json::Value = client
        .post(instance.url("/-/reload"))
        .send()
        .expect("reload")
        .json()
        .expect("json");
    assert_eq!(unchanged["changed"], false);

    // Invalid change: 400 with positions, old config keeps running, gauge drops to 0.
    instance.write_config(
        "tandem.toml",
        "[log]\nlevel = \"debug\"\nformat = \"xml\"\n",
    );
    let rejected = client
        .post(instance.url("/-/reload"))
        .send()
        .expect("reload");
    assert_eq!(rejected.status(), 400);
    let body: serde_json::Value = rejected.json().expect("json");
    let errors: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].ends_with(
            "tandem.toml:3:10: log.format: unknown value `xml` (valid values: text, json)"
        ),
        "{errors:?}"
    );
    assert_eq!(config_hash(&instance, &client), second_hash);
    assert_eq!(
        instance.metric(&client, "tandem_config_last_reload_successful "),
        Some(0.0)
    );
    let overview = client
        .get(instance.url("/"))
        .send()
        .expect("page")
        .text()
        .expect("html");
    assert!(
        overview.contains("<span class=\"bad\">rejected</span>"),
        "{overview}"
    );
    assert!(
        overview.contains("log.format: unknown value `xml`"),
        "{overview}"
    );

    // Fixed: applied, gauge back to 1.
    instance.write_config("tandem.toml", "[log]\nlevel = \"warn\"\n");
    assert_eq!(
        client
            .post(instance.url("/-/reload"))
            .send()
            .expect("reload")
            .status(),
        200
    );
    assert_eq!(
        instance.metric(&client, "tandem_config_last_reload_successful "),
        Some(1.0)
    );
    let third_hash = config_hash(&instance, &client);

    // History: three versions, newest first, and a diff between the first two.
    let page = client
        .get(instance.url("/config"))
        .send()
        .expect("config page")
        .text()
        .expect("html");
    let positions: Vec<usize> = [&third_hash, &second_hash, &first_hash]
        .iter()
        .map(|hash| {
            page.find(&format!("<td><code>{hash}</code>"))
                .unwrap_or_else(|| panic!("{hash} missing in\n{page}"))
        })
        .collect();
    assert!(
        positions[0] < positions[1] && positions[1] < positions[2],
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "href=\"/config/diff?from={first_hash}&amp;to={second_hash}\""
        )),
        "{page}"
    );
    let diff_url = instance.url(&format!("/config/diff?from={first_hash}&to={second_hash}"));
    let diff = client
        .get(diff_url)
        .send()
        .expect("diff")
        .text()
        .expect("html");
    assert!(
        diff.contains("<span class=\"del\">-level = &#34;info&#34;</span>"),
        "{diff}"
    );
    assert!(
        diff.contains("<span class=\"add\">+level = &#34;debug&#34;</span>"),
        "{diff}"
    );
    assert!(
        diff.contains("<code>rules/host.toml</code> <span class=\"change added\">added</span>"),
        "{diff}"
    );
    let unknown = client
        .get(instance.url("/config/diff?from=nope&to=nope"))
        .send()
        .expect("diff");
    assert_eq!(unknown.status(), 404);
}

#[test]
fn sighup_reloads() {
    let instance = Instance::start("");
    let client = client();
    let before = config_hash(&instance, &client);
    instance.write_config("tandem.toml", "[log]\nlevel = \"debug\"\n");
    instance.signal(libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(10), || config_hash(&instance, &client)
            != before),
        "SIGHUP did not reload; stderr:\n{}",
        instance.stderr()
    );
    instance.write_config("tandem.toml", "[log\n");
    instance.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(10), || {
        instance.metric(&client, "tandem_config_last_reload_successful ") == Some(0.0)
    }));
    assert!(
        instance.stderr().contains("tandem.toml:1:5: TOML syntax"),
        "{}",
        instance.stderr()
    );
}

#[test]
fn reload_command_exit_codes() {
    let instance = Instance::start("");
    instance.write_config("tandem.toml", "[log]\nlevel = \"debug\"\n");
    let applied = reload_cli(&instance);
    assert_eq!(
        applied.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let stdout = String::from_utf8_lossy(&applied.stdout);
    assert!(
        stdout.starts_with("reloaded: config ") && stdout.contains("(applied)"),
        "{stdout}"
    );

    instance.write_config("tandem.toml", "[log]\nlevel = 5\n");
    let rejected = reload_cli(&instance);
    assert_eq!(rejected.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&rejected.stderr);
    assert!(
        stderr.contains(
            "tandem.toml:2:9: log.level: invalid type: expected a string naming one of its values"
        ),
        "{stderr}"
    );

    let unreachable = Command::new(common::BIN)
        .args([
            "reload",
            "--url",
            &format!("http://127.0.0.1:{}", common::free_port()),
        ])
        .output()
        .expect("tandem reload");
    assert_eq!(unreachable.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach"));
}

#[test]
fn watch_config_reloads_on_file_change() {
    let instance = Instance::start("[server]\nwatch_config = true\n");
    let client = client();
    let before = config_hash(&instance, &client);
    instance.write_config(
        "tandem.toml",
        "[server]\nwatch_config = true\n\n[log]\nlevel = \"debug\"\n",
    );
    assert!(
        eventually(Duration::from_secs(10), || config_hash(&instance, &client)
            != before),
        "file change did not reload; stderr:\n{}",
        instance.stderr()
    );
    let page = client
        .get(instance.url("/config"))
        .send()
        .expect("page")
        .text()
        .expect("html");
    assert!(page.contains("<td>file-watch</td>"), "{page}");
}

#[test]
fn restart_only_settings_are_reported() {
    let instance = Instance::start("");
    let client = client();
    instance.write_config("tandem.toml", "[server]\nclient_request_timeout = \"9s\"\n");
    let body: serde_json::Value = client
        .post(instance.url("/-/reload"))
        .send()
        .expect("reload")
        .json()
        .expect("json");
    assert_eq!(
        body["restart_needed"],
        serde_json::json!(["server.client_request_timeout"])
    );
}

#[test]
fn reload_button_on_the_overview_page() {
    let instance = Instance::start("");
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let overview = client
        .get(instance.url("/"))
        .send()
        .expect("page")
        .text()
        .expect("html");
    assert!(
        overview.contains("<form method=\"post\" action=\"/config/reload\""),
        "{overview}"
    );
    instance.write_config("tandem.toml", "[log]\nlevel = \"debug\"\n");
    let response = client
        .post(instance.url("/config/reload"))
        .header("Origin", instance.base_url.clone())
        .send()
        .expect("post");
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    let page = client
        .get(instance.url("/config"))
        .send()
        .expect("page")
        .text()
        .expect("html");
    assert!(page.contains("<td>web-page</td>"), "{page}");
    let cross_site = client
        .post(instance.url("/config/reload"))
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .expect("post");
    assert_eq!(cross_site.status(), 403);
}
