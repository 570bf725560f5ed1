//! Family `filesystem`: `node_filesystem_{size,free,avail}_bytes`,
//! `node_filesystem_{files,files_free,readonly,device_error}{device,fstype,mountpoint}`
//! for each mount of /proc/1/mounts not excluded by `[collect.host.filesystem]`.
//! Owns: parsing the mount table (octal escapes included), the exclusion regexes,
//! `statfs(2)` and node_exporter's arithmetic (blocks × `f_bsize`).
//! Also owns: the stuck-mount set. `statfs` on a dead network mount can hang for
//! minutes, so each runs on a helper thread and collection waits for it at most
//! `[collect.host.filesystem] mount_timeout` (node_exporter's
//! `--collector.filesystem.mount-timeout`, 5 s). A mount that times out gets
//! `node_filesystem_device_error` = 1 and joins `STUCK_MOUNTS`; later collections skip
//! it (device error 1, no thread) until the hung call returns and its thread removes it,
//! as node_exporter's `stuckMounts` does. So at most one thread per mount point is ever
//! stuck, and collection is never blocked by one for longer than the timeout.
//!
//! PID 1's mount table, not ours: under systemd tandem may run in its own mount
//! namespace (`PrivateTmp=`, `ProtectSystem=`), and the host's view is PID 1's. Like
//! node_exporter we fall back to /proc/mounts when /proc/1/mounts is hidden.

use super::{HostError, HostOptions, Point, parse_error, read};
use std::collections::HashSet;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

/// Mount points whose `statfs` timed out and has not returned yet.
type StuckMounts = Arc<Mutex<HashSet<String>>>;

/// The process' stuck mounts: kept across collections and across config reloads (a
/// reload rebuilds `HostOptions`, but the hung threads are still there).
static STUCK_MOUNTS: LazyLock<StuckMounts> = LazyLock::new(StuckMounts::default);

/// Why a mount has no usage figures.
#[derive(Debug)]
enum StatfsError {
    Failed(std::io::Error),
    /// This call did not return within the timeout.
    TimedOut(Duration),
    /// An earlier call has not returned yet; no new one was made.
    Stuck,
}

impl std::fmt::Display for StatfsError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatfsError::Failed(error) => write!(formatter, "{error}"),
            StatfsError::TimedOut(timeout) => {
                write!(
                    formatter,
                    "no answer within {timeout:?}; the mount is marked stuck"
                )
            }
            StatfsError::Stuck => write!(formatter, "an earlier statfs has not returned yet"),
        }
    }
}

/// One line of the mount table.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Mount {
    device: String,
    mount_point: String,
    fs_type: String,
    options: String,
}

/// What `statfs` says, in node_exporter's units.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Usage {
    size_bytes: f64,
    free_bytes: f64,
    avail_bytes: f64,
    files: f64,
    files_free: f64,
}

pub(super) fn collect(options: &HostOptions) -> Result<Vec<Point>, HostError> {
    let (path, text) = match read("/proc/1/mounts") {
        Ok(text) => ("/proc/1/mounts", text),
        Err(_) => ("/proc/mounts", read("/proc/mounts")?),
    };
    let mounts = parse_mounts(path, &text)?;
    let mut points = Vec::new();
    for mount in covered(mounts, options) {
        let usage = statfs_within(
            &mount.mount_point,
            options.filesystem_mount_timeout,
            &STUCK_MOUNTS,
            statfs,
        );
        if let Err(error) = &usage {
            tracing::debug!(mount_point = %mount.mount_point, %error, "statfs failed");
        }
        points.extend(mount_points(&mount, usage.ok()));
    }
    Ok(points)
}

/// Mounts not excluded, each (device, mount point, type) once: a file system mounted
/// twice at one place (bind mounts, overmounts) is one series, as in node_exporter.
fn covered(mounts: Vec<Mount>, options: &HostOptions) -> Vec<Mount> {
    let mut seen = HashSet::new();
    mounts
        .into_iter()
        .filter(|mount| !options.mount_points_exclude.is_match(&mount.mount_point))
        .filter(|mount| !options.fs_types_exclude.is_match(&mount.fs_type))
        .filter(|mount| {
            seen.insert((
                mount.device.clone(),
                mount.mount_point.clone(),
                mount.fs_type.clone(),
            ))
        })
        .collect()
}

/// The series of one mount: `device_error` always, the rest only when `statfs`
/// worked (node_exporter skips them for a failed mount rather than report zeros).
fn mount_points(mount: &Mount, usage: Option<Usage>) -> Vec<Point> {
    let labelled = |name: &str, value: f64| {
        Point::new(name, value)
            .with("device", mount.device.clone())
            .with("fstype", mount.fs_type.clone())
            .with("mountpoint", mount.mount_point.clone())
    };
    let mut points = vec![labelled(
        "node_filesystem_device_error",
        if usage.is_some() { 0.0 } else { 1.0 },
    )];
    let Some(usage) = usage else {
        return points;
    };
    let readonly = mount.options.split(',').any(|option| option == "ro");
    points.extend([
        labelled("node_filesystem_size_bytes", usage.size_bytes),
        labelled("node_filesystem_free_bytes", usage.free_bytes),
        labelled("node_filesystem_avail_bytes", usage.avail_bytes),
        labelled("node_filesystem_files", usage.files),
        labelled("node_filesystem_files_free", usage.files_free),
        labelled("node_filesystem_readonly", if readonly { 1.0 } else { 0.0 }),
    ]);
    points
}

