//! Blackbox probes (`[[probe]]`): http, tcp and dns checks run on an interval, stored
//! under blackbox_exporter's metric names so that its dashboards and alerts work.
//! Owns: one task per probe (started, restarted and stopped as the config's probes
//! change), its schedule (spread by a hash of the name, never overlapping itself,
//! bounded by its timeout), its series cache, staleness markers for series that
//! disappear, and the probes' own series (`tandem_probe_*`).
//! Does not: parse the config (`config::probe`), or wait for storage to be durable
//! (`Durability::Background`; a failed append is counted and probing goes on).
//!
//! Labels: every series of a probe gets `job="blackbox"`, `instance="<target as
//! written>"` and `probe="<name>"`, then the probe's extra `labels`. Prometheus with
//! blackbox_exporter gives `job` (the scrape job, conventionally "blackbox") and
//! `instance` (the target, by the usual relabeling), so dashboards selecting on those
//! work unchanged; `probe` tells apart two probes of one target (an http and a tcp
//! check of the same host), and names are unique, so two probes never share a series.
//!
//! Series, as blackbox_exporter names them (phases summed over redirects):
//! every kind: `probe_success`, `probe_duration_seconds`, `probe_dns_lookup_time_seconds`
//! (resolving the target's host), `probe_ip_protocol` (4 or 6; 0 before resolving);
//! http: `probe_http_status_code` (0 without a response), `probe_http_duration_seconds
//! {phase="resolve|connect|tls|processing|transfer"}`, `probe_http_content_length` (-1
//! when not announced), `probe_http_uncompressed_body_length`, `probe_http_version`,
//! `probe_http_ssl`, `probe_http_redirects`, `probe_failed_due_to_regex`;
//! after a TLS handshake (https, tcp with `tls`): `probe_ssl_earliest_cert_expiry`
//! (Unix seconds, the earliest notAfter the server sent) and `probe_tls_version_info
//! {version="TLS 1.3"}`; dns: `probe_dns_duration_seconds{phase="resolve|connect|request"}`,
//! `probe_dns_answer_rrs`, `probe_dns_authority_rrs`, `probe_dns_additional_rrs`,
//! `probe_dns_query_succeeded`, and `probe_dns_serial` for SOA queries.
//! The probes' own (counters since the probe's task started):
//! `tandem_probe_runs_total`, `tandem_probe_failures_total`,
//! `tandem_probe_append_failures_total`, with the probe's labels.
//!
//! Probes do blocking socket I/O on tokio's blocking pool, each read and write bounded
//! by the probe's deadline, and the whole probe is also bounded by a tokio timeout.
//! Blocking I/O because TLS here is rustls' own blocking stream: tokio-rustls is in
//! the dependency tree (through reqwest) but not a dependency of ours.

mod dns;
mod http;
mod net;
mod tcp;

use crate::collect::scrape::{aligned, now_ms};
use crate::config::probe::{ProbeConfig, ProbeKind};
use crate::config::{Config, ConfigSource};
use crate::model::{Labels, METRIC_NAME, Sample, SeriesRef, stale_nan};
use crate::storage::Storage;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// The `job` label of every probe series (see the module doc).
pub const JOB: &str = "blackbox";

/// What a probe reports beyond `probe_success` and `probe_duration_seconds`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Point {
    pub name: &'static str,
    /// One extra label (`phase`, `version`) or none.
    pub label: Option<(&'static str, String)>,
    pub value: f64,
}

impl Point {
    pub fn new(name: &'static str, value: f64) -> Point {
        Point {
            name,
            label: None,
            value,
        }
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Point {
        self.label = Some((name, value.into()));
        self
    }
}

/// The result of one probe.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Outcome {
    pub success: bool,
    pub points: Vec<Point>,
    /// Why it failed, for the log.
    pub failure: Option<String>,
}

