//! Failures in time for the report: a fault's window ([`effect`]) and the outage windows
//! ([`outages`]) from the tasks' failing spells (see `record::spells` and `record::bursts`),
//! each window tied to the fault it began in and to what recovered it.

use std::time::Duration;

use super::model::{FaultEffect, FaultEvent, OutageWindow, Outages};
use crate::record::Totals;
use crate::record::bursts::{self, Window};
use crate::record::errors::ErrorClass;
use crate::record::spells;
use crate::scenario::model::FaultKind;

fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// A fault's window for the report; `at` is when it was due, `next` when the next fault was
/// due (if any), `measured` the measured phase.
pub(crate) fn effect(
    e: &spells::FaultEffect,
    at: Duration,
    next: Option<Duration>,
    measured: Duration,
) -> FaultEffect {
    let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let (at_us, end_us) = (us(at), us(measured));
    let recovered_at = match (e.recovered + e.overtaken == e.tasks, e.overtaken, next) {
        (false, _, _) => None,
        (true, 0, _) | (true, _, None) => e.last_recovery_us.or(Some(at_us)),
        (true, _, Some(next)) => e.last_recovery_us.max(Some(us(next))),
    };
    let lasted_us = recovered_at.unwrap_or(end_us).saturating_sub(at_us);
    let overtaken = if e.overtaken > 0 {
        format!(
            "; {} task(s) were still affected when the next fault came",
            e.overtaken
        )
    } else {
        String::new()
    };
    let recovered_by = match (e.tasks, recovered_at) {
        (0, _) => "no operation ended inside it".to_string(),
        (_, Some(r)) => format!(
            "{} of its {} task(s) succeeded again after it settled, the last at {} ms{overtaken}",
            e.recovered,
            e.tasks,
            r / 1000
        ),
        (_, None) => format!(
            "not recovered: {} of {} task(s) had no success after it settled before the end{overtaken}",
            e.tasks - e.recovered - e.overtaken,
            e.tasks
        ),
    };
    FaultEffect {
        tasks: e.tasks,
        tasks_recovered: e.recovered,
        tasks_overtaken: e.overtaken,
        recovered_at_ms: recovered_at.map(|r| r / 1000),
        lasted_ms: us_to_ms(lasted_us),
        recovered_by,
        waited_ms: us_to_ms(e.waited_us),
        longest_wait_ms: us_to_ms(e.longest_wait_us),
        failed: e.failed,
        errors: e.classes.clone(),
    }
}

/// The fault a window began in: the last that fired before its first failure ended and
/// whose own window was still open when the outage began. A `read_only` fault also owns the
/// later windows of `read_only_transaction`: the sessions opened before its end stay on the
/// demoted server, while a task's window closes at its first success (a read, say).
fn fault_of(w: &Window, faults: &[FaultEvent]) -> Option<usize> {
    let first_ms = w.first_failure_end_us / 1000;
    let start_ms = w.start_us / 1000;
    let refused = w.classes.contains_key(&ErrorClass::ReadOnlyTransaction);
    faults
        .iter()
        .enumerate()
        .filter(|(_, f)| f.at_ms.min(f.scheduled_ms) <= first_ms)
        .filter(|(_, f)| match &f.effect {
            _ if refused && f.kind == FaultKind::ReadOnly.as_str() => true,
            Some(e) => e.recovered_at_ms.is_none_or(|r| r >= start_ms),
            None => true,
        })
        .map(|(i, _)| i)
        .next_back()
}

fn window(w: &Window, faults: &[FaultEvent]) -> OutageWindow {
    let fault = fault_of(w, faults);
    let recovered_by = match (w.recovered_us, fault) {
        (None, _) => "not recovered before the end of the measured phase".to_string(),
        // Not "the fault ended": a fault may last past its window, or to the end (review of
        // 2026-12-03).
        (Some(r), Some(i)) => format!(
            "in the window of the {} fault (due at {} ms); first success at {} ms",
            faults[i].kind,
            faults[i].scheduled_ms,
            r / 1000
        ),
        (Some(r), None) => format!("first success at {} ms", r / 1000),
    };
    OutageWindow {
        start_ms: w.start_us / 1000,
        length_ms: us_to_ms(w.end_us - w.start_us),
        failed: w.failures,
        errors: w.classes.clone(),
        tasks: w.tasks,
        peak_tasks_failing: w.peak_tasks,
        failing_task_s: w.failing_task_us as f64 / 1e6,
        recovered_at_ms: w.recovered_us.map(|r| r / 1000),
        fault,
        recovered_by,
    }
}

