//! The Prometheus query API: `/api/v1/query`, `/query_range`, `/series`, `/labels`,
//! `/label/<name>/values`, `/metadata`, `/format_query`, GET and POST (form-encoded).
//! Owns: parameter parsing and validation (time, duration, `match[]`), the concurrency
//! gate and deadline, JSON rendering in Prometheus' exact shapes, error envelopes.
//! Does not: evaluate anything (`promql`) or read storage except through the engine
//! and the label enumeration `Storage` offers.

use crate::model::{Labels, Matcher};
use crate::promql::value::QueryValue;
use crate::promql::{
    self, AnnotationKind, EvalError, EvalOptions, QueryError, QueryResult, TierRequest,
};
use crate::web::WebState;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use std::fmt::Write;
use std::time::{Duration, Instant};

/// Request parameters from the query string and a form body, in order; repeated keys
/// (`match[]`) are kept.
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn read(request: &HttpRequest, body: &[u8]) -> Params {
        let mut pairs: Vec<(String, String)> =
            form_urlencoded::parse(request.query_string().as_bytes())
                .into_owned()
                .collect();
        if is_form(request.headers()) {
            pairs.extend(form_urlencoded::parse(body).into_owned());
        }
        Params(pairs)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    pub(super) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"))
}

/// An API failure: Prometheus' `errorType` and status code.
pub(super) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    pub(super) fn bad_data(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "bad_data",
            message: message.into(),
        }
    }

    pub(super) fn response(&self) -> HttpResponse {
        super::error_response(self.status, self.kind, &self.message)
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> ApiError {
        let message = error.to_string();
        match error {
            QueryError::Parse(_) | QueryError::BadRequest(_) => ApiError::bad_data(message),
            QueryError::Eval(EvalError::Timeout) => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                kind: "timeout",
                message,
            },
            QueryError::Eval(EvalError::Storage(_)) => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                kind: "internal",
                message,
            },
            QueryError::Eval(_) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                kind: "execution",
                message,
            },
        }
    }
}

/// Milliseconds now.
pub(super) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A time parameter: Unix seconds (fractions allowed) or RFC 3339.
pub(super) fn parse_time(name: &str, text: &str) -> Result<i64, ApiError> {
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
    {
        return Ok((seconds * 1000.0).round() as i64);
    }
    text.parse::<jiff::Timestamp>()
        .map(|timestamp| timestamp.as_millisecond())
        .map_err(|_| {
            ApiError::bad_data(format!(
                "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid timestamp"
            ))
        })
}

/// A duration parameter: seconds (fractions allowed) or Prometheus syntax (`15s`).
fn parse_duration(name: &str, text: &str) -> Result<Duration, ApiError> {
    if let Ok(seconds) = text.parse::<f64>() {
        if (0.0..1e12).contains(&seconds) {
            return Ok(Duration::from_secs_f64(seconds));
        }
    } else if let Ok(duration) = crate::config::units::parse_duration(text) {
        return Ok(duration);
    }
    Err(ApiError::bad_data(format!(
        "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid duration"
    )))
}

/// Evaluation settings from the running config and the request's `timeout`.
fn options(state: &WebState, params: &Params) -> Result<(EvalOptions, Duration), ApiError> {
    let config = state.reloader.current();
    let mut timeout = config.query.timeout;
    if let Some(text) = params.get("timeout") {
        timeout = timeout.min(parse_duration("timeout", text)?);
    }
    let lookback = match params.get("lookback_delta") {
        Some(text) => parse_duration("lookback_delta", text)?,
        None => config.query.lookback_delta,
    };
    Ok((
        EvalOptions {
            lookback_ms: i64::try_from(lookback.as_millis()).unwrap_or(i64::MAX),
            samples_max: config.query.samples_max,
            deadline: Some(Instant::now() + timeout),
            subquery_step_ms: 60_000,
            tier: tier_request(state, params)?,
        },
        timeout,
    ))
}

