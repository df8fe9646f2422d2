//! The shipped scenarios run end to end (shortened), keep the report's invariants (timeline sums
//! equal totals), and show what their comment blocks promise.

mod common;

use common::*;
use stress::record::errors::ErrorClass;
use stress::report::Report;
use stress::report::model::VariantReport;

fn count(v: &VariantReport, class: ErrorClass) -> u64 {
    v.errors.get(&class).map_or(0, |e| e.count)
}

fn shipped(file: &str, db: Option<&str>, sets: &[&str]) -> Report {
    let text = std::fs::read_to_string(format!("scenarios/{file}.toml")).unwrap();
    let s = scenario(&text, sets);
    let url = db.map(database);
    let _one = load_lock();
    let report = run_on(&s, url.as_deref()).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_consistent(&report);
    assert_eq!(report.variants.len(), s.variants.len(), "every variant ran");
    report
}

#[test]
fn pool_closed_race_shows_the_race_and_the_fix() {
    let r = shipped(
        "pool-closed-race",
        Some("s_pool_closed_race"),
        &["load.duration=2s"],
    );
    for n in [1, 3, 5] {
        let race = variant(&r, &format!("race, {n} concurrent"));
        assert!(
            count(race, ErrorClass::PoolClosed) > 0,
            "race {n}: {:?}",
            race.errors
        );
        assert_eq!(race.faults.len(), 1);
        let drain = variant(&r, &format!("drain, {n} concurrent"));
        assert_eq!(drain.pool.cut_by_close, 0, "drain {n} cuts nothing");
    }
    let race5 = variant(&r, "race, 5 concurrent");
    assert!(
        race5.pool.cut_by_close > 0,
        "held connections are cut under their users"
    );
    for n in [3, 5] {
        // psycopg_pool's own close: held analyses finish, acquires fail in its words.
        let v = variant(&r, &format!("psycopg close, {n} concurrent"));
        assert_eq!(v.settings.json()["pool"]["model"], "psycopg");
        let closed = v.errors.get(&ErrorClass::PoolClosed).expect("pool_closed");
        assert!(
            closed
                .sample
                .starts_with("psycopg_pool.PoolClosed: the pool 'pool-1' is"),
            "{}",
            closed.sample
        );
        assert_eq!(v.pool.cut_by_close, 0, "psycopg's close cuts nothing");
    }
    let swap = variant(&r, "swap, 5 concurrent");
    assert!(
        swap.errors.is_empty(),
        "the atomic swap fails nothing: {:?}",
        swap.errors
    );
    assert!(swap.operations.ok > 0);
}

#[test]
fn pool_sizing_shows_timeouts_on_the_small_pool_only() {
    let r = shipped(
        "pool-sizing",
        Some("s_pool_sizing"),
        &["load.duration=3s", "load.warmup=0s"],
    );
    for name in ["5+10, pre-ping", "5+10, no pre-ping"] {
        let v = variant(&r, name);
        assert!(
            count(v, ErrorClass::PoolTimeout) > 0,
            "{name}: {:?}",
            v.errors
        );
        assert_eq!(v.pool.peak_in_use, 15, "{name}");
    }
    for name in ["20+30, pre-ping", "20+30, no pre-ping"] {
        let v = variant(&r, name);
        assert_eq!(
            count(v, ErrorClass::PoolTimeout),
            0,
            "{name}: {:?}",
            v.errors
        );
        assert!(
            v.latency_ms.acquire.p50 < 100.0,
            "{name}: acquires do not queue"
        );
    }
    // SQLAlchemy's own QueuePool: the small one times out in SQLAlchemy's words.
    let small = variant(&r, "sqlalchemy 5+10, pre-ping");
    assert_eq!(small.settings.json()["pool"]["model"], "sqlalchemy");
    let timeout = small
        .errors
        .get(&ErrorClass::PoolTimeout)
        .expect("pool_timeout");
    assert!(
        timeout.sample.contains(
            "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 1.00"
        ),
        "{}",
        timeout.sample
    );
    assert_eq!(small.pool.peak_in_use, 15);
    // SQLAlchemy's overflow closes are counted in the report (issue 16); bb8 has none.
    assert!(small.pool.closed_overflow.is_some(), "{:?}", small.pool);
    assert_eq!(variant(&r, "5+10, pre-ping").pool.closed_overflow, None);
    let large = variant(&r, "sqlalchemy 20+30, pre-ping");
    assert_eq!(
        count(large, ErrorClass::PoolTimeout),
        0,
        "{:?}",
        large.errors
    );
    for v in &r.variants {
        assert!(!v.faults.is_empty(), "{}: backends were terminated", v.name);
        assert!(
            v.faults[0].detail.starts_with("terminated"),
            "{}",
            v.faults[0].detail
        );
    }
}

