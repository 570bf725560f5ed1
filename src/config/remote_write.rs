//! `[[remote_write]]` in tandem.toml: where tandem sends what it stores, as
//! Prometheus remote_write 1.0 (Mimir, Thanos Receive, Cortex, VictoriaMetrics...).
//! Owns: the keys, their defaults and checks.
//! Does not: send (`crate::remote`).
//!
//! ```toml
//! [[remote_write]]
//! url = "http://mimir:8080/api/v1/push"
//! headers = { "X-Scope-OrgID" = "team-a" }
//! bearer_token_file = "mimir.token"
//! [[remote_write.write_relabel]]
//! source_labels = ["__name__"]
//! regex = "go_.*"
//! action = "drop"
//! ```

use super::model::{RelabelSection, ScrapeBasicAuth, ScrapeTls};
use super::units::{ByteSize, ConfigDuration, format_duration};
use super::validate::{Checker, ScrapeBasicAuthFiles, ScrapeTlsConfig};
use crate::collect::relabel::RelabelRule;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// Queues one instance may run.
pub const QUEUES_MAX: usize = 16;

/// One `[[remote_write]]` as written.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteSection {
    /// The receiver's push endpoint, e.g. `http://mimir:8080/api/v1/push`.
    pub url: Spanned<String>,
    /// Names the queue in metrics and its state file; unique. Defaults to the URL's
    /// host and port.
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// Extra HTTP headers, e.g. `{ "X-Scope-OrgID" = "team-a" }`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `basic_auth = { username = "u", password_file = "p.secret" }`.
    #[serde(default)]
    pub basic_auth: Option<ScrapeBasicAuth>,
    /// A file holding the bearer token (`Authorization: Bearer`); read at each send.
    #[serde(default)]
    pub bearer_token_file: Option<Spanned<PathBuf>>,
    /// `[remote_write.tls]`: CA, client certificate, as for scrapes.
    #[serde(default)]
    pub tls: Option<ScrapeTls>,
    /// `[[remote_write.write_relabel]]`: rules applied to each series before it is
    /// sent; a series they drop is not sent (it stays stored here).
    #[serde(default)]
    pub write_relabel: Vec<Spanned<RelabelSection>>,
    /// Concurrent senders; each series always goes through the same one, in order.
    #[serde(default = "default_shards")]
    pub shards: Spanned<usize>,
    /// Samples per request at most.
    #[serde(default = "default_max_samples_per_send")]
    pub max_samples_per_send: Spanned<usize>,
    /// How long a partial batch waits for more samples before it is sent.
    #[serde(default = "default_batch_send_deadline")]
    pub batch_send_deadline: Spanned<ConfigDuration>,
    /// How long one request may take.
    #[serde(default = "default_timeout")]
    pub timeout: Spanned<ConfigDuration>,
    /// First and longest wait between retries (doubling, with jitter) of a request
    /// refused with 5xx or 429, or not answered.
    #[serde(default = "default_min_backoff")]
    pub min_backoff: Spanned<ConfigDuration>,
    #[serde(default = "default_max_backoff")]
    pub max_backoff: Spanned<ConfigDuration>,
    /// WAL kept for this queue while the receiver is unreachable, e.g. `1GiB`; past
    /// it, the oldest unsent segments are deleted (and counted as lost).
    #[serde(default = "default_backlog_bytes_max")]
    pub backlog_bytes_max: Spanned<ByteSize>,
}

fn default_shards() -> Spanned<usize> {
    Spanned::new(0..0, 4)
}
fn default_max_samples_per_send() -> Spanned<usize> {
    Spanned::new(0..0, 2000)
}
fn default_batch_send_deadline() -> Spanned<ConfigDuration> {
    Spanned::new(0..0, ConfigDuration(Duration::from_secs(5)))
}
fn default_timeout() -> Spanned<ConfigDuration> {
    Spanned::new(0..0, ConfigDuration(Duration::from_secs(30)))
}
fn default_min_backoff() -> Spanned<ConfigDuration> {
    Spanned::new(0..0, ConfigDuration(Duration::from_millis(30)))
}
fn default_max_backoff() -> Spanned<ConfigDuration> {
    Spanned::new(0..0, ConfigDuration(Duration::from_secs(5)))
}
fn default_backlog_bytes_max() -> Spanned<ByteSize> {
    Spanned::new(0..0, ByteSize(1 << 30))
}

/// A remote_write queue after validation.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteWriteConfig {
    pub name: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub basic_auth: Option<ScrapeBasicAuthFiles>,
    pub bearer_token_file: Option<PathBuf>,
    pub tls: ScrapeTlsConfig,
    pub write_relabel: Vec<RelabelRule>,
    pub shards: usize,
    pub max_samples_per_send: usize,
    pub batch_send_deadline: Duration,
    pub timeout: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub backlog_bytes_max: u64,
}

