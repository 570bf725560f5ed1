//! Scraping Prometheus exporters: one task per target, started and stopped as the
//! config's `[[scrape]]` jobs change.
//! Owns: the HTTP fetch (timeout, body limit), target labels (`job`, `instance`, the
//! job's extra labels, `honor_labels`), the per-target series cache, staleness markers
//! for series that disappear, and the report series (`up`, `scrape_duration_seconds`...).
//! Does not: parse the exposition format (`expfmt`) or store anything except through
//! `Storage::resolve` and `Storage::append_refs`.
//!
//! The series cache maps a line's exact series text to its `SeriesRef`, so a steady
//! target costs one hash lookup and a number parse per line: labels are decoded and
//! checked only for series the target has not shown before (Prometheus' scrape cache
//! does the same). The cache keeps a 128-bit hash of the text, not the text: ~40 bytes
//! per series instead of ~170, which matters at a million live series. Two texts would
//! have to collide in both 64-bit halves (seeded per process, unknown to exporters) to
//! be confused: about 2^-64 for a target with 2^32 series.

use super::expfmt::{Entry, Format, Parser, detect_format};
use super::relabel::{RelabelRule, relabel};
use crate::config::{Config, ScrapeJob};
use crate::limits;
use crate::model::{Labels, METRIC_NAME, Sample, SeriesRef, stale_nan};
use crate::storage::Storage;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, watch};

/// foldhash: the cache is probed once per scraped line; see `collect::import`.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What we ask exporters for: the text format first, since its cached lines take the
/// parser's fast path.
const ACCEPT: &str =
    "text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1";

pub mod health;
pub mod target;

use super::discovery::{FileDiscovery, Refreshed};
use health::{LastScrape, TargetHealth};
pub use target::{Target, Targets, targets};

struct Running {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// Runs the scrape loops of the current config until `configs` closes or `shutdown`
/// fires, restarting only the targets whose job changed at each reload. On the way out
/// every loop writes its staleness markers and is awaited, so that a caller awaiting
/// `run` knows they reached storage.
pub async fn run(
    storage: Arc<Storage>,
    mut configs: watch::Receiver<Arc<Config>>,
    health: Arc<TargetHealth>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let client = match reqwest::Client::builder()
        .user_agent(concat!("tandem/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot build the HTTP client: scraping is off");
            return;
        }
    };
    let mut running: HashMap<Target, Running> = HashMap::new();
    let mut discovery = FileDiscovery::default();
    let mut refresh = tokio::time::interval(limits::FILE_SD_REFRESH_INTERVAL);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut config = configs.borrow_and_update().clone();
    // A reload re-reads every target file and re-applies the config.
    let mut reloaded = true;
    loop {
        let refreshed;
        (discovery, refreshed) = refresh_discovery(discovery, &config, reloaded).await;
        health.count_file_sd_read_errors(refreshed.errors);
        if reloaded || refreshed.changed {
            let wanted = targets(&config, &discovery);
            health.set_targets(&wanted);
            apply(&mut running, wanted.active, |target, stopped| {
                tokio::spawn(scrape_loop(
                    target,
                    Arc::clone(&storage),
                    client.clone(),
                    Arc::clone(&health),
                    stopped,
                ))
            });
        }
        reloaded = false;
        tokio::select! {
            changed = configs.changed() => {
                if changed.is_err() {
                    break;
                }
                config = configs.borrow_and_update().clone();
                reloaded = true;
            }
            _ = refresh.tick() => {}
            _ = &mut shutdown => break,
        }
    }
    for (_, old) in running {
        let _ = old.stop.send(());
        let _ = old.task.await;
    }
}

/// Stops the running targets that are not `wanted` (each writes its staleness
/// markers) and starts the wanted ones that are not running.
fn apply(
    running: &mut HashMap<Target, Running>,
    wanted: Vec<Target>,
    mut spawn: impl FnMut(Target, oneshot::Receiver<()>) -> tokio::task::JoinHandle<()>,
) {
    let keep: std::collections::HashSet<&Target> = wanted.iter().collect();
    let stopped: Vec<Target> = running
        .keys()
        .filter(|target| !keep.contains(target))
        .cloned()
        .collect();
    for target in stopped {
        if let Some(old) = running.remove(&target) {
            let _ = old.stop.send(());
            // The loop writes its staleness markers and ends; no need to wait.
            drop(old.task);
        }
    }
    for target in wanted {
        if running.contains_key(&target) {
            continue;
        }
        let (stop, stopped) = oneshot::channel();
        let task = spawn(target.clone(), stopped);
        running.insert(target, Running { stop, task });
    }
}

