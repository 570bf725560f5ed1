//! Alerting: rule groups evaluated through the PromQL engine, alert state, and the
//! notifier that routes, groups, inhibits, silences and delivers.
//! Owns: `alerts.sqlite` in the data directory (`db.rs`; schema in
//! docs/format/alerts.md), the `Alert` value handed from rules to the notifier.
//! Does not: read storage except through `promql`, or write it except through the
//! append API (`Storage::append_from_rules`).
//!
//! Data flow: `rules::RuleManager` evaluates each group on its interval and soon after
//! its input series receive samples (`storage::watch`), keeps pending/firing state
//! (persisted in `db`), writes `ALERTS`/`ALERTS_FOR_STATE` and recorded series, and
//! hands every active alert of a group to `notify::Notifier::send` after each
//! evaluation. The notifier decides what is delivered, to whom, and when.

pub mod db;
pub mod notify;
pub mod rules;
pub mod template;
pub mod unittest;

use crate::model::Labels;
use std::collections::BTreeMap;

/// One alert as the notifier sees it: the rule's labels merged over the series', its
/// annotations rendered.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Includes `alertname`.
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    /// When the alert became active (pending), as Prometheus' `startsAt`; ms.
    pub starts_at_ms: i64,
    /// `Some`: resolved at this time (ms). `None`: firing.
    pub resolved_at_ms: Option<i64>,
    /// Link to the expression that fired, on this tandem's explore page.
    pub generator_url: String,
}

impl Alert {
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.labels)
    }

    pub fn alertname(&self) -> &str {
        self.labels.get(ALERTNAME).unwrap_or("")
    }

    pub fn is_resolved(&self) -> bool {
        self.resolved_at_ms.is_some()
    }
}

/// The label naming an alert.
pub const ALERTNAME: &str = "alertname";

/// A label set's identity, computed as Alertmanager computes it (FNV-1a 64 over each
/// name and value in name order, each followed by 0xff), so fingerprints shown by
/// tandem and by a forwarded-to Alertmanager agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    pub fn of(labels: &Labels) -> Fingerprint {
        // Hand-written: eight lines of FNV-1a are smaller than a dependency.
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut hash = OFFSET;
        let mut add = |bytes: &[u8]| {
            for byte in bytes {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(PRIME);
            }
        };
        for label in labels.iter() {
            add(label.name.as_bytes());
            add(&[0xff]);
            add(label.value.as_bytes());
            add(&[0xff]);
        }
        Fingerprint(hash)
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(formatter, "{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_alertmanager() {
        // Alertmanager's model.LabelSet{"alertname":"Test","instance":"a"}.Fingerprint(),
        // computed independently with FNV-1a 64 over "alertname\xffTest\xffinstance\xffa\xff".
        let labels = Labels::new([("alertname", "Test"), ("instance", "a")]).expect("valid");
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in b"alertname\xffTest\xffinstance\xffa\xff" {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x100_0000_01b3);
        }
        assert_eq!(Fingerprint::of(&labels).0, hash);
        assert_ne!(
            Fingerprint::of(&labels),
            Fingerprint::of(&Labels::default())
        );
    }
}
