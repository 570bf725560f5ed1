//! Pairing: this instance and each `[[peer]]` send each other signed heartbeats
//! every interval, so that each notices within seconds when the other dies, hangs,
//! or reports a broken pipeline.
//! Owns: the heartbeat protocol (`protocol.rs`), this instance's health
//! (`health.rs`), receiving (`receiver.rs`: checks, replay state, the watchdog that
//! declares a silent peer down), sending (`sender.rs`), and the `tandem_peer_*`
//! series, written through the storage append API so that rules, pages and the API
//! read them with PromQL like any other series.
//! Does not: alert. The rules in `config/rules/peer.toml` do, from those series.
//!
//! Series (label `peer`, the peer's name), written at the receiving side:
//! `tandem_peer_up` (0 after `down_after` intervals of silence),
//! `tandem_peer_last_heartbeat_timestamp_seconds`, `tandem_peer_clock_skew_seconds`
//! (the peer's clock minus ours), `tandem_peer_heartbeat_interval_seconds`,
//! `tandem_peer_info{version, config_hash}`, and `tandem_peer_reported_*` for each
//! figure of `protocol::Health`. At the sending side: `tandem_peer_reachable` (0
//! after `down_after` intervals without a delivered heartbeat),
//! `tandem_peer_last_delivery_timestamp_seconds`, `tandem_peer_delivery_error_info{error}`.

pub mod health;
pub mod pair;
pub mod protocol;
mod receiver;
mod sender;

use crate::config::Config;
use crate::config::peer::PeerConfig;
use crate::model::{Labels, STALE_NAN_BITS, Sample};
use crate::selfmon::PeerMetrics;
use crate::storage::{SeriesSamples, Storage};
use health::HealthSources;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use receiver::Refusal;

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    crate::config::history::unix_millis(std::time::SystemTime::now())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every guarded value is consistent between statements; a panic elsewhere
    // leaves nothing half-updated.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The running peer service; cheap to clone.
#[derive(Clone)]
pub struct PeerService {
    inner: Arc<Inner>,
}

struct Inner {
    storage: Arc<Storage>,
    sources: HealthSources,
    metrics: PeerMetrics,
    configs: tokio::sync::watch::Receiver<Arc<Config>>,
    /// When this process started (Unix ms): with `sequence`, orders our heartbeats.
    start_time_ms: i64,
    /// The sequence number of the last heartbeat sent, to any peer.
    sequence: AtomicU64,
    /// Per configured peer (by name): what was heard from it and sent to it.
    peers: Mutex<HashMap<String, Arc<PeerState>>>,
    client: Option<reqwest::Client>,
    /// Refused heartbeats are logged at most every 10 s (a flood of forged ones
    /// must not flood the log); every one is counted.
    refusal_log: LogLimiter,
}

/// Allows one log line per period.
struct LogLimiter {
    last_ms: std::sync::atomic::AtomicI64,
    period_ms: i64,
}

