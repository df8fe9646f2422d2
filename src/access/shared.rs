//! `shared` mode: one connection used by several tasks at once, with the semantics of the
//! driver being imitated:
//! - `exclusive` (asyncpg): a statement sent while another is in flight fails at once with
//!   `operation_in_progress`, and nothing is sent;
//! - `pipelined` (tokio-postgres): overlapping statements are pipelined on the one `Client`, so
//!   BEGIN/COMMIT of different tasks really interleave;
//! - `serialized` (psycopg 3): a statement waits for the one in flight.
//!
//! The gate is per statement, not per operation: between statements other tasks may use the
//! connection, even inside an open transaction, which is exactly the race of the incidents.
//! A connection found dead is replaced at the next operation, as an application that
//! reconnects on error would.
//!
//! The gate itself is in `gate.rs`; here is the mode: a variant's [`Shared`] connections, a
//! task's [`SharedTask`], the [`SharedLent`] connection. Generic over the opener, so the
//! gate's collisions are unit-tested with a fake connection (`tests.rs`).

use std::sync::{Arc, RwLock};

use tokio::sync::Mutex;

use super::connection::Connection;
use super::gate::Gate;
use super::mode::{Acquire, Lent, Mode};
use super::models::Opener;
use crate::record::errors::OpError;
use crate::scenario::model::Semantics;

/// One shared connection with its gate.
#[derive(Debug)]
pub(crate) struct Slot<C> {
    pub(crate) conn: C,
    gate: Gate,
}

/// A shared connection that is replaced when found dead.
#[derive(Debug)]
pub(crate) struct SharedConn<O: Opener> {
    current: RwLock<Arc<Slot<O::Conn>>>,
    reconnect: Mutex<()>,
    opener: O,
    semantics: Semantics,
}

impl<O: Opener> SharedConn<O>
where
    O::Conn: Connection,
{
    pub(crate) async fn open(opener: O, semantics: Semantics) -> Result<SharedConn<O>, OpError> {
        let conn = opener.open().await?;
        Ok(SharedConn {
            current: RwLock::new(Arc::new(Slot {
                conn,
                gate: Gate::new(semantics),
            })),
            reconnect: Mutex::new(()),
            opener,
            semantics,
        })
    }

    /// The live connection, reconnecting once if it died.
    pub(crate) async fn slot(&self) -> Result<Arc<Slot<O::Conn>>, OpError> {
        let slot = self.current.read().expect("slot lock").clone();
        if !slot.conn.is_broken() {
            return Ok(slot);
        }
        let _one_at_a_time = self.reconnect.lock().await;
        let slot = self.current.read().expect("slot lock").clone();
        if !slot.conn.is_broken() {
            return Ok(slot);
        }
        let conn = Box::pin(self.opener.open()).await?;
        let fresh = Arc::new(Slot {
            conn,
            gate: Gate::new(self.semantics),
        });
        *self.current.write().expect("slot lock") = fresh.clone();
        Ok(fresh)
    }
}

/// The shared connections of a variant, one per instance.
#[derive(Debug)]
pub(crate) struct Shared<O: Opener>(pub Vec<Arc<SharedConn<O>>>);

impl<O: Opener + std::fmt::Debug> Mode for Shared<O>
where
    O::Conn: Connection + std::fmt::Debug,
{
    type Task = SharedTask<O>;

    fn task(&self, task: usize) -> SharedTask<O> {
        SharedTask(self.0[task % self.0.len()].clone())
    }
}

/// A task's shared connection.
#[derive(Debug)]
pub(crate) struct SharedTask<O: Opener>(pub Arc<SharedConn<O>>);

impl<O: Opener> Acquire for SharedTask<O>
where
    O::Conn: Connection,
{
    type Lent<'a> = SharedLent<O::Conn>;

    async fn acquire(&mut self) -> Result<SharedLent<O::Conn>, OpError> {
        Ok(SharedLent(self.0.slot().await?))
    }
}

/// The shared connection, lent to one more operation.
pub(crate) struct SharedLent<C>(Arc<Slot<C>>);

impl<C: Connection> Lent for SharedLent<C> {
    type Conn = C;

    fn conn(&self) -> &C {
        &self.0.conn
    }

    fn gate(&self) -> Option<&Gate> {
        Some(&self.0.gate)
    }

    fn release(self, _statements: u32) {}
}