impl Checker<'_> {
    pub(super) fn remote_writes(
        &mut self,
        sections: &[RemoteWriteSection],
    ) -> Vec<RemoteWriteConfig> {
        if sections.len() > QUEUES_MAX
            && let Some(extra) = sections.get(QUEUES_MAX)
        {
            self.error(
                extra.url.span(),
                format!("remote_write: at most {QUEUES_MAX}"),
            );
        }
        let mut names: HashMap<String, std::ops::Range<usize>> = HashMap::new();
        let mut queues = Vec::with_capacity(sections.len());
        for section in sections {
            let url = section.url.get_ref().clone();
            let parsed = match reqwest::Url::parse(&url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Some(parsed),
                Ok(parsed) => {
                    self.error(
                        section.url.span(),
                        format!(
                            "remote_write.url: scheme {:?} is not http or https",
                            parsed.scheme()
                        ),
                    );
                    None
                }
                Err(error) => {
                    self.error(
                        section.url.span(),
                        format!("remote_write.url: invalid URL: {error}"),
                    );
                    None
                }
            };
            let name = match &section.name {
                Some(name) => name.clone(),
                None => Spanned::new(
                    section.url.span(),
                    parsed
                        .as_ref()
                        .map(|url| match (url.host_str(), url.port_or_known_default()) {
                            (Some(host), Some(port)) => format!("{host}:{port}"),
                            _ => url.to_string(),
                        })
                        .unwrap_or_default(),
                ),
            };
            if let Err(message) = crate::config::peer::check_name(&name.get_ref().replace(':', "_"))
            {
                self.error(name.span(), format!("remote_write.name: {message}"));
            }
            self.unique(&mut names, &name, "remote_write");
            let key = format!("remote_write[{}]", name.get_ref());
            for (header, value) in &section.headers {
                let valid = reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_ok()
                    && reqwest::header::HeaderValue::from_str(value).is_ok();
                if !valid {
                    self.error(
                        section.url.span(),
                        format!("{key}.headers: {header:?} = {value:?} is not a valid HTTP header"),
                    );
                }
            }
            let shards = *section.shards.get_ref();
            if !(1..=64).contains(&shards) {
                self.error(
                    section.shards.span(),
                    format!("{key}.shards: between 1 and 64"),
                );
            }
            let per_send = *section.max_samples_per_send.get_ref();
            if !(1..=100_000).contains(&per_send) {
                self.error(
                    section.max_samples_per_send.span(),
                    format!("{key}.max_samples_per_send: between 1 and 100000"),
                );
            }
            let durations = [
                (&section.batch_send_deadline, "batch_send_deadline"),
                (&section.timeout, "timeout"),
                (&section.min_backoff, "min_backoff"),
                (&section.max_backoff, "max_backoff"),
            ];
            for (duration, what) in durations {
                let value = duration.get_ref().0;
                if value.is_zero() || value > Duration::from_secs(600) {
                    self.error(
                        duration.span(),
                        format!(
                            "{key}.{what}: {} is outside 1ms..10m",
                            format_duration(value)
                        ),
                    );
                }
            }
            if section.max_backoff.get_ref().0 < section.min_backoff.get_ref().0 {
                self.error(
                    section.max_backoff.span(),
                    format!("{key}.max_backoff: must be at least min_backoff"),
                );
            }
            let backlog = section.backlog_bytes_max.get_ref().0;
            if backlog < 16 << 20 {
                self.error(
                    section.backlog_bytes_max.span(),
                    format!("{key}.backlog_bytes_max: at least 16MiB (one WAL segment)"),
                );
            }
            let write_relabel =
                self.relabel_rules(&section.write_relabel, &format!("{key}.write_relabel"));
            let (basic_auth, bearer_token_file) = self.secret_files(
                section.basic_auth.as_ref(),
                section.bearer_token_file.as_ref(),
                &key,
            );
            let tls = self.scrape_tls(section.tls.as_ref(), &key);
            queues.push(RemoteWriteConfig {
                name: name.get_ref().clone(),
                url,
                headers: section
                    .headers
                    .iter()
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect(),
                basic_auth,
                bearer_token_file,
                tls,
                write_relabel,
                shards,
                max_samples_per_send: per_send,
                batch_send_deadline: section.batch_send_deadline.get_ref().0,
                timeout: section.timeout.get_ref().0,
                min_backoff: section.min_backoff.get_ref().0,
                max_backoff: section.max_backoff.get_ref().0,
                backlog_bytes_max: backlog,
            });
        }
        queues
    }
}
