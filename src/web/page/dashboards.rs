//! `/dashboards` and `/dashboards/<name>` (STUB: the dashboard owner fills this in).

use crate::web::WebState;
use actix_web::{HttpResponse, web};

pub async fn list(_state: web::Data<WebState>) -> HttpResponse {
    super::error_page(actix_web::http::StatusCode::NOT_FOUND, "dashboards are not built yet")
}

pub async fn show(_state: web::Data<WebState>, _name: web::Path<String>) -> HttpResponse {
    super::error_page(actix_web::http::StatusCode::NOT_FOUND, "dashboards are not built yet")
}
