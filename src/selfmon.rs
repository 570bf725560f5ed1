//! tandem's own metrics: the registry behind `/metrics`.
//! Owns: the `tandem_*` and `process_*` metric definitions and their text encoding.
//! Does not: store anything; tandem's own series reach storage by scraping `/metrics`
//! like any other target, so they are graphed and alerted on the same way.
//!
//! Built on `prometheus-client`, the Prometheus project's Rust client, rather than a
//! hand-written registry: its OpenMetrics encoder is the reference for the format.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

/// The version compiled in, and the git revision when built from a checkout.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = match option_env!("TANDEM_REVISION") {
    Some(revision) => revision,
    None => "unknown",
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
    pub revision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub handler: String,
    pub code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandlerLabels {
    pub handler: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HashLabels {
    pub hash: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PushReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PushKindLabels {
    pub kind: &'static str,
}

/// The HTTP text import's counters (`web::api::import` updates them).
#[derive(Clone, Default)]
pub struct ImportMetrics {
    pub samples_received: Counter,
    pub samples_rejected: Family<PushReasonLabels, Counter>,
    pub requests_rejected: Family<PushReasonLabels, Counter>,
}

/// The remote_write receiver's counters (`web::api::write` updates them).
#[derive(Clone, Default)]
pub struct RemoteWriteMetrics {
    /// Samples in decoded requests.
    pub samples_received: Counter,
    /// Samples not stored, by reason: an invalid series (`missing_name`,
    /// `invalid_labels`, `empty_label_value`, `storage_limit`) or storage refusing the
    /// sample (`out_of_order`, `duplicate_timestamp`..., `unlisted` past the listed
    /// rejections).
    pub samples_rejected: Family<PushReasonLabels, Counter>,
    /// Whole requests refused before any sample was read, by reason (`content_type`,
    /// `encoding`, `too_large`, `bad_body`, `storage_error`).
    pub requests_rejected: Family<PushReasonLabels, Counter>,
    /// What remote_write carries that tandem does not store (`exemplar`,
    /// `native_histogram`, `metadata`).
    pub dropped: Family<PushKindLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleGroupLabels {
    /// `FILE;NAME`, as Prometheus' `rule_group` label.
    pub rule_group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReceiverLabels {
    pub receiver: String,
    /// `webhook`, `email`, `exec` or `alertmanager`.
    pub integration: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertStateLabels {
    pub state: &'static str,
}

/// The rule manager's metrics (`alert::rules` updates them).
#[derive(Clone, Default)]
pub struct RuleMetrics {
    /// Evaluations of a group, on its interval or after new input data.
    pub evaluations: Family<RuleGroupLabels, Counter>,
    /// Evaluations started by new input data rather than the interval.
    pub triggered_evaluations: Family<RuleGroupLabels, Counter>,
    /// Rules whose evaluation failed (query error, template error, limit exceeded).
    pub evaluation_failures: Family<RuleGroupLabels, Counter>,
    /// How long the group's last evaluation took, in seconds.
    pub last_duration: Family<RuleGroupLabels, Gauge<f64, AtomicU64>>,
    /// When the group was last evaluated (Unix seconds).
    pub last_evaluation: Family<RuleGroupLabels, Gauge<f64, AtomicU64>>,
    /// Active alerts by state (`pending`, `firing`).
    pub alerts: Family<AlertStateLabels, Gauge>,
    /// State rows that could not be written to alerts.sqlite.
    pub state_write_failures: Counter,
}

/// The notifier's metrics (`alert::notify` updates them).
#[derive(Clone, Default)]
pub struct NotifyMetrics {
    /// Delivery attempts, by receiver and integration.
    pub notifications: Family<ReceiverLabels, Counter>,
    /// Delivery attempts that failed (each retry counts).
    pub notifications_failed: Family<ReceiverLabels, Counter>,
    /// Notifications given up after the last retry.
    pub notifications_dropped: Family<ReceiverLabels, Counter>,
    /// Alerts handed to the notifier.
    pub alerts_received: Counter,
    /// Alerts dropped because the notifier's queue was full.
    pub alerts_dropped: Counter,
}

/// `queue` label of the remote_write sender's metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub queue: String,
}

/// `queue` and `state` (sent, retried, dropped) of sent samples.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueStateLabels {
    pub queue: String,
    pub state: &'static str,
}

/// `queue` and `reason` of dropped samples.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueReasonLabels {
    pub queue: String,
    pub reason: String,
}

/// The remote_write sender's metrics (`crate::remote` updates them).
#[derive(Clone, Default)]
pub struct RemoteSendMetrics {
    /// Samples by outcome: `sent` (acknowledged), `retried` (in a request that is
    /// retried), `dropped` (given up, see `dropped`).
    pub samples: Family<QueueStateLabels, Counter>,
    pub dropped: Family<QueueReasonLabels, Counter>,
    /// Samples read from the WAL and not yet acknowledged.
    pub pending: Family<QueueLabels, Gauge>,
    /// Newest sample timestamp acknowledged (Unix seconds).
    pub highest_sent_timestamp: Family<QueueLabels, Gauge<f64, AtomicU64>>,
    pub shards: Family<QueueLabels, Gauge>,
    /// Requests retried (5xx, 429, no answer).
    pub retries: Family<QueueLabels, Counter>,
    /// WAL bytes not sent yet.
    pub backlog_bytes: Family<QueueLabels, Gauge>,
    /// WAL segments deleted before they were sent (the backlog limit was reached).
    pub wal_segments_lost: Family<QueueLabels, Counter>,
}

/// `peer` label of the peer metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabels {
    pub peer: String,
}

/// `reason` label of refused heartbeats.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    pub reason: &'static str,
}

