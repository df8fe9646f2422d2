//! The diagnosis: for every error class the suite can produce, a real run, and a finding that
//! quotes that run's own numbers. Also the acknowledged-writes check, connection isolation,
//! leaks and connections given back inside a transaction.

mod common;

use common::*;
use stress::record::errors::ErrorClass;
use stress::report::model::{Finding, VariantReport};

fn finding<'a>(v: &'a VariantReport, class: &str) -> &'a Finding {
    v.diagnosis
        .iter()
        .find(|f| f.class == class)
        .unwrap_or_else(|| panic!("{}: no finding for {class}: {:#?}", v.name, v.diagnosis))
}

/// The finding for `class` quotes its count of the total, and each of `numbers`.
fn assert_quotes(v: &VariantReport, class: ErrorClass, numbers: &[String]) {
    let f = finding(v, class.name());
    let stats = &v.errors[&class];
    let head = format!("{} of {} operations", stats.count, v.operations.total);
    let text = format!("{} {}", f.finding, f.advice);
    assert!(
        f.finding.contains(&head),
        "{}: `{head}` not in {text}",
        class.name()
    );
    for n in numbers {
        assert!(
            text.contains(n.as_str()),
            "{}: `{n}` not in {text}",
            class.name()
        );
    }
}

fn run(name: &str, text: &str) -> VariantReport {
    let report = run_text(name, text, &[]);
    assert_consistent(&report);
    report.variants.into_iter().next().unwrap()
}

fn one_workload(load: &str, extra: &str, steps: &str) -> String {
    format!("name = \"d\"\n[load]\n{load}\n{extra}\n[[workload]]\nname = \"w\"\n{steps}")
}

#[test]
fn operation_in_progress_quotes_the_overlap_and_the_pool_size_that_avoids_it() {
    let text = one_workload(
        "tasks = 4\nduration = \"800ms\"",
        "[access]\nmode = \"shared\"",
        "transaction = true\n[[workload.step]]\nsql = \"SELECT 1\"\n[[workload.step]]\nsleep = \"2ms\"\n[[workload.step]]\nsql = \"SELECT 2\"",
    );
    let v = run("d_in_progress", &text);
    let overlap = v.isolation.max_operations_per_backend;
    assert!(overlap > 1, "{overlap}");
    assert_eq!(v.isolation.backends_used, 1);
    assert_quotes(
        &v,
        ErrorClass::OperationInProgress,
        &[
            format!("up to {overlap} operations"),
            // One per task in flight, not the overlap seen (a floor): review of 2026-12-03.
            "access.mode = \"pool\"".to_string(),
            "max_size of about 4 per instance".to_string(),
            format!("The deepest overlap seen, {overlap}, is only a floor"),
        ],
    );
}

#[test]
fn a_pool_gives_each_operation_its_own_backend() {
    let text = one_workload(
        "tasks = 4\nduration = \"500ms\"",
        "[pool]\nmax_size = 4\ntest_on_check_out = false",
        "[[workload.step]]\nsql = \"SELECT 1\"\n[[workload.step]]\nsleep = \"2ms\"",
    );
    let v = run("d_isolation", &text);
    assert_eq!(v.isolation.max_operations_per_backend, 1);
    assert!(v.isolation.backends_used >= 1 && v.isolation.backends_used <= 4);
    assert_eq!(finding(&v, "clean").class, "clean");
    assert!(
        finding(&v, "clean")
            .finding
            .contains(&format!("All {} operations", v.operations.ok))
    );
}

