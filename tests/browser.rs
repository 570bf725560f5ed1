//! Every page in a real browser: headless Chromium driven through chromedriver's W3C
//! WebDriver HTTP API loads each page of a tandem with data, with no console errors
//! and no failed requests, draws its charts, runs an Explore query typed into the
//! form, and works with JavaScript disabled (including the silence form's CSRF
//! cookie and token). Screenshots of each page go to `target/screenshots/`.

mod common;

use common::{Instance, Running, Start, client, eventually, free_port, wait_for_port};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RULES: &str = r#"
[[group]]
name = "temperature"
interval = "1h"

[[group.alert]]
alert = "Hot"
expr = 'temp > 50'
labels = { severity = "page" }
annotations = { summary = "{{ $labels.room }} is at {{ $value }} degrees" }
"#;

const SILENCE: &str = r#"
[[silence]]
matchers = ['alertname="Hot"']
comment = "lab maintenance"
created_by = "ops"
"#;

const TANDEM_TOML: &str = r#"
[[overview.key_metric]]
title = "Lab temperature ratio"
expr = 'max(temp) / 100'
unit = "percentunit"
healthy_below = 0.5
"#;

/// The W3C key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// 30 minutes of data at 15 s: `temp{room="lab"}` rising from 20 through 50 to 80,
/// and the node_exporter series the Host dashboard reads, for instance "h1".
fn samples() -> String {
    let end = now_ms();
    let steps = 120;
    let mut out = String::new();
    let mut series = |name: &str, labels: &str, value: &dyn Fn(i64) -> f64| {
        for step in 0..=steps {
            let timestamp = end - (steps - step) * 15_000;
            let labels = if labels.is_empty() {
                r#"job="node",instance="h1""#.to_string()
            } else {
                format!(r#"job="node",instance="h1",{labels}"#)
            };
            out.push_str(&format!("{name}{{{labels}}} {} {timestamp}\n", value(step)));
        }
    };
    let boot = (end / 1000 - 86_400) as f64;
    series("node_uname_info", r#"nodename="h1""#, &|_| 1.0);
    series("node_time_seconds", "", &|step| {
        (end / 1000 - (steps - step) * 15) as f64
    });
    series("node_boot_time_seconds", "", &|_| boot);
    for cpu in ["0", "1"] {
        for (mode, share) in [("idle", 0.7), ("user", 0.2), ("system", 0.1)] {
            series(
                "node_cpu_seconds_total",
                &format!(r#"cpu="{cpu}",mode="{mode}""#),
                &move |step| 1000.0 + step as f64 * 15.0 * share,
            );
        }
    }
    series("node_memory_MemTotal_bytes", "", &|_| 8e9);
    series("node_memory_MemAvailable_bytes", "", &|step| {
        5e9 - step as f64 * 1e7
    });
    series("node_memory_SwapTotal_bytes", "", &|_| 2e9);
    series("node_memory_SwapFree_bytes", "", &|_| 1.5e9);
    series("node_load1", "", &|step| 0.5 + (step % 10) as f64 / 10.0);
    series("node_load5", "", &|_| 0.8);
    series("node_load15", "", &|_| 0.7);
    let filesystem = r#"mountpoint="/",device="/dev/sda1",fstype="ext4""#;
    series("node_filesystem_size_bytes", filesystem, &|_| 1e11);
    series("node_filesystem_avail_bytes", filesystem, &|step| {
        6e10 - step as f64 * 1e6
    });
    series(
        "node_network_receive_bytes_total",
        r#"device="eth0""#,
        &|step| step as f64 * 15e5,
    );
    series(
        "node_network_transmit_bytes_total",
        r#"device="eth0""#,
        &|step| step as f64 * 5e5,
    );
    series("node_procs_running", "", &|step| (2 + step % 3) as f64);
    for step in 0..=steps {
        let timestamp = end - (steps - step) * 15_000;
        out.push_str(&format!(
            "temp{{room=\"lab\"}} {} {timestamp}\n",
            20.0 + step as f64 * 0.5
        ));
    }
    out
}

/// An SLO over the sample data (CPU time: 70 % idle), so the SLO pages have charts.
const SLO: &str = r#"
[[slo]]
name = "cpu-idle"
description = "CPU time spent idle"
objective = 50
window = "1d"
good = 'node_cpu_seconds_total{mode="idle"}'
total = 'node_cpu_seconds_total'
"#;

/// tandem with the rules, a file silence, a key metric, an SLO, both shipped
/// dashboards and 30 minutes of data, once `Hot` fires.
fn tandem() -> Instance {
    let instance = Instance::start_with(Start {
        tandem_toml: TANDEM_TOML,
        extra_files: &[
            ("rules/temperature.toml", RULES),
            ("silences/lab.toml", SILENCE),
            ("slos/cpu.toml", SLO),
            (
                "dashboards/host.toml",
                include_str!("../config/dashboards/host.toml"),
            ),
            (
                "dashboards/tandem.toml",
                include_str!("../config/dashboards/tandem.toml"),
            ),
        ],
        ..Start::default()
    });
    let response = client()
        .post(instance.url("/api/v1/import/prometheus"))
        .body(samples())
        .send()
        .expect("import");
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().unwrap_or_default()
    );
    assert!(
        eventually(Duration::from_secs(10), || !instance
            .query_result("ALERTS")
            .is_empty()),
        "Hot never fired; stderr:\n{}",
        instance.stderr()
    );
    instance
}

/// chromedriver on a free port, in its own process group so that the Chromium it
/// starts is killed with it, however the test ends.
struct Driver {
    base: String,
    http: reqwest::blocking::Client,
    process: Option<Running>,
}

impl Driver {
    /// `None` (the test skips) when chromedriver or Chromium is missing outside CI.
    fn start() -> Option<Driver> {
        if !common::required(&[
            ("chromedriver", "chromium-driver"),
            ("chromium", "chromium"),
        ]) {
            return None;
        }
        use std::os::unix::process::CommandExt;
        common::install_crypto_provider();
        let port = free_port();
        // Held from the start, so that chromedriver is killed if what follows panics.
        let process = Running(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("spawn chromedriver"),
        );
        let driver = Driver {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
            process: Some(process),
        };
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "chromedriver did not listen"
        );
        Some(driver)
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .unwrap_or_else(|error| panic!("{method} {path}: {error}"));
        let status = response.status();
        let body: Value = response.json().expect("a JSON WebDriver answer");
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body["value"].clone()
    }

    /// A new Chromium session; with `javascript` false, Chromium runs no page script.
    fn session(&self, javascript: bool) -> Session<'_> {
        let mut chrome = json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"],
        });
        if !javascript {
            chrome["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": chrome,
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
        }}});
        let value = self.call(reqwest::Method::POST, "/session", Some(capabilities));
        let id = value["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        Session { driver: self, id }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            let pid = i32::try_from(process.0.id()).expect("pid fits in i32");
            // SAFETY: kill(2) on the process group of a child we spawned as its leader.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            drop(process);
        }
    }
}

