//! A load task: pick a workload, acquire, run its steps, release, record.
//!
//! One loop for both models, `while let Some(due) = pacer.next(&stop)` (see `pacer.rs`): in
//! the closed model a task starts its next operation when its last one ended (and it
//! thought), while it is active (stages may ramp the number of active tasks); in the open
//! model it takes arrivals from its worker's queue and its latency counts from each
//! arrival's intended time (coordinated-omission-correct, as wrk2 and k6 measure).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

use super::Interrupt;
use super::cancel_tasks::TaskCancels;
use super::pacer::Pacer;
use super::shape::Shape;
use super::stop::Stop;
use crate::access::{Access, TaskAccess};
use crate::record::errors::{ErrorClass, OpError};
use crate::record::spells::{FaultSpec, TaskTrack};
use crate::record::writes::{WriteOutcome, write_id};
use crate::record::{OpExtras, Outcome, Recorder, Timeline};
use crate::scenario::model::{Pacing, RetrySettings};
use crate::scenario::plan::{Plan, Workload};
use crate::value::Value;
use crate::workload::params::Draw;
use crate::workload::{exec, races};

/// Everything the tasks of a variant share.
#[derive(Debug)]
pub(crate) struct LoadRun {
    pub(crate) plan: Arc<Plan>,
    pub(crate) access: Access,
    pub(crate) seed: u64,
    pub(crate) seqs: Box<[AtomicI64]>,
    pub(crate) shape: Shape,
    /// Start of the run (of warmup, if any): time 0 of the shape.
    pub(crate) start: Instant,
    /// End of warmup: operations that end before it are not recorded.
    pub(crate) measure_start: Instant,
    /// No operation starts at or after this (duration or stages); none in iterations mode.
    pub(crate) deadline: Option<Instant>,
    /// Iterations mode: operations per task in the measured phase.
    pub(crate) iterations: Option<u64>,
    pub(crate) think_time: Duration,
    pub(crate) op_timeout: Option<Duration>,
    pub(crate) retry: Option<RetrySettings>,
    /// What a task waits after a failure and between tries (`load.on_failure`).
    pub(crate) pacing: Pacing,
    pub(crate) leak_threshold: Option<Duration>,
    /// The ledger's statement, when a workload is verified.
    pub(crate) ledger: Option<usize>,
    /// Scheduled fault times, into the measured phase (for failures in the second after).
    pub(crate) faults: Arc<[Duration]>,
    /// The same faults with when each settles, for their windows (see `record::spells`).
    pub(crate) fault_specs: Arc<[FaultSpec]>,
    pub(crate) timeline: Arc<Timeline>,
    pub(crate) interrupt: Arc<Interrupt>,
    /// The tasks' cancel slots, when a `cancel_tasks` fault is scheduled.
    pub(crate) cancels: Option<Arc<TaskCancels>>,
    /// The network proxy the load's connections pass through (`[network]`, network faults).
    pub(crate) proxy: Option<Arc<crate::network::Proxy>>,
}

