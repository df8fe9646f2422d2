//! A task's way to a connection ([`TaskAccess`]), and the connection held for one operation
//! ([`Lease`]): statements go through the lease, which applies the shared-connection gate and
//! the pool's close, and keeps the books on who held which connection.
//!
//! The lease is generic over what was lent ([`Lent`]): the modes at the edge
//! ([`AnyLent`]) in a run, a fake connection's in the unit tests (`tests.rs`).

use std::cell::Cell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::connection::{Command, Connection};
use super::edge::{AnyLent, ModeTask};
use super::gauges::Gauges;
use super::mode::{Acquire, DirtyReturn, Lent};
use crate::record::errors::{ErrorClass, OpError};
use crate::value::Value;

/// One task's way to a connection.
#[derive(Debug)]
pub(crate) struct TaskAccess {
    task: ModeTask,
    gauges: Arc<Gauges>,
    /// What the last lease carried back when it was dropped.
    returned: Cell<Returned>,
}

/// What a connection carried back when its lease was dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Returned {
    /// A transaction may be open on it.
    pub(crate) in_transaction: bool,
    /// A statement was sent and its result not read: the operation was dropped mid-statement.
    pub(crate) statement_in_flight: bool,
}

/// Counts a task as waiting for as long as it lives (also when the acquire is abandoned).
struct Waiting<'a>(&'a Gauges);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.wait_ended();
    }
}

impl TaskAccess {
    pub(super) fn new(task: ModeTask, gauges: Arc<Gauges>) -> TaskAccess {
        TaskAccess {
            task,
            gauges,
            returned: Default::default(),
        }
    }

    /// What the connection of the last lease carried back when that lease was dropped.
    pub(crate) fn last_returned(&self) -> Returned {
        self.returned.get()
    }

    /// Gets a connection for one operation.
    pub(crate) async fn acquire(&mut self) -> Result<Lease<'_>, OpError> {
        acquire(&mut self.task, &self.gauges, &self.returned).await
    }
}

/// Gets a connection from `task` for one operation, counting the wait in `gauges`; the lease
/// tells `returned` what the connection carried back.
pub(crate) async fn acquire<'a, A: Acquire>(
    task: &'a mut A,
    gauges: &'a Gauges,
    returned: &'a Cell<Returned>,
) -> Result<Lease<'a, A::Lent<'a>>, OpError> {
    gauges.wait_started();
    let waiting = Waiting(gauges);
    let lent = task.acquire().await?;
    drop(waiting);
    Ok(Lease::new(lent, gauges, returned))
}

/// A connection held for one operation; released when dropped.
pub(crate) struct Lease<'a, L: Lent = AnyLent<'a>> {
    /// Taken out only in `drop`.
    lent: ManuallyDrop<L>,
    gauges: &'a Gauges,
    /// The connection came back to its pool inside a transaction, and this operation is its
    /// next user: what it meets is reported.
    pub(crate) inherited_transaction: bool,
    /// A pooled connection that served operations before this one.
    reused: bool,
    /// Statements sent through this lease.
    statements: Cell<u32>,
    /// A statement was sent and its result not yet read.
    in_flight: Cell<bool>,
    /// Where to tell what the connection carried back when this lease is dropped.
    returned: &'a Cell<Returned>,
}

impl<'a, L: Lent> Lease<'a, L> {
    pub(crate) fn new(lent: L, gauges: &'a Gauges, returned: &'a Cell<Returned>) -> Self {
        let marks = lent.conn().marks();
        let holders = marks.holders.fetch_add(1, Ordering::Relaxed) + 1;
        gauges.holders(u64::from(holders));
        // In use counts connections, not their users: tasks sharing one connection are one
        // connection in use (the review of 2026-12-03 found 4 in use on 2 connections).
        if holders == 1 {
            gauges.acquired();
        }
        let reused = marks.used.load(Ordering::Relaxed) || marks.used.swap(true, Ordering::Relaxed);
        if !reused {
            gauges.backends_used.fetch_add(1, Ordering::Relaxed);
        }
        let inherited =
            marks.dirty.load(Ordering::Relaxed) && marks.dirty.swap(false, Ordering::Relaxed);
        Lease {
            reused: reused && lent.pooled(),
            lent: ManuallyDrop::new(lent),
            gauges,
            inherited_transaction: inherited,
            statements: Cell::new(0),
            in_flight: Cell::new(false),
            returned,
        }
    }
}

