//! What the receive loop does with a packet: parse it and fold its samples into the
//! current flush interval, in memory.
//! Owns: the per-interval state of every statsd metric (counter increments, gauge
//! set/deltas, histogram observations per bucket, set members), the statsd series
//! limit on the receive side, and the receive counters of self-measurement.
//! Does not: touch storage or keep anything across flushes (`flush.rs` does); the
//! flush takes the interval's state out in O(1) (`Aggregator::take`).
//!
//! A statsd metric is its sanitized name and its tags (sorted, configured label names
//! removed). Its key is that text: `name` then `\0tag=value` per tag (names are
//! sanitized and values hold no NUL, so the key is unambiguous), built in a reused
//! buffer, so a line of a known metric costs no allocation.

use super::parse::{Line, MetricType, Reason, Value, parse_packet};
use super::{SET_VALUES_MAX, Settings};
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Arc;

/// The Prometheus shape a statsd type is stored as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// Timers (`ms`, in seconds), histograms (`h`) and distributions (`d`).
    Histogram,
    Set,
}

impl Kind {
    fn of(metric_type: MetricType) -> Kind {
        match metric_type {
            MetricType::Counter => Kind::Counter,
            MetricType::Gauge => Kind::Gauge,
            MetricType::Timer | MetricType::Histogram | MetricType::Distribution => Kind::Histogram,
            MetricType::Set => Kind::Set,
        }
    }
}

type MemberHasher = foldhash::fast::FixedState;
/// Metric keys come from the network: a seeded hash, so keys cannot be chosen to
/// collide.
pub type Metrics<V> = HashMap<Box<str>, V, foldhash::fast::RandomState>;

/// One metric's samples in the current interval.
#[derive(Clone, Debug, PartialEq)]
pub enum Pending {
    /// Sum of increments, each scaled by 1/rate.
    Counter(f64),
    /// The last value set in the interval, if any, and the deltas since.
    Gauge { set: Option<f64>, delta: f64 },
    /// Observations per bucket (not cumulative; the last is +Inf), weighted by 1/rate.
    Histogram {
        buckets: Vec<f64>,
        sum: f64,
        count: f64,
    },
    /// Hashes of the distinct members seen.
    Set(HashSet<u64, MemberHasher>),
}

impl Pending {
    pub fn kind(&self) -> Kind {
        match self {
            Pending::Counter(_) => Kind::Counter,
            Pending::Gauge { .. } => Kind::Gauge,
            Pending::Histogram { .. } => Kind::Histogram,
            Pending::Set(_) => Kind::Set,
        }
    }

    fn new(kind: Kind, buckets: usize) -> Pending {
        match kind {
            Kind::Counter => Pending::Counter(0.0),
            Kind::Gauge => Pending::Gauge {
                set: None,
                delta: 0.0,
            },
            Kind::Histogram => Pending::Histogram {
                buckets: vec![0.0; buckets + 1],
                sum: 0.0,
                count: 0.0,
            },
            Kind::Set => Pending::Set(HashSet::with_hasher(MemberHasher::with_seed(0))),
        }
    }
}

/// A metric's interval state and how much input went into it.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingEntry {
    pub pending: Pending,
    /// Values folded in.
    pub samples: u64,
    /// Lines folded in.
    pub lines: u64,
}

/// Receive-side counts since start (never reset; self-measurement stores them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiveCounters {
    pub packets: u64,
    /// Non-empty lines.
    pub lines: u64,
    /// Values folded into the interval.
    pub samples: u64,
    /// Lines refused, by `Reason::index` (`TooLarge` counts packets).
    pub rejected: [u64; Reason::ALL.len()],
    /// Values dropped: the metric would exceed `[statsd] series_max`.
    pub dropped_series_limit: u64,
    /// Set members dropped: the set already has `SET_VALUES_MAX` in this interval.
    pub dropped_set_limit: u64,
    /// Tags skipped: no value, empty name, or a name `[statsd] labels` sets.
    pub tags_dropped: u64,
}

/// One interval's worth of input, taken by the flush.
#[derive(Debug, Default)]
pub struct Taken {
    pub entries: Metrics<PendingEntry>,
    pub counters: ReceiveCounters,
    /// The first line refused in the interval, for the log.
    pub first_error: Option<String>,
    /// Datagrams the kernel dropped for the socket since it was bound (set by the
    /// flush, which reads `/proc`; `None`: no socket, or not known).
    pub kernel_drops: Option<u64>,
}

/// The receive loop's state, behind the mutex it shares with the flush.
pub struct Aggregator {
    settings: Arc<Settings>,
    entries: Metrics<PendingEntry>,
    counters: ReceiveCounters,
    first_error: Option<String>,
    /// Reused to build keys.
    key: String,
}

impl Aggregator {
    pub fn new(settings: Arc<Settings>) -> Aggregator {
        Aggregator {
            settings,
            entries: Metrics::default(),
            counters: ReceiveCounters::default(),
            first_error: None,
            key: String::new(),
        }
    }

