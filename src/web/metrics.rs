//! Request metrics middleware and the `/metrics` endpoint.

use super::WebState;
use crate::selfmon::{HandlerLabels, HttpLabels};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};
use std::time::Instant;

/// Counts every request by route pattern (not raw path, which would let any client
/// mint label values) and status code, and observes its latency.
pub async fn record(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let handler = request
        .match_pattern()
        .unwrap_or_else(|| "other".to_string());
    let state = request.app_data::<web::Data<WebState>>().cloned();
    let result = next.call(request).await;
    if let Some(state) = state {
        let code = match &result {
            Ok(response) => response.status().as_u16(),
            Err(error) => error.as_response_error().status_code().as_u16(),
        };
        let metrics = &state.metrics;
        metrics
            .http_requests
            .get_or_create(&HttpLabels {
                handler: handler.clone(),
                code,
            })
            .inc();
        metrics
            .http_request_duration
            .get_or_create(&HandlerLabels { handler })
            .observe(started.elapsed().as_secs_f64());
    }
    result
}

/// tandem's own metrics in the OpenMetrics text format.
pub async fn exposition(state: web::Data<WebState>) -> HttpResponse {
    match state.metrics.encode() {
        Ok(text) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(text),
        Err(error) => {
            HttpResponse::InternalServerError().body(format!("encoding metrics failed: {error}"))
        }
    }
}
