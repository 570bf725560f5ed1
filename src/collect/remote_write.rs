//! The Prometheus remote_write 1.0 receiver's engine: decoding a request body
//! (snappy block format around a protobuf `WriteRequest`), checking every series
//! against the protocol's rules, and storing the valid ones durably.
//! Owns: the protobuf messages (declared with `prost` derives, no build step), the
//! per-series rules, and the report of what was stored and what was refused.
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
}

/// Decodes a request body: snappy block format, then a `WriteRequest`. The decoded
/// length is read from the snappy header and checked before anything is allocated.
pub fn decode(body: &[u8], decoded_max: usize) -> Result<proto::WriteRequest, DecodeError> {
    let decoded = snap::raw::decompress_len(body)?;
    if decoded > decoded_max {
        return Err(DecodeError::TooLarge {
            decoded,
            limit: decoded_max,
        });
    }
    let bytes = snap::raw::Decoder::new().decompress_vec(body)?;
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

/// Checks each series, stores the valid ones with `durability`, and reports the rest.
/// An `Err` is storage failing (disk), not bad input.
pub fn write(
    storage: &Storage,
    request: &proto::WriteRequest,
    durability: Durability,
) -> Result<WriteReport, StorageError> {
    let mut report = WriteReport {
        series: request.timeseries.len(),
        metadata_dropped: request.metadata.len(),
        ..WriteReport::default()
    };
    let mut resolved: Vec<(SeriesRef, Vec<Sample>)> = Vec::with_capacity(request.timeseries.len());
    for (index, series) in request.timeseries.iter().enumerate() {
        report.samples += series.samples.len();
        report.exemplars_dropped += series.exemplars.len();
        let refused = |reason: InvalidReason| InvalidSeries {
            index,
            labels: render(&series.labels),
            reason,
            samples: series.samples.len(),
        };
        if !series.histograms.is_empty() {
            report.histograms_dropped += series.histograms.len();
            // A series of histograms only is refused and named; one that also has
            // float samples stores them.
            if series.samples.is_empty() {
                report.refuse(refused(InvalidReason::Histograms(series.histograms.len())));
                continue;
            }
        }
        let labels = match series_labels(&series.labels) {
            Ok(labels) => labels,
            Err(reason) => {
                report.refuse(refused(reason));
                continue;
            }
        };
        if series.samples.is_empty() {
            continue;
        }
        match storage.resolve(&labels) {
            Ok(series_ref) => resolved.push((
                series_ref,
                series
                    .samples
                    .iter()
                    .map(|sample| Sample {
                        t: sample.timestamp,
                        v: sample.value,
                    })
                    .collect(),
            )),
            Err(reason) => report.refuse(refused(InvalidReason::Storage(reason))),
        }
    }
    if !resolved.is_empty() {
        let batch: Vec<(SeriesRef, &[Sample])> = resolved
            .iter()
            .map(|(series, samples)| (*series, samples.as_slice()))
            .collect();
        report.outcome = storage.append_refs(&batch, durability)?;
    }
    Ok(report)
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
pub fn series_labels(labels: &[proto::Label]) -> Result<Labels, InvalidReason> {
    for pair in labels.windows(2) {
        match pair[0].name.cmp(&pair[1].name) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => {
                return Err(InvalidReason::Duplicate(pair[0].name.clone()));
            }
            std::cmp::Ordering::Greater => {
                return Err(InvalidReason::Unsorted(
                    pair[1].name.clone(),
                    pair[0].name.clone(),
                ));
            }
        }
    }
    if let Some(empty) = labels.iter().find(|label| label.value.is_empty()) {
        return Err(InvalidReason::EmptyValue(empty.name.clone()));
    }
    if !labels.iter().any(|label| label.name == METRIC_NAME) {
        return Err(InvalidReason::MissingName);
    }
    Labels::new_series(
        labels
            .iter()
            .map(|label| (label.name.as_str(), label.value.as_str())),
    )
    .map_err(InvalidReason::Label)
}

/// `{a="1", b="2"}` as sent (order and all), for error messages; long sets are cut.
fn render(labels: &[proto::Label]) -> String {
    const MAX_CHARS: usize = 300;
    let mut text = String::from("{");
    for (position, label) in labels.iter().enumerate() {
        if position > 0 {
            text.push_str(", ");
        }
        text.push_str(&label.name);
        text.push('=');
        text.push_str(&format!("{:?}", label.value));
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

    fn label(name: &str, value: &str) -> proto::Label {
        proto::Label {
            name: name.into(),
            value: value.into(),
        }
    }

    fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> proto::TimeSeries {
        proto::TimeSeries {
            labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
            samples: samples
                .iter()
                .map(|(timestamp, value)| proto::Sample {
                    value: *value,
                    timestamp: *timestamp,
                })
                .collect(),
            exemplars: Vec::new(),
            histograms: Vec::new(),
        }
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
            let error = series_labels(&labels.iter().map(|(n, v)| label(n, v)).collect::<Vec<_>>())
                .expect_err("invalid");
            assert!(
                error.to_string().contains(message),
                "{labels:?}: {error} lacks {message}"
            );
        }
        let fine = series_labels(&[label("__name__", "up"), label("job", "a")]).expect("valid");
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
        let report = write(&storage, &request, Durability::Sync).expect("write");
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
        let again = write(&storage, &request, Durability::Sync).expect("write");
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
        let labels = series_labels(&request.timeseries[0].labels).expect("valid labels");
        assert_eq!(
            labels.to_string(),
            "up{instance=\"localhost:9090\", job=\"prometheus\"}"
        );
    }
}
