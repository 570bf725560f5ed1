//! The notifier (Alertmanager built in): routes alerts to receivers, groups them,
//! applies inhibition and silences, delivers with retries, and logs what it sent so a
//! restart does not notify again.
//! Owns: the `silence` and `notification_log` rows of alerts.sqlite (`store.rs`),
//! `Notify` history rows (one per alert per delivery attempt), the `NotifyMetrics`.
//! Does not: evaluate rules or keep alert state (`alert::rules` hands alerts over
//! through `Notifier::send`), read TOML (`config::alerting`).
//! Limits: `[alerting]` (queue, alerts, per-group alerts, concurrent deliveries,
//! attempts), `RESPONSE_BYTES_MAX`, `DETAIL_BYTES_MAX`, `silence::API_SILENCES_MAX`.
//!
//! Layout: `dispatch.rs` is the pure state machine (groups, timing, nflog, retries);
//! `route.rs`, `inhibit.rs`, `silence.rs` and `matcher.rs` are what it consults;
//! `runner.rs` is the Tokio task around it; `payload.rs` builds the messages and
//! `webhook.rs`, `email.rs`, `exec.rs`, `alertmanager.rs` deliver them.

pub mod alertmanager;
pub mod dispatch;
pub mod email;
pub mod exec;
pub mod inhibit;
pub mod matcher;
pub mod payload;
pub mod route;
mod runner;
pub mod silence;
pub mod status;
pub mod store;
pub mod webhook;

use super::Alert;
use super::db::{AlertDb, AlertDbError};
use crate::config::Config;
use crate::selfmon::NotifyMetrics;
use silence::{NewSilence, Silence};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Most of a receiver's response body read (for the error message); the rest is
/// ignored.
pub const RESPONSE_BYTES_MAX: usize = 64 << 10;
/// Longest error text kept in a history row (an exec's stderr, a response body).
pub const DETAIL_BYTES_MAX: usize = 1024;
/// How often expired silences and old notification log entries are pruned.
pub const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(3600);
/// Outcomes of delivery attempts waiting for the notifier's task.
pub const RESULTS_QUEUE_MAX: usize = 1024;
/// Secret files (bearer token, SMTP password) larger than this are refused.
pub const SECRET_FILE_BYTES_MAX: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A delivery failed in a way a later attempt may not (network, timeout, 5xx).
    #[error("{0}")]
    Transient(String),
    /// The receiver refused the message; sending it again would not help.
    #[error("{0}")]
    Refused(String),
    #[error("invalid silence: {0}")]
    InvalidSilence(String),
    #[error("no silence has ID {0:?}")]
    SilenceNotFound(String),
    #[error("silence {id:?} comes from {file}; remove it from that file (and reload) to end it")]
    FileSilence { id: String, file: String },
    #[error("silence {0:?} has already expired")]
    SilenceExpired(String),
    #[error("{count} temporary silences are active or pending, limit is {max}")]
    TooManySilences { count: usize, max: usize },
    #[error(transparent)]
    Db(#[from] AlertDbError),
}

/// Alerts handed over and not yet taken by the task.
#[derive(Default)]
struct Queue {
    batches: VecDeque<Vec<Alert>>,
    alerts: usize,
}

/// What the handle and the task share.
struct Shared {
    db: Arc<AlertDb>,
    metrics: NotifyMetrics,
    status: Arc<status::DeliveryStatus>,
    configs: tokio::sync::watch::Receiver<Arc<Config>>,
    queue: Mutex<Queue>,
    queue_alerts_max: AtomicUsize,
    /// Woken by `send`, silence changes and `stop`.
    wake: tokio::sync::Notify,
    silences_changed: AtomicBool,
    /// When a full queue was last logged (Unix ms), so a flood logs once a minute.
    dropped_logged_ms: AtomicI64,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<Duration>>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A handle on the running notifier; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    shared: Arc<Shared>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // What the mutexes guard stays consistent at every step; a panic elsewhere while
    // one was held leaves nothing half-done.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    crate::config::history::unix_millis(std::time::SystemTime::now())
}

