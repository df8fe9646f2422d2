//! `[[fault]] kind = "cancel_tasks"`: the operation futures of a fraction of the tasks that
//! hold a connection are dropped, as an async runtime drops a request whose client went away or
//! whose web-framework timeout fired. The task is not ended: it records the operation as
//! `task_cancelled` and goes on with its next one, as a web worker goes on with its next
//! request.
//!
//! Dropping the future drops the lease between or during statements; what the connection
//! carried back (an open transaction, a statement in flight) is counted by the task
//! ([`crate::access::races::RaceCounters::cancelled`]), and what its next user met is in the
//! report's `isolation.after_dirty_return`.
//!
//! Each task has a slot here ([`TaskCancels`]): while an operation runs it holds that
//! operation's [`Signal`], and says whether the operation holds a connection. The fault raises
//! the signals of the chosen operations; a signal raised after its operation ended is never
//! seen by another one (each operation has its own).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::signal::Signal;

/// One slot per task.
#[derive(Debug)]
pub(crate) struct TaskCancels {
    slots: Box<[Slot]>,
}

#[derive(Debug, Default)]
struct Slot {
    /// The running operation's cancel signal.
    current: Mutex<Option<Arc<Signal>>>,
    /// The running operation holds a connection.
    holding: AtomicBool,
}

impl TaskCancels {
    pub(crate) fn new(tasks: usize) -> TaskCancels {
        TaskCancels {
            slots: (0..tasks).map(|_| Slot::default()).collect(),
        }
    }

    /// Task `task` starts an operation: the signal that cancels it.
    pub(crate) fn begin(&self, task: usize) -> Option<Arc<Signal>> {
        let slot = self.slots.get(task)?;
        let signal = Arc::new(Signal::default());
        *slot.current.lock().expect("cancel lock") = Some(signal.clone());
        Some(signal)
    }

    /// Task `task`'s operation took (`true`) or gave back (`false`) its connection.
    pub(crate) fn holding(&self, task: usize, holding: bool) {
        if let Some(slot) = self.slots.get(task) {
            slot.holding.store(holding, Ordering::Relaxed);
        }
    }

    /// Task `task`'s operation ended.
    pub(crate) fn end(&self, task: usize) {
        if let Some(slot) = self.slots.get(task) {
            slot.holding.store(false, Ordering::Relaxed);
            slot.current.lock().expect("cancel lock").take();
        }
    }

    /// Cancels `fraction` (rounded up) of the operations that hold a connection now, chosen
    /// with `rng`; returns (cancelled, holding).
    pub(crate) fn cancel(&self, fraction: f64, rng: &mut fastrand::Rng) -> (usize, usize) {
        let mut holding: Vec<Arc<Signal>> = self
            .slots
            .iter()
            .filter(|s| s.holding.load(Ordering::Relaxed))
            .filter_map(|s| s.current.lock().expect("cancel lock").clone())
            .collect();
        let total = holding.len();
        let wanted = ((total as f64) * fraction).ceil() as usize;
        rng.shuffle(&mut holding);
        holding.truncate(wanted.min(total));
        for signal in &holding {
            signal.raise();
        }
        (holding.len(), total)
    }
}

/// The fault's action; its detail for the report.
pub(crate) fn fire(
    cancels: Option<&TaskCancels>,
    fraction: f64,
    rng: &mut fastrand::Rng,
) -> String {
    let Some(cancels) = cancels else {
        return "not fired: no task can be cancelled in this run".into();
    };
    let (cancelled, holding) = cancels.cancel(fraction, rng);
    format!("cancelled the operations of {cancelled} of {holding} task(s) holding a connection")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_operations_holding_a_connection_are_cancelled_and_a_late_signal_is_not_inherited() {
        let c = TaskCancels::new(3);
        let a = c.begin(0).unwrap();
        let b = c.begin(1).unwrap();
        c.holding(0, true);
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(c.cancel(1.0, &mut rng), (1, 1));
        assert!(a.is_raised());
        assert!(!b.is_raised(), "task 1 held no connection");
        c.end(0);
        let next = c.begin(0).unwrap();
        assert!(!next.is_raised(), "a new operation has a signal of its own");
        assert_eq!(c.cancel(0.5, &mut rng), (0, 0));
    }
}
