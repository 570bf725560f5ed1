//! Parallel import of Prometheus text already in memory (a mapped file, a request
//! body): workers parse segments of the input on every core; this thread appends the
//! segments' samples strictly in input order, so every series still receives its
//! samples in the order the file has them (a backfill is time-major, and appending a
//! later segment first would make the earlier one "out of order").
//!
//! Workers may run at most `WINDOW_PER_THREAD × threads` segments ahead of the
//! appender, which bounds memory to a few segments' samples.
//! Limitation: each segment gets a fresh parser, so checks that follow `# TYPE`
//! context (a histogram bucket without `le`) do not reach across a segment boundary.
//! OpenMetrics input (whose `# EOF` rule needs the whole stream) takes the
//! sequential path.

use super::{
    BAD_LINES_LISTED_MAX, BadLine, Batch, FastMap, ImportError, ImportOptions, ImportReport,
    SEGMENT_BYTES, SeriesCache, resolve_line, visit_line,
};
use crate::collect::expfmt::{Entry, Parser};
use crate::model::SeriesRef;
use crate::storage::{Durability, Storage};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Condvar, Mutex};

const WINDOW_PER_THREAD: usize = 2;

/// What a worker made of one segment.
struct Segment {
    batch: Batch,
    report: ImportReport,
    /// (line within the segment, message).
    invalid: Vec<(usize, String)>,
    invalid_count: u64,
    lines: usize,
    bytes: usize,
}

/// Splits `bytes` into segments of about `SEGMENT_BYTES`, each ending after a newline.
fn segments(bytes: &[u8]) -> Vec<&[u8]> {
    let mut segments = Vec::with_capacity(bytes.len() / SEGMENT_BYTES + 1);
    let mut rest = bytes;
    while !rest.is_empty() {
        let cut = if rest.len() <= SEGMENT_BYTES {
            rest.len()
        } else {
            memchr::memchr(b'\n', &rest[SEGMENT_BYTES..])
                .map_or(rest.len(), |offset| SEGMENT_BYTES + offset + 1)
        };
        let (segment, tail) = rest.split_at(cut);
        segments.push(segment);
        rest = tail;
    }
    segments
}

fn parse_segment(
    bytes: &[u8],
    storage: &Storage,
    options: &ImportOptions,
    cache: &mut SeriesCache,
) -> Segment {
    let mut parser = Parser::new(options.format);
    let mut segment = Segment {
        batch: Vec::new(),
        report: ImportReport::default(),
        invalid: Vec::new(),
        invalid_count: 0,
        lines: 0,
        bytes: bytes.len(),
    };
    let mut index: FastMap<SeriesRef, usize> = FastMap::default();
    let mut rest = bytes;
    while !rest.is_empty() {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |newline| newline + 1);
        let (raw, tail) = rest.split_at(end);
        rest = tail;
        segment.lines += 1;
        let line_number = segment.lines;
        if let Some((series, sample)) = known_sample(&mut parser, raw, cache, options) {
            segment.report.samples += 1;
            let slot = *index.entry(series).or_insert_with(|| {
                segment.batch.push((series, Vec::new()));
                segment.batch.len() - 1
            });
            segment.batch[slot].1.push(sample);
            continue;
        }
        visit_line(&mut parser, raw, line_number, &mut |_, result| {
            let problem = match result {
                Ok(Entry::Sample(line)) => {
                    match resolve_line(storage, options, cache, &mut segment.report, &line) {
                        Ok(Some((series, sample))) => {
                            let slot = *index.entry(series).or_insert_with(|| {
                                segment.batch.push((series, Vec::new()));
                                segment.batch.len() - 1
                            });
                            segment.batch[slot].1.push(sample);
                            None
                        }
                        Ok(None) => None,
                        Err(message) => Some(message),
                    }
                }
                Ok(_) => None,
                Err(error) => Some(error.message.clone()),
            };
            if let Some(message) = problem {
                segment.invalid_count += 1;
                if segment.invalid.len() < BAD_LINES_LISTED_MAX {
                    segment.invalid.push((line_number, message));
                }
            }
        });
    }
    segment
}

/// A line of a series already in the cache (and accepted by storage), parsed by the
/// parser's fast path; `None` sends the line through the full parser.
fn known_sample(
    parser: &mut Parser,
    raw: &[u8],
    cache: &SeriesCache,
    options: &ImportOptions,
) -> Option<(SeriesRef, crate::model::Sample)> {
    let text = std::str::from_utf8(raw).ok()?.trim_end_matches('\n');
    // The series text ends at the label set's closing brace (the value and timestamp
    // after it hold none), or at the first blank when there is no label set.
    let key_end = crate::collect::expfmt::series_key_end(text)?;
    let key = text.get(..key_end)?;
    let Some(Ok(series)) = cache.get(key) else {
        return None;
    };
    let (v, t) = parser.next_known_sample(text, key_end)?;
    Some((
        *series,
        crate::model::Sample {
            t: t.unwrap_or(options.default_timestamp_ms),
            v,
        },
    ))
}

