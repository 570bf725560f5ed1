//! PromQL conformance: Prometheus' own promqltest files (from `../shared`, never copied
//! here) with the pass count asserted so a regression fails the build, and tandem's
//! own cases under `tests/promql/`.

use std::path::{Path, PathBuf};
use tandem::promql::promqltest;

/// Evals of the upstream corpus that pass today. Raise it as the engine improves; a
/// drop below it is a regression.
const UPSTREAM_PASSED_MIN: usize = 1082;

fn upstream_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/promql/upstream");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing: the conformance files must be present under CI",
        dir.display()
    );
    eprintln!("skipping: {} not found", dir.display());
    None
}

fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read test dir")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "test"))
        .collect();
    files.sort();
    files
}

#[test]
fn upstream_promqltest_files() {
    let Some(dir) = upstream_dir() else { return };
    let (mut passed, mut failed) = (0, 0);
    for file in test_files(&dir) {
        let report = promqltest::run_file(&file).expect("read test file");
        eprintln!(
            "{}: {} passed, {} failed",
            file.file_name().unwrap_or_default().to_string_lossy(),
            report.passed,
            report.failed
        );
        passed += report.passed;
        failed += report.failed;
    }
    eprintln!("{passed} passed, {failed} failed");
    assert!(
        passed >= UPSTREAM_PASSED_MIN,
        "{passed} upstream evals pass, fewer than the {UPSTREAM_PASSED_MIN} that passed before"
    );
}

#[test]
fn own_promqltest_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promql");
    let files = test_files(&dir);
    assert!(!files.is_empty());
    for file in files {
        let report = promqltest::run_file(&file).expect("read test file");
        assert!(
            report.failed == 0 && report.passed > 0,
            "{}: {} passed, {} failed:\n{}",
            file.display(),
            report.passed,
            report.failed,
            report.failures.join("\n")
        );
    }
}
