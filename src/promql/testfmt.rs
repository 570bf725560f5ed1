//! Reader for Prometheus' promqltest `.test` files: `load`, `clear` and `eval` commands.
//! Owns: splitting a file into `Command`s with 1-based line numbers, the series value
//! notation (`0+10x20`, `_x3`, `stale`), series label sets, Prometheus durations, and the
//! expectations of an `eval` (result lines, `expect` lines, legacy `eval_*` prefixes).
//! Does not: parse PromQL (expressions stay text), evaluate, compare results, or touch
//! storage. Native histogram values (`{{...}}`) are reported as unsupported, never guessed.
//! Limits: `SERIES_VALUES_MAX` expanded values per series line.
//!
//! The rules are those of `../shared/conformance/promql/FORMAT.md`, which summarises
//! Prometheus' runner `promql/promqltest/test.go`. Upstream stops at the first error in a
//! file; this reader keeps going, so that one bad block costs one `Command::Unsupported`
//! and the rest of the file still runs. The runner counts every `Unsupported` as a failure.

use std::sync::LazyLock;

use regex::Regex;

use crate::model::stale_nan;

/// Most values one series line may expand to. The corpus needs 10 001 (`0+1x10000`); the
/// bound keeps a typo such as `0x100000000` from allocating gigabytes.
pub const SERIES_VALUES_MAX: usize = 1 << 20;

/// A label set as written: sorted by name, names unique, empty values removed.
pub type LabelPairs = Vec<(String, String)>;

/// One command of a test file, in file order.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Load(Load),
    /// `clear`: drop everything loaded so far.
    Clear {
        line: usize,
    },
    Eval(Eval),
    /// A block this reader could not turn into a command: an unknown directive, a syntax
    /// error, or a feature it does not support (native histograms in an expected result).
    /// `text` is the block's first line; `error.line` is the offending line.
    Unsupported {
        line: usize,
        text: String,
        error: ParseError,
    },
}

impl Command {
    /// The 1-based line of the command's first line.
    pub fn line(&self) -> usize {
        match self {
            Command::Load(load) => load.line,
            Command::Clear { line } => *line,
            Command::Eval(eval) => eval.line,
            Command::Unsupported { line, .. } => *line,
        }
    }
}

/// `load <interval>` or `load_with_nhcb <interval>` and its series lines.
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    pub line: usize,
    /// Value k of every series sits at `k * interval_ms` after the epoch.
    pub interval_ms: i64,
    /// `load_with_nhcb`: upstream also synthesises a custom-bucket native histogram for each
    /// classic `_bucket`/`_count`/`_sum` family. Those series are not produced here.
    pub with_nhcb: bool,
    /// Float series, one per label set (a later line with the same labels replaces an
    /// earlier one, as upstream does).
    pub series: Vec<LoadSeries>,
    /// Series lines that were not loaded, with the reason (native histogram values).
    pub skipped: Vec<SkippedSeries>,
}

/// One series line of a `load` block.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadSeries {
    pub line: usize,
    pub labels: LabelPairs,
    /// One slot per interval; `None` is `_` (no sample). Stale markers are
    /// `f64::from_bits(STALE_NAN_BITS)`.
    pub values: Vec<Option<f64>>,
    /// From an `@st` line just before this one: per slot, the start timestamp as an offset
    /// from the sample's own timestamp, or `None` for no start timestamp.
    pub start_offsets_ms: Option<Vec<Option<i64>>>,
}

/// A sample to append, produced by `LoadSeries::points`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoadPoint {
    pub t_ms: i64,
    pub value: f64,
    /// Absolute start timestamp, when the series has an `@st` line and this slot has one.
    pub start_t_ms: Option<i64>,
}

impl LoadSeries {
    /// The samples of this series, skipping `_` slots.
    pub fn points(&self, interval_ms: i64) -> impl Iterator<Item = LoadPoint> + '_ {
        self.values
            .iter()
            .enumerate()
            .filter_map(move |(slot, value)| {
                let value = (*value)?;
                // `parse` checked that the last slot's timestamp fits in an i64.
                let t_ms = interval_ms.saturating_mul(slot as i64);
                let start_t_ms = self
                    .start_offsets_ms
                    .as_ref()
                    .and_then(|offsets| offsets.get(slot).copied().flatten())
                    .map(|offset_ms| t_ms.saturating_add(offset_ms));
                Some(LoadPoint {
                    t_ms,
                    value,
                    start_t_ms,
                })
            })
    }
}

/// A series line of a `load` block that was not loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct SkippedSeries {
    pub line: usize,
    pub labels: LabelPairs,
    pub reason: ErrorKind,
}

/// `eval instant at ...` or `eval range from ... to ... step ...`, with its body.
#[derive(Clone, Debug, PartialEq)]
pub struct Eval {
    pub line: usize,
    /// The PromQL expression, exactly as written after the header.
    pub expr: String,
    pub mode: EvalMode,
    /// `expect range vector from <t1> to <t2> step <s>`: the result is a range vector
    /// whose expected values sit at `t1, t1+s, ...`. As upstream, the evaluation time
    /// (`mode`) has already been replaced by `t2`.
    pub range_vector: Option<RangeVector>,
    /// `expect ordered` or `eval_ordered`: compare series in the listed order.
    pub ordered: bool,
    /// `expect fail|warn|no_warn|info|no_info` lines, and the legacy `eval_fail`,
    /// `eval_warn`, `eval_info` prefixes as `Expect`s with `MessageMatch::Any`.
    pub expects: Vec<Expect>,
    /// Expected series lines (none: an empty result is expected).
    pub expected_series: Vec<ExpectedSeries>,
    /// A bare number line: a scalar result is expected. Upstream prefers it over series.
    pub expected_scalar: Option<f64>,
    /// `expect string "..."`.
    pub expected_string: Option<String>,
}

impl Eval {
    /// The `expect fail` (or `eval_fail`) expectation, if any.
    pub fn expected_failure(&self) -> Option<&Expect> {
        self.expects
            .iter()
            .find(|expect| expect.kind == ExpectKind::Fail)
    }

