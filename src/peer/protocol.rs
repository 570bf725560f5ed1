//! The heartbeat on the wire: a JSON body, signed with HMAC-SHA256 over the shared
//! secret, sent with the sender's name and the signature in headers.
//! Owns: the message, its limits, signing and verification.
//! Does not: decide replay or clock skew (`receiver.rs`), or send (`sender.rs`).
//!
//! ```text
//! POST /api/v1/peer/heartbeat
//! Content-Type: application/json
//! X-Tandem-Peer: a
//! X-Tandem-Signature: sha256=<64 hex digits: HMAC-SHA256(secret, body)>
//!
//! {"from":"a","to":"b","version":"0.1.0","start_time_ms":…,"sequence":7,
//!  "sent_at_ms":…,"interval_ms":5000,"config_hash":"…","health":{…}}
//! ```
//!
//! The signature covers the exact body bytes; the body names both ends, so a
//! heartbeat for one pair cannot be replayed to another that shares the secret.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const PATH: &str = "/api/v1/peer/heartbeat";
pub const PEER_HEADER: &str = "x-tandem-peer";
pub const SIGNATURE_HEADER: &str = "x-tandem-signature";
/// Largest heartbeat body accepted; a real one is about 600 bytes.
pub const BODY_BYTES_MAX: usize = 16 * 1024;
/// Longest text field (version, hash, error) kept from a heartbeat.
pub const TEXT_CHARS_MAX: usize = 256;

type HmacSha256 = Hmac<Sha256>;

/// What one instance tells its peer every interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The sender's `[server] name`.
    pub from: String,
    /// The receiver's name as the sender knows it (`[[peer]] name`).
    pub to: String,
    pub version: String,
    /// When the sending process started (Unix ms); with `sequence`, it orders
    /// heartbeats across restarts.
    pub start_time_ms: i64,
    /// 1 for the first heartbeat a process sends to a peer, then +1 each time.
    pub sequence: u64,
    /// The sender's clock when it sent this (Unix ms).
    pub sent_at_ms: i64,
    /// How often the sender sends (ms).
    pub interval_ms: u64,
    pub config_hash: String,
    pub health: Health,
}

/// The sender's own pipeline, as it sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Seconds since ingest (collectors, scrapes, pushes) last stored a sample;
    /// `None` before the first.
    pub newest_sample_age_seconds: Option<f64>,
    /// How far the most overdue rule group is behind its interval.
    pub rule_evaluation_lag_seconds: f64,
    /// Receiver integrations whose newest delivery attempt failed.
    pub notifications_failing: u64,
    /// Failed delivery attempts since the sender started.
    pub notification_failures_total: u64,
    /// The error of a failing integration.
    pub notification_last_error: Option<String>,
    /// Storage corruptions found and appends that could not be written, since start.
    pub storage_errors_total: u64,
    /// Free space on the data directory's file system.
    pub disk_free_bytes: Option<u64>,
    pub disk_free_ratio: Option<f64>,
    /// Bytes of the WAL on disk.
    pub wal_bytes: u64,
    pub firing_alerts: u64,
}

/// Why a heartbeat body is unusable even with a valid signature.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("not a heartbeat: {0}")]
    Json(String),
    #[error("{field}: {problem}")]
    Field {
        field: &'static str,
        problem: &'static str,
    },
}

impl Heartbeat {
    /// Parses and checks a body whose signature was verified.
    pub fn parse(body: &[u8]) -> Result<Heartbeat, BodyError> {
        let heartbeat: Heartbeat =
            serde_json::from_slice(body).map_err(|error| BodyError::Json(error.to_string()))?;
        let field = |field, problem| Err(BodyError::Field { field, problem });
        for (name, text) in [
            ("from", &heartbeat.from),
            ("to", &heartbeat.to),
            ("version", &heartbeat.version),
            ("config_hash", &heartbeat.config_hash),
        ] {
            if text.chars().count() > TEXT_CHARS_MAX {
                return field(name, "too long");
            }
        }
        if let Some(error) = &heartbeat.health.notification_last_error
            && error.chars().count() > TEXT_CHARS_MAX
        {
            return field("health.notification_last_error", "too long");
        }
        let health = &heartbeat.health;
        let numbers = [
            health.newest_sample_age_seconds,
            Some(health.rule_evaluation_lag_seconds),
            health.disk_free_ratio,
        ];
        if numbers.iter().flatten().any(|value| !value.is_finite()) {
            return field("health", "numbers must be finite");
        }
        if heartbeat.interval_ms == 0 {
            return field("interval_ms", "must be above 0");
        }
        Ok(heartbeat)
    }
}

/// `sha256=<hex>` of `body` under `secret`, the value of `X-Tandem-Signature`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut text = String::with_capacity(7 + 64);
    text.push_str("sha256=");
    for byte in digest {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// Whether `signature` (a header value) is `body`'s under `secret`; compared in
/// constant time.
pub fn verify(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let mut mac = mac(secret);
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length (long keys are hashed first), so this cannot fail.
    match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

/// A fresh secret: 32 random bytes as 64 hex digits.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_secret_and_the_exact_body() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let body = br#"{"from":"a"}"#;
        let signature = sign(secret, body);
        assert!(signature.starts_with("sha256=") && signature.len() == 71);
        assert!(verify(secret, body, &signature));
        assert!(!verify(
            b"another secret of thirty-two bytes",
            body,
            &signature
        ));
        assert!(!verify(secret, br#"{"from":"b"}"#, &signature));
        assert!(!verify(secret, body, &signature.replace("sha256=", "")));
        assert!(!verify(secret, body, "sha256=zz"));
        assert!(!verify(secret, body, &signature[..70]));
    }

    /// RFC 4231 test case 2 (key "Jefe").
    #[test]
    fn hmac_matches_the_rfc_4231_vector() {
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn parse_refuses_oversized_text_and_non_finite_numbers() {
        let heartbeat = Heartbeat {
            from: "a".into(),
            to: "b".into(),
            version: "1".into(),
            start_time_ms: 1,
            sequence: 1,
            sent_at_ms: 2,
            interval_ms: 1000,
            config_hash: "h".into(),
            health: Health::default(),
        };
        let body = serde_json::to_vec(&heartbeat).expect("json");
        assert_eq!(Heartbeat::parse(&body), Ok(heartbeat.clone()));
        let mut long = heartbeat.clone();
        long.version = "v".repeat(TEXT_CHARS_MAX + 1);
        let body = serde_json::to_vec(&long).expect("json");
        assert_eq!(
            Heartbeat::parse(&body).map_err(|error| error.to_string()),
            Err("version: too long".into())
        );
        let text = String::from_utf8(serde_json::to_vec(&heartbeat).expect("json"))
            .expect("utf8")
            .replace(
                "\"rule_evaluation_lag_seconds\":0.0",
                "\"rule_evaluation_lag_seconds\":1e999",
            );
        assert!(Heartbeat::parse(text.as_bytes()).is_err());
        assert!(matches!(
            Heartbeat::parse(b"{\"from\":1}"),
            Err(BodyError::Json(_))
        ));
    }

    #[test]
    fn secrets_are_64_hex_digits_and_differ() {
        let (a, b) = (new_secret().expect("random"), new_secret().expect("random"));
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
