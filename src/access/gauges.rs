//! Live counters of a variant's connections, shared by every access mode and instance: open,
//! created, closed, broken, held for an operation, tasks waiting, connection tasks alive, and
//! the server notices that reveal interleaved transactions.
//!
//! The report covers the measured phase only: at its start ([`Gauges::begin_measured_phase`])
//! the peaks restart from the current values and the counters are noted, so that
//! [`Gauges::measured`] leaves out what the warmup did (notices, dirty returns, connections
//! cut by a close). The report's connections created and closed, `backends_used` and
//! `max_per_backend` cover the whole run, setup included (a shared connection is opened
//! before the load).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use tokio_postgres::error::SqlState;

/// Counters updated on the hot path with relaxed atomics.
#[derive(Debug, Default)]
pub struct Gauges {
    open: AtomicI64,
    created: AtomicU64,
    closed: AtomicU64,
    broken: AtomicU64,
    in_use: AtomicI64,
    peak_in_use: AtomicI64,
    waiting: AtomicI64,
    peak_waiting: AtomicI64,
    io_tasks: AtomicI64,
    /// 25001: BEGIN inside a transaction another statement opened.
    pub(crate) notices_active_transaction: AtomicU64,
    /// 25P01: COMMIT or ROLLBACK with no transaction (another statement ended it).
    pub(crate) notices_no_transaction: AtomicU64,
    /// Pooled connections given back while (maybe) inside a transaction.
    pub(crate) returned_in_transaction: AtomicU64,
    /// Operations whose connection was cut under them by a pool closed without drain.
    pub(crate) cut_by_close: AtomicU64,
    /// Connections (backends) that served at least one operation.
    pub(crate) backends_used: AtomicU64,
    /// Most operations holding one connection at once.
    pub(crate) max_per_backend: AtomicU64,
    /// The counters when the measured phase began.
    at_measure_start: Mutex<Counters>,
    /// The harness is cutting the load short (see [`Gauges::stop_load`]).
    stopping: AtomicBool,
    /// Which statement each cancel request was aimed at (see `cancels.rs`).
    pub cancels: super::cancels::Cancels,
    /// Cancelled tasks, resets on return, leaked session state, advisory locks.
    pub(crate) races: super::races::RaceCounters,
}

/// The counters the report gives for the measured phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) created: u64,
    pub(crate) closed: u64,
    pub(crate) broken: u64,
    /// Notices 25001 and 25P01.
    pub(crate) interleaved: u64,
    pub(crate) returned_in_transaction: u64,
    pub(crate) cut_by_close: u64,
}

impl Counters {
    fn since(self, start: Counters) -> Counters {
        Counters {
            created: self.created.saturating_sub(start.created),
            closed: self.closed.saturating_sub(start.closed),
            broken: self.broken.saturating_sub(start.broken),
            interleaved: self.interleaved.saturating_sub(start.interleaved),
            returned_in_transaction: self
                .returned_in_transaction
                .saturating_sub(start.returned_in_transaction),
            cut_by_close: self.cut_by_close.saturating_sub(start.cut_by_close),
        }
    }
}

/// A snapshot of the gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) open: u64,
    pub(crate) created: u64,
    pub(crate) closed: u64,
    pub(crate) broken: u64,
    pub(crate) in_use: u64,
    pub(crate) peak_in_use: u64,
    pub(crate) waiting: u64,
    pub(crate) peak_waiting: u64,
}

/// Raises a peak to `now`: a plain load when it is no new maximum (the steady state), so the
/// hot path does not take the cache line for writing twice per update.
fn raise_peak(peak: &AtomicI64, now: i64) {
    if now > peak.load(Ordering::Relaxed) {
        peak.fetch_max(now, Ordering::Relaxed);
    }
}

