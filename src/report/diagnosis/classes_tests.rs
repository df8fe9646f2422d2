//! The class findings' texts and advice, on fixture reports.

use super::*;
use crate::report::fixtures;

fn settings(extra: &str) -> Settings {
    let text = format!(
        "name = \"d\"\n[pool]\ntest_on_check_out = false\n{extra}\n[[workload]]\nname = \"w\"\n\
         [[workload.step]]\nsql = \"SELECT 1\"\n"
    );
    crate::scenario::load_str(std::path::Path::new("d.toml"), &text, &Default::default())
        .unwrap()
        .variants[0]
        .settings
        .clone()
}

/// Regression: with retries, `died_idle` counts tries that were retried and succeeded, and
/// the finding said "22 of these 1 failures".
#[test]
fn dead_idle_connections_are_tries_not_failures_when_retried() {
    let mut r = fixtures::variant("v", 100, 1, serde_json::json!({}));
    r.pool.died_idle = 22;
    let cx = |s| Context {
        settings: s,
        max_connections: 100,
        reserved_connections: 3,
        superuser: true,
    };
    let retried = settings("[load]\nretry = { on = [\"admin_terminated\"], max_tries = 3 }");
    let (detail, _) = connection_lost(1, &r, &cx(&retried));
    assert!(
        detail.contains("22 tries (retried ones included) met a reused connection"),
        "{detail}"
    );
    r.pool.died_idle = 1;
    let plain = settings("");
    let (detail, _) = connection_lost(1, &r, &cx(&plain));
    assert!(
        detail.contains("1 of these 1 failures hit a reused connection"),
        "{detail}"
    );
}

/// Regression (review of 2026-12-03): a pool closed for good (a shutdown) was advised to be
/// replaced atomically, as a rebuilt one.
#[test]
fn a_pool_closed_for_good_is_advised_as_a_shutdown() {
    let close = "[[fault]]\nkind = \"close_pool\"\nat = \"1s\"\n";
    let rebuilt = settings(&format!("{close}reopen_after = \"200ms\""));
    assert!(pool_closed_advice(&rebuilt).contains("replace it atomically"));
    let for_good = settings(close);
    let advice = pool_closed_advice(&for_good);
    assert!(advice.contains("stop taking requests"), "{advice}");
}

/// Review of 2026-12-03: deadlines that passed in the acquire while every connect was
/// refused were said to have maybe run on the server, with statement_timeout as advice.
#[test]
fn a_deadline_passed_while_connects_failed_names_the_connects() {
    let s = settings("[load]\nop_timeout = \"500ms\"");
    let cx = Context {
        settings: &s,
        max_connections: 100,
        reserved_connections: 3,
        superuser: true,
    };
    let mut r = fixtures::variant("v", 100, 8, serde_json::json!({}));
    let (detail, advice) = op_deadline(&r, &cx);
    assert!(detail.contains("may still have run them"), "{detail}");
    assert!(advice.contains("statement_timeout"), "{advice}");
    r.pool.connect_errors.insert(ErrorClass::ConnectRefused, 8);
    let (detail, advice) = op_deadline(&r, &cx);
    assert!(
        detail.contains("while 8 connect attempt(s) failed (connect_refused 8)"),
        "{detail}"
    );
    assert!(!advice.contains("statement_timeout"), "{advice}");
}

fn cx(s: &Settings) -> Context<'_> {
    Context {
        settings: s,
        max_connections: 100,
        reserved_connections: 3,
        superuser: true,
    }
}

/// `failed` operations of `class`, all of them, or none, inside a network fault's window.
fn failed_in_window(class: ErrorClass, failed: u64, inside: bool) -> VariantReport {
    use crate::report::failures::FaultEffect;
    use crate::report::model::{ErrorStats, FaultEvent};
    let mut r = fixtures::variant("v", 100, failed, serde_json::json!({}));
    let stats = ErrorStats {
        count: failed,
        sqlstates: Default::default(),
        reasons: Default::default(),
        first_at_ms: 1000,
        last_at_ms: 2000,
        sample: String::new(),
    };
    r.errors.insert(class, stats);
    if inside {
        r.faults.push(FaultEvent {
            kind: "network".into(),
            at_ms: 900,
            scheduled_ms: 900,
            in_flight: 0,
            failed_next_1s: Default::default(),
            detail: String::new(),
            effect: Some(FaultEffect {
                errors: [(class, failed)].into(),
                ..FaultEffect::default()
            }),
        });
    }
    r
}

/// Review of 2026-12-03: pool timeouts behind a network blackhole were answered with
/// "raise max_size".
#[test]
fn pool_timeouts_inside_a_fault_window_are_not_a_pool_size() {
    let s = settings("max_size = 4\n[load]\ntasks = 4");
    let r = failed_in_window(ErrorClass::PoolTimeout, 8, false);
    let (_, advice) = pool_timeout(&r, &cx(&s));
    assert!(advice.contains("raise max_size"), "{advice}");
    let r = failed_in_window(ErrorClass::PoolTimeout, 8, true);
    let (detail, advice) = pool_timeout(&r, &cx(&s));
    assert!(
        detail.contains("8 of them came inside the window of a fault (network)"),
        "{detail}"
    );
    assert!(!advice.contains("raise max_size"), "{advice}");
}

/// Review of 2026-12-03: deadlines behind a network fault were answered with "use
/// statement_timeout instead", which cannot reach a client the network cut off.
#[test]
fn deadlines_inside_a_network_fault_are_the_defence_working() {
    let s = settings("[load]\nop_timeout = \"500ms\"");
    let r = failed_in_window(ErrorClass::OpDeadlineExceeded, 4, true);
    let (detail, advice) = op_deadline(&r, &cx(&s));
    assert!(
        detail.contains("4 came inside the window of a fault (network)"),
        "{detail}"
    );
    assert!(!advice.contains("statement_timeout"), "{advice}");
}

/// Review of 2026-12-03: with `load.retry` already on serialization_failure, the advice was to
/// set it.
#[test]
fn a_retry_already_set_is_not_advised_again() {
    let r = fixtures::variant("v", 100, 3, serde_json::json!({}));
    let plain = settings("");
    let cx = |s| Context {
        settings: s,
        max_connections: 100,
        reserved_connections: 3,
        superuser: true,
    };
    let (_, advice) = retryable(ErrorClass::SerializationFailure, &r, &cx(&plain));
    assert!(
        advice.contains("load.retry = { on = [\"serialization_failure\"]"),
        "{advice}"
    );
    let retried = settings(
        "[load]\nretry = { on = [\"serialization_failure\", \"deadlock_detected\"], max_tries = 3 }",
    );
    let (_, advice) = retryable(ErrorClass::SerializationFailure, &r, &cx(&retried));
    assert!(!advice.contains("load.retry = {"), "{advice}");
    assert!(advice.contains("The retries are on"), "{advice}");
}
