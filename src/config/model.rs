//! The shape of `tandem.toml` as written by the user: serde structs, one per section.
//! Owns: key names, defaults and the doc comment of every key.
//! Does not: check relations between keys or touch the file system (`validate.rs` does).
//!
//! Sections owned by later subsystems are added here as they land; `deny_unknown_fields`
//! everywhere turns a typo into an error with a suggestion instead of a silent default.

use super::units::{ByteSize, ConfigDuration};
use serde::Deserialize;
use std::path::PathBuf;
use toml::Spanned;

/// The whole of `tandem.toml`. Every section and key is optional.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MainFile {
    /// The HTTP server: listen address, external URL, TLS and request limits.
    #[serde(default)]
    pub server: ServerSection,
    /// Who may use the HTTP server. Empty means no authentication (loopback only).
    #[serde(default)]
    pub auth: AuthSection,
    /// Where and how samples are stored.
    #[serde(default)]
    pub storage: StorageSection,
    /// What tandem logs and in which format.
    #[serde(default)]
    pub log: LogSection,
    /// Bounds that protect stored data from runaway input.
    #[serde(default)]
    pub limits: LimitsSection,
    /// Built-in collectors (`[collect.host]`).
    #[serde(default)]
    pub collect: CollectSection,
    /// Prometheus exporters to scrape (`[[scrape]]`), one entry per job.
    #[serde(default)]
    pub scrape: Vec<ScrapeSection>,
    /// Bounds on PromQL queries, from the API, dashboards and rules alike.
    #[serde(default)]
    pub query: QuerySection,
    /// The statsd listener (UDP); absent means off.
    #[serde(default)]
    pub statsd: Option<super::statsd::StatsdSection>,
    /// Blackbox probes (`[[probe]]`), one entry per probe.
    #[serde(default)]
    pub probe: Vec<super::probe::ProbeSection>,
    /// How rules in `rules/*.toml` are evaluated (`[rules]`).
    #[serde(default)]
    pub rules: super::rules::RulesSection,
    /// Where notifications go (`[[receiver]]`), one entry per receiver.
    #[serde(default)]
    pub receiver: Vec<super::alerting::ReceiverSection>,
    /// Which alerts go to which receiver, grouped how (`[route]`, nested `[[route.route]]`).
    #[serde(default)]
    pub route: Option<super::alerting::RouteSection>,
    /// Alerts that mute others while they fire (`[[inhibit_rule]]`).
    #[serde(default)]
    pub inhibit_rule: Vec<super::alerting::InhibitRuleSection>,
    /// Notifier settings (`[alerting]`).
    #[serde(default)]
    pub alerting: super::alerting::AlertingSection,
    /// What the overview page shows first (`[[overview.key_metric]]`).
    #[serde(default)]
    pub overview: super::overview::OverviewSection,
    /// Other tandem instances that this one exchanges signed heartbeats with
    /// (`[[peer]]`), so that each notices when the other stops working.
    #[serde(default)]
    pub peer: Vec<super::peer::PeerSection>,
    /// Where to send everything stored, as Prometheus remote_write
    /// (`[[remote_write]]`), one entry per receiver.
    #[serde(default)]
    pub remote_write: Vec<super::remote_write::RemoteWriteSection>,
}

/// `[query]`: a query breaking one fails with a clear error; the process is unharmed.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuerySection {
    /// Samples one query may load from storage.
    #[serde(default = "default_query_samples_max")]
    pub samples_max: Spanned<u64>,
    /// Longest a query may run, e.g. `2m`.
    #[serde(default = "default_query_timeout")]
    pub timeout: Spanned<ConfigDuration>,
    /// Queries evaluated at once; more wait for a slot (up to `timeout`).
    #[serde(default = "default_query_concurrency_max")]
    pub concurrency_max: Spanned<usize>,
    /// How far back an instant selector looks for the newest sample, e.g. `5m`.
    #[serde(default = "default_query_lookback_delta")]
    pub lookback_delta: Spanned<ConfigDuration>,
}

