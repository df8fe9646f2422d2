//! The embedded server and its directory are gone after a run: after success, after an
//! error, and after Ctrl-C at the terminal (SIGINT to the foreground process group).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::procs::{
    assert_nothing_left, private_tmpdir, run_file_in, stress_in, wait_until_measured,
};

const SCENARIO: &str = r#"
name = "cleanup"
[database]
setup = ["CREATE TABLE t (x int)"]
teardown = ["DROP TABLE t"]
[load]
tasks = TASKS
duration = "DURATION"
[[workload]]
name = "w"
[[workload.step]]
sql = "INSERT INTO t VALUES ($1)"
params = ["random_int(1, 9)"]
"#;

/// The load's tasks; each operation inserts one row into `t`.
const TASKS: i64 = 2;

fn scenario_file(dir: &Path, duration: &str, extra: &str) -> PathBuf {
    let path = dir.join("cleanup.toml");
    std::fs::write(
        &path,
        format!(
            "{}{extra}",
            SCENARIO
                .replace("DURATION", duration)
                .replace("TASKS", &TASKS.to_string())
        ),
    )
    .unwrap();
    path
}

#[test]
fn nothing_is_left_after_a_successful_run() {
    let tmp = private_tmpdir();
    let work = tempfile::tempdir().unwrap();
    let file = scenario_file(work.path(), "300ms", "");
    let out_path = work.path().join("r.json");
    let out = run_file_in(tmp.path(), &file, &out_path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out_path.is_file());
    assert_nothing_left(tmp.path());
}

#[test]
fn nothing_is_left_after_a_failed_run() {
    let tmp = private_tmpdir();
    let work = tempfile::tempdir().unwrap();
    let file = scenario_file(
        work.path(),
        "300ms",
        "[[workload]]\nname = \"bad\"\n[[workload.step]]\nsql = \"SELECT nope FROM nowhere\"\n",
    );
    let out = run_file_in(tmp.path(), &file, Path::new("/dev/null"));
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_nothing_left(tmp.path());
}

#[test]
fn nothing_is_left_after_ctrl_c_and_the_partial_report_is_written() {
    let tmp = private_tmpdir();
    let work = tempfile::tempdir().unwrap();
    let file = scenario_file(work.path(), "60s", "");
    let out_path = work.path().join("partial.json");
    let mut cmd = stress_in(
        tmp.path(),
        &[
            "run",
            file.to_str().unwrap(),
            "--out",
            out_path.to_str().unwrap(),
        ],
    );
    // Like a shell job: its own process group, which a terminal's Ctrl-C signals as a whole.
    cmd.process_group(0);
    let child = cmd.spawn().unwrap();
    // Ctrl-C once the load has recorded an operation.
    wait_until_measured(tmp.path(), "t", TASKS, Duration::from_secs(30));
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT).unwrap();
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "stopped promptly"
    );
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true);
    assert!(report["variants"][0]["operations"]["ok"].as_u64().unwrap() > 0);
    assert_nothing_left(tmp.path());
}

#[test]
fn missing_server_binaries_say_how_to_install_them() {
    let tmp = private_tmpdir();
    let work = tempfile::tempdir().unwrap();
    let file = scenario_file(work.path(), "300ms", "");
    let out = stress_in(
        tmp.path(),
        &["run", file.to_str().unwrap(), "--out", "/dev/null"],
    )
    .env("PG_BIN", work.path())
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("apt-get install -y postgresql"), "{stderr}");
    assert!(stderr.contains("--database-url"), "{stderr}");
    assert_nothing_left(tmp.path());
}