/// Incident 001: its error came from a session shared by concurrent coroutines, and its fix, a
/// larger pool, changes nothing; a session per task does.
#[test]
fn a_shared_session_fails_whatever_the_pool_and_a_session_per_task_does_not() {
    let r = shipped(
        "session-shared-across-tasks",
        Some("s_session_shared"),
        &["load.duration=1500ms"],
    );
    for name in ["session shared, pool 5+10", "session shared, pool 20+30"] {
        let v = variant(&r, name);
        assert!(
            count(v, ErrorClass::OperationInProgress) > 0,
            "{name}: {:?}",
            v.errors
        );
        assert!(!v.verdict.pass, "{name}: the gate fails");
        let peak = v.pool.peak_in_use;
        assert!(
            (1..=4).contains(&peak),
            "{name}: {peak} in use on four shared sessions"
        );
    }
    let fixed = variant(&r, "session per task, pool 5+10");
    assert!(fixed.errors.is_empty(), "{:?}", fixed.errors);
    assert!(fixed.verdict.pass);
}

#[test]
fn too_many_connections_shows_the_refusals_and_the_fix() {
    // Its own server with max_connections = 100, as the scenario says.
    let r = shipped("too-many-connections", None, &["load.duration=3s"]);
    let over = variant(&r, "4 x 30");
    assert!(
        count(over, ErrorClass::TooManyConnections) > 0,
        "{:?}",
        over.errors
    );
    assert_eq!(count(over, ErrorClass::PoolTimeout), 0, "{:?}", over.errors);
    assert_eq!(r.database.max_connections, 100);
    let fixed = variant(&r, "4 x 24");
    assert!(fixed.errors.is_empty(), "{:?}", fixed.errors);
}

#[test]
fn connect_per_request_pays_a_connection_per_operation() {
    let r = shipped(
        "connect-per-request",
        Some("s_connect_per_request"),
        &["load.duration=1500ms", "load.warmup=0s"],
    );
    let per_request = variant(&r, "connection per request");
    let pool = variant(&r, "pool of 5..20");
    assert!(per_request.errors.is_empty() && pool.errors.is_empty());
    assert!(per_request.pool.connections_created >= per_request.operations.total);
    assert!(pool.pool.connections_created <= 20);
    let asyncpg = variant(&r, "asyncpg pool of 5..20");
    assert_eq!(asyncpg.settings.json()["pool"]["model"], "asyncpg");
    assert!(asyncpg.errors.is_empty(), "{:?}", asyncpg.errors);
    assert!(asyncpg.pool.connections_created <= 20);
    assert!(
        per_request.latency_ms.acquire.p50 > 10.0 * pool.latency_ms.acquire.p50.max(0.01),
        "connecting costs more than taking a pooled connection: {} vs {}",
        per_request.latency_ms.acquire.p50,
        pool.latency_ms.acquire.p50
    );
}

#[test]
fn connect_per_request_tls_connects_every_variant_with_tls_where_asked() {
    // Its own embedded servers: one plain, one with `ssl = true` (hostssl-only: had a TLS
    // variant connected in plain, the server would have refused it).
    let r = shipped(
        "connect-per-request-tls",
        None,
        &["load.duration=1500ms", "load.warmup=0s"],
    );
    for v in &r.variants {
        assert!(v.errors.is_empty(), "{}: {:?}", v.name, v.errors);
        assert!(v.operations.ok > 0, "{}", v.name);
    }
    for name in [
        "plain, connection per request",
        "TLS, connection per request",
        "TLS 1 ms away, connection per request",
    ] {
        let per_request = variant(&r, name);
        assert!(per_request.pool.connections_created >= per_request.operations.total);
    }
    assert!(variant(&r, "TLS, pool of 5..20").pool.connections_created <= 20);
}

#[test]
fn shared_transactions_lose_acknowledged_writes_and_the_pool_does_not() {
    let r = shipped(
        "shared-transactions",
        Some("s_shared_transactions"),
        &["load.duration=2s"],
    );
    let shared = variant(&r, "shared pipelined");
    let pool = variant(&r, "pool of 6");
    let sw = shared.writes.as_ref().expect("verified");
    assert!(
        sw.lost > 0 || shared.anomalies.transaction_interleaved > 0,
        "lost writes or interleaving evidence: {sw:?} {:?}",
        shared.anomalies
    );
    assert!(shared.isolation.max_operations_per_backend > 1);
    let pw = pool.writes.as_ref().expect("verified");
    assert_eq!(pw.lost, 0, "{pw:?}");
    assert_eq!(pool.anomalies.lost_writes, Some(0));
    assert_eq!(pool.anomalies.transaction_interleaved, 0);
    assert_eq!(pool.isolation.max_operations_per_backend, 1);
    if sw.lost > 0 {
        let f = shared
            .diagnosis
            .iter()
            .find(|f| f.class == "anomalies.lost_writes")
            .unwrap();
        assert!(
            f.finding
                .contains(&format!("{} of {} writes", sw.lost, sw.acknowledged)),
            "{}",
            f.finding
        );
    }
}

