//! Failures in time, per task: failing spells and the windows of faults.
//!
//! A task's *failing spell* is a maximal run of its failed operations with no success between
//! them: from the moment the first failed (its end, when the application learns of it) to the
//! moment the last failed, so the pauses between the failures count as failing time, and an
//! operation cut after running for a while does not date the spell back to its start. The
//! success that ends it is its recovery. Spells are
//! what the outage windows are made of (see `bursts.rs`).
//!
//! A fault's *window*, for one task, runs from the moment the fault was due to the end of the
//! task's first successful operation that began after the fault had settled (a restart's
//! `down_for`, a closed pool's `reopen_after`, at once for the other kinds). Operations of the
//! task that ended inside it are the fault's: their acquire waits (from the fault on) and
//! their failures. A later fault opens its own window; an operation counts for the latest
//! fault whose window it ended in.
//!
//! Times are microseconds into the measured phase; operations that ended before it (warmup)
//! are not tracked.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Outcome;
use super::errors::ErrorClass;

/// More closed spells than this per worker are counted but not kept (a run that fails at
/// random all the time; about 10 MB at most per worker); the report says so.
pub(crate) const MAX_SPELLS: usize = 50_000;

/// One failing spell of one task.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Spell {
    pub(crate) task: u32,
    /// When the first failed operation ended.
    pub(crate) start_us: u64,
    /// End of the first failed operation: a fault that caused it fired before this.
    pub(crate) first_end_us: u64,
    /// End of the last failed operation.
    pub(crate) end_us: u64,
    pub(crate) failures: u64,
    pub(crate) classes: BTreeMap<ErrorClass, u64>,
    /// End of the success that ended it; `None` when the task was still failing at the end.
    pub(crate) recovered_us: Option<u64>,
}

/// One scheduled fault, as the tasks see it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct FaultSpec {
    /// When it was due, into the measured phase.
    pub(crate) at: Duration,
    /// How long after `at` its action ends (restart: `down_for`; close_pool: `reopen_after`;
    /// `None`: never, a pool closed for good).
    pub(crate) settles_after: Option<Duration>,
}

/// What the operations inside one fault's windows met, over all tasks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultEffect {
    /// Tasks that ended an operation inside the window.
    pub(crate) tasks: u64,
    /// Of those, tasks that recovered (a success that began after the fault settled).
    pub(crate) recovered: u64,
    /// Of those, tasks still inside it when the next fault came (their window ends there).
    pub(crate) overtaken: u64,
    /// The last recovery, microseconds into the measured phase.
    pub(crate) last_recovery_us: Option<u64>,
    /// The first recovery.
    pub(crate) first_recovery_us: Option<u64>,
    /// Acquire time spent waiting from the fault on, summed over operations.
    pub(crate) waited_us: u64,
    pub(crate) longest_wait_us: u64,
    pub(crate) failed: u64,
    pub(crate) classes: BTreeMap<ErrorClass, u64>,
}

impl FaultEffect {
    pub(crate) fn merge(&mut self, o: &FaultEffect) {
        self.tasks += o.tasks;
        self.recovered += o.recovered;
        self.overtaken += o.overtaken;
        self.last_recovery_us = self.last_recovery_us.max(o.last_recovery_us);
        self.first_recovery_us = match (self.first_recovery_us, o.first_recovery_us) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.waited_us += o.waited_us;
        self.longest_wait_us = self.longest_wait_us.max(o.longest_wait_us);
        self.failed += o.failed;
        for (class, n) in &o.classes {
            *self.classes.entry(*class).or_default() += n;
        }
    }
}

/// One task's open spell and where it stands with the faults.
#[derive(Debug)]
pub(crate) struct TaskTrack {
    task: u32,
    spell: Option<Spell>,
    faults: Arc<[FaultSpec]>,
    /// The fault whose window this task is in, if any.
    window: Option<usize>,
    /// Faults before this index have opened their window for this task already.
    next_fault: usize,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// What tracking one operation produced for the recorder.
#[derive(Debug, Default)]
pub(crate) struct Tracked {
    /// A spell this operation ended.
    pub(crate) closed: Option<Spell>,
}

impl TaskTrack {
    pub(crate) fn new(task: usize, faults: Arc<[FaultSpec]>) -> TaskTrack {
        TaskTrack {
            task: u32::try_from(task).unwrap_or(u32::MAX),
            spell: None,
            faults,
            window: None,
            next_fault: 0,
        }
    }

    /// Tracks an operation that ended in the measured phase; `effects` has one entry per
    /// scheduled fault.
    pub(crate) fn observe(
        &mut self,
        o: &Outcome<'_>,
        measure_start: Instant,
        effects: &mut [FaultEffect],
    ) -> Tracked {
        let at = |t: Instant| micros(t.saturating_duration_since(measure_start));
        let (start, end) = (at(o.acquire_started), at(o.ended));
        self.fault_window(o, start, at(o.acquire_ended), end, effects);
        let class = o.error.map(|e| e.class);
        match (class, &mut self.spell) {
            (Some(class), Some(spell)) => {
                spell.end_us = end;
                spell.failures += 1;
                *spell.classes.entry(class).or_default() += 1;
                Tracked::default()
            }
            (Some(class), None) => {
                self.spell = Some(Spell {
                    task: self.task,
                    start_us: end,
                    first_end_us: end,
                    end_us: end,
                    failures: 1,
                    classes: BTreeMap::from([(class, 1)]),
                    recovered_us: None,
                });
                Tracked::default()
            }
            (None, _) => Tracked {
                closed: self.spell.take().map(|s| Spell {
                    recovered_us: Some(end),
                    ..s
                }),
            },
        }
    }

    /// The spell still open when the task ends (never recovered).
    pub(crate) fn finish(&mut self) -> Option<Spell> {
        self.spell.take()
    }