/// The `tier` parameter: `auto` (the default), `raw`, or a rollup tier's resolution
/// as configured (`1m`, `1h`).
fn tier_request(state: &WebState, params: &Params) -> Result<TierRequest, ApiError> {
    let Some(text) = params.get("tier") else {
        return Ok(TierRequest::Auto);
    };
    let tiers = state.storage.tier_coverage();
    let names: Vec<String> = tiers.iter().map(|tier| tier.tier.name()).collect();
    let unknown = || {
        ApiError::bad_data(format!(
            "invalid parameter \"tier\": no tier {text:?}; this store has auto, {}",
            names.join(", ")
        ))
    };
    match text {
        "auto" => Ok(TierRequest::Auto),
        "raw" => Ok(TierRequest::Raw),
        _ => {
            let resolution = crate::config::units::parse_duration(text).map_err(|_| unknown())?;
            let resolution = i64::try_from(resolution.as_millis()).map_err(|_| unknown())?;
            tiers
                .iter()
                .find(|tier| tier.tier.resolution_ms == Some(resolution))
                .map(|_| TierRequest::Rollup(resolution))
                .ok_or_else(unknown)
        }
    }
}

/// Runs `work` on the blocking pool once a query slot is free.
pub(super) async fn run_query<T: Send + 'static>(
    state: &WebState,
    timeout: Duration,
    work: impl FnOnce() -> Result<T, QueryError> + Send + 'static,
) -> Result<(T, Duration), ApiError> {
    let queued = Instant::now();
    let permit = tokio::time::timeout(timeout, state.query_slots.clone().acquire_owned())
        .await
        .map_err(|_| ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "timeout",
            message: "query timed out in query queue".into(),
        })?
        .map_err(|_| ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "unavailable",
            message: "the server is shutting down".into(),
        })?;
    let queue_time = queued.elapsed();
    let result = web::block(work).await.map_err(|_| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        kind: "internal",
        message: "query evaluation panicked".into(),
    })?;
    drop(permit);
    Ok((result?, queue_time))
}

/// Evaluation settings and timeout from the running config alone, for readers
/// without query parameters (pages, `/federate`); the deadline starts now.
pub(super) fn config_options(state: &WebState) -> (EvalOptions, Duration) {
    let config = state.reloader.current();
    let timeout = config.query.timeout;
    let options = EvalOptions {
        lookback_ms: i64::try_from(config.query.lookback_delta.as_millis()).unwrap_or(i64::MAX),
        samples_max: config.query.samples_max,
        deadline: Some(Instant::now() + timeout),
        subquery_step_ms: 60_000,
        tier: TierRequest::Auto,
    };
    (options, timeout)
}

/// Evaluates `work` for a page (explore, dashboards): the running config's limits and
/// timeout, a query slot, the blocking pool. The error is the message to show.
pub async fn run_for_page(
    state: &WebState,
    work: impl FnOnce(EvalOptions) -> Result<QueryResult, QueryError> + Send + 'static,
) -> Result<(QueryResult, Duration), String> {
    let (options, timeout) = config_options(state);
    let started = Instant::now();
    run_query(state, timeout, move || work(options))
        .await
        .map(|(result, _)| (result, started.elapsed()))
        .map_err(|error| error.message)
}

/// A required parameter.
fn required<'p>(params: &'p Params, name: &str) -> Result<&'p str, ApiError> {
    params.get(name).ok_or_else(|| {
        ApiError::bad_data(format!("invalid parameter \"{name}\": missing or empty"))
    })
}

/// What a query request asks for, once its parameters are checked.
enum Request {
    Instant { t: i64 },
    Range { start: i64, end: i64, step: i64 },
}

/// The shared flow of `/query` and `/query_range`: check parameters, wait for a slot,
/// evaluate on the blocking pool, answer in Prometheus' shape.
async fn answer(
    state: &WebState,
    params: &Params,
    parse: impl FnOnce(&Params) -> Result<Request, ApiError>,
) -> HttpResponse {
    let outcome = async {
        let query = required(params, "query")?.to_string();
        let request = parse(params)?;
        let (options, timeout) = options(state, params)?;
        let storage = std::sync::Arc::clone(&state.storage);
        let started = Instant::now();
        let (result, queued) = run_query(state, timeout, move || match request {
            Request::Instant { t } => promql::instant(&storage, &query, t, &options),
            Request::Range { start, end, step } => {
                promql::range(&storage, &query, start, end, step, &options)
            }
        })
        .await?;
        Ok::<_, ApiError>((result, queued, started.elapsed()))
    }
    .await;
    match outcome {
        Ok((result, queued, total)) => {
            success(&result, params.get("stats").is_some(), queued, total)
        }
        Err(error) => error.response(),
    }
}

