//! The one pool core every library model runs: idle connections, slots (connections open or
//! being opened), and a FIFO queue of waiting acquires, each served by a oneshot channel.
//!
//! A returned connection goes straight to the oldest waiter still waiting (a waiter that timed
//! out closed its channel and is skipped), as asyncpg's queue and psycopg_pool's `_add_to_pool`
//! do; with `wake_only` (SQLAlchemy's asyncio queue) it stays idle and the oldest waiter is only
//! woken, so whoever asks first takes it. A slot freed by a connection that died is handed over
//! the same way (the waiter opens it), or refilled in the background (psycopg, asyncpg's floor).
//! The state sits behind a `std` mutex that is never held across an await.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Instant;

use tokio::sync::oneshot;

use super::stats::{Stats, bump};
use super::{Closed, Model, ModelConn, Opener, Opens, Rules, Shrink};

mod connect;
mod shrink;
use crate::record::errors::{ErrorClass, OpError};
use crate::signal::Signal;
use connect::Connect;

/// A connection out of the pool, with what the pool remembers of it.
#[derive(Debug)]
pub(crate) struct Held<C> {
    pub(crate) conn: C,
    created: Instant,
    queries: u64,
}

#[derive(Debug)]
struct Idle<C> {
    held: Held<C>,
    since: Instant,
    /// Given back, with `wake_only`, while waking a waiter that waits on this worker thread:
    /// until that waiter takes one, only it or an acquire on its thread may (the same event
    /// loop, where asyncio lets a task that runs before the woken one take it; a task of
    /// another thread has no place in that loop's order).
    woke: Option<ThreadId>,
}

/// What a waiter is given: a connection, or a slot to open one in.
enum Handoff<C> {
    Conn(Idle<C>),
    Slot,
    /// Woken to look again (asyncio.Queue): the connection, or the room, is in the pool for
    /// whoever takes it first.
    Wake,
}

type Waiter<C> = oneshot::Sender<Result<Handoff<C>, OpError>>;

struct State<C> {
    idle: VecDeque<Idle<C>>,
    /// Connections open or being opened.
    total: u32,
    /// Waiting acquires, with the worker thread each waits on.
    waiters: VecDeque<(Waiter<C>, ThreadId)>,
    closed: bool,
    /// A background connect for waiters is under way (psycopg_pool's `_growing`).
    growing: bool,
    /// Fewest idle connections since the last shrink (psycopg_pool's `_nconns_min`).
    idle_min: usize,
    /// `min_size` connects of the pool's opening still under way. A model that opens in the
    /// acquire (asyncpg) does not open another meanwhile: `create_pool` returns only once they
    /// are connected, so no acquire of the library ever sees them pending (review of
    /// 2026-12-03: min_size 5 and one task opened 6 connections, asyncpg 5).
    initializing: u32,
}

/// One pool of a model, from its opening to its close.
pub(crate) struct Core<O: Opener> {
    opener: O,
    model: Arc<dyn Model>,
    pub(crate) rules: Rules,
    pub(crate) name: String,
    state: Mutex<State<O::Conn>>,
    pub(crate) stats: Stats,
    /// Raised on a close without drain: held connections fail at their next statement.
    pub(crate) cut: Signal,
    /// Failed connects, in the background or by an acquire, by class, and the last one.
    connect_errors: Mutex<ConnectErrors>,
}

impl<O: Opener> std::fmt::Debug for Core<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("model", &self.model)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Connect errors by class, and the last one with when it happened.
type ConnectErrors = (BTreeMap<ErrorClass, u64>, Option<(Instant, OpError)>);

enum Take<C> {
    Now(Handoff<C>),
    Wait(oneshot::Receiver<Result<Handoff<C>, OpError>>),
}