impl<L: Lent> Lease<'_, L> {
    /// Whether `e` met a reused pooled connection at its first statement because it had died
    /// while idle in the pool: what a pre-ping (`test_on_check_out`) would have caught.
    pub(crate) fn died_idle(&self, e: &OpError) -> bool {
        self.reused && self.statements.get() == 1 && e.class.is_connection_loss()
    }

    /// The variant's gauges (for the race counters).
    pub(crate) fn gauges(&self) -> &Gauges {
        self.gauges
    }

    pub(crate) fn conn(&self) -> &L::Conn {
        self.lent.conn()
    }

    /// Passes the shared-connection gate and counts the statement.
    async fn gate(&self) -> Result<Option<tokio::sync::MutexGuard<'_, ()>>, OpError> {
        let gate = match self.lent.gate() {
            Some(gate) => gate.enter().await?,
            None => None,
        };
        self.statements.set(self.statements.get() + 1);
        Ok(gate)
    }

    /// Runs statement `index` (see [`Connection::execute`]) through the shared gate, or
    /// against the pool's close. (The statement's future is not passed to a shared helper: an
    /// async fn holds a future argument twice, rust-lang/rust#62958, and this is the hot path.)
    pub(crate) async fn execute(
        &self,
        index: usize,
        values: &[Value],
        captures: &[(String, usize)],
        slots: &mut [Value],
    ) -> Result<(), OpError> {
        let _gate = self.gate().await?;
        let statement = self.conn().execute(index, values, captures, slots);
        self.in_flight.set(true);
        let done = match self.lent.cut() {
            Some(cut) => Box::pin(self.against_close(cut, statement, false)).await,
            None => statement.await,
        };
        self.in_flight.set(false);
        done
    }

    /// BEGIN, COMMIT or ROLLBACK, like [`Lease::execute`].
    pub(crate) async fn command(&self, sql: &str, kind: Command) -> Result<(), OpError> {
        let _gate = self.gate().await?;
        let statement = self.conn().command(sql, kind);
        self.in_flight.set(true);
        let done = match self.lent.cut() {
            Some(cut) => {
                let commit = kind == Command::Commit;
                Box::pin(self.against_close(cut, statement, commit)).await
            }
            None => statement.await,
        };
        self.in_flight.set(false);
        done
    }

    /// Runs a statement unless the pool is closed under it (without drain). A COMMIT cut in
    /// flight may have committed: `commit_indeterminate` (which outranks connection loss),
    /// not `pool_closed`, and not among `cut_by_close` (counted in `pool_closed`).
    async fn against_close<T>(
        &self,
        (signal, name): (&crate::signal::Signal, &str),
        fut: impl Future<Output = Result<T, OpError>>,
        commit: bool,
    ) -> Result<T, OpError> {
        let cut = |sent: bool| {
            let e = cut_error(name);
            let conn = self.conn();
            let indeterminate = commit && sent;
            if !conn.is_broken() {
                // Closed under its user (counted once, not again for its ROLLBACK): never
                // handed out again.
                conn.mark_dead(e.clone());
                if !indeterminate {
                    self.gauges.cut_by_close.fetch_add(1, Ordering::Relaxed);
                }
            }
            match indeterminate {
                true => Err(OpError::new(
                    ErrorClass::CommitIndeterminate,
                    format!("{}, its COMMIT in flight: it may have committed", e.message),
                )),
                false => Err(e),
            }
        };
        if signal.is_raised() {
            return cut(false);
        }
        tokio::select! {
            biased;
            () = signal.raised() => cut(true),
            r = fut => r,
        }
    }
}

impl<L: Lent> Drop for Lease<'_, L> {
    fn drop(&mut self) {
        let conn = self.lent.conn();
        let last = conn.marks().holders.fetch_sub(1, Ordering::Relaxed) == 1;
        let dirty = conn.maybe_in_transaction() && !conn.is_broken();
        self.returned.set(Returned {
            in_transaction: dirty,
            statement_in_flight: self.in_flight.get(),
        });
        if let (true, DirtyReturn::Counted { passed_on }) = (dirty, self.lent.dirty_return()) {
            // A pool that does not reset passes the transaction on (bb8 always does).
            if passed_on {
                conn.marks().dirty.store(true, Ordering::Relaxed);
            }
            // An operation the harness itself cut short (its stop) is not the application's.
            if !self.gauges.stopping() {
                self.gauges
                    .returned_in_transaction
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        if last {
            self.gauges.released();
        }
        // SAFETY: `lent` is taken once, here, and not touched again.
        let lent = unsafe { ManuallyDrop::take(&mut self.lent) };
        lent.release(self.statements.get());
    }
}

/// The error of a statement cut by a close without drain.
fn cut_error(name: &str) -> OpError {
    OpError::new(
        crate::record::errors::ErrorClass::PoolClosed,
        format!("the pool '{name}' was closed while the connection was in use"),
    )
}
