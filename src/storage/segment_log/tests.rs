//! Segment files on their own: framing, rotation, out-of-order sequence numbers,
//! truncation, torn tails, damaged records and the migration from sled.

use super::*;

/// Entries whose first byte is this fail the check, standing in for a bad entry crc.
const BAD: u8 = 0xff;

fn entry(seq: u64) -> Vec<u8> {
    format!("entry {seq}").into_bytes()
}

/// What a replay of `dir` sees: entries in replay order, and the report's counts.
struct Replay {
    entries: Vec<(u64, Vec<u8>)>,
    corrupt: u64,
    torn: u64,
    seq_max: u64,
}

fn replay(log: &SegmentLog) -> Replay {
    let report = log
        .scan(&mut |_, bytes| match bytes.first() {
            Some(&BAD) => Err("bad entry"),
            _ => Ok(()),
        })
        .expect("scan");
    let mut entries = Vec::new();
    log.read_records(&report.records, &mut |seq, bytes| {
        entries.push((seq, bytes.to_vec()));
        Ok::<(), SegmentLogError>(())
    })
    .expect("read");
    Replay {
        entries,
        corrupt: report.corrupt,
        torn: report.torn,
        seq_max: report.seq_max,
    }
}

fn reopen(dir: &Path, segment_bytes_max: u64) -> (SegmentLog, Replay) {
    let log = SegmentLog::open("WAL", dir, segment_bytes_max).expect("open");
    let replay = replay(&log);
    (log, replay)
}

fn seqs(replay: &Replay) -> Vec<u64> {
    replay.entries.iter().map(|(seq, _)| *seq).collect()
}

fn segment_files(dir: &Path) -> Vec<(u64, u64)> {
    list_segments(dir)
        .expect("list")
        .into_iter()
        .map(|number| {
            let length = std::fs::metadata(segment_path(dir, number)).expect("stat");
            (number, length.len())
        })
        .collect()
}

/// Room for two of the test's records per segment (16-byte header + 7 or 8 bytes).
const TWO_RECORDS: u64 = 2 * (16 + 8);

/// A WAL in `dir` holding `seqs`, written in that order.
fn write(dir: &Path, seqs: &[u64]) -> SegmentLog {
    let (log, _) = reopen(dir, TWO_RECORDS);
    for seq in seqs {
        log.append(*seq, &entry(*seq)).expect("append");
    }
    log.sync().expect("sync");
    log
}

#[test]
fn records_replay_in_sequence_order_across_segments() {
    let dir = tempfile::tempdir().expect("temp");
    let log = write(dir.path(), &[3, 1, 2, 6, 4, 5, 7]);
    assert_eq!(log.segment_count(), 4);
    let on_disk: u64 = segment_files(dir.path())
        .iter()
        .map(|(_, bytes)| bytes)
        .sum();
    assert_eq!(log.bytes(), on_disk);
    drop(log);
    let (log, replay) = reopen(dir.path(), TWO_RECORDS);
    assert_eq!(seqs(&replay), [1, 2, 3, 4, 5, 6, 7]);
    assert!(
        replay
            .entries
            .iter()
            .all(|(seq, bytes)| *bytes == entry(*seq))
    );
    assert_eq!((replay.corrupt, replay.torn, replay.seq_max), (0, 0, 7));
    // Appends after a reopen go to a new segment, never after an old tail.
    log.append(8, &entry(8)).expect("append");
    assert_eq!(segment_files(dir.path()).last().map(|(n, _)| *n), Some(5));
}

#[test]
fn truncation_deletes_segments_wholly_below_the_watermark() {
    let dir = tempfile::tempdir().expect("temp");
    // Segments: {2, 1}, {4, 3}, {6, 5}, and the active {7}.
    let log = write(dir.path(), &[2, 1, 4, 3, 6, 5, 7]);
    let truncation = log.truncate_below(4).expect("truncate");
    assert_eq!(
        truncation,
        Truncation {
            segments: 1,
            records: 2
        }
    );
    let numbers: Vec<u64> = segment_files(dir.path()).iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [2, 3, 4], "{{4, 3}} holds 4, which is not below 4");
    // Nothing more is below 5: segment {4, 3} stays until the watermark passes 4.
    assert_eq!(log.truncate_below(5).expect("truncate").segments, 1);
    let on_disk: u64 = segment_files(dir.path())
        .iter()
        .map(|(_, bytes)| bytes)
        .sum();
    assert_eq!(log.bytes(), on_disk);
    // Everything below the watermark: the active segment is closed and deleted too.
    assert_eq!(
        log.truncate_below(8).expect("truncate"),
        Truncation {
            segments: 2,
            records: 3
        }
    );
    assert!(segment_files(dir.path()).is_empty());
    assert_eq!((log.bytes(), log.segment_count()), (0, 0));
    log.append(8, &entry(8)).expect("append");
    assert_eq!(segment_files(dir.path()), [(5, 16 + 7)]);
    drop(log);
    let (_, replay) = reopen(dir.path(), TWO_RECORDS);
    assert_eq!(seqs(&replay), [8]);
}

