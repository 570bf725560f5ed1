//! The Prometheus remote_write 1.0 receiver's engine: decoding a request body
//! (snappy block format around a protobuf `WriteRequest`), checking every series
//! against the protocol's rules, and storing the valid ones durably.
//! Owns: the protobuf messages (declared with `prost` derives, no build step; the
//! receiver reads bodies with the borrowing reader in `wire.rs`, see there why), the
//! per-series rules, the receiver's series cache (label bytes as sent → `SeriesRef`,
//! so a series seen before skips validation and the catalog), and the report of what
//! was stored and what was refused.
//! Does not: speak HTTP (`web::api::write` reads the body, checks content type and
//! encoding, and maps the report to a status) or count anything (the handler does).
//!
//! Rules (remote_write 1.0 spec, "Labels"): every series has a `__name__`, label
//! names are unique, sorted and valid, and values are not empty. A series that breaks
//! one is refused alone and named in the report; the other series of the request are
//! stored, so a sender that gives up on a 400 loses only what was invalid. Samples
//! keep their value bits (staleness markers arrive as the special NaN and stay one).

use crate::model::{Labels, METRIC_NAME, Sample, SeriesRef};
use crate::storage::{AppendOutcome, Durability, Storage, StorageError};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

pub mod wire;

/// foldhash: probed once per series of every request; see `collect::import`.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The protobuf messages of remote_write 1.0 (`prompb/remote.proto`, `types.proto`),
/// only the fields tandem reads. Exemplars and native histograms are read as raw
/// bytes (same wire type as a message) so they can be counted, not stored.
pub mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
        /// `MetricMetadata`, not stored yet.
        #[prost(bytes = "vec", repeated, tag = "3")]
        pub metadata: Vec<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        #[prost(bytes = "vec", repeated, tag = "3")]
        pub exemplars: Vec<Vec<u8>>,
        #[prost(bytes = "vec", repeated, tag = "4")]
        pub histograms: Vec<Vec<u8>>,
    }

    impl TimeSeries {
        /// A series of float samples, (t ms, value), for senders and tests.
        pub fn new(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
            TimeSeries {
                labels: labels
                    .iter()
                    .map(|(name, value)| Label {
                        name: name.to_string(),
                        value: value.to_string(),
                    })
                    .collect(),
                samples: samples
                    .iter()
                    .map(|(timestamp, value)| Sample {
                        value: *value,
                        timestamp: *timestamp,
                    })
                    .collect(),
                exemplars: Vec::new(),
                histograms: Vec::new(),
            }
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

/// Why a body could not be read at all: the whole request is refused.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("snappy: {0}")]
    Snappy(#[from] snap::Error),
    #[error("decoded body would be {decoded} bytes, more than the limit of {limit}")]
    TooLarge { decoded: usize, limit: usize },
    #[error("protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("protobuf: {0}")]
    Wire(#[from] wire::WireError),
}

/// Undoes the snappy block format, checking the decoded length from its header before
/// anything is allocated.
pub fn decompress(body: &[u8], decoded_max: usize) -> Result<Vec<u8>, DecodeError> {
    let decoded = snap::raw::decompress_len(body)?;
    if decoded > decoded_max {
        return Err(DecodeError::TooLarge {
            decoded,
            limit: decoded_max,
        });
    }
    Ok(snap::raw::Decoder::new().decompress_vec(body)?)
}

/// Decodes a request body into prost's owned messages: the reference decoding, for
/// tests and the fuzz target (the receiver uses `wire::decode`).
pub fn decode(body: &[u8], decoded_max: usize) -> Result<proto::WriteRequest, DecodeError> {
    let bytes = decompress(body, decoded_max)?;
    Ok(prost::Message::decode(bytes.as_slice())?)
}

/// A series refused before storage, by its position in the request.
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidSeries {
    /// 0-based position in `timeseries`.
    pub index: usize,
    /// The labels as sent, `{a="1", b="2"}`.
    pub labels: String,
    pub reason: InvalidReason,
    pub samples: usize,
}

/// Why one series was refused; `kind` is the `reason` label of the counters.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum InvalidReason {
    #[error("no __name__ label")]
    MissingName,
    #[error("labels not sorted: {0:?} comes after {1:?}")]
    Unsorted(String, String),
    #[error("duplicate label name {0:?}")]
    Duplicate(String),
    #[error("label {0:?} has an empty value")]
    EmptyValue(String),
    #[error("{0}")]
    Label(crate::model::LabelError),
    #[error("refused by storage: {0}")]
    Storage(crate::storage::RejectReason),
    #[error("native histograms are not supported; {0} dropped")]
    Histograms(usize),
}

impl InvalidReason {
    /// Reasons counted in samples (`Histograms` is counted as dropped histograms).
    pub const KINDS: [&'static str; 4] = [
        "missing_name",
        "invalid_labels",
        "empty_label_value",
        "storage_limit",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            InvalidReason::MissingName => "missing_name",
            InvalidReason::Unsorted(..) | InvalidReason::Duplicate(_) | InvalidReason::Label(_) => {
                "invalid_labels"
            }
            InvalidReason::EmptyValue(_) => "empty_label_value",
            InvalidReason::Storage(_) => "storage_limit",
            InvalidReason::Histograms(_) => "native_histogram",
        }
    }
}

impl std::fmt::Display for InvalidSeries {
    fn fmt(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            formatter,
            "series {} {}: {}",
            self.index, self.labels, self.reason
        )
    }
}

