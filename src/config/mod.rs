//! The configuration: a directory of TOML files turned into one validated `Config`.
//! Owns: reading the directory (or the embedded default), TOML parsing with
//! file:line:col diagnostics, validation, the content hash, and the history of applied
//! versions (`history.rs`).
//! Does not: apply a config. Subsystems receive `Arc<Config>` and react to new ones.
//!
//! Layout of a config directory:
//! `tandem.toml`, `rules/*.toml`, `dashboards/*.toml`, `slos/*.toml`, `silences/*.toml`.

pub mod alerting;
pub mod dashboards;
mod file;
pub mod history;
mod model;
pub mod overview;
pub mod peer;
pub mod probe;
pub mod remote_write;
pub mod rule_tests;
pub mod rules;
pub mod slos;
pub mod statsd;
mod target_file;
pub mod units;
mod validate;

pub use file::{Diagnostic, SourceFile, line_column, suggest};
pub use model::{LogFormat, LogLevel, MainFile, ScrapeScheme};
pub use target_file::{TargetFileError, TargetFileFormat, TargetGroup, parse_target_file};
pub use validate::{
    AuthConfig, BasicUser, BearerToken, HostCollectConfig, QueryConfig, ScrapeBasicAuthFiles,
    ScrapeJob, ScrapeTlsConfig, ServerConfig, StorageConfig, TlsFiles,
};

use crate::limits;
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// The directory a packaged install keeps its config in; used when `--config` is absent.
pub const SYSTEM_CONFIG_DIR: &str = "/etc/tandem";

/// The main file every config directory has.
pub const MAIN_FILE: &str = "tandem.toml";

/// Subdirectories whose `*.toml` files belong to the config.
pub const SUBDIRECTORIES: [&str; 4] = ["rules", "dashboards", "slos", "silences"];

#[derive(RustEmbed)]
#[folder = "config/"]
#[include = "*.toml"]
struct EmbeddedDefault;

/// Where a config came from, so that a reload reads the same place again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    Directory(PathBuf),
    Embedded,
}

/// Settings given on the command line that win over the files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
}

/// A complete, validated configuration. Immutable: a reload builds a new one.
#[derive(Clone, Debug)]
pub struct Config {
    pub source: ConfigSource,
    /// Every file that makes up this config, sorted by relative path.
    pub files: Vec<SourceFile>,
    pub hash: ConfigHash,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub storage: StorageConfig,
    pub data_dir: PathBuf,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    pub host: HostCollectConfig,
    pub scrape: Vec<ScrapeJob>,
    pub query: QueryConfig,
    /// `[statsd]`; `None`: no listener.
    pub statsd: Option<statsd::StatsdConfig>,
    pub probes: Vec<probe::ProbeConfig>,
    /// `[rules]`: how rule groups are evaluated.
    pub rules: rules::RulesConfig,
    /// Rule groups from `rules/*.toml`, in file order.
    pub rule_groups: Vec<rules::RuleGroupConfig>,
    /// Receivers, routes, inhibition rules, file silences and notifier settings.
    pub alerting: alerting::AlertingConfig,
    /// Dashboards from `dashboards/*.toml`, in file order.
    pub dashboards: Vec<dashboards::DashboardConfig>,
    /// `[[overview.key_metric]]`: what the overview page shows first.
    pub key_metrics: Vec<overview::KeyMetric>,
    /// `[[peer]]`: instances this one exchanges heartbeats with.
    pub peers: Vec<peer::PeerConfig>,
    /// `[[remote_write]]`: queues sending stored samples to other systems.
    pub remote_write: Vec<remote_write::RemoteWriteConfig>,
    /// SLOs from `slos/*.toml`, in file order. Each also generated a group in
    /// `rule_groups`.
    pub slos: Vec<slos::SloConfig>,
}

/// The first 16 hex digits of the SHA-256 of every file's path and content.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigHash(pub String);

