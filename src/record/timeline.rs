//! The per-second timeline of the measured phase.
//!
//! An operation counts in the second in which it completed, so the timeline's sums equal the
//! totals. Each second keeps its interval histogram (so merging reports stays exact) and the
//! connection and server state sampled at its end.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::errors::{ErrorClass, OpError};
use super::histogram;

/// One worker's counts for one second.
#[derive(Debug)]
pub struct Interval {
    pub second: u64,
    pub ok: u64,
    pub failed: u64,
    pub dropped: u64,
    pub errors: BTreeMap<ErrorClass, u64>,
    /// Latency of the successful operations of this second.
    pub hist: Histogram<u64>,
}

impl Interval {
    pub fn new(second: u64) -> Interval {
        Interval {
            second,
            ok: 0,
            failed: 0,
            dropped: 0,
            errors: BTreeMap::new(),
            hist: histogram::new_interval(),
        }
    }

    pub fn add(&mut self, latency: Duration, error: Option<&OpError>) {
        match error {
            None => {
                self.ok += 1;
                histogram::record(&mut self.hist, latency);
            }
            Some(e) => {
                self.failed += 1;
                *self.errors.entry(e.class).or_default() += 1;
            }
        }
    }
}

/// Connection and server state sampled at the end of a second.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Connections held by a task for an operation.
    pub in_use: u64,
    /// Open connections not held by any task.
    pub idle: u64,
    /// Tasks waiting to get a connection.
    pub waiting: u64,
    /// Connections opened during this second.
    pub connections_created: u64,
    /// Connections closed during this second.
    pub connections_closed: u64,
    /// This run's backends on the server, by state (absent when the sampler could not ask).
    pub server: Option<ServerBackends>,
}

/// This run's backends in `pg_stat_activity`, by state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerBackends {
    pub total: u64,
    pub active: u64,
    pub idle: u64,
    pub idle_in_transaction: u64,
    pub longest_idle_in_transaction_ms: u64,
}

/// All workers' counts for one second, with the sampled state.
#[derive(Debug)]
pub struct Bucket {
    pub ok: u64,
    pub failed: u64,
    pub dropped: u64,
    pub errors: BTreeMap<ErrorClass, u64>,
    pub hist: Histogram<u64>,
    pub sample: Option<Sample>,
}

impl Bucket {
    fn new() -> Bucket {
        Bucket {
            ok: 0,
            failed: 0,
            dropped: 0,
            errors: BTreeMap::new(),
            hist: histogram::new_interval(),
            sample: None,
        }
    }
}

/// The shared timeline of one variant.
#[derive(Debug, Default)]
pub struct Timeline {
    seconds: Mutex<BTreeMap<u64, Bucket>>,
}

impl Timeline {
    /// Merges a worker's finished second (taken about once per second per worker).
    pub fn add(&self, interval: Interval) {
        let mut seconds = self.seconds.lock().expect("timeline lock");
        let b = seconds.entry(interval.second).or_insert_with(Bucket::new);
        b.ok += interval.ok;
        b.failed += interval.failed;
        b.dropped += interval.dropped;
        for (class, n) in interval.errors {
            *b.errors.entry(class).or_default() += n;
        }
        histogram::merge(&mut b.hist, &interval.hist);
    }

    /// Stores the state sampled at the end of `second`.
    pub fn sample(&self, second: u64, sample: Sample) {
        let mut seconds = self.seconds.lock().expect("timeline lock");
        seconds.entry(second).or_insert_with(Bucket::new).sample = Some(sample);
    }

    /// What the workers have flushed so far (whole seconds, about a second behind): ok, failed,
    /// and failed by class. For checks watched during the run (`abort_on_fail`).
    pub fn counts(&self) -> (u64, u64, BTreeMap<ErrorClass, u64>) {
        let seconds = self.seconds.lock().expect("timeline lock");
        let mut classes = BTreeMap::new();
        let (mut ok, mut failed) = (0, 0);
        for b in seconds.values() {
            ok += b.ok;
            failed += b.failed;
            for (class, n) in &b.errors {
                *classes.entry(*class).or_default() += n;
            }
        }
        (ok, failed, classes)
    }

    /// The buckets of seconds `0..seconds` (empty ones included), consuming the timeline.
    pub fn into_buckets(self, seconds: u64) -> Vec<(u64, Bucket)> {
        let mut map = self.seconds.into_inner().expect("timeline lock");
        let last = map.keys().next_back().map_or(0, |s| s + 1).max(seconds);
        (0..last)
            .map(|s| (s, map.remove(&s).unwrap_or_else(Bucket::new)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_merge_into_their_second_and_gaps_are_filled() {
        let t = Timeline::default();
        let mut a = Interval::new(0);
        a.add(Duration::from_millis(2), None);
        let mut b = Interval::new(0);
        b.add(
            Duration::from_millis(4),
            Some(&OpError::new(ErrorClass::PoolTimeout, "x")),
        );
        let mut c = Interval::new(2);
        c.add(Duration::from_millis(1), None);
        t.add(a);
        t.add(b);
        t.add(c);
        let buckets = t.into_buckets(1);
        assert_eq!(buckets.len(), 3);
        assert_eq!((buckets[0].1.ok, buckets[0].1.failed), (1, 1));
        assert_eq!(buckets[0].1.errors[&ErrorClass::PoolTimeout], 1);
        assert_eq!(buckets[1].1.ok + buckets[1].1.failed, 0);
        assert_eq!(buckets[2].1.ok, 1);
    }
}
