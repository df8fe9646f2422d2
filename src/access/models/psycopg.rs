//! psycopg_pool's `AsyncConnectionPool` (psycopg_pool 3.3, `psycopg_pool/pool_async.py`,
//! `base.py`, `errors.py`), as [`Rules`].
//!
//! Where each behaviour comes from:
//! - checkout (`_getconn_unchecked`, `_get_ready_connection`): the oldest idle connection
//!   (`self._pool.popleft()`); else, when `max_waiting` acquires already wait,
//!   `TooManyRequests("the pool 'pool-1' has already N requests waiting")`; else the client
//!   joins `self._waiting` (a deque) and the pool grows in the background, one connection at a
//!   time (`_maybe_grow_pool`, `_growing`; `_add_connection` grows again while clients wait);
//! - waiter order (the hand-over): a returned or new connection goes to the oldest waiting
//!   client still waiting (`_add_to_pool`, `pool_async.py:859-862`: `popleft().set(conn)`,
//!   where `WaitingClient.set` refuses, `pool_async.py:985-997`, for a client that timed out,
//!   and the next one is tried), else to the end of the idle deque; the releasing client does
//!   this itself inside `putconn` before it can ask again (`_putconn` → `_return_connection`,
//!   `pool_async.py:397-402`, no reset callback), so no newcomer takes a connection a waiter
//!   was handed (`Core::give_back` sends it to the waiter's channel);
//! - the timeout: one deadline from the start of `getconn` (`pool_async.py:242`), of which the
//!   wait in the queue gets what is left (`_getconn_unchecked(deadline - monotonic())`,
//!   `pool_async.py:263`, then `pos.wait(timeout)`, `pool_async.py:308`); a connection set
//!   in the very instant the wait timed out is given back (`pool_async.py:310-311`), where
//!   the model serves it to that client (`Core::wait`: one instant on tokio's clock); then
//!   `PoolTimeout("couldn't get a connection after %.2f sec")` with the whole timeout
//!   (`pool_async.py:254-257`);
//! - `min_size` connections are opened in the background when the pool opens
//!   (`_start_initial_tasks`);
//! - return (`_return_connection`): `_reset_connection` rolls back an open transaction
//!   (`INTRANS`/`INERROR`); a broken connection is discarded and replaced in the background
//!   (`AddConnection`); one past `max_lifetime` (`_expire_at`) is closed and replaced;
//! - `check`: at checkout (`_getconn_with_check_loop`); a connection failing it is discarded,
//!   replaced in the background, and the client tries again;
//! - `max_idle`: `_shrink_pool` closes one connection per `max_idle` when some stayed unused
//!   the whole time, down to `min_size`;
//! - `reconnect_timeout`: a failed background connect is retried with back-off
//!   (`AttemptWithBackoff`, 1 s doubling) until then;
//! - close (`close()`): `_closed` is set, waiting clients fail with `PoolClosed("the pool
//!   'pool-1' is closed")`, later ones with `PoolClosed("the pool 'pool-1' is already
//!   closed")` (`_check_open_getconn`); connections in use are closed when returned
//!   (`_maybe_close_connection`).

use std::time::Duration;

use super::{Closed, Model, Opens, Reset, Rules, Shrink};
use crate::record::errors::{ErrorClass, OpError};
use crate::scenario::model::{PsycopgCheck, PsycopgSettings};

#[derive(Debug)]
pub(crate) struct Psycopg(pub PsycopgSettings);

impl Model for Psycopg {
    fn rules(&self) -> Rules {
        let s = &self.0;
        Rules {
            max_size: Some(s.effective_max_size()),
            min_size: s.min_size,
            keep_idle: None,
            timeout: Some(s.timeout),
            timeout_covers_connect: false,
            max_waiting: s.max_waiting,
            lifo: false,
            opens: Opens::Background,
            shrink: Shrink::OnePer(s.max_idle),
            max_queries: None,
            recycle: None,
            max_lifetime: Some(s.max_lifetime),
            skip_closed: false,
            pre_ping: s.check == PsycopgCheck::CheckConnection,
            reset: Reset {
                rollback_open_transaction: true,
                always: None,
            },
            fail_waiters_on_close: true,
            reconnect_timeout: s.reconnect_timeout,
            wake_only: false,
            refill_min: false,
        }
    }

    fn timeout_error(&self, timeout: Duration) -> OpError {
        OpError::new(
            ErrorClass::PoolTimeout,
            format!(
                "psycopg_pool.PoolTimeout: couldn't get a connection after {} sec",
                super::seconds(timeout)
            ),
        )
    }

    fn closed_error(&self, name: &str, when: Closed) -> OpError {
        let text = match when {
            Closed::Waiting => format!("psycopg_pool.PoolClosed: the pool '{name}' is closed"),
            Closed::After => {
                format!("psycopg_pool.PoolClosed: the pool '{name}' is already closed")
            }
        };
        OpError::new(ErrorClass::PoolClosed, text)
    }

    fn too_many_waiting(&self, name: &str, waiting: usize) -> OpError {
        OpError::new(
            ErrorClass::PoolTimeout,
            format!(
                "psycopg_pool.TooManyRequests: the pool '{name}' has already {waiting} requests \
                 waiting"
            ),
        )
    }
}
