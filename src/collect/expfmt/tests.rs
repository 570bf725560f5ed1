//! Tests of the exposition parser: data-driven through `check`, which renders every
//! line's entry or error, plus property tests (no panics; render → parse round trip).

use std::fmt::Write as _;

use proptest::prelude::*;

use super::*;

/// Parses `input` in `format` and compares one rendered line per input line (entry or
/// error), plus the `finish` error if any, with `expect` (lines trimmed, blank lines
/// ignored).
fn check(format: Format, input: &str, expect: &str) {
    let actual = render(format, input);
    let expect: Vec<&str> = expect
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let actual: Vec<&str> = actual.lines().collect();
    assert_eq!(
        actual,
        expect,
        "\ninput:\n{input}\nactual:\n{}\n",
        actual.join("\n")
    );
}

fn render(format: Format, input: &str) -> String {
    let mut parser = Parser::new(format);
    let mut out = String::new();
    for line in input.split_terminator('\n') {
        match parser.next_line(line) {
            Ok(entry) => render_entry(&mut out, &entry),
            Err(error) => writeln!(out, "error {error}").unwrap(),
        }
    }
    if let Err(error) = parser.finish() {
        writeln!(out, "error {error}").unwrap();
    }
    out
}

/// Newlines in names would break the one-line-per-entry rendering.
fn visible(text: &str) -> String {
    text.replace('\n', "\\n")
}

fn render_entry(out: &mut String, entry: &Entry<'_>) {
    match entry {
        Entry::Sample(sample) => {
            let labels: Vec<String> = sample
                .labels()
                .map(|(name, value)| format!("{}={value:?}", visible(&name)))
                .collect();
            assert_eq!(labels.len(), sample.label_count());
            let ts = sample
                .timestamp_ms()
                .map_or("-".to_string(), |ts| ts.to_string());
            writeln!(
                out,
                "sample key={} name={} labels=[{}] value={:?} ts={ts}",
                visible(sample.series_key()),
                visible(&sample.name()),
                labels.join(","),
                sample.value()
            )
            .unwrap();
        }
        Entry::Help { family, text } => writeln!(out, "help {family} {text:?}").unwrap(),
        Entry::Type {
            family,
            metric_type,
        } => writeln!(out, "type {family} {}", metric_type.as_str()).unwrap(),
        Entry::Unit { family, unit } => writeln!(out, "unit {family} {unit:?}").unwrap(),
        Entry::Comment => writeln!(out, "comment").unwrap(),
        Entry::Eof => writeln!(out, "eof").unwrap(),
    }
}

const TEXT: Format = Format::Text;
const OM: Format = Format::OpenMetrics;

#[test]
fn text_samples() {
    check(
        TEXT,
        r##"up 1
up{job="a"} 0 1700000000000
up{job="a",instance="b:9100"} 1 -5
up{} 2
up{job="a",} 3
up{job="a"} 4
"##,
        r##"
        sample key=up name=up labels=[] value=1.0 ts=-
        sample key=up{job="a"} name=up labels=[job="a"] value=0.0 ts=1700000000000
        sample key=up{job="a",instance="b:9100"} name=up labels=[job="a",instance="b:9100"] value=1.0 ts=-5
        sample key=up{} name=up labels=[] value=2.0 ts=-
        sample key=up{job="a",} name=up labels=[job="a"] value=3.0 ts=-
        sample key=up{job="a"} name=up labels=[job="a"] value=4.0 ts=-
        "##,
    );
}

