//! What the executor checks for the built-in workloads of the races a pool does not fix (see
//! `plan/builtins.rs`): the session mark an operation found, and the advisory unlock that runs
//! on a second checkout.

use std::sync::atomic::Ordering;

use crate::access::{Lease, TaskAccess};
use crate::record::errors::OpError;

use super::params::Draw;
use crate::scenario::plan::builtins::MARK_KINDS;
use crate::scenario::plan::{Step, Workload};
use crate::value::Value;

/// `session_state`: whether any of the marks found (from `found` on, one per kind of
/// [`MARK_KINDS`], each the task numbers found, comma-separated) is another task's.
pub(crate) fn leaked(found: &[Value], task: u64) -> bool {
    let mine = task.to_string();
    let foreign = |t: &str| t.split(',').any(|m| !m.is_empty() && m != mine);
    found.iter().take(MARK_KINDS.len()).any(|v| match v {
        Value::Text(t) => foreign(t),
        Value::Int(n) => n.to_string() != mine,
        _ => false,
    })
}

/// `session_state`: counts the operation if it found a mark of another task.
pub(crate) fn check_session_marks(lease: &Lease<'_>, found: &[Value], task: u64) {
    if leaked(found, task) {
        lease
            .gauges()
            .races
            .session_state_leaked
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// `advisory_lock`: the operation's first checkout took the lock and was given back; the
/// unlock runs on a checkout of its own, as code that takes a pool connection per call does.
/// An unlock that returns false (the lock was taken by another session) is counted.
pub(crate) async fn unlock_on_next_checkout(
    access: &mut TaskAccess,
    workload: &Workload,
    draw: &mut Draw<'_>,
    slots: &mut [Value],
) -> Result<(), OpError> {
    let Some((
        Step::Sql {
            statement,
            params,
            captures,
        },
        slot,
    )) = &workload.unlock
    else {
        return Ok(());
    };
    let lease = access.acquire().await?;
    let values: Vec<Value> = params.iter().map(|p| draw.value(p, slots)).collect();
    lease.execute(*statement, &values, captures, slots).await?;
    let unlocked = match &slots[*slot] {
        Value::Bool(b) => *b,
        Value::Text(t) => t == "t" || t == "true",
        _ => true,
    };
    if !unlocked {
        lease
            .gauges()
            .races
            .advisory_unlock_failed
            .fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(found: &[&str]) -> Vec<Value> {
        found.iter().map(|t| Value::Text(t.to_string())).collect()
    }

    #[test]
    fn a_mark_of_another_task_of_any_kind_is_a_leak() {
        assert!(!leaked(&marks(&["", "", "", "", ""]), 3));
        assert!(!leaked(&marks(&["3", "3", "3", "3", "3"]), 3));
        for kind in 0..MARK_KINDS.len() {
            let mut found = marks(&["3", "3", "3", "3", "3"]);
            found[kind] = Value::Text("3,5".into());
            assert!(leaked(&found, 3), "{}", MARK_KINDS[kind]);
        }
        // Slots after the marks are the user's captures, not marks.
        assert!(!leaked(&marks(&["", "", "", "", "", "7"]), 3));
    }
}
