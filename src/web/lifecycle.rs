//! `/-/healthy`, `/-/ready` and `/-/reload`: the endpoints process supervisors and
//! `tandem reload` use.

use super::WebState;
use crate::config::history::AppliedBy;
use crate::reload::ReloadOutcome;
use actix_web::{HttpResponse, web};
use serde_json::json;
use std::sync::atomic::Ordering;

/// 200 while the process serves HTTP at all; never requires auth, so that load
/// balancers and systemd watchdogs need no credentials.
pub async fn healthy() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("tandem is healthy.\n")
}

/// 200 once every subsystem has started, 503 before.
pub async fn ready(state: web::Data<WebState>) -> HttpResponse {
    if state.ready.load(Ordering::Acquire) {
        HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("tandem is ready.\n")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body("tandem is starting.\n")
    }
}

/// Reloads the config directory. 200 with the applied hash, or 400 with every error
/// (the previous config keeps running).
pub async fn reload(state: web::Data<WebState>) -> HttpResponse {
    let report = state.reloader.reload(AppliedBy::Http).await;
    match report.outcome {
        ReloadOutcome::Applied {
            hash,
            changed,
            restart_needed,
        } => HttpResponse::Ok().json(json!({
            "status": "success",
            "hash": hash,
            "changed": changed,
            "restart_needed": restart_needed,
        })),
        ReloadOutcome::Rejected { errors } => HttpResponse::BadRequest().json(json!({
            "status": "error",
            "error": "config rejected; the previous config keeps running",
            "errors": errors,
        })),
    }
}
