//! File-based target discovery (`[[scrape]] file_sd`): the target files matched by the
//! jobs' globs, re-read when they change.
//! Owns: expanding the globs, noticing changed files (modification time and size),
//! reading them within `FILE_SD_FILE_BYTES_MAX`, and keeping each file's last good
//! target groups: a malformed file keeps the targets it had, and the error is logged
//! with file, line and column, and counted by the caller.
//! Does not: parse either format (`config::parse_target_file`, since only `config/`
//! reads TOML), relabel or scrape targets (`scrape::target`), or run on a timer of
//! its own (`scrape::run` calls `refresh` every `FILE_SD_REFRESH_INTERVAL` and at
//! each reload).
//! Limits: `FILE_SD_FILES_MAX` files over all patterns, `FILE_SD_FILE_BYTES_MAX` per
//! file; the targets they yield are bounded by `SCRAPE_TARGETS_MAX` in `scrape::target`.
//!
//! Polling rather than `notify`: the files are few and small, a stat of each every 5 s
//! costs nothing, and polling also sees files that appear under a glob in directories
//! created later, files on network mounts, and editors that replace a file by
//! renaming, all of which need extra care with inotify watches. A change is seen
//! within one refresh interval, as Prometheus' own fallback re-read does.

use crate::config::{TargetFileFormat, TargetGroup, parse_target_file};
use crate::limits;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What a file looked like when it was last read: a different stamp means re-read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

#[derive(Debug, Default)]
struct DiscoveredFile {
    /// `None`: never read successfully nor unsuccessfully.
    stamp: Option<FileStamp>,
    /// The groups of the last good read; kept while the file is malformed.
    groups: Vec<TargetGroup>,
}

/// The target files of every job and their last good groups.
#[derive(Debug, Default)]
pub struct FileDiscovery {
    files: HashMap<PathBuf, DiscoveredFile>,
    /// The files each pattern matched at the last refresh, sorted.
    matches: HashMap<String, Vec<PathBuf>>,
}

/// What one refresh found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Some job's groups may differ from before the refresh.
    pub changed: bool,
    /// Files that could not be read or parsed (each logged).
    pub errors: u64,
}

impl FileDiscovery {
    /// Expands `patterns` and re-reads the files whose stamp changed, or every matched
    /// file when `force` (a reload: the operator expects a fresh read). Files no longer
    /// matched are forgotten with their targets.
    pub fn refresh(&mut self, patterns: &[String], force: bool) -> Refreshed {
        let mut refreshed = Refreshed::default();
        let matches = expand(patterns);
        if matches != self.matches {
            refreshed.changed = true;
        }
        let mut wanted: Vec<&PathBuf> = matches.values().flatten().collect();
        wanted.sort();
        wanted.dedup();
        for path in &wanted {
            let file = self.files.entry((*path).clone()).or_default();
            match read_if_changed(path, file.stamp.filter(|_| !force)) {
                FileRead::Unchanged => {}
                FileRead::Vanished => {
                    // Deleted between the glob and the stat: the next refresh drops it.
                }
                FileRead::Parsed(stamp, groups) => {
                    refreshed.changed |= groups != file.groups;
                    file.stamp = Some(stamp);
                    file.groups = groups;
                }
                FileRead::Failed(stamp, message) => {
                    tracing::error!(
                        error = %message,
                        targets_kept = file.groups.iter().map(|group| group.targets.len()).sum::<usize>(),
                        "file_sd: target file refused; keeping its previous targets"
                    );
                    refreshed.errors += 1;
                    file.stamp = stamp;
                }
            }
        }
        let before = self.files.len();
        self.files.retain(|path, _| wanted.contains(&path));
        refreshed.changed |= self.files.len() != before;
        self.matches = matches;
        debug_assert!(self.files.len() <= limits::FILE_SD_FILES_MAX);
        refreshed
    }

    /// The groups of the files `patterns` matched at the last refresh, in path order,
    /// each with its file (for `__meta_filepath`).
    pub fn groups<'a>(&'a self, patterns: &[String]) -> Vec<(&'a Path, &'a TargetGroup)> {
        let mut paths: Vec<&PathBuf> = patterns
            .iter()
            .filter_map(|pattern| self.matches.get(pattern))
            .flatten()
            .collect();
        paths.sort();
        paths.dedup();
        paths
            .into_iter()
            .filter_map(|path| self.files.get_key_value(path))
            .flat_map(|(path, file)| file.groups.iter().map(move |group| (path.as_path(), group)))
            .collect()
    }
}

/// The files each pattern matches, at most `FILE_SD_FILES_MAX` in all.
fn expand(patterns: &[String]) -> HashMap<String, Vec<PathBuf>> {
    let mut matches = HashMap::with_capacity(patterns.len());
    let mut total = 0usize;
    for pattern in patterns {
        if matches.contains_key(pattern) {
            continue;
        }
        let paths = match glob::glob(pattern) {
            Ok(paths) => paths,
            Err(error) => {
                // `config/` checked the pattern; only a bug gets here.
                tracing::error!(%pattern, %error, "BUG: file_sd pattern not checked");
                continue;
            }
        };
        let mut files = Vec::new();
        // An unreadable directory under the glob is skipped, as Prometheus does.
        for path in paths.flatten() {
            if total == limits::FILE_SD_FILES_MAX {
                tracing::warn!(
                    %pattern,
                    limit = limits::FILE_SD_FILES_MAX,
                    "file_sd: more target files than the limit; the rest are ignored"
                );
                break;
            }
            if TargetFileFormat::of(&path).is_some() && path.is_file() {
                files.push(path);
                total += 1;
            }
        }
        files.sort();
        matches.insert(pattern.clone(), files);
    }
    matches
}

enum FileRead {
    Unchanged,
    Vanished,
    Parsed(FileStamp, Vec<TargetGroup>),
    /// The stamp is `None` when even the stat failed.
    Failed(Option<FileStamp>, String),
}

/// Reads and parses `path` unless its stamp is still `previous`.
fn read_if_changed(path: &Path, previous: Option<FileStamp>) -> FileRead {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return FileRead::Vanished,
        Err(error) => return FileRead::Failed(None, format!("{}: {error}", path.display())),
    };
    let stamp = FileStamp {
        modified: metadata.modified().ok(),
        len: metadata.len(),
    };
    if previous == Some(stamp) {
        return FileRead::Unchanged;
    }
    match read_groups(path) {
        Ok(groups) => FileRead::Parsed(stamp, groups),
        Err(message) => FileRead::Failed(Some(stamp), message),
    }
}

/// The groups of one file; errors read `file:line:col: message` or `file: message`.
fn read_groups(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let display = path.display();
    let Some(format) = TargetFileFormat::of(path) else {
        return Err(format!("{display}: not a .json or .toml file"));
    };
    let file = std::fs::File::open(path).map_err(|error| format!("{display}: {error}"))?;
    let mut bytes = Vec::new();
    // Bounded by what is read, not by the size stat'ed: the file may grow meanwhile.
    file.take(limits::FILE_SD_FILE_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("{display}: {error}"))?;
    if bytes.len() as u64 > limits::FILE_SD_FILE_BYTES_MAX {
        return Err(format!(
            "{display}: larger than the limit of {} bytes",
            limits::FILE_SD_FILE_BYTES_MAX
        ));
    }
    let text =
        String::from_utf8(bytes).map_err(|error| format!("{display}: not UTF-8: {error}"))?;
    parse_target_file(format, &text).map_err(|error| format!("{display}:{error}"))
}

#[cfg(test)]
mod tests;
