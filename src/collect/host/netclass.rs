//! Family `netclass`: the per-interface gauges of /sys/class/net/<device>/ under
//! node_exporter 1.5's names: `node_network_up`, `node_network_info{address,broadcast,
//! device,duplex,ifalias,operstate}`, `node_network_mtu_bytes`, `_speed_bytes`,
//! `_carrier`, `_carrier_changes_total`, `_transmit_queue_length`, `_iface_id`...
//! Owns: reading those sysfs attributes and node_exporter's renaming and units.
//! Does not: the traffic counters of /proc/net/dev (`netdev.rs`), or netlink
//! (node_exporter's `--collector.netclass.netlink`, off by default).
//!
//! Devices: every entry of /sys/class/net that is not a regular file (`bonding_masters`
//! is one), minus `[collect.host.netclass]`'s filter, whose default `^$` leaves none
//! out, so unlike `netdev` this family covers `lo` (node_exporter's
//! `--collector.netclass.ignored-devices` default).
//!
//! An attribute the kernel refuses to give (`carrier` or `speed` of a device that is
//! down answer EINVAL) or that is missing is skipped, as node_exporter's procfs
//! library does; only a device's whole series set is ever dropped when the device
//! vanishes between listing and reading.

use super::{DeviceMatcher, HostError, HostOptions, Point};
use std::collections::BTreeMap;
use std::path::Path;

const NET_CLASS_DIR: &str = "/sys/class/net";

/// `/sys/class/net/<device>/<file>` → `node_network_<name>`, value as read, in
/// node_exporter's order. `speed` is not here: its unit changes (`speed_bytes`).
const GAUGES: [(&str, &str); 16] = [
    ("addr_assign_type", "node_network_address_assign_type"),
    ("carrier", "node_network_carrier"),
    ("carrier_changes", "node_network_carrier_changes_total"),
    ("carrier_up_count", "node_network_carrier_up_changes_total"),
    (
        "carrier_down_count",
        "node_network_carrier_down_changes_total",
    ),
    ("dev_id", "node_network_device_id"),
    ("dormant", "node_network_dormant"),
    ("flags", "node_network_flags"),
    ("ifindex", "node_network_iface_id"),
    ("iflink", "node_network_iface_link"),
    ("link_mode", "node_network_iface_link_mode"),
    ("mtu", "node_network_mtu_bytes"),
    ("name_assign_type", "node_network_name_assign_type"),
    ("netdev_group", "node_network_net_dev_group"),
    ("tx_queue_len", "node_network_transmit_queue_length"),
    ("type", "node_network_protocol_type"),
];

/// Text attributes, the labels of `node_network_info`.
const INFO: [&str; 5] = ["address", "broadcast", "duplex", "ifalias", "operstate"];

use crate::limits::HOST_SYSFS_ATTRIBUTE_BYTES_MAX as ATTRIBUTE_BYTES_MAX;

pub(super) fn collect(options: &HostOptions) -> Result<Vec<Point>, HostError> {
    collect_from(Path::new(NET_CLASS_DIR), &options.netclass_devices)
}

