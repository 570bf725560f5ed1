//! `GET /api/v1/slos` (every SLO's status) and `GET /api/v1/slos/<name>` (one SLO's
//! status, burn-down and compliance history). tandem's own endpoints, in the
//! Prometheus API's envelope.
//! Owns: their JSON and parameters (`time`: Unix seconds or RFC 3339, default now).
//! Does not: compute anything (`slo::report` does, through the PromQL engine).

use super::query::{now_ms, parse_time};
use crate::slo::report;
use crate::web::WebState;
use crate::web::page::dashboards::QueryEnv;
use crate::web::page::slos::{run_each, statuses};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

fn time_param(request: &HttpRequest) -> Result<i64, Box<HttpResponse>> {
    let time = form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(key, _)| key == "time")
        .map(|(_, value)| value.into_owned());
    match time {
        Some(text) => parse_time("time", &text).map_err(|error| Box::new(error.response())),
        None => Ok(now_ms()),
    }
}

fn success(data: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "success", "data": data}))
}

fn with_error(status: Result<report::SloStatus, String>, name: &str) -> Value {
    match status {
        Ok(status) => serde_json::to_value(status).unwrap_or(Value::Null),
        Err(error) => json!({"name": name, "error": error}),
    }
}

pub async fn list(state: web::Data<WebState>, request: HttpRequest) -> HttpResponse {
    let t = match time_param(&request) {
        Ok(t) => t,
        Err(response) => return *response,
    };
    let config = state.reloader.current();
    let env = QueryEnv::from_state(&state);
    let slos: Vec<Value> = statuses(&env, &config.slos, t)
        .await
        .into_iter()
        .map(|(slo, status)| with_error(status, &slo.name))
        .collect();
    success(json!({ "slos": slos }))
}

pub async fn show(
    state: web::Data<WebState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let t = match time_param(&request) {
        Ok(t) => t,
        Err(response) => return *response,
    };
    let config = state.reloader.current();
    let name = path.into_inner();
    let Some(slo) = config.slos.iter().find(|slo| slo.name == name).cloned() else {
        return super::error_response(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no SLO named {name:?}"),
        );
    };
    let env = QueryEnv::from_state(&state);
    let mut results = run_each(&env, vec![slo], move |reader, slo| {
        let status = report::status(reader, &slo, t)?;
        let burn_down = report::burn_down(reader, &slo, &status)?;
        let compliance = report::compliance(reader, &slo, t)?;
        Ok((status, burn_down, compliance))
    })
    .await;
    match results.pop() {
        Some(Ok((status, burn_down, compliance))) => {
            let mut data = serde_json::to_value(status).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut data {
                map.insert(
                    "burn_down".into(),
                    serde_json::to_value(burn_down).unwrap_or(Value::Null),
                );
                map.insert(
                    "compliance".into(),
                    serde_json::to_value(compliance).unwrap_or(Value::Null),
                );
            }
            success(data)
        }
        Some(Err(error)) => {
            super::error_response(StatusCode::UNPROCESSABLE_ENTITY, "execution", &error)
        }
        None => super::error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", "no result"),
    }
}
