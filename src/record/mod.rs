//! Recording a run without keeping samples: per-worker histograms merged at the end, error
//! tallies by class, and the per-second timeline.
//!
//! Each worker thread has one [`Recorder`], shared by the tasks of that thread (they run on one
//! current-thread runtime, so no lock is taken on the hot path). The current second's counts and
//! interval histogram are flushed into the shared [`Timeline`] when an operation completes in a
//! later second and when the worker ends, so memory stays flat however long the run.

pub(crate) mod bursts;
pub mod errors;
pub(crate) mod extras;
pub mod histogram;
pub(crate) mod pooler;
pub(crate) mod spells;
pub(crate) mod timeline;
pub(crate) mod writes;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use std::collections::BTreeMap;

use errors::{ErrorClass, ErrorTally, OpError};
pub(crate) use extras::{Extras, OpExtras};
use spells::{FaultEffect, Spell, TaskTrack};
pub(crate) use timeline::{Counts, Interval, Timeline};
use writes::{WriteBook, WriteOutcome};

/// Live counters for the progress line, one set per worker (no shared cache line).
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) ok: AtomicU64,
    pub(crate) failed: AtomicU64,
}

/// Latency histograms of a variant (microseconds).
#[derive(Clone, Debug)]
pub(crate) struct Latencies {
    /// Successful operations.
    pub(crate) operation: Histogram<u64>,
    /// Failed operations.
    pub(crate) failed: Histogram<u64>,
    /// Every acquire attempt, successful or not.
    pub(crate) acquire: Histogram<u64>,
    /// From acquire to release, for operations that got a connection.
    pub(crate) hold: Histogram<u64>,
    /// Successful operations by workload.
    pub(crate) by_workload: Vec<Histogram<u64>>,
    /// Failed operations by workload (counts).
    pub(crate) failed_by_workload: Vec<u64>,
}

impl Latencies {
    pub(crate) fn new(workloads: usize) -> Latencies {
        Latencies {
            operation: histogram::new(),
            failed: histogram::new(),
            acquire: histogram::new(),
            hold: histogram::new(),
            by_workload: (0..workloads).map(|_| histogram::new()).collect(),
            failed_by_workload: vec![0; workloads],
        }
    }

    pub(crate) fn merge(&mut self, o: &Latencies) {
        histogram::merge(&mut self.operation, &o.operation);
        histogram::merge(&mut self.failed, &o.failed);
        histogram::merge(&mut self.acquire, &o.acquire);
        histogram::merge(&mut self.hold, &o.hold);
        for (a, b) in self.by_workload.iter_mut().zip(&o.by_workload) {
            histogram::merge(a, b);
        }
        for (a, b) in self
            .failed_by_workload
            .iter_mut()
            .zip(&o.failed_by_workload)
        {
            *a += b;
        }
    }
}

/// What a variant recorded in its measured phase, merged over workers.
#[derive(Clone, Debug)]
pub(crate) struct Totals {
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    /// Open model: arrivals that found every task busy.
    pub(crate) dropped: u64,
    pub(crate) latency: Latencies,
    pub(crate) errors: ErrorTally,
    /// Failed operations by class in the second after each scheduled fault.
    pub(crate) after_faults: Vec<BTreeMap<ErrorClass, u64>>,
    pub(crate) extras: Extras,
    /// Every verified write's outcome, warmup included (the ledger holds those too).
    pub(crate) writes: WriteBook,
    /// The tasks' failing spells (see `spells.rs`), up to [`spells::MAX_SPELLS`] per worker.
    pub(crate) spells: Vec<Spell>,
    /// Spells counted but not kept over that bound.
    pub(crate) spells_dropped: u64,
    /// What each scheduled fault's window held (see `spells.rs`).
    pub(crate) fault_effects: Vec<FaultEffect>,
}

impl Totals {
    pub(crate) fn new(workloads: usize, faults: usize) -> Totals {
        Totals {
            ok: 0,
            failed: 0,
            dropped: 0,
            latency: Latencies::new(workloads),
            errors: ErrorTally::default(),
            after_faults: vec![BTreeMap::new(); faults],
            extras: Extras::new(workloads),
            writes: WriteBook::default(),
            spells: Vec::new(),
            spells_dropped: 0,
            fault_effects: vec![FaultEffect::default(); faults],
        }
    }

    pub(crate) fn merge(&mut self, o: &Totals) {
        self.ok += o.ok;
        self.failed += o.failed;
        self.dropped += o.dropped;
        self.latency.merge(&o.latency);
        self.errors.merge(&o.errors);
        for (a, b) in self.after_faults.iter_mut().zip(&o.after_faults) {
            for (class, n) in b {
                *a.entry(*class).or_default() += n;
            }
        }
        self.extras.merge(&o.extras);
        self.writes.merge(&o.writes);
        self.spells.extend(o.spells.iter().cloned());
        self.spells_dropped += o.spells_dropped;
        for (a, b) in self.fault_effects.iter_mut().zip(&o.fault_effects) {
            a.merge(b);
        }
    }
}

/// One finished operation, as the load loop saw it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outcome<'a> {
    pub(crate) workload: usize,
    /// When the operation was due to start: its latency counts from here (in the open model,
    /// the arrival's intended time, so a harness that fell behind does not hide it).
    pub(crate) started: Instant,
    /// When the acquire began.
    pub(crate) acquire_started: Instant,
    /// When the acquire ended (with or without a connection).
    pub(crate) acquire_ended: Instant,
    /// Whether a connection was obtained.
    pub(crate) acquired: bool,
    pub(crate) ended: Instant,
    pub(crate) error: Option<&'a OpError>,
    pub(crate) extras: OpExtras,
}

