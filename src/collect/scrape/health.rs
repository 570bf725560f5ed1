//! Target health: what `/api/v1/targets` shows of each target (its last scrape, how
//! long it took, its error) and the targets relabeling dropped.
//! Owns: one registry shared by the scrape runner (which sets the targets at each
//! change and records every scrape) and the web app (which reads it).
//! Does not: scrape, or format JSON (`web::api::targets`).
//! Limits: as many entries as targets (`SCRAPE_TARGETS_MAX`,
//! `SCRAPE_DROPPED_TARGETS_MAX`); an error message is kept up to
//! `SCRAPE_ERROR_BYTES_MAX` bytes.

use super::target::{DroppedTarget, Target, Targets};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Error messages quote response bodies and URLs; a page lists every target's.
const SCRAPE_ERROR_BYTES_MAX: usize = 1024;

/// Prometheus' health values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Up,
    Down,
    Unknown,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Down => "down",
            Health::Unknown => "unknown",
        }
    }
}

/// The last scrape of a target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LastScrape {
    /// Milliseconds since the epoch; `None` before the first scrape.
    pub at_ms: Option<i64>,
    pub duration: Duration,
    /// Why it failed; `None` when it succeeded.
    pub error: Option<String>,
}

impl LastScrape {
    pub fn health(&self) -> Health {
        match (self.at_ms, &self.error) {
            (None, _) => Health::Unknown,
            (Some(_), Some(_)) => Health::Down,
            (Some(_), None) => Health::Up,
        }
    }
}

/// One active target and its last scrape.
#[derive(Clone, Debug)]
pub struct TargetStatus {
    pub target: Target,
    pub last: LastScrape,
}

#[derive(Debug, Default)]
struct State {
    active: HashMap<Target, LastScrape>,
    dropped: Vec<DroppedTarget>,
}

/// The registry. `Default` is empty: no targets until the runner sets them.
#[derive(Debug, Default)]
pub struct TargetHealth {
    state: Mutex<State>,
    /// Target files refused (unreadable or malformed), since start.
    file_sd_read_errors: AtomicU64,
}

impl TargetHealth {
    /// A poisoned lock only means a panic elsewhere mid-update of plain data; the
    /// data is still a valid (if partial) picture, better than failing the page.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The targets now running and dropped. A target that stays keeps its last
    /// scrape; a new one is unknown until scraped.
    pub fn set_targets(&self, targets: &Targets) {
        let mut state = self.lock();
        let mut previous = std::mem::take(&mut state.active);
        state.active = targets
            .active
            .iter()
            .map(|target| {
                let last = previous.remove(target).unwrap_or_default();
                (target.clone(), last)
            })
            .collect();
        state.dropped = targets.dropped.clone();
    }

    /// Records a scrape of `target`; ignored when it is no longer a target (its loop
    /// was stopped while scraping).
    pub fn record(&self, target: &Target, mut last: LastScrape) {
        if let Some(error) = &mut last.error
            && error.len() > SCRAPE_ERROR_BYTES_MAX
        {
            let mut end = SCRAPE_ERROR_BYTES_MAX;
            while !error.is_char_boundary(end) {
                end -= 1;
            }
            error.truncate(end);
        }
        if let Some(entry) = self.lock().active.get_mut(target) {
            *entry = last;
        }
    }

    /// Active targets sorted by job, then URL.
    pub fn active(&self) -> Vec<TargetStatus> {
        let mut active: Vec<TargetStatus> = self
            .lock()
            .active
            .iter()
            .map(|(target, last)| TargetStatus {
                target: target.clone(),
                last: last.clone(),
            })
            .collect();
        active.sort_by(|a, b| {
            (&a.target.job.job, a.target.url(), a.target.labels()).cmp(&(
                &b.target.job.job,
                b.target.url(),
                b.target.labels(),
            ))
        });
        active
    }

    /// Dropped targets in discovery order.
    pub fn dropped(&self) -> Vec<DroppedTarget> {
        self.lock().dropped.clone()
    }

    pub fn count_file_sd_read_errors(&self, errors: u64) {
        self.file_sd_read_errors
            .fetch_add(errors, Ordering::Relaxed);
    }

    pub fn file_sd_read_errors(&self) -> u64 {
        self.file_sd_read_errors.load(Ordering::Relaxed)
    }
}