/// Refreshes the target files of `config`'s jobs on the blocking pool (it stats and
/// reads files). `force`: re-read every file.
async fn refresh_discovery(
    mut discovery: FileDiscovery,
    config: &Config,
    force: bool,
) -> (FileDiscovery, Refreshed) {
    let patterns: Vec<String> = config
        .scrape
        .iter()
        .flat_map(|job| job.file_sd.iter().cloned())
        .collect();
    if patterns.is_empty() {
        // Forgets the files of jobs that no longer have any.
        let refreshed = discovery.refresh(&[], force);
        return (discovery, refreshed);
    }
    let refreshed = tokio::task::spawn_blocking(move || {
        let refreshed = discovery.refresh(&patterns, force);
        (discovery, refreshed)
    })
    .await;
    refreshed.unwrap_or_else(|error| {
        tracing::error!(%error, "BUG: file_sd refresh panicked; target files are read again");
        (FileDiscovery::default(), Refreshed::default())
    })
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// The timestamp of a scrape taken at `now`: exactly one interval after the previous
/// one when the clock says so within `SCRAPE_TIMESTAMP_TOLERANCE_MS`, as Prometheus
/// does. A timer wakes a millisecond or two late; with the jitter removed, the head
/// chunk stores each timestamp in 1 bit instead of 10.
pub(crate) fn aligned(previous: Option<i64>, now: i64, interval_ms: i64) -> i64 {
    match previous {
        Some(previous)
            if (now - (previous + interval_ms)).abs() <= limits::SCRAPE_TIMESTAMP_TOLERANCE_MS =>
        {
            previous + interval_ms
        }
        _ => now,
    }
}

/// Where in each interval this target is scraped: spread by a hash of its URL, so
/// that many targets do not all fire at once, and stable across restarts, so that
/// sample spacing stays regular.
fn offset_in_interval(target: &Target) -> Duration {
    use std::hash::BuildHasher;
    // A fixed-seed hasher: the offset must not change between runs.
    let hash = foldhash::fast::FixedState::with_seed(0x7a4d_656d).hash_one(target.url());
    let interval_ms = target.job.interval.as_millis().max(1) as u64;
    Duration::from_millis(hash % interval_ms)
}

async fn scrape_loop(
    target: Target,
    storage: Arc<Storage>,
    client: reqwest::Client,
    health: Arc<TargetHealth>,
    mut stop: oneshot::Receiver<()>,
) {
    let client = match job_client(&target.job, client) {
        Ok(client) => client,
        Err(error) => {
            // Validation read the files; this is a certificate reqwest refused.
            tracing::error!(job = %target.job.job, %error, "cannot build the job's HTTP client: its targets are not scraped");
            health.record(
                &target,
                LastScrape {
                    at_ms: Some(now_ms()),
                    duration: Duration::ZERO,
                    error: Some(format!("cannot build the HTTP client: {error}")),
                },
            );
            return;
        }
    };
    let interval = target.job.interval;
    let url = target.url();
    let interval_ms = interval.as_millis().max(1) as i64;
    let phase = offset_in_interval(&target).as_millis() as i64;
    let now = now_ms();
    let wait = (phase - now).rem_euclid(interval_ms);
    let first = tokio::time::Instant::now() + Duration::from_millis(wait as u64);
    let mut ticker = tokio::time::interval_at(first, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut state = Some(TargetState::new(&target));
    // The last body's size: a target without Content-Length usually sends about as much
    // again, and a buffer sized once is not grown (and copied) by doubling.
    let mut body_hint = 0usize;
    let mut previous_t: Option<i64> = None;
    tracing::debug!(%url, "scrape target started");
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut stop => break,
        }
        let started = Instant::now();
        let t = aligned(previous_t, now_ms(), interval_ms);
        previous_t = Some(t);
        let fetched = fetch(&client, &url, &target.job, body_hint).await;
        if let Ok((body, _)) = &fetched {
            body_hint = body.len();
        }
        let duration = started.elapsed();
        let Some(mut current) = state.take() else {
            break;
        };
        let store = Arc::clone(&storage);
        let ingested = tokio::task::spawn_blocking(move || {
            let result = current.ingest(&store, fetched, t, duration);
            (current, result)
        })
        .await;
        let error = match &ingested {
            Ok((_, result)) => result.as_ref().err().cloned(),
            Err(error) => Some(format!("ingest panicked: {error}")),
        };
        let (at_ms, duration) = (Some(t), started.elapsed());
        health.record(
            &target,
            LastScrape {
                at_ms,
                duration,
                error,
            },
        );
        match ingested {
            Ok((current, result)) => {
                if let Err(message) = &result {
                    tracing::debug!(%url, error = %message, "scrape failed");
                }
                state = Some(current);
            }
            Err(error) => {
                tracing::error!(%url, %error, "scrape ingest panicked; the target's cache is reset");
                state = Some(TargetState::new(&target));
            }
        }
    }
    if let Some(mut current) = state {
        let t = now_ms();
        let _ = tokio::task::spawn_blocking(move || current.mark_all_stale(&storage, t)).await;
    }
    tracing::debug!(%url, "scrape target stopped");
}

