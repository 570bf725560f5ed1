//! Prometheus relabeling (`relabel_configs`, `metric_relabel_configs`) with
//! Prometheus' semantics, so that rules copied from a Prometheus config behave the same.
//! Owns: validating one rule (`RelabelRule::new` from a `RelabelSpec`) exactly where
//! Prometheus' `relabel.Config.Validate` refuses, and applying a list of rules to a
//! label set (`relabel`).
//! Does not: read TOML (`config/` builds each `RelabelSpec` and fills in Prometheus'
//! `action = "replace"` default), count or log what was dropped (callers do), or know
//! about scrapes and targets.
//! Limits: none of its own; `config/` bounds the number of rules, and the `regex` crate
//! bounds the size of a compiled regex.
//!
//! Label names follow Prometheus' legacy scheme (`[a-zA-Z_][a-zA-Z0-9_]*`) because
//! `Labels` accepts nothing else; Prometheus 3 defaults to UTF-8 names, which would
//! accept more `target_label`s and label-name expansions than we do.

use crate::model::{LabelError, Labels, check_label_name};
use md5::{Digest, Md5};
use regex::Regex;
use std::collections::BTreeMap;
use std::fmt;

/// Prometheus' default `separator`.
pub const SEPARATOR_DEFAULT: &str = ";";
/// Prometheus' default `regex`: matches anything, including the empty string, so a
/// `replace` with missing source labels still fires.
pub const REGEX_DEFAULT: &str = "(.*)";
/// Prometheus' default `replacement`.
pub const REPLACEMENT_DEFAULT: &str = "$1";

/// What a rule does. The names are Prometheus' `action` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    /// Every action, in the order Prometheus' documentation lists them; the error for
    /// an unknown action names them all.
    pub const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Prometheus lower-cases the configured action before comparing it, so
    /// `action: Replace` works there; accepting it here keeps copied configs valid.
    pub fn parse(text: &str) -> Option<Action> {
        let lower = text.to_ascii_lowercase();
        Action::ALL
            .into_iter()
            .find(|action| action.name() == lower)
    }

    /// Actions that write `target_label`, or compare against it, and so need one.
    fn needs_target_label(self) -> bool {
        matches!(
            self,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        )
    }

    /// Actions whose output is fixed by the action, so a `replacement` would be ignored
    /// silently; Prometheus refuses it instead.
    fn forbids_replacement(self) -> bool {
        matches!(
            self,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

fn action_names() -> String {
    let names: Vec<&str> = Action::ALL.iter().map(|action| action.name()).collect();
    names.join(", ")
}

/// One rule as written in a config, before validation. `None` means the key was absent
/// and Prometheus' default applies; `config/` builds this from TOML.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelabelSpec {
    /// Labels whose values are joined with `separator`; a missing label reads as "".
    pub source_labels: Vec<String>,
    /// Between joined source values; default ";".
    pub separator: Option<String>,
    /// Matched against the whole joined value (anchored); default "(.*)".
    pub regex: Option<String>,
    /// Divisor for `hashmod`; required there.
    pub modulus: Option<u64>,
    /// The label written (or, for keepequal/dropequal, compared).
    pub target_label: Option<String>,
    /// Template for `replace` and `labelmap`, with `$1`, `${1}`, `${name}`; default "$1".
    pub replacement: Option<String>,
    /// One of `Action::ALL`'s names, in any case.
    pub action: String,
}

/// A validated rule. Built only by `RelabelRule::new`, so `relabel` can rely on what
/// validation established (a target label where one is needed, a modulus above 0).
#[derive(Clone, Debug)]
pub struct RelabelRule {
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
    modulus: u64,
    target_label: String,
    replacement: String,
    action: Action,
}

/// Rules compare by what they do: the regex by its source text (a compiled `Regex`
/// has no equality), so a reload restarts only targets whose rules changed.
impl PartialEq for RelabelRule {
    fn eq(&self, other: &RelabelRule) -> bool {
        self.source_labels == other.source_labels
            && self.separator == other.separator
            && self.regex.as_str() == other.regex.as_str()
            && self.modulus == other.modulus
            && self.target_label == other.target_label
            && self.replacement == other.replacement
            && self.action == other.action
    }
}

impl Eq for RelabelRule {}

impl std::hash::Hash for RelabelRule {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.source_labels.hash(state);
        self.separator.hash(state);
        self.regex.as_str().hash(state);
        self.modulus.hash(state);
        self.target_label.hash(state);
        self.replacement.hash(state);
        self.action.hash(state);
    }
}

