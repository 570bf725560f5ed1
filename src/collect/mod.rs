//! Everything that produces samples: parsers of the exposition formats, importers,
//! and (with the collectors issue) host metrics, scrapes and probes.
//! Owns: turning outside input into `Labels` and `Sample`s for `storage::Storage::append`.
//! Does not: store anything itself, or block on storage.

pub mod discovery;
pub mod expfmt;
pub mod host;
pub mod import;
pub mod relabel;
pub mod scrape;
