//! Alertmanager matcher strings: `severity="page"`, `team=~"db|web"`, `env!=dev`,
//! also several in one string as `{a="b", c!~"d.*"}` (as amtool and Alertmanager's
//! `matchers` accept them).
//! Owns: parsing and printing them, and matching a label set against a list.
//! Does not: know where matchers come from (routes, inhibit rules, silences, the API).
//! Limits: `MATCHERS_MAX` per list.

use crate::model::{Labels, MatchOp, Matcher};
use std::fmt;

/// Matchers one list (a route, an inhibit rule side, a silence) may hold.
pub const MATCHERS_MAX: usize = 64;

/// One matcher against an alert's labels. A missing label matches as the empty
/// string, and regexes are fully anchored, as in Alertmanager.
#[derive(Clone, Debug)]
pub struct AlertMatcher(Matcher);

impl PartialEq for AlertMatcher {
    fn eq(&self, other: &AlertMatcher) -> bool {
        self.0.name == other.0.name && self.0.op == other.0.op && self.0.value == other.0.value
    }
}

impl Eq for AlertMatcher {}

impl AlertMatcher {
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<AlertMatcher, String> {
        crate::model::check_label_name(name).map_err(|error| error.to_string())?;
        Matcher::new(name, op, value)
            .map(AlertMatcher)
            .map_err(|error| {
                // The regex crate's message spans lines (pattern, caret, error); keep the
                // last one so a config diagnostic stays one line.
                let reason = error
                    .message
                    .lines()
                    .rev()
                    .map(str::trim)
                    .find(|line| !line.is_empty())
                    .unwrap_or("")
                    .trim_start_matches("error: ");
                format!(
                    "invalid regex {:?} for label {:?}: {reason}",
                    error.pattern, error.name
                )
            })
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub fn op(&self) -> MatchOp {
        self.0.op
    }

    pub fn value(&self) -> &str {
        &self.0.value
    }

    /// `=`, `!=`, `=~` or `!~`.
    pub fn op_str(&self) -> &'static str {
        op_str(self.0.op)
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.0.matches(labels.get(&self.0.name).unwrap_or(""))
    }
}

impl fmt::Display for AlertMatcher {
    /// `name="value"` with the operator, as Alertmanager prints a matcher.
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        self.0.fmt(formatter)
    }
}

pub fn op_str(op: MatchOp) -> &'static str {
    match op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Regex => "=~",
        MatchOp::NotRegex => "!~",
    }
}

pub fn parse_op(text: &str) -> Option<MatchOp> {
    [
        MatchOp::Equal,
        MatchOp::NotEqual,
        MatchOp::Regex,
        MatchOp::NotRegex,
    ]
    .into_iter()
    .find(|op| op_str(*op) == text)
}

/// Whether every matcher matches (an empty list matches everything).
pub fn matches_all(matchers: &[AlertMatcher], labels: &Labels) -> bool {
    matchers.iter().all(|matcher| matcher.matches(labels))
}

/// `{a="b",c=~"d"}`: a list printed as Alertmanager prints a route's matchers.
pub fn format_list(matchers: &[AlertMatcher]) -> String {
    let items: Vec<String> = matchers.iter().map(ToString::to_string).collect();
    format!("{{{}}}", items.join(","))
}

/// Parses one string holding one matcher or several (comma-separated, optionally in
/// braces). Values may be double-quoted (with `\"`, `\\`, `\n` escapes) or bare.
pub fn parse_matchers(text: &str) -> Result<Vec<AlertMatcher>, String> {
    let trimmed = text.trim();
    let inner = match trimmed.strip_prefix('{') {
        Some(rest) => rest
            .strip_suffix('}')
            .ok_or_else(|| format!("{text:?}: a list starting with {{ must end with }}"))?,
        None => trimmed,
    };
    let mut matchers = Vec::new();
    for item in split_items(inner).map_err(|message| format!("{text:?}: {message}"))? {
        if item.trim().is_empty() {
            continue;
        }
        matchers.push(parse_one(item).map_err(|message| format!("{text:?}: {message}"))?);
    }
    if matchers.is_empty() {
        return Err(format!(
            "{text:?} holds no matcher; write e.g. 'severity=\"page\"'"
        ));
    }
    if matchers.len() > MATCHERS_MAX {
        return Err(format!(
            "{text:?}: {} matchers, limit is {MATCHERS_MAX}",
            matchers.len()
        ));
    }
    Ok(matchers)
}

