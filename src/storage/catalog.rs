//! The series catalog: label sets ↔ `SeriesRef`, and the inverted index (postings).
//! Owns: the `series` table in SQLite (persisted) and, in memory, interned label
//! strings, a hash index from label set to ref, and roaring bitmaps per label pair
//! (rebuilt from the table at start).
//! Does not: hold samples, or decide limits (the caller checks them before `create`).
//!
//! Refs are dense u32 values starting at 1 so that postings fit `RoaringBitmap`
//! (4 billion series is far beyond `limits.series_max`). `SeriesRef` stays u64 at the
//! API so the representation can widen without changing callers.

use crate::model::{Label, Labels, MatchOp, Matcher, SeriesRef};
use roaring::RoaringBitmap;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

/// A label set in the catalog: (name symbol, value symbol) pairs, sorted by name.
type SymbolPairs = Box<[(u32, u32)]>;

#[derive(Default)]
struct Symbols {
    strings: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u32>,
}

impl Symbols {
    fn intern(&mut self, text: &str) -> u32 {
        if let Some(id) = self.ids.get(text) {
            return *id;
        }
        let id = u32::try_from(self.strings.len()).unwrap_or(u32::MAX);
        let shared: Arc<str> = Arc::from(text);
        self.strings.push(Arc::clone(&shared));
        self.ids.insert(shared, id);
        id
    }

    fn get(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    fn text(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", |text| text)
    }
}

#[derive(Default)]
struct Inner {
    symbols: Symbols,
    /// Index = ref; slot 0 is unused.
    series: Vec<Option<SymbolPairs>>,
    /// Hash of the label set → the first ref with that hash: 16 bytes per series,
    /// where a `Vec` of refs per hash cost ~90.
    by_hash: HashMap<u64, u32>,
    /// Further refs whose label sets share a hash with another (64-bit collisions:
    /// practically never, but a collision must not merge two series).
    colliding: HashMap<u64, Vec<u32>>,
    /// name symbol → value symbol → refs.
    postings: HashMap<u32, HashMap<u32, RoaringBitmap>>,
    all: RoaringBitmap,
    /// Refs created since the last `take_unpersisted`.
    unpersisted: Vec<u32>,
}

/// The biggest metrics and label pairs by series count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cardinality {
    pub series_by_metric: Vec<(String, u64)>,
    pub series_by_label_pair: Vec<(String, u64)>,
    /// Distinct label pairs in the catalog.
    pub label_pairs: u64,
}

/// Thread-safe: lookups share a read lock; only creating a series takes the write lock.
#[derive(Default)]
pub struct Catalog {
    inner: RwLock<Inner>,
}

/// Hashes a label set the same way whether it comes as `Labels` or as symbols.
fn hash_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    for (name, value) in pairs {
        name.hash(&mut hasher);
        value.hash(&mut hasher);
    }
    hasher.finish()
}

fn labels_hash(labels: &Labels) -> u64 {
    hash_pairs(
        labels
            .iter()
            .map(|label| (label.name.as_str(), label.value.as_str())),
    )
}

impl Inner {
    fn same(&self, pairs: &[(u32, u32)], labels: &Labels) -> bool {
        pairs.len() == labels.len()
            && pairs
                .iter()
                .zip(labels.iter())
                .all(|((name, value), label)| {
                    self.symbols.text(*name) == label.name
                        && self.symbols.text(*value) == label.value
                })
    }

    fn find(&self, hash: u64, labels: &Labels) -> Option<u32> {
        let first = self.by_hash.get(&hash)?;
        let others = self.colliding.get(&hash).map_or(&[][..], Vec::as_slice);
        std::iter::once(first).chain(others).copied().find(|id| {
            self.series
                .get(*id as usize)
                .and_then(Option::as_ref)
                .is_some_and(|pairs| self.same(pairs, labels))
        })
    }

