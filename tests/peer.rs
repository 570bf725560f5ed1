//! Pairing end to end: two real tandem processes on loopback, configured from what
//! `tandem pair` prints, each with its own data directory and a real HTTP webhook
//! receiver, and the shipped rules/peer.toml. Short heartbeat intervals.

mod common;

use common::{BIN, HttpRecorder, RecordedRequest, client, eventually, free_port, write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PEER_RULES: &str = include_str!("../config/rules/peer.toml");

/// An always-firing rule, so that an instance has something to notify.
const ALWAYS_FIRING: &str = r#"
[[group]]
name = "always"
interval = "1s"
[[group.alert]]
alert = "Always"
expr = 'vector(1)'
"#;

/// One tandem process on a fixed port (restarts keep it, so its peer's URL holds).
struct Node {
    name: &'static str,
    port: u16,
    config_dir: PathBuf,
    data_dir: PathBuf,
    stderr: PathBuf,
    child: Option<Child>,
    webhook: HttpRecorder,
}

impl Node {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn start(&mut self) {
        let stderr = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.stderr)
            .expect("stderr file");
        let child = Command::new(BIN)
            .arg("serve")
            .arg("--config")
            .arg(&self.config_dir)
            .arg("--data")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn tandem");
        self.child = Some(child);
        let ready = eventually(Duration::from_secs(20), || {
            client()
                .get(self.url("/-/ready"))
                .send()
                .is_ok_and(|response| response.status() == 200)
        });
        assert!(ready, "{} did not start:\n{}", self.name, self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn signal(&self, signal: i32) {
        let child = self.child.as_ref().expect("running");
        let pid = i32::try_from(child.id()).expect("pid");
        // SAFETY: kill(2) on a child process we own.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let body: serde_json::Value = client()
            .get(format!(
                "{}?{}",
                self.url("/api/v1/query"),
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("query", promql)
                    .finish()
            ))
            .send()
            .expect("query")
            .json()
            .expect("json");
        assert_eq!(body["status"], "success", "{promql}: {body}");
        body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn reload(&self) {
        let response = client().post(self.url("/-/reload")).send().expect("reload");
        assert_eq!(
            response.status(),
            200,
            "{}",
            response.text().unwrap_or_default()
        );
    }

    /// The next webhook notification about `alertname` with `status` (firing or
    /// resolved), skipping others; `None` if none comes within `timeout`.
    fn notification(
        &self,
        alertname: &str,
        status: &str,
        timeout: Duration,
    ) -> Option<RecordedRequest> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let Some(request) = self.webhook_next(deadline) else {
                break;
            };
            let body = request.json();
            let about = body["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|alert| {
                    alert["labels"]["alertname"] == alertname && alert["status"] == status
                });
            if about {
                return Some(request);
            }
        }
        None
    }

    fn webhook_next(&self, deadline: Instant) -> Option<RecordedRequest> {
        while Instant::now() < deadline {
            if let Some(request) = self.webhook.try_next() {
                return Some(request);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    fn drain_webhook(&self) {
        while self.webhook.try_next().is_some() {}
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A stopped process must be continued to die cleanly.
            self.signal(libc::SIGCONT);
        }
        self.kill();
    }
}

/// The text of `tandem pair` for `a` (this side) and `b`.
fn pair_output(a: &Node, b: &Node, secret_dir: &Path, interval: &str) -> String {
    let output = Command::new(BIN)
        .args([
            "pair",
            "--name",
            b.name,
            "--peer-url",
            &b.url(""),
            "--self-name",
            a.name,
        ])
        .args(["--self-url", &a.url(""), "--interval", interval])
        .arg("--secret-dir")
        .arg(secret_dir)
        .output()
        .expect("tandem pair");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// The secret and the two TOML snippets from `tandem pair`'s output.
fn parse_pair_output(text: &str) -> (String, String, String) {
    let secret = text
        .split("printf '%s\\n' '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a secret in the output")
        .to_string();
    // The snippets are the runs of non-comment lines after "# 2." and "# 3.".
    let snippet_after = |marker: &str| -> String {
        let start = text.find(marker).expect("marker");
        text[start..]
            .lines()
            .skip(1)
            .skip_while(|line| line.is_empty())
            .take_while(|line| !line.starts_with('#'))
            .map(|line| format!("{line}\n"))
            .collect()
    };
    (secret, snippet_after("# 2."), snippet_after("# 3."))
}

struct Pair {
    a: Node,
    b: Node,
    _temp: tempfile::TempDir,
}

fn receiver_config(webhook: &HttpRecorder) -> String {
    format!(
        r#"
[[receiver]]
name = "ops"
webhook = {{ url = "{}" }}

[route]
receiver = "ops"
group_by = ["alertname", "peer"]
group_wait = "0s"
group_interval = "1s"

[collect.host]
enabled = false
"#,
        webhook.url("/hook")
    )
}

/// Two instances "a" and "b", paired with `tandem pair` at `interval`, started and
/// hearing each other.
fn start_pair(interval: &str, b_rules: &[(&str, &str)], b_receiver_fails: bool) -> Pair {
    let temp = tempfile::tempdir().expect("temp");
    let node = |name: &'static str| Node {
        name,
        port: free_port(),
        config_dir: temp.path().join(name).join("config"),
        data_dir: temp.path().join(name).join("data"),
        stderr: temp.path().join(name).join("stderr.log"),
        child: None,
        webhook: HttpRecorder::start(),
    };
    let (mut a, mut b) = (node("a"), node("b"));
    if b_receiver_fails {
        // Before B starts, so that its very first attempt fails too.
        b.webhook.respond_with(&[500; 10_000]);
    }
    let secrets = temp.path().join("secrets");
    std::fs::create_dir_all(&secrets).expect("secrets dir");
    let (secret, a_snippet, b_snippet) =
        parse_pair_output(&pair_output(&a, &b, &secrets, interval));
    for file in ["peer-b.secret", "peer-a.secret"] {
        let path = secrets.join(file);
        write(&path, &format!("{secret}\n"));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    for (node, snippet) in [(&a, &a_snippet), (&b, &b_snippet)] {
        write(
            &node.config_dir.join("tandem.toml"),
            &format!("{snippet}{}", receiver_config(&node.webhook)),
        );
        write(&node.config_dir.join("rules/peer.toml"), PEER_RULES);
    }
    for (name, content) in b_rules {
        write(&b.config_dir.join(name), content);
    }
    a.start();
    b.start();
    let up = |node: &Node, peer: &str| {
        eventually(Duration::from_secs(20), || {
            node.query(&format!("tandem_peer_up{{peer=\"{peer}\"}} == 1"))
                .len()
                == 1
        })
    };
    assert!(up(&a, "b"), "a never heard b:\n{}\n{}", a.log(), b.log());
    assert!(up(&b, "a"), "b never heard a:\n{}\n{}", a.log(), b.log());
    Pair { a, b, _temp: temp }
}

/// Waits for A's PeerDown about b, firing, and returns the time it took from `since`.
fn peer_down_at_a(pair: &Pair, since: Instant, bound: Duration) -> Duration {
    let request = pair
        .a
        .notification("PeerDown", "firing", bound + Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no PeerDown at a:\n{}", pair.a.log()));
    let elapsed = since.elapsed();
    let body = request.json();
    let alert = body["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .find(|alert| alert["labels"]["alertname"] == "PeerDown")
        .expect("PeerDown")
        .clone();
    assert_eq!(alert["labels"]["peer"], "b", "{body}");
    assert_eq!(alert["labels"]["severity"], "page", "{body}");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .is_some_and(|summary| summary.starts_with("tandem peer b is silent")),
        "{body}"
    );
    elapsed
}

/// SIGKILL and SIGSTOP of B are both noticed by A within 3 intervals + 1 s, and
/// B's return resolves the alert.
#[test]
fn a_killed_or_hung_peer_is_reported_and_its_return_resolves_it() {
    let interval = Duration::from_secs(2);
    let bound = interval * 3 + Duration::from_secs(1);
    let mut pair = start_pair("2s", &[], false);
    pair.a.drain_webhook();

    // Dead.
    let killed = Instant::now();
    pair.b.kill();
    let took = peer_down_at_a(&pair, killed, bound);
    println!("SIGKILL to PeerDown delivered: {took:?} (bound {bound:?})");
    assert!(took <= bound, "PeerDown after {took:?}, bound {bound:?}");
    pair.b.start();
    assert!(
        pair.a
            .notification("PeerDown", "resolved", Duration::from_secs(15))
            .is_some(),
        "no resolved PeerDown:\n{}",
        pair.a.log()
    );

    // Hung: the process exists and holds its port, but answers nothing.
    pair.a.drain_webhook();
    let stopped = Instant::now();
    pair.b.signal(libc::SIGSTOP);
    let took = peer_down_at_a(&pair, stopped, bound);
    println!("SIGSTOP to PeerDown delivered: {took:?} (bound {bound:?})");
    assert!(took <= bound, "PeerDown after {took:?}, bound {bound:?}");
    pair.b.signal(libc::SIGCONT);
    assert!(
        pair.a
            .notification("PeerDown", "resolved", Duration::from_secs(15))
            .is_some(),
        "no resolved PeerDown after SIGCONT:\n{}",
        pair.a.log()
    );
    // What A stored about B is there to graph: clock skew and B's version.
    let info = pair.a.query("tandem_peer_info{peer=\"b\"}");
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0]["metric"]["version"], env!("CARGO_PKG_VERSION"));
    let skew = pair
        .a
        .query("abs(tandem_peer_clock_skew_seconds{peer=\"b\"}) < 5");
    assert_eq!(skew.len(), 1, "{skew:?}");
}

/// B cannot deliver its notifications (its receiver answers 500): A notices from
/// B's heartbeats and notifies through its own receiver.
#[test]
fn a_peer_that_cannot_notify_is_reported_through_the_other() {
    let pair = start_pair("1s", &[("rules/always.toml", ALWAYS_FIRING)], true);
    let request = pair
        .a
        .notification("PeerCannotNotify", "firing", Duration::from_secs(60))
        .unwrap_or_else(|| {
            panic!(
                "no PeerCannotNotify at a:\n{}\n{}",
                pair.a.log(),
                pair.b.log()
            )
        });
    let body = request.json();
    let alert = body["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .find(|alert| alert["labels"]["alertname"] == "PeerCannotNotify")
        .expect("alert")
        .clone();
    assert_eq!(alert["labels"]["peer"], "b");
    let summary = alert["annotations"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary
            .starts_with("tandem peer b cannot deliver notifications (1 failing): ops/webhook: ")
            && summary.contains("500"),
        "{summary}"
    );
    // B did try, and failed, with its own receiver.
    let tried = pair
        .b
        .webhook
        .try_next()
        .or_else(|| pair.b.webhook_next(Instant::now() + Duration::from_secs(5)));
    assert!(tried.is_some(), "B never tried to notify");
}

/// A heartbeat with a wrong secret, a replayed one and one with a stale send time
/// are refused with 401 and leave nothing in storage; `[auth]` does not apply.
#[test]
fn forged_replayed_and_stale_heartbeats_are_refused_and_not_stored() {
    use tandem::peer::protocol::{Health, Heartbeat, sign};
    let temp = tempfile::tempdir().expect("temp");
    let secret = "0123456789abcdef0123456789abcdef0123456789abcdef";
    let secret_file = temp.path().join("peer-b.secret");
    write(&secret_file, secret);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let token_file = temp.path().join("token");
    write(&token_file, "a-bearer-token-of-enough-length-0123456789");
    let config = format!(
        r#"
[server]
name = "a"

[[auth.token]]
name = "ops"
file = "{}"

[[peer]]
name = "b"
url = "http://127.0.0.1:{}"
secret_file = "{}"
interval = "1s"
"#,
        token_file.display(),
        free_port(),
        secret_file.display()
    );
    let instance = common::Instance::start_with(common::Start {
        tandem_toml: &config,
        client: Some(authorized_client()),
        ..common::Start::default()
    });
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64
    };
    let heartbeat = |sequence: u64, sent_at_ms: i64, firing: u64| Heartbeat {
        from: "b".into(),
        to: "a".into(),
        version: "9.9.9".into(),
        start_time_ms: 1_000,
        sequence,
        sent_at_ms,
        interval_ms: 1000,
        config_hash: "feedface".into(),
        health: Health {
            firing_alerts: firing,
            ..Health::default()
        },
    };
    let post = |body: &[u8], secret: &str, peer: &str| {
        let response = client()
            .post(instance.url("/api/v1/peer/heartbeat"))
            .header("X-Tandem-Peer", peer)
            .header("X-Tandem-Signature", sign(secret.as_bytes(), body))
            .header("Content-Type", "application/json")
            .body(body.to_vec())
            .send()
            .expect("post");
        let status = response.status().as_u16();
        let reply: serde_json::Value = response.json().expect("json reply");
        (status, reply["reason"].as_str().unwrap_or("").to_string())
    };
    let body = |heartbeat: &Heartbeat| serde_json::to_vec(heartbeat).expect("json");

    // Accepted (no credentials needed: the signature is the authentication).
    let good = body(&heartbeat(1, now_ms(), 7));
    assert_eq!(post(&good, secret, "b"), (200, String::new()));
    // Replayed verbatim.
    assert_eq!(post(&good, secret, "b"), (401, "replay".into()));
    // Forged: another secret.
    let forged = body(&heartbeat(2, now_ms(), 666));
    assert_eq!(
        post(&forged, "another-secret-another-secret-another", "b"),
        (401, "bad_signature".into())
    );
    // Stale: sent two minutes ago (an old capture).
    let stale = body(&heartbeat(3, now_ms() - 120_000, 667));
    assert_eq!(post(&stale, secret, "b"), (401, "stale".into()));
    // From a name not configured here.
    assert_eq!(post(&forged, secret, "c"), (401, "unknown_peer".into()));
    // Addressed to another instance.
    let mut elsewhere = heartbeat(4, now_ms(), 668);
    elsewhere.to = "z".into();
    assert_eq!(
        post(&body(&elsewhere), secret, "b"),
        (401, "wrong_recipient".into())
    );

    // Only the accepted heartbeat was stored.
    let authorized = |path: &str| {
        authorized_client()
            .get(instance.url(path))
            .send()
            .expect("get")
            .json::<serde_json::Value>()
            .expect("json")
    };
    let stored = authorized(
        "/api/v1/query?query=count_over_time(tandem_peer_reported_firing_alerts%7Bpeer%3D%22b%22%7D%5B10m%5D)",
    );
    assert_eq!(stored["data"]["result"][0]["value"][1], "1", "{stored}");
    let max = authorized(
        "/api/v1/query?query=max_over_time(tandem_peer_reported_firing_alerts%7Bpeer%3D%22b%22%7D%5B10m%5D)",
    );
    assert_eq!(max["data"]["result"][0]["value"][1], "7", "{max}");
    let metrics = authorized_client()
        .get(instance.url("/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    for reason in [
        "replay",
        "bad_signature",
        "stale",
        "unknown_peer",
        "wrong_recipient",
    ] {
        assert!(
            metrics.contains(&format!(
                "tandem_peer_heartbeats_refused_total{{reason=\"{reason}\"}} 1\n"
            )),
            "{reason}: {metrics}"
        );
    }
    assert!(
        metrics.contains("tandem_peer_heartbeats_received_total{peer=\"b\"} 1\n"),
        "{metrics}"
    );
    // Other endpoints still require the token.
    assert_eq!(
        client()
            .get(instance.url("/api/v1/query?query=up"))
            .send()
            .expect("get")
            .status(),
        401
    );
}

fn authorized_client() -> reqwest::blocking::Client {
    common::install_crypto_provider();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_static(
            "Bearer a-bearer-token-of-enough-length-0123456789",
        ),
    );
    reqwest::blocking::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// B can no longer reach A (a wrong URL for A, reloaded): B fires PeerUnreachable
/// and A, hearing nothing, fires PeerDown; each through its own receiver.
#[test]
fn a_one_way_failure_shows_on_both_sides() {
    let pair = start_pair("1s", &[], false);
    let config_path = pair.b.config_dir.join("tandem.toml");
    let config = std::fs::read_to_string(&config_path).expect("b's config");
    let wrong = config.replace(
        &pair.a.url(""),
        &format!("http://127.0.0.1:{}", free_port()),
    );
    assert_ne!(config, wrong);
    write(&config_path, &wrong);
    pair.a.drain_webhook();
    pair.b.drain_webhook();
    pair.b.reload();
    let unreachable = pair
        .b
        .notification("PeerUnreachable", "firing", Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no PeerUnreachable at b:\n{}", pair.b.log()));
    let body = unreachable.json();
    let summary = body["alerts"][0]["annotations"]["summary"]
        .as_str()
        .unwrap_or_default();
    assert!(
        summary.starts_with("heartbeats to tandem peer a fail: cannot connect"),
        "{body}"
    );
    assert!(
        pair.a
            .notification("PeerDown", "firing", Duration::from_secs(15))
            .is_some(),
        "no PeerDown at a:\n{}",
        pair.a.log()
    );
    // A still reaches B: no PeerUnreachable on A's side.
    assert!(pair.a.query("tandem_peer_reachable{peer=\"b\"} == 1").len() == 1);
}

/// `tandem pair` refuses what cannot work and names the problem.
#[test]
fn pair_refuses_bad_names_and_urls() {
    let run = |args: &[&str]| {
        let output = Command::new(BIN)
            .arg("pair")
            .args(args)
            .output()
            .expect("run");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (code, stderr) = run(&[
        "--name",
        "b c",
        "--peer-url",
        "http://x:1",
        "--self-name",
        "a",
        "--self-url",
        "http://y:1",
    ]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--name: ' ' is not allowed"), "{stderr}");
    let (code, stderr) = run(&[
        "--name",
        "b",
        "--peer-url",
        "x:1",
        "--self-name",
        "a",
        "--self-url",
        "http://y:1",
    ]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--peer-url"), "{stderr}");
}

/// Runs `ip args...`; `Err` with its stderr when it fails.
fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|error| format!("cannot run ip: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// Two network namespaces joined by a veth pair, deleted when dropped.
struct Namespaces {
    names: [String; 2],
    links: [String; 2],
}

impl Namespaces {
    fn create(tag: &str) -> Result<Namespaces, String> {
        let names = [format!("tandem-{tag}-a"), format!("tandem-{tag}-b")];
        let links = [format!("td{tag}a"), format!("td{tag}b")];
        let namespaces = Namespaces { names, links };
        let [na, nb] = &namespaces.names;
        let [la, lb] = &namespaces.links;
        ip(&["netns", "add", na])?;
        ip(&["netns", "add", nb])?;
        ip(&["link", "add", la, "type", "veth", "peer", "name", lb])?;
        ip(&["link", "set", la, "netns", na])?;
        ip(&["link", "set", lb, "netns", nb])?;
        for (ns, link, address) in [(na, la, "10.213.0.1/30"), (nb, lb, "10.213.0.2/30")] {
            ip(&["-n", ns, "address", "add", address, "dev", link])?;
            ip(&["-n", ns, "link", "set", link, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(namespaces)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// A real partition: A and B in two network namespaces joined by a veth pair; the
/// link goes down, and each side alerts (PeerDown) through its own receiver, an exec
/// receiver writing each notification to a file (no network needed); the link comes
/// back and both resolve. Skipped with the reason where namespaces cannot be made (no root).
#[test]
fn a_network_partition_is_seen_from_both_sides() {
    if !common::on_path("ip") {
        println!("skipped: `ip` (iproute2) is not installed");
        return;
    }
    let tag = format!("{}", std::process::id() % 100_000);
    let namespaces = match Namespaces::create(&tag) {
        Ok(namespaces) => namespaces,
        Err(reason) => {
            println!("skipped: cannot create network namespaces here: {reason}");
            return;
        }
    };
    let temp = tempfile::tempdir().expect("temp");
    let secret = temp.path().join("peer.secret");
    write(&secret, "a-partition-test-secret-0123456789abcdef");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let sides = [
        ("a", "b", "10.213.0.1", "10.213.0.2"),
        ("b", "a", "10.213.0.2", "10.213.0.1"),
    ];
    let mut children = Vec::new();
    for (index, (name, other, own_address, other_address)) in sides.iter().enumerate() {
        let dir = temp.path().join(name);
        // One file per notification: concurrent deliveries must not interleave.
        let notifications = dir.join("notifications");
        std::fs::create_dir_all(&notifications).expect("notifications dir");
        write(
            &dir.join("config/tandem.toml"),
            &format!(
                r#"
[server]
name = "{name}"
allow_unauthenticated = true

[[peer]]
name = "{other}"
url = "http://{other_address}:9797"
secret_file = "{secret}"
interval = "1s"

[[receiver]]
name = "ops"
exec = {{ command = ["/bin/sh", "-c", "cat > $(mktemp -p {notifications} notification.XXXXXX)"] }}

[route]
receiver = "ops"
group_by = ["alertname", "peer"]
group_wait = "0s"
group_interval = "1s"

[collect.host]
enabled = false
"#,
                secret = secret.display(),
                notifications = notifications.display()
            ),
        );
        write(&dir.join("config/rules/peer.toml"), PEER_RULES);
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &namespaces.names[index],
                BIN,
                "serve",
                "--config",
            ])
            .arg(dir.join("config"))
            .arg("--data")
            .arg(dir.join("data"))
            .args(["--listen", &format!("{own_address}:9797")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.log")).expect("stderr file"))
            .spawn()
            .expect("spawn tandem in its namespace");
        children.push(KillOnDrop(child));
    }
    let notified = |name: &str, alertname: &str, status: &str| -> bool {
        let dir = temp.path().join(name).join("notifications");
        std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| std::fs::read(entry.path()).ok())
            .any(|bytes| {
                serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|body| {
                    body["alerts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|alert| {
                            alert["labels"]["alertname"] == alertname && alert["status"] == status
                        })
                })
            })
    };
    let logs = || {
        ["a", "b"]
            .iter()
            .map(|name| {
                std::fs::read_to_string(temp.path().join(name).join("stderr.log"))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    // Both hear each other: no PeerDown in the first seconds after start.
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        !notified("a", "PeerDown", "firing") && !notified("b", "PeerDown", "firing"),
        "{}",
        logs()
    );
    // Cut, then restore: both sides report each, within a few intervals.
    for (state, status, wait) in [("down", "firing", 15), ("up", "resolved", 20)] {
        ip(&[
            "-n",
            &namespaces.names[0],
            "link",
            "set",
            &namespaces.links[0],
            state,
        ])
        .unwrap_or_else(|error| panic!("link {state}: {error}"));
        for name in ["a", "b"] {
            assert!(
                eventually(Duration::from_secs(wait), || notified(
                    name, "PeerDown", status
                )),
                "{name}: no PeerDown {status} after the link went {state}:\n{}",
                logs()
            );
        }
    }
    drop(children);
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
