//! `per_operation` mode: connect, run the operation, close (as code without a pool does).

use super::connection::Connection;
use super::mode::{Acquire, Lent, Mode};
use super::models::Opener;
use crate::record::errors::OpError;

/// A variant's connections, one opened per operation.
#[derive(Debug)]
pub(crate) struct PerOperation<O>(pub O);

impl<O: Opener + Clone + std::fmt::Debug> Mode for PerOperation<O>
where
    O::Conn: Connection,
{
    type Task = PerOperation<O>;

    fn task(&self, _task: usize) -> PerOperation<O> {
        PerOperation(self.0.clone())
    }
}

impl<O: Opener> Acquire for PerOperation<O>
where
    O::Conn: Connection,
{
    type Lent<'a> = Owned<O::Conn>;

    async fn acquire(&mut self) -> Result<Owned<O::Conn>, OpError> {
        // Connecting is boxed: its large future would otherwise size every acquire.
        Ok(Owned(Box::pin(self.0.open()).await?))
    }
}

/// A connection of one operation's own, closed when its lease is dropped.
pub(crate) struct Owned<C>(C);

impl<C: Connection> Lent for Owned<C> {
    type Conn = C;

    fn conn(&self) -> &C {
        &self.0
    }

    fn release(self, _statements: u32) {}
}