    /// Upstream skips its extra range-mode run for range-vector and string results.
    pub fn excluded_from_range_check(&self) -> bool {
        self.range_vector.is_some() || self.expected_string.is_some()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalMode {
    Instant {
        at_ms: i64,
    },
    /// Evaluated at `start_ms, start_ms + step_ms, ...` up to and including `end_ms`.
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeVector {
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
}

/// One `expect` line (or legacy prefix).
#[derive(Clone, Debug, PartialEq)]
pub struct Expect {
    pub line: usize,
    pub kind: ExpectKind,
    pub message: MessageMatch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectKind {
    Fail,
    Warn,
    NoWarn,
    Info,
    NoInfo,
}

/// How an error or annotation text must look.
#[derive(Clone, Debug)]
pub enum MessageMatch {
    Any,
    /// `msg:` (trimmed); must equal the whole text.
    Exact(String),
    /// `regex:` (trimmed); an unanchored search, as Go's `MatchString`.
    Regex(Regex),
}

impl MessageMatch {
    pub fn matches(&self, text: &str) -> bool {
        match self {
            MessageMatch::Any => true,
            MessageMatch::Exact(expected) => expected == text,
            MessageMatch::Regex(regex) => regex.is_match(text),
        }
    }
}

impl PartialEq for MessageMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (MessageMatch::Any, MessageMatch::Any) => true,
            (MessageMatch::Exact(a), MessageMatch::Exact(b)) => a == b,
            (MessageMatch::Regex(a), MessageMatch::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

/// One expected series line of an `eval`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectedSeries {
    pub line: usize,
    /// 1-based position for `ordered` comparison, counted as upstream does: every body
    /// line except `expect <type>` lines takes a position.
    pub position: usize,
    pub labels: LabelPairs,
    /// One value for an instant eval; for range results one per step, `None` for `_`.
    pub values: Vec<Option<f64>>,
}

/// An error with the 1-based line it was found on.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    pub line: usize,
    pub kind: ErrorKind,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ErrorKind {
    #[error("unsupported: native histograms (a `{{{{...}}}}` value)")]
    NativeHistogram,
    #[error("invalid command {text:?}: expected `load`, `clear` or `eval`")]
    UnknownCommand { text: String },
    #[error("invalid load command {text:?}: expected `load[_with_nhcb] <interval>`")]
    InvalidLoad { text: String },
    #[error(
        "invalid eval command {text:?}: expected `eval[_fail|_warn|_ordered|_info] instant at <time> <expr>` or `eval[_fail|_warn|_info] range from <time> to <time> step <duration> <expr>`"
    )]
    InvalidEval { text: String },
    #[error("invalid duration {text:?}: {reason}")]
    InvalidDuration { text: String, reason: &'static str },
    #[error("end {end_ms} ms is before start {start_ms} ms")]
    EndBeforeStart { start_ms: i64, end_ms: i64 },
    #[error("invalid series description {text:?}: {reason}")]
    InvalidSeries { text: String, reason: String },
    #[error("invalid series value {item:?}: {reason}")]
    InvalidValue { item: String, reason: &'static str },
    #[error("series line expands to more than {limit} values")]
    TooManyValues { limit: usize },
    #[error("timestamps overflow: {count} values at an interval of {interval_ms} ms")]
    TimestampOverflow { count: usize, interval_ms: i64 },
    #[error(
        "expected one value per series in an instant eval, got {count} (use `expect range vector`)"
    )]
    MultipleValuesInInstant { count: usize },
    #[error("invalid expect line {text:?}: {reason}")]
    InvalidExpect { text: String, reason: &'static str },
    #[error("invalid regex {pattern:?}: {reason}")]
    InvalidRegex { pattern: String, reason: String },
    #[error("invalid string {text:?}: {reason}")]
    InvalidString { text: String, reason: &'static str },
    #[error("invalid @st line: {reason}")]
    InvalidStartTimestamps { reason: String },
}

/// Parses a whole test file. Never fails: problems become `Command::Unsupported`.
pub fn parse(text: &str) -> Vec<Command> {
    let lines = get_lines(text);
    let mut commands = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        if lines[index].is_empty() {
            index += 1;
            continue;
        }
        let (command, next) = parse_command(&lines, index);
        assert!(
            next > index,
            "BUG: command at line {} consumed no lines",
            index + 1
        );
        commands.push(command);
        index = next;
    }
    commands
}

/// Trimmed lines; a line starting with `#` is blank. There are no trailing comments.
fn get_lines(text: &str) -> Vec<&str> {
    text.split('\n')
        .map(|line| {
            let line = line.trim();
            if line.starts_with('#') { "" } else { line }
        })
        .collect()
}

/// The first blank line after `index`, where a command's body ends.
fn block_end(lines: &[&str], index: usize) -> usize {
    (index + 1..lines.len())
        .find(|&i| lines[i].is_empty())
        .unwrap_or(lines.len())
}

/// One command starting at `lines[index]`, and the index of the line after it.
fn parse_command(lines: &[&str], index: usize) -> (Command, usize) {
    let header = lines[index];
    // Upstream dispatches on the lower-cased first word, then matches case-sensitive
    // patterns, so `LOAD 5m` is an invalid load rather than an unknown command.
    let word = header
        .split([' ', '\t'])
        .next()
        .unwrap_or_default()
        .to_lowercase();
    let result = if word == "clear" {
        Ok((Command::Clear { line: index + 1 }, index + 1))
    } else if word.starts_with("load") {
        parse_load(lines, index).map(|(load, next)| (Command::Load(load), next))
    } else if word.starts_with("eval") {
        parse_eval(lines, index).map(|(eval, next)| (Command::Eval(eval), next))
    } else {
        Err(ParseError {
            line: index + 1,
            kind: ErrorKind::UnknownCommand {
                text: header.to_string(),
            },
        })
    };
    match result {
        Ok(parsed) => parsed,
        Err(error) => {
            let command = Command::Unsupported {
                line: index + 1,
                text: header.to_string(),
                error,
            };
            (command, block_end(lines, index))
        }
    }
}

/// Compiles one of upstream's header patterns. Go's `\s` is ASCII whitespace without
/// `\v`, Rust's is Unicode; spelling the class out keeps the patterns identical to
/// upstream's otherwise, so they can be compared by eye.
fn go_pattern(pattern: &str) -> Regex {
    Regex::new(&pattern.replace(r"\s", r"[\t\n\f\r ]"))
        .expect("BUG: a constant header pattern does not compile")
}

static LOAD_HEADER: LazyLock<Regex> =
    LazyLock::new(|| go_pattern(r"^load(?:_(with_nhcb))?\s+(.+?)$"));
static EVAL_INSTANT_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    go_pattern(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
});
static EVAL_RANGE_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    go_pattern(
        r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$",
    )
});
static EXPECT_LINE: LazyLock<Regex> = LazyLock::new(|| {
    go_pattern(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
});
static EXPECT_RANGE_LINE: LazyLock<Regex> =
    LazyLock::new(|| go_pattern(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$"));

// === load ===

/// An `@st` line waiting for the series line it describes.
struct PendingStart {
    line: usize,
    labels: LabelPairs,
    offsets_ms: Vec<Option<i64>>,
}

fn parse_load(lines: &[&str], index: usize) -> Result<(Load, usize), ParseError> {
    let line = index + 1;
    let header = lines[index];
    let captures = LOAD_HEADER.captures(header).ok_or_else(|| ParseError {
        line,
        kind: ErrorKind::InvalidLoad {
            text: header.to_string(),
        },
    })?;
    let interval_text = captures.get(2).map_or("", |m| m.as_str());
    let interval_ms = parse_duration_ms(interval_text).map_err(|kind| ParseError { line, kind })?;
    let mut load = Load {
        line,
        interval_ms,
        with_nhcb: captures.get(1).is_some(),
        series: Vec::new(),
        skipped: Vec::new(),
    };
    let mut pending = None;
    let mut next = index + 1;
    while next < lines.len() && !lines[next].is_empty() {
        load_line(&mut load, &mut pending, lines[next], next + 1)?;
        next += 1;
    }
    if let Some(pending) = pending {
        return Err(no_following_line(pending.line));
    }
    Ok((load, next))
}

fn no_following_line(line: usize) -> ParseError {
    ParseError {
        line,
        kind: ErrorKind::InvalidStartTimestamps {
            reason: "@st line has no following sample line".to_string(),
        },
    }
}

/// One body line of a `load` block: an `@st` line or a series line.
fn load_line(
    load: &mut Load,
    pending: &mut Option<PendingStart>,
    text: &str,
    line: usize,
) -> Result<(), ParseError> {
    let at = |kind| ParseError { line, kind };
    if is_start_timestamp_line(text) {
        if let Some(earlier) = pending {
            return Err(no_following_line(earlier.line));
        }
        let (labels, offsets_ms) = parse_start_timestamp_line(text).map_err(at)?;
        *pending = Some(PendingStart {
            line,
            labels,
            offsets_ms,
        });
        return Ok(());
    }
    let (labels, values_text) = parse_series_description(text).map_err(at)?;
    // A later line with the same labels replaces an earlier one (upstream keys a map by
    // the label hash), whether or not the later one can be loaded.
    load.series.retain(|series| series.labels != labels);
    let values = match expand_values(values_text) {
        Ok(values) => values,
        Err(reason @ ErrorKind::NativeHistogram) => {
            // The float series in the same block still load, so evals that do not touch
            // the histogram series can still pass.
            *pending = None;
            load.skipped.push(SkippedSeries {
                line,
                labels,
                reason,
            });
            return Ok(());
        }
        Err(kind) => return Err(at(kind)),
    };
    let start_offsets_ms = match pending.take() {
        None => None,
        Some(start) => Some(match_start_line(start, &labels, values.len())?),
    };
    check_timestamps_fit(values.len(), load.interval_ms).map_err(at)?;
    load.series.push(LoadSeries {
        line,
        labels,
        values,
        start_offsets_ms,
    });
    Ok(())
}

/// The `@st` line must name the same series and give one offset per value.
fn match_start_line(
    start: PendingStart,
    labels: &LabelPairs,
    count: usize,
) -> Result<Vec<Option<i64>>, ParseError> {
    let reason = if start.labels != *labels {
        "@st metric does not match the following sample line metric".to_string()
    } else if start.offsets_ms.len() != count {
        format!(
            "@st line has {} values but sample line has {count}",
            start.offsets_ms.len()
        )
    } else {
        return Ok(start.offsets_ms);
    };
    Err(ParseError {
        line: start.line,
        kind: ErrorKind::InvalidStartTimestamps { reason },
    })
}

fn check_timestamps_fit(count: usize, interval_ms: i64) -> Result<(), ErrorKind> {
    let last_slot = i64::try_from(count.saturating_sub(1)).unwrap_or(i64::MAX);
    match interval_ms.checked_mul(last_slot) {
        Some(_) => Ok(()),
        None => Err(ErrorKind::TimestampOverflow { count, interval_ms }),
    }
}

/// An `@st` line: its first word (up to a space or tab) ends in `@st`.
fn is_start_timestamp_line(text: &str) -> bool {
    match text.find([' ', '\t']) {
        Some(space) => text[..space].ends_with("@st"),
        None => false,
    }
}

/// `metric{labels}@st <sequence>`: the labels and one optional offset per value.
fn parse_start_timestamp_line(text: &str) -> Result<(LabelPairs, Vec<Option<i64>>), ErrorKind> {
    let invalid = |reason: String| ErrorKind::InvalidStartTimestamps { reason };
    let space = text
        .find([' ', '\t'])
        .ok_or_else(|| invalid("missing value sequence".to_string()))?;
    let metric = text[..space].strip_suffix("@st").unwrap_or(&text[..space]);
    let (labels, rest) = parse_series_description(metric)?;
    if !rest.is_empty() {
        return Err(invalid(format!("unexpected {rest:?} before @st")));
    }
    let mut offsets_ms = Vec::new();
    for item in text[space..].split_whitespace() {
        expand_start_item(item, &mut offsets_ms)
            .map_err(|reason| invalid(format!("invalid ST item {item:?}: {reason}")))?;
    }
    Ok((labels, offsets_ms))
}

/// One item of an `@st` sequence: `_`, `_xN` (N > 0 slots), `<dur>`, `<dur>xN` (N+1
/// slots), `<dur>+<dur>xN` or `<dur>-<dur>xN` (N+1 slots). Durations may be signed.
fn expand_start_item(item: &str, out: &mut Vec<Option<i64>>) -> Result<(), &'static str> {
    if item == "_" {
        return push_start_offsets(out, None, 0, 1);
    }
    if let Some(count) = item.strip_prefix("_x") {
        let count = parse_repeat_count(count).ok_or("invalid repeat count")?;
        if count == 0 {
            return Err("invalid repeat count");
        }
        return push_start_offsets(out, None, 0, count);
    }
    let (base_ms, rest) = parse_signed_duration_prefix(item)?;
    if rest.is_empty() {
        return push_start_offsets(out, Some(base_ms), 0, 1);
    }
    if let Some(count) = rest.strip_prefix('x') {
        let count = parse_repeat_count(count).ok_or("invalid repeat count")?;
        return push_start_offsets(out, Some(base_ms), 0, count.saturating_add(1));
    }
    let negative = match rest.as_bytes()[0] {
        b'+' => false,
        b'-' => true,
        _ => return Err("unexpected character after duration"),
    };
    let (delta_ms, rest) = parse_signed_duration_prefix(&rest[1..])?;
    let count = rest
        .strip_prefix('x')
        .ok_or("expected 'x<count>' after step duration")?;
    let count = parse_repeat_count(count).ok_or("invalid repeat count")?;
    let delta_ms = if negative { -delta_ms } else { delta_ms };
    push_start_offsets(out, Some(base_ms), delta_ms, count.saturating_add(1))
}

fn push_start_offsets(
    out: &mut Vec<Option<i64>>,
    first_ms: Option<i64>,
    delta_ms: i64,
    count: u64,
) -> Result<(), &'static str> {
    if count > (SERIES_VALUES_MAX - out.len()) as u64 {
        return Err("too many values");
    }
    let mut offset_ms = first_ms;
    for _ in 0..count {
        out.push(offset_ms);
        offset_ms = offset_ms.map(|ms| ms.saturating_add(delta_ms));
    }
    Ok(())
}

/// A signed one-unit duration (`-30s`, `1m`, `100ms`) at the start of `text`, in
/// milliseconds, and the rest. The unit stops before an `x`, which starts a count.
fn parse_signed_duration_prefix(text: &str) -> Result<(i64, &str), &'static str> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        Some(_) => (false, text),
        None => return Err("empty duration"),
    };
    let digits = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err("expected digits in duration");
    }
    let unit = unsigned[digits..]
        .bytes()
        .take_while(|b| b.is_ascii_alphabetic() && *b != b'x')
        .count();
    let milliseconds =
        parse_duration_ms(&unsigned[..digits + unit]).map_err(|_| "invalid duration")?;
    let rest = &unsigned[digits + unit..];
    Ok((
        if negative {
            -milliseconds
        } else {
            milliseconds
        },
        rest,
    ))
}

