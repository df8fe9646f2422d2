//! A task's way to a connection ([`TaskAccess`]), and the connection held for one operation
//! ([`Lease`]): statements go through the lease, which applies the shared-connection gate and
//! the pool's close, and keeps the books on who held which connection.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::MutexGuard;

use super::conn::{Command, Connector, PgConn};
use super::gauges::Gauges;
use super::models::instance::{ModelInstance, PgCore, PgHeld};
use super::pool::{Generation, Manager, PoolInstance};
use super::shared::{SharedConn, Slot};
use crate::record::errors::OpError;
use crate::scenario::model::ResetOnReturn;
use crate::value::Value;

/// One task's way to a connection.
#[derive(Debug)]
pub struct TaskAccess {
    kind: TaskKind,
    gauges: Arc<Gauges>,
    /// A pool model's release of this task's last connection, awaited before its next
    /// acquire as the libraries' releases are (see `models/`).
    pending: PendingRelease,
    /// What the last lease carried back when it was dropped.
    returned: std::cell::Cell<Returned>,
}

/// What a connection carried back when its lease was dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Returned {
    /// A transaction may be open on it.
    pub in_transaction: bool,
    /// A statement was sent and its result not read: the operation was dropped mid-statement.
    pub statement_in_flight: bool,
}

type PendingRelease = std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>;

#[derive(Debug)]
pub(super) enum TaskKind {
    Pool(Arc<PoolInstance>),
    Model(Arc<ModelInstance>),
    Shared(Arc<SharedConn>),
    PerOperation(Arc<Connector>),
    PerTask(Arc<Connector>, Option<Box<PgConn>>),
}

/// Counts a task as waiting for as long as it lives (also when the acquire is abandoned).
struct Waiting<'a>(&'a Gauges);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.wait_ended();
    }
}

impl TaskAccess {
    pub(super) fn new(kind: TaskKind, gauges: Arc<Gauges>) -> TaskAccess {
        TaskAccess {
            kind,
            gauges,
            pending: PendingRelease::default(),
            returned: Default::default(),
        }
    }

    /// What the connection of the last lease carried back when that lease was dropped.
    pub fn last_returned(&self) -> Returned {
        self.returned.get()
    }

    /// Gets a connection for one operation.
    pub async fn acquire(&mut self) -> Result<Lease<'_>, OpError> {
        let gauges = &*self.gauges;
        gauges.wait_started();
        let waiting = Waiting(gauges);
        let kind = match &mut self.kind {
            TaskKind::Pool(pool) => {
                let (generation, conn) = pool.get().await?;
                LeaseKind::Pooled(conn, generation)
            }
            TaskKind::Model(pool) => {
                let previous = self.pending.lock().expect("pending release").take();
                if let Some(release) = previous {
                    let _ = release.await;
                }
                let (core, held) = pool.get().await?;
                LeaseKind::Model(core, Some(held))
            }
            TaskKind::Shared(shared) => LeaseKind::Shared(shared.slot().await?),
            // Connecting is boxed: its large future would otherwise size every acquire.
            TaskKind::PerOperation(connector) => {
                LeaseKind::Owned(Box::pin(connector.connect()).await?)
            }
            TaskKind::PerTask(connector, slot) => {
                if slot.as_ref().is_none_or(|c| c.is_broken()) {
                    *slot = None;
                    *slot = Some(Box::new(Box::pin(connector.connect()).await?));
                }
                LeaseKind::Dedicated(slot.as_ref().expect("connected above"))
            }
        };
        drop(waiting);
        let mut lease = Lease::new(kind, gauges, &self.returned);
        lease.pending = Some(&self.pending);
        Ok(lease)
    }
}

/// A connection held for one operation; released when dropped.
pub struct Lease<'a> {
    kind: LeaseKind<'a>,
    gauges: &'a Gauges,
    /// The connection came back to its pool inside a transaction, and this operation is its
    /// next user: what it meets is reported.
    pub inherited_transaction: bool,
    /// A pooled connection that served operations before this one.
    reused: bool,
    /// Statements sent through this lease.
    statements: std::cell::Cell<u32>,
    /// Where a pool model's release is left for the task's next acquire.
    pending: Option<&'a PendingRelease>,
    /// A statement was sent and its result not yet read.
    in_flight: std::cell::Cell<bool>,
    /// Where to tell what the connection carried back when this lease is dropped.
    returned: &'a std::cell::Cell<Returned>,
}

