//! What the diagnosis needs beyond latencies and error classes: retries, long holds (leaks),
//! what the next user of a connection given back inside a transaction met, and connections
//! that had died while idle in the pool.

use std::collections::BTreeMap;
use std::time::Duration;

use super::errors::OpError;

/// Per-variant counts, merged over workers.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Extras {
    /// Operations that needed more than one try.
    pub(crate) retried: u64,
    /// Tries beyond the first, in all.
    pub(crate) retries: u64,
    /// Operations that failed with a retryable class on their last try.
    pub(crate) retries_exhausted: u64,
    /// Per workload: operations that held a connection longer than `leak_threshold`, and the
    /// longest hold.
    pub(crate) long_holds: Vec<(u64, Duration)>,
    /// What the next operation on a connection given back inside a transaction met: `ok` or
    /// an error class.
    pub(crate) after_dirty_return: BTreeMap<String, u64>,
    /// Failures on the first statement of a reused pooled connection that had died while idle
    /// (what a pre-ping would have caught).
    pub(crate) died_idle: u64,
}

/// What one operation adds to the extras.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OpExtras {
    /// Tries made (1 without retries).
    pub(crate) tries: u32,
    /// The last try failed with a retryable class.
    pub(crate) exhausted: bool,
    /// It was the next user of a connection given back inside a transaction.
    pub(crate) inherited_transaction: bool,
    /// It failed on the first statement of a reused connection that had died while idle.
    pub(crate) died_idle: bool,
}

impl Extras {
    pub(crate) fn new(workloads: usize) -> Extras {
        Extras {
            long_holds: vec![(0, Duration::ZERO); workloads],
            ..Extras::default()
        }
    }

    pub(crate) fn add(
        &mut self,
        workload: usize,
        x: OpExtras,
        hold: Option<Duration>,
        leak: Option<Duration>,
        error: Option<&OpError>,
    ) {
        if x.tries > 1 {
            self.retried += 1;
            self.retries += u64::from(x.tries - 1);
        }
        self.retries_exhausted += u64::from(x.exhausted);
        self.died_idle += u64::from(x.died_idle);
        if let (Some(hold), Some(leak)) = (hold, leak)
            && hold > leak
        {
            let h = &mut self.long_holds[workload];
            h.0 += 1;
            h.1 = h.1.max(hold);
        }
        if x.inherited_transaction {
            let met = error.map_or("ok", |e| e.class.name());
            *self.after_dirty_return.entry(met.to_string()).or_default() += 1;
        }
    }

    pub(crate) fn merge(&mut self, o: &Extras) {
        self.retried += o.retried;
        self.retries += o.retries;
        self.retries_exhausted += o.retries_exhausted;
        self.died_idle += o.died_idle;
        for (a, b) in self.long_holds.iter_mut().zip(&o.long_holds) {
            a.0 += b.0;
            a.1 = a.1.max(b.1);
        }
        for (k, n) in &o.after_dirty_return {
            *self.after_dirty_return.entry(k.clone()).or_default() += n;
        }
    }
}
