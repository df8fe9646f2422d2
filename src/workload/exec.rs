//! Running one operation's steps on a leased connection: `let` values, statements with their
//! parameters and captures, sleeps that hold the connection, and BEGIN/COMMIT around them when
//! the workload is transactional (ROLLBACK on error, unless the connection is gone).

use std::cell::Cell;

use crate::access::Lease;
use crate::access::conn::Command;
use crate::record::errors::OpError;

use super::params::Draw;
use crate::scenario::plan::{Step, Workload};
use crate::value::Value;

/// Runs `workload` on `lease`. `slots` is a reusable buffer for `let` and captured values.
/// `write` is the ledger statement and this operation's id, written last inside the
/// transaction; `commit_sent` is set once COMMIT is on its way (an abandoned operation is
/// then indeterminate, not failed).
pub(crate) async fn run(
    lease: &Lease<'_>,
    workload: &Workload,
    draw: &mut Draw<'_>,
    slots: &mut Vec<Value>,
    write: Option<(usize, i64)>,
    commit_sent: &Cell<bool>,
) -> Result<(), OpError> {
    slots.clear();
    slots.resize(workload.slots, Value::Null);
    for (i, source) in workload.lets.iter().enumerate() {
        let v = draw.value(source, slots);
        slots[i] = v;
    }
    let Some(begin) = &workload.begin else {
        steps(lease, workload, draw, slots).await?;
        if let Some((statement, id)) = write {
            // Without a transaction the ledger write is an autocommit statement of its own:
            // once sent, it may commit whatever happens to the client.
            commit_sent.set(true);
            lease
                .execute(statement, &[Value::Int(id)], &[], slots)
                .await?;
        }
        return Ok(());
    };
    lease.command(begin, Command::Begin).await?;
    let mut body = steps(lease, workload, draw, slots).await;
    if let (Ok(()), Some((statement, id))) = (&body, write) {
        body = lease
            .execute(statement, &[Value::Int(id)], &[], slots)
            .await;
    }
    match body {
        Ok(()) => {
            commit_sent.set(true);
            lease.command("COMMIT", Command::Commit).await
        }
        Err(e) => {
            if !e.class.is_connection_loss() {
                // The operation failed either way; a failed ROLLBACK (say, on a shared
                // connection another task is using) leaves the transaction open, which the
                // next user of the connection will meet.
                let _ = lease.command("ROLLBACK", Command::Rollback).await;
            }
            Err(e)
        }
    }
}

async fn steps(
    lease: &Lease<'_>,
    workload: &Workload,
    draw: &mut Draw<'_>,
    slots: &mut [Value],
) -> Result<(), OpError> {
    let mut values = Vec::new();
    for step in &workload.steps {
        match step {
            Step::Sql {
                statement,
                params,
                captures,
            } => {
                values.clear();
                values.extend(params.iter().map(|p| draw.value(p, slots)));
                lease.execute(*statement, &values, captures, slots).await?;
            }
            Step::Sleep(d) => tokio::time::sleep(*d).await,
        }
    }
    if let Some(slot) = workload.session_mark {
        super::races::check_session_marks(lease, &slots[slot..], draw.task);
    }
    Ok(())
}
