//! Every compile-time bound in tandem, each with the reason for its value.
//! Limits an operator may tune live in the config under the same names; the values
//! here are then their defaults or hard ceilings.

/// Default for `[server] request_body_bytes_max`: API and form bodies are small
/// (a PromQL query, a reload); ingest endpoints set their own, larger limits.
pub const REQUEST_BODY_BYTES_DEFAULT: usize = 1 << 20;

/// Ceiling for `[server] request_body_bytes_max`: a body is buffered in memory whole.
pub const REQUEST_BODY_BYTES_MAX: usize = 64 << 20;

/// Default `[storage] remote_write_body_bytes_max` (snappy-compressed). Senders batch
/// a few thousand samples per request (Prometheus 2.42: 500 per shard, vmagent up to
/// 8 MiB decoded), well under this.
pub const REMOTE_WRITE_BODY_BYTES_DEFAULT: usize = 16 << 20;

/// A remote_write body's decoded (protobuf) size; read from the snappy header and
/// refused before decompression, so a small body cannot expand into gigabytes.
pub const REMOTE_WRITE_DECODED_BYTES_MAX: usize = 128 << 20;

/// Series the remote_write receiver remembers (label bytes → ref), in two
/// generations of half this each; about 40 bytes per series.
pub const REMOTE_WRITE_CACHE_SERIES_MAX: usize = 1 << 20;

/// Refused series named in a remote_write error response; the rest are counted.
pub const REMOTE_WRITE_INVALID_LISTED_MAX: usize = 20;

/// A config file larger than this is a mistake (a log or a dump in the wrong place),
/// and all files are read into memory and kept in the config history.
pub const CONFIG_FILE_BYTES_MAX: usize = 4 << 20;

/// How many files one config directory may hold across all its subdirectories.
pub const CONFIG_FILES_MAX: usize = 2_000;

/// A bearer token shorter than this is guessable; 16 random characters are ~95 bits.
pub const TOKEN_BYTES_MIN: usize = 16;

/// A token file larger than this is not a token.
pub const TOKEN_FILE_BYTES_MAX: usize = 4096;

/// Successful basic-auth checks remembered, so that argon2 (deliberately slow) runs
/// once per credential and not once per request. Bounded against memory growth from
/// many distinct credentials; the cache is cleared when full.
pub const AUTH_CACHE_ENTRIES_MAX: usize = 1024;

/// Default for `[server] client_request_timeout`: a client on a healthy network sends
/// its request headers in milliseconds; five seconds tolerates a slow link.
pub const CLIENT_REQUEST_TIMEOUT_DEFAULT: std::time::Duration = std::time::Duration::from_secs(5);

/// Bounds for `[server] client_request_timeout`.
pub const CLIENT_REQUEST_TIMEOUT_MIN: std::time::Duration = std::time::Duration::from_millis(100);
pub const CLIENT_REQUEST_TIMEOUT_MAX: std::time::Duration = std::time::Duration::from_secs(600);

/// Grace given to in-flight requests at shutdown before connections are closed.
pub const SHUTDOWN_GRACE_SECS: u64 = 10;

/// Quiet time after the last change to a watched config file before reloading, so
/// that an editor's write-rename-chmod sequence causes one reload, not three.
pub const CONFIG_WATCH_DEBOUNCE_MS: u64 = 500;

/// Config versions listed on the config page; older ones stay in the database.
pub const CONFIG_HISTORY_PAGE_MAX: usize = 200;

/// Lines of a unified diff rendered on the config page; larger diffs are cut with a note.
pub const CONFIG_DIFF_LINES_MAX: usize = 20_000;

/// HTTP worker threads. Two is what the appliance's smallest host has in cores, and
/// page rendering and queries run on the blocking pool, not on these workers.
pub const HTTP_WORKERS: usize = 2;

/// Concurrent connections per worker. Bounds memory under a connection flood.
pub const HTTP_CONNECTIONS_PER_WORKER_MAX: usize = 1024;

/// Samples in one head chunk before it is sealed. 120 is Prometheus' figure: past it,
/// XOR compression gains little and a query touching the open chunk copies more.
pub const CHUNK_SAMPLES_MAX: usize = 120;