    fn insert(&mut self, id: u32, hash: u64, labels: &Labels) {
        let pairs: SymbolPairs = labels
            .iter()
            .map(|label| {
                (
                    self.symbols.intern(&label.name),
                    self.symbols.intern(&label.value),
                )
            })
            .collect();
        for (name, value) in pairs.iter() {
            self.postings
                .entry(*name)
                .or_default()
                .entry(*value)
                .or_default()
                .insert(id);
        }
        if self.series.len() <= id as usize {
            self.series.resize(id as usize + 1, None);
        }
        self.series[id as usize] = Some(pairs);
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.colliding.entry(hash).or_default().push(id);
            }
        }
        self.all.insert(id);
    }

    fn labels_of(&self, id: u32) -> Option<Labels> {
        let pairs = self.series.get(id as usize)?.as_ref()?;
        let labels = pairs
            .iter()
            .map(|(name, value)| Label {
                name: self.symbols.text(*name).to_string(),
                value: self.symbols.text(*value).to_string(),
            })
            .collect();
        Some(Labels::from_sorted_unchecked(labels))
    }

    fn matching(&self, matcher: &Matcher) -> RoaringBitmap {
        let values = self
            .symbols
            .get(&matcher.name)
            .and_then(|name| self.postings.get(&name));
        // Fast path: an equality on a present value is one bitmap.
        if matcher.op == MatchOp::Equal && !matcher.value.is_empty() {
            return self
                .symbols
                .get(&matcher.value)
                .and_then(|value| values.and_then(|values| values.get(&value)))
                .cloned()
                .unwrap_or_default();
        }
        let Some(values) = values else {
            // No series has the label: all match if the matcher accepts "absent".
            return if matcher.matches_empty() {
                self.all.clone()
            } else {
                RoaringBitmap::new()
            };
        };
        if matcher.matches_empty() {
            // Series without the label match too: start from all and remove the
            // series whose value does not match.
            let mut result = self.all.clone();
            for (value, refs) in values {
                if !matcher.matches(self.symbols.text(*value)) {
                    result -= refs;
                }
            }
            result
        } else {
            let mut result = RoaringBitmap::new();
            for (value, refs) in values {
                if matcher.matches(self.symbols.text(*value)) {
                    result |= refs;
                }
            }
            result
        }
    }
}

impl Catalog {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that matters more than stopping all reads would; keep serving.
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The ref of an existing series.
    pub fn lookup(&self, labels: &Labels) -> Option<SeriesRef> {
        let hash = labels_hash(labels);
        self.read()
            .find(hash, labels)
            .map(|id| SeriesRef(u64::from(id)))
    }

    /// Adds a series with a ref chosen by the caller (new or replayed); returns the ref
    /// of an equal series if one exists already.
    pub fn insert(&self, id: SeriesRef, labels: &Labels, persisted: bool) -> SeriesRef {
        let hash = labels_hash(labels);
        let mut inner = self.write();
        if let Some(existing) = inner.find(hash, labels) {
            return SeriesRef(u64::from(existing));
        }
        let Ok(id32) = u32::try_from(id.0) else {
            panic!(
                "BUG: series ref {} does not fit the catalog's u32 refs",
                id.0
            );
        };
        inner.insert(id32, hash, labels);
        if !persisted {
            inner.unpersisted.push(id32);
        }
        id
    }

    /// Creates `labels` if absent, with `next_id()` as its ref, under one write lock so
    /// two threads creating the same series agree on its ref. Returns (ref, created).
    pub fn get_or_create(
        &self,
        labels: &Labels,
        next_id: impl FnOnce() -> u64,
    ) -> (SeriesRef, bool) {
        let hash = labels_hash(labels);
        if let Some(id) = self.read().find(hash, labels) {
            return (SeriesRef(u64::from(id)), false);
        }
        let mut inner = self.write();
        if let Some(id) = inner.find(hash, labels) {
            return (SeriesRef(u64::from(id)), false);
        }
        let id = next_id();
        let Ok(id32) = u32::try_from(id) else {
            panic!("BUG: series ref {id} does not fit the catalog's u32 refs");
        };
        inner.insert(id32, hash, labels);
        inner.unpersisted.push(id32);
        (SeriesRef(id), true)
    }

