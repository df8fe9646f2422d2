//! Outage windows: bursts of failures in time, made of the tasks' failing spells
//! (see `spells.rs`).
//!
//! Definition. A *burst* is a maximal stretch of time during which at least half of the tasks
//! (rounded up, at least one) are each inside a failing spell: failures dominate, every
//! task of a one- or two-task run counts. Its *outage window* runs from the first failure to the
//! last failure of the spells that overlap the burst (from the moment the first of their
//! failed operations ended to the moment the last one did); windows that then overlap are one. A window with
//! fewer than [`MIN_FAILURES`] failed operations is not an outage (one failed operation of a
//! lone task is a failure, not an outage).
//!
//! Each window carries its failures, their classes, the tasks in it, the peak of tasks failing
//! at once, the failing task-time (the sum of its spells' lengths), and its recovery: the end of
//! the first success, of a task of the window, after the window's last failure.

use std::collections::BTreeMap;

use super::errors::ErrorClass;
use super::spells::Spell;

/// Fewest failed operations in an outage window.
pub(crate) const MIN_FAILURES: u64 = 2;

/// One outage window (microseconds into the measured phase).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Window {
    pub(crate) start_us: u64,
    pub(crate) end_us: u64,
    /// Earliest end of a first failure of its spells (a fault behind it fired before this).
    pub(crate) first_failure_end_us: u64,
    pub(crate) failures: u64,
    pub(crate) classes: BTreeMap<ErrorClass, u64>,
    /// Distinct tasks with a spell in it.
    pub(crate) tasks: u64,
    /// Most tasks failing at once.
    pub(crate) peak_tasks: u64,
    /// Sum of its spells' lengths.
    pub(crate) failing_task_us: u64,
    pub(crate) recovered_us: Option<u64>,
}

/// Tasks that must fail at once for a burst: half of them, rounded up, at least one.
pub(crate) fn quorum(tasks: u64) -> u64 {
    tasks.div_ceil(2).max(1)
}

/// The bursts: `(start, end, peak)` stretches with at least `quorum` spells open at once.
/// A spell that starts where another ends keeps the count (starts are taken first).
fn bursts(spells: &[Spell], quorum: u64) -> Vec<(u64, u64, u64)> {
    let mut events: Vec<(u64, i8)> = spells
        .iter()
        .flat_map(|s| [(s.start_us, 0), (s.end_us, 1)])
        .collect();
    events.sort_unstable();
    let (mut open, mut found, mut current) = (0u64, Vec::new(), None::<(u64, u64)>);
    for (t, kind) in events {
        if kind == 0 {
            open += 1;
            if open >= quorum {
                let (start, peak) = current.unwrap_or((t, 0));
                current = Some((start, peak.max(open)));
            }
        } else {
            open -= 1;
            if open < quorum
                && let Some((start, peak)) = current.take()
            {
                found.push((start, t, peak));
            }
        }
    }
    found
}

/// The outage windows of a variant's spells, in time order.
pub(crate) fn windows(spells: &[Spell], tasks: u64) -> Vec<Window> {
    // Each burst with the spells that overlap it, its extent, and its peak.
    let mut groups: Vec<(Vec<usize>, u64, u64)> = Vec::new();
    for (b_start, b_end, peak) in bursts(spells, quorum(tasks)) {
        let members: Vec<usize> = (0..spells.len())
            .filter(|&i| spells[i].start_us <= b_end && spells[i].end_us >= b_start)
            .collect();
        let start = members.iter().map(|&i| spells[i].start_us).min();
        let end = members
            .iter()
            .map(|&i| spells[i].end_us)
            .max()
            .unwrap_or(b_end);
        match groups.last_mut() {
            // Overlapping extents are one window: its spells counted once.
            Some((m, last_end, last_peak)) if start.unwrap_or(b_start) <= *last_end => {
                m.extend(members);
                m.sort_unstable();
                m.dedup();
                *last_end = (*last_end).max(end);
                *last_peak = (*last_peak).max(peak);
            }
            _ => groups.push((members, end, peak)),
        }
    }
    groups
        .into_iter()
        .map(|(m, _, peak)| window_of(&m.iter().map(|&i| &spells[i]).collect::<Vec<_>>(), peak))
        .filter(|w| w.failures >= MIN_FAILURES)
        .collect()
}

