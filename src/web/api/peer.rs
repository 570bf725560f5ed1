//! `POST /api/v1/peer/heartbeat`: heartbeats from `[[peer]]` instances. Its
//! authentication is the HMAC signature (checked by `peer::PeerService::receive`),
//! independent of `[auth]`, which `web::auth::require` skips for this path.
//! Owns: the HTTP side (body limit, headers, status codes).

use crate::peer::protocol;
use crate::web::WebState;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::json;

pub async fn heartbeat(
    request: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<WebState>,
) -> HttpResponse {
    // Read at most the limit, whatever Content-Length says (or does not say).
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return refused(400, "bad_request", "cannot read the request body");
        };
        if body.len() + chunk.len() > protocol::BODY_BYTES_MAX {
            return refused(
                413,
                "too_large",
                &format!(
                    "a heartbeat body holds at most {} bytes",
                    protocol::BODY_BYTES_MAX
                ),
            );
        }
        body.extend_from_slice(&chunk);
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    match state
        .peers
        .receive(
            header(protocol::PEER_HEADER),
            header(protocol::SIGNATURE_HEADER),
            &body,
        )
        .await
    {
        Ok(accepted) => HttpResponse::Ok().json(json!({
            "status": "accepted",
            "name": accepted.name,
        })),
        Err(refusal) => refused(refusal.status(), refusal.reason(), &refusal.to_string()),
    }
}

fn refused(status: u16, reason: &str, message: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(json!({
        "status": "refused",
        "reason": reason,
        "error": message,
    }))
}
