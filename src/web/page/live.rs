//! `GET /explore/live?expr=...`: Explore's live tail, Server-Sent Events carrying the
//! expression's value every second.
//! Owns: the stream, its bounds (how many at once, how long each lives, series per
//! event) and the event format.
//! Does not: evaluate anything but through the PromQL engine, like every reader.
//!
//! Each event is `data: {"t": <unix ms>, "series": [{"name": "...", "v": <number or
//! null>, "text": "<formatted>"}]}`; an evaluation error is `event: error`. The page's
//! script draws the points as they come; without the script there is no live tail and
//! the rest of Explore works the same.

use crate::promql::value::QueryValue;
use crate::web::WebState;
use crate::web::api::query::run_for_page;
use actix_web::{HttpRequest, HttpResponse, web};
use std::sync::Arc;
use std::time::Duration;

/// Live tails open at once; more are refused (each evaluates once a second).
pub const LIVE_STREAMS_MAX: usize = 16;
/// How long one live tail runs before the server ends it (the page can reopen it).
pub const LIVE_STREAM_DURATION: Duration = Duration::from_secs(15 * 60);
/// Series sent per event.
pub const LIVE_SERIES_MAX: usize = 20;
/// Time between events.
const LIVE_INTERVAL: Duration = Duration::from_secs(1);

static OPEN_STREAMS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Releases a stream's slot when the stream is dropped (client gone or time up).
struct Slot;

impl Drop for Slot {
    fn drop(&mut self) {
        OPEN_STREAMS.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

fn take_slot() -> Option<Slot> {
    let taken = OPEN_STREAMS.fetch_update(
        std::sync::atomic::Ordering::AcqRel,
        std::sync::atomic::Ordering::Acquire,
        |open| (open < LIVE_STREAMS_MAX).then_some(open + 1),
    );
    taken.ok().map(|_| Slot)
}

struct Tail {
    state: web::Data<WebState>,
    expr: Arc<str>,
    started: tokio::time::Instant,
    ticker: tokio::time::Interval,
    _slot: Slot,
}

pub async fn stream(request: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let expr = form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(name, _)| name == "expr")
        .map(|(_, value)| value.trim().to_string())
        .unwrap_or_default();
    if let Err(error) = crate::promql::parse::parse(&expr) {
        return HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body(format!("expr: {error}\n"));
    }
    let Some(slot) = take_slot() else {
        return HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body(format!(
                "{LIVE_STREAMS_MAX} live tails are open, the limit; close one and retry\n"
            ));
    };
    let mut ticker = tokio::time::interval(LIVE_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let tail = Tail {
        state,
        expr: Arc::from(expr),
        started: tokio::time::Instant::now(),
        ticker,
        _slot: slot,
    };
    let events = futures_util::stream::unfold(tail, |mut tail| async move {
        if tail.started.elapsed() >= LIVE_STREAM_DURATION {
            return None;
        }
        tail.ticker.tick().await;
        let event = event(&tail.state, &tail.expr).await;
        Some((Ok::<_, actix_web::Error>(web::Bytes::from(event)), tail))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(events)
}

/// One event: the expression's value now.
async fn event(state: &WebState, expr: &Arc<str>) -> String {
    let now_ms = crate::alert::rules::now_ms();
    let storage = Arc::clone(&state.storage);
    let query = Arc::clone(expr);
    let result = run_for_page(state, move |options| {
        crate::promql::instant(&storage, &query, now_ms, &options)
    })
    .await;
    let value = match result {
        Ok((result, _)) => result.value,
        Err(error) => {
            let body = serde_json::json!({ "error": error });
            return format!("event: error\ndata: {body}\n\n");
        }
    };
    let samples: Vec<(String, f64)> = match value {
        QueryValue::Vector(samples) => samples
            .into_iter()
            .take(LIVE_SERIES_MAX)
            .map(|(labels, sample)| (labels.to_string(), sample.v))
            .collect(),
        QueryValue::Scalar(_, value) => vec![("scalar".to_string(), value)],
        _ => Vec::new(),
    };
    let series: Vec<serde_json::Value> = samples
        .into_iter()
        .map(|(name, value)| {
            serde_json::json!({
                "name": name,
                // JSON has no NaN or infinities: they go as null, with the text.
                "v": if value.is_finite() { serde_json::json!(value) } else { serde_json::Value::Null },
                "text": crate::web::api::query::format_value(value),
            })
        })
        .collect();
    let body = serde_json::json!({ "t": now_ms, "series": series });
    format!("data: {body}\n\n")
}