/// A response body and its format, or why there is none.
type Fetched = Result<(bytes::Bytes, Format), String>;

/// The client of a job: the shared one, or one with the job's TLS settings (a client
/// holds its connection pool, so it is built once per target, not per scrape).
fn job_client(job: &ScrapeJob, shared: reqwest::Client) -> Result<reqwest::Client, String> {
    client_with_tls(&job.tls, shared)
}

/// `shared`, or a client with these TLS settings when they differ from the defaults
/// (also the remote_write sender's).
pub(crate) fn client_with_tls(
    tls: &crate::config::ScrapeTlsConfig,
    shared: reqwest::Client,
) -> Result<reqwest::Client, String> {
    if tls.ca_pem.is_none() && tls.identity_pem.is_none() && !tls.insecure_skip_verify {
        return Ok(shared);
    }
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("tandem/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .danger_accept_invalid_certs(tls.insecure_skip_verify);
    if let Some(pem) = &tls.ca_pem {
        let certificates = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|error| format!("tls.ca_file: {error}"))?;
        builder = builder.tls_certs_merge(certificates);
    }
    if let Some(pem) = &tls.identity_pem {
        let identity = reqwest::Identity::from_pem(pem)
            .map_err(|error| format!("tls.cert_file/key_file: {error}"))?;
        builder = builder.identity(identity);
    }
    builder.build().map_err(|error| error.to_string())
}

/// A secret file's content without its trailing newline, read at each scrape so that
/// a rotated secret is used without a reload.
pub(crate) async fn read_secret(path: &std::path::Path) -> Result<String, String> {
    let metadata = tokio::fs::metadata(path)
        .await
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    if metadata.len() > limits::TOKEN_FILE_BYTES_MAX as u64 {
        return Err(format!(
            "{} is {} bytes, a secret file holds at most {}",
            path.display(),
            metadata.len(),
            limits::TOKEN_FILE_BYTES_MAX
        ));
    }
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

/// A failed request as an operator needs it: reqwest's own message ("error sending
/// request for url") hides the cause, which is in its source chain.
fn describe(error: &reqwest::Error, job: &ScrapeJob) -> String {
    if error.is_timeout() {
        return format!(
            "timed out after {}",
            crate::config::units::format_duration(job.timeout)
        );
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

async fn fetch(client: &reqwest::Client, url: &str, job: &ScrapeJob, body_hint: usize) -> Fetched {
    let mut request = client.get(url);
    if let Some(basic) = &job.basic_auth {
        let password = read_secret(&basic.password_file).await?;
        request = request.basic_auth(&basic.username, Some(password));
    }
    if let Some(file) = &job.bearer_token_file {
        let token = read_secret(file).await?;
        request = request.bearer_auth(token);
    }
    let request = request
        .header(reqwest::header::ACCEPT, ACCEPT)
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            format!("{}", job.timeout.as_secs_f64()),
        )
        .timeout(job.timeout);
    let response = tokio::time::timeout(job.timeout, async {
        let mut response = request
            .send()
            .await
            .map_err(|error| describe(&error, job))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("server returned HTTP status {status}"));
        }
        let format = detect_format(
            response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok()),
        );
        if response
            .content_length()
            .is_some_and(|length| length > job.body_bytes_max as u64)
        {
            return Err(format!(
                "body larger than body_bytes_max ({} bytes)",
                job.body_bytes_max
            ));
        }
        let expected = response
            .content_length()
            .map_or(body_hint + body_hint / 8, |length| length as usize);
        let mut body = bytes::BytesMut::with_capacity(expected.min(job.body_bytes_max));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| describe(&error, job))?
        {
            if body.len() + chunk.len() > job.body_bytes_max {
                return Err(format!(
                    "body larger than body_bytes_max ({} bytes)",
                    job.body_bytes_max
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body.freeze(), format))
    })
    .await;
    match response {
        Ok(result) => result,
        Err(_) => Err(format!(
            "timed out after {}",
            crate::config::units::format_duration(job.timeout)
        )),
    }
}

