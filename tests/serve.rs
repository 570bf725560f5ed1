//! End to end: the built binary serves, reports itself on /metrics, renders its page,
//! refuses unsafe starts, and stops cleanly on SIGTERM.

mod common;

use common::{Instance, Start, client, sample_value};
use std::time::{Duration, Instant};

#[test]
fn serves_metrics_and_pages_then_stops_on_sigterm() {
    let mut instance = Instance::start("");
    let client = client();
    assert_eq!(
        client
            .get(instance.url("/-/healthy"))
            .send()
            .expect("healthy")
            .status(),
        200
    );

    let metrics = client
        .get(instance.url("/metrics"))
        .send()
        .expect("metrics");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().expect("metrics body");
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        text.contains(&format!("tandem_build_info{{version=\"{version}\"")),
        "{text}"
    );
    assert_eq!(
        sample_value(&text, "tandem_config_last_reload_successful "),
        Some(1.0)
    );
    let reload_time = sample_value(
        &text,
        "tandem_config_last_reload_success_timestamp_seconds ",
    )
    .expect("timestamp");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!(
        (now - reload_time).abs() < 120.0,
        "reload timestamp {reload_time} is not recent"
    );
    assert!(sample_value(&text, "process_resident_memory_bytes ").expect("rss") > 1e6);
    assert!(sample_value(&text, "process_cpu_seconds_total ").expect("cpu") >= 0.0);
    assert!(sample_value(&text, "process_open_fds ").expect("fds") > 2.0);
    assert!(sample_value(&text, "process_start_time_seconds ").expect("start") > 1.7e9);
    assert_eq!(
        sample_value(
            &text,
            "tandem_http_requests_total{handler=\"/-/ready\",code=\"200\"}"
        )
        .map(|v| v >= 1.0),
        Some(true)
    );
    assert!(
        text.contains(
            "tandem_http_request_duration_seconds_bucket{le=\"0.001\",handler=\"/-/ready\"}"
        ),
        "{text}"
    );

    let check = std::process::Command::new(common::BIN)
        .arg("check")
        .arg(&instance.config_dir)
        .output()
        .expect("tandem check");
    let stdout = String::from_utf8_lossy(&check.stdout);
    let hash = stdout.trim().rsplit(' ').next().expect("hash").to_string();
    assert!(stdout.starts_with("ok: 1 files, config "), "{stdout}");
    assert_eq!(
        sample_value(&text, &format!("tandem_config_info{{hash=\"{hash}\"}}")),
        Some(1.0),
        "{text}"
    );

    let page = client.get(instance.url("/")).send().expect("overview");
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().expect("html");
    assert!(
        html.contains(&format!("<dd id=\"version\">{version} (")),
        "{html}"
    );
    assert!(
        html.contains(&format!("<code id=\"config-hash\">{hash}</code>")),
        "{html}"
    );
    assert!(html.contains("<span class=\"ok\">applied</span>"), "{html}");
    assert!(html.contains("href=\"/assets/tandem.css\""), "{html}");

    let css = client
        .get(instance.url("/assets/tandem.css"))
        .send()
        .expect("css");
    assert_eq!(css.headers()["content-type"], "text/css");
    assert!(css.text().expect("css body").contains("--accent"));
    let missing = client
        .get(instance.url("/no/such/page"))
        .send()
        .expect("404");
    assert_eq!(missing.status(), 404);

    let started = Instant::now();
    instance.signal(libc::SIGTERM);
    let status = instance
        .wait_exit(Duration::from_secs(10))
        .expect("exits within 10 s of SIGTERM");
    assert!(
        status.success(),
        "exit status {status}; stderr:\n{}",
        instance.stderr()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        instance.stderr().contains("stopped"),
        "{}",
        instance.stderr()
    );
}

#[test]
fn sigint_also_stops_cleanly() {
    let mut instance = Instance::start("");
    instance.signal(libc::SIGINT);
    let status = instance.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(status.success(), "{}", instance.stderr());
}

