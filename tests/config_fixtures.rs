//! Every directory in tests/data/config is a config: `*.good` ones must load, `*.bad`
//! ones must fail with exactly the diagnostics in their `expect.txt` (paths there are
//! relative to the fixture directory).

use std::path::{Path, PathBuf};
use tandem::config::{self, ConfigSource, Overrides};

fn fixtures(suffix: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/data/config exists")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == suffix)
        })
        .collect();
    dirs.sort();
    dirs
}

fn check(dir: &Path) -> Result<config::Config, Vec<String>> {
    let source = ConfigSource::Directory(dir.to_path_buf());
    config::load(&source, &Overrides::default()).map_err(|error| {
        let prefix = format!("{}/", dir.display());
        error
            .diagnostics
            .iter()
            .map(|diagnostic| diagnostic.to_string().replace(&prefix, ""))
            .collect()
    })
}

#[test]
fn bad_configs_report_every_error_with_its_position() {
    let dirs = fixtures("bad");
    assert!(dirs.len() >= 15, "only {} bad fixtures", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let expected: Vec<String> = std::fs::read_to_string(dir.join("expect.txt"))
            .expect("every bad fixture has expect.txt")
            .lines()
            .map(str::to_string)
            .collect();
        assert!(!expected.is_empty(), "{}: empty expect.txt", dir.display());
        match check(dir) {
            Ok(_) => failures.push(format!("{}: loaded, expected errors", dir.display())),
            Err(got) if got != expected => failures.push(format!(
                "{}:\n  expected: {expected:#?}\n  got: {got:#?}",
                dir.display()
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn good_configs_load() {
    let dirs = fixtures("good");
    assert!(dirs.len() >= 3);
    for dir in &dirs {
        if let Err(errors) = check(dir) {
            panic!("{}: {errors:#?}", dir.display());
        }
    }
}

#[test]
fn full_config_is_read_into_typed_settings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config/full.good");
    let loaded = check(&root).expect("full.good loads");
    assert_eq!(loaded.server.listen.to_string(), "0.0.0.0:9797");
    assert_eq!(loaded.server.external_url, "https://monitor.example:9797");
    assert!(loaded.server.watch_config);
    assert_eq!(loaded.server.request_body_bytes_max, 2 << 20);
    assert_eq!(loaded.server.client_request_timeout.as_secs(), 10);
    assert_eq!(loaded.auth.users.len(), 1);
    assert_eq!(
        loaded.auth.tokens[0].secret(),
        b"c2VjcmV0LXRva2VuLWZvci10ZXN0cw"
    );
    assert_eq!(loaded.data_dir, PathBuf::from("/var/lib/tandem"));
    assert_eq!(loaded.log_level, config::LogLevel::Warn);
    assert_eq!(loaded.log_format, config::LogFormat::Json);
    let paths: Vec<&str> = loaded
        .files
        .iter()
        .map(|file| file.relative_path.as_str())
        .collect();
    assert_eq!(
        paths,
        ["dashboards/host.toml", "rules/host.toml", "tandem.toml"]
    );
}

#[test]
fn command_line_listen_is_checked_like_the_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config/empty.good");
    let overrides = Overrides {
        listen: Some("0.0.0.0:1234".into()),
        data_dir: None,
    };
    let error = config::load(&ConfigSource::Directory(root), &overrides)
        .expect_err("public listen needs auth");
    let message = error.to_string();
    assert!(
        message
            .starts_with("(command line --listen):1:1: server.listen: 0.0.0.0:1234 is reachable"),
        "{message}"
    );
}

#[test]
fn shipped_default_config_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let loaded = check(&root).expect("config/ is valid");
    let embedded =
        config::load(&ConfigSource::Embedded, &Overrides::default()).expect("embedded loads");
    assert_eq!(
        loaded.hash, embedded.hash,
        "the embedded default is config/ as shipped"
    );
}
