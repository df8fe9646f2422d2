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

pub mod cancels;
pub mod capture;
pub mod conn;
pub mod gauges;
pub mod io;
pub mod lease;
pub(crate) mod models;
pub mod open;
pub mod pool;
pub mod races;
pub(crate) mod reset;
pub mod shared;
pub mod socket;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::record::errors::{ErrorClass, OpError};
use crate::scenario::model::{AccessMode, FaultKind, Settings};
use conn::Connector;
use gauges::Gauges;
use lease::TaskKind;
pub use lease::{Lease, TaskAccess};
use pool::PoolInstance;
use shared::SharedConn;

/// The connections of one variant.
#[derive(Debug)]
pub struct Access {
    kind: Kind,
    pub connector: Arc<Connector>,
    /// bb8's statistics when the measured phase began (the report leaves the warmup out).
    pool_at_measure_start: std::sync::Mutex<PoolStatistics>,
}

#[derive(Debug)]
enum Kind {
    Pool(Vec<Arc<PoolInstance>>),
    /// A library's pool model (`pool.model`), in place of bb8.
    Model(Vec<Arc<models::instance::ModelInstance>>),
    Shared(Vec<Arc<SharedConn>>),
    PerOperation,
    PerTask,
}

/// bb8's statistics summed over a variant's pools.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStatistics {
    pub get_direct: u64,
    pub get_waited: u64,
    pub get_timed_out: u64,
    pub connections_created: u64,
    pub closed_broken: u64,
    pub closed_invalid: u64,
    pub closed_max_lifetime: u64,
    pub closed_idle_timeout: u64,
}

impl PoolStatistics {
    /// What happened after `start` (statistics only grow: they add up over pool generations).
    pub fn since(&self, start: &PoolStatistics) -> PoolStatistics {
        PoolStatistics {
            get_direct: self.get_direct.saturating_sub(start.get_direct),
            get_waited: self.get_waited.saturating_sub(start.get_waited),
            get_timed_out: self.get_timed_out.saturating_sub(start.get_timed_out),
            connections_created: self
                .connections_created
                .saturating_sub(start.connections_created),
            closed_broken: self.closed_broken.saturating_sub(start.closed_broken),
            closed_invalid: self.closed_invalid.saturating_sub(start.closed_invalid),
            closed_max_lifetime: self
                .closed_max_lifetime
                .saturating_sub(start.closed_max_lifetime),
            closed_idle_timeout: self
                .closed_idle_timeout
                .saturating_sub(start.closed_idle_timeout),
        }
    }

    pub fn add(&mut self, o: &PoolStatistics) {
        self.get_direct += o.get_direct;
        self.get_waited += o.get_waited;
        self.get_timed_out += o.get_timed_out;
        self.connections_created += o.connections_created;
        self.closed_broken += o.closed_broken;
        self.closed_invalid += o.closed_invalid;
        self.closed_max_lifetime += o.closed_max_lifetime;
        self.closed_idle_timeout += o.closed_idle_timeout;
    }
}

impl From<&bb8::Statistics> for PoolStatistics {
    fn from(st: &bb8::Statistics) -> PoolStatistics {
        PoolStatistics {
            get_direct: st.get_direct,
            get_waited: st.get_waited,
            get_timed_out: st.get_timed_out,
            connections_created: st.connections_created,
            closed_broken: st.connections_closed_broken,
            closed_invalid: st.connections_closed_invalid,
            closed_max_lifetime: st.connections_closed_max_lifetime,
            closed_idle_timeout: st.connections_closed_idle_timeout,
        }
    }
}

