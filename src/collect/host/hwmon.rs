//! Family `hwmon`: hardware sensors of /sys/class/hwmon under node_exporter 1.5's
//! names: `node_hwmon_temp_celsius{chip,sensor}` and the other `temp` elements
//! (`_max_celsius`, `_crit_celsius`, `_crit_alarm_celsius`...), voltages (`_volts`),
//! fans (`_rpm`), currents (`_amps`), power (`_watt`), energy (`_joule_total`), alarms,
//! `node_hwmon_chip_names{chip,chip_name}` and `node_hwmon_sensor_label{chip,sensor,label}`.
//! Owns: naming chips (from the device path, as node_exporter does: stable across
//! reboots, unlike `hwmonN`), grouping sensor files into sensors, and the units.
//! Does not: thermal zones (node_exporter's `thermal_zone` family) or lm-sensors' config.
//!
//! A machine without /sys/class/hwmon (most VMs) gives no series and no error: the
//! family would otherwise fail every interval for a fact of the hardware (node_exporter
//! reports "no data" for it). A sensor file that cannot be read or parsed is skipped.

use super::{HostError, HostOptions, Point, compile};
use regex::Regex;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

const HWMON_DIR: &str = "/sys/class/hwmon";

/// node_exporter's split of a sensor file name into `<type><number>_<property>`.
const FILE_NAME_PATTERN: &str = r"^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?$";

/// Sensor types read, node_exporter 1.5's list; other files (`name`, `uevent`) are not.
const SENSOR_TYPES: [&str; 13] = [
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
];

use crate::limits::HOST_SENSOR_FILE_BYTES_MAX as SENSOR_FILE_BYTES_MAX;

/// Sensor (`temp1`) → element (`input`, `max`, `label`, `""` for a bare `temp1`) → text.
type Sensors = BTreeMap<String, BTreeMap<String, String>>;

pub(super) fn collect(_options: &HostOptions) -> Result<Vec<Point>, HostError> {
    collect_from(Path::new(HWMON_DIR))
}

/// The family on the directory `root`, /sys/class/hwmon or a fake tree in tests.
fn collect_from(root: &Path) -> Result<Vec<Point>, HostError> {
    let file_name_pattern = compile(FILE_NAME_PATTERN)?;
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(HostError::Read {
                path: root.display().to_string(),
                source,
            });
        }
    };
    let mut chips: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    chips.sort();
    let mut points = Vec::new();
    for directory in chips {
        match chip_points(&directory, &file_name_pattern) {
            Some(found) => points.extend(found),
            None => tracing::debug!(directory = %directory.display(), "hwmon chip without a name"),
        }
    }
    // Two chips with one name, or two elements that clean to one name, would give one
    // series twice (node_exporter fails the whole scrape then); keep the first.
    let mut seen = HashSet::new();
    points.retain(|point| seen.insert((point.name.clone(), point.labels.clone())));
    Ok(points)
}

/// The series of one chip directory; `None` when it has no usable name.
fn chip_points(directory: &Path, file_name_pattern: &Regex) -> Option<Vec<Point>> {
    let chip = chip_name(directory)?;
    let mut sensors = Sensors::new();
    read_sensors(directory, file_name_pattern, &mut sensors);
    let device = directory.join("device");
    if device.exists() {
        read_sensors(&device, file_name_pattern, &mut sensors);
    }
    let mut points = Vec::new();
    let human_name = read_sensor_file(&directory.join("name"))
        .map(|name| clean_name(&name))
        .filter(|name| !name.is_empty());
    if let Some(human_name) = human_name {
        points.push(
            Point::new("node_hwmon_chip_names", 1.0)
                .with("chip", chip.clone())
                .with("chip_name", human_name),
        );
    }
    for (sensor, elements) in &sensors {
        let sensor_type = split_file_name(sensor, file_name_pattern)
            .map(|(sensor_type, _, _)| sensor_type)
            .unwrap_or_default();
        points.extend(sensor_points(&chip, sensor, &sensor_type, elements));
    }
    Some(points)
}

/// Adds the sensor files of `directory` (the chip's, then its `device/`'s) to `sensors`.
fn read_sensors(directory: &Path, file_name_pattern: &Regex, sensors: &mut Sensors) {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(file_name) = entry.file_name().into_string() else {
            continue;
        };
        let Some((sensor_type, number, property)) = split_file_name(&file_name, file_name_pattern)
        else {
            continue;
        };
        if !SENSOR_TYPES.contains(&sensor_type.as_str()) {
            continue;
        }
        if let Some(value) = read_sensor_file(&entry.path()) {
            sensors
                .entry(format!("{sensor_type}{number}"))
                .or_default()
                .insert(property, value.trim_matches('\n').to_string());
        }
    }
}

/// `temp1_input` → (`temp`, 1, `input`); `beep_enable` → (`beep_enable`, 0, ``).
fn split_file_name(file_name: &str, file_name_pattern: &Regex) -> Option<(String, u64, String)> {
    let captures = file_name_pattern.captures(file_name)?;
    let sensor_type = captures.name("type")?.as_str().to_string();
    let number = match captures.name("id").map(|id| id.as_str()) {
        None | Some("") => 0,
        Some(digits) => digits.parse().ok()?,
    };
    let property = captures
        .name("property")
        .map_or("", |property| property.as_str());
    Some((sensor_type, number, property.to_string()))
}

