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

/// Head and cardinality statistics in Prometheus' `/api/v1/status/tsdb` shape.
pub async fn tsdb(state: web::Data<WebState>) -> HttpResponse {
    let storage = std::sync::Arc::clone(&state.storage);
    let computed = web::block(move || {
        (
            storage.stats(),
            storage.cardinality(crate::limits::TSDB_STATUS_TOP_MAX),
            storage.time_range(),
        )
    })
    .await;
    let Ok((stats, cardinality, time_range)) = computed else {
        return super::error_response(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "computing statistics failed",
        );
    };
    let entries = |list: &[(String, u64)]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|(name, value)| json!({ "name": name, "value": value }))
            .collect()
    };
    HttpResponse::Ok().json(json!({
        "status": "success",
        "data": {
            "headStats": {
                "numSeries": stats.series,
                "numLabelPairs": cardinality.label_pairs,
                "chunkCount": stats.hot_chunks + stats.head_series,
                // Prometheus reports the head block's bounds; ours cover every stored
                // sample. Empty storage has none, as in Prometheus' (math.MaxInt64/MinInt64
                // there): omitted rather than invented.
                "minTime": time_range.map(|(min, _)| min),
                "maxTime": time_range.map(|(_, max)| max),
            },
            "seriesCountByMetricName": entries(&cardinality.series_by_metric),
            "labelValueCountByLabelName": [],
            "memoryInBytesByLabelName": [],
            "seriesCountByLabelValuePair": entries(&cardinality.series_by_label_pair),
        },
    }))
}