#[test]
fn values() {
    check(
        TEXT,
        "a NaN\na nan\na +Inf\na -Inf\na Inf\na inf\na -infinity\na 1e3\na -1.5E-3\na +5\na .5\na 5.\n\
         a 123456789012345678901234\na 0.1\na -0\na 4.9e-324\n",
        r##"
        sample key=a name=a labels=[] value=NaN ts=-
        sample key=a name=a labels=[] value=NaN ts=-
        sample key=a name=a labels=[] value=inf ts=-
        sample key=a name=a labels=[] value=-inf ts=-
        sample key=a name=a labels=[] value=inf ts=-
        sample key=a name=a labels=[] value=inf ts=-
        sample key=a name=a labels=[] value=-inf ts=-
        sample key=a name=a labels=[] value=1000.0 ts=-
        sample key=a name=a labels=[] value=-0.0015 ts=-
        sample key=a name=a labels=[] value=5.0 ts=-
        sample key=a name=a labels=[] value=0.5 ts=-
        sample key=a name=a labels=[] value=5.0 ts=-
        sample key=a name=a labels=[] value=1.2345678901234569e23 ts=-
        sample key=a name=a labels=[] value=0.1 ts=-
        sample key=a name=a labels=[] value=-0.0 ts=-
        sample key=a name=a labels=[] value=5e-324 ts=-
        "##,
    );
    check(
        TEXT,
        "a 12,5\na 0x1p3\na 0x10\na 1_000\na +NaN\na 1e400\na e5\na 1e\na .\na -\na Infinit\n",
        r##"
        error line 1:3: invalid value "12,5": expected a float
        error line 2:3: invalid value "0x1p3": expected a float
        error line 3:3: invalid value "0x10": expected a float
        error line 4:3: invalid value "1_000": expected a float
        error line 5:3: invalid value "+NaN": expected a float
        error line 6:3: invalid value "1e400": out of range for a 64-bit float
        error line 7:3: invalid value "e5": expected a float
        error line 8:3: invalid value "1e": expected a float
        error line 9:3: invalid value ".": expected a float
        error line 10:3: invalid value "-": expected a float
        error line 11:3: invalid value "Infinit": expected a float
        "##,
    );
}

#[test]
fn text_timestamps() {
    check(
        TEXT,
        "a 1 -1\na 1 +7\na 1 9223372036854775807\na 1 9223372036854775808\na 1 1.5\na 1 1e3\na 1 2 3\n",
        r##"
        sample key=a name=a labels=[] value=1.0 ts=-1
        sample key=a name=a labels=[] value=1.0 ts=7
        sample key=a name=a labels=[] value=1.0 ts=9223372036854775807
        error line 4:5: invalid timestamp "9223372036854775808": out of range
        error line 5:5: invalid timestamp "1.5": expected an integer (milliseconds)
        error line 6:5: invalid timestamp "1e3": expected an integer (milliseconds)
        error line 7:7: unexpected text after the timestamp: "3"
        "##,
    );
}

#[test]
fn escapes() {
    check(
        TEXT,
        r##"a{v="q\"b\\s\nn"} 1
a{v="tab\t"} 1
a{v="\\n"} 1
a{v="é ü ✓"} 1
"##,
        r##"
        sample key=a{v="q\"b\\s\nn"} name=a labels=[v="q\"b\\s\nn"] value=1.0 ts=-
        sample key=a{v="tab\t"} name=a labels=[v="tab\\t"] value=1.0 ts=-
        sample key=a{v="\\n"} name=a labels=[v="\\n"] value=1.0 ts=-
        sample key=a{v="é ü ✓"} name=a labels=[v="é ü ✓"] value=1.0 ts=-
        "##,
    );
}

#[test]
fn utf8_names() {
    let input = r##"{"my.metric", "label.x"="v"} 1
{"my.metric","label.x"="v"} 1
{a="b", "quoted.late"} 2
{"only.name"} 3
{"esc\"aped\\", "l\nx"="v"} 4
{"ünïcödé"} 5
"##;
    let expect = r##"
        sample key={"my.metric", "label.x"="v"} name=my.metric labels=[label.x="v"] value=1.0 ts=-
        sample key={"my.metric","label.x"="v"} name=my.metric labels=[label.x="v"] value=1.0 ts=-
        sample key={a="b", "quoted.late"} name=quoted.late labels=[a="b"] value=2.0 ts=-
        sample key={"only.name"} name=only.name labels=[] value=3.0 ts=-
        sample key={"esc\"aped\\", "l\nx"="v"} name=esc"aped\ labels=[l\nx="v"] value=4.0 ts=-
        sample key={"ünïcödé"} name=ünïcödé labels=[] value=5.0 ts=-
        "##;
    check(TEXT, input, expect);
    check(
        TEXT,
        r##"a{"b"} 1
{"a", "b"} 1
{a="b"} 1
{"", a="b"} 1
{""="x"} 1
{"a", "b"=} 1
"##,
        r##"
        error line 1:3: second metric name "b": the series already has one
        error line 2:7: second metric name "b": the series already has one
        error line 3:1: missing metric name in "{a=\"b\"}"
        error line 4:2: empty metric name
        error line 5:2: empty label name
        error line 6:11: expected a quoted value for label "b", found '}'
        "##,
    );
}

