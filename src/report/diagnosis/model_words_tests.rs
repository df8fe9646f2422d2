//! Issue 16: the diagnosis speaks in the pool model's own terms. For each model, a finding
//! that names settings names that library's keys (SQLAlchemy's `max_overflow`, asyncpg's
//! `max_queries`, psycopg_pool's `max_idle`), never bb8's; and `pool.unfair_waits` blames only
//! the pools that let a newcomer take a returned connection (bb8, SQLAlchemy's async queue),
//! not those that hand it to the oldest waiter (asyncpg, psycopg_pool).

use super::{Context, diagnose};
use crate::record::errors::ErrorClass;
use crate::report::fixtures::{self, settings};
use crate::report::model::{ErrorStats, Finding, TimelineEntry, VariantReport};
use crate::scenario::model::Settings;

fn find(r: &VariantReport, s: &Settings, class: &str) -> Option<Finding> {
    let cx = Context {
        settings: s,
        max_connections: 100,
        reserved_connections: 3,
        superuser: false,
    };
    diagnose(r, &cx).into_iter().find(|f| f.class == class)
}

/// A second of the timeline: `created` and `closed` connections, `in_use` sampled.
fn second(created: u64, closed: u64, in_use: u64) -> TimelineEntry {
    serde_json::from_value(serde_json::json!({
        "t_ms": 1000, "ok": 0, "failed": 0, "dropped": 0, "errors": {}, "p50": 0.0, "p99": 0.0,
        "hdr": "", "in_use": in_use, "idle": 0, "waiting": 0,
        "connections_created": created, "connections_closed": closed
    }))
    .unwrap()
}

/// 100 operations for which 20 connections were opened and 20 closed.
fn churned() -> VariantReport {
    let mut r = fixtures::variant("v", 100, 0, serde_json::json!({}));
    r.timeline = vec![second(20, 20, 1)];
    r
}

/// Up to 4 tasks waited, one of them 1.2 s while the p99 was 0.1 ms, and no fault fired.
fn starved() -> VariantReport {
    let mut r = fixtures::variant("v", 1000, 0, serde_json::json!({}));
    r.pool.peak_waiting = 4;
    r.latency_ms.acquire.p99 = 0.1;
    r.latency_ms.acquire.max = 1200.0;
    r
}

/// 3 operations that failed on a terminated backend, 2 of them on a connection that had died
/// while idle in the pool.
fn died_idle() -> VariantReport {
    let mut r = fixtures::variant("v", 100, 3, serde_json::json!({}));
    let stats = ErrorStats {
        count: 3,
        sqlstates: Default::default(),
        reasons: Default::default(),
        first_at_ms: 10,
        last_at_ms: 20,
        sample: "terminated".into(),
    };
    r.errors.insert(ErrorClass::AdminTerminated, stats);
    r.pool.died_idle = 2;
    r
}

/// Words of bb8 that must not appear in the advice of another model.
const BB8_ONLY: [&str; 5] = [
    "min_idle",
    "idle_timeout",
    "test_on_check_out",
    "connection_timeout",
    "bb8",
];

fn no_bb8_words(text: &str) {
    for word in BB8_ONLY {
        assert!(!text.contains(word), "bb8's {word} in: {text}");
    }
}

#[test]
fn bb8_keeps_its_own_words_and_its_unfair_waits() {
    let s = settings("[pool]\nmax_size = 10\n[load]\ntasks = 4");
    let mut r = churned();
    r.pool.closed_max_lifetime = Some(20);
    let f = find(&r, &s, "cost.connect").expect("churn");
    assert!(f.finding.contains("20 max_lifetime"), "{}", f.finding);
    assert!(
        f.advice.contains("idle_timeout (or set min_idle)"),
        "{}",
        f.advice
    );
    let f = find(&starved(), &s, "pool.unfair_waits").expect("bb8 lets a newcomer take it");
    assert!(
        f.finding.contains("bb8 hands a released connection"),
        "{}",
        f.finding
    );
    assert!(f.advice.contains("max_size of at least"), "{}", f.advice);
}

