//! Streaming parser of the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0
//! text, one line at a time, borrowing from the line.
//! Owns: the syntax of both formats, metric-family bookkeeping across lines (HELP,
//! TYPE, UNIT, which sample names a family may have, `# EOF`), and error messages
//! with line and column.
//! Does not: read files or sockets (callers split the input into lines and bound its
//! size), validate reserved label names such as `__name__` (the caller does), or
//! keep samples: a `SampleLine` borrows the caller's line.
//! Limits: none of its own; memory is one reused buffer of label-name positions plus
//! the current family's name, and time is linear in the line length.
//!
//! Written by hand because no crate fits: `prometheus-parse` silently drops valid
//! input, and `openmetrics-parser` is LGPL and rejects valid Prometheus text.
//!
//! Speed matters: `tandem import` feeds multi-GB files through here at millions of
//! samples per second. So a sample line is validated in one pass without allocating,
//! and its labels are decoded only when the caller asks (`SampleLine::labels`), which
//! it does only when `SampleLine::series_key` misses its series cache.
//!
//! The rules follow Prometheus' own parsers (`model/textparse/promparse.go`,
//! `openmetricsparse.go`, and `expfmt/text_parse.go` in prometheus/common): lenient
//! where they are lenient, strict where they are strict, and where they disagree the
//! lenient reading that still means one thing. The OpenMetrics family rules
//! (counter suffixes, `le`, `quantile`) follow the reference parser in client_python,
//! except that families may interleave: time-major files, as written for
//! `promtool tsdb create-blocks-from openmetrics`, repeat every family per timestamp.

mod number;
mod sample;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use sample::{Escapes, Scanned, Span, unescape};
pub use sample::{LabelIter, SampleLine};

/// Where the series text of a sample line ends, for callers that cache series by
/// that text: after the label set's closing brace, or at the first blank when the
/// name has no label set (the value and timestamp hold neither). `None` for a line
/// with neither (a comment is the caller's to skip). One byte scan: this runs once per
/// scraped line, and `str::find` with a char set was 6 % of scrape CPU in `perf`.
pub fn series_key_end(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let first = memchr::memchr3(b' ', b'\t', b'{', bytes)?;
    if bytes[first] == b'{' {
        memchr::memrchr(b'}', bytes).map(|close| close + 1)
    } else {
        Some(first)
    }
}

/// Which text format a body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text exposition format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

/// The format a `Content-Type` header announces: OpenMetrics for
/// `application/openmetrics-text` (any parameters), Prometheus text otherwise,
/// which is also what scrapers assume when the header is missing.
pub fn detect_format(content_type: Option<&str>) -> Format {
    let media_type = content_type
        .and_then(|value| value.split(';').next())
        .unwrap_or("")
        .trim();
    if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

/// The type a `# TYPE` line declares; `untyped` in Prometheus text is `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    #[default]
    Unknown,
}

impl MetricType {
    /// The OpenMetrics spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    Sample(SampleLine<'a>),
    Help {
        family: Cow<'a, str>,
        text: Cow<'a, str>,
    },
    Type {
        family: Cow<'a, str>,
        metric_type: MetricType,
    },
    Unit {
        family: Cow<'a, str>,
        unit: &'a str,
    },
    /// Any other `#` line, and blank lines in Prometheus text.
    Comment,
    /// OpenMetrics `# EOF`.
    Eof,
}

/// A line that does not parse. `line` and `column` are 1-based; the column counts
/// characters, not bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}:{column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// An error inside one line, at a byte offset; `Parser` adds line and column.
#[derive(Debug)]
struct Fault {
    at: usize,
    message: String,
}

impl Fault {
    fn new(at: usize, message: impl Into<String>) -> Fault {
        Fault {
            at,
            message: message.into(),
        }
    }

    fn into_error(self, line_number: usize, line: &str) -> ParseError {
        let before = line.get(..self.at).unwrap_or(line);
        ParseError {
            line: line_number,
            column: before.chars().count() + 1,
            message: self.message,
        }
    }
}

