//! Tiers over time: which span of time each tier can answer for, and retention.
//! Owns: the per-tier state in SQLite (`tier_state`: where a rollup tier became
//! complete, how far retention has cut), and deleting what has expired in bounded
//! steps.
//! Does not: choose the tier of a query (the query engine does, from `coverage`).
//!
//! A tier's *horizon* is the retention cut-off last applied to it: data older than
//! that may already be deleted, so readers stop relying on it before the first row
//! goes (the horizon is committed first). A rollup tier's *complete_from* is where its
//! rollups start covering every compacted sample: a tier added to a store that
//! already held blocks has no rollups of those (written incrementally, never by a
//! rescan), so it answers only from after them.

use super::compact::rollup_block_span;
use super::{Storage, StorageError, Tier};

/// Rows one retention step deletes per tier: one short write transaction, so that
/// compaction (the only other writer) waits at most that long, and appends and
/// queries (which do not take the writer) never.
pub const RETENTION_ROWS_PER_STEP: u32 = 2_000;

/// Free pages (64 KiB each) given back to the file system per step.
const RELEASE_PAGES_PER_STEP: u32 = 512;

/// One tier's state: resolution 0 is raw data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TierState {
    pub resolution: i64,
    pub complete_from: i64,
    pub horizon: i64,
}

/// The span a tier can answer for: its data from `from_t` on is complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierCoverage {
    pub tier: Tier,
    pub from_t: i64,
}

impl TierCoverage {
    /// Whether the tier holds everything from `t` on.
    pub fn covers(&self, t: i64) -> bool {
        self.from_t <= t
    }
}

/// What retention did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub raw_blocks_deleted: u64,
    pub rollup_blocks_deleted: u64,
    /// Bytes the database file shrank by.
    pub bytes_freed: u64,
    /// False when a step stopped at its row limit and more has expired.
    pub finished: bool,
}

impl Storage {
    /// Loads (and creates) the tiers' rows; called at open.
    pub(super) fn load_tier_state(&self) -> Result<(), StorageError> {
        let rows = self.cold.tier_state(&self.rollup_resolutions())?;
        let state = rows
            .into_iter()
            .map(|(resolution, complete_from, horizon)| TierState {
                resolution,
                complete_from,
                horizon,
            })
            .collect();
        *self
            .tier_state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = state;
        Ok(())
    }

    pub(super) fn tier_state_of(&self, resolution: i64) -> Option<TierState> {
        self.tier_state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|state| state.resolution == resolution)
            .copied()
    }

    /// Where raw data is complete from: older raw blocks may have been deleted.
    pub(super) fn raw_horizon(&self) -> i64 {
        self.tier_state_of(0)
            .map_or(i64::MIN, |state| state.horizon)
    }

    /// Each configured tier, finest first, with the time from which it holds all
    /// data. A rollup tier also answers for data not yet compacted (computed from
    /// raw samples as it is read), so it is complete from where both its rollups and
    /// the raw data it needs for that are.
    pub fn tier_coverage(&self) -> Vec<TierCoverage> {
        let raw_horizon = self.raw_horizon();
        self.options
            .tiers
            .iter()
            .map(|tier| {
                let state = self.tier_state_of(tier.resolution_ms.unwrap_or(0));
                let from_t = match state {
                    Some(state) => state.horizon.max(state.complete_from),
                    None => i64::MIN,
                };
                TierCoverage {
                    tier: *tier,
                    from_t: if tier.resolution_ms.is_none() {
                        from_t.max(raw_horizon)
                    } else {
                        from_t
                    },
                }
            })
            .collect()
    }

    /// One bounded step of retention at wall-clock time `now` (ms): every tier's
    /// horizon moves to `now - retention`, then at most `RETENTION_ROWS_PER_STEP`
    /// expired blocks per tier are deleted and some freed pages released. Call again
    /// while the report says it has not finished.
    pub fn retention_step(&self, now: i64) -> Result<RetentionReport, StorageError> {
        let mut report = RetentionReport {
            finished: true,
            ..RetentionReport::default()
        };
        for tier in &self.options.tiers {
            let retention = i64::try_from(tier.retention.as_millis()).unwrap_or(i64::MAX);
            let cutoff = now.saturating_sub(retention);
            let resolution = tier.resolution_ms.unwrap_or(0);
            self.move_horizon(resolution, cutoff)?;
            let deleted = match tier.resolution_ms {
                None => {
                    let deleted = self
                        .cold
                        .delete_expired_blocks(cutoff, RETENTION_ROWS_PER_STEP)?;
                    report.raw_blocks_deleted += deleted;
                    deleted
                }
                Some(resolution) => {
                    let deleted = self.cold.delete_expired_rollups(
                        resolution,
                        rollup_block_span(resolution),
                        cutoff,
                        RETENTION_ROWS_PER_STEP,
                    )?;
                    report.rollup_blocks_deleted += deleted;
                    deleted
                }
            };
            if deleted >= u64::from(RETENTION_ROWS_PER_STEP) {
                report.finished = false;
            }
        }
        let unconfigured = self
            .cold
            .delete_unconfigured_rollups(&self.rollup_resolutions(), RETENTION_ROWS_PER_STEP)?;
        report.rollup_blocks_deleted += unconfigured;
        if unconfigured >= u64::from(RETENTION_ROWS_PER_STEP) {
            report.finished = false;
        }
        let freed = self.cold.release_free_pages(RELEASE_PAGES_PER_STEP)?;
        report.bytes_freed += freed;
        let counters = &self.counters;
        counters.retention_blocks_deleted.fetch_add(
            report.raw_blocks_deleted + report.rollup_blocks_deleted,
            std::sync::atomic::Ordering::Relaxed,
        );
        counters
            .retention_bytes_freed
            .fetch_add(freed, std::sync::atomic::Ordering::Relaxed);
        if freed > 0 && self.cold.has_free_pages()? {
            report.finished = false;
        }
        Ok(report)
    }

    /// Runs retention steps until nothing expired is left, yielding between steps.
    pub fn enforce_retention(&self, now: i64) -> Result<RetentionReport, StorageError> {
        let mut total = RetentionReport::default();
        loop {
            let step = self.retention_step(now)?;
            total.raw_blocks_deleted += step.raw_blocks_deleted;
            total.rollup_blocks_deleted += step.rollup_blocks_deleted;
            total.bytes_freed += step.bytes_freed;
            if step.finished {
                total.finished = true;
                return Ok(total);
            }
            std::thread::yield_now();
        }
    }

    /// Commits a tier's new horizon before anything older is deleted, so a reader
    /// never relies on data a step is about to remove.
    fn move_horizon(&self, resolution: i64, cutoff: i64) -> Result<(), StorageError> {
        let Some(state) = self.tier_state_of(resolution) else {
            return Ok(());
        };
        if cutoff <= state.horizon {
            return Ok(());
        }
        self.cold.set_horizon(resolution, cutoff)?;
        let mut states = self
            .tier_state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for state in states.iter_mut() {
            if state.resolution == resolution {
                state.horizon = state.horizon.max(cutoff);
            }
        }
        Ok(())
    }

    /// Whether compaction may rebuild the rollups of the day starting after
    /// `period_start` from its raw blocks: only while retention cannot have deleted
    /// any of them.
    pub(super) fn raw_period_complete(&self, period_start: i64) -> bool {
        period_start >= self.raw_horizon()
    }
}

#[cfg(test)]
mod tests;
