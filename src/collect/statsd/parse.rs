//! The statsd line protocol with DogStatsD's tags and multi-value lines.
//! Owns: splitting a packet into lines, the grammar of one line, sanitizing metric and
//! tag names to Prometheus' rules, and the reason a line is refused.
//! Does not: aggregate (`aggregate.rs`), know the config, or allocate for a valid line
//! whose tag names are already valid (tag names are `Cow`s borrowing the packet; the
//! metric name is sanitized when asked for, straight into the caller's buffer).
//!
//! Grammar of a line (lines are separated by `\n`; `\r` and surrounding ASCII
//! whitespace are trimmed; empty lines are skipped):
//!
//! ```text
//! line   = name ":" value *( ":" value ) "|" type *( "|" field )
//! type   = "c" / "g" / "ms" / "h" / "d" / "s"
//! field  = "@" rate / "#" tag *( "," tag ) / "c:" container-id / "T" unix-seconds
//! tag    = tag-name ":" tag-value
//! ```
//!
//! - Values are decimal floats (`1`, `-2.5`, `1e3`); `inf` and `nan` are refused. A
//!   gauge value written with a sign (`+3`, `-3`) is a delta to the gauge (Etsy
//!   statsd's rule; to set a gauge negative, set it to 0 first). Counter increments
//!   must not be negative (a Prometheus counter only goes up). A set's value is one
//!   member, any text (`name:1:2|s` is the member `1:2`); every other type takes
//!   several values separated by `:` (DogStatsD).
//! - `@rate`: a sample rate in (0, 1]; counters and timers/histograms scale by 1/rate,
//!   gauges and sets ignore it.
//! - Names: every character outside `[a-zA-Z0-9_]` becomes `_` (`api.requests-ok` →
//!   `api_requests_ok`), and a leading digit gets a `_` in front; statsd_exporter's
//!   rule. A name holding whitespace or control characters is refused instead: that is
//!   another protocol (Graphite's `name value time`) or a corrupted line, not a name.
//! - Tags: names sanitized like label names (`[a-zA-Z0-9_]`, `_` before a leading
//!   digit); values kept as written. A tag without `:value` (`#canary`) or with an
//!   empty name cannot be a label: it is skipped and counted (`tags_dropped`). A tag
//!   named twice, a name starting with `__` (reserved), `le` on a timer or histogram
//!   (its bucket label), or a NUL in a value refuses the line.
//! - `c:` (DogStatsD container id) and `T` (DogStatsD timestamp) fields are ignored:
//!   samples are aggregated and stored at the flush time. Any other field refuses the
//!   line.

use std::borrow::Cow;
use std::fmt;

/// A statsd metric type as written on the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// `c`
    Counter,
    /// `g`
    Gauge,
    /// `ms`: milliseconds, stored in seconds.
    Timer,
    /// `h`
    Histogram,
    /// `d` (DogStatsD distribution; a histogram here).
    Distribution,
    /// `s`
    Set,
}

/// One value of a line, checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// A counter increment, a gauge's new value, or a timer/histogram observation.
    Number(f64),
    /// `+N` or `-N` on a gauge.
    GaugeDelta(f64),
    /// A set member.
    Member(&'a str),
}

/// One DogStatsD tag, its name sanitized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag<'a> {
    pub name: Cow<'a, str>,
    pub value: &'a str,
}

/// One line, parsed and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Line<'a> {
    /// The name as written (checked; sanitized by `name` and `push_name`).
    raw_name: &'a str,
    pub metric_type: MetricType,
    /// In (0, 1]; 1 when absent.
    pub sample_rate: f64,
    /// Sorted by name, names unique.
    pub tags: Vec<Tag<'a>>,
    /// Tags skipped: without a value, or with an empty name.
    pub tags_dropped: u32,
    /// The value text (`1` or `1:2:3`), every value already checked.
    values: &'a str,
}

