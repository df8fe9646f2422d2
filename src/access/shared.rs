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

use std::sync::{Arc, RwLock};

use tokio::sync::{Mutex, MutexGuard};

use super::conn::{Connector, PgConn};
use crate::record::errors::{ErrorClass, OpError};
use crate::scenario::model::Semantics;

/// asyncpg's message for the same condition.
pub const IN_PROGRESS: &str = "cannot perform operation: another operation is in progress";

/// One shared connection with its gate.
#[derive(Debug)]
pub struct Slot {
    pub conn: PgConn,
    semantics: Semantics,
    gate: Mutex<()>,
}

impl Slot {
    /// Waits for (serialized), checks (exclusive) or skips (pipelined) the statement gate.
    pub async fn enter(&self) -> Result<Option<MutexGuard<'_, ()>>, OpError> {
        match self.semantics {
            Semantics::Pipelined => Ok(None),
            Semantics::Serialized => Ok(Some(self.gate.lock().await)),
            Semantics::Exclusive => self
                .gate
                .try_lock()
                .map(Some)
                .map_err(|_| OpError::new(ErrorClass::OperationInProgress, IN_PROGRESS)),
        }
    }
}

/// A shared connection that is replaced when found dead.
#[derive(Debug)]
pub struct SharedConn {
    current: RwLock<Arc<Slot>>,
    reconnect: Mutex<()>,
    connector: Arc<Connector>,
    semantics: Semantics,
}

impl SharedConn {
    pub async fn open(
        connector: Arc<Connector>,
        semantics: Semantics,
    ) -> Result<SharedConn, OpError> {
        let conn = connector.connect().await?;
        Ok(SharedConn {
            current: RwLock::new(Arc::new(Slot {
                conn,
                semantics,
                gate: Mutex::new(()),
            })),
            reconnect: Mutex::new(()),
            connector,
            semantics,
        })
    }

    /// The live connection, reconnecting once if it died.
    pub async fn slot(&self) -> Result<Arc<Slot>, OpError> {
        let slot = self.current.read().expect("slot lock").clone();
        if !slot.conn.is_broken() {
            return Ok(slot);
        }
        let _one_at_a_time = self.reconnect.lock().await;
        let slot = self.current.read().expect("slot lock").clone();
        if !slot.conn.is_broken() {
            return Ok(slot);
        }
        let conn = Box::pin(self.connector.connect()).await?;
        let fresh = Arc::new(Slot {
            conn,
            semantics: self.semantics,
            gate: Mutex::new(()),
        });
        *self.current.write().expect("slot lock") = fresh.clone();
        Ok(fresh)
    }
}
