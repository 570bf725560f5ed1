//! The statsd listener: UDP datagrams in the statsd line protocol (with DogStatsD's
//! tags), aggregated in memory and written to storage every `[statsd] flush_interval`.
//! Owns: the UDP socket (bound while `[statsd]` is configured, re-bound when `listen`
//! or `receive_buffer_bytes` changes on reload; a failed bind is retried every 5 s),
//! the receive task, the flush timer, and what the `tandem_statsd_*` self series
//! count.
//! Does not: parse lines (`statsd/parse.rs`), aggregate (`statsd/aggregate.rs`),
//! keep values across flushes (`statsd/flush.rs`), or ever make the receive loop wait
//! for storage: it folds each packet into the interval under a mutex that the flush
//! holds only to swap the interval out; storage is written afterwards, on the
//! blocking pool.
//!
//! How statsd types are stored (statsd_exporter's choices, so its dashboards work):
//!
//! | statsd | stored as |
//! |---|---|
//! | `c` counter | `<name>` — a counter: the sum of increments (each ×1/rate) since the metric appeared; no `_total` suffix is added |
//! | `g` gauge | `<name>` — the last value; `+N`/`-N` change it (from 0 if never set) |
//! | `ms` timer | `<name>_bucket{le}`, `<name>_sum`, `<name>_count` — a cumulative histogram of the values **in seconds** (ms ÷ 1000); the name is kept as sent (no `_seconds` added) |
//! | `h` histogram, `d` distribution | the same histogram, values as sent |
//! | `s` set | `<name>` — a gauge: distinct members seen in the last interval (0 after an interval without any) |
//!
//! Labels: the DogStatsD tags (`|#route:/a,code:200`) and `[statsd] labels` (which win
//! over a tag of the same name). Nothing else is added: no `job` or `instance` unless
//! configured. The same name with other tags is another series; the same name and
//! tags sent as another type is refused (`type_conflict`).
//!
//! Every metric is written at every flush (counters and histograms unchanged when idle)
//! until it has had no input for `[statsd] expire_after`: then it gets a staleness
//! marker and is forgotten (it starts again from 0 if it comes back, which `rate()`
//! reads as a counter reset). Values live in memory only: a restart, disabling
//! `[statsd]`, or a reload that changes `histogram_buckets`, `labels` or `timer_type`
//! marks every statsd series stale and starts again.
//!
//! Self series, written at each flush (counters since start; `lines_rejected` counts
//! lines, except `too_large`, which counts packets):
//! `tandem_statsd_packets_received_total`, `tandem_statsd_lines_received_total`,
//! `tandem_statsd_samples_received_total` (values folded in),
//! `tandem_statsd_lines_rejected_total{reason}` (`utf8`, `parse`, `type`, `value`,
//! `sample_rate`, `name`, `tags`, `too_large`, `type_conflict`),
//! `tandem_statsd_samples_dropped_total{reason}` (`series_limit`: over
//! `[statsd] series_max`; `set_limit`: a set over `SET_VALUES_MAX` members in one
//! interval; `storage`: refused by storage's limits or a failed append),
//! `tandem_statsd_tags_dropped_total` (tags without a value, or overridden by
//! `[statsd] labels`), `tandem_statsd_flushes_total`,
//! `tandem_statsd_series_expired_total`, and the gauge `tandem_statsd_series`
//! (statsd metrics held).
//!
//! Datagrams the kernel drops because the socket's receive buffer is full never reach
//! us: `tandem_statsd_packets_dropped_total` is the kernel's count for the socket
//! (since it was bound; Linux only, see `statsd/socket.rs`). `[statsd]
//! receive_buffer_bytes` (default 4MiB, capped by `net.core.rmem_max`) sets how large
//! a burst the buffer absorbs while the listener is busy or descheduled.

mod aggregate;
mod flush;
pub mod parse;
mod socket;

pub use parse::{Line, LineError, MetricType, Reason, Tag, Value, parse_line, parse_packet};

use crate::collect::scrape::now_ms;
use crate::config::Config;
use crate::config::statsd::StatsdConfig;
use crate::storage::Storage;
use aggregate::{Aggregator, Taken};
use flush::Flusher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

// Statsd's own bounds; `crate::limits` holds the ones shared across subsystems.

