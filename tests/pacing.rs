//! Issue 10 item 3: `load.on_failure` paces failures, and the report and the diagnosis give
//! failures in time (outage windows, failing task-seconds, error rate by time) and attribute a
//! fault's waits and failures to the fault (`cost.fault_window`), not to the pool. Real runs on
//! an embedded server of their own (a restart must not touch the shared one); and bad
//! `on_failure` tables refused with file, line and key, exit 2.

mod common;

use std::path::PathBuf;

use assert_cmd::Command;
use common::{assert_consistent, load_lock, run_on, scenario};
use stress::report::model::{OutageWindow, VariantReport};

/// A 1 s `restart_server` outage under `per_operation` with 4 tasks, as in issue 10.
const RESTART: &str = r#"
name = "pacing"
[load]
tasks = 4
duration = "3s"
[access]
mode = "per_operation"
[[workload]]
name = "query"
[[workload.step]]
sql = "SELECT 1"
[[fault]]
kind = "restart_server"
at = "700ms"
mode = "fast"
down_for = "1s"
"#;

fn run(text: &str, sets: &[&str]) -> VariantReport {
    let s = scenario(text, sets);
    let _one = load_lock();
    let report = run_on(&s, None).unwrap_or_else(|e| panic!("{e}"));
    assert_consistent(&report);
    report.variants.into_iter().next().expect("one variant")
}

/// The fault's outage window (the test fails when there is none).
fn fault_window(v: &VariantReport) -> &OutageWindow {
    let o = v.outages.as_ref().expect("outages in the report");
    let w: Vec<&OutageWindow> = o.windows.iter().filter(|w| w.fault == Some(0)).collect();
    assert_eq!(
        w.len(),
        1,
        "one outage window of the restart: {:?}",
        o.windows
    );
    w[0]
}

#[test]
fn a_pause_after_each_failure_keeps_a_one_second_outage_to_a_few_hundred_failures() {
    let v = run(RESTART, &["load.on_failure={ pause = \"10ms\" }"]);
    let w = fault_window(&v);
    assert!(v.operations.failed > 0, "the outage was seen");
    // Each task fails at most once per 10 ms pause while the window lasts (+1 each).
    let bound = 4 * (w.length_ms / 10.0).ceil() as u64 + 4;
    assert!(
        v.operations.failed <= bound,
        "{} failures for a {:.0} ms window (at most {bound})",
        v.operations.failed,
        w.length_ms
    );
    assert!(
        v.operations.failed < 1000,
        "a few hundred: {}",
        v.operations.failed
    );
    assert!(v.operations.ok > 0);
}

#[test]
fn retry_tries_are_separated_by_the_same_pause() {
    let v = run(
        RESTART,
        &[
            "load.on_failure={ pause = \"10ms\" }",
            "load.retry={ on = [\"connect_refused\", \"server_unavailable\"], max_tries = 3 }",
        ],
    );
    let w = fault_window(&v);
    assert!(
        v.operations.retries > 0,
        "tries were retried: {:?}",
        v.operations
    );
    // Every try of a failed operation was followed by a 10 ms pause (between tries and after
    // the last): at most one failed try per task per 10 ms of the window. Tries at once would
    // make three per pause.
    let tries = 3 * v.operations.failed;
    let bound = 4 * (w.length_ms / 10.0).ceil() as u64 + 12;
    assert!(
        tries <= bound,
        "{tries} failed tries in {:.0} ms (at most {bound})",
        w.length_ms
    );
}