impl<O: Opener> Core<O> {
    /// Opens a pool: `min_size` connections are opened in the background, and an idle
    /// shrinker runs while the pool lives. Must run inside a tokio runtime.
    pub(crate) fn open(opener: O, model: Arc<dyn Model>, name: String) -> Arc<Core<O>> {
        let rules = model.rules();
        let core = Arc::new(Core {
            opener,
            model,
            name,
            state: Mutex::new(State {
                idle: VecDeque::new(),
                total: rules.min_size,
                waiters: VecDeque::new(),
                closed: false,
                growing: false,
                idle_min: 0,
                initializing: rules.min_size,
            }),
            rules,
            stats: Stats::default(),
            cut: Signal::default(),
            connect_errors: Mutex::default(),
        });
        for _ in 0..core.rules.min_size {
            tokio::spawn(Arc::clone(&core).add_boxed(Connect::Initial));
        }
        if core.rules.shrink != Shrink::Never {
            tokio::spawn(shrink::shrinker(Arc::downgrade(&core)));
        }
        core
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<O::Conn>> {
        self.state.lock().expect("pool model state")
    }

    /// A connection, as the library's acquire gives one.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Result<Held<O::Conn>, OpError> {
        let started = Instant::now();
        let deadline = self.rules.timeout.map(|t| started + t);
        let (mut waited, mut woken) = (false, false);
        loop {
            let handoff = match self.take(woken)? {
                Take::Now(h) => h,
                Take::Wait(rx) => {
                    waited = true;
                    self.wait(rx, deadline, started).await?
                }
            };
            let got = match handoff {
                Handoff::Conn(idle) => self.checkout(idle, deadline).await?,
                Handoff::Slot => Some(self.open_slot(deadline).await?),
                Handoff::Wake => {
                    woken = true;
                    None
                }
            };
            if let Some(held) = got {
                bump(if waited {
                    &self.stats.get_waited
                } else {
                    &self.stats.get_direct
                });
                return Ok(held);
            }
        }
    }

    /// Decides under the lock: an idle connection, a slot to open, or a place in the queue;
    /// `woken`: by a waiter [`wake_oldest`] woke.
    fn take(self: &Arc<Self>, woken: bool) -> Result<Take<O::Conn>, OpError> {
        let mut st = self.lock();
        if st.closed {
            return Err(self.model.closed_error(&self.name, Closed::After));
        }
        if let Some(idle) = self.pop_idle(&mut st.idle, woken) {
            st.idle_min = st.idle_min.min(st.idle.len());
            return Ok(Take::Now(Handoff::Conn(idle)));
        }
        let room = self.rules.max_size.is_none_or(|max| st.total < max);
        if room && self.rules.opens == Opens::InTask && st.initializing == 0 {
            st.total += 1;
            return Ok(Take::Now(Handoff::Slot));
        }
        let limit = self.rules.max_waiting as usize;
        if limit > 0 && st.waiters.len() >= limit {
            return Err(self.model.too_many_waiting(&self.name, st.waiters.len()));
        }
        let (tx, rx) = oneshot::channel();
        st.waiters.push_back((tx, thread::current().id()));
        if room && !st.growing && self.rules.opens != Opens::InTask {
            st.total += 1;
            st.growing = true;
            tokio::spawn(Arc::clone(self).add_boxed(Connect::Growing));
        }
        Ok(Take::Wait(rx))
    }

    /// The idle connection to hand out (LIFO or FIFO); a woken waiter takes one kept for a
    /// woken waiter first, another acquire none kept on another thread.
    fn pop_idle(&self, idle: &mut VecDeque<Idle<O::Conn>>, woken: bool) -> Option<Idle<O::Conn>> {
        let here = thread::current().id();
        let kept = idle.iter().position(|i| i.woke.is_some()).filter(|_| woken);
        let usable = |i: &Idle<O::Conn>| woken || i.woke.is_none_or(|t| t == here);
        let at = match self.rules.lifo {
            true => kept.or_else(|| idle.iter().rposition(usable)),
            false => kept.or_else(|| idle.iter().position(usable)),
        };
        let mut got = idle.remove(at?)?;
        got.woke = None;
        Some(got)
    }

    /// Waits in the queue until served, closed or timed out.
    async fn wait(
        &self,
        mut rx: oneshot::Receiver<Result<Handoff<O::Conn>, OpError>>,
        deadline: Option<Instant>,
        started: Instant,
    ) -> Result<Handoff<O::Conn>, OpError> {
        let got = match deadline {
            Some(d) => tokio::time::timeout_at(d.into(), &mut rx).await.ok(),
            None => Some((&mut rx).await),
        };
        match got {
            Some(Ok(served)) => served,
            Some(Err(_)) => Err(self.model.closed_error(&self.name, Closed::Waiting)),
            None => {
                // Closed first: a connection sent in the same instant is taken, not lost.
                rx.close();
                if let Ok(served) = rx.try_recv() {
                    return served;
                }
                bump(&self.stats.get_timed_out);
                Err(self.timeout_error(started))
            }
        }
    }

