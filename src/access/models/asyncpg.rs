//! asyncpg's `Pool` (asyncpg 0.32, `asyncpg/pool.py`, `asyncpg/connection.py`), as [`Rules`].
//!
//! Where each behaviour comes from:
//! - waiter order: `Pool._acquire` awaits `self._queue.get()`, an `asyncio.LifoQueue` of
//!   `max_size` connection holders (`_PoolConnectionHolderQueue`); asyncio queues wake their
//!   getters in arrival order (`Queue._getters` is a deque, `_wakeup_next` pops its left end),
//!   and the holder released by `PoolConnectionHolder._release` (`put_nowait`) goes to the
//!   oldest waiter: FIFO for waiters;
//! - which idle connection: `_PoolConnectionHolderQueue._get` takes the most recently released
//!   connected holder (LIFO), else a disconnected one, which `PoolConnectionHolder.acquire`
//!   connects inside the acquire (connections opened lazily up to `max_size`;
//!   `Pool._initialize` connects `min_size` at creation);
//! - the timeout: `compat.wait_for(_acquire_impl(), timeout=timeout)` bounds the wait and the
//!   connect; it raises `asyncio.TimeoutError` (no text of its own);
//! - `max_queries`: `PoolConnectionHolder.release` closes the connection when
//!   `queries_count >= max_queries` (`pool.py:238-242`), checked before the reset, which is a
//!   query too; the holder goes back to the queue empty and reconnects on its next acquire;
//! - reconnecting to `min_size` (0.32): a connection that closes (`_release_on_close`,
//!   `pool.py:343-347`) or an acquire that failed to connect (`pool.py:998-1001`) calls
//!   `_schedule_min_size_maintenance` (`pool.py:542-548`), whose task `_maintain_min_size`
//!   (`pool.py:550-583`) reconnects disconnected holders while fewer than `min_size` are
//!   connected, unless an acquirer already connects them (`refill_min`; its retry with back-off
//!   after a failure is not modelled: the next close or failed acquire tries again);
//! - `max_inactive_connection_lifetime`: `_deactivate_inactive_connection` terminates a
//!   connection idle that long unless the pool is at `min_size` or below (`pool.py:333-339`);
//! - reset on release: `Connection.reset()` runs `ROLLBACK` when a transaction is open
//!   (`Connection._reset`), then `get_reset_query()`: `SELECT pg_advisory_unlock_all();`,
//!   `CLOSE ALL;`, `UNLISTEN *;`, `RESET ALL;` (PostgreSQL has all four capabilities);
//! - close: `Pool.close()` sets `_closing` (acquires raise `InterfaceError('pool is
//!   closing')`), waits for held connections to be released, closes them, then `_closed`
//!   (`_check_init` raises `InterfaceError('pool is closed')`).

use std::time::Duration;

use super::{Closed, Model, Opens, Reset, Rules, Shrink};
use crate::record::errors::{ErrorClass, OpError};
use crate::scenario::model::AsyncpgSettings;

/// `Connection.get_reset_query()` on PostgreSQL.
pub(crate) const RESET_QUERY: &str =
    "SELECT pg_advisory_unlock_all();\nCLOSE ALL;\nUNLISTEN *;\nRESET ALL;";

#[derive(Debug)]
pub(crate) struct Asyncpg(pub AsyncpgSettings);

impl Model for Asyncpg {
    fn rules(&self) -> Rules {
        let s = &self.0;
        Rules {
            max_size: Some(s.max_size),
            min_size: s.min_size,
            keep_idle: None,
            timeout: s.acquire_timeout.0,
            timeout_covers_connect: true,
            max_waiting: 0,
            lifo: true,
            opens: Opens::InTask,
            shrink: match s.max_inactive_connection_lifetime.0 {
                Some(d) => Shrink::EachIdle(d),
                None => Shrink::Never,
            },
            max_queries: Some(s.max_queries),
            recycle: None,
            max_lifetime: None,
            skip_closed: true,
            pre_ping: false,
            reset: Reset {
                rollback_open_transaction: true,
                always: Some(RESET_QUERY),
            },
            fail_waiters_on_close: true,
            reconnect_timeout: Duration::ZERO,
            wake_only: false,
            refill_min: true,
        }
    }

    fn timeout_error(&self, timeout: Duration) -> OpError {
        OpError::new(
            ErrorClass::PoolTimeout,
            format!(
                "asyncio.TimeoutError: pool.acquire(timeout={}) timed out",
                super::seconds(timeout)
            ),
        )
    }

    fn closed_error(&self, _name: &str, when: Closed) -> OpError {
        let text = match when {
            Closed::Waiting => "asyncpg.exceptions._base.InterfaceError: pool is closing",
            Closed::After => "asyncpg.exceptions._base.InterfaceError: pool is closed",
        };
        OpError::new(ErrorClass::PoolClosed, text)
    }

    fn too_many_waiting(&self, name: &str, waiting: usize) -> OpError {
        // asyncpg has no limit on waiters; never called (max_waiting is 0).
        OpError::new(
            ErrorClass::PoolTimeout,
            format!("{waiting} acquires already wait on {name}"),
        )
    }
}
