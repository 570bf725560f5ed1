//! Importing text exposition (Prometheus text or OpenMetrics, with timestamps) into
//! storage: the engine behind `tandem import` and `POST /api/v1/import/prometheus`.
//! Owns: the two-pass rule (a file with a bad line is refused whole, every bad line
//! listed up to a cap, unless invalid lines are to be skipped), batching by series,
//! and the cache from a line's series text to its `SeriesRef`.
//! Does not: open files or sockets (callers hand it a reader) or store anything
//! except through `Storage::resolve` and `Storage::append_refs`.

use super::expfmt::{Entry, Format, ParseError, Parser, SampleLine};
use crate::model::{Labels, METRIC_NAME, Sample, SeriesRef};
use crate::storage::{AppendOutcome, Durability, RejectReason, Storage, StorageError};
use std::collections::{HashMap, HashSet};

/// foldhash rather than std's SipHash: several times faster on ~100-byte series keys
/// hashed once per line, and still seeded per process, so a client posting crafted
/// series to the HTTP import cannot force collisions.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;
use std::io::BufRead;

mod parallel;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Bad lines listed in an error; beyond it they are counted.
pub const BAD_LINES_LISTED_MAX: usize = 100;

/// Samples collected before they are appended as one batch (one WAL entry).
const BATCH_SAMPLES: usize = 64 * 1024;

/// A line longer than this is refused; a real exposition line is well under it.
pub const LINE_BYTES_MAX: usize = 1 << 20;

#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub format: Format,
    /// Store the good lines and report the bad ones, instead of refusing the input.
    pub skip_invalid: bool,
    pub durability: Durability,
    /// Timestamp for lines without one (milliseconds).
    pub default_timestamp_ms: i64,
}

/// One line that could not be imported.
#[derive(Clone, Debug, PartialEq)]
pub struct BadLine {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(formatter, "line {}: {}", self.line, self.message)
    }
}