/// What one request did.
#[derive(Debug, Default)]
pub struct WriteReport {
    pub series: usize,
    pub samples: usize,
    /// Series refused before storage; at most `limits::REMOTE_WRITE_INVALID_LISTED_MAX`
    /// listed, all counted in `invalid_series` / `invalid_samples`.
    pub invalid: Vec<InvalidSeries>,
    pub invalid_series: usize,
    pub invalid_samples: usize,
    /// Invalid series by `InvalidReason::kind` (samples), for the counters.
    pub invalid_by_kind: [u64; InvalidReason::KINDS.len()],
    /// What storage did with the valid series' samples (out of order, duplicates).
    pub outcome: AppendOutcome,
    pub exemplars_dropped: usize,
    pub histograms_dropped: usize,
    pub metadata_dropped: usize,
}

impl WriteReport {
    /// Everything sent was stored (or was already stored with the same value).
    pub fn complete(&self) -> bool {
        self.invalid_series == 0 && self.outcome.rejected == 0
    }
}

/// Why a request was not (wholly) handled.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The body is not a remote_write request: nothing was stored.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Storage failed (disk): the sender should retry.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The receiver: its series cache lives as long as the server.
pub struct Receiver {
    seeds: wire::KeySeeds,
    cache: Mutex<SeriesCache>,
}

/// Series keys (`wire::Series::key`) → refs, in two generations: when the current one
/// holds half of `limits::REMOTE_WRITE_CACHE_SERIES_MAX`, it becomes the previous one
/// and the old previous one is dropped, so series still being written are kept (a hit
/// in the previous generation moves to the current one) and the rest age out.
#[derive(Default)]
struct SeriesCache {
    current: FastMap<[u64; 2], SeriesRef>,
    previous: FastMap<[u64; 2], SeriesRef>,
}

impl SeriesCache {
    fn get(&mut self, key: &[u64; 2]) -> Option<SeriesRef> {
        if let Some(series) = self.current.get(key) {
            return Some(*series);
        }
        let series = self.previous.remove(key)?;
        self.insert(*key, series);
        Some(series)
    }

    fn insert(&mut self, key: [u64; 2], series: SeriesRef) {
        if self.current.len() >= crate::limits::REMOTE_WRITE_CACHE_SERIES_MAX / 2 {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, series);
    }
}

impl Default for Receiver {
    fn default() -> Receiver {
        Receiver::new()
    }
}

