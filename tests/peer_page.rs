//! The peer page (`/peer`) and the overview's peer section on a running tandem: the
//! pairing help without `[[peer]]`; with one, what its `tandem_peer_*` series say
//! (imported with explicit timestamps, as the receiving side would have written them)
//! beside this instance's own figures, the heartbeat chart, and the peer's alerts; and
//! the state a peer that never answers reaches by itself.

mod common;

use common::{Instance, Start, client, eventually};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// The HTML of the table row labelled `label` (from its header to `</tr>`).
fn row<'h>(html: &'h str, label: &str) -> &'h str {
    let header = format!(r#"<th scope="row">{label}</th>"#);
    let start = html
        .find(&header)
        .unwrap_or_else(|| panic!("no row {label:?} in:\n{html}"));
    let end = html[start..]
        .find("</tr>")
        .map_or(html.len(), |end| start + end);
    &html[start..end]
}

/// Instance "a" paired with "b" at a closed port, heartbeats every `interval`. The
/// secret lives outside the config directory because the config check refuses a
/// secret file others can read, and the test helper writes files with the umask's mode.
fn paired(interval: &str, extra_files: &[(&str, &str)]) -> (Instance, tempfile::TempDir) {
    let secrets = tempfile::tempdir().expect("temp dir");
    let secret = secrets.path().join("peer-b.secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").expect("write secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let tandem_toml = format!(
        r#"
[server]
name = "a"

[[peer]]
name = "b"
url = "http://127.0.0.1:1"
secret_file = "{}"
interval = "{interval}"
"#,
        secret.display()
    );
    let instance = Instance::start_with(Start {
        tandem_toml: &tandem_toml,
        extra_files,
        ..Start::default()
    });
    (instance, secrets)
}