fn default_query_samples_max() -> Spanned<u64> {
    Spanned::new(0..0, 50_000_000)
}

fn default_query_timeout() -> Spanned<ConfigDuration> {
    Spanned::new(0..0, ConfigDuration(std::time::Duration::from_secs(120)))
}

fn default_query_concurrency_max() -> Spanned<usize> {
    Spanned::new(0..0, 20)
}

fn default_query_lookback_delta() -> Spanned<ConfigDuration> {
    Spanned::new(0..0, ConfigDuration(std::time::Duration::from_secs(300)))
}

impl Default for QuerySection {
    fn default() -> Self {
        QuerySection {
            samples_max: default_query_samples_max(),
            timeout: default_query_timeout(),
            concurrency_max: default_query_concurrency_max(),
            lookback_delta: default_query_lookback_delta(),
        }
    }
}

/// `[collect]`
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CollectSection {
    /// Metrics of this host under node_exporter's names.
    #[serde(default)]
    pub host: HostCollectSection,
}

/// `[collect.host]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostCollectSection {
    /// Collect this host's metrics (CPU, memory, disks, network, file systems).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How often, e.g. `10s`.
    #[serde(default = "default_host_interval")]
    pub interval: Spanned<ConfigDuration>,
    /// Families not collected, by node_exporter's collector name, e.g. `["hwmon"]`.
    #[serde(default)]
    pub families_exclude: Vec<Spanned<String>>,
    /// `[collect.host.filesystem]`: which mounts `node_filesystem_*` covers.
    #[serde(default)]
    pub filesystem: HostFilesystemSection,
    /// `[collect.host.netdev]`: which interfaces `node_network_*` covers (default
    /// excludes `^lo$`, as node_exporter 1.5 does).
    #[serde(default)]
    pub netdev: HostDeviceSection,
    /// `[collect.host.netclass]`: which interfaces the /sys/class/net gauges
    /// (`node_network_up`, `_info`, `_mtu_bytes`...) cover (default: all, `lo`
    /// included, as node_exporter 1.5's `^$` ignores none).
    #[serde(default)]
    pub netclass: HostDeviceSection,
    /// `[collect.host.diskstats]`: which block devices `node_disk_*` covers (default
    /// excludes partitions, loop, ram and floppy devices, as node_exporter 1.5 does).
    #[serde(default)]
    pub diskstats: HostDeviceSection,
    /// `[collect.host.vmstat]`: which /proc/vmstat fields become `node_vmstat_*`.
    #[serde(default)]
    pub vmstat: HostVmstatSection,
}

/// `[collect.host.filesystem]`. Patterns are unanchored regexes, as node_exporter's
/// flags are, so its flag values can be copied here unchanged.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostFilesystemSection {
    /// Mount points left out; default is node_exporter 1.5's
    /// `^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`.
    #[serde(default)]
    pub mount_points_exclude: Option<Spanned<String>>,
    /// File system types left out; default is node_exporter 1.5's list of pseudo file
    /// systems (`proc`, `sysfs`, `cgroup2`, `overlay`, `squashfs`...).
    #[serde(default)]
    pub fs_types_exclude: Option<Spanned<String>>,
    /// How long `statfs` of one mount may take, e.g. `5s` (the default, node_exporter
    /// 1.5's `--collector.filesystem.mount-timeout`). A mount that takes longer reports
    /// `node_filesystem_device_error` 1 and is skipped until the hung call returns.
    #[serde(default)]
    pub mount_timeout: Option<Spanned<ConfigDuration>>,
}

/// `[collect.host.netdev]` and `[collect.host.diskstats]`: set at most one of the two.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostDeviceSection {
    /// Only devices whose name matches (an unanchored regex).
    #[serde(default)]
    pub device_include: Option<Spanned<String>>,
    /// Devices whose name matches are left out (an unanchored regex).
    #[serde(default)]
    pub device_exclude: Option<Spanned<String>>,
}

