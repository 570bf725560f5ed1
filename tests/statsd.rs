//! The statsd listener end to end: real UDP datagrams to a running tandem, read back
//! through `/api/v1/query` after a flush, with the Prometheus type each statsd type
//! becomes; garbage counted by reason while stored data stays as it was and the
//! listener keeps serving; reloads that move, add and remove the listener.

mod common;

use common::{Instance, client, eventually};
use std::net::UdpSocket;
use std::time::Duration;

/// A UDP port nothing listens on right now.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .map(|address| address.port())
        .expect("the OS hands out a free UDP port")
}

fn sender() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind a sending socket")
}

fn send(socket: &UdpSocket, port: u16, packet: &[u8]) {
    socket
        .send_to(packet, ("127.0.0.1", port))
        .expect("send a datagram");
}

/// An instant query's result as sorted `{labels} value` lines (no `__name__` when
/// the query names one metric, so expectations stay short).
fn query(instance: &Instance, promql: &str) -> Vec<String> {
    let mut lines: Vec<String> = instance
        .query_result(promql)
        .iter()
        .map(|sample| {
            let labels: Vec<String> = sample["metric"]
                .as_object()
                .expect("labels")
                .iter()
                .filter(|(name, _)| *name != "__name__")
                .map(|(name, value)| format!("{name}={}", value.as_str().unwrap_or_default()))
                .collect();
            let value = sample["value"][1].as_str().expect("value").to_string();
            format!("{{{}}} {value}", labels.join(","))
        })
        .collect();
    lines.sort();
    lines
}

/// Polls until `promql` returns `expected`; panics with the last answer otherwise.
fn wait_for(instance: &Instance, promql: &str, expected: &[&str]) {
    let mut last = Vec::new();
    let matched = eventually(Duration::from_secs(15), || {
        last = query(instance, promql);
        last == expected
    });
    assert!(
        matched,
        "{promql}: expected {expected:?}, got {last:?}\nstderr:\n{}",
        instance.stderr()
    );
}

/// The listener binds after tandem is ready: send a gauge (idempotent) set to the
/// port until a flush shows it.
fn wait_listening(instance: &Instance, socket: &UdpSocket, port: u16) {
    let expected = [format!("{{job=statsd}} {port}")];
    let listening = eventually(Duration::from_secs(15), || {
        send(
            socket,
            port,
            format!("statsd_test_ready:{port}|g").as_bytes(),
        );
        std::thread::sleep(Duration::from_millis(100));
        query(instance, "statsd_test_ready") == expected
    });
    assert!(listening, "no statsd listener:\n{}", instance.stderr());
}

fn config(port: u16) -> String {
    format!(
        "[statsd]\nlisten = \"127.0.0.1:{port}\"\nflush_interval = \"1s\"\nhistogram_buckets = [0.01, 0.1, 1]\nlabels = {{ job = \"statsd\" }}\n"
    )
}

#[test]
fn statsd_packets_over_udp_are_queryable_with_their_types() {
    let port = free_udp_port();
    let instance = Instance::start(&config(port));
    let socket = sender();
    wait_listening(&instance, &socket, port);

    // One line per datagram, several per datagram, DogStatsD tags, a sample rate.
    send(&socket, port, b"app.requests:1|c|#route:/a");
    send(
        &socket,
        port,
        b"app.requests:1|c|#route:/a\napp.requests:2|c|@0.5|#route:/a\napp.requests:1|c|#route:/b",
    );
    send(
        &socket,
        port,
        b"app.temp:20|g\napp.temp:+5|g\napp.temp:-2|g",
    );
    send(&socket, port, b"app.latency:5:50|ms\napp.latency:500|ms");
    send(&socket, port, b"app.latency:5000|ms\napp.size:0.5|h");
    send(
        &socket,
        port,
        b"app.users:alice|s\napp.users:bob|s\napp.users:alice|s",
    );
    wait_for(
        &instance,
        "app_requests",
        &["{job=statsd,route=/a} 6", "{job=statsd,route=/b} 1"],
    );
    wait_for(&instance, "app_temp", &["{job=statsd} 23"]);
    // Timers in seconds: 0.005 and 0.05, 0.5, 5.
    wait_for(
        &instance,
        "app_latency_bucket",
        &[
            "{job=statsd,le=+Inf} 4",
            "{job=statsd,le=0.01} 1",
            "{job=statsd,le=0.1} 2",
            "{job=statsd,le=1} 3",
        ],
    );
    wait_for(&instance, "app_latency_count", &["{job=statsd} 4"]);
    wait_for(&instance, "app_latency_sum", &["{job=statsd} 5.555"]);
    wait_for(
        &instance,
        "app_size_bucket{le=\"1\"}",
        &["{job=statsd,le=1} 1"],
    );
    wait_for(&instance, "app_users", &["{job=statsd} 2"]);

    // The next interval builds on the last: counters and histograms accumulate, a
    // gauge delta applies to the stored value, a set counts only its interval.
    send(
        &socket,
        port,
        b"app.requests:4|c|#route:/a\napp.temp:-3|g\napp.latency:20|ms\napp.users:carol|s",
    );
    wait_for(
        &instance,
        "app_requests",
        &["{job=statsd,route=/a} 10", "{job=statsd,route=/b} 1"],
    );
    wait_for(&instance, "app_temp", &["{job=statsd} 20"]);
    wait_for(
        &instance,
        "app_latency_bucket",
        &[
            "{job=statsd,le=+Inf} 5",
            "{job=statsd,le=0.01} 1",
            "{job=statsd,le=0.1} 3",
            "{job=statsd,le=1} 4",
        ],
    );
    wait_for(&instance, "app_users", &["{job=statsd} 1"]);
    wait_for(
        &instance,
        "histogram_quantile(0.9, app_latency_bucket)",
        &["{job=statsd} 1"],
    );
    // An idle set reads 0 at the next flush.
    wait_for(&instance, "app_users", &["{job=statsd} 0"]);
    wait_for(
        &instance,
        "tandem_statsd_lines_rejected_total > 0 or tandem_statsd_samples_dropped_total > 0",
        &[],
    );
}

