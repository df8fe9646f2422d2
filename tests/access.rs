//! Every access mode against a real PostgreSQL, and what each must show in the report.

mod common;

use common::*;
use stress::record::errors::ErrorClass;

const TABLE: &str = r#"
name = "modes"
seed = 1
[database]
setup = ["CREATE TABLE IF NOT EXISTS item (id bigserial PRIMARY KEY, n int, body text)"]
teardown = ["DROP TABLE IF EXISTS item"]
[load]
tasks = 4
iterations = 30
[pool]
max_size = 4
test_on_check_out = false
[[workload]]
name = "write_read"
transaction = true
let = { n = "random_int(1, 100)" }
[[workload.step]]
sql = "INSERT INTO item (n, body) VALUES ($1, $2) RETURNING id"
params = ["@n", "text(16)"]
capture = ["id"]
[[workload.step]]
sql = "SELECT n FROM item WHERE id = $1 AND n = $2"
params = ["@id", "@n"]
capture = ["n"]
[[workload]]
name = "lookup"
[[workload.step]]
sql = "SELECT count(*) FROM item WHERE n = $1"
params = ["random_int(1, 100)"]
"#;

#[test]
fn every_access_mode_runs_the_mix_against_a_real_server() {
    let modes = [
        ("pool", vec!["access.mode=pool"]),
        ("per_operation", vec!["access.mode=per_operation"]),
        ("per_task", vec!["access.mode=per_task"]),
        // One task: a shared connection nobody else uses cannot collide.
        (
            "shared_exclusive",
            vec![
                "access.mode=shared",
                "access.semantics=exclusive",
                "load.tasks=1",
            ],
        ),
        (
            "shared_pipelined",
            vec!["access.mode=shared", "access.semantics=pipelined"],
        ),
        (
            "shared_serialized",
            vec!["access.mode=shared", "access.semantics=serialized"],
        ),
    ];
    for (name, sets) in modes {
        let report = run_text(&format!("mode_{name}"), TABLE, &sets);
        assert_consistent(&report);
        let v = &report.variants[0];
        let tasks = v.settings.json()["load"]["tasks"].as_u64().unwrap();
        assert_eq!(
            v.operations.total,
            tasks * 30,
            "{name}: every iteration ran"
        );
        if !name.starts_with("shared_pipelined") && !name.starts_with("shared_serialized") {
            assert_eq!(v.operations.failed, 0, "{name}: {:?}", v.errors);
        }
        assert!(v.latency_ms.by_workload["write_read"].count > 0, "{name}");
        match name {
            "per_operation" => assert_eq!(
                v.pool.connections_created, v.operations.total,
                "a connection per operation"
            ),
            "per_task" => assert_eq!(v.pool.connections_created, tasks, "a connection per task"),
            "pool" => assert!(v.pool.connections_created <= 4, "never more than max_size"),
            _ => assert_eq!(
                v.pool.connections_created, 1,
                "{name}: one shared connection"
            ),
        }
    }
}

#[test]
fn the_exclusive_shared_variant_collides_and_the_pool_does_not() {
    let text = std::fs::read_to_string("scenarios/shared-connection-collisions.toml").unwrap();
    let report = run_text("collisions", &text, &["load.duration=1s", "load.warmup=0s"]);
    assert_consistent(&report);
    let shared = variant(&report, "one shared connection (exclusive)");
    let pool = variant(&report, "pool of 1..10");
    let collisions = shared
        .errors
        .get(&ErrorClass::OperationInProgress)
        .map_or(0, |e| e.count);
    assert!(
        collisions > 0,
        "exclusive sharing must collide: {:?}",
        shared.errors
    );
    assert!(
        shared.operations.ok > 0,
        "some operations still get through"
    );
    assert!(
        pool.errors.is_empty(),
        "the pool variant must not fail: {:?}",
        pool.errors
    );
    assert!(pool.operations.ok > 0);
    assert_eq!(pool.anomalies.transaction_interleaved, 0);
    let pipelined = variant(&report, "one shared connection (pipelined)");
    assert!(
        pipelined.anomalies.transaction_interleaved > 0,
        "pipelined transactions of different tasks meet on the one connection"
    );
}

#[test]
fn instances_make_independent_pools() {
    let text = r#"
name = "instances"
[load]
tasks = 6
iterations = 3
[access]
instances = 3
[pool]
max_size = 1
test_on_check_out = false
[[workload]]
name = "hold"
[[workload.step]]
sleep = "100ms"
[[workload.step]]
sql = "SELECT 1"
"#;
    let report = run_text("instances", text, &[]);
    assert_consistent(&report);
    let v = &report.variants[0];
    assert_eq!(v.operations.failed, 0);
    assert_eq!(
        v.pool.connections_created, 3,
        "one connection in each of three pools of one"
    );
    assert_eq!(v.pool.peak_in_use, 3);
    assert!(
        v.server.peak_backends <= 3 && v.server.peak_backends >= 1,
        "{:?}",
        v.server
    );
}