/// The peer module's metrics (`crate::peer` updates them).
#[derive(Clone, Default)]
pub struct PeerMetrics {
    pub heartbeats_sent: Family<PeerLabels, Counter>,
    pub heartbeat_send_failures: Family<PeerLabels, Counter>,
    pub heartbeat_bytes_sent: Family<PeerLabels, Counter>,
    pub heartbeats_received: Family<PeerLabels, Counter>,
    pub heartbeats_refused: Family<RefusalLabels, Counter>,
}

/// Latency buckets for HTTP handlers: 1 ms to ~16 s in powers of two, enough to see
/// both a cached page and a slow range query.
fn http_latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 15)
}

fn new_latency_histogram() -> Histogram {
    Histogram::new(http_latency_buckets())
}

/// Every metric tandem exports about itself, owned by one registry.
pub struct SelfMetrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_request_duration: Family<HandlerLabels, Histogram, fn() -> Histogram>,
    pub config_last_reload_successful: Gauge,
    pub config_last_reload_success_timestamp: Gauge<f64, AtomicU64>,
    pub config_info: Family<HashLabels, Gauge>,
    pub remote_write: RemoteWriteMetrics,
    pub import: ImportMetrics,
    pub rules: RuleMetrics,
    pub notify: NotifyMetrics,
    pub peer: PeerMetrics,
    pub remote_send: RemoteSendMetrics,
}

