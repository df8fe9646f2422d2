//! `pool` mode: bb8 with our own `ManageConnection`, as an access mode (a [`PoolInstance`] per
//! instance behind `mode::Pools`, a task's [`PoolTask`], the [`PoolLent`] connection).
//!
//! Two traps of the chosen crates are handled here rather than papered over:
//! - bb8-postgres's manager keeps only the `Client` and drops the connection task's error; our
//!   [`Manager`] hands out [`PgConn`]s, which keep it (see `conn.rs`);
//! - bb8 retries failed connects until `connection_timeout` and then reports only "timed out".
//!   An error sink remembers the connect errors, so a wait that timed out while the pool could
//!   not connect is reported by the connect error's class (`too_many_connections`, say), and
//!   only a wait with no connect error in it is `pool_timeout`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bb8::{ErrorSink, ManageConnection, RunError};

use super::mode::{Acquire, DirtyReturn, Instance, Lent};
use super::statistics::PoolStatistics;
use crate::signal::Signal;

use super::conn::{Connector, PgConn};
use crate::record::errors::{ErrorClass, OpError};
use crate::scenario::model::{PoolSettings, QueueStrategy, ResetOnReturn};

/// Errors of the manager, kept apart so the sink can tell connects from pre-pings.
#[derive(Debug)]
pub(crate) enum ManagerError {
    Connect(OpError),
    Check(OpError),
}

/// bb8's connection manager over [`Connector`].
#[derive(Debug)]
pub(crate) struct Manager {
    connector: Arc<Connector>,
    /// Checks at check-out cut by `connection_timeout` (see [`CheckCut`]): bb8 counts none of
    /// them as invalid, so the instance adds them to `closed_invalid`.
    checks_cut: Arc<AtomicU64>,
}

/// bb8 moves a connection by value at every get and put (its idle queue, `Conn`,
/// `PooledConnection`, the futures between them): boxed, each move is a pointer's, not a
/// whole [`PgConn`] (callgrind, pool of 8 on `SELECT 1`: 18.5k -> 17.0k instructions per
/// operation).
pub(crate) type Pooled = Box<PgConn>;

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = ManagerError;

    async fn connect(&self) -> Result<Pooled, ManagerError> {
        self.connector
            .connect()
            .await
            .map(Box::new)
            .map_err(ManagerError::Connect)
    }

    async fn is_valid(&self, conn: &mut Pooled) -> Result<(), ManagerError> {
        let conn = &**conn;
        let cut = CheckCut(Some((conn, &self.checks_cut)));
        // Boxed: bb8 embeds this future in every get's, used or not.
        let checked = Box::pin(conn.ping()).await.map_err(ManagerError::Check);
        std::mem::forget(cut);
        checked
    }

    fn has_broken(&self, conn: &mut Pooled) -> bool {
        conn.is_broken()
    }

    /// Among connections idle for less than 10 ms, bb8 (patched, vendor/bb8/PATCH.md) hands
    /// out first one whose socket is on the asking worker thread: a connection that changed
    /// thread had its backend woken from the other CPU, and with one change per hundred
    /// checkouts a third of the backends' wake-ups crossed CPUs on `SELECT 1`.
    fn is_local(&self, conn: &Pooled) -> bool {
        conn.is_local()
    }
}

/// Marks a connection dead when its check on check-out is cut short: bb8's
/// `connection_timeout` ends the get while the ping waits (a connection blackholed by a NAT)
/// and bb8 puts the connection back as it was, with the ping's reply pending, to be handed out
/// and to hang again; dead, it is dropped on return and replaced (regression:
/// tests/network.rs, test_on_check_out_replaces_the_dropped_idle_connections).
struct CheckCut<'a>(Option<(&'a PgConn, &'a AtomicU64)>);

impl Drop for CheckCut<'_> {
    fn drop(&mut self) {
        if let Some((conn, cut)) = self.0.take() {
            cut.fetch_add(1, Ordering::Relaxed);
            conn.check_failed();
            conn.mark_dead(OpError::new(
                ErrorClass::ConnectionClosed,
                "its check on check-out got no reply within connection_timeout",
            ));
        }
    }
}

