//! One worker loop, `while let Some(due) = pacer.next(&stop).await`, in two halves.
//!
//! - [`Stop`], the one stop signal of a variant's load: its deadline (duration or stages), its
//!   iterations per task, and the halt raised by an interrupt or an abort (`abort_on_fail`,
//!   Ctrl-C: see [`super::workers::Aborter`]).
//! - [`Pacer`], when a task starts its next operation: in the closed model after its pause
//!   (think time, `on_failure`'s back-off) while the ramp of `stages` has it active (it waits
//!   on a timer for the ramp to reach it, not a poll); in the open model at each arrival its
//!   worker's generator hands it (see `arrivals.rs`).

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::arrivals::Arrivals;
use super::shape::Ramp;
use super::stop::Stop;

/// The next operation a pacer hands its task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Due {
    /// Its intended start (an arrival's time in the open model: latency counts from it).
    pub(crate) at: Instant,
    /// When the pacer handed it out (the same as `at` in the closed model: one clock read).
    pub(crate) now: Instant,
    /// Operations this task started before it (in the measured phase, in the closed model).
    pub(crate) iteration: u64,
}

/// When one task starts its operations.
#[derive(Debug)]
pub(crate) struct Pacer {
    kind: Kind,
    /// Operations handed out (since the measured phase began, in the closed model).
    count: u64,
    /// What to wait before the next operation.
    pause: Duration,
}

#[derive(Debug)]
enum Kind {
    Closed {
        /// The number of active tasks over time, from `start`, when stages ramp it.
        ramp: Option<(Ramp, Instant)>,
        /// This task is active while the ramp is above its index.
        index: usize,
        measure_start: Instant,
        measured: bool,
    },
    Open(Rc<Arrivals>),
}

impl Pacer {
    /// Closed model: task `index` of a load that starts at `start` and is measured from
    /// `measure_start`.
    pub(crate) fn closed(
        ramp: Option<Ramp>,
        start: Instant,
        measure_start: Instant,
        index: usize,
    ) -> Pacer {
        Pacer::of(Kind::Closed {
            ramp: ramp.map(|r| (r, start)),
            index,
            measure_start,
            measured: false,
        })
    }

    /// Open model: the task takes its worker's arrivals.
    pub(crate) fn open(arrivals: Rc<Arrivals>) -> Pacer {
        Pacer::of(Kind::Open(arrivals))
    }

    fn of(kind: Kind) -> Pacer {
        Pacer {
            kind,
            count: 0,
            pause: Duration::ZERO,
        }
    }

    /// The last operation ended: `pause` is its think time or back-off, `backoff` whether it
    /// failed and `on_failure` paces it (the open model waits only then: arrivals pace it).
    pub(crate) fn after(&mut self, pause: Duration, backoff: bool) {
        self.pause = match self.kind {
            Kind::Open(_) if !backoff => Duration::ZERO,
            _ => pause,
        };
    }

    /// The next operation, after the pause; `None` when the task must stop.
    pub(crate) async fn next(&mut self, stop: &Stop) -> Option<Due> {
        if !self.pause.is_zero() {
            let pause = std::mem::take(&mut self.pause);
            stop.sleep_until(Some(Instant::now() + pause)).await;
        }
        let (at, now) = match &self.kind {
            Kind::Open(arrivals) => {
                let at = arrivals.next().await.filter(|_| !stop.halted())?;
                (at, Instant::now())
            }
            Kind::Closed { .. } => {
                let now = self.next_closed(stop).await?;
                (now, now)
            }
        };
        let due = Due {
            at,
            now,
            iteration: self.count,
        };
        self.count += 1;
        Some(due)
    }

    /// Closed model: now, if the task is active and the load goes on; else waits on a timer
    /// for the ramp to reach it.
    async fn next_closed(&mut self, stop: &Stop) -> Option<Instant> {
        let Kind::Closed {
            ramp,
            index,
            measure_start,
            measured,
        } = &mut self.kind
        else {
            unreachable!("a closed pacer");
        };
        loop {
            if stop.halted() {
                return None;
            }
            let now = Instant::now();
            if !*measured && now >= *measure_start {
                *measured = true;
                self.count = 0;
            }
            if *measured && stop.over(now, self.count) {
                return None;
            }
            let Some((ramp, start)) = ramp else {
                return Some(now);
            };
            // Active while the ramp's value, floored, exceeds the task's index.
            let needed = *index as f64 + 1.0;
            let t = now.duration_since(*start).as_secs_f64();
            if ramp.value_at(t) >= needed {
                return Some(now);
            }
            let wake = ramp.first_reaching(needed, t).map(|at| {
                // At least a millisecond on: rounding must not make this a busy loop.
                (*start + Duration::from_secs_f64(at)).max(now + Duration::from_millis(1))
            });
            stop.sleep_until(wake).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Interrupt;
    use std::sync::Arc;

    fn stop(deadline: Option<Instant>, iterations: Option<u64>) -> Stop {
        Stop::new(deadline, iterations, Arc::new(Interrupt::default()))
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn iterations_count_from_the_measured_phase() {
        let now = Instant::now();
        let s = stop(None, Some(2));
        let mut p = Pacer::closed(None, now, now, 0);
        assert_eq!(p.next(&s).await.map(|d| d.iteration), Some(0));
        assert_eq!(p.next(&s).await.map(|d| d.iteration), Some(1));
        assert_eq!(p.next(&s).await, None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_ramp_wakes_a_task_on_a_timer_when_it_reaches_it() {
        let start = Instant::now();
        // 0 → 4 active tasks over 400 ms: task 2 (the third) becomes active at 300 ms.
        let ramp = Ramp::new(0.0, Duration::ZERO, &[(ms(400), 4.0)]);
        let s = stop(Some(start + Duration::from_secs(30)), None);
        let mut p = Pacer::closed(Some(ramp), start, start, 2);
        let due = p.next(&s).await.expect("active before the deadline");
        let waited = due.at.duration_since(start);
        assert!(waited >= ms(300) && waited < ms(30_000), "{waited:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_task_the_ramp_never_reaches_stops_at_the_deadline_or_the_halt() {
        let start = Instant::now();
        let ramp = Ramp::flat(1.0);
        let s = stop(Some(start + ms(50)), None);
        let mut p = Pacer::closed(Some(ramp.clone()), start, start, 5);
        assert_eq!(p.next(&s).await, None);
        assert!(Instant::now() >= start + ms(50));

        let s = Rc::new(stop(None, None));
        let mut p = Pacer::closed(Some(ramp), start, start, 5);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let halter = {
            let s = s.clone();
            async move {
                let _ = rx.await;
                s.halt();
            }
        };
        let next = async {
            let _ = tx.send(()); // the halt comes once the task waits
            p.next(&s).await
        };
        let (due, ()) = tokio::join!(next, halter);
        assert_eq!(due, None, "the halt wakes the waiting task");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_pause_never_passes_the_deadline() {
        let start = Instant::now();
        let s = stop(Some(start + ms(50)), None);
        let mut p = Pacer::closed(None, start, start, 0);
        p.next(&s).await.expect("first");
        p.after(Duration::from_secs(60), true);
        assert_eq!(p.next(&s).await, None);
        assert!(Instant::now() < start + Duration::from_secs(30));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_open_pacer_waits_only_on_a_back_off() {
        let a = Rc::new(Arrivals::default());
        let mut p = Pacer::open(a);
        p.after(Duration::from_secs(60), false);
        assert_eq!(p.pause, Duration::ZERO, "arrivals pace it");
        p.after(ms(5), true);
        assert_eq!(p.pause, ms(5));
    }
}
