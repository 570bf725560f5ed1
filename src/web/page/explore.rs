//! `/explore?expr=...`: ad-hoc PromQL as a graph and a table (being written).

use crate::web::WebState;
use actix_web::{HttpResponse, web};

pub async fn show(_state: web::Data<WebState>) -> HttpResponse {
    super::error_page(actix_web::http::StatusCode::NOT_FOUND, "explore is not built yet")
}