/// A task's own stream of parameter values: reproducible for a seed, different per task.
fn task_seed(seed: u64, task: usize) -> u64 {
    let mut x = seed ^ (task as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64 finalizer: nearby task numbers get unrelated streams.
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// One task's state between operations.
struct Task {
    run: Arc<LoadRun>,
    index: usize,
    access: TaskAccess,
    rng: fastrand::Rng,
    slots: Vec<Value>,
    iteration: u64,
    /// Verified writes made so far (the next write's id).
    writes: u64,
    recorder: Rc<RefCell<Recorder>>,
    /// Draws of the back-off: a stream of its own, so pacing leaves the parameters unchanged.
    pace_rng: fastrand::Rng,
    /// Failed operations since the last success.
    failures_in_row: u32,
    track: TaskTrack,
}

/// Salt of the back-off stream (any constant: it only has to differ from the parameters').
const PACE_SALT: u64 = 0x7061_6369_6e67;

/// What one operation needs besides the connection.
struct Op<'a> {
    run: &'a LoadRun,
    workload: &'a Workload,
    task: u64,
    iteration: u64,
    /// The ledger statement and this operation's write id, when it is verified.
    write: Option<(usize, i64)>,
}

/// What an operation's tries learned, for the record.
#[derive(Default)]
struct Trace {
    /// When the first acquire ended.
    acquire_ended: Option<Instant>,
    acquired: bool,
    extras: OpExtras,
}

impl Op<'_> {
    /// Acquires and runs the workload; on a retryable failure, again from the acquire (a dead
    /// connection is not tried twice) with the same values, as pgbench does, up to
    /// `max_tries`.
    async fn tries(
        &self,
        access: &mut TaskAccess,
        rng: &mut fastrand::Rng,
        slots: &mut Vec<Value>,
        commit_sent: &Cell<bool>,
        trace: &mut Trace,
        pace: &mut fastrand::Rng,
    ) -> Result<(), OpError> {
        let retry = self.run.retry.as_ref();
        let max_tries = retry.map_or(1, |r| r.max_tries.max(1));
        let values = rng.clone();
        for attempt in 1..=max_tries {
            *rng = values.clone();
            trace.extras.tries = attempt;
            commit_sent.set(false);
            let result = self.once(access, rng, slots, commit_sent, trace).await;
            match result {
                Err(e) if retry.is_some_and(|r| r.on.contains(&e.class)) => {
                    if attempt == max_tries {
                        trace.extras.exhausted = true;
                        return Err(e);
                    }
                    // `on_failure`'s pause or back-off between tries ("think": at once).
                    let wait = self.run.pacing.wait(attempt, pace);
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                }
                other => return other,
            }
        }
        unreachable!("the last try returns")
    }

    async fn once(
        &self,
        access: &mut TaskAccess,
        rng: &mut fastrand::Rng,
        slots: &mut Vec<Value>,
        commit_sent: &Cell<bool>,
        trace: &mut Trace,
    ) -> Result<(), OpError> {
        let lease = access.acquire().await;
        trace.acquire_ended.get_or_insert_with(Instant::now);
        let lease = lease?;
        trace.acquired = true;
        self.holding(true);
        trace.extras.inherited_transaction |= lease.inherited_transaction;
        let mut draw = Draw {
            rng,
            task: self.task,
            iteration: self.iteration,
            seqs: &self.run.seqs,
        };
        let result = exec::run(
            &lease,
            self.workload,
            &mut draw,
            slots,
            self.write,
            commit_sent,
        )
        .await;
        if let Err(e) = &result {
            trace.extras.died_idle |= lease.died_idle(e);
        }
        drop(lease);
        self.holding(false);
        if result.is_ok() && self.workload.unlock.is_some() {
            // The wrong way with advisory locks: the unlock on a checkout of its own.
            self.holding(true);
            let unlock = races::unlock_on_next_checkout(access, self.workload, &mut draw, slots);
            let unlocked = unlock.await;
            self.holding(false);
            return unlocked;
        }
        result
    }

    /// Tells the cancel slot whether this operation holds a connection (`cancel_tasks`).
    fn holding(&self, holding: bool) {
        if let Some(c) = &self.run.cancels {
            c.holding(self.task as usize, holding);
        }
    }
}

/// How a verified write ended, as the client saw it.
fn write_outcome(result: &Result<(), OpError>, commit_sent: bool) -> WriteOutcome {
    match result {
        Ok(()) => WriteOutcome::Acknowledged,
        Err(e) if e.class == ErrorClass::CommitIndeterminate => WriteOutcome::Indeterminate,
        // The client gave up while COMMIT was in flight: the server may have committed.
        Err(e)
            if matches!(
                e.class,
                ErrorClass::OpDeadlineExceeded | ErrorClass::TaskCancelled
            ) && commit_sent =>
        {
            WriteOutcome::Indeterminate
        }
        Err(_) => WriteOutcome::Failed,
    }
}

impl Task {
    fn new(run: Arc<LoadRun>, index: usize, recorder: Rc<RefCell<Recorder>>) -> Task {
        Task {
            pace_rng: fastrand::Rng::with_seed(task_seed(run.seed ^ PACE_SALT, index)),
            failures_in_row: 0,
            track: TaskTrack::new(index, run.fault_specs.clone()),
            access: run.access.for_task(index),
            rng: fastrand::Rng::with_seed(task_seed(run.seed, index)),
            run,
            index,
            slots: Vec::new(),
            iteration: 0,
            writes: 0,
            recorder,
        }
    }

    /// What to wait before the next operation: `think_time` after a success (and after a
    /// failure with `on_failure = "think"`), else the pause or the back-off's draw.
    fn pause_after(&mut self, failed: bool) -> Duration {
        if !failed {
            self.failures_in_row = 0;
            return self.run.think_time;
        }
        self.failures_in_row = self.failures_in_row.saturating_add(1);
        match self.run.pacing {
            Pacing::Think => self.run.think_time,
            p => p.wait(self.failures_in_row, &mut self.pace_rng),
        }
    }