/// Time one chunk may span, so a slowly sampled series still seals and frees the WAL.
pub const CHUNK_SPAN_MS_MAX: i64 = 2 * 3600 * 1000;

/// Samples one append call may carry; larger imports are split by the caller. Bounds
/// the size of one WAL entry (about 10 bytes per sample).
pub const APPEND_BATCH_SAMPLES_MAX: usize = 1 << 20;

/// Rejections listed individually in one append outcome; the rest are only counted,
/// so a wholly bad million-line import does not build a million messages.
pub const APPEND_REJECTIONS_LISTED_MAX: usize = 100;

/// Chunks an offline import holds in memory before compacting them into blocks. At
/// ~1.4 bytes per sample this is ~190 M samples; more compactions make more, smaller
/// partial blocks per day, which the next compaction of that day merges.
pub const STAGED_BYTES_MAX: u64 = 256 << 20;

/// `tandem import` checks a file and stores it in one pass, holding everything in
/// memory until the file is known to be valid, when the file is at most this big
/// (~1.7 bytes of staged chunk per ~110-byte line: ~130 MiB of memory here). Larger
/// or compressed files are read twice: checked, then stored.
pub const IMPORT_SINGLE_PASS_FILE_BYTES_MAX: u64 = 8 << 30;

/// Size at which the active WAL segment is closed and the next one started. The WAL
/// is truncated by deleting whole segments, so this is the granularity at which disk
/// is freed: 50 000 series scraped every second write ~0.6 MB/s of WAL, so 16 MiB is
/// ~30 s against the ~2 minutes the WAL must keep until open chunks seal (≤ 1 segment
/// of disk held past the watermark). Smaller means more files and directory fsyncs.
pub const WAL_SEGMENT_BYTES_MAX: u64 = 16 << 20;

/// Size at which the hot chunk log's active segment is closed. Compaction moves and
/// deletes whole closed segments, so this and `HOT_SEGMENT_AGE_MAX` set how much data
/// one compaction handles: 50 000 series scraped every second seal ~14 MB of chunks
/// every two minutes.
pub const HOT_SEGMENT_BYTES_MAX: u64 = 64 << 20;

/// Age at which the hot chunk log's active segment is closed even when not full, so a
/// quiet instance's chunks still leave the hot window on time: data stays hot for at
/// most `[storage] hot_window` plus this plus a compaction interval.
pub const HOT_SEGMENT_AGE_MAX: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Largest WAL record (the entry of one append batch). Replay allocates a buffer of
/// the length read from disk, so the length is checked against this first. One batch
/// holds at most `APPEND_BATCH_SAMPLES_MAX` samples at ≤ 29 bytes each in an entry
/// (ref, count and delta varints, 8-byte value), plus the labels of the series it
/// creates; a larger entry is refused with an error rather than written.
pub const WAL_RECORD_BYTES_MAX: u64 = 256 << 20;

/// How often the WAL's background thread fdatasyncs the active segment when appends
/// made it dirty. Scraped and collected data (`Durability::Background`) must be on
/// disk within a second; half of that leaves room for the fsync itself.
pub const WAL_FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Seconds between storage checkpoints (new series to SQLite, WAL truncation). Short
/// enough that the WAL stays small, long enough that the checkpoint costs nothing.
pub const CHECKPOINT_INTERVAL_SECS: u64 = 10;

/// Compaction (and sealing of idle chunks) runs every this many checkpoints: a minute.
pub const COMPACTION_EVERY_CHECKPOINTS: u64 = 6;

/// Series listed per category in `/api/v1/status/tsdb`.
pub const TSDB_STATUS_TOP_MAX: usize = 10;

/// Default for `[[scrape]] body_bytes_max`: node_exporter answers ~100 KiB, a large
/// application a few MiB; the body is held in memory while it is parsed.
pub const SCRAPE_BODY_BYTES_DEFAULT: usize = 64 << 20;

/// Ceiling for `[[scrape]] body_bytes_max`.
pub const SCRAPE_BODY_BYTES_MAX: usize = 1 << 30;

/// Scrape timeout when the job sets none and its interval is longer (Prometheus' default).
pub const SCRAPE_TIMEOUT_DEFAULT: std::time::Duration = std::time::Duration::from_secs(10);