#[test]
fn text_white_space() {
    check(
        TEXT,
        "  a 1\n\ta\t1\t2\t\na {b=\"c\"} 1\na{ b = \"c\" , d=\"e\" , } 1\na{b=\"c\" d=\"e\"} 1\na{b=\"c\"}1\n",
        r##"
        sample key=a name=a labels=[] value=1.0 ts=-
        sample key=a name=a labels=[] value=1.0 ts=2
        sample key=a {b="c"} name=a labels=[b="c"] value=1.0 ts=-
        sample key=a{ b = "c" , d="e" , } name=a labels=[b="c",d="e"] value=1.0 ts=-
        sample key=a{b="c" d="e"} name=a labels=[b="c",d="e"] value=1.0 ts=-
        sample key=a{b="c"} name=a labels=[b="c"] value=1.0 ts=-
        "##,
    );
}

#[test]
fn series_keys_are_equal_for_equal_lines() {
    let (entries, errors) = parse_str(
        "a{b=\"c\"} 1 1\nx 2\na{b=\"c\"} 3 2\na{b=\"c\"}  4 3\n",
        TEXT,
    );
    assert!(errors.is_empty(), "{errors:?}");
    let keys: Vec<&str> = entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::Sample(sample) => Some(sample.series_key()),
            _ => None,
        })
        .collect();
    assert_eq!(keys, ["a{b=\"c\"}", "x", "a{b=\"c\"}", "a{b=\"c\"}"]);
}

#[test]
fn duplicate_labels() {
    let many: String = (0..20).map(|i| format!("l{i}=\"v\",")).collect();
    check(
        TEXT,
        &format!(
            "a{{b=\"1\",c=\"2\",b=\"3\"}} 1\na{{b=\"1\",\"b\"=\"2\"}} 1\na{{{many}l7=\"x\"}} 1\na{{\"x\\\\\"=\"1\",\"x\\\\\"=\"2\"}} 1\n"
        ),
        r##"
        error line 1:15: duplicate label name "b"
        error line 2:10: duplicate label name "b"
        error line 3:153: duplicate label name "l7"
        error line 4:14: duplicate label name "x\\"
        "##,
    );
}

#[test]
fn text_metadata() {
    check(
        TEXT,
        r##"# HELP a Some help: \\ \n and \" and \t.
# TYPE a COUNTER
a 1
# HELP "b.c" quoted
#   TYPE	"b.c"	gauge
# TYPE d untyped
# TYPE e gaugehistogram
# HELP f
# HELP g  two spaces
# just a comment
#HELP a x
# HELP
# HELPER a x
# UNIT a seconds

   
"##,
        r##"
        help a "Some help: \\ \n and \\\" and \\t."
        type a counter
        sample key=a name=a labels=[] value=1.0 ts=-
        help b.c "quoted"
        type b.c gauge
        type d unknown
        type e gaugehistogram
        help f ""
        help g " two spaces"
        comment
        comment
        comment
        comment
        comment
        comment
        comment
        "##,
    );
}

#[test]
fn metadata_errors() {
    check(
        TEXT,
        r##"# TYPE a counter
# TYPE a gauge
# HELP a x
# HELP a y
# TYPE b bogus
# TYPE c
# HELP 9x y
# HELP x-y z
# HELP "x
"##,
        r##"
        type a counter
        error line 2:8: second TYPE line for metric family "a"
        help a "x"
        error line 4:8: second HELP line for metric family "a"
        error line 5:10: invalid metric type "bogus": expected counter, gauge, histogram, summary or untyped
        error line 6:9: missing metric type
        error line 7:8: invalid metric family name "9x": must start with a letter, '_' or ':'
        error line 8:9: invalid character '-' after metric family name "x"
        error line 9:8: unterminated quoted string "\"x"
        "##,
    );
    // Prometheus text allows TYPE after the samples (prometheus' own scraper does).
    check(
        TEXT,
        "a 1\n# TYPE a gauge\n",
        "sample key=a name=a labels=[] value=1.0 ts=-\ntype a gauge",
    );
}