/// Why a `RelabelSpec` was refused. Each message names the field and the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelabelError {
    #[error(
        "unknown relabel action {action:?}: valid actions are {}",
        action_names()
    )]
    UnknownAction { action: String },
    #[error(
        "invalid 'source_labels' entry {name:?}: label names are letters, digits and underscores, not starting with a digit"
    )]
    InvalidSourceLabel { name: String },
    #[error("invalid 'regex' {regex:?}: {message}")]
    InvalidRegex { regex: String, message: String },
    #[error("missing or zero 'modulus' for hashmod action: it must be greater than 0")]
    ZeroModulus,
    #[error("missing 'target_label' for {action} action")]
    MissingTargetLabel { action: Action },
    #[error("invalid 'target_label' {target_label:?} for {action} action: {}", target_rule(.action))]
    InvalidTargetLabel {
        action: Action,
        target_label: String,
    },
    #[error(
        "unexpected 'replacement' {replacement:?} for {action} action: it takes no replacement"
    )]
    ReplacementNotAllowed { action: Action, replacement: String },
    #[error(
        "invalid 'replacement' {replacement:?} for {action} action: it must expand to a label name (letters, digits, underscores and $1, ${{1}} or ${{name}} references, not starting with a digit)"
    )]
    InvalidReplacement { action: Action, replacement: String },
    /// `value` is already formatted (strings quoted), since fields differ in type.
    #[error("unexpected '{field}' {value} for {action} action: it takes only {}", allowed_fields(.action))]
    FieldNotAllowed {
        action: Action,
        field: &'static str,
        value: String,
    },
}

fn target_rule(action: &Action) -> &'static str {
    if *action == Action::Replace {
        "it must expand to a label name (letters, digits, underscores and $1, ${1} or ${name} references, not starting with a digit)"
    } else {
        "label names are letters, digits and underscores, not starting with a digit"
    }
}

fn allowed_fields(action: &Action) -> &'static str {
    match action {
        Action::KeepEqual | Action::DropEqual => "'source_labels' and 'target_label'",
        _ => "'regex'",
    }
}

impl RelabelRule {
    /// Validates in Prometheus' order, so the first error reported is the one
    /// Prometheus would report for the same rule.
    pub fn new(spec: RelabelSpec) -> Result<RelabelRule, RelabelError> {
        let action = Action::parse(&spec.action).ok_or_else(|| RelabelError::UnknownAction {
            action: spec.action.clone(),
        })?;
        // Prometheus parses `source_labels` as label names, refusing invalid ones.
        if let Some(name) = spec
            .source_labels
            .iter()
            .find(|name| check_label_name(name).is_err())
        {
            return Err(RelabelError::InvalidSourceLabel { name: name.clone() });
        }
        let pattern = spec.regex.as_deref().unwrap_or(REGEX_DEFAULT);
        let regex = compile_anchored(pattern)?;
        let rule = RelabelRule {
            source_labels: spec.source_labels,
            separator: spec
                .separator
                .unwrap_or_else(|| SEPARATOR_DEFAULT.to_string()),
            regex,
            modulus: spec.modulus.unwrap_or(0),
            target_label: spec.target_label.unwrap_or_default(),
            replacement: spec
                .replacement
                .unwrap_or_else(|| REPLACEMENT_DEFAULT.to_string()),
            action,
        };
        rule.check_target_and_replacement()?;
        rule.check_unused_fields(pattern)?;
        Ok(rule)
    }

    fn check_target_and_replacement(&self) -> Result<(), RelabelError> {
        let action = self.action;
        let invalid_target = || RelabelError::InvalidTargetLabel {
            action,
            target_label: self.target_label.clone(),
        };
        if action == Action::HashMod && self.modulus == 0 {
            return Err(RelabelError::ZeroModulus);
        }
        if action.needs_target_label() && self.target_label.is_empty() {
            return Err(RelabelError::MissingTargetLabel { action });
        }
        // Only `replace` expands references in `target_label`; a name with one is
        // checked for shape now and for validity after expansion.
        if action == Action::Replace && !is_label_name_template(&self.target_label) {
            return Err(invalid_target());
        }
        if action.forbids_replacement() {
            if check_label_name(&self.target_label).is_err() {
                return Err(invalid_target());
            }
            if self.replacement != REPLACEMENT_DEFAULT {
                return Err(RelabelError::ReplacementNotAllowed {
                    action,
                    replacement: self.replacement.clone(),
                });
            }
        }
        if action == Action::LabelMap && !is_label_name_template(&self.replacement) {
            return Err(RelabelError::InvalidReplacement {
                action,
                replacement: self.replacement.clone(),
            });
        }
        if action == Action::HashMod && check_label_name(&self.target_label).is_err() {
            return Err(invalid_target());
        }
        Ok(())
    }