/// Refuses an exposed timestamp too far past the scrape time `t` (see
/// `limits::SCRAPE_TIMESTAMP_FUTURE_MS_MAX`).
fn check_not_future(timestamp: Option<i64>, t: i64, line_number: usize) -> Result<(), String> {
    match timestamp {
        Some(timestamp) if timestamp > t.saturating_add(limits::SCRAPE_TIMESTAMP_FUTURE_MS_MAX) => {
            Err(format!(
                "line {line_number}: timestamp {timestamp} is {} ahead of the scrape time {t}; at most {} is accepted",
                crate::config::units::format_duration(Duration::from_millis(
                    u64::try_from(timestamp - t).unwrap_or(u64::MAX)
                )),
                crate::config::units::format_duration(Duration::from_millis(
                    limits::SCRAPE_TIMESTAMP_FUTURE_MS_MAX as u64
                ))
            ))
        }
        _ => Ok(()),
    }
}

fn series_ref(series: NonZeroU32) -> SeriesRef {
    SeriesRef(u64::from(series.get()))
}

/// A ref as the cache keeps it; refs start at 1 and fit u32 (`catalog.rs`), so `None`
/// (the line is dropped as if refused) cannot happen with refs the catalog made.
fn compact_ref(series: SeriesRef) -> Option<NonZeroU32> {
    NonZeroU32::new(u32::try_from(series.0).ok()?)
}

/// The cache key of a series text: two independently seeded 64-bit hashes.
type Key = [u64; 2];

/// A cached series of one target: 24 bytes, held per scraped series, so the ref is
/// kept in the 32 bits the catalog hands out (`catalog.rs`: refs are dense u32).
struct Cached {
    /// `None`: storage refused the series (a limit); its lines are counted and dropped.
    series: Option<NonZeroU32>,
    /// The scrape that last showed it.
    seen: u64,
    /// The scrape that showed it before `seen`.
    seen_before: u64,
    /// It carried its own timestamp: no staleness marker when it disappears, as in
    /// Prometheus (the exporter owns its timeline).
    explicit_timestamp: bool,
    /// `metric_relabel` dropped it: not stored, and not counted after relabeling.
    relabeled_away: bool,
}

/// The report series of every scrape, in this order.
const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// A target's state between scrapes. Moved into the blocking pool for each ingest.
pub struct TargetState {
    target_labels: Vec<(String, String)>,
    honor_labels: bool,
    honor_timestamps: bool,
    sample_limit: Option<u64>,
    label_limit: Option<u64>,
    metric_relabel: Vec<RelabelRule>,
    /// Samples of this scrape that `metric_relabel` dropped.
    relabeled_away: u64,
    cache: FastMap<Key, Cached>,
    /// Seeds of the two halves of `Key`.
    key_hashers: [foldhash::fast::RandomState; 2],
    /// Number of the current scrape; 0 before the first.
    scrape: u64,
    /// Number of the last scrape that succeeded: its series are the ones that go stale.
    last_ok: Option<u64>,
    report: [Option<SeriesRef>; 5],
    batch: Vec<(SeriesRef, [Sample; 1])>,
}

/// What one scrape stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrapeOutcome {
    pub samples: u64,
    pub series_added: u64,
    pub stale_markers: u64,
}

