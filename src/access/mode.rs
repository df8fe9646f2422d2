//! An access mode as one trait, in three steps: [`Mode`] (a variant's connections: opened once,
//! closed and reopened by faults, counted), [`Acquire`] (one task's way to a connection) and
//! [`Lent`] (the connection held for one operation, given back when its lease is dropped).
//!
//! One file per mode implements the three: `pool.rs` (bb8), `models/mode.rs` (the pool models),
//! `shared.rs`, `per_operation.rs`, `per_task.rs`. The lease's own logic (the shared gate, the
//! cut of a close without drain, the dirty return, the died-idle diagnosis) is written once,
//! in `lease.rs`, over [`Lent`].
//!
//! Dispatch is static on the hot path: `acquire` and every statement are generic over the
//! mode, and the edge (`edge.rs`) is one enum of the modes, matched per call as the three
//! enums it replaces were, so no future is boxed and no lock is taken per operation that was
//! not taken before. Only the cold side of a variant (open, close, statistics) goes through a
//! `Box<dyn …>`, where dynamic dispatch costs nothing that matters.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use super::connection::Connection;
use super::gate::Gate;
use super::statistics::PoolStatistics;
use crate::record::errors::{ErrorClass, OpError};
use crate::signal::Signal;

/// A variant's connections in one access mode (`instances` pools or shared connections).
pub(crate) trait Mode: std::fmt::Debug + Send + Sync {
    type Task: Acquire;
    /// What task `task` uses (instance `task % instances`).
    fn task(&self, task: usize) -> Self::Task;
    /// Closes every pool, replacing each at once with `swap`; returns how many were open.
    fn close(&self, _drain: bool, _swap: bool) -> usize {
        0
    }
    /// Reopens every closed pool with a fresh one.
    fn reopen(&self) {}
    /// The pools' statistics since the run began (pool modes only).
    fn statistics(&self) -> Option<PoolStatistics> {
        None
    }
    /// Connect errors the pools swallowed while retrying, by class.
    fn connect_errors(&self) -> BTreeMap<ErrorClass, u64> {
        BTreeMap::new()
    }
}

/// One pool of a pool mode (bb8's, `pool.rs`, or a library's model, `models/mode.rs`) for one
/// application instance: what [`Pools`] needs of it to be a [`Mode`].
pub(crate) trait Instance: std::fmt::Debug + Send + Sync {
    type Task: Acquire;
    /// A task's way to this pool.
    fn task(self: &Arc<Self>) -> Self::Task;
    /// Closes it (replacing it at once with `swap`); whether it was open.
    fn close(&self, drain: bool, swap: bool) -> bool;
    /// Replaces a closed pool with a fresh one.
    fn reopen(&self);
    fn statistics(&self) -> PoolStatistics;
    /// Connect errors swallowed while retrying, by class.
    fn connect_errors(&self) -> BTreeMap<ErrorClass, u64>;
}

/// A variant's pools, one per instance: task `i` uses pool `i % instances`.
#[derive(Debug)]
pub(crate) struct Pools<P>(pub Vec<Arc<P>>);

impl<P: Instance> Mode for Pools<P> {
    type Task = P::Task;

    fn task(&self, task: usize) -> P::Task {
        self.0[task % self.0.len()].task()
    }

    fn close(&self, drain: bool, swap: bool) -> usize {
        self.0.iter().filter(|p| p.close(drain, swap)).count()
    }

    fn reopen(&self) {
        self.0.iter().for_each(|p| p.reopen());
    }

    fn statistics(&self) -> Option<PoolStatistics> {
        let mut s = PoolStatistics::default();
        self.0.iter().for_each(|p| s.add(&p.statistics()));
        Some(s)
    }

    fn connect_errors(&self) -> BTreeMap<ErrorClass, u64> {
        let mut all = BTreeMap::new();
        for p in &self.0 {
            for (class, n) in p.connect_errors() {
                *all.entry(class).or_default() += n;
            }
        }
        all
    }
}

/// One task's way to a connection.
pub(crate) trait Acquire {
    type Lent<'a>: Lent
    where
        Self: 'a;
    /// A connection for one operation.
    fn acquire(&mut self) -> impl Future<Output = Result<Self::Lent<'_>, OpError>>;
}

/// What a pool does about a connection given back inside a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DirtyReturn {
    /// Nothing: the connection is not pooled, or the pool rolls the transaction back.
    Ignored,
    /// Counted (`returned_in_transaction`); with `passed_on`, its next user inherits it.
    Counted { passed_on: bool },
}

/// A connection lent for one operation, as the lease sees it.
pub(crate) trait Lent {
    type Conn: Connection;
    fn conn(&self) -> &Self::Conn;
    /// Lent by a pool: a connection that served before is reused (see `Lease::died_idle`).
    fn pooled(&self) -> bool {
        false
    }
    /// The statement gate of a shared connection.
    fn gate(&self) -> Option<&Gate> {
        None
    }
    /// The signal of a close without drain, and the pool's name, when the pool can be closed.
    fn cut(&self) -> Option<(&Signal, &str)> {
        None
    }
    /// What the pool does about a connection given back inside a transaction.
    fn dirty_return(&self) -> DirtyReturn {
        DirtyReturn::Ignored
    }
    /// Gives the connection back, after `statements` statements.
    fn release(self, statements: u32);
}
