//! `/federate`, GET and POST (form-encoded): Prometheus' federation endpoint. The
//! newest sample of every series some `match[]` selector selects, in the text
//! exposition format, for another Prometheus (or tandem) to scrape with
//! `honor_labels: true`.
//! Owns: merging the selectors' answers, the external labels, the text format.
//! Does not: read storage. Each selector is evaluated by the engine as an instant
//! query at now (`promql::latest_samples`: the lookback, stale markers and the query
//! limits as in `/api/v1/query`, but each sample with its own timestamp, as
//! Prometheus federates it), within one query slot and one deadline.

use super::query::{self, ApiError, Params};
use crate::model::{Labels, METRIC_NAME, Sample};
use crate::promql::ast::Selector;
use crate::promql::value::QueryValue;
use crate::promql::{self, EvalError, EvalOptions, QueryError};
use crate::storage::Storage;
use crate::web::WebState;
use actix_web::{HttpRequest, HttpResponse, web};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The text format's content type, version 0.0.4, as Prometheus' `/federate` sends it.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn federate(
    state: web::Data<WebState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let params = Params::read(&request, &body);
    let selectors = match selectors(&params) {
        Ok(selectors) => selectors,
        Err(error) => return error.response(),
    };
    let external_labels = state.reloader.current().rules.external_labels.clone();
    let (options, timeout) = query::config_options(&state);
    let storage = std::sync::Arc::clone(&state.storage);
    let t = query::now_ms();
    let answered = query::run_query(&state, timeout, move || {
        latest_of_all(&storage, &selectors, t, &options)
    })
    .await;
    match answered {
        Ok((samples, _)) => HttpResponse::Ok()
            .content_type(CONTENT_TYPE)
            .body(exposition(samples, &external_labels)),
        Err(error) => error.response(),
    }
}

/// Every `match[]` selector with its text; at least one. Only matchers, as in
/// Prometheus: `offset` and `@` would federate samples from another time.
fn selectors(params: &Params) -> Result<Vec<(String, Selector)>, ApiError> {
    let texts = params.all("match[]");
    if texts.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    texts
        .into_iter()
        .map(|text| {
            let selector = query::parse_selector(text)?;
            if selector.offset != 0 || selector.at.is_some() {
                return Err(ApiError::bad_data(format!(
                    "invalid parameter \"match[]\": {text:?} has an offset or @ modifier"
                )));
            }
            Ok((text.to_string(), selector))
        })
        .collect()
}

/// Each selector's newest samples at `t`, merged: a series several selectors select
/// appears once. The text format has no place for annotations.
fn latest_of_all(
    storage: &Storage,
    selectors: &[(String, Selector)],
    t: i64,
    options: &EvalOptions,
) -> Result<Vec<(Labels, Sample)>, QueryError> {
    let mut merged: BTreeMap<Labels, Sample> = BTreeMap::new();
    for (text, selector) in selectors {
        let result = promql::latest_samples(storage, text, selector, t, options)?;
        let QueryValue::Vector(samples) = result.value else {
            return Err(QueryError::Eval(EvalError::Execution(format!(
                "BUG: the newest samples of {text} are not a vector"
            ))));
        };
        for (labels, sample) in samples {
            // Evaluated a moment apart, two selectors may see different samples of a
            // series that is being written: keep the newer.
            let newest = merged.entry(labels).or_insert(sample);
            if sample.t > newest.t {
                *newest = sample;
            }
        }
    }
    Ok(merged.into_iter().collect())
}

/// The text exposition of `samples`: sorted by metric name, then labels; `# TYPE
/// <name> untyped` before each name's lines (tandem keeps no metadata, and Prometheus
/// federates series without it as untyped). Series without a name cannot be written
/// in the format and are left out, as Prometheus does.
fn exposition(samples: Vec<(Labels, Sample)>, external_labels: &[(String, String)]) -> String {
    let mut named: Vec<(String, Labels, Sample)> = samples
        .into_iter()
        .filter_map(|(labels, sample)| {
            let name = labels.metric_name()?.to_string();
            Some((name, labels.without(&[METRIC_NAME]), sample))
        })
        .collect();
    named.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut out = String::with_capacity(named.len() * 64);
    let mut previous: Option<&str> = None;
    for (name, labels, sample) in &named {
        if previous != Some(name.as_str()) {
            let _ = writeln!(out, "# TYPE {name} untyped");
            previous = Some(name);
        }
        write_sample(&mut out, name, labels, external_labels, sample);
    }
    out
}

