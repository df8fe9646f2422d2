//! The statement gate of a shared connection, with the semantics of the driver being imitated
//! (see `shared.rs`): `exclusive` refuses a statement while another is in flight (asyncpg's
//! "another operation is in progress"), `serialized` queues it, `pipelined` lets it through.

use tokio::sync::{Mutex, MutexGuard};

use crate::record::errors::{ErrorClass, OpError};
use crate::scenario::model::Semantics;

/// asyncpg's message for the same condition.
pub(crate) const IN_PROGRESS: &str = "cannot perform operation: another operation is in progress";

/// The statement gate of a shared connection.
#[derive(Debug)]
pub(crate) struct Gate {
    semantics: Semantics,
    lock: Mutex<()>,
}

impl Gate {
    pub(crate) fn new(semantics: Semantics) -> Gate {
        Gate {
            semantics,
            lock: Mutex::new(()),
        }
    }

    /// Waits for (serialized), checks (exclusive) or skips (pipelined) the statement gate.
    pub(crate) async fn enter(&self) -> Result<Option<MutexGuard<'_, ()>>, OpError> {
        match self.semantics {
            Semantics::Pipelined => Ok(None),
            Semantics::Serialized => Ok(Some(self.lock.lock().await)),
            Semantics::Exclusive => self
                .lock
                .try_lock()
                .map(Some)
                .map_err(|_| OpError::new(ErrorClass::OperationInProgress, IN_PROGRESS)),
        }
    }
}
