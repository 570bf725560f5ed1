//! One sample line: scanning and validating it, and the zero-copy `SampleLine` the
//! caller reads it through.
//! Owns: the syntax of names, label sets, quoted strings, values, timestamps and
//! exemplars; label-name duplicate detection.
//! Does not: know about metric families or types (`Parser` checks those), or
//! allocate on the happy path: everything borrows from the line, and the one
//! buffer it needs (label-name spans for the duplicate check) belongs to the caller.

use std::borrow::Cow;

use super::number::{self, NumberError};
use super::{Fault, Format, char_at, quote, token};

const METRIC_START: u8 = 1;
const METRIC_CONTINUE: u8 = 2;
const LABEL_START: u8 = 4;
const LABEL_CONTINUE: u8 = 8;

/// Byte classes of `[a-zA-Z_:][a-zA-Z0-9_:]*` (metric names) and
/// `[a-zA-Z_][a-zA-Z0-9_]*` (label names), looked up once per byte.
static CLASSES: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let c = byte as u8;
        if c.is_ascii_alphabetic() || c == b'_' {
            table[byte] = METRIC_START | METRIC_CONTINUE | LABEL_START | LABEL_CONTINUE;
        } else if c == b':' {
            table[byte] = METRIC_START | METRIC_CONTINUE;
        } else if c.is_ascii_digit() {
            table[byte] = METRIC_CONTINUE | LABEL_CONTINUE;
        }
        byte += 1;
    }
    table
}

fn has_class(byte: u8, class: u8) -> bool {
    CLASSES[usize::from(byte)] & class != 0
}

/// End of the run of bytes of `class` starting at `from`.
fn class_end(bytes: &[u8], from: usize, class: u8) -> usize {
    bytes.get(from..).map_or(from, |rest| {
        from + rest.iter().take_while(|&&b| has_class(b, class)).count()
    })
}

pub(super) fn metric_name_end(bytes: &[u8], from: usize) -> usize {
    match bytes.get(from) {
        Some(&first) if has_class(first, METRIC_START) => {
            class_end(bytes, from + 1, METRIC_CONTINUE)
        }
        _ => from,
    }
}

fn is_blank(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// A byte range of the line; `escaped` when it holds a backslash, so that the
/// common case compares and borrows without decoding.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) escaped: bool,
}

impl Span {
    pub(super) fn text<'a>(&self, line: &'a str) -> &'a str {
        line.get(self.start..self.end).unwrap_or("")
    }
}

/// Index of the closing quote of a quoted string whose content starts at `from`, and
/// whether the content holds escapes. Any byte may follow a backslash, as in
/// Prometheus' lexer; unknown escapes are kept as written by `unescape`.
pub(super) fn quoted_end(bytes: &[u8], from: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    let mut pos = from;
    while let Some(&byte) = bytes.get(pos) {
        match byte {
            b'"' => return Some((pos, escaped)),
            b'\\' => {
                escaped = true;
                pos += 2;
            }
            _ => pos += 1,
        }
    }
    None
}

/// Which backslash escapes a piece of text knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Escapes {
    /// Quoted strings (label values, quoted names) and OpenMetrics HELP: `\\ \" \n`.
    Quoted,
    /// Prometheus text HELP: `\\ \n` only, so `\"` stays as written.
    Help,
}

/// `raw` with its escapes replaced; borrowed when there are none. Unknown escapes
/// (`\t`, `\x`) stay as written, which is what Prometheus stores for them.
pub(super) fn unescape(raw: &str, escapes: Escapes) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut text = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        let rest = chars.as_str();
        match rest.chars().next() {
            Some('\\') => text.push('\\'),
            Some('n') => text.push('\n'),
            Some('"') if escapes == Escapes::Quoted => text.push('"'),
            _ => {
                text.push('\\');
                continue;
            }
        }
        chars.next();
    }
    Cow::Owned(text)
}

/// The decoded bytes of a quoted string's content, for comparing names without
/// allocating. Agrees with `unescape(raw, Escapes::Quoted)`.
struct Decoded<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Iterator for Decoded<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.pos)?;
        self.pos += 1;
        if byte != b'\\' {
            return Some(byte);
        }
        let decoded = match self.bytes.get(self.pos) {
            Some(b'\\') => b'\\',
            Some(b'"') => b'"',
            Some(b'n') => b'\n',
            _ => return Some(b'\\'),
        };
        self.pos += 1;
        Some(decoded)
    }
}

