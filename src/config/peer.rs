//! `[[peer]]` in tandem.toml: the other tandem instances this one exchanges signed
//! heartbeats with.
//! Owns: the keys, their defaults and checks, and reading the shared secret.
//! Does not: send or receive anything (`crate::peer` does).
//!
//! ```toml
//! [[peer]]
//! name = "b"                            # the other instance's [server] name
//! url = "http://10.0.0.2:9797"          # where it listens
//! secret_file = "/etc/tandem/peer-b.secret"
//! interval = "5s"
//! ```

use super::units::{ConfigDuration, format_duration};
use super::validate::Checker;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// Peers one instance may have.
pub const PEERS_MAX: usize = 16;
/// Shortest heartbeat interval (tests and benchmarks use 1 s).
pub const INTERVAL_MIN: Duration = Duration::from_millis(500);
pub const INTERVAL_MAX: Duration = Duration::from_secs(300);
/// A secret shorter than this is refused: it is the only thing protecting the
/// heartbeat endpoint. `tandem pair` makes 64 hex digits (256 bits).
pub const SECRET_BYTES_MIN: usize = 32;
pub const SECRET_FILE_BYTES_MAX: u64 = 4096;
/// Longest instance or peer name (it becomes a label value).
pub const NAME_BYTES_MAX: usize = 64;

/// One `[[peer]]` as written.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PeerSection {
    /// The peer's `[server] name`: heartbeats from it carry that name, and its series
    /// are labelled `peer="<name>"`.
    pub name: Spanned<String>,
    /// The peer's base URL (`http://host:9797`); heartbeats go to
    /// `<url>/api/v1/peer/heartbeat`.
    pub url: Spanned<String>,
    /// File holding the secret shared with the peer (`tandem pair` makes one). Must not
    /// be readable by others (`chmod 600`). Relative paths are relative to the config
    /// directory.
    pub secret_file: Spanned<PathBuf>,
    /// How often to send a heartbeat, and how often the peer is expected to send one.
    #[serde(default = "default_interval")]
    pub interval: Spanned<ConfigDuration>,
    /// How long one heartbeat request may take; at most `interval`. Defaults to `interval`.
    #[serde(default)]
    pub timeout: Option<Spanned<ConfigDuration>>,
    /// Heartbeats missed before the peer counts as down (`tandem_peer_up` 0), and
    /// failed sends before it counts as unreachable (`tandem_peer_reachable` 0).
    #[serde(default = "default_down_after")]
    pub down_after: Spanned<u32>,
}

fn default_interval() -> Spanned<ConfigDuration> {
    Spanned::new(0..0, ConfigDuration(Duration::from_secs(5)))
}

fn default_down_after() -> Spanned<u32> {
    Spanned::new(0..0, 3)
}

/// A peer after validation, with its secret read.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerConfig {
    pub name: String,
    /// Base URL without a trailing slash.
    pub url: String,
    pub secret: Vec<u8>,
    pub interval: Duration,
    pub timeout: Duration,
    pub down_after: u32,
}

impl std::fmt::Debug for PeerConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PeerConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("down_after", &self.down_after)
            .finish()
    }
}

impl PeerConfig {
    /// Silence longer than this makes the peer down.
    pub fn down_after_duration(&self) -> Duration {
        self.interval * self.down_after
    }
}

/// Whether `name` can name an instance: letters, digits, `.`, `_`, `-`, 1 to 64 bytes.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > NAME_BYTES_MAX {
        return Err(format!("must be 1 to {NAME_BYTES_MAX} characters"));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        Some(bad) => Err(format!(
            "{bad:?} is not allowed; use letters, digits, '.', '_' and '-'"
        )),
        None => Ok(()),
    }
}

/// This machine's host name (the default `[server] name`), or `tandem`.
pub fn host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|text| text.trim().to_string())
        .unwrap_or_default();
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(NAME_BYTES_MAX)
        .collect();
    if name.is_empty() {
        "tandem".into()
    } else {
        name
    }
}