impl Notifier {
    /// Starts the notifier's task on the current Tokio runtime (call it from inside
    /// one). It follows config reloads through `configs`.
    pub fn start(
        db: Arc<AlertDb>,
        configs: tokio::sync::watch::Receiver<Arc<Config>>,
        metrics: NotifyMetrics,
    ) -> Notifier {
        let queue_alerts_max = configs.borrow().alerting.settings.queue_alerts_max;
        let (stop_sender, stop_receiver) = tokio::sync::oneshot::channel();
        let shared = Arc::new(Shared {
            db,
            metrics,
            status: Arc::default(),
            configs: configs.clone(),
            queue: Mutex::new(Queue::default()),
            queue_alerts_max: AtomicUsize::new(queue_alerts_max),
            wake: tokio::sync::Notify::new(),
            silences_changed: AtomicBool::new(false),
            dropped_logged_ms: AtomicI64::new(i64::MIN),
            stop: Mutex::new(Some(stop_sender)),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(runner::run(Arc::clone(&shared), configs, stop_receiver));
        *lock(&shared.task) = Some(task);
        Notifier { shared }
    }

    /// How deliveries are going: integrations whose newest attempt failed.
    pub fn delivery_health(&self) -> status::DeliveryHealth {
        self.shared.status.health()
    }

    /// Hands alerts over from the rule manager: after each evaluation of a group,
    /// every alert of that group that is firing, and each one that resolved since the
    /// last call (once, with `resolved_at_ms`). Never blocks: the queue is bounded and
    /// what does not fit is dropped and counted.
    pub fn send(&self, alerts: Vec<Alert>) {
        if alerts.is_empty() {
            return;
        }
        let count = alerts.len();
        self.shared.metrics.alerts_received.inc_by(count as u64);
        let max = self.shared.queue_alerts_max.load(Ordering::Relaxed);
        let queued = {
            let mut queue = lock(&self.shared.queue);
            let fits = queue.alerts.saturating_add(count) <= max;
            if fits {
                queue.alerts += count;
                queue.batches.push_back(alerts);
            }
            fits
        };
        if !queued {
            self.shared.metrics.alerts_dropped.inc_by(count as u64);
            let now = now_ms();
            let last = self.shared.dropped_logged_ms.load(Ordering::Relaxed);
            if now.saturating_sub(last) >= 60_000
                && self
                    .shared
                    .dropped_logged_ms
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                tracing::warn!(
                    dropped = count,
                    limit = max,
                    "notifier queue full ([alerting] queue_alerts_max): alerts dropped"
                );
            }
            return;
        }
        self.shared.wake.notify_one();
    }

    /// Delivers what is due and stops, bounded by `grace`.
    pub async fn stop(&self, grace: Duration) {
        let stop = lock(&self.shared.stop).take();
        if let Some(stop) = stop {
            let _ = stop.send(grace);
        }
        let task = lock(&self.shared.task).take();
        if let Some(task) = task
            && tokio::time::timeout(grace + Duration::from_secs(1), task)
                .await
                .is_err()
        {
            tracing::warn!("the notifier did not stop within the grace period");
        }
    }

    /// Every silence: the config's (`silences/*.toml`) and the temporary ones not
    /// expired for longer than `silence::EXPIRED_RETENTION_MS`. Blocking (SQLite).
    pub fn silences(&self, now_ms: i64) -> Result<Vec<Silence>, Error> {
        let config = self.shared.configs.borrow().clone();
        let mut silences: Vec<Silence> = config
            .alerting
            .file_silences
            .iter()
            .map(Silence::from_file)
            .collect();
        silences.extend(store::load_silences(
            &self.shared.db,
            now_ms.saturating_sub(silence::EXPIRED_RETENTION_MS),
        )?);
        Ok(silences)
    }

    /// Stores a temporary silence and applies it; returns it with its new ID.
    /// Blocking (SQLite).
    pub fn add_silence(&self, request: &NewSilence, now_ms: i64) -> Result<Silence, Error> {
        let silence = request
            .build(silence::new_id(), now_ms)
            .map_err(Error::InvalidSilence)?;
        let count = store::count_unexpired_silences(&self.shared.db, now_ms)?;
        if count >= silence::API_SILENCES_MAX {
            return Err(Error::TooManySilences {
                count,
                max: silence::API_SILENCES_MAX,
            });
        }
        store::insert_silence(&self.shared.db, &silence)?;
        self.silences_changed();
        tracing::info!(id = %silence.id, created_by = %silence.created_by, "silence added");
        Ok(silence)
    }

    /// Ends a temporary silence now. Silences from files cannot be ended this way.
    /// Blocking (SQLite).
    pub fn expire_silence(&self, id: &str, now_ms: i64) -> Result<(), Error> {
        let config = self.shared.configs.borrow().clone();
        if let Some(silence) = config
            .alerting
            .file_silences
            .iter()
            .find(|silence| silence.id == id)
        {
            return Err(Error::FileSilence {
                id: id.to_string(),
                file: silence.file.clone(),
            });
        }
        match store::expire_silence(&self.shared.db, id, now_ms)? {
            store::Expired::Now => {
                self.silences_changed();
                tracing::info!(%id, "silence expired");
                Ok(())
            }
            store::Expired::Already => Err(Error::SilenceExpired(id.to_string())),
            store::Expired::NotFound => Err(Error::SilenceNotFound(id.to_string())),
        }
    }

    fn silences_changed(&self) {
        self.shared.silences_changed.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }
}

/// Reads a secret file (bearer token, password): bounded, trimmed.
pub(crate) async fn read_secret(path: &std::path::Path) -> Result<String, Error> {
    let fail = |detail: String| Error::Transient(format!("reading {}: {detail}", path.display()));
    let metadata = tokio::fs::metadata(path)
        .await
        .map_err(|error| fail(error.to_string()))?;
    if metadata.len() > SECRET_FILE_BYTES_MAX {
        return Err(fail(format!(
            "{} bytes, limit is {SECRET_FILE_BYTES_MAX}",
            metadata.len()
        )));
    }
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|error| fail(error.to_string()))?;
    Ok(text.trim().to_string())
}

/// `text` cut to `DETAIL_BYTES_MAX` bytes at a character boundary.
pub(crate) fn bounded_detail(text: &str) -> String {
    let text = text.trim();
    if text.len() <= DETAIL_BYTES_MAX {
        return text.to_string();
    }
    let mut end = DETAIL_BYTES_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