#[test]
fn crud_transactions_retries_through_terminated_backends() {
    let r = shipped(
        "crud-transactions",
        Some("s_crud_transactions"),
        &["load.duration=3s", "load.warmup=0s"],
    );
    let v = &r.variants[0];
    assert!(!v.faults.is_empty(), "backends were terminated");
    let w = v.writes.as_ref().expect("chat history saves are verified");
    assert_eq!(w.lost, 0, "{w:?}");
    assert_eq!(w.phantom, 0, "{w:?}");
    assert!(v.latency_ms.by_workload.contains_key("search_documents"));
    assert!(v.latency_ms.by_workload["health_check"].count > 0);
}

#[test]
fn idle_connections_dropped_shows_what_each_defence_costs() {
    let r = shipped(
        "idle-connections-dropped",
        Some("s_idle_connections_dropped"),
        &["load.duration=\"7s\""],
    );
    for v in &r.variants {
        let detail = &v.faults[0].detail;
        assert!(detail.starts_with("timeout on "), "{}: {detail}", v.name);
        assert!(detail.contains("idle ones only"), "{}: {detail}", v.name);
    }
    // Without a defence, operations on dropped connections wait until the network closes them.
    let none = variant(&r, "no defence");
    assert!(
        count(none, ErrorClass::ConnectionClosed) > 0,
        "{:?}",
        none.errors
    );
    assert!(
        none.latency_ms.failed.max > 3000.0,
        "{:?}",
        none.latency_ms.failed
    );
    // The check on check-out replaces them: no operation meets a dropped connection, and what
    // fails (the acquires whose check got no reply) fails after connection_timeout (1 s), not
    // after the network's 4 s.
    let checked = variant(&r, "test_on_check_out");
    assert!(checked.pool.connections_created > 8, "{:?}", checked.pool);
    assert_eq!(
        count(checked, ErrorClass::ConnectionClosed),
        0,
        "{:?}",
        checked.errors
    );
    assert!(
        checked.latency_ms.failed.max < 3000.0,
        "{:?}",
        checked.latency_ms.failed
    );
    // The deadline bounds each wait.
    let deadline = variant(&r, "op_timeout");
    assert!(
        count(deadline, ErrorClass::OpDeadlineExceeded) > 0,
        "{:?}",
        deadline.errors
    );
    assert!(
        deadline.latency_ms.failed.max < 3000.0,
        "{:?}",
        deadline.latency_ms.failed
    );
}

#[test]
fn pool_sizing_over_the_network_holds_connections_longer_as_latency_grows() {
    let r = shipped(
        "pool-sizing-over-the-network",
        Some("s_pool_sizing_network"),
        &["load.duration=\"3s\"", "load.warmup=\"0s\""],
    );
    let hold = |name: &str| variant(&r, name).latency_ms.hold.p50;
    // Five round trips inside the hold (BEGIN, SELECT, INSERT, UPDATE, COMMIT), 10 ms each at
    // 5 ms of latency: 50 ms more, at least 40.
    let added = hold("5 ms away") - hold("loopback");
    assert!(added >= 40.0, "hold p50 grew by {added} ms");
    assert!(hold("1 ms away") > hold("loopback"));
}

#[test]
fn pgbouncer_transaction_mode_breaks_named_statements_only() {
    if !pgbouncer::available("pgbouncer_transaction_mode_breaks_named_statements_only") {
        return;
    }
    let r = shipped(
        "pgbouncer-transaction-mode",
        Some("s_pgbouncer_transaction_mode"),
        &["load.duration=1500ms"],
    );
    let named = variant(&r, "prepared, transaction pooling");
    assert!(
        count(named, ErrorClass::PreparedStatementMismatch) > 0,
        "{:?}",
        named.errors
    );
    for name in [
        "unnamed, transaction pooling",
        "prepared, session pooling",
        "application pool only",
    ] {
        let v = variant(&r, name);
        assert!(
            v.errors.is_empty() && v.operations.ok > 0,
            "{name}: {:?}",
            v.errors
        );
    }
    let session = variant(&r, "prepared, session pooling");
    let unnamed = variant(&r, "unnamed, transaction pooling");
    let sv = |v: &VariantReport| v.pooler.as_ref().map(|p| p.peak_sv_active);
    assert!(sv(unnamed) <= Some(4), "{:?}", unnamed.pooler);
    assert!(
        sv(session) > sv(unnamed),
        "session pooling uses a server connection per client"
    );
    assert!(variant(&r, "application pool only").pooler.is_none());
}