/// Tokens quoted in messages are cut at this many characters: a multi-megabyte
/// garbage line must not become a multi-megabyte log line.
const QUOTED_CHARS_MAX: usize = 64;

/// `text` in double quotes with Rust's escaping, shortened to `QUOTED_CHARS_MAX`.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTED_CHARS_MAX) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
    }
}

/// The start of `text` up to the first blank or byte of `stops`.
fn token<'a>(text: &'a str, stops: &[u8]) -> &'a str {
    let end = text
        .bytes()
        .position(|b| b == b' ' || b == b'\t' || stops.contains(&b))
        .unwrap_or(text.len());
    text.get(..end).unwrap_or(text)
}

/// The character at byte offset `at`, for messages.
fn char_at(text: &str, at: usize) -> char {
    text.get(at..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or('\u{fffd}')
}

fn blanks_at(bytes: &[u8], from: usize) -> usize {
    bytes.get(from..).map_or(0, |rest| {
        rest.iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetadataKind {
    Help,
    Type,
    Unit,
}

impl MetadataKind {
    fn as_str(self) -> &'static str {
        match self {
            MetadataKind::Help => "HELP",
            MetadataKind::Type => "TYPE",
            MetadataKind::Unit => "UNIT",
        }
    }
}

/// The metric family the current lines belong to: the one named by the latest
/// metadata line, or, for samples without metadata, the sample's own name.
#[derive(Debug, Default)]
struct Family {
    name: String,
    metric_type: MetricType,
    /// Started by a metadata line, not by a sample.
    declared: bool,
    help_seen: bool,
    type_seen: bool,
    unit_seen: bool,
    samples_seen: bool,
}

impl Family {
    /// Reuses the name's buffer: families change every few lines in time-major
    /// imports, and this must not allocate each time.
    fn start(&mut self, name: &str, declared: bool) {
        debug_assert!(!name.is_empty(), "BUG: a metric family without a name");
        self.name.clear();
        self.name.push_str(name);
        self.metric_type = MetricType::Unknown;
        self.declared = declared;
        self.help_seen = false;
        self.type_seen = false;
        self.unit_seen = false;
        self.samples_seen = false;
    }

    fn seen(&mut self, kind: MetadataKind) -> &mut bool {
        match kind {
            MetadataKind::Help => &mut self.help_seen,
            MetadataKind::Type => &mut self.type_seen,
            MetadataKind::Unit => &mut self.unit_seen,
        }
    }
}

/// The suffixes a family's sample names may add to the family name. In OpenMetrics
/// these are the spec's (as client_python checks them); in Prometheus text, where
/// nothing is specified, every suffix any parser accepts, so that no valid body is
/// rejected.
fn family_suffixes(format: Format, metric_type: MetricType) -> &'static [&'static str] {
    match (format, metric_type) {
        (Format::OpenMetrics, MetricType::Counter) => &["_total", "_created"],
        (Format::OpenMetrics, MetricType::Summary) => &["", "_count", "_sum", "_created"],
        (Format::OpenMetrics, MetricType::Histogram) => &["_bucket", "_count", "_sum", "_created"],
        (Format::OpenMetrics, MetricType::GaugeHistogram) => &["_bucket", "_gcount", "_gsum"],
        (Format::OpenMetrics, MetricType::Info) => &["_info"],
        (Format::Text, MetricType::Counter) => &["", "_total", "_created"],
        (Format::Text, MetricType::Summary) => &["", "_count", "_sum", "_created"],
        (Format::Text, MetricType::Histogram | MetricType::GaugeHistogram) => &[
            "", "_bucket", "_count", "_sum", "_created", "_gcount", "_gsum",
        ],
        _ => &[""],
    }
}

/// The type word of a `# TYPE` line. Prometheus text: case-insensitive, and
/// `gaugehistogram` too, as prometheus/common's parser accepts. OpenMetrics: exact.
fn parse_metric_type(word: &str, format: Format) -> Option<MetricType> {
    let metric_type = match format {
        Format::Text => match word.to_ascii_lowercase().as_str() {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" | "gauge_histogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "untyped" => MetricType::Unknown,
            _ => return None,
        },
        Format::OpenMetrics => match word {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            "unknown" => MetricType::Unknown,
            _ => return None,
        },
    };
    Some(metric_type)
}

/// Parses a body line by line; keeps what spans lines (the line number, the current
/// metric family, whether `# EOF` was seen).
#[derive(Debug)]
pub struct Parser {
    format: Format,
    line_number: usize,
    eof_seen: bool,
    family: Family,
    /// Scratch for the duplicate-label check, reused by every line.
    label_names: Vec<Span>,
}

impl Parser {
    pub fn new(format: Format) -> Parser {
        Parser {
            format,
            line_number: 0,
            eof_seen: false,
            family: Family::default(),
            label_names: Vec::new(),
        }
    }

    /// Parses the next line, given without its `\n` (a trailing `\r` is ignored).
    /// Lines must come as `str::lines` yields them: an input ending in `\n` has no
    /// empty last line (in OpenMetrics one would be an error after `# EOF`).
    pub fn next_line<'a>(&mut self, line: &'a str) -> Result<Entry<'a>, ParseError> {
        self.line_number += 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        let entry = if self.eof_seen {
            Err(Fault::new(0, "unexpected line after \"# EOF\""))
        } else {
            match self.format {
                Format::Text => self.text_line(line),
                Format::OpenMetrics => self.open_metrics_line(line),
            }
        };
        entry.map_err(|fault| fault.into_error(self.line_number, line))
    }

    /// Call at the end of the input: OpenMetrics must have ended with `# EOF`.
    pub fn finish(&mut self) -> Result<(), ParseError> {
        if self.format == Format::OpenMetrics && !self.eof_seen {
            return Err(ParseError {
                line: self.line_number + 1,
                column: 1,
                message: "missing \"# EOF\" at the end of the input".to_string(),
            });
        }
        Ok(())
    }

    /// How many lines `next_line` and `skip_line` have seen.
    pub fn line_number(&self) -> usize {
        self.line_number
    }

    /// Fast path for importers that cache series: `line[..key_end]` (from
    /// `series_key_end`) is a key this parser returned for an earlier Text line (so
    /// its name and labels are already valid). Parses only the value and timestamp
    /// after it. `None` when the line is anything but `KEY <value> [<timestamp>]` in
    /// Text format; the caller then calls `next_line`, which gives the exact error for
    /// a bad line. Skipping the label scan was a third of import time. Family metadata
    /// state is not updated, which only matters for the order checks of `# TYPE` lines.
    pub fn next_known_sample(&mut self, line: &str, key_end: usize) -> Option<(f64, Option<i64>)> {
        if self.format != Format::Text {
            return None;
        }
        let rest = line.get(key_end..)?;
        let rest = rest.strip_suffix('\r').unwrap_or(rest);
        if !rest.starts_with([' ', '\t']) {
            return None;
        }
        let mut tokens = rest.split([' ', '\t']).filter(|token| !token.is_empty());
        let value = number::parse_float(tokens.next()?).ok()?;
        let timestamp = match tokens.next() {
            Some(token) => Some(number::parse_timestamp_ms(token).ok()?),
            None => None,
        };
        if tokens.next().is_some() {
            return None;
        }
        self.line_number += 1;
        Some((value, timestamp))
    }

    /// Counts a line the caller rejected before parsing (too long, not UTF-8), so
    /// that the line numbers of later errors still match the input.
    pub fn skip_line(&mut self) {
        self.line_number += 1;
    }

    fn text_line<'a>(&mut self, line: &'a str) -> Result<Entry<'a>, Fault> {
        // Prometheus skips blanks before any token, the first one included.
        let start = blanks_at(line.as_bytes(), 0);
        match line.as_bytes().get(start) {
            None => Ok(Entry::Comment),
            Some(b'#') => self.text_comment(line, start),
            Some(_) => self.sample(line, start),
        }
    }

    fn open_metrics_line<'a>(&mut self, line: &'a str) -> Result<Entry<'a>, Fault> {
        match line.as_bytes().first() {
            None => Err(Fault::new(0, "blank line: OpenMetrics allows none")),
            Some(b'#') => self.open_metrics_comment(line),
            Some(_) => self.sample(line, 0),
        }
    }

    /// `# HELP name text` and `# TYPE name type`, with any blanks between the words,
    /// as Prometheus reads them. Any other `#` line is a comment, `#HELP` and a
    /// lone `# HELP` included.
    fn text_comment<'a>(&mut self, line: &'a str, hash_at: usize) -> Result<Entry<'a>, Fault> {
        let bytes = line.as_bytes();
        let keyword_at = hash_at + 1 + blanks_at(bytes, hash_at + 1);
        if keyword_at == hash_at + 1 {
            return Ok(Entry::Comment);
        }
        let kind = match bytes.get(keyword_at..keyword_at + 4) {
            Some(b"HELP") => MetadataKind::Help,
            Some(b"TYPE") => MetadataKind::Type,
            _ => return Ok(Entry::Comment),
        };
        let blanks = blanks_at(bytes, keyword_at + 4);
        if blanks == 0 {
            return Ok(Entry::Comment);
        }
        let name_at = keyword_at + 4 + blanks;
        let (family, name_end) = self.family_name(line, name_at, kind)?;
        // One blank separates name and text; further ones belong to the text, as in
        // Prometheus.
        let text = line.get(name_end + 1..).unwrap_or("");
        match kind {
            MetadataKind::Type => {
                let word = text.trim_matches([' ', '\t']);
                let metric_type = self.metric_type(word, name_end + 1)?;
                self.note_metadata(kind, &family, name_at, Some(metric_type))?;
                Ok(Entry::Type {
                    family,
                    metric_type,
                })
            }
            _ => {
                self.note_metadata(kind, &family, name_at, None)?;
                Ok(Entry::Help {
                    family,
                    text: unescape(text, Escapes::Help),
                })
            }
        }
    }

    /// `# HELP`, `# TYPE`, `# UNIT` and `# EOF`, single spaces only. Other `#` lines
    /// are comments: OpenMetrics has none, but they mean nothing either, so they are
    /// let through rather than failing a whole body.
    fn open_metrics_comment<'a>(&mut self, line: &'a str) -> Result<Entry<'a>, Fault> {
        if line == "# EOF" {
            self.eof_seen = true;
            return Ok(Entry::Eof);
        }
        let kind = match line.get(..7) {
            Some("# HELP ") => MetadataKind::Help,
            Some("# TYPE ") => MetadataKind::Type,
            Some("# UNIT ") => MetadataKind::Unit,
            _ => return Ok(Entry::Comment),
        };
        let (family, name_end) = self.family_name(line, 7, kind)?;
        let text = line.get(name_end + 1..).unwrap_or("");
        match kind {
            MetadataKind::Help => {
                self.note_metadata(kind, &family, 7, None)?;
                Ok(Entry::Help {
                    family,
                    text: unescape(text, Escapes::Quoted),
                })
            }
            MetadataKind::Type => {
                let metric_type = self.metric_type(text, name_end + 1)?;
                self.note_metadata(kind, &family, 7, Some(metric_type))?;
                Ok(Entry::Type {
                    family,
                    metric_type,
                })
            }
            MetadataKind::Unit => {
                check_unit(&family, text, name_end + 1)?;
                self.note_metadata(kind, &family, 7, None)?;
                Ok(Entry::Unit { family, unit: text })
            }
        }
    }

    /// The family name of a metadata line at `at`, plain or quoted, and where it
    /// ends; what follows must be a blank (Prometheus text) or a space (OpenMetrics).
    fn family_name<'a>(
        &self,
        line: &'a str,
        at: usize,
        kind: MetadataKind,
    ) -> Result<(Cow<'a, str>, usize), Fault> {
        let bytes = line.as_bytes();
        let (name, end) = match bytes.get(at) {
            None => {
                return Err(Fault::new(
                    at,
                    format!("missing metric family name in {} line", kind.as_str()),
                ));
            }
            Some(b'"') => {
                let Some((close, _)) = sample::quoted_end(bytes, at + 1) else {
                    let text = quote(line.get(at..).unwrap_or(""));
                    return Err(Fault::new(at, format!("unterminated quoted string {text}")));
                };
                let name = unescape(line.get(at + 1..close).unwrap_or(""), Escapes::Quoted);
                if name.is_empty() {
                    return Err(Fault::new(at, "empty metric family name"));
                }
                (name, close + 1)
            }
            Some(_) => {
                let end = sample::metric_name_end(bytes, at);
                if end == at {
                    let name = token(line.get(at..).unwrap_or(""), &[]);
                    let message = if name.is_empty() {
                        format!(
                            "unexpected character {:?}: expected a metric family name",
                            char_at(line, at)
                        )
                    } else {
                        format!(
                            "invalid metric family name {}: must start with a letter, '_' or ':'",
                            quote(name)
                        )
                    };
                    return Err(Fault::new(at, message));
                }
                (Cow::Borrowed(line.get(at..end).unwrap_or("")), end)
            }
        };
        let separated = matches!(
            (self.format, bytes.get(end)),
            (_, None) | (_, Some(b' ')) | (Format::Text, Some(b'\t'))
        );
        if !separated {
            let c = char_at(line, end);
            return Err(Fault::new(
                end,
                format!(
                    "invalid character {c:?} after metric family name {}",
                    quote(&name)
                ),
            ));
        }
        Ok((name, end))
    }

    fn metric_type(&self, word: &str, at: usize) -> Result<MetricType, Fault> {
        if word.is_empty() {
            return Err(Fault::new(at, "missing metric type"));
        }
        parse_metric_type(word, self.format).ok_or_else(|| {
            let expected = match self.format {
                Format::Text => "counter, gauge, histogram, summary or untyped",
                Format::OpenMetrics => {
                    "counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown"
                }
            };
            Fault::new(
                at,
                format!("invalid metric type {}: expected {expected}", quote(word)),
            )
        })
    }

    /// Records a metadata line for `name`: a family has at most one line of each kind,
    /// and in OpenMetrics all of them precede its samples. Both hold per run of lines
    /// of one family, not per file: a later run may repeat the metadata, because
    /// concatenated scrapes (a common import file) do, and Prometheus accepts that.
    fn note_metadata(
        &mut self,
        kind: MetadataKind,
        name: &str,
        at: usize,
        metric_type: Option<MetricType>,
    ) -> Result<(), Fault> {
        let open_metrics = self.format == Format::OpenMetrics;
        let keyword = kind.as_str();
        if self.family.name == name {
            if *self.family.seen(kind) {
                return Err(Fault::new(
                    at,
                    format!("second {keyword} line for metric family {}", quote(name)),
                ));
            }
            if open_metrics && self.family.samples_seen {
                return Err(Fault::new(
                    at,
                    format!(
                        "{keyword} line for metric family {} after its samples",
                        quote(name)
                    ),
                ));
            }
        } else {
            // `a_total 1` then `# TYPE a counter`: the samples came first under their
            // own name, since no metadata had said they belong to `a`.
            let previous = &self.family;
            let samples_before = open_metrics && !previous.declared && previous.samples_seen;
            if let (true, Some(metric_type)) = (samples_before, metric_type) {
                let suffix = previous.name.strip_prefix(name);
                if suffix.is_some_and(|suffix| {
                    family_suffixes(self.format, metric_type).contains(&suffix)
                }) {
                    return Err(Fault::new(
                        at,
                        format!(
                            "{keyword} line for metric family {} after its samples",
                            quote(name)
                        ),
                    ));
                }
            }
            self.family.start(name, true);
        }
        *self.family.seen(kind) = true;
        if let Some(metric_type) = metric_type {
            self.family.metric_type = metric_type;
        }
        Ok(())
    }

    fn sample<'a>(&mut self, line: &'a str, start: usize) -> Result<Entry<'a>, Fault> {
        let scanned = sample::scan(line, start, self.format, &mut self.label_names)?;
        self.check_family(line, &scanned)?;
        Ok(Entry::Sample(scanned.sample))
    }

    /// Assigns the sample to the current family, or starts a new (undeclared) one
    /// named after it, and checks what the family's type requires of it.
    fn check_family(&mut self, line: &str, scanned: &Scanned<'_>) -> Result<(), Fault> {
        let name = scanned.sample.name();
        let family = &mut self.family;
        let suffixes = family_suffixes(self.format, family.metric_type);
        let suffix = match name.strip_prefix(family.name.as_str()) {
            Some(suffix) if suffixes.contains(&suffix) => suffix,
            // OpenMetrics: a counter, histogram or info family has no sample under
            // its bare name. Exporters that declare the full name
            // (`# TYPE x_total counter`) are let through, as Prometheus does.
            Some("") if self.format == Format::OpenMetrics => {
                if !suffixes.iter().any(|suffix| family.name.ends_with(suffix)) {
                    return Err(bare_family_name(scanned.series_at, family));
                }
                ""
            }
            _ => {
                family.start(&name, false);
                family.samples_seen = true;
                return Ok(());
            }
        };
        family.samples_seen = true;
        match (family.metric_type, suffix) {
            (MetricType::Histogram | MetricType::GaugeHistogram, "_bucket") => {
                check_bound(line, scanned, scanned.le, "le", "histogram bucket")
            }
            (MetricType::Summary, "") => check_bound(
                line,
                scanned,
                scanned.quantile,
                "quantile",
                "summary quantile",
            ),
            _ => Ok(()),
        }
    }
}

