//! Family `time`: `node_time_seconds`, `node_time_zone_offset_seconds{time_zone}`, and
//! `node_time_clocksource_{available,current}_info{clocksource,device}` from
//! /sys/devices/system/clocksource.
//! Owns: those series. Does not: `node_timex_*` (`adjtimex(2)`, node_exporter's
//! `timex` family, `timex.rs`).

use super::{HostError, HostOptions, Point};
use std::time::{SystemTime, UNIX_EPOCH};

const CLOCKSOURCE_DIR: &str = "/sys/devices/system/clocksource";

pub(super) fn collect(_options: &HostOptions) -> Result<Vec<Point>, HostError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64());
    let mut points = vec![Point::new("node_time_seconds", now)];
    if let Some((zone, offset_seconds)) = local_zone(now as libc::time_t) {
        points.push(
            Point::new("node_time_zone_offset_seconds", offset_seconds).with("time_zone", zone),
        );
    }
    // Machines without the clocksource directory (some containers) just lack these.
    if let Ok(entries) = std::fs::read_dir(CLOCKSOURCE_DIR) {
        let mut devices: Vec<String> = entries
            .flatten()
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| name.starts_with("clocksource"))
            .collect();
        devices.sort();
        for device in devices {
            points.extend(clocksource_points(&device));
        }
    }
    Ok(points)
}

fn clocksource_points(directory: &str) -> Vec<Point> {
    let device = directory.trim_start_matches("clocksource").to_string();
    let read = |file: &str| {
        std::fs::read_to_string(format!("{CLOCKSOURCE_DIR}/{directory}/{file}")).unwrap_or_default()
    };
    let mut points: Vec<Point> = read("available_clocksource")
        .split_ascii_whitespace()
        .map(|source| {
            Point::new("node_time_clocksource_available_info", 1.0)
                .with("clocksource", source)
                .with("device", device.clone())
        })
        .collect();
    let current = read("current_clocksource");
    if !current.trim().is_empty() {
        points.push(
            Point::new("node_time_clocksource_current_info", 1.0)
                .with("clocksource", current.trim())
                .with("device", device.clone()),
        );
    }
    points
}

/// The local zone's abbreviation (`UTC`, `CET`) and offset from UTC at `now`.
fn local_zone(now: libc::time_t) -> Option<(String, f64)> {
    let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: `now` and `tm` are valid for the call; localtime_r is the thread-safe form.
    let result = unsafe { libc::localtime_r(&now, tm.as_mut_ptr()) };
    if result.is_null() {
        return None;
    }
    // SAFETY: localtime_r succeeded and filled the struct (zeroed before anyway).
    let tm = unsafe { tm.assume_init() };
    if tm.tm_zone.is_null() {
        return None;
    }
    // SAFETY: tm_zone points to a NUL-terminated static string owned by libc.
    let zone = unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) };
    Some((zone.to_string_lossy().into_owned(), tm.tm_gmtoff as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_and_a_zone() {
        let points =
            collect(&HostOptions::node_exporter_defaults().expect("defaults")).expect("time");
        assert_eq!(points[0].name, "node_time_seconds");
        assert!(points[0].value > 1.6e9);
        assert!(local_zone(0).is_some());
    }
}
