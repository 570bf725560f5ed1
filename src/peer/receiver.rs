//! Receiving heartbeats: the checks (known peer, signature, addressed to us, clock,
//! replay), the series an accepted heartbeat writes, and the watchdog that writes
//! `tandem_peer_up` 0 the moment a peer has been silent for `down_after` intervals.
//! Owns: the replay state and what was last heard from each peer.
//! Does not: read the body before the signature is verified, or store anything
//! from a refused heartbeat.

use super::protocol::{self, Heartbeat};
use super::{PeerService, PeerState, lock, now_ms, series};
use crate::config::peer::PeerConfig;
use crate::model::Labels;
use crate::selfmon::{PeerLabels, RefusalLabels};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// A heartbeat whose send time is further than this from our clock is refused.
pub const CLOCK_SKEW_MAX: Duration = Duration::from_secs(60);
/// Sender process starts (epochs) remembered per peer for replay checks.
const EPOCHS_KEPT: usize = 16;

/// Why a heartbeat was refused; each is counted by `reason` and answered 401 (400
/// for a signed but malformed body).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("no [[peer]] named {0:?} is configured here")]
    UnknownPeer(String),
    #[error("missing X-Tandem-Peer header")]
    MissingPeer,
    #[error("bad or missing signature: the secrets differ, or the body was altered")]
    BadSignature,
    #[error("malformed heartbeat: {0}")]
    Malformed(String),
    #[error("heartbeat from {from:?} to {to:?}, but this instance is {own:?}")]
    WrongRecipient {
        from: String,
        to: String,
        own: String,
    },
    #[error("send time is {skew_ms} ms from this instance's clock (at most {} s allowed)", CLOCK_SKEW_MAX.as_secs())]
    Stale { skew_ms: i64 },
    #[error("sequence {sequence} of the process started at {start_time_ms} was already received")]
    Replay { start_time_ms: i64, sequence: u64 },
}

impl Refusal {
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::UnknownPeer(_) | Refusal::MissingPeer => "unknown_peer",
            Refusal::BadSignature => "bad_signature",
            Refusal::Malformed(_) => "malformed",
            Refusal::WrongRecipient { .. } => "wrong_recipient",
            Refusal::Stale { .. } => "stale",
            Refusal::Replay { .. } => "replay",
        }
    }

    /// 400 for a signed body that does not parse, 401 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Malformed(_) => 400,
            _ => 401,
        }
    }
}

/// What was heard from one peer.
pub(super) struct Received {
    /// (sender start time, highest sequence accepted), newest last.
    epochs: VecDeque<(i64, u64)>,
    /// When the newest heartbeat was accepted.
    last_accepted: Option<(Instant, i64)>,
    /// Since when we listen (the grace period before the first heartbeat).
    since: Instant,
    /// The interval the peer said it sends at (ours for it until it speaks).
    expected_interval: Duration,
    down_after: u32,
    /// The `tandem_peer_info` and error-info series written last.
    info: Option<Labels>,
    error_info: Option<Labels>,
    /// What the watchdog last wrote for `tandem_peer_up`.
    up_written: Option<bool>,
}

impl Default for Received {
    fn default() -> Received {
        Received {
            epochs: VecDeque::new(),
            last_accepted: None,
            since: Instant::now(),
            expected_interval: Duration::from_secs(5),
            down_after: 3,
            info: None,
            error_info: None,
            up_written: None,
        }
    }
}

impl Received {
    pub(super) fn restart(&mut self, peer: &PeerConfig) {
        self.since = Instant::now();
        self.expected_interval = peer.interval;
        self.down_after = peer.down_after;
    }

    /// When the peer counts as down if nothing more is heard: `down_after`
    /// intervals after the last heartbeat, or after we started listening when none
    /// came yet. (Not reset by a reload: a peer already silent stays down.)
    fn deadline(&self) -> Instant {
        let from = self.last_accepted.map_or(self.since, |(at, _)| at);
        from + self.expected_interval * self.down_after
    }