fn bare_family_name(at: usize, family: &Family) -> Fault {
    let names: Vec<String> = family_suffixes(Format::OpenMetrics, family.metric_type)
        .iter()
        .map(|suffix| quote(&format!("{}{suffix}", family.name)))
        .collect();
    let expected = match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    let (name, metric_type) = (quote(&family.name), family.metric_type.as_str());
    Fault::new(
        at,
        format!(
            "sample name {name} is not allowed in {metric_type} family {name}: expected {expected}"
        ),
    )
}

/// The `le` of a histogram bucket or the `quantile` of a summary sample: present, and
/// a float.
fn check_bound(
    line: &str,
    scanned: &Scanned<'_>,
    value: Option<Span>,
    label: &str,
    what: &str,
) -> Result<(), Fault> {
    let Some(value) = value else {
        let name = quote(&scanned.sample.name());
        return Err(Fault::new(
            scanned.series_at,
            format!("{what} {name} has no {label:?} label"),
        ));
    };
    let text = unescape(value.text(line), Escapes::Quoted);
    match number::parse_float(&text) {
        Ok(_) => Ok(()),
        Err(_) => Err(Fault::new(
            value.start,
            format!(
                "invalid {label:?} label value {}: expected a float",
                quote(&text)
            ),
        )),
    }
}

/// An OpenMetrics unit must end the family name, after an underscore.
fn check_unit(family: &str, unit: &str, at: usize) -> Result<(), Fault> {
    let suffix_ok = family
        .strip_suffix(unit)
        .is_some_and(|stem| stem.len() > 1 && stem.ends_with('_'));
    if unit.is_empty() || suffix_ok {
        return Ok(());
    }
    Err(Fault::new(
        at,
        format!(
            "unit {} is not a suffix of metric family name {}",
            quote(unit),
            quote(family)
        ),
    ))
}

/// Parses a whole body: every line, every error (parsing goes on after one). For
/// tests and small bodies; imports and scrapes use `Parser` line by line.
pub fn parse_str(text: &str, format: Format) -> (Vec<Entry<'_>>, Vec<ParseError>) {
    let mut parser = Parser::new(format);
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for line in text.split_terminator('\n') {
        match parser.next_line(line) {
            Ok(entry) => entries.push(entry),
            Err(error) => errors.push(error),
        }
    }
    if let Err(error) = parser.finish() {
        errors.push(error);
    }
    (entries, errors)
}
