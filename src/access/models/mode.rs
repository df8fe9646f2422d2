//! The pool models as an access mode: one [`ModelInstance`] per application instance (behind
//! `mode::Pools`, as bb8's pools are), a task's [`ModelTask`], and the [`ModelLent`] connection, given
//! back (reset, closed or kept, as the library does) in a task of its own when its lease is
//! dropped. Generic over the [`Opener`], so the lease's logic over a model pool is unit-tested
//! with a fake connection (`access/tests.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Opener;
use super::core::{Core, Held};
use super::instance::ModelInstance;
use crate::access::connection::Connection;
use crate::access::mode::{Acquire, DirtyReturn, Instance, Lent};
use crate::access::statistics::PoolStatistics;
use crate::record::errors::{ErrorClass, OpError};
use crate::signal::Signal;

impl<O: Opener + Clone + std::fmt::Debug> Instance for ModelInstance<O>
where
    O::Conn: Connection + std::fmt::Debug,
{
    type Task = ModelTask<O>;

    fn task(self: &Arc<Self>) -> ModelTask<O> {
        ModelTask::new(self.clone())
    }

    fn close(&self, drain: bool, swap: bool) -> bool {
        ModelInstance::close(self, drain, swap)
    }

    fn reopen(&self) {
        ModelInstance::reopen(self)
    }

    fn statistics(&self) -> PoolStatistics {
        ModelInstance::statistics(self)
    }

    fn connect_errors(&self) -> BTreeMap<ErrorClass, u64> {
        ModelInstance::connect_errors(self)
    }
}

/// A task's pool model.
#[derive(Debug)]
pub(crate) struct ModelTask<O: Opener> {
    instance: Arc<ModelInstance<O>>,
    /// The release of this task's last connection, awaited before its next acquire as the
    /// libraries' releases are.
    pending: Option<tokio::task::JoinHandle<()>>,
}

impl<O: Opener> ModelTask<O> {
    pub(crate) fn new(instance: Arc<ModelInstance<O>>) -> ModelTask<O> {
        ModelTask {
            instance,
            pending: None,
        }
    }
}

impl<O: Opener + Clone> Acquire for ModelTask<O>
where
    O::Conn: Connection,
{
    type Lent<'a> = ModelLent<'a, O>;

    async fn acquire(&mut self) -> Result<ModelLent<'_, O>, OpError> {
        if let Some(release) = self.pending.take() {
            let _ = release.await;
        }
        let (core, held) = self.instance.get().await?;
        Ok(ModelLent {
            core,
            held,
            pending: &mut self.pending,
        })
    }
}

/// A connection of a model's pool, with the pool it came from.
pub(crate) struct ModelLent<'a, O: Opener> {
    core: Arc<Core<O>>,
    held: Held<O::Conn>,
    /// Where the release is left for the task's next acquire.
    pending: &'a mut Option<tokio::task::JoinHandle<()>>,
}

impl<O: Opener> Lent for ModelLent<'_, O>
where
    O::Conn: Connection,
{
    type Conn = O::Conn;

    fn conn(&self) -> &O::Conn {
        &self.held.conn
    }

    fn pooled(&self) -> bool {
        true
    }

    fn cut(&self) -> Option<(&Signal, &str)> {
        Some((&self.core.cut, self.core.name.as_str()))
    }

    fn dirty_return(&self) -> DirtyReturn {
        match self.core.rules.reset.rollback_open_transaction {
            true => DirtyReturn::Ignored,
            // A model that does not reset (`reset_on_return = "none"`) passes the transaction
            // on, as bb8 does.
            false => DirtyReturn::Counted { passed_on: true },
        }
    }

    fn release(self, statements: u32) {
        let ModelLent {
            core,
            held,
            pending,
        } = self;
        // The library's release (reset, then to a waiter or idle) runs in a task of its own,
        // as a lease is dropped synchronously.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            *pending = Some(rt.spawn(core.release(held, u64::from(statements))));
        }
    }
}
