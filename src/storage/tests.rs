//! Storage tests that need its internals: round trips through every layer, restart
//! and replay, limits, the WAL's segment files (torn tails, order, truncation, the
//! migration from sled), and corruption injected into the WAL, chunks and blocks.

use super::*;
use crate::model::{Labels, MatchOp, Matcher, Sample, SeriesRef};
use std::sync::atomic::AtomicBool;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new_series(pairs.iter().copied()).expect("valid labels")
}

fn series(name: &str, job: &str, points: &[(i64, f64)]) -> SeriesSamples {
    SeriesSamples {
        labels: labels(&[("__name__", name), ("job", job)]),
        samples: points
            .iter()
            .map(|(t, v)| Sample { t: *t, v: *v })
            .collect(),
    }
}

fn open(dir: &std::path::Path) -> Storage {
    Storage::open(StorageOptions::new(dir)).expect("storage opens")
}

/// Every series matching `matchers` as (labels text, samples).
fn read(storage: &Storage, matchers: &[Matcher]) -> Vec<(String, Vec<(i64, f64)>)> {
    let mut result: Vec<(String, Vec<(i64, f64)>)> = storage
        .select(matchers, i64::MIN, i64::MAX, &SelectHints::default())
        .expect("select")
        .into_iter()
        .map(|data| {
            (
                data.labels.to_string(),
                data.samples().map(|s| (s.t, s.v)).collect(),
            )
        })
        .collect();
    result.sort_by(|a, b| a.0.cmp(&b.0));
    result
}

/// 300 samples at 15 s: two sealed chunks and an open one.
fn many(start: i64) -> Vec<(i64, f64)> {
    (0..300)
        .map(|i| (start + i * 15_000, i as f64 * 1.5))
        .collect()
}

const T0: i64 = 1_700_000_000_000;

#[test]
fn appended_samples_read_back_from_head_hot_and_blocks() {
    let dir = tempfile::tempdir().expect("temp");
    let storage = open(dir.path());
    let points = many(T0);
    let outcome = storage
        .append(
            &[
                series("up", "a", &points),
                series("up", "b", &[(T0, 1.0)]),
                series("down", "a", &[(T0, 2.0)]),
            ],
            Durability::Sync,
        )
        .expect("append");
    assert_eq!((outcome.accepted, outcome.rejected), (302, 0));
    let up_a = vec![("up{job=\"a\"}".to_string(), points.clone())];
    let matchers = [Matcher::equal("__name__", "up"), Matcher::equal("job", "a")];
    assert_eq!(read(&storage, &matchers), up_a);
    let regex = Matcher::new("job", MatchOp::Regex, "a|b").expect("regex");
    assert_eq!(
        read(&storage, &[Matcher::equal("__name__", "up"), regex]).len(),
        2
    );
    // Time bounds are inclusive on both ends.
    let window = storage
        .select(&matchers, T0 + 15_000, T0 + 45_000, &SelectHints::default())
        .expect("select");
    let times: Vec<i64> = window
        .into_iter()
        .flat_map(|data| data.samples().map(|s| s.t).collect::<Vec<_>>())
        .collect();
    assert_eq!(times, [T0 + 15_000, T0 + 30_000, T0 + 45_000]);
    // Move everything into blocks: the same data comes back.
    storage.seal_idle(i64::MAX).expect("seal");
    let report = storage.compact(i64::MAX).expect("compact");
    assert_eq!(report.samples, 302);
    assert_eq!(storage.stats().hot_chunks, 0);
    assert_eq!(read(&storage, &matchers), up_a);
    // Compacting again changes nothing.
    assert_eq!(storage.compact(i64::MAX).expect("compact").samples, 0);
    assert_eq!(read(&storage, &matchers), up_a);
    assert_eq!(
        storage.label_values(
            "job",
            &[Matcher::equal("__name__", "up")],
            i64::MIN,
            i64::MAX
        ),
        ["a", "b"]
    );
    assert_eq!(
        storage.label_names(&[], i64::MIN, i64::MAX),
        ["__name__", "job"]
    );
}

