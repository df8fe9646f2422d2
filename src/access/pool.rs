//! `pool` mode: bb8 with our own `ManageConnection`.
//!
//! Two traps of the chosen crates are handled here rather than papered over:
//! - bb8-postgres's manager keeps only the `Client` and drops the connection task's error; our
//!   [`Manager`] hands out [`PgConn`]s, which keep it (see `conn.rs`);
//! - bb8 retries failed connects until `connection_timeout` and then reports only "timed out".
//!   An error sink remembers the connect errors, so a wait that timed out while the pool could
//!   not connect is reported by the connect error's class (`too_many_connections`, say), and
//!   only a wait with no connect error in it is `pool_timeout`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bb8::{ErrorSink, ManageConnection, RunError};

use super::conn::{Connector, PgConn};
use crate::record::errors::{ErrorClass, OpError};
use crate::scenario::model::{PoolSettings, QueueStrategy};

/// Errors of the manager, kept apart so the sink can tell connects from pre-pings.
#[derive(Debug)]
pub enum ManagerError {
    Connect(OpError),
    Check(OpError),
}

/// bb8's connection manager over [`Connector`].
#[derive(Debug)]
pub struct Manager {
    connector: Arc<Connector>,
}

impl ManageConnection for Manager {
    type Connection = PgConn;
    type Error = ManagerError;

    async fn connect(&self) -> Result<PgConn, ManagerError> {
        self.connector
            .connect()
            .await
            .map_err(ManagerError::Connect)
    }

    async fn is_valid(&self, conn: &mut PgConn) -> Result<(), ManagerError> {
        conn.ping().await.map_err(ManagerError::Check)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.is_broken()
    }
}

/// Connect errors bb8 retried, swallowed, or reported nowhere.
#[derive(Debug, Default)]
pub struct ConnectErrors {
    last: Mutex<Option<(Instant, OpError)>>,
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
        *self.last.lock().expect("sink lock") = Some((Instant::now(), e));
    }

    /// Connect errors seen, by class.
    pub fn counts(&self) -> BTreeMap<ErrorClass, u64> {
        self.by_class.lock().expect("sink lock").clone()
    }

    /// The error for a get that started at `started` and timed out.
    fn explain_timeout(&self, started: Instant, timeout: Duration, max_size: u32) -> OpError {
        let last = self.last.lock().expect("sink lock").clone();
        match last {
            Some((at, e)) if at >= started => OpError {
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

/// One application instance's pool.
#[derive(Debug)]
pub struct PoolInstance {
    pool: bb8::Pool<Manager>,
    pub connect_errors: Arc<ConnectErrors>,
    timeout: Duration,
    max_size: u32,
}

impl PoolInstance {
    /// Builds the pool without waiting for `min_idle` (bb8's `build_unchecked`): a pool that
    /// cannot reach it still runs, and the report says why. Must run inside a tokio runtime.
    pub fn build(settings: &PoolSettings, connector: Arc<Connector>) -> PoolInstance {
        let connect_errors = Arc::new(ConnectErrors::default());
        let pool = bb8::Pool::builder()
            .max_size(settings.max_size)
            .min_idle(settings.min_idle)
            .connection_timeout(settings.connection_timeout)
            .idle_timeout(settings.idle_timeout.0)
            .max_lifetime(settings.max_lifetime.0)
            .reaper_rate(settings.reaper_rate)
            .test_on_check_out(settings.test_on_check_out)
            .retry_connection(settings.retry_connection)
            .queue_strategy(match settings.queue_strategy {
                QueueStrategy::Fifo => bb8::QueueStrategy::Fifo,
                QueueStrategy::Lifo => bb8::QueueStrategy::Lifo,
            })
            .error_sink(Box::new(Sink(connect_errors.clone())))
            .build_unchecked(Manager { connector });
        PoolInstance {
            pool,
            connect_errors,
            timeout: settings.connection_timeout,
            max_size: settings.max_size,
        }
    }

    pub async fn get(&self) -> Result<bb8::PooledConnection<'_, Manager>, OpError> {
        let started = Instant::now();
        match self.pool.get().await {
            Ok(conn) => Ok(conn),
            Err(RunError::User(ManagerError::Connect(e) | ManagerError::Check(e))) => Err(e),
            Err(RunError::TimedOut) => {
                Err(self
                    .connect_errors
                    .explain_timeout(started, self.timeout, self.max_size))
            }
        }
    }

    pub fn statistics(&self) -> bb8::Statistics {
        self.pool.state().statistics
    }
}
