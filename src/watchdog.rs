//! systemd integration for `Type=notify` units: `READY=1` once every subsystem has
//! started, `STOPPING=1` at shutdown, and `WATCHDOG=1` every half `WatchdogSec` — but only while tandem's own pipeline is
//! making progress, so that systemd restarts a hung instance (a wedged runtime,
//! blocking pool, disk or rule evaluation) rather than a merely busy one.
//! Owns: the health verdict for the watchdog.
//! Does not: do anything outside systemd: without `NOTIFY_SOCKET` every call is a
//! no-op, and without `WATCHDOG_USEC` no pings are sent.

use crate::alert::rules::RuleManager;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Storage maintenance (checkpoint every 10 s, compaction every minute) that has not
/// finished a round for this long is stuck: a big compaction takes minutes, a hung
/// disk forever.
pub const MAINTENANCE_STALL: Duration = Duration::from_secs(15 * 60);
/// A rule group this far behind its interval is stuck (queries have a timeout).
pub const RULE_LAG_STALL: Duration = Duration::from_secs(15 * 60);
/// How long the blocking pool may take to run a no-op.
const BLOCKING_POOL_STALL: Duration = Duration::from_secs(20);

/// What the watchdog checks.
#[derive(Clone)]
pub struct Progress {
    /// When storage maintenance last finished a round (Unix ms), success or error.
    pub maintenance_ms: Arc<AtomicI64>,
    pub rules: RuleManager,
}

fn now_ms() -> i64 {
    crate::config::history::unix_millis(std::time::SystemTime::now())
}

fn notify(state: &[sd_notify::NotifyState]) {
    if let Err(error) = sd_notify::notify(false, state) {
        tracing::warn!(%error, "cannot notify systemd");
    }
}

/// Tells systemd that tandem is ready.
pub fn ready() {
    notify(&[sd_notify::NotifyState::Ready]);
}

/// Tells systemd that tandem is stopping.
pub fn stopping() {
    notify(&[sd_notify::NotifyState::Stopping]);
}

/// Why the pipeline is not healthy at `now_ms`, if it is not.
pub async fn verdict(progress: &Progress, now_ms: i64) -> Option<String> {
    let pool = tokio::time::timeout(BLOCKING_POOL_STALL, tokio::task::spawn_blocking(|| ()));
    if !matches!(pool.await, Ok(Ok(()))) {
        return Some(format!(
            "the blocking pool did not run a task within {}s",
            BLOCKING_POOL_STALL.as_secs()
        ));
    }
    judge(
        now_ms,
        progress.maintenance_ms.load(Ordering::Relaxed),
        progress.rules.health(now_ms).evaluation_lag_seconds,
    )
}

/// The verdict on storage maintenance's last round and the rule lag.
fn judge(now_ms: i64, maintenance_ms: i64, rule_lag_seconds: f64) -> Option<String> {
    let stalled_ms = now_ms - maintenance_ms;
    if stalled_ms > MAINTENANCE_STALL.as_millis() as i64 {
        return Some(format!(
            "storage maintenance has not finished a round for {}s",
            stalled_ms / 1000
        ));
    }
    if rule_lag_seconds > RULE_LAG_STALL.as_secs_f64() {
        return Some(format!("rule evaluation is {rule_lag_seconds:.0}s behind"));
    }
    None
}

/// Pings systemd's watchdog every half `WatchdogSec` while `verdict` finds nothing
/// wrong; returns at once when the unit has no watchdog.
pub async fn run(progress: Progress) {
    let mut usec = 0u64;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let period = Duration::from_micros(usec / 2);
    tracing::info!(
        period_ms = period.as_millis() as u64,
        "pinging systemd's watchdog while healthy"
    );
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unhealthy = false;
    loop {
        ticker.tick().await;
        match verdict(&progress, now_ms()).await {
            None => {
                if unhealthy {
                    tracing::info!("healthy again: pinging systemd's watchdog");
                    unhealthy = false;
                }
                notify(&[sd_notify::NotifyState::Watchdog]);
            }
            Some(reason) => {
                if !unhealthy {
                    tracing::error!(%reason, "not pinging systemd's watchdog: systemd will restart tandem if this lasts");
                    unhealthy = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stalled_maintenance_or_rule_lag_stops_the_pings() {
        let now = 10_000_000;
        assert_eq!(judge(now, now - 60_000, 30.0), None);
        assert_eq!(
            judge(now, now - 16 * 60_000, 0.0).as_deref(),
            Some("storage maintenance has not finished a round for 960s")
        );
        assert_eq!(
            judge(now, now, 901.0).as_deref(),
            Some("rule evaluation is 901s behind")
        );
    }
}