/// `[collect.host.vmstat]`
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostVmstatSection {
    /// Fields collected (an unanchored regex); default is node_exporter 1.5's
    /// `^(oom_kill|pgpg|pswp|pg.*fault).*`.
    #[serde(default)]
    pub fields_include: Option<Spanned<String>>,
}

/// `[[scrape]]`: one job, scraping the same path on each of its targets.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScrapeSection {
    /// The `job` label of every series scraped by this job; unique among jobs.
    pub job: Spanned<String>,
    /// `host:port` of each static target; each becomes the `instance` label.
    #[serde(default)]
    pub targets: Vec<Spanned<String>>,
    /// Target files (paths or globs relative to the config directory), in Prometheus'
    /// file_sd JSON (`*.json`) or the same shape in TOML (`*.toml`, `[[group]]`);
    /// re-read when they change.
    #[serde(default)]
    pub file_sd: Vec<Spanned<String>>,
    /// `http` or `https`.
    #[serde(default)]
    pub scheme: ScrapeScheme,
    /// The HTTP path of the metrics, e.g. `/metrics`.
    #[serde(default = "default_scrape_path")]
    pub path: Spanned<String>,
    /// Time between scrapes of one target, e.g. `15s`.
    #[serde(default = "default_scrape_interval")]
    pub interval: Spanned<ConfigDuration>,
    /// How long a scrape may take; at most `interval`. Defaults to `interval`, capped at 10s.
    #[serde(default)]
    pub timeout: Option<Spanned<ConfigDuration>>,
    /// Keep the target's own `job`/`instance`/... labels when they clash with ours
    /// (federation, pushgateway); otherwise theirs are renamed `exported_<name>`.
    #[serde(default)]
    pub honor_labels: bool,
    /// Use timestamps the target exposes; otherwise every sample gets the scrape time.
    #[serde(default = "default_true")]
    pub honor_timestamps: bool,
    /// Extra labels added to every series of this job, e.g. `{ env = "prod" }`.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// A scrape with more samples than this fails as a whole (`up` = 0); 0 means no limit.
    #[serde(default)]
    pub sample_limit: u64,
    /// Largest response body accepted, e.g. `64MiB`; a bigger one fails the scrape.
    #[serde(default = "default_scrape_body_bytes_max")]
    pub body_bytes_max: Spanned<ByteSize>,
    /// A scrape with a series of more labels than this fails as a whole; 0: no limit.
    #[serde(default)]
    pub label_limit: u64,
    /// `[[scrape.relabel]]`: rules applied to each target's labels before it is
    /// scraped (`__address__`, `__scheme__`, `__metrics_path__`, `job`...); a target
    /// they drop is not scraped.
    #[serde(default)]
    pub relabel: Vec<Spanned<RelabelSection>>,
    /// `[[scrape.metric_relabel]]`: rules applied to each scraped series before it is
    /// stored; a series they drop is not stored.
    #[serde(default)]
    pub metric_relabel: Vec<Spanned<RelabelSection>>,
    /// `basic_auth = { username = "u", password_file = "p.secret" }`.
    #[serde(default)]
    pub basic_auth: Option<ScrapeBasicAuth>,
    /// A file holding the bearer token sent as `Authorization: Bearer`; read at every
    /// scrape, so a rotated token is used without a reload.
    #[serde(default)]
    pub bearer_token_file: Option<Spanned<PathBuf>>,
    /// `[scrape.tls]`: how `https` targets are verified and how we identify to them.
    #[serde(default)]
    pub tls: Option<ScrapeTls>,
}

/// One relabeling rule, with Prometheus' keys and defaults (`action = "replace"`,
/// `regex = "(.*)"`, `separator = ";"`, `replacement = "$1"`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RelabelSection {
    /// Labels whose values are joined with `separator` and matched by `regex`.
    #[serde(default)]
    pub source_labels: Vec<String>,
    /// Between joined source values.
    pub separator: Option<String>,
    /// Matched against the whole joined value.
    pub regex: Option<String>,
    /// Divisor of `hashmod`.
    pub modulus: Option<u64>,
    /// The label written (or compared, for `keepequal`/`dropequal`).
    pub target_label: Option<String>,
    /// What `replace` and `labelmap` write, with `$1`, `${name}`.
    pub replacement: Option<String>,
    /// replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop,
    /// labelkeep, lowercase or uppercase.
    pub action: Option<String>,
}

