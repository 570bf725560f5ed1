//! One TOML file turned into a typed value, reporting every error in it at once.
//! Owns: `SourceFile`, `Diagnostic` (file:line:col: message), the spanned TOML tree.
//! Does not: know the meaning of any key (that is `model.rs` and `validate.rs`).
//!
//! serde stops at the first error. To list them all, the file is parsed once into
//! toml's spanned tree (`DeTable`, which also recovers from syntax errors), then
//! deserialized repeatedly: after each error the innermost entry holding the error's
//! span is removed and deserialization runs again, up to `ERRORS_PER_FILE_MAX` times.

use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};

/// How many errors one file may report before the rest are summarised. A file
/// with more is most likely not a tandem config at all.
pub const ERRORS_PER_FILE_MAX: usize = 50;

/// A config file's text and the names it is known by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the config directory, with `/` separators: `rules/host.toml`.
    pub relative_path: String,
    /// Path as shown to the user in messages: the directory given plus `relative_path`.
    pub display_path: String,
    pub content: String,
}

/// One problem found in a config file, located by line and column (both 1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(
            formatter,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl SourceFile {
    /// A diagnostic at the start of byte range `span` in this file.
    pub fn diagnostic(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let (line, column) = line_column(&self.content, span.start);
        Diagnostic {
            file: self.display_path.clone(),
            line,
            column,
            message: message.into(),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Parses `file` as TOML, listing every syntax error.
pub fn parse(file: &SourceFile) -> Result<Spanned<DeTable<'_>>, Vec<Diagnostic>> {
    let (table, errors) = DeTable::parse_recoverable(&file.content);
    if errors.is_empty() {
        return Ok(table);
    }
    Err(errors
        .iter()
        .take(ERRORS_PER_FILE_MAX)
        .map(|error| {
            let span = error.span().unwrap_or(0..0);
            file.diagnostic(
                span,
                format!("TOML syntax: {}", first_line(error.message())),
            )
        })
        .collect())
}

/// Parses and deserializes `file` into `T`, listing every syntax and type error.
#[cfg(test)]
pub fn load<T: DeserializeOwned>(file: &SourceFile) -> Result<T, Vec<Diagnostic>> {
    match load_partial(file) {
        (Some(value), diagnostics) if diagnostics.is_empty() => Ok(value),
        (_, diagnostics) => Err(diagnostics),
    }
}

/// Like `load`, but also returns the value built from what remained valid once the
/// erroneous entries were removed, so that semantic checks can still run on it and
/// report their errors in the same pass. `None` when the file is not valid TOML.
pub fn load_partial<T: DeserializeOwned>(file: &SourceFile) -> (Option<T>, Vec<Diagnostic>) {
    match parse(file) {
        Ok(table) => deserialize(file, table),
        Err(diagnostics) => (None, diagnostics),
    }
}

/// Deserializes an already parsed tree into `T`, listing every error found, and
/// returns the value built from the entries that remained.
fn deserialize<T: DeserializeOwned>(
    file: &SourceFile,
    table: Spanned<DeTable<'_>>,
) -> (Option<T>, Vec<Diagnostic>) {
    let span = table.span();
    let mut root = Spanned::new(span, DeValue::Table(table.into_inner()));
    let mut element_positions = HashMap::new();
    index_elements(root.get_ref(), &mut element_positions);
    let walk = Walk { element_positions };
    let mut diagnostics = Vec::new();
    let mut removed_paths: Vec<Vec<String>> = Vec::new();
    loop {
        let error = match T::deserialize(ValueDeserializer::from(root.clone())) {
            Ok(value) => return (Some(value), in_file_order(diagnostics)),
            Err(error) => error,
        };
        let error_span = error.span().unwrap_or(0..0);
        let removed = walk.remove_in_value(root.get_mut(), &error_span, &mut Vec::new());
        let message = first_line(error.message());
        // A table whose bad key was removed now misses that key: that is the same
        // error again, not a new one.
        let cascaded = removed.as_ref().is_some_and(|entry| {
            parse_missing_field(message).is_some_and(|field| {
                let mut path = entry.path.clone();
                path.push(field);
                removed_paths.contains(&path)
            })
        });
        if !cascaded {
            let location = removed
                .as_ref()
                .map_or(error_span, |entry| entry.span.clone());
            diagnostics.push(file.diagnostic(location, describe(message, removed.as_ref())));
        }
        let Some(entry) = removed else {
            // Nothing removed means another pass would report the same error again.
            return (None, in_file_order(diagnostics));
        };
        // A misspelt key whose correction is a required field would otherwise be
        // reported twice: once as unknown, once as missing.
        if let Some((unknown, expected)) = parse_unknown_field(message)
            && let Some(close) = suggest(&unknown, &expected)
        {
            let mut corrected = entry.path.clone();
            corrected.pop();
            corrected.push(close);
            removed_paths.push(corrected);
        }
        removed_paths.push(entry.path);
        if diagnostics.len() >= ERRORS_PER_FILE_MAX {
            let mut diagnostics = in_file_order(diagnostics);
            let last = file.diagnostic(0..0, "too many errors; fix these and check again");
            diagnostics.push(last);
            return (None, diagnostics);
        }
    }
}

/// Errors are found in the order serde visits keys; people read files top to bottom.
fn in_file_order(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by_key(|diagnostic| (diagnostic.line, diagnostic.column));
    diagnostics
}

/// Records, for every array element, its 1-based position in the file as written, so
/// that paths still name `user[2]` after `user[1]` was removed.
fn index_elements(value: &DeValue<'_>, positions: &mut HashMap<usize, usize>) {
    match value {
        DeValue::Table(table) => {
            for (_, nested) in table.iter() {
                index_elements(nested.get_ref(), positions);
            }
        }
        DeValue::Array(array) => {
            for (position, item) in array.iter().enumerate() {
                positions.insert(item.span().start, position + 1);
                index_elements(item.get_ref(), positions);
            }
        }
        _ => {}
    }
}

struct Walk {
    element_positions: HashMap<usize, usize>,
}

/// The entry taken out of the tree after an error: its path and where it was.
struct RemovedEntry {
    path: Vec<String>,
    span: Range<usize>,
}

/// Whether byte range `outer` holds the start of `inner` (an empty `outer` holds its own start).
fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.start < outer.end.max(outer.start + 1)
}

impl Walk {
    /// Removes the innermost table entry or array element whose key or value contains
    /// `span.start`, returning its path. Removing what failed lets the next pass find the
    /// next error instead of the same one.
    fn remove_in_value(
        &self,
        value: &mut DeValue<'_>,
        span: &Range<usize>,
        path: &mut Vec<String>,
    ) -> Option<RemovedEntry> {
        match value {
            DeValue::Table(table) => self.remove_in_table(table, span, path),
            DeValue::Array(array) => self.remove_in_array(array, span, path),
            _ => None,
        }
    }

    fn remove_in_table(
        &self,
        table: &mut DeTable<'_>,
        span: &Range<usize>,
        path: &mut Vec<String>,
    ) -> Option<RemovedEntry> {
        // The span of a `[header]` table covers only its header, so every nested value is
        // searched rather than trusting the enclosing span.
        let mut hit: Option<(String, bool)> = None;
        for (key, value) in table.iter_mut() {
            let key_hit = contains(&key.span(), span);
            path.push(key.get_ref().to_string());
            if !key_hit && let Some(inner) = self.remove_in_value(value.get_mut(), span, path) {
                return Some(inner);
            }
            path.pop();
            if key_hit || contains(&value.span(), span) {
                hit = Some((key.get_ref().to_string(), key_hit));
                break;
            }
        }
        let (name, key_is_location) = hit?;
        let (key, value) = table.remove_entry(name.as_str())?;
        path.push(name);
        Some(RemovedEntry {
            path: path.clone(),
            span: if key_is_location {
                key.span()
            } else {
                value.span()
            },
        })
    }

    fn remove_in_array<'i>(
        &self,
        array: &mut DeArray<'i>,
        span: &Range<usize>,
        path: &mut Vec<String>,
    ) -> Option<RemovedEntry> {
        let items: &mut [Spanned<DeValue<'i>>] = &mut *array;
        let mut index = None;
        for (position, item) in items.iter_mut().enumerate() {
            let written = self
                .element_positions
                .get(&item.span().start)
                .copied()
                .unwrap_or(position + 1);
            path.push(format!("[{written}]"));
            if let Some(inner) = self.remove_in_value(item.get_mut(), span, path) {
                return Some(inner);
            }
            if contains(&item.span(), span) {
                index = Some(position);
                break;
            }
            path.pop();
        }
        let index = index?;
        let items: Vec<Spanned<DeValue<'i>>> = std::mem::replace(array, DeArray::new())
            .into_iter()
            .collect();
        let mut kept = DeArray::new();
        let mut removed_span = None;
        for (position, item) in items.into_iter().enumerate() {
            if position == index {
                removed_span = Some(item.span());
            } else {
                kept.push(item);
            }
        }
        *array = kept;
        Some(RemovedEntry {
            path: path.clone(),
            span: removed_span?,
        })
    }
}

/// Rewrites serde's message into one that names the key and suggests a fix.
fn describe(message: &str, removed: Option<&RemovedEntry>) -> String {
    let Some(entry) = removed else {
        return message.to_string();
    };
    let dotted = dotted_path(&entry.path);
    if let Some((unknown, expected)) = parse_unknown_field(message) {
        let table = dotted_path(&entry.path[..entry.path.len().saturating_sub(1)]);
        let hint = match suggest(&unknown, &expected) {
            Some(close) => format!(", did you mean `{close}`?"),
            None if expected.is_empty() => String::new(),
            None => format!(" (valid: {})", expected.join(", ")),
        };
        if table.is_empty() {
            return format!("unknown section `{unknown}`{hint}");
        }
        return format!("unknown key `{unknown}` in [{table}]{hint}");
    }
    if let Some((unknown, expected)) = parse_unknown(message, "unknown variant `") {
        let hint = match suggest(&unknown, &expected) {
            Some(close) => format!(", did you mean `{close}`?"),
            None => format!(" (valid values: {})", expected.join(", ")),
        };
        return format!("{dotted}: unknown value `{unknown}`{hint}");
    }
    // toml's wording for a non-string where an enum's name belongs.
    if message == "wanted string or table" {
        return format!("{dotted}: invalid type: expected a string naming one of its values");
    }
    format!("{dotted}: {message}")
}

fn dotted_path(path: &[String]) -> String {
    let mut text = String::new();
    for part in path {
        if !part.starts_with('[') && !text.is_empty() {
            text.push('.');
        }
        text.push_str(part);
    }
    text
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or("").trim_end()
}

/// The field named by serde's "missing field `x`".
fn parse_missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(field, _)| field.to_string())
}

