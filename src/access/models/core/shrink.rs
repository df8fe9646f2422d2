//! The idle shrink of a pool model: asyncpg's `max_inactive_connection_lifetime`,
//! psycopg_pool's `max_idle` (see [`Shrink`]).

use std::sync::Weak;

use super::{Core, Idle};
use crate::access::models::stats::bump;
use crate::access::models::{Opener, Shrink};

impl<O: Opener> Core<O> {
    /// Closes idle connections as the library's shrink does; returns how many.
    pub(super) fn shrink(&self) -> usize {
        let min = self.rules.min_size;
        let closed: Vec<Idle<O::Conn>> = {
            let mut st = self.lock();
            let mut out = Vec::new();
            match self.rules.shrink {
                Shrink::Never => {}
                Shrink::EachIdle(limit) => {
                    while st.total > min
                        && let Some(at) = st.idle.iter().position(|i| i.since.elapsed() >= limit)
                    {
                        out.extend(st.idle.remove(at));
                        st.total -= 1;
                    }
                }
                Shrink::OnePer(_) => {
                    if st.total > min && st.idle_min > 0 && !st.idle.is_empty() {
                        out.extend(st.idle.pop_front());
                        st.total -= 1;
                    }
                    st.idle_min = st.idle.len();
                }
            }
            out
        };
        let n = closed.len();
        for _ in 0..n {
            bump(&self.stats.closed_idle_timeout);
        }
        n
    }
}

/// Runs the idle shrink while the pool lives and is open.
pub(super) async fn shrinker<O: Opener>(core: Weak<Core<O>>) {
    let period = match core.upgrade().map(|c| c.rules.shrink) {
        Some(Shrink::EachIdle(limit)) => (limit / 4).max(std::time::Duration::from_millis(10)),
        Some(Shrink::OnePer(period)) => period,
        _ => return,
    };
    loop {
        tokio::time::sleep(period).await;
        match core.upgrade() {
            Some(core) if !core.is_closed() => {
                core.shrink();
            }
            _ => return,
        }
    }
}
