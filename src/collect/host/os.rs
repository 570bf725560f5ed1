//! Family `os`: `node_os_info{build_id,id,id_like,image_id,image_version,name,
//! pretty_name,variant,variant_id,version,version_codename,version_id}` = 1 and
//! `node_os_version{id,id_like,name}` (the number at the start of `VERSION_ID`), from
//! /etc/os-release, else /usr/lib/os-release.
//! Owns: parsing os-release's shell-like `KEY=value` lines. Does not: the kernel
//! (`uname.rs`) or package versions.
//!
//! A machine with neither file gives no series and no error, as node_exporter
//! reports "no data" then.

use super::{HostError, HostOptions, Point};
use std::collections::HashMap;

const FILES: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// os-release keys → `node_os_info` labels, in label-name order.
const INFO_LABELS: [(&str, &str); 12] = [
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
];

pub(super) fn collect(_options: &HostOptions) -> Result<Vec<Point>, HostError> {
    for path in FILES {
        match std::fs::read_to_string(path) {
            Ok(text) => return Ok(os_points(&parse(&text))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(HostError::Read {
                    path: path.to_string(),
                    source,
                });
            }
        }
    }
    Ok(Vec::new())
}

fn os_points(release: &HashMap<String, String>) -> Vec<Point> {
    let value = |key: &str| release.get(key).cloned().unwrap_or_default();
    let mut info = Point::new("node_os_info", 1.0);
    for (label, key) in INFO_LABELS {
        info = info.with(label, value(key));
    }
    let version = Point::new("node_os_version", version_number(&value("VERSION_ID")))
        .with("id", value("ID"))
        .with("id_like", value("ID_LIKE"))
        .with("name", value("NAME"));
    vec![info, version]
}

/// node_exporter's `\d+\.?\d*` at the first digit of `VERSION_ID`: `22.04` is 22.04,
/// `3.18.4` is 3.18, `12` is 12; none (`rolling`) is 0.
fn version_number(version_id: &str) -> f64 {
    let Some(start) = version_id.find(|c: char| c.is_ascii_digit()) else {
        return 0.0;
    };
    let rest = &version_id[start..];
    let integer_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let mut end = integer_end;
    if rest[integer_end..].starts_with('.') {
        let fraction = &rest[integer_end + 1..];
        end = integer_end
            + 1
            + fraction
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(fraction.len());
    }
    rest[..end].parse().unwrap_or(0.0)
}

/// os-release(5) lines: `KEY=value`, the value bare, in double quotes (with `\"`,
/// `\\`, `\$`, `` \` `` escapes) or in single quotes; `#` comments and blank lines.
/// A malformed line is skipped rather than failing the family.
fn parse(text: &str) -> HashMap<String, String> {
    let mut release = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(value) = unquote(raw.trim()) {
            release.insert(key.to_string(), value);
        }
    }
    release
}

fn unquote(raw: &str) -> Option<String> {
    if let Some(inner) = raw.strip_prefix('\'') {
        return inner.strip_suffix('\'').map(str::to_string);
    }
    let Some(inner) = raw.strip_prefix('"') else {
        // A bare value ends at an inline comment.
        let bare = raw.split(" #").next().unwrap_or(raw);
        return Some(bare.trim_end().to_string());
    };
    let mut value = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next() {
                Some(escaped @ ('"' | '\\' | '$' | '`')) => value.push(escaped),
                Some(other) => {
                    value.push('\\');
                    value.push(other);
                }
                None => return None,
            },
            other => value.push(other),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"#;

    #[test]
    fn debian() {
        let points = os_points(&parse(DEBIAN));
        let labels = |index: usize| -> Vec<String> {
            points[index]
                .labels
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect()
        };
        assert_eq!(points[0].name, "node_os_info");
        assert_eq!(
            labels(0),
            vec![
                "id=debian",
                "name=Debian GNU/Linux",
                "pretty_name=Debian GNU/Linux 12 (bookworm)",
                "version=12 (bookworm)",
                "version_codename=bookworm",
                "version_id=12",
            ]
        );
        assert_eq!(points[1].name, "node_os_version");
        assert_eq!(points[1].value, 12.0);
        assert_eq!(labels(1), vec!["id=debian", "name=Debian GNU/Linux"]);
    }

    #[test]
    fn quoting_and_comments() {
        let release = parse(
            "# comment\n\nA='single # kept'\nB=\"say \\\"hi\\\" \\$x\"\nC=bare # note\nD=\"open\nnot a line\n",
        );
        assert_eq!(release.get("A").map(String::as_str), Some("single # kept"));
        assert_eq!(release.get("B").map(String::as_str), Some("say \"hi\" $x"));
        assert_eq!(release.get("C").map(String::as_str), Some("bare"));
        assert_eq!(release.get("D"), None);
        assert_eq!(release.len(), 3);
    }

    #[test]
    fn version_numbers() {
        let check = |text: &str, expect: f64| assert_eq!(version_number(text), expect, "{text}");
        check("12", 12.0);
        check("22.04", 22.04);
        check("3.18.4", 3.18);
        check("rolling", 0.0);
        check("", 0.0);
        check("v2.", 2.0);
    }

    #[test]
    fn this_host_has_an_os() {
        let points =
            collect(&HostOptions::node_exporter_defaults().expect("defaults")).expect("os");
        assert!(points.is_empty() || points[0].name == "node_os_info");
    }
}