#[test]
fn an_interrupted_commit_is_indeterminate_and_the_ledger_resolves_it() {
    let text = r#"
name = "commit"
[database]
setup = [
  "CREATE TABLE slow_commit (id bigserial PRIMARY KEY, v int)",
  "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.5); RETURN NULL; END $$",
  "CREATE CONSTRAINT TRIGGER slow_at_commit AFTER INSERT ON slow_commit DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()",
]
teardown = ["DROP TABLE slow_commit", "DROP FUNCTION slow_commit()"]
[load]
tasks = 3
duration = "1800ms"
[pool]
test_on_check_out = false
[[workload]]
name = "write"
transaction = true
verify = "acknowledged_writes"
[[workload.step]]
sql = "INSERT INTO slow_commit (v) VALUES (1)"
[[fault]]
kind = "terminate_backends"
at = "700ms"
"#;
    let v = run("d_commit", text);
    let w = v
        .writes
        .as_ref()
        .expect("the acknowledged-writes check ran");
    let indeterminate = v.errors[&ErrorClass::CommitIndeterminate].count;
    assert!(indeterminate > 0, "{:?}", v.errors);
    assert_eq!(w.indeterminate, indeterminate);
    assert_eq!(
        w.indeterminate_committed + w.indeterminate_rolled_back,
        indeterminate,
        "each one resolved"
    );
    assert_eq!(w.lost, 0);
    assert_eq!(w.present, w.acknowledged + w.indeterminate_committed);
    assert_quotes(
        &v,
        ErrorClass::CommitIndeterminate,
        &[
            format!("{} write(s) had an unknown outcome", w.indeterminate),
            format!(
                "{} committed and {} rolled back",
                w.indeterminate_committed, w.indeterminate_rolled_back
            ),
        ],
    );
}

#[test]
fn an_abandoned_transaction_goes_back_to_the_pool_and_its_next_user_inherits_it() {
    let text = r#"
name = "dirty"
[load]
tasks = 2
duration = "1500ms"
op_timeout = "100ms"
[pool]
max_size = 2
test_on_check_out = false
[[workload]]
name = "abandoned"
transaction = true
[[workload.step]]
sql = "SELECT 1"
[[workload.step]]
sleep = "300ms"
[[workload]]
name = "reader"
weight = 3
[[workload.step]]
sql = "SELECT 2"
"#;
    let v = run("d_dirty", text);
    let returned = v.anomalies.returned_in_transaction;
    assert!(returned > 0, "{:?}", v.anomalies);
    let met: u64 = v.isolation.after_dirty_return.values().sum();
    assert!(met > 0, "{:?}", v.isolation);
    let f = finding(&v, "anomalies.returned_in_transaction");
    assert!(
        f.finding
            .contains(&format!("{returned} pooled connection(s)")),
        "{}",
        f.finding
    );
    assert_quotes(
        &v,
        ErrorClass::OpDeadlineExceeded,
        &[
            "op_timeout (100ms)".into(),
            format!("{returned} pooled connection(s)"),
        ],
    );
}

#[test]
fn pool_timeout_names_the_hold_that_caused_it() {
    let text = one_workload(
        "tasks = 6\nduration = \"1500ms\"",
        "[pool]\nmax_size = 2\nconnection_timeout = \"200ms\"\ntest_on_check_out = false",
        "transaction = true\n[[workload.step]]\nsql = \"SELECT 1\"\n[[workload.step]]\nsleep = \"300ms\"",
    );
    let v = run("d_pool_timeout", &text);
    assert_quotes(
        &v,
        ErrorClass::PoolTimeout,
        &[
            format!("Up to {} tasks waited", v.pool.peak_waiting),
            "for 2 connection(s) per pool".into(),
            "connection_timeout of 200ms".into(),
            "holds its connection through a 300ms sleep inside a transaction".into(),
        ],
    );
}

#[test]
fn pool_closed_tells_cut_operations_from_closed_acquires() {
    let text = one_workload(
        "tasks = 3\nduration = \"1500ms\"",
        "[pool]\nmax_size = 3\ntest_on_check_out = false\n[[fault]]\nkind = \"close_pool\"\nat = \"500ms\"\nreopen_after = \"300ms\"",
        "[[workload.step]]\nsql = \"SELECT 1\"\n[[workload.step]]\nsleep = \"100ms\"\n[[workload.step]]\nsql = \"SELECT 2\"",
    );
    let v = run("d_pool_closed", &text);
    let count = v.errors[&ErrorClass::PoolClosed].count;
    assert_quotes(
        &v,
        ErrorClass::PoolClosed,
        &[
            format!(
                "{} operation(s) had their connection cut",
                v.pool.cut_by_close
            ),
            format!("{} found it already closed", count - v.pool.cut_by_close),
            format!("at {} ms", v.faults[0].at_ms),
        ],
    );
}

