//! How deliveries are going: the outcome of the newest attempt of each receiver's
//! integration, for the peer heartbeat ("notifications failing") and its page.
//! Owns: that table, updated by every delivery attempt.
//! Does not: decide retries (`dispatch.rs`) or count attempts for /metrics
//! (`NotifyMetrics`).

use std::collections::HashMap;
use std::sync::Mutex;

/// Longest error text kept (it travels in heartbeats).
const ERROR_CHARS_MAX: usize = 200;

#[derive(Default)]
pub struct DeliveryStatus {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// (receiver, integration) → the newest attempt's error, `None` when it succeeded.
    newest: HashMap<(String, &'static str), Option<String>>,
    failures_total: u64,
}

/// A summary of `DeliveryStatus`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryHealth {
    /// Integrations whose newest attempt failed.
    pub failing: u64,
    /// Failed attempts since start (each retry counts).
    pub failures_total: u64,
    /// The error of a failing integration, `receiver/integration: error`.
    pub last_error: Option<String>,
}

impl DeliveryStatus {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn record(&self, receiver: &str, integration: &'static str, error: Option<String>) {
        let mut state = self.state();
        if error.is_some() {
            state.failures_total += 1;
        }
        let error = error.map(|error| {
            let mut text = format!("{receiver}/{integration}: {error}");
            if let Some((cut, _)) = text.char_indices().nth(ERROR_CHARS_MAX) {
                text.truncate(cut);
            }
            text
        });
        state
            .newest
            .insert((receiver.to_string(), integration), error);
    }

    /// Forgets receivers no longer configured, so a removed failing one stops counting.
    pub fn retain_receivers(&self, receivers: &[&str]) {
        self.state()
            .newest
            .retain(|(receiver, _), _| receivers.contains(&receiver.as_str()));
    }

    pub fn health(&self) -> DeliveryHealth {
        let state = self.state();
        let mut failing: Vec<&String> = state.newest.values().flatten().collect();
        failing.sort();
        DeliveryHealth {
            failing: failing.len() as u64,
            failures_total: state.failures_total,
            last_error: failing.first().map(|error| (*error).clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_counts_integrations_whose_newest_attempt_failed() {
        let status = DeliveryStatus::default();
        status.record("ops", "webhook", Some("HTTP 500".into()));
        status.record("ops", "email", None);
        assert_eq!(
            status.health(),
            DeliveryHealth {
                failing: 1,
                failures_total: 1,
                last_error: Some("ops/webhook: HTTP 500".into()),
            }
        );
        status.record("ops", "webhook", None);
        assert_eq!(status.health().failing, 0);
        assert_eq!(status.health().failures_total, 1);
        status.record("gone", "webhook", Some("x".repeat(500)));
        assert_eq!(
            status
                .health()
                .last_error
                .map(|error| error.chars().count()),
            Some(ERROR_CHARS_MAX)
        );
        status.retain_receivers(&["ops"]);
        assert_eq!(status.health().failing, 0);
    }
}