fn non_negative(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Gauges {
    pub(crate) fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
        self.created.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn closed(&self, broken: bool) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.closed.fetch_add(1, Ordering::Relaxed);
        if broken {
            self.broken.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn acquired(&self) {
        let now = self.in_use.fetch_add(1, Ordering::Relaxed) + 1;
        raise_peak(&self.peak_in_use, now);
    }

    pub(crate) fn released(&self) {
        self.in_use.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn wait_started(&self) {
        let now = self.waiting.fetch_add(1, Ordering::Relaxed) + 1;
        raise_peak(&self.peak_waiting, now);
    }

    pub(crate) fn wait_ended(&self) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn io_started(&self) {
        self.io_tasks.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn io_ended(&self) {
        self.io_tasks.fetch_sub(1, Ordering::Relaxed);
    }

    /// Connection tasks still running (their sockets are still open).
    pub(crate) fn io_tasks(&self) -> u64 {
        non_negative(self.io_tasks.load(Ordering::Relaxed))
    }

    /// Notes `holders` operations on one connection; cheap when it is no new maximum.
    pub(crate) fn holders(&self, holders: u64) {
        if holders > self.max_per_backend.load(Ordering::Relaxed) {
            self.max_per_backend.fetch_max(holders, Ordering::Relaxed);
        }
    }

    pub(crate) fn notice(&self, code: &SqlState) {
        if *code == SqlState::ACTIVE_SQL_TRANSACTION {
            self.notices_active_transaction
                .fetch_add(1, Ordering::Relaxed);
        } else if *code == SqlState::NO_ACTIVE_SQL_TRANSACTION {
            self.notices_no_transaction.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn counters(&self) -> Counters {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            created: load(&self.created),
            closed: load(&self.closed),
            broken: load(&self.broken),
            interleaved: load(&self.notices_active_transaction)
                + load(&self.notices_no_transaction),
            returned_in_transaction: load(&self.returned_in_transaction),
            cut_by_close: load(&self.cut_by_close),
        }
    }

    /// The harness cuts the load short (an interrupt, `abort_on_fail`): the operations it drops
    /// mid-transaction are ours, not the application's, and are not counted as anomalies.
    pub(crate) fn stop_load(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether [`Gauges::stop_load`] was called.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The warmup is over: peaks restart from now, counters count from now.
    pub(crate) fn begin_measured_phase(&self) {
        let current = |c: &AtomicI64| c.load(Ordering::Relaxed);
        self.peak_in_use
            .store(current(&self.in_use).max(0), Ordering::Relaxed);
        self.peak_waiting
            .store(current(&self.waiting).max(0), Ordering::Relaxed);
        *self.at_measure_start.lock().expect("gauges lock") = self.counters();
        self.races.begin_measured_phase();
    }

    /// The counters since the measured phase began (the whole run until it has).
    pub(crate) fn measured(&self) -> Counters {
        let start = *self.at_measure_start.lock().expect("gauges lock");
        self.counters().since(start)
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            open: non_negative(self.open.load(Ordering::Relaxed)),
            created: self.created.load(Ordering::Relaxed),
            closed: self.closed.load(Ordering::Relaxed),
            broken: self.broken.load(Ordering::Relaxed),
            in_use: non_negative(self.in_use.load(Ordering::Relaxed)),
            peak_in_use: non_negative(self.peak_in_use.load(Ordering::Relaxed)),
            waiting: non_negative(self.waiting.load(Ordering::Relaxed)),
            peak_waiting: non_negative(self.peak_waiting.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_measured_phase_leaves_the_warmup_out() {
        let g = Gauges::default();
        for _ in 0..3 {
            g.opened();
            g.acquired();
        }
        g.notice(&SqlState::ACTIVE_SQL_TRANSACTION);
        g.released();
        g.released();
        g.begin_measured_phase();
        assert_eq!(
            g.snapshot().peak_in_use,
            1,
            "the peak restarts from what is in use"
        );
        assert_eq!(g.measured(), Counters::default());
        g.opened();
        g.notice(&SqlState::NO_ACTIVE_SQL_TRANSACTION);
        g.returned_in_transaction.fetch_add(1, Ordering::Relaxed);
        let m = g.measured();
        assert_eq!(
            (m.created, m.interleaved, m.returned_in_transaction),
            (1, 1, 1)
        );
        assert_eq!(g.snapshot().created, 4, "the snapshot keeps the whole run");
    }
}
