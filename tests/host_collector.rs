//! The host collector against the real node_exporter on this machine: for every family
//! tandem covers, the metric names and label sets must be node_exporter 1.5's, and
//! stable values must agree within the tolerance stated in `check_for`.
//!
//! Runs `prometheus-node-exporter` (Debian package of the same name) with its default
//! collectors plus `processes` on a free loopback port, scrapes `/metrics` once, then runs tandem's
//! collection once (`collect::host::collect_once`, no server). Without the binary the
//! test prints why and passes, except under CI (`CI=true`), where it fails.

mod common;

use common::{Running, free_port, required};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tandem::collect::host::{self, HostOptions};

const NODE_EXPORTER: &str = "prometheus-node-exporter";

/// A series: name and its labels without empty values (Prometheus drops those).
type SeriesKey = (String, BTreeMap<String, String>);

/// Series whose label sets change from one read to the next (a process state that
/// nobody is in a moment later): one present on only one side is printed, not failed.
const VOLATILE_LABEL_SETS: [&str; 2] = ["node_processes_state", "node_processes_threads_state"];

/// Which node_exporter metric names belong to each family tandem covers.
fn family_of(name: &str) -> Option<&'static str> {
    const STAT: [&str; 6] = [
        "node_boot_time_seconds",
        "node_context_switches_total",
        "node_forks_total",
        "node_intr_total",
        "node_procs_running",
        "node_procs_blocked",
    ];
    let family = match name {
        _ if name.starts_with("node_cpu_seconds_total")
            || name.starts_with("node_cpu_guest_seconds_total")
            || name.ends_with("_throttles_total") && name.starts_with("node_cpu_") =>
        {
            "cpu"
        }
        "node_load1" | "node_load5" | "node_load15" => "loadavg",
        _ if name.starts_with("node_memory_") => "meminfo",
        _ if name.starts_with("node_filesystem_") => "filesystem",
        _ if (name.starts_with("node_network_receive_")
            || name.starts_with("node_network_transmit_"))
            && name.ends_with("_total") =>
        {
            "netdev"
        }
        _ if name.starts_with("node_disk_") => "diskstats",
        _ if STAT.contains(&name) => "stat",
        _ if name.starts_with("node_time_") => "time",
        "node_uname_info" => "uname",
        _ if name.starts_with("node_filefd_") => "filefd",
        _ if name.starts_with("node_pressure_") => "pressure",
        _ if name.starts_with("node_vmstat_") => "vmstat",
        // Every other per-interface series is a /sys/class/net gauge (or one of its
        // `carrier_*_total` counters), e.g. `node_network_transmit_queue_length`.
        _ if name.starts_with("node_network_") => "netclass",
        _ if name.starts_with("node_sockstat_") => "sockstat",
        _ if name.starts_with("node_hwmon_") => "hwmon",
        "node_os_info" | "node_os_version" => "os",
        _ if name.starts_with("node_timex_") => "timex",
        _ if name.starts_with("node_processes_") => "processes",
        _ => return None,
    };
    Some(family)
}

/// How a value is compared.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// Equal (configuration and sizes that do not move).
    Exact,
    /// `|tandem - node_exporter| <= slack`.
    Within(f64),
    /// A counter read a moment later: `node_exporter - 0.5 <= tandem <= node_exporter
    /// × (1 + relative) + slack`. (Counters that move by much in a second are checked
    /// only for direction, through a large `slack`.)
    Counter { relative: f64, slack: f64 },
    /// Names and labels only: the value moves too much in a second (free memory,
    /// processes running, bytes on a busy link).
    NamesOnly,
}

