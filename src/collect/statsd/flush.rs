//! The flush: one interval's aggregates folded into the values kept across flushes,
//! and everything written to storage at one timestamp.
//! Owns: cumulative counter and histogram values, gauges' last values, the series
//! cache (statsd metric → its `SeriesRef`s), expiry with staleness markers, the
//! flush-side limits, and writing the `tandem_statsd_*` self series.
//! Does not: receive or parse (`aggregate.rs`), or wait for durability
//! (`Durability::Background`; a failed append is counted and the next flush goes on).

use super::aggregate::{Kind, Metrics, Pending, ReceiveCounters, Taken};
use super::parse::Reason;
use crate::collect::scrape::aligned;
use crate::config::statsd::StatsdConfig;
use crate::model::{Labels, METRIC_NAME, Sample, SeriesRef, stale_nan};
use crate::storage::{Durability, Storage};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// A metric's value kept across flushes.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    /// Sum of increments since the metric appeared.
    Counter(f64),
    Gauge(f64),
    /// Observations per bucket (not cumulative; the last is +Inf), their sum and count,
    /// all since the metric appeared.
    Histogram {
        buckets: Vec<f64>,
        sum: f64,
        count: f64,
    },
    /// Distinct members in the last interval.
    Set(f64),
}

impl Value {
    fn new(kind: Kind, buckets: usize) -> Value {
        match kind {
            Kind::Counter => Value::Counter(0.0),
            Kind::Gauge => Value::Gauge(0.0),
            Kind::Histogram => Value::Histogram {
                buckets: vec![0.0; buckets + 1],
                sum: 0.0,
                count: 0.0,
            },
            Kind::Set => Value::Set(0.0),
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Value::Counter(_) => Kind::Counter,
            Value::Gauge(_) => Kind::Gauge,
            Value::Histogram { .. } => Kind::Histogram,
            Value::Set(_) => Kind::Set,
        }
    }

    /// Folds one interval in; kinds are checked to match before.
    fn apply(&mut self, pending: Pending) {
        match (self, pending) {
            (Value::Counter(total), Pending::Counter(increment)) => *total += increment,
            (Value::Gauge(value), Pending::Gauge { set, delta }) => {
                *value = set.unwrap_or(*value) + delta;
            }
            (
                Value::Histogram {
                    buckets,
                    sum,
                    count,
                },
                Pending::Histogram {
                    buckets: new,
                    sum: new_sum,
                    count: new_count,
                },
            ) => {
                for (bucket, add) in buckets.iter_mut().zip(new) {
                    *bucket += add;
                }
                *sum += new_sum;
                *count += new_count;
            }
            (Value::Set(distinct), Pending::Set(members)) => *distinct = members.len() as f64,
            (value, pending) => {
                debug_assert!(false, "BUG: {:?} into {:?}", pending.kind(), value.kind());
            }
        }
    }

    /// Output values in the order of `output_name`'s indexes.
    fn outputs(&self, out: &mut Vec<f64>) {
        out.clear();
        match self {
            Value::Counter(value) | Value::Gauge(value) | Value::Set(value) => out.push(*value),
            Value::Histogram {
                buckets,
                sum,
                count,
            } => {
                let mut cumulative = 0.0;
                for bucket in buckets {
                    cumulative += bucket;
                    out.push(cumulative);
                }
                out.push(*sum);
                out.push(*count);
            }
        }
    }
}

/// A self series: name, its one label if any, value.
type OwnPoint = (&'static str, Option<(&'static str, &'static str)>, u64);

/// Number of Prometheus series a metric of `kind` is stored as.
fn output_count(kind: Kind, buckets: usize) -> usize {
    match kind {
        Kind::Histogram => buckets + 3,
        _ => 1,
    }
}

/// A statsd metric as stored.
struct Stored {
    value: Value,
    /// One per output; `None`: storage refused the series (retried each flush).
    refs: Vec<Option<SeriesRef>>,
    /// The flush that last brought it input.
    updated_t: i64,
}

/// Flush-side counts since start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlushCounters {
    /// Samples of metrics that would exceed `[statsd] series_max` across flushes.
    pub dropped_series_limit: u64,
    /// Samples storage refused (a limit, out of order, a failed append).
    pub dropped_storage: u64,
    /// Lines of a metric sent as another type than it is stored as.
    pub type_conflicts: u64,
    pub flushes: u64,
    /// Metrics expired (no input for `[statsd] expire_after`).
    pub expired: u64,
}

/// What one flush wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushOutcome {
    /// Samples of statsd metrics (self series not included).
    pub samples: u64,
    pub stale_markers: u64,
    pub expired: u64,
    pub append_failed: bool,
}

/// Everything kept from one flush to the next.
#[derive(Default)]
pub struct Flusher {
    series: Metrics<Stored>,
    /// Self series, by name and label text.
    own: HashMap<String, Option<SeriesRef>>,
    pub counters: FlushCounters,
    previous_t: Option<i64>,
    batch: Vec<(SeriesRef, [Sample; 1])>,
    /// Whether a refused line was logged at warn already (later ones go to debug).
    warned: bool,
    outputs: Vec<f64>,
}

