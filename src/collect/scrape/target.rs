//! Scrape targets: the static and discovered addresses of each job turned into
//! `Target`s the way Prometheus does it (`PopulateLabels`).
//! Owns: a target's discovered labels (`__address__`, `__scheme__`,
//! `__metrics_path__`, `__scrape_interval__`, `__scrape_timeout__`, `job`, the job's
//! `labels`, file_sd group labels and `__meta_filepath`), target relabeling, the
//! scrape URL (with `__param_<name>` as query parameters), the default `instance`,
//! and the final labels attached to every series (no `__` names).
//! Does not: read files (`collect::discovery`), fetch or store samples (`scrape.rs`).
//! Limits: `SCRAPE_TARGETS_MAX` targets over all jobs (active and dropped), at most
//! `SCRAPE_DROPPED_TARGETS_MAX` of them kept as dropped.

use crate::collect::discovery::FileDiscovery;
use crate::collect::relabel::relabel;
use crate::config::units::{format_duration, parse_duration};
use crate::config::{Config, ScrapeJob, ScrapeScheme};
use crate::limits;
use crate::model::Labels;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

pub const ADDRESS_LABEL: &str = "__address__";
pub const SCHEME_LABEL: &str = "__scheme__";
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
pub const PARAM_LABEL_PREFIX: &str = "__param_";
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// One target of one job, after relabeling: equal values scrape identically.
///
/// Equality and hashing leave out the discovered labels: a target that moves from
/// one file to another (another `__meta_filepath`) but keeps its URL and labels is
/// the same target, and its scrape loop is not restarted (Prometheus also keys
/// targets by their final labels and URL).
#[derive(Clone, Debug)]
pub struct Target {
    /// The job, with `interval`, `timeout` and `scheme` as relabeling left them.
    pub job: Arc<ScrapeJob>,
    /// `__address__` after relabeling.
    pub address: String,
    url: String,
    /// Sorted by name; no `__` names; `instance` set.
    labels: Vec<(String, String)>,
    /// Before relabeling, for `/api/v1/targets`.
    discovered: Labels,
}

impl PartialEq for Target {
    fn eq(&self, other: &Target) -> bool {
        self.job == other.job && self.url == other.url && self.labels == other.labels
    }
}

impl Eq for Target {}

impl std::hash::Hash for Target {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.job.hash(state);
        self.url.hash(state);
        self.labels.hash(state);
    }
}

impl Target {
    /// A target of `job` at `address` with no file_sd context: a static target.
    /// `None` when the job's relabeling drops it.
    pub fn from_address(job: Arc<ScrapeJob>, address: &str) -> Option<Target> {
        match build(&job, address, &[], None) {
            Built::Active(target) => Some(target),
            Built::Dropped(_) | Built::Invalid(..) => None,
        }
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The labels of every series of this target: `job`, `instance` and what the job's
    /// labels, file_sd and relabeling left, sorted by name.
    pub fn labels(&self) -> Vec<(String, String)> {
        self.labels.clone()
    }

    /// The labels before relabeling, `__` names included.
    pub fn discovered_labels(&self) -> &Labels {
        &self.discovered
    }
}

/// A target that relabeling dropped, or left without a usable address or interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedTarget {
    pub job: String,
    /// The labels before relabeling.
    pub discovered: Labels,
}

/// Every target of a config: those to scrape and those relabeling dropped.
#[derive(Clone, Debug, Default)]
pub struct Targets {
    /// Unique, in job order, static targets before discovered ones.
    pub active: Vec<Target>,
    pub dropped: Vec<DroppedTarget>,
}