#[test]
fn reads_during_compaction_see_every_sample_exactly_once() {
    let dir = tempfile::tempdir().expect("temp");
    let mut options = StorageOptions::new(dir.path());
    // A few chunks per segment, so compaction moves the data in several steps.
    options.hot_segment_bytes_max = 2_000;
    let storage = Storage::open(options).expect("open");
    let jobs: Vec<String> = (0..8).map(|job| format!("j{job}")).collect();
    // Four rounds of 300 samples per series, each sealed before the next: chunks of
    // every round land in their own segments.
    for round in 0..4i64 {
        let start = T0 + round * 300 * 15_000;
        let batch: Vec<SeriesSamples> = jobs
            .iter()
            .map(|job| series("up", job, &many(start)))
            .collect();
        storage.append(&batch, Durability::Sync).expect("append");
        storage.seal_idle(i64::MAX).expect("seal");
    }
    let matchers = [Matcher::equal("__name__", "up")];
    let expected = read(&storage, &matchers);
    assert_eq!(expected.len(), 8);
    assert!(expected.iter().all(|(_, samples)| samples.len() == 1_200));
    let done = AtomicBool::new(false);
    let reads = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut reads = 0u64;
            while !done.load(Ordering::SeqCst) {
                assert_eq!(read(&storage, &matchers), expected, "read {reads}");
                reads += 1;
            }
            reads
        });
        // Cut-offs that each take one round's segments, then everything.
        let mut remaining = vec![storage.stats().hot_chunks];
        for round in 1..=3i64 {
            let before = T0 + round * 300 * 15_000;
            storage.compact(before).expect("compact");
            remaining.push(storage.stats().hot_chunks);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        storage.compact(i64::MAX).expect("compact");
        remaining.push(storage.stats().hot_chunks);
        std::thread::sleep(std::time::Duration::from_millis(20));
        done.store(true, Ordering::SeqCst);
        // 8 series × 3 chunks per round; each step moves the segments wholly before its
        // cut-off (a segment holding two rounds' chunks waits for the later one).
        assert_eq!(remaining.first(), Some(&96));
        assert_eq!(remaining.last(), Some(&0));
        assert!(
            remaining.windows(2).all(|pair| pair[0] > pair[1]),
            "{remaining:?}"
        );
        reader.join().expect("reader")
    });
    assert!(reads > 0);
    assert_eq!(storage.stats().hot_chunks, 0, "everything moved");
    assert_eq!(read(&storage, &matchers), expected);
    assert_eq!(storage.counters.corruptions.load(Ordering::Relaxed), 0);
}

/// Rollups written by compaction equal the buckets computed from all raw samples at
/// once: across midnight (periods are left-open like buckets), over counter resets and
/// gaps, with a 1 h block filled by two separate compactions.
#[test]
fn compaction_writes_rollups_equal_to_the_raw_data() {
    let dir = tempfile::tempdir().expect("temp");
    let mut options = StorageOptions::new(dir.path());
    options.tiers = Tier::design_defaults();
    let storage = Storage::open(options).expect("open");
    const DAY: i64 = 86_400_000;
    // Midnight of a day near T0, then 30 h of 15 s samples starting 3 h before it.
    let midnight = (T0 / DAY + 1) * DAY;
    let start = midnight - 3 * 3_600_000;
    let samples: Vec<(i64, f64)> = (0..30 * 240)
        .filter(|i| !(1_000..1_300).contains(i)) // a 75-minute gap
        .map(|i| {
            let value = (i % 2_000) as f64 * 1.5; // resets every 2 000 samples
            (start + i * 15_000, value)
        })
        .collect();
    let (first_half, second_half) = samples.split_at(samples.len() / 2);
    for half in [first_half, second_half] {
        storage
            .append(&[series("up", "a", half)], Durability::Sync)
            .expect("append");
        storage.seal_idle(i64::MAX).expect("seal");
        storage.compact(i64::MAX).expect("compact");
    }
    let raw: Vec<Sample> = samples
        .iter()
        .map(|(t, v)| Sample { t: *t, v: *v })
        .collect();
    assert_eq!(
        read(&storage, &[Matcher::equal("__name__", "up")])[0].1,
        samples
    );
    for resolution in [60_000, 3_600_000] {
        let stored = storage
            .rollup_buckets(SeriesRef(1), resolution, i64::MIN, i64::MAX)
            .expect("rollups");
        let expected = rollup::buckets(&raw, resolution);
        assert_eq!(stored.len(), expected.len(), "resolution {resolution}");
        assert!(stored == expected, "resolution {resolution}");
    }
    // 30 h from 3 h before midnight touch three days: three 1 m blocks (a day each),
    // one 1 h block (60 days).
    let connection =
        rusqlite::Connection::open(dir.path().join(cold::STORAGE_FILE)).expect("sqlite");
    let blocks: Vec<(i64, i64)> = connection
        .prepare("SELECT resolution, COUNT(*) FROM rollup GROUP BY resolution ORDER BY resolution")
        .expect("prepare")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(blocks, [(60_000, 3), (3_600_000, 1)]);
}