    /// A wait that timed out: by the background connect error met meanwhile, if any (the pool
    /// could not open one), else in the library's words.
    fn timeout_error(&self, started: Instant) -> OpError {
        let timeout = self.rules.timeout.unwrap_or_default();
        let last = self
            .connect_errors
            .lock()
            .expect("connect errors")
            .1
            .clone();
        match last {
            Some((at, e)) if at >= started => OpError {
                message: format!(
                    "{}: the pool could not open one: {}",
                    self.model.timeout_error(timeout).message,
                    e.message
                ),
                ..e
            },
            _ => self.model.timeout_error(timeout),
        }
    }

    /// What an acquire does with an idle connection before handing it out; `None` when it
    /// failed its check and the acquire must try again.
    async fn checkout(
        self: &Arc<Self>,
        idle: Idle<O::Conn>,
        deadline: Option<Instant>,
    ) -> Result<Option<Held<O::Conn>>, OpError> {
        let held = idle.held;
        if self.rules.skip_closed && held.conn.is_broken() {
            bump(&self.stats.closed_broken);
            drop(held);
            return self.open_slot(deadline).await.map(Some);
        }
        if let Some(recycle) = self.rules.recycle
            && held.created.elapsed() >= recycle
        {
            bump(&self.stats.closed_max_lifetime);
            drop(held);
            return self.open_slot(deadline).await.map(Some);
        }
        if self.rules.pre_ping && held.conn.ping().await.is_err() {
            bump(&self.stats.closed_invalid);
            drop(held);
            if self.rules.opens == Opens::Background {
                self.free_slot();
                return Ok(None);
            }
            return self.open_slot(deadline).await.map(Some);
        }
        Ok(Some(held))
    }

    /// Opens a connection in a slot this acquire holds; on failure the slot is freed.
    async fn open_slot(
        self: &Arc<Self>,
        deadline: Option<Instant>,
    ) -> Result<Held<O::Conn>, OpError> {
        // A failed connect is counted as every failed connect is (the review of 2026-12-03
        // found 19 connect errors beside 1341 operations the server refused: only background
        // connects were counted); a connect cut by the acquire's deadline is no connect error.
        let open = async {
            let opened = self.opener.open().await;
            if let Err(e) = &opened {
                self.note_connect_error(e.clone());
            }
            opened
        };
        let opened = match deadline.filter(|_| self.rules.timeout_covers_connect) {
            Some(d) => match tokio::time::timeout_at(d.into(), open).await {
                Ok(r) => r,
                Err(_) => {
                    bump(&self.stats.get_timed_out);
                    Err(self
                        .model
                        .timeout_error(self.rules.timeout.unwrap_or_default()))
                }
            },
            None => open.await,
        };
        match opened {
            Ok(conn) => {
                bump(&self.stats.created);
                Ok(Held {
                    conn,
                    created: Instant::now(),
                    queries: 0,
                })
            }
            Err(e) => {
                self.free_slot();
                Err(e)
            }
        }
    }

    /// A slot whose connection is gone: to the oldest waiter (who opens it), or refilled in the
    /// background, or given up.
    fn free_slot(self: &Arc<Self>) {
        if self.rules.opens == Opens::Background {
            if !self.lock().closed {
                tokio::spawn(Arc::clone(self).add_boxed(Connect::Refill));
                return;
            }
            self.lock().total -= 1;
            return;
        }
        let mut st = self.lock();
        if self.rules.wake_only {
            st.total -= 1;
            wake_oldest(&mut st.waiters);
            return;
        }
        if !st.closed || !self.rules.fail_waiters_on_close {
            while let Some((tx, _)) = st.waiters.pop_front() {
                if tx.send(Ok(Handoff::Slot)).is_ok() {
                    return;
                }
            }
        }
        if self.rules.refill_min && !st.closed && st.total <= self.rules.min_size {
            // Below the floor with nobody to open it: reconnected in the background.
            tokio::spawn(Arc::clone(self).add_boxed(Connect::Refill));
            return;
        }
        st.total -= 1;
    }

    /// Failed connects, by class.
    pub(crate) fn connect_errors(&self) -> BTreeMap<ErrorClass, u64> {
        self.connect_errors
            .lock()
            .expect("connect errors")
            .0
            .clone()
    }