// === eval ===

fn parse_eval(lines: &[&str], index: usize) -> Result<(Eval, usize), ParseError> {
    let line = index + 1;
    let (mut eval, prefix) = parse_eval_header(lines[index], line)?;
    let legacy_fail = prefix == Some("fail");
    let legacy_kind = match prefix {
        Some("fail") => Some(ExpectKind::Fail),
        Some("warn") => Some(ExpectKind::Warn),
        Some("info") => Some(ExpectKind::Info),
        _ => None,
    };
    if let Some(kind) = legacy_kind {
        eval.expects.push(Expect {
            line,
            kind,
            message: MessageMatch::Any,
        });
    }
    eval.ordered = prefix == Some("ordered");
    // Upstream's position counter: starts at 1 and skips `expect <type>` lines.
    let mut position = 1;
    let mut next = index + 1;
    while next < lines.len() && !lines[next].is_empty() {
        let body_line = next + 1;
        next += 1;
        let step = eval_body_line(
            &mut eval,
            lines[next - 1],
            body_line,
            legacy_fail,
            &mut position,
        )
        .map_err(|kind| ParseError {
            line: body_line,
            kind,
        })?;
        if step == BodyStep::End {
            break;
        }
    }
    Ok((eval, next))
}

fn parse_eval_header(header: &str, line: usize) -> Result<(Eval, Option<&str>), ParseError> {
    let at = |kind| ParseError { line, kind };
    if let Some(captures) = EVAL_INSTANT_HEADER.captures(header) {
        // Without `at` the time is empty, which fails as a duration, as upstream.
        let at_text = captures.get(2).map_or("", |m| m.as_str());
        let at_ms = parse_duration_ms(at_text).map_err(at)?;
        let expr = captures.get(3).map_or("", |m| m.as_str());
        let prefix = captures.get(1).map(|m| m.as_str());
        return Ok((new_eval(line, expr, EvalMode::Instant { at_ms }), prefix));
    }
    if let Some(captures) = EVAL_RANGE_HEADER.captures(header) {
        let text = |group| captures.get(group).map_or("", |m: regex::Match| m.as_str());
        let (start_ms, end_ms, step_ms) =
            parse_time_range(text(2), text(3), text(4)).map_err(at)?;
        let mode = EvalMode::Range {
            start_ms,
            end_ms,
            step_ms,
        };
        let prefix = captures.get(1).map(|m| m.as_str());
        return Ok((new_eval(line, text(5), mode), prefix));
    }
    Err(at(ErrorKind::InvalidEval {
        text: header.to_string(),
    }))
}

fn new_eval(line: usize, expr: &str, mode: EvalMode) -> Eval {
    Eval {
        line,
        expr: expr.to_string(),
        mode,
        range_vector: None,
        ordered: false,
        expects: Vec::new(),
        expected_series: Vec::new(),
        expected_scalar: None,
        expected_string: None,
    }
}

/// `<from> <to> <step>` durations; `to` may not be before `from`.
fn parse_time_range(from: &str, to: &str, step: &str) -> Result<(i64, i64, i64), ErrorKind> {
    let start_ms = parse_duration_ms(from)?;
    let end_ms = parse_duration_ms(to)?;
    if end_ms < start_ms {
        return Err(ErrorKind::EndBeforeStart { start_ms, end_ms });
    }
    Ok((start_ms, end_ms, parse_duration_ms(step)?))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyStep {
    Continue,
    /// The line ends the body (a scalar, or a legacy failure message).
    End,
}

/// One body line of an `eval`, in upstream's order of checks.
fn eval_body_line(
    eval: &mut Eval,
    text: &str,
    line: usize,
    legacy_fail: bool,
    position: &mut usize,
) -> Result<BodyStep, ErrorKind> {
    if legacy_fail && let Some(message) = legacy_fail_message(text)? {
        if let Some(expect) = eval.expects.iter_mut().find(|e| e.kind == ExpectKind::Fail) {
            expect.message = message;
        }
        return Ok(BodyStep::End);
    }
    if text.starts_with("expect range vector") {
        let range_vector = parse_expect_range_vector(text)?;
        apply_range_vector(eval, range_vector);
        *position += 1;
        return Ok(BodyStep::Continue);
    }
    if text.starts_with("expect string") {
        eval.expected_string = Some(parse_expect_string(text)?);
        *position += 1;
        return Ok(BodyStep::Continue);
    }
    // Split on one space only, as upstream: `expect{}` is a series named `expect`.
    if text.split(' ').next() == Some("expect") {
        match parse_expect(text, line)? {
            Some(expect) => eval.expects.push(expect),
            None => eval.ordered = true,
        }
        return check_expects(&eval.expects, text).map(|()| BodyStep::Continue);
    }
    if let Some(value) = parse_go_number(text) {
        eval.expected_scalar = Some(value);
        return Ok(BodyStep::End);
    }
    let (labels, values) = parse_series_line(text)?;
    let instant = matches!(eval.mode, EvalMode::Instant { .. });
    if values.len() > 1 && instant && eval.range_vector.is_none() {
        return Err(ErrorKind::MultipleValuesInInstant {
            count: values.len(),
        });
    }
    // Two lines with the same labels: the last one wins, with its own position.
    eval.expected_series
        .retain(|series| series.labels != labels);
    eval.expected_series.push(ExpectedSeries {
        line,
        position: *position,
        labels,
        values,
    });
    *position += 1;
    Ok(BodyStep::Continue)
}

/// `expected_fail_message <text>` or `expected_fail_regexp <re>` after `eval_fail`.
fn legacy_fail_message(text: &str) -> Result<Option<MessageMatch>, ErrorKind> {
    if let Some(message) = text.strip_prefix("expected_fail_message") {
        let message = message.trim();
        // Upstream only compares a non-empty message.
        if message.is_empty() {
            return Ok(Some(MessageMatch::Any));
        }
        return Ok(Some(MessageMatch::Exact(message.to_string())));
    }
    if let Some(pattern) = text.strip_prefix("expected_fail_regexp") {
        return Ok(Some(MessageMatch::Regex(compile_regex(pattern.trim())?)));
    }
    Ok(None)
}

/// Upstream evaluates a range-vector instant query at the range's end, and an
/// `expect range vector` line in a range eval replaces the whole range.
fn apply_range_vector(eval: &mut Eval, range_vector: RangeVector) {
    eval.mode = match eval.mode {
        EvalMode::Instant { .. } => EvalMode::Instant {
            at_ms: range_vector.end_ms,
        },
        EvalMode::Range { .. } => EvalMode::Range {
            start_ms: range_vector.start_ms,
            end_ms: range_vector.end_ms,
            step_ms: range_vector.step_ms,
        },
    };
    eval.range_vector = Some(range_vector);
}

fn parse_expect_range_vector(text: &str) -> Result<RangeVector, ErrorKind> {
    let captures = EXPECT_RANGE_LINE
        .captures(text)
        .ok_or_else(|| ErrorKind::InvalidExpect {
            text: text.to_string(),
            reason: "expected `expect range vector from <time> to <time> step <duration>`",
        })?;
    let group = |index| captures.get(index).map_or("", |m: regex::Match| m.as_str());
    let (start_ms, end_ms, step_ms) = parse_time_range(group(1), group(2), group(3))?;
    Ok(RangeVector {
        start_ms,
        end_ms,
        step_ms,
    })
}

/// `expect string <Go-quoted string>`.
fn parse_expect_string(text: &str) -> Result<String, ErrorKind> {
    let invalid = |reason| ErrorKind::InvalidString {
        text: text.to_string(),
        reason,
    };
    // As upstream: only the exact prefix with one space is cut off.
    let quoted = text.strip_prefix("expect string ").unwrap_or(text);
    if text == "expect string" || quoted.is_empty() {
        return Err(invalid("a quoted string literal is required"));
    }
    go_unquote(quoted).map_err(invalid)
}

/// `expect <type> [msg: <text> | regex: <pattern>]`; `None` for `expect ordered`.
fn parse_expect(text: &str, line: usize) -> Result<Option<Expect>, ErrorKind> {
    let captures = EXPECT_LINE
        .captures(text)
        .ok_or_else(|| ErrorKind::InvalidExpect {
            text: text.to_string(),
            reason: "must match `expect <type> [msg|regex: <text>]` with type one of ordered, fail, warn, no_warn, info, no_info",
        })?;
    let kind = match captures.get(1).map_or("", |m| m.as_str()) {
        "fail" => ExpectKind::Fail,
        "warn" => ExpectKind::Warn,
        "no_warn" => ExpectKind::NoWarn,
        "info" => ExpectKind::Info,
        "no_info" => ExpectKind::NoInfo,
        _ => return Ok(None),
    };
    let operand = captures.get(3).map_or("", |m| m.as_str()).trim();
    let message = match captures.get(2).map(|m| m.as_str()) {
        Some("msg") => MessageMatch::Exact(operand.to_string()),
        Some(_) => MessageMatch::Regex(compile_regex(operand)?),
        None => MessageMatch::Any,
    };
    Ok(Some(Expect {
        line,
        kind,
        message,
    }))
}

/// Upstream's `validateExpectedCmds`.
fn check_expects(expects: &[Expect], text: &str) -> Result<(), ErrorKind> {
    let count = |kind| expects.iter().filter(|e| e.kind == kind).count();
    let reason = if count(ExpectKind::Info) > 0 && count(ExpectKind::NoInfo) > 0 {
        "info and no_info cannot be used together"
    } else if count(ExpectKind::Warn) > 0 && count(ExpectKind::NoWarn) > 0 {
        "warn and no_warn cannot be used together"
    } else if count(ExpectKind::Fail) > 1 {
        "multiple expect fail lines are not allowed"
    } else {
        return Ok(());
    };
    Err(ErrorKind::InvalidExpect {
        text: text.to_string(),
        reason,
    })
}

/// Upstream compiles with Go's `regexp`; the Rust syntax is close enough for the corpus.
fn compile_regex(pattern: &str) -> Result<Regex, ErrorKind> {
    Regex::new(pattern).map_err(|error| ErrorKind::InvalidRegex {
        pattern: pattern.to_string(),
        reason: error.to_string(),
    })
}

// === series lines ===

/// `metric{label="value", ...} <values>`: the label set and the expanded values.
pub fn parse_series_line(text: &str) -> Result<(LabelPairs, Vec<Option<f64>>), ErrorKind> {
    let (labels, values_text) = parse_series_description(text)?;
    Ok((labels, expand_values(values_text)?))
}

/// Metric names the series grammar does not accept: keywords that are not in upstream's
/// `metric_identifier` rule (`inf` and `nan` lex as numbers).
const RESERVED_METRIC_NAMES: [&str; 8] = [
    "atan2",
    "bool",
    "group_left",
    "group_right",
    "ignoring",
    "inf",
    "nan",
    "on",
];

/// The label set at the start of `text` and the rest (the values).
fn parse_series_description(text: &str) -> Result<(LabelPairs, &str), ErrorKind> {
    let invalid = |reason: &str| ErrorKind::InvalidSeries {
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let mut cursor = Cursor::new(text);
    let name = cursor.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(invalid("expected a metric name or `{`"));
    }
    if RESERVED_METRIC_NAMES.contains(&name.to_lowercase().as_str()) {
        return Err(invalid("the metric name is a reserved keyword"));
    }
    let mut pairs = match cursor.peek() {
        Some('{') => cursor.label_set().map_err(|reason| invalid(&reason))?,
        _ if name.is_empty() => return Err(invalid("expected a metric name or `{`")),
        _ => Vec::new(),
    };
    let rest = cursor.rest();
    if !rest.is_empty() && !rest.starts_with(is_series_space) {
        return Err(invalid("expected a space after the label set"));
    }
    if !name.is_empty() {
        // A name before the braces wins over a `__name__` inside them.
        pairs.retain(|(label, _)| label != "__name__");
        pairs.push(("__name__".to_string(), name.to_string()));
    }
    pairs.sort();
    if let Some(pair) = pairs.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(invalid(&format!("duplicate label name {:?}", pair[0].0)));
    }
    if pairs.iter().any(|(label, _)| label.is_empty()) {
        return Err(invalid("empty label name"));
    }
    // An empty value means "no such label" in Prometheus.
    pairs.retain(|(_, value)| !value.is_empty());
    Ok((pairs, rest))
}

