//! Family `diskstats`: `node_disk_*{device}` from /proc/diskstats (through
//! `procfs::diskstats`) for the devices `[collect.host.diskstats]` covers (default:
//! whole disks, no partitions, loop, ram or floppy devices), and `node_disk_info`.
//! Owns: node_exporter's names and units (sectors × 512 → bytes, ms → seconds).
//! Does not: the udev-only series node_exporter adds when /run/udev is readable
//! (`node_disk_ata_*`, `node_disk_device_mapper_info`, `node_disk_filesystem_info`);
//! `node_disk_info` gets its udev labels (path, wwn, model, serial, revision) when
//! the udev database has them.

use super::{HostError, HostOptions, Point};

/// The kernel counts sectors in 512-byte units whatever the device's sector size.
const SECTOR_BYTES: f64 = 512.0;
const SECONDS_PER_MS: f64 = 0.001;

pub(super) fn collect(options: &HostOptions) -> Result<Vec<Point>, HostError> {
    let mut points = Vec::new();
    for disk in procfs::diskstats()? {
        if !options.diskstats_devices.covers(&disk.name) {
            continue;
        }
        let udev =
            std::fs::read_to_string(format!("/run/udev/data/b{}:{}", disk.major, disk.minor))
                .unwrap_or_default();
        points.extend(disk_points(&disk, &udev));
    }
    Ok(points)
}

fn disk_points(disk: &procfs::DiskStat, udev: &str) -> Vec<Point> {
    let ms = |value: u64| value as f64 * SECONDS_PER_MS;
    let sectors = |value: u64| value as f64 * SECTOR_BYTES;
    let mut values = vec![
        ("node_disk_reads_completed_total", disk.reads as f64),
        ("node_disk_reads_merged_total", disk.merged as f64),
        ("node_disk_read_bytes_total", sectors(disk.sectors_read)),
        ("node_disk_read_time_seconds_total", ms(disk.time_reading)),
        ("node_disk_writes_completed_total", disk.writes as f64),
        ("node_disk_writes_merged_total", disk.writes_merged as f64),
        (
            "node_disk_written_bytes_total",
            sectors(disk.sectors_written),
        ),
        ("node_disk_write_time_seconds_total", ms(disk.time_writing)),
        ("node_disk_io_now", disk.in_progress as f64),
        ("node_disk_io_time_seconds_total", ms(disk.time_in_progress)),
        (
            "node_disk_io_time_weighted_seconds_total",
            ms(disk.weighted_time_in_progress),
        ),
    ];
    // Kernel 4.18 added the discard columns, 5.5 the flush ones.
    if let (Some(completed), Some(merged), Some(sectors_discarded), Some(time)) = (
        disk.discards,
        disk.discards_merged,
        disk.sectors_discarded,
        disk.time_discarding,
    ) {
        values.extend([
            ("node_disk_discards_completed_total", completed as f64),
            ("node_disk_discards_merged_total", merged as f64),
            // node_exporter keeps this one in sectors.
            (
                "node_disk_discarded_sectors_total",
                sectors_discarded as f64,
            ),
            ("node_disk_discard_time_seconds_total", ms(time)),
        ]);
    }
    if let (Some(flushes), Some(time)) = (disk.flushes, disk.time_flushing) {
        values.extend([
            ("node_disk_flush_requests_total", flushes as f64),
            ("node_disk_flush_requests_time_seconds_total", ms(time)),
        ]);
    }
    let mut points: Vec<Point> = values
        .into_iter()
        .map(|(name, value)| Point::new(name, value).with("device", disk.name.clone()))
        .collect();
    let property = |key: &str| {
        udev.lines()
            .find_map(|line| {
                line.strip_prefix("E:")?
                    .strip_prefix(key)?
                    .strip_prefix('=')
            })
            .unwrap_or("")
            .to_string()
    };
    points.push(
        Point::new("node_disk_info", 1.0)
            .with("device", disk.name.clone())
            .with("major", disk.major.to_string())
            .with("minor", disk.minor.to_string())
            .with("path", property("ID_PATH"))
            .with("wwn", property("ID_WWN"))
            .with("model", property("ID_MODEL"))
            .with("serial", property("ID_SERIAL_SHORT"))
            .with("revision", property("ID_REVISION")),
    );
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(extended: bool) -> procfs::DiskStat {
        procfs::DiskStat {
            major: 8,
            minor: 0,
            name: "sda".into(),
            reads: 10,
            merged: 1,
            sectors_read: 4,
            time_reading: 1500,
            writes: 20,
            writes_merged: 2,
            sectors_written: 8,
            time_writing: 250,
            in_progress: 3,
            time_in_progress: 1000,
            weighted_time_in_progress: 2000,
            discards: extended.then_some(5),
            discards_merged: extended.then_some(6),
            sectors_discarded: extended.then_some(7),
            time_discarding: extended.then_some(8000),
            flushes: extended.then_some(9),
            time_flushing: extended.then_some(10),
        }
    }

    #[test]
    fn units_follow_node_exporter() {
        let points = disk_points(&disk(true), "");
        let value = |name: &str| {
            points
                .iter()
                .find(|point| point.name == name)
                .map(|point| point.value)
        };
        assert_eq!(value("node_disk_read_bytes_total"), Some(2048.0));
        assert_eq!(value("node_disk_read_time_seconds_total"), Some(1.5));
        assert_eq!(value("node_disk_written_bytes_total"), Some(4096.0));
        assert_eq!(value("node_disk_io_now"), Some(3.0));
        assert_eq!(value("node_disk_discarded_sectors_total"), Some(7.0));
        assert_eq!(value("node_disk_discard_time_seconds_total"), Some(8.0));
        assert_eq!(
            value("node_disk_flush_requests_time_seconds_total"),
            Some(0.01)
        );
        assert_eq!(points.len(), 18);
    }

    #[test]
    fn old_kernels_lack_discard_and_flush() {
        assert_eq!(disk_points(&disk(false), "").len(), 12);
    }

    #[test]
    fn info_takes_udev_properties() {
        let udev = "S:disk/by-id/x\nE:ID_MODEL=Samsung_SSD\nE:ID_SERIAL_SHORT=S123\nE:ID_PATH=pci-0000:00:1f.2-ata-1\n";
        let points = disk_points(&disk(false), udev);
        let info = points.last().expect("info");
        assert_eq!(info.name, "node_disk_info");
        assert_eq!(
            info.labels,
            vec![
                ("device", "sda".to_string()),
                ("major", "8".to_string()),
                ("minor", "0".to_string()),
                ("path", "pci-0000:00:1f.2-ata-1".to_string()),
                ("model", "Samsung_SSD".to_string()),
                ("serial", "S123".to_string()),
            ]
        );
    }
}