#[test]
fn sqlalchemy_findings_speak_of_pool_size_and_max_overflow() {
    let s = settings(
        "[pool]\nmodel = \"sqlalchemy\"\npool_size = 1\nmax_overflow = 1\n[load]\ntasks = 10",
    );
    // Tasks waited for a pool of 1 + 1: the advice grows pool_size + max_overflow.
    let mut r = fixtures::variant("v", 1000, 0, serde_json::json!({}));
    r.pool.peak_waiting = 8;
    r.latency_ms.acquire.mean = 2.0;
    r.latency_ms.operation.mean = 10.0;
    r.latency_ms.hold.mean = 8.0;
    r.timeline = vec![second(0, 0, 2)];
    let f = find(&r, &s, "cost.pool_wait").expect("waited");
    assert!(
        f.advice.contains("Raise pool_size + max_overflow to about"),
        "{}",
        f.advice
    );
    assert!(!f.advice.contains("max_size"), "{}", f.advice);
    // Overflow connections closed on return and reopened: the churn says so, and what to raise.
    let mut r = churned();
    r.pool.closed_overflow = Some(20);
    let f = find(&r, &s, "cost.connect").expect("overflow churn");
    assert!(
        f.finding
            .contains("20 overflow closed when given back (pool_size idle)"),
        "{}",
        f.finding
    );
    assert!(f.advice.contains("raise pool_size"), "{}", f.advice);
    assert!(!f.advice.contains("max_lifetime"), "{}", f.advice);
    no_bb8_words(&f.advice);
    // SQLAlchemy's async queue lets a newcomer barge: the long waits are its own.
    let f = find(&starved(), &s, "pool.unfair_waits").expect("SQLAlchemy barges");
    assert!(
        f.finding.contains("SQLAlchemy's async queue"),
        "{}",
        f.finding
    );
    no_bb8_words(&f.finding);
    assert!(
        f.advice.contains("pool_size + max_overflow of at least"),
        "{}",
        f.advice
    );
    let f = find(&died_idle(), &s, "admin_terminated").expect("the class");
    assert!(f.advice.contains("Turn on pool_pre_ping"), "{}", f.advice);
}

#[test]
fn asyncpg_findings_speak_of_max_queries_and_it_has_no_pre_ping() {
    let s = settings("[pool]\nmodel = \"asyncpg\"\nmin_size = 1\nmax_size = 10\n[load]\ntasks = 4");
    // asyncpg's max_queries closes are counted with the closes for age.
    let mut r = churned();
    r.pool.closed_max_lifetime = Some(20);
    let f = find(&r, &s, "cost.connect").expect("churn");
    assert!(f.finding.contains("20 max_queries"), "{}", f.finding);
    assert!(!f.finding.contains("max_lifetime"), "{}", f.finding);
    assert!(f.advice.contains("raise max_queries"), "{}", f.advice);
    no_bb8_words(&f.advice);
    // FIFO for waiters: a long wait is not a barging pool's.
    assert!(find(&starved(), &s, "pool.unfair_waits").is_none());
    let f = find(&died_idle(), &s, "admin_terminated").expect("the class");
    assert!(
        f.advice.contains("asyncpg has no check at acquire"),
        "{}",
        f.advice
    );
    assert!(!f.advice.contains("Turn on"), "{}", f.advice);
    no_bb8_words(&f.advice);
}

#[test]
fn psycopg_findings_speak_of_min_size_and_max_idle() {
    let s = settings("[pool]\nmodel = \"psycopg\"\nmin_size = 8\nmax_size = 10\n[load]\ntasks = 4");
    let mut r = fixtures::variant("v", 100, 0, serde_json::json!({}));
    r.pool.peak_in_use = 2;
    let f = find(&r, &s, "cost.oversized").expect("oversized");
    assert!(
        f.finding.contains("min_size kept 8 open, 6 more"),
        "{}",
        f.finding
    );
    assert!(f.advice.contains("max_size near 2"), "{}", f.advice);
    no_bb8_words(&f.finding);
    let mut r = churned();
    r.pool.closed_idle_timeout = Some(20);
    let f = find(&r, &s, "cost.connect").expect("churn");
    assert!(f.finding.contains("20 max_idle"), "{}", f.finding);
    assert!(
        f.advice.contains("lengthen max_lifetime and max_idle"),
        "{}",
        f.advice
    );
    no_bb8_words(&f.advice);
    // The hand-over to the oldest waiter: no unfair waits.
    assert!(find(&starved(), &s, "pool.unfair_waits").is_none());
    let f = find(&died_idle(), &s, "admin_terminated").expect("the class");
    assert!(
        f.advice.contains("Turn on check = \"check_connection\""),
        "{}",
        f.advice
    );
}