impl Flusher {
    pub fn new() -> Flusher {
        Flusher::default()
    }

    /// Statsd metrics held.
    #[cfg(test)]
    pub fn metric_count(&self) -> usize {
        self.series.len()
    }

    /// The timestamp of a flush at `now`: aligned to the interval as scrapes are, and
    /// always after the previous flush (a reload flushes off the timer).
    pub fn timestamp(&mut self, now: i64, interval_ms: i64) -> i64 {
        let t = aligned(self.previous_t, now, interval_ms);
        let t = match self.previous_t {
            Some(previous) if t <= previous => previous + 1,
            _ => t,
        };
        self.previous_t = Some(t);
        t
    }

    /// Folds `taken` in and writes every metric, the staleness markers of expired
    /// ones, and the self series, at `t`.
    pub fn flush(
        &mut self,
        storage: &Storage,
        config: &StatsdConfig,
        taken: Taken,
        t: i64,
    ) -> FlushOutcome {
        self.counters.flushes += 1;
        self.batch.clear();
        let buckets = config.histogram_buckets.len();
        for (key, entry) in taken.entries {
            let full = self.series.len() >= config.series_max;
            let kind = entry.pending.kind();
            let stored = match self.series.entry(key) {
                Entry::Occupied(occupied) => occupied.into_mut(),
                Entry::Vacant(_) if full => {
                    self.counters.dropped_series_limit += entry.samples;
                    continue;
                }
                Entry::Vacant(vacant) => vacant.insert(Stored {
                    value: Value::new(kind, buckets),
                    refs: vec![None; output_count(kind, buckets)],
                    updated_t: t,
                }),
            };
            if stored.value.kind() != kind {
                self.counters.type_conflicts += entry.lines;
                continue;
            }
            stored.value.apply(entry.pending);
            stored.updated_t = t;
        }
        let mut outcome = FlushOutcome::default();
        let expire_ms = config
            .expire_after
            .map(|after| i64::try_from(after.as_millis()).unwrap_or(i64::MAX));
        let (batch, counters, outputs) = (&mut self.batch, &mut self.counters, &mut self.outputs);
        self.series.retain(|key, stored| {
            if expire_ms.is_some_and(|expire_ms| t - stored.updated_t > expire_ms) {
                for series in stored.refs.iter().flatten() {
                    batch.push((*series, [Sample { t, v: stale_nan() }]));
                    outcome.stale_markers += 1;
                }
                outcome.expired += 1;
                return false;
            }
            if let Value::Set(distinct) = &mut stored.value
                && stored.updated_t != t
            {
                *distinct = 0.0;
            }
            stored.value.outputs(outputs);
            for (index, (series, value)) in stored.refs.iter_mut().zip(outputs.iter()).enumerate() {
                if series.is_none() {
                    *series = resolve(storage, config, key, stored.value.kind(), index);
                }
                match series {
                    Some(series) => {
                        batch.push((*series, [Sample { t, v: *value }]));
                        outcome.samples += 1;
                    }
                    None => counters.dropped_storage += 1,
                }
            }
            true
        });
        self.counters.expired += outcome.expired;
        if let Some(error) = taken.first_error {
            if self.warned {
                tracing::debug!(%error, "statsd input refused");
            } else {
                tracing::warn!(%error, "statsd input refused; refusals are counted in tandem_statsd_lines_rejected_total, later ones logged at debug");
                self.warned = true;
            }
        }
        self.push_own(storage, &taken.counters, taken.kernel_drops, t);
        let user_samples = outcome.samples;
        match self.append(storage) {
            Ok(rejected) => self.counters.dropped_storage += rejected,
            Err(error) => {
                self.counters.dropped_storage += user_samples;
                outcome.append_failed = true;
                tracing::warn!(%error, "storing statsd metrics failed; the next flush writes them again");
            }
        }
        outcome
    }

    /// Writes staleness markers for every statsd metric and forgets them (their
    /// values start again from 0); with `own`, for the self series as well.
    pub fn mark_all_stale(&mut self, storage: &Storage, t: i64, own: bool) {
        self.batch.clear();
        for stored in self.series.values() {
            for series in stored.refs.iter().flatten() {
                self.batch.push((*series, [Sample { t, v: stale_nan() }]));
            }
        }
        self.series.clear();
        if own {
            for series in self.own.values().flatten() {
                self.batch.push((*series, [Sample { t, v: stale_nan() }]));
            }
            self.own.clear();
        }
        if let Err(error) = self.append(storage) {
            tracing::warn!(%error, "could not store staleness markers of statsd metrics");
        }
    }

