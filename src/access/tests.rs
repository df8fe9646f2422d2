//! The lease's logic over each access mode, with a fake connection (`fake.rs`) and orderings
//! forced by oneshots (no sleeps), as bb8's own tests do: the shared gate's collision, the cut
//! of a close without drain, the dirty return, a connection that died idle, found at checkout.
//!
//! The bb8 `pool` mode lends `PgConn`s through bb8's manager, so it is not run over the fake;
//! its close, cut and dirty return go through the same lease code (`lease.rs`) tested here over
//! the pool models' mode, and its pool through tests/faults.rs and tests/races.rs.

use std::cell::Cell;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::FutureExt;
use tokio::sync::oneshot;

use super::connection::{Command, Connection};
use super::fake::{Factory, Fake};
use super::gate::IN_PROGRESS;
use super::gauges::Gauges;
use super::lease::{Lease, Returned, acquire};
use super::mode::Lent;
use super::mode::Mode;
use super::models::instance::ModelInstance;
use super::models::mode::ModelTask;
use super::models::sqlalchemy::Sqlalchemy;
use super::per_operation::PerOperation;
use super::per_task::PerTask;
use super::shared::{SharedConn, SharedTask};
use crate::record::errors::{ErrorClass, OpError};
use crate::scenario::model::{ResetOnReturn, Semantics, SqlalchemySettings};

/// Runs one statement on `lease`.
async fn statement<L: Lent<Conn = Fake>>(lease: &Lease<'_, L>) -> Result<(), OpError> {
    lease.execute(0, &[], &[], &mut []).await
}

/// Waits until `in_flight`'s statement has reached the fake, which holds it there (see
/// `Fake::pause_next`): from then on it is in flight; it must not end before.
async fn until_sent<F: Future + Unpin>(in_flight: F, sent: oneshot::Receiver<()>) {
    tokio::select! {
        biased;
        _ = in_flight => panic!("the statement is held in flight"),
        _ = sent => {}
    }
}

type FakePool = Arc<ModelInstance<Arc<Factory>>>;

/// A task of a SQLAlchemy-like pool of one connection over fakes, the pool and its factory.
fn one_connection_task(
    reset: ResetOnReturn,
    pre_ping: bool,
) -> (ModelTask<Arc<Factory>>, FakePool, Arc<Factory>) {
    let factory = Arc::new(Factory::default());
    let model = Sqlalchemy(SqlalchemySettings {
        pool_size: 1,
        max_overflow: 0,
        pool_pre_ping: pre_ping,
        reset_on_return: reset,
        ..SqlalchemySettings::default()
    });
    let name = "pool-1".to_string();
    let pool = Arc::new(ModelInstance::open(Arc::new(model), factory.clone(), name));
    (ModelTask::new(pool.clone()), pool, factory)
}

async fn shared(semantics: Semantics) -> Arc<SharedConn<Arc<Factory>>> {
    let factory = Arc::new(Factory::default());
    Arc::new(SharedConn::open(factory, semantics).await.unwrap())
}

#[tokio::test]
async fn exclusive_shared_connection_refuses_a_statement_while_one_is_in_flight() {
    let conn = shared(Semantics::Exclusive).await;
    let (mut one, mut two) = (SharedTask(conn.clone()), SharedTask(conn));
    let gauges = Gauges::default();
    let (r1, r2) = (Cell::default(), Cell::default());
    let first = acquire(&mut one, &gauges, &r1).await.unwrap();
    let second = acquire(&mut two, &gauges, &r2).await.unwrap();
    assert_eq!(first.conn().marks().holders.load(Ordering::SeqCst), 2);
    let (sent, resume) = first.conn().pause_next();
    let mut in_flight = pin!(statement(&first));
    until_sent(&mut in_flight, sent).await;
    let e = statement(&second).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::OperationInProgress);
    assert_eq!(e.message, IN_PROGRESS);
    resume.send(()).unwrap();
    in_flight.await.unwrap();
    statement(&second).await.expect("the gate is free again");
}

/// Regression (review of 2026-12-03): `peak_in_use` counted the tasks holding a shared
/// connection (4 in use on 2 connections), not the connections.
#[tokio::test]
async fn tasks_sharing_a_connection_are_one_connection_in_use() {
    let conn = shared(Semantics::Serialized).await;
    let (mut one, mut two) = (SharedTask(conn.clone()), SharedTask(conn));
    let gauges = Gauges::default();
    let (r1, r2) = (Cell::default(), Cell::default());
    let first = acquire(&mut one, &gauges, &r1).await.unwrap();
    let second = acquire(&mut two, &gauges, &r2).await.unwrap();
    let s = gauges.snapshot();
    assert_eq!((s.in_use, s.peak_in_use), (1, 1));
    drop(first);
    assert_eq!(gauges.snapshot().in_use, 1, "still held by the other task");
    drop(second);
    assert_eq!(gauges.snapshot().in_use, 0);
}

