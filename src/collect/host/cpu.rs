//! Family `cpu`: `node_cpu_seconds_total{cpu,mode}` and
//! `node_cpu_guest_seconds_total{cpu,mode}` from the `cpuN` lines of /proc/stat, and
//! where the kernel counts them (`thermal_throttle/` under each CPU in sysfs, absent
//! in most VMs) `node_cpu_core_throttles_total{core,package}` and
//! `node_cpu_package_throttles_total{package}`.
//! Owns: the tick → seconds conversion and node_exporter's mode names.
//! Does not: report the all-CPU `cpu` line (node_exporter does not either) or
//! frequency (`cpufreq`, not a default node_exporter series).
//!
//! /proc/stat is parsed here rather than with `procfs::KernelStats`, whose per-CPU
//! list loses the CPU number: with a CPU offline, its position is not its `cpu` label.

use super::{HostError, HostOptions, Point, parse_error, read};
use std::collections::BTreeMap;
use std::path::Path;

const CPU_SYSFS: &str = "/sys/devices/system/cpu";

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
    let mut points = parse(&read(PATH)?, ticks_per_second as f64)?;
    points.extend(throttles(Path::new(CPU_SYSFS)));
    Ok(points)
}

/// Thermal throttle counters by core and by package, as node_exporter keys them:
/// one value per (package, core) and per package, whichever CPU of it was read last
/// (hyper-threads of a core share the counter). Files a kernel lacks give nothing.
fn throttles(root: &Path) -> Vec<Point> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let number =
        |path: &Path| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    let mut cores: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    let mut packages: BTreeMap<u64, u64> = BTreeMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(index) = name.to_str().and_then(|name| name.strip_prefix("cpu")) else {
            continue;
        };
        if index.is_empty() || !index.bytes().all(|byte| byte.is_ascii_digit()) {
            continue;
        }
        let cpu = entry.path();
        let Some(package) = number(&cpu.join("topology/physical_package_id")) else {
            continue;
        };
        if let (Some(core), Some(count)) = (
            number(&cpu.join("topology/core_id")),
            number(&cpu.join("thermal_throttle/core_throttle_count")),
        ) {
            cores.insert((package, core), count);
        }
        if let Some(count) = number(&cpu.join("thermal_throttle/package_throttle_count")) {
            packages.insert(package, count);
        }
    }
    let mut points = Vec::with_capacity(cores.len() + packages.len());
    for ((package, core), count) in cores {
        points.push(
            Point::new("node_cpu_core_throttles_total", count as f64)
                .with("core", core.to_string())
                .with("package", package.to_string()),
        );
    }
    for (package, count) in packages {
        points.push(
            Point::new("node_cpu_package_throttles_total", count as f64)
                .with("package", package.to_string()),
        );
    }
    points
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
    /// A fake sysfs tree: two hyper-threads of one core, a second core, and a CPU
    /// without thermal_throttle (a VM's).
    #[test]
    fn throttle_counters_by_core_and_package() {
        let root = tempfile::tempdir().expect("tempdir");
        let cpu = |name: &str, package: &str, core: &str, counts: Option<(&str, &str)>| {
            let dir = root.path().join(name);
            std::fs::create_dir_all(dir.join("topology")).expect("mkdir");
            std::fs::write(dir.join("topology/physical_package_id"), package).expect("write");
            std::fs::write(dir.join("topology/core_id"), core).expect("write");
            if let Some((core_count, package_count)) = counts {
                std::fs::create_dir_all(dir.join("thermal_throttle")).expect("mkdir");
                std::fs::write(dir.join("thermal_throttle/core_throttle_count"), core_count)
                    .expect("write");
                std::fs::write(
                    dir.join("thermal_throttle/package_throttle_count"),
                    package_count,
                )
                .expect("write");
            }
        };
        cpu("cpu0", "0\n", "0\n", Some(("5\n", "9\n")));
        cpu("cpu1", "0\n", "1\n", Some(("7\n", "9\n")));
        cpu("cpu2", "0\n", "0\n", Some(("5\n", "9\n")));
        cpu("cpu3", "1\n", "0\n", None);
        std::fs::create_dir_all(root.path().join("cpufreq")).expect("mkdir");
        let got: Vec<String> = throttles(root.path())
            .into_iter()
            .map(|point| format!("{} {:?} {}", point.name, point.labels, point.value))
            .collect();
        assert_eq!(
            got,
            [
                r#"node_cpu_core_throttles_total [("core", "0"), ("package", "0")] 5"#,
                r#"node_cpu_core_throttles_total [("core", "1"), ("package", "0")] 7"#,
                r#"node_cpu_package_throttles_total [("package", "0")] 9"#,
            ]
        );
        assert!(throttles(&root.path().join("missing")).is_empty());
    }
}
