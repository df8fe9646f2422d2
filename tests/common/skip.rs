//! Visible skips: a test that needs something this machine lacks (Docker, Chromium, PgBouncer,
//! a Python package) says so and is counted, instead of passing silently.
//!
//! `skip_unless_available("docker", reason)` in a test that cannot run:
//! - appends `SKIPPED <test>: <reason>` to `target/tmp/skipped.txt`, which `.ci/run` prints and
//!   counts after `cargo test` (the test harness itself has no "skipped" outcome);
//! - fails instead when `STRESS_REQUIRE` (a comma-separated list set by `.ci/run` once it has
//!   installed a tool) names the requirement: then the tool is meant to be there, and a skip
//!   would hide a broken install.

use std::io::Write;

/// Where skips are recorded (`target/tmp/skipped.txt`).
pub fn skipped_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped.txt")
}

/// Records that `test` cannot run because `requirement` is missing (see the module docs).
/// Panics when `STRESS_REQUIRE` says the requirement must be there.
pub fn skip(test: &str, requirement: &str, reason: &str) {
    let required = std::env::var("STRESS_REQUIRE").unwrap_or_default();
    if required.split(',').any(|r| r.trim() == requirement) {
        panic!("{test}: {requirement} is required here (STRESS_REQUIRE) but {reason}");
    }
    eprintln!("SKIPPED {test}: {reason}");
    let path = skipped_file();
    let _ = std::fs::create_dir_all(path.parent().expect("target/tmp"));
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = writeln!(f, "SKIPPED {test} ({requirement}): {reason}");
    }
}
