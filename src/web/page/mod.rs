//! Server-rendered HTML pages: one file per page here, one template per page in
//! `templates/` with the same name. Every page works without JavaScript.

pub mod alerts;
pub mod config;
pub mod dashboards;
pub mod explore;
pub mod live;
pub mod overview;
pub mod peer;
pub mod silences;
pub mod slos;
pub mod storage;
pub mod targets;

use crate::selfmon::VERSION;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

/// Renders a template into a response, or a plain 500 naming the failure.
pub fn render(template: &impl Template) -> HttpResponse {
    render_with_status(StatusCode::OK, template)
}

pub fn render_with_status(status: StatusCode, template: &impl Template) -> HttpResponse {
    match template.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(error) => HttpResponse::InternalServerError()
            .content_type("text/plain; charset=utf-8")
            .body(format!("BUG: rendering the page failed: {error}\n")),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Nav,
    title: String,
    message: &'a str,
}

/// A page that says what went wrong, in the site's layout.
pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    let page = ErrorPage {
        nav: Nav::new(""),
        title: format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ),
        message,
    };
    render_with_status(status, &page)
}

/// What the shared layout needs: which nav entry is current, and the version.
pub struct Nav {
    pub current: &'static str,
    pub version: &'static str,
}

impl Nav {
    pub fn new(current: &'static str) -> Nav {
        Nav {
            current,
            version: VERSION,
        }
    }

    pub fn entries(&self) -> [(&'static str, &'static str, bool); 10] {
        [
            ("/", "Overview", self.current == "overview"),
            ("/dashboards", "Dashboards", self.current == "dashboards"),
            ("/slos", "SLOs", self.current == "slos"),
            ("/explore", "Explore", self.current == "explore"),
            ("/alerts", "Alerts", self.current == "alerts"),
            ("/silences", "Silences", self.current == "silences"),
            ("/targets", "Targets", self.current == "targets"),
            ("/peer", "Peer", self.current == "peer"),
            ("/storage", "Storage", self.current == "storage"),
            ("/config", "Config", self.current == "config"),
        ]
    }
}

/// An instant query's series and values at `t_ms`, through the page query path
/// (`run_for_page`); a scalar or string result is no series.
pub async fn instant_vector(
    state: &crate::web::WebState,
    query: String,
    t_ms: i64,
) -> Result<Vec<(crate::model::Labels, f64)>, String> {
    let storage = std::sync::Arc::clone(&state.storage);
    let (result, _) = crate::web::api::query::run_for_page(state, move |options| {
        crate::promql::instant(&storage, &query, t_ms, &options)
    })
    .await?;
    Ok(match result.value {
        crate::promql::value::QueryValue::Vector(samples) => samples
            .into_iter()
            .map(|(labels, sample)| (labels, sample.v))
            .collect(),
        _ => Vec::new(),
    })
}

/// `text` as a PromQL string literal, for label values pages put into queries.
pub fn promql_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            _ => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// `2026-11-23 03:40:12 UTC` for a Unix time in milliseconds.
pub fn format_time(unix_ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(unix_ms) {
        Ok(timestamp) => timestamp.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => format!("{unix_ms} ms"),
    }
}

/// A duration for people: `3d 4h`, `12m 5s`, `800ms`.
pub fn format_age(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs();
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match seconds {
        0 => format!("{}ms", duration.as_millis()),
        1..60 => format!("{seconds}s"),
        60..3600 => format!("{minutes}m {}s", seconds % 60),
        3600..86_400 => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ages_and_times() {
        assert_eq!(format_age(Duration::from_millis(800)), "800ms");
        assert_eq!(format_age(Duration::from_secs(59)), "59s");
        assert_eq!(format_age(Duration::from_secs(725)), "12m 5s");
        assert_eq!(
            format_age(Duration::from_secs(3 * 86_400 + 4 * 3600)),
            "3d 4h"
        );
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn label_values_are_quoted_for_promql() {
        assert_eq!(promql_string("b"), r#""b""#);
        assert_eq!(promql_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(promql_string("a\nb"), r#""a\nb""#);
    }
}