impl SelfMetrics {
    pub fn new() -> SelfMetrics {
        let mut registry = Registry::default();
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: VERSION.to_string(),
                revision: REVISION.to_string(),
            })
            .set(1);
        registry.register(
            "tandem_build_info",
            "tandem's version; always 1",
            build_info,
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "tandem_http_requests",
            "HTTP requests answered, by route pattern and status code",
            http_requests.clone(),
        );
        let http_request_duration =
            Family::<HandlerLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                new_latency_histogram,
            );
        registry.register_with_unit(
            "tandem_http_request_duration",
            "Time from request to response, by route pattern",
            Unit::Seconds,
            http_request_duration.clone(),
        );
        let config_last_reload_successful = Gauge::default();
        registry.register(
            "tandem_config_last_reload_successful",
            "1 if the last config load or reload succeeded, 0 if it failed and the previous config runs",
            config_last_reload_successful.clone(),
        );
        let config_last_reload_success_timestamp = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "tandem_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful config load or reload",
            config_last_reload_success_timestamp.clone(),
        );
        let config_info = Family::<HashLabels, Gauge>::default();
        registry.register(
            "tandem_config_info",
            "The hash of the running config; always 1",
            config_info.clone(),
        );
        let remote_write = RemoteWriteMetrics::default();
        registry.register(
            "tandem_remote_write_samples_received",
            "Samples in remote_write requests that could be decoded",
            remote_write.samples_received.clone(),
        );
        registry.register(
            "tandem_remote_write_samples_rejected",
            "remote_write samples not stored, by reason",
            remote_write.samples_rejected.clone(),
        );
        registry.register(
            "tandem_remote_write_requests_rejected",
            "remote_write requests refused whole, by reason",
            remote_write.requests_rejected.clone(),
        );
        registry.register(
            "tandem_remote_write_dropped",
            "remote_write exemplars, native histograms and metadata entries received and not stored",
            remote_write.dropped.clone(),
        );
        let import = ImportMetrics::default();
        registry.register(
            "tandem_import_samples_received",
            "Sample lines in bodies posted to /api/v1/import/prometheus",
            import.samples_received.clone(),
        );
        registry.register(
            "tandem_import_samples_rejected",
            "Imported samples not stored, by reason: invalid_line (a line that does not parse) or storage's reason",
            import.samples_rejected.clone(),
        );
        registry.register(
            "tandem_import_requests_rejected",
            "Import requests refused whole, by reason (too_large, bad_body, invalid_lines, storage_error)",
            import.requests_rejected.clone(),
        );
        let rules = RuleMetrics::default();
        registry.register(
            "tandem_rule_group_evaluations",
            "Evaluations of a rule group, on its interval or after new input data",
            rules.evaluations.clone(),
        );
        registry.register(
            "tandem_rule_group_triggered_evaluations",
            "Evaluations of a rule group started by new samples for a series it reads",
            rules.triggered_evaluations.clone(),
        );
        registry.register(
            "tandem_rule_evaluation_failures",
            "Rule evaluations that failed (query error, template error, limit exceeded), by group",
            rules.evaluation_failures.clone(),
        );
        registry.register_with_unit(
            "tandem_rule_group_last_duration",
            "How long the group's last evaluation took",
            Unit::Seconds,
            rules.last_duration.clone(),
        );
        registry.register(
            "tandem_rule_group_last_evaluation_timestamp_seconds",
            "When the group was last evaluated",
            rules.last_evaluation.clone(),
        );
        registry.register(
            "tandem_alerts",
            "Active alerts, by state (pending, firing)",
            rules.alerts.clone(),
        );
        registry.register(
            "tandem_alert_state_write_failures",
            "Alert state changes that could not be written to alerts.sqlite",
            rules.state_write_failures.clone(),
        );
        let notify = NotifyMetrics::default();
        registry.register(
            "tandem_notifications",
            "Notification delivery attempts, by receiver and integration",
            notify.notifications.clone(),
        );
        registry.register(
            "tandem_notifications_failed",
            "Notification delivery attempts that failed (each retry counts), by receiver and integration",
            notify.notifications_failed.clone(),
        );
        registry.register(
            "tandem_notifications_dropped",
            "Notifications given up after their last retry, by receiver and integration",
            notify.notifications_dropped.clone(),
        );
        registry.register(
            "tandem_notifier_alerts_received",
            "Alerts handed from the rule manager to the notifier",
            notify.alerts_received.clone(),
        );
        registry.register(
            "tandem_notifier_alerts_dropped",
            "Alerts dropped because the notifier's queue was full",
            notify.alerts_dropped.clone(),
        );
        let peer = PeerMetrics::default();
        for (name, help, family) in [
            (
                "tandem_peer_heartbeats_sent",
                "Heartbeats a peer accepted",
                &peer.heartbeats_sent,
            ),
            (
                "tandem_peer_heartbeat_send_failures",
                "Heartbeats that could not be delivered to a peer (unreachable, timed out or refused)",
                &peer.heartbeat_send_failures,
            ),
            (
                "tandem_peer_heartbeat_sent_bytes",
                "Body bytes of heartbeats sent to a peer",
                &peer.heartbeat_bytes_sent,
            ),
            (
                "tandem_peer_heartbeats_received",
                "Heartbeats accepted from a peer",
                &peer.heartbeats_received,
            ),
        ] {
            registry.register(name, help, family.clone());
        }
        registry.register(
            "tandem_peer_heartbeats_refused",
            "Heartbeats refused (and not stored), by reason",
            peer.heartbeats_refused.clone(),
        );
        let remote_send = RemoteSendMetrics::default();
        registry.register(
            "tandem_remote_write_samples",
            "Samples of [[remote_write]] queues, by state: sent, retried, dropped",
            remote_send.samples.clone(),
        );
        registry.register(
            "tandem_remote_write_dropped_samples",
            "Samples a [[remote_write]] queue gave up on, by reason (http_<code>, unknown_series)",
            remote_send.dropped.clone(),
        );
        registry.register(
            "tandem_remote_write_pending_samples",
            "Samples read from the WAL and not yet acknowledged by the receiver",
            remote_send.pending.clone(),
        );
        registry.register(
            "tandem_remote_write_highest_sent_timestamp_seconds",
            "Newest sample timestamp the receiver acknowledged",
            remote_send.highest_sent_timestamp.clone(),
        );
        registry.register(
            "tandem_remote_write_shards",
            "Concurrent senders of a queue",
            remote_send.shards.clone(),
        );
        registry.register(
            "tandem_remote_write_retries",
            "Requests retried after 5xx, 429 or no answer",
            remote_send.retries.clone(),
        );
        registry.register(
            "tandem_remote_write_backlog_bytes",
            "WAL bytes a queue has not sent yet",
            remote_send.backlog_bytes.clone(),
        );
        registry.register(
            "tandem_remote_write_wal_segments_lost",
            "WAL segments deleted before a queue sent them (backlog_bytes_max reached)",
            remote_send.wal_segments_lost.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector));
        SelfMetrics {
            remote_send,
            peer,
            rules,
            notify,
            import,
            remote_write,
            registry,
            http_requests,
            http_request_duration,
            config_last_reload_successful,
            config_last_reload_success_timestamp,
            config_info,
        }
    }

    /// Adds the `tandem_storage_*` metrics, read from `storage` at each scrape.
    pub fn with_storage(mut self, storage: std::sync::Arc<crate::storage::Storage>) -> SelfMetrics {
        self.registry
            .register_collector(Box::new(StorageCollector { storage }));
        self
    }

    /// Adds the scrape targets' metrics, read from `health` at each scrape.
    pub fn with_target_health(
        mut self,
        health: std::sync::Arc<crate::collect::scrape::health::TargetHealth>,
    ) -> SelfMetrics {
        self.registry
            .register_collector(Box::new(TargetHealthCollector { health }));
        self
    }

    /// Marks `hash` as the running config (and only it).
    pub fn set_config_hash(&self, hash: &str) {
        self.config_info.clear();
        self.config_info
            .get_or_create(&HashLabels {
                hash: hash.to_string(),
            })
            .set(1);
    }

    /// Every metric in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