/// The family on the sysfs directory `root` (a fake tree in tests).
fn collect_from(root: &Path, devices: &DeviceMatcher) -> Result<Vec<Point>, HostError> {
    let entries = std::fs::read_dir(root).map_err(|source| HostError::Read {
        path: root.display().to_string(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| !kind.is_file()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| devices.covers(name))
        .collect();
    names.sort();
    let mut points = Vec::new();
    for name in names {
        let directory = root.join(&name);
        if !directory.is_dir() {
            continue;
        }
        let attributes = read_attributes(&directory);
        points.extend(device_points(&name, &attributes));
    }
    Ok(points)
}

/// The attributes this family reads that the kernel gives for one device, trimmed.
fn read_attributes(directory: &Path) -> BTreeMap<&'static str, String> {
    let files = GAUGES
        .iter()
        .map(|(file, _)| *file)
        .chain(INFO)
        .chain(["speed"]);
    files
        .filter_map(|file| {
            read_attribute(&directory.join(file)).map(|value| (file, value.trim().to_string()))
        })
        .collect()
}

fn read_attribute(path: &Path) -> Option<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(ATTRIBUTE_BYTES_MAX)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// The series of one device from its attributes (file name → trimmed text).
fn device_points(device: &str, attributes: &BTreeMap<&str, String>) -> Vec<Point> {
    let text = |file: &str| attributes.get(file).cloned().unwrap_or_default();
    let labelled = |name: &str, value: f64| Point::new(name, value).with("device", device);
    let operstate = text("operstate");
    let mut points = vec![
        labelled("node_network_up", if operstate == "up" { 1.0 } else { 0.0 }),
        Point::new("node_network_info", 1.0)
            .with("address", text("address"))
            .with("broadcast", text("broadcast"))
            .with("device", device)
            .with("duplex", text("duplex"))
            .with("ifalias", text("ifalias"))
            .with("operstate", operstate),
    ];
    let integer = |file: &str| attributes.get(file).and_then(|value| parse_go_int(value));
    for (file, name) in GAUGES {
        if let Some(value) = integer(file) {
            points.push(labelled(name, value as f64));
        }
    }
    // Mbit/s to bytes/s in integers, as node_exporter does: an unknown speed (-1) is
    // -125000, not left out (`--collector.netclass.ignore-invalid-speed` is off).
    if let Some(speed_bytes) = integer("speed").and_then(|speed| speed.checked_mul(1_000_000)) {
        points.push(labelled(
            "node_network_speed_bytes",
            (speed_bytes / 8) as f64,
        ));
    }
    debug_assert!(points.len() <= 2 + GAUGES.len() + 1);
    points
}

/// An integer as Go's `strconv.ParseInt(text, 0, 64)` reads it: `0x` hex (`flags`
/// is `0x1003`), `0o`/`0` octal, `0b` binary, else decimal, with an optional sign.
fn parse_go_int(text: &str) -> Option<i64> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits) = if let Some(digits) = lower.strip_prefix("0x") {
        (16, digits.replace('_', ""))
    } else if let Some(digits) = lower.strip_prefix("0b") {
        (2, digits.replace('_', ""))
    } else if let Some(digits) = lower.strip_prefix("0o") {
        (8, digits.replace('_', ""))
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].replace('_', ""))
    } else {
        (10, lower)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = i128::from_str_radix(&digits, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::host::DeviceFilter;

    fn names_and_values(points: &[Point]) -> Vec<(String, f64)> {
        points
            .iter()
            .map(|point| (point.name.clone(), point.value))
            .collect()
    }

    #[test]
    fn go_integers() {
        let check =
            |text: &str, expect: Option<i64>| assert_eq!(parse_go_int(text), expect, "{text}");
        check("1500", Some(1500));
        check("0x1003", Some(4099));
        check("-1", Some(-1));
        check("0", Some(0));
        check("010", Some(8));
        check("0b11", Some(3));
        check("", None);
        check("up", None);
        check("0x", None);
        check("--1", None);
        check("99999999999999999999", None);
    }

    #[test]
    fn a_device_that_is_up() {
        let attributes: BTreeMap<&str, String> = [
            ("address", "02:fc:00:00:00:01"),
            ("broadcast", "ff:ff:ff:ff:ff:ff"),
            ("duplex", "full"),
            ("operstate", "up"),
            ("mtu", "1400"),
            ("flags", "0x1003"),
            ("carrier_changes", "2"),
            ("speed", "1000"),
            ("ifindex", "4"),
        ]
        .into_iter()
        .map(|(file, value)| (file, value.to_string()))
        .collect();
        let points = device_points("eth0", &attributes);
        assert_eq!(
            names_and_values(&points),
            vec![
                ("node_network_up".to_string(), 1.0),
                ("node_network_info".to_string(), 1.0),
                ("node_network_carrier_changes_total".to_string(), 2.0),
                ("node_network_flags".to_string(), 4099.0),
                ("node_network_iface_id".to_string(), 4.0),
                ("node_network_mtu_bytes".to_string(), 1400.0),
                ("node_network_speed_bytes".to_string(), 125_000_000.0),
            ]
        );
        assert_eq!(
            points[1].labels,
            vec![
                ("address", "02:fc:00:00:00:01".to_string()),
                ("broadcast", "ff:ff:ff:ff:ff:ff".to_string()),
                ("device", "eth0".to_string()),
                ("duplex", "full".to_string()),
                ("operstate", "up".to_string()),
            ]
        );
        assert_eq!(points[0].labels, vec![("device", "eth0".to_string())]);
    }

    #[test]
    fn unknown_speed_and_state() {
        let attributes: BTreeMap<&str, String> = [("speed", "-1"), ("operstate", "unknown")]
            .into_iter()
            .map(|(file, value)| (file, value.to_string()))
            .collect();
        assert_eq!(
            names_and_values(&device_points("lo", &attributes)),
            vec![
                ("node_network_up".to_string(), 0.0),
                ("node_network_info".to_string(), 1.0),
                ("node_network_speed_bytes".to_string(), -125_000.0),
            ]
        );
    }

    #[test]
    fn a_fake_sysfs_tree() {
        let root = tempfile::tempdir().expect("tempdir");
        let device = |name: &str, files: &[(&str, &str)]| {
            let directory = root.path().join(name);
            std::fs::create_dir(&directory).expect("mkdir");
            for (file, text) in files {
                std::fs::write(directory.join(file), format!("{text}\n")).expect("write");
            }
        };
        device("eth0", &[("operstate", "up"), ("mtu", "1500")]);
        device("lo", &[("operstate", "unknown"), ("mtu", "65536")]);
        // A regular file beside the devices, as the bonding driver adds one.
        std::fs::write(root.path().join("bonding_masters"), "\n").expect("write");
        let all = DeviceMatcher::new(&DeviceFilter::Exclude("^$".into())).expect("regex");
        let points = collect_from(root.path(), &all).expect("collects");
        let got: Vec<String> = points
            .iter()
            .filter(|point| point.name == "node_network_mtu_bytes")
            .map(|point| format!("{:?} {}", point.labels, point.value))
            .collect();
        assert_eq!(
            got,
            vec![
                "[(\"device\", \"eth0\")] 1500",
                "[(\"device\", \"lo\")] 65536"
            ]
        );
        let no_lo = DeviceMatcher::new(&DeviceFilter::Exclude("^lo$".into())).expect("regex");
        let points = collect_from(root.path(), &no_lo).expect("collects");
        assert!(
            points
                .iter()
                .all(|point| point.labels.contains(&("device", "eth0".to_string())))
        );
        assert!(collect_from(&root.path().join("missing"), &all).is_err());
    }

    #[test]
    fn this_host_has_interfaces() {
        let options = HostOptions::node_exporter_defaults().expect("defaults");
        let Ok(points) = collect(&options) else {
            return; // No /sys/class/net (some containers).
        };
        assert!(points.iter().any(|point| point.name == "node_network_up"));
    }
}
