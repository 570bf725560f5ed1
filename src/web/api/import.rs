//! `POST /api/v1/import/prometheus`: text exposition with optional timestamps, pushed
//! into a running instance. Answers only after the data is durable.
//! Query parameters: `skip_invalid=1` stores the good lines and reports the bad ones
//! (otherwise a body with a bad line is refused whole); `timestamp` (ms) for lines
//! without one (default: now). `Content-Encoding: gzip` bodies are accepted.

use crate::collect::expfmt;
use crate::collect::import::{self, ImportError, ImportOptions};
use crate::selfmon::{ImportMetrics, PushReasonLabels};
use crate::storage::{Durability, RejectReason};
use crate::web::WebState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use std::io::Read;

#[derive(Deserialize)]
pub struct ImportQuery {
    #[serde(default)]
    skip_invalid: Option<String>,
    #[serde(default)]
    timestamp: Option<i64>,
}

pub async fn prometheus(
    state: web::Data<WebState>,
    request: HttpRequest,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
) -> HttpResponse {
    let metrics = state.metrics.import.clone();
    let refused = |reason: &'static str| {
        metrics
            .requests_rejected
            .get_or_create(&PushReasonLabels { reason })
            .inc();
    };
    let limit = state.reloader.current().storage.import_body_bytes_max;
    let body = match payload.to_bytes_limited(limit).await {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => {
            refused("bad_body");
            return super::error_response(
                StatusCode::BAD_REQUEST,
                "bad_data",
                &format!("reading the body: {error}"),
            );
        }
        Err(_) => {
            refused("too_large");
            return too_large(limit);
        }
    };
    let gzip = request
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("gzip"));
    let body = if gzip {
        let mut decoded = Vec::new();
        let reader = flate2::read::GzDecoder::new(&body[..]).take(limit as u64 + 1);
        if let Err(error) = { reader }.read_to_end(&mut decoded) {
            refused("bad_body");
            return super::error_response(
                StatusCode::BAD_REQUEST,
                "bad_data",
                &format!("gzip body: {error}"),
            );
        }
        if decoded.len() > limit {
            refused("too_large");
            return too_large(limit);
        }
        decoded
    } else {
        body.to_vec()
    };
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let options = ImportOptions {
        format: expfmt::detect_format(content_type),
        skip_invalid: matches!(query.skip_invalid.as_deref(), Some("1" | "true")),
        durability: Durability::Sync,
        default_timestamp_ms: query
            .timestamp
            .unwrap_or_else(|| crate::config::history::unix_millis(std::time::SystemTime::now())),
    };
    let storage = std::sync::Arc::clone(&state.storage);
    let result = web::block(move || {
        if !options.skip_invalid {
            let (count, listed) =
                import::validate(import::Source::Bytes(&body), options.format, &mut |_| {})?;
            if count > 0 {
                return Err(ImportError::Invalid { count, listed });
            }
        }
        import::import(
            import::Source::Bytes(&body),
            &storage,
            &options,
            &mut |_| {},
        )
    })
    .await;
    match &result {
        Ok(Ok(report)) => count(&metrics, report),
        Ok(Err(ImportError::Invalid { .. })) => refused("invalid_lines"),
        Ok(Err(_)) | Err(_) => refused("storage_error"),
    }
    match result {
        Ok(Ok(report)) => HttpResponse::Ok().json(json!({
            "status": "success",
            "data": {
                "samples": report.samples,
                "accepted": report.outcome.accepted,
                "unchanged": report.outcome.unchanged,
                "rejected": report.outcome.rejected,
                "rejections": report.outcome.rejections.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "skipped_lines": report.skipped_count,
                "skipped": report.skipped.iter().map(ToString::to_string).collect::<Vec<_>>(),
            },
        })),
        Ok(Err(ImportError::Invalid { count, listed })) => HttpResponse::BadRequest().json(json!({
            "status": "error",
            "errorType": "bad_data",
            "error": format!("{count} invalid line(s), nothing was imported (add skip_invalid=1 to store the valid ones)"),
            "lines": listed.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })),
        Ok(Err(error)) => super::error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", &error.to_string()),
        Err(error) => super::error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", &error.to_string()),
    }
}

fn count(metrics: &ImportMetrics, report: &import::ImportReport) {
    metrics
        .samples_received
        .inc_by(report.samples + report.skipped_count);
    let reject = |reason: &'static str, samples: u64| {
        if samples > 0 {
            metrics
                .samples_rejected
                .get_or_create(&PushReasonLabels { reason })
                .inc_by(samples);
        }
    };
    reject("invalid_line", report.skipped_count);
    let mut by_storage = [0u64; RejectReason::KINDS.len()];
    for rejection in &report.outcome.rejections {
        by_storage[rejection.reason.kind_index()] += rejection.samples;
    }
    for (kind, samples) in RejectReason::KINDS.iter().zip(by_storage) {
        reject(kind, samples);
    }
    // Rejections past the listed ones carry no reason.
    let listed: u64 = by_storage.iter().sum();
    reject("unlisted", report.outcome.rejected.saturating_sub(listed));
}

fn too_large(limit: usize) -> HttpResponse {
    super::error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "bad_data",
        &format!("body larger than {limit} bytes ([storage] import_body_bytes_max)"),
    )
}
