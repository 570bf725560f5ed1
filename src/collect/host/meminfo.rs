//! Family `meminfo`: every line of /proc/meminfo as `node_memory_<Field>[_bytes]`.
//! Owns: node_exporter's renaming: `Active(anon)` → `Active_anon`, a `kB` unit →
//! `_bytes` suffix and ×1024, no unit → the bare name (`HugePages_Total`).
//! Does not: use `procfs::Meminfo`, whose fixed struct would drop fields that newer
//! kernels add; node_exporter reads the file generically, and so do we.

use super::{HostError, HostOptions, Point, parse_error, read};

const PATH: &str = "/proc/meminfo";

pub(super) fn collect(_options: &HostOptions) -> Result<Vec<Point>, HostError> {
    parse(&read(PATH)?)
}

fn parse(text: &str) -> Result<Vec<Point>, HostError> {
    let mut points = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let (key, value, unit) = match fields.as_slice() {
            [] => continue,
            [key, value] => (*key, *value, None),
            [key, value, unit] => (*key, *value, Some(*unit)),
            _ => return Err(parse_error(PATH, format!("unexpected line {line:?}"))),
        };
        let key = key.strip_suffix(':').unwrap_or(key);
        let value: f64 = value
            .parse()
            .map_err(|error| parse_error(PATH, format!("line {line:?}: {error}")))?;
        let name = metric_name(key, unit.is_some());
        // node_exporter presumes kB whatever the unit says; so do we.
        let value = if unit.is_some() {
            value * 1024.0
        } else {
            value
        };
        points.push(Point::new(name, value));
    }
    if points.is_empty() {
        return Err(parse_error(PATH, "no fields"));
    }
    Ok(points)
}

/// `Active(anon)` → `node_memory_Active_anon_bytes`, as node_exporter's
/// `\((.*)\)` → `_${1}` replacement does.
fn metric_name(key: &str, has_unit: bool) -> String {
    let key = match (key.find('('), key.rfind(')')) {
        (Some(open), Some(close)) if open < close => {
            format!(
                "{}_{}{}",
                &key[..open],
                &key[open + 1..close],
                &key[close + 1..]
            )
        }
        _ => key.to_string(),
    };
    match has_unit {
        true => format!("node_memory_{key}_bytes"),
        false => format!("node_memory_{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_units_follow_node_exporter() {
        let text = "MemTotal:       16384 kB\nActive(anon):      2 kB\nHugePages_Total:       0\n\
                    Hugepagesize:       2048 kB\n";
        let got: Vec<(String, f64)> = parse(text)
            .expect("parses")
            .into_iter()
            .map(|point| (point.name, point.value))
            .collect();
        let expect = [
            ("node_memory_MemTotal_bytes", 16384.0 * 1024.0),
            ("node_memory_Active_anon_bytes", 2048.0),
            ("node_memory_HugePages_Total", 0.0),
            ("node_memory_Hugepagesize_bytes", 2048.0 * 1024.0),
        ];
        let expect: Vec<(String, f64)> = expect
            .iter()
            .map(|(name, value)| (name.to_string(), *value))
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(parse("MemTotal: x kB\n").is_err());
        assert!(parse("MemTotal: 1 kB extra\n").is_err());
        assert!(parse("").is_err());
    }
}
