//! Bugs found by the review of 2026-12-03 (bad input thrown at the binary, and a read of the
//! code for panics reachable from input), one test each.

use std::time::Duration;

use stress::report::Report;

use super::{BASE, common, stress, write};

/// Runs `text` on the test server, failing (not hanging) when the run has not ended within a
/// minute: both bugs below made the run hang.
fn run_within_a_minute(name: &'static str, text: String, sets: &'static [&'static str]) -> Report {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(common::run_text(name, &text, sets));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the run ended within a minute")
}

/// Runs `stress check` on `text`; its exit code and stderr.
fn check(name: &str, text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, &format!("{name}.toml"), text);
    let out = stress().arg("check").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr)
}

/// Values `check` accepted and `run` then died of: `tasks = 4294967295` asked for 16 GiB
/// (abort), `rate = 1e300` never reached its deadline (a hang), `[network] bandwidth = 0` stalled
/// every connection and blamed the database (exit 3), a line break in a PgBouncer setting wrote
/// settings of its own into `pgbouncer.ini`, a control character in a variant's or a workload's
/// name went raw to the terminal. Each is now refused at its key, exit 2.
#[test]
fn values_that_broke_the_run_are_refused_at_their_key() {
    let cases = [
        ("tasks", "tasks = 2", "tasks = 4294967295", "load.tasks"),
        ("rate", "tasks = 2", "tasks = 2\nrate = 1e300", "load.rate"),
        (
            "stage",
            "duration = \"1s\"",
            "rate = 10\nstages = [{ duration = \"1s\", target = 1e12 }]",
            "load.stages[0].target",
        ),
        (
            "bandwidth",
            "[load]",
            "[network]\nbandwidth = 0\n[load]",
            "network.bandwidth",
        ),
        (
            "pgbouncer",
            "[load]",
            "[database.pgbouncer]\nsettings = { server_lifetime = \"3600\\nfoo = 1\" }\n[load]",
            "database.pgbouncer.settings.server_lifetime",
        ),
        (
            "reset",
            "[load]",
            "[database.pgbouncer]\nserver_reset_query = \"DISCARD ALL\\nadmin_users = x\"\n[load]",
            "database.pgbouncer.server_reset_query",
        ),
        (
            "workload",
            "name = \"w\"",
            "name = \"w\\tx\"",
            "workload[0].name",
        ),
        (
            "variant",
            "[load]",
            "[[variant]]\nname = \"a\\u001b[31mb\"\n[load]",
            "variant[0].name",
        ),
    ];
    for (name, from, to, key) in cases {
        let text = BASE.replacen(from, to, 1);
        assert_ne!(text, BASE, "{name}: the case changes the scenario");
        let (code, stderr) = check(name, &text);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains(&format!("key `{key}`")), "{name}: {stderr}");
    }
}

/// `seed = 18446744073709551615` (a u64, as the docs said) was refused as "invalid type:
/// string"; the seed drawn for a run could be such a number and then not be written back.
#[test]
fn a_seed_beyond_toml_integers_is_named_as_such() {
    let text = BASE.replacen("[load]", "seed = 18446744073709551615\n[load]", 1);
    let (code, stderr) = check("seed", &text);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("key `seed`: 18446744073709551615 is beyond TOML's integers"),
        "{stderr}"
    );
}

/// A password holding a quote (legal in a URL's userinfo) ended the URL before its `@`, and
/// the scenario snippet of an error on the next line showed it whole; a plain one was masked
/// by as many `*` as it has characters.
#[test]
fn no_password_and_no_password_length_in_a_snippet() {
    for secret in ["it'sS3cret", "pa ss", "plainS3cret"] {
        let text = BASE.replacen(
            "[load]",
            &format!("[database]\nurl = \"postgres://app:{secret}@db.invalid:5432/shop\"\nbogus = 1\n[load]"),
            1,
        );
        let (code, stderr) = check("pw", &text);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("key `database.bogus`"), "{stderr}");
        assert!(!stderr.contains(secret), "{secret}: {stderr}");
        assert!(
            stderr.contains("url = \"postgres://app:***@db.invalid:5432/shop\""),
            "{secret}: {stderr}"
        );
    }
}

/// A character of several bytes outside quotes in a statement (`café`) cut in half when the
/// statement was prepared: a panic before the load (exit 101, no report).
#[test]
fn a_statement_with_non_ascii_characters_runs() {
    let text = BASE.replacen(
        "sql = \"SELECT 1\"",
        "sql = \"SELECT 1 AS café, 'ñ' AS\u{a0}x\"",
        1,
    );
    let report = run_within_a_minute("regression_utf8", text, &["load.duration=200ms"]);
    let v = &report.variants[0];
    assert!(v.operations.ok > 0, "{:?}", v.errors);
    assert_eq!(v.operations.failed, 0, "{:?}", v.errors);
}

/// `rate = 1e-300` put the next arrival beyond any clock: a panic in the arrival generator,
/// and the run never ended. Now there is no arrival, and the run ends at its duration.
#[test]
fn a_rate_too_low_for_any_arrival_ends_at_its_duration() {
    let report = run_within_a_minute(
        "regression_tiny_rate",
        BASE.to_string(),
        &["load.rate=1e-300", "load.duration=300ms"],
    );
    let v = &report.variants[0];
    assert_eq!(v.operations.total, 0, "{:?}", v.errors);
    assert!(v.errors.is_empty(), "{:?}", v.errors);
}
