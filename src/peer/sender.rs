//! Sending heartbeats: every interval, this instance's health, signed, to the peer;
//! and the sending side's series, so that a one-way failure shows on both ends
//! (`tandem_peer_reachable` 0 here while the peer's `tandem_peer_up` is 0 there).
//! Owns: the HTTP client and what was last delivered to each peer.
//! Does not: retry a failed heartbeat (the next interval's is fresher).

use super::protocol::{self, Heartbeat};
use super::{PeerService, PeerState, lock, next_sequence, now_ms, series};
use crate::config::peer::PeerConfig;
use crate::model::Labels;
use crate::selfmon::PeerLabels;
use tokio::time::Instant;

/// What was delivered to one peer.
pub(super) struct Sent {
    /// When a heartbeat was last accepted by the peer (Unix ms too).
    last_delivered: Option<(Instant, i64)>,
    since: Instant,
    /// The `tandem_peer_delivery_error_info` series written last.
    error_info: Option<Labels>,
}

impl Default for Sent {
    fn default() -> Sent {
        Sent {
            last_delivered: None,
            since: Instant::now(),
            error_info: None,
        }
    }
}

impl Sent {
    pub(super) fn restart(&mut self) {
        self.since = Instant::now();
    }
}

pub(super) fn http_client() -> Option<reqwest::Client> {
    // One crypto provider for the whole binary; installing it again is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match reqwest::Client::builder()
        .user_agent(concat!("tandem/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        // A peer that moved or restarted must not keep a dead pooled connection
        // for long.
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .build()
    {
        Ok(client) => Some(client),
        Err(error) => {
            tracing::error!(%error, "cannot build the HTTP client: heartbeats will not be sent");
            None
        }
    }
}

/// Longest error text written as a label value.
const ERROR_CHARS_MAX: usize = 200;

impl PeerService {
    pub(super) async fn send_every_interval(&self, peer: &PeerConfig, state: &PeerState) {
        let mut ticker = tokio::time::interval(peer.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let result = self.send_one(peer).await;
            self.record_send(peer, state, result).await;
        }
    }

    /// Builds, signs and posts one heartbeat; the error says what went wrong.
    async fn send_one(&self, peer: &PeerConfig) -> Result<(), String> {
        let config = self.inner.configs.borrow().clone();
        let sources = self.inner.sources.clone();
        let health = tokio::task::spawn_blocking(move || sources.gather(now_ms()))
            .await
            .map_err(|error| format!("BUG: gathering health panicked: {error}"))?;
        let heartbeat = Heartbeat {
            from: config.server.name.clone(),
            to: peer.name.clone(),
            version: crate::selfmon::VERSION.to_string(),
            start_time_ms: self.inner.start_time_ms,
            sequence: next_sequence(&self.inner.sequence),
            sent_at_ms: now_ms(),
            interval_ms: peer.interval.as_millis() as u64,
            config_hash: config.hash.to_string(),
            health,
        };
        let body = serde_json::to_vec(&heartbeat)
            .map_err(|error| format!("BUG: cannot encode a heartbeat: {error}"))?;
        let signature = protocol::sign(&peer.secret, &body);
        let labels = PeerLabels {
            peer: peer.name.clone(),
        };
        self.inner
            .metrics
            .heartbeat_bytes_sent
            .get_or_create(&labels)
            .inc_by(body.len() as u64);
        let client = self
            .inner
            .client
            .as_ref()
            .ok_or("no HTTP client (see the log at start)")?;
        let response = client
            .post(format!("{}{}", peer.url, protocol::PATH))
            .timeout(peer.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(protocol::PEER_HEADER, &config.server.name)
            .header(protocol::SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|error| describe(&error))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(format!("HTTP {}: {}", status.as_u16(), text.trim()))
    }

    async fn record_send(&self, peer: &PeerConfig, state: &PeerState, result: Result<(), String>) {
        let labels = PeerLabels {
            peer: peer.name.clone(),
        };
        let metrics = &self.inner.metrics;
        let error_info = match &result {
            Ok(()) => {
                metrics.heartbeats_sent.get_or_create(&labels).inc();
                None
            }
            Err(error) => {
                metrics.heartbeat_send_failures.get_or_create(&labels).inc();
                tracing::debug!(peer = %peer.name, %error, "heartbeat not delivered");
                let mut text = error.clone();
                if let Some((cut, _)) = text.char_indices().nth(ERROR_CHARS_MAX) {
                    text.truncate(cut);
                }
                series(
                    "tandem_peer_delivery_error_info",
                    &peer.name,
                    &[("error", &text)],
                )
            }
        };
        let now = Instant::now();
        let (reachable, last_ms, stale) = {
            let mut sent = lock(&state.sent);
            if result.is_ok() {
                sent.last_delivered = Some((now, now_ms()));
            }
            // Not reset by a reload: a peer already unreachable stays so.
            let quiet_since = sent.last_delivered.map_or(sent.since, |(at, _)| at);
            let reachable = now.duration_since(quiet_since) < peer.down_after_duration();
            let stale = if sent.error_info != error_info {
                std::mem::replace(&mut sent.error_info, error_info.clone())
            } else {
                None
            };
            (reachable, sent.last_delivered.map(|(_, ms)| ms), stale)
        };
        let mut values = Vec::new();
        values.extend(
            series("tandem_peer_reachable", &peer.name, &[])
                .map(|labels| (labels, if reachable { 1.0 } else { 0.0 })),
        );
        if let Some(last_ms) = last_ms {
            values.extend(
                series(
                    "tandem_peer_last_delivery_timestamp_seconds",
                    &peer.name,
                    &[],
                )
                .map(|labels| (labels, last_ms as f64 / 1000.0)),
            );
        }
        values.extend(error_info.map(|labels| (labels, 1.0)));
        self.write(state, values, stale.into_iter().collect()).await;
    }
}

/// A transport error with its causes (reqwest's own message is only the outermost).
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
