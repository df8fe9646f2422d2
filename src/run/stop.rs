//! The one stop signal of a variant's load ([`Stop`]): its deadline (duration or stages), its
//! iterations per task, and the halt raised by an interrupt or an abort. Every loop — the
//! pacers (`pacer.rs`), the open model's arrival generators (`arrivals.rs`) and the aborter
//! (`abort.rs`) — stops on it.

use std::sync::Arc;
use std::time::Instant;

use super::Interrupt;
use crate::signal::Signal;

/// The one stop signal of a variant's load.
#[derive(Debug)]
pub(crate) struct Stop {
    /// No operation starts at or after this (duration or stages); none in iterations mode.
    deadline: Option<Instant>,
    /// Iterations mode: operations per task in the measured phase.
    iterations: Option<u64>,
    /// Raised by an abort (`abort_on_fail`) or by the interrupt's watcher.
    halt: Signal,
    interrupt: Arc<Interrupt>,
}

impl Stop {
    pub(crate) fn new(
        deadline: Option<Instant>,
        iterations: Option<u64>,
        interrupt: Arc<Interrupt>,
    ) -> Stop {
        Stop {
            deadline,
            iterations,
            halt: Signal::default(),
            interrupt,
        }
    }

    /// Stops every loop at its next step (the in-flight operations are the aborter's).
    pub(crate) fn halt(&self) {
        self.halt.raise();
    }

    /// Whether an interrupt or an abort stopped the load.
    pub(crate) fn halted(&self) -> bool {
        self.halt.is_raised() || self.interrupt.is_raised()
    }

    /// When no operation may start any more (duration or stages).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether a task that ran `done` measured operations must stop at `now`.
    pub(super) fn over(&self, now: Instant, done: u64) -> bool {
        self.deadline.is_some_and(|d| now >= d) || self.iterations.is_some_and(|n| done >= n)
    }

    /// Sleeps until `until` (`None`: for ever), but not past the deadline nor the halt.
    pub(crate) async fn sleep_until(&self, until: Option<Instant>) {
        let until = match (until, self.deadline) {
            (Some(u), Some(d)) => Some(u.min(d)),
            (u, d) => u.or(d),
        };
        let timer = async {
            match until {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = self.halt.raised() => {}
            () = timer => {}
        }
    }
}
