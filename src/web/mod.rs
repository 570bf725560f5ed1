//! The HTTP server: routes, middleware, pages and the Prometheus-compatible API.
//! Owns: every actix-web and askama type in tandem (no other module depends on them).
//! Does not: hold state of its own beyond request metrics and the auth cache; it
//! reads the running config from the `Reloader` and, later, data through the query engine.
//! Limits: `[server] request_body_bytes_max`, `limits::HTTP_*`.

pub mod api;
pub mod assets;
pub mod auth;
pub mod chart;
pub mod lifecycle;
pub mod metrics;
pub mod page;

use crate::reload::Reloader;
use crate::selfmon::SelfMetrics;
use actix_web::{HttpResponse, web};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Instant, SystemTime};

/// Everything handlers share. Cloned per worker as `web::Data`.
pub struct WebState {
    pub reloader: Arc<Reloader>,
    pub metrics: Arc<SelfMetrics>,
    pub started_at: SystemTime,
    pub started_instant: Instant,
    /// Set once every subsystem has started; `/-/ready` answers 503 until then.
    pub ready: Arc<AtomicBool>,
    pub auth_cache: auth::AuthCache,
    /// `[server] request_body_bytes_max` as read at start.
    pub body_bytes_max: usize,
    pub storage: Arc<crate::storage::Storage>,
    /// Scrape targets and their last scrapes, kept by the scrape runner.
    pub target_health: Arc<crate::collect::scrape::health::TargetHealth>,
    /// Query slots (`[query] concurrency_max` at start): a query waits for one.
    pub query_slots: Arc<tokio::sync::Semaphore>,
    /// The remote_write receiver and its series cache.
    pub remote_write: Arc<crate::collect::remote_write::Receiver>,
    /// Alert state, history, silences.
    pub alert_db: Arc<crate::alert::db::AlertDb>,
    /// Rule groups and their alerts.
    pub rules: crate::alert::rules::RuleManager,
    /// The notifier: silences are added and expired through it.
    pub notifier: crate::alert::notify::Notifier,
    /// Pairing: receives heartbeats; the peer page's own column.
    pub peers: crate::peer::PeerService,
}

/// Refuses a request whose declared body is larger than the server's limit before
/// any of it is read. Bodies without a length are bounded by the extractors' limits.
pub async fn limit_body(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    // Ingest endpoints have their own, larger limits ([storage] import_body_bytes_max
    // and remote_write_body_bytes_max), checked by their handlers while reading; so
    // does the heartbeat endpoint (a small one, `peer::protocol::BODY_BYTES_MAX`).
    if request.path().starts_with("/api/v1/import/")
        || request.path() == "/api/v1/write"
        || request.path() == crate::peer::protocol::PATH
    {
        return next
            .call(request)
            .await
            .map(actix_web::dev::ServiceResponse::map_into_left_body);
    }
    let limit = request
        .app_data::<web::Data<WebState>>()
        .map_or(crate::limits::REQUEST_BODY_BYTES_DEFAULT, |state| {
            state.body_bytes_max
        });
    let declared = request
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => {
            let response = HttpResponse::PayloadTooLarge()
                .content_type("text/plain; charset=utf-8")
                .body(format!(
                    "request body is {length} bytes, limit is {limit} ([server] request_body_bytes_max)\n"
                ));
            Ok(request.into_response(response).map_into_right_body())
        }
        _ => next
            .call(request)
            .await
            .map(actix_web::dev::ServiceResponse::map_into_left_body),
    }
}