impl<'a> Line<'a> {
    /// The name sanitized to a valid Prometheus metric name.
    pub fn name(&self) -> Cow<'a, str> {
        if is_sanitized(self.raw_name, metric_name_byte) {
            Cow::Borrowed(self.raw_name)
        } else {
            let mut name = String::with_capacity(self.raw_name.len() + 1);
            push_sanitized(self.raw_name, metric_name_byte, &mut name);
            Cow::Owned(name)
        }
    }

    /// Appends `name()` to `out` without allocating.
    pub fn push_name(&self, out: &mut String) {
        push_sanitized(self.raw_name, metric_name_byte, out);
    }

    /// The line's values (one, or several with DogStatsD's `name:1:2:3|type`).
    pub fn values(&self) -> impl Iterator<Item = Value<'a>> + use<'a> {
        let metric_type = self.metric_type;
        split_values(self.values, metric_type).filter_map(move |text| value(text, metric_type).ok())
    }

    /// How many values the line holds.
    pub fn value_count(&self) -> usize {
        split_values(self.values, self.metric_type).count()
    }
}

/// Why a line (or a packet) was refused: the `reason` label of
/// `tandem_statsd_lines_rejected_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The line is not valid UTF-8.
    Utf8,
    /// Not `name:value|type`.
    Parse,
    /// Missing or unknown type.
    Type,
    /// A value that is not a finite number, or a negative counter increment.
    Value,
    /// A sample rate outside (0, 1] or not a number.
    SampleRate,
    /// An empty name, or one with whitespace or control characters.
    Name,
    /// A tag that cannot be a label (see the module doc).
    Tags,
    /// A packet longer than `[statsd] packet_bytes_max` (counted once per packet).
    TooLarge,
    /// A metric sent with another type than before (counted once per line).
    TypeConflict,
}

impl Reason {
    /// Every reason, in the order self-measurement reports them.
    pub const ALL: [Reason; 9] = [
        Reason::Utf8,
        Reason::Parse,
        Reason::Type,
        Reason::Value,
        Reason::SampleRate,
        Reason::Name,
        Reason::Tags,
        Reason::TooLarge,
        Reason::TypeConflict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Utf8 => "utf8",
            Reason::Parse => "parse",
            Reason::Type => "type",
            Reason::Value => "value",
            Reason::SampleRate => "sample_rate",
            Reason::Name => "name",
            Reason::Tags => "tags",
            Reason::TooLarge => "too_large",
            Reason::TypeConflict => "type_conflict",
        }
    }

    /// Position in `ALL`.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A refused line: why, and the line itself (shown shortened and lossily decoded).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("statsd line {}: {detail}", Excerpt(self.line))]
pub struct LineError<'a> {
    pub reason: Reason,
    pub detail: &'static str,
    pub line: &'a [u8],
}

/// At most this many bytes of a refused line are shown in its error.
const EXCERPT_BYTES_MAX: usize = 120;

/// A line quoted for an error message: lossy UTF-8, at most `EXCERPT_BYTES_MAX` bytes.
struct Excerpt<'a>(&'a [u8]);

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        let cut = &self.0[..self.0.len().min(EXCERPT_BYTES_MAX)];
        let text = String::from_utf8_lossy(cut);
        if cut.len() < self.0.len() {
            write!(formatter, "{text:?}...")
        } else {
            write!(formatter, "{text:?}")
        }
    }
}

/// The lines of a packet, each parsed or refused; empty lines are skipped.
pub fn parse_packet(packet: &[u8]) -> impl Iterator<Item = Result<Line<'_>, LineError<'_>>> {
    packet
        .split(|&byte| byte == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty())
        .map(parse_line)
}