fn window_of(members: &[&Spell], peak: u64) -> Window {
    let mut w = Window {
        start_us: u64::MAX,
        first_failure_end_us: u64::MAX,
        peak_tasks: peak,
        ..Window::default()
    };
    let mut tasks: Vec<u32> = Vec::new();
    for s in members {
        w.start_us = w.start_us.min(s.start_us);
        w.end_us = w.end_us.max(s.end_us);
        w.first_failure_end_us = w.first_failure_end_us.min(s.first_end_us);
        w.failures += s.failures;
        w.failing_task_us += s.end_us - s.start_us;
        for (class, n) in &s.classes {
            *w.classes.entry(*class).or_default() += n;
        }
        tasks.push(s.task);
    }
    tasks.sort_unstable();
    tasks.dedup();
    w.tasks = tasks.len() as u64;
    w.recovered_us = members
        .iter()
        .filter_map(|s| s.recovered_us)
        .filter(|r| *r >= w.end_us)
        .min();
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spell(task: u32, start_ms: u64, end_ms: u64, failures: u64) -> Spell {
        Spell {
            task,
            start_us: start_ms * 1000,
            first_end_us: start_ms * 1000 + 10,
            end_us: end_ms * 1000,
            failures,
            classes: BTreeMap::from([(ErrorClass::ConnectRefused, failures)]),
            recovered_us: Some(end_ms * 1000 + 500),
        }
    }

    #[test]
    fn the_quorum_is_half_the_tasks_rounded_up() {
        assert_eq!([0, 1, 2, 3, 4, 10].map(quorum), [1, 1, 1, 2, 2, 5]);
    }

    #[test]
    fn a_window_runs_from_the_first_to_the_last_failure_of_its_spells() {
        // 4 tasks: quorum 2. Tasks 0 and 1 overlap from 1000 to 1900 ms; task 2's spell
        // overlaps the burst, so it stretches the window to 2100 ms.
        let spells = [
            spell(0, 1000, 2000, 50),
            spell(1, 1100, 1900, 40),
            spell(2, 1950, 2100, 3),
        ];
        let w = windows(&spells, 4);
        assert_eq!(w.len(), 1);
        let w = &w[0];
        assert_eq!((w.start_us, w.end_us), (1_000_000, 2_100_000));
        assert_eq!((w.failures, w.tasks, w.peak_tasks), (93, 3, 2));
        assert_eq!(w.failing_task_us, (1000 + 800 + 150) * 1000);
        assert_eq!(w.recovered_us, Some(2_100_500));
        assert_eq!(w.first_failure_end_us, 1_000_010);
    }

    #[test]
    fn below_the_quorum_there_is_no_window() {
        // 4 tasks: one failing alone for a second is not an outage.
        assert!(windows(&[spell(0, 1000, 2000, 50)], 4).is_empty());
        // 3 tasks: quorum 2; two spells that only touch end to end never overlap.
        assert!(windows(&[spell(0, 0, 100, 5), spell(1, 200, 300, 5)], 3).is_empty());
        // They overlap by one millisecond: a window.
        assert_eq!(
            windows(&[spell(0, 0, 201, 5), spell(1, 200, 300, 5)], 3).len(),
            1
        );
    }

    #[test]
    fn a_window_needs_two_failures() {
        assert!(windows(&[spell(0, 10, 11, 1)], 1).is_empty());
        assert_eq!(windows(&[spell(0, 10, 11, 2)], 1).len(), 1);
    }

    #[test]
    fn bursts_whose_spells_overlap_are_one_window_counted_once() {
        // 2 tasks (quorum 1): task 1 fails twice inside task 0's long spell.
        let spells = [
            spell(0, 0, 1000, 10),
            spell(1, 100, 200, 2),
            spell(1, 300, 400, 2),
        ];
        let w = windows(&spells, 2);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].failures, w[0].tasks, w[0].peak_tasks), (14, 2, 2));
    }

    #[test]
    fn separate_bursts_are_separate_windows_and_an_unrecovered_one_says_so() {
        let mut late = spell(0, 5000, 6000, 9);
        late.recovered_us = None;
        let w = windows(&[spell(0, 1000, 2000, 9), late], 1);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].recovered_us, Some(2_000_500));
        assert_eq!(w[1].recovered_us, None);
    }
}
