//! `pool.reset_on_return`: what the pool does to a connection given back, as SQLAlchemy's
//! `reset_on_return` and PgBouncer's `server_reset_query` do.
//!
//! bb8 has no hook on release: a connection goes back to the pool when its `PooledConnection`
//! is dropped. So the lease, when it is dropped (at the end of an operation, or when the
//! operation's future is dropped by a cancel or a timeout), hands the connection to a task of
//! its own that sends the reset and only then drops it: the pool counts it in use until the
//! reset is done, and no other user can meet it half reset. A statement still in flight on it
//! (a cancelled operation's) completes first: the protocol is sequential.
//!
//! A reset that fails is classified and counted, and the connection is marked dead, so bb8
//! discards it instead of handing it out again.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::conn::{Command, PgConn};
use super::gauges::Gauges;
use crate::record::errors::OpError;
use crate::scenario::model::ResetOnReturn;

/// Whether giving `conn` back needs a reset: `ROLLBACK` only when a transaction may be open on
/// it, `DISCARD ALL` always. A connection that needs none goes back at once, as bb8 does.
pub(crate) fn needed(how: ResetOnReturn, conn: &PgConn) -> bool {
    match how {
        ResetOnReturn::None => false,
        ResetOnReturn::Rollback => conn.maybe_in_transaction() && !conn.is_broken(),
        ResetOnReturn::DiscardAll => !conn.is_broken(),
    }
}

/// Resets `conn` in a task of its own, then gives it back to its pool. Outside a runtime (a
/// lease dropped at teardown) the connection is given back without a reset.
pub(crate) fn spawn<M: bb8::ManageConnection<Connection = Box<PgConn>>>(
    conn: bb8::PooledConnection<'static, M>,
    how: ResetOnReturn,
    gauges: Arc<Gauges>,
) {
    if how == ResetOnReturn::None || conn.is_broken() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut conn = conn;
        let in_transaction = conn.maybe_in_transaction();
        match reset(&mut conn, how).await {
            Ok(sent) => {
                conn.marks.dirty.store(false, Ordering::Relaxed);
                if sent || in_transaction {
                    gauges.races.resets.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => {
                gauges.races.reset_failed(e.class);
                conn.mark_dead(e);
            }
        }
    });
}

/// Sends the reset: `ROLLBACK` when a transaction may be open (as psycopg's pool does after
/// checking the transaction status: a `ROLLBACK` outside one draws a warning); `DISCARD ALL`
/// always (after a `ROLLBACK` when a transaction may be open: it cannot run inside one), which
/// also deallocates the prepared statements and resets the session settings, so these are
/// forgotten and applied again. Returns whether `DISCARD ALL` was sent.
async fn reset(conn: &mut PgConn, how: ResetOnReturn) -> Result<bool, OpError> {
    let Some(sql) = how.sql() else {
        return Ok(false);
    };
    if conn.maybe_in_transaction() {
        conn.command("ROLLBACK", Command::Reset).await?;
    }
    if how == ResetOnReturn::DiscardAll {
        conn.command(sql, Command::Reset).await?;
        conn.forget_prepared();
        if let Some(session) = conn.session_sql.clone() {
            conn.command(&session, Command::Reset).await?;
        }
        return Ok(true);
    }
    Ok(false)
}
