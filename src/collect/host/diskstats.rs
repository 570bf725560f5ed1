//! Family `diskstats`: `node_disk_*{device}` from /proc/diskstats (through
//! `procfs::diskstats`) for the devices `[collect.host.diskstats]` covers (default:
//! whole disks, no partitions, loop, ram or floppy devices), `node_disk_info`, and the
//! series node_exporter 1.5 derives from the udev database (/run/udev/data/b<maj>:<min>)
//! when it has them: `node_disk_filesystem_info`, `node_disk_device_mapper_info` and
//! `node_disk_ata_{write_cache,write_cache_enabled,rotation_rate_rpm}`.
//! Owns: node_exporter's names and units (sectors × 512 → bytes, ms → seconds).
//! Does not: talk to udevd (the database files are plain `E:KEY=value` lines; a host
//! without /run/udev simply has no udev labels or udev-only series).

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
        // A device without a udev entry (or a host without udev) has no properties.
        let udev =
            std::fs::read_to_string(format!("/run/udev/data/b{}:{}", disk.major, disk.minor))
                .unwrap_or_default();
        points.extend(disk_points(&disk, &Udev::parse(&udev)));
    }
    Ok(points)
}

/// A device's properties in the udev database: its `E:KEY=value` lines.
struct Udev<'a>(std::collections::HashMap<&'a str, &'a str>);

impl<'a> Udev<'a> {
    fn parse(text: &'a str) -> Udev<'a> {
        Udev(
            text.lines()
                .filter_map(|line| line.strip_prefix("E:")?.split_once('='))
                .collect(),
        )
    }

    /// The property's value, or "" (which leaves the label out).
    fn get(&self, key: &str) -> &'a str {
        self.0.get(key).copied().unwrap_or("")
    }
}

/// node_exporter's ATA gauges: udev property → metric.
const ATA_PROPERTIES: [(&str, &str); 3] = [
    ("ID_ATA_WRITE_CACHE", "node_disk_ata_write_cache"),
    (
        "ID_ATA_WRITE_CACHE_ENABLED",
        "node_disk_ata_write_cache_enabled",
    ),
    (
        "ID_ATA_ROTATION_RATE_RPM",
        "node_disk_ata_rotation_rate_rpm",
    ),
];

fn disk_points(disk: &procfs::DiskStat, udev: &Udev) -> Vec<Point> {
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
    let device = || disk.name.clone();
    points.push(
        Point::new("node_disk_info", 1.0)
            .with("device", device())
            .with("major", disk.major.to_string())
            .with("minor", disk.minor.to_string())
            .with("path", udev.get("ID_PATH"))
            .with("wwn", udev.get("ID_WWN"))
            .with("model", udev.get("ID_MODEL"))
            .with("serial", udev.get("ID_SERIAL_SHORT"))
            .with("revision", udev.get("ID_REVISION")),
    );
    if !udev.get("ID_FS_TYPE").is_empty() {
        points.push(
            Point::new("node_disk_filesystem_info", 1.0)
                .with("device", device())
                .with("type", udev.get("ID_FS_TYPE"))
                .with("usage", udev.get("ID_FS_USAGE"))
                .with("uuid", udev.get("ID_FS_UUID"))
                .with("version", udev.get("ID_FS_VERSION")),
        );
    }
    if !udev.get("DM_NAME").is_empty() {
        points.push(
            Point::new("node_disk_device_mapper_info", 1.0)
                .with("device", device())
                .with("name", udev.get("DM_NAME"))
                .with("uuid", udev.get("DM_UUID"))
                .with("vg_name", udev.get("DM_VG_NAME"))
                .with("lv_name", udev.get("DM_LV_NAME"))
                .with("lv_layer", udev.get("DM_LV_LAYER")),
        );
    }
    if !udev.get("ID_ATA").is_empty() {
        // node_exporter skips a property that is absent or not a number.
        for (property, name) in ATA_PROPERTIES {
            if let Ok(value) = udev.get(property).parse::<f64>() {
                points.push(Point::new(name, value).with("device", device()));
            }
        }
    }
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
        let points = disk_points(&disk(true), &Udev::parse(""));
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
        assert_eq!(disk_points(&disk(false), &Udev::parse("")).len(), 12);
    }

    #[test]
    fn info_takes_udev_properties() {
        let udev = "S:disk/by-id/x\nE:ID_MODEL=Samsung_SSD\nE:ID_SERIAL_SHORT=S123\nE:ID_PATH=pci-0000:00:1f.2-ata-1\n";
        let points = disk_points(&disk(false), &Udev::parse(udev));
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

    #[test]
    fn udev_only_series_follow_node_exporter() {
        // What udev records for an LVM volume on an ATA disk with an ext4 file system
        // (fields from a real /run/udev/data file, values shortened).
        let udev = "S:disk/by-id/dm-name-vg0-root\n\
                    E:DM_NAME=vg0-root\n\
                    E:DM_UUID=LVM-abc\n\
                    E:DM_VG_NAME=vg0\n\
                    E:DM_LV_NAME=root\n\
                    E:ID_FS_TYPE=ext4\n\
                    E:ID_FS_USAGE=filesystem\n\
                    E:ID_FS_UUID=1234-5678\n\
                    E:ID_FS_VERSION=1.0\n\
                    E:ID_ATA=1\n\
                    E:ID_ATA_WRITE_CACHE=1\n\
                    E:ID_ATA_WRITE_CACHE_ENABLED=0\n\
                    E:ID_ATA_ROTATION_RATE_RPM=garbage\n\
                    G:systemd\n";
        let points = disk_points(&disk(false), &Udev::parse(udev));
        let find = |name: &str| points.iter().find(|point| point.name == name);
        let labels = |name: &str| find(name).map(|point| point.labels.clone());
        let text = |pairs: &[(&'static str, &str)]| {
            pairs
                .iter()
                .map(|(key, value)| (*key, value.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            labels("node_disk_filesystem_info"),
            Some(text(&[
                ("device", "sda"),
                ("type", "ext4"),
                ("usage", "filesystem"),
                ("uuid", "1234-5678"),
                ("version", "1.0"),
            ]))
        );
        // DM_LV_LAYER is absent: the label is left out, as Prometheus drops empty ones.
        assert_eq!(
            labels("node_disk_device_mapper_info"),
            Some(text(&[
                ("device", "sda"),
                ("name", "vg0-root"),
                ("uuid", "LVM-abc"),
                ("vg_name", "vg0"),
                ("lv_name", "root"),
            ]))
        );
        assert_eq!(
            find("node_disk_ata_write_cache").map(|point| point.value),
            Some(1.0)
        );
        assert_eq!(
            find("node_disk_ata_write_cache_enabled").map(|point| point.value),
            Some(0.0)
        );
        // Not a number: skipped, as node_exporter does.
        assert!(find("node_disk_ata_rotation_rate_rpm").is_none());
        assert_eq!(points.len(), 12 + 1 + 1 + 2);
    }

    #[test]
    fn no_udev_properties_no_udev_series() {
        let points = disk_points(&disk(false), &Udev::parse("E:ID_ATA_WRITE_CACHE=1\n"));
        assert!(points.iter().all(|point| !point.name.contains("ata_")));
    }
}