fn decoded(line: &str, span: Span) -> Decoded<'_> {
    Decoded {
        bytes: span.text(line).as_bytes(),
        pos: 0,
    }
}

fn same_name(line: &str, a: Span, b: Span) -> bool {
    if a.escaped || b.escaped {
        decoded(line, a).eq(decoded(line, b))
    } else {
        a.text(line) == b.text(line)
    }
}

/// Up to this many labels, duplicates are found by comparing every pair: for the
/// usual handful of labels that is faster than sorting. Longer label sets are sorted
/// so that a hostile line with many labels stays O(n log n).
const PAIRWISE_LABELS_MAX: usize = 16;

/// Position of the first label name that repeats an earlier one.
fn find_duplicate(line: &str, names: &mut [Span]) -> Option<usize> {
    if names.len() <= PAIRWISE_LABELS_MAX {
        return (1..names.len())
            .find(|&i| {
                names[..i]
                    .iter()
                    .any(|&earlier| same_name(line, earlier, names[i]))
            })
            .map(|i| names[i].start);
    }
    names.sort_unstable_by(|a, b| {
        decoded(line, *a)
            .cmp(decoded(line, *b))
            .then(a.start.cmp(&b.start))
    });
    names
        .windows(2)
        .filter(|pair| same_name(line, pair[0], pair[1]))
        .map(|pair| pair[1].start)
        .min()
}

/// One sample line, borrowed from the input. Labels are validated when the line is
/// parsed but only decoded when `labels()` is called, so a caller that finds
/// `series_key()` in its cache never pays for them.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleLine<'a> {
    series_key: &'a str,
    name: &'a str,
    name_escaped: bool,
    label_set: &'a str,
    label_count: usize,
    value: f64,
    timestamp_ms: Option<i64>,
}

impl<'a> SampleLine<'a> {
    /// The exact input text of the metric name and label set, e.g. `up{job="a"}`.
    /// Identical series print identically, so this is the caller's cache key.
    pub fn series_key(&self) -> &'a str {
        self.series_key
    }

    /// The metric name, also when it is given as a quoted string in the braces.
    pub fn name(&self) -> Cow<'a, str> {
        if self.name_escaped {
            unescape(self.name, Escapes::Quoted)
        } else {
            Cow::Borrowed(self.name)
        }
    }

    /// The (name, value) pairs, unescaped, in input order, without the quoted metric
    /// name. Re-scans the already validated text.
    pub fn labels(&self) -> LabelIter<'a> {
        LabelIter {
            text: self.label_set,
            pos: 0,
        }
    }

    /// How many pairs `labels()` yields, known without decoding them.
    pub fn label_count(&self) -> usize {
        self.label_count
    }

    /// The sample value; NaN is `f64::NAN` (never a staleness marker).
    pub fn value(&self) -> f64 {
        self.value
    }

    /// Milliseconds since the epoch, if the line has a timestamp.
    pub fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp_ms
    }
}

/// The labels of a `SampleLine`; see `SampleLine::labels`.
#[derive(Debug, Clone)]
pub struct LabelIter<'a> {
    text: &'a str,
    pos: usize,
}

impl LabelIter<'_> {
    fn skip(&mut self, also: u8) {
        let bytes = self.text.as_bytes();
        while bytes
            .get(self.pos)
            .is_some_and(|&b| is_blank(b) || b == also)
        {
            self.pos += 1;
        }
    }
}

/// The content of the quoted string opening at `open`, and the position after it.
fn quoted_content(text: &str, open: usize) -> Option<(&str, usize)> {
    let (end, _) = quoted_end(text.as_bytes(), open + 1)?;
    Some((text.get(open + 1..end)?, end + 1))
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        // The text was validated, so the `None` exits below are never taken for text
        // from `Parser`; they keep the iterator total anyway.
        let text: &'a str = self.text;
        loop {
            self.skip(b',');
            let quoted_name = *text.as_bytes().get(self.pos)? == b'"';
            let name = if quoted_name {
                let (name, after) = quoted_content(text, self.pos)?;
                self.pos = after;
                name
            } else {
                let end = class_end(text.as_bytes(), self.pos, LABEL_CONTINUE);
                let name = text.get(self.pos..end).filter(|name| !name.is_empty());
                self.pos = if name.is_some() { end } else { text.len() };
                name?
            };
            self.skip(b' ');
            if text.as_bytes().get(self.pos) != Some(&b'=') {
                if quoted_name {
                    continue; // The quoted metric name, not a label.
                }
                self.pos = text.len();
                return None;
            }
            self.pos += 1;
            self.skip(b' ');
            let (value, after) = quoted_content(text, self.pos)?;
            self.pos = after;
            return Some((
                unescape(name, Escapes::Quoted),
                unescape(value, Escapes::Quoted),
            ));
        }
    }
}