/// Splits serde's "unknown field `x`, expected one of `a`, `b`" into its parts.
fn parse_unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    parse_unknown(message, "unknown field `")
}

/// Splits "<prefix>x`, expected one of `a`, `b`" (serde's wording for unknown fields
/// and enum variants) into the unknown name and the expected ones.
fn parse_unknown(message: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix(prefix)?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((unknown.to_string(), expected))
}

/// The closest valid name to a misspelt one, when it is close enough to be a typo or
/// one is a longer form of the other (`warning` for `warn`).
pub fn suggest(unknown: &str, candidates: &[String]) -> Option<String> {
    let close = candidates
        .iter()
        .map(|candidate| (strsim::damerau_levenshtein(unknown, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.clone());
    close.or_else(|| {
        candidates
            .iter()
            .find(|candidate| {
                candidate.len() >= 3
                    && unknown.len() >= 3
                    && (unknown.starts_with(candidate.as_str()) || candidate.starts_with(unknown))
            })
            .cloned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Root {
        #[serde(default)]
        server: Server,
        #[serde(default)]
        user: Vec<User>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Server {
        #[serde(default)]
        listen: String,
        #[serde(default)]
        port: u16,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct User {
        name: String,
    }

    fn check(content: &str, expect: &[&str]) {
        let file = SourceFile {
            relative_path: "t.toml".into(),
            display_path: "t.toml".into(),
            content: content.into(),
        };
        let got: Vec<String> = match load::<Root>(&file) {
            Ok(_) => Vec::new(),
            Err(diagnostics) => diagnostics.iter().map(ToString::to_string).collect(),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn valid_file_has_no_errors() {
        let file = SourceFile {
            relative_path: "t.toml".into(),
            display_path: "t.toml".into(),
            content: "[server]\nlisten = \"a\"\n[[user]]\nname = \"x\"\n".into(),
        };
        let root: Root = load(&file).expect("valid");
        assert_eq!((root.server.listen.as_str(), root.server.port), ("a", 0));
        assert_eq!(
            root.user
                .iter()
                .map(|user| user.name.as_str())
                .collect::<Vec<_>>(),
            ["x"]
        );
        check("", &[]);
    }

    #[test]
    fn every_error_is_listed_with_position() {
        check(
            "[server]\nlisen = \"a\"\nport = \"x\"\n[[user]]\nname = 1\n[[user]]\nnme = \"b\"\n",
            &[
                "t.toml:2:1: unknown key `lisen` in [server], did you mean `listen`?",
                "t.toml:3:8: server.port: invalid type: string \"x\", expected u16",
                "t.toml:5:8: user[1].name: invalid type: integer `1`, expected a string",
                "t.toml:7:1: unknown key `nme` in [user[2]], did you mean `name`?",
            ],
        );
    }

    #[test]
    fn syntax_errors_are_listed() {
        let file = SourceFile {
            relative_path: "t.toml".into(),
            display_path: "t.toml".into(),
            content: "[server\nlisten = \"a\"\n".into(),
        };
        let diagnostics = load::<Root>(&file).expect_err("syntax error");
        assert_eq!(diagnostics[0].line, 1);
        assert!(
            diagnostics[0].message.starts_with("TOML syntax:"),
            "{diagnostics:?}"
        );
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_column("ab\ncé d", 7), (2, 4));
        assert_eq!(line_column("", 10), (1, 1));
    }
}