/// Whitespace that separates series values (upstream lexer's `isSpace`).
fn is_series_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Expands a series value list: `1 2 3`, `0+10x5`, `1-2x4`, `5x3`, `_`, `_x3`, `stale`,
/// `Inf`, `NaN`. A `{{...}}` native histogram value gives `ErrorKind::NativeHistogram`.
pub fn expand_values(text: &str) -> Result<Vec<Option<f64>>, ErrorKind> {
    if text.contains("{{") {
        return Err(ErrorKind::NativeHistogram);
    }
    let mut values = Vec::new();
    for item in text.split(is_series_space).filter(|item| !item.is_empty()) {
        expand_item(item, &mut values)?;
    }
    Ok(values)
}

/// One space-separated item of a value list (upstream's `series_item` rule).
fn expand_item(item: &str, out: &mut Vec<Option<f64>>) -> Result<(), ErrorKind> {
    let invalid = |reason| ErrorKind::InvalidValue {
        item: item.to_string(),
        reason,
    };
    if let Some(rest) = item.strip_prefix('_') {
        // `_` is one missing slot, `_xN` is N of them (not N+1).
        let count = match rest.strip_prefix('x') {
            None if rest.is_empty() => 1,
            Some(count) => {
                parse_repeat_count(count).ok_or_else(|| invalid("invalid repeat count"))?
            }
            None => return Err(invalid("expected `_` or `_x<count>`")),
        };
        return push_values(out, None, 0.0, count);
    }
    let mut cursor = Cursor::new(item);
    let first = cursor
        .series_value()
        .ok_or_else(|| invalid("expected a number or `stale`"))?;
    if cursor.rest().is_empty() {
        return push_values(out, Some(first), 0.0, 1);
    }
    // `axN` and `a+bxN` are N+1 values: the first one is for time 0.
    let step = if cursor.eat('x') {
        0.0
    } else {
        let step = cursor.signed_number().ok_or_else(|| {
            invalid("expected `x<count>`, `+<step>x<count>` or `-<step>x<count>`")
        })?;
        if !cursor.eat('x') {
            return Err(invalid("expected `x<count>` after the step"));
        }
        step
    };
    let count = parse_repeat_count(cursor.rest()).ok_or_else(|| invalid("invalid repeat count"))?;
    push_values(out, Some(first), step, count.saturating_add(1))
}

/// Pushes `count` values starting at `first`, adding `step` after each one, as upstream
/// does (repeated addition, not `first + i * step`, so rounding matches).
fn push_values(
    out: &mut Vec<Option<f64>>,
    first: Option<f64>,
    step: f64,
    count: u64,
) -> Result<(), ErrorKind> {
    let room = SERIES_VALUES_MAX.saturating_sub(out.len());
    if count > room as u64 {
        return Err(ErrorKind::TooManyValues {
            limit: SERIES_VALUES_MAX,
        });
    }
    let mut value = first;
    for _ in 0..count {
        out.push(value);
        value = value.map(|v| v + step);
    }
    Ok(())
}