enum LeaseKind<'a> {
    Pooled(bb8::PooledConnection<'static, Manager>, Arc<Generation>),
    /// From a library's pool model; given back (reset, closed or kept) when dropped.
    Model(Arc<PgCore>, Option<PgHeld>),
    Shared(Arc<Slot>),
    Dedicated(&'a PgConn),
    Owned(PgConn),
    /// Handed to the reset on return while the lease is dropped.
    Released,
}

impl<'a> Lease<'a> {
    fn new(
        kind: LeaseKind<'a>,
        gauges: &'a Gauges,
        returned: &'a std::cell::Cell<Returned>,
    ) -> Lease<'a> {
        let mut lease = Lease {
            kind,
            gauges,
            inherited_transaction: false,
            reused: false,
            statements: std::cell::Cell::new(0),
            pending: None,
            in_flight: std::cell::Cell::new(false),
            returned,
        };
        gauges.acquired();
        let (reused, inherited) = {
            let conn = lease.conn();
            let holders = conn.holders.fetch_add(1, Ordering::Relaxed) + 1;
            gauges.holders(u64::from(holders));
            let reused =
                conn.used.load(Ordering::Relaxed) || conn.used.swap(true, Ordering::Relaxed);
            if !reused {
                gauges.backends_used.fetch_add(1, Ordering::Relaxed);
            }
            let inherited =
                conn.dirty.load(Ordering::Relaxed) && conn.dirty.swap(false, Ordering::Relaxed);
            (reused, inherited)
        };
        lease.reused = reused && matches!(lease.kind, LeaseKind::Pooled(..) | LeaseKind::Model(..));
        lease.inherited_transaction = inherited;
        lease
    }
}