pub async fn instant(
    state: web::Data<WebState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let params = Params::read(&request, &body);
    answer(&state, &params, |params| {
        let t = match params.get("time") {
            Some(text) => parse_time("time", text)?,
            None => now_ms(),
        };
        Ok(Request::Instant { t })
    })
    .await
}

pub async fn range(
    state: web::Data<WebState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let params = Params::read(&request, &body);
    answer(&state, &params, |params| {
        let start = parse_time("start", required(params, "start")?)?;
        let end = parse_time("end", required(params, "end")?)?;
        let step = parse_duration("step", required(params, "step")?)?;
        Ok(Request::Range {
            start,
            end,
            step: i64::try_from(step.as_millis()).unwrap_or(i64::MAX),
        })
    })
    .await
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`, as Prometheus writes sample values.
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Rust's shortest round-trip form never uses an exponent, like Go's 'f', -1.
        format!("{value}")
    }
}

/// Prometheus' timestamp: seconds, with exactly three decimals when not whole.
fn write_time(out: &mut String, t: i64) {
    if t < 0 {
        out.push('-');
    }
    let t = t.unsigned_abs();
    let _ = write!(out, "{}", t / 1000);
    if !t.is_multiple_of(1000) {
        let _ = write!(out, ".{:03}", t % 1000);
    }
}

fn write_json_string(out: &mut String, text: &str) {
    // serde_json escapes exactly as JSON requires; a string cannot fail to serialize.
    out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into()));
}

fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (index, label) in labels.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_json_string(out, &label.name);
        out.push(':');
        write_json_string(out, &label.value);
    }
    out.push('}');
}

fn write_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    write_time(out, t);
    out.push_str(",\"");
    out.push_str(&format_value(v));
    out.push_str("\"]");
}

/// `{"resultType":KIND,"result":[{"metric":{...}<what write_rest adds>}, ...]` without
/// the closing brace of `data`.
fn write_series<T>(
    out: &mut String,
    kind: &str,
    items: &[(Labels, T)],
    write_rest: impl Fn(&mut String, &T),
) {
    let _ = write!(out, "{{\"resultType\":\"{kind}\",\"result\":[");
    for (index, (labels, rest)) in items.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        write_labels(out, labels);
        write_rest(out, rest);
        out.push('}');
    }
    out.push(']');
}

/// The `data` object of a query result.
fn write_data(out: &mut String, value: &QueryValue) {
    match value {
        QueryValue::Scalar(t, v) => {
            out.push_str("{\"resultType\":\"scalar\",\"result\":");
            write_point(out, *t, *v);
        }
        QueryValue::String(t, text) => {
            out.push_str("{\"resultType\":\"string\",\"result\":[");
            write_time(out, *t);
            out.push(',');
            write_json_string(out, text);
            out.push(']');
        }
        QueryValue::Vector(samples) => write_series(out, "vector", samples, |out, sample| {
            out.push_str(",\"value\":");
            write_point(out, sample.t, sample.v);
        }),
        QueryValue::Matrix(series) => write_series(out, "matrix", series, |out, samples| {
            out.push_str(",\"values\":[");
            for (position, sample) in samples.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                write_point(out, sample.t, sample.v);
            }
            out.push(']');
        }),
    }
}

fn success(result: &QueryResult, stats: bool, queued: Duration, total: Duration) -> HttpResponse {
    let mut out = String::with_capacity(1024);
    out.push_str("{\"status\":\"success\",\"data\":");
    write_data(&mut out, &result.value);
    if stats {
        let eval = total.saturating_sub(queued).as_secs_f64();
        let _ = write!(
            out,
            ",\"stats\":{{\"timings\":{{\"evalTotalTime\":{eval},\"resultSortTime\":0,\"queryPreparationTime\":0,\"innerEvalTime\":{eval},\"execQueueTime\":{},\"execTotalTime\":{}}},\"samples\":{{\"totalQueryableSamples\":{},\"peakSamples\":{}}}}}",
            queued.as_secs_f64(),
            total.as_secs_f64(),
            result.stats.samples_loaded,
            result.stats.samples_loaded
        );
    }
    out.push('}');
    // Which storage tiers answered (tandem's addition; Prometheus clients ignore it).
    if !result.tiers.is_empty() {
        out.push_str(",\"tier\":");
        write_json_string(&mut out, &result.tiers.join(","));
    }
    for (kind, key) in [
        (AnnotationKind::Warning, "warnings"),
        (AnnotationKind::Info, "infos"),
    ] {
        let messages: Vec<&str> = result
            .annotations
            .iter()
            .filter(|annotation| annotation.kind == kind)
            .map(|annotation| annotation.message.as_str())
            .collect();
        if !messages.is_empty() {
            let _ = write!(out, ",\"{key}\":");
            out.push_str(&serde_json::to_string(&messages).unwrap_or_else(|_| "[]".into()));
        }
    }
    out.push('}');
    HttpResponse::Ok()
        .content_type("application/json")
        .body(out)
}

/// The matchers of each `match[]` selector.
fn selectors(params: &Params, required: bool) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let texts = params.all("match[]");
    if texts.is_empty() && required {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    texts
        .into_iter()
        .map(|text| parse_selector(text).map(|selector| selector.matchers))
        .collect()
}

/// One `match[]` selector.
pub(super) fn parse_selector(text: &str) -> Result<promql::ast::Selector, ApiError> {
    match promql::parse::parse(text) {
        Ok(promql::ast::Expr::Selector(selector)) => Ok(*selector),
        Ok(_) => Err(ApiError::bad_data(format!(
            "invalid parameter \"match[]\": {text:?} is not a series selector"
        ))),
        Err(error) => Err(ApiError::bad_data(format!(
            "invalid parameter \"match[]\": {error}"
        ))),
    }
}

/// `start`/`end` bounds of a metadata request; unbounded when absent.
fn bounds(params: &Params) -> Result<(i64, i64), ApiError> {
    let start = match params.get("start") {
        Some(text) => parse_time("start", text)?,
        None => i64::MIN,
    };
    let end = match params.get("end") {
        Some(text) => parse_time("end", text)?,
        None => i64::MAX,
    };
    Ok((start, end))
}

fn limit(params: &Params) -> Result<Option<usize>, ApiError> {
    match params.get("limit") {
        None => Ok(None),
        Some(text) => match text.parse::<usize>() {
            Ok(0) => Ok(None),
            Ok(limit) => Ok(Some(limit)),
            Err(_) => Err(ApiError::bad_data(format!(
                "invalid parameter \"limit\": cannot parse \"{text}\" to a valid limit"
            ))),
        },
    }
}

/// `{"status":"success","data":...}` with a warning when `limit` cut the list.
fn list_response(data: serde_json::Value, truncated: bool) -> HttpResponse {
    let mut body = serde_json::json!({ "status": "success", "data": data });
    if truncated {
        body["warnings"] = serde_json::json!(["results truncated due to limit"]);
    }
    HttpResponse::Ok().json(body)
}

/// Runs `list` for each `match[]` selector (once with no matchers when there are none
/// and they are optional) on the blocking pool, merges, sorts, dedups and applies
/// `limit`. Returns the list and whether `limit` cut it.
async fn list_matching<T: Ord + Send + 'static>(
    state: &WebState,
    params: &Params,
    match_required: bool,
    list: impl Fn(&crate::storage::Storage, &[Matcher], i64, i64) -> Vec<T> + Send + 'static,
) -> Result<(Vec<T>, bool), HttpResponse> {
    let prepared = (|| {
        Ok::<_, ApiError>((
            selectors(params, match_required)?,
            bounds(params)?,
            limit(params)?,
        ))
    })();
    let (mut selectors, (start, end), limit) = prepared.map_err(|error| error.response())?;
    if selectors.is_empty() {
        selectors.push(Vec::new());
    }
    let storage = std::sync::Arc::clone(&state.storage);
    let listed = web::block(move || {
        let mut all: Vec<T> = selectors
            .iter()
            .flat_map(|matchers| list(&storage, matchers, start, end))
            .collect();
        all.sort();
        all.dedup();
        all
    })
    .await;
    let mut all = listed.map_err(|_| {
        super::error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "listing failed",
        )
    })?;
    let truncated = limit.is_some_and(|limit| all.len() > limit);
    if let Some(limit) = limit {
        all.truncate(limit);
    }
    Ok((all, truncated))
}

pub async fn series(
    state: web::Data<WebState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let params = Params::read(&request, &body);
    let listed = list_matching(&state, &params, true, |storage, matchers, start, end| {
        storage.series_labels(matchers, start, end)
    })
    .await;
    let (all, truncated) = match listed {
        Ok(listed) => listed,
        Err(response) => return response,
    };
    let data: Vec<serde_json::Value> = all
        .iter()
        .map(|labels| {
            serde_json::Value::Object(
                labels
                    .iter()
                    .map(|label| {
                        (
                            label.name.clone(),
                            serde_json::Value::String(label.value.clone()),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    list_response(serde_json::Value::Array(data), truncated)
}

/// Label names (`name = None`) or the values of one label.
async fn enumerate(state: &WebState, params: Params, name: Option<String>) -> HttpResponse {
    let listed = list_matching(
        state,
        &params,
        false,
        move |storage, matchers, start, end| match &name {
            Some(name) => storage.label_values(name, matchers, start, end),
            None => storage.label_names(matchers, start, end),
        },
    )
    .await;
    match listed {
        Ok((all, truncated)) => list_response(serde_json::json!(all), truncated),
        Err(response) => response,
    }
}

pub async fn labels(
    state: web::Data<WebState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let params = Params::read(&request, &body);
    enumerate(&state, params, None).await
}

pub async fn label_values(
    state: web::Data<WebState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let params = Params::read(&request, &[]);
    let name = path.into_inner();
    // Prometheus 3 lets clients send any UTF-8 name escaped as `U__...`; plain names
    // are the common case and the only one accepted here.
    if crate::model::check_label_name(&name).is_err() {
        return ApiError::bad_data(format!("invalid label name: {name:?}")).response();
    }
    enumerate(&state, params, Some(name)).await
}

/// Metric metadata (`# HELP`/`# TYPE`) is not stored yet: an empty map, in the shape
/// clients expect.
pub async fn metadata() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "success", "data": {} }))
}