/// Parses one line (without its `\n`).
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, LineError<'_>> {
    let error = |reason, detail| LineError {
        reason,
        detail,
        line,
    };
    let text = std::str::from_utf8(line).map_err(|_| error(Reason::Utf8, "not valid UTF-8"))?;
    let Some((head, rest)) = text.split_once('|') else {
        return Err(if text.contains(':') {
            error(Reason::Type, "missing |type (e.g. |c)")
        } else {
            error(Reason::Parse, "expected name:value|type")
        });
    };
    let Some((raw_name, values)) = head.split_once(':') else {
        return Err(error(
            Reason::Parse,
            "missing ':' between the name and the value",
        ));
    };
    check_metric_name(raw_name).map_err(|detail| error(Reason::Name, detail))?;
    let mut fields = rest.split('|');
    let metric_type = match fields.next().unwrap_or_default() {
        "c" => MetricType::Counter,
        "g" => MetricType::Gauge,
        "ms" => MetricType::Timer,
        "h" => MetricType::Histogram,
        "d" => MetricType::Distribution,
        "s" => MetricType::Set,
        "" => return Err(error(Reason::Type, "missing type after '|'")),
        _ => {
            return Err(error(
                Reason::Type,
                "unknown type (expected c, g, ms, h, d or s)",
            ));
        }
    };
    let mut sample_rate = None;
    let mut tag_text = None;
    for field in fields {
        if let Some(rate) = field.strip_prefix('@') {
            if sample_rate.is_some() {
                return Err(error(Reason::SampleRate, "two sample rates"));
            }
            match rate.parse::<f64>() {
                Ok(rate) if rate > 0.0 && rate <= 1.0 => sample_rate = Some(rate),
                _ => {
                    return Err(error(
                        Reason::SampleRate,
                        "sample rate must be a number in (0, 1]",
                    ));
                }
            }
        } else if let Some(tags) = field.strip_prefix('#') {
            if tag_text.is_some() {
                return Err(error(Reason::Tags, "two tag fields"));
            }
            tag_text = Some(tags);
        } else if field.starts_with("c:")
            || field.strip_prefix('T').is_some_and(|seconds| {
                !seconds.is_empty() && seconds.bytes().all(|byte| byte.is_ascii_digit())
            })
        {
            // DogStatsD container id and timestamp: see the module doc.
        } else {
            return Err(error(Reason::Parse, "unknown field after the type"));
        }
    }
    for text in split_values(values, metric_type) {
        value(text, metric_type).map_err(|detail| error(Reason::Value, detail))?;
    }
    let (tags, tags_dropped) = match tag_text {
        Some(text) => {
            parse_tags(text, metric_type).map_err(|detail| error(Reason::Tags, detail))?
        }
        None => (Vec::new(), 0),
    };
    Ok(Line {
        raw_name,
        metric_type,
        sample_rate: sample_rate.unwrap_or(1.0),
        tags,
        tags_dropped,
        values,
    })
}

/// The value texts of a line: split at `:`, except a set's one member, which may hold
/// `:` itself (`host:port`).
fn split_values(values: &str, metric_type: MetricType) -> impl Iterator<Item = &str> {
    let (values, separator) = match metric_type {
        // A line holds no `\n`: the whole text is one piece.
        MetricType::Set => (values, '\n'),
        _ => (values, ':'),
    };
    values.split(separator)
}

/// Checks one value of a line of type `metric_type`.
fn value(text: &str, metric_type: MetricType) -> Result<Value<'_>, &'static str> {
    if text.is_empty() {
        return Err("empty value");
    }
    if metric_type == MetricType::Set {
        return Ok(Value::Member(text));
    }
    let number: f64 = text.parse().map_err(|_| "value is not a number")?;
    if !number.is_finite() {
        return Err("value must be finite");
    }
    match metric_type {
        MetricType::Gauge if text.starts_with(['+', '-']) => Ok(Value::GaugeDelta(number)),
        MetricType::Counter if number < 0.0 => Err("counter increments must not be negative"),
        _ => Ok(Value::Number(number)),
    }
}

/// Whether `raw` can be a metric name once sanitized: see the module doc.
fn check_metric_name(raw: &str) -> Result<(), &'static str> {
    if raw.is_empty() {
        return Err("empty name");
    }
    let refused = if raw.is_ascii() {
        raw.bytes()
            .any(|byte| byte.is_ascii_whitespace() || byte.is_ascii_control() || byte == b' ')
    } else {
        raw.chars()
            .any(|character| character.is_whitespace() || character.is_control())
    };
    if refused {
        return Err("the name holds whitespace or control characters");
    }
    Ok(())
}

