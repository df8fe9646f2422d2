//! A pool model over real connections ([`PgConn`] from the run's [`Connector`]), as one
//! application instance's pool: closed and reopened by the `close_pool` fault as bb8's
//! `PoolInstance` is (see `access/pool.rs`), with its statistics summed over every pool it had.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use super::core::{Core, Held};
use super::{Closed, Model, ModelConn, Opener};
use crate::access::conn::{Command, Connector, PgConn};
use crate::access::statistics::PoolStatistics;
use crate::record::errors::{ErrorClass, OpError};

impl ModelConn for PgConn {
    fn is_broken(&self) -> bool {
        PgConn::is_broken(self)
    }

    fn in_transaction(&self) -> bool {
        self.maybe_in_transaction()
    }

    fn run(&self, sql: &'static str) -> impl Future<Output = Result<(), OpError>> + Send {
        // Every reset statement ends any transaction: tracked as a ROLLBACK.
        self.command(sql, Command::Rollback)
    }

    fn ping(&self) -> impl Future<Output = Result<(), OpError>> + Send {
        PgConn::ping(self)
    }
}

impl Opener for Arc<Connector> {
    type Conn = PgConn;

    fn open(&self) -> impl Future<Output = Result<PgConn, OpError>> + Send {
        self.connect()
    }
}

/// One application instance's pool of a library model.
#[derive(Debug)]
pub(crate) struct ModelInstance<O: Opener = Arc<Connector>> {
    current: RwLock<Option<Arc<Core<O>>>>,
    /// Every pool this instance had, for the statistics (a closed one still counts returns).
    all: Mutex<Vec<Arc<Core<O>>>>,
    model: Arc<dyn Model>,
    opener: O,
    name: String,
}

impl<O: Opener + Clone> ModelInstance<O> {
    /// Opens the pool (its `min_size` connections open in the background). Must run inside a
    /// tokio runtime.
    pub(crate) fn open(model: Arc<dyn Model>, opener: O, name: String) -> ModelInstance<O> {
        let instance = ModelInstance {
            current: RwLock::new(None),
            all: Mutex::new(Vec::new()),
            model,
            opener,
            name,
        };
        instance.reopen();
        instance
    }

    fn fresh(&self) -> Arc<Core<O>> {
        let core = Core::open(self.opener.clone(), self.model.clone(), self.name.clone());
        self.all.lock().expect("pools").push(core.clone());
        core
    }

    /// A connection from the current pool, with the pool it came from. A wait on a pool that
    /// closes fails as the library fails it, unless a fresh pool replaced it in the same step
    /// (then the wait goes on there, as the application's swap would).
    pub(crate) async fn get(&self) -> Result<(Arc<Core<O>>, Held<O::Conn>), OpError> {
        loop {
            let core = self.current.read().expect("pool slot").clone();
            let core = core.ok_or_else(|| self.model.closed_error(&self.name, Closed::After))?;
            match core.acquire().await {
                Ok(held) => return Ok((core, held)),
                Err(e) if e.class == ErrorClass::PoolClosed && self.replaced(&core) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn replaced(&self, core: &Arc<Core<O>>) -> bool {
        let current = self.current.read().expect("pool slot");
        current.as_ref().is_some_and(|c| !Arc::ptr_eq(c, core))
    }

    /// Closes the pool; returns whether it was open. With `swap`, a fresh pool takes its place
    /// in the same step.
    pub(crate) fn close(&self, drain: bool, swap: bool) -> bool {
        let old = {
            let mut current = self.current.write().expect("pool slot");
            let old = current.take();
            if swap {
                *current = Some(self.fresh());
            }
            old
        };
        let Some(core) = old else {
            return false;
        };
        core.close(drain);
        true
    }

    /// Opens a fresh pool if it is closed.
    pub(crate) fn reopen(&self) {
        let mut current = self.current.write().expect("pool slot");
        if current.is_none() {
            *current = Some(self.fresh());
        }
    }

    /// The statistics of every pool this instance had, in bb8's terms.
    pub(crate) fn statistics(&self) -> PoolStatistics {
        let mut total = PoolStatistics::default();
        for core in self.all.lock().expect("pools").iter() {
            let s = &core.stats;
            let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            total.add(&PoolStatistics {
                get_direct: get(&s.get_direct),
                get_waited: get(&s.get_waited),
                get_timed_out: get(&s.get_timed_out),
                connections_created: get(&s.created),
                closed_broken: get(&s.closed_broken),
                closed_invalid: get(&s.closed_invalid),
                closed_max_lifetime: get(&s.closed_max_lifetime),
                closed_idle_timeout: get(&s.closed_idle_timeout),
                closed_overflow: get(&s.closed_overflow),
            });
        }
        total
    }

    /// Connect errors of background connects (psycopg_pool), by class.
    pub(crate) fn connect_errors(&self) -> BTreeMap<ErrorClass, u64> {
        let mut all = BTreeMap::new();
        for core in self.all.lock().expect("pools").iter() {
            for (class, n) in core.connect_errors() {
                *all.entry(class).or_default() += n;
            }
        }
        all
    }
}