#[test]
fn garbage_is_counted_and_changes_nothing_stored() {
    let port = free_udp_port();
    let mut instance = Instance::start(&config(port));
    let socket = sender();
    wait_listening(&instance, &socket, port);
    send(&socket, port, b"kept:5|c\nlevel:7|g");
    wait_for(&instance, "kept", &["{job=statsd} 5"]);

    // Each kind of garbage in its own datagram, and mixed into one with valid lines.
    let garbage: [&[u8]; 8] = [
        b"\x00\x01\x02\x03\xff\xfe\xfd",
        b"kept:1",
        b"kept:1|c|@2",
        b"kept:1|c|@zero",
        b"name with spaces:1|c",
        b"level:oops|g",
        b"kept:-1|c",
        b"kept:1|q",
    ];
    for packet in garbage {
        send(&socket, port, packet);
    }
    send(&socket, port, &[0xAB; 2000]);
    send(
        &socket,
        port,
        b"kept:1|c\n\xc3\x28:1|c\nlevel|g\nlevel:+1|g\nkept:1|g\nkept:1|c|#a:1,a:2",
    );
    wait_for(
        &instance,
        "tandem_statsd_lines_rejected_total > 0",
        &[
            "{reason=name} 1",
            "{reason=parse} 1",
            "{reason=sample_rate} 2",
            "{reason=tags} 1",
            "{reason=type_conflict} 1",
            "{reason=type} 2",
            "{reason=utf8} 3",
            "{reason=value} 2",
        ],
    );
    // Only the valid lines of the mixed datagram changed anything.
    wait_for(&instance, "kept", &["{job=statsd} 6"]);
    wait_for(&instance, "level", &["{job=statsd} 8"]);
    wait_for(&instance, "count({job=\"statsd\"})", &["{} 3"]);

    // Still serving.
    send(&socket, port, b"kept:10|c");
    wait_for(&instance, "kept", &["{job=statsd} 16"]);
    assert!(
        instance
            .child
            .try_wait()
            .is_ok_and(|status| status.is_none()),
        "tandem exited:\n{}",
        instance.stderr()
    );
}

#[test]
fn reloads_add_move_and_remove_the_listener() {
    let instance = Instance::start("[log]\nlevel = \"info\"\n");
    // Off by default: no self series.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        query(&instance, "{__name__=~\"tandem_statsd_.*\"}"),
        Vec::<String>::new()
    );
    let reload = |toml: &str| {
        instance.write_config("tandem.toml", toml);
        let response = client()
            .post(instance.url("/-/reload"))
            .send()
            .expect("reload");
        assert_eq!(response.status(), 200, "{:?}", response.text());
    };
    let socket = sender();
    let first = free_udp_port();
    reload(&config(first));
    wait_listening(&instance, &socket, first);
    send(&socket, first, b"moved:1|c");
    wait_for(&instance, "moved", &["{job=statsd} 1"]);

    let second = free_udp_port();
    reload(&config(second));
    wait_listening(&instance, &socket, second);
    // Same series identity: the counter carries on.
    send(&socket, second, b"moved:1|c");
    wait_for(&instance, "moved", &["{job=statsd} 2"]);

    // Same address, another buffer size: the socket is re-bound at once (no wait for
    // the bind retry), and the counter still carries on.
    let started = std::time::Instant::now();
    reload(&format!(
        "{}receive_buffer_bytes = \"1MiB\"\n",
        config(second)
    ));
    let rebound = eventually(Duration::from_secs(15), || {
        send(&socket, second, b"rebound:1|g");
        std::thread::sleep(Duration::from_millis(100));
        query(&instance, "rebound") == ["{job=statsd} 1"]
    });
    assert!(rebound, "{}", instance.stderr());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "re-binding took {:?}:\n{}",
        started.elapsed(),
        instance.stderr()
    );
    assert!(
        !instance.stderr().contains("cannot bind"),
        "{}",
        instance.stderr()
    );
    send(&socket, second, b"moved:1|c");
    wait_for(&instance, "moved", &["{job=statsd} 3"]);

    // Removed: every statsd series goes stale at once, not after the lookback.
    reload("[log]\nlevel = \"info\"\n");
    wait_for(&instance, "moved", &[]);
    wait_for(&instance, "{__name__=~\"tandem_statsd_.*\"}", &[]);
}
