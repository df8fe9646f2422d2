//! The pool models' semantics with a fake connection, orderings forced by waiting until the
//! pool's queue holds each waiter before the next one comes, or by polling a waiter by hand
//! (no sleeps): the order waiters are served in, SQLAlchemy's barging (a newcomer before the
//! woken waiter, not the releasing task, not a task of another worker thread), its overflow
//! closed on return, asyncpg's `max_queries` replacement and its reconnect to `min_size`, the
//! resets on release, psycopg_pool's `max_waiting` and close.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::core::{Core, Held};
use super::{Model, ModelConn, Opener, asyncpg, psycopg, sqlalchemy};
use crate::record::errors::{ErrorClass, OpError};
use crate::scenario::model::{
    AsyncpgSettings, PsycopgSettings, ResetOnReturn, SqlalchemySettings, Toggle,
};

type Log = Arc<Mutex<Vec<String>>>;

#[derive(Debug)]
struct Fake {
    id: u64,
    in_tx: AtomicBool,
    broken: AtomicBool,
    log: Log,
}

impl ModelConn for Fake {
    fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }
    fn in_transaction(&self) -> bool {
        self.in_tx.load(Ordering::SeqCst)
    }
    async fn run(&self, sql: &'static str) -> Result<(), OpError> {
        self.log.lock().unwrap().push(format!("{}: {sql}", self.id));
        self.in_tx.store(false, Ordering::SeqCst);
        Ok(())
    }
    async fn ping(&self) -> Result<(), OpError> {
        match self.is_broken() {
            true => Err(OpError::new(ErrorClass::ConnectionClosed, "dead")),
            false => Ok(()),
        }
    }
}

#[derive(Debug, Default)]
struct Factory {
    opened: AtomicU64,
    log: Log,
    /// The server refuses new connections (too many clients).
    refuse: AtomicBool,
}

impl Opener for Arc<Factory> {
    type Conn = Fake;
    async fn open(&self) -> Result<Fake, OpError> {
        if self.refuse.load(Ordering::SeqCst) {
            let e = "sorry, too many clients already";
            return Err(OpError::new(ErrorClass::TooManyConnections, e));
        }
        let id = self.opened.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Fake {
            id,
            in_tx: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            log: self.log.clone(),
        })
    }
}

fn pool(model: impl Model) -> (Arc<Core<Arc<Factory>>>, Arc<Factory>) {
    let factory = Arc::new(Factory::default());
    let core = Core::open(factory.clone(), Arc::new(model), "pool-1".to_string());
    (core, factory)
}

fn asyncpg_pool(max: u32) -> AsyncpgSettings {
    AsyncpgSettings {
        min_size: 0,
        max_size: max,
        ..AsyncpgSettings::default()
    }
}

/// Turns of the runtime a test waits for a state before it fails: the tests run on one thread,
/// where a spawned task or a background connect of the fake runs within a few turns.
const TURNS: usize = 10_000;

/// Yields to the runtime until `done` holds; panics, naming `what`, if it still does not after
/// [`TURNS`] turns, so that a regression fails instead of hanging.
async fn yield_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..TURNS {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{what}: still not so after {TURNS} turns of the runtime");
}

/// Starts `n` acquires, each only once the previous one waits in the queue; they report
/// `(their index, the connection's id)` in the order they are served.
async fn queue_up(
    core: &Arc<Core<Arc<Factory>>>,
    n: usize,
) -> mpsc::UnboundedReceiver<(usize, u64, Held<Fake>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let before = core.waiting();
    for i in 0..n {
        let (core2, tx) = (core.clone(), tx.clone());
        tokio::spawn(async move {
            let held = core2.acquire().await.unwrap();
            let _ = tx.send((i, held.conn.id, held));
        });
        yield_until(&format!("acquire {i} waiting in the queue"), || {
            core.waiting() > before + i
        })
        .await;
    }
    rx
}

async fn waiters_served_in_arrival_order(model: impl Model) {
    let (core, _) = pool(model);
    let first = core.acquire().await.unwrap();
    let mut served = queue_up(&core, 3).await;
    // Each returned connection goes to the oldest of the waiters, in the order they queued.
    core.clone().release(first, 1).await;
    let (i, id, held) = served.recv().await.unwrap();
    assert_eq!(
        (i, id),
        (0, 1),
        "the oldest waiter gets the returned connection"
    );
    core.clone().release(held, 1).await;
    let (i, _, held) = served.recv().await.unwrap();
    assert_eq!(i, 1);
    core.clone().release(held, 1).await;
    let (i, _, _) = served.recv().await.unwrap();
    assert_eq!(i, 2);
}

#[tokio::test]
async fn asyncpg_serves_waiters_first_come_first_served() {
    waiters_served_in_arrival_order(asyncpg::Asyncpg(asyncpg_pool(1))).await;
}

