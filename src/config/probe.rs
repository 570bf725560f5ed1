//! `[[probe]]`: blackbox probes as written and as validated.
//! Owns: their keys, defaults and checks. Does not: probe (`collect::probe` does).

use super::validate::Checker;
use serde::Deserialize;

/// One `[[probe]]` as written.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProbeSection {
    /// Unique among probes; the `probe` label... (to be designed with the module).
    pub name: toml::Spanned<String>,
}

/// One `[[probe]]` checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeConfig {
    pub name: String,
}

impl Checker<'_> {
    pub(super) fn probes(&mut self, sections: &[ProbeSection]) -> Vec<ProbeConfig> {
        sections
            .iter()
            .map(|section| ProbeConfig {
                name: section.name.get_ref().clone(),
            })
            .collect()
    }
}