#[test]
fn histograms_and_summaries() {
    check(
        TEXT,
        r##"# TYPE h histogram
h_bucket{le="0.5"} 1
h_bucket{le="+Inf"} 2
h_bucket{a="b"} 2
h_bucket{le="fast"} 2
h_sum 3
h_count 2
# TYPE s summary
s{quantile="0.99"} 1
s 1
s{quantile="high"} 1
s_sum 1
# TYPE u gauge
u_bucket 1
"##,
        r##"
        type h histogram
        sample key=h_bucket{le="0.5"} name=h_bucket labels=[le="0.5"] value=1.0 ts=-
        sample key=h_bucket{le="+Inf"} name=h_bucket labels=[le="+Inf"] value=2.0 ts=-
        error line 4:1: histogram bucket "h_bucket" has no "le" label
        error line 5:14: invalid "le" label value "fast": expected a float
        sample key=h_sum name=h_sum labels=[] value=3.0 ts=-
        sample key=h_count name=h_count labels=[] value=2.0 ts=-
        type s summary
        sample key=s{quantile="0.99"} name=s labels=[quantile="0.99"] value=1.0 ts=-
        error line 10:1: summary quantile "s" has no "quantile" label
        error line 11:13: invalid "quantile" label value "high": expected a float
        sample key=s_sum name=s_sum labels=[] value=1.0 ts=-
        type u gauge
        sample key=u_bucket name=u_bucket labels=[] value=1.0 ts=-
        "##,
    );
}