/// Connect errors bb8 retried, swallowed, or reported nowhere.
///
/// Each error gets the next number of `seen`, so a get marks where it started by the number
/// seen so far (one relaxed load, read-only in the steady state) rather than by the clock: the
/// harness reads the clock three times per operation (`run/task.rs`), and a fourth read here,
/// on every get, bought nothing but the rare timeout's explanation.
#[derive(Debug, Default)]
pub(crate) struct ConnectErrors {
    seen: AtomicU64,
    /// The last error, with its number.
    last: Mutex<Option<(u64, OpError)>>,
    by_class: Mutex<BTreeMap<ErrorClass, u64>>,
}

impl ConnectErrors {
    fn note(&self, e: OpError) {
        *self
            .by_class
            .lock()
            .expect("sink lock")
            .entry(e.class)
            .or_default() += 1;
        let mut last = self.last.lock().expect("sink lock");
        let number = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        *last = Some((number, e));
    }

    /// How many connect errors were seen so far: a get's starting mark.
    fn mark(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }

    /// Connect errors seen, by class.
    pub(crate) fn counts(&self) -> BTreeMap<ErrorClass, u64> {
        self.by_class.lock().expect("sink lock").clone()
    }

    /// The error for a get that started at mark `started` and timed out: the last connect
    /// error if one came during the wait, else `pool_timeout`.
    fn explain_timeout(&self, started: u64, timeout: Duration, max_size: u32) -> OpError {
        let last = self.last.lock().expect("sink lock").clone();
        match last {
            Some((number, e)) if number > started => OpError {
                class: e.class,
                sqlstate: e.sqlstate,
                message: format!(
                    "no connection within {}: the pool could not open one: {}",
                    humantime::format_duration(timeout),
                    e.message
                ),
            },
            _ => OpError::new(
                ErrorClass::PoolTimeout,
                format!(
                    "no connection from the pool within {} (max_size {max_size}, all in use)",
                    humantime::format_duration(timeout)
                ),
            ),
        }
    }
}

#[derive(Debug, Clone)]
struct Sink(Arc<ConnectErrors>);

impl ErrorSink<ManagerError> for Sink {
    fn sink(&self, error: ManagerError) {
        if let ManagerError::Connect(e) = error {
            self.0.note(e);
        }
    }

    fn boxed_clone(&self) -> Box<dyn ErrorSink<ManagerError>> {
        Box::new(self.clone())
    }
}

/// One bb8 pool of an instance, from its build (or reopening) to its close.
///
/// bb8 has no close: closing takes the generation out of its instance's slot, so acquires fail
/// at once, and raises its signals. Connections held when it closed either finish and are
/// closed with the detached pool (`drain = true`), or are cut at their next statement
/// (`drain = false`): the race of incident 002.
#[derive(Debug)]
pub(crate) struct Generation {
    pool: bb8::Pool<Manager>,
    /// Raised on close: waiting acquires fail with `pool_closed`.
    pub(crate) closed: Signal,
    /// Raised on a close without drain: held connections fail with `pool_closed`.
    pub(crate) cut: Signal,
    /// Whether this pool can be closed at all (a close_pool fault is scheduled): only then do
    /// acquires and statements watch the signals.
    pub(crate) closable: bool,
    pub(crate) name: String,
    retired: Arc<Mutex<PoolStatistics>>,
    /// `pool.reset_on_return`, applied when a lease gives a connection back (see `reset.rs`).
    pub(crate) reset: ResetOnReturn,
    /// The variant's gauges, for the resets' counts.
    pub(crate) gauges: Arc<super::gauges::Gauges>,
}

impl Drop for Generation {
    fn drop(&mut self) {
        // Its statistics outlive it in the instance's totals.
        let st = PoolStatistics::from(&self.pool.state().statistics);
        self.retired.lock().expect("statistics lock").add(&st);
    }
}