/// A repetition count: decimal digits only, as `strconv.ParseUint(s, 10, 64)`.
fn parse_repeat_count(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A cursor over one line, for the label-set and value grammars.
struct Cursor<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor { text, position: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.position..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn eat(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.position += expected.len_utf8();
            return true;
        }
        false
    }

    fn take_while(&mut self, mut keep: impl FnMut(char) -> bool) -> &'a str {
        let rest = self.rest();
        let length = rest.find(|c: char| !keep(c)).unwrap_or(rest.len());
        self.position += length;
        &rest[..length]
    }

    fn skip_spaces(&mut self) {
        self.take_while(is_series_space);
    }

    /// `{` items `}` with items `name="value"`, `"name"="value"` or `"metric name"`,
    /// separated by commas, with an optional trailing comma.
    fn label_set(&mut self) -> Result<LabelPairs, String> {
        let opened = self.eat('{');
        debug_assert!(opened, "BUG: label_set called away from a `{{`");
        let mut pairs = Vec::new();
        self.skip_spaces();
        if self.eat('}') {
            return Ok(pairs);
        }
        // Each round consumes at least one item, so the loop ends with the line.
        loop {
            self.skip_spaces();
            pairs.push(self.label_item()?);
            self.skip_spaces();
            if self.eat('}') {
                return Ok(pairs);
            }
            if !self.eat(',') {
                return Err("expected `,` or `}` in the label set".to_string());
            }
            self.skip_spaces();
            if self.eat('}') {
                return Ok(pairs);
            }
        }
    }

    fn label_item(&mut self) -> Result<(String, String), String> {
        let quoted = matches!(self.peek(), Some('"' | '\'' | '`'));
        let name = match self.peek() {
            _ if quoted => self.quoted()?,
            Some(c) if c.is_ascii_alphabetic() || c == '_' => self
                .take_while(|c| c.is_ascii_alphanumeric() || c == '_')
                .to_string(),
            _ => return Err("expected a label name or `}`".to_string()),
        };
        self.skip_spaces();
        if !self.eat('=') {
            // A quoted string alone is the metric name: `{"my.metric", a="b"}`.
            return match self.peek() {
                Some(',' | '}') if quoted => Ok(("__name__".to_string(), name)),
                _ => Err(format!("expected `=` after label {name:?}")),
            };
        }
        if self.peek() == Some('~') {
            return Err("only `=` is allowed in a series label set".to_string());
        }
        self.skip_spaces();
        match self.peek() {
            Some('"' | '\'' | '`') => Ok((name, self.quoted()?)),
            _ => Err(format!("expected a quoted value for label {name:?}")),
        }
    }

    /// A `"..."`, `'...'` or raw `` `...` `` string, unescaped as Prometheus does.
    fn quoted(&mut self) -> Result<String, String> {
        let Some(quote) = self.peek() else {
            return Err("expected a string".to_string());
        };
        self.position += quote.len_utf8();
        let body_start = self.position;
        let mut escaped = false;
        let end = self.rest().char_indices().find_map(|(offset, c)| {
            let found = !escaped && c == quote;
            escaped = !escaped && c == '\\' && quote != '`';
            found.then_some(offset)
        });
        let Some(end) = end else {
            return Err(format!("unterminated quoted string {quote}"));
        };
        let body = &self.text[body_start..body_start + end];
        self.position = body_start + end + quote.len_utf8();
        if quote == '`' {
            return Ok(body.to_string());
        }
        unescape(body, quote, false).map_err(|reason| format!("{reason} in {body:?}"))
    }

    /// `stale`, or a number with an optional sign (upstream's `series_value`).
    fn series_value(&mut self) -> Option<f64> {
        if self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            let word = self.word();
            if word == "stale" {
                return Some(stale_nan());
            }
            return keyword_number(word);
        }
        self.signed_number()
    }

    fn signed_number(&mut self) -> Option<f64> {
        if self.eat('+') {
            return self.number();
        }
        if self.eat('-') {
            return self.number().map(|value| -value);
        }
        self.number()
    }

    /// `Inf`, `NaN` (any case) or a decimal literal. Hexadecimal is off in series values:
    /// `0x5` is `0` repeated.
    fn number(&mut self) -> Option<f64> {
        match self.peek()? {
            c if c.is_ascii_alphabetic() => keyword_number(self.word()),
            c if c.is_ascii_digit() || c == '.' => {
                let start = self.position;
                let mut after_exponent = false;
                self.take_while(|c| {
                    let keep = c.is_ascii_digit()
                        || matches!(c, '.' | '_' | 'e' | 'E')
                        || (after_exponent && matches!(c, '+' | '-'));
                    after_exponent = matches!(c, 'e' | 'E');
                    keep
                });
                parse_go_number(&self.text[start..self.position])
            }
            _ => None,
        }
    }

    /// An identifier as upstream's lexer reads it (letters, digits, `_` and `:`), so that
    /// `Infx3` is one unknown word rather than `Inf` repeated.
    fn word(&mut self) -> &'a str {
        self.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
}

fn keyword_number(word: &str) -> Option<f64> {
    match word.to_lowercase().as_str() {
        "inf" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    }
}

// === strings ===

/// Go's `strconv.Unquote`, used for `expect string`.
fn go_unquote(text: &str) -> Result<String, &'static str> {
    let mut chars = text.chars();
    let (Some(first), Some(last)) = (chars.next(), chars.next_back()) else {
        return Err("a quoted string literal is required");
    };
    let body = chars.as_str();
    if first != last || !matches!(first, '"' | '\'' | '`') {
        return Err("check that the string is correctly quoted");
    }
    match first {
        '`' if body.contains('`') => Err("check that the string is correctly quoted"),
        '`' => Ok(body.replace('\r', "")),
        '\'' => {
            let value = unescape(body, '\'', true)?;
            if value.chars().count() != 1 {
                return Err("a single-quoted literal holds exactly one character");
            }
            Ok(value)
        }
        _ => unescape(body, '"', true),
    }
}

/// Resolves Go escapes in the body of a `quote`-quoted string, as Prometheus'
/// `strutil.Unquote` does. `\x` and octal escapes give bytes; the result must be UTF-8.
/// `strict` is Go's `strconv` (surrogates are errors) rather than Prometheus' copy of it
/// (surrogates become U+FFFD).
fn unescape(body: &str, quote: char, strict: bool) -> Result<String, &'static str> {
    let mut out = Vec::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == quote {
            return Err("unescaped quote");
        }
        if c != '\\' {
            let mut buffer = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            continue;
        }
        let escape = chars.next().ok_or("unterminated escape sequence")?;
        match escape {
            'a' => out.push(0x07),
            'b' => out.push(0x08),
            'f' => out.push(0x0c),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'v' => out.push(0x0b),
            '\\' => out.push(b'\\'),
            '\'' | '"' if escape == quote => out.push(escape as u8),
            'x' => {
                let value = escaped_number(&mut chars, 16, 2)?;
                out.push(u8::try_from(value).map_err(|_| "escape above 255")?);
            }
            '0'..='7' => {
                let high = escape.to_digit(8).ok_or("invalid escape sequence")?;
                let low = escaped_number(&mut chars, 8, 2)?;
                out.push(u8::try_from((high << 6) | low).map_err(|_| "octal escape above 255")?);
            }
            'u' | 'U' => {
                let digits = if escape == 'u' { 4 } else { 8 };
                let code = escaped_number(&mut chars, 16, digits)?;
                let c = match char::from_u32(code) {
                    Some(c) => c,
                    None if code > 0x10ffff || strict => return Err("invalid Unicode escape"),
                    None => char::REPLACEMENT_CHARACTER,
                };
                let mut buffer = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
            _ => return Err("unknown escape sequence"),
        }
    }
    String::from_utf8(out).map_err(|_| "escapes do not form valid UTF-8")
}

/// The value of `digits` digits in `radix`, read from `chars`.
fn escaped_number(
    chars: &mut std::str::Chars<'_>,
    radix: u32,
    digits: usize,
) -> Result<u32, &'static str> {
    let mut value: u32 = 0;
    for _ in 0..digits {
        let digit = chars
            .next()
            .and_then(|c| c.to_digit(radix))
            .ok_or("invalid escape sequence")?;
        value = value * radix + digit;
    }
    Ok(value)
}

// === numbers and durations ===

/// A number as upstream reads one (`strconv.ParseInt(s, 0, 64)`, then `ParseFloat`):
/// decimal, `0x`/`0o`/`0b` and leading-zero octal integers, `_` between digits, decimal
/// floats, and `Inf`/`Infinity`/`NaN` in any case. Hexadecimal floats (`0x1p-2`) are
/// not recognised; the corpus has none.
pub fn parse_go_number(text: &str) -> Option<f64> {
    if let Some(integer) = parse_go_int(text) {
        return Some(integer as f64);
    }
    parse_go_float(text)
}

fn parse_go_int(text: &str) -> Option<i64> {
    let (negative, unsigned) = split_sign(text);
    if !go_underscores_ok(unsigned) {
        return None;
    }
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits) = if lower.len() >= 3 && lower.starts_with("0x") {
        (16, &lower[2..])
    } else if lower.len() >= 3 && lower.starts_with("0o") {
        (8, &lower[2..])
    } else if lower.len() >= 3 && lower.starts_with("0b") {
        (2, &lower[2..])
    } else if lower.len() >= 2 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from(u64::from_str_radix(&digits, radix).ok()?);
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

fn parse_go_float(text: &str) -> Option<f64> {
    let (negative, unsigned) = split_sign(text);
    let lower = unsigned.to_ascii_lowercase();
    let magnitude = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        // Go accepts no sign before NaN.
        "nan" if unsigned.len() == text.len() => return Some(f64::NAN),
        _ => {
            let decimal = lower
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'e' | b'+' | b'-'));
            if !decimal || !go_underscores_ok(unsigned) {
                return None;
            }
            lower.replace('_', "").parse::<f64>().ok()?
        }
    };
    Some(if negative { -magnitude } else { magnitude })
}

fn split_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

