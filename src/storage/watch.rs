//! Append notifications: which of a set of selectors ("interests") received samples.
//! Owns: the series each interest covers (kept current as series are created) and
//! the set of interests touched since the consumer last looked.
//! Does not: know what an interest is for. The rule manager registers one interest per
//! selector of its rules and evaluates the groups whose interests were touched.
//!
//! Cost on the append path when nothing watches: one relaxed atomic load per batch.
//! When watching: a shared lock per batch and one bitmap probe per series in the batch.

use super::{Storage, catalog::Catalog};
use crate::model::{Labels, Matcher, SeriesRef};
use roaring::RoaringBitmap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

/// One selector's matchers; series match when every matcher does.
pub type Interest = Vec<Matcher>;

#[derive(Default)]
pub(super) struct AppendWatch {
    enabled: AtomicBool,
    state: RwLock<WatchState>,
    touched: Mutex<RoaringBitmap>,
    notify: tokio::sync::Notify,
}

#[derive(Default)]
struct WatchState {
    interests: Vec<Interest>,
    /// Series of each interest, by position.
    series: Vec<RoaringBitmap>,
    /// Union of `series`: the quick "is this series watched at all" probe.
    all: RoaringBitmap,
}

fn series_index(series: SeriesRef) -> Option<u32> {
    u32::try_from(series.0).ok()
}

impl AppendWatch {
    fn set(&self, catalog: &Catalog, interests: Vec<Interest>) {
        let series: Vec<RoaringBitmap> = interests
            .iter()
            .map(|matchers| catalog.select(matchers))
            .collect();
        let all = series
            .iter()
            .fold(RoaringBitmap::new(), |all, one| all | one);
        let enabled = !interests.is_empty();
        *self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = WatchState {
            interests,
            series,
            all,
        };
        self.touched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        self.enabled.store(enabled, Ordering::Release);
    }

    /// A series was created: add it to the interests it matches.
    pub(super) fn series_created(&self, series: SeriesRef, labels: &Labels) {
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        let Some(index) = series_index(series) else {
            return;
        };
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = &mut *state;
        let mut matched = false;
        for (position, matchers) in state.interests.iter().enumerate() {
            let matches = matchers
                .iter()
                .all(|matcher| matcher.matches(labels.get(&matcher.name).unwrap_or("")));
            if matches {
                state.series[position].insert(index);
                matched = true;
            }
        }
        if matched {
            state.all.insert(index);
        }
    }

    /// Samples were stored for these series.
    pub(super) fn appended<'a>(&self, series: impl Iterator<Item = SeriesRef> + 'a) {
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        let state = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut touched: Option<RoaringBitmap> = None;
        for series in series {
            let Some(index) = series_index(series) else {
                continue;
            };
            if !state.all.contains(index) {
                continue;
            }
            let touched = touched.get_or_insert_with(RoaringBitmap::new);
            for (position, members) in state.series.iter().enumerate() {
                if members.contains(index) {
                    touched.insert(position as u32);
                }
            }
        }
        drop(state);
        if let Some(touched) = touched {
            *self
                .touched
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) |= touched;
            self.notify.notify_one();
        }
    }
}

impl Storage {
    /// Replaces the watched interests. Positions in `interests` are the ids that
    /// `touched` reports.
    pub fn watch(&self, interests: Vec<Interest>) {
        self.watch.set(&self.catalog, interests);
    }

    /// Waits until a watched interest receives samples, then returns the ids of every
    /// interest touched since the last call.
    pub async fn touched(&self) -> RoaringBitmap {
        loop {
            let taken = std::mem::take(
                &mut *self
                    .watch
                    .touched
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            if !taken.is_empty() {
                return taken;
            }
            self.watch.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Labels, Matcher, Sample};
    use crate::storage::{Durability, SeriesSamples, Storage, StorageOptions};

    fn series(name: &str, instance: &str) -> SeriesSamples {
        SeriesSamples {
            labels: Labels::new([("__name__", name), ("instance", instance)]).expect("valid"),
            samples: vec![Sample { t: 1_000, v: 1.0 }],
        }
    }

    #[tokio::test]
    async fn reports_interests_whose_series_received_samples() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = Storage::open(StorageOptions::new(dir.path())).expect("opens");
        storage
            .append(&[series("up", "a")], Durability::Background)
            .expect("appends");
        storage.watch(vec![
            vec![Matcher::equal("__name__", "up")],
            vec![
                Matcher::equal("__name__", "load"),
                Matcher::equal("instance", "b"),
            ],
        ]);
        // An existing series of interest 0.
        storage
            .append(
                &[series("up", "a")].map(|mut one| {
                    one.samples[0].t = 2_000;
                    one
                }),
                Durability::Background,
            )
            .expect("appends");
        assert_eq!(storage.touched().await.iter().collect::<Vec<_>>(), vec![0]);
        // A series created after the watch was set, of interest 1; another one of none.
        storage
            .append(
                &[series("load", "a"), series("load", "b")],
                Durability::Background,
            )
            .expect("appends");
        assert_eq!(storage.touched().await.iter().collect::<Vec<_>>(), vec![1]);
        // Appends by rules are not reported.
        storage
            .append_from_rules(&[series("up", "c")])
            .expect("appends");
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), storage.touched()).await;
        assert!(waited.is_err(), "a rule's own write must not trigger");
    }
}