#[test]
fn by_default_the_outage_is_reported_in_time_and_the_diagnosis_names_the_fault() {
    let v = run(RESTART, &[]);
    let w = fault_window(&v);
    let fault = &v.faults[0];
    // It begins when the fault fired and lasts the down time at least.
    assert!(
        w.start_ms + 50 >= fault.at_ms,
        "{w:?} vs fired {}",
        fault.at_ms
    );
    assert!(w.length_ms >= 900.0, "{w:?}");
    assert!(w.length_ms <= 5000.0, "{w:?}");
    assert_eq!(w.tasks, 4, "{w:?}");
    // The four tasks failed for most of it: failing task-seconds near 4 × its length (one
    // task alone could give a quarter of it at most).
    let whole = 4.0 * w.length_ms / 1000.0;
    assert!(
        w.failing_task_s >= 0.6 * whole && w.failing_task_s <= whole + 1e-9,
        "{} of at most {whole}",
        w.failing_task_s
    );
    assert!(
        w.recovered_at_ms
            .is_some_and(|r| r as f64 >= w.start_ms as f64 + w.length_ms)
    );
    let o = v.outages.as_ref().unwrap();
    // Unpaced failures: far more of the operations than of the time.
    assert!(o.count_share > o.time_share, "{o:?}");
    let expected = w.length_ms / 1000.0 / v.measured_s;
    assert!((o.time_share - expected).abs() < 1e-6, "{o:?}");
    // The diagnosis: the fault's, quoting the window, and not the pool's.
    let f = v
        .diagnosis
        .iter()
        .find(|f| f.class == "cost.fault_window")
        .unwrap_or_else(|| panic!("{:#?}", v.diagnosis));
    assert!(f.finding.contains("restart_server"), "{}", f.finding);
    assert!(
        f.finding.contains(&format!("outage {}–", w.start_ms)),
        "{}",
        f.finding
    );
    assert!(f.finding.contains("artefact"), "{}", f.finding);
    assert!(f.advice.contains("on_failure"), "{}", f.advice);
}

#[test]
fn a_pool_waiting_through_a_restart_is_the_faults_cost_not_unfair_waits() {
    let text = RESTART
        .replace("per_operation", "pool")
        .replace("[[workload]]", "[pool]\nmax_size = 10\n[[workload]]");
    let v = run(&text, &[]);
    let e = v.faults[0].effect.as_ref().expect("the fault's window");
    assert_eq!(e.tasks, 4, "{e:?}");
    assert!(
        e.longest_wait_ms >= 500.0,
        "tasks waited out the restart: {e:?}"
    );
    let classes: Vec<&str> = v.diagnosis.iter().map(|f| f.class.as_str()).collect();
    assert!(classes.contains(&"cost.fault_window"), "{classes:?}");
    assert!(
        !classes.contains(&"pool.unfair_waits"),
        "{:#?}",
        v.diagnosis
    );
}

fn check(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("p.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::cargo_bin("stress")
        .unwrap()
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn bad_on_failure_values_name_file_line_and_key() {
    let base = RESTART.replace("[[fault]]", "[[skip]]");
    let base = &base[..base.find("[[skip]]").unwrap()];
    let cases = [
        ("\"retry\"", "p.toml:6:14", "load.on_failure"),
        (
            "{ pause = \"10ms\", backoff = \"exponential\" }",
            "p.toml:",
            "load.on_failure.backoff",
        ),
        (
            "{ backoff = \"exponential\", max = \"1s\" }",
            "p.toml:",
            "load.on_failure.base",
        ),
        (
            "{ backoff = \"exponential\", base = \"1s\", max = \"10ms\" }",
            "p.toml:",
            "load.on_failure.max",
        ),
        (
            "{ backoff = \"linear\", base = \"1s\", max = \"2s\" }",
            "p.toml:6:",
            "load.on_failure.backoff",
        ),
        ("{ pause = \"0ms\" }", "p.toml:", "load.on_failure.pause"),
        (
            "{ pause = \"10ms\", jitter = true }",
            "p.toml:6:",
            "load.on_failure.jitter",
        ),
    ];
    for (value, at, key) in cases {
        let text = base.replace(
            "duration = \"3s\"",
            &format!("duration = \"3s\"\non_failure = {value}"),
        );
        let (code, stderr) = check(&text);
        assert_eq!(code, 2, "{value}: {stderr}");
        assert!(stderr.contains(at), "{value}: expected `{at}` in\n{stderr}");
        assert!(
            stderr.contains(&format!("key `{key}`")),
            "{value}: expected `{key}` in\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    for good in [
        "\"think\"",
        "{ pause = \"10ms\" }",
        "{ backoff = \"exponential\", base = \"10ms\", max = \"1s\" }",
    ] {
        let text = base.replace(
            "duration = \"3s\"",
            &format!("duration = \"3s\"\non_failure = {good}"),
        );
        let (code, stderr) = check(&text);
        assert_eq!(code, 0, "{good}: {stderr}");
    }
}
