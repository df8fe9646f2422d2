//! What a lease needs of a connection ([`Connection`]): run a statement or a transaction
//! command, tell whether it is broken or may be inside a transaction, be marked dead, and keep
//! the books of who holds it ([`Marks`]).
//!
//! The real connection (`PgConn`, tokio-postgres) implements it in `conn.rs`; a
//! fake does in the unit tests (`fake.rs`), so that the lease's logic (the shared gate, the cut
//! of a close without drain, the dirty return, the death of an idle connection) is tested with
//! orderings forced by channels rather than by timing.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32};

use crate::record::errors::OpError;
use crate::value::Value;

/// Parameterless commands whose effect on the transaction state we track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Begin,
    Commit,
    Rollback,
    /// The pool's reset on return (`ROLLBACK`, `DISCARD ALL`): ends any transaction.
    Reset,
}

/// Who used a connection, kept on the connection itself (leases come and go).
#[derive(Debug, Default)]
pub(crate) struct Marks {
    /// Operations holding this connection now: more than one only on a shared connection.
    pub(crate) holders: AtomicU32,
    /// Whether any operation used it (for the count of backends that served operations).
    pub(crate) used: AtomicBool,
    /// Given back to a pool inside a transaction: its next user inherits that transaction.
    pub(crate) dirty: AtomicBool,
}

/// A connection as a lease uses it.
pub(crate) trait Connection {
    /// Closed, or known to be dead: not to be used again.
    fn is_broken(&self) -> bool;
    /// Marks the connection dead (closed under its user): it will not be handed out again.
    fn mark_dead(&self, cause: OpError);
    /// Whether a BEGIN was sent without a COMMIT or ROLLBACK completing after it.
    fn maybe_in_transaction(&self) -> bool;
    /// Who holds and held it.
    fn marks(&self) -> &Marks;
    /// Runs statement `index` with `values`; writes captured columns of the first row into
    /// `slots`.
    fn execute<'a>(
        &'a self,
        index: usize,
        values: &'a [Value],
        captures: &'a [(String, usize)],
        slots: &'a mut [Value],
    ) -> impl Future<Output = Result<(), OpError>> + 'a;
    /// BEGIN, COMMIT, ROLLBACK and other parameterless commands.
    fn command<'a>(
        &'a self,
        sql: &'a str,
        kind: Command,
    ) -> impl Future<Output = Result<(), OpError>> + 'a;
}