/// Everything about a probe's network exchange that can go wrong.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error("timed out")]
    Timeout,
    #[error("resolving {host:?}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("{host:?} has no address")]
    NoAddress { host: String },
    #[error("connecting to {address}: {source}")]
    Connect {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("querying {address}: {source}")]
    Exchange {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("ca_file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("{0}")]
    Io(std::io::Error),
    #[error("invalid response: {0}")]
    Malformed(String),
    #[error("the response body is larger than body_bytes_max ({0} bytes)")]
    BodyTooLarge(u64),
    #[error("more than {0} redirects")]
    TooManyRedirects(u32),
}

impl From<std::io::Error> for ProbeError {
    fn from(error: std::io::Error) -> ProbeError {
        if matches!(
            error.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ) {
            ProbeError::Timeout
        } else {
            ProbeError::Io(error)
        }
    }
}

/// A probe ready to run: its config, compiled.
struct Prepared {
    config: ProbeConfig,
    /// `ca_file`s are relative to it.
    config_dir: PathBuf,
    body_regex: Option<regex::bytes::Regex>,
}

impl Prepared {
    fn new(config: ProbeConfig, config_dir: PathBuf) -> Result<Prepared, regex::Error> {
        let body_regex = match &config.kind {
            ProbeKind::Http(http) => http
                .body_regex
                .as_deref()
                .map(regex::bytes::Regex::new)
                .transpose()?,
            _ => None,
        };
        Ok(Prepared {
            config,
            config_dir,
            body_regex,
        })
    }

    /// One probe, blocking, done by `deadline`.
    fn probe(&self, deadline: Instant) -> Outcome {
        let target = &self.config.target;
        match &self.config.kind {
            ProbeKind::Http(http) => http::probe(
                http,
                target,
                self.body_regex.as_ref(),
                &self.config_dir,
                deadline,
            ),
            ProbeKind::Tcp(tcp) => tcp::probe(tcp, target, &self.config_dir, deadline),
            ProbeKind::Dns(dns) => dns::probe(dns, deadline),
        }
    }

    /// What a probe that never got to finish reports: the series every run of its
    /// kind has, with the values of nothing done.
    fn unfinished(&self, failure: String) -> Outcome {
        let points = match &self.config.kind {
            ProbeKind::Http(_) => http::HttpReport::default().points(),
            ProbeKind::Tcp(_) => tcp::TcpReport::default().points(),
            ProbeKind::Dns(_) => dns::DnsReport::default().points(),
        };
        Outcome {
            success: false,
            points,
            failure: Some(failure),
        }
    }
}

struct Running {
    /// What it was started with, to restart it when that changes.
    config: ProbeConfig,
    config_dir: PathBuf,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// Runs the probes of the current config until `configs` closes or `shutdown` fires,
/// restarting only the probes whose config changed at each reload. On the way out every
/// probe writes its staleness markers and is awaited.
pub async fn run(
    storage: Arc<Storage>,
    mut configs: watch::Receiver<Arc<Config>>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut running: HashMap<String, Running> = HashMap::new();
    loop {
        let config = configs.borrow_and_update().clone();
        apply(&mut running, &config, &storage).await;
        tokio::select! {
            changed = configs.changed() => if changed.is_err() { break },
            _ = &mut shutdown => break,
        }
    }
    for (_, old) in running {
        let _ = old.stop.send(());
        let _ = old.task.await;
    }
    tracing::debug!("probes stopped");
}

/// The directory relative `ca_file`s are read from.
fn config_dir(source: &ConfigSource) -> PathBuf {
    match source {
        ConfigSource::Directory(dir) => dir.clone(),
        ConfigSource::Embedded => PathBuf::from("."),
    }
}

/// Stops the probes that are gone or changed (awaited, so that their staleness markers
/// land before a restarted probe's first sample) and starts the new and changed ones.
async fn apply(running: &mut HashMap<String, Running>, config: &Config, storage: &Arc<Storage>) {
    let dir = config_dir(&config.source);
    let wanted: HashMap<&str, &ProbeConfig> = config
        .probes
        .iter()
        .map(|probe| (probe.name.as_str(), probe))
        .collect();
    let stopping: Vec<String> = running
        .iter()
        .filter(|(name, old)| {
            wanted
                .get(name.as_str())
                .is_none_or(|probe| **probe != old.config || old.config_dir != dir)
        })
        .map(|(name, _)| name.clone())
        .collect();
    let mut stopped = Vec::with_capacity(stopping.len());
    for name in stopping {
        if let Some(old) = running.remove(&name) {
            let _ = old.stop.send(());
            stopped.push(old.task);
        }
    }
    for task in stopped {
        let _ = task.await;
    }
    for probe in &config.probes {
        if running.contains_key(&probe.name) {
            continue;
        }
        let prepared = match Prepared::new(probe.clone(), dir.clone()) {
            Ok(prepared) => Arc::new(prepared),
            Err(error) => {
                tracing::error!(probe = %probe.name, %error, "BUG: a validated body_regex does not compile; the probe is off");
                continue;
            }
        };
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(probe_loop(prepared, Arc::clone(storage), stopped));
        running.insert(
            probe.name.clone(),
            Running {
                config: probe.clone(),
                config_dir: dir.clone(),
                stop,
                task,
            },
        );
    }
}

/// Where in each interval this probe runs: spread by a hash of its name, so that many
/// probes do not all fire at once, and stable across restarts.
fn offset_in_interval(config: &ProbeConfig) -> Duration {
    use std::hash::BuildHasher;
    // A fixed-seed hasher: the offset must not change between runs.
    let hash = foldhash::fast::FixedState::with_seed(0x7072_6f62).hash_one(&config.name);
    let interval_ms = config.interval.as_millis().max(1) as u64;
    Duration::from_millis(hash % interval_ms)
}

/// Counters of one probe, kept across its runs.
#[derive(Default)]
struct Counters {
    runs_total: u64,
    failures_total: u64,
    append_failures_total: u64,
    /// Whether the last run failed: a failure is logged at warn when it starts, not
    /// every interval while it lasts.
    failing: bool,
}

async fn probe_loop(probe: Arc<Prepared>, storage: Arc<Storage>, mut stop: oneshot::Receiver<()>) {
    let config = &probe.config;
    let interval_ms = config.interval.as_millis().max(1) as i64;
    let phase = offset_in_interval(config).as_millis() as i64;
    let wait = (phase - now_ms()).rem_euclid(interval_ms);
    let first = tokio::time::Instant::now() + Duration::from_millis(wait as u64);
    let mut ticker = tokio::time::interval_at(first, config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut state = Some(SeriesState::new(config));
    let mut counters = Counters::default();
    let mut previous_t = None;
    tracing::debug!(probe = %config.name, kind = config.kind.name(), target = %config.target, "probe started");
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut stop => break,
        }
        let t = aligned(previous_t, now_ms(), interval_ms);
        previous_t = Some(t);
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = run_once(&probe) => outcome,
            _ = &mut stop => break,
        };
        let duration = started.elapsed();
        counters.runs_total += 1;
        if outcome.success {
            if counters.failing {
                tracing::info!(probe = %config.name, "probe succeeds again");
            }
            counters.failing = false;
        } else {
            counters.failures_total += 1;
            let reason = outcome.failure.as_deref().unwrap_or("failed");
            if counters.failing {
                tracing::debug!(probe = %config.name, target = %config.target, %reason, "probe failed");
            } else {
                tracing::warn!(probe = %config.name, target = %config.target, %reason, "probe failed");
            }
            counters.failing = true;
        }
        let mut points = outcome.points;
        points.extend([
            Point::new("probe_success", if outcome.success { 1.0 } else { 0.0 }),
            Point::new("probe_duration_seconds", duration.as_secs_f64()),
            Point::new("tandem_probe_runs_total", counters.runs_total as f64),
            Point::new(
                "tandem_probe_failures_total",
                counters.failures_total as f64,
            ),
            // A failure of this append shows in the next run's value.
            Point::new(
                "tandem_probe_append_failures_total",
                counters.append_failures_total as f64,
            ),
        ]);
        let Some(mut current) = state.take() else {
            break;
        };
        let store = Arc::clone(&storage);
        let stored = tokio::task::spawn_blocking(move || {
            let result = current.ingest(&store, &points, t);
            (current, result)
        })
        .await;
        match stored {
            Ok((current, result)) => {
                if let Err(error) = result {
                    counters.append_failures_total += 1;
                    tracing::warn!(probe = %config.name, %error, "storing probe results failed; the next run tries again");
                }
                state = Some(current);
            }
            Err(error) => {
                tracing::error!(probe = %config.name, %error, "BUG: storing probe results panicked; the series cache is reset");
                state = Some(SeriesState::new(config));
            }
        }
    }
    if let Some(mut current) = state {
        let t = now_ms();
        let _ = tokio::task::spawn_blocking(move || current.mark_all_stale(&storage, t)).await;
    }
    tracing::debug!(probe = %config.name, "probe stopped");
}