/// A worker thread's recorder.
pub(crate) struct Recorder {
    measure_start: Instant,
    totals: Totals,
    interval: Option<Interval>,
    timeline: Arc<Timeline>,
    progress: Arc<Progress>,
    /// Scheduled fault times (into the measured phase), sorted.
    faults: Arc<[Duration]>,
    leak_threshold: Option<Duration>,
}

impl Recorder {
    pub(crate) fn new(
        workloads: usize,
        measure_start: Instant,
        timeline: Arc<Timeline>,
        progress: Arc<Progress>,
        faults: Arc<[Duration]>,
        leak_threshold: Option<Duration>,
    ) -> Recorder {
        Recorder {
            measure_start,
            totals: Totals::new(workloads, faults.len()),
            interval: None,
            timeline,
            progress,
            faults,
            leak_threshold,
        }
    }

    /// Notes how a verified write ended (also during warmup: the ledger holds those too).
    pub(crate) fn write(&mut self, id: i64, outcome: WriteOutcome) {
        self.totals.writes.note(id, outcome);
    }

    /// Counts an arrival that found every task busy (open model), in the second it was due.
    pub(crate) fn dropped(&mut self, due: Instant) {
        if let Some(since) = due.checked_duration_since(self.measure_start) {
            self.totals.dropped += 1;
            let second = since.as_secs();
            self.interval_for(second).dropped += 1;
        }
    }

    fn count_after_faults(&mut self, since_start: Duration, class: ErrorClass) {
        let window = Duration::from_secs(1);
        let later = self.faults.partition_point(|at| *at <= since_start);
        for i in (0..later).rev() {
            if since_start - self.faults[i] >= window {
                break;
            }
            *self.totals.after_faults[i].entry(class).or_default() += 1;
        }
    }

    /// Records a finished operation; operations of the warmup (begun before the measured
    /// phase, even when they end in it) only count for the progress line.
    pub(crate) fn record(&mut self, o: Outcome<'_>) {
        let counter = if o.error.is_some() {
            &self.progress.failed
        } else {
            &self.progress.ok
        };
        counter.fetch_add(1, Ordering::Relaxed);
        // By its start, as `load.iterations` counts the measured phase's operations: one that
        // straddled the end of the warmup was counted as measured too (1005 of 5 × 200).
        if !self.measured(&o) {
            return;
        }
        let since_start = o.ended.saturating_duration_since(self.measure_start);
        let latency = o.ended.saturating_duration_since(o.started);
        let hold = o
            .acquired
            .then(|| o.ended.saturating_duration_since(o.acquire_ended));
        self.totals
            .extras
            .add(o.workload, o.extras, hold, self.leak_threshold, o.error);
        let l = &mut self.totals.latency;
        histogram::record(
            &mut l.acquire,
            o.acquire_ended.saturating_duration_since(o.acquire_started),
        );
        if let Some(hold) = hold {
            histogram::record(&mut l.hold, hold);
        }
        let at_ms = u64::try_from(since_start.as_millis()).unwrap_or(u64::MAX);
        match o.error {
            None => {
                self.totals.ok += 1;
                histogram::record(&mut l.operation, latency);
                histogram::record(&mut l.by_workload[o.workload], latency);
            }
            Some(e) => {
                self.totals.failed += 1;
                histogram::record(&mut l.failed, latency);
                l.failed_by_workload[o.workload] += 1;
                self.totals.errors.add(e, at_ms);
                if !self.faults.is_empty() {
                    self.count_after_faults(since_start, e.class);
                }
            }
        }
        self.interval_for(at_ms / 1000)
            .add(latency, o.error, o.workload);
    }

    /// Whether an operation belongs to the measured phase: begun in it.
    fn measured(&self, o: &Outcome<'_>) -> bool {
        o.started >= self.measure_start
    }

    /// Records a finished operation and tracks its task's failing spell and fault windows.
    pub(crate) fn record_tracked(&mut self, track: &mut TaskTrack, o: Outcome<'_>) {
        self.record(o);
        if !self.measured(&o) {
            return;
        }
        let tracked = track.observe(&o, self.measure_start, &mut self.totals.fault_effects);
        if let Some(spell) = tracked.closed {
            self.keep_spell(spell);
        }
    }

    /// Keeps the spell a task ended the run in.
    pub(crate) fn finish_track(&mut self, track: &mut TaskTrack) {
        if let Some(spell) = track.finish() {
            self.keep_spell(spell);
        }
    }

    fn keep_spell(&mut self, spell: Spell) {
        if self.totals.spells.len() < spells::MAX_SPELLS {
            self.totals.spells.push(spell);
        } else {
            self.totals.spells_dropped += 1;
        }
    }

    fn interval_for(&mut self, second: u64) -> &mut Interval {
        if self.interval.as_ref().is_some_and(|i| i.second != second)
            && let Some(done) = self.interval.take()
        {
            self.timeline.add(done);
        }
        self.interval.get_or_insert_with(|| Interval::new(second))
    }

    /// Flushes the current second and returns what this worker recorded.
    pub(crate) fn finish(mut self) -> Totals {
        if let Some(done) = self.interval.take() {
            self.timeline.add(done);
        }
        self.totals
    }
}
