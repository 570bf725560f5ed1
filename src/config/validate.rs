//! Semantic checks on parsed config files, producing the typed settings subsystems use.
//! Owns: relations between keys (both TLS files or none, unique names, loopback unless
//! authenticated), resolving relative paths, reading token files.
//! Does not: parse TOML syntax (`file.rs`) or apply anything.

use super::file::{self, Diagnostic, SourceFile};
use super::model::{
    AuthSection, LogFormat, LogLevel, MainFile, RelabelSection, ScrapeScheme, ScrapeSection,
    ScrapeTls, ServerSection, TierResolution, TierSection,
};
use super::units::format_duration;
use super::{ConfigError, MAIN_FILE, Overrides};
use crate::collect::relabel::{RelabelRule, RelabelSpec};
use crate::limits;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// `[server]` after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// This instance's name (`[server] name`, default the host name): what peers call it.
    pub name: String,
    pub listen: SocketAddr,
    pub external_url: String,
    pub tls: Option<TlsFiles>,
    pub allow_unauthenticated: bool,
    pub watch_config: bool,
    pub request_body_bytes_max: usize,
    pub client_request_timeout: std::time::Duration,
}

/// Certificate chain and key files for HTTPS, as absolute or working-directory paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// `[auth]` after validation, with token secrets read from their files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthConfig {
    pub users: Vec<BasicUser>,
    pub tokens: Vec<BearerToken>,
}

impl AuthConfig {
    /// Whether requests must authenticate.
    pub fn is_enabled(&self) -> bool {
        !self.users.is_empty() || !self.tokens.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicUser {
    pub name: String,
    /// argon2 PHC string, checked to parse at load time.
    pub password_hash: String,
}

#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken {
    pub name: String,
    secret: String,
}

impl BearerToken {
    pub fn secret(&self) -> &[u8] {
        self.secret.as_bytes()
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter
            .debug_struct("BearerToken")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// `[storage]` and `[limits]` after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageConfig {
    pub limits: crate::storage::StorageLimits,
    pub hot_window: std::time::Duration,
    pub tiers: Vec<crate::storage::Tier>,
    pub import_body_bytes_max: usize,
    pub remote_write_body_bytes_max: usize,
}

/// `[collect.host]` after validation. Patterns are checked to compile; the collector
/// compiles them again (`collect::host::HostOptions`), so this type stays comparable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostCollectConfig {
    pub enabled: bool,
    pub interval: std::time::Duration,
    /// Names from `collect::host::FAMILY_NAMES`.
    pub families_exclude: Vec<String>,
    pub filesystem_mount_points_exclude: String,
    pub filesystem_fs_types_exclude: String,
    pub filesystem_mount_timeout: std::time::Duration,
    pub netdev_devices: crate::collect::host::DeviceFilter,
    pub netclass_devices: crate::collect::host::DeviceFilter,
    pub diskstats_devices: crate::collect::host::DeviceFilter,
    pub vmstat_fields_include: String,
}

impl Default for HostCollectConfig {
    /// node_exporter 1.5's defaults, every family on.
    fn default() -> Self {
        use crate::collect::host::{DeviceFilter, defaults};
        HostCollectConfig {
            enabled: true,
            interval: std::time::Duration::from_secs(10),
            families_exclude: Vec::new(),
            filesystem_mount_points_exclude: defaults::FILESYSTEM_MOUNT_POINTS_EXCLUDE.into(),
            filesystem_fs_types_exclude: defaults::FILESYSTEM_FS_TYPES_EXCLUDE.into(),
            filesystem_mount_timeout: defaults::FILESYSTEM_MOUNT_TIMEOUT,
            netdev_devices: DeviceFilter::Exclude(defaults::NETDEV_DEVICE_EXCLUDE.into()),
            netclass_devices: DeviceFilter::Exclude(defaults::NETCLASS_DEVICE_EXCLUDE.into()),
            diskstats_devices: DeviceFilter::Exclude(defaults::DISKSTATS_DEVICE_EXCLUDE.into()),
            vmstat_fields_include: defaults::VMSTAT_FIELDS_INCLUDE.into(),
        }
    }
}

/// One `[[scrape]]` job after validation. Equal jobs scrape identically, so a reload
/// restarts only the targets whose job changed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ScrapeJob {
    pub job: String,
    /// Static targets, `host:port`.
    pub targets: Vec<String>,
    /// `file_sd` patterns resolved against the config directory (that part escaped),
    /// each checked as a glob and ending in `.json` or `.toml`.
    pub file_sd: Vec<String>,
    pub scheme: ScrapeScheme,
    pub path: String,
    pub interval: std::time::Duration,
    pub timeout: std::time::Duration,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    /// Extra labels, sorted by name, names checked.
    pub labels: Vec<(String, String)>,
    /// `None`: no limit.
    pub sample_limit: Option<u64>,
    pub body_bytes_max: usize,
    /// `None`: no limit.
    pub label_limit: Option<u64>,
    /// Rules on each target's labels before the scrape.
    pub relabel: Vec<RelabelRule>,
    /// Rules on each scraped series before it is stored.
    pub metric_relabel: Vec<RelabelRule>,
    pub basic_auth: Option<ScrapeBasicAuthFiles>,
    /// Resolved against the config directory; read at every scrape.
    pub bearer_token_file: Option<PathBuf>,
    pub tls: ScrapeTlsConfig,
}

/// `basic_auth` of a scrape job, its password file resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ScrapeBasicAuthFiles {
    pub username: String,
    pub password_file: PathBuf,
}

