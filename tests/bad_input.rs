//! Bad input: every case exits 2, before anything connects, with a message naming the file,
//! line, column and key. And an unreachable server exits 3 with a clear message.

use std::path::PathBuf;

use assert_cmd::Command;

/// Issue 9, items 5 and 14: passwords in errors, malformed URLs, positions, names.
#[path = "bad_input/secrets_and_names.rs"]
mod secrets_and_names;

/// Issue 14: `[database.docker]`.
#[path = "bad_input/docker.rs"]
mod docker;
/// Issue 16: pool models' keys.
#[path = "bad_input/pool_models.rs"]
mod pool_models;

const VALID: &str = r#"name = "bad"
[load]
tasks = 2
duration = "1s"
[pool]
max_size = 5
[[workload]]
name = "w"
[[workload.step]]
sql = "SELECT $1"
params = ["random_int(1, 5)"]
"#;

fn write(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn stress() -> Command {
    Command::cargo_bin("stress").unwrap()
}

/// Runs `stress check` and `stress run` (at a server that does not exist: exit 2 proves nothing
/// connected first) and checks both name `line:column` and `key`.
fn assert_bad(name: &str, text: &str, sets: &[&str], at: &str, key: &str) {
    let (_dir, path) = write(name, text);
    for command in ["check", "run"] {
        let mut cmd = stress();
        cmd.arg(command).arg(&path);
        if command == "run" {
            cmd.args(["--database-url", "postgres://nobody@127.0.0.1:1/none"]);
        }
        for s in sets {
            cmd.args(["--set", s]);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name} ({command}): {stderr}");
        assert!(
            stderr.contains(at),
            "{name} ({command}): expected `{at}` in\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("key `{key}`")),
            "{name} ({command}): expected key `{key}` in\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

fn file_at(name: &str, line_col: &str) -> String {
    format!("{name}.toml:{line_col}")
}

#[test]
fn the_valid_base_passes() {
    let (_dir, path) = write("valid", VALID);
    stress().arg("check").arg(&path).assert().success();
}

#[test]
fn unknown_key() {
    let text = VALID.replace("tasks = 2", "taskz = 2");
    assert_bad(
        "unknown",
        &text,
        &[],
        &file_at("unknown", "3:1"),
        "load.taskz",
    );
}

#[test]
fn wrong_type() {
    let text = VALID.replace("tasks = 2", "tasks = \"two\"");
    assert_bad(
        "wrong_type",
        &text,
        &[],
        &file_at("wrong_type", "3:9"),
        "load.tasks",
    );
}

#[test]
fn bad_duration() {
    let text = VALID.replace("duration = \"1s\"", "duration = \"1 parsec\"");
    assert_bad(
        "bad_duration",
        &text,
        &[],
        &file_at("bad_duration", "4:12"),
        "load.duration",
    );
}

#[test]
fn zero_tasks() {
    let text = VALID.replace("tasks = 2", "tasks = 0");
    assert_bad(
        "zero_tasks",
        &text,
        &[],
        &file_at("zero_tasks", "3:9"),
        "load.tasks",
    );
}

#[test]
fn zero_max_size() {
    let text = VALID.replace("max_size = 5", "max_size = 0");
    assert_bad(
        "zero_max_size",
        &text,
        &[],
        &file_at("zero_max_size", "6:12"),
        "pool.max_size",
    );
}

#[test]
fn min_idle_above_max_size() {
    let text = VALID.replace("max_size = 5", "max_size = 5\nmin_idle = 9");
    assert_bad(
        "min_idle",
        &text,
        &[],
        &file_at("min_idle", "7:12"),
        "pool.min_idle",
    );
}

#[test]
fn zero_durations_bb8_would_panic_on() {
    for (key, line) in [
        ("connection_timeout", "\"0s\""),
        ("idle_timeout", "\"0s\""),
        ("max_lifetime", "\"0ms\""),
        ("reaper_rate", "\"0s\""),
    ] {
        let text = VALID.replace("max_size = 5", &format!("max_size = 5\n{key} = {line}"));
        let col = format!("7:{}", key.len() + 4);
        assert_bad(key, &text, &[], &file_at(key, &col), &format!("pool.{key}"));
    }
}

#[test]
fn duration_and_iterations_together() {
    let text = VALID.replace("duration = \"1s\"", "duration = \"1s\"\niterations = 5");
    assert_bad(
        "both",
        &text,
        &[],
        &file_at("both", "5:14"),
        "load.iterations",
    );
}

#[test]
fn no_workload() {
    let text = VALID.split("[[workload]]").next().unwrap().to_string();
    assert_bad(
        "no_workload",
        &text,
        &[],
        &file_at("no_workload", "1:1"),
        "workload",
    );
}

#[test]
fn malformed_generator() {
    let text = VALID.replace("random_int(1, 5)", "random_int(1)");
    assert_bad(
        "generator",
        &text,
        &[],
        &file_at("generator", "11:11"),
        "workload[0].step[0].params[0]",
    );
}

#[test]
fn unknown_reference() {
    let text = VALID.replace("\"random_int(1, 5)\"", "\"@book\"");
    assert_bad(
        "reference",
        &text,
        &[],
        &file_at("reference", "11:11"),
        "workload[0].step[0].params[0]",
    );
}

#[test]
fn unknown_enum_value() {
    let text = format!("{VALID}[access]\nmode = \"sharde\"\n");
    assert_bad("enum", &text, &[], &file_at("enum", "13:8"), "access.mode");
}

#[test]
fn a_bad_value_from_a_variant_points_at_the_variant() {
    let text = format!("{VALID}[[variant]]\nname = \"v\"\npool.max_size = 0\n");
    assert_bad(
        "variant",
        &text,
        &[],
        &file_at("variant", "14:17"),
        "pool.max_size",
    );
}

#[test]
fn a_bad_value_from_set_names_the_argument() {
    assert_bad(
        "set",
        VALID,
        &["load.tasks=0"],
        "--set load.tasks=0:1:12",
        "load.tasks",
    );
}

#[test]
fn invalid_toml() {
    let text = VALID.replace("tasks = 2", "tasks = = 2");
    let (_dir, path) = write("syntax", &text);
    let out = stress().arg("check").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("syntax.toml:3:"), "{stderr}");
    assert!(stderr.contains("invalid TOML"), "{stderr}");
}

#[test]
fn bad_expectations_and_sweeps_name_line_and_key() {
    let text = format!("{VALID}[expect]\nerrors.pool_timout = 0\n");
    assert_bad(
        "metric",
        &text,
        &[],
        &file_at("metric", "13:22"),
        "expect.errors.pool_timout",
    );
    let text = format!("{VALID}[expect]\noperation.p99 = 50\n");
    assert_bad(
        "latency_limit",
        &text,
        &[],
        &file_at("latency_limit", "13:17"),
        "expect.operation.p99",
    );
    let text = format!("{VALID}[expect]\nworkload.nope.p99 = \"5ms\"\n");
    assert_bad(
        "workload_metric",
        &text,
        &[],
        &file_at("workload_metric", "13:21"),
        "expect.workload.nope.p99",
    );
    let text = format!("{VALID}[sweep]\npool.max_size = 5\n");
    assert_bad(
        "sweep_list",
        &text,
        &[],
        &file_at("sweep_list", "13:17"),
        "sweep.pool.max_size",
    );
    let text = format!("{VALID}[sweep]\npool.max_size = [2, 0]\n");
    assert_bad(
        "sweep_value",
        &text,
        &[],
        &file_at("sweep_value", "13:21"),
        "pool.max_size",
    );
}

#[test]
fn fault_keys_of_another_kind_and_close_pool_without_a_pool() {
    let text =
        format!("{VALID}[[fault]]\nkind = \"terminate_backends\"\nat = \"500ms\"\ndrain = true\n");
    assert_bad(
        "fault_key",
        &text,
        &[],
        &file_at("fault_key", "15:9"),
        "fault[0].drain",
    );
    let text = format!(
        "{VALID}[access]\nmode = \"shared\"\n[[fault]]\nkind = \"close_pool\"\nat = \"500ms\"\n"
    );
    assert_bad(
        "fault_pool",
        &text,
        &[],
        &file_at("fault_pool", "15:8"),
        "fault[0].kind",
    );
    let text = format!("{VALID}[[fault]]\nkind = \"cancel_queries\"\nat = \"2s\"\n");
    assert_bad(
        "fault_late",
        &text,
        &[],
        &file_at("fault_late", "14:6"),
        "fault[0].at",
    );
}

#[test]
fn stages_and_rate_are_checked() {
    let text = VALID.replace(
        "duration = \"1s\"",
        "stages = [{ duration = \"1s\", target = 5 }]",
    );
    assert_bad(
        "stages_tasks",
        &text,
        &[],
        &file_at("stages_tasks", "4:39"),
        "load.stages[0].target",
    );
    let text = VALID.replace(
        "duration = \"1s\"",
        "duration = \"1s\"\nstages = [{ duration = \"1s\", target = 1 }]",
    );
    assert_bad(
        "stages_duration",
        &text,
        &[],
        &file_at("stages_duration", "4:12"),
        "load.duration",
    );
    let text = VALID.replace("duration = \"1s\"", "iterations = 3\nrate = 100");
    assert_bad(
        "rate_iterations",
        &text,
        &[],
        &file_at("rate_iterations", "4:14"),
        "load.iterations",
    );
    let text = VALID.replace("duration = \"1s\"", "duration = \"1s\"\nrate = -2");
    assert_bad("rate", &text, &[], &file_at("rate", "5:8"), "load.rate");
}

#[test]
fn a_missing_file_and_an_unknown_variant() {
    let out = stress()
        .args(["check", "does/not/exist.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does/not/exist.toml"));
    let (_dir, path) = write("variants", VALID);
    let out = stress()
        .arg("check")
        .arg(&path)
        .args(["--variant", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no variant named `nope`"));
}

#[test]
fn bad_command_line_is_exit_2() {
    let out = stress().args(["run", "--bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = stress().args(["run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unreachable_database_url_is_exit_3_without_the_password() {
    let (_dir, path) = write("unreachable", VALID);
    let out = stress()
        .arg("run")
        .arg(&path)
        .args([
            "--database-url",
            "postgres://app:s3cret@127.0.0.1:1/db",
            "--quiet",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot connect to postgres://app:***@127.0.0.1:1/db"),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn every_shipped_scenario_checks() {
    let mut files: Vec<_> = std::fs::read_dir("scenarios")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    stress().arg("check").args(&files).assert().success();
    stress()
        .arg("check")
        .arg("--print")
        .args(&files)
        .assert()
        .success();
}

#[test]
fn the_scenario_of_the_kubernetes_example_checks() {
    let manifest = std::fs::read_to_string("examples/k8s-indexed-job.yaml").unwrap();
    let scenario: String = manifest
        .split("scenario.toml: |\n")
        .nth(1)
        .expect("a scenario in the ConfigMap")
        .lines()
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    let (_dir, path) = write("k8s", &scenario);
    stress().arg("check").arg(&path).assert().success();
    // The GitHub Actions example runs the same scenario from a file: same effective settings,
    // and no setup/teardown (every copy would run them against the shared database).
    let options = stress::scenario::LoadOptions::default();
    let inline = stress::scenario::load(&path, &options).unwrap_or_else(|e| panic!("{e}"));
    let file = stress::scenario::load(
        std::path::Path::new("examples/checkout-load.toml"),
        &options,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inline.settings_sha256, file.settings_sha256);
    let db = &file.variants[0].settings.database;
    assert!(db.setup.is_empty() && db.teardown.is_empty());
    let workflow = std::fs::read_to_string("examples/github-actions.yml").unwrap();
    assert!(workflow.contains("default: \"examples/checkout-load.toml\""));
}

#[test]
fn network_faults_and_settings_are_checked_with_their_position() {
    // VALID has 11 lines; the fault starts on line 12.
    let no_toxic = format!("{VALID}[[fault]]\nkind = \"network\"\nat = \"500ms\"\n");
    assert_bad(
        "network_no_toxic",
        &no_toxic,
        &[],
        &file_at("network_no_toxic", "12:1"),
        "fault[0].toxic",
    );
    let foreign = format!(
        "{VALID}[[fault]]\nkind = \"network\"\ntoxic = \"timeout\"\nat = \"500ms\"\nrate = 5\n"
    );
    assert_bad(
        "network_foreign_key",
        &foreign,
        &[],
        &file_at("network_foreign_key", "16:8"),
        "fault[0].rate",
    );
    let not_network =
        format!("{VALID}[[fault]]\nkind = \"close_pool\"\nat = \"500ms\"\nidle_only = true\n");
    assert_bad(
        "network_key_elsewhere",
        &not_network,
        &[],
        &file_at("network_key_elsewhere", "15:13"),
        "fault[0].idle_only",
    );
    assert_bad(
        "network_latency",
        VALID,
        &["network.latency=\"fast\""],
        "network.latency",
        "network.latency",
    );
}