/// A byte a metric name keeps (`:` cannot occur: it ends the name).
fn metric_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Whether `raw` is unchanged by sanitizing with `valid`.
fn is_sanitized(raw: &str, valid: impl Fn(u8) -> bool) -> bool {
    !raw.as_bytes().first().is_some_and(u8::is_ascii_digit) && raw.bytes().all(valid)
}

/// Appends `raw` with every character that `valid` refuses replaced by `_`, and `_`
/// before a leading digit. `valid` sees ASCII bytes; every non-ASCII character is
/// replaced as a whole.
fn push_sanitized(raw: &str, valid: impl Fn(u8) -> bool, out: &mut String) {
    if raw.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        out.push('_');
    }
    if raw.bytes().all(&valid) {
        out.push_str(raw);
        return;
    }
    for character in raw.chars() {
        if character.is_ascii() && valid(character as u8) {
            out.push(character);
        } else {
            out.push('_');
        }
    }
}

/// `raw` sanitized (see `push_sanitized`); borrowed when nothing changes.
fn sanitize(raw: &str, valid: impl Fn(u8) -> bool) -> Cow<'_, str> {
    if is_sanitized(raw, &valid) {
        return Cow::Borrowed(raw);
    }
    let mut name = String::with_capacity(raw.len() + 1);
    push_sanitized(raw, valid, &mut name);
    Cow::Owned(name)
}