#[test]
fn garbage() {
    check(
        TEXT,
        r##"a-b 1
9a 1
a{b=c} 1
a{b="c" 1
a{b="c
a
a{}
a 1 abc
a{1b="c"} 1
a{b.c="d"} 1
a{b:c="d"} 1
a{,b="c"} 1
a{b="c",,d="e"} 1
a{b="c";d="e"} 1
a{b} 1
a 1 # {b="c"} 1
=
a{b="c"}{d="e"} 1
"##,
        r##"
        error line 1:2: invalid character '-' in metric name "a-b"
        error line 2:1: invalid metric name "9a": must start with a letter, '_' or ':'
        error line 3:5: expected a quoted value for label "b", found 'c'
        error line 4:9: expected ',' or '}' after the value of label "b", found '1'
        error line 5:5: unterminated quoted string "\"c"
        error line 6:2: missing value after "a"
        error line 7:4: missing value after "a{}"
        error line 8:5: invalid timestamp "abc": expected an integer (milliseconds)
        error line 9:3: invalid label name "1b": must start with a letter or '_'
        error line 10:4: invalid character '.' in label name "b.c"
        error line 11:4: invalid character ':' in label name "b:c"
        error line 12:3: unexpected character ',' in label set: expected a label name
        error line 13:9: unexpected character ',' in label set: expected a label name
        error line 14:8: expected ',' or '}' after the value of label "b", found ';'
        error line 15:4: expected '=' after label name "b", found '}'
        error line 16:5: unexpected text "# {b=\"c\"} 1": exemplars are only allowed in OpenMetrics
        error line 17:1: invalid metric name "=": must start with a letter, '_' or ':'
        error line 18:9: invalid value "{d=\"e\"}": expected a float
        "##,
    );
}

#[test]
fn crlf() {
    check(
        TEXT,
        "# HELP a x\r\n# TYPE a gauge\r\na{b=\"c\"} 1 2\r\n\r\n",
        r##"
        help a "x"
        type a gauge
        sample key=a{b="c"} name=a labels=[b="c"] value=1.0 ts=2
        comment
        "##,
    );
    check(
        OM,
        "a 1.5 1.5\r\n# EOF\r\n",
        "sample key=a name=a labels=[] value=1.5 ts=1500\neof",
    );
}

#[test]
fn open_metrics_samples() {
    check(
        OM,
        r##"# TYPE a counter
# HELP a Help with \" and \\ and \n.
# UNIT a_seconds seconds
a_total{b="c"} 1 1.5
a_created{b="c"} 1700000000.123
a_total{b="c"} 2 1700000000
a_total{b="c"} 2 -1.25
a_total{b="c"} 2 1.5e3
a_total{b="c"} NaN 0.0005
a_total{b="c"} 3 1.001
# EOF
"##,
        r##"
        type a counter
        help a "Help with \" and \\ and \n."
        unit a_seconds "seconds"
        sample key=a_total{b="c"} name=a_total labels=[b="c"] value=1.0 ts=1500
        sample key=a_created{b="c"} name=a_created labels=[b="c"] value=1700000000.123 ts=-
        sample key=a_total{b="c"} name=a_total labels=[b="c"] value=2.0 ts=1700000000000
        sample key=a_total{b="c"} name=a_total labels=[b="c"] value=2.0 ts=-1250
        sample key=a_total{b="c"} name=a_total labels=[b="c"] value=2.0 ts=1500000
        sample key=a_total{b="c"} name=a_total labels=[b="c"] value=NaN ts=1
        sample key=a_total{b="c"} name=a_total labels=[b="c"] value=3.0 ts=1001
        eof
        "##,
    );
    check(
        OM,
        "a 1 NaN\na 1 -Inf\na 1 1e300\na 1 x\n# EOF\n",
        r##"
        error line 1:5: invalid timestamp "NaN": must be finite
        error line 2:5: invalid timestamp "-Inf": must be finite
        error line 3:5: invalid timestamp "1e300": out of range
        error line 4:5: invalid timestamp "x": expected a float (seconds)
        eof
        "##,
    );
}

#[test]
fn open_metrics_exemplars() {
    check(
        OM,
        r##"# TYPE a counter
a_total 1 # {trace_id="abc"} 0.5
a_total 1 1.5 # {trace_id="abc",span="x"} 0.5 1.25
a_total 1 # {} 1
a_total 1 # {a="1",a="2"} 1
a_total 1 # {"name"} 1
a_total 1 # {a="1"} x
a_total 1 # {a="1"}
a_total 1 # {a="1"} 1 NaN
a_total 1 # {a="1"} 1 2 3
a_total 1 # x
a_total 1 2 3
# EOF
"##,
        r##"
        type a counter
        sample key=a_total name=a_total labels=[] value=1.0 ts=-
        sample key=a_total name=a_total labels=[] value=1.0 ts=1500
        sample key=a_total name=a_total labels=[] value=1.0 ts=-
        error line 5:20: duplicate label name "a" in exemplar
        error line 6:14: expected '=' after label name "name"
        error line 7:21: invalid exemplar value "x": expected a float
        error line 8:20: missing exemplar value
        error line 9:23: invalid exemplar timestamp "NaN": must be finite
        error line 10:24: unexpected text after the exemplar: " 3"
        error line 11:11: invalid exemplar "# x": expected "# {"
        error line 12:13: unexpected text after the timestamp: "3"
        eof
        "##,
    );
}

#[test]
fn open_metrics_structure() {
    check(
        OM,
        "a 1\n",
        "sample key=a name=a labels=[] value=1.0 ts=-\nerror line 2:1: missing \"# EOF\" at the end of the input",
    );
    check(
        OM,
        "",
        "error line 1:1: missing \"# EOF\" at the end of the input",
    );
    check(
        OM,
        "a 1\n\n# EOF\na 2\n# EOF\n",
        r##"
        sample key=a name=a labels=[] value=1.0 ts=-
        error line 2:1: blank line: OpenMetrics allows none
        eof
        error line 4:1: unexpected line after "# EOF"
        error line 5:1: unexpected line after "# EOF"
        "##,
    );
    // Other comments mean nothing, so they pass; a malformed EOF is one of them.
    check(OM, "# hello\n# EOF \n# EOF\n", "comment\ncomment\neof");
    // In Prometheus text, `# EOF` is a comment like any other.
    check(
        TEXT,
        "# EOF\na 1\n",
        "comment\nsample key=a name=a labels=[] value=1.0 ts=-",
    );
}

#[test]
fn open_metrics_white_space() {
    check(
        OM,
        "a  1\na 1 \na 1  2\n a 1\na {b=\"c\"} 1\na{b=\"c\", d=\"e\"} 1\na{b=\"c\"}1\na\t1\n# TYPE  a gauge\n# HELP a\n# EOF\n",
        r##"
        error line 1:2: expected a single space, found several (OpenMetrics allows one)
        error line 2:4: unexpected space at the end of the line
        error line 3:4: expected a single space, found several (OpenMetrics allows one)
        error line 4:1: unexpected character ' ': expected a metric name or '{'
        error line 5:3: invalid value "{b=\"c\"}": expected a float
        error line 6:9: unexpected character ' ' in label set: expected a label name
        error line 7:9: expected a space, found '1'
        error line 8:2: invalid character '\t' in metric name "a"
        error line 9:8: unexpected character ' ': expected a metric family name
        help a ""
        eof
        "##,
    );
}

#[test]
fn open_metrics_families() {
    check(
        OM,
        r##"# TYPE a counter
a 1
# TYPE b_total counter
b_total 1
# TYPE h histogram
h 1
h_bucket{le="1"} 1
h_bucket 1
h_count 1
# TYPE g gaugehistogram
g_bucket{le="1"} 1
g_gcount 1
g_gsum 1
# TYPE s summary
s 1
s{quantile="0.5"} 1
s_sum 1
# TYPE i info
i 1
i_info{v="1"} 1
# TYPE st stateset
st{st="a"} 1
# EOF
"##,
        r##"
        type a counter
        error line 2:1: sample name "a" is not allowed in counter family "a": expected "a_total" or "a_created"
        type b_total counter
        sample key=b_total name=b_total labels=[] value=1.0 ts=-
        type h histogram
        error line 6:1: sample name "h" is not allowed in histogram family "h": expected "h_bucket", "h_count", "h_sum" or "h_created"
        sample key=h_bucket{le="1"} name=h_bucket labels=[le="1"] value=1.0 ts=-
        error line 8:1: histogram bucket "h_bucket" has no "le" label
        sample key=h_count name=h_count labels=[] value=1.0 ts=-
        type g gaugehistogram
        sample key=g_bucket{le="1"} name=g_bucket labels=[le="1"] value=1.0 ts=-
        sample key=g_gcount name=g_gcount labels=[] value=1.0 ts=-
        sample key=g_gsum name=g_gsum labels=[] value=1.0 ts=-
        type s summary
        error line 15:1: summary quantile "s" has no "quantile" label
        sample key=s{quantile="0.5"} name=s labels=[quantile="0.5"] value=1.0 ts=-
        sample key=s_sum name=s_sum labels=[] value=1.0 ts=-
        type i info
        error line 19:1: sample name "i" is not allowed in info family "i": expected "i_info"
        sample key=i_info{v="1"} name=i_info labels=[v="1"] value=1.0 ts=-
        type st stateset
        sample key=st{st="a"} name=st labels=[st="a"] value=1.0 ts=-
        eof
        "##,
    );
}

#[test]
fn open_metrics_metadata() {
    check(
        OM,
        r##"# HELP a x
a_total 1
# TYPE a counter
b_total 1
# TYPE b counter
c_total 1
# TYPE c gauge
# TYPE d counter
# TYPE d counter
# HELP "e.f" quoted
# TYPE e untyped
# TYPE e Counter
# UNIT e_bytes seconds
# UNIT e_seconds seconds
# UNIT seconds seconds
# UNIT f
# EOF
"##,
        r##"
        help a "x"
        sample key=a_total name=a_total labels=[] value=1.0 ts=-
        error line 3:8: TYPE line for metric family "a" after its samples
        sample key=b_total name=b_total labels=[] value=1.0 ts=-
        error line 5:8: TYPE line for metric family "b" after its samples
        sample key=c_total name=c_total labels=[] value=1.0 ts=-
        type c gauge
        type d counter
        error line 9:8: second TYPE line for metric family "d"
        help e.f "quoted"
        error line 11:10: invalid metric type "untyped": expected counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown
        error line 12:10: invalid metric type "Counter": expected counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown
        error line 13:16: unit "seconds" is not a suffix of metric family name "e_bytes"
        unit e_seconds "seconds"
        error line 15:16: unit "seconds" is not a suffix of metric family name "seconds"
        unit f ""
        eof
        "##,
    );
}

/// Families interleave in time-major files (every series at t0, then at t1, ...),
/// which is how `gen.py backfill` and promtool's input look; that must parse.
#[test]
fn interleaved_families() {
    check(
        OM,
        "# TYPE a counter\na_total 1 1\nb 1 1\na_total 2 2\nb 2 2\n# EOF\n",
        r##"
        type a counter
        sample key=a_total name=a_total labels=[] value=1.0 ts=1000
        sample key=b name=b labels=[] value=1.0 ts=1000
        sample key=a_total name=a_total labels=[] value=2.0 ts=2000
        sample key=b name=b labels=[] value=2.0 ts=2000
        eof
        "##,
    );
}

/// Lines as `gen.py backfill` writes them (see /work/shared/bench/README.md), in both
/// formats: a realistic body must parse without a single error.
#[test]
fn realistic_bodies() {
    let text = r##"http_requests_total{instance="host-000:8080",job="app",handler="/api/v1/users",method="GET",code="200"} 0 1795399215000
http_requests_total{instance="host-000:8080",job="app",handler="/api/v1/users",method="POST",code="201"} 103416 1795399215000
http_request_duration_seconds_bucket{instance="host-000:8080",job="app",handler="/api/v1/users",method="GET",le="0.001"} 0 1795399215000
http_request_duration_seconds_bucket{instance="host-000:8080",job="app",handler="/api/v1/search",method="GET",le="0.032"} 0 1795399215000
http_request_duration_seconds_sum{instance="host-000:8080",job="app",handler="/api/v1/users",method="GET"} 0.0 1795399215000
http_request_duration_seconds_count{instance="host-000:8080",job="app",handler="/api/v1/orders",method="POST"} 2 1795399230000
http_response_size_bytes_bucket{instance="host-000:8080",job="app",handler="/api/v1/search",le="409600"} 48 1795399230000
node_uname_info{instance="host-000:9100",job="node",machine="x86_64",nodename="host-000",release="6.1.0-10-amd64",sysname="Linux",version="#1 SMP PREEMPT_DYNAMIC Debian 6.1.50-1"} 1 1795402755000
node_load1{instance="host-000:9100",job="node"} 2.33 1795402755000
node_systemd_unit_state{instance="host-000:9100",job="node",name="sshd.service",state="active",type="simple"} 1 1795402755000
node_memory_MemTotal_bytes{instance="host-000:9100",job="node"} 8589934592 1795402755000
node_hwmon_temp_celsius{instance="host-000:9100",job="node",chip="platform_coretemp_0",sensor="temp1"} 38 1795402755000
"##;
    let open_metrics = text.replace("000\n", "\n") + "# EOF\n";
    for (format, body) in [(TEXT, text.to_string()), (OM, open_metrics)] {
        let (entries, errors) = parse_str(&body, format);
        assert!(errors.is_empty(), "{format:?}: {errors:?}");
        let samples: Vec<&SampleLine<'_>> = entries
            .iter()
            .filter_map(|entry| match entry {
                Entry::Sample(sample) => Some(sample),
                _ => None,
            })
            .collect();
        assert_eq!(samples.len(), 12, "{format:?}");
        assert_eq!(samples[7].labels().count(), 7);
        assert_eq!(samples[7].timestamp_ms(), Some(1_795_402_755_000));
        assert_eq!(samples[8].value(), 2.33);
    }
}

#[test]
fn skipped_lines_keep_line_numbers() {
    let mut parser = Parser::new(OM);
    parser.skip_line();
    let error = parser.next_line("a{").map(|_| ()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 2:3: unterminated label set \"{\": expected '}'"
    );
    assert_eq!(parser.line_number(), 2);
}

#[test]
fn formats() {
    for (content_type, format) in [
        (None, TEXT),
        (Some("text/plain; version=0.0.4; charset=utf-8"), TEXT),
        (
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            OM,
        ),
        (Some(" Application/OpenMetrics-Text"), OM),
        (Some("application/openmetrics-textual"), TEXT),
        (Some(""), TEXT),
    ] {
        assert_eq!(detect_format(content_type), format, "{content_type:?}");
    }
}

/// Parses `input` and touches everything a caller can reach; `parse_str` and the
/// accessors must not panic on any input.
fn parse_everything(input: &str, format: Format) {
    let (entries, errors) = parse_str(input, format);
    for entry in &entries {
        if let Entry::Sample(sample) = entry {
            assert_eq!(sample.labels().count(), sample.label_count());
            let _ = (
                sample.name(),
                sample.series_key(),
                sample.value(),
                sample.timestamp_ms(),
            );
        }
    }
    for error in &errors {
        assert!(error.line >= 1 && error.column >= 1, "{error}");
        assert!(error.message.len() < 1000, "{error}");
    }
}

proptest! {
    #[test]
    fn never_panics_on_any_string(input in any::<String>()) {
        parse_everything(&input, TEXT);
        parse_everything(&input, OM);
    }

    #[test]
    fn never_panics_on_near_misses(input in r##"([a-c_:{}=",# \\.\t0-9eE+\-\nü]|HELP|TYPE|UNIT|EOF|Inf|NaN|le|quantile|_total|_bucket){0,60}"##) {
        parse_everything(&input, TEXT);
        parse_everything(&input, OM);
    }

    #[test]
    fn round_trip(
        name in name_strategy(),
        labels in proptest::collection::vec((name_strategy(), any::<String>()), 0..6),
        value_bits in any::<u64>(),
        ts in -1_000_000_000_000_000i64..1_000_000_000_000_000,
        name_position in 0usize..8,
        open_metrics in any::<bool>(),
    ) {
        let mut labels = labels;
        let mut seen = std::collections::HashSet::new();
        labels.retain(|(label, _)| seen.insert(label.clone()));
        let value = f64::from_bits(value_bits);
        let format = if open_metrics { OM } else { TEXT };
        let line = render_sample(&name, &labels, value, ts, name_position, format);
        let mut parser = Parser::new(format);
        let entry = parser.next_line(&line);
        let Ok(Entry::Sample(sample)) = entry else {
            return Err(TestCaseError::fail(format!("{line}: {entry:?}")));
        };
        prop_assert_eq!(sample.name(), name.as_str());
        let parsed: Vec<(String, String)> = sample.labels().map(|(n, v)| (n.into_owned(), v.into_owned())).collect();
        prop_assert_eq!(parsed, labels);
        if value.is_nan() {
            prop_assert!(sample.value().is_nan());
        } else {
            prop_assert_eq!(sample.value().to_bits(), value.to_bits(), "{}", line);
        }
        prop_assert_eq!(sample.timestamp_ms(), Some(ts));
    }
}

/// Plain names most of the time, any non-empty string (to be quoted) otherwise.
fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z_][a-zA-Z0-9_]{0,12}",
        1 => any::<String>().prop_filter("non-empty", |name| !name.is_empty()),
        1 => r##"[a\\"\n.é ]{1,6}"##,
    ]
}

