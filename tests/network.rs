//! The network proxy between the load and a real server: latency as asked, a blackhole that
//! `op_timeout` turns into `op_deadline_exceeded` and that the run recovers from, a reset
//! (`connection_closed`, and `commit_indeterminate` when COMMIT was in flight), the proxy down
//! (`connect_refused`), `idle_only` sparing connections in use, and `test_on_check_out`
//! replacing the idle connections a NAT dropped.

mod common;

use common::*;
use stress::record::errors::ErrorClass;
use stress::report::model::VariantReport;

fn count(v: &VariantReport, class: ErrorClass) -> u64 {
    v.errors.get(&class).map_or(0, |e| e.count)
}

/// Operations succeeded in a second that began at or after `after_ms`.
fn ok_after(v: &VariantReport, after_ms: u64) -> u64 {
    v.timeline
        .iter()
        .filter(|e| e.t_ms >= after_ms)
        .map(|e| e.ok)
        .sum()
}

#[test]
fn latency_adds_twice_itself_to_a_select_1_round_trip() {
    let text = r#"
name = "latency"
[load]
tasks = 1
duration = "3s"
[pool]
max_size = 1
test_on_check_out = false
[[workload]]
name = "select"
[[workload.step]]
sql = "SELECT 1"
[[variant]]
name = "direct"
[[variant]]
name = "away"
network.latency = "20ms"
"#;
    let report = run_text("net_latency", text, &[]);
    assert_consistent(&report);
    let p50 = |i: usize| report.variants[i].latency_ms.operation.p50;
    let added = p50(1) - p50(0);
    // 20 ms each way: 40 ms more per round trip, within ±20%.
    assert!(
        (32.0..=48.0).contains(&added),
        "direct p50 {} ms, through the proxy {} ms: {added} ms added",
        p50(0),
        p50(1)
    );
    assert!(
        report.variants[1].operations.ok > 20,
        "{:?}",
        report.variants[1].operations
    );
}

const POOLED: &str = r#"
name = "net"
[load]
tasks = 4
duration = "4s"
think_time = "20ms"
[pool]
max_size = 4
test_on_check_out = false
connection_timeout = "2s"
[[workload]]
name = "select"
[[workload.step]]
sql = "SELECT pg_sleep(0.01)"
"#;

#[test]
fn a_blackhole_with_op_timeout_gives_op_deadline_exceeded_and_recovers_after_it() {
    let text = format!(
        "{POOLED}[[fault]]\nkind = \"network\"\ntoxic = \"timeout\"\ntimeout = \"0s\"\n\
         at = \"1s\"\nfor = \"1s\"\n"
    );
    let report = run_text("net_blackhole", &text, &["load.op_timeout=\"300ms\""]);
    assert_consistent(&report);
    let v = &report.variants[0];
    assert!(
        count(v, ErrorClass::OpDeadlineExceeded) > 0,
        "{:?}",
        v.errors
    );
    assert_eq!(v.faults.len(), 1);
    assert_eq!(v.faults[0].kind, "network");
    assert!(
        v.faults[0].detail.starts_with("timeout on 4 of 4"),
        "{}",
        v.faults[0].detail
    );
    assert!(
        v.faults[0]
            .failed_next_1s
            .contains_key(&ErrorClass::OpDeadlineExceeded),
        "{:?}",
        v.faults[0].failed_next_1s
    );
    // Removed at 2 s: operations succeed again in the last second.
    assert!(ok_after(v, 3000) > 0, "{:?}", v.timeline);
}

#[test]
fn reset_peer_is_connection_closed() {
    let text = format!(
        "{POOLED}[[fault]]\nkind = \"network\"\ntoxic = \"reset_peer\"\nat = \"1s\"\nfor = \"200ms\"\n"
    );
    let report = run_text("net_reset", &text, &[]);
    assert_consistent(&report);
    let v = &report.variants[0];
    assert!(count(v, ErrorClass::ConnectionClosed) > 0, "{:?}", v.errors);
    assert!(ok_after(v, 2000) > 0, "{:?}", v.timeline);
}

/// Each transaction's COMMIT takes 1 s (a deferred constraint trigger sleeps in it) and the
/// tasks do not think between transactions, so at 1.5 s each task is in a COMMIT however late
/// it started. A failed task pauses 300 ms, past the 100 ms the reset stays: its next
/// connection is not reset while it opens.
const SLOW_COMMIT: &str = r#"
name = "commit"
[database]
setup = [
  "CREATE TABLE slow_commit (id bigserial PRIMARY KEY, v int)",
  "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$",
  "CREATE CONSTRAINT TRIGGER slow_at_commit AFTER INSERT ON slow_commit DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()",
]
teardown = ["DROP TABLE slow_commit", "DROP FUNCTION slow_commit()"]
[load]
tasks = 3
duration = "3500ms"
on_failure = { pause = "300ms" }
[pool]
max_size = 3
test_on_check_out = false
[[workload]]
name = "write"
transaction = true
verify = "acknowledged_writes"
[[workload.step]]
sql = "INSERT INTO slow_commit (v) VALUES (1)"
[[fault]]
kind = "network"
toxic = "reset_peer"
at = "1500ms"
for = "100ms"
"#;