/// `name{label="value",...} value timestamp_ms`, without braces when there are no
/// labels. After the series' own labels, each external label it does not have, in
/// the order Prometheus writes them.
fn write_sample(
    out: &mut String,
    name: &str,
    labels: &Labels,
    external_labels: &[(String, String)],
    sample: &Sample,
) {
    let added = external_labels
        .iter()
        .filter(|(name, value)| !value.is_empty() && labels.get(name).is_none());
    let all: Vec<(&str, &str)> = labels
        .iter()
        .map(|label| (label.name.as_str(), label.value.as_str()))
        .chain(added.map(|(name, value)| (name.as_str(), value.as_str())))
        .collect();
    out.push_str(name);
    if !all.is_empty() {
        out.push('{');
        for (index, (name, value)) in all.into_iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str(name);
            out.push_str("=\"");
            write_escaped(out, value);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {} {}", format_value(sample.v), sample.t);
}

/// A label value as the text format quotes it: backslash, double quote and newline
/// escaped, everything else as is.
fn write_escaped(out: &mut String, value: &str) {
    for character in value.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
}

/// A value as Prometheus' text encoder writes it (`expfmt.writeFloat`): `+Inf`,
/// `-Inf`, `NaN`, `0` for either zero, otherwise Go's `strconv.FormatFloat(v, 'g', -1,
/// 64)`: the shortest round-trip digits, in exponent form when the decimal exponent
/// is below -4 or at least 6 (`1e+06`, `1.5e-05`).
fn format_value(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if value == 0.0 {
        return "0".into();
    }
    let scientific = format!("{value:e}");
    let exponent: i32 = scientific
        .split_once('e')
        .and_then(|(_, exponent)| exponent.parse().ok())
        .unwrap_or(0);
    if (-4..6).contains(&exponent) {
        // Rust's `Display` prints the same shortest digits, never with an exponent.
        format!("{value}")
    } else {
        super::alerts::format_value_exponent(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().copied()).expect("valid labels")
    }

    /// A sample as the tests write it: labels, time, value.
    type Point<'a> = (&'a [(&'a str, &'a str)], i64, f64);

    /// The exposition of `samples` with `external` labels.
    fn check(samples: &[Point], external: &[(&str, &str)], expect: &str) {
        let samples = samples
            .iter()
            .map(|(pairs, t, v)| (labels(pairs), Sample { t: *t, v: *v }))
            .collect();
        let external: Vec<(String, String)> = external
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        assert_eq!(exposition(samples, &external), expect);
    }

    #[test]
    fn values_are_written_like_prometheus_text_encoder() {
        for (value, expect) in [
            (1.0, "1"),
            (-1.0, "-1"),
            (0.0, "0"),
            (-0.0, "0"),
            (0.5, "0.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123456.0, "123456"),
            (999999.5, "999999.5"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (1.7e9, "1.7e+09"),
            (-2.5e21, "-2.5e+21"),
            (1e100, "1e+100"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (0.00001, "1e-05"),
            (-1.5e-7, "-1.5e-07"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(format_value(value), expect, "{value:e}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        check(
            &[(
                &[
                    ("__name__", "m"),
                    ("path", "C:\\dir"),
                    ("quote", "say \"hi\""),
                    ("text", "two\nlines\ttab ü"),
                ],
                1_000,
                1.0,
            )],
            &[],
            "# TYPE m untyped\n\
             m{path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\",text=\"two\\nlines\ttab ü\"} 1 1000\n",
        );
    }

    #[test]
    fn grouped_by_name_then_sorted_by_labels() {
        check(
            &[
                (&[("__name__", "b"), ("job", "y")], 3, 3.0),
                (&[("__name__", "a_total"), ("job", "x")], 2, 2.0),
                (&[("__name__", "b"), ("job", "x")], 1, f64::NAN),
                // Sorts before `__name__`: the name still comes first.
                (&[("A", "1"), ("__name__", "c")], 4, f64::INFINITY),
                (&[("__name__", "a")], -5, f64::NEG_INFINITY),
                // No name: not writable in the text format.
                (&[("job", "nameless")], 6, 6.0),
            ],
            &[],
            "# TYPE a untyped\n\
             a -Inf -5\n\
             # TYPE a_total untyped\n\
             a_total{job=\"x\"} 2 2\n\
             # TYPE b untyped\n\
             b{job=\"x\"} NaN 1\n\
             b{job=\"y\"} 3 3\n\
             # TYPE c untyped\n\
             c{A=\"1\"} +Inf 4\n",
        );
        check(&[], &[], "");
    }

    #[test]
    fn external_labels_are_added_unless_present() {
        check(
            &[
                (&[("__name__", "m"), ("job", "x")], 1, 1.0),
                (
                    &[("__name__", "m"), ("cluster", "own"), ("job", "y")],
                    2,
                    2.0,
                ),
                (&[("__name__", "n")], 3, 3.0),
            ],
            // Sorted by name, as `[rules] external_labels` are.
            &[("cluster", "eu"), ("empty", ""), ("replica", "a")],
            "# TYPE m untyped\n\
             m{cluster=\"own\",job=\"y\",replica=\"a\"} 2 2\n\
             m{job=\"x\",cluster=\"eu\",replica=\"a\"} 1 1\n\
             # TYPE n untyped\n\
             n{cluster=\"eu\",replica=\"a\"} 3 3\n",
        );
    }
}
