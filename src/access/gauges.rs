//! Live counters of a variant's connections, shared by every access mode and instance: open,
//! created, closed, broken, held for an operation, tasks waiting, connection tasks alive, and
//! the server notices that reveal interleaved transactions.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

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
    pub notices_active_transaction: AtomicU64,
    /// 25P01: COMMIT or ROLLBACK with no transaction (another statement ended it).
    pub notices_no_transaction: AtomicU64,
    /// Pooled connections given back while (maybe) inside a transaction.
    pub returned_in_transaction: AtomicU64,
    /// Operations whose connection was cut under them by a pool closed without drain.
    pub cut_by_close: AtomicU64,
    /// Connections (backends) that served at least one operation.
    pub backends_used: AtomicU64,
    /// Most operations holding one connection at once.
    pub max_per_backend: AtomicU64,
}

/// A snapshot of the gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub open: u64,
    pub created: u64,
    pub closed: u64,
    pub broken: u64,
    pub in_use: u64,
    pub peak_in_use: u64,
    pub waiting: u64,
    pub peak_waiting: u64,
}

fn non_negative(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Gauges {
    pub fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
        self.created.fetch_add(1, Ordering::Relaxed);
    }

    pub fn closed(&self, broken: bool) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.closed.fetch_add(1, Ordering::Relaxed);
        if broken {
            self.broken.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn acquired(&self) {
        let now = self.in_use.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_use.fetch_max(now, Ordering::Relaxed);
    }

    pub fn released(&self) {
        self.in_use.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn wait_started(&self) {
        let now = self.waiting.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_waiting.fetch_max(now, Ordering::Relaxed);
    }

    pub fn wait_ended(&self) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn io_started(&self) {
        self.io_tasks.fetch_add(1, Ordering::Relaxed);
    }

    pub fn io_ended(&self) {
        self.io_tasks.fetch_sub(1, Ordering::Relaxed);
    }

    /// Connection tasks still running (their sockets are still open).
    pub fn io_tasks(&self) -> u64 {
        non_negative(self.io_tasks.load(Ordering::Relaxed))
    }

    /// Notes `holders` operations on one connection; cheap when it is no new maximum.
    pub fn holders(&self, holders: u64) {
        if holders > self.max_per_backend.load(Ordering::Relaxed) {
            self.max_per_backend.fetch_max(holders, Ordering::Relaxed);
        }
    }

    pub fn notice(&self, code: &SqlState) {
        if *code == SqlState::ACTIVE_SQL_TRANSACTION {
            self.notices_active_transaction
                .fetch_add(1, Ordering::Relaxed);
        } else if *code == SqlState::NO_ACTIVE_SQL_TRANSACTION {
            self.notices_no_transaction.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> Snapshot {
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