/// Reads a shared secret: trimmed, at least `SECRET_BYTES_MIN` bytes, and in a file
/// other users cannot read.
pub fn read_secret(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let metadata = std::fs::metadata(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    if metadata.len() > SECRET_FILE_BYTES_MAX {
        return Err(format!(
            "{} is {} bytes, a secret file holds at most {SECRET_FILE_BYTES_MAX}",
            path.display(),
            metadata.len()
        ));
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o007 != 0 {
            return Err(format!(
                "{} is readable by every user (mode {mode:o}); chmod 600 it",
                path.display()
            ));
        }
    }
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let secret = text.trim();
    if secret.len() < SECRET_BYTES_MIN {
        return Err(format!(
            "the secret in {} is {} characters, use at least {SECRET_BYTES_MIN} random ones (`tandem pair` makes one)",
            path.display(),
            secret.len()
        ));
    }
    Ok(secret.as_bytes().to_vec())
}

impl Checker<'_> {
    /// `[server] name` and `[[peer]]`: unique valid names, a URL, a readable secret,
    /// an interval and timeout within bounds.
    pub(super) fn peers(
        &mut self,
        own_name: &Option<Spanned<String>>,
        sections: &[PeerSection],
    ) -> (String, Vec<PeerConfig>) {
        let own = match own_name {
            Some(name) => {
                if let Err(message) = check_name(name.get_ref()) {
                    self.error(name.span(), format!("server.name: {message}"));
                }
                name.get_ref().clone()
            }
            None => host_name(),
        };
        if sections.len() > PEERS_MAX
            && let Some(extra) = sections.get(PEERS_MAX)
        {
            self.error(extra.name.span(), format!("peer: at most {PEERS_MAX}"));
        }
        let mut names = HashMap::new();
        let mut peers = Vec::with_capacity(sections.len());
        for section in sections {
            let name = section.name.get_ref();
            if let Err(message) = check_name(name) {
                self.error(section.name.span(), format!("peer.name: {message}"));
            } else if *name == own {
                self.error(
                    section.name.span(),
                    format!("peer.name: {name:?} is this instance's own [server] name"),
                );
            }
            self.unique(&mut names, &section.name, "peer");
            let url = section.url.get_ref().trim_end_matches('/').to_string();
            match reqwest::Url::parse(&url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                Ok(parsed) => self.error(
                    section.url.span(),
                    format!(
                        "peer.url: scheme {:?} is not http or https",
                        parsed.scheme()
                    ),
                ),
                Err(error) => self.error(
                    section.url.span(),
                    format!("peer.url: invalid URL: {error}"),
                ),
            }
            let secret = match read_secret(&self.resolve(section.secret_file.get_ref())) {
                Ok(secret) => secret,
                Err(message) => {
                    self.error(
                        section.secret_file.span(),
                        format!("peer.secret_file: {message}"),
                    );
                    Vec::new()
                }
            };
            let interval = section.interval.get_ref().0;
            if !(INTERVAL_MIN..=INTERVAL_MAX).contains(&interval) {
                self.error(
                    section.interval.span(),
                    format!(
                        "peer.interval: {} is outside {}..{}",
                        format_duration(interval),
                        format_duration(INTERVAL_MIN),
                        format_duration(INTERVAL_MAX)
                    ),
                );
            }
            let timeout = match &section.timeout {
                Some(timeout) => {
                    let value = timeout.get_ref().0;
                    if value.is_zero() || value > interval {
                        self.error(
                            timeout.span(),
                            format!(
                                "peer.timeout: {} must be above 0 and at most the interval ({})",
                                format_duration(value),
                                format_duration(interval)
                            ),
                        );
                    }
                    value
                }
                None => interval,
            };
            let down_after = *section.down_after.get_ref();
            if !(2..=100).contains(&down_after) {
                self.error(
                    section.down_after.span(),
                    "peer.down_after: between 2 and 100 missed heartbeats",
                );
            }
            peers.push(PeerConfig {
                name: name.clone(),
                url,
                secret,
                interval,
                timeout,
                down_after,
            });
        }
        (own, peers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn secret_file(dir: &std::path::Path, content: &str, mode: u32) -> PathBuf {
        let path = dir.join("peer.secret");
        std::fs::write(&path, content).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    #[test]
    fn secrets_must_be_long_private_and_are_trimmed() {
        let dir = tempfile::tempdir().expect("temp");
        let good = "0123456789abcdef0123456789abcdef";
        let path = secret_file(dir.path(), &format!("  {good}\n"), 0o600);
        assert_eq!(read_secret(&path), Ok(good.as_bytes().to_vec()));
        // Group-readable is allowed (root:tandem 0640 is a common layout).
        let path = secret_file(dir.path(), good, 0o640);
        assert!(read_secret(&path).is_ok());
        let path = secret_file(dir.path(), good, 0o644);
        let error = read_secret(&path).unwrap_err();
        assert!(
            error.ends_with("is readable by every user (mode 644); chmod 600 it"),
            "{error}"
        );
        let path = secret_file(dir.path(), "short", 0o600);
        let error = read_secret(&path).unwrap_err();
        assert!(
            error.contains("is 5 characters, use at least 32 random ones"),
            "{error}"
        );
    }

    #[test]
    fn names_are_label_safe() {
        assert_eq!(check_name("db-1.example_2"), Ok(()));
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(NAME_BYTES_MAX + 1)).is_err());
        assert!(
            check_name("a/b")
                .unwrap_err()
                .starts_with("'/' is not allowed")
        );
        assert!(!host_name().is_empty());
    }
}