/// A WebDriver session, deleted (Chromium quits) when dropped.
struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

/// A problem seen while loading a page: a console error or a failed request.
type Problems = Vec<String>;

impl Session<'_> {
    fn get(&self, path: &str) -> Value {
        self.driver.call(
            reqwest::Method::GET,
            &format!("/session/{}{path}", self.id),
            None,
        )
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.driver.call(
            reqwest::Method::POST,
            &format!("/session/{}{path}", self.id),
            Some(body),
        )
    }

    fn navigate(&self, url: &str) {
        self.post("/url", json!({"url": url}));
        self.wait_loaded();
    }

    /// Waits for `document.readyState == "complete"` (WebDriver's scripts run even
    /// when the page's own JavaScript is disabled).
    fn wait_loaded(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let state = self.script("return document.readyState", json!([]));
            if state == "complete" {
                return;
            }
            assert!(Instant::now() < deadline, "page never completed: {state}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn script(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
    }

    fn current_url(&self) -> String {
        self.get("/url").as_str().unwrap_or_default().to_string()
    }

    fn find_all(&self, css: &str) -> Vec<String> {
        self.post("/elements", json!({"using": "css selector", "value": css}))
            .as_array()
            .expect("an element array")
            .iter()
            .map(|element| element[ELEMENT].as_str().expect("element id").to_string())
            .collect()
    }

    fn find(&self, css: &str) -> String {
        let found = self.find_all(css);
        assert!(!found.is_empty(), "no {css} on {}", self.current_url());
        found[0].clone()
    }

    fn attribute(&self, element: &str, name: &str) -> Option<String> {
        self.get(&format!("/element/{element}/attribute/{name}"))
            .as_str()
            .map(str::to_string)
    }

    fn text(&self, element: &str) -> String {
        self.get(&format!("/element/{element}/text"))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.post(&format!("/element/{element}/clear"), json!({}));
        self.post(&format!("/element/{element}/value"), json!({"text": text}));
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.post(&format!("/element/{element}/click"), json!({}));
    }

    /// Whether an `svg path` with a non-empty `d` is on the page.
    fn has_drawn_path(&self) -> bool {
        self.find_all("svg path").iter().any(|path| {
            self.attribute(path, "d")
                .is_some_and(|d| !d.trim().is_empty())
        })
    }

    fn log(&self, kind: &str) -> Vec<Value> {
        self.post("/se/log", json!({"type": kind}))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Console entries at SEVERE and requests that failed or answered 4xx/5xx since
    /// the last call (reading the logs empties them), and the URLs requested.
    fn problems(&self) -> (Problems, Vec<String>) {
        let mut problems: Problems = self
            .log("browser")
            .iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| format!("console: {}", entry["message"]))
            .collect();
        let mut urls: HashMap<String, String> = HashMap::new();
        let mut requested = Vec::new();
        for entry in self.log("performance") {
            let Ok(message) =
                serde_json::from_str::<Value>(entry["message"].as_str().unwrap_or_default())
            else {
                continue;
            };
            let params = &message["message"]["params"];
            match message["message"]["method"].as_str().unwrap_or_default() {
                "Network.requestWillBeSent" => {
                    let url = params["request"]["url"].as_str().unwrap_or_default();
                    urls.insert(
                        params["requestId"].as_str().unwrap_or_default().to_string(),
                        url.to_string(),
                    );
                    requested.push(url.to_string());
                }
                "Network.responseReceived" => {
                    let status = params["response"]["status"].as_f64().unwrap_or(0.0);
                    if status >= 400.0 {
                        problems.push(format!(
                            "HTTP {status}: {}",
                            params["response"]["url"].as_str().unwrap_or_default()
                        ));
                    }
                }
                "Network.loadingFailed" => {
                    let id = params["requestId"].as_str().unwrap_or_default();
                    problems.push(format!(
                        "request failed ({}): {}",
                        params["errorText"].as_str().unwrap_or_default(),
                        urls.get(id).map_or("(unknown URL)", String::as_str)
                    ));
                }
                _ => {}
            }
        }
        (problems, requested)
    }

    /// The whole page (up to 6000 px tall) as PNG in `target/screenshots/<name>.png`.
    fn screenshot(&self, name: &str) {
        use base64::Engine;
        // The window's height is the page's plus whatever the window takes itself.
        let height = self
            .script(
                "return document.documentElement.scrollHeight \
                 + window.outerHeight - window.innerHeight",
                json!([]),
            )
            .as_f64()
            .unwrap_or(900.0)
            .clamp(900.0, 6000.0);
        self.post("/window/rect", json!({"width": 1280, "height": height}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(self.get("/screenshot").as_str().expect("base64 PNG"))
            .expect("valid base64");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("create target/screenshots");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
        self.post("/window/rect", json!({"width": 1280, "height": 900}));
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self
            .driver
            .http
            .delete(format!("{}/session/{}", self.driver.base, self.id))
            .send();
    }
}

/// Every page, with JavaScript: no console error, no failed request, a heading,
/// drawn charts where there are charts, and the stylesheet and script loaded.
#[test]
fn every_page_loads_cleanly_in_chromium() {
    let started = Instant::now();
    let Some(driver) = Driver::start() else {
        return;
    };
    let instance = tandem();
    let session = driver.session(true);
    let _ = session.problems(); // whatever the new tab logged before our first page
    let pages = [
        ("overview", "/", true),
        ("dashboards", "/dashboards", false),
        ("dashboards-host", "/dashboards/host", true),
        ("dashboards-tandem", "/dashboards/tandem", false),
        (
            "explore-alert",
            "/explore?expr=temp%20%3E%2050&alertname=Hot",
            true,
        ),
        ("alerts", "/alerts", false),
        ("silences", "/silences", false),
        ("targets", "/targets", false),
        ("peer", "/peer", false),
        ("slos", "/slos", false),
        ("slo", "/slos/cpu-idle", true),
        ("storage", "/storage", false),
        ("config", "/config", false),
    ];
    let mut all_problems = Vec::new();
    for (name, path, charts) in pages {
        session.navigate(&instance.url(path));
        let heading = session.find("h1");
        assert!(
            !session.text(&heading).trim().is_empty(),
            "{path}: an empty <h1>"
        );
        if charts {
            assert!(session.has_drawn_path(), "{path}: no svg path with a d");
        }
        session.screenshot(name);
        let (problems, requested) = session.problems();
        for asset in ["/assets/tandem.css", "/assets/tandem.js"] {
            assert!(
                requested.iter().any(|url| url.ends_with(asset)),
                "{path}: {asset} was not requested: {requested:?}"
            );
        }
        all_problems.extend(
            problems
                .into_iter()
                .map(|problem| format!("{path}: {problem}")),
        );
    }
    // The detector itself: a missing page is reported as a failed request, and
    // Chromium's console reports it too.
    session.navigate(&instance.url("/no-such-page"));
    let (problems, _) = session.problems();
    assert!(
        problems
            .iter()
            .any(|problem| problem.starts_with("HTTP 404")),
        "a 404 went unnoticed: {problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|problem| problem.starts_with("console:")),
        "no console error for a 404: {problems:?}"
    );
    assert!(
        all_problems.is_empty(),
        "console errors or failed requests:\n{}",
        all_problems.join("\n")
    );
    println!("every page checked in {:?}", started.elapsed());
}

/// A query typed into Explore's form and submitted renders a chart and a result.
#[test]
fn an_explore_query_typed_into_the_form_renders_a_chart() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let instance = tandem();
    let session = driver.session(true);
    session.navigate(&instance.url("/explore"));
    // Autocompletion: metric names, then label names inside the braces.
    session.type_into("#expr", "tem");
    assert!(
        eventually(Duration::from_secs(5), || session
            .find_all("#suggestions li")
            .iter()
            .any(|item| session.text(item) == "temp")),
        "no suggestion of the metric name"
    );
    session.type_into("#expr", "temp{ro");
    assert!(
        eventually(Duration::from_secs(5), || session
            .find_all("#suggestions li")
            .iter()
            .any(|item| session.text(item) == "room")),
        "no suggestion of the label name"
    );
    session.type_into("#expr", r#"temp{room="lab"}"#);
    session.click("form.explore button[type=submit]");
    assert!(
        eventually(Duration::from_secs(10), || session
            .current_url()
            .contains("expr=")),
        "the form did not navigate: {}",
        session.current_url()
    );
    session.wait_loaded();
    assert!(session.has_drawn_path(), "no svg path with a d");
    let result = session.find("#result");
    assert!(
        session.text(&result).contains("lab"),
        "{}",
        session.text(&result)
    );
    session.screenshot("explore-form");
    let (problems, _) = session.problems();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// With JavaScript off, pages render (charts are server-drawn SVG) and a silence is
/// created through the form: the CSRF cookie and token work in a real browser.
#[test]
fn pages_and_the_silence_form_work_without_javascript() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let instance = tandem();
    let session = driver.session(false);
    let _ = session.problems();
    for (name, path, svg) in [
        ("nojs-overview", "/", true),
        ("nojs-dashboards-host", "/dashboards/host", true),
        ("nojs-alerts", "/alerts", false),
        ("nojs-slo", "/slos/cpu-idle", true),
        ("nojs-explore", "/explore?expr=temp", true),
    ] {
        session.navigate(&instance.url(path));
        session.find("h1");
        if svg {
            assert!(session.has_drawn_path(), "{path}: no svg path with a d");
        }
        session.screenshot(name);
        let (problems, requested) = session.problems();
        assert!(problems.is_empty(), "{path}: {}", problems.join("\n"));
        assert!(
            !requested
                .iter()
                .any(|url| url.ends_with("/assets/tandem.js")),
            "{path}: JavaScript is off, yet the script was fetched: {requested:?}"
        );
    }

    session.navigate(&instance.url("/silences"));
    session.type_into("textarea[name=matchers]", r#"alertname="Hot""#);
    session.type_into("input[name=comment]", "browser test");
    session.click("form.silence button[type=submit]");
    assert!(
        eventually(Duration::from_secs(10), || session
            .current_url()
            .contains("created=")),
        "no redirect to the created silence: {}",
        session.current_url()
    );
    session.wait_loaded();
    let status = session.find("p.ok");
    assert!(
        session.text(&status).contains("created"),
        "{}",
        session.text(&status)
    );
    let table = session.find("#silences");
    assert!(
        session.text(&table).contains("browser test"),
        "{}",
        session.text(&table)
    );
    session.screenshot("nojs-silence-created");
    let (problems, _) = session.problems();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// At a phone's width (390 px) the pages fit: nothing makes the page scroll sideways
/// (wide tables scroll inside themselves, charts shrink, the navigation wraps).
#[test]
fn pages_fit_a_phone_screen() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let instance = tandem();
    let session = driver.session(true);
    // Chrome's device emulation (chromedriver's CDP endpoint): headless windows ignore
    // resizing below their --window-size.
    session.post(
        "/goog/cdp/execute",
        json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
            "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true,
        }}),
    );
    for (name, path) in [
        ("phone-overview", "/"),
        ("phone-dashboards-host", "/dashboards/host"),
        ("phone-alerts", "/alerts"),
        ("phone-peer", "/peer"),
        ("phone-explore", "/explore?expr=temp"),
    ] {
        session.navigate(&instance.url(path));
        session.wait_loaded();
        let width = session.script("return window.innerWidth", json!([]));
        assert_eq!(
            width.as_i64(),
            Some(390),
            "the emulated phone width took effect"
        );
        let overflow = session.script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            json!([]),
        );
        assert!(
            overflow.as_i64().is_some_and(|pixels| pixels <= 1),
            "{path} is {overflow} px wider than the screen"
        );
        session.screenshot(name);
    }
}
