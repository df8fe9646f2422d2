//! The per-second timeline of the measured phase.
//!
//! An operation counts in the second in which it completed, so the timeline's sums equal the
//! totals. Each second is kept as the report shows it, a [`TimelineEntry`]: its counts, its
//! interval histogram (so merging reports stays exact), and the connection and server state
//! sampled at its end.
//!
//! Memory stays bounded per second however long the run: a second's histogram is kept whole
//! only while workers may still flush into it. Once a later second has been reported
//! ([`GRACE_S`] seconds on), the second is closed: its histogram is encoded at once into the
//! base64 "V2 + deflate" blob the report carries (typically a few hundred bytes instead of the
//! histogram's 25 kB of counts), with the two quantiles the report shows. A worker that flushes
//! into a closed second late (after a long operation) is merged exactly: the blob is decoded,
//! added to and encoded again. The report's numbers are the same as with whole histograms: the
//! blob holds every count, and the quantiles depend on the counts only.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use hdrhistogram::Histogram;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::errors::{ErrorClass, OpError};
use super::histogram;

/// One worker's counts for one second.
#[derive(Debug)]
pub(crate) struct Interval {
    pub(crate) second: u64,
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) dropped: u64,
    pub(crate) errors: BTreeMap<ErrorClass, u64>,
    /// Failed operations by workload (its index in the plan), for `abort_on_fail`.
    pub(crate) failed_by_workload: BTreeMap<usize, u64>,
    /// Latency of the successful operations of this second.
    pub(crate) hist: Histogram<u64>,
}

impl Interval {
    pub(crate) fn new(second: u64) -> Interval {
        Interval {
            second,
            ok: 0,
            failed: 0,
            dropped: 0,
            errors: BTreeMap::new(),
            failed_by_workload: BTreeMap::new(),
            hist: histogram::new_interval(),
        }
    }

    pub(crate) fn add(&mut self, latency: Duration, error: Option<&OpError>, workload: usize) {
        match error {
            None => {
                self.ok += 1;
                histogram::record(&mut self.hist, latency);
            }
            Some(e) => {
                self.failed += 1;
                *self.errors.entry(e.class).or_default() += 1;
                *self.failed_by_workload.entry(workload).or_default() += 1;
            }
        }
    }
}

/// One second of the measured phase: what the workers counted in it (`ok` to `hdr`), and the
/// connection and server state read at its end (`in_use` to `pooler`).
// The report's `timeline` carries it as the timeline keeps it while the run goes; the sampler
// writes `in_use` to `pooler` through `Timeline::sample`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimelineEntry {
    /// End of this second, in milliseconds into the measured phase.
    pub t_ms: u64,
    /// Operations that succeeded during this second.
    pub ok: u64,
    /// Operations that failed during this second.
    pub failed: u64,
    pub(crate) dropped: u64,
    pub(crate) errors: BTreeMap<ErrorClass, u64>,
    // The successful operations' p50 and p99 (ms), from `hdr`.
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    /// Interval histogram of this second's successful operations (microseconds).
    pub hdr: String,
    // Connections held by a task for an operation.
    pub(crate) in_use: u64,
    // Open connections not held by any task.
    pub(crate) idle: u64,
    // Tasks waiting to get a connection.
    pub(crate) waiting: u64,
    /// Connections opened during this second.
    pub connections_created: u64,
    // Connections closed during this second.
    pub(crate) connections_closed: u64,
    /// Absent when the sampler could not ask the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) server_backends: Option<ServerBackends>,
    /// `[database.pgbouncer]`: its pools at the end of this second (absent without a pooler,
    /// or when its admin console did not answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooler: Option<super::pooler::PoolerSecond>,
}

impl TimelineEntry {
    /// Second `second` (from 0) with nothing in it yet.
    fn empty(second: u64) -> TimelineEntry {
        let mut e = TimelineEntry {
            t_ms: (second + 1) * 1000,
            ..TimelineEntry::default()
        };
        Encoded::empty().set(&mut e);
        e
    }
}

/// This run's backends in `pg_stat_activity`, by state, at the end of a timeline second.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerBackends {
    pub(crate) total: u64,
    pub(crate) active: u64,
    pub(crate) idle: u64,
    pub(crate) idle_in_transaction: u64,
    /// The longest current `idle in transaction` state, in milliseconds.
    #[serde(default)]
    pub(crate) longest_idle_in_transaction_ms: u64,
}