impl TargetState {
    pub fn new(target: &Target) -> TargetState {
        TargetState {
            target_labels: target.labels(),
            honor_labels: target.job.honor_labels,
            honor_timestamps: target.job.honor_timestamps,
            sample_limit: target.job.sample_limit,
            label_limit: target.job.label_limit,
            metric_relabel: target.job.metric_relabel.clone(),
            relabeled_away: 0,
            cache: FastMap::default(),
            key_hashers: Default::default(),
            scrape: 0,
            last_ok: None,
            report: [None; 5],
            batch: Vec::new(),
        }
    }

    /// Stores one scrape taken at `t`: its samples, staleness markers for series the
    /// last good scrape had and this one lacks, and the report series. A failed fetch,
    /// a bad line or a breached sample limit fails the scrape as a whole: `up` is 0 and
    /// the previous scrape's series are marked stale.
    pub fn ingest(
        &mut self,
        storage: &Storage,
        fetched: Fetched,
        t: i64,
        duration: Duration,
    ) -> Result<ScrapeOutcome, String> {
        self.scrape += 1;
        self.relabeled_away = 0;
        // Sized for the series the target had last time, so it is not grown by doubling.
        self.batch = Vec::with_capacity(self.cache.len() + REPORT_NAMES.len());
        let parsed = fetched.and_then(|(body, format)| self.parse(storage, &body, format, t));
        let (up, scraped, added) = match &parsed {
            Ok((scraped, added)) => (1.0, *scraped, *added),
            Err(_) => {
                self.batch.clear();
                (0.0, 0, 0)
            }
        };
        let samples = self.batch.len() as u64;
        let stale_markers = self.stale_markers(t, parsed.is_ok());
        if parsed.is_ok() {
            self.last_ok = Some(self.scrape);
        } else {
            self.last_ok = None;
        }
        let kept = if parsed.is_ok() {
            scraped.saturating_sub(self.relabeled_away)
        } else {
            0
        };
        let report_values = [
            up,
            duration.as_secs_f64(),
            scraped as f64,
            kept as f64,
            added as f64,
        ];
        for (index, value) in report_values.into_iter().enumerate() {
            if self.report[index].is_none() {
                self.report[index] = self.report_series(storage, REPORT_NAMES[index]);
            }
            if let Some(series) = self.report[index] {
                self.batch.push((series, [Sample { t, v: value }]));
            }
        }
        self.append(storage)?;
        self.evict();
        parsed.map(|_| ScrapeOutcome {
            samples,
            series_added: added,
            stale_markers,
        })
    }

    /// Marks every series of the last good scrape and the report series stale: the
    /// target is gone from the config, or tandem is stopping.
    pub fn mark_all_stale(&mut self, storage: &Storage, t: i64) {
        self.batch.clear();
        self.scrape += 1;
        self.stale_markers(t, false);
        let report = self.report;
        for series in report.into_iter().flatten() {
            self.batch.push((series, [Sample { t, v: stale_nan() }]));
        }
        self.last_ok = None;
        if let Err(error) = self.append(storage) {
            tracing::warn!(%error, "could not store staleness markers of a removed target");
        }
    }