#[test]
fn reset_peer_during_commit_is_commit_indeterminate() {
    let report = run_text("net_reset_commit", SLOW_COMMIT, &[]);
    assert_consistent(&report);
    let v = &report.variants[0];
    let indeterminate = count(v, ErrorClass::CommitIndeterminate);
    assert!(indeterminate > 0, "{:?}", v.errors);
    // A reset outside COMMIT is a plain connection_closed; nothing else fails.
    for class in v.errors.keys() {
        assert!(
            matches!(
                class,
                ErrorClass::CommitIndeterminate | ErrorClass::ConnectionClosed
            ),
            "{:?}",
            v.errors
        );
    }
    assert!(
        v.faults[0].detail.starts_with("reset_peer on 3 of 3"),
        "{}",
        v.faults[0].detail
    );
    assert!(
        v.faults[0]
            .failed_next_1s
            .contains_key(&ErrorClass::CommitIndeterminate),
        "{:?}",
        v.faults[0].failed_next_1s
    );
    // The ledger resolves each unknown outcome, and no acknowledged write is lost.
    let w = v
        .writes
        .as_ref()
        .expect("the acknowledged-writes check ran");
    assert_eq!(w.indeterminate, indeterminate);
    assert_eq!(
        w.indeterminate_committed + w.indeterminate_rolled_back,
        indeterminate
    );
    assert_eq!(w.lost, 0);
}

#[test]
fn down_refuses_new_connections_with_connect_refused() {
    let text = per_operation_select("down")
        + "[[fault]]\nkind = \"network\"\ntoxic = \"down\"\nat = \"1s\"\nfor = \"500ms\"\n";
    let report = run_text("net_down", &text, &[]);
    assert_consistent(&report);
    let v = &report.variants[0];
    assert!(count(v, ErrorClass::ConnectRefused) > 0, "{:?}", v.errors);
    assert!(
        v.faults[0].detail.starts_with("down:"),
        "{}",
        v.faults[0].detail
    );
    assert!(ok_after(v, 2000) > 0, "{:?}", v.timeline);
}

/// Two tasks hold their connections in a long statement while four more sit idle in the pool.
const IDLE_POOL: &str = r#"
name = "idle"
[load]
tasks = 2
duration = "4s"
op_timeout = "2s"
[pool]
max_size = 6
min_idle = 6
queue_strategy = "fifo"
connection_timeout = "1s"
[[workload]]
name = "sleep"
[[workload.step]]
sql = "SELECT pg_sleep(0.8)"
[[fault]]
kind = "network"
toxic = "timeout"
timeout = "0s"
at = "1200ms"
idle_only = true
"#;

#[test]
fn idle_only_blackholes_the_idle_connections_and_spares_those_in_use() {
    let report = run_text(
        "net_idle_only",
        IDLE_POOL,
        &["pool.test_on_check_out=false"],
    );
    assert_consistent(&report);
    let v = &report.variants[0];
    let detail = &v.faults[0].detail;
    assert!(
        detail.starts_with("timeout on 4 of 6 open connection(s)"),
        "{detail}"
    );
    assert!(detail.contains("2 in use spared"), "{detail}");
    // The statements in flight at 1.2 s end well and nothing fails in the second after.
    assert!(
        v.faults[0].failed_next_1s.is_empty(),
        "{:?}",
        v.faults[0].failed_next_1s
    );
    assert!(ok_after(v, 1000) >= 2, "{:?}", v.timeline);
}

#[test]
fn test_on_check_out_replaces_the_dropped_idle_connections() {
    let report = run_text(
        "net_idle_checked",
        IDLE_POOL,
        &["pool.test_on_check_out=true"],
    );
    assert_consistent(&report);
    let v = &report.variants[0];
    assert!(
        v.faults[0].detail.starts_with("timeout on 4 of 6"),
        "{}",
        v.faults[0].detail
    );
    assert_eq!(
        count(v, ErrorClass::OpDeadlineExceeded),
        0,
        "{:?}",
        v.errors
    );
    assert!(v.pool.connections_created > 6, "{:?}", v.pool);
    assert!(ok_after(v, 3000) > 0, "{:?}", v.timeline);
    // Review of 2026-12-03: a connection dropped for its check at check-out was counted again
    // as found broken when given back (four connections read as seven deaths).
    // They are counted once, as failed checks (bb8 counts none of the checks it cut).
    assert_eq!(v.pool.closed_broken, 0, "{:?}", v.pool);
    assert_eq!(v.pool.closed_invalid, Some(4), "{:?}", v.pool);
}
