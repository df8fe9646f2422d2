//! Access modes: how a task gets a connection for an operation, behind one interface.
//!
//! - `pool`: bb8 with our own manager (see `pool.rs`);
//! - `shared`: one connection for several tasks, `exclusive`, `pipelined` or `serialized`
//!   (see `shared.rs`);
//! - `per_operation`: connect, run, close;
//! - `per_task`: one dedicated connection per task, reopened if it dies.
//!
//! `instances = N` makes N independent pools or shared connections (application processes);
//! task `i` uses instance `i % N`. A [`TaskAccess`] hands out a [`Lease`] per operation;
//! statements go through the lease, which applies the shared-connection gate.
//!
//! Each mode is one file implementing the traits of `mode.rs` over the connection trait of
//! `connection.rs`; `edge.rs` gathers them (see there for why dispatch is static).

pub(crate) mod cancels;
pub(crate) mod capture;
pub mod conn;
pub(crate) mod connection;
pub(crate) mod death;
pub(crate) mod edge;
#[cfg(test)]
mod fake;
pub(crate) mod gate;
pub mod gauges;
pub(crate) mod io;
pub(crate) mod lease;
pub(crate) mod mode;
pub(crate) mod models;
pub mod open;
pub(crate) mod per_operation;
pub(crate) mod per_task;
pub(crate) mod pool;
pub(crate) mod races;
pub(crate) mod reset;
pub(crate) mod shared;
pub(crate) mod side;
pub(crate) mod socket;
pub(crate) mod statistics;
#[cfg(test)]
mod tests;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::record::errors::{ErrorClass, OpError};
use crate::scenario::model::Settings;
use conn::Connector;
use edge::Variant;
use gauges::Gauges;
pub(crate) use lease::{Lease, TaskAccess};
pub(crate) use statistics::PoolStatistics;

/// The connections of one variant.
#[derive(Debug)]
pub(crate) struct Access {
    modes: Box<dyn Variant>,
    pub(crate) connector: Arc<Connector>,
    /// bb8's statistics when the measured phase began (the report leaves the warmup out).
    pool_at_measure_start: std::sync::Mutex<PoolStatistics>,
}

impl Access {
    /// Opens the access of a variant: builds pools (connecting in the background) or opens the
    /// shared connections. Runs inside a tokio runtime.
    pub(crate) async fn open(
        settings: &Settings,
        connector: Arc<Connector>,
    ) -> Result<Access, OpError> {
        Ok(Access {
            modes: edge::open(settings, &connector).await?,
            connector,
            pool_at_measure_start: Default::default(),
        })
    }

    pub(crate) fn gauges(&self) -> &Arc<Gauges> {
        &self.connector.gauges
    }

    /// What task `task` uses.
    pub(crate) fn for_task(&self, task: usize) -> TaskAccess {
        TaskAccess::new(self.modes.task(task), self.connector.gauges.clone())
    }

    /// The warmup is over: the connection gauges and bb8's statistics count from now.
    pub(crate) fn begin_measured_phase(&self) {
        self.connector.gauges.begin_measured_phase();
        if let Some(now) = self.modes.statistics() {
            *self.pool_at_measure_start.lock().expect("statistics lock") = now;
        }
    }

    /// bb8's statistics over the measured phase, in pool mode.
    pub(crate) fn pool_statistics(&self) -> Option<PoolStatistics> {
        let start = *self.pool_at_measure_start.lock().expect("statistics lock");
        self.modes.statistics().map(|now| now.since(&start))
    }

    /// Closes every pool (pool mode), replacing each at once with `swap`; returns how many
    /// were open. Runs inside a tokio runtime.
    pub(crate) fn close_pools(&self, drain: bool, swap: bool) -> usize {
        self.modes.close(drain, swap)
    }

    /// Reopens every closed pool with a fresh one. Runs inside a tokio runtime.
    pub(crate) fn reopen_pools(&self) {
        self.modes.reopen()
    }

    /// Connect errors the pools swallowed while retrying, by class.
    pub(crate) fn connect_errors(&self) -> BTreeMap<ErrorClass, u64> {
        self.modes.connect_errors()
    }
}
