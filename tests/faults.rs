//! Faults and time on a real server: each fault kind produces its class and the run recovers;
//! too many connections are reported as such; the open model sees a stall the closed model
//! under-reports; drain decides whether held connections are cut.

mod common;

use common::*;
use stress::record::errors::ErrorClass;
use stress::record::histogram;
use stress::report::model::VariantReport;

fn count(v: &VariantReport, class: ErrorClass) -> u64 {
    v.errors.get(&class).map_or(0, |e| e.count)
}

/// Operations succeeded in a second that ended after `after_ms`.
fn recovered(v: &VariantReport, after_ms: u64) -> bool {
    v.timeline
        .iter()
        .any(|e| e.t_ms > after_ms + 1000 && e.ok > 0)
}

/// Four pooled tasks on `pg_sleep(0.05)` for 2.5 s.
fn sleepy() -> String {
    pooled_sleep("fault", "2500ms", "0.05")
}

#[test]
fn close_pool_fails_acquires_with_pool_closed_and_recovers_after_reopen() {
    let sleepy = sleepy();
    let text = format!(
        "{sleepy}[[fault]]\nkind = \"close_pool\"\nat = \"500ms\"\nreopen_after = \"300ms\"\n"
    );
    let report = run_text("fault_close", &text, &[]);
    assert_consistent(&report);
    let v = &report.variants[0];
    assert!(count(v, ErrorClass::PoolClosed) > 0, "{:?}", v.errors);
    assert_eq!(v.faults.len(), 1);
    assert_eq!(v.faults[0].kind, "close_pool");
    assert!(
        v.faults[0]
            .failed_next_1s
            .get(&ErrorClass::PoolClosed)
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert!(
        recovered(v, 800),
        "operations succeed after the reopen: {:?}",
        v.timeline
    );
}

#[test]
fn terminated_backends_fail_their_operations_and_the_pool_recovers() {
    let sleepy = sleepy();
    let text = format!(
        "{sleepy}[[fault]]\nkind = \"terminate_backends\"\nat = \"500ms\"\nfraction = 1.0\n"
    );
    let report = run_text("fault_terminate", &text, &[]);
    assert_consistent(&report);
    let v = &report.variants[0];
    let died = count(v, ErrorClass::AdminTerminated) + count(v, ErrorClass::ConnectionClosed);
    assert!(died > 0, "{:?}", v.errors);
    assert!(
        count(v, ErrorClass::AdminTerminated) > 0,
        "the server's 57P01 is kept: {:?}",
        v.errors
    );
    assert!(
        v.faults[0].detail.starts_with("terminated 4 of 4"),
        "{}",
        v.faults[0].detail
    );
    assert!(recovered(v, 500));
}

#[test]
fn cancelled_queries_are_query_canceled_and_the_run_recovers() {
    let text = format!(
        "{}[[fault]]\nkind = \"cancel_queries\"\nat = \"500ms\"\n",
        pooled_sleep("fault", "2500ms", "0.2")
    );
    let report = run_text("fault_cancel", &text, &[]);
    assert_consistent(&report);
    let v = &report.variants[0];
    assert!(count(v, ErrorClass::QueryCanceled) > 0, "{:?}", v.errors);
    assert_eq!(
        count(v, ErrorClass::StatementTimeout),
        0,
        "57014 told apart by its cause"
    );
    assert!(recovered(v, 500));
}

#[test]
fn a_restarted_server_refuses_then_recovers() {
    // Its own embedded server: the shared one must stay up for the other tests.
    let text = per_operation_select("restart")
        + "[[fault]]\nkind = \"restart_server\"\nat = \"700ms\"\nmode = \"fast\"\n\
           down_for = \"500ms\"\n";
    let s = scenario(&text, &[]);
    let _one = load_lock();
    let report = run_on(&s, None).unwrap();
    assert_consistent(&report);
    let v = &report.variants[0];
    let refused = count(v, ErrorClass::ConnectRefused) + count(v, ErrorClass::ServerUnavailable);
    assert!(refused > 0, "{:?}", v.errors);
    assert!(
        v.faults[0].detail.contains("started again"),
        "{}",
        v.faults[0].detail
    );
    assert!(recovered(v, 1500), "{:?}", v.timeline);
}

#[test]
fn restart_server_is_refused_on_an_external_server() {
    let url = database("fault_restart_url");
    for kind in ["restart_server", "kill_backend"] {
        let text = format!("{}[[fault]]\nkind = \"{kind}\"\nat = \"500ms\"\n", sleepy());
        let s = scenario(&text, &[]);
        let e = run_on(&s, Some(&url)).unwrap_err().to_string();
        assert!(
            e.contains(&format!("fault[0].kind: {kind} needs the embedded server")),
            "{e}"
        );
        assert!(!e.contains(&password_of(&url)), "{e}");
    }
}

#[test]
fn too_many_connections_is_reported_as_itself_not_as_pool_timeout() {
    let text = r#"
name = "too many"
[database.embedded]
max_connections = 8
[load]
tasks = 12
duration = "2500ms"
[pool]
max_size = 12
connection_timeout = "150ms"
test_on_check_out = false
[[workload]]
name = "query"
[[workload.step]]
sql = "SELECT pg_sleep(0.4)"
"#;
    // Holds (400 ms) longer than the acquire timeout (150 ms): a task that finds the server full
    // cannot be rescued by a returned connection, so the refusal surfaces on every round, not
    // only when bb8's barging happens to starve a waiter (a regression: with 50 ms holds this
    // test failed on a quiet machine, where waiters were always served in time).
    let s = scenario(text, &[]);
    let _one = load_lock();
    let report = run_on(&s, None).unwrap();
    assert_consistent(&report);
    let v = &report.variants[0];
    assert!(
        count(v, ErrorClass::TooManyConnections) > 0,
        "{:?}",
        v.errors
    );
    assert_eq!(count(v, ErrorClass::PoolTimeout), 0, "{:?}", v.errors);
    assert!(
        v.errors[&ErrorClass::TooManyConnections]
            .sqlstates
            .contains_key("53300")
    );
    assert!(v.pool.connect_errors[&ErrorClass::TooManyConnections] > 0);
}

#[test]
fn drain_false_cuts_held_connections_and_drain_true_lets_them_finish() {
    let text = r#"
name = "drain"
[load]
tasks = 3
iterations = 1
[pool]
max_size = 3
test_on_check_out = false
[[workload]]
name = "hold"
[[workload.step]]
sql = "SELECT 1"
[[workload.step]]
sleep = "1500ms"
[[workload.step]]
sql = "SELECT 2"
[[fault]]
kind = "close_pool"
at = "500ms"
drain = false
[[variant]]
name = "cut"
[[variant]]
name = "drain"
fault = [{ kind = "close_pool", at = "500ms", drain = true }]
"#;
    let report = run_text("drain", text, &[]);
    assert_consistent(&report);
    let cut = variant(&report, "cut");
    assert_eq!(count(cut, ErrorClass::PoolClosed), 3, "{:?}", cut.errors);
    assert_eq!(cut.pool.cut_by_close, 3);
    let drained = variant(&report, "drain");
    assert_eq!(drained.operations.failed, 0, "{:?}", drained.errors);
    assert_eq!(drained.operations.ok, 3);
    assert_eq!(
        cut.faults[0].in_flight, 3,
        "all three held a connection at the close"
    );
    assert_eq!(drained.faults[0].in_flight, 3);
}

fn slower_than_500ms(v: &VariantReport) -> u64 {
    let h = histogram::decode(&v.latency_ms.operation.hdr).unwrap();
    h.count_between(500_000, histogram::MAX_US)
}

#[test]
fn the_open_model_records_a_stall_the_closed_model_under_reports() {
    let text = r#"
name = "stall"
[database]
setup = ["CREATE TABLE IF NOT EXISTS stall (n int)", "INSERT INTO stall VALUES (1)"]
teardown = ["DROP TABLE stall"]
[load]
tasks = 8
duration = "3500ms"
[pool]
max_size = 60
min_idle = 8
test_on_check_out = false
[[workload]]
name = "read"
[[workload.step]]
sql = "SELECT count(*) FROM stall"
[[fault]]
kind = "sql"
at = "1s"
for = "1s"
sql = ["LOCK TABLE stall IN ACCESS EXCLUSIVE MODE"]
[[variant]]
name = "closed"
[[variant]]
name = "open"
load.rate = 100
load.tasks = 60
"#;
    let mut slow = Vec::new();
    for name in ["closed", "open"] {
        let s = stress::scenario::load_str(
            std::path::Path::new("stall.toml"),
            text,
            &stress::scenario::LoadOptions {
                sets: vec![],
                variants: vec![name.to_string()],
            },
        )
        .unwrap();
        let url = database(&format!("stall_{name}"));
        let _one = load_lock();
        let report = run_on(&s, Some(&url)).unwrap();
        assert_consistent(&report);
        let v = &report.variants[0];
        assert_eq!(v.operations.failed, 0, "{name}: {:?}", v.errors);
        slow.push((slower_than_500ms(v), v.operations.dropped));
    }
    eprintln!("slow and dropped (closed, open): {slow:?}");
    let (closed_slow, closed_dropped) = slow[0];
    let (open_slow, open_dropped) = slow[1];
    assert!(
        closed_slow <= 8,
        "a closed task is slow once per stall: {closed_slow}"
    );
    assert_eq!(closed_dropped, 0);
    assert!(
        open_slow >= 4 * closed_slow.max(1) && open_slow >= 20,
        "every arrival the stall delayed counts: open {open_slow} vs closed {closed_slow}"
    );
    assert!(
        open_dropped > 0,
        "arrivals beyond the 60 busy tasks are dropped"
    );
}

#[test]
fn server_timeouts_produce_their_classes() {
    let text = r#"
name = "timeouts"
[load]
tasks = 2
iterations = 2
[access]
session_settings = { statement_timeout = "100ms", idle_in_transaction_session_timeout = "150ms" }
[pool]
test_on_check_out = false
[[workload]]
name = "slow_statement"
[[workload.step]]
sql = "SELECT pg_sleep(0.5)"
[[variant]]
name = "statement"
[[variant]]
name = "idle in transaction"
workload = [{ name = "idle", transaction = true, step = [{ sql = "SELECT 1" }, { sleep = "600ms" }, { sql = "SELECT 2" }] }]
"#;
    let report = run_text("timeouts", text, &[]);
    assert_consistent(&report);
    let statement = variant(&report, "statement");
    assert_eq!(
        count(statement, ErrorClass::StatementTimeout),
        4,
        "{:?}",
        statement.errors
    );
    assert_eq!(
        statement.errors[&ErrorClass::StatementTimeout].sqlstates["57014"],
        4
    );
    let idle = variant(&report, "idle in transaction");
    assert_eq!(
        count(idle, ErrorClass::SessionTimeout),
        4,
        "{:?}",
        idle.errors
    );
}