    pub fn labels(&self, series: SeriesRef) -> Option<Labels> {
        let id = u32::try_from(series.0).ok()?;
        self.read().labels_of(id)
    }

    /// Every series matching all `matchers`.
    pub fn select(&self, matchers: &[Matcher]) -> RoaringBitmap {
        let inner = self.read();
        let mut result: Option<RoaringBitmap> = None;
        for matcher in matchers {
            let matching = inner.matching(matcher);
            result = Some(match result {
                None => matching,
                Some(so_far) => so_far & matching,
            });
            if result.as_ref().is_some_and(RoaringBitmap::is_empty) {
                break;
            }
        }
        result.unwrap_or_else(|| inner.all.clone())
    }

    /// Sorted label names used by `refs` (all series when `None`).
    pub fn label_names(&self, refs: Option<&RoaringBitmap>) -> Vec<String> {
        let inner = self.read();
        let mut names: Vec<String> = inner
            .postings
            .iter()
            .filter(|(_, values)| {
                refs.is_none_or(|refs| values.values().any(|bitmap| !bitmap.is_disjoint(refs)))
            })
            .map(|(name, _)| inner.symbols.text(*name).to_string())
            .collect();
        names.sort_unstable();
        names
    }

    /// Sorted values of label `name` among `refs` (all series when `None`).
    pub fn label_values(&self, name: &str, refs: Option<&RoaringBitmap>) -> Vec<String> {
        let inner = self.read();
        let Some(values) = inner
            .symbols
            .get(name)
            .and_then(|name| inner.postings.get(&name))
        else {
            return Vec::new();
        };
        let mut result: Vec<String> = values
            .iter()
            .filter(|(_, bitmap)| refs.is_none_or(|refs| !bitmap.is_disjoint(refs)))
            .map(|(value, _)| inner.symbols.text(*value).to_string())
            .collect();
        result.sort_unstable();
        result
    }

    /// How many series have `name` as their metric name.
    pub fn series_with_metric_name(&self, name: &str) -> u64 {
        let inner = self.read();
        inner
            .symbols
            .get(crate::model::METRIC_NAME)
            .zip(inner.symbols.get(name))
            .and_then(|(label, value)| inner.postings.get(&label)?.get(&value))
            .map_or(0, RoaringBitmap::len)
    }

    pub fn series_count(&self) -> u64 {
        self.read().all.len()
    }

    /// The largest ref in use (0 when empty).
    pub fn max_ref(&self) -> u64 {
        self.read().all.max().map_or(0, u64::from)
    }

    /// Series created since the last call, to be written to SQLite.
    pub fn take_unpersisted(&self) -> Vec<(SeriesRef, Labels)> {
        let mut inner = self.write();
        let ids = std::mem::take(&mut inner.unpersisted);
        ids.into_iter()
            .filter_map(|id| {
                inner
                    .labels_of(id)
                    .map(|labels| (SeriesRef(u64::from(id)), labels))
            })
            .collect()
    }

    /// Puts back series whose write to SQLite failed, so the next flush retries them.
    pub fn return_unpersisted(&self, series: &[(SeriesRef, Labels)]) {
        let mut inner = self.write();
        inner.unpersisted.extend(
            series
                .iter()
                .filter_map(|(series, _)| u32::try_from(series.0).ok()),
        );
    }