pub async fn format_query(request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let params = Params::read(&request, &body);
    let Some(query) = params.get("query") else {
        return ApiError::bad_data("invalid parameter \"query\": missing or empty").response();
    };
    match promql::parse::parse(query) {
        Ok(expr) => HttpResponse::Ok().json(serde_json::json!({
            "status": "success",
            "data": expr.to_string(),
        })),
        Err(error) => ApiError::bad_data(error.to_string()).response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_times_print_like_prometheus() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(-0.0), "-0");
        let mut out = String::new();
        write_time(&mut out, 1_435_781_451_781);
        out.push(' ');
        write_time(&mut out, 1_000);
        out.push(' ');
        write_time(&mut out, 1_500);
        out.push(' ');
        write_time(&mut out, -1_005);
        assert_eq!(out, "1435781451.781 1 1.500 -1.005");
    }

    #[test]
    fn times_and_durations_parse_both_ways() {
        assert_eq!(
            parse_time("t", "1435781451.781").ok(),
            Some(1_435_781_451_781)
        );
        assert_eq!(
            parse_time("t", "2015-07-01T20:10:51.781Z").ok(),
            Some(1_435_781_451_781)
        );
        assert!(parse_time("t", "yesterday").is_err());
        assert_eq!(
            parse_duration("s", "15").ok(),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            parse_duration("s", "1m").ok(),
            Some(Duration::from_secs(60))
        );
        assert!(parse_duration("s", "-1").is_err());
    }
}