/// One application instance's pool, which may be closed and reopened.
#[derive(Debug)]
pub(crate) struct PoolInstance {
    current: RwLock<Option<Arc<Generation>>>,
    /// The one generation of a pool that cannot be closed (no `close_pool` fault): read
    /// without the slot's lock on every acquire.
    fixed: Option<Arc<Generation>>,
    settings: PoolSettings,
    connector: Arc<Connector>,
    name: String,
    closable: bool,
    pub(crate) connect_errors: Arc<ConnectErrors>,
    retired: Arc<Mutex<PoolStatistics>>,
    /// Shared with each generation's [`Manager`].
    checks_cut: Arc<AtomicU64>,
}

impl PoolInstance {
    /// Builds the pool without waiting for `min_idle` (bb8's `build_unchecked`): a pool that
    /// cannot reach it still runs, and the report says why. Must run inside a tokio runtime.
    pub(crate) fn build(
        settings: &PoolSettings,
        connector: Arc<Connector>,
        name: String,
        closable: bool,
    ) -> PoolInstance {
        let instance = PoolInstance {
            current: RwLock::new(None),
            fixed: None,
            settings: settings.clone(),
            connector,
            name,
            closable,
            connect_errors: Arc::new(ConnectErrors::default()),
            retired: Arc::new(Mutex::new(PoolStatistics::default())),
            checks_cut: Arc::new(AtomicU64::new(0)),
        };
        instance.reopen();
        PoolInstance {
            fixed: (!closable)
                .then(|| instance.current.read().expect("pool slot").clone())
                .flatten(),
            ..instance
        }
    }

    fn generation(&self) -> Generation {
        let s = &self.settings;
        let pool = bb8::Pool::builder()
            .max_size(s.max_size)
            .min_idle(s.min_idle)
            .connection_timeout(s.connection_timeout)
            .idle_timeout(s.idle_timeout.0)
            .max_lifetime(s.max_lifetime.0)
            .reaper_rate(s.reaper_rate)
            .test_on_check_out(s.test_on_check_out)
            .retry_connection(s.retry_connection)
            .queue_strategy(match s.queue_strategy {
                QueueStrategy::Fifo => bb8::QueueStrategy::Fifo,
                QueueStrategy::Lifo => bb8::QueueStrategy::Lifo,
            })
            .error_sink(Box::new(Sink(self.connect_errors.clone())))
            .build_unchecked(Manager {
                connector: self.connector.clone(),
                checks_cut: self.checks_cut.clone(),
            });
        Generation {
            pool,
            closed: Signal::default(),
            cut: Signal::default(),
            closable: self.closable,
            name: self.name.clone(),
            retired: self.retired.clone(),
            reset: s.reset_on_return,
            gauges: self.connector.gauges.clone(),
        }
    }

    fn closed_error(&self) -> OpError {
        OpError::new(
            ErrorClass::PoolClosed,
            format!("the pool '{}' is already closed", self.name),
        )
    }

    /// A connection from the current pool, with the pool it came from. A wait on a pool that
    /// closes fails at once with `pool_closed`, unless a fresh pool replaced it in the same step
    /// (then the wait goes on there).
    pub(crate) async fn get(
        &self,
    ) -> Result<(Arc<Generation>, bb8::PooledConnection<'static, Manager>), OpError> {
        // Marked at the start, not reckoned back from the timeout: a timer that fires late on
        // a loaded machine would leave out the connect errors of the wait's first moments.
        let started = self.connect_errors.mark();
        loop {
            let generation = match &self.fixed {
                Some(fixed) => Some(fixed.clone()),
                None => self.current.read().expect("pool slot").clone(),
            };
            let generation = generation.ok_or_else(|| self.closed_error())?;
            let got = if generation.closable {
                // Boxed: the select would hold bb8's get future twice over on the hot path.
                let get = Box::pin(generation.pool.get_owned());
                tokio::select! {
                    biased;
                    () = generation.closed.raised() => continue,
                    got = get => got,
                }
            } else {
                generation.pool.get_owned().await
            };
            return match got {
                Ok(conn) => Ok((generation, conn)),
                Err(RunError::User(ManagerError::Connect(e) | ManagerError::Check(e))) => Err(e),
                Err(RunError::TimedOut) => Err(self.connect_errors.explain_timeout(
                    started,
                    self.settings.connection_timeout,
                    self.settings.max_size,
                )),
            };
        }
    }