fn parse_mounts(path: &str, text: &str) -> Result<Vec<Mount>, HostError> {
    let mut mounts = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let [device, mount_point, fs_type, options, ..] = fields.as_slice() else {
            return Err(parse_error(
                path,
                format!("line {line:?}: fewer than 4 fields"),
            ));
        };
        mounts.push(Mount {
            device: unescape(device),
            mount_point: unescape(mount_point),
            fs_type: unescape(fs_type),
            options: unescape(options),
        });
    }
    Ok(mounts)
}

/// The kernel writes space, tab, newline and backslash in mount fields as `\ooo`.
/// node_exporter only undoes `\040` and `\011`; undoing all four differs only for
/// mount points with a newline or backslash in their name.
fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_string();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let octal = bytes
            .get(index + 1..index + 4)
            .filter(|digits| {
                bytes[index] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d))
            })
            .map(|digits| {
                digits
                    .iter()
                    .fold(0u32, |value, digit| value * 8 + u32::from(digit - b'0'))
            });
        match octal.and_then(|value| u8::try_from(value).ok()) {
            Some(byte) => {
                out.push(byte);
                index += 4;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The stuck set, locked. A panic while holding the lock leaves a plain set behind;
/// carry on with it.
fn lock(stuck: &StuckMounts) -> std::sync::MutexGuard<'_, HashSet<String>> {
    stuck.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `statfs` on a helper thread, waiting at most `timeout` (see the module doc).
/// `statfs` is a parameter so that tests can inject a slow one.
fn statfs_within(
    mount_point: &str,
    timeout: Duration,
    stuck: &StuckMounts,
    statfs: fn(&str) -> std::io::Result<Usage>,
) -> Result<Usage, StatfsError> {
    if lock(stuck).contains(mount_point) {
        return Err(StatfsError::Stuck);
    }
    let (sender, receiver) = mpsc::sync_channel(1);
    let thread_stuck = Arc::clone(stuck);
    let thread_mount_point = mount_point.to_string();
    let spawned = std::thread::Builder::new()
        .name("statfs".into())
        .spawn(move || {
            let usage = statfs(&thread_mount_point);
            // Under the lock, so the waiting side either sees the answer or has
            // marked the mount stuck before this removes it (never the reverse).
            let mut stuck = lock(&thread_stuck);
            stuck.remove(&thread_mount_point);
            let _ = sender.send(usage);
        });
    if let Err(error) = spawned {
        return Err(StatfsError::Failed(error));
    }
    let answer = match receiver.recv_timeout(timeout) {
        Ok(answer) => answer,
        Err(RecvTimeoutError::Disconnected) => {
            return Err(StatfsError::Failed(std::io::Error::other(
                "the statfs thread ended without an answer",
            )));
        }
        Err(RecvTimeoutError::Timeout) => {
            let mut stuck = lock(stuck);
            // The answer may have come between the timeout and the lock.
            match receiver.try_recv() {
                Ok(answer) => answer,
                Err(_) => {
                    stuck.insert(mount_point.to_string());
                    return Err(StatfsError::TimedOut(timeout));
                }
            }
        }
    };
    answer.map_err(StatfsError::Failed)
}

fn statfs(mount_point: &str) -> std::io::Result<Usage> {
    let path = std::ffi::CString::new(mount_point)
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    let mut buffer = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `path` is NUL-terminated and outlives the call; `buffer` is a valid,
    // writable `struct statfs` that the kernel fills on success.
    let result = unsafe { libc::statfs(path.as_ptr(), buffer.as_mut_ptr()) };
    if result != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statfs returned 0, so the kernel wrote the whole struct (and it was
    // zeroed before, so every field is initialised either way).
    let buffer = unsafe { buffer.assume_init() };
    // node_exporter multiplies by f_bsize (Go's Statfs_t.Bsize), not f_frsize.
    let block_bytes = buffer.f_bsize as f64;
    Ok(Usage {
        size_bytes: buffer.f_blocks as f64 * block_bytes,
        free_bytes: buffer.f_bfree as f64 * block_bytes,
        avail_bytes: buffer.f_bavail as f64 * block_bytes,
        files: buffer.f_files as f64,
        files_free: buffer.f_ffree as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
proc /proc proc rw,relatime 0 0
/dev/vda / ext4 rw,relatime,discard 0 0
/dev/vda / ext4 rw,relatime,discard 0 0
tmpfs /run tmpfs rw,nosuid 0 0
/dev/sdb1 /srv/my\\040data xfs ro,noatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw 0 0
overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0
/dev/sdc1 /media/usb vfat rw 0 0
";

    #[test]
    fn default_exclusions_and_duplicates() {
        let options = HostOptions::node_exporter_defaults().expect("defaults");
        let mounts = parse_mounts("mounts", TABLE).expect("parses");
        let got: Vec<String> = covered(mounts, &options)
            .into_iter()
            .map(|mount| format!("{} {} {}", mount.device, mount.mount_point, mount.fs_type))
            .collect();
        assert_eq!(got, vec!["/dev/vda / ext4", "/dev/sdb1 /srv/my data xfs"]);
    }

    #[test]
    fn readonly_and_device_error() {
        let mount = Mount {
            device: "/dev/sdb1".into(),
            mount_point: "/srv".into(),
            fs_type: "xfs".into(),
            options: "ro,noatime".into(),
        };
        let usage = Usage {
            size_bytes: 4096.0,
            free_bytes: 1024.0,
            avail_bytes: 512.0,
            files: 10.0,
            files_free: 5.0,
        };
        let got: Vec<(String, f64)> = mount_points(&mount, Some(usage))
            .into_iter()
            .map(|point| (point.name, point.value))
            .collect();
        assert_eq!(got[0], ("node_filesystem_device_error".into(), 0.0));
        assert_eq!(got[6], ("node_filesystem_readonly".into(), 1.0));
        assert_eq!(got.len(), 7);
        let failed = mount_points(&mount, None);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].value, 1.0);
        assert_eq!(
            failed[0].labels,
            vec![
                ("device", "/dev/sdb1".to_string()),
                ("fstype", "xfs".to_string()),
                ("mountpoint", "/srv".to_string()),
            ]
        );
    }

    #[test]
    fn octal_escapes() {
        assert_eq!(unescape("/a\\040b\\011c\\134d"), "/a b\tc\\d");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/trailing\\04"), "/trailing\\04");
    }

    #[test]
    fn short_lines_are_errors() {
        assert!(parse_mounts("mounts", "/dev/vda /\n").is_err());
    }

    fn usage(size_bytes: f64) -> Usage {
        Usage {
            size_bytes,
            free_bytes: 0.0,
            avail_bytes: 0.0,
            files: 0.0,
            files_free: 0.0,
        }
    }

    fn fast(_mount_point: &str) -> std::io::Result<Usage> {
        Ok(usage(1.0))
    }

    fn denied(_mount_point: &str) -> std::io::Result<Usage> {
        Err(std::io::Error::from_raw_os_error(libc::EACCES))
    }

    static SLOW_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// A dead NFS server: the call returns, but late.
    fn slow(_mount_point: &str) -> std::io::Result<Usage> {
        SLOW_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(500));
        Ok(usage(2.0))
    }

    #[test]
    fn a_hung_statfs_times_out_and_is_skipped_until_it_returns() {
        use std::time::Instant;
        let stuck = StuckMounts::default();
        let is_stuck = |mount_point: &str| {
            stuck
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(mount_point)
        };
        let timeout = Duration::from_millis(50);
        let started = Instant::now();
        let first = statfs_within("/mnt/nfs", timeout, &stuck, slow);
        assert!(matches!(first, Err(StatfsError::TimedOut(_))), "{first:?}");
        assert!(started.elapsed() < Duration::from_millis(400));
        assert!(is_stuck("/mnt/nfs"));
        // Other mounts are not held up, and the stuck one is not called again.
        assert_eq!(
            statfs_within("/", timeout, &stuck, fast).ok(),
            Some(usage(1.0))
        );
        let second = statfs_within("/mnt/nfs", timeout, &stuck, slow);
        assert!(matches!(second, Err(StatfsError::Stuck)), "{second:?}");
        assert_eq!(SLOW_CALLS.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Once the hung call returns, the mount is asked again.
        let deadline = Instant::now() + Duration::from_secs(10);
        while is_stuck("/mnt/nfs") {
            assert!(Instant::now() < deadline, "the stuck call never cleared");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            statfs_within("/mnt/nfs", timeout, &stuck, fast).ok(),
            Some(usage(1.0))
        );
    }

    #[test]
    fn statfs_errors_pass_through_and_are_not_stuck() {
        let stuck = StuckMounts::default();
        let answer = statfs_within("/srv", Duration::from_secs(5), &stuck, denied);
        assert!(matches!(answer, Err(StatfsError::Failed(_))), "{answer:?}");
        assert!(
            stuck
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
        );
        let real = statfs_within("/", Duration::from_secs(5), &stuck, statfs);
        assert!(real.is_ok_and(|usage| usage.size_bytes > 0.0));
    }

    #[test]
    fn statfs_of_root_works_and_of_nothing_fails() {
        let root = statfs("/").expect("statfs /");
        assert!(root.size_bytes > 0.0);
        assert!(statfs("/no/such/mount/point").is_err());
    }
}