impl ServerBackends {
    /// Adds another machine's backends of the same second: counts summed, the longest wait.
    pub(crate) fn merge(&mut self, o: &ServerBackends) {
        self.total += o.total;
        self.active += o.active;
        self.idle += o.idle;
        self.idle_in_transaction += o.idle_in_transaction;
        self.longest_idle_in_transaction_ms =
            (self.longest_idle_in_transaction_ms).max(o.longest_idle_in_transaction_ms);
    }
}

/// Second `s` is closed once second `s + GRACE_S` has been reported (by a worker's flush or the
/// sampler's sample, which comes at the end of each second). A worker flushes a second when
/// its next operation completes in a later one, so this leaves room for ordinary operations
/// while keeping at most `GRACE_S` histograms whole.
pub(crate) const GRACE_S: u64 = 2;

/// A closed second's latency: its histogram encoded as the report stores it, and the two
/// quantiles the report shows (microseconds, 0 when the second had no successful operation).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Encoded {
    /// Base64 of the HdrHistogram V2 + deflate serialization.
    hdr: String,
    p50_us: u64,
    p99_us: u64,
}

impl Encoded {
    fn of(h: &Histogram<u64>) -> Encoded {
        if h.is_empty() {
            return Encoded::empty();
        }
        let mut hdr = histogram::encode(h);
        hdr.shrink_to_fit();
        Encoded {
            hdr,
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
        }
    }

    /// An empty second's latency (its blob encoded once per process).
    fn empty() -> Encoded {
        static EMPTY: OnceLock<String> = OnceLock::new();
        Encoded {
            hdr: EMPTY
                .get_or_init(|| histogram::encode(&histogram::new_interval()))
                .clone(),
            p50_us: 0,
            p99_us: 0,
        }
    }

    /// Puts it in a second's entry, the quantiles in milliseconds.
    fn set(self, e: &mut TimelineEntry) {
        e.hdr = self.hdr;
        e.p50 = histogram::ms(self.p50_us);
        e.p99 = histogram::ms(self.p99_us);
    }

    /// Adds a late flush to a closed second: decodes, merges and encodes again, so no count is
    /// lost.
    fn add(e: &mut TimelineEntry, late: &Histogram<u64>) {
        let mut h = histogram::decode(&e.hdr)
            .expect("the timeline decodes the histograms it encoded itself");
        histogram::merge(&mut h, late);
        Encoded::of(&h).set(e);
    }
}

/// What the workers have flushed so far, over all seconds.
/// What the workers have flushed so far, for checks watched during the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) classes: BTreeMap<ErrorClass, u64>,
    /// By workload index in the plan.
    pub(crate) failed_by_workload: BTreeMap<usize, u64>,
}

#[derive(Debug, Default)]
struct Seconds {
    /// Each second's entry; the latency (`hdr`, `p50`, `p99`) is there once it is closed.
    entries: BTreeMap<u64, TimelineEntry>,
    /// Whole histograms of the seconds not closed yet (those that have latencies).
    open: BTreeMap<u64, Histogram<u64>>,
    /// Seconds below this one are closed: their latency is in their entry, encoded.
    closed_below: u64,
    counts: Counts,
}

impl Seconds {
    fn entry(&mut self, second: u64) -> &mut TimelineEntry {
        (self.entries)
            .entry(second)
            .or_insert_with(|| TimelineEntry::empty(second))
    }

    /// Closes the seconds `GRACE_S` or more before `second` (the latest reported).
    fn advance(&mut self, second: u64) {
        self.close_below((second + 1).saturating_sub(GRACE_S));
    }

    fn close_below(&mut self, limit: u64) {
        if limit <= self.closed_below {
            return;
        }
        self.closed_below = limit;
        let still_open = self.open.split_off(&limit);
        for (second, h) in std::mem::replace(&mut self.open, still_open) {
            Encoded::of(&h).set(self.entry(second));
        }
    }

    /// Adds a worker's histogram of `second`: the first one of an open second is kept as it is
    /// (no allocation), later ones are merged into it.
    fn add_latency(&mut self, second: u64, h: Histogram<u64>) {
        if h.is_empty() {
            return;
        }
        if second < self.closed_below {
            Encoded::add(self.entry(second), &h);
            return;
        }
        match self.open.entry(second) {
            Entry::Vacant(e) => {
                e.insert(h);
            }
            Entry::Occupied(mut e) => histogram::merge(e.get_mut(), &h),
        }
    }
}

/// The shared timeline of one variant.
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    seconds: Mutex<Seconds>,
}

