//! `/api/v1/status/*`: what the server runs.

use crate::config;
use crate::selfmon::{REVISION, VERSION};
use crate::web::WebState;
use actix_web::{HttpResponse, web};
use serde_json::json;

/// The running config as text. Prometheus names the field `yaml`; clients read that
/// name, so it is kept although the content is TOML.
pub async fn config(state: web::Data<WebState>) -> HttpResponse {
    let running = state.reloader.current();
    HttpResponse::Ok().json(json!({
        "status": "success",
        "data": { "yaml": config::render_as_text(&running) },
    }))
}

/// Build information in Prometheus' shape.
pub async fn buildinfo() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "success",
        "data": {
            "version": VERSION,
            "revision": REVISION,
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        },
    }))
}
