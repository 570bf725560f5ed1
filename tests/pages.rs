//! The explore, targets and storage pages of a running tandem with data: status, and
//! the content that matters (a graph, a threshold, a parse error's position, a down
//! target's error, tiers).

mod common;

use common::{Instance, Start, client};
use std::time::Duration;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

const RULES: &str = r#"
[[group]]
name = "temperature"
interval = "1h"
[[group.alert]]
alert = "Hot"
expr = 'temp > 50'
"#;

fn instance_with_data() -> Instance {
    let instance = Instance::start_with(Start {
        tandem_toml: "[[scrape]]\njob = \"gone\"\ntargets = [\"127.0.0.1:1\"]\ninterval = \"1s\"\n",
        extra_files: &[("rules/temperature.toml", RULES)],
        ..Start::default()
    });
    // Twenty minutes of a temperature rising through the threshold.
    let now = now_ms();
    let mut body = String::new();
    for minute in 0..=20 {
        let t = now - (20 - minute) * 60_000;
        body.push_str(&format!("temp{{room=\"lab\"}} {} {t}\n", 40 + minute));
    }
    let response = client()
        .post(instance.url("/api/v1/import/prometheus"))
        .body(body)
        .send()
        .expect("import");
    assert_eq!(response.status(), 200);
    assert!(common::eventually(Duration::from_secs(10), || {
        !instance.query_result("ALERTS").is_empty()
    }));
    instance
}

