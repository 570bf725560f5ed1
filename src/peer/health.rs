//! This instance's own health, as heartbeats report it and the peer page shows it.
//! Owns: gathering the figures from storage, the rule manager, the notifier and the
//! data directory's file system.
//! Does not: judge them; the receiving side's rules do (`config/rules/peer.toml`).

use super::protocol::Health;
use crate::alert::notify::Notifier;
use crate::alert::rules::RuleManager;
use crate::storage::Storage;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Where the figures come from.
#[derive(Clone)]
pub struct HealthSources {
    pub storage: Arc<Storage>,
    pub rules: RuleManager,
    pub notifier: Notifier,
    pub data_dir: PathBuf,
}

impl HealthSources {
    /// The figures at `now_ms`. Blocking (a `statvfs` of the data directory): call it
    /// from the blocking pool.
    pub fn gather(&self, now_ms: i64) -> Health {
        let counters = &self.storage.counters;
        let last_ingest = counters.last_ingest_ms.load(Ordering::Relaxed);
        let rules = self.rules.health(now_ms);
        let delivery = self.notifier.delivery_health();
        let (disk_free_bytes, disk_free_ratio) = match disk_free(&self.data_dir) {
            Ok((free, ratio)) => (Some(free), ratio),
            Err(error) => {
                tracing::debug!(%error, "statvfs of the data directory failed");
                (None, None)
            }
        };
        Health {
            newest_sample_age_seconds: (last_ingest > 0)
                .then(|| (now_ms - last_ingest).max(0) as f64 / 1000.0),
            rule_evaluation_lag_seconds: rules.evaluation_lag_seconds,
            notifications_failing: delivery.failing,
            notification_failures_total: delivery.failures_total,
            notification_last_error: delivery.last_error,
            storage_errors_total: counters.corruptions.load(Ordering::Relaxed)
                + counters.write_errors.load(Ordering::Relaxed),
            disk_free_bytes,
            disk_free_ratio,
            wal_bytes: self.storage.stats().wal_bytes,
            firing_alerts: rules.firing,
        }
    }
}

/// Bytes available to unprivileged users on the file system holding `path`, and
/// that as a share of its size (`None` for a file system reporting size 0).
fn disk_free(path: &std::path::Path) -> std::io::Result<(u64, Option<f64>)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    let mut buffer = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `path` is NUL-terminated and outlives the call; `buffer` is a valid,
    // writable `struct statvfs` that the kernel fills on success.
    let result = unsafe { libc::statvfs(path.as_ptr(), buffer.as_mut_ptr()) };
    if result != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the buffer.
    let stats = unsafe { buffer.assume_init() };
    // The field types differ between targets (u32 on some 32-bit ones).
    #[allow(clippy::unnecessary_cast)]
    let (fragment, available_blocks, blocks) = (
        stats.f_frsize as u64,
        stats.f_bavail as u64,
        stats.f_blocks as u64,
    );
    let available = available_blocks.saturating_mul(fragment);
    let size = blocks.saturating_mul(fragment);
    let ratio = (size > 0).then(|| available as f64 / size as f64);
    Ok((available, ratio))
}

#[cfg(test)]
mod tests {
    #[test]
    fn disk_free_of_a_real_directory_is_plausible() {
        let dir = tempfile::tempdir().expect("temp");
        let (free, ratio) = super::disk_free(dir.path()).expect("statvfs");
        assert!(free > 0);
        let ratio = ratio.expect("a sized file system");
        assert!(ratio > 0.0 && ratio <= 1.0, "{ratio}");
        assert!(super::disk_free(&dir.path().join("missing")).is_err());
    }
}