#[tokio::test]
async fn sqlalchemy_serves_waiters_first_come_first_served() {
    waiters_served_in_arrival_order(sqlalchemy_of(1)).await;
}

fn sqlalchemy_of(pool_size: u32) -> sqlalchemy::Sqlalchemy {
    sqlalchemy::Sqlalchemy(SqlalchemySettings {
        pool_size,
        max_overflow: 0,
        ..SqlalchemySettings::default()
    })
}

/// Polls `fut` once: `Some` when it completed.
async fn poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    tokio::select! {
        biased;
        out = fut => Some(out),
        () = std::future::ready(()) => None,
    }
}

#[tokio::test]
async fn sqlalchemy_lets_a_newcomer_take_a_connection_before_the_woken_waiter() {
    let (core, _) = pool(sqlalchemy_of(1));
    let first = core.acquire().await.unwrap();
    // The waiter is polled here only, so it cannot run before the newcomer asks.
    let mut waiter = Box::pin(core.acquire());
    assert!(poll_once(&mut waiter).await.is_none());
    assert_eq!(core.waiting(), 1);
    core.clone().release(first, 1).await;
    let newcomer = core.acquire().await.unwrap();
    assert_eq!(
        newcomer.conn.id, 1,
        "the newcomer took it (get_nowait first)"
    );
    // Woken to an empty queue, the waiter queues again, at the end.
    assert!(poll_once(&mut waiter).await.is_none());
    assert_eq!(core.waiting(), 1);
    core.clone().release(newcomer, 1).await;
    assert_eq!(waiter.await.unwrap().conn.id, 1);
}

#[tokio::test]
async fn sqlalchemy_keeps_a_woken_waiters_connection_from_another_worker_thread() {
    let (core, _) = pool(sqlalchemy_of(1));
    let first = core.acquire().await.unwrap();
    let mut waiter = Box::pin(core.acquire());
    assert!(poll_once(&mut waiter).await.is_none());
    core.clone().release(first, 1).await;
    // An acquire on another worker thread (another event loop) is not in this loop turn.
    let other = core.clone();
    let queued = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move { poll_once(&mut Box::pin(other.acquire())).await.is_none() })
    })
    .join()
    .unwrap();
    assert!(queued, "the other thread's acquire waits");
    assert_eq!(waiter.await.unwrap().conn.id, 1, "the woken waiter gets it");
}

#[tokio::test]
async fn sqlalchemy_releasing_tasks_do_not_overtake_the_waiters_they_woke() {
    let (core, _) = pool(sqlalchemy_of(2));
    let (one, two) = (core.acquire().await.unwrap(), core.acquire().await.unwrap());
    let mut served = queue_up(&core, 2).await;
    // Two tasks release one after the other and ask again at once, each releasing in a task
    // of its own and waiting for it, as a lease (and SQLAlchemy's `_run_to_completion`) does.
    let again = |held| {
        let core = core.clone();
        tokio::spawn(async move {
            tokio::spawn(core.clone().release(held, 1)).await.unwrap();
            core.acquire().await.map(|h| h.conn.id)
        })
    };
    let (t1, t2) = (again(one), again(two));
    for expected in [(0, 1), (1, 2)] {
        let next = tokio::time::timeout(Duration::from_secs(5), served.recv()).await;
        let (i, id, _held) = next.expect("a woken waiter was overtaken").unwrap();
        assert_eq!((i, id), expected);
    }
    yield_until("both releasing tasks waiting again", || core.waiting() >= 2).await;
    t1.abort();
    t2.abort();
}

#[tokio::test]
async fn psycopg_hands_a_returned_connection_to_the_oldest_waiter() {
    let s = PsycopgSettings {
        min_size: 0,
        max_size: Some(1),
        ..PsycopgSettings::default()
    };
    let (core, _) = pool(psycopg::Psycopg(s));
    // psycopg_pool opens in the background for a waiting client: the first acquire waits too.
    let held = core.acquire().await.unwrap();
    let mut served = queue_up(&core, 3).await;
    core.clone().release(held, 1).await;
    for expected in 0..3 {
        let (i, id, held) = served.recv().await.unwrap();
        assert_eq!((i, id), (expected, 1));
        core.clone().release(held, 1).await;
    }
}

