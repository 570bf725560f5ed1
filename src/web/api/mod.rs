//! The Prometheus-compatible HTTP API (`/api/v1/...`): JSON in Prometheus' envelope.

pub mod admin;
pub mod alerts;
pub mod federate;
pub mod import;
pub mod peer;
pub mod query;
pub mod silences;
pub mod slos;
pub mod status;
pub mod targets;
pub mod write;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::json;

/// Prometheus' error envelope: `{"status":"error","errorType":...,"error":...}`.
pub fn error_response(status: StatusCode, error_type: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "status": "error",
        "errorType": error_type,
        "error": message,
    }))
}