    /// Refuses a sequence number already seen from the same sender process;
    /// records it otherwise.
    fn check_replay(&mut self, heartbeat: &Heartbeat) -> Result<(), Refusal> {
        let refusal = || Refusal::Replay {
            start_time_ms: heartbeat.start_time_ms,
            sequence: heartbeat.sequence,
        };
        match self
            .epochs
            .iter_mut()
            .find(|(start, _)| *start == heartbeat.start_time_ms)
        {
            Some((_, highest)) if heartbeat.sequence <= *highest => return Err(refusal()),
            Some((_, highest)) => *highest = heartbeat.sequence,
            None => {
                // A process older than every remembered one is an old one replayed.
                if self.epochs.len() >= EPOCHS_KEPT
                    && self
                        .epochs
                        .iter()
                        .all(|(start, _)| heartbeat.start_time_ms < *start)
                {
                    return Err(refusal());
                }
                if self.epochs.len() >= EPOCHS_KEPT {
                    self.epochs.pop_front();
                }
                self.epochs
                    .push_back((heartbeat.start_time_ms, heartbeat.sequence));
            }
        }
        Ok(())
    }
}

/// A heartbeat that passed the checks, with the config it was checked against and
/// its peer's state.
type Checked = (
    Heartbeat,
    std::sync::Arc<crate::config::Config>,
    std::sync::Arc<PeerState>,
);

/// A heartbeat that passed every check.
pub struct Accepted {
    /// This instance's name, for the sender's log.
    pub name: String,
}

