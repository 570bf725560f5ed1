//! Family `cpu`: `node_cpu_seconds_total{cpu,mode}` and
//! `node_cpu_guest_seconds_total{cpu,mode}` from the `cpuN` lines of /proc/stat.
//! Owns: the tick → seconds conversion and node_exporter's mode names.
//! Does not: report the all-CPU `cpu` line (node_exporter does not either), frequency
//! (`cpufreq`) or thermal throttles (`node_cpu_*_throttles_total`, not implemented).
//!
//! /proc/stat is parsed here rather than with `procfs::KernelStats`, whose per-CPU
//! list loses the CPU number: with a CPU offline, its position is not its `cpu` label.

use super::{HostError, HostOptions, Point, parse_error, read};

const PATH: &str = "/proc/stat";

/// The columns of a `cpuN` line, in order, as node_exporter names them. The kernel
/// counts guest time inside user and nice too; node_exporter reports both as they are.
const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];
const GUEST_MODES: [&str; 2] = ["user", "nice"];

pub(super) fn collect(_options: &HostOptions) -> Result<Vec<Point>, HostError> {
    let ticks_per_second = procfs::ticks_per_second();
    if ticks_per_second == 0 {
        return Err(parse_error(PATH, "sysconf(_SC_CLK_TCK) returned 0"));
    }
    parse(&read(PATH)?, ticks_per_second as f64)
}

fn parse(text: &str, ticks_per_second: f64) -> Result<Vec<Point>, HostError> {
    let mut points = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(cpu) = fields.next().and_then(|first| first.strip_prefix("cpu")) else {
            continue;
        };
        if cpu.is_empty() {
            continue; // The "cpu" line: all CPUs together.
        }
        if !cpu.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(parse_error(PATH, format!("unexpected line {line:?}")));
        }
        let values = fields
            .map(|field| field.parse::<u64>())
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|error| parse_error(PATH, format!("line {line:?}: {error}")))?;
        if values.len() < 4 {
            return Err(parse_error(
                PATH,
                format!("line {line:?}: fewer than 4 columns"),
            ));
        }
        for (mode, ticks) in MODES.iter().zip(&values) {
            points.push(
                Point::new("node_cpu_seconds_total", *ticks as f64 / ticks_per_second)
                    .with("cpu", cpu)
                    .with("mode", *mode),
            );
        }
        for (mode, ticks) in GUEST_MODES.iter().zip(values.iter().skip(MODES.len())) {
            points.push(
                Point::new(
                    "node_cpu_guest_seconds_total",
                    *ticks as f64 / ticks_per_second,
                )
                .with("cpu", cpu)
                .with("mode", *mode),
            );
        }
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &[&str]) {
        let points = parse(input, 100.0).expect("parses");
        let got: Vec<String> = points
            .iter()
            .map(|point| {
                let labels: Vec<String> = point
                    .labels
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect();
                format!("{}{{{}}} {}", point.name, labels.join(","), point.value)
            })
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn ticks_become_seconds_per_cpu_and_mode() {
        check(
            "cpu  1 2 3 4 5 6 7 8 9 10\ncpu3 150 0 25 1000 1 0 2 3 40 5\nintr 1 2\n",
            &[
                "node_cpu_seconds_total{cpu=3,mode=user} 1.5",
                "node_cpu_seconds_total{cpu=3,mode=nice} 0",
                "node_cpu_seconds_total{cpu=3,mode=system} 0.25",
                "node_cpu_seconds_total{cpu=3,mode=idle} 10",
                "node_cpu_seconds_total{cpu=3,mode=iowait} 0.01",
                "node_cpu_seconds_total{cpu=3,mode=irq} 0",
                "node_cpu_seconds_total{cpu=3,mode=softirq} 0.02",
                "node_cpu_seconds_total{cpu=3,mode=steal} 0.03",
                "node_cpu_guest_seconds_total{cpu=3,mode=user} 0.4",
                "node_cpu_guest_seconds_total{cpu=3,mode=nice} 0.05",
            ],
        );
    }

    #[test]
    fn old_kernels_with_four_columns() {
        check(
            "cpu0 1 2 3 4\n",
            &[
                "node_cpu_seconds_total{cpu=0,mode=user} 0.01",
                "node_cpu_seconds_total{cpu=0,mode=nice} 0.02",
                "node_cpu_seconds_total{cpu=0,mode=system} 0.03",
                "node_cpu_seconds_total{cpu=0,mode=idle} 0.04",
            ],
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse("cpu0 1 x 3 4\n", 100.0).is_err());
        assert!(parse("cpu0 1 2\n", 100.0).is_err());
        assert!(parse("cpuX 1 2 3 4\n", 100.0).is_err());
    }
}