/// Every target of every job in `config`: static ones, then those of the files the
/// job's `file_sd` matched at `discovery`'s last refresh.
pub fn targets(config: &Config, discovery: &FileDiscovery) -> Targets {
    let mut result = Targets::default();
    let mut seen: HashSet<Target> = HashSet::new();
    let mut considered = 0usize;
    for job in &config.scrape {
        let job = Arc::new(job.clone());
        let statics = job.targets.iter().map(|address| (address, &[][..], None));
        let discovered = discovery
            .groups(&job.file_sd)
            .into_iter()
            .flat_map(|(path, group)| {
                group
                    .targets
                    .iter()
                    .map(move |address| (address, group.labels.as_slice(), Some(path)))
            });
        for (address, group_labels, file) in statics.chain(discovered) {
            if considered == limits::SCRAPE_TARGETS_MAX {
                tracing::warn!(
                    job = %job.job,
                    limit = limits::SCRAPE_TARGETS_MAX,
                    "more scrape targets than the limit; the rest are ignored"
                );
                return result;
            }
            considered += 1;
            match build(&job, address, group_labels, file) {
                Built::Active(target) => {
                    // The same target listed twice (two files, or a file and `targets`)
                    // is scraped once, as in Prometheus.
                    if seen.insert(target.clone()) {
                        result.active.push(target);
                    }
                }
                Built::Dropped(dropped) => keep_dropped(&mut result.dropped, dropped),
                Built::Invalid(dropped, reason) => {
                    tracing::warn!(job = %job.job, labels = %dropped.discovered, %reason, "scrape target refused after relabeling");
                    keep_dropped(&mut result.dropped, dropped);
                }
            }
        }
    }
    debug_assert!(result.active.len() + result.dropped.len() <= limits::SCRAPE_TARGETS_MAX);
    result
}

fn keep_dropped(dropped: &mut Vec<DroppedTarget>, target: DroppedTarget) {
    if dropped.len() < limits::SCRAPE_DROPPED_TARGETS_MAX {
        dropped.push(target);
    }
}

enum Built {
    Active(Target),
    Dropped(DroppedTarget),
    /// Relabeling left a value that cannot be scraped; Prometheus reports these as
    /// failed, we list them as dropped and log why.
    Invalid(DroppedTarget, String),
}

/// Prometheus' `PopulateLabels`: discovered labels, relabeling, then the checks.
fn build(
    job: &Arc<ScrapeJob>,
    address: &str,
    group_labels: &[(String, String)],
    file: Option<&Path>,
) -> Built {
    let discovered = match discovered_labels(job, address, group_labels, file) {
        Ok(labels) => labels,
        Err(reason) => {
            let dropped = DroppedTarget {
                job: job.job.clone(),
                discovered: Labels::default(),
            };
            return Built::Invalid(dropped, reason);
        }
    };
    let dropped = || DroppedTarget {
        job: job.job.clone(),
        discovered: discovered.clone(),
    };
    let Some(relabeled) = relabel(&job.relabel, &discovered) else {
        return Built::Dropped(dropped());
    };
    // An empty value is no label at all, so this is also Prometheus' "no address".
    let Some(address) = relabeled.get(ADDRESS_LABEL) else {
        return Built::Dropped(dropped());
    };
    let scraped = match scraped_job(job, &relabeled) {
        Ok(scraped) => scraped,
        Err(reason) => return Built::Invalid(dropped(), reason),
    };
    if let Err(reason) = check_address(address) {
        return Built::Invalid(dropped(), reason);
    }
    let url = url_of(&relabeled, scraped.scheme, address);
    let mut labels: Vec<(String, String)> = relabeled
        .iter()
        .filter(|label| !label.name.starts_with("__"))
        .map(|label| (label.name.clone(), label.value.clone()))
        .collect();
    if relabeled.get("instance").is_none() {
        labels.push(("instance".into(), address.to_string()));
        labels.sort();
    }
    debug_assert!(labels.windows(2).all(|pair| pair[0].0 < pair[1].0));
    Built::Active(Target {
        job: scraped,
        address: address.to_string(),
        url,
        labels,
        discovered,
    })
}