/// What `scan` found besides the `SampleLine`: positions `Parser` needs for its
/// family checks and their error messages.
pub(super) struct Scanned<'a> {
    pub(super) sample: SampleLine<'a>,
    pub(super) series_at: usize,
    pub(super) le: Option<Span>,
    pub(super) quantile: Option<Span>,
}

#[derive(Debug, Default)]
struct LabelSet {
    content_start: usize,
    content_end: usize,
    count: usize,
    quoted_name: Option<Span>,
    le: Option<Span>,
    quantile: Option<Span>,
}

/// Scans the sample line `line` whose series starts at `start`. `names` is scratch
/// space for the duplicate-label check, kept by the caller so that it is allocated
/// once per parser and not once per line.
pub(super) fn scan<'a>(
    line: &'a str,
    start: usize,
    format: Format,
    names: &mut Vec<Span>,
) -> Result<Scanned<'a>, Fault> {
    let mut scanner = Scanner {
        line,
        bytes: line.as_bytes(),
        pos: start,
        format,
    };
    let (name, labels) = scanner.series(names)?;
    let series_key = line.get(start..scanner.pos).unwrap_or("");
    if let Some(at) = find_duplicate(line, names) {
        let name = quote(&unescape(token_name(line, at), Escapes::Quoted));
        return Err(Fault::new(at, format!("duplicate label name {name}")));
    }
    debug_assert!(!series_key.is_empty(), "BUG: empty series key in {line:?}");
    debug_assert!(
        labels.count == names.len(),
        "BUG: {} labels but {} names",
        labels.count,
        names.len()
    );
    let value = scanner.value(series_key)?;
    let timestamp_ms = scanner.timestamp_and_exemplar(names)?;
    let sample = SampleLine {
        series_key,
        name: name.text(line),
        name_escaped: name.escaped,
        label_set: line
            .get(labels.content_start..labels.content_end)
            .unwrap_or(""),
        label_count: labels.count,
        value,
        timestamp_ms,
    };
    Ok(Scanned {
        sample,
        series_at: start,
        le: labels.le,
        quantile: labels.quantile,
    })
}

/// The (raw) label name at `at`, for messages: quoted names end at their closing
/// quote, plain ones at the first byte that cannot be in a label name.
fn token_name(line: &str, at: usize) -> &str {
    let bytes = line.as_bytes();
    let quoted = at > 0 && bytes.get(at - 1) == Some(&b'"');
    let end = if quoted {
        quoted_end(bytes, at).map_or(line.len(), |(end, _)| end)
    } else {
        class_end(bytes, at, LABEL_CONTINUE)
    };
    line.get(at..end).unwrap_or("")
}