impl Lease<'_> {
    /// Whether `e` met a reused pooled connection at its first statement because it had died
    /// while idle in the pool: what a pre-ping (`test_on_check_out`) would have caught.
    pub fn died_idle(&self, e: &OpError) -> bool {
        self.reused && self.statements.get() == 1 && e.class.is_connection_loss()
    }

    /// The variant's gauges (for the race counters).
    pub fn gauges(&self) -> &Gauges {
        self.gauges
    }

    pub fn conn(&self) -> &PgConn {
        match &self.kind {
            LeaseKind::Pooled(c, _) => c,
            LeaseKind::Model(_, held) => &held.as_ref().expect("held until dropped").conn,
            LeaseKind::Shared(s) => &s.conn,
            LeaseKind::Dedicated(c) => c,
            LeaseKind::Owned(c) => c,
            LeaseKind::Released => unreachable!("a lease is released only when dropped"),
        }
    }

    async fn enter(&self) -> Result<Option<MutexGuard<'_, ()>>, OpError> {
        match &self.kind {
            LeaseKind::Shared(slot) => slot.enter().await,
            _ => Ok(None),
        }
    }

    /// Passes the shared-connection gate and counts the statement.
    async fn gate(&self) -> Result<Option<MutexGuard<'_, ()>>, OpError> {
        let gate = self.enter().await?;
        self.statements.set(self.statements.get() + 1);
        Ok(gate)
    }

    /// Whether statements must watch for the pool being closed under them.
    fn closable(&self) -> bool {
        match &self.kind {
            LeaseKind::Pooled(_, generation) => generation.closable,
            LeaseKind::Model(..) => true,
            _ => false,
        }
    }

    /// Runs statement `index` (see [`PgConn::execute`]) through the shared gate, or against
    /// the pool's close. (The statement's future is not passed to a shared helper: an async
    /// fn holds a future argument twice, rust-lang/rust#62958, and this is the hot path.)
    pub async fn execute(
        &self,
        index: usize,
        values: &[Value],
        captures: &[(String, usize)],
        slots: &mut [Value],
    ) -> Result<(), OpError> {
        let _gate = self.gate().await?;
        let statement = self.conn().execute(index, values, captures, slots);
        self.in_flight.set(true);
        let done = if self.closable() {
            Box::pin(self.against_close(statement)).await
        } else {
            statement.await
        };
        self.in_flight.set(false);
        done
    }

    /// BEGIN, COMMIT or ROLLBACK, like [`Lease::execute`].
    pub async fn command(&self, sql: &str, kind: Command) -> Result<(), OpError> {
        let _gate = self.gate().await?;
        let statement = self.conn().command(sql, kind);
        self.in_flight.set(true);
        let done = if self.closable() {
            Box::pin(self.against_close(statement)).await
        } else {
            statement.await
        };
        self.in_flight.set(false);
        done
    }

    /// Runs a statement unless the pool is closed under it (without drain).
    async fn against_close<T>(
        &self,
        fut: impl Future<Output = Result<T, OpError>>,
    ) -> Result<T, OpError> {
        let (conn, cut_signal, name): (&PgConn, &crate::signal::Signal, &str) = match &self.kind {
            LeaseKind::Pooled(conn, generation) => (conn, &generation.cut, &generation.name),
            LeaseKind::Model(core, _) => (self.conn(), &core.cut, &core.name),
            _ => return fut.await,
        };
        let cut = || {
            let e = cut_error(name);
            if !conn.is_broken() {
                // Closed under its user (counted once, not again for its ROLLBACK): never
                // handed out again.
                conn.mark_dead(e.clone());
                self.gauges
                    .cut_by_close
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e)
        };
        if cut_signal.is_raised() {
            return cut();
        }
        tokio::select! {
            biased;
            () = cut_signal.raised() => cut(),
            r = fut => r,
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let conn = self.conn();
        conn.holders.fetch_sub(1, Ordering::Relaxed);
        self.returned.set(Returned {
            in_transaction: conn.maybe_in_transaction() && !conn.is_broken(),
            statement_in_flight: self.in_flight.get(),
        });
        if let LeaseKind::Model(core, held) = &mut self.kind {
            if let Some(h) = held.as_ref()
                && !core.rules.reset.rollback_open_transaction
                && h.conn.maybe_in_transaction()
                && !h.conn.is_broken()
            {
                // A model that does not reset (`reset_on_return = "none"`) passes the
                // transaction on, as bb8 does.
                h.conn.dirty.store(true, Ordering::Relaxed);
                if !self.gauges.stopping() {
                    self.gauges
                        .returned_in_transaction
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            let release = give_back(core, held.take(), self.statements.get());
            if let (Some(slot), Some(release)) = (self.pending, release) {
                *slot.lock().expect("pending release") = Some(release);
            }
        } else if let LeaseKind::Pooled(conn, generation) = &self.kind
            && conn.maybe_in_transaction()
            && !conn.is_broken()
        {
            // bb8 does not reset connections: unless `reset_on_return` does, the next user
            // inherits the transaction.
            if generation.reset == ResetOnReturn::None {
                conn.dirty.store(true, Ordering::Relaxed);
            }
            // An operation the harness itself cut short (its stop) is not the application's.
            if !self.gauges.stopping() {
                self.gauges
                    .returned_in_transaction
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        self.gauges.released();
        if let LeaseKind::Pooled(conn, generation) = &self.kind
            && super::reset::needed(generation.reset, conn)
            && let LeaseKind::Pooled(conn, generation) =
                std::mem::replace(&mut self.kind, LeaseKind::Released)
        {
            super::reset::spawn(conn, generation.reset, generation.gauges.clone());
        }
    }
}

/// The error of a statement cut by a close without drain.
fn cut_error(name: &str) -> OpError {
    OpError::new(
        crate::record::errors::ErrorClass::PoolClosed,
        format!("the pool '{name}' was closed while the connection was in use"),
    )
}

/// A model's connection given back after its operation: the library's release (reset, then
/// to a waiter or idle) runs in a task of its own, as a lease is dropped synchronously.
fn give_back(
    core: &Arc<PgCore>,
    held: Option<PgHeld>,
    statements: u32,
) -> Option<tokio::task::JoinHandle<()>> {
    let (Some(held), Ok(rt)) = (held, tokio::runtime::Handle::try_current()) else {
        return None;
    };
    Some(rt.spawn(core.clone().release(held, u64::from(statements))))
}
