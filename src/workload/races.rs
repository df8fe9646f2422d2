//! What the executor checks for the built-in workloads of the races a pool does not fix (see
//! `plan/builtins.rs`): the session mark an operation found, and the advisory unlock that runs
//! on a second checkout.

use std::sync::atomic::Ordering;

use crate::access::{Lease, TaskAccess};
use crate::record::errors::OpError;

use super::params::Draw;
use crate::scenario::plan::{Step, Workload};
use crate::value::Value;

/// `session_state`: the mark found is another task's (not empty, not this task's own).
pub(crate) fn check_session_mark(lease: &Lease<'_>, found: &Value, task: u64) {
    let mine = task.to_string();
    let leaked = match found {
        Value::Text(t) => !t.is_empty() && *t != mine,
        Value::Int(n) => n.to_string() != mine,
        _ => false,
    };
    if leaked {
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