    /// keepequal/dropequal and labeldrop/labelkeep ignore most fields; Prometheus
    /// refuses non-default values so a misunderstanding shows up at load time.
    fn check_unused_fields(&self, pattern: &str) -> Result<(), RelabelError> {
        let action = self.action;
        let not_allowed = |field: &'static str, value: String| {
            Err(RelabelError::FieldNotAllowed {
                action,
                field,
                value,
            })
        };
        let modulus_set = self.modulus != 0;
        let separator_set = self.separator != SEPARATOR_DEFAULT;
        match action {
            Action::KeepEqual | Action::DropEqual => {
                // Prometheus compares the regex by identity, so it refuses even an
                // explicit "(.*)"; we accept the default written out.
                if pattern != REGEX_DEFAULT {
                    return not_allowed("regex", format!("{pattern:?}"));
                }
                if modulus_set {
                    return not_allowed("modulus", self.modulus.to_string());
                }
                if separator_set {
                    return not_allowed("separator", format!("{:?}", self.separator));
                }
            }
            Action::LabelDrop | Action::LabelKeep => {
                if !self.source_labels.is_empty() {
                    return not_allowed("source_labels", format!("{:?}", self.source_labels));
                }
                if !self.target_label.is_empty() {
                    return not_allowed("target_label", format!("{:?}", self.target_label));
                }
                if modulus_set {
                    return not_allowed("modulus", self.modulus.to_string());
                }
                if separator_set {
                    return not_allowed("separator", format!("{:?}", self.separator));
                }
                if self.replacement != REPLACEMENT_DEFAULT {
                    return not_allowed("replacement", format!("{:?}", self.replacement));
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub fn action(&self) -> Action {
        self.action
    }

    /// Applies this rule; false when it drops the label set.
    fn apply(&self, labels: &mut BTreeMap<String, String>) -> bool {
        let value = self.joined_source_values(labels);
        match self.action {
            Action::Drop => return !self.regex.is_match(&value),
            Action::Keep => return self.regex.is_match(&value),
            Action::DropEqual => return get(labels, &self.target_label) != value,
            Action::KeepEqual => return get(labels, &self.target_label) == value,
            Action::Replace => self.replace(labels, &value),
            Action::Lowercase => set(labels, self.target_label.clone(), lowercase(&value)),
            Action::Uppercase => set(labels, self.target_label.clone(), uppercase(&value)),
            Action::HashMod => {
                let bucket = hash_mod(&value, self.modulus);
                set(labels, self.target_label.clone(), bucket.to_string());
            }
            Action::LabelMap => self.label_map(labels),
            Action::LabelDrop => labels.retain(|name, _| !self.regex.is_match(name)),
            Action::LabelKeep => labels.retain(|name, _| self.regex.is_match(name)),
        }
        true
    }

    fn joined_source_values(&self, labels: &BTreeMap<String, String>) -> String {
        let values: Vec<&str> = self
            .source_labels
            .iter()
            .map(|name| get(labels, name))
            .collect();
        values.join(&self.separator)
    }

    fn replace(&self, labels: &mut BTreeMap<String, String>, value: &str) {
        // No match means no replacement, not an empty one.
        let Some(captures) = self.regex.captures(value) else {
            return;
        };
        let mut target = String::new();
        captures.expand(&self.target_label, &mut target);
        // Prometheus skips a rule whose target expands to an invalid name rather than
        // failing the whole label set.
        if check_label_name(&target).is_err() {
            return;
        }
        let mut replacement = String::new();
        captures.expand(&self.replacement, &mut replacement);
        set(labels, target, replacement);
    }

    fn label_map(&self, labels: &mut BTreeMap<String, String>) {
        // Prometheus iterates a snapshot: a label this rule creates is not mapped again,
        // and each source contributes the value it had before the rule ran.
        let matching: Vec<(String, String)> = labels
            .iter()
            .filter(|(name, _)| self.regex.is_match(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        for (name, value) in matching {
            // `replace_all` is Go's `ReplaceAllString`, which Prometheus calls; with an
            // anchored regex it is one expansion of the whole name.
            let target = self.regex.replace_all(&name, self.replacement.as_str());
            // Prometheus sets even an invalid name here, which fails the target or
            // sample later; `Labels` cannot hold one, so the mapping is skipped as
            // `replace` skips an invalid target.
            if check_label_name(&target).is_ok() {
                set(labels, target.into_owned(), value);
            }
        }
    }
}

/// Applies `rules` in order. None when a rule drops the label set, or when the result
/// has a `__name__` that is not a valid metric name: Prometheus would then refuse the
/// sample (legacy names) and `Labels` cannot hold it. Labels whose value ends up empty
/// are absent from the result, as in Prometheus.
pub fn relabel(rules: &[RelabelRule], labels: &Labels) -> Option<Labels> {
    // A map keeps names unique and sorted while rules add and remove labels.
    let mut working: BTreeMap<String, String> = labels
        .iter()
        .map(|label| (label.name.clone(), label.value.clone()))
        .collect();
    for rule in rules {
        if !rule.apply(&mut working) {
            return None;
        }
    }
    match Labels::new(working) {
        Ok(relabeled) => Some(relabeled),
        Err(error) => {
            debug_assert!(
                matches!(error, LabelError::InvalidMetricName(_)),
                "BUG: relabel wrote an invalid label: {error}"
            );
            None
        }
    }
}

/// A missing label reads as "", as everywhere in Prometheus.
fn get<'a>(labels: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    labels.get(name).map_or("", String::as_str)
}

/// Setting "" deletes, as Prometheus' `labels.Builder.Set` does.
fn set(labels: &mut BTreeMap<String, String>, name: String, value: String) {
    debug_assert!(
        check_label_name(&name).is_ok(),
        "BUG: relabel target {name:?} not checked"
    );
    if value.is_empty() {
        labels.remove(&name);
    } else {
        labels.insert(name, value);
    }
}

/// Prometheus wraps the regex as `^(?s:...)$`: it must match the whole value, and `.`
/// matches newlines (values may hold them).
fn compile_anchored(pattern: &str) -> Result<Regex, RelabelError> {
    Regex::new(&format!("^(?s:{pattern})$")).map_err(|error| RelabelError::InvalidRegex {
        regex: pattern.to_string(),
        // The regex crate draws the wrapped pattern with a caret under the fault over
        // several lines; a diagnostic is one line, and its last line says what is wrong.
        message: error
            .to_string()
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("invalid regex")
            .trim()
            .trim_start_matches("error: ")
            .to_string(),
    })
}

/// Prometheus' legacy `relabelTargetLegacy` check,
/// `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`: a label name in which references
/// (`$1`, `$name`, `${name}`) may stand for parts, not starting with a digit. Written
/// out by hand because the language is this simple and a regex would need a lazy
/// static that can only fail by a bug.
fn is_label_name_template(template: &str) -> bool {
    let bytes = template.as_bytes();
    let word = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_';
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'$' {
            let braced = bytes.get(index + 1) == Some(&b'{');
            let start = index + 1 + usize::from(braced);
            let end = start + bytes[start..].iter().take_while(|&&b| word(b)).count();
            if end == start {
                return false;
            }
            if braced && bytes.get(end) != Some(&b'}') {
                return false;
            }
            index = end + usize::from(braced);
        } else if word(byte) && !(index == 0 && byte.is_ascii_digit()) {
            index += 1;
        } else {
            return false;
        }
    }
    !bytes.is_empty()
}

/// Prometheus shards by the *last* 8 bytes of the MD5 of the joined values, read big
/// endian ("to give the same result as earlier versions"); using the same bytes keeps
/// a tandem and a Prometheus sharing a hashmod split in agreement.
fn hash_mod(value: &str, modulus: u64) -> u64 {
    debug_assert!(modulus > 0, "BUG: hashmod rule with modulus 0");
    let digest = Md5::digest(value.as_bytes());
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(tail) % modulus
}

/// Go's `strings.ToLower` maps each rune by Unicode's simple case mapping. Rust's
/// `char::to_lowercase` is the full mapping, which differs only where it yields
/// several chars: keep Go's one-char result there. (`str::to_lowercase` would also
/// apply the final-sigma rule, which Go does not.)
fn lowercase(value: &str) -> String {
    value
        .chars()
        .map(|original| match original {
            // Full mapping: "i\u{307}"; simple mapping (Go): "i".
            '\u{130}' => 'i',
            _ => single_char(original.to_lowercase(), original),
        })
        .collect()
}

/// See `lowercase`. Where the full uppercase mapping has several chars (`ß` → `SS`),
/// Go's simple mapping mostly leaves the char alone; the exceptions (Greek letters
/// with ypogegrammeni, which Go maps to title-case forms) stay unchanged here.
fn uppercase(value: &str) -> String {
    value
        .chars()
        .map(|original| single_char(original.to_uppercase(), original))
        .collect()
}

fn single_char(mut mapped: impl Iterator<Item = char>, original: char) -> char {
    match (mapped.next(), mapped.next()) {
        (Some(only), None) => only,
        _ => original,
    }
}

#[cfg(test)]
mod tests;