/// The tolerance for a metric: the first entry whose prefix matches.
fn check_for(name: &str) -> Check {
    const GIB: f64 = (1u64 << 30) as f64;
    let table: &[(&str, Check)] = &[
        ("node_memory_MemTotal_bytes", Check::Exact),
        ("node_memory_SwapTotal_bytes", Check::Exact),
        ("node_memory_Hugepagesize_bytes", Check::Exact),
        ("node_memory_VmallocTotal_bytes", Check::Exact),
        ("node_memory_CommitLimit_bytes", Check::Exact),
        ("node_memory_DirectMap", Check::NamesOnly),
        // Memory moves with every build running beside the test: 1 GiB.
        ("node_memory_", Check::Within(GIB)),
        ("node_filesystem_size_bytes", Check::Exact),
        ("node_filesystem_files_free", Check::Within(10_000.0)),
        ("node_filesystem_files", Check::Exact),
        ("node_filesystem_readonly", Check::Exact),
        ("node_filesystem_device_error", Check::Exact),
        // Builds write to the disk while the test runs: 2 GiB.
        ("node_filesystem_", Check::Within(2.0 * GIB)),
        ("node_boot_time_seconds", Check::Within(1.0)),
        ("node_time_seconds", Check::Within(10.0)),
        ("node_time_", Check::Exact),
        ("node_uname_info", Check::Exact),
        ("node_filefd_maximum", Check::Exact),
        ("node_filefd_allocated", Check::Within(2_000.0)),
        ("node_load", Check::Within(2.0)),
        ("node_procs_", Check::NamesOnly),
        ("node_disk_info", Check::Exact),
        // netclass: interface properties, which do not move while the test runs
        // (`carrier` covers the `carrier_*_changes_total` counters).
        ("node_network_up", Check::Exact),
        ("node_network_info", Check::Exact),
        ("node_network_mtu_bytes", Check::Exact),
        ("node_network_speed_bytes", Check::Exact),
        ("node_network_carrier", Check::Exact),
        ("node_network_iface_", Check::Exact),
        ("node_network_flags", Check::Exact),
        ("node_network_address_assign_type", Check::Exact),
        ("node_network_device_id", Check::Exact),
        ("node_network_dormant", Check::Exact),
        ("node_network_name_assign_type", Check::Exact),
        ("node_network_net_dev_group", Check::Exact),
        ("node_network_protocol_type", Check::Exact),
        ("node_network_transmit_queue_length", Check::Exact),
        // sockstat: sockets come and go with the build beside the test; TIME_WAIT
        // and socket memory move most.
        ("node_sockstat_TCP_tw", Check::NamesOnly),
        ("node_sockstat_TCP_mem", Check::NamesOnly),
        ("node_sockstat_UDP_mem", Check::NamesOnly),
        ("node_sockstat_", Check::Within(200.0)),
        // hwmon: chips and labels are fixed; temperatures drift.
        ("node_hwmon_chip_names", Check::Exact),
        ("node_hwmon_sensor_label", Check::Exact),
        ("node_hwmon_temp_", Check::Within(5.0)),
        ("node_os_", Check::Exact),
        ("node_processes_max_", Check::Exact),
        // Processes and threads come and go with the build beside the test.
        ("node_processes_pids", Check::Within(100.0)),
        ("node_processes_threads", Check::Within(500.0)),
        // timex: the error bounds grow by 500 µs/s between syncs; the loop's offset
        // and frequency are steered continuously.
        ("node_timex_offset_seconds", Check::Within(0.1)),
        ("node_timex_frequency_adjustment_ratio", Check::Within(1e-4)),
        ("node_timex_maxerror_seconds", Check::Within(1.0)),
        ("node_timex_estimated_error_seconds", Check::Within(1.0)),
        ("node_timex_", Check::Exact),
        ("node_disk_io_now", Check::NamesOnly),
        // CPU seconds: a few % and a few seconds for the moment between the reads.
        (
            "node_cpu_",
            Check::Counter {
                relative: 0.03,
                slack: 5.0,
            },
        ),
        (
            "node_pressure_",
            Check::Counter {
                relative: 0.03,
                slack: 5.0,
            },
        ),
        (
            "node_disk_",
            Check::Counter {
                relative: 0.05,
                slack: 1e9,
            },
        ),
        (
            "node_network_",
            Check::Counter {
                relative: 0.05,
                slack: 1e9,
            },
        ),
        (
            "node_vmstat_",
            Check::Counter {
                relative: 0.05,
                slack: 1e7,
            },
        ),
        (
            "node_context_switches_total",
            Check::Counter {
                relative: 0.05,
                slack: 1e6,
            },
        ),
        (
            "node_intr_total",
            Check::Counter {
                relative: 0.05,
                slack: 1e6,
            },
        ),
        (
            "node_forks_total",
            Check::Counter {
                relative: 0.05,
                slack: 10_000.0,
            },
        ),
        ("node_memory", Check::NamesOnly),
        ("", Check::NamesOnly),
    ];
    table
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map_or(Check::NamesOnly, |(_, check)| *check)
}

fn agrees(check: Check, tandem: f64, node_exporter: f64) -> bool {
    match check {
        Check::Exact => tandem == node_exporter,
        Check::Within(slack) => (tandem - node_exporter).abs() <= slack,
        Check::Counter { relative, slack } => {
            tandem >= node_exporter - 0.5 && tandem <= node_exporter * (1.0 + relative) + slack
        }
        Check::NamesOnly => true,
    }
}

/// node_exporter's `/metrics`, scraped once it answers.
fn scrape_node_exporter() -> String {
    let port = free_port();
    let child = Command::new(NODE_EXPORTER)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        // Off by default in node_exporter, on in tandem.
        .arg("--collector.processes")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus-node-exporter");
    let _exporter = Running(child);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match http_get(port, "/metrics") {
            Ok(text) if text.contains("node_exporter_build_info") => return text,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => panic!("node_exporter did not answer on port {port}: {other:?}"),
        }
    }
}

/// A plain HTTP/1.0 GET on loopback: the body. (No HTTP client crate: the blocking
/// reqwest client would need a TLS crypto provider installed for plain HTTP too.)
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(std::io::Error::other(format!(
            "status line {:?}",
            head.lines().next()
        )));
    }
    Ok(body.to_string())
}

