//! Pool models: our own small pools that behave as the application's pool library does
//! (`[pool] model = "asyncpg" | "sqlalchemy" | "psycopg"`), beside bb8 behind the same access
//! interface (a [`super::TaskAccess`] hands out a [`super::Lease`]).
//!
//! One pool core ([`core::Core`]) runs every model; what differs between libraries is a
//! [`Rules`] value and the library's own words for its errors, given by a [`Model`] (one file
//! per library: `asyncpg.rs`, `sqlalchemy.rs`, `psycopg.rs`, each citing where every behaviour
//! comes from in the library's source). The core works over a small connection trait
//! ([`ModelConn`], [`Opener`]), so its orderings are unit-tested with a fake connection
//! (`tests.rs`); [`instance::ModelInstance`] puts it over real connections and adds the close
//! and reopen of the `close_pool` fault.

pub(crate) mod asyncpg;
pub(crate) mod core;
pub(crate) mod instance;
pub(crate) mod mode;
pub(crate) mod psycopg;
pub(crate) mod sqlalchemy;
pub(crate) mod stats;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::record::errors::OpError;
use crate::scenario::model::{PoolModel, PoolSettings};

/// A connection as a pool model sees it.
pub(crate) trait ModelConn: Send + Sync + fmt::Debug + 'static {
    /// Closed, or known dead: not to be handed out again.
    fn is_broken(&self) -> bool;
    /// A transaction may be open on it.
    fn in_transaction(&self) -> bool;
    /// Runs a reset statement (`ROLLBACK`, asyncpg's reset query).
    fn run(&self, sql: &'static str) -> impl Future<Output = Result<(), OpError>> + Send;
    /// A pre-ping (SQLAlchemy's `pool_pre_ping`, psycopg_pool's `check_connection`).
    fn ping(&self) -> impl Future<Output = Result<(), OpError>> + Send;
}

/// Opens connections for a pool model.
pub(crate) trait Opener: Send + Sync + 'static {
    type Conn: ModelConn;
    fn open(&self) -> impl Future<Output = Result<Self::Conn, OpError>> + Send;
}

/// Who opens a connection when an acquire finds none idle and the pool may grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Opens {
    /// The acquiring task, inside its own acquire (asyncpg's holders, SQLAlchemy's overflow).
    InTask,
    /// A background task, one at a time; the acquire waits in the queue (psycopg_pool).
    Background,
}

/// How an idle pool shrinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shrink {
    /// Never (SQLAlchemy: `pool_size` connections stay).
    Never,
    /// Each connection idle this long is closed while more than `min_size` are open (asyncpg's
    /// `max_inactive_connection_lifetime`).
    EachIdle(Duration),
    /// One connection per period when some stayed unused the whole period, down to `min_size`
    /// (psycopg_pool's `max_idle`).
    OnePer(Duration),
}

/// What a pool does to a connection given back, before anyone else gets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reset {
    /// `ROLLBACK` when a transaction may be open.
    pub(crate) rollback_open_transaction: bool,
    /// Then always this statement (asyncpg's reset query, `DISCARD ALL`).
    pub(crate) always: Option<&'static str>,
}

/// The behaviour of one library's pool, as the core runs it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rules {
    /// Most connections open at once (`None`: no limit).
    pub(crate) max_size: Option<u32>,
    /// Opened when the pool opens, in the background; the floor of [`Shrink`].
    pub(crate) min_size: u32,
    /// A connection returned while this many are idle is closed (SQLAlchemy's `pool_size`).
    pub(crate) keep_idle: Option<u32>,
    /// How long an acquire waits (`None`: forever).
    pub(crate) timeout: Option<Duration>,
    /// The timeout also bounds opening the connection (asyncpg's `wait_for` around it all).
    pub(crate) timeout_covers_connect: bool,
    /// Most waiting acquires; beyond, an acquire fails at once (0: no limit).
    pub(crate) max_waiting: u32,
    /// Hand out the most recently returned idle connection (else the oldest).
    pub(crate) lifo: bool,
    pub(crate) opens: Opens,
    pub(crate) shrink: Shrink,
    /// A connection that served this many queries is closed on release (asyncpg).
    pub(crate) max_queries: Option<u64>,
    /// Replaced at checkout when older (SQLAlchemy's `pool_recycle`).
    pub(crate) recycle: Option<Duration>,
    /// Closed on release when older (psycopg_pool's `max_lifetime`).
    pub(crate) max_lifetime: Option<Duration>,
    /// An idle connection found closed is skipped and its slot reconnected (asyncpg prefers
    /// connected holders).
    pub(crate) skip_closed: bool,
    pub(crate) pre_ping: bool,
    pub(crate) reset: Reset,
    /// Waiting acquires fail when the pool closes (asyncpg, psycopg_pool); SQLAlchemy's
    /// disposed pool keeps them waiting for a connection to come back to it.
    pub(crate) fail_waiters_on_close: bool,
    /// How long a failed background connect is retried (psycopg_pool's `reconnect_timeout`).
    pub(crate) reconnect_timeout: Duration,
    /// A returned connection is put in the pool and the oldest waiter only woken: a task that
    /// asks first (the releasing one, asking again) takes it, and the woken waiter queues again
    /// at the end (asyncio.Queue without a hand-over, as SQLAlchemy's async queue uses it).
    pub(crate) wake_only: bool,
    /// A connection closed while fewer than `min_size` remain, and no waiter opens its slot,
    /// is reopened in the background (asyncpg's `_maintain_min_size`).
    pub(crate) refill_min: bool,
}

/// When a closed pool is met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closed {
    /// Waiting in the queue when it closed.
    Waiting,
    /// Asked after it closed.
    After,
}

/// One library's pool: its rules and its words.
pub(crate) trait Model: Send + Sync + fmt::Debug + 'static {
    fn rules(&self) -> Rules;
    /// An acquire that waited `timeout` in vain, in the library's words (class
    /// `pool_timeout`).
    fn timeout_error(&self, timeout: Duration) -> OpError;
    /// An acquire on a closed pool (class `pool_closed`).
    fn closed_error(&self, name: &str, when: Closed) -> OpError;
    /// An acquire refused because `waiting` acquires already wait (psycopg_pool's
    /// `TooManyRequests`, class `pool_timeout`).
    fn too_many_waiting(&self, name: &str, waiting: usize) -> OpError;
}

/// The model of `settings`, or `None` for bb8.
pub(crate) fn model_of(settings: &PoolSettings) -> Option<Arc<dyn Model>> {
    match settings.model {
        PoolModel::Bb8 => None,
        PoolModel::Asyncpg => Some(Arc::new(asyncpg::Asyncpg(settings.asyncpg()))),
        PoolModel::Sqlalchemy => Some(Arc::new(sqlalchemy::Sqlalchemy(settings.sqlalchemy()))),
        PoolModel::Psycopg => Some(Arc::new(psycopg::Psycopg(settings.psycopg()))),
    }
}

/// `1.50` for 1.5 s: the libraries print their timeouts with `%0.2f`.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}
