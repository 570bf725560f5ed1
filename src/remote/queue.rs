//! One remote_write queue: the loop that reads the WAL from its saved position,
//! batches what it read by shard, sends every shard's requests concurrently with
//! retries, and saves the new position once all of them are acknowledged.

use super::hold_name;
use crate::collect::remote_write::proto;
use crate::config::remote_write::RemoteWriteConfig;
use crate::model::{Labels, STALE_NAN_BITS, Sample, SeriesRef};
use crate::selfmon::{QueueLabels, QueueReasonLabels, QueueStateLabels, RemoteSendMetrics};
use crate::storage::{Storage, WalPosition};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// WAL bytes read per step.
const READ_BYTES: u64 = 1 << 20;
/// How often a queue that has caught up looks at the WAL again.
const POLL: Duration = Duration::from_millis(100);
/// Longest `Retry-After` honoured.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(300);
/// Longest part of a refusing receiver's answer kept in the log.
const ANSWER_CHARS_MAX: usize = 300;

pub(super) struct Queue {
    storage: Arc<Storage>,
    config: RemoteWriteConfig,
    external_labels: Vec<(String, String)>,
    metrics: RemoteSendMetrics,
    labels: QueueLabels,
    state_path: PathBuf,
    client: Option<reqwest::Client>,
    /// The labels each series is sent with (`None`: write_relabel drops it).
    series_labels: HashMap<SeriesRef, Option<SentLabels>>,
}

/// A series' labels as sent, shared by every request that carries it.
type SentLabels = Arc<Vec<proto::Label>>;

/// A series the WAL names but the catalog does not know (cannot happen unless the
/// data directory was tampered with): its samples are dropped.
struct UnknownSeries;

/// `<state_dir>/<queue>.position`.
fn state_path(config: &RemoteWriteConfig, state_dir: &Path) -> PathBuf {
    let file_name: String = config
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    state_dir.join(format!("{file_name}.position"))
}

fn load_position(path: &Path) -> Option<WalPosition> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(WalPosition {
        segment: value["segment"].as_u64()?,
        offset: value["offset"].as_u64()?,
    })
}

/// Saves the position (written aside and renamed: a crash leaves the old or the new
/// one) and moves the WAL hold to it.
fn save_position(
    storage: &Storage,
    config: &RemoteWriteConfig,
    path: &Path,
    position: WalPosition,
) {
    storage.hold_wal(
        &hold_name(&config.name),
        Some(position),
        config.backlog_bytes_max,
    );
    let text =
        serde_json::json!({"segment": position.segment, "offset": position.offset}).to_string();
    let saved = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            let temporary = path.with_extension("position.tmp");
            std::fs::write(&temporary, text)?;
            std::fs::rename(&temporary, path)
        });
    if let Err(error) = saved {
        tracing::error!(queue = %config.name, path = %path.display(), %error, "cannot save the remote_write position; a restart will send some samples again");
    }
}

/// The queue's saved position, or (a new queue) the WAL's end, saved and held.
pub(super) fn start_position(
    storage: &Storage,
    config: &RemoteWriteConfig,
    state_dir: &Path,
) -> WalPosition {
    let path = state_path(config, state_dir);
    let position = load_position(&path).unwrap_or_else(|| storage.wal_end());
    save_position(storage, config, &path, position);
    position
}

/// What one request carries.
struct Request {
    series: Vec<proto::TimeSeries>,
    samples: u64,
    newest_t: i64,
}

impl Queue {
    pub(super) fn new(
        storage: Arc<Storage>,
        config: RemoteWriteConfig,
        external_labels: Vec<(String, String)>,
        metrics: RemoteSendMetrics,
        state_dir: &Path,
    ) -> Queue {
        let client = http_client(&config);
        Queue {
            labels: QueueLabels {
                queue: config.name.clone(),
            },
            state_path: state_path(&config, state_dir),
            storage,
            config,
            external_labels,
            metrics,
            client,
            series_labels: HashMap::new(),
        }
    }

    fn save_position(&self, position: WalPosition) {
        save_position(&self.storage, &self.config, &self.state_path, position);
    }

    fn count(&self, state: &'static str, samples: u64) {
        self.metrics
            .samples
            .get_or_create(&QueueStateLabels {
                queue: self.config.name.clone(),
                state,
            })
            .inc_by(samples);
    }

    fn drop_samples(&self, reason: &str, samples: u64) {
        self.count("dropped", samples);
        self.metrics
            .dropped
            .get_or_create(&QueueReasonLabels {
                queue: self.config.name.clone(),
                reason: reason.to_string(),
            })
            .inc_by(samples);
    }