/// `basic_auth` of a scrape job.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScrapeBasicAuth {
    pub username: Spanned<String>,
    /// A file holding the password (trailing newline ignored); read at every scrape.
    pub password_file: Spanned<PathBuf>,
}

/// `[scrape.tls]` of a scrape job.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScrapeTls {
    /// PEM certificates of the CAs that sign the targets' certificates, in addition
    /// to the system's.
    pub ca_file: Option<Spanned<PathBuf>>,
    /// PEM client certificate chain, for targets that require one; with `key_file`.
    pub cert_file: Option<Spanned<PathBuf>>,
    /// PEM key of `cert_file`.
    pub key_file: Option<Spanned<PathBuf>>,
    /// Accept any certificate: only for testing, the connection is then not private.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// How a scrape target is reached.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ScrapeScheme {
    #[default]
    Http,
    Https,
}

impl ScrapeScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            ScrapeScheme::Http => "http",
            ScrapeScheme::Https => "https",
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_host_interval() -> Spanned<ConfigDuration> {
    Spanned::new(0..0, ConfigDuration(std::time::Duration::from_secs(10)))
}

fn default_scrape_interval() -> Spanned<ConfigDuration> {
    Spanned::new(0..0, ConfigDuration(std::time::Duration::from_secs(15)))
}

fn default_scrape_path() -> Spanned<String> {
    Spanned::new(0..0, "/metrics".to_string())
}

fn default_scrape_body_bytes_max() -> Spanned<ByteSize> {
    Spanned::new(
        0..0,
        ByteSize(crate::limits::SCRAPE_BODY_BYTES_DEFAULT as u64),
    )
}

impl Default for HostCollectSection {
    fn default() -> Self {
        HostCollectSection {
            enabled: true,
            interval: default_host_interval(),
            families_exclude: Vec::new(),
            filesystem: HostFilesystemSection::default(),
            netdev: HostDeviceSection::default(),
            netclass: HostDeviceSection::default(),
            diskstats: HostDeviceSection::default(),
            vmstat: HostVmstatSection::default(),
        }
    }
}

/// `[limits]`: breaking one rejects only the offending series or sample.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Series stored in total; new series beyond it are refused.
    #[serde(default = "default_series_max")]
    pub series_max: u64,
    /// Series with the same metric name: catches a label that carries an id or timestamp.
    #[serde(default = "default_series_per_metric_max")]
    pub series_per_metric_max: u64,
    /// Labels on one series, `__name__` included.
    #[serde(default = "default_labels_per_series_max")]
    pub labels_per_series_max: usize,
    /// Bytes in one label name.
    #[serde(default = "default_label_name_bytes_max")]
    pub label_name_bytes_max: usize,
    /// Bytes in one label value.
    #[serde(default = "default_label_value_bytes_max")]
    pub label_value_bytes_max: usize,
    /// How much older than a series' newest sample a sample may be and still be
    /// accepted, e.g. `10m`. Older ones are rejected and counted.
    #[serde(default = "default_out_of_order_window")]
    pub out_of_order_window: Spanned<ConfigDuration>,
}

