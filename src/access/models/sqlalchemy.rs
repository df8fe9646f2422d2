//! SQLAlchemy's `QueuePool` (SQLAlchemy 2.0, `sqlalchemy/pool/impl.py`, `pool/base.py`,
//! `util/queue.py`), as [`Rules`]; under `create_async_engine` it is `AsyncAdaptedQueuePool`,
//! the same logic over an `asyncio.Queue`.
//!
//! Where each behaviour comes from:
//! - sizes: `QueuePool.__init__` makes a queue of `maxsize=pool_size` and starts `_overflow` at
//!   `-pool_size`; the pool starts empty ("the pool begins with no connections");
//! - checkout (`QueuePool._do_get`, `pool/impl.py:152-182`): a checked-in connection if any (`_pool.get`, FIFO, or LIFO
//!   with `use_lifo`); else, while `_overflow < max_overflow`, a new connection opened by the
//!   caller (`_inc_overflow`, `_create_connection`); else wait up to `timeout` for one to be
//!   returned, then `TimeoutError("QueuePool limit of size %d overflow %d reached, connection
//!   timed out, timeout %0.2f")`;
//! - waiter order and barging (SQLAlchemy 2.0.58 on Python 3.11): `AsyncAdaptedQueue.get`
//!   first tries `self._queue.get_nowait()` ("an item that's already available is taken without
//!   awaiting", `util/queue.py:314`), and `asyncio.Queue.put_nowait` only wakes the oldest
//!   getter (`asyncio/queues.py:147`, `_wakeup_next`): the returned connection stays in the
//!   queue, so a newcomer that asks before the woken getter runs takes it, and the getter,
//!   finding the queue empty, appends itself again at the end (`queues.py:154-158`, its
//!   `while self.empty()` loop) with its deadline unchanged (`compat.wait_for` around the whole
//!   `get`, `queue.py:320`): barging, which `wake_only` does; the releasing task itself does not
//!   overtake the getter it woke: `async with engine.connect()` closes in a task of its own
//!   (`AsyncConnection.__aexit__` → `_run_to_completion`, `ext/asyncio/engine.py:895`,
//!   `ext/asyncio/base.py:55-59`, `create_task` then `await asyncio.shield(task)`), so the
//!   releaser resumes a loop turn after the getter `put_nowait` woke, as the model's release
//!   yields once (`Core::release`); releasing tasks running on in the meantime can still take
//!   connections that other releases gave back, tasks of the woken waiter's worker thread
//!   only (the application has one event loop; `stress` one per core, and a task of another
//!   loop has no place in that loop's order: `Idle::woke` in `core.rs`);
//! - return (`_do_return_conn`, `pool/impl.py:143-150`): `_pool.put(record, False)`; when the
//!   queue is full (`pool_size` idle) `Full` is raised and the connection is closed
//!   (`record.close()`, `_dec_overflow`): overflow connections are closed on return;
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
            refill_min: false,
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
