//! `/config` (applied versions) and `/config/diff?from=A&to=B` (a unified diff).

use super::{Nav, error_page, format_time, render};
use crate::config::history::{self, DiffLineKind, FileChange, FileDiff, VersionSummary};
use crate::limits;
use crate::web::WebState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "config.html")]
struct VersionsPage {
    nav: Nav,
    running_hash: String,
    versions: Vec<VersionRow>,
    /// The last load or reload: when, how, and whether it was applied.
    reload_at: String,
    reload_by: &'static str,
    reload_ok: bool,
    reload_errors: Vec<String>,
}

struct VersionRow {
    hash: String,
    previous_hash: Option<String>,
    first_applied: String,
    last_applied: String,
    first_applied_by: String,
    applied_count: i64,
    file_count: i64,
}

pub async fn versions(state: web::Data<WebState>) -> HttpResponse {
    let reader = state.clone();
    let listed = web::block(move || {
        reader
            .reloader
            .history()
            .versions(limits::CONFIG_HISTORY_PAGE_MAX)
    })
    .await;
    let summaries: Vec<VersionSummary> = match listed {
        Ok(Ok(summaries)) => summaries,
        Ok(Err(error)) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
        Err(error) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    };
    let rows = summaries
        .iter()
        .enumerate()
        .map(|(index, summary)| VersionRow {
            hash: summary.hash.clone(),
            previous_hash: summaries.get(index + 1).map(|older| older.hash.clone()),
            first_applied: format_time(summary.first_applied_ms),
            last_applied: format_time(summary.last_applied_ms),
            first_applied_by: summary.first_applied_by.clone(),
            applied_count: summary.applied_count,
            file_count: summary.file_count,
        })
        .collect();
    let report = state.reloader.last_report();
    let (reload_ok, reload_errors) = match report.outcome {
        crate::reload::ReloadOutcome::Applied { .. } => (true, Vec::new()),
        crate::reload::ReloadOutcome::Rejected { errors } => (false, errors),
    };
    render(&VersionsPage {
        nav: Nav::new("config"),
        running_hash: state.reloader.current().hash.0.clone(),
        versions: rows,
        reload_at: format_time(report.at_ms),
        reload_by: report.applied_by.as_str(),
        reload_ok,
        reload_errors,
    })
}

/// The overview page's "Reload config" button: reloads, then shows the overview with
/// the result. A plain form post, so it works without JavaScript; cross-site posts
/// are refused by `auth::refuse_cross_site`.
pub async fn reload_from_page(state: web::Data<WebState>, body: web::Bytes) -> HttpResponse {
    state.reloader.reload(history::AppliedBy::WebPage).await;
    // Back to the page the button was on; only tandem's own pages are accepted.
    let back = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "return")
        .map(|(_, value)| value.into_owned())
        .filter(|path| path == "/config")
        .unwrap_or_else(|| "/".to_string());
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, back))
        .finish()
}

#[derive(Deserialize)]
pub struct DiffQuery {
    from: String,
    to: String,
}

#[derive(Template)]
#[template(path = "config_diff.html")]
struct DiffPage {
    nav: Nav,
    from: String,
    to: String,
    files: Vec<FileView>,
    truncated: bool,
}

struct FileView {
    path: String,
    change: &'static str,
    lines: Vec<(&'static str, String)>,
}

pub async fn diff(state: web::Data<WebState>, query: web::Query<DiffQuery>) -> HttpResponse {
    let DiffQuery { from, to } = query.into_inner();
    let (from_hash, to_hash) = (from.clone(), to.clone());
    let loaded = web::block(move || {
        let history = state.reloader.history();
        Ok::<_, history::HistoryError>((history.files(&from_hash)?, history.files(&to_hash)?))
    })
    .await;
    let (from_files, to_files) = match loaded {
        Ok(Ok((Some(from_files), Some(to_files)))) => (from_files, to_files),
        Ok(Ok((None, _))) => {
            return error_page(
                StatusCode::NOT_FOUND,
                &format!("no config version {from} in the history"),
            );
        }
        Ok(Ok((_, None))) => {
            return error_page(
                StatusCode::NOT_FOUND,
                &format!("no config version {to} in the history"),
            );
        }
        Ok(Err(error)) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
        Err(error) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    };
    let (files, truncated) = file_views(history::diff(&from_files, &to_files));
    render(&DiffPage {
        nav: Nav::new("config"),
        from,
        to,
        files,
        truncated,
    })
}

/// Turns diffs into rows for the template, stopping at `CONFIG_DIFF_LINES_MAX` lines.
fn file_views(diffs: Vec<FileDiff>) -> (Vec<FileView>, bool) {
    let mut budget = limits::CONFIG_DIFF_LINES_MAX;
    let mut views = Vec::new();
    for file in diffs {
        let take = file.lines.len().min(budget);
        budget -= take;
        let lines = file
            .lines
            .into_iter()
            .take(take)
            .map(|line| {
                let class = match line.kind {
                    DiffLineKind::Hunk => "hunk",
                    DiffLineKind::Added => "add",
                    DiffLineKind::Removed => "del",
                    DiffLineKind::Context => "ctx",
                };
                (class, line.text)
            })
            .collect();
        let change = match file.change {
            FileChange::Added => "added",
            FileChange::Removed => "removed",
            FileChange::Modified => "modified",
        };
        views.push(FileView {
            path: file.path,
            change,
            lines,
        });
        if budget == 0 {
            return (views, true);
        }
    }
    (views, false)
}