impl Default for SelfMetrics {
    fn default() -> Self {
        SelfMetrics::new()
    }
}

/// File discovery's errors, read from the target registry at each scrape.
#[derive(Debug)]
struct TargetHealthCollector {
    health: std::sync::Arc<crate::collect::scrape::health::TargetHealth>,
}

impl Collector for TargetHealthCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counter = ConstCounter::new(self.health.file_sd_read_errors());
        let metric = encoder.encode_descriptor(
            "tandem_file_sd_read_errors",
            "Target files of file_sd that could not be read or parsed (their previous targets are kept)",
            None,
            counter.metric_type(),
        )?;
        counter.encode(metric)
    }
}

/// Storage's counters and sizes, read at each scrape (no second copy to keep in sync).
struct StorageCollector {
    storage: std::sync::Arc<crate::storage::Storage>,
}

impl std::fmt::Debug for StorageCollector {
    fn fmt(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("StorageCollector")
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

impl Collector for StorageCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        let counters = &self.storage.counters;
        let counter_values = [
            (
                "tandem_storage_samples_appended",
                "Samples stored",
                counters.samples_appended.load(Relaxed),
            ),
            (
                "tandem_storage_samples_unchanged",
                "Samples identical to stored ones (no-op)",
                counters.samples_unchanged.load(Relaxed),
            ),
            (
                "tandem_storage_series_created",
                "Series created",
                counters.series_created.load(Relaxed),
            ),
            (
                "tandem_storage_corruptions",
                "Damaged WAL entries, chunks or blocks found (quarantined)",
                counters.corruptions.load(Relaxed),
            ),
            (
                "tandem_storage_compactions",
                "Compaction runs",
                counters.compactions.load(Relaxed),
            ),
            (
                "tandem_storage_chunks_compacted",
                "Chunks moved from the hot chunk log to SQLite blocks",
                counters.chunks_compacted.load(Relaxed),
            ),
            (
                "tandem_storage_retention_blocks_deleted",
                "Raw and rollup blocks deleted by retention",
                counters.retention_blocks_deleted.load(Relaxed),
            ),
            (
                "tandem_storage_retention_bytes_freed",
                "Bytes retention gave back to the file system",
                counters.retention_bytes_freed.load(Relaxed),
            ),
            (
                "tandem_storage_write_errors",
                "Appends that failed because the WAL or hot chunk log could not be written",
                counters.write_errors.load(Relaxed),
            ),
            (
                "tandem_storage_wal_entries_truncated",
                "WAL records deleted with their segments after their data was sealed",
                counters.wal_entries_truncated.load(Relaxed),
            ),
        ];
        for (name, help, value) in counter_values {
            let counter = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        let family = encoder.encode_descriptor(
            "tandem_storage_rejected_samples",
            "Samples refused at append, by reason",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        let mut family = family;
        for (index, reason) in crate::storage::RejectReason::KINDS.iter().enumerate() {
            let counter = ConstCounter::new(counters.rejected[index].load(Relaxed));
            counter.encode(family.encode_family(&ReasonLabels { reason })?)?;
        }
        let stats = self.storage.stats();
        let gauges = [
            (
                "tandem_storage_series",
                "Series in the catalog",
                stats.series,
            ),
            (
                "tandem_storage_head_series",
                "Series with data in the head",
                stats.head_series,
            ),
            (
                "tandem_storage_head_samples",
                "Samples in open head chunks",
                stats.head_samples,
            ),
            (
                "tandem_storage_hot_chunks",
                "Sealed chunks in the hot chunk log",
                stats.hot_chunks,
            ),
            (
                "tandem_storage_hot_bytes",
                "Bytes on disk of the hot chunk log",
                stats.hot_bytes,
            ),
            (
                "tandem_storage_cold_bytes",
                "Bytes on disk of the SQLite store",
                stats.cold_bytes,
            ),
            (
                "tandem_storage_wal_bytes",
                "Bytes of the WAL segment files (wal/) on disk",
                stats.wal_bytes,
            ),
        ];
        for (name, help, value) in gauges {
            // Counts and byte sizes print as integers.
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        // A failed read leaves the two families out of this scrape (and is logged);
        // the other storage metrics still go out.
        match self.storage.bytes_per_tier() {
            Ok(tiers) => {
                let families = [
                    (
                        "tandem_storage_tier_bytes",
                        "Encoded bytes of the blocks of each tier in the SQLite store",
                        true,
                    ),
                    (
                        "tandem_storage_tier_blocks",
                        "Blocks of each tier in the SQLite store",
                        false,
                    ),
                ];
                for (name, help, bytes) in families {
                    let mut family = encoder.encode_descriptor(
                        name,
                        help,
                        None,
                        prometheus_client::metrics::MetricType::Gauge,
                    )?;
                    for (resolution, tier_bytes, blocks) in &tiers {
                        let value = if bytes { *tier_bytes } else { *blocks };
                        let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
                        let labels = TierLabels {
                            tier: crate::storage::Tier::name_of(*resolution),
                        };
                        gauge.encode(family.encode_family(&labels)?)?;
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read storage bytes per tier"),
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    tier: String,
}

/// The standard `process_*` metrics, read from /proc at each scrape.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // /proc may be unreadable (a hardened sandbox); then these metrics are absent
        // rather than wrong.
        let Ok(process) = procfs::process::Process::myself() else {
            return Ok(());
        };
        let ticks = procfs::ticks_per_second() as f64;
        if let Ok(stat) = process.stat() {
            let cpu_seconds = (stat.utime + stat.stime) as f64 / ticks;
            let counter = ConstCounter::new(cpu_seconds);
            let metric = encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time spent",
                None,
                counter.metric_type(),
            )?;
            counter.encode(metric)?;
            let rss = stat.rss as f64 * procfs::page_size() as f64;
            encode_gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory size",
                rss,
            )?;
            encode_gauge(
                &mut encoder,
                "process_virtual_memory_bytes",
                "Virtual memory size",
                stat.vsize as f64,
            )?;
            if let Ok(boot) = procfs::boot_time_secs() {
                let start = boot as f64 + stat.starttime as f64 / ticks;
                encode_gauge(
                    &mut encoder,
                    "process_start_time_seconds",
                    "Unix time the process started",
                    start,
                )?;
            }
        }
        if let Ok(fds) = process.fd_count() {
            encode_gauge(
                &mut encoder,
                "process_open_fds",
                "Open file descriptors",
                fds as f64,
            )?;
        }
        if let Ok(limits) = process.limits()
            && let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit
        {
            encode_gauge(
                &mut encoder,
                "process_max_fds",
                "Limit on open file descriptors",
                max as f64,
            )?;
        }
        Ok(())
    }
}

fn encode_gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(value);
    let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
    gauge.encode(metric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_the_promised_metrics() {
        let metrics = SelfMetrics::new();
        metrics.set_config_hash("abc");
        metrics.set_config_hash("def");
        metrics
            .http_requests
            .get_or_create(&HttpLabels {
                handler: "/-/ready".into(),
                code: 200,
            })
            .inc();
        let text = metrics.encode().expect("encode");
        assert!(
            text.contains("tandem_config_info{hash=\"def\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains("hash=\"abc\""), "{text}");
        assert!(
            text.contains("tandem_http_requests_total{handler=\"/-/ready\",code=\"200\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!("tandem_build_info{{version=\"{VERSION}\"")),
            "{text}"
        );
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    /// Storage sizes per tier follow compaction, labelled by tier name.
    #[test]
    fn storage_metrics_give_bytes_per_tier() {
        use crate::storage::{Durability, SeriesSamples, Storage, StorageOptions};
        let dir = tempfile::tempdir().expect("temp");
        let storage = std::sync::Arc::new(
            Storage::open(StorageOptions::new(dir.path())).expect("storage opens"),
        );
        let metrics = SelfMetrics::new().with_storage(std::sync::Arc::clone(&storage));
        let text = metrics.encode().expect("encode");
        assert!(
            text.contains("tandem_storage_tier_bytes{tier=\"raw\"} 0\n"),
            "{text}"
        );
        let labels =
            crate::model::Labels::new_series([("__name__", "up"), ("job", "a")]).expect("labels");
        // Two hours from a UTC midnight: one day block, one block per rollup tier.
        let t0 = 19_700 * 86_400_000 + 1;
        let samples = (0..500)
            .map(|i| crate::model::Sample {
                t: t0 + i * 15_000,
                v: (i % 7) as f64,
            })
            .collect();
        storage
            .append(&[SeriesSamples { labels, samples }], Durability::Sync)
            .expect("append");
        storage.seal_idle(i64::MAX).expect("seal");
        storage.compact(i64::MAX).expect("compact");
        let tiers = storage.bytes_per_tier().expect("tiers");
        let text = metrics.encode().expect("encode");
        for (resolution, bytes, blocks) in tiers {
            let tier = crate::storage::Tier::name_of(resolution);
            assert!(bytes > 0 && blocks == 1, "{tier}: {bytes} {blocks}");
            assert!(
                text.contains(&format!(
                    "tandem_storage_tier_bytes{{tier=\"{tier}\"}} {bytes}\n"
                )),
                "{text}"
            );
            assert!(
                text.contains(&format!(
                    "tandem_storage_tier_blocks{{tier=\"{tier}\"}} 1\n"
                )),
                "{text}"
            );
        }
        assert!(
            text.contains("tier=\"1m\"") && text.contains("tier=\"1h\""),
            "{text}"
        );
    }
}