#[test]
fn invalid_config_refuses_to_start_with_positions() {
    let mut instance = Instance::spawn(&Start {
        tandem_toml: "[server]\nlisen = \"x\"\n\n[log]\nlevel = \"loud\"\n",
        ..Start::default()
    });
    let status = instance.wait_exit(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(1));
    let stderr = instance.stderr();
    assert!(
        stderr.contains("tandem.toml:2:1: unknown key `lisen` in [server], did you mean `listen`?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("tandem.toml:5:9: log.level: unknown value `loud`"),
        "{stderr}"
    );
    // Each diagnostic once (not repeated as the error's cause).
    assert_eq!(stderr.matches("tandem.toml:2:1:").count(), 1, "{stderr}");
}

#[test]
fn non_loopback_listen_without_auth_is_refused() {
    let temp = tempfile::tempdir().expect("temp");
    common::write(&temp.path().join("config/tandem.toml"), "");
    let output = std::process::Command::new(common::BIN)
        .args(["serve", "--listen", "0.0.0.0:0", "--config"])
        .arg(temp.path().join("config"))
        .arg("--data")
        .arg(temp.path().join("data"))
        .output()
        .expect("run tandem");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .contains("0.0.0.0:0 is reachable from other hosts but [auth] has no users or tokens"),
        "{stderr}"
    );
    assert!(stderr.contains("allow_unauthenticated = true"), "{stderr}");
}

#[test]
fn a_second_instance_on_the_same_data_dir_is_refused() {
    let first = Instance::start("");
    let output = std::process::Command::new(common::BIN)
        .arg("serve")
        .arg("--config")
        .arg(&first.config_dir)
        .arg("--data")
        .arg(&first.data_dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", common::free_port()))
        .output()
        .expect("run tandem");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is in use by another tandem process"),
        "{stderr}"
    );
}

#[test]
fn request_bodies_over_the_limit_are_refused() {
    let instance = Instance::start("[server]\nrequest_body_bytes_max = \"1KiB\"\n");
    let client = client();
    let response = client
        .post(instance.url("/-/reload"))
        .body(vec![b'x'; 2048])
        .send()
        .expect("post");
    assert_eq!(response.status(), 413);
    assert!(
        response
            .text()
            .expect("body")
            .contains("request body is 2048 bytes, limit is 1024")
    );
    let small = client
        .post(instance.url("/-/reload"))
        .body(vec![b'x'; 10])
        .send()
        .expect("post");
    assert_eq!(small.status(), 200);
}

#[test]
fn cross_site_posts_are_refused() {
    let instance = Instance::start("");
    let client = client();
    let refused = client
        .post(instance.url("/-/reload"))
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .expect("post");
    assert_eq!(refused.status(), 403);
    let foreign_origin = client
        .post(instance.url("/-/reload"))
        .header("Origin", "http://evil.example")
        .send()
        .expect("post");
    assert_eq!(foreign_origin.status(), 403);
    let same_origin = client
        .post(instance.url("/-/reload"))
        .header("Origin", instance.base_url.clone())
        .send()
        .expect("post");
    assert_eq!(same_origin.status(), 200);
}

#[test]
fn version_and_check_commands() {
    let output = std::process::Command::new(common::BIN)
        .arg("version")
        .output()
        .expect("version");
    assert!(output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .starts_with(&format!("tandem {}", env!("CARGO_PKG_VERSION")))
    );
    let bad = std::process::Command::new(common::BIN)
        .args([
            "check",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/config/many-errors.bad"
            ),
        ])
        .output()
        .expect("check");
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.trim_end().ends_with("6 errors"), "{stderr}");
}

/// What the Debian package ships beside the binary comes from the binary: a man page
/// covering every command, and completions for three shells.
#[test]
fn man_page_and_completions_cover_every_command() {
    let run = |args: &[&str]| {
        let output = std::process::Command::new(common::BIN)
            .args(args)
            .output()
            .expect("runs");
        assert!(output.status.success(), "{args:?}");
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let man = run(&["man"]);
    assert!(man.contains(".TH tandem 1"), "{man}");
    for command in [
        "SERVE",
        "CHECK",
        "RELOAD",
        "IMPORT",
        "QUERY",
        "SILENCE",
        "PAIR",
        "COMPLETIONS",
    ] {
        assert!(
            man.contains(&format!(".SH \"TANDEM {command}\"")),
            "{command}"
        );
    }
    assert!(
        man.contains("\\fB\\-\\-peer\\-url\\fR"),
        "pair's options are listed"
    );
    assert!(run(&["completions", "bash"]).contains("_tandem()"));
    assert!(run(&["completions", "zsh"]).starts_with("#compdef tandem"));
    assert!(run(&["completions", "fish"]).contains("complete -c tandem"));
}