/// The labels relabeling starts from. File labels win over the job's `labels`; the
/// job's settings fill in only what neither set, as in Prometheus.
fn discovered_labels(
    job: &ScrapeJob,
    address: &str,
    group_labels: &[(String, String)],
    file: Option<&Path>,
) -> Result<Labels, String> {
    let mut pairs: BTreeMap<String, String> = job.labels.iter().cloned().collect();
    pairs.extend(group_labels.iter().cloned());
    pairs.insert(ADDRESS_LABEL.into(), address.to_string());
    if let Some(file) = file {
        pairs.insert(FILEPATH_LABEL.into(), file.display().to_string());
    }
    let defaults = [
        ("job", job.job.clone()),
        (SCHEME_LABEL, job.scheme.as_str().to_string()),
        (METRICS_PATH_LABEL, job.path.clone()),
        (SCRAPE_INTERVAL_LABEL, format_duration(job.interval)),
        (SCRAPE_TIMEOUT_LABEL, format_duration(job.timeout)),
    ];
    for (name, value) in defaults {
        let entry = pairs.entry(name.to_string()).or_default();
        if entry.is_empty() {
            *entry = value;
        }
    }
    // Only a group label `__name__` with a value that is no metric name fails here.
    Labels::new(pairs).map_err(|error| format!("discovered labels: {error}"))
}

/// The job as this target scrapes it: relabeling may change the scheme, interval and
/// timeout. The job is shared when it did not (the usual case).
fn scraped_job(job: &Arc<ScrapeJob>, relabeled: &Labels) -> Result<Arc<ScrapeJob>, String> {
    let scheme = match relabeled.get(SCHEME_LABEL) {
        Some("http") => ScrapeScheme::Http,
        Some("https") => ScrapeScheme::Https,
        other => {
            return Err(format!(
                "{SCHEME_LABEL} is {:?}, not \"http\" or \"https\"",
                other.unwrap_or("")
            ));
        }
    };
    let duration = |name: &str| -> Result<std::time::Duration, String> {
        let text = relabeled.get(name).unwrap_or("");
        parse_duration(text).map_err(|error| format!("{name}: {error}"))
    };
    let interval = duration(SCRAPE_INTERVAL_LABEL)?;
    let timeout = duration(SCRAPE_TIMEOUT_LABEL)?;
    if interval < limits::SCRAPE_INTERVAL_MIN {
        return Err(format!(
            "{SCRAPE_INTERVAL_LABEL} is {}, less than the minimum of {}",
            format_duration(interval),
            format_duration(limits::SCRAPE_INTERVAL_MIN)
        ));
    }
    if timeout.is_zero() || timeout > interval {
        return Err(format!(
            "{SCRAPE_TIMEOUT_LABEL} is {}: it must be more than 0s and at most {SCRAPE_INTERVAL_LABEL} ({})",
            format_duration(timeout),
            format_duration(interval)
        ));
    }
    if scheme == job.scheme && interval == job.interval && timeout == job.timeout {
        return Ok(Arc::clone(job));
    }
    let mut changed = ScrapeJob::clone(job);
    changed.scheme = scheme;
    changed.interval = interval;
    changed.timeout = timeout;
    Ok(Arc::new(changed))
}

/// Prometheus' `CheckTargetAddress`, plus what cannot be part of a URL's authority.
fn check_address(address: &str) -> Result<(), String> {
    if address.contains(['/', '?', '#', '@', ' ', '\t', '\n']) {
        return Err(format!(
            "{ADDRESS_LABEL} {address:?} is not a valid host:port"
        ));
    }
    Ok(())
}

/// `__scheme__://__address____metrics_path__?__param_<name>=...`, parameters in name
/// order and URL-encoded.
fn url_of(relabeled: &Labels, scheme: ScrapeScheme, address: &str) -> String {
    let path = relabeled.get(METRICS_PATH_LABEL).unwrap_or("");
    let slash = if path.starts_with('/') { "" } else { "/" };
    let mut url = format!("{}://{address}{slash}{path}", scheme.as_str());
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for label in relabeled.iter() {
        if let Some(name) = label.name.strip_prefix(PARAM_LABEL_PREFIX) {
            query.append_pair(name, &label.value);
            any = true;
        }
    }
    if any {
        url.push(if path.contains('?') { '&' } else { '?' });
        url.push_str(&query.finish());
    }
    url
}

#[cfg(test)]
mod tests;
