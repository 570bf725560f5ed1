//! `POST /api/v1/write`: the Prometheus remote_write 1.0 receiver.
//! Owns: the HTTP side: content type and encoding checks (415), the body limit (413),
//! mapping a `collect::remote_write::WriteReport` to a status, and the receiver's
//! counters. Answers 204 only once the samples are durable (fsync of the WAL).
//!
//! Status codes follow what senders do with them: 204 stored; 400 for input that will
//! never be stored (the sender drops it; the valid series of a partly invalid request
//! are stored first and the refused ones are named in the body); 413 and 415 likewise
//! final; 500 when storage fails, which senders retry.

use crate::collect::remote_write::{self, InvalidReason, WriteError};
use crate::selfmon::{PushKindLabels, PushReasonLabels, RemoteWriteMetrics};
use crate::storage::{Durability, RejectReason};
use crate::web::WebState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use std::fmt::Write as _;

pub async fn receive(
    state: web::Data<WebState>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let metrics = &state.metrics.remote_write;
    if let Err(message) = check_headers(&request) {
        return refuse(
            metrics,
            "content_type",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message,
        );
    }
    if let Err(message) = check_encoding(&request) {
        return refuse(
            metrics,
            "encoding",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message,
        );
    }
    let limit = state.reloader.current().storage.remote_write_body_bytes_max;
    let body = match payload.to_bytes_limited(limit).await {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => {
            return refuse(
                metrics,
                "bad_body",
                StatusCode::BAD_REQUEST,
                format!("reading the body: {error}"),
            );
        }
        Err(_) => {
            return refuse(
                metrics,
                "too_large",
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {limit} bytes ([storage] remote_write_body_bytes_max)"),
            );
        }
    };
    let storage = std::sync::Arc::clone(&state.storage);
    let receiver = std::sync::Arc::clone(&state.remote_write);
    let result = web::block(move || receiver.write(&storage, &body, Durability::Sync)).await;
    let report = match result {
        Ok(Ok(report)) => report,
        Ok(Err(WriteError::Decode(remote_write::DecodeError::TooLarge { decoded, limit }))) => {
            return refuse(
                metrics,
                "too_large",
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("decoded body would be {decoded} bytes, more than the limit of {limit}"),
            );
        }
        Ok(Err(WriteError::Decode(error))) => {
            return refuse(
                metrics,
                "bad_body",
                StatusCode::BAD_REQUEST,
                format!("undecodable remote_write body: {error}"),
            );
        }
        Ok(Err(WriteError::Storage(error))) => {
            return refuse(
                metrics,
                "storage_error",
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("storing the samples failed: {error}"),
            );
        }
        Err(error) => {
            return refuse(
                metrics,
                "storage_error",
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("storing the samples failed: {error}"),
            );
        }
    };
    count(metrics, &report);
    if report.complete() {
        return HttpResponse::NoContent().finish();
    }
    HttpResponse::BadRequest()
        .content_type("text/plain; charset=utf-8")
        .body(describe(&report))
}

fn count(metrics: &RemoteWriteMetrics, report: &remote_write::WriteReport) {
    metrics.samples_received.inc_by(report.samples as u64);
    for (kind, samples) in InvalidReason::KINDS.iter().zip(report.invalid_by_kind) {
        if samples > 0 {
            metrics
                .samples_rejected
                .get_or_create(&PushReasonLabels { reason: kind })
                .inc_by(samples);
        }
    }
    let mut by_storage = [0u64; RejectReason::KINDS.len()];
    for rejection in &report.outcome.rejections {
        by_storage[rejection.reason.kind_index()] += rejection.samples;
    }
    // Rejections past the listed ones (`limits::APPEND_REJECTIONS_LISTED_MAX`) carry
    // no reason.
    let listed: u64 = by_storage.iter().sum();
    let unlisted = report.outcome.rejected.saturating_sub(listed);
    for (kind, samples) in RejectReason::KINDS
        .iter()
        .zip(by_storage)
        .chain([(&"unlisted", unlisted)])
    {
        if samples > 0 {
            metrics
                .samples_rejected
                .get_or_create(&PushReasonLabels { reason: kind })
                .inc_by(samples);
        }
    }
    for (kind, dropped) in [
        ("exemplar", report.exemplars_dropped),
        ("native_histogram", report.histograms_dropped),
        ("metadata", report.metadata_dropped),
    ] {
        if dropped > 0 {
            metrics
                .dropped
                .get_or_create(&PushKindLabels { kind })
                .inc_by(dropped as u64);
        }
    }
}

/// The body of a 400: what was stored, then each refused series or sample.
fn describe(report: &remote_write::WriteReport) -> String {
    let mut text = format!(
        "stored the valid part of the request; refused {} of {} series ({} samples) and {} more samples:\n",
        report.invalid_series, report.series, report.invalid_samples, report.outcome.rejected
    );
    for invalid in &report.invalid {
        let _ = writeln!(text, "{invalid}");
    }
    if report.invalid_series > report.invalid.len() {
        let _ = writeln!(
            text,
            "... and {} more series",
            report.invalid_series - report.invalid.len()
        );
    }
    for rejection in &report.outcome.rejections {
        let _ = writeln!(text, "{rejection}");
    }
    text
}

/// remote_write 1.0 is `application/x-protobuf`; 2.0 adds
/// `;proto=io.prometheus.write.v2.Request`, which this receiver does not speak. A
/// missing content type is read as 1.0, as Prometheus' own receiver does.
fn check_headers(request: &HttpRequest) -> Result<(), String> {
    let Some(value) = request.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let value = value
        .to_str()
        .map_err(|_| "Content-Type is not ASCII".to_string())?;
    let mut parts = value.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(format!(
            "Content-Type {value:?}: remote_write needs application/x-protobuf"
        ));
    }
    for parameter in parts {
        if let Some(proto) = parameter.strip_prefix("proto=")
            && proto != "prometheus.WriteRequest"
        {
            return Err(format!(
                "Content-Type {value:?}: only remote_write 1.0 (prometheus.WriteRequest) is supported"
            ));
        }
    }
    Ok(())
}

/// The body must be snappy (block format); a missing header is read as snappy.
fn check_encoding(request: &HttpRequest) -> Result<(), String> {
    match request.headers().get(header::CONTENT_ENCODING) {
        None => Ok(()),
        Some(value) if value.as_bytes().eq_ignore_ascii_case(b"snappy") => Ok(()),
        Some(value) => Err(format!(
            "Content-Encoding {:?}: remote_write bodies are snappy-compressed",
            String::from_utf8_lossy(value.as_bytes())
        )),
    }
}

fn refuse(
    metrics: &RemoteWriteMetrics,
    reason: &'static str,
    status: StatusCode,
    message: impl Into<String>,
) -> HttpResponse {
    metrics
        .requests_rejected
        .get_or_create(&PushReasonLabels { reason })
        .inc();
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(message.into() + "\n")
}
