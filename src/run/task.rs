//! One load task in the closed model: pick a workload, acquire, run its steps, release,
//! record; think; repeat until the phase ends (duration or iterations) or the run is stopped.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

use crate::access::Access;
use crate::record::errors::{ErrorClass, OpError};
use crate::record::{Outcome, Recorder};
use crate::workload::exec;
use crate::workload::params::{Draw, Value};
use crate::workload::plan::Plan;

use super::Interrupt;

/// Everything the tasks of a variant share.
#[derive(Debug)]
pub struct LoadRun {
    pub plan: Arc<Plan>,
    pub access: Access,
    pub seed: u64,
    pub seqs: Box<[AtomicI64]>,
    /// End of warmup: operations that end before it are not recorded.
    pub measure_start: Instant,
    /// Duration mode: no operation starts after this.
    pub deadline: Option<Instant>,
    /// Iterations mode: operations per task in the measured phase.
    pub iterations: Option<u64>,
    pub think_time: Duration,
    pub op_timeout: Option<Duration>,
    pub interrupt: Arc<Interrupt>,
}

/// A task's own stream of parameter values: reproducible for a seed, different per task.
fn task_seed(seed: u64, task: usize) -> u64 {
    let mut x = seed ^ (task as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64 finalizer: nearby task numbers get unrelated streams.
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Runs task `task` until its phase ends.
pub async fn closed_loop(run: Arc<LoadRun>, task: usize, recorder: Rc<RefCell<Recorder>>) {
    let mut access = run.access.for_task(task);
    let mut rng = fastrand::Rng::with_seed(task_seed(run.seed, task));
    let mut slots: Vec<Value> = Vec::new();
    let total_weight = run.plan.total_weight();
    let mut measured = false;
    let mut iteration: u64 = 0;
    loop {
        if run.interrupt.is_set() {
            break;
        }
        let now = Instant::now();
        if !measured && now >= run.measure_start {
            measured = true;
            iteration = 0;
        }
        if measured
            && (run.deadline.is_some_and(|d| now >= d)
                || run.iterations.is_some_and(|n| iteration >= n))
        {
            break;
        }
        let index = run.plan.pick(rng.u64(..total_weight));
        let workload = &run.plan.workloads[index];
        let started = Instant::now();
        let mut acquire_ended = None;
        let mut acquired = false;
        let op = async {
            let lease = access.acquire().await;
            acquire_ended = Some(Instant::now());
            let lease = lease?;
            acquired = true;
            let mut draw = Draw {
                rng: &mut rng,
                task: task as u64,
                iteration,
                seqs: &run.seqs,
            };
            exec::run(&lease, workload, &mut draw, &mut slots).await
        };
        let result = match run.op_timeout {
            None => op.await,
            Some(limit) => tokio::time::timeout(limit, op).await.unwrap_or_else(|_| {
                Err(OpError::new(
                    ErrorClass::OpDeadlineExceeded,
                    format!(
                        "no result within op_timeout {}",
                        humantime::format_duration(limit)
                    ),
                ))
            }),
        };
        let ended = Instant::now();
        recorder.borrow_mut().record(Outcome {
            workload: index,
            started,
            acquire_ended: acquire_ended.unwrap_or(ended),
            acquired,
            ended,
            error: result.as_ref().err(),
        });
        iteration += 1;
        if result.is_err() {
            // A failure may have completed without awaiting anything (operation_in_progress
            // fails before sending): yield, or this task would starve the others on its thread.
            tokio::task::yield_now().await;
        }
        if !run.think_time.is_zero() {
            tokio::time::sleep(run.think_time).await;
        }
    }
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
