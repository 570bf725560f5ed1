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
