//! Records the git revision tandem is built from, for `tandem version` and `tandem_build_info`.
fn main() {
    let revision = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok());
    if let Some(revision) = revision {
        println!("cargo:rustc-env=TANDEM_REVISION={}", revision.trim());
    }
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
}