    /// Closes the pool; returns whether it was open. With `swap`, a fresh pool takes its place
    /// in the same step (an atomic replacement: no acquire ever sees it closed).
    pub(crate) fn close(&self, drain: bool, swap: bool) -> bool {
        debug_assert!(
            self.closable,
            "only a pool with a close_pool fault is closed"
        );
        let old = {
            let mut current = self.current.write().expect("pool slot");
            let old = current.take();
            if swap {
                *current = Some(Arc::new(self.generation()));
            }
            old
        };
        let Some(generation) = old else {
            return false;
        };
        generation.closed.raise();
        if !drain {
            generation.cut.raise();
        }
        true
    }

    /// Builds a fresh pool if it is closed, as an application's recovery code would.
    pub(crate) fn reopen(&self) {
        let mut current = self.current.write().expect("pool slot");
        if current.is_none() {
            *current = Some(Arc::new(self.generation()));
        }
    }

    /// bb8's statistics over every pool this instance had.
    pub(crate) fn statistics(&self) -> PoolStatistics {
        let mut total = *self.retired.lock().expect("statistics lock");
        if let Some(g) = self.current.read().expect("pool slot").as_ref() {
            total.add(&PoolStatistics::from(&g.pool.state().statistics));
        }
        total.closed_invalid += self.checks_cut.load(Ordering::Relaxed);
        total
    }
}

impl Instance for PoolInstance {
    type Task = PoolTask;

    fn task(self: &Arc<Self>) -> PoolTask {
        PoolTask(self.clone())
    }

    fn close(&self, drain: bool, swap: bool) -> bool {
        PoolInstance::close(self, drain, swap)
    }

    fn reopen(&self) {
        PoolInstance::reopen(self)
    }

    fn statistics(&self) -> PoolStatistics {
        PoolInstance::statistics(self)
    }

    fn connect_errors(&self) -> BTreeMap<ErrorClass, u64> {
        self.connect_errors.counts()
    }
}

/// A task's pool.
#[derive(Debug)]
pub(crate) struct PoolTask(Arc<PoolInstance>);

impl Acquire for PoolTask {
    type Lent<'a> = PoolLent;

    async fn acquire(&mut self) -> Result<PoolLent, OpError> {
        let (generation, conn) = self.0.get().await?;
        Ok(PoolLent { conn, generation })
    }
}

/// A connection from bb8, with the pool it came from.
pub(crate) struct PoolLent {
    conn: bb8::PooledConnection<'static, Manager>,
    generation: Arc<Generation>,
}

impl Lent for PoolLent {
    type Conn = PgConn;

    fn conn(&self) -> &PgConn {
        &self.conn
    }

    fn pooled(&self) -> bool {
        true
    }

    fn cut(&self) -> Option<(&Signal, &str)> {
        let g = &self.generation;
        g.closable.then_some((&g.cut, g.name.as_str()))
    }

    fn dirty_return(&self) -> DirtyReturn {
        // bb8 does not reset connections: unless `reset_on_return` does, the next user
        // inherits the transaction.
        DirtyReturn::Counted {
            passed_on: self.generation.reset == ResetOnReturn::None,
        }
    }

    fn release(self, _statements: u32) {
        let PoolLent { conn, generation } = self;
        if super::reset::needed(generation.reset, &conn) {
            super::reset::spawn(conn, generation.reset, generation.gauges.clone());
        } else {
            // Back to its pool before the pool's generation may be dropped.
            drop(conn);
        }
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