#[test]
fn segments_found_at_open_are_kept_until_scanned() {
    let dir = tempfile::tempdir().expect("temp");
    drop(write(dir.path(), &[1, 2, 3]));
    let log = SegmentLog::open("WAL", dir.path(), TWO_RECORDS).expect("open");
    assert_eq!(log.truncate_below(100).expect("truncate").segments, 0);
    replay(&log);
    assert_eq!(log.truncate_below(100).expect("truncate").segments, 2);
}

/// The last segment's file, cut or extended by `change`, then replayed twice.
fn replay_with_tail(seqs: &[u64], change: impl FnOnce(&mut Vec<u8>)) -> (Replay, Replay, u64) {
    let dir = tempfile::tempdir().expect("temp");
    drop(write(dir.path(), seqs));
    let (number, _) = *segment_files(dir.path()).last().expect("a segment");
    let path = segment_path(dir.path(), number);
    let mut bytes = std::fs::read(&path).expect("read");
    change(&mut bytes);
    std::fs::write(&path, &bytes).expect("write");
    let (_, first) = reopen(dir.path(), TWO_RECORDS);
    let (_, second) = reopen(dir.path(), TWO_RECORDS);
    let length = std::fs::metadata(&path).expect("stat").len();
    (first, second, length)
}

#[test]
fn a_torn_tail_is_cut_off_without_counting_corruption() {
    // Segments {1, 2} and {3, 4}; the second record of the last one is torn.
    let record = 16 + 7;
    for cut in [1, 7, 16, record - 3, record - 1] {
        let (first, second, length) = replay_with_tail(&[1, 2, 3, 4], |bytes| {
            bytes.truncate(bytes.len() - cut);
        });
        assert_eq!(seqs(&first), [1, 2, 3], "cut {cut}");
        assert_eq!((first.corrupt, first.torn), (0, 1), "cut {cut}");
        assert_eq!(
            length, record as u64,
            "cut {cut}: the tail is gone from the file"
        );
        assert_eq!(seqs(&second), [1, 2, 3]);
        assert_eq!((second.corrupt, second.torn), (0, 0));
    }
    // A power loss can leave zeros where an unsynced write was: torn as well.
    let (first, _, length) = replay_with_tail(&[1, 2, 3], |bytes| bytes.extend([0; 40]));
    assert_eq!(seqs(&first), [1, 2, 3]);
    assert_eq!((first.corrupt, first.torn, length), (0, 1, 23));
}

#[test]
fn a_damaged_header_at_the_tail_is_corruption_not_a_torn_write() {
    let (first, second, length) = replay_with_tail(&[1, 2, 3, 4], |bytes| {
        bytes[23 + 5] ^= 0x01; // the seq of record 4
    });
    assert_eq!(seqs(&first), [1, 2, 3]);
    assert_eq!((first.corrupt, first.torn, length), (1, 0, 23));
    assert_eq!((second.corrupt, second.torn), (0, 0));
}