#[tokio::test]
async fn serialized_shared_connection_queues_the_second_statement() {
    let conn = shared(Semantics::Serialized).await;
    let (mut one, mut two) = (SharedTask(conn.clone()), SharedTask(conn));
    let gauges = Gauges::default();
    let (r1, r2) = (Cell::default(), Cell::default());
    let first = acquire(&mut one, &gauges, &r1).await.unwrap();
    let second = acquire(&mut two, &gauges, &r2).await.unwrap();
    let (sent, resume) = first.conn().pause_next();
    let mut in_flight = pin!(statement(&first));
    until_sent(&mut in_flight, sent).await;
    let mut queued = pin!(statement(&second));
    let now = (&mut queued).now_or_never();
    assert!(now.is_none(), "the second statement waits for the first");
    resume.send(()).unwrap();
    in_flight.await.unwrap();
    queued.await.unwrap();
}

#[tokio::test]
async fn a_close_without_drain_cuts_the_held_connection() {
    let (mut task, pool, _) = one_connection_task(ResetOnReturn::Rollback, false);
    let (gauges, returned) = (Gauges::default(), Cell::default());
    let lease = acquire(&mut task, &gauges, &returned).await.unwrap();
    let (sent, _resume) = lease.conn().pause_next();
    let mut in_flight = pin!(statement(&lease));
    until_sent(&mut in_flight, sent).await;
    assert!(pool.close(false, false));
    let cut = (&mut in_flight).now_or_never();
    let e = cut.expect("the held statement is cut at once").unwrap_err();
    assert_eq!(e.class, ErrorClass::PoolClosed);
    assert!(lease.conn().is_broken(), "never handed out again");
    assert_eq!(gauges.cut_by_close.load(Ordering::SeqCst), 1);
    // Its ROLLBACK is cut too, and not counted again.
    let e = lease.command("ROLLBACK", Command::Rollback).await;
    assert_eq!(e.unwrap_err().class, ErrorClass::PoolClosed);
    assert_eq!(gauges.cut_by_close.load(Ordering::SeqCst), 1);
}