#[tokio::test]
async fn sqlalchemy_closes_overflow_connections_on_return() {
    let s = SqlalchemySettings {
        pool_size: 1,
        max_overflow: 2,
        ..SqlalchemySettings::default()
    };
    let (core, factory) = pool(sqlalchemy::Sqlalchemy(s));
    let held: Vec<_> = futures_util::future::join_all((0..3).map(|_| core.acquire())).await;
    assert_eq!(
        factory.opened.load(Ordering::SeqCst),
        3,
        "pool_size + overflow"
    );
    for h in held {
        core.clone().release(h.unwrap(), 1).await;
    }
    assert_eq!(core.sizes(), (1, 1), "pool_size stay idle");
    assert_eq!(core.stats.closed_overflow.load(Ordering::SeqCst), 2);
    // The next burst opens them again: SQLAlchemy's churn.
    let again: Vec<_> = futures_util::future::join_all((0..3).map(|_| core.acquire())).await;
    assert!(again.iter().all(Result::is_ok));
    assert_eq!(factory.opened.load(Ordering::SeqCst), 5);
}

/// The overflow closes reach the statistics the report is built from (`pool.closed_overflow`).
#[tokio::test]
async fn sqlalchemy_overflow_closes_reach_the_instance_statistics() {
    let s = SqlalchemySettings {
        pool_size: 1,
        max_overflow: 2,
        ..SqlalchemySettings::default()
    };
    let model: Arc<dyn Model> = Arc::new(sqlalchemy::Sqlalchemy(s));
    let factory = Arc::new(Factory::default());
    let instance = super::instance::ModelInstance::open(model, factory, "pool-1".into());
    let held: Vec<_> = futures_util::future::join_all((0..3).map(|_| instance.get())).await;
    for h in held {
        let (core, held) = h.unwrap();
        core.release(held, 1).await;
    }
    let stats = instance.statistics();
    assert_eq!(stats.closed_overflow, 2, "{stats:?}");
    assert_eq!(stats.connections_created, 3, "{stats:?}");
}

#[tokio::test]
async fn sqlalchemy_times_out_in_its_own_words() {
    let s = SqlalchemySettings {
        pool_size: 1,
        max_overflow: 0,
        pool_timeout: Duration::from_millis(20),
        ..SqlalchemySettings::default()
    };
    let (core, _) = pool(sqlalchemy::Sqlalchemy(s));
    let _held = core.acquire().await.unwrap();
    let e = core.acquire().await.unwrap_err();
    assert_eq!(e.class, ErrorClass::PoolTimeout);
    assert!(
        e.message.contains(
            "QueuePool limit of size 1 overflow 0 reached, connection timed out, timeout 0.02"
        ),
        "{}",
        e.message
    );
}

/// Review of 2026-12-03: asyncpg's `create_pool` returns once `min_size` are connected, so an
/// acquire never opens one of its own beside them; the model's first acquire did (6 for 5).
#[tokio::test]
async fn asyncpg_acquires_wait_for_the_min_size_connects_of_the_opening() {
    let s = AsyncpgSettings {
        min_size: 5,
        ..asyncpg_pool(20)
    };
    let (core, factory) = pool(asyncpg::Asyncpg(s));
    // Acquired before the background connects ran: it waits for one of them.
    let held = core.acquire().await.unwrap();
    core.clone().release(held, 1).await;
    yield_until("the five connects of the opening", || {
        factory.opened.load(Ordering::SeqCst) == 5
    })
    .await;
    for _ in 0..3 {
        let held = core.acquire().await.unwrap();
        core.clone().release(held, 1).await;
    }
    assert_eq!(
        factory.opened.load(Ordering::SeqCst),
        5,
        "no sixth connection"
    );
}

