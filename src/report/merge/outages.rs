//! The outage windows of a merged report, recomputed from the machines' own: each window
//! shifted to the merged time origin, windows that overlap in time joined (their counts and
//! failing time summed; the tasks in it summed, the peak of tasks failing at once taken as
//! the sum of the machines' peaks, an upper bound), the fault re-pointed into the merged
//! `faults` list, and the shares recomputed over the merged measured phase. A machine whose
//! report has no `outages` (an older report) leaves the merged report without one.

use super::super::model::{FaultEvent, Operations, OutageWindow, Outages, VariantReport};

/// The merged variant's sections the windows are placed in.
pub(super) struct Whole<'a> {
    pub(crate) faults: &'a [FaultEvent],
    pub(crate) operations: &'a Operations,
    pub(crate) measured_s: f64,
}

/// `offsets[i]`: milliseconds from the merged origin to machine i's start.
pub(super) fn merged(parts: &[&VariantReport], offsets: &[u64], v: &Whole<'_>) -> Option<Outages> {
    let mut windows: Vec<OutageWindow> = Vec::new();
    let (mut failing_task_s, mut untracked) = (0.0, 0);
    for (p, offset) in parts.iter().zip(offsets) {
        let o = p.outages.as_ref()?;
        failing_task_s += o.failing_task_s;
        untracked += o.untracked_spells;
        windows.extend(o.windows.iter().map(|w| shifted(w, p, *offset, v)));
    }
    windows.sort_by_key(|w| w.start_ms);
    let mut joined: Vec<OutageWindow> = Vec::new();
    for w in windows {
        match joined.last_mut() {
            Some(last) if (w.start_ms as f64) <= last.start_ms as f64 + last.length_ms => {
                join(last, w)
            }
            _ => joined.push(w),
        }
    }
    let in_outage: f64 = joined.iter().map(|w| w.length_ms).sum();
    let total = v.operations.total;
    Some(Outages {
        time_share: if v.measured_s > 0.0 {
            // `+ 0.0`: a sum of no window is -0.0 in IEEE 754, and reads so in the JSON.
            (in_outage / 1000.0 / v.measured_s).min(1.0) + 0.0
        } else {
            0.0
        },
        count_share: if total > 0 {
            v.operations.failed as f64 / total as f64
        } else {
            0.0
        },
        failing_task_s,
        untracked_spells: untracked,
        windows: joined,
    })
}

fn shifted(w: &OutageWindow, p: &VariantReport, offset: u64, v: &Whole<'_>) -> OutageWindow {
    let fault = w.fault.and_then(|i| p.faults.get(i)).and_then(|f| {
        let at = f.at_ms.saturating_add(offset);
        v.faults
            .iter()
            .position(|m| m.at_ms == at && m.kind == f.kind)
    });
    OutageWindow {
        start_ms: w.start_ms.saturating_add(offset),
        recovered_at_ms: w.recovered_at_ms.map(|r| r.saturating_add(offset)),
        fault,
        recovered_by: shift_times(&w.recovered_by, offset),
        ..w.clone()
    }
}

fn join(into: &mut OutageWindow, w: OutageWindow) {
    let end = (into.start_ms as f64 + into.length_ms).max(w.start_ms as f64 + w.length_ms);
    into.length_ms = end - into.start_ms as f64;
    into.failed += w.failed;
    for (class, n) in w.errors {
        *into.errors.entry(class).or_default() += n;
    }
    into.tasks += w.tasks;
    into.peak_tasks_failing += w.peak_tasks_failing;
    into.failing_task_s += w.failing_task_s;
    into.fault = into.fault.or(w.fault);
    // The joined window recovered when its last machine did (never, if one never did).
    let later = match (into.recovered_at_ms, w.recovered_at_ms) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(a), Some(b)) => b > a,
    };
    if later {
        into.recovered_at_ms = w.recovered_at_ms;
        into.recovered_by = w.recovered_by;
    }
}

/// A machine's words about its times (`the last at 2122 ms`, `due at 1500 ms`) on the merged
/// clock: every `at <n> ms` moved by `offset`. Review of 2026-12-03: the numbers were shifted
/// and the words kept the machine's clock, naming a recovery before its fault.
pub(crate) fn shift_times(text: &str, offset: u64) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("at ") {
        let word = !rest[..i].ends_with(|c: char| c.is_alphanumeric());
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let n = after[..digits].parse::<u64>();
        match n {
            Ok(n) if word && after[digits..].starts_with(" ms") => {
                out.push_str(&n.saturating_add(offset).to_string());
            }
            _ => out.push_str(&after[..digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn machine(start_ms: u64, length_ms: f64, failed: u64) -> VariantReport {
        let mut v = fixtures::variant("v", 100, failed, serde_json::json!({}));
        v.outages = Some(Outages {
            failing_task_s: length_ms / 1000.0,
            windows: vec![OutageWindow {
                start_ms,
                length_ms,
                failed,
                tasks: 1,
                peak_tasks_failing: 1,
                failing_task_s: length_ms / 1000.0,
                recovered_at_ms: Some(start_ms + length_ms as u64 + 1),
                ..OutageWindow::default()
            }],
            ..Outages::default()
        });
        v
    }

    #[test]
    fn windows_that_overlap_once_aligned_are_one_and_the_shares_are_recomputed() {
        let (a, b) = (machine(1000, 500.0, 10), machine(800, 400.0, 6));
        let mut merged = fixtures::variant("v", 200, 16, serde_json::json!({}));
        merged.measured_s = 4.0;
        // b started 300 ms after a: its window is at 1100..1500, inside a's 1000..1500.
        let o = merged_outages(&[&a, &b], &[0, 300], &merged);
        assert_eq!(o.windows.len(), 1, "{o:?}");
        let w = &o.windows[0];
        assert_eq!(
            (w.start_ms, w.length_ms, w.failed, w.tasks),
            (1000, 500.0, 16, 2)
        );
        assert!((o.time_share - 0.125).abs() < 1e-9, "{}", o.time_share);
        assert!((o.count_share - 16.0 / 216.0).abs() < 1e-9);
        // Apart: two windows.
        let o = merged_outages(&[&a, &b], &[0, 2000], &merged);
        assert_eq!(
            o.windows.iter().map(|w| w.start_ms).collect::<Vec<_>>(),
            [1000, 2800]
        );
    }

    #[test]
    fn an_older_report_without_outages_leaves_none() {
        let mut old = machine(0, 1.0, 1);
        old.outages = None;
        let whole = fixtures::variant("v", 200, 2, serde_json::json!({}));
        assert!(merged(&[&machine(0, 1.0, 1), &old], &[0, 0], &of(&whole)).is_none());
    }

    fn of(v: &VariantReport) -> Whole<'_> {
        Whole {
            faults: &v.faults,
            operations: &v.operations,
            measured_s: v.measured_s,
        }
    }

    fn merged_outages(p: &[&VariantReport], offsets: &[u64], v: &VariantReport) -> Outages {
        merged(p, offsets, &of(v)).expect("both have outages")
    }
}
