//! The `alertmanager` integration: forwards alerts to an existing Alertmanager with
//! `POST <url>/api/v2/alerts`, as Prometheus does.
//! Owns: the endpoint path. The re-posting every minute with `endsAt` four minutes
//! ahead is the dispatcher's (`dispatch.rs`, `FORWARD_*`), the body `payload.rs`'s.
//! Does not: follow group timing or the notification log: Alertmanager groups,
//! deduplicates and resolves on its own.

use super::dispatch::Notification;
use super::{Error, payload, webhook};
use crate::config::alerting::AlertmanagerConfig;

/// The API path alerts are posted to.
pub const ALERTS_PATH: &str = "/api/v2/alerts";

pub async fn send(
    client: &reqwest::Client,
    config: &AlertmanagerConfig,
    notification: &Notification,
) -> Result<(), Error> {
    let body = payload::alertmanager_body(notification).map_err(Error::Refused)?;
    let url = format!("{}{ALERTS_PATH}", config.url);
    webhook::post_json(client, &url, body, config.timeout, None).await
}