    /// Gives a connection back after its operation, `queries` statements later: checked,
    /// reset, closed or kept as the library does.
    pub(crate) async fn release(self: Arc<Self>, mut held: Held<O::Conn>, queries: u64) {
        held.queries += queries;
        if held.conn.is_broken() {
            bump(&self.stats.closed_broken);
            drop(held);
            return self.free_slot();
        }
        if self
            .rules
            .max_queries
            .is_some_and(|max| held.queries >= max)
        {
            bump(&self.stats.closed_max_lifetime);
            drop(held);
            return self.free_slot();
        }
        if !self.reset(&mut held).await {
            bump(&self.stats.closed_broken);
            drop(held);
            return self.free_slot();
        }
        if self
            .rules
            .max_lifetime
            .is_some_and(|max| held.created.elapsed() >= max)
        {
            bump(&self.stats.closed_max_lifetime);
            drop(held);
            return self.free_slot();
        }
        if self.give_back(held) {
            // The releasing task resumes a loop turn after the waiter `give_back` woke.
            tokio::task::yield_now().await;
        }
    }

    /// Runs the library's reset; false when it failed (the connection is then closed).
    async fn reset(&self, held: &mut Held<O::Conn>) -> bool {
        let reset = self.rules.reset;
        if reset.rollback_open_transaction && held.conn.in_transaction() {
            held.queries += 1;
            if held.conn.run("ROLLBACK").await.is_err() {
                return false;
            }
        }
        if let Some(sql) = reset.always {
            held.queries += 1;
            return held.conn.run(sql).await.is_ok();
        }
        true
    }

    /// A usable connection back in the pool: to the oldest waiter, else idle, else closed;
    /// true when it stays idle for a waiter it woke (`wake_only`).
    fn give_back(&self, held: Held<O::Conn>) -> bool {
        let mut item = Handoff::Conn(Idle {
            held,
            since: Instant::now(),
            woke: None,
        });
        let mut st = self.lock();
        if self.rules.wake_only
            && let Some(thread) = wake_oldest(&mut st.waiters)
        {
            let Handoff::Conn(mut idle) = item else {
                unreachable!("a connection was given back")
            };
            idle.woke = Some(thread);
            st.idle.push_back(idle);
            return true;
        }
        if !st.closed || !self.rules.fail_waiters_on_close {
            while let Some((tx, _)) = st.waiters.pop_front() {
                match tx.send(Ok(item)) {
                    Ok(()) => return false,
                    Err(back) => item = back.unwrap_or_else(|_| unreachable!("sent Ok")),
                }
            }
        }
        let Handoff::Conn(idle) = item else {
            unreachable!("a connection was given back")
        };
        let overflow = self
            .rules
            .keep_idle
            .is_some_and(|keep| st.idle.len() >= keep as usize);
        if st.closed || overflow {
            st.total -= 1;
            drop(st);
            if overflow {
                bump(&self.stats.closed_overflow);
            }
            drop(idle);
            return false;
        }
        st.idle.push_back(idle);
        false
    }

    /// Closes the pool: idle connections are closed, waiters fail (or, for SQLAlchemy's
    /// disposed pool, keep waiting for a returned connection), held ones are closed when given
    /// back; without `drain` they are also cut at their next statement.
    pub(crate) fn close(&self, drain: bool) {
        let (idle, waiters) = {
            let mut st = self.lock();
            st.closed = true;
            let idle: Vec<_> = st.idle.drain(..).collect();
            st.total -= idle.len() as u32;
            let waiters: Vec<_> = if self.rules.fail_waiters_on_close {
                st.waiters.drain(..).map(|(tx, _)| tx).collect()
            } else {
                Vec::new()
            };
            (idle, waiters)
        };
        drop(idle);
        for tx in waiters {
            let _ = tx.send(Err(self.model.closed_error(&self.name, Closed::Waiting)));
        }
        if !drain {
            self.cut.raise();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Acquires in the queue (those that timed out included until they are skipped).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.lock().waiters.len()
    }

    /// Connections open or being opened, and idle.
    #[cfg(test)]
    pub(crate) fn sizes(&self) -> (u32, usize) {
        let st = self.lock();
        (st.total, st.idle.len())
    }
}

/// Wakes the oldest waiter still waiting (asyncio's `Queue._wakeup_next`); its thread.
fn wake_oldest<C>(waiters: &mut VecDeque<(Waiter<C>, ThreadId)>) -> Option<ThreadId> {
    while let Some((tx, thread)) = waiters.pop_front() {
        if tx.send(Ok(Handoff::Wake)).is_ok() {
            return Some(thread);
        }
    }
    None
}