#[test]
fn label_enumeration_is_bounded_by_time_before_and_after_restart() {
    let dir = tempfile::tempdir().expect("temp");
    let check = |storage: &Storage| {
        let jobs = |mint, maxt| storage.label_values("job", &[], mint, maxt);
        assert_eq!(jobs(i64::MIN, i64::MAX), ["a", "b"]);
        assert_eq!(jobs(T0, T0 + 1_500), ["a"]);
        assert_eq!(jobs(T0 + 1_500, T0 + 5_500), ["a", "b"]);
        assert_eq!(jobs(T0 + 2_500, T0 + 4_000), Vec::<String>::new());
        assert_eq!(jobs(T0 + 6_000, i64::MAX), ["b"]);
        assert_eq!(
            storage.label_names(&[Matcher::equal("job", "b")], T0, T0 + 1_000),
            Vec::<String>::new()
        );
        assert_eq!(
            storage.label_names(&[Matcher::equal("job", "b")], T0, T0 + 5_000),
            ["__name__", "extra", "job"]
        );
        let series: Vec<String> = storage
            .series_labels(&[Matcher::equal("__name__", "up")], T0 + 5_000, i64::MAX)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(series, [r#"up{extra="x", job="b"}"#]);
    };
    {
        let storage = open(dir.path());
        let b = SeriesSamples {
            labels: labels(&[("__name__", "up"), ("job", "b"), ("extra", "x")]),
            samples: vec![
                Sample {
                    t: T0 + 5_000,
                    v: 1.0,
                },
                Sample {
                    t: T0 + 6_000,
                    v: 1.0,
                },
            ],
        };
        storage
            .append(
                &[
                    series("up", "a", &[(T0 + 1_000, 1.0), (T0 + 2_000, 1.0)]),
                    b,
                ],
                Durability::Sync,
            )
            .expect("append");
        check(&storage);
        storage.seal_idle(i64::MAX).expect("seal");
        storage.compact(i64::MAX).expect("compact");
        storage.checkpoint().expect("checkpoint");
        check(&storage);
    }
    check(&open(dir.path()));
}

#[test]
fn restart_replays_the_wal_without_duplicating_sealed_chunks() {
    let dir = tempfile::tempdir().expect("temp");
    let points = many(T0);
    {
        let storage = open(dir.path());
        storage
            .append(&[series("up", "a", &points)], Durability::Sync)
            .expect("append");
        // No checkpoint: the WAL still holds everything, two chunks are also in the hot log.
    }
    let storage = open(dir.path());
    let matchers = [Matcher::equal("__name__", "up")];
    assert_eq!(
        read(&storage, &matchers),
        vec![("up{job=\"a\"}".to_string(), points.clone())]
    );
    assert_eq!(
        storage.stats().hot_chunks,
        2,
        "replay must not seal the same chunks again"
    );
    // A later day's samples continue the series after the restart.
    let more: Vec<(i64, f64)> = (300..310).map(|i| (T0 + i * 15_000, 0.5)).collect();
    let outcome = storage
        .append(&[series("up", "a", &more)], Durability::Sync)
        .expect("append");
    assert_eq!(outcome.accepted, 10);
    storage.checkpoint().expect("checkpoint");
    drop(storage);
    let storage = open(dir.path());
    let all: Vec<(i64, f64)> = points.iter().chain(more.iter()).copied().collect();
    assert_eq!(
        read(&storage, &matchers),
        vec![("up{job=\"a\"}".to_string(), all)]
    );
}

#[test]
fn limits_reject_only_the_offending_input() {
    let dir = tempfile::tempdir().expect("temp");
    let mut options = StorageOptions::new(dir.path());
    options.limits.series_max = 3;
    options.limits.series_per_metric_max = 2;
    options.limits.labels_per_series_max = 3;
    options.limits.label_value_bytes_max = 8;
    let storage = Storage::open(options).expect("open");
    let long_value = SeriesSamples {
        labels: labels(&[("__name__", "x"), ("id", "0123456789")]),
        samples: vec![Sample { t: T0, v: 1.0 }],
    };
    let too_many_labels = SeriesSamples {
        labels: labels(&[("__name__", "x"), ("a", "1"), ("b", "1"), ("c", "1")]),
        samples: vec![Sample { t: T0, v: 1.0 }],
    };
    let outcome = storage
        .append(
            &[
                series("req", "1", &[(T0, 1.0)]),
                series("req", "2", &[(T0, 1.0)]),
                series("req", "3", &[(T0, 1.0), (T0 + 1, 2.0)]),
                long_value,
                too_many_labels,
                series("other", "1", &[(T0, 1.0)]),
                series("other", "2", &[(T0, 1.0)]),
            ],
            Durability::Sync,
        )
        .expect("append");
    let reasons: Vec<String> = outcome.rejections.iter().map(ToString::to_string).collect();
    assert_eq!(outcome.accepted, 3, "{reasons:#?}");
    assert_eq!(outcome.rejected, 5);
    assert!(
        reasons[0].starts_with(
            "req{job=\"3\"} (2 samples): new series refused: metric \"req\" has 2 series"
        ),
        "{reasons:#?}"
    );
    assert!(
        reasons[1].contains("value of label \"id\" is 10 bytes, limit is 8"),
        "{reasons:#?}"
    );
    assert!(reasons[2].contains("4 labels, limit is 3"), "{reasons:#?}");
    assert!(
        reasons[3].contains("the total series limit (3"),
        "{reasons:#?}"
    );
    let counts: Vec<u64> = storage
        .counters
        .rejected
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    assert_eq!(counts, [1, 2, 1, 0, 1, 0, 0]);
    // Stored data is untouched.
    assert_eq!(
        read(&storage, &[Matcher::equal("__name__", "req")]).len(),
        2
    );
}

#[test]
fn out_of_order_window_and_duplicates() {
    let dir = tempfile::tempdir().expect("temp");
    let storage = open(dir.path());
    let base = T0 + 3_600_000;
    storage
        .append(&[series("up", "a", &[(base, 1.0)])], Durability::Sync)
        .expect("append");
    let outcome = storage
        .append(
            &[series(
                "up",
                "a",
                &[
                    (base - 60_000, 0.5),
                    (base, 1.0),
                    (base, 7.0),
                    (base - 601_000, 0.1),
                    (base - 60_000, 0.5),
                ],
            )],
            Durability::Sync,
        )
        .expect("append");
    assert_eq!(
        (outcome.accepted, outcome.unchanged, outcome.rejected),
        (1, 2, 2)
    );
    let reasons: Vec<String> = outcome.rejections.iter().map(ToString::to_string).collect();
    assert!(
        reasons[0].contains("duplicate timestamp with a different value (stored 1)"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("out of order: older than"),
        "{reasons:?}"
    );
    assert_eq!(
        read(&storage, &[Matcher::equal("__name__", "up")]),
        vec![(
            "up{job=\"a\"}".to_string(),
            vec![(base - 60_000, 0.5), (base, 1.0)]
        )]
    );
}

#[test]
fn stale_markers_and_special_values_survive_bit_exact() {
    let dir = tempfile::tempdir().expect("temp");
    let storage = open(dir.path());
    let values = [
        crate::model::stale_nan(),
        f64::NAN,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE / 2.0,
    ];
    let points: Vec<(i64, f64)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (T0 + i as i64, *v))
        .collect();
    storage
        .append(&[series("v", "a", &points)], Durability::Sync)
        .expect("append");
    let check = |storage: &Storage| {
        let got = read(storage, &[Matcher::equal("__name__", "v")]);
        let bits: Vec<u64> = got[0].1.iter().map(|(_, v)| v.to_bits()).collect();
        let expected: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, expected);
    };
    check(&storage);
    storage.seal_idle(i64::MAX).expect("seal");
    storage.compact(i64::MAX).expect("compact");
    check(&storage);
}

/// The WAL's segment files in `data_dir`, in order.
fn wal_segments(data_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(data_dir.join("wal"))
        .expect("wal folder")
        .map(|item| item.expect("entry").path())
        .filter(|path| path.is_file() && path.file_name().is_some_and(|name| name != "legacy.tmp"))
        .collect();
    paths.sort();
    paths
}

fn quarantined(data_dir: &std::path::Path) -> usize {
    std::fs::read_dir(data_dir.join("wal/quarantine")).map_or(0, Iterator::count)
}

#[test]
fn corrupt_wal_entry_is_quarantined_and_the_rest_replays() {
    let dir = tempfile::tempdir().expect("temp");
    {
        let storage = open(dir.path());
        storage
            .append(&[series("up", "a", &[(T0, 1.0)])], Durability::Sync)
            .expect("append");
        storage
            .append(
                &[series("up", "a", &[(T0 + 15_000, 2.0)])],
                Durability::Sync,
            )
            .expect("append");
    }
    // Flip a byte inside the first record's entry (past its 16-byte frame header).
    let segments = wal_segments(dir.path());
    assert_eq!(segments.len(), 1);
    let mut bytes = std::fs::read(&segments[0]).expect("segment");
    bytes[16 + 2] ^= 0xff;
    std::fs::write(&segments[0], &bytes).expect("damage");
    let storage = open(dir.path());
    assert_eq!(storage.counters.corruptions.load(Ordering::Relaxed), 1);
    assert_eq!(quarantined(dir.path()), 1);
    // The first entry created the series and held the first sample: the series is
    // gone from the catalog too (it was never persisted), but nothing else broke and
    // the second entry's sample is not lost if its series is known.
    let all = read(
        &storage,
        &[Matcher::new("__name__", MatchOp::Regex, ".+").expect("regex")],
    );
    assert!(
        all.iter()
            .all(|(_, samples)| samples.iter().all(|(t, _)| *t == T0 + 15_000)),
        "{all:?}"
    );
    drop(storage);
    // Quarantined once: the next start neither counts nor replays it again.
    let storage = open(dir.path());
    assert_eq!(storage.counters.corruptions.load(Ordering::Relaxed), 0);
    assert_eq!(quarantined(dir.path()), 1);
}

#[test]
fn a_torn_wal_tail_is_cut_off_without_counting_corruption() {
    let dir = tempfile::tempdir().expect("temp");
    {
        let storage = open(dir.path());
        for (t, v) in [(T0, 1.0), (T0 + 15_000, 2.0)] {
            storage
                .append(&[series("up", "a", &[(t, v)])], Durability::Sync)
                .expect("append");
        }
    }
    // A crash in the middle of the second record's write.
    let segments = wal_segments(dir.path());
    let bytes = std::fs::read(&segments[0]).expect("segment");
    std::fs::write(&segments[0], &bytes[..bytes.len() - 3]).expect("tear");
    let storage = open(dir.path());
    assert_eq!(storage.counters.corruptions.load(Ordering::Relaxed), 0);
    assert_eq!(quarantined(dir.path()), 0);
    assert_eq!(
        read(&storage, &[Matcher::equal("__name__", "up")]),
        vec![("up{job=\"a\"}".to_string(), vec![(T0, 1.0)])]
    );
    // The next append continues after the replayed sequence numbers, in a new segment.
    storage
        .append(
            &[series("up", "a", &[(T0 + 30_000, 3.0)])],
            Durability::Sync,
        )
        .expect("append");
    drop(storage);
    assert_eq!(wal_segments(dir.path()).len(), 2);
    let storage = open(dir.path());
    assert_eq!(
        read(&storage, &[Matcher::equal("__name__", "up")])[0].1,
        [(T0, 1.0), (T0 + 30_000, 3.0)]
    );
}

#[test]
fn wal_entries_written_out_of_order_replay_in_sequence_order() {
    let dir = tempfile::tempdir().expect("temp");
    let up = labels(&[("__name__", "up"), ("job", "a")]);
    let late = T0 + 20 * 60_000;
    {
        // Two concurrent appends: seq 2 reached the file first, then the segment
        // rotated, then seq 1 was written. Applied in file order, the sample of seq 1
        // would be 20 minutes older than the series' newest and refused.
        let wal_log = SegmentLog::open("WAL", &dir.path().join("wal"), 1).expect("wal");
        let second = [Sample { t: late, v: 2.0 }];
        let first = [Sample { t: T0, v: 1.0 }];
        let entry_2 = wal::encode(&[(SeriesRef(1), &up)], &[(SeriesRef(1), &second[..])]);
        let entry_1 = wal::encode(&[], &[(SeriesRef(1), &first[..])]);
        wal_log.append(2, &entry_2).expect("append");
        wal_log.append(1, &entry_1).expect("append");
        wal_log.sync().expect("sync");
    }
    assert_eq!(wal_segments(dir.path()).len(), 2);
    let storage = open(dir.path());
    assert_eq!(
        read(&storage, &[Matcher::equal("__name__", "up")]),
        vec![("up{job=\"a\"}".to_string(), vec![(T0, 1.0), (late, 2.0)])]
    );
    assert_eq!(storage.next_wal_seq.load(Ordering::SeqCst), 3);
}

#[test]
fn checkpoint_deletes_wal_segments_once_their_samples_are_sealed() {
    let dir = tempfile::tempdir().expect("temp");
    let mut options = StorageOptions::new(dir.path());
    // Every record in its own segment.
    options.wal_segment_bytes_max = 1;
    let storage = Storage::open(options.clone()).expect("open");
    for i in 0..3 {
        let t = T0 + i * 15_000;
        storage
            .append(&[series("up", "a", &[(t, 1.0)])], Durability::Background)
            .expect("append");
    }
    let on_disk = |storage: &Storage| -> u64 {
        let files = wal_segments(dir.path());
        let bytes: u64 = files
            .iter()
            .map(|path| path.metadata().expect("stat").len())
            .sum();
        assert_eq!(storage.stats().wal_bytes, bytes);
        files.len() as u64
    };
    assert_eq!(on_disk(&storage), 3);
    // The open chunk still depends on the first entry: nothing goes.
    storage.checkpoint().expect("checkpoint");
    assert_eq!(on_disk(&storage), 3);
    storage.seal_idle(i64::MAX).expect("seal");
    storage.checkpoint().expect("checkpoint");
    assert_eq!(on_disk(&storage), 0);
    let truncated = storage
        .counters
        .wal_entries_truncated
        .load(Ordering::Relaxed);
    assert_eq!(truncated, 3);
    drop(storage);
    let storage = Storage::open(options).expect("open");
    let expected: Vec<(i64, f64)> = (0..3).map(|i| (T0 + i * 15_000, 1.0)).collect();
    assert_eq!(
        read(&storage, &[Matcher::equal("__name__", "up")]),
        vec![("up{job=\"a\"}".to_string(), expected)]
    );
}

#[test]
fn a_sled_store_left_by_an_older_version_is_moved_and_deleted() {
    let dir = tempfile::tempdir().expect("temp");
    let up = labels(&[("__name__", "up"), ("job", "a")]);
    let legacy_dir = dir.path().join("hot");
    {
        let sled = LegacySled::open(&legacy_dir).expect("sled");
        let samples = [
            Sample { t: T0, v: 1.0 },
            Sample {
                t: T0 + 15_000,
                v: 2.0,
            },
        ];
        // The WAL as the first builds kept it: series 1 and two samples.
        let entry = wal::encode_kind_1(&[(SeriesRef(1), &up)], &[(SeriesRef(1), &samples[..1])]);
        sled.wal_put(1, &entry).expect("put");
        let entry = wal::encode_kind_1(&[], &[(SeriesRef(1), &samples[1..])]);
        sled.wal_put(2, &entry).expect("put");
        // A sealed chunk of the same series, earlier in time, as later builds kept it.
        let mut chunk = chunk::xor::XorAppender::new();
        chunk.append(T0 - 30_000, 0.5);
        chunk.append(T0 - 15_000, 0.75);
        let framed = chunk::frame(chunk::Encoding::Xor, chunk.bytes());
        sled.chunk_put(SeriesRef(1), T0 - 30_000, &framed)
            .expect("chunk");
    }
    let expected = vec![(
        "up{job=\"a\"}".to_string(),
        vec![
            (T0 - 30_000, 0.5),
            (T0 - 15_000, 0.75),
            (T0, 1.0),
            (T0 + 15_000, 2.0),
        ],
    )];
    let storage = open(dir.path());
    assert!(!legacy_dir.exists(), "the sled directory is deleted");
    assert_eq!(wal_segments(dir.path()).len(), 1);
    assert_eq!(storage.hot.chunk_count(), 1);
    assert_eq!(
        read(&storage, &[Matcher::equal("__name__", "up")]),
        expected
    );
    assert_eq!(storage.next_wal_seq.load(Ordering::SeqCst), 3);
    drop(storage);
    let storage = open(dir.path());
    assert_eq!(
        read(&storage, &[Matcher::equal("__name__", "up")]),
        expected
    );
    assert_eq!(storage.counters.corruptions.load(Ordering::Relaxed), 0);
}

#[test]
fn corrupt_chunk_and_block_are_skipped_then_quarantined() {
    let dir = tempfile::tempdir().expect("temp");
    let storage = open(dir.path());
    storage
        .append(
            &[series("up", "a", &many(T0)), series("up", "b", &many(T0))],
            Durability::Sync,
        )
        .expect("append");
    // Damage the first sealed chunk of one series, in its file.
    let first = storage.hot.chunks_of(SeriesRef(1), i64::MIN, i64::MAX)[0];
    let framed = storage.hot.read(&first).expect("read").expect("present");
    storage
        .hot
        .damage(&first, &dir.path().join(HOT_DIR), framed.len() / 2);
    let got = read(&storage, &[Matcher::equal("__name__", "up")]);
    assert_eq!(
        got[0].1.len(),
        300 - 120,
        "the damaged chunk's samples are skipped"
    );
    assert_eq!(got[1].1.len(), 300, "other series are intact");
    assert_eq!(storage.counters.corruptions.load(Ordering::Relaxed), 1);
    storage.seal_idle(i64::MAX).expect("seal");
    storage
        .compact(i64::MAX)
        .expect("compact quarantines and continues");
    assert_eq!(storage.counters.corruptions.load(Ordering::Relaxed), 2);
    assert_eq!(
        read(&storage, &[Matcher::equal("__name__", "up")])[1]
            .1
            .len(),
        300
    );
    // Damage a block in SQLite: reads skip it, other series stay readable.
    let connection =
        rusqlite::Connection::open(dir.path().join(cold::STORAGE_FILE)).expect("sqlite");
    let mut block: Vec<u8> = connection
        .query_row("SELECT data FROM block WHERE series_id = 1", [], |row| {
            row.get(0)
        })
        .expect("block");
    block[10] ^= 0xff;
    connection
        .execute("UPDATE block SET data = ?1 WHERE series_id = 1", [block])
        .expect("damage");
    let got = read(&storage, &[Matcher::equal("__name__", "up")]);
    let lengths: Vec<usize> = got.iter().map(|(_, samples)| samples.len()).collect();
    assert_eq!(
        lengths,
        [0, 300],
        "series 1's block is skipped, series 2 intact"
    );
    assert_eq!(storage.counters.corruptions.load(Ordering::Relaxed), 3);
    // The next compaction of that day quarantines the block; the tier's size drops
    // by the damaged block and grows by the one written for the new sample.
    let before = storage.cold.bytes_per_tier().expect("usage");
    storage
        .append(
            &[series("up", "a", &[(T0 + 300 * 15_000, 1.0)])],
            Durability::Sync,
        )
        .expect("append");
    storage.seal_idle(i64::MAX).expect("seal");
    storage.compact(i64::MAX).expect("compact");
    let quarantined_rows: i64 = connection
        .query_row("SELECT COUNT(*) FROM quarantined_block", [], |row| {
            row.get(0)
        })
        .expect("count");
    assert_eq!(quarantined_rows, 1);
    let after = storage.cold.bytes_per_tier().expect("usage");
    assert_eq!(
        after,
        storage.cold.bytes_per_tier_counted().expect("counted")
    );
    assert_eq!(after[0].2, before[0].2, "{before:?} {after:?}");
    assert!(
        after[0].1 < before[0].1,
        "one sample's block is smaller: {before:?} {after:?}"
    );
}

#[test]
fn a_store_of_schema_1_gets_its_tier_sizes_counted_once_at_open() {
    let dir = tempfile::tempdir().expect("temp");
    let storage = open(dir.path());
    storage
        .append(
            &[series("up", "a", &many(T0)), series("up", "b", &many(T0))],
            Durability::Sync,
        )
        .expect("append");
    storage.seal_idle(i64::MAX).expect("seal");
    storage.compact(i64::MAX).expect("compact");
    let expected = storage.cold.bytes_per_tier_counted().expect("counted");
    assert_eq!(expected[0].2, 2, "{expected:?}");
    drop(storage);
    // What schema 1 looked like: no tier_usage table.
    let connection =
        rusqlite::Connection::open(dir.path().join(cold::STORAGE_FILE)).expect("sqlite");
    connection
        .execute_batch("DROP TABLE tier_usage; PRAGMA user_version = 1;")
        .expect("downgrade");
    drop(connection);
    let storage = open(dir.path());
    assert_eq!(storage.cold.bytes_per_tier().expect("usage"), expected);
    // And compaction keeps it from then on.
    storage
        .append(&[series("up", "c", &many(T0))], Durability::Sync)
        .expect("append");
    storage.seal_idle(i64::MAX).expect("seal");
    storage.compact(i64::MAX).expect("compact");
    let after = storage.cold.bytes_per_tier().expect("usage");
    assert_eq!(
        after,
        storage.cold.bytes_per_tier_counted().expect("counted")
    );
    assert_eq!(after[0].2, 3);
}

/// A WAL reader (remote_write) holds the segments it has not read against
/// checkpoints, up to its byte limit; past it, they go and the reader is told.
#[test]
fn held_wal_segments_outlive_checkpoints_until_released() {
    let dir = tempfile::tempdir().expect("temp");
    let mut options = StorageOptions::new(dir.path());
    // Every record in its own segment.
    options.wal_segment_bytes_max = 1;
    let storage = Storage::open(options).expect("open");
    let start = storage.wal_end();
    storage.hold_wal("reader", Some(start), 1 << 30);
    for i in 0..3 {
        let t = T0 + i * 15_000;
        storage
            .append(
                &[series("up", "a", &[(t, i as f64)])],
                Durability::Background,
            )
            .expect("append");
    }
    storage.seal_idle(i64::MAX).expect("seal");
    storage.checkpoint().expect("checkpoint");
    assert_eq!(wal_segments(dir.path()).len(), 3, "held");
    let batch = storage.wal_read(start, u64::MAX).expect("read");
    assert_eq!(batch.skipped_segments, 0);
    let samples: Vec<(u64, i64, f64)> = batch
        .samples
        .iter()
        .flat_map(|(series, samples)| samples.iter().map(move |s| (series.0, s.t, s.v)))
        .collect();
    assert_eq!(
        samples,
        [(1, T0, 0.0), (1, T0 + 15_000, 1.0), (1, T0 + 30_000, 2.0)]
    );
    assert_eq!(
        storage
            .labels_of(SeriesRef(1))
            .map(|labels| labels.to_string()),
        Some("up{job=\"a\"}".to_string())
    );
    // Past its byte limit the hold is overridden: the reader loses those segments.
    storage.hold_wal("reader", Some(start), 1);
    storage.checkpoint().expect("checkpoint");
    assert!(wal_segments(dir.path()).is_empty());
    // The reader learns of the loss when the WAL goes on: three segments skipped, the
    // new record read.
    storage
        .append(
            &[series("up", "a", &[(T0 + 45_000, 3.0)])],
            Durability::Background,
        )
        .expect("append");
    let late = storage.wal_read(start, u64::MAX).expect("read");
    assert_eq!(late.skipped_segments, 3, "{late:?}");
    assert_eq!(late.samples.len(), 1, "{late:?}");
    // Released: nothing is held any more.
    storage.hold_wal("reader", None, 0);
    assert_eq!(storage.wal_holds.keep_from(u64::MAX), u64::MAX);
}