    fn fault_window(
        &mut self,
        o: &Outcome<'_>,
        start: u64,
        acquired: u64,
        end: u64,
        effects: &mut [FaultEffect],
    ) {
        while self.next_fault < self.faults.len() && micros(self.faults[self.next_fault].at) <= end
        {
            if let Some(earlier) = self.window {
                effects[earlier].overtaken += 1;
            }
            self.window = Some(self.next_fault);
            effects[self.next_fault].tasks += 1;
            self.next_fault += 1;
        }
        let Some(i) = self.window else { return };
        let fault = self.faults[i];
        let e = &mut effects[i];
        let wait = acquired.saturating_sub(start.max(micros(fault.at)));
        e.waited_us += wait;
        e.longest_wait_us = e.longest_wait_us.max(wait);
        if let Some(err) = o.error {
            e.failed += 1;
            *e.classes.entry(err.class).or_default() += 1;
            return;
        }
        let settled = fault.settles_after.map(|s| micros(fault.at + s));
        if settled.is_some_and(|s| start >= s) {
            e.recovered += 1;
            e.last_recovery_us = e.last_recovery_us.max(Some(end));
            e.first_recovery_us = Some(e.first_recovery_us.map_or(end, |f| f.min(end)));
            self.window = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::errors::OpError;
    use crate::record::extras::OpExtras;

    fn outcome(base: Instant, from_ms: u64, to_ms: u64, error: Option<&OpError>) -> Outcome<'_> {
        let t = |ms| base + Duration::from_millis(ms);
        Outcome {
            workload: 0,
            started: t(from_ms),
            acquire_started: t(from_ms),
            acquire_ended: t(to_ms),
            acquired: error.is_none(),
            ended: t(to_ms),
            error,
            extras: OpExtras::default(),
        }
    }

    #[test]
    fn a_spell_runs_from_the_first_failure_to_the_last_and_the_success_recovers_it() {
        let base = Instant::now();
        let err = OpError::new(ErrorClass::ConnectRefused, "refused");
        let mut track = TaskTrack::new(3, Arc::from(Vec::new()));
        let mut fx = [];
        assert!(
            track
                .observe(&outcome(base, 0, 5, None), base, &mut fx)
                .closed
                .is_none()
        );
        track.observe(&outcome(base, 10, 11, Some(&err)), base, &mut fx);
        track.observe(&outcome(base, 21, 22, Some(&err)), base, &mut fx);
        let closed = track
            .observe(&outcome(base, 32, 40, None), base, &mut fx)
            .closed;
        let s = closed.expect("the success closes the spell");
        assert_eq!((s.task, s.start_us, s.first_end_us), (3, 11_000, 11_000));
        assert_eq!(
            (s.end_us, s.failures, s.recovered_us),
            (22_000, 2, Some(40_000))
        );
        assert!(track.finish().is_none());
        track.observe(&outcome(base, 50, 51, Some(&err)), base, &mut fx);
        assert_eq!(track.finish().map(|s| s.recovered_us), Some(None));
    }

    #[test]
    fn a_fault_window_ends_with_the_first_success_begun_after_it_settled() {
        let base = Instant::now();
        let err = OpError::new(ErrorClass::ConnectRefused, "refused");
        let spec = FaultSpec {
            at: Duration::from_millis(100),
            settles_after: Some(Duration::from_millis(1000)),
        };
        let mut track = TaskTrack::new(0, Arc::from(vec![spec]));
        let mut fx = [FaultEffect::default()];
        track.observe(&outcome(base, 0, 50, None), base, &mut fx);
        assert_eq!(fx[0], FaultEffect::default(), "before the fault: not its");
        // In flight when it fired: waits from 100 ms on only.
        track.observe(&outcome(base, 90, 150, None), base, &mut fx);
        track.observe(&outcome(base, 150, 160, Some(&err)), base, &mut fx);
        // A success begun before the server is back (1100 ms) does not recover it.
        track.observe(&outcome(base, 1000, 1050, None), base, &mut fx);
        assert_eq!(fx[0].recovered, 0);
        track.observe(&outcome(base, 1100, 1300, None), base, &mut fx);
        track.observe(&outcome(base, 1300, 1400, Some(&err)), base, &mut fx);
        let e = &fx[0];
        assert_eq!((e.tasks, e.recovered, e.failed), (1, 1, 1));
        assert_eq!(e.last_recovery_us, Some(1_300_000));
        assert_eq!(e.waited_us, (50 + 10 + 50 + 200) * 1000);
        assert_eq!(e.longest_wait_us, 200_000);
    }

    #[test]
    fn a_window_still_open_when_the_next_fault_comes_is_overtaken_not_unrecovered() {
        let base = Instant::now();
        let err = OpError::new(ErrorClass::AdminTerminated, "terminated");
        let spec = |ms| FaultSpec {
            at: Duration::from_millis(ms),
            settles_after: Some(Duration::ZERO),
        };
        let mut track = TaskTrack::new(0, Arc::from(vec![spec(100), spec(200)]));
        let mut fx = [FaultEffect::default(), FaultEffect::default()];
        track.observe(&outcome(base, 90, 150, Some(&err)), base, &mut fx);
        track.observe(&outcome(base, 150, 250, Some(&err)), base, &mut fx);
        track.observe(&outcome(base, 250, 260, None), base, &mut fx);
        assert_eq!((fx[0].tasks, fx[0].recovered, fx[0].overtaken), (1, 0, 1));
        assert_eq!(
            (fx[0].failed, fx[1].failed),
            (1, 1),
            "each failure counts once"
        );
        assert_eq!((fx[1].tasks, fx[1].recovered, fx[1].overtaken), (1, 1, 0));
    }
}
