//! Family `pressure`: pressure stall information from /proc/pressure/{cpu,io,memory}
//! (through `procfs`) as node_exporter's five counters, in seconds.
//! Owns: the microseconds → seconds conversion and which line feeds which name.
//! Does not: the `avg10/60/300` ratios (node_exporter omits them too: rates of the
//! totals give the same over any window), or cpu `full` (node_exporter 1.5 omits it).
//!
//! A kernel without PSI (older than 4.20, or booted with `psi=0`) has no
//! /proc/pressure: the family then fails and is counted, as in node_exporter.

use super::{HostError, HostOptions, Point};
use procfs::Current;

const SECONDS_PER_US: f64 = 1e-6;

pub(super) fn collect(_options: &HostOptions) -> Result<Vec<Point>, HostError> {
    let cpu = procfs::CpuPressure::current()?;
    let io = procfs::IoPressure::current()?;
    let memory = procfs::MemoryPressure::current()?;
    Ok(points(
        cpu.some.total,
        [io.some.total, io.full.total],
        [memory.some.total, memory.full.total],
    ))
}

/// Totals in microseconds: cpu `some`, io `[some, full]`, memory `[some, full]`.
fn points(cpu_some: u64, io: [u64; 2], memory: [u64; 2]) -> Vec<Point> {
    [
        ("node_pressure_cpu_waiting_seconds_total", cpu_some),
        ("node_pressure_io_waiting_seconds_total", io[0]),
        ("node_pressure_io_stalled_seconds_total", io[1]),
        ("node_pressure_memory_waiting_seconds_total", memory[0]),
        ("node_pressure_memory_stalled_seconds_total", memory[1]),
    ]
    .into_iter()
    .map(|(name, us)| Point::new(name, us as f64 * SECONDS_PER_US))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn some_is_waiting_full_is_stalled() {
        let got: Vec<(String, f64)> = points(2_500_000, [1_000_000, 500_000], [3, 0])
            .into_iter()
            .map(|point| (point.name, point.value))
            .collect();
        assert_eq!(
            got[0],
            ("node_pressure_cpu_waiting_seconds_total".into(), 2.5)
        );
        assert_eq!(
            got[1],
            ("node_pressure_io_waiting_seconds_total".into(), 1.0)
        );
        assert_eq!(
            got[2],
            ("node_pressure_io_stalled_seconds_total".into(), 0.5)
        );
        assert_eq!(
            got[3],
            ("node_pressure_memory_waiting_seconds_total".into(), 3e-6)
        );
        assert_eq!(
            got[4],
            ("node_pressure_memory_stalled_seconds_total".into(), 0.0)
        );
    }
}
