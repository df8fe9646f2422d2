//! `per_task` mode: one dedicated connection per task, opened at its first operation and
//! reopened at the next one when it died (found broken at checkout).

use super::connection::Connection;
use super::mode::{Acquire, Lent, Mode};
use super::models::Opener;
use crate::record::errors::OpError;

/// A variant's connections, one per task.
#[derive(Debug)]
pub(crate) struct PerTask<O>(pub O);

impl<O: Opener + Clone + std::fmt::Debug> Mode for PerTask<O>
where
    O::Conn: Connection + std::fmt::Debug,
{
    type Task = Dedicated<O>;

    fn task(&self, _task: usize) -> Dedicated<O> {
        Dedicated {
            opener: self.0.clone(),
            conn: None,
        }
    }
}

/// A task's own connection, once opened.
#[derive(Debug)]
pub(crate) struct Dedicated<O: Opener> {
    opener: O,
    conn: Option<Box<O::Conn>>,
}

impl<O: Opener> Acquire for Dedicated<O>
where
    O::Conn: Connection,
{
    type Lent<'a> = Borrowed<'a, O::Conn>;

    async fn acquire(&mut self) -> Result<Borrowed<'_, O::Conn>, OpError> {
        if self.conn.as_ref().is_none_or(|c| c.is_broken()) {
            self.conn = None;
            // Connecting is boxed: its large future would otherwise size every acquire.
            self.conn = Some(Box::new(Box::pin(self.opener.open()).await?));
        }
        Ok(Borrowed(self.conn.as_ref().expect("connected above")))
    }
}

/// The task's connection, lent to its operation.
pub(crate) struct Borrowed<'a, C>(&'a C);

impl<C: Connection> Lent for Borrowed<'_, C> {
    type Conn = C;

    fn conn(&self) -> &C {
        self.0
    }

    fn release(self, _statements: u32) {}
}
