//! The one append API every producer uses: batches in, a typed outcome out.
//! Owns: limit checks, series creation, the WAL entry per batch, and durability.
//! Does not: parse any input format (collectors turn input into `Labels` and `Sample`s).

use super::{Storage, StorageError};
use crate::limits;
use crate::model::{Labels, Sample, SeriesRef};
use std::fmt;
use std::sync::atomic::Ordering;

/// One series' samples in a batch.
#[derive(Clone, Debug)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// When an append's data must be on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Before `append` returns (pushes that are acknowledged to a client).
    Sync,
    /// Within a second (scrapes and collectors; the WAL's background flusher).
    Background,
}

/// Why a series or sample was refused. Nothing already stored is touched.
#[derive(Clone, Debug, PartialEq)]
pub enum RejectReason {
    SeriesLimit {
        limit: u64,
    },
    SeriesPerMetricLimit {
        metric: String,
        limit: u64,
    },
    TooManyLabels {
        count: usize,
        limit: usize,
    },
    LabelNameTooLong {
        name: String,
        limit: usize,
    },
    LabelValueTooLong {
        name: String,
        bytes: usize,
        limit: usize,
    },
    TooOld {
        newest_t: i64,
        window_ms: i64,
    },
    DuplicateTimestamp {
        stored: f64,
    },
}

impl RejectReason {
    /// Values of the `reason` label of `tandem_storage_rejected_samples_total`.
    pub const KINDS: [&'static str; 7] = [
        "series_limit",
        "series_per_metric_limit",
        "too_many_labels",
        "label_name_too_long",
        "label_value_too_long",
        "out_of_order",
        "duplicate_timestamp",
    ];

    pub fn kind_index(&self) -> usize {
        match self {
            RejectReason::SeriesLimit { .. } => 0,
            RejectReason::SeriesPerMetricLimit { .. } => 1,
            RejectReason::TooManyLabels { .. } => 2,
            RejectReason::LabelNameTooLong { .. } => 3,
            RejectReason::LabelValueTooLong { .. } => 4,
            RejectReason::TooOld { .. } => 5,
            RejectReason::DuplicateTimestamp { .. } => 6,
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            RejectReason::SeriesLimit { limit } => {
                write!(
                    formatter,
                    "new series refused: the total series limit ({limit}, [limits] series_max) is reached"
                )
            }
            RejectReason::SeriesPerMetricLimit { metric, limit } => write!(
                formatter,
                "new series refused: metric {metric:?} has {limit} series, the limit ([limits] series_per_metric_max); \
                 is a label carrying an id or a timestamp?"
            ),
            RejectReason::TooManyLabels { count, limit } => {
                write!(
                    formatter,
                    "{count} labels, limit is {limit} ([limits] labels_per_series_max)"
                )
            }
            RejectReason::LabelNameTooLong { name, limit } => write!(
                formatter,
                "label name {:?}... is longer than {limit} bytes ([limits] label_name_bytes_max)",
                truncate(name, 40)
            ),
            RejectReason::LabelValueTooLong { name, bytes, limit } => write!(
                formatter,
                "value of label {name:?} is {bytes} bytes, limit is {limit} ([limits] label_value_bytes_max)"
            ),
            RejectReason::TooOld {
                newest_t,
                window_ms,
            } => write!(
                formatter,
                "out of order: older than the series' newest sample ({newest_t}) minus the {window_ms} ms window ([limits] out_of_order_window)"
            ),
            RejectReason::DuplicateTimestamp { stored } => {
                write!(
                    formatter,
                    "duplicate timestamp with a different value (stored {stored})"
                )
            }
        }
    }
}

fn truncate(text: &str, characters: usize) -> String {
    text.chars().take(characters).collect()
}

/// One refused series or sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    pub series: Labels,
    /// The sample, when one sample was refused; `None` when the whole series was.
    pub sample: Option<Sample>,
    /// Samples this rejection covers (all of the series' samples when `sample` is None).
    pub samples: u64,
    pub reason: RejectReason,
}

impl fmt::Display for Rejection {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self.sample {
            Some(sample) => write!(formatter, "{} @{}: {}", self.series, sample.t, self.reason),
            None => write!(
                formatter,
                "{} ({} samples): {}",
                self.series, self.samples, self.reason
            ),
        }
    }
}

/// What happened to a batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppendOutcome {
    pub accepted: u64,
    /// Samples identical to stored ones (same timestamp and value): a no-op.
    pub unchanged: u64,
    pub rejected: u64,
    /// The first `limits::APPEND_REJECTIONS_LISTED_MAX` rejections.
    pub rejections: Vec<Rejection>,
}

