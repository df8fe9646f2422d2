//! A pool model's counters, bb8's statistics for every model (see `instance.rs`).

use std::sync::atomic::{AtomicU64, Ordering};

/// A pool's counters (bb8's statistics, for every model).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub get_direct: AtomicU64,
    pub get_waited: AtomicU64,
    pub get_timed_out: AtomicU64,
    pub created: AtomicU64,
    pub closed_broken: AtomicU64,
    pub closed_invalid: AtomicU64,
    /// Closed for their age or use: `max_queries`, `pool_recycle`, `max_lifetime`.
    pub closed_max_lifetime: AtomicU64,
    /// Closed idle: `max_inactive_connection_lifetime`, `max_idle`.
    pub closed_idle_timeout: AtomicU64,
    /// Closed on return because `pool_size` were idle (SQLAlchemy's overflow).
    pub closed_overflow: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