impl fmt::Display for ConfigHash {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Everything wrong with a config directory, in file order.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{}", render_diagnostics(.diagnostics))]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

fn render_diagnostics(diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

impl Config {
    /// The file with this relative path, if the config has one.
    pub fn file(&self, relative_path: &str) -> Option<&SourceFile> {
        self.files
            .iter()
            .find(|file| file.relative_path == relative_path)
    }
}

/// Picks the config to use when none is named: `/etc/tandem` if it exists, else the
/// embedded default.
pub fn default_source() -> ConfigSource {
    if Path::new(SYSTEM_CONFIG_DIR).is_dir() {
        ConfigSource::Directory(PathBuf::from(SYSTEM_CONFIG_DIR))
    } else {
        ConfigSource::Embedded
    }
}

/// Reads and validates the config at `source`, listing every problem found.
pub fn load(source: &ConfigSource, overrides: &Overrides) -> Result<Config, ConfigError> {
    let (files, base_dir) = match source {
        ConfigSource::Directory(dir) => (read_directory(dir)?, dir.clone()),
        ConfigSource::Embedded => (embedded_files(), PathBuf::from(".")),
    };
    let hash = hash_files(&files);
    let validated = validate::validate(&files, &base_dir, overrides)?;
    Ok(Config {
        source: source.clone(),
        files,
        hash,
        server: validated.server,
        auth: validated.auth,
        storage: validated.storage,
        data_dir: validated.data_dir,
        log_level: validated.log_level,
        log_format: validated.log_format,
        host: validated.host,
        query: validated.query,
        scrape: validated.scrape,
        statsd: validated.statsd,
        probes: validated.probes,
        rules: validated.rules,
        rule_groups: validated.rule_groups,
        alerting: validated.alerting,
        dashboards: validated.dashboards,
        key_metrics: validated.key_metrics,
        peers: validated.peers,
        remote_write: validated.remote_write,
        slos: validated.slos,
    })
}

/// The files of the default config compiled into the binary.
pub fn embedded_files() -> Vec<SourceFile> {
    let mut files: Vec<SourceFile> = EmbeddedDefault::iter()
        .filter_map(|path| {
            let content = EmbeddedDefault::get(&path)?;
            Some(SourceFile {
                relative_path: path.to_string(),
                display_path: format!("(embedded config)/{path}"),
                content: String::from_utf8_lossy(&content.data).into_owned(),
            })
        })
        .collect();
    files.sort_by(|a, b| a.relative_path.cmp(&b.relative_path));
    files
}

/// Reads `tandem.toml` and the `*.toml` files of the known subdirectories.
fn read_directory(dir: &Path) -> Result<Vec<SourceFile>, ConfigError> {
    let mut diagnostics = Vec::new();
    let mut files = Vec::new();
    let display = |relative: &str| dir.join(relative).display().to_string();
    if !dir.is_dir() {
        let message = "config directory not found (or not a directory)";
        return Err(whole_file_error(&dir.display().to_string(), message));
    }
    let main_path = dir.join(MAIN_FILE);
    if !main_path.is_file() {
        let message =
            format!("missing: every config directory needs a {MAIN_FILE} (it may be empty)");
        return Err(whole_file_error(&display(MAIN_FILE), &message));
    }
    let mut relative_paths = vec![MAIN_FILE.to_string()];
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".toml") && name != MAIN_FILE {
                    let message = format!(
                        "unexpected config file: only {MAIN_FILE} and *.toml files in {} are read",
                        SUBDIRECTORIES.join("/, ") + "/"
                    );
                    diagnostics.push(whole_file_diagnostic(&display(&name), &message));
                }
            }
        }
        Err(error) => {
            return Err(whole_file_error(
                &dir.display().to_string(),
                &error.to_string(),
            ));
        }
    }
    for subdirectory in SUBDIRECTORIES {
        let path = dir.join(subdirectory);
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".toml") && !name.starts_with('.'))
            .collect();
        names.sort();
        relative_paths.extend(
            names
                .into_iter()
                .map(|name| format!("{subdirectory}/{name}")),
        );
    }
    if relative_paths.len() > limits::CONFIG_FILES_MAX {
        let message = format!(
            "{} config files, limit is {}",
            relative_paths.len(),
            limits::CONFIG_FILES_MAX
        );
        return Err(whole_file_error(&dir.display().to_string(), &message));
    }
    for relative_path in relative_paths {
        match read_file(&dir.join(&relative_path)) {
            Ok(content) => files.push(SourceFile {
                display_path: display(&relative_path),
                relative_path,
                content,
            }),
            Err(message) => {
                diagnostics.push(whole_file_diagnostic(&display(&relative_path), &message))
            }
        }
    }
    if !diagnostics.is_empty() {
        return Err(ConfigError { diagnostics });
    }
    files.sort_by(|a, b| a.relative_path.cmp(&b.relative_path));
    Ok(files)
}

