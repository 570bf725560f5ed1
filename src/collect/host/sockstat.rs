//! Family `sockstat`: `node_sockstat_sockets_used` and `node_sockstat_<PROTOCOL>_<key>`
//! (`TCP_inuse`, `TCP_tw`, `TCP_mem`, `TCP_mem_bytes`, `FRAG6_memory`...) from
//! /proc/net/sockstat and /proc/net/sockstat6, all gauges.
//! Owns: parsing those files generically, as node_exporter's procfs library does, so
//! a protocol line a newer kernel adds appears under the name node_exporter gives it.
//! Does not: per-socket data (`/proc/net/tcp`), or the `netstat` family's counters.
//!
//! Keys kept are node_exporter's: `inuse` (always, 0 when absent), `orphan`, `tw`,
//! `alloc`, `mem` (pages) with `mem_bytes` (pages × page size) beside it, and `memory`
//! (bytes already). A file that is missing (IPv6 disabled) gives no series.

use super::{HostError, HostOptions, Point, parse_error};

const FILES: [&str; 2] = ["/proc/net/sockstat", "/proc/net/sockstat6"];

/// The optional keys of a protocol line, in node_exporter's order.
const KEYS: [&str; 5] = ["orphan", "tw", "alloc", "mem", "memory"];

pub(super) fn collect(_options: &HostOptions) -> Result<Vec<Point>, HostError> {
    let page_bytes = page_bytes();
    let mut points = Vec::new();
    for path in FILES {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(HostError::Read {
                    path: path.to_string(),
                    source,
                });
            }
        };
        points.extend(parse(path, &text, page_bytes)?);
    }
    Ok(points)
}

fn page_bytes() -> f64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if bytes > 0 { bytes as f64 } else { 4096.0 }
}

/// The series of one sockstat file.
fn parse(path: &str, text: &str, page_bytes: f64) -> Result<Vec<Point>, HostError> {
    let mut points = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [protocol, pairs @ ..] = fields.as_slice() else {
            continue;
        };
        if pairs.is_empty() || pairs.len() % 2 != 0 {
            return Err(parse_error(
                path,
                format!("line {line:?}: expected a protocol and key/value pairs"),
            ));
        }
        let protocol = protocol.trim_end_matches(':');
        let mut values = Vec::with_capacity(pairs.len() / 2);
        for pair in pairs.chunks_exact(2) {
            let value: i64 = pair[1].parse().map_err(|_| {
                parse_error(
                    path,
                    format!("line {line:?}: {:?} is not an integer", pair[1]),
                )
            })?;
            values.push((pair[0], value));
        }
        let value_of = |key: &str| {
            values
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, value)| *value)
        };
        if protocol == "sockets" {
            points.push(Point::new(
                "node_sockstat_sockets_used",
                value_of("used").unwrap_or(0) as f64,
            ));
            continue;
        }
        let metric =
            |key: &str, value: f64| Point::new(format!("node_sockstat_{protocol}_{key}"), value);
        points.push(metric("inuse", value_of("inuse").unwrap_or(0) as f64));
        for key in KEYS {
            if let Some(value) = value_of(key) {
                points.push(metric(key, value as f64));
            }
        }
        if let Some(pages) = value_of("mem") {
            points.push(metric("mem_bytes", pages as f64 * page_bytes));
        }
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: &[(&str, f64)]) {
        let points = parse("sockstat", text, 4096.0).expect("parses");
        let got: Vec<(&str, f64)> = points
            .iter()
            .map(|point| (point.name.as_str(), point.value))
            .collect();
        assert_eq!(got, expect);
        assert!(points.iter().all(|point| point.labels.is_empty()));
    }

    #[test]
    fn ipv4() {
        check(
            "sockets: used 9\n\
             TCP: inuse 1 orphan 0 tw 101 alloc 2 mem 3\n\
             UDP: inuse 0 mem 1\n\
             UDPLITE: inuse 0\n\
             FRAG: inuse 0 memory 0\n",
            &[
                ("node_sockstat_sockets_used", 9.0),
                ("node_sockstat_TCP_inuse", 1.0),
                ("node_sockstat_TCP_orphan", 0.0),
                ("node_sockstat_TCP_tw", 101.0),
                ("node_sockstat_TCP_alloc", 2.0),
                ("node_sockstat_TCP_mem", 3.0),
                ("node_sockstat_TCP_mem_bytes", 12288.0),
                ("node_sockstat_UDP_inuse", 0.0),
                ("node_sockstat_UDP_mem", 1.0),
                ("node_sockstat_UDP_mem_bytes", 4096.0),
                ("node_sockstat_UDPLITE_inuse", 0.0),
                ("node_sockstat_FRAG_inuse", 0.0),
                ("node_sockstat_FRAG_memory", 0.0),
            ],
        );
    }

    #[test]
    fn ipv6_and_unknown_keys() {
        check(
            "TCP6: inuse 2\nRAW6: inuse 0 extra 7\n",
            &[
                ("node_sockstat_TCP6_inuse", 2.0),
                ("node_sockstat_RAW6_inuse", 0.0),
            ],
        );
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(parse("sockstat", "TCP: inuse\n", 4096.0).is_err());
        assert!(parse("sockstat", "TCP:\n", 4096.0).is_err());
        assert!(parse("sockstat", "TCP: inuse x\n", 4096.0).is_err());
    }

    #[test]
    fn this_host_has_sockets() {
        let points =
            collect(&HostOptions::node_exporter_defaults().expect("defaults")).expect("sockstat");
        assert!(
            points
                .iter()
                .any(|point| point.name == "node_sockstat_TCP_inuse")
        );
    }
}