fn read_sensor_file(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(SENSOR_FILE_BYTES_MAX)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The series of one sensor, node_exporter's naming and units.
fn sensor_points(
    chip: &str,
    sensor: &str,
    sensor_type: &str,
    elements: &BTreeMap<String, String>,
) -> Vec<Point> {
    let labelled = |name: String, value: f64| {
        Point::new(name, value)
            .with("chip", chip.to_string())
            .with("sensor", sensor.to_string())
    };
    let mut points = Vec::new();
    if let Some(label) = elements.get("label") {
        points.push(
            Point::new("node_hwmon_sensor_label", 1.0)
                .with("chip", chip.to_string())
                .with("label", label.clone())
                .with("sensor", sensor.to_string()),
        );
    }
    let bare = elements.get("").map(String::as_str);
    let bare_number = bare.and_then(|text| text.parse::<f64>().ok());
    match sensor_type {
        "beep_enable" => {
            let enabled = if bare == Some("1") { 1.0 } else { 0.0 };
            points.push(labelled("node_hwmon_beep_enabled".into(), enabled));
            return points;
        }
        "vrm" => {
            points.extend(
                bare_number
                    .map(|value| labelled("node_hwmon_voltage_regulator_version".into(), value)),
            );
            return points;
        }
        "update_interval" => {
            points.extend(
                bare_number.map(|value| {
                    labelled("node_hwmon_update_interval_seconds".into(), value * 0.001)
                }),
            );
            return points;
        }
        _ => {}
    }
    for (element, text) in elements {
        if element == "label" {
            continue;
        }
        let Ok(value) = text.parse::<f64>() else {
            continue;
        };
        let mut name = format!("node_hwmon_{sensor_type}");
        if element == "input" {
            // A sensor with both `temp1` and `temp1_input` keeps them apart.
            if bare.is_some() {
                name.push_str("_input");
            }
        } else if !element.is_empty() {
            name.push('_');
            name.push_str(&clean_name(element));
        }
        let (name, value) = with_unit(name, sensor_type, element, value);
        points.push(labelled(name, value));
    }
    points
}

/// node_exporter's unit for each element: suffix and scale (sysfs gives milli-units
/// and micro-units). Elements without a unit keep the value as read (a temperature's
/// `type` included: node_exporter gives it as `node_hwmon_temp_type`).
fn with_unit(name: String, sensor_type: &str, element: &str, value: f64) -> (String, f64) {
    // Milli-units are multiplied by 0.001 and micro-units divided by 1e6, exactly as
    // node_exporter does, so that values agree to the last bit.
    let scaled = |suffix: &str, factor: f64| (format!("{name}{suffix}"), value * factor);
    let micro = |suffix: &str| (format!("{name}{suffix}"), value / 1_000_000.0);
    match (sensor_type, element) {
        (_, "fault" | "alarm") => scaled("", 1.0),
        (_, "beep") => scaled("_enabled", 1.0),
        ("in" | "cpu", _) => scaled("_volts", 0.001),
        ("temp", "type") => scaled("", 1.0),
        ("temp", _) => scaled("_celsius", 0.001),
        ("curr", _) => scaled("_amps", 0.001),
        ("energy", _) => micro("_joule_total"),
        ("power", "accuracy") => micro(""),
        ("power", "average_interval" | "average_interval_min" | "average_interval_max") => {
            scaled("_seconds", 0.001)
        }
        ("power", _) => micro("_watt"),
        ("humidity", _) => micro(""),
        ("fan", "input" | "min" | "max" | "target") => scaled("_rpm", 1.0),
        _ => scaled("", 1.0),
    }
}

/// A chip's `chip` label: from its device path (`platform_coretemp_0`, stable across
/// reboots), else its `name` file, else the `hwmonN` directory name.
fn chip_name(directory: &Path) -> Option<String> {
    if let Ok(device) = std::fs::canonicalize(directory.join("device")) {
        let device_name = device
            .file_name()
            .map(|name| clean_name(&name.to_string_lossy()))
            .unwrap_or_default();
        let device_type = device
            .parent()
            .and_then(Path::file_name)
            .map(|name| clean_name(&name.to_string_lossy()))
            .unwrap_or_default();
        match (device_type.is_empty(), device_name.is_empty()) {
            (false, false) => return Some(format!("{device_type}_{device_name}")),
            (true, false) => return Some(device_name),
            _ => {}
        }
    }
    if let Some(name) = read_sensor_file(&directory.join("name")) {
        let name = clean_name(&name);
        if !name.is_empty() {
            return Some(name);
        }
    }
    let real = std::fs::canonicalize(directory).ok()?;
    let name = clean_name(&real.file_name()?.to_string_lossy());
    (!name.is_empty()).then_some(name)
}

/// node_exporter's `cleanMetricName`: lower case, every character outside
/// `[a-z0-9:_]` becomes `_`, leading and trailing `_` go.
fn clean_name(name: &str) -> String {
    let lower: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    lower.trim_matches('_').to_string()
}

#[cfg(test)]
mod tests;