/// `[scrape.tls]`, its files read: PEM bytes, so a job whose files changed on disk
/// compares unequal and its targets restart with the new certificates at a reload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScrapeTlsConfig {
    pub ca_pem: Option<Vec<u8>>,
    /// Certificate chain followed by key, as reqwest's `Identity::from_pem` takes them.
    pub identity_pem: Option<Vec<u8>>,
    pub insecure_skip_verify: bool,
}

/// `[query]` after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryConfig {
    pub samples_max: u64,
    pub timeout: std::time::Duration,
    pub concurrency_max: usize,
    pub lookback_delta: std::time::Duration,
}

pub(super) struct Validated {
    pub slos: Vec<super::slos::SloConfig>,
    pub remote_write: Vec<super::remote_write::RemoteWriteConfig>,
    pub peers: Vec<super::peer::PeerConfig>,
    pub key_metrics: Vec<super::overview::KeyMetric>,
    pub dashboards: Vec<super::dashboards::DashboardConfig>,
    pub rules: super::rules::RulesConfig,
    pub rule_groups: Vec<super::rules::RuleGroupConfig>,
    pub alerting: super::alerting::AlertingConfig,
    pub statsd: Option<super::statsd::StatsdConfig>,
    pub probes: Vec<super::probe::ProbeConfig>,
    pub query: QueryConfig,
    pub host: HostCollectConfig,
    pub scrape: Vec<ScrapeJob>,
    pub storage: StorageConfig,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub data_dir: PathBuf,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
}

/// Checks every file; returns the typed settings or every diagnostic found.
pub(super) fn validate(
    files: &[SourceFile],
    base_dir: &Path,
    overrides: &Overrides,
) -> Result<Validated, ConfigError> {
    let mut diagnostics = Vec::new();
    let mut main: Option<(MainFile, &SourceFile)> = None;
    let mut rule_groups = Vec::new();
    let mut silences = Vec::new();
    let mut dashboards = Vec::new();
    let mut slos = Vec::new();
    for source in files {
        if source.relative_path == MAIN_FILE {
            let (parsed, found) = file::load_partial::<MainFile>(source);
            diagnostics.extend(found);
            main = parsed.map(|parsed| (parsed, source));
        } else if source.relative_path.starts_with("rules/") {
            let mut checker = Checker::new(base_dir, source);
            rule_groups.extend(checker.rule_file());
            diagnostics.extend(checker.diagnostics);
        } else if source.relative_path.starts_with("dashboards/") {
            let mut checker = Checker::new(base_dir, source);
            dashboards.extend(checker.dashboard_file());
            diagnostics.extend(checker.diagnostics);
        } else if source.relative_path.starts_with("slos/") {
            let mut checker = Checker::new(base_dir, source);
            slos.extend(checker.slo_file());
            diagnostics.extend(checker.diagnostics);
        } else if source.relative_path.starts_with("silences/") {
            let mut checker = Checker::new(base_dir, source);
            silences.extend(checker.silence_file());
            diagnostics.extend(checker.diagnostics);
        } else if let Err(found) = file::parse(source) {
            // No other files are read; should one be, it must at least be valid TOML.
            diagnostics.extend(found);
        }
    }
    let mut checker = Checker {
        diagnostics,
        base_dir,
        source: None,
    };
    if rule_groups.len() > super::rules::GROUPS_MAX
        && let Some(source) = files
            .iter()
            .rev()
            .find(|file| file.relative_path.starts_with("rules/"))
    {
        checker.diagnostics.push(source.diagnostic(
            0..0,
            format!(
                "{} rule groups, limit is {}",
                rule_groups.len(),
                super::rules::GROUPS_MAX
            ),
        ));
    }
    let validated = main.map(|(parsed, source)| {
        checker.source = Some(source);
        let mut validated = checker.main_file(parsed, overrides);
        validated.alerting.file_silences = silences;
        super::rules::finish_groups(&mut rule_groups, &validated.rules);
        let found = super::slos::finish(&mut slos, files, validated.rules.evaluation_interval);
        checker.diagnostics.extend(found);
        rule_groups.extend(slos.iter().map(crate::slo::rules::generate));
        validated.rule_groups = rule_groups;
        validated.slos = slos;
        validated.dashboards = dashboards;
        validated
    });
    let mut diagnostics = checker.diagnostics;
    // Type errors and semantic errors of one file are found in two passes; show them
    // together in line order. Files keep their (sorted) order.
    diagnostics.sort_by(|a, b| {
        (file_rank(files, &a.file), a.line, a.column).cmp(&(
            file_rank(files, &b.file),
            b.line,
            b.column,
        ))
    });
    match validated {
        Some(validated) if diagnostics.is_empty() => Ok(validated),
        _ if diagnostics.is_empty() => Err(ConfigError {
            diagnostics: vec![Diagnostic {
                file: MAIN_FILE.into(),
                line: 1,
                column: 1,
                message: format!("missing: every config needs a {MAIN_FILE}"),
            }],
        }),
        _ => Err(ConfigError { diagnostics }),
    }
}

/// Position of the file a diagnostic names, for sorting; unknown names (the command line) go first.
fn file_rank(files: &[SourceFile], display_path: &str) -> usize {
    files
        .iter()
        .position(|file| file.display_path == display_path)
        .map_or(0, |position| position + 1)
}

pub(super) struct Checker<'a> {
    diagnostics: Vec<Diagnostic>,
    base_dir: &'a Path,
    source: Option<&'a SourceFile>,
}

