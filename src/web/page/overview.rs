//! `/`: the overview page: version, uptime, the running config and the last reload.

use super::{Nav, format_age, format_time, render};
use crate::config::ConfigSource;
use crate::reload::ReloadOutcome;
use crate::selfmon::REVISION;
use crate::web::WebState;
use actix_web::{HttpResponse, web};
use askama::Template;

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    nav: Nav,
    revision: &'static str,
    uptime: String,
    started_at: String,
    config_hash: String,
    config_source: String,
    listen: String,
    data_dir: String,
    reload_at: String,
    reload_by: &'static str,
    reload_ok: bool,
    reload_changed: bool,
    reload_errors: Vec<String>,
    restart_needed: Vec<String>,
}

pub async fn show(state: web::Data<WebState>) -> HttpResponse {
    let config = state.reloader.current();
    let report = state.reloader.last_report();
    let (reload_ok, reload_changed, reload_errors, restart_needed) = match report.outcome {
        ReloadOutcome::Applied {
            changed,
            restart_needed,
            ..
        } => (true, changed, Vec::new(), restart_needed),
        ReloadOutcome::Rejected { errors } => (false, false, errors, Vec::new()),
    };
    let config_source = match &config.source {
        ConfigSource::Directory(dir) => dir.display().to_string(),
        ConfigSource::Embedded => "embedded default".to_string(),
    };
    let page = OverviewPage {
        nav: Nav::new("overview"),
        revision: REVISION,
        uptime: format_age(state.started_instant.elapsed()),
        started_at: format_time(crate::config::history::unix_millis(state.started_at)),
        config_hash: config.hash.0.clone(),
        config_source,
        listen: config.server.listen.to_string(),
        data_dir: config.data_dir.display().to_string(),
        reload_at: format_time(report.at_ms),
        reload_by: report.applied_by.as_str(),
        reload_ok,
        reload_changed,
        reload_errors,
        restart_needed,
    };
    render(&page)
}
