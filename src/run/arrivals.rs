//! The open model on one worker thread: arrivals at their intended times, handed to a free
//! task of this thread, or counted as dropped when every one is busy (as k6's arrival-rate
//! executors do). Worker `w` of `n` takes arrivals `w, w + n, w + 2n, ...` of the schedule.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::shape::Ramp;
use super::stop::Stop;
use crate::record::Recorder;

/// Arrivals waiting for a task, and the tasks waiting for an arrival.
#[derive(Debug, Default)]
pub(crate) struct Arrivals {
    queue: RefCell<VecDeque<Instant>>,
    /// Tasks parked in [`Arrivals::next`] that no arrival was handed to yet.
    idle: Cell<usize>,
    notify: Notify,
    done: Cell<bool>,
}

impl Arrivals {
    /// The intended start of the next operation for a task, or `None` when the run is over.
    pub(crate) async fn next(&self) -> Option<Instant> {
        loop {
            if let Some(due) = self.queue.borrow_mut().pop_front() {
                return Some(due);
            }
            if self.done.get() {
                return None;
            }
            self.idle.set(self.idle.get() + 1);
            self.notify.notified().await;
        }
    }

    /// Hands an arrival to a parked task; false when every task is busy.
    fn hand(&self, due: Instant) -> bool {
        if self.idle.get() == 0 {
            return false;
        }
        // Reserved here, not when the task wakes: a second arrival must not count on it.
        self.idle.set(self.idle.get() - 1);
        self.queue.borrow_mut().push_back(due);
        self.notify.notify_one();
        true
    }

    fn finish(&self) {
        self.done.set(true);
        self.notify.notify_waiters();
    }
}

/// This worker's share of the arrival schedule.
pub(crate) struct Share {
    pub(crate) rate: Ramp,
    /// Time 0 of the rate function.
    pub(crate) start: Instant,
    pub(crate) worker: usize,
    pub(crate) workers: usize,
}

/// Releases the tasks however the generator ends: its loop, or a bug's panic unwinding
/// through it (the tasks would otherwise wait for an arrival forever, and the run never end).
struct Release(Rc<Arrivals>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// Generates this worker's arrivals until the stop signal (its deadline, or an interrupt or
/// abort, which wakes the wait at once) or until the rate falls to zero, then releases the
/// tasks.
pub(crate) async fn generate(
    arrivals: Rc<Arrivals>,
    share: Share,
    recorder: Rc<RefCell<Recorder>>,
    stop: Arc<Stop>,
) {
    let _release = Release(arrivals.clone());
    let mut k = share.worker as u64;
    while !stop.halted() {
        let Some(t) = share.rate.time_of_integral((k + 1) as f64) else {
            break;
        };
        // A rate so low that the next arrival lies beyond any clock: there is none.
        let Some(due) =
            (Duration::try_from_secs_f64(t).ok()).and_then(|t| share.start.checked_add(t))
        else {
            break;
        };
        if stop.deadline().is_some_and(|end| due >= end) {
            break;
        }
        stop.sleep_until(Some(due)).await;
        if stop.halted() {
            break;
        }
        if !arrivals.hand(due) {
            recorder.borrow_mut().dropped(due);
        }
        k += share.workers as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::task::{LocalSet, spawn_local, yield_now};

    #[tokio::test(flavor = "current_thread")]
    async fn an_arrival_goes_to_an_idle_task_or_is_refused() {
        LocalSet::new()
            .run_until(async {
                let a = Rc::new(Arrivals::default());
                let now = Instant::now();
                assert!(!a.hand(now), "no task waits yet");
                let next = || {
                    let a = a.clone();
                    spawn_local(async move { a.next().await })
                };
                let first = next();
                yield_now().await;
                assert!(a.hand(now), "one task is parked");
                assert!(!a.hand(now), "and the first arrival took it");
                assert_eq!(first.await.unwrap(), Some(now));
                let second = next();
                yield_now().await;
                a.finish();
                assert_eq!(second.await.unwrap(), None, "released at the end");
            })
            .await;
    }
}