    /// Parses `body` into `self.batch`; returns (samples scraped, series added).
    fn parse(
        &mut self,
        storage: &Storage,
        body: &[u8],
        format: Format,
        t: i64,
    ) -> Result<(u64, u64), String> {
        let text =
            std::str::from_utf8(body).map_err(|error| format!("body is not UTF-8: {error}"))?;
        let mut parser = Parser::new(format);
        let mut scraped = 0u64;
        let mut added = 0u64;
        for line in text.split_terminator('\n') {
            if line.len() > limits::SCRAPE_LINE_BYTES_MAX {
                return Err(format!(
                    "line {}: {} bytes, longer than the limit of {} bytes",
                    parser.line_number() + 1,
                    line.len(),
                    limits::SCRAPE_LINE_BYTES_MAX
                ));
            }
            if let Some(cached) = self.known_sample(&mut parser, line, t)? {
                scraped += 1;
                if let Some(sample) = cached {
                    self.batch.push(sample);
                }
            } else {
                let line_number = parser.line_number() + 1;
                match parser.next_line(line) {
                    Ok(Entry::Sample(sample)) => {
                        scraped += 1;
                        let key = sample.series_key();
                        let timestamp = sample.timestamp_ms().filter(|_| self.honor_timestamps);
                        check_not_future(timestamp, t, line_number)?;
                        let point = Sample {
                            t: timestamp.unwrap_or(t),
                            v: sample.value(),
                        };
                        let hashed = self.key_of(key);
                        if let Some(cached) = self.cache.get_mut(&hashed) {
                            // A series already seen whose line missed the fast path
                            // (OpenMetrics, odd spacing).
                            if cached.seen == self.scrape {
                                return Err(format!(
                                    "line {line_number}: series {key} appears twice"
                                ));
                            }
                            cached.seen_before = cached.seen;
                            cached.seen = self.scrape;
                            if cached.relabeled_away {
                                self.relabeled_away += 1;
                            }
                            if let Some(series) = cached.series {
                                self.batch.push((series_ref(series), [point]));
                            }
                            continue;
                        }
                        let labels = self
                            .labels_of(&sample)
                            .map_err(|error| format!("line {line_number}: {error}"))?;
                        let Some(labels) = self.relabeled(labels, line_number)? else {
                            self.relabeled_away += 1;
                            self.cache.insert(
                                hashed,
                                Cached {
                                    series: None,
                                    seen: self.scrape,
                                    seen_before: 0,
                                    explicit_timestamp: timestamp.is_some(),
                                    relabeled_away: true,
                                },
                            );
                            continue;
                        };
                        let series = storage.resolve(&labels).ok();
                        added += u64::from(series.is_some());
                        self.cache.insert(
                            hashed,
                            Cached {
                                series: series.and_then(compact_ref),
                                seen: self.scrape,
                                seen_before: 0,
                                explicit_timestamp: timestamp.is_some(),
                                relabeled_away: false,
                            },
                        );
                        if let Some(series) = series {
                            self.batch.push((series, [point]));
                        }
                    }
                    Ok(_) => {}
                    Err(error) => return Err(error.to_string()),
                }
            }
            if let Some(limit) = self.sample_limit
                && scraped.saturating_sub(self.relabeled_away) > limit
            {
                return Err(format!(
                    "more than sample_limit ({limit}) samples after metric_relabel"
                ));
            }
        }
        parser.finish().map_err(|error| error.to_string())?;
        Ok((scraped, added))
    }

    /// A line of a series in the cache, by the parser's fast path: `Some(None)` for a
    /// series storage refused, `None` to send the line through the full parser.
    #[allow(clippy::type_complexity)]
    fn known_sample(
        &mut self,
        parser: &mut Parser,
        line: &str,
        t: i64,
    ) -> Result<Option<Option<(SeriesRef, [Sample; 1])>>, String> {
        if line.starts_with('#') {
            return Ok(None);
        }
        let Some(key_end) = super::expfmt::series_key_end(line) else {
            return Ok(None);
        };
        let Some(key) = line.get(..key_end) else {
            return Ok(None);
        };
        let scrape = self.scrape;
        let hashed = self.key_of(key);
        let Some(cached) = self.cache.get_mut(&hashed) else {
            return Ok(None);
        };
        let Some((v, timestamp)) = parser.next_known_sample(line, key_end) else {
            return Ok(None);
        };
        if cached.seen == scrape {
            return Err(format!(
                "line {}: series {key} appears twice",
                parser.line_number()
            ));
        }
        cached.seen_before = cached.seen;
        cached.seen = scrape;
        if cached.relabeled_away {
            self.relabeled_away += 1;
        }
        let timestamp = timestamp.filter(|_| self.honor_timestamps);
        check_not_future(timestamp, t, parser.line_number())?;
        cached.explicit_timestamp = timestamp.is_some();
        Ok(Some(cached.series.map(|series| {
            (
                series_ref(series),
                [Sample {
                    t: timestamp.unwrap_or(t),
                    v,
                }],
            )
        })))
    }