impl LogLimiter {
    fn allow(&self, now_ms: i64) -> bool {
        let last = self.last_ms.load(Ordering::Relaxed);
        now_ms - last >= self.period_ms
            && self
                .last_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// One peer's state, shared by the receive path, the watchdog and the sender.
#[derive(Default)]
struct PeerState {
    received: Mutex<receiver::Received>,
    /// Woken when a heartbeat is accepted, so the watchdog moves its deadline.
    heard: tokio::sync::Notify,
    sent: Mutex<sender::Sent>,
    written: Mutex<Written>,
}

/// What was written for a peer: every label set (stale-marked when the peer is
/// removed) and the newest timestamp (writes get increasing ones).
#[derive(Default)]
struct Written {
    series: HashSet<Labels>,
    newest_t: i64,
}

/// This instance as the peer page's own column shows it.
#[derive(Clone, Debug)]
pub struct LocalStatus {
    pub name: String,
    pub version: &'static str,
    pub start_time_ms: i64,
    pub config_hash: String,
    pub health: protocol::Health,
}

impl PeerService {
    /// Starts a sender and a watchdog per `[[peer]]` and follows reloads. Call from
    /// inside a Tokio runtime.
    pub fn start(
        storage: Arc<Storage>,
        sources: HealthSources,
        metrics: PeerMetrics,
        configs: tokio::sync::watch::Receiver<Arc<Config>>,
    ) -> PeerService {
        let service = PeerService {
            inner: Arc::new(Inner {
                storage,
                sources,
                metrics,
                configs: configs.clone(),
                start_time_ms: now_ms(),
                sequence: AtomicU64::new(0),
                peers: Mutex::new(HashMap::new()),
                client: sender::http_client(),
                refusal_log: LogLimiter {
                    last_ms: std::sync::atomic::AtomicI64::new(i64::MIN / 2),
                    period_ms: 10_000,
                },
            }),
        };
        tokio::spawn(service.clone().supervise(configs));
        service
    }

    /// This instance's name, version, start, config hash and health now.
    pub async fn local_status(&self) -> LocalStatus {
        let config = self.inner.configs.borrow().clone();
        let sources = self.inner.sources.clone();
        let health = tokio::task::spawn_blocking(move || sources.gather(now_ms()))
            .await
            .unwrap_or_default();
        LocalStatus {
            name: config.server.name.clone(),
            version: crate::selfmon::VERSION,
            start_time_ms: self.inner.start_time_ms,
            config_hash: config.hash.to_string(),
            health,
        }
    }

    fn state(&self, name: &str) -> Option<Arc<PeerState>> {
        lock(&self.inner.peers).get(name).cloned()
    }

    /// Runs each configured peer's tasks, restarting those whose config changed and
    /// retiring removed ones (their series get stale markers).
    async fn supervise(self, mut configs: tokio::sync::watch::Receiver<Arc<Config>>) {
        let mut running = crate::tasks::KeyedTasks::default();
        loop {
            let config = configs.borrow_and_update().clone();
            let wanted = config.peers.iter().map(|peer| (peer.name.as_str(), peer));
            let removed = running.reconcile(wanted, |name, peer| {
                let state =
                    Arc::clone(lock(&self.inner.peers).entry(name.to_string()).or_default());
                state.restart(peer);
                tracing::info!(peer = %name, url = %peer.url, interval = ?peer.interval, "pairing with peer");
                tokio::spawn(self.clone().run_peer(peer.clone(), state))
            });
            for name in removed {
                let state = lock(&self.inner.peers).remove(&name);
                if let Some(state) = state {
                    self.retire(&state).await;
                }
                tracing::info!(peer = %name, "peer removed from the config");
            }
            if configs.changed().await.is_err() {
                break;
            }
        }
        running.abort_all();
    }

    async fn run_peer(self, peer: PeerConfig, state: Arc<PeerState>) {
        tokio::join!(
            self.watch(&peer, &state),
            self.send_every_interval(&peer, &state)
        );
    }

    /// Writes `values` (label set, value) for `state`'s peer at one timestamp after
    /// anything written for it before, and stale markers for `stale`.
    async fn write(&self, state: &PeerState, values: Vec<(Labels, f64)>, stale: Vec<Labels>) {
        let batch = {
            let mut written = lock(&state.written);
            let t = now_ms().max(written.newest_t + 1);
            written.newest_t = t;
            let mut batch = Vec::with_capacity(values.len() + stale.len());
            for (labels, value) in values {
                written.series.insert(labels.clone());
                batch.push(SeriesSamples {
                    labels,
                    samples: vec![Sample { t, v: value }],
                });
            }
            for labels in stale {
                written.series.remove(&labels);
                batch.push(SeriesSamples {
                    labels,
                    samples: vec![Sample {
                        t,
                        v: f64::from_bits(STALE_NAN_BITS),
                    }],
                });
            }
            batch
        };
        if batch.is_empty() {
            return;
        }
        let storage = Arc::clone(&self.inner.storage);
        match tokio::task::spawn_blocking(move || storage.append_status(&batch)).await {
            Ok(Ok(outcome)) if outcome.rejections.is_empty() => {}
            Ok(Ok(outcome)) => {
                tracing::warn!(rejections = ?outcome.rejections, "peer series refused by storage")
            }
            Ok(Err(error)) => tracing::error!(%error, "cannot store peer series"),
            Err(error) => tracing::error!(%error, "BUG: storing peer series panicked"),
        }
    }

    /// Stale markers for everything written about a removed peer, so that its
    /// alerts resolve now rather than when the series age out.
    async fn retire(&self, state: &PeerState) {
        let series: Vec<Labels> = lock(&state.written).series.iter().cloned().collect();
        self.write(state, Vec::new(), series).await;
    }
}

impl PeerState {
    /// A (re)started peer: the watchdog's grace period starts now.
    fn restart(&self, peer: &PeerConfig) {
        lock(&self.received).restart(peer);
        lock(&self.sent).restart();
    }
}

/// `name{peer="<peer>", extra...}`.
fn series(name: &str, peer: &str, extra: &[(&str, &str)]) -> Option<Labels> {
    let mut pairs = vec![("__name__", name), ("peer", peer)];
    pairs.extend_from_slice(extra);
    match Labels::new_series(pairs) {
        Ok(labels) => Some(labels),
        Err(error) => {
            tracing::warn!(%error, series = name, "cannot label a peer series");
            None
        }
    }
}

/// The process-wide heartbeat sequence: never repeats within a process.
fn next_sequence(sequence: &AtomicU64) -> u64 {
    sequence.fetch_add(1, Ordering::Relaxed) + 1
}