/// Regression (review of 2026-12-03): a close without drain that caught a COMMIT in flight
/// counted the operation as `pool_closed`, a failure, though the server went on to commit it
/// (its rows were there, and the acknowledged-writes check called them phantom).
#[tokio::test]
async fn a_close_that_cuts_a_commit_in_flight_leaves_it_indeterminate() {
    let (mut task, pool, _) = one_connection_task(ResetOnReturn::Rollback, false);
    let (gauges, returned) = (Gauges::default(), Cell::default());
    let lease = acquire(&mut task, &gauges, &returned).await.unwrap();
    lease.command("BEGIN", Command::Begin).await.unwrap();
    let (sent, _resume) = lease.conn().pause_next();
    let mut commit = pin!(lease.command("COMMIT", Command::Commit));
    until_sent(&mut commit, sent).await;
    assert!(pool.close(false, false));
    let cut = (&mut commit).now_or_never();
    let e = cut.expect("the COMMIT is cut at once").unwrap_err();
    assert_eq!(e.class, ErrorClass::CommitIndeterminate, "{}", e.message);
    assert!(lease.conn().is_broken(), "never handed out again");
    assert_eq!(gauges.cut_by_close.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_close_with_drain_lets_the_held_statement_finish() {
    let (mut task, pool, _) = one_connection_task(ResetOnReturn::Rollback, false);
    let (gauges, returned) = (Gauges::default(), Cell::default());
    let lease = acquire(&mut task, &gauges, &returned).await.unwrap();
    let (sent, resume) = lease.conn().pause_next();
    let mut in_flight = pin!(statement(&lease));
    until_sent(&mut in_flight, sent).await;
    assert!(pool.close(true, false));
    resume.send(()).unwrap();
    in_flight
        .await
        .expect("a drained close waits for its users");
    assert_eq!(gauges.cut_by_close.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_dirty_return_is_counted_and_passed_on_without_reset() {
    let (mut task, _, _) = one_connection_task(ResetOnReturn::None, false);
    let (gauges, returned) = (Gauges::default(), Cell::<Returned>::default());
    let lease = acquire(&mut task, &gauges, &returned).await.unwrap();
    assert!(!lease.inherited_transaction);
    lease.command("BEGIN", Command::Begin).await.unwrap();
    drop(lease);
    assert!(returned.get().in_transaction);
    assert_eq!(gauges.returned_in_transaction.load(Ordering::SeqCst), 1);
    // The task's next acquire waits for the release, and meets the same connection.
    let lease = acquire(&mut task, &gauges, &returned).await.unwrap();
    assert!(lease.inherited_transaction, "the next user inherits it");
    assert!(lease.conn().maybe_in_transaction());
}

#[tokio::test]
async fn a_dirty_return_is_rolled_back_by_a_resetting_pool() {
    let (mut task, _, _) = one_connection_task(ResetOnReturn::Rollback, false);
    let (gauges, returned) = (Gauges::default(), Cell::<Returned>::default());
    let lease = acquire(&mut task, &gauges, &returned).await.unwrap();
    lease.command("BEGIN", Command::Begin).await.unwrap();
    drop(lease);
    assert!(returned.get().in_transaction, "what it carried back");
    assert_eq!(gauges.returned_in_transaction.load(Ordering::SeqCst), 0);
    let lease = acquire(&mut task, &gauges, &returned).await.unwrap();
    assert!(!lease.inherited_transaction);
    assert!(
        !lease.conn().maybe_in_transaction(),
        "rolled back on release"
    );
}

#[tokio::test]
async fn a_connection_that_died_idle_fails_its_next_user_without_pre_ping() {
    let (mut task, _, factory) = one_connection_task(ResetOnReturn::Rollback, false);
    let (gauges, returned) = (Gauges::default(), Cell::default());
    let lease = acquire(&mut task, &gauges, &returned).await.unwrap();
    statement(&lease).await.unwrap();
    let id = lease.conn().id;
    drop(lease);
    factory.kill(id);
    let lease = acquire(&mut task, &gauges, &returned).await.unwrap();
    assert_eq!(lease.conn().id, id, "nothing checked it at checkout");
    let e = statement(&lease).await.unwrap_err();
    assert!(e.class.is_connection_loss());
    assert!(lease.died_idle(&e), "what a pre-ping would have caught");
}

#[tokio::test]
async fn a_connection_that_died_idle_is_replaced_at_checkout_with_pre_ping() {
    let (mut task, _, factory) = one_connection_task(ResetOnReturn::Rollback, true);
    let (gauges, returned) = (Gauges::default(), Cell::default());
    let lease = acquire(&mut task, &gauges, &returned).await.unwrap();
    let id = lease.conn().id;
    drop(lease);
    factory.kill(id);
    let lease = acquire(&mut task, &gauges, &returned).await.unwrap();
    assert_ne!(lease.conn().id, id, "the pre-ping found it dead");
    statement(&lease).await.expect("a fresh connection");
}

#[tokio::test]
async fn a_dedicated_connection_found_dead_at_checkout_is_reopened() {
    let factory = Arc::new(Factory::default());
    let mut task = PerTask(factory.clone()).task(0);
    let (gauges, returned) = (Gauges::default(), Cell::default());
    let lease = acquire(&mut task, &gauges, &returned).await.unwrap();
    let e = OpError::new(ErrorClass::ConnectionClosed, "gone");
    lease.conn().mark_dead(e.clone());
    assert!(!lease.died_idle(&e), "a dedicated connection is not pooled");
    drop(lease);
    let lease = acquire(&mut task, &gauges, &returned).await.unwrap();
    assert_eq!(lease.conn().id, 2);
    statement(&lease).await.unwrap();
    drop(lease);
    let lease = acquire(&mut task, &gauges, &returned).await.unwrap();
    assert_eq!(lease.conn().id, 2, "kept while alive");
    assert_eq!(factory.opened.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn each_operation_opens_its_own_connection() {
    let factory = Arc::new(Factory::default());
    let mut task = PerOperation(factory.clone()).task(0);
    let (gauges, returned) = (Gauges::default(), Cell::default());
    for id in 1..=2 {
        let lease = acquire(&mut task, &gauges, &returned).await.unwrap();
        assert_eq!(lease.conn().id, id);
        statement(&lease).await.unwrap();
    }
    assert_eq!(gauges.backends_used.load(Ordering::SeqCst), 2);
}