impl Receiver {
    pub fn new() -> Receiver {
        Receiver {
            seeds: wire::KeySeeds::default(),
            cache: Mutex::new(SeriesCache::default()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, SeriesCache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decodes a snappy-compressed body, checks each series, stores the valid ones
    /// with `durability`, and reports the rest. A body that does not decode stores
    /// nothing.
    pub fn write(
        &self,
        storage: &Storage,
        body: &[u8],
        durability: Durability,
    ) -> Result<WriteReport, WriteError> {
        let bytes = decompress(body, crate::limits::REMOTE_WRITE_DECODED_BYTES_MAX)?;
        let request = wire::decode(&bytes, &self.seeds).map_err(DecodeError::from)?;
        let mut report = WriteReport {
            series: request.series.len(),
            samples: request.samples.len(),
            metadata_dropped: request.metadata,
            ..WriteReport::default()
        };
        // Refs of the cached series, one lock for the whole request.
        let mut refs: Vec<Option<SeriesRef>> = {
            let mut cache = self.cache();
            request
                .series
                .iter()
                .map(|series| cache.get(&series.key))
                .collect()
        };
        let mut learned = Vec::new();
        for (index, series) in request.series.iter().enumerate() {
            report.exemplars_dropped += series.exemplars;
            report.histograms_dropped += series.histograms;
            if refs[index].is_some() {
                continue;
            }
            let labels = &request.labels[series.labels.clone()];
            let samples = series.samples.len();
            let refused = |reason: InvalidReason| InvalidSeries {
                index,
                labels: render(labels),
                reason,
                samples,
            };
            // A series of native histograms only is refused and named; one that also
            // has float samples stores them.
            if series.histograms > 0 && samples == 0 {
                report.refuse(refused(InvalidReason::Histograms(series.histograms)));
                continue;
            }
            let checked = match series_labels(labels) {
                Ok(checked) => checked,
                Err(reason) => {
                    report.refuse(refused(reason));
                    continue;
                }
            };
            match storage.resolve(&checked) {
                Ok(series_ref) => {
                    refs[index] = Some(series_ref);
                    learned.push((series.key, series_ref));
                }
                Err(reason) => report.refuse(refused(InvalidReason::Storage(reason))),
            }
        }
        if !learned.is_empty() {
            let mut cache = self.cache();
            for (key, series) in learned {
                cache.insert(key, series);
            }
        }
        let batch: Vec<(SeriesRef, &[Sample])> = request
            .series
            .iter()
            .zip(&refs)
            .filter_map(|(series, series_ref)| {
                let samples = &request.samples[series.samples.clone()];
                Some(((*series_ref)?, samples)).filter(|(_, samples)| !samples.is_empty())
            })
            .collect();
        if !batch.is_empty() {
            report.outcome = storage.append_refs(&batch, durability)?;
        }
        Ok(report)
    }
}

impl WriteReport {
    fn refuse(&mut self, invalid: InvalidSeries) {
        self.invalid_series += 1;
        self.invalid_samples += invalid.samples;
        if let Some(slot) = InvalidReason::KINDS
            .iter()
            .position(|kind| *kind == invalid.reason.kind())
        {
            self.invalid_by_kind[slot] += invalid.samples as u64;
        }
        if self.invalid.len() < crate::limits::REMOTE_WRITE_INVALID_LISTED_MAX {
            self.invalid.push(invalid);
        }
    }
}

/// The label set of a series, held to the protocol's rules, which are stricter than
/// `Labels::new_series` (it sorts, and drops empty values, as an exposition allows).
pub fn series_labels(labels: &[(&str, &str)]) -> Result<Labels, InvalidReason> {
    for pair in labels.windows(2) {
        match pair[0].0.cmp(pair[1].0) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => {
                return Err(InvalidReason::Duplicate(pair[0].0.to_string()));
            }
            std::cmp::Ordering::Greater => {
                return Err(InvalidReason::Unsorted(
                    pair[1].0.to_string(),
                    pair[0].0.to_string(),
                ));
            }
        }
    }
    if let Some((name, _)) = labels.iter().find(|(_, value)| value.is_empty()) {
        return Err(InvalidReason::EmptyValue(name.to_string()));
    }
    if !labels.iter().any(|(name, _)| *name == METRIC_NAME) {
        return Err(InvalidReason::MissingName);
    }
    Labels::new_series(labels.iter().copied()).map_err(InvalidReason::Label)
}

/// `{a="1", b="2"}` as sent (order and all), for error messages; long sets are cut.
fn render(labels: &[(&str, &str)]) -> String {
    const MAX_CHARS: usize = 300;
    let mut text = String::from("{");
    for (position, (name, value)) in labels.iter().enumerate() {
        if position > 0 {
            text.push_str(", ");
        }
        text.push_str(name);
        text.push('=');
        text.push_str(&format!("{value:?}"));
        if text.len() > MAX_CHARS {
            let mut cut = MAX_CHARS;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
            break;
        }
    }
    text.push('}');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageOptions;
    use prost::Message;

    fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> proto::TimeSeries {
        proto::TimeSeries::new(labels, samples)
    }

    fn encode(request: &proto::WriteRequest) -> Vec<u8> {
        snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .expect("compress")
    }

    #[test]
    fn a_body_round_trips_and_bad_bodies_are_named() {
        let request = proto::WriteRequest {
            timeseries: vec![series(&[("__name__", "up")], &[(1_000, 1.0)])],
            metadata: Vec::new(),
        };
        let body = encode(&request);
        assert_eq!(decode(&body, 1 << 20).expect("decode"), request);
        // Not snappy.
        assert!(matches!(
            decode(b"\xff\xff\xff\xff\xff\xff", 1 << 20),
            Err(DecodeError::Snappy(_))
        ));
        // Snappy around garbage: a protobuf error.
        let garbage = snap::raw::Encoder::new()
            .compress_vec(b"\x0a\xff\xff\xff\xff\x0f")
            .expect("compress");
        assert!(matches!(
            decode(&garbage, 1 << 20),
            Err(DecodeError::Protobuf(_))
        ));
        // Over the decoded limit: refused from the header, before decompressing.
        assert!(matches!(
            decode(&body, 4),
            Err(DecodeError::TooLarge { limit: 4, .. })
        ));
    }

    #[test]
    fn each_rule_refuses_only_its_series() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (&[("job", "a")], "no __name__ label"),
            (
                &[("__name__", "x"), ("job", "a"), ("instance", "i")],
                "labels not sorted: \"instance\" comes after \"job\"",
            ),
            (
                &[("__name__", "x"), ("job", "a"), ("job", "b")],
                "duplicate label name \"job\"",
            ),
            (
                &[("__name__", "x"), ("job", "")],
                "label \"job\" has an empty value",
            ),
            (&[("1bad", "v"), ("__name__", "x")], "invalid label name"),
            (&[("__name__", "no spaces")], "invalid metric name"),
        ];
        for (labels, message) in cases {
            let error = series_labels(labels).expect_err("invalid");
            assert!(
                error.to_string().contains(message),
                "{labels:?}: {error} lacks {message}"
            );
        }
        let fine = series_labels(&[("__name__", "up"), ("job", "a")]).expect("valid");
        assert_eq!(fine.to_string(), "up{job=\"a\"}");
    }

