//! Everything that produces samples: parsers of the exposition formats, importers,
//! and (with the collectors issue) host metrics, scrapes and probes.
//! Owns: turning outside input into `Labels` and `Sample`s for `storage::Storage::append`.
//! Does not: store anything itself, or block on storage.

pub mod discovery;
pub mod expfmt;
pub mod host;
pub mod import;
pub mod probe;
pub mod relabel;
pub mod remote_write;
pub mod scrape;
pub mod statsd;

/// Stores one sample per series, with background durability (flushed within a second):
/// what every interval collector writes after each round.
pub(crate) fn append_samples(
    storage: &crate::storage::Storage,
    batch: &[(crate::model::SeriesRef, [crate::model::Sample; 1])],
) -> Result<(), crate::storage::StorageError> {
    if batch.is_empty() {
        return Ok(());
    }
    let refs: Vec<(crate::model::SeriesRef, &[crate::model::Sample])> = batch
        .iter()
        .map(|(series, sample)| (*series, sample.as_slice()))
        .collect();
    storage
        .append_refs(&refs, crate::storage::Durability::Background)
        .map(|_| ())
}

/// Test support for the collectors: every stored series whose name matches the regex
/// `name`, as (labels, [(t, value)]), sorted; staleness markers read "stale" so that
/// they compare.
#[cfg(test)]
pub(crate) fn stored_series(
    storage: &crate::storage::Storage,
    name: &str,
) -> Vec<(String, Vec<(i64, String)>)> {
    use crate::model::{METRIC_NAME, MatchOp, Matcher, is_stale_nan};
    let matchers = [Matcher::new(METRIC_NAME, MatchOp::Regex, name).expect("regex")];
    let mut result: Vec<(String, Vec<(i64, String)>)> = storage
        .select(
            &matchers,
            i64::MIN,
            i64::MAX,
            &crate::storage::SelectHints::default(),
        )
        .expect("select")
        .into_iter()
        .map(|data| {
            let labels = data.labels.to_string();
            let samples = data
                .samples()
                .map(|sample| match is_stale_nan(sample.v) {
                    true => (sample.t, "stale".to_string()),
                    false => (sample.t, sample.v.to_string()),
                })
                .collect();
            (labels, samples)
        })
        .collect();
    result.sort();
    result
}