#[tokio::test]
async fn asyncpg_replaces_a_connection_after_max_queries() {
    let s = AsyncpgSettings {
        max_queries: 3,
        ..asyncpg_pool(1)
    };
    let (core, factory) = pool(asyncpg::Asyncpg(s));
    let held = core.acquire().await.unwrap();
    // Its reset is a query too: 1 + 1 stays under 3.
    core.clone().release(held, 1).await;
    let held = core.acquire().await.unwrap();
    assert_eq!(held.conn.id, 1);
    core.clone().release(held, 1).await;
    let held = core.acquire().await.unwrap();
    assert_eq!(held.conn.id, 2, "replaced after 3 queries");
    assert_eq!(factory.opened.load(Ordering::SeqCst), 2);
    assert_eq!(core.stats.closed_max_lifetime.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn resets_on_release_are_the_libraries() {
    let (core, factory) = pool(asyncpg::Asyncpg(asyncpg_pool(1)));
    let held = core.acquire().await.unwrap();
    held.conn.in_tx.store(true, Ordering::SeqCst);
    core.clone().release(held, 1).await;
    let reset = format!("1: {}", asyncpg::RESET_QUERY);
    assert_eq!(
        *factory.log.lock().unwrap(),
        ["1: ROLLBACK", reset.as_str()]
    );

    let (core, factory) = pool(sqlalchemy::Sqlalchemy(SqlalchemySettings::default()));
    let held = core.acquire().await.unwrap();
    core.clone().release(held, 1).await;
    assert!(
        factory.log.lock().unwrap().is_empty(),
        "no transaction, no ROLLBACK"
    );
    let held = core.acquire().await.unwrap();
    held.conn.in_tx.store(true, Ordering::SeqCst);
    core.clone().release(held, 1).await;
    assert_eq!(*factory.log.lock().unwrap(), ["1: ROLLBACK"]);

    let none = SqlalchemySettings {
        reset_on_return: ResetOnReturn::None,
        ..SqlalchemySettings::default()
    };
    let (core, factory) = pool(sqlalchemy::Sqlalchemy(none));
    let held = core.acquire().await.unwrap();
    held.conn.in_tx.store(true, Ordering::SeqCst);
    core.clone().release(held, 1).await;
    assert!(factory.log.lock().unwrap().is_empty());
    assert!(
        core.acquire().await.unwrap().conn.in_transaction(),
        "inherited"
    );
}

fn psycopg_of_one(max_waiting: u32) -> psycopg::Psycopg {
    psycopg::Psycopg(PsycopgSettings {
        min_size: 1,
        max_waiting,
        ..PsycopgSettings::default()
    })
}

#[tokio::test]
async fn psycopg_refuses_beyond_max_waiting() {
    let (core, _) = pool(psycopg_of_one(2));
    let held = core.acquire().await.unwrap();
    let _served = queue_up(&core, 2).await;
    let e = core.acquire().await.unwrap_err();
    assert_eq!(e.class, ErrorClass::PoolTimeout);
    assert_eq!(
        e.message,
        "psycopg_pool.TooManyRequests: the pool 'pool-1' has already 2 requests waiting"
    );
    drop(held);
}

#[tokio::test]
async fn psycopg_close_fails_waiters_then_later_acquires() {
    let (core, _) = pool(psycopg_of_one(0));
    let held = core.acquire().await.unwrap();
    let waiter = {
        let core = core.clone();
        tokio::spawn(async move { core.acquire().await.map(|_| ()) })
    };
    yield_until("the waiter in the queue", || core.waiting() >= 1).await;
    core.close(true);
    let e = waiter.await.unwrap().unwrap_err();
    assert_eq!(
        e.message,
        "psycopg_pool.PoolClosed: the pool 'pool-1' is closed"
    );
    let e = core.acquire().await.unwrap_err();
    assert_eq!(
        e.message,
        "psycopg_pool.PoolClosed: the pool 'pool-1' is already closed"
    );
    // Held when it closed: closed when given back, not kept.
    core.clone().release(held, 1).await;
    assert_eq!(core.sizes(), (0, 0));
}

#[tokio::test]
async fn asyncpg_reconnects_a_holder_whose_connection_died_idle() {
    let s = AsyncpgSettings {
        max_inactive_connection_lifetime: Toggle(None),
        ..asyncpg_pool(1)
    };
    let (core, factory) = pool(asyncpg::Asyncpg(s));
    let held = core.acquire().await.unwrap();
    core.clone().release(held, 1).await;
    let held = core.acquire().await.unwrap();
    held.conn.broken.store(true, Ordering::SeqCst);
    // Broken on release: the holder goes back empty and the next acquire connects.
    core.clone().release(held, 1).await;
    let held = core.acquire().await.unwrap();
    assert_eq!(held.conn.id, 2);
    assert_eq!(factory.opened.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn asyncpg_reconnects_to_min_size_after_max_queries() {
    let s = AsyncpgSettings {
        min_size: 1,
        max_size: 2,
        max_queries: 1,
        ..AsyncpgSettings::default()
    };
    let (core, factory) = pool(asyncpg::Asyncpg(s));
    yield_until("min_size opened", || core.sizes() == (1, 1)).await;
    let held = core.acquire().await.unwrap();
    assert_eq!(held.conn.id, 1);
    // Closed for max_queries with nobody waiting: the floor is restored in the background.
    core.clone().release(held, 1).await;
    yield_until("min_size restored", || core.sizes() == (1, 1)).await;
    assert_eq!(factory.opened.load(Ordering::SeqCst), 2);
    assert_eq!(core.acquire().await.unwrap().conn.id, 2);
}

/// Regression (review of 2026-12-03): an acquire's own connect that the server refused was
/// not among the pool's connect errors (only background connects were): 19 counted beside
/// 1341 operations refused.
#[tokio::test]
async fn an_acquires_own_failed_connect_is_a_connect_error() {
    let (core, factory) = pool(asyncpg::Asyncpg(asyncpg_pool(2)));
    factory.refuse.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        let e = core.acquire().await.unwrap_err();
        assert_eq!(e.class, ErrorClass::TooManyConnections);
    }
    assert_eq!(core.connect_errors()[&ErrorClass::TooManyConnections], 3);
}