    /// Runs one operation due at `started`, handed out at `now`, and records it; tells
    /// whether it failed. Three clock reads per operation: `now` (the pacer's), the end of the
    /// acquire and the end.
    async fn operation(&mut self, started: Instant, now: Instant) -> bool {
        let run = &*self.run;
        let index = run.plan.pick(self.rng.u64(..run.plan.total_weight()));
        let workload = &run.plan.workloads[index];
        let write = match (workload.verify, run.ledger) {
            (true, Some(statement)) => {
                self.writes += 1;
                Some((statement, write_id(self.index, self.writes)))
            }
            _ => None,
        };
        let op = Op {
            run,
            workload,
            task: self.index as u64,
            iteration: self.iteration,
            write,
        };
        let acquire_started = now;
        let mut trace = Trace::default();
        let commit_sent = Cell::new(false);
        let (access, rng, slots) = (&mut self.access, &mut self.rng, &mut self.slots);
        let pace = &mut self.pace_rng;
        let cancel = run.cancels.as_ref().and_then(|c| c.begin(self.index));
        // Pinned where it stands: moving it into `within` and `cancellable` copied the whole
        // operation's future (kilobytes) twice per operation (perf: 4.6% in memmove).
        let result = {
            let attempt =
                std::pin::pin!(op.tries(access, rng, slots, &commit_sent, &mut trace, pace));
            cancellable(cancel.as_deref(), within(run.op_timeout, attempt)).await
        };
        self.cancelled(&result);
        let ended = Instant::now();
        {
            let mut recorder = self.recorder.borrow_mut();
            if let Some((_, id)) = write {
                recorder.write(id, write_outcome(&result, commit_sent.get()));
            }
            recorder.record_tracked(
                &mut self.track,
                Outcome {
                    workload: index,
                    started,
                    acquire_started,
                    acquire_ended: trace.acquire_ended.unwrap_or(ended),
                    acquired: trace.acquired,
                    ended,
                    error: result.as_ref().err(),
                    extras: trace.extras,
                },
            );
        }
        if result.is_err() {
            // A failure may have completed without awaiting anything (operation_in_progress
            // fails before sending): yield, or this task would starve the others on its thread.
            tokio::task::yield_now().await;
        }
        result.is_err()
    }

    /// The operation ended: its cancel slot is cleared, and if it was cancelled, what its
    /// connection carried back is counted.
    fn cancelled(&self, result: &Result<(), OpError>) {
        let Some(cancels) = &self.run.cancels else {
            return;
        };
        cancels.end(self.index);
        if matches!(result, Err(e) if e.class == ErrorClass::TaskCancelled) {
            let r = self.access.last_returned();
            let races = &self.run.access.gauges().races;
            races.cancelled(r.in_transaction, r.statement_in_flight);
        }
    }

    /// The task is done: its open failing spell goes to the record.
    fn finish(mut self) {
        self.recorder.borrow_mut().finish_track(&mut self.track);
    }
}

/// The worker loop of one task: operations as its pacer hands them out (closed model: back
/// to back, after its pause, while the ramp has it active; open model: at each arrival, timed
/// from its intended start), until the stop signal ends the load.
pub(crate) async fn run_task(
    run: Arc<LoadRun>,
    index: usize,
    recorder: Rc<RefCell<Recorder>>,
    mut pacer: Pacer,
    stop: Arc<Stop>,
) {
    let mut task = Task::new(run.clone(), index, recorder);
    while let Some(due) = pacer.next(&stop).await {
        task.iteration = due.iteration;
        let failed = task.operation(due.at, due.now).await;
        let pause = task.pause_after(failed);
        pacer.after(pause, failed && run.pacing != Pacing::Think);
    }
    task.finish();
}

/// Awaits an operation, unless its task is cancelled (`cancel_tasks`): then its future is
/// dropped where it stands, between or during statements, and it fails with `task_cancelled`.
async fn cancellable<T>(
    cancel: Option<&crate::signal::Signal>,
    attempt: impl std::future::Future<Output = Result<T, OpError>>,
) -> Result<T, OpError> {
    let Some(cancel) = cancel else {
        return attempt.await;
    };
    tokio::select! {
        biased;
        () = cancel.raised() => Err(OpError::new(
            ErrorClass::TaskCancelled,
            "the operation's task was cancelled (cancel_tasks): its future was dropped",
        )),
        r = attempt => r,
    }
}

/// Awaits an operation's tries, failing them with `op_deadline_exceeded` past `op_timeout`.
async fn within<T>(
    op_timeout: Option<Duration>,
    attempt: impl std::future::Future<Output = Result<T, OpError>>,
) -> Result<T, OpError> {
    let Some(limit) = op_timeout else {
        return attempt.await;
    };
    tokio::time::timeout(limit, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(OpError::new(
                ErrorClass::OpDeadlineExceeded,
                format!(
                    "no result within op_timeout {}",
                    humantime::format_duration(limit)
                ),
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::task_seed;

    #[test]
    fn task_seeds_differ_per_task_and_repeat_per_seed() {
        assert_eq!(task_seed(7, 3), task_seed(7, 3));
        assert_ne!(task_seed(7, 3), task_seed(7, 4));
        assert_ne!(task_seed(7, 3), task_seed(8, 3));
    }
}