    /// The stored labels of an exposed series: its own, and the target's, which win
    /// unless `honor_labels`; a clashing exposed label is kept as `exported_<name>`.
    fn labels_of(&self, sample: &super::expfmt::SampleLine<'_>) -> Result<Labels, String> {
        let mut pairs: Vec<(String, String)> =
            Vec::with_capacity(sample.label_count() + self.target_labels.len() + 1);
        pairs.push((METRIC_NAME.to_string(), sample.name().into_owned()));
        for (name, value) in sample.labels() {
            pairs.push((name.into_owned(), value.into_owned()));
        }
        for (name, value) in &self.target_labels {
            match pairs.iter().position(|(exposed, _)| exposed == name) {
                None => pairs.push((name.clone(), value.clone())),
                Some(_) if self.honor_labels => {}
                Some(position) => {
                    let mut exported = format!("exported_{name}");
                    while pairs.iter().any(|(exposed, _)| *exposed == exported) {
                        exported.insert_str(0, "exported_");
                    }
                    pairs[position].0 = exported;
                    pairs.push((name.clone(), value.clone()));
                }
            }
        }
        // An empty value means "no such label" in Prometheus' data model.
        pairs.retain(|(_, value)| !value.is_empty());
        Labels::new_series(pairs).map_err(|error| error.to_string())
    }

    /// A new series through `metric_relabel` (`None`: dropped) and `label_limit`,
    /// which fails the whole scrape as in Prometheus.
    fn relabeled(&self, labels: Labels, line_number: usize) -> Result<Option<Labels>, String> {
        let labels = if self.metric_relabel.is_empty() {
            labels
        } else {
            match relabel(&self.metric_relabel, &labels) {
                Some(labels) => labels,
                None => return Ok(None),
            }
        };
        if let Some(limit) = self.label_limit {
            // `__name__` is not a label for this limit, as in Prometheus.
            let count = labels
                .iter()
                .filter(|label| label.name != METRIC_NAME)
                .count();
            if count as u64 > limit {
                return Err(format!(
                    "line {line_number}: series {labels} has {count} labels, more than label_limit ({limit})"
                ));
            }
        }
        Ok(Some(labels))
    }

    fn report_series(&self, storage: &Storage, name: &str) -> Option<SeriesRef> {
        let pairs = std::iter::once((METRIC_NAME.to_string(), name.to_string()))
            .chain(self.target_labels.iter().cloned());
        let labels = Labels::new_series(pairs).ok()?;
        match storage.resolve(&labels) {
            Ok(series) => Some(series),
            Err(reason) => {
                tracing::warn!(series = %labels, %reason, "report series refused");
                None
            }
        }
    }

    /// Adds a staleness marker at `t` for each series the last good scrape had and
    /// this scrape lacks (all of them when `ok` is false).
    fn stale_markers(&mut self, t: i64, ok: bool) -> u64 {
        let Some(last_ok) = self.last_ok else {
            return 0;
        };
        let mut count = 0;
        for cached in self.cache.values() {
            // After a good scrape, a series of the last good one still has that
            // scrape's number; after a failed one, also those the failed parse reached.
            let gone = cached.seen == last_ok
                || (!ok && cached.seen == self.scrape && cached.seen_before == last_ok);
            if gone
                && !cached.explicit_timestamp
                && let Some(series) = cached.series
            {
                self.batch
                    .push((series_ref(series), [Sample { t, v: stale_nan() }]));
                count += 1;
            }
        }
        count
    }

    /// Stores the batch and lets it go: it is as large as the target, and holding it
    /// between scrapes would keep that much memory per target for nothing.
    fn append(&mut self, storage: &Storage) -> Result<(), String> {
        let batch = std::mem::take(&mut self.batch);
        super::append_samples(storage, &batch)
            .map_err(|error| format!("storing the scrape failed: {error}"))
    }

    /// Forgets series unseen for a while, so a target that churns series does not grow
    /// its cache without bound.
    fn evict(&mut self) {
        let keep_after = self
            .scrape
            .saturating_sub(limits::SCRAPE_CACHE_SCRAPES_KEPT);
        if self
            .scrape
            .is_multiple_of(limits::SCRAPE_CACHE_SCRAPES_KEPT)
        {
            self.cache.retain(|_, cached| cached.seen > keep_after);
        }
    }

    fn key_of(&self, text: &str) -> Key {
        use std::hash::BuildHasher;
        [
            self.key_hashers[0].hash_one(text),
            self.key_hashers[1].hash_one(text),
        ]
    }

    /// Series in the cache (for tests and the targets page).
    pub fn cached_series(&self) -> usize {
        self.cache.len()
    }
}

#[cfg(test)]
mod tests;