    /// The `limit` label pairs with the most series, and the `limit` metric names with
    /// the most series, for `/api/v1/status/tsdb`.
    pub fn top_counts(&self, limit: usize) -> Cardinality {
        let inner = self.read();
        let mut pairs = Vec::new();
        let mut metrics = Vec::new();
        let mut pair_count = 0u64;
        let metric_symbol = inner.symbols.get(crate::model::METRIC_NAME);
        for (name, values) in &inner.postings {
            for (value, refs) in values {
                pair_count += 1;
                let (name_text, value_text) =
                    (inner.symbols.text(*name), inner.symbols.text(*value));
                if Some(*name) == metric_symbol {
                    metrics.push((value_text.to_string(), refs.len()));
                }
                pairs.push((format!("{name_text}={value_text}"), refs.len()));
            }
        }
        for list in [&mut pairs, &mut metrics] {
            list.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            list.truncate(limit);
        }
        Cardinality {
            series_by_metric: metrics,
            series_by_label_pair: pairs,
            label_pairs: pair_count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new_series(pairs.iter().copied()).expect("valid labels")
    }

    fn catalog_with(series: &[&[(&str, &str)]]) -> Catalog {
        let catalog = Catalog::default();
        let mut next = 0;
        for pairs in series {
            catalog.get_or_create(&labels(pairs), || {
                next += 1;
                next
            });
        }
        catalog
    }

    #[test]
    fn label_sets_with_the_same_hash_stay_apart() {
        let mut inner = Inner::default();
        let (a, b, c) = (
            labels(&[("__name__", "up"), ("job", "a")]),
            labels(&[("__name__", "up"), ("job", "b")]),
            labels(&[("__name__", "up"), ("job", "c")]),
        );
        // As if all three hashed alike.
        inner.insert(1, 7, &a);
        inner.insert(2, 7, &b);
        assert_eq!(inner.find(7, &a), Some(1));
        assert_eq!(inner.find(7, &b), Some(2));
        assert_eq!(inner.find(7, &c), None);
        assert_eq!(inner.find(8, &a), None);
    }

    fn check(catalog: &Catalog, matchers: &[Matcher], expect: &[u32]) {
        let got: Vec<u32> = catalog.select(matchers).iter().collect();
        assert_eq!(got, expect, "{matchers:?}");
    }

    #[test]
    fn select_follows_prometheus_matcher_semantics() {
        let catalog = catalog_with(&[
            &[("__name__", "up"), ("job", "api"), ("env", "prod")],
            &[("__name__", "up"), ("job", "web")],
            &[
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", "500"),
            ],
        ]);
        let regex = |name: &str, op, value: &str| Matcher::new(name, op, value).expect("matcher");
        check(&catalog, &[Matcher::equal("__name__", "up")], &[1, 2]);
        check(
            &catalog,
            &[
                Matcher::equal("__name__", "up"),
                Matcher::equal("job", "api"),
            ],
            &[1],
        );
        check(&catalog, &[regex("job", MatchOp::Regex, "a.*")], &[1, 3]);
        check(
            &catalog,
            &[regex("env", MatchOp::NotEqual, "prod")],
            &[2, 3],
        );
        check(&catalog, &[Matcher::equal("env", "")], &[2, 3]);
        check(&catalog, &[regex("env", MatchOp::Regex, ".+")], &[1]);
        check(
            &catalog,
            &[regex("missing", MatchOp::NotRegex, "x")],
            &[1, 2, 3],
        );
        check(&catalog, &[Matcher::equal("job", "nope")], &[]);
    }

    #[test]
    fn series_are_created_once_and_enumerated() {
        let catalog = catalog_with(&[
            &[("__name__", "up"), ("job", "a")],
            &[("__name__", "up"), ("job", "a")],
        ]);
        assert_eq!(catalog.series_count(), 1);
        assert_eq!(
            catalog.lookup(&labels(&[("__name__", "up"), ("job", "a")])),
            Some(SeriesRef(1))
        );
        assert_eq!(
            catalog.labels(SeriesRef(1)),
            Some(labels(&[("__name__", "up"), ("job", "a")]))
        );
        assert_eq!(catalog.label_names(None), ["__name__", "job"]);
        assert_eq!(catalog.label_values("job", None), ["a"]);
        assert_eq!(catalog.series_with_metric_name("up"), 1);
        assert_eq!(catalog.take_unpersisted().len(), 1);
        assert!(catalog.take_unpersisted().is_empty());
    }
}
