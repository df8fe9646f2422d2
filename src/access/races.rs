//! Counters of the races a pool does not fix (issue 15): what cancelled tasks carried back to
//! the pool, the pool's resets on return and how they failed, session state that leaked from
//! one user of a connection to the next, and advisory locks left behind.
//!
//! Like the other gauges they are updated with relaxed atomics from any worker thread, and the
//! report covers the measured phase only ([`RaceCounters::begin_measured_phase`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::record::errors::ErrorClass;

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct RaceCounters {
    /// Operations whose task was cancelled (their future dropped) by `cancel_tasks`.
    pub(crate) cancelled: AtomicU64,
    /// Of those, the ones whose connection went back inside a transaction.
    pub(crate) cancelled_in_transaction: AtomicU64,
    /// Of those, the ones whose connection went back with a statement still in flight.
    pub(crate) cancelled_statement_in_flight: AtomicU64,
    /// Resets on return (`pool.reset_on_return`) that completed.
    pub(crate) resets: AtomicU64,
    /// Resets on return that failed, by class (the connection is then discarded).
    reset_failures: Mutex<BTreeMap<ErrorClass, u64>>,
    /// Operations of `builtin = "session_state"` that found another task's mark.
    pub(crate) session_state_leaked: AtomicU64,
    /// `pg_advisory_unlock` calls that returned false (the lock was taken on another session).
    pub(crate) advisory_unlock_failed: AtomicU64,
    /// Advisory locks this run's backends still held when the load ended.
    advisory_locks_held: Mutex<Option<u64>>,
    at_measure_start: Mutex<RaceCounts>,
}

/// The counters' values (for the measured phase, see [`RaceCounters::measured`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RaceCounts {
    pub(crate) cancelled: u64,
    pub(crate) cancelled_in_transaction: u64,
    pub(crate) cancelled_statement_in_flight: u64,
    pub(crate) resets: u64,
    pub(crate) reset_failures: BTreeMap<ErrorClass, u64>,
    pub(crate) session_state_leaked: u64,
    pub(crate) advisory_unlock_failed: u64,
    pub(crate) advisory_locks_held: Option<u64>,
}

impl RaceCounters {
    /// A task's operation was cancelled; `in_transaction` and `in_flight` say what its
    /// connection carried back.
    pub(crate) fn cancelled(&self, in_transaction: bool, in_flight: bool) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
        if in_transaction {
            self.cancelled_in_transaction
                .fetch_add(1, Ordering::Relaxed);
        }
        if in_flight {
            self.cancelled_statement_in_flight
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn reset_failed(&self, class: ErrorClass) {
        *self
            .reset_failures
            .lock()
            .expect("races lock")
            .entry(class)
            .or_default() += 1;
    }

    /// The count of advisory locks held at the end, read from `pg_locks`.
    pub(crate) fn set_advisory_locks_held(&self, held: Option<u64>) {
        *self.advisory_locks_held.lock().expect("races lock") = held;
    }

    fn counts(&self) -> RaceCounts {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RaceCounts {
            cancelled: load(&self.cancelled),
            cancelled_in_transaction: load(&self.cancelled_in_transaction),
            cancelled_statement_in_flight: load(&self.cancelled_statement_in_flight),
            resets: load(&self.resets),
            reset_failures: self.reset_failures.lock().expect("races lock").clone(),
            session_state_leaked: load(&self.session_state_leaked),
            advisory_unlock_failed: load(&self.advisory_unlock_failed),
            advisory_locks_held: *self.advisory_locks_held.lock().expect("races lock"),
        }
    }

    /// The warmup is over: the counters count from now.
    pub(crate) fn begin_measured_phase(&self) {
        *self.at_measure_start.lock().expect("races lock") = self.counts();
    }

    /// The counters since the measured phase began (the whole run until it has); the locks
    /// held are a state at the end, not a count.
    pub(crate) fn measured(&self) -> RaceCounts {
        let start = self.at_measure_start.lock().expect("races lock").clone();
        let now = self.counts();
        let mut reset_failures = now.reset_failures;
        for (class, n) in &start.reset_failures {
            if let Some(v) = reset_failures.get_mut(class) {
                *v = v.saturating_sub(*n);
            }
        }
        reset_failures.retain(|_, n| *n > 0);
        RaceCounts {
            cancelled: now.cancelled.saturating_sub(start.cancelled),
            cancelled_in_transaction: now
                .cancelled_in_transaction
                .saturating_sub(start.cancelled_in_transaction),
            cancelled_statement_in_flight: now
                .cancelled_statement_in_flight
                .saturating_sub(start.cancelled_statement_in_flight),
            resets: now.resets.saturating_sub(start.resets),
            reset_failures,
            session_state_leaked: now
                .session_state_leaked
                .saturating_sub(start.session_state_leaked),
            advisory_unlock_failed: now
                .advisory_unlock_failed
                .saturating_sub(start.advisory_unlock_failed),
            advisory_locks_held: now.advisory_locks_held,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_measured_phase_leaves_the_warmup_out_but_keeps_the_end_state() {
        let r = RaceCounters::default();
        r.cancelled(true, false);
        r.reset_failed(ErrorClass::ConnectionClosed);
        r.session_state_leaked.fetch_add(2, Ordering::Relaxed);
        r.begin_measured_phase();
        r.cancelled(true, true);
        r.reset_failed(ErrorClass::ConnectionClosed);
        r.reset_failed(ErrorClass::AdminTerminated);
        r.set_advisory_locks_held(Some(3));
        let m = r.measured();
        assert_eq!(
            (
                m.cancelled,
                m.cancelled_in_transaction,
                m.cancelled_statement_in_flight
            ),
            (1, 1, 1)
        );
        assert_eq!(m.session_state_leaked, 0);
        assert_eq!(m.reset_failures.len(), 2);
        assert_eq!(m.reset_failures[&ErrorClass::ConnectionClosed], 1);
        assert_eq!(m.advisory_locks_held, Some(3));
    }
}