#[test]
fn query_modes_and_session_settings_apply_in_every_mode() {
    let text = r#"
name = "query modes"
[load]
tasks = 2
iterations = 10
[access]
session_settings = { work_mem = "5MB" }
[[workload]]
name = "typed"
[[workload.step]]
sql = "SELECT $1::int + 1 AS x, $2::text AS t, $3::numeric * 2 AS y, gen_random_uuid() AS u"
params = ["random_int(1, 9)", "choice('a''b', 'c')", 1.5]
capture = ["x", "t", "u"]
[[workload.step]]
# Division by zero unless the session setting and the captured values arrived.
sql = "SELECT 1/(current_setting('work_mem') = '5MB')::int, 1/($1::int > 1)::int, 1/($2 <> '')::int, $3::uuid"
params = ["@x", "@t", "@u"]
"#;
    for mode in ["prepared", "extended", "simple"] {
        for access in ["pool", "shared", "per_operation", "per_task"] {
            let sets = [
                format!("access.query_mode={mode}"),
                format!("access.mode={access}"),
            ];
            let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
            let report = run_text(&format!("qm_{mode}_{access}"), text, &sets);
            let v = &report.variants[0];
            if access == "shared" {
                // Two tasks on one exclusive connection may collide; nothing else may fail.
                let others: u64 = v
                    .errors
                    .iter()
                    .filter(|(c, _)| **c != ErrorClass::OperationInProgress)
                    .map(|(_, e)| e.count)
                    .sum();
                assert_eq!(others, 0, "{mode}/{access}: {:?}", v.errors);
            } else {
                assert_eq!(v.operations.failed, 0, "{mode}/{access}: {:?}", v.errors);
            }
            assert!(v.operations.ok > 0, "{mode}/{access}");
        }
    }
}

#[test]
fn op_timeout_gives_op_deadline_exceeded() {
    let text = r#"
name = "deadline"
[load]
tasks = 2
iterations = 3
op_timeout = "50ms"
[[workload]]
name = "slow"
[[workload.step]]
sql = "SELECT pg_sleep(0.3)"
"#;
    let report = run_text("deadline", text, &[]);
    assert_consistent(&report);
    let v = &report.variants[0];
    assert_eq!(v.errors[&ErrorClass::OpDeadlineExceeded].count, 6);
    assert!(
        v.latency_ms.failed.max < 200.0,
        "abandoned at the deadline: {}",
        v.latency_ms.failed.max
    );
}

#[test]
fn a_backend_terminated_mid_statement_is_admin_terminated() {
    let text = r#"
name = "terminated"
[load]
tasks = 1
iterations = 3
[pool]
test_on_check_out = false
[[workload]]
name = "suicide"
[[workload.step]]
sql = "SELECT pg_terminate_backend(pg_backend_pid())"
"#;
    let report = run_text("terminated", text, &[]);
    assert_consistent(&report);
    let v = &report.variants[0];
    assert_eq!(
        v.errors[&ErrorClass::AdminTerminated].count,
        3,
        "{:?}",
        v.errors
    );
    assert_eq!(v.errors[&ErrorClass::AdminTerminated].sqlstates["57P01"], 3);
    assert_eq!(
        v.pool.closed_broken, 3,
        "each dead connection is found broken when given back"
    );
}

#[test]
fn a_statement_the_server_rejects_names_workload_and_step_and_teardown_still_runs() {
    let text = r#"
name = "rejected"
[database]
setup = ["CREATE TABLE marker (x int)"]
teardown = ["DROP TABLE marker"]
[load]
iterations = 1
[[workload]]
name = "fine"
[[workload.step]]
sql = "SELECT 1"
[[workload]]
name = "broken"
[[workload.step]]
sql = "SELECT 1"
[[workload.step]]
sql = "SELEC oops"
"#;
    let s = scenario(text, &[]);
    let url = database("rejected");
    let _one = load_lock();
    let e = run_on(&s, Some(&url)).unwrap_err();
    let stress::run::RunError::BadInput(message) = e else {
        panic!("{e:?}")
    };
    assert!(message.contains("workload `broken`, step 2"), "{message}");
    assert!(message.contains("42601"), "{message}");
    // Teardown ran: the setup table is gone, so setup can run again.
    let e = run_on(&s, Some(&url)).unwrap_err();
    assert!(!e.to_string().contains("already exists"), "{e}");
}

/// The variant's report is assembled once, after teardown: a teardown statement the server
/// rejects is one of its warnings, beside the numbers of the load and its verdict.
#[test]
fn a_rejected_teardown_statement_is_a_warning_of_the_report() {
    let text = r#"
name = "teardown"
[database]
teardown = ["SELECT 1", "DROP TABLE no_such_table"]
[load]
tasks = 2
iterations = 5
[expect]
error_rate = 0
[[workload]]
name = "w"
[[workload.step]]
sql = "SELECT 1"
"#;
    let r = run_text("teardown_warning", text, &[]);
    let v = &r.variants[0];
    assert!(
        v.operations.ok > 0 && v.operations.failed == 0,
        "{:?}",
        v.operations
    );
    assert_eq!(v.warnings.len(), 1, "{:?}", v.warnings);
    let w = &v.warnings[0];
    assert!(
        w.starts_with("database.teardown[1]: the server rejects"),
        "{w}"
    );
    assert!(w.contains("no_such_table"), "{w}");
    assert!(
        v.verdict.pass && v.verdict.checks.len() == 1,
        "{:?}",
        v.verdict
    );
    assert!(r.verdict.pass, "{:?}", r.verdict);
}

#[test]
fn capturing_a_column_that_is_not_returned_is_refused_before_the_load() {
    let text = r#"
name = "capture"
[load]
iterations = 1
[[workload]]
name = "w"
[[workload.step]]
sql = "SELECT 1 AS a"
capture = ["b"]
"#;
    let s = scenario(text, &[]);
    let url = database("capture");
    let e = run_on(&s, Some(&url)).unwrap_err().to_string();
    assert!(
        e.contains("captures `b`, but the statement returns only a"),
        "{e}"
    );
}