/// Go's `underscoreOK`: an underscore only between digits (or after a base prefix).
fn go_underscores_ok(unsigned: &str) -> bool {
    let bytes = unsigned.as_bytes();
    let lower_prefix = bytes.get(1).map(u8::to_ascii_lowercase);
    let prefixed =
        bytes.len() >= 2 && bytes[0] == b'0' && matches!(lower_prefix, Some(b'b' | b'o' | b'x'));
    let hex = prefixed && lower_prefix == Some(b'x');
    // Last character class seen: b'^' start, b'0' digit, b'_' underscore, b'!' other.
    let mut saw = if prefixed { b'0' } else { b'^' };
    for &b in &bytes[if prefixed { 2 } else { 0 }..] {
        if b.is_ascii_digit() || (hex && b.is_ascii_hexdigit()) {
            saw = b'0';
        } else if b == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Prometheus duration syntax (`model.ParseDuration`): `<int><unit>` parts with units
/// `y w d h m s ms`, largest first and each at most once, or a bare `0`. No sign, no
/// fraction. A year is 365 days. Returns milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<i64, ErrorKind> {
    const UNITS_MS: [(&str, u128); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let invalid = |reason| ErrorKind::InvalidDuration {
        text: text.to_string(),
        reason,
    };
    match text {
        "0" => return Ok(0),
        "" => return Err(invalid("empty duration")),
        _ => {}
    }
    let mut rest = text;
    let mut total_ms: u128 = 0;
    let mut previous_unit = None;
    // Each round consumes at least one digit and one unit character.
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid("expected a number"));
        }
        let value: u128 = rest[..digits]
            .parse()
            .map_err(|_| invalid("number too large"))?;
        rest = &rest[digits..];
        let unit_length = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        let unit = &rest[..unit_length];
        rest = &rest[unit_length..];
        if unit.is_empty() {
            return Err(invalid("missing unit"));
        }
        let index = UNITS_MS
            .iter()
            .position(|(name, _)| *name == unit)
            .ok_or_else(|| invalid("unknown unit"))?;
        if previous_unit.is_some_and(|previous| index <= previous) {
            return Err(invalid(
                "units must go from largest to smallest, each at most once",
            ));
        }
        previous_unit = Some(index);
        // Go's time.Duration counts nanoseconds in an i64.
        total_ms = total_ms.saturating_add(value.saturating_mul(UNITS_MS[index].1));
        if total_ms.saturating_mul(1_000_000) > i64::MAX as u128 {
            return Err(invalid("duration out of range"));
        }
    }
    i64::try_from(total_ms).map_err(|_| invalid("duration out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::STALE_NAN_BITS;

    /// Values as text: `_` for missing, `stale`, else Rust's `{}` of the float.
    fn show(values: &[Option<f64>]) -> String {
        let shown: Vec<String> = values
            .iter()
            .map(|value| match value {
                None => "_".to_string(),
                Some(v) if v.to_bits() == STALE_NAN_BITS => "stale".to_string(),
                Some(v) => format!("{v}"),
            })
            .collect();
        shown.join(" ")
    }

    fn check_values(input: &str, expect: &str) {
        match expand_values(input) {
            Ok(values) => assert_eq!(show(&values), expect, "input {input:?}"),
            Err(error) => assert_eq!(format!("error: {error}"), expect, "input {input:?}"),
        }
    }

    #[test]
    fn value_notation() {
        check_values("", "");
        check_values("1 2 3", "1 2 3");
        check_values("0+10x5", "0 10 20 30 40 50");
        check_values("1-2x4", "1 -1 -3 -5 -7");
        check_values("-1-2x2", "-1 -3 -5");
        check_values(
            "-1+-2x2",
            "error: invalid series value \"-1+-2x2\": expected `x<count>`, `+<step>x<count>` or `-<step>x<count>`",
        );
        check_values("1x4", "1 1 1 1 1");
        check_values("5x0", "5");
        check_values("_", "_");
        check_values("_x3", "_ _ _");
        check_values("_x0", "");
        check_values("1 _ 3\t_x2  4", "1 _ 3 _ _ 4");
        check_values("stale", "stale");
        check_values("1 stale 2", "1 stale 2");
        check_values(
            "Inf -Inf +Inf inf INF NaN nan",
            "inf -inf inf inf inf NaN NaN",
        );
        check_values(
            "Infx2",
            "error: invalid series value \"Infx2\": expected a number or `stale`",
        );
        check_values("-Inf+1x1", "-inf -inf");
        check_values(
            ".5 1e3 1E+2 -1.5 1_000 2.5e-1",
            "0.5 1000 100 -1.5 1000 0.25",
        );
        check_values("1e-2x2", "0.01 0.01 0.01");
        // Hexadecimal is off in series values: `0x5` is 0 six times.
        check_values("0x5", "0 0 0 0 0 0");
        // Go reads a leading zero as octal.
        check_values("010 08 09.5", "8 8 9.5");
        check_values("0.1+0.1x2", "0.1 0.2 0.30000000000000004");
        check_values(
            "1+2",
            "error: invalid series value \"1+2\": expected `x<count>` after the step",
        );
        check_values(
            "1x",
            "error: invalid series value \"1x\": invalid repeat count",
        );
        check_values(
            "1x2.5",
            "error: invalid series value \"1x2.5\": invalid repeat count",
        );
        check_values(
            "1X3",
            "error: invalid series value \"1X3\": expected `x<count>`, `+<step>x<count>` or `-<step>x<count>`",
        );
        check_values(
            "x3",
            "error: invalid series value \"x3\": expected a number or `stale`",
        );
        check_values(
            "stalex2",
            "error: invalid series value \"stalex2\": expected a number or `stale`",
        );
        check_values(
            "Stale",
            "error: invalid series value \"Stale\": expected a number or `stale`",
        );
        check_values(
            "1__0",
            "error: invalid series value \"1__0\": expected a number or `stale`",
        );
        check_values(
            "_5",
            "error: invalid series value \"_5\": expected `_` or `_x<count>`",
        );
        check_values(
            "{{schema:0 sum:1 count:1}}",
            "error: unsupported: native histograms (a `{{...}}` value)",
        );
        check_values(
            "1 {{count:1}}x3",
            "error: unsupported: native histograms (a `{{...}}` value)",
        );
        check_values(
            "0x2000000",
            "error: series line expands to more than 1048576 values",
        );
        check_values(
            "_x99999999999999999999",
            "error: invalid series value \"_x99999999999999999999\": invalid repeat count",
        );
    }

    #[test]
    fn long_sequences_concatenate() {
        let values = expand_values("0+10x1000 100+30x1000").expect("valid values");
        assert_eq!(values.len(), 2002);
        assert_eq!(values[1000], Some(10_000.0));
        assert_eq!(values[1001], Some(100.0));
    }

    fn check_series(input: &str, expect: &str) {
        let shown = match parse_series_line(input) {
            Ok((labels, values)) => {
                let labels: Vec<String> =
                    labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
                format!("{{{}}} {}", labels.join(","), show(&values))
            }
            Err(error) => format!("error: {error}"),
        };
        assert_eq!(shown, expect, "input {input:?}");
    }

    #[test]
    fn series_lines() {
        check_series("metric 1 2", "{__name__=\"metric\"} 1 2");
        check_series("metric{a=\"b\"} 1", "{__name__=\"metric\",a=\"b\"} 1");
        check_series(
            "m{b=\"2\", a=\"1\"}\t1",
            "{__name__=\"m\",a=\"1\",b=\"2\"} 1",
        );
        check_series("{} 1", "{} 1");
        check_series("{}", "{} ");
        check_series("m{a=\"b\",} 1", "{__name__=\"m\",a=\"b\"} 1");
        check_series(
            "m{ a = \"b\" , c='d' } 1",
            "{__name__=\"m\",a=\"b\",c=\"d\"} 1",
        );
        check_series(
            "{\"my.metric\", a=\"b\"} 1",
            "{__name__=\"my.metric\",a=\"b\"} 1",
        );
        check_series("{\"ünï.cödé\"=\"ü\"} 1", "{ünï.cödé=\"ü\"} 1");
        check_series("name:with:colons 1", "{__name__=\"name:with:colons\"} 1");
        check_series("sum{on=\"x\"} 1", "{__name__=\"sum\",on=\"x\"} 1");
        check_series(
            r#"m{a="q\"uo\\te\n\x41\101\u00e9"} 1"#,
            "{__name__=\"m\",a=\"q\\\"uo\\\\te\\nAAé\"} 1",
        );
        check_series(r"m{a=`raw\d`} 1", "{__name__=\"m\",a=\"raw\\\\d\"} 1");
        // The name before the braces wins; empty values mean "no label".
        check_series("m{__name__=\"other\", a=\"\"} 1", "{__name__=\"m\"} 1");
        check_series(
            "m {a=\"b\"} 1",
            "error: invalid series value \"{a=\\\"b\\\"}\": expected a number or `stale`",
        );
        check_series(
            "m{a!=\"b\"} 1",
            "error: invalid series description \"m{a!=\\\"b\\\"} 1\": expected `=` after label \"a\"",
        );
        check_series(
            "m{a=~\"b\"} 1",
            "error: invalid series description \"m{a=~\\\"b\\\"} 1\": only `=` is allowed in a series label set",
        );
        check_series(
            "m{a=\"b\"}1",
            "error: invalid series description \"m{a=\\\"b\\\"}1\": expected a space after the label set",
        );
        check_series(
            "m{a=\"b\" 1",
            "error: invalid series description \"m{a=\\\"b\\\" 1\": expected `,` or `}` in the label set",
        );
        check_series(
            "m{a=\"b 1",
            "error: invalid series description \"m{a=\\\"b 1\": unterminated quoted string \"",
        );
        check_series(
            "m{a=\"b\",a=\"c\"} 1",
            "error: invalid series description \"m{a=\\\"b\\\",a=\\\"c\\\"} 1\": duplicate label name \"a\"",
        );
        check_series(
            "m{,} 1",
            "error: invalid series description \"m{,} 1\": expected a label name or `}`",
        );
        check_series(
            "m{a=\"\\q\"} 1",
            "error: invalid series description \"m{a=\\\"\\\\q\\\"} 1\": unknown escape sequence in \"\\\\q\"",
        );
        check_series(
            "on 1",
            "error: invalid series description \"on 1\": the metric name is a reserved keyword",
        );
        check_series(
            "1 2",
            "error: invalid series description \"1 2\": expected a metric name or `{`",
        );
    }

    #[test]
    fn durations() {
        let check = |input: &str, expect: Result<i64, &str>| {
            let got = parse_duration_ms(input).map_err(|e| e.to_string());
            assert_eq!(got, expect.map_err(str::to_string), "input {input:?}");
        };
        check("0", Ok(0));
        check("0s", Ok(0));
        check("5s", Ok(5_000));
        check("1m", Ok(60_000));
        check("1h30m", Ok(5_400_000));
        check("100ms", Ok(100));
        check("10s53ms", Ok(10_053));
        check("1d", Ok(86_400_000));
        check("1w", Ok(604_800_000));
        check("1y", Ok(31_536_000_000));
        check(
            "1y2w3d4h5m6s7ms",
            Ok(31_536_000_000 + 1_209_600_000 + 259_200_000 + 14_400_000 + 300_000 + 6_000 + 7),
        );
        check("", Err("invalid duration \"\": empty duration"));
        check("1.5m", Err("invalid duration \"1.5m\": unknown unit"));
        check("-1m", Err("invalid duration \"-1m\": expected a number"));
        check(
            "1m1h",
            Err(
                "invalid duration \"1m1h\": units must go from largest to smallest, each at most once",
            ),
        );
        check(
            "1m1m",
            Err(
                "invalid duration \"1m1m\": units must go from largest to smallest, each at most once",
            ),
        );
        check("5", Err("invalid duration \"5\": missing unit"));
        check("1x", Err("invalid duration \"1x\": unknown unit"));
        check(
            "300000y",
            Err("invalid duration \"300000y\": duration out of range"),
        );
    }

    #[test]
    fn go_numbers() {
        let check = |input: &str, expect: Option<f64>| {
            let got = parse_go_number(input);
            let same = match (got, expect) {
                (Some(a), Some(b)) => a == b || (a.is_nan() && b.is_nan()),
                (a, b) => a.is_none() && b.is_none(),
            };
            assert!(same, "input {input:?}: got {got:?}, expected {expect:?}");
        };
        check("1", Some(1.0));
        check("-2.5", Some(-2.5));
        check("0x10", Some(16.0));
        check("0o17", Some(15.0));
        check("0b101", Some(5.0));
        check("017", Some(15.0));
        check("019", Some(19.0));
        check("1_000", Some(1000.0));
        check("1e3", Some(1000.0));
        check("+Inf", Some(f64::INFINITY));
        check("-inf", Some(f64::NEG_INFINITY));
        check("Infinity", Some(f64::INFINITY));
        check("NaN", Some(f64::NAN));
        check("-NaN", None);
        check("1_", None);
        check("_1", None);
        check("0x", None);
        check("abc", None);
        check("1 2", None);
        check("{} 1", None);
    }

    /// The parsed file, summarised one command per line for comparison.
    fn summary(text: &str) -> String {
        let lines: Vec<String> = parse(text).iter().map(describe).collect();
        lines.join("\n")
    }

    fn describe(command: &Command) -> String {
        match command {
            Command::Clear { line } => format!("{line} clear"),
            Command::Unsupported { line, error, .. } => format!("{line} unsupported: {error}"),
            Command::Load(load) => {
                let mut text = format!(
                    "{} load {}ms nhcb={}",
                    load.line, load.interval_ms, load.with_nhcb
                );
                for series in &load.series {
                    let starts = match &series.start_offsets_ms {
                        Some(offsets) => format!(" @st{offsets:?}"),
                        None => String::new(),
                    };
                    text += &format!(
                        "\n  {} {:?} {}{starts}",
                        series.line,
                        series.labels,
                        show(&series.values)
                    );
                }
                for skipped in &load.skipped {
                    text += &format!(
                        "\n  {} skipped {:?}: {}",
                        skipped.line, skipped.labels, skipped.reason
                    );
                }
                text
            }
            Command::Eval(eval) => describe_eval(eval),
        }
    }

    fn describe_eval(eval: &Eval) -> String {
        let mut text = format!("{} eval {:?} {:?}", eval.line, eval.mode, eval.expr);
        if let Some(range) = eval.range_vector {
            text += &format!(" range_vector={range:?}");
        }
        if eval.ordered {
            text += " ordered";
        }
        for expect in &eval.expects {
            let message = match &expect.message {
                MessageMatch::Any => String::new(),
                MessageMatch::Exact(text) => format!(" msg={text:?}"),
                MessageMatch::Regex(regex) => format!(" regex={:?}", regex.as_str()),
            };
            text += &format!("\n  {} expect {:?}{message}", expect.line, expect.kind);
        }
        for series in &eval.expected_series {
            text += &format!(
                "\n  {} #{} {:?} {}",
                series.line,
                series.position,
                series.labels,
                show(&series.values)
            );
        }
        if let Some(value) = eval.expected_scalar {
            text += &format!("\n  scalar {value}");
        }
        if let Some(value) = &eval.expected_string {
            text += &format!("\n  string {value:?}");
        }
        text
    }

    fn check_file(input: &str, expect: &str) {
        let got = summary(input);
        assert_eq!(got.trim(), expect.trim(), "\n--- got ---\n{got}\n");
    }

    #[test]
    fn commands_and_bodies() {
        check_file(
            r#"
# A comment.
load 5m
  http_requests{job="api"} 0+10x2
  http_requests{job="api"} 1 2
	other _ stale

eval instant at 10m http_requests
  expect no_warn
  http_requests{job="api"} 2

eval range from 0 to 10m step 5m rate(http_requests[5m])
  expect warn msg: PromQL warning: something (1:1)
  expect info regex: \(\d+:\d+\)
  {job="api"} 1 _ 3

clear
eval instant at 0 1 + 1
  2
  this line starts a new command
"#,
            r#"
3 load 300000ms nhcb=false
  5 [("__name__", "http_requests"), ("job", "api")] 1 2
  6 [("__name__", "other")] _ stale
8 eval Instant { at_ms: 600000 } "http_requests"
  9 expect NoWarn
  10 #1 [("__name__", "http_requests"), ("job", "api")] 2
12 eval Range { start_ms: 0, end_ms: 600000, step_ms: 300000 } "rate(http_requests[5m])"
  13 expect Warn msg="PromQL warning: something (1:1)"
  14 expect Info regex="\\(\\d+:\\d+\\)"
  15 #1 [("job", "api")] 1 _ 3
17 clear
18 eval Instant { at_ms: 0 } "1 + 1"
  scalar 2
20 unsupported: line 20: invalid command "this line starts a new command": expected `load`, `clear` or `eval`
"#,
        );
    }

    #[test]
    fn legacy_prefixes_and_special_results() {
        check_file(
            r#"
eval_fail instant at 0 label_replace(overlap, "idx", "same", "idx", ".*")
  expected_fail_message vector cannot contain metrics with the same labelset

eval_fail instant at 0 x
  expected_fail_regexp same label(set)?

eval_ordered instant at 1m sort(x)
  x{a="1"} 1
  expect info
  x{a="2"} 2

eval_warn instant at 1m x

eval instant at 50m ("Foo")
	expect string `Foo`

eval instant at 50m " Foo "
    expect string " Foo "

eval instant at 1m some_metric[1m]
  expect range vector from 10s to 1m step 10s
  some_metric{env="a"} 2 3 4 5 6
"#,
            r#"
2 eval Instant { at_ms: 0 } "label_replace(overlap, \"idx\", \"same\", \"idx\", \".*\")"
  2 expect Fail msg="vector cannot contain metrics with the same labelset"
5 eval Instant { at_ms: 0 } "x"
  5 expect Fail regex="same label(set)?"
8 eval Instant { at_ms: 60000 } "sort(x)" ordered
  10 expect Info
  9 #1 [("__name__", "x"), ("a", "1")] 1
  11 #2 [("__name__", "x"), ("a", "2")] 2
13 eval Instant { at_ms: 60000 } "x"
  13 expect Warn
15 eval Instant { at_ms: 3000000 } "(\"Foo\")"
  string "Foo"
18 eval Instant { at_ms: 3000000 } "\" Foo \""
  string " Foo "
21 eval Instant { at_ms: 60000 } "some_metric[1m]" range_vector=RangeVector { start_ms: 10000, end_ms: 60000, step_ms: 10000 }
  23 #2 [("__name__", "some_metric"), ("env", "a")] 2 3 4 5 6
"#,
        );
    }

    #[test]
    fn errors_become_unsupported_commands() {
        check_file(
            r#"
eval instant at 1m x
  x 1 2

eval instant 1m x

eval range from 2m to 1m step 1m x

eval_ordered range from 0 to 1m step 1m x

LOAD 5m
  x 1

frobnicate 5m
  x 1

eval instant at 1m x
  expect warn
  expect no_warn

eval instant at 1m x
  expect sometimes

eval instant at 1m x
  expect string "unterminated

load 5m
  x 1 2 3
  y{ 1

eval instant at 1m x
  x{} {{schema:0 count:1}}
  x 1

eval instant at 1m x
  expect warn regex: (unclosed
"#,
            r#"
2 unsupported: line 3: expected one value per series in an instant eval, got 2 (use `expect range vector`)
5 unsupported: line 5: invalid eval command "eval instant 1m x": expected `eval[_fail|_warn|_ordered|_info] instant at <time> <expr>` or `eval[_fail|_warn|_info] range from <time> to <time> step <duration> <expr>`
7 unsupported: line 7: end 60000 ms is before start 120000 ms
9 unsupported: line 9: invalid eval command "eval_ordered range from 0 to 1m step 1m x": expected `eval[_fail|_warn|_ordered|_info] instant at <time> <expr>` or `eval[_fail|_warn|_info] range from <time> to <time> step <duration> <expr>`
11 unsupported: line 11: invalid load command "LOAD 5m": expected `load[_with_nhcb] <interval>`
14 unsupported: line 14: invalid command "frobnicate 5m": expected `load`, `clear` or `eval`
17 unsupported: line 19: invalid expect line "expect no_warn": warn and no_warn cannot be used together
21 unsupported: line 22: invalid expect line "expect sometimes": must match `expect <type> [msg|regex: <text>]` with type one of ordered, fail, warn, no_warn, info, no_info
24 unsupported: line 25: invalid string "expect string \"unterminated": check that the string is correctly quoted
27 unsupported: line 29: invalid series description "y{ 1": expected a label name or `}`
31 unsupported: line 32: unsupported: native histograms (a `{{...}}` value)
35 unsupported: line 36: invalid regex "(unclosed": regex parse error:
    (unclosed
    ^
error: unclosed group
"#,
        );
    }

    #[test]
    fn histogram_series_are_skipped_and_floats_still_load() {
        check_file(
            r#"
load_with_nhcb 5m
  http_requests{job="api"} 0+10x2
  http_requests_histogram{job="api"} {{schema:2 count:4 sum:10 buckets:[1 0 0 0 1 0 0 1 1]}}
  http_requests_histogram{job="api"}@st 0s
  http_requests_histogram{job="api"} {{count:1}}x2
"#,
            r#"
2 load 300000ms nhcb=true
  3 [("__name__", "http_requests"), ("job", "api")] 0 10 20
  4 skipped [("__name__", "http_requests_histogram"), ("job", "api")]: unsupported: native histograms (a `{{...}}` value)
  6 skipped [("__name__", "http_requests_histogram"), ("job", "api")]: unsupported: native histograms (a `{{...}}` value)
"#,
        );
    }

    #[test]
    fn start_timestamp_lines() {
        check_file(
            r#"
load 1m
  metric_total{a="b"}@st -30s-1mx2 _ 0s
  metric_total{a="b"} 1 2 3 4 5
  other@st _x2
  other 1 2

load 1m
  x@st 0s
  y 1

load 1m
  x@st 0s 0s
  x 1
"#,
            r#"
2 load 60000ms nhcb=false
  4 [("__name__", "metric_total"), ("a", "b")] 1 2 3 4 5 @st[Some(-30000), Some(-90000), Some(-150000), None, Some(0)]
  6 [("__name__", "other")] 1 2 @st[None, None]
8 unsupported: line 9: invalid @st line: @st metric does not match the following sample line metric
12 unsupported: line 13: invalid @st line: @st line has 2 values but sample line has 1
"#,
        );
        let Command::Load(load) = &parse("load 1m\n  m@st -30s 0s\n  m 5 _\n")[0] else {
            panic!("expected a load");
        };
        let points: Vec<LoadPoint> = load.series[0].points(load.interval_ms).collect();
        assert_eq!(
            points,
            vec![LoadPoint {
                t_ms: 0,
                value: 5.0,
                start_t_ms: Some(-30_000),
            }]
        );
    }

    #[test]
    fn points_skip_missing_slots() {
        let Command::Load(load) = &parse("load 10s\n  m 1 _ 3 stale\n")[0] else {
            panic!("expected a load");
        };
        let points: Vec<(i64, u64)> = load.series[0]
            .points(load.interval_ms)
            .map(|point| (point.t_ms, point.value.to_bits()))
            .collect();
        assert_eq!(
            points,
            vec![
                (0, 1f64.to_bits()),
                (20_000, 3f64.to_bits()),
                (30_000, STALE_NAN_BITS)
            ]
        );
    }

    /// Snippets copied verbatim from `../shared/conformance/promql/upstream` (Prometheus,
    /// Apache-2.0), so the test runs without `../shared`.
    #[test]
    fn upstream_snippets() {
        // staleness.test, lines 1-13.
        check_file(
            r#"load 10s
  metric 0 1 stale 2

# Instant vector doesn't return series when stale.
eval instant at 10s metric
  {__name__="metric"} 1

eval instant at 20s metric

eval instant at 30s metric
  {__name__="metric"} 2

eval instant at 40s metric
"#,
            r#"
1 load 10000ms nhcb=false
  2 [("__name__", "metric")] 0 1 stale 2
5 eval Instant { at_ms: 10000 } "metric"
  6 #1 [("__name__", "metric")] 1
8 eval Instant { at_ms: 20000 } "metric"
10 eval Instant { at_ms: 30000 } "metric"
  11 #1 [("__name__", "metric")] 2
13 eval Instant { at_ms: 40000 } "metric"
"#,
        );
        // literals.test, lines 1-12.
        check_file(
            r#"eval instant at 50m 12.34e6
	12340000

eval instant at 50m 12.34e+6
	12340000

eval instant at 50m 12.34e-6
	0.00001234

eval instant at 50m 1+1
	2

"#,
            r#"
1 eval Instant { at_ms: 3000000 } "12.34e6"
  scalar 12340000
4 eval Instant { at_ms: 3000000 } "12.34e+6"
  scalar 12340000
7 eval Instant { at_ms: 3000000 } "12.34e-6"
  scalar 0.00001234
10 eval Instant { at_ms: 3000000 } "1+1"
  scalar 2
"#,
        );
        // range_queries.test, lines 53-62.
        check_file(
            r#"clear

# short-circuit
load 30s
  foo{job="1"} 1+1x4
  bar{job="2"} 1+1x4

eval range from 0 to 2m step 1m foo > 2 or bar
  foo{job="1"} _ 3 5
  bar{job="2"} 1 3 5
"#,
            r#"
1 clear
4 load 30000ms nhcb=false
  5 [("__name__", "foo"), ("job", "1")] 1 2 3 4 5
  6 [("__name__", "bar"), ("job", "2")] 1 2 3 4 5
8 eval Range { start_ms: 0, end_ms: 120000, step_ms: 60000 } "foo > 2 or bar"
  9 #1 [("__name__", "foo"), ("job", "1")] _ 3 5
  10 #2 [("__name__", "bar"), ("job", "2")] 1 3 5
"#,
        );
        // start_timestamps.test, lines 1-11.
        check_file(
            r#"# Tests for rate(), irate() and increase() on cumulative.
load 1m
    cumulative{type="no_st"}              _ _ 0+60x14
    cumulative{type="st_resets"}@st       _ _ -30s-1mx2 -1m-1mx2 -59999ms-1mx2 -1s-1mx2 -1ms-1mx2
    cumulative{type="st_resets"}          _ _ 0+60x14
    cumulative{type="normalized_resets"}  _ _ 0 60 120 300 360 420 780 840 900 1440 1500 1560 2280 2340 2400

eval range from 7m to 15m step 1m increase(cumulative[5m])
    {type="no_st"}              300 300 300 300 300   300 300  300  300
    {type="st_resets"}          420 780 675 675 1275 1080 900 1725 1440
    {type="normalized_resets"}  420 780 675 675 1275  900 900 1725 1125
"#,
            r#"
2 load 60000ms nhcb=false
  3 [("__name__", "cumulative"), ("type", "no_st")] _ _ 0 60 120 180 240 300 360 420 480 540 600 660 720 780 840
  5 [("__name__", "cumulative"), ("type", "st_resets")] _ _ 0 60 120 180 240 300 360 420 480 540 600 660 720 780 840 @st[None, None, Some(-30000), Some(-90000), Some(-150000), Some(-60000), Some(-120000), Some(-180000), Some(-59999), Some(-119999), Some(-179999), Some(-1000), Some(-61000), Some(-121000), Some(-1), Some(-60001), Some(-120001)]
  6 [("__name__", "cumulative"), ("type", "normalized_resets")] _ _ 0 60 120 300 360 420 780 840 900 1440 1500 1560 2280 2340 2400
8 eval Range { start_ms: 420000, end_ms: 900000, step_ms: 60000 } "increase(cumulative[5m])"
  9 #1 [("type", "no_st")] 300 300 300 300 300 300 300 300 300
  10 #2 [("type", "st_resets")] 420 780 675 675 1275 1080 900 1725 1440
  11 #3 [("type", "normalized_resets")] 420 780 675 675 1275 900 900 1725 1125
"#,
        );
    }

    /// Parses every upstream file. Native histograms are the only thing allowed to be
    /// unsupported; the counts are printed for `--nocapture` runs.
    #[test]
    fn upstream_corpus_parses() {
        let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/conformance/promql/upstream");
        let Ok(entries) = std::fs::read_dir(&directory) else {
            println!("skipped: {} is absent", directory.display());
            return;
        };
        let mut paths: Vec<_> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|e| e == "test"))
            .collect();
        paths.sort();
        let mut totals = [0usize; 5];
        for path in &paths {
            let text = std::fs::read_to_string(path).expect("corpus files are UTF-8");
            let counts = count_kinds(path, &parse(&text));
            println!(
                "{}: load {} clear {} eval {} unsupported {} skipped-series {}",
                path.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                counts[0],
                counts[1],
                counts[2],
                counts[3],
                counts[4]
            );
            for (total, count) in totals.iter_mut().zip(counts) {
                *total += count;
            }
        }
        println!(
            "total: load {} clear {} eval {} unsupported {} skipped-series {}",
            totals[0], totals[1], totals[2], totals[3], totals[4]
        );
        assert_eq!(paths.len(), 21);
        // INVENTORY.md: 277 load + 33 load_with_nhcb, 231 clear, 2214 evals of which 254
        // have `{{` in their expected results.
        assert_eq!(totals[0], 310);
        assert_eq!(totals[1], 231);
        assert_eq!(totals[2] + totals[3], 2214);
        assert_eq!(totals[3], 254);
    }

    /// Commands by kind: load, clear, eval, unsupported (all of them evals with native
    /// histogram results), and the series skipped inside loads.
    fn count_kinds(path: &std::path::Path, commands: &[Command]) -> [usize; 5] {
        let mut counts = [0; 5];
        for command in commands {
            match command {
                Command::Load(load) => {
                    counts[0] += 1;
                    counts[4] += load.skipped.len();
                }
                Command::Clear { .. } => counts[1] += 1,
                Command::Eval(_) => counts[2] += 1,
                Command::Unsupported { error, text, .. } => {
                    assert_eq!(
                        error.kind,
                        ErrorKind::NativeHistogram,
                        "{}: {text}: {error}",
                        path.display()
                    );
                    assert!(text.starts_with("eval"), "{}: {text}", path.display());
                    counts[3] += 1;
                }
            }
        }
        counts
    }
}
