//! Silences: from `silences/*.toml` (config, kept under version control) and
//! temporary ones added through the API or `tandem silence add` (stored with an end
//! in the `silence` table).
//! Owns: the `Silence` value, its status at a time, whether it mutes a label set, and
//! the checks on a new silence.
//! Does not: read files (`config::alerting`) or the database (`store.rs`).
//! Limits: `API_SILENCES_MAX`, `matcher::MATCHERS_MAX`.

use super::matcher::{AlertMatcher, matches_all, parse_matchers};
use crate::config::alerting::FileSilence;
use crate::model::Labels;

/// Temporary silences not yet expired; a store with more refuses new ones.
pub const API_SILENCES_MAX: usize = 10_000;
/// How long an expired temporary silence stays listed (Alertmanager keeps 5 days).
pub const EXPIRED_RETENTION_MS: i64 = 5 * 24 * 3600 * 1000;
/// Longest text of `comment` and `createdBy`.
pub const TEXT_BYTES_MAX: usize = 4096;

/// Where a silence comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SilenceSource {
    /// A `silences/*.toml` file, by path in the config directory.
    File(String),
    /// Added through the HTTP API or the command line.
    Api,
}

impl SilenceSource {
    pub fn as_str(&self) -> &str {
        match self {
            SilenceSource::File(path) => path,
            SilenceSource::Api => "api",
        }
    }
}

/// A silence's state at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SilenceStatus {
    Pending,
    Active,
    Expired,
}

impl SilenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceStatus::Pending => "pending",
            SilenceStatus::Active => "active",
            SilenceStatus::Expired => "expired",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<AlertMatcher>,
    /// Unix ms; `i64::MIN` for a file silence without `starts_at`.
    pub starts_at_ms: i64,
    /// Unix ms; `None`: until removed from its file.
    pub ends_at_ms: Option<i64>,
    pub created_by: String,
    pub comment: String,
    pub source: SilenceSource,
    /// Unix ms; file silences: 0.
    pub updated_at_ms: i64,
}

impl Silence {
    pub fn from_file(silence: &FileSilence) -> Silence {
        Silence {
            id: silence.id.clone(),
            matchers: silence.matchers.clone(),
            starts_at_ms: silence.starts_at_ms.unwrap_or(i64::MIN),
            ends_at_ms: silence.ends_at_ms,
            created_by: silence.created_by.clone(),
            comment: silence.comment.clone(),
            source: SilenceSource::File(silence.file.clone()),
            updated_at_ms: 0,
        }
    }

    pub fn status(&self, now_ms: i64) -> SilenceStatus {
        if self.ends_at_ms.is_some_and(|ends| ends <= now_ms) {
            SilenceStatus::Expired
        } else if now_ms < self.starts_at_ms {
            SilenceStatus::Pending
        } else {
            SilenceStatus::Active
        }
    }

    pub fn mutes(&self, labels: &Labels, now_ms: i64) -> bool {
        self.status(now_ms) == SilenceStatus::Active && matches_all(&self.matchers, labels)
    }
}

/// Every silence the notifier applies: the config's and the stored ones.
#[derive(Clone, Debug, Default)]
pub struct Silences {
    file: Vec<Silence>,
    api: Vec<Silence>,
}

impl Silences {
    pub fn set_file(&mut self, silences: &[FileSilence]) {
        self.file = silences.iter().map(Silence::from_file).collect();
    }

    pub fn set_api(&mut self, silences: Vec<Silence>) {
        self.api = silences;
    }

    pub fn mutes(&self, labels: &Labels, now_ms: i64) -> bool {
        self.file
            .iter()
            .chain(&self.api)
            .any(|silence| silence.mutes(labels, now_ms))
    }
}

/// A temporary silence as requested (HTTP API, command line).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewSilence {
    pub matchers: Vec<String>,
    /// Unix ms; default: now.
    pub starts_at_ms: Option<i64>,
    /// Unix ms; exactly one of `ends_at_ms` and `duration_ms` is needed.
    pub ends_at_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub created_by: String,
    pub comment: String,
}