#[test]
fn admin_terminated_without_pre_ping_counts_what_a_pre_ping_would_have_caught() {
    let text = one_workload(
        "tasks = 2\nduration = \"1500ms\"\nthink_time = \"50ms\"",
        "[pool]\nmax_size = 4\nmin_idle = 4\ntest_on_check_out = false\n[[fault]]\nkind = \"terminate_backends\"\nat = \"500ms\"",
        "[[workload.step]]\nsql = \"SELECT 1\"",
    );
    let v = run("d_terminated", &text);
    assert!(
        v.pool.died_idle > 0,
        "idle connections were terminated: {:?}",
        v.pool
    );
    assert_quotes(
        &v,
        ErrorClass::AdminTerminated,
        &[
            format!("{} of these", v.pool.died_idle),
            format!(
                "replaced the {} connections that died while idle",
                v.pool.died_idle
            ),
        ],
    );
}

#[test]
fn server_timeouts_quote_their_setting() {
    let text = one_workload(
        "tasks = 2\niterations = 2",
        "[access]\nsession_settings = { statement_timeout = \"100ms\", idle_in_transaction_session_timeout = \"150ms\" }\n[pool]\ntest_on_check_out = false",
        "[[workload.step]]\nsql = \"SELECT pg_sleep(0.3)\"",
    );
    let v = run("d_statement_timeout", &text);
    assert_quotes(
        &v,
        ErrorClass::StatementTimeout,
        &["statement_timeout = 100ms".into()],
    );
    let text = one_workload(
        "tasks = 2\niterations = 2",
        "[access]\nsession_settings = { idle_in_transaction_session_timeout = \"150ms\" }\n[pool]\ntest_on_check_out = false",
        "transaction = true\n[[workload.step]]\nsql = \"SELECT 1\"\n[[workload.step]]\nsleep = \"400ms\"\n[[workload.step]]\nsql = \"SELECT 2\"",
    );
    let v = run("d_session_timeout", &text);
    assert_quotes(
        &v,
        ErrorClass::SessionTimeout,
        &[
            "idle_in_transaction_session_timeout = 150ms".into(),
            "400ms sleep inside a transaction".into(),
        ],
    );
}

#[test]
fn lock_timeout_quotes_its_setting() {
    let text = r#"
name = "lock"
[database]
setup = ["CREATE TABLE locked (n int)"]
teardown = ["DROP TABLE locked"]
[load]
tasks = 2
duration = "2s"
[access]
session_settings = { lock_timeout = "100ms" }
[[workload]]
name = "w"
[[workload.step]]
sql = "SELECT count(*) FROM locked"
[[fault]]
kind = "sql"
at = "500ms"
for = "600ms"
sql = ["LOCK TABLE locked"]
"#;
    let s = scenario(text, &[]);
    let url = database("d_lock");
    let _one = load_lock();
    let report = run_on(&s, Some(&url)).unwrap();
    assert_consistent(&report);
    assert_quotes(
        &report.variants[0],
        ErrorClass::LockTimeout,
        &["lock_timeout = 100ms".into()],
    );
}

const COUNTERS: &str = r#"
name = "retry"
[database]
setup = ["CREATE TABLE counter (id int PRIMARY KEY, n int)", "INSERT INTO counter VALUES (1, 0), (2, 0)"]
teardown = ["DROP TABLE counter"]
[load]
tasks = 4
duration = "1500ms"
retry = { on = ["serialization_failure"], max_tries = 2 }
[pool]
test_on_check_out = false
"#;

#[test]
fn serialization_failures_quote_the_retries() {
    let text = format!(
        "{COUNTERS}{}",
        r#"
[[workload]]
name = "increment"
transaction = true
isolation = "repeatable read"
[[workload.step]]
sql = "SELECT n FROM counter WHERE id = 1"
[[workload.step]]
sleep = "5ms"
[[workload.step]]
sql = "UPDATE counter SET n = n + 1 WHERE id = 1"
"#
    );
    let v = run("d_serialization", &text);
    assert!(v.operations.retried > 0, "{:?}", v.operations);
    assert_eq!(
        v.operations.retries_exhausted,
        v.errors[&ErrorClass::SerializationFailure].count
    );
    assert_quotes(
        &v,
        ErrorClass::SerializationFailure,
        &[format!(
            "{} operation(s) were retried ({} extra tries), and {} still failed",
            v.operations.retried, v.operations.retries, v.operations.retries_exhausted
        )],
    );
}