    /// The self series (see the module doc of `statsd`).
    fn push_own(
        &mut self,
        storage: &Storage,
        receive: &ReceiveCounters,
        kernel_drops: Option<u64>,
        t: i64,
    ) {
        let flush = &self.counters;
        let mut points: Vec<OwnPoint> = vec![
            (
                "tandem_statsd_packets_received_total",
                None,
                receive.packets,
            ),
            ("tandem_statsd_lines_received_total", None, receive.lines),
            (
                "tandem_statsd_samples_received_total",
                None,
                receive.samples,
            ),
            (
                "tandem_statsd_tags_dropped_total",
                None,
                receive.tags_dropped,
            ),
            ("tandem_statsd_flushes_total", None, flush.flushes),
            ("tandem_statsd_series_expired_total", None, flush.expired),
            ("tandem_statsd_series", None, self.series.len() as u64),
        ];
        for reason in Reason::ALL {
            let mut count = receive.rejected[reason.index()];
            if reason == Reason::TypeConflict {
                count += flush.type_conflicts;
            }
            points.push((
                "tandem_statsd_lines_rejected_total",
                Some(("reason", reason.as_str())),
                count,
            ));
        }
        for (reason, count) in [
            (
                "series_limit",
                receive.dropped_series_limit + flush.dropped_series_limit,
            ),
            ("set_limit", receive.dropped_set_limit),
            ("storage", flush.dropped_storage),
        ] {
            points.push((
                "tandem_statsd_samples_dropped_total",
                Some(("reason", reason)),
                count,
            ));
        }
        if let Some(drops) = kernel_drops {
            points.push(("tandem_statsd_packets_dropped_total", None, drops));
        }
        for (name, label, value) in points {
            let key = match label {
                Some((label, value)) => format!("{name}{{{label}=\"{value}\"}}"),
                None => name.to_string(),
            };
            let series = *self.own.entry(key).or_insert_with(|| {
                let pairs = [(METRIC_NAME, name)].into_iter().chain(label);
                let labels = Labels::new_series(pairs).ok()?;
                storage
                    .resolve(&labels)
                    .inspect_err(|reason| {
                        tracing::debug!(series = %labels, %reason, "statsd self series refused");
                    })
                    .ok()
            });
            if let Some(series) = series {
                self.batch.push((series, [Sample { t, v: value as f64 }]));
            }
        }
    }

    /// Stores the batch with background durability; the samples storage refused.
    fn append(&mut self, storage: &Storage) -> Result<u64, crate::storage::StorageError> {
        let batch = std::mem::take(&mut self.batch);
        if batch.is_empty() {
            return Ok(0);
        }
        let refs: Vec<(SeriesRef, &[Sample])> = batch
            .iter()
            .map(|(series, sample)| (*series, sample.as_slice()))
            .collect();
        let outcome = storage.append_refs(&refs, Durability::Background)?;
        if let Some(rejection) = outcome.rejections.first() {
            tracing::debug!(%rejection, rejected = outcome.rejected, "storage refused statsd samples");
        }
        self.batch = batch;
        Ok(outcome.rejected)
    }
}

/// The series of output `index` of the metric `key`, or `None` if its labels are
/// invalid or storage refuses it (a limit).
fn resolve(
    storage: &Storage,
    config: &StatsdConfig,
    key: &str,
    kind: Kind,
    index: usize,
) -> Option<SeriesRef> {
    let labels = match output_labels(config, key, kind, index) {
        Ok(labels) => labels,
        Err(error) => {
            tracing::debug!(metric = key, %error, "statsd metric has invalid labels");
            return None;
        }
    };
    storage
        .resolve(&labels)
        .inspect_err(|reason| tracing::debug!(series = %labels, %reason, "statsd series refused"))
        .ok()
}

/// The labels of output `index` of the metric `key`: a histogram's buckets
/// (`_bucket{le}`, +Inf last), then `_sum` and `_count`; one series for other kinds.
pub(super) fn output_labels(
    config: &StatsdConfig,
    key: &str,
    kind: Kind,
    index: usize,
) -> Result<Labels, crate::model::LabelError> {
    let mut parts = key.split('\0');
    let name = parts.next().unwrap_or_default();
    let buckets = &config.histogram_buckets;
    let (name, le) = match kind {
        Kind::Histogram if index < buckets.len() => (
            format!("{name}_bucket"),
            Some(crate::promql::format::format_number(buckets[index])),
        ),
        Kind::Histogram if index == buckets.len() => {
            (format!("{name}_bucket"), Some("+Inf".to_string()))
        }
        Kind::Histogram if index == buckets.len() + 1 => (format!("{name}_sum"), None),
        Kind::Histogram => (format!("{name}_count"), None),
        _ => (name.to_string(), None),
    };
    let pairs = [(METRIC_NAME.to_string(), name)]
        .into_iter()
        .chain(le.map(|le| ("le".to_string(), le)))
        .chain(parts.filter_map(|tag| {
            let (name, value) = tag.split_once('=')?;
            Some((name.to_string(), value.to_string()))
        }))
        .chain(config.labels.iter().cloned());
    Labels::new_series(pairs)
}

#[cfg(test)]
mod tests;