impl AppendOutcome {
    /// Counts `samples` refused samples; builds the `Rejection` (labels and all) only
    /// while fewer than the listed maximum are held, so a flood of bad input costs a
    /// counter increment per sample, not a label set.
    pub fn reject(&mut self, samples: u64, rejection: impl FnOnce() -> Rejection) {
        self.rejected += samples;
        if self.rejections.len() < limits::APPEND_REJECTIONS_LISTED_MAX {
            self.rejections.push(rejection());
        }
    }

    pub fn merge(&mut self, other: AppendOutcome) {
        self.accepted += other.accepted;
        self.unchanged += other.unchanged;
        self.rejected += other.rejected;
        let room = limits::APPEND_REJECTIONS_LISTED_MAX.saturating_sub(self.rejections.len());
        self.rejections
            .extend(other.rejections.into_iter().take(room));
    }
}

impl Storage {
    /// The ref of `labels`, creating the series if the limits allow.
    pub fn resolve(&self, labels: &Labels) -> Result<SeriesRef, RejectReason> {
        let limits = &self.options.limits;
        if labels.len() > limits.labels_per_series_max {
            return Err(RejectReason::TooManyLabels {
                count: labels.len(),
                limit: limits.labels_per_series_max,
            });
        }
        for label in labels.iter() {
            if label.name.len() > limits.label_name_bytes_max {
                return Err(RejectReason::LabelNameTooLong {
                    name: label.name.clone(),
                    limit: limits.label_name_bytes_max,
                });
            }
            if label.value.len() > limits.label_value_bytes_max {
                return Err(RejectReason::LabelValueTooLong {
                    name: label.name.clone(),
                    bytes: label.value.len(),
                    limit: limits.label_value_bytes_max,
                });
            }
        }
        if let Some(series) = self.catalog.lookup(labels) {
            return Ok(series);
        }
        if self.catalog.series_count() >= limits.series_max {
            return Err(RejectReason::SeriesLimit {
                limit: limits.series_max,
            });
        }
        let metric = labels.metric_name().unwrap_or("");
        if self.catalog.series_with_metric_name(metric) >= limits.series_per_metric_max {
            return Err(RejectReason::SeriesPerMetricLimit {
                metric: metric.to_string(),
                limit: limits.series_per_metric_max,
            });
        }
        let (series, created) = self
            .catalog
            .get_or_create(labels, || self.next_series.fetch_add(1, Ordering::Relaxed));
        if created {
            self.counters.series_created.fetch_add(1, Ordering::Relaxed);
            self.watch.series_created(series, labels);
            if self.options.write_ahead_log {
                self.pending_wal_series().push(series, labels);
            }
        }
        Ok(series)
    }

    fn pending_wal_series(&self) -> std::sync::MutexGuard<'_, super::wal::PendingSeries> {
        self.new_series_for_wal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends a batch of series by labels. Series or samples that break a limit are
    /// refused and listed in the outcome; the rest are stored.
    pub fn append(
        &self,
        batch: &[SeriesSamples],
        durability: Durability,
    ) -> Result<AppendOutcome, StorageError> {
        self.append_labelled(batch, durability, Source::Ingest)
    }

    /// Appends series tandem writes about its own state (the peer module's), which
    /// rules watch like any input but which are not ingest: they do not make
    /// `last_ingest_ms` newer, so a stalled collector pipeline stays visible.
    pub fn append_status(&self, batch: &[SeriesSamples]) -> Result<AppendOutcome, StorageError> {
        self.append_labelled(batch, Durability::Background, Source::Status)
    }

    /// Appends what rules computed (recorded series, `ALERTS`). Unlike `append`, it
    /// does not count as new data for watched selectors: a rule's own output never
    /// triggers rule evaluation, so rules that read each other's output cannot loop.
    pub fn append_from_rules(
        &self,
        batch: &[SeriesSamples],
    ) -> Result<AppendOutcome, StorageError> {
        self.append_labelled(batch, Durability::Background, Source::Rules)
    }

    fn append_labelled(
        &self,
        batch: &[SeriesSamples],
        durability: Durability,
        source: Source,
    ) -> Result<AppendOutcome, StorageError> {
        let mut outcome = AppendOutcome::default();
        let mut resolved = Vec::with_capacity(batch.len());
        for series in batch {
            match self.resolve(&series.labels) {
                Ok(series_ref) => resolved.push((series_ref, series.samples.as_slice())),
                Err(reason) => {
                    let samples = series.samples.len() as u64;
                    self.count_rejected(&reason, samples);
                    outcome.reject(samples, || Rejection {
                        series: series.labels.clone(),
                        sample: None,
                        samples,
                        reason,
                    });
                }
            }
        }
        outcome.merge(self.append_resolved(&resolved, durability, source)?);
        Ok(outcome)
    }