impl Timeline {
    /// Merges a worker's finished second (taken about once per second per worker).
    pub(crate) fn add(&self, interval: Interval) {
        let mut seconds = self.seconds.lock().expect("timeline lock");
        let s = &mut *seconds;
        s.counts.ok += interval.ok;
        s.counts.failed += interval.failed;
        for (class, n) in &interval.errors {
            *s.counts.classes.entry(*class).or_default() += n;
        }
        for (workload, n) in &interval.failed_by_workload {
            *s.counts.failed_by_workload.entry(*workload).or_default() += n;
        }
        let b = s.entry(interval.second);
        b.ok += interval.ok;
        b.failed += interval.failed;
        b.dropped += interval.dropped;
        for (class, n) in interval.errors {
            *b.errors.entry(class).or_default() += n;
        }
        s.add_latency(interval.second, interval.hist);
        s.advance(interval.second);
    }

    /// Stores the state sampled at the end of `second`: `sample` writes the sampled fields of
    /// its entry (`in_use` to `pooler`).
    pub(crate) fn sample(&self, second: u64, sample: impl FnOnce(&mut TimelineEntry)) {
        let mut seconds = self.seconds.lock().expect("timeline lock");
        sample(seconds.entry(second));
        seconds.advance(second);
    }

    /// What the workers have flushed so far (whole seconds, about a second behind): ok, failed,
    /// failed by class and by workload. For checks watched during the run (`abort_on_fail`).
    pub(crate) fn counts(&self) -> Counts {
        self.seconds.lock().expect("timeline lock").counts.clone()
    }

    /// The 99th percentile (µs) of `second`'s successful operations flushed so far, if it has
    /// any: for the live progress line.
    pub(crate) fn p99_us(&self, second: u64) -> Option<u64> {
        let seconds = self.seconds.lock().expect("timeline lock");
        match seconds.open.get(&second) {
            Some(h) => Some(h.value_at_quantile(0.99)),
            // A closed second's p99 in µs again (`ms` divides by 1000: exact back).
            None => (seconds.entries.get(&second)).map(|e| (e.p99 * 1000.0).round() as u64),
        }
        .filter(|&p| p > 0)
    }

    /// Heap and inline bytes the timeline holds (an estimate from its capacities).
    #[cfg(test)]
    fn retained_bytes(&self) -> usize {
        let seconds = self.seconds.lock().expect("timeline lock");
        let per_error = std::mem::size_of::<(ErrorClass, u64)>();
        let entries: usize = seconds
            .entries
            .values()
            .map(|e| {
                std::mem::size_of::<(u64, TimelineEntry)>()
                    + e.hdr.capacity()
                    + e.errors.len() * per_error
            })
            .sum();
        let open: usize = seconds
            .open
            .values()
            .map(|h| std::mem::size_of_val(h) + h.distinct_values() * std::mem::size_of::<u64>())
            .sum();
        entries + open
    }

    /// Takes what was recorded out of a timeline that may still be shared (a helper task
    /// that has not been dropped yet), leaving it empty.
    pub(crate) fn take(&self) -> Timeline {
        let mut seconds = self.seconds.lock().unwrap_or_else(|p| p.into_inner());
        Timeline {
            seconds: Mutex::new(std::mem::take(&mut *seconds)),
        }
    }

