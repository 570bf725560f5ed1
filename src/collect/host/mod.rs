//! The host collector: this machine's metrics under node_exporter 1.5's names.
//! Owns: the family registry (`FAMILIES`, one file per family), the point type every
//! family returns, the options compiled from `[collect.host]`, and one collection
//! (`collect_once`), which runs every family independently and times it.
//! Does not: touch storage (`run.rs` does, through `Storage::resolve` /
//! `append_refs`), read TOML (`config::HostCollectConfig` arrives validated), or
//! register anything in `selfmon` (the collector's own series are stored, see `run.rs`).
//!
//! Compatibility is the point: metric names, label names, types and units are exactly
//! node_exporter 1.5's (`prometheus-node-exporter` in Debian 12), so its dashboards
//! and alerts work unchanged; `tests/host_collector.rs` compares both on this host.
//! Where node_exporter reads a file generically (meminfo, vmstat), so do we, so that
//! fields a newer kernel adds appear under the name node_exporter would give them.

mod cpu;
mod diskstats;
mod filefd;
mod filesystem;
mod hwmon;
mod loadavg;
mod meminfo;
mod netclass;
mod netdev;
mod os;
mod pressure;
mod processes;
mod run;
mod sockstat;
mod stat;
mod time;
mod timex;
mod uname;
mod vmstat;

pub use run::{HostState, run};

use crate::config::HostCollectConfig;
use regex::Regex;
use std::time::{Duration, Instant};

/// node_exporter 1.5's flag defaults, as the Debian package prints them in `--help`.
pub mod defaults {
    /// `--collector.filesystem.mount-points-exclude`.
    pub const FILESYSTEM_MOUNT_POINTS_EXCLUDE: &str =
        "^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
    /// `--collector.filesystem.fs-types-exclude`.
    pub const FILESYSTEM_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";
    /// `--collector.filesystem.mount-timeout`: how long `statfs` may take before its
    /// mount counts as stuck.
    pub const FILESYSTEM_MOUNT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
    /// `--collector.netdev.device-exclude`.
    pub const NETDEV_DEVICE_EXCLUDE: &str = "^lo$";
    /// `--collector.netclass.ignored-devices`: matches only the empty name, so every
    /// interface is covered, `lo` included.
    pub const NETCLASS_DEVICE_EXCLUDE: &str = "^$";
    /// `--collector.diskstats.device-exclude`: partitions, loop, ram and floppy devices.
    pub const DISKSTATS_DEVICE_EXCLUDE: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";
    /// `--collector.vmstat.fields`.
    pub const VMSTAT_FIELDS_INCLUDE: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";
}

use crate::limits::HOST_POINTS_MAX;

/// Why a family failed. Reported per family; the others carry on.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("parsing {path}: {message}")]
    Parse { path: String, message: String },
    #[error(transparent)]
    Proc(#[from] procfs::ProcError),
    #[error("invalid regex {pattern:?}: {source}")]
    Pattern {
        pattern: String,
        source: regex::Error,
    },
    #[error("more than {limit} points in one collection; the rest are dropped")]
    TooManyPoints { limit: usize },
}

/// Reads a whole /proc or /sys file.
fn read(path: &str) -> Result<String, HostError> {
    std::fs::read_to_string(path).map_err(|source| HostError::Read {
        path: path.to_string(),
        source,
    })
}

fn parse_error(path: &str, message: impl Into<String>) -> HostError {
    HostError::Parse {
        path: path.to_string(),
        message: message.into(),
    }
}