/// What an import did.
#[derive(Clone, Debug, Default)]
pub struct ImportReport {
    pub lines: u64,
    pub bytes: u64,
    pub samples: u64,
    pub outcome: AppendOutcome,
    /// Lines skipped (with `skip_invalid`), first `BAD_LINES_LISTED_MAX` of them.
    pub skipped: Vec<BadLine>,
    pub skipped_count: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{count} invalid line(s), nothing was imported:\n{}", render(.listed))]
    Invalid { count: u64, listed: Vec<BadLine> },
    #[error("reading the input: {0}")]
    Read(#[from] std::io::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn render(lines: &[BadLine]) -> String {
    lines
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks every line without storing anything; returns every problem (up to the cap)
/// and the total count.
pub fn validate(
    source: Source<'_>,
    format: Format,
    progress: &mut dyn FnMut(u64),
) -> Result<(u64, Vec<BadLine>), std::io::Error> {
    let mut bad = Vec::new();
    let mut count = 0u64;
    // Series already checked: a series recurs on every timestamp of a backfill, and
    // building its label set each time would cost more than parsing the line.
    let mut valid_series: FastSet<Box<str>> = FastSet::default();
    for_each_line(source, format, progress, &mut |line_number, result| {
        let problem = match result {
            Ok(Entry::Sample(sample)) if valid_series.contains(sample.series_key()) => None,
            Ok(Entry::Sample(sample)) => match labels_of(&sample) {
                Ok(_) => {
                    valid_series.insert(sample.series_key().into());
                    None
                }
                Err(message) => Some(message),
            },
            Ok(_) => None,
            Err(error) => Some(error.message.clone()),
        };
        if let Some(message) = problem {
            count += 1;
            if bad.len() < BAD_LINES_LISTED_MAX {
                bad.push(BadLine {
                    line: line_number,
                    message,
                });
            }
        }
    })?;
    Ok((count, bad))
}

/// The series labels of a parsed line, checked as storage requires.
fn labels_of(sample: &SampleLine<'_>) -> Result<Labels, String> {
    let name = sample.name();
    let pairs = std::iter::once((METRIC_NAME.to_string(), name.into_owned())).chain(
        sample
            .labels()
            .map(|(name, value)| (name.into_owned(), value.into_owned())),
    );
    Labels::new_series(pairs).map_err(|error| error.to_string())
}

/// Where import input comes from: a reader (compressed files, streams), or bytes
/// already in memory (a request body, a memory-mapped file), which are parsed in
/// place without copying each line.
pub enum Source<'a> {
    Read(Box<dyn BufRead + 'a>),
    Bytes(&'a [u8]),
}

type Visit<'v> = dyn FnMut(usize, Result<Entry<'_>, &ParseError>) + 'v;

/// Runs `visit` on every line's parse result, with 1-based line numbers. Reports bytes
/// read to `progress` every few thousand lines.
fn for_each_line(
    source: Source<'_>,
    format: Format,
    progress: &mut dyn FnMut(u64),
    visit: &mut Visit<'_>,
) -> Result<(), std::io::Error> {
    let mut parser = Parser::new(format);
    let mut line_number = 0usize;
    let mut bytes = 0u64;
    let mut on_line = |raw: &[u8], line_number: usize, bytes: u64| {
        if line_number.is_multiple_of(8192) {
            progress(bytes);
        }
        visit_line(&mut parser, raw, line_number, visit);
    };
    match source {
        Source::Bytes(mut rest) => {
            while !rest.is_empty() {
                let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |newline| newline + 1);
                let (line, tail) = rest.split_at(end);
                rest = tail;
                line_number += 1;
                bytes += line.len() as u64;
                on_line(line, line_number, bytes);
            }
        }
        Source::Read(mut reader) => {
            let mut buffer = Vec::with_capacity(4096);
            loop {
                buffer.clear();
                let read = std::io::Read::take(&mut *reader, LINE_BYTES_MAX as u64 + 1)
                    .read_until(b'\n', &mut buffer)?;
                if read == 0 {
                    break;
                }
                line_number += 1;
                bytes += read as u64;
                on_line(&buffer, line_number, bytes);
                // Skip the rest of an over-long line (already reported).
                while buffer.len() > LINE_BYTES_MAX && !buffer.ends_with(b"\n") {
                    buffer.clear();
                    if std::io::Read::take(&mut *reader, LINE_BYTES_MAX as u64)
                        .read_until(b'\n', &mut buffer)?
                        == 0
                    {
                        break;
                    }
                    bytes += buffer.len() as u64;
                }
            }
        }
    }
    progress(bytes);
    if let Err(error) = parser.finish() {
        visit(line_number + 1, Err(&error));
    }
    Ok(())
}

/// Parses one raw line (with or without its newline) and hands the result to `visit`.
fn visit_line(parser: &mut Parser, raw: &[u8], line_number: usize, visit: &mut Visit<'_>) {
    let failure = |column: usize, message: String| ParseError {
        line: line_number,
        column,
        message,
    };
    if raw.len() > LINE_BYTES_MAX {
        visit(
            line_number,
            Err(&failure(
                1,
                format!("line longer than {LINE_BYTES_MAX} bytes"),
            )),
        );
        parser.skip_line();
        return;
    }
    let text = match std::str::from_utf8(raw) {
        Ok(text) => text.trim_end_matches('\n'),
        Err(error) => {
            visit(
                line_number,
                Err(&failure(
                    error.valid_up_to() + 1,
                    "invalid UTF-8".to_string(),
                )),
            );
            parser.skip_line();
            return;
        }
    };
    match parser.next_line(text) {
        Ok(entry) => visit(line_number, Ok(entry)),
        Err(error) => visit(line_number, Err(&error)),
    }
}

/// Imports every line. Without `skip_invalid` the caller must have run `validate`
/// first (a line that fails here is then reported as invalid, and what came before it
/// is stored).
///
/// Parsing and appending run on two threads: this one parses and resolves series,
/// a scoped one appends batches, with two batches in flight between them.
pub fn import(
    source: Source<'_>,
    storage: &Storage,
    options: &ImportOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let threads = std::thread::available_parallelism().map_or(1, |count| count.get());
    if let Source::Bytes(bytes) = source
        && options.format == Format::Text
        && threads > 1
        && bytes.len() > 2 * SEGMENT_BYTES
    {
        return parallel::import(bytes, storage, options, progress, threads);
    }
    let (sender, receiver) = sync_channel::<Batch>(2);
    let (recycle, recycled) = sync_channel::<Batch>(3);
    std::thread::scope(|scope| {
        let appender = scope.spawn(move || append_batches(storage, receiver, recycle));
        let parsed = parse_into_batches(source, storage, options, progress, sender, recycled);
        let appended = appender
            .join()
            .unwrap_or_else(|_| panic!("BUG: the import appender thread panicked"));
        let (mut report, invalid, invalid_count) = parsed?;
        report.outcome.merge(appended?);
        finish(storage, options, report, invalid, invalid_count)
    })
}

/// The end of an import, sequential or parallel: one fsync for every batch written
/// without waiting (when the caller needs durability), then the bad lines either
/// reported as skipped or turned into the error that refuses the input.
fn finish(
    storage: &Storage,
    options: &ImportOptions,
    mut report: ImportReport,
    invalid: Vec<BadLine>,
    invalid_count: u64,
) -> Result<ImportReport, ImportError> {
    if options.durability == Durability::Sync {
        storage.sync()?;
    }
    if options.skip_invalid {
        report.skipped = invalid;
        report.skipped_count = invalid_count;
    } else if invalid_count > 0 {
        return Err(ImportError::Invalid {
            count: invalid_count,
            listed: invalid,
        });
    }
    Ok(report)
}

/// Bytes of input one parallel worker parses at a time (~70 000 lines). Tests use
/// small segments so that many of them, out of order, reach the appender.
const SEGMENT_BYTES: usize = if cfg!(test) { 64 << 10 } else { 8 << 20 };

/// Samples grouped by series, appended as one call (one WAL entry).
type Batch = Vec<(SeriesRef, Vec<Sample>)>;

/// Appends each batch, then hands it back emptied (capacity kept) for reuse: a
/// batch holds thousands of vectors, and allocating them afresh per batch showed up
/// as page faults and allocator time in profiles.
fn append_batches(
    storage: &Storage,
    receiver: Receiver<Batch>,
    recycle: SyncSender<Batch>,
) -> Result<AppendOutcome, StorageError> {
    let mut outcome = AppendOutcome::default();
    for mut batch in receiver {
        let refs: Vec<(SeriesRef, &[Sample])> = batch
            .iter()
            .map(|(series, samples)| (*series, samples.as_slice()))
            .collect();
        outcome.merge(storage.append_refs(&refs, Durability::Background)?);
        for (_, samples) in &mut batch {
            samples.clear();
        }
        // The parser may have finished; then the batch is simply dropped.
        let _ = recycle.try_send(batch);
    }
    Ok(outcome)
}

type Parsed = (ImportReport, Vec<BadLine>, u64);

fn parse_into_batches(
    source: Source<'_>,
    storage: &Storage,
    options: &ImportOptions,
    progress: &mut dyn FnMut(u64),
    sender: SyncSender<Batch>,
    recycled: Receiver<Batch>,
) -> Result<Parsed, std::io::Error> {
    let mut state = ImportState {
        storage,
        options,
        cache: FastMap::default(),
        batch: Vec::new(),
        batch_index: FastMap::default(),
        batch_samples: 0,
        report: ImportReport::default(),
        sender,
        recycled,
        spare: Vec::new(),
        appender_gone: false,
    };
    let mut invalid: Vec<BadLine> = Vec::new();
    let mut invalid_count = 0u64;
    for_each_line(
        source,
        options.format,
        progress,
        &mut |line_number, result| {
            if state.appender_gone {
                // The appender stopped on a storage error; it reports it.
                return;
            }
            state.report.lines = line_number as u64;
            let problem = match result {
                Ok(Entry::Sample(sample)) => state.add(&sample).err(),
                Ok(_) => None,
                Err(error) => Some(error.message.clone()),
            };
            if let Some(message) = problem {
                invalid_count += 1;
                if invalid.len() < BAD_LINES_LISTED_MAX {
                    invalid.push(BadLine {
                        line: line_number,
                        message,
                    });
                }
            }
        },
    )?;
    state.flush();
    Ok((state.report, invalid, invalid_count))
}

/// Series cache shared by the sequential path and each parallel worker.
type SeriesCache = FastMap<Box<str>, Result<SeriesRef, RejectReason>>;

/// The series and sample of a parsed line: `Ok(None)` when storage refused the series
/// (counted in `report`), `Err` when the line's labels are invalid.
fn resolve_line(
    storage: &Storage,
    options: &ImportOptions,
    cache: &mut SeriesCache,
    report: &mut ImportReport,
    line: &SampleLine<'_>,
) -> Result<Option<(SeriesRef, Sample)>, String> {
    let key = line.series_key();
    let resolved = match cache.get(key) {
        Some(resolved) => resolved.clone(),
        None => {
            let labels = labels_of(line)?;
            let resolved = storage.resolve(&labels);
            cache.insert(key.into(), resolved.clone());
            resolved
        }
    };
    let sample = Sample {
        t: line.timestamp_ms().unwrap_or(options.default_timestamp_ms),
        v: line.value(),
    };
    report.samples += 1;
    match resolved {
        Ok(series) => Ok(Some((series, sample))),
        Err(reason) => {
            report.outcome.reject(1, || crate::storage::Rejection {
                series: labels_of(line).unwrap_or_default(),
                sample: Some(sample),
                samples: 1,
                reason,
            });
            Ok(None)
        }
    }
}

struct ImportState<'a> {
    storage: &'a Storage,
    options: &'a ImportOptions,
    /// A line's series text (identical series print identically) → its ref, or the
    /// reason the series was refused, so each series is resolved once.
    cache: SeriesCache,
    batch: Vec<(SeriesRef, Vec<Sample>)>,
    batch_index: FastMap<SeriesRef, usize>,
    batch_samples: usize,
    report: ImportReport,
    sender: SyncSender<Batch>,
    /// Emptied batches coming back from the appender, and their sample vectors.
    recycled: Receiver<Batch>,
    spare: Vec<Vec<Sample>>,
    appender_gone: bool,
}

impl ImportState<'_> {
    fn add(&mut self, line: &SampleLine<'_>) -> Result<(), String> {
        let Some((series, sample)) = resolve_line(
            self.storage,
            self.options,
            &mut self.cache,
            &mut self.report,
            line,
        )?
        else {
            return Ok(());
        };
        let index = *self.batch_index.entry(series).or_insert_with(|| {
            let samples = self.spare.pop().unwrap_or_default();
            self.batch.push((series, samples));
            self.batch.len() - 1
        });
        self.batch[index].1.push(sample);
        self.batch_samples += 1;
        if self.batch_samples >= BATCH_SAMPLES {
            self.flush();
        }
        Ok(())
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let next = match self.recycled.try_recv() {
            Ok(mut returned) => {
                self.spare
                    .extend(returned.drain(..).map(|(_, samples)| samples));
                returned
            }
            Err(_) => Vec::new(),
        };
        let batch = std::mem::replace(&mut self.batch, next);
        self.batch_index.clear();
        self.batch_samples = 0;
        if self.sender.send(batch).is_err() {
            self.appender_gone = true;
        }
    }
}