    /// The entries of seconds `0..seconds` (and of any later one recorded; empty ones
    /// included), every one closed, consuming the timeline: the report's `timeline`.
    pub(crate) fn into_entries(self, seconds: u64) -> Vec<TimelineEntry> {
        let mut s = self.seconds.into_inner().expect("timeline lock");
        for (second, h) in std::mem::take(&mut s.open) {
            Encoded::of(&h).set(s.entry(second));
        }
        let mut map = s.entries;
        let last = map.keys().next_back().map_or(0, |s| s + 1).max(seconds);
        (0..last)
            .map(|s| map.remove(&s).unwrap_or_else(|| TimelineEntry::empty(s)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: the report's timeline was `Arc::try_unwrap`ped and panicked when an aborted
    /// helper task still held a reference; taking it from a shared one keeps every count.
    #[test]
    fn a_timeline_still_shared_is_taken_whole() {
        let shared = std::sync::Arc::new(Timeline::default());
        let holder = shared.clone();
        let mut a = Interval::new(0);
        a.add(Duration::from_millis(2), None, 0);
        shared.add(a);
        let taken = std::sync::Arc::try_unwrap(shared).unwrap_or_else(|s| s.take());
        let entries = taken.into_entries(1);
        assert_eq!(entries[0].ok, 1);
        drop(holder);
    }

    #[test]
    fn workers_merge_into_their_second_and_gaps_are_filled() {
        let t = Timeline::default();
        let mut a = Interval::new(0);
        a.add(Duration::from_millis(2), None, 0);
        let mut b = Interval::new(0);
        b.add(
            Duration::from_millis(4),
            Some(&OpError::new(ErrorClass::PoolTimeout, "x")),
            0,
        );
        let mut c = Interval::new(2);
        c.add(Duration::from_millis(1), None, 0);
        t.add(a);
        t.add(b);
        t.add(c);
        let entries = t.into_entries(1);
        assert_eq!(entries.len(), 3);
        assert_eq!((entries[0].ok, entries[0].failed), (1, 1));
        assert_eq!(entries[0].errors[&ErrorClass::PoolTimeout], 1);
        assert_eq!(entries[1].ok + entries[1].failed, 0);
        assert_eq!(
            entries[1].hdr,
            histogram::encode(&histogram::new_interval())
        );
        assert_eq!(entries[2].ok, 1);
        let t_ms: Vec<u64> = entries.iter().map(|e| e.t_ms).collect();
        assert_eq!(t_ms, [1000, 2000, 3000]);
    }

    /// A second's worth of latencies from one worker: spread over 50 µs .. 200 ms, as a busy
    /// run's are, so that the encoded blob is not trivially small.
    fn interval(second: u64, rng: &mut fastrand::Rng, n: usize) -> Interval {
        let mut i = Interval::new(second);
        for _ in 0..n {
            let us = 50 + rng.u64(0..1_000) * rng.u64(0..200);
            i.add(Duration::from_micros(us), None, 0);
        }
        i
    }

    /// Two workers' seconds `from..to`, each followed by the sampler's sample.
    fn run(t: &Timeline, rng: &mut fastrand::Rng, from: u64, to: u64) {
        for s in from..to {
            t.add(interval(s, rng, 300));
            t.add(interval(s, rng, 300));
            t.sample(s, |e| e.in_use = 1);
        }
    }

    #[test]
    fn a_closed_second_keeps_only_its_encoded_histogram() {
        // Issue 9 (12): each second kept a whole histogram (25 kB of counts) for the whole run,
        // so memory grew by ~27 kB a second.
        let t = Timeline::default();
        let mut rng = fastrand::Rng::with_seed(12);
        run(&t, &mut rng, 0, 60);
        let first = t.retained_bytes();
        run(&t, &mut rng, 60, 180);
        let per_second = (t.retained_bytes() - first) / 120;
        let bound = 2_048;
        let whole = histogram::new_interval().distinct_values() * std::mem::size_of::<u64>();
        assert!(whole > 10 * bound, "a whole histogram holds {whole} bytes");
        assert!(per_second < bound, "{per_second} bytes per closed second");
        let open = t.seconds.lock().unwrap().open.len();
        assert!(open <= GRACE_S as usize, "{open} seconds still whole");
    }

    #[test]
    fn closed_seconds_report_what_whole_histograms_would() {
        let t = Timeline::default();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut whole: Vec<Histogram<u64>> = (0..12).map(|_| histogram::new_interval()).collect();
        let mut late = None;
        for s in 0..12 {
            for w in 0..3 {
                let i = interval(s, &mut rng, 200);
                histogram::merge(&mut whole[s as usize], &i.hist);
                if s == 3 && w == 0 {
                    late = Some(i); // a worker stuck in a long operation flushes second 3 late
                } else {
                    t.add(i);
                }
            }
            t.sample(s, |e| e.in_use = s);
        }
        assert!(
            t.seconds.lock().unwrap().closed_below > 3,
            "second 3 is closed"
        );
        t.add(late.unwrap());
        let total: u64 = whole.iter().map(Histogram::len).sum();
        assert_eq!(t.counts().ok, total);
        let entries = t.into_entries(12);
        assert_eq!(entries.len(), 12);
        for ((s, e), h) in entries.iter().enumerate().zip(&whole) {
            assert_eq!(e.ok, h.len(), "second {s}");
            assert_eq!(e.hdr, histogram::encode(h), "second {s}");
            assert_eq!(e.p50, histogram::ms(h.value_at_quantile(0.5)), "second {s}");
            assert_eq!(
                e.p99,
                histogram::ms(h.value_at_quantile(0.99)),
                "second {s}"
            );
            assert_eq!(e.in_use, s as u64, "the sample of second {s}");
        }
    }
}