/// `[server]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// This instance's name, sent in heartbeats to peers (their `[[peer]] name` for it).
    /// Letters, digits, `.`, `_`, `-`. Defaults to the host name.
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// Address and port to listen on: `127.0.0.1:9797`, `[::1]:9797`, `localhost:9797`, or
    /// `:9797` for every interface. Anything but loopback requires `[auth]` or
    /// `allow_unauthenticated = true`. Changing it takes effect at the next restart.
    #[serde(default = "default_listen")]
    pub listen: Spanned<String>,
    /// The URL people and peers reach this instance at, used in links in notifications.
    /// Defaults to `http(s)://` plus the listen address.
    #[serde(default)]
    pub external_url: Option<Spanned<String>>,
    /// PEM certificate chain for HTTPS. Set together with `tls_key_file`; relative paths
    /// are relative to the config directory. Read at start.
    #[serde(default)]
    pub tls_cert_file: Option<Spanned<PathBuf>>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for HTTPS. Set together with `tls_cert_file`.
    #[serde(default)]
    pub tls_key_file: Option<Spanned<PathBuf>>,
    /// Allow listening on a non-loopback address without `[auth]`. Only for networks
    /// where every host that can reach the port is trusted.
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// Reload automatically when a file in the config directory changes (debounced).
    #[serde(default)]
    pub watch_config: bool,
    /// Largest request body accepted by endpoints other than ingest, e.g. `1MiB`.
    #[serde(default = "default_request_body_bytes_max")]
    pub request_body_bytes_max: Spanned<ByteSize>,
    /// Time a client has to send its request headers before the connection is closed
    /// (protects against connections held open by slow clients), e.g. `5s`.
    #[serde(default = "default_client_request_timeout")]
    pub client_request_timeout: Spanned<ConfigDuration>,
}

/// `[auth]`: basic-auth users and bearer tokens. When either list is non-empty,
/// every endpoint except `/-/healthy` requires one of them.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// Users for HTTP basic auth (`[[auth.user]]`).
    #[serde(default)]
    pub user: Vec<AuthUser>,
    /// Bearer tokens, each read from its own file (`[[auth.token]]`).
    #[serde(default)]
    pub token: Vec<AuthToken>,
}

/// `[[auth.user]]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthUser {
    /// The user name typed at the login prompt.
    pub name: Spanned<String>,
    /// An argon2 hash in PHC format, as printed by `tandem hash-password`.
    pub password_hash: Spanned<String>,
}

/// `[[auth.token]]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthToken {
    /// A name for the token's holder, shown in logs.
    pub name: Spanned<String>,
    /// File holding the token (surrounding white space is ignored). Relative paths are
    /// relative to the config directory. Keeping it out of tandem.toml keeps it out of
    /// the config history.
    pub file: Spanned<PathBuf>,
}

/// `[storage]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// Directory for all data: samples, config history, alert state. Relative paths are
    /// relative to the working directory. Changing it takes effect at the next restart.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Sealed chunks stay in the hot chunk log this long before they are compacted
    /// into SQLite blocks, e.g. `2h`.
    #[serde(default = "default_hot_window")]
    pub hot_window: Spanned<ConfigDuration>,
    /// Largest body `POST /api/v1/import/prometheus` accepts (after decompression), e.g. `256MiB`.
    #[serde(default = "default_import_body_bytes_max")]
    pub import_body_bytes_max: ByteSize,
    /// Largest snappy-compressed body `POST /api/v1/write` (remote_write) accepts, e.g.
    /// `16MiB`; its decoded size is bounded by `limits::REMOTE_WRITE_DECODED_BYTES_MAX`.
    #[serde(default = "default_remote_write_body_bytes_max")]
    pub remote_write_body_bytes_max: ByteSize,
    /// Raw data and its rollups, finest first, each with how long it is kept, e.g.
    /// `[{ resolution = "raw", retention = "15d" }, { resolution = "1m", retention = "90d" }]`.
    #[serde(default = "default_tiers")]
    pub tiers: Spanned<Vec<TierSection>>,
}

/// One entry of `[storage] tiers`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TierSection {
    /// `raw`, or the width of a rollup bucket, e.g. `1m`, `1h`.
    pub resolution: Spanned<TierResolution>,
    /// How long the tier keeps data, e.g. `90d`, `5y`.
    pub retention: Spanned<ConfigDuration>,
}

/// A tier's resolution as written: `raw` or a duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TierResolution {
    Raw,
    Every(std::time::Duration),
}

