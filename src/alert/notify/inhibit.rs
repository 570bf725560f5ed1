//! Inhibition: an alert matching an inhibit rule's `target_matchers` is muted while
//! another alert matching its `source_matchers` fires with the same values for the
//! rule's `equal` labels (Alertmanager's semantics; an alert never inhibits itself).
//! Owns: indexing the firing sources once per flush and answering per target.
//! Does not: decide when flushes happen (`dispatch.rs`).

use super::matcher::matches_all;
use crate::config::alerting::InhibitRuleConfig;
use crate::model::Labels;
use std::collections::HashMap;

/// The firing sources of each rule, keyed by their `equal` label values (a missing
/// label counts as empty, as in Alertmanager).
pub struct InhibitIndex<'a> {
    rules: &'a [InhibitRuleConfig],
    sources: Vec<HashMap<Vec<String>, Sources>>,
}

/// What is known of the sources with one set of `equal` values.
#[derive(Clone, Copy, Debug, Default)]
struct Sources {
    /// Some source fires.
    any: bool,
    /// Some source fires that does not also match the target matchers.
    one_sided: bool,
}

impl<'a> InhibitIndex<'a> {
    /// Indexes the labels of every firing alert.
    pub fn new<'b>(
        rules: &'a [InhibitRuleConfig],
        firing: impl Iterator<Item = &'b Labels>,
    ) -> InhibitIndex<'a> {
        let mut sources: Vec<HashMap<Vec<String>, Sources>> = vec![HashMap::new(); rules.len()];
        if rules.is_empty() {
            return InhibitIndex { rules, sources };
        }
        for labels in firing {
            for (rule, found) in rules.iter().zip(sources.iter_mut()) {
                if !matches_all(&rule.source_matchers, labels) {
                    continue;
                }
                let entry = found.entry(equal_values(rule, labels)).or_default();
                entry.any = true;
                entry.one_sided |= !matches_all(&rule.target_matchers, labels);
            }
        }
        InhibitIndex { rules, sources }
    }

    /// Whether an alert with `labels` is inhibited. As in Alertmanager, when the
    /// target matches a rule's source matchers too, only sources that do not match
    /// its target matchers count: two alerts matching both sides never mute each
    /// other, and no alert mutes itself.
    pub fn inhibits(&self, labels: &Labels) -> bool {
        self.rules.iter().zip(&self.sources).any(|(rule, sources)| {
            if sources.is_empty() || !matches_all(&rule.target_matchers, labels) {
                return false;
            }
            let two_sided = matches_all(&rule.source_matchers, labels);
            sources
                .get(&equal_values(rule, labels))
                .is_some_and(|found| {
                    if two_sided {
                        found.one_sided
                    } else {
                        found.any
                    }
                })
        })
    }
}

fn equal_values(rule: &InhibitRuleConfig, labels: &Labels) -> Vec<String> {
    rule.equal
        .iter()
        .map(|name| labels.get(name).unwrap_or("").to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notify::matcher::parse_matchers;

    fn rule(source: &str, target: &str, equal: &[&str]) -> InhibitRuleConfig {
        InhibitRuleConfig {
            source_matchers: parse_matchers(source).expect("parses"),
            target_matchers: parse_matchers(target).expect("parses"),
            equal: equal.iter().map(ToString::to_string).collect(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().copied()).expect("labels")
    }

    #[test]
    fn target_muted_while_a_matching_source_fires_with_equal_labels() {
        let rules = [rule("severity=page", "severity=warning", &["instance"])];
        let source = labels(&[("severity", "page"), ("instance", "a")]);
        let index = InhibitIndex::new(&rules, [&source].into_iter());
        assert!(index.inhibits(&labels(&[("severity", "warning"), ("instance", "a")])));
        assert!(!index.inhibits(&labels(&[("severity", "warning"), ("instance", "b")])));
        assert!(!index.inhibits(&labels(&[("severity", "warning")])));
        assert!(!index.inhibits(&source));
        let none = InhibitIndex::new(&rules, std::iter::empty());
        assert!(!none.inhibits(&labels(&[("severity", "warning"), ("instance", "a")])));
    }

    #[test]
    fn an_alert_never_inhibits_itself_nor_two_sided_peers() {
        // Source and target matchers both match `alertname=X`.
        let rules = [rule("alertname=X", "alertname=X", &[])];
        let one = labels(&[("alertname", "X"), ("i", "1")]);
        let two = labels(&[("alertname", "X"), ("i", "2")]);
        let both = InhibitIndex::new(&rules, [&one, &two].into_iter());
        assert!(!both.inhibits(&one));
        assert!(!both.inhibits(&two));
        // A source matching only the source side does mute a two-sided target.
        let rules = [rule("team=db", "alertname=X", &[])];
        let source = labels(&[("alertname", "Y"), ("team", "db")]);
        let target = labels(&[("alertname", "X"), ("team", "db")]);
        let index = InhibitIndex::new(&rules, [&source, &target].into_iter());
        assert!(index.inhibits(&target));
        let alone = InhibitIndex::new(&rules, [&target].into_iter());
        assert!(!alone.inhibits(&target));
    }
}