    /// The labels `series` is sent with: its stored labels, the external labels it
    /// lacks, then `write_relabel`.
    fn labels_for(&mut self, series: SeriesRef) -> Result<Option<SentLabels>, UnknownSeries> {
        if let Some(labels) = self.series_labels.get(&series) {
            return Ok(labels.clone());
        }
        let Some(stored) = self.storage.labels_of(series) else {
            return Err(UnknownSeries);
        };
        let labels = if self.external_labels.is_empty() {
            stored
        } else {
            let mut pairs: Vec<(String, String)> = stored
                .iter()
                .map(|label| (label.name.clone(), label.value.clone()))
                .collect();
            for (name, value) in &self.external_labels {
                if stored.get(name).is_none() {
                    pairs.push((name.clone(), value.clone()));
                }
            }
            Labels::new(pairs).unwrap_or(stored)
        };
        let sent =
            crate::collect::relabel::relabel(&self.config.write_relabel, &labels).map(|labels| {
                Arc::new(
                    labels
                        .iter()
                        .map(|label| proto::Label {
                            name: label.name.clone(),
                            value: label.value.clone(),
                        })
                        .collect::<Vec<_>>(),
                )
            });
        self.series_labels.insert(series, sent.clone());
        Ok(sent)
    }

    /// Splits what was read into each shard's requests (a series always in the same
    /// shard, its samples in order), sends all shards at once and waits for them.
    async fn send_round(&mut self, pending: Vec<(SeriesRef, Vec<Sample>)>) {
        let shards = self.config.shards.max(1);
        let per_send = self.config.max_samples_per_send.max(1);
        // Per shard: series in first-seen order, samples appended as read.
        let mut by_shard: Vec<Vec<(SentLabels, Vec<Sample>)>> =
            (0..shards).map(|_| Vec::new()).collect();
        let mut index: HashMap<SeriesRef, (usize, usize)> = HashMap::new();
        for (series, samples) in pending {
            let count = samples.len() as u64;
            let labels = match self.labels_for(series) {
                Ok(Some(labels)) => labels,
                Ok(None) => {
                    self.drop_samples("write_relabel", count);
                    continue;
                }
                Err(UnknownSeries) => {
                    self.drop_samples("unknown_series", count);
                    continue;
                }
            };
            match index.get(&series) {
                Some((shard, position)) => by_shard[*shard][*position].1.extend(samples),
                None => {
                    let shard = (series.0 % shards as u64) as usize;
                    index.insert(series, (shard, by_shard[shard].len()));
                    by_shard[shard].push((labels, samples));
                }
            }
        }
        let requests: Vec<Vec<Request>> = by_shard
            .into_iter()
            .map(|series| split_requests(series, per_send))
            .collect();
        let this = &*self;
        futures_util::future::join_all(requests.into_iter().map(|requests| async move {
            for request in requests {
                this.send(request).await;
            }
        }))
        .await;
    }

    /// Sends one request until it is acknowledged, retrying 5xx, 429 and transport
    /// errors with exponential backoff and jitter (or the receiver's `Retry-After`);
    /// any other answer drops it, counted by status.
    async fn send(&self, request: Request) {
        let body = match encode(&request.series) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(queue = %self.config.name, %error, "BUG: cannot encode a remote_write request");
                self.drop_samples("encoding", request.samples);
                return;
            }
        };
        let mut backoff = self.config.min_backoff;
        loop {
            let wait = match self.post(&body).await {
                Ok(()) => {
                    self.count("sent", request.samples);
                    let gauge = self
                        .metrics
                        .highest_sent_timestamp
                        .get_or_create(&self.labels);
                    let newest = request.newest_t as f64 / 1000.0;
                    if newest > gauge.get() {
                        gauge.set(newest);
                    }
                    return;
                }
                Err(Failure::Refused { status, answer }) => {
                    tracing::warn!(queue = %self.config.name, status, %answer, samples = request.samples, "remote_write receiver refused a request: dropped");
                    self.drop_samples(&format!("http_{status}"), request.samples);
                    return;
                }
                Err(Failure::Retry { retry_after, error }) => {
                    tracing::debug!(queue = %self.config.name, %error, "remote_write request failed; retrying");
                    retry_after.unwrap_or_else(|| jitter(backoff))
                }
            };
            self.metrics.retries.get_or_create(&self.labels).inc();
            self.count("retried", request.samples);
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
    }

    async fn post(&self, body: &[u8]) -> Result<(), Failure> {
        let retry = |error: String| Failure::Retry {
            retry_after: None,
            error,
        };
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| retry("no HTTP client (see the log at start)".into()))?;
        let mut builder = client
            .post(&self.config.url)
            .timeout(self.config.timeout)
            .header(reqwest::header::CONTENT_ENCODING, "snappy")
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        for (name, value) in &self.config.headers {
            builder = builder.header(name, value);
        }
        if let Some(basic) = &self.config.basic_auth {
            let password = crate::collect::scrape::read_secret(&basic.password_file)
                .await
                .map_err(retry)?;
            builder = builder.basic_auth(&basic.username, Some(password));
        }
        if let Some(file) = &self.config.bearer_token_file {
            let token = crate::collect::scrape::read_secret(file)
                .await
                .map_err(retry)?;
            builder = builder.bearer_auth(token);
        }
        let response = builder
            .body(body.to_vec())
            .send()
            .await
            .map_err(|error| retry(error.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(|seconds| Duration::from_secs(seconds).min(RETRY_AFTER_MAX));
        let answer: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(ANSWER_CHARS_MAX)
            .collect();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(Failure::Retry {
                retry_after,
                error: format!("HTTP {}: {}", status.as_u16(), answer.trim()),
            })
        } else {
            Err(Failure::Refused {
                status: status.as_u16(),
                answer: answer.trim().to_string(),
            })
        }
    }
}