    #[test]
    fn valid_series_are_stored_beside_invalid_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
        let stale = crate::model::stale_nan();
        let mut histogram = series(&[("__name__", "h")], &[]);
        histogram.histograms.push(vec![1, 2, 3]);
        let mut with_exemplar = series(
            &[("__name__", "up"), ("job", "b")],
            &[(2_000, 1.0), (3_000, stale)],
        );
        with_exemplar.exemplars.push(vec![]);
        let request = proto::WriteRequest {
            timeseries: vec![
                series(
                    &[("__name__", "up"), ("job", "a")],
                    &[(1_000, 1.0), (2_000, 0.0)],
                ),
                series(&[("job", "a")], &[(1_000, 5.0)]),
                with_exemplar,
                histogram,
            ],
            metadata: vec![vec![]],
        };
        let receiver = Receiver::new();
        let report = receiver
            .write(&storage, &encode(&request), Durability::Sync)
            .expect("write");
        assert_eq!(report.series, 4);
        assert_eq!(report.samples, 5);
        assert_eq!(report.outcome.accepted, 4);
        assert_eq!(report.invalid_series, 2);
        assert_eq!(report.invalid_samples, 1);
        assert_eq!(report.invalid[0].index, 1);
        assert_eq!(report.invalid[0].labels, "{job=\"a\"}");
        assert_eq!(report.invalid[0].reason, InvalidReason::MissingName);
        assert_eq!(report.invalid[1].reason, InvalidReason::Histograms(1));
        assert_eq!(report.exemplars_dropped, 1);
        assert_eq!(report.histograms_dropped, 1);
        assert_eq!(report.metadata_dropped, 1);
        assert!(!report.complete());

        // The same request again: every stored sample is unchanged, nothing new.
        let again = receiver
            .write(&storage, &encode(&request), Durability::Sync)
            .expect("write");
        assert_eq!(again.outcome.accepted, 0);
        assert_eq!(again.outcome.unchanged, 4);
        assert_eq!(again.outcome.rejected, 0);
    }

    #[test]
    fn the_fuzz_seeds_are_real_requests() {
        let snappy = include_bytes!("../../fuzz/corpus/remote_write/snappy-request");
        let raw = include_bytes!("../../fuzz/corpus/remote_write/raw-protobuf");
        let request = decode(snappy, 1 << 20).expect("seed decodes");
        // Byte equality: the seed holds a NaN, which is unequal to itself.
        assert_eq!(request.encode_to_vec(), raw.to_vec());
        assert_eq!(request.timeseries.len(), 2);
        assert!(request.timeseries[0].samples[1].value.is_nan());
        assert_eq!(request.timeseries[1].exemplars.len(), 1);
        assert_eq!(request.timeseries[1].histograms.len(), 1);
        assert_eq!(request.metadata.len(), 1);
        let pairs: Vec<(&str, &str)> = request.timeseries[0]
            .labels
            .iter()
            .map(|label| (label.name.as_str(), label.value.as_str()))
            .collect();
        let labels = series_labels(&pairs).expect("valid labels");
        assert_eq!(
            labels.to_string(),
            "up{instance=\"localhost:9090\", job=\"prometheus\"}"
        );
    }
}