fn read_file(path: &Path) -> Result<String, String> {
    let metadata = std::fs::metadata(path).map_err(|error| format!("cannot read: {error}"))?;
    if metadata.len() > limits::CONFIG_FILE_BYTES_MAX as u64 {
        return Err(format!(
            "file is {} bytes, limit is {}",
            metadata.len(),
            limits::CONFIG_FILE_BYTES_MAX
        ));
    }
    let bytes = std::fs::read(path).map_err(|error| format!("cannot read: {error}"))?;
    String::from_utf8(bytes).map_err(|error| {
        let (line, column) =
            line_column_of_bytes(error.as_bytes(), error.utf8_error().valid_up_to());
        format!("not UTF-8: invalid byte at line {line}, column {column}")
    })
}

fn line_column_of_bytes(bytes: &[u8], offset: usize) -> (usize, usize) {
    let valid = String::from_utf8_lossy(&bytes[..offset.min(bytes.len())]);
    line_column(&valid, valid.len())
}

fn whole_file_diagnostic(path: &str, message: &str) -> Diagnostic {
    Diagnostic {
        file: path.to_string(),
        line: 1,
        column: 1,
        message: message.to_string(),
    }
}

fn whole_file_error(path: &str, message: &str) -> ConfigError {
    ConfigError {
        diagnostics: vec![whole_file_diagnostic(path, message)],
    }
}

/// Hashes paths and contents in path order, with separators so that moving text
/// between files changes the hash.
pub fn hash_files(files: &[SourceFile]) -> ConfigHash {
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.relative_path.as_bytes());
        hasher.update([0]);
        hasher.update((file.content.len() as u64).to_be_bytes());
        hasher.update(file.content.as_bytes());
    }
    ConfigHash(short_hex(&hasher.finalize()))
}

/// The first 8 bytes of a digest as 16 lowercase hex digits.
pub fn short_hex(digest: &[u8]) -> String {
    digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl Config {
    /// Storage options for this config's data directory.
    pub fn storage_options(&self) -> crate::storage::StorageOptions {
        let mut options = crate::storage::StorageOptions::new(&self.data_dir);
        options.limits = self.storage.limits.clone();
        options.hot_window = self.storage.hot_window;
        options.tiers = self.storage.tiers.clone();
        options
    }
}

/// The config rendered as one TOML text, each file under a `# file:` header, for
/// `/api/v1/status/config`.
pub fn render_as_text(config: &Config) -> String {
    let mut text = String::new();
    for file in &config.files {
        text.push_str(&format!("# file: {}\n", file.relative_path));
        text.push_str(&file.content);
        if !file.content.ends_with('\n') {
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let config =
            load(&ConfigSource::Embedded, &Overrides::default()).expect("embedded default loads");
        assert!(config.file(MAIN_FILE).is_some());
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:9797");
        assert_eq!(config.data_dir, PathBuf::from("./tandem-data"));
    }

    #[test]
    fn hash_depends_on_paths_and_contents() {
        let file = |path: &str, content: &str| SourceFile {
            relative_path: path.into(),
            display_path: path.into(),
            content: content.into(),
        };
        let a = hash_files(&[file("a.toml", "x"), file("b.toml", "")]);
        let b = hash_files(&[file("a.toml", ""), file("b.toml", "x")]);
        let c = hash_files(&[file("a.toml", "x"), file("b.toml", "")]);
        assert_ne!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.0.len(), 16);
    }
}