enum Failure {
    Retry {
        retry_after: Option<Duration>,
        error: String,
    },
    Refused {
        status: u16,
        answer: String,
    },
}

/// Requests of at most `per_send` samples, series kept in order; a series with more
/// samples than that continues in the next request.
fn split_requests(series: Vec<(SentLabels, Vec<Sample>)>, per_send: usize) -> Vec<Request> {
    let mut requests = Vec::new();
    let mut current = Request {
        series: Vec::new(),
        samples: 0,
        newest_t: i64::MIN,
    };
    for (labels, samples) in series {
        for part in samples.chunks(per_send) {
            let mut rest = part;
            while !rest.is_empty() {
                let room = per_send - current.samples as usize;
                let (now, later) = rest.split_at(room.min(rest.len()));
                current.samples += now.len() as u64;
                current.newest_t = now
                    .iter()
                    .filter(|sample| sample.v.to_bits() != STALE_NAN_BITS)
                    .map(|sample| sample.t)
                    .fold(current.newest_t, i64::max);
                current.series.push(proto::TimeSeries {
                    labels: labels.as_ref().clone(),
                    samples: now
                        .iter()
                        .map(|sample| proto::Sample {
                            value: sample.v,
                            timestamp: sample.t,
                        })
                        .collect(),
                    exemplars: Vec::new(),
                    histograms: Vec::new(),
                });
                if current.samples as usize >= per_send {
                    requests.push(std::mem::replace(
                        &mut current,
                        Request {
                            series: Vec::new(),
                            samples: 0,
                            newest_t: i64::MIN,
                        },
                    ));
                }
                rest = later;
            }
        }
    }
    if current.samples > 0 {
        requests.push(current);
    }
    requests
}

/// The protobuf `WriteRequest`, snappy-compressed (block format).
fn encode(series: &[proto::TimeSeries]) -> Result<Vec<u8>, snap::Error> {
    let request = proto::WriteRequest {
        timeseries: series.to_vec(),
        metadata: Vec::new(),
    };
    let bytes = prost::Message::encode_to_vec(&request);
    snap::raw::Encoder::new().compress_vec(&bytes)
}

/// `backoff` scaled by a random factor in [0.5, 1], so that queues retrying after the
/// same outage do not all come back at once.
fn jitter(backoff: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let factor = match getrandom::getrandom(&mut byte) {
        Ok(()) => 0.5 + f64::from(byte[0]) / 510.0,
        Err(_) => 1.0,
    };
    backoff.mul_f64(factor)
}