/// The outage windows of a variant of `tasks` tasks, and its error rate by time and count.
pub(crate) fn outages(
    t: &Totals,
    tasks: u64,
    measured: Duration,
    faults: &[FaultEvent],
) -> Outages {
    let mut spells = t.spells.clone();
    spells.sort_by_key(|s| (s.start_us, s.task));
    let found = bursts::windows(&spells, tasks);
    let measured_us = measured.as_micros() as f64;
    let in_outage: u64 = found.iter().map(|w| w.end_us - w.start_us).sum();
    let total = t.ok + t.failed;
    Outages {
        time_share: if measured_us > 0.0 {
            (in_outage as f64 / measured_us).min(1.0)
        } else {
            0.0
        },
        count_share: if total > 0 {
            t.failed as f64 / total as f64
        } else {
            0.0
        },
        failing_task_s: spells.iter().map(|s| s.end_us - s.start_us).sum::<u64>() as f64 / 1e6,
        untracked_spells: t.spells_dropped,
        windows: found.iter().map(|w| window(w, faults)).collect(),
    }
}

/// What the strict reader checks of `outages`: shares and lengths are numbers in range, the
/// windows' failures fit in `operations.failed` and their faults exist.
pub(crate) fn check(v: &super::model::VariantReport) -> Result<(), String> {
    let Some(o) = &v.outages else { return Ok(()) };
    let share = |x: f64| x.is_finite() && (0.0..=1.0).contains(&x);
    if !share(o.time_share) || !share(o.count_share) || !o.failing_task_s.is_finite() {
        return Err("outages: a share outside [0, 1] or a time that is not a number".into());
    }
    let mut failed = 0u64;
    for w in &o.windows {
        if !w.length_ms.is_finite() || w.length_ms < 0.0 || !w.failing_task_s.is_finite() {
            return Err(format!(
                "outages: the window at {} ms has no length",
                w.start_ms
            ));
        }
        if w.fault.is_some_and(|i| i >= v.faults.len()) {
            return Err(format!(
                "outages: the window at {} ms names a fault that is not there",
                w.start_ms
            ));
        }
        failed = failed
            .checked_add(w.failed)
            .ok_or("outages: the windows' failures overflow")?;
    }
    if failed > v.operations.failed {
        return Err(format!(
            "outages: the windows hold {failed} failures, more than operations.failed ({})",
            v.operations.failed
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn read_only_failures_after_the_fault_window_are_still_the_faults() {
        let fault = |kind: &str| FaultEvent {
            kind: kind.into(),
            at_ms: 1000,
            scheduled_ms: 1000,
            in_flight: 0,
            failed_next_1s: Default::default(),
            detail: String::new(),
            effect: Some(FaultEffect {
                recovered_at_ms: Some(2500),
                ..FaultEffect::default()
            }),
        };
        let later = |class| Window {
            start_us: 3_000_000,
            first_failure_end_us: 3_000_500,
            classes: [(class, 3)].into(),
            ..Window::default()
        };
        let read_only = [fault("read_only")];
        assert_eq!(
            fault_of(&later(ErrorClass::ReadOnlyTransaction), &read_only),
            Some(0)
        );
        assert_eq!(fault_of(&later(ErrorClass::SqlError), &read_only), None);
        let other = [fault("terminate_backends")];
        assert_eq!(
            fault_of(&later(ErrorClass::ReadOnlyTransaction), &other),
            None
        );
    }

    #[test]
    fn the_strict_reader_refuses_windows_with_more_failures_than_the_run() {
        let mut v = fixtures::variant("v", 10, 5, serde_json::json!({}));
        let window = |failed| OutageWindow {
            failed,
            ..OutageWindow::default()
        };
        v.outages = Some(Outages {
            windows: vec![window(3), window(2)],
            ..Outages::default()
        });
        assert_eq!(check(&v), Ok(()));
        v.outages.as_mut().unwrap().windows[1].failed = 3;
        assert!(
            check(&v)
                .unwrap_err()
                .contains("more than operations.failed")
        );
        v.outages.as_mut().unwrap().windows[1] = OutageWindow {
            fault: Some(0),
            ..window(1)
        };
        assert!(check(&v).unwrap_err().contains("names a fault"));
        v.outages.as_mut().unwrap().windows.clear();
        v.outages.as_mut().unwrap().time_share = 1.5;
        assert!(check(&v).is_err());
    }
}
