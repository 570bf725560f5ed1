//! The `webhook` integration: POSTs Alertmanager's webhook JSON (version 4).
//! Owns: the HTTP exchange shared with `alertmanager.rs` (timeout, bearer token,
//! bounded response reading, which statuses are worth a retry).
//! Does not: build the message (`payload.rs`) or schedule retries (`dispatch.rs`).
//! Limits: `RESPONSE_BYTES_MAX`, the integration's `timeout`.

use super::dispatch::Notification;
use super::{Error, RESPONSE_BYTES_MAX, bounded_detail, payload, read_secret};
use crate::config::alerting::WebhookConfig;
use std::time::Duration;

pub async fn send(
    client: &reqwest::Client,
    config: &WebhookConfig,
    notification: &Notification,
) -> Result<(), Error> {
    let body = payload::webhook_body(notification, config.max_alerts).map_err(Error::Refused)?;
    let token = match &config.bearer_token_file {
        Some(path) => Some(read_secret(path).await?),
        None => None,
    };
    post_json(client, &config.url, body, config.timeout, token.as_deref()).await
}

/// POSTs `body` as JSON. 2xx is success; 5xx, 429 and transport errors are worth a
/// retry (as Alertmanager's retrier decides); other statuses are refusals. Error
/// messages leave the URL out: it may hold a secret.
pub(super) async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    timeout: Duration,
    bearer_token: Option<&str>,
) -> Result<(), Error> {
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .timeout(timeout)
        .body(body);
    if let Some(token) = bearer_token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|error| Error::Transient(describe(&error.without_url())))?;
    let status = response.status();
    let body = read_bounded(response).await;
    if status.is_success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&body);
    let message = bounded_detail(&format!("unexpected status code {status}: {}", text.trim()));
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        Err(Error::Transient(message))
    } else {
        Err(Error::Refused(message))
    }
}

/// At most `RESPONSE_BYTES_MAX` bytes of the body; read errors end it.
async fn read_bounded(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = RESPONSE_BYTES_MAX - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= RESPONSE_BYTES_MAX {
            break;
        }
    }
    body
}

/// An error with its causes, as `a: b: c`.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    bounded_detail(&text)
}
