//! Family `netdev`: `node_network_{receive,transmit}_*_total{device}` for each
//! interface of /proc/net/dev (through `procfs::net::dev_status`) that
//! `[collect.host.netdev]` covers (default: all but `lo`).
//! Owns: node_exporter's legacy counter names (`errs`, `drop`, `colls`...). Does not:
//! the per-interface `/sys/class/net` gauges (`node_network_up`, `_mtu_bytes`,
//! `_info`...), which belong to node_exporter's `netclass` family (`netclass.rs`).
//!
//! node_exporter 1.5 reads these counters over netlink and renames them to the
//! /proc/net/dev names; the kernel computes /proc/net/dev's folded columns (`drop` =
//! dropped + missed, `frame` = length + over + crc + frame errors, `carrier` = the sum
//! of carrier, aborted, window and heartbeat errors) exactly as that renaming does, so
//! the values agree. Netlink's one extra counter, `rx_nohandler`, is read from sysfs.

use super::{HostError, HostOptions, Point};

pub(super) fn collect(options: &HostOptions) -> Result<Vec<Point>, HostError> {
    let devices = procfs::net::dev_status()?;
    let mut names: Vec<&String> = devices
        .keys()
        .filter(|name| options.netdev_devices.covers(name))
        .collect();
    names.sort();
    let mut points = Vec::new();
    for name in names {
        let Some(device) = devices.get(name) else {
            continue;
        };
        let nohandler =
            std::fs::read_to_string(format!("/sys/class/net/{name}/statistics/rx_nohandler"))
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok());
        points.extend(device_points(device, nohandler));
    }
    Ok(points)
}

fn device_points(device: &procfs::net::DeviceStatus, nohandler: Option<u64>) -> Vec<Point> {
    let counters = [
        ("node_network_receive_bytes_total", device.recv_bytes),
        ("node_network_receive_packets_total", device.recv_packets),
        ("node_network_receive_errs_total", device.recv_errs),
        ("node_network_receive_drop_total", device.recv_drop),
        ("node_network_receive_fifo_total", device.recv_fifo),
        ("node_network_receive_frame_total", device.recv_frame),
        (
            "node_network_receive_compressed_total",
            device.recv_compressed,
        ),
        (
            "node_network_receive_multicast_total",
            device.recv_multicast,
        ),
        ("node_network_transmit_bytes_total", device.sent_bytes),
        ("node_network_transmit_packets_total", device.sent_packets),
        ("node_network_transmit_errs_total", device.sent_errs),
        ("node_network_transmit_drop_total", device.sent_drop),
        ("node_network_transmit_fifo_total", device.sent_fifo),
        ("node_network_transmit_colls_total", device.sent_colls),
        ("node_network_transmit_carrier_total", device.sent_carrier),
        (
            "node_network_transmit_compressed_total",
            device.sent_compressed,
        ),
    ];
    let nohandler = nohandler.map(|value| ("node_network_receive_nohandler_total", value));
    counters
        .into_iter()
        .chain(nohandler)
        .map(|(metric, value)| Point::new(metric, value as f64).with("device", device.name.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_named_and_labelled() {
        let device = procfs::net::DeviceStatus {
            name: "eth0".into(),
            recv_bytes: 1,
            recv_packets: 2,
            recv_errs: 3,
            recv_drop: 4,
            recv_fifo: 5,
            recv_frame: 6,
            recv_compressed: 7,
            recv_multicast: 8,
            sent_bytes: 9,
            sent_packets: 10,
            sent_errs: 11,
            sent_drop: 12,
            sent_fifo: 13,
            sent_colls: 14,
            sent_carrier: 15,
            sent_compressed: 16,
        };
        let points = device_points(&device, Some(17));
        assert_eq!(points.len(), 17);
        for (index, point) in points.iter().enumerate() {
            assert_eq!(point.value, (index + 1) as f64, "{}", point.name);
            assert_eq!(point.labels, vec![("device", "eth0".to_string())]);
            assert!(point.name.ends_with("_total"), "{}", point.name);
        }
        assert_eq!(device_points(&device, None).len(), 16);
    }
}