/// Splits at commas outside double quotes.
fn split_items(text: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (index, character) in text.char_indices() {
        match character {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                items.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err("unterminated quoted value".into());
    }
    items.push(&text[start..]);
    Ok(items)
}

fn parse_one(item: &str) -> Result<AlertMatcher, String> {
    let item = item.trim();
    let name_end = item
        .find(|character: char| !(character.is_ascii_alphanumeric() || character == '_'))
        .unwrap_or(item.len());
    let name = &item[..name_end];
    if name.is_empty() {
        return Err("a matcher starts with a label name, as in severity=\"page\"".to_string());
    }
    let rest = item[name_end..].trim_start();
    let (op, value) = [
        ("=~", MatchOp::Regex),
        ("!~", MatchOp::NotRegex),
        ("!=", MatchOp::NotEqual),
        ("=", MatchOp::Equal),
    ]
    .into_iter()
    .find_map(|(token, op)| rest.strip_prefix(token).map(|value| (op, value)))
    .ok_or_else(|| format!("expected =, !=, =~ or !~ after the label name {name:?}"))?;
    let value = unquote(value.trim())?;
    AlertMatcher::new(name, op, &value)
}

fn unquote(value: &str) -> Result<String, String> {
    let Some(body) = value.strip_prefix('"') else {
        if value.contains('"') {
            return Err(format!("{value:?}: a quote inside an unquoted value"));
        }
        return Ok(value.to_string());
    };
    let body = body
        .strip_suffix('"')
        .ok_or_else(|| format!("{value:?}: missing closing quote"))?;
    let mut out = String::with_capacity(body.len());
    let mut characters = body.chars();
    while let Some(character) = characters.next() {
        match character {
            '\\' => match characters.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other @ ('"' | '\\')) => out.push(other),
                // Regexes keep their own escapes: `\d` stays `\d`.
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return Err(format!("{value:?}: ends with a lone backslash")),
            },
            '"' => return Err(format!("{value:?}: unescaped quote inside the value")),
            other => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().copied()).expect("valid labels")
    }

    fn check(text: &str, expect: &str) {
        let got = match parse_matchers(text) {
            Ok(matchers) => format_list(&matchers),
            Err(message) => format!("error: {message}"),
        };
        assert!(got.contains(expect), "{text}: got {got}, expected {expect}");
    }

    #[test]
    fn parses_alertmanager_syntax() {
        check(r#"severity="page""#, r#"{severity="page"}"#);
        check("severity=page", r#"{severity="page"}"#);
        check(r#" team =~ "db|web" "#, r#"{team=~"db|web"}"#);
        check(r#"{a="b", c!~"x,y", d!=""}"#, r#"{a="b",c!~"x,y",d!=""}"#);
        check(r#"path=~"\\d+""#, r#"{path=~"\\d+"}"#);
        check(r#"msg="say \"hi\"""#, r#"{msg="say \"hi\""}"#);
        check("", "error: \"\" holds no matcher");
        check("=x", "a matcher starts with a label name");
        check("a~x", "expected =, !=, =~ or !~");
        check(r#"a="x"#, "unterminated quoted value");
        check(r#"a=~"(""#, "invalid regex");
        check("{a=b", "must end with }");
        check("1a=b", "invalid label name");
    }

    #[test]
    fn matches_like_alertmanager() {
        let alert = labels(&[("alertname", "Disk"), ("severity", "page")]);
        let matched = |text: &str| matches_all(&parse_matchers(text).expect("parses"), &alert);
        assert!(matched(r#"severity="page""#));
        assert!(!matched(r#"severity!="page""#));
        assert!(matched(r#"alertname=~"Di.*""#));
        assert!(!matched(r#"alertname=~"Di""#), "regexes are anchored");
        assert!(
            matched(r#"team="""#),
            "a missing label matches the empty string"
        );
        assert!(matched(r#"team!~".+""#));
        assert!(!matched(r#"{severity="page", team="db"}"#));
    }
}
