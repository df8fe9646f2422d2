//! SQLAlchemy's `QueuePool` (SQLAlchemy 2.0, `sqlalchemy/pool/impl.py`, `pool/base.py`,
//! `util/queue.py`), as [`Rules`]; under `create_async_engine` it is `AsyncAdaptedQueuePool`,
//! the same logic over an `asyncio.Queue`.
//!
//! Where each behaviour comes from:
//! - sizes: `QueuePool.__init__` makes a queue of `maxsize=pool_size` and starts `_overflow` at
//!   `-pool_size`; the pool starts empty ("the pool begins with no connections");
//! - checkout (`QueuePool._do_get`): a checked-in connection if any (`_pool.get`, FIFO, or LIFO
//!   with `use_lifo`); else, while `_overflow < max_overflow`, a new connection opened by the
//!   caller (`_inc_overflow`, `_create_connection`); else wait up to `timeout` for one to be
//!   returned, then `TimeoutError("QueuePool limit of size %d overflow %d reached, connection
//!   timed out, timeout %0.2f")`;
//! - waiter order: `AsyncAdaptedQueue.get` awaits `asyncio.Queue.get`, whose getters are woken
//!   in arrival order; but `put_nowait` only wakes the oldest getter, the connection stays in
//!   the queue, and the releasing task, which runs on without yielding (the greenlet of
//!   `_finalize_fairy`), takes it back at its next checkout; the woken getter finds the queue
//!   empty and appends itself again at the end (`Queue.get`'s `while self.empty()` loop):
//!   waiters are served in order only when nobody asks again first (`wake_only`);
//! - return (`_do_return_conn`): `_pool.put(record, False)`; when the queue is full (`pool_size`
//!   idle) `Full` is raised and the connection is closed (`record.close()`, `_dec_overflow`):
//!   overflow connections are closed on return;
//! - a record whose connection was invalidated is still checked in, and reconnects at its next
//!   checkout (`_ConnectionRecord.get_connection`);
//! - `pool_recycle`: at checkout a connection older than `recycle` is replaced
//!   (`_ConnectionRecord.get_connection`); `pool_pre_ping`: at checkout a ping, and a failed
//!   one invalidates the connection and reconnects (`_ConnectionFairy._checkout`);
//! - `reset_on_return = "rollback"`: `_finalize_fairy` → `_reset` → `do_rollback`; the asyncpg
//!   adapter only sends `ROLLBACK` when a transaction was started
//!   (`AsyncAdapt_asyncpg_connection.rollback`);
//! - close (`engine.dispose()`): the old pool's idle connections are closed and a new pool takes
//!   its place; connections still checked out finish and are returned to the old pool, whose
//!   waiters are not woken by the dispose: they get a returned connection or time out.

use std::time::Duration;

use super::{Closed, Model, Opens, Reset, Rules, Shrink};
use crate::record::errors::{ErrorClass, OpError};
use crate::scenario::model::{ResetOnReturn, SqlalchemySettings};

#[derive(Debug)]
pub(crate) struct Sqlalchemy(pub SqlalchemySettings);

impl Model for Sqlalchemy {
    fn rules(&self) -> Rules {
        let s = &self.0;
        Rules {
            max_size: u32::try_from(s.max_overflow)
                .ok()
                .map(|o| s.pool_size.saturating_add(o)),
            min_size: 0,
            keep_idle: Some(s.pool_size),
            timeout: Some(s.pool_timeout),
            timeout_covers_connect: false,
            max_waiting: 0,
            lifo: s.pool_use_lifo,
            opens: Opens::InTask,
            shrink: Shrink::Never,
            max_queries: None,
            recycle: s.pool_recycle.0,
            max_lifetime: None,
            skip_closed: false,
            pre_ping: s.pool_pre_ping,
            reset: Reset {
                rollback_open_transaction: s.reset_on_return != ResetOnReturn::None,
                always: match s.reset_on_return {
                    ResetOnReturn::DiscardAll => Some("DISCARD ALL"),
                    _ => None,
                },
            },
            fail_waiters_on_close: false,
            reconnect_timeout: Duration::ZERO,
            wake_only: true,
        }
    }

    fn timeout_error(&self, timeout: Duration) -> OpError {
        let s = &self.0;
        OpError::new(
            ErrorClass::PoolTimeout,
            format!(
                "sqlalchemy.exc.TimeoutError: QueuePool limit of size {} overflow {} reached, \
                 connection timed out, timeout {}",
                s.pool_size,
                s.max_overflow,
                super::seconds(timeout)
            ),
        )
    }

    fn closed_error(&self, name: &str, _when: Closed) -> OpError {
        // SQLAlchemy's engine has no closed state (dispose replaces the pool): this is the
        // application's own refusal while it has no engine, as the close_pool fault makes it.
        OpError::new(
            ErrorClass::PoolClosed,
            format!("the engine's pool '{name}' was disposed and not yet recreated"),
        )
    }

    fn too_many_waiting(&self, name: &str, waiting: usize) -> OpError {
        OpError::new(
            ErrorClass::PoolTimeout,
            format!("{waiting} checkouts already wait on {name}"),
        )
    }
}
