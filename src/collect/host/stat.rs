//! Family `stat`: the non-CPU lines of /proc/stat: `node_boot_time_seconds`,
//! `node_context_switches_total`, `node_forks_total`, `node_intr_total`,
//! `node_procs_running`, `node_procs_blocked`.
//! Owns: those six series. Does not: per-CPU times (`cpu.rs`) or softirqs (off by
//! default in node_exporter).

use super::{HostError, HostOptions, Point, parse_error, read};

const PATH: &str = "/proc/stat";

/// /proc/stat key → node_exporter metric. For `intr`, the first number is the total.
const FIELDS: [(&str, &str); 6] = [
    ("btime", "node_boot_time_seconds"),
    ("ctxt", "node_context_switches_total"),
    ("processes", "node_forks_total"),
    ("intr", "node_intr_total"),
    ("procs_running", "node_procs_running"),
    ("procs_blocked", "node_procs_blocked"),
];

pub(super) fn collect(_options: &HostOptions) -> Result<Vec<Point>, HostError> {
    parse(&read(PATH)?)
}

fn parse(text: &str) -> Result<Vec<Point>, HostError> {
    let mut points = Vec::with_capacity(FIELDS.len());
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else {
            continue;
        };
        let Some((_, name)) = FIELDS.iter().find(|(field, _)| *field == key) else {
            continue;
        };
        let value = fields
            .next()
            .and_then(|value| value.parse::<u64>().ok())
            .ok_or_else(|| parse_error(PATH, format!("line {line:?}: no number")))?;
        points.push(Point::new(*name, value as f64));
    }
    if !points
        .iter()
        .any(|point| point.name == "node_boot_time_seconds")
    {
        return Err(parse_error(PATH, "no btime line"));
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_six_fields() {
        let text = "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 4242 0 9 0\nctxt 77\nbtime 1700000000\n\
                    processes 12\nprocs_running 3\nprocs_blocked 0\nsoftirq 5 1 2\n";
        let got: Vec<(String, f64)> = parse(text)
            .expect("parses")
            .into_iter()
            .map(|point| (point.name, point.value))
            .collect();
        let expect = [
            ("node_intr_total", 4242.0),
            ("node_context_switches_total", 77.0),
            ("node_boot_time_seconds", 1_700_000_000.0),
            ("node_forks_total", 12.0),
            ("node_procs_running", 3.0),
            ("node_procs_blocked", 0.0),
        ];
        let expect: Vec<(String, f64)> = expect
            .iter()
            .map(|(name, value)| (name.to_string(), *value))
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn missing_btime_or_a_bad_number_is_an_error() {
        assert!(parse("ctxt 1\n").is_err());
        assert!(parse("btime x\n").is_err());
    }
}