/// Shortest scrape interval: below it the scrape itself (connect, render, parse) is
/// a large share of the interval on any real exporter.
pub const SCRAPE_INTERVAL_MIN: std::time::Duration = std::time::Duration::from_millis(100);

/// A series unseen for this many scrapes of its target leaves the target's series
/// cache (it was marked stale the first scrape it was missing).
pub const SCRAPE_CACHE_SCRAPES_KEPT: u64 = 10;

/// A scrape within this many milliseconds of exactly one interval after the previous
/// one gets that exact timestamp (Prometheus' default tolerance is the same 2 ms).
pub const SCRAPE_TIMESTAMP_TOLERANCE_MS: i64 = 2;

/// Longest exposition line a scrape accepts: a series at every label limit
/// (64 labels of 256-byte names and 4 KiB values) is ~280 KiB. A longer line is a
/// broken or hostile exporter, and the scrape fails naming the line.
pub const SCRAPE_LINE_BYTES_MAX: usize = 512 * 1024;

/// How far past the scrape time an exposed timestamp may be. A sample from the future
/// becomes its series' newest, and every later sample would then be refused as out of
/// order: one bad exporter clock would silence the series. Beyond this the scrape
/// fails, naming the line (clock skew of minutes is tolerated).
pub const SCRAPE_TIMESTAMP_FUTURE_MS_MAX: i64 = 10 * 60 * 1000;

/// Targets over all scrape jobs: each runs a task and holds a series cache.
pub const SCRAPE_TARGETS_MAX: usize = 10_000;

/// Files matched by all `file_sd` patterns together: each is stat'ed at every refresh.
pub const FILE_SD_FILES_MAX: usize = 1_000;

/// Largest target file read: 10,000 targets with a few labels each fit in ~2 MiB.
pub const FILE_SD_FILE_BYTES_MAX: u64 = 4 << 20;

/// How often target files are checked for changes (Prometheus re-reads them every
/// 5 minutes besides watching; we only poll, so more often).
pub const FILE_SD_REFRESH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Dropped targets kept for `/api/v1/targets`, over all jobs (Prometheus keeps them
/// all unless `keep_dropped_targets`; they are only labels, but unbounded otherwise).
pub const SCRAPE_DROPPED_TARGETS_MAX: usize = SCRAPE_TARGETS_MAX;

/// Points one host collection may produce, over all families. A host with thousands
/// of mounts or interfaces (container hosts) stays far below it; beyond it, points are
/// dropped and counted as an error of the family that overflowed, so a runaway source
/// cannot flood storage with series.
pub const HOST_POINTS_MAX: usize = 100_000;

/// Bytes read of an hwmon sensor file: node_exporter reads at most 128 with one
/// `read(2)`, and a sensor value or label is shorter.
pub const HOST_SENSOR_FILE_BYTES_MAX: u64 = 128;

/// Bytes read of a /sys/class/net attribute: short numbers and MAC addresses (an
/// interface alias is at most 256), so a misbehaving driver cannot make us read much.
pub const HOST_SYSFS_ATTRIBUTE_BYTES_MAX: u64 = 4096;

/// Threads one range function may use to decode and evaluate its series: the
/// appliance's small hosts have 2–4 cores, and a query should not starve ingest.
pub const QUERY_THREADS_MAX: usize = 4;

/// Below this many series a range function runs on the calling thread: starting
/// threads costs more than it saves.
pub const QUERY_PARALLEL_SERIES_MIN: usize = 64;

const _: () = assert!(CHUNK_SAMPLES_MAX <= u16::MAX as usize);

const _: () = assert!(APPEND_BATCH_SAMPLES_MAX as u64 * 29 < WAL_RECORD_BYTES_MAX);
// The frame stores a record's length as a u32.
const _: () = assert!(WAL_RECORD_BYTES_MAX <= u32::MAX as u64);
const _: () = assert!(WAL_FLUSH_INTERVAL.as_millis() < 1_000);

const _: () = assert!(REQUEST_BODY_BYTES_DEFAULT <= REQUEST_BODY_BYTES_MAX);
const _: () = assert!(TOKEN_BYTES_MIN < TOKEN_FILE_BYTES_MAX);
