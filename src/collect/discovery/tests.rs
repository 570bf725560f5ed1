//! Target files on disk through `FileDiscovery`: both formats, changes, malformed
//! files keeping their targets, and errors naming file and line.

use super::*;

/// A directory of target files and the discovery over one pattern in it.
struct Fixture {
    dir: tempfile::TempDir,
    discovery: FileDiscovery,
    patterns: Vec<String>,
}

impl Fixture {
    fn new(pattern: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = glob::Pattern::escape(&dir.path().to_string_lossy());
        Fixture {
            patterns: vec![format!("{base}/{pattern}")],
            dir,
            discovery: FileDiscovery::default(),
        }
    }

    /// Writes `name` with a modification time unlike the previous one, so that a
    /// rewrite within the file system's time granularity is still seen.
    fn write(&self, name: &str, text: &str) {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open");
        let bump = std::time::Duration::from_secs(u64::from(text.len() as u32) + 1);
        let modified = SystemTime::now() + bump;
        file.set_modified(modified).expect("set mtime");
    }

    fn refresh(&mut self) -> Refreshed {
        self.discovery.refresh(&self.patterns, false)
    }

    /// Each group as `file: targets {labels}`, the file name only.
    fn groups(&self) -> Vec<String> {
        self.discovery
            .groups(&self.patterns)
            .into_iter()
            .map(|(path, group)| {
                let name = path.file_name().map(|name| name.to_string_lossy());
                let labels: Vec<String> = group
                    .labels
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect();
                format!(
                    "{}: {} {{{}}}",
                    name.unwrap_or_default(),
                    group.targets.join(","),
                    labels.join(",")
                )
            })
            .collect()
    }
}

fn check(files: &[(&str, &str)], expect: &[&str]) {
    let mut fixture = Fixture::new("*");
    for (name, text) in files {
        fixture.write(name, text);
    }
    fixture.patterns = vec![
        fixture.patterns[0].clone() + ".json",
        fixture.patterns[0].clone() + ".toml",
    ];
    let refreshed = fixture.refresh();
    assert_eq!(refreshed.errors, 0);
    assert_eq!(fixture.groups(), expect);
}

#[test]
fn reads_json_and_toml() {
    check(
        &[
            (
                "a.json",
                r#"[{"targets": ["h1:9100", "h2:9100"], "labels": {"env": "prod", "team": "db"}},
                    {"targets": ["h3:9100"]}]"#,
            ),
            (
                "b.toml",
                "[[group]]\ntargets = [\"h4:9100\"]\nlabels = { env = \"dev\" }\n\n[[group]]\ntargets = []\n",
            ),
            ("ignored.txt", "not a target file"),
        ],
        &[
            "a.json: h1:9100,h2:9100 {env=prod,team=db}",
            "a.json: h3:9100 {}",
            "b.toml: h4:9100 {env=dev}",
            "b.toml:  {}",
        ],
    );
    check(&[("empty.json", "[]"), ("empty.toml", "")], &[]);
}

/// The error text of the one refused file after a refresh, read from a fresh parse.
fn error_of(name: &str, text: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    let error = read_groups(&path).expect_err("malformed");
    let prefix = format!("{}:", path.display());
    error
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{error:?} does not start with the file name"))
        .to_string()
}

#[test]
fn errors_name_file_line_and_column() {
    assert_eq!(
        error_of(
            "t.json",
            "[\n  {\"targets\": [\"h:1\"],\n   \"labels\": 3}\n]"
        ),
        "3:14: invalid file_sd JSON: invalid type: integer `3`, expected a map"
    );
    assert_eq!(
        error_of("t.json", "[{\"targets\": [\"h:1\"]}\n"),
        "2:1: invalid file_sd JSON: EOF while parsing a list"
    );
    assert_eq!(
        error_of(
            "t.toml",
            "[[group]]\ntargets = [\"h:1\"]\nlabels = { env = 1 }\n"
        ),
        "3:18: invalid file_sd TOML: invalid type: integer `1`, expected a string"
    );
    assert_eq!(
        error_of("t.toml", "[[groups]]\ntargets = []\n"),
        "1:3: invalid file_sd TOML: unknown field `groups`, expected `group`"
    );
    assert_eq!(
        error_of(
            "t.json",
            "[{\"targets\": [],\n \"labels\": {\"bad-name\": \"x\"}}]"
        ),
        "2:13: labels: invalid label name \"bad-name\": names are letters, digits and underscores, not starting with a digit"
    );
    assert_eq!(
        error_of(
            "t.toml",
            "[[group]]\ntargets = []\nlabels = { 0day = \"x\" }\n"
        ),
        "3:12: labels: invalid label name \"0day\": names are letters, digits and underscores, not starting with a digit"
    );
}