/// How long after its deadline a probe that did not return is given up on.
const BACKSTOP_SLACK: Duration = Duration::from_millis(250);

/// One probe on the blocking pool, bounded by its timeout.
async fn run_once(probe: &Arc<Prepared>) -> Outcome {
    let timeout = probe.config.timeout;
    let deadline = Instant::now() + timeout;
    let work = {
        let probe = Arc::clone(probe);
        tokio::task::spawn_blocking(move || probe.probe(deadline))
    };
    // The probe's own I/O stops at the deadline and reports what it got that far; this
    // bound is for what it cannot interrupt (the system resolver), with slack so that
    // the probe's own report wins even on a busy machine.
    match tokio::time::timeout(timeout + BACKSTOP_SLACK, work).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(error)) => probe.unfinished(format!("BUG: the probe panicked: {error}")),
        Err(_) => probe.unfinished(format!(
            "timed out after {}",
            crate::config::units::format_duration(timeout)
        )),
    }
}

/// A series the probe has stored.
struct Cached {
    /// `None`: storage refused the series (a limit); its points are dropped.
    series: Option<SeriesRef>,
    /// The run that last produced it.
    seen: u64,
}

/// A series of a probe: its name and its one extra label, if any.
type SeriesKey = (&'static str, Option<(&'static str, String)>);