#[test]
fn explore_graphs_the_expression_with_its_threshold_and_table() {
    let instance = instance_with_data();
    let html = instance.page("/explore?expr=temp+%3E+50&alertname=Hot&range=1h");
    assert!(html.contains("<svg"), "{html}");
    assert!(
        html.contains("Graph of <code>temp</code>, threshold <code>50</code> drawn"),
        "{html}"
    );
    assert!(html.contains("shaded where Hot fired"), "{html}");
    // The firing interval, read from ALERTS, is drawn as a band; the threshold as a line.
    assert!(
        html.contains(r#"<title>Hot firing {room=&quot;lab&quot;}</title></rect>"#),
        "{html}"
    );
    assert!(html.contains("threshold 50"), "{html}");
    // The table is the instant result of the whole expression.
    assert!(
        html.contains(r#"<code>temp{room=&quot;lab&quot;}</code>"#)
            || html.contains("temp{room=&#34;lab&#34;}"),
        "{html}"
    );
    assert!(html.contains(">60<"), "{html}");
    assert!(html.contains("served by raw"), "{html}");
    // The legend lists the series.
    assert!(html.contains("class=\"legend\""), "{html}");
}

#[test]
fn explore_shows_a_parse_error_at_its_position() {
    let instance = Instance::start("");
    let html = instance.page("/explore?expr=sum%28rate%28x%5B5m%5D%29");
    assert!(html.contains("Parse error at 1:"), "{html}");
    assert!(html.contains("sum(rate(x[5m])\n"), "{html}");
    assert!(!html.contains("<svg"), "no graph for a broken query");
}

#[test]
fn targets_and_storage_pages_show_health_and_tiers() {
    let instance = instance_with_data();
    assert!(common::eventually(Duration::from_secs(10), || {
        instance.page("/targets").contains("Connection refused")
    }));
    let html = instance.page("/targets");
    assert!(html.contains("0 of 1 scrape targets up"), "{html}");
    assert!(html.contains("http://127.0.0.1:1/metrics"), "{html}");
    assert!(html.contains(r#"<span class="bad">down</span>"#), "{html}");
    let html = instance.page("/storage");
    assert!(html.contains("<td>raw</td>"), "{html}");
    assert!(
        html.contains("<td>1m</td>") && html.contains("<td>1h</td>"),
        "{html}"
    );
    assert!(
        html.contains(r#"<a href="/explore?expr=temp">temp</a>"#),
        "{html}"
    );
}

/// The silences page creates and expires silences through forms that carry a CSRF
/// token matching their cookie; a form without it is refused.
#[test]
fn silences_are_created_and_expired_from_the_page() {
    let instance = Instance::start("");
    let no_redirects = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = no_redirects
        .get(instance.url("/silences"))
        .send()
        .expect("GET");
    assert_eq!(response.status(), 200);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .expect("a CSRF cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("name=value").to_string();
    let token = pair.trim_start_matches("tandem_csrf=").to_string();
    let html = response.text().expect("body");
    assert!(
        html.contains(&format!(r#"name="csrf" value="{token}""#)),
        "{html}"
    );

    let form = |csrf: &str| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", csrf)
            .append_pair("matchers", "alertname=\"DiskFull\"\ninstance=~\"db-.*\"")
            .append_pair("duration", "2h")
            .append_pair("comment", "disk swap")
            .append_pair("author", "ana")
            .finish()
    };
    let post = |body: String| {
        no_redirects
            .post(instance.url("/silences"))
            .header("cookie", &pair)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .expect("POST")
    };
    assert_eq!(
        post(form("0123456789abcdef0123456789abcdef")).status(),
        403,
        "wrong token"
    );
    assert_eq!(post(form("")).status(), 403, "no token");
    let created = post(form(&token));
    assert_eq!(created.status(), 303);
    let location = created
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .expect("redirect")
        .to_string();
    let id = location
        .trim_start_matches("/silences?created=")
        .to_string();
    let html = instance.page(&location);
    assert!(html.contains(&format!("Silence {id} created.")), "{html}");
    assert!(
        html.contains("disk swap") && html.contains("<td>ana</td>"),
        "{html}"
    );
    assert!(
        html.contains("instance=~&#34;db-.*&#34;") || html.contains("instance=~&quot;db-.*&quot;"),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"action="/silences/{id}/expire""#)),
        "{html}"
    );

    let expired = no_redirects
        .post(instance.url(&format!("/silences/{id}/expire")))
        .header("cookie", &pair)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}"))
        .send()
        .expect("POST expire");
    assert_eq!(expired.status(), 303);
    let listed: serde_json::Value = client()
        .get(instance.url("/api/v1/silences"))
        .send()
        .expect("GET api")
        .json()
        .expect("JSON");
    let silence = listed["data"]
        .as_array()
        .and_then(|all| all.iter().find(|one| one["id"] == id.as_str()).cloned())
        .expect("listed");
    assert_eq!(silence["status"], "expired", "{silence}");
}

/// The overview shows each key metric's value in its unit with its health, and the
/// firing alerts linked to their graphs.
#[test]
fn the_overview_shows_key_metrics_and_firing_alerts() {
    let instance = Instance::start_with(Start {
        tandem_toml: r#"
[[overview.key_metric]]
title = "Lab temperature ratio"
expr = 'max(temp) / 100'
unit = "percentunit"
healthy_below = 0.5
"#,
        extra_files: &[("rules/temperature.toml", RULES)],
        ..Start::default()
    });
    let response = client()
        .post(instance.url("/api/v1/import/prometheus"))
        .body(format!("temp{{room=\"lab\"}} 60 {}\n", now_ms()))
        .send()
        .expect("import");
    assert_eq!(response.status(), 200);
    assert!(common::eventually(Duration::from_secs(10), || {
        !instance.query_result("ALERTS").is_empty()
    }));
    let html = instance.page("/");
    assert!(html.contains("Lab temperature ratio"), "{html}");
    assert!(
        html.contains(r#"<span class="bad">60%</span>"#),
        "unhealthy above 50%: {html}"
    );
    assert!(html.contains("healthy below 50%"), "{html}");
    assert!(
        html.contains(r#"<a href="http://127.0.0.1:"#)
            && html.contains("/explore?expr=temp+%3E+50&#38;alertname=Hot"),
        "{html}"
    );
    assert!(!html.contains("Nothing firing."), "{html}");
}

/// Explore's live tail streams the expression's value as Server-Sent Events.
#[test]
fn the_live_tail_streams_values_as_server_sent_events() {
    use std::io::Read;
    let instance = Instance::start("");
    let response = client()
        .post(instance.url("/api/v1/import/prometheus"))
        .body(format!("temp{{room=\"lab\"}} 21.5 {}\n", now_ms()))
        .send()
        .expect("import");
    assert_eq!(response.status(), 200);
    let bad = client()
        .get(instance.url("/explore/live?expr=sum("))
        .send()
        .expect("GET");
    assert_eq!(bad.status(), 400);
    let mut response = client()
        .get(instance.url("/explore/live?expr=temp"))
        .send()
        .expect("GET live");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok()),
        Some("text/event-stream")
    );
    // Two events: the stream keeps going.
    let mut text = String::new();
    let mut buffer = [0u8; 4096];
    while text.matches("\n\n").count() < 2 {
        let read = response.read(&mut buffer).expect("read the stream");
        assert!(read > 0, "the stream ended: {text}");
        text.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
    let first = text.split("\n\n").next().expect("an event");
    let data = first.strip_prefix("data: ").expect("a data line");
    let event: serde_json::Value = serde_json::from_str(data).expect("JSON");
    assert_eq!(event["series"][0]["name"], "temp{room=\"lab\"}", "{event}");
    assert_eq!(event["series"][0]["v"], 21.5);
    assert_eq!(event["series"][0]["text"], "21.5");
    assert!(event["t"].as_i64().is_some_and(|t| t > 0));
}

/// The config page says whether the files are valid, and its reload button comes back
/// to it with the result.
#[test]
fn the_config_page_reloads_and_shows_the_result() {
    let instance = Instance::start("");
    let html = instance.page("/config");
    assert!(html.contains("the running config is valid"), "{html}");
    instance.write_config(
        "rules/broken.toml",
        "[[group]]\nname = \"g\"\n[[group.alert]]\nalert = \"A\"\nexpr = 'up >'\n",
    );
    let no_redirects = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = no_redirects
        .post(instance.url("/config/reload"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("return=%2Fconfig")
        .send()
        .expect("POST");
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/config");
    let html = instance.page("/config");
    assert!(
        html.contains(r#"<span class="bad">rejected</span>"#),
        "{html}"
    );
    assert!(html.contains("rules/broken.toml:5:"), "{html}");
    // Elsewhere than tandem's pages is not a place to return to.
    let response = no_redirects
        .post(instance.url("/config/reload"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("return=https%3A%2F%2Fevil.example%2F")
        .send()
        .expect("POST");
    assert_eq!(response.headers()["location"], "/");
}
