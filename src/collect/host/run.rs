//! The host collector's loop and its way into storage.
//! Owns: the collection timer, restarting on a changed `[collect.host]`, the series
//! cache (series text → `SeriesRef`), staleness markers for series that disappear, and
//! the collector's own series (`tandem_collector_*`).
//! Does not: read /proc or /sys (the family files do), or wait for storage to be
//! durable (`Durability::Background`; a failed append is counted and collection goes on).
//!
//! Labels: every series gets `job="node"` and `instance="localhost"`. A node_exporter
//! scrape appears as `job="node", instance="<host>:9100"` (`scrape.rs` adds the job
//! name and the target address), and node_exporter dashboards select on exactly these
//! two labels, so they work unchanged. The instance has no port: scrape targets always
//! have one (`config::validate::check_target`), so a local node_exporter scraped as
//! well can never write into the same series.
//!
//! The collector's own series are stored here, beside the host's, as `scrape.rs` stores
//! its report series (`up`, `scrape_duration_seconds`): `selfmon`'s registry has no
//! hook for other subsystems yet. They are:
//! `tandem_collector_duration_seconds{collector}` (gauge, the last collection),
//! `tandem_collector_samples{collector}` (gauge, samples the last collection gave),
//! `tandem_collector_errors_total{collector}` (counter, failed collections),
//! `tandem_collector_append_failures_total` (counter, collections storage refused).

use super::{FamilyOutcome, HostOptions, Point, collect_once};
// One clock and one timestamp alignment for everything that samples on an interval.
use crate::collect::scrape::{aligned, now_ms};
use crate::config::{Config, HostCollectConfig};
use crate::model::{Labels, METRIC_NAME, Sample, SeriesRef, stale_nan};
use crate::storage::Storage;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{oneshot, watch};

/// The `job` label of every host series (see the module doc).
pub const JOB: &str = "node";
/// The `instance` label of every host series (see the module doc).
pub const INSTANCE: &str = "localhost";

/// A series the collector has stored.
struct Cached {
    /// `None`: storage refused the series (a limit); its points are dropped.
    series: Option<SeriesRef>,
    /// The collection that last produced it.
    seen: u64,
}

/// Counters of one family, kept across collections.
#[derive(Default)]
struct FamilyCounters {
    errors_total: u64,
    /// Whether the last collection failed: a failure is logged at warn when it starts,
    /// not every interval while it lasts.
    failing: bool,
}

/// What one collection stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CollectionOutcome {
    pub samples: u64,
    pub stale_markers: u64,
    pub family_errors: u64,
    pub append_failed: bool,
}

/// The collector's state between collections.
#[derive(Default)]
pub struct HostState {
    cache: HashMap<String, Cached>,
    /// Number of the current collection; 0 before the first.
    collection: u64,
    families: HashMap<&'static str, FamilyCounters>,
    append_failures_total: u64,
    batch: Vec<(SeriesRef, [Sample; 1])>,
}

impl HostState {
    pub fn new() -> HostState {
        HostState::default()
    }

    /// Stores one collection taken at `t`: its points, staleness markers for series
    /// the previous collection had and this one lacks, and the collector's own series.
    pub fn ingest(
        &mut self,
        storage: &Storage,
        outcomes: Vec<FamilyOutcome>,
        t: i64,
    ) -> CollectionOutcome {
        self.collection += 1;
        self.batch = Vec::with_capacity(self.cache.len() + 4 * outcomes.len());
        let mut outcome = CollectionOutcome::default();
        let mut report: Vec<Point> = Vec::with_capacity(3 * outcomes.len() + 1);
        for family in outcomes {
            let counters = self.families.entry(family.family).or_default();
            // A family over the points limit returns its points with the error.
            let points = match family.points {
                Ok(points) => {
                    if counters.failing {
                        tracing::info!(collector = family.family, "host collector recovered");
                    }
                    counters.failing = false;
                    points
                }
                Err(error) => {
                    counters.errors_total += 1;
                    outcome.family_errors += 1;
                    if counters.failing {
                        tracing::debug!(collector = family.family, %error, "host collector failed");
                    } else {
                        tracing::warn!(collector = family.family, %error, "host collector failed; the others carry on");
                    }
                    counters.failing = true;
                    Vec::new()
                }
            };
            let errors_total = counters.errors_total;
            let samples = points.len() as f64;
            for point in &points {
                self.push(storage, point, t);
            }
            report.extend([
                Point::new(
                    "tandem_collector_duration_seconds",
                    family.duration.as_secs_f64(),
                )
                .with("collector", family.family),
                Point::new("tandem_collector_samples", samples).with("collector", family.family),
                Point::new("tandem_collector_errors_total", errors_total as f64)
                    .with("collector", family.family),
            ]);
        }
        outcome.samples = self.batch.len() as u64;
        // A failure of this append shows in the next collection's value.
        report.push(Point::new(
            "tandem_collector_append_failures_total",
            self.append_failures_total as f64,
        ));
        for point in &report {
            self.push(storage, point, t);
        }
        // Last: every series of this collection must be marked seen first.
        outcome.stale_markers = self.stale_markers(t);
        if let Err(error) = self.append(storage) {
            self.append_failures_total += 1;
            outcome.append_failed = true;
            tracing::warn!(%error, "storing host metrics failed; the next collection tries again");
        }
        outcome
    }

    /// Marks every series stale: the collector is disabled, or tandem is stopping.
    pub fn mark_all_stale(&mut self, storage: &Storage, t: i64) {
        self.collection += 1;
        self.batch.clear();
        self.stale_markers(t);
        if let Err(error) = self.append(storage) {
            tracing::warn!(%error, "could not store staleness markers of host metrics");
        }
    }