/// A probe's series between runs.
struct SeriesState {
    /// `job`, `instance`, `probe` and the extra labels.
    labels: Vec<(String, String)>,
    cache: HashMap<SeriesKey, Cached>,
    /// Number of the current run; 0 before the first.
    round: u64,
    /// The newest timestamp stored: staleness markers go after it, or storage would
    /// refuse them as duplicates (a sample's timestamp may be a millisecond or two
    /// ahead of the clock, see `aligned`).
    newest_t: i64,
}

impl SeriesState {
    fn new(config: &ProbeConfig) -> SeriesState {
        let mut labels = vec![
            ("job".to_string(), JOB.to_string()),
            ("instance".to_string(), config.target.clone()),
            ("probe".to_string(), config.name.clone()),
        ];
        labels.extend(config.labels.iter().cloned());
        SeriesState {
            labels,
            cache: HashMap::new(),
            round: 0,
            newest_t: i64::MIN,
        }
    }

    /// Stores one run's points at `t`, and staleness markers for the series of the
    /// previous run that this one lacks.
    fn ingest(
        &mut self,
        storage: &Storage,
        points: &[Point],
        t: i64,
    ) -> Result<(), crate::storage::StorageError> {
        self.round += 1;
        let t = t.max(self.newest_t.saturating_add(1));
        self.newest_t = t;
        let mut batch = Vec::with_capacity(points.len() + 2);
        for point in points {
            let key = (point.name, point.label.clone());
            let labels = &self.labels;
            let cached = self.cache.entry(key).or_insert_with(|| Cached {
                series: resolve(storage, labels, point),
                seen: 0,
            });
            cached.seen = self.round;
            if let Some(series) = cached.series {
                batch.push((series, [Sample { t, v: point.value }]));
            }
        }
        self.stale_markers(&mut batch, t);
        crate::collect::append_samples(storage, &batch)
    }

    /// Marks every series stale: the probe is removed, changed, or tandem is stopping.
    fn mark_all_stale(&mut self, storage: &Storage, t: i64) {
        self.round += 1;
        let t = t.max(self.newest_t.saturating_add(1));
        self.newest_t = t;
        let mut batch = Vec::new();
        self.stale_markers(&mut batch, t);
        if let Err(error) = crate::collect::append_samples(storage, &batch) {
            tracing::warn!(%error, "could not store staleness markers of a probe");
        }
    }

    /// A staleness marker for each series not seen this round; they leave the cache,
    /// so a series that comes back is resolved anew.
    fn stale_markers(&mut self, batch: &mut Vec<(SeriesRef, [Sample; 1])>, t: i64) {
        let round = self.round;
        self.cache.retain(|_, cached| {
            if cached.seen == round {
                return true;
            }
            if let Some(series) = cached.series {
                batch.push((series, [Sample { t, v: stale_nan() }]));
            }
            false
        });
    }
}

fn resolve(storage: &Storage, labels: &[(String, String)], point: &Point) -> Option<SeriesRef> {
    let pairs = std::iter::once((METRIC_NAME.to_string(), point.name.to_string()))
        .chain(labels.iter().cloned())
        .chain(
            point
                .label
                .iter()
                .map(|(name, value)| (name.to_string(), value.clone())),
        );
    let labels = match Labels::new_series(pairs) {
        Ok(labels) => labels,
        Err(error) => {
            tracing::debug!(metric = point.name, %error, "probe series has invalid labels");
            return None;
        }
    };
    match storage.resolve(&labels) {
        Ok(series) => Some(series),
        Err(reason) => {
            tracing::debug!(series = %labels, %reason, "probe series refused");
            None
        }
    }
}

/// Seconds since `since`, as a gauge value.
fn seconds(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

/// `probe_ip_protocol`'s value for an address.
fn ip_protocol(address: &std::net::SocketAddr) -> f64 {
    if address.is_ipv4() { 4.0 } else { 6.0 }
}

/// A relative `ca_file` is read from the config directory.
fn resolve_path(config_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        config_dir.join(path)
    }
}

#[cfg(test)]
mod tests;