impl<'de> Deserialize<'de> for TierResolution {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "raw" {
            return Ok(TierResolution::Raw);
        }
        crate::config::units::parse_duration(&text)
            .map(TierResolution::Every)
            .map_err(|error| {
                serde::de::Error::custom(format!("expected \"raw\" or a duration: {error}"))
            })
    }
}

/// `[log]`
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// Least severe level written: `error`, `warn`, `info`, `debug` or `trace`.
    #[serde(default)]
    pub level: LogLevel,
    /// `text` for people, `json` (one object per line) for log collectors.
    #[serde(default)]
    pub format: LogFormat,
}

/// A log level name.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

/// A log line format.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

pub const LISTEN_DEFAULT: &str = "127.0.0.1:9797";
pub const DATA_DIR_DEFAULT: &str = "./tandem-data";

fn default_listen() -> Spanned<String> {
    Spanned::new(0..0, LISTEN_DEFAULT.to_string())
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(DATA_DIR_DEFAULT)
}

fn default_request_body_bytes_max() -> Spanned<ByteSize> {
    Spanned::new(
        0..0,
        ByteSize(crate::limits::REQUEST_BODY_BYTES_DEFAULT as u64),
    )
}

fn default_client_request_timeout() -> Spanned<ConfigDuration> {
    Spanned::new(
        0..0,
        ConfigDuration(crate::limits::CLIENT_REQUEST_TIMEOUT_DEFAULT),
    )
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            name: None,
            listen: default_listen(),
            external_url: None,
            tls_cert_file: None,
            tls_key_file: None,
            allow_unauthenticated: false,
            watch_config: false,
            request_body_bytes_max: default_request_body_bytes_max(),
            client_request_timeout: default_client_request_timeout(),
        }
    }
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            data_dir: default_data_dir(),
            hot_window: default_hot_window(),
            tiers: default_tiers(),
            import_body_bytes_max: default_import_body_bytes_max(),
            remote_write_body_bytes_max: default_remote_write_body_bytes_max(),
        }
    }
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            series_max: default_series_max(),
            series_per_metric_max: default_series_per_metric_max(),
            labels_per_series_max: default_labels_per_series_max(),
            label_name_bytes_max: default_label_name_bytes_max(),
            label_value_bytes_max: default_label_value_bytes_max(),
            out_of_order_window: default_out_of_order_window(),
        }
    }
}

fn default_series_max() -> u64 {
    2_000_000
}
fn default_series_per_metric_max() -> u64 {
    200_000
}
fn default_labels_per_series_max() -> usize {
    64
}
fn default_label_name_bytes_max() -> usize {
    256
}
fn default_label_value_bytes_max() -> usize {
    4096
}
fn default_out_of_order_window() -> Spanned<ConfigDuration> {
    Spanned::new(0..0, ConfigDuration(std::time::Duration::from_secs(600)))
}
fn default_hot_window() -> Spanned<ConfigDuration> {
    Spanned::new(
        0..0,
        ConfigDuration(std::time::Duration::from_secs(2 * 3600)),
    )
}
/// Raw 15 d, 1 m rollups 90 d, 1 h rollups 5 y (`storage::Tier::defaults`).
fn default_tiers() -> Spanned<Vec<TierSection>> {
    let tier = |resolution, days: u64| TierSection {
        resolution: Spanned::new(0..0, resolution),
        retention: Spanned::new(
            0..0,
            ConfigDuration(std::time::Duration::from_secs(days * 24 * 3600)),
        ),
    };
    Spanned::new(
        0..0,
        vec![
            tier(TierResolution::Raw, 15),
            tier(
                TierResolution::Every(std::time::Duration::from_secs(60)),
                90,
            ),
            tier(
                TierResolution::Every(std::time::Duration::from_secs(3600)),
                5 * 365,
            ),
        ],
    )
}

fn default_import_body_bytes_max() -> ByteSize {
    ByteSize(256 << 20)
}

fn default_remote_write_body_bytes_max() -> ByteSize {
    ByteSize(crate::limits::REMOTE_WRITE_BODY_BYTES_DEFAULT as u64)
}
