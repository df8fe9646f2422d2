//! The pool instance, its connect-error sink and the patched bb8 hand-out, with fakes.
use std::cell::Cell;
use std::convert::Infallible;
use std::sync::atomic::AtomicU32;

use super::*;

thread_local! {
    /// The "thread" a test's get asks from.
    static HERE: Cell<u32> = const { Cell::new(0) };
}

/// A connection that belongs to a "thread", numbered by the test.
struct Tagged(u32);

#[derive(Default)]
struct TaggedManager(AtomicU32);

impl ManageConnection for TaggedManager {
    type Connection = Tagged;
    type Error = Infallible;

    async fn connect(&self) -> Result<Tagged, Infallible> {
        Ok(Tagged(self.0.fetch_add(1, Ordering::Relaxed) + 1))
    }

    async fn is_valid(&self, _: &mut Tagged) -> Result<(), Infallible> {
        Ok(())
    }

    fn has_broken(&self, _: &mut Tagged) -> bool {
        false
    }

    fn is_local(&self, conn: &Tagged) -> bool {
        HERE.get() == conn.0
    }
}

/// The patched bb8 (vendor/bb8/PATCH.md): a get takes the first idle connection of its
/// own thread, else the queue's first, in either queue order. Within the affinity window
/// (10 ms) only: a try that a loaded machine stalled for that long proves nothing and is
/// made again (with upstream's `pop_front`, every quick try fails).
#[tokio::test]
async fn a_get_prefers_an_idle_connection_of_its_own_thread() {
    for (strategy, first) in [(bb8::QueueStrategy::Fifo, 1), (bb8::QueueStrategy::Lifo, 3)] {
        let mut quick = false;
        for _ in 0..20 {
            let pool = bb8::Pool::builder()
                .max_size(3)
                .queue_strategy(strategy)
                .build(TaggedManager::default())
                .await
                .expect("pool");
            if preferred(&pool, first, strategy).await.is_some() {
                quick = true;
                break;
            }
        }
        assert!(quick, "{strategy:?}: no try within 10 ms in 20");
    }
}

/// One try: three connections made idle at once, then a get from the "thread" of the
/// second; `None` when that took the window's length or more.
async fn preferred(
    pool: &bb8::Pool<TaggedManager>,
    first: u32,
    strategy: bb8::QueueStrategy,
) -> Option<()> {
    let held =
        [pool.get().await, pool.get().await, pool.get().await].map(|c| c.expect("connection"));
    let idle_since = std::time::Instant::now();
    drop(held); // idle, in the order 1, 2, 3 (FIFO) or 3, 2, 1 (LIFO)
    HERE.set(2);
    let local = pool.get().await.expect("connection");
    if idle_since.elapsed() >= Duration::from_millis(10) {
        return None;
    }
    assert_eq!(
        local.0, 2,
        "{strategy:?}: the one of this thread, not the first"
    );
    HERE.set(0);
    let other = pool.get().await.expect("connection");
    assert_eq!(
        other.0, first,
        "{strategy:?}: none of this thread: the first"
    );
    Some(())
}

/// A connection idle for longer than the affinity window (10 ms) is not passed over: FIFO
/// still rotates through every connection, so one that died idle is found at its checkout
/// (regression: tests/network.rs, test_on_check_out_replaces_the_dropped_idle_connections,
/// failed when a blackholed idle connection was never taken again).
#[tokio::test]
async fn a_connection_idle_beyond_the_window_is_not_passed_over() {
    let pool = bb8::Pool::builder()
        .max_size(2)
        .build(TaggedManager::default())
        .await
        .expect("pool");
    let (old, young) = (pool.get().await, pool.get().await);
    drop(old);
    tokio::time::sleep(Duration::from_millis(30)).await;
    drop(young); // idle: 1 for 30 ms, then 2 just now
    HERE.set(2);
    let got = pool.get().await.expect("connection");
    assert_eq!(got.0, 1, "the one idle longest, though 2 is of this thread");
}

fn refused() -> OpError {
    OpError::new(
        ErrorClass::TooManyConnections,
        "sorry, too many clients already",
    )
}

#[test]
fn a_timed_out_get_is_explained_by_the_connect_errors_of_its_own_wait() {
    let errors = ConnectErrors::default();
    let limit = Duration::from_millis(250);
    // An error before the get started is not this wait's.
    errors.note(refused());
    let started = errors.mark();
    let e = errors.explain_timeout(started, limit, 4);
    assert_eq!(e.class, ErrorClass::PoolTimeout, "{e:?}");
    assert!(
        e.message.contains("max_size 4, all in use"),
        "{}",
        e.message
    );
    // One during the wait is.
    errors.note(refused());
    let e = errors.explain_timeout(started, limit, 4);
    assert_eq!(e.class, ErrorClass::TooManyConnections, "{e:?}");
    assert!(
        e.message.contains("the pool could not open one: sorry"),
        "{}",
        e.message
    );
    assert_eq!(errors.counts()[&ErrorClass::TooManyConnections], 2);
}