#[test]
fn deadlocks_quote_that_they_were_not_retried() {
    let text = format!(
        "{COUNTERS}{}",
        r#"
[[workload]]
name = "one_then_two"
transaction = true
[[workload.step]]
sql = "UPDATE counter SET n = n + 1 WHERE id = 1"
[[workload.step]]
sleep = "20ms"
[[workload.step]]
sql = "UPDATE counter SET n = n + 1 WHERE id = 2"
[[workload]]
name = "two_then_one"
transaction = true
[[workload.step]]
sql = "UPDATE counter SET n = n + 1 WHERE id = 2"
[[workload.step]]
sleep = "20ms"
[[workload.step]]
sql = "UPDATE counter SET n = n + 1 WHERE id = 1"
"#
    );
    let v = run("d_deadlock", &text);
    assert_quotes(
        &v,
        ErrorClass::DeadlockDetected,
        &["were not retried".into()],
    );
}

#[test]
fn classes_without_a_story_still_quote_their_count() {
    let cases = [
        (
            "d_prepared",
            ErrorClass::PreparedStatementMismatch,
            "[[workload.step]]\nsql = \"SELECT 1\"\n[[workload.step]]\nsql = \"DEALLOCATE ALL\"",
            "",
        ),
        (
            "d_resource",
            ErrorClass::ResourceExhausted,
            "[[workload.step]]\nsql = \"SELECT count(*) FROM (SELECT g FROM generate_series(1, 200000) g ORDER BY g DESC) s\"",
            "[access]\nsession_settings = { temp_file_limit = \"64kB\", work_mem = \"64kB\" }",
        ),
        (
            "d_sql",
            ErrorClass::SqlError,
            "[[workload.step]]\nsql = \"SELECT 1 / (random() * 0)::int\"",
            "",
        ),
        (
            "d_client",
            ErrorClass::ClientError,
            "[[workload.step]]\nsql = \"SELECT 1 AS id WHERE false\"\ncapture = [\"id\"]",
            "",
        ),
    ];
    for (name, class, steps, extra) in cases {
        let text = one_workload("tasks = 1\niterations = 3", extra, steps);
        let v = run(name, &text);
        assert!(v.errors.contains_key(&class), "{name}: {:?}", v.errors);
        assert_quotes(&v, class, &[]);
    }
}

#[test]
fn leaks_are_counted_per_workload_with_their_longest_hold() {
    let text = r#"
name = "leak"
[load]
tasks = 2
iterations = 3
[access]
leak_threshold = "100ms"
[[workload]]
name = "slow_holder"
[[workload.step]]
sql = "SELECT 1"
[[workload.step]]
sleep = "200ms"
"#;
    let v = run("d_leak", text);
    assert_eq!(v.anomalies.leaks, Some(6));
    let leak = &v.leaks["slow_holder"];
    assert_eq!(leak.count, 6);
    assert!(leak.longest_ms >= 200.0, "{}", leak.longest_ms);
    let f = finding(&v, "anomalies.leaks");
    assert!(
        f.finding.contains("workload `slow_holder`: 6 operation(s)"),
        "{}",
        f.finding
    );
}

#[test]
fn a_crashed_backend_takes_the_others_with_it() {
    let s = scenario(CRASH, &[]);
    let _one = load_lock();
    let report = run_on(&s, None).unwrap();
    assert_consistent(&report);
    let v = &report.variants[0];
    let crashed = v
        .errors
        .get(&ErrorClass::ServerCrash)
        .map_or(0, |e| e.count)
        + v.errors
            .get(&ErrorClass::ConnectionClosed)
            .map_or(0, |e| e.count);
    assert!(crashed > 0, "{:?}", v.errors);
    let class = if v.errors.contains_key(&ErrorClass::ServerCrash) {
        ErrorClass::ServerCrash
    } else {
        ErrorClass::ConnectionClosed
    };
    let fault = &v.faults[0];
    assert_eq!(fault.kind, "kill_backend");
    assert!(
        fault.detail.starts_with("killed backend"),
        "{}",
        fault.detail
    );
    assert_quotes(
        v,
        class,
        &[
            format!("{} connection(s) were found broken", v.pool.closed_broken),
            // The diagnosis names the fault as the crash's cause.
            format!("kill_backend at {} ms", fault.at_ms),
        ],
    );
}