    /// Takes the interval's state out, leaving an empty interval; the counters stay.
    pub fn take(&mut self) -> Taken {
        Taken {
            entries: std::mem::take(&mut self.entries),
            counters: self.counters.clone(),
            first_error: self.first_error.take(),
            kernel_drops: None,
        }
    }

    /// Takes the interval (aggregated under the old settings) and switches settings.
    pub fn take_and_configure(&mut self, settings: Arc<Settings>) -> Taken {
        let taken = self.take();
        self.settings = settings;
        taken
    }

    /// Metrics in the current interval.
    #[cfg(test)]
    pub fn metric_count(&self) -> usize {
        self.entries.len()
    }

    /// Folds one datagram in. Never fails: what cannot be used is counted.
    pub fn ingest_packet(&mut self, packet: &[u8]) {
        self.counters.packets += 1;
        let limit = self.settings.packet_bytes_max;
        if packet.len() > limit {
            self.reject(Reason::TooLarge, || {
                format!(
                    "statsd packet of {} bytes refused: [statsd] packet_bytes_max is {limit}",
                    packet.len()
                )
            });
            return;
        }
        for line in parse_packet(packet) {
            self.counters.lines += 1;
            match line {
                Ok(line) => self.ingest_line(&line),
                Err(error) => self.reject(error.reason, || error.to_string()),
            }
        }
    }