/// `[statsd] flush_interval` when not given.
pub const FLUSH_INTERVAL_DEFAULT: Duration = Duration::from_secs(10);
/// Shortest `flush_interval`: every flush writes every metric.
pub const FLUSH_INTERVAL_MIN: Duration = Duration::from_millis(100);
/// Longest `flush_interval`.
pub const FLUSH_INTERVAL_MAX: Duration = Duration::from_secs(3600);
/// `[statsd] expire_after` when not given (at least twice the flush interval).
pub const EXPIRE_AFTER_DEFAULT: Duration = Duration::from_secs(3600);
/// `[statsd] histogram_buckets` when not given: 5 ms doubling up to 10.24 s.
pub const HISTOGRAM_BUCKETS_DEFAULT: [f64; 12] = [
    0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24,
];
/// Most bucket bounds a histogram may have (each is a series per metric).
pub const HISTOGRAM_BUCKETS_MAX: usize = 64;
/// Largest `packet_bytes_max`, and its default: any UDP datagram (IPv6's largest
/// payload without jumbograms is 65527 bytes).
pub const PACKET_BYTES_MAX: usize = 65_535;
/// Smallest `packet_bytes_max`.
pub const PACKET_BYTES_MIN: usize = 64;
/// `[statsd] series_max` when not given.
pub const SERIES_MAX_DEFAULT: usize = 10_000;
/// Largest `series_max` accepted.
pub const SERIES_MAX_LIMIT: usize = 1_000_000;
/// Distinct members one set may collect in one interval (8 bytes of hash each);
/// more are dropped and counted.
pub const SET_VALUES_MAX: usize = 100_000;
/// `[statsd] receive_buffer_bytes` when not given: room for bursts (the kernel caps
/// it at `net.core.rmem_max`).
pub const RECEIVE_BUFFER_BYTES_DEFAULT: usize = 4 << 20;
/// Largest `receive_buffer_bytes` accepted.
pub const RECEIVE_BUFFER_BYTES_MAX: usize = 256 << 20;
/// How often binding the socket is retried after it failed (address in use).
const BIND_RETRY: Duration = Duration::from_secs(5);
/// The receive buffer: larger than any datagram, so none is ever cut short.
const RECEIVE_BUFFER: usize = PACKET_BYTES_MAX + 1;
/// Datagrams already queued that one receive takes under one lock.
const RECEIVE_BATCH_MAX: usize = 64;

/// What the receive side needs of the config.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Settings {
    pub buckets: Vec<f64>,
    pub series_max: usize,
    pub packet_bytes_max: usize,
    /// Names of `[statsd] labels`: tags of these names are dropped.
    pub label_names: Vec<String>,
}

impl Settings {
    fn of(config: &StatsdConfig) -> Settings {
        Settings {
            buckets: config.histogram_buckets.clone(),
            series_max: config.series_max,
            packet_bytes_max: config.packet_bytes_max,
            label_names: config.labels.iter().map(|(name, _)| name.clone()).collect(),
        }
    }

    /// No listener: nothing is accepted.
    fn off() -> Settings {
        Settings {
            buckets: Vec::new(),
            series_max: 0,
            packet_bytes_max: 0,
            label_names: Vec::new(),
        }
    }
}

