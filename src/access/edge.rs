//! The access modes at the edge: one enum of the modes' tasks ([`ModeTask`]) and of what they
//! lend ([`AnyLent`]), matched once per call (static dispatch on the hot path: no boxed
//! future, no allocation), and the cold side of a variant behind a `Box<dyn Variant>`
//! (opened once; closed, reopened and counted a few times per run).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::conn::{Connector, PgConn};
use super::gate::Gate;
use super::mode::Pools;
use super::mode::{Acquire, DirtyReturn, Lent, Mode};
use super::models::instance::ModelInstance;
use super::models::mode::{ModelLent, ModelTask};
use super::per_operation::{Owned, PerOperation};
use super::per_task::{Borrowed, Dedicated, PerTask};
use super::pool::{PoolInstance, PoolLent, PoolTask};
use super::shared::{Shared, SharedConn, SharedLent, SharedTask};
use super::statistics::PoolStatistics;
use crate::record::errors::{ErrorClass, OpError};
use crate::scenario::model::{AccessMode, FaultKind, Settings};
use crate::signal::Signal;

type Opens = Arc<Connector>;

/// One task's mode.
#[derive(Debug)]
pub(crate) enum ModeTask {
    Pool(PoolTask),
    Model(ModelTask<Opens>),
    Shared(SharedTask<Opens>),
    PerOperation(PerOperation<Opens>),
    PerTask(Dedicated<Opens>),
}

/// What a task's mode lent for one operation.
pub(crate) enum AnyLent<'a> {
    Pool(PoolLent),
    Model(ModelLent<'a, Opens>),
    Shared(SharedLent<PgConn>),
    PerOperation(Owned<PgConn>),
    PerTask(Borrowed<'a, PgConn>),
}

/// Calls `$call` with `$x` bound to whichever mode `$on` lent.
macro_rules! each {
    ($on:expr, $x:ident => $call:expr) => {
        match $on {
            AnyLent::Pool($x) => $call,
            AnyLent::Model($x) => $call,
            AnyLent::Shared($x) => $call,
            AnyLent::PerOperation($x) => $call,
            AnyLent::PerTask($x) => $call,
        }
    };
}

impl Acquire for ModeTask {
    type Lent<'a> = AnyLent<'a>;

    async fn acquire(&mut self) -> Result<AnyLent<'_>, OpError> {
        Ok(match self {
            ModeTask::Pool(t) => AnyLent::Pool(t.acquire().await?),
            ModeTask::Model(t) => AnyLent::Model(t.acquire().await?),
            ModeTask::Shared(t) => AnyLent::Shared(t.acquire().await?),
            ModeTask::PerOperation(t) => AnyLent::PerOperation(t.acquire().await?),
            ModeTask::PerTask(t) => AnyLent::PerTask(t.acquire().await?),
        })
    }
}

impl Lent for AnyLent<'_> {
    type Conn = PgConn;

    fn conn(&self) -> &PgConn {
        each!(self, l => l.conn())
    }

    fn pooled(&self) -> bool {
        each!(self, l => l.pooled())
    }

    fn gate(&self) -> Option<&Gate> {
        each!(self, l => l.gate())
    }

    fn cut(&self) -> Option<(&Signal, &str)> {
        each!(self, l => l.cut())
    }

    fn dirty_return(&self) -> DirtyReturn {
        each!(self, l => l.dirty_return())
    }

    fn release(self, statements: u32) {
        each!(self, l => l.release(statements))
    }
}

/// A variant's connections, whichever their mode (see [`Mode`]).
pub(crate) trait Variant: std::fmt::Debug + Send + Sync {
    fn task(&self, task: usize) -> ModeTask;
    fn close(&self, drain: bool, swap: bool) -> usize;
    fn reopen(&self);
    fn statistics(&self) -> Option<PoolStatistics>;
    fn connect_errors(&self) -> BTreeMap<ErrorClass, u64>;
}

impl<M: Mode> Variant for M
where
    M::Task: Into<ModeTask>,
{
    fn task(&self, task: usize) -> ModeTask {
        Mode::task(self, task).into()
    }
    fn close(&self, drain: bool, swap: bool) -> usize {
        Mode::close(self, drain, swap)
    }
    fn reopen(&self) {
        Mode::reopen(self)
    }
    fn statistics(&self) -> Option<PoolStatistics> {
        Mode::statistics(self)
    }
    fn connect_errors(&self) -> BTreeMap<ErrorClass, u64> {
        Mode::connect_errors(self)
    }
}

impl From<PoolTask> for ModeTask {
    fn from(t: PoolTask) -> ModeTask {
        ModeTask::Pool(t)
    }
}

impl From<ModelTask<Opens>> for ModeTask {
    fn from(t: ModelTask<Opens>) -> ModeTask {
        ModeTask::Model(t)
    }
}

impl From<SharedTask<Opens>> for ModeTask {
    fn from(t: SharedTask<Opens>) -> ModeTask {
        ModeTask::Shared(t)
    }
}

impl From<PerOperation<Opens>> for ModeTask {
    fn from(t: PerOperation<Opens>) -> ModeTask {
        ModeTask::PerOperation(t)
    }
}

impl From<Dedicated<Opens>> for ModeTask {
    fn from(t: Dedicated<Opens>) -> ModeTask {
        ModeTask::PerTask(t)
    }
}

/// Opens the access of a variant in its mode: builds pools (connecting in the background) or
/// opens the shared connections. Runs inside a tokio runtime.
pub(crate) async fn open(
    settings: &Settings,
    connector: &Arc<Connector>,
) -> Result<Box<dyn Variant>, OpError> {
    let instances = settings.access.instances as usize;
    let name = |i: usize| format!("pool-{}", i + 1);
    Ok(match settings.access.mode {
        AccessMode::Pool if let Some(model) = super::models::model_of(&settings.pool) => {
            Box::new(Pools(
                (0..instances)
                    .map(|i| {
                        let c = connector.clone();
                        Arc::new(ModelInstance::open(model.clone(), c, name(i)))
                    })
                    .collect(),
            ))
        }
        AccessMode::Pool => {
            let closable = settings
                .fault
                .iter()
                .any(|f| f.kind == FaultKind::ClosePool);
            Box::new(Pools(
                (0..instances)
                    .map(|i| {
                        let (s, c) = (&settings.pool, connector.clone());
                        Arc::new(PoolInstance::build(s, c, name(i), closable))
                    })
                    .collect(),
            ))
        }
        AccessMode::Shared => {
            let mut conns = Vec::with_capacity(instances);
            for _ in 0..instances {
                let semantics = settings.access.semantics;
                conns.push(Arc::new(
                    SharedConn::open(connector.clone(), semantics).await?,
                ));
            }
            Box::new(Shared(conns))
        }
        AccessMode::PerOperation => Box::new(PerOperation(connector.clone())),
        AccessMode::PerTask => Box::new(PerTask(connector.clone())),
    })
}