#[test]
fn damaged_records_are_quarantined_once_and_the_rest_replays() {
    let dir = tempfile::tempdir().expect("temp");
    let log = write(dir.path(), &[1, 2, 3, 4, 5, 6]);
    // Record 2 keeps its frame but its entry is bad (the caller's crc would fail).
    log.append(7, &[BAD, 1, 2]).expect("append");
    drop(log);
    let segments = segment_files(dir.path());
    // In segment 1, damage record 1's length: record 2 behind it is unreachable.
    let first = segment_path(dir.path(), segments[0].0);
    let mut bytes = std::fs::read(&first).expect("read");
    bytes[0] ^= 0x40;
    std::fs::write(&first, &bytes).expect("write");
    let (_, replay) = reopen(dir.path(), TWO_RECORDS);
    assert_eq!(seqs(&replay), [3, 4, 5, 6]);
    assert_eq!((replay.corrupt, replay.torn, replay.seq_max), (2, 0, 7));
    let quarantine = dir.path().join(QUARANTINE_DIR);
    let mut names: Vec<String> = std::fs::read_dir(&quarantine)
        .expect("quarantine folder")
        .map(|item| {
            item.expect("item")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["00000001-000000000000", "00000004-000000000000"]);
    // The unreadable rest of segment 1 is kept as it was, then cut from the segment.
    let kept = std::fs::read(quarantine.join(&names[0])).expect("quarantined");
    assert_eq!(kept, bytes);
    assert_eq!(std::fs::metadata(&first).expect("stat").len(), 0);
    // The bad entry is kept with its frame (sequence number 0 marks it quarantined).
    let kept = std::fs::read(quarantine.join(&names[1])).expect("quarantined");
    assert_eq!(&kept[16..], [BAD, 1, 2]);
    let (log, replay) = reopen(dir.path(), TWO_RECORDS);
    assert_eq!(seqs(&replay), [3, 4, 5, 6]);
    assert_eq!(
        replay.corrupt, 0,
        "quarantined records are not counted again"
    );
    // Segments of only quarantined records go with the first truncation.
    assert_eq!(log.truncate_below(3).expect("truncate").segments, 2);
}

#[test]
fn legacy_entries_become_a_segment_once() {
    let dir = tempfile::tempdir().expect("temp");
    let log = SegmentLog::open("WAL", dir.path(), TWO_RECORDS).expect("open");
    let legacy = [(5u64, entry(5)), (9, entry(9)), (7, entry(7))];
    let moved = log
        .import_legacy(
            legacy
                .iter()
                .map(|(seq, bytes)| Ok::<_, SegmentLogError>((*seq, bytes))),
        )
        .expect("import");
    assert_eq!(moved, 3);
    // An interrupted migration is repeated: the segment exists, nothing is written.
    let again = log
        .import_legacy(
            legacy
                .iter()
                .map(|(seq, bytes)| Ok::<_, SegmentLogError>((*seq, bytes))),
        )
        .expect("import");
    assert_eq!(again, 0);
    let replayed = replay(&log);
    assert_eq!(seqs(&replayed), [5, 7, 9]);
    assert_eq!(
        segment_files(dir.path()).len(),
        1,
        "one segment, whatever its size"
    );
}

#[test]
fn the_flusher_syncs_a_dirty_log_and_stops_when_dropped() {
    let dir = tempfile::tempdir().expect("temp");
    let log = Arc::new(write(dir.path(), &[]));
    let flusher = Flusher::start(Arc::clone(&log), Duration::from_millis(5)).expect("start");
    log.append(1, &entry(1)).expect("append");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while log.dirty.load(Ordering::SeqCst) {
        assert!(std::time::Instant::now() < deadline, "never flushed");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(flusher);
    assert_eq!(Arc::strong_count(&log), 1, "the thread ended");
}

#[test]
fn records_over_the_limit_are_refused() {
    let dir = tempfile::tempdir().expect("temp");
    let log = write(dir.path(), &[]);
    let large = vec![0u8; WAL_RECORD_BYTES_MAX as usize + 1];
    assert!(matches!(
        log.append(1, &large),
        Err(SegmentLogError::RecordTooLarge { .. })
    ));
    assert_eq!(log.bytes(), 0);
}

mod crash {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Records appended in any seq order, rotated at any size, then a crash that
        /// cuts the last segment at any byte: replay returns exactly the records that
        /// were whole, in seq order, and counts no corruption.
        #[test]
        fn a_crash_at_any_byte_loses_only_the_records_cut(
            order in Just((1..=20u64).collect::<Vec<_>>()).prop_shuffle(),
            lengths in proptest::collection::vec(0usize..40, 20),
            segment_bytes_max in 1u64..200,
            cut in 0.0f64..=1.0,
        ) {
            let dir = tempfile::tempdir().expect("temp");
            let (log, _) = reopen(dir.path(), segment_bytes_max);
            // The model: the segment each record lands in, and its byte range there.
            let mut placed: Vec<(u64, u64, std::ops::Range<u64>)> = Vec::new();
            let (mut segment, mut used) = (1u64, 0u64);
            for (seq, length) in order.iter().zip(&lengths) {
                let frame = (FRAME_HEADER_BYTES + length) as u64;
                if used > 0 && used + frame > segment_bytes_max {
                    (segment, used) = (segment + 1, 0);
                }
                placed.push((*seq, segment, used..used + frame));
                used += frame;
                log.append(*seq, &vec![(*seq % 200) as u8; *length]).expect("append");
            }
            drop(log);
            let kept = (used as f64 * cut) as u64;
            let file = OpenOptions::new()
                .write(true)
                .open(segment_path(dir.path(), segment))
                .expect("open");
            file.set_len(kept).expect("cut");
            let mut expected: Vec<u64> = placed
                .iter()
                .filter(|(_, number, range)| *number < segment || range.end <= kept)
                .map(|(seq, _, _)| *seq)
                .collect();
            expected.sort_unstable();
            let torn = placed.iter().any(|(_, number, range)| {
                *number == segment && range.start < kept && kept < range.end
            });
            let (_, replayed) = reopen(dir.path(), segment_bytes_max);
            prop_assert_eq!(seqs(&replayed), expected);
            prop_assert_eq!(replayed.corrupt, 0);
            prop_assert_eq!(replayed.torn, u64::from(torn));
            prop_assert!(replayed.entries.iter().all(|(seq, bytes)| bytes.iter().all(|b| u64::from(*b) == seq % 200)));
        }
    }
}

fn tail_seqs(read: &TailRead) -> Vec<u64> {
    read.records.iter().map(|(seq, _)| *seq).collect()
}

#[test]
fn a_tail_reader_sees_every_record_once_in_file_order_across_rotations() {
    let dir = tempfile::tempdir().expect("temp");
    let (log, _) = reopen(dir.path(), TWO_RECORDS);
    let start = log.end_position();
    // Written out of sequence order, as concurrent appends can be.
    for seq in [2, 1, 3] {
        log.append(seq, &entry(seq)).expect("append");
    }
    let first = log.read_from(start, u64::MAX).expect("read");
    assert_eq!(
        tail_seqs(&first),
        [2, 1, 3],
        "file order, not sequence order"
    );
    assert_eq!(first.records[0].1, entry(2));
    assert_eq!(first.skipped_segments, 0);
    // Nothing new: nothing read, the position stays.
    let again = log.read_from(first.next, u64::MAX).expect("read");
    assert!(again.records.is_empty());
    assert_eq!(again.next, first.next);
    for seq in 4..=7 {
        log.append(seq, &entry(seq)).expect("append");
    }
    // A small budget stops early; the rest comes next time.
    let part = log.read_from(first.next, 1).expect("read");
    assert_eq!(tail_seqs(&part), [4]);
    let rest = log.read_from(part.next, u64::MAX).expect("read");
    assert_eq!(tail_seqs(&rest), [5, 6, 7]);
    assert_eq!(log.bytes_after(rest.next), 0);
    assert_eq!(log.bytes_after(start), log.bytes());
}

#[test]
fn held_segments_survive_truncation_and_lost_ones_are_counted() {
    let dir = tempfile::tempdir().expect("temp");
    // Segments 1: {1, 2}, 2: {3, 4}, 3: {5, 6}, 4 (active): {7}.
    let log = write(dir.path(), &[1, 2, 3, 4, 5, 6, 7]);
    let from = TailPosition {
        segment: 2,
        offset: 0,
    };
    // Everything is below the watermark, but segments from 2 on are held.
    let truncation = log.truncate_below_keeping(100, 2).expect("truncate");
    assert_eq!(truncation.segments, 1);
    let read = log.read_from(from, u64::MAX).expect("read");
    assert_eq!(tail_seqs(&read), [3, 4, 5, 6, 7]);
    assert_eq!(read.skipped_segments, 0);
    // Without the hold they go; a reader still at segment 2 skips what is gone.
    log.truncate_below_keeping(6, u64::MAX).expect("truncate");
    let late = log.read_from(from, u64::MAX).expect("read");
    assert_eq!(tail_seqs(&late), [5, 6, 7]);
    assert_eq!(late.skipped_segments, 1);
}