impl<'a> Checker<'a> {
    /// A checker for one file other than the main file.
    pub(super) fn new(base_dir: &'a Path, source: &'a SourceFile) -> Checker<'a> {
        Checker {
            diagnostics: Vec::new(),
            base_dir,
            source: Some(source),
        }
    }

    /// Everything found.
    pub(super) fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    /// The file being checked.
    pub(super) fn source(&self) -> Option<&'a SourceFile> {
        self.source
    }

    /// Adds diagnostics found elsewhere (TOML syntax and type errors).
    pub(super) fn extend(&mut self, diagnostics: Vec<Diagnostic>) {
        self.diagnostics.extend(diagnostics);
    }

    /// `[storage] tiers`: raw first and once, then rollups whose resolutions grow and
    /// nest (each a whole multiple of the one before, so buckets align), every tier
    /// keeping data at least as long as the finer one before it.
    fn tiers(&mut self, tiers: &Spanned<Vec<TierSection>>) -> Vec<crate::storage::Tier> {
        const TIERS_MAX: usize = 6;
        let mut result: Vec<crate::storage::Tier> = Vec::new();
        if tiers.get_ref().is_empty() {
            self.error(
                tiers.span(),
                "storage.tiers: needs at least the raw tier, e.g. [{ resolution = \"raw\", retention = \"15d\" }]",
            );
            return crate::storage::Tier::defaults();
        }
        if tiers.get_ref().len() > TIERS_MAX {
            self.error(
                tiers.span(),
                format!("storage.tiers: at most {TIERS_MAX} tiers"),
            );
        }
        for (index, tier) in tiers.get_ref().iter().enumerate() {
            let retention = tier.retention.get_ref().0;
            if retention.is_zero() {
                self.error(
                    tier.retention.span(),
                    "storage.tiers: retention must be longer than 0",
                );
            }
            let resolution_ms = match *tier.resolution.get_ref() {
                TierResolution::Raw => {
                    if index != 0 {
                        self.error(
                            tier.resolution.span(),
                            "storage.tiers: \"raw\" must be the first tier, and only the first",
                        );
                    }
                    None
                }
                TierResolution::Every(every) => {
                    let ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
                    if index == 0 {
                        self.error(
                            tier.resolution.span(),
                            "storage.tiers: the first tier must be \"raw\"",
                        );
                    } else if ms < 1000 || 86_400_000 % ms != 0 {
                        self.error(
                            tier.resolution.span(),
                            "storage.tiers: a rollup resolution must be at least 1s and divide a day evenly (e.g. 1m, 5m, 1h, 1d)",
                        );
                    } else if let Some(previous) = result.last().and_then(|t| t.resolution_ms)
                        && (ms <= previous || ms % previous != 0)
                    {
                        self.error(
                            tier.resolution.span(),
                            format!(
                                "storage.tiers: a rollup resolution must be a larger whole multiple of the one before ({})",
                                crate::config::units::format_duration(std::time::Duration::from_millis(previous as u64))
                            ),
                        );
                    }
                    Some(ms)
                }
            };
            if let Some(previous) = result.last()
                && retention < previous.retention
            {
                self.error(
                    tier.retention.span(),
                    format!(
                        "storage.tiers: a coarser tier must keep data at least as long as the one before ({})",
                        crate::config::units::format_duration(previous.retention)
                    ),
                );
            }
            result.push(crate::storage::Tier {
                resolution_ms,
                retention,
            });
        }
        result
    }

    /// The file offset of byte `offset` of a string value, exact when the string is
    /// written without escapes (literal strings, or basic ones that need none), else
    /// the start of the string.
    pub(super) fn offset_in_string(&self, value: &Spanned<String>, offset: usize) -> usize {
        let span = value.span();
        let Some(source) = self.source() else {
            return span.start;
        };
        let Some(raw) = source.content.get(span.clone()) else {
            return span.start;
        };
        let mut body_start = if raw.starts_with("'''") || raw.starts_with("\"\"\"") {
            3
        } else {
            1
        };
        // A newline right after an opening triple quote is not part of the value.
        if body_start == 3 {
            if raw[3..].starts_with("\r\n") {
                body_start += 2;
            } else if raw[3..].starts_with('\n') {
                body_start += 1;
            }
        }
        let text = value.get_ref();
        match raw.get(body_start..body_start + text.len()) {
            Some(body) if body == text && offset <= text.len() => span.start + body_start + offset,
            _ => span.start,
        }
    }

    /// Parses a PromQL string value; a parse error is reported as `key: message` at
    /// its place inside the expression.
    pub(super) fn promql(
        &mut self,
        expr: &Spanned<String>,
        key: &str,
    ) -> Option<crate::promql::ast::Expr> {
        match crate::promql::parse::parse(expr.get_ref()) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                let offset = self.offset_in_string(expr, error.span.start as usize);
                self.error(offset..offset, format!("{key}: {}", error.message));
                None
            }
        }
    }

    pub(super) fn error(&mut self, span: std::ops::Range<usize>, message: impl Into<String>) {
        if let Some(source) = self.source {
            self.diagnostics.push(source.diagnostic(span, message));
        }
    }

    fn command_line_error(&mut self, flag: &str, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            file: format!("(command line {flag})"),
            line: 1,
            column: 1,
            message: message.into(),
        });
    }

    fn main_file(&mut self, parsed: MainFile, overrides: &Overrides) -> Validated {
        let auth = self.auth(&parsed.auth);
        let mut server = self.server(&parsed.server, &auth, overrides);
        let (name, peers) = self.peers(&parsed.server.name, &parsed.peer);
        server.name = name;
        let data_dir = overrides
            .data_dir
            .clone()
            .unwrap_or_else(|| parsed.storage.data_dir.clone());
        let limits = &parsed.limits;
        let window = limits.out_of_order_window.get_ref().0;
        if window > std::time::Duration::from_secs(24 * 3600) {
            self.error(
                limits.out_of_order_window.span(),
                "limits.out_of_order_window: at most 1d",
            );
        }
        let hot_window = parsed.storage.hot_window.get_ref().0;
        if hot_window < window {
            self.error(
                parsed.storage.hot_window.span(),
                "storage.hot_window: must be at least limits.out_of_order_window, or late samples would land behind compacted data",
            );
        }
        let tiers = self.tiers(&parsed.storage.tiers);
        let storage = StorageConfig {
            limits: crate::storage::StorageLimits {
                series_max: limits.series_max,
                series_per_metric_max: limits.series_per_metric_max,
                labels_per_series_max: limits.labels_per_series_max,
                label_name_bytes_max: limits.label_name_bytes_max,
                label_value_bytes_max: limits.label_value_bytes_max,
                out_of_order_window: window,
            },
            hot_window,
            tiers,
            import_body_bytes_max: usize::try_from(parsed.storage.import_body_bytes_max.0)
                .unwrap_or(usize::MAX),
            remote_write_body_bytes_max: usize::try_from(
                parsed.storage.remote_write_body_bytes_max.0,
            )
            .unwrap_or(usize::MAX),
        };
        let host = self.host(&parsed.collect.host);
        let mut jobs = HashMap::new();
        let mut targets = 0usize;
        let scrape: Vec<ScrapeJob> = parsed
            .scrape
            .iter()
            .map(|section| {
                targets += section.targets.len();
                self.scrape_job(section, &mut jobs)
            })
            .collect();
        if targets > limits::SCRAPE_TARGETS_MAX
            && let Some(last) = parsed.scrape.last()
        {
            self.error(
                last.job.span(),
                format!(
                    "scrape: {targets} targets in all, more than the {} allowed",
                    limits::SCRAPE_TARGETS_MAX
                ),
            );
        }
        let section = &parsed.query;
        if *section.samples_max.get_ref() == 0 {
            self.error(
                section.samples_max.span(),
                "query.samples_max: must be at least 1",
            );
        }
        if *section.concurrency_max.get_ref() == 0 {
            self.error(
                section.concurrency_max.span(),
                "query.concurrency_max: must be at least 1",
            );
        }
        for (value, key) in [
            (&section.timeout, "query.timeout"),
            (&section.lookback_delta, "query.lookback_delta"),
        ] {
            if value.get_ref().0.is_zero() {
                self.error(value.span(), format!("{key}: must be more than 0s"));
            }
        }
        let query = QueryConfig {
            samples_max: *section.samples_max.get_ref(),
            timeout: section.timeout.get_ref().0,
            concurrency_max: *section.concurrency_max.get_ref(),
            lookback_delta: section.lookback_delta.get_ref().0,
        };
        let statsd = parsed
            .statsd
            .as_ref()
            .and_then(|section| self.statsd(section));
        let probes = self.probes(&parsed.probe);
        let rules = self.rules_section(&parsed.rules);
        let key_metrics = self.overview(&parsed.overview);
        let alerting = self.alerting(
            &parsed.receiver,
            parsed.route.as_ref(),
            &parsed.inhibit_rule,
            &parsed.alerting,
        );
        let remote_write = self.remote_writes(&parsed.remote_write);
        Validated {
            remote_write,
            peers,
            statsd,
            probes,
            rules,
            rule_groups: Vec::new(),
            dashboards: Vec::new(),
            slos: Vec::new(),
            key_metrics,
            alerting,
            query,
            host,
            scrape,
            storage,
            server,
            auth,
            data_dir,
            log_level: parsed.log.level,
            log_format: parsed.log.format,
        }
    }

    fn server(
        &mut self,
        section: &ServerSection,
        auth: &AuthConfig,
        overrides: &Overrides,
    ) -> ServerConfig {
        let fallback = SocketAddr::from((Ipv4Addr::LOCALHOST, 9797));
        let listen = match &overrides.listen {
            Some(text) => parse_listen(text).unwrap_or_else(|message| {
                self.command_line_error("--listen", message);
                fallback
            }),
            None => parse_listen(section.listen.get_ref()).unwrap_or_else(|message| {
                self.error(section.listen.span(), format!("server.listen: {message}"));
                fallback
            }),
        };
        if !listen.ip().is_loopback() && !auth.is_enabled() && !section.allow_unauthenticated {
            let message = format!(
                "server.listen: {listen} is reachable from other hosts but [auth] has no users or tokens; \
                 add [[auth.user]] (see `tandem hash-password`) or [[auth.token]], or set \
                 server.allow_unauthenticated = true to let anyone who can reach the port in"
            );
            match overrides.listen {
                Some(_) => self.command_line_error("--listen", message),
                None => self.error(section.listen.span(), message),
            }
        }
        let tls = self.tls(section);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let external_url = match &section.external_url {
            Some(url) => {
                self.check_url(url);
                url.get_ref().trim_end_matches('/').to_string()
            }
            None if listen.ip().is_unspecified() => {
                format!("{scheme}://localhost:{}", listen.port())
            }
            None => format!("{scheme}://{listen}"),
        };
        let body_max = section.request_body_bytes_max.get_ref().0;
        if body_max == 0 || body_max > limits::REQUEST_BODY_BYTES_MAX as u64 {
            self.error(
                section.request_body_bytes_max.span(),
                format!(
                    "server.request_body_bytes_max: {body_max} bytes is outside 1 byte..{}",
                    format_bytes(limits::REQUEST_BODY_BYTES_MAX as u64)
                ),
            );
        }
        let timeout = section.client_request_timeout.get_ref().0;
        if !(limits::CLIENT_REQUEST_TIMEOUT_MIN..=limits::CLIENT_REQUEST_TIMEOUT_MAX)
            .contains(&timeout)
        {
            self.error(
                section.client_request_timeout.span(),
                format!(
                    "server.client_request_timeout: {} is outside {}..{}",
                    format_duration(timeout),
                    format_duration(limits::CLIENT_REQUEST_TIMEOUT_MIN),
                    format_duration(limits::CLIENT_REQUEST_TIMEOUT_MAX)
                ),
            );
        }
        ServerConfig {
            // Set by `peers`, which checks it.
            name: String::new(),
            listen,
            external_url,
            tls,
            allow_unauthenticated: section.allow_unauthenticated,
            watch_config: section.watch_config,
            request_body_bytes_max: body_max.clamp(1, limits::REQUEST_BODY_BYTES_MAX as u64)
                as usize,
            client_request_timeout: timeout,
        }
    }

    fn check_url(&mut self, url: &Spanned<String>) {
        match reqwest::Url::parse(url.get_ref()) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
            Ok(parsed) => self.error(
                url.span(),
                format!(
                    "server.external_url: scheme {:?} is not http or https",
                    parsed.scheme()
                ),
            ),
            Err(error) => self.error(
                url.span(),
                format!("server.external_url: invalid URL: {error}"),
            ),
        }
    }

    fn tls(&mut self, section: &ServerSection) -> Option<TlsFiles> {
        match (&section.tls_cert_file, &section.tls_key_file) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                let cert_file = self.existing_file(cert, "server.tls_cert_file");
                let key_file = self.existing_file(key, "server.tls_key_file");
                Some(TlsFiles {
                    cert_file,
                    key_file,
                })
            }
            (Some(one), None) | (None, Some(one)) => {
                let message = "server.tls_cert_file and server.tls_key_file must be set together";
                self.error(one.span(), message);
                None
            }
        }
    }

    pub(super) fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    pub(super) fn existing_file(&mut self, path: &Spanned<PathBuf>, key: &str) -> PathBuf {
        let resolved = self.resolve(path.get_ref());
        if let Err(error) = std::fs::metadata(&resolved) {
            self.error(
                path.span(),
                format!("{key}: cannot read {}: {error}", resolved.display()),
            );
        }
        resolved
    }

    fn auth(&mut self, section: &AuthSection) -> AuthConfig {
        let mut auth = AuthConfig::default();
        let mut user_names: HashMap<String, std::ops::Range<usize>> = HashMap::new();
        for user in &section.user {
            self.unique(&mut user_names, &user.name, "auth.user");
            let hash = user.password_hash.get_ref();
            match argon2::PasswordHash::new(hash) {
                Ok(parsed) if parsed.algorithm.as_str().starts_with("argon2") => {}
                Ok(parsed) => self.error(
                    user.password_hash.span(),
                    format!(
                        "auth.user.password_hash: algorithm {:?} is not argon2; make one with `tandem hash-password`",
                        parsed.algorithm.as_str()
                    ),
                ),
                Err(error) => self.error(
                    user.password_hash.span(),
                    format!("auth.user.password_hash: not a PHC hash string ({error}); make one with `tandem hash-password`"),
                ),
            }
            auth.users.push(BasicUser {
                name: user.name.get_ref().clone(),
                password_hash: hash.clone(),
            });
        }
        let mut token_names = HashMap::new();
        for token in &section.token {
            self.unique(&mut token_names, &token.name, "auth.token");
            match read_token(&self.resolve(token.file.get_ref())) {
                Ok(secret) => auth.tokens.push(BearerToken {
                    name: token.name.get_ref().clone(),
                    secret,
                }),
                Err(message) => {
                    self.error(token.file.span(), format!("auth.token.file: {message}"))
                }
            }
        }
        auth
    }

    /// `[collect.host]`: families by known name, patterns that compile, and at most
    /// one of `device_include` / `device_exclude` per family.
    fn host(&mut self, section: &super::model::HostCollectSection) -> HostCollectConfig {
        use crate::collect::host::{FAMILY_NAMES, defaults};
        let mut families_exclude = Vec::new();
        for family in &section.families_exclude {
            if FAMILY_NAMES.contains(&family.get_ref().as_str()) {
                families_exclude.push(family.get_ref().clone());
            } else {
                self.error(
                    family.span(),
                    format!(
                        "collect.host.families_exclude: unknown family {:?}; known: {}",
                        family.get_ref(),
                        FAMILY_NAMES.join(", ")
                    ),
                );
            }
        }
        let filesystem = &section.filesystem;
        let netdev_devices = self.device_filter(
            &section.netdev,
            "collect.host.netdev",
            defaults::NETDEV_DEVICE_EXCLUDE,
        );
        let diskstats_devices = self.device_filter(
            &section.diskstats,
            "collect.host.diskstats",
            defaults::DISKSTATS_DEVICE_EXCLUDE,
        );
        let netclass_devices = self.device_filter(
            &section.netclass,
            "collect.host.netclass",
            defaults::NETCLASS_DEVICE_EXCLUDE,
        );
        let filesystem_mount_timeout = filesystem
            .mount_timeout
            .as_ref()
            .map_or(defaults::FILESYSTEM_MOUNT_TIMEOUT, |timeout| {
                self.positive_interval(timeout, "collect.host.filesystem.mount_timeout")
            });
        HostCollectConfig {
            enabled: section.enabled,
            interval: self.positive_interval(&section.interval, "collect.host.interval"),
            families_exclude,
            filesystem_mount_points_exclude: self.pattern(
                filesystem.mount_points_exclude.as_ref(),
                "collect.host.filesystem.mount_points_exclude",
                defaults::FILESYSTEM_MOUNT_POINTS_EXCLUDE,
            ),
            filesystem_fs_types_exclude: self.pattern(
                filesystem.fs_types_exclude.as_ref(),
                "collect.host.filesystem.fs_types_exclude",
                defaults::FILESYSTEM_FS_TYPES_EXCLUDE,
            ),
            filesystem_mount_timeout,
            netdev_devices,
            netclass_devices,
            diskstats_devices,
            vmstat_fields_include: self.pattern(
                section.vmstat.fields_include.as_ref(),
                "collect.host.vmstat.fields_include",
                defaults::VMSTAT_FIELDS_INCLUDE,
            ),
        }
    }

    fn device_filter(
        &mut self,
        section: &super::model::HostDeviceSection,
        key: &str,
        default_exclude: &str,
    ) -> crate::collect::host::DeviceFilter {
        use crate::collect::host::DeviceFilter;
        match (&section.device_include, &section.device_exclude) {
            (Some(include), Some(_)) => {
                self.error(
                    include.span(),
                    format!("{key}: set device_include or device_exclude, not both"),
                );
                DeviceFilter::Exclude(default_exclude.into())
            }
            (Some(include), None) => DeviceFilter::Include(self.pattern(
                Some(include),
                &format!("{key}.device_include"),
                "",
            )),
            (None, exclude) => DeviceFilter::Exclude(self.pattern(
                exclude.as_ref(),
                &format!("{key}.device_exclude"),
                default_exclude,
            )),
        }
    }

    /// A regex as written, checked to compile, or `default` when absent.
    fn pattern(&mut self, value: Option<&Spanned<String>>, key: &str, default: &str) -> String {
        let Some(value) = value else {
            return default.to_string();
        };
        if let Err(error) = regex::Regex::new(value.get_ref()) {
            // The regex crate's message spans several lines; the first says what is wrong.
            let reason = error.to_string();
            let reason = reason.lines().last().unwrap_or("invalid regex").trim();
            let reason = reason.trim_start_matches("error: ");
            self.error(
                value.span(),
                format!("{key}: invalid regex {:?}: {reason}", value.get_ref()),
            );
            return default.to_string();
        }
        value.get_ref().clone()
    }

    fn positive_interval(
        &mut self,
        interval: &Spanned<super::units::ConfigDuration>,
        key: &str,
    ) -> std::time::Duration {
        let value = interval.get_ref().0;
        if value < limits::SCRAPE_INTERVAL_MIN {
            self.error(
                interval.span(),
                format!(
                    "{key}: at least {}",
                    format_duration(limits::SCRAPE_INTERVAL_MIN)
                ),
            );
        }
        value
    }

    fn scrape_job(
        &mut self,
        section: &ScrapeSection,
        seen: &mut HashMap<String, std::ops::Range<usize>>,
    ) -> ScrapeJob {
        let job = section.job.get_ref();
        let key = format!("scrape[job={job:?}]");
        if job.is_empty() {
            self.error(section.job.span(), "scrape.job: must not be empty");
        } else if let Some(first) = seen.get(job) {
            let (line, column) = self.source.map_or((0, 0), |source| {
                file::line_column(&source.content, first.start)
            });
            self.error(
                section.job.span(),
                format!("scrape.job: duplicate job {job:?} (first defined at line {line}, column {column})"),
            );
        } else {
            seen.insert(job.clone(), section.job.span());
        }
        let mut targets = Vec::with_capacity(section.targets.len());
        let mut unique_targets = std::collections::HashSet::new();
        for target in &section.targets {
            match check_target(target.get_ref()) {
                Err(message) => self.error(target.span(), format!("{key}.targets: {message}")),
                Ok(()) if !unique_targets.insert(target.get_ref().clone()) => self.error(
                    target.span(),
                    format!("{key}.targets: {:?} is listed twice", target.get_ref()),
                ),
                Ok(()) => targets.push(target.get_ref().clone()),
            }
        }
        let file_sd = self.file_sd_patterns(&section.file_sd, &key);
        let path = section.path.get_ref();
        if !path.starts_with('/') || path.contains(['#', ' ']) {
            self.error(
                section.path.span(),
                format!("{key}.path: {path:?} is not an absolute URL path such as \"/metrics\""),
            );
        }
        let interval = self.positive_interval(&section.interval, &format!("{key}.interval"));
        let timeout = match &section.timeout {
            Some(timeout) => {
                if timeout.get_ref().0 > interval || timeout.get_ref().0.is_zero() {
                    self.error(
                        timeout.span(),
                        format!(
                            "{key}.timeout: must be more than 0s and at most the interval ({})",
                            format_duration(interval)
                        ),
                    );
                }
                timeout.get_ref().0
            }
            None => interval.min(limits::SCRAPE_TIMEOUT_DEFAULT),
        };
        let mut labels = Vec::new();
        for (name, value) in &section.labels {
            match crate::model::check_label_name(name) {
                Err(error) => self.error(section.job.span(), format!("{key}.labels: {error}")),
                Ok(()) if name.starts_with("__") => self.error(
                    section.job.span(),
                    format!("{key}.labels: {name:?}: names starting with \"__\" are reserved"),
                ),
                Ok(()) if name == "job" || name == "instance" => self.error(
                    section.job.span(),
                    format!("{key}.labels: {name:?} is set by the job and its targets"),
                ),
                Ok(()) => labels.push((name.clone(), value.clone())),
            }
        }
        let body_bytes_max = section.body_bytes_max.get_ref().0;
        if body_bytes_max == 0 || body_bytes_max > limits::SCRAPE_BODY_BYTES_MAX as u64 {
            self.error(
                section.body_bytes_max.span(),
                format!(
                    "{key}.body_bytes_max: must be between 1B and {}",
                    format_bytes(limits::SCRAPE_BODY_BYTES_MAX as u64)
                ),
            );
        }
        let (basic_auth, bearer_token_file) = self.secret_files(
            section.basic_auth.as_ref(),
            section.bearer_token_file.as_ref(),
            &key,
        );
        ScrapeJob {
            job: job.clone(),
            targets,
            file_sd,
            scheme: section.scheme,
            path: path.clone(),
            interval,
            timeout,
            honor_labels: section.honor_labels,
            honor_timestamps: section.honor_timestamps,
            labels,
            sample_limit: (section.sample_limit > 0).then_some(section.sample_limit),
            body_bytes_max: usize::try_from(body_bytes_max).unwrap_or(usize::MAX),
            label_limit: (section.label_limit > 0).then_some(section.label_limit),
            relabel: self.relabel_rules(&section.relabel, &format!("{key}.relabel")),
            metric_relabel: self
                .relabel_rules(&section.metric_relabel, &format!("{key}.metric_relabel")),
            basic_auth,
            bearer_token_file,
            tls: self.scrape_tls(section.tls.as_ref(), &key),
        }
    }

    /// `basic_auth` and `bearer_token_file` of a scrape job or a remote_write queue,
    /// with the files checked to exist (they are read at each use).
    pub(super) fn secret_files(
        &mut self,
        basic_auth: Option<&super::model::ScrapeBasicAuth>,
        bearer_token_file: Option<&Spanned<PathBuf>>,
        key: &str,
    ) -> (Option<ScrapeBasicAuthFiles>, Option<PathBuf>) {
        let basic_auth = basic_auth.map(|basic| {
            let password_file = self.resolve(basic.password_file.get_ref());
            if let Err(error) = std::fs::metadata(&password_file) {
                self.error(
                    basic.password_file.span(),
                    format!(
                        "{key}.basic_auth.password_file: cannot read {}: {error}",
                        password_file.display()
                    ),
                );
            }
            ScrapeBasicAuthFiles {
                username: basic.username.get_ref().clone(),
                password_file,
            }
        });
        let bearer_token_file = bearer_token_file.map(|file| {
            let path = self.resolve(file.get_ref());
            if let Err(error) = std::fs::metadata(&path) {
                self.error(
                    file.span(),
                    format!(
                        "{key}.bearer_token_file: cannot read {}: {error}",
                        path.display()
                    ),
                );
            }
            path
        });
        (basic_auth, bearer_token_file)
    }

    /// `file_sd` patterns as globs under the config directory. The directory part is
    /// escaped, so a `[` in its path is not read as a pattern; the extension picks the
    /// format, so it must be one we read (Prometheus refuses other extensions too).
    fn file_sd_patterns(&mut self, patterns: &[Spanned<String>], key: &str) -> Vec<String> {
        let base = glob::Pattern::escape(&self.base_dir.to_string_lossy());
        let mut resolved = Vec::with_capacity(patterns.len());
        for pattern in patterns {
            let text = pattern.get_ref();
            if let Err(error) = glob::Pattern::new(text) {
                self.error(
                    pattern.span(),
                    format!("{key}.file_sd: {text:?} is not a valid glob: {error}"),
                );
            } else if !(text.ends_with(".json") || text.ends_with(".toml")) {
                self.error(
                    pattern.span(),
                    format!("{key}.file_sd: {text:?} must end in .json or .toml"),
                );
            } else if Path::new(text).is_absolute() {
                resolved.push(text.clone());
            } else {
                resolved.push(format!("{}/{text}", base.trim_end_matches('/')));
            }
        }
        resolved
    }

    /// Relabel rules, each checked as Prometheus checks them; errors point at the rule.
    pub(super) fn relabel_rules(
        &mut self,
        sections: &[Spanned<RelabelSection>],
        key: &str,
    ) -> Vec<RelabelRule> {
        let mut rules = Vec::with_capacity(sections.len());
        for (index, section) in sections.iter().enumerate() {
            let rule = section.get_ref();
            let spec = RelabelSpec {
                source_labels: rule.source_labels.clone(),
                separator: rule.separator.clone(),
                regex: rule.regex.clone(),
                modulus: rule.modulus,
                target_label: rule.target_label.clone(),
                replacement: rule.replacement.clone(),
                action: rule.action.clone().unwrap_or_else(|| "replace".into()),
            };
            match RelabelRule::new(spec) {
                Ok(rule) => rules.push(rule),
                Err(error) => self.error(section.span(), format!("{key}[{index}]: {error}")),
            }
        }
        rules
    }

    /// `[scrape.tls]` with its files read and checked now, so a reload fails on a
    /// missing or malformed file instead of every scrape.
    pub(super) fn scrape_tls(&mut self, tls: Option<&ScrapeTls>, key: &str) -> ScrapeTlsConfig {
        let Some(tls) = tls else {
            return ScrapeTlsConfig::default();
        };
        let mut read = |file: &Spanned<PathBuf>, what: &str| -> Option<Vec<u8>> {
            let path = self.resolve(file.get_ref());
            match std::fs::read(&path) {
                Ok(bytes) if bytes.windows(11).any(|w| w == b"-----BEGIN ") => Some(bytes),
                Ok(_) => {
                    self.error(
                        file.span(),
                        format!("{key}.tls.{what}: {} holds no PEM block", path.display()),
                    );
                    None
                }
                Err(error) => {
                    self.error(
                        file.span(),
                        format!("{key}.tls.{what}: cannot read {}: {error}", path.display()),
                    );
                    None
                }
            }
        };
        let ca_pem = tls.ca_file.as_ref().and_then(|file| read(file, "ca_file"));
        let identity_pem = match (&tls.cert_file, &tls.key_file) {
            (Some(cert), Some(key_file)) => {
                let cert = read(cert, "cert_file");
                let key_pem = read(key_file, "key_file");
                cert.zip(key_pem).map(|(mut cert, key_pem)| {
                    cert.push(b'\n');
                    cert.extend_from_slice(&key_pem);
                    cert
                })
            }
            (Some(one), None) | (None, Some(one)) => {
                self.error(
                    one.span(),
                    format!("{key}.tls: cert_file and key_file must be set together"),
                );
                None
            }
            (None, None) => None,
        };
        ScrapeTlsConfig {
            ca_pem,
            identity_pem,
            insecure_skip_verify: tls.insecure_skip_verify,
        }
    }

    pub(super) fn unique(
        &mut self,
        seen: &mut HashMap<String, std::ops::Range<usize>>,
        name: &Spanned<String>,
        what: &str,
    ) {
        if name.get_ref().is_empty() {
            self.error(name.span(), format!("{what}.name: must not be empty"));
            return;
        }
        if let Some(first) = seen.get(name.get_ref()) {
            let (line, column) = self.source.map_or((0, 0), |source| {
                file::line_column(&source.content, first.start)
            });
            let message = format!(
                "{what}.name: duplicate name {:?} (first defined at line {line}, column {column})",
                name.get_ref()
            );
            self.error(name.span(), message);
            return;
        }
        seen.insert(name.get_ref().clone(), name.span());
    }
}

