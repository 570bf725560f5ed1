//! `/api/v1/silences` and `/api/v1/silence/{id}`: list, add and expire silences, in
//! Prometheus' JSON envelope.
//! Owns: the JSON shapes of a silence and of a new-silence request.
//! Does not: store or apply silences (`alert::notify::Notifier` does; file silences
//! come from the config and cannot be expired here).
//!
//! ```text
//! GET    /api/v1/silences        {"status":"success","data":[{id, matchers, startsAt, endsAt,
//!                                  createdBy, comment, status, source, updatedAt}, ...]}
//! POST   /api/v1/silences        {"matchers":["alertname=\"X\""], "startsAt"?, "endsAt"? | "duration"?,
//!                                  "createdBy", "comment"} -> {"status":"success","data":{"silenceID":"..."}}
//! DELETE /api/v1/silence/{id}    expire -> {"status":"success"}
//! ```

use super::error_response;
use crate::alert::notify::silence::{NewSilence, Silence};
use crate::alert::notify::{Error, now_ms, payload::rfc3339};
use crate::web::WebState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

/// A new silence as POSTed. Times are RFC 3339; `duration` a Prometheus duration
/// (`2h`); give `endsAt` or `duration`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PostSilence {
    matchers: Vec<String>,
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default)]
    duration: Option<String>,
    created_by: String,
    comment: String,
}

pub async fn list(state: web::Data<WebState>) -> HttpResponse {
    let notifier = state.notifier.clone();
    let now = now_ms();
    match web::block(move || notifier.silences(now)).await {
        Ok(Ok(silences)) => {
            let data: Vec<serde_json::Value> = silences
                .iter()
                .map(|silence| silence_json(silence, now))
                .collect();
            HttpResponse::Ok().json(json!({ "status": "success", "data": data }))
        }
        Ok(Err(error)) => failure(&error),
        Err(_) => internal(),
    }
}

pub async fn add(state: web::Data<WebState>, body: web::Bytes) -> HttpResponse {
    let request: PostSilence = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "bad_data",
                &format!("invalid silence JSON: {error}"),
            );
        }
    };
    let new = match new_silence(request) {
        Ok(new) => new,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, "bad_data", &message),
    };
    let notifier = state.notifier.clone();
    match web::block(move || notifier.add_silence(&new, now_ms())).await {
        Ok(Ok(silence)) => HttpResponse::Ok().json(json!({
            "status": "success",
            "data": { "silenceID": silence.id },
        })),
        Ok(Err(error)) => failure(&error),
        Err(_) => internal(),
    }
}

pub async fn expire(state: web::Data<WebState>, id: web::Path<String>) -> HttpResponse {
    let notifier = state.notifier.clone();
    let id = id.into_inner();
    match web::block(move || notifier.expire_silence(&id, now_ms())).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({ "status": "success" })),
        Ok(Err(error)) => failure(&error),
        Err(_) => internal(),
    }
}

fn new_silence(request: PostSilence) -> Result<NewSilence, String> {
    let time = |text: &Option<String>, key: &str| -> Result<Option<i64>, String> {
        text.as_deref()
            .map(|text| {
                text.parse::<jiff::Timestamp>()
                    .map(|timestamp| timestamp.as_millisecond())
                    .map_err(|error| format!("{key}: {text:?} is not an RFC 3339 time ({error})"))
            })
            .transpose()
    };
    let duration_ms = request
        .duration
        .as_deref()
        .map(|text| {
            crate::config::units::parse_duration(text)
                .map(|duration| i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
                .map_err(|error| format!("duration: {error}"))
        })
        .transpose()?;
    Ok(NewSilence {
        matchers: request.matchers,
        starts_at_ms: time(&request.starts_at, "startsAt")?,
        ends_at_ms: time(&request.ends_at, "endsAt")?,
        duration_ms,
        created_by: request.created_by,
        comment: request.comment,
    })
}

fn silence_json(silence: &Silence, now_ms: i64) -> serde_json::Value {
    let matchers: Vec<String> = silence.matchers.iter().map(ToString::to_string).collect();
    json!({
        "id": silence.id,
        "matchers": matchers,
        "startsAt": (silence.starts_at_ms != i64::MIN).then(|| rfc3339(silence.starts_at_ms)),
        "endsAt": silence.ends_at_ms.map(rfc3339),
        "createdBy": silence.created_by,
        "comment": silence.comment,
        "status": silence.status(now_ms).as_str(),
        "source": silence.source.as_str(),
        "updatedAt": (silence.updated_at_ms > 0).then(|| rfc3339(silence.updated_at_ms)),
    })
}

fn failure(error: &Error) -> HttpResponse {
    let (status, kind) = match error {
        Error::InvalidSilence(_)
        | Error::FileSilence { .. }
        | Error::SilenceExpired(_)
        | Error::TooManySilences { .. } => (StatusCode::BAD_REQUEST, "bad_data"),
        Error::SilenceNotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        Error::Db(_) | Error::Transient(_) | Error::Refused(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    };
    error_response(status, kind, &error.to_string())
}

fn internal() -> HttpResponse {
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the silence store is unavailable",
    )
}