fn escape(text: &str) -> String {
    text.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

fn is_plain_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes
        .first()
        .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

fn render_sample(
    name: &str,
    labels: &[(String, String)],
    value: f64,
    ts: i64,
    name_position: usize,
    format: Format,
) -> String {
    let mut pairs: Vec<String> = labels
        .iter()
        .map(|(label, value)| {
            let label = if is_plain_name(label) {
                label.clone()
            } else {
                format!("\"{}\"", escape(label))
            };
            format!("{label}=\"{}\"", escape(value))
        })
        .collect();
    let series = if is_plain_name(name) {
        format!("{name}{{{}}}", pairs.join(","))
    } else {
        pairs.insert(
            name_position.min(pairs.len()),
            format!("\"{}\"", escape(name)),
        );
        format!("{{{}}}", pairs.join(","))
    };
    let value = format!("{value:?}");
    let ts = match format {
        Format::Text => ts.to_string(),
        Format::OpenMetrics => {
            let sign = if ts < 0 { "-" } else { "" };
            let abs = ts.unsigned_abs();
            format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
        }
    };
    format!("{series} {value} {ts}")
}

#[test]
fn series_key_end_stops_after_the_label_set_or_at_the_first_blank() {
    let cases = [
        ("up 1", Some(2)),
        ("up\t1 1700000000000", Some(2)),
        (r#"a{b="c d",e="}"} 1"#, Some(16)),
        ("a{b=\"c\"}1", Some(8)),
        ("noblank", None),
        ("a{unclosed 1", None),
    ];
    for (line, expected) in cases {
        assert_eq!(super::series_key_end(line), expected, "{line}");
    }
}