/// One value of one series, before the collector's `job` / `instance` are added.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub name: String,
    /// Label names and values; empty values are left out (Prometheus' data model).
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl Point {
    fn new(name: impl Into<String>, value: f64) -> Point {
        Point {
            name: name.into(),
            labels: Vec::new(),
            value,
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Point {
        let value = value.into();
        if !value.is_empty() {
            self.labels.push((name, value));
        }
        self
    }
}

/// Which devices a family covers: node_exporter's `device-include` or
/// `device-exclude` (an unanchored regex), never both.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DeviceFilter {
    Include(String),
    Exclude(String),
}

/// A `DeviceFilter` compiled.
#[derive(Clone, Debug)]
enum DeviceMatcher {
    Include(Regex),
    Exclude(Regex),
}

impl DeviceMatcher {
    fn new(filter: &DeviceFilter) -> Result<DeviceMatcher, HostError> {
        Ok(match filter {
            DeviceFilter::Include(pattern) => DeviceMatcher::Include(compile(pattern)?),
            DeviceFilter::Exclude(pattern) => DeviceMatcher::Exclude(compile(pattern)?),
        })
    }

    fn covers(&self, device: &str) -> bool {
        match self {
            DeviceMatcher::Include(regex) => regex.is_match(device),
            DeviceMatcher::Exclude(regex) => !regex.is_match(device),
        }
    }
}

fn compile(pattern: &str) -> Result<Regex, HostError> {
    Regex::new(pattern).map_err(|source| HostError::Pattern {
        pattern: pattern.to_string(),
        source,
    })
}

/// `[collect.host]` with its patterns compiled: what the families read.
#[derive(Clone, Debug)]
pub struct HostOptions {
    families_exclude: Vec<String>,
    mount_points_exclude: Regex,
    fs_types_exclude: Regex,
    filesystem_mount_timeout: Duration,
    netdev_devices: DeviceMatcher,
    netclass_devices: DeviceMatcher,
    diskstats_devices: DeviceMatcher,
    vmstat_fields_include: Regex,
}

impl HostOptions {
    /// Fails only on a pattern the config validation let through (a bug).
    pub fn new(config: &HostCollectConfig) -> Result<HostOptions, HostError> {
        Ok(HostOptions {
            families_exclude: config.families_exclude.clone(),
            mount_points_exclude: compile(&config.filesystem_mount_points_exclude)?,
            fs_types_exclude: compile(&config.filesystem_fs_types_exclude)?,
            filesystem_mount_timeout: config.filesystem_mount_timeout,
            netdev_devices: DeviceMatcher::new(&config.netdev_devices)?,
            netclass_devices: DeviceMatcher::new(&config.netclass_devices)?,
            diskstats_devices: DeviceMatcher::new(&config.diskstats_devices)?,
            vmstat_fields_include: compile(&config.vmstat_fields_include)?,
        })
    }

    /// node_exporter 1.5's defaults, every family on.
    pub fn node_exporter_defaults() -> Result<HostOptions, HostError> {
        HostOptions::new(&HostCollectConfig::default())
    }
}

/// One family: node_exporter's collector name and the function that reads it.
pub struct Family {
    pub name: &'static str,
    collect: fn(&HostOptions) -> Result<Vec<Point>, HostError>,
}

// === Family registry, in node_exporter's collector names ===
// Each entry: `name => file::collect(&HostOptions) -> Result<Vec<Point>, HostError>`.
pub const FAMILIES: [Family; 18] = [
    Family {
        name: "cpu",
        collect: cpu::collect,
    },
    Family {
        name: "loadavg",
        collect: loadavg::collect,
    },
    Family {
        name: "meminfo",
        collect: meminfo::collect,
    },
    Family {
        name: "filesystem",
        collect: filesystem::collect,
    },
    Family {
        name: "netdev",
        collect: netdev::collect,
    },
    Family {
        name: "diskstats",
        collect: diskstats::collect,
    },
    Family {
        name: "stat",
        collect: stat::collect,
    },
    Family {
        name: "time",
        collect: time::collect,
    },
    Family {
        name: "uname",
        collect: uname::collect,
    },
    Family {
        name: "filefd",
        collect: filefd::collect,
    },
    Family {
        name: "pressure",
        collect: pressure::collect,
    },
    Family {
        name: "vmstat",
        collect: vmstat::collect,
    },
    Family {
        name: "netclass",
        collect: netclass::collect,
    },
    Family {
        name: "sockstat",
        collect: sockstat::collect,
    },
    Family {
        name: "hwmon",
        collect: hwmon::collect,
    },
    Family {
        name: "os",
        collect: os::collect,
    },
    Family {
        name: "timex",
        collect: timex::collect,
    },
    Family {
        name: "processes",
        collect: processes::collect,
    },
];

/// Names accepted in `[collect.host] families_exclude`.
pub const FAMILY_NAMES: [&str; FAMILIES.len()] = {
    let mut names = [""; FAMILIES.len()];
    let mut index = 0;
    while index < FAMILIES.len() {
        names[index] = FAMILIES[index].name;
        index += 1;
    }
    names
};

/// What one family gave in one collection.
#[derive(Debug)]
pub struct FamilyOutcome {
    pub family: &'static str,
    pub points: Result<Vec<Point>, HostError>,
    pub duration: Duration,
}

/// Runs every family not excluded, each on its own: one failing does not stop the
/// others. Blocking (file reads, `statfs`); call it from a blocking thread.
pub fn collect_once(options: &HostOptions) -> Vec<FamilyOutcome> {
    let mut outcomes = Vec::with_capacity(FAMILIES.len());
    let mut points_total = 0usize;
    for family in &FAMILIES {
        if options
            .families_exclude
            .iter()
            .any(|name| name == family.name)
        {
            continue;
        }
        let started = Instant::now();
        let mut points = (family.collect)(options);
        if let Ok(found) = &mut points {
            let room = HOST_POINTS_MAX.saturating_sub(points_total);
            if found.len() > room {
                found.truncate(room);
                points = Err(HostError::TooManyPoints {
                    limit: HOST_POINTS_MAX,
                });
            } else {
                points_total += found.len();
            }
        }
        debug_assert!(points_total <= HOST_POINTS_MAX);
        outcomes.push(FamilyOutcome {
            family: family.name,
            points,
            duration: started.elapsed(),
        });
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_are_unique() {
        for (index, name) in FAMILY_NAMES.iter().enumerate() {
            assert!(!FAMILY_NAMES[..index].contains(name), "{name} twice");
        }
    }

    #[test]
    fn defaults_compile_and_filter_like_node_exporter() {
        let options = HostOptions::node_exporter_defaults().expect("defaults compile");
        let check = |matcher: &DeviceMatcher, device: &str, covered: bool| {
            assert_eq!(matcher.covers(device), covered, "{device}");
        };
        check(&options.diskstats_devices, "sda", true);
        check(&options.diskstats_devices, "sda1", false);
        check(&options.diskstats_devices, "nvme0n1", true);
        check(&options.diskstats_devices, "nvme0n1p2", false);
        check(&options.diskstats_devices, "loop3", false);
        check(&options.diskstats_devices, "dm-0", true);
        check(&options.netdev_devices, "lo", false);
        check(&options.netdev_devices, "eth0", true);
        check(&options.netclass_devices, "lo", true);
        check(&options.netclass_devices, "eth0", true);
        assert_eq!(options.filesystem_mount_timeout, Duration::from_secs(5));
        assert!(options.mount_points_exclude.is_match("/run/user/1000"));
        assert!(options.mount_points_exclude.is_match("/sys"));
        assert!(!options.mount_points_exclude.is_match("/"));
        assert!(!options.mount_points_exclude.is_match("/home"));
        assert!(options.fs_types_exclude.is_match("cgroup2"));
        assert!(!options.fs_types_exclude.is_match("ext4"));
        assert!(options.vmstat_fields_include.is_match("pgmajfault"));
        assert!(!options.vmstat_fields_include.is_match("nr_free_pages"));
    }

    #[test]
    fn a_point_drops_empty_label_values() {
        let point = Point::new("node_x", 1.0).with("a", "").with("b", "v");
        assert_eq!(point.labels, vec![("b", "v".to_string())]);
    }
}
