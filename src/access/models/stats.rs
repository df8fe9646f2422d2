//! A pool model's counters, bb8's statistics for every model (see `instance.rs`).

use std::sync::atomic::{AtomicU64, Ordering};

/// A pool's counters (bb8's statistics, for every model).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) get_direct: AtomicU64,
    pub(crate) get_waited: AtomicU64,
    pub(crate) get_timed_out: AtomicU64,
    pub(crate) created: AtomicU64,
    pub(crate) closed_broken: AtomicU64,
    pub(crate) closed_invalid: AtomicU64,
    /// Closed for their age or use: `max_queries`, `pool_recycle`, `max_lifetime`.
    pub(crate) closed_max_lifetime: AtomicU64,
    /// Closed idle: `max_inactive_connection_lifetime`, `max_idle`.
    pub(crate) closed_idle_timeout: AtomicU64,
    /// Closed on return because `pool_size` were idle (SQLAlchemy's overflow).
    pub(crate) closed_overflow: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