/// A scrape target is `host:port`: no scheme, path or user info.
fn check_target(target: &str) -> Result<(), String> {
    if target.contains("://") {
        return Err(format!(
            "{target:?}: give host:port; the scheme is the job's `scheme` key"
        ));
    }
    if target.contains(['/', '@', '?', '#', ' ']) {
        return Err(format!(
            "{target:?}: give host:port; the path is the job's `path` key"
        ));
    }
    let (host, port) = target
        .rsplit_once(':')
        .ok_or_else(|| format!("{target:?}: missing the port (host:port)"))?;
    if host.is_empty() {
        return Err(format!("{target:?}: missing the host (host:port)"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!(
            "{target:?}: write IPv6 addresses in brackets, e.g. [::1]:9100"
        ));
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(()),
        _ => Err(format!("{target:?}: {port:?} is not a port number")),
    }
}

/// `64MiB` for 64 << 20; exact binary units only, else bytes.
fn format_bytes(bytes: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}B")
}

/// Parses a listen address: `host:port` with an IP, `localhost:port`, or `:port` for all interfaces.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let invalid = || {
        format!(
            "invalid listen address {text:?}: expected host:port such as \"127.0.0.1:9797\", \"[::1]:9797\" or \":9797\""
        )
    };
    let port = |digits: &str| digits.parse::<u16>().map_err(|_| invalid());
    if let Some(digits) = text.strip_prefix(':') {
        return Ok(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port(digits)?,
        ));
    }
    if let Some(digits) = text.strip_prefix("localhost:") {
        return Ok(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            port(digits)?,
        ));
    }
    text.parse::<SocketAddr>().map_err(|_| invalid())
}

fn read_token(path: &Path) -> Result<String, String> {
    let metadata = std::fs::metadata(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    if metadata.len() > limits::TOKEN_FILE_BYTES_MAX as u64 {
        return Err(format!(
            "{} is {} bytes, a token file holds at most {}",
            path.display(),
            metadata.len(),
            limits::TOKEN_FILE_BYTES_MAX
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let token = text.trim();
    if token.len() < limits::TOKEN_BYTES_MIN {
        return Err(format!(
            "token in {} is {} characters, use at least {} random ones",
            path.display(),
            token.len(),
            limits::TOKEN_BYTES_MIN
        ));
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen(":9797"),
            Ok("0.0.0.0:9797".parse().expect("literal"))
        );
        assert_eq!(
            parse_listen("localhost:1"),
            Ok("127.0.0.1:1".parse().expect("literal"))
        );
        assert_eq!(
            parse_listen("[::1]:80"),
            Ok("[::1]:80".parse().expect("literal"))
        );
        assert!(parse_listen("example.org:80").is_err());
        assert!(parse_listen("127.0.0.1").is_err());
        assert!(parse_listen(":99999").is_err());
    }
}
