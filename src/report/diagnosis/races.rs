//! Findings for the races a pool does not fix (issue 15): tasks cancelled while holding a
//! connection (with the class `task_cancelled`), session state leaked between users of a
//! pooled connection, advisory locks taken and released on different checkouts, and resets on
//! return that failed. Each quotes this run's figures; the advice follows from them and from
//! the variant's `pool.reset_on_return`.

use super::{Context, pct};
use crate::report::model::{Finding, VariantReport};
use crate::scenario::model::ResetOnReturn;

pub(crate) fn findings(r: &VariantReport, cx: &Context<'_>) -> Vec<Finding> {
    [
        session_state_leaked(r, cx),
        advisory_locks(r),
        reset_failures(r, cx),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn reset_name(cx: &Context<'_>) -> &'static str {
    match cx.settings.pool.reset_on_return {
        ResetOnReturn::None => "none",
        ResetOnReturn::Rollback => "rollback",
        ResetOnReturn::DiscardAll => "discard_all",
    }
}

/// What the next users of the connections met, as `3 ok, 2 in_failed_transaction`.
fn next_users(r: &VariantReport) -> String {
    let met: Vec<String> = (r.isolation.after_dirty_return.iter())
        .map(|(what, n)| format!("{n} {what}"))
        .collect();
    if met.is_empty() {
        "none of them inherited a transaction".into()
    } else {
        format!(
            "their next users inherited the transaction and met: {}",
            met.join(", ")
        )
    }
}

/// The detail and advice of the class `task_cancelled`.
pub(crate) fn task_cancelled(r: &VariantReport, cx: &Context<'_>) -> (String, String) {
    let c = r.cancelled_tasks.clone().unwrap_or_default();
    let lost = r.writes.as_ref().map_or(0, |w| w.lost);
    let phantom = r.writes.as_ref().map_or(0, |w| w.phantom);
    let mut detail = format!(
        "cancel_tasks dropped {} operation(s) holding a connection: {} went back to the pool inside an \
         open transaction, {} with a statement in flight; {} (pool.reset_on_return = {}, {} reset(s) sent).",
        c.cancelled,
        c.in_transaction,
        c.statement_in_flight,
        next_users(r),
        reset_name(cx),
        r.pool.resets.unwrap_or(0)
    );
    if lost > 0 || phantom > 0 {
        detail.push_str(&format!(
            " The acknowledged-writes check found {lost} acknowledged write(s) lost (rolled back with a \
             transaction another operation had left open) and {phantom} write(s) reported failed that \
             were committed by someone else's COMMIT."
        ));
    }
    let dirty = !r.isolation.after_dirty_return.is_empty() || lost > 0 || phantom > 0;
    let advice = if cx.settings.pool.reset_on_return == ResetOnReturn::None && dirty {
        "Reset a connection before it goes back to the pool: pool.reset_on_return = \"rollback\" \
         (SQLAlchemy's default; PgBouncer's server_reset_query), or discard a connection whose \
         operation was cancelled mid-statement; with it, no next user inherits a transaction."
            .to_string()
    } else {
        "The cancelled operations' own work is rolled back and the client never learns its fate: \
         make requests idempotent so a cancelled one can be retried."
            .to_string()
    };
    (detail, advice)
}

fn session_state_leaked(r: &VariantReport, cx: &Context<'_>) -> Option<Finding> {
    let n = r.anomalies.session_state_leaked.filter(|n| *n > 0)?;
    let ops = r
        .latency_ms
        .by_workload
        .values()
        .map(|l| l.count)
        .sum::<u64>();
    let reset = cx.settings.pool.reset_on_return;
    // Review of 2026-12-03: in shared mode there is no pool, and its reset was advised.
    if cx.settings.access.mode == crate::scenario::model::AccessMode::Shared {
        return Some(Finding {
            class: "anomalies.session_state_leaked".into(),
            finding: format!(
                "{n} operation(s) ({} of the {ops} that succeeded) found another task's session \
                 mark: the tasks share one session (access.mode = \"shared\"), so a SET, a \
                 temporary table or a PREPAREd statement of one is every other's.",
                pct(n, ops)
            ),
            advice: "Give each task a session of its own (access.mode = \"pool\", one connection \
                     per operation in flight), or keep session state out of it: SET LOCAL inside \
                     a transaction."
                .into(),
        });
    }
    let advice = match reset {
        ResetOnReturn::Rollback => {
            "ROLLBACK does not undo a session-level SET: use pool.reset_on_return = \"discard_all\", or \
             SET LOCAL inside a transaction."
        }
        _ => {
            "Use SET LOCAL inside a transaction (it ends with it), or reset the session on return: \
             pool.reset_on_return = \"discard_all\" (DISCARD ALL also drops temporary tables, prepared \
             statements and LISTENs; prepared statements are then prepared again at their next use)."
        }
    };
    Some(Finding {
        class: "anomalies.session_state_leaked".into(),
        finding: format!(
            "{n} operation(s) ({} of the {ops} that succeeded) found another task's session mark \
             (a SET of stress.mark or of search_path, not SET LOCAL, a temporary table, a PREPAREd \
             statement or a LISTEN): session state left by one user of a pooled connection was seen by \
             the next (pool.reset_on_return = {}).",
            pct(n, ops),
            reset_name(cx)
        ),
        advice: advice.into(),
    })
}

fn advisory_locks(r: &VariantReport) -> Option<Finding> {
    let failed = r.anomalies.advisory_unlock_failed.unwrap_or(0);
    let held = r.anomalies.advisory_locks_held.unwrap_or(0);
    if failed == 0 && held == 0 {
        return None;
    }
    let class = if failed > 0 {
        "anomalies.advisory_unlock_failed"
    } else {
        "anomalies.advisory_locks_held"
    };
    Some(Finding {
        class: class.into(),
        finding: format!(
            "{failed} pg_advisory_unlock call(s) returned false (the lock had been taken on another pooled \
             connection) and this run's backends still held {held} advisory lock(s) when the load ended. \
             A session-level advisory lock belongs to the connection, not to the code that took it: {}",
            if held > 0 {
                "it stays held while that connection idles in the pool, and the next pg_advisory_lock of the \
                 same key from another connection waits forever (the next deploy hangs)."
            } else {
                "here the reset on return released the locks left behind, not their owner's unlock; until \
                 then another connection's lock of the same key waited."
            }
        ),
        advice: "Take the lock with pg_advisory_xact_lock inside a transaction on one checkout (COMMIT or \
                 ROLLBACK releases it), or lock and unlock on the same checkout; pool.reset_on_return = \
                 \"discard_all\" releases what was left behind."
            .into(),
    })
}

fn reset_failures(r: &VariantReport, cx: &Context<'_>) -> Option<Finding> {
    if r.pool.reset_failures.is_empty() {
        return None;
    }
    let parts: Vec<String> = (r.pool.reset_failures.iter())
        .map(|(class, n)| format!("{n} {class}"))
        .collect();
    Some(Finding {
        class: "pool.reset_failed".into(),
        finding: format!(
            "Resets on return (pool.reset_on_return = {}) failed: {}; each such connection was discarded \
             instead of going back to the pool.",
            reset_name(cx),
            parts.join(", ")
        ),
        advice: "A reset fails when the connection died under it or a transaction block refused it: see the \
                 classes; the pool opens new connections in their place."
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;
    use crate::report::races::CancelledTasks;

    fn context(settings: &crate::scenario::model::Settings) -> Context<'_> {
        Context {
            settings,
            max_connections: 100,
            reserved_connections: 3,
            superuser: false,
        }
    }

    #[test]
    fn the_session_advice_follows_the_reset_in_place() {
        let mut v = fixtures::variant("v", 10, 0, serde_json::json!({}));
        v.anomalies.session_state_leaked = Some(0);
        let none = fixtures::settings("");
        assert!(findings(&v, &context(&none)).is_empty(), "0 is no finding");
        v.anomalies.session_state_leaked = Some(7);
        let f = &findings(&v, &context(&none))[0];
        assert_eq!(f.class, "anomalies.session_state_leaked");
        assert!(f.finding.starts_with("7 operation(s)"), "{}", f.finding);
        assert!(f.advice.contains("SET LOCAL"), "{}", f.advice);
        let rollback = fixtures::settings("[pool]\nreset_on_return = \"rollback\"");
        let f = &findings(&v, &context(&rollback))[0];
        assert!(
            f.advice.starts_with("ROLLBACK does not undo"),
            "{}",
            f.advice
        );
    }

    #[test]
    fn the_cancel_advice_asks_for_a_reset_only_when_a_next_user_met_the_leftovers() {
        let mut v = fixtures::variant("v", 10, 3, serde_json::json!({}));
        v.cancelled_tasks = Some(CancelledTasks {
            cancelled: 3,
            in_transaction: 2,
            statement_in_flight: 1,
        });
        let none = fixtures::settings("");
        let (detail, advice) = task_cancelled(&v, &context(&none));
        assert!(detail.contains("3 operation(s)"), "{detail}");
        assert!(detail.contains("none of them inherited"), "{detail}");
        assert!(advice.contains("idempotent"), "{advice}");
        v.isolation.after_dirty_return.insert("ok".into(), 2);
        let (detail, advice) = task_cancelled(&v, &context(&none));
        assert!(detail.contains("met: 2 ok"), "{detail}");
        assert!(
            advice.contains("reset_on_return = \"rollback\""),
            "{advice}"
        );
    }

    #[test]
    fn advisory_locks_left_behind_are_a_finding_even_without_failed_unlocks() {
        let mut v = fixtures::variant("v", 10, 0, serde_json::json!({}));
        let none = fixtures::settings("");
        v.anomalies.advisory_locks_held = Some(0);
        assert!(findings(&v, &context(&none)).is_empty());
        v.anomalies.advisory_locks_held = Some(4);
        let f = &findings(&v, &context(&none))[0];
        assert_eq!(f.class, "anomalies.advisory_locks_held");
        assert!(f.finding.contains("still held 4"), "{}", f.finding);
        assert!(f.finding.contains("waits forever"), "{}", f.finding);
    }
}