    /// Series in the cache (for tests).
    pub fn cached_series(&self) -> usize {
        self.cache.len()
    }

    /// Adds `point` to the batch, resolving its series the first time it is seen.
    fn push(&mut self, storage: &Storage, point: &Point, t: i64) {
        let key = series_text(point);
        let cached = self.cache.entry(key).or_insert_with(|| Cached {
            series: labels_of(point).and_then(|labels| match storage.resolve(&labels) {
                Ok(series) => Some(series),
                Err(reason) => {
                    tracing::debug!(series = %labels, %reason, "host series refused");
                    None
                }
            }),
            seen: 0,
        });
        debug_assert!(cached.seen < self.collection, "BUG: {} twice", point.name);
        cached.seen = self.collection;
        if let Some(series) = cached.series {
            self.batch.push((series, [Sample { t, v: point.value }]));
        }
    }

    /// A staleness marker for each series of the previous collection missing from
    /// this one; they leave the cache, so a series that comes back is resolved anew.
    fn stale_markers(&mut self, t: i64) -> u64 {
        let previous = self.collection - 1;
        let mut count = 0;
        let batch = &mut self.batch;
        self.cache.retain(|_, cached| {
            if cached.seen == previous {
                if let Some(series) = cached.series {
                    batch.push((series, [Sample { t, v: stale_nan() }]));
                    count += 1;
                }
                return false;
            }
            debug_assert!(
                cached.seen >= previous,
                "BUG: a vanished series stayed cached"
            );
            true
        });
        count
    }

    /// Stores the batch with background durability and lets it go.
    fn append(&mut self, storage: &Storage) -> Result<(), crate::storage::StorageError> {
        let batch = std::mem::take(&mut self.batch);
        crate::collect::append_samples(storage, &batch)
    }
}

/// `name{a="b",...}`: the cache key of a point (label order is the family's, fixed).
fn series_text(point: &Point) -> String {
    let mut text = point.name.clone();
    text.push('{');
    for (name, value) in &point.labels {
        text.push_str(name);
        text.push_str("=\"");
        text.push_str(value);
        text.push_str("\",");
    }
    text.push('}');
    text
}

fn labels_of(point: &Point) -> Option<Labels> {
    let pairs = [
        (METRIC_NAME.to_string(), point.name.clone()),
        ("job".to_string(), JOB.to_string()),
        ("instance".to_string(), INSTANCE.to_string()),
    ]
    .into_iter()
    .chain(
        point
            .labels
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone())),
    );
    match Labels::new_series(pairs) {
        Ok(labels) => Some(labels),
        Err(error) => {
            tracing::debug!(metric = %point.name, %error, "host series has invalid labels");
            None
        }
    }
}

/// Collects host metrics every `[collect.host] interval` while `enabled`, until
/// `configs` closes or `shutdown` fires; restarts its timer when `[collect.host]`
/// changes. On the way out (and when disabled) every series gets a staleness marker.
pub async fn run(
    storage: Arc<Storage>,
    mut configs: watch::Receiver<Arc<Config>>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut state = HostState::new();
    'configs: loop {
        let host: HostCollectConfig = configs.borrow_and_update().host.clone();
        let options = match host.enabled.then(|| HostOptions::new(&host)) {
            Some(Ok(options)) => Some(Arc::new(options)),
            Some(Err(error)) => {
                tracing::error!(%error, "BUG: a validated [collect.host] pattern does not compile; host metrics are off");
                None
            }
            None => None,
        };
        let Some(options) = options else {
            // Disabled: what was collected goes stale now, not after the lookback.
            state = finish(&storage, state).await;
            tokio::select! {
                changed = configs.changed() => if changed.is_err() { break 'configs } else { continue 'configs },
                _ = &mut shutdown => break 'configs,
            }
        };
        tracing::debug!(interval = ?host.interval, "host collector started");
        let mut ticker = tokio::time::interval(host.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let interval_ms = i64::try_from(host.interval.as_millis()).unwrap_or(i64::MAX);
        let mut previous_t = None;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                changed = configs.changed() => {
                    if changed.is_err() {
                        break 'configs;
                    }
                    if configs.borrow().host != host {
                        continue 'configs;
                    }
                    continue;
                }
                _ = &mut shutdown => break 'configs,
            }
            let t = aligned(previous_t, now_ms(), interval_ms);
            previous_t = Some(t);
            state = collect_and_store(&storage, &options, state, t).await;
        }
    }
    let _ = finish(&storage, state).await;
    tracing::debug!("host collector stopped");
}

/// One collection on the blocking pool (file reads and `statfs` block).
async fn collect_and_store(
    storage: &Arc<Storage>,
    options: &Arc<HostOptions>,
    mut state: HostState,
    t: i64,
) -> HostState {
    let (storage, options) = (Arc::clone(storage), Arc::clone(options));
    let done = tokio::task::spawn_blocking(move || {
        let outcomes = collect_once(&options);
        state.ingest(&storage, outcomes, t);
        state
    })
    .await;
    done.unwrap_or_else(|error| {
        tracing::error!(%error, "BUG: host collection panicked; its series cache is reset");
        HostState::new()
    })
}

/// Marks everything stored so far stale; the counters carry on.
async fn finish(storage: &Arc<Storage>, mut state: HostState) -> HostState {
    if state.cache.is_empty() {
        return state;
    }
    let storage = Arc::clone(storage);
    let t = now_ms();
    let done = tokio::task::spawn_blocking(move || {
        state.mark_all_stale(&storage, t);
        state
    })
    .await;
    done.unwrap_or_else(|error| {
        tracing::error!(%error, "BUG: marking host series stale panicked");
        HostState::new()
    })
}

#[cfg(test)]
mod tests;
