//! Target files of `[[scrape]] file_sd`: Prometheus' file_sd JSON
//! (`[{"targets": ["h:9100"], "labels": {"env": "prod"}}]`) and the same shape in TOML
//! (`[[group]]` tables with `targets` and `labels`).
//! Owns: turning one file's text into typed `TargetGroup`s, or an error with its line
//! and column.
//! Does not: find, watch or re-read files (`collect::discovery` does), or check
//! targets: a target may be anything relabeling turns into an `__address__` (a URL
//! for a blackbox exporter), so it is checked after relabeling, as in Prometheus.
//!
//! It lives in `config/` because only `config/` reads TOML (ARCHITECTURE.md).

use super::file::line_column;
use crate::model::check_label_name;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// Targets sharing labels, as one entry of a target file lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TargetGroup {
    /// Each becomes a target's `__address__`.
    pub targets: Vec<String>,
    /// Names checked, sorted by name.
    pub labels: Vec<(String, String)>,
}

/// Why a target file was refused, located in it (1-based).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct TargetFileError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The file formats, chosen by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetFileFormat {
    Json,
    Toml,
}

impl TargetFileFormat {
    /// `None` for an extension we do not read; `config` refuses such patterns.
    pub fn of(path: &Path) -> Option<TargetFileFormat> {
        match path.extension()?.to_str()? {
            "json" => Some(TargetFileFormat::Json),
            "toml" => Some(TargetFileFormat::Toml),
            _ => None,
        }
    }
}

impl fmt::Display for TargetFileFormat {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(match self {
            TargetFileFormat::Json => "JSON",
            TargetFileFormat::Toml => "TOML",
        })
    }
}

/// One group as both formats write it. Unknown keys are ignored, as Prometheus'
/// JSON decoding ignores them.
#[derive(Deserialize)]
struct GroupEntry {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// A TOML target file: `[[group]]` tables and nothing else, so a misspelt table
/// name is an error instead of a file without targets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlTargetFile {
    #[serde(default)]
    group: Vec<GroupEntry>,
}

/// Parses one target file's `text`.
pub fn parse_target_file(
    format: TargetFileFormat,
    text: &str,
) -> Result<Vec<TargetGroup>, TargetFileError> {
    let entries = match format {
        TargetFileFormat::Json => {
            serde_json::from_str::<Vec<GroupEntry>>(text).map_err(|error| TargetFileError {
                line: error.line().max(1),
                column: error.column().max(1),
                message: format!("invalid file_sd JSON: {}", json_message(&error)),
            })?
        }
        TargetFileFormat::Toml => {
            toml::from_str::<TomlTargetFile>(text)
                .map_err(|error| {
                    let (line, column) =
                        line_column(text, error.span().map_or(0, |span| span.start));
                    let message = error.message().lines().next().unwrap_or("").to_string();
                    TargetFileError {
                        line,
                        column,
                        message: format!("invalid file_sd TOML: {message}"),
                    }
                })?
                .group
        }
    };
    entries
        .into_iter()
        .map(|entry| group(entry, text))
        .collect()
}

/// serde_json appends " at line L column C" to its messages; the error carries both.
fn json_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(end) => text[..end].to_string(),
        None => text,
    }
}

fn group(entry: GroupEntry, text: &str) -> Result<TargetGroup, TargetFileError> {
    for name in entry.labels.keys() {
        if let Err(error) = check_label_name(name) {
            // Neither parser keeps the span of a map key: point at its first mention.
            let offset = text
                .find(&format!("\"{name}\""))
                .or_else(|| text.find(name.as_str()))
                .unwrap_or(0);
            let (line, column) = line_column(text, offset);
            return Err(TargetFileError {
                line,
                column,
                message: format!("labels: {error}"),
            });
        }
    }
    Ok(TargetGroup {
        targets: entry.targets,
        labels: entry.labels.into_iter().collect(),
    })
}