fn http_client(config: &RemoteWriteConfig) -> Option<reqwest::Client> {
    // One crypto provider for the whole binary; installing it again is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let base = reqwest::Client::builder()
        .user_agent(concat!("tandem/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .build();
    let client = base
        .map_err(|error| error.to_string())
        .and_then(|base| crate::collect::scrape::client_with_tls(&config.tls, base));
    match client {
        Ok(client) => Some(client),
        Err(error) => {
            tracing::error!(queue = %config.name, %error, "cannot build the remote_write HTTP client: nothing will be sent");
            None
        }
    }
}

/// The queue's loop: read, batch, send, save; forever (stopped by aborting its task).
pub(super) async fn run(mut queue: Queue) {
    let storage = Arc::clone(&queue.storage);
    let state_dir = queue
        .state_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut position = start_position(&storage, &queue.config, &state_dir);
    let name = queue.config.name.clone();
    tracing::info!(queue = %name, url = %queue.config.url, ?position, "remote_write queue started");
    queue
        .metrics
        .shards
        .get_or_create(&queue.labels)
        .set(queue.config.shards as i64);
    let capacity = queue.config.shards * queue.config.max_samples_per_send;
    let mut pending: Vec<(SeriesRef, Vec<Sample>)> = Vec::new();
    let mut pending_samples = 0usize;
    let mut oldest: Option<Instant> = None;
    let mut read_to = position;
    loop {
        if pending_samples < capacity {
            let reader = Arc::clone(&storage);
            let from = read_to;
            let read = tokio::task::spawn_blocking(move || reader.wal_read(from, READ_BYTES)).await;
            match read {
                Ok(Ok(batch)) => {
                    if batch.skipped_segments > 0 {
                        tracing::warn!(queue = %name, segments = batch.skipped_segments, "WAL segments were deleted before this queue sent them (backlog_bytes_max): their samples are lost to the receiver");
                        queue
                            .metrics
                            .wal_segments_lost
                            .get_or_create(&queue.labels)
                            .inc_by(batch.skipped_segments);
                    }
                    read_to = batch.next;
                    for (series, samples) in batch.samples {
                        if !samples.is_empty() {
                            pending_samples += samples.len();
                            pending.push((series, samples));
                        }
                    }
                }
                Ok(Err(error)) => {
                    tracing::error!(queue = %name, %error, "cannot read the WAL; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(error) => {
                    tracing::error!(queue = %name, %error, "BUG: reading the WAL panicked");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            if pending_samples > 0 && oldest.is_none() {
                oldest = Some(Instant::now());
            }
        }
        queue
            .metrics
            .pending
            .get_or_create(&queue.labels)
            .set(pending_samples as i64);
        let backlog = storage.wal_bytes_after(read_to);
        queue
            .metrics
            .backlog_bytes
            .get_or_create(&queue.labels)
            .set(i64::try_from(backlog).unwrap_or(i64::MAX));
        let due = oldest.is_some_and(|at| at.elapsed() >= queue.config.batch_send_deadline);
        if pending_samples >= capacity || (pending_samples > 0 && due) {
            queue.send_round(std::mem::take(&mut pending)).await;
            pending_samples = 0;
            oldest = None;
            queue.metrics.pending.get_or_create(&queue.labels).set(0);
            position = read_to;
            queue.save_position(position);
            continue;
        }
        if pending_samples == 0 && read_to != position {
            // Records without samples (series only) moved the position.
            position = read_to;
            queue.save_position(position);
        }
        if backlog == 0 {
            let wait = match oldest {
                Some(at) => queue
                    .config
                    .batch_send_deadline
                    .saturating_sub(at.elapsed())
                    .min(POLL),
                None => POLL,
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(name: &str) -> Arc<Vec<proto::Label>> {
        Arc::new(vec![proto::Label {
            name: "__name__".into(),
            value: name.into(),
        }])
    }

    fn samples(from: i64, count: i64) -> Vec<Sample> {
        (from..from + count)
            .map(|t| Sample { t, v: t as f64 })
            .collect()
    }

    #[test]
    fn requests_hold_at_most_the_limit_and_keep_each_series_in_order() {
        let requests = split_requests(
            vec![(labels("a"), samples(0, 5)), (labels("b"), samples(100, 2))],
            3,
        );
        let shape: Vec<Vec<(String, Vec<i64>)>> = requests
            .iter()
            .map(|request| {
                request
                    .series
                    .iter()
                    .map(|series| {
                        (
                            series.labels[0].value.clone(),
                            series
                                .samples
                                .iter()
                                .map(|sample| sample.timestamp)
                                .collect(),
                        )
                    })
                    .collect()
            })
            .collect();
        assert_eq!(
            shape,
            [
                vec![("a".to_string(), vec![0, 1, 2])],
                vec![("a".to_string(), vec![3, 4]), ("b".to_string(), vec![100])],
                vec![("b".to_string(), vec![101])],
            ]
        );
        assert_eq!(
            requests
                .iter()
                .map(|r| (r.samples, r.newest_t))
                .collect::<Vec<_>>(),
            [(3, 2), (3, 100), (1, 101)]
        );
    }

    #[test]
    fn encoded_requests_decode_with_the_receivers_reference_decoder() {
        let series = vec![proto::TimeSeries::new(
            &[("__name__", "up"), ("job", "x")],
            &[(1000, 1.0)],
        )];
        let body = encode(&series).expect("encode");
        let decoded = crate::collect::remote_write::decode(&body, 1 << 20).expect("decode");
        assert_eq!(decoded.timeseries, series);
    }

    #[test]
    fn jitter_stays_within_half_to_whole() {
        for _ in 0..100 {
            let wait = jitter(Duration::from_millis(1000));
            assert!(wait >= Duration::from_millis(500) && wait <= Duration::from_millis(1000));
        }
    }
}