impl PeerService {
    /// Checks a heartbeat and, when it passes, stores what it says. `peer` and
    /// `signature` are the header values.
    pub async fn receive(
        &self,
        peer: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Accepted, Refusal> {
        let result = self.check(peer, signature, body);
        let (heartbeat, config, state) = match result {
            Ok(checked) => checked,
            Err(refusal) => {
                self.inner
                    .metrics
                    .heartbeats_refused
                    .get_or_create(&RefusalLabels {
                        reason: refusal.reason(),
                    })
                    .inc();
                if self.inner.refusal_log.allow(now_ms()) {
                    tracing::warn!(peer = ?peer, %refusal, "heartbeat refused (logged at most every 10 s; all are counted in tandem_peer_heartbeats_refused_total)");
                }
                return Err(refusal);
            }
        };
        self.inner
            .metrics
            .heartbeats_received
            .get_or_create(&PeerLabels {
                peer: heartbeat.from.clone(),
            })
            .inc();
        self.store_heartbeat(&heartbeat, &state).await;
        state.heard.notify_one();
        Ok(Accepted {
            name: config.server.name.clone(),
        })
    }

    fn check(
        &self,
        peer: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Checked, Refusal> {
        let config = self.inner.configs.borrow().clone();
        let name = peer.ok_or(Refusal::MissingPeer)?;
        let Some(peer_config) = config.peers.iter().find(|peer| peer.name == name) else {
            return Err(Refusal::UnknownPeer(name.chars().take(64).collect()));
        };
        let state = self
            .state(name)
            .ok_or_else(|| Refusal::UnknownPeer(name.to_string()))?;
        if !signature
            .is_some_and(|signature| protocol::verify(&peer_config.secret, body, signature))
        {
            return Err(Refusal::BadSignature);
        }
        let heartbeat =
            Heartbeat::parse(body).map_err(|error| Refusal::Malformed(error.to_string()))?;
        if heartbeat.from != name || heartbeat.to != config.server.name {
            return Err(Refusal::WrongRecipient {
                from: heartbeat.from,
                to: heartbeat.to,
                own: config.server.name.clone(),
            });
        }
        let skew_ms = heartbeat.sent_at_ms.saturating_sub(now_ms());
        if skew_ms.unsigned_abs() > CLOCK_SKEW_MAX.as_millis() as u64 {
            return Err(Refusal::Stale { skew_ms });
        }
        lock(&state.received).check_replay(&heartbeat)?;
        Ok((heartbeat, config, state))
    }

    /// Writes what an accepted heartbeat says, and moves the watchdog's deadline.
    async fn store_heartbeat(&self, heartbeat: &Heartbeat, state: &PeerState) {
        let received_ms = now_ms();
        let peer = heartbeat.from.as_str();
        let health = &heartbeat.health;
        let info = series(
            "tandem_peer_info",
            peer,
            &[
                ("version", non_empty(&heartbeat.version)),
                ("config_hash", non_empty(&heartbeat.config_hash)),
            ],
        );
        let error_info = health.notification_last_error.as_deref().and_then(|error| {
            series(
                "tandem_peer_reported_notification_error_info",
                peer,
                &[("error", non_empty(error))],
            )
        });
        let stale = {
            let mut received = lock(&state.received);
            received.last_accepted = Some((Instant::now(), received_ms));
            received.expected_interval = Duration::from_millis(heartbeat.interval_ms).clamp(
                crate::config::peer::INTERVAL_MIN,
                crate::config::peer::INTERVAL_MAX,
            );
            received.up_written = Some(true);
            let mut stale = Vec::new();
            if received.info != info
                && let Some(old) = std::mem::replace(&mut received.info, info.clone())
            {
                stale.push(old);
            }
            if received.error_info != error_info
                && let Some(old) = std::mem::replace(&mut received.error_info, error_info.clone())
            {
                stale.push(old);
            }
            stale
        };
        let values: [(&str, Option<f64>); 14] = [
            ("tandem_peer_up", Some(1.0)),
            (
                "tandem_peer_last_heartbeat_timestamp_seconds",
                Some(received_ms as f64 / 1000.0),
            ),
            (
                "tandem_peer_clock_skew_seconds",
                Some((heartbeat.sent_at_ms - received_ms) as f64 / 1000.0),
            ),
            (
                "tandem_peer_heartbeat_interval_seconds",
                Some(heartbeat.interval_ms as f64 / 1000.0),
            ),
            (
                "tandem_peer_reported_start_time_seconds",
                Some(heartbeat.start_time_ms as f64 / 1000.0),
            ),
            (
                "tandem_peer_reported_newest_sample_age_seconds",
                health.newest_sample_age_seconds,
            ),
            (
                "tandem_peer_reported_rule_evaluation_lag_seconds",
                Some(health.rule_evaluation_lag_seconds),
            ),
            (
                "tandem_peer_reported_notifications_failing",
                Some(health.notifications_failing as f64),
            ),
            (
                "tandem_peer_reported_notification_failures_total",
                Some(health.notification_failures_total as f64),
            ),
            (
                "tandem_peer_reported_storage_errors_total",
                Some(health.storage_errors_total as f64),
            ),
            (
                "tandem_peer_reported_disk_free_bytes",
                health.disk_free_bytes.map(|bytes| bytes as f64),
            ),
            (
                "tandem_peer_reported_disk_free_ratio",
                health.disk_free_ratio,
            ),
            (
                "tandem_peer_reported_wal_bytes",
                Some(health.wal_bytes as f64),
            ),
            (
                "tandem_peer_reported_firing_alerts",
                Some(health.firing_alerts as f64),
            ),
        ];
        let mut written: Vec<(Labels, f64)> = values
            .into_iter()
            .filter_map(|(name, value)| Some((series(name, peer, &[])?, value?)))
            .collect();
        written.extend(info.map(|labels| (labels, 1.0)));
        written.extend(error_info.map(|labels| (labels, 1.0)));
        self.write(state, written, stale).await;
    }

    /// Declares the peer down (`tandem_peer_up` 0) the moment `down_after`
    /// intervals pass without a heartbeat, and keeps the series fresh while it is
    /// silent.
    pub(super) async fn watch(&self, peer: &PeerConfig, state: &PeerState) {
        loop {
            let now = Instant::now();
            let (deadline, interval, last_ms, stale_write) = {
                let received = lock(&state.received);
                let quiet_since = received.last_accepted.map_or(received.since, |(at, _)| at);
                (
                    received.deadline(),
                    received.expected_interval,
                    received.last_accepted.map(|(_, ms)| ms),
                    // A heartbeat within the last interval wrote fresh series itself.
                    now.duration_since(quiet_since) >= received.expected_interval,
                )
            };
            let up = now < deadline;
            let changed = lock(&state.received).up_written != Some(up);
            if stale_write || changed {
                let mut values = Vec::new();
                values.extend(
                    series("tandem_peer_up", &peer.name, &[])
                        .map(|labels| (labels, if up { 1.0 } else { 0.0 })),
                );
                values.extend(
                    series("tandem_peer_heartbeat_interval_seconds", &peer.name, &[])
                        .map(|labels| (labels, interval.as_secs_f64())),
                );
                if let Some(last_ms) = last_ms {
                    values.extend(
                        series(
                            "tandem_peer_last_heartbeat_timestamp_seconds",
                            &peer.name,
                            &[],
                        )
                        .map(|labels| (labels, last_ms as f64 / 1000.0)),
                    );
                }
                if changed && !up {
                    tracing::warn!(peer = %peer.name, "peer silent: no heartbeat for {} intervals", peer.down_after);
                }
                lock(&state.received).up_written = Some(up);
                self.write(state, values, Vec::new()).await;
            }
            let next = if up {
                deadline.min(now + interval)
            } else {
                now + interval
            };
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = state.heard.notified() => {}
            }
        }
    }
}

/// Label values must not be empty; an empty field is written as `unknown`.
fn non_empty(text: &str) -> &str {
    if text.is_empty() { "unknown" } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::protocol::Health;

    fn heartbeat(start_time_ms: i64, sequence: u64) -> Heartbeat {
        Heartbeat {
            from: "a".into(),
            to: "b".into(),
            version: "1".into(),
            start_time_ms,
            sequence,
            sent_at_ms: 0,
            interval_ms: 1000,
            config_hash: "h".into(),
            health: Health::default(),
        }
    }

    #[test]
    fn replays_are_refused_within_and_across_sender_restarts() {
        let mut received = Received::default();
        assert_eq!(received.check_replay(&heartbeat(100, 1)), Ok(()));
        assert_eq!(received.check_replay(&heartbeat(100, 2)), Ok(()));
        assert!(received.check_replay(&heartbeat(100, 2)).is_err());
        assert!(received.check_replay(&heartbeat(100, 1)).is_err());
        // A restarted sender starts its sequence again.
        assert_eq!(received.check_replay(&heartbeat(200, 1)), Ok(()));
        // The old process's heartbeats stay refused.
        assert!(received.check_replay(&heartbeat(100, 2)).is_err());
        assert_eq!(received.check_replay(&heartbeat(100, 3)), Ok(()));
        // Once the remembered processes are full, one older than all of them is refused.
        for start in 1000..1000 + EPOCHS_KEPT as i64 {
            assert_eq!(received.check_replay(&heartbeat(start, 1)), Ok(()));
        }
        assert!(received.check_replay(&heartbeat(100, 9)).is_err());
    }

    #[test]
    fn refusals_have_reasons_and_statuses() {
        assert_eq!(Refusal::BadSignature.status(), 401);
        assert_eq!(Refusal::Malformed("x".into()).status(), 400);
        assert_eq!(Refusal::Stale { skew_ms: -61_000 }.reason(), "stale");
        assert_eq!(
            Refusal::Replay {
                start_time_ms: 1,
                sequence: 1
            }
            .reason(),
            "replay"
        );
    }
}
