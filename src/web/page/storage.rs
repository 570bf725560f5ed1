//! `/storage`: tiers with their retention and what they hold, disk use, series, and
//! the metrics with the most series.
//! Owns: the page's view model.
//! Does not: read samples; everything here is storage metadata (`Storage::stats`,
//! `tier_coverage`, `bytes_per_tier`, `cardinality`).

use super::{Nav, format_time, render};
use crate::config::units::format_duration;
use crate::web::WebState;
use actix_web::{HttpResponse, web};
use askama::Template;

/// Metrics listed by series count.
const TOP_METRICS: usize = 20;

struct TierRow {
    name: String,
    retention: String,
    holds_from: String,
    bytes: String,
    blocks: u64,
}

#[derive(Template)]
#[template(path = "storage.html")]
struct StoragePage {
    nav: Nav,
    data_dir: String,
    series: u64,
    head_series: u64,
    head_samples: u64,
    wal: String,
    hot: String,
    cold: String,
    oldest: String,
    newest: String,
    tiers: Vec<TierRow>,
    tiers_error: Option<String>,
    top_metrics: Vec<(String, u64)>,
    corruptions: u64,
}

/// `1.5 GiB`: bytes with an IEC prefix.
fn bytes(count: u64) -> String {
    crate::web::chart::format_value(count as f64, crate::web::chart::Unit::Bytes)
}

pub async fn show(state: web::Data<WebState>) -> HttpResponse {
    let storage = std::sync::Arc::clone(&state.storage);
    let gathered = web::block(move || {
        (
            storage.stats(),
            storage.time_range(),
            storage.tier_coverage(),
            storage.bytes_per_tier(),
            storage.cardinality(TOP_METRICS),
            storage
                .counters
                .corruptions
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    })
    .await;
    let Ok((stats, range, coverage, per_tier, cardinality, corruptions)) = gathered else {
        return super::error_page(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            "BUG: reading storage statistics panicked",
        );
    };
    let (per_tier, tiers_error) = match per_tier {
        Ok(per_tier) => (per_tier, None),
        Err(error) => (Vec::new(), Some(format!("cannot read tier sizes: {error}"))),
    };
    let tiers = coverage
        .iter()
        .map(|tier| {
            let (tier_bytes, blocks) = per_tier
                .iter()
                .find(|(resolution, _, _)| *resolution == tier.tier.resolution_ms)
                .map_or((0, 0), |(_, bytes, blocks)| (*bytes, *blocks));
            TierRow {
                name: tier.tier.name(),
                retention: format_duration(tier.tier.retention),
                holds_from: if tier.from_t <= i64::MIN / 2 {
                    "everything kept".into()
                } else {
                    format_time(tier.from_t)
                },
                bytes: bytes(tier_bytes),
                blocks,
            }
        })
        .collect();
    let config = state.reloader.current();
    render(&StoragePage {
        nav: Nav::new("storage"),
        data_dir: config.data_dir.display().to_string(),
        series: stats.series,
        head_series: stats.head_series,
        head_samples: stats.head_samples,
        wal: bytes(stats.wal_bytes),
        hot: bytes(stats.hot_bytes),
        cold: bytes(stats.cold_bytes),
        oldest: range
            .map(|(oldest, _)| format_time(oldest))
            .unwrap_or_default(),
        newest: range
            .map(|(_, newest)| format_time(newest))
            .unwrap_or_default(),
        tiers,
        tiers_error,
        top_metrics: cardinality.series_by_metric,
        corruptions,
    })
}
