//! The load's own limits, which a reader must not take for the database's:
//!
//! `load.dropped` (open model): arrivals that found every task busy were dropped; the tasks,
//! not the database, bounded what was measured. Review of 2026-12-03: 85% of arrivals dropped
//! were in the JSON only, and the run read as passing with advice to shrink the pool.
//!
//! `load.overran`: the measured phase lasted well past its planned length. No operation starts
//! after the duration, but those in flight are waited for, and an operation that never ends
//! (a network fault that keeps a request hanging, a lock never released) holds the run until
//! it is interrupted. Review of 2026-12-03: such a run, planned for 4 s and interrupted after
//! 60 s with every task stuck, read "clean: all 185 operations succeeded, 3 ops/s".

use super::super::model::{Finding, VariantReport};
use crate::scenario::model::Settings;

/// Past the planned length by more than this (seconds) and by half of it, the load overran.
const SLACK_S: f64 = 1.0;

pub(crate) fn dropped(r: &VariantReport, s: &Settings) -> Option<Finding> {
    let dropped = r.operations.dropped;
    if dropped == 0 {
        return None;
    }
    let offered = dropped + r.operations.total;
    let rate = s
        .load
        .rate
        .map_or(String::new(), |r| format!(" of {r} per second"));
    let mean_s = r.latency_ms.operation.mean / 1000.0;
    let needed = (s.load.rate.unwrap_or(0.0) * mean_s).ceil();
    let hint = if needed > f64::from(s.load.tasks) {
        format!(" (about {needed:.0} at this rate: rate × operation mean)")
    } else {
        String::new()
    };
    Some(Finding {
        class: "load.dropped".into(),
        finding: format!(
            "{dropped} of {offered} arrivals{rate} ({}) found all {} task(s) busy and were \
             dropped: the tasks bounded this load, not the database. Its figures ({:.1} ok/s) \
             are those of {} operations at a time, not of the rate asked.",
            super::pct(dropped, offered),
            s.load.tasks,
            r.throughput_ops_s,
            s.load.tasks
        ),
        advice: format!(
            "Raise load.tasks, the operations in flight at once{hint}, until no arrival is \
             dropped; then read the pool and the database."
        ),
    })
}

pub(crate) fn overran(r: &VariantReport, s: &Settings) -> Option<Finding> {
    let planned = s.load.measured_length()?.as_secs_f64();
    let over = r.measured_s - planned;
    if over <= SLACK_S || over <= planned / 2.0 {
        return None;
    }
    // The seconds at the end in which no operation finished while connections were in use.
    let stalled = (r.timeline.iter().rev())
        .take_while(|e| e.ok + e.failed == 0 && e.in_use > 0)
        .collect::<Vec<_>>();
    let stuck = stalled.iter().map(|e| e.in_use).max().unwrap_or(0);
    let tail = match stalled.len() {
        0 => String::new(),
        n => format!(
            " In its last {n} s no operation finished while {stuck} connection(s) were in use: \
             operations that never ended, in no count of this report."
        ),
    };
    Some(Finding {
        class: "load.overran".into(),
        finding: format!(
            "The measured phase was planned for {planned:.1} s and lasted {:.1} s: no operation \
             starts after the planned length, and those still in flight were waited for {over:.1} s \
             more. The throughput ({:.1} ok/s) is counted over all of it.{tail}",
            r.measured_s, r.throughput_ops_s
        ),
        advice: "Bound every operation with load.op_timeout, so that one that hangs (a network \
                 fault that keeps a request waiting, a lock never released) fails as \
                 op_deadline_exceeded instead of holding the run; a server-side statement_timeout \
                 bounds the statements, not a wait on the network."
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;
    use crate::report::model::TimelineEntry;

    fn second(t_ms: u64, ok: u64, in_use: u64) -> TimelineEntry {
        serde_json::from_value(serde_json::json!({
            "t_ms": t_ms, "ok": ok, "failed": 0, "dropped": 0, "errors": {}, "p50": 0.0,
            "p99": 0.0, "hdr": "", "in_use": in_use, "idle": 0, "waiting": 0,
            "connections_created": 0, "connections_closed": 0
        }))
        .unwrap()
    }

    #[test]
    fn a_load_held_by_hung_operations_says_so_and_one_on_time_does_not() {
        let s = fixtures::settings("[load]\nduration = \"4s\"");
        let mut r = fixtures::variant("v", 185, 0, serde_json::json!({}));
        r.measured_s = 4.2;
        assert!(
            overran(&r, &s).is_none(),
            "a drain of 0.2 s is not an overrun"
        );
        r.measured_s = 59.5;
        r.timeline = vec![second(1000, 90, 2), second(2000, 95, 4), second(3000, 0, 4)];
        let f = overran(&r, &s).expect("an overrun");
        assert!(
            f.finding.contains("planned for 4.0 s and lasted 59.5 s")
                && f.finding
                    .contains("In its last 1 s no operation finished while 4 connection(s)"),
            "{}",
            f.finding
        );
        assert!(f.advice.contains("load.op_timeout"), "{}", f.advice);
        let iterations = fixtures::settings("[load]\niterations = 10");
        assert!(overran(&r, &iterations).is_none(), "no planned length");
    }

    #[test]
    fn dropped_arrivals_say_the_tasks_bounded_the_load() {
        let s = fixtures::settings("[load]\nrate = 1000.0\ntasks = 2\nduration = \"1s\"");
        let mut r = fixtures::variant("v", 145, 0, serde_json::json!({}));
        assert!(dropped(&r, &s).is_none());
        (r.operations.dropped, r.latency_ms.operation.mean) = (854, 10.0);
        let f = dropped(&r, &s).expect("dropped arrivals");
        assert!(
            f.finding.contains(
                "854 of 999 arrivals of 1000 per second (85.5%) found all 2 task(s) busy"
            ),
            "{}",
            f.finding
        );
        assert!(f.advice.contains("about 10 at this rate"), "{}", f.advice);
    }
}