struct Scanner<'a> {
    line: &'a str,
    bytes: &'a [u8],
    pos: usize,
    format: Format,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Prometheus text allows spaces and tabs between all tokens; OpenMetrics allows
    /// none inside a label set, so there this does nothing.
    fn skip_blanks(&mut self) {
        if self.format == Format::Text {
            while self.peek().is_some_and(is_blank) {
                self.pos += 1;
            }
        }
    }

    fn rest(&self) -> &'a str {
        self.line.get(self.pos..).unwrap_or("")
    }

    /// The metric name and label set; leaves `pos` after the series.
    fn series(&mut self, names: &mut Vec<Span>) -> Result<(Span, LabelSet), Fault> {
        names.clear();
        let start = self.pos;
        if self.peek() == Some(b'{') {
            let labels = self.label_set(
                LabelContext::Series {
                    name_outside: false,
                },
                names,
            )?;
            let Some(name) = labels.quoted_name else {
                let key = self.line.get(start..self.pos).unwrap_or("");
                return Err(Fault::new(
                    start,
                    format!("missing metric name in {}", quote(key)),
                ));
            };
            return Ok((name, labels));
        }
        let end = metric_name_end(self.bytes, start);
        if end == start {
            return Err(self.bad_metric_name());
        }
        self.pos = end;
        let follows_name = match self.peek() {
            None | Some(b'{') => true,
            Some(byte) => byte == b' ' || (self.format == Format::Text && is_blank(byte)),
        };
        if !follows_name {
            let name = self.line.get(start..).map_or("", |rest| token(rest, b"{"));
            let c = char_at(self.line, end);
            return Err(Fault::new(
                end,
                format!("invalid character {c:?} in metric name {}", quote(name)),
            ));
        }
        let name = Span {
            start,
            end,
            escaped: false,
        };
        self.skip_blanks();
        if self.peek() != Some(b'{') {
            self.pos = end;
            return Ok((name, LabelSet::default()));
        }
        let labels = self.label_set(LabelContext::Series { name_outside: true }, names)?;
        Ok((name, labels))
    }

    fn bad_metric_name(&self) -> Fault {
        let name = token(self.rest(), b"{");
        if name.is_empty() {
            let c = char_at(self.line, self.pos);
            return Fault::new(
                self.pos,
                format!("unexpected character {c:?}: expected a metric name or '{{'"),
            );
        }
        Fault::new(
            self.pos,
            format!(
                "invalid metric name {}: must start with a letter, '_' or ':'",
                quote(name)
            ),
        )
    }

    /// A `{...}` label set starting at `pos`; leaves `pos` after the closing brace.
    fn label_set(
        &mut self,
        context: LabelContext,
        names: &mut Vec<Span>,
    ) -> Result<LabelSet, Fault> {
        let open = self.pos;
        self.pos += 1;
        let mut set = LabelSet {
            content_start: self.pos,
            ..LabelSet::default()
        };
        loop {
            self.skip_blanks();
            match self.peek() {
                None => return Err(self.unterminated_label_set(open)),
                Some(b'}') => {
                    set.content_end = self.pos;
                    self.pos += 1;
                    return Ok(set);
                }
                Some(_) => {}
            }
            let Some(name) = self.label_name(context, &mut set)? else {
                continue; // It was the quoted metric name.
            };
            let value = self.label_value(name)?;
            match name.text(self.line) {
                "le" => set.le = Some(value),
                "quantile" => set.quantile = Some(value),
                _ => {}
            }
            names.push(name);
            set.count += 1;
            self.label_separator(open, name)?;
        }
    }

    fn unterminated_label_set(&self, open: usize) -> Fault {
        Fault::new(
            self.pos,
            format!(
                "unterminated label set {}: expected '}}'",
                quote(self.line.get(open..).unwrap_or(""))
            ),
        )
    }

    /// A label name and its `=`; `None` for a quoted metric name (`{"name", ...}`).
    fn label_name(
        &mut self,
        context: LabelContext,
        set: &mut LabelSet,
    ) -> Result<Option<Span>, Fault> {
        let at = self.pos;
        let name = if self.peek() == Some(b'"') {
            let name = self.quoted()?;
            self.skip_blanks();
            if matches!(self.peek(), Some(b',' | b'}')) {
                self.quoted_metric_name(context, set, name, at)?;
                if self.peek() == Some(b',') {
                    self.pos += 1;
                }
                return Ok(None);
            }
            if name.start == name.end {
                return Err(Fault::new(at, "empty label name"));
            }
            name
        } else if self.peek().is_some_and(|byte| has_class(byte, LABEL_START)) {
            let end = class_end(self.bytes, at, LABEL_CONTINUE);
            self.pos = end;
            self.skip_blanks();
            let garbage_follows = self
                .bytes
                .get(end)
                .is_some_and(|&b| !is_blank(b) && !b"=,}\"".contains(&b));
            if garbage_follows {
                let name = token(self.line.get(at..).unwrap_or(""), b"=,}");
                let c = char_at(self.line, end);
                return Err(Fault::new(
                    end,
                    format!("invalid character {c:?} in label name {}", quote(name)),
                ));
            }
            Span {
                start: at,
                end,
                escaped: false,
            }
        } else {
            let name = token(self.rest(), b"=,}");
            if name.is_empty() {
                let c = char_at(self.line, at);
                return Err(Fault::new(
                    at,
                    format!("unexpected character {c:?} in label set: expected a label name"),
                ));
            }
            return Err(Fault::new(
                at,
                format!(
                    "invalid label name {}: must start with a letter or '_'",
                    quote(name)
                ),
            ));
        };
        if self.peek() != Some(b'=') {
            let label = quote(&unescape(name.text(self.line), Escapes::Quoted));
            return Err(self.expected(&format!("'=' after label name {label}")));
        }
        self.pos += 1;
        Ok(Some(name))
    }

    fn quoted_metric_name(
        &self,
        context: LabelContext,
        set: &mut LabelSet,
        name: Span,
        at: usize,
    ) -> Result<(), Fault> {
        let text = quote(&unescape(name.text(self.line), Escapes::Quoted));
        match context {
            LabelContext::Exemplar => Err(Fault::new(
                at,
                format!("expected '=' after label name {text}"),
            )),
            LabelContext::Series { name_outside } if name_outside || set.quoted_name.is_some() => {
                Err(Fault::new(
                    at,
                    format!("second metric name {text}: the series already has one"),
                ))
            }
            LabelContext::Series { .. } if name.start == name.end => {
                Err(Fault::new(at, "empty metric name"))
            }
            LabelContext::Series { .. } => {
                set.quoted_name = Some(name);
                Ok(())
            }
        }
    }

    fn label_value(&mut self, name: Span) -> Result<Span, Fault> {
        self.skip_blanks();
        if self.peek() != Some(b'"') {
            let label = quote(&unescape(name.text(self.line), Escapes::Quoted));
            return Err(self.expected(&format!("a quoted value for label {label}")));
        }
        self.quoted()
    }

    fn label_separator(&mut self, open: usize, name: Span) -> Result<(), Fault> {
        let before = self.pos;
        self.skip_blanks();
        match self.peek() {
            Some(b',') => self.pos += 1,
            Some(b'}') => {}
            None => return Err(self.unterminated_label_set(open)),
            // Prometheus' own text parser takes `{a="1" b="2"}`; so do we.
            Some(byte) if self.pos > before && (byte == b'"' || has_class(byte, LABEL_START)) => {}
            Some(_) => {
                let label = quote(&unescape(name.text(self.line), Escapes::Quoted));
                return Err(self.expected(&format!("',' or '}}' after the value of label {label}")));
            }
        }
        Ok(())
    }

    fn expected(&self, what: &str) -> Fault {
        match self
            .line
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
        {
            Some(c) => Fault::new(self.pos, format!("expected {what}, found {c:?}")),
            None => Fault::new(
                self.pos,
                format!("expected {what}, found the end of the line"),
            ),
        }
    }

    /// A quoted string at `pos`; returns its content and leaves `pos` after it.
    fn quoted(&mut self) -> Result<Span, Fault> {
        let open = self.pos;
        let Some((end, escaped)) = quoted_end(self.bytes, open + 1) else {
            let text = self.line.get(open..).unwrap_or("");
            return Err(Fault::new(
                open,
                format!("unterminated quoted string {}", quote(text)),
            ));
        };
        self.pos = end + 1;
        Ok(Span {
            start: open + 1,
            end,
            escaped,
        })
    }

    /// Moves past the one separator before a value or timestamp: any run of blanks in
    /// Prometheus text, exactly one space in OpenMetrics. False at the end of the line.
    fn separator(&mut self) -> Result<bool, Fault> {
        let before = self.pos;
        match self.format {
            Format::Text => {
                self.skip_blanks();
                Ok(self.peek().is_some())
            }
            Format::OpenMetrics => {
                if self.peek().is_none() {
                    return Ok(false);
                }
                if self.peek() != Some(b' ') {
                    return Err(self.expected("a space"));
                }
                self.pos += 1;
                match self.peek() {
                    Some(b' ') => Err(Fault::new(
                        before,
                        "expected a single space, found several (OpenMetrics allows one)",
                    )),
                    None => Err(Fault::new(
                        before,
                        "unexpected space at the end of the line",
                    )),
                    Some(_) => Ok(true),
                }
            }
        }
    }

    fn next_token(&mut self) -> &'a str {
        let separators: &[u8] = match self.format {
            Format::Text => b" \t",
            Format::OpenMetrics => b" ",
        };
        let start = self.pos;
        let text = token(self.rest(), separators);
        self.pos = start + text.len();
        text
    }

    fn value(&mut self, series_key: &str) -> Result<f64, Fault> {
        if !self.separator()? {
            return Err(Fault::new(
                self.pos,
                format!("missing value after {}", quote(series_key)),
            ));
        }
        let at = self.pos;
        let text = self.next_token();
        number::parse_float(text).map_err(|error| float_fault(at, "value", text, error))
    }

    /// The optional timestamp, and in OpenMetrics the optional exemplar after it.
    fn timestamp_and_exemplar(&mut self, names: &mut Vec<Span>) -> Result<Option<i64>, Fault> {
        if !self.separator()? {
            return Ok(None);
        }
        if self.peek() == Some(b'#') {
            self.exemplar(names)?;
            return Ok(None);
        }
        let at = self.pos;
        let text = self.next_token();
        let timestamp_ms = match self.format {
            Format::Text => number::parse_timestamp_ms(text).map_err(|error| match error {
                NumberError::Range => Fault::new(
                    at,
                    format!("invalid timestamp {}: out of range", quote(text)),
                ),
                _ => Fault::new(
                    at,
                    format!(
                        "invalid timestamp {}: expected an integer (milliseconds)",
                        quote(text)
                    ),
                ),
            })?,
            Format::OpenMetrics => number::parse_timestamp_secs(text)
                .map_err(|error| timestamp_fault(at, "timestamp", text, error))?,
        };
        if self.separator()? {
            if self.format == Format::OpenMetrics && self.peek() == Some(b'#') {
                self.exemplar(names)?;
            } else {
                return Err(Fault::new(
                    self.pos,
                    format!(
                        "unexpected text after the timestamp: {}",
                        quote(self.rest())
                    ),
                ));
            }
        }
        Ok(Some(timestamp_ms))
    }

    /// An OpenMetrics exemplar, `# {labels} value [timestamp]`: checked, then dropped.
    fn exemplar(&mut self, names: &mut Vec<Span>) -> Result<(), Fault> {
        if self.format == Format::Text {
            return Err(Fault::new(
                self.pos,
                format!(
                    "unexpected text {}: exemplars are only allowed in OpenMetrics",
                    quote(self.rest())
                ),
            ));
        }
        if !self.rest().starts_with("# {") {
            return Err(Fault::new(
                self.pos,
                format!("invalid exemplar {}: expected \"# {{\"", quote(self.rest())),
            ));
        }
        self.pos += 2;
        names.clear();
        self.label_set(LabelContext::Exemplar, names)?;
        if let Some(at) = find_duplicate(self.line, names) {
            let name = quote(&unescape(token_name(self.line, at), Escapes::Quoted));
            return Err(Fault::new(
                at,
                format!("duplicate label name {name} in exemplar"),
            ));
        }
        if !self.separator()? {
            return Err(Fault::new(self.pos, "missing exemplar value"));
        }
        let at = self.pos;
        let text = self.next_token();
        number::parse_float(text)
            .map_err(|error| float_fault(at, "exemplar value", text, error))?;
        if self.separator()? {
            let at = self.pos;
            let text = self.next_token();
            number::parse_timestamp_secs(text)
                .map_err(|error| timestamp_fault(at, "exemplar timestamp", text, error))?;
            if self.peek().is_some() {
                return Err(Fault::new(
                    self.pos,
                    format!("unexpected text after the exemplar: {}", quote(self.rest())),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum LabelContext {
    /// A sample's label set; `name_outside` when the metric name precedes the braces.
    Series { name_outside: bool },
    /// An exemplar's label set, where a quoted metric name is not allowed.
    Exemplar,
}

fn float_fault(at: usize, what: &str, text: &str, error: NumberError) -> Fault {
    match error {
        NumberError::Range => Fault::new(
            at,
            format!(
                "invalid {what} {}: out of range for a 64-bit float",
                quote(text)
            ),
        ),
        _ => Fault::new(
            at,
            format!("invalid {what} {}: expected a float", quote(text)),
        ),
    }
}

fn timestamp_fault(at: usize, what: &str, text: &str, error: NumberError) -> Fault {
    let why = match error {
        NumberError::Syntax => "expected a float (seconds)",
        NumberError::Range => "out of range",
        NumberError::NotFinite => "must be finite",
    };
    Fault::new(at, format!("invalid {what} {}: {why}", quote(text)))
}