/// Imports `series` (name with labels, value) at now - 10 s, now - 5 s and now;
/// `{t}` in a value is the sample's time in Unix seconds.
fn import(instance: &Instance, series: &[(&str, &str)]) {
    let now = now_ms();
    let mut body = String::new();
    for t in [now - 10_000, now - 5_000, now] {
        for (name, value) in series {
            let value = value.replace("{t}", &format!("{}", t as f64 / 1000.0));
            body.push_str(&format!("{name} {value} {t}\n"));
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

#[test]
fn without_a_peer_the_page_explains_pairing() {
    let instance = Instance::start("[server]\nname = \"a\"\n");
    let html = instance.page("/peer");
    assert!(html.contains("<h1>Peer</h1>"), "{html}");
    assert!(
        html.contains(r#"<a href="/peer" aria-current="page">Peer</a>"#),
        "{html}"
    );
    assert!(html.contains("No peer configured."), "{html}");
    assert!(
        html.contains("<pre><code>tandem pair --name NAME --peer-url URL</code></pre>"),
        "{html}"
    );
    assert!(
        html.contains("To pair this instance (a) with another"),
        "{html}"
    );
    let overview = instance.page("/");
    assert!(
        overview.contains(
            r#"<p class="muted">No peer configured. <a href="/peer">Pair this instance</a>"#
        ),
        "{overview}"
    );
}

#[test]
fn a_peer_that_reports_shows_beside_this_instance() {
    // A long interval: the watchdog's own writes (up = 1 at start, 0 only after
    // 3 × 100 s of silence) do not overwrite the imported samples during the test.
    let (instance, _secrets) = paired("100s", &[]);
    let start_seconds = (now_ms() - 3 * 3600 * 1000) as f64 / 1000.0;
    let start = start_seconds.to_string();
    import(
        &instance,
        &[
            (r#"tandem_peer_up{peer="b"}"#, "1"),
            (
                r#"tandem_peer_last_heartbeat_timestamp_seconds{peer="b"}"#,
                "{t}",
            ),
            (r#"tandem_peer_clock_skew_seconds{peer="b"}"#, "0.25"),
            (r#"tandem_peer_heartbeat_interval_seconds{peer="b"}"#, "100"),
            (
                r#"tandem_peer_info{peer="b",version="9.9.9",config_hash="00000000deadbeef"}"#,
                "1",
            ),
            (
                r#"tandem_peer_reported_start_time_seconds{peer="b"}"#,
                &start,
            ),
            (
                r#"tandem_peer_reported_newest_sample_age_seconds{peer="b"}"#,
                "2",
            ),
            (
                r#"tandem_peer_reported_rule_evaluation_lag_seconds{peer="b"}"#,
                "0.5",
            ),
            (
                r#"tandem_peer_reported_notifications_failing{peer="b"}"#,
                "1",
            ),
            (
                r#"tandem_peer_reported_notification_failures_total{peer="b"}"#,
                "7",
            ),
            (
                r#"tandem_peer_reported_notification_error_info{peer="b",error="550 <ops@example.com> rejected"}"#,
                "1",
            ),
            (
                r#"tandem_peer_reported_storage_errors_total{peer="b"}"#,
                "0",
            ),
            (
                r#"tandem_peer_reported_disk_free_bytes{peer="b"}"#,
                "1073741824",
            ),
            (r#"tandem_peer_reported_disk_free_ratio{peer="b"}"#, "0.5"),
            (r#"tandem_peer_reported_wal_bytes{peer="b"}"#, "2097152"),
            (r#"tandem_peer_reported_firing_alerts{peer="b"}"#, "3"),
        ],
    );
    let html = instance.page("/peer?range=15m");
    assert!(
        html.contains(r#"<section class="peer" id="peer-b">"#),
        "{html}"
    );
    assert!(!html.contains("No heartbeat received yet"), "{html}");
    assert!(row(&html, "Version").contains("<td>9.9.9</td>"), "{html}");
    // This instance's hash is of its own files; the imported one differs.
    assert!(
        row(&html, "Config hash").contains(
            r#"<td class="differs">00000000deadbeef <strong class="marker">≠ differs</strong></td>"#
        ),
        "{html}"
    );
    assert!(row(&html, "Uptime").contains("<td>3h 0m<br>"), "{html}");
    let last_heartbeat = row(&html, "Last heartbeat");
    assert!(
        last_heartbeat.contains(r#"<td class="muted">n/a</td>"#),
        "{html}"
    );
    assert!(
        last_heartbeat.contains(r#" ago<br><span class="note">"#),
        "{html}"
    );
    assert!(
        row(&html, "State").contains(r#"<td class="ok">up</td>"#),
        "{html}"
    );
    assert!(
        row(&html, "Clock skew").contains("<td>250 ms<br>"),
        "{html}"
    );
    assert!(
        row(&html, "Newest sample age").contains("<td>2 s</td>"),
        "{html}"
    );
    assert!(
        row(&html, "Notifications failing").contains(
            r#"<td class="bad">1<br><span class="note">550 &#60;ops@example.com&#62; rejected</span></td>"#
        ),
        "{html}"
    );
    assert!(
        row(&html, "Disk free").contains("<td>1 GiB (50% free)</td>"),
        "{html}"
    );
    assert!(row(&html, "WAL").contains("<td>2 MiB</td>"), "{html}");
    assert!(
        row(&html, "Firing alerts").contains(r#"<td class="warn">3</td>"#),
        "{html}"
    );
    // The chart: the heartbeat age drawn as a series, the down threshold (3 × 100 s).
    assert!(html.contains("<h3>Heartbeat gaps, last 15m</h3>"), "{html}");
    assert!(html.contains("<svg"), "{html}");
    assert!(
        html.contains("<title>heartbeat age of b</title></path>"),
        "{html}"
    );
    assert!(html.contains("down after 5 min"), "{html}");
    assert!(html.contains(r#"<option value="15m" selected>"#), "{html}");

    let overview = instance.page("/");
    assert!(
        overview.contains(r#"<li id="peer-b"><a href="/peer#peer-b">b</a>: <span class="ok">up</span>, last heartbeat "#),
        "{overview}"
    );
    assert!(overview.contains(", 3 firing</li>"), "{overview}");
}

#[test]
fn a_peer_that_is_down_says_so_with_its_alert() {
    let rules = include_str!("../config/rules/peer.toml");
    let (instance, _secrets) = paired("100s", &[("rules/peer.toml", rules)]);
    let last_heartbeat = ((now_ms() - 130_000) as f64 / 1000.0).to_string();
    import(
        &instance,
        &[
            (r#"tandem_peer_up{peer="b"}"#, "0"),
            (
                r#"tandem_peer_last_heartbeat_timestamp_seconds{peer="b"}"#,
                &last_heartbeat,
            ),
            (
                r#"tandem_peer_info{peer="b",version="9.9.9",config_hash="00000000deadbeef"}"#,
                "1",
            ),
        ],
    );
    // PeerDown (tandem_peer_up == 0) fires from the imported sample.
    assert!(
        eventually(Duration::from_secs(30), || {
            instance
                .page("/peer")
                .contains(r#"<a href="/alerts#alerts" class="bad">PeerDown</a>"#)
        }),
        "PeerDown never listed:\n{}",
        instance.page("/peer")
    );
    let html = instance.page("/peer");
    assert!(
        row(&html, "State").contains(r#"<td class="bad">down</td>"#),
        "{html}"
    );
    assert!(html.contains("No heartbeat from b for 2m "), "{html}");
    assert!(
        html.contains("the figures below are from its last one"),
        "{html}"
    );
    // Its last known version still shows.
    assert!(row(&html, "Version").contains("<td>9.9.9</td>"), "{html}");
    // Our first heartbeat to the closed port failed; it is not unreachable yet.
    assert!(
        row(&html, "Our heartbeats to it").contains("reachable, last heartbeat failed"),
        "{html}"
    );
    assert!(
        row(&html, "Our heartbeats to it").contains("cannot connect"),
        "{html}"
    );
    // The shaded interval where PeerDown fired.
    assert!(
        html.contains(
            r#"<title>PeerDown firing {peer=&quot;b&quot;, severity=&quot;page&quot;}</title>"#
        ),
        "{html}"
    );
    let overview = instance.page("/");
    assert!(
        overview.contains(
            r#"<a href="/peer#peer-b">b</a>: <span class="bad">down</span>, last heartbeat 2"#
        ),
        "{overview}"
    );
}

#[test]
fn a_peer_that_never_answers_becomes_down_and_unreachable() {
    // Every second, to a closed port: after 3 intervals the watchdog writes
    // tandem_peer_up 0 and the sender tandem_peer_reachable 0.
    let (instance, _secrets) = paired("1s", &[]);
    assert!(
        eventually(Duration::from_secs(20), || {
            let overview = instance.page("/");
            overview.contains(r#"<span class="bad">down</span>, no heartbeat yet, <span class="bad">unreachable</span></li>"#)
        }),
        "{}",
        instance.page("/")
    );
    let html = instance.page("/peer");
    assert!(html.contains("No heartbeat received yet from b."), "{html}");
    assert!(
        row(&html, "State").contains(r#"<td class="bad">down</td>"#),
        "{html}"
    );
    let delivery = row(&html, "Our heartbeats to it");
    assert!(
        delivery.contains(r#"<td class="bad">unreachable<br><span class="note">cannot connect"#),
        "{html}"
    );
    assert!(row(&html, "Version").contains("<td>—</td>"), "{html}");
    assert!(
        row(&html, "Last heartbeat").contains(r#"<td class="warn">none yet</td>"#),
        "{html}"
    );
    // No heartbeat yet, so no heartbeat age to draw.
    assert!(
        !html.contains("<title>heartbeat age of b</title></path>"),
        "{html}"
    );
}