pub(super) fn import(
    bytes: &[u8],
    storage: &Storage,
    options: &ImportOptions,
    progress: &mut dyn FnMut(u64),
    threads: usize,
) -> Result<ImportReport, ImportError> {
    let segments = segments(bytes);
    let next = AtomicUsize::new(0);
    // Index of the next segment to append; workers wait while too far ahead of it.
    let appended = (Mutex::new(0usize), Condvar::new());
    let window = WINDOW_PER_THREAD * threads;
    let (sender, receiver) = sync_channel::<(usize, Segment)>(window);
    let mut report = ImportReport::default();
    let mut invalid: Vec<BadLine> = Vec::new();
    let mut invalid_count = 0u64;
    let result = std::thread::scope(|scope| -> Result<(), ImportError> {
        for _ in 0..threads {
            let (sender, segments, next, appended) = (sender.clone(), &segments, &next, &appended);
            scope.spawn(move || {
                let mut cache = SeriesCache::default();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(bytes) = segments.get(index) else {
                        return;
                    };
                    let (lock, wake) = appended;
                    let mut done = lock
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    while *done != usize::MAX && index >= *done + window {
                        done = wake
                            .wait(done)
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                    }
                    let stop = *done == usize::MAX;
                    drop(done);
                    if stop {
                        return;
                    }
                    let segment = parse_segment(bytes, storage, options, &mut cache);
                    if sender.send((index, segment)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(sender);
        let mut waiting: BTreeMap<usize, Segment> = BTreeMap::new();
        let (mut next_to_append, mut first_line, mut bytes_done) = (0usize, 0usize, 0u64);
        let mut failure = None;
        for (index, segment) in receiver.iter() {
            waiting.insert(index, segment);
            while let Some(segment) = waiting.remove(&next_to_append) {
                if failure.is_none() {
                    let refs: Vec<(SeriesRef, &[crate::model::Sample])> = segment
                        .batch
                        .iter()
                        .map(|(series, samples)| (*series, samples.as_slice()))
                        .collect();
                    match storage.append_refs(&refs, Durability::Background) {
                        Ok(outcome) => report.outcome.merge(outcome),
                        Err(error) => failure = Some(error),
                    }
                }
                report.samples += segment.report.samples;
                report.outcome.merge(segment.report.outcome);
                invalid_count += segment.invalid_count;
                for (line, message) in segment.invalid {
                    if invalid.len() < BAD_LINES_LISTED_MAX {
                        invalid.push(BadLine {
                            line: first_line + line,
                            message,
                        });
                    }
                }
                first_line += segment.lines;
                bytes_done += segment.bytes as u64;
                report.lines = first_line as u64;
                progress(bytes_done);
                next_to_append += 1;
                let (lock, wake) = &appended;
                let mut done = lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                // After a storage error, release the workers so they stop.
                *done = if failure.is_some() {
                    usize::MAX
                } else {
                    next_to_append
                };
                wake.notify_all();
            }
        }
        match failure {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    });
    result?;
    super::finish(storage, options, report, invalid, invalid_count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::expfmt::Format;
    use crate::model::Matcher;
    use crate::storage::{SelectHints, StorageOptions};

    /// More than two segments of time-major input, with one bad line deep inside:
    /// every good sample is stored, in order, and the bad line keeps its number.
    #[test]
    fn parallel_import_keeps_order_and_line_numbers() {
        let (series, ticks) = (100usize, 1_000usize);
        let bad_line = 87_123;
        // A known series with a stray token: the fast path must hand it to the parser.
        let bad_known_line = 91_005;
        let mut input = String::new();
        let mut line = 0;
        for tick in 0..ticks {
            for id in 0..series {
                line += 1;
                if line == bad_line {
                    input.push_str("broken{id=\"x\" 1 2\n");
                } else if line == bad_known_line {
                    input.push_str(&format!("m{{id=\"{id}\"}} 1 1800000000000 extra\n"));
                } else {
                    input.push_str(&format!(
                        "m{{id=\"{id}\"}} {tick} {}\n",
                        1_800_000_000_000i64 + tick as i64 * 15_000
                    ));
                }
            }
        }
        assert!(input.len() > 2 * SEGMENT_BYTES);
        let dir = tempfile::tempdir().expect("temp");
        let storage = Storage::open(StorageOptions::new(dir.path())).expect("open");
        let options = ImportOptions {
            format: Format::Text,
            skip_invalid: true,
            durability: Durability::Background,
            default_timestamp_ms: 0,
        };
        let report = import(input.as_bytes(), &storage, &options, &mut |_| {}, 2).expect("import");
        assert_eq!(report.skipped_count, 2);
        assert_eq!(report.skipped[0].line, bad_line);
        assert_eq!(report.skipped[1].line, bad_known_line);
        assert!(
            report.skipped[1].message.contains("extra"),
            "{:?}",
            report.skipped[1]
        );
        assert_eq!(report.outcome.accepted, (series * ticks - 2) as u64);
        assert_eq!(
            report.outcome.rejected, 0,
            "no sample may arrive out of order"
        );
        for data in storage
            .select(
                &[Matcher::equal("__name__", "m")],
                i64::MIN,
                i64::MAX,
                &SelectHints::default(),
            )
            .expect("select")
        {
            let values: Vec<f64> = data.samples().map(|sample| sample.v).collect();
            assert!(values.windows(2).all(|pair| pair[0] < pair[1]));
            assert!(values.len() >= ticks - 2);
        }
    }

    #[test]
    fn segments_end_at_newlines_and_cover_everything() {
        let line = b"metric_name{label=\"value\"} 1 1800000000000\n";
        let input: Vec<u8> = line
            .iter()
            .copied()
            .cycle()
            .take(line.len() * 500_000)
            .collect();
        let parts = segments(&input);
        assert!(parts.len() >= 2);
        assert!(parts.iter().all(|part| part.ends_with(b"\n")));
        assert_eq!(
            parts.iter().map(|part| part.len()).sum::<usize>(),
            input.len()
        );
        assert_eq!(segments(b"a 1\nb 2").concat(), b"a 1\nb 2");
    }
}