    fn reject(&mut self, reason: Reason, message: impl FnOnce() -> String) {
        self.counters.rejected[reason.index()] += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message());
        }
    }

    fn ingest_line(&mut self, line: &Line) {
        self.counters.tags_dropped += u64::from(line.tags_dropped);
        self.key.clear();
        line.push_name(&mut self.key);
        for tag in &line.tags {
            if self
                .settings
                .label_names
                .iter()
                .any(|name| *name == tag.name)
            {
                // The configured label wins (see the module doc of `statsd`).
                self.counters.tags_dropped += 1;
                continue;
            }
            self.key.push('\0');
            self.key.push_str(&tag.name);
            self.key.push('=');
            self.key.push_str(tag.value);
        }
        let kind = Kind::of(line.metric_type);
        if !self.entries.contains_key(self.key.as_str()) {
            if self.entries.len() >= self.settings.series_max {
                self.counters.dropped_series_limit += line.value_count() as u64;
                return;
            }
            let entry = PendingEntry {
                pending: Pending::new(kind, self.settings.buckets.len()),
                samples: 0,
                lines: 0,
            };
            self.entries.insert(self.key.as_str().into(), entry);
        }
        let Some(entry) = self.entries.get_mut(self.key.as_str()) else {
            return;
        };
        if entry.pending.kind() != kind {
            self.counters.rejected[Reason::TypeConflict.index()] += 1;
            if self.first_error.is_none() {
                self.first_error = Some(format!(
                    "statsd metric {:?} sent as {:?}, it was a {:?} before in this interval",
                    line.name(),
                    line.metric_type,
                    entry.pending.kind()
                ));
            }
            return;
        }
        entry.lines += 1;
        let weight = 1.0 / line.sample_rate;
        // Timers are milliseconds; Prometheus' base unit is the second.
        let scale = match line.metric_type {
            MetricType::Timer => 1e-3,
            _ => 1.0,
        };
        for value in line.values() {
            match (&mut entry.pending, value) {
                (Pending::Counter(total), Value::Number(increment)) => {
                    *total += increment * weight;
                }
                (Pending::Gauge { set, delta }, Value::Number(value)) => {
                    *set = Some(value);
                    *delta = 0.0;
                }
                (Pending::Gauge { delta, .. }, Value::GaugeDelta(change)) => *delta += change,
                (
                    Pending::Histogram {
                        buckets,
                        sum,
                        count,
                    },
                    Value::Number(value),
                ) => {
                    let value = value * scale;
                    // `le` is inclusive: the first bound at or above the value.
                    let index = self
                        .settings
                        .buckets
                        .partition_point(|bound| *bound < value);
                    if let Some(bucket) = buckets.get_mut(index) {
                        *bucket += weight;
                    }
                    *sum += value * weight;
                    *count += weight;
                }
                (Pending::Set(members), Value::Member(member)) => {
                    let hash = members.hasher().hash_one(member);
                    if members.len() >= SET_VALUES_MAX && !members.contains(&hash) {
                        self.counters.dropped_set_limit += 1;
                        continue;
                    }
                    members.insert(hash);
                }
                (pending, value) => {
                    debug_assert!(false, "BUG: {value:?} for {:?}", pending.kind());
                    continue;
                }
            }
            entry.samples += 1;
            self.counters.samples += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(series_max: usize) -> Arc<Settings> {
        Arc::new(Settings {
            buckets: vec![0.01, 0.1, 1.0],
            series_max,
            packet_bytes_max: 100,
            label_names: vec!["env".into()],
        })
    }

    fn entry<'a>(taken: &'a Taken, key: &str) -> &'a Pending {
        &taken
            .entries
            .get(key)
            .unwrap_or_else(|| panic!("no {key:?} in {:?}", taken.entries.keys()))
            .pending
    }

    #[test]
    fn folds_each_type() {
        let mut aggregator = Aggregator::new(settings(100));
        aggregator.ingest_packet(b"hits:1|c\nhits:2|c|@0.5\nhits:1:1|c");
        aggregator.ingest_packet(b"temp:+5|g\ntemp:20|g\ntemp:-1|g\ndelta_only:-3|g");
        aggregator.ingest_packet(b"lat:5|ms\nlat:100:2000|ms|@0.5\nsize:0.5|h");
        aggregator.ingest_packet(b"users:a|s\nusers:b|s\nusers:a|s");
        let taken = aggregator.take();
        assert_eq!(entry(&taken, "hits"), &Pending::Counter(1.0 + 4.0 + 2.0));
        assert_eq!(
            entry(&taken, "temp"),
            &Pending::Gauge {
                set: Some(20.0),
                delta: -1.0
            }
        );
        assert_eq!(
            entry(&taken, "delta_only"),
            &Pending::Gauge {
                set: None,
                delta: -3.0
            }
        );
        // 5 ms → 0.005 s in le=0.01; 100 ms (×2) → le=0.1; 2000 ms (×2) → +Inf.
        assert_eq!(
            entry(&taken, "lat"),
            &Pending::Histogram {
                buckets: vec![1.0, 2.0, 0.0, 2.0],
                sum: 0.005 + 0.2 + 4.0,
                count: 5.0
            }
        );
        // le is inclusive.
        assert_eq!(
            entry(&taken, "size"),
            &Pending::Histogram {
                buckets: vec![0.0, 0.0, 1.0, 0.0],
                sum: 0.5,
                count: 1.0
            }
        );
        let Pending::Set(members) = entry(&taken, "users") else {
            panic!("users is a set");
        };
        assert_eq!(members.len(), 2);
        assert_eq!(taken.counters.packets, 4);
        assert_eq!(taken.counters.lines, 13);
        assert_eq!(taken.counters.samples, 15);
        assert_eq!(taken.counters.rejected, [0; 9]);
        // Taking empties the interval and keeps the counters.
        assert_eq!(aggregator.metric_count(), 0);
        assert_eq!(aggregator.take().counters.packets, 4);
    }

    #[test]
    fn tags_make_distinct_metrics_and_configured_labels_win() {
        let mut aggregator = Aggregator::new(settings(100));
        aggregator.ingest_packet(
            b"req:1|c|#route:/a,code:200\nreq:1|c|#code:200,route:/a\nreq:1|c|#route:/b,env:dev,flag",
        );
        let taken = aggregator.take();
        assert_eq!(
            entry(&taken, "req\0code=200\0route=/a"),
            &Pending::Counter(2.0)
        );
        assert_eq!(entry(&taken, "req\0route=/b"), &Pending::Counter(1.0));
        assert_eq!(taken.counters.tags_dropped, 2);
    }

    #[test]
    fn garbage_is_counted_by_reason() {
        let mut aggregator = Aggregator::new(settings(100));
        aggregator.ingest_packet(b"\x00\x01\x02\xff\xfe");
        aggregator.ingest_packet(b"no_type:1\nbad rate:1|c|@2\nok:1|c|@2\nname with space:1|c");
        aggregator.ingest_packet(&[b'x'; 101]);
        aggregator.ingest_packet(b"ok:1|c\nok:1|g");
        let taken = aggregator.take();
        let rejected: Vec<(&str, u64)> = Reason::ALL
            .iter()
            .map(|reason| (reason.as_str(), taken.counters.rejected[reason.index()]))
            .filter(|(_, count)| *count > 0)
            .collect();
        assert_eq!(
            rejected,
            [
                ("utf8", 1),
                ("type", 1),
                ("sample_rate", 1),
                ("name", 2),
                ("too_large", 1),
                ("type_conflict", 1)
            ]
        );
        assert_eq!(entry(&taken, "ok"), &Pending::Counter(1.0));
        assert_eq!(
            taken.first_error.as_deref(),
            Some("statsd line \"\\0\\u{1}\\u{2}��\": not valid UTF-8")
        );
    }

    #[test]
    fn series_and_set_limits_drop_and_count() {
        let mut aggregator = Aggregator::new(settings(2));
        aggregator.ingest_packet(b"a:1|c\nb:1|c\nc:1:2|c\na:1|c");
        let taken = aggregator.take();
        assert_eq!(taken.entries.len(), 2);
        assert_eq!(taken.counters.dropped_series_limit, 2);
        assert_eq!(entry(&taken, "a"), &Pending::Counter(2.0));

        let mut aggregator = Aggregator::new(settings(2));
        for member in 0..SET_VALUES_MAX + 10 {
            aggregator.ingest_packet(format!("s:{member}|s").as_bytes());
        }
        aggregator.ingest_packet(b"s:0|s");
        let taken = aggregator.take();
        let Pending::Set(members) = entry(&taken, "s") else {
            panic!("s is a set");
        };
        assert_eq!(members.len(), SET_VALUES_MAX);
        assert_eq!(taken.counters.dropped_set_limit, 10);
    }
}