/// Registers every route and middleware on an actix `App`.
pub fn configure(
    config: &mut web::ServiceConfig,
    state: web::Data<WebState>,
    body_bytes_max: usize,
) {
    config
        .app_data(state)
        .app_data(web::PayloadConfig::new(body_bytes_max))
        .app_data(web::FormConfig::default().limit(body_bytes_max))
        .app_data(web::JsonConfig::default().limit(body_bytes_max))
        .route("/-/healthy", web::get().to(lifecycle::healthy))
        .route("/-/healthy", web::head().to(lifecycle::healthy))
        .route("/-/ready", web::get().to(lifecycle::ready))
        .route("/-/ready", web::head().to(lifecycle::ready))
        .route("/-/reload", web::post().to(lifecycle::reload))
        .route("/-/reload", web::put().to(lifecycle::reload))
        .route("/metrics", web::get().to(metrics::exposition))
        .route("/api/v1/status/config", web::get().to(api::status::config))
        .route(
            "/api/v1/status/buildinfo",
            web::get().to(api::status::buildinfo),
        )
        .route("/api/v1/status/tsdb", web::get().to(api::status::tsdb))
        .route("/api/v1/targets", web::get().to(api::targets::list))
        .route(
            "/api/v1/import/prometheus",
            web::post().to(api::import::prometheus),
        )
        .route("/api/v1/write", web::post().to(api::write::receive))
        .route(
            crate::peer::protocol::PATH,
            web::post().to(api::peer::heartbeat),
        )
        .route("/api/v1/rules", web::get().to(api::alerts::rules))
        .route("/api/v1/slos", web::get().to(api::slos::list))
        .route("/api/v1/slos/{name}", web::get().to(api::slos::show))
        .route("/api/v1/alerts", web::get().to(api::alerts::alerts))
        .route(
            "/api/v1/alerts/history",
            web::get().to(api::alerts::history),
        )
        .route("/api/v1/silences", web::get().to(api::silences::list))
        .route("/api/v1/silences", web::post().to(api::silences::add))
        .route(
            "/api/v1/silence/{id}",
            web::delete().to(api::silences::expire),
        )
        .route("/api/v1/admin/compact", web::post().to(api::admin::compact))
        .route("/federate", web::get().to(api::federate::federate))
        .route("/federate", web::post().to(api::federate::federate))
        .route("/api/v1/query", web::get().to(api::query::instant))
        .route("/api/v1/query", web::post().to(api::query::instant))
        .route("/api/v1/query_range", web::get().to(api::query::range))
        .route("/api/v1/query_range", web::post().to(api::query::range))
        .route("/api/v1/series", web::get().to(api::query::series))
        .route("/api/v1/series", web::post().to(api::query::series))
        .route("/api/v1/labels", web::get().to(api::query::labels))
        .route("/api/v1/labels", web::post().to(api::query::labels))
        .route(
            "/api/v1/label/{name}/values",
            web::get().to(api::query::label_values),
        )
        .route("/api/v1/metadata", web::get().to(api::query::metadata))
        .route(
            "/api/v1/format_query",
            web::get().to(api::query::format_query),
        )
        .route(
            "/api/v1/format_query",
            web::post().to(api::query::format_query),
        )
        .route("/assets/{path:.*}", web::get().to(assets::serve))
        .route("/", web::get().to(page::overview::show))
        .route("/alerts", web::get().to(page::alerts::show))
        .route("/dashboards", web::get().to(page::dashboards::list))
        .route("/dashboards/{name}", web::get().to(page::dashboards::show))
        .route("/explore", web::get().to(page::explore::show))
        .route("/explore/live", web::get().to(page::live::stream))
        .route("/targets", web::get().to(page::targets::show))
        .route("/silences", web::get().to(page::silences::show))
        .route("/silences", web::post().to(page::silences::create))
        .route(
            "/silences/{id}/expire",
            web::post().to(page::silences::expire),
        )
        .route("/peer", web::get().to(page::peer::show))
        .route("/slos", web::get().to(page::slos::list))
        .route("/slos/{name}", web::get().to(page::slos::show))
        .route("/storage", web::get().to(page::storage::show))
        .route("/config", web::get().to(page::config::versions))
        .route("/config/diff", web::get().to(page::config::diff))
        .route(
            "/config/reload",
            web::post().to(page::config::reload_from_page),
        )
        .default_service(web::to(not_found));
}

async fn not_found(request: actix_web::HttpRequest) -> HttpResponse {
    if request.path().starts_with("/api/") {
        return api::error_response(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_found",
            &format!("no API endpoint at {}", request.path()),
        );
    }
    page::error_page(
        actix_web::http::StatusCode::NOT_FOUND,
        &format!("Nothing at {}", request.path()),
    )
}