/// The tags of `text` (after `#`), sorted by name, and how many were skipped.
fn parse_tags(text: &str, metric_type: MetricType) -> Result<(Vec<Tag<'_>>, u32), &'static str> {
    let mut tags = Vec::new();
    let mut dropped = 0;
    for tag in text.split(',') {
        if tag.is_empty() {
            continue;
        }
        let Some((raw_name, value)) = tag.split_once(':') else {
            dropped += 1;
            continue;
        };
        if raw_name.is_empty() {
            dropped += 1;
            continue;
        }
        if value.contains('\0') {
            return Err("a tag value holds a NUL character");
        }
        let name = sanitize(raw_name, |byte| {
            byte.is_ascii_alphanumeric() || byte == b'_'
        });
        if name.starts_with("__") {
            return Err("tag names starting with \"__\" are reserved");
        }
        if name == "le"
            && matches!(
                metric_type,
                MetricType::Timer | MetricType::Histogram | MetricType::Distribution
            )
        {
            return Err("\"le\" is the bucket label of a histogram, not a tag");
        }
        tags.push(Tag { name, value });
    }
    if !tags.is_sorted_by(|a, b| a.name <= b.name) {
        tags.sort_by(|a, b| a.name.cmp(&b.name));
    }
    if tags.windows(2).any(|pair| pair[0].name == pair[1].name) {
        return Err("a tag is named twice");
    }
    Ok((tags, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Line<'_> {
        parse_line(text.as_bytes()).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    fn refused(text: &[u8]) -> Reason {
        match parse_line(text) {
            Ok(line) => panic!("{:?} parsed: {line:?}", String::from_utf8_lossy(text)),
            Err(error) => error.reason,
        }
    }

    fn values(line: &Line) -> Vec<Value<'static>> {
        line.values()
            .map(|value| match value {
                Value::Member(_) => Value::Member("member"),
                Value::Number(number) => Value::Number(number),
                Value::GaugeDelta(number) => Value::GaugeDelta(number),
            })
            .collect()
    }

    #[test]
    fn types_values_and_rates() {
        let line = ok("api.requests:3|c|@0.5");
        assert_eq!(line.name(), "api_requests");
        assert_eq!(line.metric_type, MetricType::Counter);
        assert_eq!(line.sample_rate, 0.5);
        assert_eq!(values(&line), [Value::Number(3.0)]);
        assert_eq!(values(&ok("g:42|g")), [Value::Number(42.0)]);
        assert_eq!(values(&ok("g:+4|g")), [Value::GaugeDelta(4.0)]);
        assert_eq!(values(&ok("g:-4.5|g")), [Value::GaugeDelta(-4.5)]);
        // A sign on anything but a gauge is just a sign.
        assert_eq!(values(&ok("t:-4|ms")), [Value::Number(-4.0)]);
        assert_eq!(values(&ok("c:+4|c")), [Value::Number(4.0)]);
        assert_eq!(ok("t:320|ms").metric_type, MetricType::Timer);
        assert_eq!(ok("t:320|h").metric_type, MetricType::Histogram);
        assert_eq!(ok("t:320|d").metric_type, MetricType::Distribution);
        let set = ok("users:alice|s");
        assert_eq!(set.metric_type, MetricType::Set);
        assert_eq!(set.values().collect::<Vec<_>>(), [Value::Member("alice")]);
        let set = ok("peers:[::1]:80|s");
        assert_eq!(
            set.values().collect::<Vec<_>>(),
            [Value::Member("[::1]:80")]
        );
        let many = ok("t:1:2.5:1e3|ms");
        assert_eq!(
            values(&many),
            [
                Value::Number(1.0),
                Value::Number(2.5),
                Value::Number(1000.0)
            ]
        );
        assert_eq!(many.value_count(), 3);
        // Ignored DogStatsD fields.
        assert_eq!(ok("c:1|c|c:abc123|T1700000000").sample_rate, 1.0);
    }

    #[test]
    fn names_are_sanitized() {
        assert_eq!(ok("a.b-c/d:1|c").name(), "a_b_c_d");
        assert_eq!(ok("1st:1|c").name(), "_1st");
        assert_eq!(ok("café:1|c").name(), "caf_");
        assert_eq!(ok("foo,env=prod:1|c").name(), "foo_env_prod");
        assert!(matches!(ok("already_ok:1|c").name(), Cow::Borrowed(_)));
        assert!(
            crate::model::check_metric_name(&ok("9.ü-x:1|c").name()).is_ok(),
            "sanitized names are valid"
        );
        let mut pushed = String::from("x");
        ok("9.ü-x:1|c").push_name(&mut pushed);
        assert_eq!(pushed, "x_9___x");
    }

    #[test]
    fn tags_become_sorted_labels() {
        let line = ok("req:1|c|#zone:eu-1,Env:prod,1x:y,url:http://a:8/b");
        let tags: Vec<(&str, &str)> = line
            .tags
            .iter()
            .map(|tag| (tag.name.as_ref(), tag.value))
            .collect();
        assert_eq!(
            tags,
            [
                ("Env", "prod"),
                ("_1x", "y"),
                ("url", "http://a:8/b"),
                ("zone", "eu-1")
            ]
        );
        let line = ok("req:1|c|@1|#canary,:x,,a.b:1");
        assert_eq!(line.tags_dropped, 2);
        assert_eq!(line.tags[0].name, "a_b");
        // le is only reserved on histograms.
        assert_eq!(ok("req:1|c|#le:1").tags.len(), 1);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert_eq!(refused(b"\xff\xfe\x00\x01:1|c"), Reason::Utf8);
        assert_eq!(refused(b"just some text"), Reason::Parse);
        assert_eq!(refused(b"name|c"), Reason::Parse);
        assert_eq!(refused(b"name:1"), Reason::Type);
        assert_eq!(refused(b"name:1|"), Reason::Type);
        assert_eq!(refused(b"name:1|x"), Reason::Type);
        assert_eq!(refused(b"name:1|c|@0"), Reason::SampleRate);
        assert_eq!(refused(b"name:1|c|@1.5"), Reason::SampleRate);
        assert_eq!(refused(b"name:1|c|@-0.5"), Reason::SampleRate);
        assert_eq!(refused(b"name:1|c|@abc"), Reason::SampleRate);
        assert_eq!(refused(b"name:1|c|@NaN"), Reason::SampleRate);
        assert_eq!(refused(b"name:1|c|@0.5|@0.5"), Reason::SampleRate);
        assert_eq!(refused(b"name with spaces:1|c"), Reason::Name);
        assert_eq!(refused(b"tab\tname:1|c"), Reason::Name);
        assert_eq!(refused(b":1|c"), Reason::Name);
        assert_eq!(refused(b"name:|c"), Reason::Value);
        assert_eq!(refused(b"name:abc|c"), Reason::Value);
        assert_eq!(refused(b"name:1::2|c"), Reason::Value);
        assert_eq!(refused(b"name:inf|g"), Reason::Value);
        assert_eq!(refused(b"name:NaN|ms"), Reason::Value);
        assert_eq!(refused(b"name:1e999|h"), Reason::Value);
        assert_eq!(refused(b"name:-1|c"), Reason::Value);
        assert_eq!(refused(b"name:0x10|c"), Reason::Value);
        assert_eq!(refused(b"name:1|c|#a:1,a:2"), Reason::Tags);
        assert_eq!(refused(b"name:1|c|#a.b:1,a_b:2"), Reason::Tags);
        assert_eq!(refused(b"name:1|c|#__name__:x"), Reason::Tags);
        assert_eq!(refused(b"name:1|ms|#le:1"), Reason::Tags);
        assert_eq!(refused(b"name:1|c|#a:1|#b:2"), Reason::Tags);
        assert_eq!(refused(b"name:1|c|#a:x\0y"), Reason::Tags);
        assert_eq!(refused(b"name:1|c|extra"), Reason::Parse);
        assert_eq!(refused(b"name:1|c|T12x"), Reason::Parse);
        // DogStatsD events and service checks are not metrics.
        assert_eq!(refused(b"_e{5,4}:title|text"), Reason::Type);
        assert_eq!(refused(b"_sc|my.check|0"), Reason::Parse);
    }

    #[test]
    fn errors_name_the_line() {
        let error = parse_line(b"name with spaces:1|c").expect_err("refused");
        assert_eq!(
            error.to_string(),
            "statsd line \"name with spaces:1|c\": the name holds whitespace or control characters"
        );
        let long = format!("{}:1|x", "n".repeat(300));
        let message = parse_line(long.as_bytes())
            .expect_err("refused")
            .to_string();
        assert!(
            message.contains(&format!("\"{}\"...", "n".repeat(120))),
            "{message}"
        );
        assert!(message.len() < 250, "{message}");
    }

    #[test]
    fn packets_hold_many_lines() {
        let packet = b"a:1|c\r\n\n  b:2|g  \nbad\n\xff\nc:3|ms\n";
        let results: Vec<Result<String, Reason>> = parse_packet(packet)
            .map(|line| {
                line.map(|line| line.name().into_owned())
                    .map_err(|error| error.reason)
            })
            .collect();
        assert_eq!(
            results,
            [
                Ok("a".to_string()),
                Ok("b".to_string()),
                Err(Reason::Parse),
                Err(Reason::Utf8),
                Ok("c".to_string())
            ]
        );
        assert_eq!(parse_packet(b"").count(), 0);
        assert_eq!(parse_packet(b"\n\n \r\n").count(), 0);
    }

    #[test]
    fn reasons_are_listed_in_index_order() {
        for (index, reason) in Reason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), index);
        }
    }

    proptest::proptest! {
        /// Whatever arrives, parsing returns (never panics), and every accepted line
        /// has a valid metric name, sorted unique valid tag names, and finite values.
        #[test]
        fn arbitrary_bytes_never_panic(packet in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            for line in parse_packet(&packet).flatten() {
                proptest::prop_assert!(crate::model::check_metric_name(&line.name()).is_ok());
                for pair in line.tags.windows(2) {
                    proptest::prop_assert!(pair[0].name < pair[1].name);
                }
                for tag in &line.tags {
                    proptest::prop_assert!(crate::model::check_label_name(&tag.name).is_ok());
                }
                for value in line.values() {
                    if let Value::Number(number) | Value::GaugeDelta(number) = value {
                        proptest::prop_assert!(number.is_finite());
                    }
                }
                proptest::prop_assert_eq!(line.values().count(), line.value_count());
            }
        }

        /// Text shaped like statsd lines exercises the deeper branches.
        #[test]
        fn statsd_shaped_text_never_panics(packet in "[a-z.:|@#,0-9+\\-\n ]{0,80}") {
            for line in parse_packet(packet.as_bytes()).flatten() {
                proptest::prop_assert!(crate::model::check_metric_name(&line.name()).is_ok());
                proptest::prop_assert_eq!(line.values().count(), line.value_count());
            }
        }
    }
}