impl NewSilence {
    /// Checks the request and makes the silence, with `id`.
    pub fn build(&self, id: String, now_ms: i64) -> Result<Silence, String> {
        if self.matchers.is_empty() {
            return Err(
                "matchers: list at least one, e.g. [\"alertname=\\\"Watchdog\\\"\"]".into(),
            );
        }
        let mut matchers = Vec::new();
        for text in &self.matchers {
            matchers
                .extend(parse_matchers(text).map_err(|message| format!("matchers: {message}"))?);
        }
        check_not_everything(&matchers)?;
        for (value, key) in [(&self.created_by, "createdBy"), (&self.comment, "comment")] {
            if value.trim().is_empty() {
                return Err(format!("{key}: must not be empty"));
            }
            if value.len() > TEXT_BYTES_MAX {
                return Err(format!(
                    "{key}: {} bytes, limit is {TEXT_BYTES_MAX}",
                    value.len()
                ));
            }
        }
        let starts_at_ms = self.starts_at_ms.unwrap_or(now_ms).max(now_ms);
        let ends_at_ms = match (self.ends_at_ms, self.duration_ms) {
            (Some(_), Some(_)) => return Err("give endsAt or duration, not both".into()),
            (None, None) => return Err("endsAt or duration: say when the silence ends".into()),
            (Some(ends), None) => ends,
            (None, Some(duration)) if duration <= 0 => {
                return Err("duration: must be more than 0".into());
            }
            (None, Some(duration)) => starts_at_ms.saturating_add(duration),
        };
        if ends_at_ms <= starts_at_ms {
            return Err("endsAt: must be after startsAt and in the future".into());
        }
        Ok(Silence {
            id,
            matchers,
            starts_at_ms,
            ends_at_ms: Some(ends_at_ms),
            created_by: self.created_by.clone(),
            comment: self.comment.clone(),
            source: SilenceSource::Api,
            updated_at_ms: now_ms,
        })
    }
}

/// Alertmanager refuses a silence whose every matcher matches the empty string: it
/// would silence every alert.
pub fn check_not_everything(matchers: &[AlertMatcher]) -> Result<(), String> {
    let empty = Labels::default();
    if matchers.iter().all(|matcher| matcher.matches(&empty)) {
        return Err(
            "matchers: at least one must not match the empty string, or the silence would mute every alert"
                .into(),
        );
    }
    Ok(())
}

/// A random silence ID in UUID form, as Alertmanager's.
pub fn new_id() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    // Version 4, variant 1.
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(matchers: &[&str]) -> NewSilence {
        NewSilence {
            matchers: matchers.iter().map(ToString::to_string).collect(),
            duration_ms: Some(3_600_000),
            created_by: "alice".into(),
            comment: "maintenance".into(),
            ..NewSilence::default()
        }
    }

    #[test]
    fn new_silence_checks() {
        let silence = request(&[r#"alertname="Disk""#])
            .build("id".into(), 1_000)
            .expect("valid");
        assert_eq!(
            (silence.starts_at_ms, silence.ends_at_ms),
            (1_000, Some(3_601_000))
        );
        let error = |new: NewSilence| new.build("id".into(), 1_000).expect_err("invalid");
        assert!(error(request(&[])).contains("list at least one"));
        assert!(error(request(&[r#"a=~".*""#])).contains("empty string"));
        assert!(
            error(NewSilence {
                comment: " ".into(),
                ..request(&["a=b"])
            })
            .contains("comment")
        );
        assert!(
            error(NewSilence {
                duration_ms: None,
                ..request(&["a=b"])
            })
            .contains("say when")
        );
        assert!(
            error(NewSilence {
                duration_ms: None,
                ends_at_ms: Some(500),
                ..request(&["a=b"])
            })
            .contains("after startsAt")
        );
    }

    #[test]
    fn status_and_muting_follow_time() {
        let silence = NewSilence {
            starts_at_ms: Some(2_000),
            ..request(&["a=b"])
        }
        .build("id".into(), 1_000)
        .expect("valid");
        let labels = Labels::new([("a", "b")]).expect("labels");
        assert_eq!(silence.status(1_999), SilenceStatus::Pending);
        assert!(!silence.mutes(&labels, 1_999));
        assert!(silence.mutes(&labels, 2_000));
        assert_eq!(silence.status(3_602_000), SilenceStatus::Expired);
        assert!(!silence.mutes(&labels, 3_602_000));
        assert!(!silence.mutes(&Labels::new([("a", "c")]).expect("labels"), 2_000));
    }

    #[test]
    fn ids_are_uuids() {
        let (first, second) = (new_id(), new_id());
        assert_ne!(first, second);
        assert_eq!(first.len(), 36);
        assert_eq!(&first[14..15], "4");
    }
}
