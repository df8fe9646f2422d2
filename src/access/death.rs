//! How a connection died, as far as we know: from the connection's own error, or from the error
//! a statement met when the connection was lost under it (by tokio-postgres's path, `io.rs`, or
//! by the wire's, `wire.rs`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::record::errors::OpError;

/// How the connection died, as far as we know: from the connection's own error, or from the
/// error a statement met when the connection was lost under it.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    terminal: Mutex<Option<OpError>>,
    dead: AtomicBool,
}

impl ConnState {
    /// Records a cause of death; one with a SQLSTATE (57P01, say) beats one without (a reset
    /// socket), which is often all that is left after the server's message was consumed.
    pub(crate) fn died(&self, cause: OpError) {
        self.dead.store(true, Ordering::Relaxed);
        let mut t = self.terminal.lock().expect("terminal lock");
        if t.as_ref()
            .is_none_or(|old| old.sqlstate.is_none() && cause.sqlstate.is_some())
        {
            *t = Some(cause);
        }
    }

    pub(crate) fn terminal(&self) -> Option<OpError> {
        self.terminal.lock().expect("terminal lock").clone()
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Relaxed)
    }
}