#[test]
fn a_malformed_file_keeps_its_previous_targets() {
    let mut fixture = Fixture::new("*.json");
    fixture.write("a.json", r#"[{"targets": ["h1:9100"]}]"#);
    fixture.write("b.json", r#"[{"targets": ["h2:9100"]}]"#);
    assert_eq!(
        fixture.refresh(),
        Refreshed {
            changed: true,
            errors: 0
        }
    );
    assert_eq!(
        fixture.refresh(),
        Refreshed {
            changed: false,
            errors: 0
        }
    );

    fixture.write("a.json", r#"[{"targets": ["h1:9100"]"#);
    assert_eq!(
        fixture.refresh(),
        Refreshed {
            changed: false,
            errors: 1
        }
    );
    assert_eq!(
        fixture.groups(),
        ["a.json: h1:9100 {}", "b.json: h2:9100 {}"]
    );
    // The same bad file is not read (nor counted) again until it changes.
    assert_eq!(
        fixture.refresh(),
        Refreshed {
            changed: false,
            errors: 0
        }
    );

    fixture.write("a.json", r#"[{"targets": ["h9:9100"]}]"#);
    assert_eq!(
        fixture.refresh(),
        Refreshed {
            changed: true,
            errors: 0
        }
    );
    assert_eq!(
        fixture.groups(),
        ["a.json: h9:9100 {}", "b.json: h2:9100 {}"]
    );

    // A file that was never good has no targets to keep.
    fixture.write("c.json", "{");
    assert_eq!(
        fixture.refresh(),
        Refreshed {
            changed: true,
            errors: 1
        }
    );
    assert_eq!(
        fixture.groups(),
        ["a.json: h9:9100 {}", "b.json: h2:9100 {}"]
    );
}

#[test]
fn removed_files_take_their_targets_along_and_force_rereads() {
    let mut fixture = Fixture::new("*.json");
    fixture.write("a.json", r#"[{"targets": ["h1:9100"]}]"#);
    fixture.write("b.json", r#"[{"targets": ["h2:9100"]}]"#);
    fixture.refresh();
    std::fs::remove_file(fixture.dir.path().join("b.json")).expect("remove");
    assert_eq!(
        fixture.refresh(),
        Refreshed {
            changed: true,
            errors: 0
        }
    );
    assert_eq!(fixture.groups(), ["a.json: h1:9100 {}"]);

    // A forced refresh (a reload) reads the file even with an unchanged stamp.
    let path = fixture.dir.path().join("a.json");
    let modified = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");
    std::fs::write(&path, r#"[{"targets": ["h7:9100"]}]"#).expect("write");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|file| file.set_modified(modified))
        .expect("restore mtime");
    assert_eq!(
        fixture.refresh(),
        Refreshed {
            changed: false,
            errors: 0
        }
    );
    let patterns = fixture.patterns.clone();
    assert_eq!(
        fixture.discovery.refresh(&patterns, true),
        Refreshed {
            changed: true,
            errors: 0
        }
    );
    assert_eq!(fixture.groups(), ["a.json: h7:9100 {}"]);

    // No patterns at all: every file is forgotten.
    assert!(fixture.discovery.refresh(&[], false).changed);
    assert!(fixture.discovery.groups(&patterns).is_empty());
}

#[test]
fn an_oversized_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.json");
    let text = " ".repeat(limits::FILE_SD_FILE_BYTES_MAX as usize + 1) + "[]";
    std::fs::write(&path, text).expect("write");
    let error = read_groups(&path).expect_err("too large");
    assert!(
        error.ends_with("larger than the limit of 4194304 bytes"),
        "{error}"
    );
}