type Shared = Arc<Mutex<Aggregator>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Aggregator> {
    // The aggregator stays consistent at every line; a panic mid-packet loses no more
    // than that packet.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A bound socket and its receive task, stopped when dropped.
struct Listener {
    task: tokio::task::JoinHandle<()>,
    /// The socket's inode, for the kernel's drop count.
    inode: Option<u64>,
}

impl Listener {
    /// Stops receiving and waits until the socket is closed, so that its address can
    /// be bound again at once.
    async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds the configured address and starts receiving into `shared`; `None` (logged)
/// if it cannot.
async fn listen(config: &StatsdConfig, shared: &Shared, failing: &mut bool) -> Option<Listener> {
    let address = config.listen;
    match socket::bind(address, config.receive_buffer_bytes).await {
        Ok(bound) => {
            let local = bound.socket.local_addr().unwrap_or(address);
            tracing::info!(
                address = %local,
                receive_buffer_bytes = bound.receive_buffer_bytes,
                "statsd listener started"
            );
            *failing = false;
            Some(Listener {
                task: tokio::spawn(receive(bound.socket, Arc::clone(shared))),
                inode: bound.inode,
            })
        }
        Err(error) => {
            if *failing {
                tracing::debug!(%address, %error, "statsd listener still cannot bind");
            } else {
                tracing::error!(%address, %error, "statsd listener cannot bind; retrying every {}s", BIND_RETRY.as_secs());
            }
            *failing = true;
            None
        }
    }
}

/// Receives until aborted. A datagram costs one parse and no allocation for known
/// metrics; what is already queued is taken under the same lock.
async fn receive(socket: tokio::net::UdpSocket, shared: Shared) {
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    loop {
        let length = match socket.recv_from(&mut buffer).await {
            Ok((length, _)) => length,
            Err(error) => {
                tracing::debug!(%error, "statsd receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let mut aggregator = lock(&shared);
        aggregator.ingest_packet(&buffer[..length]);
        for _ in 1..RECEIVE_BATCH_MAX {
            match socket.try_recv_from(&mut buffer) {
                Ok((length, _)) => aggregator.ingest_packet(&buffer[..length]),
                Err(_) => break,
            }
        }
    }
}

/// Listens while `[statsd]` is configured, flushing every `flush_interval`, until
/// `configs` closes or `shutdown` fires; follows reloads (see the module doc). On the
/// way out, what was received is flushed and every statsd series marked stale.
pub async fn run(
    storage: Arc<Storage>,
    mut configs: watch::Receiver<Arc<Config>>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let shared: Shared = Arc::new(Mutex::new(Aggregator::new(Arc::new(Settings::off()))));
    let mut flusher = Flusher::new();
    let mut current: Option<Arc<StatsdConfig>> = None;
    let mut listener: Option<Listener> = None;
    let mut bind_failing = false;
    'configs: loop {
        let next = configs.borrow_and_update().statsd.clone().map(Arc::new);
        if next != current {
            let settings = Arc::new(next.as_deref().map_or_else(Settings::off, Settings::of));
            let taken = lock(&shared).take_and_configure(settings);
            if let Some(old) = current.take() {
                let inode = listener.as_ref().and_then(|listener| listener.inode);
                let socket = |config: &StatsdConfig| (config.listen, config.receive_buffer_bytes);
                if next
                    .as_deref()
                    .is_none_or(|next| socket(next) != socket(&old))
                    && let Some(listener) = listener.take()
                {
                    listener.stop().await;
                }
                // The interval so far was aggregated under the old settings.
                flusher = flush_blocking(&storage, flusher, Arc::clone(&old), taken, inode).await;
                let reset = next
                    .as_ref()
                    .is_none_or(|next| next.identity() != old.identity());
                if reset {
                    flusher = stale_blocking(&storage, flusher, next.is_none()).await;
                }
            }
            current = next;
        }
        let Some(config) = current.clone() else {
            tokio::select! {
                changed = configs.changed() => if changed.is_err() { break 'configs } else { continue 'configs },
                _ = &mut shutdown => break 'configs,
            }
        };
        if listener.is_none() {
            listener = listen(&config, &shared, &mut bind_failing).await;
        }
        let start = tokio::time::Instant::now();
        let mut ticker =
            tokio::time::interval_at(start + config.flush_interval, config.flush_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut retry = tokio::time::interval_at(start + BIND_RETRY, BIND_RETRY);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    let taken = lock(&shared).take();
                    let inode = listener.as_ref().and_then(|listener| listener.inode);
                    flusher = flush_blocking(&storage, flusher, Arc::clone(&config), taken, inode).await;
                }
                _ = retry.tick(), if listener.is_none() => {
                    listener = listen(&config, &shared, &mut bind_failing).await;
                }
                changed = configs.changed() => {
                    if changed.is_err() {
                        break 'configs;
                    }
                    if configs.borrow().statsd.as_ref() != Some(&*config) {
                        continue 'configs;
                    }
                }
                _ = &mut shutdown => break 'configs,
            }
        }
    }
    let inode = listener.as_ref().and_then(|listener| listener.inode);
    if let Some(listener) = listener {
        listener.stop().await;
    }
    if let Some(config) = current {
        let taken = lock(&shared).take();
        flusher = flush_blocking(&storage, flusher, config, taken, inode).await;
        stale_blocking(&storage, flusher, true).await;
    }
    tracing::debug!("statsd listener stopped");
}

/// One flush on the blocking pool (storage appends may block), with the kernel's
/// drop count of the socket `inode`.
async fn flush_blocking(
    storage: &Arc<Storage>,
    mut flusher: Flusher,
    config: Arc<StatsdConfig>,
    mut taken: Taken,
    inode: Option<u64>,
) -> Flusher {
    let storage = Arc::clone(storage);
    let done = tokio::task::spawn_blocking(move || {
        taken.kernel_drops = inode.and_then(socket::kernel_drops);
        let interval_ms = i64::try_from(config.flush_interval.as_millis()).unwrap_or(i64::MAX);
        let t = flusher.timestamp(now_ms(), interval_ms);
        let outcome = flusher.flush(&storage, &config, taken, t);
        tracing::trace!(?outcome, "statsd flush");
        flusher
    })
    .await;
    done.unwrap_or_else(|error| {
        tracing::error!(%error, "BUG: a statsd flush panicked; its values are reset");
        Flusher::new()
    })
}

/// Marks every statsd series (and with `own`, the self series) stale.
async fn stale_blocking(storage: &Arc<Storage>, mut flusher: Flusher, own: bool) -> Flusher {
    let storage = Arc::clone(storage);
    let done = tokio::task::spawn_blocking(move || {
        let t = flusher.timestamp(now_ms(), 0);
        flusher.mark_all_stale(&storage, t, own);
        flusher
    })
    .await;
    done.unwrap_or_else(|error| {
        tracing::error!(%error, "BUG: marking statsd series stale panicked");
        Flusher::new()
    })
}
