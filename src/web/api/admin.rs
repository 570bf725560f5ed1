//! `/api/v1/admin/*`: operator actions.

use crate::web::WebState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::json;

/// Seals every open chunk and compacts everything into SQLite blocks now, instead
/// of waiting for data to leave the hot window (benchmarks, and before a backup).
pub async fn compact(state: web::Data<WebState>) -> HttpResponse {
    let storage = std::sync::Arc::clone(&state.storage);
    let result = web::block(move || {
        storage.seal_idle(i64::MAX)?;
        let report = storage.compact(i64::MAX)?;
        storage.checkpoint()?;
        Ok::<_, crate::storage::StorageError>(report)
    })
    .await;
    match result {
        Ok(Ok(report)) => HttpResponse::Ok().json(json!({
            "status": "success",
            "data": { "chunks": report.chunks, "samples": report.samples, "blocks": report.blocks_written },
        })),
        Ok(Err(error)) => super::error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", &error.to_string()),
        Err(error) => super::error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", &error.to_string()),
    }
}