/// The text exposition format, as node_exporter writes it (no timestamps, no
/// exemplars): series → value.
fn parse_exposition(text: &str) -> BTreeMap<SeriesKey, f64> {
    let mut series = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name, labels, rest) = match line.find('{') {
            Some(open) => {
                let (labels, rest) = parse_labels(&line[open + 1..]);
                (&line[..open], labels, rest)
            }
            None => {
                let (name, rest) = line.split_once(' ').expect("name and value");
                (name, BTreeMap::new(), rest)
            }
        };
        let value = rest.trim().split(' ').next().expect("a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("value in {line:?}"));
        series.insert((name.to_string(), labels), value);
    }
    series
}

/// Labels up to the closing brace (values unescaped, empty ones left out), and the rest.
fn parse_labels(text: &str) -> (BTreeMap<String, String>, &str) {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(',');
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        let (name, after) = rest.split_once("=\"").expect("label=\"value\"");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("closing quote") {
                (index, '"') => break index,
                (_, '\\') => match chars.next().expect("escaped char").1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, other) => value.push(other),
            }
        };
        if !value.is_empty() {
            labels.insert(name.to_string(), value);
        }
        rest = &after[end + 1..];
    }
}

#[test]
fn names_labels_and_values_match_node_exporter() {
    if !required(&[(NODE_EXPORTER, "prometheus-node-exporter")]) {
        return;
    }
    let exposition = scrape_node_exporter();
    let options = HostOptions::node_exporter_defaults().expect("default options");
    let outcomes = host::collect_once(&options);
    let node_exporter = parse_exposition(&exposition);

    let failed_upstream: BTreeSet<String> = node_exporter
        .iter()
        .filter(|((name, labels), value)| {
            name == "node_scrape_collector_success" && **value == 0.0 && !labels.is_empty()
        })
        .filter_map(|((_, labels), _)| labels.get("collector").cloned())
        .collect();
    let mut failures = Vec::new();
    for outcome in outcomes {
        let family = outcome.family;
        if failed_upstream.contains(family) {
            println!("{family}: node_exporter's collector failed on this host; not compared");
            continue;
        }
        let points = match outcome.points {
            Ok(points) => points,
            Err(error) => {
                failures.push(format!("{family}: tandem failed: {error}"));
                continue;
            }
        };
        let ours: BTreeMap<SeriesKey, f64> = points
            .into_iter()
            .map(|point| {
                let labels = point
                    .labels
                    .into_iter()
                    .map(|(name, value)| (name.to_string(), value))
                    .collect();
                ((point.name, labels), point.value)
            })
            .collect();
        let theirs: BTreeMap<&SeriesKey, f64> = node_exporter
            .iter()
            .filter(|((name, _), _)| family_of(name) == Some(family))
            .map(|(key, value)| (key, *value))
            .collect();
        let mut compared = 0;
        let mut values_checked = 0;
        for (key, their_value) in &theirs {
            let Some(our_value) = ours.get(*key) else {
                if VOLATILE_LABEL_SETS.contains(&key.0.as_str()) {
                    println!("{family}: {key:?} only in node_exporter (label set moves)");
                } else {
                    failures.push(format!("{family}: missing in tandem: {key:?}"));
                }
                continue;
            };
            compared += 1;
            let check = check_for(&key.0);
            if !matches!(check, Check::NamesOnly) {
                values_checked += 1;
            }
            if !agrees(check, *our_value, *their_value) {
                failures.push(format!(
                    "{family}: {key:?}: tandem {our_value}, node_exporter {their_value}, allowed {check:?}"
                ));
            }
        }
        for key in ours.keys() {
            if VOLATILE_LABEL_SETS.contains(&key.0.as_str()) {
                if !theirs.contains_key(key) {
                    println!("{family}: {key:?} only in tandem (label set moves)");
                }
            } else if !theirs.contains_key(key) {
                failures.push(format!("{family}: only in tandem: {key:?}"));
            }
        }
        println!(
            "{family}: {compared} series match by name and labels ({} in tandem), {values_checked} values within tolerance",
            ours.len()
        );
        assert!(
            compared > 0 || theirs.is_empty(),
            "{family}: nothing compared"
        );
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_exposition_parser_reads_what_node_exporter_writes() {
    let text = "# HELP x y\nnode_a 1\nnode_b{a=\"1\",b=\"\",c=\"q\\\"\\\\\"} 2e+09\n";
    let parsed = parse_exposition(text);
    let b_labels: BTreeMap<String, String> = [
        ("a".to_string(), "1".to_string()),
        ("c".to_string(), "q\"\\".to_string()),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        parsed.get(&("node_a".to_string(), BTreeMap::new())),
        Some(&1.0)
    );
    assert_eq!(parsed.get(&("node_b".to_string(), b_labels)), Some(&2e9));
}