    fn count_rejected(&self, reason: &RejectReason, samples: u64) {
        self.counters.rejected[reason.kind_index()].fetch_add(samples, Ordering::Relaxed);
    }

    /// Appends samples to series already resolved with `resolve` (importers cache refs).
    pub fn append_refs(
        &self,
        batch: &[(SeriesRef, &[Sample])],
        durability: Durability,
    ) -> Result<AppendOutcome, StorageError> {
        self.append_resolved(batch, durability, Source::Ingest)
    }

    /// `append_resolved_inner`, counting failures (`write_errors`) and when ingest
    /// last stored something (`last_ingest_ms`).
    fn append_resolved(
        &self,
        batch: &[(SeriesRef, &[Sample])],
        durability: Durability,
        source: Source,
    ) -> Result<AppendOutcome, StorageError> {
        let result = self.append_resolved_inner(batch, durability, source != Source::Rules);
        match &result {
            Ok(outcome) if source == Source::Ingest && outcome.accepted > 0 => {
                let now = crate::config::history::unix_millis(std::time::SystemTime::now());
                self.counters
                    .last_ingest_ms
                    .fetch_max(now, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(_) => {
                self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    fn append_resolved_inner(
        &self,
        batch: &[(SeriesRef, &[Sample])],
        durability: Durability,
        watched: bool,
    ) -> Result<AppendOutcome, StorageError> {
        let mut outcome = AppendOutcome::default();
        let wal = self.options.write_ahead_log;
        let mut entry = super::wal::EntryBuilder::new(if wal { batch.len() } else { 0 });
        let mut result = super::head::HeadAppend::default();
        {
            let _gate = self
                .append_gate
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let seq = self.next_wal_seq.fetch_add(1, Ordering::SeqCst);
            // The first chunk that could not be written to the hot log; it stops the
            // batch (`failed`), and the entry is not logged.
            let mut put_error = None;
            let failed = std::cell::Cell::new(false);
            self.head.append_batch(
                batch,
                seq,
                &mut |chunk| {
                    if put_error.is_none()
                        && let Err(error) = self.store_sealed(chunk)
                    {
                        put_error = Some(error);
                        failed.set(true);
                    }
                },
                &mut |series, t| self.stored_in_hot(series, t),
                &mut result,
                &mut |series, result| {
                    outcome.accepted += result.accepted.len() as u64;
                    outcome.unchanged += result.unchanged as u64;
                    for (sample, rejection) in result.rejected.drain(..) {
                        let reason = match rejection {
                            super::head::HeadRejection::TooOld {
                                newest_t,
                                window_ms,
                            } => RejectReason::TooOld {
                                newest_t,
                                window_ms,
                            },
                            super::head::HeadRejection::DuplicateTimestamp { stored } => {
                                RejectReason::DuplicateTimestamp { stored }
                            }
                        };
                        self.count_rejected(&reason, 1);
                        outcome.reject(1, || Rejection {
                            series: self.catalog.labels(series).unwrap_or_default(),
                            sample: Some(sample),
                            samples: 1,
                            reason,
                        });
                    }
                    if wal {
                        entry.push(series, &result.accepted);
                    }
                    !failed.get()
                },
            );
            if let Some(error) = put_error {
                return Err(error.into());
            }
            if wal {
                let new_series = std::mem::take(&mut *self.pending_wal_series());
                if !entry.is_empty() || !new_series.is_empty() {
                    let bytes = entry.finish(&new_series);
                    if let Err(error) = self.wal_log.append(seq, &bytes) {
                        // Put the series back so a later entry records them.
                        self.pending_wal_series().extend(new_series);
                        return Err(error.into());
                    }
                }
            }
        }
        if self.staged_bytes() > self.options.staged_bytes_max {
            self.compact(i64::MIN)?;
        }
        self.counters
            .samples_appended
            .fetch_add(outcome.accepted, Ordering::Relaxed);
        self.counters
            .samples_unchanged
            .fetch_add(outcome.unchanged, Ordering::Relaxed);
        if durability == Durability::Sync && self.options.write_ahead_log {
            self.wait_durable()?;
        }
        if watched && outcome.accepted > 0 {
            self.watch.appended(
                batch
                    .iter()
                    .filter(|(_, samples)| !samples.is_empty())
                    .map(|(series, _)| *series),
            );
        }
        Ok(outcome)
    }
}

/// Who appends: decides whether rules are woken and whether it counts as ingest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// Collectors, scrapes, pushes, imports: wakes rules, counts as ingest.
    Ingest,
    /// Rule output: wakes no rule (rules reading each other cannot loop).
    Rules,
    /// tandem's own status series: wakes rules, not ingest.
    Status,
}
