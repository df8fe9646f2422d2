//! One test per bug found after it shipped (ripgrep's `tests/regression.rs`): each names the
//! bug, so that it stays fixed.

mod common;

use std::path::PathBuf;

use assert_cmd::Command;

const BASE: &str = r#"name = "regression"
[load]
tasks = 2
duration = "1s"
[[workload]]
name = "w"
[[workload.step]]
sql = "SELECT 1"
"#;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn stress() -> Command {
    Command::cargo_bin("stress").unwrap()
}

/// The password of `[database] url` was copied verbatim into `variants[].settings` of the
/// report and into `stress check --print`.
#[test]
fn the_database_password_is_in_no_report_and_no_printout() {
    // The embedded server's own per-run password (it admits no connection without one).
    let url = common::database("regression_password");
    let s3cret = common::password_of(&url);
    let text = BASE.replacen("[load]", &format!("[database]\nurl = \"{url}\"\n[load]"), 1);
    let report = common::run_text("regression_password", &text, &["load.duration=200ms"]);
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(&s3cret), "the report holds the password");
    assert!(
        json.contains("postgres:***@"),
        "the URL is still shown, redacted"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "p.toml", &text);
    let out = stress()
        .arg("check")
        .arg("--print")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(&s3cret), "{stdout}");
    assert!(stdout.contains("postgres:***@"), "{stdout}");
}

/// A duration too long for a clock reading (`Instant + warmup + duration`, bb8's
/// `Instant::now() + reaper_rate`) panicked mid-run instead of being a scenario error.
#[test]
fn durations_too_long_for_a_clock_are_scenario_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "duration = \"1s\"",
            "duration = \"100years\"",
            "load.duration",
        ),
        (
            "[load]",
            "[pool]\nreaper_rate = \"100years\"\n[load]",
            "pool.reaper_rate",
        ),
        (
            "[load]",
            "[pool]\nidle_timeout = \"100years\"\n[load]",
            "pool.idle_timeout",
        ),
        (
            "duration = \"1s\"",
            "stages = [{ duration = \"6years\", target = 1 }, { duration = \"6years\", target = 2 }]",
            "load.stages",
        ),
    ];
    for (from, to, key) in cases {
        let path = write(&dir, "long.toml", &BASE.replacen(from, to, 1));
        let out = stress()
            .arg("run")
            .arg(&path)
            .args(["--database-url", "postgres://nobody@127.0.0.1:1/none"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {stderr}");
        assert!(stderr.contains(&format!("key `{key}`")), "{key}: {stderr}");
        assert!(stderr.contains("10 years"), "{key}: {stderr}");
    }
}

/// `stress merge a.json a.json` doubled every count instead of refusing.
#[test]
fn merging_a_report_with_itself_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_text("regression_merge", BASE, &["load.duration=200ms"]);
    let path = dir.path().join("a.json");
    stress::report::json::write(&report, &path).unwrap();
    let out = stress()
        .arg("merge")
        .arg(&path)
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("m.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("twice"), "{stderr}");
    assert!(!dir.path().join("m.json").exists());
}

/// A sweep's cartesian product was unbounded: a typo could plan a million variants.
#[test]
fn an_oversized_sweep_is_refused_at_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<String> = (1..=1001).map(|i| i.to_string()).collect();
    let text = format!("{BASE}[sweep]\nload.tasks = [{}]\n", values.join(", "));
    let path = write(&dir, "sweep.toml", &text);
    let out = stress().arg("check").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("key `sweep`"), "{stderr}");
    assert!(stderr.contains("more than the 1000 variants"), "{stderr}");
}

/// `stress check --print ... | head` panicked in `println!` once the reader had gone (Rust
/// ignores SIGPIPE, so the write fails instead). Now it ends quietly, as Unix tools do.
#[test]
fn a_closed_stdout_pipe_is_no_panic() {
    let files = vec!["scenarios/pool-sizing.toml"; 200];
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("stress"))
        .arg("check")
        .arg("--print")
        .args(&files)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read a little, then hang up: far more than a pipe's buffer is still to come.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}

/// `restart_server` (and `kill_backend`, which acts on the embedded server's processes too)
/// passed `stress check` with a `[database] url`, and failed only at run time, after setup.
#[test]
fn server_faults_with_a_database_url_are_refused_by_check() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["restart_server", "kill_backend"] {
        let text = BASE.replacen(
            "[load]",
            "[database]\nurl = \"postgres://app@db.invalid/app\"\n[load]",
            1,
        ) + &format!("[[fault]]\nkind = \"{kind}\"\nat = \"100ms\"\n");
        let path = write(&dir, "server_fault.toml", &text);
        let out = stress().arg("check").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{kind}: {stderr}");
        // `kind` is on line 12: BASE's 8 lines and [database]'s 2, then `[[fault]]`.
        assert!(stderr.contains("server_fault.toml:12:"), "{kind}: {stderr}");
        assert!(stderr.contains("key `fault[0].kind`"), "{kind}: {stderr}");
        assert!(stderr.contains("[database] url"), "{kind}: {stderr}");
    }
}