impl Access {
    /// Opens the access of a variant: builds pools (connecting in the background) or opens the
    /// shared connections. Runs inside a tokio runtime.
    pub async fn open(settings: &Settings, connector: Arc<Connector>) -> Result<Access, OpError> {
        let instances = settings.access.instances as usize;
        let kind = match settings.access.mode {
            AccessMode::Pool if let Some(model) = models::model_of(&settings.pool) => Kind::Model(
                (0..instances)
                    .map(|i| {
                        Arc::new(models::instance::ModelInstance::open(
                            model.clone(),
                            connector.clone(),
                            format!("pool-{}", i + 1),
                        ))
                    })
                    .collect(),
            ),
            AccessMode::Pool => {
                let closable = settings
                    .fault
                    .iter()
                    .any(|f| f.kind == FaultKind::ClosePool);
                Kind::Pool(
                    (0..instances)
                        .map(|i| {
                            Arc::new(PoolInstance::build(
                                &settings.pool,
                                connector.clone(),
                                format!("pool-{}", i + 1),
                                closable,
                            ))
                        })
                        .collect(),
                )
            }
            AccessMode::Shared => {
                let mut conns = Vec::with_capacity(instances);
                for _ in 0..instances {
                    conns.push(Arc::new(
                        SharedConn::open(connector.clone(), settings.access.semantics).await?,
                    ));
                }
                Kind::Shared(conns)
            }
            AccessMode::PerOperation => Kind::PerOperation,
            AccessMode::PerTask => Kind::PerTask,
        };
        Ok(Access {
            kind,
            connector,
            pool_at_measure_start: Default::default(),
        })
    }

    pub fn gauges(&self) -> &Arc<Gauges> {
        &self.connector.gauges
    }

    /// What task `task` uses.
    pub fn for_task(&self, task: usize) -> TaskAccess {
        let kind = match &self.kind {
            Kind::Pool(pools) => TaskKind::Pool(pools[task % pools.len()].clone()),
            Kind::Model(pools) => TaskKind::Model(pools[task % pools.len()].clone()),
            Kind::Shared(conns) => TaskKind::Shared(conns[task % conns.len()].clone()),
            Kind::PerOperation => TaskKind::PerOperation(self.connector.clone()),
            Kind::PerTask => TaskKind::PerTask(self.connector.clone(), None),
        };
        TaskAccess::new(kind, self.connector.gauges.clone())
    }

    /// bb8's statistics since the run began, in pool mode.
    fn pool_totals(&self) -> Option<PoolStatistics> {
        let mut s = PoolStatistics::default();
        match &self.kind {
            Kind::Pool(pools) => pools.iter().for_each(|p| s.add(&p.statistics())),
            Kind::Model(pools) => pools.iter().for_each(|p| s.add(&p.statistics())),
            _ => return None,
        }
        Some(s)
    }

    /// The warmup is over: the connection gauges and bb8's statistics count from now.
    pub fn begin_measured_phase(&self) {
        self.connector.gauges.begin_measured_phase();
        if let Some(now) = self.pool_totals() {
            *self.pool_at_measure_start.lock().expect("statistics lock") = now;
        }
    }

    /// bb8's statistics over the measured phase, in pool mode.
    pub fn pool_statistics(&self) -> Option<PoolStatistics> {
        let start = *self.pool_at_measure_start.lock().expect("statistics lock");
        self.pool_totals().map(|now| now.since(&start))
    }

    /// Closes every pool (pool mode), replacing each at once with `swap`; returns how many
    /// were open. Runs inside a tokio runtime.
    pub fn close_pools(&self, drain: bool, swap: bool) -> usize {
        match &self.kind {
            Kind::Pool(pools) => pools.iter().filter(|p| p.close(drain, swap)).count(),
            Kind::Model(pools) => pools.iter().filter(|p| p.close(drain, swap)).count(),
            _ => 0,
        }
    }

    /// Reopens every closed pool with a fresh one. Runs inside a tokio runtime.
    pub fn reopen_pools(&self) {
        match &self.kind {
            Kind::Pool(pools) => pools.iter().for_each(|p| p.reopen()),
            Kind::Model(pools) => pools.iter().for_each(|p| p.reopen()),
            _ => {}
        }
    }

    /// Connect errors the pools swallowed while retrying, by class.
    pub fn connect_errors(&self) -> BTreeMap<ErrorClass, u64> {
        let mut all = BTreeMap::new();
        if let Kind::Pool(pools) = &self.kind {
            for p in pools {
                for (class, n) in p.connect_errors.counts() {
                    *all.entry(class).or_default() += n;
                }
            }
        }
        if let Kind::Model(pools) = &self.kind {
            for p in pools {
                for (class, n) in p.connect_errors() {
                    *all.entry(class).or_default() += n;
                }
            }
        }
        all
    }
}
